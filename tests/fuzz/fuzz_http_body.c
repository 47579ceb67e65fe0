/* fuzz_http_body.c - libFuzzer target: arbitrary bytes as a webhook body.
 *
 * http_body_parse() must never read outside the body (which is not NUL-terminated:
 * the input is copied into an exact-size buffer so ASan sees any overread), must give
 * event spans that lie inside the body and start with '{' and end with '}', and every
 * span must itself be one valid JSON value by http_json_valid(); on refusal it must say
 * where, inside the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/http/http_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    http_events ev = {0};
    char err[256];
    size_t pos = 0;
    if (body == NULL)
        return 0;
    if (size)
        memcpy(body, data, size);
    int rc = http_body_parse(body, size, &ev, err, sizeof(err), &pos);
    if (rc == HTTP_BODY_OK) {
        for (size_t i = 0; i < ev.n; i++) {
            const http_span *s = &ev.v[i];
            if (s->off >= size || s->len < 2 || s->len > size - s->off ||
                body[s->off] != '{' || body[s->off + s->len - 1] != '}' ||
                !http_json_valid(body + s->off, s->len))
                abort();
        }
    } else if (rc == HTTP_BODY_EINVAL) {
        if (pos > size || strstr(err, "at byte") == NULL)
            abort();
    }
    (void)http_json_valid(body, size);
    http_events_free(&ev);
    free(body);
    return 0;
}

/* fuzz_json_scan.c - the allocation-free scanner against jansson, on any input.
 *
 * The input's first line is a field path, the rest the JSON value. Whenever
 * json_scan_text() answers by itself (found or absent), jansson must agree: the value
 * parses, and the field is there with the same text, or is not. Whenever json_scan()
 * calls the value JSON, jansson must parse it unless a flag said "ask a full parser".
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

static json_t *lookup(json_t *doc, const char *path)
{
    char buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        if (!json_is_object(doc))
            return NULL;
        doc = json_object_get(doc, k);
    }
    return doc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 64 ? size : 64);
    char path[65];
    json_scan_plan plan;
    json_token tok;
    const char *text, *why, *p = path;
    size_t n, at, plen;
    unsigned flags;

    if (nl == NULL)
        return 0;
    plen = (size_t)(nl - data);
    memcpy(path, data, plen);
    path[plen] = '\0';
    if (plen == 0 || memchr(path, '\0', plen) != NULL || path[0] == '.' ||
        path[plen - 1] == '.' || strstr(path, "..") != NULL)
        return 0;
    const char *json = (const char *)nl + 1;
    size_t len = size - plen - 1;

    json_scan_prepare(&plan, &p, 1);
    if (!plan.ok)
        return 0;
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (json_scan(&plan, json, len, &tok, &flags, &why, &at) == 0) {
        if (doc == NULL && flags == 0)
            abort(); /* the scanner accepted what jansson refuses */
        if (tok.type != JSON_TOK_ABSENT && (tok.p < json || tok.p + tok.len > json + len))
            abort();
    } else if (at > len) {
        abort();
    }
    int found = json_scan_text(&plan, json, len, &text, &n);
    if (found >= 0) {
        json_t *node = doc != NULL ? lookup(doc, path) : NULL;
        if (doc == NULL || (found == 1) != (node != NULL))
            abort();
        if (found == 1) {
            char *want = json_is_string(node) ? strdup(json_string_value(node))
                         : json_dumps(node, JSON_COMPACT | JSON_ENCODE_ANY);
            if (want == NULL || strlen(want) != n || memcmp(want, text, n) != 0)
                abort();
            free(want);
        }
    }
    json_decref(doc);
    return 0;
}

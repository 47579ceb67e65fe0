/* json_field.c - reads one field of a JSON record value, for keys and transforms.
 *
 * Paths are dot-separated object keys ("resource.id"); arrays are not indexed. Values
 * come back as text: a JSON string without its quotes, anything else as compact JSON,
 * so that the number 42 and the string "42" give the same key bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "transform/transform.h"

int transform_json_field(const void *json, size_t len, const char *path, char **out,
                         size_t *out_len)
{
    json_error_t err;
    json_t *doc = NULL, *node = NULL;
    char *copy = NULL, *save = NULL;
    int found = 0;

    *out = NULL;
    *out_len = 0;
    if (json == NULL)
        return 0;
    doc = json_loadb(json, len, JSON_DECODE_ANY, &err);
    if (doc == NULL)
        return 0;
    copy = strdup(path);
    if (copy == NULL) {
        found = -1;
        goto out;
    }
    node = doc;
    for (char *part = strtok_r(copy, ".", &save); part != NULL;
         part = strtok_r(NULL, ".", &save)) {
        node = json_is_object(node) ? json_object_get(node, part) : NULL;
        if (node == NULL)
            goto out;
    }
    if (json_is_string(node)) {
        *out_len = json_string_length(node);
        *out = malloc(*out_len + 1);
        if (*out == NULL) {
            found = -1;
            goto out;
        }
        memcpy(*out, json_string_value(node), *out_len);
        (*out)[*out_len] = '\0';
    } else {
        *out = json_dumps(node, JSON_COMPACT | JSON_ENCODE_ANY);
        if (*out == NULL) {
            found = -1;
            goto out;
        }
        *out_len = strlen(*out);
    }
    found = 1;
out:
    free(copy);
    json_decref(doc);
    return found;
}

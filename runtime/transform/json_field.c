/* json_field.c - dot paths into JSON values, for the key, transforms and predicates.
 *
 * Paths are dot-separated object keys ("resource.id"); arrays are not indexed. A field's
 * value as text is a JSON string without its quotes and anything else as compact JSON,
 * so that the number 42 and the string "42" give the same key bytes and match the same
 * `in: ["42"]`. Walking a path allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "transform/transform_int.h"

const char *transform_path_problem(const char *path)
{
    if (path == NULL || *path == '\0')
        return "an empty field name";
    if (path[0] == '.' || path[strlen(path) - 1] == '.' || strstr(path, "..") != NULL)
        return "a field path with an empty part";
    return NULL;
}

json_t *transform_path_parent(const json_t *doc, const char *path, const char **key,
                              size_t *key_len)
{
    const json_t *node = doc;
    const char *p = path;

    for (;;) {
        const char *dot = strchr(p, '.');
        if (!json_is_object(node))
            return NULL;
        if (dot == NULL) {
            *key = p;
            *key_len = strlen(p);
            return (json_t *)node;
        }
        node = json_object_getn(node, p, (size_t)(dot - p));
        if (node == NULL)
            return NULL;
        p = dot + 1;
    }
}

json_t *transform_path_get(const json_t *doc, const char *path)
{
    const char *key;
    size_t n;
    json_t *parent = transform_path_parent(doc, path, &key, &n);
    return parent != NULL ? json_object_getn(parent, key, n) : NULL;
}

int transform_path_set(json_t *doc, const char *path, json_t *value, json_t **bad,
                       size_t *bad_len)
{
    json_t *node = doc;
    const char *p = path;

    *bad = NULL;
    *bad_len = 0;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(node)) {
            *bad = node;
            *bad_len = p == path ? 0 : (size_t)(p - path - 1);
            json_decref(value);
            return -1;
        }
        if (dot == NULL)
            return json_object_setn_new(node, p, n, value) == 0 ? 0 : -1;
        json_t *next = json_object_getn(node, p, n);
        if (next == NULL) {
            next = json_object();
            if (next == NULL || json_object_setn_new(node, p, n, next) != 0) {
                json_decref(value);
                return -1;
            }
        }
        node = next;
        p = dot + 1;
    }
}

char *transform_json_text(const json_t *v, size_t *len)
{
    char *out;
    if (json_is_string(v)) {
        *len = json_string_length(v);
        out = malloc(*len + 1);
        if (out == NULL)
            return NULL;
        memcpy(out, json_string_value(v), *len);
        out[*len] = '\0';
        return out;
    }
    out = json_dumps(v, TRANSFORM_JSON_ENCODE);
    *len = out != NULL ? strlen(out) : 0;
    return out;
}

int transform_field_fast(const void *json, size_t len, const char *path, const char **text,
                         size_t *text_len)
{
    json_scan_plan plan;
    if (json == NULL)
        return -1;
    json_scan_prepare(&plan, &path, 1);
    return json_scan_text(&plan, json, len, text, text_len);
}

int transform_json_field(const void *json, size_t len, const char *path, char **out,
                         size_t *out_len)
{
    json_error_t err;
    json_t *doc = NULL, *node;
    const char *fast;
    int found = 0;

    *out = NULL;
    *out_len = 0;
    if (json == NULL)
        return 0;
    found = transform_field_fast(json, len, path, &fast, out_len);
    if (found == 0)
        return 0;
    if (found == 1) {
        *out = malloc(*out_len + 1);
        if (*out == NULL)
            return -1;
        memcpy(*out, fast, *out_len);
        (*out)[*out_len] = '\0';
        return 1;
    }
    found = 0;
    doc = json_loadb(json, len, TRANSFORM_JSON_DECODE, &err);
    if (doc == NULL)
        return 0;
    node = transform_path_get(doc, path);
    if (node != NULL) {
        *out = transform_json_text(node, out_len);
        found = *out != NULL ? 1 : -1;
    }
    json_decref(doc);
    return found;
}

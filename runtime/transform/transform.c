/* transform.c - the registry of built-in transforms and the plumbing they share.
 *
 * Built-ins are ordinary spool_plugin descriptors, registered with loader_add_builtin()
 * from transform_builtins[], so validation, `spool plugins` and the docs treat them as
 * they treat plugins loaded from .so files.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transform/transform_int.h"

spool_plugin_entry_fn *const transform_builtins[] = {
    transform_filter_entry, transform_route_entry,   transform_insert_entry,
    transform_rename_entry, transform_drop_entry,    transform_mask_entry,
    transform_set_key_entry, transform_timestamp_entry, NULL,
};

/* " at events/0@42" when rec was read from the log (a sink's record), else "": a
 * source's record has no place yet, and the worker names the task. */
static void transform_where(const spool_record *rec, char *out, size_t n)
{
    if (rec->topic != NULL && rec->partition >= 0 && rec->offset >= 0)
        snprintf(out, n, " at %.200s/%" PRId32 "@%" PRId64, rec->topic, rec->partition,
                 rec->offset);
    else
        out[0] = '\0';
}

spool_rc transform_load(const spool_host *host, spool_task *t, const spool_record *rec,
                        json_t **doc)
{
    json_error_t err;
    char where[256];

    *doc = NULL;
    if (rec->value == NULL)
        return SPOOL_OK;
    *doc = json_loadb(rec->value, rec->value_len, TRANSFORM_JSON_DECODE, &err);
    if (*doc != NULL)
        return SPOOL_OK;
    /* jansson quotes the bytes near the problem; they come from the record, so keep
     * the message one printable ASCII line for logs and the status API. */
    for (char *c = err.text; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    transform_where(rec, where, sizeof(where));
    host->set_error(t, "value%s is not JSON: %s (line %d, column %d)", where, err.text,
                    err.line, err.column);
    return SPOOL_EINVAL;
}

const char *transform_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

spool_rc transform_type_error(const spool_host *host, spool_task *t,
                              const spool_record *rec, const char *path, size_t path_len,
                              const json_t *got, const char *expected)
{
    char where[256];
    transform_where(rec, where, sizeof(where));
    if (path_len == 0)
        host->set_error(t, "value%s is %s; expected %s", where, transform_json_kind(got),
                        expected);
    else
        host->set_error(t, "value%s: field \"%.*s\" is %s; expected %s", where,
                        (int)(path_len > 200 ? 200 : path_len), path,
                        transform_json_kind(got), expected);
    return SPOOL_EINVAL;
}

void transform_record_view(const spool_record *rec, spool_record *out)
{
    size_t n = rec->struct_size < sizeof(*out) ? rec->struct_size : sizeof(*out);
    memset(out, 0, sizeof(*out));
    memcpy(out, rec, n);
    out->struct_size = sizeof(*out);
}

spool_rc transform_emit(const spool_host *host, spool_task *t, const spool_record *view,
                        const json_t *doc)
{
    spool_record out = *view;
    char *s = json_dumps(doc, TRANSFORM_JSON_ENCODE);
    if (s == NULL)
        return SPOOL_ENOMEM;
    out.value = s;
    out.value_len = strlen(s);
    spool_rc rc = host->emit(t, &out, NULL, 0);
    free(s);
    return rc;
}

void transform_show(char *out, size_t n, const char *s, size_t len)
{
    size_t o = 0, max = len > 64 ? 61 : len;
    if (n < 72) {
        if (n > 0)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c < 0x20 || c >= 0x7f || c == '"' ? '?' : (char)c;
    }
    if (max < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

int transform_listed(const char *const *list, const char *s, size_t n)
{
    for (; list != NULL && *list != NULL; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0)
            return 1;
    return 0;
}

const char *transform_topic_problem(const char *name, size_t len)
{
    if (len == 0)
        return "an empty topic name";
    if (len > 249)
        return "a topic name longer than 249 characters";
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return "a topic name that is \".\" or \"..\"";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return "a topic name with a character other than letters, digits, '.', '_' "
                   "and '-'";
    }
    return NULL;
}

spool_rc transform_fields_option(const spool_host *host, spool_task *t, const char *name,
                                 const char *example, const char *const **fields,
                                 size_t *n)
{
    const char *why;
    *fields = host->opt_list(t, "fields", n);
    if (*n == 0) {
        host->set_error(t, "%s has no fields; expected fields: [a, b.c]", name);
        return SPOOL_EINVAL;
    }
    for (size_t i = 0; i < *n; i++)
        if ((why = transform_path_problem((*fields)[i])) != NULL) {
            host->set_error(t, "%s: fields[%zu]: %s; expected a JSON field such as %s", name,
                            i, why, example);
            return SPOOL_EINVAL;
        }
    return SPOOL_OK;
}

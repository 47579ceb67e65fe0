/* insert.c - the built-in `insert` transform: adds a field to JSON object values.
 *
 *     transforms:
 *       - insert: {field: source, value: web}                 # the string "web"
 *       - insert: {field: meta.version, value: "2"}           # the number 2
 *       - insert: {field: tag, value: '"2"', overwrite: true} # the string "2"
 *
 * `value` is read as JSON when it parses as JSON (a number, true, null, an object...)
 * and as a string otherwise. Missing parent objects are created. A field that is
 * already there is kept unless `overwrite: true`. The value must be an object, and so
 * must every parent on the path that exists: anything else is a per-record failure.
 * A tombstone passes unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "transform/transform_int.h"

static const spool_host *host;

typedef struct insert_state {
    const char *field;
    json_t *value;
    int overwrite;
} insert_state;

static const spool_option insert_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "field", .flags = SPOOL_OPT_REQUIRED,
     .doc = "The field to add, dot-separated for nested objects (meta.source)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "value", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Its value: JSON when it parses as JSON (42, true, {\"a\": 1}), else a string."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "overwrite", .default_value = "false",
     .doc = "Replace the field when the record has it already."},
    {.name = NULL},
};

static spool_rc insert_open(spool_task *t, void **state)
{
    insert_state *s = calloc(1, sizeof(*s));
    const char *why, *text;
    json_error_t err;

    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->field = host->opt_string(t, "field");
    s->overwrite = host->opt_int(t, "overwrite") != 0;
    text = host->opt_string(t, "value");
    if ((why = transform_path_problem(s->field)) != NULL) {
        host->set_error(t, "insert: field: %s; expected a JSON field such as source or "
                        "meta.source", why);
        return SPOOL_EINVAL;
    }
    if (text == NULL) {
        host->set_error(t, "insert on \"%s\" has no value; expected value: TEXT or JSON",
                        s->field);
        return SPOOL_EINVAL;
    }
    s->value = json_loads(text, TRANSFORM_JSON_DECODE, &err);
    if (s->value == NULL)
        s->value = json_stringn(text, strlen(text));
    if (s->value == NULL) {
        host->set_error(t, "insert on \"%s\": the value is not valid UTF-8; expected text",
                        s->field);
        return SPOOL_EINVAL;
    }
    return SPOOL_OK;
}

static spool_rc insert_transform(spool_task *t, void *state, const spool_record *rec)
{
    insert_state *s = state;
    json_t *doc = NULL, *bad = NULL;
    size_t bad_len = 0;
    spool_record view;
    spool_rc rc = transform_load(host, t, rec, &doc);

    if (rc != SPOOL_OK)
        return rc;
    if (doc == NULL)
        return host->emit(t, rec, NULL, 0);
    if (!json_is_object(doc)) {
        rc = transform_type_error(host, t, rec, s->field, 0, doc, "an object to insert into");
        goto out;
    }
    if (!s->overwrite && transform_path_get(doc, s->field) != NULL) {
        rc = host->emit(t, rec, NULL, 0);
        goto out;
    }
    /* A deep copy: the record's document must not share the configured value. */
    if (transform_path_set(doc, s->field, json_deep_copy(s->value), &bad, &bad_len) != 0) {
        rc = bad != NULL ? transform_type_error(host, t, rec, s->field, bad_len, bad,
                                                "an object to insert into")
                         : SPOOL_ENOMEM;
        goto out;
    }
    transform_record_view(rec, &view);
    rc = transform_emit(host, t, &view, doc);
out:
    json_decref(doc);
    return rc;
}

static void insert_close(spool_task *t, void *state)
{
    insert_state *s = state;
    (void)t;
    if (s != NULL)
        json_decref(s->value);
    free(s);
}

static const spool_plugin insert_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "insert",
    .version = SPOOL_VERSION_STRING,
    .description = "Adds a field with a fixed value to JSON object values.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = insert_options,
    .open = insert_open,
    .close = insert_close,
    .transform = insert_transform,
};

const spool_plugin *transform_insert_entry(const spool_host *h)
{
    host = h;
    return &insert_plugin;
}

/* set_key.c - the built-in `set_key` transform: the record key from a JSON field.
 *
 *     transforms:
 *       - set_key: {field: customer.id}
 *
 * The key becomes the field's value as text (a string without its quotes, anything
 * else as compact JSON: 42 and "42" give the same key, as a source's `key:` does); the
 * value is passed on unchanged. On a source the key then picks the partition. A record
 * without the field, with null there, or a tombstone keeps its key.
 */
#include <stdlib.h>

#include "transform/transform_int.h"

static const spool_host *host;

static const spool_option set_key_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "field", .flags = SPOOL_OPT_REQUIRED,
     .doc = "JSON field whose value becomes the key, dot-separated for nested objects."},
    {.name = NULL},
};

static spool_rc set_key_open(spool_task *t, void **state)
{
    const char *field = host->opt_string(t, "field");
    const char *why = transform_path_problem(field);

    /* The state is the host's string, valid until close() returns. */
    *state = (void *)field;
    if (why != NULL) {
        host->set_error(t, "set_key: field: %s; expected a JSON field such as id or "
                        "customer.id", why);
        return SPOOL_EINVAL;
    }
    return SPOOL_OK;
}

static spool_rc set_key_transform(spool_task *t, void *state, const spool_record *rec)
{
    const char *field = state;
    json_t *doc = NULL, *node = NULL;
    char *key = NULL;
    size_t key_len = 0;
    spool_record view;
    spool_rc rc = transform_load(host, t, rec, &doc);

    if (rc != SPOOL_OK)
        return rc;
    if (doc != NULL)
        node = transform_path_get(doc, field);
    if (node == NULL || json_is_null(node)) {
        rc = host->emit(t, rec, NULL, 0);
        goto out;
    }
    key = transform_json_text(node, &key_len);
    if (key == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    transform_record_view(rec, &view);
    view.key = key;
    view.key_len = key_len;
    rc = host->emit(t, &view, NULL, 0);
out:
    free(key);
    json_decref(doc);
    return rc;
}

static void set_key_close(spool_task *t, void *state)
{
    (void)t;
    (void)state;
}

static const spool_plugin set_key_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "set_key",
    .version = SPOOL_VERSION_STRING,
    .description = "Sets the record key from a JSON field's value.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = set_key_options,
    .open = set_key_open,
    .close = set_key_close,
    .transform = set_key_transform,
};

const spool_plugin *transform_set_key_entry(const spool_host *h)
{
    host = h;
    return &set_key_plugin;
}

/* drop.c - the built-in `drop` transform: removes fields from JSON object values.
 *
 *     transforms:
 *       - drop: {fields: [password, session.token]}
 *
 * Fields the record does not have are ignored; a value that is not an object, and a
 * tombstone, pass unchanged. A record that lost nothing is passed on byte for byte.
 */
#include <stdlib.h>

#include "transform/transform_int.h"

static const spool_host *host;

typedef struct drop_state {
    const char *const *fields;
    size_t nfields;
} drop_state;

static const spool_option drop_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "fields", .flags = SPOOL_OPT_REQUIRED,
     .doc = "The fields to remove, each dot-separated for nested objects."},
    {.name = NULL},
};

static spool_rc drop_open(spool_task *t, void **state)
{
    drop_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    return transform_fields_option(host, t, "drop", "password or session.token", &s->fields,
                                   &s->nfields);
}

static spool_rc drop_transform(spool_task *t, void *state, const spool_record *rec)
{
    drop_state *s = state;
    json_t *doc = NULL;
    int changed = 0;
    spool_record view;
    spool_rc rc = transform_load(host, t, rec, &doc);

    if (rc != SPOOL_OK)
        return rc;
    for (size_t i = 0; doc != NULL && i < s->nfields; i++) {
        const char *key;
        size_t key_len;
        json_t *parent = transform_path_parent(doc, s->fields[i], &key, &key_len);
        if (parent != NULL && json_object_deln(parent, key, key_len) == 0)
            changed = 1;
    }
    if (changed) {
        transform_record_view(rec, &view);
        rc = transform_emit(host, t, &view, doc);
    } else {
        rc = host->emit(t, rec, NULL, 0);
    }
    json_decref(doc);
    return rc;
}

static void drop_close(spool_task *t, void *state)
{
    (void)t;
    free(state);
}

static const spool_plugin drop_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "drop",
    .version = SPOOL_VERSION_STRING,
    .description = "Removes fields from JSON object values.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = drop_options,
    .open = drop_open,
    .close = drop_close,
    .transform = drop_transform,
};

const spool_plugin *transform_drop_entry(const spool_host *h)
{
    host = h;
    return &drop_plugin;
}

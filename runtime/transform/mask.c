/* mask.c - the built-in `mask` transform: hides fields of JSON object values.
 *
 *     transforms:
 *       - mask: {fields: [card.number, email]}
 *       - mask: {fields: [ssn], with: "[redacted]"}
 *
 * Each listed field that the record has is replaced by the string `with` ("****" by
 * default), whatever it held: a number, an object or null alike, so nothing of the
 * original leaks through its type or shape. Fields the record does not have are left
 * out, not added; a value that is not an object, and a tombstone, pass unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "transform/transform_int.h"

static const spool_host *host;

typedef struct mask_state {
    const char *const *fields;
    size_t nfields;
    const char *with;
} mask_state;

static const spool_option mask_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "fields", .flags = SPOOL_OPT_REQUIRED,
     .doc = "The fields to hide, each dot-separated for nested objects."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "with", .default_value = "****",
     .doc = "The string that replaces each field's value."},
    {.name = NULL},
};

static spool_rc mask_open(spool_task *t, void **state)
{
    mask_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->with = host->opt_string(t, "with");
    if (s->with == NULL)
        s->with = "****";
    return transform_fields_option(host, t, "mask", "email or card.number", &s->fields,
                                   &s->nfields);
}

static spool_rc mask_transform(spool_task *t, void *state, const spool_record *rec)
{
    mask_state *s = state;
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
        if (parent == NULL || json_object_getn(parent, key, key_len) == NULL)
            continue;
        if (json_object_setn_new(parent, key, key_len,
                                 json_stringn(s->with, strlen(s->with))) != 0) {
            rc = SPOOL_ENOMEM;
            goto out;
        }
        changed = 1;
    }
    if (changed) {
        transform_record_view(rec, &view);
        rc = transform_emit(host, t, &view, doc);
    } else {
        rc = host->emit(t, rec, NULL, 0);
    }
out:
    json_decref(doc);
    return rc;
}

static void mask_close(spool_task *t, void *state)
{
    (void)t;
    free(state);
}

static const spool_plugin mask_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "mask",
    .version = SPOOL_VERSION_STRING,
    .description = "Replaces fields of JSON object values with a fixed string.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = mask_options,
    .open = mask_open,
    .close = mask_close,
    .transform = mask_transform,
};

const spool_plugin *transform_mask_entry(const spool_host *h)
{
    host = h;
    return &mask_plugin;
}

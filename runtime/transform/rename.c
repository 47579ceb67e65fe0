/* rename.c - the built-in `rename` transform: moves a field of JSON object values.
 *
 *     transforms:
 *       - rename: {from: user_id, to: user.id}
 *
 * The field at `from` moves to `to`, creating missing parent objects and replacing
 * whatever `to` held. A record without `from` (or a value that is not an object, or a
 * tombstone) passes unchanged. A parent of `to` that exists and is not an object is a
 * per-record failure.
 */
#include <stdlib.h>
#include <string.h>

#include "transform/transform_int.h"

static const spool_host *host;

typedef struct rename_state {
    const char *from;
    const char *to;
} rename_state;

static const spool_option rename_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "from", .flags = SPOOL_OPT_REQUIRED,
     .doc = "The field to move, dot-separated for nested objects."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "to", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Its new name, dot-separated; missing parent objects are created."},
    {.name = NULL},
};

static spool_rc rename_open(spool_task *t, void **state)
{
    rename_state *s = calloc(1, sizeof(*s));
    const char *why;

    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->from = host->opt_string(t, "from");
    s->to = host->opt_string(t, "to");
    if ((why = transform_path_problem(s->from)) != NULL ||
        (why = transform_path_problem(s->to)) != NULL) {
        host->set_error(t, "rename: %s: %s; expected a JSON field such as user_id or "
                        "user.id", transform_path_problem(s->from) ? "from" : "to", why);
        return SPOOL_EINVAL;
    }
    return SPOOL_OK;
}

static spool_rc rename_transform(spool_task *t, void *state, const spool_record *rec)
{
    rename_state *s = state;
    json_t *doc = NULL, *parent, *moved, *bad = NULL;
    const char *key;
    size_t key_len, bad_len = 0;
    spool_record view;
    spool_rc rc = transform_load(host, t, rec, &doc);

    if (rc != SPOOL_OK)
        return rc;
    parent = doc != NULL ? transform_path_parent(doc, s->from, &key, &key_len) : NULL;
    moved = parent != NULL ? json_object_getn(parent, key, key_len) : NULL;
    if (moved == NULL || strcmp(s->from, s->to) == 0) {
        rc = host->emit(t, rec, NULL, 0);
        goto out;
    }
    /* Detach first, so that `to` inside `from` (a -> a.b) never makes a cycle. */
    json_incref(moved);
    json_object_deln(parent, key, key_len);
    if (transform_path_set(doc, s->to, moved, &bad, &bad_len) != 0) {
        rc = bad != NULL ? transform_type_error(host, t, rec, s->to, bad_len, bad,
                                                "an object to rename into")
                         : SPOOL_ENOMEM;
        goto out;
    }
    transform_record_view(rec, &view);
    rc = transform_emit(host, t, &view, doc);
out:
    json_decref(doc);
    return rc;
}

static void rename_close(spool_task *t, void *state)
{
    (void)t;
    free(state);
}

static const spool_plugin rename_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "rename",
    .version = SPOOL_VERSION_STRING,
    .description = "Moves a field of JSON object values to a new name.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = rename_options,
    .open = rename_open,
    .close = rename_close,
    .transform = rename_transform,
};

const spool_plugin *transform_rename_entry(const spool_host *h)
{
    host = h;
    return &rename_plugin;
}

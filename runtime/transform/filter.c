/* filter.c - the built-in `filter` transform: keep records whose JSON field matches.
 *
 *     transforms:
 *       - filter: {field: event, in: [resource_created, resource_destroyed]}
 *
 * A record passes when its value is JSON, has the field, and the field's value (as
 * text, see transform_json_field) is one of `in`; with `not_in` the opposite. Records
 * that are not JSON or lack the field are dropped, unless `keep_missing` is true.
 */
#include <stdlib.h>
#include <string.h>

#include "transform/transform.h"

static const spool_host *host;

typedef struct filter_state {
    const char *field;
    const char *const *in;
    const char *const *not_in;
    int keep_missing;
} filter_state;

static const spool_option filter_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "field", .flags = SPOOL_OPT_REQUIRED,
     .doc = "JSON field to test, dot-separated for nested objects (resource.id)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "in",
     .doc = "Keep the record when the field's value is one of these."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "not_in",
     .doc = "Keep the record when the field's value is none of these."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "keep_missing", .default_value = "false",
     .doc = "Keep records that are not JSON or do not have the field."},
    {.name = NULL},
};

static int filter_listed(const char *const *list, const char *v, size_t n)
{
    for (; list != NULL && *list != NULL; list++)
        if (strlen(*list) == n && memcmp(*list, v, n) == 0)
            return 1;
    return 0;
}

static spool_rc filter_open(spool_task *t, void **state)
{
    filter_state *s = calloc(1, sizeof(*s));
    size_t nin = 0, nout = 0;
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->field = host->opt_string(t, "field");
    s->in = host->opt_list(t, "in", &nin);
    s->not_in = host->opt_list(t, "not_in", &nout);
    s->keep_missing = host->opt_int(t, "keep_missing") != 0;
    if ((nin == 0) == (nout == 0)) {
        host->set_error(t, "filter on \"%s\" needs exactly one of `in` and `not_in`",
                        s->field);
        return SPOOL_EINVAL;
    }
    return SPOOL_OK;
}

static spool_rc filter_transform(spool_task *t, void *state, const spool_record *rec)
{
    filter_state *s = state;
    char *v = NULL;
    size_t n = 0;
    int keep;
    int found = transform_json_field(rec->value, rec->value_len, s->field, &v, &n);
    if (found < 0)
        return SPOOL_ENOMEM;
    if (found == 0)
        keep = s->keep_missing;
    else if (s->in != NULL && s->in[0] != NULL)
        keep = filter_listed(s->in, v, n);
    else
        keep = !filter_listed(s->not_in, v, n);
    free(v);
    return keep ? host->emit(t, rec, NULL, 0) : SPOOL_OK;
}

static void filter_close(spool_task *t, void *state)
{
    free(state);
}

static const spool_plugin filter_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "filter",
    .version = SPOOL_VERSION_STRING,
    .description = "Keeps records whose JSON field has one of the listed values.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = filter_options,
    .open = filter_open,
    .close = filter_close,
    .transform = filter_transform,
};

const spool_plugin *transform_filter_entry(const spool_host *h)
{
    host = h;
    return &filter_plugin;
}

spool_plugin_entry_fn *const transform_builtins[] = {transform_filter_entry, NULL};

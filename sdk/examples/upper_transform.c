/* upper_transform.c - example transform: upper-cases each record's value.
 *
 * A transform gets each record borrowed, emits zero or more records derived from it
 * (here one, or none for an empty value when drop_empty is set) and keeps nothing: the
 * host copies what emit() is given, so the new value may live on the stack.
 */
#define SPOOL_REQUIRE_ABI 1
#include <spool/plugin.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const spool_host *host;

static const spool_option upper_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "drop_empty", .default_value = "false",
     .doc = "Drop records whose value is empty."},
    {.name = NULL},
};

typedef struct upper {
    int drop_empty;
} upper;

static spool_rc upper_open(spool_task *t, void **state)
{
    upper *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return SPOOL_ENOMEM;
    u->drop_empty = host->opt_int(t, "drop_empty") != 0;
    *state = u;
    return SPOOL_OK;
}

static void upper_close(spool_task *t, void *state)
{
    free(state);
}

static spool_rc upper_transform(spool_task *t, void *state, const spool_record *rec)
{
    upper *u = state;
    char small[512];
    if (rec->value_len == 0 && u->drop_empty)
        return SPOOL_OK;                        /* emitting nothing drops the record */
    char *v = rec->value_len <= sizeof(small) ? small : malloc(rec->value_len);
    if (v == NULL)
        return SPOOL_ENOMEM;
    for (size_t i = 0; i < rec->value_len; i++)
        v[i] = (char)toupper((unsigned char)((const char *)rec->value)[i]);
    spool_record out = *rec;                    /* key, headers, topic: unchanged */
    out.struct_size = sizeof(out);              /* ours, not the runtime's */
    out.value = rec->value != NULL ? v : NULL;
    spool_rc rc = host->emit(t, &out, NULL, 0);
    if (v != small)
        free(v);
    return rc;
}

static const spool_plugin upper_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "upper", .version = "1.0.0",
    .description = "Example transform: upper-cases each record's value.",
    .kind = SPOOL_KIND_TRANSFORM, .options = upper_options,
    .open = upper_open, .close = upper_close, .transform = upper_transform,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &upper_plugin;
}

/* test_config_plugins.c - static plugin descriptors the config tests and fuzzer load.
 *
 * They declare options of every type and flag (REQUIRED, SECRET, ENUM, LIST, ranged
 * INT/SIZE/DURATION) so validation can be exercised without any real connector. The
 * callbacks are never called: config only reads descriptors; they exist because the
 * loader refuses a descriptor without them.
 */
#include <stddef.h>

#include "loader/loader.h"
#include "spool/plugin.h"

int test_config_register(loader *l, char *err, size_t errlen);

static spool_rc tp_open(spool_task *t, void **state)
{
    (void)t;
    *state = NULL;
    return SPOOL_OK;
}

static void tp_close(spool_task *t, void *state)
{
    (void)t;
    (void)state;
}

static spool_rc tp_poll(spool_task *t, void *state, int timeout_ms)
{
    (void)t, (void)state, (void)timeout_ms;
    return SPOOL_OK;
}

static spool_rc tp_put(spool_task *t, void *state, const spool_record *const *recs,
                       size_t n)
{
    (void)t, (void)state, (void)recs, (void)n;
    return SPOOL_OK;
}

static spool_rc tp_flush(spool_task *t, void *state)
{
    (void)t, (void)state;
    return SPOOL_OK;
}

static spool_rc tp_transform(spool_task *t, void *state, const spool_record *rec)
{
    (void)t, (void)state, (void)rec;
    return SPOOL_OK;
}

static const char *const format_choices[] = {"json", "text", NULL};
static const char *const mode_choices[] = {"insert", "upsert", NULL};

#define MIB (INT64_C(1) << 20)

static const spool_option gen_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "interval",
     .default_value = "1s", .min = 1, .max = 86400000, .doc = "time between records"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "format", .default_value = "json",
     .choices = format_choices, .doc = "record encoding"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "count", .default_value = "10",
     .min = 0, .max = 1000000, .doc = "records to emit"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "fields",
     .default_value = "[id, event]", .doc = "fields of each record"},
    {0}};

static const spool_option http_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "listen",
     .flags = SPOOL_OPT_REQUIRED, .doc = "address to listen on"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "token",
     .flags = SPOOL_OPT_SECRET, .doc = "bearer token callers must send"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "max_body", .default_value = "1MiB",
     .min = 1024, .max = 64 * MIB, .doc = "largest request body"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "tls", .default_value = "false",
     .doc = "serve HTTPS"},
    {0}};

static const spool_option pg_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "dsn",
     .flags = SPOOL_OPT_REQUIRED | SPOOL_OPT_SECRET, .doc = "connection string"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "table",
     .flags = SPOOL_OPT_REQUIRED, .doc = "destination table"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch", .default_value = "500",
     .min = 1, .max = 100000, .doc = "rows per insert"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "flush",
     .default_value = "5s", .doc = "longest wait before a commit"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "mode", .default_value = "insert",
     .choices = mode_choices, .doc = "insert or upsert"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "columns",
     .doc = "columns to fill"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "pin", .flags = SPOOL_OPT_SECRET,
     .doc = "a numeric secret"},
    {0}};

static const spool_option file_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path",
     .flags = SPOOL_OPT_REQUIRED, .doc = "the file"},
    {0}};

static const spool_option filter_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "field",
     .flags = SPOOL_OPT_REQUIRED, .doc = "JSON field to test"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "in", .flags = SPOOL_OPT_REQUIRED,
     .doc = "values that pass"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "negate", .default_value = "false",
     .doc = "drop matches instead"},
    {0}};

static const spool_option mask_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "fields",
     .flags = SPOOL_OPT_REQUIRED, .doc = "fields to hide"},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "salt",
     .flags = SPOOL_OPT_SECRET, .doc = "hash salt"},
    {0}};

#define TP_BASE .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION, \
                .version = "1.0", .description = "config test plugin", .open = tp_open,  \
                .close = tp_close

static const spool_plugin tp_gen = {TP_BASE, .name = "gen", .kind = SPOOL_KIND_SOURCE,
                                    .options = gen_options, .poll = tp_poll};
static const spool_plugin tp_http = {TP_BASE, .name = "http", .kind = SPOOL_KIND_SOURCE,
                                     .options = http_options, .poll = tp_poll};
static const spool_plugin tp_file_in = {TP_BASE, .name = "file", .kind = SPOOL_KIND_SOURCE,
                                        .options = file_options, .poll = tp_poll};
static const spool_plugin tp_pg = {TP_BASE, .name = "pg", .kind = SPOOL_KIND_SINK,
                                   .delivery = SPOOL_DELIVERY_TRANSACTIONAL,
                                   .options = pg_options, .put = tp_put, .flush = tp_flush};
static const spool_plugin tp_file_out = {TP_BASE, .name = "file", .kind = SPOOL_KIND_SINK,
                                         .delivery = SPOOL_DELIVERY_RESUMABLE,
                                         .options = file_options, .put = tp_put,
                                         .flush = tp_flush};
static const spool_plugin tp_stdout = {TP_BASE, .name = "stdout", .kind = SPOOL_KIND_SINK,
                                       .delivery = SPOOL_DELIVERY_IDEMPOTENT, .put = tp_put,
                                       .flush = tp_flush};
static const spool_plugin tp_filter = {TP_BASE, .name = "filter",
                                       .kind = SPOOL_KIND_TRANSFORM,
                                       .options = filter_options, .transform = tp_transform};
static const spool_plugin tp_mask = {TP_BASE, .name = "mask", .kind = SPOOL_KIND_TRANSFORM,
                                     .options = mask_options, .transform = tp_transform};

#define TP_ENTRY(fn, desc)                                    \
    static const spool_plugin *fn(const spool_host *host)    \
    {                                                         \
        (void)host;                                           \
        return &desc;                                         \
    }
TP_ENTRY(tp_gen_entry, tp_gen)
TP_ENTRY(tp_http_entry, tp_http)
TP_ENTRY(tp_file_in_entry, tp_file_in)
TP_ENTRY(tp_pg_entry, tp_pg)
TP_ENTRY(tp_file_out_entry, tp_file_out)
TP_ENTRY(tp_stdout_entry, tp_stdout)
TP_ENTRY(tp_filter_entry, tp_filter)
TP_ENTRY(tp_mask_entry, tp_mask)

/* Registers every test plugin in l. Returns SPOOL_OK or the loader's code, with its
 * reason in err. */
int test_config_register(loader *l, char *err, size_t errlen)
{
    spool_plugin_entry_fn *const entries[] = {
        tp_gen_entry, tp_http_entry, tp_file_in_entry, tp_pg_entry,
        tp_file_out_entry, tp_stdout_entry, tp_filter_entry, tp_mask_entry};
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        int rc = loader_add_builtin(l, entries[i], err, errlen);
        if (rc != SPOOL_OK)
            return rc;
    }
    return SPOOL_OK;
}

/* test_plugin.c - one plugin source, compiled once per TP_* variant into a real .so.
 *
 * test_loader needs plugins that are broken in exactly one way each, built the way
 * real connectors are (hidden visibility, --no-undefined, against sdk/include alone),
 * so the loader is exercised through dlopen rather than through hand-made structs.
 * loader.cmake compiles this file with one TP_<VARIANT> definition per target; every
 * variant starts from the same good descriptor and breaks one thing.
 */
#include <stddef.h>

#include "spool/plugin.h"

/* Each variant uses a different subset of the callbacks below. */
#define TP_UNUSED __attribute__((unused))

/* Options with a range (or another struct_size) spell out their fields instead of
 * using SPOOL_OPTION_INIT: overriding its .min/.max trips -Woverride-init (-Wextra). */

static spool_rc tp_open(spool_task *t, void **state)
{
    *state = NULL;
    return SPOOL_OK;
}

static void tp_close(spool_task *t, void *state)
{
}

#if defined(TP_UNRESOLVED)
/* Deliberately defined nowhere: built without --no-undefined, so only RTLD_NOW
 * notices at load time. */
extern int tp_symbol_defined_nowhere(void);
#endif

static TP_UNUSED spool_rc tp_poll(spool_task *t, void *state, int timeout_ms)
{
#if defined(TP_UNRESOLVED)
    return tp_symbol_defined_nowhere() ? SPOOL_OK : SPOOL_ERR;
#else
    return SPOOL_OK;
#endif
}

static TP_UNUSED spool_rc tp_put(spool_task *t, void *state, const spool_record *const *recs,
                       size_t n)
{
    return SPOOL_OK;
}

static TP_UNUSED spool_rc tp_flush(spool_task *t, void *state)
{
    return SPOOL_OK;
}

static TP_UNUSED const char *const tp_modes[] = {"fast", "safe", NULL};

#if defined(TP_WIDE)
/* A plugin from a future SDK whose spool_option grew: the loader must step by the
 * table's own struct_size, not by its sizeof(spool_option). */
typedef struct tp_wide_option {
    spool_option o;
    uint64_t appended_later;
} tp_wide_option;

static const tp_wide_option tp_options[] = {
    {{.struct_size = sizeof(tp_wide_option), .min = 1, .max = 0, .name = "alpha",
      .type = SPOOL_OPT_INT, .default_value = "7", .doc = "First."}, 1},
    {{.struct_size = sizeof(tp_wide_option), .min = 1, .max = 0, .name = "beta",
      .type = SPOOL_OPT_DURATION, .default_value = "2h", .doc = "Second."}, 2},
    {{.struct_size = sizeof(tp_wide_option), .min = 1, .max = 0, .name = "gamma",
      .type = SPOOL_OPT_STRING, .doc = "Third."}, 3},
    {{.name = NULL}, 0}};
#define TP_OPTIONS (&tp_options[0].o)
#elif defined(TP_SINK) || defined(TP_SINK_NOFLUSH)
#define TP_OPTIONS NULL
#else
static const spool_option tp_options[] = {
#if defined(TP_OPT_BADNAME)
    {SPOOL_OPTION_INIT, .name = "Batch-Size", .type = SPOOL_OPT_INT, .doc = "Bad."},
#elif defined(TP_OPT_DUP)
    {SPOOL_OPTION_INIT, .name = "topic", .type = SPOOL_OPT_STRING, .doc = "Again."},
#elif defined(TP_OPT_BADTYPE)
    {SPOOL_OPTION_INIT, .name = "batch_size", .type = 99, .doc = "Bad."},
#elif defined(TP_OPT_REQDEFAULT)
    {SPOOL_OPTION_INIT, .name = "url", .type = SPOOL_OPT_STRING,
     .flags = SPOOL_OPT_REQUIRED, .default_value = "http://x", .doc = "Bad."},
#elif defined(TP_OPT_ENUMNOCHOICES)
    {SPOOL_OPTION_INIT, .name = "level", .type = SPOOL_OPT_ENUM, .doc = "Bad."},
#elif defined(TP_OPT_BADDEFAULT)
    {SPOOL_OPTION_INIT, .name = "buffer", .type = SPOOL_OPT_SIZE,
     .default_value = "12 parsecs", .doc = "Bad."},
#elif defined(TP_OPT_NODOC)
    {SPOOL_OPTION_INIT, .name = "quiet", .type = SPOOL_OPT_BOOL},
#elif defined(TP_OPT_RANGE)
    {.struct_size = sizeof(spool_option), .name = "workers", .type = SPOOL_OPT_INT,
     .min = 1, .max = 64,
     .default_value = "100", .doc = "Bad."},
#elif defined(TP_OPT_BADFLAGS)
    {SPOOL_OPTION_INIT, .name = "token", .type = SPOOL_OPT_STRING, .flags = 0x80,
     .doc = "Bad."},
#endif
    {SPOOL_OPTION_INIT, .name = "topic", .type = SPOOL_OPT_STRING,
     .flags = SPOOL_OPT_REQUIRED, .doc = "Topic to write to."},
    {.struct_size = sizeof(spool_option), .name = "batch_size", .type = SPOOL_OPT_INT,
     .min = 1, .max = 10000, .default_value = "100", .doc = "Records per batch."},
    {SPOOL_OPTION_INIT, .name = "buffer", .type = SPOOL_OPT_SIZE,
     .default_value = "64KiB", .doc = "Read buffer."},
    {SPOOL_OPTION_INIT, .name = "timeout", .type = SPOOL_OPT_DURATION,
     .default_value = "5s", .doc = "Poll timeout."},
    {SPOOL_OPTION_INIT, .name = "verbose", .type = SPOOL_OPT_BOOL,
     .default_value = "false", .doc = "Log every record."},
    {SPOOL_OPTION_INIT, .name = "mode", .type = SPOOL_OPT_ENUM, .choices = tp_modes,
     .default_value = "safe", .doc = "Trade-off."},
    {SPOOL_OPTION_INIT, .name = "password", .type = SPOOL_OPT_STRING,
     .flags = SPOOL_OPT_SECRET, .doc = "Password."},
    {SPOOL_OPTION_INIT, .name = "hosts", .type = SPOOL_OPT_LIST, .doc = "Servers."},
    {.name = NULL}};
#define TP_OPTIONS tp_options
#endif

#if defined(TP_DUP)
#define TP_NAME "tp_good" /* same name as the good plugin, different file */
#elif defined(TP_WIDE)
#define TP_NAME "tp_wide"
#elif defined(TP_SINK) || defined(TP_SINK_NOFLUSH)
#define TP_NAME "tp_sink"
#else
#define TP_NAME "tp_good"
#endif

#if defined(TP_ABI2)
#define TP_ABI 2
#elif defined(TP_ABI0)
#define TP_ABI 0
#else
#define TP_ABI SPOOL_ABI_VERSION
#endif

static TP_UNUSED const spool_plugin tp_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = TP_ABI,
    .name = TP_NAME,
    .version = "1.2.3",
    .description = "A plugin for test_loader.",
#if defined(TP_SINK) || defined(TP_SINK_NOFLUSH)
    .kind = SPOOL_KIND_SINK,
    .delivery = SPOOL_DELIVERY_IDEMPOTENT,
    .put = tp_put,
#if !defined(TP_SINK_NOFLUSH)
    .flush = tp_flush,
#endif
#else
    .kind = SPOOL_KIND_SOURCE,
#if !defined(TP_NOPOLL)
    .poll = tp_poll,
#endif
#endif
    .options = TP_OPTIONS,
    .open = tp_open,
    .close = tp_close,
};

#if defined(TP_NOENTRY)
/* Exports something, just not the entry point. */
SPOOL_EXPORT const spool_plugin *spool_plugin_entry_v2(const spool_host *host);
SPOOL_EXPORT const spool_plugin *spool_plugin_entry_v2(const spool_host *host)
{
    return &tp_plugin;
}
#else
SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *host)
{
#if defined(TP_NULLENTRY)
    return NULL;
#else
    return &tp_plugin;
#endif
}
#endif

/* counter_source.c - example source: "count" numbered lines, resumable to the exact line.
 *
 * Emits "PREFIX 0", "PREFIX 1", ... up to count records, `batch` per poll(), then says
 * SPOOL_DONE. The position stored with each record is the number of the next line, in
 * decimal, so that after a crash open() resumes right after the last committed record:
 * nothing lost, nothing doubled.
 */
#define SPOOL_REQUIRE_ABI 1
#include <spool/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const spool_host *host;

static const spool_option counter_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "count", .default_value = "100",
     .min = 0, .max = 1000000000, .doc = "How many lines to emit in all."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch", .default_value = "10",
     .min = 1, .max = 100000, .doc = "Lines per poll()."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "prefix", .default_value = "line",
     .doc = "Text before each line's number."},
    {.name = NULL},
};

typedef struct counter {
    long long next, count, batch;
    const char *prefix;        /* the host's string: valid until close() */
} counter;

static spool_rc counter_open(spool_task *t, void **state)
{
    const void *pos;
    size_t len;
    counter *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SPOOL_ENOMEM;
    *state = c;
    c->count = host->opt_int(t, "count");
    c->batch = host->opt_int(t, "batch");
    c->prefix = host->opt_string(t, "prefix");
    /* Resume after the last committed line: the position is its successor's number. */
    host->source_position(t, &pos, &len);
    if (len > 0) {
        char text[24];
        if (len >= sizeof(text)) {
            host->set_error(t, "the stored position is %zu bytes, not a line number", len);
            return SPOOL_ERR;
        }
        memcpy(text, pos, len);
        text[len] = '\0';
        c->next = strtoll(text, NULL, 10);
    }
    return SPOOL_OK;
}

static void counter_close(spool_task *t, void *state)
{
    free(state);
}

static spool_rc counter_poll(spool_task *t, void *state, int timeout_ms)
{
    counter *c = state;
    for (long long i = 0; i < c->batch && c->next < c->count; i++) {
        char value[256], pos[24];
        int n = snprintf(value, sizeof(value), "%s %lld", c->prefix, c->next);
        int pn = snprintf(pos, sizeof(pos), "%lld", c->next + 1);
        spool_record rec = {.struct_size = sizeof(rec), .value = value,
                            .value_len = (size_t)n, .partition = -1};
        spool_rc rc = host->emit(t, &rec, pos, (size_t)pn);
        if (rc != SPOOL_OK)
            return rc == SPOOL_ESTOP ? SPOOL_OK : rc;
        c->next++;
    }
    return c->next >= c->count ? SPOOL_DONE : SPOOL_OK;
}

static const spool_plugin counter_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "counter", .version = "1.0.0",
    .description = "Example source: numbered lines, resumable to the exact line.",
    .kind = SPOOL_KIND_SOURCE, .options = counter_options,
    .open = counter_open, .close = counter_close, .poll = counter_poll,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &counter_plugin;
}

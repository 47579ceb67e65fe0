/* testsrc.c - test source: numbered resource events, exactly `count` of them.
 *
 * Record id N (0-based) has the value {"id":N,"event":E,"resource_id":"r-K"} where E
 * cycles through created/resized/destroyed and K = N % 97; every `bad_every`th record
 * (when set) is not JSON, to exercise transform failures. The position is the next id
 * in decimal. `crash_at: poll:N` or `commit:N` kills the process at that call. Each
 * poll sets the gauge `last_batch_records` (host->gauge(), when the runtime has it) to
 * the records it emitted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "spool/plugin.h"

static const spool_host *host;

static const spool_option testsrc_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "count", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Records to produce in all."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch", .default_value = "500",
     .min = 1, .max = 1000000, .doc = "Records per poll."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "bad_every", .default_value = "0",
     .doc = "Every Nth record is not JSON; 0: none."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "crash_at", .default_value = "",
     .doc = "poll:N or commit:N kills the process at that call."},
    {.name = NULL},
};

typedef struct testsrc {
    int64_t next, count, batch, bad_every;
    crash_point crash;
} testsrc;

static spool_rc ts_open(spool_task *t, void **state)
{
    testsrc *s = calloc(1, sizeof(*s));
    const void *pos;
    size_t len;
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->count = host->opt_int(t, "count");
    s->batch = host->opt_int(t, "batch");
    s->bad_every = host->opt_int(t, "bad_every");
    if (crash_parse(&s->crash, host->opt_string(t, "crash_at")) != 0) {
        host->set_error(t, "crash_at must be CALLBACK:N");
        return SPOOL_EINVAL;
    }
    host->source_position(t, &pos, &len);
    if (len > 0) {
        char text[32];
        if (len >= sizeof(text))
            return SPOOL_EINVAL;
        memcpy(text, pos, len);
        text[len] = '\0';
        s->next = strtoll(text, NULL, 10);
    }
    return SPOOL_OK;
}

static spool_rc ts_poll(spool_task *t, void *state, int timeout_ms)
{
    static const char *const events[] = {"resource_created", "resource_resized",
                                         "resource_destroyed"};
    testsrc *s = state;
    int64_t first = s->next;
    crash_maybe(&s->crash, "poll");
    for (int64_t i = 0; i < s->batch && s->next < s->count; i++) {
        char value[160], pos[32];
        int64_t id = s->next;
        int n = (s->bad_every > 0 && id % s->bad_every == s->bad_every - 1)
                    ? snprintf(value, sizeof(value), "not json, id %" PRId64, id)
                    : snprintf(value, sizeof(value),
                               "{\"id\":%" PRId64 ",\"event\":\"%s\",\"resource_id\":\"r-%"
                               PRId64 "\"}", id, events[id % 3], id % 97);
        int pn = snprintf(pos, sizeof(pos), "%" PRId64, id + 1);
        spool_record rec = {.struct_size = sizeof(rec), .value = value,
                            .value_len = (size_t)n, .partition = -1};
        spool_rc rc = host->emit(t, &rec, pos, (size_t)pn);
        if (rc != SPOOL_OK)
            return rc;
        s->next++;
    }
    if (SPOOL_HAS(spool_host, host, gauge) &&
        host->gauge(t, "last_batch_records", (double)(s->next - first)) != SPOOL_OK)
        return SPOOL_ERR;
    return s->next >= s->count ? SPOOL_DONE : SPOOL_OK;
}

static spool_rc ts_commit(spool_task *t, void *state, const void *pos, size_t len)
{
    testsrc *s = state;
    crash_maybe(&s->crash, "commit");
    return SPOOL_OK;
}

static void ts_close(spool_task *t, void *state)
{
    free(state);
}

static const spool_plugin testsrc_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "testsrc", .version = "0.0.1",
    .description = "Test source of numbered events that can crash on demand.",
    .kind = SPOOL_KIND_SOURCE, .options = testsrc_options,
    .open = ts_open, .close = ts_close, .poll = ts_poll, .commit = ts_commit,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &testsrc_plugin;
}

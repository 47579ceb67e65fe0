/* misbehave.c - test plugins that break their contract on purpose, one way per `mode`:
 *
 *   ok          behaves: the source ends at once, the sink takes everything, the
 *               transform passes records on
 *   error       every callback, open() included, returns SPOOL_ERR with a reason
 *   error_late  open() succeeds; every later callback returns SPOOL_ERR
 *   block       open() succeeds; poll(), put() and transform() never return
 *   huge        the source and the transform emit a record one byte over
 *               SPOOL_RECORD_MAX_BYTES
 *   slow        poll(), put() and transform() take 3 seconds, then behave
 *
 * Built three times: as the source badsrc (-DBAD_SOURCE), the sink badsink (-DBAD_SINK)
 * and the transform badxform (-DBAD_TRANSFORM).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/plugin.h"

enum { MODE_OK, MODE_ERROR, MODE_ERROR_LATE, MODE_BLOCK, MODE_HUGE, MODE_SLOW };

static const spool_host *host;

/* Each build uses the callbacks of its kind only. */
#define MB_CALLBACK static __attribute__((unused)) spool_rc

static const char *const modes[] = {"ok", "error", "error_late", "block", "huge", "slow", NULL};

static const spool_option bad_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "mode", .default_value = "ok",
     .choices = modes, .doc = "How to misbehave."},
    {.name = NULL},
};

typedef struct bad {
    int mode;
} bad;

/* Returns SPOOL_ERR with a reason naming the callback, or blocks forever, as the mode
 * says; SPOOL_OK otherwise. */
static spool_rc misbehave(spool_task *t, bad *b, const char *callback)
{
    if (b->mode == MODE_ERROR || b->mode == MODE_ERROR_LATE) {
        host->set_error(t, "%s failed on purpose (mode %s)", callback, modes[b->mode]);
        return SPOOL_ERR;
    }
    if ((b->mode == MODE_BLOCK || b->mode == MODE_SLOW) && strcmp(callback, "close") != 0 &&
        strcmp(callback, "commit") != 0) {
        if (b->mode == MODE_SLOW)
            sleep(3);
        else
            for (;;)
                pause();
    }
    return SPOOL_OK;
}

static spool_rc emit_huge(spool_task *t)
{
    size_t n = SPOOL_RECORD_MAX_BYTES + 1;
    char *value = calloc(1, n);
    if (value == NULL)
        return SPOOL_ENOMEM;
    spool_record rec = {.struct_size = sizeof(rec), .value = value, .value_len = n,
                        .partition = -1};
    spool_rc rc = host->emit(t, &rec, "huge", 4);
    free(value);
    return rc;
}

static spool_rc bad_open(spool_task *t, void **state)
{
    bad *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return SPOOL_ENOMEM;
    *state = b;
    b->mode = (int)host->opt_int(t, "mode");
    return b->mode == MODE_ERROR ? misbehave(t, b, "open") : SPOOL_OK;
}

static void bad_close(spool_task *t, void *state)
{
    free(state);
}

MB_CALLBACK bad_poll(spool_task *t, void *state, int timeout_ms)
{
    bad *b = state;
    if (b->mode == MODE_HUGE)
        return emit_huge(t);
    spool_rc rc = misbehave(t, b, "poll");
    return rc == SPOOL_OK ? SPOOL_DONE : rc;
}

MB_CALLBACK bad_commit(spool_task *t, void *state, const void *position, size_t len)
{
    return misbehave(t, state, "commit");
}

MB_CALLBACK bad_put(spool_task *t, void *state, const spool_record *const *recs, size_t n)
{
    return misbehave(t, state, "put");
}

MB_CALLBACK bad_flush(spool_task *t, void *state)
{
    return misbehave(t, state, "flush");
}

MB_CALLBACK bad_transform(spool_task *t, void *state, const spool_record *rec)
{
    bad *b = state;
    if (b->mode == MODE_HUGE)
        return emit_huge(t);
    spool_rc rc = misbehave(t, b, "transform");
    return rc == SPOOL_OK ? host->emit(t, rec, NULL, 0) : rc;
}

static const spool_plugin bad_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .version = "0.0.1", .options = bad_options, .open = bad_open, .close = bad_close,
#if defined(BAD_SOURCE)
    .name = "badsrc", .description = "Test source that misbehaves as told.",
    .kind = SPOOL_KIND_SOURCE, .poll = bad_poll, .commit = bad_commit,
#elif defined(BAD_SINK)
    .name = "badsink", .description = "Test sink that misbehaves as told.",
    .kind = SPOOL_KIND_SINK, .delivery = SPOOL_DELIVERY_IDEMPOTENT, .put = bad_put,
    .flush = bad_flush,
#else
    .name = "badxform", .description = "Test transform that misbehaves as told.",
    .kind = SPOOL_KIND_TRANSFORM, .transform = bad_transform,
#endif
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &bad_plugin;
}

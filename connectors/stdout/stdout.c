/* stdout.c - the stdout sink: prints records, for trying pipelines out and debugging.
 *
 * Usage:
 *
 *     sinks:
 *       console:
 *         connector: stdout
 *         topics: [lines]
 *         config: {format: record}
 *
 * `format: value` prints each record's value on a line of its own; `format: record`
 * prints "topic/partition@offset key=KEY value" so that a reader can see where each
 * record came from. The sink is idempotent (at least once): after a crash the records
 * since the last checkpoint are printed again, each with the same topic, partition and
 * offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "spool/plugin.h"

static const spool_host *host;

static const char *const stdout_formats[] = {"value", "record", NULL};

enum { FORMAT_VALUE = 0, FORMAT_RECORD = 1 };

static const spool_option stdout_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "format", .default_value = "value",
     .choices = stdout_formats,
     .doc = "value: the value alone; record: topic/partition@offset, key and value."},
    {.name = NULL},
};

typedef struct stdout_sink {
    int64_t format;
} stdout_sink;

static spool_rc so_open(spool_task *t, void **state)
{
    stdout_sink *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    s->format = host->opt_int(t, "format");
    *state = s;
    return SPOOL_OK;
}

static spool_rc so_put(spool_task *t, void *state, const spool_record *const *recs,
                       size_t n)
{
    stdout_sink *s = state;
    for (size_t i = 0; i < n; i++) {
        const spool_record *r = recs[i];
        if (s->format == FORMAT_RECORD) {
            printf("%s/%" PRId32 "@%" PRId64 " key=", r->topic ? r->topic : "?",
                   r->partition, r->offset);
            if (r->key != NULL)
                fwrite(r->key, 1, r->key_len, stdout);
            else
                fputs("(none)", stdout);
            fputc(' ', stdout);
        }
        if (r->value != NULL)
            fwrite(r->value, 1, r->value_len, stdout);
        fputc('\n', stdout);
    }
    if (ferror(stdout)) {
        host->set_error(t, "cannot write to standard output");
        return SPOOL_ERR;
    }
    return SPOOL_OK;
}

static spool_rc so_flush(spool_task *t, void *state)
{
    if (fflush(stdout) != 0) {
        host->set_error(t, "cannot write to standard output");
        return SPOOL_ERR;
    }
    return SPOOL_OK;
}

static void so_close(spool_task *t, void *state)
{
    free(state);
}

static const spool_plugin stdout_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "stdout",
    .version = SPOOL_VERSION_STRING,
    .description = "Prints records to standard output (at least once).",
    .kind = SPOOL_KIND_SINK,
    .delivery = SPOOL_DELIVERY_IDEMPOTENT,
    .options = stdout_options,
    .open = so_open,
    .close = so_close,
    .put = so_put,
    .flush = so_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &stdout_plugin;
}

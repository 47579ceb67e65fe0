/* worker.h - runs a pipeline: one thread per task, sources into the log, log into sinks.
 *
 * A worker owns the log store and every task of one pipeline. Sources poll their
 * plugin, run the record through the source's transforms, and commit each poll's
 * records together with the source position (log_commit groups concurrent sources);
 * the plugin's commit() callback then learns which positions are durable. Sinks read
 * committed records from their partitions, run them through transforms, put() and
 * flush() them, and checkpoint as the sink's delivery level says.
 *
 * Threads: worker_* functions are called from the main thread only; tasks run on
 * threads of their own and reach the worker through the host table (worker/host.c).
 */
#ifndef SPOOL_WORKER_H
#define SPOOL_WORKER_H

#include <stdarg.h>

#include "config/config.h"
#include "spool/plugin.h"

/* Exit codes of DESIGN.md. */
enum {
    EXIT_RUNTIME = 1,
    EXIT_USAGE = 2,
    EXIT_STORAGE = 3,
    EXIT_CORRUPT = 4,
    EXIT_PLUGIN = 5
};

typedef struct worker worker;

/* The host table every plugin receives; static, valid for the whole process. */
const spool_host *worker_host(void);

/* Log lines go to stderr: "2026-11-26T10:00:00.123Z INFO  [who] message". */
void worker_log_set_level(int level);
void worker_log(int level, const char *who, const char *fmt, ...) SPOOL_PRINTF(3, 4);
void worker_vlog(int level, const char *who, const char *fmt, va_list ap);

/* Opens the log in data_dir (recovering it), creates the pipeline's topics and
 * prepares every task. Returns 0, or an exit code (EXIT_STORAGE, EXIT_CORRUPT,
 * EXIT_RUNTIME, EXIT_USAGE) with the reason in err. */
int worker_new(const config_pipeline *p, const char *data_dir, worker **out, char *err,
               size_t errlen);

/* Opens every task's plugin and starts its thread. Returns 0 or an exit code with
 * the reason logged; on failure everything started is stopped again. */
int worker_start(worker *w);

/* A descriptor that becomes readable when the worker finished by itself: every
 * source ended and every sink delivered everything, or a task failed. */
int worker_done_fd(const worker *w);

/* Asks every task to stop after its current batch (sources commit what they have,
 * sinks flush and checkpoint). Returns at once. */
void worker_stop(worker *w);

/* Waits for every task to end, closes the plugins and returns the exit code: 0, or
 * the first failure's (EXIT_RUNTIME, EXIT_STORAGE). */
int worker_join(worker *w);

/* Counts for the report printed at the end of `spool run`. */
typedef struct worker_stats {
    unsigned long long produced;   /* records committed by sources */
    unsigned long long delivered;  /* records put to sinks */
} worker_stats;
void worker_get_stats(const worker *w, worker_stats *out);

void worker_free(worker *w);

#endif /* SPOOL_WORKER_H */

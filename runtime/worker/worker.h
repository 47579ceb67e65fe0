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

#include "backend/backend.h"
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
int worker_log_get_level(void);

/* JSON lines instead: {"ts","level","logger","connector","task","message"}, the
 * connector and task only for a task's lines. */
void worker_log_set_json(int json);

/* A secret (an option declared secret) that no log line may show: every occurrence is
 * replaced by asterisks. worker_new() registers its pipeline's secrets itself. Values
 * shorter than 3 characters are not registered. Thread-safe. */
void worker_log_add_secret(const char *s);

/* Opens the backend the pipeline's log: block names (the built-in log in data_dir by
 * default, recovering it), creates the pipeline's topics and prepares every task.
 * data_dir also holds the sinks' checkpoints on either backend. Returns 0, or an exit
 * code (EXIT_STORAGE, EXIT_CORRUPT, EXIT_RUNTIME, EXIT_USAGE) with the reason in err. */
int worker_new(const config_pipeline *p, const char *data_dir, worker **out, char *err,
               size_t errlen);

/* The same for a daemon that opened the backend itself and shares it among many
 * workers: the worker neither opens nor closes b and creates none of p's topics (the
 * caller creates them first; p's log: block is ignored). On builtin, the caller's
 * log_open_opts.consumed should ask every worker through worker_consumed_offset(). */
int worker_new_shared(const config_pipeline *p, backend *b, const char *data_dir,
                      worker **out, char *err, size_t errlen);

/* The backend_config a pipeline's (or worker config's) log: block describes, with
 * data_dir. The strings point into lg; props must have room for 2 * lg->nproperties + 1
 * pointers (NULL-terminated). */
void worker_backend_config(const config_log *lg, const char *data_dir,
                           const char **props, backend_config *out);

/* For retention's keep_unconsumed: the lowest next offset a sink task of w still has to
 * deliver from topic/partition, -1 when none reads it, 0 while tasks are set up. */
int64_t worker_consumed_offset(worker *w, const char *topic, int32_t partition);

/* The log's settings for a pipeline's topic (defaults where the pipeline is silent). */
void worker_topic_config(const config_topic *ct, log_topic_config *out);

/* Opens every task's plugin and starts its thread. Returns 0 or an exit code with
 * the reason logged; on failure everything started is stopped again. */
int worker_start(worker *w);

/* A descriptor that becomes readable when the worker finished by itself: every
 * source ended and every sink delivered everything, or a task failed. */
int worker_done_fd(const worker *w);

/* Shuts down in order: sources stop after committing what they have; sinks go on
 * until they have delivered everything committed, then flush, checkpoint and end.
 * Returns at once. */
void worker_stop(worker *w);

/* Makes sinks end after their current batch too, drained or not (the shutdown
 * timeout ran out). Nothing is lost: checkpoints are exact. Returns at once. */
void worker_halt(worker *w);

/* Waits for every task to end and returns the exit code: 0; EXIT_STORAGE or
 * EXIT_CORRUPT when the worker stopped to protect data; EXIT_RUNTIME when a connector
 * FAILED. */
int worker_join(worker *w);

/* Connector and task states, as Kafka Connect names them. */
typedef enum worker_state {
    WORKER_RUNNING = 0,
    WORKER_PAUSED = 1,
    WORKER_FAILED = 2,
    WORKER_STOPPED = 3,
    WORKER_UNASSIGNED = 4      /* not started yet, or (kafka) run by another worker */
} worker_state;
const char *worker_state_name(int state);

/* Pauses, resumes or restarts every task of the connector (source or sink) named
 * name. A paused source stops polling; a paused sink stops delivering; both keep
 * their positions. Restart ends the tasks (all, or only the FAILED ones) and starts
 * them again from their committed positions. Return 0, or -1 when no connector has
 * that name. Thread: the one that owns the worker (calls worker_join), never a task's,
 * and not once worker_join() has begun. Restart blocks until the old tasks ended. */
int worker_pause(worker *w, const char *name);
int worker_resume(worker *w, const char *name);
int worker_restart(worker *w, const char *name, int only_failed);

/* One task's state, for status displays and the API. */
typedef struct worker_task_info {
    const char *connector;     /* the source's or sink's name */
    const char *task;          /* the task's name ("sink/warehouse/1") */
    int kind;                  /* SPOOL_KIND_SOURCE or SPOOL_KIND_SINK */
    int index;
    int state;                 /* worker_state */
    char reason[1024];         /* why it FAILED; empty otherwise */
    unsigned long long records, failed_records;
} worker_task_info;
size_t worker_task_count(const worker *w);

/* A counter raised whenever a task changes state, a source commits or a sink delivers,
 * and a wait for it to move past seen (or timeout_ms to pass). Returns the current
 * value. For status displays, long polls and tests that wait for progress. */
unsigned long long worker_events(worker *w);
unsigned long long worker_wait_event(worker *w, unsigned long long seen, int timeout_ms);
void worker_task_get(worker *w, size_t i, worker_task_info *out);

/* More of one task's counters, for metrics: bytes of the records counted in
 * worker_task_info.records, transient failures retried, failures (records that failed
 * and failures of the task), records written to the dead-letter topic. */
typedef struct worker_task_counts {
    unsigned long long bytes, retries, errors, dead_lettered;
} worker_task_counts;
void worker_task_counters(worker *w, size_t i, worker_task_counts *out);

/* A sink task's partitions: the next offset after its last checkpoint and the
 * partition's committed end (lag = end - consumed). Fills up to max, returns how many;
 * topic points into the pipeline. Thread-safe. */
typedef struct worker_part_lag {
    const char *topic;
    int32_t partition;
    long long consumed, end;
} worker_part_lag;
size_t worker_task_lag(worker *w, size_t i, worker_part_lag *out, size_t max);

/* The gauges a task's plugin set with host->gauge() (and its transforms': they belong
 * to the task they run in), in the order first set, with their last values. Fills up
 * to max (SPOOL_GAUGE_MAX is every one), returns how many. Thread-safe. */
typedef struct worker_gauge {
    char name[SPOOL_GAUGE_NAME_MAX + 1];
    double value;
} worker_gauge;
size_t worker_task_gauges(worker *w, size_t i, worker_gauge *out, size_t max);

/* The name of the plugin a task runs ("postgres-cdc"), for labels. Static. */
const char *worker_task_plugin(const worker *w, size_t i);

/* The exit code of a failure that stopped the whole worker (EXIT_STORAGE,
 * EXIT_CORRUPT), 0 while there is none. Thread-safe; does not wait. */
int worker_exit_code(worker *w);

/* The number of tasks abandoned because a plugin callback ran past the connector's
 * errors.deadline. Their threads may still be running plugin code, so everything they
 * can reach (the worker, the pipeline, the plugins) must stay allocated: worker_free()
 * then frees only what they cannot reach, and `spool run` exits without freeing. */
unsigned long long worker_abandoned(const worker *w);

/* Counts for the report printed at the end of `spool run`. */
typedef struct worker_stats {
    unsigned long long produced;      /* records committed by sources */
    unsigned long long delivered;     /* records put to sinks */
    unsigned long long dead_lettered; /* records set aside by an errors policy */
} worker_stats;
void worker_get_stats(const worker *w, worker_stats *out);

void worker_free(worker *w);

#endif /* SPOOL_WORKER_H */

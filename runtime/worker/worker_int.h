/* worker_int.h - the worker's private structures, shared by worker.c and host.c only. */
#ifndef SPOOL_WORKER_INT_H
#define SPOOL_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "backend/backend.h"
#include "ckpt/ckpt.h"
#include "worker/worker.h"

/* A sink task's view of one partition of its current assignment (backend_sub). */
typedef struct sink_part {
    const char *topic;         /* the pipeline's string for it */
    int32_t partition;
    int64_t next;              /* next offset to deliver; -1: none read yet (kafka: the
                                * group's committed offset decides where reading starts) */
    atomic_llong consumed;     /* next offset after the last checkpoint, for retention */
} sink_part;

struct spool_task {
    struct worker *w;
    const loader_plugin *plugin;
    const config_value *values;
    size_t nvalues;
    char *name;                /* "source/NAME", "sink/NAME/0", "source/NAME/filter#1" */
    void *state;
    int opened;
    char error[1024];          /* set_error() text for the current callback */
    pthread_t thread;
    int started;               /* a thread was started and not yet joined */
    atomic_int running;        /* its thread has not ended yet */

    /* State, read by any thread, written under w->lock. */
    atomic_int status;         /* worker_state */
    atomic_int pause_req;      /* pause() asked for, resume() clears */
    atomic_int stop_req;       /* this task alone must stop (restart) */
    char reason[1024];         /* why it FAILED, under w->lock */
    atomic_ullong records;     /* committed (source) or delivered (sink) */
    atomic_ullong failed_records; /* set aside by the errors policy */
    atomic_ullong bytes;       /* key, value and header bytes of records */
    atomic_ullong retries;     /* transient failures retried */
    atomic_ullong errors;      /* records that failed, and failures of the task */
    atomic_ullong dead_lettered; /* records written to the dead-letter topic */

    /* Transforms run on the owner's thread, in order; a transform's task points back. */
    struct spool_task *transforms;
    size_t ntransforms;
    struct spool_task *owner;  /* for transform tasks */
    size_t stage;              /* index of this transform in owner->transforms */

    const config_connector *cc;
    unsigned int rng;          /* jitter for backoff */

    /* Sources. */
    int32_t partitions;        /* of cc->topic */
    uint32_t round_robin;
    backend_producer *prod;    /* opened by source_main: records, position, dead letters */
    size_t txn_bytes;
    int fenced;                /* another worker took the task over (LOG_EFENCED) */
    int owned;                 /* the coordinator gave this source task to this worker */
    int restart_loop;          /* the backend aborted the transaction (SPOOL_RETRY) */
    void *pending_pos;         /* position of the last emitted record */
    size_t pending_len, pending_cap;
    int pending_set;
    int commit_due;            /* a commit happened inside poll(): tell the plugin */
    void *committed_pos;       /* what source_position() returns */
    size_t committed_len;
    /* The commit in flight (backend_producer_commit_start): its records and bytes, and
     * the position it carries (when flight_pos_set), not durable before it is waited. */
    int flight;
    size_t flight_n, flight_bytes;
    void *flight_pos;
    size_t flight_len, flight_cap;
    int flight_pos_set;
    const spool_record *cur_source; /* the record being emitted, for dead letters */

    /* Sinks. */
    int index;                 /* task index among the sink's tasks */
    char *ckpt_name;
    ckpt ck;                   /* consumed offsets and the sink's position */
    ckpt_writer *ckw;          /* ck's file, open from sink_setup to sink_teardown */
    ckpt seeks;                /* transactional sinks: offsets reported by seek() */
    int in_open, in_flush, in_put;
    void *new_pos;             /* set_sink_position() inside flush() */
    size_t new_pos_len;
    int new_pos_set;
    sink_part *parts;          /* the current assignment, under w->lock */
    size_t nparts;
    backend_sub *sub;          /* set and cleared by the task's thread under w->lock */
    long batch_reads;          /* records read since the last delivery (some may have
                                * been dropped or set aside: the checkpoint moves all the
                                * same) */
    int assignments;           /* assigned() calls since the task started */
    size_t part_hint;          /* the part the last record came from */
    const spool_record **batch;
    size_t batch_len, batch_cap, batch_bytes;
    struct arena_chunk *arena; /* the batch's records */
    backend_producer *dlq;     /* dead letters gathered since the last checkpoint */
    int reject_failed;         /* reject() with tolerance none: fail after put() */
    const char *cur_topic;     /* the log record being transformed */
    int32_t cur_partition;
    int64_t cur_offset;
    int64_t cur_timestamp;

    /* Deadlines (worker.c): when the plugin callback running on the task's thread
     * began (monotonic ms), 0 outside callbacks and while the runtime works inside one
     * (emit, reject), -1 once the watchdog abandoned the task past errors.deadline.
     * Written by the task's thread, except positive -> -1 by the watchdog. */
    atomic_llong call_since;
    atomic_int call_what;      /* which callback, for the reason */

    /* Gauges the plugin set with host->gauge() (a transform's go to its owner), under
     * w->gauge_lock: written by the task's thread, read by the API's. Kept across a
     * restart of the task. */
    worker_gauge gauges[SPOOL_GAUGE_MAX];
    size_t ngauges;
    int gauge_refused;         /* a refusal was logged already (once per task) */
};

struct worker {
    const config_pipeline *p;
    char *data_dir;
    backend *b;                /* where the topics live */
    int shared_backend;        /* b belongs to the caller (worker_new_shared) */
    int kafka;                 /* b is kafka: sinks run until the worker stops */
    /* Which source tasks run here (backend_coord): opened in worker_start; on kafka a
     * thread polls it until the worker stops. own() runs on that thread (on builtin on
     * the main thread, inside worker_start), under task_lock like restarts. */
    backend_coord *coord;
    size_t *coord_order;       /* coordinator index -> task index (names sorted) */
    pthread_t coord_thread;
    int coord_started;         /* main thread only */
    atomic_int coord_stop;
    pthread_mutex_t task_lock; /* starting and stopping task threads */
    struct spool_task *tasks;
    size_t ntasks;
    size_t nsources;
    atomic_int stop;           /* sources stop; sinks drain what is committed */
    atomic_int halt;           /* sinks stop after their current batch too */
    atomic_int sources_running;
    atomic_int tasks_running;
    atomic_ullong produced, delivered, dead_lettered;
    atomic_ullong events;      /* raised on every state change, commit and delivery */
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* signalled on stop, halt, resume, for waits */
    int exit_code;             /* first fatal failure's, under lock */
    int closing;               /* tasks being set up or freed, under lock */
    int done_fd;               /* eventfd: readable when every task has ended */
    /* A failpoint from $SPOOL_FAILPOINT ("NAME:N:kill" or "NAME:N:stop"): the Nth time
     * the worker passes NAME it kills itself with SIGKILL or asks itself to stop, so
     * that tests crash it at exact moments instead of at random ones. */
    char fp_name[64];
    long fp_at;
    int fp_kill;
    atomic_long fp_hits;
    /* The watchdog thread that enforces errors.deadline (worker.c). */
    pthread_t watchdog;
    int watchdog_started;      /* main thread only */
    atomic_int watchdog_stop;
    atomic_ullong abandoned;   /* tasks given up past their deadline */
    pthread_mutex_t gauge_lock; /* every task's gauges */
};

/* Ends the worker with an exit code (the first one wins) and stops every task: for
 * what threatens the data (storage errors), not for one connector's failure. */
void worker_fail(struct worker *w, int code, const char *who, const char *fmt, ...)
    SPOOL_PRINTF(4, 5);

/* Runs rec through the owner's transforms from stage on, then into its final stage. */
spool_rc worker_stage_push(struct spool_task *owner, size_t stage, const spool_record *rec);

/* A record emitted by a source plugin: the stages, then the position bookkeeping. */
spool_rc worker_source_emit(struct spool_task *t, const spool_record *rec,
                            const void *position, size_t position_len);

/* Called by host functions that do the runtime's work inside a plugin callback (emit,
 * reject): stops the task's deadline clock meanwhile, so that the watchdog never gives
 * up on a task while it is in the runtime's own code. Returns -1 when the task was
 * abandoned already (the host function must return at once, touching nothing), 1 when
 * the clock was stopped, 0 when it was not running; pass that to resume. */
int worker_call_pause(struct spool_task *t);
void worker_call_resume(struct spool_task *t, int paused);

/* emit() of a record over SPOOL_RECORD_MAX_BYTES: fails the connector with the reason
 * and returns SPOOL_EINVAL for the plugin. */
spool_rc worker_emit_too_large(struct spool_task *t, size_t bytes);

/* A sink's reject() of one record of the current put(). */
spool_rc worker_sink_reject(struct spool_task *t, const spool_record *rec,
                            const char *reason);

#endif /* SPOOL_WORKER_INT_H */

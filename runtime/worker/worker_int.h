/* worker_int.h - the worker's private structures, shared by worker.c and host.c only. */
#ifndef SPOOL_WORKER_INT_H
#define SPOOL_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ckpt/ckpt.h"
#include "log/log.h"
#include "worker/worker.h"

/* A sink task's view of one assigned partition. */
typedef struct sink_part {
    const char *topic;
    int32_t partition;
    log_reader *reader;
    int64_t next;              /* next offset to deliver */
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
    int started;

    /* Transforms run on the owner's thread, in order; a transform's task points back. */
    struct spool_task *transforms;
    size_t ntransforms;
    struct spool_task *owner;  /* for transform tasks */
    size_t stage;              /* index of this transform in owner->transforms */

    const config_connector *cc;

    /* Sources. */
    int32_t partitions;        /* of cc->topic */
    uint32_t round_robin;
    log_txn *txn;
    void *pending_pos;         /* position of the last emitted record */
    size_t pending_len, pending_cap;
    int pending_set;
    void *committed_pos;       /* what source_position() returns */
    size_t committed_len;
    int done;

    /* Sinks. */
    int index;                 /* task index among the sink's tasks */
    char *ckpt_name;
    ckpt ck;                   /* consumed offsets and the sink's position */
    ckpt seeks;                /* transactional sinks: offsets reported by seek() */
    int in_open, in_flush;
    void *new_pos;             /* set_sink_position() inside flush() */
    size_t new_pos_len;
    int new_pos_set;
    sink_part *parts;
    size_t nparts;
    const spool_record **batch;
    size_t batch_len, batch_cap;
    const char *cur_topic;     /* the log record being transformed */
    int32_t cur_partition;
    int64_t cur_offset;
    int64_t cur_timestamp;
};

struct worker {
    const config_pipeline *p;
    char *data_dir;
    log_store *log;
    struct spool_task *tasks;
    size_t ntasks;
    size_t nsources;
    atomic_int stop;
    atomic_int sources_running;
    atomic_int tasks_running;
    atomic_ullong produced, delivered;
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* signalled on stop, for backoff waits */
    int exit_code;             /* first failure's, under lock */
    int done_fd;               /* eventfd: readable when finished by itself */
    /* A failpoint from $SPOOL_FAILPOINT ("NAME:N:kill" or "NAME:N:stop"): the Nth time
     * the worker passes NAME it kills itself with SIGKILL or asks itself to stop, so
     * that tests crash it at exact moments instead of at random ones. */
    char fp_name[64];
    long fp_at;
    int fp_kill;
    atomic_long fp_hits;
};

/* Ends the worker with an exit code (the first one wins) and stops every task. */
void worker_fail(struct worker *w, int code, const char *who, const char *fmt, ...)
    SPOOL_PRINTF(4, 5);

/* Runs rec through the owner's transforms from stage on, then into its final stage. */
spool_rc worker_stage_push(struct spool_task *owner, size_t stage, const spool_record *rec);

#endif /* SPOOL_WORKER_INT_H */

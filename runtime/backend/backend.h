/* backend.h - where topics live: the built-in log (default) or Apache Kafka.
 *
 * This is the only header of runtime/backend/ that other subsystems include. The worker,
 * the daemon and the tools talk to topics through it and never know which backend they
 * have; the connectors do not see it at all (they see spool_host).
 *
 *     log:                         # in a pipeline file or a worker config
 *       backend: kafka             # builtin (default) | kafka
 *       group: spool               # kafka: the worker group (prefix of every name below)
 *       replication_factor: 3      # kafka: for topics spool creates
 *       properties:                # kafka: librdkafka properties, passed through
 *         bootstrap.servers: k1:9092,k2:9092
 *
 * Three roles, each with its own object:
 *
 * - A producer (backend_producer) is one writer: a source task, or a sink task's
 *   dead-letter writer. It gathers records for any partitions and, for a source, its new
 *   position, and commits them together: both are visible and durable, or neither.
 *   builtin: a log_txn and log_commit() (grouped with other committers).
 *   kafka:   a transactional producer with transactional.id "GROUP.ID"; the position is a
 *            record keyed ID in the offsets topic "GROUP.offsets", in the same Kafka
 *            transaction (KIP-618). Opening the producer fences any older producer with
 *            the same id (a zombie task on a dead or partitioned worker).
 *
 * - A subscription (backend_sub) is one sink task's reader. It delivers committed records
 *   of the partitions assigned to it, and says when its assignment changes.
 *   builtin: partition p of each topic goes to task p % tasks, once, at the first
 *            backend_sub_next(); never revoked.
 *   kafka:   a read_committed consumer in consumer group "GROUP.SINKNAME"; the group
 *            spreads partitions over every task of that sink on every worker and moves
 *            them when a worker comes or goes (eager protocol: a rebalance revokes the
 *            whole assignment, then assigns the new one).
 *
 * - A coordinator (backend_coord) decides which source tasks this worker runs.
 *   builtin: all of them, at once.
 *   kafka:   a consumer group "GROUP.sources" on topic "GROUP.sources", whose partition i
 *            stands for source task i (task names sorted): the group gives each to exactly
 *            one live worker, and to another when that worker dies.
 *
 * Result codes are log.h's (SPOOL_OK, LOG_EIO, LOG_ENOSPC, ...) plus LOG_EFENCED.
 *
 * Threads: a backend is shared by every task of a worker (and by many workers in the
 * daemon); backend_* functions on it are thread-safe. A producer, a subscription and a
 * coordinator each belong to one thread at a time; their callbacks run on that thread,
 * inside the call that says so.
 */
#ifndef SPOOL_BACKEND_H
#define SPOOL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "log/log.h"
#include "spool/plugin.h"

/* A newer instance of this producer's id took over (kafka: fenced). Not a storage
 * failure: the task stops quietly, its work now belongs to another worker. */
enum { LOG_EFENCED = -26 };

typedef enum backend_kind {
    BACKEND_BUILTIN = 0,
    BACKEND_KAFKA = 1
} backend_kind;

/* Parses "builtin" and "kafka"; -1 when unknown. */
int backend_kind_parse(const char *s);
const char *backend_kind_name(backend_kind k);

typedef struct backend_config {
    backend_kind kind;
    /* builtin: the log's directory. kafka: local state only (sink checkpoints). */
    const char *data_dir;
    /* builtin only (NULL: defaults). */
    const log_open_opts *log_opts;
    /* kafka only: */
    const char *group;           /* default "spool"; letters, digits, '.', '_', '-' */
    const char *const *properties; /* "name", "value", ..., NULL: librdkafka properties */
    int replication_factor;      /* topics spool creates; 0: 3, -1: the broker's default */
    const char *client_id;       /* this worker's name in the cluster; NULL: host-pid */
    int tool;                    /* kafka: a tool (spool topics/consume/produce), not a
                                  * worker: GROUP.offsets and GROUP.sources are neither
                                  * created nor required */
} backend_config;

typedef struct backend backend;

/* Opens the backend. builtin: log_open_ex() on data_dir. kafka: checks that the cluster
 * answers (bootstrap within 30 s) and creates the offsets topic when absent. On failure
 * returns a negative code with a one-line reason in err that names what to fix
 * (the directory, or the bootstrap servers and what the cluster said). */
int backend_open(const backend_config *cfg, backend **out, char *err, size_t errlen);

/* Wraps a log the caller opened and keeps (the daemon shares one log among workers):
 * backend_close() then leaves the log open. */
int backend_wrap_log(log_store *log, backend **out);

void backend_close(backend *b);
backend_kind backend_kind_of(const backend *b);

/* The built-in log under b, for what only it has (verify, segments, retention,
 * durability, statistics); NULL on kafka. */
log_store *backend_log(backend *b);

/* The one-line reason of the last failure on b (naming file/errno or broker/error),
 * copied into buf; "" when none. */
void backend_last_error(backend *b, char *buf, size_t len);

/* ---- Topics --------------------------------------------------------------------- */

/* Creates a topic, or succeeds when it exists with cfg->partitions. builtin: as
 * log_topic_create_ex(). kafka: CreateTopics with the replication factor and
 * retention.ms / retention.bytes / segment.bytes / segment.ms from cfg; an existing
 * topic with another partition count is SPOOL_EINVAL with a reason. */
int backend_topic_create(backend *b, const char *topic, const log_topic_config *cfg,
                         char *err, size_t errlen);
int backend_topic_delete(backend *b, const char *topic, char *err, size_t errlen);

/* The partition count, -1 when the topic does not exist. */
int32_t backend_topic_partitions(backend *b, const char *topic);

/* Topic names, sorted (kafka: without spool's internal GROUP.* topics and Kafka's
 * __* topics). Free with log_names_free(). */
int backend_topic_names(backend *b, char ***names, size_t *count);

/* A topic's settings as far as the backend knows them. */
int backend_topic_config_get(backend *b, const char *topic, log_topic_config *cfg);

/* The committed end offset (kafka: the last stable offset) and the first offset still
 * kept; -1 when there is no such partition. kafka: asks the cluster (blocks up to 10 s). */
int64_t backend_end_offset(backend *b, const char *topic, int32_t partition);
int64_t backend_start_offset(backend *b, const char *topic, int32_t partition);

/* ---- Producers ------------------------------------------------------------------ */

typedef struct backend_producer backend_producer;

/* Opens the producer for id (a source task's name, or "SINKTASK.dlq" for a sink task's
 * dead letters). kafka: init_transactions(), which fences an older producer with the
 * same id and aborts its open transaction. */
int backend_producer_open(backend *b, const char *id, backend_producer **out,
                          char *err, size_t errlen);
void backend_producer_close(backend_producer *p);

/* The committed position of this producer's id: malloc'd copy (caller frees), NULL and
 * 0 when it never committed one. kafka: read from the offsets topic up to its end
 * (read_committed) after fencing, so no older instance can still move it. */
int backend_producer_position(backend_producer *p, void **pos, size_t *len);

/* Adds a copy of rec for topic/partition (the topic must exist). kafka: begins the
 * transaction on the first add and hands the record to librdkafka. */
int backend_producer_add(backend_producer *p, const char *topic, int32_t partition,
                         const log_record *rec);

/* Sets the position to commit with this transaction (copied). */
int backend_producer_set_position(backend_producer *p, const void *pos, size_t len);

/* Records added since the last commit. */
size_t backend_producer_count(const backend_producer *p);

/* Commits what was added and the position, atomically and durably; returns only then
 * (SPOOL_OK) or on failure. The same contract as log_commit(): LOG_ENOSPC leaves the
 * producer as it was, to commit again later; LOG_EIO is fatal. kafka: retriable errors
 * are retried inside; an abortable error aborts the transaction and returns
 * SPOOL_RETRY with the producer empty (the caller reads again from its committed
 * position); LOG_EFENCED when a newer producer took the id over. */
int backend_producer_commit(backend_producer *p);

/* The same commit, in the background, so that the caller can gather the next batch
 * while this one becomes durable. start hands what was added and the position over
 * and returns at once, leaving the producer empty for the next adds; wait blocks until
 * that commit ended and returns its result, with backend_producer_commit()'s codes.
 * Nothing of it is durable, and its position must not be acknowledged, before wait
 * returned SPOOL_OK.
 *
 * At most one commit is in flight per producer: start with one in flight is
 * SPOOL_EINVAL (wait first). Commits of one producer complete in order, so a later
 * position never becomes durable before an earlier one. After LOG_ENOSPC from wait,
 * nothing of that commit is durable and its records and position are put back in
 * front of what was added since: the producer holds everything not yet committed, in
 * order, to commit again later. LOG_EIO is fatal as ever. backend_producer_commit(),
 * _abort() and _close() wait for a commit in flight first (commit returns its failure
 * if it failed; abort then drops everything not committed). wait with nothing in
 * flight returns SPOOL_OK. builtin: a committer thread per producer (started at the
 * first commit_start) runs log_commit() on the handed-over txn while the caller fills
 * a second one. kafka: no background commit yet: start commits synchronously and wait
 * returns that result. */
int backend_producer_commit_start(backend_producer *p);
int backend_producer_commit_wait(backend_producer *p);

/* 1 while a commit started with backend_producer_commit_start() was not waited for. */
int backend_producer_commit_inflight(const backend_producer *p);

/* Drops what was added since the last commit (kafka: abort_transaction). */
void backend_producer_abort(backend_producer *p);

/* The one-line reason of the last failed call on p. */
const char *backend_producer_error(const backend_producer *p);

/* ---- Subscriptions -------------------------------------------------------------- */

typedef struct backend_part {
    const char *topic;           /* owned by the subscription, valid while assigned */
    int32_t partition;
    int64_t offset;              /* see assigned() */
    int64_t committed;           /* given to assigned(): the group's committed offset
                                  * (kafka), -1 when none is known (and on builtin) */
} backend_part;

typedef struct backend_sub_opts {
    const char *name;            /* the sink connector: kafka group "GROUP.NAME" */
    const char *const *topics;
    size_t ntopics;
    int task, tasks;             /* builtin: partition p goes to task p % tasks */
    /* The partitions now assigned (all of them, not a delta). The callee sets each
     * parts[i].offset to where reading starts: an offset, or -1 for the default (kafka:
     * the group's committed offset, else the earliest; builtin: the start offset).
     * Returns 0, or -1 to fail the call that ran it (backend_sub_next returns SPOOL_ERR). */
    int (*assigned)(void *ctx, backend_part *parts, size_t n);
    /* Every partition is taken away. The callee forgets what it read and did not
     * commit: the next owner reads it again from the committed offsets. */
    void (*revoked)(void *ctx);
    void *ctx;
    /* For tools (spool consume), 0 for tasks. standalone: no group and no task split;
     * every partition of the topics is assigned at the first backend_sub_next()
     * (kafka: a plain assign(), nothing is ever committed; name is only a client id).
     * only_partition (with standalone): partition `partition` of each topic alone. */
    int standalone;
    int only_partition;
    int32_t partition;
} backend_sub_opts;

typedef struct backend_sub backend_sub;

/* Opens the subscription; no partition is assigned before the first backend_sub_next().
 * The topics must exist. */
int backend_sub_open(backend *b, const backend_sub_opts *o, backend_sub **out,
                     char *err, size_t errlen);

/* Closes it (kafka: leaves the group, so the partitions move at once). */
void backend_sub_close(backend_sub *s);

/* The next committed record of an assigned partition: 1 with *rec (valid until the
 * next call on s), *topic and *partition; 0 when none came within timeout_ms or
 * backend_sub_wakeup() was called; a negative code on failure (LOG_ECORRUPT, LOG_EIO:
 * fatal; reason in backend_sub_error()). Runs assigned()/revoked() first when the
 * assignment changed. Records of one partition come in offset order; partitions are
 * served fairly. */
int backend_sub_next(backend_sub *s, log_record *rec, const char **topic,
                     int32_t *partition, int timeout_ms);

/* Everything before parts[i].offset was delivered: kafka commits these consumer
 * offsets synchronously; builtin does nothing (the worker's checkpoint file is the
 * record). Call it after a successful flush, for sinks that keep no offsets of their
 * own. LOG_EFENCED when the partitions were revoked meanwhile. */
int backend_sub_commit(backend_sub *s, const backend_part *parts, size_t n);

/* 1 when every assigned partition was read to its committed end (0 while nothing is
 * assigned yet on kafka). */
int backend_sub_caught_up(backend_sub *s);

/* Makes a backend_sub_next() blocked on another thread return 0 soon. Thread-safe. */
void backend_sub_wakeup(backend_sub *s);

const char *backend_sub_error(const backend_sub *s);

/* ---- Coordination --------------------------------------------------------------- */

typedef struct backend_coord backend_coord;

/* Decides which of the n source tasks (names sorted by the caller, the same on every
 * worker) this worker runs: own(ctx, i, 1) when it starts owning task i, own(ctx, i, 0)
 * when it must stop; own() returns only once the task is stopped. builtin: owns every
 * task in the first backend_coord_poll(). */
int backend_coord_open(backend *b, const char *const *tasks, size_t n,
                       void (*own)(void *ctx, size_t i, int owned), void *ctx,
                       backend_coord **out, char *err, size_t errlen);

/* Runs the group protocol for up to timeout_ms, calling own() as the assignment
 * changes. Call it often (kafka: at least every max.poll.interval.ms). */
int backend_coord_poll(backend_coord *c, int timeout_ms);

/* Stops owning everything (own(ctx, i, 0) for each owned task) and leaves the group. */
void backend_coord_close(backend_coord *c);

#endif /* SPOOL_BACKEND_H */

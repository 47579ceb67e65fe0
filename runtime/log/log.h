/* log.h - the built-in partitioned log: topics, partitions, group commit, committed reads.
 *
 * This is the only header of runtime/log/ that other subsystems include.
 *
 * On disk (see docs/log-format.md):
 *
 *     DATA_DIR/LOCK                                          flock: one worker per directory
 *     DATA_DIR/COMMIT                                        the commit point (atomic replace)
 *     DATA_DIR/topics/<topic>/TOPIC                          partitions and settings
 *     DATA_DIR/topics/<topic>/<partition>/<base, 20 digits>.log    CRC32C-checked batches
 *     DATA_DIR/topics/<topic>/<partition>/<base, 20 digits>.index  sparse offset index
 *
 * A partition is a list of segments named by their base offset; the last one is
 * active. A segment rolls when it would pass segment_bytes or is older than
 * segment_ms; the sealed one is fsynced and gets its .index file. Retention deletes
 * whole sealed segments by age or total size, persisting the new start offset in
 * COMMIT before it unlinks anything.
 *
 * Writers: every source task fills a log_txn with records for any partitions and its new
 * source position, then calls log_commit(). Concurrent committers are grouped: one of
 * them appends every waiting transaction's batches, makes the touched segments durable
 * with one fdatasync each, and then replaces the COMMIT record holding every
 * partition's committed end offset and every source's position. COMMIT is the commit
 * point: a record and its source position are durable together or not at all.
 *
 * Readers see a partition only up to its committed end offset and verify every batch
 * they return records from. On open, recovery verifies each partition's active
 * segment, cuts it back to its committed end (removing a torn or uncommitted tail) and
 * refuses, with LOG_ECORRUPT, to serve past a damaged batch below the committed end.
 * Sealed segments are trusted by their .index file (size and offsets must agree) and
 * verified lazily, by readers and by log_verify(); a missing or damaged index is
 * rebuilt from a full scan.
 *
 * Threads: every function here is thread-safe unless it says otherwise; a log_txn and
 * a log_reader belong to one thread at a time.
 */
#ifndef SPOOL_LOG_H
#define SPOOL_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Result codes beyond spool_rc's (SPOOL_OK, SPOOL_EINVAL, SPOOL_ENOMEM are reused). */
enum {
    LOG_EIO = -20,      /* a write, fsync or read failed: fatal, the worker stops (exit 3) */
    LOG_ECORRUPT = -21, /* a damaged batch below the committed end (exit 4) */
    LOG_ELOCKED = -22,  /* another process holds DATA_DIR/LOCK */
    LOG_ENOSPC = -23,   /* the disk is full: not fatal, pause and retry later */
    LOG_ENOTOPIC = -24, /* no such topic or partition */
    LOG_ECLOSED = -25   /* the store was marked failed or is closing */
};

/* The largest batch accepted on write and on read: a length field above it is damage. */
#define LOG_MAX_BATCH_BYTES (64u * 1024u * 1024u)

/* The most headers one record may carry, and the largest source position: both bound
 * what a damaged file can make a reader allocate. log_txn_add()/log_txn_set_position()
 * return SPOOL_EINVAL above them. */
#define LOG_MAX_HEADERS 4096u
#define LOG_MAX_POSITION_BYTES (1024u * 1024u)

/* Topic names: letters, digits, '.', '_', '-', at most 249 characters, not "." or "..".
 * Returns 1 when valid. */
int log_topic_name_valid(const char *name);

/* Kafka's default partitioner: (murmur2(key) & 0x7fffffff) % partitions. */
uint32_t log_murmur2(const void *key, size_t len);
int32_t log_partition_for_key(const void *key, size_t len, int32_t partitions);

typedef struct log_store log_store;

/* How a topic's appends are made durable before log_commit() returns. */
typedef enum log_durability {
    LOG_DURABILITY_DEFAULT = 0, /* the store's (log_open_opts.durability), else BATCH */
    LOG_DURABILITY_BATCH,       /* fdatasync + durable COMMIT before acknowledging */
    LOG_DURABILITY_INTERVAL,    /* fdatasync at most every flush_interval_ms */
    LOG_DURABILITY_NONE         /* left to the kernel; flushed on close only */
} log_durability;

/* Parses "batch", "interval", "none" (and "default"); -1 when unknown. */
int log_durability_parse(const char *s);
const char *log_durability_name(log_durability d);

/* A topic's settings. 0 in a field means "the default" (see log_topic_config_init). */
typedef struct log_topic_config {
    int32_t partitions;
    int64_t segment_bytes;     /* roll past this size; default 128 MiB, 1 KiB..1 GiB */
    int64_t segment_ms;        /* roll segments older than this; default 7 days, -1 never */
    int64_t retention_ms;      /* delete sealed segments older than this; -1 (default) keep */
    int64_t retention_bytes;   /* keep each partition under this; -1 (default) no limit */
    log_durability durability;
    int64_t flush_interval_ms; /* INTERVAL mode; default 1000 */
    int keep_unconsumed;       /* never delete what a sink has not consumed */
} log_topic_config;

#define LOG_DEFAULT_SEGMENT_BYTES (128ll * 1024 * 1024)
#define LOG_DEFAULT_SEGMENT_MS (7ll * 24 * 3600 * 1000)
#define LOG_DEFAULT_FLUSH_INTERVAL_MS 1000

/* Fills c with the defaults (partitions 1, no retention, DEFAULT durability). */
void log_topic_config_init(log_topic_config *c);

/* The lowest next offset some sink still needs of topic/partition, or -1 when no sink
 * reads it. Used by keep_unconsumed; the default reads the DATA_DIR/sinks/ checkpoints. */
typedef int64_t (*log_consumed_fn)(void *ctx, const char *topic, int32_t partition);

typedef struct log_open_opts {
    int read_only;             /* no lock, no writes, no truncation: for tools beside a
                                * running worker; recovery only checks */
    log_durability durability; /* the default of topics that say DEFAULT (BATCH if 0) */
    int maintain_ms;           /* > 0: a thread runs log_maintain() this often */
    log_consumed_fn consumed;  /* NULL: read the sinks' checkpoint files */
    void *consumed_ctx;
    void (*warn)(void *ctx, const char *msg); /* NULL: stderr */
    void *warn_ctx;
} log_open_opts;

/* Opens (creating when absent) the log in dir, takes its lock and recovers it.
 * On failure returns a negative code and writes a one-line reason naming the file
 * and byte position into err. Same as log_open_ex() with all options 0. */
int log_open(const char *dir, log_store **out, char *err, size_t errlen);

/* log_open() with options (NULL: defaults). With read_only, a missing directory is
 * LOG_ENOTOPIC, nothing is locked, created, truncated or rewritten, and a torn tail
 * or a damaged index is only worked around in memory. */
int log_open_ex(const char *dir, const log_open_opts *opts, log_store **out, char *err,
                size_t errlen);

/* Closes the store, releasing the lock. Every reader and txn must be gone. */
void log_close(log_store *s);

/* Creates a topic with the given number of partitions, durably; succeeds without
 * change when it exists with that count; SPOOL_EINVAL with a reason when it exists with
 * another count or the name is invalid. */
int log_topic_create(log_store *s, const char *topic, int32_t partitions,
                     char *err, size_t errlen);

/* Creates a topic with settings, durably. When it exists with the same partition
 * count, its other settings are replaced (durably) when they differ. */
int log_topic_create_ex(log_store *s, const char *topic, const log_topic_config *cfg,
                        char *err, size_t errlen);

/* Deletes a topic and its data. Must not be called while a reader or an uncommitted
 * txn refers to the topic. COMMIT forgets the topic first, then its directory is
 * moved to DATA_DIR/trash/ and removed; an interrupted delete leaves either an empty
 * topic or garbage in trash/ that the next open removes. LOG_ENOTOPIC when absent. */
int log_topic_delete(log_store *s, const char *topic, char *err, size_t errlen);

/* The partition count of a topic, or -1 when it does not exist. */
int32_t log_topic_partitions(log_store *s, const char *topic);

/* The topic names (malloc'd array of malloc'd strings, sorted; free with
 * log_names_free), and a topic's settings. */
int log_topic_names(log_store *s, char ***names, size_t *count);
void log_names_free(char **names, size_t count);
int log_topic_config_get(log_store *s, const char *topic, log_topic_config *cfg);

typedef struct log_segment_info {
    int64_t base;
    int64_t end;               /* offset after its last committed record */
    uint64_t bytes;
    int64_t max_timestamp;     /* INT64_MIN when empty */
    int sealed;
} log_segment_info;

/* A partition's committed segments (malloc'd array; caller frees). */
int log_partition_segments(log_store *s, const char *topic, int32_t partition,
                           log_segment_info **segs, size_t *count);

/* Runs what is due: a durable flush of INTERVAL topics, retention. Called by the
 * maintenance thread when opts.maintain_ms > 0, else by the worker now and then. */
int log_maintain(log_store *s);

/* Makes every committed record durable now (INTERVAL and NONE topics). */
int log_flush(log_store *s);

/* Runs retention now as of wall-clock now_ms (tests pass their own clock). */
int log_retention_run(log_store *s, int64_t now_ms);

/* One record as the log sees it. Pointers are borrowed (see each function). */
typedef struct log_header {
    const char *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} log_header;

typedef struct log_record {
    const void *key;          /* NULL: no key */
    size_t key_len;
    const void *value;        /* NULL: null value */
    size_t value_len;
    const log_header *headers;
    size_t header_count;
    int64_t timestamp_ms;
    int64_t offset;           /* filled in by readers */
} log_record;

/* ---- Writing ------------------------------------------------------------------- */

typedef struct log_txn log_txn;

/* A new, empty transaction. NULL when out of memory. */
log_txn *log_txn_new(void);
void log_txn_free(log_txn *txn);

/* Adds a copy of rec for topic/partition. The topic must exist. */
int log_txn_add(log_txn *txn, const char *topic, int32_t partition, const log_record *rec);

/* Sets the position to store for source with this transaction (copied). */
int log_txn_set_position(log_txn *txn, const char *source, const void *pos, size_t len);

/* Moves everything src holds to the end of dst: src's records follow dst's (per
 * partition, in the order they were added), src's positions replace dst's of the same
 * source. src is empty afterwards (its spare buffers stay with it). SPOOL_ENOMEM
 * changes neither. Used to put a commit that failed with LOG_ENOSPC back in front of
 * what was added since, so that both commit again together and in order. */
int log_txn_move(log_txn *dst, log_txn *src);

/* Number of records added since the last commit. */
size_t log_txn_count(const log_txn *txn);

/* Appends the transaction's records and stores its position, durably, grouped with
 * concurrent committers; returns only when both are durable (SPOOL_OK) or have failed.
 * The txn is empty again afterwards, except after LOG_ENOSPC, which leaves nothing
 * committed, the store usable, and the txn as it was, to be committed again once
 * space returns. LOG_EIO marks the store failed: every later commit fails too. */
int log_commit(log_store *s, log_txn *txn);

/* The committed position of a source: a malloc'd copy in *pos (caller frees), *len 0
 * and *pos NULL when it never committed. */
int log_source_position(log_store *s, const char *source, void **pos, size_t *len);

/* ---- Reading ------------------------------------------------------------------- */

/* The committed end offset (next offset to be written) of a partition, -1 if none. */
int64_t log_end_offset(log_store *s, const char *topic, int32_t partition);

/* The first offset still in the log (after retention), -1 if no such partition. */
int64_t log_start_offset(log_store *s, const char *topic, int32_t partition);

typedef struct log_reader log_reader;

/* A reader of one partition positioned at offset (clamped to the start offset). */
int log_reader_open(log_store *s, const char *topic, int32_t partition, int64_t offset,
                    log_reader **out);
void log_reader_close(log_reader *r);

/* The next committed record: 1 and *rec filled (valid until the next call on r),
 * 0 when none is committed past the reader's position, or a negative code. */
int log_reader_next(log_reader *r, log_record *rec);

/* The offset the next log_reader_next() returns. */
int64_t log_reader_offset(const log_reader *r);

/* A counter raised by every successful commit. */
uint64_t log_commit_seq(log_store *s);

/* Waits until log_commit_seq() differs from seen, the store is woken with
 * log_wakeup(), or timeout_ms passes. Returns the current sequence. */
uint64_t log_wait(log_store *s, uint64_t seen, int timeout_ms);

/* Wakes every log_wait() caller (used on shutdown). */
void log_wakeup(log_store *s);

/* ---- Diagnostics --------------------------------------------------------------- */

/* What log_verify() found, one call per finding: file and byte position, the offsets
 * concerned, and a sentence. kind: 0 information, 1 damage. */
typedef struct log_finding {
    int kind;
    const char *topic;         /* NULL for store-wide files */
    int32_t partition;
    const char *file;
    uint64_t position;
    int64_t offset;            /* first offset concerned, -1 when none */
    int64_t end_offset;        /* committed end of the partition, -1 when none */
    const char *what;
} log_finding;
typedef void (*log_finding_fn)(void *ctx, const log_finding *f);

/* Checks every segment (CRC of every batch, offsets), index and commit of the data
 * directory dir, without locking or changing anything, and reports each finding.
 * With repair (which takes the lock, so only on a stopped directory), each damaged
 * partition is cut back to its last good batch before the damage: the damaged
 * segment and everything after it are first copied to DATA_DIR/quarantine/, then the
 * new end is persisted in COMMIT. Returns SPOOL_OK when clean (or repaired),
 * LOG_ECORRUPT when damage was found, LOG_EIO, LOG_ELOCKED. */
int log_verify(const char *dir, int repair, log_finding_fn fn, void *ctx, char *err,
               size_t errlen);

/* The one-line reason of the last failed log_commit() (LOG_EIO, LOG_ENOSPC,
 * LOG_ENOTOPIC), naming file and errno, copied into buf; "" when none failed. */
void log_last_error(log_store *s, char *buf, size_t len);

/* The one-line reason of the last negative log_reader_next() result on r, naming
 * file, byte position and offset; "" when none. Valid until the next call on r. */
const char *log_reader_error(const log_reader *r);

/* ---- Statistics ---------------------------------------------------------------- */

/* Histograms for metrics, Prometheus style: bucket i counts observations <= bound i
 * (not cumulative), the last bucket those above every bound. Latencies in seconds:
 * log_commit() as its caller waits for it (queueing for the group included), and each
 * fdatasync of a segment. Group sizes: transactions and records per commit group. */
#define LOG_STATS_LAT_BUCKETS 14
#define LOG_STATS_SIZE_BUCKETS 10
extern const double log_stats_lat_bounds[LOG_STATS_LAT_BUCKETS];
extern const double log_stats_size_bounds[LOG_STATS_SIZE_BUCKETS];

typedef struct log_histogram {
    uint64_t buckets[LOG_STATS_LAT_BUCKETS + 1]; /* sized for the larger of the two */
    double sum;
    uint64_t count;
} log_histogram;

typedef struct log_stats {
    log_histogram commit_seconds, fsync_seconds;   /* LOG_STATS_LAT_BUCKETS */
    log_histogram group_txns, group_records;       /* LOG_STATS_SIZE_BUCKETS */
} log_stats;

/* A snapshot of the counters since the store was opened. */
void log_stats_get(log_store *s, log_stats *out);

/* Bytes of one partition's committed segments, -1 when absent. */
int64_t log_partition_disk_bytes(log_store *s, const char *topic, int32_t partition);

#endif /* SPOOL_LOG_H */

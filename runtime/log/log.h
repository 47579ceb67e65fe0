/* log.h - the built-in partitioned log: topics, partitions, group commit, committed reads.
 *
 * This is the only header of runtime/log/ that other subsystems include.
 *
 * On disk (see docs/log-format.md):
 *
 *     DATA_DIR/LOCK                                          flock: one worker per directory
 *     DATA_DIR/COMMIT                                        the commit point (atomic replace)
 *     DATA_DIR/topics/<topic>/TOPIC                          partition count (atomic replace)
 *     DATA_DIR/topics/<topic>/<partition>/<base, 20 digits>.log   CRC32C-checked batches
 *
 * Writers: every source task fills a log_txn with records for any partitions and its new
 * source position, then calls log_commit(). Concurrent committers are grouped: one of
 * them appends every waiting transaction's batches, makes the touched segments durable
 * with one fdatasync each, and then replaces the COMMIT record holding every
 * partition's committed end offset and every source's position. COMMIT is the commit
 * point: a record and its source position are durable together or not at all.
 *
 * Readers see a partition only up to its committed end offset. On open, recovery cuts
 * every partition back to its committed end (removing a torn or uncommitted tail) and
 * refuses, with LOG_ECORRUPT, to serve past a damaged batch below the committed end.
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

/* Opens (creating when absent) the log in dir, takes its lock and recovers it.
 * On failure returns a negative code and writes a one-line reason naming the file
 * and byte position into err. */
int log_open(const char *dir, log_store **out, char *err, size_t errlen);

/* Closes the store, releasing the lock. Every reader and txn must be gone. */
void log_close(log_store *s);

/* Creates a topic with the given number of partitions, durably; succeeds without
 * change when it exists with that count; SPOOL_EINVAL with a reason when it exists with
 * another count or the name is invalid. */
int log_topic_create(log_store *s, const char *topic, int32_t partitions,
                     char *err, size_t errlen);

/* The partition count of a topic, or -1 when it does not exist. */
int32_t log_topic_partitions(log_store *s, const char *topic);

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

/* The one-line reason of the last failed log_commit() (LOG_EIO, LOG_ENOSPC,
 * LOG_ENOTOPIC), naming file and errno, copied into buf; "" when none failed. */
void log_last_error(log_store *s, char *buf, size_t len);

/* The one-line reason of the last negative log_reader_next() result on r, naming
 * file, byte position and offset; "" when none. Valid until the next call on r. */
const char *log_reader_error(const log_reader *r);

#endif /* SPOOL_LOG_H */

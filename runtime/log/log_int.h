/* log_int.h - private to runtime/log/: the store's structures, the batch codec and the
 * COMMIT image. Nothing outside runtime/log/ includes this, except tests and fuzz
 * targets, which call the decoders directly on arbitrary bytes.
 *
 * Locking: s->mu guards the topic table, every partition's committed end, the source
 * positions, the commit queue and the failure state. One committer at a time is the
 * leader (s->leader); only the leader writes segment files and COMMIT, and it does
 * that I/O without holding s->mu, so readers and new committers are never blocked
 * behind an fsync. Readers see bytes below a partition's committed end only, and the
 * leader only writes (or cuts back) bytes above it, so the two never touch the same
 * bytes.
 */
#ifndef SPOOL_LOG_INT_H
#define SPOOL_LOG_INT_H

#include <pthread.h>
#include <stdint.h>

#include "log/log.h"

/* On-disk format version 1: see docs/log-format.md. */
#define LOG_FORMAT_VERSION 1u
#define LOG_BATCH_MAGIC 0x424c5053u  /* "SPLB" */
#define LOG_COMMIT_MAGIC 0x4d435053u /* "SPCM" */
#define LOG_TOPIC_MAGIC 0x50545053u  /* "SPTP" */
#define LOG_BATCH_HDR 48u
#define LOG_MAX_COMMIT_BYTES (256u * 1024u * 1024u)

/* ---- Batch codec (log_batch.c) ------------------------------------------------- */

typedef struct log_batch_hdr {
    uint32_t crc;
    uint32_t length;          /* whole batch, header included */
    uint16_t version;
    uint16_t flags;
    int64_t base_offset;
    int64_t first_ts;
    int64_t max_ts;
    uint32_t count;
    uint32_t max_headers;     /* set by log_batch_verify(): most headers on one record */
} log_batch_hdr;

/* Reads the fixed header at buf (len bytes available). Returns 1 when the header is
 * complete and its magic and length are sane (LOG_BATCH_HDR <= length <=
 * LOG_MAX_BATCH_BYTES; length may still exceed len), 0 when fewer than LOG_BATCH_HDR
 * bytes are available, LOG_ECORRUPT with a reason otherwise. Checks no CRC. */
int log_batch_peek(const uint8_t *buf, size_t len, log_batch_hdr *h, char *why,
                   size_t whylen);

/* Verifies one whole batch at buf: header, length == h->length <= len, CRC32C, version,
 * flags, and a walk over every record that must consume exactly the batch. Never reads
 * outside [buf, buf + len). SPOOL_OK or LOG_ECORRUPT with a reason. */
int log_batch_verify(const uint8_t *buf, size_t len, log_batch_hdr *h, char *why,
                     size_t whylen);

/* Walks the records of a batch that log_batch_verify() accepted. */
typedef struct log_batch_cursor {
    const uint8_t *p;
    const uint8_t *end;
    uint32_t left;
    int64_t offset;
    int64_t first_ts;
} log_batch_cursor;

void log_batch_cursor_init(log_batch_cursor *c, const uint8_t *buf, const log_batch_hdr *h);

/* 1 with rec filled (pointers into the batch; headers in hdrs, which must hold
 * hdr_cap >= the batch's max_headers entries), 0 after the last record, LOG_ECORRUPT
 * on a malformed record (only possible for a batch that was not verified). */
int log_batch_cursor_next(log_batch_cursor *c, log_record *rec, log_header *hdrs,
                          size_t hdr_cap);

/* Verifies a batch and calls fn for every record in order (stops at fn's first
 * non-zero return, which it returns). The entry point for the batch_decode fuzz target. */
typedef int (*log_batch_record_fn)(void *ctx, const log_record *rec);
int log_batch_decode(const uint8_t *buf, size_t len, log_batch_record_fn fn, void *ctx,
                     char *why, size_t whylen);

/* The encoded size of rec, its length prefix included; 0 when it cannot be encoded
 * (a header with a NULL key, more than LOG_MAX_HEADERS headers). */
size_t log_record_encoded_len(const log_record *rec, int64_t first_ts);

/* Encodes rec at p (log_record_encoded_len() bytes); returns bytes written. */
size_t log_record_encode(uint8_t *p, const log_record *rec, int64_t first_ts);

/* Fills the header of a batch whose records are already at buf + LOG_BATCH_HDR, and
 * its CRC. */
void log_batch_seal(uint8_t *buf, size_t len, int64_t base_offset, uint32_t count,
                    int64_t first_ts, int64_t max_ts);

/* ---- Store --------------------------------------------------------------------- */

typedef struct log_topic log_topic;

typedef struct log_partition {
    log_topic *topic;
    int32_t id;
    int fd;                   /* the active segment, O_RDWR */
    char *dir;
    char *seg_path;
    int64_t seg_base;         /* base offset of the (only) segment */
    int64_t end_offset;       /* committed end; under s->mu */
    uint64_t end_pos;         /* committed bytes of the segment; under s->mu */
    int recovered;            /* log_open() only: COMMIT named and recovery checked it */
    uint64_t plan_gen;        /* leader only: the group that last planned this */
    int64_t plan_end;
    uint64_t plan_pos;
} log_partition;

struct log_topic {
    char *name;
    char *dir;
    int32_t count;
    log_partition *parts;
};

typedef struct log_source_pos {
    char *name;
    void *pos;
    size_t len;
} log_source_pos;

typedef struct log_commit_req {
    log_txn *txn;
    int rc;
    int done;
    struct log_commit_req *next;
} log_commit_req;

/* Fault injection for tests: called before each write-side I/O step with the path it
 * touches; a non-zero return is used as that step's errno instead of doing it. */
typedef enum log_io_op {
    LOG_IO_APPEND,            /* pwrite of a batch into a segment */
    LOG_IO_SYNC,              /* fdatasync of a segment */
    LOG_IO_COMMIT,            /* atomic replace of COMMIT */
    LOG_IO_TRUNCATE           /* cutting back an uncommitted append */
} log_io_op;
typedef int (*log_fault_fn)(void *ctx, log_io_op op, const char *path);

struct log_store {
    char *dir;
    char *commit_path;
    char *topics_dir;
    int lock_fd;
    pthread_mutex_t mu;
    pthread_cond_t commit_cv; /* followers wait here for their group to finish */
    pthread_cond_t data_cv;   /* log_wait() waits here for a commit or a wakeup */
    log_topic **topics;
    size_t ntopics;
    size_t captopics;
    log_source_pos *sources;
    size_t nsources;
    size_t capsources;
    log_commit_req *queue_head;
    log_commit_req *queue_tail;
    int leader;
    int failed;               /* an I/O failure: every later commit fails */
    char last_error[512];
    uint64_t seq;
    uint64_t wake_gen;
    uint64_t group_gen;
    log_fault_fn fault;
    void *fault_ctx;
};

/* Installs a fault hook (tests only). Must be called before any concurrent use. */
void log_set_fault(log_store *s, log_fault_fn fn, void *ctx);

/* Finds a partition; NULL when absent. Caller holds s->mu. */
log_partition *log_find_partition_locked(log_store *s, const char *topic, int32_t partition);

/* Runs one commit group; called by the leader with s->mu held (log_commit.c). */
void log_group_run(log_store *s, log_commit_req *group);

/* ---- COMMIT image (log_commit.c) ----------------------------------------------- */

typedef struct log_commit_entry {
    char *topic;
    int32_t partition;
    int64_t end_offset;
    int64_t seg_base;
    uint64_t seg_len;
} log_commit_entry;

typedef struct log_commit_image {
    uint64_t seq;
    log_commit_entry *entries;
    size_t count;
    log_source_pos *sources;
    size_t nsources;
} log_commit_image;

/* Decodes the bytes of a COMMIT file. SPOOL_OK, SPOOL_ENOMEM, or LOG_ECORRUPT with a
 * reason (no file name). Never reads outside [buf, buf + len). */
int log_commit_image_decode(const uint8_t *buf, size_t len, log_commit_image *img,
                            char *why, size_t whylen);
void log_commit_image_free(log_commit_image *img);

/* Encodes a COMMIT file for the store's current committed state (caller holds s->mu),
 * with each partition's plan_end/plan_pos when plan_gen == gen, and the given
 * positions. *out is malloc'd. SPOOL_OK or SPOOL_ENOMEM. */
int log_commit_image_encode(log_store *s, uint64_t gen, uint64_t seq,
                            const log_source_pos *sources, size_t nsources,
                            uint8_t **out, size_t *outlen);

#endif /* SPOOL_LOG_INT_H */

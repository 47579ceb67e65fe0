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
#include <stdatomic.h>
#include <stdint.h>

#include "log/log.h"
#include "util/clock.h"
#include "util/journal.h"
#include "util/metafile.h"

/* On-disk format version 1: see docs/log-format.md. */
#define LOG_FORMAT_VERSION 1u        /* batches and TOPIC v1 bodies */
#define LOG_COMMIT_VERSION 2u        /* COMMIT bodies: 1 and 2 are read, 2 written */
#define LOG_TOPIC_VERSION 2u         /* TOPIC bodies: 1 and 2 are read, 2 written */
#define LOG_BATCH_MAGIC 0x424c5053u  /* "SPLB" */
#define LOG_COMMIT_MAGIC 0x4d435053u /* "SPCM" */
#define LOG_TOPIC_MAGIC 0x50545053u  /* "SPTP" */
#define LOG_BATCH_HDR 48u
#define LOG_MAX_COMMIT_BYTES (256u * 1024u * 1024u)

/* The commit journal, DATA_DIR/COMMIT.journal (log_journal.c, docs/log-format.md). */
#define LOG_JOURNAL_FILE_MAGIC 0x464a5053u /* "SPJF": the file's 24-byte header */
#define LOG_JOURNAL_REC_MAGIC 0x524a5053u  /* "SPJR": one copy of a commit record */
#define LOG_JOURNAL_VERSION 1u
#define LOG_JOURNAL_HDR UTIL_JOURNAL_HDR     /* frame + u64 sequence of the first record */
#define LOG_JREC_HDR UTIL_JREC_HDR           /* frame + sequence, synced, kind, reserved */
#define LOG_JREC_SNAPSHOT UTIL_JREC_SNAPSHOT /* the whole committed state */
#define LOG_JREC_DELTA UTIL_JREC_DELTA       /* the partitions and sources that changed */
#define LOG_JOURNAL_MIN_BYTES (64u * 1024u)       /* a new file's zero-filled size */
#define LOG_JOURNAL_MAX_BYTES (4u * 1024u * 1024u) /* grown up to, then a new file */
#define LOG_MAX_JOURNAL_READ ((size_t)2 * LOG_MAX_COMMIT_BYTES + 2 * LOG_JOURNAL_MAX_BYTES)

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

/* ---- Segments and their sparse index (log_segment.c) --------------------------- */

#define LOG_INDEX_MAGIC 0x58495053u   /* "SPIX" */
#define LOG_INDEX_VERSION 1u
#define LOG_INDEX_HDR (UTIL_META_HDR + 44u)
#define LOG_INDEX_INTERVAL 4096u      /* bytes of batches between two index entries */
#define LOG_MAX_INDEX_BYTES (64u * 1024u * 1024u)

typedef struct log_index_entry {
    uint32_t rel;             /* batch base offset - segment base */
    uint32_t pos;             /* byte position of that batch in the segment */
} log_index_entry;

/* One segment file. Fields marked (mu) change under s->mu; the rest are fixed once
 * the segment is published in a partition's list. A segment is freed when its last
 * reference goes: the partition's list holds one, each reader positioned in it one. */
typedef struct log_segment {
    int64_t base;
    int64_t end;              /* (mu) offset after its last committed record */
    uint64_t size;            /* (mu) committed bytes */
    int64_t max_ts;           /* (mu) largest record timestamp, INT64_MIN when empty */
    int64_t created_ms;       /* wall-clock creation time, for rolling by age */
    int fd;
    char *path;               /* <base>.log */
    char *idx_path;           /* <base>.index */
    log_index_entry *idx;     /* (mu) sparse; entries past `size` are planned only */
    size_t nidx;
    size_t capidx;
    uint64_t idx_last;        /* position of the last entry */
    int refs;                 /* (mu) */
    int sealed;               /* (mu) no more appends; its .index file is written */
} log_segment;

/* The .index file image of a sealed segment (docs/log-format.md). */
typedef struct log_index_image {
    int64_t base;
    int64_t end;
    uint64_t size;
    int64_t max_ts;
    int64_t created_ms;
    log_index_entry *entries;
    size_t count;
} log_index_image;

/* Decodes an .index file's bytes; never reads outside them. SPOOL_OK, SPOOL_ENOMEM or
 * LOG_ECORRUPT with a reason. The entries are checked to increase strictly in both
 * offset and position and to lie inside [0, size) and [0, end - base). */
int log_index_decode(const uint8_t *buf, size_t len, log_index_image *img, char *why,
                     size_t whylen);
/* Encodes seg's index as a sealed segment ending at (end, size) with max_ts (entries
 * below size only); *out malloc'd. */
int log_index_encode(const log_segment *seg, int64_t end, uint64_t size, int64_t max_ts,
                     uint8_t **out, size_t *outlen);

/* A new segment object (not opened, refs 1). NULL when out of memory. */
log_segment *log_segment_new(const char *dir, int64_t base);
void log_segment_unref_locked(log_segment *seg);

/* Adds an index entry for a batch at pos with base offset `base` when due. */
int log_segment_index_add(log_segment *seg, int64_t base, uint64_t pos);

/* The byte position of the last indexed batch at or before offset (entries below the
 * committed size only), and that batch's base offset. Caller holds s->mu. */
void log_segment_lookup_locked(const log_segment *seg, int64_t offset, uint64_t *pos,
                               int64_t *at);

/* What a scan of a segment found. */
typedef struct log_scan {
    uint64_t good_pos;        /* bytes of complete, verified batches from 0 */
    int64_t good_end;         /* offset after the last of them */
    int64_t max_ts;
    int64_t first_max_ts;     /* the first batch's max timestamp, INT64_MIN if none */
    int rc;                   /* SPOOL_OK when the scan reached `limit` cleanly */
    char why[256];            /* what stopped it otherwise */
} log_scan;

/* Reads seg from byte 0 up to limit in large chunks, verifying every batch fully (CRC
 * and records) and that offsets run on from seg->base; when build_index, rebuilds
 * seg's in-memory index. Stops at the first bad or incomplete batch (sc->rc
 * LOG_ECORRUPT) or at an I/O error (LOG_EIO). Never reads past limit. */
void log_segment_scan(log_segment *seg, uint64_t limit, int build_index, log_scan *sc);

/* ---- Store --------------------------------------------------------------------- */

typedef struct log_topic log_topic;

typedef struct log_new_seg {
    log_segment *seg;         /* planned by the leader, published after COMMIT */
    log_segment *prev;        /* the segment it seals, and where that one ends */
    int64_t prev_end;
    uint64_t prev_size;
    int64_t prev_max_ts;
    struct log_new_seg *next;
} log_new_seg;

typedef struct log_partition {
    log_topic *topic;
    int32_t id;
    char *dir;
    log_segment **segs;       /* (mu) oldest first; the last is the active one */
    size_t nsegs;
    size_t capsegs;
    int64_t start_offset;     /* (mu) first offset still in the log */
    int64_t end_offset;       /* (mu) committed end */
    int64_t durable_end;      /* (mu) end as of the last fdatasync covering it */
    int dirty;                /* (mu) written since the last durable COMMIT */
    int recovered;            /* log_open() only: COMMIT named and recovery checked it */
    uint64_t plan_gen;        /* leader only: the group that last planned this */
    int64_t plan_end;
    uint64_t plan_pos;
    int64_t plan_start;
    int64_t plan_max_ts;
    log_segment *plan_seg;    /* the segment the next planned batch goes to */
    size_t plan_nidx;         /* active segment's index entries before the plan */
    log_new_seg *plan_new;    /* segments this group rolls to, in order */
    int plan_sync;            /* the group fdatasyncs this partition */
    int64_t last_sync_ms;     /* (mu) monotonic time of its last fdatasync */
} log_partition;

struct log_topic {
    char *name;
    char *dir;
    int32_t count;
    log_topic_config cfg;     /* as stored in TOPIC, defaults resolved */
    log_partition *parts;
};

typedef struct log_source_pos {
    char *name;
    void *pos;
    size_t len;
} log_source_pos;

/* Counters for metrics (log_stats.c): histograms of commit and fdatasync latency and
 * of group sizes, updated with relaxed atomics by whoever does the work. */
typedef struct log_stats_acc {
    _Atomic uint64_t commit[LOG_STATS_LAT_BUCKETS + 1], commit_ns, commits;
    _Atomic uint64_t fsync[LOG_STATS_LAT_BUCKETS + 1], fsync_ns, fsyncs;
    _Atomic uint64_t group_txns[LOG_STATS_SIZE_BUCKETS + 1], group_records[LOG_STATS_SIZE_BUCKETS + 1];
    _Atomic uint64_t groups, txns, records;
} log_stats_acc;

/* Monotonic nanoseconds; and the three updates (t0 from log_stats_now()). */
uint64_t log_stats_now(void);
void log_stats_commit(log_store *s, uint64_t t0);
void log_stats_fsync(log_store *s, uint64_t t0);
void log_stats_group(log_store *s, size_t txns, size_t records);

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
    LOG_IO_COMMIT,            /* a commit record: journal append, or a new journal file */
    LOG_IO_TRUNCATE,          /* cutting back an uncommitted append */
    LOG_IO_ROLL,              /* creating a new segment file (and its directory fsync) */
    LOG_IO_INDEX,             /* writing a sealed segment's .index file */
    LOG_IO_UNLINK,            /* deleting a segment (retention, topic delete) */
    LOG_IO_COMMIT_SYNC,       /* fdatasync of the commit journal after an append */
    LOG_IO_OPS
} log_io_op;
typedef int (*log_fault_fn)(void *ctx, log_io_op op, const char *path);

/* Threads that fdatasync a group's segments side by side (log_sync.c). */
#define LOG_SYNC_THREADS 7
typedef struct log_syncer log_syncer;

struct log_store {
    char *dir;
    char *commit_path;        /* the legacy COMMIT file: read, converted, removed */
    char *journal_path;       /* COMMIT.journal */
    util_journal j;           /* leader only: the journal (fd -1 when read-only) */
    char *topics_dir;
    int lock_fd;
    log_open_opts opts;
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
    int64_t last_durable_ms;  /* monotonic time of the last durable COMMIT */
    int64_t last_retention_ms;
    log_topic *exclude;       /* leader only: left out of the next COMMIT image */
    log_fault_fn fault;
    void *fault_ctx;
    pthread_t maint;          /* the maintenance thread when opts.maintain_ms > 0 */
    int maint_running;
    int maint_stop;           /* (mu) */
    pthread_cond_t maint_cv;
    log_syncer *syncer;       /* leader only; started by the first group that needs it */
    log_stats_acc stats;
};

/* Installs a fault hook (tests only). Must be called before any concurrent use. */
void log_set_fault(log_store *s, log_fault_fn fn, void *ctx);

/* Finds a partition; NULL when absent. Caller holds s->mu. */
log_partition *log_find_partition_locked(log_store *s, const char *topic, int32_t partition);

/* The active segment of p. Caller holds s->mu or is the leader. */
static inline log_segment *log_active(const log_partition *p)
{
    return p->segs[p->nsegs - 1];
}

/* Grows p's segment list to hold extra more, and appends one. Caller holds s->mu. */
int log_reserve_segments_locked(log_partition *p, size_t extra);
int log_push_segment_locked(log_partition *p, log_segment *seg);

/* fdatasync of segs[0..n) side by side (the leader, without s->mu). SPOOL_OK, or
 * LOG_EIO with the first failed segment in why (fatal: never retried), or
 * SPOOL_ENOMEM. */
int log_sync_segments(log_store *s, log_segment **segs, size_t n, char *why, size_t whylen);
void log_syncer_stop(log_syncer *y);

/* Runs one commit group; called by the leader with s->mu held (log_commit.c). */
void log_group_run(log_store *s, log_commit_req *group);

/* Becomes the leader (waiting for a running group), and steps down. s->mu held. */
void log_lead_locked(log_store *s);
void log_unlead_locked(log_store *s);

/* Appends a commit record (from log_commit_image_encode or log_commit_delta_encode) to
 * the journal, fdatasynced when sync; a snapshot that does not fit starts a new journal
 * file instead. The leader, without s->mu. 0, or -errno: ENOSPC/EDQUOT mean nothing was
 * committed, anything else is fatal. */
int log_write_commit(log_store *s, uint8_t *rec, size_t len, int sync);

/* Starts a new journal file holding the snapshot record rec (temp file, zero-filled,
 * fsync, rename, directory fsync) and makes it the store's. The leader. 0 or -errno. */
int log_journal_start(log_store *s, const uint8_t *rec, size_t len);

/* Sets up s->j (no file yet) with the fault hook's journal steps. At open. */
void log_journal_init(log_store *s);

/* Makes everything committed durable: fdatasync of each dirty segment, then a durable
 * COMMIT. Caller is the leader and holds s->mu (dropped during the I/O). */
int log_flush_locked(log_store *s);

/* Monotonic milliseconds, and wall-clock milliseconds. */
int64_t log_wall_ms(void);

/* The effective durability of a topic. */
log_durability log_topic_durability(const log_store *s, const log_topic *t);

/* Reports a warning through opts.warn (stderr when unset). */
void log_warn(log_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Creates (or empties) seg's file durably: file fsync, then dir's fsync. Sets seg->fd
 * and created_ms. -errno on failure with a reason in err. */
int log_segment_create(log_store *s, log_segment *seg, const char *dir, char *err,
                       size_t errlen);

/* Calls the fault hook for op on path: 0 or an errno to fail the step with. */
int log_fault(log_store *s, log_io_op op, const char *path);

/* Retention (log_retention.c): deletes whole old segments as the topics' settings
 * say. Caller is the leader and holds s->mu. */
int log_retention_locked(log_store *s, int64_t now_wall_ms);

/* ---- COMMIT image (log_commit.c) ----------------------------------------------- */

typedef struct log_commit_entry {
    char *topic;
    int32_t partition;
    int64_t end_offset;
    int64_t seg_base;
    uint64_t seg_len;
    int64_t start_offset;     /* version 2; 0 in version 1 */
    int64_t durable_end;      /* version 2; end_offset in version 1 */
} log_commit_entry;

typedef struct log_commit_image {
    uint64_t seq;
    log_commit_entry *entries;
    size_t count;
    log_source_pos *sources;
    size_t nsources;
    size_t capentries;        /* journal replay only */
    size_t capsources;
} log_commit_image;

/* Decodes a COMMIT body (version 1 or 2 layout) at buf + at_body up to buf + len. */
int log_commit_body_decode(const uint8_t *buf, size_t len, size_t at_body, uint16_t version,
                           log_commit_image *img, char *why, size_t whylen);

/* Decodes the bytes of a COMMIT file. SPOOL_OK, SPOOL_ENOMEM, or LOG_ECORRUPT with a
 * reason (no file name). Never reads outside [buf, buf + len). */
int log_commit_image_decode(const uint8_t *buf, size_t len, log_commit_image *img,
                            char *why, size_t whylen);
void log_commit_image_free(log_commit_image *img);

/* The byte length of img's COMMIT body, and writing it at p (returns its end). */
size_t log_commit_body_len(const log_commit_image *img);
uint8_t *log_commit_body_put(uint8_t *p, const log_commit_image *img);

/* Encodes a decoded image as a legacy COMMIT file (version 2; tests make legacy data
 * directories with it). *out malloc'd. */
int log_commit_image_encode_img(const log_commit_image *img, uint8_t **out, size_t *outlen);

/* Encodes a snapshot commit record (both copies) for the store's current committed
 * state (caller is the leader and holds s->mu), with each partition's plan_* values
 * when plan_gen == gen (its durable end too when plan_sync), and the given positions
 * (all of them); s->exclude is left out. Its journal sequence is s->j.seq + 1. *out is
 * malloc'd. */
int log_commit_image_encode(log_store *s, uint64_t gen, uint64_t seq,
                            const log_source_pos *sources, size_t nsources,
                            uint8_t **out, size_t *outlen);

/* Encodes a delta commit record: only the partitions planned in gen and the changed
 * positions. When it would not fit in the journal file even at its largest size, a
 * snapshot (with all positions) is encoded instead. Same conditions as above. */
int log_commit_delta_encode(log_store *s, uint64_t gen, uint64_t seq,
                            const log_source_pos *changed, size_t nchanged,
                            const log_source_pos *all, size_t nall,
                            uint8_t **out, size_t *outlen);

/* ---- The commit journal (log_journal.c) --------------------------------------- */

/* What reading the commit point found (found: 0 nothing, 1 the legacy COMMIT file, 2
 * the journal). */
typedef util_journal_info log_journal_info;

/* The commit journal's format (util/journal.h): magics, version, COMMIT bodies. */
extern const util_journal_fmt log_journal_fmt;

/* Decodes a whole journal file: replays its records into img (every partition and
 * source as of the last valid record). A torn tail (nothing valid past the last good
 * record) ends it quietly; a bad record followed by valid ones is LOG_ECORRUPT with a
 * reason naming the byte (also in info->bad_at). Never reads outside [buf, buf + len).
 * The entry point for the journal fuzz target. */
int log_journal_decode(const uint8_t *buf, size_t len, log_commit_image *img,
                       log_journal_info *info, char *why, size_t whylen);

/* Reads the commit point of data directory dir: COMMIT.journal, else the legacy COMMIT,
 * else nothing (info->found 0). A reader beside a running writer (read_only) reads the
 * journal again before believing damage: appends never rewrite earlier bytes. SPOOL_OK,
 * SPOOL_ENOMEM, LOG_EIO, or LOG_ECORRUPT with file and byte in err. */
int log_commit_load(const char *dir, int read_only, log_commit_image *img,
                    log_journal_info *info, char *err, size_t errlen);

/* Encodes a snapshot record of img with journal sequence jseq (both copies). */
int log_journal_encode_img(const log_commit_image *img, uint64_t jseq, uint8_t **out,
                           size_t *outlen);

/* Tests only: the sizes of journal files this process starts (min) and grows to (max). */
void log_journal_set_sizes(uint64_t min_bytes, uint64_t max_bytes);

/* Grows *arr (of elem-sized items) to hold at least need items, doubling from 4.
 * SPOOL_OK or SPOOL_ENOMEM (the array is left as it was). */
int log_grow(void **arr, size_t *cap, size_t need, size_t elem);

#endif /* SPOOL_LOG_INT_H */

/* journal.h - append-only files of double-written, checksummed records.
 *
 * The log's commit journal (COMMIT.journal) and the sink checkpoints (sinks/<sink>.ckpt)
 * are such files; docs/log-format.md describes the layout byte by byte. A file is a
 * 24-byte header (metadata frame + the first record's sequence), then records back to
 * back, then zeros. The file is zero-filled when created or grown (never fallocate:
 * unwritten extents would make every fdatasync convert them, a metadata write), so an
 * append overwrites blocks that already exist and its fdatasync writes data only.
 *
 * A record is two identical copies, each padded to 8 bytes, written in one pwrite. A
 * crash can tear the write and leave anything after the last good record; bit rot in an
 * acknowledged record leaves one copy bad and its twin intact. The scan tells the two
 * apart: nothing valid past the last good record is a torn tail (never acknowledged:
 * the ack waits for the fdatasync); a bad record followed by valid ones is damage,
 * unless no later record says the bad bytes had been made durable.
 *
 * When a snapshot record no longer fits, a new file holding it replaces the old one
 * (temp file, fsync, rename, directory fsync), so a directory only ever has one file
 * per journal.
 *
 * Everything returns 0 or -errno. Threads: a util_journal belongs to one thread at a
 * time; the scan is a pure function of its input.
 */
#ifndef SPOOL_UTIL_JOURNAL_H
#define SPOOL_UTIL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/metafile.h"

#define UTIL_JOURNAL_HDR 24u                /* frame + u64 sequence of the first record */
#define UTIL_JREC_HDR (UTIL_META_HDR + 24u) /* frame + sequence, synced, kind, reserved */
#define UTIL_JREC_SNAPSHOT 1u               /* the whole state */
#define UTIL_JREC_DELTA 2u                  /* what changed since the previous record */

/* What a journal is made of: its two magics, its version, and its record bodies. */
typedef struct util_journal_fmt {
    uint32_t file_magic;      /* the header's frame */
    uint32_t rec_magic;       /* each record copy's frame */
    uint16_t version;         /* of both */
    const char *what;         /* a record's name in reasons: "commit record" */
    /* Checks the body of one copy (copy[UTIL_JREC_HDR..clen)) of the given kind, and
     * when apply is set also applies it to ctx's state. 1 valid, 0 not (nothing
     * applied), -ENOMEM. Must never read outside the copy. */
    int (*body)(void *ctx, unsigned kind, const uint8_t *copy, size_t clen, int apply);
} util_journal_fmt;

/* ---- Writing ----------------------------------------------------------------------- */

/* Fault injection (tests): called before each write-side step with the file's path; a
 * non-zero return is used as that step's errno instead of doing it. */
typedef enum util_journal_step {
    UTIL_JOURNAL_WRITE,       /* an append, or a new file */
    UTIL_JOURNAL_SYNC         /* the fdatasync after an append */
} util_journal_step;
typedef int (*util_journal_fault_fn)(void *ctx, util_journal_step step, const char *path);

typedef struct util_journal {
    const util_journal_fmt *fmt;
    const char *path;         /* borrowed: must outlive the journal */
    int fd;                   /* -1 until the first write starts a file */
    uint64_t pos;             /* where the next record goes */
    uint64_t cap;             /* bytes zero-filled (preallocated) */
    uint64_t seq;             /* the last record's sequence */
    uint64_t synced;          /* bytes of the file made durable */
    uint64_t min_bytes;       /* a new file's zero-filled size */
    uint64_t max_bytes;       /* grown up to this, then a snapshot starts a new file */
    util_journal_fault_fn fault;
    void *fault_ctx;
} util_journal;

/* Sets up j for the file at path (opened by its first write). */
void util_journal_init(util_journal *j, const util_journal_fmt *fmt, const char *path,
                       uint64_t min_bytes, uint64_t max_bytes);

/* Closes j's file, if open. */
void util_journal_close(util_journal *j);

/* A zeroed buffer for one record (both copies) of body_len bytes: the caller writes the
 * body at UTIL_JREC_HDR, then seals it. NULL when out of memory. */
uint8_t *util_jrec_alloc(size_t body_len);

/* Fills the header and checksum of the first copy and writes its twin; returns the
 * record's length (both copies). body_len + UTIL_JREC_HDR must fit in 32 bits. */
size_t util_jrec_seal(const util_journal_fmt *fmt, uint8_t *rec, size_t body_len,
                      uint64_t seq, uint64_t synced, unsigned kind);

/* 1 when a record of len bytes can be appended without passing the file's largest
 * size (always 0 before a file is started). */
int util_journal_fits(const util_journal *j, size_t len);

/* Writes a new file at path holding one record (tmp, zero-filled to at least cap and 4
 * times the record, fsync, rename, directory fsync). *fd_out (when not NULL) gets it
 * open read-write and *cap_out its size. ENOSPC before the rename changes nothing; past
 * the rename, a failed directory fsync is -EIO. */
int util_journal_file_new(const util_journal_fmt *fmt, const char *path, const uint8_t *rec,
                          size_t len, uint64_t cap, int *fd_out, uint64_t *cap_out);

/* Starts a new file holding the snapshot record rec and makes it j's. */
int util_journal_start(util_journal *j, const uint8_t *rec, size_t len);

/* Appends rec (from util_jrec_seal), fdatasynced when sync. Starts a new file instead
 * when none is open yet, or when rec is a snapshot that does not fit. -ENOSPC/-EDQUOT
 * mean nothing was written (the zeros are back); any other error is fatal: the caller
 * must never write to j again (an fdatasync is never retried). A synced rec written
 * after unsynced ones has its `synced` field stamped anew (rec is resealed in place),
 * after an fdatasync of those. */
int util_journal_write(util_journal *j, uint8_t *rec, size_t len, int sync);

/* ---- Reading ----------------------------------------------------------------------- */

/* What a scan found. */
typedef struct util_journal_info {
    int found;                /* for the caller: which file it read (scan sets 2) */
    uint64_t records;         /* valid records applied */
    uint64_t last_jseq;       /* the last one's sequence */
    uint64_t end;             /* the byte after it */
    uint64_t size;            /* the file's size */
    int torn;                 /* non-zero bytes past end and nothing valid: a torn append */
    uint64_t damaged_copies;  /* records with one bad copy whose twin was intact */
    uint64_t damaged_at;      /* byte of the first such bad copy */
    int unsynced_cut;         /* a bad record at end was never made durable (power cut
                               * without fdatasync): it and later ones were ignored */
    uint64_t bad_at;          /* -EBADMSG: byte of the damaged record or header */
} util_journal_info;

/* Scans a whole journal file, applying every valid record through fmt->body in order.
 * 0; -EBADMSG for damage, with a reason naming the byte in why (no file name) and the
 * byte in info->bad_at; -ENOMEM. Never reads outside [buf, buf + len). */
int util_journal_scan(const util_journal_fmt *fmt, const uint8_t *buf, size_t len,
                      void *ctx, util_journal_info *info, char *why, size_t whylen);

#endif /* SPOOL_UTIL_JOURNAL_H */

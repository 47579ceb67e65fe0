/* ckpt.h - sink checkpoints: consumed offsets plus a resumable sink's position.
 *
 * A sink's checkpoint lives in DATA_DIR/sinks/<sink name>.ckpt, a journal of checkpoint
 * records (util/journal.h, docs/log-format.md): a sink task keeps a ckpt_writer open and
 * each save appends one record into zero-filled space and fdatasyncs it (data only); a
 * full file, and the first save of each writer, start a new file by atomic replace. So
 * after any crash the load gives either the previous checkpoint or the new one, never a
 * mix. Records are checksummed and written twice: a torn last record (never
 * acknowledged) is dropped, damage is reported (LOG_ECORRUPT with the file and byte),
 * never taken for "no checkpoint". Files of the previous release (one checkpoint,
 * replaced atomically) still load, and the first save converts them.
 *
 * Storage errors: EIO is fail-stop (LOG_EIO, the writer refuses every later save);
 * ENOSPC is LOG_ENOSPC and leaves the previous checkpoint in place.
 *
 * Threads: a ckpt and a ckpt_writer belong to one thread at a time. Loads may run beside
 * a writer of the same file (they read again before believing damage).
 */
#ifndef SPOOL_CKPT_H
#define SPOOL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "util/journal.h"

/* The file's format (docs/log-format.md, "Sink checkpoints"). */
#define CKPT_MAGIC 0x4b435053u               /* "SPCK": a legacy (replaced) file */
#define CKPT_VERSION 1u
#define CKPT_JOURNAL_FILE_MAGIC 0x4a435053u  /* "SPCJ": the journal's header */
#define CKPT_JOURNAL_REC_MAGIC 0x52435053u   /* "SPCR": one copy of a record */
#define CKPT_JOURNAL_VERSION 1u
#define CKPT_JOURNAL_MIN_BYTES (64u * 1024u) /* a new file's zero-filled size */
#define CKPT_JOURNAL_MAX_BYTES (256u * 1024u) /* grown up to, then a new file */

typedef struct ckpt_entry {
    char *topic;
    int32_t partition;
    int64_t next_offset;
} ckpt_entry;

typedef struct ckpt {
    ckpt_entry *entries;
    size_t count;
    void *position;           /* a resumable sink's position bytes, NULL when none */
    size_t position_len;
} ckpt;

/* Loads the checkpoint of sink (an empty one when the file does not exist).
 * Returns SPOOL_OK, LOG_ECORRUPT or LOG_EIO with a reason in err. */
int ckpt_load(const char *data_dir, const char *sink, ckpt *out, char *err, size_t errlen);

/* Replaces the checkpoint of sink durably with a new file holding c, whatever the old
 * file held (the daemon's offsets endpoints, tools; a sink task uses a ckpt_writer).
 * Returns SPOOL_OK, LOG_ENOSPC (nothing changed), LOG_EIO, SPOOL_EINVAL. */
int ckpt_save(const char *data_dir, const char *sink, const ckpt *c, char *err, size_t errlen);

/* Decodes the bytes of a checkpoint file, a journal or a legacy file (info->found 2 or
 * 1). SPOOL_OK, SPOOL_ENOMEM, or LOG_ECORRUPT with a reason naming the byte (no file
 * name). Never reads outside [buf, buf + len). The entry point of the fuzz target. */
int ckpt_decode(const uint8_t *buf, size_t len, ckpt *out, util_journal_info *info,
                char *why, size_t whylen);

/* ---- A sink task's writer -------------------------------------------------------- */

typedef struct ckpt_writer ckpt_writer;

/* Opens the checkpoint of sink for many saves: loads it into *out (as ckpt_load) and
 * keeps the file's path. Writes nothing: the first save starts a new file (which
 * converts a legacy one). Returns what ckpt_load returns; *w is NULL on failure. */
int ckpt_writer_open(const char *data_dir, const char *sink, ckpt *out, ckpt_writer **w,
                     char *err, size_t errlen);

/* A warning about the file as it was loaded, or NULL: a damaged copy of a record beside
 * its intact twin (nothing was lost; the disk may be failing; the first save rewrites
 * the file). Valid until close. */
const char *ckpt_writer_warning(const ckpt_writer *w);

/* Saves c durably: one record appended and fdatasynced (or a new file when the file is
 * full or this is the writer's first save). Returns SPOOL_OK; LOG_ENOSPC (the previous
 * checkpoint stays; saving again later may succeed); LOG_EIO, after which every save
 * fails (the page cache may hold what the disk does not: restart the task, which
 * reloads from disk); SPOOL_EINVAL, SPOOL_ENOMEM. Blocks for the fdatasync. */
int ckpt_writer_save(ckpt_writer *w, const ckpt *c, char *err, size_t errlen);

/* Closes the file and frees w (NULL is fine). */
void ckpt_writer_close(ckpt_writer *w);

/* Tests only: a fault hook on the writer's journal steps (util/journal.h), and the
 * sizes of its files (a new file's zero-filled size, the size it grows to). */
void ckpt_writer_set_fault(ckpt_writer *w, util_journal_fault_fn fn, void *ctx);
void ckpt_writer_set_sizes(ckpt_writer *w, uint64_t min_bytes, uint64_t max_bytes);

/* The next offset stored for topic/partition, or -1. */
int64_t ckpt_get(const ckpt *c, const char *topic, int32_t partition);

/* Sets the next offset for topic/partition (adding the entry when new). */
int ckpt_set(ckpt *c, const char *topic, int32_t partition, int64_t next_offset);

/* Replaces the position bytes (copied; len 0 clears). */
int ckpt_set_position(ckpt *c, const void *pos, size_t len);

/* Frees what the ckpt owns and empties it. */
void ckpt_clear(ckpt *c);

#endif /* SPOOL_CKPT_H */

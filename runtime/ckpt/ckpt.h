/* ckpt.h - sink checkpoints: consumed offsets plus a resumable sink's position.
 *
 * A sink's checkpoint lives in DATA_DIR/sinks/<sink name>.ckpt and is replaced
 * atomically (write temp, fsync, rename, fsync directory), so after any crash the
 * file holds either the previous checkpoint or the new one, never a mix. The file
 * carries a CRC32C; a damaged checkpoint is reported (LOG_ECORRUPT), never ignored.
 *
 * Threads: a ckpt belongs to one thread at a time.
 */
#ifndef SPOOL_CKPT_H
#define SPOOL_CKPT_H

#include <stddef.h>
#include <stdint.h>

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

/* Replaces the checkpoint of sink durably. Returns SPOOL_OK or LOG_EIO/LOG_ENOSPC. */
int ckpt_save(const char *data_dir, const char *sink, const ckpt *c, char *err, size_t errlen);

/* The next offset stored for topic/partition, or -1. */
int64_t ckpt_get(const ckpt *c, const char *topic, int32_t partition);

/* Sets the next offset for topic/partition (adding the entry when new). */
int ckpt_set(ckpt *c, const char *topic, int32_t partition, int64_t next_offset);

/* Replaces the position bytes (copied; len 0 clears). */
int ckpt_set_position(ckpt *c, const void *pos, size_t len);

/* Frees what the ckpt owns and empties it. */
void ckpt_clear(ckpt *c);

#endif /* SPOOL_CKPT_H */

/* metafile.h - the 16-byte frame around every small metadata file (COMMIT, TOPIC, ckpt).
 *
 *     0  u32 magic     which kind of file this is
 *     4  u32 crc32c    over bytes [8, length)
 *     8  u32 length    of the whole file, frame included
 *    12  u16 version   of the body format
 *    14  u16 flags     0; a reader refuses flags it does not know
 *    16  body
 *
 * It is the same frame that opens a log batch, so one reader of the format docs knows
 * all of spool's files. Such files are replaced atomically (util_atomic_replace_file),
 * so a bad CRC is never a torn write: it is damage, reported, never ignored.
 */
#ifndef SPOOL_UTIL_METAFILE_H
#define SPOOL_UTIL_METAFILE_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_META_HDR 16u

/* Fills the frame of buf (len bytes, body at UTIL_META_HDR) and its CRC. len must be
 * at least UTIL_META_HDR and fit in 32 bits. */
void util_meta_seal(uint8_t *buf, size_t len, uint32_t magic, uint16_t version);

/* Checks magic, length, CRC, flags and version (1..max_version) of a file's bytes;
 * returns 0 with *version set, or -1 with a reason (no file name) in why. */
int util_meta_check(const uint8_t *buf, size_t len, uint32_t magic, uint16_t max_version,
                    uint16_t *version, char *why, size_t whylen);

#endif /* SPOOL_UTIL_METAFILE_H */

/* fuzz_journal.h - shared by the journal fuzz targets (fuzz_log_journal, fuzz_ckpt):
 * "sealing" arbitrary bytes as a journal of util/journal.h, since random bytes never
 * carry valid CRC32Cs: the header's frame made right for file_magic, then from byte 24
 * on every 8-aligned place whose magic is rec_magic gets its length clamped to the input
 * and its CRC made right. size must be at least UTIL_JOURNAL_HDR.
 */
#ifndef SPOOL_FUZZ_JOURNAL_H
#define SPOOL_FUZZ_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/journal.h"

static inline void fuzz_journal_seal(uint8_t *buf, size_t size, uint32_t file_magic,
                                     uint32_t rec_magic)
{
    util_put_u32(buf, file_magic);
    util_put_u32(buf + 8, UTIL_JOURNAL_HDR);
    util_put_u32(buf + 4, util_crc32c(0, buf + 8, UTIL_JOURNAL_HDR - 8));
    for (size_t q = UTIL_JOURNAL_HDR; q + UTIL_JREC_HDR <= size; q += 8) {
        uint32_t clen;
        if (util_get_u32(buf + q) != rec_magic)
            continue;
        clen = util_get_u32(buf + q + 8);
        if (clen < UTIL_JREC_HDR || clen > size - q) {
            clen = (uint32_t)(size - q);
            util_put_u32(buf + q + 8, clen);
        }
        util_put_u32(buf + q + 4, util_crc32c(0, buf + q + 8, clen - 8));
    }
}

#endif /* SPOOL_FUZZ_JOURNAL_H */

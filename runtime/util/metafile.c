/* metafile.c - the checked frame around small metadata files (see metafile.h). */
#include "util/metafile.h"

#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/strutil.h"

void util_meta_seal(uint8_t *buf, size_t len, uint32_t magic, uint16_t version)
{
    util_put_u32(buf, magic);
    util_put_u32(buf + 8, (uint32_t)len);
    util_put_u16(buf + 12, version);
    util_put_u16(buf + 14, 0);
    util_put_u32(buf + 4, util_crc32c(0, buf + 8, len - 8));
}

int util_meta_check(const uint8_t *buf, size_t len, uint32_t magic, uint16_t max_version,
                    uint16_t *version, char *why, size_t whylen)
{
    uint32_t stored, computed, flen;
    uint16_t v, flags;

    if (len < UTIL_META_HDR) {
        util_errf(why, whylen, "file is %zu bytes, shorter than its 16-byte header", len);
        return -1;
    }
    if (util_get_u32(buf) != magic) {
        util_errf(why, whylen, "bad magic 0x%08x (expected 0x%08x)", util_get_u32(buf),
                  magic);
        return -1;
    }
    flen = util_get_u32(buf + 8);
    if (flen != len) {
        util_errf(why, whylen, "length field says %u bytes but the file has %zu", flen, len);
        return -1;
    }
    stored = util_get_u32(buf + 4);
    computed = util_crc32c(0, buf + 8, len - 8);
    if (stored != computed) {
        util_errf(why, whylen, "CRC32C mismatch (stored 0x%08x, computed 0x%08x)", stored,
                  computed);
        return -1;
    }
    v = util_get_u16(buf + 12);
    flags = util_get_u16(buf + 14);
    if (v == 0 || v > max_version) {
        util_errf(why, whylen, "format version %u, this build reads 1..%u", v, max_version);
        return -1;
    }
    if (flags != 0) {
        util_errf(why, whylen, "unknown flags 0x%04x", flags);
        return -1;
    }
    *version = v;
    return 0;
}

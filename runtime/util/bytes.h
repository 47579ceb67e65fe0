/* bytes.h - little-endian integers and varints, bounds-checked on the decoding side.
 *
 * Every on-disk integer in spool is little-endian. Varints are unsigned LEB128 (7 bits
 * per byte, low group first, at most 10 bytes for 64 bits); signed values go through
 * zigzag first so that small negatives such as -1 (null) stay one byte. Decoders take an
 * end pointer and never read at or past it, because they run on bytes from disk that
 * may be damaged or hostile.
 */
#ifndef SPOOL_UTIL_BYTES_H
#define SPOOL_UTIL_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes util_varint_put() writes. */
#define UTIL_VARINT_MAX 10

static inline void util_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void util_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void util_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t util_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t util_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t util_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Two's complement without implementation-defined conversions. */
static inline int64_t util_u64_to_i64(uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;
}

static inline int32_t util_u32_to_i32(uint32_t u)
{
    if (u <= (uint32_t)INT32_MAX)
        return (int32_t)u;
    return -(int32_t)(~u) - 1;
}

static inline uint64_t util_zigzag_enc(int64_t v)
{
    return v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
}

static inline int64_t util_zigzag_dec(uint64_t u)
{
    if (u & 1u)
        return -(int64_t)(u >> 1) - 1;
    return (int64_t)(u >> 1);
}

/* Writes v at p (which must have UTIL_VARINT_MAX bytes free); returns bytes written. */
static inline size_t util_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80u) {
        p[n++] = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The number of bytes util_varint_put() would write for v. */
static inline size_t util_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Reads a varint at *p, never at or past end; advances *p. Returns 0, or -1 when the
 * varint runs past end, is longer than 10 bytes or overflows 64 bits. */
static inline int util_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    const uint8_t *q = *p;
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (q >= end)
            return -1;
        uint8_t b = *q++;
        if (shift == 63 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7fu) << shift;
        if (!(b & 0x80u)) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return -1;
}

#endif /* SPOOL_UTIL_BYTES_H */

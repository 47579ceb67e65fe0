/* crc32c.h - CRC-32C (Castagnoli), the checksum of every log batch and metadata file.
 *
 * util_crc32c() uses the SSE4.2 crc32 instruction when the CPU has it and a
 * table-driven loop otherwise; both give the same value, and a test proves it on random
 * buffers. The crc argument chains calls: util_crc32c(util_crc32c(0, a), b) equals the
 * CRC of a followed by b. Start with 0.
 *
 * Threads: every function here is pure and safe from any thread.
 */
#ifndef SPOOL_UTIL_CRC32C_H
#define SPOOL_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of buf, continuing from crc (0 to start). Picks the fastest path. */
uint32_t util_crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable table-driven path; always available. */
uint32_t util_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 when util_crc32c_hw() may be called on this CPU. */
int util_crc32c_hw_available(void);

/* The hardware path. Must only be called when util_crc32c_hw_available() is 1. */
uint32_t util_crc32c_hw(uint32_t crc, const void *buf, size_t len);

#endif /* SPOOL_UTIL_CRC32C_H */

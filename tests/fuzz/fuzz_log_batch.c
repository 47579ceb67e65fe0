/* fuzz_log_batch.c - libFuzzer target: arbitrary bytes as a log batch, as COMMIT and as
 * a segment's .index file (each also with its CRC made right, to get past it).
 *
 * Random bytes almost never carry a valid CRC32C, which would leave the record decoder
 * unexplored; so each input is decoded twice, as it is and with its CRC field made
 * right (bytes 4..7, over bytes 8..length), so the fuzzer reaches every length and varint
 * check behind the CRC. Neither may read outside the input or allocate without bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log/log_int.h"
#include "util/crc32c.h"

static int count_record(void *ctx, const log_record *rec)
{
    size_t *n = ctx;
    /* Touch every byte the decoder hands out, so ASan checks the bounds. */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < rec->key_len; i++)
        sink ^= ((const uint8_t *)rec->key)[i];
    for (size_t i = 0; i < rec->value_len; i++)
        sink ^= ((const uint8_t *)rec->value)[i];
    for (size_t h = 0; h < rec->header_count; h++)
        for (size_t i = 0; i < rec->headers[h].key_len; i++)
            sink ^= (uint8_t)rec->headers[h].key[i];
    (void)sink;
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    size_t n = 0;
    log_commit_image img;
    log_index_image idx0;

    log_batch_decode(data, size, count_record, &n, why, sizeof(why));
    if (size >= LOG_BATCH_HDR) {
        uint8_t *copy = malloc(size);
        if (copy == NULL)
            return 0;
        memcpy(copy, data, size);
        /* Fields are little-endian on disk, as on every machine we build for. */
        uint32_t len;
        memcpy(&len, copy + 8, 4);
        if (len < LOG_BATCH_HDR || len > size) {
            len = (uint32_t)size;
            memcpy(copy + 8, &len, 4);
        }
        uint32_t crc = util_crc32c(0, copy + 8, len - 8);
        memcpy(copy + 4, &crc, 4);
        log_batch_decode(copy, size, count_record, &n, why, sizeof(why));
        free(copy);
    }
    memset(&img, 0, sizeof(img));
    if (log_commit_image_decode(data, size, &img, why, sizeof(why)) == 0)
        log_commit_image_free(&img);
    /* The metadata frame: make its length and CRC right so decoders see the body. */
    if (size >= 16) {
        uint8_t *copy = malloc(size);
        log_index_image idx;
        if (copy == NULL)
            return 0;
        memcpy(copy, data, size);
        uint32_t len = (uint32_t)size;
        memcpy(copy + 8, &len, 4);
        uint32_t crc = util_crc32c(0, copy + 8, size - 8);
        memcpy(copy + 4, &crc, 4);
        if (log_index_decode(copy, size, &idx, why, sizeof(why)) == 0)
            free(idx.entries);
        memset(&img, 0, sizeof(img));
        if (log_commit_image_decode(copy, size, &img, why, sizeof(why)) == 0)
            log_commit_image_free(&img);
        free(copy);
    }
    if (log_index_decode(data, size, &idx0, why, sizeof(why)) == 0)
        free(idx0.entries);
    return 0;
}

/* fuzz_log_journal.c - libFuzzer target: arbitrary bytes as a commit journal
 * (COMMIT.journal), the reader recovery, read-only opens and `spool verify` share.
 *
 * Random bytes never carry valid CRC32Cs, which would leave the record replay
 * unexplored; so each input is also decoded after "sealing" it: the header's CRC made
 * right, then from byte 24 on every 8-aligned place whose magic is a record copy's gets
 * its length clamped to the input and its CRC made right. The decoder may not read
 * outside the input, allocate without bound, or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_journal.h"
#include "log/log_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const uint8_t *buf, size_t len)
{
    log_commit_image img;
    log_journal_info info;
    char why[384];

    if (log_journal_decode(buf, len, &img, &info, why, sizeof why) == 0) {
        /* Touch what it returns, so ASan checks it. */
        volatile size_t sink = 0;
        for (size_t i = 0; i < img.count; i++)
            sink += strlen(img.entries[i].topic);
        for (size_t i = 0; i < img.nsources; i++)
            for (size_t k = 0; k < img.sources[i].len; k++)
                sink += ((const uint8_t *)img.sources[i].pos)[k];
        (void)sink;
        log_commit_image_free(&img);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    decode(data, size);
    if (size < LOG_JOURNAL_HDR || size > (1u << 20))
        return 0;
    copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    fuzz_journal_seal(copy, size, LOG_JOURNAL_FILE_MAGIC, LOG_JOURNAL_REC_MAGIC);
    decode(copy, size);
    free(copy);
    return 0;
}

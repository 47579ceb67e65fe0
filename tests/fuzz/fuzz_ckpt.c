/* fuzz_ckpt.c - libFuzzer target: arbitrary bytes as a sink checkpoint file
 * (sinks/<sink>.ckpt), a checkpoint journal or a legacy file, as ckpt_load and the
 * worker read it.
 *
 * Random bytes never carry valid CRC32Cs, so each input is also decoded after
 * "sealing" it two ways: as a journal (the header's CRC made right, then from byte 24
 * on every 8-aligned place whose magic is a record copy's gets its length clamped to
 * the input and its CRC made right), and as a legacy file (magic, length and CRC made
 * right). The decoder may not read outside the input, allocate without bound, or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt.h"
#include "fuzz/fuzz_journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const uint8_t *buf, size_t len)
{
    ckpt c;
    util_journal_info info;
    char why[384];

    if (ckpt_decode(buf, len, &c, &info, why, sizeof why) == 0) {
        /* Touch what it returns, so ASan checks it. */
        volatile size_t sink = 0;
        for (size_t i = 0; i < c.count; i++)
            sink += strlen(c.entries[i].topic) + (size_t)c.entries[i].next_offset;
        for (size_t k = 0; k < c.position_len; k++)
            sink += ((const uint8_t *)c.position)[k];
        (void)sink;
        ckpt_clear(&c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    decode(data, size);
    if (size < UTIL_JOURNAL_HDR || size > (1u << 20))
        return 0;
    copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    fuzz_journal_seal(copy, size, CKPT_JOURNAL_FILE_MAGIC, CKPT_JOURNAL_REC_MAGIC);
    decode(copy, size);
    memcpy(copy, data, size);
    util_meta_seal(copy, size, CKPT_MAGIC, CKPT_VERSION);
    decode(copy, size);
    free(copy);
    return 0;
}

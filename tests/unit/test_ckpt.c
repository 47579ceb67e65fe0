/* test_ckpt.c - sink checkpoints (the runtime's offsets store): round trip, absent file,
 * bad names, atomic replacement (a crash mid-save leaves a stray temporary file and the
 * previous checkpoint, never a mix); legacy files (damage always reported, converted by
 * the first save); the checkpoint journal of a ckpt_writer: cuts at every byte of the
 * last records, seeded bit flips, rotation and a crash around its rename, EIO and
 * ENOSPC through the journal's fault hook. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ckpt/ckpt.h"
#include "log/log.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"
#include "util/bytes.h"
#include "util/fsio.h"
#include "util/journal.h"
#include "util/metafile.h"

static void test_ckpt_absent_is_empty(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char err[512] = "";
    ckpt c;

    assert_int_equal(ckpt_load(dir, "warehouse", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(c.count, 0);
    assert_null(c.position);
    assert_int_equal(ckpt_get(&c, "t", 0), -1);
    ckpt_clear(&c);
    test_rmdir(dir);
}

static void test_ckpt_round_trip(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *sub = test_path(dir, "data");
    char err[512] = "";
    ckpt c = {0}, back;

    assert_int_equal(ckpt_set(&c, "events", 0, 10), SPOOL_OK);
    assert_int_equal(ckpt_set(&c, "events", 3, 7), SPOOL_OK);
    assert_int_equal(ckpt_set(&c, "other", 0, 0), SPOOL_OK);
    assert_int_equal(ckpt_set(&c, "events", 0, 12), SPOOL_OK); /* replaces */
    assert_int_equal(ckpt_set(&c, "events", -1, 1), SPOOL_EINVAL);
    assert_int_equal(c.count, 3);
    assert_int_equal(ckpt_set_position(&c, "bytes=4096\0x", 12), SPOOL_OK);
    /* The data directory and sinks/ are created as needed. */
    assert_int_equal(ckpt_save(sub, "warehouse", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_load(sub, "warehouse", &back, err, sizeof err), SPOOL_OK);
    assert_int_equal(back.count, 3);
    assert_int_equal(ckpt_get(&back, "events", 0), 12);
    assert_int_equal(ckpt_get(&back, "events", 3), 7);
    assert_int_equal(ckpt_get(&back, "other", 0), 0);
    assert_int_equal(ckpt_get(&back, "other", 1), -1);
    assert_int_equal(back.position_len, 12);
    assert_memory_equal(back.position, "bytes=4096\0x", 12);
    ckpt_clear(&back);

    /* Replacing keeps only the new one; clearing the position stores none. */
    assert_int_equal(ckpt_set(&c, "events", 3, 8), SPOOL_OK);
    assert_int_equal(ckpt_set_position(&c, NULL, 0), SPOOL_OK);
    assert_int_equal(ckpt_save(sub, "warehouse", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_load(sub, "warehouse", &back, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&back, "events", 3), 8);
    assert_null(back.position);
    assert_int_equal(back.position_len, 0);
    char *tmp = test_path(sub, "sinks/warehouse.ckpt.tmp");
    assert_int_equal(test_file_size(tmp), -1);
    free(tmp);
    ckpt_clear(&back);
    ckpt_clear(&c);
    assert_int_equal(c.count, 0);
    free(sub);
    test_rmdir(dir);
}

static void mk_sinks(const char *dir)
{
    char *sinks = test_path(dir, "sinks");
    assert_int_equal(mkdir(sinks, 0755), 0);
    free(sinks);
}

/* The bytes of a legacy checkpoint file (the previous release's format) with one entry
 * (topic, partition, next) and a position. *len gets its size. */
static unsigned char *legacy_file(const char *topic, int32_t partition, int64_t next,
                                  const char *pos, size_t *len)
{
    size_t tl = strlen(topic), pl = strlen(pos);
    unsigned char *b, *p;

    *len = UTIL_META_HDR + 4 + 2 + tl + 12 + 4 + pl;
    b = calloc(1, *len);
    assert_non_null(b);
    p = b + UTIL_META_HDR;
    util_put_u32(p, 1);
    util_put_u16(p + 4, (uint16_t)tl);
    memcpy(p + 6, topic, tl);
    p += 6 + tl;
    util_put_u32(p, (uint32_t)partition);
    util_put_u64(p + 4, (uint64_t)next);
    util_put_u32(p + 12, (uint32_t)pl);
    memcpy(p + 16, pos, pl);
    util_meta_seal(b, *len, CKPT_MAGIC, CKPT_VERSION);
    return b;
}

/* A legacy file is replaced atomically, so any damage in it is reported. */
static void test_ckpt_legacy_damage_is_reported(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    char err[512] = "";
    ckpt back;
    size_t len;
    unsigned char *orig = legacy_file("events", 1, 99, "pos", &len);

    mk_sinks(dir);
    /* Every flipped bit, and every truncation, is LOG_ECORRUPT naming the file. */
    for (size_t at = 0; at < len * 8; at++) {
        unsigned char *d = malloc(len);
        memcpy(d, orig, len);
        d[at / 8] ^= (unsigned char)(1u << (at % 8));
        test_spit(file, d, len);
        err[0] = '\0';
        assert_int_equal(ckpt_load(dir, "s", &back, err, sizeof err), LOG_ECORRUPT);
        assert_non_null(strstr(err, file));
        assert_int_equal(back.count, 0);
        free(d);
    }
    for (size_t cut = 0; cut < len; cut++) {
        test_spit(file, orig, cut);
        assert_int_equal(ckpt_load(dir, "s", &back, err, sizeof err), LOG_ECORRUPT);
    }
    test_spit(file, orig, len);
    assert_int_equal(ckpt_load(dir, "s", &back, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&back, "events", 1), 99);
    ckpt_clear(&back);
    free(orig);
    free(file);
    test_rmdir(dir);
}

static void test_ckpt_bad_sink_names(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char err[512] = "";
    ckpt c = {0};

    assert_int_equal(ckpt_save(dir, "../escape", &c, err, sizeof err), SPOOL_EINVAL);
    assert_non_null(strstr(err, "../escape"));
    assert_int_equal(ckpt_load(dir, "a/b", &c, err, sizeof err), SPOOL_EINVAL);
    assert_int_equal(ckpt_load(dir, "", &c, err, sizeof err), SPOOL_EINVAL);
    test_rmdir(dir);
}

/* What a crash between writing the temporary file and the rename leaves: the old
 * checkpoint wins, the stray temporary is ignored and replaced by the next save. */
static void test_ckpt_replace_is_atomic(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *tmp = test_path(dir, "sinks/s.ckpt.tmp");
    char err[512] = "";
    ckpt c = {0}, got;

    for (int64_t i = 1; i <= 50; i++) {
        assert_int_equal(ckpt_set(&c, "t", (int32_t)(i % 3), i), SPOOL_OK);
        assert_int_equal(ckpt_save(dir, "s", &c, err, sizeof err), SPOOL_OK);
    }
    test_spit(tmp, "half-written garbage", 20);
    assert_int_equal(ckpt_load(dir, "s", &got, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&got, "t", 2), 50);
    assert_int_equal(ckpt_get(&got, "t", 1), 49);
    assert_int_equal(ckpt_get(&got, "t", 0), 48);
    ckpt_clear(&got);
    assert_int_equal(ckpt_set(&c, "t", 0, 51), SPOOL_OK);
    assert_int_equal(ckpt_save(dir, "s", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(test_file_size(tmp), -1); /* renamed over the file */
    assert_int_equal(ckpt_load(dir, "s", &got, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&got, "t", 0), 51);
    ckpt_clear(&got);
    ckpt_clear(&c);
    free(tmp);
    test_rmdir(dir);
}

/* ---- The checkpoint journal ------------------------------------------------------ */

/* Checkpoint i: partition 0 of "t" at i, position of 9 digits. A record copy is then 72
 * bytes, a multiple of 8, so copies have no padding and record k of a file starts at
 * 24 + 144 (k - 1). */
#define REC 144u

static void ck_fill(ckpt *c, int64_t i)
{
    char pos[24];

    snprintf(pos, sizeof pos, "%09lld", (long long)i);
    assert_int_equal(ckpt_set(c, "t", 0, i), SPOOL_OK);
    assert_int_equal(ckpt_set_position(c, pos, 9), SPOOL_OK);
}

static void ck_save(ckpt_writer *w, int64_t i)
{
    ckpt c = {0};
    char err[512] = "";

    ck_fill(&c, i);
    assert_int_equal(ckpt_writer_save(w, &c, err, sizeof err), SPOOL_OK);
    ckpt_clear(&c);
}

/* The checkpoint number held by c (-1 when empty), checking its position agrees. */
static int64_t ck_value(const ckpt *c)
{
    char pos[24];
    int64_t v = ckpt_get(c, "t", 0);

    if (v < 0) {
        assert_int_equal(c->position_len, 0);
        return -1;
    }
    snprintf(pos, sizeof pos, "%09lld", (long long)v);
    assert_int_equal(c->position_len, 9);
    assert_memory_equal(c->position, pos, 9);
    return v;
}

static int64_t ck_load(const char *dir)
{
    ckpt c;
    char err[512] = "";
    int64_t v;

    assert_int_equal(ckpt_load(dir, "s", &c, err, sizeof err), SPOOL_OK);
    v = ck_value(&c);
    ckpt_clear(&c);
    return v;
}

static ckpt_writer *ck_open(const char *dir)
{
    ckpt_writer *w = NULL;
    ckpt c;
    char err[512] = "";

    assert_int_equal(ckpt_writer_open(dir, "s", &c, &w, err, sizeof err), SPOOL_OK);
    ckpt_clear(&c);
    return w;
}

static long long ck_inode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_ino : -1;
}

/* Appends go into the zero-filled file; every writer starts a new one. */
static void test_ckpt_writer_round_trip(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    ckpt_writer *w = ck_open(dir);
    ckpt c;
    util_journal_info info;
    unsigned char *b;
    size_t len;
    long long ino;
    char why[256];

    assert_null(ckpt_writer_warning(w));
    ck_save(w, 1);
    ino = ck_inode(file);
    assert_int_equal(test_file_size(file), CKPT_JOURNAL_MIN_BYTES);
    for (int64_t i = 2; i <= 20; i++) {
        ck_save(w, i);
        assert_int_equal(ck_load(dir), i);
        assert_int_equal(ck_inode(file), ino); /* appended, not replaced */
    }
    ckpt_writer_close(w);
    b = test_slurp(file, &len);
    assert_int_equal(util_get_u32(b), CKPT_JOURNAL_FILE_MAGIC);
    assert_int_equal(ckpt_decode(b, len, &c, &info, why, sizeof why), SPOOL_OK);
    assert_int_equal(info.found, 2);
    assert_int_equal(info.records, 20);
    assert_int_equal(info.end, UTIL_JOURNAL_HDR + 20 * REC);
    assert_int_equal(ck_value(&c), 20);
    ckpt_clear(&c);
    free(b);

    w = ck_open(dir);
    ck_save(w, 21);
    assert_true(ck_inode(file) != ino);
    assert_int_equal(ck_load(dir), 21);
    ckpt_writer_close(w);
    free(file);
    test_rmdir(dir);
}

/* A crash during the save of checkpoint 5 (or 4) leaves its record cut at any byte,
 * the rest of the file as it was (zeros) or gone: the load gives the previous
 * checkpoint until the record's first copy is whole, the new one after. */
static void test_ckpt_cut_every_byte(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    ckpt_writer *w = ck_open(dir);
    const size_t e3 = UTIL_JOURNAL_HDR + 3 * REC, e4 = e3 + REC, e5 = e4 + REC;
    unsigned char *full, *d;
    size_t len;

    for (int64_t i = 1; i <= 5; i++)
        ck_save(w, i);
    ckpt_writer_close(w);
    full = test_slurp(file, &len);
    assert_true(len > e5 + 64);
    d = malloc(len);
    for (size_t cut = e3; cut <= e5 + 64; cut++) {
        int64_t want = cut >= e4 + REC / 2 ? 5 : cut >= e4 ? 4 : cut >= e3 + REC / 2 ? 4 : 3;
        ckpt c;
        util_journal_info info;
        char why[256];

        if (cut >= e5)
            want = 5;
        /* Cut off: the file ends at cut. */
        test_spit(file, full, cut);
        assert_int_equal(ck_load(dir), want);
        /* Zero-filled: the file keeps its size, the unwritten bytes are zeros. */
        memcpy(d, full, len);
        if (cut < e5)
            memset(d + cut, 0, e5 - cut);
        test_spit(file, d, len);
        assert_int_equal(ck_load(dir), want);
        assert_int_equal(ckpt_decode(d, len, &c, &info, why, sizeof why), SPOOL_OK);
        assert_int_equal(info.damaged_copies, 0); /* a torn write is not damage */
        ckpt_clear(&c);
    }
    /* After a torn tail, saving goes on. */
    test_spit(file, full, e4 + 10);
    w = ck_open(dir);
    ck_save(w, 6);
    ckpt_writer_close(w);
    assert_int_equal(ck_load(dir), 6);
    free(d);
    free(full);
    free(file);
    test_rmdir(dir);
}

/* Seeded bit flips in a file of five checkpoints: the header is damage; one bad copy
 * beside its intact twin loses nothing and is reported (or, a twin of the last record
 * whose flipped byte became zero, is a torn append); flips in the zeros past the end
 * are a torn tail; both copies of a record bad is damage naming its byte, except for
 * the last record, which is then a torn tail exactly as in the log's journal. */
static void test_ckpt_bit_flips(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    ckpt_writer *w = ck_open(dir);
    const size_t e5 = UTIL_JOURNAL_HDR + 5 * REC;
    test_rng r = {test_seed("test_ckpt_bit_flips")};
    unsigned char *full, *d;
    size_t len;
    char err[512];

    for (int64_t i = 1; i <= 5; i++)
        ck_save(w, i);
    ckpt_writer_close(w);
    full = test_slurp(file, &len);
    d = malloc(len);
    for (int trial = 0; trial < 4000; trial++) {
        ckpt c;
        util_journal_info info;
        char why[384] = "";
        int rc;

        memcpy(d, full, len);
        if (trial % 2 == 0) {
            size_t at = (size_t)test_below(&r, e5 + 256);
            d[at] ^= (unsigned char)(1u << test_below(&r, 8));
            rc = ckpt_decode(d, len, &c, &info, why, sizeof why);
            if (at < UTIL_JOURNAL_HDR) {
                /* A bad magic no longer says "journal" (one bit turns SPCJ into the
                 * legacy SPCK, whose checks then fail). */
                assert_int_equal(rc, LOG_ECORRUPT);
                if (strstr(why, "header (bytes 0..23)") == NULL &&
                    strstr(why, "bad magic") == NULL && strstr(why, "legacy") == NULL)
                    fail_msg("flip at byte %zu: %s", at, why);
                continue;
            }
            assert_int_equal(rc, SPOOL_OK);
            assert_int_equal(ck_value(&c), 5);
            ckpt_clear(&c);
            if (at >= e5) {
                assert_int_equal(info.torn, 1);
                assert_int_equal(info.damaged_copies, 0);
            } else {
                size_t copy = UTIL_JOURNAL_HDR + (at - UTIL_JOURNAL_HDR) / (REC / 2) * (REC / 2);
                if (copy == e5 - REC / 2 && d[at] == 0) {
                    assert_int_equal(info.damaged_copies, 0);
                } else {
                    if (info.damaged_copies != 1)
                        fail_msg("flip at byte %zu: %u damaged copies", at,
                                 (unsigned)info.damaged_copies);
                    assert_int_equal(info.damaged_at, copy);
                }
            }
        } else {
            size_t k = (size_t)test_below(&r, 5), start = UTIL_JOURNAL_HDR + k * REC;
            d[start + test_below(&r, REC / 2)] ^= (unsigned char)(1u << test_below(&r, 8));
            d[start + REC / 2 + test_below(&r, REC / 2)] ^= (unsigned char)(1u << test_below(&r, 8));
            rc = ckpt_decode(d, len, &c, &info, why, sizeof why);
            if (k < 4) {
                char at[32];
                assert_int_equal(rc, LOG_ECORRUPT);
                assert_int_equal(info.bad_at, start);
                snprintf(at, sizeof at, "byte %zu", start);
                assert_non_null(strstr(why, at));
            } else {
                assert_int_equal(rc, SPOOL_OK);
                assert_int_equal(ck_value(&c), 4);
                assert_int_equal(info.torn, 1);
                ckpt_clear(&c);
            }
        }
    }
    /* Through the file: the load names the file and the byte. */
    memcpy(d, full, len);
    d[UTIL_JOURNAL_HDR + REC + 40] ^= 1;
    d[UTIL_JOURNAL_HDR + REC + REC / 2 + 40] ^= 1;
    test_spit(file, d, len);
    ckpt c;
    assert_int_equal(ckpt_load(dir, "s", &c, err, sizeof err), LOG_ECORRUPT);
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, "byte 168"));
    assert_int_equal(c.count, 0);
    w = NULL;
    assert_int_equal(ckpt_writer_open(dir, "s", &c, &w, err, sizeof err), LOG_ECORRUPT);
    assert_null(w);
    free(d);
    free(full);
    free(file);
    test_rmdir(dir);
}

/* One damaged copy: the writer loads from its twin and warns, naming file and byte;
 * its first save rewrites the file. */
static void test_ckpt_damaged_copy_warns(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    ckpt_writer *w = ck_open(dir);
    ckpt c;
    char err[512] = "";

    for (int64_t i = 1; i <= 3; i++)
        ck_save(w, i);
    ckpt_writer_close(w);
    test_flip(file, UTIL_JOURNAL_HDR + REC + 30, 0x10);
    assert_int_equal(ck_load(dir), 3);
    assert_int_equal(ckpt_writer_open(dir, "s", &c, &w, err, sizeof err), SPOOL_OK);
    assert_int_equal(ck_value(&c), 3);
    ckpt_clear(&c);
    assert_non_null(ckpt_writer_warning(w));
    assert_non_null(strstr(ckpt_writer_warning(w), file));
    assert_non_null(strstr(ckpt_writer_warning(w), "byte 168"));
    ck_save(w, 4);
    ckpt_writer_close(w);
    w = ck_open(dir);
    assert_null(ckpt_writer_warning(w));
    ckpt_writer_close(w);
    assert_int_equal(ck_load(dir), 4);
    free(file);
    test_rmdir(dir);
}

/* A legacy file loads as it is; the first save of a writer (or a one-shot save)
 * replaces it with a journal. */
static void test_ckpt_legacy_converted(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    char *tmp = test_path(dir, "sinks/s.ckpt.tmp");
    char err[512] = "";
    size_t len;
    unsigned char *legacy = legacy_file("t", 0, 7, "000000007", &len), *b;
    ckpt_writer *w;
    ckpt c;

    mk_sinks(dir);
    test_spit(file, legacy, len);
    assert_int_equal(ck_load(dir), 7);
    assert_int_equal(ckpt_writer_open(dir, "s", &c, &w, err, sizeof err), SPOOL_OK);
    assert_int_equal(ck_value(&c), 7);
    ckpt_clear(&c);
    assert_int_equal(test_file_size(file), (long long)len); /* opening writes nothing */
    ck_save(w, 8);
    assert_int_equal(test_file_size(tmp), -1);
    b = test_slurp(file, &len);
    assert_int_equal(util_get_u32(b), CKPT_JOURNAL_FILE_MAGIC);
    free(b);
    assert_int_equal(ck_load(dir), 8);
    ck_save(w, 9);
    ckpt_writer_close(w);
    assert_int_equal(ck_load(dir), 9);

    /* The daemon's one-shot save converts too. */
    free(legacy);
    legacy = legacy_file("t", 0, 7, "000000007", &len);
    test_spit(file, legacy, len);
    ck_fill(&c, 10);
    assert_int_equal(ckpt_save(dir, "s", &c, err, sizeof err), SPOOL_OK);
    ckpt_clear(&c);
    b = test_slurp(file, &len);
    assert_int_equal(util_get_u32(b), CKPT_JOURNAL_FILE_MAGIC);
    free(b);
    assert_int_equal(ck_load(dir), 10);
    free(legacy);
    free(tmp);
    free(file);
    test_rmdir(dir);
}

/* Small files: they grow once, then a save starts a new file (rename). A crash before
 * the rename leaves the old file and a stray temporary (the previous checkpoint); after
 * it, the new file alone (the new one). */
static void test_ckpt_rotation(void **state)
{
    (void)state;
    char *dir = test_tmpdir(), *dir2 = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    char *file2 = test_path(dir2, "sinks/s.ckpt");
    char *tmp2 = test_path(dir2, "sinks/s.ckpt.tmp");
    ckpt_writer *w = ck_open(dir);
    unsigned char *before = NULL, *after;
    size_t blen = 0, alen;
    int rotations = 0;
    util_journal_info info;
    ckpt c;
    char why[256];

    mk_sinks(dir2);
    ckpt_writer_set_sizes(w, 4096, 8192);
    ck_save(w, 1);
    for (int64_t i = 2; i <= 150; i++) {
        long long ino = ck_inode(file);
        free(before);
        before = test_slurp(file, &blen);
        ck_save(w, i);
        assert_int_equal(ck_load(dir), i);
        assert_true(test_file_size(file) == 4096 || test_file_size(file) == 8192);
        if (ck_inode(file) == ino)
            continue;
        rotations++;
        after = test_slurp(file, &alen);
        assert_int_equal(ckpt_decode(after, alen, &c, &info, why, sizeof why), SPOOL_OK);
        assert_int_equal(info.records, 1);
        assert_int_equal(info.last_jseq, (uint64_t)i);
        ckpt_clear(&c);
        test_spit(file2, before, blen);
        test_spit(tmp2, after, alen);
        assert_int_equal(ck_load(dir2), i - 1);
        assert_int_equal(rename(tmp2, file2), 0);
        assert_int_equal(ck_load(dir2), i);
        free(after);
    }
    /* 24 + 144 n <= 8192: 56 records a file. */
    assert_int_equal(rotations, 2);
    ckpt_writer_close(w);
    free(before);
    free(tmp2);
    free(file2);
    free(file);
    test_rmdir(dir2);
    test_rmdir(dir);
}

/* ---- Storage errors through the journal's fault hook ----------------------------- */

typedef struct ck_faults {
    util_journal_step step;   /* which step fails */
    int nth;                  /* on its nth call from now (1-based), 0: none */
    int err;
    int calls[2];
    int calls_after_fail[2];
    int failed;
} ck_faults;

static int ck_fault_hook(void *ctx, util_journal_step step, const char *path)
{
    ck_faults *f = ctx;
    (void)path;
    f->calls[step]++;
    if (f->failed)
        f->calls_after_fail[step]++;
    if (f->nth > 0 && step == f->step && f->calls[step] == f->nth) {
        f->failed = 1;
        return f->err;
    }
    return 0;
}

static int ck_try(ckpt_writer *w, int64_t i, char *err, size_t errlen)
{
    ckpt c = {0};
    int rc;

    ck_fill(&c, i);
    rc = ckpt_writer_save(w, &c, err, errlen);
    ckpt_clear(&c);
    return rc;
}

/* ENOSPC (or EDQUOT) at a new file or an append: LOG_ENOSPC, the previous checkpoint
 * loads, and the next save works. */
static void test_ckpt_enospc_loses_nothing(void **state)
{
    (void)state;
    const int errs[] = {ENOSPC, EDQUOT};

    for (size_t e = 0; e < 2; e++) {
        char *dir = test_tmpdir();
        char *tmp = test_path(dir, "sinks/s.ckpt.tmp");
        ckpt_writer *w = ck_open(dir);
        ck_faults f = {.step = UTIL_JOURNAL_WRITE, .nth = 1, .err = errs[e]};
        char err[512] = "";

        ckpt_writer_set_fault(w, ck_fault_hook, &f);
        assert_int_equal(ck_try(w, 1, err, sizeof err), LOG_ENOSPC); /* the new file */
        assert_non_null(strstr(err, "free space"));
        assert_int_equal(ck_load(dir), -1);
        assert_int_equal(test_file_size(tmp), -1);
        ck_save(w, 1);
        ck_save(w, 2);
        f = (ck_faults){.step = UTIL_JOURNAL_WRITE, .nth = 1, .err = errs[e]};
        assert_int_equal(ck_try(w, 3, err, sizeof err), LOG_ENOSPC); /* an append */
        assert_int_equal(ck_load(dir), 2);
        ck_save(w, 3);
        assert_int_equal(ck_load(dir), 3);
        ckpt_writer_close(w);
        free(tmp);
        test_rmdir(dir);
    }
}

/* EIO at the write, and EIO or ENOSPC at the fdatasync: LOG_EIO now and for every later
 * save, with no step of the journal run again (an fdatasync is never retried); the
 * load gives the previous checkpoint, or the new one when its bytes got written. */
static void test_ckpt_eio_is_fail_stop(void **state)
{
    (void)state;
    const struct {
        util_journal_step step;
        int err;
        int first;            /* fail the writer's first save (a new file) */
    } cases[] = {
        {UTIL_JOURNAL_WRITE, EIO, 1},
        {UTIL_JOURNAL_WRITE, EIO, 0},
        {UTIL_JOURNAL_SYNC, EIO, 0},
        {UTIL_JOURNAL_SYNC, ENOSPC, 0},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = test_tmpdir();
        ckpt_writer *w = ck_open(dir);
        ck_faults f = {.step = cases[i].step, .err = cases[i].err};
        char err[512] = "";
        int64_t v;

        ckpt_writer_set_fault(w, ck_fault_hook, &f);
        if (!cases[i].first) {
            ck_save(w, 1);
            ck_save(w, 2);
        }
        f.calls[cases[i].step] = 0;
        f.nth = 1;
        assert_int_equal(ck_try(w, 3, err, sizeof err), LOG_EIO);
        assert_non_null(strstr(err, "s.ckpt"));
        f.nth = 0;
        assert_int_equal(ck_try(w, 4, err, sizeof err), LOG_EIO);
        assert_non_null(strstr(err, "earlier write failed"));
        assert_int_equal(f.calls_after_fail[UTIL_JOURNAL_WRITE], 0);
        assert_int_equal(f.calls_after_fail[UTIL_JOURNAL_SYNC], 0);
        v = ck_load(dir);
        if (cases[i].first)
            assert_int_equal(v, -1);
        else if (cases[i].step == UTIL_JOURNAL_WRITE)
            assert_int_equal(v, 2);
        else
            assert_true(v == 2 || v == 3);
        ckpt_writer_close(w);
        /* A restarted task reads the file again and saves. */
        w = ck_open(dir);
        ck_save(w, 5);
        ckpt_writer_close(w);
        assert_int_equal(ck_load(dir), 5);
        test_rmdir(dir);
    }
}

/* ---- util/journal: a synced record after unsynced ones --------------------------- */

static int any_body(void *ctx, unsigned kind, const uint8_t *copy, size_t clen, int apply)
{
    (void)ctx, (void)kind, (void)copy, (void)clen, (void)apply;
    return 1;
}

static const util_journal_fmt plain_fmt = {0x4a545354u, 0x52545354u, 1, "test record",
                                           any_body};

/* Record A is appended without fdatasync (interval or none durability), then F with
 * one (a flush, or a batch-durability group): F's fdatasync makes A durable too and F
 * is acknowledged. Both copies of A rotting later must read as damage, never as
 * "A was never synced", which would drop the acknowledged F with it. */
static void test_journal_sync_covers_earlier_records(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[512], why[256] = "";
    snprintf(path, sizeof path, "%s/j", dir);
    util_journal j;
    util_journal_init(&j, &plain_fmt, path, 4096, 65536);
    size_t body = 40, at[3];
    for (int i = 0; i < 3; i++) { /* a snapshot that starts the file, A, then F */
        uint8_t *rec = util_jrec_alloc(body);
        assert_non_null(rec);
        memset(rec + UTIL_JREC_HDR, 'a' + i, body);
        size_t len = util_jrec_seal(&plain_fmt, rec, body, j.seq + 1, j.synced,
                                    i == 0 ? UTIL_JREC_SNAPSHOT : UTIL_JREC_DELTA);
        at[i] = (size_t)j.pos;
        assert_int_equal(util_journal_write(&j, rec, len, i != 1), 0);
        free(rec);
    }
    util_journal_close(&j);
    void *buf;
    size_t len;
    assert_int_equal(util_read_file(path, 1 << 20, &buf, &len), 0);
    uint8_t *b = buf;
    size_t copy = (at[2] - at[1]) / 2;
    b[at[1] + UTIL_JREC_HDR + 1] ^= 0x10; /* both copies of A */
    b[at[1] + copy + UTIL_JREC_HDR + 1] ^= 0x10;
    util_journal_info info;
    int rc = util_journal_scan(&plain_fmt, b, len, NULL, &info, why, sizeof why);
    printf("scan: %d, unsynced_cut %d, records %llu: %s\n", rc, info.unsynced_cut,
           (unsigned long long)info.records, why);
    assert_int_equal(rc, -EBADMSG);
    assert_int_equal(info.unsynced_cut, 0);
    free(buf);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckpt_absent_is_empty),
        cmocka_unit_test(test_journal_sync_covers_earlier_records),
        cmocka_unit_test(test_ckpt_round_trip),
        cmocka_unit_test(test_ckpt_legacy_damage_is_reported),
        cmocka_unit_test(test_ckpt_bad_sink_names),
        cmocka_unit_test(test_ckpt_replace_is_atomic),
        cmocka_unit_test(test_ckpt_writer_round_trip),
        cmocka_unit_test(test_ckpt_cut_every_byte),
        cmocka_unit_test(test_ckpt_bit_flips),
        cmocka_unit_test(test_ckpt_damaged_copy_warns),
        cmocka_unit_test(test_ckpt_legacy_converted),
        cmocka_unit_test(test_ckpt_rotation),
        cmocka_unit_test(test_ckpt_enospc_loses_nothing),
        cmocka_unit_test(test_ckpt_eio_is_fail_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

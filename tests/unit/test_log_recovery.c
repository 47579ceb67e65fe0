/* test_log_recovery.c - what log_open() does with what a crash or bit rot leaves:
 * torn and uncommitted tails are cut back to the committed end, damage below it is
 * refused with LOG_ECORRUPT naming the file and byte, and nothing is changed on disk.
 * The commit journal likewise: a torn last record is dropped, a copy damaged beside an
 * intact twin is reported and the twin used, a bad record followed by good ones is
 * LOG_ECORRUPT; a legacy COMMIT file opens and is converted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"
#include "util/bytes.h"

#define SEG "topics/t/0/00000000000000000000.log"

typedef struct fixture {
    char *dir;
    char *seg;
    char *commit;
    log_store *s;
    char err[1024];
    long long bounds[16]; /* segment size after each commit */
    int nbatches;
    unsigned char *commit3;  /* the journal as it was after the three committed batches */
    size_t commit3_len;
    test_rng rng;
} fixture;

/* One commit of n random records per batch; records the segment size after it. */
static void commit_batch(fixture *f, int n)
{
    log_txn *t = log_txn_new();
    for (int i = 0; i < n; i++) {
        char v[300];
        log_record r = {.key = "key", .key_len = 3, .value = v,
                        .value_len = (size_t)test_below(&f->rng, sizeof v),
                        .timestamp_ms = 42};
        test_fill(&f->rng, v, sizeof v);
        assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
    }
    assert_int_equal(log_commit(f->s, t), SPOOL_OK);
    log_txn_free(t);
    f->bounds[f->nbatches++] = test_file_size(f->seg);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    f->seg = test_path(f->dir, SEG);
    f->commit = test_path(f->dir, "COMMIT.journal");
    f->rng.s = test_seed("test_log_recovery");
    if (log_open(f->dir, &f->s, f->err, sizeof f->err) != SPOOL_OK ||
        log_topic_create(f->s, "t", 1, f->err, sizeof f->err) != SPOOL_OK)
        return -1;
    /* Three committed batches of 3, 5 and 4 records: offsets 0..11. */
    commit_batch(f, 3);
    commit_batch(f, 5);
    commit_batch(f, 4);
    f->commit3 = test_slurp(f->commit, &f->commit3_len);
    log_close(f->s);
    f->s = NULL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    log_close(f->s);
    test_rmdir(f->dir);
    free(f->seg);
    free(f->commit);
    free(f->commit3);
    free(f);
    return 0;
}

static int count_records(fixture *f)
{
    log_reader *r = NULL;
    log_record rec;
    int n = 0, rc;

    assert_int_equal(log_reader_open(f->s, "t", 0, 0, &r), SPOOL_OK);
    while ((rc = log_reader_next(r, &rec)) == 1) {
        assert_int_equal(rec.offset, n);
        n++;
    }
    assert_int_equal(rc, 0);
    log_reader_close(r);
    return n;
}

/* Opens, expects a clean recovery to the 12 committed records, appends one more batch
 * (whose offsets must continue at 12) and closes. */
static void expect_recovered(fixture *f, long long committed_size)
{
    int rc = log_open(f->dir, &f->s, f->err, sizeof f->err);
    if (rc != SPOOL_OK)
        fail_msg("log_open: %d %s", rc, f->err);
    assert_int_equal(test_file_size(f->seg), committed_size);
    assert_int_equal(log_end_offset(f->s, "t", 0), 12);
    assert_int_equal(count_records(f), 12);
    log_close(f->s);
    f->s = NULL;
}

/* Expects LOG_ECORRUPT naming the segment, with the file left byte for byte as it was. */
static void expect_corrupt(fixture *f, const char *must_mention)
{
    size_t before_len, after_len;
    unsigned char *before = test_slurp(f->seg, &before_len);
    unsigned char *after;
    int rc = log_open(f->dir, &f->s, f->err, sizeof f->err);

    if (rc != LOG_ECORRUPT)
        fail_msg("log_open returned %d, expected LOG_ECORRUPT (%s)", rc, f->err);
    assert_null(f->s);
    if (strstr(f->err, must_mention) == NULL)
        fail_msg("\"%s\" does not mention %s", f->err, must_mention);
    after = test_slurp(f->seg, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
}

/* Commits a fourth batch, then puts the three-batch COMMIT back: exactly what a crash
 * between the segment's fdatasync and COMMIT's rename leaves. Returns the segment. */
static unsigned char *uncommitted_fourth_batch(fixture *f, size_t *len)
{
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    commit_batch(f, 6);
    log_close(f->s);
    f->s = NULL;
    test_spit(f->commit, f->commit3, f->commit3_len);
    return test_slurp(f->seg, len);
}

static void test_uncommitted_batch_is_cut(void **state)
{
    fixture *f = *state;
    size_t len;
    unsigned char *seg = uncommitted_fourth_batch(f, &len);

    assert_true((long long)len > f->bounds[2]);
    expect_recovered(f, f->bounds[2]);
    /* The next append reuses offsets 12.. and the bytes where the cut batch was. */
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    commit_batch(f, 2);
    assert_int_equal(log_end_offset(f->s, "t", 0), 14);
    assert_int_equal(count_records(f), 14);
    free(seg);
}

/* Cuts the segment at every byte of the uncommitted fourth batch (B1.1 in small). */
static void test_torn_tail_sweep(void **state)
{
    fixture *f = *state;
    size_t len;
    unsigned char *seg = uncommitted_fourth_batch(f, &len);
    size_t committed = (size_t)f->bounds[2];

    for (size_t cut = committed; cut <= len; cut++) {
        test_spit(f->seg, seg, cut);
        expect_recovered(f, (long long)committed);
    }
    /* And one that also appends after recovery, at a cut in the middle. */
    test_spit(f->seg, seg, committed + (len - committed) / 2);
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    commit_batch(f, 1);
    assert_int_equal(count_records(f), 13);
    free(seg);
}

static void test_garbage_and_zero_tails(void **state)
{
    fixture *f = *state;
    size_t sizes[] = {1, 7, 47, 48, 4096, 65536 + 3};
    unsigned char *junk = malloc(65536 + 3);

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(junk, 0, sizes[i]);
        test_append(f->seg, junk, sizes[i]);
        expect_recovered(f, f->bounds[2]);
        test_fill(&f->rng, junk, sizes[i]);
        test_append(f->seg, junk, sizes[i]);
        expect_recovered(f, f->bounds[2]);
    }
    /* A plausible header with a lying length in the tail is a tail all the same. */
    memset(junk, 0, LOG_BATCH_HDR);
    util_put_u32(junk, LOG_BATCH_MAGIC);
    util_put_u32(junk + 8, UINT32_MAX);
    test_append(f->seg, junk, LOG_BATCH_HDR);
    expect_recovered(f, f->bounds[2]);
    free(junk);
}

/* Any flipped bit below the committed end is refused, named, and left alone. */
static void test_bit_flip_in_committed_batch(void **state)
{
    fixture *f = *state;
    long long size = f->bounds[2];

    for (int i = 0; i < 200; i++) {
        long long at = (long long)test_below(&f->rng, (uint64_t)size);
        unsigned char mask = (unsigned char)(1u << test_below(&f->rng, 8));
        test_flip(f->seg, at, mask);
        expect_corrupt(f, SEG);
        assert_non_null(strstr(f->err, "byte"));
        assert_non_null(strstr(f->err, "offset"));
        test_flip(f->seg, at, mask);
    }
    /* In the middle batch, the message names that batch's byte and first offset. */
    test_flip(f->seg, f->bounds[0] + LOG_BATCH_HDR + 2, 0x10);
    expect_corrupt(f, "at byte ");
    {
        char want[64];
        snprintf(want, sizeof want, "at byte %lld (offset 3,", f->bounds[0]);
        if (strstr(f->err, want) == NULL)
            fail_msg("\"%s\" lacks \"%s\"", f->err, want);
    }
    test_flip(f->seg, f->bounds[0] + LOG_BATCH_HDR + 2, 0x10);
    expect_recovered(f, f->bounds[2]);
}

static void test_lying_length_in_committed_batch(void **state)
{
    fixture *f = *state;
    uint32_t lies[] = {0, 1, LOG_BATCH_HDR - 1, UINT32_MAX, LOG_MAX_BATCH_BYTES + 1,
                       (uint32_t)(f->bounds[2] - f->bounds[0] + 1), /* past committed end */
                       (uint32_t)(f->bounds[2] + 100000)};          /* past EOF */
    long long at = f->bounds[0] + 8; /* the second batch's length field */
    size_t len;
    unsigned char *orig = test_slurp(f->seg, &len);

    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        unsigned char le[4];
        util_put_u32(le, lies[i]);
        int fd = open(f->seg, O_RDWR);
        assert_int_equal(pwrite(fd, le, 4, at), 4);
        close(fd);
        expect_corrupt(f, SEG);
        test_spit(f->seg, orig, len);
    }
    expect_recovered(f, f->bounds[2]);
    free(orig);
}

static void test_committed_data_missing(void **state)
{
    fixture *f = *state;
    size_t len;
    unsigned char *orig = test_slurp(f->seg, &len);

    /* Shorter than COMMIT says, at a batch boundary and inside a batch. */
    test_spit(f->seg, orig, (size_t)f->bounds[1]);
    expect_corrupt(f, "missing");
    test_spit(f->seg, orig, (size_t)f->bounds[2] - 1);
    expect_corrupt(f, SEG);
    test_spit(f->seg, orig, len);

    /* A vanished segment or TOPIC. */
    {
        char *moved = test_path(f->dir, "moved.log");
        assert_int_equal(rename(f->seg, moved), 0);
        assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), LOG_ECORRUPT);
        assert_non_null(strstr(f->err, SEG));
        assert_int_equal(rename(moved, f->seg), 0);
        free(moved);
    }
    {
        char *topic = test_path(f->dir, "topics/t/TOPIC"), *moved = test_path(f->dir, "T");
        assert_int_equal(rename(topic, moved), 0);
        assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), LOG_ECORRUPT);
        assert_non_null(strstr(f->err, "TOPIC"));
        assert_int_equal(rename(moved, topic), 0);
        free(topic);
        free(moved);
    }
    expect_recovered(f, f->bounds[2]);
    free(orig);
}

static void count_warning(void *ctx, const char *msg)
{
    (void)msg;
    (*(int *)ctx)++;
}

/* The byte ranges of the records in a journal image: start of copy A, padded copy
 * length (copy B starts at start + plen). Returns the count. */
static int journal_records(const unsigned char *j, size_t len, size_t *start, size_t *plen,
                           int max)
{
    size_t pos = LOG_JOURNAL_HDR;
    int n = 0;

    while (n < max && pos + LOG_JREC_HDR <= len && util_get_u32(j + pos) == LOG_JOURNAL_REC_MAGIC) {
        start[n] = pos;
        plen[n] = (util_get_u32(j + pos + 8) + 7) & ~(size_t)7;
        pos += 2 * plen[n];
        n++;
    }
    return n;
}

static void test_damaged_journal(void **state)
{
    fixture *f = *state;
    size_t len, start[8], plen[8];
    unsigned char *orig = test_slurp(f->commit, &len);
    int n = journal_records(orig, len, start, plen, 8), silent = 0, reported = 0;
    size_t end;
    log_open_opts o = {0};
    int warnings = 0;

    o.warn = count_warning;
    o.warn_ctx = &warnings;
    /* The first open's snapshot and three deltas, each written twice. */
    assert_int_equal(n, 4);
    end = start[n - 1] + 2 * plen[n - 1];
    for (size_t at = 0; at < end; at++) {
        unsigned char *c = malloc(len);
        memcpy(c, orig, len);
        c[at] ^= (unsigned char)(1u << (at % 8));
        test_spit(f->commit, c, len);
        if (at < LOG_JOURNAL_HDR) {
            expect_corrupt(f, "COMMIT.journal");
            assert_non_null(strstr(f->err, "header"));
        } else {
            /* One copy of one record: the twin holds it, nothing is lost, and the
             * damage is reported unless it only looks like an unwritten sector (a
             * byte of the last record's second copy turned to zero). */
            warnings = 0;
            if (log_open_ex(f->dir, &o, &f->s, f->err, sizeof f->err) != SPOOL_OK)
                fail_msg("flip at journal byte %zu: %s", at, f->err);
            assert_int_equal(log_end_offset(f->s, "t", 0), 12);
            assert_int_equal(count_records(f), 12);
            log_close(f->s);
            f->s = NULL;
            if (warnings == 0) {
                if (!(at >= start[n - 1] + plen[n - 1] && c[at] == 0))
                    fail_msg("flip at journal byte %zu (0x%02x) not reported", at, c[at]);
                silent++;
            } else {
                reported++;
            }
        }
        free(c);
    }
    fprintf(stderr, "journal flips: %d reported, %d read as a torn zero sector\n", reported,
            silent);
    /* Both copies of the second delta bad, the third after it valid: damage. */
    {
        unsigned char *c = malloc(len);
        memcpy(c, orig, len);
        c[start[2] + 20] ^= 1;
        c[start[2] + plen[2] + 20] ^= 1;
        test_spit(f->commit, c, len);
        expect_corrupt(f, "COMMIT.journal");
        assert_non_null(strstr(f->err, "byte"));
        assert_int_equal(log_verify(f->dir, 0, NULL, NULL, f->err, sizeof f->err),
                         LOG_ECORRUPT);
        free(c);
    }
    /* Gone entirely while segments hold data: lost, not empty. */
    assert_int_equal(unlink(f->commit), 0);
    expect_corrupt(f, "missing");
    test_spit(f->commit, orig, len);
    expect_recovered(f, f->bounds[2]);
    free(orig);
}

/* A crash while appending the last record: cut anywhere in it, or its bytes zero from
 * there on (the file is zero-filled), and the journal ends at the previous record
 * unless a whole first copy made it. Never an error. */
static void test_torn_journal_tail(void **state)
{
    fixture *f = *state;
    size_t len, start[8], plen[8];
    unsigned char *orig = test_slurp(f->commit, &len);
    int n = journal_records(orig, len, start, plen, 8);
    size_t seg_len;
    unsigned char *seg = test_slurp(f->seg, &seg_len);

    assert_int_equal(n, 4);
    for (size_t cut = start[3]; cut <= start[3] + 2 * plen[3]; cut++) {
        test_spit(f->seg, seg, seg_len);
        for (int zeros = 0; zeros < 2; zeros++) {
            unsigned char *c = calloc(1, len);
            size_t clen = util_get_u32(orig + start[3] + 8), need = clen;
            /* Over a zero-filled file, losing bytes that were zeros loses nothing. */
            while (zeros && need > 0 && orig[start[3] + need - 1] == 0)
                need--;
            int whole = cut >= start[3] + need;
            memcpy(c, orig, cut);
            test_spit(f->commit, c, zeros ? len : cut);
            if (log_open(f->dir, &f->s, f->err, sizeof f->err) != SPOOL_OK)
                fail_msg("journal cut at %zu: %s", cut, f->err);
            if (log_end_offset(f->s, "t", 0) != (whole ? 12 : 8))
                fail_msg("journal cut at %zu (record at %zu, plen %zu, zeros %d): end %lld",
                         cut, start[3], plen[3], zeros, (long long)log_end_offset(f->s, "t", 0));
            assert_int_equal(test_file_size(f->seg), whole ? f->bounds[2] : f->bounds[1]);
            assert_int_equal(count_records(f), whole ? 12 : 8);
            log_close(f->s);
            f->s = NULL;
            free(c);
            test_spit(f->seg, seg, seg_len);
        }
    }
    free(seg);
    free(orig);
}

/* A data directory of the previous release (COMMIT version 2, no journal): a read-only
 * open reads it and changes nothing; the first writable open converts it. */
static void test_legacy_commit_converted(void **state)
{
    fixture *f = *state;
    char *legacy = test_path(f->dir, "COMMIT");
    log_commit_image img;
    log_journal_info info;
    uint8_t *buf = NULL;
    size_t len = 0;
    log_open_opts ro = {.read_only = 1};

    assert_int_equal(log_commit_load(f->dir, 0, &img, &info, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(info.found, 2);
    assert_int_equal(log_commit_image_encode_img(&img, &buf, &len), SPOOL_OK);
    log_commit_image_free(&img);
    test_spit(legacy, buf, len);
    free(buf);
    assert_int_equal(unlink(f->commit), 0);

    assert_int_equal(log_open_ex(f->dir, &ro, &f->s, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_end_offset(f->s, "t", 0), 12);
    assert_int_equal(count_records(f), 12);
    log_close(f->s);
    f->s = NULL;
    assert_true(test_file_size(legacy) > 0);
    assert_true(test_file_size(f->commit) < 0);
    assert_int_equal(log_verify(f->dir, 0, NULL, NULL, f->err, sizeof f->err), SPOOL_OK);

    expect_recovered(f, f->bounds[2]);
    assert_true(test_file_size(legacy) < 0);
    assert_true(test_file_size(f->commit) > 0);
    assert_int_equal(log_commit_load(f->dir, 0, &img, &info, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(info.found, 2);
    assert_int_equal(img.count, 1);
    assert_int_equal(img.entries[0].end_offset, 12);
    log_commit_image_free(&img);
    free(legacy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_uncommitted_batch_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_and_zero_tails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flip_in_committed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lying_length_in_committed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_data_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_journal_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_commit_converted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

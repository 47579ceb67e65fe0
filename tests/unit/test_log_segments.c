/* test_log_segments.c - segments, the sparse index, retention, topic deletion,
 * durability modes, read-only opens and verify/repair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>

#include "ckpt/ckpt.h"
#include "log/log_int.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"

typedef struct fixture {
    char *dir;
    log_store *s;
    char err[1024];
    test_rng rng;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    f->rng.s = test_seed("test_log_segments");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    log_close(f->s);
    test_rmdir(f->dir);
    free(f);
    return 0;
}

static void quiet(void *ctx, const char *msg)
{
    int *n = ctx;
    (void)msg;
    if (n)
        (*n)++;
}

static void open_store(fixture *f, int read_only, int *warnings)
{
    log_open_opts o = {.read_only = read_only, .warn = quiet, .warn_ctx = warnings};
    log_close(f->s);
    f->s = NULL;
    if (log_open_ex(f->dir, &o, &f->s, f->err, sizeof f->err) != SPOOL_OK)
        fail_msg("open: %s", f->err);
}

static void create(fixture *f, const char *topic, int64_t seg_bytes, log_durability d)
{
    log_topic_config c;
    log_topic_config_init(&c);
    c.segment_bytes = seg_bytes;
    c.durability = d;
    assert_int_equal(log_topic_create_ex(f->s, topic, &c, f->err, sizeof f->err), SPOOL_OK);
}

/* n records of ~100 bytes whose value is "<offset>" padded, each commit one txn. */
static void produce(fixture *f, const char *topic, int n, int per_commit, int64_t ts)
{
    log_txn *t = log_txn_new();
    for (int i = 0; i < n; i++) {
        char v[128];
        int64_t off = log_end_offset(f->s, topic, 0) + (int64_t)log_txn_count(t);
        log_record r = {.value = v, .timestamp_ms = ts};
        snprintf(v, sizeof v, "%lld-%080d", (long long)off, 0);
        r.value_len = strlen(v);
        assert_int_equal(log_txn_add(t, topic, 0, &r), SPOOL_OK);
        if ((i + 1) % per_commit == 0 || i + 1 == n)
            assert_int_equal(log_commit(f->s, t), SPOOL_OK);
    }
    log_txn_free(t);
}

/* Reads from offset to the end, checking each value names its offset; returns count. */
static int64_t check_read(fixture *f, const char *topic, int64_t from)
{
    log_reader *r = NULL;
    log_record rec;
    int64_t n = 0, want = from < log_start_offset(f->s, topic, 0)
                             ? log_start_offset(f->s, topic, 0) : from;
    int rc;
    assert_int_equal(log_reader_open(f->s, topic, 0, from, &r), SPOOL_OK);
    while ((rc = log_reader_next(r, &rec)) == 1) {
        assert_int_equal(rec.offset, want);
        assert_int_equal(strtoll(rec.value, NULL, 10), want);
        want++;
        n++;
    }
    if (rc != 0)
        fail_msg("read: %s", log_reader_error(r));
    if (from <= log_end_offset(f->s, topic, 0))
        assert_int_equal(want, log_end_offset(f->s, topic, 0));
    else
        assert_int_equal(n, 0);
    log_reader_close(r);
    return n;
}

static void test_roll_index_and_seek(void **state)
{
    fixture *f = *state;
    log_segment_info *segs = NULL;
    size_t n = 0;

    open_store(f, 0, NULL);
    create(f, "t", 4096, LOG_DURABILITY_BATCH);
    produce(f, "t", 600, 7, 1000);
    assert_int_equal(log_partition_segments(f->s, "t", 0, &segs, &n), SPOOL_OK);
    assert_true(n > 10);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(segs[i].end, segs[i + 1].base);
        assert_true(segs[i].sealed);
        assert_true(segs[i].bytes <= 4096);
    }
    free(segs);
    for (int i = 0; i < 50; i++)
        check_read(f, "t", (int64_t)test_below(&f->rng, 620));
    /* Reopen: sealed segments come back by their index, the active by a scan. */
    open_store(f, 0, NULL);
    assert_int_equal(log_end_offset(f->s, "t", 0), 600);
    for (int i = 0; i < 20; i++)
        check_read(f, "t", (int64_t)test_below(&f->rng, 600));
    produce(f, "t", 30, 30, 1000);
    assert_int_equal(check_read(f, "t", 0), 630);
}

static void test_index_damage_is_rebuilt(void **state)
{
    fixture *f = *state;
    char *idx = test_path(f->dir, "topics/t/0/00000000000000000000.index");
    int warnings = 0;

    open_store(f, 0, NULL);
    create(f, "t", 2048, LOG_DURABILITY_BATCH);
    produce(f, "t", 300, 5, 1000);
    log_close(f->s);
    f->s = NULL;
    for (int mode = 0; mode < 4; mode++) {
        size_t len = 0;
        unsigned char *b = test_slurp(idx, &len);
        assert_non_null(b);
        if (mode == 0)
            unlink(idx);
        else if (mode == 1)
            test_spit(idx, b, len / 2);
        else if (mode == 2) {
            memset(b, 0, len);
            test_spit(idx, b, len);
        } else {
            test_fill(&f->rng, b + 16, len - 16);
            test_spit(idx, b, len);
        }
        free(b);
        warnings = 0;
        open_store(f, 0, &warnings);
        assert_int_equal(warnings, 1);
        assert_int_equal(check_read(f, "t", 0), 300);
        for (int i = 0; i < 20; i++)
            check_read(f, "t", (int64_t)test_below(&f->rng, 300));
        log_close(f->s);
        f->s = NULL;
        assert_true(test_file_size(idx) > 0); /* written again */
    }
    free(idx);
}

static void test_retention_by_size_and_time(void **state)
{
    fixture *f = *state;
    log_topic_config c;
    log_segment_info *segs = NULL;
    size_t n = 0;
    uint64_t total = 0;

    open_store(f, 0, NULL);
    log_topic_config_init(&c);
    c.segment_bytes = 2048;
    c.retention_bytes = 8192;
    assert_int_equal(log_topic_create_ex(f->s, "s", &c, f->err, sizeof f->err), SPOOL_OK);
    produce(f, "s", 500, 5, 1000);
    assert_int_equal(log_retention_run(f->s, 2000), SPOOL_OK);
    assert_int_equal(log_partition_segments(f->s, "s", 0, &segs, &n), SPOOL_OK);
    for (size_t i = 0; i < n; i++)
        total += segs[i].bytes;
    assert_true(total >= 8192 && total - segs[0].bytes < 8192);
    assert_int_equal(log_start_offset(f->s, "s", 0), segs[0].base);
    assert_true(segs[0].base > 0);
    free(segs);
    check_read(f, "s", 0); /* clamps to the start */
    /* The start survives a reopen; deleted files are gone. */
    open_store(f, 0, NULL);
    assert_true(log_start_offset(f->s, "s", 0) > 0);
    check_read(f, "s", 0);

    /* By time: records stamped 1000, retention 10 s, now 20 s: all sealed go. */
    log_topic_config_init(&c);
    c.segment_bytes = 2048;
    c.retention_ms = 10000;
    assert_int_equal(log_topic_create_ex(f->s, "tm", &c, f->err, sizeof f->err), SPOOL_OK);
    produce(f, "tm", 200, 5, 1000);
    assert_int_equal(log_retention_run(f->s, 5000), SPOOL_OK);
    assert_int_equal(log_start_offset(f->s, "tm", 0), 0);
    assert_int_equal(log_retention_run(f->s, 20000), SPOOL_OK);
    assert_int_equal(log_partition_segments(f->s, "tm", 0, &segs, &n), SPOOL_OK);
    assert_int_equal(n, 1); /* only the active one is left */
    assert_int_equal(log_start_offset(f->s, "tm", 0), segs[0].base);
    free(segs);
}

static void test_retention_keeps_unconsumed(void **state)
{
    fixture *f = *state;
    log_topic_config c;
    ckpt ck = {0};

    open_store(f, 0, NULL);
    log_topic_config_init(&c);
    c.segment_bytes = 2048;
    c.retention_bytes = 2048;
    c.keep_unconsumed = 1;
    assert_int_equal(log_topic_create_ex(f->s, "k", &c, f->err, sizeof f->err), SPOOL_OK);
    produce(f, "k", 300, 5, 1000);
    assert_int_equal(ckpt_set(&ck, "k", 0, 0), SPOOL_OK);
    assert_int_equal(ckpt_save(f->dir, "sink-a", &ck, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_retention_run(f->s, 2000), SPOOL_OK);
    assert_int_equal(log_start_offset(f->s, "k", 0), 0); /* sink-a has read nothing */
    assert_int_equal(ckpt_set(&ck, "k", 0, 100), SPOOL_OK);
    assert_int_equal(ckpt_save(f->dir, "sink-a", &ck, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_retention_run(f->s, 2000), SPOOL_OK);
    assert_true(log_start_offset(f->s, "k", 0) > 0);
    assert_true(log_start_offset(f->s, "k", 0) <= 100);
    ckpt_clear(&ck);
}

static int retention_kill_op;
static int retention_hook(void *ctx, log_io_op op, const char *path)
{
    (void)ctx;
    (void)path;
    return op == (log_io_op)retention_kill_op ? EIO : 0;
}

static void test_retention_crash_points(void **state)
{
    fixture *f = *state;
    log_topic_config c;

    /* A failing unlink after COMMIT leaves files below the start; reopen removes them. */
    open_store(f, 0, NULL);
    log_topic_config_init(&c);
    c.segment_bytes = 2048;
    c.retention_bytes = 4096;
    assert_int_equal(log_topic_create_ex(f->s, "r", &c, f->err, sizeof f->err), SPOOL_OK);
    produce(f, "r", 300, 5, 1000);
    retention_kill_op = LOG_IO_UNLINK;
    log_set_fault(f->s, retention_hook, NULL);
    log_retention_run(f->s, 2000);
    log_set_fault(f->s, NULL, NULL);
    int64_t start = log_start_offset(f->s, "r", 0);
    assert_true(start > 0);
    assert_non_null(strstr(f->dir, "spool-test"));
    open_store(f, 0, NULL);
    assert_int_equal(log_start_offset(f->s, "r", 0), start);
    check_read(f, "r", 0);
    char *first = test_path(f->dir, "topics/r/0/00000000000000000000.log");
    assert_int_equal(test_file_size(first), -1);
    free(first);
}

static void test_delete_topic(void **state)
{
    fixture *f = *state;

    open_store(f, 0, NULL);
    create(f, "gone", 2048, LOG_DURABILITY_BATCH);
    create(f, "stays", 2048, LOG_DURABILITY_BATCH);
    produce(f, "gone", 100, 10, 1);
    produce(f, "stays", 100, 10, 1);
    assert_int_equal(log_topic_delete(f->s, "gone", f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_topic_partitions(f->s, "gone"), -1);
    assert_int_equal(log_topic_delete(f->s, "gone", f->err, sizeof f->err), LOG_ENOTOPIC);
    open_store(f, 0, NULL);
    assert_int_equal(log_topic_partitions(f->s, "gone"), -1);
    assert_int_equal(check_read(f, "stays", 0), 100);
    /* The name is free again, and empty. */
    create(f, "gone", 2048, LOG_DURABILITY_BATCH);
    assert_int_equal(log_end_offset(f->s, "gone", 0), 0);
}

static void test_read_only_open(void **state)
{
    fixture *f = *state;
    char *seg = test_path(f->dir, "topics/t/0/00000000000000000000.log");
    log_store *ro = NULL;
    log_open_opts o = {.read_only = 1};
    long long size;

    open_store(f, 0, NULL);
    create(f, "t", 1 << 20, LOG_DURABILITY_BATCH);
    produce(f, "t", 50, 10, 1);
    /* Beside the writer (which holds the lock), with an uncommitted tail on disk. */
    test_append(seg, "garbage", 7);
    size = test_file_size(seg);
    assert_int_equal(log_open_ex(f->dir, &o, &ro, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_end_offset(ro, "t", 0), 50);
    assert_int_equal(test_file_size(seg), size); /* never truncates */
    assert_int_equal(log_topic_create(ro, "x", 1, f->err, sizeof f->err), SPOOL_EINVAL);
    log_close(ro);
    free(seg);
}

static void test_durability_modes(void **state)
{
    fixture *f = *state;
    char *seg = test_path(f->dir, "topics/n/0/00000000000000000000.log");
    int warnings = 0;

    open_store(f, 0, NULL);
    create(f, "n", 1 << 20, LOG_DURABILITY_NONE);
    create(f, "i", 1 << 20, LOG_DURABILITY_INTERVAL);
    create(f, "b", 1 << 20, LOG_DURABILITY_BATCH);
    produce(f, "n", 40, 10, 1);
    produce(f, "i", 40, 10, 1);
    produce(f, "b", 40, 10, 1);
    assert_int_equal(check_read(f, "n", 0), 40);
    assert_int_equal(log_flush(f->s), SPOOL_OK);
    produce(f, "n", 20, 10, 1);
    /* A machine crash lost what was not fdatasynced: the segment lost its tail. */
    long long size = test_file_size(seg);
    log_close(f->s); /* flushes; simulate the loss afterwards by hand */
    f->s = NULL;
    {
        size_t len;
        unsigned char *b = test_slurp(seg, &len);
        test_spit(seg, b, (size_t)size - 30);
        free(b);
    }
    /* COMMIT (from close) says durable up to 60: that loss is damage even for "none". */
    log_open_opts o = {.warn = quiet, .warn_ctx = &warnings};
    assert_int_equal(log_open_ex(f->dir, &o, &f->s, f->err, sizeof f->err), LOG_ECORRUPT);
    free(seg);
}

static void test_none_loss_past_durable_is_tolerated(void **state)
{
    fixture *f = *state;
    char *seg = test_path(f->dir, "topics/n/0/00000000000000000000.log");
    char *commit = test_path(f->dir, "COMMIT.journal");
    int warnings = 0;
    size_t clen = 0, len = 0;

    open_store(f, 0, NULL);
    create(f, "n", 1 << 20, LOG_DURABILITY_NONE);
    produce(f, "n", 40, 10, 1);
    assert_int_equal(log_flush(f->s), SPOOL_OK);
    long long durable_size = test_file_size(seg);
    produce(f, "n", 20, 10, 1); /* not durable: COMMIT says end 60, durable 40 */
    unsigned char *c = test_slurp(commit, &clen);
    unsigned char *b = test_slurp(seg, &len);
    log_close(f->s); /* would flush: put back the pre-close state */
    f->s = NULL;
    test_spit(commit, c, clen);
    test_spit(seg, b, (size_t)durable_size + 10); /* the power cut kept a torn bit */
    open_store(f, 0, &warnings);
    assert_int_equal(warnings, 1);
    assert_int_equal(log_end_offset(f->s, "n", 0), 40);
    assert_int_equal(check_read(f, "n", 0), 40);
    produce(f, "n", 5, 5, 1);
    assert_int_equal(check_read(f, "n", 0), 45);
    free(c);
    free(b);
    free(seg);
    free(commit);
}

static void count_damage(void *ctx, const log_finding *fd)
{
    int *n = ctx;
    if (fd->kind == 1)
        (*n)++;
}

static void test_verify_and_repair(void **state)
{
    fixture *f = *state;
    char *seg = test_path(f->dir, "topics/t/0/00000000000000000000.log");
    int damage = 0;

    open_store(f, 0, NULL);
    create(f, "t", 4096, LOG_DURABILITY_BATCH);
    produce(f, "t", 300, 5, 1);
    assert_int_equal(log_verify(f->dir, 0, count_damage, &damage, f->err, sizeof f->err),
                     SPOOL_OK);
    assert_int_equal(damage, 0);
    test_flip(seg, 3000, 0x10); /* inside a sealed segment */
    assert_int_equal(log_verify(f->dir, 0, count_damage, &damage, f->err, sizeof f->err),
                     LOG_ECORRUPT);
    assert_int_equal(damage, 1);
    /* Repair needs the lock. */
    assert_int_equal(log_verify(f->dir, 1, NULL, NULL, f->err, sizeof f->err), LOG_ELOCKED);
    log_close(f->s);
    f->s = NULL;
    assert_int_equal(log_verify(f->dir, 1, NULL, NULL, f->err, sizeof f->err), SPOOL_OK);
    damage = 0;
    assert_int_equal(log_verify(f->dir, 0, count_damage, &damage, f->err, sizeof f->err),
                     SPOOL_OK);
    open_store(f, 0, NULL);
    int64_t end = log_end_offset(f->s, "t", 0);
    assert_true(end > 0 && end < 300);
    assert_int_equal(check_read(f, "t", 0), end);
    char *q = test_path(f->dir, "quarantine/t/0/00000000000000000000.log");
    assert_true(test_file_size(q) > 0);
    free(q);
    free(seg);
}

/* A reader follows a writer through rolls while the maintenance thread runs retention
 * and interval flushes (for ThreadSanitizer: the test is labelled threads). */
typedef struct follow {
    log_store *s;
    int64_t total;
    int64_t seen;
    int ok;
} follow;

static void *follower(void *arg)
{
    follow *fl = arg;
    log_reader *r = NULL;
    log_record rec;
    int64_t last = -1;

    if (log_reader_open(fl->s, "c", 0, 0, &r) != SPOOL_OK)
        return NULL;
    while (fl->seen < fl->total) {
        uint64_t seq = log_commit_seq(fl->s);
        int rc = log_reader_next(r, &rec);
        if (rc < 0)
            break;
        if (rc == 0) {
            log_wait(fl->s, seq, 100);
            continue;
        }
        /* Retention may skip us forward, never backward. */
        if (rec.offset <= last || strtoll(rec.value, NULL, 10) != rec.offset)
            break;
        last = rec.offset;
        fl->seen = rec.offset + 1;
    }
    fl->ok = fl->seen == fl->total;
    log_reader_close(r);
    return NULL;
}

static void test_concurrent_roll_retention_read(void **state)
{
    fixture *f = *state;
    log_open_opts o = {.maintain_ms = 1, .warn = quiet};
    log_topic_config c;
    follow fl = {0};
    pthread_t th;

    assert_int_equal(log_open_ex(f->dir, &o, &f->s, f->err, sizeof f->err), SPOOL_OK);
    log_topic_config_init(&c);
    c.segment_bytes = 2048;
    c.retention_bytes = 4096;
    c.durability = LOG_DURABILITY_INTERVAL;
    c.flush_interval_ms = 1;
    assert_int_equal(log_topic_create_ex(f->s, "c", &c, f->err, sizeof f->err), SPOOL_OK);
    fl.s = f->s;
    fl.total = 2000;
    assert_int_equal(pthread_create(&th, NULL, follower, &fl), 0);
    produce(f, "c", 2000, 3, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(fl.ok);
    assert_int_equal(log_retention_run(f->s, 2), SPOOL_OK);
    assert_true(log_start_offset(f->s, "c", 0) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roll_index_and_seek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_damage_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_size_and_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_keeps_unconsumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_crash_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_none_loss_past_durable_is_tolerated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_and_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_roll_retention_read, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

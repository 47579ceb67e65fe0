/* test_log_store.c - the store end to end: topics, commit, committed reads, readers at
 * independent offsets, reopen, source positions, the directory lock, log_wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "log/log.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"

typedef struct fixture {
    char *dir;
    log_store *s;
    char err[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    if (log_open(f->dir, &f->s, f->err, sizeof f->err) != SPOOL_OK) {
        fprintf(stderr, "log_open: %s\n", f->err);
        return -1;
    }
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

static void reopen(fixture *f)
{
    log_close(f->s);
    f->s = NULL;
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
}

/* Commits n records "v<i>" with key "k<i>" (i from first) to topic/partition. */
static void put_n(fixture *f, const char *topic, int32_t part, int first, int n)
{
    log_txn *t = log_txn_new();
    for (int i = first; i < first + n; i++) {
        char k[32], v[32];
        log_record r = {0};
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        r.key = k;
        r.key_len = strlen(k);
        r.value = v;
        r.value_len = strlen(v);
        r.timestamp_ms = 1000 + i;
        assert_int_equal(log_txn_add(t, topic, part, &r), SPOOL_OK);
    }
    assert_int_equal(log_txn_count(t), (size_t)n);
    assert_int_equal(log_commit(f->s, t), SPOOL_OK);
    assert_int_equal(log_txn_count(t), 0);
    log_txn_free(t);
}

/* Reads from offset to the committed end, checking "v<i>" values; returns the count. */
static int read_check(fixture *f, const char *topic, int32_t part, int64_t from)
{
    log_reader *r = NULL;
    log_record rec;
    int n = 0, rc;

    assert_int_equal(log_reader_open(f->s, topic, part, from, &r), SPOOL_OK);
    while ((rc = log_reader_next(r, &rec)) == 1) {
        char v[32];
        snprintf(v, sizeof v, "v%lld", (long long)rec.offset);
        assert_int_equal(rec.offset, from + n);
        assert_int_equal(rec.value_len, strlen(v));
        assert_memory_equal(rec.value, v, rec.value_len);
        assert_int_equal(rec.timestamp_ms, 1000 + rec.offset);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(log_reader_offset(r), from + n);
    log_reader_close(r);
    return n;
}

static void test_topic_create(void **state)
{
    fixture *f = *state;

    assert_int_equal(log_topic_partitions(f->s, "events"), -1);
    assert_int_equal(log_topic_create(f->s, "events", 4, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_topic_partitions(f->s, "events"), 4);
    assert_int_equal(log_topic_create(f->s, "events", 4, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_topic_create(f->s, "events", 5, f->err, sizeof f->err),
                     SPOOL_EINVAL);
    assert_non_null(strstr(f->err, "4 partitions"));
    assert_int_equal(log_topic_create(f->s, "../x", 1, f->err, sizeof f->err), SPOOL_EINVAL);
    assert_int_equal(log_topic_create(f->s, "x", 0, f->err, sizeof f->err), SPOOL_EINVAL);
    for (int p = 0; p < 4; p++) {
        assert_int_equal(log_end_offset(f->s, "events", p), 0);
        assert_int_equal(log_start_offset(f->s, "events", p), 0);
    }
    assert_int_equal(log_end_offset(f->s, "events", 4), -1);
    assert_int_equal(log_end_offset(f->s, "nope", 0), -1);
    char *seg = test_path(f->dir, "topics/events/3/00000000000000000000.log");
    char *tf = test_path(f->dir, "topics/events/TOPIC");
    assert_int_equal(test_file_size(seg), 0);
    assert_true(test_file_size(tf) > 0);
    free(seg);
    free(tf);
    reopen(f);
    assert_int_equal(log_topic_partitions(f->s, "events"), 4);
}

static void test_round_trip_keys_nulls_headers(void **state)
{
    fixture *f = *state;
    log_txn *t = log_txn_new();
    log_header h[3] = {{"trace", 5, "abc", 3}, {"empty", 5, "", 0}, {"null", 4, NULL, 0}};
    log_record in[4] = {0};
    log_reader *r = NULL;
    log_record out;

    assert_int_equal(log_topic_create(f->s, "t", 1, f->err, sizeof f->err), SPOOL_OK);
    in[0] = (log_record){.key = "key", .key_len = 3, .value = "value", .value_len = 5,
                         .timestamp_ms = 5};
    in[1] = (log_record){.key = NULL, .value = NULL, .timestamp_ms = -7};  /* tombstone, no key */
    in[2] = (log_record){.key = "", .key_len = 0, .value = "", .value_len = 0,
                         .headers = h, .header_count = 3, .timestamp_ms = 1LL << 40};
    in[3] = (log_record){.key = "k", .key_len = 1, .value = NULL, .headers = h,
                         .header_count = 1, .timestamp_ms = 0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(log_txn_add(t, "t", 0, &in[i]), SPOOL_OK);
    /* Not visible before commit. */
    assert_int_equal(log_end_offset(f->s, "t", 0), 0);
    assert_int_equal(log_reader_open(f->s, "t", 0, 0, &r), SPOOL_OK);
    assert_int_equal(log_reader_next(r, &out), 0);
    assert_int_equal(log_commit(f->s, t), SPOOL_OK);
    assert_int_equal(log_end_offset(f->s, "t", 0), 4);

    for (int i = 0; i < 4; i++) {
        assert_int_equal(log_reader_next(r, &out), 1);
        assert_int_equal(out.offset, i);
        assert_true(out.timestamp_ms == in[i].timestamp_ms);
        assert_true((out.key == NULL) == (in[i].key == NULL));
        assert_true((out.value == NULL) == (in[i].value == NULL));
        assert_int_equal(out.key_len, in[i].key_len);
        assert_int_equal(out.value_len, in[i].value_len);
        if (in[i].key_len)
            assert_memory_equal(out.key, in[i].key, in[i].key_len);
        if (in[i].value_len)
            assert_memory_equal(out.value, in[i].value, in[i].value_len);
        assert_int_equal(out.header_count, in[i].header_count);
        for (size_t j = 0; j < out.header_count; j++) {
            assert_int_equal(out.headers[j].key_len, h[j].key_len);
            assert_memory_equal(out.headers[j].key, h[j].key, h[j].key_len);
            assert_true((out.headers[j].value == NULL) == (h[j].value == NULL));
            assert_int_equal(out.headers[j].value_len, h[j].value_len);
            if (h[j].value_len)
                assert_memory_equal(out.headers[j].value, h[j].value, h[j].value_len);
        }
    }
    assert_int_equal(log_reader_next(r, &out), 0);
    log_reader_close(r);

    /* Invalid records are refused before anything is queued. */
    log_header bad = {NULL, 0, "x", 1};
    log_record br = {.headers = &bad, .header_count = 1};
    assert_int_equal(log_txn_add(t, "t", 0, &br), SPOOL_EINVAL);
    br = (log_record){.header_count = LOG_MAX_HEADERS + 1, .headers = h};
    assert_int_equal(log_txn_add(t, "t", 0, &br), SPOOL_EINVAL);
    assert_int_equal(log_txn_add(t, "t", -1, &in[0]), SPOOL_EINVAL);
    assert_int_equal(log_txn_count(t), 0);
    log_txn_free(t);
}

static void test_readers_at_independent_offsets(void **state)
{
    fixture *f = *state;
    log_reader *r[5] = {0};
    int64_t starts[5] = {-3, 0, 17, 49, 60};
    int got[5] = {0};
    log_record rec;

    assert_int_equal(log_topic_create(f->s, "t", 2, f->err, sizeof f->err), SPOOL_OK);
    /* Several batches, so seeking has to skip some by header. */
    for (int b = 0; b < 10; b++)
        put_n(f, "t", 1, b * 5, 5);
    assert_int_equal(log_end_offset(f->s, "t", 1), 50);
    assert_int_equal(log_end_offset(f->s, "t", 0), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(log_reader_open(f->s, "t", 1, starts[i], &r[i]), SPOOL_OK);
    /* Interleave the readers one record at a time. */
    for (int round = 0; round < 60; round++) {
        for (int i = 0; i < 5; i++) {
            int64_t expect = (starts[i] < 0 ? 0 : starts[i]) + got[i];
            int rc = log_reader_next(r[i], &rec);
            if (expect >= 50) {
                assert_int_equal(rc, 0);
                continue;
            }
            assert_int_equal(rc, 1);
            assert_int_equal(rec.offset, expect);
            got[i]++;
        }
    }
    assert_int_equal(got[0], 50);
    assert_int_equal(got[2], 33);
    assert_int_equal(got[3], 1);
    assert_int_equal(got[4], 0);
    /* A reader past the end sees new data once it is committed. */
    put_n(f, "t", 1, 50, 20);
    assert_int_equal(log_reader_next(r[4], &rec), 1);
    assert_int_equal(rec.offset, 60);
    for (int i = 0; i < 5; i++)
        log_reader_close(r[i]);
    assert_int_equal(read_check(f, "t", 1, 0), 70);
    assert_int_equal(log_reader_open(f->s, "t", 2, 0, &r[0]), LOG_ENOTOPIC);
    assert_int_equal(log_reader_open(f->s, "nope", 0, 0, &r[0]), LOG_ENOTOPIC);
}

static void test_reopen_keeps_everything(void **state)
{
    fixture *f = *state;
    uint64_t seq;

    assert_int_equal(log_topic_create(f->s, "a", 3, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_topic_create(f->s, "b", 1, f->err, sizeof f->err), SPOOL_OK);
    for (int p = 0; p < 3; p++)
        put_n(f, "a", p, 0, 10 * (p + 1));
    put_n(f, "b", 0, 0, 7);
    seq = log_commit_seq(f->s);
    assert_int_equal(seq, 4);
    reopen(f);
    assert_int_equal(log_commit_seq(f->s), seq);
    for (int p = 0; p < 3; p++) {
        assert_int_equal(log_end_offset(f->s, "a", p), 10 * (p + 1));
        assert_int_equal(read_check(f, "a", p, 0), 10 * (p + 1));
    }
    assert_int_equal(read_check(f, "b", 0, 3), 4);
    /* Appends continue the offsets after a reopen. */
    put_n(f, "b", 0, 7, 3);
    reopen(f);
    assert_int_equal(read_check(f, "b", 0, 0), 10);
}

static void test_source_positions(void **state)
{
    fixture *f = *state;
    log_txn *t = log_txn_new();
    log_record r = {.key = "k", .key_len = 1, .value = "v", .value_len = 1};
    void *pos = NULL;
    size_t len = 0;

    assert_int_equal(log_topic_create(f->s, "t", 1, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(log_source_position(f->s, "tail", &pos, &len), SPOOL_OK);
    assert_null(pos);
    assert_int_equal(len, 0);

    assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
    assert_int_equal(log_txn_set_position(t, "tail", "offset=1", 8), SPOOL_OK);
    assert_int_equal(log_txn_set_position(t, "tail", "offset=10", 9), SPOOL_OK);
    assert_int_equal(log_txn_set_position(t, "http", "\0\1\2", 3), SPOOL_OK);
    assert_int_equal(log_commit(f->s, t), SPOOL_OK);
    assert_int_equal(log_source_position(f->s, "tail", &pos, &len), SPOOL_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(pos, "offset=10", 9);
    free(pos);

    /* A position alone (no records) commits too. */
    assert_int_equal(log_txn_set_position(t, "http", "\3", 1), SPOOL_OK);
    assert_int_equal(log_commit(f->s, t), SPOOL_OK);
    reopen(f);
    assert_int_equal(log_source_position(f->s, "http", &pos, &len), SPOOL_OK);
    assert_int_equal(len, 1);
    assert_memory_equal(pos, "\3", 1);
    free(pos);
    assert_int_equal(log_source_position(f->s, "tail", &pos, &len), SPOOL_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(pos, "offset=10", 9);
    free(pos);
    assert_int_equal(log_end_offset(f->s, "t", 0), 1);

    /* A txn naming an unknown topic fails alone and commits nothing of its own. */
    assert_int_equal(log_txn_add(t, "missing", 0, &r), SPOOL_OK);
    assert_int_equal(log_txn_set_position(t, "tail", "bad", 3), SPOOL_OK);
    assert_int_equal(log_commit(f->s, t), LOG_ENOTOPIC);
    char why[512];
    log_last_error(f->s, why, sizeof why);
    assert_non_null(strstr(why, "missing"));
    assert_int_equal(log_source_position(f->s, "tail", &pos, &len), SPOOL_OK);
    assert_memory_equal(pos, "offset=10", 9);
    free(pos);
    assert_int_equal(log_txn_set_position(t, "x", NULL, LOG_MAX_POSITION_BYTES + 1),
                     SPOOL_EINVAL);
    log_txn_free(t);
}

static void test_second_open_is_locked(void **state)
{
    fixture *f = *state;
    log_store *s2 = NULL;
    char err[512] = "";

    assert_int_equal(log_open(f->dir, &s2, err, sizeof err), LOG_ELOCKED);
    assert_null(s2);
    assert_non_null(strstr(err, f->dir));
    /* Closing releases the lock. */
    log_close(f->s);
    f->s = NULL;
    assert_int_equal(log_open(f->dir, &f->s, err, sizeof err), SPOOL_OK);
}

typedef struct waiter {
    log_store *s;
    uint64_t seen;
    uint64_t result;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    w->result = log_wait(w->s, w->seen, -1);
    return NULL;
}

static void test_wait_and_wakeup(void **state)
{
    fixture *f = *state;
    pthread_t th;
    waiter w = {f->s, 0, 0};

    assert_int_equal(log_topic_create(f->s, "t", 1, f->err, sizeof f->err), SPOOL_OK);
    w.seen = log_commit_seq(f->s);
    /* Times out without a commit. */
    assert_int_equal(log_wait(f->s, w.seen, 20), w.seen);
    assert_int_equal(log_wait(f->s, w.seen, 0), w.seen);
    /* Returns at once when the sequence already moved. */
    assert_int_equal(log_wait(f->s, w.seen + 5, -1), w.seen);

    /* A commit wakes a waiter without a timeout (no sleep: join proves it woke). */
    assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
    put_n(f, "t", 0, 0, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(w.result, w.seen + 1);

    /* log_wakeup releases a waiter with nothing new. It may run before the waiter
     * sleeps, so wake until the thread is done. */
    w.seen = log_commit_seq(f->s);
    w.result = 0;
    assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
    for (;;) {
        log_wakeup(f->s);
        if (pthread_tryjoin_np(th, NULL) == 0)
            break;
        sched_yield();
    }
    assert_int_equal(w.result, w.seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topic_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_keys_nulls_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers_at_independent_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_open_is_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_and_wakeup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

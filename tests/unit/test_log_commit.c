/* test_log_commit.c - group commit under concurrency, and the storage-error rules:
 * ENOSPC leaves nothing committed and the store usable; EIO stops the store for good
 * and no fsync is ever retried (reliability.md A5, B1.9 in small). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"

#define SEG0 "topics/t/0/00000000000000000000.log"

typedef struct fixture {
    char *dir;
    log_store *s;
    char err[1024];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    if (log_open(f->dir, &f->s, f->err, sizeof f->err) != SPOOL_OK ||
        log_topic_create(f->s, "t", 2, f->err, sizeof f->err) != SPOOL_OK)
        return -1;
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

/* ---- Concurrent committers ----------------------------------------------------- */

#define THREADS 8
#define COMMITS 150

typedef struct worker {
    log_store *s;
    int id;
    int records;
    uint64_t seed;
} worker;

static void *committer(void *arg)
{
    worker *w = arg;
    test_rng rng = {w->seed};
    log_txn *t = log_txn_new();
    char src[32];

    snprintf(src, sizeof src, "src%d", w->id);
    for (int i = 0; i < COMMITS; i++) {
        int n = 1 + (int)test_below(&rng, 3);
        for (int j = 0; j < n; j++) {
            char v[64];
            log_record r = {0};
            snprintf(v, sizeof v, "%d:%d", w->id, w->records++);
            r.value = v;
            r.value_len = strlen(v);
            /* Threads share partitions, so offsets interleave across them. */
            if (log_txn_add(t, "t", (w->id + j) % 2, &r) != SPOOL_OK)
                abort();
        }
        char pos[32];
        snprintf(pos, sizeof pos, "%d", i);
        if (log_txn_set_position(t, src, pos, strlen(pos)) != SPOOL_OK ||
            log_commit(w->s, t) != SPOOL_OK)
            abort();
    }
    log_txn_free(t);
    return NULL;
}

/* Every record of every thread is there once, in each thread's order, offsets
 * contiguous, and every thread's last position is stored. */
static void check_concurrent(fixture *f, const worker *ws)
{
    int next[THREADS] = {0};
    int total = 0, expected = 0;

    for (int p = 0; p < 2; p++) {
        log_reader *r = NULL;
        log_record rec;
        int64_t off = 0;
        int rc;
        int last[THREADS];
        for (int i = 0; i < THREADS; i++)
            last[i] = -1;
        assert_int_equal(log_reader_open(f->s, "t", p, 0, &r), SPOOL_OK);
        while ((rc = log_reader_next(r, &rec)) == 1) {
            char v[64];
            int id, seq;
            assert_int_equal(rec.offset, off++);
            assert_true(rec.value_len < sizeof v);
            memcpy(v, rec.value, rec.value_len);
            v[rec.value_len] = '\0';
            assert_int_equal(sscanf(v, "%d:%d", &id, &seq), 2);
            assert_true(id >= 0 && id < THREADS);
            assert_true(seq > last[id]); /* per-thread order within a partition */
            last[id] = seq;
            next[id]++;
            total++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(log_end_offset(f->s, "t", p), off);
        log_reader_close(r);
    }
    for (int i = 0; i < THREADS; i++) {
        char src[32], want[32];
        void *pos = NULL;
        size_t len = 0;
        assert_int_equal(next[i], ws[i].records);
        expected += ws[i].records;
        snprintf(src, sizeof src, "src%d", i);
        snprintf(want, sizeof want, "%d", COMMITS - 1);
        assert_int_equal(log_source_position(f->s, src, &pos, &len), SPOOL_OK);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(pos, want, len);
        free(pos);
    }
    assert_int_equal(total, expected);
}

static void test_concurrent_committers(void **state)
{
    fixture *f = *state;
    pthread_t th[THREADS];
    worker ws[THREADS];
    uint64_t seed = test_seed("test_concurrent_committers");
    uint64_t seq;

    for (int i = 0; i < THREADS; i++) {
        ws[i] = (worker){f->s, i, 0, seed + (uint64_t)i};
        assert_int_equal(pthread_create(&th[i], NULL, committer, &ws[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    seq = log_commit_seq(f->s);
    /* Every commit is durable in some group; grouping may only lower the count. */
    assert_true(seq >= 1 && seq <= THREADS * COMMITS);
    fprintf(stderr, "%d commits in %llu groups\n", THREADS * COMMITS,
            (unsigned long long)seq);
    check_concurrent(f, ws);
    log_close(f->s);
    f->s = NULL;
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    check_concurrent(f, ws);
}

/* ---- Fault injection ------------------------------------------------------------ */

typedef struct faults {
    log_io_op op;             /* which step fails */
    int nth;                  /* on its nth call (1-based) */
    int err;                  /* with this errno */
    log_io_op op2;            /* optionally a second step that fails (err2 != 0) */
    int nth2;
    int err2;
    int calls[LOG_IO_OPS];
    int calls_after_fail[LOG_IO_OPS];
    int failed;
} faults;

static int fault_hook(void *ctx, log_io_op op, const char *path)
{
    faults *fl = ctx;
    (void)path;
    fl->calls[op]++;
    if (fl->failed)
        fl->calls_after_fail[op]++;
    if (op == fl->op && fl->calls[op] == fl->nth) {
        fl->failed = 1;
        return fl->err;
    }
    if (fl->err2 != 0 && op == fl->op2 && fl->calls[op] == fl->nth2)
        return fl->err2;
    return 0;
}

static int commit_one(fixture *f, int32_t part, const char *val, const char *pos)
{
    log_txn *t = log_txn_new();
    log_record r = {.value = val, .value_len = strlen(val)};
    int rc;

    assert_int_equal(log_txn_add(t, "t", part, &r), SPOOL_OK);
    if (pos)
        assert_int_equal(log_txn_set_position(t, "src", pos, strlen(pos)), SPOOL_OK);
    rc = log_commit(f->s, t);
    /* A full disk leaves the records with the caller, to be committed again. */
    assert_int_equal(log_txn_count(t), rc == LOG_ENOSPC ? 1 : 0);
    log_txn_free(t);
    return rc;
}

static void check_position(fixture *f, const char *want)
{
    void *pos = NULL;
    size_t len = 0;
    assert_int_equal(log_source_position(f->s, "src", &pos, &len), SPOOL_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(pos, want, len);
    free(pos);
}

static void check_values(fixture *f, int32_t part, const char **want, int n)
{
    log_reader *r = NULL;
    log_record rec;
    int i = 0, rc;

    assert_int_equal(log_reader_open(f->s, "t", part, 0, &r), SPOOL_OK);
    while ((rc = log_reader_next(r, &rec)) == 1) {
        assert_true(i < n);
        assert_int_equal(rec.offset, i);
        assert_int_equal(rec.value_len, strlen(want[i]));
        assert_memory_equal(rec.value, want[i], rec.value_len);
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, n);
    log_reader_close(r);
}

/* ENOSPC at the append or at the journal append: nothing committed, bytes cut back, and the
 * store keeps working with contiguous offsets. */
static void test_enospc_is_not_fatal(void **state)
{
    fixture *f = *state;
    char *seg = test_path(f->dir, SEG0);
    const log_io_op ops[] = {LOG_IO_APPEND, LOG_IO_COMMIT};
    const char *want[] = {"a", "b", "c"};

    assert_int_equal(commit_one(f, 0, "a", "1"), SPOOL_OK);
    long long size1 = test_file_size(seg);
    for (size_t i = 0; i < 2; i++) {
        faults fl = {.op = ops[i], .nth = 1, .err = ENOSPC};
        char why[512];
        log_set_fault(f->s, fault_hook, &fl);
        assert_int_equal(commit_one(f, 0, "lost", "lost"), LOG_ENOSPC);
        log_last_error(f->s, why, sizeof why);
        assert_non_null(strstr(why, "disk full"));
        assert_int_equal(test_file_size(seg), size1);
        assert_int_equal(log_end_offset(f->s, "t", 0), 1);
        check_position(f, "1");
        assert_int_equal(fl.calls[LOG_IO_TRUNCATE], 1);
        log_set_fault(f->s, NULL, NULL);
    }
    /* The same txn, refused for a full disk, commits once space returns. */
    {
        faults fl = {.op = LOG_IO_APPEND, .nth = 1, .err = ENOSPC};
        log_txn *t = log_txn_new();
        log_record r = {.value = "b", .value_len = 1};
        assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
        assert_int_equal(log_txn_set_position(t, "src", "2", 1), SPOOL_OK);
        log_set_fault(f->s, fault_hook, &fl);
        assert_int_equal(log_commit(f->s, t), LOG_ENOSPC);
        log_set_fault(f->s, NULL, NULL);
        assert_int_equal(log_txn_count(t), 1);
        assert_int_equal(log_commit(f->s, t), SPOOL_OK);
        assert_int_equal(log_txn_count(t), 0);
        log_txn_free(t);
    }
    assert_int_equal(commit_one(f, 0, "c", "3"), SPOOL_OK);
    check_values(f, 0, want, 3);
    check_position(f, "3");
    log_close(f->s);
    f->s = NULL;
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    check_values(f, 0, want, 3);
    check_position(f, "3");
    free(seg);
}

/* EIO (or ENOSPC, which a failed fdatasync cannot be retried from either) at the
 * journal's fdatasync: LOG_EIO now and forever, the journal never fdatasynced again.
 * The record was written, so after a restart the unacknowledged commit may be there or
 * not (the page cache decides), but only whole: its record with its position. */
static void test_journal_sync_failure_is_fatal(void **state)
{
    fixture *f = *state;
    const int errs[] = {EIO, ENOSPC};
    const char *want[] = {"a", "lost"};

    assert_int_equal(commit_one(f, 0, "a", "1"), SPOOL_OK);
    for (size_t i = 0; i < 2; i++) {
        faults fl = {.op = LOG_IO_COMMIT_SYNC, .nth = 1, .err = errs[i]};
        char why[512];
        void *pos = NULL;
        size_t len = 0;
        log_set_fault(f->s, fault_hook, &fl);
        assert_int_equal(commit_one(f, 0, "lost", "lost"), LOG_EIO);
        log_last_error(f->s, why, sizeof why);
        assert_non_null(strstr(why, "COMMIT.journal"));
        assert_int_equal(commit_one(f, 1, "later", "later"), LOG_EIO);
        assert_int_equal(fl.calls_after_fail[LOG_IO_COMMIT_SYNC], 0);
        assert_int_equal(fl.calls_after_fail[LOG_IO_COMMIT], 0);
        assert_int_equal(fl.calls_after_fail[LOG_IO_SYNC], 0);
        check_values(f, 0, want, 1);
        log_close(f->s);
        f->s = NULL;
        assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
        assert_int_equal(log_source_position(f->s, "src", &pos, &len), SPOOL_OK);
        if (len == 4 && memcmp(pos, "lost", 4) == 0) {
            check_values(f, 0, want, 2);
            free(pos);
            return; /* committed after all: the next round would start from there */
        }
        free(pos);
        check_position(f, "1");
        check_values(f, 0, want, 1);
        check_values(f, 1, NULL, 0);
    }
}

/* The journal outgrows its file again and again (tiny sizes): every new file starts
 * with a snapshot, nothing is lost across them, and a reopen reads the last one. */
static void test_journal_rollover(void **state)
{
    fixture *f = *state;
    char *journal = test_path(f->dir, "COMMIT.journal");
    char vals[300][8];
    const char *want[300];
    log_commit_image img;
    log_journal_info info;

    log_journal_set_sizes(4096, 4096);
    log_close(f->s);
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    for (int i = 0; i < 300; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        want[i] = vals[i];
        assert_int_equal(commit_one(f, 0, vals[i], vals[i]), SPOOL_OK);
        assert_true(test_file_size(journal) <= 4096 * 4);
    }
    log_journal_set_sizes(LOG_JOURNAL_MIN_BYTES, LOG_JOURNAL_MAX_BYTES);
    assert_int_equal(log_commit_load(f->dir, 0, &img, &info, f->err, sizeof f->err), SPOOL_OK);
    /* Many files went by: the sequence ran far past this file's record count. */
    assert_true(info.last_jseq > info.records + 100);
    log_commit_image_free(&img);
    check_values(f, 0, want, 300);
    check_position(f, "299");
    log_close(f->s);
    f->s = NULL;
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    check_values(f, 0, want, 300);
    check_position(f, "299");
    free(journal);
}

typedef struct ro_writer {
    fixture *f;
    atomic_int stop;
    atomic_int commits;
} ro_writer;

static void *ro_writer_main(void *arg)
{
    ro_writer *w = arg;
    char pos[32];
    while (!atomic_load(&w->stop) && w->commits < 20000) {
        log_txn *t = log_txn_new();
        log_record r = {.value = "x", .value_len = 1};
        snprintf(pos, sizeof pos, "%d", w->commits + 1);
        if (log_txn_add(t, "t", w->commits % 2, &r) != SPOOL_OK ||
            log_txn_set_position(t, "src", pos, strlen(pos)) != SPOOL_OK ||
            log_commit(w->f->s, t) != SPOOL_OK)
            abort();
        log_txn_free(t);
        w->commits++;
    }
    return NULL;
}

/* Read-only opens beside a writer appending to the journal (and starting new journal
 * files, with tiny sizes): every open succeeds, and sees a consistent commit point
 * (the position equals the records in both partitions), never going backwards. */
static void test_read_only_beside_writer(void **state)
{
    fixture *f = *state;
    ro_writer w = {f, 0, 0};
    pthread_t th;
    log_open_opts ro = {.read_only = 1};
    long long last = 0;

    log_journal_set_sizes(4096, 8192);
    log_close(f->s);
    assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(pthread_create(&th, NULL, ro_writer_main, &w), 0);
    int i;
    /* At least 150 opens, and on until the writer went through several journal files. */
    for (i = 0; i < 150 || (atomic_load(&w.commits) < 100 && i < 1000000); i++) {
        log_store *r = NULL;
        void *pos = NULL;
        size_t len = 0;
        char err[1024];
        long long seen = 0;
        if (log_open_ex(f->dir, &ro, &r, err, sizeof err) != SPOOL_OK)
            fail_msg("read-only open %d beside the writer: %s", i, err);
        assert_int_equal(log_source_position(r, "src", &pos, &len), SPOOL_OK);
        if (pos != NULL) {
            char buf[32] = "";
            memcpy(buf, pos, len < 31 ? len : 31);
            seen = atoll(buf);
        }
        free(pos);
        assert_int_equal(log_end_offset(r, "t", 0) + log_end_offset(r, "t", 1), seen);
        assert_true(seen >= last);
        last = seen;
        log_close(r);
    }
    atomic_store(&w.stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    log_journal_set_sizes(LOG_JOURNAL_MIN_BYTES, LOG_JOURNAL_MAX_BYTES);
    fprintf(stderr, "%d read-only opens beside %d commits, the last saw %lld\n", i,
            atomic_load(&w.commits), last);
    assert_true(last > 0);
}

/* EIO at each write-side step: LOG_EIO now and forever, no fsync retried, and after a
 * restart everything committed before the failure is there and nothing after. */
static void test_eio_is_fatal(void **state)
{
    fixture *f = *state;
    const log_io_op ops[] = {LOG_IO_APPEND, LOG_IO_SYNC, LOG_IO_COMMIT};
    const char *want[] = {"a"};

    assert_int_equal(commit_one(f, 0, "a", "1"), SPOOL_OK);
    for (size_t i = 0; i < 3; i++) {
        faults fl = {.op = ops[i], .nth = 1, .err = EIO};
        char why[512];
        log_set_fault(f->s, fault_hook, &fl);
        assert_int_equal(commit_one(f, 0, "lost", "lost"), LOG_EIO);
        log_last_error(f->s, why, sizeof why);
        assert_non_null(strstr(why, "Input/output error"));
        assert_non_null(strstr(why, f->dir));
        /* Every later commit fails, without touching the disk again. */
        assert_int_equal(commit_one(f, 1, "later", "later"), LOG_EIO);
        assert_int_equal(fl.calls_after_fail[LOG_IO_SYNC], 0);
        assert_int_equal(fl.calls_after_fail[LOG_IO_APPEND], 0);
        assert_int_equal(fl.calls_after_fail[LOG_IO_COMMIT], 0);
        /* Readers still see what was committed before. */
        check_values(f, 0, want, 1);
        check_position(f, "1");
        log_close(f->s);
        f->s = NULL;
        assert_int_equal(log_open(f->dir, &f->s, f->err, sizeof f->err), SPOOL_OK);
        check_values(f, 0, want, 1);
        check_values(f, 1, NULL, 0);
        check_position(f, "1");
    }
}

/* A group touching two partitions syncs their segments side by side (log_sync.c): an
 * EIO from the second one fails the group, names that segment, and commits nothing. */
static void test_eio_in_one_of_parallel_syncs(void **state)
{
    fixture *f = *state;
    faults fl = {.op = LOG_IO_SYNC, .nth = 2, .err = EIO};
    log_txn *t = log_txn_new();
    log_record r = {.value = "x", .value_len = 1};
    char why[512];

    assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
    assert_int_equal(log_txn_add(t, "t", 1, &r), SPOOL_OK);
    assert_int_equal(log_commit(f->s, t), SPOOL_OK); /* the side-by-side path works */
    assert_int_equal(log_end_offset(f->s, "t", 0), 1);
    assert_int_equal(log_end_offset(f->s, "t", 1), 1);
    log_set_fault(f->s, fault_hook, &fl);
    assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
    assert_int_equal(log_txn_add(t, "t", 1, &r), SPOOL_OK);
    assert_int_equal(log_commit(f->s, t), LOG_EIO);
    log_last_error(f->s, why, sizeof why);
    assert_non_null(strstr(why, "fdatasync of"));
    assert_non_null(strstr(why, "/1/"));  /* partition 1's segment, the second synced */
    assert_int_equal(fl.calls[LOG_IO_COMMIT], 0);
    assert_int_equal(log_end_offset(f->s, "t", 0), 1);
    assert_int_equal(log_end_offset(f->s, "t", 1), 1);
    log_txn_free(t);
}

/* A failed cut-back after ENOSPC cannot be left as is: it becomes fatal. */
static void test_enospc_then_truncate_failure_is_fatal(void **state)
{
    fixture *f = *state;
    faults fl = {.op = LOG_IO_APPEND, .nth = 1, .err = ENOSPC,
                 .op2 = LOG_IO_TRUNCATE, .nth2 = 1, .err2 = EIO};
    char why[512];

    log_set_fault(f->s, fault_hook, &fl);
    assert_int_equal(commit_one(f, 0, "lost", NULL), LOG_EIO);
    log_last_error(f->s, why, sizeof why);
    assert_non_null(strstr(why, "cannot cut"));
    assert_int_equal(commit_one(f, 0, "later", NULL), LOG_EIO);
    assert_int_equal(fl.calls_after_fail[LOG_IO_SYNC], 0);
}

/* A transaction larger than one batch is split into several, all in one commit. */
static void test_txn_spans_batches(void **state)
{
    fixture *f = *state;
    size_t big = 20u * 1024u * 1024u;
    char *v = malloc(big);
    log_txn *t = log_txn_new();
    log_reader *r = NULL;
    log_record rec;
    int n = 0;

    for (int i = 0; i < 5; i++) {
        memset(v, 'a' + i, big);
        log_record in = {.value = v, .value_len = big};
        assert_int_equal(log_txn_add(t, "t", 1, &in), SPOOL_OK);
    }
    assert_int_equal(log_commit(f->s, t), SPOOL_OK);
    assert_int_equal(log_commit_seq(f->s), 1);
    assert_int_equal(log_end_offset(f->s, "t", 1), 5);
    assert_int_equal(log_reader_open(f->s, "t", 1, 0, &r), SPOOL_OK);
    while (log_reader_next(r, &rec) == 1) {
        assert_int_equal(rec.value_len, big);
        assert_int_equal(((const char *)rec.value)[big - 1], 'a' + n);
        n++;
    }
    assert_int_equal(n, 5);
    log_reader_close(r);
    {
        /* Two batches: three records fit under LOG_MAX_BATCH_BYTES, the rest follow. */
        char *seg = test_path(f->dir, "topics/t/1/00000000000000000000.log");
        int fd = open(seg, O_RDONLY);
        uint8_t hdr[LOG_BATCH_HDR];
        log_batch_hdr h;
        char why[128];
        assert_int_equal(pread(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
        assert_int_equal(log_batch_peek(hdr, sizeof hdr, &h, why, sizeof why), 1);
        assert_int_equal(h.count, 3);
        assert_int_equal(pread(fd, hdr, sizeof hdr, h.length), (ssize_t)sizeof hdr);
        assert_int_equal(log_batch_peek(hdr, sizeof hdr, &h, why, sizeof why), 1);
        assert_int_equal(h.count, 2);
        assert_int_equal(h.base_offset, 3);
        close(fd);
        free(seg);
    }
    /* A single record that cannot fit any batch is refused up front. */
    log_record huge = {.value = v, .value_len = LOG_MAX_BATCH_BYTES};
    assert_int_equal(log_txn_add(t, "t", 1, &huge), SPOOL_EINVAL);
    log_txn_free(t);
    free(v);
}

/* One txn committed again and again takes its emptied batch buffers back: big, then
 * small, then big batches over two partitions read back exactly (a reused buffer's old
 * bytes past the new batch's end are never written). */
static void test_txn_reuses_buffers(void **state)
{
    fixture *f = *state;
    static const size_t sizes[] = {300000, 1, 5000, 0, 700000, 64, 100000};
    size_t nsizes = sizeof sizes / sizeof sizes[0];
    char *v = malloc(700000);
    log_txn *t = log_txn_new();
    int64_t want[2] = {0, 0};

    for (size_t round = 0; round < 3 * nsizes; round++) {
        size_t len = sizes[round % nsizes];
        int records = (int)(round % 3) + 1;
        for (int i = 0; i < records; i++) {
            int32_t part = (int32_t)((round + (size_t)i) % 2);
            memset(v, 'a' + (int)((round + (size_t)i) % 26), len);
            log_record in = {.value = v, .value_len = len, .timestamp_ms = (int64_t)round};
            assert_int_equal(log_txn_add(t, "t", part, &in), SPOOL_OK);
            want[part]++;
        }
        assert_int_equal(log_commit(f->s, t), SPOOL_OK);
        assert_int_equal(log_txn_count(t), 0);
    }
    for (int32_t part = 0; part < 2; part++) {
        log_reader *r = NULL;
        log_record rec;
        int64_t n = 0;
        assert_int_equal(log_end_offset(f->s, "t", part), want[part]);
        assert_int_equal(log_reader_open(f->s, "t", part, 0, &r), SPOOL_OK);
        while (log_reader_next(r, &rec) == 1) {
            size_t round = (size_t)rec.timestamp_ms;
            assert_int_equal(rec.value_len, sizes[round % nsizes]);
            const char *b = rec.value;
            for (size_t k = 0; k < rec.value_len; k++)
                if (b[k] != b[0] || b[k] < 'a' || b[k] > 'z')
                    fail_msg("round %zu, byte %zu of %zu: 0x%02x", round, k, rec.value_len,
                             (unsigned char)b[k]);
            n++;
        }
        assert_int_equal(n, want[part]);
        log_reader_close(r);
    }
    log_txn_free(t);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_committers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc_is_not_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eio_is_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_sync_failure_is_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_rollover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eio_in_one_of_parallel_syncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc_then_truncate_failure_is_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_txn_spans_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_reuses_buffers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

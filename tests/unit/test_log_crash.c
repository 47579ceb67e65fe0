/* test_log_crash.c - what crashes and bit rot leave, at random points from a seed:
 *
 * - the active segment or the commit journal truncated (or zeroed from there, as in a
 *   zero-filled file) at 200 random byte positions: recovery keeps every complete
 *   committed batch and drops only the torn tail, or refuses (LOG_ECORRUPT) when the
 *   cut reaches committed data; never a crash, never a silent loss;
 * - a random bit flipped in 200 copies of a multi-segment log (segments, indexes, the
 *   commit journal): every flip is detected by open, by a reader or by log_verify, a
 *   damaged record is never served, a damaged index is only rebuilt, and a damaged copy
 *   of a commit record is reported while its intact twin keeps everything;
 * - a writer child process killed with SIGKILL at 100 random I/O steps (segment rolls
 *   and new journal files included): after recovery the log is exactly a committed
 *   prefix and the committed source position matches the records kept.
 *
 * Rerun a failure with SPOOL_TEST_SEED=<the printed seed>.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"

static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

static const log_open_opts quiet_opts = {.warn = quiet};

/* The value of the record at offset: the offset and bytes derived from it. */
static size_t value_for(int64_t offset, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%lld:", (long long)offset);
    size_t len = 20 + (size_t)(offset * 7919 % 200);
    for (size_t i = 0; i < len && n + 1 < cap; i++)
        buf[n++] = (char)('a' + (offset + (int64_t)i) % 26);
    return n;
}

static void build(const char *dir, test_rng *rng, int64_t seg_bytes, int commits)
{
    log_store *s = NULL;
    char err[512];
    log_topic_config c;

    assert_int_equal(log_open_ex(dir, &quiet_opts, &s, err, sizeof err), SPOOL_OK);
    log_topic_config_init(&c);
    c.segment_bytes = seg_bytes;
    assert_int_equal(log_topic_create_ex(s, "t", &c, err, sizeof err), SPOOL_OK);
    log_txn *t = log_txn_new();
    for (int i = 0; i < commits; i++) {
        int n = 1 + (int)test_below(rng, 8);
        for (int j = 0; j < n; j++) {
            char v[300];
            int64_t off = log_end_offset(s, "t", 0) + (int64_t)log_txn_count(t);
            log_record r = {.value = v, .timestamp_ms = 5};
            r.value_len = value_for(off, v, sizeof v);
            assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
        }
        assert_int_equal(log_commit(s, t), SPOOL_OK);
    }
    log_txn_free(t);
    log_close(s);
}

/* Reads everything; every record served must be the right one. Returns the reader's
 * final code (0 at the end, LOG_ECORRUPT at damage) and the count in *n. */
static int read_all(log_store *s, int64_t *n)
{
    log_reader *r = NULL;
    log_record rec;
    int rc;

    *n = 0;
    assert_int_equal(log_reader_open(s, "t", 0, 0, &r), SPOOL_OK);
    while ((rc = log_reader_next(r, &rec)) == 1) {
        char v[300];
        size_t len = value_for(rec.offset, v, sizeof v);
        assert_int_equal(rec.offset, *n);
        assert_int_equal(rec.value_len, len);
        assert_memory_equal(rec.value, v, len);
        (*n)++;
    }
    if (rc < 0)
        assert_non_null(strstr(log_reader_error(r), "byte"));
    log_reader_close(r);
    return rc;
}

static void copy_tree(const char *from, const char *to)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    assert_int_equal(system(cmd), 0);
}

/* The journal of 20 more commits (the segment with their bytes) cut at a random byte
 * past its first record, or zeroed from there: recovery lands on the last record the cut
 * left whole, which the journal decoder names, with the segment cut to match. */
static void journal_cut_trial(const char *gold, const char *work, test_rng *rng,
                              const unsigned char *jfull, size_t jfull_len,
                              const unsigned char *full, size_t full_len, const char *seg,
                              const char *wjournal, int64_t committed_end, int trial)
{
    log_commit_image img = {0};
    log_journal_info info;
    log_store *s = NULL;
    char why[512], err[1024];
    /* A journal file starts with a snapshot record that is durable before the file
     * gets its name, so a crash cannot cut into it: cuts fall after it. */
    size_t first = LOG_JOURNAL_HDR;
    for (; first < jfull_len; first++) {
        int ok = log_journal_decode(jfull, first, &img, &info, why, sizeof why) == SPOOL_OK;
        log_commit_image_free(&img);
        if (ok)
            break;
    }
    assert_true(first < jfull_len);
    size_t cut = first + (size_t)test_below(rng, jfull_len - first);
    unsigned char *c = calloc(1, jfull_len);
    int zeros = trial % 8 == 1;
    int64_t n = 0;

    copy_tree(gold, work);
    test_spit(seg, full, full_len);
    memcpy(c, jfull, cut);
    test_spit(wjournal, c, zeros ? jfull_len : cut);
    int drc = log_journal_decode(c, zeros ? jfull_len : cut, &img, &info, why, sizeof why);
    if (drc != SPOOL_OK)
        fail_msg("journal cut at %zu of %zu (%s): the decoder says %d: %s", cut, jfull_len,
                 zeros ? "zeroed" : "truncated", drc, why);
    assert_int_equal(img.count, 1);
    int rc = log_open_ex(work, &quiet_opts, &s, err, sizeof err);
    if (rc != SPOOL_OK)
        fail_msg("journal cut at %zu: %s", cut, err);
    assert_true(img.entries[0].end_offset >= committed_end);
    assert_int_equal(log_end_offset(s, "t", 0), img.entries[0].end_offset);
    assert_int_equal(test_file_size(seg), (long long)img.entries[0].seg_len);
    assert_int_equal(read_all(s, &n), 0);
    assert_int_equal(n, img.entries[0].end_offset);
    log_close(s);
    log_commit_image_free(&img);
    free(c);
}

static void test_truncate_active_segment(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_log_crash truncate")};
    char *base = test_tmpdir(), *work = test_path(base, "work"), *gold = test_path(base, "gold");
    char *seg = test_path(work, "topics/t/0/00000000000000000000.log");
    char *gseg = test_path(gold, "topics/t/0/00000000000000000000.log");
    char *commit = test_path(gold, "COMMIT.journal"), *commit_early = NULL;
    char *wjournal = test_path(work, "COMMIT.journal");
    unsigned char *early = NULL, *full = NULL, *jfull = NULL;
    size_t early_len = 0, full_len = 0, jfull_len = 0;
    long long committed;
    int64_t committed_end;
    log_store *s = NULL;
    char err[1024];

    /* 40 commits, keep that COMMIT; 20 more that will count as uncommitted. */
    build(gold, &rng, 1 << 26, 40);
    early = test_slurp(commit, &early_len);
    committed = test_file_size(gseg);
    assert_int_equal(log_open_ex(gold, &quiet_opts, &s, err, sizeof err), SPOOL_OK);
    committed_end = log_end_offset(s, "t", 0);
    log_txn *t = log_txn_new();
    for (int i = 0; i < 20; i++) {
        char v[300];
        int64_t off = log_end_offset(s, "t", 0);
        log_record r = {.value = v, .timestamp_ms = 5};
        r.value_len = value_for(off, v, sizeof v);
        assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
        assert_int_equal(log_commit(s, t), SPOOL_OK);
    }
    log_txn_free(t);
    log_close(s);
    jfull = test_slurp(commit, &jfull_len);
    test_spit(commit, early, early_len);
    full = test_slurp(gseg, &full_len);
    (void)commit_early;

    for (int trial = 0; trial < 200; trial++) {
        if (trial % 4 == 1) {
            journal_cut_trial(gold, work, &rng, jfull, jfull_len, full, full_len, seg,
                              wjournal, committed_end, trial);
            continue;
        }
        /* Mostly inside the uncommitted tail, sometimes into committed data. */
        size_t cut = trial % 4 == 0 ? (size_t)test_below(&rng, full_len + 1)
                     : (size_t)committed + (size_t)test_below(&rng, full_len - (size_t)committed + 1);
        int64_t n = 0;
        copy_tree(gold, work);
        test_spit(seg, full, cut);
        int rc = log_open_ex(work, &quiet_opts, &s, err, sizeof err);
        if ((long long)cut < committed) {
            if (rc != LOG_ECORRUPT)
                fail_msg("cut at %zu below the committed %lld: rc %d", cut, committed, rc);
            assert_non_null(strstr(err, seg));
            assert_int_equal(test_file_size(seg), (long long)cut); /* nothing changed */
            continue;
        }
        if (rc != SPOOL_OK)
            fail_msg("cut at %zu (committed %lld): %s", cut, committed, err);
        assert_int_equal(test_file_size(seg), committed);
        assert_int_equal(log_end_offset(s, "t", 0), committed_end);
        assert_int_equal(read_all(s, &n), 0);
        assert_int_equal(n, committed_end);
        /* The next append continues the offsets. */
        t = log_txn_new();
        char v[300];
        log_record r = {.value = v, .timestamp_ms = 5};
        r.value_len = value_for(committed_end, v, sizeof v);
        assert_int_equal(log_txn_add(t, "t", 0, &r), SPOOL_OK);
        assert_int_equal(log_commit(s, t), SPOOL_OK);
        log_txn_free(t);
        assert_int_equal(read_all(s, &n), 0);
        assert_int_equal(n, committed_end + 1);
        log_close(s);
        s = NULL;
    }
    free(early);
    free(full);
    free(jfull);
    free(seg);
    free(gseg);
    free(commit);
    free(wjournal);
    free(work);
    free(gold);
    test_rmdir(base);
}

static int list_files(const char *dir, char ***out)
{
    char cmd[4096];
    FILE *p;
    char line[4096];
    int n = 0;

    snprintf(cmd, sizeof cmd, "cd '%s' && find topics -type f -name '0*' | sort; echo COMMIT.journal",
             dir);
    p = popen(cmd, "r");
    *out = NULL;
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        *out = realloc(*out, (size_t)(n + 1) * sizeof **out);
        (*out)[n++] = strdup(line);
    }
    if (p)
        pclose(p);
    return n;
}

static void count_damage(void *ctx, const log_finding *f)
{
    if (f->kind == 1)
        (*(int *)ctx)++;
}

static void count_warnings(void *ctx, const char *msg)
{
    (void)msg;
    (*(int *)ctx)++;
}

/* A flip in the journal at byte at (below end, the end of its records): in the header,
 * refused by open and verify; in a copy of a record, the twin holds it: everything is
 * served, and open warns and verify reports damage, except for a byte of the last
 * record's second copy turned to zero, which reads as an unwritten sector (torn). */
static void journal_flip_check(log_store *s, int rc, const char *err, long long at,
                               unsigned char mask, uint64_t end, int64_t total,
                               int verify_rc, int damage, int warnings, int *detected,
                               int *zero)
{
    int64_t n = 0;

    (void)end;
    if (at < (long long)LOG_JOURNAL_HDR) {
        assert_int_equal(rc, LOG_ECORRUPT);
        assert_non_null(strstr(err, "COMMIT.journal"));
        assert_int_equal(verify_rc, LOG_ECORRUPT);
        (*detected)++;
        return;
    }
    if (rc != SPOOL_OK)
        fail_msg("journal flip at byte %lld: %s", at, err);
    assert_int_equal(log_end_offset(s, "t", 0), total);
    assert_int_equal(read_all(s, &n), 0);
    assert_int_equal(n, total);
    if (warnings > 0) {
        assert_int_equal(verify_rc, LOG_ECORRUPT);
        assert_true(damage >= 1);
        (*detected)++;
    } else {
        /* Only a 1 turned 0 can look like a zero-filled, unwritten byte. */
        assert_int_equal(verify_rc, SPOOL_OK);
        (void)mask;
        (*zero)++;
    }
}

static void test_bit_flips(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_log_crash flips")};
    char *base = test_tmpdir(), *work = test_path(base, "work"), *gold = test_path(base, "gold");
    char **files = NULL;
    int nfiles, detected_open = 0, detected_read = 0, index_only = 0;
    int detected_journal = 0, zero_journal = 0;
    int64_t total = 0;
    log_store *s = NULL;
    char err[1024];

    /* Read-only: a writable open would start a new journal, and this one's 120
     * records are what the flips should hit. */
    log_open_opts ro = quiet_opts;
    log_commit_image img;
    log_journal_info jinfo;
    ro.read_only = 1;
    build(gold, &rng, 8192, 120);
    assert_int_equal(log_open_ex(gold, &ro, &s, err, sizeof err), SPOOL_OK);
    total = log_end_offset(s, "t", 0);
    log_close(s);
    assert_int_equal(log_commit_load(gold, 0, &img, &jinfo, err, sizeof err), SPOOL_OK);
    assert_true(jinfo.records > 100);
    log_commit_image_free(&img);
    nfiles = list_files(gold, &files);
    assert_true(nfiles > 4);
    for (int trial = 0; trial < 200; trial++) {
        /* Every fourth flip in the journal (the last file listed), within its records. */
        const char *rel = trial % 4 == 3 ? files[nfiles - 1]
                                         : files[test_below(&rng, (uint64_t)nfiles)];
        char *path = test_path(work, rel);
        long long size;
        int64_t n = 0;
        int damage = 0, warnings = 0;
        int is_journal = strstr(rel, "COMMIT.journal") != NULL;
        log_open_opts counting = {.warn = count_warnings, .warn_ctx = &warnings};
        copy_tree(gold, work);
        size = is_journal ? (long long)jinfo.end : test_file_size(path);
        assert_true(size > 0);
        long long at = (long long)test_below(&rng, (uint64_t)size);
        unsigned char mask = (unsigned char)(1u << test_below(&rng, 8));
        test_flip(path, at, mask);
        int is_index = strstr(rel, ".index") != NULL;
        int verify_rc = log_verify(work, 0, count_damage, &damage, err, sizeof err);
        int rc = log_open_ex(work, &counting, &s, err, sizeof err);
        if (is_journal) {
            journal_flip_check(s, rc, err, at, mask, jinfo.end, total, verify_rc, damage,
                               warnings, &detected_journal, &zero_journal);
            if (rc == SPOOL_OK)
                log_close(s);
            s = NULL;
            free(path);
            continue;
        }
        if (rc != SPOOL_OK) {
            assert_int_equal(rc, LOG_ECORRUPT);
            assert_false(is_index);
            assert_int_equal(verify_rc, LOG_ECORRUPT);
            detected_open++;
        } else {
            rc = read_all(s, &n);
            if (is_index) {
                /* Derived data: rebuilt, everything still served. */
                assert_int_equal(rc, 0);
                assert_int_equal(n, total);
                assert_int_equal(verify_rc, SPOOL_OK);
                index_only++;
            } else {
                if (rc != LOG_ECORRUPT)
                    fail_msg("flip in %s at byte %lld went unnoticed", rel, at);
                assert_true(n < total);
                assert_int_equal(verify_rc, LOG_ECORRUPT);
                assert_true(damage >= 1);
                detected_read++;
            }
            log_close(s);
            s = NULL;
        }
        free(path);
    }
    fprintf(stderr, "flips: %d refused at open, %d refused by the reader, %d in an index "
            "(rebuilt), %d in the journal (reported, twin used or header refused), %d in "
            "the journal's last record read as a torn zero byte\n", detected_open,
            detected_read, index_only, detected_journal, zero_journal);
    assert_true(detected_journal >= 40);
    for (int i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    free(work);
    free(gold);
    test_rmdir(base);
}

/* ---- SIGKILL of a writer child ----------------------------------------------------- */

typedef struct kill_ctx {
    long calls;
    long kill_at;
} kill_ctx;

static int kill_hook(void *ctx, log_io_op op, const char *path)
{
    kill_ctx *k = ctx;
    (void)op;
    (void)path;
    if (++k->calls == k->kill_at)
        raise(SIGKILL);
    return 0;
}

#define KILL_PARTS 3

static void writer_child(const char *dir, long kill_at, uint64_t seed)
{
    log_store *s = NULL;
    char err[512];
    kill_ctx k = {0, kill_at};
    test_rng rng = {seed};
    void *pos = NULL;
    size_t plen = 0;
    long long seq = 0;

    if (log_open_ex(dir, &quiet_opts, &s, err, sizeof err) != SPOOL_OK)
        _exit(2);
    if (log_source_position(s, "src", &pos, &plen) != SPOOL_OK)
        _exit(3);
    if (pos != NULL)
        seq = strtoll(pos, NULL, 10);
    free(pos);
    log_set_fault(s, kill_hook, &k);
    log_txn *t = log_txn_new();
    for (int i = 0; i < 5000; i++) {
        int n = 1 + (int)test_below(&rng, 6);
        char v[64], p[32];
        for (int j = 0; j < n; j++, seq++) {
            log_record r = {.value = v, .timestamp_ms = seq};
            r.value_len = (size_t)snprintf(v, sizeof v, "%lld", seq);
            if (log_txn_add(t, "k", (int32_t)(seq % KILL_PARTS), &r) != SPOOL_OK)
                _exit(4);
        }
        snprintf(p, sizeof p, "%lld", seq);
        if (log_txn_set_position(t, "src", p, strlen(p) + 1) != SPOOL_OK ||
            log_commit(s, t) != SPOOL_OK)
            _exit(5);
    }
    _exit(0);
}

static void test_sigkill_writer(void **state)
{
    (void)state;
    uint64_t seed = test_seed("test_log_crash sigkill");
    test_rng rng = {seed};
    char *dir = test_tmpdir();
    log_store *s = NULL;
    char err[1024];
    log_topic_config c;

    /* Small journal files, so that kills land in new journal files too. */
    log_journal_set_sizes(4096, 8192);
    assert_int_equal(log_open_ex(dir, &quiet_opts, &s, err, sizeof err), SPOOL_OK);
    log_topic_config_init(&c);
    c.partitions = KILL_PARTS;
    c.segment_bytes = 2048; /* rolls often, so kills land in them too */
    assert_int_equal(log_topic_create_ex(s, "k", &c, err, sizeof err), SPOOL_OK);
    log_close(s);
    for (int round = 0; round < 100; round++) {
        long kill_at = 1 + (long)test_below(&rng, 120);
        int status = 0;
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            writer_child(dir, kill_at, test_rand(&rng));
        test_rand(&rng);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("round %d: the writer did not die by SIGKILL (status 0x%x)", round,
                     status);
        /* Recovery, then: exactly a committed prefix, matching the position. */
        if (log_open_ex(dir, &quiet_opts, &s, err, sizeof err) != SPOOL_OK)
            fail_msg("round %d: reopen failed: %s", round, err);
        void *pos = NULL;
        size_t plen = 0;
        long long committed = 0;
        assert_int_equal(log_source_position(s, "src", &pos, &plen), SPOOL_OK);
        if (pos)
            committed = strtoll(pos, NULL, 10);
        free(pos);
        for (int32_t p = 0; p < KILL_PARTS; p++) {
            log_reader *r = NULL;
            log_record rec;
            long long want = p;
            int rc;
            assert_int_equal(log_reader_open(s, "k", p, 0, &r), SPOOL_OK);
            while ((rc = log_reader_next(r, &rec)) == 1) {
                if (strtoll(rec.value, NULL, 10) != want)
                    fail_msg("round %d: partition %d offset %lld holds %.*s, expected %lld",
                             round, p, (long long)rec.offset, (int)rec.value_len,
                             (const char *)rec.value, want);
                want += KILL_PARTS;
            }
            assert_int_equal(rc, 0);
            /* Everything below the position is there, nothing at or past it. */
            long long expect_count = committed > p ? (committed - p + KILL_PARTS - 1) / KILL_PARTS : 0;
            assert_int_equal(log_end_offset(s, "k", p), expect_count);
            log_reader_close(r);
        }
        log_close(s);
        s = NULL;
    }
    log_journal_set_sizes(LOG_JOURNAL_MIN_BYTES, LOG_JOURNAL_MAX_BYTES);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncate_active_segment),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_sigkill_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

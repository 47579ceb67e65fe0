/* test_backend.c - the builtin backend behind backend.h: producers and their positions
 * (readable by the log under the same key, as existing data directories hold them),
 * subscriptions (task split, assigned() offsets, fairness between partitions, order
 * within one, wakeup, caught_up, one partition for tools), the coordinator, and the
 * producer's background commit (order, durability only after the wait, a full disk
 * and a failed disk met by a commit in flight, through the log's fault hook). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "backend/backend.h"
#include "log/log_int.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"

typedef struct fixture {
    char *dir;
    backend *b;
    char err[512];
} fixture;

static void open_backend(fixture *f)
{
    backend_config bc = {.kind = BACKEND_BUILTIN, .data_dir = f->dir};
    if (backend_open(&bc, &f->b, f->err, sizeof f->err) != SPOOL_OK)
        fail_msg("backend_open: %s", f->err);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    open_backend(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    backend_close(f->b);
    test_rmdir(f->dir);
    free(f);
    return 0;
}

static void topic(fixture *f, const char *name, int32_t partitions)
{
    log_topic_config tc;
    log_topic_config_init(&tc);
    tc.partitions = partitions;
    assert_int_equal(backend_topic_create(f->b, name, &tc, f->err, sizeof f->err), SPOOL_OK);
}

/* Commits n records "v<first..>" to topic/partition through a producer. */
static void put_n(fixture *f, const char *t, int32_t part, int first, int n)
{
    backend_producer *p;
    assert_int_equal(backend_producer_open(f->b, "writer", &p, f->err, sizeof f->err),
                     SPOOL_OK);
    for (int i = first; i < first + n; i++) {
        char v[32];
        snprintf(v, sizeof v, "v%d", i);
        log_record r = {.value = v, .value_len = strlen(v), .timestamp_ms = 1};
        assert_int_equal(backend_producer_add(p, t, part, &r), SPOOL_OK);
    }
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);
    backend_producer_close(p);
}

static int value_is(const log_record *r, const char *want)
{
    return r->value_len == strlen(want) && memcmp(r->value, want, r->value_len) == 0;
}

/* ---- Producers --------------------------------------------------------------------- */

static void test_producer_position(void **state)
{
    fixture *f = *state;
    backend_producer *p;
    void *pos = NULL;
    size_t len = 1;

    topic(f, "ev", 2);
    assert_int_equal(backend_producer_open(f->b, "app", &p, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(backend_producer_position(p, &pos, &len), SPOOL_OK);
    assert_null(pos);
    assert_int_equal(len, 0);

    log_record r = {.value = "a", .value_len = 1, .timestamp_ms = 5};
    assert_int_equal(backend_producer_add(p, "ev", 1, &r), SPOOL_OK);
    assert_int_equal(backend_producer_add(p, "ev", 0, &r), SPOOL_OK);
    assert_int_equal(backend_producer_count(p), 2);
    assert_int_equal(backend_producer_set_position(p, "pos-1", 5), SPOOL_OK);
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);
    assert_int_equal(backend_producer_count(p), 0);
    assert_int_equal(backend_end_offset(f->b, "ev", 0), 1);
    assert_int_equal(backend_end_offset(f->b, "ev", 1), 1);

    /* Abort drops records and position alike. */
    assert_int_equal(backend_producer_add(p, "ev", 0, &r), SPOOL_OK);
    assert_int_equal(backend_producer_set_position(p, "pos-2", 5), SPOOL_OK);
    backend_producer_abort(p);
    assert_int_equal(backend_producer_count(p), 0);
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);
    assert_int_equal(backend_end_offset(f->b, "ev", 0), 1);
    backend_producer_close(p);

    /* Durable, and kept under the producer's id in the log itself: a source task's
     * producer id is its connector name, the key data directories always used. */
    backend_close(f->b);
    open_backend(f);
    assert_int_equal(log_source_position(backend_log(f->b), "app", &pos, &len), SPOOL_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(pos, "pos-1", 5);
    free(pos);
    assert_int_equal(backend_producer_open(f->b, "app", &p, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(backend_producer_position(p, &pos, &len), SPOOL_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(pos, "pos-1", 5);
    free(pos);
    backend_producer_close(p);
}

/* ---- The background commit --------------------------------------------------------- */

/* The values of ev/0 from offset 0, joined with ',' into buf. */
static const char *values(fixture *f, char *buf, size_t len)
{
    log_reader *r;
    log_record rec;
    size_t used = 0;
    buf[0] = '\0';
    assert_int_equal(log_reader_open(backend_log(f->b), "ev", 0, 0, &r), SPOOL_OK);
    while (log_reader_next(r, &rec) == 1) {
        int n = snprintf(buf + used, len - used, "%s%.*s", used ? "," : "",
                         (int)rec.value_len, (const char *)rec.value);
        assert_true(n > 0 && (size_t)n < len - used);
        used += (size_t)n;
    }
    log_reader_close(r);
    return buf;
}

static void add_value(backend_producer *p, const char *v)
{
    log_record r = {.value = v, .value_len = strlen(v), .timestamp_ms = 1};
    assert_int_equal(backend_producer_add(p, "ev", 0, &r), SPOOL_OK);
}

static void assert_position(fixture *f, const char *want)
{
    void *pos = NULL;
    size_t len = 0;
    assert_int_equal(log_source_position(backend_log(f->b), "app", &pos, &len), SPOOL_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(pos, want, len);
    free(pos);
}

/* A fault hook that holds the committer thread inside its first pwrite until the test
 * opens the gate, then fails the nth call of op with err (err 0: none fails). */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int hold, held, open;
    log_io_op op;
    int nth, err, calls;
} gate;

static int gate_hook(void *ctx, log_io_op op, const char *path)
{
    gate *g = ctx;
    (void)path;
    pthread_mutex_lock(&g->mu);
    if (op == LOG_IO_APPEND && g->hold && !g->held) {
        g->held = 1;
        pthread_cond_broadcast(&g->cond);
        while (!g->open)
            pthread_cond_wait(&g->cond, &g->mu);
    }
    int fail = g->err != 0 && op == g->op && ++g->calls == g->nth;
    pthread_mutex_unlock(&g->mu);
    return fail ? g->err : 0;
}

static void gate_init(gate *g, int hold, log_io_op op, int nth, int err)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->hold = hold;
    g->op = op;
    g->nth = nth;
    g->err = err;
}

static void gate_wait_held(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->held)
        pthread_cond_wait(&g->cond, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(gate *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mu);
}

/* Nothing of a commit in flight is visible or durable before it ends; the producer
 * takes the next records meanwhile; commits end in order. */
static void test_producer_async_commit(void **state)
{
    fixture *f = *state;
    backend_producer *p;
    char buf[4096];
    gate g;

    topic(f, "ev", 1);
    assert_int_equal(backend_producer_open(f->b, "app", &p, f->err, sizeof f->err), SPOOL_OK);
    /* Nothing in flight: waiting is a no-op. */
    assert_int_equal(backend_producer_commit_wait(p), SPOOL_OK);

    gate_init(&g, 1, LOG_IO_APPEND, 0, 0);
    log_set_fault(backend_log(f->b), gate_hook, &g);
    add_value(p, "a1");
    assert_int_equal(backend_producer_set_position(p, "1", 1), SPOOL_OK);
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    assert_int_equal(backend_producer_commit_inflight(p), 1);
    assert_int_equal(backend_producer_count(p), 0);
    gate_wait_held(&g);
    /* Held inside log_commit: not committed, not visible, the position not moved. */
    assert_int_equal(backend_end_offset(f->b, "ev", 0), 0);
    void *pos = NULL;
    size_t len = 9;
    assert_int_equal(log_source_position(backend_log(f->b), "app", &pos, &len), SPOOL_OK);
    assert_null(pos);
    /* The next batch fills meanwhile; a second start must wait for the first. */
    add_value(p, "a2");
    assert_int_equal(backend_producer_set_position(p, "2", 1), SPOOL_OK);
    assert_int_equal(backend_producer_count(p), 1);
    assert_int_equal(backend_producer_commit_start(p), SPOOL_EINVAL);
    assert_non_null(strstr(backend_producer_error(p), "in flight"));
    gate_open(&g);
    assert_int_equal(backend_producer_commit_wait(p), SPOOL_OK);
    assert_int_equal(backend_producer_commit_inflight(p), 0);
    assert_string_equal(values(f, buf, sizeof buf), "a1");
    assert_position(f, "1");
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    assert_int_equal(backend_producer_commit_wait(p), SPOOL_OK);
    assert_string_equal(values(f, buf, sizeof buf), "a1,a2");
    assert_position(f, "2");
    log_set_fault(backend_log(f->b), NULL, NULL);
    gate_destroy(&g);

    /* A pipeline of commits, each next batch filled while the last one commits: every
     * record once, in order, the last position durable. */
    char want[4096] = "a1,a2";
    for (int i = 0; i < 200; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        add_value(p, v);
        assert_int_equal(backend_producer_set_position(p, v, strlen(v)), SPOOL_OK);
        assert_int_equal(backend_producer_commit_wait(p), SPOOL_OK);
        assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
        strcat(want, ",");
        strcat(want, v);
    }
    assert_int_equal(backend_producer_commit_wait(p), SPOOL_OK);
    assert_string_equal(values(f, buf, sizeof buf), want);
    assert_position(f, "199");

    /* Closing waits for a commit in flight: it is durable after a reopen. */
    add_value(p, "last");
    assert_int_equal(backend_producer_set_position(p, "last", 4), SPOOL_OK);
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    backend_producer_close(p);
    backend_close(f->b);
    open_backend(f);
    strcat(want, ",last");
    assert_string_equal(values(f, buf, sizeof buf), want);
    assert_position(f, "last");
}

/* A full disk met by a commit in flight: nothing of it is durable, its records and
 * position come back in front of what was added since, and all commit in order once
 * space returns. A failed disk is fatal: LOG_EIO, now and for later commits. */
static void test_producer_async_commit_faults(void **state)
{
    fixture *f = *state;
    backend_producer *p;
    char buf[256];
    gate g;

    topic(f, "ev", 1);
    assert_int_equal(backend_producer_open(f->b, "app", &p, f->err, sizeof f->err), SPOOL_OK);
    add_value(p, "a");
    assert_int_equal(backend_producer_set_position(p, "1", 1), SPOOL_OK);
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);

    /* ENOSPC, with records and a newer position added while it was in flight. */
    gate_init(&g, 1, LOG_IO_APPEND, 1, ENOSPC);
    log_set_fault(backend_log(f->b), gate_hook, &g);
    add_value(p, "b1");
    assert_int_equal(backend_producer_set_position(p, "2", 1), SPOOL_OK);
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    gate_wait_held(&g);
    add_value(p, "b2");
    add_value(p, "b3");
    assert_int_equal(backend_producer_set_position(p, "3", 1), SPOOL_OK);
    gate_open(&g);
    assert_int_equal(backend_producer_commit_wait(p), LOG_ENOSPC);
    assert_non_null(strstr(backend_producer_error(p), "No space"));
    assert_int_equal(backend_producer_count(p), 3);
    assert_string_equal(values(f, buf, sizeof buf), "a");
    assert_position(f, "1");
    log_set_fault(backend_log(f->b), NULL, NULL);
    gate_destroy(&g);
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    assert_int_equal(backend_producer_commit_wait(p), SPOOL_OK);
    assert_int_equal(backend_producer_count(p), 0);
    assert_string_equal(values(f, buf, sizeof buf), "a,b1,b2,b3");
    assert_position(f, "3");

    /* ENOSPC with records but no newer position added since: the failed commit's
     * position is the one that commits with them. */
    gate_init(&g, 0, LOG_IO_APPEND, 1, ENOSPC);
    log_set_fault(backend_log(f->b), gate_hook, &g);
    add_value(p, "c1");
    assert_int_equal(backend_producer_set_position(p, "4", 1), SPOOL_OK);
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    add_value(p, "c2");
    assert_int_equal(backend_producer_commit_wait(p), LOG_ENOSPC);
    log_set_fault(backend_log(f->b), NULL, NULL);
    gate_destroy(&g);
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);
    assert_string_equal(values(f, buf, sizeof buf), "a,b1,b2,b3,c1,c2");
    assert_position(f, "4");

    /* EIO at the segment's fdatasync: fatal, for this commit and every later one. */
    gate_init(&g, 0, LOG_IO_SYNC, 1, EIO);
    log_set_fault(backend_log(f->b), gate_hook, &g);
    add_value(p, "d");
    assert_int_equal(backend_producer_set_position(p, "5", 1), SPOOL_OK);
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    assert_int_equal(backend_producer_commit_wait(p), LOG_EIO);
    assert_true(backend_producer_error(p)[0] != '\0');
    assert_position(f, "4");
    add_value(p, "e");
    assert_int_equal(backend_producer_commit_start(p), SPOOL_OK);
    assert_int_equal(backend_producer_commit_wait(p), LOG_EIO);
    assert_position(f, "4");
    backend_producer_close(p);
    log_set_fault(backend_log(f->b), NULL, NULL);
    gate_destroy(&g);
}

static void test_topics(void **state)
{
    fixture *f = *state;
    char **names;
    size_t n;
    log_topic_config tc;

    topic(f, "b", 3);
    topic(f, "a", 1);
    assert_int_equal(backend_kind_of(f->b), BACKEND_BUILTIN);
    assert_int_equal(backend_topic_partitions(f->b, "b"), 3);
    assert_int_equal(backend_topic_partitions(f->b, "nope"), -1);
    assert_int_equal(backend_topic_names(f->b, &names, &n), SPOOL_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "b");
    log_names_free(names, n);
    assert_int_equal(backend_topic_config_get(f->b, "b", &tc), SPOOL_OK);
    assert_int_equal(tc.partitions, 3);
    assert_int_equal(backend_start_offset(f->b, "b", 2), 0);
    assert_int_equal(backend_end_offset(f->b, "b", 3), -1);
    assert_int_equal(backend_topic_delete(f->b, "a", f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(backend_topic_partitions(f->b, "a"), -1);
    assert_int_equal(backend_kind_parse("kafka"), BACKEND_KAFKA);
    assert_int_equal(backend_kind_parse("builtin"), BACKEND_BUILTIN);
    assert_int_equal(backend_kind_parse("kafak"), -1);
}

/* ---- Subscriptions ----------------------------------------------------------------- */

typedef struct assign_log {
    int calls, revokes;
    size_t n;
    char topics[8][16];
    int32_t parts[8];
    int64_t set[8];             /* offsets to set, by partition number */
} assign_log;

static int on_assigned(void *ctx, backend_part *parts, size_t n)
{
    assign_log *a = ctx;
    a->calls++;
    a->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(a->topics[i], sizeof a->topics[i], "%s", parts[i].topic);
        a->parts[i] = parts[i].partition;
        assert_int_equal(parts[i].offset, -1);
        parts[i].offset = a->set[parts[i].partition];
    }
    return 0;
}

static void on_revoked(void *ctx)
{
    ((assign_log *)ctx)->revokes++;
}

static void test_sub_assignment(void **state)
{
    fixture *f = *state;
    const char *topics[] = {"ev", "au"};
    assign_log a = {.set = {-1, 2, -1, -1}};
    backend_sub_opts o = {.name = "k", .topics = topics, .ntopics = 2, .task = 1, .tasks = 2,
                          .assigned = on_assigned, .revoked = on_revoked, .ctx = &a};
    backend_sub *s;
    log_record r;
    const char *t;
    int32_t p;

    topic(f, "ev", 4);
    topic(f, "au", 1);
    for (int32_t i = 0; i < 4; i++)
        put_n(f, "ev", i, 0, 4);
    put_n(f, "au", 0, 0, 1);
    assert_int_equal(backend_sub_open(f->b, &o, &s, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(a.calls, 0);            /* nothing before the first next */
    assert_int_equal(backend_sub_caught_up(s), 0);

    /* Task 1 of 2 gets partitions 1 and 3 of ev and none of au (one partition: 0). */
    int got[4] = {0}, last[4] = {-1, -1, -1, -1};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), 1);
        assert_string_equal(t, "ev");
        assert_true(p == 1 || p == 3);
        assert_true(r.offset > last[p]);      /* in offset order within a partition */
        last[p] = (int)r.offset;
        got[p]++;
    }
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.topics[0], "ev");
    assert_int_equal(a.parts[0], 1);
    assert_int_equal(a.parts[1], 3);
    assert_int_equal(got[1], 2);              /* from offset 2, as assigned() said */
    assert_int_equal(got[3], 4);              /* -1: from the start */
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), 0);
    assert_int_equal(backend_sub_caught_up(s), 1);
    put_n(f, "ev", 3, 4, 1);
    put_n(f, "ev", 2, 4, 1);                  /* not this task's */
    assert_int_equal(backend_sub_caught_up(s), 0);
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), 1);
    assert_int_equal(p, 3);
    assert_true(value_is(&r, "v4"));
    assert_int_equal(r.offset, 4);
    assert_int_equal(backend_sub_caught_up(s), 1);
    backend_part done = {"ev", 3, 5, -1};
    assert_int_equal(backend_sub_commit(s, &done, 1), SPOOL_OK);
    assert_int_equal(a.revokes, 0);           /* builtin never revokes */
    assert_int_equal(a.calls, 1);
    backend_sub_close(s);
}

/* A partition with a long backlog does not starve another: each gets a bounded run. */
static void test_sub_fairness(void **state)
{
    fixture *f = *state;
    const char *topics[] = {"ev"};
    backend_sub_opts o = {.name = "k", .topics = topics, .ntopics = 1, .tasks = 1};
    backend_sub *s;
    log_record r;
    const char *t;
    int32_t p;

    topic(f, "ev", 2);
    put_n(f, "ev", 0, 0, 5000);
    put_n(f, "ev", 1, 0, 10);
    assert_int_equal(backend_sub_open(f->b, &o, &s, f->err, sizeof f->err), SPOOL_OK);
    int seen1 = 0, at = 0, n = 0;
    while (backend_sub_next(s, &r, &t, &p, 0) == 1) {
        n++;
        if (p == 1 && ++seen1 == 10)
            at = n;
    }
    assert_int_equal(n, 5010);
    assert_int_equal(seen1, 10);
    /* All of partition 1 within the first two turns, not after partition 0's 5000. */
    assert_in_range(at, 10, 1000);
    backend_sub_close(s);
}

/* Tools read one partition of a topic, with no task split. */
static void test_sub_one_partition(void **state)
{
    fixture *f = *state;
    const char *topics[] = {"ev"};
    assign_log a = {.set = {-1, -1, 1, -1}};
    backend_sub_opts o = {.name = "consume", .topics = topics, .ntopics = 1,
                          .assigned = on_assigned, .ctx = &a, .standalone = 1,
                          .only_partition = 1, .partition = 2};
    backend_sub *s;
    log_record r;
    const char *t;
    int32_t p;

    topic(f, "ev", 3);
    for (int32_t i = 0; i < 3; i++)
        put_n(f, "ev", i, 0, 3);
    assert_int_equal(backend_sub_open(f->b, &o, &s, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), 1);
    assert_int_equal(p, 2);
    assert_int_equal(r.offset, 1);
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), 1);
    assert_int_equal(r.offset, 2);
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), 0);
    assert_int_equal(a.n, 1);
    backend_sub_close(s);

    /* Standalone without only_partition: every partition, whatever task says. */
    backend_sub_opts all = {.name = "consume", .topics = topics, .ntopics = 1, .task = 5,
                            .tasks = 7, .standalone = 1};
    assert_int_equal(backend_sub_open(f->b, &all, &s, f->err, sizeof f->err), SPOOL_OK);
    int n = 0;
    while (backend_sub_next(s, &r, &t, &p, 0) == 1)
        n++;
    assert_int_equal(n, 9);
    backend_sub_close(s);

    const char *missing[] = {"nope"};
    all.topics = missing;
    assert_int_equal(backend_sub_open(f->b, &all, &s, f->err, sizeof f->err), LOG_ENOTOPIC);
    assert_non_null(strstr(f->err, "nope"));
}

static int refuse(void *ctx, backend_part *parts, size_t n)
{
    (void)ctx, (void)parts, (void)n;
    return -1;
}

static void test_sub_assigned_refuses(void **state)
{
    fixture *f = *state;
    const char *topics[] = {"ev"};
    backend_sub_opts o = {.name = "k", .topics = topics, .ntopics = 1, .assigned = refuse};
    backend_sub *s;
    log_record r;
    const char *t;
    int32_t p;
    topic(f, "ev", 1);
    assert_int_equal(backend_sub_open(f->b, &o, &s, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), SPOOL_ERR);
    assert_true(backend_sub_error(s)[0] != '\0');
    backend_sub_close(s);
}

typedef struct waiter {
    backend_sub *s;
    int rc;
    int64_t offset;
    int64_t ms;
} waiter;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *wait_main(void *arg)
{
    waiter *w = arg;
    log_record r;
    const char *t;
    int32_t p;
    int64_t t0 = now_ms();
    w->rc = backend_sub_next(w->s, &r, &t, &p, 120000);
    w->offset = w->rc == 1 ? r.offset : -1;
    w->ms = now_ms() - t0;
    return NULL;
}

/* A waiting reader returns at a commit with the record, and at a wakeup with 0; a
 * wakeup that comes before the wait is not lost. */
static void test_sub_wait_and_wakeup(void **state)
{
    fixture *f = *state;
    const char *topics[] = {"ev"};
    backend_sub_opts o = {.name = "k", .topics = topics, .ntopics = 1};
    backend_sub *s;
    log_record r;
    const char *t;
    int32_t p;
    pthread_t th;

    topic(f, "ev", 1);
    assert_int_equal(backend_sub_open(f->b, &o, &s, f->err, sizeof f->err), SPOOL_OK);
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 0), 0);

    waiter w = {.s = s};
    assert_int_equal(pthread_create(&th, NULL, wait_main, &w), 0);
    put_n(f, "ev", 0, 0, 1);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 1);
    assert_int_equal(w.offset, 0);

    w = (waiter){.s = s};
    assert_int_equal(pthread_create(&th, NULL, wait_main, &w), 0);
    /* The wakeup may come before the thread waits: the flag keeps it for the wait. */
    backend_sub_wakeup(s);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    /* Far below the 120 s it was allowed to wait: it was woken, not timed out. */
    assert_true(w.ms < 60000);

    /* The flag is consumed: with a record ready, next delivers it. */
    put_n(f, "ev", 0, 1, 1);
    backend_sub_wakeup(s);
    assert_int_equal(backend_sub_next(s, &r, &t, &p, 100), 1);
    assert_int_equal(r.offset, 1);
    backend_sub_close(s);
}

/* ---- Coordination and wrapping ----------------------------------------------------- */

typedef struct owns {
    int owned[4];
    int calls;
} owns;

static void on_own(void *ctx, size_t i, int owned)
{
    owns *o = ctx;
    assert_true(i < 4);
    o->owned[i] = owned;
    o->calls++;
}

static void test_coord_owns_all(void **state)
{
    fixture *f = *state;
    const char *tasks[] = {"source/a", "source/b", "source/c"};
    owns o = {{0}, 0};
    backend_coord *c;
    assert_int_equal(backend_coord_open(f->b, tasks, 3, on_own, &o, &c, f->err, sizeof f->err),
                     SPOOL_OK);
    assert_int_equal(o.calls, 0);
    assert_int_equal(backend_coord_poll(c, 0), SPOOL_OK);
    assert_int_equal(o.calls, 3);
    assert_true(o.owned[0] && o.owned[1] && o.owned[2]);
    assert_int_equal(backend_coord_poll(c, 0), SPOOL_OK);
    assert_int_equal(o.calls, 3);             /* owned once */
    backend_coord_close(c);
    assert_int_equal(o.calls, 6);
    assert_true(!o.owned[0] && !o.owned[1] && !o.owned[2]);
}

static void test_wrap_log(void **state)
{
    fixture *f = *state;
    backend *w;
    log_store *log = backend_log(f->b);
    topic(f, "ev", 1);
    assert_int_equal(backend_wrap_log(log, &w), SPOOL_OK);
    assert_ptr_equal(backend_log(w), log);
    assert_int_equal(backend_topic_partitions(w, "ev"), 1);
    backend_close(w);
    /* The log is still open and usable. */
    put_n(f, "ev", 0, 0, 1);
    assert_int_equal(log_end_offset(log, "ev", 0), 1);
}

static void test_open_errors(void **state)
{
    (void)state;
    backend *b;
    char err[512] = "";
    backend_config bc = {.kind = BACKEND_BUILTIN, .data_dir = NULL};
    assert_int_not_equal(backend_open(&bc, &b, err, sizeof err), SPOOL_OK);
    assert_null(b);
    assert_true(err[0] != '\0');
    fixture *f = *state;
    backend_config again = {.kind = BACKEND_BUILTIN, .data_dir = f->dir};
    assert_int_equal(backend_open(&again, &b, err, sizeof err), LOG_ELOCKED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_producer_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_async_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_async_commit_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_fairness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_one_partition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_assigned_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_wait_and_wakeup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coord_owns_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

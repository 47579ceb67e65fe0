/* test_backend_kafka.c - the kafka backend against librdkafka's mock cluster (3 brokers,
 * in process): topics, transactional producers with positions, consumer-group
 * subscriptions, the source coordinator group, and a broker down mid-stream.
 *
 * What librdkafka 2.0.2's mock cluster cannot show, and these tests therefore do not
 * assert: that read_committed hides aborted and open transactions (the mock shows every
 * record), that a newer producer fences an older one (the mock accepts the older one's
 * commit; test_fencing prints which it saw), and the admin requests (the mock answers
 * no CreateTopics/DeleteTopics/CreatePartitions/DescribeConfigs: topics are created
 * through the mock's own API and the backend must fail those requests clearly).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "backend/backend.h"

#define GROUP "t"

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mc;
static const char *boot;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t t0;
#define NOTE(...) \
    do { \
        if (getenv("TEST_VERBOSE") != NULL) { \
            fprintf(stderr, "%6.2f ", (now_ms() - t0) / 1000.0); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
        } \
    } while (0)

static int setup_cluster(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof(err));
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (mock_rk == NULL || (mc = rd_kafka_mock_cluster_new(mock_rk, 3)) == NULL)
        return -1;
    boot = rd_kafka_mock_cluster_bootstraps(mc);
    t0 = now_ms();
    rd_kafka_mock_topic_create(mc, GROUP ".offsets", 1, 3);
    rd_kafka_mock_topic_create(mc, GROUP ".sources", 4, 3);
    return 0;
}

static int teardown_cluster(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mock_rk);
    return 0;
}

static backend *open_backend(void)
{
    const char *props[] = {"bootstrap.servers", boot,
                           "socket.timeout.ms", "3000",
                           "session.timeout.ms", "3000",
                           "heartbeat.interval.ms", "300",
                           /* small, so that big transactions meet QUEUE_FULL */
                           "queue.buffering.max.messages", "2000",
                           "log_level", getenv("TEST_DEBUG") ? "7" : "3",
                           getenv("TEST_DEBUG") ? "debug" : NULL, getenv("TEST_DEBUG"), NULL};
    backend_config cfg = {.kind = BACKEND_KAFKA, .group = GROUP, .properties = props,
                          .replication_factor = 5, .client_id = "unit"};
    backend *b = NULL;
    char err[512];
    int rc = backend_open(&cfg, &b, err, sizeof(err));
    if (rc != SPOOL_OK)
        fprintf(stderr, "backend_open: %s\n", err);
    assert_int_equal(rc, SPOOL_OK);
    assert_int_equal(backend_kind_of(b), BACKEND_KAFKA);
    assert_null(backend_log(b));
    return b;
}

/* ---- Open ----------------------------------------------------------------------- */

static void test_open_refusals(void **state)
{
    (void)state;
    char err[512];
    backend *b = NULL;
    const char *none[] = {"linger.ms", "5", NULL};
    backend_config cfg = {.kind = BACKEND_KAFKA, .properties = none};
    assert_int_equal(backend_open(&cfg, &b, err, sizeof(err)), SPOOL_EINVAL);
    assert_non_null(strstr(err, "bootstrap.servers"));
    const char *managed[] = {"bootstrap.servers", boot, "transactional.id", "x", NULL};
    cfg.properties = managed;
    assert_int_equal(backend_open(&cfg, &b, err, sizeof(err)), SPOOL_EINVAL);
    assert_non_null(strstr(err, "transactional.id"));
    const char *props[] = {"bootstrap.servers", boot, NULL};
    cfg.properties = props;
    cfg.group = "bad group";
    assert_int_equal(backend_open(&cfg, &b, err, sizeof(err)), SPOOL_EINVAL);
    assert_non_null(strstr(err, "log.group"));
    assert_null(b);
}

/* ---- Topics --------------------------------------------------------------------- */

static void test_topics(void **state)
{
    (void)state;
    char err[512];
    rd_kafka_mock_topic_create(mc, "events", 4, 3);
    backend *b = open_backend();
    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.partitions = 4;
    cfg.retention_ms = 3600000;
    assert_int_equal(backend_topic_create(b, "events", &cfg, err, sizeof(err)), SPOOL_OK);
    cfg.partitions = 3;
    assert_int_equal(backend_topic_create(b, "events", &cfg, err, sizeof(err)), SPOOL_EINVAL);
    assert_non_null(strstr(err, "4 partitions"));
    printf("     wrong count: %s\n", err);
    assert_int_equal(backend_topic_partitions(b, "events"), 4);
    assert_int_equal(backend_topic_partitions(b, "no-such-topic"), -1);
    log_topic_config got;
    assert_int_equal(backend_topic_config_get(b, "events", &got), SPOOL_OK);
    assert_int_equal(got.partitions, 4);
    assert_int_equal(got.retention_ms, 3600000);
    assert_int_equal(backend_topic_config_get(b, "no-such-topic", &got), LOG_ENOTOPIC);

    char **names;
    size_t n;
    assert_int_equal(backend_topic_names(b, &names, &n), SPOOL_OK);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(strncmp(names[i], GROUP ".", 2) != 0); /* internal topics hidden */
        assert_true(strncmp(names[i], "__", 2) != 0);
        seen += strcmp(names[i], "events") == 0;
        if (i > 0)
            assert_true(strcmp(names[i - 1], names[i]) < 0);
    }
    assert_int_equal(seen, 1);
    log_names_free(names, n);

    assert_int_equal(backend_end_offset(b, "events", 0), 0);
    assert_int_equal(backend_start_offset(b, "events", 0), 0);
    assert_int_equal(backend_end_offset(b, "events", 9), -1);

    /* The mock answers no admin request: a clear error, not a hang. */
    cfg.partitions = 2;
    int rc = backend_topic_create(b, "fresh", &cfg, err, sizeof(err));
    assert_int_not_equal(rc, SPOOL_OK);
    assert_non_null(strstr(err, "fresh"));
    printf("     create on the mock: %s\n", err);
    rc = backend_topic_delete(b, "events", err, sizeof(err));
    assert_int_not_equal(rc, SPOOL_OK);
    assert_non_null(strstr(err, "events"));
    backend_close(b);
}

/* ---- Producers ------------------------------------------------------------------ */

/* A subscription callback context that records the current assignment. */
typedef struct subctx {
    int assigned_calls, revoked_calls;
    backend_part parts[64];
    size_t nparts;
    int64_t start_at;             /* >= 0: assigned() starts every partition there */
    int fail;
} subctx;

static int on_assigned(void *ctx, backend_part *parts, size_t n)
{
    subctx *c = ctx;
    c->assigned_calls++;
    c->nparts = n;
    for (size_t i = 0; i < n; i++) {
        if (c->start_at >= 0)
            parts[i].offset = c->start_at;
        c->parts[i] = parts[i];
    }
    return c->fail ? -1 : 0;
}

static void on_revoked(void *ctx)
{
    subctx *c = ctx;
    c->revoked_calls++;
    c->nparts = 0;
}

static backend_sub *open_sub(backend *b, const char *name, const char *topic, subctx *c)
{
    const char *topics[] = {topic};
    backend_sub_opts o = {.name = name, .topics = topics, .ntopics = 1,
                          .assigned = on_assigned, .revoked = on_revoked, .ctx = c};
    backend_sub *s = NULL;
    char err[512];
    int rc = backend_sub_open(b, &o, &s, err, sizeof(err));
    if (rc != SPOOL_OK)
        fprintf(stderr, "backend_sub_open: %s\n", err);
    assert_int_equal(rc, SPOOL_OK);
    return s;
}

static void expect_position(backend_producer *p, const char *want)
{
    void *pos = NULL;
    size_t len = 0;
    int rc = backend_producer_position(p, &pos, &len);
    if (rc != SPOOL_OK)
        fail_msg("position: %s", backend_producer_error(p));
    if (want == NULL) {
        assert_null(pos);
    } else {
        assert_non_null(pos);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(pos, want, len);
    }
    free(pos);
}

static void add_rec(backend_producer *p, const char *topic, int32_t part, const char *key,
                    const char *value)
{
    log_header h = {.key = "h1", .key_len = 2, .value = "hv", .value_len = 2};
    log_record r = {.key = key, .key_len = key ? strlen(key) : 0, .value = value,
                    .value_len = value ? strlen(value) : 0, .headers = &h, .header_count = 1,
                    .timestamp_ms = 1700000000123};
    assert_int_equal(backend_producer_add(p, topic, part, &r), SPOOL_OK);
}

static void test_producer(void **state)
{
    (void)state;
    char err[512];
    rd_kafka_mock_topic_create(mc, "ptopic", 2, 3);
    backend *b = open_backend();
    backend_producer *p;
    assert_int_equal(backend_producer_open(b, "src-a", &p, err, sizeof(err)), SPOOL_OK);
    expect_position(p, NULL);
    add_rec(p, "ptopic", 0, "k0", "v0");
    add_rec(p, "ptopic", 1, "k1", "v1");
    add_rec(p, "ptopic", 1, NULL, NULL);
    assert_int_equal(backend_producer_count(p), 3);
    assert_int_equal(backend_producer_set_position(p, "pos-1", 5), SPOOL_OK);
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);
    assert_int_equal(backend_producer_count(p), 0);
    expect_position(p, "pos-1");
    assert_int_equal(backend_end_offset(b, "ptopic", 0), 1);
    assert_int_equal(backend_end_offset(b, "ptopic", 1), 2);

    /* abort drops records and position */
    add_rec(p, "ptopic", 0, "k", "dropped");
    assert_int_equal(backend_producer_set_position(p, "pos-x", 5), SPOOL_OK);
    backend_producer_abort(p);
    assert_int_equal(backend_producer_count(p), 0);
    /* a commit with a position only */
    assert_int_equal(backend_producer_set_position(p, "pos-2", 5), SPOOL_OK);
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);
    backend_producer_close(p);

    /* positions survive a reopen; another id has none */
    assert_int_equal(backend_producer_open(b, "src-a", &p, err, sizeof(err)), SPOOL_OK);
    expect_position(p, "pos-2");
    backend_producer *q;
    assert_int_equal(backend_producer_open(b, "src-b", &q, err, sizeof(err)), SPOOL_OK);
    expect_position(q, NULL);

    /* A big transaction, past queue.buffering.max.messages (2000): QUEUE_FULL waits. */
    int64_t end0 = backend_end_offset(b, "ptopic", 0);
    char v[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(v, sizeof(v), "big-%d", i);
        add_rec(q, "ptopic", 0, NULL, v);
    }
    assert_int_equal(backend_producer_set_position(q, "big", 3), SPOOL_OK);
    assert_int_equal(backend_producer_commit(q), SPOOL_OK);
    assert_int_equal(backend_end_offset(b, "ptopic", 0), end0 + 10000);
    expect_position(q, "big");
    expect_position(p, "pos-2");
    backend_producer_close(q);
    backend_producer_close(p);

    /* What was written reads back with key, value, headers and timestamp. */
    subctx c = {.start_at = 0};
    backend_sub *s = open_sub(b, "readback", "ptopic", &c);
    log_record r;
    const char *topic;
    int32_t part;
    int found = 0;
    for (int64_t deadline = now_ms() + 30000; found < 3 && now_ms() < deadline;) {
        int rc = backend_sub_next(s, &r, &topic, &part, 200);
        assert_true(rc >= 0);
        /* The first transaction wrote offset 0 of partition 0 and offsets 0-1 of
         * partition 1. What follows in partition 0 (the aborted record, which the mock
         * may show, then the big transaction) is not looked at here. */
        if (rc == 0 || r.offset > (part == 0 ? 0 : 1))
            continue;
        assert_string_equal(topic, "ptopic");
        assert_int_equal(r.header_count, 1);
        assert_memory_equal(r.headers[0].key, "h1", 2);
        assert_int_equal(r.timestamp_ms, 1700000000123);
        if (part == 1 && r.offset == 1) {
            assert_null(r.key);
            assert_null(r.value);
        } else {
            assert_int_equal(r.key_len, 2);
            assert_memory_equal(r.value, part == 0 ? "v0" : "v1", 2);
        }
        found++;
    }
    assert_int_equal(found, 3);
    backend_sub_close(s);
    backend_close(b);
}

/* KIP-618's fencing: after a newer producer of the same id started, the older one's
 * commit must fail. librdkafka 2.0.2's mock cluster does not check producer epochs;
 * the test prints what it saw and checks what holds either way: the newest producer
 * works and its position is the one read afterwards. */
static void test_fencing(void **state)
{
    (void)state;
    char err[512];
    rd_kafka_mock_topic_create(mc, "ftopic", 1, 3);
    backend *b = open_backend();
    backend_producer *old, *new_;
    assert_int_equal(backend_producer_open(b, "src-f", &old, err, sizeof(err)), SPOOL_OK);
    add_rec(old, "ftopic", 0, "k", "before");
    assert_int_equal(backend_producer_open(b, "src-f", &new_, err, sizeof(err)), SPOOL_OK);
    add_rec(old, "ftopic", 0, "k", "zombie");
    assert_int_equal(backend_producer_set_position(old, "zombie", 6), SPOOL_OK);
    int rc = backend_producer_commit(old);
    printf("     old producer's commit after a newer one opened: %s%s\n",
           rc == LOG_EFENCED ? "LOG_EFENCED (fenced)" : spool_rc_name(rc),
           rc == SPOOL_OK ? " - the mock cluster does not fence (librdkafka 2.0.2); real "
                            "Kafka returns PRODUCER_FENCED" : "");
    assert_true(rc == LOG_EFENCED || rc == SPOOL_OK);
    if (rc == LOG_EFENCED)
        assert_non_null(strstr(backend_producer_error(old), "fenced"));
    add_rec(new_, "ftopic", 0, "k", "new");
    assert_int_equal(backend_producer_set_position(new_, "new", 3), SPOOL_OK);
    assert_int_equal(backend_producer_commit(new_), SPOOL_OK);
    backend_producer_close(old);
    backend_producer_close(new_);
    backend_producer *third;
    assert_int_equal(backend_producer_open(b, "src-f", &third, err, sizeof(err)), SPOOL_OK);
    expect_position(third, "new");
    backend_producer_close(third);
    backend_close(b);
}

/* ---- Subscriptions -------------------------------------------------------------- */

#define SUBP 4
#define PER 100

static void fill(backend *b, const char *topic, const char *id)
{
    char err[512], v[32];
    backend_producer *p;
    assert_int_equal(backend_producer_open(b, id, &p, err, sizeof(err)), SPOOL_OK);
    for (int part = 0; part < SUBP; part++)
        for (int i = 0; i < PER; i++) {
            snprintf(v, sizeof(v), "%d-%d", part, i);
            add_rec(p, topic, part, v, v);
        }
    assert_int_equal(backend_producer_commit(p), SPOOL_OK);
    backend_producer_close(p);
}

/* Polls a and (when not NULL) b until cond holds; counts records per sub. */
typedef int (*cond_fn)(subctx *ca, subctx *cb);

static void poll_until(backend_sub *a, subctx *ca, int *na, backend_sub *bs, subctx *cb,
                       int *nb, cond_fn cond, const char *what)
{
    log_record r;
    const char *t;
    int32_t p;
    int64_t deadline = now_ms() + 40000;
    while (!cond(ca, cb)) {
        if (now_ms() > deadline)
            fail_msg("timed out waiting for: %s", what);
        int rc = backend_sub_next(a, &r, &t, &p, 50);
        assert_true(rc >= 0);
        if (rc == 1 && na != NULL)
            (*na)++;
        if (bs != NULL) {
            rc = backend_sub_next(bs, &r, &t, &p, 50);
            assert_true(rc >= 0);
            if (rc == 1 && nb != NULL)
                (*nb)++;
        }
    }
}

static int n_read_a;
static int all_read_one(subctx *a, subctx *b)
{
    (void)b;
    return a->nparts == SUBP && n_read_a == SUBP * PER;
}
static int split(subctx *a, subctx *b)
{
    return a->nparts > 0 && b->nparts > 0 && a->nparts + b->nparts == SUBP;
}
static int has_all(subctx *a, subctx *b)
{
    (void)b;
    return a->nparts == SUBP;
}

static void test_subscriptions(void **state)
{
    (void)state;
    rd_kafka_mock_topic_create(mc, "stopic", SUBP, 3);
    backend *b = open_backend();
    fill(b, "stopic", "filler");

    subctx ca = {.start_at = -1}, cb = {.start_at = -1};
    NOTE("filled");
    backend_sub *a = open_sub(b, "sinkx", "stopic", &ca);
    assert_int_equal(backend_sub_caught_up(a), 0); /* nothing assigned yet */
    n_read_a = 0;
    poll_until(a, &ca, &n_read_a, NULL, NULL, NULL, all_read_one, "one member reads all");
    NOTE("a read all");
    assert_int_equal(ca.assigned_calls, 1);
    assert_int_equal(backend_sub_caught_up(a), 1);

    /* A second member of the same group: the partitions split, each exactly once. */
    backend_sub *bs = open_sub(b, "sinkx", "stopic", &cb);
    poll_until(a, &ca, NULL, bs, &cb, NULL, split, "two members split the partitions");
    NOTE("split");
    assert_true(ca.revoked_calls >= 1);
    for (size_t i = 0; i < ca.nparts; i++)
        for (size_t j = 0; j < cb.nparts; j++)
            assert_false(ca.parts[i].partition == cb.parts[j].partition);
    printf("     split: %zu + %zu partitions\n", ca.nparts, cb.nparts);

    /* Commit offset 50 of b's partitions; then b's partitions all go to... closing a
     * moves a's partitions to b (revoked, then assigned with all of them). */
    int b_revoked = cb.revoked_calls;
    backend_sub_close(a);
    poll_until(bs, &cb, NULL, NULL, NULL, NULL, has_all, "the survivor gets everything");
    NOTE("b has all");
    assert_true(cb.revoked_calls > b_revoked);
    backend_part commit[SUBP];
    for (size_t i = 0; i < cb.nparts; i++) {
        commit[i] = cb.parts[i];
        commit[i].offset = 50;
    }
    assert_int_equal(backend_sub_commit(bs, commit, cb.nparts), SPOOL_OK);
    /* a partition that is not assigned cannot be committed */
    backend_part stranger = {.topic = "ptopic", .partition = 0, .offset = 1};
    assert_int_equal(backend_sub_commit(bs, &stranger, 1), LOG_EFENCED);

    /* wakeup makes a blocked (here: infinite) next() return 0 */
    backend_sub_wakeup(bs);
    log_record r;
    const char *t;
    int32_t p;
    int rc;
    while ((rc = backend_sub_next(bs, &r, &t, &p, -1)) == 1)
        ; /* records already fetched come first; then the wakeup */
    assert_int_equal(rc, 0);
    backend_sub_close(bs);
    NOTE("b closed");

    /* A new member resumes at the committed offsets. */
    subctx cc = {.start_at = -1};
    backend_sub *c = open_sub(b, "sinkx", "stopic", &cc);
    int first[SUBP], got = 0;
    for (int i = 0; i < SUBP; i++)
        first[i] = -1;
    for (int64_t deadline = now_ms() + 40000; got < SUBP * (PER - 50);) {
        assert_true(now_ms() < deadline);
        rc = backend_sub_next(c, &r, &t, &p, 200);
        assert_true(rc >= 0);
        if (rc == 1) {
            if (first[p] < 0)
                first[p] = (int)r.offset;
            got++;
        }
    }
    for (int i = 0; i < SUBP; i++)
        assert_int_equal(first[i], 50);
    assert_int_equal(backend_sub_caught_up(c), 1);
    NOTE("c read from 50");
    backend_sub_close(c);
    NOTE("c closed");

    /* An explicit offset chosen in assigned() is honoured. */
    subctx cd = {.start_at = 90};
    backend_sub *d = open_sub(b, "sinky", "stopic", &cd);
    got = 0;
    for (int64_t deadline = now_ms() + 40000; got < SUBP * (PER - 90);) {
        assert_true(now_ms() < deadline);
        rc = backend_sub_next(d, &r, &t, &p, 200);
        assert_true(rc >= 0);
        if (rc == 1) {
            assert_true(r.offset >= 90);
            got++;
        }
    }
    backend_sub_close(d);
    NOTE("d done");

    /* assigned() failing fails next() */
    subctx ce = {.start_at = -1, .fail = 1};
    backend_sub *e = open_sub(b, "sinkz", "stopic", &ce);
    for (int64_t deadline = now_ms() + 40000; (rc = backend_sub_next(e, &r, &t, &p, 200)) == 0;)
        assert_true(now_ms() < deadline);
    assert_int_equal(rc, SPOOL_ERR);
    NOTE("e failed");
    backend_sub_close(e);
    backend_close(b);
}

/* ---- Coordination --------------------------------------------------------------- */

#define TASKS 3 /* of the 4 partitions of t.sources: partition 3 stands for nothing */

static int owner[TASKS]; /* 0: none, else the coordinator's number */
static int owned_by[3];

typedef struct coordctx {
    int id;
} coordctx;

static void on_own(void *ctx, size_t i, int owned)
{
    coordctx *c = ctx;
    assert_true(i < TASKS);
    if (owned) {
        assert_int_equal(owner[i], 0); /* never two owners at once */
        owner[i] = c->id;
        owned_by[c->id]++;
    } else {
        assert_int_equal(owner[i], c->id);
        owner[i] = 0;
        owned_by[c->id]--;
    }
}

static void test_coordinator(void **state)
{
    (void)state;
    char err[512];
    backend *b = open_backend();
    const char *tasks[TASKS] = {"a", "b", "c"};
    coordctx x1 = {1}, x2 = {2};
    backend_coord *c1, *c2;
    assert_int_equal(backend_coord_open(b, tasks, TASKS, on_own, &x1, &c1, err, sizeof(err)),
                     SPOOL_OK);
    for (int64_t deadline = now_ms() + 40000; owned_by[1] < TASKS;) {
        assert_true(now_ms() < deadline);
        assert_int_equal(backend_coord_poll(c1, 100), SPOOL_OK);
    }
    assert_int_equal(backend_coord_open(b, tasks, TASKS, on_own, &x2, &c2, err, sizeof(err)),
                     SPOOL_OK);
    for (int64_t deadline = now_ms() + 40000;
         !(owned_by[1] > 0 && owned_by[2] > 0 && owned_by[1] + owned_by[2] == TASKS);) {
        assert_true(now_ms() < deadline);
        assert_int_equal(backend_coord_poll(c1, 50), SPOOL_OK);
        assert_int_equal(backend_coord_poll(c2, 50), SPOOL_OK);
    }
    printf("     two coordinators: %d + %d tasks\n", owned_by[1], owned_by[2]);
    backend_coord_close(c1);
    assert_int_equal(owned_by[1], 0);
    for (int64_t deadline = now_ms() + 40000; owned_by[2] < TASKS;) {
        assert_true(now_ms() < deadline);
        assert_int_equal(backend_coord_poll(c2, 100), SPOOL_OK);
    }
    backend_coord_close(c2);
    for (int i = 0; i < TASKS; i++)
        assert_int_equal(owner[i], 0);
    backend_close(b);
}

/* ---- A broker down mid-stream --------------------------------------------------- */

#define BATCHES 30
#define BATCH 200

static atomic_int committed_batches;

static void *outage(void *arg)
{
    (void)arg;
    while (atomic_load(&committed_batches) < 10)
        sched_yield();
    /* Broker 1 leads partition 0 and coordinates everything (set below). */
    rd_kafka_mock_broker_set_down(mc, 1);
    struct timespec ts = {2, 0}; /* the outage's length, not a synchronisation */
    nanosleep(&ts, NULL);
    rd_kafka_mock_broker_set_up(mc, 1);
    return NULL;
}

static void test_broker_down(void **state)
{
    (void)state;
    char err[512], v[32];
    rd_kafka_mock_topic_create(mc, "btopic", 2, 3);
    rd_kafka_mock_partition_set_leader(mc, "btopic", 0, 1);
    rd_kafka_mock_partition_set_leader(mc, "btopic", 1, 2);
    rd_kafka_mock_coordinator_set(mc, "transaction", GROUP ".src-bd", 1);
    backend *b = open_backend();
    backend_producer *p;
    assert_int_equal(backend_producer_open(b, "src-bd", &p, err, sizeof(err)), SPOOL_OK);
    pthread_t th;
    pthread_create(&th, NULL, outage, NULL);
    int retries = 0, dup_bound = 0;
    for (int k = 0; k < BATCHES;) {
        for (int i = 0; i < BATCH; i++) {
            snprintf(v, sizeof(v), "%d", k * BATCH + i);
            add_rec(p, "btopic", i % 2, v, v);
        }
        snprintf(v, sizeof(v), "%d", k + 1);
        assert_int_equal(backend_producer_set_position(p, v, strlen(v)), SPOOL_OK);
        int rc = backend_producer_commit(p);
        if (rc == SPOOL_RETRY) { /* aborted: the same batch again */
            retries++;
            dup_bound += BATCH;
            continue;
        }
        if (rc != SPOOL_OK)
            fail_msg("commit: %s", backend_producer_error(p));
        k++;
        atomic_store(&committed_batches, k);
    }
    pthread_join(th, NULL);
    expect_position(p, "30");
    backend_producer_close(p);

    /* Read everything back: each value at least once; more only from aborted batches
     * (the mock shows aborted transactions to read_committed readers). */
    subctx c = {.start_at = -1};
    backend_sub *s = open_sub(b, "bdreader", "btopic", &c);
    static int seen[BATCHES * BATCH];
    int total = 0, distinct = 0;
    log_record r;
    const char *t;
    int32_t part;
    for (int64_t deadline = now_ms() + 40000; !(c.nparts == 2 && backend_sub_caught_up(s));) {
        if (now_ms() > deadline) {
            for (int i = 0, from = -1; i <= BATCHES * BATCH; i++) {
                if (i < BATCHES * BATCH && !seen[i] && from < 0)
                    from = i;
                if ((i == BATCHES * BATCH || seen[i]) && from >= 0) {
                    if (from == i - 1 && from % 2 == 1 && i < BATCHES * BATCH && !seen[i + 1]) { from = -1; continue; }
                    fprintf(stderr, "missing %d..%d\n", from, i - 1);
                    from = -1;
                }
            }
            fprintf(stderr, "ends: %" PRId64 " %" PRId64 "\n", backend_end_offset(b, "btopic", 0),
                    backend_end_offset(b, "btopic", 1));
            fail_msg("reading back: %d records, %d distinct, %zu partitions assigned", total,
                     distinct, c.nparts);
        }
        int rc = backend_sub_next(s, &r, &t, &part, 100);
        assert_true(rc >= 0);
        if (rc == 1) {
            int i = atoi((const char *)r.value);
            assert_true(i >= 0 && i < BATCHES * BATCH);
            distinct += seen[i]++ == 0;
            total++;
        }
    }
    printf("     broker down for 2 s: %d records read, %d distinct of %d; %d aborted batch%s "
           "(duplicates allowed by the mock: %d)\n", total, distinct, BATCHES * BATCH,
           retries, retries == 1 ? "" : "es", dup_bound);
    assert_int_equal(distinct, BATCHES * BATCH);
    assert_true(total - distinct <= dup_bound);
    backend_sub_close(s);
    backend_close(b);
}

int main(void)
{
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_refusals),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_producer),
        cmocka_unit_test(test_fencing),
        cmocka_unit_test(test_subscriptions),
        cmocka_unit_test(test_coordinator),
        cmocka_unit_test(test_broker_down),
    };
    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}

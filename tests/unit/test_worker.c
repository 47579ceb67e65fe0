/* test_worker.c - connector states and the runtime functions the management API uses:
 * pause, resume, restart (all tasks, or only the FAILED ones), on a live worker; the
 * gauges a plugin sets (host->gauge()), read while the task writes them.
 *
 * Waits are for events (worker_wait_event), never for time: each wait loops until the
 * condition holds, with a generous deadline only so that a bug fails instead of hanging.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "loader/loader.h"
#include "transform/transform.h"
#include "worker/worker.h"
#include "worker/worker_int.h"

typedef struct fixture {
    char dir[256];
    loader *l;
    config_pipeline *p;
    worker *w;
} fixture;

static const char pipeline[] =
    "topics:\n"
    "  events: {partitions: 2}\n"
    "sources:\n"
    "  gen:\n"
    "    connector: testsrc\n"
    "    topic: events\n"
    "    config: {count: 100000000, batch: 200}\n"
    "sinks:\n"
    "  ledger:\n"
    "    connector: txsink\n"
    "    topics: [events]\n"
    "    batch: {max_records: 500}\n"
    "    config: {path: \"${WT_DIR}/ledger.journal\", reject_ids: [\"${WT_REJECT:-none}\"]}\n";

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[1024];
    config_diag d = {0};
    snprintf(f->dir, sizeof(f->dir), "/tmp/spool-test-worker.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    setenv("WT_DIR", f->dir, 1);
    worker_log_set_level(SPOOL_LOG_WARN);
    f->l = loader_new(worker_host());
    for (size_t i = 0; transform_builtins[i] != NULL; i++)
        assert_int_equal(loader_add_builtin(f->l, transform_builtins[i], err, sizeof(err)), 0);
    assert_int_equal(loader_load_dir(f->l, SPOOL_TEST_PLUGIN_DIR, err, sizeof(err)), 0);
    int rc = config_load_string("worker.yaml", pipeline, sizeof(pipeline) - 1, f->l, &f->p, &d);
    for (size_t i = 0; i < d.count; i++)
        fprintf(stderr, "%s\n", d.messages[i]);
    assert_int_equal(rc, 0);
    config_diag_clear(&d);
    char data[300];
    snprintf(data, sizeof(data), "%s/data", f->dir);
    assert_int_equal(worker_new(f->p, data, &f->w, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[300];
    worker_free(f->w);
    config_free(f->p);
    loader_free(f->l);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("WT_REJECT");
    free(f);
    return 0;
}

static void task_of(worker *w, const char *connector, worker_task_info *out)
{
    for (size_t i = 0; i < worker_task_count(w); i++) {
        worker_task_get(w, i, out);
        if (strcmp(out->connector, connector) == 0)
            return;
    }
    fail_msg("no task of %s", connector);
}

/* Waits for pred to hold, event by event. */
static void wait_for(worker *w, int (*pred)(worker *, void *), void *arg, const char *what)
{
    unsigned long long seen = worker_events(w);
    for (int i = 0; i < 100000; i++) {
        if (pred(w, arg))
            return;
        unsigned long long now = worker_wait_event(w, seen, 60000);
        if (now == seen)
            fail_msg("no progress in 60 s waiting for: %s", what);
        seen = now;
    }
    fail_msg("gave up waiting for: %s", what);
}

typedef struct want {
    const char *connector;
    int state;
    unsigned long long records;  /* at least */
} want;

static int has(worker *w, void *arg)
{
    want *x = arg;
    worker_task_info ti;
    task_of(w, x->connector, &ti);
    return ti.state == x->state && ti.records >= x->records;
}

static void test_pause_resume(void **state)
{
    fixture *f = *state;
    worker_task_info ti, src;
    worker_start(f->w);
    want running = {"ledger", WORKER_RUNNING, 1000};
    wait_for(f->w, has, &running, "ledger RUNNING with 1000 records");

    assert_int_equal(worker_pause(f->w, "ledger"), 0);
    want paused = {"ledger", WORKER_PAUSED, 0};
    wait_for(f->w, has, &paused, "ledger PAUSED");
    task_of(f->w, "ledger", &ti);
    unsigned long long frozen = ti.records;
    task_of(f->w, "gen", &src);
    /* The source goes on while the sink is paused; the sink delivers nothing. */
    want more = {"gen", WORKER_RUNNING, src.records + 5000};
    wait_for(f->w, has, &more, "5000 more records from gen");
    task_of(f->w, "ledger", &ti);
    assert_int_equal(ti.state, WORKER_PAUSED);
    assert_int_equal(ti.records, frozen);

    assert_int_equal(worker_resume(f->w, "ledger"), 0);
    want resumed = {"ledger", WORKER_RUNNING, frozen + 1};
    wait_for(f->w, has, &resumed, "ledger RUNNING and delivering again");

    assert_int_equal(worker_pause(f->w, "nosuch"), -1);
    assert_int_equal(worker_resume(f->w, "nosuch"), -1);
    assert_int_equal(worker_restart(f->w, "nosuch", 0), -1);

    worker_halt(f->w);
    assert_int_equal(worker_join(f->w), 0);
    task_of(f->w, "ledger", &ti);
    assert_int_equal(ti.state, WORKER_STOPPED);
}

static void test_restart(void **state)
{
    fixture *f = *state;
    worker_task_info ti;
    worker_start(f->w);
    want running = {"ledger", WORKER_RUNNING, 1000};
    wait_for(f->w, has, &running, "ledger RUNNING with 1000 records");

    /* Only-failed restarts leave a running task alone. */
    task_of(f->w, "ledger", &ti);
    assert_int_equal(worker_restart(f->w, "ledger", 1), 0);
    task_of(f->w, "ledger", &ti);
    assert_int_equal(ti.state, WORKER_RUNNING);

    /* A full restart ends the task and starts it again from its own offsets. */
    unsigned long long before = ti.records;
    assert_int_equal(worker_restart(f->w, "ledger", 0), 0);
    want again = {"ledger", WORKER_RUNNING, before + 1000};
    wait_for(f->w, has, &again, "ledger delivering after restart");

    worker_halt(f->w);
    assert_int_equal(worker_join(f->w), 0);
}

static int is_failed(worker *w, void *arg)
{
    worker_task_info ti;
    task_of(w, arg, &ti);
    return ti.state == WORKER_FAILED;
}

static int setup_failing(void **state)
{
    setenv("WT_REJECT", "700", 1);
    return setup(state);
}

static void test_failed_and_restart_failed(void **state)
{
    fixture *f = *state;
    worker_task_info ti, src;
    worker_start(f->w);
    wait_for(f->w, is_failed, "ledger", "ledger FAILED on id 700");
    task_of(f->w, "ledger", &ti);
    assert_non_null(strstr(ti.reason, "rejected by txsink"));
    assert_non_null(strstr(ti.reason, "failed in put"));
    /* The other connector runs on. */
    task_of(f->w, "gen", &src);
    want more = {"gen", WORKER_RUNNING, src.records + 1000};
    wait_for(f->w, has, &more, "gen goes on while ledger is FAILED");

    /* Restarting only the failed tasks runs ledger again: it fails again at the same
     * record, having delivered nothing twice (its offsets are its own). */
    unsigned long long delivered = ti.records;
    assert_int_equal(worker_restart(f->w, "ledger", 1), 0);
    wait_for(f->w, is_failed, "ledger", "ledger FAILED again after restart");
    task_of(f->w, "ledger", &ti);
    assert_true(ti.records <= delivered + 500);

    worker_halt(f->w);
    assert_int_equal(worker_join(f->w), 1);
}

static size_t task_index(worker *w, const char *connector)
{
    worker_task_info ti;
    for (size_t i = 0; i < worker_task_count(w); i++) {
        worker_task_get(w, i, &ti);
        if (strcmp(ti.connector, connector) == 0)
            return i;
    }
    fail_msg("no task of %s", connector);
    return 0;
}

/* testsrc sets last_batch_records (200, its batch) on every poll; the API's thread reads
 * it meanwhile (TSan watches). Then the host's refusals, on the ended task. */
static void test_gauges(void **state)
{
    fixture *f = *state;
    worker_gauge g[SPOOL_GAUGE_MAX + 1];
    size_t gen = task_index(f->w, "gen"), ledger = task_index(f->w, "ledger");
    assert_int_equal(worker_task_gauges(f->w, gen, g, SPOOL_GAUGE_MAX), 0);
    worker_start(f->w);
    want running = {"gen", WORKER_RUNNING, 2000};
    wait_for(f->w, has, &running, "gen RUNNING with 2000 records");
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(worker_task_gauges(f->w, gen, g, SPOOL_GAUGE_MAX), 1);
        assert_string_equal(g[0].name, "last_batch_records");
        assert_true(g[0].value == 200.0);
    }
    assert_int_equal(worker_task_gauges(f->w, ledger, g, SPOOL_GAUGE_MAX), 0);
    worker_halt(f->w);
    assert_int_equal(worker_join(f->w), 0);

    const spool_host *h = worker_host();
    struct spool_task *t = &f->w->tasks[gen];
    assert_true(SPOOL_HAS(spool_host, h, gauge));
    assert_int_equal(h->gauge(t, "Lag", 1), SPOOL_EINVAL);
    assert_non_null(strstr(t->error, "[a-z_][a-z0-9_]*"));
    assert_int_equal(h->gauge(t, "lag_total", 1), SPOOL_EINVAL);
    assert_int_equal(h->gauge(t, "lag", INFINITY), SPOOL_EINVAL);
    char name[32];
    for (int i = 1; i < SPOOL_GAUGE_MAX; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        assert_int_equal(h->gauge(t, name, i), SPOOL_OK);
    }
    assert_int_equal(h->gauge(t, "one_too_many", 1), SPOOL_EINVAL);
    assert_non_null(strstr(t->error, "one_too_many"));
    assert_int_equal(h->gauge(t, "g3", -2.5), SPOOL_OK);   /* an existing name: fine */
    assert_int_equal(worker_task_gauges(f->w, gen, g, SPOOL_GAUGE_MAX + 1), SPOOL_GAUGE_MAX);
    assert_string_equal(g[0].name, "last_batch_records");
    assert_string_equal(g[3].name, "g3");
    assert_true(g[3].value == -2.5);
    assert_int_equal(worker_task_gauges(f->w, gen, g, 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_and_restart_failed, setup_failing,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gauges, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

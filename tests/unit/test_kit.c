/* test_kit.c - the plugin test kit against the test plugins and a few made-up ones.
 *
 * testsrc and txsink are loaded from their .so files as spool loads them; the made-up
 * plugins are linked in (spool_kit_new) to play what a buggy plugin does: leak a secret,
 * call seek() outside open(), emit a record over the limit, claim another ABI.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool/kit.h"

static char err[1024];

static spool_kit *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.so", SPOOL_TEST_PLUGIN_DIR, name);
    spool_kit *k = spool_kit_load(path, err, sizeof(err));
    if (k == NULL)
        fail_msg("cannot load %s: %s", path, err);
    return k;
}

/* The id in a testsrc record's value. */
static long record_id(const spool_record *r)
{
    const char *p = strstr(r->value, "\"id\":");
    return p != NULL ? strtol(p + 5, NULL, 10) : -1;
}

static void test_source_runs_to_the_end(void **state)
{
    spool_kit *k = load("test-testsrc");
    assert_int_equal(spool_kit_set(k, "count", "1200"), SPOOL_OK);
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    assert_int_equal(spool_kit_run_source(k, 100, 10), SPOOL_OK);
    assert_int_equal(spool_kit_committed_count(k), 1200);
    for (size_t i = 0; i < 1200; i++)
        assert_int_equal(record_id(spool_kit_record(k, i)), (long)i);
    const void *pos;
    size_t len;
    spool_kit_position(k, &pos, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(pos, "1200", 4);
    assert_int_equal(spool_kit_violations(k), 0);
    /* testsrc's gauge: the last poll emitted 200 of the 1200 (batches of 500). */
    double v = -1;
    assert_int_equal(spool_kit_gauge(k, "last_batch_records", &v), 1);
    assert_true(v == 200.0);
    assert_int_equal(spool_kit_gauge(k, "never_set", &v), 0);
    assert_int_equal(spool_kit_gauge_count(k), 1);
    spool_kit_free(k);
}

static void test_source_resumes_after_a_crash(void **state)
{
    spool_kit *k = load("test-testsrc");
    assert_int_equal(spool_kit_set(k, "count", "1000"), SPOOL_OK);
    assert_int_equal(spool_kit_set(k, "batch", "300"), SPOOL_OK);
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    assert_int_equal(spool_kit_poll(k, 10), SPOOL_OK);
    assert_int_equal(spool_kit_commit(k), SPOOL_OK);
    assert_int_equal(spool_kit_poll(k, 10), SPOOL_OK);
    assert_int_equal(spool_kit_record_count(k), 600);
    spool_kit_crash(k);
    /* The 300 uncommitted records are gone, as a kill -9 loses them. */
    assert_int_equal(spool_kit_record_count(k), 300);
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    assert_int_equal(spool_kit_run_source(k, 100, 10), SPOOL_OK);
    assert_int_equal(spool_kit_committed_count(k), 1000);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(record_id(spool_kit_record(k, i)), (long)i);
    spool_kit_free(k);
}

static void test_options_are_checked_as_spool_checks_them(void **state)
{
    spool_kit *k = load("test-testsrc");
    const spool_option *o = spool_kit_option(k, "count");
    assert_non_null(o);
    assert_int_equal(o->type, SPOOL_OPT_INT);
    assert_true(o->flags & SPOOL_OPT_REQUIRED);
    o = spool_kit_option(k, "batch");
    assert_string_equal(o->default_value, "500");
    assert_int_equal(spool_kit_option_count(k), 4);
    assert_null(spool_kit_option(k, "nope"));

    assert_int_equal(spool_kit_open(k), SPOOL_EINVAL);
    assert_non_null(strstr(spool_kit_error(k), "option \"count\" is required"));
    assert_int_equal(spool_kit_set(k, "count", "many"), SPOOL_EINVAL);
    assert_non_null(strstr(spool_kit_error(k), "\"many\" is not an integer"));
    assert_int_equal(spool_kit_set(k, "batch", "0"), SPOOL_EINVAL);
    assert_int_equal(spool_kit_set(k, "cuont", "5"), SPOOL_EINVAL);
    assert_non_null(strstr(spool_kit_error(k), "declares no option \"cuont\""));
    spool_kit_free(k);
}

static void journal_path(char *out, size_t n)
{
    snprintf(out, n, "%s/kit-journal-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
}

static size_t journal_lines(const char *path, char type)
{
    char line[512];
    size_t n = 0;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        n += line[0] == type;
    fclose(f);
    return n;
}

static void put_ids(spool_kit *k, int from, int to)
{
    for (int id = from; id < to; id++) {
        char value[64];
        snprintf(value, sizeof(value), "{\"id\":%d}", id);
        assert_int_equal(spool_kit_put_value(k, "events", 0, value), SPOOL_OK);
    }
}

static void test_transactional_sink_resumes_from_its_own_offsets(void **state)
{
    char path[512];
    journal_path(path, sizeof(path));
    spool_kit *k = load("test-txsink");
    assert_int_equal(spool_kit_plugin(k)->delivery, SPOOL_DELIVERY_TRANSACTIONAL);
    assert_int_equal(spool_kit_set(k, "path", path), SPOOL_OK);
    const char *reject[] = {"7"};
    assert_int_equal(spool_kit_set_list(k, "reject_ids", reject, 1), SPOOL_OK);
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    put_ids(k, 0, 10);
    assert_int_equal(spool_kit_flush(k), SPOOL_OK);
    put_ids(k, 10, 15);                 /* never flushed */
    assert_int_equal(spool_kit_next_offset(k, "events", 0), 15);
    spool_kit_crash(k);
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    /* The sink said with seek() where it stands: after the 10 it committed. */
    assert_int_equal(spool_kit_next_offset(k, "events", 0), 10);
    put_ids(k, 10, 20);
    assert_int_equal(spool_kit_flush(k), SPOOL_OK);
    spool_kit_close(k);
    assert_int_equal(journal_lines(path, 'D'), 19); /* 20 records, id 7 rejected */
    assert_int_equal(spool_kit_rejected_count(k), 1);
    assert_int_equal(spool_kit_rejected_offset(k, 0), 7);
    assert_non_null(strstr(spool_kit_rejected_reason(k, 0), "rejected by txsink"));
    assert_int_equal(spool_kit_violations(k), 0);
    spool_kit_free(k);
    unlink(path);
}

/* ---- Made-up plugins for the contract checks ---------------------------------------- */

static const spool_host *bad_host;

static const spool_option bad_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "password",
     .flags = SPOOL_OPT_SECRET | SPOOL_OPT_REQUIRED, .doc = "A secret."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "size", .default_value = "1KiB",
     .doc = "Bytes of the record to emit."},
    {.name = NULL},
};

static spool_rc bad_open(spool_task *t, void **state)
{
    bad_host->log(t, SPOOL_LOG_INFO, "connecting with password %s",
                  bad_host->opt_string(t, "password"));
    return SPOOL_OK;
}

static void bad_close(spool_task *t, void *state)
{
}

static spool_rc bad_poll(spool_task *t, void *state, int timeout_ms)
{
    size_t n = (size_t)bad_host->opt_int(t, "size");
    char *value = calloc(1, n);
    if (value == NULL)
        return SPOOL_ENOMEM;
    spool_record rec = {.struct_size = sizeof(rec), .value = value, .value_len = n,
                        .partition = -1};
    spool_rc rc = bad_host->emit(t, &rec, "p", 1);
    free(value);
    /* A sink's call, from a source: the kit counts it. */
    bad_host->seek(t, "events", 0, 5);
    return rc;
}

static spool_plugin bad_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "bad", .version = "1", .description = "Breaks the contract.",
    .kind = SPOOL_KIND_SOURCE, .options = bad_options,
    .open = bad_open, .close = bad_close, .poll = bad_poll,
};

static const spool_plugin *bad_entry(const spool_host *h)
{
    bad_host = h;
    return &bad_plugin;
}

static void test_contract_violations_are_counted(void **state)
{
    spool_kit *k = spool_kit_new(bad_entry, err, sizeof(err));
    assert_non_null(k);
    assert_int_equal(spool_kit_set(k, "password", "hunter22"), SPOOL_OK);
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    assert_int_equal(spool_kit_violations(k), 1);   /* the secret in a log line */
    assert_int_equal(spool_kit_poll(k, 10), SPOOL_OK);
    assert_int_equal(spool_kit_violations(k), 2);   /* seek() from a source */
    assert_int_equal(spool_kit_record_count(k), 1);
    int found = 0;
    for (size_t i = 0; i < spool_kit_log_count(k); i++)
        found |= strstr(spool_kit_log_line(k, i), "secret option \"password\"") != NULL;
    assert_true(found);
    spool_kit_free(k);
}

static void test_a_record_over_the_limit_is_refused(void **state)
{
    char size[32];
    spool_kit *k = spool_kit_new(bad_entry, err, sizeof(err));
    assert_non_null(k);
    snprintf(size, sizeof(size), "%u", SPOOL_RECORD_MAX_BYTES + 1);
    assert_int_equal(spool_kit_set(k, "password", "x"), SPOOL_OK);
    assert_int_equal(spool_kit_set(k, "size", size), SPOOL_OK);
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    assert_int_equal(spool_kit_poll(k, 10), SPOOL_EINVAL);
    assert_int_equal(spool_kit_record_count(k), 0);
    assert_true(spool_kit_violations(k) >= 1);
    spool_kit_free(k);
}

/* A source that calls gauge() as its contract allows and as it does not. */
static const spool_host *gauge_host;
static spool_rc gauge_rcs[8];

static spool_rc gauge_open(spool_task *t, void **state)
{
    return gauge_host->gauge(t, "opened", 1);
}

static spool_rc gauge_poll(spool_task *t, void *state, int timeout_ms)
{
    char name[64];
    gauge_rcs[0] = gauge_host->gauge(t, "slot_lag_bytes", 4096);
    gauge_rcs[1] = gauge_host->gauge(t, "slot_lag_bytes", 1e15); /* the last one counts */
    gauge_rcs[2] = gauge_host->gauge(t, "Bad-Name", 1);
    gauge_rcs[3] = gauge_host->gauge(t, "records_total", 1);  /* a counter's suffix */
    gauge_rcs[4] = gauge_host->gauge(t, "lag", NAN);
    memset(name, 'a', sizeof(name) - 1);
    name[SPOOL_GAUGE_NAME_MAX + 1] = '\0';
    gauge_rcs[5] = gauge_host->gauge(t, name, 1);               /* one character too long */
    /* Up to SPOOL_GAUGE_MAX distinct names: "opened", slot_lag_bytes, g0..g13. */
    gauge_rcs[6] = SPOOL_OK;
    for (int i = 0; i < SPOOL_GAUGE_MAX - 2 && gauge_rcs[6] == SPOOL_OK; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        gauge_rcs[6] = gauge_host->gauge(t, name, i);
    }
    gauge_rcs[7] = gauge_host->gauge(t, "one_too_many", 1);
    return SPOOL_OK;
}

static spool_plugin gauge_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "gauger", .version = "1", .description = "Sets gauges.",
    .kind = SPOOL_KIND_SOURCE, .open = gauge_open, .close = bad_close, .poll = gauge_poll,
};

static const spool_plugin *gauge_entry(const spool_host *h)
{
    gauge_host = h;
    return &gauge_plugin;
}

static void test_gauges_keep_the_last_value_and_refuse_bad_names(void **state)
{
    double v = 0;
    spool_kit *k = spool_kit_new(gauge_entry, err, sizeof(err));
    assert_non_null(k);
    assert_true(SPOOL_HAS(spool_host, gauge_host, gauge));
    assert_int_equal(spool_kit_open(k), SPOOL_OK);
    assert_int_equal(spool_kit_poll(k, 10), SPOOL_OK);
    assert_int_equal(gauge_rcs[0], SPOOL_OK);
    assert_int_equal(gauge_rcs[1], SPOOL_OK);
    assert_int_equal(gauge_rcs[2], SPOOL_EINVAL);
    assert_int_equal(gauge_rcs[3], SPOOL_EINVAL);
    assert_int_equal(gauge_rcs[4], SPOOL_EINVAL);
    assert_int_equal(gauge_rcs[5], SPOOL_EINVAL);
    assert_int_equal(gauge_rcs[6], SPOOL_OK);
    assert_int_equal(gauge_rcs[7], SPOOL_EINVAL);
    assert_int_equal(spool_kit_violations(k), 5);
    assert_non_null(strstr(spool_kit_error(k), "one_too_many"));
    assert_int_equal(spool_kit_gauge_count(k), SPOOL_GAUGE_MAX);
    assert_int_equal(spool_kit_gauge(k, "slot_lag_bytes", &v), 1);
    assert_true(v == 1e15);
    assert_int_equal(spool_kit_gauge(k, "opened", &v), 1);
    assert_true(v == 1.0);
    assert_int_equal(spool_kit_gauge(k, "Bad-Name", NULL), 0);
    assert_int_equal(spool_kit_gauge(k, "one_too_many", NULL), 0);
    /* As a worker does, a crash and a restart keep the last values. */
    spool_kit_crash(k);
    assert_int_equal(spool_kit_gauge(k, "g13", &v), 1);
    assert_true(v == 13.0);
    spool_kit_free(k);
}

static void test_a_descriptor_spool_refuses_is_refused(void **state)
{
    bad_plugin.abi_version = 2;
    spool_kit *k = spool_kit_new(bad_entry, err, sizeof(err));
    bad_plugin.abi_version = SPOOL_ABI_VERSION;
    assert_null(k);
    assert_non_null(strstr(err, "built for ABI 2, this runtime speaks ABI 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_runs_to_the_end),
        cmocka_unit_test(test_source_resumes_after_a_crash),
        cmocka_unit_test(test_options_are_checked_as_spool_checks_them),
        cmocka_unit_test(test_transactional_sink_resumes_from_its_own_offsets),
        cmocka_unit_test(test_contract_violations_are_counted),
        cmocka_unit_test(test_a_record_over_the_limit_is_refused),
        cmocka_unit_test(test_gauges_keep_the_last_value_and_refuse_bad_names),
        cmocka_unit_test(test_a_descriptor_spool_refuses_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

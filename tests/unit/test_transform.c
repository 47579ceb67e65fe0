/* test_transform.c - every built-in transform and predicate, driven without a worker.
 *
 * Each test writes a transform's options as YAML, exactly as a pipeline would, so the
 * real config loader validates them against the transform's declared options; a fake
 * spool_host then serves those values to the transform (as runtime/worker/host.c
 * does), captures what it emits (copying, as emit promises) and the error it sets.
 * Records are fed straight to the descriptor's transform callback. Bad input (not
 * JSON, wrong types, missing fields, deep and large documents, empty strings) must
 * give SPOOL_EINVAL with a reason, or pass, and never crash or leak (ASan checks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "transform/transform.h"

/* ---- The fake host ------------------------------------------------------------- */

#define MAX_OUT 8

typedef struct captured {
    char *key;                 /* NULL: no key */
    size_t key_len;
    char *value;               /* NULL: tombstone; else NUL-terminated copy */
    size_t value_len;
    char *topic;
    int32_t partition;
    int64_t timestamp_ms;
} captured;

struct spool_task {
    const config_value *values;
    size_t nvalues;
    char error[1024];
    captured out[MAX_OUT];
    size_t nout;
    spool_rc emit_rc;          /* what emit answers */
};

static char *dup_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void fake_log(spool_task *t, int level, const char *fmt, ...)
{
    (void)t, (void)level, (void)fmt;
}

static void fake_set_error(spool_task *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof(t->error), fmt, ap);
    va_end(ap);
}

static const char *fake_opt_string(spool_task *t, const char *name)
{
    const config_value *v = config_find(t->values, t->nvalues, name);
    return v != NULL ? v->text : NULL;
}

static int64_t fake_opt_int(spool_task *t, const char *name)
{
    const config_value *v = config_find(t->values, t->nvalues, name);
    return v != NULL ? v->number : 0;
}

static const char *const *fake_opt_list(spool_task *t, const char *name, size_t *n)
{
    static const char *const empty[] = {NULL};
    const config_value *v = config_find(t->values, t->nvalues, name);
    if (v == NULL || v->list == NULL) {
        if (n != NULL)
            *n = 0;
        return empty;
    }
    if (n != NULL)
        *n = v->list_len;
    return (const char *const *)v->list;
}

static const char *fake_task_name(spool_task *t)
{
    (void)t;
    return "test/xf/0";
}

static int fake_stopping(spool_task *t)
{
    (void)t;
    return 0;
}

static spool_rc fake_emit(spool_task *t, const spool_record *rec, const void *pos,
                          size_t pos_len)
{
    (void)pos, (void)pos_len;
    assert_true(rec->struct_size >= sizeof(spool_record));
    if (t->emit_rc != SPOOL_OK)
        return t->emit_rc;
    assert_true(t->nout < MAX_OUT);
    captured *c = &t->out[t->nout++];
    c->key = rec->key != NULL ? dup_bytes(rec->key, rec->key_len) : NULL;
    c->key_len = rec->key_len;
    c->value = rec->value != NULL ? dup_bytes(rec->value, rec->value_len) : NULL;
    c->value_len = rec->value_len;
    c->topic = rec->topic != NULL ? dup_bytes(rec->topic, strlen(rec->topic)) : NULL;
    c->partition = rec->partition;
    c->timestamp_ms = rec->timestamp_ms;
    return SPOOL_OK;
}

static const spool_host fake_host = {
    .struct_size = sizeof(spool_host),
    .abi_version = SPOOL_ABI_VERSION,
    .runtime_version = SPOOL_VERSION_STRING,
    .log = fake_log,
    .set_error = fake_set_error,
    .opt_string = fake_opt_string,
    .opt_int = fake_opt_int,
    .opt_list = fake_opt_list,
    .task_name = fake_task_name,
    .stopping = fake_stopping,
    .emit = fake_emit,
};

/* A sink for the pipeline the options are written into; never run. */
static spool_rc ts_open(spool_task *t, void **state)
{
    (void)t;
    *state = NULL;
    return SPOOL_OK;
}
static void ts_close(spool_task *t, void *state)
{
    (void)t, (void)state;
}
static spool_rc ts_put(spool_task *t, void *s, const spool_record *const *r, size_t n)
{
    (void)t, (void)s, (void)r, (void)n;
    return SPOOL_OK;
}
static spool_rc ts_flush(spool_task *t, void *s)
{
    (void)t, (void)s;
    return SPOOL_OK;
}
static const spool_plugin test_sink = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION, .name = "tsink",
    .version = "1", .description = "test sink", .kind = SPOOL_KIND_SINK,
    .delivery = SPOOL_DELIVERY_IDEMPOTENT, .open = ts_open, .close = ts_close,
    .put = ts_put, .flush = ts_flush};
static const spool_plugin *test_sink_entry(const spool_host *h)
{
    (void)h;
    return &test_sink;
}

/* ---- The fixture: one transform, opened from YAML options ---------------------- */

typedef struct xf {
    config_pipeline *p;
    const config_transform *ct;
    struct spool_task task;
    void *state;
    int open_rc;
} xf;

static loader *registry;

static int setup(void **state)
{
    char err[512] = "";
    (void)state;
    registry = loader_new(&fake_host);
    assert_non_null(registry);
    for (size_t i = 0; transform_builtins[i] != NULL; i++)
        if (loader_add_builtin(registry, transform_builtins[i], err, sizeof(err)) != SPOOL_OK)
            fail_msg("built-in transform refused by the loader: %s", err);
    if (loader_add_builtin(registry, test_sink_entry, err, sizeof(err)) != SPOOL_OK)
        fail_msg("test sink: %s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    loader_free(registry);
    return 0;
}

/* Loads "- item" as the one transform of a sink; returns the config result, with the
 * diagnostics joined into diag when it fails. */
static int xf_load(xf *x, const char *item, char *diag, size_t n)
{
    char yaml[8192];
    config_diag d = {0};
    memset(x, 0, sizeof(*x));
    snprintf(yaml, sizeof(yaml),
             "topics: {t: {}, events-eu: {}}\n"
             "sinks:\n"
             "  k:\n"
             "    connector: tsink\n"
             "    topics: t\n"
             "    transforms:\n"
             "      - %s\n", item);
    int rc = config_load_string("xf.yaml", yaml, strlen(yaml), registry, &x->p, &d);
    if (diag != NULL && n > 0) {
        diag[0] = '\0';
        for (size_t i = 0; i < d.count; i++)
            snprintf(diag + strlen(diag), n - strlen(diag), "%s\n", d.messages[i]);
    }
    config_diag_clear(&d);
    if (rc == SPOOL_OK) {
        assert_int_equal(x->p->nsinks, 1);
        assert_int_equal(x->p->sinks[0].ntransforms, 1);
        x->ct = &x->p->sinks[0].transforms[0];
    }
    return rc;
}

/* Loads and opens NAME with OPTS ("{a: 1}"); the open result is in x->open_rc. */
static void xf_open(xf *x, const char *name, const char *opts)
{
    char item[4096], diag[4096];
    snprintf(item, sizeof(item), "%s: %s", name, opts);
    if (xf_load(x, item, diag, sizeof(diag)) != SPOOL_OK)
        fail_msg("options for %s refused: %s", name, diag);
    x->task.values = x->ct->values;
    x->task.nvalues = x->ct->nvalues;
    x->open_rc = x->ct->plugin->desc->open(&x->task, &x->state);
}

static void xf_clear(xf *x)
{
    for (size_t i = 0; i < x->task.nout; i++) {
        free(x->task.out[i].key);
        free(x->task.out[i].value);
        free(x->task.out[i].topic);
    }
    memset(x->task.out, 0, sizeof(x->task.out));
    x->task.nout = 0;
    x->task.error[0] = '\0';
}

static void xf_close(xf *x)
{
    if (x->ct != NULL)
        x->ct->plugin->desc->close(&x->task, x->state);
    xf_clear(x);
    config_free(x->p);
    memset(x, 0, sizeof(*x));
}

/* A record as a sink task would see it: read from t/0@7, key "k1", time 1000. */
static spool_record rec_of(const char *value, size_t len)
{
    return (spool_record){.struct_size = sizeof(spool_record), .key = "k1", .key_len = 2,
                          .value = value, .value_len = len, .timestamp_ms = 1000,
                          .topic = "t", .partition = 0, .offset = 7};
}

/* Runs one record through the open transform; returns its result. */
static spool_rc xf_run_n(xf *x, const char *value, size_t len)
{
    xf_clear(x);
    spool_record r = rec_of(value, len);
    return x->ct->plugin->desc->transform(&x->task, x->state, &r);
}

static spool_rc xf_run(xf *x, const char *value)
{
    return xf_run_n(x, value, value != NULL ? strlen(value) : 0);
}

/* The one record emitted, asserting there was exactly one. */
static const captured *one(const xf *x)
{
    assert_int_equal(x->task.nout, 1);
    return &x->task.out[0];
}

/* Expects rc SPOOL_EINVAL, nothing emitted and an error starting with prefix. */
static void expect_fail(xf *x, spool_rc rc, const char *prefix)
{
    if (rc != SPOOL_EINVAL || x->task.nout != 0 ||
        strncmp(x->task.error, prefix, strlen(prefix)) != 0)
        fail_msg("rc %s, %zu emitted, error \"%s\"; want SPOOL_EINVAL and \"%s...\"",
                 spool_rc_name(rc), x->task.nout, x->task.error, prefix);
}

/* Expects the transform to pass the record on as it came. */
static void expect_same(xf *x, spool_rc rc, const char *value)
{
    assert_int_equal(rc, SPOOL_OK);
    const captured *c = one(x);
    if (value == NULL) {
        assert_null(c->value);
    } else {
        assert_non_null(c->value);
        assert_string_equal(c->value, value);
    }
    assert_non_null(c->key);
    assert_string_equal(c->key, "k1");
    assert_int_equal(c->timestamp_ms, 1000);
    assert_string_equal(c->topic, "t");
}

static void expect_out(xf *x, spool_rc rc, const char *value)
{
    if (rc != SPOOL_OK)
        fail_msg("rc %s, error \"%s\"", spool_rc_name(rc), x->task.error);
    const captured *c = one(x);
    assert_non_null(c->value);
    assert_string_equal(c->value, value);
    assert_int_equal(c->value_len, strlen(value));
}

#define NOT_JSON_AT "value at t/0@7 is not JSON: "

/* ---- Registration -------------------------------------------------------------- */

static void test_builtins_registered(void **state)
{
    static const char *const names[] = {"filter", "route", "insert", "rename", "drop",
                                        "mask", "set_key", "timestamp"};
    (void)state;
    size_t n = 0;
    while (transform_builtins[n] != NULL)
        n++;
    assert_int_equal(n, sizeof(names) / sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        const loader_plugin *lp = loader_find_kind(registry, names[i], SPOOL_KIND_TRANSFORM);
        if (lp == NULL)
            fail_msg("built-in transform \"%s\" not registered", names[i]);
        assert_non_null(lp->desc->transform);
        assert_true(lp->option_count > 0);
    }
}

/* Options are validated like any plugin's, before a transform opens. */
static void test_options_validated(void **state)
{
    (void)state;
    static const struct {
        const char *item, *want;
    } cases[] = {
        {"filter: {in: [a]}", "missing required option \"field\""},
        {"filter: {field: a, in: [b], negat: true}", "did you mean \"negate\"?"},
        {"filter: {field: a, exists: maybe}", "not true or false: \"maybe\""},
        {"route: {field: a, mapping: {x: y}}", "got a map; expected a list of strings"},
        {"mask: {fields: [a], wiht: X}", "did you mean \"with\"?"},
        {"timestamp: {field: ts, format: epoch_us}", "not one of the choices: \"epoch_us\""},
        {"timestamp: {field: ts, to: unix}", "not one of the choices: \"unix\""},
        {"insert: {field: a}", "missing required option \"value\""},
        {"rename: {from: a}", "missing required option \"to\""},
        {"drop: {}", "missing required option \"fields\""},
        {"set_key: {field: [a]}", "got a list; expected a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        xf x;
        char diag[4096];
        assert_int_equal(xf_load(&x, cases[i].item, diag, sizeof(diag)), SPOOL_EINVAL);
        if (strstr(diag, cases[i].want) == NULL)
            fail_msg("%s: want \"%s\" in:\n%s", cases[i].item, cases[i].want, diag);
        assert_null(x.p);
    }
}

/* ---- filter -------------------------------------------------------------------- */

static void test_filter_in(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "filter", "{field: event, in: [created, destroyed]}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"event\":\"created\"}"), "{\"event\":\"created\"}");
    assert_int_equal(xf_run(&x, "{\"event\":\"updated\"}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    /* Missing field, tombstone: dropped (keep_missing false). */
    assert_int_equal(xf_run(&x, "{\"other\":\"created\"}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    assert_int_equal(xf_run(&x, NULL), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    /* A value inside a string is not the value. */
    assert_int_equal(xf_run(&x, "{\"event\":\"created2\"}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    /* Not JSON: a per-record failure, not a silent drop. */
    expect_fail(&x, xf_run(&x, "created"), NOT_JSON_AT);
    xf_close(&x);
}

static void test_filter_not_in_negate_keep_missing(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "filter", "{field: a.b, not_in: [x], keep_missing: true}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"a\":{\"b\":\"y\"}}"), "{\"a\":{\"b\":\"y\"}}");
    assert_int_equal(xf_run(&x, "{\"a\":{\"b\":\"x\"}}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    expect_same(&x, xf_run(&x, "{\"a\":1}"), "{\"a\":1}");            /* missing: kept */
    expect_same(&x, xf_run(&x, NULL), NULL);                         /* tombstone: kept */
    xf_close(&x);

    xf_open(&x, "filter", "{field: n, in: [\"42\", \"true\", \"null\"], negate: true}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    /* 42 and "42" compare the same; true and null by their JSON text. */
    assert_int_equal(xf_run(&x, "{\"n\":42}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    assert_int_equal(xf_run(&x, "{\"n\":\"42\"}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    assert_int_equal(xf_run(&x, "{\"n\":true}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    assert_int_equal(xf_run(&x, "{\"n\":null}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    expect_same(&x, xf_run(&x, "{\"n\":43}"), "{\"n\":43}");
    /* negate does not keep records without the field: keep_missing decides. */
    assert_int_equal(xf_run(&x, "{}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    xf_close(&x);
}

static void test_filter_equals_exists(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "filter", "{field: kind, equals: \"\"}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"kind\":\"\"}"), "{\"kind\":\"\"}");
    assert_int_equal(xf_run(&x, "{\"kind\":\"a\"}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    xf_close(&x);

    xf_open(&x, "filter", "{field: user.id, exists: true}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"user\":{\"id\":null}}"), "{\"user\":{\"id\":null}}");
    assert_int_equal(xf_run(&x, "{\"user\":{}}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    assert_int_equal(xf_run(&x, "{\"user\":\"id\"}"), SPOOL_OK);     /* not an object */
    assert_int_equal(x.task.nout, 0);
    assert_int_equal(xf_run(&x, "[1,2]"), SPOOL_OK);                  /* JSON, no field */
    assert_int_equal(x.task.nout, 0);
    xf_close(&x);

    xf_open(&x, "filter", "{field: user.id, exists: false}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"user\":{}}"), "{\"user\":{}}");
    expect_same(&x, xf_run(&x, NULL), NULL);     /* a tombstone has no field */
    assert_int_equal(xf_run(&x, "{\"user\":{\"id\":1}}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    expect_fail(&x, xf_run(&x, "{\"user\":"), NOT_JSON_AT);
    xf_close(&x);

    xf_open(&x, "filter", "{field: a, exists: true, negate: true}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"b\":1}"), "{\"b\":1}");
    assert_int_equal(xf_run(&x, "{\"a\":1}"), SPOOL_OK);
    assert_int_equal(x.task.nout, 0);
    xf_close(&x);
}

static void test_filter_open_errors(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "filter", "{field: a}");
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    assert_non_null(strstr(x.task.error, "no test; expected exactly one of equals, in"));
    xf_close(&x);
    xf_open(&x, "filter", "{field: a, in: [b], equals: c}");
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    assert_non_null(strstr(x.task.error, "several tests"));
    xf_close(&x);
    xf_open(&x, "filter", "{field: a, in: [b], exists: false}");
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    xf_close(&x);
    xf_open(&x, "filter", "{field: a, in: []}");     /* an empty list is no test */
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    xf_close(&x);
    xf_open(&x, "filter", "{field: \"a..b\", in: [x]}");
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    assert_string_equal(x.task.error, "filter: field: a field path with an empty part; "
                                      "expected a JSON field such as event or resource.id");
    xf_close(&x);
    xf_open(&x, "filter", "{field: \"\", in: [x]}");
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    assert_non_null(strstr(x.task.error, "an empty field name"));
    xf_close(&x);
}

/* ---- route --------------------------------------------------------------------- */

static void test_route(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "route", "{field: region, mapping: [eu=events-eu, \"a=b=events-ab\"], "
                         "prefix: \"events-\"}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    assert_int_equal(xf_run(&x, "{\"region\":\"eu\",\"n\":1}"), SPOOL_OK);
    const captured *c = one(&x);
    assert_string_equal(c->topic, "events-eu");
    assert_string_equal(c->value, "{\"region\":\"eu\",\"n\":1}");     /* untouched */
    assert_string_equal(c->key, "k1");
    assert_int_equal(c->partition, -1);          /* the key picks it in the new topic */
    /* The pair splits at the last '=', so values may hold one. */
    assert_int_equal(xf_run(&x, "{\"region\":\"a=b\"}"), SPOOL_OK);
    assert_string_equal(one(&x)->topic, "events-ab");
    /* Not in the mapping: the prefix. A number is its text. */
    assert_int_equal(xf_run(&x, "{\"region\":\"us\"}"), SPOOL_OK);
    assert_string_equal(one(&x)->topic, "events-us");
    assert_int_equal(xf_run(&x, "{\"region\":7}"), SPOOL_OK);
    assert_string_equal(one(&x)->topic, "events-7");
    /* Missing, null, tombstone: the topic stays. */
    expect_same(&x, xf_run(&x, "{\"zone\":\"eu\"}"), "{\"zone\":\"eu\"}");
    expect_same(&x, xf_run(&x, "{\"region\":null}"), "{\"region\":null}");
    expect_same(&x, xf_run(&x, NULL), NULL);
    /* A value that cannot name a topic. */
    expect_fail(&x, xf_run(&x, "{\"region\":\"../etc\"}"),
                "route: field \"region\" is \"../etc\", which gives a topic name with a "
                "character other than");
    expect_fail(&x, xf_run(&x, "{\"region\":{\"a\":1}}"), "route: field \"region\" is");
    /* An empty value is the prefix alone. */
    assert_int_equal(xf_run(&x, "{\"region\":\"\"}"), SPOOL_OK);
    assert_string_equal(one(&x)->topic, "events-");
    expect_fail(&x, xf_run(&x, "{\"region\":\"eu\"} trailing"), NOT_JSON_AT);
    xf_close(&x);

    /* Mapping only: unmapped values keep their topic. */
    xf_open(&x, "route", "{field: r, mapping: [eu=events-eu]}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"r\":\"us\"}"), "{\"r\":\"us\"}");
    xf_close(&x);
}

static void test_route_open_errors(void **state)
{
    static const struct {
        const char *opts, *want;
    } cases[] = {
        {"{field: r}", "route on \"r\" has neither mapping nor prefix"},
        {"{field: r, mapping: [eu]}", "route: mapping[0] \"eu\" has no '='"},
        {"{field: r, mapping: [\"eu=a/b\"]}", "route: mapping[0] \"eu=a/b\": a topic name with"},
        {"{field: r, mapping: [\"eu=\"]}", "route: mapping[0] \"eu=\": an empty topic name"},
        {"{field: r, mapping: [eu=a, eu=b]}", "route: mapping[1] \"eu=b\" maps a value that "
                                              "mapping[0] maps already"},
        {"{field: r, prefix: \"a b\"}", "route: prefix \"a b\" would make a topic name with"},
        {"{field: \".r\", prefix: p}", "route: field: a field path with an empty part"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        xf x;
        xf_open(&x, "route", cases[i].opts);
        if (x.open_rc != SPOOL_EINVAL || strncmp(x.task.error, cases[i].want,
                                                 strlen(cases[i].want)) != 0)
            fail_msg("%s: rc %d, error \"%s\"; want \"%s\"", cases[i].opts, x.open_rc,
                     x.task.error, cases[i].want);
        xf_close(&x);
    }
}

/* ---- insert -------------------------------------------------------------------- */

static void test_insert(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "insert", "{field: source, value: web}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    /* Appended last; the existing keys keep their order; output is compact. */
    expect_out(&x, xf_run(&x, "{ \"z\": 1, \"a\": [1, 2] }"),
                 "{\"z\":1,\"a\":[1,2],\"source\":\"web\"}");
    assert_string_equal(one(&x)->key, "k1");
    assert_int_equal(one(&x)->timestamp_ms, 1000);
    /* Present already: kept, record passed byte for byte. */
    expect_same(&x, xf_run(&x, "{\"source\": \"app\"}"), "{\"source\": \"app\"}");
    expect_same(&x, xf_run(&x, NULL), NULL);
    expect_fail(&x, xf_run(&x, "[1]"), "value at t/0@7 is an array; expected an object");
    expect_fail(&x, xf_run(&x, "\"text\""), "value at t/0@7 is a string; expected");
    expect_fail(&x, xf_run(&x, "{\"a\":1"), NOT_JSON_AT);
    xf_close(&x);

    /* A value that parses as JSON is JSON; nested parents are created. */
    xf_open(&x, "insert", "{field: meta.v, value: \"{\\\"n\\\": 2}\", overwrite: true}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{\"id\":1}"), "{\"id\":1,\"meta\":{\"v\":{\"n\":2}}}");
    expect_out(&x, xf_run(&x, "{\"meta\":{\"v\":0,\"w\":1}}"),
                 "{\"meta\":{\"v\":{\"n\":2},\"w\":1}}");
    expect_fail(&x, xf_run(&x, "{\"meta\":5}"),
                "value at t/0@7: field \"meta\" is an integer; expected an object to insert "
                "into");
    xf_close(&x);

    xf_open(&x, "insert", "{field: n, value: 42}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{}"), "{\"n\":42}");
    xf_close(&x);
    xf_open(&x, "insert", "{field: n, value: '\"42\"'}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{}"), "{\"n\":\"42\"}");
    xf_close(&x);
    xf_open(&x, "insert", "{field: n, value: \"\"}");     /* empty string: a string */
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{}"), "{\"n\":\"\"}");
    xf_close(&x);
}

/* ---- rename -------------------------------------------------------------------- */

static void test_rename(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "rename", "{from: user_id, to: user.id}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{\"user_id\":7,\"x\":1}"), "{\"x\":1,\"user\":{\"id\":7}}");
    expect_out(&x, xf_run(&x, "{\"user_id\":7,\"user\":{\"name\":\"a\",\"id\":0}}"),
                 "{\"user\":{\"name\":\"a\",\"id\":7}}");
    /* Missing from, not an object, tombstone: unchanged, byte for byte. */
    expect_same(&x, xf_run(&x, "{ \"x\" : 1 }"), "{ \"x\" : 1 }");
    expect_same(&x, xf_run(&x, "[\"user_id\"]"), "[\"user_id\"]");
    expect_same(&x, xf_run(&x, NULL), NULL);
    expect_fail(&x, xf_run(&x, "{\"user_id\":7,\"user\":\"bob\"}"),
                "value at t/0@7: field \"user\" is a string; expected an object");
    expect_fail(&x, xf_run(&x, "{\"user_id\":7,"), NOT_JSON_AT);
    xf_close(&x);

    xf_open(&x, "rename", "{from: a, to: a.b}");     /* into itself: no cycle */
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{\"a\":{\"c\":1}}"), "{\"a\":{\"b\":{\"c\":1}}}");
    xf_close(&x);
    xf_open(&x, "rename", "{from: a.b, to: a}");     /* out of its parent */
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{\"a\":{\"b\":[1]}}"), "{\"a\":[1]}");
    xf_close(&x);
    xf_open(&x, "rename", "{from: a, to: a}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_same(&x, xf_run(&x, "{\"a\": 1}"), "{\"a\": 1}");
    xf_close(&x);
    xf_open(&x, "rename", "{from: a, to: \"b.\"}");
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    assert_non_null(strstr(x.task.error, "rename: to: a field path with an empty part"));
    xf_close(&x);
}

/* ---- drop and mask ------------------------------------------------------------- */

static void test_drop(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "drop", "{fields: [password, session.token, nope.deeper]}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{\"user\":\"a\",\"password\":\"p\",\"session\":"
                                "{\"token\":\"t\",\"ttl\":5}}"),
                 "{\"user\":\"a\",\"session\":{\"ttl\":5}}");
    /* Nothing to drop: the original bytes, spacing and all. */
    expect_same(&x, xf_run(&x, "{ \"user\": \"a\" }"), "{ \"user\": \"a\" }");
    expect_same(&x, xf_run(&x, "{\"session\":\"token\"}"), "{\"session\":\"token\"}");
    expect_same(&x, xf_run(&x, "17"), "17");
    expect_same(&x, xf_run(&x, NULL), NULL);
    expect_fail(&x, xf_run(&x, "{password}"), NOT_JSON_AT);
    xf_close(&x);

    xf_open(&x, "drop", "{fields: [a, \"b..c\"]}");
    assert_int_equal(x.open_rc, SPOOL_EINVAL);
    assert_non_null(strstr(x.task.error, "drop: fields[1]: a field path with an empty part"));
    xf_close(&x);
}

static void test_mask(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "mask", "{fields: [card.number, email, meta]}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    /* Any type is replaced, objects too; absent fields are not added. */
    expect_out(&x, xf_run(&x, "{\"card\":{\"number\":4111111111111111,\"exp\":\"12/30\"},"
                                "\"meta\":{\"ip\":\"10.0.0.1\"},\"id\":1}"),
                 "{\"card\":{\"number\":\"****\",\"exp\":\"12/30\"},\"meta\":\"****\","
                 "\"id\":1}");
    expect_same(&x, xf_run(&x, "{\"id\": 1}"), "{\"id\": 1}");
    expect_same(&x, xf_run(&x, NULL), NULL);
    expect_fail(&x, xf_run(&x, "email=a@b"), NOT_JSON_AT);
    xf_close(&x);

    xf_open(&x, "mask", "{fields: [ssn], with: \"[redacted]\"}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_out(&x, xf_run(&x, "{\"ssn\":null}"), "{\"ssn\":\"[redacted]\"}");
    xf_close(&x);
}

/* ---- set_key ------------------------------------------------------------------- */

static void test_set_key(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "set_key", "{field: customer.id}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    const char *v = "{\"customer\":{\"id\":\"c-9\"}, \"n\": 1}";
    assert_int_equal(xf_run(&x, v), SPOOL_OK);
    const captured *c = one(&x);
    assert_int_equal(c->key_len, 3);
    assert_memory_equal(c->key, "c-9", 3);
    assert_string_equal(c->value, v);            /* the value is untouched */
    assert_int_equal(c->timestamp_ms, 1000);
    /* A number gives its text, an object compact JSON, "" an empty key. */
    assert_int_equal(xf_run(&x, "{\"customer\":{\"id\":42}}"), SPOOL_OK);
    assert_string_equal(one(&x)->key, "42");
    assert_int_equal(xf_run(&x, "{\"customer\":{\"id\":{\"a\": [1, 2]}}}"), SPOOL_OK);
    assert_string_equal(one(&x)->key, "{\"a\":[1,2]}");
    assert_int_equal(xf_run(&x, "{\"customer\":{\"id\":\"\"}}"), SPOOL_OK);
    assert_non_null(one(&x)->key);
    assert_int_equal(one(&x)->key_len, 0);
    /* A NUL inside the string is part of the key. */
    assert_int_equal(xf_run(&x, "{\"customer\":{\"id\":\"a\\u0000b\"}}"), SPOOL_OK);
    assert_int_equal(one(&x)->key_len, 3);
    assert_memory_equal(one(&x)->key, "a\0b", 3);
    /* Missing, null, tombstone: the key stays. */
    expect_same(&x, xf_run(&x, "{\"customer\":{}}"), "{\"customer\":{}}");
    expect_same(&x, xf_run(&x, "{\"customer\":{\"id\":null}}"), "{\"customer\":{\"id\":null}}");
    expect_same(&x, xf_run(&x, NULL), NULL);
    expect_fail(&x, xf_run(&x, "{\"customer\":{\"id\":\"c-9\"}}}"), NOT_JSON_AT);
    xf_close(&x);
}

/* ---- timestamp ----------------------------------------------------------------- */

static void expect_ts(xf *x, const char *value, int64_t want)
{
    spool_rc rc = xf_run(x, value);
    if (rc != SPOOL_OK)
        fail_msg("%s: rc %s, error \"%s\"", value, spool_rc_name(rc), x->task.error);
    const captured *c = one(x);
    if (c->timestamp_ms != want)
        fail_msg("%s: timestamp %lld, want %lld", value, (long long)c->timestamp_ms,
                 (long long)want);
}

static void test_timestamp_iso8601(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "timestamp", "{field: at}");     /* format defaults to iso8601 */
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_ts(&x, "{\"at\":\"2024-05-01T12:00:00Z\"}", INT64_C(1714564800000));
    assert_string_equal(one(&x)->value, "{\"at\":\"2024-05-01T12:00:00Z\"}");  /* as it was */
    expect_ts(&x, "{\"at\":\"2024-05-01T12:00:00.123456Z\"}", INT64_C(1714564800123));
    expect_ts(&x, "{\"at\":\"2024-05-01t12:00:00,5z\"}", INT64_C(1714564800500));
    expect_ts(&x, "{\"at\":\"2024-05-01T14:00:00+02:00\"}", INT64_C(1714564800000));
    expect_ts(&x, "{\"at\":\"2024-05-01T07:30:00-0430\"}", INT64_C(1714564800000));
    expect_ts(&x, "{\"at\":\"2024-05-01 12:00\"}", INT64_C(1714564800000));   /* UTC */
    expect_ts(&x, "{\"at\":\"2024-05-01\"}", INT64_C(1714521600000));
    expect_ts(&x, "{\"at\":\"2024-02-29T00:00:00Z\"}", INT64_C(1709164800000));
    expect_ts(&x, "{\"at\":\"1970-01-01T00:00:00.001Z\"}", 1);
    expect_ts(&x, "{\"at\":\"9999-12-31T23:59:59.999Z\"}", INT64_C(253402300799999));
    /* Missing, null, tombstone: unchanged. */
    expect_same(&x, xf_run(&x, "{\"other\":1}"), "{\"other\":1}");
    expect_same(&x, xf_run(&x, "{\"at\":null}"), "{\"at\":null}");
    expect_same(&x, xf_run(&x, NULL), NULL);
    static const char *const bad[] = {
        "{\"at\":\"2023-02-29T00:00:00Z\"}", "{\"at\":\"2024-04-31\"}",
        "{\"at\":\"2024-13-01\"}", "{\"at\":\"2024-05-01T24:00:00Z\"}",
        "{\"at\":\"2024-05-01T12:00:00.Z\"}", "{\"at\":\"2024-05-01T12:00:00Zjunk\"}",
        "{\"at\":\"2024-5-1\"}", "{\"at\":\"yesterday\"}", "{\"at\":\"\"}",
        "{\"at\":\"2024-05-01T12:00:00+25:00\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        expect_fail(&x, xf_run(&x, bad[i]), "timestamp: field \"at\" is \"");
    expect_fail(&x, xf_run(&x, "{\"at\":\"1969-12-31T23:59:59Z\"}"),
                "timestamp: field \"at\" is \"1969-12-31T23:59:59Z\", out of range");
    expect_fail(&x, xf_run(&x, "{\"at\":1714564800}"),
                "value at t/0@7: field \"at\" is an integer; expected an ISO 8601 string");
    expect_fail(&x, xf_run(&x, "{\"at\":{}}"), "value at t/0@7: field \"at\" is an object");
    expect_fail(&x, xf_run(&x, "{\"at\":\"2024-05-01\""), NOT_JSON_AT);
    xf_close(&x);
}

static void test_timestamp_epoch(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "timestamp", "{field: m.ts, format: epoch_ms}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_ts(&x, "{\"m\":{\"ts\":1714564800123}}", INT64_C(1714564800123));
    expect_ts(&x, "{\"m\":{\"ts\":\"1714564800123\"}}", INT64_C(1714564800123));
    expect_ts(&x, "{\"m\":{\"ts\":1714564800123.9}}", INT64_C(1714564800123));
    expect_fail(&x, xf_run(&x, "{\"m\":{\"ts\":-1}}"), "timestamp: field \"m.ts\" is an "
                                                      "integer, out of range");
    expect_fail(&x, xf_run(&x, "{\"m\":{\"ts\":253402300800000}}"), "timestamp: field");
    expect_fail(&x, xf_run(&x, "{\"m\":{\"ts\":\"12abc\"}}"),
                "timestamp: field \"m.ts\" is \"12abc\", which does not parse");
    expect_fail(&x, xf_run(&x, "{\"m\":{\"ts\":\"99999999999999999999999\"}}"),
                "timestamp: field \"m.ts\"");
    expect_fail(&x, xf_run(&x, "{\"m\":{\"ts\":true}}"), "value at t/0@7: field \"m.ts\" is "
                                                         "true; expected a number of milliseconds");
    xf_close(&x);

    xf_open(&x, "timestamp", "{field: ts, format: epoch_s, to: iso8601}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_ts(&x, "{\"ts\":1714564800,\"id\":1}", INT64_C(1714564800000));
    assert_string_equal(one(&x)->value, "{\"ts\":\"2024-05-01T12:00:00.000Z\",\"id\":1}");
    expect_ts(&x, "{\"ts\":1714564800.25}", INT64_C(1714564800250));
    assert_string_equal(one(&x)->value, "{\"ts\":\"2024-05-01T12:00:00.250Z\"}");
    expect_ts(&x, "{\"ts\":\"86400.5\"}", INT64_C(86400500));
    assert_string_equal(one(&x)->value, "{\"ts\":\"1970-01-02T00:00:00.500Z\"}");
    expect_fail(&x, xf_run(&x, "{\"ts\":\"1.\"}"), "timestamp: field \"ts\" is \"1.\"");
    expect_fail(&x, xf_run(&x, "{\"ts\":9223372036854775807}"), "timestamp: field \"ts\"");
    xf_close(&x);

    xf_open(&x, "timestamp", "{field: ts, format: iso8601, to: epoch_s}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_ts(&x, "{\"ts\":\"2024-05-01T12:00:00.999Z\"}", INT64_C(1714564800999));
    assert_string_equal(one(&x)->value, "{\"ts\":1714564800}");
    xf_close(&x);
    xf_open(&x, "timestamp", "{field: ts, format: epoch_s, to: epoch_ms}");
    assert_int_equal(x.open_rc, SPOOL_OK);
    expect_ts(&x, "{\"ts\":\"60\"}", 60000);
    assert_string_equal(one(&x)->value, "{\"ts\":60000}");
    xf_close(&x);
}

/* ---- bad input, for all of them ------------------------------------------------- */

static const struct {
    const char *name, *opts;
} every[] = {
    {"filter", "{field: a, in: [x]}"},
    {"route", "{field: a, prefix: p-}"},
    {"insert", "{field: a, value: 1}"},
    {"rename", "{from: a, to: b}"},
    {"drop", "{fields: [a]}"},
    {"mask", "{fields: [a]}"},
    {"set_key", "{field: a}"},
    {"timestamp", "{field: a}"},
};

static void test_not_json_everywhere(void **state)
{
    static const char *const junk[] = {
        "", " ", "{", "}", "nul", "{\"a\":1}{\"a\":2}", "{'a':1}", "{\"a\":01}",
        "{\"a\":\"\xff\xfe\"}", "\xef\xbb\xbf{}", "{\"a\":1e999}",
        "{\"a\":99999999999999999999}", "{\"\\u0000\":1}", "\"unterminated",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(every) / sizeof(*every); i++) {
        xf x;
        xf_open(&x, every[i].name, every[i].opts);
        assert_int_equal(x.open_rc, SPOOL_OK);
        for (size_t k = 0; k < sizeof(junk) / sizeof(*junk); k++) {
            spool_rc rc = xf_run(&x, junk[k]);
            if (rc != SPOOL_EINVAL || x.task.nout != 0 ||
                strncmp(x.task.error, NOT_JSON_AT, strlen(NOT_JSON_AT)) != 0)
                fail_msg("%s on junk #%zu: rc %s, error \"%s\"", every[i].name, k,
                         spool_rc_name(rc), x.task.error);
            /* The reason is one printable line, whatever bytes the record held. */
            for (const char *c = x.task.error; *c; c++)
                assert_true(*c >= 0x20 && *c < 0x7f);
            assert_non_null(strstr(x.task.error, "(line "));
        }
        /* Bytes after a NUL are part of the value, not ignored. */
        expect_fail(&x, xf_run_n(&x, "{}\0junk", 7), NOT_JSON_AT);
        xf_close(&x);
    }
}

/* A source's record has no place in the log yet: the message names none. */
static void test_not_json_from_source(void **state)
{
    xf x;
    (void)state;
    xf_open(&x, "mask", "{fields: [a]}");
    spool_record r = {.struct_size = sizeof(r), .value = "x", .value_len = 1,
                      .partition = -1};
    assert_int_equal(x.ct->plugin->desc->transform(&x.task, x.state, &r), SPOOL_EINVAL);
    assert_string_equal(x.task.error, "value is not JSON: invalid token near 'x' "
                                      "(line 1, column 1)");
    xf_close(&x);
}

/* Nested far beyond any real record: refused as not JSON by the parser's depth limit,
 * not a stack overflow. Within the limit, a deep document goes through. */
static void test_deep_json(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 16);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    for (size_t i = 0; i < sizeof(every) / sizeof(*every); i++) {
        xf x;
        xf_open(&x, every[i].name, every[i].opts);
        expect_fail(&x, xf_run(&x, deep), NOT_JSON_AT);
        xf_close(&x);
    }
    free(deep);

    /* {"a":{"a":...{"a":1}...}} 1000 deep: mask the innermost through a long path. */
    size_t levels = 1000;
    char *doc = malloc(levels * 6 + 16), *path = malloc(levels * 2 + 1);
    char opts[4096];
    assert_non_null(doc);
    assert_non_null(path);
    char *p = doc;
    for (size_t i = 0; i < levels; i++)
        p += sprintf(p, "{\"a\":");
    p += sprintf(p, "1");
    for (size_t i = 0; i < levels; i++)
        *p++ = '}';
    *p = '\0';
    path[0] = 'a';
    for (size_t i = 1; i < 100; i++)
        memcpy(path + 2 * i - 1, ".a", 2);
    path[199] = '\0';     /* "a.a. ... .a": 100 parts */
    snprintf(opts, sizeof(opts), "{fields: [\"%s\"]}", path);
    xf x;
    xf_open(&x, "mask", opts);
    assert_int_equal(x.open_rc, SPOOL_OK);
    assert_int_equal(xf_run(&x, doc), SPOOL_OK);
    assert_non_null(strstr(one(&x)->value, "\"a\":\"****\""));
    xf_close(&x);
    free(doc);
    free(path);
}

/* A 4 MiB value with 100,000 fields: every transform copes, and the one field asked
 * for is found and changed. */
static void test_large_json(void **state)
{
    (void)state;
    size_t n = 100000, cap = n * 48 + 64;
    char *big = malloc(cap), *p = big;
    assert_non_null(big);
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "\"field%06zu\":\"%024zu\",", i, i);
    p += sprintf(p, "\"a\":\"secret\"}");
    for (size_t i = 0; i < sizeof(every) / sizeof(*every); i++) {
        xf x;
        xf_open(&x, every[i].name, every[i].opts);
        spool_rc rc = xf_run(&x, big);
        if (strcmp(every[i].name, "timestamp") == 0) {
            expect_fail(&x, rc, "timestamp: field \"a\" is \"secret\", which does not parse");
        } else if (strcmp(every[i].name, "filter") == 0) {
            assert_int_equal(rc, SPOOL_OK);
            assert_int_equal(x.task.nout, 0);
        } else {
            assert_int_equal(rc, SPOOL_OK);
            assert_int_equal(x.task.nout, 1);
        }
        if (strcmp(every[i].name, "mask") == 0) {
            assert_non_null(strstr(one(&x)->value, "\"a\":\"****\"}"));
            assert_null(strstr(one(&x)->value, "secret"));
        }
        if (strcmp(every[i].name, "set_key") == 0)
            assert_string_equal(one(&x)->key, "secret");
        if (strcmp(every[i].name, "route") == 0)
            assert_string_equal(one(&x)->topic, "p-secret");
        xf_close(&x);
    }
    free(big);
}

/* emit's answer is the transform's answer (SPOOL_ESTOP when stopping). */
static void test_emit_result_returned(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(every) / sizeof(*every); i++) {
        xf x;
        xf_open(&x, every[i].name, every[i].opts);
        x.task.emit_rc = SPOOL_ESTOP;
        /* A record each of them passes on, changed or not. */
        const char *rec = strcmp(every[i].name, "filter") == 0
                              ? "{\"a\":\"x\"}"
                              : strcmp(every[i].name, "timestamp") == 0
                                    ? "{\"a\":\"2024-05-01\"}"
                                    : "{\"a\":\"v\"}";
        spool_rc rc = xf_run(&x, rec);
        if (rc != SPOOL_ESTOP)
            fail_msg("%s: rc %s, want SPOOL_ESTOP", every[i].name, spool_rc_name(rc));
        xf_close(&x);
    }
}

/* close() after a failed open() frees what open() made (ASan reports a leak if not). */
static void test_close_after_failed_open(void **state)
{
    static const struct {
        const char *name, *opts;
    } bad[] = {
        {"filter", "{field: a}"},
        {"route", "{field: r, mapping: [eu=ok, bad]}"},
        {"rename", "{from: \"\", to: b}"},
        {"drop", "{fields: [\".x\"]}"},
        {"mask", "{fields: [\"x.\"]}"},
        {"set_key", "{field: \"a..b\"}"},
        {"timestamp", "{field: \"\"}"},
        {"insert", "{field: \"\", value: 1}"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        xf x;
        xf_open(&x, bad[i].name, bad[i].opts);
        if (x.open_rc != SPOOL_EINVAL || x.task.error[0] == '\0')
            fail_msg("%s %s: rc %d, error \"%s\"", bad[i].name, bad[i].opts, x.open_rc,
                     x.task.error);
        xf_close(&x);
    }
}

/* ---- predicates ---------------------------------------------------------------- */

/* Loads `- mask: {fields: [a]}` with the predicate line pred ("when: {...}"). */
static const config_predicate *pred_load(xf *x, const char *pred)
{
    char item[1024], diag[4096];
    snprintf(item, sizeof(item), "{mask: {fields: [a]}, %s}", pred);
    if (xf_load(x, item, diag, sizeof(diag)) != SPOOL_OK)
        fail_msg("predicate %s refused: %s", pred, diag);
    assert_non_null(x->ct->predicate);
    return x->ct->predicate;
}

static int match(const config_predicate *p, const char *value, const char *topic)
{
    spool_record r = rec_of(value, value != NULL ? strlen(value) : 0);
    r.topic = topic;
    return transform_predicate_match(p, &r);
}

static void test_predicate_equals(void **state)
{
    xf x;
    (void)state;
    const config_predicate *p = pred_load(&x, "when: {field: e.kind, equals: paid}");
    assert_int_equal(p->kind, CONFIG_PRED_EQUALS);
    assert_int_equal(match(p, "{\"e\":{\"kind\":\"paid\"}}", "t"), 1);
    assert_int_equal(match(p, "{\"e\":{\"kind\":\"paid \"}}", "t"), 0);
    assert_int_equal(match(p, "{\"e\":{\"kind\":\"PAID\"}}", "t"), 0);
    assert_int_equal(match(p, "{\"e\":{}}", "t"), 0);
    assert_int_equal(match(p, "{\"e\":\"paid\"}", "t"), 0);
    assert_int_equal(match(p, "paid", "t"), 0);              /* not JSON */
    assert_int_equal(match(p, NULL, "t"), 0);                /* tombstone */
    assert_int_equal(match(p, "", "t"), 0);
    xf_close(&x);

    p = pred_load(&x, "unless: {field: n, equals: \"42\"}");
    assert_int_equal(p->negate, 1);
    assert_int_equal(match(p, "{\"n\":42}", "t"), 0);        /* 42 is "42" */
    assert_int_equal(match(p, "{\"n\":\"42\"}", "t"), 0);
    assert_int_equal(match(p, "{\"n\":43}", "t"), 1);
    assert_int_equal(match(p, "{\"n\":", "t"), 1);           /* not JSON: goes through */
    xf_close(&x);
}

static void test_predicate_in(void **state)
{
    xf x;
    (void)state;
    const config_predicate *p = pred_load(&x, "when: {field: event, in: [a, b]}");
    assert_int_equal(p->kind, CONFIG_PRED_IN);
    assert_int_equal(p->nin, 2);
    assert_int_equal(match(p, "{\"event\":\"a\"}", "t"), 1);
    assert_int_equal(match(p, "{\"event\":\"b\"}", "t"), 1);
    assert_int_equal(match(p, "{\"event\":\"ab\"}", "t"), 0);
    assert_int_equal(match(p, "{\"event\":[\"a\"]}", "t"), 0);
    assert_int_equal(match(p, "{}", "t"), 0);
    assert_int_equal(match(p, "[]", "t"), 0);
    xf_close(&x);

    p = pred_load(&x, "unless: {field: event, in: [a]}");
    assert_int_equal(match(p, "{\"event\":\"a\"}", "t"), 0);
    assert_int_equal(match(p, "{\"event\":\"c\"}", "t"), 1);
    assert_int_equal(match(p, "{}", "t"), 1);
    xf_close(&x);
}

static void test_predicate_exists(void **state)
{
    xf x;
    (void)state;
    const config_predicate *p = pred_load(&x, "when: {field: a.b, exists: true}");
    assert_int_equal(p->kind, CONFIG_PRED_EXISTS);
    assert_int_equal(p->exists, 1);
    assert_int_equal(match(p, "{\"a\":{\"b\":null}}", "t"), 1);
    assert_int_equal(match(p, "{\"a\":{\"c\":1}}", "t"), 0);
    assert_int_equal(match(p, "{\"a\":1}", "t"), 0);
    xf_close(&x);

    p = pred_load(&x, "when: {field: a.b, exists: false}");
    assert_int_equal(p->exists, 0);
    assert_int_equal(match(p, "{\"a\":{\"c\":1}}", "t"), 1);
    assert_int_equal(match(p, "{\"a\":{\"b\":0}}", "t"), 0);
    /* Not JSON and tombstones: a field test never holds, even exists: false. */
    assert_int_equal(match(p, "not json", "t"), 0);
    assert_int_equal(match(p, NULL, "t"), 0);
    xf_close(&x);

    p = pred_load(&x, "unless: {field: region, exists: false}");
    assert_int_equal(match(p, "{\"region\":\"eu\"}", "t"), 1);
    assert_int_equal(match(p, "{}", "t"), 0);
    assert_int_equal(match(p, "{", "t"), 1);     /* reaches the transform, which reports */
    xf_close(&x);
}

static void test_predicate_topic(void **state)
{
    xf x;
    (void)state;
    const config_predicate *p = pred_load(&x, "when: {topic: events-eu}");
    assert_int_equal(p->kind, CONFIG_PRED_TOPIC);
    assert_null(p->field);
    assert_int_equal(match(p, "{}", "events-eu"), 1);
    assert_int_equal(match(p, "not json at all", "events-eu"), 1);  /* value not read */
    assert_int_equal(match(p, NULL, "events-eu"), 1);
    assert_int_equal(match(p, "{}", "t"), 0);
    assert_int_equal(match(p, "{}", "events-eu2"), 0);
    assert_int_equal(match(p, "{}", NULL), 0);
    xf_close(&x);

    p = pred_load(&x, "unless: {topic: t}");
    assert_int_equal(match(p, "{}", "t"), 0);
    assert_int_equal(match(p, "{}", "events-eu"), 1);
    assert_int_equal(match(p, "{}", NULL), 1);
    xf_close(&x);

    /* No predicate: every record goes through. */
    assert_int_equal(transform_predicate_match(NULL, &(spool_record){0}), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins_registered),
        cmocka_unit_test(test_options_validated),
        cmocka_unit_test(test_filter_in),
        cmocka_unit_test(test_filter_not_in_negate_keep_missing),
        cmocka_unit_test(test_filter_equals_exists),
        cmocka_unit_test(test_filter_open_errors),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_route_open_errors),
        cmocka_unit_test(test_insert),
        cmocka_unit_test(test_rename),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_set_key),
        cmocka_unit_test(test_timestamp_iso8601),
        cmocka_unit_test(test_timestamp_epoch),
        cmocka_unit_test(test_not_json_everywhere),
        cmocka_unit_test(test_not_json_from_source),
        cmocka_unit_test(test_deep_json),
        cmocka_unit_test(test_large_json),
        cmocka_unit_test(test_emit_result_returned),
        cmocka_unit_test(test_close_after_failed_open),
        cmocka_unit_test(test_predicate_equals),
        cmocka_unit_test(test_predicate_in),
        cmocka_unit_test(test_predicate_exists),
        cmocka_unit_test(test_predicate_topic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

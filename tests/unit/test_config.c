/* test_config.c - pipeline loading: the model, golden errors, expansion and secrets.
 *
 * The golden table pins the exact FILE:LINE:COLUMN and key path of every class of
 * error an operator can make, because those are the contract people script against
 * and read at 3 a.m.; a change in wording past the pinned prefix does not break it.
 * Plugins come from test_config_plugins.c, registered as built-ins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

int test_config_register(loader *l, char *err, size_t errlen);

#define CANARY "CANARY-s3cr3t-9f2e"

static int setup(void **state)
{
    char err[512] = "";
    loader *l = loader_new(NULL);
    assert_non_null(l);
    if (test_config_register(l, err, sizeof err) != SPOOL_OK)
        fail_msg("registering test plugins: %s", err);
    setenv("TEST_TOKEN", "tok-123", 1);
    setenv("TEST_EMPTY", "", 1);
    unsetenv("TEST_UNSET");
    unsetenv("TEST_DSN");
    *state = l;
    return 0;
}

static int teardown(void **state)
{
    loader_free(*state);
    return 0;
}

static int load(void **state, const char *yaml, config_pipeline **p, config_diag *d)
{
    return config_load_string("pipe.yaml", yaml, strlen(yaml), *state, p, d);
}

static void dump(const config_diag *d)
{
    for (size_t i = 0; i < d->count; i++)
        print_message("  diag: %s\n", d->messages[i]);
}

static int has_prefix(const config_diag *d, const char *prefix)
{
    for (size_t i = 0; i < d->count; i++)
        if (strncmp(d->messages[i], prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------------------- */

static const char full_yaml[] =
    "data_dir: ./data\n"
    "topics:\n"
    "  events: {partitions: 4, retention: 7d, retention_bytes: 1GiB}\n"
    "  audit: {}\n"
    "  plain:\n"
    "sources:\n"
    "  app-events:\n"
    "    connector: http\n"
    "    topic: events\n"
    "    key: resource_id\n"
    "    transforms:\n"
    "      - mask: {fields: [email]}\n"
    "    config: {listen: 127.0.0.1:8088, token: \"${TEST_TOKEN}\"}\n"
    "  ticker:\n"
    "    connector: gen\n"
    "    topic: audit\n"
    "sinks:\n"
    "  warehouse:\n"
    "    connector: pg\n"
    "    topics: [events, audit]\n"
    "    tasks: 3\n"
    "    config:\n"
    "      dsn: \"${TEST_DSN:-postgres://localhost/db}\"\n"
    "      table: events\n"
    "      columns: id\n"
    "      flush: 250ms\n"
    "      mode: upsert\n"
    "  billing:\n"
    "    connector: file\n"
    "    topics: events\n"
    "    transforms:\n"
    "      - filter: {field: event, in: [created, destroyed]}\n"
    "      - {filter: {field: kind, in: billable, negate: yes}}\n"
    "    config: {path: billing.out}\n";

static void test_valid_full_pipeline(void **state)
{
    config_pipeline *p = NULL;
    config_diag d = {0};
    int rc = load(state, full_yaml, &p, &d);
    dump(&d);
    assert_int_equal(rc, SPOOL_OK);
    assert_int_equal(d.count, 0);
    assert_non_null(p);
    assert_string_equal(p->path, "pipe.yaml");

    char *cwd = getcwd(NULL, 0), want[4096];
    snprintf(want, sizeof want, "%s/data", cwd);
    free(cwd);
    assert_string_equal(p->data_dir, want);

    assert_int_equal(p->ntopics, 3);
    assert_string_equal(p->topics[0].name, "events");
    assert_int_equal(p->topics[0].partitions, 4);
    assert_int_equal(p->topics[0].retention_ms, INT64_C(7) * 86400000);
    assert_int_equal(p->topics[0].retention_bytes, INT64_C(1) << 30);
    assert_int_equal(p->topics[0].line, 3);
    assert_int_equal(p->topics[0].column, 3);
    assert_string_equal(p->topics[1].name, "audit");
    assert_int_equal(p->topics[1].partitions, 1);
    assert_int_equal(p->topics[1].retention_ms, -1);
    assert_int_equal(p->topics[1].retention_bytes, -1);
    assert_string_equal(p->topics[2].name, "plain");
    assert_int_equal(p->topics[2].partitions, 1);

    assert_int_equal(p->nsources, 2);
    const config_connector *s = &p->sources[0];
    assert_string_equal(s->name, "app-events");
    assert_int_equal(s->kind, SPOOL_KIND_SOURCE);
    assert_string_equal(s->connector, "http");
    assert_non_null(s->plugin);
    assert_string_equal(s->plugin->desc->name, "http");
    assert_string_equal(s->topic, "events");
    assert_string_equal(s->key_field, "resource_id");
    assert_int_equal(s->line, 7);
    assert_int_equal(s->column, 3);
    assert_int_equal(s->ntransforms, 1);
    assert_string_equal(s->transforms[0].name, "mask");
    assert_int_equal(s->transforms[0].line, 12);
    assert_int_equal(s->transforms[0].column, 9);
    const config_value *v = config_find(s->transforms[0].values,
                                        s->transforms[0].nvalues, "fields");
    assert_non_null(v);
    assert_int_equal(v->list_len, 1);
    assert_string_equal(v->list[0], "email");
    assert_null(v->list[1]);
    /* Every declared option has a value slot, in declaration order. */
    assert_int_equal(s->nvalues, 4);
    assert_string_equal(s->values[0].decl->name, "listen");
    assert_string_equal(s->values[0].text, "127.0.0.1:8088");
    assert_int_equal(s->values[0].is_set, 1);
    assert_int_equal(s->values[0].line, 13);
    assert_int_equal(s->values[0].column, 22);
    assert_string_equal(s->values[1].text, "tok-123");
    assert_string_equal(s->values[2].decl->name, "max_body");
    assert_int_equal(s->values[2].number, 1 << 20);      /* default "1MiB" */
    assert_int_equal(s->values[2].is_set, 0);
    assert_int_equal(s->values[2].line, 0);
    assert_string_equal(s->values[2].text, "1MiB");
    assert_int_equal(s->values[3].number, 0);            /* tls default false */
    assert_string_equal(s->values[3].text, "false");

    const config_connector *g = &p->sources[1];
    assert_null(g->key_field);
    assert_int_equal(g->ntransforms, 0);
    assert_int_equal(config_find(g->values, g->nvalues, "interval")->number, 1000);
    assert_int_equal(config_find(g->values, g->nvalues, "format")->number, 0);
    assert_int_equal(config_find(g->values, g->nvalues, "count")->number, 10);
    v = config_find(g->values, g->nvalues, "fields");
    assert_int_equal(v->list_len, 2);      /* LIST default "[id, event]" */
    assert_string_equal(v->list[0], "id");
    assert_string_equal(v->list[1], "event");
    assert_string_equal(v->text, "id,event");
    assert_null(config_find(g->values, g->nvalues, "nope"));

    assert_int_equal(p->nsinks, 2);
    const config_connector *w = &p->sinks[0];
    assert_string_equal(w->name, "warehouse");
    assert_int_equal(w->kind, SPOOL_KIND_SINK);
    assert_int_equal(w->ntopics, 2);
    assert_string_equal(w->topics[0], "events");
    assert_string_equal(w->topics[1], "audit");
    assert_null(w->topics[2]);
    assert_int_equal(w->tasks, 3);
    assert_string_equal(config_find(w->values, w->nvalues, "dsn")->text,
                        "postgres://localhost/db");
    assert_int_equal(config_find(w->values, w->nvalues, "batch")->number, 500);
    assert_int_equal(config_find(w->values, w->nvalues, "flush")->number, 250);
    assert_int_equal(config_find(w->values, w->nvalues, "mode")->number, 1);
    v = config_find(w->values, w->nvalues, "columns");
    assert_int_equal(v->list_len, 1);   /* a scalar is a one-element list */
    assert_string_equal(v->list[0], "id");
    v = config_find(w->values, w->nvalues, "pin");
    assert_null(v->text);                /* no default, not written */
    assert_int_equal(v->is_set, 0);

    const config_connector *b = &p->sinks[1];
    assert_string_equal(b->connector, "file");
    assert_int_equal(b->plugin->desc->kind, SPOOL_KIND_SINK);   /* not the file source */
    assert_int_equal(b->ntopics, 1);
    assert_string_equal(b->topics[0], "events");
    assert_int_equal(b->tasks, 1);
    assert_int_equal(b->ntransforms, 2);
    assert_string_equal(b->transforms[0].name, "filter");
    v = config_find(b->transforms[0].values, b->transforms[0].nvalues, "in");
    assert_int_equal(v->list_len, 2);
    assert_string_equal(v->list[1], "destroyed");
    assert_int_equal(config_find(b->transforms[0].values, b->transforms[0].nvalues,
                                 "negate")->number, 0);
    assert_int_equal(config_find(b->transforms[1].values, b->transforms[1].nvalues,
                                 "negate")->number, 1);
    assert_int_equal(b->transforms[1].line, 33);
    assert_int_equal(b->transforms[1].column, 10);
    config_free(p);
}

/* ---------------------------------------------------------------------------- */

typedef struct golden {
    const char *name;
    const char *yaml;
    const char *want;    /* the prefix one of the messages must start with */
} golden;

#define T0 "topics: {ev: {}}\n"

static const golden goldens[] = {
    {"syntax: unclosed flow sequence", "topics: [a, b\n",
     "pipe.yaml:2:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow "
     "sequence at 1:9)"},
    {"syntax: tab indentation", "topics:\n\tev: {}\n",
     "pipe.yaml:2:1: invalid YAML: found character that cannot start any token"},
    {"syntax: tab is named", "topics:\n\tev: {}\n", "pipe.yaml:2:1: invalid YAML: "
     "found character that cannot start any token (while scanning for the next token at "
     "2:1); a tab character; expected spaces"},
    {"syntax: invalid UTF-8", "topics:\n  ev\xff: {}\n",
     "pipe.yaml:2:5: invalid YAML: invalid leading UTF-8 octet (#FF at byte 12)"},
    {"syntax: UTF-16", "\xff\xfet", "pipe.yaml:1:1: invalid YAML: the file is UTF-16; "
     "expected UTF-8"},
    {"syntax: control character", "topics:\n  ev\x01: {}\n",
     "pipe.yaml:2:5: invalid YAML: control characters are not allowed (#1 at byte 12)"},
    {"syntax: undefined alias", "topics:\n  ev: *nope\n",
     "pipe.yaml:2:7: invalid YAML: found undefined alias; expected every alias"},
    {"syntax: second document", "topics: {}\n---\ntopics: {}\n",
     "pipe.yaml:3:1: a second YAML document"},
    {"empty file", "", "pipe.yaml:1:1: the file has no pipeline; expected a map"},
    {"root is a list", "- a\n- b\n", "pipe.yaml:1:1: the file holds a list; expected a map"},
    {"duplicate top-level key", "topics: {}\nsinks: {}\ntopics: {}\n",
     "pipe.yaml:3:1: topics: duplicate key \"topics\" (first at 1:1)"},
    {"unknown top-level key", "topcs: {}\n",
     "pipe.yaml:1:1: topcs: unknown key; did you mean \"topics\"? expected one of: "
     "data_dir, topics, sources, sinks"},
    {"unknown key without suggestion", "zzzzzz: 1\n",
     "pipe.yaml:1:1: zzzzzz: unknown key; expected one of: data_dir, topics"},
    {"unknown topic key", "topics:\n  ev: {partitons: 4}\n",
     "pipe.yaml:2:8: topics.ev.partitons: unknown key; did you mean \"partitions\"?"},
    {"topics wrong type", "topics: [ev]\n", "pipe.yaml:1:9: topics: got a list; expected a map"},
    {"topic body wrong type", "topics:\n  ev: 3\n",
     "pipe.yaml:2:7: topics.ev: got a string; expected a map such as {partitions: 4"},
    {"partitions out of range", "topics:\n  ev: {partitions: 0}\n",
     "pipe.yaml:2:20: topics.ev.partitions: out of range: \"0\"; expected an integer from 1 "
     "to 10000"},
    {"partitions not an integer", "topics:\n  ev: {partitions: four}\n",
     "pipe.yaml:2:20: topics.ev.partitions: not an integer: \"four\""},
    {"partitions overflow", "topics:\n  ev: {partitions: 99999999999999999999}\n",
     "pipe.yaml:2:20: topics.ev.partitions: does not fit in a 64-bit integer"},
    {"bad duration", "topics:\n  ev: {retention: 7days}\n",
     "pipe.yaml:2:19: topics.ev.retention: not a duration: \"7days\"; expected a duration"},
    {"duration overflow", "topics:\n  ev: {retention: 9999999999999999d}\n",
     "pipe.yaml:2:19: topics.ev.retention: too long (overflows 64-bit milliseconds)"},
    {"bad size", "topics:\n  ev: {retention_bytes: 12XB}\n",
     "pipe.yaml:2:25: topics.ev.retention_bytes: not a size: \"12XB\"; expected a size"},
    {"size overflow", "topics:\n  ev: {retention_bytes: 99999999999PiB}\n",
     "pipe.yaml:2:25: topics.ev.retention_bytes: too large (over 8 EiB)"},
    {"topic name with slash", "topics:\n  a/b: {}\n",
     "pipe.yaml:2:3: topics[\"a/b\"]: a topic name with a character other than"},
    {"topic name ..", "topics:\n  \"..\": {}\n",
     "pipe.yaml:2:3: topics[\"..\"]: a topic name that is \".\" or \"..\""},
    {"topic name too long",
     "topics:\n  "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     ": {}\n",
     "pipe.yaml:2:3: topics.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: "
     "a topic name longer than 249 characters"},
    {"unknown source key", T0 "sources:\n  s:\n    conector: gen\n    topic: ev\n",
     "pipe.yaml:4:5: sources.s.conector: unknown key; did you mean \"connector\"?"},
    {"missing connector", T0 "sources:\n  s:\n    topic: ev\n",
     "pipe.yaml:3:3: sources.s: missing key \"connector\"; expected connector: a source "
     "plugin, one of: gen, http, file"},
    {"missing topic", T0 "sources:\n  s: {connector: gen}\n",
     "pipe.yaml:3:3: sources.s: missing key \"topic\""},
    {"unknown connector", T0 "sources:\n  s: {connector: gne, topic: ev}\n",
     "pipe.yaml:3:18: sources.s.connector: no source plugin named \"gne\"; did you mean "
     "\"gen\"? expected one of the installed source plugins: gen, http, file"},
    {"connector of the wrong kind", T0 "sources:\n  s: {connector: pg, topic: ev}\n",
     "pipe.yaml:3:18: sources.s.connector: plugin \"pg\" is a sink plugin, not a source"},
    {"unknown topic in source", T0 "sources:\n  s: {connector: gen, topic: evs}\n",
     "pipe.yaml:3:30: sources.s.topic: topic \"evs\" is not declared; did you mean \"ev\"?"},
    {"unknown topic in sink list", T0 "sinks:\n  k: {connector: stdout, topics: [ev, x]}\n",
     "pipe.yaml:3:39: sinks.k.topics[1]: topic \"x\" is not declared"},
    {"topic listed twice", T0 "sinks:\n  k: {connector: stdout, topics: [ev, ev]}\n",
     "pipe.yaml:3:39: sinks.k.topics[1]: topic \"ev\" is listed twice (first at 3:35)"},
    {"empty sink topics", T0 "sinks:\n  k: {connector: stdout, topics: []}\n",
     "pipe.yaml:3:34: sinks.k.topics: an empty list; expected at least one topic"},
    {"sink topics wrong type", T0 "sinks:\n  k: {connector: stdout, topics: {ev: 1}}\n",
     "pipe.yaml:3:34: sinks.k.topics: got a map; expected a topic name or a list"},
    {"tasks out of range", T0 "sinks:\n  k: {connector: stdout, topics: ev, tasks: 300}\n",
     "pipe.yaml:3:45: sinks.k.tasks: out of range: \"300\"; expected an integer from 1 to 256"},
    {"invalid connector name", T0 "sinks:\n  a b: {connector: stdout, topics: ev}\n",
     "pipe.yaml:3:3: sinks[\"a b\"]: connector name \"a b\" has characters other than"},
    {"connector name used twice",
     T0 "sources:\n  x: {connector: gen, topic: ev}\nsinks:\n  x: {connector: stdout, "
     "topics: ev}\n",
     "pipe.yaml:5:3: sinks.x: connector name \"x\" is also used by a source (at 3:3)"},
    {"unknown option", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: t, tabel: u}\n",
     "pipe.yaml:6:32: sinks.k.config.tabel: unknown key; did you mean \"table\"? expected "
     "one of: dsn, table, batch, flush, mode, columns, pin"},
    {"option wrong type", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: {a: 1}}\n",
     "pipe.yaml:6:29: sinks.k.config.table: got a map; expected a string"},
    {"required option missing from config", T0 "sinks:\n  k:\n    connector: pg\n    "
     "topics: ev\n    config:\n      dsn: x\n",
     "pipe.yaml:7:7: sinks.k.config: missing required option \"table\" (destination "
     "table); expected table: a string"},
    {"required option and no config", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n",
     "pipe.yaml:3:3: sinks.k.config: missing required option \"dsn\""},
    {"config wrong type", T0 "sinks:\n  k: {connector: pg, topics: ev, config: [a]}\n",
     "pipe.yaml:3:42: sinks.k.config: got a list; expected a map of options: dsn, table"},
    {"enum not a choice", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: t, mode: upsrt}\n",
     "pipe.yaml:6:38: sinks.k.config.mode: not one of the choices: \"upsrt\" (did you mean "
     "\"upsert\"?); expected one of: insert, upsert"},
    {"bool not a bool", T0 "sources:\n  s:\n    connector: http\n    topic: ev\n    config: "
     "{listen: x, tls: maybe}\n",
     "pipe.yaml:6:30: sources.s.config.tls: not true or false: \"maybe\"; expected true or "
     "false"},
    {"size below declared min", T0 "sources:\n  s:\n    connector: http\n    topic: ev\n    "
     "config: {listen: x, max_body: 1KB}\n",
     "pipe.yaml:6:35: sources.s.config.max_body: out of range: \"1KB\"; expected a size from "
     "1KiB to 64MiB"},
    {"duration above declared max", T0 "sources:\n  s:\n    connector: gen\n    topic: ev\n    "
     "config: {interval: 2d}\n",
     "pipe.yaml:6:24: sources.s.config.interval: out of range: \"2d\"; expected a duration "
     "from 1ms to 1d"},
    {"int overflow in option", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    "
     "config: {dsn: x, table: t, batch: 99999999999999999999}\n",
     "pipe.yaml:6:39: sinks.k.config.batch: does not fit in a 64-bit integer"},
    {"list given a map", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: t, columns: {a: b}}\n",
     "pipe.yaml:6:41: sinks.k.config.columns: got a map; expected a list of strings"},
    {"list item not a string", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    "
     "config: {dsn: x, table: t, columns: [a, [b]]}\n",
     "pipe.yaml:6:45: sinks.k.config.columns[1]: got a list; expected a string"},
    {"unset variable", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: \"${TEST_UNSET}\"}\n",
     "pipe.yaml:6:29: sinks.k.config.table: environment variable TEST_UNSET is not set; "
     "expected it exported to spool, or a default: ${TEST_UNSET:-default}"},
    {"unterminated expansion", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    "
     "config: {dsn: x, table: \"a${B\"}\n",
     "pipe.yaml:6:29: sinks.k.config.table: unterminated \"${\" at \"${B\""},
    {"bad variable name", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: \"${1X}\"}\n",
     "pipe.yaml:6:29: sinks.k.config.table: bad variable name \"1X\""},
    {"NUL in a value", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: \"a\\0b\"}\n",
     "pipe.yaml:6:29: sinks.k.config.table: contains a NUL character"},
    {"null value", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config:\n      "
     "dsn: x\n      table:\n",
     "pipe.yaml:8:13: sinks.k.config.table: got nothing; expected a string"},
    {"duplicate option", T0 "sinks:\n  k:\n    connector: pg\n    topics: ev\n    config: "
     "{dsn: x, table: t, table: u}\n",
     "pipe.yaml:6:32: sinks.k.config.table: duplicate key \"table\" (first at 6:22)"},
    {"unknown transform", T0 "sinks:\n  k:\n    connector: stdout\n    topics: ev\n    "
     "transforms:\n      - filtr: {field: a, in: [b]}\n",
     "pipe.yaml:7:9: sinks.k.transforms[0].filtr: no transform plugin named \"filtr\"; did "
     "you mean \"filter\"? expected one of the installed transform plugins: filter, mask"},
    {"transform of the wrong kind", T0 "sinks:\n  k:\n    connector: stdout\n    topics: "
     "ev\n    transforms:\n      - stdout: {}\n",
     "pipe.yaml:7:9: sinks.k.transforms[0].stdout: plugin \"stdout\" is a sink plugin, not a "
     "transform"},
    {"transform with two keys", T0 "sinks:\n  k:\n    connector: stdout\n    topics: ev\n    "
     "transforms:\n      - {filter: {field: a, in: [b]}, mask: {fields: [a]}}\n",
     "pipe.yaml:7:9: sinks.k.transforms[0]: a transform with 2 keys (filter, mask); "
     "expected one key"},
    {"transform missing option", T0 "sinks:\n  k:\n    connector: stdout\n    topics: ev\n"
     "    transforms:\n      - filter: {field: a}\n",
     "pipe.yaml:7:17: sinks.k.transforms[0].filter: missing required option \"in\""},
    {"transform unknown option", T0 "sinks:\n  k:\n    connector: stdout\n    topics: ev\n"
     "    transforms:\n      - filter: {field: a, in: b, negat: true}\n",
     "pipe.yaml:7:35: sinks.k.transforms[0].filter.negat: unknown key; did you mean "
     "\"negate\"?"},
    {"transforms not a list", T0 "sinks:\n  k:\n    connector: stdout\n    topics: ev\n"
     "    transforms: {filter: {}}\n",
     "pipe.yaml:6:17: sinks.k.transforms: got a map; expected a list"},
    {"merge key", "x-base: &b {partitions: 2}\ntopics:\n  ev2:\n    <<: *b\n",
     "pipe.yaml:4:5: topics.ev2[\"<<\"]: YAML merge keys (<<) are not supported"},
    {"non-scalar key", "topics:\n  ? [a]\n  : {}\n",
     "pipe.yaml:2:5: topics: a key that is a list; expected a plain name"},
    {"data_dir empty", "data_dir: \"\"\n", "pipe.yaml:1:11: data_dir: an empty path"},
    {"data_dir wrong type", "data_dir: [a]\n",
     "pipe.yaml:1:11: data_dir: got a list; expected a directory path"},
    {"log unknown key", "log:\n  backnd: kafka\n",
     "pipe.yaml:2:3: log.backnd: unknown key; did you mean \"backend\"?"},
    {"log bad backend", "log: {backend: kafak}\n",
     "pipe.yaml:1:16: log.backend: unknown backend \"kafak\"; did you mean \"kafka\"? expected"},
    {"log properties without kafka",
     "log:\n  properties: {bootstrap.servers: \"k:9092\"}\n",
     "pipe.yaml:2:3: log.properties: librdkafka properties, but the backend is builtin"},
    {"log group without kafka", "log: {backend: builtin, group: g}\n",
     "pipe.yaml:1:25: log.group: only means something with backend: kafka"},
    {"log bad group", "log: {backend: kafka, group: \"a b\"}\n",
     "pipe.yaml:1:30: log.group: \"a b\" is not a group name"},
    {"log bad replication", "log: {backend: kafka, replication_factor: 0}\n",
     "pipe.yaml:1:43: log.replication_factor: \"0\" is not a replication factor"},
    {"log not a map", "log: kafka\n",
     "pipe.yaml:1:6: log: got a string; expected a map"},
    {"log properties not a map", "log: {backend: kafka, properties: [a]}\n",
     "pipe.yaml:1:35: log.properties: got a list; expected a map of librdkafka"},
};

static void test_golden_errors(void **state)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof goldens / sizeof *goldens; i++) {
        const golden *g = &goldens[i];
        config_pipeline *p = NULL;
        config_diag d = {0};
        int rc = load(state, g->yaml, &p, &d);
        if (rc != SPOOL_EINVAL || p != NULL || !has_prefix(&d, g->want)) {
            print_message("golden case \"%s\": rc %d, want a message starting\n  %s\n", g->name,
                          rc, g->want);
            dump(&d);
            failed++;
        }
        /* Every message is one line and names the file. */
        for (size_t k = 0; k < d.count; k++) {
            if (strchr(d.messages[k], '\n') || strncmp(d.messages[k], "pipe.yaml:", 10)) {
                print_message("golden case \"%s\": malformed message %s\n", g->name,
                              d.messages[k]);
                failed++;
            }
        }
        config_diag_clear(&d);
        config_free(p);
    }
    assert_int_equal(failed, 0);
}

/* log: with kafka keeps its properties in file order, expanded; absent means builtin. */
static void test_log_block(void **state)
{
    config_pipeline *p = NULL;
    config_diag d = {0};
    setenv("TEST_BOOT", "k1:9092,k2:9092", 1);
    int rc = load(state, "log:\n"
                         "  backend: kafka\n"
                         "  group: prod-east\n"
                         "  replication_factor: -1\n"
                         "  properties:\n"
                         "    bootstrap.servers: ${TEST_BOOT}\n"
                         "    security.protocol: SASL_SSL\n"
                         "    linger.ms: 5\n", &p, &d);
    dump(&d);
    assert_int_equal(rc, SPOOL_OK);
    assert_int_equal(p->log.kind, 1);
    assert_string_equal(p->log.group, "prod-east");
    assert_int_equal(p->log.replication_factor, -1);
    assert_int_equal(p->log.nproperties, 3);
    assert_string_equal(p->log.properties[0], "bootstrap.servers");
    assert_string_equal(p->log.properties[1], "k1:9092,k2:9092");
    assert_string_equal(p->log.properties[2], "security.protocol");
    assert_string_equal(p->log.properties[3], "SASL_SSL");
    assert_string_equal(p->log.properties[4], "linger.ms");
    assert_string_equal(p->log.properties[5], "5");
    assert_null(p->log.properties[6]);
    assert_int_equal(p->log.line, 2); /* the map under log: */
    config_free(p);
    config_diag_clear(&d);

    rc = load(state, "topics: {a: {}}\n", &p, &d);
    assert_int_equal(rc, SPOOL_OK);
    assert_int_equal(p->log.kind, 0);
    assert_null(p->log.group);
    assert_null(p->log.properties);
    config_free(p);
    config_diag_clear(&d);

    rc = load(state, "log: {backend: builtin}\n", &p, &d);
    assert_int_equal(rc, SPOOL_OK);
    assert_int_equal(p->log.kind, 0);
    config_free(p);
    config_diag_clear(&d);
}

/* A property's value may be a password: no message shows it, even when the value is
 * what is wrong. */
static void test_log_property_secret(void **state)
{
    config_pipeline *p = NULL;
    config_diag d = {0};
    unsetenv("TEST_UNSET");
    int rc = load(state, "log:\n  backend: kafka\n  properties:\n"
                         "    sasl.password: " CANARY "${TEST_UNSET}\n", &p, &d);
    assert_int_equal(rc, SPOOL_EINVAL);
    assert_true(d.count > 0);
    for (size_t i = 0; i < d.count; i++)
        assert_null(strstr(d.messages[i], CANARY));
    config_diag_clear(&d);
}

/* A file with many errors reports them all, in file order, not just the first. */
static void test_errors_collected_in_order(void **state)
{
    const char *yaml = "sinks:\n"
                       "  k: {connector: stdout, topics: nope, tasks: 0}\n"
                       "topics:\n"
                       "  ev: {partitions: 0, retention: x}\n";
    config_pipeline *p = NULL;
    config_diag d = {0};
    assert_int_equal(load(state, yaml, &p, &d), SPOOL_EINVAL);
    dump(&d);
    assert_int_equal(d.count, 4);
    assert_true(!strncmp(d.messages[0], "pipe.yaml:2:34: sinks.k.topics:", 31));
    assert_true(!strncmp(d.messages[1], "pipe.yaml:2:47: sinks.k.tasks:", 30));
    assert_true(!strncmp(d.messages[2], "pipe.yaml:4:20: topics.ev.partitions:", 37));
    assert_true(!strncmp(d.messages[3], "pipe.yaml:4:34: topics.ev.retention:", 36));
    config_diag_clear(&d);
    assert_int_equal(d.count, 0);
    assert_null(d.messages);
}

/* More than 50 problems: 50 are kept, and one line says how many more there were. */
static void test_error_cap(void **state)
{
    char yaml[8192];
    size_t o = (size_t)snprintf(yaml, sizeof yaml, "topics:\n  ev:\n");
    for (int i = 0; i < 120; i++)
        o += (size_t)snprintf(yaml + o, sizeof yaml - o, "    bogus%d: 1\n", i);
    config_pipeline *p = NULL;
    config_diag d = {0};
    assert_int_equal(load(state, yaml, &p, &d), SPOOL_EINVAL);
    assert_int_equal(d.count, 51);
    assert_string_equal(d.messages[50],
                        "pipe.yaml: 70 more problems not shown; expected the ones above "
                        "fixed first");
    config_diag_clear(&d);
}

static void test_duplicate_keys(void **state)
{
    const char *yaml = "topics:\n"
                       "  a: {partitions: 1}\n"
                       "  b:\n"
                       "    partitions: 1\n"
                       "    partitions: 3\n"
                       "  a: {partitions: 2}\n"
                       "sources:\n"
                       "  s: {connector: gen, topic: a, connector: http}\n"
                       "  s: {connector: gen, topic: a}\n"
                       "topics: {}\n";
    config_pipeline *p = NULL;
    config_diag d = {0};
    assert_int_equal(load(state, yaml, &p, &d), SPOOL_EINVAL);
    dump(&d);
    assert_null(p);
    assert_int_equal(d.count, 5);
    assert_string_equal(d.messages[0], "pipe.yaml:5:5: topics.b.partitions: duplicate key "
                                       "\"partitions\" (first at 4:5); expected each key "
                                       "once in a map");
    assert_true(has_prefix(&d, "pipe.yaml:6:3: topics.a: duplicate key \"a\" (first at 2:3)"));
    assert_true(has_prefix(&d, "pipe.yaml:8:33: sources.s.connector: duplicate key "
                               "\"connector\" (first at 8:7)"));
    assert_true(has_prefix(&d, "pipe.yaml:9:3: sources.s: duplicate key \"s\" (first at "
                               "8:3)"));
    assert_true(has_prefix(&d, "pipe.yaml:10:1: topics: duplicate key \"topics\" (first at "
                               "1:1)"));
    config_diag_clear(&d);
}

static void test_env_expansion(void **state)
{
    setenv("TEST_TABLE", "events_v2", 1);
    const char *yaml = T0 "sinks:\n"
                          "  k:\n"
                          "    connector: pg\n"
                          "    topics: ev\n"
                          "    config:\n"
                          "      dsn: \"${TEST_UNSET:-host=db}\"\n"
                          "      table: \"pre_${TEST_TABLE}_post\"\n"
                          "      columns: [\"${TEST_EMPTY:-fallback}\", \"$${LITERAL}\", "
                          "\"a$b\", \"${TEST_EMPTY}\"]\n"
                          "      mode: ${TEST_MODE:-upsert}\n";
    config_pipeline *p = NULL;
    config_diag d = {0};
    int rc = load(state, yaml, &p, &d);
    dump(&d);
    assert_int_equal(rc, SPOOL_OK);
    const config_connector *k = &p->sinks[0];
    assert_string_equal(config_find(k->values, k->nvalues, "dsn")->text, "host=db");
    assert_string_equal(config_find(k->values, k->nvalues, "table")->text,
                        "pre_events_v2_post");
    const config_value *v = config_find(k->values, k->nvalues, "columns");
    assert_int_equal(v->list_len, 4);
    assert_string_equal(v->list[0], "fallback");     /* :- also covers set-but-empty */
    assert_string_equal(v->list[1], "${LITERAL}");
    assert_string_equal(v->list[2], "a$b");
    assert_string_equal(v->list[3], "");
    /* Expansion happens before parsing: the ENUM sees "upsert". */
    assert_int_equal(config_find(k->values, k->nvalues, "mode")->number, 1);
    config_free(p);

    /* Keys are never expanded. */
    p = NULL;
    rc = load(state, "${TEST_TOKEN}: 1\n", &p, &d);
    assert_int_equal(rc, SPOOL_EINVAL);
    assert_true(has_prefix(&d, "pipe.yaml:1:1: [\"${TEST_TOKEN}\"]: unknown key"));
    config_diag_clear(&d);
    unsetenv("TEST_TABLE");
}

/* The canary must never reach a message, whatever goes wrong around it. */
static void test_secret_never_printed(void **state)
{
    setenv("TEST_CANARY", CANARY, 1);
    static const char *const cases[] = {
        /* valid secret, but the connector has other errors */
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: " CANARY ", tabel: x}}\n",
        /* a secret INT that does not parse, literal and from the environment */
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: a, table: b, pin: "
           CANARY "}}\n",
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: a, table: b, pin: "
           "\"${TEST_CANARY}\"}}\n",
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: a, table: b, pin: "
           "\"${TEST_UNSET:-" CANARY "}\"}}\n",
        /* wrong shapes holding the secret */
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: {" CANARY ": 1}, table: "
           "b}}\n",
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: [" CANARY "], table: b}}\n",
        /* broken expansions inside a secret */
        T0 "sources:\n  s: {connector: http, topic: ev, config: {listen: x, token: \""
           CANARY "${\"}}\n",
        T0 "sources:\n  s: {connector: http, topic: ev, config: {listen: x, token: \"${"
           CANARY "}\"}}\n",
        T0 "sources:\n  s: {connector: http, topic: ev, config: {listen: x, token: \"${BAD "
           CANARY "}\"}}\n",
        T0 "sources:\n  s: {connector: http, topic: ev, config: {listen: x, token: \""
           CANARY "${TEST_UNSET}\"}}\n",
        /* secrets repeated, in a transform, next to a syntax error further down */
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: " CANARY ", dsn: " CANARY
           ", table: b}}\n",
        T0 "sinks:\n  k:\n    connector: stdout\n    topics: ev\n    transforms:\n      - mask: "
           "{fields: a, salt: [" CANARY "]}\n",
        T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: " CANARY ", table: b}}\n"
           "oops: [\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        config_pipeline *p = NULL;
        config_diag d = {0};
        int rc = load(state, cases[i], &p, &d);
        if (rc != SPOOL_EINVAL || d.count == 0)
            fail_msg("secret case %zu: rc %d with %zu messages; expected a failure", i, rc,
                     d.count);
        for (size_t k = 0; k < d.count; k++)
            if (strstr(d.messages[k], "s3cr3t"))
                fail_msg("secret case %zu leaked: %s", i, d.messages[k]);
        config_diag_clear(&d);
        config_free(p);
    }
    /* And a secret that fails to parse says so, without the value. */
    config_pipeline *p = NULL;
    config_diag d = {0};
    load(state, cases[1], &p, &d);
    dump(&d);
    assert_true(has_prefix(&d, "pipe.yaml:3:66: sinks.k.config.pin: not an integer: "
                               "<secret>; expected an integer"));
    config_diag_clear(&d);

    /* A valid secret is still delivered to the plugin. */
    const char *ok = T0 "sinks:\n  k: {connector: pg, topics: ev, config: {dsn: "
                        "\"${TEST_CANARY}\", table: b}}\n";
    assert_int_equal(load(state, ok, &p, &d), SPOOL_OK);
    assert_string_equal(p->sinks[0].values[0].text, CANARY);
    config_free(p);
    unsetenv("TEST_CANARY");
}

/* Nested aliases expand to a billion nodes if walked naively; the walk must stop at
 * the node budget, quickly, with a clear message. */
static void test_billion_laughs(void **state)
{
    char *yaml = malloc(1 << 16);
    assert_non_null(yaml);
    size_t o = 0;
    o += (size_t)sprintf(yaml + o, "x-cfg: &c {field: a, in: [");
    for (int i = 0; i < 500; i++)
        o += (size_t)sprintf(yaml + o, "%sv", i ? "," : "");
    o += (size_t)sprintf(yaml + o, "]}\nx-t: &t [");
    for (int i = 0; i < 500; i++)
        o += (size_t)sprintf(yaml + o, "%s{filter: *c}", i ? "," : "");
    o += (size_t)sprintf(yaml + o, "]\n"
                                   "x-a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
                                   "x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                                   "x-d: &d [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                                   "x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                                   "topics: {ev: {}}\nsinks:\n");
    for (int i = 0; i < 500; i++)
        o += (size_t)sprintf(yaml + o, "  k%d: {connector: stdout, topics: ev, transforms: *t}\n",
                             i);
    o += (size_t)sprintf(yaml + o, "  z: {connector: pg, topics: ev, config: {dsn: a, table: "
                                   "b, columns: *e}}\n");
    config_pipeline *p = NULL;
    config_diag d = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = config_load_string("pipe.yaml", yaml, o, *state, &p, &d);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    dump(&d);
    assert_int_equal(rc, SPOOL_EINVAL);
    assert_null(p);
    assert_true(secs < 5.0);
    int found = 0;
    for (size_t i = 0; i < d.count; i++)
        found |= strstr(d.messages[i], "more than 10000 nodes once aliases are expanded") !=
                 NULL;
    assert_true(found);
    config_diag_clear(&d);
    free(yaml);
}

/* Anchors and aliases within the budget are fine: shared settings are their use. */
static void test_aliases_within_budget(void **state)
{
    const char *yaml = "x-pg: &pg {dsn: a, table: b, batch: 7}\n"
                       "topics: {ev: {}}\n"
                       "sinks:\n"
                       "  k1: {connector: pg, topics: ev, config: *pg}\n"
                       "  k2: {connector: pg, topics: ev, config: *pg}\n";
    config_pipeline *p = NULL;
    config_diag d = {0};
    assert_int_equal(load(state, yaml, &p, &d), SPOOL_OK);
    assert_int_equal(config_find(p->sinks[1].values, p->sinks[1].nvalues, "batch")->number, 7);
    config_free(p);
}

/* A UTF-8 byte order mark is accepted; positions still start at 1:1 after it. */
static void test_bom_accepted(void **state)
{
    const char *yaml = "\xef\xbb\xbftopics: {ev: {partitions: 2}}\nbogus: 1\n";
    config_pipeline *p = NULL;
    config_diag d = {0};
    assert_int_equal(load(state, yaml, &p, &d), SPOOL_EINVAL);
    dump(&d);
    assert_true(has_prefix(&d, "pipe.yaml:2:1: bogus: unknown key"));
    config_diag_clear(&d);
}

typedef struct unit_case {
    const char *text;
    int rc;
    int64_t want;
} unit_case;

static void test_parse_size(void **state)
{
    (void)state;
    static const unit_case cases[] = {
        {"0", 0, 0},
        {"512", 0, 512},
        {"512B", 0, 512},
        {"64KiB", 0, 64 * 1024},
        {"16MiB", 0, 16 << 20},
        {"16 MiB", 0, 16 << 20},
        {"1GiB", 0, INT64_C(1) << 30},
        {"2GB", 0, 2000000000},
        {"1kB", 0, 1000},
        {"1KB", 0, 1000},
        {"3TiB", 0, INT64_C(3) << 40},
        {"1PB", 0, INT64_C(1000000000000000)},
        {"9223372036854775807", 0, INT64_MAX},
        {"8191PiB", 0, INT64_C(8191) << 50},
        {"9223372036854775808", UTIL_ERANGE, 0},
        {"8192PiB", UTIL_ERANGE, 0},
        {"99999999999999999999GiB", UTIL_ERANGE, 0},
        {"", UTIL_EPARSE, 0},
        {"MiB", UTIL_EPARSE, 0},
        {"-1", UTIL_EPARSE, 0},
        {"1.5GiB", UTIL_EPARSE, 0},
        {"10MiBs", UTIL_EPARSE, 0},
        {"10  MiB", UTIL_EPARSE, 0},
        {" 10", UTIL_EPARSE, 0},
        {"1e3", UTIL_EPARSE, 0},
        {"12XB", UTIL_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t v = -12345;
        int rc = util_parse_size(cases[i].text, &v);
        if (rc != cases[i].rc)
            fail_msg("size \"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].want)
            fail_msg("size \"%s\": %lld, want %lld", cases[i].text, (long long)v,
                     (long long)cases[i].want);
        if (rc != 0 && v != -12345)
            fail_msg("size \"%s\": *out written on failure", cases[i].text);
    }
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const unit_case cases[] = {
        {"0", 0, 0},
        {"250", 0, 250},
        {"250ms", 0, 250},
        {"5s", 0, 5000},
        {"10m", 0, 600000},
        {"2h", 0, 7200000},
        {"7d", 0, INT64_C(604800000)},
        {"1h30m", 0, 5400000},
        {"1m500ms", 0, 60500},
        {"5S", 0, 5000},
        {"9223372036854775807", 0, INT64_MAX},
        {"9223372036854775807ms", 0, INT64_MAX},
        {"9223372036854775808", UTIL_ERANGE, 0},
        {"106751991167d", 0, INT64_C(106751991167) * 86400000},
        {"106751991168d", UTIL_ERANGE, 0},
        {"106751991167d1d", UTIL_ERANGE, 0},
        {"", UTIL_EPARSE, 0},
        {"s", UTIL_EPARSE, 0},
        {"5 s", UTIL_EPARSE, 0},
        {"7days", UTIL_EPARSE, 0},
        {"1h30", UTIL_EPARSE, 0},
        {"-5s", UTIL_EPARSE, 0},
        {"1.5h", UTIL_EPARSE, 0},
        {"5x", UTIL_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t v = -12345;
        int rc = util_parse_duration(cases[i].text, &v);
        if (rc != cases[i].rc)
            fail_msg("duration \"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].want)
            fail_msg("duration \"%s\": %lld, want %lld", cases[i].text, (long long)v,
                     (long long)cases[i].want);
        if (rc != 0 && v != -12345)
            fail_msg("duration \"%s\": *out written on failure", cases[i].text);
    }
}

/* INT and BOOL go through the same path as in a pipeline: spot-check their edges. */
static void test_int_and_bool_values(void **state)
{
    const char *yaml = T0 "sources:\n"
                          "  a: {connector: gen, topic: ev, config: {count: 0}}\n"
                          "  b: {connector: gen, topic: ev, config: {count: 1000000}}\n"
                          "  c: {connector: http, topic: ev, config: {listen: x, tls: yes}}\n"
                          "  d: {connector: http, topic: ev, config: {listen: x, tls: OFF}}\n"
                          "  e: {connector: gen, topic: ev, config: {count: \"+7\"}}\n";
    config_pipeline *p = NULL;
    config_diag d = {0};
    int rc = load(state, yaml, &p, &d);
    dump(&d);
    assert_int_equal(rc, SPOOL_OK);
    assert_int_equal(config_find(p->sources[0].values, 4, "count")->number, 0);
    assert_int_equal(config_find(p->sources[1].values, 4, "count")->number, 1000000);
    assert_int_equal(config_find(p->sources[2].values, 4, "tls")->number, 1);
    assert_int_equal(config_find(p->sources[3].values, 4, "tls")->number, 0);
    assert_int_equal(config_find(p->sources[4].values, 4, "count")->number, 7);
    config_free(p);

    rc = load(state, T0 "sources:\n  a: {connector: gen, topic: ev, config: {count: -1}}\n",
              &p, &d);
    assert_int_equal(rc, SPOOL_EINVAL);
    assert_true(has_prefix(&d, "pipe.yaml:3:50: sources.a.config.count: out of range: "
                               "\"-1\"; expected an integer from 0 to 1000000"));
    config_diag_clear(&d);
}

static char *write_temp(const char *dir, const char *name, const char *text, size_t len)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

static void test_load_file(void **state)
{
    char dir[] = "/tmp/spool-config-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    config_pipeline *p = NULL;
    config_diag d = {0};

    /* Missing file: one message naming it. */
    char *missing = NULL;
    assert_true(asprintf(&missing, "%s/nope.yaml", dir) > 0);
    assert_int_equal(config_load_file(missing, *state, &p, &d), SPOOL_EINVAL);
    assert_null(p);
    assert_int_equal(d.count, 1);
    char want[512];
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory; check the path",
             missing);
    assert_string_equal(d.messages[0], want);
    config_diag_clear(&d);

    /* data_dir relative to the file, not to the working directory. */
    const char *yaml = "data_dir: state/spool\n" T0;
    char *path = write_temp(dir, "pipe.yaml", yaml, strlen(yaml));
    assert_int_equal(config_load_file(path, *state, &p, &d), SPOOL_OK);
    snprintf(want, sizeof want, "%s/state/spool", dir);
    assert_string_equal(p->data_dir, want);
    assert_string_equal(p->path, path);
    config_free(p);

    /* An absolute data_dir is kept. */
    const char *abs = "data_dir: /var/lib/spool\n" T0;
    char *path2 = write_temp(dir, "abs.yaml", abs, strlen(abs));
    assert_int_equal(config_load_file(path2, *state, &p, &d), SPOOL_OK);
    assert_string_equal(p->data_dir, "/var/lib/spool");
    config_free(p);

    /* Over the limit: refused, named, before parsing. */
    size_t big = CONFIG_MAX_FILE_BYTES + 1;
    char *blob = malloc(big);
    assert_non_null(blob);
    memset(blob, '#', big);
    char *path3 = write_temp(dir, "big.yaml", blob, big);
    assert_int_equal(config_load_file(path3, *state, &p, &d), SPOOL_EINVAL);
    assert_int_equal(d.count, 1);
    snprintf(want, sizeof want, "%s: larger than the 1048576 byte limit", path3);
    assert_true(has_prefix(&d, want));
    config_diag_clear(&d);
    /* The same limit holds for text handed over directly. */
    assert_int_equal(config_load_string("api", blob, big, *state, &p, &d), SPOOL_EINVAL);
    assert_true(has_prefix(&d, "api: 1048577 bytes, over the 1048576 byte limit"));
    config_diag_clear(&d);

    unlink(path);
    unlink(path2);
    unlink(path3);
    rmdir(dir);
    free(blob);
    free(path);
    free(path2);
    free(path3);
    free(missing);
}

/* Without any plugin loaded, every connector is unknown, and nothing crashes. */
static void test_no_plugins(void **state)
{
    (void)state;
    config_pipeline *p = NULL;
    config_diag d = {0};
    const char *yaml = T0 "sources: {s: {connector: gen, topic: ev}}\n";
    assert_int_equal(config_load_string("p.yaml", yaml, strlen(yaml), NULL, &p, &d),
                     SPOOL_EINVAL);
    dump(&d);
    assert_true(d.count == 1 &&
                !strncmp(d.messages[0], "p.yaml:2:26: sources.s.connector: no source plugin "
                                        "named \"gen\"; expected one of the installed source "
                                        "plugins: (none)", 98));
    config_diag_clear(&d);
    /* A NULL diag is allowed: the result code alone still says it failed. */
    assert_int_equal(config_load_string("p.yaml", yaml, strlen(yaml), NULL, &p, NULL),
                     SPOOL_EINVAL);
}


/* ---------------------------------------------------------------------------- */
/* Predicates: when: and unless: beside a transform                             */

static const char predicate_yaml[] =
    "topics: {ev: {}, audit: {}}\n"
    "sinks:\n"
    "  k:\n"
    "    connector: stdout\n"
    "    topics: [ev, audit]\n"
    "    transforms:\n"
    "      - mask: {fields: [card]}\n"
    "        when: {field: event, in: [payment_made, \"${TEST_TOKEN}\"]}\n"
    "      - filter: {field: a, in: [b]}\n"
    "        unless: {field: region, exists: false}\n"
    "      - when: {topic: audit}\n"
    "        mask: {fields: [x]}\n"
    "      - {filter: {field: a, in: [b]}, unless: {field: x.y, equals: \"\"}}\n"
    "      - mask: {fields: [y]}\n"
    "      - filter: {field: a, in: [b]}\n"
    "        when: {field: n, exists: yes}\n";

static void test_predicates_parsed(void **state)
{
    config_pipeline *p = NULL;
    config_diag d = {0};
    int rc = load(state, predicate_yaml, &p, &d);
    dump(&d);
    assert_int_equal(rc, SPOOL_OK);
    const config_connector *k = &p->sinks[0];
    assert_int_equal(k->ntransforms, 6);

    const config_predicate *pr = k->transforms[0].predicate;
    assert_string_equal(k->transforms[0].name, "mask");
    assert_non_null(pr);
    assert_int_equal(pr->negate, 0);
    assert_int_equal(pr->kind, CONFIG_PRED_IN);
    assert_string_equal(pr->field, "event");
    assert_int_equal(pr->nin, 2);
    assert_string_equal(pr->in[0], "payment_made");
    assert_string_equal(pr->in[1], "tok-123");       /* ${VAR} expanded, as options are */
    assert_null(pr->in[2]);
    assert_int_equal(pr->line, 8);
    assert_int_equal(pr->column, 9);
    /* The transform's own options are unaffected by the predicate beside them. */
    assert_string_equal(config_find(k->transforms[0].values, k->transforms[0].nvalues,
                                    "fields")->list[0], "card");

    pr = k->transforms[1].predicate;
    assert_int_equal(pr->negate, 1);
    assert_int_equal(pr->kind, CONFIG_PRED_EXISTS);
    assert_string_equal(pr->field, "region");
    assert_int_equal(pr->exists, 0);

    /* when: may come first; the transform is the other key. */
    assert_string_equal(k->transforms[2].name, "mask");
    assert_int_equal(k->transforms[2].line, 12);
    pr = k->transforms[2].predicate;
    assert_int_equal(pr->kind, CONFIG_PRED_TOPIC);
    assert_string_equal(pr->topic, "audit");
    assert_null(pr->field);
    assert_int_equal(pr->line, 11);

    pr = k->transforms[3].predicate;
    assert_int_equal(pr->negate, 1);
    assert_int_equal(pr->kind, CONFIG_PRED_EQUALS);
    assert_string_equal(pr->field, "x.y");
    assert_string_equal(pr->equals, "");

    assert_null(k->transforms[4].predicate);
    pr = k->transforms[5].predicate;
    assert_int_equal(pr->kind, CONFIG_PRED_EXISTS);
    assert_int_equal(pr->exists, 1);              /* YAML 1.1 yes, as BOOL options */
    config_free(p);
}

#define PRED_HEAD T0 "sinks:\n  k:\n    connector: stdout\n    topics: ev\n    transforms:\n"

static const golden predicate_goldens[] = {
    {"both when and unless",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {topic: ev}\n        unless: "
               "{topic: ev}\n",
     "pipe.yaml:9:9: sinks.k.transforms[0]: a transform with both when: and unless:; "
     "expected at most one predicate per transform"},
    {"when misspelt",
     PRED_HEAD "      - mask: {fields: [a]}\n        whne: {topic: ev}\n",
     "pipe.yaml:8:9: sinks.k.transforms[0].whne: unknown key; did you mean \"when\"? "
     "expected one of: when, unless"},
    {"unless misspelt",
     PRED_HEAD "      - mask: {fields: [a]}\n        Unles: {topic: ev}\n",
     "pipe.yaml:8:9: sinks.k.transforms[0].Unles: unknown key; did you mean \"unless\"?"},
    {"unknown predicate key",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {feild: a, in: [b]}\n",
     "pipe.yaml:8:16: sinks.k.transforms[0].when.feild: unknown key; did you mean "
     "\"field\"? expected one of: field, equals, in, exists, topic"},
    {"predicate with no test",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: a}\n",
     "pipe.yaml:8:15: sinks.k.transforms[0].when: a predicate with nothing to test; "
     "expected a predicate such as {field: event, in: [a, b]}"},
    {"predicate with two tests",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: a, equals: b, in: [c]}\n",
     "pipe.yaml:8:41: sinks.k.transforms[0].when: a predicate with both \"equals\" and "
     "\"in\"; expected exactly one of equals, in, exists or topic"},
    {"topic with a field",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: a, topic: ev}\n",
     "pipe.yaml:8:23: sinks.k.transforms[0].when: \"field\" is not used with \"topic\""},
    {"field test without a field",
     PRED_HEAD "      - mask: {fields: [a]}\n        unless: {equals: b}\n",
     "pipe.yaml:8:17: sinks.k.transforms[0].unless: missing key \"field\"; expected field: "
     "the JSON field to test"},
    {"empty in",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: a, in: []}\n",
     "pipe.yaml:8:30: sinks.k.transforms[0].when: an empty list; expected at least one "
     "value"},
    {"exists not a bool",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: a, exists: maybe}\n",
     "pipe.yaml:8:34: sinks.k.transforms[0].when.exists: not true or false: \"maybe\"; "
     "expected true or false"},
    {"exists empty",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: a, exists: }\n",
     "pipe.yaml:8:34: sinks.k.transforms[0].when.exists: got nothing; expected true or "
     "false"},
    {"equals a list",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: a, equals: [x]}\n",
     "pipe.yaml:8:34: sinks.k.transforms[0].when.equals: got a list; expected a string"},
    {"undeclared topic",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {topic: evs}\n",
     "pipe.yaml:8:23: sinks.k.transforms[0].when.topic: topic \"evs\" is not declared; did "
     "you mean \"ev\"?"},
    {"predicate not a map",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: ev\n",
     "pipe.yaml:8:15: sinks.k.transforms[0].when: got a string; expected a predicate such "
     "as {field: event, in: [a, b]}"},
    {"predicate empty",
     PRED_HEAD "      - mask: {fields: [a]}\n        unless:\n",
     "pipe.yaml:8:16: sinks.k.transforms[0].unless: got nothing; expected a predicate"},
    {"predicate without a transform",
     PRED_HEAD "      - when: {topic: ev}\n",
     "pipe.yaml:7:9: sinks.k.transforms[0]: a transform item with no transform; expected "
     "- NAME: {options} beside when: or unless:"},
    {"bad field path",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: \"a..b\", equals: x}\n",
     "pipe.yaml:8:23: sinks.k.transforms[0].when: a field path with an empty part: "
     "\"a..b\"; expected a JSON field"},
    {"empty field",
     PRED_HEAD "      - mask: {fields: [a]}\n        when: {field: \"\", exists: true}\n",
     "pipe.yaml:8:23: sinks.k.transforms[0].when: an empty field name"},
    {"two transforms and a predicate",
     PRED_HEAD "      - {filter: {field: a, in: [b]}, mask: {fields: [a]}, when: {topic: ev}}\n",
     "pipe.yaml:7:9: sinks.k.transforms[0]: a transform with 2 keys (filter, mask); "
     "expected one key, the transform's name, per item: - NAME: {options}, optionally "
     "beside when: or unless:"},
    {"unknown transform beside a predicate",
     PRED_HEAD "      - filtr: {field: a, in: [b]}\n        when: {topic: ev}\n",
     "pipe.yaml:7:9: sinks.k.transforms[0].filtr: no transform plugin named \"filtr\"; did "
     "you mean \"filter\"?"},
    {"bad key path in a source",
     T0 "sources:\n  s: {connector: gen, topic: ev, key: \"a..b\"}\n",
     "pipe.yaml:3:39: sources.s.key: a field path with an empty part; expected the JSON "
     "field whose value is the record key"},
};

static void test_predicate_errors(void **state)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof predicate_goldens / sizeof *predicate_goldens; i++) {
        const golden *g = &predicate_goldens[i];
        config_pipeline *p = NULL;
        config_diag d = {0};
        int rc = load(state, g->yaml, &p, &d);
        if (rc != SPOOL_EINVAL || p != NULL || !has_prefix(&d, g->want)) {
            print_message("predicate case \"%s\": rc %d, want a message starting\n  %s\n",
                          g->name, rc, g->want);
            dump(&d);
            failed++;
        }
        config_diag_clear(&d);
        config_free(p);
    }
    assert_int_equal(failed, 0);
}

/* A predicate's problems and its transform's are all reported, in file order. */
static void test_predicate_errors_collected(void **state)
{
    const char *yaml = PRED_HEAD
        "      - filter: {field: a}\n"
        "        when: {field: a, exists: maybe}\n"
        "      - mask: {fields: [a]}\n"
        "        unless: {topic: nope}\n";
    config_pipeline *p = NULL;
    config_diag d = {0};
    assert_int_equal(load(state, yaml, &p, &d), SPOOL_EINVAL);
    dump(&d);
    assert_null(p);
    assert_int_equal(d.count, 3);
    static const char *const want[] = {
        "pipe.yaml:7:17: sinks.k.transforms[0].filter: missing required option \"in\"",
        "pipe.yaml:8:34: sinks.k.transforms[0].when.exists: not true or false",
        "pipe.yaml:10:25: sinks.k.transforms[1].unless.topic: topic \"nope\" is not declared",
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(strncmp(d.messages[i], want[i], strlen(want[i])), 0);
    config_diag_clear(&d);
}

/* "when" and "unless" are keys only beside a transform: a plugin may not be named after
 * a near miss of them and lose its item, and an item with one key is a transform. */
static void test_predicate_near_miss_single_key(void **state)
{
    config_pipeline *p = NULL;
    config_diag d = {0};
    const char *yaml = PRED_HEAD "      - whne: {topic: ev}\n";
    assert_int_equal(load(state, yaml, &p, &d), SPOOL_EINVAL);
    dump(&d);
    /* One key: read as a transform's name, which is unknown. */
    assert_true(has_prefix(&d, "pipe.yaml:7:9: sinks.k.transforms[0].whne: no transform "
                               "plugin named \"whne\""));
    config_diag_clear(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_full_pipeline),
        cmocka_unit_test(test_golden_errors),
        cmocka_unit_test(test_errors_collected_in_order),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_secret_never_printed),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_aliases_within_budget),
        cmocka_unit_test(test_bom_accepted),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_int_and_bool_values),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_no_plugins),
        cmocka_unit_test(test_predicates_parsed),
        cmocka_unit_test(test_predicate_errors),
        cmocka_unit_test(test_predicate_errors_collected),
        cmocka_unit_test(test_predicate_near_miss_single_key),
        cmocka_unit_test(test_log_block),
        cmocka_unit_test(test_log_property_secret),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

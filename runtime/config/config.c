/* config.c - loads pipeline files: the top-level schema, topics, sources and sinks.
 *
 * config_load_string() parses the whole file with libyaml, then walks the document
 * once in a fixed order (data_dir, topics, sources, sinks) so that topic references can
 * be checked against the declared topics wherever they appear in the file. Each
 * problem is reported with its position and the walk goes on; the messages are sorted
 * by position at the end, so the operator reads them top to bottom. A pipeline is
 * returned only when there was no problem at all: a half-valid pipeline is never run.
 *
 * The runtime's own settings (partitions, retention, tasks) are declared as
 * spool_option tables and checked by the same code as a plugin's options, so a typo
 * in "partitions" reads exactly like a typo in a connector's "table".
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_int.h"
#include "util/fsio.h"

/* The topic settings, declared like a plugin's options. */
static const spool_option config_opt_partitions = {
    sizeof(spool_option), SPOOL_OPT_INT, "partitions", "1", 0, 1, 10000, NULL,
    "number of partitions; records with the same key go to the same one"};
static const spool_option config_opt_retention = {
    sizeof(spool_option), SPOOL_OPT_DURATION, "retention", NULL, 0, 1, INT64_MAX, NULL,
    "how long records are kept; omitted: forever"};
static const spool_option config_opt_retention_bytes = {
    sizeof(spool_option), SPOOL_OPT_SIZE, "retention_bytes", NULL, 0, 1, INT64_MAX, NULL,
    "how many bytes a partition keeps; omitted: no limit"};
static const spool_option config_opt_segment_bytes = {
    sizeof(spool_option), SPOOL_OPT_SIZE, "segment_bytes", "128MiB", 0, 1024,
    INT64_C(1) << 30, NULL, "a segment file is rolled past this size"};
static const spool_option config_opt_segment_age = {
    sizeof(spool_option), SPOOL_OPT_DURATION, "segment_age", "7d", 0, 1000, INT64_MAX, NULL,
    "a segment older than this is rolled at the next append"};
static const char *const config_durability_choices[] = {"batch", "interval", "none", NULL};
static const spool_option config_opt_durability = {
    sizeof(spool_option), SPOOL_OPT_ENUM, "durability", "batch", 0, 0, 0,
    config_durability_choices,
    "batch: durable before acknowledging; interval: fsync every flush_interval; "
    "none: left to the kernel (a machine crash can lose acknowledged records)"};
static const spool_option config_opt_flush_interval = {
    sizeof(spool_option), SPOOL_OPT_DURATION, "flush_interval", "1s", 0, 1, INT64_MAX, NULL,
    "with durability interval, the longest time between two fsyncs"};
static const spool_option config_opt_keep_unconsumed = {
    sizeof(spool_option), SPOOL_OPT_BOOL, "keep_unconsumed", "false", 0, 0, 0, NULL,
    "retention never deletes a segment a sink of this worker has not consumed"};
static const spool_option *const config_topic_opts[] = {
    &config_opt_partitions, &config_opt_retention, &config_opt_retention_bytes,
    &config_opt_segment_bytes, &config_opt_segment_age, &config_opt_durability,
    &config_opt_flush_interval, &config_opt_keep_unconsumed};

static const spool_option config_opt_tasks = {
    sizeof(spool_option), SPOOL_OPT_INT, "tasks", "1", 0, 1, 256, NULL,
    "number of tasks reading the sink's topics in parallel"};

/* errors: how a connector treats failures, declared like a plugin's options. */
static const char *const config_tolerance_choices[] = {"none", "all", NULL};
static const spool_option config_opt_tolerance = {
    sizeof(spool_option), SPOOL_OPT_ENUM, "tolerance", "none", 0, 0, 0,
    config_tolerance_choices,
    "none: a record that fails stops the connector (FAILED); all: it is set aside"};
static const spool_option config_opt_dead_letter = {
    sizeof(spool_option), SPOOL_OPT_STRING, "dead_letter_topic", NULL, 0, 0, 0, NULL,
    "with tolerance all, the declared topic that receives failed records"};
static const spool_option config_opt_retry_max = {
    sizeof(spool_option), SPOOL_OPT_INT, "retry_max", "20", 0, 0, 1000000, NULL,
    "retries of a transient failure before the connector fails; 0: none"};
static const spool_option config_opt_retry_timeout = {
    sizeof(spool_option), SPOOL_OPT_DURATION, "retry_timeout", "5m", 0, 0, INT64_MAX, NULL,
    "how long transient failures are retried before the connector fails"};
static const spool_option config_opt_retry_backoff_max = {
    sizeof(spool_option), SPOOL_OPT_DURATION, "retry_backoff_max", "30s", 0, 1, INT64_MAX,
    NULL, "the longest wait between two retries (backoff doubles from 100ms, with jitter)"};
static const spool_option config_opt_deadline = {
    sizeof(spool_option), SPOOL_OPT_DURATION, "deadline", "5m", 0, 100, INT64_MAX, NULL,
    "the longest one plugin callback may run; past it the connector FAILS and its thread "
    "is abandoned"};
static const spool_option *const config_errors_opts[] = {
    &config_opt_tolerance, &config_opt_dead_letter, &config_opt_retry_max,
    &config_opt_retry_timeout, &config_opt_retry_backoff_max, &config_opt_deadline};

/* batch: the bounds on what a task holds in memory at once. */
static const spool_option config_opt_batch_records = {
    sizeof(spool_option), SPOOL_OPT_INT, "max_records", "4096", 0, 1, 1000000, NULL,
    "records a task gathers before committing (source) or delivering (sink)"};
static const spool_option config_opt_batch_bytes = {
    sizeof(spool_option), SPOOL_OPT_SIZE, "max_bytes", "8MiB", 0, 1024,
    INT64_C(1) << 30, NULL, "bytes a task gathers before committing or delivering"};
static const spool_option *const config_batch_opts[] = {&config_opt_batch_records,
                                                        &config_opt_batch_bytes};

static const char *const config_top_keys[] = {"data_dir", "topics", "sources", "sinks",
                                              "log"};
static const char *const config_log_keys[] = {"backend", "group", "replication_factor",
                                              "properties"};
static const char *const config_backends[] = {"builtin", "kafka"};
static const char *const config_source_keys[] = {"connector", "topic", "key", "transforms",
                                                 "config", "errors", "batch"};
static const char *const config_sink_keys[] = {"connector", "topics", "tasks", "transforms",
                                               "config", "errors", "batch"};

#define CONFIG_NKEYS(a) (sizeof(a) / sizeof *(a))

/* ------------------------------------------------------------------------------ */
/* Names                                                                          */

/* Topic names follow Kafka's rule, which also keeps them safe as directory names:
 * no '/', no "." or "..", nothing a shell or a path would reinterpret. */
static const char *config_topic_name_problem(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "an empty topic name";
    if (n > 249)
        return "a topic name longer than 249 characters";
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return "a topic name that is \".\" or \"..\"";
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return "a topic name with a character other than letters, digits, '.', '_' "
                   "and '-'";
    }
    return NULL;
}

static int config_connector_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------------ */
/* data_dir                                                                       */

static void config_data_dir(config_ctx *c, config_pipeline *p, yaml_node_t *n)
{
    char *dir = NULL, *cwd = NULL;
    config_buf b = {0};

    if (config_get_string(c, n, "data_dir", 0, "a directory path", &dir))
        goto out;
    if (!*dir) {
        config_error(c, n, "data_dir", "an empty path; expected a directory such as "
                                       "./spool-data");
        goto out;
    }
    /* Relative to the file, not to wherever the worker happens to run; made absolute
     * so a daemon that changes directory later still finds its data. */
    const char *rel = dir;
    if (rel[0] != '/') {
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        const char *slash = strrchr(c->name, '/');
        if (c->name[0] != '/') {
            cwd = getcwd(NULL, 0);
            if (cwd) {
                config_buf_str(&b, cwd);
                config_buf_str(&b, "/");
            }
        }
        if (slash) {
            config_buf_add(&b, c->name, (size_t)(slash - c->name));
            config_buf_str(&b, "/");
        }
    }
    config_buf_str(&b, rel);
    p->data_dir = config_buf_take(&b);
    if (!p->data_dir)
        config_nomem(c);
out:
    config_buf_free(&b);
    free(dir);
    free(cwd);
}

/* ------------------------------------------------------------------------------ */
/* log: where the topics live                                                     */

/* properties: a map of librdkafka property names to scalar values, kept in file order
 * as name/value pairs. Values expand ${VAR}; they are never shown in messages, since
 * sasl.password and the like live here. */
static void config_log_properties(config_ctx *c, config_log *lg, yaml_node_t *n)
{
    config_entry *e = NULL;
    size_t ne = 0;

    if (n->type != YAML_MAPPING_NODE) {
        config_error(c, n, "log.properties", "got %s; expected a map of librdkafka "
                     "properties, such as {bootstrap.servers: \"k1:9092,k2:9092\"}",
                     config_kind_name(n));
        return;
    }
    if (config_map_entries(c, n, "log.properties", &e, &ne) || ne == 0)
        goto out;
    lg->properties = calloc(2 * ne + 1, sizeof *lg->properties);
    if (!lg->properties) {
        config_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < ne; i++) {
        char path[CONFIG_PATH_MAX], *value = NULL;
        config_path(path, "log.properties", e[i].key);
        if (config_get_string(c, e[i].vnode, path, 1, "a value for the librdkafka property",
                              &value))
            continue;
        char *name = strdup(e[i].key);
        if (!name) {
            free(value);
            config_nomem(c);
            goto out;
        }
        lg->properties[2 * lg->nproperties] = name;
        lg->properties[2 * lg->nproperties + 1] = value;
        lg->nproperties++;
    }
out:
    free(e);
}

/* The characters a worker group may use: they become parts of Kafka topic, group and
 * transactional ids. */
static int config_group_ok(const char *s)
{
    if (!*s || strlen(s) > 200)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

void config_log_block(config_ctx *c, config_log *lg, yaml_node_t *n)
{
    config_entry *e = NULL;
    size_t ne = 0;
    yaml_node_t *props = NULL, *only_kafka = NULL;
    const char *only_kafka_key = NULL;

    lg->line = (int)n->start_mark.line + 1;
    lg->column = (int)n->start_mark.column + 1;
    if (config_is_null(n))
        return;
    if (n->type != YAML_MAPPING_NODE) {
        config_error(c, n, "log", "got %s; expected a map such as {backend: kafka, "
                     "properties: {bootstrap.servers: \"k1:9092\"}}", config_kind_name(n));
        return;
    }
    if (config_map_entries(c, n, "log", &e, &ne))
        goto out;
    for (size_t i = 0; i < ne; i++) {
        const char *key = e[i].key;
        yaml_node_t *v = e[i].vnode;
        char *text = NULL;
        if (strcmp(key, "backend") == 0) {
            if (config_get_string(c, v, "log.backend", 0, "builtin or kafka", &text))
                continue;
            if (strcmp(text, "builtin") == 0 || strcmp(text, "kafka") == 0) {
                lg->kind = strcmp(text, "kafka") == 0;
            } else {
                char shown[128];
                const char *near = config_suggest(text, config_backends, 2);
                config_show(shown, sizeof shown, text);
                config_error(c, v, "log.backend", "unknown backend %s; %s%s%sexpected "
                             "builtin (the log in data_dir) or kafka", shown,
                             near ? "did you mean \"" : "", near ? near : "",
                             near ? "\"? " : "");
            }
        } else if (strcmp(key, "group") == 0) {
            if (config_get_string(c, v, "log.group", 0, "a group name such as spool", &text))
                continue;
            if (!config_group_ok(text)) {
                char shown[128];
                config_show(shown, sizeof shown, text);
                config_error(c, v, "log.group", "%s is not a group name; expected letters, "
                             "digits, '.', '_' and '-', at most 200", shown);
                free(text);
                continue;
            }
            free(lg->group);
            lg->group = text;
            text = NULL;
            only_kafka = e[i].knode;
            only_kafka_key = "log.group";
        } else if (strcmp(key, "replication_factor") == 0) {
            int64_t rf;
            if (config_get_string(c, v, "log.replication_factor", 0, "a number such as 3",
                                  &text))
                continue;
            if (util_parse_int(text, &rf) != 0 || rf == 0 || rf < -1 || rf > 32767)
                config_error(c, v, "log.replication_factor", "\"%.40s\" is not a "
                             "replication factor; expected 1 to 32767, or -1 for the "
                             "brokers' default", text);
            else
                lg->replication_factor = (int)rf;
            only_kafka = e[i].knode;
            only_kafka_key = "log.replication_factor";
        } else if (strcmp(key, "properties") == 0) {
            props = e[i].knode;
            config_log_properties(c, lg, v);
        } else if (c->worker_log_keys &&
                   (strcmp(key, "level") == 0 || strcmp(key, "format") == 0)) {
            continue;                  /* the worker's own log lines: not ours here */
        } else {
            config_unknown_key(c, &e[i], "log", config_log_keys,
                               CONFIG_NKEYS(config_log_keys));
        }
        free(text);
    }
    if (lg->kind != 1 && props)
        config_error(c, props, "log.properties", "librdkafka properties, but the backend "
                     "is builtin; expected backend: kafka beside them, or no properties");
    if (lg->kind != 1 && only_kafka)
        config_error(c, only_kafka, only_kafka_key, "only means something with backend: "
                     "kafka; expected backend: kafka beside it, or remove it");
out:
    free(e);
}

void config_log_free(config_log *lg)
{
    for (size_t i = 0; lg->properties && i < 2 * lg->nproperties; i++)
        free(lg->properties[i]);
    free(lg->properties);
    free(lg->group);
    *lg = (config_log){0};
}

/* ------------------------------------------------------------------------------ */
/* Topics                                                                         */

static void config_topics(config_ctx *c, config_pipeline *p, yaml_node_t *map)
{
    config_entry *e = NULL;
    size_t ne = 0;

    if (config_is_null(map))
        return;
    if (map->type != YAML_MAPPING_NODE) {
        config_error(c, map, "topics",
                     "got %s; expected a map of topic names, such as "
                     "{events: {partitions: 4, retention: 7d}}",
                     config_kind_name(map));
        return;
    }
    if (config_map_entries(c, map, "topics", &e, &ne) || ne == 0)
        goto out;
    p->topics = calloc(ne, sizeof *p->topics);
    if (!p->topics) {
        config_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < ne && !c->stop; i++) {
        char path[CONFIG_PATH_MAX], shown[128];
        config_topic *t = &p->topics[p->ntopics++];
        config_value *v = NULL;
        size_t nv = 0;

        config_path(path, "topics", e[i].key);
        t->name = strdup(e[i].key);
        t->partitions = 1;
        t->retention_ms = -1;
        t->retention_bytes = -1;
        t->line = (int)e[i].knode->start_mark.line + 1;
        t->column = (int)e[i].knode->start_mark.column + 1;
        if (!t->name) {
            config_nomem(c);
            goto out;
        }
        const char *why = config_topic_name_problem(t->name);
        if (why) {
            config_show(shown, sizeof shown, t->name);
            config_error(c, e[i].knode, path,
                         "%s: %s; expected letters, digits, '.', '_' and '-', at most 249",
                         why, shown);
        }
        yaml_node_t *vn = e[i].vnode;
        if (!config_is_null(vn) && vn->type != YAML_MAPPING_NODE) {
            config_error(c, vn, path,
                         "got %s; expected a map such as {partitions: 4, retention: 7d}",
                         config_kind_name(vn));
            continue;
        }
        if (config_options(c, config_topic_opts, CONFIG_NKEYS(config_topic_opts), "spool",
                           vn, vn, path, &v, &nv))
            goto out;
        if (v[0].text)
            t->partitions = (int32_t)v[0].number;
        if (v[1].text)
            t->retention_ms = v[1].number;
        if (v[2].text)
            t->retention_bytes = v[2].number;
        t->segment_bytes = v[3].number;
        t->segment_ms = v[4].number;
        t->durability = (int)v[5].number;
        t->flush_interval_ms = v[6].number;
        t->keep_unconsumed = (int)v[7].number;
        config_values_free(v, nv);
    }
out:
    free(e);
}

static const config_topic *config_topic_find(const config_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->ntopics; i++)
        if (!strcmp(p->topics[i].name, name))
            return &p->topics[i];
    return NULL;
}

/* Reports name, read from n, when no topic of that name is declared under topics:. */
static void config_topic_ref(config_ctx *c, const config_pipeline *p, const yaml_node_t *n,
                             const char *path, const char *name)
{
    config_topic_ref_at(c, p, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1,
                        path, name);
}

void config_topic_ref_at(config_ctx *c, const config_pipeline *p, int line, int column,
                         const char *path, const char *name)
{
    if (config_topic_find(p, name))
        return;
    const char **names = calloc(p->ntopics ? p->ntopics : 1, sizeof *names);
    config_buf b = {0};
    char shown[128];
    if (!names) {
        config_nomem(c);
        return;
    }
    for (size_t i = 0; i < p->ntopics; i++)
        names[i] = p->topics[i].name;
    config_show(shown, sizeof shown, name);
    const char *s = config_suggest(name, names, p->ntopics);
    if (s)
        config_buf_printf(&b, "; did you mean \"%s\"?", s);
    else
        config_buf_str(&b, ";");
    if (p->ntopics) {
        config_buf_str(&b, " expected one of the topics declared under topics: ");
        config_join(&b, names, p->ntopics);
    } else {
        config_buf_printf(&b, " expected it declared under topics:, such as "
                              "topics: {%.100s: {partitions: 1}}",
                          config_topic_name_problem(name) ? "NAME" : name);
    }
    if (b.failed)
        config_nomem(c);
    else
        config_error_at(c, line, column, path, "topic %s is not declared%s", shown, b.s);
    config_buf_free(&b);
    free(names);
}

/* ------------------------------------------------------------------------------ */
/* Sources and sinks                                                              */

static void config_missing_key(config_ctx *c, const config_entry *owner, const char *path,
                               const char *key, const char *expected)
{
    config_error(c, owner->knode, path, "missing key \"%s\"; expected %s: %s", key, key,
                 expected);
}

static void config_sink_topics(config_ctx *c, const config_pipeline *p,
                               config_connector *cc, yaml_node_t *n, const char *path)
{
    const char *expected = "a topic name or a list of them, such as [events]";
    yaml_node_t **nodes = NULL;
    size_t count = 1;

    if (n->type == YAML_SEQUENCE_NODE) {
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (count == 0) {
            config_error(c, n, path, "an empty list; expected at least one topic to read");
            return;
        }
    } else if (n->type != YAML_SCALAR_NODE || config_is_null(n)) {
        config_error(c, n, path, "got %s; expected %s", config_kind_name(n), expected);
        return;
    }
    cc->topics = calloc(count + 1, sizeof *cc->topics);
    nodes = calloc(count, sizeof *nodes);
    if (!cc->topics || !nodes) {
        config_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        char ipath[CONFIG_PATH_MAX];
        yaml_node_t *in = n;
        if (n->type == YAML_SEQUENCE_NODE) {
            in = config_node(c, n->data.sequence.items.start[i]);
            if (!in)
                goto out;
            config_path_index(ipath, path, i);
        } else {
            snprintf(ipath, sizeof ipath, "%s", path);
        }
        char *name = NULL;
        if (config_get_string(c, in, ipath, 0, "a topic name", &name))
            continue;
        size_t k = 0;
        while (k < cc->ntopics && strcmp(cc->topics[k], name) != 0)
            k++;
        if (k < cc->ntopics) {
            char shown[128];
            config_show(shown, sizeof shown, name);
            config_error(c, in, ipath,
                         "topic %s is listed twice (first at %zu:%zu); expected each topic "
                         "once",
                         shown, nodes[k]->start_mark.line + 1,
                         nodes[k]->start_mark.column + 1);
            free(name);
            continue;
        }
        config_topic_ref(c, p, in, ipath, name);
        nodes[cc->ntopics] = in;
        cc->topics[cc->ntopics++] = name;
    }
out:
    free(nodes);
}

/* The source named name, read before the sinks, so a sink cannot reuse its name. */
static const config_connector *config_source_find(const config_pipeline *p,
                                                  const char *name)
{
    for (size_t i = 0; i < p->nsources; i++)
        if (!strcmp(p->sources[i].name, name))
            return &p->sources[i];
    return NULL;
}

/* errors: {tolerance, dead_letter_topic, retry_max, retry_timeout, retry_backoff_max,
 *          deadline} */
static int config_connector_errors(config_ctx *c, const config_pipeline *p,
                                   config_connector *cc, yaml_node_t *n, const char *path)
{
    char epath[CONFIG_PATH_MAX];
    config_value *v = NULL;
    size_t nv = 0;

    if (n == NULL)
        return 0;
    config_path(epath, path, "errors");
    if (!config_is_null(n) && n->type != YAML_MAPPING_NODE) {
        config_error(c, n, epath, "got %s; expected a map such as {tolerance: all, "
                                  "dead_letter_topic: failed-events}",
                     config_kind_name(n));
        return 0;
    }
    if (config_options(c, config_errors_opts, CONFIG_NKEYS(config_errors_opts), "spool", n,
                       n, epath, &v, &nv))
        return -1;
    cc->errors_tolerate = v[0].number == 1;
    cc->retry_max = v[2].number;
    cc->retry_timeout_ms = v[3].number;
    cc->retry_backoff_max_ms = v[4].number;
    cc->call_deadline_ms = v[5].number;
    if (v[1].text != NULL) {
        char dpath[CONFIG_PATH_MAX];
        config_path(dpath, epath, "dead_letter_topic");
        cc->dead_letter_topic = strdup(v[1].text);
        if (cc->dead_letter_topic == NULL) {
            config_nomem(c);
        } else if (!cc->errors_tolerate) {
            config_error_at(c, v[1].line, v[1].column, dpath,
                            "a dead-letter topic needs tolerance: all (with tolerance: "
                            "none a failed record stops the connector); expected "
                            "tolerance: all beside it");
        } else if (config_topic_find(p, cc->dead_letter_topic) == NULL) {
            config_error_at(c, v[1].line, v[1].column, dpath,
                            "topic \"%.200s\" is not declared; expected a topic declared "
                            "under topics:", cc->dead_letter_topic);
        }
    }
    config_values_free(v, nv);
    return 0;
}

/* batch: {max_records, max_bytes} */
static int config_connector_batch(config_ctx *c, config_connector *cc, yaml_node_t *n,
                                  const char *path)
{
    char bpath[CONFIG_PATH_MAX];
    config_value *v = NULL;
    size_t nv = 0;

    if (n == NULL)
        return 0;
    config_path(bpath, path, "batch");
    if (!config_is_null(n) && n->type != YAML_MAPPING_NODE) {
        config_error(c, n, bpath, "got %s; expected a map such as {max_records: 4096, "
                                  "max_bytes: 8MiB}", config_kind_name(n));
        return 0;
    }
    if (config_options(c, config_batch_opts, CONFIG_NKEYS(config_batch_opts), "spool", n, n,
                       bpath, &v, &nv))
        return -1;
    cc->batch_max_records = v[0].number;
    cc->batch_max_bytes = v[1].number;
    config_values_free(v, nv);
    return 0;
}

static int config_connector_one(config_ctx *c, const config_pipeline *p,
                                const config_entry *ent, uint32_t kind,
                                config_connector *cc)
{
    const char *section = kind == SPOOL_KIND_SOURCE ? "sources" : "sinks";
    const char *const *keys = kind == SPOOL_KIND_SOURCE ? config_source_keys
                                                        : config_sink_keys;
    size_t nkeys = kind == SPOOL_KIND_SOURCE ? CONFIG_NKEYS(config_source_keys)
                                             : CONFIG_NKEYS(config_sink_keys);
    yaml_node_t *field[7] = {NULL};
    char path[CONFIG_PATH_MAX], fpath[CONFIG_PATH_MAX], shown[128];
    config_entry *e = NULL;
    size_t ne = 0;
    int rc = -1;

    config_path(path, section, ent->key);
    cc->kind = (int)kind;
    cc->tasks = 1;
    cc->retry_max = 20;
    cc->retry_timeout_ms = 5 * 60 * 1000;
    cc->retry_backoff_max_ms = 30 * 1000;
    cc->batch_max_records = 4096;
    cc->batch_max_bytes = 8 << 20;
    cc->call_deadline_ms = 5 * 60 * 1000;
    cc->line = (int)ent->knode->start_mark.line + 1;
    cc->column = (int)ent->knode->start_mark.column + 1;
    cc->name = strdup(ent->key);
    if (!cc->name) {
        config_nomem(c);
        return -1;
    }
    config_show(shown, sizeof shown, cc->name);
    if (!config_connector_name_ok(cc->name))
        config_error(c, ent->knode, path,
                     "connector name %s has characters other than letters, digits, '.', "
                     "'_' and '-'; expected a name such as app-events",
                     shown);
    const config_connector *other =
        kind == SPOOL_KIND_SINK ? config_source_find(p, cc->name) : NULL;
    if (other)
        config_error(c, ent->knode, path,
                     "connector name %s is also used by a source (at %d:%d); expected "
                     "names unique across sources and sinks",
                     shown, other->line, other->column);

    yaml_node_t *body = ent->vnode;
    if (body->type != YAML_MAPPING_NODE) {
        config_error(c, body, path, "got %s; expected a map with connector:, %s and "
                                    "config:",
                     config_kind_name(body),
                     kind == SPOOL_KIND_SOURCE ? "topic:" : "topics:");
        return 0;
    }
    if (config_map_entries(c, body, path, &e, &ne))
        return -1;
    for (size_t i = 0; i < ne; i++) {
        size_t k = 0;
        while (k < nkeys && strcmp(keys[k], e[i].key) != 0)
            k++;
        if (k == nkeys)
            config_unknown_key(c, &e[i], path, keys, nkeys);
        else
            field[k] = e[i].vnode;
    }

    /* connector: which plugin, and of the right kind. */
    if (!field[0]) {
        const char **names = NULL;
        size_t n = config_plugin_names(c, kind, &names);
        config_buf b = {0};
        config_buf_printf(&b, "a %s plugin, one of: ", config_kind_text(kind));
        config_join(&b, names, n);
        config_missing_key(c, ent, path, "connector", b.failed ? "a plugin name" : b.s);
        config_buf_free(&b);
        free(names);
    } else {
        config_path(fpath, path, "connector");
        if (!config_get_string(c, field[0], fpath, 0, "a plugin name", &cc->connector))
            cc->plugin = config_plugin(c, field[0], fpath, cc->connector, kind);
    }

    if (kind == SPOOL_KIND_SOURCE) {
        config_path(fpath, path, "topic");
        if (!field[1])
            config_missing_key(c, ent, path, "topic",
                               "the topic it writes, one declared under topics:");
        else if (!config_get_string(c, field[1], fpath, 0, "a topic name", &cc->topic))
            config_topic_ref(c, p, field[1], fpath, cc->topic);
        config_path(fpath, path, "key");
        const char *why;
        if (field[2] &&
            !config_get_string(c, field[2], fpath, 0, "a JSON field name",
                               &cc->key_field) &&
            (why = config_field_path_problem(cc->key_field)) != NULL)
            config_error(c, field[2], fpath, "%s; expected the JSON field whose value is "
                                             "the record key, such as id or resource.id",
                         why);
    } else {
        config_path(fpath, path, "topics");
        if (!field[1])
            config_missing_key(c, ent, path, "topics",
                               "the topics it reads, such as [events]");
        else
            config_sink_topics(c, p, cc, field[1], fpath);
        config_path(fpath, path, "tasks");
        config_value v = {0};
        if (field[2] && !config_option_node(c, &config_opt_tasks, field[2], fpath, &v))
            cc->tasks = (int)v.number;
        free(v.text);
    }
    if (c->stop)
        goto out;

    if (config_connector_errors(c, p, cc, field[5], path) ||
        config_connector_batch(c, cc, field[6], path))
        goto out;

    config_path(fpath, path, "transforms");
    if (field[3] &&
        config_transforms(c, p, field[3], fpath, &cc->transforms, &cc->ntransforms))
        goto out;

    config_path(fpath, path, "config");
    yaml_node_t *cfg = field[4];
    if (cc->plugin) {
        const yaml_node_t *at = cfg && !config_is_null(cfg) ? cfg : ent->knode;
        if (config_options(c, cc->plugin->options, cc->plugin->option_count,
                           cc->plugin->desc->name, cfg, at, fpath, &cc->values,
                           &cc->nvalues))
            goto out;
    } else if (cfg && !config_is_null(cfg) && cfg->type != YAML_MAPPING_NODE) {
        config_error(c, cfg, fpath, "got %s; expected a map of the connector's options",
                     config_kind_name(cfg));
    }
    rc = 0;
out:
    free(e);
    return rc;
}

static void config_connectors(config_ctx *c, config_pipeline *p, yaml_node_t *map,
                              uint32_t kind)
{
    const char *section = kind == SPOOL_KIND_SOURCE ? "sources" : "sinks";
    config_connector **arr = kind == SPOOL_KIND_SOURCE ? &p->sources : &p->sinks;
    size_t *n = kind == SPOOL_KIND_SOURCE ? &p->nsources : &p->nsinks;
    config_entry *e = NULL;
    size_t ne = 0;

    if (config_is_null(map))
        return;
    if (map->type != YAML_MAPPING_NODE) {
        config_error(c, map, section,
                     "got %s; expected a map of connector names, such as "
                     "{app-events: {connector: http, %s ...}}",
                     config_kind_name(map),
                     kind == SPOOL_KIND_SOURCE ? "topic: events," : "topics: [events],");
        return;
    }
    if (config_map_entries(c, map, section, &e, &ne) || ne == 0)
        goto out;
    *arr = calloc(ne, sizeof **arr);
    if (!*arr) {
        config_nomem(c);
        goto out;
    }
    /* *n grows one by one so config_free sees exactly what was started, and so a
     * later sink's name is checked against every source before it. */
    for (size_t i = 0; i < ne && !c->stop; i++) {
        config_connector *cc = &(*arr)[(*n)++];
        if (config_connector_one(c, p, &e[i], kind, cc))
            break;
    }
out:
    free(e);
}

/* ------------------------------------------------------------------------------ */
/* The file                                                                       */

static void config_walk(config_ctx *c, config_pipeline *p)
{
    yaml_node_t *field[5] = {NULL};
    config_entry *e = NULL;
    size_t ne = 0;

    if (c->doc->nodes.start == c->doc->nodes.top) {
        config_error_at(c, 1, 1, NULL,
                        "the file has no pipeline; expected a map with the keys "
                        "data_dir, topics, sources and sinks");
        return;
    }
    yaml_node_t *root = config_node(c, 1);
    if (!root)
        return;
    if (root->type != YAML_MAPPING_NODE) {
        config_error(c, root, NULL,
                     "the file holds %s; expected a map with the keys data_dir, topics, "
                     "sources and sinks",
                     config_kind_name(root));
        return;
    }
    if (config_map_entries(c, root, NULL, &e, &ne))
        goto out;
    for (size_t i = 0; i < ne; i++) {
        size_t k = 0;
        while (k < CONFIG_NKEYS(config_top_keys) && strcmp(config_top_keys[k], e[i].key))
            k++;
        /* "x-" keys are left for the operator: a place to park anchors shared by
         * several connectors, as docker-compose allows. */
        if (k == CONFIG_NKEYS(config_top_keys) && strncmp(e[i].key, "x-", 2) == 0)
            continue;
        if (k == CONFIG_NKEYS(config_top_keys))
            config_unknown_key(c, &e[i], NULL, config_top_keys,
                               CONFIG_NKEYS(config_top_keys));
        else
            field[k] = e[i].vnode;
    }
    if (field[0])
        config_data_dir(c, p, field[0]);
    if (field[4])
        config_log_block(c, &p->log, field[4]);
    if (field[1] && !c->stop)
        config_topics(c, p, field[1]);
    if (field[2] && !c->stop)
        config_connectors(c, p, field[2], SPOOL_KIND_SOURCE);
    if (field[3] && !c->stop)
        config_connectors(c, p, field[3], SPOOL_KIND_SINK);
out:
    free(e);
}

/* ------------------------------------------------------------------------------ */
/* Diagnostics out                                                                */

static void config_diag_push(config_diag *d, char *msg)
{
    if (!d || !msg) {
        free(msg);
        return;
    }
    char **m = realloc(d->messages, (d->count + 1) * sizeof *m);
    if (!m) {
        free(msg);
        return;
    }
    d->messages = m;
    d->messages[d->count++] = msg;
}

static void config_diag_printf(config_diag *d, const char *fmt, ...) SPOOL_PRINTF(2, 3);
static void config_diag_printf(config_diag *d, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    config_diag_push(d, strdup(buf));
}

static int config_msg_cmp(const void *a, const void *b)
{
    const config_msg *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hands the collected messages to d in file order; frees them either way. */
static void config_flush(config_ctx *c, config_diag *d)
{
    if (c->nmsgs)
        qsort(c->msgs, c->nmsgs, sizeof *c->msgs, config_msg_cmp);
    for (size_t i = 0; i < c->nmsgs; i++)
        config_diag_push(d, c->msgs[i].text);
    if (c->errors > c->nmsgs)
        config_diag_printf(d, "%s: %zu more problems not shown; expected the ones above "
                              "fixed first",
                           c->name, c->errors - c->nmsgs);
    if (c->oom)
        config_diag_printf(d, "%s: out of memory while loading the pipeline; expected "
                              "more memory for spool",
                           c->name);
    free(c->msgs);
    c->msgs = NULL;
    c->nmsgs = 0;
}

/* ------------------------------------------------------------------------------ */
/* Public API                                                                     */

int config_load_string(const char *name, const char *text, size_t len,
                       const loader *plugins, config_pipeline **out, config_diag *d)
{
    config_ctx c = {0};
    yaml_document_t doc;
    config_pipeline *p = NULL;
    int rc = SPOOL_EINVAL;

    *out = NULL;
    c.name = name ? name : "<pipeline>";
    c.text = text ? text : "";
    c.len = text ? len : 0;
    c.plugins = plugins;
    if (c.len > CONFIG_MAX_FILE_BYTES) {
        config_error_at(&c, 0, 0, NULL,
                        "%zu bytes, over the %d byte limit for a pipeline file; expected "
                        "a smaller file (split the pipeline into several)",
                        c.len, CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    if (config_yaml_load(&c, &doc))
        goto out;
    c.doc = &doc;
    p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(c.name))) {
        config_nomem(&c);
    } else {
        config_walk(&c, p);
    }
    yaml_document_delete(&doc);
    c.doc = NULL;
out:
    if (c.oom) {
        rc = SPOOL_ENOMEM;
    } else if (c.errors == 0 && p) {
        *out = p;
        p = NULL;
        rc = SPOOL_OK;
    }
    config_free(p);
    config_flush(&c, d);
    return rc;
}

int config_load_log_file(const char *path, config_log *out, char **data_dir,
                         config_diag *d)
{
    config_ctx c = {0};
    yaml_document_t doc;
    void *buf = NULL;
    size_t len = 0;
    config_entry *e = NULL;
    size_t ne = 0;
    config_pipeline p = {0};

    *out = (config_log){0};
    *data_dir = NULL;
    int rc = util_read_file(path, CONFIG_MAX_FILE_BYTES, &buf, &len);
    if (rc != 0) {
        config_diag_printf(d, "%s: cannot read: %s; check the path", path, strerror(-rc));
        return SPOOL_EINVAL;
    }
    c.name = path;
    c.text = buf;
    c.len = len;
    c.worker_log_keys = 1;
    if (config_yaml_load(&c, &doc) == 0) {
        c.doc = &doc;
        yaml_node_t *root = config_node(&c, 1);
        if (root && root->type == YAML_MAPPING_NODE &&
            config_map_entries(&c, root, NULL, &e, &ne) == 0) {
            for (size_t i = 0; i < ne; i++) {
                if (strcmp(e[i].key, "data_dir") == 0 && !p.data_dir)
                    config_data_dir(&c, &p, e[i].vnode);
                else if (strcmp(e[i].key, "log") == 0)
                    config_log_block(&c, &p.log, e[i].vnode);
            }
        } else if (root && root->type != YAML_MAPPING_NODE) {
            config_error(&c, root, NULL, "the file holds %s; expected a pipeline or worker "
                         "config (a map)", config_kind_name(root));
        }
        free(e);
        yaml_document_delete(&doc);
        c.doc = NULL;
    }
    free(buf);
    rc = c.errors == 0 && !c.oom ? SPOOL_OK : c.oom ? SPOOL_ENOMEM : SPOOL_EINVAL;
    config_flush(&c, d);
    if (rc == SPOOL_OK) {
        *out = p.log;
        *data_dir = p.data_dir;
    } else {
        config_log_free(&p.log);
        free(p.data_dir);
    }
    return rc;
}

int config_load_file(const char *path, const loader *plugins, config_pipeline **out,
                     config_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    int fd = -1, rc = SPOOL_EINVAL;
    struct stat st;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        config_diag_printf(d, "%s: cannot read: %s; check the path", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        config_diag_printf(d, "%s: cannot read: not a regular file; expected a pipeline "
                              "YAML file",
                           path);
        goto out;
    }
    /* Read one byte past the limit rather than trust st_size: the file may grow. */
    buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
    if (!buf) {
        rc = SPOOL_ENOMEM;
        config_diag_printf(d, "%s: out of memory reading the file", path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, CONFIG_MAX_FILE_BYTES + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            config_diag_printf(d, "%s: cannot read: %s; check the path", path,
                               strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CONFIG_MAX_FILE_BYTES) {
            config_diag_printf(d, "%s: larger than the %d byte limit for a pipeline file; "
                                  "expected a smaller file (split the pipeline into "
                                  "several)",
                               path, CONFIG_MAX_FILE_BYTES);
            goto out;
        }
    }
    rc = config_load_string(path, buf, len, plugins, out, d);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

static void config_connectors_free(config_connector *cc, size_t n)
{
    if (!cc)
        return;
    for (size_t i = 0; i < n; i++) {
        free(cc[i].name);
        free(cc[i].connector);
        free(cc[i].topic);
        free(cc[i].key_field);
        if (cc[i].topics) {
            for (size_t k = 0; k < cc[i].ntopics; k++)
                free(cc[i].topics[k]);
            free(cc[i].topics);
        }
        config_values_free(cc[i].values, cc[i].nvalues);
        free(cc[i].dead_letter_topic);
        config_transforms_free(cc[i].transforms, cc[i].ntransforms);
    }
    free(cc);
}

void config_free(config_pipeline *p)
{
    if (!p)
        return;
    free(p->path);
    free(p->data_dir);
    config_log_free(&p->log);
    for (size_t i = 0; i < p->ntopics; i++)
        free(p->topics[i].name);
    free(p->topics);
    config_connectors_free(p->sources, p->nsources);
    config_connectors_free(p->sinks, p->nsinks);
    free(p);
}

void config_diag_clear(config_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++)
        free(d->messages[i]);
    free(d->messages);
    d->messages = NULL;
    d->count = 0;
}

const config_value *config_find(const config_value *values, size_t n, const char *name)
{
    for (size_t i = 0; values && i < n; i++)
        if (values[i].decl && !strcmp(values[i].decl->name, name))
            return &values[i];
    return NULL;
}

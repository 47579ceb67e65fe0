/* connector_json.c - connector configs as the API speaks them (Kafka Connect's flat JSON
 * maps) and as pipelines hold them.
 *
 * An API config becomes the text of a one-connector pipeline, which the pipeline loader
 * then validates exactly as it validates a file: one set of rules, one set of messages.
 * JSON is YAML's flow style, so the generated text is JSON; its strings have "${"
 * doubled, so an API config never reads the worker's environment.
 *
 * Secrets (options a plugin declares secret) never leave in a response: cjson_show()
 * masks them, and a config PUT back with the mask keeps the stored value.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_int.h"

/* Keys of an API config that are not plugin options. */
static const char *const cjson_plugin_keys[] = {"connector.class", "plugin", "connector"};

static const char *cjson_str(json_t *config, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(config, keys[i]);
        if (json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

const loader_plugin *cjson_plugin(json_t *config, const loader *plugins, char *err,
                                  size_t errlen)
{
    const char *name = cjson_str(config, cjson_plugin_keys, 3);
    const char *kind = cjson_str(config, (const char *const[]){"type", "kind"}, 2);
    const loader_plugin *src, *snk;
    if (!json_is_object(config)) {
        snprintf(err, errlen, "the config must be a JSON object of settings");
        return NULL;
    }
    if (name == NULL) {
        snprintf(err, errlen, "no connector.class: name the plugin, such as "
                 "\"connector.class\": \"file\" ('spool plugins' lists them)");
        return NULL;
    }
    if (kind != NULL && strcmp(kind, "source") != 0 && strcmp(kind, "sink") != 0) {
        snprintf(err, errlen, "type \"%.100s\" is neither source nor sink", kind);
        return NULL;
    }
    /* A lookup loads the plugin's file, and a lookup of a kind the name lacks loads
     * every file (see loader.h), so only the kinds that matter are looked up: the
     * one asked for; else the one topics (sink) or topic (source) says, then the
     * other; both only when nothing tells them apart. A refused file is the answer,
     * in the loader's words. */
    src = snk = NULL;
    err[0] = '\0';
    if (kind != NULL) {
        if (strcmp(kind, "source") == 0)
            src = loader_lookup(plugins, name, SPOOL_KIND_SOURCE, err, errlen);
        else
            snk = loader_lookup(plugins, name, SPOOL_KIND_SINK, err, errlen);
    } else if (json_object_get(config, "topics") != NULL) {
        snk = loader_lookup(plugins, name, SPOOL_KIND_SINK, err, errlen);
        if (snk == NULL && err[0] == '\0')
            src = loader_lookup(plugins, name, SPOOL_KIND_SOURCE, err, errlen);
    } else if (json_object_get(config, "topic") != NULL) {
        src = loader_lookup(plugins, name, SPOOL_KIND_SOURCE, err, errlen);
        if (src == NULL && err[0] == '\0')
            snk = loader_lookup(plugins, name, SPOOL_KIND_SINK, err, errlen);
    } else {
        src = loader_lookup(plugins, name, SPOOL_KIND_SOURCE, err, errlen);
        if (err[0] == '\0')
            snk = loader_lookup(plugins, name, SPOOL_KIND_SINK, err, errlen);
    }
    if (err[0] != '\0')
        return NULL;
    if (src != NULL && snk != NULL) {
        /* Both kinds exist (file): a source writes one topic, a sink reads topics. */
        if (json_object_get(config, "topics") != NULL)
            src = NULL;
        else if (json_object_get(config, "topic") != NULL)
            snk = NULL;
        else {
            snprintf(err, errlen, "\"%.100s\" is both a source and a sink plugin: add "
                     "\"type\": \"source\" or \"sink\"", name);
            return NULL;
        }
    }
    if (src == NULL && snk == NULL) {
        snprintf(err, errlen, "no %s%splugin named \"%.100s\" is installed; "
                 "GET /connector-plugins lists them", kind ? kind : "", kind ? " " : "",
                 name);
        return NULL;
    }
    return src != NULL ? src : snk;
}

/* Doubles every "${" in the strings of v, so that the pipeline loader reads them
 * literally. */
static int cjson_literal(json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strstr(s, "${") == NULL)
            return 0;
        size_t n = strlen(s);
        char *o = malloc(2 * n + 1), *q = o;
        if (o == NULL)
            return -1;
        for (const char *p = s; *p; p++) {
            if (p[0] == '$' && p[1] == '{')
                *q++ = '$';
            *q++ = *p;
        }
        *q = '\0';
        int rc = json_string_set(v, o);
        free(o);
        return rc;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            if (cjson_literal(x) != 0)
                return -1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
            if (cjson_literal(x) != 0)
                return -1;
    }
    return 0;
}

/* Kafka Connect's names for the errors settings, and spool's. */
static const char *cjson_errors_key(const char *k)
{
    if (strcmp(k, "deadletterqueue.topic.name") == 0)
        return "dead_letter_topic";
    if (strcmp(k, "retry.timeout") == 0)
        return "retry_timeout";
    if (strcmp(k, "retry.delay.max.ms") == 0)
        return "retry_backoff_max";
    return k;
}

/* A topic referenced by the config, declared in the pipeline with its existing
 * partition count (or the default for a new topic). */
static void cjson_declare(json_t *topics, const char *topic, int32_t (*partitions)(void *,
                          const char *), void *ctx, json_int_t dflt)
{
    int32_t n = partitions != NULL ? partitions(ctx, topic) : -1;
    if (json_object_get(topics, topic) != NULL)
        return;
    json_object_set_new(topics, topic, json_pack("{sI}", "partitions",
                                                 (json_int_t)(n > 0 ? n : dflt)));
}

/* A scalar as the pipeline file would have it; arrays of scalars stay lists. */
static int cjson_value_ok(json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            if (!json_is_string(x) && !json_is_number(x) && !json_is_boolean(x))
                return 0;
        return 1;
    }
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

int cjson_to_pipeline(const char *name, json_t *config, const loader *plugins,
                      int32_t (*partitions)(void *ctx, const char *topic), void *ctx,
                      char **text, char *err, size_t errlen)
{
    const loader_plugin *lp = cjson_plugin(config, plugins, err, errlen);
    json_t *root = NULL, *conn, *cfg, *errors, *batch, *topics;
    json_int_t dflt_parts = 1;
    const char *key;
    json_t *v;
    int rc = -1;

    *text = NULL;
    if (lp == NULL)
        return -1;
    int source = lp->desc->kind == SPOOL_KIND_SOURCE;
    root = json_object();
    topics = json_object();
    conn = json_object();
    cfg = json_object();
    errors = json_object();
    batch = json_object();
    if (root == NULL || topics == NULL || conn == NULL || cfg == NULL || errors == NULL ||
        batch == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    json_object_set_new(conn, "connector", json_string(lp->desc->name));
    v = json_object_get(config, "topic.creation.default.partitions");
    if (v != NULL) {
        json_int_t n = json_is_integer(v) ? json_integer_value(v)
                       : json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : 0;
        if (n < 1 || n > 10000) {
            snprintf(err, errlen, "topic.creation.default.partitions must be a number from "
                     "1 to 10000");
            goto out;
        }
        dflt_parts = n;
    }
    json_object_foreach(config, key, v) {
        if (json_is_null(v) || strcmp(key, "type") == 0 || strcmp(key, "kind") == 0 ||
            strcmp(key, "topic.creation.default.partitions") == 0 ||
            strcmp(key, "connector.class") == 0 || strcmp(key, "plugin") == 0 ||
            strcmp(key, "connector") == 0)
            continue;
        if (strcmp(key, "name") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), name) != 0) {
                snprintf(err, errlen, "the config's name differs from the connector's "
                         "name \"%s\"", name);
                goto out;
            }
        } else if (strcmp(key, "topic") == 0 && source) {
            if (!json_is_string(v)) {
                snprintf(err, errlen, "topic must be a topic name");
                goto out;
            }
            json_object_set(conn, "topic", v);
            cjson_declare(topics, json_string_value(v), partitions, ctx, dflt_parts);
        } else if (strcmp(key, "topics") == 0 && !source) {
            json_t *list = json_array();
            if (json_is_string(v)) {
                /* Kafka Connect writes "a,b". */
                char *copy = strdup(json_string_value(v)), *save = NULL;
                for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t != NULL;
                     t = strtok_r(NULL, ", ", &save))
                    json_array_append_new(list, json_string(t));
                free(copy);
            } else if (json_is_array(v)) {
                json_array_extend(list, v);
            }
            size_t i;
            json_t *t;
            json_array_foreach(list, i, t) {
                if (!json_is_string(t)) {
                    json_decref(list);
                    snprintf(err, errlen, "topics must be topic names");
                    goto out;
                }
                cjson_declare(topics, json_string_value(t), partitions, ctx, dflt_parts);
            }
            json_object_set_new(conn, "topics", list);
        } else if (strcmp(key, "tasks.max") == 0 || strcmp(key, "tasks") == 0) {
            if (!source)
                json_object_set(conn, "tasks", v);
            /* A source runs one task: tasks.max is accepted and has nothing to limit. */
        } else if (strcmp(key, "key") == 0 || strcmp(key, "key.field") == 0) {
            json_object_set(conn, "key", v);
        } else if (strcmp(key, "transforms") == 0) {
            if (!json_is_array(v)) {
                snprintf(err, errlen, "transforms must be a list of {NAME: {options}}, as "
                         "in a pipeline file");
                goto out;
            }
            json_object_set(conn, "transforms", v);
        } else if (strcmp(key, "errors") == 0 || strcmp(key, "batch") == 0) {
            if (!json_is_object(v)) {
                snprintf(err, errlen, "%s must be a map of settings", key);
                goto out;
            }
            json_object_update(strcmp(key, "errors") == 0 ? errors : batch, v);
        } else if (strncmp(key, "errors.", 7) == 0) {
            json_object_set(errors, cjson_errors_key(key + 7), v);
        } else if (strncmp(key, "batch.", 6) == 0) {
            json_object_set(batch, key + 6, v);
        } else {
            if (!cjson_value_ok(v)) {
                snprintf(err, errlen, "%.100s: expected a string, number, boolean or list",
                         key);
                goto out;
            }
            json_object_set(cfg, key, v);
        }
    }
    json_t *dlq = json_object_get(errors, "dead_letter_topic");
    if (json_is_string(dlq))
        cjson_declare(topics, json_string_value(dlq), partitions, ctx, dflt_parts);
    if (json_object_size(errors) > 0)
        json_object_set(conn, "errors", errors);
    if (json_object_size(batch) > 0)
        json_object_set(conn, "batch", batch);
    json_object_set(conn, "config", cfg);
    json_object_set(root, "topics", topics);
    json_object_set_new(root, source ? "sources" : "sinks", json_pack("{sO}", name, conn));
    if (cjson_literal(root) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    *text = json_dumps(root, JSON_PRESERVE_ORDER);
    if (*text == NULL)
        snprintf(err, errlen, "out of memory");
    else
        rc = 0;
out:
    json_decref(root);
    json_decref(topics);
    json_decref(conn);
    json_decref(cfg);
    json_decref(errors);
    json_decref(batch);
    return rc;
}

int cjson_load(const char *name, json_t *config, const loader *plugins,
               int32_t (*partitions)(void *ctx, const char *topic), void *ctx,
               config_pipeline **out, char *err, size_t errlen)
{
    char *text = NULL, label[300];
    config_diag d = {0};
    *out = NULL;
    if (cjson_to_pipeline(name, config, plugins, partitions, ctx, &text, err, errlen) != 0)
        return -1;
    snprintf(label, sizeof(label), "connector %s", name);
    int rc = config_load_string(label, text, strlen(text), plugins, out, &d);
    free(text);
    if (rc != SPOOL_OK) {
        /* "connector NAME:1:57: sources.NAME.config.x: ..." -> "config.x: ..." */
        size_t len = 0;
        err[0] = '\0';
        for (size_t i = 0; i < d.count && len + 4 < errlen; i++) {
            const char *m = d.messages[i], *p = m;
            if (strncmp(p, label, strlen(label)) == 0) {
                p += strlen(label);
                for (int colons = 0; *p && colons < 3; p++)
                    colons += *p == ':';
                while (*p == ' ')
                    p++;
                const char *dot = strchr(p, '.');
                if ((strncmp(p, "sources.", 8) == 0 || strncmp(p, "sinks.", 6) == 0) &&
                    dot != NULL && strncmp(dot + 1, name, strlen(name)) == 0 &&
                    dot[1 + strlen(name)] == '.')
                    p = dot + 2 + strlen(name);
            }
            len += (size_t)snprintf(err + len, errlen - len, "%s%s", i ? "; " : "", p);
        }
        if (d.count == 0)
            snprintf(err, errlen, "the config is not valid");
        config_diag_clear(&d);
        return -1;
    }
    config_diag_clear(&d);
    if ((*out)->nsources + (*out)->nsinks != 1) {
        config_free(*out);
        *out = NULL;
        snprintf(err, errlen, "the config must describe exactly one connector");
        return -1;
    }
    return 0;
}

/* ---- What the API shows ----------------------------------------------------------- */

static int cjson_secret(const loader_plugin *lp, const char *key)
{
    const spool_option *o = lp != NULL ? loader_option(lp, key) : NULL;
    return o != NULL && (o->flags & SPOOL_OPT_SECRET);
}

/* A value as Kafka Connect shows it: a string, or a list for list options. */
static json_t *cjson_value(const config_value *v)
{
    if (v->decl->flags & SPOOL_OPT_SECRET)
        return json_string(CJSON_MASK);
    if (v->list != NULL) {
        json_t *a = json_array();
        for (size_t i = 0; i < v->list_len; i++)
            json_array_append_new(a, json_string(v->list[i]));
        return a;
    }
    return json_string(v->text != NULL ? v->text : "");
}

json_t *cjson_show(const dconn *c)
{
    json_t *o;
    if (c->config != NULL) {
        const loader_plugin *lp = c->cc != NULL ? c->cc->plugin : NULL;
        const char *k;
        json_t *v;
        o = json_deep_copy(c->config);
        if (o == NULL)
            return json_object();
        json_object_foreach(o, k, v)
            if (cjson_secret(lp, k) || (lp == NULL && strstr(k, "password") != NULL))
                json_object_set_new(o, k, json_string(CJSON_MASK));
        json_object_set_new(o, "name", json_string(c->name));
        return o;
    }
    const config_connector *cc = c->cc;
    o = json_object();
    if (cc == NULL)
        return o;
    json_object_set_new(o, "connector.class", json_string(cc->connector));
    json_object_set_new(o, "type", json_string(cc->kind == SPOOL_KIND_SOURCE ? "source"
                                                                             : "sink"));
    json_object_set_new(o, "name", json_string(cc->name));
    if (cc->kind == SPOOL_KIND_SOURCE) {
        json_object_set_new(o, "topic", json_string(cc->topic));
        if (cc->key_field != NULL)
            json_object_set_new(o, "key", json_string(cc->key_field));
    } else {
        char *joined = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&joined, &len);
        for (size_t i = 0; f != NULL && i < cc->ntopics; i++)
            fprintf(f, "%s%s", i ? "," : "", cc->topics[i]);
        if (f != NULL)
            fclose(f);
        json_object_set_new(o, "topics", json_string(joined ? joined : ""));
        free(joined);
        json_object_set_new(o, "tasks.max", json_sprintf("%d", cc->tasks > 0 ? cc->tasks : 1));
    }
    json_object_set_new(o, "errors.tolerance", json_string(cc->errors_tolerate ? "all"
                                                                                 : "none"));
    if (cc->dead_letter_topic != NULL)
        json_object_set_new(o, "errors.deadletterqueue.topic.name",
                            json_string(cc->dead_letter_topic));
    if (cc->ntransforms > 0) {
        json_t *t = json_array();
        for (size_t i = 0; i < cc->ntransforms; i++)
            json_array_append_new(t, json_string(cc->transforms[i].name));
        json_object_set_new(o, "transforms", t);
    }
    for (size_t i = 0; i < cc->nvalues; i++)
        if (cc->values[i].is_set)
            json_object_set_new(o, cc->values[i].decl->name, cjson_value(&cc->values[i]));
    if (c->file != NULL)
        json_object_set_new(o, "spool.pipeline.file", json_string(c->file));
    return o;
}

void cjson_keep_secrets(json_t *config, const json_t *old, const loader_plugin *lp)
{
    const char *k;
    json_t *v;
    json_object_foreach(config, k, v) {
        if (!json_is_string(v) || strcmp(json_string_value(v), CJSON_MASK) != 0 ||
            !cjson_secret(lp, k))
            continue;
        json_t *was = old != NULL ? json_object_get(old, k) : NULL;
        if (was != NULL)
            json_object_set(config, k, was);
    }
}

/* ---- Fingerprints ------------------------------------------------------------------- */

static void fp_values(FILE *f, const config_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "\x1e%s=%d:%s", v[i].decl->name, v[i].is_set,
                v[i].text != NULL ? v[i].text : "\x1b");
        for (size_t k = 0; k < v[i].list_len; k++)
            fprintf(f, "\x1f%s", v[i].list[k]);
    }
}

char *cjson_fingerprint(const config_connector *cc)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    if (f == NULL)
        return NULL;
    fprintf(f, "%d\x1d%s\x1d%s\x1d%s\x1d%d", cc->kind, cc->connector,
            cc->topic ? cc->topic : "", cc->key_field ? cc->key_field : "\x1b", cc->tasks);
    for (size_t i = 0; i < cc->ntopics; i++)
        fprintf(f, "\x1f%s", cc->topics[i]);
    fprintf(f, "\x1d%d\x1d%s\x1d%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
            cc->errors_tolerate, cc->dead_letter_topic ? cc->dead_letter_topic : "\x1b",
            cc->retry_max, cc->retry_timeout_ms, cc->retry_backoff_max_ms,
            cc->batch_max_records, cc->batch_max_bytes);
    fp_values(f, cc->values, cc->nvalues);
    for (size_t i = 0; i < cc->ntransforms; i++) {
        const config_transform *t = &cc->transforms[i];
        fprintf(f, "\x1d%s", t->name);
        fp_values(f, t->values, t->nvalues);
        const config_predicate *p = t->predicate;
        if (p != NULL) {
            fprintf(f, "\x1c%d,%d,%s,%s,%d,%s", p->negate, p->kind, p->field ? p->field : "",
                    p->equals ? p->equals : "", p->exists, p->topic ? p->topic : "");
            for (size_t k = 0; k < p->nin; k++)
                fprintf(f, "\x1f%s", p->in[k]);
        }
    }
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

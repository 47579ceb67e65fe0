/* daemon_config.c - the worker config file: where the data is, which pipelines to run,
 * where the API listens.
 *
 *     data_dir: /var/lib/spool
 *     plugin_path: /usr/lib/spool/plugins        # a string or a list
 *     pipelines_dir: /etc/spool/pipelines        # every *.yaml there is a pipeline
 *     api: {listen: 127.0.0.1:8083, token_file: /etc/spool/api-token, max_body_bytes: 1MiB}
 *     log: {level: info, format: plain,        # the worker's own log lines, and
 *           backend: kafka, group: spool,       # where the topics live (builtin default;
 *           replication_factor: 3,              # see backend/backend.h)
 *           properties: {bootstrap.servers: k1:9092}}
 *     shutdown_timeout: 30s
 *
 * Relative paths are resolved against the file's directory. Problems are reported as
 * "FILE:LINE:COLUMN: KEY: what is wrong; what was expected", the first one only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "daemon/daemon_int.h"
#include "util/fsio.h"
#include "util/units.h"

typedef struct wctx {
    const char *file;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    int failed;
} wctx;

static void wfail(wctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
    SPOOL_PRINTF(4, 5);
static void wfail(wctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    if (c->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (n != NULL)
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s: %s", c->file, n->start_mark.line + 1,
                 n->start_mark.column + 1, key, what);
    else
        snprintf(c->err, c->errlen, "%s: %s: %s", c->file, key, what);
    c->failed = 1;
}

static const char *wscalar(wctx *c, yaml_node_t *n, const char *key, const char *expected)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0) {
        wfail(c, n, key, "got %s; expected %s",
              n == NULL ? "nothing" : n->type == YAML_MAPPING_NODE ? "a map"
                                    : n->type == YAML_SEQUENCE_NODE ? "a list"
                                                                   : "an empty value",
              expected);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

/* path made absolute against the config file's directory. */
static char *wpath(wctx *c, const char *path)
{
    char *out = NULL, *cwd = NULL;
    if (path[0] == '/')
        return strdup(path);
    const char *slash = strrchr(c->file, '/');
    int dirlen = slash ? (int)(slash - c->file) : 0;
    if (c->file[0] != '/')
        cwd = getcwd(NULL, 0);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    if (asprintf(&out, "%s%s%.*s%s%s", cwd ? cwd : "", cwd ? "/" : "", dirlen, c->file,
                 dirlen ? "/" : "", path) < 0)
        out = NULL;
    free(cwd);
    return out;
}

static void wset_path(wctx *c, yaml_node_t *n, const char *key, char **dst)
{
    const char *s = wscalar(c, n, key, "a path");
    if (s == NULL)
        return;
    free(*dst);
    *dst = wpath(c, s);
}

static void wplugin_path(wctx *c, yaml_node_t *n, wconf *out)
{
    char *joined = NULL;
    size_t len = 0;
    if (n->type == YAML_SCALAR_NODE) {
        wset_path(c, n, "plugin_path", &out->plugin_path);
        return;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        wfail(c, n, "plugin_path", "got a map; expected a directory or a list of them");
        return;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !c->failed; it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        const char *s = wscalar(c, item, "plugin_path", "a directory");
        char *abs = s ? wpath(c, s) : NULL;
        if (abs == NULL)
            break;
        char *grown = realloc(joined, len + strlen(abs) + 2);
        if (grown == NULL) {
            free(abs);
            break;
        }
        joined = grown;
        len += (size_t)sprintf(joined + len, "%s%s", len ? ":" : "", abs);
        free(abs);
    }
    free(out->plugin_path);
    out->plugin_path = joined;
}

/* Reads the token from path: the first line, surrounding blanks removed. */
static void wtoken_file(wctx *c, yaml_node_t *n, wconf *out)
{
    const char *s = wscalar(c, n, "api.token_file", "a file holding the token");
    char *path = s ? wpath(c, s) : NULL;
    void *buf = NULL;
    size_t len = 0;
    struct stat st;
    if (path == NULL)
        return;
    int rc = util_read_file(path, 4096, &buf, &len);
    if (rc != 0) {
        wfail(c, n, "api.token_file", "cannot read %s (%s)", path, strerror(-rc));
    } else if (stat(path, &st) == 0 && (st.st_mode & S_IROTH)) {
        wfail(c, n, "api.token_file", "%s is readable by every user (mode %04o); make it "
              "readable by the worker only: chmod 0600 (or 0640 with a group) %s", path,
              (unsigned)(st.st_mode & 07777), path);
    } else {
        char *t = buf, *e;
        while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
            t++;
        for (e = t; *e && *e != '\n' && *e != '\r'; e++)
            ;
        while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (*t == '\0')
            wfail(c, n, "api.token_file", "%s is empty; write the token on its first line",
                  path);
        else
            out->token = strdup(t);
    }
    free(buf);
    free(path);
}

typedef void (*wkey_fn)(wctx *c, yaml_node_t *k, yaml_node_t *v, wconf *out);

/* Walks a map, calling fn for each key. */
static void wmap(wctx *c, yaml_node_t *map, const char *what, wkey_fn fn, wconf *out)
{
    if (map->type != YAML_MAPPING_NODE) {
        wfail(c, map, what, "got %s; expected a map", map->type == YAML_SEQUENCE_NODE
                                                         ? "a list" : "a value");
        return;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top && !c->failed; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
            wfail(c, k, what, "keys must be plain names");
            return;
        }
        fn(c, k, v, out);
    }
}

static void wapi_key(wctx *c, yaml_node_t *k, yaml_node_t *v, wconf *out)
{
    const char *key = (const char *)k->data.scalar.value, *s;
    int64_t n;
    if (strcmp(key, "listen") == 0) {
        if ((s = wscalar(c, v, "api.listen", "HOST:PORT, such as 127.0.0.1:8083")) != NULL) {
            free(out->listen);
            out->listen = strdup(s);
        }
    } else if (strcmp(key, "token") == 0) {
        if (out->token != NULL)
            wfail(c, k, "api.token", "token and token_file both given; keep one");
        else if ((s = wscalar(c, v, "api.token", "the bearer token")) != NULL)
            out->token = strdup(s);
    } else if (strcmp(key, "token_file") == 0) {
        if (out->token != NULL)
            wfail(c, k, "api.token_file", "token and token_file both given; keep one");
        else
            wtoken_file(c, v, out);
    } else if (strcmp(key, "max_body_bytes") == 0) {
        s = wscalar(c, v, "api.max_body_bytes", "a size such as 1MiB");
        if (s != NULL && (util_parse_size(s, &n) != 0 || n < 1024 || n > (INT64_C(1) << 30)))
            wfail(c, v, "api.max_body_bytes", "\"%s\" is not a size from 1KiB to 1GiB", s);
        else if (s != NULL)
            out->max_body_bytes = n;
    } else {
        wfail(c, k, "api", "unknown key \"%s\"; expected listen, token, token_file or "
              "max_body_bytes", key);
    }
}

/* log.properties: librdkafka name/value pairs, in file order. Values may hold
 * passwords: no message shows them. */
static void wlog_properties(wctx *c, yaml_node_t *n, wconf *out)
{
    config_log *lg = &out->log;
    if (n->type != YAML_MAPPING_NODE) {
        wfail(c, n, "log.properties", "got %s; expected a map of librdkafka properties, "
              "such as {bootstrap.servers: \"k1:9092\"}",
              n->type == YAML_SEQUENCE_NODE ? "a list" : "a value");
        return;
    }
    size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    char **props = calloc(2 * (lg->nproperties + np) + 1, sizeof(*props));
    if (props == NULL) {
        wfail(c, n, "log.properties", "out of memory");
        return;
    }
    for (size_t i = 0; i < 2 * lg->nproperties; i++)
        props[i] = lg->properties[i];
    free(lg->properties);
    lg->properties = props;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top && !c->failed; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        if (k == NULL || k->type != YAML_SCALAR_NODE || v == NULL ||
            v->type != YAML_SCALAR_NODE) {
            wfail(c, k, "log.properties", "expected NAME: VALUE pairs of librdkafka "
                  "properties");
            return;
        }
        char *name = strdup((const char *)k->data.scalar.value);
        char *value = strdup((const char *)v->data.scalar.value);
        if (name == NULL || value == NULL) {
            free(name);
            free(value);
            wfail(c, k, "log.properties", "out of memory");
            return;
        }
        lg->properties[2 * lg->nproperties] = name;
        lg->properties[2 * lg->nproperties + 1] = value;
        lg->nproperties++;
    }
}

static int wgroup_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 200)
        return 0;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9')
            && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static void wlog_key(wctx *c, yaml_node_t *k, yaml_node_t *v, wconf *out)
{
    const char *key = (const char *)k->data.scalar.value, *s;
    if (strcmp(key, "backend") == 0) {
        if ((s = wscalar(c, v, "log.backend", "builtin or kafka")) == NULL)
            return;
        if (strcmp(s, "builtin") == 0 || strcmp(s, "kafka") == 0)
            out->log.kind = strcmp(s, "kafka") == 0;
        else
            wfail(c, v, "log.backend", "\"%s\" is not a backend; expected builtin (the log "
                  "in data_dir) or kafka", s);
    } else if (strcmp(key, "group") == 0) {
        if ((s = wscalar(c, v, "log.group", "a group name such as spool")) == NULL)
            return;
        if (!wgroup_ok(s)) {
            wfail(c, v, "log.group", "\"%s\" is not a group name; expected letters, digits, "
                  "'.', '_' and '-', at most 200", s);
            return;
        }
        free(out->log.group);
        out->log.group = strdup(s);
    } else if (strcmp(key, "replication_factor") == 0) {
        int64_t rf;
        s = wscalar(c, v, "log.replication_factor", "a number such as 3");
        if (s != NULL && (util_parse_int(s, &rf) != 0 || rf == 0 || rf < -1 || rf > 32767))
            wfail(c, v, "log.replication_factor", "\"%s\" is not a replication factor; "
                  "expected 1 to 32767, or -1 for the brokers' default", s);
        else if (s != NULL)
            out->log.replication_factor = (int)rf;
    } else if (strcmp(key, "properties") == 0) {
        wlog_properties(c, v, out);
    } else if (strcmp(key, "level") == 0) {
        static const char *const levels[] = {"error", "warn", "info", "debug"};
        if ((s = wscalar(c, v, "log.level", "error, warn, info or debug")) == NULL)
            return;
        for (int i = 0; i < 4; i++)
            if (strcmp(s, levels[i]) == 0) {
                out->log_level = i + 1;
                return;
            }
        wfail(c, v, "log.level", "\"%s\" is not a level; expected error, warn, info or "
              "debug", s);
    } else if (strcmp(key, "format") == 0) {
        if ((s = wscalar(c, v, "log.format", "plain or json")) == NULL)
            return;
        if (strcmp(s, "plain") == 0 || strcmp(s, "json") == 0)
            out->log_json = strcmp(s, "json") == 0;
        else
            wfail(c, v, "log.format", "\"%s\" is not a format; expected plain or json", s);
    } else {
        wfail(c, k, "log", "unknown key \"%s\"; expected level, format, backend, group, "
              "replication_factor or properties", key);
    }
}

static void wtop_key(wctx *c, yaml_node_t *k, yaml_node_t *v, wconf *out)
{
    const char *key = (const char *)k->data.scalar.value, *s;
    if (strcmp(key, "data_dir") == 0) {
        wset_path(c, v, "data_dir", &out->data_dir);
    } else if (strcmp(key, "plugin_path") == 0) {
        wplugin_path(c, v, out);
    } else if (strcmp(key, "pipelines_dir") == 0) {
        wset_path(c, v, "pipelines_dir", &out->pipelines_dir);
    } else if (strcmp(key, "api") == 0) {
        wmap(c, v, "api", wapi_key, out);
    } else if (strcmp(key, "log") == 0) {
        wmap(c, v, "log", wlog_key, out);
    } else if (strcmp(key, "shutdown_timeout") == 0) {
        int64_t ms;
        s = wscalar(c, v, "shutdown_timeout", "a duration such as 30s");
        if (s != NULL && (util_parse_duration(s, &ms) != 0 || ms < 0))
            wfail(c, v, "shutdown_timeout", "\"%s\" is not a duration such as 30s", s);
        else if (s != NULL)
            out->shutdown_timeout_ms = ms;
    } else {
        wfail(c, k, "config", "unknown key \"%s\"; expected data_dir, plugin_path, "
              "pipelines_dir, api, log or shutdown_timeout", key);
    }
}

int wconf_load(const char *path, wconf *out, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    void *buf = NULL;
    size_t len = 0;
    wctx c = {.file = path, .doc = &doc, .err = err, .errlen = errlen};

    *out = (wconf){.max_body_bytes = 1024 * 1024, .log_level = SPOOL_LOG_INFO,
                   .shutdown_timeout_ms = 30000};
    out->path = strdup(path);
    out->listen = strdup("127.0.0.1:8083");
    int rc = util_read_file(path, CONFIG_MAX_FILE_BYTES, &buf, &len);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot read the worker config (%s)", path, strerror(-rc));
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: not valid YAML: %s", path,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        free(buf);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        wfail(&c, NULL, "config", "the file is empty; it needs at least data_dir:");
    else
        wmap(&c, root, "config", wtop_key, out);
    if (!c.failed && out->data_dir == NULL)
        wfail(&c, NULL, "data_dir", "missing; say where the log and checkpoints live, such "
              "as data_dir: /var/lib/spool");
    if (!c.failed && out->log.kind != 1 &&
        (out->log.nproperties > 0 || out->log.group != NULL || out->log.replication_factor))
        wfail(&c, NULL, "log", "properties, group or replication_factor only mean something "
              "with backend: kafka; add log.backend: kafka, or remove them");
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(buf);
    return c.failed ? -1 : 0;
}

void wconf_free(wconf *c)
{
    free(c->path);
    free(c->data_dir);
    free(c->plugin_path);
    free(c->pipelines_dir);
    free(c->listen);
    free(c->token);
    config_log_free(&c->log);
    *c = (wconf){0};
}

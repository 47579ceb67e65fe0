/* api.c - the management API: Kafka Connect's REST paths and JSON shapes, plus spool's.
 *
 * libmicrohttpd runs the server on threads of its own. Each request is read whole (the
 * body bounded by api.max_body_bytes: 413 beyond it), then routed. Every answer is
 * JSON; errors are {"error_code": HTTP status, "message": "..."}. With a token
 * configured, every path but /health, /healthz and /readyz needs "Authorization: Bearer
 * TOKEN", compared in constant time. A body that is not JSON, or JSON of the wrong shape,
 * is a 400, never a crash (tests/fuzz/fuzz_api_request.c exercises the config path).
 * Secrets are masked in every answer (connector_json.c).
 *
 * Reads hold the daemon's lock for reading, changes hold it for writing; the changes
 * that stop tasks (PUT .../stop, DELETE, a config change, a reload) answer once the
 * tasks have stopped, so a client that gets its answer can rely on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "daemon/daemon_int.h"
#include "util/sdnotify.h"

#define API_MAX_SEGS 8

typedef struct areq {
    char *body;
    size_t len, cap;
    int too_big;
} areq;

typedef struct actx {
    spool_daemon *d;
    struct MHD_Connection *conn;
    const char *method;
    const char *seg[API_MAX_SEGS];
    size_t nseg;
    const char *body;
    size_t len;
} actx;

/* ---- Answers --------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 char *text, size_t len, const char *location)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (location != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Answers j (a reference taken); NULL j: an empty body. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j,
                                 const char *location)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : strdup("");
    json_decref(j);
    if (text == NULL)
        return MHD_NO;
    return send_text(c, status, "application/json", text, strlen(text), location);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                  ...) SPOOL_PRINTF(3, 4);
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                  ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return send_json(c, status, json_pack("{siss}", "error_code", (int)status, "message", msg),
                     NULL);
}

/* The body as a JSON value; NULL after answering 400. */
static json_t *body_json(actx *a, enum MHD_Result *res, int want_object)
{
    json_error_t je;
    json_t *j = NULL;
    if (a->len == 0) {
        *res = send_error(a->conn, 400, "this request needs a JSON body");
        return NULL;
    }
    j = json_loadb(a->body, a->len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        *res = send_error(a->conn, 400, "malformed JSON at line %d, column %d: %s", je.line,
                          je.column, je.text);
        return NULL;
    }
    if (want_object && !json_is_object(j)) {
        json_decref(j);
        *res = send_error(a->conn, 400, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

static int is(const actx *a, const char *method, size_t nseg)
{
    return strcmp(a->method, method) == 0 && a->nseg == nseg;
}

static const char *arg(const actx *a, const char *name)
{
    return MHD_lookup_connection_value(a->conn, MHD_GET_ARGUMENT_KIND, name);
}

static int arg_true(const actx *a, const char *name)
{
    const char *v = arg(a, name);
    return v != NULL && strcmp(v, "true") == 0;
}

/* ---- Connector shapes ------------------------------------------------------------------ */

static const char *kind_name(int kind)
{
    return kind == SPOOL_KIND_SOURCE ? "source" : kind == SPOOL_KIND_SINK ? "sink" : "unknown";
}

static json_t *conn_status(spool_daemon *d, dconn *c)
{
    json_t *tasks = json_array();
    json_t *conn = json_pack("{ssss}", "state", daemon_conn_state(c), "worker_id", d->worker_id);
    if (c->w == NULL && c->load_error != NULL)
        json_object_set_new(conn, "trace", json_string(c->load_error));
    for (size_t i = 0; i < daemon_task_count(c); i++) {
        worker_task_info ti;
        worker_task_get(c->w, i, &ti);
        const char *state = c->target == WORKER_PAUSED && ti.state != WORKER_FAILED
                                ? "PAUSED" : worker_state_name(ti.state);
        json_t *t = json_pack("{siss ss}", "id", ti.index, "state", state, "worker_id",
                              d->worker_id);
        if (ti.state == WORKER_FAILED && ti.reason[0] != '\0')
            json_object_set_new(t, "trace", json_string(ti.reason));
        json_array_append_new(tasks, t);
    }
    return json_pack("{sssoso ss}", "name", c->name, "connector", conn, "tasks", tasks,
                     "type", kind_name(c->kind));
}

static int conn_ntasks(dconn *c)
{
    if (c->cc == NULL)
        return 0;
    return c->kind == SPOOL_KIND_SINK && c->cc->tasks > 1 ? c->cc->tasks : 1;
}

static json_t *conn_info(dconn *c)
{
    json_t *tasks = json_array();
    for (int i = 0; c->target != WORKER_STOPPED && i < conn_ntasks(c); i++)
        json_array_append_new(tasks, json_pack("{sssi}", "connector", c->name, "task", i));
    return json_pack("{sssoso ss}", "name", c->name, "config", cjson_show(c), "tasks", tasks,
                     "type", kind_name(c->kind));
}

static dconn *find_or_404(actx *a, enum MHD_Result *res)
{
    dconn *c = daemon_find(a->d, a->seg[1]);
    if (c == NULL)
        *res = send_error(a->conn, 404, "connector %s not found", a->seg[1]);
    return c;
}

/* ---- /connectors ------------------------------------------------------------------------- */

/* ?expand=status&expand=info (or expand=status,info): every value counts. */
static enum MHD_Result expand_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    int *flags = cls;
    (void)kind;
    if (key != NULL && value != NULL && strcmp(key, "expand") == 0) {
        flags[0] |= strstr(value, "status") != NULL;
        flags[1] |= strstr(value, "info") != NULL;
    }
    return MHD_YES;
}

static enum MHD_Result connectors_list(actx *a)
{
    int flags[2] = {0, 0};
    MHD_get_connection_values(a->conn, MHD_GET_ARGUMENT_KIND, expand_arg, flags);
    int status = flags[0], info = flags[1];
    spool_daemon *d = a->d;
    pthread_rwlock_rdlock(&d->lock);
    json_t *out = status || info ? json_object() : json_array();
    for (size_t i = 0; i < d->nconns; i++) {
        dconn *c = d->conns[i];
        if (!status && !info) {
            json_array_append_new(out, json_string(c->name));
            continue;
        }
        json_t *e = json_object();
        if (status)
            json_object_set_new(e, "status", conn_status(d, c));
        if (info)
            json_object_set_new(e, "info", conn_info(c));
        json_object_set_new(out, c->name, e);
    }
    pthread_rwlock_unlock(&d->lock);
    return send_json(a->conn, 200, out, NULL);
}

static int parse_state(const char *s)
{
    if (s == NULL || strcmp(s, "RUNNING") == 0)
        return WORKER_RUNNING;
    if (strcmp(s, "PAUSED") == 0)
        return WORKER_PAUSED;
    if (strcmp(s, "STOPPED") == 0)
        return WORKER_STOPPED;
    return -1;
}

static enum MHD_Result connectors_create(actx *a)
{
    enum MHD_Result res = MHD_NO;
    char err[4096], location[300];
    json_t *body = body_json(a, &res, 1);
    if (body == NULL)
        return res;
    json_t *config = json_object_get(body, "config");
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *initial = json_object_get(body, "initial_state");
    int state = parse_state(json_string_value(initial));
    if (name == NULL && json_is_object(config))
        name = json_string_value(json_object_get(config, "name"));
    if (name == NULL || !json_is_object(config)) {
        json_decref(body);
        return send_error(a->conn, 400, "expected {\"name\": NAME, \"config\": {...}}");
    }
    if (state < 0 || (initial != NULL && !json_is_string(initial))) {
        json_decref(body);
        return send_error(a->conn, 400, "initial_state is RUNNING, PAUSED or STOPPED");
    }
    pthread_rwlock_wrlock(&a->d->lock);
    int st = daemon_put_connector(a->d, name, config, state, 1, err, sizeof(err));
    if (st == 201) {
        snprintf(location, sizeof(location), "/connectors/%s", name);
        res = send_json(a->conn, 201, conn_info(daemon_find(a->d, name)), location);
    } else {
        res = send_error(a->conn, (unsigned)st, "%s", err);
    }
    pthread_rwlock_unlock(&a->d->lock);
    json_decref(body);
    return res;
}

static enum MHD_Result config_put(actx *a, int patch)
{
    enum MHD_Result res = MHD_NO;
    char err[4096];
    json_t *config = body_json(a, &res, 1);
    if (config == NULL)
        return res;
    pthread_rwlock_wrlock(&a->d->lock);
    dconn *c = daemon_find(a->d, a->seg[1]);
    if (patch) {
        if (c == NULL || c->config == NULL) {
            res = c == NULL ? send_error(a->conn, 404, "connector %s not found", a->seg[1])
                            : send_error(a->conn, 409, "connector %s is defined in %s: edit "
                                         "that file and reload", c->name, c->file);
            goto out;
        }
        /* A merge patch: null removes a key. */
        json_t *merged = json_deep_copy(c->config);
        const char *k;
        json_t *v;
        json_object_foreach(config, k, v) {
            if (json_is_null(v))
                json_object_del(merged, k);
            else
                json_object_set(merged, k, v);
        }
        json_decref(config);
        config = merged;
    }
    int st = daemon_put_connector(a->d, a->seg[1], config, WORKER_RUNNING, 0, err, sizeof(err));
    if (st == 200 || st == 201)
        res = send_json(a->conn, (unsigned)st, conn_info(daemon_find(a->d, a->seg[1])), NULL);
    else
        res = send_error(a->conn, (unsigned)st, "%s", err);
out:
    pthread_rwlock_unlock(&a->d->lock);
    json_decref(config);
    return res;
}

static enum MHD_Result connector_tasks(actx *a, dconn *c)
{
    json_t *out = json_array();
    for (int i = 0; c->target != WORKER_STOPPED && i < conn_ntasks(c); i++) {
        json_t *cfg = cjson_show(c);
        json_object_set_new(cfg, "task.id", json_sprintf("%d", i));
        json_array_append_new(out, json_pack("{s{sssi}so}", "id", "connector", c->name,
                                             "task", i, "config", cfg));
    }
    return send_json(a->conn, 200, out, NULL);
}

static enum MHD_Result task_status(actx *a, dconn *c)
{
    char *end;
    long id = strtol(a->seg[3], &end, 10);
    json_t *st = conn_status(a->d, c);
    json_t *tasks = json_object_get(st, "tasks"), *t;
    size_t i;
    json_array_foreach(tasks, i, t) {
        if (*end == '\0' && json_integer_value(json_object_get(t, "id")) == id) {
            json_incref(t);
            json_decref(st);
            return send_json(a->conn, 200, t, NULL);
        }
    }
    json_decref(st);
    return send_error(a->conn, 404, "connector %s has no task %s", c->name, a->seg[3]);
}

/* Every /connectors/NAME... path. */
static enum MHD_Result connector_route(actx *a)
{
    spool_daemon *d = a->d;
    enum MHD_Result res = MHD_NO;
    char err[4096];
    const char *op = a->nseg >= 3 ? a->seg[2] : "";

    if ((is(a, "PUT", 3) || is(a, "PATCH", 3)) && strcmp(op, "config") == 0)
        return config_put(a, a->method[1] == 'A');
    if (is(a, "DELETE", 2)) {
        pthread_rwlock_wrlock(&d->lock);
        int st = daemon_delete_connector(d, a->seg[1], err, sizeof(err));
        res = st == 204 ? send_json(a->conn, 204, NULL, NULL)
                        : send_error(a->conn, (unsigned)st, "%s", err);
        pthread_rwlock_unlock(&d->lock);
        return res;
    }
    int write = strcmp(a->method, "GET") != 0;
    if (write)
        pthread_rwlock_wrlock(&d->lock);
    else
        pthread_rwlock_rdlock(&d->lock);
    dconn *c = find_or_404(a, &res);
    if (c == NULL)
        goto out;
    if (is(a, "GET", 2)) {
        res = send_json(a->conn, 200, conn_info(c), NULL);
    } else if (is(a, "GET", 3) && strcmp(op, "config") == 0) {
        res = send_json(a->conn, 200, cjson_show(c), NULL);
    } else if (is(a, "GET", 3) && strcmp(op, "status") == 0) {
        res = send_json(a->conn, 200, conn_status(d, c), NULL);
    } else if (is(a, "GET", 3) && strcmp(op, "tasks") == 0) {
        res = connector_tasks(a, c);
    } else if (is(a, "GET", 5) && strcmp(op, "tasks") == 0 && strcmp(a->seg[4], "status") == 0) {
        res = task_status(a, c);
    } else if (is(a, "PUT", 3) && (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0 ||
                                   strcmp(op, "stop") == 0)) {
        int target = op[0] == 'p' ? WORKER_PAUSED : op[0] == 'r' ? WORKER_RUNNING
                                                                 : WORKER_STOPPED;
        int st = daemon_set_target(d, c, target, err, sizeof(err));
        res = st < 300 ? send_json(a->conn, (unsigned)st, NULL, NULL)
                       : send_error(a->conn, (unsigned)st, "%s", err);
    } else if (is(a, "POST", 3) && strcmp(op, "restart") == 0) {
        int with_tasks = arg_true(a, "includeTasks"), only_failed = arg_true(a, "onlyFailed");
        int st = daemon_restart(d, c, only_failed, err, sizeof(err));
        if (st != 0)
            res = send_error(a->conn, (unsigned)st, "%s", err);
        else if (with_tasks || only_failed)
            res = send_json(a->conn, 202, conn_status(d, c), NULL);
        else
            res = send_json(a->conn, 204, NULL, NULL);
    } else if (strcmp(op, "offsets") == 0 && a->nseg == 3 &&
               (is(a, "GET", 3) || is(a, "PATCH", 3) || is(a, "DELETE", 3))) {
        json_t *out = NULL, *body = NULL;
        int st;
        if (is(a, "GET", 3)) {
            st = offsets_get(d, c, &out, err, sizeof(err));
        } else {
            if (is(a, "PATCH", 3) && (body = body_json(a, &res, 1)) == NULL)
                goto out;
            st = offsets_alter(d, c, body, err, sizeof(err));
            if (st == 200)
                out = json_pack("{ss}", "message", body != NULL
                                ? "The offsets for this connector have been altered "
                                  "successfully"
                                : "The offsets for this connector have been reset "
                                  "successfully");
            json_decref(body);
        }
        res = st == 200 ? send_json(a->conn, 200, out, NULL)
                        : send_error(a->conn, (unsigned)st, "%s", err);
    } else {
        res = send_error(a->conn, 404, "no such path: %s /connectors/%s/%s", a->method,
                         a->seg[1], op);
    }
out:
    pthread_rwlock_unlock(&d->lock);
    return res;
}

/* ---- /connector-plugins ------------------------------------------------------------------ */

static const char *opt_type(uint32_t type)
{
    static const char *const names[] = {"?", "STRING", "INT", "BOOLEAN", "SIZE", "DURATION",
                                        "ENUM", "LIST"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static json_t *opt_definition(const spool_option *o)
{
    json_t *def = json_pack("{sssssbss}", "name", o->name, "type", opt_type(o->type),
                            "required", (o->flags & SPOOL_OPT_REQUIRED) != 0, "documentation",
                            o->doc ? o->doc : "");
    json_object_set_new(def, "default_value",
                        o->default_value == NULL ? json_null()
                        : (o->flags & SPOOL_OPT_SECRET) ? json_string(CJSON_MASK)
                                                        : json_string(o->default_value));
    json_object_set_new(def, "secret", json_boolean(o->flags & SPOOL_OPT_SECRET));
    if (o->type == SPOOL_OPT_ENUM && o->choices != NULL) {
        json_t *ch = json_array();
        for (const char *const *p = o->choices; *p != NULL; p++)
            json_array_append_new(ch, json_string(*p));
        json_object_set_new(def, "recommended_values", ch);
    }
    return def;
}

/* The connector plugin named name: the source if there is one, else the sink. Loads
 * only the files named after it (see loader.h). NULL when there is none, with the
 * refusal of a plugin file it needed in err (or err empty). */
static const loader_plugin *plugin_named(spool_daemon *d, const char *name, char *err,
                                         size_t errlen)
{
    const loader_plugin *lp = loader_lookup(d->plugins, name, SPOOL_KIND_SOURCE, err,
                                            errlen);
    if (lp == NULL && err[0] == '\0')
        lp = loader_lookup(d->plugins, name, SPOOL_KIND_SINK, err, errlen);
    return lp;
}

/* 404 for a plugin nobody installed; 500 for one whose file was refused (the
 * operator's problem, told in full). */
static enum MHD_Result plugin_missing(actx *a, const char *why)
{
    if (why[0] != '\0')
        return send_error(a->conn, 500, "%s", why);
    return send_error(a->conn, 404, "no connector plugin named %s", a->seg[1]);
}

static enum MHD_Result plugins_list(actx *a)
{
    const char *only = arg(a, "connectorsOnly");
    int all = only != NULL && strcmp(only, "false") == 0;
    json_t *out = json_array();
    char err[2048];
    /* The list is of every plugin: load them all. A refused file is left out and
     * logged, so one broken file does not hide the others. */
    if (loader_load_all(a->d->plugins, err, sizeof(err)) != SPOOL_OK)
        worker_log(SPOOL_LOG_WARN, "api", "GET /connector-plugins: %s", err);
    for (size_t i = 0; i < loader_count(a->d->plugins); i++) {
        const spool_plugin *p = loader_at(a->d->plugins, i)->desc;
        if (p->kind == SPOOL_KIND_TRANSFORM && !all)
            continue;
        json_array_append_new(out, json_pack("{ssssss}", "class", p->name, "type",
                                             p->kind == SPOOL_KIND_TRANSFORM ? "transformation"
                                                                            : kind_name((int)p->kind),
                                             "version", p->version));
    }
    return send_json(a->conn, 200, out, NULL);
}

static enum MHD_Result plugin_config(actx *a)
{
    char err[2048];
    const loader_plugin *lp;
    const char *type = arg(a, "type");
    if (type != NULL)
        lp = loader_lookup(a->d->plugins, a->seg[1],
                           strcmp(type, "sink") == 0 ? SPOOL_KIND_SINK : SPOOL_KIND_SOURCE,
                           err, sizeof(err));
    else
        lp = plugin_named(a->d, a->seg[1], err, sizeof(err));
    if (lp == NULL)
        return plugin_missing(a, err);
    json_t *out = json_array();
    for (size_t i = 0; i < lp->option_count; i++)
        json_array_append_new(out, opt_definition(lp->options[i]));
    return send_json(a->conn, 200, out, NULL);
}

/* The option a pipeline loader message is about ("...config.NAME: ..."), or NULL. */
static const char *message_option(const loader_plugin *lp, const char *msg)
{
    const char *p = strstr(msg, ".config.");
    if (p == NULL)
        return NULL;
    p += 8;
    for (size_t i = 0; i < lp->option_count; i++) {
        size_t len = strlen(lp->options[i]->name);
        if (strncmp(p, lp->options[i]->name, len) == 0 && (p[len] == ':' || p[len] == '.'))
            return lp->options[i]->name;
    }
    return NULL;
}

/* One "configs" item of a validate answer; takes the references given. */
static json_t *validate_entry(json_t *def, const char *name, json_t *value, json_t *errors)
{
    json_t *v = json_object();
    json_object_set_new(v, "name", json_string(name));
    json_object_set_new(v, "value", value);
    json_object_set_new(v, "recommended_values", json_array());
    json_object_set_new(v, "errors", errors);
    json_object_set_new(v, "visible", json_true());
    json_t *e = json_object();
    json_object_set_new(e, "definition", def);
    json_object_set_new(e, "value", v);
    return e;
}

static enum MHD_Result plugin_validate(actx *a)
{
    enum MHD_Result res = MHD_NO;
    char err[4096], *text = NULL;
    json_t *config = body_json(a, &res, 1);
    if (config == NULL)
        return res;
    if (json_object_get(config, "connector.class") == NULL &&
        json_object_get(config, "plugin") == NULL)
        json_object_set_new(config, "connector.class", json_string(a->seg[1]));
    const loader_plugin *lp = plugin_named(a->d, a->seg[1], err, sizeof(err));
    if (lp == NULL) {
        json_decref(config);
        return plugin_missing(a, err);
    }
    const loader_plugin *chosen = cjson_plugin(config, a->d->plugins, err, sizeof(err));
    if (chosen != NULL)
        lp = chosen;
    json_t *general = json_array(), *per = json_object();
    const char *name = json_string_value(json_object_get(config, "name"));
    if (chosen == NULL) {
        json_array_append_new(general, json_string(err));
    } else if (cjson_to_pipeline(name ? name : "validate", config, a->d->plugins, NULL, NULL,
                                 &text, err, sizeof(err)) != 0) {
        json_array_append_new(general, json_string(err));
    } else {
        config_pipeline *p = NULL;
        config_diag diag = {0};
        if (config_load_string("config", text, strlen(text), a->d->plugins, &p, &diag) !=
            SPOOL_OK) {
            for (size_t i = 0; i < diag.count; i++) {
                const char *opt = message_option(lp, diag.messages[i]);
                const char *msg = strstr(diag.messages[i], ": ");
                msg = msg ? msg + 2 : diag.messages[i];
                if (opt != NULL) {
                    json_t *l = json_object_get(per, opt);
                    if (l == NULL)
                        json_object_set_new(per, opt, l = json_array());
                    json_array_append_new(l, json_string(msg));
                } else {
                    json_array_append_new(general, json_string(msg));
                }
            }
        }
        config_free(p);
        config_diag_clear(&diag);
        free(text);
    }
    size_t count = json_array_size(general);
    json_t *configs = json_array();
    json_t *cls_def = json_pack("{sssssbss}", "name", "connector.class", "type", "STRING",
                                "required", 1, "documentation", "the plugin");
    json_t *cls_val = json_object_get(config, "connector.class");
    json_array_append_new(configs, validate_entry(cls_def, "connector.class",
                                                  json_is_string(cls_val) ? json_incref(cls_val)
                                                                          : json_null(),
                                                  json_incref(general)));
    for (size_t i = 0; i < lp->option_count; i++) {
        const spool_option *o = lp->options[i];
        json_t *v = json_object_get(config, o->name), *errs = json_object_get(per, o->name);
        json_t *shown;
        count += json_array_size(errs);
        if (v == NULL) {
            shown = json_null();
        } else if (o->flags & SPOOL_OPT_SECRET) {
            shown = json_string(CJSON_MASK);
        } else if (json_is_string(v)) {
            shown = json_incref(v);
        } else {
            char *dumped = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            shown = json_string(dumped ? dumped : "");
            free(dumped);
        }
        json_array_append_new(configs, validate_entry(opt_definition(o), o->name, shown,
                                                      errs ? json_incref(errs) : json_array()));
    }
    json_t *out = json_pack("{sssIs[ss]so}", "name", lp->desc->name, "error_count",
                            (json_int_t)count, "groups", "Common", lp->desc->name,
                            "configs", configs);
    json_decref(general);
    json_decref(per);
    json_decref(config);
    return send_json(a->conn, 200, out, NULL);
}

/* ---- /topics, /admin --------------------------------------------------------------------- */

/* GET /topics and /topics/NAME, on either backend; segments and bytes exist on the
 * builtin log only, where they are counted from its files. */
static enum MHD_Result topics_route(actx *a)
{
    backend *b = a->d->b;
    log_store *s = backend_log(b);
    if (a->nseg == 1) {
        char **names = NULL;
        size_t n = 0;
        if (backend_topic_names(b, &names, &n) != SPOOL_OK)
            return send_error(a->conn, 500, "cannot list the topics");
        json_t *out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(out, json_string(names[i]));
        log_names_free(names, n);
        return send_json(a->conn, 200, out, NULL);
    }
    const char *topic = a->seg[1];
    log_topic_config tc;
    int32_t parts = backend_topic_partitions(b, topic);
    if (parts < 0 || backend_topic_config_get(b, topic, &tc) != SPOOL_OK)
        return send_error(a->conn, 404, "topic %s not found", topic);
    json_t *plist = json_array();
    for (int32_t p = 0; p < parts; p++) {
        json_t *pi = json_pack("{sisIsI}", "partition", (int)p, "start_offset",
                               (json_int_t)backend_start_offset(b, topic, p), "end_offset",
                               (json_int_t)backend_end_offset(b, topic, p));
        if (s != NULL) {
            log_segment_info *segs = NULL;
            size_t nsegs = 0;
            uint64_t bytes = 0;
            log_partition_segments(s, topic, p, &segs, &nsegs);
            for (size_t k = 0; k < nsegs; k++)
                bytes += segs[k].bytes;
            free(segs);
            json_object_set_new(pi, "segments", json_integer((json_int_t)nsegs));
            json_object_set_new(pi, "bytes", json_integer((json_int_t)bytes));
        }
        json_array_append_new(plist, pi);
    }
    json_t *cfg = json_pack("{sIsIsIsIsssb}", "retention_ms", (json_int_t)tc.retention_ms,
                            "retention_bytes", (json_int_t)tc.retention_bytes, "segment_bytes",
                            (json_int_t)tc.segment_bytes, "segment_ms", (json_int_t)tc.segment_ms,
                            "durability", log_durability_name(tc.durability),
                            "keep_unconsumed", tc.keep_unconsumed);
    return send_json(a->conn, 200, json_pack("{sssssisoso}", "name", topic, "backend",
                                             backend_kind_name(backend_kind_of(b)),
                                             "partitions", (int)parts, "config", cfg,
                                             "partition_info", plist), NULL);
}

static const char *level_name(int level)
{
    static const char *const names[] = {"", "ERROR", "WARN", "INFO", "DEBUG"};
    return level >= 1 && level <= 4 ? names[level] : "INFO";
}

static enum MHD_Result loggers_route(actx *a)
{
    enum MHD_Result res = MHD_NO;
    const char *name = a->nseg == 3 ? a->seg[2] : "root";
    static atomic_llong last_modified;
    if (strcmp(name, "root") != 0)
        return send_error(a->conn, 404, "spool has one logger, root; its level applies to "
                          "every connector");
    if (strcmp(a->method, "GET") == 0) {
        long long lm = atomic_load(&last_modified);
        json_t *l = json_pack("{ssso}", "level", level_name(worker_log_get_level()),
                              "last_modified", lm ? json_integer(lm) : json_null());
        return send_json(a->conn, 200, a->nseg == 3 ? l : json_pack("{so}", "root", l), NULL);
    }
    json_t *body = body_json(a, &res, 1);
    if (body == NULL)
        return res;
    const char *level = json_string_value(json_object_get(body, "level"));
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE", "FATAL"};
    static const int levels[] = {SPOOL_LOG_ERROR, SPOOL_LOG_WARN, SPOOL_LOG_INFO,
                                 SPOOL_LOG_DEBUG, SPOOL_LOG_DEBUG, SPOOL_LOG_ERROR};
    for (size_t i = 0; level != NULL && i < 6; i++)
        if (strcasecmp(level, names[i]) == 0) {
            worker_log_set_level(levels[i]);
            atomic_store(&last_modified, a->d->started_ms +
                         (daemon_mono_ns() - a->d->start_mono_ns) / 1000000);
            worker_log(SPOOL_LOG_INFO, "worker", "log level set to %s through the API",
                       level_name(levels[i]));
            json_decref(body);
            return send_json(a->conn, 200, json_pack("[s]", "root"), NULL);
        }
    json_decref(body);
    return send_error(a->conn, 400, "expected {\"level\": \"ERROR\" | \"WARN\" | \"INFO\" | "
                      "\"DEBUG\"}");
}

static enum MHD_Result reload_route(actx *a)
{
    char state[64];
    json_t *errs = json_array();
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%lld",
             (long long)(daemon_mono_ns() / 1000));
    sdnotify_send(state);
    worker_log(SPOOL_LOG_INFO, "worker", "reloading the pipelines (through the API)");
    int refused = daemon_reload(a->d, errs, 1);
    sdnotify_send("READY=1");
    if (refused == 0) {
        json_decref(errs);
        return send_json(a->conn, 200, json_pack("{sbs[]}", "reloaded", 1, "errors"), NULL);
    }
    return send_json(a->conn, 400, json_pack("{sisssbso}", "error_code", 400, "message",
                                             "some pipeline files were refused; their previous "
                                             "versions keep running",
                                             "reloaded", 1, "errors", errs), NULL);
}

/* ---- Routing ----------------------------------------------------------------------------- */

static enum MHD_Result route(actx *a)
{
    spool_daemon *d = a->d;
    const char *first = a->nseg > 0 ? a->seg[0] : "";
    int get = strcmp(a->method, "GET") == 0;

    if (a->nseg == 0 && get)
        return send_json(a->conn, 200, json_pack("{sssssnsi}", "version", SPOOL_VERSION_STRING,
                                                 "commit", "", "kafka_cluster_id",
                                                 "plugin_abi", SPOOL_ABI_VERSION), NULL);
    if (strcmp(first, "metrics") == 0 && a->nseg == 1 && get) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f == NULL)
            return send_error(a->conn, 500, "out of memory");
        pthread_rwlock_rdlock(&d->lock);
        metrics_write(d, f);
        pthread_rwlock_unlock(&d->lock);
        fclose(f);
        return send_text(a->conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
                         NULL);
    }
    if (strcmp(first, "connectors") == 0) {
        if (a->nseg == 1 && get)
            return connectors_list(a);
        if (a->nseg == 1 && strcmp(a->method, "POST") == 0) {
            if (atomic_load(&d->stopping))
                return send_error(a->conn, 503, "the worker is stopping");
            return connectors_create(a);
        }
        if (a->nseg >= 2) {
            if (!get && atomic_load(&d->stopping))
                return send_error(a->conn, 503, "the worker is stopping");
            return connector_route(a);
        }
    }
    if (strcmp(first, "connector-plugins") == 0) {
        if (a->nseg == 1 && get)
            return plugins_list(a);
        if (a->nseg == 3 && get && strcmp(a->seg[2], "config") == 0)
            return plugin_config(a);
        if (a->nseg == 4 && strcmp(a->method, "PUT") == 0 && strcmp(a->seg[2], "config") == 0 &&
            strcmp(a->seg[3], "validate") == 0)
            return plugin_validate(a);
    }
    if (strcmp(first, "topics") == 0 && get && a->nseg <= 2)
        return topics_route(a);
    if (strcmp(first, "admin") == 0 && a->nseg >= 2 && strcmp(a->seg[1], "loggers") == 0 &&
        a->nseg <= 3 && (get || strcmp(a->method, "PUT") == 0))
        return loggers_route(a);
    if (strcmp(first, "admin") == 0 && a->nseg == 2 && strcmp(a->seg[1], "reload") == 0 &&
        strcmp(a->method, "POST") == 0) {
        if (atomic_load(&d->stopping))
            return send_error(a->conn, 503, "the worker is stopping");
        return reload_route(a);
    }
    return send_error(a->conn, 404, "no such path: %s /%s%s", a->method, first,
                      a->nseg > 1 ? "/..." : "");
}

/* Health answers need no token and no lock. */
static enum MHD_Result health(actx *a, const char *which)
{
    int ready = atomic_load(&a->d->ready), stopping = atomic_load(&a->d->stopping);
    if (strcmp(which, "healthz") == 0)
        return send_json(a->conn, 200, json_pack("{ss}", "status", "ok"), NULL);
    if (strcmp(which, "readyz") == 0)
        return send_json(a->conn, ready ? 200 : 503,
                         json_pack("{ss}", "status", ready ? "ready" : stopping ? "stopping"
                                                                               : "starting"),
                         NULL);
    if (ready)
        return send_json(a->conn, 200, json_pack("{ssss}", "status", "healthy", "message",
                                                 "Worker has completed startup and is ready "
                                                 "to handle requests."), NULL);
    return send_json(a->conn, 503, json_pack("{ssss}", "status", stopping ? "unhealthy"
                                                                          : "starting",
                                             "message", stopping ? "the worker is stopping"
                                                                 : "the worker is starting"),
                     NULL);
}

/* Constant time in the token's length, whatever the guess. */
static int token_ok(const char *token, const char *header)
{
    if (header == NULL || strncmp(header, "Bearer ", 7) != 0)
        return 0;
    header += 7;
    size_t a = strlen(token), b = strlen(header);
    unsigned char diff = a != b;
    for (size_t i = 0; i < a; i++)
        diff |= (unsigned char)token[i] ^ (unsigned char)(i < b ? header[i] : 0);
    return diff == 0;
}

static int split_path(actx *a, char *path)
{
    char *save = NULL;
    a->nseg = 0;
    for (char *s = strtok_r(path, "/", &save); s != NULL; s = strtok_r(NULL, "/", &save)) {
        if (a->nseg == API_MAX_SEGS)
            return -1;
        a->seg[a->nseg++] = s;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    spool_daemon *d = cls;
    areq *r = *con_cls;
    (void)version;

    if (r == NULL) {
        char path[1024];
        actx a = {.d = d, .conn = conn, .method = method};
        snprintf(path, sizeof(path), "%s", url);
        if (strlen(url) >= sizeof(path) || split_path(&a, path) != 0)
            return send_error(conn, 404, "no such path");
        if (a.nseg == 1 && strcmp(method, "GET") == 0 &&
            (strcmp(a.seg[0], "health") == 0 || strcmp(a.seg[0], "healthz") == 0 ||
             strcmp(a.seg[0], "readyz") == 0))
            return health(&a, a.seg[0]);
        if (d->cf.token != NULL &&
            !token_ok(d->cf.token, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                               MHD_HTTP_HEADER_AUTHORIZATION)))
            return send_error(conn, 401, "missing or wrong bearer token: send "
                              "\"Authorization: Bearer TOKEN\" with the worker's api token");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)d->cf.max_body_bytes)
            return send_error(conn, 413, "the body is larger than api.max_body_bytes (%" PRId64
                              " bytes)", d->cf.max_body_bytes);
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->len + n > (size_t)d->cf.max_body_bytes) {
            r->too_big = 1;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (b == NULL)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->too_big)
        return send_error(conn, 413, "the body is larger than api.max_body_bytes (%" PRId64
                          " bytes)", d->cf.max_body_bytes);
    char path[1024];
    actx a = {.d = d, .conn = conn, .method = method, .body = r->body, .len = r->len};
    snprintf(path, sizeof(path), "%s", url);
    split_path(&a, path);
    return route(&a);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    areq *r = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (r != NULL) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* "host:port", "[v6]:port" or ":port" (loopback) into an address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *host,
                        size_t hostlen, char *err, size_t errlen)
{
    char buf[200];
    const char *port;
    snprintf(buf, sizeof(buf), "%s", listen);
    char *colon = strrchr(buf, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "api.listen \"%s\" is not HOST:PORT, such as 127.0.0.1:8083",
                 listen);
        return -1;
    }
    *colon = '\0';
    port = colon + 1;
    char *h = buf;
    if (h[0] == '[') {
        h++;
        char *end = strchr(h, ']');
        if (end != NULL)
            *end = '\0';
    }
    if (*h == '\0')
        h = "127.0.0.1";
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int rc = getaddrinfo(h, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "api.listen \"%s\": %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    snprintf(host, hostlen, "%s", h);
    return 0;
}

int api_start(spool_daemon *d, char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    socklen_t sslen = sizeof(ss);
    char host[256];
    int one = 1;
    if (parse_listen(d->cf.listen, &ss, host, sizeof(host), err, errlen) != 0)
        return -1;
    /* Bound here, so that the port (and worker_id) is known before any request. */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 ||
        bind(fd, (struct sockaddr *)&ss, ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                  : sizeof(struct sockaddr_in)) != 0 ||
        listen(fd, 128) != 0 || getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "cannot listen on %s (api.listen): %s", d->cf.listen,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(d->worker_id, sizeof(d->worker_id), "%s%s%s:%u",
             ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "",
             port);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *m = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, d, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 256u,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
        MHD_OPTION_END);
    if (m == NULL) {
        close(fd);
        snprintf(err, errlen, "cannot start the API server on %s (api.listen)", d->cf.listen);
        return -1;
    }
    d->api = m;
    return 0;
}

void api_stop(spool_daemon *d)
{
    if (d->api != NULL)
        MHD_stop_daemon(d->api);
    d->api = NULL;
}

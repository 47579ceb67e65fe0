/* daemon.c - `spool worker`: every pipeline of a directory and the API's connectors in one
 * process, reloaded without losing or doubling a record.
 *
 * The daemon opens the data directory's log store once and runs each connector in a
 * worker of its own over that store. A reload (SIGHUP, POST /admin/reload) loads every
 * pipeline file again and compares each connector with what runs, by a fingerprint of
 * everything its tasks use: equal ones keep running untouched; changed ones stop (a
 * source after committing what it has, a sink after checkpointing its current batch)
 * and start again from those checkpoints; removed ones stop the same way. Since every
 * checkpoint is exact, nothing is lost or doubled. A file that does not load keeps its
 * previous version running, and the reload reports its problems.
 *
 * Threads: the main thread reads signals (a signalfd), runs reloads, sends systemd its
 * notifications and its watchdog pings; the API's threads answer requests. Every change
 * to the connector list holds d->lock for writing; answers hold it for reading. The
 * log's maintenance thread asks for the sinks' consumed offsets under d->reg only, which
 * is never held across anything that waits.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "transform/transform.h"
#include "util/fsio.h"
#include "util/sdnotify.h"

#define LOG_MAINTAIN_MS 500
#define CHECK_MS 1000

int64_t daemon_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void dlog(int level, const char *fmt, ...) SPOOL_PRINTF(2, 3);
static void dlog(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    worker_vlog(level, "worker", fmt, ap);
    va_end(ap);
}

/* A line about connector name, logged as "connector/NAME". */
static void conn_log(int level, const char *name, const char *fmt, ...) SPOOL_PRINTF(3, 4);
static void conn_log(int level, const char *name, const char *fmt, ...)
{
    char who[300];
    va_list ap;
    snprintf(who, sizeof(who), "connector/%s", name);
    va_start(ap, fmt);
    worker_vlog(level, who, fmt, ap);
    va_end(ap);
}

/* ---- Pipelines and connectors --------------------------------------------------------- */

static dpipe *dpipe_new(config_pipeline *p)
{
    dpipe *dp = calloc(1, sizeof(*dp));
    if (dp == NULL) {
        config_free(p);
        return NULL;
    }
    dp->p = p;
    return dp;
}

static void dpipe_ref(dpipe *dp)
{
    if (dp != NULL)
        dp->refs++;
}

static void dpipe_unref(dpipe *dp)
{
    if (dp != NULL && --dp->refs <= 0) {
        config_free(dp->p);
        free(dp);
    }
}

static void dconn_free(dconn *c)
{
    if (c == NULL)
        return;
    dpipe_unref(c->pipe);
    free(c->name);
    free(c->file);
    free(c->fingerprint);
    free(c->load_error);
    json_decref(c->config);
    free(c);
}

/* Points c at connector cc of pipe (taking a reference), dropping what it had. */
static int dconn_set(dconn *c, dpipe *pipe, const config_connector *cc)
{
    char *fp = cjson_fingerprint(cc);
    if (fp == NULL)
        return -1;
    dpipe_ref(pipe);
    dpipe_unref(c->pipe);
    c->pipe = pipe;
    c->cc = cc;
    c->kind = cc->kind;
    free(c->fingerprint);
    c->fingerprint = fp;
    free(c->load_error);
    c->load_error = NULL;
    return 0;
}

static void dconn_error(dconn *c, const char *why)
{
    free(c->load_error);
    c->load_error = strdup(why);
}

dconn *daemon_find(spool_daemon *d, const char *name)
{
    for (size_t i = 0; i < d->nconns; i++)
        if (strcmp(d->conns[i]->name, name) == 0)
            return d->conns[i];
    return NULL;
}

static int daemon_add(spool_daemon *d, dconn *c)
{
    if (d->nconns == d->capconns) {
        size_t cap = d->capconns ? 2 * d->capconns : 16;
        dconn **grown = realloc(d->conns, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        pthread_mutex_lock(&d->reg);
        d->conns = grown;
        d->capconns = cap;
        pthread_mutex_unlock(&d->reg);
    }
    pthread_mutex_lock(&d->reg);
    d->conns[d->nconns++] = c;
    pthread_mutex_unlock(&d->reg);
    return 0;
}

static void daemon_remove(spool_daemon *d, dconn *c)
{
    pthread_mutex_lock(&d->reg);
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i] == c) {
            memmove(&d->conns[i], &d->conns[i + 1], (d->nconns - i - 1) * sizeof(*d->conns));
            d->nconns--;
            break;
        }
    pthread_mutex_unlock(&d->reg);
}

/* keep_unconsumed: the lowest offset any running sink still needs. */
static int64_t daemon_consumed(void *ctx, const char *topic, int32_t partition)
{
    spool_daemon *d = ctx;
    int64_t low = -1;
    pthread_mutex_lock(&d->reg);
    for (size_t i = 0; i < d->nconns; i++) {
        if (d->conns[i]->w == NULL)
            continue;
        int64_t v = worker_consumed_offset(d->conns[i]->w, topic, partition);
        if (v >= 0 && (low < 0 || v < low))
            low = v;
    }
    pthread_mutex_unlock(&d->reg);
    return low;
}

static int32_t daemon_partitions(void *ctx, const char *topic)
{
    spool_daemon *d = ctx;
    return backend_topic_partitions(d->b, topic);
}

static void daemon_log_warn(void *ctx, const char *msg)
{
    worker_log(SPOOL_LOG_WARN, "log", "%s", msg);
}

size_t daemon_task_count(dconn *c)
{
    return c->w != NULL ? worker_task_count(c->w) : 0;
}

const char *daemon_conn_state(dconn *c)
{
    if (c->w == NULL)
        return c->target == WORKER_STOPPED ? "STOPPED" : c->load_error ? "FAILED"
                                                                      : "UNASSIGNED";
    if (c->target == WORKER_PAUSED)
        return "PAUSED";
    size_t n = worker_task_count(c->w), failed = 0;
    for (size_t i = 0; i < n; i++) {
        worker_task_info ti;
        worker_task_get(c->w, i, &ti);
        failed += ti.state == WORKER_FAILED;
    }
    return n > 0 && failed == n ? "FAILED" : "RUNNING";
}

/* Creates an API connector's topic with its partition count and the defaults. */
static int conn_create_topic(spool_daemon *d, const config_topic *ct, char *err,
                             size_t errlen)
{
    log_topic_config tc;
    log_topic_config_init(&tc);
    tc.partitions = ct->partitions;
    return backend_topic_create(d->b, ct->name, &tc, err, errlen);
}

/* Starts c's worker unless it is STOPPED. Returns 0, or -1 with the reason kept in
 * c->load_error (the connector shows FAILED). */
static int conn_start(spool_daemon *d, dconn *c)
{
    char err[2048];
    worker *w = NULL;
    if (c->w != NULL || c->target == WORKER_STOPPED)
        return 0;
    if (c->pipe == NULL)
        return -1;
    if (c->file == NULL) {
        /* An API connector's topics are created when missing, never changed. */
        const config_pipeline *p = c->pipe->p;
        for (size_t i = 0; i < p->ntopics; i++)
            if (backend_topic_partitions(d->b, p->topics[i].name) < 0 &&
                conn_create_topic(d, &p->topics[i], err, sizeof(err)) != SPOOL_OK) {
                dconn_error(c, err);
                conn_log(SPOOL_LOG_ERROR, c->name, "cannot create its topic: %s", err);
                return -1;
            }
    }
    memset(&c->view, 0, sizeof(c->view));
    c->view.path = c->pipe->p->path;
    if (c->kind == SPOOL_KIND_SOURCE) {
        c->view.sources = (config_connector *)c->cc;
        c->view.nsources = 1;
    } else {
        c->view.sinks = (config_connector *)c->cc;
        c->view.nsinks = 1;
    }
    int code = worker_new_shared(&c->view, d->b, d->cf.data_dir, &w, err, sizeof(err));
    if (code != 0) {
        dconn_error(c, err);
        conn_log(SPOOL_LOG_ERROR, c->name, "cannot start: %s", err);
        if (code == EXIT_STORAGE || code == EXIT_CORRUPT)
            atomic_store(&d->fatal, code);
        return -1;
    }
    free(c->load_error);
    c->load_error = NULL;
    /* Paused before its tasks start, so that a paused connector never runs a poll. */
    if (c->target == WORKER_PAUSED)
        worker_pause(w, c->name);
    pthread_mutex_lock(&d->reg);
    c->w = w;
    pthread_mutex_unlock(&d->reg);
    worker_start(w);
    return 0;
}

/* Stops c's worker: a source after committing what it has; a sink after checkpointing
 * its current batch (drain: after delivering everything committed, for shutdown). */
static void conn_stop(spool_daemon *d, dconn *c, int drain)
{
    worker *w = c->w;
    if (w == NULL)
        return;
    if (c->kind == SPOOL_KIND_SOURCE || drain)
        worker_stop(w);
    else
        worker_halt(w);
    worker_join(w);
    int code = worker_exit_code(w);
    pthread_mutex_lock(&d->reg);
    c->w = NULL;
    pthread_mutex_unlock(&d->reg);
    worker_free(w);
    if (code == EXIT_STORAGE || code == EXIT_CORRUPT)
        atomic_store(&d->fatal, code);
}

/* ---- Reload ----------------------------------------------------------------------------- */

typedef struct cand {
    char *path;
    dpipe *pipe;       /* the new version, or the old one when the new one is refused */
    dpipe *old;        /* the version loaded before, if any */
} cand;

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yaml and *.yml files of dir, sorted. */
static char **list_pipelines(const char *dir, size_t *n)
{
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    *n = 0;
    DIR *dp = dir != NULL ? opendir(dir) : NULL;
    if (dp == NULL)
        return NULL;
    while ((e = readdir(dp)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' ||
            !((len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) ||
              (len > 4 && strcmp(e->d_name + len - 4, ".yml") == 0)))
            continue;
        if (*n == cap) {
            char **grown = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
            if (grown == NULL)
                break;
            v = grown;
        }
        if (asprintf(&v[*n], "%s/%s", dir, e->d_name) >= 0)
            (*n)++;
    }
    closedir(dp);
    if (v != NULL)
        qsort(v, *n, sizeof(*v), str_cmp);
    return v;
}

static void errs_add(json_t *errs, const char *fmt, ...) SPOOL_PRINTF(2, 3);
static void errs_add(json_t *errs, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    worker_log(SPOOL_LOG_ERROR, "reload", "%s", msg);
    if (errs != NULL)
        json_array_append_new(errs, json_string(msg));
}

/* Why the connectors and topics of cands[k] cannot join those of cands[0..k-1] and the
 * API's: a name taken, a topic with another partition count. 0 when they can. */
static int cand_conflict(spool_daemon *d, cand *cands, size_t k, json_t *errs)
{
    const config_pipeline *p = cands[k].pipe->p;
    for (int kind = 0; kind < 2; kind++) {
        const config_connector *v = kind ? p->sinks : p->sources;
        size_t n = kind ? p->nsinks : p->nsources;
        for (size_t i = 0; i < n; i++) {
            dconn *c = daemon_find(d, v[i].name);
            if (c != NULL && c->file == NULL) {
                errs_add(errs, "%s:%d:%d: connector \"%s\" exists already (created through "
                         "the API); rename one of them", cands[k].path, v[i].line,
                         v[i].column, v[i].name);
                return -1;
            }
            for (size_t j = 0; j < k; j++) {
                const config_pipeline *q = cands[j].pipe != NULL ? cands[j].pipe->p : NULL;
                for (size_t m = 0; q != NULL && m < q->nsources + q->nsinks; m++) {
                    const config_connector *o = m < q->nsources ? &q->sources[m]
                                                                : &q->sinks[m - q->nsources];
                    if (strcmp(o->name, v[i].name) == 0) {
                        errs_add(errs, "%s:%d:%d: connector \"%s\" is also defined in %s; "
                                 "names are unique across the worker", cands[k].path,
                                 v[i].line, v[i].column, v[i].name, cands[j].path);
                        return -1;
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < p->ntopics; i++) {
        int32_t have = backend_topic_partitions(d->b, p->topics[i].name);
        if (have > 0 && have != p->topics[i].partitions) {
            errs_add(errs, "%s:%d:%d: topics.%s.partitions: the topic has %" PRId32
                     " partitions in %s; a topic's partition count cannot change (keys "
                     "would move): keep %" PRId32 " or use a new topic", cands[k].path,
                     p->topics[i].line, p->topics[i].column, p->topics[i].name, have,
                     d->cf.data_dir, have);
            return -1;
        }
    }
    return 0;
}

/* Creates or updates the topics of p, as `spool run` does. */
static void apply_topics(spool_daemon *d, const config_pipeline *p, json_t *errs)
{
    for (size_t i = 0; i < p->ntopics; i++) {
        const config_topic *ct = &p->topics[i];
        log_topic_config tc;
        char err[1024];
        worker_topic_config(ct, &tc);
        int rc = backend_topic_create(d->b, ct->name, &tc, err, sizeof(err));
        if (rc != SPOOL_OK) {
            errs_add(errs, "%s: topic %s: %s", p->path, ct->name, err);
            if (rc == LOG_EIO || rc == LOG_ECORRUPT)
                atomic_store(&d->fatal, rc == LOG_EIO ? EXIT_STORAGE : EXIT_CORRUPT);
        }
    }
}

/* The connector named name among the candidates, with the file it is in. */
static const config_connector *cand_find(cand *cands, size_t n, const char *name,
                                         size_t *which)
{
    for (size_t k = 0; k < n; k++) {
        const config_pipeline *p = cands[k].pipe != NULL ? cands[k].pipe->p : NULL;
        for (size_t i = 0; p != NULL && i < p->nsources + p->nsinks; i++) {
            const config_connector *cc = i < p->nsources ? &p->sources[i]
                                                         : &p->sinks[i - p->nsources];
            if (strcmp(cc->name, name) == 0) {
                *which = k;
                return cc;
            }
        }
    }
    return NULL;
}

int daemon_reload(spool_daemon *d, json_t *errs, int lock)
{
    size_t n = 0;
    int refused = 0;
    if (lock)
        pthread_rwlock_wrlock(&d->lock);
    char **paths = list_pipelines(d->cf.pipelines_dir, &n);
    cand *cands = calloc(n ? n : 1, sizeof(*cands));
    if (cands == NULL) {
        errs_add(errs, "out of memory reloading");
        refused = 1;
        goto out;
    }
    /* Load every file; a broken one keeps its previous version. */
    for (size_t k = 0; k < n; k++) {
        config_pipeline *p = NULL;
        config_diag diag = {0};
        cands[k].path = paths[k];
        for (size_t f = 0; f < d->nfiles; f++)
            if (strcmp(d->files[f].path, paths[k]) == 0)
                cands[k].old = d->files[f].pipe;
        if (config_load_file(paths[k], d->plugins, &p, &diag) != SPOOL_OK) {
            for (size_t i = 0; i < diag.count; i++)
                errs_add(errs, "%s", diag.messages[i]);
            errs_add(errs, "%s: refused%s", paths[k], cands[k].old != NULL
                     ? "; its previous version keeps running" : "; it is not run");
            config_diag_clear(&diag);
            refused++;
            cands[k].pipe = cands[k].old;
            continue;
        }
        config_diag_clear(&diag);
        if (p->data_dir != NULL && strcmp(p->data_dir, d->cf.data_dir) != 0)
            worker_log(SPOOL_LOG_WARN, "reload", "%s: data_dir %s is ignored: the worker "
                       "keeps every pipeline's data in %s", paths[k], p->data_dir,
                       d->cf.data_dir);
        cands[k].pipe = dpipe_new(p);
        if (cands[k].pipe == NULL) {
            errs_add(errs, "%s: out of memory", paths[k]);
            refused++;
            cands[k].pipe = cands[k].old;
        }
    }
    /* Names unique across the worker, partition counts unchanged. */
    for (size_t k = 0; k < n; k++) {
        if (cands[k].pipe == NULL || cand_conflict(d, cands, k, errs) == 0)
            continue;
        refused++;
        if (cands[k].pipe != cands[k].old) {
            dpipe_ref(cands[k].pipe);
            dpipe_unref(cands[k].pipe);
            cands[k].pipe = cands[k].old;
            if (cands[k].pipe != NULL && cand_conflict(d, cands, k, NULL) == 0) {
                errs_add(errs, "%s: refused; its previous version keeps running",
                         paths[k]);
                continue;
            }
        }
        errs_add(errs, "%s: refused; it is not run", paths[k]);
        cands[k].pipe = NULL;
    }
    for (size_t k = 0; k < n; k++)
        if (cands[k].pipe != NULL && cands[k].pipe != cands[k].old)
            apply_topics(d, cands[k].pipe->p, errs);
    /* Removed and changed connectors. */
    for (size_t i = 0; i < d->nconns;) {
        dconn *c = d->conns[i];
        size_t k = 0;
        const config_connector *cc = c->file != NULL ? cand_find(cands, n, c->name, &k)
                                                     : NULL;
        if (c->file == NULL) {
            i++;
            continue;
        }
        if (cc == NULL) {
            conn_log(SPOOL_LOG_INFO, c->name, "removed from the pipelines: stopping");
            conn_stop(d, c, 0);
            daemon_remove(d, c);
            dconn_free(c);
            continue;
        }
        if (strcmp(c->file, cands[k].path) != 0) {
            free(c->file);
            c->file = strdup(cands[k].path);
        }
        char *fp = cjson_fingerprint(cc);
        if (fp != NULL && c->fingerprint != NULL && strcmp(fp, c->fingerprint) == 0) {
            free(fp);
            i++;
            continue;
        }
        free(fp);
        conn_log(SPOOL_LOG_INFO, c->name, "changed in %s: restarting from its checkpoints",
                   cands[k].path);
        conn_stop(d, c, 0);
        if (dconn_set(c, cands[k].pipe, cc) == 0)
            conn_start(d, c);
        i++;
    }
    /* New connectors. */
    for (size_t k = 0; k < n; k++) {
        const config_pipeline *p = cands[k].pipe != NULL ? cands[k].pipe->p : NULL;
        for (size_t i = 0; p != NULL && i < p->nsources + p->nsinks; i++) {
            const config_connector *cc = i < p->nsources ? &p->sources[i]
                                                         : &p->sinks[i - p->nsources];
            if (daemon_find(d, cc->name) != NULL)
                continue;
            dconn *c = calloc(1, sizeof(*c));
            if (c == NULL || (c->name = strdup(cc->name)) == NULL ||
                (c->file = strdup(cands[k].path)) == NULL || dconn_set(c, cands[k].pipe, cc) ||
                daemon_add(d, c) != 0) {
                dconn_free(c);
                errs_add(errs, "out of memory adding connector %s", cc->name);
                continue;
            }
            c->target = WORKER_RUNNING;
            conn_log(SPOOL_LOG_INFO, c->name, "added from %s", cands[k].path);
            conn_start(d, c);
        }
    }
    /* The files as they now stand. */
    for (size_t k = 0; k < n; k++)
        dpipe_ref(cands[k].pipe);
    for (size_t f = 0; f < d->nfiles; f++) {
        dpipe_unref(d->files[f].pipe);
        free(d->files[f].path);
    }
    free(d->files);
    d->files = calloc(n ? n : 1, sizeof(*d->files));
    d->nfiles = 0;
    for (size_t k = 0; k < n; k++) {
        if (cands[k].pipe == NULL || d->files == NULL) {
            dpipe_unref(cands[k].pipe);
            free(paths[k]);
            continue;
        }
        d->files[d->nfiles].path = paths[k];
        d->files[d->nfiles++].pipe = cands[k].pipe;
    }
    paths = (free(paths), NULL);
out:
    if (paths != NULL)
        for (size_t k = 0; k < n; k++)
            free(paths[k]);
    free(paths);
    free(cands);
    atomic_fetch_add(&d->reloads, 1);
    if (refused)
        atomic_fetch_add(&d->reload_failures, 1);
    if (lock)
        pthread_rwlock_unlock(&d->lock);
    return refused;
}

/* ---- The API's changes ------------------------------------------------------------------ */

static int conn_persist(spool_daemon *d, dconn *c, char *err, size_t errlen)
{
    if (c->file != NULL)
        return 0;
    return store_save(d->cf.data_dir, c->name, c->config, c->target, err, errlen) == 0 ? 0
                                                                                      : -1;
}

int daemon_put_connector(spool_daemon *d, const char *name, json_t *config, int state,
                         int create_only, char *err, size_t errlen)
{
    config_pipeline *p = NULL;
    dconn *c = daemon_find(d, name);
    if (!daemon_name_ok(name)) {
        snprintf(err, errlen, "connector names are 1 to 200 letters, digits, '.', '_' or "
                 "'-'");
        return 400;
    }
    if (c != NULL && create_only) {
        snprintf(err, errlen, "connector %s already exists", name);
        return 409;
    }
    if (c != NULL && c->file != NULL) {
        snprintf(err, errlen, "connector %s is defined in %s: edit that file and reload "
                 "(SIGHUP or POST /admin/reload)", name, c->file);
        return 409;
    }
    const loader_plugin *lp = cjson_plugin(config, d->plugins, err, errlen);
    if (lp == NULL)
        return 400;
    cjson_keep_secrets(config, c != NULL ? c->config : NULL, lp);
    if (cjson_load(name, config, d->plugins, daemon_partitions, d, &p, err, errlen) != 0)
        return 400;
    dpipe *pipe = dpipe_new(p);
    if (pipe == NULL) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    const config_connector *cc = p->nsources ? &p->sources[0] : &p->sinks[0];
    dpipe_ref(pipe);
    int created = c == NULL, status = created ? 201 : 200;
    if (created) {
        c = calloc(1, sizeof(*c));
        if (c == NULL || (c->name = strdup(name)) == NULL) {
            free(c);
            dpipe_unref(pipe);
            snprintf(err, errlen, "out of memory");
            return 500;
        }
        c->target = state;
    }
    json_t *old = c->config;
    c->config = json_incref(config);
    if (conn_persist(d, c, err, errlen) != 0) {
        json_decref(c->config);
        c->config = old;
        if (created)
            dconn_free(c);
        dpipe_unref(pipe);
        return 500;
    }
    json_decref(old);
    char *fp = cjson_fingerprint(cc);
    if (!created && fp != NULL && c->fingerprint != NULL && strcmp(fp, c->fingerprint) == 0 &&
        c->load_error == NULL) {
        /* Nothing its tasks use changed (a key order, a masked secret given back). */
        free(fp);
        dpipe_unref(pipe);
        return status;
    }
    free(fp);
    if (!created) {
        conn_log(SPOOL_LOG_INFO, name, "config changed: restarting from its checkpoints");
        conn_stop(d, c, 0);
    }
    dconn_set(c, pipe, cc);
    dpipe_unref(pipe);
    if (created && daemon_add(d, c) != 0) {
        dconn_free(c);
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    if (created)
        conn_log(SPOOL_LOG_INFO, name, "created through the API (%s)",
                   worker_state_name(c->target));
    conn_start(d, c);
    return status;
}

int daemon_delete_connector(spool_daemon *d, const char *name, char *err, size_t errlen)
{
    dconn *c = daemon_find(d, name);
    if (c == NULL) {
        snprintf(err, errlen, "connector %s not found", name);
        return 404;
    }
    if (c->file != NULL) {
        snprintf(err, errlen, "connector %s is defined in %s: remove it from that file and "
                 "reload (SIGHUP or POST /admin/reload)", name, c->file);
        return 409;
    }
    conn_stop(d, c, 0);
    if (store_delete(d->cf.data_dir, name, err, errlen) != 0)
        return 500;
    conn_log(SPOOL_LOG_INFO, name, "deleted through the API");
    daemon_remove(d, c);
    dconn_free(c);
    return 204;
}

int daemon_set_target(spool_daemon *d, dconn *c, int target, char *err, size_t errlen)
{
    int old = c->target;
    c->target = target;
    if (conn_persist(d, c, err, errlen) != 0) {
        c->target = old;
        return 500;
    }
    if (target == WORKER_STOPPED) {
        if (c->w != NULL)
            conn_log(SPOOL_LOG_INFO, c->name, "stopping (through the API)");
        conn_stop(d, c, 0);
    } else if (c->w == NULL) {
        conn_start(d, c);
    } else if (target == WORKER_PAUSED) {
        worker_pause(c->w, c->name);
    } else {
        worker_resume(c->w, c->name);
    }
    return target == WORKER_STOPPED ? 204 : 202;
}

int daemon_restart(spool_daemon *d, dconn *c, int only_failed, char *err, size_t errlen)
{
    if (c->target == WORKER_STOPPED) {
        snprintf(err, errlen, "connector %s is stopped; resume it instead", c->name);
        return 409;
    }
    if (c->w == NULL)
        return conn_start(d, c) == 0 ? 0 : 500;
    worker_restart(c->w, c->name, only_failed);
    return 0;
}

/* An API connector read back from the data directory at start. */
static void daemon_stored(void *ctx, const char *name, json_t *config, int target,
                          const char *problem)
{
    spool_daemon *d = ctx;
    char err[2048];
    config_pipeline *p = NULL;
    dconn *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->name = strdup(name)) == NULL) {
        free(c);
        return;
    }
    c->target = target;
    c->config = json_incref(config);
    if (problem != NULL) {
        dconn_error(c, problem);
    } else if (cjson_load(name, config, d->plugins, daemon_partitions, d, &p, err,
                          sizeof(err)) != 0) {
        dconn_error(c, err);
    } else {
        dpipe *pipe = dpipe_new(p);
        if (pipe != NULL)
            dconn_set(c, pipe, p->nsources ? &p->sources[0] : &p->sinks[0]);
    }
    if (c->load_error != NULL)
        conn_log(SPOOL_LOG_ERROR, name, "stored connector cannot run: %s", c->load_error);
    if (daemon_add(d, c) != 0)
        dconn_free(c);
}

/* ---- The process ------------------------------------------------------------------------ */

static const char usage_worker[] =
    "usage: spool worker --config FILE [--log-format plain|json] [--log-level LEVEL]\n"
    "\n"
    "Runs every pipeline file of the config's pipelines_dir and the connectors created\n"
    "through the HTTP API, in one process over one data directory, until SIGTERM or\n"
    "SIGINT. SIGHUP (or POST /admin/reload) reloads the pipeline files: unchanged\n"
    "connectors keep running, changed ones restart from their checkpoints, removed ones\n"
    "stop; a file with errors is refused and its previous version keeps running.\n"
    "\n"
    "  --config FILE       the worker config (YAML; see docs/api.md)\n"
    "  --log-format FMT    plain (default) or json: one JSON object per line\n"
    "  --log-level LEVEL   error, warn, info (default) or debug\n"
    "\n"
    "The command line wins over the config file. Under systemd (Type=notify) it reports\n"
    "readiness, reloads and stopping, and pings the watchdog when WatchdogSec is set.\n";

static int parse_level(const char *s)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, levels[i]) == 0)
            return i + 1;
    return 0;
}

/* Registers the built-in transforms and indexes the plugin search path without
 * loading it: a plugin file is loaded when a pipeline or an API request first names
 * its plugin, so the worker maps only the plugins (and libraries) it uses. A broken
 * file is reported when something needs it; `spool validate` and `spool plugins`
 * check them all. */
/* Opens where the topics live, as the worker config's log: says. builtin: one log,
 * shared by every connector's worker (backend_wrap_log), whose retention asks them all
 * what they still need. Returns 0 or an exit code. */
static int daemon_open_backend(spool_daemon *d, char *err, size_t errlen)
{
    int rc;
    if (d->cf.log.kind == BACKEND_KAFKA) {
        const char **props = calloc(2 * d->cf.log.nproperties + 1, sizeof(*props));
        backend_config bc;
        if (props == NULL) {
            dlog(SPOOL_LOG_ERROR, "out of memory opening the log");
            return EXIT_RUNTIME;
        }
        worker_backend_config(&d->cf.log, d->cf.data_dir, props, &bc);
        bc.client_id = d->worker_id[0] ? d->worker_id : NULL;
        rc = backend_open(&bc, &d->b, err, errlen);
        free(props);
        if (rc != SPOOL_OK) {
            dlog(SPOOL_LOG_ERROR, "cannot open the kafka backend: %s", err);
            return rc == LOG_EIO ? EXIT_STORAGE : EXIT_RUNTIME;
        }
        dlog(SPOOL_LOG_INFO, "topics live in Apache Kafka (group %s)",
             d->cf.log.group ? d->cf.log.group : "spool");
        return 0;
    }
    log_open_opts lo = {.maintain_ms = LOG_MAINTAIN_MS, .consumed = daemon_consumed,
                        .consumed_ctx = d, .warn = daemon_log_warn, .warn_ctx = d};
    rc = log_open_ex(d->cf.data_dir, &lo, &d->log, err, errlen);
    if (rc != SPOOL_OK) {
        dlog(SPOOL_LOG_ERROR, "%s", err);
        return rc == LOG_EIO ? EXIT_STORAGE : rc == LOG_ECORRUPT ? EXIT_CORRUPT : EXIT_RUNTIME;
    }
    if (backend_wrap_log(d->log, &d->b) != SPOOL_OK) {
        dlog(SPOOL_LOG_ERROR, "out of memory opening the log");
        return EXIT_RUNTIME;
    }
    return 0;
}

static int load_plugins(spool_daemon *d)
{
    char err[2048];
    char **path = NULL;
    d->plugins = loader_new(worker_host());
    if (d->plugins == NULL)
        return EXIT_RUNTIME;
    for (size_t i = 0; transform_builtins[i] != NULL; i++)
        if (loader_add_builtin(d->plugins, transform_builtins[i], err, sizeof(err)) != SPOOL_OK)
            goto fail;
    path = loader_search_path(d->cf.plugin_path);
    if (path == NULL)
        return EXIT_RUNTIME;
    for (size_t i = 0; path[i] != NULL; i++)
        if (loader_index_dir(d->plugins, path[i], err, sizeof(err)) != SPOOL_OK)
            goto fail;
    loader_path_free(path);
    return 0;
fail:
    worker_log(SPOOL_LOG_ERROR, "worker", "%s", err);
    loader_path_free(path);
    return EXIT_PLUGIN;
}

/* Stops every connector for shutdown: sources first (each commits what it has), then
 * sinks drain what is committed until shutdown_timeout, then stop after their batch.
 * A signal meanwhile cuts the drain short. */
static void daemon_shutdown(spool_daemon *d, int sfd)
{
    pthread_rwlock_wrlock(&d->lock);
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i]->w != NULL && d->conns[i]->kind == SPOOL_KIND_SOURCE)
            worker_stop(d->conns[i]->w);
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i]->kind == SPOOL_KIND_SOURCE)
            conn_stop(d, d->conns[i], 1);
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i]->w != NULL)
            worker_stop(d->conns[i]->w);
    int64_t deadline = daemon_mono_ns() + d->cf.shutdown_timeout_ms * 1000000;
    for (size_t i = 0; i < d->nconns; i++) {
        worker *w = d->conns[i]->w;
        while (w != NULL) {
            struct pollfd fds[2] = {{.fd = worker_done_fd(w), .events = POLLIN},
                                    {.fd = sfd, .events = POLLIN}};
            int64_t left = (deadline - daemon_mono_ns()) / 1000000;
            if (left <= 0) {
                worker_log(SPOOL_LOG_WARN, "worker", "shutdown timeout: sinks stop now; what "
                           "they did not deliver yet is delivered after the next start");
                break;
            }
            int r = poll(fds, 2, (int)(left > 1000 ? 1000 : left));
            if (r > 0 && (fds[0].revents & POLLIN))
                break;
            if (r > 0 && (fds[1].revents & POLLIN)) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof(si)) > 0 && si.ssi_signo != SIGHUP) {
                    worker_log(SPOOL_LOG_WARN, "worker", "second signal: sinks stop after "
                               "their current batch");
                    deadline = 0;
                }
            }
        }
        if (deadline == 0 || daemon_mono_ns() >= deadline)
            break;
    }
    for (size_t i = 0; i < d->nconns; i++)
        conn_stop(d, d->conns[i], 0);
    pthread_rwlock_unlock(&d->lock);
}

/* Fatal failures of any worker (storage I/O, corruption) stop the whole daemon. */
static int daemon_check(spool_daemon *d)
{
    int code = atomic_load(&d->fatal);
    pthread_rwlock_rdlock(&d->lock);
    for (size_t i = 0; code == 0 && i < d->nconns; i++)
        if (d->conns[i]->w != NULL)
            code = worker_exit_code(d->conns[i]->w);
    pthread_rwlock_unlock(&d->lock);
    return code;
}

static void notify_status(spool_daemon *d, const char *state)
{
    char msg[512];
    pthread_rwlock_rdlock(&d->lock);
    snprintf(msg, sizeof(msg), "%sSTATUS=%zu connectors, API on %s", state, d->nconns,
             d->worker_id);
    pthread_rwlock_unlock(&d->lock);
    sdnotify_send(msg);
}

static int daemon_run(spool_daemon *d, int64_t t0)
{
    sigset_t set;
    int sfd, code = 0;
    char err[2048];
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        dlog(SPOOL_LOG_ERROR, "cannot receive signals: %s", strerror(errno));
        return EXIT_RUNTIME;
    }
    if (api_start(d, err, sizeof(err)) != 0) {
        dlog(SPOOL_LOG_ERROR, "%s", err);
        daemon_shutdown(d, sfd);
        close(sfd);
        return EXIT_RUNTIME;
    }
    atomic_store(&d->ready, 1);
    notify_status(d, "READY=1\n");
    pthread_rwlock_rdlock(&d->lock);
    size_t nconns = d->nconns, nfiles = d->nfiles;
    pthread_rwlock_unlock(&d->lock);
    dlog(SPOOL_LOG_INFO, "ready in %.1f ms: %zu connectors, %zu pipeline files, API on "
         "http://%s%s", (double)(daemon_mono_ns() - t0) / 1e6, nconns, nfiles,
         d->worker_id, d->cf.token ? " (bearer token required)" : "");
    long long wd_usec = sdnotify_watchdog_usec();
    int64_t wd_next = 0;
    for (;;) {
        int64_t now = daemon_mono_ns();
        int timeout = CHECK_MS;
        if (wd_usec > 0) {
            if (now >= wd_next) {
                /* Pinged from the loop that also reloads and checks the workers: a
                 * wedged main thread misses its pings and systemd restarts it. */
                sdnotify_send("WATCHDOG=1");
                wd_next = now + wd_usec * 500;
            }
            int64_t left = (wd_next - now) / 1000000;
            if (left < timeout)
                timeout = left > 0 ? (int)left : 0;
        }
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        int r = poll(&pfd, 1, timeout);
        if (r < 0 && errno != EINTR) {
            dlog(SPOOL_LOG_ERROR, "cannot wait for signals: %s; stopping", strerror(errno));
            code = EXIT_RUNTIME;
            break;
        }
        if ((code = daemon_check(d)) != 0) {
            dlog(SPOOL_LOG_ERROR, "a storage failure stopped a connector: the worker stops "
                 "to protect the data (exit %d)", code);
            break;
        }
        if (r <= 0 || !(pfd.revents & POLLIN))
            continue;
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
            continue;
        if (si.ssi_signo == SIGHUP) {
            char state[64];
            snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%lld",
                     (long long)(daemon_mono_ns() / 1000));
            sdnotify_send(state);
            dlog(SPOOL_LOG_INFO, "SIGHUP: reloading %s", d->cf.pipelines_dir
                 ? d->cf.pipelines_dir : "(no pipelines_dir)");
            int refused = daemon_reload(d, NULL, 1);
            dlog(refused ? SPOOL_LOG_WARN : SPOOL_LOG_INFO, "reload done%s",
                 refused ? " with files refused (see above)" : "");
            notify_status(d, "READY=1\n");
            continue;
        }
        dlog(SPOOL_LOG_INFO, "%s: stopping: sources commit, sinks deliver what is in the "
             "log for up to %" PRId64 " ms (send it again to stop sooner)",
             si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", d->cf.shutdown_timeout_ms);
        break;
    }
    atomic_store(&d->ready, 0);
    atomic_store(&d->stopping, 1);
    sdnotify_send("STOPPING=1");
    daemon_shutdown(d, sfd);
    close(sfd);
    int fatal = daemon_check(d);
    return code != 0 ? code : fatal;
}

static void daemon_free(spool_daemon *d)
{
    api_stop(d);
    for (size_t i = 0; i < d->nconns; i++)
        dconn_free(d->conns[i]);
    free(d->conns);
    for (size_t f = 0; f < d->nfiles; f++) {
        dpipe_unref(d->files[f].pipe);
        free(d->files[f].path);
    }
    free(d->files);
    backend_close(d->b);
    if (d->log != NULL)
        log_close(d->log);
    loader_free(d->plugins);
    wconf_free(&d->cf);
    pthread_rwlock_destroy(&d->lock);
    pthread_mutex_destroy(&d->reg);
}

/* At start, before anything runs: every pipeline file must load, as `spool run` wants
 * its file to. (A reload instead keeps the previous version of a broken file.) */
static int check_pipelines(spool_daemon *d)
{
    size_t n = 0, bad = 0;
    char **paths = list_pipelines(d->cf.pipelines_dir, &n);
    if (d->cf.pipelines_dir != NULL && paths == NULL && n == 0) {
        DIR *dp = opendir(d->cf.pipelines_dir);
        if (dp == NULL) {
            dlog(SPOOL_LOG_ERROR, "cannot read pipelines_dir %s (%s); create it or fix "
                 "pipelines_dir in %s", d->cf.pipelines_dir, strerror(errno), d->cf.path);
            return -1;
        }
        closedir(dp);
    }
    for (size_t k = 0; k < n; k++) {
        config_pipeline *p = NULL;
        config_diag diag = {0};
        if (config_load_file(paths[k], d->plugins, &p, &diag) != SPOOL_OK) {
            for (size_t i = 0; i < diag.count; i++)
                dlog(SPOOL_LOG_ERROR, "%s", diag.messages[i]);
            bad++;
        }
        config_diag_clear(&diag);
        config_free(p);
        free(paths[k]);
    }
    free(paths);
    if (bad > 0)
        dlog(SPOOL_LOG_ERROR, "%zu pipeline file%s in %s with errors (above): nothing was "
             "started; fix them (spool validate FILE) and start again", bad,
             bad > 1 ? "s" : "", d->cf.pipelines_dir);
    return bad > 0 ? -1 : 0;
}

int daemon_main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"log-format", required_argument, NULL, 'f'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *format = NULL;
    int level = 0, opt, code;
    int64_t t0 = daemon_mono_ns();
    char err[2048];
    spool_daemon d = {0};

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            format = optarg;
            if (strcmp(format, "plain") != 0 && strcmp(format, "json") != 0) {
                fprintf(stderr, "spool worker: --log-format is plain or json, not \"%s\"\n",
                        format);
                return EXIT_USAGE;
            }
            break;
        case 'l':
            if ((level = parse_level(optarg)) == 0) {
                fprintf(stderr, "spool worker: --log-level is error, warn, info or debug, "
                                "not \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(usage_worker, stdout);
            return 0;
        default:
            fputs(usage_worker, stderr);
            return EXIT_USAGE;
        }
    }
    if (config == NULL || optind != argc) {
        fprintf(stderr, "spool worker: give --config FILE and nothing else\n\n%s",
                usage_worker);
        return EXIT_USAGE;
    }
    if (wconf_load(config, &d.cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "spool worker: %s\n", err);
        wconf_free(&d.cf);
        return EXIT_USAGE;
    }
    worker_log_set_level(level ? level : d.cf.log_level);
    worker_log_set_json(format ? strcmp(format, "json") == 0 : d.cf.log_json);
    if (d.cf.token != NULL)
        worker_log_add_secret(d.cf.token);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_rwlock_init(&d.lock, NULL);
    pthread_mutex_init(&d.reg, NULL);
    d.started_ms = (int64_t)time(NULL) * 1000;
    d.start_mono_ns = t0;

    code = load_plugins(&d);
    if (code != 0)
        goto out;
    int rc = util_mkdir_p(d.cf.data_dir);
    if (rc != 0) {
        dlog(SPOOL_LOG_ERROR, "cannot create the data directory %s (%s)", d.cf.data_dir,
             strerror(-rc));
        code = EXIT_STORAGE;
        goto out;
    }
    code = daemon_open_backend(&d, err, sizeof(err));
    if (code != 0)
        goto out;
    if (check_pipelines(&d) != 0) {
        /* A plugin file refused while the pipelines were read (plugins load on
         * demand) is the plugin's fault, as it was when all loaded at start. */
        loader_stats ls;
        loader_get_stats(d.plugins, &ls);
        code = ls.refused > 0 ? EXIT_PLUGIN : EXIT_USAGE;
        goto out;
    }
    pthread_rwlock_wrlock(&d.lock);
    store_load_all(d.cf.data_dir, daemon_stored, &d);
    for (size_t i = 0; i < d.nconns; i++)
        conn_start(&d, d.conns[i]);
    pthread_rwlock_unlock(&d.lock);
    if (daemon_reload(&d, NULL, 1) != 0) {
        dlog(SPOOL_LOG_ERROR, "pipeline files in %s have errors (above); nothing was "
             "started", d.cf.pipelines_dir);
        daemon_shutdown(&d, -1);
        code = EXIT_USAGE;
        goto out;
    }
    code = daemon_run(&d, t0);
out:
    daemon_free(&d);
    return code;
}

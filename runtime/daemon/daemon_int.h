/* daemon_int.h - private to runtime/daemon: the worker daemon's state and its parts.
 *
 * One process, one data directory, one log store shared by every connector. Each
 * connector (a source or sink of a pipeline file, or one created through the API) runs
 * in a worker of its own (worker_new_shared), so that a reload can stop, start or
 * restart one connector without touching the others. The daemon keeps the list of
 * connectors; the API, the reload and the main loop change it under d->lock.
 *
 *   daemon.c          the connector list, start and stop, reload, the main loop
 *   daemon_config.c   the worker config file (YAML)
 *   connector_json.c  Kafka Connect style JSON configs <-> pipelines, secrets masked
 *   store.c           API-created connectors persisted in DATA_DIR/connectors/
 *   offsets.c         KIP-875 offsets of stopped connectors
 *   api.c             the HTTP API (libmicrohttpd)
 *   metrics.c         /metrics in Prometheus' text format
 */
#ifndef SPOOL_DAEMON_INT_H
#define SPOOL_DAEMON_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "config/config.h"
#include "loader/loader.h"
#include "log/log.h"
#include "worker/worker.h"

/* ---- The worker config (daemon_config.c) ------------------------------------------ */

typedef struct wconf {
    char *path;                /* the file it was read from */
    char *data_dir;            /* required; absolute once loaded */
    char *plugin_path;         /* ':'-joined directories; NULL: the defaults */
    char *pipelines_dir;       /* NULL: no pipeline files, API connectors only */
    char *listen;              /* host:port, default 127.0.0.1:8083 */
    char *token;               /* NULL: no token required */
    int64_t max_body_bytes;    /* default 1 MiB */
    int log_level;             /* SPOOL_LOG_*, default info */
    int log_json;              /* log.format: json */
    int64_t shutdown_timeout_ms; /* default 30 s */
    config_log log;            /* log.backend & co: where the topics live (builtin) */
} wconf;

/* Reads the worker config at path. Returns 0, or -1 with "FILE:LINE:COLUMN: what is
 * wrong; what was expected" in err. */
int wconf_load(const char *path, wconf *out, char *err, size_t errlen);
void wconf_free(wconf *c);

/* ---- Connectors ---------------------------------------------------------------------- */

/* A loaded pipeline: a file's, or the one-connector pipeline of an API connector.
 * Connectors point into it, so it lives as long as one of them does. */
typedef struct dpipe {
    config_pipeline *p;
    int refs;
} dpipe;

typedef struct dconn {
    char *name;
    int kind;                  /* SPOOL_KIND_SOURCE or SPOOL_KIND_SINK; 0 when unloadable */
    char *file;                /* the pipeline file defining it; NULL: created by the API */
    json_t *config;            /* API connectors: the config as given (secrets in clear) */
    dpipe *pipe;               /* NULL when it cannot be loaded (load_error) */
    const config_connector *cc;
    char *fingerprint;         /* equal fingerprints: nothing to restart */
    char *load_error;          /* an API connector stored but no longer valid */
    int target;                /* WORKER_RUNNING, WORKER_PAUSED or WORKER_STOPPED */
    worker *w;                 /* NULL while STOPPED */
    config_pipeline view;      /* the one-connector pipeline w runs */
} dconn;

typedef struct dfile {
    char *path;
    dpipe *pipe;               /* its last valid version */
} dfile;

typedef struct spool_daemon {
    wconf cf;
    loader *plugins;
    log_store *log;            /* builtin: the shared log (else NULL) */
    backend *b;                /* where the topics live; every worker shares it */
    pthread_rwlock_t lock;     /* read: answers; write: every change to the list */
    pthread_mutex_t reg;       /* conns[i]->w, for the log's maintenance thread */
    dconn **conns;
    size_t nconns, capconns;
    dfile *files;
    size_t nfiles;
    atomic_int ready;          /* pipelines running and the API listening */
    atomic_int stopping;
    atomic_int fatal;          /* exit code of a failure that stops everything */
    atomic_ullong reloads, reload_failures;
    char worker_id[300];       /* "host:port", as statuses show it */
    int64_t started_ms;        /* wall clock */
    int64_t start_mono_ns;
    void *api;                 /* the MHD daemon */
} spool_daemon;

/* Finds a connector by name (lock held). */
dconn *daemon_find(spool_daemon *d, const char *name);

/* Reloads the pipeline files (write lock held, or takes it when lock is 1): unchanged
 * connectors keep running, changed ones restart from their checkpoints, removed ones
 * stop cleanly. A file that does not load keeps its previous version; its problems are
 * appended to errs (one string each). Returns the number of files refused. */
int daemon_reload(spool_daemon *d, json_t *errs, int lock);

/* The API's changes (write lock held by the caller). Each returns an HTTP status and,
 * on failure, the reason in err. */
int daemon_put_connector(spool_daemon *d, const char *name, json_t *config, int state,
                         int create_only, char *err, size_t errlen);
int daemon_delete_connector(spool_daemon *d, const char *name, char *err, size_t errlen);
int daemon_set_target(spool_daemon *d, dconn *c, int target, char *err, size_t errlen);
int daemon_restart(spool_daemon *d, dconn *c, int only_failed, char *err, size_t errlen);

/* The connector's state as Kafka Connect names it, and each task's. */
const char *daemon_conn_state(dconn *c);
size_t daemon_task_count(dconn *c);

/* ---- JSON configs (connector_json.c) ---------------------------------------------- */

#define CJSON_MASK "********"

/* The one-connector pipeline (as text, malloc'd) for a Kafka Connect style config:
 * {"connector.class" | "plugin": P, "type" | "kind": source|sink, "topic" | "topics",
 *  "tasks.max", "key", "errors.*", "batch.*", "transforms", ...plugin options}.
 * partitions(ctx, topic) gives an existing topic's partition count (-1: none). Values
 * are taken literally: "${" is not expanded. Returns 0, or -1 with the reason in err. */
int cjson_to_pipeline(const char *name, json_t *config, const loader *plugins,
                      int32_t (*partitions)(void *ctx, const char *topic), void *ctx,
                      char **text, char *err, size_t errlen);

/* Loads such a config into a pipeline with exactly one connector. 0, or -1 with every
 * problem in err ("; "-joined). */
int cjson_load(const char *name, json_t *config, const loader *plugins,
               int32_t (*partitions)(void *ctx, const char *topic), void *ctx,
               config_pipeline **out, char *err, size_t errlen);

/* The config as the API shows it: a new object with every secret option replaced by
 * CJSON_MASK. For a file connector (config NULL), built from cc. */
json_t *cjson_show(const dconn *c);

/* For a PUT of a config read back from GET: a secret given as CJSON_MASK keeps the
 * value it has in old (which may be NULL). */
void cjson_keep_secrets(json_t *config, const json_t *old, const loader_plugin *lp);

/* A string that differs when anything about cc that a running task uses differs. */
char *cjson_fingerprint(const config_connector *cc);

/* The plugin an API config names, or NULL with a reason. */
const loader_plugin *cjson_plugin(json_t *config, const loader *plugins, char *err,
                                  size_t errlen);

/* ---- Persistence (store.c) ----------------------------------------------------------- */

/* Writes DATA_DIR/connectors/NAME.json atomically (temp, fsync, rename, fsync dir).
 * Returns 0 or -errno with the reason in err. */
int store_save(const char *data_dir, const char *name, json_t *config, int target,
               char *err, size_t errlen);
int store_delete(const char *data_dir, const char *name, char *err, size_t errlen);

/* Calls fn for every stored connector, in name order. */
typedef void (*store_fn)(void *ctx, const char *name, json_t *config, int target,
                         const char *problem);
int store_load_all(const char *data_dir, store_fn fn, void *ctx);

/* Connector names that are safe as file names and in URLs. */
int daemon_name_ok(const char *name);

/* ---- Offsets (offsets.c) ------------------------------------------------------------- */

/* GET: {"offsets": [...]}. alter: PATCH with body, DELETE (reset) with body NULL.
 * Return an HTTP status; err on failure. */
int offsets_get(spool_daemon *d, dconn *c, json_t **out, char *err, size_t errlen);
int offsets_alter(spool_daemon *d, dconn *c, json_t *body, char *err, size_t errlen);

/* ---- API and metrics ------------------------------------------------------------------ */

/* Starts the HTTP API on d->cf.listen; fills d->worker_id. 0, or -1 with err. */
int api_start(spool_daemon *d, char *err, size_t errlen);
void api_stop(spool_daemon *d);

/* The Prometheus text of every metric (read lock held). */
void metrics_write(spool_daemon *d, FILE *out);

/* Monotonic nanoseconds. */
int64_t daemon_mono_ns(void);

#endif /* SPOOL_DAEMON_INT_H */

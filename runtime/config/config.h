/* config.h - pipeline files: YAML -> pipeline model, validated against declared options.
 *
 * A pipeline file has five top-level keys (see docs/configuration.md):
 *
 *     data_dir: ./spool-data              # optional; relative to the file's directory
 *     topics:  {NAME: {partitions: N, retention: 7d, retention_bytes: 1GiB}}
 *     sources: {NAME: {connector: C, topic: T, key: FIELD, transforms: [...], config: {...}}}
 *     sinks:   {NAME: {connector: C, topics: [T...], tasks: N, transforms: [...], config: {...}}}
 *     log:     {backend: builtin | kafka, group: G, replication_factor: N,
 *               properties: {LIBRDKAFKA.PROPERTY: VALUE}}       # optional; builtin
 *
 * A transforms: item is {NAME: {options}}, optionally with a `when:` or `unless:`
 * predicate beside NAME: {field: F, equals: V | in: [V...] | exists: BOOL} or {topic: T}.
 *
 * Every connector's and transform's config is checked against the options its plugin
 * declares before any plugin code runs: unknown keys (with a "did you mean"), wrong
 * types, values out of range, missing required options, unknown connectors and topics
 * are each reported as "FILE:LINE:COLUMN: KEY.PATH: what is wrong; what was expected".
 * Scalars expand ${VAR} and ${VAR:-default} from the environment ("$${" is a literal
 * "${"). A secret option's value never appears in any message.
 *
 * Threads: none of this is shared; a config_pipeline is read-only once loaded.
 */
#ifndef SPOOL_CONFIG_H
#define SPOOL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "loader/loader.h"
#include "util/units.h"

/* Pipeline files larger than this are refused. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

/* One declared option's value after defaults and expansion. */
typedef struct config_value {
    const spool_option *decl;  /* the plugin's declaration */
    char *text;                /* the value as a string; NULL when unset */
    char **list;               /* LIST: NULL-terminated; otherwise NULL */
    size_t list_len;
    int64_t number;            /* INT, BOOL (0/1), SIZE (bytes), DURATION (ms), ENUM index */
    int is_set;                /* 1: written in the file; 0: default or unset */
    int line, column;          /* where it was written (0 when defaulted) */
} config_value;

/* What a predicate tests (config_predicate.kind). */
typedef enum config_predicate_kind {
    CONFIG_PRED_EQUALS = 1,    /* the field's value, as text, equals `equals` */
    CONFIG_PRED_IN = 2,        /* the field's value, as text, is one of `in` */
    CONFIG_PRED_EXISTS = 3,    /* the field is present (exists 1) or absent (exists 0) */
    CONFIG_PRED_TOPIC = 4      /* the record's topic is `topic` */
} config_predicate_kind;

/* A transform item's `when:` (negate 0) or `unless:` (negate 1), as Kafka Connect's
 * predicates: the record goes through the transform only when the predicate's test,
 * inverted by negate, holds; otherwise it skips that transform. Evaluated by
 * transform_predicate_match(). */
typedef struct config_predicate {
    int negate;                /* 1: written as unless: */
    int kind;                  /* config_predicate_kind */
    char *field;               /* dot path ("a.b"); NULL for CONFIG_PRED_TOPIC */
    char *equals;              /* CONFIG_PRED_EQUALS */
    char **in;                 /* CONFIG_PRED_IN: NULL-terminated, nin >= 1 */
    size_t nin;
    int exists;                /* CONFIG_PRED_EXISTS: 1 or 0 */
    char *topic;               /* CONFIG_PRED_TOPIC: a topic declared under topics: */
    int line, column;          /* where `when`/`unless` was written */
} config_predicate;

typedef struct config_transform {
    char *name;                /* e.g. "filter" */
    const loader_plugin *plugin;
    config_value *values;      /* one per declared option, in declaration order */
    size_t nvalues;
    int line, column;
    config_predicate *predicate;   /* when:/unless:; NULL: every record */
} config_transform;

typedef struct config_connector {
    char *name;                /* the key under sources: or sinks: */
    int kind;                  /* SPOOL_KIND_SOURCE or SPOOL_KIND_SINK */
    char *connector;           /* plugin name */
    const loader_plugin *plugin;
    char *topic;               /* sources: the topic it writes */
    char *key_field;           /* sources: JSON field whose value is the key; NULL: none */
    char **topics;             /* sinks: topics read, NULL-terminated */
    size_t ntopics;
    int tasks;                 /* sinks: number of tasks (default 1) */
    config_value *values;      /* one per declared option, in declaration order */
    size_t nvalues;
    config_transform *transforms;
    size_t ntransforms;
    int line, column;
    /* errors: */
    int errors_tolerate;       /* tolerance: all (1) or none (0) */
    char *dead_letter_topic;   /* NULL: failed records are logged and skipped */
    int64_t retry_max;         /* retries of SPOOL_RETRY before FAILED */
    int64_t retry_timeout_ms;  /* how long to retry before FAILED */
    int64_t retry_backoff_max_ms;
    /* batch: */
    int64_t batch_max_records;
    int64_t batch_max_bytes;
    /* errors.deadline: the longest one plugin callback may run before the task is
     * FAILED and its thread abandoned (worker.c, the watchdog). */
    int64_t call_deadline_ms;
} config_connector;

typedef struct config_topic {
    char *name;
    int32_t partitions;        /* default 1 */
    int64_t retention_ms;      /* -1: keep forever (default) */
    int64_t retention_bytes;   /* -1: no size limit (default) */
    int line, column;
    int64_t segment_bytes;     /* roll past this size (default 128 MiB) */
    int64_t segment_ms;        /* roll older segments (default 7 days) */
    int durability;            /* 0 batch (default), 1 interval, 2 none */
    int64_t flush_interval_ms; /* with interval durability (default 1 s) */
    int keep_unconsumed;       /* retention keeps what a sink has not consumed */
} config_topic;

/* log: where the topics live (backend/backend.h). Absent: the built-in log. */
typedef struct config_log {
    int kind;                  /* 0 builtin (default), 1 kafka: backend_kind's values */
    char *group;               /* kafka: the worker group; NULL: "spool" */
    char **properties;         /* kafka: "name", "value", ..., NULL (NULL: none), in file
                                * order, values expanded */
    size_t nproperties;        /* name/value pairs */
    int replication_factor;    /* kafka: for topics spool creates; 0: the default (3) */
    int line, column;          /* where log: was written; 0 when absent */
} config_log;

typedef struct config_pipeline {
    char *path;                /* the file it was read from */
    char *data_dir;            /* resolved against the file's directory; NULL: not set */
    config_log log;            /* log: */
    config_topic *topics;
    size_t ntopics;
    config_connector *sources;
    size_t nsources;
    config_connector *sinks;
    size_t nsinks;
} config_pipeline;

/* Diagnostics collected while loading; each message is one line without newline. */
typedef struct config_diag {
    char **messages;
    size_t count;
} config_diag;

/* Reads and validates the pipeline file at path against the plugins in plugins.
 * Returns SPOOL_OK and *out, or SPOOL_EINVAL with every problem found in d (and
 * *out NULL). */
int config_load_file(const char *path, const loader *plugins, config_pipeline **out,
                     config_diag *d);

/* The same for text already in memory; name is used in messages and to resolve
 * relative paths. */
int config_load_string(const char *name, const char *text, size_t len,
                       const loader *plugins, config_pipeline **out, config_diag *d);

/* Reads only data_dir: and log: of a pipeline file or a worker config (whose log: may
 * also hold level and format), for the tools. *data_dir is malloc'd (NULL when absent,
 * absolute otherwise); free *out with config_log_free(). SPOOL_EINVAL with the
 * problems in d. */
int config_load_log_file(const char *path, config_log *out, char **data_dir,
                         config_diag *d);

void config_free(config_pipeline *p);
/* Frees what a config_log holds and zeroes it (config_free does it for a pipeline). */
void config_log_free(config_log *lg);
void config_diag_clear(config_diag *d);

/* The value of the declared option name, or NULL when the plugin declares none. */
const config_value *config_find(const config_value *values, size_t n, const char *name);


#endif /* SPOOL_CONFIG_H */

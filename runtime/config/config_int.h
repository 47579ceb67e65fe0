/* config_int.h - private to runtime/config: the loading context and its helpers.
 *
 * Loading is one pass of libyaml's document loader followed by a schema walk over the
 * node graph. The walk never stops at the first problem: every helper reports into the
 * context and returns, so one run shows the operator everything that is wrong. Two
 * limits keep hostile input cheap: at most CONFIG_MAX_DIAGS messages are kept, and at
 * most CONFIG_MAX_NODES nodes are visited, counting a node again each time an alias
 * leads to it (libyaml shares aliased nodes instead of copying them, so a "billion
 * laughs" file is small in memory but not to walk).
 */
#ifndef SPOOL_CONFIG_INT_H
#define SPOOL_CONFIG_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config/config.h"

#define CONFIG_MAX_NODES 10000
#define CONFIG_MAX_DIAGS 50
#define CONFIG_PATH_MAX 512

typedef struct config_msg {
    int line, column;          /* 0: the message is about the whole file */
    size_t seq;                /* report order, to keep the sort stable */
    char *text;
} config_msg;

typedef struct config_ctx {
    const char *name;          /* the file name used in messages */
    const char *text;          /* the raw input, for hints (tabs) */
    size_t len;
    yaml_document_t *doc;
    const loader *plugins;     /* may be NULL: no plugin is known */
    config_msg *msgs;
    size_t nmsgs;
    size_t errors;             /* every problem found, kept or not */
    size_t visited;            /* nodes walked, aliases counted each time */
    int stop;                  /* the node budget ran out: walk no further */
    int worker_log_keys;       /* log: may also hold a worker config's level and format */
    int oom;
} config_ctx;

/* One key of a map, after duplicate and non-scalar keys were reported and dropped. */
typedef struct config_entry {
    const char *key;
    yaml_node_t *knode;
    yaml_node_t *vnode;
} config_entry;

/* A growable string. On allocation failure it sets failed and keeps what it had. */
typedef struct config_buf {
    char *s;
    size_t len, cap;
    int failed;
} config_buf;

/* --- diagnostics (config_yaml.c) --- */
void config_error(config_ctx *c, const yaml_node_t *at, const char *path, const char *fmt,
                  ...) SPOOL_PRINTF(4, 5);
void config_error_at(config_ctx *c, int line, int column, const char *path,
                     const char *fmt, ...) SPOOL_PRINTF(5, 6);
void config_nomem(config_ctx *c);

/* --- YAML (config_yaml.c) --- */
/* Loads text into doc; on failure reports libyaml's problem and returns -1. */
int config_yaml_load(config_ctx *c, yaml_document_t *doc);
/* The node at idx, counted against the node budget; NULL once the budget is spent. */
yaml_node_t *config_node(config_ctx *c, int idx);
int config_is_null(const yaml_node_t *n);
/* "a map", "a list", "a string" or "nothing", for "got ..." parts. */
const char *config_kind_name(const yaml_node_t *n);
const char *config_scalar(const yaml_node_t *n);
/* The entries of map, in file order. Reports duplicate keys (pointing at the repeat)
 * and keys that are not scalars. *out is malloc'd (may be NULL when *n is 0).
 * Returns -1 when the walk must stop (budget or memory). */
int config_map_entries(config_ctx *c, yaml_node_t *map, const char *path,
                       config_entry **out, size_t *n);
/* Reports key as unknown under path, with a suggestion from valid. */
void config_unknown_key(config_ctx *c, const config_entry *e, const char *path,
                        const char *const *valid, size_t nvalid);
/* The scalar at n, expanded, in *out (malloc'd). expected describes what belongs
 * there. Reports and returns -1 for a map, list, null or a bad expansion. */
int config_get_string(config_ctx *c, const yaml_node_t *n, const char *path, int secret,
                      const char *expected, char **out);

/* --- strings and names (config_yaml.c) --- */
void config_path(char *out, const char *parent, const char *key);
void config_path_index(char *out, const char *parent, size_t i);
/* Writes s quoted, escaped and shortened for a one-line message. */
void config_show(char *out, size_t n, const char *s);
/* The candidate closest to word, or NULL when none is close enough. */
const char *config_suggest(const char *word, const char *const *cands, size_t n);
/* ", "-joined candidates, or "(none)". */
void config_join(config_buf *b, const char *const *items, size_t n);
void config_buf_add(config_buf *b, const char *s, size_t n);
void config_buf_str(config_buf *b, const char *s);
void config_buf_printf(config_buf *b, const char *fmt, ...) SPOOL_PRINTF(2, 3);
char *config_buf_take(config_buf *b);    /* the string (never NULL unless failed) */
void config_buf_free(config_buf *b);

/* --- ${VAR} expansion (config_expand.c) --- */
/* Expands s (read from the node at n) into *out. Never shows a secret's text. */
int config_expand(config_ctx *c, const yaml_node_t *n, const char *path, int secret,
                  const char *s, char **out);


/* --- declared options (config_validate.c) --- */
/* Validates map (NULL or a null node: nothing written) against opts and fills one
 * value per option in *values. A missing required option is reported at missing_at
 * (the map, or the connector when there is no map). Returns -1 only to stop. */
int config_options(config_ctx *c, const spool_option *const *opts, size_t nopts,
                   const char *owner, yaml_node_t *map, const yaml_node_t *missing_at,
                   const char *path, config_value **values, size_t *nvalues);
/* Parses one option's value from node n into v. Returns 0, or -1 when reported. */
int config_option_node(config_ctx *c, const spool_option *o, yaml_node_t *n,
                       const char *path, config_value *v);
/* Validates a transforms: list, with each item's when:/unless: predicate; a topic
 * predicate must name a topic declared in p. */
int config_transforms(config_ctx *c, const config_pipeline *p, yaml_node_t *seq,
                      const char *path, config_transform **out, size_t *n);
void config_predicate_free(config_predicate *p);
/* Why path cannot be a JSON field path ("", "a..b", ".a"), or NULL when it can. */
const char *config_field_path_problem(const char *path);
void config_values_free(config_value *v, size_t n);
void config_transforms_free(config_transform *t, size_t n);
/* The names of the loaded plugins of kind (0: any), for "expected one of" parts:
 * returns the count and a malloc'd array in *out (the strings are the plugins'). */
size_t config_plugin_names(const config_ctx *c, uint32_t kind, const char ***out);
/* The plugin called name, of kind; reports unknown names (listing the installed
 * plugins of that kind) and plugins of another kind, returning NULL. */
const loader_plugin *config_plugin(config_ctx *c, const yaml_node_t *at, const char *path,
                                   const char *name, uint32_t kind);
const char *config_kind_text(uint32_t kind);

/* --- the pipeline (config.c) --- */
/* log: at n into lg (kind, group, replication_factor, properties), reported like every
 * other key. */
void config_log_block(config_ctx *c, config_log *lg, yaml_node_t *n);
/* Reports name, written at line:column, when no topic of that name is declared. */
void config_topic_ref_at(config_ctx *c, const config_pipeline *p, int line, int column,
                         const char *path, const char *name);

#endif /* SPOOL_CONFIG_INT_H */

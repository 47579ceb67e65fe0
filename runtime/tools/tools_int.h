/* tools_int.h - private to runtime/tools/: option parsing and exit codes shared by
 * the commands. */
#ifndef SPOOL_TOOLS_INT_H
#define SPOOL_TOOLS_INT_H

#include <stdint.h>

#include "backend/backend.h"
#include "config/config.h"

#define TOOLS_DEFAULT_DATA_DIR "./spool-data"

enum { TOOLS_OK = 0, TOOLS_RUNTIME = 1, TOOLS_USAGE = 2, TOOLS_STORAGE = 3, TOOLS_CORRUPT = 4 };

/* The exit code for a log result code. */
int tools_exit_code(int rc);

/* Prints "spool CMD: msg" for an open failure, with a hint when the lock is held. */
int tools_open_failed(const char *cmd, int rc, const char *err, int writes);

/* Where a command's topics live: --data-dir DIR (the builtin log, default), --config
 * FILE (a pipeline file or worker config: its log: block and its data_dir), or
 * --bootstrap-servers LIST (kafka with the defaults, or the config's kafka settings
 * with these servers). */
typedef struct tools_target {
    const char *data_dir;      /* --data-dir; NULL: the config's, else the default */
    const char *config;        /* --config */
    const char *bootstrap;     /* --bootstrap-servers */
    /* Filled by tools_open(): */
    const char *dir;           /* the data directory in use */
    char *config_dir;
    config_log log;
    const char **props;
    backend *b;
} tools_target;

/* The getopt_long entries of the three options (values 'd', 'C', 'B'), and their
 * handling: returns 1 when opt was one of them. */
#define TOOLS_TARGET_OPTS \
    {"data-dir", required_argument, NULL, 'd'}, \
    {"config", required_argument, NULL, 'C'}, \
    {"bootstrap-servers", required_argument, NULL, 'B'}
int tools_target_opt(tools_target *t, int opt, const char *arg);

/* Opens t's backend (builtin: read-only unless writes). Returns 0, or prints why and
 * returns the exit code. */
int tools_open(const char *cmd, tools_target *t, int writes);
void tools_close(tools_target *t);

/* "in DIR" or "in the Kafka cluster" for messages. */
const char *tools_where(const tools_target *t, char *buf, size_t n);

/* Parses a non-negative integer with an optional size or duration unit; -1 on error. */
int tools_parse_num(const char *s, int duration, int64_t *out);

#endif /* SPOOL_TOOLS_INT_H */

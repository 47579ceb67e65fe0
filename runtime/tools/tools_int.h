/* tools_int.h - private to runtime/tools/: option parsing and exit codes shared by
 * the commands. */
#ifndef SPOOL_TOOLS_INT_H
#define SPOOL_TOOLS_INT_H

#include <stdint.h>

#define TOOLS_DEFAULT_DATA_DIR "./spool-data"

enum { TOOLS_OK = 0, TOOLS_RUNTIME = 1, TOOLS_USAGE = 2, TOOLS_STORAGE = 3, TOOLS_CORRUPT = 4 };

/* The exit code for a log result code. */
int tools_exit_code(int rc);

/* Prints "spool CMD: msg" for an open failure, with a hint when the lock is held. */
int tools_open_failed(const char *cmd, int rc, const char *err, int writes);

/* Parses a non-negative integer with an optional size or duration unit; -1 on error. */
int tools_parse_num(const char *s, int duration, int64_t *out);

#endif /* SPOOL_TOOLS_INT_H */

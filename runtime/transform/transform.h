/* transform.h - built-in transforms and the JSON field access they share with the worker.
 *
 * Built-in transforms are ordinary spool_plugin descriptors compiled into the runtime
 * and registered with loader_add_builtin(), so YAML validation, `spool plugins` and
 * the docs treat them exactly like plugins loaded from .so files.
 */
#ifndef SPOOL_TRANSFORM_H
#define SPOOL_TRANSFORM_H

#include <stddef.h>

#include "spool/plugin.h"

/* The `filter` transform: keeps records whose JSON field is one of a list of values. */
const spool_plugin *transform_filter_entry(const spool_host *host);

/* Every built-in transform's entry point, NULL-terminated. */
extern spool_plugin_entry_fn *const transform_builtins[];

/* Finds the field at path ("a.b.c") in the JSON document json[0..len) and writes its
 * value as text into a malloc'd *out (strings without quotes, other values as compact
 * JSON). Returns 1 when found, 0 when the document is not JSON or has no such field,
 * -1 when out of memory. The caller frees *out. */
int transform_json_field(const void *json, size_t len, const char *path, char **out,
                         size_t *out_len);

#endif /* SPOOL_TRANSFORM_H */

/* transform.h - built-in transforms, predicates, and the JSON field access they share
 * with the worker.
 *
 * Built-in transforms are ordinary spool_plugin descriptors compiled into the runtime
 * and registered with loader_add_builtin(), so YAML validation, `spool plugins` and
 * the docs treat them exactly like plugins loaded from .so files. Each works on JSON
 * values (docs/configuration.md, "Transforms", says what each does with a missing
 * field); a value that is not JSON where one is needed is a per-record failure
 * (SPOOL_EINVAL with the reason set through host->set_error), never a crash.
 *
 * Threads: a transform's callbacks run on its task's thread; the entry points and
 * transform_predicate_match() keep no state of their own and may be called from any.
 */
#ifndef SPOOL_TRANSFORM_H
#define SPOOL_TRANSFORM_H

#include <stddef.h>

#include "spool/plugin.h"

struct config_predicate;

/* The built-ins' entry points (see each file for its options). */
const spool_plugin *transform_filter_entry(const spool_host *host);
const spool_plugin *transform_route_entry(const spool_host *host);
const spool_plugin *transform_insert_entry(const spool_host *host);
const spool_plugin *transform_rename_entry(const spool_host *host);
const spool_plugin *transform_drop_entry(const spool_host *host);
const spool_plugin *transform_mask_entry(const spool_host *host);
const spool_plugin *transform_set_key_entry(const spool_host *host);
const spool_plugin *transform_timestamp_entry(const spool_host *host);

/* Every built-in transform's entry point, NULL-terminated. */
extern spool_plugin_entry_fn *const transform_builtins[];

/* 1 when rec goes through the transform that p guards (p's test holds, inverted for
 * unless:), 0 when rec skips that transform. A field test (equals, in, exists) never
 * holds for a value that is not JSON or a tombstone, whatever exists says: `when:`
 * skips such a record and `unless:` sends it on to the transform, which reports it. A
 * topic test compares rec->topic; NULL holds for no topic. Out of memory counts as the
 * test not holding. rec is borrowed; nothing is kept. */
int transform_predicate_match(const struct config_predicate *p, const spool_record *rec);

/* The same field's text without building a tree, when an allocation-free scan can
 * tell (runtime/json/json_scan.h): 1 with *text borrowed from json, 0 when json is JSON
 * without the field, -1 when only a full parser can say (the caller then parses). */
int transform_field_fast(const void *json, size_t len, const char *path, const char **text,
                         size_t *text_len);

/* Finds the field at path ("a.b.c") in the JSON document json[0..len) and writes its
 * value as text into a malloc'd *out (strings without quotes, other values as compact
 * JSON). Returns 1 when found, 0 when the document is not JSON or has no such field,
 * -1 when out of memory. The caller frees *out. */
int transform_json_field(const void *json, size_t len, const char *path, char **out,
                         size_t *out_len);

#endif /* SPOOL_TRANSFORM_H */

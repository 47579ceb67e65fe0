/* transform_int.h - private to runtime/transform: what the built-in transforms share.
 *
 * Every built-in that edits a value follows one shape: parse the record's value with
 * transform_load() (a non-JSON value becomes the task's error and SPOOL_EINVAL, which
 * the worker turns into a per-record failure), walk it with the path helpers, and pass
 * the result on with transform_emit() (compact JSON, keys in their original order). A
 * transform that changed nothing passes the original record on, byte for byte.
 *
 * Paths are dot-separated object keys ("resource.id"); arrays are not indexed, and a
 * key that itself contains a dot cannot be addressed.
 */
#ifndef SPOOL_TRANSFORM_INT_H
#define SPOOL_TRANSFORM_INT_H

#include <stddef.h>

#include <jansson.h>

#include "transform/transform.h"

/* How records are parsed and written: any JSON value at the top, NUL in strings kept;
 * output compact with keys in the order they came. */
#define TRANSFORM_JSON_DECODE (JSON_DECODE_ANY | JSON_ALLOW_NUL)
#define TRANSFORM_JSON_ENCODE (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* Parses rec's value into *doc (a new reference). A tombstone (NULL value) gives
 * SPOOL_OK and *doc NULL. A value that is not JSON sets the task's error ("value at
 * events/0@42 is not JSON: <why> (line L, column C)") and returns SPOOL_EINVAL. */
spool_rc transform_load(const spool_host *host, spool_task *t, const spool_record *rec,
                        json_t **doc);

/* Sets the task's error for a record whose field path[0..path_len) has the wrong type
 * (path_len 0: the value itself), naming the record as transform_load does, the field
 * and what was expected. Returns SPOOL_EINVAL. */
spool_rc transform_type_error(const spool_host *host, spool_task *t,
                              const spool_record *rec, const char *path, size_t path_len,
                              const json_t *got, const char *expected);

/* "an object", "a string", "null", ... for messages. */
const char *transform_json_kind(const json_t *v);

/* A copy of rec's members into *out with out->struct_size = sizeof(spool_record), so
 * a transform can change one member and emit. Buffers are shared, not copied. */
void transform_record_view(const spool_record *rec, spool_record *out);

/* Emits view with its value replaced by doc encoded as compact JSON. The encoded
 * buffer is freed once emit has copied it. Returns emit's result, or SPOOL_ENOMEM. */
spool_rc transform_emit(const spool_host *host, spool_task *t, const spool_record *view,
                        const json_t *doc);

/* Why path cannot address a field ("", ".a", "a..b"), or NULL when it can. */
const char *transform_path_problem(const char *path);

/* Reads the declared LIST option `fields` of transform name into *fields and *n, and checks
 * that it is not empty and that every entry is a field path; on failure sets the task's
 * error (example: two paths shown as what was expected) and returns SPOOL_EINVAL. */
spool_rc transform_fields_option(const spool_host *host, spool_task *t, const char *name,
                                 const char *example, const char *const **fields,
                                 size_t *n);

/* The value at path in doc (borrowed), or NULL when a part is missing or a parent is
 * not an object. */
json_t *transform_path_get(const json_t *doc, const char *path);

/* The object that holds path's last part, and that part in *key and *key_len; NULL when a
 * parent is missing or not an object. */
json_t *transform_path_parent(const json_t *doc, const char *path, const char **key,
                              size_t *key_len);

/* Sets path in doc to value (stealing the reference, also on failure), creating the
 * missing parent objects. Returns 0; -1 when a parent exists and is not an object (its
 * path's length in *bad_len and the offender in *bad) or when out of memory (*bad
 * NULL). */
int transform_path_set(json_t *doc, const char *path, json_t *value, json_t **bad,
                       size_t *bad_len);

/* The value at path as text, as the key and filters see it: a string without its
 * quotes, anything else as compact JSON. malloc'd, NUL-terminated, its length in *len
 * (a string may hold NUL bytes). NULL when out of memory. */
char *transform_json_text(const json_t *v, size_t *len);

/* s[0..len) quoted for a one-line message: at most about 64 characters, bytes outside
 * printable ASCII as '?'. */
void transform_show(char *out, size_t n, const char *s, size_t len);

/* 1 when s[0..n) is one of list's strings, else 0. */
int transform_listed(const char *const *list, const char *s, size_t n);

/* Why name cannot be a topic name (Kafka's rule, as config checks declared topics),
 * or NULL when it can. */
const char *transform_topic_problem(const char *name, size_t len);

#endif /* SPOOL_TRANSFORM_INT_H */

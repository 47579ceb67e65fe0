/* sql_map.h - JSON record -> table columns, shared by the SQL connectors.
 *
 * A mapping is a list of column specs, each "COLUMN", "COLUMN:TYPE" or
 * "PATH=COLUMN:TYPE": PATH is a dotted path into the record's JSON value (a.b.c; the
 * column's name when absent), COLUMN is the column's name taken verbatim (quotes,
 * spaces and anything else allowed: callers quote it as an identifier), TYPE one of
 * the names in sql_type_names (text when absent). A "whole record" column receives the
 * record's value as JSON. Values are converted two ways: to the text a server parses
 * (PostgreSQL COPY, which then judges the value itself) and strictly to a typed value
 * (SQLite, which would store anything in any column).
 *
 * Nothing here allocates behind the caller's back except where a function says so;
 * nothing is shared between threads.
 */
#ifndef SPOOL_SQL_MAP_H
#define SPOOL_SQL_MAP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sql_type {
    SQL_TEXT = 0,
    SQL_BIGINT,
    SQL_INTEGER,
    SQL_DOUBLE,
    SQL_NUMERIC,
    SQL_BOOLEAN,
    SQL_JSONB,
    SQL_TIMESTAMPTZ,
    SQL_NTYPES
} sql_type;

typedef struct sql_column {
    char *name;            /* the column, unquoted */
    char *path;            /* dotted JSON path; NULL: the whole record */
    sql_type type;
} sql_column;

typedef struct sql_map {
    sql_column *cols;
    size_t n;
} sql_map;

/* A growable byte buffer. */
typedef struct sql_buf {
    char *p;
    size_t len, cap;
} sql_buf;

int sql_buf_put(sql_buf *b, const void *p, size_t n);
int sql_buf_puts(sql_buf *b, const char *s);
void sql_buf_free(sql_buf *b);

/* Name of a type as a column type: pg != 0 for PostgreSQL, else SQLite. */
const char *sql_type_sql(sql_type t, int pg);

/* Parses specs[0..n) plus, when whole is not NULL or empty, a jsonb column of that
 * name for the whole record. Returns 0, or -1 with a message in err. The map owns its
 * strings; free it with sql_map_free (also after a failure). */
int sql_map_parse(sql_map *m, const char *const *specs, size_t n, const char *whole,
                  char *err, size_t errlen);
void sql_map_free(sql_map *m);

/* The index of the column named name, or -1. */
int sql_map_find(const sql_map *m, const char *name);

/* Follows a dotted path into root. NULL when a step is missing or not an object. */
json_t *sql_json_path(json_t *root, const char *path);

/* A typed value, as SQLite stores it. */
typedef enum sql_vkind { SQL_V_NULL, SQL_V_INT, SQL_V_REAL, SQL_V_TEXT } sql_vkind;

typedef struct sql_value {
    sql_vkind kind;
    int64_t i;
    double d;
    const char *s;         /* SQL_V_TEXT: points into buf or into the JSON value */
    size_t len;
    char buf[64];          /* short texts made by the conversion */
    char *owned;           /* long texts made by the conversion: free() it */
} sql_value;

/* Converts v (NULL: absent) strictly to column type t. Returns 0, or -1 with a
 * message naming the column in err (a record failure, not a connector one). */
int sql_value_from_json(const sql_column *c, const json_t *v, sql_value *out, char *err,
                        size_t errlen);
void sql_value_free(sql_value *v);

/* Appends v (NULL: absent) as one field of PostgreSQL's COPY text format: \N for
 * null, the value's text with backslash, tab, newline and carriage return escaped.
 * Strings go as they are; numbers and booleans as JSON spells them; objects and
 * arrays as compact JSON; an integer into a timestamptz column is milliseconds since
 * the epoch. Returns 0, or -1 when out of memory. */
int sql_copy_field(sql_buf *b, const sql_column *c, const json_t *v);

/* Appends n bytes escaped for COPY text format. */
int sql_copy_escape(sql_buf *b, const char *s, size_t n);

/* Formats milliseconds since the epoch as ISO 8601 UTC ("2024-05-01T12:00:00.250Z"). */
void sql_iso8601_ms(int64_t ms, char out[32]);

/* The connector's identity for its stored offsets: the task name ("sink/NAME" or
 * "sink/NAME/INDEX") without its index, so that offsets stay with their
 * partitions when the number of tasks changes. */
void sql_connector_id(const char *task_name, char *out, size_t outlen);

/* A record's topic-partition and the next offset to read there. */
typedef struct sql_offset {
    char topic[256];
    int32_t partition;
    int64_t next;
} sql_offset;

/* Raises the next offset of (topic, partition) in the array offs[0..*n) of capacity
 * cap to offset + 1. Returns 0, or -1 when the array is full. */
int sql_offset_note(sql_offset *offs, size_t *n, size_t cap, const char *topic,
                    int32_t partition, int64_t offset);

#endif

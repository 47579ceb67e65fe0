/* sql_scan.h - one pass over a JSON value that finds the mapped fields, no tree built.
 *
 * The sinks' hot path: instead of parsing each record into a jansson tree and then
 * looking paths up, sql_scan() validates the value with runtime/json's scanner (RFC
 * 8259 grammar; UTF-8 is left to the destination) and records, for every column of the map, where its value's token
 * lies in the input. The tokens are then written straight into COPY text or bound to
 * a statement. Borrowed pointers only: the tokens point into the record.
 */
#ifndef SPOOL_SQL_SCAN_H
#define SPOOL_SQL_SCAN_H

#include "json_scan.h"
#include "sql_map.h"

/* A map prepared for scanning. */
typedef struct sql_scan_plan {
    const sql_map *map;
    json_scan_plan scan;
    int ok;                /* 0: the map cannot be scanned (use jansson) */
} sql_scan_plan;

/* Prepares plan for map (which must outlive it). */
void sql_scan_prepare(sql_scan_plan *plan, const sql_map *map);

/* Scans json[0..len) and fills toks[0..map->n). Returns 0; -1 when the value is not
 * JSON, with a message in err; 1 when this record needs the slow path (an object key
 * written with escapes on a mapped path). */
int sql_scan(const sql_scan_plan *plan, const char *json, size_t len, json_token *toks,
             char *err, size_t errlen);

/* Appends a string token's content (JSON escapes decoded) escaped for COPY text. */
int sql_tok_copy_string(sql_buf *b, const json_token *t);

/* Appends the token as one COPY text field for column c, as sql_copy_field() does for
 * a jansson value (objects and arrays as written rather than compacted). */
int sql_tok_copy_field(sql_buf *b, const sql_column *c, const json_token *t);

/* Decodes a string token's content into b (not NUL-escaped). Returns 0 or -1. */
int sql_tok_string(sql_buf *b, const json_token *t);

/* Converts a token strictly to column c's type, as sql_value_from_json() does. Text
 * values point into the record or into scratch (appended to; the pointer is good
 * until scratch next grows): use or copy them before the next call. Not
 * NUL-terminated: use out->len. */
int sql_tok_value(const sql_column *c, const json_token *t, sql_buf *scratch,
                  sql_value *out, char *err, size_t errlen);

#endif

/* cdc_int.h - private to the postgres-cdc connector: the pgoutput decoder, the JSON
 * mapping of PostgreSQL values, and source positions.
 *
 * The decoder (cdc_decode.c) knows nothing of spool's host: it turns pgoutput
 * messages (protocol version 1) into relations and tuples, and tuples into JSON, so
 * that it can be tested on hand-made messages. The plugin is cdc_source.c.
 */
#ifndef SPOOL_CDC_INT_H
#define SPOOL_CDC_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 UTC). */
#define CDC_PG_EPOCH_US 946684800000000LL

/* A byte reader over one message; any read past the end sets bad and yields zeros. */
typedef struct cdc_reader {
    const unsigned char *p, *end;
    int bad;
} cdc_reader;

uint8_t cdc_u8(cdc_reader *r);
uint16_t cdc_u16(cdc_reader *r);
uint32_t cdc_u32(cdc_reader *r);
uint64_t cdc_u64(cdc_reader *r);
/* A NUL-terminated string inside the message (not copied); "" when bad. */
const char *cdc_str(cdc_reader *r);

/* One column of a relation, as the last Relation message described it. */
typedef struct cdc_col {
    char *name;
    uint32_t type;          /* type OID */
    int key;                /* part of the record key */
} cdc_col;

/* A published table, by the server's relation id. */
typedef struct cdc_rel {
    uint32_t id;
    char *qname;            /* "schema.table", as the records name it */
    char ident;             /* replica identity: d(efault), n(othing), f(ull), i(ndex) */
    int ncols;
    cdc_col *cols;
} cdc_rel;

/* One value of a tuple: kind 'n' (NULL), 'u' (unchanged TOAST), 't' (text). */
typedef struct cdc_val {
    char kind;
    const char *p;          /* inside the message; not NUL-terminated */
    uint32_t len;
} cdc_val;

typedef struct cdc_tuple {
    int n;
    cdc_val *v;             /* grown as needed; owned by the tuple */
    int cap;
} cdc_tuple;

/* Reads TupleData. Returns 0, or -1 (malformed, or out of memory). */
int cdc_read_tuple(cdc_reader *r, cdc_tuple *t);
void cdc_tuple_free(cdc_tuple *t);

/* Replaces rel's description with the Relation message in r (after its type byte).
 * Key columns are those the message flags (the replica identity's columns; the caller
 * corrects them under identity FULL, where every column is flagged). Returns 0, or -1;
 * rel is left empty (but valid) after a failure. */
int cdc_read_relation(cdc_reader *r, cdc_rel *rel);
void cdc_rel_free(cdc_rel *rel);

/* The JSON of one value in PostgreSQL's text output (DateStyle ISO, TimeZone UTC,
 * bytea_output hex): integers and floats as numbers (NaN, infinities as strings),
 * booleans, json/jsonb embedded, numeric as a string, timestamps in ISO 8601, bytea as
 * base64, anything else as its text. NULL on out of memory. */
json_t *cdc_value_json(uint32_t type, const char *text, size_t len);

/* The JSON object of t under rel: every column, or only key columns when keys_only.
 * A column left unchanged in TOAST is left out and its name appended to unchanged
 * (when not NULL). NULL on out of memory or when t does not fit rel. */
json_t *cdc_tuple_json(const cdc_rel *rel, const cdc_tuple *t, int keys_only,
                       json_t *unchanged);

/* The key object ({"id": 7}) of rel's key columns in t; json null when rel has no key
 * column or t lacks one. */
json_t *cdc_key_json(const cdc_rel *rel, const cdc_tuple *t);

/* "16/B374D848" */
void cdc_lsn_str(uint64_t lsn, char *out, size_t outlen);
/* Parses "16/B374D848". Returns 0, or -1. */
int cdc_lsn_parse(const char *s, uint64_t *lsn);
/* A PostgreSQL timestamp (microseconds since 2000-01-01 UTC) in ISO 8601 UTC:
 * "2024-05-01T12:00:00.123456Z". */
void cdc_ts_str(int64_t pg_us, char *out, size_t outlen);

/* A source position. Stream: the change (lsn = commit LSN of its transaction, i = its
 * index in the transaction from 1, s = the record within the change: a delete and its
 * tombstone, the tables of a TRUNCATE). Everything at or before it is in the log. i 0:
 * nothing of that transaction yet (the snapshot's consistent point). snapshot: a
 * snapshot record; the snapshot is not finished. */
typedef struct cdc_pos {
    int snapshot;
    uint64_t lsn;
    uint32_t i, s;
} cdc_pos;

/* -1, 0, 1 as a is before, at, after b (stream positions). */
int cdc_pos_cmp(const cdc_pos *a, const cdc_pos *b);
/* Writes the position as JSON text ({"lsn":"0/16B3748","i":3,"s":0}). */
void cdc_pos_str(const cdc_pos *p, char *out, size_t outlen);
/* Parses what cdc_pos_str wrote. Returns 0, or -1. */
int cdc_pos_parse(const void *data, size_t len, cdc_pos *p);

#endif

/* postgres_int.h - private to the postgres connectors. */
#ifndef SPOOL_POSTGRES_INT_H
#define SPOOL_POSTGRES_INT_H

#include <libpq-fe.h>

#include "spool/plugin.h"
#include "sql_map.h"
#include "sql_scan.h"

#define PG_MAX_PARTS 1024
/* The advisory lock (a bigint, "spool" in ASCII) under which sinks create tables. */
#define PG_DDL_LOCK "495807590252"

/* How a failed statement is to be treated. */
typedef enum pg_fail {
    PG_OK = 0,
    PG_ROW,      /* the data: a type error or a constraint (SQLSTATE class 22, 23) */
    PG_RETRY,    /* the connection or the server's state: try again later */
    PG_FATAL     /* anything else: the configuration or the schema is wrong */
} pg_fail;

/* Classifies res (NULL: no result at all). */
pg_fail pg_classify(PGconn *conn, const PGresult *res);

/* A one-line description of the failure in res (or of conn's last error) without any
 * password the connection string holds: "22P02: invalid input syntax ...". */
void pg_describe(PGconn *conn, const PGresult *res, char *out, size_t outlen);

/* Connects with dsn. Returns the connection, or NULL with the reason in err and
 * *retry set when the server may accept a later attempt (starting up, shutting down). */
PGconn *pg_connect(const char *dsn, int *retry, char *err, size_t errlen);

/* Keeps *conn connected: SPOOL_OK (with *fresh 1 when it had to connect again), or
 * SPOOL_RETRY (try later: the server is away; at_open only when it says it is starting
 * or full), or SPOOL_ERR (at open, a server that refuses us); the reason in err. */
spool_rc pg_reconnect(PGconn **conn, const char *dsn, int at_open, int *fresh, char *err,
                      size_t errlen);

/* Appends name quoted with PQescapeIdentifier. Returns 0, or -1. */
int pg_quote_ident(PGconn *conn, sql_buf *b, const char *name);

/* The offsets table: table is its name already quoted (PQescapeIdentifier). */

/* Creates the offsets table when missing. */
/* Appends CREATE TABLE IF NOT EXISTS for the offsets table (already quoted) to b. */
int pg_offsets_ddl(sql_buf *b, const char *table);

/* Reads the offsets stored for connector into offs[0..*n). */
pg_fail pg_offsets_load(PGconn *conn, const char *table, const char *connector,
                        sql_offset *offs, size_t *n, char *err, size_t errlen);

/* Stores offs[0..n) for connector in the caller's open transaction. */
pg_fail pg_offsets_store(PGconn *conn, const char *table, const char *connector,
                         const sql_offset *offs, size_t n, char *err, size_t errlen);

/* Runs sql (no parameters, no rows expected). */
pg_fail pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

/* Sends data[0..len) to "COPY ... FROM STDIN" statement copy_sql. */
pg_fail pg_copy(PGconn *conn, const char *copy_sql, const char *data, size_t len, char *err,
                size_t errlen);

/* One sink task. */
typedef struct pg_sink {
    PGconn *conn;
    const char *dsn, *table, *offsets_table;
    const char *const *keys;
    size_t nkeys;
    int upsert, create;
    sql_map map;
    sql_scan_plan plan;
    json_token *toks;
    char connector[512];
    sql_buf copy_sql;      /* COPY target (or stage) (cols) FROM STDIN */
    sql_buf merge_sql;     /* upsert: stage -> target, then empty the stage */
    sql_buf direct_sql;    /* upsert: COPY straight into the target (cols) FROM STDIN */
    unsigned direct_skip;  /* upsert: batches left to stage before trying direct again */
    unsigned direct_backoff;
    sql_buf rows;          /* the batch in COPY text format */
    size_t *line;          /* line[i]..line[i+1]: record i's row; empty when set aside */
    size_t line_cap;
    sql_offset done[PG_MAX_PARTS];   /* offsets committed in the database */
    size_t ndone;
    sql_offset offs[PG_MAX_PARTS];   /* offsets of the batch being written */
    size_t noffs;
    int staged;                      /* put() left a transaction for flush() to commit */
} pg_sink;

/* Writes recs[0..n) (but those marked in skip, already committed) inside the open
 * transaction with one COPY, encoding while sending; a record that cannot be encoded
 * (not JSON) is set aside with host->reject(). Keeps the encoded rows in s->rows and
 * s->line for pg_narrow_rows(). Returns PG_OK; PG_ROW when the server refused the
 * batch for a row's sake; PG_RETRY or PG_FATAL with the reason in err, and *rc set
 * when the failure is the host's (a refused reject()) or memory. */
pg_fail pg_copy_batch(const spool_host *host, spool_task *t, pg_sink *s,
                      const spool_record *const *recs, size_t n, const unsigned char *skip,
                      spool_rc *rc, char *err, size_t errlen);

/* After PG_ROW: rolls back, starts again, and writes the rows in halves under
 * savepoints so that only the rows the server refuses are set aside, with the
 * server's message. Returns PG_OK, or PG_RETRY or PG_FATAL with the reason in err. */
pg_fail pg_narrow_rows(const spool_host *host, spool_task *t, pg_sink *s,
                       const spool_record *const *recs, size_t n, char *err, size_t errlen);

#endif

/* postgres_offsets.c - the sink's consumed offsets, kept in the destination database.
 *
 * One row per (connector, topic, partition) with the next offset to read, written by
 * the transaction that writes the rows. open() reports them with host->seek(); after a
 * reconnect they are read again so that a batch whose COMMIT outcome was lost with the
 * connection is not written twice.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

static int table_sql(sql_buf *b, const char *before, const char *table, const char *after)
{
    /* table is already quoted (and schema-qualified) by the caller */
    return sql_buf_puts(b, before) | sql_buf_puts(b, table) | sql_buf_puts(b, after);
}

int pg_offsets_ddl(sql_buf *b, const char *table)
{
    return table_sql(b, "CREATE TABLE IF NOT EXISTS ", table,
                     " (connector text NOT NULL, topic text NOT NULL, partition integer NOT NULL,"
                     " next_offset bigint NOT NULL, PRIMARY KEY (connector, topic, partition))");
}

pg_fail pg_offsets_load(PGconn *conn, const char *table, const char *connector,
                        sql_offset *offs, size_t *n, char *err, size_t errlen)
{
    sql_buf b = {0};
    *n = 0;
    if (table_sql(&b, "SELECT topic, partition, next_offset FROM ", table,
                  " WHERE connector = $1") != 0) {
        snprintf(err, errlen, "out of memory");
        sql_buf_free(&b);
        return PG_FATAL;
    }
    const char *params[1] = {connector};
    PGresult *r = PQexecParams(conn, b.p, 1, NULL, params, NULL, NULL, 0);
    sql_buf_free(&b);
    pg_fail f = pg_classify(conn, r);
    if (f != PG_OK) {
        pg_describe(conn, r, err, errlen);
        PQclear(r);
        return f;
    }
    for (int i = 0; i < PQntuples(r) && *n < PG_MAX_PARTS; i++) {
        sql_offset *o = &offs[(*n)++];
        snprintf(o->topic, sizeof(o->topic), "%s", PQgetvalue(r, i, 0));
        o->partition = (int32_t)strtol(PQgetvalue(r, i, 1), NULL, 10);
        o->next = strtoll(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);
    return PG_OK;
}

/* Appends s as a quoted SQL literal (PQescapeLiteral). */
static int literal(PGconn *conn, sql_buf *b, const char *s)
{
    char *q = PQescapeLiteral(conn, s, strlen(s));
    if (q == NULL)
        return -1;
    int rc = sql_buf_puts(b, q);
    PQfreemem(q);
    return rc;
}

pg_fail pg_offsets_store(PGconn *conn, const char *table, const char *connector,
                          const sql_offset *offs, size_t n, char *err, size_t errlen)
{
    sql_buf b = {0}, topics = {0}, parts = {0}, nexts = {0};
    pg_fail f = PG_FATAL;
    int e = 0;
    e |= sql_buf_puts(&topics, "{") | sql_buf_puts(&parts, "{") | sql_buf_puts(&nexts, "{");
    for (size_t i = 0; i < n; i++) {
        char num[48];
        /* topic names are letters, digits, '.', '_', '-': nothing to escape in the
         * array; the whole array is escaped as a literal below all the same */
        e |= sql_buf_puts(&topics, i ? ",\"" : "\"") | sql_buf_puts(&topics, offs[i].topic) |
             sql_buf_puts(&topics, "\"");
        snprintf(num, sizeof(num), "%s%" PRId32, i ? "," : "", offs[i].partition);
        e |= sql_buf_puts(&parts, num);
        snprintf(num, sizeof(num), "%s%" PRId64, i ? "," : "", offs[i].next);
        e |= sql_buf_puts(&nexts, num);
    }
    e |= sql_buf_puts(&topics, "}") | sql_buf_puts(&parts, "}") | sql_buf_puts(&nexts, "}");
    /* Values go as escaped literals: one simple query, like the COPY before it. */
    e |= table_sql(&b, "INSERT INTO ", table,
                   " (connector, topic, partition, next_offset) SELECT ");
    e |= literal(conn, &b, connector) | sql_buf_puts(&b, ", unnest(") |
         literal(conn, &b, topics.p) | sql_buf_puts(&b, "::text[]), unnest(") |
         literal(conn, &b, parts.p) | sql_buf_puts(&b, "::integer[]), unnest(") |
         literal(conn, &b, nexts.p) |
         sql_buf_puts(&b, "::bigint[]) ON CONFLICT (connector, topic, partition) DO UPDATE"
                          " SET next_offset = EXCLUDED.next_offset");
    if (e != 0)
        snprintf(err, errlen, "out of memory");
    else
        f = pg_exec(conn, b.p, err, errlen);
    sql_buf_free(&b);
    sql_buf_free(&topics);
    sql_buf_free(&parts);
    sql_buf_free(&nexts);
    return f;
}

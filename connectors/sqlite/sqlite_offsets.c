/* sqlite_offsets.c - the sink's consumed offsets, kept in its own database.
 *
 * One row per (connector, topic, partition) holding the next offset to read, written in
 * the same transaction as the rows: after a crash the database holds both or neither,
 * and open() reports what it holds with host->seek().
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"

int sqlite_quote_ident(sql_buf *b, const char *name)
{
    if (sql_buf_put(b, "\"", 1) != 0)
        return -1;
    for (const char *p = name; *p; p++)
        if (sql_buf_put(b, p, 1) != 0 || (*p == '"' && sql_buf_put(b, "\"", 1) != 0))
            return -1;
    return sql_buf_put(b, "\"", 1);
}

static int run(sqlite3 *db, const char *table, const char *before, const char *after,
               sqlite3_stmt **stmt)
{
    sql_buf b = {0};
    int rc = SQLITE_NOMEM;
    if (sql_buf_puts(&b, before) == 0 && sqlite_quote_ident(&b, table) == 0 &&
        sql_buf_puts(&b, after) == 0)
        rc = stmt ? sqlite3_prepare_v2(db, b.p, -1, stmt, NULL)
                  : sqlite3_exec(db, b.p, NULL, NULL, NULL);
    sql_buf_free(&b);
    return rc;
}

int sqlite_offsets_init(sqlite3 *db, const char *table)
{
    return run(db, table, "CREATE TABLE IF NOT EXISTS ",
               " (connector TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
               " next_offset INTEGER NOT NULL, PRIMARY KEY (connector, topic, partition))",
               NULL);
}

spool_rc sqlite_offsets_seek(const spool_host *host, spool_task *t, sqlite3 *db,
                             const char *table, const char *connector)
{
    sqlite3_stmt *st = NULL;
    spool_rc out = SPOOL_OK;
    int rc = run(db, table, "SELECT topic, partition, next_offset FROM ",
                 " WHERE connector = ?1", &st);
    if (rc != SQLITE_OK) {
        host->set_error(t, "cannot read the offsets table: %s", sqlite3_errmsg(db));
        return rc == SQLITE_BUSY ? SPOOL_RETRY : SPOOL_ERR;
    }
    sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *topic = (const char *)sqlite3_column_text(st, 0);
        if (host->seek(t, topic, (int32_t)sqlite3_column_int(st, 1),
                       sqlite3_column_int64(st, 2)) != SPOOL_OK) {
            out = SPOOL_ERR;
            break;
        }
    }
    if (out == SPOOL_OK && rc != SQLITE_DONE) {
        host->set_error(t, "cannot read the offsets table: %s", sqlite3_errmsg(db));
        out = rc == SQLITE_BUSY ? SPOOL_RETRY : SPOOL_ERR;
    }
    sqlite3_finalize(st);
    return out;
}

int sqlite_offsets_prepare(sqlite3 *db, const char *table, sqlite3_stmt **stmt)
{
    return run(db, table, "INSERT INTO ",
               " (connector, topic, partition, next_offset) VALUES (?1, ?2, ?3, ?4)"
               " ON CONFLICT (connector, topic, partition) DO UPDATE SET"
               " next_offset = excluded.next_offset", stmt);
}

int sqlite_offsets_store(sqlite3_stmt *st, const char *connector, const sql_offset *offs,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, offs[i].topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, offs[i].partition);
        sqlite3_bind_int64(st, 4, offs[i].next);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

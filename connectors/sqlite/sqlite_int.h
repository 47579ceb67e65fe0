/* sqlite_int.h - private to the sqlite connectors. */
#ifndef SPOOL_SQLITE_INT_H
#define SPOOL_SQLITE_INT_H

#include <sqlite3.h>

#include "spool/plugin.h"
#include "sql_map.h"
#include "sql_scan.h"

/* Appends name quoted as an SQLite identifier ("a""b"). Returns 0, -1 on no memory. */
int sqlite_quote_ident(sql_buf *b, const char *name);

/* Creates the offsets table when missing. Returns an SQLite result code. */
int sqlite_offsets_init(sqlite3 *db, const char *table);

/* Reports every offset stored for connector with host->seek(). */
spool_rc sqlite_offsets_seek(const spool_host *host, spool_task *t, sqlite3 *db,
                             const char *table, const char *connector);

/* Prepares the statement that stores one partition's next offset. */
int sqlite_offsets_prepare(sqlite3 *db, const char *table, sqlite3_stmt **stmt);

/* Stores offs[0..n) for connector with the prepared statement. Returns an SQLite code. */
int sqlite_offsets_store(sqlite3_stmt *stmt, const char *connector, const sql_offset *offs,
                         size_t n);

#endif

/* postgres_sink.c - the postgres sink: JSON records into a table, exactly once.
 *
 *     sinks:
 *       warehouse:
 *         connector: postgres
 *         topics: [resource-events]
 *         config: {dsn: "${WAREHOUSE_DSN}", table: resource_events,
 *                  columns: ["id:bigint", "event", "meta.owner=owner"]}
 *
 * Transactional: each put() opens one PostgreSQL transaction that COPYs the batch's
 * rows (postgres_copy.c) and stores the next offset of every partition in the batch
 * (postgres_offsets.c); flush() commits it, after the runtime has committed the batch's
 * dead letters; open() reports the stored offsets with host->seek(). A lost connection
 * or a restarting server is SPOOL_RETRY: the runtime backs off and puts the batch again,
 * after which the sink reconnects and reads its offsets again, skipping records the
 * database already holds (a COMMIT whose answer was lost with the connection may have
 * happened).
 *
 * Identifiers are quoted with PQescapeIdentifier; values only ever travel as COPY data
 * or parameters. The dsn is a secret option, and every message passes through
 * pg_describe(), which blanks a password should one appear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

static const spool_host *host;

static const char *const mode_choices[] = {"insert", "upsert", NULL};

static const spool_option pg_sink_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "dsn",
     .flags = SPOOL_OPT_REQUIRED | SPOOL_OPT_SECRET,
     .doc = "libpq connection string or URI (secret: never printed)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "table", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Table the rows go to (any name: it is quoted)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "schema", .default_value = "",
     .doc = "Schema of the table and the offsets table; empty: the search_path."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "columns",
     .doc = "Column specs: COLUMN, COLUMN:TYPE or PATH=COLUMN:TYPE (PATH a dotted JSON path)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "json_column", .default_value = "",
     .doc = "jsonb column that receives the whole record value; empty: none."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "mode", .default_value = "insert",
     .choices = mode_choices,
     .doc = "insert (COPY into the table), or upsert (COPY into a stage, then ON CONFLICT DO UPDATE)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "key_columns",
     .doc = "Columns of the conflict key in upsert mode (a primary key or unique index)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "create_table", .default_value = "false",
     .doc = "Create the table from the column specs when missing."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "offsets_table",
     .default_value = "spool_offsets", .doc = "Table holding the consumed offsets."},
    {.name = NULL},
};

/* Appends schema.name (or name) quoted. */
static int qualified(PGconn *conn, sql_buf *b, spool_task *t, const char *name)
{
    const char *schema = host->opt_string(t, "schema");
    int e = 0;
    if (schema != NULL && *schema != '\0')
        e |= pg_quote_ident(conn, b, schema) | sql_buf_puts(b, ".");
    return e | pg_quote_ident(conn, b, name);
}

static int is_key(pg_sink *s, const char *name)
{
    for (size_t k = 0; k < s->nkeys; k++)
        if (strcmp(s->keys[k], name) == 0)
            return 1;
    return 0;
}

static int col_list(pg_sink *s, sql_buf *b, const char *prefix)
{
    int e = 0;
    for (size_t i = 0; i < s->map.n; i++)
        e |= sql_buf_puts(b, i ? ", " : "") | sql_buf_puts(b, prefix) |
             pg_quote_ident(s->conn, b, s->map.cols[i].name);
    return e;
}

static int key_list(pg_sink *s, sql_buf *b)
{
    int e = 0;
    for (size_t k = 0; k < s->nkeys; k++)
        e |= sql_buf_puts(b, k ? ", " : "") | pg_quote_ident(s->conn, b, s->keys[k]);
    return e;
}

/* Everything a fresh connection needs: tables, the stage, the statements' text, and
 * the offsets the database holds. */
static pg_fail pg_setup(spool_task *t, pg_sink *s, char *err, size_t errlen)
{
    sql_buf shared = {0}, ddl = {0}, otable = {0};
    pg_fail f = PG_FATAL;
    int e = 0;
    s->copy_sql.len = s->merge_sql.len = s->direct_sql.len = 0;
    e |= qualified(s->conn, &otable, t, s->offsets_table);
    /* Tables every task shares are created in one transaction under an advisory lock:
     * CREATE TABLE IF NOT EXISTS is not safe against itself, and the tasks of a sink
     * connect at the same moment (the loser would fail with 23505 on pg_type). */
    e |= sql_buf_puts(&shared, "SELECT pg_advisory_xact_lock(" PG_DDL_LOCK "); ") |
         pg_offsets_ddl(&shared, otable.p);
    if (s->create) {
        e |= sql_buf_puts(&shared, "; CREATE TABLE IF NOT EXISTS ") |
             qualified(s->conn, &shared, t, s->table) | sql_buf_puts(&shared, " (");
        for (size_t i = 0; i < s->map.n; i++)
            e |= sql_buf_puts(&shared, i ? ", " : "") |
                 pg_quote_ident(s->conn, &shared, s->map.cols[i].name) |
                 sql_buf_puts(&shared, " ") |
                 sql_buf_puts(&shared, sql_type_sql(s->map.cols[i].type, 1));
        if (s->nkeys > 0)
            e |= sql_buf_puts(&shared, ", PRIMARY KEY (") | key_list(s, &shared) |
                 sql_buf_puts(&shared, ")");
        e |= sql_buf_puts(&shared, ")");
    }
    if (s->upsert) {
        /* The stage has the table's column types, so COPY judges values as the table
         * would, plus the record's place in the batch. */
        e |= sql_buf_puts(&ddl, "CREATE TEMP TABLE IF NOT EXISTS spool_stage ON COMMIT "
                                "DELETE ROWS AS SELECT ") |
             col_list(s, &ddl, "") | sql_buf_puts(&ddl, " FROM ") |
             qualified(s->conn, &ddl, t, s->table) |
             sql_buf_puts(&ddl, " WITH NO DATA; ALTER TABLE spool_stage ADD COLUMN "
                                "IF NOT EXISTS spool_seq bigserial");
        /* spool_seq numbers the rows in the order COPY reads them: the batch's order. */
        e |= sql_buf_puts(&s->copy_sql, "COPY spool_stage (") | col_list(s, &s->copy_sql, "") |
             sql_buf_puts(&s->copy_sql, ") FROM STDIN");
        e |= sql_buf_puts(&s->direct_sql, "COPY ") |
             qualified(s->conn, &s->direct_sql, t, s->table) |
             sql_buf_puts(&s->direct_sql, " (") | col_list(s, &s->direct_sql, "") |
             sql_buf_puts(&s->direct_sql, ") FROM STDIN");
        e |= sql_buf_puts(&s->merge_sql, "INSERT INTO ") |
             qualified(s->conn, &s->merge_sql, t, s->table) |
             sql_buf_puts(&s->merge_sql, " (") | col_list(s, &s->merge_sql, "") |
             sql_buf_puts(&s->merge_sql, ") SELECT DISTINCT ON (") | key_list(s, &s->merge_sql) |
             sql_buf_puts(&s->merge_sql, ") ") | col_list(s, &s->merge_sql, "") |
             sql_buf_puts(&s->merge_sql, " FROM spool_stage ORDER BY ") |
             key_list(s, &s->merge_sql) |
             sql_buf_puts(&s->merge_sql, ", spool_seq DESC ON CONFLICT (") |
             key_list(s, &s->merge_sql) | sql_buf_puts(&s->merge_sql, ") DO ");
        int any = 0;
        for (size_t i = 0; i < s->map.n; i++) {
            if (is_key(s, s->map.cols[i].name))
                continue;
            e |= sql_buf_puts(&s->merge_sql, any ? ", " : "UPDATE SET ") |
                 pg_quote_ident(s->conn, &s->merge_sql, s->map.cols[i].name) |
                 sql_buf_puts(&s->merge_sql, " = EXCLUDED.") |
                 pg_quote_ident(s->conn, &s->merge_sql, s->map.cols[i].name);
            any = 1;
        }
        e |= sql_buf_puts(&s->merge_sql, any ? "; TRUNCATE spool_stage" : "NOTHING; "
                                                                          "TRUNCATE spool_stage");
    } else {
        e |= sql_buf_puts(&s->copy_sql, "COPY ") | qualified(s->conn, &s->copy_sql, t, s->table) |
             sql_buf_puts(&s->copy_sql, " (") | col_list(s, &s->copy_sql, "") |
             sql_buf_puts(&s->copy_sql, ") FROM STDIN");
    }
    if (e != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((f = pg_exec(s->conn, shared.p, err, errlen)) != PG_OK)
        goto out;
    if (ddl.len > 0 && (f = pg_exec(s->conn, ddl.p, err, errlen)) != PG_OK)
        goto out;
    f = pg_offsets_load(s->conn, otable.p, s->connector, s->done, &s->ndone, err, errlen);
out:
    sql_buf_free(&shared);
    sql_buf_free(&ddl);
    sql_buf_free(&otable);
    return f;
}

/* Connects (again) when there is no connection. */
static spool_rc pg_ensure(spool_task *t, pg_sink *s, int at_open)
{
    char err[1024];
    int fresh;
    spool_rc rc = pg_reconnect(&s->conn, s->dsn, at_open, &fresh, err, sizeof(err));
    if (rc != SPOOL_OK) {
        host->set_error(t, "%s", err);
        return rc;
    }
    if (!fresh)
        return SPOOL_OK;
    pg_fail f = pg_setup(t, s, err, sizeof(err));
    if (f != PG_OK) {
        host->set_error(t, "%s", err);
        if (f == PG_RETRY) {
            PQfinish(s->conn);
            s->conn = NULL;
            return SPOOL_RETRY;
        }
        return SPOOL_ERR;
    }
    if (!at_open)
        host->log(t, SPOOL_LOG_INFO, "reconnected to PostgreSQL");
    return SPOOL_OK;
}

static spool_rc pg_sink_open(spool_task *t, void **state)
{
    pg_sink *s = calloc(1, sizeof(*s));
    char err[512];
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->dsn = host->opt_string(t, "dsn");
    s->table = host->opt_string(t, "table");
    s->offsets_table = host->opt_string(t, "offsets_table");
    s->upsert = host->opt_int(t, "mode") == 1;
    s->create = (int)host->opt_int(t, "create_table");
    s->keys = host->opt_list(t, "key_columns", &s->nkeys);
    sql_connector_id(host->task_name(t), s->connector, sizeof(s->connector));
    size_t ncols = 0;
    const char *const *cols = host->opt_list(t, "columns", &ncols);
    if (sql_map_parse(&s->map, cols, ncols, host->opt_string(t, "json_column"), err,
                      sizeof(err)) != 0) {
        host->set_error(t, "%s", err);
        return SPOOL_EINVAL;
    }
    sql_scan_prepare(&s->plan, &s->map);
    s->toks = calloc(s->map.n, sizeof(*s->toks));
    if (s->toks == NULL)
        return SPOOL_ENOMEM;
    if (s->upsert && s->nkeys == 0) {
        host->set_error(t, "mode upsert needs key_columns");
        return SPOOL_EINVAL;
    }
    for (size_t k = 0; k < s->nkeys; k++)
        if (sql_map_find(&s->map, s->keys[k]) < 0) {
            host->set_error(t, "key column \"%s\" is not one of the mapped columns",
                            s->keys[k]);
            return SPOOL_EINVAL;
        }
    spool_rc rc = pg_ensure(t, s, 1);
    if (rc != SPOOL_OK)
        return rc;
    for (size_t i = 0; i < s->ndone; i++)
        if (host->seek(t, s->done[i].topic, s->done[i].partition, s->done[i].next) != SPOOL_OK)
            return SPOOL_ERR;
    return SPOOL_OK;
}

static int64_t committed_next(pg_sink *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->ndone; i++)
        if (s->done[i].partition == partition && strcmp(s->done[i].topic, topic) == 0)
            return s->done[i].next;
    return 0;
}

static spool_rc pg_sink_put(spool_task *t, void *state, const spool_record *const *recs,
                            size_t n)
{
    pg_sink *s = state;
    char err[1024];
    spool_rc rc = pg_ensure(t, s, 0);
    if (rc != SPOOL_OK)
        return rc;
    unsigned char *skip = calloc(n ? n : 1, 1);
    sql_buf otable = {0};
    pg_fail f = PG_OK;
    if (skip == NULL)
        return SPOOL_ENOMEM;
    s->noffs = 0;
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        const spool_record *r = recs[i];
        skip[i] = r->offset < committed_next(s, r->topic, r->partition);
        fresh += !skip[i];
        if (!skip[i] && sql_offset_note(s->offs, &s->noffs, PG_MAX_PARTS, r->topic,
                                        r->partition, r->offset) != 0) {
            host->set_error(t, "more than %d partitions in one batch", PG_MAX_PARTS);
            rc = SPOOL_ERR;
            goto out;
        }
    }
    if (fresh == 0)
        goto out;
    if (qualified(s->conn, &otable, t, s->offsets_table) != 0) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    spool_rc hrc = SPOOL_OK;
    if ((f = pg_exec(s->conn, "BEGIN", err, sizeof(err))) == PG_OK &&
        (f = pg_copy_batch(host, t, s, recs, n, skip, &hrc, err, sizeof(err))) == PG_ROW)
        f = pg_narrow_rows(host, t, s, recs, n, err, sizeof(err));
    if (hrc != SPOOL_OK) {
        PGresult *r = PQexec(s->conn, "ROLLBACK");
        PQclear(r);
        rc = hrc;
        goto out;
    }
    if (f == PG_OK)
        f = pg_offsets_store(s->conn, otable.p, s->connector, s->offs, s->noffs, err,
                             sizeof(err));
    if (f == PG_OK) {
        s->staged = 1;
        goto out;
    }
    host->set_error(t, "%s", err);
    if (f == PG_RETRY || PQstatus(s->conn) != CONNECTION_OK) {
        /* The outcome of the transaction is unknown: reconnect, and learn it from the
         * offsets table before writing again. */
        PQfinish(s->conn);
        s->conn = NULL;
        rc = SPOOL_RETRY;
    } else {
        PGresult *r = PQexec(s->conn, "ROLLBACK");
        PQclear(r);
        rc = SPOOL_ERR;
    }
out:
    free(skip);
    sql_buf_free(&otable);
    return rc;
}

/* Commits what put() staged, and only then counts its offsets as done. */
static spool_rc pg_sink_flush(spool_task *t, void *state)
{
    pg_sink *s = state;
    char err[1024];
    if (!s->staged)
        return SPOOL_OK;
    s->staged = 0;
    pg_fail f = pg_exec(s->conn, "COMMIT", err, sizeof(err));
    if (f == PG_OK) {
        for (size_t i = 0; i < s->noffs; i++)
            if (sql_offset_note(s->done, &s->ndone, PG_MAX_PARTS, s->offs[i].topic,
                                s->offs[i].partition, s->offs[i].next - 1) != 0) {
                host->set_error(t, "more than %d partitions", PG_MAX_PARTS);
                return SPOOL_ERR;
            }
        return SPOOL_OK;
    }
    host->set_error(t, "%s", err);
    if (f == PG_RETRY || PQstatus(s->conn) != CONNECTION_OK) {
        /* The COMMIT may have happened: reconnect, and learn it from the offsets table
         * when the runtime puts the batch again. */
        PQfinish(s->conn);
        s->conn = NULL;
        return SPOOL_RETRY;
    }
    PGresult *r = PQexec(s->conn, "ROLLBACK");
    PQclear(r);
    return SPOOL_ERR;
}

static void pg_sink_close(spool_task *t, void *state)
{
    pg_sink *s = state;
    if (s == NULL)
        return;
    PQfinish(s->conn);
    sql_map_free(&s->map);
    free(s->toks);
    sql_buf_free(&s->copy_sql);
    sql_buf_free(&s->merge_sql);
    sql_buf_free(&s->direct_sql);
    sql_buf_free(&s->rows);
    free(s->line);
    free(s);
}

static const spool_plugin pg_sink_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "postgres", .version = "0.1.0",
    .description = "Writes JSON records into a PostgreSQL table with COPY, exactly once "
                   "(transactional).",
    .kind = SPOOL_KIND_SINK, .delivery = SPOOL_DELIVERY_TRANSACTIONAL,
    .options = pg_sink_options,
    .open = pg_sink_open, .close = pg_sink_close, .put = pg_sink_put, .flush = pg_sink_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &pg_sink_plugin;
}

/* sqlite_sink.c - the sqlite sink: JSON records into a table, exactly once.
 *
 *     sinks:
 *       billing:
 *         connector: sqlite
 *         topics: [resource-events]
 *         config: {path: billing.db, table: events,
 *                  columns: ["id:bigint", "event", "meta.owner=owner:text"]}
 *
 * Transactional: each put() opens one SQLite transaction (BEGIN IMMEDIATE) that
 * inserts the batch's rows with one prepared statement and stores the next offset of
 * every partition in the batch in the offsets table; flush() commits it, after the
 * runtime has committed the batch's dead letters; open() reports the stored offsets
 * with host->seek(). A crash anywhere leaves the rows and the offsets together, so
 * nothing is lost or doubled. A failed commit rolls back and the runtime puts the
 * batch again.
 *
 * The database runs in WAL mode with synchronous=FULL (NORMAL only when asked: it may
 * lose the last transactions on power loss, never corrupt). A database locked beyond
 * busy_timeout is SPOOL_RETRY. A record that cannot be converted to its column's type
 * or that the database refuses (a constraint) is set aside with host->reject(), and
 * the rest of the batch goes on: SQLite undoes only the failed statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

static const spool_host *host;

static const char *const mode_choices[] = {"insert", "upsert", NULL};
static const char *const sync_choices[] = {"full", "normal", NULL};

static const spool_option sqlite_sink_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Database file; created when missing."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "table", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Table the rows go to (any name: it is quoted)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "columns",
     .doc = "Column specs: COLUMN, COLUMN:TYPE or PATH=COLUMN:TYPE (PATH a dotted JSON path)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "json_column", .default_value = "",
     .doc = "Column that receives the whole record value as JSON text; empty: none."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "mode", .default_value = "insert",
     .choices = mode_choices,
     .doc = "insert, or upsert: INSERT ... ON CONFLICT (key_columns) DO UPDATE."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "key_columns",
     .doc = "Columns of the conflict key in upsert mode (a primary key or unique index)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "create_table", .default_value = "false",
     .doc = "Create the table from the column specs when missing."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "offsets_table",
     .default_value = "spool_offsets", .doc = "Table holding the consumed offsets."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "synchronous", .default_value = "full",
     .choices = sync_choices,
     .doc = "full (durable on power loss) or normal (faster; may lose the last commits)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "busy_timeout",
     .default_value = "5s", .min = 0, .max = 3600000,
     .doc = "How long to wait for a locked database before retrying later."},
    {.name = NULL},
};

#define MAX_PARTS 1024

typedef struct sqlite_sink {
    sqlite3 *db;
    sqlite3_stmt *insert, *offsets;
    sql_map map;
    sql_scan_plan plan;
    json_token *toks;
    sql_buf scratch;
    char connector[512];
    const char *path;
    sql_offset offs[MAX_PARTS];
    size_t noffs;
} sqlite_sink;

/* SQLITE_BUSY and SQLITE_LOCKED mean someone else holds the database: try later. */
static spool_rc sqlite_fail(spool_task *t, sqlite_sink *s, int rc, const char *what)
{
    host->set_error(t, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? SPOOL_RETRY
                                                                       : SPOOL_ERR;
}

static int build_sql(sqlite_sink *s, spool_task *t, int upsert, int create, sql_buf *ins,
                     sql_buf *ddl)
{
    const char *table = host->opt_string(t, "table");
    size_t nkeys = 0;
    const char *const *keys = host->opt_list(t, "key_columns", &nkeys);
    if (upsert && nkeys == 0) {
        host->set_error(t, "mode upsert needs key_columns");
        return -1;
    }
    for (size_t k = 0; k < nkeys; k++)
        if (sql_map_find(&s->map, keys[k]) < 0) {
            host->set_error(t, "key column \"%s\" is not one of the mapped columns", keys[k]);
            return -1;
        }
    int e = sql_buf_puts(ins, "INSERT INTO ") | sqlite_quote_ident(ins, table) |
            sql_buf_puts(ins, " (");
    for (size_t i = 0; i < s->map.n; i++)
        e |= sql_buf_puts(ins, i ? ", " : "") | sqlite_quote_ident(ins, s->map.cols[i].name);
    e |= sql_buf_puts(ins, ") VALUES (");
    for (size_t i = 0; i < s->map.n; i++)
        e |= sql_buf_puts(ins, i ? ", ?" : "?");
    e |= sql_buf_puts(ins, ")");
    if (upsert) {
        e |= sql_buf_puts(ins, " ON CONFLICT (");
        for (size_t k = 0; k < nkeys; k++)
            e |= sql_buf_puts(ins, k ? ", " : "") | sqlite_quote_ident(ins, keys[k]);
        e |= sql_buf_puts(ins, ") DO ");
        int any = 0;
        for (size_t i = 0; i < s->map.n; i++) {
            int is_key = 0;
            for (size_t k = 0; k < nkeys; k++)
                is_key |= strcmp(keys[k], s->map.cols[i].name) == 0;
            if (is_key)
                continue;
            e |= sql_buf_puts(ins, any ? ", " : "UPDATE SET ") |
                 sqlite_quote_ident(ins, s->map.cols[i].name) | sql_buf_puts(ins, " = excluded.") |
                 sqlite_quote_ident(ins, s->map.cols[i].name);
            any = 1;
        }
        if (!any)
            e |= sql_buf_puts(ins, "NOTHING");
    }
    if (create) {
        e |= sql_buf_puts(ddl, "CREATE TABLE IF NOT EXISTS ") | sqlite_quote_ident(ddl, table) |
             sql_buf_puts(ddl, " (");
        for (size_t i = 0; i < s->map.n; i++)
            e |= sql_buf_puts(ddl, i ? ", " : "") | sqlite_quote_ident(ddl, s->map.cols[i].name) |
                 sql_buf_puts(ddl, " ") | sql_buf_puts(ddl, sql_type_sql(s->map.cols[i].type, 0));
        if (nkeys > 0) {
            e |= sql_buf_puts(ddl, ", PRIMARY KEY (");
            for (size_t k = 0; k < nkeys; k++)
                e |= sql_buf_puts(ddl, k ? ", " : "") | sqlite_quote_ident(ddl, keys[k]);
            e |= sql_buf_puts(ddl, ")");
        }
        e |= sql_buf_puts(ddl, ")");
    }
    if (e != 0) {
        host->set_error(t, "out of memory");
        return -1;
    }
    return 0;
}

static spool_rc sqlite_sink_open(spool_task *t, void **state)
{
    sqlite_sink *s = calloc(1, sizeof(*s));
    sql_buf ins = {0}, ddl = {0};
    char err[512], pragma[128];
    spool_rc out = SPOOL_ERR;
    int rc;
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->path = host->opt_string(t, "path");
    sql_connector_id(host->task_name(t), s->connector, sizeof(s->connector));
    size_t ncols = 0;
    const char *const *cols = host->opt_list(t, "columns", &ncols);
    if (sql_map_parse(&s->map, cols, ncols, host->opt_string(t, "json_column"), err,
                      sizeof(err)) != 0) {
        host->set_error(t, "%s", err);
        return SPOOL_EINVAL;
    }
    sql_scan_prepare(&s->plan, &s->map);
    if ((s->toks = calloc(s->map.n, sizeof(*s->toks))) == NULL) {
        out = SPOOL_ENOMEM;
        goto done;
    }
    int upsert = host->opt_int(t, "mode") == 1;
    if (build_sql(s, t, upsert, (int)host->opt_int(t, "create_table"), &ins, &ddl) != 0) {
        out = SPOOL_EINVAL;
        goto done;
    }
    rc = sqlite3_open_v2(s->path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        host->set_error(t, "cannot open %s: %s", s->path,
                        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto done;
    }
    sqlite3_busy_timeout(s->db, (int)host->opt_int(t, "busy_timeout"));
    snprintf(pragma, sizeof(pragma), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s",
             host->opt_int(t, "synchronous") == 1 ? "NORMAL" : "FULL");
    if ((rc = sqlite3_exec(s->db, pragma, NULL, NULL, NULL)) != SQLITE_OK) {
        out = sqlite_fail(t, s, rc, "cannot set WAL mode");
        goto done;
    }
    if (ddl.len > 0 && (rc = sqlite3_exec(s->db, ddl.p, NULL, NULL, NULL)) != SQLITE_OK) {
        out = sqlite_fail(t, s, rc, "cannot create the table");
        goto done;
    }
    const char *otable = host->opt_string(t, "offsets_table");
    if ((rc = sqlite_offsets_init(s->db, otable)) != SQLITE_OK) {
        out = sqlite_fail(t, s, rc, "cannot create the offsets table");
        goto done;
    }
    if ((rc = sqlite3_prepare_v2(s->db, ins.p, -1, &s->insert, NULL)) != SQLITE_OK) {
        out = sqlite_fail(t, s, rc, "cannot prepare the insert");
        goto done;
    }
    if ((rc = sqlite_offsets_prepare(s->db, otable, &s->offsets)) != SQLITE_OK) {
        out = sqlite_fail(t, s, rc, "cannot prepare the offsets statement");
        goto done;
    }
    out = sqlite_offsets_seek(host, t, s->db, otable, s->connector);
done:
    sql_buf_free(&ins);
    sql_buf_free(&ddl);
    return out;
}

static void bind_value(sqlite_sink *s, int i, const sql_value *v, sqlite3_destructor_type how)
{
    switch (v->kind) {
    case SQL_V_NULL: sqlite3_bind_null(s->insert, i); break;
    case SQL_V_INT: sqlite3_bind_int64(s->insert, i, v->i); break;
    case SQL_V_REAL: sqlite3_bind_double(s->insert, i, v->d); break;
    case SQL_V_TEXT: sqlite3_bind_text(s->insert, i, v->s, (int)v->len, how); break;
    }
}

/* Binds one record's columns from the scanned tokens: text that points into the
 * record is bound without a copy (the record outlives the statement's step). Returns
 * 0, -1 with the reason in err, or 1 when the record needs the slow path. */
static int bind_fast(sqlite_sink *s, const spool_record *r, char *err, size_t errlen)
{
    int rc = sql_scan(&s->plan, r->value, r->value_len, s->toks, err, errlen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < s->map.n; i++) {
        const sql_column *c = &s->map.cols[i];
        sql_value v;
        s->scratch.len = 0;
        if (c->path == NULL) {
            sqlite3_bind_text(s->insert, (int)i + 1, r->value, (int)r->value_len, SQLITE_STATIC);
            continue;
        }
        if (sql_tok_value(c, &s->toks[i], &s->scratch, &v, err, errlen) != 0)
            return -1;
        int in_record = v.kind == SQL_V_TEXT && v.s >= (const char *)r->value &&
                        v.s < (const char *)r->value + r->value_len;
        bind_value(s, (int)i + 1, &v, in_record ? SQLITE_STATIC : SQLITE_TRANSIENT);
    }
    return 0;
}

/* Binds one record's columns. Returns 0, or -1 with the reason in err. */
static int bind_record(sqlite_sink *s, const spool_record *r, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = r->value ? json_loadb(r->value, r->value_len, JSON_DECODE_ANY, &jerr)
                            : NULL;
    int rc = 0;
    if (root == NULL) {
        snprintf(err, errlen, r->value ? "value is not JSON: %s" : "value is null",
                 jerr.text);
        return -1;
    }
    for (size_t i = 0; i < s->map.n && rc == 0; i++) {
        const sql_column *c = &s->map.cols[i];
        sql_value v;
        if (c->path == NULL) {
            sqlite3_bind_text(s->insert, (int)i + 1, r->value, (int)r->value_len,
                              SQLITE_TRANSIENT);
            continue;
        }
        if (sql_value_from_json(c, sql_json_path(root, c->path), &v, err, errlen) != 0) {
            rc = -1;
            break;
        }
        bind_value(s, (int)i + 1, &v, SQLITE_TRANSIENT);
        sql_value_free(&v);
    }
    json_decref(root);
    return rc;
}

static spool_rc sqlite_sink_put(spool_task *t, void *state, const spool_record *const *recs,
                                size_t n)
{
    sqlite_sink *s = state;
    char err[512];
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(t, s, rc, "cannot begin a transaction");
    s->noffs = 0;
    spool_rc out = SPOOL_OK;
    for (size_t i = 0; i < n && out == SPOOL_OK; i++) {
        const spool_record *r = recs[i];
        if (sql_offset_note(s->offs, &s->noffs, MAX_PARTS, r->topic, r->partition,
                            r->offset) != 0) {
            host->set_error(t, "more than %d partitions in one batch", MAX_PARTS);
            out = SPOOL_ERR;
            break;
        }
        int how = r->value != NULL && s->plan.ok ? bind_fast(s, r, err, sizeof(err)) : 1;
        if (how > 0)
            how = bind_record(s, r, err, sizeof(err));
        if (how != 0) {
            sqlite3_clear_bindings(s->insert);
            if (host->reject(t, r, err) != SPOOL_OK)
                out = SPOOL_ERR;
            continue;
        }
        rc = sqlite3_step(s->insert);
        if (rc != SQLITE_DONE) {
            int prim = rc & 0xff;
            snprintf(err, sizeof(err), "%s", sqlite3_errmsg(s->db));
            sqlite3_reset(s->insert);
            if (prim == SQLITE_CONSTRAINT || prim == SQLITE_MISMATCH || prim == SQLITE_TOOBIG ||
                prim == SQLITE_RANGE) {
                if (host->reject(t, r, err) != SPOOL_OK)
                    out = SPOOL_ERR;
            } else {
                out = sqlite_fail(t, s, rc, "cannot insert");
            }
            continue;
        }
        sqlite3_reset(s->insert);
    }
    sqlite3_clear_bindings(s->insert);
    if (out == SPOOL_OK && (rc = sqlite_offsets_store(s->offsets, s->connector, s->offs,
                                                      s->noffs)) != SQLITE_OK)
        out = sqlite_fail(t, s, rc, "cannot store the offsets");
    if (out != SPOOL_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return out;
}

/* Commits what put() staged. On failure the transaction is rolled back: the runtime
 * puts the batch again (SPOOL_RETRY) or the connector fails. */
static spool_rc sqlite_sink_flush(spool_task *t, void *state)
{
    sqlite_sink *s = state;
    if (sqlite3_get_autocommit(s->db))
        return SPOOL_OK; /* nothing staged */
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return SPOOL_OK;
    spool_rc out = sqlite_fail(t, s, rc, "cannot commit");
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return out;
}

static void sqlite_sink_close(spool_task *t, void *state)
{
    sqlite_sink *s = state;
    if (s == NULL)
        return;
    sqlite3_finalize(s->insert);
    sqlite3_finalize(s->offsets);
    sqlite3_close(s->db);
    sql_map_free(&s->map);
    free(s->toks);
    sql_buf_free(&s->scratch);
    free(s);
}

static const spool_plugin sqlite_sink_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "sqlite", .version = "0.1.0",
    .description = "Writes JSON records into an SQLite table, exactly once (transactional).",
    .kind = SPOOL_KIND_SINK, .delivery = SPOOL_DELIVERY_TRANSACTIONAL,
    .options = sqlite_sink_options,
    .open = sqlite_sink_open, .close = sqlite_sink_close, .put = sqlite_sink_put,
    .flush = sqlite_sink_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &sqlite_sink_plugin;
}

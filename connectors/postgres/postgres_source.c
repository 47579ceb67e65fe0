/* postgres_source.c - the postgres source: new rows of a table, in order, exactly once.
 *
 *     sources:
 *       orders:
 *         connector: postgres
 *         topic: orders
 *         config: {dsn: "${SHOP_DSN}", table: orders, mode: incrementing,
 *                  incrementing_column: id}
 *
 * Incremental query mode, as Kafka Connect's JDBC source: `incrementing` reads rows
 * whose strictly increasing column is above the last one read; `timestamp` reads rows
 * whose (timestamp_column, incrementing_column) pair is above the last one read, so a
 * row updated later (a newer timestamp) comes again. The source position is that last
 * value as a JSON array of the columns' text ([id] or [ts, id]), committed by the
 * runtime with the records, so a restart resumes right after the last row committed.
 * Each row becomes a JSON object that keeps types: integers and floats as numbers,
 * booleans, null, json/jsonb embedded, numeric as a string (no precision lost),
 * timestamps in ISO 8601 (UTC for timestamptz), everything else as text.
 *
 * Rows must become visible in the column's order: a row committed later with a
 * smaller value than one already read is never seen (as with the JDBC source), so
 * use a sequence written by a single writer or a timestamp set at commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "postgres_int.h"

static const spool_host *host;

static const char *const src_modes[] = {"incrementing", "timestamp", NULL};

static const spool_option pg_source_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "dsn",
     .flags = SPOOL_OPT_REQUIRED | SPOOL_OPT_SECRET,
     .doc = "libpq connection string or URI (secret: never printed)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "table", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Table to read (any name: it is quoted)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "schema", .default_value = "",
     .doc = "Schema of the table; empty: the search_path."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "mode", .default_value = "incrementing",
     .choices = src_modes,
     .doc = "incrementing: by a strictly increasing column; timestamp: by timestamp then id."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "incrementing_column",
     .default_value = "id", .doc = "The strictly increasing column (the tie-breaker in timestamp mode)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "timestamp_column",
     .default_value = "updated_at", .doc = "The last-modified column of timestamp mode."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "key_column", .default_value = "",
     .doc = "Column whose value becomes the record key; empty: no key."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "poll_interval",
     .default_value = "1s", .min = 10, .max = 86400000,
     .doc = "How often to look for new rows when the last query found none left."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch", .default_value = "1000",
     .min = 1, .max = 1000000, .doc = "Rows read per query at most."},
    {.name = NULL},
};

typedef struct pg_source {
    PGconn *conn;
    const char *dsn;
    int ts_mode;
    int64_t interval_ms, batch, idle_until;
    sql_buf first, next;   /* the queries: from the start, and after a position */
    char *pos[2];          /* the last value(s) read, as text; NULL before any */
    const char *id, *ts, *key;
} pg_source;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int build_queries(spool_task *t, pg_source *s)
{
    sql_buf from = {0}, id = {0}, ts = {0};
    const char *schema = host->opt_string(t, "schema");
    int e = sql_buf_puts(&from, "SELECT * FROM ");
    if (schema && *schema)
        e |= pg_quote_ident(s->conn, &from, schema) | sql_buf_puts(&from, ".");
    e |= pg_quote_ident(s->conn, &from, host->opt_string(t, "table"));
    e |= pg_quote_ident(s->conn, &id, s->id) | pg_quote_ident(s->conn, &ts, s->ts);
    s->first.len = s->next.len = 0;
    if (e != 0)
        goto out;
    if (s->ts_mode) {
        /* A row-value comparison: rows after (ts, id); the parameters are typed by
         * the columns, so any orderable types work. */
        e |= sql_buf_puts(&s->first, from.p) | sql_buf_puts(&s->first, " ORDER BY ") |
             sql_buf_puts(&s->first, ts.p) | sql_buf_puts(&s->first, ", ") |
             sql_buf_puts(&s->first, id.p) | sql_buf_puts(&s->first, " LIMIT $1");
        e |= sql_buf_puts(&s->next, from.p) | sql_buf_puts(&s->next, " WHERE (") |
             sql_buf_puts(&s->next, ts.p) | sql_buf_puts(&s->next, ", ") |
             sql_buf_puts(&s->next, id.p) | sql_buf_puts(&s->next, ") > ($2, $3) ORDER BY ") |
             sql_buf_puts(&s->next, ts.p) | sql_buf_puts(&s->next, ", ") |
             sql_buf_puts(&s->next, id.p) | sql_buf_puts(&s->next, " LIMIT $1");
    } else {
        e |= sql_buf_puts(&s->first, from.p) | sql_buf_puts(&s->first, " ORDER BY ") |
             sql_buf_puts(&s->first, id.p) | sql_buf_puts(&s->first, " LIMIT $1");
        e |= sql_buf_puts(&s->next, from.p) | sql_buf_puts(&s->next, " WHERE ") |
             sql_buf_puts(&s->next, id.p) | sql_buf_puts(&s->next, " > $2 ORDER BY ") |
             sql_buf_puts(&s->next, id.p) | sql_buf_puts(&s->next, " LIMIT $1");
    }
out:
    sql_buf_free(&from);
    sql_buf_free(&id);
    sql_buf_free(&ts);
    return e;
}

static spool_rc ensure(spool_task *t, pg_source *s, int at_open)
{
    char err[1024];
    int fresh;
    spool_rc rc = pg_reconnect(&s->conn, s->dsn, at_open, &fresh, err, sizeof(err));
    if (rc != SPOOL_OK) {
        host->set_error(t, "%s", err);
        return rc;
    }
    if (fresh && build_queries(t, s) != 0)
        return SPOOL_ENOMEM;
    return SPOOL_OK;
}

static spool_rc pg_source_open(spool_task *t, void **state)
{
    pg_source *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->dsn = host->opt_string(t, "dsn");
    s->ts_mode = host->opt_int(t, "mode") == 1;
    s->interval_ms = host->opt_int(t, "poll_interval");
    s->batch = host->opt_int(t, "batch");
    s->id = host->opt_string(t, "incrementing_column");
    s->ts = host->opt_string(t, "timestamp_column");
    s->key = host->opt_string(t, "key_column");
    const void *pos;
    size_t plen = 0;
    host->source_position(t, &pos, &plen);
    if (plen > 0) {
        json_t *p = json_loadb(pos, plen, 0, NULL);
        size_t want = s->ts_mode ? 2 : 1;
        if (!json_is_array(p) || json_array_size(p) != want) {
            json_decref(p);
            host->set_error(t, "the stored position does not fit mode %s",
                            s->ts_mode ? "timestamp" : "incrementing");
            return SPOOL_EINVAL;
        }
        for (size_t i = 0; i < want; i++)
            s->pos[i] = strdup(json_string_value(json_array_get(p, i)) ?
                               json_string_value(json_array_get(p, i)) : "");
        json_decref(p);
    }
    return ensure(t, s, 1);
}

/* A column's value as JSON, by its type's OID (from pg_type.h). */
static json_t *value_json(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 20: case 21: case 23: case 26: /* int8, int2, int4, oid */
        return json_integer(strtoll(v, NULL, 10));
    case 700: case 701: { /* float4, float8: NaN and Infinity are not JSON numbers */
        char *end;
        double d = strtod(v, &end);
        return (*end == '\0' && d == d && d - d == 0) ? json_real(d) : json_string(v);
    }
    case 16: /* bool */
        return json_boolean(v[0] == 't');
    case 114: case 3802: { /* json, jsonb */
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        return j ? j : json_string(v);
    }
    case 1114: case 1184: { /* timestamp, timestamptz: "2024-05-01 12:00:00+00" */
        char iso[80];
        snprintf(iso, sizeof(iso), "%s", v);
        char *sp = strchr(iso, ' ');
        if (sp)
            *sp = 'T';
        size_t n = strlen(iso);
        /* "+00" -> "+00:00" */
        if (n > 3 && (iso[n - 3] == '+' || iso[n - 3] == '-') && n + 3 < sizeof(iso))
            strcat(iso, ":00");
        return json_string(iso);
    }
    default: /* numeric (exact, as text), text, dates, uuids, ... */
        return json_string(v);
    }
}

static spool_rc pg_source_poll(spool_task *t, void *state, int timeout_ms)
{
    pg_source *s = state;
    char err[1024], lim[32];
    int64_t now = now_ms();
    if (now < s->idle_until) {
        int64_t wait = s->idle_until - now;
        if (wait > timeout_ms)
            wait = timeout_ms;
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000};
        nanosleep(&ts, NULL);
        return SPOOL_OK;
    }
    spool_rc rc = ensure(t, s, 0);
    if (rc != SPOOL_OK)
        return rc;
    snprintf(lim, sizeof(lim), "%lld", (long long)s->batch);
    const char *params[3] = {lim, s->pos[0], s->pos[1]};
    int np = s->pos[0] == NULL ? 1 : s->ts_mode ? 3 : 2;
    PGresult *r = PQexecParams(s->conn, s->pos[0] ? s->next.p : s->first.p, np, NULL, params,
                               NULL, NULL, 0);
    pg_fail f = pg_classify(s->conn, r);
    if (f != PG_OK) {
        pg_describe(s->conn, r, err, sizeof(err));
        PQclear(r);
        host->set_error(t, "cannot read the table: %s", err);
        if (f == PG_RETRY) {
            PQfinish(s->conn);
            s->conn = NULL;
            return SPOOL_RETRY;
        }
        return SPOOL_ERR;
    }
    int ncols = PQnfields(r), idc = -1;
    int tsc = -1, keyc = -1;
    for (int c = 0; c < ncols; c++) {
        if (strcmp(PQfname(r, c), s->id) == 0)
            idc = c;
        if (strcmp(PQfname(r, c), s->ts) == 0)
            tsc = c;
        if (s->key && *s->key && strcmp(PQfname(r, c), s->key) == 0)
            keyc = c;
    }
    if (idc < 0 || (s->ts_mode && tsc < 0)) {
        host->set_error(t, "the table has no column \"%s\"", idc < 0 ? s->id : s->ts);
        PQclear(r);
        return SPOOL_ERR;
    }
    int rows = PQntuples(r);
    rc = SPOOL_OK;
    for (int i = 0; i < rows && rc == SPOOL_OK; i++) {
        json_t *obj = json_object(), *pos = json_array();
        for (int c = 0; c < ncols; c++)
            json_object_set_new(obj, PQfname(r, c), value_json(r, i, c));
        if (s->ts_mode)
            json_array_append_new(pos, json_string(PQgetvalue(r, i, tsc)));
        json_array_append_new(pos, json_string(PQgetvalue(r, i, idc)));
        char *value = json_dumps(obj, JSON_COMPACT), *ptext = json_dumps(pos, JSON_COMPACT);
        if (value == NULL || ptext == NULL) {
            rc = SPOOL_ENOMEM;
        } else {
            spool_record rec = {.struct_size = sizeof(rec), .value = value,
                                .value_len = strlen(value), .partition = -1};
            if (keyc >= 0 && !PQgetisnull(r, i, keyc)) {
                rec.key = PQgetvalue(r, i, keyc);
                rec.key_len = (size_t)PQgetlength(r, i, keyc);
            }
            rc = host->emit(t, &rec, ptext, strlen(ptext));
        }
        if (rc == SPOOL_OK) {
            for (int k = 0; k < 2; k++) {
                free(s->pos[k]);
                s->pos[k] = NULL;
            }
            if (s->ts_mode) {
                s->pos[0] = strdup(PQgetvalue(r, i, tsc));
                s->pos[1] = strdup(PQgetvalue(r, i, idc));
            } else {
                s->pos[0] = strdup(PQgetvalue(r, i, idc));
            }
            if (s->pos[0] == NULL || (s->ts_mode && s->pos[1] == NULL))
                rc = SPOOL_ENOMEM;
        }
        free(value);
        free(ptext);
        json_decref(obj);
        json_decref(pos);
    }
    PQclear(r);
    if (rc == SPOOL_OK && rows < s->batch)
        s->idle_until = now_ms() + s->interval_ms;
    return rc;
}

static void pg_source_close(spool_task *t, void *state)
{
    pg_source *s = state;
    if (s == NULL)
        return;
    PQfinish(s->conn);
    sql_buf_free(&s->first);
    sql_buf_free(&s->next);
    free(s->pos[0]);
    free(s->pos[1]);
    free(s);
}

static const spool_plugin pg_source_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "postgres", .version = "0.1.0",
    .description = "Reads new rows of a PostgreSQL table incrementally (by id or timestamp).",
    .kind = SPOOL_KIND_SOURCE, .options = pg_source_options,
    .open = pg_source_open, .close = pg_source_close, .poll = pg_source_poll,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &pg_source_plugin;
}

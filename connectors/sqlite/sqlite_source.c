/* sqlite_source.c - the sqlite source: new rows of a table, in order, exactly once.
 *
 *     sources:
 *       orders:
 *         connector: sqlite
 *         topic: orders
 *         config: {path: shop.db, table: orders, mode: incrementing,
 *                  incrementing_column: id}
 *
 * Incremental query mode, as Kafka Connect's JDBC source: `incrementing` reads rows
 * whose strictly increasing column is above the last one read; `timestamp` reads rows
 * whose (timestamp_column, incrementing_column) pair is above the last one, so rows
 * updated later (with a newer timestamp) come again. The source position is that last
 * value, as a JSON array ([id] or [ts, id]), committed by the runtime with the records.
 * Each row becomes one JSON object, column name -> value (integers and reals as
 * numbers, text as strings, NULL as null, blobs as hex strings).
 *
 * Rows must become visible in the column's order (an id assigned at commit, or a
 * single writer): a row committed later with a smaller value than one already read is
 * never seen, as with the JDBC source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite_int.h"

static const spool_host *host;

static const char *const src_modes[] = {"incrementing", "timestamp", NULL};

static const spool_option sqlite_source_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Database file to read."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "table", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Table to read (any name: it is quoted)."},
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
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "busy_timeout",
     .default_value = "5s", .min = 0, .max = 3600000,
     .doc = "How long to wait for a locked database before retrying later."},
    {.name = NULL},
};

typedef struct sqlite_source {
    sqlite3 *db;
    sqlite3_stmt *first, *next;
    int ts_mode, key_col;
    int64_t interval_ms, batch, idle_until;
    json_t *pos;           /* [id] or [ts, id]; NULL before the first row */
    const char *path;
} sqlite_source;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static spool_rc src_fail(spool_task *t, sqlite_source *s, int rc, const char *what)
{
    host->set_error(t, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? SPOOL_RETRY
                                                                       : SPOOL_ERR;
}

static spool_rc sqlite_source_open(spool_task *t, void **state)
{
    sqlite_source *s = calloc(1, sizeof(*s));
    sql_buf q1 = {0}, q2 = {0};
    spool_rc out = SPOOL_ERR;
    int rc;
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->path = host->opt_string(t, "path");
    s->ts_mode = host->opt_int(t, "mode") == 1;
    s->interval_ms = host->opt_int(t, "poll_interval");
    s->batch = host->opt_int(t, "batch");
    s->key_col = -1;
    const char *id = host->opt_string(t, "incrementing_column");
    const char *ts = host->opt_string(t, "timestamp_column");
    const void *pos;
    size_t plen = 0;
    host->source_position(t, &pos, &plen);
    if (plen > 0) {
        s->pos = json_loadb(pos, plen, 0, NULL);
        if (!json_is_array(s->pos) || json_array_size(s->pos) != (s->ts_mode ? 2u : 1u)) {
            host->set_error(t, "the stored position does not fit mode %s",
                            s->ts_mode ? "timestamp" : "incrementing");
            return SPOOL_EINVAL;
        }
    }
    int e = sql_buf_puts(&q1, "SELECT * FROM ") |
            sqlite_quote_ident(&q1, host->opt_string(t, "table"));
    e |= sql_buf_put(&q2, q1.p, q1.len);
    if (s->ts_mode) {
        e |= sql_buf_puts(&q2, " WHERE ") | sqlite_quote_ident(&q2, ts) |
             sql_buf_puts(&q2, " > ?1 OR (") | sqlite_quote_ident(&q2, ts) |
             sql_buf_puts(&q2, " = ?1 AND ") | sqlite_quote_ident(&q2, id) |
             sql_buf_puts(&q2, " > ?2)");
        const char *tail[] = {" ORDER BY ", ", ", " LIMIT ?3"};
        for (int i = 0; i < 2; i++) {
            sql_buf *b = i ? &q2 : &q1;
            e |= sql_buf_puts(b, tail[0]) | sqlite_quote_ident(b, ts) | sql_buf_puts(b, tail[1]) |
                 sqlite_quote_ident(b, id) | sql_buf_puts(b, tail[2]);
        }
    } else {
        e |= sql_buf_puts(&q2, " WHERE ") | sqlite_quote_ident(&q2, id) |
             sql_buf_puts(&q2, " > ?1");
        for (int i = 0; i < 2; i++) {
            sql_buf *b = i ? &q2 : &q1;
            e |= sql_buf_puts(b, " ORDER BY ") | sqlite_quote_ident(b, id) |
                 sql_buf_puts(b, " LIMIT ?3");
        }
    }
    if (e != 0) {
        out = SPOOL_ENOMEM;
        goto done;
    }
    rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        host->set_error(t, "cannot open %s: %s", s->path,
                        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto done;
    }
    sqlite3_busy_timeout(s->db, (int)host->opt_int(t, "busy_timeout"));
    if ((rc = sqlite3_prepare_v2(s->db, q1.p, -1, &s->first, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(s->db, q2.p, -1, &s->next, NULL)) != SQLITE_OK) {
        out = src_fail(t, s, rc, "cannot prepare the query");
        goto done;
    }
    const char *key = host->opt_string(t, "key_column");
    if (key != NULL && *key != '\0') {
        for (int i = 0; i < sqlite3_column_count(s->first); i++)
            if (strcmp(sqlite3_column_name(s->first, i), key) == 0)
                s->key_col = i;
        if (s->key_col < 0) {
            host->set_error(t, "key_column \"%s\" is not a column of the table", key);
            out = SPOOL_EINVAL;
            goto done;
        }
    }
    out = SPOOL_OK;
done:
    sql_buf_free(&q1);
    sql_buf_free(&q2);
    return out;
}

static json_t *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return json_stringn((const char *)sqlite3_column_text(st, i),
                            (size_t)sqlite3_column_bytes(st, i));
    case SQLITE_BLOB: {
        const unsigned char *p = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        char *hex = malloc(n * 2 + 1);
        json_t *j;
        if (hex == NULL)
            return NULL;
        for (size_t k = 0; k < n; k++)
            snprintf(hex + k * 2, 3, "%02x", p[k]);
        hex[n * 2] = '\0';
        j = json_string(hex);
        free(hex);
        return j;
    }
    default: return json_null();
    }
}

static void bind_pos(sqlite3_stmt *st, int param, json_t *v)
{
    if (json_is_integer(v))
        sqlite3_bind_int64(st, param, json_integer_value(v));
    else if (json_is_real(v))
        sqlite3_bind_double(st, param, json_real_value(v));
    else if (json_is_string(v))
        sqlite3_bind_text(st, param, json_string_value(v), (int)json_string_length(v),
                          SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, param);
}

static spool_rc sqlite_source_poll(spool_task *t, void *state, int timeout_ms)
{
    sqlite_source *s = state;
    int64_t now = now_ms();
    if (now < s->idle_until) {
        int64_t wait = s->idle_until - now;
        if (wait > timeout_ms)
            wait = timeout_ms;
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000};
        nanosleep(&ts, NULL);
        return SPOOL_OK;
    }
    sqlite3_stmt *st = s->pos ? s->next : s->first;
    if (s->pos) {
        bind_pos(st, 1, json_array_get(s->pos, 0));
        if (s->ts_mode)
            bind_pos(st, 2, json_array_get(s->pos, 1));
    }
    sqlite3_bind_int64(st, 3, s->batch);
    int ncols = sqlite3_column_count(st), rc;
    int idcol = -1, tscol = -1;
    const char *id = host->opt_string(t, "incrementing_column");
    const char *tsname = host->opt_string(t, "timestamp_column");
    for (int i = 0; i < ncols; i++) {
        if (strcmp(sqlite3_column_name(st, i), id) == 0)
            idcol = i;
        if (strcmp(sqlite3_column_name(st, i), tsname) == 0)
            tscol = i;
    }
    if (idcol < 0 || (s->ts_mode && tscol < 0)) {
        host->set_error(t, "the table has no column \"%s\"", idcol < 0 ? id : tsname);
        sqlite3_reset(st);
        return SPOOL_ERR;
    }
    int64_t rows = 0;
    spool_rc out = SPOOL_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *obj = json_object();
        json_t *pos = json_array();
        for (int i = 0; i < ncols; i++)
            json_object_set_new(obj, sqlite3_column_name(st, i), column_json(st, i));
        if (s->ts_mode)
            json_array_append_new(pos, column_json(st, tscol));
        json_array_append_new(pos, column_json(st, idcol));
        char *value = json_dumps(obj, JSON_COMPACT);
        char *ptext = json_dumps(pos, JSON_COMPACT);
        spool_record rec = {.struct_size = sizeof(rec), .partition = -1};
        if (value == NULL || ptext == NULL) {
            out = SPOOL_ENOMEM;
        } else {
            rec.value = value;
            rec.value_len = strlen(value);
            if (s->key_col >= 0 && sqlite3_column_type(st, s->key_col) != SQLITE_NULL) {
                rec.key = sqlite3_column_text(st, s->key_col);
                rec.key_len = (size_t)sqlite3_column_bytes(st, s->key_col);
            }
            out = host->emit(t, &rec, ptext, strlen(ptext));
        }
        free(value);
        free(ptext);
        json_decref(obj);
        if (out != SPOOL_OK) {
            json_decref(pos);
            break;
        }
        json_decref(s->pos);
        s->pos = pos;
        rows++;
    }
    if (out == SPOOL_OK && rc != SQLITE_DONE)
        out = src_fail(t, s, rc, "cannot read the table");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (out == SPOOL_OK && rows < s->batch)
        s->idle_until = now_ms() + s->interval_ms;
    return out;
}

static void sqlite_source_close(spool_task *t, void *state)
{
    sqlite_source *s = state;
    if (s == NULL)
        return;
    sqlite3_finalize(s->first);
    sqlite3_finalize(s->next);
    sqlite3_close(s->db);
    json_decref(s->pos);
    free(s);
}

static const spool_plugin sqlite_source_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "sqlite", .version = "0.1.0",
    .description = "Reads new rows of an SQLite table incrementally (by id or timestamp).",
    .kind = SPOOL_KIND_SOURCE, .options = sqlite_source_options,
    .open = sqlite_source_open, .close = sqlite_source_close, .poll = sqlite_source_poll,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &sqlite_source_plugin;
}

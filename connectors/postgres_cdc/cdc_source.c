/* cdc_source.c - the postgres-cdc source: every insert, update and delete of chosen
 * tables, from the write-ahead log by logical replication (pgoutput), exactly once.
 *
 *     sources:
 *       shop:
 *         connector: postgres-cdc
 *         topic: shop-changes
 *         config: {dsn: "${SHOP_DSN}", tables: [public.orders, public.items]}
 *
 * Two connections: a replication connection (replication=database) that creates the
 * slot and streams it, and a plain one for the publication, the snapshot, heartbeats
 * and the slot's lag. On first start the slot is created with an exported snapshot;
 * the tables are read in a REPEATABLE READ transaction that imports it ("read"
 * records), and streaming starts at the slot's consistent point, so that every change
 * is in the snapshot or in the stream, never both and never neither.
 *
 * Positions. Each record's source position names the change exactly: the commit LSN
 * of its transaction, its index in the transaction and the record within the change
 * (cdc_int.h). The runtime commits it with the records; only then (commit()) does the
 * slot's confirmed flush LSN move, and only to the commit LSN of the transaction
 * holding the last durable change, so that the server sends that transaction again on
 * a restart and the changes already in the log are skipped by position. When every
 * record emitted is durable and no transaction is open, the slot may move on to the
 * end of the last transaction or to the server's position in a keepalive: nothing
 * between is ours. Reading never moves the slot.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdc_int.h"
#include "postgres_int.h"

static const spool_host *host;

static const char *const snapshot_modes[] = {"initial", "never", NULL};

static const spool_option cdc_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "dsn",
     .flags = SPOOL_OPT_REQUIRED | SPOOL_OPT_SECRET,
     .doc = "libpq connection string or URI of a role with REPLICATION (secret: never printed)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "tables", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Tables to capture, as schema.table (public when no schema is given)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "slot", .default_value = "",
     .doc = "Replication slot ([a-z0-9_]); empty: spool_ and the connector's name."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "publication", .default_value = "",
     .doc = "Publication ([a-z0-9_]); empty: the slot's name."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "create_publication",
     .default_value = "true",
     .doc = "Create the publication, or add missing tables to it (needs table ownership)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "snapshot", .default_value = "initial",
     .choices = snapshot_modes,
     .doc = "initial: existing rows first (op read), then changes; never: changes only."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "tombstones", .default_value = "false",
     .doc = "After each delete, a record with the key and a null value (compacted topics)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "heartbeat_interval",
     .default_value = "10s", .min = 50, .max = 3600000,
     .doc = "How often a quiet stream sends a heartbeat and moves the slot on."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "heartbeat_message",
     .default_value = "true",
     .doc = "Heartbeats write a logical message (pg_logical_emit_message) so the slot moves."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "max_lag", .default_value = "1GiB",
     .min = 1, .max = INT64_MAX,
     .doc = "Warn when the slot holds more WAL than this (checked every heartbeat)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch", .default_value = "5000",
     .min = 1, .max = 1000000, .doc = "Records emitted per poll at most (snapshot rows per fetch)."},
    {.name = NULL},
};

enum { ST_SETUP, ST_SNAPSHOT, ST_STREAM };

typedef struct cdc_table {
    char *schema, *name;
} cdc_table;

typedef struct cdc_src {
    const char *dsn;
    char slot[64], pub[64];
    cdc_table *tables;
    size_t ntables;
    int create_pub, snapshot_initial, tombstones, hb_message;
    int64_t hb_ms, max_lag, batch;
    PGconn *repl, *sql;
    int st;

    /* Positions. last: the last record emitted (the runtime commits it or stops), and
     * what a (re)started stream skips up to. durable: the last one commit() named. */
    cdc_pos last, durable;
    int have_last, have_durable;
    uint64_t acked;        /* the flush LSN last sent */
    uint64_t safe_lsn;     /* all before it delivered: confirmable when drained */

    /* The transaction being streamed. */
    int in_tx;
    uint64_t tx_lsn;
    uint32_t tx_xid, tx_i;
    int64_t tx_ts;

    cdc_rel *rels;
    size_t nrels;
    cdc_tuple t_old, t_new;

    /* The snapshot. */
    uint64_t cp;           /* the slot's consistent point */
    size_t snap_table;
    int cursor_open, snap_cols;
    cdc_rel snap_rel;
    char *held_key, *held_value;   /* the last row read, emitted once the next is */
    size_t held_key_len;

    int64_t next_tick, lag_warned_at;
    int hb_failed, emitted_now;
} cdc_src;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Connections -------------------------------------------------------------------- */

static void drop_repl(cdc_src *s)
{
    PQfinish(s->repl);
    s->repl = NULL;
    s->in_tx = 0;
}

static void drop_sql(cdc_src *s)
{
    PQfinish(s->sql);
    s->sql = NULL;
    s->cursor_open = 0;
}

/* Starts over from the last record emitted: the next poll sets up again. */
static spool_rc lost(cdc_src *s)
{
    drop_repl(s);
    drop_sql(s);
    s->st = ST_SETUP;
    return SPOOL_RETRY;
}

static spool_rc ensure_sql(spool_task *t, cdc_src *s, int at_open)
{
    char err[1024];
    int fresh;
    spool_rc rc = pg_reconnect(&s->sql, s->dsn, at_open, &fresh, err, sizeof(err));
    if (rc != SPOOL_OK) {
        host->set_error(t, "%s", err);
        return rc;
    }
    if (fresh) {
        PGresult *r = PQexec(s->sql, "SET bytea_output = hex; SET IntervalStyle = iso_8601");
        PQclear(r);
    }
    return SPOOL_OK;
}

/* The replication connection (replication=database), with the session settings the
 * decoded values' text depends on. */
static spool_rc connect_repl(spool_task *t, cdc_src *s)
{
    const char *keys[] = {"dbname", "replication", NULL};
    const char *vals[] = {s->dsn, "database", NULL};
    drop_repl(s);
    s->repl = PQconnectdbParams(keys, vals, 1);
    if (s->repl == NULL)
        return SPOOL_ENOMEM;
    if (PQstatus(s->repl) != CONNECTION_OK) {
        char why[1024];
        pg_describe(s->repl, NULL, why, sizeof(why));
        drop_repl(s);
        int denied = strstr(why, "replication") != NULL || strstr(why, "authentication") ||
                     strstr(why, "pg_hba.conf") || strstr(why, "permission");
        host->set_error(t, "cannot open a replication connection: %s%s", why,
                        denied ? " (the role needs the REPLICATION attribute, and pg_hba.conf "
                                 "must allow it; see docs/connectors/postgres-cdc.md)" : "");
        return denied ? SPOOL_ERR : SPOOL_RETRY;
    }
    static const char *const sets[] = {"SET DateStyle = ISO", "SET TimeZone = 'UTC'",
                                       "SET extra_float_digits = 3", "SET bytea_output = hex",
                                       "SET IntervalStyle = iso_8601", NULL};
    for (int i = 0; sets[i]; i++) {
        char err[1024];
        pg_fail f = pg_exec(s->repl, sets[i], err, sizeof(err));
        if (f != PG_OK) {
            host->set_error(t, "cannot prepare the replication session (%s): %s", sets[i], err);
            drop_repl(s);
            return f == PG_RETRY ? SPOOL_RETRY : SPOOL_ERR;
        }
    }
    return SPOOL_OK;
}

/* Fails the poll with the statement's error: SPOOL_RETRY (connections dropped) when
 * the server is away or busy (a slot still held by a dying walsender: 55006), else
 * SPOOL_ERR. */
static spool_rc sql_failed(spool_task *t, cdc_src *s, PGconn *c, PGresult *r, const char *what)
{
    char err[1024];
    pg_describe(c, r, err, sizeof(err));
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    pg_fail f = pg_classify(c, r);
    PQclear(r);
    host->set_error(t, "%s: %s", what, err);
    if (f == PG_RETRY || (state && strcmp(state, "55006") == 0))
        return lost(s);
    return SPOOL_ERR;
}

/* ---- Status updates ----------------------------------------------------------------- */

static int drained(const cdc_src *s)
{
    return !s->have_last || (s->have_durable && !s->durable.snapshot && !s->last.snapshot &&
                             cdc_pos_cmp(&s->last, &s->durable) == 0);
}

/* The flush LSN the slot may confirm now. */
static uint64_t ack_lsn(const cdc_src *s)
{
    uint64_t a = s->acked;
    if (s->have_durable && !s->durable.snapshot && s->durable.lsn > a)
        a = s->durable.lsn;
    if (s->st == ST_STREAM && drained(s)) {
        uint64_t d = s->in_tx ? s->tx_lsn : s->safe_lsn;
        if (d > a)
            a = d;
    }
    return a;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* Sends a Standby Status Update: written, flushed and applied all at the ack LSN. */
static int send_status(cdc_src *s, int reply)
{
    if (s->repl == NULL || s->st != ST_STREAM)
        return 0;
    uint64_t a = ack_lsn(s);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t pgnow = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - CDC_PG_EPOCH_US;
    unsigned char m[34];
    m[0] = 'r';
    put64(m + 1, a);
    put64(m + 9, a);
    put64(m + 17, a);
    put64(m + 25, (uint64_t)pgnow);
    m[33] = (unsigned char)reply;
    if (PQputCopyData(s->repl, (const char *)m, sizeof(m)) != 1 || PQflush(s->repl) < 0)
        return -1;
    s->acked = a;
    return 0;
}

/* After a failed status update: the stream is gone; the next poll starts over. */
static spool_rc status_failed(spool_task *t, cdc_src *s)
{
    char err[1024];
    pg_describe(s->repl, NULL, err, sizeof(err));
    host->set_error(t, "the replication stream ended: cannot send a status update: %s", err);
    return lost(s);
}

/* ---- Setup: publication, slot, snapshot --------------------------------------------- */

static int add_qualified(PGconn *c, sql_buf *b, const cdc_table *tb)
{
    return pg_quote_ident(c, b, tb->schema) | sql_buf_puts(b, ".") |
           pg_quote_ident(c, b, tb->name);
}

static spool_rc ensure_publication(spool_task *t, cdc_src *s)
{
    const char *p1[1] = {s->pub};
    PGresult *r = PQexecParams(s->sql,
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 "
        "UNION ALL SELECT NULL, NULL FROM pg_publication WHERE pubname = $1", 1, NULL, p1,
        NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(t, s, s->sql, r, "cannot read the publication");
    int exists = PQntuples(r) > 0;
    sql_buf missing = {0};
    int nmissing = 0, e = 0;
    for (size_t i = 0; i < s->ntables; i++) {
        int found = 0;
        for (int k = 0; k < PQntuples(r) && !found; k++)
            found = !PQgetisnull(r, k, 0) && strcmp(PQgetvalue(r, k, 0), s->tables[i].schema) == 0 &&
                    strcmp(PQgetvalue(r, k, 1), s->tables[i].name) == 0;
        if (!found) {
            e |= (nmissing++ ? sql_buf_puts(&missing, ", ") : 0) |
                 add_qualified(s->sql, &missing, &s->tables[i]);
        }
    }
    PQclear(r);
    spool_rc rc = SPOOL_OK;
    if (e != 0) {
        rc = SPOOL_ENOMEM;
    } else if (nmissing > 0 && !s->create_pub) {
        host->set_error(t, "publication %s %s (%s); create it, or set create_publication: true",
                        s->pub, exists ? "lacks tables" : "does not exist", missing.p);
        rc = SPOOL_ERR;
    } else if (nmissing > 0) {
        sql_buf q = {0};
        e = sql_buf_puts(&q, exists ? "ALTER PUBLICATION " : "CREATE PUBLICATION ") |
            pg_quote_ident(s->sql, &q, s->pub) |
            sql_buf_puts(&q, exists ? " ADD TABLE " : " FOR TABLE ") | sql_buf_puts(&q, missing.p);
        if (e != 0) {
            rc = SPOOL_ENOMEM;
        } else {
            r = PQexec(s->sql, q.p);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                rc = sql_failed(t, s, s->sql, r, "cannot create the publication");
            else
                PQclear(r);
            if (rc == SPOOL_OK)
                host->log(t, SPOOL_LOG_INFO, "publication %s %s: %s", s->pub,
                          exists ? "extended with" : "created for", missing.p);
        }
        sql_buf_free(&q);
    }
    sql_buf_free(&missing);
    return rc;
}

/* The slot as the server has it: *exists, and its state. */
static spool_rc read_slot(spool_task *t, cdc_src *s, int *exists)
{
    const char *p1[1] = {s->slot};
    PGresult *r = PQexecParams(s->sql,
        "SELECT plugin, coalesce(wal_status, ''), d.datname = current_database() "
        "FROM pg_replication_slots LEFT JOIN pg_database d ON d.oid = datoid "
        "WHERE slot_name = $1", 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(t, s, s->sql, r, "cannot read the replication slot");
    *exists = PQntuples(r) > 0;
    spool_rc rc = SPOOL_OK;
    if (*exists && (PQgetisnull(r, 0, 0) || strcmp(PQgetvalue(r, 0, 0), "pgoutput") != 0 ||
                    strcmp(PQgetvalue(r, 0, 2), "t") != 0)) {
        host->set_error(t, "replication slot %s exists but is not a pgoutput slot of this "
                        "database; choose another slot name", s->slot);
        rc = SPOOL_ERR;
    } else if (*exists && strcmp(PQgetvalue(r, 0, 1), "lost") == 0) {
        host->set_error(t, "replication slot %s was invalidated by the server (it fell behind "
                        "max_slot_wal_keep_size): changes were lost. Drop the slot "
                        "(SELECT pg_drop_replication_slot('%s')) and clear this connector's "
                        "position to take a new snapshot; see docs/connectors/postgres-cdc.md",
                        s->slot, s->slot);
        rc = SPOOL_ERR;
    }
    PQclear(r);
    return rc;
}

static spool_rc drop_slot(spool_task *t, cdc_src *s)
{
    const char *p1[1] = {s->slot};
    PGresult *r = PQexecParams(s->sql, "SELECT pg_drop_replication_slot($1)", 1, NULL, p1,
                               NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(t, s, s->sql, r, "cannot drop the unfinished slot");
    PQclear(r);
    return SPOOL_OK;
}

/* Creates the slot on the replication connection; with export, imports its snapshot
 * into a REPEATABLE READ transaction on the plain connection. */
static spool_rc create_slot(spool_task *t, cdc_src *s, int export)
{
    char q[256], err[1024];
    snprintf(q, sizeof(q), "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput %s", s->slot,
             export ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
    PGresult *r = PQexec(s->repl, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return sql_failed(t, s, s->repl, r, "cannot create the replication slot");
    if (cdc_lsn_parse(PQgetvalue(r, 0, 1), &s->cp) != 0) {
        host->set_error(t, "the server answered CREATE_REPLICATION_SLOT with an LSN spool "
                        "cannot read: %s", PQgetvalue(r, 0, 1));
        PQclear(r);
        return SPOOL_ERR;
    }
    char snap[128];
    snprintf(snap, sizeof(snap), "%s", PQgetisnull(r, 0, 2) ? "" : PQgetvalue(r, 0, 2));
    host->log(t, SPOOL_LOG_INFO, "replication slot %s created at %s", s->slot,
              PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!export)
        return SPOOL_OK;
    pg_fail f = pg_exec(s->sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
                        sizeof(err));
    if (f == PG_OK) {
        char *lit = PQescapeLiteral(s->sql, snap, strlen(snap));
        snprintf(q, sizeof(q), "SET TRANSACTION SNAPSHOT %s", lit ? lit : "''");
        PQfreemem(lit);
        f = pg_exec(s->sql, q, err, sizeof(err));
    }
    if (f != PG_OK) {
        host->set_error(t, "cannot import the slot's snapshot: %s", err);
        lost(s);
        return f == PG_FATAL ? SPOOL_ERR : SPOOL_RETRY;
    }
    return SPOOL_OK;
}

static spool_rc start_streaming(spool_task *t, cdc_src *s, uint64_t from)
{
    char q[512], lsn[32];
    cdc_lsn_str(from, lsn, sizeof(lsn));
    snprintf(q, sizeof(q), "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', "
             "publication_names '\"%s\"')", s->slot, lsn, s->pub);
    PGresult *r = PQexec(s->repl, q);
    if (PQresultStatus(r) != PGRES_COPY_BOTH)
        return sql_failed(t, s, s->repl, r, "cannot start streaming the slot");
    PQclear(r);
    s->st = ST_STREAM;
    s->in_tx = 0;
    s->next_tick = 0;
    host->log(t, SPOOL_LOG_INFO, "streaming slot %s from %s", s->slot, lsn);
    return send_status(s, 0) == 0 ? SPOOL_OK : status_failed(t, s);
}

static spool_rc setup(spool_task *t, cdc_src *s)
{
    spool_rc rc = ensure_sql(t, s, 0);
    if (rc != SPOOL_OK)
        return rc;
    if ((rc = ensure_publication(t, s)) != SPOOL_OK)
        return rc;
    int exists = 0;
    if ((rc = read_slot(t, s, &exists)) != SPOOL_OK)
        return rc;
    int streaming = s->have_last && !s->last.snapshot;
    if (streaming && !exists) {
        char lsn[32];
        cdc_lsn_str(s->last.lsn, lsn, sizeof(lsn));
        host->set_error(t, "replication slot %s is gone (dropped, or this is a promoted "
                        "standby that never had it) while the log holds changes up to %s: "
                        "changes since may be lost. To start again with a new snapshot, "
                        "clear this connector's position (see docs/connectors/postgres-cdc.md)",
                        s->slot, lsn);
        return SPOOL_ERR;
    }
    if ((rc = connect_repl(t, s)) != SPOOL_OK)
        return rc;
    if (streaming || (exists && !s->snapshot_initial))
        return start_streaming(t, s, ack_lsn(s));
    if (!s->snapshot_initial)
        return (rc = create_slot(t, s, 0)) != SPOOL_OK ? rc : start_streaming(t, s, s->cp);
    if (exists) {
        host->log(t, SPOOL_LOG_WARN, "replication slot %s exists but the snapshot it was made "
                  "for did not finish (or this connector has no position): dropping it and "
                  "taking the snapshot again; rows already read come again", s->slot);
        if ((rc = drop_slot(t, s)) != SPOOL_OK)
            return rc;
    }
    if ((rc = create_slot(t, s, 1)) != SPOOL_OK)
        return rc;
    s->st = ST_SNAPSHOT;
    s->snap_table = 0;
    s->cursor_open = 0;
    free(s->held_key);
    free(s->held_value);
    s->held_key = s->held_value = NULL;
    return SPOOL_OK;
}

/* ---- Emitting ----------------------------------------------------------------------- */

static spool_rc emit_one(spool_task *t, cdc_src *s, const char *key, size_t key_len,
                         const char *value, int64_t ts_ms, const cdc_pos *pos)
{
    char ptext[128];
    cdc_pos_str(pos, ptext, sizeof(ptext));
    spool_record rec = {.struct_size = sizeof(rec), .key = key, .key_len = key_len,
                        .value = value, .value_len = value ? strlen(value) : 0,
                        .timestamp_ms = ts_ms, .partition = -1};
    spool_rc rc = host->emit(t, &rec, ptext, strlen(ptext));
    if (rc == SPOOL_OK) {
        s->last = *pos;
        s->have_last = 1;
        s->emitted_now++;
    }
    return rc;
}

/* The record of one change: {"op", "table", "key", "before", "after", ...}. */
static char *change_json(cdc_src *s, const char *op, const cdc_rel *rel, json_t *key,
                         json_t *before, json_t *after, json_t *unchanged, uint64_t lsn,
                         int snapshot)
{
    char l[32], c[32], ts[64];
    cdc_lsn_str(lsn, l, sizeof(l));
    cdc_lsn_str(snapshot ? s->cp : s->tx_lsn, c, sizeof(c));
    json_t *o = json_object();
    json_object_set_new(o, "op", json_string(op));
    json_object_set_new(o, "table", json_string(rel->qname));
    json_object_set_new(o, "key", key ? json_incref(key) : json_null());
    json_object_set_new(o, "before", before ? before : json_null());
    json_object_set_new(o, "after", after ? after : json_null());
    if (unchanged && json_array_size(unchanged) > 0)
        json_object_set(o, "unchanged_toast", unchanged);
    if (snapshot) {
        json_object_set_new(o, "xid", json_null());
        json_object_set_new(o, "commit_ts", json_null());
    } else {
        cdc_ts_str(s->tx_ts, ts, sizeof(ts));
        json_object_set_new(o, "xid", json_integer(s->tx_xid));
        json_object_set_new(o, "commit_ts", json_string(ts));
    }
    json_object_set_new(o, "lsn", json_string(l));
    json_object_set_new(o, "commit_lsn", json_string(c));
    json_object_set_new(o, "seq", json_integer(snapshot ? 0 : s->tx_i));
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

static int64_t tx_ms(const cdc_src *s)
{
    return (s->tx_ts + CDC_PG_EPOCH_US) / 1000;
}

/* ---- Snapshot ----------------------------------------------------------------------- */

/* Key columns of a table as the stream flags them: the primary key (identity default
 * or full) or the identity index. */
static spool_rc mark_keys(spool_task *t, cdc_src *s, const char *qualified, cdc_rel *rel)
{
    const char *p1[1] = {qualified};
    PGresult *r = PQexecParams(s->sql,
        "SELECT a.attname FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE c.oid = $1::regclass AND ((c.relreplident IN ('d', 'f') AND i.indisprimary) "
        "OR (c.relreplident = 'i' AND i.indisreplident))", 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(t, s, s->sql, r, "cannot read the table's key columns");
    for (int c = 0; c < rel->ncols; c++) {
        rel->cols[c].key = 0;
        for (int k = 0; k < PQntuples(r); k++)
            if (strcmp(PQgetvalue(r, k, 0), rel->cols[c].name) == 0)
                rel->cols[c].key = 1;
    }
    PQclear(r);
    return SPOOL_OK;
}

static spool_rc snap_emit_held(spool_task *t, cdc_src *s, int final)
{
    if (s->held_value == NULL)
        return SPOOL_OK;
    cdc_pos p = {.snapshot = !final, .lsn = s->cp};
    spool_rc rc = emit_one(t, s, s->held_key, s->held_key_len, s->held_value, 0, &p);
    free(s->held_key);
    free(s->held_value);
    s->held_key = s->held_value = NULL;
    return rc;
}

static spool_rc snap_open_cursor(spool_task *t, cdc_src *s)
{
    cdc_table *tb = &s->tables[s->snap_table];
    sql_buf q = {0};
    if ((sql_buf_puts(&q, "DECLARE spool_snapshot NO SCROLL CURSOR FOR SELECT * FROM ") |
         add_qualified(s->sql, &q, tb)) != 0) {
        sql_buf_free(&q);
        return SPOOL_ENOMEM;
    }
    PGresult *r = PQexec(s->sql, q.p);
    sql_buf_free(&q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return sql_failed(t, s, s->sql, r, "cannot read the snapshot");
    PQclear(r);
    s->cursor_open = 1;
    /* The columns come with the first fetch (snap_rows). */
    cdc_rel_free(&s->snap_rel);
    s->snap_cols = 0;
    s->snap_rel.qname = malloc(strlen(tb->schema) + strlen(tb->name) + 2);
    if (s->snap_rel.qname == NULL)
        return SPOOL_ENOMEM;
    sprintf(s->snap_rel.qname, "%s.%s", tb->schema, tb->name);
    return SPOOL_OK;
}

static spool_rc snap_rows(spool_task *t, cdc_src *s, PGresult *r)
{
    int nc = PQnfields(r);
    cdc_rel *rel = &s->snap_rel;
    if (!s->snap_cols) {
        s->snap_cols = 1;
        rel->cols = calloc(nc > 0 ? (size_t)nc : 1, sizeof(cdc_col));
        if (rel->cols == NULL)
            return SPOOL_ENOMEM;
        for (int c = 0; c < nc; c++) {
            rel->cols[c].name = strdup(PQfname(r, c));
            rel->cols[c].type = PQftype(r, c);
            rel->ncols = c + 1;
            if (rel->cols[c].name == NULL)
                return SPOOL_ENOMEM;
        }
        sql_buf qual = {0};
        if (add_qualified(s->sql, &qual, &s->tables[s->snap_table]) != 0)
            return SPOOL_ENOMEM;
        spool_rc rc = mark_keys(t, s, qual.p, rel);
        sql_buf_free(&qual);
        if (rc != SPOOL_OK)
            return rc;
    }
    cdc_tuple *tu = &s->t_new;
    if (tu->cap < nc) {
        cdc_val *v = realloc(tu->v, (size_t)nc * sizeof(*v));
        if (v == NULL)
            return SPOOL_ENOMEM;
        tu->v = v;
        tu->cap = nc;
    }
    tu->n = nc;
    for (int i = 0; i < PQntuples(r); i++) {
        for (int c = 0; c < nc; c++) {
            tu->v[c].kind = PQgetisnull(r, i, c) ? 'n' : 't';
            tu->v[c].p = PQgetvalue(r, i, c);
            tu->v[c].len = (uint32_t)PQgetlength(r, i, c);
        }
        json_t *key = cdc_key_json(rel, tu), *after = cdc_tuple_json(rel, tu, 0, NULL);
        char *value = after ? change_json(s, "read", rel, key, NULL, after, NULL, s->cp, 1) : NULL;
        int keyless = json_is_null(key);
        char *k = keyless ? NULL : json_dumps(key, JSON_COMPACT);
        json_decref(key);
        if (value == NULL || (!keyless && k == NULL)) {
            free(value);
            free(k);
            return SPOOL_ENOMEM;
        }
        spool_rc rc = snap_emit_held(t, s, 0);
        s->held_key = k;
        s->held_key_len = k ? strlen(k) : 0;
        s->held_value = value;
        if (rc != SPOOL_OK)
            return rc;
    }
    return SPOOL_OK;
}

static spool_rc snapshot_poll(spool_task *t, cdc_src *s)
{
    spool_rc rc;
    if (s->snap_table >= s->ntables) {
        char err[1024];
        if (pg_exec(s->sql, "COMMIT", err, sizeof(err)) != PG_OK)
            host->log(t, SPOOL_LOG_WARN, "ending the snapshot transaction: %s", err);
        if ((rc = snap_emit_held(t, s, 1)) != SPOOL_OK) {
            if (rc == SPOOL_ESTOP)
                lost(s);
            return rc;
        }
        host->log(t, SPOOL_LOG_INFO, "snapshot done; changes from here on");
        if (!s->have_last || s->last.snapshot) {
            /* Empty tables: nothing carries the handover, which is safe (a restart
             * before any change takes a new snapshot of nothing). */
            s->last = (cdc_pos){.lsn = s->cp};
            s->have_last = 1;
            s->durable = s->last;
            s->have_durable = 1;
        }
        return start_streaming(t, s, s->cp);
    }
    if (!s->cursor_open && (rc = snap_open_cursor(t, s)) != SPOOL_OK)
        return rc;
    char q[64];
    snprintf(q, sizeof(q), "FETCH FORWARD %lld FROM spool_snapshot", (long long)s->batch);
    PGresult *r = PQexec(s->sql, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(t, s, s->sql, r, "cannot read the snapshot");
    int n = PQntuples(r);
    rc = snap_rows(t, s, r);
    PQclear(r);
    if (rc == SPOOL_ESTOP)
        lost(s);
    if (rc != SPOOL_OK)
        return rc;
    if (n < s->batch) {
        PQclear(PQexec(s->sql, "CLOSE spool_snapshot"));
        s->cursor_open = 0;
        cdc_rel_free(&s->snap_rel);
        s->snap_table++;
    }
    return SPOOL_OK;
}

/* ---- Streaming ---------------------------------------------------------------------- */

static cdc_rel *find_rel(cdc_src *s, uint32_t id)
{
    for (size_t i = 0; i < s->nrels; i++)
        if (s->rels[i].id == id)
            return &s->rels[i];
    return NULL;
}

static spool_rc on_relation(spool_task *t, cdc_src *s, cdc_reader *rd)
{
    cdc_reader peek = *rd;
    uint32_t id = cdc_u32(&peek);
    cdc_rel *rel = find_rel(s, id);
    if (rel == NULL) {
        cdc_rel *more = realloc(s->rels, (s->nrels + 1) * sizeof(*more));
        if (more == NULL)
            return SPOOL_ENOMEM;
        s->rels = more;
        rel = &s->rels[s->nrels++];
        memset(rel, 0, sizeof(*rel));
    }
    if (cdc_read_relation(rd, rel) != 0) {
        host->set_error(t, "malformed Relation message from the server");
        return SPOOL_ERR;
    }
    if (rel->ident == 'f') {
        /* identity FULL flags every column; the key is the primary key. */
        spool_rc rc = ensure_sql(t, s, 0);
        if (rc == SPOOL_OK) {
            char oid[16];
            snprintf(oid, sizeof(oid), "%u", rel->id);
            rc = mark_keys(t, s, oid, rel);
        }
        if (rc != SPOOL_OK)
            return rc;
    }
    return SPOOL_OK;
}

/* Emits the records of one change unless the log has them already. */
static spool_rc emit_change(spool_task *t, cdc_src *s, const char *op, cdc_rel *rel,
                            int old_kind, uint64_t lsn)
{
    cdc_pos p = {.lsn = s->tx_lsn, .i = s->tx_i, .s = 0};
    int del = strcmp(op, "delete") == 0;
    int want_tomb = del && s->tombstones;
    cdc_pos tomb = p;
    tomb.s = 1;
    if (s->have_last && cdc_pos_cmp(want_tomb ? &tomb : &p, &s->last) <= 0)
        return SPOOL_OK; /* already in the log */
    /* The key: the new row's (an update may change it; before then has the old one),
     * or the old row's for a delete, or when the new row's key is unchanged TOAST. */
    json_t *key = cdc_key_json(rel, del ? &s->t_old : &s->t_new);
    if (json_is_null(key) && !del && old_kind) {
        json_decref(key);
        key = cdc_key_json(rel, &s->t_old);
    }
    json_t *unchanged = json_array(), *before = NULL, *after = NULL;
    if (old_kind)
        before = cdc_tuple_json(rel, &s->t_old, old_kind == 'K', NULL);
    if (!del)
        after = cdc_tuple_json(rel, &s->t_new, 0, unchanged);
    char *value = NULL, *k = NULL;
    spool_rc rc = SPOOL_OK;
    if ((old_kind && before == NULL) || (!del && after == NULL)) {
        host->set_error(t, "a %s of %s does not fit the table's last Relation message (%d "
                        "columns)", op, rel->qname, rel->ncols);
        json_decref(before);
        json_decref(after);
        rc = SPOOL_ERR;
    } else {
        value = change_json(s, op, rel, key, before, after, unchanged, lsn, 0);
        k = json_is_null(key) ? NULL : json_dumps(key, JSON_COMPACT);
        if (value == NULL || (!json_is_null(key) && k == NULL))
            rc = SPOOL_ENOMEM;
    }
    if (rc == SPOOL_OK && !(s->have_last && cdc_pos_cmp(&p, &s->last) <= 0))
        rc = emit_one(t, s, k, k ? strlen(k) : 0, value, tx_ms(s), &p);
    if (rc == SPOOL_OK && want_tomb && k != NULL)
        rc = emit_one(t, s, k, strlen(k), NULL, tx_ms(s), &tomb);
    free(value);
    free(k);
    json_decref(key);
    json_decref(unchanged);
    return rc;
}

static spool_rc on_truncate(spool_task *t, cdc_src *s, cdc_reader *rd, uint64_t lsn)
{
    uint32_t n = cdc_u32(rd);
    (void)cdc_u8(rd);
    for (uint32_t k = 0; k < n && !rd->bad; k++) {
        cdc_rel *rel = find_rel(s, cdc_u32(rd));
        cdc_pos p = {.lsn = s->tx_lsn, .i = s->tx_i, .s = k};
        if (rel == NULL || (s->have_last && cdc_pos_cmp(&p, &s->last) <= 0))
            continue;
        char *value = change_json(s, "truncate", rel, NULL, NULL, NULL, NULL, lsn, 0);
        if (value == NULL)
            return SPOOL_ENOMEM;
        spool_rc rc = emit_one(t, s, NULL, 0, value, tx_ms(s), &p);
        free(value);
        if (rc != SPOOL_OK)
            return rc;
    }
    return SPOOL_OK;
}

/* One pgoutput message (the payload of an XLogData). */
static spool_rc on_message(spool_task *t, cdc_src *s, cdc_reader *rd, uint64_t lsn)
{
    char type = (char)cdc_u8(rd);
    spool_rc rc = SPOOL_OK;
    switch (type) {
    case 'B':
        s->tx_lsn = cdc_u64(rd);
        s->tx_ts = (int64_t)cdc_u64(rd);
        s->tx_xid = cdc_u32(rd);
        s->tx_i = 0;
        s->in_tx = 1;
        break;
    case 'C': {
        (void)cdc_u8(rd);
        uint64_t commit = cdc_u64(rd), end = cdc_u64(rd);
        if (commit != s->tx_lsn && !rd->bad) {
            char a[32], b[32];
            cdc_lsn_str(commit, a, sizeof(a));
            cdc_lsn_str(s->tx_lsn, b, sizeof(b));
            host->set_error(t, "the server's Commit at %s does not close the transaction "
                            "announced for %s", a, b);
            return SPOOL_ERR;
        }
        s->in_tx = 0;
        if (end > s->safe_lsn)
            s->safe_lsn = end;
        break;
    }
    case 'R':
        rc = on_relation(t, s, rd);
        break;
    case 'Y': case 'O': case 'M':
        break; /* types (values stay text), origins, logical messages */
    case 'I': case 'U': case 'D': {
        uint32_t relid = cdc_u32(rd);
        cdc_rel *rel = find_rel(s, relid);
        char kind = (char)cdc_u8(rd), old_kind = 0;
        s->tx_i++;
        if (rd->bad)
            break;
        if (rel == NULL) {
            host->set_error(t, "a change names relation %u, which no Relation message "
                            "described", (unsigned)relid);
            return SPOOL_ERR;
        }
        if (kind == 'K' || kind == 'O') {
            old_kind = kind;
            if (cdc_read_tuple(rd, &s->t_old) != 0)
                break;
            if (type == 'U')
                kind = (char)cdc_u8(rd);
        }
        if (type != 'D' && (kind != 'N' || cdc_read_tuple(rd, &s->t_new) != 0)) {
            rd->bad = 1;
            break;
        }
        rc = emit_change(t, s, type == 'I' ? "insert" : type == 'U' ? "update" : "delete",
                         rel, old_kind, lsn);
        break;
    }
    case 'T':
        s->tx_i++;
        rc = on_truncate(t, s, rd, lsn);
        break;
    default:
        host->set_error(t, "unknown pgoutput message '%c' from the server", type);
        return SPOOL_ERR;
    }
    if (rc == SPOOL_OK && rd->bad) {
        host->set_error(t, "malformed pgoutput message '%c' from the server", type);
        return SPOOL_ERR;
    }
    return rc;
}

static spool_rc on_copy_data(spool_task *t, cdc_src *s, const char *buf, int n)
{
    cdc_reader rd = {(const unsigned char *)buf, (const unsigned char *)buf + n, 0};
    char kind = (char)cdc_u8(&rd);
    if (kind == 'k') {
        uint64_t end = cdc_u64(&rd);
        (void)cdc_u64(&rd);
        int reply = cdc_u8(&rd);
        if (!s->in_tx && end > s->safe_lsn)
            s->safe_lsn = end;
        if (reply || (drained(s) && ack_lsn(s) > s->acked))
            return send_status(s, 0) == 0 ? SPOOL_OK : status_failed(t, s);
        return SPOOL_OK;
    }
    if (kind != 'w') {
        host->set_error(t, "unknown replication message '%c' from the server", kind);
        return SPOOL_ERR;
    }
    uint64_t start = cdc_u64(&rd);
    (void)cdc_u64(&rd);
    (void)cdc_u64(&rd);
    return on_message(t, s, &rd, start);
}

/* The slot's lag and confirmed flush LSN (as a byte position, from the LSN's decimal
 * text) as gauges for GET /metrics, when the runtime has gauge(). */
static void publish_lag(spool_task *t, long long lag, const char *confirmed)
{
    if (!SPOOL_HAS(spool_host, host, gauge))
        return;
    host->gauge(t, "slot_lag_bytes", (double)lag);
    if (confirmed != NULL)
        host->gauge(t, "confirmed_lsn", strtod(confirmed, NULL));
}

/* Heartbeat and lag: a logical message so a quiet slot has WAL to move past, a status
 * update asking for the server's position, and the slot's lag checked and published
 * (gauges slot_lag_bytes and confirmed_lsn). */
static void tick(spool_task *t, cdc_src *s)
{
    int64_t now = now_ms();
    if (now < s->next_tick)
        return;
    s->next_tick = now + s->hb_ms;
    if (ensure_sql(t, s, 0) != SPOOL_OK)
        return;
    if (s->hb_message && !s->hb_failed && drained(s)) {
        PGresult *r = PQexec(s->sql, "SELECT pg_logical_emit_message(false, 'spool_heartbeat', '')");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char err[512];
            pg_describe(s->sql, r, err, sizeof(err));
            if (PQstatus(s->sql) == CONNECTION_OK) {
                host->log(t, SPOOL_LOG_WARN, "heartbeat messages are off: %s; the slot moves "
                          "only with the server's keepalives", err);
                s->hb_failed = 1;
            } else {
                drop_sql(s);
            }
        }
        PQclear(r);
    }
    if (send_status(s, 1) != 0) {
        status_failed(t, s);
        return;
    }
    if (s->sql == NULL)
        return;
    const char *p1[1] = {s->slot};
    PGresult *r = PQexecParams(s->sql,
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
        "pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::numeric "
        "FROM pg_replication_slots WHERE slot_name = $1", 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        long long lag = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        host->log(t, SPOOL_LOG_DEBUG, "slot %s lag %lld bytes", s->slot, lag);
        publish_lag(t, lag, PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1));
        if (lag > s->max_lag && (s->lag_warned_at == 0 || now - s->lag_warned_at >= 60000)) {
            host->log(t, SPOOL_LOG_WARN, "replication slot %s holds %lld MiB of WAL, more than "
                      "max_lag (%lld MiB): the server keeps that WAL until spool catches up; "
                      "check that the sinks keep up and that the log's disk is not full",
                      s->slot, lag >> 20, (long long)(s->max_lag >> 20));
            s->lag_warned_at = now;
        } else if (lag <= s->max_lag && s->lag_warned_at != 0) {
            host->log(t, SPOOL_LOG_INFO, "replication slot %s is back under max_lag", s->slot);
            s->lag_warned_at = 0;
        }
    } else if (PQstatus(s->sql) != CONNECTION_OK) {
        drop_sql(s);
    }
    PQclear(r);
}

static spool_rc stream_lost(spool_task *t, cdc_src *s)
{
    char err[1024];
    PGresult *r = PQgetResult(s->repl);
    pg_describe(s->repl, r, err, sizeof(err));
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int fatal = state && pg_classify(s->repl, r) == PG_FATAL;
    host->set_error(t, "the replication stream ended: %s", err);
    PQclear(r);
    lost(s);
    return fatal ? SPOOL_ERR : SPOOL_RETRY;
}

static spool_rc stream_poll(spool_task *t, cdc_src *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int retried = 0;
    tick(t, s);
    if (s->repl == NULL)
        return SPOOL_RETRY;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(s->repl, &buf, 1);
        if (n > 0) {
            spool_rc rc = on_copy_data(t, s, buf, n);
            PQfreemem(buf);
            retried = 0;
            if (rc == SPOOL_ESTOP || rc == SPOOL_RETRY)
                return lost(s), rc;
            if (rc != SPOOL_OK)
                return rc;
            if (s->emitted_now >= s->batch)
                return SPOOL_OK;
            continue;
        }
        if (n < 0)
            return stream_lost(t, s);
        if (!retried) { /* read what the socket holds before deciding it is empty */
            retried = 1;
            if (PQconsumeInput(s->repl) == 0)
                return stream_lost(t, s);
            continue;
        }
        if (s->emitted_now > 0)
            return SPOOL_OK;
        tick(t, s);
        if (s->repl == NULL)
            return SPOOL_RETRY;
        int64_t now = now_ms(), until = deadline;
        if (s->next_tick < until)
            until = s->next_tick;
        if (now >= deadline || host->stopping(t))
            return SPOOL_OK;
        struct pollfd pfd = {.fd = PQsocket(s->repl), .events = POLLIN};
        int wait = until > now ? (int)(until - now) : 0;
        if (poll(&pfd, 1, wait) < 0 && errno != EINTR) {
            host->set_error(t, "poll on the replication socket failed: %s", strerror(errno));
            return lost(s);
        }
        retried = 0;
    }
}

/* ---- The plugin --------------------------------------------------------------------- */

static int valid_name(const char *n)
{
    if (n == NULL || *n == '\0' || strlen(n) > 63)
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

/* spool_CONNECTOR from the task's name "source/CONNECTOR". */
static void default_slot(spool_task *t, char *out, size_t outlen)
{
    const char *tn = host->task_name(t), *p = strchr(tn, '/');
    size_t o = snprintf(out, outlen, "spool_");
    for (p = p ? p + 1 : tn; *p && *p != '/' && o + 1 < outlen; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        out[o++] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? c : '_';
    }
    out[o] = '\0';
}

static spool_rc parse_tables(spool_task *t, cdc_src *s)
{
    size_t n = 0;
    const char *const *list = host->opt_list(t, "tables", &n);
    if (n == 0) {
        host->set_error(t, "tables is empty: name at least one table (schema.table)");
        return SPOOL_EINVAL;
    }
    s->tables = calloc(n, sizeof(*s->tables));
    if (s->tables == NULL)
        return SPOOL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(list[i], '.');
        cdc_table *tb = &s->tables[s->ntables++];
        tb->schema = dot ? strndup(list[i], (size_t)(dot - list[i])) : strdup("public");
        tb->name = strdup(dot ? dot + 1 : list[i]);
        if (tb->schema == NULL || tb->name == NULL)
            return SPOOL_ENOMEM;
        if (*tb->schema == '\0' || *tb->name == '\0') {
            host->set_error(t, "tables: \"%s\" is not schema.table", list[i]);
            return SPOOL_EINVAL;
        }
        for (size_t k = 0; k + 1 < s->ntables; k++)
            if (strcmp(s->tables[k].schema, tb->schema) == 0 &&
                strcmp(s->tables[k].name, tb->name) == 0) {
                free(tb->schema); /* named twice: once is enough */
                free(tb->name);
                s->ntables--;
                break;
            }
    }
    return SPOOL_OK;
}

static spool_rc cdc_open(spool_task *t, void **state)
{
    cdc_src *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->dsn = host->opt_string(t, "dsn");
    s->create_pub = (int)host->opt_int(t, "create_publication");
    s->snapshot_initial = host->opt_int(t, "snapshot") == 0;
    s->tombstones = (int)host->opt_int(t, "tombstones");
    s->hb_ms = host->opt_int(t, "heartbeat_interval");
    s->hb_message = (int)host->opt_int(t, "heartbeat_message");
    s->max_lag = host->opt_int(t, "max_lag");
    s->batch = host->opt_int(t, "batch");
    const char *slot = host->opt_string(t, "slot"), *pub = host->opt_string(t, "publication");
    if (slot && *slot)
        snprintf(s->slot, sizeof(s->slot), "%s", slot);
    else
        default_slot(t, s->slot, sizeof(s->slot));
    snprintf(s->pub, sizeof(s->pub), "%s", pub && *pub ? pub : s->slot);
    if (!valid_name(s->slot) || !valid_name(s->pub)) {
        host->set_error(t, "slot \"%s\" and publication \"%s\" must be 1 to 63 of [a-z0-9_]",
                        s->slot, s->pub);
        return SPOOL_EINVAL;
    }
    spool_rc rc = parse_tables(t, s);
    if (rc != SPOOL_OK)
        return rc;
    const void *pos;
    size_t plen = 0;
    host->source_position(t, &pos, &plen);
    if (plen > 0) {
        if (cdc_pos_parse(pos, plen, &s->durable) != 0) {
            host->set_error(t, "the stored position (%.*s) is not a postgres-cdc position",
                            (int)(plen < 200 ? plen : 200), (const char *)pos);
            return SPOOL_EINVAL;
        }
        s->have_durable = s->have_last = 1;
        s->last = s->durable;
    }
    s->st = ST_SETUP;
    return ensure_sql(t, s, 1);
}

static spool_rc cdc_poll(spool_task *t, void *state, int timeout_ms)
{
    cdc_src *s = state;
    s->emitted_now = 0;
    spool_rc rc;
    if (s->st == ST_SETUP && (rc = setup(t, s)) != SPOOL_OK)
        return rc;
    if (s->st == ST_SNAPSHOT)
        return snapshot_poll(t, s);
    return stream_poll(t, s, timeout_ms);
}

static spool_rc cdc_commit(spool_task *t, void *state, const void *position, size_t len)
{
    cdc_src *s = state;
    cdc_pos p;
    if (cdc_pos_parse(position, len, &p) != 0)
        return SPOOL_EINVAL;
    s->durable = p;
    s->have_durable = 1;
    if (s->st == ST_STREAM && s->repl != NULL && ack_lsn(s) > s->acked && send_status(s, 0) != 0)
        return status_failed(t, s); /* the next poll streams again from here */
    return SPOOL_OK;
}

static void cdc_close(spool_task *t, void *state)
{
    cdc_src *s = state;
    if (s == NULL)
        return;
    drop_repl(s);
    drop_sql(s);
    for (size_t i = 0; i < s->ntables; i++) {
        free(s->tables[i].schema);
        free(s->tables[i].name);
    }
    free(s->tables);
    for (size_t i = 0; i < s->nrels; i++)
        cdc_rel_free(&s->rels[i]);
    free(s->rels);
    cdc_rel_free(&s->snap_rel);
    cdc_tuple_free(&s->t_old);
    cdc_tuple_free(&s->t_new);
    free(s->held_key);
    free(s->held_value);
    free(s);
}

static const spool_plugin cdc_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "postgres-cdc", .version = "0.1.0",
    .description = "Streams every insert, update and delete of PostgreSQL tables from the "
                   "WAL (logical replication, pgoutput), exactly once.",
    .kind = SPOOL_KIND_SOURCE, .options = cdc_options,
    .open = cdc_open, .close = cdc_close, .poll = cdc_poll, .commit = cdc_commit,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &cdc_plugin;
}

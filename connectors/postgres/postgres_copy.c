/* postgres_copy.c - a batch of records into the table with COPY, bad rows set aside.
 *
 * The batch is encoded once, in COPY's text format, one line per record. It is sent
 * with a single COPY; in upsert mode into a temporary stage table first, then merged
 * with INSERT ... SELECT DISTINCT ON (keys) ... ON CONFLICT DO UPDATE (the last record
 * of a key in the batch wins).
 *
 * Upsert optimistically: a batch whose keys are all new (the common case of an event
 * stream keyed by event id, where a repeat only follows a client's retry) is COPYed
 * straight into the target, which gives the same rows as the merge for a third of the
 * server's work. When the target refuses it with a unique violation (23505), the
 * transaction starts again and the batch goes through the stage; after such a
 * conflict the next 1, 2, 4 ... 64 batches go through the stage before direct COPY is
 * tried again, so that a stream of real updates pays little for the attempts. When the server refuses the batch because of its data
 * (SQLSTATE class 22 or 23), the transaction is started again and the batch split in
 * halves, each written under a savepoint, down to the single rows the server refuses:
 * those are set aside with host->reject() and the server's message. The happy path
 * pays for no savepoint.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

/* Appends record i's row to s->rows, or sets it aside when it cannot be encoded. */
static spool_rc encode_one(const spool_host *host, spool_task *t, pg_sink *s,
                           const spool_record *r)
{
    char why[512];
    int e = 0, how = -1;
    if (r->value == NULL)
        snprintf(why, sizeof(why), "value is null");
    else if (s->plan.ok)
        how = sql_scan(&s->plan, r->value, r->value_len, s->toks, why, sizeof(why));
    else
        how = 1;
    if (how < 0)
        return host->reject(t, r, why) == SPOOL_OK ? SPOOL_OK : SPOOL_ERR;
    if (how == 0) {
        /* the hot path: tokens straight into COPY text */
        for (size_t c = 0; c < s->map.n; c++) {
            const sql_column *col = &s->map.cols[c];
            if (c > 0)
                e |= sql_buf_put(&s->rows, "\t", 1);
            if (col->path == NULL)
                e |= sql_copy_escape(&s->rows, r->value, r->value_len);
            else
                e |= sql_tok_copy_field(&s->rows, col, &s->toks[c]);
        }
    } else {
        json_error_t jerr;
        json_t *root = json_loadb(r->value, r->value_len, JSON_DECODE_ANY, &jerr);
        if (root == NULL) {
            snprintf(why, sizeof(why), "value is not JSON: %s", jerr.text);
            return host->reject(t, r, why) == SPOOL_OK ? SPOOL_OK : SPOOL_ERR;
        }
        for (size_t c = 0; c < s->map.n; c++) {
            const sql_column *col = &s->map.cols[c];
            if (c > 0)
                e |= sql_buf_put(&s->rows, "\t", 1);
            if (col->path == NULL)
                e |= sql_copy_escape(&s->rows, r->value, r->value_len);
            else
                e |= sql_copy_field(&s->rows, col, sql_json_path(root, col->path));
        }
        json_decref(root);
    }
    e |= sql_buf_put(&s->rows, "\n", 1);
    return e != 0 ? SPOOL_ENOMEM : SPOOL_OK;
}

/* Ends a COPY: sends the end (or an abort) and collects the result. */
static pg_fail copy_end(pg_sink *s, const char *abort_msg, char *err, size_t errlen)
{
    PGresult *r;
    pg_fail f = PG_OK;
    if (PQputCopyEnd(s->conn, abort_msg) != 1) {
        pg_describe(s->conn, NULL, err, errlen);
        return PG_RETRY;
    }
    while ((r = PQgetResult(s->conn)) != NULL) {
        pg_fail g = pg_classify(s->conn, r);
        if (g != PG_OK && f == PG_OK) {
            f = g;
            pg_describe(s->conn, r, err, errlen);
        }
        PQclear(r);
    }
    return f;
}

/* Rows lo..hi as one COPY (and merge). */
static pg_fail write_range(pg_sink *s, size_t lo, size_t hi, char *err, size_t errlen)
{
    size_t from = s->line[lo], to = s->line[hi];
    if (from == to)
        return PG_OK;
    pg_fail f = pg_copy(s->conn, s->copy_sql.p, s->rows.p + from, to - from, err, errlen);
    if (f == PG_OK && s->upsert)
        f = pg_exec(s->conn, s->merge_sql.p, err, errlen);
    return f;
}

/* After a direct COPY of an upsert batch (result f): on a unique violation, starts the
 * transaction again and merges the batch through the stage instead. */
static pg_fail direct_done(pg_sink *s, pg_fail f, size_t n, char *err, size_t errlen)
{
    if (f == PG_OK) {
        s->direct_backoff = 0;
        return PG_OK;
    }
    if (f != PG_ROW || strncmp(err, "23505", 5) != 0)
        return f; /* pg_describe() starts with the SQLSTATE */
    s->direct_backoff = s->direct_backoff == 0 ? 1 : s->direct_backoff < 64
                                                   ? s->direct_backoff * 2 : 64;
    s->direct_skip = s->direct_backoff;
    f = pg_exec(s->conn, "ROLLBACK; BEGIN", err, errlen);
    return f == PG_OK ? write_range(s, 0, n, err, errlen) : f;
}

pg_fail pg_copy_batch(const spool_host *host, spool_task *t, pg_sink *s,
                      const spool_record *const *recs, size_t n, const unsigned char *skip,
                      spool_rc *rc, char *err, size_t errlen)
{
    *rc = SPOOL_OK;
    s->rows.len = 0;
    if (n + 1 > s->line_cap) {
        size_t *l = realloc(s->line, (n + 1) * sizeof(*l));
        if (l == NULL) {
            *rc = SPOOL_ENOMEM;
            return PG_FATAL;
        }
        s->line = l;
        s->line_cap = n + 1;
    }
    /* Encoding and sending overlap: rows go to the server in chunks while the next
     * ones are encoded, so the server parses while the sink works. */
    int direct = s->upsert && s->direct_skip == 0;
    if (s->upsert && !direct)
        s->direct_skip--;
    PGresult *r = PQexec(s->conn, direct ? s->direct_sql.p : s->copy_sql.p);
    pg_fail f = pg_classify(s->conn, r);
    if (f != PG_OK) {
        pg_describe(s->conn, r, err, errlen);
        PQclear(r);
        return f;
    }
    PQclear(r);
    size_t sent = 0, chunk = 64 * 1024;
    int send_ok = 1;
    for (size_t i = 0; i < n; i++) {
        s->line[i] = s->rows.len;
        if (!skip[i] && (*rc = encode_one(host, t, s, recs[i])) != SPOOL_OK)
            break;
        if (send_ok && s->rows.len - sent >= chunk) {
            send_ok = PQputCopyData(s->conn, s->rows.p + sent, (int)(s->rows.len - sent)) == 1;
            sent = s->rows.len;
        }
    }
    if (*rc != SPOOL_OK) {
        copy_end(s, "spool: batch abandoned", err, errlen);
        snprintf(err, errlen, "a record was refused");
        return PG_FATAL;
    }
    s->line[n] = s->rows.len;
    if (send_ok && s->rows.len > sent)
        send_ok = PQputCopyData(s->conn, s->rows.p + sent, (int)(s->rows.len - sent)) == 1;
    f = copy_end(s, send_ok ? NULL : "spool: cannot send the rows", err, errlen);
    if (f == PG_OK && !send_ok) {
        pg_describe(s->conn, NULL, err, errlen);
        f = PG_RETRY;
    }
    if (direct)
        return direct_done(s, f, n, err, errlen);
    if (f == PG_OK && s->upsert)
        f = pg_exec(s->conn, s->merge_sql.p, err, errlen);
    return f;
}

static pg_fail narrow(const spool_host *host, spool_task *t, pg_sink *s,
                      const spool_record *const *recs, size_t lo, size_t hi, char *err,
                      size_t errlen)
{
    if (s->line[lo] == s->line[hi])
        return PG_OK;
    pg_fail f = pg_exec(s->conn, "SAVEPOINT spool_narrow", err, errlen);
    if (f != PG_OK)
        return f;
    f = write_range(s, lo, hi, err, errlen);
    if (f == PG_OK)
        return pg_exec(s->conn, "RELEASE SAVEPOINT spool_narrow", err, errlen);
    if (f != PG_ROW)
        return f;
    char why[1024];
    snprintf(why, sizeof(why), "%s", err);
    f = pg_exec(s->conn, "ROLLBACK TO SAVEPOINT spool_narrow; RELEASE SAVEPOINT spool_narrow",
                err, errlen);
    if (f != PG_OK)
        return f;
    if (hi - lo == 1) {
        if (host->reject(t, recs[lo], why) != SPOOL_OK) {
            snprintf(err, errlen, "%s", why);
            return PG_FATAL;
        }
        return PG_OK;
    }
    size_t mid = lo + (hi - lo) / 2;
    f = narrow(host, t, s, recs, lo, mid, err, errlen);
    if (f == PG_OK)
        f = narrow(host, t, s, recs, mid, hi, err, errlen);
    return f;
}

pg_fail pg_narrow_rows(const spool_host *host, spool_task *t, pg_sink *s,
                       const spool_record *const *recs, size_t n, char *err, size_t errlen)
{
    /* The batch holds a row the server refuses: start again and find it. */
    pg_fail f = pg_exec(s->conn, "ROLLBACK; BEGIN", err, errlen);
    if (f != PG_OK)
        return f;
    return narrow(host, t, s, recs, 0, n, err, errlen);
}

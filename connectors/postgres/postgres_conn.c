/* postgres_conn.c - connecting, classifying failures, and describing them safely.
 *
 * Messages come from libpq (PQerrorMessage, the server's fields), which never quote
 * the connection string; pg_describe() still blanks the password when it would
 * appear, since an operator copies these messages into tickets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

pg_fail pg_classify(PGconn *conn, const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN)
        return PG_OK;
    if (PQstatus(conn) != CONNECTION_OK)
        return PG_RETRY;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state == NULL)
        return PG_RETRY;
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        return PG_ROW;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
        strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strcmp(state, "55P03") == 0)
        return PG_RETRY;
    return PG_FATAL;
}

/* Replaces every occurrence of secret in s with "***", and line breaks with spaces. */
static void redact(char *s, size_t cap, const char *secret)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    if (secret == NULL || *secret == '\0')
        return;
    size_t sl = strlen(secret);
    char *hit;
    while ((hit = strstr(s, secret)) != NULL) {
        memmove(hit + 3, hit + sl, strlen(hit + sl) + 1);
        memcpy(hit, "***", 3);
        (void)cap;
    }
}

static void conn_password(PGconn *conn, char *out, size_t outlen)
{
    out[0] = '\0';
    PQconninfoOption *opts = conn ? PQconninfo(conn) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val)
            snprintf(out, outlen, "%s", o->val);
    PQconninfoFree(opts);
}

void pg_describe(PGconn *conn, const PGresult *res, char *out, size_t outlen)
{
    char pw[256];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (msg != NULL)
        snprintf(out, outlen, "%s: %s%s%s", state ? state : "?????", msg,
                 detail ? " (" : "", detail ? detail : "");
    else
        snprintf(out, outlen, "%s", conn ? PQerrorMessage(conn) : "no connection");
    if (msg != NULL && detail != NULL && strlen(out) + 2 < outlen)
        strcat(out, ")");
    conn_password(conn, pw, sizeof(pw));
    redact(out, outlen, pw);
}

PGconn *pg_connect(const char *dsn, int *retry, char *err, size_t errlen)
{
    char *perr = NULL;
    *retry = 0;
    PQconninfoOption *parsed = PQconninfoParse(dsn, &perr);
    if (parsed == NULL) {
        /* libpq's parse message may quote part of the string: keep it out. */
        snprintf(err, errlen, "dsn is not a valid PostgreSQL connection string or URI "
                 "(\"host=... port=... dbname=... user=...\" or postgresql://...)");
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(parsed);
    PGconn *conn = PQconnectdb(dsn);
    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        *retry = 1;
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char why[1024];
        pg_describe(conn, NULL, why, sizeof(why));
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", why);
        *retry = strstr(why, "starting up") || strstr(why, "shutting down") ||
                 strstr(why, "recovery") || strstr(why, "too many clients");
        PQfinish(conn);
        return NULL;
    }
    PGresult *r = PQexec(conn, "SET synchronous_commit = on; SET DateStyle = ISO; "
                               "SET TimeZone = 'UTC'; SET extra_float_digits = 3; "
                               "SET client_min_messages = warning");
    PQclear(r);
    return conn;
}

int pg_quote_ident(PGconn *conn, sql_buf *b, const char *name)
{
    char *q = PQescapeIdentifier(conn, name, strlen(name));
    if (q == NULL)
        return -1;
    int rc = sql_buf_puts(b, q);
    PQfreemem(q);
    return rc;
}

pg_fail pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    pg_fail f = pg_classify(conn, r);
    if (f != PG_OK)
        pg_describe(conn, r, err, errlen);
    PQclear(r);
    return f;
}

pg_fail pg_copy(PGconn *conn, const char *copy_sql, const char *data, size_t len, char *err,
                size_t errlen)
{
    PGresult *r = PQexec(conn, copy_sql);
    pg_fail f = pg_classify(conn, r);
    if (f != PG_OK) {
        pg_describe(conn, r, err, errlen);
        PQclear(r);
        return f;
    }
    PQclear(r);
    int ok = len == 0 || PQputCopyData(conn, data, (int)len) == 1;
    if (PQputCopyEnd(conn, ok ? NULL : "spool: cannot send the rows") != 1) {
        pg_describe(conn, NULL, err, errlen);
        return PG_RETRY;
    }
    f = PG_OK;
    while ((r = PQgetResult(conn)) != NULL) {
        pg_fail g = pg_classify(conn, r);
        if (g != PG_OK && f == PG_OK) {
            f = g;
            pg_describe(conn, r, err, errlen);
        }
        PQclear(r);
    }
    if (f == PG_OK && !ok) {
        pg_describe(conn, NULL, err, errlen);
        f = PG_RETRY;
    }
    return f;
}

spool_rc pg_reconnect(PGconn **conn, const char *dsn, int at_open, int *fresh, char *err,
                      size_t errlen)
{
    int retry;
    *fresh = 0;
    if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK)
        return SPOOL_OK;
    PQfinish(*conn);
    *conn = pg_connect(dsn, &retry, err, errlen);
    if (*conn == NULL)
        /* Once running, any lost server is waited for; at open only a busy one is, so
         * that a wrong dsn or password fails at once. */
        return retry || !at_open ? SPOOL_RETRY : SPOOL_ERR;
    *fresh = 1;
    return SPOOL_OK;
}

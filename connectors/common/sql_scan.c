/* sql_scan.c - the mapped fields of a record, found by runtime/json's scanner. */
#include "sql_scan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sql_scan_prepare(sql_scan_plan *plan, const sql_map *map)
{
    const char *paths[JSON_SCAN_MAX_PATHS];

    plan->map = map;
    plan->ok = map->n <= JSON_SCAN_MAX_PATHS;
    if (!plan->ok)
        return;
    for (size_t c = 0; c < map->n; c++)
        paths[c] = map->cols[c].path;
    json_scan_prepare(&plan->scan, paths, map->n);
    plan->ok = plan->scan.ok;
}

int sql_scan(const sql_scan_plan *plan, const char *json, size_t len, json_token *toks,
             char *err, size_t errlen)
{
    unsigned flags;
    const char *why;
    size_t at;

    if (json_scan(&plan->scan, json, len, toks, &flags, &why, &at) != 0) {
        snprintf(err, errlen, "value is not JSON: %s at byte %zu", why, at);
        return -1;
    }
    /* An escaped key: let jansson decide what it names. UTF-8 and \u escapes are the
     * destination's to judge, as they are on the slow path. */
    return (flags & JSON_SCAN_ESCAPED_KEY) != 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes the content of string token t, calling put for each run of bytes. */
static int decode(const json_token *t, sql_buf *b, int copy_escape)
{
    const char *p = t->p + 1, *end = t->p + t->len - 1;
    if (!t->escaped)
        return copy_escape ? sql_copy_escape(b, p, (size_t)(end - p))
                           : sql_buf_put(b, p, (size_t)(end - p));
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '\\')
            q++;
        if (q > p && (copy_escape ? sql_copy_escape(b, p, (size_t)(q - p))
                                  : sql_buf_put(b, p, (size_t)(q - p))) != 0)
            return -1;
        if (q >= end)
            break;
        char out[4];
        size_t n = 1;
        switch (q[1]) {
        case 'b': out[0] = '\b'; break;
        case 'f': out[0] = '\f'; break;
        case 'n': out[0] = '\n'; break;
        case 'r': out[0] = '\r'; break;
        case 't': out[0] = '\t'; break;
        case 'u': {
            unsigned cp = (unsigned)(hexval(q[2]) << 12 | hexval(q[3]) << 8 |
                                     hexval(q[4]) << 4 | hexval(q[5]));
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && q + 8 <= end && q[2] == '\\' && q[3] == 'u') {
                unsigned lo = (unsigned)(hexval(q[4]) << 12 | hexval(q[5]) << 8 |
                                         hexval(q[6]) << 4 | hexval(q[7]));
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    q += 6;
                }
            }
            if (cp == 0)
                cp = 0xFFFD; /* NUL fits neither PostgreSQL text nor C strings */
            if (cp < 0x80) {
                out[0] = (char)cp;
            } else if (cp < 0x800) {
                out[0] = (char)(0xC0 | cp >> 6);
                out[1] = (char)(0x80 | (cp & 0x3F));
                n = 2;
            } else if (cp < 0x10000) {
                out[0] = (char)(0xE0 | cp >> 12);
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
            } else {
                out[0] = (char)(0xF0 | cp >> 18);
                out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
            }
            break;
        }
        default: out[0] = q[1]; break; /* " \ / */
        }
        if ((copy_escape ? sql_copy_escape(b, out, n) : sql_buf_put(b, out, n)) != 0)
            return -1;
        p = q + 2;
    }
    return 0;
}

int sql_tok_copy_string(sql_buf *b, const json_token *t)
{
    return decode(t, b, 1);
}

int sql_tok_string(sql_buf *b, const json_token *t)
{
    return decode(t, b, 0);
}

int sql_tok_copy_field(sql_buf *b, const sql_column *c, const json_token *t)
{
    switch (t->type) {
    case JSON_TOK_ABSENT:
    case JSON_TOK_NULL:
        return sql_buf_put(b, "\\N", 2);
    case JSON_TOK_STRING:
        if (c->type != SQL_JSONB)
            return sql_tok_copy_string(b, t);
        return sql_copy_escape(b, t->p, t->len);
    case JSON_TOK_INT:
        if (c->type == SQL_TIMESTAMPTZ) {
            char iso[32];
            sql_iso8601_ms(strtoll(t->p, NULL, 10), iso);
            return sql_buf_puts(b, iso);
        }
        return sql_buf_put(b, t->p, t->len);
    default: /* numbers, booleans as written; objects and arrays as written */
        return sql_copy_escape(b, t->p, t->len);
    }
}

static int tok_mismatch(const sql_column *c, const json_token *t, const char *want, char *err,
                        size_t errlen)
{
    static const char *const kinds[] = {"nothing", "null", "true", "false", "an integer",
                                        "a number", "a string", "an object", "an array"};
    snprintf(err, errlen, "column \"%s\": expected %s, got %s %.*s%s", c->name, want,
             kinds[t->type], (int)(t->len > 60 ? 60 : t->len), t->p, t->len > 60 ? "..." : "");
    return -1;
}

int sql_tok_value(const sql_column *c, const json_token *t, sql_buf *scratch, sql_value *out,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (t->type == JSON_TOK_ABSENT || t->type == JSON_TOK_NULL) {
        out->kind = SQL_V_NULL;
        return 0;
    }
    char num[64];
    const char *text = NULL;
    size_t tlen = 0;
    size_t start = scratch->len;
    if (t->type == JSON_TOK_STRING && c->type != SQL_JSONB && !t->escaped) {
        text = t->p + 1; /* points into the record: no copy */
        tlen = t->len - 2;
    } else if (t->type == JSON_TOK_STRING && c->type != SQL_JSONB) {
        if (sql_tok_string(scratch, t) != 0 || sql_buf_put(scratch, "", 1) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        scratch->len--; /* keep the NUL, not counted */
        text = scratch->p + start;
        tlen = scratch->len - start;
    }
    switch (c->type) {
    case SQL_BIGINT:
    case SQL_INTEGER: {
        if (t->type == JSON_TOK_INT && t->len <= 18 && c->type == SQL_BIGINT) {
            /* the common case, without a copy: at most 18 digits cannot overflow */
            const char *p = t->p, *e = t->p + t->len;
            int neg = *p == '-';
            long long v = 0;
            for (p += neg; p < e; p++)
                v = v * 10 + (*p - '0');
            out->kind = SQL_V_INT;
            out->i = neg ? -v : v;
            return 0;
        }
        const char *src = t->type == JSON_TOK_INT || t->type == JSON_TOK_REAL ? t->p : text;
        size_t n = t->type == JSON_TOK_INT || t->type == JSON_TOK_REAL ? t->len : tlen;
        if (src == NULL || n == 0 || n >= sizeof(num))
            return tok_mismatch(c, t, "an integer", err, errlen);
        memcpy(num, src, n);
        num[n] = '\0';
        char *end;
        errno = 0;
        long long ll = strtoll(num, &end, 10);
        if (*end != '\0' && t->type == JSON_TOK_REAL) {
            double d = strtod(num, &end);
            if (*end != '\0' || d != floor(d) || fabs(d) >= 9007199254740992.0)
                return tok_mismatch(c, t, "an integer", err, errlen);
            ll = (long long)d;
        } else if (*end != '\0' || errno != 0) {
            return tok_mismatch(c, t, "an integer", err, errlen);
        }
        if (c->type == SQL_INTEGER && (ll < INT32_MIN || ll > INT32_MAX)) {
            snprintf(err, errlen, "column \"%s\": %lld is out of range for integer", c->name,
                     ll);
            return -1;
        }
        out->kind = SQL_V_INT;
        out->i = ll;
        return 0;
    }
    case SQL_DOUBLE:
    case SQL_NUMERIC: {
        const char *src = t->type == JSON_TOK_INT || t->type == JSON_TOK_REAL ? t->p : text;
        size_t n = t->type == JSON_TOK_INT || t->type == JSON_TOK_REAL ? t->len : tlen;
        if (src == NULL || n == 0 || n >= sizeof(num))
            return tok_mismatch(c, t, "a number", err, errlen);
        memcpy(num, src, n);
        num[n] = '\0';
        char *end;
        double d = strtod(num, &end);
        if (*end != '\0')
            return tok_mismatch(c, t, "a number", err, errlen);
        if (c->type == SQL_NUMERIC && t->type == JSON_TOK_STRING) {
            out->kind = SQL_V_TEXT;
            out->s = text;
            out->len = tlen;
        } else if (c->type == SQL_NUMERIC && t->type == JSON_TOK_INT) {
            out->kind = SQL_V_INT;
            out->i = strtoll(num, NULL, 10);
        } else {
            out->kind = SQL_V_REAL;
            out->d = d;
        }
        return 0;
    }
    case SQL_BOOLEAN:
        if (t->type == JSON_TOK_TRUE || t->type == JSON_TOK_FALSE) {
            out->kind = SQL_V_INT;
            out->i = t->type == JSON_TOK_TRUE;
            return 0;
        }
        if (t->type == JSON_TOK_INT && t->len == 1 && (t->p[0] == '0' || t->p[0] == '1')) {
            out->kind = SQL_V_INT;
            out->i = t->p[0] == '1';
            return 0;
        }
        if (text != NULL && ((tlen == 4 && memcmp(text, "true", 4) == 0) ||
                             (tlen == 5 && memcmp(text, "false", 5) == 0))) {
            out->kind = SQL_V_INT;
            out->i = text[0] == 't';
            return 0;
        }
        return tok_mismatch(c, t, "a boolean", err, errlen);
    case SQL_TIMESTAMPTZ:
        if (t->type == JSON_TOK_INT) {
            sql_iso8601_ms(strtoll(t->p, NULL, 10), out->buf);
            out->kind = SQL_V_TEXT;
            out->s = out->buf;
            out->len = strlen(out->buf);
            return 0;
        }
        if (text != NULL) {
            out->kind = SQL_V_TEXT;
            out->s = text;
            out->len = tlen;
            return 0;
        }
        return tok_mismatch(c, t, "a timestamp (ISO 8601 text or epoch milliseconds)", err,
                            errlen);
    case SQL_TEXT:
        out->kind = SQL_V_TEXT;
        out->s = text != NULL ? text : t->p;
        out->len = text != NULL ? tlen : t->len;
        return 0;
    case SQL_JSONB:
    default:
        out->kind = SQL_V_TEXT;
        out->s = t->p;
        out->len = t->len;
        return 0;
    }
}

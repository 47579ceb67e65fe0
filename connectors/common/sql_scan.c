/* sql_scan.c - a validating single-pass JSON scanner that finds mapped fields. */
#include "sql_scan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

void sql_scan_prepare(sql_scan_plan *plan, const sql_map *map)
{
    memset(plan, 0, sizeof(*plan));
    plan->map = map;
    plan->ok = map->n <= 64;
    for (size_t c = 0; c < map->n && plan->ok; c++) {
        const char *p = map->cols[c].path;
        if (p == NULL)
            continue;
        while (plan->ok) {
            const char *dot = strchr(p, '.');
            size_t n = dot ? (size_t)(dot - p) : strlen(p);
            if (plan->nsteps[c] == 8) {
                plan->ok = 0;
                break;
            }
            plan->step[c][plan->nsteps[c]] = p;
            plan->steplen[c][plan->nsteps[c]++] = n;
            if (dot == NULL)
                break;
            p = dot + 1;
        }
    }
}

typedef struct scanner {
    const char *p, *end;
    const sql_scan_plan *plan;
    sql_token *toks;
    const char *key[MAX_DEPTH];
    size_t keylen[MAX_DEPTH];
    int keyesc[MAX_DEPTH];
    const char *err;
} scanner;

static void ws(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Bytes that end a run of plain string content: '"', '\\' and control characters. */
static const unsigned char special[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1};

/* A string at s->p (on the quote). Sets *esc when it holds escapes. */
static int str(scanner *s, int *esc)
{
    *esc = 0;
    s->p++;
    while (s->p < s->end) {
        const char *p = s->p, *end = s->end;
        while (p < end && !special[(unsigned char)*p])
            p++;
        s->p = p;
        if (p >= end)
            break;
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20) {
            s->err = "control character in a string";
            return -1;
        }
        if (c == '\\') {
            *esc = 1;
            if (s->p + 1 >= s->end)
                break;
            char e = s->p[1];
            if (e == 'u') {
                if (s->p + 6 > s->end || hexval(s->p[2]) < 0 || hexval(s->p[3]) < 0 ||
                    hexval(s->p[4]) < 0 || hexval(s->p[5]) < 0) {
                    s->err = "invalid \\u escape";
                    return -1;
                }
                s->p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                s->err = "invalid escape in a string";
                return -1;
            }
            s->p += 2;
            continue;
        }
        s->p++;
    }
    s->err = "unterminated string";
    return -1;
}

static int number(scanner *s, int *is_int)
{
    const char *p = s->p;
    *is_int = 1;
    if (p < s->end && *p == '-')
        p++;
    if (p < s->end && *p == '0')
        p++;
    else if (p < s->end && *p >= '1' && *p <= '9')
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    else
        goto bad;
    if (p < s->end && *p == '.') {
        *is_int = 0;
        p++;
        if (p >= s->end || *p < '0' || *p > '9')
            goto bad;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        *is_int = 0;
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || *p < '0' || *p > '9')
            goto bad;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return 0;
bad:
    s->err = "invalid number";
    return -1;
}

/* Which columns' paths end at the member whose key stack is key[0..depth]. */
static void match(scanner *s, int depth, const sql_token *t)
{
    const sql_scan_plan *pl = s->plan;
    for (size_t c = 0; c < pl->map->n; c++) {
        if (pl->nsteps[c] != (size_t)depth + 1)
            continue;
        int ok = 1;
        for (int d = depth; d >= 0 && ok; d--)
            ok = pl->steplen[c][d] == s->keylen[d] &&
                 memcmp(pl->step[c][d], s->key[d], s->keylen[d]) == 0;
        if (ok)
            s->toks[c] = *t;
    }
}

/* depth: the depth of the value's own key on s->key; -1 for the root, -2 when the
 * value is not on a trackable path (inside an array, or too deep). */
static int value(scanner *s, int depth, int level, sql_token *t)
{
    ws(s);
    if (s->p >= s->end) {
        s->err = "unexpected end of input";
        return -1;
    }
    if (level > MAX_DEPTH * 4) {
        s->err = "nested too deeply";
        return -1;
    }
    t->p = s->p;
    t->escaped = 0;
    switch (*s->p) {
    case '{': {
        t->type = SQL_TOK_OBJECT;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            break;
        }
        for (;;) {
            ws(s);
            if (s->p >= s->end || *s->p != '"') {
                s->err = "expected a key";
                return -1;
            }
            const char *k = s->p + 1;
            int esc;
            if (str(s, &esc) != 0)
                return -1;
            int d = depth >= -1 && depth + 1 < MAX_DEPTH ? depth + 1 : -2;
            if (d >= 0) {
                s->key[d] = k;
                s->keylen[d] = (size_t)(s->p - 1 - k);
                s->keyesc[d] = esc;
            }
            ws(s);
            if (s->p >= s->end || *s->p != ':') {
                s->err = "expected ':'";
                return -1;
            }
            s->p++;
            sql_token m;
            if (value(s, d, level + 1, &m) != 0)
                return -1;
            if (d >= 0) {
                if (esc)
                    s->err = "escaped key"; /* noted: the caller may take the slow path */
                match(s, d, &m);
            }
            ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == '}') {
                s->p++;
                break;
            }
            s->err = "expected ',' or '}'";
            return -1;
        }
        break;
    }
    case '[': {
        t->type = SQL_TOK_ARRAY;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            break;
        }
        for (;;) {
            sql_token m;
            if (value(s, -2, level + 1, &m) != 0)
                return -1;
            ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == ']') {
                s->p++;
                break;
            }
            s->err = "expected ',' or ']'";
            return -1;
        }
        break;
    }
    case '"':
        t->type = SQL_TOK_STRING;
        if (str(s, &t->escaped) != 0)
            return -1;
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char *const words[] = {"true", "false", "null"};
        int w = *s->p == 't' ? 0 : *s->p == 'f' ? 1 : 2;
        size_t n = strlen(words[w]);
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, words[w], n) != 0) {
            s->err = "invalid literal";
            return -1;
        }
        s->p += n;
        t->type = w == 0 ? SQL_TOK_TRUE : w == 1 ? SQL_TOK_FALSE : SQL_TOK_NULL;
        break;
    }
    default: {
        int is_int;
        if (number(s, &is_int) != 0)
            return -1;
        t->type = is_int ? SQL_TOK_INT : SQL_TOK_REAL;
        break;
    }
    }
    t->len = (size_t)(s->p - t->p);
    return 0;
}

int sql_scan(const sql_scan_plan *plan, const char *json, size_t len, sql_token *toks,
             char *err, size_t errlen)
{
    scanner s = {.p = json, .end = json + len, .plan = plan, .toks = toks};
    sql_token root;
    memset(toks, 0, plan->map->n * sizeof(*toks));
    if (value(&s, -1, 0, &root) != 0 || (ws(&s), s.p != s.end)) {
        snprintf(err, errlen, "value is not JSON: %s at byte %zu",
                 s.err != NULL ? s.err : "trailing characters", (size_t)(s.p - json));
        return -1;
    }
    return s.err != NULL ? 1 : 0; /* an escaped key: let jansson decide what it names */
}

/* Decodes the content of string token t, calling put for each run of bytes. */
static int decode(const sql_token *t, sql_buf *b, int copy_escape)
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

int sql_tok_copy_string(sql_buf *b, const sql_token *t)
{
    return decode(t, b, 1);
}

int sql_tok_string(sql_buf *b, const sql_token *t)
{
    return decode(t, b, 0);
}

int sql_tok_copy_field(sql_buf *b, const sql_column *c, const sql_token *t)
{
    switch (t->type) {
    case SQL_TOK_ABSENT:
    case SQL_TOK_NULL:
        return sql_buf_put(b, "\\N", 2);
    case SQL_TOK_STRING:
        if (c->type != SQL_JSONB)
            return sql_tok_copy_string(b, t);
        return sql_copy_escape(b, t->p, t->len);
    case SQL_TOK_INT:
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

static int tok_mismatch(const sql_column *c, const sql_token *t, const char *want, char *err,
                        size_t errlen)
{
    static const char *const kinds[] = {"nothing", "null", "true", "false", "an integer",
                                        "a number", "a string", "an object", "an array"};
    snprintf(err, errlen, "column \"%s\": expected %s, got %s %.*s%s", c->name, want,
             kinds[t->type], (int)(t->len > 60 ? 60 : t->len), t->p, t->len > 60 ? "..." : "");
    return -1;
}

int sql_tok_value(const sql_column *c, const sql_token *t, sql_buf *scratch, sql_value *out,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (t->type == SQL_TOK_ABSENT || t->type == SQL_TOK_NULL) {
        out->kind = SQL_V_NULL;
        return 0;
    }
    char num[64];
    const char *text = NULL;
    size_t tlen = 0;
    size_t start = scratch->len;
    if (t->type == SQL_TOK_STRING && c->type != SQL_JSONB && !t->escaped) {
        text = t->p + 1; /* points into the record: no copy */
        tlen = t->len - 2;
    } else if (t->type == SQL_TOK_STRING && c->type != SQL_JSONB) {
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
        if (t->type == SQL_TOK_INT && t->len <= 18 && c->type == SQL_BIGINT) {
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
        const char *src = t->type == SQL_TOK_INT || t->type == SQL_TOK_REAL ? t->p : text;
        size_t n = t->type == SQL_TOK_INT || t->type == SQL_TOK_REAL ? t->len : tlen;
        if (src == NULL || n == 0 || n >= sizeof(num))
            return tok_mismatch(c, t, "an integer", err, errlen);
        memcpy(num, src, n);
        num[n] = '\0';
        char *end;
        errno = 0;
        long long ll = strtoll(num, &end, 10);
        if (*end != '\0' && t->type == SQL_TOK_REAL) {
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
        const char *src = t->type == SQL_TOK_INT || t->type == SQL_TOK_REAL ? t->p : text;
        size_t n = t->type == SQL_TOK_INT || t->type == SQL_TOK_REAL ? t->len : tlen;
        if (src == NULL || n == 0 || n >= sizeof(num))
            return tok_mismatch(c, t, "a number", err, errlen);
        memcpy(num, src, n);
        num[n] = '\0';
        char *end;
        double d = strtod(num, &end);
        if (*end != '\0')
            return tok_mismatch(c, t, "a number", err, errlen);
        if (c->type == SQL_NUMERIC && t->type == SQL_TOK_STRING) {
            out->kind = SQL_V_TEXT;
            out->s = text;
            out->len = tlen;
        } else if (c->type == SQL_NUMERIC && t->type == SQL_TOK_INT) {
            out->kind = SQL_V_INT;
            out->i = strtoll(num, NULL, 10);
        } else {
            out->kind = SQL_V_REAL;
            out->d = d;
        }
        return 0;
    }
    case SQL_BOOLEAN:
        if (t->type == SQL_TOK_TRUE || t->type == SQL_TOK_FALSE) {
            out->kind = SQL_V_INT;
            out->i = t->type == SQL_TOK_TRUE;
            return 0;
        }
        if (t->type == SQL_TOK_INT && t->len == 1 && (t->p[0] == '0' || t->p[0] == '1')) {
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
        if (t->type == SQL_TOK_INT) {
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

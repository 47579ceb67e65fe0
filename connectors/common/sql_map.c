/* sql_map.c - JSON record -> table columns: parsing the mapping, converting values. */
#include "sql_map.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const type_names[SQL_NTYPES] = {
    "text", "bigint", "integer", "double", "numeric", "boolean", "jsonb", "timestamptz"};

int sql_buf_put(sql_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int sql_buf_puts(sql_buf *b, const char *s)
{
    return sql_buf_put(b, s, strlen(s));
}

void sql_buf_free(sql_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

const char *sql_type_sql(sql_type t, int pg)
{
    static const char *const pgt[SQL_NTYPES] = {"text", "bigint", "integer",
                                                "double precision", "numeric", "boolean",
                                                "jsonb", "timestamptz"};
    static const char *const lite[SQL_NTYPES] = {"TEXT", "INTEGER", "INTEGER", "REAL",
                                                 "NUMERIC", "INTEGER", "TEXT", "TEXT"};
    return t < SQL_NTYPES ? (pg ? pgt[t] : lite[t]) : "text";
}

static int type_parse(const char *s, sql_type *out)
{
    static const struct { const char *name; sql_type t; } alias[] = {
        {"int8", SQL_BIGINT}, {"int", SQL_INTEGER}, {"int4", SQL_INTEGER},
        {"float8", SQL_DOUBLE}, {"real", SQL_DOUBLE}, {"bool", SQL_BOOLEAN},
        {"json", SQL_JSONB}, {"timestamp", SQL_TIMESTAMPTZ}, {"string", SQL_TEXT}};
    for (int i = 0; i < SQL_NTYPES; i++)
        if (strcmp(s, type_names[i]) == 0) {
            *out = (sql_type)i;
            return 0;
        }
    for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
        if (strcmp(s, alias[i].name) == 0) {
            *out = alias[i].t;
            return 0;
        }
    return -1;
}

void sql_map_free(sql_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->cols[i].name);
        free(m->cols[i].path);
    }
    free(m->cols);
    memset(m, 0, sizeof(*m));
}

int sql_map_find(const sql_map *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

int sql_map_parse(sql_map *m, const char *const *specs, size_t n, const char *whole,
                  char *err, size_t errlen)
{
    int has_whole = whole != NULL && *whole != '\0';
    memset(m, 0, sizeof(*m));
    m->cols = calloc(n + 1, sizeof(*m->cols));
    if (m->cols == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = specs[i], *eq = strchr(s, '='), *colon = strrchr(s, ':');
        const char *name = eq ? eq + 1 : s;
        if (colon != NULL && colon < name)
            colon = NULL;
        size_t nlen = colon ? (size_t)(colon - name) : strlen(name);
        sql_column *c = &m->cols[m->n];
        c->type = SQL_TEXT;
        if (colon != NULL && type_parse(colon + 1, &c->type) != 0) {
            snprintf(err, errlen, "column \"%s\": unknown type \"%s\" (one of text, bigint, "
                     "integer, double, numeric, boolean, jsonb, timestamptz)", s, colon + 1);
            return -1;
        }
        if (nlen == 0 || (eq != NULL && eq == s)) {
            snprintf(err, errlen, "column \"%s\": expected COLUMN, COLUMN:TYPE or "
                     "PATH=COLUMN:TYPE", s);
            return -1;
        }
        c->name = strndup(name, nlen);
        c->path = eq ? strndup(s, (size_t)(eq - s)) : strndup(name, nlen);
        m->n++;
        if (c->name == NULL || c->path == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (strstr(c->path, "..") || c->path[0] == '.' ||
            c->path[strlen(c->path) - 1] == '.') {
            snprintf(err, errlen, "column \"%s\": path \"%s\" has an empty step", c->name,
                     c->path);
            return -1;
        }
        for (size_t j = 0; j + 1 < m->n; j++)
            if (strcmp(m->cols[j].name, c->name) == 0) {
                snprintf(err, errlen, "column \"%s\" is mapped twice", c->name);
                return -1;
            }
    }
    if (has_whole) {
        if (sql_map_find(m, whole) >= 0) {
            snprintf(err, errlen, "column \"%s\" is mapped twice", whole);
            return -1;
        }
        sql_column *c = &m->cols[m->n];
        c->name = strdup(whole);
        c->path = NULL;
        c->type = SQL_JSONB;
        m->n++;
        if (c->name == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (m->n == 0) {
        snprintf(err, errlen, "no column is mapped: set columns or json_column");
        return -1;
    }
    return 0;
}

json_t *sql_json_path(json_t *root, const char *path)
{
    const char *p = path;
    json_t *cur = root;
    while (cur != NULL) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, n);
        if (dot == NULL)
            return cur;
        p = dot + 1;
    }
    return NULL;
}

void sql_iso8601_ms(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    char tmp[96];
    gmtime_r(&secs, &tm);
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    snprintf(out, 32, "%.31s", tmp);
}

int sql_copy_escape(sql_buf *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '\\': rep = "\\\\"; break;
        case '\t': rep = "\\t"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        default: continue;
        }
        if (sql_buf_put(b, s + start, i - start) != 0 || sql_buf_put(b, rep, 2) != 0)
            return -1;
        start = i + 1;
    }
    return sql_buf_put(b, s + start, n - start);
}

/* The text of a JSON number or boolean as JSON spells it. */
static int scalar_text(const json_t *v, char out[64])
{
    if (json_is_integer(v))
        return snprintf(out, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_real(v))
        return snprintf(out, 64, "%.17g", json_real_value(v));
    if (json_is_true(v))
        return snprintf(out, 64, "true");
    if (json_is_false(v))
        return snprintf(out, 64, "false");
    return -1;
}

int sql_copy_field(sql_buf *b, const sql_column *c, const json_t *v)
{
    char tmp[64];
    int n;
    if (v == NULL || json_is_null(v))
        return sql_buf_put(b, "\\N", 2);
    if (c->type == SQL_TIMESTAMPTZ && json_is_integer(v)) {
        sql_iso8601_ms(json_integer_value(v), tmp);
        return sql_buf_puts(b, tmp);
    }
    if (c->type != SQL_JSONB && json_is_string(v))
        return sql_copy_escape(b, json_string_value(v), json_string_length(v));
    if (c->type != SQL_JSONB && (n = scalar_text(v, tmp)) > 0)
        return sql_buf_put(b, tmp, (size_t)n);
    char *js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (js == NULL)
        return -1;
    int rc = sql_copy_escape(b, js, strlen(js));
    free(js);
    return rc;
}

void sql_value_free(sql_value *v)
{
    free(v->owned);
    v->owned = NULL;
}

static int set_text(sql_value *out, const char *s, size_t n)
{
    out->kind = SQL_V_TEXT;
    out->s = s;
    out->len = n;
    return 0;
}

static int mismatch(const sql_column *c, const json_t *v, const char *want, char *err,
                    size_t errlen)
{
    static const char *const kinds[] = {"an object", "an array", "a string", "an integer",
                                        "a number", "true", "false", "null"};
    char *js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(err, errlen, "column \"%s\": expected %s, got %s %.60s%s", c->name, want,
             kinds[json_typeof(v)], js ? js : "", js && strlen(js) > 60 ? "..." : "");
    free(js);
    return -1;
}

int sql_value_from_json(const sql_column *c, const json_t *v, sql_value *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (v == NULL || json_is_null(v)) {
        out->kind = SQL_V_NULL;
        return 0;
    }
    switch (c->type) {
    case SQL_BIGINT:
    case SQL_INTEGER: {
        int64_t i;
        if (json_is_integer(v)) {
            i = json_integer_value(v);
        } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                   fabs(json_real_value(v)) < 9007199254740992.0) {
            i = (int64_t)json_real_value(v);
        } else if (json_is_string(v) && json_string_length(v) > 0) {
            char *end;
            errno = 0;
            long long ll = strtoll(json_string_value(v), &end, 10);
            if (errno != 0 || *end != '\0')
                return mismatch(c, v, "an integer", err, errlen);
            i = ll;
        } else {
            return mismatch(c, v, "an integer", err, errlen);
        }
        if (c->type == SQL_INTEGER && (i < INT32_MIN || i > INT32_MAX)) {
            snprintf(err, errlen, "column \"%s\": %" PRId64 " is out of range for integer",
                     c->name, i);
            return -1;
        }
        out->kind = SQL_V_INT;
        out->i = i;
        return 0;
    }
    case SQL_DOUBLE:
        if (json_is_number(v)) {
            out->kind = SQL_V_REAL;
            out->d = json_number_value(v);
            return 0;
        }
        if (json_is_string(v) && json_string_length(v) > 0) {
            char *end;
            double d = strtod(json_string_value(v), &end);
            if (*end == '\0') {
                out->kind = SQL_V_REAL;
                out->d = d;
                return 0;
            }
        }
        return mismatch(c, v, "a number", err, errlen);
    case SQL_NUMERIC:
        if (json_is_integer(v)) {
            out->kind = SQL_V_INT;
            out->i = json_integer_value(v);
            return 0;
        }
        if (json_is_real(v)) {
            out->kind = SQL_V_REAL;
            out->d = json_real_value(v);
            return 0;
        }
        if (json_is_string(v) && json_string_length(v) > 0) {
            char *end;
            strtod(json_string_value(v), &end);
            if (*end == '\0')
                return set_text(out, json_string_value(v), json_string_length(v));
        }
        return mismatch(c, v, "a number", err, errlen);
    case SQL_BOOLEAN:
        if (json_is_boolean(v) || (json_is_integer(v) && (json_integer_value(v) == 0 ||
                                                          json_integer_value(v) == 1))) {
            out->kind = SQL_V_INT;
            out->i = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
            return 0;
        }
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
                out->kind = SQL_V_INT;
                out->i = s[0] == 't';
                return 0;
            }
        }
        return mismatch(c, v, "a boolean", err, errlen);
    case SQL_TIMESTAMPTZ:
        if (json_is_integer(v)) {
            sql_iso8601_ms(json_integer_value(v), out->buf);
            return set_text(out, out->buf, strlen(out->buf));
        }
        if (json_is_string(v))
            return set_text(out, json_string_value(v), json_string_length(v));
        return mismatch(c, v, "a timestamp (ISO 8601 text or epoch milliseconds)", err,
                        errlen);
    case SQL_TEXT:
        if (json_is_string(v))
            return set_text(out, json_string_value(v), json_string_length(v));
        if (!json_is_object(v) && !json_is_array(v)) {
            int n = scalar_text(v, out->buf);
            return set_text(out, out->buf, (size_t)n);
        }
        /* objects and arrays into text are their JSON */
        /* fall through */
    case SQL_JSONB:
    default:
        out->owned = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (out->owned == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return set_text(out, out->owned, strlen(out->owned));
    }
}

void sql_connector_id(const char *task_name, char *out, size_t outlen)
{
    const char *slash = strrchr(task_name, '/');
    size_t n = strlen(task_name);
    if (slash != NULL && slash[1] != '\0' && strspn(slash + 1, "0123456789") == strlen(slash + 1))
        n = (size_t)(slash - task_name);
    snprintf(out, outlen, "%.*s", (int)n, task_name);
}

int sql_offset_note(sql_offset *offs, size_t *n, size_t cap, const char *topic,
                    int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < *n; i++)
        if (offs[i].partition == partition && strcmp(offs[i].topic, topic) == 0) {
            if (offset + 1 > offs[i].next)
                offs[i].next = offset + 1;
            return 0;
        }
    if (*n == cap)
        return -1;
    snprintf(offs[*n].topic, sizeof(offs[*n].topic), "%s", topic);
    offs[*n].partition = partition;
    offs[*n].next = offset + 1;
    (*n)++;
    return 0;
}

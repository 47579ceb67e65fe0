/* cdc_decode.c - pgoutput (protocol version 1) into relations, tuples and JSON.
 *
 * Message layouts are PostgreSQL's "Logical Replication Message Formats": integers in
 * network byte order, strings NUL-terminated, tuple values in the server's text output.
 * Nothing here talks to a server or to spool's host.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdc_int.h"

/* ---- Reading ------------------------------------------------------------------------ */

static const unsigned char *take(cdc_reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    return q;
}

uint8_t cdc_u8(cdc_reader *r)
{
    const unsigned char *q = take(r, 1);
    return q ? q[0] : 0;
}

uint16_t cdc_u16(cdc_reader *r)
{
    const unsigned char *q = take(r, 2);
    return q ? (uint16_t)(q[0] << 8 | q[1]) : 0;
}

uint32_t cdc_u32(cdc_reader *r)
{
    const unsigned char *q = take(r, 4);
    return q ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3] : 0;
}

uint64_t cdc_u64(cdc_reader *r)
{
    uint64_t hi = cdc_u32(r);
    return hi << 32 | cdc_u32(r);
}

const char *cdc_str(cdc_reader *r)
{
    const unsigned char *nul = r->bad ? NULL : memchr(r->p, '\0', (size_t)(r->end - r->p));
    if (nul == NULL) {
        r->bad = 1;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p = nul + 1;
    return s;
}

int cdc_read_tuple(cdc_reader *r, cdc_tuple *t)
{
    int n = cdc_u16(r);
    if (n > t->cap) {
        cdc_val *v = realloc(t->v, (size_t)n * sizeof(*v));
        if (v == NULL)
            return -1;
        t->v = v;
        t->cap = n;
    }
    t->n = n;
    for (int i = 0; i < n && !r->bad; i++) {
        cdc_val *v = &t->v[i];
        v->kind = (char)cdc_u8(r);
        v->p = NULL;
        v->len = 0;
        if (v->kind == 't' || v->kind == 'b') {
            v->len = cdc_u32(r);
            v->p = (const char *)take(r, v->len);
            v->kind = 't';
        } else if (v->kind != 'n' && v->kind != 'u') {
            r->bad = 1;
        }
    }
    return r->bad ? -1 : 0;
}

void cdc_tuple_free(cdc_tuple *t)
{
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

void cdc_rel_free(cdc_rel *rel)
{
    for (int i = 0; i < rel->ncols; i++)
        free(rel->cols[i].name);
    free(rel->cols);
    free(rel->qname);
    rel->cols = NULL;
    rel->qname = NULL;
    rel->ncols = 0;
}

int cdc_read_relation(cdc_reader *r, cdc_rel *rel)
{
    cdc_rel_free(rel);
    rel->id = cdc_u32(r);
    const char *schema = cdc_str(r), *name = cdc_str(r);
    rel->ident = (char)cdc_u8(r);
    int n = cdc_u16(r);
    if (r->bad)
        return -1;
    size_t ql = strlen(schema) + strlen(name) + 2;
    rel->qname = malloc(ql);
    rel->cols = calloc(n > 0 ? (size_t)n : 1, sizeof(cdc_col));
    if (rel->qname == NULL || rel->cols == NULL)
        goto fail;
    snprintf(rel->qname, ql, "%s.%s", *schema ? schema : "pg_catalog", name);
    for (int i = 0; i < n; i++) {
        cdc_col *c = &rel->cols[i];
        c->key = cdc_u8(r) & 1;
        c->name = strdup(cdc_str(r));
        rel->ncols = i + 1;
        c->type = cdc_u32(r);
        (void)cdc_u32(r); /* typmod */
        if (c->name == NULL || r->bad)
            goto fail;
    }
    return 0;
fail:
    cdc_rel_free(rel);
    return -1;
}

/* ---- Values ------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* bytea's hex output ("\x0aff") as base64; the text itself when it is not hex. */
static json_t *bytea_json(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2 != 0)
        return json_string(s);
    size_t bytes = (n - 2) / 2;
    char *out = malloc(4 * ((bytes + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int have = 0;
    for (size_t i = 0; i < bytes; i++) {
        int h = hexval(s[2 + 2 * i]), l = hexval(s[3 + 2 * i]);
        if (h < 0 || l < 0) {
            free(out);
            return json_string(s);
        }
        acc = acc << 8 | (unsigned)(h << 4 | l);
        if (++have == 3) {
            for (int k = 3; k >= 0; k--)
                out[o++] = b64[(acc >> (6 * k)) & 63];
            acc = 0;
            have = 0;
        }
    }
    if (have == 1) {
        out[o++] = b64[(acc >> 2) & 63];
        out[o++] = b64[(acc << 4) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (have == 2) {
        out[o++] = b64[(acc >> 10) & 63];
        out[o++] = b64[(acc >> 4) & 63];
        out[o++] = b64[(acc << 2) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    json_t *j = json_string(out);
    free(out);
    return j;
}

/* "2024-05-01 12:00:00.5+00" -> "2024-05-01T12:00:00.5+00:00"; "infinity" and BC
 * dates stay as they are. */
static json_t *timestamp_json(const char *s)
{
    char iso[96];
    if (strlen(s) >= sizeof(iso) - 4 || strstr(s, "BC") || s[0] < '0' || s[0] > '9')
        return json_string(s);
    snprintf(iso, sizeof(iso), "%s", s);
    char *sp = strchr(iso, ' ');
    if (sp)
        *sp = 'T';
    size_t n = strlen(iso);
    if (n > 3 && (iso[n - 3] == '+' || iso[n - 3] == '-'))
        strcat(iso, ":00");
    return json_string(iso);
}

json_t *cdc_value_json(uint32_t type, const char *text, size_t len)
{
    char small[256], *s = len < sizeof(small) ? small : malloc(len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, text, len);
    s[len] = '\0';
    json_t *j;
    switch (type) {
    case 20: case 21: case 23: case 26: case 28: { /* int8, int2, int4, oid, xid */
        char *end;
        long long v = strtoll(s, &end, 10);
        j = *end == '\0' && end != s ? json_integer(v) : json_string(s);
        break;
    }
    case 700: case 701: { /* float4, float8: NaN and Infinity are not JSON numbers */
        char *end;
        double d = strtod(s, &end);
        j = (*end == '\0' && end != s && d == d && d - d == 0) ? json_real(d) : json_string(s);
        break;
    }
    case 16: /* bool */
        j = json_boolean(s[0] == 't');
        break;
    case 114: case 3802: /* json, jsonb */
        j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (j == NULL)
            j = json_string(s);
        break;
    case 17: /* bytea */
        j = bytea_json(s);
        break;
    case 1114: case 1184: /* timestamp, timestamptz */
        j = timestamp_json(s);
        break;
    default: /* numeric (exact, as text), text, varchar, dates, times, uuid, arrays... */
        j = json_stringn(s, len);
        if (j == NULL) /* not UTF-8: the server encoding is not; keep the bytes visible */
            j = json_string("\uFFFD");
        break;
    }
    if (s != small)
        free(s);
    return j;
}

json_t *cdc_tuple_json(const cdc_rel *rel, const cdc_tuple *t, int keys_only,
                       json_t *unchanged)
{
    if (t->n != rel->ncols)
        return NULL;
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < t->n; i++) {
        const cdc_col *c = &rel->cols[i];
        const cdc_val *v = &t->v[i];
        if (keys_only && !c->key)
            continue;
        if (v->kind == 'u') {
            if (unchanged != NULL)
                json_array_append_new(unchanged, json_string(c->name));
            continue;
        }
        json_t *j = v->kind == 'n' ? json_null() : cdc_value_json(c->type, v->p, v->len);
        if (j == NULL || json_object_set_new(o, c->name, j) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

json_t *cdc_key_json(const cdc_rel *rel, const cdc_tuple *t)
{
    int any = 0;
    for (int i = 0; i < rel->ncols && i < t->n; i++)
        if (rel->cols[i].key) {
            if (t->v[i].kind == 'u')
                return json_null();
            any = 1;
        }
    if (!any || t->n != rel->ncols)
        return json_null();
    json_t *k = cdc_tuple_json(rel, t, 1, NULL);
    return k ? k : json_null();
}

/* ---- LSNs, times, positions --------------------------------------------------------- */

void cdc_lsn_str(uint64_t lsn, char *out, size_t outlen)
{
    snprintf(out, outlen, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

int cdc_lsn_parse(const char *s, uint64_t *lsn)
{
    unsigned hi, lo;
    int n = 0;
    if (s == NULL || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
        return -1;
    *lsn = (uint64_t)hi << 32 | lo;
    return 0;
}

void cdc_ts_str(int64_t pg_us, char *out, size_t outlen)
{
    int64_t us = pg_us + CDC_PG_EPOCH_US;
    int64_t sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - sec * 1000000;
    time_t tt = (time_t)sec;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char base[64];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%06" PRId64 "Z", base, frac);
}

int cdc_pos_cmp(const cdc_pos *a, const cdc_pos *b)
{
    if (a->lsn != b->lsn)
        return a->lsn < b->lsn ? -1 : 1;
    if (a->i != b->i)
        return a->i < b->i ? -1 : 1;
    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    return 0;
}

void cdc_pos_str(const cdc_pos *p, char *out, size_t outlen)
{
    char lsn[32];
    cdc_lsn_str(p->lsn, lsn, sizeof(lsn));
    if (p->snapshot)
        snprintf(out, outlen, "{\"snapshot\":\"%s\"}", lsn);
    else
        snprintf(out, outlen, "{\"lsn\":\"%s\",\"i\":%u,\"s\":%u}", lsn, p->i, p->s);
}

int cdc_pos_parse(const void *data, size_t len, cdc_pos *p)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    memset(p, 0, sizeof(*p));
    int rc = -1;
    if (json_is_object(j)) {
        json_t *snap = json_object_get(j, "snapshot");
        if (json_is_string(snap)) {
            p->snapshot = 1;
            rc = cdc_lsn_parse(json_string_value(snap), &p->lsn);
        } else {
            json_t *i = json_object_get(j, "i"), *s = json_object_get(j, "s");
            if (json_is_integer(i) && json_is_integer(s) && json_integer_value(i) >= 0 &&
                json_integer_value(s) >= 0 &&
                cdc_lsn_parse(json_string_value(json_object_get(j, "lsn")), &p->lsn) == 0) {
                p->i = (uint32_t)json_integer_value(i);
                p->s = (uint32_t)json_integer_value(s);
                rc = 0;
            }
        }
    }
    json_decref(j);
    return rc;
}

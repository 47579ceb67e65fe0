/* http_body.c - a strict, allocation-free JSON scanner that finds the events of a body.
 *
 * Recursive descent over the RFC 8259 grammar with a depth bound, checking UTF-8
 * (no overlong forms, no surrogates, nothing above U+10FFFF) and \u escapes (surrogates
 * paired). Only the list of event spans grows; the scanner itself never allocates.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_body.h"

typedef struct scan {
    const unsigned char *p;
    size_t len, i;
    const char *why; /* static reason of the first error */
} scan;

static int fail(scan *s, const char *why)
{
    if (s->why == NULL)
        s->why = why;
    return -1;
}

/* The hot loops below work on local copies of p, i and len: a store to s->i could
 * alias any byte read through s->p (unsigned char), so the compiler would otherwise
 * store and reload the index for every byte. */
static void skip_ws(scan *s)
{
    const unsigned char *p = s->p;
    size_t i = s->i, len = s->len;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    s->i = i;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" at s->i; returns the code unit or -1. */
static long hex4(scan *s)
{
    long v = 0;
    if (s->len - s->i < 4)
        return fail(s, "truncated \\u escape");
    for (int k = 0; k < 4; k++) {
        int h = hexval(s->p[s->i + k]);
        if (h < 0)
            return fail(s, "invalid hex digit in \\u escape");
        v = v * 16 + h;
    }
    s->i += 4;
    return v;
}

/* One UTF-8 sequence of 2 to 4 bytes starting at s->i (a byte >= 0x80). */
static int utf8_seq(scan *s)
{
    const unsigned char *p = s->p + s->i;
    size_t left = s->len - s->i;
    unsigned char c = p[0];
    size_t n;
    unsigned long cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return fail(s, "invalid UTF-8 byte");
    }
    if (left < n)
        return fail(s, "truncated UTF-8 sequence");
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return fail(s, "invalid UTF-8 sequence");
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
        return fail(s, "overlong UTF-8 sequence");
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return fail(s, "UTF-8 sequence encodes an invalid code point");
    s->i += n;
    return 0;
}

/* Eight bytes at a time: nonzero when any byte of x is below 0x20, '"', '\\' or 0x80 and
 * above (the bytes a string scan must look at). */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
static uint64_t special_bytes(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    return (((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | x) & HIGHS;
}

/* Returns the index of the first byte at or after i that is not plain printable ASCII
 * inside a string (see special_bytes), or len. */
static size_t plain_run(const unsigned char *p, size_t i, size_t len)
{
    while (len - i >= 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (special_bytes(x) != 0)
            break;
        i += 8;
    }
    while (i < len && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
        i++;
    return i;
}

static int scan_string(scan *s)
{
    const unsigned char *p = s->p;
    size_t len = s->len;
    s->i++; /* the opening quote */
    while (s->i < len) {
        /* The run of plain printable ASCII, which is most of any string. */
        size_t i = plain_run(p, s->i, len);
        s->i = i;
        if (i >= len)
            break;
        unsigned char c = p[i];
        if (c == '"') {
            s->i++;
            return 0;
        }
        if (c < 0x20)
            return fail(s, "control character in string");
        if (c == '\\') {
            if (++s->i >= s->len)
                break;
            c = s->p[s->i++];
            switch (c) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u': {
                long u = hex4(s);
                if (u < 0)
                    return -1;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return fail(s, "unpaired low surrogate in \\u escape");
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (s->len - s->i < 2 || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u')
                        return fail(s, "unpaired high surrogate in \\u escape");
                    s->i += 2;
                    long lo = hex4(s);
                    if (lo < 0)
                        return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail(s, "unpaired high surrogate in \\u escape");
                }
                break;
            }
            default:
                s->i--;
                return fail(s, "invalid escape in string");
            }
        } else if (utf8_seq(s) != 0) { /* c >= 0x80 */
            return -1;
        }
    }
    return fail(s, "unterminated string");
}

static int digits(scan *s)
{
    const unsigned char *p = s->p;
    size_t start = s->i, i = s->i, len = s->len;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++;
    s->i = i;
    return i > start ? 0 : fail(s, "expected a digit");
}

static int scan_number(scan *s)
{
    if (s->p[s->i] == '-')
        s->i++;
    if (s->i >= s->len)
        return fail(s, "truncated number");
    if (s->p[s->i] == '0') {
        s->i++;
    } else if (digits(s) != 0) {
        return -1;
    }
    if (s->i < s->len && s->p[s->i] == '.') {
        s->i++;
        if (digits(s) != 0)
            return -1;
    }
    if (s->i < s->len && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
        s->i++;
        if (s->i < s->len && (s->p[s->i] == '+' || s->p[s->i] == '-'))
            s->i++;
        if (digits(s) != 0)
            return -1;
    }
    return 0;
}

static int scan_literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if (s->len - s->i < n || memcmp(s->p + s->i, word, n) != 0)
        return fail(s, "invalid literal: expected a JSON value");
    s->i += n;
    return 0;
}

static int scan_value(scan *s, int depth);

static int scan_object(scan *s, int depth)
{
    s->i++;
    skip_ws(s);
    if (s->i < s->len && s->p[s->i] == '}') {
        s->i++;
        return 0;
    }
    for (;;) {
        skip_ws(s);
        if (s->i >= s->len)
            return fail(s, "unterminated object");
        if (s->p[s->i] != '"')
            return fail(s, "expected a string key in object");
        if (scan_string(s) != 0)
            return -1;
        skip_ws(s);
        if (s->i >= s->len)
            return fail(s, "unterminated object");
        if (s->p[s->i] != ':')
            return fail(s, "expected ':' after object key");
        s->i++;
        if (scan_value(s, depth) != 0)
            return -1;
        skip_ws(s);
        if (s->i >= s->len)
            return fail(s, "unterminated object");
        if (s->p[s->i] == '}') {
            s->i++;
            return 0;
        }
        if (s->p[s->i] != ',')
            return fail(s, "expected ',' or '}' in object");
        s->i++;
    }
}

static int scan_array(scan *s, int depth)
{
    s->i++;
    skip_ws(s);
    if (s->i < s->len && s->p[s->i] == ']') {
        s->i++;
        return 0;
    }
    for (;;) {
        if (scan_value(s, depth) != 0)
            return -1;
        skip_ws(s);
        if (s->i >= s->len)
            return fail(s, "unterminated array");
        if (s->p[s->i] == ']') {
            s->i++;
            return 0;
        }
        if (s->p[s->i] != ',')
            return fail(s, "expected ',' or ']' in array");
        s->i++;
    }
}

static int scan_value(scan *s, int depth)
{
    skip_ws(s);
    if (s->i >= s->len)
        return fail(s, "unexpected end of body: expected a JSON value");
    switch (s->p[s->i]) {
    case '{':
        if (depth >= HTTP_BODY_MAX_DEPTH)
            return fail(s, "nesting deeper than 64 levels");
        return scan_object(s, depth + 1);
    case '[':
        if (depth >= HTTP_BODY_MAX_DEPTH)
            return fail(s, "nesting deeper than 64 levels");
        return scan_array(s, depth + 1);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    default:
        if (s->p[s->i] == '-' || (s->p[s->i] >= '0' && s->p[s->i] <= '9'))
            return scan_number(s);
        return fail(s, "unexpected character: expected a JSON value");
    }
}

static int push(http_events *ev, size_t off, size_t len)
{
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 16;
        http_span *v = realloc(ev->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        ev->v = v;
        ev->cap = cap;
    }
    ev->v[ev->n].off = off;
    ev->v[ev->n].len = len;
    ev->n++;
    return 0;
}

/* One event: must be an object. */
static int scan_event(scan *s, http_events *ev, int *oom)
{
    size_t start = s->i;
    if (s->p[s->i] != '{')
        return fail(s, "an event must be a JSON object");
    if (scan_object(s, 1) != 0)
        return -1;
    if (push(ev, start, s->i - start) != 0) {
        *oom = 1;
        return -1;
    }
    return 0;
}

static int scan_body(scan *s, http_events *ev, int *oom)
{
    skip_ws(s);
    if (s->i >= s->len)
        return fail(s, "empty body: expected a JSON object, an array of objects or NDJSON");
    if (s->p[s->i] == '[') {
        s->i++;
        skip_ws(s);
        if (s->i < s->len && s->p[s->i] == ']') {
            s->i++;
        } else {
            for (;;) {
                skip_ws(s);
                if (s->i >= s->len)
                    return fail(s, "unterminated array");
                if (scan_event(s, ev, oom) != 0)
                    return -1;
                skip_ws(s);
                if (s->i >= s->len)
                    return fail(s, "unterminated array");
                if (s->p[s->i] == ']') {
                    s->i++;
                    break;
                }
                if (s->p[s->i] != ',')
                    return fail(s, "expected ',' or ']' in array");
                s->i++;
            }
        }
        skip_ws(s);
        if (s->i < s->len)
            return fail(s, "unexpected data after the array");
        return 0;
    }
    for (;;) {
        if (scan_event(s, ev, oom) != 0)
            return -1;
        while (s->i < s->len && (s->p[s->i] == ' ' || s->p[s->i] == '\t' ||
                                 s->p[s->i] == '\r'))
            s->i++;
        if (s->i >= s->len)
            return 0;
        if (s->p[s->i] != '\n')
            return fail(s, "expected a newline between NDJSON events");
        skip_ws(s);
        if (s->i >= s->len)
            return 0;
    }
}

int http_body_parse(const char *body, size_t len, http_events *ev, char *err,
                    size_t errlen, size_t *err_pos)
{
    scan s = {(const unsigned char *)body, len, 0, NULL};
    int oom = 0;
    ev->n = 0;
    if (scan_body(&s, ev, &oom) == 0)
        return HTTP_BODY_OK;
    ev->n = 0;
    if (oom)
        return HTTP_BODY_ENOMEM;
    size_t pos = s.i < len ? s.i : len, line = 1, col = 1;
    for (size_t k = 0; k < pos; k++) {
        if (body[k] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (err_pos != NULL)
        *err_pos = pos;
    if (errlen > 0)
        snprintf(err, errlen, "%s at byte %zu (line %zu, column %zu)",
                 s.why ? s.why : "invalid JSON", pos, line, col);
    return HTTP_BODY_EINVAL;
}

int http_json_valid(const char *p, size_t len)
{
    scan s = {(const unsigned char *)p, len, 0, NULL};
    if (scan_value(&s, 0) != 0)
        return 0;
    skip_ws(&s);
    return s.i == len;
}

void http_events_free(http_events *ev)
{
    free(ev->v);
    ev->v = NULL;
    ev->n = ev->cap = 0;
}

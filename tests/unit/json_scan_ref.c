/* json_scan_ref.c - THE FROZEN REFERENCE: runtime/json/json_scan.c as it was before the
 * fast scanner (commit e0d5d78), renamed json_scan_ref*, for the differential test
 * (tests/unit/test_json_scan_diff.c), the fuzz target (tests/fuzz/fuzz_json_scan.c) and
 * the microbenchmark (bench/bench_json_scan.c). Never linked into the product.
 *
 * Do not change it: it defines the answers (tokens, flags, why and at) the scanner in
 * runtime/json must keep giving. Only the names differ from the original. */
#include "json_scan_ref.h"

#include <string.h>

void json_scan_ref_prepare(json_scan_ref_plan *plan, const char *const *paths, size_t n)
{
    plan->npaths = n;
    plan->ok = n <= JSON_SCAN_MAX_PATHS;
    for (size_t c = 0; c < n && plan->ok; c++) {
        const char *p = paths[c];
        plan->nsteps[c] = 0;
        while (p != NULL) {
            const char *dot = strchr(p, '.');
            if (plan->nsteps[c] == JSON_SCAN_MAX_STEPS) {
                plan->ok = 0;
                break;
            }
            plan->step[c][plan->nsteps[c]] = p;
            plan->steplen[c][plan->nsteps[c]++] = dot ? (size_t)(dot - p) : strlen(p);
            p = dot != NULL ? dot + 1 : NULL;
        }
    }
}

typedef struct scanner {
    const char *p, *end;
    const json_scan_ref_plan *plan;
    json_token *toks;
    unsigned flags;
    const char *why;
    const char *key[JSON_SCAN_MAX_STEPS];
    size_t keylen[JSON_SCAN_MAX_STEPS];
} scanner;

static void ws(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int ishex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes that end a run of plain ASCII string content: '"', '\\', control characters
 * and every byte of a multi-byte UTF-8 sequence. */
static const unsigned char special[256] = {
    [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1};

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    if (p[0] < 0xc2 || p[0] > 0xf4 || (size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

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
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
            if (n == 0) {
                s->flags |= JSON_SCAN_NOT_UTF8;
                n = 1;
            }
            s->p += n;
            continue;
        }
        if (c < 0x20) {
            s->why = "control character in a string";
            return -1;
        }
        *esc = 1; /* a backslash */
        if (p + 1 >= end)
            break;
        if (p[1] == 'u') {
            if (end - p < 6 || !ishex(p[2]) || !ishex(p[3]) || !ishex(p[4]) || !ishex(p[5])) {
                s->why = "invalid \\u escape";
                return -1;
            }
            s->flags |= JSON_SCAN_UNICODE_ESCAPE;
            s->p += 6;
            continue;
        }
        if (p[1] == '\0' || strchr("\"\\/bfnrt", p[1]) == NULL) {
            s->why = "invalid escape in a string";
            return -1;
        }
        s->p += 2;
    }
    s->why = "unterminated string";
    return -1;
}

static int digits(const char **p, const char *end)
{
    const char *q = *p;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    int any = q > *p;
    *p = q;
    return any;
}

static int number(scanner *s, json_token *t)
{
    const char *p = s->p;
    t->type = JSON_TOK_INT;
    if (p < s->end && *p == '-')
        p++;
    if (p < s->end && *p == '0')
        p++;
    else if (p >= s->end || *p < '1' || *p > '9' || !digits(&p, s->end))
        goto bad;
    if (p < s->end && *p == '.') {
        t->type = JSON_TOK_REAL;
        p++;
        if (!digits(&p, s->end))
            goto bad;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        t->type = JSON_TOK_REAL;
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (!digits(&p, s->end))
            goto bad;
    }
    /* Past 18 digits a long long may overflow; an exponent or 300 digits, a double. */
    if ((t->type == JSON_TOK_INT && p - s->p > 18 + (*s->p == '-')) ||
        (t->type == JSON_TOK_REAL && (memchr(s->p, 'e', (size_t)(p - s->p)) != NULL ||
                                      memchr(s->p, 'E', (size_t)(p - s->p)) != NULL ||
                                      p - s->p > 300)))
        s->flags |= JSON_SCAN_BIG_NUMBER;
    s->p = p;
    return 0;
bad:
    s->why = "invalid number";
    return -1;
}

/* Whether path c's first depth + 1 steps are the key stack key[0..depth]. */
static int on_path(const scanner *s, size_t c, int depth)
{
    const json_scan_ref_plan *pl = s->plan;
    for (int d = depth; d >= 0; d--)
        if (pl->steplen[c][d] != s->keylen[d] ||
            memcmp(pl->step[c][d], s->key[d], s->keylen[d]) != 0)
            return 0;
    return 1;
}

/* Which paths end at the member whose key stack is key[0..depth]. */
static void match(scanner *s, int depth, const json_token *t)
{
    for (size_t c = 0; c < s->plan->npaths; c++)
        if (s->plan->nsteps[c] == (size_t)depth + 1 && on_path(s, c, depth))
            s->toks[c] = *t;
}

/* A member whose key stack is key[0..depth] begins: forget what an earlier member of
 * the same name found below it, as the last member wins. */
static void unmatch(scanner *s, int depth)
{
    for (size_t c = 0; c < s->plan->npaths; c++)
        if (s->plan->nsteps[c] > (size_t)depth + 1 && s->toks[c].type != JSON_TOK_ABSENT &&
            on_path(s, c, depth))
            s->toks[c].type = JSON_TOK_ABSENT;
}

static int value(scanner *s, int depth, int level, json_token *t);

/* The members of an object at s->p (past the '{'); depth as value()'s. */
static int object(scanner *s, int depth, int level)
{
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        int esc, d = depth >= -1 && depth + 1 < JSON_SCAN_MAX_STEPS ? depth + 1 : -2;
        json_token m;
        ws(s);
        const char *k = s->p + 1;
        if (s->p >= s->end || *s->p != '"') {
            s->why = "expected a key";
            return -1;
        }
        if (str(s, &esc) != 0)
            return -1;
        if (d >= 0) {
            s->key[d] = k;
            s->keylen[d] = (size_t)(s->p - 1 - k);
            if (esc)
                s->flags |= JSON_SCAN_ESCAPED_KEY;
            unmatch(s, d);
        }
        ws(s);
        if (s->p >= s->end || *s->p != ':') {
            s->why = "expected ':'";
            return -1;
        }
        s->p++;
        if (value(s, d, level + 1, &m) != 0)
            return -1;
        if (d >= 0)
            match(s, d, &m);
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return 0;
        }
        s->why = "expected ',' or '}'";
        return -1;
    }
}

static int array(scanner *s, int level)
{
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        json_token m;
        if (value(s, -2, level + 1, &m) != 0)
            return -1;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        s->why = "expected ',' or ']'";
        return -1;
    }
}

/* depth: the depth of the value's own key on s->key; -1 for the root, -2 when the
 * value is not on a path a plan can name (inside an array, or too deep). */
static int value(scanner *s, int depth, int level, json_token *t)
{
    static const char *const words[] = {"true", "false", "null"};
    ws(s);
    if (s->p >= s->end) {
        s->why = "unexpected end of input";
        return -1;
    }
    if (level > JSON_SCAN_MAX_DEPTH) {
        s->why = "nested too deeply";
        return -1;
    }
    t->p = s->p;
    t->escaped = 0;
    switch (*s->p) {
    case '{':
        t->type = JSON_TOK_OBJECT;
        s->p++;
        if (object(s, depth, level) != 0)
            return -1;
        break;
    case '[':
        t->type = JSON_TOK_ARRAY;
        s->p++;
        if (array(s, level) != 0)
            return -1;
        break;
    case '"':
        t->type = JSON_TOK_STRING;
        if (str(s, &t->escaped) != 0)
            return -1;
        break;
    case 't':
    case 'f':
    case 'n': {
        int w = *s->p == 't' ? 0 : *s->p == 'f' ? 1 : 2;
        size_t n = strlen(words[w]);
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, words[w], n) != 0) {
            s->why = "invalid literal";
            return -1;
        }
        s->p += n;
        t->type = w == 0 ? JSON_TOK_TRUE : w == 1 ? JSON_TOK_FALSE : JSON_TOK_NULL;
        break;
    }
    default:
        if (number(s, t) != 0)
            return -1;
        break;
    }
    t->len = (size_t)(s->p - t->p);
    return 0;
}

int json_scan_ref(const json_scan_ref_plan *plan, const char *json, size_t len,
                  json_token *toks, unsigned *flags, const char **why, size_t *at)
{
    scanner s = {.p = json, .end = json + len, .plan = plan, .toks = toks};
    json_token root;

    memset(toks, 0, plan->npaths * sizeof(*toks));
    if (value(&s, -1, 0, &root) != 0 || (ws(&s), s.p != s.end)) {
        *why = s.why != NULL ? s.why : "trailing characters";
        *at = (size_t)(s.p - json);
        return -1;
    }
    *flags = s.flags;
    return 0;
}

int json_scan_ref_text(const json_scan_ref_plan *plan, const char *json, size_t len,
                       const char **text, size_t *text_len)
{
    json_token t;
    unsigned flags;
    const char *why;
    size_t at;

    if (!plan->ok || plan->npaths != 1 ||
        json_scan_ref(plan, json, len, &t, &flags, &why, &at) != 0 || flags != 0)
        return -1;
    switch (t.type) {
    case JSON_TOK_ABSENT:
        return 0;
    case JSON_TOK_STRING:
        if (t.escaped)
            return -1;
        *text = t.p + 1;
        *text_len = t.len - 2;
        return 1;
    case JSON_TOK_INT:
        /* jansson reads integers into a long long and prints them back: the same text
         * unless it is "-0" (one that could overflow set JSON_SCAN_BIG_NUMBER). */
        if (t.len == 2 && t.p[0] == '-' && t.p[1] == '0')
            return -1;
        break;
    case JSON_TOK_NULL:
    case JSON_TOK_TRUE:
    case JSON_TOK_FALSE:
        break;
    default:
        return -1;
    }
    *text = t.p;
    *text_len = t.len;
    return 1;
}

/* json_scan.c - a validating single-pass JSON scanner that finds given fields.
 *
 * It is on every hot path (key fields, filters, the SQL sinks' columns), so it is
 * written for speed without giving up a byte of its answers (tests/unit/
 * test_json_scan_diff.c holds it to the frozen reference, tests/unit/json_scan_ref.c):
 *
 * - The position travels in a local (p), returned by each function, not in a struct
 *   behind a pointer; only the cold state (the plan, the tokens, flags, the error)
 *   does.
 * - Strings are scanned eight bytes at a time: one word test says whether any of them
 *   is a quote, a backslash, a control byte or a byte of a multi-byte sequence, and
 *   which comes first. Everything but the closing quote goes to a slow path.
 * - Paths are followed with bit masks (bit c: path c): an object's members carry the
 *   set of paths still alive at their depth, a key narrows it to those whose step it
 *   is, and a value no path can reach is only validated. Repeated keys reset the paths
 *   below them, as the last member wins.
 *
 * Error positions and messages are the reference's: each check happens where it did.
 */
#include "json_scan.h"

#include <string.h>

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CTZ64(x) __builtin_ctzll(x)
#else
#define NOINLINE
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
static int ctz64(uint64_t x)
{
    int n = 0;
    while ((x & 1) == 0) {
        x >>= 1;
        n++;
    }
    return n;
}
#define CTZ64(x) ctz64(x)
#endif

/* On a little-endian machine the word tests find the first special byte by its bit
 * (elsewhere they only say that there is one, and a byte loop finds it), and a key's
 * head is loaded as one word. JSON_SCAN_PORTABLE builds the other branch on any
 * machine: the tests build that variant too (tests/unit/transform.cmake). (SSE2, 16
 * bytes at a time, measured no faster on these short strings: not used.) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    !defined(JSON_SCAN_PORTABLE)
#define SWAR_LITTLE_ENDIAN 1
#else
#define SWAR_LITTLE_ENDIAN 0
#endif

/* The first 8 bytes of the key (or step) of len bytes at k, zero past its end, as one
 * word: a key and a step are equal when their lengths, their heads and (past 8 bytes)
 * the rest are. end: where the readable bytes end (at least k + len). */
static inline uint64_t head_of(const char *k, size_t len, const char *end)
{
    uint64_t h = 0;
#if SWAR_LITTLE_ENDIAN
    if (end - k >= 8) {
        memcpy(&h, k, 8);
        return len < 8 ? h & ((UINT64_C(1) << (len * 8)) - 1) : h;
    }
#else
    (void)end;
#endif
    memcpy(&h, k, len < 8 ? len : 8);
    return h;
}

/* Which bucket of plan->bucket a key (or a step) with this head and length falls in at
 * depth d. */
static inline unsigned key_hash(uint64_t head, size_t len, int d)
{
    uint64_t h = (head ^ ((uint64_t)len << 56) ^ ((uint64_t)d << 48)) *
                 UINT64_C(0x9e3779b97f4a7c15);
    return (unsigned)(h >> 58) % JSON_SCAN_BUCKETS;
}

void json_scan_prepare(json_scan_plan *plan, const char *const *paths, size_t n)
{
    plan->npaths = n;
    plan->ok = n <= JSON_SCAN_MAX_PATHS;
    plan->hashed = plan->ok && n >= JSON_SCAN_HASH_MIN;
    memset(plan->ends, 0, sizeof(plan->ends));
    memset(plan->longer, 0, sizeof(plan->longer));
    if (plan->hashed)
        memset(plan->bucket, 0, sizeof(plan->bucket));
    for (size_t c = 0; c < n && plan->ok; c++) {
        const char *p = paths[c];
        plan->nsteps[c] = 0;
        while (p != NULL) {
            const char *dot = strchr(p, '.');
            if (plan->nsteps[c] == JSON_SCAN_MAX_STEPS) {
                plan->ok = 0;
                break;
            }
            size_t len = dot ? (size_t)(dot - p) : strlen(p);
            plan->head[c][plan->nsteps[c]] = head_of(p, len, p + len);
            plan->step[c][plan->nsteps[c]] = p;
            plan->steplen[c][plan->nsteps[c]++] = len;
            p = dot != NULL ? dot + 1 : NULL;
        }
        if (!plan->ok)
            break; /* a plan not ok finds nothing */
        size_t k = plan->nsteps[c];
        for (size_t d = 0; d < k; d++) {
            if (d + 1 == k)
                plan->ends[d] |= UINT64_C(1) << c;
            else
                plan->longer[d] |= UINT64_C(1) << c;
            if (plan->hashed)
                plan->bucket[key_hash(plan->head[c][d], plan->steplen[c][d], (int)d)] |=
                    UINT64_C(1) << c;
        }
    }
}

typedef struct scanner {
    const char *end;
    const json_scan_plan *plan;
    json_token *toks;
    unsigned flags;
    const char *why;
    const char *at;        /* where the error is */
} scanner;

/* Records the error; returns NULL for the caller to return. */
static const char *fail(scanner *s, const char *at, const char *why)
{
    s->why = why;
    s->at = at;
    return NULL;
}

#define WS_MASK ((UINT64_C(1) << ' ') | (UINT64_C(1) << '\t') | (UINT64_C(1) << '\n') | \
                 (UINT64_C(1) << '\r'))

static inline const char *ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= ' ' && ((WS_MASK >> (unsigned char)*p) & 1))
        p++;
    return p;
}

static int ishex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes that end a run of plain ASCII string content: '"', '\\', control characters
 * and every byte of a multi-byte UTF-8 sequence. */
static const unsigned char special[256] = {
    [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The high bit of each byte of x that is special (above). Bytes above a special one
 * may be marked too (a borrow runs upwards), never bytes below it: the lowest mark is
 * always the first special byte. (Below 0x80, x - 0x20 sets a byte's high bit only
 * when the byte is below 0x20, q - 1 and b - 1 only at a quote or a backslash, and
 * only those bytes borrow; bytes of 0x80 and up are marked by their own bit.) */
static inline uint64_t special8(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    return ((x - ONES * 0x20) | (q - ONES) | (b - ONES) | x) & HIGHS;
}

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

/* One special byte other than the closing quote at p, inside a string: a backslash
 * escape, a control byte (an error) or a multi-byte sequence. Returns what follows it. */
static const char *str_special(scanner *s, const char *p, const char *end, int *esc)
{
    unsigned char c = (unsigned char)*p;
    if (c >= 0x80) {
        size_t n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
        if (n == 0) {
            s->flags |= JSON_SCAN_NOT_UTF8;
            n = 1;
        }
        return p + n;
    }
    if (c < 0x20)
        return fail(s, p, "control character in a string");
    *esc = 1; /* a backslash */
    if (p + 1 >= end)
        return fail(s, p, "unterminated string");
    if (p[1] == 'u') {
        if (end - p < 6 || !ishex(p[2]) || !ishex(p[3]) || !ishex(p[4]) || !ishex(p[5]))
            return fail(s, p, "invalid \\u escape");
        s->flags |= JSON_SCAN_UNICODE_ESCAPE;
        return p + 6;
    }
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 2;
    default:
        return fail(s, p, "invalid escape in a string");
    }
}

/* The first special byte at or after p, or end. */
static inline const char *plain(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t x, m;
        memcpy(&x, p, 8);
        m = special8(x);
        if (m != 0) {
#if SWAR_LITTLE_ENDIAN
            return p + (CTZ64(m) >> 3);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && !special[(unsigned char)*p])
        p++;
    return p;
}

/* The rest of a string, from p (inside it, at or before its next special byte). */
static NOINLINE const char *str_rest(scanner *s, const char *p, const char *end, int *esc)
{
    for (;;) {
        p = plain(p, end);
        if (p >= end)
            return fail(s, end, "unterminated string");
        if (*p == '"')
            return p + 1;
        p = str_special(s, p, end, esc);
        if (p == NULL)
            return NULL;
    }
}

/* A string at p (on the quote). Returns what follows its closing quote, or NULL; sets
 * *esc when it holds escapes (leaves it alone otherwise). Inline, the common case: the
 * first special byte is the closing quote. */
static inline const char *str(scanner *s, const char *p, const char *end, int *esc)
{
    p++;
#if SWAR_LITTLE_ENDIAN
    while (LIKELY(end - p >= 8)) {
        uint64_t x, m;
        memcpy(&x, p, 8);
        m = special8(x);
        if (m != 0) {
            unsigned at = (unsigned)CTZ64(m) & ~7u;
            p += at >> 3;
            if (LIKELY(((x >> at) & 0xff) == '"'))
                return p + 1;
            break;
        }
        p += 8;
    }
#endif
    return str_rest(s, p, end, esc);
}

static inline int isdigit_(char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* What follows the run of digits at q. */
static inline const char *digits(const char *q, const char *end)
{
#if SWAR_LITTLE_ENDIAN
    while (end - q >= 8) {
        uint64_t x, y;
        memcpy(&x, q, 8);
        y = x ^ (ONES * '0'); /* digits become 0..9 */
        /* The high bit of each byte that is not a digit: 10 and above carry into bit 7
         * (bytes of 0x80 and above are marked by their own bit), with no carry out. */
        uint64_t nd = (((y & ~HIGHS) + ONES * (0x80 - 10)) | y) & HIGHS;
        if (nd != 0)
            return q + (CTZ64(nd) >> 3);
        q += 8;
    }
#endif
    while (q < end && isdigit_(*q))
        q++;
    return q;
}

/* A number at p. Returns what follows it, or NULL; sets *type. */
static inline const char *number(scanner *s, const char *p, const char *end,
                                 json_tok_type *type)
{
    const char *q = p;
    int exp = 0;
    *type = JSON_TOK_INT;
    if (q < end && *q == '-')
        q++;
    if (q < end && *q == '0') {
        q++;
    } else if (LIKELY(q < end && *q >= '1' && *q <= '9')) {
        q = digits(q + 1, end);
    } else {
        return fail(s, p, "invalid number");
    }
    if (q < end && *q == '.') {
        *type = JSON_TOK_REAL;
        q++;
        if (UNLIKELY(q >= end || !isdigit_(*q)))
            return fail(s, p, "invalid number");
        q = digits(q + 1, end);
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        *type = JSON_TOK_REAL;
        exp = 1;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (UNLIKELY(q >= end || !isdigit_(*q)))
            return fail(s, p, "invalid number");
        q = digits(q + 1, end);
    }
    /* Past 18 digits a long long may overflow; an exponent or 300 digits, a double. */
    if (*type == JSON_TOK_INT ? q - p > 18 + (*p == '-') : exp || q - p > 300)
        s->flags |= JSON_SCAN_BIG_NUMBER;
    return q;
}

/* Which of the paths in alive have key k (len bytes, inside the input, which ends at
 * end) as their step at depth d. */
static inline uint64_t match_key(const json_scan_plan *pl, uint64_t alive, int d,
                                 const char *k, size_t len, const char *end)
{
    uint64_t hit = 0, head = head_of(k, len, end);
    if (pl->hashed)
        alive &= pl->bucket[key_hash(head, len, d)];
    while (alive != 0) {
        int c = CTZ64(alive);
        alive &= alive - 1;
        if (pl->steplen[c][d] == len && pl->head[c][d] == head &&
            (len <= 8 || memcmp(pl->step[c][d] + 8, k + 8, len - 8) == 0))
            hit |= UINT64_C(1) << c;
    }
    return hit;
}

/* Containers are the only recursion: value() is inlined into their loops, so that a
 * member or an element that is a scalar costs no call. */
static NOINLINE const char *object(scanner *s, const char *p, int depth, int level,
                                   uint64_t alive);
static NOINLINE const char *array(scanner *s, const char *p, int level);

/* A value at p (whitespace first). depth: the depth of the value's own key, -1 for
 * the root, -2 when no path can name it (inside an array, or too deep); alive: the
 * paths its members may continue when it is an object. Fills *t on success. */
static inline const char *value(scanner *s, const char *p, int depth, int level,
                                uint64_t alive, json_token *t)
{
    const char *end = s->end;
    p = ws(p, end);
    if (UNLIKELY(p >= end))
        return fail(s, p, "unexpected end of input");
    if (UNLIKELY(level > JSON_SCAN_MAX_DEPTH))
        return fail(s, p, "nested too deeply");
    t->p = p;
    t->escaped = 0;
    switch (*p) {
    case '"':
        t->type = JSON_TOK_STRING;
        p = str(s, p, end, &t->escaped);
        break;
    case '{':
        t->type = JSON_TOK_OBJECT;
        p = object(s, p + 1, depth, level, alive);
        break;
    case '[':
        t->type = JSON_TOK_ARRAY;
        p = array(s, p + 1, level);
        break;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
            return fail(s, p, "invalid literal");
        t->type = JSON_TOK_TRUE;
        p += 4;
        break;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
            return fail(s, p, "invalid literal");
        t->type = JSON_TOK_FALSE;
        p += 5;
        break;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
            return fail(s, p, "invalid literal");
        t->type = JSON_TOK_NULL;
        p += 4;
        break;
    default:
        p = number(s, p, end, &t->type);
        break;
    }
    if (p != NULL)
        t->len = (size_t)(p - t->p);
    return p;
}

/* The members of an object at p (past the '{'); depth and alive as value()'s. */
static NOINLINE const char *object(scanner *s, const char *p, int depth, int level,
                                   uint64_t alive)
{
    const json_scan_plan *pl = s->plan;
    const char *end = s->end;
    int d = depth >= -1 && depth + 1 < JSON_SCAN_MAX_STEPS ? depth + 1 : -2;
    p = ws(p, end);
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        int esc = 0;
        uint64_t hit = 0;
        json_token m;
        p = ws(p, end);
        if (UNLIKELY(p >= end || *p != '"'))
            return fail(s, p, "expected a key");
        const char *k = p + 1;
        p = str(s, p, end, &esc);
        if (UNLIKELY(p == NULL))
            return NULL;
        if (d >= 0) {
            if (UNLIKELY(esc))
                s->flags |= JSON_SCAN_ESCAPED_KEY;
            if (alive != 0) {
                hit = match_key(pl, alive, d, k, (size_t)(p - 1 - k), end);
                /* The last member wins: forget what an earlier one of this name found
                 * below it. */
                for (uint64_t below = hit & pl->longer[d]; below != 0; below &= below - 1) {
                    json_token *t = &s->toks[CTZ64(below)];
                    if (t->type != JSON_TOK_ABSENT)
                        t->type = JSON_TOK_ABSENT;
                }
            }
        }
        p = ws(p, end);
        if (UNLIKELY(p >= end || *p != ':'))
            return fail(s, p, "expected ':'");
        p = value(s, p + 1, d, level + 1, d >= 0 ? hit & pl->longer[d] : 0, &m);
        if (UNLIKELY(p == NULL))
            return NULL;
        if (hit != 0)
            for (uint64_t here = hit & pl->ends[d]; here != 0; here &= here - 1) {
                json_token *t = &s->toks[CTZ64(here)];
                t->type = m.type;
                t->p = m.p;
                t->len = m.len;
                t->escaped = m.escaped;
            }
        p = ws(p, end);
        if (LIKELY(p < end && *p == ',')) {
            p++;
            continue;
        }
        if (LIKELY(p < end && *p == '}'))
            return p + 1;
        return fail(s, p, "expected ',' or '}'");
    }
}

static NOINLINE const char *array(scanner *s, const char *p, int level)
{
    const char *end = s->end;
    p = ws(p, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        json_token m;
        p = value(s, p, -2, level + 1, 0, &m);
        if (UNLIKELY(p == NULL))
            return NULL;
        p = ws(p, end);
        if (LIKELY(p < end && *p == ',')) {
            p++;
            continue;
        }
        if (LIKELY(p < end && *p == ']'))
            return p + 1;
        return fail(s, p, "expected ',' or ']'");
    }
}

int json_scan(const json_scan_plan *plan, const char *json, size_t len, json_token *toks,
              unsigned *flags, const char **why, size_t *at)
{
    scanner s = {.end = json + len, .plan = plan, .toks = toks};
    json_token root;
    const char *p;

    memset(toks, 0, plan->npaths * sizeof(*toks));
    p = value(&s, json, -1, 0, plan->ends[0] | plan->longer[0], &root);
    if (p != NULL && (p = ws(p, s.end)) != s.end)
        fail(&s, p, "trailing characters");
    if (s.why != NULL) {
        *why = s.why;
        *at = (size_t)(s.at - json);
        return -1;
    }
    *flags = s.flags;
    return 0;
}

int json_scan_text(const json_scan_plan *plan, const char *json, size_t len,
                   const char **text, size_t *text_len)
{
    json_token t;
    unsigned flags;
    const char *why;
    size_t at;

    if (!plan->ok || plan->npaths != 1 ||
        json_scan(plan, json, len, &t, &flags, &why, &at) != 0 || flags != 0)
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

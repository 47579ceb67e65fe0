/* test_json_scan_diff.c - runtime/json's json_scan() against the frozen reference
 * (json_scan_ref.c, the scanner as it was before it was made fast): for every input of
 * a generated corpus and every plan, the same return value, the same tokens (type, p,
 * len, escaped: also those left behind by a failed scan), the same flags, and for
 * invalid input the same why and at; json_scan_text() the same answer.
 *
 * The corpus: random valid documents (objects, arrays, repeated and escaped keys,
 * escapes, UTF-8 good and bad, numbers at the limits, whitespace), mutations of them,
 * every truncation of sample records, nesting around the depth limit, and hand-written
 * edge cases. Seeded: the seed is printed, SPOOL_SEED=N reruns one. Each input is
 * copied into a heap block of exactly its length, so that ASan sees any read past it.
 * Built twice (tests/unit/transform.cmake): against the scanner as the product builds
 * it, and against its portable fallbacks (JSON_SCAN_PORTABLE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "json_scan.h"
#include "json_scan_ref.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t x = rng_state;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    return x ^ (x >> 32);
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* ---- plans ---- */

/* Steps a path may have, and keys a document may use (steps and more). */
static const char *const steps[] = {"a", "b", "id", "event", "resource_id", "resource", "",
                                    "abcdefgh", "abcdefghi", "long_key_name_over_8", "k",
                                    "caf\xc3\xa9", "ts", "price", "x"};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

typedef struct plan_spec {
    size_t n;
    char buf[JSON_SCAN_MAX_PATHS][256];
    const char *paths[JSON_SCAN_MAX_PATHS];
} plan_spec;

/* A random plan: 0 to 12 paths (sometimes many more, to fill the 64), of 1 to 3 steps
 * (sometimes up to 9: one too many), with repeats and now and then a NULL path. */
static void random_plan(plan_spec *ps)
{
    size_t r = below(20);
    ps->n = r < 2 ? 1 : r < 17 ? 1 + below(12) : r < 19 ? 30 + below(35) : 0;
    for (size_t c = 0; c < ps->n; c++) {
        size_t nsteps = below(10) == 0 ? 1 + below(JSON_SCAN_MAX_STEPS + 1) : 1 + below(3);
        char *b = ps->buf[c];
        b[0] = '\0';
        for (size_t k = 0; k < nsteps; k++) {
            if (k > 0)
                strcat(b, ".");
            strcat(b, steps[below(NSTEPS)]);
        }
        ps->paths[c] = below(40) == 0 ? NULL : b;
    }
}

/* ---- documents ---- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void ws(buf *b)
{
    static const char *const spaces[] = {" ", "\t", "\n", "\r", "  ", "\r\n  "};
    if (below(6) == 0)
        puts_(b, spaces[below(6)]);
}

/* Pieces of string content: plain, escapes, \u, UTF-8 good and bad, long runs. */
static void string_body(buf *b)
{
    static const char *const pieces[] = {
        "a", "resource_created", "res-17-3", " ", "0123456789abcdef", "\\\"", "\\\\",
        "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\uD83D\\uDE00", "\\ud800",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc2\x80", "\xdf\xbf",
        "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
        "\xf4\x8f\xbf\xbf", "\x7f", "\xc0\xaf", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80",
        "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\x80", "\xc3",
        "\xe2\x82", "\xf0\x9f\x98", "\xc3\x28", "quote\"d", "\x01", "\x1f", "\\x", "\\u12",
        "\\u12g4", "\\"};
    size_t n = below(6);
    for (size_t i = 0; i < n; i++) {
        /* Mostly valid pieces; the invalid ones (after index 41) rarely. */
        size_t k = below(10) == 0 ? below(sizeof(pieces) / sizeof(pieces[0])) : below(42);
        puts_(b, pieces[k]);
    }
}

static void number(buf *b)
{
    static const char *const nums[] = {
        "0", "-0", "1", "-1", "42", "3.25", "-0.5", "1e3", "1E+3", "2e-7", "0.000001",
        "123456789012345678", "-123456789012345678", "1234567890123456789",
        "-1234567890123456789", "99999999999999999999", "1767225600000", "0.125000",
        "12.500000", "1.5e308", "-", "01", "1.", ".5", "1e", "1e+", "+1", "-a", "0x10",
        "1.2.3", "00"};
    size_t r = below(40);
    if (r < sizeof(nums) / sizeof(nums[0])) {
        /* The invalid ones (after index 19) now and then. */
        puts_(b, nums[r < 20 || below(4) == 0 ? r : r % 20]);
        return;
    }
    /* Long reals around the 300-character limit, and long integers. */
    size_t len = r % 2 ? 296 + below(8) : 15 + below(8);
    if (below(2))
        puts_(b, "-");
    puts_(b, "1");
    for (size_t i = 1; i < len; i++) {
        if (r % 2 && i == len / 2)
            puts_(b, ".");
        else
            put(b, &"0123456789"[below(10)], 1);
    }
}

static void value(buf *b, int depth);

static void key(buf *b)
{
    static const char *const extra[] = {"k\\u0041", "a\\\"b", "a.b", "\\n", "caf\\u00e9"};
    put(b, "\"", 1);
    if (below(12) == 0)
        puts_(b, extra[below(5)]);
    else
        puts_(b, steps[below(NSTEPS)]);
    put(b, "\"", 1);
}

static void value(buf *b, int depth)
{
    size_t r = below(depth > 9 ? 6 : 10);
    ws(b);
    switch (r) {
    case 0: case 1:
        put(b, "\"", 1);
        string_body(b);
        put(b, "\"", 1);
        break;
    case 2: case 3:
        number(b);
        break;
    case 4:
        puts_(b, below(3) == 0 ? "true" : below(2) ? "false" : "null");
        break;
    case 5:
        puts_(b, below(2) ? "{}" : "[]");
        break;
    case 6: case 7: case 8: {
        size_t n = 1 + below(6);
        put(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                put(b, ",", 1);
            ws(b);
            key(b);
            ws(b);
            put(b, ":", 1);
            value(b, depth + 1);
            ws(b);
        }
        put(b, "}", 1);
        break;
    }
    default: {
        size_t n = 1 + below(5);
        put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                put(b, ",", 1);
            value(b, depth + 1);
            ws(b);
        }
        put(b, "]", 1);
        break;
    }
    }
    ws(b);
}

/* One mutation in place: overwrite, delete or insert a byte. */
static void mutate(buf *b)
{
    static const char alphabet[] = "{}[]\",:.\\u0aeE+-19 \t\ntfnl\x80\xc3\xa9\xed\xf0\x01";
    size_t at = below(b->n + 1);
    char c = alphabet[below(sizeof(alphabet) - 1)];
    size_t op = below(3);
    if (op == 0 && at < b->n) {
        b->p[at] = c;
    } else if (op == 1 && at < b->n) {
        memmove(b->p + at, b->p + at + 1, b->n - at - 1);
        b->n--;
    } else {
        put(b, "x", 1); /* room */
        memmove(b->p + at + 1, b->p + at, b->n - 1 - at);
        b->p[at] = c;
    }
}

/* ---- the comparison ---- */

static size_t compared;

/* Both scanners on json[0..len), copied into a block of exactly len bytes. */
static void check(const plan_spec *ps, const char *json, size_t len)
{
    json_scan_ref_plan rp;
    json_scan_plan np;
    json_token a[JSON_SCAN_MAX_PATHS], b[JSON_SCAN_MAX_PATHS];
    unsigned fa = 0xdead, fb = 0xdead;
    const char *wa = NULL, *wb = NULL;
    size_t ata = (size_t)-1, atb = (size_t)-1;
    char *copy = malloc(len ? len : 1);

    assert_non_null(copy);
    memcpy(copy, json, len);
    json_scan_ref_prepare(&rp, ps->paths, ps->n);
    json_scan_prepare(&np, ps->paths, ps->n);
    assert_int_equal(rp.ok, np.ok);
    if (!np.ok) {
        free(copy);
        return;
    }
    memset(a, 0x5a, sizeof(a));
    memset(b, 0x5a, sizeof(b));
    int ra = json_scan_ref(&rp, copy, len, a, &fa, &wa, &ata);
    int rb = json_scan(&np, copy, len, b, &fb, &wb, &atb);
    int same = ra == rb && fa == fb && ata == atb &&
               (wa == NULL ? wb == NULL : wb != NULL && strcmp(wa, wb) == 0);
    for (size_t c = 0; same && c < ps->n; c++)
        same = a[c].type == b[c].type && a[c].p == b[c].p && a[c].len == b[c].len &&
               a[c].escaped == b[c].escaped;
    if (ps->n == 1) {
        const char *ta = NULL, *tb = NULL;
        size_t la = 0, lb = 0;
        int xa = json_scan_ref_text(&rp, copy, len, &ta, &la);
        int xb = json_scan_text(&np, copy, len, &tb, &lb);
        same = same && xa == xb && ta == tb && la == lb;
    }
    if (!same) {
        printf("json_scan disagrees with the reference on %zu bytes: ", len);
        fwrite(json, 1, len, stdout);
        printf("\n  paths:");
        for (size_t c = 0; c < ps->n; c++)
            printf(" [%s]", ps->paths[c] != NULL ? ps->paths[c] : "(null)");
        printf("\n  ref: rc %d flags %u why %s at %zu; new: rc %d flags %u why %s at %zu\n", ra,
               fa, wa ? wa : "-", ata, rb, fb, wb ? wb : "-", atb);
        for (size_t c = 0; c < ps->n; c++)
            printf("  tok %zu: ref type %d p %p len %zu esc %d; new type %d p %p len %zu esc %d"
                   " (input at %p)\n", c, a[c].type, (const void *)a[c].p, a[c].len,
                   a[c].escaped, b[c].type, (const void *)b[c].p, b[c].len, b[c].escaped,
                   (void *)copy);
    }
    free(copy);
    compared++;
    assert_true(same);
}

static uint64_t seed_from_env(const char *test)
{
    const char *env = getenv("SPOOL_SEED");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t seed = env != NULL ? strtoull(env, NULL, 10)
                                : (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    printf("%s: seed %llu (rerun: SPOOL_SEED=%llu)\n", test, (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

/* Random documents, valid and then mutated, under random plans. */
static void random_documents(void **state)
{
    buf b = {0};
    plan_spec ps;
    (void)state;
    rng_state = seed_from_env("random_documents");
    compared = 0;
    for (int round = 0; round < 30000; round++) {
        b.n = 0;
        value(&b, 0);
        random_plan(&ps);
        check(&ps, b.p, b.n);
        for (int m = 1 + (int)below(4); m > 0; m--)
            mutate(&b);
        check(&ps, b.p, b.n);
    }
    printf("random_documents: %zu comparisons\n", compared);
    free(b.p);
}

/* Every truncation (and every one-byte deletion) of sample records, under the hot
 * paths' plans. */
static void truncations(void **state)
{
    static const char *const samples[] = {
        "{\"event_id\":\"8c6fd1f0a3b1e2d4-17\",\"seq\":17,\"event\":\"resource_created\","
        "\"resource_id\":\"res-4711-0\",\"user_id\":\"user-93\",\"region\":\"eu-west-1\","
        "\"size\":4,\"price\":0.050123,\"created_at\":1767225600000,\"ts\":1767225600170}",
        "{ \"a\" : { \"b\" : [ 1 , { \"c\" : \"x\\u00e9\\n\" } ] , \"c\" : null } , "
        "\"d\" : \"caf\xc3\xa9\" , \"e\" : -3.5e-2 , \"t\" : true , \"f\" : false }",
        "[{\"resource_id\":\"r1\"},{\"resource_id\":\"r2\",\"x\":[[],{}]},-0,\"s\"]",
        "{\"k\":1,\"k\":{\"a\":{\"b\":2}},\"k\":{\"a\":3},\"k\\u0041\":4,\"a.b\":5}",
        "\"a string with \\\"escapes\\\" and \xf0\x9f\x98\x80 and \xe2\x82\xac\"",
        "  123456789012345678901234567890  ",
    };
    static const char *const plans[][10] = {
        {"resource_id"}, {"event"},
        {"event_id", "seq", "event", "resource_id", "user_id", "region", "size", "price",
         "created_at", "ts"},
        {"a.b", "a.c", "d", "e", "k", "k.a", "k.a.b", "t", "f", "a.b.c"},
    };
    static const size_t plan_n[] = {1, 1, 10, 10};
    plan_spec ps;
    (void)state;
    for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
        size_t n = strlen(samples[s]);
        char tmp[512];
        for (size_t p = 0; p < sizeof(plans) / sizeof(plans[0]); p++) {
            ps.n = plan_n[p];
            for (size_t c = 0; c < ps.n; c++)
                ps.paths[c] = plans[p][c];
            for (size_t cut = 0; cut <= n; cut++)
                check(&ps, samples[s], cut);
            for (size_t del = 0; del < n; del++) {
                memcpy(tmp, samples[s], del);
                memcpy(tmp + del, samples[s] + del + 1, n - del - 1);
                check(&ps, tmp, n - 1);
            }
        }
    }
}

/* Nesting around JSON_SCAN_MAX_DEPTH and JSON_SCAN_MAX_STEPS, closed and not. */
static void deep_nesting(void **state)
{
    static const char *const plans[][3] = {
        {"a"}, {"a.a.a.a.a.a.a.a"}, {"a.a.a.a.a.a.a", "a.a.a.a.a.a.a.a", "a.a"}};
    static const size_t plan_n[] = {1, 1, 3};
    buf b = {0};
    plan_spec ps;
    (void)state;
    for (int depth = JSON_SCAN_MAX_DEPTH - 2; depth <= JSON_SCAN_MAX_DEPTH + 2; depth++) {
        for (int kind = 0; kind < 4; kind++) {
            for (int inner = 0; inner < 3; inner++) {
                b.n = 0;
                /* Arrays, objects, the two alternating, objects with escaped keys. */
                for (int i = 0; i < depth; i++)
                    puts_(&b, kind == 0                ? "["
                              : kind == 1              ? "{\"a\":"
                              : kind == 2 && i % 2 == 1 ? "["
                              : kind == 2              ? " {\"a\" :"
                                                       : "{\"\\u0061\":");
                puts_(&b, inner == 0 ? "1" : inner == 1 ? "[]" : "{}");
                size_t open = b.n;
                for (int i = depth - 1; i >= 0; i--)
                    puts_(&b, kind == 0 || (kind == 2 && i % 2 == 1) ? "]" : "}");
                for (size_t p = 0; p < sizeof(plans) / sizeof(plans[0]); p++) {
                    ps.n = plan_n[p];
                    for (size_t c = 0; c < ps.n; c++)
                        ps.paths[c] = plans[p][c];
                    check(&ps, b.p, b.n);
                    check(&ps, b.p, open);
                    check(&ps, b.p, b.n - 1);
                }
            }
        }
    }
    /* Keys at depths 0 to 9 (paths reach 8), escaped at each, repeated. */
    for (int depth = 1; depth <= 10; depth++) {
        for (int esc = 0; esc <= depth; esc++) {
            b.n = 0;
            for (int i = 0; i < depth; i++)
                puts_(&b, i == esc ? "{\"\\u0061\":" : "{\"a\":");
            puts_(&b, "7");
            for (int i = 0; i < depth; i++)
                puts_(&b, i == 0 ? ",\"a\":{\"a\":8}}" : "}");
            for (size_t p = 0; p < sizeof(plans) / sizeof(plans[0]); p++) {
                ps.n = plan_n[p];
                for (size_t c = 0; c < ps.n; c++)
                    ps.paths[c] = plans[p][c];
                check(&ps, b.p, b.n);
            }
        }
    }
    free(b.p);
}

/* Hand-written edges: every short input over a small alphabet, UTF-8 boundaries, the
 * number limits, literals cut short, whitespace everywhere. */
static void edge_cases(void **state)
{
    static const char *const docs[] = {
        "", " ", "{", "}", "[", "]", "\"", "\\", ",", ":", "{}", "[]", "{ }", "[ ]", "{,}",
        "[,]", "[1,]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "tru",
        "true", "truex", "fals", "false", "nul", "null", "nulll", "t", "f", "n", "-", "-0",
        "0", "01", "-01", "0.", "0.0", "0e", "0e+", "0e+1", "1E-0", "123456789012345678",
        "-123456789012345678", "1234567890123456789", "-1234567890123456789", "1.0e0",
        "\"\\u\"", "\"\\u0\"", "\"\\u00\"", "\"\\u004\"", "\"\\u0041\"", "\"\\uZZZZ\"",
        "\"\\", "\"\\\"", "\"abc", "\"abcdefghijklmnop", "\"\xc3\"", "\"\xc3", "\"\xe2\x82\"",
        "\"\xf4\x8f\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xed\x9f\xbf\"", "\"\xed\xa0\x80\"",
        "\"\xe0\xa0\x80\"", "\"\xe0\x9f\xbf\"", "\"\xf0\x90\x80\x80\"", "\"\xf0\x8f\xbf\xbf\"",
        "\"\xc2\x80\"", "\"\xc1\xbf\"", "\"12345678\x01\"", "\"1234567\"", "\"12345678\"",
        "\"123456789\"", "\"1234567\\\"\"", "{\"resource_id\":\"x\"}  \n", "\t[ 1 ]\r\n",
        "{\"a\":{\"b\":1},\"a\":{\"c\":2}}", "{\"a\":{\"b\":1},\"a\":[{\"b\":2}]}",
        "{\"\":1}", "{\"\":{\"\":2}}", "{\"abcdefgh\":1,\"abcdefghi\":2,\"abcdefgi\":3}",
        "{\"a\":1} {", "1 2", "\"\x7f\"", "\xef\xbb\xbf{}", "{\"a\":\"\x00\"}",
    };
    static const char *const plans[][6] = {
        {"a"}, {"resource_id"}, {""}, {"a.b", "a.c", "a", "", ".", "abcdefghi"},
        {"abcdefgh", "abcdefghi", "a", "b", "a.b", NULL},
    };
    static const size_t plan_n[] = {1, 1, 1, 6, 6};
    static const char alphabet[] = "{}[]\":,1a \\";
    plan_spec ps;
    (void)state;
    for (size_t p = 0; p < sizeof(plans) / sizeof(plans[0]); p++) {
        ps.n = plan_n[p];
        for (size_t c = 0; c < ps.n; c++)
            ps.paths[c] = plans[p][c];
        for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
            size_t n = strlen(docs[d]);
            if (strcmp(docs[d], "{\"a\":\"\x00\"}") == 0)
                n = 9; /* a NUL inside a string */
            check(&ps, docs[d], n);
        }
        /* Every string of up to 4 bytes over the alphabet. */
        char s[4];
        size_t k = sizeof(alphabet) - 1;
        for (size_t len = 0; len <= 4; len++) {
            size_t total = 1;
            for (size_t i = 0; i < len; i++)
                total *= k;
            for (size_t v = 0; v < total; v++) {
                size_t x = v;
                for (size_t i = 0; i < len; i++, x /= k)
                    s[i] = alphabet[x % k];
                check(&ps, s, len);
            }
        }
    }
}

/* Every byte value at every position of an 8-byte word inside a string: the word test
 * must find the first special byte wherever it falls. */
static void every_byte_in_strings(void **state)
{
    static const char *const plans[] = {"k"};
    plan_spec ps = {.n = 1};
    (void)state;
    ps.paths[0] = plans[0];
    for (int c = 0; c < 256; c++) {
        for (size_t pos = 0; pos < 20; pos++) {
            char doc[64];
            size_t n = 0;
            n += (size_t)sprintf(doc, "{\"k\":\"");
            for (size_t i = 0; i < 20; i++)
                doc[n++] = i == pos ? (char)c : (char)('a' + i);
            doc[n++] = '"';
            doc[n++] = '}';
            check(&ps, doc, n);
            /* and as the key, and in a number */
            n = 0;
            doc[n++] = '{';
            doc[n++] = '"';
            for (size_t i = 0; i < 12; i++)
                doc[n++] = i == pos % 12 ? (char)c : 'k';
            n += (size_t)sprintf(doc + n, "\":1}");
            check(&ps, doc, n);
            n = (size_t)sprintf(doc, "{\"k\":1234567890123456789012345}");
            doc[5 + pos] = (char)c;
            check(&ps, doc, n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edge_cases),
        cmocka_unit_test(every_byte_in_strings),
        cmocka_unit_test(truncations),
        cmocka_unit_test(deep_nesting),
        cmocka_unit_test(random_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

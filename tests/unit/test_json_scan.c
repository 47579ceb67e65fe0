/* test_json_scan.c - the allocation-free JSON scanner (runtime/json): what it finds,
 * what it refuses, what it leaves to jansson, and a seeded differential run against
 * jansson over mutated documents (the seed is printed; SPOOL_SEED=N reruns one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "json_scan.h"

/* json_scan_text() on the field path of doc: -1, 0, or 1 with the text in out. */
static int text_of(const char *doc, const char *path, char *out, size_t outlen)
{
    json_scan_plan plan;
    const char *text;
    size_t n;
    json_scan_prepare(&plan, &path, 1);
    int rc = json_scan_text(&plan, doc, strlen(doc), &text, &n);
    if (rc == 1)
        snprintf(out, outlen, "%.*s", (int)n, text);
    return rc;
}

static void finds_fields(void **state)
{
    char t[64];
    (void)state;
    const char *doc = "{\"event\":\"resource_created\",\"size\":4,\"r\":{\"id\":\"r-1\","
                      "\"tags\":[{\"id\":9}]},\"ok\":true,\"none\":null,\"neg\":-17}";
    assert_int_equal(text_of(doc, "event", t, sizeof(t)), 1);
    assert_string_equal(t, "resource_created");
    assert_int_equal(text_of(doc, "size", t, sizeof(t)), 1);
    assert_string_equal(t, "4");
    assert_int_equal(text_of(doc, "r.id", t, sizeof(t)), 1);
    assert_string_equal(t, "r-1");
    assert_int_equal(text_of(doc, "ok", t, sizeof(t)), 1);
    assert_string_equal(t, "true");
    assert_int_equal(text_of(doc, "none", t, sizeof(t)), 1);
    assert_string_equal(t, "null");
    assert_int_equal(text_of(doc, "neg", t, sizeof(t)), 1);
    assert_string_equal(t, "-17");
    /* Absent: not there, or only inside an array (paths do not index arrays). */
    assert_int_equal(text_of(doc, "missing", t, sizeof(t)), 0);
    assert_int_equal(text_of(doc, "r.tags.id", t, sizeof(t)), 0);
    assert_int_equal(text_of(doc, "event.x", t, sizeof(t)), 0);
    /* The last of repeated keys wins, as in jansson. */
    assert_int_equal(text_of("{\"k\":\"a\",\"k\":\"b\"}", "k", t, sizeof(t)), 1);
    assert_string_equal(t, "b");
    /* ... and what the earlier one held is gone with it. */
    assert_int_equal(text_of("{\"a\":{\"c\":1},\"a\":2}", "a.c", t, sizeof(t)), 0);
    assert_int_equal(text_of("{\"a\":{\"c\":1},\"a\":{\"d\":2}}", "a.c", t, sizeof(t)), 0);
    assert_int_equal(text_of("{\"a\":{\"c\":1},\"a\":{\"c\":3}}", "a.c", t, sizeof(t)), 1);
    assert_string_equal(t, "3");
    /* Multi-byte UTF-8 is plain content. */
    assert_int_equal(text_of("{\"k\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", "k", t, sizeof(t)), 1);
    assert_string_equal(t, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

static void leaves_to_jansson(void **state)
{
    char t[64];
    (void)state;
    /* Things only a full parser can turn into transform's text. */
    assert_int_equal(text_of("{\"k\":\"a\\nb\"}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":1.50}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":1e3}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":-0}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":12345678901234567890}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":{\"a\":1}}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":[1]}", "k", t, sizeof(t)), -1);
    /* Flags: an escaped key, a \u escape anywhere, bytes that are not UTF-8. */
    assert_int_equal(text_of("{\"k\\u0041\":1,\"k\":2}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"x\":\"\\ud800\",\"k\":2}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"x\":\"\xc0\xaf\",\"k\":2}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"x\":\"\xed\xa0\x80\",\"k\":2}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"x\":\"\xf4\x90\x80\x80\",\"k\":2}", "k", t, sizeof(t)), -1);
    /* Not JSON at all. */
    assert_int_equal(text_of("{\"k\":1,}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":01}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":\"a\tb\"}", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("{\"k\":1} x", "k", t, sizeof(t)), -1);
    assert_int_equal(text_of("", "k", t, sizeof(t)), -1);
}

static void reports_where(void **state)
{
    json_scan_plan plan;
    json_token tok;
    const char *path = "k", *why;
    unsigned flags;
    size_t at;
    (void)state;
    json_scan_prepare(&plan, &path, 1);
    assert_int_equal(json_scan(&plan, "{\"k\": tru}", 10, &tok, &flags, &why, &at), -1);
    assert_string_equal(why, "invalid literal");
    assert_int_equal(at, 6);
    assert_int_equal(json_scan(&plan, "{\"k\":\"abc", 9, &tok, &flags, &why, &at), -1);
    assert_string_equal(why, "unterminated string");
    char deep[1200];
    memset(deep, '[', sizeof(deep));
    assert_int_equal(json_scan(&plan, deep, sizeof(deep), &tok, &flags, &why, &at), -1);
    assert_string_equal(why, "nested too deeply");
}

/* One mutation of s in place: overwrite, delete or duplicate a byte. */
static size_t mutate(char *s, size_t n, size_t cap, uint64_t *rng)
{
    static const char alphabet[] = "{}[]\",:.\\u0aeE+-19 tfn\x80\xc3\xa9";
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t at = n ? (size_t)(*rng >> 33) % n : 0;
    int op = (int)((*rng >> 20) % 3);
    if (op == 0 && n > 0) {
        s[at] = alphabet[(*rng >> 40) % (sizeof(alphabet) - 1)];
    } else if (op == 1 && n > 0) {
        memmove(s + at, s + at + 1, n - at - 1);
        n--;
    } else if (n + 1 < cap) {
        memmove(s + at + 1, s + at, n - at);
        n++;
    }
    s[n] = '\0';
    return n;
}

static void agrees_with_jansson(void **state)
{
    static const char *const seeds[] = {
        "{\"event\":\"resource_created\",\"resource_id\":\"r-17\",\"size\":4,\"price\":0.25}",
        "{\"a\":{\"b\":[1,{\"c\":\"x\"}],\"c\":null},\"d\":\"caf\xc3\xa9\",\"e\":-3}",
        "{\"k\":\"v\\\"q\",\"n\":12,\"t\":true,\"f\":false}",
    };
    static const char *const paths[] = {"event", "resource_id", "size", "a.c", "d", "e",
                                        "k", "n", "t", "a.b"};
    const char *env = getenv("SPOOL_SEED");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t seed = env != NULL ? strtoull(env, NULL, 10)
                                : (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    uint64_t rng = seed;
    (void)state;
    printf("test_json_scan: seed %llu (rerun: SPOOL_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    for (int round = 0; round < 20000; round++) {
        char doc[256];
        size_t n = (size_t)snprintf(doc, sizeof(doc), "%s", seeds[round % 3]);
        for (int m = round % 4; m > 0; m--)
            n = mutate(doc, n, sizeof(doc), &rng);
        const char *path = paths[round % 10], *text;
        json_scan_plan plan;
        size_t tn;
        json_scan_prepare(&plan, &path, 1);
        int fast = json_scan_text(&plan, doc, n, &text, &tn);
        if (fast < 0)
            continue;
        json_t *root = json_loadb(doc, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(root); /* the scanner answered, so jansson must parse it */
        json_t *node = root;
        char buf[64], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok_r(buf, ".", &save); k != NULL && node != NULL;
             k = strtok_r(NULL, ".", &save))
            node = json_is_object(node) ? json_object_get(node, k) : NULL;
        if (fast != (node != NULL))
            printf("disagree on %s in %.*s\n", path, (int)n, doc);
        assert_int_equal(fast, node != NULL);
        if (node != NULL) {
            char *want = json_is_string(node) ? strdup(json_string_value(node))
                         : json_dumps(node, JSON_COMPACT | JSON_ENCODE_ANY);
            assert_non_null(want);
            assert_int_equal(strlen(want), tn);
            assert_memory_equal(want, text, tn);
            free(want);
        }
        json_decref(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_fields),
        cmocka_unit_test(leaves_to_jansson),
        cmocka_unit_test(reports_where),
        cmocka_unit_test(agrees_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

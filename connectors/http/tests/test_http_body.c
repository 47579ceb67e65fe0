/* test_http_body.c - the webhook body parser: accepted shapes, refusals and positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http_body.h"

static int parse(const char *body, http_events *ev, char *err, size_t *pos)
{
    return http_body_parse(body, strlen(body), ev, err, 256, pos);
}

static void test_shapes(void **state)
{
    http_events ev = {0};
    char err[256];
    (void)state;
    assert_int_equal(parse("{\"a\":1}", &ev, err, NULL), HTTP_BODY_OK);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.v[0].len, 7);
    const char *arr = " [ {\"a\":1} , {\"b\":[1,2,{\"c\":null}]} ]\n";
    assert_int_equal(parse(arr, &ev, err, NULL), HTTP_BODY_OK);
    assert_int_equal(ev.n, 2);
    assert_memory_equal(arr + ev.v[1].off, "{\"b\":[1,2,{\"c\":null}]}", ev.v[1].len);
    assert_int_equal(parse("{\"a\":1}\n{\"a\":2}\r\n\n{\"a\":\"\\u00e9\\ud83d\\ude00\"}\n",
                           &ev, err, NULL), HTTP_BODY_OK);
    assert_int_equal(ev.n, 3);
    assert_int_equal(parse("[]", &ev, err, NULL), HTTP_BODY_OK);
    assert_int_equal(ev.n, 0);
    assert_int_equal(parse("{\"n\":[-0.5e+10,0,12,true,false]}", &ev, err, NULL), HTTP_BODY_OK);
    assert_int_equal(parse("{\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", &ev, err, NULL),
                     HTTP_BODY_OK);
    http_events_free(&ev);
}

static void refused(const char *body, const char *why, size_t at)
{
    http_events ev = {0};
    char err[256];
    size_t pos = 999999;
    assert_int_equal(parse(body, &ev, err, &pos), HTTP_BODY_EINVAL);
    if (strstr(err, why) == NULL)
        fail_msg("\"%s\": got \"%s\", wanted \"%s\"", body, err, why);
    if (at != (size_t)-1)
        assert_int_equal(pos, at);
    assert_int_equal(ev.n, 0);
    http_events_free(&ev);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("", "empty body", 0);
    refused("   \n", "empty body", 4);
    refused("{\"a\":1", "unterminated object", 6);
    refused("{\"a\":1,}", "expected a string key", 7);
    refused("[1,2]", "must be a JSON object", 1);
    refused("\"x\"", "must be a JSON object", 0);
    refused("{\"a\":1} {\"a\":2}", "expected a newline", 8);
    refused("[{\"a\":1}] x", "unexpected data after the array", 10);
    refused("{\"a\":01}", "expected ',' or '}'", 6);
    refused("{\"a\":1.}", "expected a digit", 7);
    refused("{\"a\":tru}", "invalid literal", 5);
    refused("{\"a\":\"\x01\"}", "control character", 6);
    refused("{\"a\":\"\\x\"}", "invalid escape", 7);
    refused("{\"a\":\"\\ud800\"}", "unpaired high surrogate", (size_t)-1);
    refused("{\"a\":\"\\udc00\"}", "unpaired low surrogate", (size_t)-1);
    refused("{\"a\":\"\xff\"}", "invalid UTF-8 byte", 6);
    refused("{\"a\":\"\xc0\xaf\"}", "invalid UTF-8 byte", 6);
    refused("{\"a\":\"\xe0\x80\xaf\"}", "overlong", 6);
    refused("{\"a\":\"\xed\xa0\x80\"}", "invalid code point", 6);
    refused("{\"a\":\"\xe2\x82\"}", "invalid UTF-8 sequence", 6);
    refused("{\"a\":\"abc", "unterminated string", 9);
    refused("{\"a\":1}\n{\"b\":", "unexpected end of body", 13);
    refused("{\"a\":1}\n\n{\"b\":x}", "line 3, column 6", (size_t)-1);
}

static void test_depth(void **state)
{
    char deep[400];
    size_t n = 0;
    (void)state;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 70; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    refused(deep, "nesting deeper than 64", (size_t)-1);
    assert_int_equal(http_json_valid("  [1, {\"a\": null}]\n", 19), 1);
    assert_int_equal(http_json_valid("[1] 2", 5), 0);
    assert_int_equal(http_json_valid("not json", 8), 0);
}

/* Strings are scanned eight bytes at a time: a byte that needs a look must be seen at
 * every offset of the 8-byte word, and near the end of the body. */
static void test_string_words(void **state)
{
    (void)state;
    for (size_t k = 0; k < 24; k++) {
        char body[64], err[256];
        http_events ev = {0};
        size_t pos = 0;
        /* {"s":"xxxx...x"} with 24 x, one of them replaced. */
        memcpy(body, "{\"s\":\"", 6);
        memset(body + 6, 'x', 24);
        memcpy(body + 30, "\"}", 3);
        body[6 + k] = '\x01';
        assert_int_equal(parse(body, &ev, err, &pos), HTTP_BODY_EINVAL);
        assert_non_null(strstr(err, "control character"));
        assert_int_equal(pos, 6 + k);
        body[6 + k] = '\x7f'; /* DEL is a plain byte in JSON */
        assert_int_equal(parse(body, &ev, err, NULL), HTTP_BODY_OK);
        body[6 + k] = '\xff';
        assert_int_equal(parse(body, &ev, err, &pos), HTTP_BODY_EINVAL);
        assert_non_null(strstr(err, "invalid UTF-8 byte"));
        assert_int_equal(pos, 6 + k);
        body[6 + k] = '"'; /* the string ends early: "xxx"xxx" */
        assert_int_equal(parse(body, &ev, err, &pos), HTTP_BODY_EINVAL);
        assert_int_equal(pos, 7 + k);
        if (k < 23) {
            memcpy(body + 6 + k, "\\n", 2);
            assert_int_equal(parse(body, &ev, err, NULL), HTTP_BODY_OK);
            memcpy(body + 6 + k, "\xc3\xa9", 2);
            assert_int_equal(parse(body, &ev, err, NULL), HTTP_BODY_OK);
            assert_int_equal(http_json_valid(body, strlen(body)), 1);
        }
        /* Unterminated, the special byte last in the body. */
        memset(body + 6, 'x', 24);
        body[6 + k] = '\\';
        body[7 + k] = '\0';
        assert_int_equal(parse(body, &ev, err, &pos), HTTP_BODY_EINVAL);
        http_events_free(&ev);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_string_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

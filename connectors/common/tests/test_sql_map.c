/* test_sql_map.c - the JSON -> column mapping and value conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sql_map.h"
#include "sql_scan.h"

static void test_parse_specs(void **unused)
{
    const char *specs[] = {"id:bigint", "meta.owner=Owner \"x\"; DROP:text", "ok:bool",
                           "note"};
    sql_map m;
    char err[256];
    assert_int_equal(sql_map_parse(&m, specs, 4, "doc", err, sizeof(err)), 0);
    assert_int_equal(m.n, 5);
    assert_string_equal(m.cols[0].name, "id");
    assert_string_equal(m.cols[0].path, "id");
    assert_int_equal(m.cols[0].type, SQL_BIGINT);
    assert_string_equal(m.cols[1].name, "Owner \"x\"; DROP");
    assert_string_equal(m.cols[1].path, "meta.owner");
    assert_int_equal(m.cols[2].type, SQL_BOOLEAN);
    assert_int_equal(m.cols[3].type, SQL_TEXT);
    assert_null(m.cols[4].path);
    assert_int_equal(m.cols[4].type, SQL_JSONB);
    assert_int_equal(sql_map_find(&m, "note"), 3);
    sql_map_free(&m);
}

static void test_parse_errors(void **unused)
{
    sql_map m;
    char err[256];
    const char *bad_type[] = {"id:bigkint"};
    assert_int_equal(sql_map_parse(&m, bad_type, 1, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown type"));
    sql_map_free(&m);
    const char *twice[] = {"a", "b=a:text"};
    assert_int_equal(sql_map_parse(&m, twice, 2, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mapped twice"));
    sql_map_free(&m);
    const char *empty_step[] = {"a..b=c"};
    assert_int_equal(sql_map_parse(&m, empty_step, 1, NULL, err, sizeof(err)), -1);
    sql_map_free(&m);
    assert_int_equal(sql_map_parse(&m, NULL, 0, "", err, sizeof(err)), -1);
    sql_map_free(&m);
}

static void test_path(void **unused)
{
    json_t *root = json_loads("{\"a\":{\"b\":{\"c\":7}},\"x\":1}", 0, NULL);
    assert_int_equal(json_integer_value(sql_json_path(root, "a.b.c")), 7);
    assert_null(sql_json_path(root, "a.b.d"));
    assert_null(sql_json_path(root, "x.y"));
    assert_true(json_is_object(sql_json_path(root, "a")));
    json_decref(root);
}

static const char *copy_text(sql_type t, const char *json)
{
    static sql_buf b;
    sql_column c = {.name = "c", .path = "c", .type = t};
    json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    b.len = 0;
    assert_int_equal(sql_copy_field(&b, &c, v), 0);
    json_decref(v);
    return b.p;
}

static void test_copy_text(void **unused)
{
    assert_string_equal(copy_text(SQL_TEXT, "\"a\\tb\\\\c\\nd\""), "a\\tb\\\\c\\nd");
    assert_string_equal(copy_text(SQL_TEXT, NULL), "\\N");
    assert_string_equal(copy_text(SQL_BIGINT, "null"), "\\N");
    assert_string_equal(copy_text(SQL_BIGINT, "42"), "42");
    assert_string_equal(copy_text(SQL_BOOLEAN, "true"), "true");
    assert_string_equal(copy_text(SQL_DOUBLE, "1.5"), "1.5");
    assert_string_equal(copy_text(SQL_JSONB, "{\"k\": [1, \"x\\ty\"]}"),
                        "{\"k\":[1,\"x\\\\ty\"]}");
    assert_string_equal(copy_text(SQL_JSONB, "\"s\""), "\"s\"");
    assert_string_equal(copy_text(SQL_TIMESTAMPTZ, "1714564800250"),
                        "2024-05-01T12:00:00.250Z");
    /* A string the server will refuse goes as it is: the server judges it. */
    assert_string_equal(copy_text(SQL_BIGINT, "\"abc\""), "abc");
    sql_buf b = {0};
    sql_buf_free(&b);
}

static int convert(sql_type t, const char *json, sql_value *out, char *err)
{
    sql_column c = {.name = "col", .path = "col", .type = t};
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    int rc = sql_value_from_json(&c, v, out, err, 256);
    if (out->kind == SQL_V_TEXT && out->owned == NULL && out->s != out->buf) {
        /* points into v: copy before freeing */
        out->owned = strndup(out->s, out->len);
        out->s = out->owned;
    }
    json_decref(v);
    return rc;
}

static void test_strict_conversion(void **unused)
{
    sql_value v;
    char err[256];
    assert_int_equal(convert(SQL_BIGINT, "12", &v, err), 0);
    assert_int_equal(v.kind, SQL_V_INT);
    assert_int_equal(v.i, 12);
    assert_int_equal(convert(SQL_BIGINT, "\"34\"", &v, err), 0);
    assert_int_equal(v.i, 34);
    sql_value_free(&v);
    assert_int_equal(convert(SQL_BIGINT, "\"abc\"", &v, err), -1);
    assert_non_null(strstr(err, "column \"col\": expected an integer, got a string"));
    assert_int_equal(convert(SQL_INTEGER, "3000000000", &v, err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(convert(SQL_BIGINT, "2.0", &v, err), 0);
    assert_int_equal(v.i, 2);
    assert_int_equal(convert(SQL_BIGINT, "2.5", &v, err), -1);
    assert_int_equal(convert(SQL_DOUBLE, "2.5", &v, err), 0);
    assert_true(v.d == 2.5);
    assert_int_equal(convert(SQL_BOOLEAN, "false", &v, err), 0);
    assert_int_equal(v.i, 0);
    assert_int_equal(convert(SQL_BOOLEAN, "\"yes\"", &v, err), -1);
    assert_int_equal(convert(SQL_NUMERIC, "\"12.50\"", &v, err), 0);
    assert_int_equal(v.kind, SQL_V_TEXT);
    assert_string_equal(v.s, "12.50");
    sql_value_free(&v);
    assert_int_equal(convert(SQL_TEXT, "7", &v, err), 0);
    assert_string_equal(v.s, "7");
    assert_int_equal(convert(SQL_TEXT, "{\"a\":1}", &v, err), 0);
    assert_string_equal(v.s, "{\"a\":1}");
    sql_value_free(&v);
    assert_int_equal(convert(SQL_TIMESTAMPTZ, "0", &v, err), 0);
    assert_string_equal(v.s, "1970-01-01T00:00:00.000Z");
    assert_int_equal(convert(SQL_TIMESTAMPTZ, "true", &v, err), -1);
    assert_int_equal(convert(SQL_JSONB, "null", &v, err), 0);
    assert_int_equal(v.kind, SQL_V_NULL);
}

static void test_connector_id(void **unused)
{
    char id[64];
    sql_connector_id("sink/warehouse", id, sizeof(id));
    assert_string_equal(id, "sink/warehouse");
    sql_connector_id("sink/warehouse/1", id, sizeof(id));
    assert_string_equal(id, "sink/warehouse");
    sql_offset offs[2];
    size_t n = 0;
    assert_int_equal(sql_offset_note(offs, &n, 2, "t", 0, 5), 0);
    assert_int_equal(sql_offset_note(offs, &n, 2, "t", 0, 3), 0);
    assert_int_equal(sql_offset_note(offs, &n, 2, "t", 1, 9), 0);
    assert_int_equal(sql_offset_note(offs, &n, 2, "u", 0, 1), -1);
    assert_int_equal(n, 2);
    assert_int_equal(offs[0].next, 6);
    assert_int_equal(offs[1].next, 10);
}

static sql_map scan_map;
static sql_scan_plan scan_plan;
static json_token toks[8];

static int scan(const char *json, char *err)
{
    const char *specs[] = {"id:bigint", "a.b=ab:text", "s:text", "o:jsonb", "ts:timestamptz"};
    char e[256];
    if (scan_map.n == 0) {
        assert_int_equal(sql_map_parse(&scan_map, specs, 5, NULL, e, sizeof(e)), 0);
        sql_scan_prepare(&scan_plan, &scan_map);
        assert_true(scan_plan.ok);
    }
    return sql_scan(&scan_plan, json, strlen(json), toks, err ? err : e, 256);
}

static const char *tok_copy(size_t col)
{
    static sql_buf b;
    b.len = 0;
    assert_int_equal(sql_tok_copy_field(&b, &scan_map.cols[col], &toks[col]), 0);
    return b.p;
}

static void test_scan_fields(void **unused)
{
    assert_int_equal(scan("{\"x\":[{\"id\":9}],\"id\":42,\"a\":{\"b\":\"t\\tx\\u00e9\\\"\"},"
                          "\"s\":true,\"o\":{\"k\": [1, \"\\\\\"]},\"ts\":0}", NULL), 0);
    assert_int_equal(toks[0].type, JSON_TOK_INT);
    assert_string_equal(tok_copy(0), "42");               /* not the id inside the array */
    assert_string_equal(tok_copy(1), "t\\tx\xc3\xa9\"");  /* decoded, COPY-escaped */
    assert_string_equal(tok_copy(2), "true");
    assert_string_equal(tok_copy(3), "{\"k\": [1, \"\\\\\\\\\"]}"); /* as written */
    assert_string_equal(tok_copy(4), "1970-01-01T00:00:00.000Z");
    assert_int_equal(scan("{\"id\":1}", NULL), 0);
    assert_int_equal(toks[1].type, JSON_TOK_ABSENT);
    assert_string_equal(tok_copy(1), "\\N");
    /* the last of duplicate keys wins, as in jansson */
    assert_int_equal(scan("{\"id\":1,\"id\":2}", NULL), 0);
    assert_string_equal(tok_copy(0), "2");
    /* a key with escapes on the way: the slow path */
    assert_int_equal(scan("{\"i\\u0064\":1}", NULL), 1);
    /* a top-level array or scalar maps nothing */
    assert_int_equal(scan("[{\"id\":1}]", NULL), 0);
    assert_int_equal(toks[0].type, JSON_TOK_ABSENT);
}

static void test_scan_invalid(void **unused)
{
    char err[256];
    const char *bad[] = {"", "{", "{\"id\":}", "{\"id\":01}", "{\"id\":1,}", "nul",
                         "{\"s\":\"a\nb\"}", "{\"s\":\"\\x\"}", "{} x", "[1 2]", "-", "1.",
                         "{\"s\":\"\\u12\"}", NULL};
    for (const char **b = bad; *b; b++) {
        assert_int_equal(scan(*b, err), -1);
        assert_non_null(strstr(err, "value is not JSON"));
    }
    assert_int_equal(scan(" {\"id\" : -1.5e3 } ", err), 0);
    assert_int_equal(toks[0].type, JSON_TOK_REAL);
}

static void test_tok_value(void **unused)
{
    sql_buf scratch = {0};
    sql_value v;
    char err[256];
    assert_int_equal(scan("{\"id\":\"17\",\"s\":\"a\\nb\",\"o\":[1],\"ts\":\"2024-01-01\"}", NULL), 0);
    assert_int_equal(sql_tok_value(&scan_map.cols[0], &toks[0], &scratch, &v, err, 256), 0);
    assert_int_equal(v.i, 17);
    scratch.len = 0;
    assert_int_equal(sql_tok_value(&scan_map.cols[2], &toks[2], &scratch, &v, err, 256), 0);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.s, "a\nb", 3);
    assert_int_equal(sql_tok_value(&scan_map.cols[3], &toks[3], &scratch, &v, err, 256), 0);
    assert_memory_equal(v.s, "[1]", 3);
    assert_int_equal(sql_tok_value(&scan_map.cols[4], &toks[4], &scratch, &v, err, 256), 0);
    assert_memory_equal(v.s, "2024-01-01", 10);
    assert_int_equal(scan("{\"id\":\"x1\"}", NULL), 0);
    assert_int_equal(sql_tok_value(&scan_map.cols[0], &toks[0], &scratch, &v, err, 256), -1);
    assert_non_null(strstr(err, "column \"id\": expected an integer, got a string \"x1\""));
    assert_int_equal(scan("{\"id\":-123456789012}", NULL), 0);
    assert_int_equal(sql_tok_value(&scan_map.cols[0], &toks[0], &scratch, &v, err, 256), 0);
    assert_true(v.i == -123456789012LL);
    assert_int_equal(scan("{\"id\":2.0}", NULL), 0);
    assert_int_equal(sql_tok_value(&scan_map.cols[0], &toks[0], &scratch, &v, err, 256), 0);
    assert_int_equal(v.i, 2);
    sql_buf_free(&scratch);
    sql_map_free(&scan_map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_specs),       cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_path),              cmocka_unit_test(test_copy_text),
        cmocka_unit_test(test_strict_conversion), cmocka_unit_test(test_connector_id),
        cmocka_unit_test(test_scan_fields),       cmocka_unit_test(test_scan_invalid),
        cmocka_unit_test(test_tok_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

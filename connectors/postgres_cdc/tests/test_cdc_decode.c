/* test_cdc_decode.c - the pgoutput decoder on hand-made messages: relations, tuples,
 * keys, unchanged TOAST, value mapping, LSNs, timestamps and positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cdc_int.h"

typedef struct msg {
    unsigned char b[1024];
    size_t n;
} msg;

static void put8(msg *m, unsigned v) { m->b[m->n++] = (unsigned char)v; }
static void put16(msg *m, unsigned v) { put8(m, v >> 8); put8(m, v & 255); }
static void put32(msg *m, uint32_t v) { put16(m, v >> 16); put16(m, v & 65535); }
static void puts_(msg *m, const char *s)
{
    memcpy(m->b + m->n, s, strlen(s) + 1);
    m->n += strlen(s) + 1;
}
static void putval(msg *m, const char *s)
{
    if (s == NULL) {
        put8(m, 'n');
    } else if (strcmp(s, "\x01") == 0) {
        put8(m, 'u');
    } else {
        put8(m, 't');
        put32(m, (uint32_t)strlen(s));
        memcpy(m->b + m->n, s, strlen(s));
        m->n += strlen(s);
    }
}

/* Relation 16384 public.orders: id int8 (key), total numeric, doc jsonb, body text. */
static void relation(cdc_rel *rel, char ident)
{
    msg m = {.n = 0};
    put32(&m, 16384);
    puts_(&m, "public");
    puts_(&m, "orders");
    put8(&m, (unsigned char)ident);
    put16(&m, 4);
    const char *names[] = {"id", "total", "doc", "body"};
    uint32_t types[] = {20, 1700, 3802, 25};
    for (int i = 0; i < 4; i++) {
        put8(&m, i == 0);
        puts_(&m, names[i]);
        put32(&m, types[i]);
        put32(&m, 0xffffffffu);
    }
    cdc_reader r = {m.b, m.b + m.n, 0};
    assert_int_equal(cdc_read_relation(&r, rel), 0);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static void test_relation_and_tuple(void **unused)
{
    cdc_rel rel = {0};
    relation(&rel, 'd');
    assert_string_equal(rel.qname, "public.orders");
    assert_int_equal(rel.ncols, 4);
    assert_int_equal(rel.cols[0].key, 1);
    assert_int_equal(rel.cols[1].key, 0);

    msg m = {.n = 0};
    put16(&m, 4);
    putval(&m, "9007199254740993");
    putval(&m, "12.50");
    putval(&m, "{\"a\": [1, null]}");
    putval(&m, "\x01"); /* unchanged TOAST */
    cdc_tuple t = {0};
    cdc_reader r = {m.b, m.b + m.n, 0};
    assert_int_equal(cdc_read_tuple(&r, &t), 0);
    json_t *unchanged = json_array();
    char *s = dump(cdc_tuple_json(&rel, &t, 0, unchanged));
    assert_string_equal(s, "{\"doc\":{\"a\":[1,null]},\"id\":9007199254740993,\"total\":\"12.50\"}");
    free(s);
    s = dump(unchanged);
    assert_string_equal(s, "[\"body\"]");
    free(s);
    s = dump(cdc_key_json(&rel, &t));
    assert_string_equal(s, "{\"id\":9007199254740993}");
    free(s);

    /* A tuple that does not fit the relation (a column more) is refused. */
    t.n = 3;
    assert_null(cdc_tuple_json(&rel, &t, 0, NULL));
    cdc_tuple_free(&t);
    cdc_rel_free(&rel);
}

static void test_malformed(void **unused)
{
    msg m = {.n = 0};
    put16(&m, 2);
    putval(&m, "1");
    put8(&m, 't');
    put32(&m, 100); /* longer than the message */
    cdc_tuple t = {0};
    cdc_reader r = {m.b, m.b + m.n, 0};
    assert_int_equal(cdc_read_tuple(&r, &t), -1);
    m.n = 0;
    put16(&m, 1);
    put8(&m, 'x'); /* unknown kind */
    r = (cdc_reader){m.b, m.b + m.n, 0};
    assert_int_equal(cdc_read_tuple(&r, &t), -1);
    cdc_tuple_free(&t);

    cdc_rel rel = {0};
    m.n = 0;
    put32(&m, 1);
    puts_(&m, "public"); /* the table name is missing its NUL */
    m.b[m.n++] = 'x';
    r = (cdc_reader){m.b, m.b + m.n, 0};
    assert_int_equal(cdc_read_relation(&r, &rel), -1);
    assert_int_equal(rel.ncols, 0);
    cdc_rel_free(&rel);
}

static void value_is(uint32_t type, const char *text, const char *want)
{
    char *s = dump(cdc_value_json(type, text, strlen(text)));
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_values(void **unused)
{
    value_is(16, "t", "true");
    value_is(16, "f", "false");
    value_is(23, "-42", "-42");
    value_is(1700, "3.14159265358979323846", "\"3.14159265358979323846\"");
    value_is(701, "0.25", "0.25");
    value_is(701, "NaN", "\"NaN\"");
    value_is(700, "-Infinity", "\"-Infinity\"");
    value_is(1184, "2024-05-01 12:00:10.5+00", "\"2024-05-01T12:00:10.5+00:00\"");
    value_is(1184, "infinity", "\"infinity\"");
    value_is(1114, "2024-05-01 12:00:10", "\"2024-05-01T12:00:10\"");
    value_is(1114, "0044-03-15 00:00:00 BC", "\"0044-03-15 00:00:00 BC\"");
    value_is(17, "\\x", "\"\"");
    value_is(17, "\\x00", "\"AA==\"");
    value_is(17, "\\x00ff", "\"AP8=\"");
    value_is(17, "\\x00ff10", "\"AP8Q\"");
    value_is(17, "\\x4d616e", "\"TWFu\"");
    value_is(3802, "[1, \"x\"]", "[1,\"x\"]");
    value_is(114, "not json", "\"not json\"");
    value_is(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
    value_is(1007, "{1,2,NULL}", "\"{1,2,NULL}\"");
}

static void test_lsn_ts_pos(void **unused)
{
    char s[64];
    uint64_t l;
    cdc_lsn_str(0x16B374D848ull, s, sizeof(s));
    assert_string_equal(s, "16/B374D848");
    assert_int_equal(cdc_lsn_parse("16/B374D848", &l), 0);
    assert_true(l == 0x16B374D848ull);
    assert_int_equal(cdc_lsn_parse("16/B374D848x", &l), -1);
    assert_int_equal(cdc_lsn_parse("zz", &l), -1);

    cdc_ts_str(0, s, sizeof(s));
    assert_string_equal(s, "2000-01-01T00:00:00.000000Z");
    cdc_ts_str(767880010500000LL, s, sizeof(s)); /* 2024-05-01 12:00:10.5 UTC */
    assert_string_equal(s, "2024-05-01T12:00:10.500000Z");
    cdc_ts_str(-1, s, sizeof(s));
    assert_string_equal(s, "1999-12-31T23:59:59.999999Z");

    cdc_pos a = {.lsn = 0x100, .i = 3, .s = 1}, b;
    cdc_pos_str(&a, s, sizeof(s));
    assert_string_equal(s, "{\"lsn\":\"0/100\",\"i\":3,\"s\":1}");
    assert_int_equal(cdc_pos_parse(s, strlen(s), &b), 0);
    assert_int_equal(cdc_pos_cmp(&a, &b), 0);
    b.s = 0;
    assert_int_equal(cdc_pos_cmp(&b, &a), -1);
    b = (cdc_pos){.lsn = 0x101};
    assert_int_equal(cdc_pos_cmp(&b, &a), 1); /* a later transaction, whatever its index */
    a = (cdc_pos){.snapshot = 1, .lsn = 0x100};
    cdc_pos_str(&a, s, sizeof(s));
    assert_int_equal(cdc_pos_parse(s, strlen(s), &b), 0);
    assert_int_equal(b.snapshot, 1);
    assert_int_equal(cdc_pos_parse("[\"42\"]", 6, &b), -1);
    assert_int_equal(cdc_pos_parse("{\"lsn\":\"0/1\",\"i\":-1,\"s\":0}", 26, &b), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relation_and_tuple), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_values),             cmocka_unit_test(test_lsn_ts_pos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

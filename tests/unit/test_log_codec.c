/* test_log_codec.c - murmur2 and partitioning, topic names, and the batch codec on
 * valid, damaged and hostile bytes (the in-memory half of what the fuzzer does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"
#include "util/bytes.h"
#include "util/crc32c.h"

static void test_murmur2_kafka_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        int32_t h;
        int32_t p3, p6, p12;
    } v[] = {
        {"21", -973932308, 0, 0, 0},
        {"foobar", -790332482, 0, 0, 6},
        {"a-little-bit-long-string", -985981536, 2, 2, 8},
        {"a-little-bit-longer-string", -1486304829, 2, 5, 11},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 2, 5, 5},
        {"abc", 479470107, 0, 3, 3},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].key);
        assert_int_equal((int32_t)log_murmur2(v[i].key, n), v[i].h);
        assert_int_equal(log_partition_for_key(v[i].key, n, 3), v[i].p3);
        assert_int_equal(log_partition_for_key(v[i].key, n, 6), v[i].p6);
        assert_int_equal(log_partition_for_key(v[i].key, n, 12), v[i].p12);
    }
    assert_int_equal(log_murmur2("21", 2) & 0x7fffffffu, 1173551340u);
    assert_int_equal(log_partition_for_key("21", 2, 0), -1);
}

static void test_topic_names(void **state)
{
    (void)state;
    char long_ok[250], long_bad[251];

    memset(long_ok, 'a', 249);
    long_ok[249] = '\0';
    memset(long_bad, 'a', 250);
    long_bad[250] = '\0';
    assert_true(log_topic_name_valid("resource-events"));
    assert_true(log_topic_name_valid("a.b_c-D9"));
    assert_true(log_topic_name_valid("..."));
    assert_true(log_topic_name_valid(long_ok));
    assert_false(log_topic_name_valid(long_bad));
    assert_false(log_topic_name_valid(""));
    assert_false(log_topic_name_valid("."));
    assert_false(log_topic_name_valid(".."));
    assert_false(log_topic_name_valid("a/b"));
    assert_false(log_topic_name_valid("../etc"));
    assert_false(log_topic_name_valid("a b"));
    assert_false(log_topic_name_valid("caf\xc3\xa9"));
    assert_false(log_topic_name_valid(NULL));
}

/* Builds a batch of n records with varied shapes; returns its malloc'd bytes. */
static uint8_t *build_batch(test_rng *rng, int n, int64_t base, size_t *len)
{
    size_t cap = LOG_BATCH_HDR, at = LOG_BATCH_HDR;
    uint8_t *buf = malloc(cap);
    int64_t first = 0, max = 0;

    for (int i = 0; i < n; i++) {
        char key[16], val[64], hk[16];
        log_header h[2] = {{hk, 0, "v", 1}, {"null", 4, NULL, 0}};
        log_record r = {0};
        size_t need;
        snprintf(key, sizeof key, "k%d", i);
        snprintf(hk, sizeof hk, "h%d", i);
        h[0].key_len = strlen(hk);
        r.key = (i % 3 == 0) ? NULL : key;
        r.key_len = r.key ? strlen(key) : 0;
        r.value = (i % 4 == 1) ? NULL : val;
        r.value_len = r.value ? (size_t)test_below(rng, sizeof val) : 0;
        test_fill(rng, val, sizeof val);
        r.headers = h;
        r.header_count = (size_t)(i % 3);
        r.timestamp_ms = i == 0 ? 1700000000000 : 1700000000000 + (int64_t)test_below(rng, 2000) - 1000;
        if (i == 0)
            first = max = r.timestamp_ms;
        if (r.timestamp_ms > max)
            max = r.timestamp_ms;
        need = log_record_encoded_len(&r, first);
        assert_true(need > 0);
        buf = realloc(buf, cap = at + need);
        at += log_record_encode(buf + at, &r, first);
        assert_int_equal(at, cap);
    }
    log_batch_seal(buf, at, base, (uint32_t)n, first, max);
    *len = at;
    return buf;
}

typedef struct count_ctx {
    int n;
    int64_t last;
} count_ctx;

static int count_rec(void *ctx, const log_record *rec)
{
    count_ctx *c = ctx;
    /* Every field must lie inside what we were given; ASan checks the bytes. */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < rec->key_len; i++)
        sink ^= ((const uint8_t *)rec->key)[i];
    for (size_t i = 0; i < rec->value_len; i++)
        sink ^= ((const uint8_t *)rec->value)[i];
    for (size_t h = 0; h < rec->header_count; h++)
        for (size_t i = 0; i < rec->headers[h].key_len; i++)
            sink ^= (uint8_t)rec->headers[h].key[i];
    (void)sink;
    c->n++;
    c->last = rec->offset;
    return 0;
}

static void test_batch_round_trip(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_batch_round_trip")};
    size_t len;
    uint8_t *b = build_batch(&rng, 50, 1000, &len);
    log_batch_hdr h;
    log_batch_cursor c;
    log_record rec;
    log_header hdrs[4];
    char why[256];
    int i = 0;

    assert_int_equal(log_batch_verify(b, len, &h, why, sizeof why), SPOOL_OK);
    assert_int_equal(h.count, 50);
    assert_int_equal(h.base_offset, 1000);
    assert_int_equal(h.max_headers, 2);
    log_batch_cursor_init(&c, b, &h);
    while (log_batch_cursor_next(&c, &rec, hdrs, 4) == 1) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(rec.offset, 1000 + i);
        if (i % 3 == 0) {
            assert_null(rec.key);
        } else {
            assert_int_equal(rec.key_len, strlen(key));
            assert_memory_equal(rec.key, key, rec.key_len);
        }
        if (i % 4 == 1)
            assert_null(rec.value);
        else
            assert_non_null(rec.value);
        assert_int_equal(rec.header_count, (size_t)(i % 3));
        if (i % 3 == 2) {
            assert_null(rec.headers[1].value);
            assert_memory_equal(rec.headers[1].key, "null", 4);
        }
        i++;
    }
    assert_int_equal(i, 50);
    free(b);
}

static void test_batch_extreme_timestamps(void **state)
{
    (void)state;
    log_record r[2] = {{0}, {0}};
    uint8_t buf[256];
    size_t at = LOG_BATCH_HDR;
    log_batch_hdr h;
    log_batch_cursor c;
    log_record out;
    char why[128];

    r[0].timestamp_ms = INT64_MAX;
    r[1].timestamp_ms = INT64_MIN;
    for (int i = 0; i < 2; i++)
        at += log_record_encode(buf + at, &r[i], INT64_MAX);
    log_batch_seal(buf, at, 0, 2, INT64_MAX, INT64_MAX);
    assert_int_equal(log_batch_verify(buf, at, &h, why, sizeof why), SPOOL_OK);
    log_batch_cursor_init(&c, buf, &h);
    assert_int_equal(log_batch_cursor_next(&c, &out, NULL, 0), 1);
    assert_true(out.timestamp_ms == INT64_MAX);
    assert_int_equal(log_batch_cursor_next(&c, &out, NULL, 0), 1);
    assert_true(out.timestamp_ms == INT64_MIN);
    assert_int_equal(log_batch_cursor_next(&c, &out, NULL, 0), 0);
}

/* Every single-bit flip anywhere in a batch is caught (CRC32C's guarantee, plus the
 * magic, which is outside the CRC). */
static void test_batch_every_bit_flip_detected(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_batch_every_bit_flip_detected")};
    size_t len;
    uint8_t *b = build_batch(&rng, 5, 7, &len);
    log_batch_hdr h;
    char why[256];

    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(log_batch_verify(b, len, &h, why, sizeof why), LOG_ECORRUPT);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(log_batch_verify(b, len, &h, why, sizeof why), SPOOL_OK);
    free(b);
}

static void test_batch_lying_lengths(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_batch_lying_lengths")};
    size_t len;
    uint8_t *b = build_batch(&rng, 3, 0, &len);
    log_batch_hdr h;
    char why[256];
    static const uint32_t lies[] = {0, 1, LOG_BATCH_HDR - 1, UINT32_MAX,
                                    LOG_MAX_BATCH_BYTES + 1, 0x80000000u};

    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        util_put_u32(b + 8, lies[i]);
        assert_int_equal(log_batch_peek(b, len, &h, why, sizeof why), LOG_ECORRUPT);
        assert_int_equal(log_batch_verify(b, len, &h, why, sizeof why), LOG_ECORRUPT);
    }
    /* Past the end of what we have, but within the bound: peek accepts the header, the
     * verify refuses without reading past len. */
    util_put_u32(b + 8, (uint32_t)len + 100);
    assert_int_equal(log_batch_peek(b, len, &h, why, sizeof why), 1);
    assert_int_equal(log_batch_verify(b, len, &h, why, sizeof why), LOG_ECORRUPT);
    assert_non_null(strstr(why, "past"));
    /* A short buffer is "need more", not damage. */
    assert_int_equal(log_batch_peek(b, LOG_BATCH_HDR - 1, &h, why, sizeof why), 0);
    free(b);
}

/* A CRC-valid batch whose record fields lie: the decoder must refuse without
 * overreading (ASan watches each exact-size heap copy). */
static void test_batch_hostile_records(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_batch_hostile_records")};
    char why[256];

    for (int iter = 0; iter < 20000; iter++) {
        size_t body = (size_t)test_below(&rng, 48);
        size_t len = LOG_BATCH_HDR + body;
        uint8_t *b = malloc(len);
        count_ctx cc = {0, -1};
        int rc;
        test_fill(&rng, b + LOG_BATCH_HDR, body);
        /* Bias towards small varints so some records get deep into the decoder. */
        for (size_t i = LOG_BATCH_HDR; i < len; i++)
            if (test_below(&rng, 2))
                b[i] &= 0x0f;
        log_batch_seal(b, len, 0, (uint32_t)test_below(&rng, 4), 0, 0);
        rc = log_batch_decode(b, len, count_rec, &cc, why, sizeof why);
        assert_true(rc == SPOOL_OK || rc == LOG_ECORRUPT);
        free(b);
    }
}

static void test_batch_random_bytes(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_batch_random_bytes")};
    char why[256];

    for (int iter = 0; iter < 20000; iter++) {
        size_t len = (size_t)test_below(&rng, 128);
        uint8_t *b = malloc(len ? len : 1);
        test_fill(&rng, b, len);
        if (len >= 4 && test_below(&rng, 2))
            util_put_u32(b, LOG_BATCH_MAGIC);
        if (len >= 12 && test_below(&rng, 2))
            util_put_u32(b + 8, (uint32_t)test_below(&rng, len + 8));
        assert_int_not_equal(log_batch_decode(b, len, NULL, NULL, why, sizeof why), SPOOL_OK);
        free(b);
    }
}

static void test_varint_bounds(void **state)
{
    (void)state;
    uint8_t buf[UTIL_VARINT_MAX + 1];
    static const uint64_t vals[] = {0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX,
                                    UINT64_MAX / 2};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t n = util_varint_put(buf, vals[i]);
        const uint8_t *p = buf;
        uint64_t v;
        assert_int_equal(n, util_varint_len(vals[i]));
        assert_int_equal(util_varint_get(&p, buf + n, &v), 0);
        assert_true(v == vals[i]);
        p = buf;
        if (n > 0)
            assert_int_equal(util_varint_get(&p, buf + n - 1, &v), -1);
    }
    /* Eleven continuation bytes, or a tenth byte above 1, overflow 64 bits. */
    memset(buf, 0xff, sizeof buf);
    const uint8_t *p = buf;
    uint64_t v;
    assert_int_equal(util_varint_get(&p, buf + sizeof buf, &v), -1);
    memset(buf, 0x80, 9);
    buf[9] = 0x02;
    p = buf;
    assert_int_equal(util_varint_get(&p, buf + 10, &v), -1);
    assert_true(util_zigzag_dec(util_zigzag_enc(-1)) == -1);
    assert_true(util_zigzag_enc(-1) == 1);
    assert_true(util_zigzag_dec(util_zigzag_enc(INT64_MIN)) == INT64_MIN);
    assert_true(util_zigzag_dec(util_zigzag_enc(INT64_MAX)) == INT64_MAX);
}

static void test_commit_image_hostile(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_commit_image_hostile")};
    log_commit_image img;
    char why[256];

    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 16 + (size_t)test_below(&rng, 96);
        uint8_t *b = malloc(len);
        test_fill(&rng, b, len);
        for (size_t i = 16; i < len; i++)
            if (test_below(&rng, 2))
                b[i] &= 0x03;
        util_put_u32(b, LOG_COMMIT_MAGIC);
        util_put_u32(b + 8, (uint32_t)len);
        util_put_u16(b + 12, 1);
        util_put_u16(b + 14, 0);
        util_put_u32(b + 4, util_crc32c(0, b + 8, len - 8));
        int rc = log_commit_image_decode(b, len, &img, why, sizeof why);
        assert_true(rc == SPOOL_OK || rc == LOG_ECORRUPT);
        if (rc == SPOOL_OK)
            log_commit_image_free(&img);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_murmur2_kafka_vectors),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_varint_bounds),
        cmocka_unit_test(test_batch_round_trip),
        cmocka_unit_test(test_batch_extreme_timestamps),
        cmocka_unit_test(test_batch_every_bit_flip_detected),
        cmocka_unit_test(test_batch_lying_lengths),
        cmocka_unit_test(test_batch_hostile_records),
        cmocka_unit_test(test_batch_random_bytes),
        cmocka_unit_test(test_commit_image_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_crc32c.c - CRC-32C known vectors, chaining, and hardware == software. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/test_log_helpers.h"
#include "util/crc32c.h"

static void test_crc32c_vectors(void **state)
{
    (void)state;
    static const uint8_t zeros[32] = {0};
    uint8_t ones[32], inc[32], dec[32];

    for (int i = 0; i < 32; i++) {
        ones[i] = 0xff;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(util_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(util_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(util_crc32c(0, "", 0), 0u);
    /* RFC 3720 (iSCSI) appendix B.4 vectors. */
    assert_int_equal(util_crc32c(0, zeros, 32), 0x8A9136AAu);
    assert_int_equal(util_crc32c(0, ones, 32), 0x62A8AB43u);
    assert_int_equal(util_crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(util_crc32c(0, dec, 32), 0x113FDB5Cu);
    assert_int_equal(util_crc32c_sw(0, inc, 32), 0x46DD794Eu);
    if (util_crc32c_hw_available()) {
        assert_int_equal(util_crc32c_hw(0, "123456789", 9), 0xE3069283u);
        assert_int_equal(util_crc32c_hw(0, dec, 32), 0x113FDB5Cu);
    }
}

static void test_crc32c_chaining(void **state)
{
    (void)state;
    const char *s = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    uint32_t whole = util_crc32c(0, s, n);

    for (size_t cut = 0; cut <= n; cut++) {
        assert_int_equal(util_crc32c(util_crc32c(0, s, cut), s + cut, n - cut), whole);
        assert_int_equal(util_crc32c_sw(util_crc32c_sw(0, s, cut), s + cut, n - cut), whole);
    }
}

static void test_crc32c_hw_matches_sw(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_crc32c_hw_matches_sw")};
    uint8_t *buf = malloc(70000);

    assert_non_null(buf);
    if (!util_crc32c_hw_available()) {
        fprintf(stderr, "no SSE4.2 on this CPU: only the software path is checked\n");
        free(buf);
        skip();
    }
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)test_below(&rng, i < 1000 ? 64 : 70000);
        size_t off = (size_t)test_below(&rng, 8); /* every alignment */
        uint32_t start = (uint32_t)test_rand(&rng);
        if (off + len > 70000)
            len = 70000 - off;
        test_fill(&rng, buf + off, len);
        assert_int_equal(util_crc32c_hw(start, buf + off, len),
                         util_crc32c_sw(start, buf + off, len));
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_crc32c_chaining),
        cmocka_unit_test(test_crc32c_hw_matches_sw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_ckpt.c - sink checkpoints (the runtime's offsets store): round trip, absent file,
 * damaged file, bad names, and atomic replacement (a crash mid-save leaves a stray
 * temporary file and the previous checkpoint, never a mix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ckpt/ckpt.h"
#include "log/log.h"
#include "spool/plugin.h"
#include "unit/test_log_helpers.h"

static void test_ckpt_absent_is_empty(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char err[512] = "";
    ckpt c;

    assert_int_equal(ckpt_load(dir, "warehouse", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(c.count, 0);
    assert_null(c.position);
    assert_int_equal(ckpt_get(&c, "t", 0), -1);
    ckpt_clear(&c);
    test_rmdir(dir);
}

static void test_ckpt_round_trip(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *sub = test_path(dir, "data");
    char err[512] = "";
    ckpt c = {0}, back;

    assert_int_equal(ckpt_set(&c, "events", 0, 10), SPOOL_OK);
    assert_int_equal(ckpt_set(&c, "events", 3, 7), SPOOL_OK);
    assert_int_equal(ckpt_set(&c, "other", 0, 0), SPOOL_OK);
    assert_int_equal(ckpt_set(&c, "events", 0, 12), SPOOL_OK); /* replaces */
    assert_int_equal(ckpt_set(&c, "events", -1, 1), SPOOL_EINVAL);
    assert_int_equal(c.count, 3);
    assert_int_equal(ckpt_set_position(&c, "bytes=4096\0x", 12), SPOOL_OK);
    /* The data directory and sinks/ are created as needed. */
    assert_int_equal(ckpt_save(sub, "warehouse", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_load(sub, "warehouse", &back, err, sizeof err), SPOOL_OK);
    assert_int_equal(back.count, 3);
    assert_int_equal(ckpt_get(&back, "events", 0), 12);
    assert_int_equal(ckpt_get(&back, "events", 3), 7);
    assert_int_equal(ckpt_get(&back, "other", 0), 0);
    assert_int_equal(ckpt_get(&back, "other", 1), -1);
    assert_int_equal(back.position_len, 12);
    assert_memory_equal(back.position, "bytes=4096\0x", 12);
    ckpt_clear(&back);

    /* Replacing keeps only the new one; clearing the position stores none. */
    assert_int_equal(ckpt_set(&c, "events", 3, 8), SPOOL_OK);
    assert_int_equal(ckpt_set_position(&c, NULL, 0), SPOOL_OK);
    assert_int_equal(ckpt_save(sub, "warehouse", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_load(sub, "warehouse", &back, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&back, "events", 3), 8);
    assert_null(back.position);
    assert_int_equal(back.position_len, 0);
    char *tmp = test_path(sub, "sinks/warehouse.ckpt.tmp");
    assert_int_equal(test_file_size(tmp), -1);
    free(tmp);
    ckpt_clear(&back);
    ckpt_clear(&c);
    assert_int_equal(c.count, 0);
    free(sub);
    test_rmdir(dir);
}

static void test_ckpt_damage_is_reported(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *file = test_path(dir, "sinks/s.ckpt");
    char err[512] = "";
    ckpt c = {0}, back;
    size_t len;
    unsigned char *orig;

    assert_int_equal(ckpt_set(&c, "events", 1, 99), SPOOL_OK);
    assert_int_equal(ckpt_set_position(&c, "pos", 3), SPOOL_OK);
    assert_int_equal(ckpt_save(dir, "s", &c, err, sizeof err), SPOOL_OK);
    orig = test_slurp(file, &len);
    assert_non_null(orig);
    /* Every flipped bit, and every truncation, is LOG_ECORRUPT naming the file. */
    for (size_t at = 0; at < len * 8; at++) {
        unsigned char *d = malloc(len);
        memcpy(d, orig, len);
        d[at / 8] ^= (unsigned char)(1u << (at % 8));
        test_spit(file, d, len);
        err[0] = '\0';
        assert_int_equal(ckpt_load(dir, "s", &back, err, sizeof err), LOG_ECORRUPT);
        assert_non_null(strstr(err, file));
        assert_int_equal(back.count, 0);
        free(d);
    }
    for (size_t cut = 0; cut < len; cut++) {
        test_spit(file, orig, cut);
        assert_int_equal(ckpt_load(dir, "s", &back, err, sizeof err), LOG_ECORRUPT);
    }
    test_spit(file, orig, len);
    assert_int_equal(ckpt_load(dir, "s", &back, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&back, "events", 1), 99);
    ckpt_clear(&back);
    ckpt_clear(&c);
    free(orig);
    free(file);
    test_rmdir(dir);
}

static void test_ckpt_bad_sink_names(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char err[512] = "";
    ckpt c = {0};

    assert_int_equal(ckpt_save(dir, "../escape", &c, err, sizeof err), SPOOL_EINVAL);
    assert_non_null(strstr(err, "../escape"));
    assert_int_equal(ckpt_load(dir, "a/b", &c, err, sizeof err), SPOOL_EINVAL);
    assert_int_equal(ckpt_load(dir, "", &c, err, sizeof err), SPOOL_EINVAL);
    test_rmdir(dir);
}

/* What a crash between writing the temporary file and the rename leaves: the old
 * checkpoint wins, the stray temporary is ignored and replaced by the next save. */
static void test_ckpt_replace_is_atomic(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *tmp = test_path(dir, "sinks/s.ckpt.tmp");
    char err[512] = "";
    ckpt c = {0}, got;

    for (int64_t i = 1; i <= 50; i++) {
        assert_int_equal(ckpt_set(&c, "t", (int32_t)(i % 3), i), SPOOL_OK);
        assert_int_equal(ckpt_save(dir, "s", &c, err, sizeof err), SPOOL_OK);
    }
    test_spit(tmp, "half-written garbage", 20);
    assert_int_equal(ckpt_load(dir, "s", &got, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&got, "t", 2), 50);
    assert_int_equal(ckpt_get(&got, "t", 1), 49);
    assert_int_equal(ckpt_get(&got, "t", 0), 48);
    ckpt_clear(&got);
    assert_int_equal(ckpt_set(&c, "t", 0, 51), SPOOL_OK);
    assert_int_equal(ckpt_save(dir, "s", &c, err, sizeof err), SPOOL_OK);
    assert_int_equal(test_file_size(tmp), -1); /* renamed over the file */
    assert_int_equal(ckpt_load(dir, "s", &got, err, sizeof err), SPOOL_OK);
    assert_int_equal(ckpt_get(&got, "t", 0), 51);
    ckpt_clear(&got);
    ckpt_clear(&c);
    free(tmp);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckpt_absent_is_empty),
        cmocka_unit_test(test_ckpt_round_trip),
        cmocka_unit_test(test_ckpt_damage_is_reported),
        cmocka_unit_test(test_ckpt_bad_sink_names),
        cmocka_unit_test(test_ckpt_replace_is_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_abi.c - the layout of ABI 1, member by member.
 *
 * spool/plugin.h asserts the sizes and a few offsets of its structs itself; this file
 * pins every member, so that moving, resizing or inserting one fails this build even
 * where the header's own checks would not notice (two members swapped, say). Appending
 * a member is the one allowed change: the sizes below then grow with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "spool/plugin.h"

#define AT(T, m, off) _Static_assert(offsetof(T, m) == (off), #T "." #m " moved");

#if defined(__LP64__)
AT(spool_plugin, struct_size, 0) AT(spool_plugin, abi_version, 4) AT(spool_plugin, name, 8)
AT(spool_plugin, version, 16) AT(spool_plugin, description, 24) AT(spool_plugin, kind, 32)
AT(spool_plugin, delivery, 36) AT(spool_plugin, options, 40) AT(spool_plugin, open, 48)
AT(spool_plugin, close, 56) AT(spool_plugin, poll, 64) AT(spool_plugin, commit, 72)
AT(spool_plugin, put, 80) AT(spool_plugin, flush, 88) AT(spool_plugin, transform, 96)

AT(spool_host, struct_size, 0) AT(spool_host, abi_version, 4)
AT(spool_host, runtime_version, 8) AT(spool_host, log, 16) AT(spool_host, set_error, 24)
AT(spool_host, opt_string, 32) AT(spool_host, opt_int, 40) AT(spool_host, opt_list, 48)
AT(spool_host, task_name, 56) AT(spool_host, stopping, 64) AT(spool_host, emit, 72)
AT(spool_host, source_position, 80) AT(spool_host, sink_position, 88)
AT(spool_host, set_sink_position, 96) AT(spool_host, seek, 104) AT(spool_host, reject, 112)
AT(spool_host, gauge, 120) AT(spool_host, key_field, 128)
_Static_assert(sizeof(spool_host) == 136, "spool_host grew");

AT(spool_option, struct_size, 0) AT(spool_option, type, 4) AT(spool_option, name, 8)
AT(spool_option, default_value, 16) AT(spool_option, flags, 24) AT(spool_option, min, 32)
AT(spool_option, max, 40) AT(spool_option, choices, 48) AT(spool_option, doc, 56)

AT(spool_record, struct_size, 0) AT(spool_record, key, 8) AT(spool_record, key_len, 16)
AT(spool_record, value, 24) AT(spool_record, value_len, 32) AT(spool_record, headers, 40)
AT(spool_record, header_count, 48) AT(spool_record, timestamp_ms, 56)
AT(spool_record, topic, 64) AT(spool_record, partition, 72) AT(spool_record, offset, 80)

AT(spool_header, key, 0) AT(spool_header, value, 8) AT(spool_header, value_len, 16)
#endif

/* The numbers a plugin compiled today carries in its descriptor and its records. */
static void test_abi_numbers(void **state)
{
    assert_int_equal(SPOOL_ABI_VERSION, 1);
    assert_int_equal(SPOOL_VERSION_NUMBER,
                     SPOOL_VERSION_MAJOR * 10000 + SPOOL_VERSION_MINOR * 100 +
                         SPOOL_VERSION_PATCH);
    assert_int_equal(SPOOL_OK, 0);
    assert_int_equal(SPOOL_ERR, -1);
    assert_int_equal(SPOOL_RETRY, -2);
    assert_int_equal(SPOOL_DONE, -7);
    assert_int_equal(SPOOL_KIND_SOURCE, 1);
    assert_int_equal(SPOOL_KIND_TRANSFORM, 3);
    assert_int_equal(SPOOL_DELIVERY_TRANSACTIONAL, 1);
    assert_int_equal(SPOOL_DELIVERY_IDEMPOTENT, 3);
    assert_int_equal(SPOOL_OPT_LIST, 7);
    assert_int_equal(SPOOL_OPT_REQUIRED | SPOOL_OPT_SECRET, 3);
}

/* SPOOL_HAS() answers for members within struct_size only: how an ABI 1.0 reader meets a
 * struct written by a newer side, and a newer reader an older one. */
static void test_spool_has_reads_struct_size(void **state)
{
    spool_host h = {.struct_size = (uint32_t)offsetof(spool_host, seek)};
    assert_true(SPOOL_HAS(spool_host, &h, set_sink_position));
    assert_false(SPOOL_HAS(spool_host, &h, seek));
    assert_false(SPOOL_HAS(spool_host, &h, reject));
    h.struct_size = sizeof(spool_host);
    assert_true(SPOOL_HAS(spool_host, &h, reject));
    assert_true(SPOOL_HAS(spool_host, &h, gauge));
    /* The host table of a runtime from before gauge() was appended. */
    h.struct_size = (uint32_t)offsetof(spool_host, gauge);
    assert_true(SPOOL_HAS(spool_host, &h, reject));
    assert_false(SPOOL_HAS(spool_host, &h, gauge));
    /* ... and from before key_field() was. */
    h.struct_size = (uint32_t)offsetof(spool_host, key_field);
    assert_true(SPOOL_HAS(spool_host, &h, gauge));
    assert_false(SPOOL_HAS(spool_host, &h, key_field));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_numbers),
        cmocka_unit_test(test_spool_has_reads_struct_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

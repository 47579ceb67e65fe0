/* test_loader.c - the plugin loader against real, deliberately broken .so files.
 *
 * The plugins are variants of loader_plugins/test_plugin.c built by loader.cmake into
 * LOADER_TP_DIR. The group setup copies each into a private temporary directory with
 * mode 0755, so the tests neither depend on the umask the build ran under nor on
 * anything outside the build tree, and can chmod or rename copies freely. Every
 * refusal is compared in full: the message is the interface (it names the file, the
 * problem and the fix) and must stay one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/loader.h"

/* More options than the loader's limit of 256, for the unterminated-table case. */
#define LOADER_TEST_MANY 300

#ifndef LOADER_TP_DIR
#error "LOADER_TP_DIR must name the directory of the test plugins"
#endif

static const char *const tl_variants[] = {
    "good", "wide", "sink", "dup", "noentry", "nullentry", "abi2", "abi0", "nopoll",
    "sink_noflush", "unresolved", "opt_badname", "opt_dup", "opt_badtype",
    "opt_reqdefault", "opt_enumnochoices", "opt_baddefault", "opt_nodoc", "opt_range",
    "opt_badflags", NULL};

/* The private copy of the plugins, shared by all tests (read-only after setup). */
static char tl_root[64];

static int tl_copy(const char *src, const char *dst, mode_t mode)
{
    char buf[8192];
    ssize_t n;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;

    if (in < 0 || out < 0)
        goto out;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            goto out;
    if (n == 0 && fchmod(out, mode) == 0)
        rc = 0;
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* The path of the private copy of variant v. */
static void tl_path(char *buf, size_t len, const char *v)
{
    snprintf(buf, len, "%s/tp_%s.so", tl_root, v);
}

static void tl_make_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tl_root, name);
    assert_int_equal(mkdir(buf, 0700), 0);
}

static int tl_setup(void **state)
{
    char src[512], dst[512];

    snprintf(tl_root, sizeof tl_root, "/tmp/spool-test-loader-XXXXXX");
    if (mkdtemp(tl_root) == NULL)
        return -1;
    for (size_t i = 0; tl_variants[i] != NULL; i++) {
        snprintf(src, sizeof src, "%s/tp_%s.so", LOADER_TP_DIR, tl_variants[i]);
        tl_path(dst, sizeof dst, tl_variants[i]);
        if (tl_copy(src, dst, 0755) != 0) {
            fprintf(stderr, "cannot copy %s to %s: %s\n", src, dst, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int tl_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static int tl_teardown(void **state)
{
    return nftw(tl_root, tl_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static int tl_loader_setup(void **state)
{
    *state = loader_new(NULL);
    return *state == NULL ? -1 : 0;
}

static int tl_loader_teardown(void **state)
{
    loader_free(*state);
    return 0;
}

/* Loads variant v and expects it refused with exactly "plugin file PATH: " + rest. */
static void tl_expect_refused(loader *l, const char *v, const char *rest)
{
    char path[512], want[2048], err[1024];

    tl_path(path, sizeof path, v);
    snprintf(want, sizeof want, "plugin file %s: %s", path, rest);
    assert_true(loader_load_file(l, path, err, sizeof err) < 0);
    assert_string_equal(err, want);
    assert_null(strchr(err, '\n'));
    assert_int_equal(loader_count(l), 0);
}

/* ------------------------------------------------------------------------------- */

static void test_good_loads(void **state)
{
    loader *l = *state;
    char path[512], err[1024] = "";
    const loader_plugin *p;
    static const char *const names[] = {"topic", "batch_size", "buffer", "timeout",
                                        "verbose", "mode", "password", "hosts"};

    tl_path(path, sizeof path, "good");
    assert_int_equal(loader_load_file(l, path, err, sizeof err), SPOOL_OK);
    assert_string_equal(err, "");
    assert_int_equal(loader_count(l), 1);
    p = loader_find(l, "tp_good");
    assert_non_null(p);
    assert_ptr_equal(p, loader_at(l, 0));
    assert_null(loader_at(l, 1));
    assert_null(loader_find(l, "tp_other"));
    assert_string_equal(p->path, path);
    assert_string_equal(p->desc->version, "1.2.3");
    assert_int_equal(p->desc->kind, SPOOL_KIND_SOURCE);
    assert_int_equal(p->option_count, 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(p->options[i]->name, names[i]);
    assert_null(p->options[8]);
    assert_int_equal(loader_option(p, "batch_size")->type, SPOOL_OPT_INT);
    assert_string_equal(loader_option(p, "batch_size")->default_value, "100");
    assert_true(loader_option(p, "password")->flags & SPOOL_OPT_SECRET);
    assert_string_equal(loader_option(p, "mode")->choices[1], "safe");
    assert_null(loader_option(p, "nope"));
}

static void test_wide_option_stride(void **state)
{
    loader *l = *state;
    char path[512], err[1024];
    const loader_plugin *p;
    ptrdiff_t stride;

    tl_path(path, sizeof path, "wide");
    assert_int_equal(loader_load_file(l, path, err, sizeof err), SPOOL_OK);
    p = loader_find(l, "tp_wide");
    assert_non_null(p);
    assert_int_equal(p->option_count, 3);
    stride = (const char *)p->options[1] - (const char *)p->options[0];
    assert_int_equal(stride, p->options[0]->struct_size);
    assert_true((size_t)stride > sizeof(spool_option));
    assert_string_equal(p->options[0]->name, "alpha");
    assert_string_equal(p->options[1]->name, "beta");
    assert_string_equal(p->options[2]->name, "gamma");
    assert_null(p->options[3]);
    assert_ptr_equal(loader_option(p, "gamma"), p->options[2]);
}

static void test_sink_without_options(void **state)
{
    loader *l = *state;
    char path[512], err[1024];
    const loader_plugin *p;

    tl_path(path, sizeof path, "sink");
    assert_int_equal(loader_load_file(l, path, err, sizeof err), SPOOL_OK);
    p = loader_find(l, "tp_sink");
    assert_non_null(p);
    assert_int_equal(p->option_count, 0);
    assert_non_null(p->options);
    assert_null(p->options[0]);
    assert_null(loader_option(p, "topic"));
}

static void test_missing_file(void **state)
{
    tl_expect_refused(*state, "does_not_exist",
                      "cannot be read (No such file or directory); check the path and "
                      "the plugin search path");
}

static void test_text_file_is_not_shared_object(void **state)
{
    loader *l = *state;
    char path[512], want[1024], err[1024];
    const char *tail = "); rebuild it for this platform against the installed spool SDK";
    FILE *f;

    snprintf(path, sizeof path, "%s/x.so", tl_root);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an ELF file\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);

    snprintf(want, sizeof want,
             "plugin file %s: is not a loadable shared object for this machine (", path);
    assert_true(loader_load_file(l, path, err, sizeof err) < 0);
    /* The middle is dlerror()'s own text, which varies between libcs. */
    assert_memory_equal(err, want, strlen(want));
    assert_true(strlen(err) > strlen(want) + strlen(tail));
    assert_string_equal(err + strlen(err) - strlen(tail), tail);
    assert_null(strchr(err, '\n'));
    assert_int_equal(loader_count(l), 0);
    unlink(path);
}

static void test_directory_is_not_regular(void **state)
{
    loader *l = *state;
    char path[512], want[1024], err[1024];

    tl_make_dir(path, sizeof path, "dir.so");
    snprintf(want, sizeof want,
             "plugin file %s: is not a regular file; point the plugin path at the .so "
             "file itself", path);
    assert_true(loader_load_file(l, path, err, sizeof err) < 0);
    assert_string_equal(err, want);
    rmdir(path);
}

static void test_no_entry_symbol(void **state)
{
    tl_expect_refused(*state, "noentry",
                      "does not export spool_plugin_entry; define it with SPOOL_EXPORT "
                      "from spool/plugin.h so it stays visible under "
                      "-fvisibility=hidden");
}

static void test_entry_returns_null(void **state)
{
    tl_expect_refused(*state, "nullentry",
                      "spool_plugin_entry() returned NULL; it must return its static "
                      "spool_plugin descriptor");
}

static void test_abi_too_new(void **state)
{
    tl_expect_refused(*state, "abi2",
                      "built for ABI 2, this runtime speaks ABI 1; the plugin is newer "
                      "than this runtime: upgrade spool or rebuild the plugin against "
                      "the installed spool SDK");
}

static void test_abi_too_old(void **state)
{
    tl_expect_refused(*state, "abi0",
                      "built for ABI 0, this runtime speaks ABI 1; the plugin is older "
                      "than this runtime: rebuild it against the installed spool SDK");
}

static void test_duplicate_name(void **state)
{
    loader *l = *state;
    char good[512], dup[512], want[2048], err[1024];

    tl_path(good, sizeof good, "good");
    tl_path(dup, sizeof dup, "dup");
    assert_int_equal(loader_load_file(l, good, err, sizeof err), SPOOL_OK);
    snprintf(want, sizeof want,
             "plugin file %s: source plugin name \"tp_good\" is already taken by plugin "
             "file %s; remove one of the two files or rename one plugin", dup, good);
    assert_true(loader_load_file(l, dup, err, sizeof err) < 0);
    assert_string_equal(err, want);
    assert_int_equal(loader_count(l), 1);
    assert_string_equal(loader_find(l, "tp_good")->path, good);
}

static void test_malformed_options(void **state)
{
    static const struct {
        const char *variant, *rest;
    } cases[] = {
        {"opt_badname", "option name \"Batch-Size\" is invalid; use 1 to 64 characters "
                        "from a-z, 0-9 and _"},
        {"opt_dup", "option \"topic\" is declared twice; remove one declaration"},
        {"opt_badtype", "option \"batch_size\" declares type 99, which ABI 1 does not "
                        "know; fix the plugin's option table"},
        {"opt_reqdefault", "option \"url\" is REQUIRED but has default \"http://x\"; "
                           "drop the default or the SPOOL_OPT_REQUIRED flag"},
        {"opt_enumnochoices", "ENUM option \"level\" declares no choices; set choices "
                              "to a NULL-terminated list of the allowed values"},
        {"opt_baddefault", "default of SIZE option \"buffer\" is invalid: \"12 parsecs\" "
                           "is not a size (write 512, 64KiB, 16MiB, 1GiB or 2GB); fix "
                           "the default in the plugin's option table"},
        {"opt_nodoc", "option \"quiet\" has no doc; give every option a one-line doc, "
                      "it is shown by `spool plugins` and in the reference"},
        {"opt_range", "default of INT option \"workers\" is invalid: 100 is outside the "
                      "allowed range 1..64; fix the default in the plugin's option "
                      "table"},
        {"opt_badflags", "option \"token\" sets unknown flag bits 0x80; use only "
                         "SPOOL_OPT_REQUIRED and SPOOL_OPT_SECRET"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        loader *l = loader_new(NULL);
        assert_non_null(l);
        tl_expect_refused(l, cases[i].variant, cases[i].rest);
        loader_free(l);
    }
}

static void test_group_writable_refused(void **state)
{
    loader *l = *state;
    char src[512], path[512], want[2048], err[1024];

    tl_path(src, sizeof src, "good");
    snprintf(path, sizeof path, "%s/open.so", tl_root);
    assert_int_equal(tl_copy(src, path, 0666), 0);
    snprintf(want, sizeof want,
             "plugin file %s: is writable by group or others (mode 0666); anyone who "
             "can write it can run code in the worker: chmod go-w %s", path, path);
    assert_true(loader_load_file(l, path, err, sizeof err) < 0);
    assert_string_equal(err, want);
    assert_int_equal(loader_count(l), 0);

    /* Group-writable alone is refused too. */
    assert_int_equal(chmod(path, 0775), 0);
    assert_true(loader_load_file(l, path, err, sizeof err) < 0);
    assert_non_null(strstr(err, "(mode 0775)"));
    unlink(path);
}

static void test_missing_callbacks(void **state)
{
    loader *l = *state;

    tl_expect_refused(l, "nopoll",
                      "source \"tp_good\" has no poll callback; every source must "
                      "implement poll");
    tl_expect_refused(l, "sink_noflush",
                      "sink \"tp_sink\" has no flush callback; every sink must implement "
                      "flush");
}

static void test_unresolved_symbol_fails_at_load(void **state)
{
    loader *l = *state;
    char path[512], want[1024], err[1024];
    const char *tail = "); link the plugin with -Wl,--no-undefined and every library it "
                       "uses";

    tl_path(path, sizeof path, "unresolved");
    assert_true(loader_load_file(l, path, err, sizeof err) < 0);
    snprintf(want, sizeof want,
             "plugin file %s: needs a symbol that no loaded library provides (", path);
    assert_memory_equal(err, want, strlen(want));
    assert_non_null(strstr(err, "tp_symbol_defined_nowhere"));
    assert_string_equal(err + strlen(err) - strlen(tail), tail);
    assert_null(strchr(err, '\n'));
    assert_int_equal(loader_count(l), 0);
}

static void test_path_without_slash(void **state)
{
    loader *l = *state;
    char cwd[4096], err[1024];

    /* "tp_good.so" must mean ./tp_good.so, not a search of the library path. */
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tl_root), 0);
    assert_int_equal(loader_load_file(l, "tp_good.so", err, sizeof err), SPOOL_OK);
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(loader_find(l, "tp_good")->path, "tp_good.so");
}

/* ------------------------------------------------------------------------------- */

static const spool_option tl_builtin_options[] = {
    {SPOOL_OPTION_INIT, .name = "expr", .type = SPOOL_OPT_STRING,
     .flags = SPOOL_OPT_REQUIRED, .doc = "Expression."},
    {.name = NULL}};

static spool_rc tl_open(spool_task *t, void **s)
{
    return SPOOL_OK;
}

static void tl_close(spool_task *t, void *s)
{
}

static spool_rc tl_transform(spool_task *t, void *s, const spool_record *r)
{
    return SPOOL_OK;
}

static const spool_plugin tl_builtin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "tp_good", .version = "0.1.0", .description = "Built-in test transform.",
    .kind = SPOOL_KIND_TRANSFORM, .options = tl_builtin_options,
    .open = tl_open, .close = tl_close, .transform = tl_transform};

static const spool_plugin *tl_builtin_entry(const spool_host *host)
{
    return &tl_builtin;
}

static const spool_plugin *tl_null_entry(const spool_host *host)
{
    return NULL;
}

static void test_builtin(void **state)
{
    loader *l = *state;
    char good[512], want[2048], err[1024];
    const loader_plugin *p;

    assert_int_equal(loader_add_builtin(l, tl_builtin_entry, err, sizeof err), SPOOL_OK);
    p = loader_find(l, "tp_good");
    assert_non_null(p);
    assert_string_equal(p->path, "(built-in)");
    assert_int_equal(p->option_count, 1);
    assert_ptr_equal(loader_option(p, "expr"), &tl_builtin_options[0]);

    /* Names are unique per kind: a source file named like the built-in transform
     * loads beside it, and each is found by its kind. */
    tl_path(good, sizeof good, "good");
    assert_int_equal(loader_load_file(l, good, err, sizeof err), SPOOL_OK);
    assert_string_equal(loader_find_kind(l, "tp_good", SPOOL_KIND_SOURCE)->path, good);
    assert_string_equal(loader_find_kind(l, "tp_good", SPOOL_KIND_TRANSFORM)->path,
                        "(built-in)");
    assert_null(loader_find_kind(l, "tp_good", SPOOL_KIND_SINK));

    /* The same name and kind twice is refused, and the message names both. */
    snprintf(want, sizeof want,
             "plugin file (built-in): transform plugin name \"tp_good\" is already taken "
             "by plugin file (built-in); remove one of the two files or rename one plugin");
    assert_true(loader_add_builtin(l, tl_builtin_entry, err, sizeof err) < 0);
    assert_string_equal(err, want);

    assert_true(loader_add_builtin(l, tl_null_entry, err, sizeof err) < 0);
    assert_string_equal(err, "plugin file (built-in): the entry function returned no "
                             "descriptor; it must return its static spool_plugin");
    assert_int_equal(loader_count(l), 2);
}

/* Direct checks of loader_check_descriptor on descriptors the .so files do not cover. */
static void test_check_descriptor(void **state)
{
    spool_plugin p = tl_builtin;
    spool_option many[LOADER_TEST_MANY + 1];
    char names[LOADER_TEST_MANY][8];
    char err[1024];

    assert_int_equal(loader_check_descriptor(&p, "/p.so", err, sizeof err), SPOOL_OK);

    p.struct_size = offsetof(spool_plugin, transform);
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_non_null(strstr(err, "plugin file /p.so: descriptor struct_size is "));

    p = tl_builtin;
    p.name = "Bad Name";
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_string_equal(err, "plugin file /p.so: plugin name \"Bad Name\" is invalid; "
                             "use 1 to 64 characters from a-z, 0-9, _ and -");
    p.name = "a234567890123456789012345678901234567890123456789012345678901234";
    assert_int_equal(loader_check_descriptor(&p, "/p.so", err, sizeof err), SPOOL_OK);
    p.name = "a2345678901234567890123456789012345678901234567890123456789012345";
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);

    p = tl_builtin;
    p.description = "";
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_string_equal(err, "plugin file /p.so: plugin \"tp_good\" lacks a description; "
                             "set it to one line of text");

    p = tl_builtin;
    p.kind = 9;
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_non_null(strstr(err, "declares kind 9, which ABI 1 does not know"));

    p = tl_builtin;
    p.kind = SPOOL_KIND_SINK;
    p.put = (void *)0, p.flush = (void *)0;
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_non_null(strstr(err, "sink \"tp_good\" declares delivery 0"));

    p = tl_builtin;
    p.open = NULL;
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_string_equal(err, "plugin file /p.so: transform \"tp_good\" has no open "
                             "callback; every transform must implement open");

    /* A table without terminator is cut off at 256 options. */
    for (size_t i = 0; i < LOADER_TEST_MANY; i++) {
        snprintf(names[i], sizeof names[i], "o%zu", i);
        many[i] = (spool_option){SPOOL_OPTION_INIT, .name = names[i],
                                 .type = SPOOL_OPT_STRING, .doc = "x"};
    }
    many[LOADER_TEST_MANY] = (spool_option){.name = NULL};
    p = tl_builtin;
    p.options = many;
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_non_null(strstr(err, "more than 256 options"));
    many[256].name = NULL;
    assert_int_equal(loader_check_descriptor(&p, "/p.so", err, sizeof err), SPOOL_OK);

    /* Strides: a zero-initialised first entry, and entries that disagree. */
    many[0].struct_size = 0;
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_non_null(strstr(err, "first entry has struct_size 0"));
    many[0].struct_size = sizeof(spool_option);
    many[3].struct_size = sizeof(spool_option) + 8;
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_non_null(strstr(err, "option 3 has struct_size"));
    many[3].struct_size = sizeof(spool_option);

    /* A range on a string is ignored; choices on a non-ENUM are refused. */
    many[1].min = 0, many[1].max = 0;
    assert_int_equal(loader_check_descriptor(&p, "/p.so", err, sizeof err), SPOOL_OK);
    many[1].choices = tl_variants;
    assert_true(loader_check_descriptor(&p, "/p.so", err, sizeof err) < 0);
    assert_non_null(strstr(err, "STRING option \"o1\" declares choices"));

    assert_true(loader_check_descriptor(NULL, "/p.so", err, sizeof err) < 0);
}

static void test_parse_values(void **state)
{
    static const char *const ch[] = {"a", "b", NULL};
    spool_option o = {SPOOL_OPTION_INIT, .name = "x", .doc = "x"};
    char why[256];
    int64_t v;

#define TL_OK(T, text, want)                                                        \
    do {                                                                            \
        o.type = (T);                                                               \
        assert_int_equal(loader_parse_option_value(&o, (text), &v, why, sizeof why), \
                         SPOOL_OK);                                                 \
        assert_int_equal(v, (want));                                                \
    } while (0)
#define TL_BAD(T, text)                                                             \
    do {                                                                            \
        o.type = (T);                                                               \
        assert_int_equal(loader_parse_option_value(&o, (text), &v, why, sizeof why), \
                         SPOOL_EINVAL);                                             \
    } while (0)

    TL_OK(SPOOL_OPT_INT, "-42", -42);
    TL_OK(SPOOL_OPT_INT, "9223372036854775807", INT64_MAX);
    TL_BAD(SPOOL_OPT_INT, "9223372036854775808");
    TL_BAD(SPOOL_OPT_INT, "");
    TL_BAD(SPOOL_OPT_INT, "1x");
    TL_BAD(SPOOL_OPT_INT, " 1");
    TL_OK(SPOOL_OPT_SIZE, "512", 512);
    TL_OK(SPOOL_OPT_SIZE, "64KiB", 65536);
    TL_OK(SPOOL_OPT_SIZE, "16MiB", 16 << 20);
    TL_OK(SPOOL_OPT_SIZE, "1GiB", INT64_C(1) << 30);
    TL_OK(SPOOL_OPT_SIZE, "2GB", INT64_C(2000000000));
    TL_BAD(SPOOL_OPT_SIZE, "-1");
    TL_BAD(SPOOL_OPT_SIZE, "KiB");
    /* The same grammar as pipeline values (util/units.c): one space, PiB. */
    TL_OK(SPOOL_OPT_SIZE, "10 MiB", INT64_C(10) << 20);
    TL_OK(SPOOL_OPT_SIZE, "10PiB", INT64_C(10) << 50);
    TL_BAD(SPOOL_OPT_SIZE, "10  MiB");
    TL_BAD(SPOOL_OPT_SIZE, "9223372036854775807KiB");
    TL_OK(SPOOL_OPT_DURATION, "250ms", 250);
    TL_OK(SPOOL_OPT_DURATION, "5s", 5000);
    TL_OK(SPOOL_OPT_DURATION, "10m", 600000);
    TL_OK(SPOOL_OPT_DURATION, "2h", 7200000);
    TL_OK(SPOOL_OPT_DURATION, "7d", INT64_C(604800000));
    TL_OK(SPOOL_OPT_DURATION, "1500", 1500);
    TL_BAD(SPOOL_OPT_DURATION, "5 s");
    TL_BAD(SPOOL_OPT_DURATION, "1w");
    TL_OK(SPOOL_OPT_BOOL, "true", 1);
    TL_OK(SPOOL_OPT_BOOL, "false", 0);
    TL_OK(SPOOL_OPT_BOOL, "yes", 1);
    TL_BAD(SPOOL_OPT_BOOL, "maybe");
    o.choices = ch;
    TL_OK(SPOOL_OPT_ENUM, "b", 1);
    TL_BAD(SPOOL_OPT_ENUM, "c");
    o.choices = NULL;
    TL_OK(SPOOL_OPT_STRING, "anything at all", 0);

    o.min = 10, o.max = 20;
    TL_OK(SPOOL_OPT_INT, "10", 10);
    TL_OK(SPOOL_OPT_INT, "20", 20);
    TL_BAD(SPOOL_OPT_INT, "21");
    assert_string_equal(why, "21 is outside the allowed range 10..20");
    TL_BAD(SPOOL_OPT_DURATION, "1s");
#undef TL_OK
#undef TL_BAD
}

/* ------------------------------------------------------------------------------- */

static void test_search_path_order(void **state)
{
    char exe[4096], want_default[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char **path;

    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(want_default, sizeof want_default, "%s/lib/spool/plugins", exe);

    assert_int_equal(setenv("SPOOL_PLUGIN_PATH", "/env/c::/env/d:/extra/a:", 1), 0);
    path = loader_search_path("/extra/a::/extra/b");
    assert_non_null(path);
    assert_string_equal(path[0], "/extra/a");
    assert_string_equal(path[1], "/extra/b");
    assert_string_equal(path[2], "/env/c");
    assert_string_equal(path[3], "/env/d");
    assert_string_equal(path[4], want_default);
    assert_null(path[5]);
    loader_path_free(path);

    assert_int_equal(unsetenv("SPOOL_PLUGIN_PATH"), 0);
    path = loader_search_path(NULL);
    assert_non_null(path);
    assert_string_equal(path[0], want_default);
    assert_null(path[1]);
    loader_path_free(path);
}

static void test_load_dir(void **state)
{
    loader *l = *state;
    char dir[512], src[512], dst[600], sub[600], err[1024];
    /* Copied under names that sort differently from their plugin names. */
    static const struct {
        const char *variant, *as;
    } files[] = {{"wide", "a.so"}, {"good", "b.so"}, {"sink", "c.so"}};
    FILE *f;

    tl_make_dir(dir, sizeof dir, "plugins");
    for (size_t i = 0; i < 3; i++) {
        tl_path(src, sizeof src, files[i].variant);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i].as);
        assert_int_equal(tl_copy(src, dst, 0755), 0);
    }
    /* Not plugins: another extension, a hidden file, a directory named *.so. */
    snprintf(dst, sizeof dst, "%s/README.txt", dir);
    f = fopen(dst, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(dst, sizeof dst, "%s/.hidden.so", dir);
    f = fopen(dst, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(sub, sizeof sub, "%s/d.so", dir);
    assert_int_equal(mkdir(sub, 0700), 0);

    assert_int_equal(loader_load_dir(l, dir, err, sizeof err), SPOOL_OK);
    assert_int_equal(loader_count(l), 3);
    assert_string_equal(loader_at(l, 0)->desc->name, "tp_wide");
    assert_string_equal(loader_at(l, 1)->desc->name, "tp_good");
    assert_string_equal(loader_at(l, 2)->desc->name, "tp_sink");
    snprintf(dst, sizeof dst, "%s/b.so", dir);
    assert_string_equal(loader_find(l, "tp_good")->path, dst);

    /* A directory that does not exist is skipped. */
    snprintf(dst, sizeof dst, "%s/nowhere", tl_root);
    assert_int_equal(loader_load_dir(l, dst, err, sizeof err), SPOOL_OK);
    assert_int_equal(loader_count(l), 3);
}

static void test_load_dir_stops_at_bad_plugin(void **state)
{
    loader *l = *state;
    char dir[512], src[512], dst[600], want[2048], err[1024];

    tl_make_dir(dir, sizeof dir, "mixed");
    tl_path(src, sizeof src, "good");
    snprintf(dst, sizeof dst, "%s/1.so", dir);
    assert_int_equal(tl_copy(src, dst, 0755), 0);
    tl_path(src, sizeof src, "abi2");
    snprintf(dst, sizeof dst, "%s/2.so", dir);
    assert_int_equal(tl_copy(src, dst, 0755), 0);

    snprintf(want, sizeof want,
             "plugin file %s: built for ABI 2, this runtime speaks ABI 1; the plugin is "
             "newer than this runtime: upgrade spool or rebuild the plugin against the "
             "installed spool SDK", dst);
    assert_true(loader_load_dir(l, dir, err, sizeof err) < 0);
    assert_string_equal(err, want);
    assert_int_equal(loader_count(l), 1);
}

#define TL_TEST(f) cmocka_unit_test_setup_teardown(f, tl_loader_setup, tl_loader_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TL_TEST(test_good_loads),
        TL_TEST(test_wide_option_stride),
        TL_TEST(test_sink_without_options),
        TL_TEST(test_missing_file),
        TL_TEST(test_text_file_is_not_shared_object),
        TL_TEST(test_directory_is_not_regular),
        TL_TEST(test_no_entry_symbol),
        TL_TEST(test_entry_returns_null),
        TL_TEST(test_abi_too_new),
        TL_TEST(test_abi_too_old),
        TL_TEST(test_duplicate_name),
        TL_TEST(test_malformed_options),
        TL_TEST(test_group_writable_refused),
        TL_TEST(test_missing_callbacks),
        TL_TEST(test_unresolved_symbol_fails_at_load),
        TL_TEST(test_path_without_slash),
        TL_TEST(test_builtin),
        TL_TEST(test_check_descriptor),
        TL_TEST(test_parse_values),
        TL_TEST(test_search_path_order),
        TL_TEST(test_load_dir),
        TL_TEST(test_load_dir_stops_at_bad_plugin),
    };

    return cmocka_run_group_tests(tests, tl_setup, tl_teardown);
}

/* test_loader_lazy.c - loading plugins on demand: which files a lookup loads, what
 * listing and loader_load_all() load and report, and lookups from several threads.
 *
 * Uses the real test plugins of loader.cmake (LOADER_TP_DIR), copied with mode 0755
 * under chosen file names into a private temporary directory per test, so each test
 * decides which names follow the convention (spool-NAME-KIND.so, spool-NAME.so,
 * NAME-KIND.so, NAME.so). Which files got loaded is checked twice: by the loader's
 * own account (loader_get_stats, loader_file_loaded) and by /proc/self/maps, the
 * kernel's list of what this process has mapped. Labelled `threads`: the concurrent
 * test runs under ThreadSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/loader.h"

#ifndef LOADER_TP_DIR
#error "LOADER_TP_DIR must name the directory of the test plugins"
#endif

#define LL_THREADS 6

typedef struct ll_dir {
    char path[128];
    loader *l;
} ll_dir;

static int ll_copy(const char *variant, const char *dir, const char *as)
{
    char src[512], dst[512], buf[8192];
    ssize_t n;
    int in, out, rc = -1;

    snprintf(src, sizeof src, "%s/tp_%s.so", LOADER_TP_DIR, variant);
    snprintf(dst, sizeof dst, "%s/%s", dir, as);
    in = open(src, O_RDONLY | O_CLOEXEC);
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0)
        goto out;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            goto out;
    if (n == 0 && fchmod(out, 0755) == 0)
        rc = 0;
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* A subdirectory of the test's directory, created. */
static void ll_subdir(const ll_dir *d, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", d->path, name);
    assert_int_equal(mkdir(out, 0700), 0);
}

static void ll_put(const char *dir, const char *variant, const char *as)
{
    assert_int_equal(ll_copy(variant, dir, as), 0);
}

static void ll_file(char *out, size_t len, const char *dir, const char *as)
{
    snprintf(out, len, "%s/%s", dir, as);
}

/* True when the kernel has the file path mapped into this process. */
static int ll_mapped(const char *path)
{
    char line[4096];
    int found = 0;
    FILE *f = fopen("/proc/self/maps", "r");

    assert_non_null(f);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *p = strchr(line, '/');
        size_t n;
        if (p == NULL)
            continue;
        n = strcspn(p, "\n");
        found = n == strlen(path) && strncmp(p, path, n) == 0;
    }
    fclose(f);
    return found;
}

static int ll_setup(void **state)
{
    ll_dir *d = calloc(1, sizeof *d);

    if (d == NULL)
        return -1;
    snprintf(d->path, sizeof d->path, "/tmp/spool-test-lazy-XXXXXX");
    if (mkdtemp(d->path) == NULL || (d->l = loader_new(NULL)) == NULL) {
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int ll_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static int ll_teardown(void **state)
{
    ll_dir *d = *state;
    int rc = nftw(d->path, ll_rm, 16, FTW_DEPTH | FTW_PHYS);

    loader_free(d->l);
    free(d);
    return rc;
}

/* The directory most tests use: one plugin under each conventional form, one under
 * a name that follows no convention, and a broken file nothing names. */
static void ll_standard(const ll_dir *d, char *dir, size_t len)
{
    char err[1024];

    ll_subdir(d, "plugins", dir, len);
    ll_put(dir, "good", "spool-tp_good-source.so"); /* source tp_good */
    ll_put(dir, "sink", "tp_sink.so");              /* sink tp_sink, SDK style */
    ll_put(dir, "wide", "odd-name.so");             /* source tp_wide */
    ll_put(dir, "abi2", "zz-broken.so");            /* refused: built for ABI 2 */
    assert_int_equal(loader_index_dir(d->l, dir, err, sizeof err), SPOOL_OK);
}

/* ------------------------------------------------------------------------------- */

static void test_index_loads_nothing(void **state)
{
    ll_dir *d = *state;
    char dir[256];
    loader_stats st;

    ll_standard(d, dir, sizeof dir);
    loader_get_stats(d->l, &st);
    assert_int_equal(st.indexed, 4);
    assert_int_equal(st.opened, 0);
    assert_int_equal(st.plugins, 0);
}

static void test_lookup_loads_only_the_conventional_file(void **state)
{
    ll_dir *d = *state;
    char dir[256], good[512], sink[512], odd[512], broken[512], err[1024] = "x";
    const loader_plugin *lp;
    loader_stats st;

    ll_standard(d, dir, sizeof dir);
    ll_file(good, sizeof good, dir, "spool-tp_good-source.so");
    ll_file(sink, sizeof sink, dir, "tp_sink.so");
    ll_file(odd, sizeof odd, dir, "odd-name.so");
    ll_file(broken, sizeof broken, dir, "zz-broken.so");

    lp = loader_lookup(d->l, "tp_good", SPOOL_KIND_SOURCE, err, sizeof err);
    assert_non_null(lp);
    assert_string_equal(err, "");
    assert_string_equal(lp->path, good);
    loader_get_stats(d->l, &st);
    assert_int_equal(st.opened, 1);
    assert_int_equal(st.loaded, 1);
    assert_int_equal(loader_file_loaded(d->l, good), 1);
    assert_int_equal(loader_file_loaded(d->l, sink), 0);
    assert_int_equal(loader_file_loaded(d->l, odd), 0);
    assert_int_equal(loader_file_loaded(d->l, broken), 0);
    assert_true(ll_mapped(good));
    assert_false(ll_mapped(sink));
    assert_false(ll_mapped(odd));
    assert_false(ll_mapped(broken));

    /* The same lookup again, and NAME.so for a sink: one more file, no more. */
    assert_ptr_equal(loader_find_kind(d->l, "tp_good", SPOOL_KIND_SOURCE), lp);
    lp = loader_find_kind(d->l, "tp_sink", SPOOL_KIND_SINK);
    assert_non_null(lp);
    assert_string_equal(lp->path, sink);
    loader_get_stats(d->l, &st);
    assert_int_equal(st.opened, 2);
    assert_true(ll_mapped(sink));
    assert_false(ll_mapped(odd));
    assert_false(ll_mapped(broken));
    assert_int_equal(st.refused, 0);
}

static void test_unconventional_file_is_still_found(void **state)
{
    ll_dir *d = *state;
    char dir[256], odd[512], err[1024] = "x";
    const loader_plugin *lp;
    loader_stats st;

    ll_standard(d, dir, sizeof dir);
    ll_file(odd, sizeof odd, dir, "odd-name.so");
    lp = loader_lookup(d->l, "tp_wide", SPOOL_KIND_SOURCE, err, sizeof err);
    assert_non_null(lp);
    assert_string_equal(lp->path, odd);
    /* Found in a file of another name: the answer, even though the full scan it took
     * met the broken file (which nothing named). */
    assert_string_equal(err, "");
    loader_get_stats(d->l, &st);
    assert_int_equal(st.opened, 4);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(st.refused, 1);
}

static void test_unknown_name_reports_the_broken_file(void **state)
{
    ll_dir *d = *state;
    char dir[256], broken[512], want[2048], err[1024];

    ll_standard(d, dir, sizeof dir);
    ll_file(broken, sizeof broken, dir, "zz-broken.so");
    snprintf(want, sizeof want,
             "plugin file %s: built for ABI 2, this runtime speaks ABI 1; the plugin is "
             "newer than this runtime: upgrade spool or rebuild the plugin against the "
             "installed spool SDK", broken);
    /* It might have been the one: the refusal is the answer, not "no such plugin". */
    assert_null(loader_lookup(d->l, "nosuch", SPOOL_KIND_SINK, err, sizeof err));
    assert_string_equal(err, want);
    /* Without broken files, an unknown name is NULL with err empty. */
    {
        loader *l2 = loader_new(NULL);
        char dir2[256];
        assert_non_null(l2);
        ll_subdir(d, "clean", dir2, sizeof dir2);
        ll_put(dir2, "good", "spool-tp_good.so");
        assert_int_equal(loader_index_dir(l2, dir2, err, sizeof err), SPOOL_OK);
        assert_null(loader_lookup(l2, "nosuch", SPOOL_KIND_SINK, err, sizeof err));
        assert_string_equal(err, "");
        loader_free(l2);
    }
}

static void test_listing_loads_all_and_reports_the_broken_file(void **state)
{
    ll_dir *d = *state;
    char dir[256], broken[512], want[2048], err[1024];
    loader_stats st;

    ll_standard(d, dir, sizeof dir);
    ll_file(broken, sizeof broken, dir, "zz-broken.so");
    snprintf(want, sizeof want,
             "plugin file %s: built for ABI 2, this runtime speaks ABI 1; the plugin is "
             "newer than this runtime: upgrade spool or rebuild the plugin against the "
             "installed spool SDK", broken);
    /* A lookup of a named plugin does not touch the broken file... */
    assert_non_null(loader_find_kind(d->l, "tp_good", SPOOL_KIND_SOURCE));
    loader_get_stats(d->l, &st);
    assert_int_equal(st.refused, 0);
    /* ...listing loads every file (the broken one left out)... */
    assert_int_equal(loader_count(d->l), 3);
    assert_string_equal(loader_at(d->l, 0)->desc->name, "tp_good");
    loader_get_stats(d->l, &st);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(st.refused, 1);
    /* ...and loader_load_all() reports it, every time it is asked. */
    assert_int_equal(loader_load_all(d->l, err, sizeof err), SPOOL_EABI);
    assert_string_equal(err, want);
    err[0] = '\0';
    assert_int_equal(loader_load_all(d->l, err, sizeof err), SPOOL_EABI);
    assert_string_equal(err, want);
    loader_get_stats(d->l, &st);
    assert_int_equal(st.opened, 4); /* nothing loaded twice */
}

static void test_broken_candidate_fails_the_lookup(void **state)
{
    ll_dir *d = *state;
    char dir[256], bad[512], want[2048], err[1024];

    ll_subdir(d, "plugins", dir, sizeof dir);
    ll_put(dir, "noentry", "spool-tp_good-source.so");
    ll_put(dir, "good", "tp_good-renamed.so");
    assert_int_equal(loader_index_dir(d->l, dir, err, sizeof err), SPOOL_OK);
    ll_file(bad, sizeof bad, dir, "spool-tp_good-source.so");
    snprintf(want, sizeof want,
             "plugin file %s: does not export spool_plugin_entry; define it with "
             "SPOOL_EXPORT from spool/plugin.h so it stays visible under "
             "-fvisibility=hidden", bad);
    assert_null(loader_lookup(d->l, "tp_good", SPOOL_KIND_SOURCE, err, sizeof err));
    assert_string_equal(err, want);
    /* The other file is not loaded to stand in for the broken one. */
    ll_file(bad, sizeof bad, dir, "tp_good-renamed.so");
    assert_int_equal(loader_file_loaded(d->l, bad), 0);
    /* Refused for good: asked again, the same answer without a second dlopen. */
    {
        loader_stats st;
        assert_null(loader_lookup(d->l, "tp_good", SPOOL_KIND_SOURCE, err, sizeof err));
        assert_string_equal(err, want);
        loader_get_stats(d->l, &st);
        assert_int_equal(st.opened, 1);
    }
}

static void test_group_writable_candidate_refused(void **state)
{
    ll_dir *d = *state;
    char dir[256], path[512], want[2048], err[1024];

    ll_subdir(d, "plugins", dir, sizeof dir);
    ll_put(dir, "sink", "spool-tp_sink-sink.so");
    ll_file(path, sizeof path, dir, "spool-tp_sink-sink.so");
    assert_int_equal(chmod(path, 0775), 0);
    assert_int_equal(loader_index_dir(d->l, dir, err, sizeof err), SPOOL_OK);
    snprintf(want, sizeof want,
             "plugin file %s: is writable by group or others (mode 0775); anyone who can "
             "write it can run code in the worker: chmod go-w %s", path, path);
    assert_null(loader_lookup(d->l, "tp_sink", SPOOL_KIND_SINK, err, sizeof err));
    assert_string_equal(err, want);
    assert_false(ll_mapped(path));
}

static void test_duplicate_across_the_search_path(void **state)
{
    ll_dir *d = *state;
    char first[256], second[256], a[512], b[512], want[2048], err[1024];

    /* The same plugin conventionally named in two directories: the first lookup
     * loads both candidates and refuses the later one, as loading all would. */
    ll_subdir(d, "first", first, sizeof first);
    ll_subdir(d, "second", second, sizeof second);
    ll_put(first, "good", "spool-tp_good.so");
    ll_put(second, "dup", "spool-tp_good-source.so");
    assert_int_equal(loader_index_dir(d->l, first, err, sizeof err), SPOOL_OK);
    assert_int_equal(loader_index_dir(d->l, second, err, sizeof err), SPOOL_OK);
    ll_file(a, sizeof a, first, "spool-tp_good.so");
    ll_file(b, sizeof b, second, "spool-tp_good-source.so");
    snprintf(want, sizeof want,
             "plugin file %s: source plugin name \"tp_good\" is already taken by plugin "
             "file %s; remove one of the two files or rename one plugin", b, a);
    assert_null(loader_lookup(d->l, "tp_good", SPOOL_KIND_SOURCE, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_duplicate_under_another_name_found_by_load_all(void **state)
{
    ll_dir *d = *state;
    char dir[256], a[512], b[512], want[2048], err[1024];
    const loader_plugin *lp;

    ll_subdir(d, "plugins", dir, sizeof dir);
    ll_put(dir, "good", "spool-tp_good.so");
    ll_put(dir, "dup", "aaa-copy.so");
    assert_int_equal(loader_index_dir(d->l, dir, err, sizeof err), SPOOL_OK);
    ll_file(a, sizeof a, dir, "spool-tp_good.so");
    ll_file(b, sizeof b, dir, "aaa-copy.so");
    /* Only once both are loaded can the clash be seen: the lookup loads one. */
    lp = loader_find_kind(d->l, "tp_good", SPOOL_KIND_SOURCE);
    assert_non_null(lp);
    assert_string_equal(lp->path, a);
    snprintf(want, sizeof want,
             "plugin file %s: source plugin name \"tp_good\" is already taken by plugin "
             "file %s; remove one of the two files or rename one plugin", b, a);
    assert_int_equal(loader_load_all(d->l, err, sizeof err), SPOOL_EINVAL);
    assert_string_equal(err, want);
    /* The pointer handed out earlier still answers. */
    assert_string_equal(lp->desc->name, "tp_good");
}

static void test_loaded_plugin_costs_no_dlopen(void **state)
{
    ll_dir *d = *state;
    char dir[256];
    loader_stats st;

    ll_standard(d, dir, sizeof dir);
    assert_non_null(loader_find_kind(d->l, "tp_good", SPOOL_KIND_SOURCE));
    /* Of any kind: the candidates are those of every kind, here the one loaded. */
    assert_non_null(loader_find(d->l, "tp_good"));
    assert_non_null(loader_find_kind(d->l, "tp_good", SPOOL_KIND_SOURCE));
    loader_get_stats(d->l, &st);
    assert_int_equal(st.opened, 1);
    assert_int_equal(st.plugins, 1);
}

/* ------------------------------------------------------------------------------- */

typedef struct ll_worker {
    loader *l;
    pthread_barrier_t *start;
    unsigned order;
    const loader_plugin *got[4];
} ll_worker;

static void *ll_lookups(void *arg)
{
    ll_worker *w = arg;
    static const char *const names[] = {"tp_good", "tp_sink", "tp_wide", "nosuch"};
    static const uint32_t kinds[] = {SPOOL_KIND_SOURCE, SPOOL_KIND_SINK,
                                     SPOOL_KIND_SOURCE, SPOOL_KIND_SINK};
    char err[1024];

    pthread_barrier_wait(w->start);
    for (unsigned round = 0; round < 50; round++) {
        for (unsigned k = 0; k < 4; k++) {
            unsigned i = (k + w->order + round) % 4;
            const loader_plugin *lp = loader_lookup(w->l, names[i], kinds[i], err,
                                                    sizeof err);
            if (round == 0)
                w->got[i] = lp;
            else if (lp != w->got[i])
                w->got[i] = (const loader_plugin *)(uintptr_t)1; /* changed: caught below */
            if (lp != NULL)
                (void)strlen(lp->desc->name); /* read what others may be appending */
        }
        if (round % 10 == 0)
            (void)loader_count(w->l);
    }
    return NULL;
}

static void test_concurrent_lookups(void **state)
{
    ll_dir *d = *state;
    char dir[256], err[1024];
    pthread_t t[LL_THREADS];
    ll_worker w[LL_THREADS];
    pthread_barrier_t start;
    loader_stats st;

    ll_subdir(d, "plugins", dir, sizeof dir);
    ll_put(dir, "good", "spool-tp_good-source.so");
    ll_put(dir, "sink", "tp_sink.so");
    ll_put(dir, "wide", "odd-name.so");
    assert_int_equal(loader_index_dir(d->l, dir, err, sizeof err), SPOOL_OK);
    assert_int_equal(pthread_barrier_init(&start, NULL, LL_THREADS), 0);
    for (unsigned i = 0; i < LL_THREADS; i++) {
        w[i] = (ll_worker){.l = d->l, .start = &start, .order = i};
        assert_int_equal(pthread_create(&t[i], NULL, ll_lookups, &w[i]), 0);
    }
    for (unsigned i = 0; i < LL_THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
    /* Every thread got the same, stable answers; each file was loaded once. */
    for (unsigned i = 0; i < LL_THREADS; i++) {
        assert_non_null(w[i].got[0]);
        assert_string_equal(w[i].got[0]->desc->name, "tp_good");
        assert_string_equal(w[i].got[1]->desc->name, "tp_sink");
        assert_string_equal(w[i].got[2]->desc->name, "tp_wide");
        assert_null(w[i].got[3]);
        for (unsigned k = 0; k < 3; k++)
            assert_ptr_equal(w[i].got[k], w[0].got[k]);
    }
    loader_get_stats(d->l, &st);
    assert_int_equal(st.opened, 3);
    assert_int_equal(st.plugins, 3);
}

#define LL_TEST(f) cmocka_unit_test_setup_teardown(f, ll_setup, ll_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LL_TEST(test_index_loads_nothing),
        LL_TEST(test_lookup_loads_only_the_conventional_file),
        LL_TEST(test_unconventional_file_is_still_found),
        LL_TEST(test_unknown_name_reports_the_broken_file),
        LL_TEST(test_listing_loads_all_and_reports_the_broken_file),
        LL_TEST(test_broken_candidate_fails_the_lookup),
        LL_TEST(test_group_writable_candidate_refused),
        LL_TEST(test_duplicate_across_the_search_path),
        LL_TEST(test_duplicate_under_another_name_found_by_load_all),
        LL_TEST(test_loaded_plugin_costs_no_dlopen),
        LL_TEST(test_concurrent_lookups),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

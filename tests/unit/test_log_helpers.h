/* test_log_helpers.h - shared helpers of the log, crc32c and ckpt unit tests.
 *
 * Temporary data directories, a seeded PRNG (the seed is printed and SPOOL_TEST_SEED
 * reruns it), and small file surgery used to simulate torn writes and bit rot.
 */
#ifndef SPOOL_TEST_LOG_HELPERS_H
#define SPOOL_TEST_LOG_HELPERS_H


#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct test_rng {
    uint64_t s;
} test_rng;

/* The run's seed: SPOOL_TEST_SEED when set, else fresh; printed so a failure reruns. */
static inline uint64_t test_seed(const char *who)
{
    const char *env = getenv("SPOOL_TEST_SEED");
    uint64_t seed;

    if (env && *env) {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 32);
    }
    fprintf(stderr, "%s: seed %" PRIu64 " (rerun with SPOOL_TEST_SEED=%" PRIu64 ")\n", who,
            seed, seed);
    return seed;
}

/* splitmix64: tiny, fast, and good enough for test data. */
static inline uint64_t test_rand(test_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t test_below(test_rng *r, uint64_t n)
{
    return n ? test_rand(r) % n : 0;
}

static inline void test_fill(test_rng *r, void *buf, size_t len)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)test_rand(r);
}

/* A fresh directory under $TMPDIR; caller frees and removes it with test_rmdir(). */
static inline char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *path = NULL;

    if (asprintf(&path, "%s/spool-test-XXXXXX", base && *base ? base : "/tmp") < 0)
        abort();
    if (mkdtemp(path) == NULL)
        abort();
    return path;
}

static int test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static inline void test_rmdir(char *path)
{
    if (path == NULL)
        return;
    nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

static inline long long test_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Reads a whole file (malloc'd); *len its size. NULL when unreadable. */
static inline unsigned char *test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;

    *len = 0;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    if (n < 0) {
        fclose(f);
        return NULL;
    }
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static inline void test_spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len)
        abort();
    fclose(f);
}

static inline void test_append(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "ab");
    if (f == NULL || (len && fwrite(buf, 1, len, f) != len))
        abort();
    fclose(f);
}

/* Reads one byte at off, xors it with mask, writes it back. */
static inline void test_flip(const char *path, long long off, unsigned char mask)
{
    int fd = open(path, O_RDWR);
    unsigned char b;
    if (fd < 0 || pread(fd, &b, 1, off) != 1)
        abort();
    b ^= mask;
    if (pwrite(fd, &b, 1, off) != 1)
        abort();
    close(fd);
}

static inline char *test_path(const char *dir, const char *rel)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, rel) < 0)
        abort();
    return p;
}

#endif /* SPOOL_TEST_LOG_HELPERS_H */

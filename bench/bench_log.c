/* bench_log.c - prints the built-in log's append and read rates, and the machine's raw
 * limit (the same bytes written with plain write() and one fdatasync per group).
 *
 * For 100-byte and 1-KiB records, 1, 4 and 16 partitions, and each durability mode, it
 * appends in groups of about GROUP_BYTES (one log_commit per group, records spread
 * round robin over the partitions), then reads every partition back with committed
 * readers (page cache). Finally it writes a 1 GiB log and times a restart (log_open).
 * Then, because a shared disk's speed moves from one second to the next, the batch-mode
 * 1-KiB rows again as PAIRS alternating raw and log, reporting the best of each and
 * the median of the pairs' ratios (the figure to compare with the target).
 * Not a test: it asserts nothing. Run: build/bin/bench_log [DIR] [--paired [N]] (a
 * directory on the filesystem to measure, default the current one; --paired runs only
 * the paired rows, N pairs (default 5), and only P partitions when given: --paired N P,
 * to compare two builds quickly). --sync-probe
 * instead times what one 1-MiB group's fdatasync costs in different file states (see
 * sync_probe). Takes well under a minute.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "spool/plugin.h"

#define GROUP_BYTES (1u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_rf(const char *dir)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", dir);
}

/* The raw limit: total bytes in chunks of group bytes, write() + fdatasync each. */
static double raw_mbps(const char *base, size_t total, size_t group)
{
    char path[4200];
    char *buf = malloc(group);
    int fd;
    double t0, t;

    snprintf(path, sizeof path, "%s/raw", base);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || buf == NULL) {
        perror("raw");
        exit(1);
    }
    memset(buf, 'r', group);
    t0 = now_s();
    for (size_t done = 0; done < total; done += group) {
        size_t n = total - done < group ? total - done : group;
        if (write(fd, buf, n) != (ssize_t)n || fdatasync(fd) != 0) {
            perror("raw write");
            exit(1);
        }
    }
    t = now_s() - t0;
    close(fd);
    unlink(path);
    free(buf);
    return (double)total / t / 1e6;
}

typedef struct result {
    double append_rps, append_mbps, read_rps;
    uint64_t bytes;
} result;

static result run(const char *base, size_t rec, int parts, log_durability d, size_t total)
{
    char dir[4200], err[1024];
    log_store *s = NULL;
    log_topic_config c;
    log_open_opts o = {0};
    result res = {0};
    size_t per_group = GROUP_BYTES / rec, nrec = total / rec;
    char *value = malloc(rec);
    double t0, t;

    snprintf(dir, sizeof dir, "%s/log", base);
    rm_rf(dir);
    memset(value, 'v', rec);
    if (log_open_ex(dir, &o, &s, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    log_topic_config_init(&c);
    c.partitions = parts;
    c.durability = d;
    c.flush_interval_ms = 100;
    if (log_topic_create_ex(s, "b", &c, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    log_txn *txn = log_txn_new();
    log_record r = {.value = value, .value_len = rec, .timestamp_ms = 1700000000000};
    t0 = now_s();
    for (size_t i = 0; i < nrec; i++) {
        if (log_txn_add(txn, "b", (int32_t)(i % (size_t)parts), &r) != SPOOL_OK)
            exit(1);
        if ((i + 1) % per_group == 0 || i + 1 == nrec) {
            if (log_commit(s, txn) != SPOOL_OK) {
                log_last_error(s, err, sizeof err);
                fprintf(stderr, "bench: %s\n", err);
                exit(1);
            }
        }
    }
    t = now_s() - t0;
    log_txn_free(txn);
    for (int p = 0; p < parts; p++) {
        log_segment_info *segs = NULL;
        size_t n = 0;
        log_partition_segments(s, "b", p, &segs, &n);
        for (size_t k = 0; k < n; k++)
            res.bytes += segs[k].bytes;
        free(segs);
    }
    res.append_rps = (double)nrec / t;
    res.append_mbps = (double)res.bytes / t / 1e6;
    /* Committed reads from the page cache, partition after partition. */
    size_t got = 0;
    t0 = now_s();
    for (int p = 0; p < parts; p++) {
        log_reader *rd = NULL;
        log_record rr;
        log_reader_open(s, "b", p, 0, &rd);
        while (log_reader_next(rd, &rr) == 1)
            got++;
        log_reader_close(rd);
    }
    t = now_s() - t0;
    if (got != nrec)
        fprintf(stderr, "bench: read %zu of %zu records\n", got, nrec);
    res.read_rps = (double)got / t;
    log_close(s);
    free(value);
    return res;
}

static void restart(const char *base)
{
    char dir[4200], err[1024];
    log_store *s = NULL;
    log_topic_config c;
    size_t rec = 1024, nrec = (1u << 30) / rec;
    char *value = calloc(1, rec);
    double t0, t;

    snprintf(dir, sizeof dir, "%s/log", base);
    rm_rf(dir);
    log_open(dir, &s, err, sizeof err);
    log_topic_config_init(&c);
    c.durability = LOG_DURABILITY_NONE;
    log_topic_create_ex(s, "big", &c, err, sizeof err);
    log_txn *txn = log_txn_new();
    log_record r = {.value = value, .value_len = rec};
    for (size_t i = 0; i < nrec; i++) {
        log_txn_add(txn, "big", 0, &r);
        if ((i + 1) % 4096 == 0)
            log_commit(s, txn);
    }
    log_commit(s, txn);
    log_txn_free(txn);
    log_close(s);
    t0 = now_s();
    if (log_open(dir, &s, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    t = now_s() - t0;
    log_segment_info *segs = NULL;
    size_t n = 0;
    uint64_t bytes = 0;
    log_partition_segments(s, "big", 0, &segs, &n);
    for (size_t k = 0; k < n; k++)
        bytes += segs[k].bytes;
    free(segs);
    printf("\nrestart (log_open, unclean-safe recovery) with %.2f GiB in %zu segments: "
           "%.3f s\n", (double)bytes / (1 << 30), n, t);
    log_close(s);
    free(value);
    rm_rf(dir);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- --sync-probe: what an fdatasync costs --------------------------------------- */

static int cmp_double(const void *a, const void *b);

#define PROBE_GROUPS 32

typedef struct probe_file {
    int fd;
    off_t pos;
    size_t len;
    const char *buf;
} probe_file;

static void *probe_sync(void *arg)
{
    probe_file *f = arg;
    if (pwrite(f->fd, f->buf, f->len, f->pos) != (ssize_t)f->len || fdatasync(f->fd) != 0) {
        perror("probe");
        exit(1);
    }
    f->pos += (off_t)f->len;
    return NULL;
}

/* Median microseconds per 1-MiB group written to nfiles files (GROUP_BYTES / nfiles
 * each, pwrite + fdatasync, side by side in threads when parallel), then, when journal,
 * 64 bytes written over a zero-filled file and fdatasynced. prep: 0 plain appends,
 * 1 over zeros written and synced before, 2 into fallocate(KEEP_SIZE) space, 3 into
 * fallocate() space that already counts in the size. */
static double probe(const char *base, int nfiles, int parallel, int prep, int journal)
{
    probe_file f[16];
    pthread_t th[16];
    double us[PROBE_GROUPS];
    char path[4300], *buf = malloc(GROUP_BYTES), *zeros = calloc(1, GROUP_BYTES);
    size_t each = GROUP_BYTES / (size_t)nfiles, span = each * PROBE_GROUPS;
    int jfd;

    memset(buf, 'p', GROUP_BYTES);
    snprintf(path, sizeof path, "%s/probe-journal", base);
    jfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (jfd < 0 || pwrite(jfd, zeros, 65536, 0) != 65536 || fsync(jfd) != 0) {
        perror("probe journal");
        exit(1);
    }
    for (int i = 0; i < nfiles; i++) {
        snprintf(path, sizeof path, "%s/probe-%d", base, i);
        f[i] = (probe_file){open(path, O_RDWR | O_CREAT | O_TRUNC, 0644), 0, each, buf};
        if (f[i].fd < 0) {
            perror("probe open");
            exit(1);
        }
        for (size_t done = 0; prep == 1 && done < span; done += each)
            if (pwrite(f[i].fd, zeros, each, (off_t)done) != (ssize_t)each) {
                perror("probe zeros");
                exit(1);
            }
        if ((prep == 2 && fallocate(f[i].fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)span) != 0) ||
            (prep == 3 && fallocate(f[i].fd, 0, 0, (off_t)span) != 0)) {
            perror("probe fallocate");
            exit(1);
        }
        fsync(f[i].fd);
    }
    for (int g = 0; g < PROBE_GROUPS; g++) {
        double t0 = now_s();
        for (int i = 0; i < nfiles; i++) {
            if (parallel && nfiles > 1)
                pthread_create(&th[i], NULL, probe_sync, &f[i]);
            else
                probe_sync(&f[i]);
        }
        for (int i = 0; parallel && nfiles > 1 && i < nfiles; i++)
            pthread_join(th[i], NULL);
        if (journal && (pwrite(jfd, buf, 64, 64 * g) != 64 || fdatasync(jfd) != 0)) {
            perror("probe journal");
            exit(1);
        }
        us[g] = (now_s() - t0) * 1e6;
    }
    for (int i = 0; i < nfiles; i++) {
        close(f[i].fd);
        snprintf(path, sizeof path, "%s/probe-%d", base, i);
        unlink(path);
    }
    close(jfd);
    snprintf(path, sizeof path, "%s/probe-journal", base);
    unlink(path);
    free(buf);
    free(zeros);
    qsort(us, PROBE_GROUPS, sizeof us[0], cmp_double);
    return us[PROBE_GROUPS / 2];
}

static void sync_probe(const char *base)
{
    static const char *preps[] = {"appends (size grows)", "over written zeros",
                                  "into fallocate KEEP_SIZE", "into fallocate (sized)"};
    printf("median us per 1-MiB group, %d groups each, 3 rounds:\n", PROBE_GROUPS);
    for (int round = 0; round < 3; round++) {
        for (int prep = 0; prep < 4; prep++)
            printf("  1 file %-26s %7.0f   + journal append %7.0f\n", preps[prep],
                   probe(base, 1, 0, prep, 0), probe(base, 1, 0, prep, 1));
        for (int n = 4; n <= 16; n *= 4)
            printf("  %2d files appends: in turn %7.0f   side by side %7.0f   over zeros "
                   "side by side %7.0f\n", n, probe(base, n, 0, 0, 0), probe(base, n, 1, 0, 0),
                   probe(base, n, 1, 1, 0));
    }
}

/* batch durability, 1-KiB records: PAIRS rounds of raw then log, per partition count. */
#define MAX_PAIRS 51
static int PAIRS = 5;
static int ONLY_PARTS = 0; /* --paired N P: only P partitions */
static void paired(const char *base)
{
    static const int parts[] = {1, 4, 16};
    printf("\nbatch durability, 1-KiB records, %d alternating pairs (raw, then log):\n", PAIRS);
    printf("%-5s %12s %12s %18s\n", "parts", "best raw", "best log", "median log/raw");
    for (size_t pi = 0; pi < 3; pi++) {
        if (ONLY_PARTS > 0 && parts[pi] != ONLY_PARTS)
            continue;
        double ratio[MAX_PAIRS], best_raw = 0, best_log = 0;
        for (int k = 0; k < PAIRS; k++) {
            double raw = raw_mbps(base, 48u << 20, GROUP_BYTES);
            result r = run(base, 1024, parts[pi], LOG_DURABILITY_BATCH, 48u << 20);
            ratio[k] = r.append_mbps / raw;
            best_raw = raw > best_raw ? raw : best_raw;
            best_log = r.append_mbps > best_log ? r.append_mbps : best_log;
        }
        qsort(ratio, PAIRS, sizeof(ratio[0]), cmp_double);
        printf("%-5d %9.1f MB/s %9.1f MB/s %17.0f%%\n", parts[pi], best_raw, best_log,
               100.0 * ratio[PAIRS / 2]);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    const char *where = argc > 1 ? argv[1] : ".";
    int only_paired = argc > 2 && strcmp(argv[2], "--paired") == 0;
    int only_probe = argc > 2 && strcmp(argv[2], "--sync-probe") == 0;

    if (only_paired && argc > 3)
        PAIRS = atoi(argv[3]) < 1 ? 1 : atoi(argv[3]) > MAX_PAIRS ? MAX_PAIRS : atoi(argv[3]);
    if (only_paired && argc > 4)
        ONLY_PARTS = atoi(argv[4]);
    char base[4096];
    static const size_t sizes[] = {100, 1024};
    static const int parts[] = {1, 4, 16};
    static const log_durability modes[] = {LOG_DURABILITY_BATCH, LOG_DURABILITY_INTERVAL,
                                           LOG_DURABILITY_NONE};

    snprintf(base, sizeof base, "%s/bench-log-XXXXXX", where);
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (only_probe) {
        sync_probe(base);
        rm_rf(base);
        return 0;
    }
    printf("bench_log: groups of %u KiB (one log_commit each), data in %s\n",
           GROUP_BYTES / 1024, base);
    if (!only_paired)
        printf("%-6s %-5s %-9s %12s %9s %9s %7s %14s\n", "record", "parts", "mode", "append rec/s",
           "MB/s", "raw MB/s", "of raw", "read rec/s");
    for (size_t si = 0; si < 2 && !only_paired; si++) {
        size_t total = sizes[si] == 100 ? (48u << 20) : (96u << 20);
        for (size_t pi = 0; pi < 3; pi++) {
            double raw = 0;
            for (size_t mi = 0; mi < 3; mi++) {
                result r = run(base, sizes[si], parts[pi], modes[mi], total);
                if (mi == 0) /* the raw limit for the same bytes, measured right after */
                    raw = raw_mbps(base, (size_t)r.bytes, GROUP_BYTES);
                printf("%-6zu %-5d %-9s %12.0f %9.1f %9.1f %6.0f%% %14.0f\n", sizes[si],
                       parts[pi], log_durability_name(modes[mi]), r.append_rps,
                       r.append_mbps, raw, 100.0 * r.append_mbps / raw, r.read_rps);
                fflush(stdout);
            }
        }
    }
    paired(base);
    if (!only_paired)
        restart(base);
    rm_rf(base);
    return 0;
}

/* bench_ckpt.c - latency of one sink checkpoint save: the median, 90th and 99th
 * percentile over N saves of a two-partition checkpoint with a small position, into
 * DIR/sinks/bench.ckpt (DIR must be on the disk being measured; the build dir will do).
 *
 *     bench_ckpt DIR [N]        (N defaults to 500)
 *
 * "one-shot" is ckpt_save(), which writes a whole new file each time (the daemon's
 * offsets endpoints); "writer" is what a sink task does, one ckpt_writer kept open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ckpt/ckpt.h"
#include "spool/plugin.h"

static double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_report(const char *what, double *us, int n)
{
    qsort(us, (size_t)n, sizeof *us, bench_cmp);
    printf("%-9s %d saves: median %.0f us, p90 %.0f us, p99 %.0f us\n", what, n,
           us[n / 2], us[n * 9 / 10], us[n * 99 / 100]);
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 500;
    double *us;
    char err[512];
    ckpt c = {0}, loaded;
    ckpt_writer *w = NULL;

    if (argc < 2 || n < 1) {
        fprintf(stderr, "usage: bench_ckpt DIR [N]\n");
        return 2;
    }
    us = calloc((size_t)n, sizeof *us);
    if (us == NULL || ckpt_set_position(&c, "file.pos=123456789", 18) != SPOOL_OK)
        return 1;
    for (int i = 0; i < n; i++) {
        double t0;
        ckpt_set(&c, "events", 0, 4096 * (int64_t)i);
        ckpt_set(&c, "events", 1, 4096 * (int64_t)i + 7);
        t0 = bench_now_us();
        if (ckpt_save(argv[1], "bench", &c, err, sizeof err) != SPOOL_OK) {
            fprintf(stderr, "bench_ckpt: %s\n", err);
            return 1;
        }
        us[i] = bench_now_us() - t0;
    }
    bench_report("one-shot", us, n);
    if (ckpt_writer_open(argv[1], "bench", &loaded, &w, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "bench_ckpt: %s\n", err);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        double t0;
        ckpt_set(&c, "events", 0, 4096 * (int64_t)(n + i));
        ckpt_set(&c, "events", 1, 4096 * (int64_t)(n + i) + 7);
        t0 = bench_now_us();
        if (ckpt_writer_save(w, &c, err, sizeof err) != SPOOL_OK) {
            fprintf(stderr, "bench_ckpt: %s\n", err);
            return 1;
        }
        us[i] = bench_now_us() - t0;
    }
    bench_report("writer", us, n);
    ckpt_writer_close(w);
    ckpt_clear(&loaded);
    ckpt_clear(&c);
    free(us);
    return 0;
}

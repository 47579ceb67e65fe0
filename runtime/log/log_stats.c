/* log_stats.c - counters of the log for metrics: commit and fsync latency, group sizes.
 *
 * Updated by committers and the group leader with relaxed atomics (a few adds per
 * commit), read by log_stats_get() from any thread. The snapshot is not one instant:
 * each counter is exact, their sum and count may be one observation apart.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "log/log_int.h"
#include "spool/plugin.h"

const double log_stats_lat_bounds[LOG_STATS_LAT_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
const double log_stats_size_bounds[LOG_STATS_SIZE_BUCKETS] = {
    1, 2, 4, 8, 16, 64, 256, 1024, 4096, 16384};

uint64_t log_stats_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t bucket_of(double v, const double *bounds, size_t n)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

static void observe_ns(_Atomic uint64_t *buckets, _Atomic uint64_t *sum_ns,
                       _Atomic uint64_t *count, uint64_t t0)
{
    uint64_t ns = log_stats_now() - t0;
    size_t b = bucket_of((double)ns / 1e9, log_stats_lat_bounds, LOG_STATS_LAT_BUCKETS);
    atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
}

void log_stats_commit(log_store *s, uint64_t t0)
{
    observe_ns(s->stats.commit, &s->stats.commit_ns, &s->stats.commits, t0);
}

void log_stats_fsync(log_store *s, uint64_t t0)
{
    observe_ns(s->stats.fsync, &s->stats.fsync_ns, &s->stats.fsyncs, t0);
}

void log_stats_group(log_store *s, size_t txns, size_t records)
{
    size_t bt = bucket_of((double)txns, log_stats_size_bounds, LOG_STATS_SIZE_BUCKETS);
    size_t br = bucket_of((double)records, log_stats_size_bounds, LOG_STATS_SIZE_BUCKETS);
    atomic_fetch_add_explicit(&s->stats.group_txns[bt], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->stats.group_records[br], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->stats.groups, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->stats.txns, txns, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->stats.records, records, memory_order_relaxed);
}

static void snap(log_histogram *h, _Atomic uint64_t *buckets, size_t n, double sum,
                 _Atomic uint64_t *count)
{
    for (size_t i = 0; i <= n; i++)
        h->buckets[i] = atomic_load_explicit(&buckets[i], memory_order_relaxed);
    h->sum = sum;
    h->count = atomic_load_explicit(count, memory_order_relaxed);
}

void log_stats_get(log_store *s, log_stats *out)
{
    log_stats_acc *a = &s->stats;
    *out = (log_stats){0};
    snap(&out->commit_seconds, a->commit, LOG_STATS_LAT_BUCKETS,
         (double)atomic_load(&a->commit_ns) / 1e9, &a->commits);
    snap(&out->fsync_seconds, a->fsync, LOG_STATS_LAT_BUCKETS,
         (double)atomic_load(&a->fsync_ns) / 1e9, &a->fsyncs);
    snap(&out->group_txns, a->group_txns, LOG_STATS_SIZE_BUCKETS,
         (double)atomic_load(&a->txns), &a->groups);
    snap(&out->group_records, a->group_records, LOG_STATS_SIZE_BUCKETS,
         (double)atomic_load(&a->records), &a->groups);
}

int64_t log_partition_disk_bytes(log_store *s, const char *topic, int32_t partition)
{
    log_segment_info *segs = NULL;
    size_t n = 0;
    int64_t bytes = 0;
    if (log_partition_segments(s, topic, partition, &segs, &n) != SPOOL_OK)
        return -1;
    for (size_t i = 0; i < n; i++)
        bytes += (int64_t)segs[i].bytes;
    free(segs);
    return bytes;
}

/* metrics.c - GET /metrics: every metric in Prometheus' text exposition format (0.0.4).
 *
 * Families are written whole (HELP, TYPE, then every sample), as the format requires;
 * label values are escaped (backslash, double quote, newline). docs/api.md lists every
 * metric with its meaning. Read under the daemon's read lock: the counters themselves
 * are atomics of the workers and the log, read without stopping anything.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon_int.h"

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped. */
static void lv(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
}

static const char *kind_label(int kind)
{
    return kind == SPOOL_KIND_SOURCE ? "source" : "sink";
}

static void task_labels(FILE *f, const dconn *c, const worker_task_info *ti)
{
    fputs("{connector=\"", f);
    lv(f, c->name);
    fputs("\",task=\"", f);
    fprintf(f, "%d", ti->index);
    fprintf(f, "\",type=\"%s\"", kind_label(c->kind));
}

typedef enum task_metric { TM_RECORDS, TM_BYTES, TM_ERRORS, TM_RETRIES, TM_DLQ, TM_SETASIDE } task_metric;

static void task_family(spool_daemon *d, FILE *f, const char *name, const char *help,
                        task_metric m)
{
    family(f, name, "counter", help);
    for (size_t i = 0; i < d->nconns; i++) {
        dconn *c = d->conns[i];
        for (size_t k = 0; k < daemon_task_count(c); k++) {
            worker_task_info ti;
            worker_task_counts tc;
            unsigned long long v;
            worker_task_get(c->w, k, &ti);
            worker_task_counters(c->w, k, &tc);
            switch (m) {
            case TM_RECORDS: v = ti.records; break;
            case TM_BYTES: v = tc.bytes; break;
            case TM_ERRORS: v = tc.errors; break;
            case TM_RETRIES: v = tc.retries; break;
            case TM_DLQ: v = tc.dead_lettered; break;
            default: v = ti.failed_records; break;
            }
            fputs(name, f);
            task_labels(f, c, &ti);
            if (m == TM_RECORDS || m == TM_BYTES)
                fprintf(f, ",direction=\"%s\"", c->kind == SPOOL_KIND_SOURCE ? "in" : "out");
            fprintf(f, "} %llu\n", v);
        }
    }
}

static void histogram(FILE *f, const char *name, const char *help, const log_histogram *h,
                      const double *bounds, size_t n)
{
    uint64_t cum = 0;
    family(f, name, "histogram", help);
    for (size_t i = 0; i < n; i++) {
        cum += h->buckets[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], cum);
    }
    cum += h->buckets[n];
    fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    fprintf(f, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, h->sum, name, cum);
}

static void process_metrics(spool_daemon *d, FILE *f)
{
    long pages = 0, resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm != NULL) {
        if (fscanf(statm, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(statm);
    }
    family(f, "process_resident_memory_bytes", "gauge", "Resident memory of the worker.");
    fprintf(f, "process_resident_memory_bytes %lld\n",
            (long long)resident * (long long)sysconf(_SC_PAGESIZE));
    family(f, "process_virtual_memory_bytes", "gauge", "Virtual memory of the worker.");
    fprintf(f, "process_virtual_memory_bytes %lld\n",
            (long long)pages * (long long)sysconf(_SC_PAGESIZE));
    long fds = 0;
    DIR *dp = opendir("/proc/self/fd");
    if (dp != NULL) {
        struct dirent *e;
        while ((e = readdir(dp)) != NULL)
            fds += e->d_name[0] != '.';
        closedir(dp);
        fds--; /* the directory's own descriptor */
    }
    family(f, "process_open_fds", "gauge", "Open file descriptors of the worker.");
    fprintf(f, "process_open_fds %ld\n", fds);
    family(f, "process_max_fds", "gauge", "The limit on open file descriptors.");
    fprintf(f, "process_max_fds %ld\n", sysconf(_SC_OPEN_MAX));
    family(f, "process_start_time_seconds", "gauge", "When the worker started, in seconds "
           "since the epoch.");
    fprintf(f, "process_start_time_seconds %.3f\n", (double)d->started_ms / 1000.0);
}

static void topic_metrics(spool_daemon *d, FILE *f)
{
    char **names = NULL;
    size_t n = 0;
    /* builtin only: on kafka the cluster's own metrics cover topics. */
    if (d->log == NULL || log_topic_names(d->log, &names, &n) != SPOOL_OK)
        return;
    family(f, "spool_topic_disk_bytes", "gauge", "Bytes of a topic's committed segments on "
           "disk, all partitions.");
    for (size_t i = 0; i < n; i++) {
        int64_t bytes = 0;
        for (int32_t p = 0; p < log_topic_partitions(d->log, names[i]); p++) {
            int64_t b = log_partition_disk_bytes(d->log, names[i], p);
            bytes += b > 0 ? b : 0;
        }
        fputs("spool_topic_disk_bytes{topic=\"", f);
        lv(f, names[i]);
        fprintf(f, "\"} %" PRId64 "\n", bytes);
    }
    family(f, "spool_topic_partition_end_offset", "gauge", "The committed end offset of a "
           "partition (the offset its next record gets).");
    for (size_t i = 0; i < n; i++)
        for (int32_t p = 0; p < log_topic_partitions(d->log, names[i]); p++) {
            fputs("spool_topic_partition_end_offset{topic=\"", f);
            lv(f, names[i]);
            fprintf(f, "\",partition=\"%" PRId32 "\"} %" PRId64 "\n", p,
                    log_end_offset(d->log, names[i], p));
        }
    log_names_free(names, n);
}

static void lag_metrics(spool_daemon *d, FILE *f)
{
    worker_part_lag parts[256];
    for (int pass = 0; pass < 2; pass++) {
        const char *name = pass ? "spool_sink_consumed_offset" : "spool_sink_lag_records";
        family(f, name, "gauge", pass ? "The next offset a sink task delivers from a "
                                        "partition (its checkpoint)."
                                      : "Records committed to a partition that a sink task "
                                        "has not delivered and checkpointed yet.");
        for (size_t i = 0; i < d->nconns; i++) {
            dconn *c = d->conns[i];
            if (c->kind != SPOOL_KIND_SINK)
                continue;
            for (size_t k = 0; k < daemon_task_count(c); k++) {
                worker_task_info ti;
                worker_task_get(c->w, k, &ti);
                size_t n = worker_task_lag(c->w, k, parts, 256);
                for (size_t j = 0; j < n; j++) {
                    long long v = pass ? parts[j].consumed
                                       : parts[j].end > parts[j].consumed
                                             ? parts[j].end - parts[j].consumed : 0;
                    fputs(name, f);
                    task_labels(f, c, &ti);
                    fputs(",topic=\"", f);
                    lv(f, parts[j].topic);
                    fprintf(f, "\",partition=\"%" PRId32 "\"} %lld\n", parts[j].partition, v);
                }
            }
        }
    }
}

/* The gauges plugins set with host->gauge(): one family per name,
 * spool_plugin_<name>, whose samples are the tasks that set it (labelled with their
 * plugin, since two plugins may use one name). Families stay whole: every name seen is
 * gathered first, then each is written with all its samples. */
static void plugin_gauges(spool_daemon *d, FILE *f)
{
    char (*names)[SPOOL_GAUGE_NAME_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    worker_gauge g[SPOOL_GAUGE_MAX];
    for (size_t i = 0; i < d->nconns; i++)
        for (size_t k = 0; k < daemon_task_count(d->conns[i]); k++) {
            size_t ng = worker_task_gauges(d->conns[i]->w, k, g, SPOOL_GAUGE_MAX);
            for (size_t j = 0; j < ng; j++) {
                size_t x = 0;
                while (x < n && strcmp(names[x], g[j].name) != 0)
                    x++;
                if (x < n)
                    continue;
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    void *p = realloc(names, ncap * sizeof(*names));
                    if (p == NULL) {
                        free(names);
                        return;
                    }
                    names = p;
                    cap = ncap;
                }
                memcpy(names[n++], g[j].name, sizeof(names[0]));
            }
        }
    for (size_t x = 0; x < n; x++) {
        fprintf(f, "# HELP spool_plugin_%s The gauge \"%s\" a connector's plugin sets "
                "(see the plugin's documentation).\n# TYPE spool_plugin_%s gauge\n",
                names[x], names[x], names[x]);
        for (size_t i = 0; i < d->nconns; i++) {
            dconn *c = d->conns[i];
            for (size_t k = 0; k < daemon_task_count(c); k++) {
                size_t ng = worker_task_gauges(c->w, k, g, SPOOL_GAUGE_MAX);
                for (size_t j = 0; j < ng; j++) {
                    if (strcmp(g[j].name, names[x]) != 0)
                        continue;
                    worker_task_info ti;
                    worker_task_get(c->w, k, &ti);
                    fprintf(f, "spool_plugin_%s", names[x]);
                    task_labels(f, c, &ti);
                    fputs(",plugin=\"", f);
                    lv(f, worker_task_plugin(c->w, k));
                    fprintf(f, "\"} %.17g\n", g[j].value);
                }
            }
        }
    }
    free(names);
}

void metrics_write(spool_daemon *d, FILE *f)
{
    static const char *const states[] = {"RUNNING", "PAUSED", "FAILED", "STOPPED",
                                         "UNASSIGNED"};
    log_stats ls;

    family(f, "spool_build_info", "gauge", "The worker's version and plugin ABI.");
    fprintf(f, "spool_build_info{version=\"%s\",abi=\"%d\"} 1\n", SPOOL_VERSION_STRING,
            SPOOL_ABI_VERSION);
    family(f, "spool_worker_ready", "gauge", "1 once the pipelines run and the API listens.");
    fprintf(f, "spool_worker_ready %d\n", atomic_load(&d->ready));
    family(f, "spool_worker_reloads_total", "counter", "Reloads of the pipeline files.");
    fprintf(f, "spool_worker_reloads_total %llu\n", atomic_load(&d->reloads));
    family(f, "spool_worker_reload_failures_total", "counter", "Reloads that refused at "
           "least one pipeline file.");
    fprintf(f, "spool_worker_reload_failures_total %llu\n", atomic_load(&d->reload_failures));

    family(f, "spool_connector_state", "gauge", "1 for the connector's current state.");
    for (size_t i = 0; i < d->nconns; i++) {
        dconn *c = d->conns[i];
        const char *now = daemon_conn_state(c);
        for (size_t s = 0; s < 5; s++) {
            fputs("spool_connector_state{connector=\"", f);
            lv(f, c->name);
            fprintf(f, "\",type=\"%s\",state=\"%s\"} %d\n", kind_label(c->kind), states[s],
                    strcmp(now, states[s]) == 0);
        }
    }
    family(f, "spool_task_state", "gauge", "1 for the task's current state.");
    for (size_t i = 0; i < d->nconns; i++) {
        dconn *c = d->conns[i];
        for (size_t k = 0; k < daemon_task_count(c); k++) {
            worker_task_info ti;
            worker_task_get(c->w, k, &ti);
            int state = c->target == WORKER_PAUSED && ti.state != WORKER_FAILED
                            ? WORKER_PAUSED : ti.state;
            for (int s = 0; s < 5; s++) {
                fputs("spool_task_state", f);
                task_labels(f, c, &ti);
                fprintf(f, ",state=\"%s\"} %d\n", states[s], state == s);
            }
        }
    }
    task_family(d, f, "spool_task_records_total", "Records a source task committed to the "
                "log (direction in) or a sink task delivered (direction out).", TM_RECORDS);
    task_family(d, f, "spool_task_bytes_total", "Bytes of those records (keys, values and "
                "headers).", TM_BYTES);
    task_family(d, f, "spool_task_errors_total", "Records that failed and failures of the "
                "task.", TM_ERRORS);
    task_family(d, f, "spool_task_retries_total", "Transient failures retried with backoff.",
                TM_RETRIES);
    task_family(d, f, "spool_task_dead_lettered_total", "Records written to the connector's "
                "dead-letter topic.", TM_DLQ);
    task_family(d, f, "spool_task_records_set_aside_total", "Records set aside by errors: "
                "{tolerance: all}, dead-lettered or dropped.", TM_SETASIDE);
    lag_metrics(d, f);
    plugin_gauges(d, f);

    if (d->log == NULL) {
        process_metrics(d, f);
        return;
    }
    log_stats_get(d->log, &ls);
    histogram(f, "spool_log_commit_seconds", "Time a commit to the log takes, as a source "
              "waits for it (grouping included).", &ls.commit_seconds, log_stats_lat_bounds,
              LOG_STATS_LAT_BUCKETS);
    histogram(f, "spool_log_fsync_seconds", "Time of each fdatasync of a segment.",
              &ls.fsync_seconds, log_stats_lat_bounds, LOG_STATS_LAT_BUCKETS);
    histogram(f, "spool_log_group_commit_transactions", "Transactions made durable together "
              "by one group commit.", &ls.group_txns, log_stats_size_bounds,
              LOG_STATS_SIZE_BUCKETS);
    histogram(f, "spool_log_group_commit_records", "Records made durable together by one "
              "group commit.", &ls.group_records, log_stats_size_bounds,
              LOG_STATS_SIZE_BUCKETS);
    topic_metrics(d, f);
    process_metrics(d, f);
}

/* bench_sql.c - the SQL sinks against the raw client library, on the same events.
 *
 * For N (default 1,000,000) JSON events of about 200 bytes, it times, in one run:
 *   - the postgres sink plugin (loaded with dlopen, driven through a minimal host:
 *     put() of BATCH records, each batch one transaction with its offsets, then
 *     flush()), against raw libpq: the same rows, already in COPY text, with one COPY
 *     per BATCH rows in its own transaction, into the same server;
 *   - the sqlite sink plugin (synchronous=FULL, WAL), against raw prepared INSERTs of
 *     the same values in one transaction.
 * The sinks parse each JSON record and map its fields; the raw figures start from the
 * values. ROUNDS rounds alternate raw and sink (the machine may be shared); prints
 * each pair, the best of each and the median of the pairs' ratios. Not a test: it
 * asserts nothing.
 *
 *   bench_sql PLUGIN_DIR SQLITE_DIR [N] [BATCH]      (BENCH_PG_DSN: the server)
 *
 * bench/sql.sh starts a private PostgreSQL server and runs it.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool/plugin.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a minimal host ------------------------------------------------------------- */

typedef struct bench_opt { const char *name, *value; } bench_opt;
static const bench_opt *opts;
static const char *list_cols[8];

static void h_log(spool_task *t, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
static void h_set_error(spool_task *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
static const char *h_opt_string(spool_task *t, const char *name)
{
    for (const bench_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->value;
    return "";
}
static int64_t h_opt_int(spool_task *t, const char *name)
{
    return strtoll(h_opt_string(t, name), NULL, 10);
}
static const char *const *h_opt_list(spool_task *t, const char *name, size_t *n)
{
    static const char *const empty[] = {NULL};
    static const char *const keys[] = {"id", NULL};
    if (strcmp(name, "columns") == 0) {
        if (n)
            *n = 7;
        return list_cols;
    }
    if (strcmp(name, "key_columns") == 0) {
        if (n)
            *n = 1;
        return keys;
    }
    if (n)
        *n = 0;
    return empty;
}
static const char *h_task_name(spool_task *t) { return "sink/bench"; }
static int h_stopping(spool_task *t) { return 0; }
static spool_rc h_seek(spool_task *t, const char *topic, int32_t p, int64_t next)
{
    return SPOOL_OK;
}
static spool_rc h_reject(spool_task *t, const spool_record *r, const char *why)
{
    fprintf(stderr, "rejected: %s\n", why);
    return SPOOL_OK;
}

static const spool_host host = {
    .struct_size = sizeof(spool_host), .abi_version = SPOOL_ABI_VERSION,
    .runtime_version = "bench", .log = h_log, .set_error = h_set_error,
    .opt_string = h_opt_string, .opt_int = h_opt_int, .opt_list = h_opt_list,
    .task_name = h_task_name, .stopping = h_stopping, .seek = h_seek, .reject = h_reject,
};

/* ---- the events ---------------------------------------------------------------- */

static char *values;       /* N JSON values back to back */
static size_t *voff;       /* voff[i]..voff[i+1] */
static char *copytext;     /* the same rows in COPY text format */
static size_t *coff;

static void make_events(size_t n)
{
    static const char *const ev[] = {"resource_created", "resource_resized",
                                     "resource_destroyed"};
    values = malloc(n * 256);
    copytext = malloc(n * 256);
    voff = malloc((n + 1) * sizeof(*voff));
    coff = malloc((n + 1) * sizeof(*coff));
    size_t v = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        voff[i] = v;
        coff[i] = c;
        v += (size_t)sprintf(values + v,
                             "{\"id\":%zu,\"event\":\"%s\",\"resource_id\":\"r-%06zu\","
                             "\"owner\":\"user-%05zu\",\"region\":\"eu-west-1\",\"size\":%zu,"
                             "\"note\":\"created by the nightly provisioning run, batch %04zu\"}",
                             i, ev[i % 3], i % 100000, i % 20000, i % 64, i % 1000);
        c += (size_t)sprintf(copytext + c,
                             "%zu\t%s\tr-%06zu\tuser-%05zu\teu-west-1\t%zu\tcreated by the "
                             "nightly provisioning run, batch %04zu\n",
                             i, ev[i % 3], i % 100000, i % 20000, i % 64, i % 1000);
    }
    voff[n] = v;
    coff[n] = c;
}

/* ---- the plugin runs --------------------------------------------------------------- */

static double run_plugin(const char *so, const bench_opt *o, size_t n, size_t batch)
{
    void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "bench: %s\n", dlerror());
        exit(1);
    }
    spool_plugin_entry_fn *entry = (spool_plugin_entry_fn *)dlsym(dl, SPOOL_PLUGIN_ENTRY_SYMBOL);
    const spool_plugin *p = entry(&host);
    void *state = NULL;
    opts = o;
    if (p->open(NULL, &state) != SPOOL_OK) {
        fprintf(stderr, "bench: %s open failed\n", so);
        exit(1);
    }
    spool_record *recs = calloc(batch, sizeof(*recs));
    const spool_record **ptrs = calloc(batch, sizeof(*ptrs));
    double t0 = now_s();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        for (size_t j = 0; j < k; j++) {
            recs[j] = (spool_record){.struct_size = sizeof(spool_record),
                                     .value = values + voff[i + j],
                                     .value_len = voff[i + j + 1] - voff[i + j],
                                     .topic = "events", .partition = (int32_t)((i + j) % 4),
                                     .offset = (int64_t)((i + j) / 4)};
            ptrs[j] = &recs[j];
        }
        spool_rc rc;
        while ((rc = p->put(NULL, state, ptrs, k)) == SPOOL_RETRY)
            usleep(1000);
        if (rc != SPOOL_OK || p->flush(NULL, state) != SPOOL_OK) {
            fprintf(stderr, "bench: put failed: %s\n", spool_rc_name(rc));
            exit(1);
        }
    }
    double dt = now_s() - t0;
    p->close(NULL, state);
    free(recs);
    free(ptrs);
    return (double)n / dt;
}

static void pg_do(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

static const char *pg_ddl =
    "DROP TABLE IF EXISTS bench_raw, bench_sink, spool_offsets; "
    "CREATE TABLE bench_raw (id bigint, event text, resource_id text, owner text, region text,"
    " size bigint, note text); CREATE TABLE bench_sink (LIKE bench_raw)";

static double raw_pg(const char *dsn, size_t n, size_t batch)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench: %s", PQerrorMessage(c));
        exit(1);
    }
    double t0 = now_s();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        pg_do(c, "BEGIN");
        PGresult *r = PQexec(c, "COPY bench_raw FROM STDIN");
        PQclear(r);
        PQputCopyData(c, copytext + coff[i], (int)(coff[i + k] - coff[i]));
        PQputCopyEnd(c, NULL);
        while ((r = PQgetResult(c)) != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "bench: COPY: %s", PQerrorMessage(c));
                exit(1);
            }
            PQclear(r);
        }
        pg_do(c, "COMMIT");
    }
    double dt = now_s() - t0;
    PQfinish(c);
    return (double)n / dt;
}

static double raw_sqlite(const char *path, size_t n)
{
    static const char *const ev[] = {"resource_created", "resource_resized",
                                     "resource_destroyed"};
    sqlite3 *db;
    sqlite3_stmt *st;
    char rid[16], owner[16], note[64];
    char wal[4200];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(path);
    unlink(wal);
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE bench "
                     "(id INTEGER, event TEXT, resource_id TEXT, owner TEXT, region TEXT, "
                     "size INTEGER, note TEXT)", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO bench VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
    double t0 = now_s();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        /* the values, as the raw program would hold them */
        snprintf(rid, sizeof(rid), "r-%06zu", i % 100000);
        snprintf(owner, sizeof(owner), "user-%05zu", i % 20000);
        snprintf(note, sizeof(note), "created by the nightly provisioning run, batch %04zu",
                 i % 1000);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        sqlite3_bind_text(st, 2, ev[i % 3], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, "eu-west-1", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)(i % 64));
        sqlite3_bind_text(st, 7, note, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "bench: %s\n", sqlite3_errmsg(db));
            exit(1);
        }
        sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    double dt = now_s() - t0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return (double)n / dt;
}

#define ROUNDS 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp_double);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_sql PLUGIN_DIR SQLITE_DIR [N] [BATCH]\n");
        return 2;
    }
    const char *dir = argv[1], *sdir = argv[2];
    size_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
    size_t batch = argc > 4 ? strtoull(argv[4], NULL, 10) : 4096;
    const char *dsn = getenv("BENCH_PG_DSN");
    char so[4096], path[4096], path2[4096];
    list_cols[0] = "id:bigint";
    list_cols[1] = "event";
    list_cols[2] = "resource_id";
    list_cols[3] = "owner";
    list_cols[4] = "region";
    list_cols[5] = "size:bigint";
    list_cols[6] = "note";
    make_events(n);
    printf("%zu events, %.0f bytes of JSON each on average, batches of %zu\n", n,
           (double)voff[n] / (double)n, batch);

    /* ROUNDS rounds, raw and sink alternating, each into emptied tables after a
     * checkpoint: the best of each, so neither side pays for the other's leftovers. */
    if (dsn != NULL && *dsn) {
        PGconn *c = PQconnectdb(dsn);
        pg_do(c, "SET client_min_messages = warning");
        pg_do(c, pg_ddl);
        const bench_opt po[] = {{"dsn", dsn}, {"table", "bench_sink"}, {"schema", ""},
                                {"json_column", ""}, {"mode", "0"}, {"create_table", "0"},
                                {"offsets_table", "spool_offsets"}, {NULL, NULL}};
        snprintf(so, sizeof(so), "%s/spool-postgres-sink.so", dir);
        double raw = 0, ours = 0, ratios[ROUNDS];
        for (int round = 0; round < ROUNDS; round++) {
            pg_do(c, "TRUNCATE bench_raw; CHECKPOINT");
            double x = raw_pg(dsn, n, batch);
            pg_do(c, "TRUNCATE bench_sink; DROP TABLE IF EXISTS spool_offsets; CHECKPOINT");
            double y = run_plugin(so, po, n, batch);
            printf("  round %d: raw libpq COPY %9.0f rows/s, postgres sink %9.0f rows/s\n",
                   round + 1, x, y);
            raw = x > raw ? x : raw;
            ours = y > ours ? y : ours;
            ratios[round] = y / x;
        }
        PQfinish(c);
        printf("postgres: raw libpq COPY %9.0f rows/s   postgres sink %9.0f rows/s   "
               "ratio of bests %.2f, median ratio of pairs %.2f\n", raw, ours, ours / raw,
               median(ratios));
    } else {
        printf("postgres: skipped (set BENCH_PG_DSN)\n");
    }

    snprintf(path, sizeof(path), "%s/raw.db", sdir);
    snprintf(path2, sizeof(path2), "%s/sink.db", sdir);
    const bench_opt so_[] = {{"path", path2}, {"table", "bench"}, {"json_column", ""},
                             {"mode", "0"}, {"create_table", "1"},
                             {"offsets_table", "spool_offsets"}, {"synchronous", "0"},
                             {"busy_timeout", "5000"}, {NULL, NULL}};
    snprintf(so, sizeof(so), "%s/spool-sqlite-sink.so", dir);
    double raw = 0, ours = 0, ratios[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        double x = raw_sqlite(path, n);
        unlink(path2);
        char wal[4200];
        snprintf(wal, sizeof(wal), "%s-wal", path2);
        unlink(wal);
        double y = run_plugin(so, so_, n, batch);
        printf("  round %d: raw INSERTs %9.0f rows/s, sqlite sink %9.0f rows/s\n", round + 1,
               x, y);
        raw = x > raw ? x : raw;
        ours = y > ours ? y : ours;
        ratios[round] = y / x;
    }
    printf("sqlite:   raw INSERTs, 1 txn %9.0f rows/s   sqlite sink   %9.0f rows/s   "
           "ratio of bests %.2f, median ratio of pairs %.2f\n", raw, ours, ours / raw,
           median(ratios));
    return 0;
}

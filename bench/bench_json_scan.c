/* bench_json_scan.c - runtime/json's json_scan() against the frozen reference scanner
 * (tests/unit/json_scan_ref.c) on the flagship's event shape, one thread.
 *
 *   bench_json_scan [RUNS [EVENTS [ref|new]]]     (defaults 9 and 20000)
 *
 * With ref or new, only that scanner runs (for perf record); nothing is compared.
 *
 * The events are the generator's (connectors/generator): ~220-byte flat objects with
 * strings, integers and a decimal price. The plans are those of the hot paths: the
 * key field (`key: resource_id`) and the filter's field (`event`), each prepared per
 * record and answered by json_scan_text() as transform_field_fast() does; the
 * warehouse's 10 columns and billing's 7 (connectors/common/sql_scan.c, one prepared
 * plan); a nested object; and a webhook body of an array of 100 events, whose key
 * field no path can reach (validated, nothing found).
 *
 * Each run scans every record once with the reference and once with the new scanner,
 * the two alternating, as the machine is shared and noisy. Printed per plan: the median
 * and the best of RUNS in records/s and MB/s for both, and the ratio of the medians.
 * Not a test: it prints figures (docs/performance.md, "json_scan"). It does check that
 * both scanners return the same answers, and exits 1 when they do not.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_scan.h"
#include "json_scan_ref.h"

typedef struct corpus {
    char *buf;          /* the records, back to back */
    size_t *off, *len;  /* record i is buf[off[i] .. off[i] + len[i]) */
    size_t n, bytes, cap;
} corpus;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static void add(corpus *c, const char *rec, size_t n)
{
    if (c->bytes + n > c->cap) {
        c->cap = (c->bytes + n) * 2;
        c->buf = realloc(c->buf, c->cap);
    }
    c->off = realloc(c->off, (c->n + 1) * sizeof(*c->off));
    c->len = realloc(c->len, (c->n + 1) * sizeof(*c->len));
    if (c->buf == NULL || c->off == NULL || c->len == NULL) {
        fprintf(stderr, "bench_json_scan: out of memory\n");
        exit(2);
    }
    memcpy(c->buf + c->bytes, rec, n);
    c->off[c->n] = c->bytes;
    c->len[c->n++] = n;
    c->bytes += n;
}

/* Event i as connectors/generator writes it. */
static int event(int64_t i, char *buf, size_t cap)
{
    static const char *const events[] = {"resource_created", "resource_resized",
                                         "resource_started", "resource_stopped",
                                         "resource_destroyed"};
    static const char *const regions[] = {"eu-west-1", "eu-central-1", "us-east-1",
                                          "us-west-2", "ap-southeast-1", "ap-northeast-1"};
    static const int sizes[] = {1, 2, 4, 8, 16, 32, 64};
    uint64_t r = mix64((uint64_t)i);
    int size = sizes[r % 7];
    int64_t price = (int64_t)size * 12500 + (int64_t)((r >> 8) % 1000);
    int64_t ts = INT64_C(1767225600000) + i * 10, created = ts - (int64_t)((r >> 20) % 100000);
    return snprintf(buf, cap,
                    "{\"event_id\":\"%016" PRIx64 "-%" PRId64 "\",\"seq\":%" PRId64
                    ",\"event\":\"%s\",\"resource_id\":\"res-%" PRIu64 "-%" PRIu64
                    "\",\"user_id\":\"user-%" PRIu64 "\",\"region\":\"%s\",\"size\":%d,"
                    "\"price\":%" PRId64 ".%06" PRId64 ",\"created_at\":%" PRId64
                    ",\"ts\":%" PRId64 "}",
                    mix64(42), i, i, events[(r >> 30) % 5], (r >> 34) % 10000, (r >> 50) % 8,
                    (r >> 40) % 5000, regions[(r >> 45) % 6], size, price / 1000000,
                    price % 1000000, created, ts);
}

/* A nested shape: the event with its resource and user as objects, and tags. */
static int nested(int64_t i, char *buf, size_t cap)
{
    uint64_t r = mix64((uint64_t)i + 7);
    return snprintf(buf, cap,
                    "{\"event_id\":\"%016" PRIx64 "-%" PRId64 "\",\"event\":\"resource_"
                    "resized\",\"resource\":{\"id\":\"res-%" PRIu64 "\",\"region\":"
                    "\"eu-west-1\",\"spec\":{\"size\":%d,\"price\":%" PRIu64 ".25,"
                    "\"tags\":[\"a\",\"b\",{\"k\":\"v\"}]}},\"user\":{\"id\":\"user-%" PRIu64
                    "\",\"name\":\"Zo\\u00eb \\\"Z\\\"\",\"plan\":\"pro\"},\"ok\":true,"
                    "\"note\":null,\"ts\":%" PRId64 "}",
                    mix64(1), i, r % 10000, (int)(r >> 40) % 64, (r >> 20) % 1000,
                    (r >> 30) % 5000, INT64_C(1767225600000) + i);
}

typedef struct plan_case {
    const char *name;
    const corpus *c;
    const char *paths[JSON_SCAN_MAX_PATHS];
    size_t n;
    int per_record;     /* prepared per record and asked through json_scan_text() */
} plan_case;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink; /* keeps the compiler from dropping the scans */

/* One pass over the corpus; returns seconds. */
static double pass(const plan_case *pc, int ref)
{
    const corpus *c = pc->c;
    json_token toks[JSON_SCAN_MAX_PATHS];
    size_t acc = 0;
    double t0 = now();
    if (pc->per_record) {
        for (size_t i = 0; i < c->n; i++) {
            const char *text = NULL;
            size_t tn = 0;
            int rc;
            if (ref) {
                json_scan_ref_plan plan;
                json_scan_ref_prepare(&plan, pc->paths, 1);
                rc = json_scan_ref_text(&plan, c->buf + c->off[i], c->len[i], &text, &tn);
            } else {
                json_scan_plan plan;
                json_scan_prepare(&plan, pc->paths, 1);
                rc = json_scan_text(&plan, c->buf + c->off[i], c->len[i], &text, &tn);
            }
            acc += (size_t)rc + tn;
        }
    } else {
        json_scan_ref_plan rplan;
        json_scan_plan plan;
        json_scan_ref_prepare(&rplan, pc->paths, pc->n);
        json_scan_prepare(&plan, pc->paths, pc->n);
        for (size_t i = 0; i < c->n; i++) {
            unsigned flags = 0;
            const char *why;
            size_t at;
            int rc = ref ? json_scan_ref(&rplan, c->buf + c->off[i], c->len[i], toks, &flags,
                                         &why, &at)
                         : json_scan(&plan, c->buf + c->off[i], c->len[i], toks, &flags,
                                     &why, &at);
            acc += (size_t)rc + flags + toks[0].len + toks[pc->n - 1].len;
        }
    }
    double t = now() - t0;
    sink += acc;
    return t;
}

/* Both scanners give the same answer on every record of the case. */
static int agree(const plan_case *pc)
{
    const corpus *c = pc->c;
    json_scan_ref_plan rplan;
    json_scan_plan plan;
    json_scan_ref_prepare(&rplan, pc->paths, pc->n);
    json_scan_prepare(&plan, pc->paths, pc->n);
    for (size_t i = 0; i < c->n; i++) {
        json_token a[JSON_SCAN_MAX_PATHS], b[JSON_SCAN_MAX_PATHS];
        unsigned fa = 0, fb = 0;
        const char *wa = NULL, *wb = NULL;
        size_t ata = 0, atb = 0;
        const char *rec = c->buf + c->off[i];
        int ra = json_scan_ref(&rplan, rec, c->len[i], a, &fa, &wa, &ata);
        int rb = json_scan(&plan, rec, c->len[i], b, &fb, &wb, &atb);
        int same = ra == rb && fa == fb && (ra == 0 || (strcmp(wa, wb) == 0 && ata == atb));
        for (size_t k = 0; same && ra == 0 && k < pc->n; k++)
            same = a[k].type == b[k].type && a[k].p == b[k].p && a[k].len == b[k].len &&
                   a[k].escaped == b[k].escaped;
        if (!same) {
            fprintf(stderr, "bench_json_scan: %s: the scanners disagree on record %zu: %.*s\n",
                    pc->name, i, (int)c->len[i], rec);
            return 0;
        }
    }
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 9;
    long events = argc > 2 ? atol(argv[2]) : 20000;
    const char *only = argc > 3 ? argv[3] : NULL;
    corpus flat = {0}, deep = {0}, bodies = {0};
    char rec[1024];

    if (runs < 1 || events < 100) {
        fprintf(stderr, "usage: bench_json_scan [RUNS [EVENTS]] (RUNS >= 1, EVENTS >= 100)\n");
        return 2;
    }
    for (long i = 0; i < events; i++)
        add(&flat, rec, (size_t)event(i, rec, sizeof(rec)));
    for (long i = 0; i < events; i++)
        add(&deep, rec, (size_t)nested(i, rec, sizeof(rec)));
    /* Webhook bodies: arrays of 100 events, events / 100 of them. */
    for (long b = 0; b < events / 100; b++) {
        char *body = malloc(100 * sizeof(rec));
        size_t n = 0;
        if (body == NULL)
            return 2;
        body[n++] = '[';
        for (long i = 0; i < 100; i++) {
            if (i > 0)
                body[n++] = ',';
            n += (size_t)event(b * 100 + i, body + n, sizeof(rec));
        }
        body[n++] = ']';
        add(&bodies, body, n);
        free(body);
    }

    plan_case cases[] = {
        {"key resource_id", &flat, {"resource_id"}, 1, 1},
        {"filter event", &flat, {"event"}, 1, 1},
        {"warehouse 10 cols", &flat,
         {"event_id", "seq", "event", "resource_id", "user_id", "region", "size", "price",
          "created_at", "ts"}, 10, 0},
        {"billing 7 cols", &flat,
         {"event_id", "event", "resource_id", "user_id", "size", "price", "ts"}, 7, 0},
        {"nested 5 paths", &deep,
         {"event", "resource.id", "resource.spec.price", "user.id", "ts"}, 5, 0},
        {"array of 100", &bodies, {"resource_id"}, 1, 0},
    };
    size_t ncases = sizeof(cases) / sizeof(cases[0]);
    double *tr = calloc((size_t)runs, sizeof(double)), *tn = calloc((size_t)runs, sizeof(double));

    printf("json_scan: %d runs, %zu flat events (%.0f bytes each), %zu nested, %zu bodies "
           "of 100\n", runs, flat.n, (double)flat.bytes / (double)flat.n, deep.n, bodies.n);
    printf("%-18s %12s %12s %9s %9s %12s %12s %7s\n", "plan", "ref rec/s", "new rec/s",
           "ref MB/s", "new MB/s", "ref best", "new best", "new/ref");
    for (size_t k = 0; k < ncases; k++) {
        const plan_case *pc = &cases[k];
        if (only != NULL) {
            int ref = strcmp(only, "ref") == 0;
            for (int r = 0; r < runs; r++)
                tr[r] = pass(pc, ref);
            qsort(tr, (size_t)runs, sizeof(double), cmp_double);
            printf("%-18s %s %12.0f rec/s median %12.0f best\n", pc->name, only,
                   (double)pc->c->n / tr[runs / 2], (double)pc->c->n / tr[0]);
            continue;
        }
        if (!agree(pc))
            return 1;
        pass(pc, 1); /* warm both */
        pass(pc, 0);
        for (int r = 0; r < runs; r++) {
            if (r % 2 == 0) {
                tr[r] = pass(pc, 1);
                tn[r] = pass(pc, 0);
            } else {
                tn[r] = pass(pc, 0);
                tr[r] = pass(pc, 1);
            }
        }
        qsort(tr, (size_t)runs, sizeof(double), cmp_double);
        qsort(tn, (size_t)runs, sizeof(double), cmp_double);
        double mr = tr[runs / 2], mn = tn[runs / 2], n = (double)pc->c->n;
        double mb = (double)pc->c->bytes / 1e6;
        printf("%-18s %12.0f %12.0f %9.1f %9.1f %12.0f %12.0f %6.2fx\n", pc->name, n / mr,
               n / mn, mb / mr, mb / mn, n / tr[0], n / tn[0], mr / mn);
    }
    free(tr);
    free(tn);
    free(flat.buf), free(flat.off), free(flat.len);
    free(deep.buf), free(deep.off), free(deep.len);
    free(bodies.buf), free(bodies.off), free(bodies.len);
    return 0;
}

/* generator.c - the generator source: synthetic resource lifecycle events.
 *
 * Usage:
 *
 *     sources:
 *       fake-cloud:
 *         connector: generator
 *         topic: resource-events
 *         config: {count: 1000000, rate: 5000, seed: 42}
 *
 * Event i is a pure function of (seed, i): every random choice comes from a
 * counter-based generator, splitmix64(seed ^ mix(i, stream)), never from state carried
 * from one event to the next. The source position is therefore just the index of the
 * next event, a restart regenerates exactly the events that were not committed, and the
 * same seed gives a byte-identical stream on any machine.
 *
 * The events tell consistent stories. The `resources` slots are visited once per round
 * in a seed-dependent order; a resource lives for LIFE rounds (created, three updates,
 * destroyed) and its slot then hosts the next generation. The owner, region and
 * creation time of a resource follow from (seed, slot, generation), so they are the same
 * in all the resource's events. Timestamps are start + i * time_step: deterministic, not
 * the wall clock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spool/plugin.h"

#define LIFE 5 /* events in a resource's life: created, 3 updates, destroyed */

static const spool_host *host;

static const spool_option generator_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "count", .default_value = "0",
     .min = 0, .max = INT64_MAX, .doc = "Events to generate in all; 0: no end."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "rate", .default_value = "0",
     .min = 0, .max = 100000000, .doc = "Events per second at most; 0: as fast as possible."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "seed", .default_value = "1",
     .doc = "Seed of the stream: the same seed gives the same events, byte for byte."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "users", .default_value = "100",
     .min = 1, .max = 1000000000, .doc = "Number of distinct user ids."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "resources", .default_value = "1000",
     .min = 1, .max = 1000000000, .doc = "Number of resources alive at any time."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "malformed", .default_value = "0",
     .doc = "Fraction of records, from 0 to 1, that are deliberately broken JSON."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "start_ms",
     .default_value = "1767225600000", .min = 0, .max = INT64_MAX,
     .doc = "Timestamp of event 0, in ms since the epoch (default 2026-01-01T00:00:00Z)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "time_step",
     .default_value = "100ms", .min = 0, .max = INT64_MAX,
     .doc = "Event time between two consecutive events."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch", .default_value = "4096",
     .min = 1, .max = 1000000,
     .doc = "Events emitted per poll at most: each poll is one log commit (one fdatasync group)."},
    {.name = NULL},
};

typedef struct generator {
    int64_t next, count, rate, users, resources, start_ms, step_ms, batch;
    uint64_t seed, perm_a, perm_b; /* slot order: (a * k + b) mod resources */
    uint64_t seed_mix;             /* mix64(seed): the stream's part of every event id */
    uint64_t malformed;            /* threshold on a 64-bit draw; 0: none */
    int64_t t0_ms, base;           /* rate limiting: events since t0 */
} generator;

/* splitmix64's finaliser: a bijection of 64-bit integers that mixes well. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The draw number `stream` for counter n: independent streams from one seed. */
static uint64_t draw(const generator *g, uint64_t n, uint64_t stream)
{
    return mix64(g->seed ^ mix64(n * 0x100000001b3ULL + stream));
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static spool_rc gen_open(spool_task *t, void **state)
{
    generator *g = calloc(1, sizeof(*g));
    const void *pos = NULL;
    size_t len = 0;
    if (g == NULL)
        return SPOOL_ENOMEM;
    *state = g;
    g->count = host->opt_int(t, "count");
    g->rate = host->opt_int(t, "rate");
    g->seed = (uint64_t)host->opt_int(t, "seed");
    g->users = host->opt_int(t, "users");
    g->resources = host->opt_int(t, "resources");
    g->start_ms = host->opt_int(t, "start_ms");
    g->step_ms = host->opt_int(t, "time_step");
    g->batch = host->opt_int(t, "batch");

    const char *m = host->opt_string(t, "malformed");
    char *end = NULL;
    double frac = m != NULL ? strtod(m, &end) : 0.0;
    if (m != NULL && (end == m || *end != '\0' || !(frac >= 0.0 && frac <= 1.0))) {
        host->set_error(t, "malformed must be a number from 0 to 1, not \"%s\"", m);
        return SPOOL_EINVAL;
    }
    g->malformed = frac >= 1.0 ? UINT64_MAX : (uint64_t)(frac * 18446744073709551616.0);

    /* A multiplier coprime with the slot count makes the visiting order a permutation. */
    uint64_t k = (uint64_t)g->resources;
    g->perm_a = k > 1 ? mix64(g->seed ^ 0xa11ce) % k : 1;
    while (k > 1 && (g->perm_a == 0 || gcd64(g->perm_a, k) != 1))
        g->perm_a = (g->perm_a + 1) % k;
    g->perm_b = mix64(g->seed ^ 0xb0b) % k;
    g->seed_mix = mix64(g->seed);

    host->source_position(t, &pos, &len);
    if (len > 0) {
        char text[24];
        if (len >= sizeof(text)) {
            host->set_error(t, "stored position is not an event index (%zu bytes)", len);
            return SPOOL_EINVAL;
        }
        memcpy(text, pos, len);
        text[len] = '\0';
        g->next = strtoll(text, &end, 10);
        if (*end != '\0' || g->next < 0) {
            host->set_error(t, "stored position \"%s\" is not an event index", text);
            return SPOOL_EINVAL;
        }
    }
    g->t0_ms = mono_ms();
    g->base = g->next;
    return SPOOL_OK;
}

/* Text without printf: the generator is the app in the flagship benchmark, and
 * vfprintf was a fifth of the worker's CPU there. Each put_ writes at o and returns
 * the end. */
#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static char *put_str(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

static char *put_u64(char *o, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *o++ = tmp[--n];
    return o;
}

static char *put_i64(char *o, int64_t v)
{
    if (v >= 0)
        return put_u64(o, (uint64_t)v);
    *o++ = '-';
    return put_u64(o, 0 - (uint64_t)v);
}

/* v as 16 lowercase hex digits, zero-padded (printf's %016x). */
static char *put_hex16(char *o, uint64_t v)
{
    for (int i = 15; i >= 0; i--, v >>= 4)
        o[i] = "0123456789abcdef"[v & 15];
    return o + 16;
}

/* v in [0, 10^6) as 6 digits, zero-padded (printf's %06d). */
static char *put_frac6(char *o, uint64_t v)
{
    for (int i = 5; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + 6;
}

/* The longest event: 16 + 2 * 20 + 18 + 45 + 25 + 14 + 2 + 27 + 2 * 20 digits and
 * names, 123 bytes of field names and punctuation: 350 bytes. */
#define GEN_VALUE_MAX 512
#define GEN_KEY_MAX 48 /* "res-" + 20 digits + "-" + 20 digits + NUL */

/* Writes event i into buf[GEN_VALUE_MAX] (NUL-terminated); sets its key in
 * key[GEN_KEY_MAX]. Returns the value's length. */
static int gen_event(const generator *g, int64_t i, char *buf, char *key, int *keyed)
{
    static const char *const updates[] = {"resource_resized", "resource_started",
                                          "resource_stopped"};
    static const char *const regions[] = {"eu-west-1", "eu-central-1", "us-east-1",
                                          "us-west-2", "ap-southeast-1", "ap-northeast-1"};
    static const int sizes[] = {1, 2, 4, 8, 16, 32, 64};
    uint64_t k = (uint64_t)g->resources, u = (uint64_t)i;
    uint64_t round = u / k, slot = (g->perm_a * (u % k) + g->perm_b) % k;
    uint64_t gen = round / LIFE, step = round % LIFE;
    uint64_t life = gen * k + slot; /* names one resource's whole life */
    const char *event = step == 0          ? "resource_created"
                        : step == LIFE - 1 ? "resource_destroyed"
                                           : updates[draw(g, u, 1) % 3];
    uint64_t user = draw(g, life, 2) % (uint64_t)g->users;
    const char *region = regions[draw(g, life, 3) % (sizeof(regions) / sizeof(regions[0]))];
    int size = step == 0 ? sizes[draw(g, life, 4) % 7] : sizes[draw(g, u, 5) % 7];
    int64_t ts = g->start_ms + i * g->step_ms;
    int64_t created = g->start_ms + (int64_t)(u - step * k) * g->step_ms;
    /* Prices in micro-units per hour, so the text needs no floating point. */
    uint64_t price = (uint64_t)size * 12500 + draw(g, life, 6) % 1000;

    char *o = PUT_LIT(key, "res-");
    o = put_u64(o, slot);
    *o++ = '-';
    o = put_u64(o, gen);
    *o = '\0';
    *keyed = 1;
    o = PUT_LIT(buf, "{\"event_id\":\"");
    o = put_hex16(o, g->seed_mix);
    *o++ = '-';
    o = put_i64(o, i);
    o = PUT_LIT(o, "\",\"seq\":");
    o = put_i64(o, i);
    o = PUT_LIT(o, ",\"event\":\"");
    o = put_str(o, event);
    o = PUT_LIT(o, "\",\"resource_id\":\"");
    o = put_str(o, key);
    o = PUT_LIT(o, "\",\"user_id\":\"user-");
    o = put_u64(o, user);
    o = PUT_LIT(o, "\",\"region\":\"");
    o = put_str(o, region);
    o = PUT_LIT(o, "\",\"size\":");
    o = put_u64(o, (uint64_t)size);
    o = PUT_LIT(o, ",\"price\":");
    o = put_u64(o, price / 1000000);
    *o++ = '.';
    o = put_frac6(o, price % 1000000);
    o = PUT_LIT(o, ",\"created_at\":");
    o = put_i64(o, created);
    o = PUT_LIT(o, ",\"ts\":");
    o = put_i64(o, ts);
    *o++ = '}';
    *o = '\0';
    int n = (int)(o - buf);
    if (g->malformed != 0 && (g->malformed == UINT64_MAX || draw(g, u, 7) < g->malformed)) {
        /* Broken on purpose: cut before the closing brace, at a point that still shows
         * the event id, so a dead-letter test can name the record. */
        n = n - 1 - (int)(draw(g, u, 8) % 20);
        buf[n] = '\0';
        *keyed = 0;
    }
    return n;
}

static spool_rc gen_poll(spool_task *t, void *state, int timeout_ms)
{
    generator *g = state;
    int64_t limit = g->batch;
    if (g->count > 0 && g->next >= g->count)
        return SPOOL_DONE;
    if (g->rate > 0) {
        int64_t elapsed = mono_ms() - g->t0_ms;
        int64_t allowed = g->base + elapsed * g->rate / 1000 + 1 - g->next;
        if (allowed <= 0) {
            /* Sleep until the next event is due, within the poll's budget. */
            int64_t due = (g->next - g->base) * 1000 / g->rate - elapsed;
            if (due > timeout_ms)
                due = timeout_ms;
            if (due > 0) {
                struct timespec ts = {due / 1000, (long)(due % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
            return SPOOL_OK;
        }
        if (allowed < limit)
            limit = allowed;
    }
    for (int64_t n = 0; n < limit && (g->count == 0 || g->next < g->count); n++) {
        char value[GEN_VALUE_MAX], key[GEN_KEY_MAX], pos[24];
        int keyed;
        int len = gen_event(g, g->next, value, key, &keyed);
        int plen = (int)(put_i64(pos, g->next + 1) - pos);
        spool_record rec = {.struct_size = sizeof(rec), .value = value,
                            .value_len = (size_t)len, .partition = -1,
                            .timestamp_ms = g->start_ms + g->next * g->step_ms};
        if (keyed) {
            rec.key = key;
            rec.key_len = strlen(key);
        }
        spool_rc rc = host->emit(t, &rec, pos, (size_t)plen);
        if (rc != SPOOL_OK)
            return rc;
        g->next++;
    }
    return g->count > 0 && g->next >= g->count ? SPOOL_DONE : SPOOL_OK;
}

static void gen_close(spool_task *t, void *state)
{
    free(state);
}

static const spool_plugin generator_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "generator", .version = SPOOL_VERSION_STRING,
    .description = "Synthetic resource lifecycle events, reproducible from a seed.",
    .kind = SPOOL_KIND_SOURCE, .options = generator_options,
    .open = gen_open, .close = gen_close, .poll = gen_poll,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &generator_plugin;
}

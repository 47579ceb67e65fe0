/* kit.c - the plugin test kit: a host of its own that runs one plugin task in a test.
 *
 * The kit shares exactly two things with the runtime, compiled in from the same
 * sources: the loader (so a plugin is loaded and checked as `spool run` would, with the
 * same refusals) and the unit parsers behind it (so "64KiB" means the same here as in a
 * pipeline file). Everything else, the host table above all, is this file's own: it
 * keeps one task's state in plain memory and does between callbacks what the worker
 * does (commit, checkpoint), but only when the test asks, so that a test can stop at
 * any point and crash there.
 *
 * Every host function checks the phase its contract names, as worker/host.c does, and
 * counts a call in the wrong phase as a violation instead of only returning an error,
 * because a plugin that ignores the error would otherwise pass its tests.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/loader.h"
#include "spool/kit.h"

#define KIT_SECRET_MIN 4        /* shorter secrets would match ordinary text */

enum kit_phase { KIT_IDLE, KIT_IN_OPEN, KIT_IN_POLL, KIT_IN_COMMIT, KIT_IN_PUT,
                 KIT_IN_FLUSH, KIT_IN_TRANSFORM, KIT_IN_CLOSE };

/* One declared option: what the test set, and what open() resolved. */
typedef struct kit_value {
    char *set_text;             /* spool_kit_set(); NULL: not set */
    char **set_list;            /* spool_kit_set_list(); NULL-terminated */
    size_t set_list_len;
    int is_set;
    const char *text;           /* resolved: set_text or the default; NULL: none */
    char **list;                /* resolved LIST: NULL-terminated, owned */
    size_t list_len;
    int64_t number;
} kit_value;

/* The next offset of one topic partition. */
typedef struct kit_offset {
    char *topic;
    int32_t partition;
    int64_t next;
} kit_offset;

typedef struct kit_offsets {
    kit_offset *v;
    size_t n, cap;
} kit_offsets;

typedef struct kit_bytes {
    void *data;
    size_t len;
    int set;
} kit_bytes;

struct spool_task {
    spool_kit *kit;
};

struct spool_kit {
    struct spool_task task;     /* what the plugin sees as its spool_task */
    loader *loader;
    const loader_plugin *lp;
    const spool_plugin *d;
    kit_value *values;          /* one per declared option */
    char name[160];             /* "kit/NAME" */
    void *state;
    int open;
    enum kit_phase phase;
    atomic_int stop;
    char error[1024];

    /* Sources and transforms. */
    spool_record **recs;        /* committed, then pending */
    size_t nrecs, caprecs, ncommitted;
    kit_bytes pending_pos, pos;

    /* Sinks. */
    kit_offsets live, ckpt, seeks;
    kit_bytes sink_pos, new_pos;
    const spool_record *const *cur_put;
    size_t cur_put_n;
    int64_t *rej_offsets;
    char **rej_reasons;
    size_t nrej, caprej;

    /* Gauges set with host->gauge(): the last value of each name. */
    char gauge_names[SPOOL_GAUGE_MAX][SPOOL_GAUGE_NAME_MAX + 1];
    double gauge_values[SPOOL_GAUGE_MAX];
    size_t ngauges;

    /* What the plugin said. */
    pthread_mutex_t log_lock;
    char **log;
    size_t nlog, caplog;
    atomic_size_t violations;
    int verbose;
};

static const spool_host kit_host;

/* ---- Small helpers ------------------------------------------------------------------- */

static int kit_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*p, ncap * size);
    if (n == NULL)
        return -1;
    *p = n;
    *cap = ncap;
    return 0;
}

static int bytes_set(kit_bytes *b, const void *data, size_t len)
{
    void *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return -1;
    if (len > 0)
        memcpy(copy, data, len);
    free(b->data);
    b->data = copy;
    b->len = len;
    b->set = 1;
    return 0;
}

static void bytes_clear(kit_bytes *b)
{
    free(b->data);
    *b = (kit_bytes){0};
}

static kit_offset *offsets_find(const kit_offsets *o, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].partition == partition && strcmp(o->v[i].topic, topic) == 0)
            return &o->v[i];
    return NULL;
}

static int offsets_set(kit_offsets *o, const char *topic, int32_t partition, int64_t next)
{
    kit_offset *e = offsets_find(o, topic, partition);
    if (e == NULL) {
        if (kit_grow((void **)&o->v, &o->cap, o->n + 1, sizeof(*o->v)) != 0)
            return -1;
        e = &o->v[o->n];
        if ((e->topic = strdup(topic)) == NULL)
            return -1;
        e->partition = partition;
        o->n++;
    }
    e->next = next;
    return 0;
}

static void offsets_clear(kit_offsets *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].topic);
    o->n = 0;
}

static int offsets_copy(kit_offsets *dst, const kit_offsets *src)
{
    offsets_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (offsets_set(dst, src->v[i].topic, src->v[i].partition, src->v[i].next) != 0)
            return -1;
    return 0;
}

/* ---- The kit's log and its contract checks ------------------------------------------- */

static void kit_note(spool_kit *k, const char *level, const char *text)
{
    size_t n = strlen(level) + strlen(text) + 2;
    char *line = malloc(n);
    if (line == NULL)
        return;
    snprintf(line, n, "%s %s", level, text);
    if (k->verbose)
        fprintf(stderr, "[%s] %s\n", k->name, line);
    pthread_mutex_lock(&k->log_lock);
    if (kit_grow((void **)&k->log, &k->caplog, k->nlog + 1, sizeof(*k->log)) == 0)
        k->log[k->nlog++] = line;
    else
        free(line);
    pthread_mutex_unlock(&k->log_lock);
}

static void kit_violation(spool_kit *k, const char *fmt, ...) SPOOL_PRINTF(2, 3);
static void kit_violation(spool_kit *k, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    atomic_fetch_add(&k->violations, 1);
    kit_note(k, "KIT", text);
}

/* The kit's own failure: the reason goes where spool_kit_error() finds it. */
static int kit_fail(spool_kit *k, int rc, const char *fmt, ...) SPOOL_PRINTF(3, 4);
static int kit_fail(spool_kit *k, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->error, sizeof(k->error), fmt, ap);
    va_end(ap);
    return rc;
}

/* A secret option's value must never appear in what the plugin prints. */
static void kit_check_secrets(spool_kit *k, const char *where, const char *text)
{
    for (size_t i = 0; i < k->lp->option_count; i++) {
        const spool_option *o = k->lp->options[i];
        const char *v = k->values[i].text;
        if ((o->flags & SPOOL_OPT_SECRET) && v != NULL &&
            strlen(v) >= KIT_SECRET_MIN && strstr(text, v) != NULL)
            kit_violation(k, "the value of secret option \"%s\" appears in %s", o->name,
                          where);
    }
}

/* ---- The host table ---------------------------------------------------------------- */

static void host_log(spool_task *t, int level, const char *fmt, ...)
{
    static const char *const names[] = {"INFO", "ERROR", "WARN", "INFO", "DEBUG"};
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (t == NULL) {
        fprintf(stderr, "[spool kit] %s\n", text);
        return;
    }
    kit_check_secrets(t->kit, "a log line", text);
    kit_note(t->kit, names[level >= 1 && level <= 4 ? level : 0], text);
}

static void host_set_error(spool_task *t, const char *fmt, ...)
{
    va_list ap;
    if (t == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(t->kit->error, sizeof(t->kit->error), fmt, ap);
    va_end(ap);
    kit_check_secrets(t->kit, "an error text", t->kit->error);
}

static kit_value *host_value(spool_task *t, const char *name, const char *fn)
{
    spool_kit *k = t->kit;
    for (size_t i = 0; i < k->lp->option_count; i++)
        if (strcmp(k->lp->options[i]->name, name) == 0)
            return &k->values[i];
    kit_violation(k, "%s(\"%s\"): the plugin declares no option named so", fn, name);
    return NULL;
}

static const char *host_opt_string(spool_task *t, const char *name)
{
    kit_value *v = t != NULL && name != NULL ? host_value(t, name, "opt_string") : NULL;
    return v != NULL ? v->text : NULL;
}

static int64_t host_opt_int(spool_task *t, const char *name)
{
    kit_value *v = t != NULL && name != NULL ? host_value(t, name, "opt_int") : NULL;
    return v != NULL ? v->number : 0;
}

static const char *const *host_opt_list(spool_task *t, const char *name, size_t *n)
{
    static const char *const empty[] = {NULL};
    kit_value *v = t != NULL && name != NULL ? host_value(t, name, "opt_list") : NULL;
    if (v == NULL || v->list == NULL) {
        if (n != NULL)
            *n = 0;
        return empty;
    }
    if (n != NULL)
        *n = v->list_len;
    return (const char *const *)v->list;
}

static const char *host_task_name(spool_task *t)
{
    return t != NULL ? t->kit->name : "";
}

static int host_stopping(spool_task *t)
{
    return t != NULL && atomic_load(&t->kit->stop);
}

/* The bytes a record counts against SPOOL_RECORD_MAX_BYTES. */
static size_t record_bytes(const spool_record *r)
{
    size_t n = r->key_len + r->value_len;
    for (size_t i = 0; i < r->header_count; i++)
        n += strlen(r->headers[i].key) + r->headers[i].value_len;
    return n;
}

/* A copy of r in one allocation, as the runtime copies what emit() hands it. */
static spool_record *record_copy(const spool_record *r)
{
    size_t size = sizeof(spool_record) + r->key_len + r->value_len + 2 +
                  r->header_count * sizeof(spool_header) + (r->topic ? strlen(r->topic) : 0) + 1;
    for (size_t i = 0; i < r->header_count; i++)
        size += strlen(r->headers[i].key) + 1 + r->headers[i].value_len;
    spool_record *c = calloc(1, size);
    if (c == NULL)
        return NULL;
    spool_header *h = (spool_header *)(c + 1);
    char *p = (char *)(h + r->header_count);
    *c = *r;
    c->struct_size = sizeof(spool_record);
    if (r->key != NULL) {
        memcpy(p, r->key, r->key_len);
        c->key = p;
    }
    p += r->key_len + 1;
    if (r->value != NULL) {
        memcpy(p, r->value, r->value_len);
        c->value = p;
    }
    p += r->value_len + 1;
    for (size_t i = 0; i < r->header_count; i++) {
        size_t kl = strlen(r->headers[i].key) + 1;
        memcpy(p, r->headers[i].key, kl);
        h[i].key = p;
        p += kl;
        memcpy(p, r->headers[i].value, r->headers[i].value_len);
        h[i].value = p;
        h[i].value_len = r->headers[i].value_len;
        p += r->headers[i].value_len;
    }
    c->headers = r->header_count > 0 ? h : NULL;
    if (r->topic != NULL) {
        strcpy(p, r->topic);
        c->topic = p;
    }
    return c;
}

static spool_rc host_emit(spool_task *t, const spool_record *rec, const void *position,
                          size_t position_len)
{
    if (t == NULL)
        return SPOOL_EINVAL;
    spool_kit *k = t->kit;
    if (k->phase != KIT_IN_POLL && k->phase != KIT_IN_TRANSFORM) {
        kit_violation(k, "emit() called outside poll() and transform()");
        return SPOOL_EINVAL;
    }
    if (rec == NULL || rec->struct_size < offsetof(spool_record, offset) + sizeof(rec->offset)) {
        kit_violation(k, "emit() of a record without struct_size = sizeof(spool_record)");
        return SPOOL_EINVAL;
    }
    size_t bytes = record_bytes(rec);
    if (bytes > SPOOL_RECORD_MAX_BYTES) {
        kit_violation(k, "emit() of a record of %zu bytes, over SPOOL_RECORD_MAX_BYTES "
                      "(%u): spool FAILS the connector", bytes, SPOOL_RECORD_MAX_BYTES);
        return SPOOL_EINVAL;
    }
    if (atomic_load(&k->stop))
        return SPOOL_ESTOP;
    spool_record *c = record_copy(rec);
    if (c == NULL ||
        kit_grow((void **)&k->recs, &k->caprecs, k->nrecs + 1, sizeof(*k->recs)) != 0) {
        free(c);
        return SPOOL_ENOMEM;
    }
    if (position != NULL && k->phase == KIT_IN_POLL &&
        bytes_set(&k->pending_pos, position, position_len) != 0) {
        free(c);
        return SPOOL_ENOMEM;
    }
    k->recs[k->nrecs++] = c;
    return SPOOL_OK;
}

static spool_rc host_source_position(spool_task *t, const void **position, size_t *len)
{
    *position = NULL;
    *len = 0;
    if (t == NULL || t->kit->d->kind != SPOOL_KIND_SOURCE) {
        if (t != NULL)
            kit_violation(t->kit, "source_position() called by a plugin that is not a source");
        return SPOOL_EINVAL;
    }
    *position = t->kit->pos.data;
    *len = t->kit->pos.len;
    return SPOOL_OK;
}

static spool_rc host_sink_position(spool_task *t, const void **position, size_t *len)
{
    *position = NULL;
    *len = 0;
    if (t == NULL || t->kit->d->kind != SPOOL_KIND_SINK) {
        if (t != NULL)
            kit_violation(t->kit, "sink_position() called by a plugin that is not a sink");
        return SPOOL_EINVAL;
    }
    *position = t->kit->sink_pos.data;
    *len = t->kit->sink_pos.len;
    return SPOOL_OK;
}

static spool_rc host_set_sink_position(spool_task *t, const void *position, size_t len)
{
    if (t == NULL)
        return SPOOL_EINVAL;
    spool_kit *k = t->kit;
    if (k->phase != KIT_IN_FLUSH || k->d->delivery != SPOOL_DELIVERY_RESUMABLE) {
        kit_violation(k, "set_sink_position() called %s",
                      k->d->delivery != SPOOL_DELIVERY_RESUMABLE
                          ? "by a sink that is not SPOOL_DELIVERY_RESUMABLE"
                          : "outside flush()");
        return SPOOL_EINVAL;
    }
    return bytes_set(&k->new_pos, position, len) == 0 ? SPOOL_OK : SPOOL_ENOMEM;
}

static spool_rc host_seek(spool_task *t, const char *topic, int32_t partition,
                          int64_t next_offset)
{
    if (t == NULL)
        return SPOOL_EINVAL;
    spool_kit *k = t->kit;
    if (k->phase != KIT_IN_OPEN || k->d->delivery != SPOOL_DELIVERY_TRANSACTIONAL ||
        topic == NULL || partition < 0 || next_offset < 0) {
        kit_violation(k, "seek(%s, %d, %lld) called %s", topic ? topic : "NULL",
                      (int)partition, (long long)next_offset,
                      k->d->delivery != SPOOL_DELIVERY_TRANSACTIONAL
                          ? "by a sink that is not SPOOL_DELIVERY_TRANSACTIONAL"
                      : k->phase != KIT_IN_OPEN ? "outside open()"
                                                : "with a NULL topic or a negative number");
        return SPOOL_EINVAL;
    }
    return offsets_set(&k->seeks, topic, partition, next_offset) == 0 ? SPOOL_OK
                                                                       : SPOOL_ENOMEM;
}

static spool_rc host_reject(spool_task *t, const spool_record *rec, const char *reason)
{
    if (t == NULL)
        return SPOOL_EINVAL;
    spool_kit *k = t->kit;
    int in_put = k->phase == KIT_IN_PUT;
    int in_flush = k->phase == KIT_IN_FLUSH && k->d->delivery != SPOOL_DELIVERY_TRANSACTIONAL;
    int known = 0;
    for (size_t i = 0; in_put && i < k->cur_put_n; i++)
        known |= k->cur_put[i] == rec;
    if (rec == NULL || !(in_put || in_flush) || (in_put && !known)) {
        kit_violation(k, "reject() called %s", rec == NULL ? "with a NULL record"
                      : !(in_put || in_flush) ? "outside put() (or flush() of a sink that is "
                                                "not transactional)"
                                              : "with a record that is not one of this put()'s");
        return SPOOL_EINVAL;
    }
    if (kit_grow((void **)&k->rej_offsets, &k->caprej, k->nrej + 1, sizeof(int64_t)) != 0)
        return SPOOL_ENOMEM;
    size_t cap = k->caprej;
    char **reasons = realloc(k->rej_reasons, cap * sizeof(*reasons));
    if (reasons == NULL)
        return SPOOL_ENOMEM;
    k->rej_reasons = reasons;
    if ((k->rej_reasons[k->nrej] = strdup(reason ? reason : "rejected by the sink")) == NULL)
        return SPOOL_ENOMEM;
    k->rej_offsets[k->nrej++] = rec->offset;
    return SPOOL_OK;
}

static spool_rc host_gauge(spool_task *t, const char *name, double value)
{
    char why[512];
    if (t == NULL)
        return SPOOL_EINVAL;
    spool_kit *k = t->kit;
    size_t i = 0;
    int bad = loader_check_gauge(name, value, why, sizeof(why));
    while (!bad && i < k->ngauges && strcmp(k->gauge_names[i], name) != 0)
        i++;
    if (!bad && i == SPOOL_GAUGE_MAX) {
        snprintf(why, sizeof(why), "gauge \"%s\": the task has %d gauges already, the "
                 "most a task may set; publish fewer distinct names", name, SPOOL_GAUGE_MAX);
        bad = 1;
    }
    if (!bad && k->phase == KIT_IDLE) {
        snprintf(why, sizeof(why), "gauge \"%s\" set outside the task's callbacks", name);
        bad = 1;
    }
    if (bad) {
        kit_violation(k, "%s", why);
        snprintf(k->error, sizeof(k->error), "%s", why);
        return SPOOL_EINVAL;
    }
    if (i == k->ngauges)
        snprintf(k->gauge_names[k->ngauges++], sizeof(k->gauge_names[0]), "%s", name);
    k->gauge_values[i] = value;
    return SPOOL_OK;
}

static const spool_host kit_host = {
    .struct_size = sizeof(spool_host),
    .abi_version = SPOOL_ABI_VERSION,
    .runtime_version = SPOOL_VERSION_STRING,
    .log = host_log,
    .set_error = host_set_error,
    .opt_string = host_opt_string,
    .opt_int = host_opt_int,
    .opt_list = host_opt_list,
    .task_name = host_task_name,
    .stopping = host_stopping,
    .emit = host_emit,
    .source_position = host_source_position,
    .sink_position = host_sink_position,
    .set_sink_position = host_set_sink_position,
    .seek = host_seek,
    .reject = host_reject,
    .gauge = host_gauge,
};

/* ---- Creating a kit ----------------------------------------------------------------- */

static spool_kit *kit_create(spool_plugin_entry_fn *entry, const char *path, char *err,
                             size_t errlen)
{
    spool_kit *k = calloc(1, sizeof(*k));
    if (k == NULL || (k->loader = loader_new(&kit_host)) == NULL) {
        snprintf(err, errlen, "spool kit: out of memory");
        free(k);
        return NULL;
    }
    pthread_mutex_init(&k->log_lock, NULL);
    k->task.kit = k;
    const char *verbose = getenv("SPOOL_KIT_VERBOSE");
    k->verbose = verbose != NULL && *verbose != '\0' && strcmp(verbose, "0") != 0;
    int rc = entry != NULL ? loader_add_builtin(k->loader, entry, err, errlen)
                           : loader_load_file(k->loader, path, err, errlen);
    if (rc != SPOOL_OK) {
        spool_kit_free(k);
        return NULL;
    }
    k->lp = loader_at(k->loader, 0);
    k->d = k->lp->desc;
    snprintf(k->name, sizeof(k->name), "kit/%s", k->d->name);
    k->values = calloc(k->lp->option_count + 1, sizeof(*k->values));
    if (k->values == NULL) {
        snprintf(err, errlen, "spool kit: out of memory");
        spool_kit_free(k);
        return NULL;
    }
    return k;
}

SPOOL_EXPORT spool_kit *spool_kit_new(spool_plugin_entry_fn *entry, char *err, size_t errlen)
{
    if (entry == NULL) {
        snprintf(err, errlen, "spool kit: spool_kit_new() needs the plugin's entry function");
        return NULL;
    }
    return kit_create(entry, NULL, err, errlen);
}

SPOOL_EXPORT spool_kit *spool_kit_load(const char *path, char *err, size_t errlen)
{
    if (path == NULL) {
        snprintf(err, errlen, "spool kit: spool_kit_load() needs a plugin file");
        return NULL;
    }
    return kit_create(NULL, path, err, errlen);
}

static void value_resolved_clear(kit_value *v)
{
    for (size_t i = 0; v->list != NULL && i < v->list_len; i++)
        free(v->list[i]);
    free(v->list);
    v->list = NULL;
    v->list_len = 0;
    v->text = NULL;
    v->number = 0;
}

static void value_set_clear(kit_value *v)
{
    free(v->set_text);
    for (size_t i = 0; v->set_list != NULL && i < v->set_list_len; i++)
        free(v->set_list[i]);
    free(v->set_list);
    v->set_text = NULL;
    v->set_list = NULL;
    v->set_list_len = 0;
    v->is_set = 0;
}

static void records_drop_from(spool_kit *k, size_t from)
{
    for (size_t i = from; i < k->nrecs; i++)
        free(k->recs[i]);
    k->nrecs = from;
    if (k->ncommitted > from)
        k->ncommitted = from;
}

SPOOL_EXPORT void spool_kit_free(spool_kit *k)
{
    if (k == NULL)
        return;
    spool_kit_close(k);
    for (size_t i = 0; k->values != NULL && i < k->lp->option_count; i++) {
        value_resolved_clear(&k->values[i]);
        value_set_clear(&k->values[i]);
    }
    free(k->values);
    records_drop_from(k, 0);
    free(k->recs);
    bytes_clear(&k->pending_pos);
    bytes_clear(&k->pos);
    bytes_clear(&k->sink_pos);
    bytes_clear(&k->new_pos);
    offsets_clear(&k->live);
    offsets_clear(&k->ckpt);
    offsets_clear(&k->seeks);
    free(k->live.v);
    free(k->ckpt.v);
    free(k->seeks.v);
    for (size_t i = 0; i < k->nrej; i++)
        free(k->rej_reasons[i]);
    free(k->rej_reasons);
    free(k->rej_offsets);
    for (size_t i = 0; i < k->nlog; i++)
        free(k->log[i]);
    free(k->log);
    pthread_mutex_destroy(&k->log_lock);
    loader_free(k->loader);
    free(k);
}

SPOOL_EXPORT const spool_plugin *spool_kit_plugin(const spool_kit *k)
{
    return k->d;
}

SPOOL_EXPORT const char *spool_kit_error(const spool_kit *k)
{
    return k->error;
}

/* ---- Options ------------------------------------------------------------------------ */

static int option_index(const spool_kit *k, const char *name)
{
    for (size_t i = 0; name != NULL && i < k->lp->option_count; i++)
        if (strcmp(k->lp->options[i]->name, name) == 0)
            return (int)i;
    return -1;
}

SPOOL_EXPORT const spool_option *spool_kit_option(const spool_kit *k, const char *name)
{
    int i = option_index(k, name);
    return i < 0 ? NULL : k->lp->options[i];
}

SPOOL_EXPORT size_t spool_kit_option_count(const spool_kit *k)
{
    return k->lp->option_count;
}

SPOOL_EXPORT const spool_option *spool_kit_option_at(const spool_kit *k, size_t i)
{
    return i < k->lp->option_count ? k->lp->options[i] : NULL;
}

/* The index of the option the test names, or -1 with the reason set. */
static int kit_settable(spool_kit *k, const char *name)
{
    int i = option_index(k, name);
    if (k->open)
        return kit_fail(k, -1, "spool kit: options are set before spool_kit_open(), not "
                               "while the task is open (option \"%s\")", name ? name : "");
    if (i < 0)
        return kit_fail(k, -1, "spool kit: plugin \"%s\" declares no option \"%s\"",
                        k->d->name, name ? name : "(null)");
    return i;
}

SPOOL_EXPORT int spool_kit_set(spool_kit *k, const char *name, const char *value)
{
    char why[512];
    int64_t number;
    int i = kit_settable(k, name);
    if (i < 0)
        return SPOOL_EINVAL;
    const spool_option *o = k->lp->options[i];
    if (value == NULL)
        return kit_fail(k, SPOOL_EINVAL, "spool kit: option \"%s\": no value", name);
    if (o->type == SPOOL_OPT_LIST)
        return spool_kit_set_list(k, name, &value, 1);
    if (loader_parse_option_value(o, value, &number, why, sizeof(why)) != SPOOL_OK)
        return kit_fail(k, SPOOL_EINVAL, "spool kit: option \"%s\": %s", name, why);
    char *copy = strdup(value);
    if (copy == NULL)
        return SPOOL_ENOMEM;
    value_set_clear(&k->values[i]);
    k->values[i].set_text = copy;
    k->values[i].is_set = 1;
    return SPOOL_OK;
}

SPOOL_EXPORT int spool_kit_set_list(spool_kit *k, const char *name, const char *const *items,
                                    size_t n)
{
    int i = kit_settable(k, name);
    if (i < 0)
        return SPOOL_EINVAL;
    if (k->lp->options[i]->type != SPOOL_OPT_LIST)
        return kit_fail(k, SPOOL_EINVAL, "spool kit: option \"%s\" is not a LIST; use "
                                         "spool_kit_set()", name);
    char **list = calloc(n + 1, sizeof(*list));
    if (list == NULL)
        return SPOOL_ENOMEM;
    for (size_t j = 0; j < n; j++)
        if (items[j] == NULL || (list[j] = strdup(items[j])) == NULL) {
            for (size_t m = 0; m < j; m++)
                free(list[m]);
            free(list);
            return items[j] == NULL ? kit_fail(k, SPOOL_EINVAL, "spool kit: option \"%s\": "
                                               "item %zu is NULL", name, j)
                                    : SPOOL_ENOMEM;
        }
    value_set_clear(&k->values[i]);
    k->values[i].set_list = list;
    k->values[i].set_list_len = n;
    k->values[i].is_set = 1;
    return SPOOL_OK;
}

SPOOL_EXPORT int spool_kit_unset(spool_kit *k, const char *name)
{
    int i = kit_settable(k, name);
    if (i < 0)
        return SPOOL_EINVAL;
    value_set_clear(&k->values[i]);
    return SPOOL_OK;
}

/* A LIST default as the pipeline reads it: "[a, b]" or one scalar. Quotes around an
 * item are removed; the kit reads no other YAML. */
static int list_parse_default(const char *s, kit_value *v)
{
    size_t n = 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    int flow = *p == '[';
    char *buf = strdup(flow ? p + 1 : p);
    if (buf == NULL)
        return -1;
    if (flow) {
        char *end = strrchr(buf, ']');
        if (end != NULL)
            *end = '\0';
    }
    v->list = calloc(strlen(buf) + 2, sizeof(*v->list));
    if (v->list == NULL) {
        free(buf);
        return -1;
    }
    for (char *save = NULL, *item = flow ? strtok_r(buf, ",", &save) : buf; item != NULL;
         item = flow ? strtok_r(NULL, ",", &save) : NULL) {
        while (*item == ' ')
            item++;
        size_t len = strlen(item);
        while (len > 0 && item[len - 1] == ' ')
            item[--len] = '\0';
        if (len >= 2 && (item[0] == '"' || item[0] == '\'') && item[len - 1] == item[0]) {
            item[len - 1] = '\0';
            item++;
        }
        if (*item == '\0' && flow)
            continue;
        if ((v->list[n] = strdup(item)) == NULL) {
            free(buf);
            return -1;
        }
        n++;
    }
    v->list_len = n;
    free(buf);
    return 0;
}

/* Resolves every option as the pipeline loader would: the value set, else the
 * default; required options must be set. */
static int kit_resolve_options(spool_kit *k)
{
    char why[512];
    for (size_t i = 0; i < k->lp->option_count; i++) {
        const spool_option *o = k->lp->options[i];
        kit_value *v = &k->values[i];
        value_resolved_clear(v);
        if (!v->is_set && (o->flags & SPOOL_OPT_REQUIRED))
            return kit_fail(k, SPOOL_EINVAL, "spool kit: option \"%s\" is required: set it "
                                             "with spool_kit_set() before spool_kit_open()",
                            o->name);
        if (o->type == SPOOL_OPT_LIST) {
            if (v->is_set) {
                v->list = calloc(v->set_list_len + 1, sizeof(*v->list));
                if (v->list == NULL)
                    return SPOOL_ENOMEM;
                for (size_t j = 0; j < v->set_list_len; j++)
                    if ((v->list[j] = strdup(v->set_list[j])) == NULL)
                        return SPOOL_ENOMEM;
                v->list_len = v->set_list_len;
            } else if (o->default_value != NULL && list_parse_default(o->default_value, v) != 0) {
                return SPOOL_ENOMEM;
            }
            continue;
        }
        v->text = v->is_set ? v->set_text : o->default_value;
        if (v->text != NULL && o->type != SPOOL_OPT_STRING &&
            loader_parse_option_value(o, v->text, &v->number, why, sizeof(why)) != SPOOL_OK)
            return kit_fail(k, SPOOL_EINVAL, "spool kit: option \"%s\": %s", o->name, why);
    }
    return SPOOL_OK;
}

/* ---- The task ----------------------------------------------------------------------- */

static int kit_call_open(spool_kit *k)
{
    k->error[0] = '\0';
    k->phase = KIT_IN_OPEN;
    k->state = NULL;
    int rc = k->d->open(&k->task, &k->state);
    k->phase = KIT_IDLE;
    k->open = 1;
    if (rc != SPOOL_OK)
        spool_kit_close(k);
    return rc;
}

SPOOL_EXPORT int spool_kit_open(spool_kit *k)
{
    if (k->open)
        return kit_fail(k, SPOOL_EINVAL, "spool kit: the task is open already; "
                                         "spool_kit_close() or spool_kit_crash() first");
    k->error[0] = '\0';
    int rc = kit_resolve_options(k);
    if (rc != SPOOL_OK)
        return rc;
    atomic_store(&k->stop, 0);
    offsets_clear(&k->seeks);
    bytes_clear(&k->new_pos);
    rc = kit_call_open(k);
    if (rc != SPOOL_OK || k->d->kind != SPOOL_KIND_SINK)
        return rc;
    /* A sink resumes where its delivery level says: its own offsets, or the kit's. */
    if (offsets_copy(&k->live, k->d->delivery == SPOOL_DELIVERY_TRANSACTIONAL ? &k->seeks
                                                                               : &k->ckpt) != 0)
        return SPOOL_ENOMEM;
    /* As the worker does: a resumable sink without a checkpoint records where its output
     * starts, with one flush() before anything is put. */
    if (k->d->delivery == SPOOL_DELIVERY_RESUMABLE && !k->sink_pos.set)
        return spool_kit_flush(k);
    return SPOOL_OK;
}

SPOOL_EXPORT void spool_kit_close(spool_kit *k)
{
    if (!k->open)
        return;
    k->phase = KIT_IN_CLOSE;
    k->d->close(&k->task, k->state);
    k->phase = KIT_IDLE;
    k->state = NULL;
    k->open = 0;
}

SPOOL_EXPORT void spool_kit_crash(spool_kit *k)
{
    kit_note(k, "KIT", "crash: what was not committed or checkpointed is gone");
    records_drop_from(k, k->ncommitted);
    bytes_clear(&k->pending_pos);
    bytes_clear(&k->new_pos);
    offsets_clear(&k->live);
    spool_kit_close(k);
}

SPOOL_EXPORT void spool_kit_stop(spool_kit *k)
{
    atomic_store(&k->stop, 1);
}

static int kit_need(spool_kit *k, uint32_t kind, const char *fn)
{
    static const char *const kinds[] = {"", "source", "sink", "transform"};
    if (k->d->kind != kind)
        return kit_fail(k, SPOOL_EINVAL, "spool kit: %s() is for a %s; plugin \"%s\" is a %s",
                        fn, kinds[kind], k->d->name, kinds[k->d->kind]);
    if (!k->open)
        return kit_fail(k, SPOOL_EINVAL, "spool kit: %s(): the task is not open; call "
                                         "spool_kit_open() first", fn);
    return SPOOL_OK;
}

/* ---- Sources and transforms ---------------------------------------------------------- */

SPOOL_EXPORT int spool_kit_poll(spool_kit *k, int timeout_ms)
{
    int rc = kit_need(k, SPOOL_KIND_SOURCE, "spool_kit_poll");
    if (rc != SPOOL_OK)
        return rc;
    k->error[0] = '\0';
    k->phase = KIT_IN_POLL;
    rc = k->d->poll(&k->task, k->state, timeout_ms);
    k->phase = KIT_IDLE;
    return rc;
}

SPOOL_EXPORT int spool_kit_commit(spool_kit *k)
{
    int rc = kit_need(k, SPOOL_KIND_SOURCE, "spool_kit_commit");
    if (rc != SPOOL_OK)
        return rc;
    k->ncommitted = k->nrecs;
    if (!k->pending_pos.set)
        return SPOOL_OK;
    if (bytes_set(&k->pos, k->pending_pos.data, k->pending_pos.len) != 0)
        return SPOOL_ENOMEM;
    bytes_clear(&k->pending_pos);
    if (k->d->commit == NULL)
        return SPOOL_OK;
    k->error[0] = '\0';
    k->phase = KIT_IN_COMMIT;
    rc = k->d->commit(&k->task, k->state, k->pos.data, k->pos.len);
    k->phase = KIT_IDLE;
    return rc;
}

SPOOL_EXPORT int spool_kit_run_source(spool_kit *k, int max_polls, int timeout_ms)
{
    for (int i = 0; i < max_polls; i++) {
        int rc = spool_kit_poll(k, timeout_ms);
        if (rc != SPOOL_OK && rc != SPOOL_DONE)
            return rc;
        int crc = spool_kit_commit(k);
        if (crc != SPOOL_OK)
            return crc;
        if (rc == SPOOL_DONE)
            return SPOOL_OK;
    }
    return SPOOL_RETRY;
}

SPOOL_EXPORT int spool_kit_transform(spool_kit *k, const spool_record *rec)
{
    int rc = kit_need(k, SPOOL_KIND_TRANSFORM, "spool_kit_transform");
    if (rc != SPOOL_OK)
        return rc;
    k->error[0] = '\0';
    k->phase = KIT_IN_TRANSFORM;
    rc = k->d->transform(&k->task, k->state, rec);
    k->phase = KIT_IDLE;
    k->ncommitted = k->nrecs;
    return rc;
}

SPOOL_EXPORT size_t spool_kit_record_count(const spool_kit *k)
{
    return k->nrecs;
}

SPOOL_EXPORT size_t spool_kit_committed_count(const spool_kit *k)
{
    return k->ncommitted;
}

SPOOL_EXPORT const spool_record *spool_kit_record(const spool_kit *k, size_t i)
{
    return i < k->nrecs ? k->recs[i] : NULL;
}

SPOOL_EXPORT void spool_kit_clear_records(spool_kit *k)
{
    size_t pending = k->nrecs - k->ncommitted;
    for (size_t i = 0; i < k->ncommitted; i++)
        free(k->recs[i]);
    memmove(k->recs, k->recs + k->ncommitted, pending * sizeof(*k->recs));
    k->nrecs = pending;
    k->ncommitted = 0;
}

SPOOL_EXPORT void spool_kit_position(const spool_kit *k, const void **position, size_t *len)
{
    *position = k->pos.data;
    *len = k->pos.len;
}

SPOOL_EXPORT int spool_kit_set_position(spool_kit *k, const void *position, size_t len)
{
    if (k->open)
        return kit_fail(k, SPOOL_EINVAL, "spool kit: set the position before spool_kit_open()");
    return bytes_set(&k->pos, position, len) == 0 ? SPOOL_OK : SPOOL_ENOMEM;
}

/* ---- Sinks --------------------------------------------------------------------------- */

SPOOL_EXPORT int spool_kit_put(spool_kit *k, const spool_record *const *recs, size_t n)
{
    int rc = kit_need(k, SPOOL_KIND_SINK, "spool_kit_put");
    if (rc != SPOOL_OK)
        return rc;
    k->error[0] = '\0';
    k->phase = KIT_IN_PUT;
    k->cur_put = recs;
    k->cur_put_n = n;
    rc = k->d->put(&k->task, k->state, recs, n);
    k->cur_put = NULL;
    k->cur_put_n = 0;
    k->phase = KIT_IDLE;
    if (rc != SPOOL_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const char *topic = recs[i]->topic != NULL ? recs[i]->topic : "";
        if (recs[i]->offset + 1 > spool_kit_next_offset(k, topic, recs[i]->partition) &&
            offsets_set(&k->live, topic, recs[i]->partition, recs[i]->offset + 1) != 0)
            return SPOOL_ENOMEM;
    }
    return SPOOL_OK;
}

SPOOL_EXPORT int spool_kit_put_value(spool_kit *k, const char *topic, int32_t partition,
                                     const char *value)
{
    spool_record rec = {.struct_size = sizeof(rec), .value = value,
                        .value_len = value != NULL ? strlen(value) : 0,
                        .timestamp_ms = 1, .topic = topic, .partition = partition,
                        .offset = spool_kit_next_offset(k, topic, partition)};
    const spool_record *one = &rec;
    return spool_kit_put(k, &one, 1);
}

SPOOL_EXPORT int spool_kit_flush(spool_kit *k)
{
    int rc = kit_need(k, SPOOL_KIND_SINK, "spool_kit_flush");
    if (rc != SPOOL_OK)
        return rc;
    k->error[0] = '\0';
    bytes_clear(&k->new_pos);
    k->phase = KIT_IN_FLUSH;
    rc = k->d->flush(&k->task, k->state);
    k->phase = KIT_IDLE;
    if (rc != SPOOL_OK)
        return rc;
    if (offsets_copy(&k->ckpt, &k->live) != 0)
        return SPOOL_ENOMEM;
    if (k->new_pos.set && bytes_set(&k->sink_pos, k->new_pos.data, k->new_pos.len) != 0)
        return SPOOL_ENOMEM;
    bytes_clear(&k->new_pos);
    return SPOOL_OK;
}

SPOOL_EXPORT int64_t spool_kit_next_offset(const spool_kit *k, const char *topic,
                                           int32_t partition)
{
    const kit_offsets *o = k->open ? &k->live
                           : k->d->delivery == SPOOL_DELIVERY_TRANSACTIONAL ? &k->seeks
                                                                             : &k->ckpt;
    const kit_offset *e = offsets_find(o, topic != NULL ? topic : "", partition);
    return e != NULL ? e->next : 0;
}

SPOOL_EXPORT void spool_kit_sink_position(const spool_kit *k, const void **position,
                                          size_t *len)
{
    *position = k->sink_pos.data;
    *len = k->sink_pos.len;
}

SPOOL_EXPORT size_t spool_kit_rejected_count(const spool_kit *k)
{
    return k->nrej;
}

SPOOL_EXPORT int64_t spool_kit_rejected_offset(const spool_kit *k, size_t i)
{
    return i < k->nrej ? k->rej_offsets[i] : -1;
}

SPOOL_EXPORT const char *spool_kit_rejected_reason(const spool_kit *k, size_t i)
{
    return i < k->nrej ? k->rej_reasons[i] : NULL;
}

SPOOL_EXPORT int spool_kit_gauge(const spool_kit *k, const char *name, double *value)
{
    for (size_t i = 0; name != NULL && i < k->ngauges; i++)
        if (strcmp(k->gauge_names[i], name) == 0) {
            if (value != NULL)
                *value = k->gauge_values[i];
            return 1;
        }
    return 0;
}

SPOOL_EXPORT size_t spool_kit_gauge_count(const spool_kit *k)
{
    return k->ngauges;
}

/* ---- What the plugin said ------------------------------------------------------------ */

SPOOL_EXPORT size_t spool_kit_log_count(const spool_kit *k)
{
    spool_kit *m = (spool_kit *)k;
    pthread_mutex_lock(&m->log_lock);
    size_t n = m->nlog;
    pthread_mutex_unlock(&m->log_lock);
    return n;
}

SPOOL_EXPORT const char *spool_kit_log_line(const spool_kit *k, size_t i)
{
    spool_kit *m = (spool_kit *)k;
    pthread_mutex_lock(&m->log_lock);
    const char *line = i < m->nlog ? m->log[i] : NULL;
    pthread_mutex_unlock(&m->log_lock);
    return line;
}

SPOOL_EXPORT size_t spool_kit_violations(const spool_kit *k)
{
    return atomic_load(&((spool_kit *)k)->violations);
}

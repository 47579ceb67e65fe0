/* backend_builtin.c - the built-in log (runtime/log) behind the backend interface.
 *
 * Everything maps one to one onto log.h: a producer is a log_txn committed with
 * log_commit() (its position keyed by the producer's id, which for a source task is the
 * source connector's name, as data directories have always stored it); a subscription
 * is one log_reader per assigned partition, partition p of each topic going to task
 * p % tasks at the first backend_sub_next() and never revoked; the coordinator owns
 * every source task at its first poll.
 *
 * A producer's background commit (backend_producer_commit_start) is a second log_txn
 * and a committer thread of its own, started at the first such commit: start swaps
 * the txn being filled with the empty spare and queues it, the thread runs log_commit()
 * (which groups it with every other committer of the store as usual), and wait takes
 * the result. After LOG_ENOSPC, wait moves what was added meanwhile behind the failed
 * txn (log_txn_move) and makes that the txn being filled.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend_int.h"
#include "util/clock.h"

/* The most records served from one partition before the next one gets its turn. */
#define SUB_RUN_MAX 256

typedef struct builtin {
    struct backend base;
    log_store *log;
    int owns_log;                /* backend_open() opened it; backend_wrap_log() did not */
} builtin;

/* The committer thread's side of a producer (backend_producer_commit_start). */
enum { FLIGHT_IDLE, FLIGHT_QUEUED, FLIGHT_DONE };

typedef struct bproducer {
    struct backend_producer base;
    log_store *log;
    char *id;
    log_txn *txn;                /* the one the owner fills */
    /* The background commit: the owner swaps txn and flight and queues flight; the
     * committer thread runs log_commit() on it and says DONE. flight belongs to the
     * committer while QUEUED, to the owner otherwise. */
    log_txn *flight;             /* NULL until the first commit_start */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t thread;
    int thread_started;
    int state;                   /* FLIGHT_*; under mu */
    int quit;                    /* under mu */
    int rc;                      /* log_commit()'s result, under mu once DONE */
    char flight_error[512];      /* its reason; written by whoever ran the commit */
} bproducer;

typedef struct bpart {
    char *topic;
    int32_t partition;
    log_reader *reader;
} bpart;

typedef struct bsub {
    struct backend_sub base;
    log_store *log;
    backend_sub_opts o;
    char **topics;               /* copies of o.topics */
    bpart *parts;
    size_t nparts;
    int assigned;                /* the assignment was made (first backend_sub_next) */
    size_t cur;                  /* the partition whose turn it is */
    int run;                     /* records served from it in this turn */
    atomic_int woken;            /* backend_sub_wakeup() since the last wait */
} bsub;

typedef struct bcoord {
    struct backend_coord base;
    size_t n;
    unsigned char *owned;
    void (*own)(void *ctx, size_t i, int owned);
    void *ctx;
} bcoord;

static log_store *bl(backend *b)
{
    return ((builtin *)b)->log;
}

/* ---- The store and its topics ----------------------------------------------------- */

static void b_close(backend *b)
{
    builtin *bb = (builtin *)b;
    if (bb->owns_log && bb->log != NULL)
        log_close(bb->log);
    backend_free_common(b);
    free(bb);
}

static log_store *b_log(backend *b)
{
    return bl(b);
}

static int b_topic_create(backend *b, const char *topic, const log_topic_config *cfg,
                          char *err, size_t errlen)
{
    return log_topic_create_ex(bl(b), topic, cfg, err, errlen);
}

static int b_topic_delete(backend *b, const char *topic, char *err, size_t errlen)
{
    return log_topic_delete(bl(b), topic, err, errlen);
}

static int32_t b_topic_partitions(backend *b, const char *topic)
{
    return log_topic_partitions(bl(b), topic);
}

static int b_topic_names(backend *b, char ***names, size_t *count)
{
    return log_topic_names(bl(b), names, count);
}

static int b_topic_config_get(backend *b, const char *topic, log_topic_config *cfg)
{
    return log_topic_config_get(bl(b), topic, cfg);
}

static int64_t b_end_offset(backend *b, const char *topic, int32_t partition)
{
    return log_end_offset(bl(b), topic, partition);
}

static int64_t b_start_offset(backend *b, const char *topic, int32_t partition)
{
    return log_start_offset(bl(b), topic, partition);
}

/* ---- Producers -------------------------------------------------------------------- */

static int b_producer_open(backend *b, const char *id, backend_producer **out, char *err,
                           size_t errlen)
{
    bproducer *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->id = strdup(id)) == NULL || (p->txn = log_txn_new()) == NULL) {
        if (p != NULL)
            free(p->id);
        free(p);
        snprintf(err, errlen, "out of memory opening the producer \"%s\"", id);
        return SPOOL_ENOMEM;
    }
    p->base.b = b;
    p->log = bl(b);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->state = FLIGHT_IDLE;
    *out = &p->base;
    return SPOOL_OK;
}

static void b_producer_close(backend_producer *bp)
{
    bproducer *p = (bproducer *)bp;
    if (p->thread_started) {
        pthread_mutex_lock(&p->mu);
        p->quit = 1;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    log_txn_free(p->flight);
    log_txn_free(p->txn);
    free(p->id);
    free(p);
}

static int b_producer_position(backend_producer *bp, void **pos, size_t *len)
{
    bproducer *p = (bproducer *)bp;
    int rc = log_source_position(p->log, p->id, pos, len);
    if (rc != SPOOL_OK)
        snprintf(p->base.error, sizeof(p->base.error), "cannot read the committed position "
                 "of \"%s\" (%d)", p->id, rc);
    return rc;
}

static int b_producer_add(backend_producer *bp, const char *topic, int32_t partition,
                          const log_record *rec)
{
    bproducer *p = (bproducer *)bp;
    return log_txn_add(p->txn, topic, partition, rec);
}

static int b_producer_set_position(backend_producer *bp, const void *pos, size_t len)
{
    bproducer *p = (bproducer *)bp;
    return log_txn_set_position(p->txn, p->id, pos, len);
}

static size_t b_producer_count(const backend_producer *bp)
{
    return log_txn_count(((const bproducer *)bp)->txn);
}

static int b_producer_commit(backend_producer *bp)
{
    bproducer *p = (bproducer *)bp;
    int rc = log_commit(p->log, p->txn);
    if (rc != SPOOL_OK)
        log_last_error(p->log, p->base.error, sizeof(p->base.error));
    return rc;
}

static void b_producer_abort(backend_producer *bp);

/* Runs the queued commits of one producer, one at a time, in the order queued. */
static void *committer_main(void *arg)
{
    bproducer *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->state != FLIGHT_QUEUED && !p->quit)
            pthread_cond_wait(&p->cond, &p->mu);
        if (p->state != FLIGHT_QUEUED)
            break;
        pthread_mutex_unlock(&p->mu);
        int rc = log_commit(p->log, p->flight);
        if (rc != SPOOL_OK)
            log_last_error(p->log, p->flight_error, sizeof(p->flight_error));
        pthread_mutex_lock(&p->mu);
        p->rc = rc;
        p->state = FLIGHT_DONE;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int b_producer_commit_start(backend_producer *bp)
{
    bproducer *p = (bproducer *)bp;
    if (p->flight == NULL && (p->flight = log_txn_new()) == NULL) {
        snprintf(p->base.error, sizeof(p->base.error), "out of memory starting a commit "
                 "of \"%s\"", p->id);
        return SPOOL_ENOMEM;
    }
    if (!p->thread_started)
        p->thread_started = pthread_create(&p->thread, NULL, committer_main, p) == 0;
    /* flight is empty here (the last wait left it so): it takes what was added. */
    log_txn *t = p->flight;
    p->flight = p->txn;
    p->txn = t;
    if (!p->thread_started) {
        /* No thread to be had: commit here; wait() hands the result back. */
        int rc = log_commit(p->log, p->flight);
        if (rc != SPOOL_OK)
            log_last_error(p->log, p->flight_error, sizeof(p->flight_error));
        p->rc = rc;
        p->state = FLIGHT_DONE;
        return SPOOL_OK;
    }
    pthread_mutex_lock(&p->mu);
    p->state = FLIGHT_QUEUED;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return SPOOL_OK;
}

static int b_producer_commit_wait(backend_producer *bp)
{
    bproducer *p = (bproducer *)bp;
    pthread_mutex_lock(&p->mu);
    while (p->state != FLIGHT_DONE)
        pthread_cond_wait(&p->cond, &p->mu);
    p->state = FLIGHT_IDLE;
    int rc = p->rc;
    pthread_mutex_unlock(&p->mu);
    if (rc == SPOOL_OK)
        return rc;
    snprintf(p->base.error, sizeof(p->base.error), "%s", p->flight_error);
    if (rc != LOG_ENOSPC)
        return rc; /* log_commit() emptied flight */
    /* Nothing of it is committed: it goes back in front of what was added since, so
     * that the producer holds everything not yet durable, in order. */
    if (log_txn_move(p->flight, p->txn) != SPOOL_OK) {
        log_txn_free(p->flight);
        p->flight = NULL;
        b_producer_abort(&p->base);
        snprintf(p->base.error, sizeof(p->base.error), "out of memory putting back a "
                 "commit of \"%.80s\" that failed (%.200s); everything not committed was "
                 "dropped, start again from the committed position", p->id,
                 p->flight_error);
        return SPOOL_ENOMEM;
    }
    log_txn *t = p->txn;
    p->txn = p->flight;
    p->flight = t;
    return LOG_ENOSPC;
}

static void b_producer_abort(backend_producer *bp)
{
    bproducer *p = (bproducer *)bp;
    log_txn *fresh = log_txn_new();
    /* Out of memory: keep the old txn rather than none; its contents are the caller's
     * to drop again, and the next commit would fail the same way. */
    if (fresh == NULL)
        return;
    log_txn_free(p->txn);
    p->txn = fresh;
}

/* ---- Subscriptions ---------------------------------------------------------------- */

static void sub_drop_parts(bsub *s)
{
    for (size_t i = 0; i < s->nparts; i++) {
        if (s->parts[i].reader != NULL)
            log_reader_close(s->parts[i].reader);
        free(s->parts[i].topic);
    }
    free(s->parts);
    s->parts = NULL;
    s->nparts = 0;
}

static void b_sub_close(backend_sub *bs)
{
    bsub *s = (bsub *)bs;
    sub_drop_parts(s);
    for (size_t i = 0; i < s->o.ntopics; i++)
        free(s->topics[i]);
    free(s->topics);
    free(s);
}

static int b_sub_open(backend *b, const backend_sub_opts *o, backend_sub **out, char *err,
                      size_t errlen)
{
    bsub *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto oom;
    s->base.b = b;
    s->log = bl(b);
    s->o = *o;
    if (s->o.tasks < 1)
        s->o.tasks = 1;
    s->topics = calloc(o->ntopics ? o->ntopics : 1, sizeof(*s->topics));
    if (s->topics == NULL)
        goto oom;
    for (size_t i = 0; i < o->ntopics; i++) {
        if (log_topic_partitions(s->log, o->topics[i]) < 0) {
            snprintf(err, errlen, "topic \"%s\" does not exist; create it (declare it under "
                     "topics: in the pipeline, or `spool topics create`)", o->topics[i]);
            s->o.ntopics = i;
            b_sub_close(&s->base);
            return LOG_ENOTOPIC;
        }
        if ((s->topics[i] = strdup(o->topics[i])) == NULL) {
            s->o.ntopics = i;
            goto oom;
        }
    }
    s->o.topics = (const char *const *)s->topics;
    *out = &s->base;
    return SPOOL_OK;
oom:
    if (s != NULL)
        b_sub_close(&s->base);
    snprintf(err, errlen, "out of memory opening a subscription");
    return SPOOL_ENOMEM;
}

/* True when partition p of a topic is this subscription's. */
static int sub_wants(const bsub *s, int32_t p)
{
    if (s->o.standalone)
        return !s->o.only_partition || p == s->o.partition;
    return p % s->o.tasks == s->o.task;
}

/* The first backend_sub_next(): deals the partitions, lets assigned() choose the
 * offsets, opens the readers. */
static int sub_assign(bsub *s)
{
    size_t n = 0, k = 0;
    backend_part *bp = NULL;
    int rc = SPOOL_OK;

    for (size_t i = 0; i < s->o.ntopics; i++) {
        int32_t parts = log_topic_partitions(s->log, s->topics[i]);
        for (int32_t p = 0; p < parts; p++)
            n += (size_t)sub_wants(s, p);
    }
    s->parts = calloc(n ? n : 1, sizeof(*s->parts));
    bp = calloc(n ? n : 1, sizeof(*bp));
    if (s->parts == NULL || bp == NULL)
        goto oom;
    for (size_t i = 0; i < s->o.ntopics; i++) {
        int32_t parts = log_topic_partitions(s->log, s->topics[i]);
        for (int32_t p = 0; p < parts && k < n; p++) {
            if (!sub_wants(s, p))
                continue;
            if ((s->parts[k].topic = strdup(s->topics[i])) == NULL)
                goto oom;
            s->parts[k].partition = p;
            bp[k] = (backend_part){s->parts[k].topic, p, -1, -1};
            s->nparts = ++k;
        }
    }
    s->assigned = 1;
    if (s->o.assigned != NULL && s->o.assigned(s->o.ctx, bp, k) != 0) {
        snprintf(s->base.error, sizeof(s->base.error), "the assignment was refused");
        free(bp);
        return SPOOL_ERR;
    }
    for (size_t i = 0; i < k; i++) {
        int64_t off = bp[i].offset;
        if (off < 0)
            off = log_start_offset(s->log, s->parts[i].topic, s->parts[i].partition);
        rc = log_reader_open(s->log, s->parts[i].topic, s->parts[i].partition, off < 0 ? 0 : off,
                             &s->parts[i].reader);
        if (rc != SPOOL_OK) {
            snprintf(s->base.error, sizeof(s->base.error), "cannot read %s/%d (%d)",
                     s->parts[i].topic, (int)s->parts[i].partition, rc);
            break;
        }
    }
    free(bp);
    return rc;
oom:
    free(bp);
    snprintf(s->base.error, sizeof(s->base.error), "out of memory assigning partitions");
    return SPOOL_ENOMEM;
}

/* One pass over the partitions from the current one: 1 with a record, 0 when none has
 * one, or a negative code. */
static int sub_try(bsub *s, log_record *rec, const char **topic, int32_t *partition)
{
    for (size_t tried = 0; tried < s->nparts; tried++) {
        bpart *bp = &s->parts[s->cur];
        int r = log_reader_next(bp->reader, rec);
        if (r < 0) {
            snprintf(s->base.error, sizeof(s->base.error), "cannot read %s/%d: %s",
                     bp->topic, (int)bp->partition, log_reader_error(bp->reader));
            return r;
        }
        if (r == 1) {
            *topic = bp->topic;
            *partition = bp->partition;
            if (++s->run >= SUB_RUN_MAX) {
                s->run = 0;
                s->cur = (s->cur + 1) % s->nparts;
            }
            return 1;
        }
        s->run = 0;
        s->cur = (s->cur + 1) % s->nparts;
    }
    return 0;
}


static int b_sub_next(backend_sub *bs, log_record *rec, const char **topic,
                      int32_t *partition, int timeout_ms)
{
    bsub *s = (bsub *)bs;

    if (!s->assigned) {
        int rc = sub_assign(s);
        if (rc != SPOOL_OK)
            return rc;
    }
    /* The hot path, a record ready to read: no clock and no lock (log_commit_seq takes
     * the store's mutex), which per record were a fifth of a fast sink's time. */
    int r = sub_try(s, rec, topic, partition);
    if (r != 0 || timeout_ms <= 0)
        return r; /* a look without waiting leaves a wakeup for the wait that follows */
    int64_t until = util_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        /* The sequence before trying: a commit after the try changes it, so the wait
         * below cannot sleep through it. */
        uint64_t seq = log_commit_seq(s->log);
        r = sub_try(s, rec, topic, partition);
        if (r != 0)
            return r;
        if (atomic_exchange(&s->woken, 0))
            return 0;
        int64_t left = until - util_mono_ms();
        if (left <= 0)
            return 0;
        log_wait(s->log, seq, (int)left);
    }
}

static int b_sub_commit(backend_sub *s, const backend_part *parts, size_t n)
{
    (void)s, (void)parts, (void)n;
    return SPOOL_OK;
}

static int b_sub_caught_up(backend_sub *bs)
{
    bsub *s = (bsub *)bs;
    if (!s->assigned)
        return 0;
    for (size_t i = 0; i < s->nparts; i++)
        if (log_reader_offset(s->parts[i].reader) <
            log_end_offset(s->log, s->parts[i].topic, s->parts[i].partition))
            return 0;
    return 1;
}

static void b_sub_wakeup(backend_sub *bs)
{
    bsub *s = (bsub *)bs;
    atomic_store(&s->woken, 1);
    log_wakeup(s->log);
}

/* ---- Coordination ----------------------------------------------------------------- */

static int b_coord_open(backend *b, const char *const *tasks, size_t n,
                        void (*own)(void *ctx, size_t i, int owned), void *ctx,
                        backend_coord **out, char *err, size_t errlen)
{
    (void)tasks;
    bcoord *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->owned = calloc(n ? n : 1, 1)) == NULL) {
        free(c);
        snprintf(err, errlen, "out of memory opening the coordinator");
        return SPOOL_ENOMEM;
    }
    c->base.b = b;
    c->n = n;
    c->own = own;
    c->ctx = ctx;
    *out = &c->base;
    return SPOOL_OK;
}

static int b_coord_poll(backend_coord *bc, int timeout_ms)
{
    bcoord *c = (bcoord *)bc;
    (void)timeout_ms;
    for (size_t i = 0; i < c->n; i++)
        if (!c->owned[i]) {
            c->owned[i] = 1;
            c->own(c->ctx, i, 1);
        }
    return SPOOL_OK;
}

static void b_coord_close(backend_coord *bc)
{
    bcoord *c = (bcoord *)bc;
    for (size_t i = 0; i < c->n; i++)
        if (c->owned[i]) {
            c->owned[i] = 0;
            c->own(c->ctx, i, 0);
        }
    free(c->owned);
    free(c);
}

/* ---- Opening ---------------------------------------------------------------------- */

static const backend_ops builtin_ops = {
    .close = b_close,
    .log = b_log,
    .topic_create = b_topic_create,
    .topic_delete = b_topic_delete,
    .topic_partitions = b_topic_partitions,
    .topic_names = b_topic_names,
    .topic_config_get = b_topic_config_get,
    .end_offset = b_end_offset,
    .start_offset = b_start_offset,
    .producer_open = b_producer_open,
    .producer_close = b_producer_close,
    .producer_position = b_producer_position,
    .producer_add = b_producer_add,
    .producer_set_position = b_producer_set_position,
    .producer_count = b_producer_count,
    .producer_commit = b_producer_commit,
    .producer_abort = b_producer_abort,
    .producer_commit_start = b_producer_commit_start,
    .producer_commit_wait = b_producer_commit_wait,
    .sub_open = b_sub_open,
    .sub_close = b_sub_close,
    .sub_next = b_sub_next,
    .sub_commit = b_sub_commit,
    .sub_caught_up = b_sub_caught_up,
    .sub_wakeup = b_sub_wakeup,
    .coord_open = b_coord_open,
    .coord_poll = b_coord_poll,
    .coord_close = b_coord_close,
};

static int builtin_new(log_store *log, int owns, backend **out)
{
    builtin *bb = calloc(1, sizeof(*bb));
    if (bb == NULL)
        return SPOOL_ENOMEM;
    backend_init_common(&bb->base, &builtin_ops, BACKEND_BUILTIN);
    bb->log = log;
    bb->owns_log = owns;
    *out = &bb->base;
    return SPOOL_OK;
}

int backend_builtin_open(const backend_config *cfg, backend **out, char *err, size_t errlen)
{
    log_store *log = NULL;
    *out = NULL;
    if (cfg->data_dir == NULL) {
        snprintf(err, errlen, "no data directory given for the builtin log");
        return SPOOL_EINVAL;
    }
    int rc = log_open_ex(cfg->data_dir, cfg->log_opts, &log, err, errlen);
    if (rc != SPOOL_OK)
        return rc;
    if (builtin_new(log, 1, out) != SPOOL_OK) {
        log_close(log);
        snprintf(err, errlen, "out of memory opening the builtin backend");
        return SPOOL_ENOMEM;
    }
    return SPOOL_OK;
}

int backend_builtin_wrap(log_store *log, backend **out)
{
    *out = NULL;
    if (log == NULL)
        return SPOOL_EINVAL;
    return builtin_new(log, 0, out);
}

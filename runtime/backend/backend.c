/* backend.c - the public face of runtime/backend/: dispatch to the chosen backend. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend_int.h"

int backend_kind_parse(const char *s)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "builtin") == 0)
        return BACKEND_BUILTIN;
    if (strcmp(s, "kafka") == 0)
        return BACKEND_KAFKA;
    return -1;
}

const char *backend_kind_name(backend_kind k)
{
    return k == BACKEND_KAFKA ? "kafka" : "builtin";
}

void backend_init_common(backend *b, const backend_ops *ops, backend_kind kind)
{
    b->ops = ops;
    b->kind = kind;
    pthread_mutex_init(&b->error_lock, NULL);
    b->error[0] = '\0';
}

void backend_free_common(backend *b)
{
    pthread_mutex_destroy(&b->error_lock);
}

void backend_set_error(backend *b, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&b->error_lock);
    va_start(ap, fmt);
    vsnprintf(b->error, sizeof(b->error), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&b->error_lock);
}

int backend_open(const backend_config *cfg, backend **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->kind == BACKEND_KAFKA)
        return backend_kafka_open(cfg, out, err, errlen);
    return backend_builtin_open(cfg, out, err, errlen);
}

int backend_wrap_log(log_store *log, backend **out)
{
    return backend_builtin_wrap(log, out);
}

void backend_close(backend *b)
{
    if (b != NULL)
        b->ops->close(b);
}

backend_kind backend_kind_of(const backend *b) { return b->kind; }
log_store *backend_log(backend *b) { return b->ops->log(b); }

void backend_last_error(backend *b, char *buf, size_t len)
{
    pthread_mutex_lock(&b->error_lock);
    snprintf(buf, len, "%s", b->error);
    pthread_mutex_unlock(&b->error_lock);
}

int backend_topic_create(backend *b, const char *topic, const log_topic_config *cfg,
                         char *err, size_t errlen)
{
    return b->ops->topic_create(b, topic, cfg, err, errlen);
}

int backend_topic_delete(backend *b, const char *topic, char *err, size_t errlen)
{
    return b->ops->topic_delete(b, topic, err, errlen);
}

int32_t backend_topic_partitions(backend *b, const char *topic)
{
    return b->ops->topic_partitions(b, topic);
}

int backend_topic_names(backend *b, char ***names, size_t *count)
{
    return b->ops->topic_names(b, names, count);
}

int backend_topic_config_get(backend *b, const char *topic, log_topic_config *cfg)
{
    return b->ops->topic_config_get(b, topic, cfg);
}

int64_t backend_end_offset(backend *b, const char *topic, int32_t partition)
{
    return b->ops->end_offset(b, topic, partition);
}

int64_t backend_start_offset(backend *b, const char *topic, int32_t partition)
{
    return b->ops->start_offset(b, topic, partition);
}

int backend_producer_open(backend *b, const char *id, backend_producer **out,
                          char *err, size_t errlen)
{
    *out = NULL;
    int rc = b->ops->producer_open(b, id, out, err, errlen);
    if (rc == SPOOL_OK && *out != NULL) {
        (*out)->inflight = 0;
        (*out)->sync_rc = SPOOL_OK;
    }
    return rc;
}

void backend_producer_close(backend_producer *p)
{
    if (p == NULL)
        return;
    (void)backend_producer_commit_wait(p);
    p->b->ops->producer_close(p);
}

int backend_producer_position(backend_producer *p, void **pos, size_t *len)
{
    return p->b->ops->producer_position(p, pos, len);
}

int backend_producer_add(backend_producer *p, const char *topic, int32_t partition,
                         const log_record *rec)
{
    return p->b->ops->producer_add(p, topic, partition, rec);
}

int backend_producer_set_position(backend_producer *p, const void *pos, size_t len)
{
    return p->b->ops->producer_set_position(p, pos, len);
}

size_t backend_producer_count(const backend_producer *p)
{
    return p->b->ops->producer_count(p);
}

int backend_producer_commit(backend_producer *p)
{
    if (p->inflight) {
        int rc = backend_producer_commit_wait(p);
        if (rc != SPOOL_OK)
            return rc;
    }
    return p->b->ops->producer_commit(p);
}

int backend_producer_commit_start(backend_producer *p)
{
    if (p->inflight) {
        snprintf(p->error, sizeof(p->error), "a commit is already in flight on this "
                 "producer; wait for it first (backend_producer_commit_wait)");
        return SPOOL_EINVAL;
    }
    if (p->b->ops->producer_commit_start == NULL) {
        p->sync_rc = p->b->ops->producer_commit(p);
        p->inflight = 1;
        return SPOOL_OK;
    }
    int rc = p->b->ops->producer_commit_start(p);
    if (rc == SPOOL_OK)
        p->inflight = 1;
    return rc;
}

int backend_producer_commit_wait(backend_producer *p)
{
    if (!p->inflight)
        return SPOOL_OK;
    p->inflight = 0;
    if (p->b->ops->producer_commit_wait == NULL)
        return p->sync_rc;
    return p->b->ops->producer_commit_wait(p);
}

int backend_producer_commit_inflight(const backend_producer *p)
{
    return p->inflight;
}

void backend_producer_abort(backend_producer *p)
{
    /* What is in flight ends first: whether it became durable shows in
     * backend_producer_position(). */
    (void)backend_producer_commit_wait(p);
    p->b->ops->producer_abort(p);
}

const char *backend_producer_error(const backend_producer *p) { return p->error; }

int backend_sub_open(backend *b, const backend_sub_opts *o, backend_sub **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    return b->ops->sub_open(b, o, out, err, errlen);
}

void backend_sub_close(backend_sub *s)
{
    if (s != NULL)
        s->b->ops->sub_close(s);
}

int backend_sub_next(backend_sub *s, log_record *rec, const char **topic,
                     int32_t *partition, int timeout_ms)
{
    return s->b->ops->sub_next(s, rec, topic, partition, timeout_ms);
}

int backend_sub_commit(backend_sub *s, const backend_part *parts, size_t n)
{
    return s->b->ops->sub_commit(s, parts, n);
}

int backend_sub_caught_up(backend_sub *s) { return s->b->ops->sub_caught_up(s); }
void backend_sub_wakeup(backend_sub *s) { s->b->ops->sub_wakeup(s); }
const char *backend_sub_error(const backend_sub *s) { return s->error; }

int backend_coord_open(backend *b, const char *const *tasks, size_t n,
                       void (*own)(void *ctx, size_t i, int owned), void *ctx,
                       backend_coord **out, char *err, size_t errlen)
{
    *out = NULL;
    return b->ops->coord_open(b, tasks, n, own, ctx, out, err, errlen);
}

int backend_coord_poll(backend_coord *c, int timeout_ms)
{
    return c->b->ops->coord_poll(c, timeout_ms);
}

void backend_coord_close(backend_coord *c)
{
    if (c != NULL)
        c->b->ops->coord_close(c);
}

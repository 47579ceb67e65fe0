/* backend_int.h - private to runtime/backend/: the table each backend fills in.
 *
 * backend.c holds the public functions; each calls through b->ops. An implementation
 * (backend_builtin.c, backend_kafka.c) allocates its own structs with the common part
 * below as their first member, so a backend_producer * is also its own struct's address.
 */
#ifndef SPOOL_BACKEND_INT_H
#define SPOOL_BACKEND_INT_H

#include <pthread.h>

#include "backend/backend.h"

typedef struct backend_ops {
    void (*close)(backend *b);
    log_store *(*log)(backend *b);
    int (*topic_create)(backend *b, const char *topic, const log_topic_config *cfg,
                        char *err, size_t errlen);
    int (*topic_delete)(backend *b, const char *topic, char *err, size_t errlen);
    int32_t (*topic_partitions)(backend *b, const char *topic);
    int (*topic_names)(backend *b, char ***names, size_t *count);
    int (*topic_config_get)(backend *b, const char *topic, log_topic_config *cfg);
    int64_t (*end_offset)(backend *b, const char *topic, int32_t partition);
    int64_t (*start_offset)(backend *b, const char *topic, int32_t partition);

    int (*producer_open)(backend *b, const char *id, backend_producer **out,
                         char *err, size_t errlen);
    void (*producer_close)(backend_producer *p);
    int (*producer_position)(backend_producer *p, void **pos, size_t *len);
    int (*producer_add)(backend_producer *p, const char *topic, int32_t partition,
                        const log_record *rec);
    int (*producer_set_position)(backend_producer *p, const void *pos, size_t len);
    size_t (*producer_count)(const backend_producer *p);
    int (*producer_commit)(backend_producer *p);
    void (*producer_abort)(backend_producer *p);
    /* Optional (NULL: backend.c commits synchronously in start and hands the result
     * back in wait). start is only called with no commit in flight, wait only with
     * one; abort and close are only called with none. */
    int (*producer_commit_start)(backend_producer *p);
    int (*producer_commit_wait)(backend_producer *p);

    int (*sub_open)(backend *b, const backend_sub_opts *o, backend_sub **out,
                    char *err, size_t errlen);
    void (*sub_close)(backend_sub *s);
    int (*sub_next)(backend_sub *s, log_record *rec, const char **topic,
                    int32_t *partition, int timeout_ms);
    int (*sub_commit)(backend_sub *s, const backend_part *parts, size_t n);
    int (*sub_caught_up)(backend_sub *s);
    void (*sub_wakeup)(backend_sub *s);

    int (*coord_open)(backend *b, const char *const *tasks, size_t n,
                      void (*own)(void *ctx, size_t i, int owned), void *ctx,
                      backend_coord **out, char *err, size_t errlen);
    int (*coord_poll)(backend_coord *c, int timeout_ms);
    void (*coord_close)(backend_coord *c);
} backend_ops;

/* The common first member of every backend. */
struct backend {
    const backend_ops *ops;
    backend_kind kind;
    pthread_mutex_t error_lock;
    char error[512];            /* backend_last_error(); under error_lock */
};

struct backend_producer {
    backend *b;
    char error[512];            /* backend_producer_error() */
    int inflight;               /* a commit was started and not yet waited for */
    int sync_rc;                /* its result, when the backend has no async commit */
};

struct backend_sub {
    backend *b;
    char error[512];            /* backend_sub_error() */
};

struct backend_coord {
    backend *b;
};

/* Sets b's last error (printf-style), thread-safe. */
void backend_set_error(backend *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fills the common part; the implementation's open functions call it. */
void backend_init_common(backend *b, const backend_ops *ops, backend_kind kind);
void backend_free_common(backend *b);

int backend_builtin_open(const backend_config *cfg, backend **out, char *err, size_t errlen);
int backend_builtin_wrap(log_store *log, backend **out);
int backend_kafka_open(const backend_config *cfg, backend **out, char *err, size_t errlen);

#endif /* SPOOL_BACKEND_INT_H */

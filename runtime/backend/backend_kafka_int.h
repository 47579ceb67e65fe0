/* backend_kafka_int.h - private to the kafka backend: its structs and shared helpers.
 *
 * backend_kafka.c opens the backend and manages topics through one admin handle (a
 * consumer without a group, read_committed, so its watermark queries return the last
 * stable offset); backend_kafka_io.c holds producers, subscriptions and coordinators,
 * each with its own librdkafka handle.
 */
#ifndef SPOOL_BACKEND_KAFKA_INT_H
#define SPOOL_BACKEND_KAFKA_INT_H

#include <stdatomic.h>

#include <librdkafka/rdkafka.h>

#include "backend/backend_int.h"

struct khandle;

typedef struct kbackend {
    struct backend base;        /* first */
    char group[128];
    char client_id[160];
    char bootstrap[512];        /* for messages */
    char offsets_topic[300];    /* GROUP.offsets */
    char sources_topic[300];    /* GROUP.sources */
    char **props;               /* name, value, ..., NULL: copies of cfg->properties */
    int replication;            /* for topics spool creates; -1: the broker's default */
    int brokers;                /* seen at open */
    int admin_timeout_ms;       /* admin requests and metadata */
    rd_kafka_t *admin;
    struct khandle *admin_h;
    pthread_mutex_t lock;       /* known[] */
    struct known_topic {
        char *name;
        log_topic_config cfg;
        int cfg_known;          /* 0: only cfg.partitions is known (seen, not created) */
    } *known;
    size_t nknown;
} kbackend;

/* What librdkafka's log and error callbacks need: every handle's opaque points here. */
typedef struct khandle {
    kbackend *kb;
    char what[720];             /* "producer TASK", "subscription SINK", ... */
    atomic_int down;            /* all brokers down was logged */
} khandle;

/* Logs through the worker's logger when the program has one, else to stderr. */
void kb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A librdkafka configuration for one handle: the user's properties, client.id,
 * callbacks, then the managed name/value pairs (NULL-terminated), which win. */
rd_kafka_conf_t *kb_conf(kbackend *kb, khandle *h, const char *const *managed, char *err,
                         size_t errlen);

/* The partition count of topic (from the metadata of all topics, so that asking never
 * creates it on a cluster with auto.create.topics.enable); -1 when absent; -2 when the
 * cluster did not answer, with the reason in err. */
int32_t kb_partitions(kbackend *kb, rd_kafka_t *rk, const char *topic, char *err,
                      size_t errlen);

/* Grows topic to at least n partitions (CreatePartitions). */
int kb_grow_partitions(kbackend *kb, const char *topic, int32_t n, char *err, size_t errlen);

/* The names of librdkafka errors that mean "a newer producer took the id over". */
int kb_is_fenced(rd_kafka_resp_err_t e);

int kb_producer_open(backend *b, const char *id, backend_producer **out, char *err,
                     size_t errlen);
void kb_producer_close(backend_producer *p);
int kb_producer_position(backend_producer *p, void **pos, size_t *len);
int kb_producer_add(backend_producer *p, const char *topic, int32_t partition,
                    const log_record *rec);
int kb_producer_set_position(backend_producer *p, const void *pos, size_t len);
size_t kb_producer_count(const backend_producer *p);
int kb_producer_commit(backend_producer *p);
void kb_producer_abort(backend_producer *p);

int kb_sub_open(backend *b, const backend_sub_opts *o, backend_sub **out, char *err,
                size_t errlen);
void kb_sub_close(backend_sub *s);
int kb_sub_next(backend_sub *s, log_record *rec, const char **topic, int32_t *partition,
                int timeout_ms);
int kb_sub_commit(backend_sub *s, const backend_part *parts, size_t n);
int kb_sub_caught_up(backend_sub *s);
void kb_sub_wakeup(backend_sub *s);

int kb_coord_open(backend *b, const char *const *tasks, size_t n,
                  void (*own)(void *ctx, size_t i, int owned), void *ctx,
                  backend_coord **out, char *err, size_t errlen);
int kb_coord_poll(backend_coord *c, int timeout_ms);
void kb_coord_close(backend_coord *c);

#endif /* SPOOL_BACKEND_KAFKA_INT_H */

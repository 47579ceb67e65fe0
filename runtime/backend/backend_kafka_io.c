/* backend_kafka_io.c - the kafka backend's producers, subscriptions and coordinators.
 *
 * Producer: a transactional producer with transactional.id "GROUP.ID" (KIP-618's task
 * producer). Opening it runs init_transactions(), which fences any older producer of
 * the id and aborts its open transaction. A commit sends the records, waits until the
 * cluster acknowledged them, then sends the position as a record keyed ID to
 * "GROUP.offsets" and commits the transaction. Waiting for the data first costs one
 * round trip; it keeps a position from ever being visible without its data on a cluster
 * that does not hide aborted or open transactions from read_committed readers
 * (librdkafka 2.0.2's mock cluster, on which the tests run). Real Kafka hides both.
 *
 * Subscription: a read_committed consumer in group "GROUP.SINK" with the eager
 * round-robin assignor and no automatic commits. Its rebalance callback runs inside
 * rd_kafka_consumer_poll(), that is inside backend_sub_next() on the caller's thread:
 * revoke -> revoked(), assign -> assigned() with the whole new assignment, then
 * rd_kafka_assign() at the offsets the callee chose (-1: the group's committed offset,
 * else the earliest).
 *
 * Coordinator: a consumer in group "GROUP.sources.HASH" (HASH: of the sorted task names,
 * so that workers running the same tasks share a group and other sets of tasks, such as
 * a daemon's other connectors, have groups of their own) subscribed to topic
 * "GROUP.sources", whose partition i stands for source task i. No record is ever written there; the
 * group is used only for its assignment, which gives each partition to exactly one
 * live member, and to another one when that member leaves or its session times out.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend_kafka_int.h"
#include "util/clock.h"
#include "util/strutil.h"

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* How long a commit may keep retrying retriable errors before it gives up. */
#define COMMIT_GIVE_UP_MS (10 * 60 * 1000)


static void note_up(khandle *h)
{
    /* Called per record: a plain load first, the exchange only after an outage. */
    if (atomic_load(&h->down) != 0 && atomic_exchange(&h->down, 0) != 0)
        kb_log(SPOOL_LOG_INFO, "%s: the cluster answers again", h->what);
}

/* ==== Producers ==================================================================== */

typedef struct kproducer {
    struct backend_producer base; /* first */
    khandle h;
    kbackend *kb;
    rd_kafka_t *rk;
    char id[256];
    char txn_id[400];
    int in_txn;
    size_t count;
    void *pos;
    size_t pos_len;
    int pos_set;
    rd_kafka_resp_err_t dr_err;   /* first failed delivery of this transaction */
    char dr_why[256];
    int dead;                     /* after a fatal error: the code every call returns */
} kproducer;

static void p_err(kproducer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void p_err(kproducer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->base.error, sizeof(p->base.error), fmt, ap);
    va_end(ap);
}

/* Delivery reports run on the producer's thread, inside rd_kafka_poll/flush. */
static void p_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kproducer *p = CONTAINER(opaque, kproducer, h);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && p->dr_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->dr_err = m->err;
        snprintf(p->dr_why, sizeof(p->dr_why), "%s [%" PRId32 "]: %s",
                 m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "?", m->partition,
                 rd_kafka_err2str(m->err));
    }
}

/* A fatal producer error: the producer is unusable from now on. */
static int p_fatal(kproducer *p, const char *what, rd_kafka_resp_err_t code, const char *why)
{
    if (kb_is_fenced(code)) {
        p_err(p, "kafka: producer %s (transactional.id %s) was fenced during %s: a newer "
              "instance took the id over (%s)", p->id, p->txn_id, what, why);
        p->dead = LOG_EFENCED;
    } else {
        p_err(p, "kafka: producer %s (transactional.id %s): fatal error during %s: %s",
              p->id, p->txn_id, what, why);
        p->dead = LOG_EIO;
    }
    kb_log(p->dead == LOG_EFENCED ? SPOOL_LOG_WARN : SPOOL_LOG_ERROR, "%s", p->base.error);
    p->in_txn = 0;
    p->count = 0;
    return p->dead;
}

static void p_reset(kproducer *p)
{
    p->in_txn = 0;
    p->count = 0;
    p->pos_set = 0;
    p->dr_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    p->dr_why[0] = '\0';
}

/* Aborts the open transaction, retrying retriable errors. SPOOL_OK or a fatal code. */
static int p_abort_txn(kproducer *p)
{
    int64_t start = util_mono_ms();
    if (!p->in_txn) {
        p_reset(p);
        return SPOOL_OK;
    }
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(p->rk, 60000);
        if (e == NULL)
            break;
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        char why[256];
        snprintf(why, sizeof(why), "%s", rd_kafka_error_string(e));
        int retriable = rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        if (!retriable || util_mono_ms() - start > COMMIT_GIVE_UP_MS)
            return p_fatal(p, "abort", code, why);
        kb_log(SPOOL_LOG_WARN, "producer %s: aborting its transaction: %s; retrying", p->id,
               why);
    }
    p_reset(p);
    return SPOOL_OK;
}

/* A failed transactional call: abort when the transaction needs it (SPOOL_RETRY with
 * the producer empty), or give the producer up on a fatal error. */
static int p_txn_failed(kproducer *p, const char *what, rd_kafka_error_t *e)
{
    char why[256];
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    snprintf(why, sizeof(why), "%s", rd_kafka_error_string(e));
    int fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    if (fatal || kb_is_fenced(code))
        return p_fatal(p, what, code, why);
    p_err(p, "kafka: producer %s: transaction %s failed: %s; the transaction was aborted, "
          "its records go again", p->id, what, why);
    kb_log(SPOOL_LOG_WARN, "%s", p->base.error);
    int rc = p_abort_txn(p);
    return rc == SPOOL_OK ? SPOOL_RETRY : rc;
}

int kb_producer_open(backend *b, const char *id, backend_producer **out, char *err,
                     size_t errlen)
{
    kbackend *kb = (kbackend *)b;
    char e[512];
    if (id == NULL || *id == '\0' || strlen(id) >= 256) {
        util_errf(err, errlen, "kafka: a producer needs an id of 1-255 characters");
        return SPOOL_EINVAL;
    }
    kproducer *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SPOOL_ENOMEM;
    p->base.b = b;
    p->kb = kb;
    p->h.kb = kb;
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->txn_id, sizeof(p->txn_id), "%s.%s", kb->group, id);
    snprintf(p->h.what, sizeof(p->h.what), "producer %s", id);
    const char *const managed[] = {"transactional.id", p->txn_id,
                                   "enable.idempotence", "true", NULL};
    rd_kafka_conf_t *conf = kb_conf(kb, &p->h, managed, err, errlen);
    if (conf == NULL) {
        free(p);
        return SPOOL_EINVAL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, p_dr_cb);
    if ((p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e))) == NULL) {
        rd_kafka_conf_destroy(conf);
        util_errf(err, errlen, "kafka: cannot create producer %s: %s", id, e);
        free(p);
        return SPOOL_EINVAL;
    }
    rd_kafka_error_t *ie = rd_kafka_init_transactions(p->rk, 60000);
    if (ie != NULL) {
        int rc = rd_kafka_error_is_fatal(ie) ? LOG_EIO
                 : rd_kafka_error_is_retriable(ie) ? SPOOL_RETRY : LOG_EIO;
        if (kb_is_fenced(rd_kafka_error_code(ie)))
            rc = LOG_EFENCED;
        util_errf(err, errlen, "kafka: producer %s cannot start transactions "
                  "(transactional.id %s, bootstrap.servers %s): %s%s", id, p->txn_id,
                  kb->bootstrap, rd_kafka_error_string(ie),
                  rd_kafka_error_code(ie) ==
                          RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                      ? " (ACLs: allow Write and Describe on this transactional id)" : "");
        rd_kafka_error_destroy(ie);
        rd_kafka_destroy(p->rk);
        free(p);
        return rc;
    }
    *out = &p->base;
    return SPOOL_OK;
}

void kb_producer_close(backend_producer *bp)
{
    kproducer *p = (kproducer *)bp;
    if (p->rk != NULL) {
        if (p->in_txn && !p->dead) {
            rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_error_t *e = rd_kafka_abort_transaction(p->rk, 5000);
            if (e != NULL)
                rd_kafka_error_destroy(e);
        }
        rd_kafka_destroy(p->rk);
    }
    free(p->pos);
    free(p);
}

int kb_producer_position(backend_producer *bp, void **pos, size_t *len)
{
    kproducer *p = (kproducer *)bp;
    kbackend *kb = p->kb;
    char e[512];
    int rc = LOG_EIO, nparts, remaining = 0;
    void *found = NULL;
    size_t found_len = 0;
    int64_t *high = NULL;
    rd_kafka_topic_partition_list_t *list = NULL;
    khandle h = {.kb = kb};
    char group[300];
    *pos = NULL;
    *len = 0;
    snprintf(h.what, sizeof(h.what), "offsets reader of %s", p->id);
    /* assign() needs a group.id; the reader never joins the group nor commits. */
    snprintf(group, sizeof(group), "%s.offsets-reader", kb->group);
    const char *const managed[] = {"group.id", group,
                                   "isolation.level", "read_committed",
                                   "enable.auto.commit", "false",
                                   "enable.partition.eof", "true", NULL};
    rd_kafka_conf_t *conf = kb_conf(kb, &h, managed, e, sizeof(e));
    if (conf == NULL) {
        p_err(p, "%s", e);
        return SPOOL_EINVAL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        p_err(p, "kafka: cannot create a consumer: %s", e);
        return SPOOL_EINVAL;
    }
    if ((nparts = kb_partitions(kb, rk, kb->offsets_topic, e, sizeof(e))) < 0) {
        p_err(p, "kafka: cannot read the offsets topic %s: %s", kb->offsets_topic,
              nparts == -1 ? "it does not exist" : e);
        goto out;
    }
    high = calloc((size_t)nparts, sizeof(*high));
    list = rd_kafka_topic_partition_list_new(nparts);
    if (high == NULL || list == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (int i = 0; i < nparts; i++) {
        int64_t low;
        rd_kafka_resp_err_t r = rd_kafka_query_watermark_offsets(rk, kb->offsets_topic, i,
                                                                 &low, &high[i], 30000);
        if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
            p_err(p, "kafka: cannot query the offsets topic %s [%d]: %s", kb->offsets_topic,
                  i, rd_kafka_err2str(r));
            goto out;
        }
        if (high[i] > low) {
            rd_kafka_topic_partition_list_add(list, kb->offsets_topic, i)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            remaining++;
        }
    }
    rd_kafka_resp_err_t r = remaining > 0 ? rd_kafka_assign(rk, list)
                                          : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
        p_err(p, "kafka: cannot read the offsets topic %s: %s", kb->offsets_topic,
              rd_kafka_err2str(r));
        goto out;
    }
    size_t idlen = strlen(p->id);
    int64_t deadline = util_mono_ms() + 60000;
    while (remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            if (util_mono_ms() > deadline) {
                p_err(p, "kafka: timed out reading the offsets topic %s to its end (60 s)",
                      kb->offsets_topic);
                rc = SPOOL_RETRY;
                goto out;
            }
            continue;
        }
        int i = m->partition;
        int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->key_len == idlen &&
            memcmp(m->key, p->id, idlen) == 0) {
            free(found);
            found = NULL;
            found_len = 0;
            if (m->payload != NULL) { /* NULL: a tombstone, no position */
                if ((found = malloc(m->len > 0 ? m->len : 1)) == NULL) {
                    rd_kafka_message_destroy(m);
                    rc = SPOOL_ENOMEM;
                    goto out;
                }
                memcpy(found, m->payload, m->len);
                found_len = m->len;
            }
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && !eof) {
            kb_log(SPOOL_LOG_WARN, "producer %s: reading %s: %s", p->id, kb->offsets_topic,
                   rd_kafka_message_errstr(m));
        }
        if (i >= 0 && i < nparts && high[i] >= 0 &&
            (eof ? m->offset >= high[i]
                 : m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset + 1 >= high[i])) {
            high[i] = -1; /* done */
            remaining--;
        }
        rd_kafka_message_destroy(m);
    }
    *pos = found;
    *len = found_len;
    found = NULL;
    rc = SPOOL_OK;
out:
    free(found);
    free(high);
    if (list != NULL)
        rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* Begins the transaction when none is open. */
static int p_begin(kproducer *p)
{
    if (p->in_txn)
        return SPOOL_OK;
    p->dr_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
    if (e != NULL) {
        char why[256];
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        snprintf(why, sizeof(why), "%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return p_fatal(p, "begin", code, why);
    }
    p->in_txn = 1;
    return SPOOL_OK;
}

/* Hands one record to librdkafka, waiting while its queue is full. */
static int p_produce(kproducer *p, const char *topic, int32_t partition, const void *key,
                     size_t key_len, const void *value, size_t value_len,
                     rd_kafka_headers_t *hdrs, int64_t ts)
{
    for (;;) {
        rd_kafka_resp_err_t r = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (r == RD_KAFKA_RESP_ERR_NO_ERROR)
            return SPOOL_OK;
        if (r == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p->rk, 10); /* serves delivery reports: makes room */
            continue;
        }
        if (hdrs != NULL)
            rd_kafka_headers_destroy(hdrs);
        if (r == RD_KAFKA_RESP_ERR__FATAL) {
            char why[256];
            rd_kafka_resp_err_t code = rd_kafka_fatal_error(p->rk, why, sizeof(why));
            return p_fatal(p, "produce", code, why);
        }
        if (r == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            p_err(p, "kafka: producer %s: a record of %zu bytes for %s is larger than "
                  "message.max.bytes allows", p->id, key_len + value_len, topic);
            return SPOOL_EINVAL;
        }
        if (r == RD_KAFKA_RESP_ERR__STATE) {
            /* The transaction failed in the background: abort it. */
            rd_kafka_error_t *e = rd_kafka_error_new(r, "the transaction is in an error "
                                                     "state: %s", p->dr_why);
            return p_txn_failed(p, "produce", e);
        }
        p_err(p, "kafka: producer %s: cannot produce to %s [%" PRId32 "]: %s", p->id, topic,
              partition, rd_kafka_err2str(r));
        return r == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                       r == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
                   ? LOG_ENOTOPIC : LOG_EIO;
    }
}

int kb_producer_add(backend_producer *bp, const char *topic, int32_t partition,
                    const log_record *rec)
{
    kproducer *p = (kproducer *)bp;
    int rc;
    if (p->dead)
        return p->dead;
    if ((rc = p_begin(p)) != SPOOL_OK)
        return rc;
    rd_kafka_headers_t *hdrs = NULL;
    if (rec->header_count > 0) {
        if ((hdrs = rd_kafka_headers_new(rec->header_count)) == NULL)
            return SPOOL_ENOMEM;
        for (size_t i = 0; i < rec->header_count; i++) {
            const log_header *lh = &rec->headers[i];
            rd_kafka_header_add(hdrs, lh->key, (ssize_t)lh->key_len, lh->value,
                                lh->value != NULL ? (ssize_t)lh->value_len : 0);
        }
    }
    rc = p_produce(p, topic, partition, rec->key, rec->key != NULL ? rec->key_len : 0,
                   rec->value, rec->value != NULL ? rec->value_len : 0, hdrs,
                   rec->timestamp_ms);
    if (rc == SPOOL_OK)
        p->count++;
    return rc;
}

int kb_producer_set_position(backend_producer *bp, const void *pos, size_t len)
{
    kproducer *p = (kproducer *)bp;
    if (len > LOG_MAX_POSITION_BYTES)
        return SPOOL_EINVAL;
    void *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return SPOOL_ENOMEM;
    if (len > 0)
        memcpy(copy, pos, len);
    free(p->pos);
    p->pos = copy;
    p->pos_len = len;
    p->pos_set = 1;
    return SPOOL_OK;
}

size_t kb_producer_count(const backend_producer *bp)
{
    return ((const kproducer *)bp)->count;
}

/* Waits until librdkafka has no record left to send (all acknowledged or failed). */
static int p_flush(kproducer *p)
{
    int64_t start = util_mono_ms();
    while (rd_kafka_outq_len(p->rk) > 0) {
        rd_kafka_flush(p->rk, 1000);
        if (p->dr_err != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (util_mono_ms() - start > COMMIT_GIVE_UP_MS) {
            p->dr_err = RD_KAFKA_RESP_ERR__TIMED_OUT;
            snprintf(p->dr_why, sizeof(p->dr_why), "records not acknowledged in %d s",
                     COMMIT_GIVE_UP_MS / 1000);
            break;
        }
    }
    rd_kafka_poll(p->rk, 0);
    if (p->dr_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_error_t *e = rd_kafka_error_new(p->dr_err, "delivery failed: %s", p->dr_why);
        return p_txn_failed(p, "delivery", e);
    }
    return SPOOL_OK;
}

int kb_producer_commit(backend_producer *bp)
{
    kproducer *p = (kproducer *)bp;
    int rc;
    if (p->dead)
        return p->dead;
    if (!p->in_txn && !p->pos_set)
        return SPOOL_OK;
    if ((rc = p_begin(p)) != SPOOL_OK)
        return rc;
    if (p->count > 0 && (rc = p_flush(p)) != SPOOL_OK)
        return rc;
    if (p->pos_set) {
        rc = p_produce(p, p->kb->offsets_topic, RD_KAFKA_PARTITION_UA, p->id, strlen(p->id),
                       p->pos, p->pos_len, NULL, 0);
        if (rc != SPOOL_OK)
            return rc;
    }
    int64_t start = util_mono_ms();
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(p->rk, 60000);
        if (e == NULL)
            break;
        if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e) &&
            !rd_kafka_error_txn_requires_abort(e) && util_mono_ms() - start < COMMIT_GIVE_UP_MS) {
            kb_log(SPOOL_LOG_WARN, "producer %s: committing its transaction: %s; retrying",
                   p->id, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            continue;
        }
        if (!rd_kafka_error_txn_requires_abort(e) && !rd_kafka_error_is_fatal(e) &&
            rd_kafka_error_is_retriable(e)) {
            /* Retried for COMMIT_GIVE_UP_MS: the outcome is unknown, give it up. */
            char why[256];
            snprintf(why, sizeof(why), "%s (retried for %d s)", rd_kafka_error_string(e),
                     COMMIT_GIVE_UP_MS / 1000);
            rd_kafka_resp_err_t code = rd_kafka_error_code(e);
            rd_kafka_error_destroy(e);
            return p_fatal(p, "commit", code, why);
        }
        return p_txn_failed(p, "commit", e);
    }
    note_up(&p->h);
    p_reset(p);
    return SPOOL_OK;
}

void kb_producer_abort(backend_producer *bp)
{
    kproducer *p = (kproducer *)bp;
    if (p->dead)
        return;
    if (p->in_txn) {
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE);
        p_abort_txn(p);
    }
    p_reset(p);
}

/* ==== Subscriptions ================================================================ */

typedef struct ksub {
    struct backend_sub base;      /* first */
    khandle h;
    kbackend *kb;
    rd_kafka_t *rk;
    char group[400];
    char **topics;                /* copies; parts[].topic point here */
    size_t ntopics;
    int (*assigned)(void *ctx, backend_part *parts, size_t n);
    void (*revoked)(void *ctx);
    void *ctx;
    backend_part *parts;          /* the current assignment */
    int64_t *next;                /* per part: next offset to deliver; -1 unknown */
    size_t nparts;
    int has_assignment;
    int failed;                   /* assigned() failed: next() returns SPOOL_ERR */
    int closing;
    int standalone;               /* tools: no group, every partition (or one) */
    int only_partition;
    int32_t partition;
    atomic_int wake;
    rd_kafka_message_t *msg;      /* the last record delivered */
    log_header *hdrs;
    size_t caphdrs;
} ksub;

static void s_err(ksub *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_err(ksub *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->base.error, sizeof(s->base.error), fmt, ap);
    va_end(ap);
}

static const char *s_topic(ksub *s, const char *name)
{
    for (size_t i = 0; i < s->ntopics; i++)
        if (strcmp(s->topics[i], name) == 0)
            return s->topics[i];
    return NULL;
}

static void s_drop_assignment(ksub *s)
{
    s->nparts = 0;
    s->has_assignment = 0;
}

/* Fills parts[i].committed with the group's committed offsets of the new assignment,
 * so that a sink with a checkpoint of its own can start at the later of the two. Left
 * at -1 on a standalone subscription, and (with a warning) when the group coordinator
 * does not answer: the sink then starts from its own checkpoint, or the group's. */
static void s_committed(ksub *s, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *list,
                        backend_part *parts, size_t k)
{
    if (s->standalone || k == 0)
        return;
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(list);
    rd_kafka_resp_err_t r = rd_kafka_committed(rk, q, 10000);
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kb_log(SPOOL_LOG_WARN, "group %s: cannot read the committed offsets of the new "
               "assignment (%s); each partition starts from this worker's checkpoint or "
               "the group's offset", s->group, rd_kafka_err2str(r));
    } else {
        for (size_t i = 0; i < k; i++)
            for (int j = 0; j < q->cnt; j++)
                if (q->elems[j].partition == parts[i].partition && q->elems[j].err == 0 &&
                    q->elems[j].offset >= 0 && strcmp(q->elems[j].topic, parts[i].topic) == 0)
                    parts[i].committed = q->elems[j].offset;
    }
    rd_kafka_topic_partition_list_destroy(q);
}

/* Takes a new assignment: assigned() chooses the offsets, then rd_kafka_assign().
 * Default offsets: the group's committed offset (else the earliest), or the earliest
 * for a standalone subscription. */
static void s_take(ksub *s, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list)
{
    size_t n = (size_t)list->cnt;
    backend_part *parts = realloc(s->parts, (n > 0 ? n : 1) * sizeof(*parts));
    int64_t *next = parts != NULL ? realloc(s->next, (n > 0 ? n : 1) * sizeof(*next)) : NULL;
    if (parts != NULL)
        s->parts = parts;
    if (next != NULL)
        s->next = next;
    if (parts == NULL || next == NULL) {
        s_err(s, "kafka: out of memory on a rebalance");
        s->failed = 1;
        rd_kafka_assign(rk, NULL);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = s_topic(s, list->elems[i].topic);
        if (t == NULL)
            continue; /* not ours (cannot happen: we subscribe by name) */
        parts[k].topic = t;
        parts[k].partition = list->elems[i].partition;
        parts[k].offset = -1;
        parts[k].committed = -1;
        k++;
    }
    s_committed(s, rk, list, parts, k);
    if (s->assigned != NULL && s->assigned(s->ctx, parts, k) != 0) {
        if (s->base.error[0] == '\0')
            s_err(s, "kafka: the sink refused its new assignment in group %s", s->group);
        s->failed = 1;
        rd_kafka_assign(rk, NULL);
        s_drop_assignment(s);
        return;
    }
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new((int)(k + 1));
    for (size_t i = 0; i < k; i++) {
        rd_kafka_topic_partition_list_add(a, parts[i].topic, parts[i].partition)->offset =
            parts[i].offset >= 0 ? parts[i].offset
            : s->standalone ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_STORED;
        next[i] = parts[i].offset >= 0 ? parts[i].offset : -1;
    }
    rd_kafka_resp_err_t r = rd_kafka_assign(rk, a);
    rd_kafka_topic_partition_list_destroy(a);
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
        s_err(s, "kafka: cannot take the assignment of group %s: %s", s->group,
              rd_kafka_err2str(r));
        s->failed = 1;
        return;
    }
    s->nparts = k;
    s->has_assignment = 1;
    if (!s->standalone)
        kb_log(SPOOL_LOG_INFO, "group %s: %zu partition%s assigned to this worker", s->group,
               k, k == 1 ? "" : "s");
}

static void s_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *list, void *opaque)
{
    ksub *s = CONTAINER(opaque, ksub, h);
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS || s->closing || s->failed) {
        /* Revoked (or an error, or closing): everything goes. */
        if (s->has_assignment && !s->closing && s->revoked != NULL)
            s->revoked(s->ctx);
        rd_kafka_assign(rk, NULL);
        s_drop_assignment(s);
        return;
    }
    s_take(s, rk, list);
}

int kb_sub_open(backend *b, const backend_sub_opts *o, backend_sub **out, char *err,
                size_t errlen)
{
    kbackend *kb = (kbackend *)b;
    char e[512];
    if (o->name == NULL || !util_name_valid(o->name, 249) || o->ntopics == 0) {
        util_errf(err, errlen, "kafka: a subscription needs a valid name and topics");
        return SPOOL_EINVAL;
    }
    for (size_t i = 0; i < o->ntopics; i++) {
        int32_t n = kb_partitions(kb, NULL, o->topics[i], e, sizeof(e));
        if (n == -2) {
            util_errf(err, errlen, "%s", e);
            return LOG_EIO;
        }
        if (n < 0) {
            util_errf(err, errlen, "kafka: sink %s reads topic %s, which does not exist on "
                      "the cluster", o->name, o->topics[i]);
            return LOG_ENOTOPIC;
        }
    }
    ksub *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    s->base.b = b;
    s->kb = kb;
    s->h.kb = kb;
    s->assigned = o->assigned;
    s->revoked = o->revoked;
    s->ctx = o->ctx;
    s->standalone = o->standalone;
    s->only_partition = o->only_partition;
    s->partition = o->partition;
    /* A standalone reader never joins its group nor commits: assign() needs a group.id. */
    snprintf(s->group, sizeof(s->group), "%s.%s%s", kb->group, o->name,
             o->standalone ? ".reader" : "");
    snprintf(s->h.what, sizeof(s->h.what), "sink %s (group %s)", o->name, s->group);
    if ((s->topics = calloc(o->ntopics, sizeof(char *))) == NULL)
        goto nomem;
    for (s->ntopics = 0; s->ntopics < o->ntopics; s->ntopics++)
        if ((s->topics[s->ntopics] = strdup(o->topics[s->ntopics])) == NULL)
            goto nomem;
    const char *const managed[] = {"group.id", s->group,
                                   "isolation.level", "read_committed",
                                   "enable.auto.commit", "false",
                                   "enable.auto.offset.store", "false",
                                   "auto.offset.reset", "earliest",
                                   "partition.assignment.strategy", "roundrobin", NULL};
    rd_kafka_conf_t *conf = kb_conf(kb, &s->h, managed, err, errlen);
    if (conf == NULL) {
        kb_sub_close(&s->base);
        return SPOOL_EINVAL;
    }
    if (!s->standalone)
        rd_kafka_conf_set_rebalance_cb(conf, s_rebalance);
    if ((s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e))) == NULL) {
        rd_kafka_conf_destroy(conf);
        util_errf(err, errlen, "kafka: cannot create the consumer of sink %s: %s", o->name, e);
        kb_sub_close(&s->base);
        return SPOOL_EINVAL;
    }
    rd_kafka_poll_set_consumer(s->rk);
    if (s->standalone) {
        *out = &s->base;
        return SPOOL_OK;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->ntopics);
    for (size_t i = 0; i < s->ntopics; i++)
        rd_kafka_topic_partition_list_add(l, s->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t r = rd_kafka_subscribe(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(err, errlen, "kafka: sink %s cannot subscribe: %s", o->name,
                  rd_kafka_err2str(r));
        kb_sub_close(&s->base);
        return LOG_EIO;
    }
    *out = &s->base;
    return SPOOL_OK;
nomem:
    kb_sub_close(&s->base);
    return SPOOL_ENOMEM;
}

void kb_sub_close(backend_sub *bs)
{
    ksub *s = (ksub *)bs;
    if (s->msg != NULL)
        rd_kafka_message_destroy(s->msg);
    if (s->rk != NULL) {
        s->closing = 1;
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    for (size_t i = 0; i < s->ntopics; i++)
        free(s->topics[i]);
    free(s->topics);
    free(s->parts);
    free(s->next);
    free(s->hdrs);
    free(s);
}

static int s_find(ksub *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && strcmp(s->parts[i].topic, topic) == 0)
            return (int)i;
    return -1;
}

/* Fills rec from m; headers into s->hdrs. */
static int s_fill(ksub *s, rd_kafka_message_t *m, log_record *rec)
{
    rd_kafka_headers_t *h = NULL;
    memset(rec, 0, sizeof(*rec));
    rec->key = m->key;
    rec->key_len = m->key != NULL ? m->key_len : 0;
    rec->value = m->payload;
    rec->value_len = m->payload != NULL ? m->len : 0;
    rec->offset = m->offset;
    rd_kafka_timestamp_type_t tt;
    rec->timestamp_ms = rd_kafka_message_timestamp(m, &tt);
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h != NULL) {
        size_t n = rd_kafka_header_cnt(h);
        if (n > s->caphdrs) {
            log_header *v = realloc(s->hdrs, n * sizeof(*v));
            if (v == NULL)
                return SPOOL_ENOMEM;
            s->hdrs = v;
            s->caphdrs = n;
        }
        for (size_t i = 0; i < n; i++) {
            const char *name;
            const void *val;
            size_t size;
            if (rd_kafka_header_get_all(h, i, &name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return SPOOL_ERR;
            s->hdrs[i].key = name;
            s->hdrs[i].key_len = strlen(name);
            s->hdrs[i].value = val;
            s->hdrs[i].value_len = val != NULL ? size : 0;
        }
        rec->headers = s->hdrs;
        rec->header_count = n;
    }
    return SPOOL_OK;
}

/* A standalone subscription's one assignment: every partition of its topics (or the one
 * asked for), from the cluster's metadata. */
static int s_standalone_assign(ksub *s)
{
    char e[512];
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < s->ntopics; i++) {
        int32_t n = kb_partitions(s->kb, s->rk, s->topics[i], e, sizeof(e));
        if (n < 0) {
            s_err(s, "%s", n == -1 ? "kafka: a topic to read does not exist" : e);
            rd_kafka_topic_partition_list_destroy(l);
            return -1;
        }
        for (int32_t p = 0; p < n; p++)
            if (!s->only_partition || p == s->partition)
                rd_kafka_topic_partition_list_add(l, s->topics[i], p);
    }
    s_take(s, s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (!s->has_assignment)
        s->failed = 1;
    return s->has_assignment ? 0 : -1;
}

int kb_sub_next(backend_sub *bs, log_record *rec, const char **topic, int32_t *partition,
                int timeout_ms)
{
    ksub *s = (ksub *)bs;
    if (s->msg != NULL) {
        rd_kafka_message_destroy(s->msg);
        s->msg = NULL;
    }
    if (s->standalone && !s->has_assignment && !s->failed && s_standalone_assign(s) != 0)
        return s->failed ? SPOOL_ERR : LOG_EIO;
    /* A record already fetched is taken without reading the clock: the deadline is
     * set by the first poll that comes back empty. */
    int64_t deadline = -1;
    int slice = 0;
    for (;;) {
        if (atomic_load(&s->wake) != 0 && atomic_exchange(&s->wake, 0) != 0)
            return 0;
        if (s->failed)
            return SPOOL_ERR;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, slice);
        if (s->failed) {
            if (m != NULL)
                rd_kafka_message_destroy(m);
            return SPOOL_ERR;
        }
        if (m == NULL) {
            if (timeout_ms == 0)
                return 0;
            int64_t now = util_mono_ms();
            if (deadline < 0)
                deadline = timeout_ms < 0 ? INT64_MAX : now + timeout_ms;
            int64_t left = deadline - now;
            if (left <= 0)
                return 0;
            slice = left > 100 ? 100 : (int)left;
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_resp_err_t code = m->err;
            char why[256];
            snprintf(why, sizeof(why), "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (code == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                continue;
            if (code == RD_KAFKA_RESP_ERR__FATAL) {
                rd_kafka_fatal_error(s->rk, why, sizeof(why));
                s_err(s, "kafka: sink group %s: fatal consumer error: %s", s->group, why);
                return LOG_EIO;
            }
            kb_log(SPOOL_LOG_WARN, "%s: %s", s->h.what, why);
            continue;
        }
        int i = s_find(s, rd_kafka_topic_name(m->rkt), m->partition);
        if (i < 0) { /* from before a rebalance */
            rd_kafka_message_destroy(m);
            continue;
        }
        int rc = s_fill(s, m, rec);
        if (rc != SPOOL_OK) {
            rd_kafka_message_destroy(m);
            s_err(s, "kafka: cannot read the headers of a record of %s", s->parts[i].topic);
            return rc;
        }
        s->next[i] = m->offset + 1;
        *topic = s->parts[i].topic;
        *partition = m->partition;
        s->msg = m;
        note_up(&s->h);
        return 1;
    }
}

int kb_sub_commit(backend_sub *bs, const backend_part *parts, size_t n)
{
    ksub *s = (ksub *)bs;
    if (n == 0 || s->standalone)
        return SPOOL_OK; /* a standalone reader commits nothing */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        if (s_find(s, parts[i].topic, parts[i].partition) < 0) {
            s_err(s, "kafka: %s/%" PRId32 " is no longer assigned to this task of group %s "
                  "(a rebalance moved it)", parts[i].topic, parts[i].partition, s->group);
            rd_kafka_topic_partition_list_destroy(l);
            return LOG_EFENCED;
        }
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset =
            parts[i].offset;
    }
    rd_kafka_resp_err_t r = rd_kafka_commit(s->rk, l, 0);
    for (int i = 0; r == RD_KAFKA_RESP_ERR_NO_ERROR && i < l->cnt; i++)
        r = l->elems[i].err;
    rd_kafka_topic_partition_list_destroy(l);
    switch (r) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
    case RD_KAFKA_RESP_ERR__NO_OFFSET:
        return SPOOL_OK;
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
        s_err(s, "kafka: group %s: cannot commit offsets: %s (a rebalance took the "
              "partitions)", s->group, rd_kafka_err2str(r));
        return LOG_EFENCED;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        s_err(s, "kafka: group %s: cannot commit offsets now: %s", s->group,
              rd_kafka_err2str(r));
        return SPOOL_RETRY;
    default:
        s_err(s, "kafka: group %s: cannot commit offsets: %s%s", s->group,
              rd_kafka_err2str(r),
              r == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED
                  ? " (ACLs: allow Read on the group)" : "");
        return LOG_EIO;
    }
}

/* The offset the next record of part i will have, or -1 when unknown. */
static int64_t s_position(ksub *s, size_t i)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->parts[i].topic, s->parts[i].partition);
    int64_t pos = -1;
    if (rd_kafka_position(s->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].offset >= 0)
        pos = l->elems[0].offset; /* past control records too */
    if (pos < s->next[i])
        pos = s->next[i];
    if (pos < 0 &&
        rd_kafka_committed(s->rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        l->elems[0].offset >= 0)
        pos = l->elems[0].offset;
    if (pos < 0) { /* no committed offset: reading starts at the earliest */
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(s->rk, s->parts[i].topic, s->parts[i].partition,
                                             &lo, &hi, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            pos = lo;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (pos >= 0 && s->next[i] < 0)
        s->next[i] = pos;
    return pos;
}

int kb_sub_caught_up(backend_sub *bs)
{
    ksub *s = (ksub *)bs;
    if (!s->has_assignment)
        return 0;
    /* The end offsets are those of the latest fetch responses (read_committed: the last
     * stable offset), at most fetch.wait.max.ms old: no request per call. A partition
     * behind by them answers at once. */
    for (size_t i = 0; i < s->nparts; i++) {
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(s->rk, s->parts[i].topic, s->parts[i].partition,
                                           &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            return 0; /* no fetch answered yet */
        if (s->next[i] >= 0 && s->next[i] < hi)
            return 0;
    }
    for (size_t i = 0; i < s->nparts; i++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_get_watermark_offsets(s->rk, s->parts[i].topic, s->parts[i].partition, &lo,
                                       &hi);
        int64_t pos = s_position(s, i); /* asks the group once when nothing was read */
        if (pos < 0 || pos < hi)
            return 0;
    }
    return 1;
}

void kb_sub_wakeup(backend_sub *bs)
{
    ksub *s = (ksub *)bs;
    atomic_store(&s->wake, 1);
    rd_kafka_yield(s->rk);
}

/* ==== Coordinators ================================================================= */

typedef struct kcoord {
    struct backend_coord base;    /* first */
    khandle h;
    kbackend *kb;
    rd_kafka_t *rk;
    size_t n;
    unsigned char *owned;
    void (*own)(void *ctx, size_t i, int owned);
    void *ctx;
    int closing;
} kcoord;

static void c_release_all(kcoord *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->owned[i]) {
            c->owned[i] = 0;
            c->own(c->ctx, i, 0);
        }
}

static void c_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *list, void *opaque)
{
    kcoord *c = CONTAINER(opaque, kcoord, h);
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS || c->closing) {
        c_release_all(c);
        rd_kafka_assign(rk, NULL);
        return;
    }
    rd_kafka_assign(rk, list);
    size_t got = 0;
    for (int k = 0; k < list->cnt; k++) {
        int32_t i = list->elems[k].partition;
        if (i >= 0 && (size_t)i < c->n && !c->owned[i]) {
            c->owned[i] = 1;
            got++;
            c->own(c->ctx, (size_t)i, 1);
        }
    }
    kb_log(SPOOL_LOG_INFO, "%s: this worker runs %zu of %zu source task%s",
           c->h.what, got, c->n, c->n == 1 ? "" : "s");
}

int kb_coord_open(backend *b, const char *const *tasks, size_t n,
                  void (*own)(void *ctx, size_t i, int owned), void *ctx,
                  backend_coord **out, char *err, size_t errlen)
{
    kbackend *kb = (kbackend *)b;
    char e[512], group[320];
    (void)tasks;
    if (n > 0) {
        int32_t have = kb_partitions(kb, NULL, kb->sources_topic, e, sizeof(e));
        if (have == -2) {
            util_errf(err, errlen, "%s", e);
            return LOG_EIO;
        }
        if (have < (int32_t)n) {
            kb_log(SPOOL_LOG_INFO, "growing topic %s from %" PRId32 " to %zu partitions: one "
                   "per source task", kb->sources_topic, have, n);
            int rc = kb_grow_partitions(kb, kb->sources_topic, (int32_t)n, err, errlen);
            if (rc != SPOOL_OK)
                return rc;
            for (int waited = 0; kb_partitions(kb, NULL, kb->sources_topic, e, sizeof(e)) <
                                     (int32_t)n; waited += 200) {
                if (waited > kb->admin_timeout_ms) {
                    util_errf(err, errlen, "kafka: topic %s did not show %zu partitions "
                              "after growing it", kb->sources_topic, n);
                    return LOG_EIO;
                }
                struct timespec ts = {0, 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    kcoord *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->owned = calloc(n + 1, 1)) == NULL) {
        free(c);
        return SPOOL_ENOMEM;
    }
    c->base.b = b;
    c->kb = kb;
    c->h.kb = kb;
    c->n = n;
    c->own = own;
    c->ctx = ctx;
    /* Workers that run the same set of source tasks share one group; a worker with
     * another set (another pipeline, or one connector of a daemon) joins a group of its
     * own on the same topic, so that sets never take each other's partitions. The
     * group is named by an FNV-1a hash of the task names, which the caller sorts. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *q = (const unsigned char *)tasks[i]; *q; q++)
            h = (h ^ *q) * 16777619u;
        h = (h ^ '\n') * 16777619u;
    }
    snprintf(group, sizeof(group), "%s.%08" PRIx32, kb->sources_topic, h);
    snprintf(c->h.what, sizeof(c->h.what), "source coordinator (group %s)", group);
    const char *const managed[] = {"group.id", group,
                                   "enable.auto.commit", "false",
                                   "enable.auto.offset.store", "false",
                                   "auto.offset.reset", "latest",
                                   "partition.assignment.strategy", "roundrobin", NULL};
    rd_kafka_conf_t *conf = kb_conf(kb, &c->h, managed, err, errlen);
    if (conf == NULL) {
        free(c->owned);
        free(c);
        return SPOOL_EINVAL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, c_rebalance);
    if ((c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e))) == NULL) {
        rd_kafka_conf_destroy(conf);
        util_errf(err, errlen, "kafka: cannot create the source coordinator: %s", e);
        free(c->owned);
        free(c);
        return SPOOL_EINVAL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, kb->sources_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t r = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(err, errlen, "kafka: the source coordinator cannot subscribe to %s: %s",
                  kb->sources_topic, rd_kafka_err2str(r));
        rd_kafka_destroy(c->rk);
        free(c->owned);
        free(c);
        return LOG_EIO;
    }
    *out = &c->base;
    return SPOOL_OK;
}

int kb_coord_poll(backend_coord *bc, int timeout_ms)
{
    kcoord *c = (kcoord *)bc;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (m == NULL)
        return SPOOL_OK;
    int rc = SPOOL_OK;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(c->rk, why, sizeof(why));
        backend_set_error(&c->kb->base, "kafka: source coordinator: fatal error: %s", why);
        rc = LOG_EIO;
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
               m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        kb_log(SPOOL_LOG_WARN, "%s: %s", c->h.what, rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
    return rc;
}

void kb_coord_close(backend_coord *bc)
{
    kcoord *c = (kcoord *)bc;
    c_release_all(c);
    c->closing = 1;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c->owned);
    free(c);
}

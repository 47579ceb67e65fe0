/* kafka_sink.c - the kafka sink: spool records into a Kafka topic, exactly once.
 *
 * Usage:
 *
 *     sinks:
 *       to-kafka:
 *         connector: kafka
 *         topics: [resource-events]
 *         config: {bootstrap_servers: "broker:9092", topic: resource-events}
 *
 * Transactional (SPOOL_DELIVERY_TRANSACTIONAL). put() copies the records; flush() runs
 * one Kafka transaction of the transactional producer that holds the records and, for
 * every spool partition consumed, a record in the offsets topic keyed
 * "CONNECTOR/TOPIC/PARTITION" whose value is the next offset to read. The records and
 * the offsets therefore commit together or not at all. open() reads the offsets topic
 * to its end with read_committed (after init_transactions() fenced any earlier instance
 * and aborted its open transaction) and reports the offsets with host->seek().
 *
 * Errors: a transaction that must be aborted is aborted and flush() returns
 * SPOOL_RETRY with the records kept, so the retry sends them again in a new one (the
 * runtime's second put() of the batch adds nothing: put() keeps each offset once). A
 * fatal producer error (fenced, out of sequence) destroys the producer; the next
 * flush() builds a new one, rereads the offsets topic and drops from the kept records
 * those that a transaction did commit: the task restarts from its checkpoint in Kafka.
 *
 * Data records go to the partition murmur2(key) picks (partitioner=murmur2_random, the
 * Java client's and spool's own log mapping); records without a key are spread.
 * Within flush() the data is acknowledged before the offsets are sent (see the note at
 * kafka_flush()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka_common.h"

static const spool_option sink_options[] = {
    KAFKA_COMMON_OPTIONS,
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "topic",
     .flags = SPOOL_OPT_REQUIRED, .doc = "Kafka topic the records are written to."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "offsets_topic",
     .default_value = "spool-offsets",
     .doc = "Compacted Kafka topic holding the consumed spool offsets."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "transactional_id",
     .default_value = "",
     .doc = "Transactional id; empty: spool-TASK (must be unique and stable per task)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "transaction_timeout",
     .default_value = "60s", .min = 1000, .max = 900000,
     .doc = "How long a transaction may stay open; also bounds each flush."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "lineage_headers",
     .default_value = "false",
     .doc = "Add spool.topic, spool.partition, spool.offset and spool.txn headers."},
    {.name = NULL},
};

typedef struct pending_rec {
    char *key, *value;             /* key NULL: none; value NULL: tombstone */
    size_t key_len, value_len;
    rd_kafka_headers_t *headers;   /* NULL when there are none */
    int64_t timestamp_ms;
    int part;                      /* index into parts */
    int64_t offset;
} pending_rec;

typedef struct part_state {
    char *topic;
    int32_t partition;
    int64_t committed;             /* next offset, as committed in Kafka; -1: none */
    int64_t pending;               /* next offset once the kept records commit */
} part_state;

typedef struct kafka_sink {
    kafka_task kt;                 /* first: librdkafka's opaque */
    rd_kafka_t *rk;                /* NULL after a fatal error, until rebuilt */
    const char *topic, *offsets_topic;
    char conn[256], txn_id[512];
    int64_t timeout_ms;
    int lineage;
    int in_txn;                    /* records produced; the commit is what is left */
    char txn[96];                  /* the current transaction's name, for logs/headers */
    uint64_t session, txn_seq;     /* for spool.txn headers */
    pending_rec *recs;
    size_t nrecs, caprecs;
    part_state *parts;
    size_t nparts, capparts;
} kafka_sink;

static int sink_part(kafka_sink *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && strcmp(s->parts[i].topic, topic) == 0)
            return (int)i;
    if (s->nparts == s->capparts) {
        size_t cap = s->capparts ? s->capparts * 2 : 16;
        part_state *p = realloc(s->parts, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        s->parts = p;
        s->capparts = cap;
    }
    part_state *p = &s->parts[s->nparts];
    if ((p->topic = strdup(topic)) == NULL)
        return -1;
    p->partition = partition;
    p->committed = -1;
    p->pending = -1;
    return (int)s->nparts++;
}

static void pending_clear(kafka_sink *s)
{
    for (size_t i = 0; i < s->nrecs; i++) {
        free(s->recs[i].key);
        free(s->recs[i].value);
        if (s->recs[i].headers != NULL)
            rd_kafka_headers_destroy(s->recs[i].headers);
    }
    s->nrecs = 0;
}

/* Builds the transactional producer and fences any earlier instance of this id. */
static spool_rc sink_producer(kafka_sink *s)
{
    char err[512], tmo[32];
    snprintf(tmo, sizeof(tmo), "%" PRId64, s->timeout_ms);
    const char *const managed[] = {"transactional.id", s->txn_id,
                                   "enable.idempotence", "true",
                                   "partitioner", "murmur2_random",
                                   "transaction.timeout.ms", tmo, NULL};
    rd_kafka_conf_t *conf = kafka_conf_new(&s->kt, managed);
    if (conf == NULL)
        return SPOOL_EINVAL;
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (s->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        kafka_host->set_error(s->kt.t, "cannot create the Kafka producer: %s", err);
        return SPOOL_EINVAL;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(s->rk, (int)s->timeout_ms);
    if (e != NULL) {
        kafka_host->set_error(s->kt.t, "cannot start transactions (transactional.id %s): %s",
                              s->txn_id, rd_kafka_error_string(e));
        int fatal = rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        rd_kafka_destroy(s->rk);
        s->rk = NULL;
        return fatal ? SPOOL_ERR : SPOOL_RETRY;
    }
    s->in_txn = 0;
    return SPOOL_OK;
}

/* Reads the offsets topic to its end with read_committed and records, for this
 * connector's keys, the committed next offsets. With `seek`, reports them to the
 * runtime (in open()). */
static spool_rc sink_read_offsets(kafka_sink *s, int seek)
{
    char err[512], prefix[300];
    const char *const managed[] = {"isolation.level", "read_committed",
                                   "enable.auto.commit", "false",
                                   "enable.partition.eof", "true",
                                   "group.id", "spool-offsets-reader", NULL};
    spool_rc rc = SPOOL_RETRY;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *list = NULL;
    const struct rd_kafka_metadata *md = NULL;
    int64_t *high = NULL;
    int *done = NULL;
    int nparts = 0, remaining = 0;
    rd_kafka_conf_t *conf = kafka_conf_new(&s->kt, managed);
    if (conf == NULL)
        return SPOOL_EINVAL;
    if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL) {
        rd_kafka_conf_destroy(conf);
        kafka_host->set_error(s->kt.t, "cannot create a Kafka consumer: %s", err);
        return SPOOL_EINVAL;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, s->offsets_topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, (int)s->timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
        kafka_host->set_error(s->kt.t, "cannot read the offsets topic %s: %s",
                              s->offsets_topic, rd_kafka_err2str(e));
        goto out;
    }
    if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = SPOOL_OK; /* never written: every partition starts at the beginning */
        goto out;
    }
    if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kafka_host->set_error(s->kt.t, "offsets topic %s: %s", s->offsets_topic,
                              rd_kafka_err2str(md->topics[0].err));
        goto out;
    }
    nparts = md->topics[0].partition_cnt;
    high = calloc((size_t)nparts + 1, sizeof(*high));
    done = calloc((size_t)nparts + 1, sizeof(*done));
    list = rd_kafka_topic_partition_list_new(nparts);
    if (high == NULL || done == NULL || list == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (int p = 0; p < nparts; p++) {
        int64_t low;
        e = rd_kafka_query_watermark_offsets(rk, s->offsets_topic, p, &low, &high[p],
                                             (int)s->timeout_ms);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            kafka_host->set_error(s->kt.t, "cannot query offsets topic %s [%d]: %s",
                                  s->offsets_topic, p, rd_kafka_err2str(e));
            goto out;
        }
        if (high[p] <= low) {
            done[p] = 1;
            continue;
        }
        rd_kafka_topic_partition_list_add(list, s->offsets_topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        remaining++;
    }
    if (remaining > 0 && (e = rd_kafka_assign(rk, list)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kafka_host->set_error(s->kt.t, "cannot read the offsets topic: %s",
                              rd_kafka_err2str(e));
        goto out;
    }
    int plen = snprintf(prefix, sizeof(prefix), "%s/", s->conn);
    /* Until every partition reached the high watermark seen before reading: with
     * read_committed that waits for open transactions of other ids to end. */
    for (int waited = 0; remaining > 0;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            if ((waited += 200) > s->timeout_ms || kafka_host->stopping(s->kt.t)) {
                kafka_host->set_error(s->kt.t, "timed out reading the offsets topic %s to "
                                      "its end", s->offsets_topic);
                goto out;
            }
            continue;
        }
        int p = m->partition;
        if (p >= 0 && p < nparts && !done[p] &&
            (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ? m->offset >= high[p]
                                                         : m->offset + 1 >= high[p])) {
            done[p] = 1;
            remaining--;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->key != NULL &&
            m->key_len > (size_t)plen && memcmp(m->key, prefix, (size_t)plen) == 0 &&
            m->payload != NULL && m->len < 32) {
            char key[600], val[32];
            const char *k = (const char *)m->key + plen;
            size_t klen = m->key_len - (size_t)plen;
            const char *slash = klen < sizeof(key) ? memrchr(k, '/', klen) : NULL;
            if (slash != NULL) {
                memcpy(key, k, (size_t)(slash - k));
                key[slash - k] = '\0';
                memcpy(val, m->payload, m->len);
                val[m->len] = '\0';
                int32_t partition = (int32_t)strtol(slash + 1, NULL, 10);
                int i = sink_part(s, key, partition);
                if (i < 0) {
                    rd_kafka_message_destroy(m);
                    rc = SPOOL_ENOMEM;
                    goto out;
                }
                s->parts[i].committed = strtoll(val, NULL, 10);
            }
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                   m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            kafka_host->log(s->kt.t, SPOOL_LOG_WARN, "reading the offsets topic: %s",
                            rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rc = SPOOL_OK;
    for (size_t i = 0; i < s->nparts; i++) {
        if (s->parts[i].committed < 0)
            continue;
        s->parts[i].pending = s->parts[i].committed;
        if (seek && kafka_host->seek(s->kt.t, s->parts[i].topic, s->parts[i].partition,
                                     s->parts[i].committed) != SPOOL_OK) {
            kafka_host->set_error(s->kt.t, "cannot seek %s/%" PRId32, s->parts[i].topic,
                                  s->parts[i].partition);
            rc = SPOOL_ERR;
            break;
        }
    }
    if (rc == SPOOL_OK)
        kafka_note_up(&s->kt);
out:
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (list != NULL)
        rd_kafka_topic_partition_list_destroy(list);
    free(high);
    free(done);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static spool_rc kafka_open(spool_task *t, void **state)
{
    kafka_sink *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->kt.t = t;
    s->topic = kafka_host->opt_string(t, "topic");
    s->offsets_topic = kafka_host->opt_string(t, "offsets_topic");
    s->timeout_ms = kafka_host->opt_int(t, "transaction_timeout");
    s->lineage = kafka_host->opt_int(t, "lineage_headers") != 0;
    kafka_connector_name(t, s->conn, sizeof(s->conn));
    const char *id = kafka_host->opt_string(t, "transactional_id");
    if (id != NULL && *id != '\0')
        snprintf(s->txn_id, sizeof(s->txn_id), "%s", id);
    else
        snprintf(s->txn_id, sizeof(s->txn_id), "spool-%s", kafka_host->task_name(t));
    spool_rc rc = sink_producer(s);
    if (rc != SPOOL_OK)
        return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->session = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    return sink_read_offsets(s, 1);
}

static spool_rc kafka_put(spool_task *t, void *state, const spool_record *const *recs,
                          size_t n)
{
    kafka_sink *s = state;
    if (s->nrecs + n > s->caprecs) {
        size_t cap = (s->nrecs + n) * 2;
        pending_rec *r = realloc(s->recs, cap * sizeof(*r));
        if (r == NULL)
            return SPOOL_ENOMEM;
        s->recs = r;
        s->caprecs = cap;
    }
    for (size_t i = 0; i < n; i++) {
        const spool_record *r = recs[i];
        int p = sink_part(s, r->topic, r->partition);
        if (p < 0)
            return SPOOL_ENOMEM;
        /* After a flush() that returned SPOOL_RETRY the runtime puts the batch again
         * (plugin.h); the records this sink kept from the first put() are below
         * pending, and must not be kept twice. */
        if (r->offset < s->parts[p].pending)
            continue;
        pending_rec *pr = &s->recs[s->nrecs];
        memset(pr, 0, sizeof(*pr));
        pr->part = p;
        pr->offset = r->offset;
        pr->timestamp_ms = r->timestamp_ms;
        if (r->key != NULL && (pr->key = malloc(r->key_len + 1)) == NULL)
            return SPOOL_ENOMEM;
        if (r->key != NULL) {
            memcpy(pr->key, r->key, r->key_len);
            pr->key_len = r->key_len;
        }
        if (r->value != NULL && (pr->value = malloc(r->value_len + 1)) == NULL)
            return SPOOL_ENOMEM;
        if (r->value != NULL) {
            memcpy(pr->value, r->value, r->value_len);
            pr->value_len = r->value_len;
        }
        if (r->header_count > 0 || s->lineage) {
            pr->headers = rd_kafka_headers_new(r->header_count + 4);
            for (size_t h = 0; h < r->header_count; h++)
                rd_kafka_header_add(pr->headers, r->headers[h].key, -1, r->headers[h].value,
                                    (ssize_t)r->headers[h].value_len);
        }
        if (s->lineage) {
            char num[32];
            rd_kafka_header_add(pr->headers, "spool.topic", -1, r->topic, -1);
            snprintf(num, sizeof(num), "%" PRId32, r->partition);
            rd_kafka_header_add(pr->headers, "spool.partition", -1, num, -1);
            snprintf(num, sizeof(num), "%" PRId64, r->offset);
            rd_kafka_header_add(pr->headers, "spool.offset", -1, num, -1);
        }
        s->nrecs++;
        if (r->offset + 1 > s->parts[p].pending)
            s->parts[p].pending = r->offset + 1;
    }
    return SPOOL_OK;
}

/* Handles a failed transactional call: aborts when the transaction needs it, drops the
 * producer when the error is fatal. Always asks the runtime to retry the flush. */
static spool_rc sink_txn_failed(kafka_sink *s, const char *what, rd_kafka_error_t *e)
{
    kafka_host->set_error(s->kt.t, "kafka transaction %s failed: %s%s", what,
                          rd_kafka_error_string(e),
                          rd_kafka_error_is_fatal(e) ? " (fatal: the producer is rebuilt "
                                                       "from the offsets in Kafka)" : "");
    if (rd_kafka_error_is_fatal(e)) {
        rd_kafka_error_destroy(e);
        kafka_host->log(s->kt.t, SPOOL_LOG_WARN, "kafka transaction %s abandoned: the next "
                        "producer aborts it and sends its records again", s->txn);
        rd_kafka_destroy(s->rk);
        s->rk = NULL;
        return SPOOL_RETRY;
    }
    if (rd_kafka_error_is_retriable(e) && strcmp(what, "commit") == 0) {
        rd_kafka_error_destroy(e);
        return SPOOL_RETRY; /* in_txn stays set: the retry commits again */
    }
    rd_kafka_error_destroy(e);
    rd_kafka_error_t *a = rd_kafka_abort_transaction(s->rk, (int)s->timeout_ms);
    if (a != NULL) {
        /* An abort that cannot finish leaves the producer unusable: rebuild it. */
        kafka_host->log(s->kt.t, SPOOL_LOG_WARN, "aborting the kafka transaction: %s",
                        rd_kafka_error_string(a));
        rd_kafka_error_destroy(a);
        rd_kafka_destroy(s->rk);
        s->rk = NULL;
        kafka_host->log(s->kt.t, SPOOL_LOG_WARN, "kafka transaction %s abandoned: the next "
                        "producer aborts it and sends its records again", s->txn);
    } else {
        kafka_host->log(s->kt.t, SPOOL_LOG_WARN, "kafka transaction %s aborted; its records "
                        "go again in the next one", s->txn);
    }
    s->in_txn = 0;
    return SPOOL_RETRY;
}

/* After a fatal error: a new producer, and the kept records less those that a
 * transaction committed before the error. */
static spool_rc sink_rebuild(kafka_sink *s)
{
    spool_rc rc = sink_producer(s);
    if (rc != SPOOL_OK)
        return rc == SPOOL_ERR ? SPOOL_RETRY : rc;
    for (size_t i = 0; i < s->nparts; i++)
        s->parts[i].committed = -1;
    if ((rc = sink_read_offsets(s, 0)) != SPOOL_OK)
        return rc;
    size_t keep = 0;
    for (size_t i = 0; i < s->nrecs; i++) {
        pending_rec *r = &s->recs[i];
        if (r->offset < s->parts[r->part].committed) {
            free(r->key);
            free(r->value);
            if (r->headers != NULL)
                rd_kafka_headers_destroy(r->headers);
            continue;
        }
        s->recs[keep++] = *r;
    }
    kafka_host->log(s->kt.t, SPOOL_LOG_INFO, "kafka producer rebuilt; %zu of %zu kept records "
                    "were already committed", s->nrecs - keep, s->nrecs);
    s->nrecs = keep;
    for (size_t i = 0; i < s->nrecs; i++)
        if (s->recs[i].offset + 1 > s->parts[s->recs[i].part].pending)
            s->parts[s->recs[i].part].pending = s->recs[i].offset + 1;
    return SPOOL_OK;
}

static spool_rc produce_one(kafka_sink *s, const char *topic, const void *key, size_t klen,
                            const void *val, size_t vlen, rd_kafka_headers_t *hdrs,
                            int64_t ts)
{
    for (;;) {
        rd_kafka_headers_t *h = hdrs != NULL ? rd_kafka_headers_copy(hdrs) : NULL;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
            RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return SPOOL_OK;
        if (h != NULL)
            rd_kafka_headers_destroy(h);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            kafka_host->set_error(s->kt.t, "cannot produce to %s: %s", topic,
                                  rd_kafka_err2str(e));
            return SPOOL_ERR;
        }
        rd_kafka_poll(s->rk, 50);
    }
}

/* One transaction: the kept records, then (once Kafka acknowledged them) the offsets,
 * then the commit. Waiting for the data before sending the offsets costs one round
 * trip and keeps the offsets from ever being ahead of the data, even on a cluster that
 * does not hide aborted transactions from read_committed readers (librdkafka 2.0's mock
 * cluster, on which the tests run). */
static spool_rc kafka_flush(spool_task *t, void *state)
{
    kafka_sink *s = state;
    rd_kafka_error_t *e;
    spool_rc rc;
    if (s->rk == NULL && (rc = sink_rebuild(s)) != SPOOL_OK)
        return rc;
    if (!s->in_txn) {
        int moved = s->nrecs > 0;
        for (size_t i = 0; i < s->nparts && !moved; i++)
            moved = s->parts[i].pending != s->parts[i].committed;
        if (!moved)
            return SPOOL_OK;
        if ((e = rd_kafka_begin_transaction(s->rk)) != NULL)
            return sink_txn_failed(s, "begin", e);
        s->txn_seq++;
        char *txn = s->txn;
        snprintf(s->txn, sizeof(s->txn), "%" PRIx64 "-%" PRIu64, s->session, s->txn_seq);
        for (size_t i = 0; i < s->nrecs; i++) {
            pending_rec *r = &s->recs[i];
            if (s->lineage) {
                rd_kafka_header_remove(r->headers, "spool.txn");
                rd_kafka_header_add(r->headers, "spool.txn", -1, txn, -1);
            }
            if ((rc = produce_one(s, s->topic, r->key, r->key_len, r->value, r->value_len,
                                  r->headers, r->timestamp_ms)) != SPOOL_OK) {
                e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL, "produce failed");
                return sink_txn_failed(s, "produce", e);
            }
        }
        if (rd_kafka_flush(s->rk, (int)s->timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__TIMED_OUT,
                                   "records not acknowledged within transaction_timeout");
            return sink_txn_failed(s, "produce", e);
        }
        for (size_t i = 0; i < s->nparts; i++) {
            part_state *p = &s->parts[i];
            if (p->pending < 0 || p->pending == p->committed)
                continue;
            char key[600], val[32];
            int kn = snprintf(key, sizeof(key), "%s/%s/%" PRId32, s->conn, p->topic,
                              p->partition);
            int vn = snprintf(val, sizeof(val), "%" PRId64, p->pending);
            rd_kafka_headers_t *h = NULL;
            if (s->lineage) {
                h = rd_kafka_headers_new(1);
                rd_kafka_header_add(h, "spool.txn", -1, txn, -1);
            }
            rc = produce_one(s, s->offsets_topic, key, (size_t)kn, val, (size_t)vn, h, 0);
            if (h != NULL)
                rd_kafka_headers_destroy(h);
            if (rc != SPOOL_OK) {
                e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL, "produce failed");
                return sink_txn_failed(s, "produce", e);
            }
        }
        s->in_txn = 1;
    }
    if ((e = rd_kafka_commit_transaction(s->rk, (int)s->timeout_ms)) != NULL)
        return sink_txn_failed(s, "commit", e);
    s->in_txn = 0;
    for (size_t i = 0; i < s->nparts; i++)
        s->parts[i].committed = s->parts[i].pending;
    pending_clear(s);
    kafka_note_up(&s->kt);
    return SPOOL_OK;
}

static void kafka_close(spool_task *t, void *state)
{
    kafka_sink *s = state;
    if (s == NULL)
        return;
    if (s->rk != NULL) {
        if (s->in_txn) {
            rd_kafka_error_t *e = rd_kafka_abort_transaction(s->rk, 5000);
            if (e != NULL)
                rd_kafka_error_destroy(e);
        }
        rd_kafka_destroy(s->rk);
    }
    pending_clear(s);
    free(s->recs);
    for (size_t i = 0; i < s->nparts; i++)
        free(s->parts[i].topic);
    free(s->parts);
    free(s);
}

static const spool_plugin kafka_sink_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "kafka", .version = SPOOL_VERSION_STRING,
    .description = "Writes records to a Kafka topic, exactly once (transactional producer).",
    .kind = SPOOL_KIND_SINK, .delivery = SPOOL_DELIVERY_TRANSACTIONAL,
    .options = sink_options,
    .open = kafka_open, .close = kafka_close, .put = kafka_put, .flush = kafka_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    kafka_host = h;
    return &kafka_sink_plugin;
}

/* kafka_source.c - the kafka source: Kafka topics into a spool topic, exactly once.
 *
 * Usage:
 *
 *     sources:
 *       from-kafka:
 *         connector: kafka
 *         topic: resource-events
 *         config: {bootstrap_servers: "broker:9092", topics: [resource-events]}
 *
 * No consumer group and no commit to Kafka: the task assigns itself every partition of
 * the topics and seeks each to the next offset stored in its source position, which
 * the runtime commits atomically with the records in spool's log. A crash therefore
 * neither loses nor doubles a record. Keys, headers and timestamps are kept; the spool
 * partition is chosen by key. read_committed by default, so aborted transactions of
 * the producers upstream never reach spool.
 *
 * The position is binary: "SPK1", then per partition a 2-byte topic length, the topic,
 * a 4-byte partition and an 8-byte next offset, little-endian. Each record carries the
 * whole position; updating it costs one 8-byte store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_common.h"

static const char *const start_choices[] = {"earliest", "latest", NULL};
static const char *const isolation_choices[] = {"read_committed", "read_uncommitted", NULL};

static const spool_option source_options[] = {
    KAFKA_COMMON_OPTIONS,
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "topics",
     .flags = SPOOL_OPT_REQUIRED, .doc = "Kafka topics to read, all partitions of each."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "start", .default_value = "earliest",
     .choices = start_choices,
     .doc = "Where a partition with no stored position starts."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "isolation",
     .default_value = "read_committed", .choices = isolation_choices,
     .doc = "read_committed skips records of aborted and open transactions."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "stop_at_end",
     .default_value = "false",
     .doc = "End the input once every partition is read to its end (a one-off copy)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch", .default_value = "4096",
     .min = 1, .max = 1000000,
     .doc = "Records emitted per poll at most; the runtime commits to the log after each."},
    {.name = NULL},
};

typedef struct src_part {
    const char *topic;             /* one of the topics option's strings */
    int32_t partition;
    int64_t next;                  /* stored next offset; -1: none */
    size_t pos_off;                /* where its next offset lives in pos */
    int eof;
} src_part;

typedef struct kafka_source {
    kafka_task kt;                 /* first: librdkafka's opaque */
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    src_part *parts;
    size_t nparts;
    unsigned char *pos;
    size_t pos_len;
    int stop_at_end;
    int64_t batch;
    rd_kafka_message_t **msgs;
} kafka_source;

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The stored next offset of topic/partition in a committed position, or -1. */
static int64_t stored_next(const unsigned char *p, size_t len, const char *topic,
                           int32_t partition)
{
    size_t tl = strlen(topic), i = 4;
    if (len < 4 || memcmp(p, "SPK1", 4) != 0)
        return -1;
    while (i + 2 <= len) {
        size_t n = (size_t)get_le(p + i, 2);
        if (i + 2 + n + 12 > len)
            break;
        const unsigned char *t = p + i + 2;
        int32_t part = (int32_t)(uint32_t)get_le(t + n, 4);
        if (n == tl && memcmp(t, topic, n) == 0 && part == partition)
            return (int64_t)get_le(t + n + 4, 8);
        i += 2 + n + 12;
    }
    return -1;
}

/* Where the partitions with no stored position start: the offsets of their low
 * (earliest) or high (latest) watermarks, asked of the brokers before the assignment
 * (ListOffsets with the timestamps -2 and -1, which Kafka defines as the earliest and
 * latest offsets). Assigning librdkafka the logical offsets instead (BEGINNING, END)
 * leaves the lookup to it, once the partition has joined its leader's broker thread;
 * when it has not yet (a race with the metadata just read), or when the lookup fails,
 * librdkafka tries again 500 ms later. By then the other partitions may all be at their
 * end and their next fetch held by the broker for fetch.wait.max.ms; the late lookup
 * and the partition's first fetch wait behind it on the same connection, and a
 * stop_at_end copy waits that long for a partition it has not started to read. With
 * absolute offsets every partition is in the first fetch. Asked three times at most;
 * a partition still unanswered is left to librdkafka, as before. (Not
 * rd_kafka_query_watermark_offsets: in librdkafka 2.0 it can answer both watermarks
 * with the high one when one of its two requests fails, which would skip a partition.) */
static void start_offsets(kafka_source *s, rd_kafka_topic_partition_list_t *list, int latest)
{
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(list->cnt);
    for (int attempt = 0; attempt < 3; attempt++) {
        rd_kafka_topic_partition_list_t *cur = ask;
        ask = rd_kafka_topic_partition_list_new(list->cnt);
        for (int i = 0; i < list->cnt; i++) {
            rd_kafka_topic_partition_t *lp = &list->elems[i];
            if (lp->offset != RD_KAFKA_OFFSET_BEGINNING && lp->offset != RD_KAFKA_OFFSET_END)
                continue;
            rd_kafka_topic_partition_list_add(ask, lp->topic, lp->partition)->offset =
                latest ? -1 : -2; /* the timestamps meaning latest and earliest */
        }
        rd_kafka_topic_partition_list_destroy(cur);
        if (ask->cnt == 0)
            break;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(s->rk, ask, 5000);
        for (int i = 0; i < ask->cnt; i++) {
            rd_kafka_topic_partition_t *ap = &ask->elems[i];
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR && ap->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                ap->offset >= 0)
                rd_kafka_topic_partition_list_find(list, ap->topic, ap->partition)->offset =
                    ap->offset;
            else if (attempt == 2)
                kafka_host->log(s->kt.t, SPOOL_LOG_WARN,
                                "cannot read the %s offset of Kafka partition %s [%" PRId32
                                "] (%s); librdkafka looks it up itself",
                                latest ? "latest" : "earliest", ap->topic, ap->partition,
                                rd_kafka_err2str(e != RD_KAFKA_RESP_ERR_NO_ERROR ? e
                                                                                 : ap->err));
        }
    }
    rd_kafka_topic_partition_list_destroy(ask);
}

static spool_rc source_assign(kafka_source *s, const char *const *topics, int latest)
{
    const void *old = NULL;
    size_t old_len = 0, cap = 0;
    spool_rc rc = SPOOL_RETRY;
    kafka_host->source_position(s->kt.t, &old, &old_len);
    if (old_len > 0 && (old_len < 4 || memcmp(old, "SPK1", 4) != 0)) {
        kafka_host->set_error(s->kt.t, "the stored position is not a kafka source position");
        return SPOOL_EINVAL;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (const char *const *tp = topics; *tp != NULL; tp++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, *tp, NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].err != 0)
            e = md->topics[0].err;
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].partition_cnt == 0) {
            kafka_host->set_error(s->kt.t, "cannot read the partitions of Kafka topic %s: %s",
                                  *tp, rd_kafka_err2str(e));
            if (md != NULL)
                rd_kafka_metadata_destroy(md);
            goto out;
        }
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
            if (s->nparts == cap) {
                cap = cap ? cap * 2 : 16;
                src_part *np = realloc(s->parts, cap * sizeof(*np));
                if (np == NULL) {
                    rd_kafka_metadata_destroy(md);
                    rc = SPOOL_ENOMEM;
                    goto out;
                }
                s->parts = np;
            }
            src_part *p = &s->parts[s->nparts++];
            p->topic = *tp;
            p->partition = md->topics[0].partitions[i].id;
            p->next = stored_next(old, old_len, *tp, p->partition);
            p->eof = 0;
            rd_kafka_topic_partition_list_add(list, *tp, p->partition)->offset =
                p->next >= 0 ? p->next : latest ? RD_KAFKA_OFFSET_END
                                                : RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_metadata_destroy(md);
    }
    /* The position buffer; partitions that never had a record stay at -1 until one
     * comes, so that `start` still applies to them after a restart. */
    size_t len = 4;
    for (size_t i = 0; i < s->nparts; i++)
        len += 2 + strlen(s->parts[i].topic) + 12;
    if ((s->pos = malloc(len)) == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    memcpy(s->pos, "SPK1", 4);
    s->pos_len = 4;
    for (size_t i = 0; i < s->nparts; i++) {
        size_t n = strlen(s->parts[i].topic);
        put_le(s->pos + s->pos_len, n, 2);
        memcpy(s->pos + s->pos_len + 2, s->parts[i].topic, n);
        put_le(s->pos + s->pos_len + 2 + n, (uint32_t)s->parts[i].partition, 4);
        s->parts[i].pos_off = s->pos_len + 2 + n + 4;
        put_le(s->pos + s->parts[i].pos_off, (uint64_t)s->parts[i].next, 8);
        s->pos_len += 2 + n + 12;
    }
    start_offsets(s, list, latest);
    rd_kafka_resp_err_t e = rd_kafka_assign(s->rk, list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kafka_host->set_error(s->kt.t, "cannot assign the partitions: %s", rd_kafka_err2str(e));
        goto out;
    }
    kafka_host->log(s->kt.t, SPOOL_LOG_INFO, "reading %zu Kafka partitions (%s)", s->nparts,
                    old_len > 0 ? "from the stored position" : "no stored position");
    rc = SPOOL_OK;
out:
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

static spool_rc ks_open(spool_task *t, void **state)
{
    char err[512], group[300], conn[256];
    kafka_source *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->kt.t = t;
    s->stop_at_end = kafka_host->opt_int(t, "stop_at_end") != 0;
    s->batch = kafka_host->opt_int(t, "batch");
    if ((s->msgs = calloc((size_t)s->batch, sizeof(*s->msgs))) == NULL)
        return SPOOL_ENOMEM;
    kafka_connector_name(t, conn, sizeof(conn));
    snprintf(group, sizeof(group), "spool-%s", conn);
    /* auto.offset.reset applies when a stored position is no longer in the partition,
     * typically because Kafka's retention deleted records spool had not copied yet.
     * librdkafka's default, latest, would then skip every record still there as well;
     * earliest copies them, and librdkafka logs the reset as a warning. */
    const char *const managed[] = {
        "group.id", group, "enable.auto.commit", "false", "enable.auto.offset.store", "false",
        "enable.partition.eof", "true", "auto.offset.reset", "earliest", "isolation.level",
        kafka_host->opt_int(t, "isolation") == 0 ? "read_committed" : "read_uncommitted",
        NULL};
    rd_kafka_conf_t *conf = kafka_conf_new(&s->kt, managed);
    if (conf == NULL)
        return SPOOL_EINVAL;
    if ((s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL) {
        rd_kafka_conf_destroy(conf);
        kafka_host->set_error(t, "cannot create the Kafka consumer: %s", err);
        return SPOOL_EINVAL;
    }
    s->q = rd_kafka_queue_get_consumer(s->rk);
    return source_assign(s, kafka_host->opt_list(t, "topics", NULL),
                         kafka_host->opt_int(t, "start") == 1);
}

static src_part *source_part(kafka_source *s, const rd_kafka_message_t *m)
{
    if (m->rkt == NULL)
        return NULL; /* a client-wide error event */
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == m->partition && strcmp(s->parts[i].topic, topic) == 0)
            return &s->parts[i];
    return NULL;
}

static spool_rc ks_emit(kafka_source *s, rd_kafka_message_t *m, src_part *p)
{
    spool_header hs[32], *headers = hs;
    rd_kafka_headers_t *kh = NULL;
    size_t nh = 0;
    spool_rc rc;
    if (rd_kafka_message_headers(m, &kh) == RD_KAFKA_RESP_ERR_NO_ERROR && kh != NULL) {
        nh = rd_kafka_header_cnt(kh);
        if (nh > 32 && (headers = calloc(nh, sizeof(*headers))) == NULL)
            return SPOOL_ENOMEM;
        for (size_t i = 0; i < nh; i++) {
            const void *v;
            size_t vl;
            rd_kafka_header_get_all(kh, i, &headers[i].key, &v, &vl);
            headers[i].value = v;
            headers[i].value_len = vl;
        }
    }
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    spool_record rec = {.struct_size = sizeof(rec), .key = m->key, .key_len = m->key_len,
                        .value = m->payload, .value_len = m->len, .headers = headers,
                        .header_count = nh, .timestamp_ms = ts > 0 ? ts : 0,
                        .partition = -1};
    put_le(s->pos + p->pos_off, (uint64_t)(m->offset + 1), 8);
    rc = kafka_host->emit(s->kt.t, &rec, s->pos, s->pos_len);
    if (rc == SPOOL_OK)
        p->next = m->offset + 1;
    else
        put_le(s->pos + p->pos_off, (uint64_t)p->next, 8);
    if (headers != hs)
        free(headers);
    return rc;
}

/* For stop_at_end: whether an end of partition at offset is the partition's end. Only
 * at the high watermark: a read_committed reader also reports an end below it, at the
 * last stable offset, while a transaction upstream is open. The watermark is the one
 * librdkafka cached from the fetch that reported the end; asking the broker instead
 * (rd_kafka_query_watermark_offsets) waits behind the next fetch's long poll on the
 * same connection, up to fetch.wait.max.ms (500 ms) per partition: 8 s at the end of a
 * copy of 16 partitions. */
static int at_high_watermark(kafka_source *s, const src_part *p, int64_t offset)
{
    int64_t lo, hi;
    return rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi) ==
               RD_KAFKA_RESP_ERR_NO_ERROR && hi >= 0 && offset >= hi;
}

static spool_rc ks_poll(spool_task *t, void *state, int timeout_ms)
{
    kafka_source *s = state;
    spool_rc rc = SPOOL_OK;
    rd_kafka_poll(s->rk, 0); /* error callbacks: brokers down */
    ssize_t n = rd_kafka_consume_batch_queue(s->q, timeout_ms, s->msgs, (size_t)s->batch);
    if (n < 0) {
        kafka_host->set_error(t, "cannot consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
        return SPOOL_RETRY;
    }
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = s->msgs[i];
        src_part *p = rc == SPOOL_OK ? source_part(s, m) : NULL;
        if (p == NULL) {
            if (rc == SPOOL_OK && m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
                kafka_host->log(t, SPOOL_LOG_WARN, "consuming: %s",
                                rd_kafka_message_errstr(m));
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            p->eof = !s->stop_at_end || at_high_watermark(s, p, m->offset);
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            kafka_host->log(t, SPOOL_LOG_WARN, "consuming %s [%" PRId32 "]: %s", p->topic,
                            p->partition, rd_kafka_message_errstr(m));
        } else if (m->offset < p->next) {
            /* already emitted: a refetch after a broker came back */
        } else {
            p->eof = 0;
            rc = ks_emit(s, m, p);
            kafka_note_up(&s->kt);
        }
        rd_kafka_message_destroy(m);
    }
    if (rc != SPOOL_OK)
        return rc;
    if (!s->stop_at_end)
        return SPOOL_OK;
    /* A partition whose last record is the one before the high watermark is at its end
     * already: waiting for librdkafka's end of partition would cost a fetch that finds
     * nothing, which the broker holds for fetch.wait.max.ms. (Partitions that never had
     * a record, or end in a transaction marker, still wait for it.) */
    int done = 1;
    for (size_t i = 0; i < s->nparts; i++) {
        src_part *p = &s->parts[i];
        if (!p->eof && p->next >= 0 && at_high_watermark(s, p, p->next))
            p->eof = 1;
        done = done && p->eof;
    }
    return done ? SPOOL_DONE : SPOOL_OK;
}

static void ks_close(spool_task *t, void *state)
{
    kafka_source *s = state;
    if (s == NULL)
        return;
    if (s->q != NULL)
        rd_kafka_queue_destroy(s->q);
    if (s->rk != NULL) {
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    free(s->parts);
    free(s->pos);
    free(s->msgs);
    free(s);
}

static const spool_plugin kafka_source_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "kafka", .version = SPOOL_VERSION_STRING,
    .description = "Reads Kafka topics, exactly once: offsets commit with the records.",
    .kind = SPOOL_KIND_SOURCE, .options = source_options,
    .open = ks_open, .close = ks_close, .poll = ks_poll,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    kafka_host = h;
    return &kafka_source_plugin;
}

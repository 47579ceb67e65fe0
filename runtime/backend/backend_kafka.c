/* backend_kafka.c - topics on Apache Kafka through librdkafka: open, configuration,
 * logging and topic management.
 *
 * The backend keeps one admin handle: a librdkafka consumer without a group.id, with
 * isolation.level=read_committed (so its watermark queries return the last stable
 * offset) and allow.auto.create.topics=false. Topic lookups read the metadata of all
 * topics, never of one by name: on a cluster with auto.create.topics.enable a lookup by
 * name would create the topic with the broker's default partition count.
 *
 * Internal topics, created at open when absent: "GROUP.offsets" (compacted, one
 * partition: the source positions, KIP-618's offsets topic) and "GROUP.sources" (the
 * coordination topic whose partition i stands for source task i; it carries no
 * records). Producers, subscriptions and coordinators are in backend_kafka_io.c.
 *
 * librdkafka 2.0.2's mock cluster, on which the tests run, answers none of the admin
 * requests (CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs): the tests
 * create topics through the mock's own API, and topic_create() succeeds without a
 * request when the topic already exists with the right partition count.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend_kafka_int.h"
#include "util/strutil.h"

/* ---- Logging -------------------------------------------------------------------- */

/* The worker's logger, when the program links it (spool does; unit tests need not). */
void worker_vlog(int level, const char *who, const char *fmt, va_list ap)
    __attribute__((weak));

void kb_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (worker_vlog != NULL) {
        worker_vlog(level, "kafka", fmt, ap);
    } else {
        static const char *const names[] = {"", "ERROR", "WARN ", "INFO ", "DEBUG"};
        if (level <= SPOOL_LOG_INFO) {
            char msg[2048];
            vsnprintf(msg, sizeof(msg), fmt, ap);
            fprintf(stderr, "%s kafka: %s\n",
                    names[level >= 1 && level <= 4 ? level : 3], msg);
        }
    }
    va_end(ap);
}

static void kb_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* The shared properties reach producers and consumers alike: that a producer
     * property does not apply to a consumer is noise. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored") != NULL)
        return;
    /* allow.auto.create.topics cannot reach brokers that speak an old Metadata version
     * (librdkafka's mock cluster): harmless, since spool never asks for one topic's
     * metadata by name. */
    if (strcmp(fac, "AUTOCREATE") == 0)
        level = 7;
    int l = level <= 3 ? SPOOL_LOG_ERROR : level == 4 ? SPOOL_LOG_WARN
            : level <= 6 ? SPOOL_LOG_INFO : SPOOL_LOG_DEBUG;
    kb_log(l, "librdkafka %s: %s", fac, buf);
}

static void kb_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    khandle *h = opaque;
    if (h == NULL)
        return;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (atomic_exchange(&h->down, 1) == 0)
            kb_log(SPOOL_LOG_WARN, "%s: all brokers are down (%s); waiting for them "
                   "(bootstrap.servers %s)", h->what, reason, h->kb->bootstrap);
    } else if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        kb_log(SPOOL_LOG_ERROR, "%s: fatal error: %s", h->what, why);
    } else {
        kb_log(SPOOL_LOG_DEBUG, "%s: %s", h->what, reason);
    }
}

/* ---- Configuration -------------------------------------------------------------- */

/* Properties the backend sets itself: exactly once depends on them. */
static const char *const managed_keys[] = {
    "transactional.id", "enable.idempotence", "group.id", "isolation.level",
    "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset",
    "partition.assignment.strategy", "group.protocol", "enable.partition.eof",
    "allow.auto.create.topics", "client.id", "group.instance.id", NULL};

/* Properties that load code or run commands. */
static const char *const refused_keys[] = {
    "plugin.library.paths", "sasl.kerberos.kinit.cmd", "ssl.engine.location",
    "ssl_engine_callback_data", NULL};

static int in_list(const char *const *list, const char *key)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

rd_kafka_conf_t *kb_conf(kbackend *kb, khandle *h, const char *const *managed, char *err,
                         size_t errlen)
{
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL) {
        util_errf(err, errlen, "kafka: out of memory");
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kb_log_cb);
    rd_kafka_conf_set_error_cb(conf, kb_error_cb);
    rd_kafka_conf_set_opaque(conf, h);
    for (char **p = kb->props; p != NULL && p[0] != NULL; p += 2)
        if (rd_kafka_conf_set(conf, p[0], p[1], e, sizeof(e)) != RD_KAFKA_CONF_OK) {
            util_errf(err, errlen, "kafka: log.properties: %s: %s", p[0], e);
            goto fail;
        }
    if (rd_kafka_conf_set(conf, "client.id", kb->client_id, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", e, sizeof(e)) !=
            RD_KAFKA_CONF_OK) {
        util_errf(err, errlen, "kafka: %s", e);
        goto fail;
    }
    for (; managed != NULL && managed[0] != NULL; managed += 2)
        if (rd_kafka_conf_set(conf, managed[0], managed[1], e, sizeof(e)) !=
            RD_KAFKA_CONF_OK) {
            util_errf(err, errlen, "kafka: %s=%s: %s", managed[0], managed[1], e);
            goto fail;
        }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int kb_is_fenced(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* ---- Admin requests ------------------------------------------------------------- */

/* Runs one admin request already queued on q: waits for its result event of type. */
static rd_kafka_event_t *admin_wait(kbackend *kb, rd_kafka_queue_t *q, int type)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, kb->admin_timeout_ms + 2000);
    while (ev != NULL && rd_kafka_event_type(ev) != type) {
        rd_kafka_event_destroy(ev);
        ev = rd_kafka_queue_poll(q, kb->admin_timeout_ms + 2000);
    }
    return ev;
}

static rd_kafka_AdminOptions_t *admin_opts(kbackend *kb, rd_kafka_admin_op_t op)
{
    char e[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(kb->admin, op);
    if (o != NULL) {
        rd_kafka_AdminOptions_set_request_timeout(o, kb->admin_timeout_ms, e, sizeof(e));
        if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
            op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
            rd_kafka_AdminOptions_set_operation_timeout(o, kb->admin_timeout_ms, e,
                                                        sizeof(e));
    }
    return o;
}

/* The outcome of a topic admin request: the event's error, else the topic's. */
static rd_kafka_resp_err_t admin_topic_result(rd_kafka_event_t *ev,
                                              const rd_kafka_topic_result_t **tr, size_t n,
                                              const char **why)
{
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    *why = rd_kafka_event_error_string(ev);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && n > 0) {
        e = rd_kafka_topic_result_error(tr[0]);
        *why = rd_kafka_topic_result_error_string(tr[0]);
    }
    if (*why == NULL)
        *why = rd_kafka_err2str(e);
    return e;
}

static const char *admin_hint(kbackend *kb)
{
    (void)kb;
    return "; the cluster must allow this client the admin request (ACLs: Create/Alter on "
           "the topic), and librdkafka's mock cluster answers no admin request: create the "
           "topic beforehand there";
}

/* CreateTopics for one topic. configs: name, value, ..., NULL. */
static int admin_create(kbackend *kb, const char *topic, int32_t partitions,
                        const char *const *configs, char *err, size_t errlen)
{
    char e[512];
    int rc = LOG_EIO;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, kb->replication, e,
                                                    sizeof(e));
    if (nt == NULL) {
        util_errf(err, errlen, "kafka: cannot create topic %s: %s", topic, e);
        return SPOOL_EINVAL;
    }
    for (; configs != NULL && configs[0] != NULL; configs += 2)
        rd_kafka_NewTopic_set_config(nt, configs[0], configs[1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(kb->admin);
    rd_kafka_AdminOptions_t *o = admin_opts(kb, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(kb->admin, &nt, 1, o, q);
    rd_kafka_event_t *ev = admin_wait(kb, q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    if (ev == NULL) {
        util_errf(err, errlen, "kafka: cannot create topic %s: no answer from the cluster "
                  "(bootstrap.servers %s) within %d ms%s", topic, kb->bootstrap,
                  kb->admin_timeout_ms, admin_hint(kb));
    } else {
        size_t n;
        const char *why;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t r = admin_topic_result(ev, tr, n, &why);
        if (r == RD_KAFKA_RESP_ERR_NO_ERROR || r == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            rc = SPOOL_OK;
        else if (r == RD_KAFKA_RESP_ERR_INVALID_CONFIG ||
                 r == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS ||
                 r == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
                 r == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
            rc = SPOOL_EINVAL;
        if (rc != SPOOL_OK)
            util_errf(err, errlen, "kafka: cannot create topic %s (%" PRId32 " partitions, "
                      "replication factor %d): %s%s", topic, partitions, kb->replication, why,
                      r == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                              r == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED
                          ? admin_hint(kb) : "");
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int kb_grow_partitions(kbackend *kb, const char *topic, int32_t n, char *err, size_t errlen)
{
    char e[512];
    int rc = LOG_EIO;
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)n, e, sizeof(e));
    if (np == NULL) {
        util_errf(err, errlen, "kafka: cannot grow topic %s: %s", topic, e);
        return SPOOL_EINVAL;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(kb->admin);
    rd_kafka_AdminOptions_t *o = admin_opts(kb, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(kb->admin, &np, 1, o, q);
    rd_kafka_event_t *ev = admin_wait(kb, q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT);
    if (ev == NULL) {
        util_errf(err, errlen, "kafka: cannot grow topic %s to %" PRId32 " partitions: no "
                  "answer from the cluster within %d ms%s", topic, n, kb->admin_timeout_ms,
                  admin_hint(kb));
    } else {
        size_t cnt;
        const char *why;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreatePartitions_result_topics(
            rd_kafka_event_CreatePartitions_result(ev), &cnt);
        rd_kafka_resp_err_t r = admin_topic_result(ev, tr, cnt, &why);
        if (r == RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = SPOOL_OK;
        else
            util_errf(err, errlen, "kafka: cannot grow topic %s to %" PRId32 " partitions: "
                      "%s", topic, n, why);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    return rc;
}

int32_t kb_partitions(kbackend *kb, rd_kafka_t *rk, const char *topic, char *err,
                      size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk != NULL ? rk : kb->admin, 1, NULL, &md,
                                              kb->admin_timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(err, errlen, "kafka: cannot read the cluster's metadata (bootstrap.servers "
                  "%s): %s", kb->bootstrap, rd_kafka_err2str(e));
        return -2;
    }
    int32_t n = -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 &&
            md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Waits until the metadata shows topic with at least n partitions (a new topic takes
 * a moment to reach every broker). */
static int wait_topic(kbackend *kb, const char *topic, int32_t n, char *err, size_t errlen)
{
    for (int waited = 0; waited < kb->admin_timeout_ms; waited += 200) {
        int32_t have = kb_partitions(kb, NULL, topic, err, errlen);
        if (have >= n)
            return SPOOL_OK;
        usleep(200 * 1000);
    }
    util_errf(err, errlen, "kafka: topic %s was created but the cluster's metadata does not "
              "show %" PRId32 " partitions after %d ms", topic, n, kb->admin_timeout_ms);
    return LOG_EIO;
}

/* Creates an internal topic when absent. */
static int ensure_internal(kbackend *kb, const char *topic, const char *const *configs,
                           char *err, size_t errlen)
{
    int32_t n = kb_partitions(kb, NULL, topic, err, errlen);
    if (n == -2)
        return LOG_EIO;
    if (n > 0)
        return SPOOL_OK;
    kb_log(SPOOL_LOG_INFO, "creating internal topic %s", topic);
    int rc = admin_create(kb, topic, 1, configs, err, errlen);
    return rc == SPOOL_OK ? wait_topic(kb, topic, 1, err, errlen) : rc;
}

/* ---- Topics --------------------------------------------------------------------- */

/* known[]'s entry for topic, or NULL. Under kb->lock. */
static struct known_topic *known_find(kbackend *kb, const char *topic)
{
    for (size_t i = 0; i < kb->nknown; i++)
        if (strcmp(kb->known[i].name, topic) == 0)
            return &kb->known[i];
    return NULL;
}

/* Adds or updates topic in known[]: with cfg_known, cfg is what the topic was created
 * with; without, only cfg->partitions is known and an entry that knows more stays. */
static void know(kbackend *kb, const char *topic, const log_topic_config *cfg, int cfg_known)
{
    pthread_mutex_lock(&kb->lock);
    struct known_topic *k = known_find(kb, topic);
    if (k == NULL) {
        struct known_topic *v = realloc(kb->known, (kb->nknown + 1) * sizeof(*v));
        if (v != NULL) {
            kb->known = v;
            if ((v[kb->nknown].name = strdup(topic)) != NULL) {
                k = &v[kb->nknown++];
                k->cfg_known = 0;
            }
        }
    }
    if (k != NULL && (cfg_known || !k->cfg_known)) {
        k->cfg = *cfg;
        k->cfg_known = cfg_known;
    }
    pthread_mutex_unlock(&kb->lock);
}

static void remember(kbackend *kb, const char *topic, const log_topic_config *cfg)
{
    know(kb, topic, cfg, 1);
}

static void forget(kbackend *kb, const char *topic)
{
    pthread_mutex_lock(&kb->lock);
    struct known_topic *k = known_find(kb, topic);
    if (k != NULL) {
        free(k->name);
        *k = kb->known[--kb->nknown];
    }
    pthread_mutex_unlock(&kb->lock);
}

static int k_topic_create(backend *b, const char *topic, const log_topic_config *cfg,
                          char *err, size_t errlen)
{
    kbackend *kb = (kbackend *)b;
    if (!log_topic_name_valid(topic)) {
        util_errf(err, errlen, "kafka: invalid topic name \"%s\": use 1-249 letters, digits, "
                  "'.', '_' or '-'", topic != NULL ? topic : "(null)");
        return SPOOL_EINVAL;
    }
    int32_t want = cfg->partitions > 0 ? cfg->partitions : 1;
    int32_t have = kb_partitions(kb, NULL, topic, err, errlen);
    if (have == -2)
        return LOG_EIO;
    if (have < 0) {
        char v[4][32];
        const char *configs[9];
        int c = 0;
        if (cfg->retention_ms != 0) {
            snprintf(v[0], sizeof(v[0]), "%" PRId64, cfg->retention_ms);
            configs[c++] = "retention.ms";
            configs[c++] = v[0];
        }
        if (cfg->retention_bytes != 0) {
            snprintf(v[1], sizeof(v[1]), "%" PRId64, cfg->retention_bytes);
            configs[c++] = "retention.bytes";
            configs[c++] = v[1];
        }
        if (cfg->segment_bytes > 0) {
            snprintf(v[2], sizeof(v[2]), "%" PRId64, cfg->segment_bytes);
            configs[c++] = "segment.bytes";
            configs[c++] = v[2];
        }
        if (cfg->segment_ms > 0) {
            snprintf(v[3], sizeof(v[3]), "%" PRId64, cfg->segment_ms);
            configs[c++] = "segment.ms";
            configs[c++] = v[3];
        }
        configs[c] = NULL;
        kb_log(SPOOL_LOG_INFO, "creating topic %s: %" PRId32 " partitions, replication "
               "factor %d", topic, want, kb->replication);
        int rc = admin_create(kb, topic, want, configs, err, errlen);
        if (rc != SPOOL_OK)
            return rc;
        if ((rc = wait_topic(kb, topic, 1, err, errlen)) != SPOOL_OK)
            return rc;
        /* Another worker may have created it first, with another count. */
        if ((have = kb_partitions(kb, NULL, topic, err, errlen)) < 0)
            return LOG_EIO;
    }
    if (have != want) {
        util_errf(err, errlen, "kafka: topic %s exists on the cluster with %" PRId32
                  " partitions, the configuration asks for %" PRId32 ": set partitions to %"
                  PRId32 ", or delete the topic (kafka-topics.sh --delete) so that spool "
                  "creates it again (growing a topic would move keys to other partitions)",
                  topic, have, want, have);
        return SPOOL_EINVAL;
    }
    log_topic_config known = *cfg;
    known.partitions = have;
    remember(kb, topic, &known);
    return SPOOL_OK;
}

static int k_topic_delete(backend *b, const char *topic, char *err, size_t errlen)
{
    kbackend *kb = (kbackend *)b;
    int rc = LOG_EIO;
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(kb->admin);
    rd_kafka_AdminOptions_t *o = admin_opts(kb, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(kb->admin, &dt, 1, o, q);
    rd_kafka_event_t *ev = admin_wait(kb, q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
    if (ev == NULL) {
        util_errf(err, errlen, "kafka: cannot delete topic %s: no answer from the cluster "
                  "(bootstrap.servers %s) within %d ms%s", topic, kb->bootstrap,
                  kb->admin_timeout_ms, admin_hint(kb));
    } else {
        size_t n;
        const char *why;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rd_kafka_resp_err_t r = admin_topic_result(ev, tr, n, &why);
        if (r == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = SPOOL_OK;
            forget(kb, topic);
        } else {
            rc = r == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? LOG_ENOTOPIC : LOG_EIO;
            util_errf(err, errlen, "kafka: cannot delete topic %s: %s", topic, why);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

/* The partition count of a topic this process created or checked (known[]), or -1.
 * spool never grows a pipeline's topic, so the count stays what it was. */
static int32_t known_partitions(kbackend *kb, const char *topic)
{
    pthread_mutex_lock(&kb->lock);
    struct known_topic *k = known_find(kb, topic);
    int32_t n = k != NULL ? k->cfg.partitions : -1;
    pthread_mutex_unlock(&kb->lock);
    return n;
}

/* Called for every record a source routes to another topic and for every dead letter:
 * answered from memory once the topic was created or seen by this process, not by a
 * metadata request of the whole cluster each time. */
static int32_t k_topic_partitions(backend *b, const char *topic)
{
    kbackend *kb = (kbackend *)b;
    char err[512];
    int32_t n = known_partitions(kb, topic);
    if (n > 0)
        return n;
    n = kb_partitions(kb, NULL, topic, err, sizeof(err));
    if (n == -2) {
        backend_set_error(b, "%s", err);
        return -1;
    }
    if (n > 0) {
        log_topic_config seen;
        log_topic_config_init(&seen);
        seen.partitions = n;
        know(kb, topic, &seen, 0);
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int k_topic_names(backend *b, char ***names, size_t *count)
{
    kbackend *kb = (kbackend *)b;
    const struct rd_kafka_metadata *md = NULL;
    char prefix[140];
    *names = NULL;
    *count = 0;
    rd_kafka_resp_err_t e = rd_kafka_metadata(kb->admin, 1, NULL, &md, kb->admin_timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        backend_set_error(b, "kafka: cannot list topics (bootstrap.servers %s): %s",
                          kb->bootstrap, rd_kafka_err2str(e));
        return LOG_EIO;
    }
    int plen = snprintf(prefix, sizeof(prefix), "%s.", kb->group);
    char **v = calloc((size_t)md->topic_cnt + 1, sizeof(*v));
    size_t n = 0;
    for (int i = 0; v != NULL && i < md->topic_cnt; i++) {
        const char *t = md->topics[i].topic;
        if (md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR || strncmp(t, "__", 2) == 0 ||
            strncmp(t, prefix, (size_t)plen) == 0)
            continue;
        if ((v[n] = strdup(t)) == NULL) {
            log_names_free(v, n);
            v = NULL;
            break;
        }
        n++;
    }
    rd_kafka_metadata_destroy(md);
    if (v == NULL)
        return SPOOL_ENOMEM;
    qsort(v, n, sizeof(*v), cmp_str);
    *names = v;
    *count = n;
    return SPOOL_OK;
}

/* DescribeConfigs: fills the fields Kafka has of cfg. 0 when answered. */
static int describe(kbackend *kb, const char *topic, log_topic_config *cfg)
{
    int rc = -1;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(kb->admin);
    rd_kafka_AdminOptions_t *o = admin_opts(kb, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(kb->admin, &cr, 1, o, q);
    rd_kafka_event_t *ev = admin_wait(kb, q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
    if (ev != NULL && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        size_t nres, nent;
        const rd_kafka_ConfigResource_t **res = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &nres);
        if (nres == 1 && rd_kafka_ConfigResource_error(res[0]) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const rd_kafka_ConfigEntry_t **ent = rd_kafka_ConfigResource_configs(res[0], &nent);
            for (size_t i = 0; i < nent; i++) {
                const char *name = rd_kafka_ConfigEntry_name(ent[i]);
                const char *val = rd_kafka_ConfigEntry_value(ent[i]);
                if (val == NULL)
                    continue;
                int64_t v = strtoll(val, NULL, 10);
                if (strcmp(name, "retention.ms") == 0)
                    cfg->retention_ms = v;
                else if (strcmp(name, "retention.bytes") == 0)
                    cfg->retention_bytes = v;
                else if (strcmp(name, "segment.bytes") == 0)
                    cfg->segment_bytes = v;
                else if (strcmp(name, "segment.ms") == 0)
                    cfg->segment_ms = v;
            }
            rc = 0;
        }
    }
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}

static int k_topic_config_get(backend *b, const char *topic, log_topic_config *cfg)
{
    kbackend *kb = (kbackend *)b;
    char err[512];
    int32_t n = kb_partitions(kb, NULL, topic, err, sizeof(err));
    if (n == -2) {
        backend_set_error(b, "%s", err);
        return LOG_EIO;
    }
    if (n < 0)
        return LOG_ENOTOPIC;
    log_topic_config_init(cfg);
    int found = 0;
    pthread_mutex_lock(&kb->lock);
    struct known_topic *k = known_find(kb, topic);
    if (k != NULL && k->cfg_known) {
        *cfg = k->cfg;
        found = 1;
    }
    pthread_mutex_unlock(&kb->lock);
    if (!found)
        describe(kb, topic, cfg); /* else what this process created it with */
    cfg->partitions = n;
    return SPOOL_OK;
}

static int watermarks(backend *b, const char *topic, int32_t partition, int64_t *lo,
                      int64_t *hi)
{
    kbackend *kb = (kbackend *)b;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(kb->admin, topic, partition, lo,
                                                             hi, 10000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
        e != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && e != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        backend_set_error(b, "kafka: cannot query the offsets of %s/%" PRId32 ": %s", topic,
                          partition, rd_kafka_err2str(e));
    return -1;
}

static int64_t k_end_offset(backend *b, const char *topic, int32_t partition)
{
    int64_t lo, hi;
    return watermarks(b, topic, partition, &lo, &hi) == 0 ? hi : -1;
}

static int64_t k_start_offset(backend *b, const char *topic, int32_t partition)
{
    int64_t lo, hi;
    return watermarks(b, topic, partition, &lo, &hi) == 0 ? lo : -1;
}

static log_store *k_log(backend *b)
{
    (void)b;
    return NULL;
}

/* ---- Open and close ------------------------------------------------------------- */

static void k_close(backend *b)
{
    kbackend *kb = (kbackend *)b;
    if (kb->admin != NULL)
        rd_kafka_destroy(kb->admin);
    for (char **p = kb->props; p != NULL && *p != NULL; p++)
        free(*p);
    free(kb->props);
    for (size_t i = 0; i < kb->nknown; i++)
        free(kb->known[i].name);
    free(kb->known);
    free(kb->admin_h);
    pthread_mutex_destroy(&kb->lock);
    backend_free_common(b);
    free(kb);
}

static const backend_ops kafka_ops = {
    .close = k_close,
    .log = k_log,
    .topic_create = k_topic_create,
    .topic_delete = k_topic_delete,
    .topic_partitions = k_topic_partitions,
    .topic_names = k_topic_names,
    .topic_config_get = k_topic_config_get,
    .end_offset = k_end_offset,
    .start_offset = k_start_offset,
    .producer_open = kb_producer_open,
    .producer_close = kb_producer_close,
    .producer_position = kb_producer_position,
    .producer_add = kb_producer_add,
    .producer_set_position = kb_producer_set_position,
    .producer_count = kb_producer_count,
    .producer_commit = kb_producer_commit,
    .producer_abort = kb_producer_abort,
    .sub_open = kb_sub_open,
    .sub_close = kb_sub_close,
    .sub_next = kb_sub_next,
    .sub_commit = kb_sub_commit,
    .sub_caught_up = kb_sub_caught_up,
    .sub_wakeup = kb_sub_wakeup,
    .coord_open = kb_coord_open,
    .coord_poll = kb_coord_poll,
    .coord_close = kb_coord_close,
};

/* Copies the properties, refusing those the backend manages or that run code. */
static int copy_props(kbackend *kb, const char *const *props, char *err, size_t errlen)
{
    size_t n = 0;
    while (props != NULL && props[n] != NULL && props[n + 1] != NULL)
        n += 2;
    if ((kb->props = calloc(n + 1, sizeof(char *))) == NULL)
        return SPOOL_ENOMEM;
    for (size_t i = 0; i < n; i += 2) {
        const char *k = props[i], *v = props[i + 1];
        if (in_list(managed_keys, k)) {
            util_errf(err, errlen, "kafka: log.properties: %s is refused: the kafka backend "
                      "sets it itself (exactly once depends on it)", k);
            return SPOOL_EINVAL;
        }
        if (in_list(refused_keys, k) || strstr(k, ".cmd") != NULL) {
            util_errf(err, errlen, "kafka: log.properties: %s is refused: it makes "
                      "librdkafka load code or run a command", k);
            return SPOOL_EINVAL;
        }
        if (strcmp(k, "bootstrap.servers") == 0 || strcmp(k, "metadata.broker.list") == 0)
            snprintf(kb->bootstrap, sizeof(kb->bootstrap), "%s", v);
        if (strcmp(k, "socket.timeout.ms") == 0 && atoi(v) > 0 && atoi(v) < 30000)
            kb->admin_timeout_ms = atoi(v);
        if ((kb->props[i] = strdup(k)) == NULL || (kb->props[i + 1] = strdup(v)) == NULL)
            return SPOOL_ENOMEM;
    }
    return SPOOL_OK;
}

int backend_kafka_open(const backend_config *cfg, backend **out, char *err, size_t errlen)
{
    char e[512];
    int rc;
    const char *group = cfg->group != NULL && *cfg->group != '\0' ? cfg->group : "spool";
    *out = NULL;
    if (!util_name_valid(group, 100)) {
        util_errf(err, errlen, "kafka: invalid log.group \"%s\": use 1-100 letters, digits, "
                  "'.', '_' or '-'", group);
        return SPOOL_EINVAL;
    }
    kbackend *kb = calloc(1, sizeof(*kb));
    if (kb == NULL)
        return SPOOL_ENOMEM;
    backend_init_common(&kb->base, &kafka_ops, BACKEND_KAFKA);
    pthread_mutex_init(&kb->lock, NULL);
    snprintf(kb->group, sizeof(kb->group), "%s", group);
    snprintf(kb->offsets_topic, sizeof(kb->offsets_topic), "%s.offsets", group);
    snprintf(kb->sources_topic, sizeof(kb->sources_topic), "%s.sources", group);
    if (cfg->client_id != NULL && *cfg->client_id != '\0') {
        snprintf(kb->client_id, sizeof(kb->client_id), "%s", cfg->client_id);
    } else {
        char host[64] = "host";
        gethostname(host, sizeof(host) - 1);
        snprintf(kb->client_id, sizeof(kb->client_id), "%s-%ld", host, (long)getpid());
    }
    kb->admin_timeout_ms = 30000;
    if ((rc = copy_props(kb, cfg->properties, err, errlen)) != SPOOL_OK)
        goto fail;
    if (kb->bootstrap[0] == '\0') {
        util_errf(err, errlen, "kafka: log.properties has no bootstrap.servers: name the "
                  "brokers, e.g. bootstrap.servers: \"k1:9092,k2:9092\"");
        rc = SPOOL_EINVAL;
        goto fail;
    }
    if ((kb->admin_h = calloc(1, sizeof(khandle))) == NULL) {
        rc = SPOOL_ENOMEM;
        goto fail;
    }
    kb->admin_h->kb = kb;
    snprintf(kb->admin_h->what, sizeof(kb->admin_h->what), "admin client");
    const char *const managed[] = {"isolation.level", "read_committed",
                                   "enable.auto.commit", "false", NULL};
    rd_kafka_conf_t *conf = kb_conf(kb, kb->admin_h, managed, err, errlen);
    if (conf == NULL) {
        rc = SPOOL_EINVAL;
        goto fail;
    }
    if ((kb->admin = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e))) == NULL) {
        rd_kafka_conf_destroy(conf);
        util_errf(err, errlen, "kafka: cannot create a client: %s", e);
        rc = SPOOL_EINVAL;
        goto fail;
    }
    /* Does the cluster answer? */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t r = rd_kafka_metadata(kb->admin, 1, NULL, &md, 30000);
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(err, errlen, "kafka: the cluster at bootstrap.servers %s did not answer "
                  "within 30 s (%s): check log.properties bootstrap.servers, that the "
                  "brokers run and that this host reaches them", kb->bootstrap,
                  rd_kafka_err2str(r));
        rc = LOG_EIO;
        goto fail;
    }
    kb->brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    kb->replication = cfg->replication_factor == 0 ? 3 : cfg->replication_factor;
    if (kb->replication > kb->brokers) {
        kb_log(SPOOL_LOG_WARN, "log.replication_factor %d is more than the %d broker%s of "
               "the cluster: topics spool creates get replication factor %d",
               kb->replication, kb->brokers, kb->brokers == 1 ? "" : "s", kb->brokers);
        kb->replication = kb->brokers;
    }
    if (kb->replication < 1)
        kb->replication = -1;
    const char *const compact[] = {"cleanup.policy", "compact", NULL};
    if (!cfg->tool &&
        ((rc = ensure_internal(kb, kb->offsets_topic, compact, err, errlen)) != SPOOL_OK ||
         (rc = ensure_internal(kb, kb->sources_topic, NULL, err, errlen)) != SPOOL_OK))
        goto fail;
    *out = &kb->base;
    return SPOOL_OK;
fail:
    k_close(&kb->base);
    return rc;
}

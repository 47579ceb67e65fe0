/* kafka_common.c - librdkafka configuration, property refusal and logging for the
 * kafka source and sink. */
#include <stdio.h>
#include <string.h>

#include "kafka_common.h"

const spool_host *kafka_host;

/* Keys refused outright: they load code or run commands (CVE-2023-25194 and kin). */
static const char *const refused_exact[] = {
    "plugin.library.paths", "sasl.kerberos.kinit.cmd", "ssl.engine.location",
    "ssl.engine.id", "ssl_engine_callback_data", NULL};

/* Keys the connector sets itself: exactly once depends on their values. */
static const char *const managed_keys[] = {
    "bootstrap.servers", "metadata.broker.list", "transactional.id", "enable.idempotence",
    "enable.auto.commit", "enable.auto.offset.store", "isolation.level", "partitioner",
    "group.id", "enable.partition.eof", "transaction.timeout.ms", "auto.offset.reset", NULL};

/* Keys whose values are secrets: only in secret_properties, so they are masked. */
static const char *const secret_keys[] = {
    "sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
    "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", NULL};

static int in(const char *const *list, const char *key)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *kafka_refused(const char *key, int secret_list)
{
    if (in(refused_exact, key))
        return "it loads code or runs a command, which a pipeline may never do";
    if (ends_with(key, ".location") || ends_with(key, ".keytab") ||
        strstr(key, ".cmd") != NULL)
        return "it makes librdkafka read a file or run a command named by the pipeline; "
               "use the options ssl_ca_location, ssl_certificate_location and "
               "ssl_key_location for TLS files";
    if (in(managed_keys, key))
        return "the connector sets it itself (exactly once depends on it); use the "
               "connector's own option where there is one";
    if (!secret_list && in(secret_keys, key))
        return "it is a secret: put it in secret_properties, which is never shown";
    return NULL;
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_task *kt = rd_kafka_opaque(rk);
    /* The shared `properties` reach consumers and producers alike: the warning that a
     * producer property does not apply to a consumer is noise. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored") != NULL)
        level = 7;
    int l = level <= 3 ? SPOOL_LOG_ERROR : level == 4 ? SPOOL_LOG_WARN
            : level <= 6 ? SPOOL_LOG_INFO : SPOOL_LOG_DEBUG;
    kafka_host->log(kt != NULL ? kt->t : NULL, l, "librdkafka %s: %s", fac, buf);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_task *kt = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !kt->down) {
        kt->down = 1;
        kafka_host->log(kt->t, SPOOL_LOG_WARN, "kafka unavailable: all brokers are down "
                        "(%s); waiting for them, nothing is lost or doubled", reason);
    } else if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        kafka_host->log(kt->t, SPOOL_LOG_ERROR, "kafka fatal error: %s", why);
    }
}

void kafka_note_up(kafka_task *kt)
{
    if (kt->down) {
        kt->down = 0;
        kafka_host->log(kt->t, SPOOL_LOG_INFO, "kafka available again");
    }
}

static int conf_set(kafka_task *kt, rd_kafka_conf_t *conf, const char *key, const char *value,
                    int secret)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        /* librdkafka's message may quote the value: never show a secret's. */
        kafka_host->set_error(kt->t, "librdkafka property %s: %s", key,
                              secret ? "invalid value" : err);
        return -1;
    }
    return 0;
}

static int conf_list(kafka_task *kt, rd_kafka_conf_t *conf, const char *option, int secret)
{
    const char *const *props = kafka_host->opt_list(kt->t, option, NULL);
    for (; props != NULL && *props != NULL; props++) {
        char key[256];
        const char *eq = strchr(*props, '=');
        if (eq == NULL || eq == *props || (size_t)(eq - *props) >= sizeof(key)) {
            kafka_host->set_error(kt->t, "%s: an entry is not \"key=value\"%s%s", option,
                                  secret ? "" : ": ", secret ? "" : *props);
            return -1;
        }
        memcpy(key, *props, (size_t)(eq - *props));
        key[eq - *props] = '\0';
        const char *why = kafka_refused(key, secret);
        if (why != NULL) {
            kafka_host->set_error(kt->t, "%s: librdkafka property %s is refused: %s", option,
                                  key, why);
            return -1;
        }
        if (conf_set(kt, conf, key, eq + 1, secret) != 0)
            return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(kafka_task *kt, const char *const *managed)
{
    static const char *const files[][2] = {{"ssl_ca_location", "ssl.ca.location"},
                                           {"ssl_certificate_location",
                                            "ssl.certificate.location"},
                                           {"ssl_key_location", "ssl.key.location"}};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL) {
        kafka_host->set_error(kt->t, "out of memory");
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, kt);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    if (conf_list(kt, conf, "properties", 0) != 0 ||
        conf_list(kt, conf, "secret_properties", 1) != 0)
        goto fail;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *v = kafka_host->opt_string(kt->t, files[i][0]);
        if (v != NULL && *v != '\0' && conf_set(kt, conf, files[i][1], v, 0) != 0)
            goto fail;
    }
    if (conf_set(kt, conf, "bootstrap.servers",
                 kafka_host->opt_string(kt->t, "bootstrap_servers"), 0) != 0)
        goto fail;
    for (; managed != NULL && managed[0] != NULL; managed += 2)
        if (conf_set(kt, conf, managed[0], managed[1], 0) != 0)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

void kafka_connector_name(spool_task *t, char *buf, size_t n)
{
    const char *name = kafka_host->task_name(t), *p = strchr(name, '/');
    snprintf(buf, n, "%s", p != NULL ? p + 1 : name);
    char *last = strrchr(buf, '/');
    if (last != NULL && last[1] >= '0' && last[1] <= '9')
        *last = '\0';
}

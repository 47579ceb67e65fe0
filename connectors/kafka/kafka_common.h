/* kafka_common.h - what the kafka source and sink share: librdkafka configuration from
 * declared options, the refusal of dangerous pass-through properties, and logging.
 *
 * Both plugins pass librdkafka properties through two LIST options of "key=value"
 * strings: `properties` (shown) and `secret_properties` (masked everywhere). A key that
 * would load code, run a command or read a file named by the pipeline is refused, as
 * are the keys the connector manages itself (exactly once depends on them).
 */
#ifndef SPOOL_KAFKA_COMMON_H
#define SPOOL_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>

#include "spool/plugin.h"

/* Set by each plugin's entry point; the runtime's services. */
extern const spool_host *kafka_host;

/* The state of every kafka task starts with this, so librdkafka's callbacks (whose
 * opaque is the state) can find the task. */
typedef struct kafka_task {
    spool_task *t;
    int down;              /* all brokers are down: logged once, until one is back */
} kafka_task;

/* Option table entries both plugins declare, in this order (a macro so each plugin's
 * table stays one static array). */
#define KAFKA_COMMON_OPTIONS                                                                \
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "bootstrap_servers",             \
     .flags = SPOOL_OPT_REQUIRED, .doc = "Kafka brokers to start from: host:port,..."},    \
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "properties",                      \
     .doc = "librdkafka properties as \"key=value\" (compression, acks, security...)."},   \
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "secret_properties",               \
     .flags = SPOOL_OPT_SECRET,                                                            \
     .doc = "librdkafka properties holding secrets (sasl.password...), never shown."},     \
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "ssl_ca_location",               \
     .doc = "CA certificate file for TLS (the one file path allowed)."},                   \
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "ssl_certificate_location",      \
     .doc = "Client certificate file for TLS."},                                           \
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "ssl_key_location",              \
     .doc = "Client private key file for TLS."}

/* Returns NULL when KEY may be passed through, else why it may not (static text). */
const char *kafka_refused(const char *key, int secret_list);

/* A configuration from the common options plus `managed` ("key", "value", ... NULL),
 * which are set last and may not be overridden. Logs and errors go through the task.
 * Returns NULL after host->set_error(). */
rd_kafka_conf_t *kafka_conf_new(kafka_task *kt, const char *const *managed);

/* The connector's name from the task's ("sink/NAME/2" -> "NAME"), into buf. */
void kafka_connector_name(spool_task *t, char *buf, size_t n);

/* Serves librdkafka's events on the calling thread (error callbacks). */
void kafka_note_up(kafka_task *kt);

#endif

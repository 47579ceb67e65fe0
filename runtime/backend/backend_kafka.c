/* backend_kafka.c - topics on Apache Kafka through librdkafka (to be written). */
#include <stdio.h>

#include "backend/backend_int.h"

int backend_kafka_open(const backend_config *cfg, backend **out, char *err, size_t errlen)
{
    (void)cfg;
    *out = NULL;
    snprintf(err, errlen, "the kafka backend is not written yet");
    return SPOOL_EINVAL;
}

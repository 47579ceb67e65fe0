/* mock_cluster.c - a librdkafka mock cluster that other processes reach over TCP.
 *
 *     mock_cluster [BROKERS]
 *
 * Prints the bootstrap servers on the first line of stdout, then reads commands from
 * stdin, one per line, answering each with "ok" or "error ...":
 *
 *     topic NAME PARTITIONS [RF] create a topic (replication factor RF, default 1)
 *     down ID | up ID           take broker ID (1-based) down or bring it back
 *     down all | up all         every broker
 *     error API COUNT CODE      the next COUNT requests of Kafka API key API fail with
 *                               error CODE (e.g. "error 2 1 6": one ListOffsets,
 *                               NOT_LEADER_OR_FOLLOWER)
 *
 * Runs until stdin closes or it is killed. The test scripts keep its stdin on a FIFO.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? atoi(argv[1]) : 1;
    char err[512], line[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    signal(SIGPIPE, SIG_IGN);
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "mock_cluster: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "mock_cluster: cannot create the mock cluster\n");
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char a[256], b[64];
        int parts, api, count, code, rf = 1;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (sscanf(line, "topic %255s %d %d", a, &parts, &rf) >= 2) {
            e = rd_kafka_mock_topic_create(mc, a, parts, rf);
        } else if (sscanf(line, "error %d %d %d", &api, &count, &code) == 3 && count > 0) {
            for (int i = 0; i < count; i++)
                rd_kafka_mock_push_request_errors(mc, (int16_t)api, 1,
                                                  (rd_kafka_resp_err_t)code);
        } else if (sscanf(line, "%255s %63s", a, b) == 2 &&
                   (strcmp(a, "down") == 0 || strcmp(a, "up") == 0)) {
            int all = strcmp(b, "all") == 0;
            for (int id = all ? 1 : atoi(b); id <= (all ? brokers : atoi(b)); id++)
                e = strcmp(a, "down") == 0 ? rd_kafka_mock_broker_set_down(mc, id)
                                           : rd_kafka_mock_broker_set_up(mc, id);
        } else {
            printf("error unknown command: %s", line);
            fflush(stdout);
            continue;
        }
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("error %s\n", rd_kafka_err2str(e));
        else
            printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}

/* bench_kafka.c - records/s of the kafka sink and source against librdkafka's mock
 * cluster, beside librdkafka's own producer and consumer moving the same records.
 *
 *     bench_kafka SPOOL_BINARY [RECORDS]
 *
 * One in-process mock cluster serves every step, in this order: a plain producer and a
 * transactional producer (a commit per 4096 records, the sink's default batch) fill
 * topics "raw" and "rawtx"; a consumer reads "raw" back; `spool run` copies "raw" into a spool topic
 * with the kafka source (stop_at_end), then writes that topic to Kafka topic "out"
 * with the kafka sink. Records are about 200-byte JSON values with 50 distinct keys.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *boot, const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", boot, err, sizeof(err));
    for (; kv != NULL && kv[0] != NULL; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "bench_kafka: %s\n", err);
            exit(1);
        }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "bench_kafka: %s\n", err);
        exit(1);
    }
    return rk;
}

static void produce(const char *boot, const char *topic, long n, int transactional)
{
    static const char *const plain[] = {"linger.ms", "5", "partitioner", "murmur2_random",
                                        NULL};
    static const char *const tx[] = {"linger.ms", "5", "partitioner", "murmur2_random",
                                     "transactional.id", "bench", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, boot, transactional ? tx : plain);
    rd_kafka_error_t *e = transactional ? rd_kafka_init_transactions(rk, 30000) : NULL;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        char key[16], val[256];
        if (transactional && i % 4096 == 0) {
            if (i > 0 && (e = rd_kafka_commit_transaction(rk, 30000)) != NULL)
                break;
            rd_kafka_begin_transaction(rk);
        }
        int kn = snprintf(key, sizeof(key), "res-%ld", i % 50);
        int vn = snprintf(val, sizeof(val),
                          "{\"event_id\":\"bench-%ld\",\"seq\":%ld,\"event\":\"resource_created\","
                          "\"resource_id\":\"%s\",\"user_id\":\"user-%ld\",\"region\":"
                          "\"eu-west-1\",\"size\":8,\"price\":0.100512,\"created_at\":"
                          "1767225600000,\"ts\":1767225600000}", i, i, key, i % 97);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)kn),
                                 RD_KAFKA_V_VALUE(val, (size_t)vn),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    }
    if (transactional && e == NULL)
        e = rd_kafka_commit_transaction(rk, 30000);
    rd_kafka_flush(rk, 60000);
    double dt = now_s() - t0;
    if (e != NULL) {
        fprintf(stderr, "bench_kafka: %s\n", rd_kafka_error_string(e));
        exit(1);
    }
    printf("librdkafka producer%s    : %ld records in %.2f s, %.0f records/s\n",
           transactional ? " (transactional, commit per 4096)" : "                   ", n, dt,
           (double)n / dt);
    rd_kafka_destroy(rk);
}

static void consume(const char *boot, long n)
{
    static const char *const kv[] = {"group.id", "bench", "enable.auto.commit", "false",
                                     NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, boot, kv);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, "raw", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[1000];
    double t0 = now_s();
    long got = 0;
    int eof = 0;
    while (got < n && eof < 30) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 1000, msgs, 1000);
        if (k == 0)
            eof++;
        for (ssize_t i = 0; i < k; i++) {
            if (msgs[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                got++;

            rd_kafka_message_destroy(msgs[i]);
        }
    }
    double dt = now_s() - t0;
    printf("librdkafka consumer (batch, read_committed): %ld records in %.2f s, %.0f "
           "records/s\n", got, dt, (double)got / dt);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The records in topic of the mock cluster (no transaction markers there). */
static long topic_count(rd_kafka_t *rk, const char *topic, int parts)
{
    long sum = 0;
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) == 0)
            sum += (long)(hi - lo);
    }
    return sum;
}

/* Runs `spool run` on yaml and times it: until it exits, or with `watch`, until
 * Kafka topic "out" holds n records (the sink's pipeline has no end of its own). */
static void spool(const char *bin, const char *dir, const char *file, const char *name,
                  const char *yaml, long n, rd_kafka_t *watch)
{
    char path[600], data[600];
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, file);
    snprintf(data, sizeof(data), "%s/data", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(yaml, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        execl(bin, bin, "run", "--log-level", "error", "--data-dir", data, path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (watch != NULL) {
        while (topic_count(watch, "out", 4) < n && waitpid(pid, &st, WNOHANG) == 0)
            usleep(20000);
    } else {
        waitpid(pid, &st, 0);
    }
    double dt = now_s() - t0;
    if (watch != NULL) {
        kill(pid, SIGTERM);
        waitpid(pid, &st, 0);
        if (topic_count(watch, "out", 4) < n) {
            fprintf(stderr, "bench_kafka: %s: topic out is short\n", name);
            exit(1);
        }
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_kafka: %s failed (status %d)\n", name, st);
        exit(1);
    }
    printf("spool %-37s: %ld records in %.2f s, %.0f records/s\n", name, n, dt,
           (double)n / dt);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/bench_kafka.XXXXXX", yaml[2000], cmd[600];
    if (argc < 2) {
        fprintf(stderr, "usage: bench_kafka SPOOL_BINARY [RECORDS]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 200000;
    setvbuf(stdout, NULL, _IOLBF, 0);
    static const char *const quiet[] = {"log_level", "0", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, "", quiet);
    rd_kafka_t *watch = NULL;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_mock_topic_create(mc, "raw", 4, 1);
    rd_kafka_mock_topic_create(mc, "rawtx", 4, 1);
    rd_kafka_mock_topic_create(mc, "out", 4, 1);
    rd_kafka_mock_topic_create(mc, "spool-offsets", 1, 1);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    printf("%ld records of ~200 bytes, mock cluster (1 broker) at %s\n", n, boot);
    watch = client(RD_KAFKA_PRODUCER, boot, NULL);
    produce(boot, "raw", n, 0);
    /* To a topic of its own: after transactional batches the 2.0 mock cluster stalls
     * read_committed consumers (librdkafka's own included). */
    produce(boot, "rawtx", n, 1);
    consume(boot, n);
    snprintf(yaml, sizeof(yaml),
             "topics: {copied: {partitions: 4}}\nsinks: {}\nsources:\n  k:\n"
             "    connector: kafka\n    topic: copied\n"
             "    config: {bootstrap_servers: \"%s\", topics: [raw], stop_at_end: true}\n",
             boot);
    spool(argv[1], dir, "source", "kafka source (raw -> log)", yaml, n, NULL);
    snprintf(yaml, sizeof(yaml),
             "topics: {copied: {partitions: 4}}\nsources: {}\nsinks:\n  k:\n"
             "    connector: kafka\n    topics: [copied]\n"
             "    config: {bootstrap_servers: \"%s\", topic: out, "
             "properties: [\"linger.ms=5\"]}\n", boot);
    spool(argv[1], dir, "sink", "kafka sink (log -> out)", yaml, n, watch);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_kafka: could not remove %s\n", dir);
    rd_kafka_destroy(watch);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}

/* bench_kafka.c - records/s of the kafka source and sink against librdkafka's mock
 * cluster, beside librdkafka's own producer and consumer moving the same records.
 *
 *     bench_kafka SPOOL_BINARY [RECORDS [PARTITIONS]]      (make bench-kafka)
 *
 * One in-process mock cluster (one broker) serves every step, in this order:
 *
 *   1. librdkafka producer, plain: RECORDS records into Kafka topic "raw";
 *   2. librdkafka producer, transactional, a commit per 4096 records (the sink's
 *      transaction: the runtime's default sink batch) into "rawtx";
 *   3. librdkafka consumer, read_committed (the source's default), reads "raw";
 *   4. `spool run` with the kafka source (stop_at_end): "raw" into spool topic "copied",
 *      timed until the process exits, i.e. until the records are committed in the log;
 *      once with the topic's durability `none` (no fsync), then with the default;
 *   5. `spool run` with the kafka sink: "copied" into Kafka topic "out", timed until the
 *      process exits, which it does once the sink has delivered everything: its last
 *      transaction (records and offsets) is committed. A generator source of one record
 *      into a topic of its own gives that pipeline an end.
 *
 * Before them, the sink's pipeline runs once with nothing to deliver, to show the fixed
 * cost (start, init_transactions, reading the offsets topic, stop) that step 5 includes.
 * After each step the records are counted on the other side (the sink's also in the
 * offsets it committed); a short count fails the run.
 *
 * Records are ~200-byte JSON values with 1000 distinct keys, spread by murmur2 over
 * PARTITIONS (default 16) Kafka partitions. The partition count matters: librdkafka
 * 2.0's mock cluster keeps at most 5 MiB (and 100,000 message sets) per partition and
 * deletes the oldest message sets beyond that (rdkafka_mock.c, max_size), so 200,000
 * such records on 4 partitions lose about half of their records before anyone reads
 * them. A reader then stops short for want of records, not for a fault of its own: that
 * was the "read_committed consumer stalls after ~93,000 records" of the first version
 * of this program. Every topic is therefore checked to hold all its records.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define TXN_RECORDS 4096 /* the runtime's default sink batch: one transaction each */
#define KEYS 1000
#define STALL_S 30.0     /* a step that moves nothing for this long fails */

static int nparts = 16;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_kafka: %s\n", what);
    exit(1);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *boot, const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (boot != NULL)
        rd_kafka_conf_set(conf, "bootstrap.servers", boot, err, sizeof(err));
    for (; kv != NULL && kv[0] != NULL; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
            die(err);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (rk == NULL)
        die(err);
    return rk;
}

/* The records Kafka topic holds, from the watermarks (the 2.0 mock cluster writes no
 * transaction markers, so the high watermark counts records). Fails when the mock
 * cluster deleted some: a partition that no longer starts at offset 0. */
static long topic_count(rd_kafka_t *rk, const char *topic)
{
    long sum = 0;
    for (int p = 0; p < nparts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "bench_kafka: watermarks of %s [%d]: %s\n", topic, p,
                    rd_kafka_err2str(e));
            exit(1);
        }
        if (lo != 0) {
            fprintf(stderr, "bench_kafka: the mock cluster deleted the first %" PRId64
                    " records of %s [%d] (it keeps 5 MiB per partition): run with more "
                    "partitions or fewer records\n", lo, topic, p);
            exit(1);
        }
        sum += (long)hi;
    }
    return sum;
}

static void report(const char *name, long n, double dt, double base)
{
    printf("%-46s: %ld records in %6.2f s, %7.0f records/s", name, n, dt, (double)n / dt);
    if (base > 0)
        printf(", %.2f of librdkafka", ((double)n / dt) / base);
    printf("\n");
}

/* Produces n records into topic; transactional: a commit every TXN_RECORDS. Returns
 * records/s. */
static double produce(const char *boot, rd_kafka_t *watch, const char *topic, long n,
                      int transactional)
{
    static const char *const plain[] = {"linger.ms", "5", "partitioner", "murmur2_random",
                                        NULL};
    static const char *const tx[] = {"linger.ms", "5", "partitioner", "murmur2_random",
                                     "transactional.id", "bench", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, boot, transactional ? tx : plain);
    rd_kafka_error_t *e = transactional ? rd_kafka_init_transactions(rk, 30000) : NULL;
    double t0 = now_s();
    for (long i = 0; i < n && e == NULL; i++) {
        char key[16], val[256];
        if (transactional && i % TXN_RECORDS == 0) {
            if (i > 0 && (e = rd_kafka_commit_transaction(rk, 30000)) != NULL)
                break;
            if ((e = rd_kafka_begin_transaction(rk)) != NULL)
                break;
        }
        int kn = snprintf(key, sizeof(key), "res-%ld", i % KEYS);
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
    if (e != NULL)
        die(rd_kafka_error_string(e));
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("the producer did not deliver its records within 60 s");
    double dt = now_s() - t0;
    rd_kafka_destroy(rk);
    long have = topic_count(watch, topic);
    if (have != n) {
        fprintf(stderr, "bench_kafka: topic %s holds %ld records, not %ld\n", topic, have, n);
        exit(1);
    }
    char name[80];
    snprintf(name, sizeof(name), "librdkafka producer%s",
             transactional ? " (transactional, 4096/tx)" : "");
    report(name, n, dt, 0);
    return (double)n / dt;
}

/* Reads topic from the beginning, read_committed, until n records. Returns records/s. */
static double consume(const char *boot, const char *topic, long n)
{
    static const char *const kv[] = {"group.id", "bench", "enable.auto.commit", "false",
                                     "isolation.level", "read_committed", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, boot, kv);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    double t0 = now_s(), last = t0;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[1000];
    long got = 0;
    while (got < n) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 1000, msgs, 1000);
        for (ssize_t i = 0; i < k; i++) {
            if (msgs[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                got++;
            else
                fprintf(stderr, "bench_kafka: consumer: %s\n", rd_kafka_message_errstr(msgs[i]));
            rd_kafka_message_destroy(msgs[i]);
        }
        if (k > 0)
            last = now_s();
        else if (now_s() - last > STALL_S)
            break;
    }
    double dt = now_s() - t0;
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (got != n) {
        fprintf(stderr, "bench_kafka: the consumer read %ld of %ld records\n", got, n);
        exit(1);
    }
    report("librdkafka consumer (read_committed)", n, dt, 0);
    return (double)n / dt;
}

/* Runs `spool run` on yaml (written to DIR/FILE.yaml) with data directory DIR/data.
 * Returns the seconds until it exited 0; fails when it exits otherwise or runs for
 * longer than limit_s. With watch, also sets *out_s to when Kafka topic "out" first
 * held n records (written, not yet known to be committed). */
static double spool_run(const char *bin, const char *dir, const char *file, const char *yaml,
                        double limit_s, rd_kafka_t *watch, long n, double *out_s)
{
    char path[700], data[700];
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, file);
    snprintf(data, sizeof(data), "%s/data-%s", dir, file);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(yaml, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        execl(bin, bin, "run", "--log-level", "warn", "--data-dir", data, path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0) {
        if (watch != NULL && *out_s == 0 && topic_count(watch, "out") >= n)
            *out_s = now_s() - t0;
        if (now_s() - t0 > limit_s) {
            fprintf(stderr, "bench_kafka: %s: spool run still going after %.0f s; "
                    "stopping it\n", file, limit_s);
            kill(pid, SIGTERM);
            waitpid(pid, &st, 0);
            exit(1);
        }
        usleep(watch != NULL ? 5000 : 2000);
    }
    double dt = now_s() - t0;
    if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_kafka: %s: spool run failed (wait status %d)\n", file, st);
        exit(1);
    }
    return dt;
}

/* The records of spool topic in the data directory of step `file`. */
static long spool_count(const char *bin, const char *dir, const char *file, const char *topic)
{
    char cmd[1600], line[64];
    snprintf(cmd, sizeof(cmd), "'%s' consume --data-dir '%s/data-%s' %s | wc -l", bin, dir,
             file, topic);
    FILE *p = popen(cmd, "r");
    if (p == NULL || fgets(line, sizeof(line), p) == NULL)
        die("cannot count the records of the spool topic");
    pclose(p);
    return atol(line);
}

/* The sum of the last offsets the sink committed for keys starting with prefix in the
 * offsets topic ("k/copied/P" -> next offset of spool partition P), read_committed;
 * *records counts those records (one per spool partition a transaction moved). */
static long offsets_sum(const char *boot, const char *prefix, long *records)
{
    static const char *const kv[] = {"group.id", "bench-offsets", "isolation.level",
                                     "read_committed", "enable.partition.eof", "true", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, boot, kv);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "spool-offsets", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    long next[64] = {0}, sum = 0;
    size_t plen = strlen(prefix);
    double t0 = now_s();
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (m == NULL) {
            if (now_s() - t0 > STALL_S)
                die("cannot read the offsets topic to its end");
            continue;
        }
        int end = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->key_len > plen && m->len < 32 &&
            memcmp(m->key, prefix, plen) == 0) {
            char k[16] = {0}, v[32] = {0};
            memcpy(k, (const char *)m->key + plen, m->key_len - plen < 15 ? m->key_len - plen : 15);
            memcpy(v, m->payload, m->len);
            int p = atoi(k);
            if (p >= 0 && p < 64)
                next[p] = atol(v);
            (*records)++;
        }
        rd_kafka_message_destroy(m);
        if (end)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    for (int p = 0; p < 64; p++)
        sum += next[p];
    return sum;
}

/* The pipelines: source reads Kafka topic `from` into spool topic "copied"; sink writes
 * spool topic `copied` into Kafka topic `to`. */
static void source_yaml(char *buf, size_t n, const char *boot, const char *from,
                        const char *durability)
{
    snprintf(buf, n,
             "topics: {copied: {partitions: 4, durability: %s}}\nsinks: {}\nsources:\n"
             "  k:\n    connector: kafka\n    topic: copied\n"
             "    config: {bootstrap_servers: \"%s\", topics: [%s], stop_at_end: true}\n",
             durability, boot, from);
}

static void sink_yaml(char *buf, size_t n, const char *boot, const char *to)
{
    snprintf(buf, n,
             "topics: {copied: {partitions: 4}, tick: {partitions: 1}}\n"
             "sources:\n  end:\n    connector: generator\n    topic: tick\n"
             "    config: {count: 1}\n"
             "sinks:\n  k:\n    connector: kafka\n    topics: [copied]\n"
             "    config: {bootstrap_servers: \"%s\", topic: %s, "
             "properties: [\"linger.ms=5\"]}\n", boot, to);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/bench_kafka.XXXXXX", yaml[2000], cmd[600];
    if (argc < 2) {
        fprintf(stderr, "usage: bench_kafka SPOOL_BINARY [RECORDS [PARTITIONS]]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 200000;
    nparts = argc > 3 ? atoi(argv[3]) : 16;
    if (n <= 0 || nparts <= 0 || nparts > 1000)
        die("RECORDS and PARTITIONS must be positive (PARTITIONS at most 1000)");
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    static const char *const quiet[] = {"log_level", "0", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL, quiet);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (mc == NULL)
        die("cannot start the mock cluster");
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    const char *const topics[] = {"raw", "rawtx", "out", "out0", NULL};
    for (const char *const *t = topics; *t != NULL; t++)
        rd_kafka_mock_topic_create(mc, *t, nparts, 1);
    rd_kafka_mock_topic_create(mc, "spool-offsets", 1, 1);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    rd_kafka_t *watch = client(RD_KAFKA_PRODUCER, boot, NULL);
    printf("%ld records of ~200 bytes, %d keys, %d partitions; mock cluster (1 broker) "
           "at %s\n", n, KEYS, nparts, boot);

    /* The fixed cost of the sink's `spool run` (start, init_transactions, reading the
     * offsets topic, stop), which step 5 includes. */
    sink_yaml(yaml, sizeof(yaml), boot, "out0");
    double start_sink = spool_run(argv[1], dir, "sink0", yaml, 120, NULL, 0, NULL);
    printf("%-46s: %.2f s\n", "spool run of the sink with nothing to deliver", start_sink);

    double plain = produce(boot, watch, "raw", n, 0);
    double tx = produce(boot, watch, "rawtx", n, 1);
    double cons = consume(boot, "raw", n);

    /* The source twice: with the log's default durability (an fdatasync per commit, i.e.
     * per poll of up to 4096 records), then with none, to show what the fsyncs cost. */
    source_yaml(yaml, sizeof(yaml), boot, "raw", "none");
    double dt = spool_run(argv[1], dir, "nosync", yaml, 600, NULL, 0, NULL);
    if (spool_count(argv[1], dir, "nosync", "copied") != n)
        die("the kafka source (durability none) did not copy every record");
    double src_nosync = (double)n / dt;
    source_yaml(yaml, sizeof(yaml), boot, "raw", "batch");
    dt = spool_run(argv[1], dir, "source", yaml, 600, NULL, 0, NULL);
    long copied = spool_count(argv[1], dir, "source", "copied");
    if (copied != n) {
        fprintf(stderr, "bench_kafka: the kafka source copied %ld of %ld records\n", copied, n);
        return 1;
    }
    double src = (double)n / dt;
    report("spool kafka source (Kafka -> log)", n, dt, cons);
    report("  the same, topic durability none", n, (double)n / src_nosync, cons);

    /* The sink step reads the source step's log: the same records. */
    snprintf(cmd, sizeof(cmd), "mv %s/data-source %s/data-sink", dir, dir);
    if (system(cmd) != 0)
        die("cannot move the source step's data directory");
    sink_yaml(yaml, sizeof(yaml), boot, "out");
    double at_hwm = 0;
    dt = spool_run(argv[1], dir, "sink", yaml, 600, watch, n, &at_hwm);
    long out = topic_count(watch, "out");
    if (out != n) {
        fprintf(stderr, "bench_kafka: Kafka topic out holds %ld records, not %ld\n", out, n);
        return 1;
    }
    long offrecs = 0, committed = offsets_sum(boot, "k/copied/", &offrecs);
    if (committed != n) {
        fprintf(stderr, "bench_kafka: the sink's committed offsets cover %ld records, not %ld\n",
                committed, n);
        return 1;
    }
    double snk = (double)n / dt;
    report("spool kafka sink (log -> Kafka, 4096/tx)", n, dt, tx);
    printf("%-46s: %.2f s written (high watermark), %.2f s committed (spool exited)\n",
           "  sink: all records in topic out after", at_hwm, dt);
    printf("%-46s: %ld (one per spool partition a transaction moved)\n",
           "  sink: records in the offsets topic", offrecs);
    printf("%-46s: source/consumer %.2f (durability none: %.2f), sink/transactional "
           "producer %.2f, sink/plain producer %.2f\n", "ratios, this run", src / cons,
           src_nosync / cons, snk / tx, snk / plain);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_kafka: could not remove %s\n", dir);
    rd_kafka_destroy(watch);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}

/* cmd_topics.c - spool topics list|create|describe|delete. */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt.h"
#include "log/log.h"
#include "spool/plugin.h"
#include "tools/tools.h"
#include "tools/tools_int.h"

static const char usage_topics[] =
    "usage: spool topics list     [WHERE]\n"
    "       spool topics describe [WHERE] [TOPIC]\n"
    "       spool topics create   [WHERE] --partitions N [SETTINGS] TOPIC\n"
    "       spool topics delete   [WHERE] TOPIC\n"
    "\n"
    "Lists, describes, creates and deletes the topics of a data directory (default\n"
    "./spool-data) or of a Kafka cluster. On the builtin log, list and describe read\n"
    "beside a running worker; create and delete refuse while a worker holds the\n"
    "directory's lock.\n"
    "\n"
    "WHERE:\n"
    "  --data-dir DIR            the builtin log in DIR\n"
    "  --config FILE             a pipeline file or worker config: its log: block and\n"
    "                            data_dir (kafka: its properties, group, replication)\n"
    "  --bootstrap-servers LIST  Apache Kafka at LIST (host:port,...)\n"
    "\n"
    "describe shows each partition's start and committed end offsets, the topic's\n"
    "settings, and on the builtin log the segments, bytes and each sink's next offset\n"
    "and lag (on Kafka a sink's offsets are its consumer group's).\n"
    "\n"
    "SETTINGS (create):\n"
    "  --segment-bytes SIZE      roll segments past this size (default 128MiB)\n"
    "  --segment-ms DURATION     roll segments older than this (default 7d)\n"
    "  --retention-ms DURATION   delete sealed segments older than this (default: keep)\n"
    "  --retention-bytes SIZE    keep each partition under this size (default: no limit)\n"
    "  --durability MODE         batch (default), interval or none\n"
    "  --flush-interval-ms DUR   interval mode: fdatasync at most this often (default 1s)\n"
    "  --keep-unconsumed         never delete segments a sink has not consumed\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime, 2 usage, 3 storage I/O, 4 corruption.\n";

static int topics_list(backend *b)
{
    char **names = NULL;
    size_t n = 0;
    int rc = backend_topic_names(b, &names, &n);

    if (rc != SPOOL_OK)
        return tools_exit_code(rc);
    for (size_t i = 0; i < n; i++)
        printf("%s\t%d\n", names[i], backend_topic_partitions(b, names[i]));
    log_names_free(names, n);
    return TOOLS_OK;
}

static void describe_sinks(const char *dir, const char *topic, int32_t p, int64_t end)
{
    char *sdir = NULL;
    DIR *d;
    struct dirent *de;

    if (asprintf(&sdir, "%s/sinks", dir) < 0)
        return;
    d = opendir(sdir);
    free(sdir);
    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char name[256], err[512];
        ckpt c;
        int64_t next;
        if (n <= 5 || n - 5 >= sizeof name || strcmp(de->d_name + n - 5, ".ckpt") != 0)
            continue;
        memcpy(name, de->d_name, n - 5);
        name[n - 5] = '\0';
        if (ckpt_load(dir, name, &c, err, sizeof err) != SPOOL_OK) {
            printf("    sink %s: %s\n", name, err);
            continue;
        }
        next = ckpt_get(&c, topic, p);
        if (next >= 0)
            printf("    sink %s: next offset %" PRId64 ", lag %" PRId64 "\n", name, next,
                   end > next ? end - next : 0);
        ckpt_clear(&c);
    }
    if (d)
        closedir(d);
}

/* On Kafka: the partitions' offsets as the cluster has them. */
static void describe_kafka(backend *b, const char *topic, int32_t parts)
{
    for (int32_t p = 0; p < parts; p++)
        printf("  partition %d: start %" PRId64 ", end %" PRId64 " (last stable offset)\n",
               p, backend_start_offset(b, topic, p), backend_end_offset(b, topic, p));
}

static void describe_one(backend *b, const char *dir, const char *topic)
{
    log_topic_config c;
    log_store *s = backend_log(b);
    int32_t parts = backend_topic_partitions(b, topic);

    if (backend_topic_config_get(b, topic, &c) != SPOOL_OK)
        return;
    if (s == NULL) {
        printf("topic %s: %d partitions, retention_ms %" PRId64 ", retention_bytes %" PRId64
               ", segment_bytes %" PRId64 " (Kafka)\n", topic, parts, c.retention_ms,
               c.retention_bytes, c.segment_bytes);
        describe_kafka(b, topic, parts);
        return;
    }
    printf("topic %s: %d partitions, durability %s", topic, parts,
           log_durability_name(c.durability));
    if (c.durability == LOG_DURABILITY_INTERVAL)
        printf(" (every %" PRId64 " ms)", c.flush_interval_ms);
    printf(", segment_bytes %" PRId64 ", segment_ms %" PRId64 ", retention_ms %" PRId64
           ", retention_bytes %" PRId64 "%s\n", c.segment_bytes, c.segment_ms,
           c.retention_ms, c.retention_bytes, c.keep_unconsumed ? ", keep_unconsumed" : "");
    for (int32_t p = 0; p < parts; p++) {
        log_segment_info *segs = NULL;
        size_t n = 0;
        uint64_t bytes = 0;
        int64_t end = log_end_offset(s, topic, p);
        log_partition_segments(s, topic, p, &segs, &n);
        for (size_t i = 0; i < n; i++)
            bytes += segs[i].bytes;
        printf("  partition %d: start %" PRId64 ", end %" PRId64 ", %zu segment(s), %" PRIu64
               " bytes\n", p, log_start_offset(s, topic, p), end, n, bytes);
        for (size_t i = 0; i < n; i++)
            printf("    segment %020" PRId64 ": offsets %" PRId64 "..%" PRId64 ", %" PRIu64
                   " bytes%s\n", segs[i].base, segs[i].base, segs[i].end, segs[i].bytes,
                   segs[i].sealed ? "" : " (active)");
        free(segs);
        describe_sinks(dir, topic, p, end);
    }
}

int tools_topics(int argc, char **argv)
{
    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"segment-bytes", required_argument, NULL, 'b'},
        {"segment-ms", required_argument, NULL, 's'},
        {"retention-ms", required_argument, NULL, 'r'},
        {"retention-bytes", required_argument, NULL, 'R'},
        {"durability", required_argument, NULL, 'D'},
        {"flush-interval-ms", required_argument, NULL, 'f'},
        {"keep-unconsumed", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        TOOLS_TARGET_OPTS,
        {NULL, 0, NULL, 0},
    };
    const char *sub;
    tools_target tt = {0};
    log_topic_config c;
    char err[1024] = "", where[512];
    int opt, rc, code, writes;

    log_topic_config_init(&c);
    c.partitions = 0;
    if (argc < 2) {
        fputs(usage_topics, stderr);
        return TOOLS_USAGE;
    }
    sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(usage_topics, stdout);
        return TOOLS_OK;
    }
    optind = 1;
    while ((opt = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        int64_t v = 0;
        if (tools_target_opt(&tt, opt, optarg))
            continue;
        switch (opt) {
        case 'h':
            fputs(usage_topics, stdout);
            return TOOLS_OK;
        case 'k':
            c.keep_unconsumed = 1;
            break;
        case 'D':
            rc = log_durability_parse(optarg);
            if (rc < 0) {
                fprintf(stderr, "spool topics: --durability must be batch, interval or "
                        "none, not \"%s\"\n", optarg);
                return TOOLS_USAGE;
            }
            c.durability = (log_durability)rc;
            break;
        case 'p': case 'b': case 's': case 'r': case 'R': case 'f':
            if (tools_parse_num(optarg, opt == 's' || opt == 'r' || opt == 'f', &v) != 0 ||
                v < 0 || (opt == 'p' && v > INT32_MAX)) {
                fprintf(stderr, "spool topics: bad value \"%s\" for --%s\n", optarg,
                        opts[opt == 'p' ? 0 : opt == 'b' ? 1 : opt == 's' ? 2 : opt == 'r' ? 3
                                 : opt == 'R' ? 4 : 6].name);
                return TOOLS_USAGE;
            }
            if (opt == 'p')
                c.partitions = (int32_t)v;
            else if (opt == 'b')
                c.segment_bytes = v;
            else if (opt == 's')
                c.segment_ms = v;
            else if (opt == 'r')
                c.retention_ms = v;
            else if (opt == 'R')
                c.retention_bytes = v;
            else
                c.flush_interval_ms = v;
            break;
        default:
            fputs(usage_topics, stderr);
            return TOOLS_USAGE;
        }
    }
    optind++; /* back to argv's numbering */
    writes = strcmp(sub, "create") == 0 || strcmp(sub, "delete") == 0;
    if (!writes && strcmp(sub, "list") != 0 && strcmp(sub, "describe") != 0) {
        fprintf(stderr, "spool topics: unknown subcommand \"%s\"\n\n%s", sub, usage_topics);
        return TOOLS_USAGE;
    }
    if ((writes && optind != argc - 1) || (!writes && optind < argc - 1) ||
        (strcmp(sub, "list") == 0 && optind != argc)) {
        fputs(usage_topics, stderr);
        return TOOLS_USAGE;
    }
    if (strcmp(sub, "create") == 0 && c.partitions <= 0) {
        fprintf(stderr, "spool topics create: --partitions N (N >= 1) is required\n");
        return TOOLS_USAGE;
    }
    code = tools_open("topics", &tt, writes);
    if (code != 0) {
        tools_close(&tt);
        return code;
    }
    backend *b = tt.b;
    if (strcmp(sub, "list") == 0) {
        code = topics_list(b);
    } else if (strcmp(sub, "describe") == 0) {
        if (optind < argc) {
            if (backend_topic_partitions(b, argv[optind]) < 0) {
                fprintf(stderr, "spool topics describe: no topic \"%s\" in %s\n",
                        argv[optind], tools_where(&tt, where, sizeof where));
                code = TOOLS_RUNTIME;
            } else {
                describe_one(b, tt.dir, argv[optind]);
                code = TOOLS_OK;
            }
        } else {
            char **names = NULL;
            size_t n = 0;
            backend_topic_names(b, &names, &n);
            for (size_t i = 0; i < n; i++)
                describe_one(b, tt.dir, names[i]);
            log_names_free(names, n);
            code = TOOLS_OK;
        }
    } else if (strcmp(sub, "create") == 0) {
        rc = backend_topic_create(b, argv[optind], &c, err, sizeof err);
        if (rc != SPOOL_OK)
            fprintf(stderr, "spool topics create: %s\n", err);
        else
            printf("created topic %s with %d partitions\n", argv[optind], c.partitions);
        code = tools_exit_code(rc);
    } else {
        rc = backend_topic_delete(b, argv[optind], err, sizeof err);
        if (rc != SPOOL_OK)
            fprintf(stderr, "spool topics delete: %s\n", err);
        else
            printf("deleted topic %s\n", argv[optind]);
        code = tools_exit_code(rc);
    }
    tools_close(&tt);
    return code;
}

/* cmd_consume.c - spool consume TOPIC: committed records to stdout. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool/plugin.h"
#include "tools/tools.h"
#include "tools/tools_int.h"

static const char usage_consume[] =
    "usage: spool consume [--data-dir DIR | --config FILE | --bootstrap-servers LIST]\n"
    "                     [--from-beginning | --offset N | --from-end]\n"
    "                     [--partition N] [--max-records N] [--print-key]\n"
    "                     [--print-offset] [--print-timestamp] [--print-partition] TOPIC\n"
    "\n"
    "Prints the committed records of TOPIC, one value per line, partition by partition,\n"
    "and exits at the committed end. On the builtin log it reads without taking the\n"
    "lock, so it runs beside a worker (and shows what was committed when it started).\n"
    "On Kafka (--bootstrap-servers, or --config with log: {backend: kafka}) it reads\n"
    "read_committed with a plain assignment: no consumer group, nothing committed.\n"
    "Fields asked for come before the value, separated by tabs: partition, offset,\n"
    "timestamp (ms), key. A corrupt batch stops it with exit code 4, naming topic,\n"
    "partition, offset and file position.\n";

/* Where reading starts in each partition: set by assigned(). */
typedef struct consume_start {
    backend *b;
    int64_t offset;
    int from_end;
} consume_start;

static int consume_assigned(void *ctx, backend_part *parts, size_t n)
{
    consume_start *cs = ctx;
    for (size_t i = 0; i < n; i++)
        parts[i].offset = cs->from_end ? backend_end_offset(cs->b, parts[i].topic,
                                                            parts[i].partition)
                                       : cs->offset;
    return 0;
}

static void print_record(const log_record *rec, int32_t p, int pk, int po, int pt, int pp)
{
    if (pp)
        printf("%d\t", p);
    if (po)
        printf("%" PRId64 "\t", rec->offset);
    if (pt)
        printf("%" PRId64 "\t", rec->timestamp_ms);
    if (pk) {
        if (rec->key)
            fwrite(rec->key, 1, rec->key_len, stdout);
        else
            fputs("(null)", stdout);
        putchar('\t');
    }
    if (rec->value)
        fwrite(rec->value, 1, rec->value_len, stdout);
    putchar('\n');
}

/* Prints partition p of topic from where cs says to its committed end (the builtin
 * log: what is committed now; kafka: until caught up with the last stable offset).
 * Returns 0 or an exit code. */
static int consume_partition(backend *b, const char *topic, int32_t p, consume_start *cs,
                             int64_t max, int64_t *printed, int pk, int po, int pt, int pp)
{
    const char *topics[] = {topic};
    backend_sub_opts o = {.name = "spool-consume", .topics = topics, .ntopics = 1,
                          .assigned = consume_assigned, .ctx = cs, .standalone = 1,
                          .only_partition = 1, .partition = p};
    backend_sub *s = NULL;
    char err[1024] = "";
    int kafka = backend_kind_of(b) == BACKEND_KAFKA, rc = SPOOL_OK;
    int rc_open = backend_sub_open(b, &o, &s, err, sizeof err);
    if (rc_open != SPOOL_OK) {
        fprintf(stderr, "spool consume: %s\n", err);
        return tools_exit_code(rc_open);
    }
    while (max < 0 || *printed < max) {
        log_record rec;
        const char *t;
        int32_t part;
        rc = backend_sub_next(s, &rec, &t, &part, kafka ? 500 : 0);
        if (rc == 1) {
            print_record(&rec, part, pk, po, pt, pp);
            (*printed)++;
            continue;
        }
        if (rc < 0 || !kafka || backend_sub_caught_up(s))
            break;
    }
    int code = TOOLS_OK;
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "spool consume: %s\n", backend_sub_error(s));
        code = tools_exit_code(rc);
    }
    backend_sub_close(s);
    return code;
}



int tools_consume(int argc, char **argv)
{
    static const struct option opts[] = {
        TOOLS_TARGET_OPTS,
        {"from-beginning", no_argument, NULL, 'b'},
        {"from-end", no_argument, NULL, 'e'},
        {"offset", required_argument, NULL, 'o'},
        {"partition", required_argument, NULL, 'p'},
        {"max-records", required_argument, NULL, 'm'},
        {"max", required_argument, NULL, 'm'},
        {"print-key", no_argument, NULL, 'K'},
        {"print-offset", no_argument, NULL, 'O'},
        {"print-timestamp", no_argument, NULL, 'T'},
        {"print-partition", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *topic;
    tools_target tt = {0};
    int64_t offset = 0, part = -1, max = -1, printed = 0;
    int from_end = 0, pk = 0, po = 0, pt = 0, pp = 0, opt, code = TOOLS_OK;
    char where[512];
    int32_t parts;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (tools_target_opt(&tt, opt, optarg))
            continue;
        switch (opt) {
        case 'b':
            offset = 0;
            from_end = 0;
            break;
        case 'e':
            from_end = 1;
            break;
        case 'o': case 'p': case 'm': {
            int64_t v;
            if (tools_parse_num(optarg, 0, &v) != 0) {
                fprintf(stderr, "spool consume: bad number \"%s\"\n", optarg);
                return TOOLS_USAGE;
            }
            if (opt == 'o')
                offset = v;
            else if (opt == 'p')
                part = v;
            else
                max = v;
            break;
        }
        case 'K':
            pk = 1;
            break;
        case 'O':
            po = 1;
            break;
        case 'T':
            pt = 1;
            break;
        case 'P':
            pp = 1;
            break;
        case 'h':
            fputs(usage_consume, stdout);
            return TOOLS_OK;
        default:
            fputs(usage_consume, stderr);
            return TOOLS_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage_consume, stderr);
        return TOOLS_USAGE;
    }
    topic = argv[optind];
    code = tools_open("consume", &tt, 0);
    if (code != 0) {
        tools_close(&tt);
        return code;
    }
    parts = backend_topic_partitions(tt.b, topic);
    if (parts <= 0 || part >= parts) {
        fprintf(stderr, "spool consume: no %s \"%s\"%s in %s\n",
                parts <= 0 ? "topic" : "partition of", topic, "",
                tools_where(&tt, where, sizeof where));
        code = TOOLS_RUNTIME;
        goto out;
    }
    consume_start cs = {.b = tt.b, .offset = offset, .from_end = from_end};
    for (int32_t p = part >= 0 ? (int32_t)part : 0;
         p < (part >= 0 ? (int32_t)part + 1 : parts) && (max < 0 || printed < max) &&
         code == TOOLS_OK; p++)
        code = consume_partition(tt.b, topic, p, &cs, max, &printed, pk, po, pt, pp);
out:
    fflush(stdout);
    tools_close(&tt);
    return code;
}

/* cmd_produce.c - spool produce TOPIC: lines from stdin as records. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool/plugin.h"
#include "tools/tools.h"
#include "tools/tools_int.h"

#define PRODUCE_BATCH 10000

static const char usage_produce[] =
    "usage: spool produce [--data-dir DIR | --config FILE | --bootstrap-servers LIST]\n"
    "                     [--key-field NAME | --key-separator SEP] [--partition N] TOPIC\n"
    "\n"
    "Appends each line of standard input to TOPIC as one record (without its newline),\n"
    "committing every 10000 lines and at the end. Records with a key go to the\n"
    "partition Kafka's default partitioner picks; without a key, round robin.\n"
    "On the builtin log it refuses while a worker holds the data directory's lock; on\n"
    "Kafka each commit is one transaction.\n"
    "\n"
    "  --key-field NAME     lines are JSON objects; the key is field NAME (a string as\n"
    "                       is, anything else as compact JSON; absent: no key)\n"
    "  --key-separator SEP  the key is what comes before the first SEP, the value after\n"
    "  --partition N        every record to partition N\n";

static int64_t produce_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tools_produce(int argc, char **argv)
{
    static const struct option opts[] = {
        TOOLS_TARGET_OPTS,
        {"key-field", required_argument, NULL, 'k'},
        {"key-separator", required_argument, NULL, 's'},
        {"partition", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *key_field = NULL, *sep = NULL, *topic;
    int64_t fixed = -1;
    tools_target tt = {0};
    backend_producer *txn = NULL;
    char err[1024] = "", where[512], *line = NULL;
    size_t cap = 0, pending = 0, total = 0, rr = 0;
    ssize_t n;
    int32_t parts;
    int opt, rc, code = TOOLS_OK;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (tools_target_opt(&tt, opt, optarg))
            continue;
        switch (opt) {
        case 'k':
            key_field = optarg;
            break;
        case 's':
            sep = optarg;
            break;
        case 'p':
            if (tools_parse_num(optarg, 0, &fixed) != 0 || fixed > INT32_MAX) {
                fprintf(stderr, "spool produce: bad --partition \"%s\"\n", optarg);
                return TOOLS_USAGE;
            }
            break;
        case 'h':
            fputs(usage_produce, stdout);
            return TOOLS_OK;
        default:
            fputs(usage_produce, stderr);
            return TOOLS_USAGE;
        }
    }
    if (optind != argc - 1 || (key_field && sep) || (sep && *sep == '\0')) {
        fputs(usage_produce, stderr);
        return TOOLS_USAGE;
    }
    topic = argv[optind];
    code = tools_open("produce", &tt, 1);
    if (code != 0) {
        tools_close(&tt);
        return code;
    }
    parts = backend_topic_partitions(tt.b, topic);
    if (parts <= 0 || fixed >= parts) {
        fprintf(stderr, "spool produce: %s in %s; create it with 'spool topics create'\n",
                parts <= 0 ? "no such topic" : "no such partition",
                tools_where(&tt, where, sizeof where));
        code = TOOLS_RUNTIME;
        goto out;
    }
    /* Its own id: on Kafka a transactional id, so two runs must not share one. */
    char id[64];
    snprintf(id, sizeof id, "spool-produce-%ld", (long)getpid());
    rc = backend_producer_open(tt.b, id, &txn, err, sizeof err);
    if (rc != SPOOL_OK) {
        fprintf(stderr, "spool produce: %s\n", err);
        code = tools_exit_code(rc);
        goto out;
    }
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        log_record r = {0};
        char *keybuf = NULL;
        int32_t p;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        r.value = line;
        r.value_len = (size_t)n;
        r.timestamp_ms = produce_now_ms();
        if (sep != NULL) {
            char *at = strstr(line, sep);
            if (at != NULL) {
                r.key = line;
                r.key_len = (size_t)(at - line);
                r.value = at + strlen(sep);
                r.value_len = (size_t)n - r.key_len - strlen(sep);
            }
        } else if (key_field != NULL) {
            json_error_t je;
            json_t *doc = json_loadb(line, (size_t)n, 0, &je), *f;
            f = json_is_object(doc) ? json_object_get(doc, key_field) : NULL;
            if (json_is_string(f))
                keybuf = strdup(json_string_value(f));
            else if (f != NULL)
                keybuf = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(doc);
            if (keybuf != NULL) {
                r.key = keybuf;
                r.key_len = strlen(keybuf);
            }
        }
        p = fixed >= 0 ? (int32_t)fixed
            : r.key ? log_partition_for_key(r.key, r.key_len, parts)
                    : (int32_t)(rr++ % (size_t)parts);
        rc = backend_producer_add(txn, topic, p, &r);
        free(keybuf);
        if (rc != SPOOL_OK) {
            fprintf(stderr, "spool produce: line %zu cannot be added (%d)\n", total + 1, rc);
            code = TOOLS_RUNTIME;
            goto out;
        }
        total++;
        if (++pending >= PRODUCE_BATCH) {
            rc = backend_producer_commit(txn);
            if (rc != SPOOL_OK)
                goto commit_failed;
            pending = 0;
        }
    }
    rc = backend_producer_commit(txn);
    if (rc != SPOOL_OK)
        goto commit_failed;
    fprintf(stderr, "spool produce: %zu records committed to %s\n", total, topic);
    goto out;
commit_failed:
    fprintf(stderr, "spool produce: commit failed: %s\n", backend_producer_error(txn));
    code = tools_exit_code(rc);
out:
    free(line);
    backend_producer_close(txn);
    tools_close(&tt);
    return code;
}

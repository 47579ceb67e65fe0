/* cmd_consume.c - spool consume TOPIC: committed records to stdout. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "spool/plugin.h"
#include "tools/tools.h"
#include "tools/tools_int.h"

static const char usage_consume[] =
    "usage: spool consume [--data-dir DIR] [--from-beginning | --offset N | --from-end]\n"
    "                     [--partition N] [--max-records N] [--print-key]\n"
    "                     [--print-offset] [--print-timestamp] [--print-partition] TOPIC\n"
    "\n"
    "Prints the committed records of TOPIC, one value per line, partition by partition,\n"
    "and exits at the committed end. Reads without taking the lock, so it runs beside a\n"
    "worker (and shows what was committed when it started). Fields asked for come before\n"
    "the value, separated by tabs: partition, offset, timestamp (ms), key.\n"
    "A corrupt batch stops it with exit code 4, naming topic, partition, offset and\n"
    "file position.\n";

int tools_consume(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
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
    const char *dir = TOOLS_DEFAULT_DATA_DIR, *topic;
    int64_t offset = 0, part = -1, max = -1, printed = 0;
    int from_end = 0, pk = 0, po = 0, pt = 0, pp = 0, opt, rc, code = TOOLS_OK;
    log_open_opts oo = {.read_only = 1};
    log_store *s = NULL;
    char err[1024] = "";
    int32_t parts;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
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
    rc = log_open_ex(dir, &oo, &s, err, sizeof err);
    if (rc != SPOOL_OK)
        return tools_open_failed("consume", rc, err, 0);
    parts = log_topic_partitions(s, topic);
    if (parts <= 0 || part >= parts) {
        fprintf(stderr, "spool consume: no %s \"%s\"%s in %s\n",
                parts <= 0 ? "topic" : "partition of", topic, "", dir);
        code = TOOLS_RUNTIME;
        goto out;
    }
    for (int32_t p = part >= 0 ? (int32_t)part : 0;
         p < (part >= 0 ? (int32_t)part + 1 : parts) && (max < 0 || printed < max); p++) {
        log_reader *r = NULL;
        log_record rec;
        int64_t at = from_end ? log_end_offset(s, topic, p) : offset;
        rc = log_reader_open(s, topic, p, at, &r);
        if (rc != SPOOL_OK) {
            code = tools_exit_code(rc);
            goto out;
        }
        while ((max < 0 || printed < max) && (rc = log_reader_next(r, &rec)) == 1) {
            if (pp)
                printf("%d\t", p);
            if (po)
                printf("%" PRId64 "\t", rec.offset);
            if (pt)
                printf("%" PRId64 "\t", rec.timestamp_ms);
            if (pk) {
                if (rec.key)
                    fwrite(rec.key, 1, rec.key_len, stdout);
                else
                    fputs("(null)", stdout);
                putchar('\t');
            }
            if (rec.value)
                fwrite(rec.value, 1, rec.value_len, stdout);
            putchar('\n');
            printed++;
        }
        if (rc < 0) {
            fflush(stdout);
            fprintf(stderr, "spool consume: %s\n", log_reader_error(r));
            code = tools_exit_code(rc);
            log_reader_close(r);
            goto out;
        }
        log_reader_close(r);
    }
out:
    fflush(stdout);
    log_close(s);
    return code;
}

/* cmd_verify.c - spool verify: fsck of a data directory, and the explicit repair. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "spool/plugin.h"
#include "tools/tools.h"
#include "tools/tools_int.h"

static const char usage_verify[] =
    "usage: spool verify [--data-dir DIR] [--quiet] [--repair]\n"
    "\n"
    "Checks every segment (the CRC of every batch, offsets without gaps), every index and\n"
    "the commit record of a data directory, and reports what it found, naming file, byte\n"
    "position and offsets. Reads only, so it runs beside a worker.\n"
    "\n"
    "  --quiet    report damage only\n"
    "  --repair   (stopped pipelines only) cut each damaged partition back to its last\n"
    "             good batch, after copying the damaged segments to DIR/quarantine/;\n"
    "             the records past the damage are dropped from the log. Never automatic.\n"
    "\n"
    "Exit codes: 0 clean (or repaired), 3 storage I/O, 4 corruption found.\n";

typedef struct verify_ctx {
    int quiet;
} verify_ctx;

static void verify_print(void *ctx, const log_finding *f)
{
    verify_ctx *v = ctx;
    FILE *out = f->kind ? stderr : stdout;

    if (v->quiet && f->kind == 0)
        return;
    fprintf(out, "%s", f->kind ? "DAMAGE " : "ok     ");
    if (f->topic)
        fprintf(out, "%s/%d: ", f->topic, f->partition);
    fprintf(out, "%s", f->file);
    if (f->kind)
        fprintf(out, " at byte %" PRIu64 ", offset %" PRId64, f->position, f->offset);
    fprintf(out, ": %s\n", f->what);
}

int tools_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"repair", no_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = TOOLS_DEFAULT_DATA_DIR;
    verify_ctx v = {0};
    char err[1024] = "";
    int repair = 0, opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'r':
            repair = 1;
            break;
        case 'q':
            v.quiet = 1;
            break;
        case 'h':
            fputs(usage_verify, stdout);
            return TOOLS_OK;
        default:
            fputs(usage_verify, stderr);
            return TOOLS_USAGE;
        }
    }
    if (optind != argc) {
        fputs(usage_verify, stderr);
        return TOOLS_USAGE;
    }
    rc = log_verify(dir, repair, verify_print, &v, err, sizeof err);
    if (rc == LOG_ELOCKED) {
        fprintf(stderr, "spool verify: refused: %s\n", err);
        return TOOLS_RUNTIME;
    }
    if (err[0])
        fprintf(stderr, "spool verify: %s\n", err);
    if (rc == LOG_ECORRUPT)
        fprintf(stderr, "spool verify: %s: corruption found (see DAMAGE lines)%s\n", dir,
                repair ? "" : "; 'spool verify --repair' cuts it out on a stopped pipeline");
    else if (rc == SPOOL_OK)
        printf("spool verify: %s: clean\n", dir);
    return tools_exit_code(rc);
}

/* test_linefile.c - the linefile sink under the kit: exactly once across a crash. */
#include <spool/kit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK(%s) failed; kit says: %s\n", \
                                __FILE__, __LINE__, #cond, k ? spool_kit_error(k) : err); \
                        exit(1); } } while (0)

static void put_range(spool_kit *k, int from, int to)
{
    char err[8] = "";
    for (int i = from; i < to; i++) {
        char value[32];
        snprintf(value, sizeof(value), "line %d", i);
        CHECK(spool_kit_put_value(k, "lines", 0, value) == SPOOL_OK);
    }
}

int main(int argc, char **argv)
{
    char err[1024] = "", path[] = "/tmp/linefile-test-XXXXXX", line[64];
    spool_kit *k = NULL;
    CHECK(argc == 2);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    k = spool_kit_load(argv[1], err, sizeof(err));
    CHECK(k != NULL);
    CHECK(spool_kit_plugin(k)->delivery == SPOOL_DELIVERY_RESUMABLE);
    CHECK(spool_kit_option(k, "path")->flags & SPOOL_OPT_REQUIRED);
    CHECK(spool_kit_open(k) == SPOOL_EINVAL);              /* path is required */

    CHECK(spool_kit_set(k, "path", path) == SPOOL_OK);
    CHECK(spool_kit_open(k) == SPOOL_OK);
    put_range(k, 0, 5);
    CHECK(spool_kit_flush(k) == SPOOL_OK);
    put_range(k, 5, 8);                                     /* written, not flushed */
    spool_kit_crash(k);

    /* Reopened, the sink is back at the checkpoint: 5 lines, offset 5 next. */
    CHECK(spool_kit_open(k) == SPOOL_OK);
    CHECK(spool_kit_next_offset(k, "lines", 0) == 5);
    put_range(k, 5, 10);
    CHECK(spool_kit_flush(k) == SPOOL_OK);
    spool_kit_close(k);

    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    for (int i = 0; i < 10; i++) {
        char want[32];
        snprintf(want, sizeof(want), "line %d\n", i);
        CHECK(fgets(line, sizeof(line), f) != NULL && strcmp(line, want) == 0);
    }
    CHECK(fgets(line, sizeof(line), f) == NULL);            /* nothing doubled */
    fclose(f);
    unlink(path);
    CHECK(spool_kit_violations(k) == 0);
    spool_kit_free(k);
    printf("linefile: 10 lines, each once across a crash\n");
    return 0;
}

/* test_counter.c - the counter source under the kit: every line once, across a crash. */
#include <spool/kit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK(%s) failed; kit says: %s\n", \
                                __FILE__, __LINE__, #cond, k ? spool_kit_error(k) : err); \
                        exit(1); } } while (0)

int main(int argc, char **argv)
{
    char err[1024] = "";
    spool_kit *k = NULL;
    CHECK(argc == 2);
    k = spool_kit_load(argv[1], err, sizeof(err));
    CHECK(k != NULL);

    /* The declared options: types and defaults as the docs promise. */
    CHECK(spool_kit_option(k, "count")->type == SPOOL_OPT_INT);
    CHECK(strcmp(spool_kit_option(k, "batch")->default_value, "10") == 0);
    CHECK(spool_kit_set(k, "count", "-1") == SPOOL_EINVAL);    /* below its min */

    /* 25 lines, 10 per poll; a crash after the first commit loses the second poll's. */
    CHECK(spool_kit_set(k, "count", "25") == SPOOL_OK);
    CHECK(spool_kit_open(k) == SPOOL_OK);
    CHECK(spool_kit_poll(k, 100) == SPOOL_OK);
    CHECK(spool_kit_commit(k) == SPOOL_OK);
    CHECK(spool_kit_poll(k, 100) == SPOOL_OK);
    CHECK(spool_kit_record_count(k) == 20);
    spool_kit_crash(k);
    CHECK(spool_kit_record_count(k) == 10);

    /* Restarted, it resumes after line 9 and ends at 24: each line exactly once. */
    CHECK(spool_kit_open(k) == SPOOL_OK);
    CHECK(spool_kit_run_source(k, 10, 100) == SPOOL_OK);
    CHECK(spool_kit_committed_count(k) == 25);
    for (size_t i = 0; i < 25; i++) {
        char want[32];
        const spool_record *r = spool_kit_record(k, i);
        int n = snprintf(want, sizeof(want), "line %zu", i);
        CHECK(r->value_len == (size_t)n && memcmp(r->value, want, (size_t)n) == 0);
    }
    CHECK(spool_kit_violations(k) == 0);
    spool_kit_free(k);
    printf("counter: 25 lines, each once across a crash\n");
    return 0;
}

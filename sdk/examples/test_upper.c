/* test_upper.c - the upper transform under the kit. */
#include <spool/kit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK(%s) failed; kit says: %s\n", \
                                __FILE__, __LINE__, #cond, k ? spool_kit_error(k) : err); \
                        exit(1); } } while (0)

static spool_record value_record(const char *v)
{
    spool_record r = {.struct_size = sizeof(r), .value = v, .value_len = strlen(v),
                      .key = "k1", .key_len = 2, .topic = "lines", .partition = 0};
    return r;
}

int main(int argc, char **argv)
{
    char err[1024] = "";
    spool_kit *k = NULL;
    CHECK(argc == 2);
    k = spool_kit_load(argv[1], err, sizeof(err));
    CHECK(k != NULL);
    CHECK(spool_kit_option(k, "drop_empty")->type == SPOOL_OPT_BOOL);
    CHECK(spool_kit_set(k, "drop_empty", "maybe") == SPOOL_EINVAL);
    CHECK(spool_kit_set(k, "drop_empty", "true") == SPOOL_OK);
    CHECK(spool_kit_open(k) == SPOOL_OK);

    spool_record r = value_record("line 7, ok");
    CHECK(spool_kit_transform(k, &r) == SPOOL_OK);
    r = value_record("");
    CHECK(spool_kit_transform(k, &r) == SPOOL_OK);         /* dropped */
    CHECK(spool_kit_record_count(k) == 1);
    const spool_record *out = spool_kit_record(k, 0);
    CHECK(out->value_len == 10 && memcmp(out->value, "LINE 7, OK", 10) == 0);
    CHECK(out->key_len == 2 && memcmp(out->key, "k1", 2) == 0);   /* the key stays */
    CHECK(spool_kit_violations(k) == 0);
    spool_kit_free(k);
    printf("upper: upper-cased, empty values dropped\n");
    return 0;
}

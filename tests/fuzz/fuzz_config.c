/* fuzz_config.c - libFuzzer target: arbitrary bytes as a pipeline file.
 *
 * Feeds config_load_string() with the test plugins of tests/unit registered, so the
 * fuzzer reaches option validation, transforms and expansion, not just the YAML
 * layer. Beyond "no crash, no leak, no sanitizer report" it checks the loader's
 * contract on every input: success and a pipeline go together, a failure always says
 * why, each message is one line naming the file, and a loaded pipeline is complete
 * (every connector has its plugin, every option its declaration). A broken contract
 * aborts, which libFuzzer records as a crash with the input that caused it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int test_config_register(loader *l, char *err, size_t errlen);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer offers no per-run context: the registry is built once and only read. */
static loader *fuzz_plugins;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    (void)argc;
    (void)argv;
    fuzz_plugins = loader_new(NULL);
    if (!fuzz_plugins || test_config_register(fuzz_plugins, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "fuzz_config: cannot register test plugins: %s\n", err);
        abort();
    }
    /* Give ${...} something to find, and something to miss. */
    setenv("FUZZ_SET", "42", 1);
    setenv("FUZZ_EMPTY", "", 1);
    return 0;
}

static void fuzz_check_values(const config_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!v[i].decl)
            abort();
        if (v[i].list && v[i].list[v[i].list_len] != NULL)
            abort();
        if (v[i].is_set && !v[i].text)
            abort();
    }
}

static void fuzz_check_connectors(const config_connector *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!c[i].name || !c[i].connector || !c[i].plugin)
            abort();
        if (c[i].kind == SPOOL_KIND_SOURCE && !c[i].topic)
            abort();
        if (c[i].kind == SPOOL_KIND_SINK && (c[i].ntopics == 0 || c[i].topics[c[i].ntopics]))
            abort();
        if (c[i].plugin->desc->kind != (uint32_t)c[i].kind)
            abort();
        fuzz_check_values(c[i].values, c[i].nvalues);
        for (size_t t = 0; t < c[i].ntransforms; t++) {
            if (!c[i].transforms[t].plugin)
                abort();
            fuzz_check_values(c[i].transforms[t].values, c[i].transforms[t].nvalues);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config_pipeline *p = NULL;
    config_diag d = {0};
    int rc = config_load_string("fuzz.yaml", (const char *)data, size, fuzz_plugins, &p, &d);

    if ((rc == SPOOL_OK) != (p != NULL))
        abort();
    if (rc == SPOOL_OK && d.count != 0)
        abort();
    if (rc != SPOOL_OK && d.count == 0)
        abort();
    /* 50 kept, one "N more" line, one "out of memory" line at most. */
    if (d.count > 52)
        abort();
    for (size_t i = 0; i < d.count; i++) {
        if (strncmp(d.messages[i], "fuzz.yaml", 9) != 0 || strchr(d.messages[i], '\n') ||
            strchr(d.messages[i], '\r'))
            abort();
    }
    if (p) {
        for (size_t i = 0; i < p->ntopics; i++)
            if (p->topics[i].partitions < 1 || p->topics[i].partitions > 10000)
                abort();
        fuzz_check_connectors(p->sources, p->nsources);
        fuzz_check_connectors(p->sinks, p->nsinks);
    }
    config_free(p);
    config_diag_clear(&d);
    return 0;
}

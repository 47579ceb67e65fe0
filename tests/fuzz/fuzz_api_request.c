/* fuzz_api_request.c - libFuzzer target: arbitrary bytes as the body of POST /connectors.
 *
 * Runs what the API does with a body (runtime/daemon/connector_json.c): parse it as
 * JSON, turn its config into a one-connector pipeline and load that with the test
 * plugins of tests/unit registered. Beyond "no crash, no leak, no sanitizer report" it
 * checks the contracts: a failure always says why; a success yields exactly one
 * connector of the name given; and the config as the API shows it masks every secret.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_int.h"

int test_config_register(loader *l, char *err, size_t errlen);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static loader *fuzz_plugins;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    (void)argc;
    (void)argv;
    fuzz_plugins = loader_new(NULL);
    if (!fuzz_plugins || test_config_register(fuzz_plugins, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "fuzz_api_request: cannot register test plugins: %s\n", err);
        abort();
    }
    setenv("FUZZ_SECRET", "must-not-leak", 1);
    return 0;
}

static int32_t fuzz_partitions(void *ctx, const char *topic)
{
    (void)ctx;
    return strcmp(topic, "existing") == 0 ? 3 : -1;
}

static int name_ok(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 200)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[4096];
    config_pipeline *p = NULL;
    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    json_t *config = json_object_get(body, "config");
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!json_is_object(config) || !name_ok(name)) {
        json_decref(body);
        return 0;
    }
    err[0] = '\0';
    if (cjson_load(name, config, fuzz_plugins, fuzz_partitions, NULL, &p, err,
                   sizeof(err)) != 0) {
        if (p != NULL || err[0] == '\0')
            abort(); /* a failure always says why, and leaves nothing */
        json_decref(body);
        return 0;
    }
    if (p == NULL || p->nsources + p->nsinks != 1)
        abort();
    const config_connector *cc = p->nsources ? &p->sources[0] : &p->sinks[0];
    if (strcmp(cc->name, name) != 0)
        abort();
    /* Values are literal: the environment is never read. */
    for (size_t i = 0; i < cc->nvalues; i++)
        if (cc->values[i].text != NULL && strstr(cc->values[i].text, "must-not-leak") &&
            memmem(data, size, "must-not-leak", 13) == NULL)
            abort();
    dconn c = {.name = (char *)name, .kind = cc->kind, .config = config, .cc = cc};
    json_t *shown = cjson_show(&c);
    for (size_t i = 0; i < cc->nvalues; i++) {
        const config_value *v = &cc->values[i];
        json_t *s = json_object_get(shown, v->decl->name);
        if ((v->decl->flags & SPOOL_OPT_SECRET) && s != NULL &&
            (!json_is_string(s) || strcmp(json_string_value(s), CJSON_MASK) != 0))
            abort();
    }
    json_decref(shown);
    char *fp = cjson_fingerprint(cc);
    if (fp == NULL)
        abort();
    free(fp);
    config_free(p);
    json_decref(body);
    return 0;
}

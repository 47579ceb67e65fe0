/* tools_common.c - what the data-directory commands share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "spool/plugin.h"
#include "tools/tools_int.h"
#include "util/units.h"

int tools_exit_code(int rc)
{
    switch (rc) {
    case SPOOL_OK:
        return TOOLS_OK;
    case LOG_EIO:
        return TOOLS_STORAGE;
    case LOG_ECORRUPT:
        return TOOLS_CORRUPT;
    case SPOOL_EINVAL:
        return TOOLS_USAGE;
    default:
        return TOOLS_RUNTIME;
    }
}

int tools_open_failed(const char *cmd, int rc, const char *err, int writes)
{
    if (rc == LOG_ELOCKED && writes) {
        fprintf(stderr, "spool %s: refused: a running worker holds the data directory's "
                "lock, and this command writes; stop the pipeline first (%s)\n", cmd, err);
        return TOOLS_RUNTIME;
    }
    fprintf(stderr, "spool %s: %s\n", cmd, err);
    return tools_exit_code(rc);
}

int tools_parse_num(const char *s, int duration, int64_t *out)
{
    int64_t v;
    int rc = duration ? util_parse_duration(s, &v) : util_parse_size(s, &v);

    if (rc != 0) {
        if (util_parse_int(s, &v) != 0)
            return -1;
    }
    *out = v;
    return 0;
}

int tools_target_opt(tools_target *t, int opt, const char *arg)
{
    if (opt == 'd')
        t->data_dir = arg;
    else if (opt == 'C')
        t->config = arg;
    else if (opt == 'B')
        t->bootstrap = arg;
    else
        return 0;
    return 1;
}

int tools_open(const char *cmd, tools_target *t, int writes)
{
    char err[1024] = "";
    size_t extra = t->bootstrap != NULL ? 1 : 0;
    backend_config bc;

    if (t->config != NULL) {
        config_diag d = {0};
        if (config_load_log_file(t->config, &t->log, &t->config_dir, &d) != SPOOL_OK) {
            for (size_t i = 0; i < d.count; i++)
                fprintf(stderr, "spool %s: %s\n", cmd, d.messages[i]);
            config_diag_clear(&d);
            return TOOLS_USAGE;
        }
        config_diag_clear(&d);
    }
    t->dir = t->data_dir != NULL ? t->data_dir
             : t->config_dir != NULL ? t->config_dir : TOOLS_DEFAULT_DATA_DIR;
    if (t->bootstrap != NULL)
        t->log.kind = BACKEND_KAFKA;
    t->props = calloc(2 * (t->log.nproperties + extra) + 1, sizeof(*t->props));
    if (t->props == NULL) {
        fprintf(stderr, "spool %s: out of memory\n", cmd);
        return TOOLS_RUNTIME;
    }
    for (size_t i = 0; i < 2 * t->log.nproperties; i++)
        t->props[i] = t->log.properties[i];
    if (t->bootstrap != NULL) {
        size_t k = 2 * t->log.nproperties;
        t->props[k] = "bootstrap.servers";
        t->props[k + 1] = t->bootstrap;
        t->props[k + 2] = NULL;
    }
    log_open_opts lo = {.read_only = !writes};
    bc = (backend_config){.kind = t->log.kind == BACKEND_KAFKA ? BACKEND_KAFKA
                                                                : BACKEND_BUILTIN,
                          .data_dir = t->dir, .log_opts = &lo, .group = t->log.group,
                          .properties = t->props,
                          .replication_factor = t->log.replication_factor,
                          .tool = 1};
    int rc = backend_open(&bc, &t->b, err, sizeof err);
    if (rc != SPOOL_OK)
        return tools_open_failed(cmd, rc, err, writes);
    return 0;
}

void tools_close(tools_target *t)
{
    backend_close(t->b);
    t->b = NULL;
    free(t->props);
    t->props = NULL;
    free(t->config_dir);
    t->config_dir = NULL;
    config_log_free(&t->log);
}

const char *tools_where(const tools_target *t, char *buf, size_t n)
{
    if (t->b != NULL && backend_kind_of(t->b) == BACKEND_KAFKA)
        snprintf(buf, n, "the Kafka cluster");
    else
        snprintf(buf, n, "%s", t->dir);
    return buf;
}

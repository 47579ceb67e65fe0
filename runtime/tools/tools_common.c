/* tools_common.c - what the data-directory commands share. */
#include <stdio.h>

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

/* backend_builtin.c - the built-in log behind the backend interface (to be written). */
#include <stdio.h>

#include "backend/backend_int.h"

int backend_builtin_open(const backend_config *cfg, backend **out, char *err, size_t errlen)
{
    (void)cfg;
    *out = NULL;
    snprintf(err, errlen, "the builtin backend is not written yet");
    return SPOOL_EINVAL;
}

int backend_builtin_wrap(log_store *log, backend **out)
{
    (void)log;
    *out = NULL;
    return SPOOL_EINVAL;
}

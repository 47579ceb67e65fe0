/* strutil.c - error-message formatting and the path-safe name rule. */
#include "util/strutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void util_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* Control characters (a newline in a path or in dlerror() text) become spaces, so
     * every message really is one line of a log. */
    for (char *c = err; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
}

int util_name_valid(const char *name, size_t max)
{
    size_t n = 0;

    if (name == NULL)
        return 0;
    for (const char *c = name; *c; c++, n++) {
        /* ASCII only on purpose: isalnum() depends on the locale. */
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                 (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-';
        if (!ok || n >= max)
            return 0;
    }
    if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    return 1;
}

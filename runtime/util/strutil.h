/* strutil.h - error-message formatting and the name rule shared by topics and sinks.
 *
 * Threads: pure functions, safe from any thread.
 */
#ifndef SPOOL_UTIL_STRUTIL_H
#define SPOOL_UTIL_STRUTIL_H

#include <stddef.h>

/* snprintf into a caller's error buffer, with control characters replaced by spaces so
 * that the message is one line; does nothing when err is NULL or errlen 0. */
void util_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when name is 1..max characters of letters, digits, '.', '_' and '-' and is not
 * "." or "..": such a name is safe as one path component. */
int util_name_valid(const char *name, size_t max);

#endif /* SPOOL_UTIL_STRUTIL_H */

/* units.h - integers, booleans, sizes and durations as pipelines and plugins write them.
 *
 * One set of parsers for YAML values and for the defaults plugins declare, so the two
 * can never disagree on what "64KiB" or "5s" means.
 */
#ifndef SPOOL_UTIL_UNITS_H
#define SPOOL_UTIL_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_EPARSE (-1) /* not written the way the type is written */
#define UTIL_ERANGE (-2) /* does not fit in an int64_t */

/* Each returns 0 and sets *out, or UTIL_EPARSE / UTIL_ERANGE leaving *out unchanged.
 * Sizes: "512", "64KiB", "16MiB", "1GiB", "2GB" (decimal kB KB MB GB TB PB and binary
 * KiB MiB GiB TiB PiB, at most one space before the unit). Durations in milliseconds:
 * "250ms", "5s", "10m", "2h", "7d", chained as "1h30m"; a bare number is ms. Booleans:
 * true/false and YAML 1.1's yes/no/on/off. */
int util_parse_int(const char *s, int64_t *out);
int util_parse_bool(const char *s, int64_t *out);
int util_parse_size(const char *s, int64_t *out);
int util_parse_duration(const char *s, int64_t *out);

/* Formats v the way the parsers read it back ("64KiB", "1h30m"). */
void util_format_size(int64_t v, char *out, size_t n);
void util_format_duration(int64_t v, char *out, size_t n);

#endif /* SPOOL_UTIL_UNITS_H */

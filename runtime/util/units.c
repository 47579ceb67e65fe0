/* units.c - integers, booleans, sizes and durations as pipelines write them.
 *
 * Every parser is strict and whole-string: "10 MiB" is a size, "10MiBs" and "1e3" are
 * not, and anything that would not fit in an int64_t is UTIL_ERANGE rather than a
 * silently wrapped number. Sizes take decimal (kB, MB, GB, TB, PB: powers of 1000) and
 * binary (KiB, MiB, GiB, TiB, PiB: powers of 1024) units, as Kafka's documentation and
 * systemd spell them. Durations are in milliseconds and may chain units ("1h30m"), as
 * Go's time.ParseDuration does; a bare number is milliseconds.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/units.h"

typedef struct util_unit {
    const char *name;
    int64_t mult;
} util_unit;

static const util_unit util_size_units[] = {
    {"B", 1},
    {"kB", 1000},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {"TB", INT64_C(1000) * 1000 * 1000 * 1000},
    {"PB", INT64_C(1000) * 1000 * 1000 * 1000 * 1000},
    {"KiB", INT64_C(1) << 10},
    {"MiB", INT64_C(1) << 20},
    {"GiB", INT64_C(1) << 30},
    {"TiB", INT64_C(1) << 40},
    {"PiB", INT64_C(1) << 50},
};

static const util_unit util_duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
    {"d", 24 * 60 * 60 * 1000},
};

/* Reads the digits at *p into *v. Returns 0, UTIL_EPARSE (no digit) or
 * UTIL_ERANGE. */
static int util_digits(const char **p, int64_t *v)
{
    const char *s = *p;
    int64_t n = 0;
    if (*s < '0' || *s > '9')
        return UTIL_EPARSE;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        if (n > (INT64_MAX - d) / 10)
            return UTIL_ERANGE;
        n = n * 10 + d;
    }
    *p = s;
    *v = n;
    return 0;
}

int util_parse_int(const char *s, int64_t *out)
{
    int neg = 0;
    uint64_t n = 0;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (*s < '0' || *s > '9')
        return UTIL_EPARSE;
    /* Accumulate as unsigned so INT64_MIN, whose magnitude has no int64_t, parses. */
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (n > (UINT64_MAX - d) / 10)
            return UTIL_ERANGE;
        n = n * 10 + d;
    }
    if (*s)
        return UTIL_EPARSE;
    if (neg) {
        if (n > (uint64_t)INT64_MAX + 1)
            return UTIL_ERANGE;
        *out = n == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n;
    } else {
        if (n > (uint64_t)INT64_MAX)
            return UTIL_ERANGE;
        *out = (int64_t)n;
    }
    return 0;
}

int util_parse_bool(const char *s, int64_t *out)
{
    /* YAML 1.1's yes/no/on/off are accepted because YAML 1.1 files say them; the
     * spelling is case-insensitive only in the three forms YAML itself allows. */
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "on", "On", "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
                                     "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (!strcmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return UTIL_EPARSE;
}

int util_parse_size(const char *s, int64_t *out)
{
    int64_t n;
    int rc = util_digits(&s, &n);
    if (rc)
        return rc;
    if (*s == ' ')
        s++;
    if (!*s) {
        *out = n;
        return 0;
    }
    for (size_t i = 0; i < sizeof util_size_units / sizeof *util_size_units; i++) {
        const util_unit *u = &util_size_units[i];
        if (strcasecmp(s, u->name) != 0)
            continue;
        if (n > INT64_MAX / u->mult)
            return UTIL_ERANGE;
        *out = n * u->mult;
        return 0;
    }
    return UTIL_EPARSE;
}

int util_parse_duration(const char *s, int64_t *out)
{
    int64_t total = 0, n;
    int rc = util_digits(&s, &n);
    if (rc)
        return rc;
    if (!*s) {
        *out = n;    /* a bare number is milliseconds */
        return 0;
    }
    for (;;) {
        const util_unit *u = NULL;
        size_t ulen = 0;
        /* Longest match first, so "ms" is not read as "m" followed by garbage. */
        for (size_t i = 0; i < sizeof util_duration_units / sizeof *util_duration_units;
             i++) {
            size_t l = strlen(util_duration_units[i].name);
            if (l > ulen && !strncasecmp(s, util_duration_units[i].name, l)) {
                u = &util_duration_units[i];
                ulen = l;
            }
        }
        if (!u)
            return UTIL_EPARSE;
        s += ulen;
        if (n > INT64_MAX / u->mult || total > INT64_MAX - n * u->mult)
            return UTIL_ERANGE;
        total += n * u->mult;
        if (!*s)
            break;
        rc = util_digits(&s, &n);
        if (rc)
            return rc;
        if (!*s)
            return UTIL_EPARSE;    /* "1h30" : a unit is needed after the first */
    }
    *out = total;
    return 0;
}

void util_format_size(int64_t v, char *out, size_t n)
{
    static const util_unit units[] = {
        {"PiB", INT64_C(1) << 50}, {"TiB", INT64_C(1) << 40}, {"GiB", INT64_C(1) << 30},
        {"MiB", INT64_C(1) << 20}, {"KiB", INT64_C(1) << 10}};
    for (size_t i = 0; v > 0 && i < sizeof units / sizeof *units; i++) {
        if (v % units[i].mult == 0) {
            snprintf(out, n, "%lld%s", (long long)(v / units[i].mult), units[i].name);
            return;
        }
    }
    snprintf(out, n, "%lldB", (long long)v);
}

void util_format_duration(int64_t v, char *out, size_t n)
{
    size_t i = sizeof util_duration_units / sizeof *util_duration_units;
    while (i-- > 1) {
        int64_t m = util_duration_units[i].mult;
        if (v > 0 && v % m == 0) {
            snprintf(out, n, "%lld%s", (long long)(v / m), util_duration_units[i].name);
            return;
        }
    }
    snprintf(out, n, "%lldms", (long long)v);
}

/* timestamp.c - the built-in `timestamp` transform: the record time from a JSON field.
 *
 *     transforms:
 *       - timestamp: {field: created_at}                              # ISO 8601 text
 *       - timestamp: {field: ts, format: epoch_s, to: iso8601}        # and rewrite it
 *
 * `format` says how the field is written: iso8601 (a string, 2024-05-01T12:00:00Z,
 * with optional fraction and offset, or a bare date; no offset means UTC), epoch_ms or
 * epoch_s (a number, or a string holding one; seconds may have a fraction). The
 * record's timestamp becomes that instant in milliseconds. With `to`, the field itself
 * is rewritten in that format (iso8601 as 2024-05-01T12:00:00.000Z, epoch_s in whole
 * seconds). Years 1970 to 9999 only, as Kafka refuses negative timestamps. A record
 * without the field, with null there, or a tombstone passes unchanged; a field of
 * another type or that does not parse is a per-record failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transform/transform_int.h"

static const spool_host *host;

enum ts_format { TS_ISO8601, TS_EPOCH_MS, TS_EPOCH_S };

/* 9999-12-31T23:59:59.999Z */
#define TS_MAX_MS INT64_C(253402300799999)

static const char *const ts_formats[] = {"iso8601", "epoch_ms", "epoch_s", NULL};

typedef struct ts_state {
    const char *field;
    int format;                /* enum ts_format */
    int to;                    /* enum ts_format, or -1: leave the field alone */
} ts_state;

static const spool_option ts_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "field", .flags = SPOOL_OPT_REQUIRED,
     .doc = "JSON field holding the time, dot-separated for nested objects."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "format", .default_value = "iso8601",
     .choices = ts_formats, .doc = "How the field is written: iso8601, epoch_ms or epoch_s."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "to", .choices = ts_formats,
     .doc = "Also rewrite the field in this format; unset: leave it as it is."},
    {.name = NULL},
};

static const char *const ts_expected[] = {
    "an ISO 8601 string such as 2024-05-01T12:00:00Z",
    "a number of milliseconds since 1970",
    "a number of seconds since 1970",
};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant). */
static int64_t ts_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void ts_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Reads exactly k digits at *p (before end) into *out. */
static int ts_digits(const char **p, const char *end, int k, int *out)
{
    int v = 0;
    for (int i = 0; i < k; i++, (*p)++) {
        if (*p >= end || **p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

static int ts_expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return -1;
    (*p)++;
    return 0;
}

/* YYYY-MM-DD[(T|t| )HH:MM[:SS[(.|,)F...]][Z|z|(+|-)HH[[:]MM]]] -> ms since 1970, UTC. */
static int ts_parse_iso(const char *s, size_t n, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s, *end = s + n;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;

    if (ts_digits(&p, end, 4, &y) || ts_expect(&p, end, '-') || ts_digits(&p, end, 2, &mo) ||
        ts_expect(&p, end, '-') || ts_digits(&p, end, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    if (p < end) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -1;
        p++;
        if (ts_digits(&p, end, 2, &h) || ts_expect(&p, end, ':') || ts_digits(&p, end, 2, &mi))
            return -1;
        if (p < end && *p == ':') {
            p++;
            if (ts_digits(&p, end, 2, &sec))
                return -1;
            if (p < end && (*p == '.' || *p == ',')) {
                int k = 0;
                for (p++; p < end && *p >= '0' && *p <= '9'; p++, k++)
                    if (k < 3)
                        frac = frac * 10 + (*p - '0');
                if (k == 0 || k > 9)
                    return -1;
                for (; k < 3; k++)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)      /* 60: a leap second */
            return -1;
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
        } else if (p < end && (*p == '+' || *p == '-')) {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (ts_digits(&p, end, 2, &oh))
                return -1;
            if (p < end && *p == ':')
                p++;
            if (p < end && ts_digits(&p, end, 2, &om))
                return -1;
            if (oh > 23 || om > 59)
                return -1;
            off = sign * (oh * 60 + om);
        }
    }
    if (p != end)
        return -1;
    *ms = ts_days_from_civil(y, mo, d) * 86400000 + (int64_t)h * 3600000 +
          (int64_t)mi * 60000 + (int64_t)sec * 1000 + frac - (int64_t)off * 60000;
    return 0;
}

/* A number written as text: -?digits or -?digits.digits. *is_int tells which. */
static int ts_parse_number(const char *s, size_t n, int64_t *i, double *d, int *is_int)
{
    char buf[64], *endp;
    size_t k = 0, dots = 0, digits = 0;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    if (s[0] == '-')
        k = 1;
    for (; k < n; k++) {
        if (s[k] == '.' && digits > 0 && dots == 0)
            dots++;
        else if (s[k] >= '0' && s[k] <= '9')
            digits++;
        else
            return -1;
    }
    if (digits == 0 || s[n - 1] == '.')
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *is_int = dots == 0;
    if (*is_int)
        *i = strtoll(buf, &endp, 10);
    else
        *d = strtod(buf, &endp);
    return errno == 0 && *endp == '\0' ? 0 : -1;
}

/* The instant v holds, written in format. Returns 0, -1 for the wrong type or text
 * that does not parse, -2 for an instant out of range. */
static int ts_read(const json_t *v, int format, int64_t *ms)
{
    int64_t i = 0;
    double d = 0;
    int is_int;

    if (format == TS_ISO8601) {
        if (!json_is_string(v) ||
            ts_parse_iso(json_string_value(v), json_string_length(v), ms) != 0)
            return -1;
        return *ms < 0 || *ms > TS_MAX_MS ? -2 : 0;
    }
    if (json_is_integer(v)) {
        i = json_integer_value(v);
        is_int = 1;
    } else if (json_is_real(v)) {
        d = json_real_value(v);
        is_int = 0;
    } else if (!json_is_string(v) ||
               ts_parse_number(json_string_value(v), json_string_length(v), &i, &d,
                               &is_int) != 0) {
        return -1;
    }
    int64_t scale = format == TS_EPOCH_S ? 1000 : 1;
    if (is_int) {
        if (i < 0 || i > TS_MAX_MS / scale)
            return -2;
        *ms = i * scale;
    } else {
        d *= (double)scale;
        if (!(d >= 0 && d <= (double)TS_MAX_MS))     /* also NaN */
            return -2;
        *ms = (int64_t)(d + (format == TS_EPOCH_S ? 0.5 : 0));   /* s: round; ms: cut */
    }
    return 0;
}

static json_t *ts_write(int64_t ms, int format)
{
    char buf[64];     /* "9999-12-31T23:59:59.999Z", with room the compiler can prove */
    int y, mo, d;
    int64_t days = ms / 86400000, rest = ms % 86400000;

    if (format == TS_EPOCH_MS)
        return json_integer(ms);
    if (format == TS_EPOCH_S)
        return json_integer(ms / 1000);
    ts_civil_from_days(days, &y, &mo, &d);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d,
             (int)(rest / 3600000), (int)(rest / 60000 % 60), (int)(rest / 1000 % 60),
             (int)(rest % 1000));
    return json_string(buf);
}

static spool_rc ts_open(spool_task *t, void **state)
{
    ts_state *s = calloc(1, sizeof(*s));
    const char *why;

    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->field = host->opt_string(t, "field");
    s->format = (int)host->opt_int(t, "format");
    s->to = host->opt_string(t, "to") != NULL ? (int)host->opt_int(t, "to") : -1;
    if ((why = transform_path_problem(s->field)) != NULL) {
        host->set_error(t, "timestamp: field: %s; expected a JSON field such as created_at",
                        why);
        return SPOOL_EINVAL;
    }
    if (s->format < TS_ISO8601 || s->format > TS_EPOCH_S || s->to > TS_EPOCH_S) {
        host->set_error(t, "timestamp: unknown format; expected iso8601, epoch_ms or "
                        "epoch_s");
        return SPOOL_EINVAL;
    }
    return SPOOL_OK;
}

static spool_rc ts_transform(spool_task *t, void *state, const spool_record *rec)
{
    ts_state *s = state;
    json_t *doc = NULL, *node = NULL, *bad = NULL;
    int64_t ms = 0;
    size_t bad_len = 0;
    spool_record view;
    spool_rc rc = transform_load(host, t, rec, &doc);

    if (rc != SPOOL_OK)
        return rc;
    if (doc != NULL)
        node = transform_path_get(doc, s->field);
    if (node == NULL || json_is_null(node)) {
        rc = host->emit(t, rec, NULL, 0);
        goto out;
    }
    int r = ts_read(node, s->format, &ms);
    if (r == -1 && !json_is_string(node)) {
        rc = transform_type_error(host, t, rec, s->field, strlen(s->field), node,
                                  ts_expected[s->format]);
        goto out;
    }
    if (r != 0) {
        char shown[80];
        if (json_is_string(node))
            transform_show(shown, sizeof(shown), json_string_value(node),
                           json_string_length(node));
        else
            snprintf(shown, sizeof(shown), "%s", transform_json_kind(node));
        host->set_error(t, "timestamp: field \"%.100s\" is %s, %s; expected %s%s", s->field,
                        shown, r == -2 ? "out of range" : "which does not parse",
                        ts_expected[s->format], " from 1970 to 9999");
        rc = SPOOL_EINVAL;
        goto out;
    }
    transform_record_view(rec, &view);
    view.timestamp_ms = ms;
    if (s->to < 0) {
        rc = host->emit(t, &view, NULL, 0);
        goto out;
    }
    if (transform_path_set(doc, s->field, ts_write(ms, s->to), &bad, &bad_len) != 0) {
        rc = SPOOL_ENOMEM;     /* the path led to node: every parent is an object */
        goto out;
    }
    rc = transform_emit(host, t, &view, doc);
out:
    json_decref(doc);
    return rc;
}

static void ts_close(spool_task *t, void *state)
{
    (void)t;
    free(state);
}

static const spool_plugin ts_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "timestamp",
    .version = SPOOL_VERSION_STRING,
    .description = "Sets the record timestamp from a JSON field (ISO 8601 or epoch).",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = ts_options,
    .open = ts_open,
    .close = ts_close,
    .transform = ts_transform,
};

const spool_plugin *transform_timestamp_entry(const spool_host *h)
{
    host = h;
    return &ts_plugin;
}

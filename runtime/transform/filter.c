/* filter.c - the built-in `filter` transform: keeps or drops records by a JSON field.
 *
 *     transforms:
 *       - filter: {field: event, in: [resource_created, resource_destroyed]}
 *       - filter: {field: customer.id, exists: true}
 *       - filter: {field: kind, equals: test, negate: true}
 *
 * Exactly one test: `equals` (one value), `in` or `not_in` (lists), or `exists`. Values
 * are compared as text (transform_json_field's rule: 42 and "42" are the same). The
 * record is kept when the test holds, or when it does not with `negate: true`. A
 * record without the field is decided by `keep_missing` (default: dropped), except
 * under `exists`, which is about exactly that. A tombstone (null value) counts as a
 * record without the field. A value that is not JSON is a per-record failure, not a
 * silent drop: a filter must not hide a producer's broken records.
 */
#include <stdlib.h>
#include <string.h>

#include "transform/transform_int.h"

static const spool_host *host;

enum filter_test { FILTER_EQUALS, FILTER_IN, FILTER_NOT_IN, FILTER_EXISTS };

typedef struct filter_state {
    const char *field;
    int test;                  /* enum filter_test */
    const char *equals;
    const char *const *list;   /* in or not_in */
    int exists;
    int negate;
    int keep_missing;
} filter_state;

static const spool_option filter_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "field", .flags = SPOOL_OPT_REQUIRED,
     .doc = "JSON field to test, dot-separated for nested objects (resource.id)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "equals",
     .doc = "Keep the record when the field's value, as text, is this."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "in",
     .doc = "Keep the record when the field's value is one of these."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "not_in",
     .doc = "Keep the record when the field's value is none of these."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "exists",
     .doc = "true: keep records that have the field; false: those that do not."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "negate", .default_value = "false",
     .doc = "Drop the records the test keeps, and keep the others."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "keep_missing", .default_value = "false",
     .doc = "Keep records without the field (equals, in, not_in; negate does not apply)."},
    {.name = NULL},
};

static spool_rc filter_open(spool_task *t, void **state)
{
    filter_state *s = calloc(1, sizeof(*s));
    size_t nin = 0, nout = 0;
    const char *why;
    int tests;

    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->field = host->opt_string(t, "field");
    s->equals = host->opt_string(t, "equals");
    const char *const *in = host->opt_list(t, "in", &nin);
    const char *const *not_in = host->opt_list(t, "not_in", &nout);
    /* A BOOL without a default has no text until the pipeline writes it. */
    int has_exists = host->opt_string(t, "exists") != NULL;
    s->exists = host->opt_int(t, "exists") != 0;
    s->negate = host->opt_int(t, "negate") != 0;
    s->keep_missing = host->opt_int(t, "keep_missing") != 0;

    if ((why = transform_path_problem(s->field)) != NULL) {
        host->set_error(t, "filter: field: %s; expected a JSON field such as event or "
                        "resource.id", why);
        return SPOOL_EINVAL;
    }
    tests = (s->equals != NULL) + (nin > 0) + (nout > 0) + has_exists;
    if (tests != 1) {
        host->set_error(t, "filter on \"%s\" has %s; expected exactly one of equals, in, "
                        "not_in and exists", s->field, tests == 0 ? "no test" : "several tests");
        return SPOOL_EINVAL;
    }
    if (s->equals != NULL) {
        s->test = FILTER_EQUALS;
    } else if (nin > 0) {
        s->test = FILTER_IN;
        s->list = in;
    } else if (nout > 0) {
        s->test = FILTER_NOT_IN;
        s->list = not_in;
    } else {
        s->test = FILTER_EXISTS;
    }
    return SPOOL_OK;
}

/* Whether the test keeps a record whose field is present (found) with text[0..n). */
static int filter_keeps(const filter_state *s, int found, const char *text, size_t n)
{
    int holds = 0;
    if (s->test == FILTER_EXISTS) {
        holds = found == s->exists;
    } else if (!found) {
        return s->keep_missing;
    } else if (s->test == FILTER_EQUALS) {
        holds = strlen(s->equals) == n && memcmp(s->equals, text, n) == 0;
    } else if (s->test == FILTER_IN) {
        holds = transform_listed(s->list, text, n);
    } else {
        holds = !transform_listed(s->list, text, n);
    }
    return s->negate ? !holds : holds;
}

static spool_rc filter_transform(spool_task *t, void *state, const spool_record *rec)
{
    filter_state *s = state;
    json_t *doc = NULL, *node = NULL;
    const char *fast;
    char *text = NULL;
    size_t n = 0;
    int keep, found = transform_field_fast(rec->value, rec->value_len, s->field, &fast, &n);

    if (found >= 0) {
        keep = filter_keeps(s, found, fast, n);
    } else {
        spool_rc rc = transform_load(host, t, rec, &doc);
        if (rc != SPOOL_OK)
            return rc;
        if (doc != NULL)
            node = transform_path_get(doc, s->field);
        if (node != NULL && s->test != FILTER_EXISTS &&
            (text = transform_json_text(node, &n)) == NULL) {
            json_decref(doc);
            return SPOOL_ENOMEM;
        }
        keep = filter_keeps(s, node != NULL, text, n);
        free(text);
        json_decref(doc);
    }
    return keep ? host->emit(t, rec, NULL, 0) : SPOOL_OK;
}

static void filter_close(spool_task *t, void *state)
{
    (void)t;
    free(state);
}

static const spool_plugin filter_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "filter",
    .version = SPOOL_VERSION_STRING,
    .description = "Keeps (or with negate drops) records by a JSON field's value.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = filter_options,
    .open = filter_open,
    .close = filter_close,
    .transform = filter_transform,
};

const spool_plugin *transform_filter_entry(const spool_host *h)
{
    host = h;
    return &filter_plugin;
}

/* route.c - the built-in `route` transform: picks a record's topic from a JSON field.
 *
 *     transforms:
 *       - route: {field: region, mapping: [eu=events-eu, us=events-us]}
 *       - route: {field: kind, prefix: "events."}        # kind "a" -> topic events.a
 *
 * `mapping` lists VALUE=TOPIC pairs (split at the last '=', since a topic name has
 * none); a value not in it takes `prefix` + value when a prefix is set, and otherwise
 * keeps the record's topic. So does a record without the field, with a null there, or a
 * tombstone. The topic must be declared under topics: (the worker refuses the record
 * otherwise). Only a source's transforms can route: a sink's record already has its
 * place in the log, and the sink task ignores the topic set here.
 */
#include <stdlib.h>
#include <string.h>

#include "transform/transform_int.h"

static const spool_host *host;

typedef struct route_pair {
    const char *value;         /* not NUL-terminated: value_len bytes */
    size_t value_len;
    const char *topic;         /* NUL-terminated: the tail of the host's string */
} route_pair;

typedef struct route_state {
    const char *field;
    const char *prefix;        /* NULL: none */
    size_t prefix_len;
    route_pair *pairs;
    size_t npairs;
} route_state;

static const spool_option route_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "field", .flags = SPOOL_OPT_REQUIRED,
     .doc = "JSON field whose value picks the topic, dot-separated for nested objects."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "mapping",
     .doc = "VALUE=TOPIC pairs: records whose field is VALUE go to TOPIC."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "prefix",
     .doc = "For values not in mapping: the topic is this prefix followed by the value."},
    {.name = NULL},
};

static spool_rc route_open(spool_task *t, void **state)
{
    route_state *s = calloc(1, sizeof(*s));
    const char *why;
    size_t n = 0;

    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->field = host->opt_string(t, "field");
    s->prefix = host->opt_string(t, "prefix");
    const char *const *mapping = host->opt_list(t, "mapping", &n);
    if ((why = transform_path_problem(s->field)) != NULL) {
        host->set_error(t, "route: field: %s; expected a JSON field such as region", why);
        return SPOOL_EINVAL;
    }
    if (n == 0 && s->prefix == NULL) {
        host->set_error(t, "route on \"%s\" has neither mapping nor prefix; expected "
                        "mapping: [VALUE=TOPIC, ...], prefix: PREFIX, or both", s->field);
        return SPOOL_EINVAL;
    }
    if (s->prefix != NULL) {
        s->prefix_len = strlen(s->prefix);
        if (s->prefix_len > 0 && (why = transform_topic_problem(s->prefix,
                                                                 s->prefix_len)) != NULL) {
            host->set_error(t, "route: prefix \"%.100s\" would make %s; expected letters, "
                            "digits, '.', '_' and '-'", s->prefix, why);
            return SPOOL_EINVAL;
        }
    }
    s->pairs = calloc(n > 0 ? n : 1, sizeof(*s->pairs));
    if (s->pairs == NULL)
        return SPOOL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strrchr(mapping[i], '=');
        if (eq == NULL) {
            host->set_error(t, "route: mapping[%zu] \"%.100s\" has no '='; expected "
                            "VALUE=TOPIC", i, mapping[i]);
            return SPOOL_EINVAL;
        }
        route_pair *p = &s->pairs[i];
        p->value = mapping[i];
        p->value_len = (size_t)(eq - mapping[i]);
        p->topic = eq + 1;
        if ((why = transform_topic_problem(p->topic, strlen(p->topic))) != NULL) {
            host->set_error(t, "route: mapping[%zu] \"%.100s\": %s; expected VALUE=TOPIC "
                            "with a topic declared under topics:", i, mapping[i], why);
            return SPOOL_EINVAL;
        }
        for (size_t k = 0; k < i; k++) {
            if (s->pairs[k].value_len == p->value_len &&
                memcmp(s->pairs[k].value, p->value, p->value_len) == 0) {
                host->set_error(t, "route: mapping[%zu] \"%.100s\" maps a value that "
                                "mapping[%zu] maps already; expected each value once", i,
                                mapping[i], k);
                return SPOOL_EINVAL;
            }
        }
        s->npairs++;
    }
    return SPOOL_OK;
}

static spool_rc route_transform(spool_task *t, void *state, const spool_record *rec)
{
    route_state *s = state;
    json_t *doc = NULL, *node = NULL;
    char *text = NULL, *topic = NULL;
    const char *to = NULL;
    size_t n = 0;
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
    text = transform_json_text(node, &n);
    if (text == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->npairs && to == NULL; i++)
        if (s->pairs[i].value_len == n && memcmp(s->pairs[i].value, text, n) == 0)
            to = s->pairs[i].topic;
    if (to == NULL && s->prefix != NULL) {
        const char *why;
        char shown[80];
        topic = malloc(s->prefix_len + n + 1);
        if (topic == NULL) {
            rc = SPOOL_ENOMEM;
            goto out;
        }
        memcpy(topic, s->prefix, s->prefix_len);
        memcpy(topic + s->prefix_len, text, n);
        topic[s->prefix_len + n] = '\0';
        if ((why = transform_topic_problem(topic, s->prefix_len + n)) != NULL) {
            transform_show(shown, sizeof(shown), text, n);
            host->set_error(t, "route: field \"%.100s\" is %s, which gives %s; expected "
                            "a value that names a topic", s->field, shown, why);
            rc = SPOOL_EINVAL;
            goto out;
        }
        to = topic;
    }
    if (to == NULL) {
        rc = host->emit(t, rec, NULL, 0);
        goto out;
    }
    transform_record_view(rec, &view);
    view.topic = to;
    view.partition = -1;       /* the key picks the partition in the new topic */
    rc = host->emit(t, &view, NULL, 0);
out:
    free(topic);
    free(text);
    json_decref(doc);
    return rc;
}

static void route_close(spool_task *t, void *state)
{
    route_state *s = state;
    (void)t;
    if (s != NULL)
        free(s->pairs);
    free(s);
}

static const spool_plugin route_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "route",
    .version = SPOOL_VERSION_STRING,
    .description = "Sends a source's records to the topic a JSON field's value picks.",
    .kind = SPOOL_KIND_TRANSFORM,
    .options = route_options,
    .open = route_open,
    .close = route_close,
    .transform = route_transform,
};

const spool_plugin *transform_route_entry(const spool_host *h)
{
    host = h;
    return &route_plugin;
}

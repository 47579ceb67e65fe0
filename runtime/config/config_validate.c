/* config_validate.c - checks config maps against the options a plugin declares.
 *
 * One routine serves connectors, transforms and the runtime's own settings (a topic's
 * partitions and retention, a sink's tasks are declared as spool_option tables too),
 * so every value in a pipeline is parsed, defaulted, range-checked and reported the
 * same way. Defaults are run through the same parsers as written values, so a plugin
 * with a bad default is caught when a pipeline uses it, not when a task reads it.
 *
 * Secrets: a SECRET option's value is never formatted into a message. Problems with it
 * are described ("not an integer: <secret>") and located, nothing more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

const char *config_kind_text(uint32_t kind)
{
    switch (kind) {
    case SPOOL_KIND_SOURCE: return "source";
    case SPOOL_KIND_SINK: return "sink";
    case SPOOL_KIND_TRANSFORM: return "transform";
    default: return "unknown-kind";
    }
}

size_t config_plugin_names(const config_ctx *c, uint32_t kind, const char ***out)
{
    size_t total = c->plugins ? loader_count(c->plugins) : 0, n = 0;
    *out = NULL;
    if (total == 0)
        return 0;
    const char **names = calloc(total, sizeof *names);
    if (!names)
        return 0;
    for (size_t i = 0; i < total; i++) {
        const loader_plugin *lp = loader_at(c->plugins, i);
        if (lp && (kind == 0 || lp->desc->kind == kind))
            names[n++] = lp->desc->name;
    }
    *out = names;
    return n;
}

const loader_plugin *config_plugin(config_ctx *c, const yaml_node_t *at, const char *path,
                                   const char *name, uint32_t kind)
{
    /* Names are unique per kind only: "file" may be both a source and a sink. The
     * lookup loads the plugin's file on first use (loader.h); a file it needed and
     * refused is the error, in the loader's words. */
    const loader_plugin *lp = NULL, *any = NULL;
    char why[2048] = "";
    if (c->plugins) {
        lp = loader_lookup(c->plugins, name, kind, why, sizeof why);
        if (lp)
            return lp;
        if (why[0]) {
            config_error(c, at, path, "%s", why);
            return NULL;
        }
        any = loader_find(c->plugins, name);
    }
    /* Not found: only now is the list of every plugin worth loading them all. */
    const char **names = NULL;
    size_t n = config_plugin_names(c, kind, &names);
    config_buf list = {0};
    char shown[128];

    config_join(&list, names, n);
    config_show(shown, sizeof shown, name);
    if (list.failed) {
        config_nomem(c);
        lp = NULL;
        goto out;
    }
    if (!any) {
        const char *s = config_suggest(name, names, n);
        char hint[160] = "";
        if (s)
            snprintf(hint, sizeof hint, "; did you mean \"%s\"?", s);
        config_error(c, at, path,
                     "no %s plugin named %s%s expected one of the installed %s plugins: "
                     "%s (`spool plugins` lists them with their options)",
                     config_kind_text(kind), shown, s ? hint : ";", config_kind_text(kind),
                     list.s);
        goto out;
    }
    if (!lp)
        config_error(c, at, path,
                     "plugin %s is a %s plugin, not a %s; expected one of the %s plugins: "
                     "%s",
                     shown, config_kind_text(any->desc->kind), config_kind_text(kind),
                     config_kind_text(kind), list.s);
out:
    config_buf_free(&list);
    free(names);
    return lp;
}

/* What belongs in an option, for the "expected ..." half of a message. */
static void config_expected(const spool_option *o, char *out, size_t n)
{
    int ranged = o->min < o->max;
    char lo[32], hi[32];
    switch (o->type) {
    case SPOOL_OPT_INT:
        if (ranged && o->max == INT64_MAX)
            snprintf(out, n, "an integer of at least %lld", (long long)o->min);
        else if (ranged)
            snprintf(out, n, "an integer from %lld to %lld", (long long)o->min,
                     (long long)o->max);
        else
            snprintf(out, n, "an integer");
        return;
    case SPOOL_OPT_BOOL:
        snprintf(out, n, "true or false");
        return;
    case SPOOL_OPT_SIZE:
        if (ranged && o->max == INT64_MAX) {
            util_format_size(o->min, lo, sizeof lo);
            snprintf(out, n, "a size of at least %s, such as 512, 64KiB or 16MiB", lo);
        } else if (ranged) {
            util_format_size(o->min, lo, sizeof lo);
            util_format_size(o->max, hi, sizeof hi);
            snprintf(out, n, "a size from %s to %s, such as 512, 64KiB or 16MiB", lo, hi);
        } else {
            snprintf(out, n, "a size such as 512, 64KiB, 16MiB or 1GiB");
        }
        return;
    case SPOOL_OPT_DURATION:
        if (ranged && o->max == INT64_MAX) {
            util_format_duration(o->min, lo, sizeof lo);
            snprintf(out, n, "a duration of at least %s, such as 250ms, 5s, 10m, 2h or 7d",
                     lo);
        } else if (ranged) {
            util_format_duration(o->min, lo, sizeof lo);
            util_format_duration(o->max, hi, sizeof hi);
            snprintf(out, n, "a duration from %s to %s, such as 250ms, 5s or 10m", lo, hi);
        } else {
            snprintf(out, n, "a duration such as 250ms, 5s, 10m, 2h or 7d");
        }
        return;
    case SPOOL_OPT_ENUM: {
        config_buf b = {0};
        config_buf_str(&b, "one of: ");
        size_t k = 0;
        for (; o->choices && o->choices[k]; k++)
            ;
        config_join(&b, (const char *const *)o->choices, k);
        snprintf(out, n, "%s", b.failed ? "one of the declared choices" : b.s);
        config_buf_free(&b);
        return;
    }
    case SPOOL_OPT_LIST:
        snprintf(out, n, "a list of strings, such as [a, b]");
        return;
    default:
        snprintf(out, n, "a string");
        return;
    }
}

/* Parses text as o's type into v (which takes text). Returns 0, or -1 with *why. */
static int config_value_text(const spool_option *o, config_value *v, char *text,
                             const char **why)
{
    int64_t num = 0;
    int rc = 0;
    v->text = text;
    switch (o->type) {
    case SPOOL_OPT_INT:
        rc = util_parse_int(text, &num);
        *why = rc == UTIL_ERANGE ? "does not fit in a 64-bit integer" : "not an integer";
        break;
    case SPOOL_OPT_BOOL:
        rc = util_parse_bool(text, &num);
        *why = "not true or false";
        break;
    case SPOOL_OPT_SIZE:
        rc = util_parse_size(text, &num);
        *why = rc == UTIL_ERANGE ? "too large (over 8 EiB)" : "not a size";
        break;
    case SPOOL_OPT_DURATION:
        rc = util_parse_duration(text, &num);
        *why = rc == UTIL_ERANGE ? "too long (overflows 64-bit milliseconds)"
                                   : "not a duration";
        break;
    case SPOOL_OPT_ENUM:
        rc = -1;
        *why = "not one of the choices";
        for (int64_t k = 0; o->choices && o->choices[k]; k++) {
            if (!strcmp(o->choices[k], text)) {
                num = k;
                rc = 0;
                break;
            }
        }
        break;
    default:
        break;
    }
    if (rc)
        return -1;
    if ((o->type == SPOOL_OPT_INT || o->type == SPOOL_OPT_SIZE ||
         o->type == SPOOL_OPT_DURATION) &&
        o->min < o->max && (num < o->min || num > o->max)) {
        *why = "out of range";
        return -1;
    }
    v->number = num;
    return 0;
}

static void config_list_set(config_value *v, char **items, size_t n, config_ctx *c)
{
    config_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            config_buf_add(&b, ",", 1);
        config_buf_str(&b, items[i]);
    }
    v->list = items;
    v->list_len = n;
    v->text = config_buf_take(&b);
    if (!v->text)
        config_nomem(c);
}

int config_option_node(config_ctx *c, const spool_option *o, yaml_node_t *n,
                       const char *path, config_value *v)
{
    int secret = (o->flags & SPOOL_OPT_SECRET) != 0;
    char expected[512];
    char **items = NULL;
    size_t nitems = 0;
    int rc = -1;

    config_expected(o, expected, sizeof expected);
    v->decl = o;
    v->line = (int)n->start_mark.line + 1;
    v->column = (int)n->start_mark.column + 1;

    if (o->type == SPOOL_OPT_LIST) {
        if (n->type == YAML_SEQUENCE_NODE) {
            yaml_node_item_t *it = n->data.sequence.items.start;
            size_t count = (size_t)(n->data.sequence.items.top - it);
            items = calloc(count + 1, sizeof *items);
            if (!items) {
                config_nomem(c);
                goto out;
            }
            int bad = 0;
            for (size_t i = 0; i < count; i++) {
                yaml_node_t *in = config_node(c, it[i]);
                if (!in)
                    goto out;
                char ipath[CONFIG_PATH_MAX];
                config_path_index(ipath, path, i);
                if (config_get_string(c, in, ipath, secret, "a string", &items[nitems]))
                    bad = 1;
                else
                    nitems++;
            }
            if (bad)
                goto out;
        } else if (n->type == YAML_SCALAR_NODE && !config_is_null(n)) {
            /* A single scalar is a one-element list: "topics: events" reads naturally. */
            items = calloc(2, sizeof *items);
            if (!items) {
                config_nomem(c);
                goto out;
            }
            if (config_get_string(c, n, path, secret, expected, &items[0]))
                goto out;
            nitems = 1;
        } else {
            config_error(c, n, path, "got %s; expected %s", config_kind_name(n), expected);
            goto out;
        }
        config_list_set(v, items, nitems, c);
        items = NULL;
        v->is_set = 1;
        rc = 0;
        goto out;
    }

    char *text = NULL;
    if (config_get_string(c, n, path, secret, expected, &text))
        goto out;
    const char *why = "invalid";
    if (config_value_text(o, v, text, &why)) {
        char shown[128], hint[160] = "";
        if (o->type == SPOOL_OPT_ENUM) {
            size_t k = 0;
            for (; o->choices && o->choices[k]; k++)
                ;
            const char *s = config_suggest(text, (const char *const *)o->choices, k);
            if (s)
                snprintf(hint, sizeof hint, " (did you mean \"%s\"?)", s);
        }
        if (secret)
            snprintf(shown, sizeof shown, "<secret>");
        else
            config_show(shown, sizeof shown, text);
        config_error(c, n, path, "%s: %s%s; expected %s", why, shown, secret ? "" : hint,
                     expected);
        free(v->text);
        v->text = NULL;
        goto out;
    }
    v->is_set = 1;
    rc = 0;
out:
    if (items) {
        for (size_t i = 0; i < nitems; i++)
            free(items[i]);
        free(items);
    }
    return rc;
}

/* A LIST default is written as YAML would write it ("[a, b]" or "a"), so it is read
 * with libyaml rather than by splitting on commas. */
static int config_list_default(const char *s, char ***out, size_t *n)
{
    yaml_parser_t ps;
    yaml_document_t doc;
    char **items = NULL;
    size_t k = 0;
    int rc = -1;

    if (!yaml_parser_initialize(&ps))
        return -1;
    yaml_parser_set_input_string(&ps, (const unsigned char *)s, strlen(s));
    if (!yaml_parser_load(&ps, &doc)) {
        yaml_parser_delete(&ps);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        goto out;
    if (root->type == YAML_SCALAR_NODE) {
        items = calloc(2, sizeof *items);
        if (!items || !(items[0] = strdup((const char *)root->data.scalar.value)))
            goto out;
        k = 1;
    } else if (root->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it = root->data.sequence.items.start;
        size_t count = (size_t)(root->data.sequence.items.top - it);
        items = calloc(count + 1, sizeof *items);
        if (!items)
            goto out;
        for (; k < count; k++) {
            yaml_node_t *in = yaml_document_get_node(&doc, it[k]);
            if (!in || in->type != YAML_SCALAR_NODE ||
                !(items[k] = strdup((const char *)in->data.scalar.value)))
                goto out;
        }
    } else {
        goto out;
    }
    *out = items;
    *n = k;
    items = NULL;
    rc = 0;
out:
    if (items) {
        for (size_t i = 0; i < k; i++)
            free(items[i]);
        free(items);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&ps);
    return rc;
}

static void config_value_default(config_ctx *c, const char *owner, const spool_option *o,
                                 const yaml_node_t *at, const char *path, config_value *v)
{
    const char *why = "not a list";
    char full[CONFIG_PATH_MAX];
    config_path(full, path, o->name);
    if (o->type == SPOOL_OPT_LIST) {
        char **items = NULL;
        size_t n = 0;
        if (config_list_default(o->default_value, &items, &n) == 0) {
            config_list_set(v, items, n, c);
            return;
        }
    } else {
        char *text = strdup(o->default_value);
        if (!text) {
            config_nomem(c);
            return;
        }
        if (config_value_text(o, v, text, &why) == 0)
            return;
        free(v->text);
        v->text = NULL;
    }
    /* Not the operator's mistake, but loading must still fail: a task would read a
     * value its plugin never meant. */
    config_error(c, at, full,
                 "plugin \"%s\" declares a default that is %s; expected a plugin built "
                 "with a valid default (report this to its author), or set the option",
                 owner, why);
}

int config_options(config_ctx *c, const spool_option *const *opts, size_t nopts,
                   const char *owner, yaml_node_t *map, const yaml_node_t *missing_at,
                   const char *path, config_value **values, size_t *nvalues)
{
    config_value *v = NULL;
    unsigned char *tried = NULL;
    const char **names = NULL;
    config_entry *e = NULL;
    size_t ne = 0;
    int rc = -1, skip_required = 0;

    *values = NULL;
    *nvalues = 0;
    v = calloc(nopts ? nopts : 1, sizeof *v);
    tried = calloc(nopts ? nopts : 1, 1);
    names = calloc(nopts ? nopts : 1, sizeof *names);
    if (!v || !tried || !names) {
        config_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < nopts; i++) {
        v[i].decl = opts[i];
        names[i] = opts[i]->name;
    }
    if (map && !config_is_null(map)) {
        if (map->type != YAML_MAPPING_NODE) {
            config_buf b = {0};
            config_join(&b, names, nopts);
            config_error(c, map, path, "got %s; expected a map of options: %s",
                         config_kind_name(map), b.failed ? "see `spool plugins`" : b.s);
            config_buf_free(&b);
            skip_required = 1;    /* everything would be "missing": noise */
        } else {
            if (config_map_entries(c, map, path, &e, &ne))
                goto out;
            for (size_t k = 0; k < ne; k++) {
                size_t i = 0;
                while (i < nopts && strcmp(opts[i]->name, e[k].key) != 0)
                    i++;
                if (i == nopts) {
                    config_unknown_key(c, &e[k], path, names, nopts);
                    continue;
                }
                char full[CONFIG_PATH_MAX];
                config_path(full, path, e[k].key);
                tried[i] = 1;
                config_option_node(c, opts[i], e[k].vnode, full, &v[i]);
                if (c->stop)
                    goto out;
            }
        }
    }
    for (size_t i = 0; i < nopts; i++) {
        const spool_option *o = opts[i];
        if (v[i].is_set || tried[i])
            continue;
        if (o->flags & SPOOL_OPT_REQUIRED) {
            if (skip_required)
                continue;
            char expected[512];
            config_expected(o, expected, sizeof expected);
            config_error(c, missing_at, path,
                         "missing required option \"%s\"%s%s%s; expected %s: %s", o->name,
                         o->doc ? " (" : "", o->doc ? o->doc : "", o->doc ? ")" : "",
                         o->name, expected);
        } else if (o->default_value) {
            config_value_default(c, owner, o, missing_at, path, &v[i]);
        }
    }
    *values = v;
    *nvalues = nopts;
    v = NULL;
    rc = 0;
out:
    config_values_free(v, nopts);
    free(tried);
    free(names);
    free(e);
    return rc;
}

/* ------------------------------------------------------------------------------ */
/* Predicates: a transform item's when: or unless:                                */

/* A predicate's keys are declared like options, so they parse, expand ${VAR} and report
 * exactly as a plugin's options do; which combinations make sense is checked after. */
static const spool_option config_pred_field = {
    sizeof(spool_option), SPOOL_OPT_STRING, "field", NULL, 0, 0, 0, NULL,
    "the JSON field to test, dot-separated for nested objects"};
static const spool_option config_pred_equals = {
    sizeof(spool_option), SPOOL_OPT_STRING, "equals", NULL, 0, 0, 0, NULL,
    "matches when the field's value, as text, is this"};
static const spool_option config_pred_in = {
    sizeof(spool_option), SPOOL_OPT_LIST, "in", NULL, 0, 0, 0, NULL,
    "matches when the field's value, as text, is one of these"};
static const spool_option config_pred_exists = {
    sizeof(spool_option), SPOOL_OPT_BOOL, "exists", NULL, 0, 0, 0, NULL,
    "true: matches when the field is present; false: when it is absent"};
static const spool_option config_pred_topic = {
    sizeof(spool_option), SPOOL_OPT_STRING, "topic", NULL, 0, 0, 0, NULL,
    "matches when the record's topic is this"};
static const spool_option *const config_pred_opts[] = {
    &config_pred_field, &config_pred_equals, &config_pred_in, &config_pred_exists,
    &config_pred_topic};
enum { PRED_FIELD, PRED_EQUALS, PRED_IN, PRED_EXISTS, PRED_TOPIC, PRED_NOPTS };

static const char config_pred_example[] =
    "a predicate such as {field: event, in: [a, b]}, {field: id, exists: true} or "
    "{topic: events}";

const char *config_field_path_problem(const char *path)
{
    if (*path == '\0')
        return "an empty field name";
    if (path[0] == '.' || path[strlen(path) - 1] == '.' || strstr(path, ".."))
        return "a field path with an empty part";
    return NULL;
}

void config_predicate_free(config_predicate *p)
{
    if (!p)
        return;
    free(p->field);
    free(p->equals);
    if (p->in) {
        for (size_t i = 0; i < p->nin; i++)
            free(p->in[i]);
        free(p->in);
    }
    free(p->topic);
    free(p);
}

/* Validates the predicate under e (when: or unless:) into *out. Reports every problem;
 * *out stays NULL unless the predicate is complete. Returns -1 only to stop. */
static int config_predicate_parse(config_ctx *c, const config_pipeline *p,
                                  const config_entry *e, const char *ipath,
                                  config_predicate **out)
{
    char path[CONFIG_PATH_MAX];
    config_value *v = NULL;
    size_t nv = 0;
    yaml_node_t *map = e->vnode;
    config_predicate *pr = NULL;
    int rc = 0;

    *out = NULL;
    config_path(path, ipath, e->key);
    if (map->type != YAML_MAPPING_NODE) {
        config_error(c, map, path, "got %s; expected %s", config_kind_name(map),
                     config_pred_example);
        return 0;
    }
    size_t before = c->errors;
    if (config_options(c, config_pred_opts, PRED_NOPTS, "predicate", map, map, path, &v,
                       &nv))
        return -1;
    if (c->errors != before)
        goto out;       /* a key was already reported: a combination error is noise */

    const config_value *test = NULL;
    for (size_t i = PRED_EQUALS; i < PRED_NOPTS; i++) {
        if (!v[i].is_set)
            continue;
        if (test) {
            config_error_at(c, v[i].line, v[i].column, path,
                            "a predicate with both \"%s\" and \"%s\"; expected exactly one "
                            "of equals, in, exists or topic",
                            test->decl->name, v[i].decl->name);
            goto out;
        }
        test = &v[i];
    }
    if (!test) {
        config_error(c, map, path, "a predicate with nothing to test; expected %s",
                     config_pred_example);
        goto out;
    }
    if (test == &v[PRED_TOPIC] && v[PRED_FIELD].is_set) {
        config_error_at(c, v[PRED_FIELD].line, v[PRED_FIELD].column, path,
                        "\"field\" is not used with \"topic\"; expected {topic: T} alone, "
                        "or {field: F, equals: V}");
        goto out;
    }
    if (test != &v[PRED_TOPIC] && !v[PRED_FIELD].is_set) {
        config_error(c, map, path, "missing key \"field\"; expected field: the JSON field "
                                   "to test, dot-separated for nested objects (a.b)");
        goto out;
    }
    if (v[PRED_FIELD].is_set) {
        const char *why = config_field_path_problem(v[PRED_FIELD].text);
        if (why) {
            char shown[128];
            config_show(shown, sizeof shown, v[PRED_FIELD].text);
            config_error_at(c, v[PRED_FIELD].line, v[PRED_FIELD].column, path,
                            "%s: %s; expected a JSON field such as event or resource.id",
                            why, shown);
            goto out;
        }
    }
    if (test == &v[PRED_IN] && v[PRED_IN].list_len == 0) {
        config_error_at(c, v[PRED_IN].line, v[PRED_IN].column, path,
                        "an empty list; expected at least one value, such as [a, b]");
        goto out;
    }
    if (test == &v[PRED_TOPIC]) {
        char tpath[CONFIG_PATH_MAX];
        config_path(tpath, path, "topic");
        size_t known = c->errors;
        config_topic_ref_at(c, p, v[PRED_TOPIC].line, v[PRED_TOPIC].column, tpath,
                            v[PRED_TOPIC].text);
        if (c->errors != known)
            goto out;
    }

    pr = calloc(1, sizeof *pr);
    if (!pr) {
        config_nomem(c);
        rc = -1;
        goto out;
    }
    pr->negate = strcmp(e->key, "unless") == 0;
    pr->line = (int)e->knode->start_mark.line + 1;
    pr->column = (int)e->knode->start_mark.column + 1;
    /* The values' strings move into the predicate; what is left is freed below. */
    pr->field = v[PRED_FIELD].text;
    v[PRED_FIELD].text = NULL;
    if (test == &v[PRED_EQUALS]) {
        pr->kind = CONFIG_PRED_EQUALS;
        pr->equals = v[PRED_EQUALS].text;
        v[PRED_EQUALS].text = NULL;
    } else if (test == &v[PRED_IN]) {
        pr->kind = CONFIG_PRED_IN;
        pr->in = v[PRED_IN].list;
        pr->nin = v[PRED_IN].list_len;
        v[PRED_IN].list = NULL;
        v[PRED_IN].list_len = 0;
    } else if (test == &v[PRED_EXISTS]) {
        pr->kind = CONFIG_PRED_EXISTS;
        pr->exists = v[PRED_EXISTS].number != 0;
    } else {
        pr->kind = CONFIG_PRED_TOPIC;
        pr->topic = v[PRED_TOPIC].text;
        v[PRED_TOPIC].text = NULL;
    }
    *out = pr;
out:
    config_values_free(v, nv);
    return rc;
}

/* ------------------------------------------------------------------------------ */
/* Transform lists                                                                */

/* Sorts a transform item's keys: when:/unless: go to *when and *unless, and the one
 * remaining key, the transform's name, to *name. A key that is a near miss of when
 * or unless (and names no plugin) is reported as unknown. Returns 0 when the item is
 * usable, -1 when it was reported. */
static int config_transform_keys(config_ctx *c, yaml_node_t *item, const char *ipath,
                                 config_entry *e, size_t ne, const config_entry **name,
                                 const config_entry **when, const config_entry **unless)
{
    static const char *const pred_keys[] = {"when", "unless"};
    size_t nnames = 0, first = 0;
    int bad = 0;

    *name = *when = *unless = NULL;
    for (size_t k = 0; k < ne; k++) {
        if (!strcmp(e[k].key, "when"))
            *when = &e[k];
        else if (!strcmp(e[k].key, "unless"))
            *unless = &e[k];
        else if (ne > 1 && config_suggest(e[k].key, pred_keys, 2) &&
                 !(c->plugins && loader_find(c->plugins, e[k].key))) {
            config_unknown_key(c, &e[k], ipath, pred_keys, 2);
            bad = 1;
        } else if (nnames++ == 0) {
            first = k;
        }
    }
    if (*when && *unless) {
        config_error(c, (*unless)->knode, ipath,
                     "a transform with both when: and unless:; expected at most one "
                     "predicate per transform (unless: is when: inverted)");
        bad = 1;
    }
    if (nnames > 1) {
        config_buf keys = {0};
        size_t shown = 0;
        for (size_t k = 0; k < ne; k++) {
            if (&e[k] == *when || &e[k] == *unless)
                continue;
            config_buf_str(&keys, shown++ ? ", " : " (");
            config_buf_str(&keys, e[k].key);
        }
        config_buf_str(&keys, ")");
        config_error(c, item, ipath,
                     "a transform with %zu keys%s; expected one key, the transform's name, "
                     "per item: - NAME: {options}, optionally beside when: or unless:",
                     nnames, keys.failed || !keys.s ? "" : keys.s);
        config_buf_free(&keys);
        return -1;
    }
    if (nnames == 0) {
        if (!bad)
            config_error(c, item, ipath,
                         "a transform item with no transform; expected - NAME: {options}%s",
                         *when || *unless ? " beside when: or unless:" : "");
        return -1;
    }
    *name = &e[first];
    return bad ? -1 : 0;
}

int config_transforms(config_ctx *c, const config_pipeline *p, yaml_node_t *seq,
                      const char *path, config_transform **out, size_t *n)
{
    static const char example[] = "a list such as [{filter: {field: event, in: [a, b]}}]";
    *out = NULL;
    *n = 0;
    if (config_is_null(seq))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE) {
        config_error(c, seq, path, "got %s; expected %s", config_kind_name(seq), example);
        return 0;
    }
    yaml_node_item_t *it = seq->data.sequence.items.start;
    size_t count = (size_t)(seq->data.sequence.items.top - it);
    config_transform *t = calloc(count ? count : 1, sizeof *t);
    if (!t) {
        config_nomem(c);
        return -1;
    }
    *out = t;
    for (size_t i = 0; i < count; i++) {
        char ipath[CONFIG_PATH_MAX], tpath[CONFIG_PATH_MAX];
        config_entry *e = NULL;
        size_t ne = 0;
        yaml_node_t *item = config_node(c, it[i]), *name_node, *cfg = NULL;
        const config_entry *name_e = NULL, *when = NULL, *unless = NULL;
        const char *name;
        if (!item)
            return -1;
        config_path_index(ipath, path, i);
        if (item->type == YAML_SCALAR_NODE && !config_is_null(item)) {
            /* "- name" alone: a transform that needs no options. */
            name_node = item;
            name = config_scalar(item);
        } else if (item->type == YAML_MAPPING_NODE) {
            if (config_map_entries(c, item, ipath, &e, &ne)) {
                free(e);
                return -1;
            }
            if (config_transform_keys(c, item, ipath, e, ne, &name_e, &when, &unless)) {
                free(e);
                continue;
            }
            name_node = name_e->knode;
            name = name_e->key;
            cfg = name_e->vnode;
        } else {
            config_error(c, item, ipath, "got %s; expected a transform: - NAME: {options}",
                         config_kind_name(item));
            continue;
        }
        config_path(tpath, ipath, name);
        config_transform *x = &t[(*n)++];
        x->line = (int)name_node->start_mark.line + 1;
        x->column = (int)name_node->start_mark.column + 1;
        x->name = strdup(name);
        if (!x->name) {
            free(e);
            config_nomem(c);
            return -1;
        }
        x->plugin = config_plugin(c, name_node, tpath, name, SPOOL_KIND_TRANSFORM);
        if (x->plugin &&
            config_options(c, x->plugin->options, x->plugin->option_count,
                           x->plugin->desc->name, cfg,
                           cfg && !config_is_null(cfg) ? cfg : name_node, tpath,
                           &x->values, &x->nvalues)) {
            free(e);
            return -1;
        }
        if ((when || unless) &&
            config_predicate_parse(c, p, when ? when : unless, ipath, &x->predicate)) {
            free(e);
            return -1;
        }
        free(e);
    }
    return 0;
}

void config_values_free(config_value *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].text);
        if (v[i].list) {
            for (size_t k = 0; k < v[i].list_len; k++)
                free(v[i].list[k]);
            free(v[i].list);
        }
    }
    free(v);
}

void config_transforms_free(config_transform *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        config_values_free(t[i].values, t[i].nvalues);
        config_predicate_free(t[i].predicate);
    }
    free(t);
}

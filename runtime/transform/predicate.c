/* predicate.c - when:/unless: on a transform item, as Kafka Connect's predicates.
 *
 * The worker asks transform_predicate_match() before each guarded transform; a record
 * that does not match skips that transform and goes on to the next. A field test reads
 * the value's JSON; a value that is not JSON never satisfies one (transform.h).
 */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "transform/transform_int.h"

static int predicate_test(const config_predicate *p, const spool_record *rec)
{
    json_error_t err;
    json_t *doc, *node;
    char *text;
    size_t n = 0;
    int holds = 0;

    if (p->kind == CONFIG_PRED_TOPIC)
        return rec->topic != NULL && strcmp(rec->topic, p->topic) == 0;
    if (rec->value == NULL)
        return 0;
    const char *fast;
    int found = transform_field_fast(rec->value, rec->value_len, p->field, &fast, &n);
    if (found >= 0 && p->kind == CONFIG_PRED_EXISTS)
        return found == (p->exists != 0);
    if (found == 0)
        return 0;
    if (found == 1 && p->kind == CONFIG_PRED_EQUALS)
        return strlen(p->equals) == n && memcmp(p->equals, fast, n) == 0;
    if (found == 1 && p->kind == CONFIG_PRED_IN)
        return transform_listed((const char *const *)p->in, fast, n);
    doc = json_loadb(rec->value, rec->value_len, TRANSFORM_JSON_DECODE, &err);
    if (doc == NULL)
        return 0;
    node = transform_path_get(doc, p->field);
    if (p->kind == CONFIG_PRED_EXISTS) {
        holds = (node != NULL) == (p->exists != 0);
    } else if (node != NULL && (text = transform_json_text(node, &n)) != NULL) {
        if (p->kind == CONFIG_PRED_EQUALS)
            holds = strlen(p->equals) == n && memcmp(p->equals, text, n) == 0;
        else if (p->kind == CONFIG_PRED_IN)
            holds = transform_listed((const char *const *)p->in, text, n);
        free(text);
    }
    json_decref(doc);
    return holds;
}

int transform_predicate_match(const config_predicate *p, const spool_record *rec)
{
    if (p == NULL)
        return 1;
    return predicate_test(p, rec) != (p->negate != 0);
}

/* json_scan_ref.h - the frozen reference scanner (json_scan_ref.c): runtime/json's
 * json_scan() as it was before the fast scanner, for tests and the microbenchmark only.
 * Same tokens and flags as json_scan.h; its own plan type, so the product's plan may
 * change without changing the reference. */
#ifndef SPOOL_JSON_SCAN_REF_H
#define SPOOL_JSON_SCAN_REF_H

#include "json_scan.h"

typedef struct json_scan_ref_plan {
    size_t npaths;
    int ok;
    size_t nsteps[JSON_SCAN_MAX_PATHS];
    const char *step[JSON_SCAN_MAX_PATHS][JSON_SCAN_MAX_STEPS];
    size_t steplen[JSON_SCAN_MAX_PATHS][JSON_SCAN_MAX_STEPS];
} json_scan_ref_plan;

void json_scan_ref_prepare(json_scan_ref_plan *plan, const char *const *paths, size_t n);
int json_scan_ref(const json_scan_ref_plan *plan, const char *json, size_t len,
                  json_token *toks, unsigned *flags, const char **why, size_t *at);
int json_scan_ref_text(const json_scan_ref_plan *plan, const char *json, size_t len,
                       const char **text, size_t *text_len);

#endif

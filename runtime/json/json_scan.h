/* json_scan.h - one validating pass over a JSON value that finds given fields, no tree.
 *
 * The hot paths (a source's key field, a filter's field, the SQL sinks' mapped
 * columns) need a few fields of each record, not a tree of all of them. json_scan()
 * checks the value against RFC 8259's grammar and records, for each path of a plan,
 * where that field's value lies in the input. Tokens borrow the input: nothing is
 * allocated or copied.
 *
 * What it leaves to a full parser, by setting a flag instead of deciding: object keys
 * written with escapes (which key they name needs decoding), \u escapes (a lone
 * surrogate is invalid to jansson), bytes that are not valid UTF-8, and numbers that
 * might not fit a long long or a double (jansson refuses those). A caller that
 * must agree with jansson to the letter takes its slow path when a flag is set.
 *
 * Built position-independent into its own static library, so that the runtime and the
 * connector plugins share it; it depends on nothing but libc.
 */
#ifndef SPOOL_JSON_SCAN_H
#define SPOOL_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSON_SCAN_MAX_PATHS 64
#define JSON_SCAN_MAX_STEPS 8
#define JSON_SCAN_MAX_DEPTH 256

typedef enum json_tok_type {
    JSON_TOK_ABSENT = 0,
    JSON_TOK_NULL,
    JSON_TOK_TRUE,
    JSON_TOK_FALSE,
    JSON_TOK_INT,          /* a number without fraction or exponent */
    JSON_TOK_REAL,
    JSON_TOK_STRING,       /* p/len include the quotes */
    JSON_TOK_OBJECT,       /* p/len: the whole object, as written */
    JSON_TOK_ARRAY
} json_tok_type;

typedef struct json_token {
    json_tok_type type;
    const char *p;
    size_t len;
    int escaped;           /* a string with backslash escapes */
} json_token;

/* What json_scan() saw that it did not judge (see above). */
enum {
    JSON_SCAN_ESCAPED_KEY = 1,    /* a key with escapes, at a depth a path could reach */
    JSON_SCAN_UNICODE_ESCAPE = 2, /* a \uXXXX escape anywhere */
    JSON_SCAN_NOT_UTF8 = 4,       /* bytes that are not well-formed UTF-8 */
    JSON_SCAN_BIG_NUMBER = 8      /* a number a long long or a double may not hold */
};

/* Dot-separated paths ("resource.id") split into steps. Only the first npaths
 * entries of the per-path arrays are set: a plan on the stack costs little to prepare.
 * head[c][d] holds step d of path c's first 8 bytes (zero past its end), compared with a
 * key as one word. The masks (bit c for path c) let the scan find which paths a key
 * continues without walking every path: ends[d] holds the paths of d + 1 steps, longer[d] those of more;
 * with JSON_SCAN_HASH_MIN paths or more, bucket[] narrows a key to the paths whose step
 * at its depth hashes as it does. Fill a plan only with json_scan_prepare(). */
#define JSON_SCAN_HASH_MIN 4
#define JSON_SCAN_BUCKETS 64

typedef struct json_scan_plan {
    size_t npaths;
    int ok;                /* 0: too many paths or steps; do not scan with it */
    size_t nsteps[JSON_SCAN_MAX_PATHS];
    const char *step[JSON_SCAN_MAX_PATHS][JSON_SCAN_MAX_STEPS];
    size_t steplen[JSON_SCAN_MAX_PATHS][JSON_SCAN_MAX_STEPS];
    uint64_t head[JSON_SCAN_MAX_PATHS][JSON_SCAN_MAX_STEPS]; /* a step's first 8 bytes */
    uint64_t ends[JSON_SCAN_MAX_STEPS], longer[JSON_SCAN_MAX_STEPS];
    int hashed;            /* bucket[] is filled */
    uint64_t bucket[JSON_SCAN_BUCKETS];
} json_scan_plan;

/* Prepares plan for paths[0..n) (which must outlive it); a NULL path finds nothing. */
void json_scan_prepare(json_scan_plan *plan, const char *const *paths, size_t n);

/* Scans json[0..len) and fills toks[0..plan->npaths) (JSON_TOK_ABSENT for a path the
 * value does not have; the last member wins when a key repeats, as in jansson).
 * Returns 0 with *flags set, or -1 when the value is not JSON: *why says what was
 * wrong and *at the byte offset. */
int json_scan(const json_scan_plan *plan, const char *json, size_t len, json_token *toks,
              unsigned *flags, const char **why, size_t *at);

/* The field at path as text, with transform's rule (a string without its quotes,
 * true/false/null and integers as written), when the scan can say so without a full
 * parser. Returns 1 with *text borrowed from json, 0 when the value is JSON without
 * the field, -1 when the caller must ask a full parser (not JSON, a flag was set, or
 * the field is an escaped string, a real, an object or an array). */
int json_scan_text(const json_scan_plan *plan, const char *json, size_t len,
                   const char **text, size_t *text_len);

#endif

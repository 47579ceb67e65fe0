/* http_body.h - the webhook body parser: one JSON event, a JSON array of events, or
 * NDJSON, checked strictly (RFC 8259 grammar, UTF-8) without building a tree.
 *
 * The parser only finds where each event is: the events are handed on as the exact
 * bytes the client sent, so nothing is re-encoded and a body is read once. It has no
 * state and no dependency, so the libFuzzer target calls it directly.
 */
#ifndef SPOOL_HTTP_BODY_H
#define SPOOL_HTTP_BODY_H

#include <stddef.h>

/* Deepest nesting of objects and arrays accepted inside one event. */
#define HTTP_BODY_MAX_DEPTH 64

enum {
    HTTP_BODY_OK = 0,
    HTTP_BODY_EINVAL = -1, /* not a valid body: err says why and where */
    HTTP_BODY_ENOMEM = -2
};

/* Where one event lies in the body. */
typedef struct http_span {
    size_t off, len;
} http_span;

/* A growable list of spans, owned by the caller; reused across bodies. */
typedef struct http_events {
    http_span *v;
    size_t n, cap;
} http_events;

/* Finds the events of body[0..len): a JSON object, a JSON array of objects, or objects
 * one per line (NDJSON; blank lines are allowed). Every event must be a JSON object.
 * On success ev->n is the number of events (0 for "[]"). On HTTP_BODY_EINVAL, err holds
 * a sentence with the reason and the byte offset, line and column where it was found
 * (and *err_pos the byte offset). body need not be NUL-terminated. Thread: any. */
int http_body_parse(const char *body, size_t len, http_events *ev, char *err,
                    size_t errlen, size_t *err_pos);

/* Returns 1 when p[0..len) is exactly one valid JSON value (surrounding whitespace
 * allowed), else 0. Thread: any. */
int http_json_valid(const char *p, size_t len);

/* Frees the list's memory. */
void http_events_free(http_events *ev);

#endif

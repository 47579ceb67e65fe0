/* http_source.c - the webhook source: answers a POST only once its events are durable.
 *
 * Usage:
 *
 *     sources:
 *       app-events:
 *         connector: http
 *         topic: resource-events
 *         config: {listen: 127.0.0.1:8088, path: /events, token: "${HOOK_TOKEN}"}
 *
 * libmicrohttpd's threads read and check each request (method, path, bearer token,
 * content type, size) and parse its body (http_body.c) into events. A valid request gets
 * the next sequence number, joins a bounded queue (full: 503 with Retry-After) and its
 * connection is suspended (no thread waits for it); a condition variable wakes the
 * task's poll(), which waits briefly for the rest of a group of clients it expects back
 * (batch_wait, see "batching" below), then emits the events of every queued request, the
 * last one of each request carrying that request's sequence number as the source
 * position. The runtime commits them (one group commit, one fsync,
 * for all the requests of the poll) and then calls commit(position): every request with
 * a sequence number up to the position is durable, and only now is it resumed and
 * answered 200. So a 200 always means durable, and a crash at any moment can lose only
 * requests that were never answered 200, which their clients retry. On close every
 * pending request is answered 503. The stored position only keeps sequence numbers
 * increasing across restarts; nothing is pending after a restart.
 *
 * Idempotency-Key: a repeated key within the window is answered 200 without emitting
 * again (after its first request is durable), so client retries do not double events.
 * The table lives in memory; each record also carries the key in an "idempotency-key"
 * header, so a consumer can drop repeats that straddle a restart.
 *
 * Threads: the access handler runs on libmicrohttpd's threads and touches shared state
 * only under s->lock; poll(), commit() and close() run on the task's thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_body.h"
#include "json_scan.h"
#include "spool/plugin.h"

static const spool_host *host;

#define IDEM_KEY_MAX 255

enum { R_NEW, R_QUEUED, R_EMITTED, R_DONE };

typedef struct hsrc hsrc;

/* One client connection (libmicrohttpd's socket context), for the batching of poll():
 * a connection whose last request came back within batch_wait of the answer before it
 * is "fast", and a fast connection just answered is awaited (on the idle list) by the
 * next poll(). Under src->lock once the connection has sent a request. */
typedef struct hconn {
    struct hconn *prev, *next;     /* the idle list */
    int64_t answered_us;           /* when its last request was answered 200; 0: never */
    int fast;
    int idle;                      /* on the idle list */
} hconn;

typedef struct hreq {
    struct hreq *next;
    struct MHD_Connection *conn;
    hconn *hc;                     /* its connection's context; NULL if none */
    hsrc *src;
    char *body;
    size_t len, cap;
    int too_big;
    int state;                     /* R_*; under src->lock once queued */
    int status;                    /* the answer, set before resuming */
    int waiter;                    /* a repeated Idempotency-Key: emits nothing */
    int arriving;                  /* counted in src->narriving (under src->lock) */
    uint64_t seq;
    http_events ev;
    http_span *keys;               /* ev.n keys found while parsing; len SIZE_MAX: none */
    char idem[IDEM_KEY_MAX + 1];   /* "" when the request has no key */
} hreq;

typedef struct idem_entry {
    struct idem_entry *hnext;      /* hash chain */
    struct idem_entry *fnext;      /* insertion order, for expiry */
    uint64_t seq;
    int64_t at_ms;
    char key[];
} idem_entry;

struct hsrc {
    spool_task *task;
    struct MHD_Daemon *daemon;
    char path[256];
    char *token_header;            /* "Bearer TOKEN", NULL: no token */
    size_t token_len;
    size_t max_body;
    int64_t max_requests, max_pending_bytes;
    unsigned retry_after_s;
    int64_t idem_window_ms;
    int64_t idem_max;
    int64_t batch_wait_us;
    char *tls_key, *tls_cert;
    const char *key_field;         /* the pipeline's key: path, NULL: none */
    json_scan_plan key_plan;

    pthread_mutex_t lock;          /* guards everything below */
    pthread_cond_t wake;           /* poll() waits here (CLOCK_MONOTONIC) */
    int stopping;
    int lingering;                 /* poll() waits for the rest of a group */
    hconn *idle_head, *idle_tail;  /* fast connections answered, next request not in */
    int64_t nidle;
    int64_t narriving;             /* requests whose headers are in, not yet queued */
    int64_t stat_polls, stat_requests, stat_lingers, stat_linger_us; /* for close()'s log */
    hreq *queue, *queue_tail;      /* accepted, not yet emitted */
    hreq *inflight, *inflight_tail;/* emitted, waiting for commit */
    int64_t pending, pending_bytes;
    uint64_t next_seq, committed_seq;
    idem_entry **buckets;
    size_t nbuckets;
    idem_entry *ihead, *itail;
    int64_t icount;
};

static const char *const http_source_ctypes[] = {
    "application/json", "application/x-ndjson", "application/ndjson",
    "application/jsonl", "application/x-jsonlines", "text/plain", NULL};

static const spool_option http_source_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "listen",
     .default_value = "127.0.0.1:8088",
     .doc = "Address and port to listen on (HOST:PORT, [V6]:PORT); port 0 picks a free one."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path", .default_value = "/events",
     .doc = "URL path that accepts events; any other path answers 404."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "token", .flags = SPOOL_OPT_SECRET,
     .doc = "Bearer token clients must send (Authorization: Bearer ...); unset: no check."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "tls_cert",
     .doc = "PEM certificate file; with tls_key, serves HTTPS instead of HTTP."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "tls_key",
     .doc = "PEM private key file of tls_cert."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "max_body_bytes",
     .default_value = "1MiB", .min = 64, .max = 256 * 1024 * 1024,
     .doc = "Largest request body accepted; a larger one answers 413."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "max_connections",
     .default_value = "256", .min = 1, .max = 65536,
     .doc = "Concurrent client connections at most; more are refused at accept."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "request_timeout",
     .default_value = "30s", .min = 1000, .max = 3600000,
     .doc = "An idle connection or a request that stalls while being sent is closed after this."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "max_pending_requests",
     .default_value = "4096", .min = 1, .max = 1000000,
     .doc = "Requests waiting to be made durable at most; more answer 503 with Retry-After."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "max_pending_bytes",
     .default_value = "64MiB", .min = 1024, .max = (int64_t)16 * 1024 * 1024 * 1024,
     .doc = "Body bytes waiting to be made durable at most; more answer 503 with Retry-After."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "retry_after",
     .default_value = "1s", .min = 1000, .max = 3600000,
     .doc = "Retry-After sent with a 503 (rounded up to whole seconds)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "idempotency_window",
     .default_value = "10m", .min = 0, .max = 7LL * 24 * 3600 * 1000,
     .doc = "How long a repeated Idempotency-Key is answered without emitting again; 0 turns it off."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "idempotency_max_keys",
     .default_value = "100000", .min = 1, .max = 10000000,
     .doc = "Idempotency keys remembered at most; the oldest are forgotten first."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "batch_wait",
     .default_value = "1ms", .min = 0, .max = 1000,
     .doc = "How long a poll waits for the next request of clients that were just answered "
            "and came back quickly before, so their events share one commit; 0: no wait."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "threads", .default_value = "2",
     .min = 1, .max = 64, .doc = "Threads serving HTTP."},
    {.name = NULL},
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Waits on s->wake until the monotonic time until_us at the latest. Under s->lock. */
static void wait_until_locked(hsrc *s, int64_t until_us)
{
    struct timespec ts = {(time_t)(until_us / 1000000), (long)(until_us % 1000000) * 1000};
    pthread_cond_timedwait(&s->wake, &s->lock, &ts);
}

/* ---- The batching of requests into one commit (under s->lock) ---------------------
 *
 * poll() takes every queued request at once, and the runtime commits them with one
 * fsync. A client waits for its answer before it sends again, so right after a commit
 * answered a group of clients the queue is nearly empty, and taking only the first of
 * them to come back would split the group across two commits (each as slow as one).
 * So once a request is queued, poll() waits (at most batch_wait) for the clients it
 * expects back: connections answered 200 whose previous request came back within
 * batch_wait of its answer (fast), and requests whose headers are already in. A client
 * that does not come back in time is no longer fast, so sparse clients cost no wait. */

static void idle_unlink_locked(hsrc *s, hconn *hc)
{
    if (!hc->idle)
        return;
    *(hc->prev ? &hc->prev->next : &s->idle_head) = hc->next;
    *(hc->next ? &hc->next->prev : &s->idle_tail) = hc->prev;
    hc->prev = hc->next = NULL;
    hc->idle = 0;
    s->nidle--;
}

/* A request of hc's has arrived: it is awaited no more, and the connection is fast if
 * it came back within batch_wait (a new connection is). */
static void conn_back_locked(hsrc *s, hconn *hc, int64_t now)
{
    idle_unlink_locked(s, hc);
    hc->fast = hc->answered_us == 0 || now - hc->answered_us <= s->batch_wait_us;
}

/* hc's request was answered 200 now: a fast connection is awaited again. */
static void conn_answered_locked(hsrc *s, hconn *hc, int64_t now)
{
    hc->answered_us = now;
    if (!hc->fast || hc->idle || s->batch_wait_us == 0)
        return;
    hc->idle = 1;
    hc->next = NULL;
    hc->prev = s->idle_tail;
    *(s->idle_tail ? &s->idle_tail->next : &s->idle_head) = hc;
    s->idle_tail = hc;
    s->nidle++;
}

/* Wakes a lingering poll() when no request is awaited any more. */
static void group_check_locked(hsrc *s)
{
    if (s->lingering && s->nidle == 0 && s->narriving == 0)
        pthread_cond_signal(&s->wake);
}

/* r's request is queued or answered: it is not arriving any more. */
static void arrived_locked(hsrc *s, hreq *r)
{
    if (!r->arriving)
        return;
    r->arriving = 0;
    s->narriving--;
    group_check_locked(s);
}

/* With requests queued: waits for the requests expected soon (see above), at most
 * batch_wait. */
static void linger_locked(hsrc *s)
{
    int64_t now = now_us(), start = now, until = now + s->batch_wait_us;
    int waited = 0;
    for (;;) {
        /* Connections that did not come back within batch_wait are slow now. */
        while (s->idle_head != NULL && s->idle_head->answered_us + s->batch_wait_us <= now) {
            hconn *hc = s->idle_head;
            idle_unlink_locked(s, hc);
            hc->fast = 0;
        }
        if ((s->nidle == 0 && s->narriving == 0) || now >= until) {
            if (waited) {
                s->stat_lingers++;
                s->stat_linger_us += now - start;
            }
            return;
        }
        waited = 1;
        int64_t wake = until;
        if (s->idle_head != NULL && s->idle_head->answered_us + s->batch_wait_us < wake)
            wake = s->idle_head->answered_us + s->batch_wait_us;
        s->lingering = 1;
        wait_until_locked(s, wake);
        s->lingering = 0;
        now = now_us();
    }
}

/* ---- Idempotency keys (under s->lock) --------------------------------------------- */

static size_t idem_hash(const char *k)
{
    size_t h = 1469598103934665603ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

static void idem_unlink(hsrc *s, idem_entry *e)
{
    idem_entry **pp = &s->buckets[idem_hash(e->key) & (s->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
}

static void idem_expire(hsrc *s, int64_t now)
{
    while (s->ihead != NULL &&
           (s->icount > s->idem_max || now - s->ihead->at_ms >= s->idem_window_ms)) {
        idem_entry *e = s->ihead;
        s->ihead = e->fnext;
        if (s->ihead == NULL)
            s->itail = NULL;
        idem_unlink(s, e);
        free(e);
        s->icount--;
    }
}

static idem_entry *idem_find(hsrc *s, const char *key)
{
    idem_expire(s, now_ms());
    for (idem_entry *e = s->buckets[idem_hash(key) & (s->nbuckets - 1)]; e; e = e->hnext)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void idem_add(hsrc *s, const char *key, uint64_t seq)
{
    size_t n = strlen(key);
    idem_entry *e = malloc(sizeof(*e) + n + 1);
    if (e == NULL)
        return; /* only the dedup of this one key is lost */
    memcpy(e->key, key, n + 1);
    e->seq = seq;
    e->at_ms = now_ms();
    size_t b = idem_hash(key) & (s->nbuckets - 1);
    e->hnext = s->buckets[b];
    s->buckets[b] = e;
    e->fnext = NULL;
    if (s->itail)
        s->itail->fnext = e;
    else
        s->ihead = e;
    s->itail = e;
    s->icount++;
    idem_expire(s, e->at_ms);
}

/* Forgets the key of a request that was refused after all (stop), so a retry emits. */
static void idem_forget(hsrc *s, const char *key, uint64_t seq)
{
    if (s->buckets == NULL || key[0] == '\0')
        return;
    idem_entry **pp = &s->ihead, *prev = NULL;
    for (idem_entry *e = s->ihead; e; prev = e, e = e->fnext) {
        if (e->seq == seq && strcmp(e->key, key) == 0) {
            *(prev ? &prev->fnext : pp) = e->fnext;
            if (s->itail == e)
                s->itail = prev;
            idem_unlink(s, e);
            free(e);
            s->icount--;
            return;
        }
    }
}

/* ---- Responses ------------------------------------------------------------------- */

/* Appends text to a JSON string body, escaped. */
static size_t json_escape(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (; *in && o + 7 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

static enum MHD_Result reply(hsrc *s, struct MHD_Connection *c, unsigned status,
                             const char *fmt_json)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(fmt_json), (void *)fmt_json, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", s->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    } else if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    } else if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    }
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_error(hsrc *s, struct MHD_Connection *c, unsigned status,
                                   const char *why)
{
    char body[600], esc[512];
    json_escape(esc, sizeof(esc), why);
    snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", esc);
    return reply(s, c, status, body);
}

/* ---- The access handler (libmicrohttpd's threads) ------------------------------------ */

/* Compares the Authorization header with "Bearer TOKEN" in time independent of where
 * they differ. */
static int token_ok(hsrc *s, const char *got)
{
    if (s->token_header == NULL)
        return 1;
    if (got == NULL)
        return 0;
    size_t n = strlen(got);
    unsigned char diff = (unsigned char)(n != s->token_len);
    for (size_t i = 0; i < s->token_len; i++)
        diff |= (unsigned char)(s->token_header[i] ^ (i < n ? got[i] : 0));
    return diff == 0;
}

static int ctype_ok(const char *ct)
{
    if (ct == NULL)
        return 1;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    for (const char *const *t = http_source_ctypes; *t; t++)
        if (strlen(*t) == n && strncasecmp(ct, *t, n) == 0) {
            const char *cs = strcasestr(ct + n, "charset=");
            if (cs == NULL)
                return 1;
            cs += 8;
            if (*cs == '"')
                cs++;
            return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0;
        }
    return 0;
}

/* Finds each event's key field here, on the server's thread, so that the task's thread
 * emits without searching (host->key_field). A key the scan cannot give as text
 * (escapes, a real, a missing field) is left to the runtime. */
static int find_keys(const hsrc *s, hreq *r)
{
    free(r->keys);
    r->keys = NULL;
    if (s->key_field == NULL)
        return 0;
    r->keys = malloc(r->ev.n * sizeof(*r->keys));
    if (r->keys == NULL)
        return -1;
    for (size_t i = 0; i < r->ev.n; i++) {
        const char *text;
        size_t len;
        const char *ev = r->body + r->ev.v[i].off;
        if (json_scan_text(&s->key_plan, ev, r->ev.v[i].len, &text, &len) == 1)
            r->keys[i] = (http_span){(size_t)(text - r->body), len};
        else
            r->keys[i] = (http_span){0, SIZE_MAX};
    }
    return 0;
}

static void req_free(hreq *r)
{
    if (r == NULL)
        return;
    free(r->body);
    http_events_free(&r->ev);
    free(r->keys);
    free(r);
}

/* Queues r for the task, or says why not. Under s->lock. */
static unsigned enqueue_locked(hsrc *s, hreq *r, const char **why)
{
    arrived_locked(s, r);
    if (s->stopping) {
        *why = "the source is stopping; retry later";
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (r->idem[0] != '\0' && s->buckets != NULL) {
        idem_entry *e = idem_find(s, r->idem);
        if (e != NULL) {
            if (e->seq <= s->committed_seq)
                return MHD_HTTP_OK; /* already durable: answer now */
            r->waiter = 1;
            r->seq = e->seq;
        }
    }
    if (s->pending >= s->max_requests ||
        (s->pending > 0 && s->pending_bytes + (int64_t)r->len > s->max_pending_bytes)) {
        *why = "too many events waiting to be made durable; retry later";
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (!r->waiter) {
        r->seq = ++s->next_seq;
        if (r->idem[0] != '\0' && s->buckets != NULL)
            idem_add(s, r->idem, r->seq);
    }
    int was_empty = s->queue == NULL;
    r->state = R_QUEUED;
    r->next = NULL;
    if (s->queue_tail)
        s->queue_tail->next = r;
    else
        s->queue = r;
    s->queue_tail = r;
    s->pending++;
    s->pending_bytes += (int64_t)r->len;
    MHD_suspend_connection(r->conn);
    if (was_empty)
        pthread_cond_signal(&s->wake);
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    hsrc *s = cls;
    hreq *r = *con_cls;
    (void)version;

    if (r == NULL) {
        /* The headers are in: check everything that needs no body. */
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return reply_error(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, "only POST is accepted");
        if (strcmp(url, s->path) != 0)
            return reply_error(s, c, MHD_HTTP_NOT_FOUND, "no such path");
        if (!token_ok(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION)))
            return reply_error(s, c, MHD_HTTP_UNAUTHORIZED,
                               "missing or wrong bearer token");
        if (!ctype_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_TYPE)))
            return reply_error(s, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                               "content type must be application/json or "
                               "application/x-ndjson, in UTF-8");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
        if (want > s->max_body)
            return reply_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE,
                               "body larger than max_body_bytes");
        const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
        if (key != NULL && (key[0] == '\0' || strlen(key) > IDEM_KEY_MAX))
            return reply_error(s, c, MHD_HTTP_BAD_REQUEST,
                               "Idempotency-Key must be 1 to 255 characters");
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        r->conn = c;
        r->src = s;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->hc = ci != NULL ? ci->socket_context : NULL;
        pthread_mutex_lock(&s->lock);
        if (r->hc != NULL)
            conn_back_locked(s, r->hc, now_us());
        r->arriving = 1;
        s->narriving++;
        pthread_mutex_unlock(&s->lock);
        if (key != NULL)
            memcpy(r->idem, key, strlen(key) + 1);
        if (want > 0) {
            r->body = malloc(want);
            if (r->body == NULL) {
                *con_cls = r; /* on_completed() frees it */
                return MHD_NO;
            }
            r->cap = want;
        }
        *con_cls = r;
        return MHD_YES;
    }

    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->len + n > s->max_body) {
            r->too_big = 1; /* read and dropped; answered 413 at the end */
            return MHD_YES;
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n)
                cap *= 2;
            if (cap > s->max_body)
                cap = s->max_body;
            char *b = realloc(r->body, cap);
            if (b == NULL)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }

    if (r->state == R_DONE) {
        /* Resumed by commit() or close(). */
        char body[64];
        int status;
        pthread_mutex_lock(&s->lock);
        status = r->status;
        pthread_mutex_unlock(&s->lock);
        if (status != MHD_HTTP_OK)
            return reply_error(s, c, (unsigned)status,
                               "not made durable (the source stopped); retry");
        snprintf(body, sizeof(body), "{\"accepted\":%zu}\n", r->waiter ? 0 : r->ev.n);
        return reply(s, c, MHD_HTTP_OK, body);
    }
    if (r->state != R_NEW)
        return MHD_YES; /* spurious call while suspended */

    if (r->too_big)
        return reply_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than max_body_bytes");
    char why[256];
    int prc = http_body_parse(r->body, r->len, &r->ev, why, sizeof(why), NULL);
    if (prc == HTTP_BODY_ENOMEM)
        return reply_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory; retry later");
    if (prc != HTTP_BODY_OK)
        return reply_error(s, c, MHD_HTTP_BAD_REQUEST, why);
    if (r->ev.n == 0)
        return reply(s, c, MHD_HTTP_OK, "{\"accepted\":0}\n");
    if (find_keys(s, r) != 0)
        return reply_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory; retry later");

    const char *refusal = NULL;
    pthread_mutex_lock(&s->lock);
    unsigned st = enqueue_locked(s, r, &refusal);
    pthread_mutex_unlock(&s->lock);
    if (st == MHD_HTTP_OK)
        return reply(s, c, MHD_HTTP_OK, "{\"accepted\":0,\"duplicate\":true}\n");
    if (st != 0)
        return reply_error(s, c, st, refusal);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    hsrc *s = cls;
    hreq *r = *con_cls;
    (void)c;
    (void)toe;
    /* A queued request is suspended, and so never completes, until it is answered. */
    if (r != NULL && r->arriving) { /* refused, or the client went away */
        pthread_mutex_lock(&s->lock);
        arrived_locked(s, r);
        pthread_mutex_unlock(&s->lock);
    }
    req_free(r);
    *con_cls = NULL;
}

/* Gives each connection its hconn, and forgets it when the connection closes. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    hsrc *s = cls;
    (void)c;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        hconn *hc = calloc(1, sizeof(*hc));
        if (hc != NULL)
            hc->fast = 1;
        *socket_context = hc; /* NULL: this connection is simply never awaited */
    } else if (*socket_context != NULL) {
        hconn *hc = *socket_context;
        pthread_mutex_lock(&s->lock);
        idle_unlink_locked(s, hc);
        group_check_locked(s);
        pthread_mutex_unlock(&s->lock);
        free(hc);
        *socket_context = NULL;
    }
}

/* ---- The task -------------------------------------------------------------------- */

/* Answers r (already unlinked) with status and resumes its connection. Under lock. */
static void answer_locked(hsrc *s, hreq *r, int status, int64_t now)
{
    if (status == MHD_HTTP_OK && r->hc != NULL)
        conn_answered_locked(s, r->hc, now);
    r->status = status;
    r->state = R_DONE;
    s->pending--;
    s->pending_bytes -= (int64_t)r->len;
    if (status != MHD_HTTP_OK && !r->waiter)
        idem_forget(s, r->idem, r->seq);
    MHD_resume_connection(r->conn);
}

static char *read_file(spool_task *t, const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (f == NULL) {
        host->set_error(t, "cannot open %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > 1024 * 1024 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        host->set_error(t, "cannot read %s %s", what, path);
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static spool_rc parse_listen(spool_task *t, const char *listen, struct sockaddr_storage *ss,
                             socklen_t *sslen)
{
    char hostpart[256];
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hl;
    struct addrinfo hints = {0}, *ai = NULL;
    if (colon == NULL || colon == listen)
        goto bad;
    hl = (size_t)(colon - listen);
    if (h[0] == '[' && colon[-1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(hostpart))
        goto bad;
    memcpy(hostpart, h, hl);
    hostpart[hl] = '\0';
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(hostpart, colon + 1, &hints, &ai) != 0 || ai == NULL)
        goto bad;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sslen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return SPOOL_OK;
bad:
    host->set_error(t, "listen \"%s\" is not HOST:PORT (e.g. 127.0.0.1:8088)", listen);
    return SPOOL_EINVAL;
}

static spool_rc hs_open(spool_task *t, void **state)
{
    hsrc *s = calloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    const void *pos = NULL;
    size_t pos_len = 0;
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->task = t;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);

    const char *path = host->opt_string(t, "path");
    if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(s->path)) {
        host->set_error(t, "path must start with '/' and be shorter than 256 bytes");
        return SPOOL_EINVAL;
    }
    strcpy(s->path, path);
    const char *token = host->opt_string(t, "token");
    if (token != NULL && token[0] != '\0') {
        s->token_len = strlen("Bearer ") + strlen(token);
        s->token_header = malloc(s->token_len + 1);
        if (s->token_header == NULL)
            return SPOOL_ENOMEM;
        snprintf(s->token_header, s->token_len + 1, "Bearer %s", token);
    }
    s->max_body = (size_t)host->opt_int(t, "max_body_bytes");
    s->max_requests = host->opt_int(t, "max_pending_requests");
    s->max_pending_bytes = host->opt_int(t, "max_pending_bytes");
    s->retry_after_s = (unsigned)((host->opt_int(t, "retry_after") + 999) / 1000);
    s->idem_window_ms = host->opt_int(t, "idempotency_window");
    s->idem_max = host->opt_int(t, "idempotency_max_keys");
    s->batch_wait_us = host->opt_int(t, "batch_wait") * 1000;
    if (SPOOL_HAS(spool_host, host, key_field) && (s->key_field = host->key_field(t)) != NULL) {
        json_scan_prepare(&s->key_plan, &s->key_field, 1);
        if (!s->key_plan.ok)
            s->key_field = NULL; /* a path the scan cannot take: the runtime's */
    }
    if (s->idem_window_ms > 0) {
        s->nbuckets = 1024;
        while ((int64_t)s->nbuckets < s->idem_max)
            s->nbuckets *= 2;
        s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
        if (s->buckets == NULL)
            return SPOOL_ENOMEM;
    }
    /* Sequence numbers go on from the last committed one. */
    host->source_position(t, &pos, &pos_len);
    if (pos_len > 0 && pos_len < 24) {
        char text[24];
        memcpy(text, pos, pos_len);
        text[pos_len] = '\0';
        s->next_seq = strtoull(text, NULL, 10);
    }
    s->committed_seq = s->next_seq;

    const char *listen = host->opt_string(t, "listen");
    spool_rc rc = parse_listen(t, listen ? listen : "", &ss, &sslen);
    if (rc != SPOOL_OK)
        return rc;

    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    const char *cert = host->opt_string(t, "tls_cert"), *key = host->opt_string(t, "tls_key");
    if ((cert != NULL) != (key != NULL)) {
        host->set_error(t, "tls_cert and tls_key go together: set both or neither");
        return SPOOL_EINVAL;
    }
    if (cert != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            host->set_error(t, "this libmicrohttpd was built without TLS support");
            return SPOOL_ERR;
        }
        if ((s->tls_cert = read_file(t, "tls_cert", cert)) == NULL ||
            (s->tls_key = read_file(t, "tls_key", key)) == NULL)
            return SPOOL_EINVAL;
        flags |= MHD_USE_TLS;
    }
    unsigned timeout_s = (unsigned)((host->opt_int(t, "request_timeout") + 999) / 1000);
    struct MHD_OptionItem tls[] = {
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert},
        {cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)host->opt_int(t, "threads"),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)host->opt_int(t, "max_connections"),
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (s->daemon == NULL) {
        host->set_error(t, "cannot listen on %s: the address is in use, not local, or "
                        "not permitted", listen);
        return SPOOL_RETRY;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    host->log(t, SPOOL_LOG_INFO, "listening on %s (port %u), path %s%s", listen,
              info ? (unsigned)info->port : 0u, s->path, cert ? ", TLS" : "");
    return SPOOL_OK;
}

static spool_rc hs_poll(spool_task *t, void *state, int timeout_ms)
{
    hsrc *s = state;
    hreq *first;

    pthread_mutex_lock(&s->lock);
    if (s->queue == NULL && timeout_ms > 0) {
        int64_t until = now_us() + (int64_t)timeout_ms * 1000;
        while (s->queue == NULL && now_us() < until)
            wait_until_locked(s, until);
    }
    if (s->queue != NULL && s->batch_wait_us > 0)
        linger_locked(s);
    if (s->queue != NULL)
        s->stat_polls++;

    /* Take the whole queue: its requests now wait for commit(). */
    first = s->queue;
    if (first != NULL) {
        if (s->inflight_tail)
            s->inflight_tail->next = first;
        else
            s->inflight = first;
        s->inflight_tail = s->queue_tail;
        s->queue = s->queue_tail = NULL;
    }
    for (hreq *r = first; r; r = r->next) {
        r->state = R_EMITTED;
        s->stat_requests++;
    }
    pthread_mutex_unlock(&s->lock);

    /* The requests are ours to read now: only commit() and close() touch them again. */
    for (hreq *r = first; r; r = r->next) {
        if (r->waiter)
            continue;
        char pos[24];
        size_t pos_len = (size_t)snprintf(pos, sizeof(pos), "%" PRIu64, r->seq);
        spool_header hdr = {"idempotency-key", r->idem, strlen(r->idem)};
        for (size_t i = 0; i < r->ev.n; i++) {
            spool_record rec = {
                .struct_size = sizeof(spool_record),
                .value = r->body + r->ev.v[i].off,
                .value_len = r->ev.v[i].len,
                .headers = r->idem[0] ? &hdr : NULL,
                .header_count = r->idem[0] ? 1 : 0,
                .partition = -1,
            };
            if (r->keys != NULL && r->keys[i].len != SIZE_MAX) {
                rec.key = r->body + r->keys[i].off;
                rec.key_len = r->keys[i].len;
            }
            int last = i + 1 == r->ev.n;
            spool_rc rc = host->emit(t, &rec, last ? pos : NULL, last ? pos_len : 0);
            if (rc != SPOOL_OK)
                return rc; /* stopping: close() answers what is not committed */
        }
    }
    return SPOOL_OK;
}

static spool_rc hs_commit(spool_task *t, void *state, const void *position, size_t len)
{
    hsrc *s = state;
    char text[24];
    (void)t;
    if (len == 0 || len >= sizeof(text))
        return SPOOL_OK;
    memcpy(text, position, len);
    text[len] = '\0';
    uint64_t upto = strtoull(text, NULL, 10);
    int64_t now = now_us();

    pthread_mutex_lock(&s->lock);
    if (upto > s->committed_seq)
        s->committed_seq = upto;
    hreq **pp = &s->inflight, *prev = NULL;
    while (*pp != NULL) {
        hreq *r = *pp;
        if (r->seq <= upto) {
            *pp = r->next;
            if (s->inflight_tail == r)
                s->inflight_tail = prev;
            answer_locked(s, r, MHD_HTTP_OK, now);
        } else {
            prev = r;
            pp = &r->next;
        }
    }
    /* Repeats of a key whose first request is durable now, still queued. */
    pp = &s->queue;
    prev = NULL;
    while (*pp != NULL) {
        hreq *r = *pp;
        if (r->waiter && r->seq <= upto) {
            *pp = r->next;
            if (s->queue_tail == r)
                s->queue_tail = prev;
            answer_locked(s, r, MHD_HTTP_OK, now);
        } else {
            prev = r;
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return SPOOL_OK;
}

static void hs_close(spool_task *t, void *state)
{
    hsrc *s = state;
    (void)t;
    if (s == NULL)
        return;
    if (s->daemon != NULL) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        if (s->stat_polls > 0)
            host->log(t, SPOOL_LOG_INFO, "%" PRId64 " requests taken by %" PRId64 " polls "
                      "(one commit each); %" PRId64 " polls waited for clients (batch_wait), "
                      "%" PRId64 " us in all", s->stat_requests, s->stat_polls,
                      s->stat_lingers, s->stat_linger_us);
        /* A waiter answered 503 below is retried by its client, which is right: its
         * first request is not durable either, or it would have been answered. */
        for (int pass = 0; pass < 2; pass++) {
            hreq *r = pass ? s->queue : s->inflight;
            while (r != NULL) {
                hreq *next = r->next;
                answer_locked(s, r, MHD_HTTP_SERVICE_UNAVAILABLE, 0);
                r = next;
            }
        }
        s->queue = s->queue_tail = s->inflight = s->inflight_tail = NULL;
        pthread_mutex_unlock(&s->lock);
        MHD_stop_daemon(s->daemon);
    }
    while (s->ihead) {
        idem_entry *e = s->ihead;
        s->ihead = e->fnext;
        free(e);
    }
    free(s->buckets);
    free(s->token_header);
    free(s->tls_cert);
    free(s->tls_key);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const spool_plugin http_source_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "http",
    .version = SPOOL_VERSION_STRING,
    .description = "Webhook server: POSTed JSON events, answered 200 only once durable.",
    .kind = SPOOL_KIND_SOURCE,
    .options = http_source_options,
    .open = hs_open,
    .close = hs_close,
    .poll = hs_poll,
    .commit = hs_commit,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &http_source_plugin;
}

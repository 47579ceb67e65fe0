/* http_sink.c - the HTTP sink: records as NDJSON or JSON-array batches over keep-alive.
 *
 * Usage:
 *
 *     sinks:
 *       billing:
 *         connector: http
 *         topics: [resource-events]
 *         config: {url: "https://billing.example/ingest", token: "${BILLING_TOKEN}"}
 *
 * put() cuts the records into requests: one topic-partition run per request, at most
 * batch_records records and batch_bytes bytes, cut at offsets that are multiples of
 * batch_records, so a batch replayed after a crash (the runtime resumes from the last
 * checkpoint) is cut where it was cut before. Each request carries
 * "Idempotency-Key: CONNECTOR/TOPIC/PARTITION/FIRST-LAST", the offset range it holds,
 * so a receiver can drop a repeat. Delivery is idempotent, at least once.
 *
 * Answers: 2xx delivered; 5xx, 408, 429 (Retry-After honoured up to
 * max_retry_after), connection errors and timeouts are retried here with backoff, a
 * bounded number of times, checking host->stopping(), and then handed to the runtime's
 * backoff as SPOOL_RETRY (the requests already delivered by that put() are not sent
 * again when the runtime calls put() again); any other answer (3xx, 4xx) refuses the
 * request's records one by one through host->reject() with the status and an excerpt of
 * the body, for the connector's errors policy.
 *
 * Only http and https are spoken, and redirects are not followed.
 *
 * Pipelining on one keep-alive connection: a request is started through libcurl's multi
 * interface, and while the server works on it put() checks and copies the records of the
 * next request into the other of two body buffers; only then does it wait for the
 * answer. One request is on the wire at a time, so requests arrive in order, and a
 * request that must be retried is retried before the next one is sent.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "http_body.h"
#include "spool/plugin.h"

static const spool_host *host;

static const char *const http_methods[] = {"POST", "PUT", "PATCH", NULL};
static const char *const http_formats[] = {"ndjson", "json_array", NULL};

static const spool_option http_sink_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "url", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Where to send the batches: an http:// or https:// URL."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "method", .default_value = "POST",
     .choices = http_methods, .doc = "HTTP method of each request."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_ENUM, .name = "format", .default_value = "ndjson",
     .choices = http_formats,
     .doc = "Body: one JSON value per line (ndjson) or one JSON array (json_array)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "headers",
     .doc = "Extra request headers, each \"Name: value\"."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "token", .flags = SPOOL_OPT_SECRET,
     .doc = "Bearer token sent as Authorization: Bearer ...; unset: none."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch_records", .default_value = "500",
     .min = 1, .max = 100000, .doc = "Records per request at most."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "batch_bytes", .default_value = "1MiB",
     .min = 1024, .max = 256 * 1024 * 1024,
     .doc = "Body bytes per request at most (a single larger record goes alone)."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "timeout", .default_value = "30s",
     .min = 100, .max = 3600000, .doc = "Whole-request timeout; a timeout is retried."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "connect_timeout",
     .default_value = "10s", .min = 100, .max = 600000, .doc = "Connection timeout."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "tls_verify", .default_value = "true",
     .doc = "Verify the server's certificate and name; false is for tests only."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "ca_file",
     .doc = "PEM file of CA certificates to trust instead of the system's."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "retries", .default_value = "5",
     .min = 0, .max = 1000,
     .doc = "Retries of a transient failure inside one put() before the runtime's backoff takes over."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "retry_backoff",
     .default_value = "200ms", .min = 1, .max = 600000,
     .doc = "First wait between retries; it doubles up to retry_backoff_max."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "retry_backoff_max",
     .default_value = "10s", .min = 1, .max = 3600000, .doc = "Longest wait between retries."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "max_retry_after",
     .default_value = "60s", .min = 0, .max = 3600000,
     .doc = "Longest Retry-After of a 429 or 503 that is honoured; longer ones are cut to it."},
    {.name = NULL},
};

typedef struct hbody {
    char *buf;
    size_t len, cap;
} hbody;

typedef struct hsink {
    CURL *curl;
    CURLM *multi;                  /* drives curl, one request at a time */
    struct curl_slist *base;       /* Content-Type, Expect, extra headers, token */
    char *url_shown;               /* the URL without query or credentials, for messages */
    char *prefix;                  /* "pipeline/connector" of the Idempotency-Key */
    int array;
    int64_t batch_records, batch_bytes;
    int64_t retries, backoff_ms, backoff_max_ms, max_retry_after_ms;
    hbody bodies[2];               /* one on the wire, the next being built */
    struct {                       /* the request on the wire */
        int active;
        hbody *body;
        const spool_record *const *recs;
        size_t n;
        char key[600];
        char idem[640];            /* "Idempotency-Key: KEY" */
        struct curl_slist idem_node; /* chained after the base headers while sent */
    } fl;
    char resp[512];                /* the start of the response body */
    size_t resp_len;
    int64_t retry_after_ms;        /* from the last response; -1: none */
    char **done;                   /* keys delivered since the last flush() */
    size_t ndone, capdone;
    char errbuf[CURL_ERROR_SIZE];
} hsink;

static size_t on_write(char *p, size_t sz, size_t n, void *cls)
{
    hsink *s = cls;
    size_t len = sz * n, room = sizeof(s->resp) - 1 - s->resp_len;
    size_t take = len < room ? len : room;
    memcpy(s->resp + s->resp_len, p, take);
    s->resp_len += take;
    s->resp[s->resp_len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *cls)
{
    hsink *s = cls;
    size_t len = sz * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        const char *v = p + 12;
        while (*v == ' ' || *v == '\t')
            v++;
        if (isdigit((unsigned char)*v))
            s->retry_after_ms = strtoll(v, NULL, 10) * 1000;
    }
    return len;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits ms in short steps; returns 1 when the task is stopping. */
static int wait_or_stop(spool_task *t, int64_t ms)
{
    while (ms > 0) {
        if (host->stopping(t))
            return 1;
        int64_t step = ms < 100 ? ms : 100;
        sleep_ms(step);
        ms -= step;
    }
    return host->stopping(t) ? 1 : 0;
}

static int reserve(hbody *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more)
        cap *= 2;
    char *nb = realloc(b->buf, cap);
    if (nb == NULL)
        return -1;
    b->buf = nb;
    b->cap = cap;
    return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static spool_rc hk_open(spool_task *t, void **state)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        host->set_error(t, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
        return SPOOL_ERR;
    }
    hsink *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    const char *url = host->opt_string(t, "url");
    if (url == NULL || (strncasecmp(url, "http://", 7) != 0 &&
                        strncasecmp(url, "https://", 8) != 0)) {
        host->set_error(t, "url must start with http:// or https://: no other protocol is "
                        "allowed");
        return SPOOL_EINVAL;
    }
    /* Shown in messages: scheme, host and path, without user info or query. */
    const char *hoststart = strstr(url, "://") + 3;
    const char *at = strchr(hoststart, '@'), *slash = strchr(hoststart, '/');
    if (at != NULL && (slash == NULL || at < slash))
        hoststart = at + 1;
    size_t schemelen = (size_t)(strstr(url, "://") + 3 - url);
    size_t restlen = strcspn(hoststart, "?#");
    s->url_shown = malloc(schemelen + restlen + 1);
    if (s->url_shown == NULL)
        return SPOOL_ENOMEM;
    memcpy(s->url_shown, url, schemelen);
    memcpy(s->url_shown + schemelen, hoststart, restlen);
    s->url_shown[schemelen + restlen] = '\0';

    const char *name = host->task_name(t);
    size_t plen = strlen(name);
    const char *last = strrchr(name, '/');
    if (last != NULL && last != name && last[1] != '\0' &&
        strspn(last + 1, "0123456789") == strlen(last + 1))
        plen = (size_t)(last - name); /* the task number is not part of the identity */
    s->prefix = strndup(name, plen);
    if (s->prefix == NULL)
        return SPOOL_ENOMEM;

    s->array = host->opt_int(t, "format") == 1;
    s->batch_records = host->opt_int(t, "batch_records");
    s->batch_bytes = host->opt_int(t, "batch_bytes");
    s->retries = host->opt_int(t, "retries");
    s->backoff_ms = host->opt_int(t, "retry_backoff");
    s->backoff_max_ms = host->opt_int(t, "retry_backoff_max");
    s->max_retry_after_ms = host->opt_int(t, "max_retry_after");

    s->base = curl_slist_append(NULL, s->array ? "Content-Type: application/json"
                                               : "Content-Type: application/x-ndjson");
    s->base = curl_slist_append(s->base, "Expect:");
    size_t nh = 0;
    const char *const *hs = host->opt_list(t, "headers", &nh);
    for (size_t i = 0; i < nh; i++) {
        const char *colon = strchr(hs[i], ':');
        if (colon == NULL || colon == hs[i] || strpbrk(hs[i], "\r\n") != NULL) {
            host->set_error(t, "headers[%zu] must be \"Name: value\" on one line", i);
            return SPOOL_EINVAL;
        }
        s->base = curl_slist_append(s->base, hs[i]);
    }
    const char *token = host->opt_string(t, "token");
    if (token != NULL && token[0] != '\0') {
        if (strpbrk(token, "\r\n") != NULL) {
            host->set_error(t, "token must not contain a line break");
            return SPOOL_EINVAL;
        }
        size_t n = strlen(token) + 32;
        char *auth = malloc(n);
        if (auth == NULL)
            return SPOOL_ENOMEM;
        snprintf(auth, n, "Authorization: Bearer %s", token);
        s->base = curl_slist_append(s->base, auth);
        free(auth);
    }
    if (s->base == NULL)
        return SPOOL_ENOMEM;

    s->curl = curl_easy_init();
    s->multi = curl_multi_init();
    if (s->curl == NULL || s->multi == NULL) {
        host->set_error(t, "cannot start libcurl");
        return SPOOL_ERR;
    }
    CURL *c = s->curl;
    if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK) {
        host->set_error(t, "this libcurl cannot restrict protocols (needs 7.85 or later)");
        return SPOOL_ERR;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L); /* libcurl's default; said here */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)host->opt_int(t, "timeout"));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)host->opt_int(t, "connect_timeout"));
    long verify = host->opt_int(t, "tls_verify") ? 1L : 0L;
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    const char *ca = host->opt_string(t, "ca_file");
    if (ca != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, http_methods[host->opt_int(t, "method")]);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
    if (!verify)
        host->log(t, SPOOL_LOG_WARN, "tls_verify is false: the server's certificate is not "
                  "checked");
    return SPOOL_OK;
}

/* Appends one record to the body, as one line (ndjson) or one element (json_array).
 * Returns 0, 1 when the value is not JSON, -1 out of memory. */
static int body_add(hsink *s, hbody *b, const spool_record *r, int first)
{
    const char *v = r->value;
    size_t n = r->value_len;
    if (v == NULL) {
        v = "null";
        n = 4;
    } else if (!http_json_valid(v, n)) {
        return 1;
    }
    if (reserve(b, n + 2) != 0)
        return -1;
    if (s->array)
        b->buf[b->len++] = first ? '[' : ',';
    char *out = b->buf + b->len;
    memcpy(out, v, n);
    /* Line breaks can only be whitespace outside strings in valid JSON: one line each. */
    for (char *p = memchr(out, '\n', n); p; p = memchr(p + 1, '\n', (size_t)(out + n - p - 1)))
        *p = ' ';
    for (char *p = memchr(out, '\r', n); p; p = memchr(p + 1, '\r', (size_t)(out + n - p - 1)))
        *p = ' ';
    b->len += n;
    if (!s->array)
        b->buf[b->len++] = '\n';
    return 0;
}

enum { SEND_OK, SEND_REFUSED, SEND_TRANSIENT };

/* Starts the request of s->fl (body, key) and lets libcurl send what it can now. */
static void send_start(hsink *s)
{
    snprintf(s->fl.idem, sizeof(s->fl.idem), "Idempotency-Key: %s", s->fl.key);
    s->fl.idem_node.data = s->fl.idem;
    s->fl.idem_node.next = NULL;
    /* The base list is reused; the per-request header is chained on while it is sent. */
    struct curl_slist *tail = s->base;
    while (tail->next)
        tail = tail->next;
    tail->next = &s->fl.idem_node;
    s->resp_len = 0;
    s->resp[0] = '\0';
    s->retry_after_ms = -1;
    s->errbuf[0] = '\0';
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->base);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, s->fl.body->buf);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->fl.body->len);
    int running = 0;
    if (curl_multi_add_handle(s->multi, s->curl) == CURLM_OK)
        curl_multi_perform(s->multi, &running);
}

/* Waits for the answer of the request started by send_start(). Returns SEND_*;
 * *status is the HTTP status or 0. */
static int send_finish(hsink *s, long *status)
{
    int running = 1;
    CURLMcode mc = CURLM_OK;
    CURLcode rc = CURLE_FAILED_INIT;
    while (running && mc == CURLM_OK) {
        mc = curl_multi_perform(s->multi, &running);
        if (running && mc == CURLM_OK)
            mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE)
            rc = m->data.result;
    curl_multi_remove_handle(s->multi, s->curl);
    for (struct curl_slist *h = s->base; h; h = h->next)
        if (h->next == &s->fl.idem_node)
            h->next = NULL;
    *status = 0;
    if (mc != CURLM_OK && s->errbuf[0] == '\0')
        snprintf(s->errbuf, sizeof(s->errbuf), "%s", curl_multi_strerror(mc));
    if (rc != CURLE_OK) {
        if (s->errbuf[0] == '\0')
            snprintf(s->errbuf, sizeof(s->errbuf), "%s", curl_easy_strerror(rc));
        return SEND_TRANSIENT;
    }
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
    if (*status >= 200 && *status < 300)
        return SEND_OK;
    if (*status >= 500 || *status == 429 || *status == 408)
        return SEND_TRANSIENT;
    return SEND_REFUSED;
}

static void excerpt(const hsink *s, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < s->resp_len && o + 1 < cap && i < 200; i++) {
        unsigned char c = (unsigned char)s->resp[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
    }
    out[o] = '\0';
}

static int is_done(hsink *s, const char *key)
{
    for (size_t i = 0; i < s->ndone; i++)
        if (strcmp(s->done[i], key) == 0)
            return 1;
    return 0;
}

static int mark_done(hsink *s, const char *key)
{
    if (s->ndone == s->capdone) {
        size_t cap = s->capdone ? s->capdone * 2 : 16;
        char **d = realloc(s->done, cap * sizeof(*d));
        if (d == NULL)
            return -1;
        s->done = d;
        s->capdone = cap;
    }
    if ((s->done[s->ndone] = strdup(key)) == NULL)
        return -1;
    s->ndone++;
    return 0;
}

/* Waits for the answer of the request on the wire, and retries it while it fails
 * transiently (then SPOOL_RETRY: the runtime's backoff); a refusal sets its records
 * aside through the errors policy. */
static spool_rc flight_complete(spool_task *t, hsink *s)
{
    long status = 0;
    int r = send_finish(s, &status);
    int64_t backoff = s->backoff_ms;
    s->fl.active = 0;
    for (int64_t attempt = 0;; attempt++) {
        if (r == SEND_OK)
            return mark_done(s, s->fl.key) == 0 ? SPOOL_OK : SPOOL_ENOMEM;
        char ex[256];
        excerpt(s, ex, sizeof(ex));
        if (r == SEND_REFUSED) {
            char why[512];
            snprintf(why, sizeof(why), "HTTP %ld from %s: %s", status, s->url_shown, ex);
            for (size_t i = 0; i < s->fl.n; i++) {
                if (host->reject(t, s->fl.recs[i], why) != SPOOL_OK) {
                    host->set_error(t, "%s (request %s)", why, s->fl.key);
                    return SPOOL_ERR;
                }
            }
            return mark_done(s, s->fl.key) == 0 ? SPOOL_OK : SPOOL_ENOMEM;
        }
        if (status != 0)
            host->set_error(t, "HTTP %ld from %s: %s", status, s->url_shown, ex);
        else
            host->set_error(t, "cannot reach %s: %s", s->url_shown,
                            s->errbuf[0] ? s->errbuf : "connection failed");
        if (attempt >= s->retries)
            return SPOOL_RETRY;
        int64_t wait = backoff;
        if (s->retry_after_ms >= 0)
            wait = s->retry_after_ms < s->max_retry_after_ms ? s->retry_after_ms
                                                             : s->max_retry_after_ms;
        host->log(t, SPOOL_LOG_DEBUG, "request %s: %s; retry %" PRId64 " in %" PRId64 " ms",
                  s->fl.key, status ? "error status" : "transport error", attempt + 1, wait);
        if (wait_or_stop(t, wait))
            return SPOOL_ESTOP;
        backoff = backoff * 2 < s->backoff_max_ms ? backoff * 2 : s->backoff_max_ms;
        send_start(s);
        r = send_finish(s, &status);
    }
}

/* Sends recs[0..n) (one topic partition) as one request: builds its body in the buffer
 * not on the wire, waits for the request on the wire, then starts this one (left on the
 * wire: the caller completes it). */
static spool_rc deliver(spool_task *t, hsink *s, const spool_record *const *recs, size_t n)
{
    char key[600];
    snprintf(key, sizeof(key), "%s/%s/%" PRId32 "/%" PRId64 "-%" PRId64, s->prefix,
             recs[0]->topic ? recs[0]->topic : "", recs[0]->partition, recs[0]->offset,
             recs[n - 1]->offset);
    if (is_done(s, key))
        return SPOOL_OK; /* delivered before the runtime retried this put() */
    hbody *b = s->fl.active && s->fl.body == &s->bodies[0] ? &s->bodies[1] : &s->bodies[0];
    b->len = 0;
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = body_add(s, b, recs[i], added == 0);
        if (rc < 0)
            return SPOOL_ENOMEM;
        if (rc > 0) {
            if (host->reject(t, recs[i], "value is not JSON; the http sink sends JSON") !=
                SPOOL_OK) {
                host->set_error(t, "record %s/%" PRId32 "@%" PRId64 " is not JSON",
                                recs[i]->topic, recs[i]->partition, recs[i]->offset);
                return SPOOL_ERR;
            }
            continue;
        }
        added++;
    }
    if (s->array && added > 0) {
        if (reserve(b, 1) != 0)
            return SPOOL_ENOMEM;
        b->buf[b->len++] = ']';
    }
    if (s->fl.active) {
        spool_rc rc = flight_complete(t, s);
        if (rc != SPOOL_OK)
            return rc;
    }
    if (added == 0)
        return mark_done(s, key) == 0 ? SPOOL_OK : SPOOL_ENOMEM;
    s->fl.active = 1;
    s->fl.body = b;
    s->fl.recs = recs;
    s->fl.n = n;
    memcpy(s->fl.key, key, sizeof(key));
    send_start(s);
    return SPOOL_OK;
}

/* Leaves nothing on the wire after an error: the runtime calls put() again with the same
 * records, and what was not answered 2xx is sent again. */
static spool_rc abandon(hsink *s, spool_rc rc)
{
    if (s->fl.active) {
        long status;
        s->fl.active = 0;
        if (send_finish(s, &status) == SEND_OK)
            mark_done(s, s->fl.key); /* not sent again; on ENOMEM it just is */
    }
    return rc;
}

static spool_rc hk_put(spool_task *t, void *state, const spool_record *const *recs, size_t n)
{
    hsink *s = state;
    size_t i = 0;
    while (i < n) {
        /* One request: same topic and partition, within the limits, and not across a
         * multiple of batch_records. */
        size_t j = i + 1, bytes = recs[i]->value_len + 2;
        int64_t block = recs[i]->offset / s->batch_records;
        while (j < n && recs[j]->partition == recs[i]->partition &&
               (recs[j]->topic == recs[i]->topic ||
                (recs[j]->topic && recs[i]->topic && strcmp(recs[j]->topic, recs[i]->topic) == 0)) &&
               recs[j]->offset / s->batch_records == block &&
               bytes + recs[j]->value_len + 2 <= (size_t)s->batch_bytes) {
            bytes += recs[j]->value_len + 2;
            j++;
        }
        spool_rc rc = deliver(t, s, recs + i, j - i);
        if (rc != SPOOL_OK)
            return abandon(s, rc);
        i = j;
    }
    return s->fl.active ? abandon(s, flight_complete(t, s)) : SPOOL_OK;
}

static spool_rc hk_flush(spool_task *t, void *state)
{
    hsink *s = state;
    (void)t;
    /* Everything was delivered in put(): the runtime checkpoints next. */
    for (size_t i = 0; i < s->ndone; i++)
        free(s->done[i]);
    s->ndone = 0;
    return SPOOL_OK;
}

static void hk_close(spool_task *t, void *state)
{
    hsink *s = state;
    (void)t;
    if (s == NULL)
        return;
    hk_flush(t, s);
    free(s->done);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->base);
    free(s->bodies[0].buf);
    free(s->bodies[1].buf);
    free(s->url_shown);
    free(s->prefix);
    free(s);
}

static const spool_plugin http_sink_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "http",
    .version = SPOOL_VERSION_STRING,
    .description = "Posts records in NDJSON or JSON-array batches with an Idempotency-Key.",
    .kind = SPOOL_KIND_SINK,
    .delivery = SPOOL_DELIVERY_IDEMPOTENT,
    .options = http_sink_options,
    .open = hk_open,
    .close = hk_close,
    .put = hk_put,
    .flush = hk_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &http_sink_plugin;
}

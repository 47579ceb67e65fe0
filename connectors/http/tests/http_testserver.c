/* http_testserver.c - a scriptable HTTP server on 127.0.0.1 for the http sink's tests.
 *
 *     http_testserver PORTFILE LOG ACTIONS [HANG_MS]
 *
 * Listens on a free port of 127.0.0.1 and writes it to PORTFILE. The Nth request is
 * answered as the Nth comma-separated word of ACTIONS says, and every request after the
 * list with 200: 200, 400, 500, 503, 429 (with Retry-After: 1), hang (waits HANG_MS,
 * default 3000, then answers 200: the client has given up by then), drop (closes the
 * connection without an answer). For each request one line goes to LOG ("-": none):
 *     ACTION<TAB>IDEMPOTENCY-KEY<TAB>LINE
 * once per line of the body (NDJSON), or once with an empty LINE for an empty body.
 * Runs until killed; SIGTERM ends it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <microhttpd.h>

typedef struct conn {
    char *body;
    size_t len, cap;
} conn;

static char **actions;
static size_t nactions;
static size_t next_request;
static long hang_ms = 3000;
static FILE *log_out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t done;

static void on_term(int sig)
{
    (void)sig;
    done = 1;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    conn *k = *con_cls;
    (void)cls; (void)url; (void)method; (void)version;
    if (k == NULL) {
        k = calloc(1, sizeof(*k));
        if (k == NULL)
            return MHD_NO;
        *con_cls = k;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (k->len + *upload_size > k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 65536;
            while (cap < k->len + *upload_size)
                cap *= 2;
            char *b = realloc(k->body, cap);
            if (b == NULL)
                return MHD_NO;
            k->body = b;
            k->cap = cap;
        }
        memcpy(k->body + k->len, upload, *upload_size);
        k->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    pthread_mutex_lock(&lock);
    const char *act = next_request < nactions ? actions[next_request] : "200";
    next_request++;
    if (log_out != NULL) {
        size_t i = 0;
        do {
            size_t j = i;
            while (j < k->len && k->body[j] != '\n')
                j++;
            fprintf(log_out, "%s\t%s\t%.*s\n", act, key ? key : "-", (int)(j - i),
                    k->body ? k->body + i : "");
            i = j + 1;
        } while (i < k->len);
        fflush(log_out);
    }
    pthread_mutex_unlock(&lock);
    if (strcmp(act, "drop") == 0)
        return MHD_NO;
    unsigned status = 200;
    if (strcmp(act, "hang") == 0)
        usleep((useconds_t)hang_ms * 1000);
    else
        status = (unsigned)atoi(act);
    if (status < 100)
        status = 200;
    static const char text[] = "{\"status\":\"scripted\"}\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(text) - 1, (void *)text,
                                                             MHD_RESPMEM_PERSISTENT);
    if (status == 429)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    conn *k = *con_cls;
    (void)cls; (void)c; (void)toe;
    if (k != NULL) {
        free(k->body);
        free(k);
    }
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: http_testserver PORTFILE LOG ACTIONS [HANG_MS]\n");
        return 2;
    }
    if (strcmp(argv[2], "-") != 0 && (log_out = fopen(argv[2], "a")) == NULL) {
        perror(argv[2]);
        return 1;
    }
    if (argc > 4)
        hang_ms = atol(argv[4]);
    char *list = strdup(argv[3]);
    for (char *save = NULL, *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        actions = realloc(actions, (nactions + 1) * sizeof(*actions));
        actions[nactions++] = w;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
        handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "http_testserver: cannot listen\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    FILE *pf = fopen(tmp, "w");
    if (pf == NULL || fprintf(pf, "%u\n", (unsigned)info->port) < 0 || fclose(pf) != 0 ||
        rename(tmp, argv[1]) != 0) {
        perror(argv[1]);
        return 1;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    while (!done)
        pause();
    MHD_stop_daemon(d);
    if (log_out)
        fclose(log_out);
    free(list);
    free(actions);
    return 0;
}

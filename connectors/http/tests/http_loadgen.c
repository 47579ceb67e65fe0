/* http_loadgen.c - posts numbered events to the webhook source and writes what came back.
 *
 *     http_loadgen URL OUT THREADS POSTS_PER_THREAD [EVENTS_PER_POST] [FIRST_ID]
 *
 * Each thread posts POSTS_PER_THREAD bodies over one keep-alive connection, each with
 * EVENTS_PER_POST events {"id":N,"pad":"..."} (ids unique across threads, from FIRST_ID),
 * as a JSON array when more than one; a negative EVENTS_PER_POST sends that many as
 * NDJSON instead (the http sink's format, for the benchmark). Every event is sent at most once: nothing is
 * retried. For each event one line goes to OUT: "A N" when its post was answered 200,
 * "R N STATUS" for another answer, "E N" for a transport error (no answer). A thread
 * stops after 3 transport errors in a row (the worker is gone). Prints a summary.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static const char *url;
static FILE *out;
static long posts, per_post;
static int ndjson;
static long long first_id;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long long acked, refused, failed;

static size_t discard(char *p, size_t sz, size_t n, void *cls)
{
    (void)p; (void)cls;
    return sz * n;
}

static void *worker(void *arg)
{
    long th = (long)arg;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    size_t cap = (size_t)per_post * 64 + 16;
    char *body = malloc(cap);
    int errors_in_row = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (long p = 0; p < posts && errors_in_row < 3; p++) {
        long long id0 = first_id + ((long long)th * posts + p) * per_post;
        size_t len = 0;
        if (per_post > 1 && !ndjson)
            body[len++] = '[';
        for (long e = 0; e < per_post; e++)
            len += (size_t)snprintf(body + len, cap - len, "%s{\"id\":%lld,\"pad\":\"x\"}%s",
                                    e && !ndjson ? "," : "", id0 + e, ndjson ? "\n" : "");
        if (per_post > 1 && !ndjson)
            body[len++] = ']';
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        long status = 0;
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        errors_in_row = rc == CURLE_OK ? 0 : errors_in_row + 1;
        pthread_mutex_lock(&lock);
        for (long e = 0; e < per_post; e++) {
            if (rc != CURLE_OK)
                fprintf(out, "E %lld\n", id0 + e);
            else if (status == 200)
                fprintf(out, "A %lld\n", id0 + e);
            else
                fprintf(out, "R %lld %ld\n", id0 + e, status);
        }
        if (rc != CURLE_OK)
            failed += per_post;
        else if (status == 200)
            acked += per_post;
        else
            refused += per_post;
        pthread_mutex_unlock(&lock);
    }
    free(body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: http_loadgen URL OUT THREADS POSTS_PER_THREAD "
                        "[EVENTS_PER_POST] [FIRST_ID]\n");
        return 2;
    }
    url = argv[1];
    out = fopen(argv[2], "a");
    long threads = atol(argv[3]);
    posts = atol(argv[4]);
    per_post = argc > 5 ? atol(argv[5]) : 1;
    if (per_post < 0) {
        ndjson = 1;
        per_post = -per_post;
    }
    first_id = argc > 6 ? atoll(argv[6]) : 0;
    if (out == NULL || threads < 1 || threads > 256 || posts < 0 || per_post < 1) {
        fprintf(stderr, "http_loadgen: bad arguments\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t tid[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, worker, (void *)i);
    for (long i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    fclose(out);
    fprintf(stderr, "loadgen: %lld acked, %lld refused, %lld no answer in %.2f s\n", acked,
            refused, failed, s);
    curl_global_cleanup();
    return 0;
}

/* bench_worker.c - `spool worker` with the flagship pipeline loaded: startup-to-ready time,
 * idle RSS, and API requests/s for GET /connectors/NAME/status. Prints figures, asserts
 * nothing (docs/performance.md keeps them).
 *
 *   bench_worker SPOOL SOURCE_DIR [SECONDS]
 *
 * Ready is measured as systemd sees it: from fork() to the READY=1 datagram on a
 * NOTIFY_SOCKET of our own. Each start uses a fresh data directory (the first start of
 * a real install), and the best and median of 7 starts are printed. RSS is VmRSS from
 * /proc after the worker has been idle for a second (the generator's few events long
 * delivered). Requests/s: two threads, each a keep-alive libcurl loop, for SECONDS.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define STARTS 7
#define THREADS 2

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_worker: %s: %s\n", what, strerror(errno));
    exit(1);
}

typedef struct child {
    pid_t pid;
    double ready_ms;
    int port;
} child;

/* Starts the worker on dir and waits for READY=1; fills the API port from its log. */
static void start(const char *spool, const char *dir, child *c)
{
    char sock[600], cfg[600], log[600], line[1024];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sock, sizeof(sock), "%s/notify", dir);
    snprintf(cfg, sizeof(cfg), "%s/worker.yaml", dir);
    snprintf(log, sizeof(log), "%s/worker.log", dir);
    unlink(sock);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (strlen(sock) >= sizeof(sa.sun_path))
        die("the notify socket path is too long");
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("notify socket");
    double t0 = now_ms();
    c->pid = fork();
    if (c->pid < 0)
        die("fork");
    if (c->pid == 0) {
        setenv("NOTIFY_SOCKET", sock, 1);
        if (freopen(log, "w", stderr) == NULL)
            _exit(127);
        execl(spool, spool, "worker", "--config", cfg, (char *)NULL);
        _exit(127);
    }
    for (;;) {
        char buf[512];
        struct timeval tv = {30, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            die("waiting for READY=1 (see the worker's log)");
        buf[n] = '\0';
        if (strstr(buf, "READY=1") != NULL)
            break;
    }
    c->ready_ms = now_ms() - t0;
    close(fd);
    FILE *f = fopen(log, "r");
    c->port = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *p = strstr(line, "API on http://127.0.0.1:");
        if (p != NULL)
            c->port = atoi(p + strlen("API on http://127.0.0.1:"));
    }
    if (f != NULL)
        fclose(f);
}

static void stop(child *c)
{
    int st;
    kill(c->pid, SIGTERM);
    waitpid(c->pid, &st, 0);
}

/* A field of /proc/PID/FILE in KiB ("VmRSS:" of status, "Pss:" of smaps_rollup). */
static long proc_kib(pid_t pid, const char *file, const char *field)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kib = atol(line + strlen(field));
    if (f != NULL)
        fclose(f);
    return kib;
}

/* Prints the plugin files (lib/spool/plugins/NAME.so) the worker has mapped: the
 * loader loads a plugin when a pipeline names it, so these should be the flagship's. */
static void print_plugins_mapped(pid_t pid)
{
    char path[64], line[4096], seen[32][128];
    int n = 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *p = strstr(line, "/spool/plugins/");
        if (p == NULL)
            continue;
        p += strlen("/spool/plugins/");
        p[strcspn(p, "\n")] = '\0';
        int dup = 0;
        for (int i = 0; i < n && !dup; i++)
            dup = strcmp(seen[i], p) == 0;
        if (!dup && n < 32)
            snprintf(seen[n++], sizeof(seen[0]), "%s", p);
    }
    if (f != NULL)
        fclose(f);
    printf("plugin files mapped: %d:", n);
    for (int i = 0; i < n; i++)
        printf(" %s", seen[i]);
    printf("\n");
}

static size_t discard(void *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

typedef struct load {
    char url[256];
    double until;
    long requests, failures;
} load;

static void *hammer(void *arg)
{
    load *l = arg;
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, l->url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    while (now_ms() < l->until) {
        long code = 0;
        if (curl_easy_perform(h) == CURLE_OK &&
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
            l->requests++;
        else
            l->failures++;
    }
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/bench-worker.XXXXXX", path[700], cmd[1600];
    double ready[STARTS];
    child c = {0};
    if (argc < 3) {
        fprintf(stderr, "usage: bench_worker SPOOL SOURCE_DIR [SECONDS]\n");
        return 2;
    }
    int seconds = argc > 3 ? atoi(argv[3]) : 3;
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    snprintf(path, sizeof(path), "%s/worker.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        die(path);
    fprintf(f, "data_dir: %s/data\npipelines_dir: %s/pipes\napi: {listen: \"127.0.0.1:0\"}\n"
            "log: {level: info}\n", dir, dir);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s/pipes && cp %s/configs/resource-events-embedded.yaml "
             "%s/pipes/", dir, argv[2], dir);
    if (system(cmd) != 0)
        die("copying the flagship pipeline");
    /* A few events, so the sinks have created their tables and gone idle. */
    setenv("EVENTS", "100", 1);
    setenv("SPOOL_DIR", dir, 1);
    setenv("WEBHOOK_LISTEN", "127.0.0.1:0", 1);

    for (int i = 0; i < STARTS; i++) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s/data %s/*.db", dir, dir);
        if (system(cmd) != 0)
            die("cleaning up");
        start(argv[1], dir, &c);
        ready[i] = c.ready_ms;
        if (i < STARTS - 1)
            stop(&c);
    }
    qsort(ready, STARTS, sizeof(ready[0]), cmp_double);
    printf("startup to READY=1 (flagship pipeline, fresh data dir): best %.1f ms, median "
           "%.1f ms over %d starts (target < 50 ms)\n", ready[0], ready[STARTS / 2], STARTS);
    sleep(1);
    printf("idle RSS with the flagship pipeline: %.1f MiB (target < 10 MiB); PSS %.1f MiB, "
           "private %.1f MiB (the rest: shared library pages)\n",
           (double)proc_kib(c.pid, "status", "VmRSS:") / 1024.0,
           (double)proc_kib(c.pid, "smaps_rollup", "Pss:") / 1024.0,
           (double)(proc_kib(c.pid, "smaps_rollup", "Private_Clean:") +
                    proc_kib(c.pid, "smaps_rollup", "Private_Dirty:")) / 1024.0);
    print_plugins_mapped(c.pid);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    load l[THREADS];
    pthread_t th[THREADS];
    double t0 = now_ms();
    for (int i = 0; i < THREADS; i++) {
        l[i] = (load){.until = t0 + seconds * 1000.0};
        snprintf(l[i].url, sizeof(l[i].url),
                 "http://127.0.0.1:%d/connectors/warehouse/status", c.port);
        pthread_create(&th[i], NULL, hammer, &l[i]);
    }
    long total = 0, failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += l[i].requests;
        failed += l[i].failures;
    }
    double secs = (now_ms() - t0) / 1000.0;
    printf("GET /connectors/warehouse/status: %.0f requests/s (%d keep-alive clients, %.1f s, "
           "%ld failed)\n", (double)total / secs, THREADS, secs, failed);
    printf("RSS after the API load: %.1f MiB\n", (double)proc_kib(c.pid, "status", "VmRSS:") / 1024.0);
    stop(&c);
    curl_global_cleanup();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* worker.c - runs one pipeline's tasks on threads: sources into the log, log into sinks.
 *
 * Each task's callbacks, open() and close() included, run on that task's own thread,
 * as the SDK promises. Topics are reached only through the log backend (backend.h: the
 * built-in log or Kafka). A source task loops poll -> transforms -> its producer's
 * commit (grouped with the other sources by the built-in log) -> commit callback; its
 * position is committed with its records, so a restart resumes exactly after them.
 * Which source tasks run here is the backend's coordinator's call (builtin: all). A
 * sink task reads the committed records of the partitions its subscription assigns it
 * -> transforms -> put -> flush -> checkpoint, where
 * the checkpoint depends on the sink's delivery level: transactional sinks keep their
 * own offsets (reported with seek() in open()), resumable and idempotent sinks get
 * their offsets, and a resumable sink its position, saved by the runtime after every
 * successful flush.
 *
 * Failures are the connector's, not the worker's: a task that fails goes to FAILED with
 * its reason and the others run on. Transient failures (SPOOL_RETRY) are retried with
 * exponential backoff and jitter, bounded by count and time. A record that fails
 * (a transform refuses it, a sink rejects it) either fails the connector (errors:
 * {tolerance: none}, the default) or is set aside, into the dead-letter topic when one
 * is named, with headers saying what failed where. Only what threatens stored data
 * (a storage I/O error, corruption) stops the whole worker, with exit code 3 or 4.
 *
 * Memory is bounded by each connector's batch limits: a source commits after every poll,
 * and as soon as its pending records reach them within a poll (the commit blocks while
 * the log is behind: that is the backpressure), and a sink delivers at most one batch
 * at a time.
 *
 * Shutdown comes in two steps: worker_stop() ends the sources after their last commit
 * and lets the sinks drain everything committed; worker_halt() ends the sinks after
 * their current batch. Either way nothing is lost, since every checkpoint is exact.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "transform/transform.h"
#include "worker/worker_int.h"
#include "util/clock.h"

#define SOURCE_POLL_MS 200
#define SINK_WAIT_MS 500
#define BACKOFF_MIN_MS 100
#define LOG_MAINTAIN_MS 500

/* ---- Logging ---------------------------------------------------------------------- */

static atomic_int log_level = SPOOL_LOG_INFO;
static atomic_int log_json;

/* Secret option values seen in loaded pipelines: masked in every log line, whoever
 * writes it (a plugin quoting its DSN in an error included). Only grows. */
#define LOG_MAX_SECRETS 256
static pthread_mutex_t log_secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_secrets[LOG_MAX_SECRETS];
static atomic_int log_nsecrets;

void worker_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int worker_log_get_level(void)
{
    return atomic_load(&log_level);
}

void worker_log_set_json(int json)
{
    atomic_store(&log_json, json);
}

void worker_log_add_secret(const char *s)
{
    /* Shorter values would mask ordinary words; nobody's password is two letters. */
    if (s == NULL || strlen(s) < 3)
        return;
    pthread_mutex_lock(&log_secrets_lock);
    int n = atomic_load(&log_nsecrets), known = 0;
    for (int i = 0; i < n && !known; i++)
        known = strcmp(log_secrets[i], s) == 0;
    if (!known && n < LOG_MAX_SECRETS && (log_secrets[n] = strdup(s)) != NULL)
        atomic_store(&log_nsecrets, n + 1);
    pthread_mutex_unlock(&log_secrets_lock);
}

/* Replaces every known secret in line (in place; the mask is never longer than
 * LOG_SECRET_MASK, and a secret shorter than it is replaced by a shorter run of '*'). */
static void log_mask_secrets(char *line)
{
    if (atomic_load(&log_nsecrets) == 0)
        return;
    pthread_mutex_lock(&log_secrets_lock);
    int n = atomic_load(&log_nsecrets);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(log_secrets[i]), mask = len < 8 ? len : 8;
        char *p;
        while ((p = strstr(line, log_secrets[i])) != NULL) {
            memset(p, '*', mask);
            memmove(p + mask, p + len, strlen(p + len) + 1);
        }
    }
    pthread_mutex_unlock(&log_secrets_lock);
}

/* Registers every secret option value of p with the log masking. */
static void worker_register_secrets(const config_pipeline *p)
{
    for (int kind = 0; kind < 2; kind++) {
        const config_connector *v = kind ? p->sinks : p->sources;
        size_t n = kind ? p->nsinks : p->nsources;
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < v[i].nvalues; k++)
                if (v[i].values[k].decl->flags & SPOOL_OPT_SECRET)
                    worker_log_add_secret(v[i].values[k].text);
            for (size_t t = 0; t < v[i].ntransforms; t++)
                for (size_t k = 0; k < v[i].transforms[t].nvalues; k++)
                    if (v[i].transforms[t].values[k].decl->flags & SPOOL_OPT_SECRET)
                        worker_log_add_secret(v[i].transforms[t].values[k].text);
        }
    }
}

/* Appends s to out (n bytes, len used), as the body of a JSON string when json, and
 * cut short rather than overflow. Returns the new length, always below n. */
static size_t log_append(char *out, size_t n, size_t len, const char *s, int json)
{
    for (; *s != '\0' && len + 8 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (json && (ch == '"' || ch == '\\')) {
            out[len++] = '\\';
            out[len++] = (char)ch;
        } else if (json && ch < 0x20) {
            len += (size_t)snprintf(out + len, n - len, "\\u%04x", ch);
        } else {
            out[len++] = (char)ch;
        }
    }
    out[len] = '\0';
    return len;
}

/* The connector named in a task name ("sink/warehouse/1", "source/app#2") or in a
 * connector's logger ("connector/app") into out; "" for the runtime's own loggers.
 * Returns 1 for a task's name. */
static int log_connector_of(const char *who, char *out, size_t n)
{
    const char *s = strchr(who, '/');
    size_t len = 0;
    int task = strncmp(who, "source/", 7) == 0 || strncmp(who, "sink/", 5) == 0;
    out[0] = '\0';
    if (s == NULL || (!task && strncmp(who, "connector/", 10) != 0))
        return 0;
    for (s++; s[len] != '\0' && s[len] != '/' && s[len] != '#'; len++)
        ;
    snprintf(out, n, "%.*s", (int)len, s);
    return task;
}

void worker_vlog(int level, const char *who, const char *fmt, va_list ap)
{
    static const char *const names[] = {"", "ERROR", "WARN ", "INFO ", "DEBUG"};
    static const char *const json_names[] = {"", "error", "warn", "info", "debug"};
    char line[4096], msg[3072];
    struct timespec ts;
    struct tm tm;

    if (level > atomic_load(&log_level))
        return;
    if (level < SPOOL_LOG_ERROR || level > SPOOL_LOG_DEBUG)
        level = SPOOL_LOG_INFO;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_mask_secrets(msg);
    if (atomic_load(&log_json)) {
        char conn[256], head[96];
        size_t len;
        int task = log_connector_of(who, conn, sizeof(conn));
        snprintf(head, sizeof(head), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
                 "\"level\":\"%s\",\"logger\":\"", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 json_names[level]);
        /* The tail ("}\n) always fits: log_append stops 8 bytes short of the end. */
        len = log_append(line, sizeof(line), 0, head, 0);
        len = log_append(line, sizeof(line), len, who, 1);
        if (conn[0] != '\0') {
            len = log_append(line, sizeof(line), len, "\",\"connector\":\"", 0);
            len = log_append(line, sizeof(line), len, conn, 1);
        }
        if (task) {
            len = log_append(line, sizeof(line), len, "\",\"task\":\"", 0);
            len = log_append(line, sizeof(line), len, who, 1);
        }
        len = log_append(line, sizeof(line), len, "\",\"message\":\"", 0);
        len = log_append(line, sizeof(line), len, msg, 1);
        memcpy(line + len, "\"}\n", 4);
        fputs(line, stderr);
        return;
    }
    /* One fputs per line, so that lines from several threads never interleave. */
    snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] %s\n",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, ts.tv_nsec / 1000000, names[level], who, msg);
    fputs(line, stderr);
}

void worker_log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    worker_vlog(level, who, fmt, ap);
    va_end(ap);
}

/* ---- Stop, failure, states -------------------------------------------------------- */

static void worker_signal_done(struct worker *w)
{
    uint64_t one = 1;
    if (write(w->done_fd, &one, sizeof(one)) < 0)
        worker_log(SPOOL_LOG_WARN, "worker", "cannot signal the end: %s", strerror(errno));
}

/* Wakes every sink task that waits for records in backend_sub_next(). */
static void worker_wake_sinks(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->ntasks; i++)
        if (w->tasks[i].sub != NULL)
            backend_sub_wakeup(w->tasks[i].sub);
    pthread_mutex_unlock(&w->lock);
}

/* Wakes every task that waits: on the condition variable or for new records. */
static void worker_wake(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    worker_wake_sinks(w);
}

void worker_stop(worker *w)
{
    atomic_store(&w->stop, 1);
    worker_wake(w);
}

void worker_halt(worker *w)
{
    atomic_store(&w->stop, 1);
    atomic_store(&w->halt, 1);
    worker_wake(w);
}

void worker_fail(struct worker *w, int code, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    worker_vlog(SPOOL_LOG_ERROR, who, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&w->lock);
    if (w->exit_code == 0)
        w->exit_code = code;
    pthread_mutex_unlock(&w->lock);
    worker_halt(w);
}

const char *worker_state_name(int state)
{
    static const char *const names[] = {"RUNNING", "PAUSED", "FAILED", "STOPPED",
                                        "UNASSIGNED"};
    return state >= 0 && state <= WORKER_UNASSIGNED ? names[state] : "UNKNOWN";
}

/* Records that something observable happened, for worker_wait_event(). */
static void worker_event(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    atomic_fetch_add(&w->events, 1);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

unsigned long long worker_events(worker *w)
{
    return atomic_load(&w->events);
}

unsigned long long worker_wait_event(worker *w, unsigned long long seen, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (atomic_load(&w->events) == seen)
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&w->lock);
    return atomic_load(&w->events);
}

static void task_set_state(struct spool_task *t, int state)
{
    int old = atomic_exchange(&t->status, state);
    if (old != state && state != WORKER_FAILED)
        worker_log(SPOOL_LOG_INFO, t->name, "%s", worker_state_name(state));
    worker_event(t->w);
}

static int task_failed(const struct spool_task *t)
{
    return atomic_load(&((struct spool_task *)t)->status) == WORKER_FAILED;
}

/* Puts the task in FAILED with a reason; its loop ends at its next check. */
static void task_fail(struct spool_task *t, const char *fmt, ...) SPOOL_PRINTF(2, 3);
static void task_fail(struct spool_task *t, const char *fmt, ...)
{
    va_list ap;
    /* The first reason wins: what follows from it (a refused record that its transform
     * then returns as an error) would only hide it. */
    if (task_failed(t))
        return;
    pthread_mutex_lock(&t->w->lock);
    va_start(ap, fmt);
    vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&t->w->lock);
    atomic_store(&t->status, WORKER_FAILED);
    atomic_store(&t->stop_req, 1);
    atomic_fetch_add(&t->errors, 1);
    worker_log(SPOOL_LOG_ERROR, t->name, "FAILED: %s", t->reason);
    worker_event(t->w);
}


/* Sources stop on worker_stop(); sinks only on worker_halt(), after draining, except
 * on kafka, where other workers may go on writing their topics: there sinks stop with
 * the worker too, and the next owner of their partitions reads on from the committed
 * offsets. */
static int task_stopping(struct spool_task *t)
{
    if (atomic_load(&t->stop_req) || atomic_load(&t->w->halt))
        return 1;
    return (t->cc->kind == SPOOL_KIND_SOURCE || t->w->kafka) && atomic_load(&t->w->stop);
}

/* Waits ms milliseconds, or until the task must stop or is paused. Returns 1 when it
 * must stop. */
static int task_wait(struct spool_task *t, int64_t ms)
{
    struct timespec until;
    struct worker *w = t->w;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!task_stopping(t))
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&w->lock);
    return task_stopping(t);
}

/* Holds the task while it is paused. Returns 1 when it must stop. */
static int task_pause_point(struct spool_task *t)
{
    struct worker *w = t->w;
    /* A paused sink drains like the others once the worker stops. */
    if (!atomic_load(&t->pause_req) ||
        (t->cc->kind == SPOOL_KIND_SINK && atomic_load(&w->stop)))
        return task_stopping(t);
    task_set_state(t, WORKER_PAUSED);
    pthread_mutex_lock(&w->lock);
    while (atomic_load(&t->pause_req) && !task_stopping(t) &&
           !(t->cc->kind == SPOOL_KIND_SINK && atomic_load(&w->stop)))
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    if (task_stopping(t))
        return 1;
    task_set_state(t, WORKER_RUNNING);
    return 0;
}


/* The watchdog's clock: read on every callback and every emit, so the coarse clock
 * (no system call, exact to a few milliseconds) against deadlines of 250 ms and up. */
static int64_t call_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Record timestamps: the coarse clock is read without a system call and is exact to a
 * few milliseconds, which is what a record timestamp promises. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Deadlines ----------------------------------------------------------------------- */

/* A callback that does not return cannot be interrupted, so the watchdog gives up on
 * its task instead: past the connector's errors.deadline (or, once the worker halts,
 * past a short grace) the task is FAILED, counted as ended, and its thread abandoned.
 * The thread is never cancelled and nothing it can reach is freed; if the callback
 * returns after all, the thread ends at once without calling the plugin again (close()
 * included: its state is the plugin's to lose). The clock runs only while plugin code
 * runs: host functions that do the runtime's work inside a callback (emit, reject)
 * stop it, so a task is never abandoned in the middle of the runtime's own code. */

#define WATCHDOG_MS 250
#define HALT_GRACE_MS 5000

enum { CALL_OPEN, CALL_CLOSE, CALL_POLL, CALL_COMMIT, CALL_PUT, CALL_FLUSH, CALL_TRANSFORM };
static const char *const call_names[] = {"open", "close", "poll", "commit", "put", "flush",
                                         "transform"};

static int task_abandoned(struct spool_task *t)
{
    return atomic_load(&t->call_since) == -1;
}

/* Starts t's clock for a callback, unless one is running already (a transform inside a
 * source's poll). Returns 1 when it started the clock. Thread: t's. */
static int call_begin(struct spool_task *t, int what)
{
    if (atomic_load(&t->call_since) != 0)
        return 0;
    int64_t now = call_clock_ms();
    atomic_store(&t->call_what, what);
    atomic_store(&t->call_since, now > 0 ? now : 1);
    return 1;
}

/* Stops the clock started by call_begin() (began 1). Returns -1 when the watchdog
 * abandoned the task meanwhile. Thread: t's. */
static int call_end(struct spool_task *t, int began)
{
    long long since = atomic_load(&t->call_since);
    if (since == -1)
        return -1;
    if (!began)
        return 0;
    return atomic_compare_exchange_strong(&t->call_since, &since, 0) ? 0 : -1;
}

/* call_end() where no plugin frame is below: an abandoned task's thread ends here. */
static void call_done(struct spool_task *t, int began)
{
    if (call_end(t, began) == 0)
        return;
    worker_log(SPOOL_LOG_WARN, t->name, "the %s() given up on returned after all; its "
               "thread ends without calling the plugin again",
               call_names[atomic_load(&t->call_what)]);
    pthread_exit(NULL);
}

int worker_call_pause(struct spool_task *t)
{
    long long since = atomic_load(&t->call_since);
    if (since == -1)
        return -1;
    if (since == 0)
        return 0;
    return atomic_compare_exchange_strong(&t->call_since, &since, 0) ? 1 : -1;
}

void worker_call_resume(struct spool_task *t, int paused)
{
    long long zero = 0;
    if (paused == 1) {
        int64_t now = call_clock_ms();
        atomic_compare_exchange_strong(&t->call_since, &zero, now > 0 ? now : 1);
    }
}

/* What task_finished() does for a task whose thread will not: the watchdog's. */
static void task_abandon(struct spool_task *t, int what, int64_t ran_ms, int halting)
{
    struct worker *w = t->w;
    task_fail(t, "%s() has not returned after %" PRId64 " ms (%s %" PRId64 " ms): the "
              "connector is stopped and its thread abandoned without close(); fix the "
              "plugin (a callback must return within its deadline), or raise errors.deadline "
              "if the call is legitimately slow. Nothing is lost: spool resumes it from its "
              "last checkpoint when restarted", call_names[what], ran_ms,
              halting ? "the shutdown grace is" : "errors.deadline is",
              halting ? (int64_t)HALT_GRACE_MS : t->cc->call_deadline_ms);
    atomic_fetch_add(&w->abandoned, 1);
    atomic_store(&t->running, 0);
    if (t->cc->kind == SPOOL_KIND_SOURCE)
        atomic_fetch_sub(&w->sources_running, 1);
    worker_wake_sinks(w);
    if (atomic_fetch_sub(&w->tasks_running, 1) == 1)
        worker_signal_done(w);
}

static void watchdog_check(struct worker *w, int64_t halt_seen)
{
    int64_t now = call_clock_ms();
    for (size_t i = 0; i < w->ntasks; i++) {
        struct spool_task *t = &w->tasks[i];
        long long since = atomic_load(&t->call_since);
        int64_t limit = t->cc->call_deadline_ms;
        int halting = halt_seen > 0 && now - halt_seen >= HALT_GRACE_MS &&
                      limit > HALT_GRACE_MS;
        if (halting)
            limit = HALT_GRACE_MS;
        if (since <= 0 || now - since < limit)
            continue;
        if (atomic_compare_exchange_strong(&t->call_since, &since, -1))
            task_abandon(t, atomic_load(&t->call_what), now - since, halting);
    }
}

static void *watchdog_main(void *arg)
{
    struct worker *w = arg;
    int64_t halt_seen = 0;
    while (!atomic_load(&w->watchdog_stop)) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WATCHDOG_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->lock);
        while (!atomic_load(&w->watchdog_stop) &&
               pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&w->lock);
        if (halt_seen == 0 && atomic_load(&w->halt))
            halt_seen = call_clock_ms();
        watchdog_check(w, halt_seen);
    }
    return NULL;
}

static void watchdog_stop(struct worker *w)
{
    if (!w->watchdog_started)
        return;
    atomic_store(&w->watchdog_stop, 1);
    worker_wake(w);
    pthread_join(w->watchdog, NULL);
    w->watchdog_started = 0;
}

/* Waits until every started task has ended or been abandoned, so that joining them
 * cannot hang on a callback that never returns. Thread: the worker's owner. */
static void worker_wait_tasks(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    for (;;) {
        size_t busy = 0;
        for (size_t i = 0; i < w->ntasks; i++)
            busy += w->tasks[i].started && atomic_load(&w->tasks[i].running) &&
                    !task_abandoned(&w->tasks[i]);
        if (busy == 0)
            break;
        /* A task signals its end before it clears running: wait briefly, then look. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cond, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
}

unsigned long long worker_abandoned(const worker *w)
{
    return atomic_load(&((struct worker *)w)->abandoned);
}

spool_rc worker_emit_too_large(struct spool_task *t, size_t bytes)
{
    struct spool_task *owner = t->owner != NULL ? t->owner : t;
    task_fail(owner, "%s emitted a record of %zu bytes (key, value and headers), over the "
              "limit of %u bytes (SPOOL_RECORD_MAX_BYTES); the record was refused: split "
              "such data into smaller records in the plugin", t->name, bytes,
              SPOOL_RECORD_MAX_BYTES);
    return SPOOL_EINVAL;
}

/* ---- Retries ------------------------------------------------------------------------ */

typedef struct retry_state {
    int64_t first_ms;
    int64_t attempts;
    int64_t backoff_ms;
} retry_state;

/* After a SPOOL_RETRY: waits the next backoff (exponential, with jitter: between half
 * and all of it, so that tasks failing together do not retry together), or fails the
 * task when the connector's retry_max or retry_timeout is used up. Returns 0 to try
 * again, 1 to give up (failed or stopping). */
static int task_retry(struct spool_task *t, retry_state *r, const char *what)
{
    const config_connector *cc = t->cc;
    int64_t now = util_mono_ms();
    if (r->attempts == 0) {
        r->first_ms = now;
        r->backoff_ms = BACKOFF_MIN_MS < cc->retry_backoff_max_ms ? BACKOFF_MIN_MS
                                                                 : cc->retry_backoff_max_ms;
    }
    if (r->attempts >= cc->retry_max || now - r->first_ms >= cc->retry_timeout_ms) {
        task_fail(t, "%s still failing after %" PRId64 " retries over %" PRId64 " ms: %s",
                  what, r->attempts, now - r->first_ms,
                  t->error[0] ? t->error : "transient failure");
        return 1;
    }
    r->attempts++;
    atomic_fetch_add(&t->retries, 1);
    uint64_t half = (uint64_t)r->backoff_ms / 2;
    int64_t wait = (int64_t)(half + (uint64_t)rand_r(&t->rng) % (half + 1));
    worker_log(SPOOL_LOG_WARN, t->name, "%s: %s; retry %" PRId64 " of %" PRId64 " in %" PRId64
               " ms", what, t->error[0] ? t->error : "transient failure", r->attempts,
               cc->retry_max, wait);
    if (task_wait(t, wait))
        return 1;
    r->backoff_ms = r->backoff_ms > cc->retry_backoff_max_ms / 2 ? cc->retry_backoff_max_ms
                                                                  : r->backoff_ms * 2;
    return 0;
}

/* Failpoints (see worker_int.h). Their names: source.before_commit (records emitted, not
 * yet durable), source.after_commit, sink.after_put,
 * sink.after_flush (durable at the sink, not yet checkpointed), sink.after_checkpoint. */
static void worker_failpoint_parse(struct worker *w)
{
    const char *spec = getenv("SPOOL_FAILPOINT");
    char action[16];
    if (spec == NULL || *spec == '\0')
        return;
    if (sscanf(spec, "%63[^:]:%ld:%15s", w->fp_name, &w->fp_at, action) != 3 ||
        w->fp_at < 1 || (strcmp(action, "kill") != 0 && strcmp(action, "stop") != 0)) {
        worker_log(SPOOL_LOG_WARN, "worker", "ignoring SPOOL_FAILPOINT=\"%s\": expected "
                   "NAME:N:kill or NAME:N:stop", spec);
        w->fp_name[0] = '\0';
        return;
    }
    w->fp_kill = strcmp(action, "kill") == 0;
    worker_log(SPOOL_LOG_WARN, "worker", "failpoint armed: %s", spec);
}

static void worker_failpoint(struct worker *w, const char *name)
{
    if (w->fp_name[0] == '\0' || strcmp(w->fp_name, name) != 0)
        return;
    if (atomic_fetch_add(&w->fp_hits, 1) + 1 != w->fp_at)
        return;
    worker_log(SPOOL_LOG_WARN, "worker", "failpoint %s reached (%ld): %s", name, w->fp_at,
               w->fp_kill ? "killing the process" : "stopping");
    if (w->fp_kill)
        raise(SIGKILL);
    worker_stop(w);
}

/* The exit code for a backend error. */
static int log_exit_code(int rc)
{
    return rc == LOG_EIO ? EXIT_STORAGE : rc == LOG_ECORRUPT ? EXIT_CORRUPT : EXIT_RUNTIME;
}

/* True for the log errors that stop the whole worker. */
static int log_fatal(int rc)
{
    return rc == LOG_EIO || rc == LOG_ECORRUPT;
}

/* ---- Dead letters ----------------------------------------------------------------------- */

/* Adds rec to producer pr for the connector's dead-letter topic, with headers naming
 * what failed, where, and (for sinks) the record's own topic, partition and offset. */
static int dlq_add(struct spool_task *t, backend_producer *pr, const spool_record *rec,
                   const char *stage, const char *reason, int with_origin)
{
    const char *topic = t->cc->dead_letter_topic;
    int32_t parts = backend_topic_partitions(t->w->b, topic);
    size_t nh = rec->header_count + 6, k = 0;
    log_header *h = calloc(nh, sizeof(*h));
    char part[16], off[24];
    int rc;

    if (h == NULL || parts <= 0) {
        free(h);
        return SPOOL_ENOMEM;
    }
    for (size_t i = 0; i < rec->header_count; i++)
        h[k++] = (log_header){rec->headers[i].key, strlen(rec->headers[i].key),
                              rec->headers[i].value, rec->headers[i].value_len};
#define DLQ_HEADER(name, text) \
    h[k++] = (log_header){name, sizeof(name) - 1, text, strlen(text)}
    DLQ_HEADER("spool.error", reason);
    DLQ_HEADER("spool.stage", stage);
    DLQ_HEADER("spool.connector", t->cc->name);
    if (with_origin) {
        snprintf(part, sizeof(part), "%" PRId32, rec->partition);
        snprintf(off, sizeof(off), "%" PRId64, rec->offset);
        DLQ_HEADER("spool.topic", rec->topic != NULL ? rec->topic : "");
        DLQ_HEADER("spool.partition", part);
        DLQ_HEADER("spool.offset", off);
    }
#undef DLQ_HEADER
    log_record lr = {.key = rec->key, .key_len = rec->key_len, .value = rec->value,
                     .value_len = rec->value_len, .headers = h, .header_count = k,
                     .timestamp_ms = rec->timestamp_ms != 0 ? rec->timestamp_ms : now_ms()};
    int32_t p = rec->key != NULL ? log_partition_for_key(rec->key, rec->key_len, parts)
                                 : (int32_t)(t->round_robin++ % (uint32_t)parts);
    rc = backend_producer_add(pr, topic, p, &lr);
    free(h);
    return rc;
}

/* A record failed at stage: with tolerance none the connector fails (return -1); with
 * tolerance all it is set aside, into the dead-letter topic when there is one (return
 * 0, processing goes on). */
static int task_record_failed(struct spool_task *t, backend_producer *pr,
                              const spool_record *rec, const char *stage,
                              const char *reason, int with_origin)
{
    char where[160] = "";
    if (with_origin)
        snprintf(where, sizeof(where), " at %.100s/%" PRId32 "@%" PRId64,
                 rec->topic != NULL ? rec->topic : "?", rec->partition, rec->offset);
    atomic_fetch_add(&t->errors, 1);
    if (!t->cc->errors_tolerate) {
        task_fail(t, "record%s failed in %s: %s; fix the record or the pipeline, or set "
                  "errors: {tolerance: all, dead_letter_topic: ...} to set such records "
                  "aside", where, stage, reason);
        return -1;
    }
    if (t->cc->dead_letter_topic != NULL &&
        dlq_add(t, pr, rec, stage, reason, with_origin) != SPOOL_OK) {
        task_fail(t, "out of memory setting aside a failed record");
        return -1;
    }
    if (t->cc->dead_letter_topic != NULL)
        atomic_fetch_add(&t->dead_lettered, 1);
    unsigned long long n = atomic_fetch_add(&t->failed_records, 1) + 1;
    atomic_fetch_add(&t->w->dead_lettered, 1);
    worker_log(SPOOL_LOG_WARN, t->name, "record%s failed in %s (%s); set aside%s%s (%llu so "
               "far)", where, stage, reason, t->cc->dead_letter_topic ? " to " : "",
               t->cc->dead_letter_topic ? t->cc->dead_letter_topic : "", n);
    return 0;
}

/* ---- Stages: transforms, then the source's or the sink's final stage ---------------- */

static spool_rc source_accept(struct spool_task *t, const spool_record *rec)
{
    const char *topic = rec->topic != NULL ? rec->topic : t->cc->topic;
    int32_t parts = topic == t->cc->topic ? t->partitions
                                          : backend_topic_partitions(t->w->b, topic);
    const void *key = rec->key;
    size_t key_len = rec->key_len;
    char *key_buf = NULL;
    log_header *headers = NULL;
    int32_t partition;
    spool_rc rc = SPOOL_OK;

    if (parts <= 0) {
        snprintf(t->error, sizeof(t->error), "the record is for topic \"%.200s\", which "
                 "the pipeline does not declare; add it under topics:", topic);
        return SPOOL_EINVAL;
    }
    if (key == NULL && t->cc->key_field != NULL) {
        int found = transform_json_field(rec->value, rec->value_len, t->cc->key_field,
                                         &key_buf, &key_len);
        if (found < 0)
            return SPOOL_ENOMEM;
        key = key_buf;
    }
    if (rec->partition >= 0) {
        if (rec->partition >= parts) {
            snprintf(t->error, sizeof(t->error), "the record is for partition %" PRId32
                     " of topic \"%.200s\", which has %" PRId32 " partitions",
                     rec->partition, topic, parts);
            rc = SPOOL_EINVAL;
            goto out;
        }
        partition = rec->partition;
    } else if (key != NULL) {
        partition = log_partition_for_key(key, key_len, parts);
    } else {
        partition = (int32_t)(t->round_robin++ % (uint32_t)parts);
    }
    size_t bytes = key_len + rec->value_len + 32;
    if (rec->header_count > 0) {
        headers = calloc(rec->header_count, sizeof(*headers));
        if (headers == NULL) {
            rc = SPOOL_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < rec->header_count; i++) {
            headers[i].key = rec->headers[i].key;
            headers[i].key_len = strlen(rec->headers[i].key);
            headers[i].value = rec->headers[i].value;
            headers[i].value_len = rec->headers[i].value_len;
            bytes += headers[i].key_len + headers[i].value_len;
        }
    }
    log_record lr = {.key = key, .key_len = key_len, .value = rec->value,
                     .value_len = rec->value_len, .headers = headers,
                     .header_count = rec->header_count,
                     .timestamp_ms = rec->timestamp_ms != 0 ? rec->timestamp_ms : now_ms()};
    if (backend_producer_add(t->prod, topic, partition, &lr) != SPOOL_OK)
        rc = SPOOL_ENOMEM;
    else
        t->txn_bytes += bytes;
out:
    free(headers);
    free(key_buf);
    return rc;
}

/* A sink batch's records live in chunks that are reused from batch to batch, so that
 * copying a record costs a bump of a pointer, not a malloc and a free. */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    max_align_t data[];
} arena_chunk;

#define ARENA_CHUNK_BYTES (1u << 20)

static void *arena_alloc(struct spool_task *t, size_t n)
{
    arena_chunk *c = t->arena;
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK_BYTES ? n : ARENA_CHUNK_BYTES;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = t->arena;
        t->arena = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* Empties the arena, keeping one standard chunk for the next batch. */
static void arena_reset(struct spool_task *t, int keep)
{
    arena_chunk *c = t->arena, *kept = NULL;
    while (c != NULL) {
        arena_chunk *next = c->next;
        if (keep && kept == NULL && c->cap == ARENA_CHUNK_BYTES) {
            kept = c;
            kept->used = 0;
            kept->next = NULL;
        } else {
            free(c);
        }
        c = next;
    }
    t->arena = kept;
}

/* Copies rec into the arena, for a sink batch that outlives the log reader's buffer
 * and any transform's temporary record. */
static spool_record *record_copy(struct spool_task *t, const spool_record *rec,
                                 const char *topic, int32_t partition, int64_t offset,
                                 int64_t timestamp)
{
    size_t size = sizeof(spool_record) + rec->key_len + rec->value_len + 2 +
                  rec->header_count * sizeof(spool_header);
    for (size_t i = 0; i < rec->header_count; i++)
        size += strlen(rec->headers[i].key) + 1 + rec->headers[i].value_len;
    spool_record *c = arena_alloc(t, size);
    if (c == NULL)
        return NULL;
    char *p = (char *)(c + 1);
    spool_header *h = (spool_header *)p;
    p += rec->header_count * sizeof(spool_header);
    *c = (spool_record){.struct_size = sizeof(spool_record), .topic = topic,
                        .partition = partition, .offset = offset,
                        .timestamp_ms = rec->timestamp_ms != 0 ? rec->timestamp_ms
                                                               : timestamp};
    if (rec->key != NULL) {
        memcpy(p, rec->key, rec->key_len);
        c->key = p;
        c->key_len = rec->key_len;
        p += rec->key_len;
    }
    *p++ = '\0';
    if (rec->value != NULL) {
        memcpy(p, rec->value, rec->value_len);
        c->value = p;
        c->value_len = rec->value_len;
        p += rec->value_len;
    }
    *p++ = '\0';
    for (size_t i = 0; i < rec->header_count; i++) {
        size_t kl = strlen(rec->headers[i].key) + 1;
        memcpy(p, rec->headers[i].key, kl);
        h[i].key = p;
        p += kl;
        memcpy(p, rec->headers[i].value, rec->headers[i].value_len);
        h[i].value = p;
        h[i].value_len = rec->headers[i].value_len;
        p += rec->headers[i].value_len;
    }
    c->headers = rec->header_count > 0 ? h : NULL;
    c->header_count = rec->header_count;
    return c;
}

static spool_rc sink_accept(struct spool_task *t, const spool_record *rec)
{
    if (t->batch_len == t->batch_cap) {
        size_t cap = t->batch_cap ? t->batch_cap * 2 : 256;
        const spool_record **b = realloc(t->batch, cap * sizeof(*b));
        if (b == NULL)
            return SPOOL_ENOMEM;
        t->batch = b;
        t->batch_cap = cap;
    }
    /* Topic, partition and offset always name the log record the output came from:
     * they are its stable identity, whatever a transform did to it. */
    spool_record *c = record_copy(t, rec, t->cur_topic, t->cur_partition, t->cur_offset,
                                  t->cur_timestamp);
    if (c == NULL)
        return SPOOL_ENOMEM;
    t->batch[t->batch_len++] = c;
    t->batch_bytes += rec->key_len + rec->value_len + sizeof(*c);
    return SPOOL_OK;
}

spool_rc worker_stage_push(struct spool_task *owner, size_t stage, const spool_record *rec)
{
    if (stage < owner->ntransforms) {
        struct spool_task *tt = &owner->transforms[stage];
        const config_transform *ct = &owner->cc->transforms[stage];
        if (ct->predicate != NULL && !transform_predicate_match(ct->predicate, rec))
            return worker_stage_push(owner, stage + 1, rec);
        tt->error[0] = '\0';
        int began = call_begin(owner, CALL_TRANSFORM);
        spool_rc rc = tt->plugin->desc->transform(tt, tt->state, rec);
        if (call_end(owner, began) != 0 || task_failed(owner))
            return SPOOL_ESTOP;
        if (rc != SPOOL_OK && rc != SPOOL_ESTOP && tt->error[0] != '\0')
            snprintf(owner->error, sizeof(owner->error), "%.200s: %.800s", tt->name,
                     tt->error);
        return rc;
    }
    return owner->plugin->desc->kind == SPOOL_KIND_SOURCE ? source_accept(owner, rec)
                                                          : sink_accept(owner, rec);
}

/* ---- Task set-up and tear-down ------------------------------------------------------ */

/* Opens the task's plugin (retrying SPOOL_RETRY per the errors policy) and its
 * transforms. Returns 0, or 1 when the task failed or must stop. */
static int task_open(struct spool_task *t)
{
    retry_state r = {0};
    for (;;) {
        t->error[0] = '\0';
        t->in_open = 1;
        int began = call_begin(t, CALL_OPEN);
        spool_rc rc = t->plugin->desc->open(t, &t->state);
        call_done(t, began);
        t->in_open = 0;
        t->opened = 1;
        if (rc == SPOOL_OK)
            break;
        if (rc != SPOOL_RETRY) {
            task_fail(t, "cannot start: %s (%s)", t->error[0] ? t->error : spool_rc_str(rc),
                      spool_rc_name(rc));
            return 1;
        }
        int closing = call_begin(t, CALL_CLOSE);
        t->plugin->desc->close(t, t->state);
        call_done(t, closing);
        t->opened = 0;
        t->state = NULL;
        if (task_retry(t, &r, "start"))
            return 1;
    }
    for (size_t i = 0; i < t->ntransforms; i++) {
        struct spool_task *tt = &t->transforms[i];
        tt->error[0] = '\0';
        int began = call_begin(t, CALL_OPEN);
        spool_rc rc = tt->plugin->desc->open(tt, &tt->state);
        call_done(t, began);
        tt->opened = 1;
        if (rc != SPOOL_OK) {
            task_fail(t, "transform %s cannot start: %s (%s)", tt->name,
                      tt->error[0] ? tt->error : spool_rc_str(rc), spool_rc_name(rc));
            return 1;
        }
    }
    return 0;
}

static void task_close(struct spool_task *t)
{
    for (size_t i = 0; i < t->ntransforms; i++)
        if (t->transforms[i].opened) {
            int began = call_begin(t, CALL_CLOSE);
            t->transforms[i].plugin->desc->close(&t->transforms[i], t->transforms[i].state);
            call_done(t, began);
            t->transforms[i].opened = 0;
            t->transforms[i].state = NULL;
        }
    if (t->opened) {
        int began = call_begin(t, CALL_CLOSE);
        t->plugin->desc->close(t, t->state);
        call_done(t, began);
    }
    t->opened = 0;
    t->state = NULL;
}

static void task_finished(struct spool_task *t)
{
    task_close(t);
    if (!task_failed(t))
        task_set_state(t, t->fenced ? WORKER_UNASSIGNED : WORKER_STOPPED);
    atomic_store(&t->running, 0);
    /* A sink that ends may have been the last writer of a dead-letter topic that
     * another sink drains. */
    worker_wake_sinks(t->w);
    if (atomic_fetch_sub(&t->w->tasks_running, 1) == 1)
        worker_signal_done(t->w);
}

/* ---- Sources ------------------------------------------------------------------------- */

/* The pending position (set by emits) and the in-flight one (being committed) change
 * places, buffers and all. */
static void source_pos_swap(struct spool_task *t)
{
    void *p = t->flight_pos;
    size_t cap = t->flight_cap, len = t->flight_len;
    t->flight_pos = t->pending_pos;
    t->flight_cap = t->pending_cap;
    t->flight_len = t->pending_len;
    t->pending_pos = p;
    t->pending_cap = cap;
    t->pending_len = len;
}

/* Source commits are pipelined: a commit is started (backend_producer_commit_start)
 * and becomes durable in the background while the task polls its next batch; it is
 * waited for before the next one starts, before the task pauses and before it ends.
 * Only a commit waited for counts: its records are counted, source.after_commit is
 * reached, and its position becomes committed_pos, which the plugin learns through
 * source_notify().
 *
 * The two functions below return 0, or -1 when the worker stopped for a storage
 * error, the task must stop while the disk is full (nothing is lost: the records were
 * not committed and the position did not move), another worker took the task over
 * (t->fenced), or the backend dropped the transaction and the task must start again
 * from its committed position (t->restart_loop). */

/* Hands the producer's records and the pending position over to be committed. */
static int source_commit_launch(struct spool_task *t)
{
    if (t->pending_set &&
        backend_producer_set_position(t->prod, t->pending_pos, t->pending_len) != 0) {
        task_fail(t, "out of memory committing");
        return -1;
    }
    t->flight_n = backend_producer_count(t->prod);
    t->flight_bytes = t->txn_bytes;
    t->txn_bytes = 0;
    t->flight_pos_set = t->pending_set;
    if (t->pending_set) {
        /* The buffers change places: pending_pos is free for the next emits. */
        source_pos_swap(t);
        t->pending_set = 0;
    }
    int rc = backend_producer_commit_start(t->prod);
    if (rc != SPOOL_OK) {
        task_fail(t, "cannot start a commit: %s", backend_producer_error(t->prod));
        return -1;
    }
    t->flight = 1;
    return 0;
}

/* After LOG_ENOSPC the producer holds the failed commit again, in front of what was
 * emitted since: so do the task's counters and its pending position. */
static void source_commit_restore(struct spool_task *t)
{
    t->txn_bytes += t->flight_bytes;
    if (t->flight_pos_set && !t->pending_set) {
        source_pos_swap(t);
        t->pending_set = 1;
    }
    t->flight_pos_set = 0;
}

/* Waits for the commit in flight, if any, and takes its result. */
static int source_commit_wait(struct spool_task *t)
{
    int warned = 0, rc;

    if (!t->flight)
        return 0;
    for (;;) {
        rc = backend_producer_commit_wait(t->prod);
        t->flight = 0;
        if (rc != LOG_ENOSPC)
            break;
        /* A full disk is not fatal: the producer keeps the records and the source stays
         * paused here until space returns (or the worker stops). */
        source_commit_restore(t);
        if (!warned)
            worker_log(SPOOL_LOG_WARN, t->name, "the disk holding %s is full; the source "
                       "waits until space is freed", t->w->data_dir);
        warned = 1;
        if (task_wait(t, 1000) || source_commit_launch(t) != 0)
            return -1;
    }
    size_t n = t->flight_n;
    if (rc == LOG_EFENCED) {
        worker_log(SPOOL_LOG_INFO, t->name, "another worker took this task over (%s); it "
                   "stops here, its %zu uncommitted records are that worker's to read "
                   "again", backend_producer_error(t->prod), n);
        t->fenced = 1;
        return -1;
    }
    if (rc == SPOOL_RETRY) {
        worker_log(SPOOL_LOG_WARN, t->name, "the log dropped the transaction of %zu "
                   "records (%s); the source starts again from its committed position",
                   n, backend_producer_error(t->prod));
        t->restart_loop = 1;
        return -1;
    }
    if (rc != SPOOL_OK) {
        worker_fail(t->w, log_exit_code(rc), t->name,
                    "cannot commit %zu records to the log: %s; the worker stops to protect "
                    "the data: fix the storage and start it again, nothing acknowledged is "
                    "lost", n, backend_producer_error(t->prod));
        return -1;
    }
    atomic_fetch_add(&t->bytes, t->flight_bytes);
    t->flight_bytes = 0;
    atomic_fetch_add(&t->records, n);
    atomic_fetch_add(&t->w->produced, n);
    worker_event(t->w);
    worker_failpoint(t->w, "source.after_commit");
    if (t->flight_pos_set) {
        void *p = realloc(t->committed_pos, t->flight_len ? t->flight_len : 1);
        if (p == NULL) {
            task_fail(t, "out of memory");
            return -1;
        }
        memcpy(p, t->flight_pos, t->flight_len);
        t->committed_pos = p;
        t->committed_len = t->flight_len;
        t->flight_pos_set = 0;
        t->commit_due = 1;
    }
    return 0;
}

/* Waits for the commit in flight, then starts one of what was emitted since, with the
 * position of the last record accepted. */
static int source_commit_start(struct spool_task *t)
{
    if (source_commit_wait(t) != 0)
        return -1;
    if (t->fenced || t->restart_loop)
        return -1;
    if (backend_producer_count(t->prod) == 0 && !t->pending_set)
        return 0;
    worker_failpoint(t->w, "source.before_commit");
    return source_commit_launch(t);
}

/* Tells the plugin which position is durable, outside poll() so that callbacks never
 * nest. */
static void source_notify(struct spool_task *t)
{
    if (!t->commit_due || t->plugin->desc->commit == NULL)
        return;
    t->commit_due = 0;
    t->error[0] = '\0';
    int began = call_begin(t, CALL_COMMIT);
    spool_rc rc = t->plugin->desc->commit(t, t->state, t->committed_pos, t->committed_len);
    call_done(t, began);
    if (rc != SPOOL_OK)
        worker_log(SPOOL_LOG_WARN, t->name, "commit callback failed: %s (%s)",
                   t->error[0] ? t->error : spool_rc_str(rc), spool_rc_name(rc));
}

spool_rc worker_source_emit(struct spool_task *t, const spool_record *rec,
                            const void *position, size_t position_len)
{
    /* Transforms and predicates see the topic the record is headed for. */
    spool_record view = *rec;
    if (view.topic == NULL)
        view.topic = t->cc->topic;
    t->error[0] = '\0';
    spool_rc rc = worker_stage_push(t, 0, &view);
    if (rc == SPOOL_ESTOP)
        return SPOOL_ESTOP; /* not taken: its position does not move */
    if (rc == SPOOL_ENOMEM) {
        task_fail(t, "out of memory");
        return SPOOL_ESTOP;
    }
    if (rc != SPOOL_OK &&
        task_record_failed(t, t->prod, rec, "transform",
                           t->error[0] ? t->error : spool_rc_str(rc), 0) != 0)
        return SPOOL_ESTOP;
    /* The record is in the txn or set aside: its position may now be committed. A
     * record that failed the connector is neither, and its position is not taken, so
     * that a restart reads it again. */
    if (position != NULL) {
        if (position_len > t->pending_cap) {
            void *p = realloc(t->pending_pos, position_len);
            if (p == NULL) {
                task_fail(t, "out of memory");
                return SPOOL_ESTOP;
            }
            t->pending_pos = p;
            t->pending_cap = position_len;
        }
        memcpy(t->pending_pos, position, position_len);
        t->pending_len = position_len;
        t->pending_set = 1;
    }
    if ((int64_t)backend_producer_count(t->prod) >= t->cc->batch_max_records ||
        (int64_t)t->txn_bytes >= t->cc->batch_max_bytes)
        if (source_commit_start(t) != 0)
            return SPOOL_ESTOP;
    return SPOOL_OK;
}

/* Opens the source's producer (on kafka this fences an older instance of the task) and
 * reads its committed position. Returns 0, or -1 when the task cannot run. */
static int source_setup(struct spool_task *t)
{
    struct worker *w = t->w;
    char err[512];
    /* A restarted task starts clean: what an earlier run left uncommitted (records held
     * through a full disk) is read again from the committed position. */
    if (t->prod != NULL)
        backend_producer_abort(t->prod);
    t->pending_set = 0;
    t->txn_bytes = 0;
    t->commit_due = 0;
    t->restart_loop = 0;
    t->flight = 0;
    t->flight_pos_set = 0;
    t->flight_bytes = 0;
    free(t->committed_pos);
    t->committed_pos = NULL;
    t->committed_len = 0;
    /* The producer's id is the source's name: the key its position has always had. */
    if (t->prod == NULL) {
        int rc = backend_producer_open(w->b, t->cc->name, &t->prod, err, sizeof(err));
        if (rc != SPOOL_OK) {
            if (log_fatal(rc))
                worker_fail(w, log_exit_code(rc), t->name, "cannot open the producer: %s",
                            err);
            else
                task_fail(t, "cannot open the producer: %s", err);
            return -1;
        }
    }
    int rc = backend_producer_position(t->prod, &t->committed_pos, &t->committed_len);
    if (rc == LOG_EFENCED) {
        t->fenced = 1;
        worker_log(SPOOL_LOG_INFO, t->name, "another worker took this task over (%s)",
                   backend_producer_error(t->prod));
        return -1;
    }
    if (rc != SPOOL_OK) {
        worker_fail(w, log_exit_code(rc), t->name, "cannot read the committed position: %s",
                    backend_producer_error(t->prod));
        return -1;
    }
    return 0;
}

/* One run of the source: open, then poll and commit until it ends, fails or must stop.
 * Returns 1 when it must run again from its committed position (the backend dropped a
 * transaction), else 0. */
static int source_run(struct spool_task *t)
{
    retry_state r = {0};
    int rc;

    if (source_setup(t) != 0 || task_open(t) != 0)
        return 0;
    for (;;) {
        /* A paused task holds no commit in flight: the plugin learns its position. */
        if (t->flight && atomic_load(&t->pause_req)) {
            if (source_commit_wait(t) != 0)
                break;
            source_notify(t);
        }
        if (task_pause_point(t))
            break;
        t->error[0] = '\0';
        int began = call_begin(t, CALL_POLL);
        /* With a commit in flight, take only what is ready: the commit's position
         * reaches the plugin (and its upstream) without waiting for new data. */
        rc = t->plugin->desc->poll(t, t->state, t->flight ? 0 : SOURCE_POLL_MS);
        call_done(t, began);
        /* A connector that failed on a record commits nothing more: part of what a
         * transform derived from that record may be in the producer, and everything
         * since the last commit is read again after a restart. Otherwise what was
         * emitted before an error or a stop is committed all the same. The commit in
         * flight holds only records of earlier, whole polls: it ends as usual (below). */
        if (task_failed(t))
            break;
        /* The last commit ends, this poll's starts; the plugin hears of the first
         * while the second is under way. */
        if (source_commit_start(t) != 0)
            break;
        source_notify(t);
        if (task_failed(t))
            break;
        if (rc == SPOOL_DONE) {
            worker_log(SPOOL_LOG_INFO, t->name, "end of input");
            break;
        }
        if (rc == SPOOL_RETRY) {
            if (task_retry(t, &r, "poll"))
                break;
        } else if (rc != SPOOL_OK && rc != SPOOL_ESTOP) {
            task_fail(t, "poll failed: %s (%s)", t->error[0] ? t->error : spool_rc_str(rc),
                      spool_rc_name(rc));
            break;
        } else {
            r.attempts = 0;
        }
    }
    /* Whatever ended the loop, the commit in flight ends before the task does. */
    if (source_commit_wait(t) == 0 && !task_failed(t))
        source_notify(t);
    return t->restart_loop && !task_failed(t) && !task_stopping(t);
}

static void *source_main(void *arg)
{
    struct spool_task *t = arg;
    struct worker *w = t->w;
    retry_state r = {0};

    t->fenced = 0;
    task_set_state(t, WORKER_RUNNING);
    while (source_run(t)) {
        /* The plugin starts over from the committed position, as after a restart. */
        task_close(t);
        snprintf(t->error, sizeof(t->error), "the log dropped a transaction");
        if (task_retry(t, &r, "commit"))
            break;
    }
    if (t->prod != NULL) {
        backend_producer_close(t->prod);
        t->prod = NULL;
    }
    atomic_fetch_sub(&w->sources_running, 1);
    worker_wake_sinks(w);
    task_finished(t);
    return NULL;
}

/* ---- Sinks --------------------------------------------------------------------------- */

static void sink_batch_clear(struct spool_task *t)
{
    arena_reset(t, 1);
    t->batch_len = 0;
    t->batch_bytes = 0;
}

spool_rc worker_sink_reject(struct spool_task *t, const spool_record *rec,
                            const char *reason)
{
    if (task_record_failed(t, t->dlq, rec, t->in_put ? "put" : "flush", reason, 1) != 0)
        return SPOOL_ERR;
    return SPOOL_OK;
}

/* Calls put() or flush() until it succeeds. Returns 0, or -1 when the task failed or
 * must stop. */
static int sink_call(struct spool_task *t, int flush)
{
    retry_state r = {0};
    for (;;) {
        spool_rc rc;
        t->error[0] = '\0';
        if (flush) {
            t->new_pos_set = 0;
            t->in_flush = 1;
            int began = call_begin(t, CALL_FLUSH);
            rc = t->plugin->desc->flush(t, t->state);
            call_done(t, began);
            t->in_flush = 0;
        } else {
            t->in_put = 1;
            int began = call_begin(t, CALL_PUT);
            rc = t->plugin->desc->put(t, t->state, t->batch, t->batch_len);
            call_done(t, began);
            t->in_put = 0;
        }
        if (task_failed(t))
            return -1;
        if (rc == SPOOL_OK)
            return 0;
        if (rc != SPOOL_RETRY) {
            task_fail(t, "%s failed: %s (%s); the records stay in the log and are delivered "
                      "again from the last checkpoint once the connector restarts",
                      flush ? "flush" : "put", t->error[0] ? t->error : spool_rc_str(rc),
                      spool_rc_name(rc));
            return -1;
        }
        if (task_retry(t, &r, flush ? "flush" : "put"))
            return -1;
    }
}

/* Tells the backend how far the sink delivered (kafka: the group's committed offsets;
 * builtin: nothing, the checkpoint file is the record). Returns 0, or -1 when out of
 * memory. A failure to commit is not fatal: the checkpoint file moved, and the group's
 * offsets only decide where the next owner of a partition starts (at least once). */
static int sink_commit_offsets(struct spool_task *t)
{
    if (!t->w->kafka)
        return 0; /* the builtin log keeps no consumer offsets: the checkpoint is all */
    backend_part *bp = calloc(t->nparts ? t->nparts : 1, sizeof(*bp));
    size_t n = 0;
    if (bp == NULL) {
        task_fail(t, "out of memory saving the checkpoint");
        return -1;
    }
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].next >= 0)
            bp[n++] = (backend_part){t->parts[i].topic, t->parts[i].partition,
                                     t->parts[i].next, -1};
    int rc = n > 0 ? backend_sub_commit(t->sub, bp, n) : SPOOL_OK;
    free(bp);
    if (rc == LOG_EFENCED)
        worker_log(SPOOL_LOG_INFO, t->name, "the partitions moved to another worker before "
                   "their offsets were committed; it reads from the last committed ones");
    else if (rc != SPOOL_OK)
        worker_log(SPOOL_LOG_WARN, t->name, "cannot commit the consumer offsets: %s; the "
                   "next commit carries them", backend_sub_error(t->sub));
    return 0;
}

static int sink_checkpoint(struct spool_task *t)
{
    char err[512];
    if (t->plugin->desc->delivery == SPOOL_DELIVERY_TRANSACTIONAL)
        return 0;
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].next >= 0 &&
            ckpt_set(&t->ck, t->parts[i].topic, t->parts[i].partition, t->parts[i].next) != 0)
            goto oom;
    if (t->new_pos_set) {
        if (ckpt_set_position(&t->ck, t->new_pos, t->new_pos_len) != 0)
            goto oom;
        t->new_pos_set = 0;
    }
    int rc = ckpt_writer_save(t->ckw, &t->ck, err, sizeof(err));
    if (rc != SPOOL_OK) {
        worker_fail(t->w, log_exit_code(rc), t->name, "cannot save the checkpoint: %s", err);
        return -1;
    }
    return sink_commit_offsets(t);
oom:
    task_fail(t, "out of memory saving the checkpoint");
    return -1;
}

/* Commits the dead letters gathered since the last checkpoint, before the checkpoint
 * moves past their records: a crash in between sends them again (at least once). */
static int sink_commit_dead_letters(struct spool_task *t)
{
    size_t n = t->dlq != NULL ? backend_producer_count(t->dlq) : 0;
    if (n == 0)
        return 0;
    for (;;) {
        int rc = backend_producer_commit(t->dlq);
        if (rc == SPOOL_OK)
            return 0;
        if (rc == LOG_EFENCED || rc == SPOOL_RETRY) {
            /* The batch is not checkpointed: whoever reads it next sets them aside again. */
            worker_log(SPOOL_LOG_WARN, t->name, "%zu dead letters not committed (%s); the "
                       "batch is read again from the last checkpoint", n,
                       backend_producer_error(t->dlq));
            backend_producer_abort(t->dlq);
            atomic_store(&t->stop_req, 1);
            t->fenced = rc == LOG_EFENCED;
            t->restart_loop = rc == SPOOL_RETRY;
            return -1;
        }
        if (rc != LOG_ENOSPC) {
            worker_fail(t->w, log_exit_code(rc), t->name, "cannot commit %zu dead letters: "
                        "%s", n, backend_producer_error(t->dlq));
            return -1;
        }
        if (task_wait(t, 1000))
            return -1;
    }
}

/* put, then the dead letters of the batch, then flush, then the checkpoint. Dead letters
 * commit before flush() because a transactional sink commits its own transaction, offsets
 * included, in flush(): after that, the rejected records are only in the dead-letter
 * topic. A transactional sink's transaction is gone after a transient flush failure, so
 * the whole batch is put again (its dead letters may then be written twice: at least
 * once). Other sinks keep what put() took and only flush() is called again. */
static int sink_deliver(struct spool_task *t)
{
    size_t n = t->batch_len;
    int transactional = t->plugin->desc->delivery == SPOOL_DELIVERY_TRANSACTIONAL;
    retry_state r = {0};

    for (;;) {
        if (n > 0 && sink_call(t, 0) != 0)
            return -1;
        worker_failpoint(t->w, "sink.after_put");
        if (sink_commit_dead_letters(t) != 0)
            return -1;
        if (!transactional) {
            /* This sink's checkpoint is the runtime's: dead letters it set aside in
             * flush() commit before the checkpoint too. */
            if (sink_call(t, 1) != 0 || sink_commit_dead_letters(t) != 0)
                return -1;
            break;
        }
        t->error[0] = '\0';
        t->in_flush = 1;
        int began = call_begin(t, CALL_FLUSH);
        spool_rc rc = t->plugin->desc->flush(t, t->state);
        call_done(t, began);
        t->in_flush = 0;
        if (task_failed(t))
            return -1;
        if (rc == SPOOL_OK)
            break;
        if (rc != SPOOL_RETRY) {
            task_fail(t, "flush failed: %s (%s); the records stay in the log and are "
                      "delivered again from the sink's own offsets once the connector "
                      "restarts", t->error[0] ? t->error : spool_rc_str(rc),
                      spool_rc_name(rc));
            return -1;
        }
        if (task_retry(t, &r, "flush"))
            return -1;
    }
    worker_failpoint(t->w, "sink.after_flush");
    atomic_fetch_add(&t->bytes, t->batch_bytes);
    sink_batch_clear(t);
    t->batch_reads = 0;
    if (sink_checkpoint(t) != 0)
        return -1;
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].next >= 0)
            atomic_store(&t->parts[i].consumed, t->parts[i].next);
    worker_failpoint(t->w, "sink.after_checkpoint");
    atomic_fetch_add(&t->records, n);
    atomic_fetch_add(&t->w->delivered, n);
    worker_event(t->w);
    return 0;
}

/* Runs one record read from topic/partition through the transforms into the batch.
 * Returns 1 when taken (delivered, dropped by a transform or set aside), 0 when the
 * task is stopping (the record is read again next time), -1 when the task failed. */
static int sink_take(struct spool_task *t, const log_record *lr, const char *topic,
                     int32_t partition)
{
    sink_part *sp = NULL;
    if (t->part_hint < t->nparts && t->parts[t->part_hint].partition == partition &&
        strcmp(t->parts[t->part_hint].topic, topic) == 0)
        sp = &t->parts[t->part_hint];
    for (size_t i = 0; i < t->nparts && sp == NULL; i++)
        if (t->parts[i].partition == partition && strcmp(t->parts[i].topic, topic) == 0) {
            sp = &t->parts[i];
            t->part_hint = i;
        }
    if (sp == NULL) {
        task_fail(t, "the log delivered %s/%" PRId32 ", which is not assigned to this task",
                  topic, partition);
        return -1;
    }
    /* Header keys arrive without a NUL; the SDK hands them out as C strings. */
    spool_header hs[64];
    spool_header *headers = lr->header_count <= 64 ? hs
                            : calloc(lr->header_count, sizeof(*headers));
    size_t klen = 0;
    for (size_t h = 0; h < lr->header_count; h++)
        klen += lr->headers[h].key_len + 1;
    char kbuf[512];
    char *keys = klen <= sizeof(kbuf) ? kbuf : malloc(klen);
    int result = 1;
    if (headers == NULL || keys == NULL) {
        task_fail(t, "out of memory");
        result = -1;
        goto out;
    }
    char *kp = keys;
    for (size_t h = 0; h < lr->header_count; h++) {
        memcpy(kp, lr->headers[h].key, lr->headers[h].key_len);
        kp[lr->headers[h].key_len] = '\0';
        headers[h] = (spool_header){kp, lr->headers[h].value, lr->headers[h].value_len};
        kp += lr->headers[h].key_len + 1;
    }
    spool_record rec = {.struct_size = sizeof(rec), .key = lr->key,
                        .key_len = lr->key_len, .value = lr->value,
                        .value_len = lr->value_len, .headers = headers,
                        .header_count = lr->header_count,
                        .timestamp_ms = lr->timestamp_ms, .topic = sp->topic,
                        .partition = sp->partition, .offset = lr->offset};
    t->cur_topic = sp->topic;
    t->cur_partition = sp->partition;
    t->cur_offset = lr->offset;
    t->cur_timestamp = lr->timestamp_ms;
    t->error[0] = '\0';
    spool_rc rc = worker_stage_push(t, 0, &rec);
    call_done(t, 0);           /* a transform given up on ends the thread */
    if (rc == SPOOL_ESTOP) {
        /* Stopping: the record is not taken; the batch is dropped and read again. */
        result = 0;
    } else if (rc == SPOOL_ENOMEM) {
        task_fail(t, "out of memory");
        result = -1;
    } else if (rc != SPOOL_OK &&
               task_record_failed(t, t->dlq, &rec, "transform",
                                  t->error[0] ? t->error : spool_rc_str(rc), 1) != 0) {
        result = -1;
    }
    if (result == 1) {
        sp->next = lr->offset + 1;
        t->batch_reads++;
    }
out:
    if (headers != hs)
        free(headers);
    if (keys != kbuf)
        free(keys);
    return result;
}

/* Reads committed records of the task's partitions into the batch, up to the
 * connector's batch limits: the first waiting up to wait_ms, the rest only while
 * they are ready. Returns 0, or -1 when the task failed, must stop, or the worker
 * stopped. */
static int sink_read(struct spool_task *t, int wait_ms)
{
    const config_connector *cc = t->cc;
    while (t->batch_reads < cc->batch_max_records &&
           (int64_t)t->batch_bytes < cc->batch_max_bytes) {
        log_record lr;
        const char *topic;
        int32_t partition;
        int r = backend_sub_next(t->sub, &lr, &topic, &partition, wait_ms);
        wait_ms = 0;
        if (task_failed(t) || (r < 0 && !log_fatal(r) && task_stopping(t)))
            return -1;
        if (r < 0) {
            if (r == SPOOL_ERR || r == SPOOL_ENOMEM)
                task_fail(t, "cannot read its partitions: %s", backend_sub_error(t->sub));
            else
                worker_fail(t->w, log_exit_code(r), t->name, "cannot read its partitions: "
                            "%s", backend_sub_error(t->sub));
            return -1;
        }
        if (r == 0)
            return 0;
        r = sink_take(t, &lr, topic, partition);
        if (r <= 0)
            return -1;
    }
    return 0;
}

/* The pipeline's own string for topic (sink_part.topic outlives the assignment). */
static const char *sink_topic_name(const struct spool_task *t, const char *topic)
{
    for (size_t i = 0; i < t->cc->ntopics; i++)
        if (strcmp(t->cc->topics[i], topic) == 0)
            return t->cc->topics[i];
    return NULL;
}

/* backend_sub's revoked(): everything read and not checkpointed is forgotten. Nothing
 * of it reached put(), or if it did the checkpoint did not move: the next owner of the
 * partitions reads it again. */
static void sink_revoked(void *ctx)
{
    struct spool_task *t = ctx;
    worker_log(SPOOL_LOG_INFO, t->name, "its partitions were revoked");
    sink_batch_clear(t);
    t->batch_reads = 0;
    t->new_pos_set = 0;
    if (t->dlq != NULL)
        backend_producer_abort(t->dlq);
    pthread_mutex_lock(&t->w->lock);
    t->nparts = 0;
    pthread_mutex_unlock(&t->w->lock);
}

/* backend_sub's assigned(): the new assignment becomes the task's parts, each starting
 * where the sink's offsets say: a transactional sink's own (reported with seek() in
 * open(), so the plugin is opened again on a later assignment to report them afresh),
 * else the runtime's checkpoint. */
static int sink_assigned(void *ctx, backend_part *bp, size_t n)
{
    struct spool_task *t = ctx;
    struct worker *w = t->w;
    int transactional = t->plugin->desc->delivery == SPOOL_DELIVERY_TRANSACTIONAL;

    if (transactional && t->assignments > 0) {
        task_close(t);
        ckpt_clear(&t->seeks);
        if (task_open(t) != 0)
            return -1;
    }
    t->assignments++;
    sink_part *fresh = calloc(n ? n : 1, sizeof(*fresh));
    if (fresh == NULL) {
        task_fail(t, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        sink_part *sp = &fresh[i];
        sp->topic = sink_topic_name(t, bp[i].topic);
        sp->partition = bp[i].partition;
        if (sp->topic == NULL) {
            free(fresh);
            task_fail(t, "was assigned %s/%" PRId32 ", a topic it does not read",
                      bp[i].topic, bp[i].partition);
            return -1;
        }
        /* On kafka a non-transactional sink starts at the later of the group's
         * committed offset and its own checkpoint: the checkpoint may be older than
         * what another worker delivered meanwhile, and newer than the group's offset
         * when this worker stopped between its checkpoint and the offset commit (its
         * output holds those records already). */
        int64_t off = transactional ? ckpt_get(&t->seeks, sp->topic, sp->partition)
                                    : ckpt_get(&t->ck, sp->topic, sp->partition);
        if (w->kafka && !transactional && off < bp[i].committed)
            off = bp[i].committed;
        if (!w->kafka) {
            int64_t start = backend_start_offset(w->b, sp->topic, sp->partition);
            if (off < start)
                off = start;
        }
        bp[i].offset = off;
        sp->next = off;
        atomic_store(&sp->consumed, off >= 0 ? off : 0);
    }
    /* worker_consumed() reads the parts from the log's maintenance thread. */
    pthread_mutex_lock(&w->lock);
    sink_part *old = t->parts;
    t->parts = fresh;
    t->nparts = n;
    pthread_mutex_unlock(&w->lock);
    free(old);
    worker_log(SPOOL_LOG_DEBUG, t->name, "assigned %zu partitions", n);
    /* A resumable sink without a checkpoint records where its output starts now, so
     * that a crash before its first real checkpoint cannot double what it wrote. */
    if (t->plugin->desc->delivery == SPOOL_DELIVERY_RESUMABLE && t->ck.position_len == 0)
        if (sink_call(t, 1) != 0 || sink_checkpoint(t) != 0)
            return -1;
    return 0;
}

static int sink_setup(struct spool_task *t)
{
    struct worker *w = t->w;
    char err[512];

    ckpt_clear(&t->ck);
    ckpt_clear(&t->seeks);
    /* A restarted task starts clean: dead letters of an undelivered batch come again
     * with the batch, and no position of an earlier flush() may be taken. */
    t->new_pos_set = 0;
    t->batch_reads = 0;
    t->assignments = 0;
    t->restart_loop = 0;
    pthread_mutex_lock(&w->lock);
    t->nparts = 0;
    pthread_mutex_unlock(&w->lock);
    /* A restart reads the file again: what a failed writer saw is not to be trusted. */
    ckpt_writer_close(t->ckw);
    t->ckw = NULL;
    int rc = ckpt_writer_open(w->data_dir, t->ckpt_name, &t->ck, &t->ckw, err, sizeof(err));
    if (rc != SPOOL_OK) {
        if (log_fatal(rc))
            worker_fail(w, log_exit_code(rc), t->name, "cannot load the checkpoint: %s", err);
        else
            task_fail(t, "cannot load the checkpoint: %s", err);
        return -1;
    }
    if (ckpt_writer_warning(t->ckw) != NULL)
        worker_log(SPOOL_LOG_WARN, t->name, "%s", ckpt_writer_warning(t->ckw));
    if (t->dlq == NULL && t->cc->dead_letter_topic != NULL) {
        /* On kafka every worker runs this sink task (the group deals out its
         * partitions), so the dead-letter producer's transactional id names the worker
         * too: one shared id would have the workers fence each other. Dead letters
         * carry no position, so a crashed worker's id needs no fencing. */
        char id[900], host[256] = "";
        if (backend_kind_of(w->b) == BACKEND_KAFKA) {
            gethostname(host, sizeof(host) - 1);
            snprintf(id, sizeof(id), "%s.dlq.%s-%ld", t->name, host, (long)getpid());
        } else {
            snprintf(id, sizeof(id), "%s.dlq", t->name);
        }
        rc = backend_producer_open(w->b, id, &t->dlq, err, sizeof(err));
        if (rc != SPOOL_OK) {
            task_fail(t, "cannot open the dead-letter producer: %s", err);
            return -1;
        }
    }
    if (task_open(t) != 0)
        return -1;
    /* Partitions are dealt to the sink's tasks by the backend (builtin: partition p of
     * every topic goes to task p % tasks) at the first read. */
    backend_sub_opts so = {.name = t->cc->name, .topics = (const char *const *)t->cc->topics,
                           .ntopics = t->cc->ntopics, .task = t->index,
                           .tasks = t->cc->tasks > 0 ? t->cc->tasks : 1,
                           .assigned = sink_assigned, .revoked = sink_revoked, .ctx = t};
    backend_sub *sub = NULL;
    rc = backend_sub_open(w->b, &so, &sub, err, sizeof(err));
    if (rc != SPOOL_OK) {
        if (log_fatal(rc))
            worker_fail(w, log_exit_code(rc), t->name, "cannot read its topics: %s", err);
        else
            task_fail(t, "cannot read its topics: %s", err);
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    t->sub = sub;
    pthread_mutex_unlock(&w->lock);
    /* A stop that came before the subscription existed must not be slept through. */
    if (atomic_load(&w->stop))
        backend_sub_wakeup(sub);
    return 0;
}

/* True when the sink reads topic. */
static int sink_reads(const struct spool_task *t, const char *topic)
{
    for (size_t i = 0; i < t->cc->ntopics; i++)
        if (strcmp(t->cc->topics[i], topic) == 0)
            return 1;
    return 0;
}

/* A sink is done when nothing can write its topics any more (every source has ended,
 * or there are none and the worker is stopping; no other sink that dead-letters into
 * them is still running) and it has delivered everything committed. On kafka other
 * workers may still write: the sink runs until the worker stops (task_stopping). */
static int sink_drained(struct spool_task *t)
{
    struct worker *w = t->w;
    if (w->kafka)
        return 0;
    if (atomic_load(&w->sources_running) != 0)
        return 0;
    if (w->nsources == 0 && !atomic_load(&w->stop))
        return 0;
    for (size_t i = 0; i < w->ntasks; i++) {
        struct spool_task *u = &w->tasks[i];
        if (u != t && u->cc->kind == SPOOL_KIND_SINK && atomic_load(&u->running) &&
            u->cc->dead_letter_topic != NULL && sink_reads(t, u->cc->dead_letter_topic))
            return 0;
    }
    return backend_sub_caught_up(t->sub);
}

/* One run of the sink: read, deliver, until drained, failed or stopping. Returns 1 when
 * it must run again from its checkpoint (the backend dropped a dead-letter
 * transaction), else 0. */
static int sink_run(struct spool_task *t)
{
    if (sink_setup(t) != 0)
        return 0;
    while (!task_pause_point(t)) {
        /* What is ready now, up to a batch; then deliver it, or else wait for more. */
        if (sink_read(t, 0) != 0)
            break;
        if (t->batch_reads > 0) {
            if (sink_deliver(t) != 0)
                break;
            continue;
        }
        if (sink_drained(t))
            break;
        /* A record that comes within the wait stays in the batch for the next round. */
        if (sink_read(t, SINK_WAIT_MS) != 0)
            break;
    }
    return t->restart_loop && !task_failed(t) && !atomic_load(&t->w->halt) &&
           !atomic_load(&t->stop_req);
}

/* Ends the task's subscription and its uncommitted dead letters. */
static void sink_teardown(struct spool_task *t)
{
    struct worker *w = t->w;
    backend_sub *sub;
    sink_batch_clear(t);
    t->batch_reads = 0;
    pthread_mutex_lock(&w->lock);
    sub = t->sub;
    t->sub = NULL;
    t->nparts = 0;
    pthread_mutex_unlock(&w->lock);
    backend_sub_close(sub);
    if (t->dlq != NULL) {
        backend_producer_close(t->dlq);
        t->dlq = NULL;
    }
    /* Stopped, the task holds no file: the offsets endpoints may replace it. */
    ckpt_writer_close(t->ckw);
    t->ckw = NULL;
}

static void *sink_main(void *arg)
{
    struct spool_task *t = arg;
    retry_state r = {0};

    t->fenced = 0;
    task_set_state(t, WORKER_RUNNING);
    while (sink_run(t)) {
        sink_teardown(t);
        task_close(t);
        snprintf(t->error, sizeof(t->error), "the log dropped a transaction");
        if (task_retry(t, &r, "dead letters"))
            break;
    }
    sink_teardown(t);
    task_finished(t);
    return NULL;
}

/* ---- The worker ---------------------------------------------------------------------- */

static char *task_name(const char *kind, const char *name, int index, int ntasks)
{
    char buf[600];
    if (ntasks > 1)
        snprintf(buf, sizeof(buf), "%s/%s/%d", kind, name, index);
    else
        snprintf(buf, sizeof(buf), "%s/%s", kind, name);
    return strdup(buf);
}

static int task_init(struct worker *w, struct spool_task *t, const config_connector *cc,
                     int index, int ntasks)
{
    t->w = w;
    t->cc = cc;
    t->plugin = cc->plugin;
    t->values = cc->values;
    t->nvalues = cc->nvalues;
    t->index = index;
    t->rng = (unsigned)(uintptr_t)t ^ (unsigned)util_mono_ms();
    atomic_store(&t->status, WORKER_UNASSIGNED);
    t->name = task_name(cc->kind == SPOOL_KIND_SOURCE ? "source" : "sink", cc->name, index,
                        ntasks);
    if (t->name == NULL)
        return -1;
    if (cc->ntransforms > 0) {
        t->transforms = calloc(cc->ntransforms, sizeof(*t->transforms));
        if (t->transforms == NULL)
            return -1;
        t->ntransforms = cc->ntransforms;
    }
    for (size_t i = 0; i < cc->ntransforms; i++) {
        struct spool_task *tt = &t->transforms[i];
        char buf[700];
        snprintf(buf, sizeof(buf), "%s/%s#%zu", t->name, cc->transforms[i].name, i + 1);
        tt->w = w;
        tt->cc = cc;
        tt->owner = t;
        tt->stage = i;
        tt->plugin = cc->transforms[i].plugin;
        tt->values = cc->transforms[i].values;
        tt->nvalues = cc->transforms[i].nvalues;
        tt->name = strdup(buf);
        if (tt->name == NULL)
            return -1;
    }
    if (cc->kind == SPOOL_KIND_SOURCE) {
        t->partitions = backend_topic_partitions(w->b, cc->topic);
    } else {
        char buf[600];
        if (ntasks > 1)
            snprintf(buf, sizeof(buf), "%s-%d", cc->name, index);
        else
            snprintf(buf, sizeof(buf), "%s", cc->name);
        t->ckpt_name = strdup(buf);
        if (t->ckpt_name == NULL)
            return -1;
    }
    return 0;
}

/* The log's warnings (a cut-back tail, a rebuilt index) go to the worker's log. */
static void worker_log_warn(void *ctx, const char *msg)
{
    worker_log(SPOOL_LOG_WARN, "log", "%s", msg);
}

/* For retention's keep_unconsumed: the lowest next offset any sink task of this
 * worker still has to deliver from topic/partition (its position in memory, which
 * for a transactional sink is what its own system stored), or -1 when none reads it.
 * Called from the log's maintenance thread. */
static int64_t worker_consumed(void *ctx, const char *topic, int32_t partition);

int64_t worker_consumed_offset(worker *w, const char *topic, int32_t partition)
{
    return worker_consumed(w, topic, partition);
}

static int64_t worker_consumed(void *ctx, const char *topic, int32_t partition)
{
    struct worker *w = ctx;
    int64_t low = -1;
    pthread_mutex_lock(&w->lock);
    if (w->closing) {
        /* Tasks are being set up or freed: keep everything this time. */
        pthread_mutex_unlock(&w->lock);
        return 0;
    }
    for (size_t i = 0; i < w->ntasks; i++) {
        struct spool_task *t = &w->tasks[i];
        if (t->cc->kind != SPOOL_KIND_SINK || !sink_reads(t, topic))
            continue;
        int tasks = t->cc->tasks > 0 ? t->cc->tasks : 1;
        if (partition % tasks != t->index)
            continue;
        /* A task that has not set up yet may still start from its checkpoint: keep all. */
        int64_t next = 0;
        for (size_t k = 0; k < t->nparts; k++)
            if (t->parts[k].partition == partition && strcmp(t->parts[k].topic, topic) == 0)
                next = atomic_load(&t->parts[k].consumed);
        if (low < 0 || next < low)
            low = next;
    }
    pthread_mutex_unlock(&w->lock);
    return low;
}

/* worker_new() and worker_new_shared(): with shared NULL the worker opens the log
 * itself and creates p's topics; otherwise it uses shared as it is. */
static int worker_create(const config_pipeline *p, backend *shared, const char *data_dir,
                         worker **out, char *err, size_t errlen);

void worker_backend_config(const config_log *lg, const char *data_dir,
                           const char **props, backend_config *out)
{
    size_t k = 0;
    *out = (backend_config){.kind = lg->kind == BACKEND_KAFKA ? BACKEND_KAFKA : BACKEND_BUILTIN,
                            .data_dir = data_dir, .group = lg->group,
                            .replication_factor = lg->replication_factor};
    for (size_t i = 0; i < 2 * lg->nproperties && lg->properties != NULL; i++)
        props[k++] = lg->properties[i];
    props[k] = NULL;
    out->properties = props;
}

int worker_new(const config_pipeline *p, const char *data_dir, worker **out, char *err,
               size_t errlen)
{
    return worker_create(p, NULL, data_dir, out, err, errlen);
}

void worker_topic_config(const config_topic *ct, log_topic_config *out)
{
    static const log_durability modes[] = {LOG_DURABILITY_BATCH, LOG_DURABILITY_INTERVAL,
                                           LOG_DURABILITY_NONE};
    log_topic_config_init(out);
    out->partitions = ct->partitions;
    out->retention_ms = ct->retention_ms;
    out->retention_bytes = ct->retention_bytes;
    out->segment_bytes = ct->segment_bytes;
    out->segment_ms = ct->segment_ms;
    out->durability = modes[ct->durability >= 0 && ct->durability <= 2 ? ct->durability : 0];
    out->flush_interval_ms = ct->flush_interval_ms;
    out->keep_unconsumed = ct->keep_unconsumed;
}

int worker_new_shared(const config_pipeline *p, backend *b, const char *data_dir,
                      worker **out, char *err, size_t errlen)
{
    if (b == NULL) {
        snprintf(err, errlen, "no log backend given");
        return EXIT_RUNTIME;
    }
    return worker_create(p, b, data_dir, out, err, errlen);
}

/* Opens the backend p's log: block names. Returns 0 or an exit code. */
static int worker_open_backend(struct worker *w, const config_pipeline *p,
                               const char *data_dir, char *err, size_t errlen)
{
    const char **props = calloc(2 * p->log.nproperties + 1, sizeof(*props));
    backend_config bc;
    if (props == NULL) {
        snprintf(err, errlen, "out of memory opening the log");
        return EXIT_RUNTIME;
    }
    worker_backend_config(&p->log, data_dir, props, &bc);
    log_open_opts lo = {.maintain_ms = LOG_MAINTAIN_MS, .consumed = worker_consumed,
                        .consumed_ctx = w, .warn = worker_log_warn, .warn_ctx = w};
    bc.log_opts = &lo;
    int rc = backend_open(&bc, &w->b, err, errlen);
    free(props);
    if (rc != SPOOL_OK)
        return rc == LOG_ELOCKED ? EXIT_RUNTIME : log_exit_code(rc);
    return 0;
}

static int worker_create(const config_pipeline *p, backend *shared, const char *data_dir,
                         worker **out, char *err, size_t errlen)
{
    struct worker *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;
    size_t ntasks = 0, k = 0;
    int rc;

    *out = NULL;
    if (w == NULL)
        goto oom;
    w->p = p;
    w->done_fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->gauge_lock, NULL);
    pthread_mutex_init(&w->task_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    worker_failpoint_parse(w);
    w->data_dir = strdup(data_dir);
    w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->data_dir == NULL || w->done_fd < 0)
        goto oom;
    worker_register_secrets(p);
    if (shared != NULL) {
        w->b = shared;
        w->shared_backend = 1;
    } else if ((rc = worker_open_backend(w, p, data_dir, err, errlen)) != 0) {
        worker_free(w);
        return rc;
    }
    w->kafka = backend_kind_of(w->b) == BACKEND_KAFKA;
    for (size_t i = 0; shared == NULL && i < p->ntopics; i++) {
        const config_topic *ct = &p->topics[i];
        log_topic_config tc;
        worker_topic_config(ct, &tc);
        rc = backend_topic_create(w->b, ct->name, &tc, err, errlen);
        if (rc != SPOOL_OK) {
            worker_free(w);
            return rc == SPOOL_EINVAL ? EXIT_USAGE : log_exit_code(rc);
        }
    }
    ntasks = p->nsources;
    for (size_t i = 0; i < p->nsinks; i++)
        ntasks += (size_t)(p->sinks[i].tasks > 0 ? p->sinks[i].tasks : 1);
    w->tasks = calloc(ntasks ? ntasks : 1, sizeof(*w->tasks));
    if (w->tasks == NULL)
        goto oom;
    /* The log's maintenance thread may ask worker_consumed() meanwhile. */
    pthread_mutex_lock(&w->lock);
    w->closing = 1;
    w->ntasks = ntasks;
    pthread_mutex_unlock(&w->lock);
    w->nsources = p->nsources;
    for (size_t i = 0; i < p->nsources; i++)
        if (task_init(w, &w->tasks[k++], &p->sources[i], 0, 1) != 0)
            goto oom;
    for (size_t i = 0; i < p->nsinks; i++) {
        int n = p->sinks[i].tasks > 0 ? p->sinks[i].tasks : 1;
        for (int j = 0; j < n; j++)
            if (task_init(w, &w->tasks[k++], &p->sinks[i], j, n) != 0)
                goto oom;
    }
    pthread_mutex_lock(&w->lock);
    w->closing = 0;
    pthread_mutex_unlock(&w->lock);
    *out = w;
    return 0;
oom:
    snprintf(err, errlen, "out of memory setting up the pipeline");
    worker_free(w);
    return EXIT_RUNTIME;
}

/* Starts one task's thread. Returns 0 or an errno value. */
static int task_start(struct spool_task *t)
{
    int is_source = t->plugin->desc->kind == SPOOL_KIND_SOURCE;
    atomic_store(&t->stop_req, 0);
    atomic_store(&t->running, 1);
    atomic_fetch_add(&t->w->tasks_running, 1);
    if (is_source)
        atomic_fetch_add(&t->w->sources_running, 1);
    int rc = pthread_create(&t->thread, NULL, is_source ? source_main : sink_main, t);
    if (rc != 0) {
        atomic_store(&t->running, 0);
        if (is_source)
            atomic_fetch_sub(&t->w->sources_running, 1);
        if (atomic_fetch_sub(&t->w->tasks_running, 1) == 1)
            worker_signal_done(t->w);
        task_fail(t, "cannot start a thread: %s", strerror(rc));
        return rc;
    }
    t->started = 1;
    return 0;
}

/* Stops t's thread and waits for it, unless it was abandoned. Returns 1 when a thread
 * was stopped. Under task_lock. */
static int task_stop_join(struct spool_task *t)
{
    if (!t->started || task_abandoned(t))
        return 0;
    atomic_store(&t->stop_req, 1);
    worker_wake(t->w);
    pthread_join(t->thread, NULL);
    t->started = 0;
    return 1;
}

/* The coordinator's own(): this worker starts or stops running source task i. */
static void worker_own(void *ctx, size_t i, int owned)
{
    struct worker *w = ctx;
    struct spool_task *t = &w->tasks[w->coord_order[i]];
    pthread_mutex_lock(&w->task_lock);
    t->owned = owned;
    if (owned && !t->started && !task_abandoned(t)) {
        if (w->kafka)
            worker_log(SPOOL_LOG_INFO, t->name, "assigned to this worker");
        task_start(t);
    } else if (!owned && task_stop_join(t)) {
        /* Another worker runs it now (or will): not STOPPED, not FAILED. */
        if (!task_failed(t)) {
            atomic_store(&t->status, WORKER_UNASSIGNED);
            worker_event(w);
        }
        worker_log(SPOOL_LOG_INFO, t->name, "handed over to another worker");
    }
    pthread_mutex_unlock(&w->task_lock);
}

static int cmp_task_names(const void *a, const void *b, void *ctx)
{
    const struct worker *w = ctx;
    return strcmp(w->tasks[*(const size_t *)a].name, w->tasks[*(const size_t *)b].name);
}

/* Sorts the source tasks' indices by name (the same order on every worker). */
static void coord_sort(struct worker *w, size_t *order, size_t n)
{
    /* An insertion sort: a pipeline has few sources, and qsort has no context. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp_task_names(&order[j - 1], &order[j], w) > 0; j--) {
            size_t x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
}

/* On kafka: polls the coordinator until the worker stops, then hands every source task
 * back. Holds one count of tasks_running meanwhile, so that the worker does not end
 * while it owns nothing. */
static void *coord_main(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(&w->coord_stop) && !atomic_load(&w->stop)) {
        int rc = backend_coord_poll(w->coord, 500);
        if (rc != SPOOL_OK && rc != SPOOL_RETRY) {
            char why[512];
            backend_last_error(w->b, why, sizeof(why));
            worker_log(SPOOL_LOG_WARN, "worker", "the source coordinator: %s (%s)", why,
                       spool_rc_str(rc));
            task_wait(&w->tasks[0], 1000);
        }
    }
    backend_coord_close(w->coord);
    w->coord = NULL;
    if (atomic_fetch_sub(&w->tasks_running, 1) == 1)
        worker_signal_done(w);
    return NULL;
}

/* Opens the coordinator of the source tasks and lets it start those this worker owns:
 * on builtin all of them, here and now; on kafka on a thread of its own. */
static void worker_start_sources(struct worker *w)
{
    char err[512];
    const char **names = calloc(w->nsources ? w->nsources : 1, sizeof(*names));
    w->coord_order = calloc(w->nsources ? w->nsources : 1, sizeof(*w->coord_order));
    if (names == NULL || w->coord_order == NULL) {
        free(names);
        worker_fail(w, EXIT_RUNTIME, "worker", "out of memory starting the sources");
        return;
    }
    for (size_t i = 0; i < w->nsources; i++)
        w->coord_order[i] = i;
    coord_sort(w, w->coord_order, w->nsources);
    for (size_t i = 0; i < w->nsources; i++)
        names[i] = w->tasks[w->coord_order[i]].name;
    int rc = backend_coord_open(w->b, names, w->nsources, worker_own, w, &w->coord, err,
                                sizeof(err));
    free(names);
    if (rc != SPOOL_OK) {
        worker_fail(w, log_fatal(rc) ? log_exit_code(rc) : EXIT_RUNTIME, "worker",
                    "cannot coordinate the source tasks: %s", err);
        return;
    }
    if (!w->kafka) {
        backend_coord_poll(w->coord, 0);
        return;
    }
    atomic_fetch_add(&w->tasks_running, 1);
    if (pthread_create(&w->coord_thread, NULL, coord_main, w) == 0) {
        w->coord_started = 1;
        return;
    }
    atomic_fetch_sub(&w->tasks_running, 1);
    worker_fail(w, EXIT_RUNTIME, "worker", "cannot start the source coordinator's thread");
}

int worker_start(worker *w)
{
    /* A guard on both counters while the tasks start, so that no sink sees "no source
     * running" before the sources are counted, and the end is not signalled early. */
    atomic_fetch_add(&w->sources_running, 1);
    atomic_fetch_add(&w->tasks_running, 1);
    worker_start_sources(w);
    pthread_mutex_lock(&w->task_lock);
    for (size_t i = 0; i < w->ntasks; i++)
        if (w->tasks[i].cc->kind == SPOOL_KIND_SINK)
            task_start(&w->tasks[i]);
    pthread_mutex_unlock(&w->task_lock);
    if (pthread_create(&w->watchdog, NULL, watchdog_main, w) == 0)
        w->watchdog_started = 1;
    else
        worker_log(SPOOL_LOG_WARN, "worker", "cannot start the watchdog thread: plugin "
                   "callbacks run without deadlines");
    atomic_fetch_sub(&w->sources_running, 1);
    worker_wake_sinks(w);
    if (atomic_fetch_sub(&w->tasks_running, 1) == 1)
        worker_signal_done(w);
    return 0;
}

/* Stops the coordinator's thread (kafka), which hands the sources back first. */
static void coord_stop(struct worker *w)
{
    if (!w->coord_started)
        return;
    atomic_store(&w->coord_stop, 1);
    pthread_join(w->coord_thread, NULL);
    w->coord_started = 0;
}

int worker_done_fd(const worker *w)
{
    return w->done_fd;
}

int worker_join(worker *w)
{
    int code, failed = 0;
    coord_stop(w);
    worker_wait_tasks(w);
    for (size_t i = 0; i < w->ntasks; i++) {
        if (w->tasks[i].started) {
            if (task_abandoned(&w->tasks[i]))
                pthread_detach(w->tasks[i].thread);
            else
                pthread_join(w->tasks[i].thread, NULL);
            w->tasks[i].started = 0;
        }
        failed |= task_failed(&w->tasks[i]);
    }
    watchdog_stop(w);
    pthread_mutex_lock(&w->lock);
    code = w->exit_code;
    pthread_mutex_unlock(&w->lock);
    return code != 0 ? code : failed ? EXIT_RUNTIME : 0;
}

/* Calls fn on every task of the connector named name. Returns -1 when there is none. */
static int worker_each(worker *w, const char *name, void (*fn)(struct spool_task *, int),
                       int arg)
{
    int found = -1;
    for (size_t i = 0; i < w->ntasks; i++)
        if (strcmp(w->tasks[i].cc->name, name) == 0) {
            fn(&w->tasks[i], arg);
            found = 0;
        }
    if (found == 0)
        worker_wake(w);
    return found;
}

static void task_pause(struct spool_task *t, int on)
{
    atomic_store(&t->pause_req, on);
}

static void task_restart(struct spool_task *t, int only_failed)
{
    if (only_failed && !task_failed(t))
        return;
    if (task_abandoned(t)) {
        worker_log(SPOOL_LOG_ERROR, t->name, "cannot restart: its %s() never returned and "
                   "its thread may still run it; restart spool to run this connector again",
                   call_names[atomic_load(&t->call_what)]);
        return;
    }
    pthread_mutex_lock(&t->w->task_lock);
    /* A source task another worker runs is that worker's to restart. */
    if (t->cc->kind == SPOOL_KIND_SOURCE && !t->owned) {
        pthread_mutex_unlock(&t->w->task_lock);
        return;
    }
    task_stop_join(t);
    pthread_mutex_lock(&t->w->lock);
    t->reason[0] = '\0';
    pthread_mutex_unlock(&t->w->lock);
    atomic_store(&t->status, WORKER_UNASSIGNED);
    worker_log(SPOOL_LOG_INFO, t->name, "restarting");
    task_start(t);
    pthread_mutex_unlock(&t->w->task_lock);
}

int worker_pause(worker *w, const char *name)
{
    return worker_each(w, name, task_pause, 1);
}

int worker_resume(worker *w, const char *name)
{
    return worker_each(w, name, task_pause, 0);
}

int worker_restart(worker *w, const char *name, int only_failed)
{
    return worker_each(w, name, task_restart, only_failed);
}

size_t worker_task_count(const worker *w)
{
    return w->ntasks;
}

void worker_task_get(worker *w, size_t i, worker_task_info *out)
{
    struct spool_task *t = &w->tasks[i];
    out->connector = t->cc->name;
    out->task = t->name;
    out->kind = t->cc->kind;
    out->index = t->index;
    out->state = atomic_load(&t->status);
    out->records = atomic_load(&t->records);
    out->failed_records = atomic_load(&t->failed_records);
    pthread_mutex_lock(&w->lock);
    snprintf(out->reason, sizeof(out->reason), "%s", t->reason);
    pthread_mutex_unlock(&w->lock);
}

void worker_get_stats(const worker *w, worker_stats *out)
{
    struct worker *m = (struct worker *)w;
    out->produced = atomic_load(&m->produced);
    out->delivered = atomic_load(&m->delivered);
    out->dead_lettered = atomic_load(&m->dead_lettered);
}

void worker_task_counters(worker *w, size_t i, worker_task_counts *out)
{
    struct spool_task *t = &w->tasks[i];
    out->bytes = atomic_load(&t->bytes);
    out->retries = atomic_load(&t->retries);
    out->errors = atomic_load(&t->errors);
    out->dead_lettered = atomic_load(&t->dead_lettered);
}

size_t worker_task_lag(worker *w, size_t i, worker_part_lag *out, size_t max)
{
    struct spool_task *t = &w->tasks[i];
    size_t n = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t k = 0; k < t->nparts && n < max; k++, n++) {
        out[n].topic = t->parts[k].topic;
        out[n].partition = t->parts[k].partition;
        out[n].consumed = atomic_load(&t->parts[k].consumed);
    }
    pthread_mutex_unlock(&w->lock);
    /* Outside the lock: on kafka this asks the cluster. */
    for (size_t k = 0; k < n; k++)
        out[k].end = backend_end_offset(w->b, out[k].topic, out[k].partition);
    return n;
}

size_t worker_task_gauges(worker *w, size_t i, worker_gauge *out, size_t max)
{
    struct spool_task *t = &w->tasks[i];
    size_t n = 0;
    pthread_mutex_lock(&w->gauge_lock);
    for (; n < t->ngauges && n < max; n++)
        out[n] = t->gauges[n];
    pthread_mutex_unlock(&w->gauge_lock);
    return n;
}

const char *worker_task_plugin(const worker *w, size_t i)
{
    return w->tasks[i].plugin->desc->name;
}

int worker_exit_code(worker *w)
{
    pthread_mutex_lock(&w->lock);
    int code = w->exit_code;
    pthread_mutex_unlock(&w->lock);
    return code;
}

static void task_free(struct spool_task *t)
{
    for (size_t i = 0; i < t->ntransforms; i++)
        free(t->transforms[i].name);
    free(t->transforms);
    free(t->name);
    backend_producer_close(t->prod);
    backend_producer_close(t->dlq);
    backend_sub_close(t->sub);
    free(t->pending_pos);
    free(t->flight_pos);
    free(t->committed_pos);
    free(t->ckpt_name);
    ckpt_writer_close(t->ckw);
    ckpt_clear(&t->ck);
    ckpt_clear(&t->seeks);
    free(t->new_pos);
    free(t->parts);
    free(t->batch);
    arena_reset(t, 0);
}

void worker_free(worker *w)
{
    if (w == NULL)
        return;
    /* The log's maintenance thread must not walk the tasks while they are freed: stop
     * it (log_close joins it) before freeing them. */
    pthread_mutex_lock(&w->lock);
    w->closing = 1;
    pthread_mutex_unlock(&w->lock);
    watchdog_stop(w);
    coord_stop(w);
    /* builtin: hands back what it owns; every task thread has been joined by now, or
     * (worker_start never ran) never started. */
    if (w->coord != NULL) {
        backend_coord_close(w->coord);
        w->coord = NULL;
    }
    /* An abandoned task's thread may still come back to its task: keep them all (and
     * the backend they may still use). */
    if (worker_abandoned(w) > 0)
        return;
    /* Every reader and producer must be gone before the log closes. */
    for (size_t i = 0; i < w->ntasks; i++) {
        struct spool_task *t = &w->tasks[i];
        backend_sub_close(t->sub);
        backend_producer_close(t->prod);
        backend_producer_close(t->dlq);
        t->sub = NULL;
        t->prod = t->dlq = NULL;
    }
    if (w->b != NULL && !w->shared_backend)
        backend_close(w->b);
    w->b = NULL;
    for (size_t i = 0; i < w->ntasks; i++)
        task_free(&w->tasks[i]);
    free(w->tasks);
    if (w->done_fd >= 0)
        close(w->done_fd);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->gauge_lock);
    free(w->coord_order);
    pthread_mutex_destroy(&w->task_lock);
    free(w->data_dir);
    free(w);
}

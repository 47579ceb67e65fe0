/* worker.c - runs one pipeline's tasks on threads: sources into the log, log into sinks.
 *
 * Each task's callbacks, open() and close() included, run on that task's own thread,
 * as the SDK promises. A source task loops poll -> transforms -> log_commit (grouped
 * with the other sources by the log) -> commit callback; its position is stored in
 * the same commit as its records, so a restart resumes exactly after them. A sink
 * task loops read committed records -> transforms -> put -> flush -> checkpoint, where
 * the checkpoint depends on the sink's delivery level: transactional sinks keep their
 * own offsets (reported with seek() in open()), resumable and idempotent sinks get
 * their offsets, and a resumable sink its position, saved by the runtime after every
 * successful flush.
 *
 * The worker finishes by itself when every source has reported the end of its input
 * and every sink has delivered everything committed; otherwise it runs until
 * worker_stop(). The first failure decides the exit code.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "transform/transform.h"
#include "worker/worker_int.h"

#define SOURCE_POLL_MS 200
#define SINK_WAIT_MS 500
#define SINK_BATCH_MAX 4096
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* ---- Logging ---------------------------------------------------------------------- */

static atomic_int log_level = SPOOL_LOG_INFO;

void worker_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

void worker_vlog(int level, const char *who, const char *fmt, va_list ap)
{
    static const char *const names[] = {"", "ERROR", "WARN ", "INFO ", "DEBUG"};
    char line[4096];
    struct timespec ts;
    struct tm tm;
    int n;

    if (level > atomic_load(&log_level))
        return;
    if (level < SPOOL_LOG_ERROR || level > SPOOL_LOG_DEBUG)
        level = SPOOL_LOG_INFO;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ts.tv_nsec / 1000000, names[level], who);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        n = 0;
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    /* One fputs per line, so that lines from several threads never interleave. */
    strcat(line, "\n");
    fputs(line, stderr);
}

void worker_log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    worker_vlog(level, who, fmt, ap);
    va_end(ap);
}

/* ---- Failure, stop and backoff ------------------------------------------------------ */

static void worker_signal_done(struct worker *w)
{
    uint64_t one = 1;
    if (write(w->done_fd, &one, sizeof(one)) < 0)
        worker_log(SPOOL_LOG_WARN, "worker", "cannot signal the end: %s", strerror(errno));
}

void worker_stop(worker *w)
{
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->log != NULL)
        log_wakeup(w->log);
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
    worker_stop(w);
    worker_signal_done(w);
}

/* Waits ms milliseconds or until the worker stops. Returns 1 when stopping. */
static int worker_backoff(struct worker *w, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&w->stop))
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&w->lock);
    return atomic_load(&w->stop);
}

static int next_backoff(int ms)
{
    return ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
}

/* Failpoints (see worker_int.h). Their names: source.after_commit, sink.after_put,
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

/* The exit code for a log error. */
static int log_exit_code(int rc)
{
    return rc == LOG_EIO ? EXIT_STORAGE : rc == LOG_ECORRUPT ? EXIT_CORRUPT : EXIT_RUNTIME;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Stages: transforms, then the source's or the sink's final stage ---------------- */

static spool_rc source_accept(struct spool_task *t, const spool_record *rec)
{
    const char *topic = rec->topic != NULL ? rec->topic : t->cc->topic;
    int32_t parts = topic == t->cc->topic ? t->partitions
                                          : log_topic_partitions(t->w->log, topic);
    const void *key = rec->key;
    size_t key_len = rec->key_len;
    char *key_buf = NULL;
    log_header *headers = NULL;
    int32_t partition;
    spool_rc rc = SPOOL_OK;

    if (parts <= 0) {
        snprintf(t->error, sizeof(t->error), "record for topic \"%s\", which the "
                 "pipeline does not declare; add it under topics:", topic);
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
            snprintf(t->error, sizeof(t->error), "record for partition %" PRId32 " of "
                     "topic \"%s\", which has %" PRId32 " partitions", rec->partition,
                     topic, parts);
            rc = SPOOL_EINVAL;
            goto out;
        }
        partition = rec->partition;
    } else if (key != NULL) {
        partition = log_partition_for_key(key, key_len, parts);
    } else {
        partition = (int32_t)(t->round_robin++ % (uint32_t)parts);
    }
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
        }
    }
    log_record lr = {.key = key, .key_len = key_len, .value = rec->value,
                     .value_len = rec->value_len, .headers = headers,
                     .header_count = rec->header_count,
                     .timestamp_ms = rec->timestamp_ms != 0 ? rec->timestamp_ms : now_ms()};
    if (log_txn_add(t->txn, topic, partition, &lr) != SPOOL_OK)
        rc = SPOOL_ENOMEM;
out:
    free(headers);
    free(key_buf);
    return rc;
}

/* Copies rec into one allocation, for a sink batch that outlives the log reader's
 * buffer and any transform's temporary record. */
static spool_record *record_copy(const spool_record *rec, const char *topic,
                                 int32_t partition, int64_t offset, int64_t timestamp)
{
    size_t size = sizeof(spool_record) + rec->key_len + rec->value_len + 2 +
                  rec->header_count * sizeof(spool_header);
    for (size_t i = 0; i < rec->header_count; i++)
        size += strlen(rec->headers[i].key) + 1 + rec->headers[i].value_len;
    spool_record *c = malloc(size);
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
    spool_record *c = record_copy(rec, t->cur_topic, t->cur_partition, t->cur_offset,
                                  t->cur_timestamp);
    if (c == NULL)
        return SPOOL_ENOMEM;
    t->batch[t->batch_len++] = c;
    return SPOOL_OK;
}

spool_rc worker_stage_push(struct spool_task *owner, size_t stage, const spool_record *rec)
{
    if (stage < owner->ntransforms) {
        struct spool_task *tt = &owner->transforms[stage];
        tt->error[0] = '\0';
        spool_rc rc = tt->plugin->desc->transform(tt, tt->state, rec);
        if (rc != SPOOL_OK && tt->error[0] != '\0')
            snprintf(owner->error, sizeof(owner->error), "%.200s: %.800s", tt->name, tt->error);
        return rc;
    }
    return owner->plugin->desc->kind == SPOOL_KIND_SOURCE ? source_accept(owner, rec)
                                                          : sink_accept(owner, rec);
}

/* ---- Task set-up and tear-down ------------------------------------------------------ */

static int task_open_transforms(struct spool_task *t)
{
    for (size_t i = 0; i < t->ntransforms; i++) {
        struct spool_task *tt = &t->transforms[i];
        spool_rc rc = tt->plugin->desc->open(tt, &tt->state);
        tt->opened = 1;
        if (rc != SPOOL_OK) {
            worker_fail(t->w, EXIT_RUNTIME, tt->name, "cannot start: %s (%s)",
                        tt->error[0] ? tt->error : spool_rc_str(rc), spool_rc_name(rc));
            return -1;
        }
    }
    return 0;
}

static void task_close(struct spool_task *t)
{
    for (size_t i = 0; i < t->ntransforms; i++)
        if (t->transforms[i].opened)
            t->transforms[i].plugin->desc->close(&t->transforms[i], t->transforms[i].state);
    if (t->opened)
        t->plugin->desc->close(t, t->state);
    t->opened = 0;
}

static void task_finished(struct spool_task *t)
{
    task_close(t);
    if (atomic_fetch_sub(&t->w->tasks_running, 1) == 1)
        worker_signal_done(t->w);
}

/* ---- Sources ------------------------------------------------------------------------- */

/* Commits what the last poll emitted. Returns 0, or -1 when the worker failed or is
 * stopping with the commit undone. */
static int source_commit(struct spool_task *t)
{
    size_t n = log_txn_count(t->txn);
    int backoff = BACKOFF_MIN_MS;
    int rc;

    if (n == 0 && !t->pending_set)
        return 0;
    for (;;) {
        if (t->pending_set &&
            log_txn_set_position(t->txn, t->cc->name, t->pending_pos, t->pending_len) != 0) {
            worker_fail(t->w, EXIT_RUNTIME, t->name, "out of memory");
            return -1;
        }
        rc = log_commit(t->w->log, t->txn);
        if (rc != LOG_ENOSPC)
            break;
        /* A full disk is not fatal: hold the records (the txn keeps them) and retry
         * until space returns; the source stays paused meanwhile. */
        worker_log(SPOOL_LOG_WARN, t->name, "the disk holding %s is full; pausing the "
                   "source until space is freed", t->w->data_dir);
        if (worker_backoff(t->w, backoff))
            return -1;
        backoff = next_backoff(backoff);
    }
    if (rc != SPOOL_OK) {
        worker_fail(t->w, log_exit_code(rc), t->name,
                    "cannot commit %zu records to the log in %s (%s); the worker stops "
                    "to protect the data: fix the storage and start it again, nothing "
                    "acknowledged is lost", n, t->w->data_dir,
                    rc == LOG_EIO ? "I/O error" : spool_rc_name(rc));
        return -1;
    }
    atomic_fetch_add(&t->w->produced, n);
    worker_failpoint(t->w, "source.after_commit");
    if (t->pending_set) {
        void *p = realloc(t->committed_pos, t->pending_len ? t->pending_len : 1);
        if (p == NULL) {
            worker_fail(t->w, EXIT_RUNTIME, t->name, "out of memory");
            return -1;
        }
        memcpy(p, t->pending_pos, t->pending_len);
        t->committed_pos = p;
        t->committed_len = t->pending_len;
        t->pending_set = 0;
        if (t->plugin->desc->commit != NULL) {
            t->error[0] = '\0';
            spool_rc crc = t->plugin->desc->commit(t, t->state, p, t->committed_len);
            if (crc != SPOOL_OK)
                worker_log(SPOOL_LOG_WARN, t->name, "commit callback failed: %s (%s)",
                           t->error[0] ? t->error : spool_rc_str(crc), spool_rc_name(crc));
        }
    }
    return 0;
}

static void *source_main(void *arg)
{
    struct spool_task *t = arg;
    struct worker *w = t->w;
    int backoff = BACKOFF_MIN_MS;
    int rc;

    rc = log_source_position(w->log, t->cc->name, &t->committed_pos, &t->committed_len);
    if (rc != SPOOL_OK) {
        worker_fail(w, log_exit_code(rc), t->name, "cannot read the committed position");
        goto out;
    }
    rc = t->plugin->desc->open(t, &t->state);
    t->opened = 1;
    if (rc != SPOOL_OK) {
        worker_fail(w, EXIT_RUNTIME, t->name, "cannot start: %s (%s)",
                    t->error[0] ? t->error : spool_rc_str(rc), spool_rc_name(rc));
        goto out;
    }
    if (task_open_transforms(t) != 0)
        goto out;
    while (!atomic_load(&w->stop)) {
        t->error[0] = '\0';
        rc = t->plugin->desc->poll(t, t->state, SOURCE_POLL_MS);
        if (rc != SPOOL_OK && rc != SPOOL_DONE && rc != SPOOL_ESTOP && rc != SPOOL_RETRY) {
            /* What was emitted before the failure is still committed. */
            source_commit(t);
            worker_fail(w, EXIT_RUNTIME, t->name, "poll failed: %s (%s)",
                        t->error[0] ? t->error : spool_rc_str(rc), spool_rc_name(rc));
            break;
        }
        if (source_commit(t) != 0)
            break;
        if (rc == SPOOL_DONE) {
            worker_log(SPOOL_LOG_INFO, t->name, "end of input");
            t->done = 1;
            break;
        }
        if (rc == SPOOL_RETRY) {
            worker_log(SPOOL_LOG_WARN, t->name, "%s; retrying in %d ms",
                       t->error[0] ? t->error : "transient failure", backoff);
            if (worker_backoff(w, backoff))
                break;
            backoff = next_backoff(backoff);
        } else {
            backoff = BACKOFF_MIN_MS;
        }
    }
out:
    atomic_fetch_sub(&w->sources_running, 1);
    log_wakeup(w->log);
    task_finished(t);
    return NULL;
}

/* ---- Sinks --------------------------------------------------------------------------- */

static void sink_batch_clear(struct spool_task *t)
{
    for (size_t i = 0; i < t->batch_len; i++)
        free((void *)t->batch[i]);
    t->batch_len = 0;
}

/* Calls put() or flush() until it succeeds. Returns 0, or -1 when failed/stopping. */
static int sink_call(struct spool_task *t, int flush)
{
    int backoff = BACKOFF_MIN_MS;
    for (;;) {
        spool_rc rc;
        t->error[0] = '\0';
        if (flush) {
            t->in_flush = 1;
            rc = t->plugin->desc->flush(t, t->state);
            t->in_flush = 0;
        } else {
            rc = t->plugin->desc->put(t, t->state, t->batch, t->batch_len);
        }
        if (rc == SPOOL_OK)
            return 0;
        if (rc != SPOOL_RETRY) {
            worker_fail(t->w, EXIT_RUNTIME, t->name, "%s failed: %s (%s); records stay in "
                        "the log and are delivered again from the last checkpoint",
                        flush ? "flush" : "put", t->error[0] ? t->error : spool_rc_str(rc),
                        spool_rc_name(rc));
            return -1;
        }
        worker_log(SPOOL_LOG_WARN, t->name, "%s: %s; retrying in %d ms",
                   flush ? "flush" : "put", t->error[0] ? t->error : "transient failure",
                   backoff);
        if (worker_backoff(t->w, backoff))
            return -1;
        backoff = next_backoff(backoff);
    }
}

static int sink_checkpoint(struct spool_task *t)
{
    char err[512];
    if (t->plugin->desc->delivery == SPOOL_DELIVERY_TRANSACTIONAL)
        return 0;
    for (size_t i = 0; i < t->nparts; i++)
        if (ckpt_set(&t->ck, t->parts[i].topic, t->parts[i].partition, t->parts[i].next) != 0)
            goto oom;
    if (t->new_pos_set) {
        if (ckpt_set_position(&t->ck, t->new_pos, t->new_pos_len) != 0)
            goto oom;
        t->new_pos_set = 0;
    }
    int rc = ckpt_save(t->w->data_dir, t->ckpt_name, &t->ck, err, sizeof(err));
    if (rc != SPOOL_OK) {
        worker_fail(t->w, log_exit_code(rc), t->name, "cannot save the checkpoint: %s", err);
        return -1;
    }
    return 0;
oom:
    worker_fail(t->w, EXIT_RUNTIME, t->name, "out of memory saving the checkpoint");
    return -1;
}

static int sink_deliver(struct spool_task *t)
{
    size_t n = t->batch_len;
    if (n > 0 && sink_call(t, 0) != 0)
        return -1;
    worker_failpoint(t->w, "sink.after_put");
    if (sink_call(t, 1) != 0)
        return -1;
    worker_failpoint(t->w, "sink.after_flush");
    sink_batch_clear(t);
    if (sink_checkpoint(t) != 0)
        return -1;
    worker_failpoint(t->w, "sink.after_checkpoint");
    atomic_fetch_add(&t->w->delivered, n);
    return 0;
}

static int sink_caught_up(struct spool_task *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].next < log_end_offset(t->w->log, t->parts[i].topic,
                                              t->parts[i].partition))
            return 0;
    return 1;
}

/* Reads up to SINK_BATCH_MAX committed records across the task's partitions into the
 * batch. Returns how many were read, or -1 on failure. */
static long sink_read(struct spool_task *t)
{
    long n = 0;
    for (size_t i = 0; i < t->nparts && n < SINK_BATCH_MAX; i++) {
        sink_part *sp = &t->parts[i];
        while (n < SINK_BATCH_MAX) {
            log_record lr;
            int r = log_reader_next(sp->reader, &lr);
            if (r < 0) {
                worker_fail(t->w, log_exit_code(r), t->name, "cannot read %s/%" PRId32
                            " at offset %" PRId64 "; see the log errors above", sp->topic,
                            sp->partition, sp->next);
                return -1;
            }
            if (r == 0)
                break;
            spool_header hs[64];
            spool_header *headers = lr.header_count <= 64 ? hs
                                    : calloc(lr.header_count, sizeof(*headers));
            char *keys = NULL;
            size_t klen = 0;
            for (size_t h = 0; h < lr.header_count; h++)
                klen += lr.headers[h].key_len + 1;
            keys = malloc(klen + 1);
            if (headers == NULL || keys == NULL) {
                if (headers != hs)
                    free(headers);
                free(keys);
                worker_fail(t->w, EXIT_RUNTIME, t->name, "out of memory");
                return -1;
            }
            char *kp = keys;
            for (size_t h = 0; h < lr.header_count; h++) {
                memcpy(kp, lr.headers[h].key, lr.headers[h].key_len);
                kp[lr.headers[h].key_len] = '\0';
                headers[h] = (spool_header){kp, lr.headers[h].value, lr.headers[h].value_len};
                kp += lr.headers[h].key_len + 1;
            }
            spool_record rec = {.struct_size = sizeof(rec), .key = lr.key,
                                .key_len = lr.key_len, .value = lr.value,
                                .value_len = lr.value_len, .headers = headers,
                                .header_count = lr.header_count,
                                .timestamp_ms = lr.timestamp_ms, .topic = sp->topic,
                                .partition = sp->partition, .offset = lr.offset};
            t->cur_topic = sp->topic;
            t->cur_partition = sp->partition;
            t->cur_offset = lr.offset;
            t->cur_timestamp = lr.timestamp_ms;
            spool_rc rc = worker_stage_push(t, 0, &rec);
            if (headers != hs)
                free(headers);
            free(keys);
            if (rc != SPOOL_OK) {
                worker_fail(t->w, EXIT_RUNTIME, t->name, "transform failed at %s/%" PRId32
                            "@%" PRId64 ": %s (%s)", sp->topic, sp->partition, lr.offset,
                            t->error[0] ? t->error : spool_rc_str(rc), spool_rc_name(rc));
                return -1;
            }
            sp->next = lr.offset + 1;
            n++;
        }
    }
    return n;
}

static int sink_setup(struct spool_task *t)
{
    struct worker *w = t->w;
    char err[512];
    int tasks = t->cc->tasks > 0 ? t->cc->tasks : 1;
    size_t k = 0;

    int rc = ckpt_load(w->data_dir, t->ckpt_name, &t->ck, err, sizeof(err));
    if (rc != SPOOL_OK) {
        worker_fail(w, log_exit_code(rc), t->name, "cannot load the checkpoint: %s", err);
        return -1;
    }
    t->in_open = 1;
    rc = t->plugin->desc->open(t, &t->state);
    t->in_open = 0;
    t->opened = 1;
    if (rc != SPOOL_OK) {
        worker_fail(w, EXIT_RUNTIME, t->name, "cannot start: %s (%s)",
                    t->error[0] ? t->error : spool_rc_str(rc), spool_rc_name(rc));
        return -1;
    }
    if (task_open_transforms(t) != 0)
        return -1;
    /* Partitions are dealt to the sink's tasks by number: partition p of every topic
     * goes to task p % tasks. */
    for (size_t i = 0; i < t->cc->ntopics; i++)
        t->nparts += (size_t)log_topic_partitions(w->log, t->cc->topics[i]);
    t->parts = calloc(t->nparts ? t->nparts : 1, sizeof(*t->parts));
    if (t->parts == NULL) {
        worker_fail(w, EXIT_RUNTIME, t->name, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < t->cc->ntopics; i++) {
        const char *topic = t->cc->topics[i];
        int32_t parts = log_topic_partitions(w->log, topic);
        for (int32_t p = 0; p < parts; p++) {
            if (p % tasks != t->index)
                continue;
            sink_part *sp = &t->parts[k++];
            sp->topic = topic;
            sp->partition = p;
            sp->next = t->plugin->desc->delivery == SPOOL_DELIVERY_TRANSACTIONAL
                           ? ckpt_get(&t->seeks, topic, p)
                           : ckpt_get(&t->ck, topic, p);
            if (sp->next < 0)
                sp->next = log_start_offset(w->log, topic, p);
            rc = log_reader_open(w->log, topic, p, sp->next, &sp->reader);
            if (rc != SPOOL_OK) {
                worker_fail(w, log_exit_code(rc), t->name, "cannot read %s/%" PRId32,
                            topic, p);
                return -1;
            }
            sp->next = log_reader_offset(sp->reader);
        }
    }
    t->nparts = k;
    /* A resumable sink without a checkpoint records where its output starts now, so
     * that a crash before its first real checkpoint cannot double what it wrote. */
    if (t->plugin->desc->delivery == SPOOL_DELIVERY_RESUMABLE && t->ck.position_len == 0)
        if (sink_call(t, 1) != 0 || sink_checkpoint(t) != 0)
            return -1;
    return 0;
}

static void *sink_main(void *arg)
{
    struct spool_task *t = arg;
    struct worker *w = t->w;

    if (sink_setup(t) != 0)
        goto out;
    for (;;) {
        uint64_t seq = log_commit_seq(w->log);
        long n = sink_read(t);
        if (n < 0)
            break;
        if (n > 0) {
            if (sink_deliver(t) != 0)
                break;
            if (atomic_load(&w->stop))
                break;
            continue;
        }
        if (atomic_load(&w->stop))
            break;
        if (w->nsources > 0 && atomic_load(&w->sources_running) == 0 && sink_caught_up(t))
            break;
        log_wait(w->log, seq, SINK_WAIT_MS);
    }
out:
    sink_batch_clear(t);
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].reader != NULL)
            log_reader_close(t->parts[i].reader);
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
        t->partitions = log_topic_partitions(w->log, cc->topic);
        t->txn = log_txn_new();
        if (t->txn == NULL)
            return -1;
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

int worker_new(const config_pipeline *p, const char *data_dir, worker **out, char *err,
               size_t errlen)
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
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    worker_failpoint_parse(w);
    w->data_dir = strdup(data_dir);
    w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->data_dir == NULL || w->done_fd < 0)
        goto oom;
    rc = log_open(data_dir, &w->log, err, errlen);
    if (rc != SPOOL_OK) {
        worker_free(w);
        return rc == LOG_ELOCKED ? EXIT_RUNTIME : log_exit_code(rc);
    }
    for (size_t i = 0; i < p->ntopics; i++) {
        rc = log_topic_create(w->log, p->topics[i].name, p->topics[i].partitions, err, errlen);
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
    w->ntasks = ntasks;
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
    *out = w;
    return 0;
oom:
    snprintf(err, errlen, "out of memory setting up the pipeline");
    worker_free(w);
    return EXIT_RUNTIME;
}

int worker_start(worker *w)
{
    atomic_store(&w->sources_running, (int)w->nsources);
    atomic_store(&w->tasks_running, (int)w->ntasks);
    if (w->ntasks == 0) {
        worker_signal_done(w);
        return 0;
    }
    for (size_t i = 0; i < w->ntasks; i++) {
        struct spool_task *t = &w->tasks[i];
        int rc = pthread_create(&t->thread, NULL,
                                t->plugin->desc->kind == SPOOL_KIND_SOURCE ? source_main
                                                                           : sink_main, t);
        if (rc != 0) {
            /* The tasks never started count as finished. */
            atomic_fetch_sub(&w->tasks_running, (int)(w->ntasks - i));
            if (t->plugin->desc->kind == SPOOL_KIND_SOURCE)
                atomic_fetch_sub(&w->sources_running, 1);
            worker_fail(w, EXIT_RUNTIME, t->name, "cannot start a thread: %s", strerror(rc));
            return EXIT_RUNTIME;
        }
        t->started = 1;
    }
    return 0;
}

int worker_done_fd(const worker *w)
{
    return w->done_fd;
}

int worker_join(worker *w)
{
    int code;
    for (size_t i = 0; i < w->ntasks; i++)
        if (w->tasks[i].started) {
            pthread_join(w->tasks[i].thread, NULL);
            w->tasks[i].started = 0;
        }
    pthread_mutex_lock(&w->lock);
    code = w->exit_code;
    pthread_mutex_unlock(&w->lock);
    return code;
}

void worker_get_stats(const worker *w, worker_stats *out)
{
    out->produced = atomic_load(&((struct worker *)w)->produced);
    out->delivered = atomic_load(&((struct worker *)w)->delivered);
}

static void task_free(struct spool_task *t)
{
    for (size_t i = 0; i < t->ntransforms; i++)
        free(t->transforms[i].name);
    free(t->transforms);
    free(t->name);
    if (t->txn != NULL)
        log_txn_free(t->txn);
    free(t->pending_pos);
    free(t->committed_pos);
    free(t->ckpt_name);
    ckpt_clear(&t->ck);
    ckpt_clear(&t->seeks);
    free(t->new_pos);
    free(t->parts);
    free(t->batch);
}

void worker_free(worker *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->ntasks; i++)
        task_free(&w->tasks[i]);
    free(w->tasks);
    if (w->log != NULL)
        log_close(w->log);
    if (w->done_fd >= 0)
        close(w->done_fd);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->data_dir);
    free(w);
}

/* host.c - the one place that fills the spool_host table handed to every plugin.
 *
 * Every host function acts on a task, which is why the table lives beside the worker
 * rather than in loader/. Functions check that they are called in the phase their
 * contract names (seek() inside open(), set_sink_position() inside flush()) and answer
 * SPOOL_EINVAL otherwise, so that a plugin's mistake is a clear error, not a silent
 * corruption of offsets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/loader.h"
#include "worker/worker_int.h"

static const config_value *host_value(spool_task *t, const char *name)
{
    return t != NULL ? config_find(t->values, t->nvalues, name) : NULL;
}

static void host_log(spool_task *t, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    worker_vlog(level, t != NULL ? t->name : "plugin", fmt, ap);
    va_end(ap);
}

static void host_set_error(spool_task *t, const char *fmt, ...)
{
    va_list ap;
    if (t == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof(t->error), fmt, ap);
    va_end(ap);
}

static const char *host_opt_string(spool_task *t, const char *name)
{
    const config_value *v = host_value(t, name);
    return v != NULL ? v->text : NULL;
}

static int64_t host_opt_int(spool_task *t, const char *name)
{
    const config_value *v = host_value(t, name);
    return v != NULL ? v->number : 0;
}

static const char *const *host_opt_list(spool_task *t, const char *name, size_t *n)
{
    static const char *const empty[] = {NULL};
    const config_value *v = host_value(t, name);
    if (v == NULL || v->list == NULL) {
        if (n != NULL)
            *n = 0;
        return empty;
    }
    if (n != NULL)
        *n = v->list_len;
    return (const char *const *)v->list;
}

static const char *host_task_name(spool_task *t)
{
    return t != NULL ? t->name : "";
}

static const char *host_key_field(spool_task *t)
{
    if (t == NULL || t->cc == NULL || t->plugin == NULL ||
        t->plugin->desc->kind != SPOOL_KIND_SOURCE)
        return NULL;
    return t->cc->key_field;
}

static int host_stopping(spool_task *t)
{
    if (t == NULL)
        return 0;
    if (t->owner != NULL) {
        /* A transform is never told to stop for a pause: it has a record in hand. */
        t = t->owner;
        if (t->plugin->desc->kind == SPOOL_KIND_SOURCE)
            return atomic_load(&t->w->stop) || atomic_load(&t->stop_req);
    }
    /* Sinks go on through worker_stop() to drain what is committed. */
    if (t->plugin->desc->kind == SPOOL_KIND_SINK)
        return atomic_load(&t->w->halt) || atomic_load(&t->stop_req);
    return atomic_load(&t->w->stop) || atomic_load(&t->stop_req) ||
           atomic_load(&t->pause_req);
}

/* The bytes a record counts against SPOOL_RECORD_MAX_BYTES. */
static size_t host_record_bytes(const spool_record *rec)
{
    size_t n = rec->key_len + rec->value_len;
    for (size_t i = 0; i < rec->header_count; i++)
        n += (rec->headers[i].key != NULL ? strlen(rec->headers[i].key) : 0) +
             rec->headers[i].value_len;
    return n;
}

static spool_rc host_emit_one(spool_task *t, const spool_record *rec, const void *position,
                              size_t position_len)
{
    size_t bytes = host_record_bytes(rec);
    if (bytes > SPOOL_RECORD_MAX_BYTES)
        return worker_emit_too_large(t, bytes);
    if (t->owner != NULL)
        return worker_stage_push(t->owner, t->stage + 1, rec);
    if (t->plugin->desc->kind != SPOOL_KIND_SOURCE)
        return SPOOL_EINVAL;
    if (atomic_load(&t->w->stop) || atomic_load(&t->stop_req))
        return SPOOL_ESTOP;
    return worker_source_emit(t, rec, position, position_len);
}

static spool_rc host_emit(spool_task *t, const spool_record *rec, const void *position,
                          size_t position_len)
{
    if (t == NULL || rec == NULL || rec->struct_size < offsetof(spool_record, offset) +
                                                          sizeof(rec->offset))
        return SPOOL_EINVAL;
    /* The runtime's work is not the plugin's time: no deadline while it runs. */
    struct spool_task *clock = t->owner != NULL ? t->owner : t;
    int paused = worker_call_pause(clock);
    if (paused < 0)
        return SPOOL_ESTOP;
    spool_rc rc = host_emit_one(t, rec, position, position_len);
    worker_call_resume(clock, paused);
    return rc;
}

static spool_rc host_source_position(spool_task *t, const void **position, size_t *len)
{
    if (t == NULL || t->plugin->desc->kind != SPOOL_KIND_SOURCE) {
        *position = NULL;
        *len = 0;
        return SPOOL_EINVAL;
    }
    *position = t->committed_pos;
    *len = t->committed_len;
    return SPOOL_OK;
}

static spool_rc host_sink_position(spool_task *t, const void **position, size_t *len)
{
    if (t == NULL || t->plugin->desc->kind != SPOOL_KIND_SINK) {
        *position = NULL;
        *len = 0;
        return SPOOL_EINVAL;
    }
    *position = t->ck.position;
    *len = t->ck.position_len;
    return SPOOL_OK;
}

static spool_rc host_set_sink_position(spool_task *t, const void *position, size_t len)
{
    if (t == NULL || !t->in_flush ||
        t->plugin->desc->delivery != SPOOL_DELIVERY_RESUMABLE)
        return SPOOL_EINVAL;
    void *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return SPOOL_ENOMEM;
    if (len > 0)
        memcpy(copy, position, len);
    free(t->new_pos);
    t->new_pos = copy;
    t->new_pos_len = len;
    t->new_pos_set = 1;
    return SPOOL_OK;
}

static spool_rc host_seek(spool_task *t, const char *topic, int32_t partition,
                          int64_t next_offset)
{
    if (t == NULL || !t->in_open || topic == NULL || partition < 0 || next_offset < 0 ||
        t->plugin->desc->delivery != SPOOL_DELIVERY_TRANSACTIONAL)
        return SPOOL_EINVAL;
    return ckpt_set(&t->seeks, topic, partition, next_offset) == 0 ? SPOOL_OK
                                                                     : SPOOL_ENOMEM;
}

static spool_rc host_reject(spool_task *t, const spool_record *rec, const char *reason)
{
    if (t == NULL || rec == NULL || !(t->in_put || t->in_flush) ||
        t->plugin->desc->kind != SPOOL_KIND_SINK)
        return SPOOL_EINVAL;
    /* A transactional sink commits in flush(): a record set aside there would be
     * behind its committed offsets before its dead letter could be. */
    if (t->in_flush && t->plugin->desc->delivery == SPOOL_DELIVERY_TRANSACTIONAL)
        return SPOOL_EINVAL;
    int paused = worker_call_pause(t);
    if (paused < 0)
        return SPOOL_ESTOP;
    spool_rc rc = worker_sink_reject(t, rec, reason != NULL ? reason : "rejected by the sink");
    worker_call_resume(t, paused);
    return rc;
}

static spool_rc host_gauge(spool_task *t, const char *name, double value)
{
    char why[512];
    if (t == NULL)
        return SPOOL_EINVAL;
    struct spool_task *task = t->owner != NULL ? t->owner : t;
    pthread_mutex_t *lock = &t->w->gauge_lock;
    int bad = loader_check_gauge(name, value, why, sizeof(why));
    pthread_mutex_lock(lock);
    size_t i = 0;
    while (!bad && i < task->ngauges && strcmp(task->gauges[i].name, name) != 0)
        i++;
    if (!bad && i == task->ngauges && i == SPOOL_GAUGE_MAX) {
        snprintf(why, sizeof(why), "gauge \"%s\": the task has %d gauges already, the "
                 "most a task may set; publish fewer distinct names", name, SPOOL_GAUGE_MAX);
        bad = 1;
    }
    if (!bad) {
        if (i == task->ngauges)
            snprintf(task->gauges[task->ngauges++].name, sizeof(task->gauges[0].name),
                     "%s", name);
        task->gauges[i].value = value;
    }
    int first_refusal = bad && !task->gauge_refused;
    if (bad)
        task->gauge_refused = 1;
    pthread_mutex_unlock(lock);
    if (bad) {
        snprintf(t->error, sizeof(t->error), "%s", why);
        /* Once per task: a plugin that ignores the answer must not flood the log. */
        if (first_refusal)
            worker_log(SPOOL_LOG_WARN, t->name, "%s (refused; further refusals of this "
                       "task are not logged)", why);
        return SPOOL_EINVAL;
    }
    worker_log(SPOOL_LOG_DEBUG, t->name, "gauge %s = %.17g", name, value);
    return SPOOL_OK;
}

static const spool_host host_table = {
    .struct_size = sizeof(spool_host),
    .abi_version = SPOOL_ABI_VERSION,
    .runtime_version = SPOOL_VERSION_STRING,
    .log = host_log,
    .set_error = host_set_error,
    .opt_string = host_opt_string,
    .opt_int = host_opt_int,
    .opt_list = host_opt_list,
    .task_name = host_task_name,
    .stopping = host_stopping,
    .emit = host_emit,
    .source_position = host_source_position,
    .sink_position = host_sink_position,
    .set_sink_position = host_set_sink_position,
    .seek = host_seek,
    .reject = host_reject,
    .gauge = host_gauge,
    .key_field = host_key_field,
};

const spool_host *worker_host(void)
{
    return &host_table;
}

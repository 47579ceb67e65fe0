/* log_sync.c - a group's fdatasyncs, run side by side.
 *
 * A group that touched several partitions must make each touched segment durable. One
 * fdatasync after another pays one journal commit and one device cache flush each;
 * issued together, the filesystem folds them into fewer commits and the device works
 * on them at once (measured on ext4/virtio: 16 segments synced side by side ran about
 * 30% faster than in turn). So the leader hands the segments to a few sync threads,
 * syncs some itself, and waits for all.
 *
 * Rules kept (reliability.md A5): the fault hook runs on the leader only, before any
 * fdatasync, so tests see it as before; every failure is fatal, whatever its errno, and
 * nothing is retried; the leader reports the first failed segment. The threads start
 * with the first group that needs them and end in log_close().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/strutil.h"

struct log_syncer {
    pthread_mutex_t mu;
    pthread_cond_t work;      /* a job arrived, or stop */
    pthread_cond_t done;      /* a job's last segment finished */
    pthread_t threads[LOG_SYNC_THREADS];
    size_t nthreads;
    int stop;
    /* The current job (mu): segs[0..n), errs[i] the errno of segs[i]'s fdatasync. */
    log_store *store;
    log_segment **segs;
    int *errs;
    size_t n, next, finished;
};

/* fdatasync(fd), its latency counted for the metrics; 0 or the errno. */
static int log_fdatasync_timed(log_store *s, int fd)
{
    uint64_t t0 = log_stats_now();
    int e = fdatasync(fd) == 0 ? 0 : errno;
    log_stats_fsync(s, t0);
    return e;
}

/* Takes the job's next segment and syncs it; 0 when none was left. Called with mu. */
static int log_sync_one_locked(log_syncer *y)
{
    if (y->segs == NULL || y->next >= y->n)
        return 0;
    size_t i = y->next++;
    int fd = y->segs[i]->fd;
    log_store *s = y->store;
    pthread_mutex_unlock(&y->mu);
    int e = log_fdatasync_timed(s, fd);
    pthread_mutex_lock(&y->mu);
    y->errs[i] = e;
    if (++y->finished == y->n)
        pthread_cond_broadcast(&y->done);
    return 1;
}

static void *log_sync_thread(void *arg)
{
    log_syncer *y = arg;
    pthread_mutex_lock(&y->mu);
    while (!y->stop) {
        if (!log_sync_one_locked(y))
            pthread_cond_wait(&y->work, &y->mu);
    }
    pthread_mutex_unlock(&y->mu);
    return NULL;
}

static log_syncer *log_syncer_start(void)
{
    log_syncer *y = calloc(1, sizeof(*y));
    if (y == NULL)
        return NULL;
    pthread_mutex_init(&y->mu, NULL);
    pthread_cond_init(&y->work, NULL);
    pthread_cond_init(&y->done, NULL);
    for (size_t i = 0; i < LOG_SYNC_THREADS; i++) {
        if (pthread_create(&y->threads[i], NULL, log_sync_thread, y) != 0)
            break;
        y->nthreads++;
    }
    return y;
}

void log_syncer_stop(log_syncer *y)
{
    if (y == NULL)
        return;
    pthread_mutex_lock(&y->mu);
    y->stop = 1;
    pthread_cond_broadcast(&y->work);
    pthread_mutex_unlock(&y->mu);
    for (size_t i = 0; i < y->nthreads; i++)
        pthread_join(y->threads[i], NULL);
    pthread_mutex_destroy(&y->mu);
    pthread_cond_destroy(&y->work);
    pthread_cond_destroy(&y->done);
    free(y);
}

/* Syncs segs[0..n) side by side; errs[i] gets each errno. Falls back to syncing in
 * turn when the threads cannot be had. */
static void log_sync_parallel(log_store *s, log_segment **segs, size_t n, int *errs)
{
    if (s->syncer == NULL && n > 1)
        s->syncer = log_syncer_start();
    log_syncer *y = s->syncer;
    if (y == NULL || y->nthreads == 0 || n == 1) {
        for (size_t i = 0; i < n; i++)
            errs[i] = log_fdatasync_timed(s, segs[i]->fd);
        return;
    }
    pthread_mutex_lock(&y->mu);
    y->store = s;
    y->segs = segs;
    y->errs = errs;
    y->n = n;
    y->next = y->finished = 0;
    pthread_cond_broadcast(&y->work);
    while (log_sync_one_locked(y))
        ;
    while (y->finished < y->n)
        pthread_cond_wait(&y->done, &y->mu);
    y->segs = NULL;
    y->errs = NULL;
    pthread_mutex_unlock(&y->mu);
}

int log_sync_segments(log_store *s, log_segment **segs, size_t n, char *why, size_t whylen)
{
    int stack[16], *errs = n <= 16 ? stack : calloc(n, sizeof(*errs));
    const char *bad = NULL;
    int e = 0;

    if (errs == NULL)
        return SPOOL_ENOMEM;
    /* The fault hook first, on this thread: after a refusal nothing is synced. */
    for (size_t i = 0; i < n && bad == NULL; i++)
        if ((e = log_fault(s, LOG_IO_SYNC, segs[i]->path)) != 0)
            bad = segs[i]->path;
    if (bad == NULL) {
        log_sync_parallel(s, segs, n, errs);
        for (size_t i = 0; i < n && bad == NULL; i++)
            if ((e = errs[i]) != 0)
                bad = segs[i]->path;
    }
    if (errs != stack)
        free(errs);
    if (bad == NULL)
        return SPOOL_OK;
    /* Never retried: after a failed fsync the pages may be clean and gone. */
    util_errf(why, whylen, "log: fdatasync of %s failed (%s); the store is stopped to "
              "protect data, restart the worker to recover from disk", bad, strerror(e));
    return LOG_EIO;
}

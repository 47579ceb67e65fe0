/* log_retention.c - deleting whole old segments by age or total size.
 *
 * Only sealed segments go, oldest first, and never the active one. A segment is
 * old when its largest record timestamp is older than retention_ms; the partition is
 * too big while dropping its oldest segment still leaves at least retention_bytes.
 * With keep_unconsumed, a segment holding any offset that some sink has not consumed
 * yet (by the consumed callback, or by the sinks' checkpoint files) stays.
 *
 * Order on disk (reliability.md A5 rule 4): the new start offsets are persisted in
 * COMMIT first, then the files are unlinked, then the directory is fsynced. A crash in
 * between leaves segments below the start offset, which the next open removes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/ckpt.h"
#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/fsio.h"
#include "util/strutil.h"

/* The lowest next offset of topic/partition over every sink checkpoint that names
 * it, -1 when none does. A checkpoint that cannot be read counts as "keep all" (0). */
static int64_t log_consumed_from_ckpts(log_store *s, const char *topic, int32_t partition)
{
    char *dir = NULL;
    DIR *d;
    struct dirent *de;
    int64_t min = -1;

    if (asprintf(&dir, "%s/sinks", s->dir) < 0)
        return 0;
    d = opendir(dir);
    free(dir);
    if (d == NULL)
        return errno == ENOENT ? -1 : 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char name[256], err[256];
        ckpt c;
        int64_t v;
        if (n <= 5 || n - 5 >= sizeof name || strcmp(de->d_name + n - 5, ".ckpt") != 0)
            continue;
        memcpy(name, de->d_name, n - 5);
        name[n - 5] = '\0';
        if (ckpt_load(s->dir, name, &c, err, sizeof err) != SPOOL_OK) {
            min = 0;
            continue;
        }
        v = ckpt_get(&c, topic, partition);
        ckpt_clear(&c);
        if (v >= 0 && (min < 0 || v < min))
            min = v;
    }
    closedir(d);
    return min;
}

int log_retention_locked(log_store *s, int64_t now_ms)
{
    uint64_t gen = ++s->group_gen;
    log_partition **v = NULL;
    size_t *ndel = NULL, n = 0;
    uint8_t *image = NULL;
    size_t image_len = 0;
    int rc = SPOOL_OK, e = 0;
    size_t total = 0;

    if (s->failed)
        return LOG_EIO;
    for (size_t i = 0; i < s->ntopics; i++)
        total += (size_t)s->topics[i]->count;
    v = calloc(total ? total : 1, sizeof *v);
    ndel = calloc(total ? total : 1, sizeof *ndel);
    if (v == NULL || ndel == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->ntopics; i++) {
        log_topic *t = s->topics[i];
        const log_topic_config *c = &t->cfg;
        if (c->retention_ms < 0 && c->retention_bytes < 0)
            continue;
        for (int32_t j = 0; j < t->count; j++) {
            log_partition *p = &t->parts[j];
            uint64_t bytes = 0;
            size_t k = 0;
            int64_t keep_from = -1;
            for (size_t q = 0; q < p->nsegs; q++)
                bytes += p->segs[q]->size;
            if (c->keep_unconsumed) {
                pthread_mutex_unlock(&s->mu); /* file reads; we are the leader */
                keep_from = s->opts.consumed
                                ? s->opts.consumed(s->opts.consumed_ctx, t->name, j)
                                : log_consumed_from_ckpts(s, t->name, j);
                pthread_mutex_lock(&s->mu);
                if (keep_from < 0)
                    keep_from = -1;
            }
            while (k + 1 < p->nsegs) {
                log_segment *seg = p->segs[k];
                int old = c->retention_ms >= 0 && seg->max_ts != INT64_MIN &&
                          seg->max_ts < now_ms - c->retention_ms;
                int big = c->retention_bytes >= 0 &&
                          bytes - seg->size >= (uint64_t)c->retention_bytes;
                if (!old && !big)
                    break;
                if (keep_from >= 0 && seg->end > keep_from)
                    break;
                bytes -= seg->size;
                k++;
            }
            if (k == 0)
                continue;
            v[n] = p;
            ndel[n] = k;
            n++;
            p->plan_gen = gen;
            p->plan_end = p->end_offset;
            p->plan_pos = log_active(p)->size;
            p->plan_seg = log_active(p);
            p->plan_start = p->segs[k]->base;
            p->plan_sync = 0;
        }
    }
    if (n == 0)
        goto out;
    rc = log_commit_image_encode(s, gen, s->seq, s->sources, s->nsources, &image, &image_len);
    if (rc != SPOOL_OK)
        goto out;
    /* 1. The new start offsets, durably. */
    pthread_mutex_unlock(&s->mu);
    e = log_write_commit(s, image, image_len, 1);
    pthread_mutex_lock(&s->mu);
    if (e != 0) {
        util_errf(s->last_error, sizeof s->last_error, "log: retention could not write %s "
                  "(%s); nothing deleted", s->journal_path, strerror(-e));
        rc = e == -ENOSPC || e == -EDQUOT ? LOG_ENOSPC : LOG_EIO;
        if (rc == LOG_EIO)
            s->failed = 1; /* the rename may or may not be durable now */
        goto out;
    }
    /* Readers see the new start now; those inside a dropped segment keep its fd. */
    for (size_t i = 0; i < n; i++) {
        log_partition *p = v[i];
        log_segment **gone = malloc(ndel[i] * sizeof *gone);
        if (gone == NULL) {
            rc = SPOOL_ENOMEM; /* the files stay; the next open removes them */
            continue;
        }
        memcpy(gone, p->segs, ndel[i] * sizeof *gone);
        memmove(p->segs, p->segs + ndel[i], (p->nsegs - ndel[i]) * sizeof *p->segs);
        p->nsegs -= ndel[i];
        p->start_offset = p->segs[0]->base;
        /* 2. unlink, 3. fsync the directory. */
        pthread_mutex_unlock(&s->mu);
        for (size_t k = 0; k < ndel[i] && e == 0; k++) {
            e = log_fault(s, LOG_IO_UNLINK, gone[k]->path);
            if (e == 0 && unlink(gone[k]->path) != 0 && errno != ENOENT)
                e = errno;
            if (e == 0 && unlink(gone[k]->idx_path) != 0 && errno != ENOENT)
                e = errno;
        }
        if (e == 0)
            e = -util_fsync_dir(p->dir);
        pthread_mutex_lock(&s->mu);
        for (size_t k = 0; k < ndel[i]; k++)
            log_segment_unref_locked(gone[k]);
        free(gone);
        if (e != 0) {
            /* Already out of the log by COMMIT: a leftover, not a failure. */
            log_warn(s, "log: retention could not remove old segments of %s/%d (%s); the "
                     "next open removes them", p->topic->name, p->id,
                     strerror(e < 0 ? -e : e));
            e = 0;
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        v[i]->plan_gen = 0;
    free(v);
    free(ndel);
    free(image);
    return rc;
}

/* log_journal.c - the commit journal: DATA_DIR/COMMIT.journal, the log's commit point.
 *
 * A group commit appends one commit record here and fdatasyncs the file once. The file
 * is a journal of util/journal.h (zero-filled, double-written records, the scan that
 * tells a torn tail from rot, snapshot rotation); this file gives it its records: a
 * record holds the partitions and source positions the group changed (a delta); the
 * first record of a file holds the whole committed state (a snapshot). When a delta no
 * longer fits in a file of LOG_JOURNAL_MAX_BYTES, a new file holding a snapshot
 * replaces it. Every open for writing starts a new one the same way: whatever the old
 * file's tail held is gone.
 *
 * A bad record followed by valid ones is damage (LOG_ECORRUPT), unless no later record
 * says the bad bytes had been made durable (a power cut under interval or none
 * durability, whose records are not fdatasynced), which ends the journal there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/fsio.h"
#include "util/journal.h"
#include "util/strutil.h"

static uint64_t log_jmin = LOG_JOURNAL_MIN_BYTES, log_jmax = LOG_JOURNAL_MAX_BYTES;

void log_journal_set_sizes(uint64_t min_bytes, uint64_t max_bytes)
{
    log_jmin = min_bytes < 4096 ? 4096 : min_bytes;
    log_jmax = max_bytes < log_jmin ? log_jmin : max_bytes;
}

static int log_journal_body(void *ctx, unsigned kind, const uint8_t *copy, size_t clen,
                            int apply);

const util_journal_fmt log_journal_fmt = {
    .file_magic = LOG_JOURNAL_FILE_MAGIC,
    .rec_magic = LOG_JOURNAL_REC_MAGIC,
    .version = LOG_JOURNAL_VERSION,
    .what = "commit record",
    .body = log_journal_body,
};

/* ---- Encoding ---------------------------------------------------------------------- */

static int log_jrec_encode(const log_commit_image *img, unsigned kind, uint64_t jseq,
                           uint64_t synced, uint8_t **out, size_t *outlen)
{
    size_t blen = log_commit_body_len(img);
    uint8_t *buf;

    if (LOG_JREC_HDR + blen > LOG_MAX_COMMIT_BYTES || img->count > UINT32_MAX)
        return SPOOL_EINVAL;
    buf = util_jrec_alloc(blen);
    if (buf == NULL)
        return SPOOL_ENOMEM;
    log_commit_body_put(buf + LOG_JREC_HDR, img);
    *outlen = util_jrec_seal(&log_journal_fmt, buf, blen, jseq, synced, kind);
    *out = buf;
    return SPOOL_OK;
}

int log_journal_encode_img(const log_commit_image *img, uint64_t jseq, uint8_t **out,
                           size_t *outlen)
{
    return log_jrec_encode(img, LOG_JREC_SNAPSHOT, jseq, 0, out, outlen);
}

/* A shallow image of the store (names and positions point into it; free entries
 * only): every partition, or with delta only those planned in gen. */
static int log_store_image(log_store *s, uint64_t gen, int delta, uint64_t seq,
                           const log_source_pos *src, size_t nsrc, log_commit_image *img)
{
    size_t n = 0;

    memset(img, 0, sizeof *img);
    for (size_t i = 0; i < s->ntopics; i++)
        if (s->topics[i] != s->exclude)
            n += (size_t)s->topics[i]->count;
    img->entries = calloc(n ? n : 1, sizeof *img->entries);
    if (img->entries == NULL)
        return SPOOL_ENOMEM;
    for (size_t i = 0; i < s->ntopics; i++) {
        log_topic *t = s->topics[i];
        if (t == s->exclude)
            continue;
        for (int32_t j = 0; j < t->count; j++) {
            const log_partition *lp = &t->parts[j];
            int planned = gen != 0 && lp->plan_gen == gen;
            const log_segment *act = lp->nsegs ? log_active(lp) : NULL;
            log_commit_entry *e = &img->entries[img->count];
            if (delta && !planned)
                continue;
            e->topic = t->name;
            e->partition = j;
            e->end_offset = planned ? lp->plan_end : lp->end_offset;
            e->seg_base = planned ? lp->plan_seg->base : act ? act->base : 0;
            e->seg_len = planned ? lp->plan_pos : act ? act->size : 0;
            e->start_offset = planned ? lp->plan_start : lp->start_offset;
            e->durable_end = planned && lp->plan_sync ? e->end_offset : lp->durable_end;
            img->count++;
        }
    }
    img->seq = seq;
    img->sources = (log_source_pos *)src;
    img->nsources = nsrc;
    return SPOOL_OK;
}

int log_commit_image_encode(log_store *s, uint64_t gen, uint64_t seq,
                            const log_source_pos *sources, size_t nsources,
                            uint8_t **out, size_t *outlen)
{
    log_commit_image img;
    int rc = log_store_image(s, gen, 0, seq, sources, nsources, &img);

    if (rc == SPOOL_OK)
        rc = log_jrec_encode(&img, LOG_JREC_SNAPSHOT, s->j.seq + 1, s->j.synced, out, outlen);
    free(img.entries);
    return rc;
}

int log_commit_delta_encode(log_store *s, uint64_t gen, uint64_t seq,
                            const log_source_pos *changed, size_t nchanged,
                            const log_source_pos *all, size_t nall,
                            uint8_t **out, size_t *outlen)
{
    log_commit_image img;
    int rc;

    if (s->j.fd < 0)
        return log_commit_image_encode(s, gen, seq, all, nall, out, outlen);
    rc = log_store_image(s, gen, 1, seq, changed, nchanged, &img);
    if (rc == SPOOL_OK)
        rc = log_jrec_encode(&img, LOG_JREC_DELTA, s->j.seq + 1, s->j.synced, out, outlen);
    free(img.entries);
    s->j.max_bytes = log_jmax;
    if (rc == SPOOL_OK && !util_journal_fits(&s->j, *outlen)) {
        /* The file is full: this group starts a new one, with the whole state. */
        free(*out);
        *out = NULL;
        rc = log_commit_image_encode(s, gen, seq, all, nall, out, outlen);
    }
    return rc;
}

/* ---- Writing ------------------------------------------------------------------------ */

static int log_journal_fault(void *ctx, util_journal_step step, const char *path)
{
    return log_fault(ctx, step == UTIL_JOURNAL_SYNC ? LOG_IO_COMMIT_SYNC : LOG_IO_COMMIT, path);
}

void log_journal_init(log_store *s)
{
    util_journal_init(&s->j, &log_journal_fmt, s->journal_path, log_jmin, log_jmax);
    s->j.fault = log_journal_fault;
    s->j.fault_ctx = s;
}

int log_journal_start(log_store *s, const uint8_t *rec, size_t len)
{
    s->j.min_bytes = log_jmin;
    s->j.max_bytes = log_jmax;
    return util_journal_start(&s->j, rec, len);
}

int log_write_commit(log_store *s, uint8_t *rec, size_t len, int sync)
{
    s->j.min_bytes = log_jmin;
    s->j.max_bytes = log_jmax;
    return util_journal_write(&s->j, rec, len, sync);
}

/* ---- Reading ------------------------------------------------------------------------ */

/* Applies one decoded record to the replayed state; takes rec's contents. */
static int log_jrec_apply(log_commit_image *img, log_commit_image *rec, unsigned kind)
{
    int rc = SPOOL_OK;

    if (kind == LOG_JREC_SNAPSHOT) {
        log_commit_image_free(img);
        *img = *rec;
        img->capentries = img->count;
        img->capsources = img->nsources;
        memset(rec, 0, sizeof *rec);
        return SPOOL_OK;
    }
    img->seq = rec->seq;
    if (img->capentries < img->count)
        img->capentries = img->count;
    if (img->capsources < img->nsources)
        img->capsources = img->nsources;
    for (size_t i = 0; i < rec->count && rc == SPOOL_OK; i++) {
        log_commit_entry *e = &rec->entries[i];
        size_t k = 0;
        while (k < img->count && (img->entries[k].partition != e->partition ||
                                  strcmp(img->entries[k].topic, e->topic) != 0))
            k++;
        if (k == img->count) {
            rc = log_grow((void **)&img->entries, &img->capentries, k + 1, sizeof *e);
            if (rc != SPOOL_OK)
                break;
            img->count++;
        } else {
            free(img->entries[k].topic);
        }
        img->entries[k] = *e;
        e->topic = NULL;
    }
    for (size_t i = 0; i < rec->nsources && rc == SPOOL_OK; i++) {
        log_source_pos *sp = &rec->sources[i];
        size_t k = 0;
        while (k < img->nsources && strcmp(img->sources[k].name, sp->name) != 0)
            k++;
        if (k == img->nsources) {
            rc = log_grow((void **)&img->sources, &img->capsources, k + 1, sizeof *sp);
            if (rc != SPOOL_OK)
                break;
            img->nsources++;
        } else {
            free(img->sources[k].name);
            free(img->sources[k].pos);
        }
        img->sources[k] = *sp;
        sp->name = NULL;
        sp->pos = NULL;
    }
    /* What was moved is NULL in rec; free the rest and the arrays. */
    for (size_t i = 0; i < rec->count; i++)
        free(rec->entries[i].topic);
    for (size_t i = 0; i < rec->nsources; i++) {
        free(rec->sources[i].name);
        free(rec->sources[i].pos);
    }
    free(rec->entries);
    free(rec->sources);
    memset(rec, 0, sizeof *rec);
    return rc;
}

/* The journal's record bodies: a COMMIT body (version 2 layout) after the header. */
static int log_journal_body(void *ctx, unsigned kind, const uint8_t *copy, size_t clen,
                            int apply)
{
    log_commit_image rec;
    char why[64];
    int rc = log_commit_body_decode(copy, clen, LOG_JREC_HDR, 2, &rec, why, sizeof why);

    if (rc == SPOOL_ENOMEM)
        return -ENOMEM;
    if (rc != SPOOL_OK)
        return 0;
    if (!apply) {
        log_commit_image_free(&rec);
        return 1;
    }
    rc = log_jrec_apply(ctx, &rec, kind);
    return rc == SPOOL_OK ? 1 : -ENOMEM;
}

int log_journal_decode(const uint8_t *buf, size_t len, log_commit_image *img,
                       log_journal_info *info, char *why, size_t whylen)
{
    int e;

    memset(img, 0, sizeof *img);
    e = util_journal_scan(&log_journal_fmt, buf, len, img, info, why, whylen);
    if (e != 0)
        log_commit_image_free(img);
    return e == 0 ? SPOOL_OK : e == -ENOMEM ? SPOOL_ENOMEM : LOG_ECORRUPT;
}

int log_commit_load(const char *dir, int read_only, log_commit_image *img,
                    log_journal_info *info, char *err, size_t errlen)
{
    char *jpath = NULL, *cpath = NULL, why[384];
    void *raw = NULL;
    size_t len = 0;
    int rc = SPOOL_OK;

    memset(img, 0, sizeof *img);
    memset(info, 0, sizeof *info);
    if (asprintf(&jpath, "%s/COMMIT.journal", dir) < 0 || asprintf(&cpath, "%s/COMMIT", dir) < 0) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        int e = util_read_file(jpath, LOG_MAX_JOURNAL_READ, &raw, &len);
        if (e == 0) {
            rc = log_journal_decode(raw, len, img, info, why, sizeof why);
            free(raw);
            raw = NULL;
            /* Beside a writer, bytes before a valid record may have been read before
             * they were written: read again, they are final by now. */
            if (read_only && attempt < 2 &&
                (rc == LOG_ECORRUPT || info->damaged_copies > 0 || info->unsynced_cut)) {
                log_commit_image_free(img);
                continue;
            }
            if (rc == LOG_ECORRUPT)
                util_errf(err, errlen, "log: %s is damaged: %s; restore the data directory "
                          "from a backup", jpath, why);
            goto out;
        }
        if (e != -ENOENT) {
            util_errf(err, errlen, "log: cannot read %s: %s", jpath, strerror(-e));
            rc = e == -EFBIG ? LOG_ECORRUPT : e == -ENOMEM ? SPOOL_ENOMEM : LOG_EIO;
            goto out;
        }
        e = util_read_file(cpath, LOG_MAX_COMMIT_BYTES, &raw, &len);
        if (e == -ENOENT) {
            /* A writer beside us may have converted COMMIT just now: look again. */
            if (read_only && attempt == 0)
                continue;
            goto out;
        }
        if (e != 0) {
            util_errf(err, errlen, "log: cannot read %s: %s", cpath, strerror(-e));
            rc = e == -EFBIG ? LOG_ECORRUPT : e == -ENOMEM ? SPOOL_ENOMEM : LOG_EIO;
            goto out;
        }
        info->found = 1;
        info->size = len;
        rc = log_commit_image_decode(raw, len, img, why, sizeof why);
        free(raw);
        raw = NULL;
        if (rc == LOG_ECORRUPT)
            util_errf(err, errlen, "log: %s is damaged: %s; restore it from a backup", cpath,
                      why);
        goto out;
    }
out:
    free(raw);
    free(jpath);
    free(cpath);
    return rc;
}

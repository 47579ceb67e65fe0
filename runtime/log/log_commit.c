/* log_commit.c - transactions, group commit and the commit record.
 *
 * A log_txn encodes records as they are added, one growing batch per partition (a new
 * batch starts when one would pass LOG_MAX_BATCH_BYTES), so that committing is only a
 * matter of stamping base offsets and the CRC into batch headers and writing: each
 * record is copied once in user space, into the buffer pwrite() reads. A committed
 * txn keeps its batch buffers (up to LOG_TXN_KEEP_BYTES) for the next one, so a
 * steady producer neither reallocates nor page-faults fresh memory per group.
 *
 * Group commit: committers queue a request under s->mu; whoever finds no leader becomes
 * it, takes the whole queue, plans it under the lock (assigns offsets and file
 * positions, encodes the group's commit record), then drops the lock for the I/O:
 * pwrite every batch, fdatasync each touched segment once, then append the commit
 * record to the journal and fdatasync it (log_journal.c). Only then, under the lock
 * again, does it publish the new committed ends and positions and wake the group.
 * Nothing a reader can see changes before the commit record is durable.
 *
 * The two fdatasyncs stay in that order: a journal record durable before the data it
 * names would, after a crash between them, name bytes that are not there, and recovery
 * could not tell that from rot of acknowledged data.
 *
 * Failures: ENOSPC/EDQUOT anywhere before the commit record is written leaves nothing
 * committed; the appended bytes are cut back with ftruncate so the next group starts
 * from the same committed end. Anything else (EIO on write or fdatasync, a failed new
 * journal file) marks the store failed: the kernel may have dropped the dirty pages, so
 * no fsync is ever retried and every later commit returns LOG_EIO (reliability.md A5).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/bytes.h"
#include "util/fsio.h"
#include "util/metafile.h"
#include "util/strutil.h"

typedef struct log_txn_batch {
    uint8_t *buf;             /* LOG_BATCH_HDR bytes of header, then records */
    size_t len;
    size_t cap;
    uint32_t count;
    int64_t first_ts;
    int64_t max_ts;
    int64_t base;             /* planned by the leader */
    uint64_t pos;
    log_segment *seg;
} log_txn_batch;

typedef struct log_txn_part {
    char *topic;
    int32_t partition;
    log_partition *p;         /* resolved by the leader */
    log_txn_batch *batches;
    size_t nbatches;
    size_t capbatches;
} log_txn_part;

/* Batch buffers a txn keeps between commits: at most this many bytes, this many. */
#define LOG_TXN_KEEP_BYTES (8u * 1024u * 1024u)
#define LOG_TXN_KEEP_BUFS 64u

typedef struct log_txn_spare {
    uint8_t *buf;
    size_t cap;
} log_txn_spare;

struct log_txn {
    log_txn_spare spare[LOG_TXN_KEEP_BUFS]; /* emptied buffers, for the next batches */
    size_t nspare;
    size_t spare_bytes;
    log_txn_part *parts;
    size_t nparts;
    size_t capparts;
    log_source_pos *positions;
    size_t npos;
    size_t cappos;
    size_t count;
};

int log_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 4;
    void *n;

    if (need <= *cap)
        return SPOOL_OK;
    while (ncap < need)
        ncap *= 2;
    n = realloc(*arr, ncap * elem);
    if (n == NULL)
        return SPOOL_ENOMEM;
    *arr = n;
    *cap = ncap;
    return SPOOL_OK;
}

/* Keeps an emptied batch buffer for a later batch, or frees it. */
static void log_txn_spare_put(log_txn *txn, uint8_t *buf, size_t cap)
{
    if (buf != NULL && txn->nspare < LOG_TXN_KEEP_BUFS &&
        txn->spare_bytes + cap <= LOG_TXN_KEEP_BYTES) {
        txn->spare[txn->nspare].buf = buf;
        txn->spare[txn->nspare].cap = cap;
        txn->nspare++;
        txn->spare_bytes += cap;
        return;
    }
    free(buf);
}

static void log_txn_reset(log_txn *txn)
{
    for (size_t i = 0; i < txn->nparts; i++) {
        log_txn_part *tp = &txn->parts[i];
        for (size_t j = 0; j < tp->nbatches; j++)
            log_txn_spare_put(txn, tp->batches[j].buf, tp->batches[j].cap);
        free(tp->batches);
        free(tp->topic);
    }
    for (size_t i = 0; i < txn->npos; i++) {
        free(txn->positions[i].name);
        free(txn->positions[i].pos);
    }
    txn->nparts = 0;
    txn->npos = 0;
    txn->count = 0;
}

log_txn *log_txn_new(void)
{
    return calloc(1, sizeof(log_txn));
}

void log_txn_free(log_txn *txn)
{
    if (txn == NULL)
        return;
    log_txn_reset(txn);
    for (size_t i = 0; i < txn->nspare; i++)
        free(txn->spare[i].buf);
    free(txn->parts);
    free(txn->positions);
    free(txn);
}

size_t log_txn_count(const log_txn *txn)
{
    return txn ? txn->count : 0;
}

static log_txn_part *log_txn_part_get(log_txn *txn, const char *topic, int32_t partition)
{
    log_txn_part *tp;

    /* Scan from the end: a source usually adds runs of records to the same partition. */
    for (size_t i = txn->nparts; i-- > 0;) {
        tp = &txn->parts[i];
        if (tp->partition == partition && strcmp(tp->topic, topic) == 0)
            return tp;
    }
    if (log_grow((void **)&txn->parts, &txn->capparts, txn->nparts + 1, sizeof *tp) != 0)
        return NULL;
    tp = &txn->parts[txn->nparts];
    memset(tp, 0, sizeof *tp);
    tp->topic = strdup(topic);
    if (tp->topic == NULL)
        return NULL;
    tp->partition = partition;
    txn->nparts++;
    return tp;
}

int log_txn_add(log_txn *txn, const char *topic, int32_t partition, const log_record *rec)
{
    log_txn_part *tp;
    log_txn_batch *b = NULL;
    size_t n, own;

    if (txn == NULL || topic == NULL || rec == NULL || partition < 0 ||
        (rec->header_count > 0 && rec->headers == NULL))
        return SPOOL_EINVAL;
    own = log_record_encoded_len(rec, rec->timestamp_ms);
    if (own == 0 || own > LOG_MAX_BATCH_BYTES - LOG_BATCH_HDR)
        return SPOOL_EINVAL;
    tp = log_txn_part_get(txn, topic, partition);
    if (tp == NULL)
        return SPOOL_ENOMEM;
    if (tp->nbatches > 0) {
        b = &tp->batches[tp->nbatches - 1];
        /* The timestamp delta's varint may differ in length: same timestamp, same n. */
        n = b->first_ts == rec->timestamp_ms ? own : log_record_encoded_len(rec, b->first_ts);
        if (n == 0 || b->len + n > LOG_MAX_BATCH_BYTES)
            b = NULL;
    }
    if (b == NULL) {
        n = own;
        if (log_grow((void **)&tp->batches, &tp->capbatches, tp->nbatches + 1,
                     sizeof *b) != 0)
            return SPOOL_ENOMEM;
        b = &tp->batches[tp->nbatches];
        memset(b, 0, sizeof *b);
        if (txn->nspare > 0) {
            txn->nspare--;
            b->buf = txn->spare[txn->nspare].buf;
            b->cap = txn->spare[txn->nspare].cap;
            txn->spare_bytes -= b->cap;
        }
        b->len = LOG_BATCH_HDR;
        b->first_ts = rec->timestamp_ms;
        b->max_ts = rec->timestamp_ms;
        tp->nbatches++;
    }
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 512;
        uint8_t *nb;
        while (ncap < b->len + n)
            ncap *= 2;
        nb = realloc(b->buf, ncap);
        if (nb == NULL) {
            if (b->count == 0) { /* no empty batch left behind to be committed */
                log_txn_spare_put(txn, b->buf, b->cap);
                tp->nbatches--;
            }
            return SPOOL_ENOMEM;
        }
        b->buf = nb;
        b->cap = ncap;
    }
    b->len += log_record_encode(b->buf + b->len, rec, b->first_ts);
    b->count++;
    if (rec->timestamp_ms > b->max_ts)
        b->max_ts = rec->timestamp_ms;
    txn->count++;
    return SPOOL_OK;
}

/* The part of txn for topic/partition, or NULL when txn has none. */
static log_txn_part *log_txn_part_find(log_txn *txn, const char *topic, int32_t partition)
{
    for (size_t i = txn->nparts; i-- > 0;)
        if (txn->parts[i].partition == partition && strcmp(txn->parts[i].topic, topic) == 0)
            return &txn->parts[i];
    return NULL;
}

int log_txn_move(log_txn *dst, log_txn *src)
{
    size_t newparts = 0;

    if (dst == NULL || src == NULL || dst == src)
        return SPOOL_EINVAL;
    /* Reserve everything first, so that running out of memory changes nothing. */
    for (size_t i = 0; i < src->nparts; i++) {
        log_txn_part *sp = &src->parts[i], *dp = log_txn_part_find(dst, sp->topic,
                                                                    sp->partition);
        if (dp == NULL)
            newparts++;
        else if (log_grow((void **)&dp->batches, &dp->capbatches,
                          dp->nbatches + sp->nbatches, sizeof *dp->batches) != 0)
            return SPOOL_ENOMEM;
    }
    if (log_grow((void **)&dst->parts, &dst->capparts, dst->nparts + newparts,
                 sizeof *dst->parts) != 0 ||
        log_grow((void **)&dst->positions, &dst->cappos, dst->npos + src->npos,
                 sizeof *dst->positions) != 0)
        return SPOOL_ENOMEM;
    /* Then move: batches go after dst's own, whole parts and positions change hands. */
    for (size_t i = 0; i < src->nparts; i++) {
        log_txn_part *sp = &src->parts[i], *dp = log_txn_part_find(dst, sp->topic,
                                                                    sp->partition);
        if (dp == NULL) {
            dst->parts[dst->nparts++] = *sp;
            continue;
        }
        memcpy(dp->batches + dp->nbatches, sp->batches, sp->nbatches * sizeof *sp->batches);
        dp->nbatches += sp->nbatches;
        free(sp->batches);
        free(sp->topic);
    }
    for (size_t i = 0; i < src->npos; i++) {
        log_source_pos *sp = &src->positions[i], *dp = NULL;
        for (size_t j = 0; j < dst->npos && dp == NULL; j++)
            if (strcmp(dst->positions[j].name, sp->name) == 0)
                dp = &dst->positions[j];
        if (dp == NULL) {
            dst->positions[dst->npos++] = *sp;
            continue;
        }
        free(dp->pos);
        dp->pos = sp->pos;
        dp->len = sp->len;
        free(sp->name);
    }
    dst->count += src->count;
    src->nparts = 0;
    src->npos = 0;
    src->count = 0;
    return SPOOL_OK;
}

int log_txn_set_position(log_txn *txn, const char *source, const void *pos, size_t len)
{
    log_source_pos *sp = NULL;
    void *copy = NULL;

    if (txn == NULL || source == NULL || strlen(source) > UINT16_MAX ||
        len > LOG_MAX_POSITION_BYTES || (len > 0 && pos == NULL))
        return SPOOL_EINVAL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL)
            return SPOOL_ENOMEM;
        memcpy(copy, pos, len);
    }
    for (size_t i = 0; i < txn->npos; i++) {
        if (strcmp(txn->positions[i].name, source) == 0) {
            sp = &txn->positions[i];
            break;
        }
    }
    if (sp == NULL) {
        if (log_grow((void **)&txn->positions, &txn->cappos, txn->npos + 1, sizeof *sp) != 0)
            goto nomem;
        sp = &txn->positions[txn->npos];
        sp->name = strdup(source);
        if (sp->name == NULL)
            goto nomem;
        sp->pos = NULL;
        txn->npos++;
    }
    free(sp->pos);
    sp->pos = copy;
    sp->len = len;
    return SPOOL_OK;
nomem:
    free(copy);
    return SPOOL_ENOMEM;
}

/* ---- The COMMIT image ------------------------------------------------------------ */

static void log_sources_free(log_source_pos *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].pos);
    }
    free(v);
}

void log_commit_image_free(log_commit_image *img)
{
    for (size_t i = 0; i < img->count; i++)
        free(img->entries[i].topic);
    free(img->entries);
    log_sources_free(img->sources, img->nsources);
    memset(img, 0, sizeof *img);
}

/* Copies a length-prefixed (u16) name at *p into a new string. */
static char *log_take_name(const uint8_t **p, const uint8_t *end)
{
    size_t n;
    char *name;

    if (end - *p < 2)
        return NULL;
    n = util_get_u16(*p);
    if ((size_t)(end - *p) - 2 < n)
        return NULL;
    name = malloc(n + 1);
    if (name == NULL)
        return NULL;
    memcpy(name, *p + 2, n);
    name[n] = '\0';
    *p += 2 + n;
    return name;
}

int log_commit_image_decode(const uint8_t *buf, size_t len, log_commit_image *img,
                            char *why, size_t whylen)
{
    uint16_t version;

    memset(img, 0, sizeof *img);
    if (util_meta_check(buf, len, LOG_COMMIT_MAGIC, LOG_COMMIT_VERSION, &version, why,
                        whylen) != 0)
        return LOG_ECORRUPT;
    return log_commit_body_decode(buf, len, UTIL_META_HDR, version, img, why, whylen);
}

int log_commit_body_decode(const uint8_t *buf, size_t len, size_t at_body, uint16_t version,
                           log_commit_image *img, char *why, size_t whylen)
{
    const uint8_t *p, *end = buf + len;
    uint32_t n;
    int rc = LOG_ECORRUPT;

    memset(img, 0, sizeof *img);
    p = buf + at_body;
    if (end - p < 12) {
        util_errf(why, whylen, "body cut short at byte %zu", (size_t)(p - buf));
        goto out;
    }
    img->seq = util_get_u64(p);
    n = util_get_u32(p + 8);
    p += 12;
    /* An entry is at least 30 bytes: bound the allocation by what the file can hold. */
    if (n > (size_t)(end - p) / 30) {
        util_errf(why, whylen, "%u partition entries cannot fit in %zu bytes", n,
                  (size_t)(end - p));
        goto out;
    }
    img->entries = calloc(n ? n : 1, sizeof *img->entries);
    if (img->entries == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        log_commit_entry *e = &img->entries[i];
        size_t at = (size_t)(p - buf);
        e->topic = log_take_name(&p, end);
        if (e->topic == NULL || end - p < (version >= 2 ? 44 : 28) ||
            !util_name_valid(e->topic, 249)) {
            util_errf(why, whylen, "partition entry %u at byte %zu is malformed", i, at);
            img->count = i + (e->topic != NULL);
            goto out;
        }
        img->count = i + 1;
        e->partition = util_u32_to_i32(util_get_u32(p));
        e->end_offset = util_u64_to_i64(util_get_u64(p + 4));
        e->seg_base = util_u64_to_i64(util_get_u64(p + 12));
        e->seg_len = util_get_u64(p + 20);
        e->start_offset = 0;
        e->durable_end = e->end_offset;
        if (version >= 2) {
            e->start_offset = util_u64_to_i64(util_get_u64(p + 28));
            e->durable_end = util_u64_to_i64(util_get_u64(p + 36));
        }
        p += version >= 2 ? 44 : 28;
        if (e->partition < 0 || e->seg_base < 0 || e->end_offset < e->seg_base ||
            e->seg_len > (uint64_t)INT64_MAX || e->start_offset < 0 ||
            e->start_offset > e->seg_base || e->durable_end < 0 ||
            e->durable_end > e->end_offset) {
            util_errf(why, whylen, "partition entry %u (%s/%d) at byte %zu has impossible "
                      "values", i, e->topic, e->partition, at);
            goto out;
        }
    }
    if (end - p < 4) {
        util_errf(why, whylen, "source count missing at byte %zu", (size_t)(p - buf));
        goto out;
    }
    n = util_get_u32(p);
    p += 4;
    if (n > (size_t)(end - p) / 6) {
        util_errf(why, whylen, "%u source entries cannot fit in %zu bytes", n,
                  (size_t)(end - p));
        goto out;
    }
    img->sources = calloc(n ? n : 1, sizeof *img->sources);
    if (img->sources == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        log_source_pos *sp = &img->sources[i];
        size_t at = (size_t)(p - buf);
        uint32_t pl;
        sp->name = log_take_name(&p, end);
        img->nsources = i + (sp->name != NULL);
        if (sp->name == NULL || end - p < 4) {
            util_errf(why, whylen, "source entry %u at byte %zu is malformed", i, at);
            goto out;
        }
        pl = util_get_u32(p);
        p += 4;
        if (pl > LOG_MAX_POSITION_BYTES || pl > (size_t)(end - p)) {
            util_errf(why, whylen, "source entry %u at byte %zu: position length %u is "
                      "impossible", i, at, pl);
            goto out;
        }
        if (pl > 0) {
            sp->pos = malloc(pl);
            if (sp->pos == NULL) {
                rc = SPOOL_ENOMEM;
                goto out;
            }
            memcpy(sp->pos, p, pl);
        }
        sp->len = pl;
        p += pl;
    }
    if (p != end) {
        util_errf(why, whylen, "%zu unexpected bytes after the last entry",
                  (size_t)(end - p));
        goto out;
    }
    rc = SPOOL_OK;
out:
    if (rc != SPOOL_OK)
        log_commit_image_free(img);
    return rc;
}

/* ---- Group commit ---------------------------------------------------------------- */

static int log_is_nospace(int e)
{
    return e == ENOSPC || e == EDQUOT;
}

/* Cuts every touched segment back to its committed end after a failed append, and
 * removes the segments the group created. The caller saw ENOSPC, so a failure here is
 * not backpressure any more: it is fatal. */
static int log_cut_back(log_store *s, log_partition **touched, size_t ntouched, char *why,
                        size_t whylen)
{
    for (size_t i = 0; i < ntouched; i++) {
        log_partition *p = touched[i];
        log_segment *act = log_active(p);
        int e = log_fault(s, LOG_IO_TRUNCATE, act->path);
        if (e == 0 && ftruncate(act->fd, (off_t)act->size) != 0)
            e = errno;
        for (log_new_seg *n = p->plan_new; n && e == 0; n = n->next) {
            if (n->seg->fd >= 0 && unlink(n->seg->path) != 0 && errno != ENOENT)
                e = errno;
        }
        if (e != 0) {
            util_errf(why, whylen, "log: cannot cut %s back to its committed %llu bytes "
                      "after a full disk (%s); the store is stopped, restart the worker "
                      "to recover from disk", act->path, (unsigned long long)act->size,
                      strerror(e));
            return LOG_EIO;
        }
    }
    return LOG_ENOSPC;
}

/* The I/O of one group, run by the leader without s->mu: new segment files first,
 * then every batch, then the sealing of rolled segments (fdatasync and .index), then
 * the fdatasync of every partition that wants it, then the commit record. */
static int log_group_io(log_store *s, log_commit_req *group, log_partition **touched,
                        size_t ntouched, uint8_t *image, size_t image_len, int sync,
                        char *why, size_t whylen)
{
    int e = 0, rc;

    for (size_t i = 0; i < ntouched; i++) {
        for (log_new_seg *n = touched[i]->plan_new; n; n = n->next) {
            e = -log_segment_create(s, n->seg, touched[i]->dir, why, whylen);
            if (e == 0)
                continue;
            if (log_is_nospace(e))
                return log_cut_back(s, touched, ntouched, why, whylen);
            return LOG_EIO;
        }
    }
    for (log_commit_req *r = group; r; r = r->next) {
        if (r->rc != SPOOL_OK)
            continue;
        for (size_t i = 0; i < r->txn->nparts; i++) {
            log_txn_part *tp = &r->txn->parts[i];
            for (size_t j = 0; j < tp->nbatches; j++) {
                log_txn_batch *b = &tp->batches[j];
                log_batch_seal(b->buf, b->len, b->base, b->count, b->first_ts, b->max_ts);
                e = log_fault(s, LOG_IO_APPEND, b->seg->path);
                if (e == 0)
                    e = -util_pwrite_all(b->seg->fd, b->buf, b->len, (off_t)b->pos);
                if (e == 0)
                    continue;
                if (log_is_nospace(e)) {
                    util_errf(why, whylen, "log: disk full appending to %s at byte %llu "
                              "(%s): nothing committed; free space, then retry",
                              b->seg->path, (unsigned long long)b->pos, strerror(e));
                    return log_cut_back(s, touched, ntouched, why, whylen);
                }
                util_errf(why, whylen, "log: write to %s at byte %llu failed (%s); the "
                          "store is stopped to protect data, restart the worker to recover "
                          "from disk", b->seg->path, (unsigned long long)b->pos,
                          strerror(e));
                return LOG_EIO;
            }
        }
    }
    for (size_t i = 0; i < ntouched; i++) {
        for (log_new_seg *n = touched[i]->plan_new; n; n = n->next) {
            uint8_t *idx = NULL;
            size_t idx_len = 0;
            rc = log_sync_segments(s, &n->prev, 1, why, whylen);
            if (rc != SPOOL_OK)
                return rc;
            if (log_index_encode(n->prev, n->prev_end, n->prev_size, n->prev_max_ts, &idx,
                                 &idx_len) != SPOOL_OK)
                return SPOOL_ENOMEM;
            e = log_fault(s, LOG_IO_INDEX, n->prev->idx_path);
            if (e == 0)
                e = -util_atomic_replace_file(n->prev->idx_path, idx, idx_len);
            free(idx);
            if (e != 0) {
                util_errf(why, whylen, "log: cannot write %s (%s)", n->prev->idx_path,
                          strerror(e));
                if (log_is_nospace(e))
                    return log_cut_back(s, touched, ntouched, why, whylen);
                return LOG_EIO;
            }
        }
    }
    /* Start the writeback of every segment first, so the device works on all of them
     * at once, then fdatasync them side by side (log_sync.c). */
    for (size_t i = 0; ntouched > 1 && i < ntouched; i++)
        if (touched[i]->plan_sync)
            (void)sync_file_range(touched[i]->plan_seg->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    size_t nsync = 0;
    log_segment *stack[16], **segs = ntouched <= 16 ? stack : calloc(ntouched, sizeof(*segs));
    if (segs == NULL)
        return SPOOL_ENOMEM;
    for (size_t i = 0; i < ntouched; i++)
        if (touched[i]->plan_sync)
            segs[nsync++] = touched[i]->plan_seg;
    rc = nsync > 0 ? log_sync_segments(s, segs, nsync, why, whylen) : SPOOL_OK;
    if (segs != stack)
        free(segs);
    if (rc != SPOOL_OK)
        return rc;
    e = -log_write_commit(s, image, image_len, sync);
    if (e != 0) {
        if (log_is_nospace(e)) {
            util_errf(why, whylen, "log: disk full writing %s (%s): nothing committed; free "
                      "space, then retry", s->journal_path, strerror(e));
            return log_cut_back(s, touched, ntouched, why, whylen);
        }
        util_errf(why, whylen, "log: writing the commit record to %s failed (%s); the store "
                  "is stopped to protect data, restart the worker to recover from disk",
                  s->journal_path,
                  strerror(e));
        return LOG_EIO;
    }
    return SPOOL_OK;
}


/* A deep copy of the committed positions with the group's updates applied in queue
 * order, built before the I/O so that publishing after COMMIT cannot fail. */
static int log_sources_next(log_store *s, log_commit_req *group, log_source_pos **out,
                            size_t *nout)
{
    size_t cap = s->nsources, n = 0;
    log_source_pos *v = NULL;
    int rc = SPOOL_ENOMEM;

    for (log_commit_req *r = group; r; r = r->next)
        if (r->rc == SPOOL_OK)
            cap += r->txn->npos;
    v = calloc(cap ? cap : 1, sizeof *v);
    if (v == NULL)
        goto out;
    for (size_t i = 0; i < s->nsources; i++, n++) {
        v[n].name = strdup(s->sources[i].name);
        v[n].len = s->sources[i].len;
        v[n].pos = s->sources[i].len ? malloc(s->sources[i].len) : NULL;
        if (v[n].name == NULL || (v[n].len && v[n].pos == NULL))
            goto out_n;
        if (v[n].len)
            memcpy(v[n].pos, s->sources[i].pos, v[n].len);
    }
    for (log_commit_req *r = group; r; r = r->next) {
        if (r->rc != SPOOL_OK)
            continue;
        for (size_t i = 0; i < r->txn->npos; i++) {
            const log_source_pos *u = &r->txn->positions[i];
            size_t k = 0;
            void *copy = u->len ? malloc(u->len) : NULL;
            if (u->len && copy == NULL)
                goto out;
            if (u->len)
                memcpy(copy, u->pos, u->len);
            while (k < n && strcmp(v[k].name, u->name) != 0)
                k++;
            if (k == n) {
                v[n].name = strdup(u->name);
                if (v[n].name == NULL) {
                    free(copy);
                    goto out;
                }
                n++;
            }
            free(v[k].pos);
            v[k].pos = copy;
            v[k].len = u->len;
        }
    }
    *out = v;
    *nout = n;
    v = NULL;
    rc = SPOOL_OK;
    goto out;
out_n:
    n++; /* the half-built entry at n is freed too */
out:
    if (v != NULL)
        log_sources_free(v, n);
    return rc;
}

/* The group's commit record: the partitions it touched and the positions it changed
 * (shallow copies of next's entries), or a snapshot when the journal file is full. */
static int log_commit_record(log_store *s, log_commit_req *group, uint64_t gen,
                             const log_source_pos *next, size_t nnext, uint8_t **out,
                             size_t *outlen)
{
    log_source_pos stack[8], *changed = stack;
    size_t nchanged = 0;
    int rc;

    if (nnext > 8) {
        changed = calloc(nnext, sizeof *changed);
        if (changed == NULL)
            return SPOOL_ENOMEM;
    }
    for (size_t k = 0; k < nnext; k++) {
        int hit = 0;
        for (log_commit_req *r = group; r && !hit; r = r->next) {
            if (r->rc != SPOOL_OK)
                continue;
            for (size_t i = 0; i < r->txn->npos && !hit; i++)
                hit = strcmp(r->txn->positions[i].name, next[k].name) == 0;
        }
        if (hit)
            changed[nchanged++] = next[k];
    }
    rc = log_commit_delta_encode(s, gen, s->seq + 1, changed, nchanged, next, nnext, out,
                                 outlen);
    if (changed != stack)
        free(changed);
    return rc;
}

/* Plans partition p for a group: where its batches go, which segments roll. */
static void log_plan_init(log_store *s, log_partition *p, uint64_t gen, int64_t mono)
{
    log_segment *act = log_active(p);
    log_durability d = log_topic_durability(s, p->topic);

    p->plan_gen = gen;
    p->plan_end = p->end_offset;
    p->plan_pos = act->size;
    p->plan_start = p->start_offset;
    p->plan_max_ts = act->max_ts;
    p->plan_seg = act;
    p->plan_nidx = act->nidx;
    p->plan_new = NULL;
    p->plan_sync = d == LOG_DURABILITY_BATCH ||
                   (d == LOG_DURABILITY_INTERVAL &&
                    mono - p->last_sync_ms >= p->topic->cfg.flush_interval_ms);
}

static int log_plan_batch(log_partition *p, log_txn_batch *b, int64_t wall)
{
    const log_topic_config *c = &p->topic->cfg;

    if (p->plan_pos > 0 &&
        (p->plan_pos + b->len > (uint64_t)c->segment_bytes ||
         (c->segment_ms > 0 && wall - p->plan_seg->created_ms >= c->segment_ms))) {
        log_new_seg *n = calloc(1, sizeof *n), **tail;
        if (n == NULL)
            return SPOOL_ENOMEM;
        n->seg = log_segment_new(p->dir, p->plan_end);
        if (n->seg == NULL) {
            free(n);
            return SPOOL_ENOMEM;
        }
        n->seg->created_ms = wall;
        n->prev = p->plan_seg;
        n->prev_end = p->plan_end;
        n->prev_size = p->plan_pos;
        n->prev_max_ts = p->plan_max_ts;
        for (tail = &p->plan_new; *tail; tail = &(*tail)->next)
            ;
        *tail = n;
        p->plan_seg = n->seg;
        p->plan_pos = 0;
        p->plan_max_ts = INT64_MIN;
    }
    if (log_segment_index_add(p->plan_seg, p->plan_end, p->plan_pos) != SPOOL_OK)
        return SPOOL_ENOMEM;
    b->seg = p->plan_seg;
    b->base = p->plan_end;
    b->pos = p->plan_pos;
    p->plan_end += b->count;
    p->plan_pos += b->len;
    if (b->max_ts > p->plan_max_ts)
        p->plan_max_ts = b->max_ts;
    return SPOOL_OK;
}

/* Publishes a committed plan (ok) or undoes it. Caller holds s->mu. */
static void log_plan_finish(log_store *s, log_partition *p, int ok, int64_t mono)
{
    log_new_seg *n = p->plan_new, *next;
    log_segment *act = log_active(p);

    for (; n; n = next) {
        next = n->next;
        if (ok) {
            n->prev->end = n->prev_end;
            n->prev->size = n->prev_size;
            n->prev->max_ts = n->prev_max_ts;
            n->prev->sealed = 1;
            if (log_push_segment_locked(p, n->seg) != SPOOL_OK) {
                /* Cannot happen with capacity reserved in planning; be loud if it does. */
                s->failed = 1;
                log_segment_unref_locked(n->seg);
            }
        } else {
            log_segment_unref_locked(n->seg);
        }
        free(n);
    }
    p->plan_new = NULL;
    if (ok) {
        log_segment *seg = log_active(p);
        seg->end = p->plan_end;
        seg->size = p->plan_pos;
        seg->max_ts = p->plan_max_ts;
        p->end_offset = p->plan_end;
        if (p->plan_sync) {
            p->durable_end = p->plan_end;
            p->dirty = 0;
            p->last_sync_ms = mono;
        } else {
            p->dirty = 1;
        }
    } else {
        act->nidx = p->plan_nidx;
        act->idx_last = act->nidx ? act->idx[act->nidx - 1].pos : 0;
    }
    p->plan_gen = 0;
}

void log_group_run(log_store *s, log_commit_req *group)
{
    uint64_t gen = ++s->group_gen;
    log_partition **touched = NULL;
    size_t ntouched = 0, captouched = 0;
    log_source_pos *next = NULL;
    size_t nnext = 0;
    uint8_t *image = NULL;
    size_t image_len = 0;
    char why[512] = "";
    int64_t mono = util_mono_ms(), wall = log_wall_ms();
    int rc = SPOOL_OK, any = 0, sync = 0;

    if (s->failed) {
        rc = LOG_EIO;
        goto finish;
    }
    /* Resolve every partition first: a txn naming an unknown one fails alone. */
    for (log_commit_req *r = group; r; r = r->next) {
        r->rc = SPOOL_OK;
        for (size_t i = 0; i < r->txn->nparts; i++) {
            log_txn_part *tp = &r->txn->parts[i];
            tp->p = log_find_partition_locked(s, tp->topic, tp->partition);
            if (tp->p == NULL && r->rc == SPOOL_OK) {
                r->rc = LOG_ENOTOPIC;
                util_errf(s->last_error, sizeof s->last_error, "log: commit refused: topic "
                          "\"%s\" has no partition %d; create the topic first", tp->topic,
                          tp->partition);
            }
        }
        any |= r->rc == SPOOL_OK;
    }
    if (!any)
        goto finish;
    /* Plan: offsets and file positions continue from the committed end, in queue order. */
    for (log_commit_req *r = group; r; r = r->next) {
        if (r->rc != SPOOL_OK)
            continue;
        for (size_t i = 0; i < r->txn->nparts; i++) {
            log_txn_part *tp = &r->txn->parts[i];
            log_partition *p = tp->p;
            if (tp->nbatches == 0)
                continue;
            if (p->plan_gen != gen) {
                if (log_grow((void **)&touched, &captouched, ntouched + 1,
                             sizeof *touched) != 0) {
                    rc = SPOOL_ENOMEM;
                    goto finish;
                }
                touched[ntouched++] = p;
                log_plan_init(s, p, gen, mono);
                sync |= p->plan_sync;
            }
            for (size_t j = 0; j < tp->nbatches; j++) {
                rc = log_plan_batch(p, &tp->batches[j], wall);
                if (rc != SPOOL_OK)
                    goto finish;
            }
        }
    }
    /* Room in the segment lists now, so that publishing after COMMIT cannot fail. */
    for (size_t i = 0; i < ntouched; i++) {
        size_t extra = 0;
        for (log_new_seg *n = touched[i]->plan_new; n; n = n->next)
            extra++;
        if (extra && log_reserve_segments_locked(touched[i], extra) != SPOOL_OK) {
            rc = SPOOL_ENOMEM;
            goto finish;
        }
    }
    rc = log_sources_next(s, group, &next, &nnext);
    if (rc == SPOOL_OK)
        rc = log_commit_record(s, group, gen, next, nnext, &image, &image_len);
    if (rc != SPOOL_OK)
        goto finish;

    pthread_mutex_unlock(&s->mu);
    rc = log_group_io(s, group, touched, ntouched, image, image_len, sync, why, sizeof why);
    pthread_mutex_lock(&s->mu);

    if (rc == SPOOL_OK) {
        size_t txns = 0, records = 0; /* metrics: the size of the group */
        for (log_commit_req *r = group; r; r = r->next)
            if (r->rc == SPOOL_OK) {
                txns++;
                records += r->txn->count;
            }
        log_stats_group(s, txns, records);
        for (size_t i = 0; i < ntouched; i++)
            log_plan_finish(s, touched[i], 1, mono);
        ntouched = 0;
        log_sources_free(s->sources, s->nsources);
        s->sources = next;
        s->nsources = s->capsources = nnext;
        next = NULL;
        nnext = 0;
        s->seq++;
        if (sync)
            s->last_durable_ms = mono;
        pthread_cond_broadcast(&s->data_cv);
    } else {
        if (rc == LOG_EIO)
            s->failed = 1;
        memcpy(s->last_error, why, sizeof why);
    }
finish:
    if (rc == SPOOL_ENOMEM)
        util_errf(s->last_error, sizeof s->last_error, "log: out of memory planning a "
                  "commit; nothing committed");
    for (size_t i = 0; i < ntouched; i++)
        log_plan_finish(s, touched[i], 0, mono);
    for (log_commit_req *r = group; r; r = r->next) {
        if (r->rc == SPOOL_OK)
            r->rc = rc;
        r->done = 1;
    }
    free(touched);
    free(image);
    log_sources_free(next, nnext);
}


int log_commit(log_store *s, log_txn *txn)
{
    log_commit_req req = {txn, SPOOL_OK, 0, NULL};
    uint64_t t0 = log_stats_now();

    if (s == NULL || txn == NULL)
        return SPOOL_EINVAL;
    if (txn->nparts == 0 && txn->npos == 0)
        return SPOOL_OK;
    pthread_mutex_lock(&s->mu);
    if (s->queue_tail)
        s->queue_tail->next = &req;
    else
        s->queue_head = &req;
    s->queue_tail = &req;
    while (!req.done) {
        if (!s->leader) {
            log_commit_req *group = s->queue_head;
            s->queue_head = s->queue_tail = NULL;
            s->leader = 1;
            log_group_run(s, group);
            s->leader = 0;
            pthread_cond_broadcast(&s->commit_cv);
        } else {
            pthread_cond_wait(&s->commit_cv, &s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (req.rc == SPOOL_OK)
        log_stats_commit(s, t0);
    /* On a full disk the caller keeps its records to commit them again once space
     * returns: they were read from the source, which must not be asked again. */
    if (req.rc != LOG_ENOSPC)
        log_txn_reset(txn);
    return req.rc;
}

size_t log_commit_body_len(const log_commit_image *img)
{
    size_t len = 8 + 4 + 4;

    for (size_t i = 0; i < img->count; i++)
        len += 2 + strlen(img->entries[i].topic) + 4 + 40;
    for (size_t i = 0; i < img->nsources; i++)
        len += 2 + strlen(img->sources[i].name) + 4 + img->sources[i].len;
    return len;
}

uint8_t *log_commit_body_put(uint8_t *p, const log_commit_image *img)
{
    util_put_u64(p, img->seq);
    util_put_u32(p + 8, (uint32_t)img->count);
    p += 12;
    for (size_t i = 0; i < img->count; i++) {
        const log_commit_entry *e = &img->entries[i];
        size_t nl = strlen(e->topic);
        util_put_u16(p, (uint16_t)nl);
        memcpy(p + 2, e->topic, nl);
        p += 2 + nl;
        util_put_u32(p, (uint32_t)e->partition);
        util_put_u64(p + 4, (uint64_t)e->end_offset);
        util_put_u64(p + 12, (uint64_t)e->seg_base);
        util_put_u64(p + 20, e->seg_len);
        util_put_u64(p + 28, (uint64_t)e->start_offset);
        util_put_u64(p + 36, (uint64_t)e->durable_end);
        p += 44;
    }
    util_put_u32(p, (uint32_t)img->nsources);
    p += 4;
    for (size_t i = 0; i < img->nsources; i++) {
        size_t nl = strlen(img->sources[i].name);
        util_put_u16(p, (uint16_t)nl);
        memcpy(p + 2, img->sources[i].name, nl);
        p += 2 + nl;
        util_put_u32(p, (uint32_t)img->sources[i].len);
        p += 4;
        if (img->sources[i].len)
            memcpy(p, img->sources[i].pos, img->sources[i].len);
        p += img->sources[i].len;
    }
    return p;
}

int log_commit_image_encode_img(const log_commit_image *img, uint8_t **out, size_t *outlen)
{
    size_t len = UTIL_META_HDR + log_commit_body_len(img);
    uint8_t *buf = malloc(len);

    if (buf == NULL)
        return SPOOL_ENOMEM;
    log_commit_body_put(buf + UTIL_META_HDR, img);
    util_meta_seal(buf, len, LOG_COMMIT_MAGIC, LOG_COMMIT_VERSION);
    *out = buf;
    *outlen = len;
    return SPOOL_OK;
}

/* log_read.c - readers of committed data, one partition each.
 *
 * A reader holds a reference on the segment it is in, so retention may drop that
 * segment from the partition meanwhile: the open descriptor still reads it, and the
 * reader then jumps to the new start offset. It reads the segment in chunks of
 * LOG_READ_CHUNK bytes with pread() (many batches per system call), so any number of
 * readers at independent offsets share a descriptor without sharing a file position.
 * It snapshots the committed (offset, byte) end under the store's lock and never
 * reads past it, so it cannot see an append in flight nor one being cut back after
 * ENOSPC. Every batch it returns records from is verified (bounds, CRC, records)
 * first; batches before the wanted offset are skipped by their header alone, each
 * batch must start at the offset the previous one ended on, and seeking uses the
 * sparse index of the segment.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/bytes.h"
#include "util/fsio.h"
#include "util/strutil.h"

#define LOG_READ_CHUNK (256u * 1024u)

struct log_reader {
    log_store *s;
    log_partition *p;
    log_segment *seg;         /* referenced */
    int64_t next;             /* offset the next log_reader_next() returns */
    uint64_t pos;             /* byte position of the next batch to load */
    int64_t pos_offset;       /* base offset the batch at pos must have */
    uint8_t *buf;             /* bytes [buf_at, buf_at + buf_len) of seg */
    size_t cap;
    uint64_t buf_at;
    size_t buf_len;
    int have_batch;
    log_batch_hdr hdr;
    log_batch_cursor cur;
    log_header *hdrs;
    size_t hdr_cap;
    char error[512];
};

/* Points r at offset (clamped to the start): its segment and the indexed batch at or
 * before it. Caller holds s->mu. */
static void log_reader_seek_locked(log_reader *r, int64_t offset)
{
    log_partition *p = r->p;
    size_t lo = 0, hi = p->nsegs;
    log_segment *seg;

    if (offset < p->start_offset)
        offset = p->start_offset;
    while (hi - lo > 1) { /* the last segment with base <= offset */
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid]->base <= offset)
            lo = mid;
        else
            hi = mid;
    }
    seg = p->segs[lo];
    seg->refs++;
    log_segment_unref_locked(r->seg);
    r->seg = seg;
    r->next = offset;
    log_segment_lookup_locked(seg, offset, &r->pos, &r->pos_offset);
    r->buf_len = 0;
    r->have_batch = 0;
}

int log_reader_open(log_store *s, const char *topic, int32_t partition, int64_t offset,
                    log_reader **out)
{
    log_reader *r = NULL;
    log_partition *p;

    *out = NULL;
    if (s == NULL || topic == NULL)
        return SPOOL_EINVAL;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return SPOOL_ENOMEM;
    pthread_mutex_lock(&s->mu);
    p = log_find_partition_locked(s, topic, partition);
    if (p == NULL || p->nsegs == 0) {
        pthread_mutex_unlock(&s->mu);
        free(r);
        return LOG_ENOTOPIC;
    }
    r->s = s;
    r->p = p;
    log_reader_seek_locked(r, offset);
    pthread_mutex_unlock(&s->mu);
    *out = r;
    return SPOOL_OK;
}

void log_reader_close(log_reader *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->s->mu);
    log_segment_unref_locked(r->seg);
    pthread_mutex_unlock(&r->s->mu);
    free(r->buf);
    free(r->hdrs);
    free(r);
}

int64_t log_reader_offset(const log_reader *r)
{
    return r->next;
}

const char *log_reader_error(const log_reader *r)
{
    return r->error;
}

/* Makes [r->pos, r->pos + need) available in r->buf, reading ahead up to limit. */
static int log_reader_fill(log_reader *r, size_t need, uint64_t limit, ssize_t *got_out)
{
    size_t want = need > LOG_READ_CHUNK ? need : LOG_READ_CHUNK;
    ssize_t got;

    *got_out = 0;
    if (r->pos >= r->buf_at && r->pos + need <= r->buf_at + r->buf_len)
        return SPOOL_OK;
    if (want > limit - r->pos)
        want = (size_t)(limit - r->pos);
    if (want > r->cap) {
        uint8_t *nb = realloc(r->buf, want);
        if (nb == NULL)
            return SPOOL_ENOMEM;
        r->buf = nb;
        r->cap = want;
    }
    r->buf_len = 0;
    got = util_pread_all(r->seg->fd, r->buf, want, (off_t)r->pos);
    *got_out = got;
    if (got < 0)
        return LOG_EIO;
    r->buf_at = r->pos;
    r->buf_len = (size_t)got;
    return (size_t)got >= need ? SPOOL_OK : LOG_ECORRUPT;
}

/* Loads the batch at r->pos (below limit) into r->buf. With header_only, reads and
 * checks only the fixed header (enough to skip the batch). */
static int log_reader_load(log_reader *r, uint64_t limit, int header_only, const uint8_t **at)
{
    char why[256];
    ssize_t got = 0;
    const uint8_t *b;
    int rc;

    if (limit - r->pos < LOG_BATCH_HDR) {
        util_errf(why, sizeof why, "a batch header is cut short by the committed end");
        goto corrupt;
    }
    rc = log_reader_fill(r, LOG_BATCH_HDR, limit, &got);
    if (rc == LOG_EIO)
        goto io_error;
    if (rc == LOG_ECORRUPT) {
        util_errf(why, sizeof why, "the file ends inside a batch header");
        goto corrupt;
    }
    if (rc != SPOOL_OK)
        return rc;
    b = r->buf + (r->pos - r->buf_at);
    rc = log_batch_peek(b, LOG_BATCH_HDR, &r->hdr, why, sizeof why);
    if (rc <= 0)
        goto corrupt;
    if (r->hdr.length > limit - r->pos) {
        util_errf(why, sizeof why, "batch length %u runs past the committed end",
                  r->hdr.length);
        goto corrupt;
    }
    if (r->hdr.base_offset != r->pos_offset) {
        util_errf(why, sizeof why, "batch base offset %lld where %lld was expected",
                  (long long)r->hdr.base_offset, (long long)r->pos_offset);
        goto corrupt;
    }
    if (header_only)
        return SPOOL_OK;
    rc = log_reader_fill(r, r->hdr.length, limit, &got);
    if (rc == LOG_EIO)
        goto io_error;
    if (rc == LOG_ECORRUPT) {
        util_errf(why, sizeof why, "the file ends inside the batch");
        goto corrupt;
    }
    if (rc != SPOOL_OK)
        return rc;
    b = r->buf + (r->pos - r->buf_at);
    if (log_batch_verify(b, r->hdr.length, &r->hdr, why, sizeof why) != SPOOL_OK)
        goto corrupt;
    if (r->hdr.max_headers > r->hdr_cap) {
        log_header *nh = realloc(r->hdrs, r->hdr.max_headers * sizeof *nh);
        if (nh == NULL)
            return SPOOL_ENOMEM;
        r->hdrs = nh;
        r->hdr_cap = r->hdr.max_headers;
    }
    *at = b;
    return SPOOL_OK;
corrupt:
    util_errf(r->error, sizeof r->error, "log: corrupt batch in topic %s partition %d at "
              "offset %lld: file %s, byte %llu: %s; refusing to serve it, run 'spool "
              "verify'", r->p->topic->name, r->p->id, (long long)r->pos_offset,
              r->seg->path, (unsigned long long)r->pos, why);
    return LOG_ECORRUPT;
io_error:
    util_errf(r->error, sizeof r->error, "log: cannot read %s at byte %llu: %s",
              r->seg->path, (unsigned long long)r->pos, strerror((int)-got));
    return LOG_EIO;
}

int log_reader_next(log_reader *r, log_record *rec)
{
    int64_t end_offset, seg_end;
    uint64_t seg_size;
    int last;
    int rc;

    r->error[0] = '\0';
    for (;;) {
        if (r->have_batch) {
            rc = log_batch_cursor_next(&r->cur, rec, r->hdrs, r->hdr_cap);
            if (rc < 0) {
                util_errf(r->error, sizeof r->error, "log: malformed record in %s at offset "
                          "%lld", r->seg->path, (long long)r->cur.offset);
                return rc;
            }
            if (rc == 1 && rec->offset < r->next)
                continue;
            if (rc == 1) {
                r->next = rec->offset + 1;
                return 1;
            }
            r->have_batch = 0;
        }
        pthread_mutex_lock(&r->s->mu);
        if (r->next < r->p->start_offset || r->seg->refs == 1) {
            /* Retention removed what we were reading: continue at the new start. */
            log_reader_seek_locked(r, r->next);
        }
        end_offset = r->p->end_offset;
        seg_size = r->seg->size;
        seg_end = r->seg->end;
        last = r->seg == log_active(r->p);
        if (r->next < end_offset && r->pos >= seg_size && !last && r->next >= seg_end) {
            log_reader_seek_locked(r, r->next);
            seg_size = r->seg->size;
            seg_end = r->seg->end;
        }
        pthread_mutex_unlock(&r->s->mu);
        if (r->next >= end_offset)
            return 0;
        if (r->pos >= seg_size) {
            util_errf(r->error, sizeof r->error, "log: %s: the committed bytes end at %llu "
                      "before offset %lld; stop and check the partition", r->seg->path,
                      (unsigned long long)seg_size, (long long)r->next);
            return LOG_ECORRUPT;
        }
        const uint8_t *b = NULL;
        rc = log_reader_load(r, seg_size, 1, &b);
        if (rc != SPOOL_OK)
            return rc;
        if (r->hdr.base_offset + (int64_t)r->hdr.count <= r->next) {
            r->pos += r->hdr.length;
            r->pos_offset += r->hdr.count;
            continue;
        }
        rc = log_reader_load(r, seg_size, 0, &b);
        if (rc != SPOOL_OK)
            return rc;
        log_batch_cursor_init(&r->cur, b, &r->hdr);
        r->pos += r->hdr.length;
        r->pos_offset += r->hdr.count;
        r->have_batch = 1;
    }
}

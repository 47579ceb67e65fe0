/* log_read.c - readers of committed data, one partition each.
 *
 * A reader owns a buffer holding one batch, read with pread() from the segment, so any
 * number of readers at independent offsets share the partition's descriptor without
 * sharing a file position. It snapshots the committed (offset, byte) end under the
 * store's lock before each batch and never reads past it, so it cannot see an append
 * in flight nor one being cut back after ENOSPC. Every batch it returns records from is
 * verified (bounds, CRC, records) first; batches before the wanted offset are skipped
 * by their header alone, and each batch must start where the previous one ended.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/fsio.h"
#include "util/strutil.h"

struct log_reader {
    log_store *s;
    log_partition *p;
    int64_t next;             /* offset the next log_reader_next() returns */
    uint64_t pos;             /* byte position of the next batch to load */
    int64_t pos_offset;       /* base offset the batch at pos must have */
    uint8_t *buf;
    size_t cap;
    int have_batch;
    log_batch_hdr hdr;
    log_batch_cursor cur;
    log_header *hdrs;
    size_t hdr_cap;
    char error[512];
};

int log_reader_open(log_store *s, const char *topic, int32_t partition, int64_t offset,
                    log_reader **out)
{
    log_reader *r = NULL;
    log_partition *p;

    *out = NULL;
    if (s == NULL || topic == NULL)
        return SPOOL_EINVAL;
    pthread_mutex_lock(&s->mu);
    p = log_find_partition_locked(s, topic, partition);
    pthread_mutex_unlock(&s->mu);
    if (p == NULL)
        return LOG_ENOTOPIC;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return SPOOL_ENOMEM;
    r->s = s;
    r->p = p;
    /* seg_base never changes while the store is open (no retention yet). */
    r->next = offset < p->seg_base ? p->seg_base : offset;
    r->pos = 0;
    r->pos_offset = p->seg_base;
    *out = r;
    return SPOOL_OK;
}

void log_reader_close(log_reader *r)
{
    if (r == NULL)
        return;
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

static int log_reader_grow(log_reader *r, size_t need)
{
    uint8_t *nb;

    if (need <= r->cap)
        return SPOOL_OK;
    nb = realloc(r->buf, need);
    if (nb == NULL)
        return SPOOL_ENOMEM;
    r->buf = nb;
    r->cap = need;
    return SPOOL_OK;
}

/* Loads the batch at r->pos (below end_pos) into r->buf. With header_only, reads and
 * checks only the fixed header (enough to skip the batch). */
static int log_reader_load(log_reader *r, uint64_t end_pos, int header_only)
{
    char why[256];
    ssize_t got;
    int rc;

    rc = log_reader_grow(r, LOG_BATCH_HDR);
    if (rc != SPOOL_OK)
        return rc;
    got = util_pread_all(r->p->fd, r->buf, LOG_BATCH_HDR, (off_t)r->pos);
    if (got < 0)
        goto io_error;
    rc = log_batch_peek(r->buf, (size_t)got, &r->hdr, why, sizeof why);
    if (rc == 0)
        util_errf(why, sizeof why, "batch header cut short (%zd bytes)", got);
    if (rc <= 0)
        goto corrupt;
    if (r->hdr.length > end_pos - r->pos) {
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
    rc = log_reader_grow(r, r->hdr.length);
    if (rc != SPOOL_OK)
        return rc;
    got = util_pread_all(r->p->fd, r->buf, r->hdr.length, (off_t)r->pos);
    if (got < 0)
        goto io_error;
    if (log_batch_verify(r->buf, (size_t)got, &r->hdr, why, sizeof why) != SPOOL_OK)
        goto corrupt;
    if (r->hdr.max_headers > r->hdr_cap) {
        log_header *nh = realloc(r->hdrs, r->hdr.max_headers * sizeof *nh);
        if (nh == NULL)
            return SPOOL_ENOMEM;
        r->hdrs = nh;
        r->hdr_cap = r->hdr.max_headers;
    }
    return SPOOL_OK;
corrupt:
    util_errf(r->error, sizeof r->error, "log: corrupt batch in %s at byte %llu (offset "
              "%lld): %s; stop and check the partition", r->p->seg_path,
              (unsigned long long)r->pos, (long long)r->pos_offset, why);
    return LOG_ECORRUPT;
io_error:
    util_errf(r->error, sizeof r->error, "log: cannot read %s at byte %llu: %s",
              r->p->seg_path, (unsigned long long)r->pos, strerror((int)-got));
    return LOG_EIO;
}

int log_reader_next(log_reader *r, log_record *rec)
{
    int64_t end_offset;
    uint64_t end_pos;
    int rc;

    r->error[0] = '\0';
    for (;;) {
        if (r->have_batch) {
            rc = log_batch_cursor_next(&r->cur, rec, r->hdrs, r->hdr_cap);
            if (rc < 0) {
                util_errf(r->error, sizeof r->error, "log: malformed record in %s at offset "
                          "%lld", r->p->seg_path, (long long)r->cur.offset);
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
        end_offset = r->p->end_offset;
        end_pos = r->p->end_pos;
        pthread_mutex_unlock(&r->s->mu);
        if (r->next >= end_offset)
            return 0;
        if (r->pos >= end_pos) {
            util_errf(r->error, sizeof r->error, "log: %s: the committed bytes end at %llu "
                      "before offset %lld; stop and check the partition", r->p->seg_path,
                      (unsigned long long)end_pos, (long long)r->next);
            return LOG_ECORRUPT;
        }
        rc = log_reader_load(r, end_pos, 1);
        if (rc != SPOOL_OK)
            return rc;
        if (r->hdr.base_offset + (int64_t)r->hdr.count <= r->next) {
            r->pos += r->hdr.length;
            r->pos_offset += r->hdr.count;
            continue;
        }
        rc = log_reader_load(r, end_pos, 0);
        if (rc != SPOOL_OK)
            return rc;
        log_batch_cursor_init(&r->cur, r->buf, &r->hdr);
        r->pos += r->hdr.length;
        r->pos_offset += r->hdr.count;
        r->have_batch = 1;
    }
}

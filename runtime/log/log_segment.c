/* log_segment.c - segment files, their sparse offset index, and the verifying scan.
 *
 * A segment is named by its base offset and holds batches back to back from byte 0.
 * Beside a sealed segment lies <base>.index: one entry (offset - base, byte position)
 * per LOG_INDEX_INTERVAL bytes of batches, plus the segment's size, end offset and
 * largest timestamp, in the checked metadata frame. The index is derived data: it is
 * trusted at open only when its size and offsets agree with the files around it, and
 * rebuilt from a full scan on any doubt. The active segment's index lives in memory
 * and is rebuilt by the scan recovery does anyway.
 *
 * The scan reads in large chunks (one pread per LOG_SCAN_CHUNK, not per batch) and
 * verifies each batch completely, so restart cost is one sequential read of the active
 * segment at memory speed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/bytes.h"
#include "util/fsio.h"
#include "util/metafile.h"
#include "util/strutil.h"

#define LOG_SCAN_CHUNK (1024u * 1024u)

log_segment *log_segment_new(const char *dir, int64_t base)
{
    log_segment *seg = calloc(1, sizeof *seg);

    if (seg == NULL)
        return NULL;
    seg->base = base;
    seg->end = base;
    seg->max_ts = INT64_MIN;
    seg->fd = -1;
    seg->refs = 1;
    if (asprintf(&seg->path, "%s/%020" PRId64 ".log", dir, base) < 0)
        seg->path = NULL;
    if (asprintf(&seg->idx_path, "%s/%020" PRId64 ".index", dir, base) < 0)
        seg->idx_path = NULL;
    if (seg->path == NULL || seg->idx_path == NULL) {
        free(seg->path);
        free(seg->idx_path);
        free(seg);
        return NULL;
    }
    return seg;
}

void log_segment_unref_locked(log_segment *seg)
{
    if (seg == NULL || --seg->refs > 0)
        return;
    if (seg->fd >= 0)
        close(seg->fd);
    free(seg->idx);
    free(seg->path);
    free(seg->idx_path);
    free(seg);
}

int log_segment_index_add(log_segment *seg, int64_t base, uint64_t pos)
{
    if (seg->nidx > 0 && pos - seg->idx_last < LOG_INDEX_INTERVAL)
        return SPOOL_OK;
    if (seg->nidx == seg->capidx) {
        size_t ncap = seg->capidx ? seg->capidx * 2 : 16;
        log_index_entry *n = realloc(seg->idx, ncap * sizeof *n);
        if (n == NULL)
            return SPOOL_ENOMEM;
        seg->idx = n;
        seg->capidx = ncap;
    }
    seg->idx[seg->nidx].rel = (uint32_t)(base - seg->base);
    seg->idx[seg->nidx].pos = (uint32_t)pos;
    seg->nidx++;
    seg->idx_last = pos;
    return SPOOL_OK;
}

void log_segment_lookup_locked(const log_segment *seg, int64_t offset, uint64_t *pos,
                               int64_t *at)
{
    size_t lo = 0, hi = seg->nidx;

    *pos = 0;
    *at = seg->base;
    if (offset <= seg->base)
        return;
    /* The last entry with rel <= offset - base and below the committed size. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((int64_t)seg->idx[mid].rel <= offset - seg->base && seg->idx[mid].pos < seg->size)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        *pos = seg->idx[lo - 1].pos;
        *at = seg->base + seg->idx[lo - 1].rel;
    }
}

/* ---- The .index file --------------------------------------------------------------- */

int log_index_encode(const log_segment *seg, int64_t end, uint64_t size, int64_t max_ts,
                     uint8_t **out, size_t *outlen)
{
    size_t n = 0, len;
    uint8_t *buf, *p;

    while (n < seg->nidx && seg->idx[n].pos < size)
        n++;
    len = LOG_INDEX_HDR + n * 8;
    buf = malloc(len);
    if (buf == NULL)
        return SPOOL_ENOMEM;
    p = buf + UTIL_META_HDR;
    util_put_u64(p, (uint64_t)seg->base);
    util_put_u64(p + 8, (uint64_t)end);
    util_put_u64(p + 16, size);
    util_put_u64(p + 24, (uint64_t)max_ts);
    util_put_u64(p + 32, (uint64_t)seg->created_ms);
    util_put_u32(p + 40, (uint32_t)n);
    p += 44;
    for (size_t i = 0; i < n; i++, p += 8) {
        util_put_u32(p, seg->idx[i].rel);
        util_put_u32(p + 4, seg->idx[i].pos);
    }
    util_meta_seal(buf, len, LOG_INDEX_MAGIC, LOG_INDEX_VERSION);
    *out = buf;
    *outlen = len;
    return SPOOL_OK;
}

int log_index_decode(const uint8_t *buf, size_t len, log_index_image *img, char *why,
                     size_t whylen)
{
    const uint8_t *p;
    uint16_t version;
    uint32_t n;

    memset(img, 0, sizeof *img);
    if (util_meta_check(buf, len, LOG_INDEX_MAGIC, LOG_INDEX_VERSION, &version, why,
                        whylen) != 0)
        return LOG_ECORRUPT;
    if (len < LOG_INDEX_HDR) {
        util_errf(why, whylen, "index header cut short: %zu bytes", len);
        return LOG_ECORRUPT;
    }
    p = buf + UTIL_META_HDR;
    img->base = util_u64_to_i64(util_get_u64(p));
    img->end = util_u64_to_i64(util_get_u64(p + 8));
    img->size = util_get_u64(p + 16);
    img->max_ts = util_u64_to_i64(util_get_u64(p + 24));
    img->created_ms = util_u64_to_i64(util_get_u64(p + 32));
    n = util_get_u32(p + 40);
    p += 44;
    if (img->base < 0 || img->end < img->base || img->end - img->base > UINT32_MAX ||
        img->size > UINT32_MAX) {
        util_errf(why, whylen, "impossible base %" PRId64 ", end %" PRId64 " or size %"
                  PRIu64, img->base, img->end, img->size);
        return LOG_ECORRUPT;
    }
    if ((len - LOG_INDEX_HDR) / 8 != n || (len - LOG_INDEX_HDR) % 8 != 0) {
        util_errf(why, whylen, "%u entries do not fill the %zu bytes after the header", n,
                  len - LOG_INDEX_HDR);
        return LOG_ECORRUPT;
    }
    img->entries = calloc(n ? n : 1, sizeof *img->entries);
    if (img->entries == NULL)
        return SPOOL_ENOMEM;
    for (uint32_t i = 0; i < n; i++, p += 8) {
        log_index_entry e = {util_get_u32(p), util_get_u32(p + 4)};
        if ((int64_t)e.rel >= img->end - img->base || e.pos >= img->size ||
            (i > 0 && (e.rel <= img->entries[i - 1].rel || e.pos <= img->entries[i - 1].pos)) ||
            (i == 0 && (e.rel != 0 || e.pos != 0))) {
            util_errf(why, whylen, "entry %u (offset +%u at byte %u) is out of order or range",
                      i, e.rel, e.pos);
            free(img->entries);
            img->entries = NULL;
            return LOG_ECORRUPT;
        }
        img->entries[i] = e;
    }
    img->count = n;
    return SPOOL_OK;
}

/* ---- Scanning ------------------------------------------------------------------------ */

void log_segment_scan(log_segment *seg, uint64_t limit, int build_index, log_scan *sc)
{
    uint8_t *buf = NULL;
    size_t cap = 0, have = 0;     /* bytes of the file in buf, starting at file_at */
    uint64_t file_at = 0, pos = 0;
    int64_t next = seg->base;

    memset(sc, 0, sizeof *sc);
    sc->max_ts = INT64_MIN;
    sc->first_max_ts = INT64_MIN;
    sc->good_end = seg->base;
    sc->rc = SPOOL_OK;
    if (build_index) {
        seg->nidx = 0;
        seg->idx_last = 0;
    }
    while (pos < limit) {
        log_batch_hdr h;
        size_t off = (size_t)(pos - file_at), avail = have - off;
        uint64_t left = limit - pos;
        int rc;

        if (left < LOG_BATCH_HDR) {
            util_errf(sc->why, sizeof sc->why, "a batch header is cut short at byte %" PRIu64,
                      limit);
            sc->rc = LOG_ECORRUPT;
            break;
        }
        if (avail < LOG_BATCH_HDR)
            goto refill;
        rc = log_batch_peek(buf + off, avail, &h, sc->why, sizeof sc->why);
        if (rc < 0) {
            sc->rc = LOG_ECORRUPT;
            break;
        }
        if (h.length > left) {
            util_errf(sc->why, sizeof sc->why, "batch length %u runs past byte %" PRIu64,
                      h.length, limit);
            sc->rc = LOG_ECORRUPT;
            break;
        }
        if (h.length > avail)
            goto refill;
        if (log_batch_verify(buf + off, h.length, &h, sc->why, sizeof sc->why) != SPOOL_OK) {
            sc->rc = LOG_ECORRUPT;
            break;
        }
        if (h.base_offset != next) {
            util_errf(sc->why, sizeof sc->why, "batch base offset %" PRId64 " where %" PRId64
                      " was expected", h.base_offset, next);
            sc->rc = LOG_ECORRUPT;
            break;
        }
        if (build_index && log_segment_index_add(seg, h.base_offset, pos) != SPOOL_OK) {
            sc->rc = SPOOL_ENOMEM;
            break;
        }
        if (sc->first_max_ts == INT64_MIN && h.count > 0)
            sc->first_max_ts = h.max_ts;
        if (h.count > 0 && h.max_ts > sc->max_ts)
            sc->max_ts = h.max_ts;
        next += h.count;
        pos += h.length;
        sc->good_pos = pos;
        sc->good_end = next;
        continue;
refill:
        {
            /* Keep the partial batch at the front, then read as much as fits. */
            size_t need = LOG_SCAN_CHUNK;
            ssize_t got;
            if (avail >= LOG_BATCH_HDR) {
                uint32_t blen = util_get_u32(buf + off + 8);
                if (blen > need && blen <= LOG_MAX_BATCH_BYTES)
                    need = blen;
            }
            if (need > left)
                need = (size_t)left;
            if (cap < need) {
                uint8_t *nb = malloc(need);
                if (nb == NULL) {
                    sc->rc = SPOOL_ENOMEM;
                    break;
                }
                if (avail > 0)
                    memcpy(nb, buf + off, avail);
                free(buf);
                buf = nb;
                cap = need;
            } else if (avail > 0 && off > 0) {
                memmove(buf, buf + off, avail);
            }
            file_at = pos;
            have = avail;
            got = util_pread_all(seg->fd, buf + have, need - have, (off_t)(file_at + have));
            if (got < 0) {
                util_errf(sc->why, sizeof sc->why, "read error at byte %" PRIu64 ": %s",
                          file_at + have, strerror((int)-got));
                sc->rc = LOG_EIO;
                break;
            }
            if (got == 0) {
                util_errf(sc->why, sizeof sc->why, "the file ends at byte %" PRIu64
                          " inside a batch", file_at + have);
                sc->rc = LOG_ECORRUPT;
                break;
            }
            have += (size_t)got;
        }
    }
    free(buf);
}

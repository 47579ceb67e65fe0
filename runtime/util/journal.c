/* journal.c - append-only files of double-written, checksummed records (journal.h).
 *
 * Records are 8-byte aligned, so that a reader that finds a bad copy can look for the
 * next valid one without trusting any length.
 */
#include "util/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/bytes.h"
#include "util/fsio.h"
#include "util/strutil.h"

static size_t util_pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* ---- Encoding ---------------------------------------------------------------------- */

uint8_t *util_jrec_alloc(size_t body_len)
{
    return calloc(1, 2 * util_pad8(UTIL_JREC_HDR + body_len));
}

size_t util_jrec_seal(const util_journal_fmt *fmt, uint8_t *rec, size_t body_len,
                      uint64_t seq, uint64_t synced, unsigned kind)
{
    size_t clen = UTIL_JREC_HDR + body_len, plen = util_pad8(clen);

    util_put_u64(rec + 16, seq);
    util_put_u64(rec + 24, synced);
    util_put_u16(rec + 32, (uint16_t)kind);
    util_meta_seal(rec, clen, fmt->rec_magic, fmt->version);
    memcpy(rec + plen, rec, plen);
    return 2 * plen;
}

/* ---- Writing ------------------------------------------------------------------------ */

void util_journal_init(util_journal *j, const util_journal_fmt *fmt, const char *path,
                       uint64_t min_bytes, uint64_t max_bytes)
{
    memset(j, 0, sizeof *j);
    j->fmt = fmt;
    j->path = path;
    j->fd = -1;
    j->min_bytes = min_bytes < 4096 ? 4096 : min_bytes;
    j->max_bytes = max_bytes < j->min_bytes ? j->min_bytes : max_bytes;
}

void util_journal_close(util_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

static int util_journal_fault(const util_journal *j, util_journal_step step)
{
    return j->fault ? j->fault(j->fault_ctx, step, j->path) : 0;
}

/* Writes zeros over [from, to) of fd. */
static int util_zero_fill(int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[65536];

    while (from < to) {
        size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        int e = util_pwrite_all(fd, zeros, n, (off_t)from);
        if (e != 0)
            return e;
        from += n;
    }
    return 0;
}

int util_journal_fits(const util_journal *j, size_t len)
{
    uint64_t room = j->cap > j->max_bytes ? j->cap : j->max_bytes;

    return j->fd >= 0 && j->pos + len <= room;
}

int util_journal_file_new(const util_journal_fmt *fmt, const char *path, const uint8_t *rec,
                          size_t len, uint64_t cap, int *fd_out, uint64_t *cap_out)
{
    uint8_t hdr[UTIL_JOURNAL_HDR] = {0};
    char *tmp = NULL;
    int fd = -1, e = 0, renamed = 0;

    if (len < UTIL_JREC_HDR)
        return -EINVAL;
    /* Room for three times the snapshot in deltas before the next new file. */
    if (cap < 4096)
        cap = 4096;
    while (cap < UTIL_JOURNAL_HDR + 4 * (uint64_t)len)
        cap *= 2;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    /* The header names the first record's sequence, so that a damaged first copy can
     * still be told from its twin. */
    util_put_u64(hdr + UTIL_META_HDR, util_get_u64(rec + 16));
    util_meta_seal(hdr, sizeof hdr, fmt->file_magic, fmt->version);
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        e = -errno;
    if (e == 0)
        e = util_pwrite_all(fd, hdr, sizeof hdr, 0);
    if (e == 0)
        e = util_pwrite_all(fd, rec, len, UTIL_JOURNAL_HDR);
    if (e == 0)
        e = util_zero_fill(fd, UTIL_JOURNAL_HDR + len, cap);
    if (e == 0 && fsync(fd) != 0)
        e = -errno;
    if (e == 0 && rename(tmp, path) != 0)
        e = -errno;
    if (e == 0) {
        renamed = 1;
        /* Past the rename the old file may be gone: any failure is fatal. */
        if (util_fsync_parent(path) != 0)
            e = -EIO;
    }
    if (e != 0 && !renamed)
        unlink(tmp);
    free(tmp);
    if (e != 0 || fd_out == NULL) {
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if (fd_out != NULL)
        *fd_out = fd;
    if (cap_out != NULL)
        *cap_out = cap;
    return e;
}

int util_journal_start(util_journal *j, const uint8_t *rec, size_t len)
{
    uint64_t cap = 0;
    int fd = -1;
    int e = util_journal_fault(j, UTIL_JOURNAL_WRITE);

    if (e != 0)
        return -e;
    e = util_journal_file_new(j->fmt, j->path, rec, len, j->min_bytes, &fd, &cap);
    if (e != 0)
        return e;
    util_journal_close(j);
    j->fd = fd;
    j->cap = cap;
    j->pos = j->synced = UTIL_JOURNAL_HDR + len;
    j->seq = util_get_u64(rec + 16);
    return 0;
}

/* fdatasync of the file; 0, or -EIO / -errno. Never retried: the pages may be gone. */
static int util_journal_sync(util_journal *j)
{
    int e = util_journal_fault(j, UTIL_JOURNAL_SYNC);
    if (e == 0 && fdatasync(j->fd) != 0)
        e = errno;
    return e == 0 ? 0 : e == ENOSPC || e == EDQUOT ? -EIO : -e;
}

int util_journal_write(util_journal *j, uint8_t *rec, size_t len, int sync)
{
    int e;

    if (j->fd < 0 || (util_get_u16(rec + 32) == UTIL_JREC_SNAPSHOT && !util_journal_fits(j, len)))
        return util_journal_start(j, rec, len);
    if (sync && j->synced < j->pos) {
        /* Records appended without fdatasync come first. This record's fdatasync makes
         * them durable too, so it must say so: a scan that finds one of them damaged
         * behind it must call that rot, not "never synced" (which would drop this
         * acknowledged record with it). Sync them, then stamp and reseal. */
        if ((e = util_journal_sync(j)) != 0)
            return e;
        j->synced = j->pos;
        util_jrec_seal(j->fmt, rec, util_get_u32(rec + 8) - UTIL_JREC_HDR,
                       util_get_u64(rec + 16), j->synced, util_get_u16(rec + 32));
    }
    e = util_journal_fault(j, UTIL_JOURNAL_WRITE);
    if (e != 0)
        return -e;
    if (j->pos + len > j->cap) {
        /* Grow by doubling, with zeros written now: this one fdatasync pays for the
         * new size, the following ones overwrite blocks that exist. */
        uint64_t ncap = j->cap;
        while (ncap < j->pos + len)
            ncap *= 2;
        e = util_zero_fill(j->fd, j->cap, ncap);
        if (e != 0)
            return e; /* zeros past the last record read as its end: harmless */
        j->cap = ncap;
    }
    e = util_pwrite_all(j->fd, rec, len, (off_t)j->pos);
    if (e != 0) {
        /* A partial record could hold one valid copy; a full disk must leave nothing
         * written, so put the zeros back (they need no new blocks). */
        if ((e == -ENOSPC || e == -EDQUOT) && util_zero_fill(j->fd, j->pos, j->pos + len) != 0)
            return -EIO;
        return e;
    }
    if (sync) {
        if ((e = util_journal_sync(j)) != 0) /* never backpressure: the pages may be gone */
            return e;
        j->synced = j->pos + len;
    }
    j->pos += len;
    j->seq = util_get_u64(rec + 16);
    return 0;
}

/* ---- Reading ------------------------------------------------------------------------ */

static int util_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

typedef struct util_jrec_hdr {
    uint64_t jseq;
    uint64_t synced;
    uint16_t kind;
    size_t clen;
} util_jrec_hdr;

/* 1 when a valid copy starts at pos (header in *h; applied to ctx when apply), 0 when
 * not, -ENOMEM. Never reads outside [buf, buf + len). */
static int util_jrec_check(const util_journal_fmt *f, const uint8_t *buf, size_t len,
                           size_t pos, util_jrec_hdr *h, void *ctx, int apply)
{
    const uint8_t *b = buf + pos;
    uint16_t version;
    char why[64];

    if (pos > len || len - pos < UTIL_JREC_HDR || util_get_u32(b) != f->rec_magic)
        return 0;
    h->clen = util_get_u32(b + 8);
    if (h->clen < UTIL_JREC_HDR || h->clen > len - pos)
        return 0;
    if (util_meta_check(b, h->clen, f->rec_magic, f->version, &version, why, sizeof why) != 0)
        return 0;
    h->jseq = util_get_u64(b + 16);
    h->synced = util_get_u64(b + 24);
    h->kind = util_get_u16(b + 32);
    if ((h->kind != UTIL_JREC_SNAPSHOT && h->kind != UTIL_JREC_DELTA) ||
        util_get_u16(b + 34) != 0 || util_get_u32(b + 36) != 0)
        return 0;
    /* The padding to 8 bytes is zeros, so that no bit of a copy goes unchecked. */
    if (util_pad8(h->clen) <= len - pos &&
        !util_all_zero(b + h->clen, util_pad8(h->clen) - h->clen))
        return 0;
    return f->body(ctx, h->kind, b, h->clen, apply);
}

/* The first position >= from (8-aligned from the header) where a valid copy starts:
 * its position, -1 when none, or -2 when out of memory. */
static long long util_jrec_find(const util_journal_fmt *f, const uint8_t *buf, size_t len,
                                size_t from, util_jrec_hdr *h, void *ctx)
{
    for (size_t q = from; q + UTIL_JREC_HDR <= len; q += 8) {
        int r;
        if (util_get_u32(buf + q) != f->rec_magic)
            continue;
        r = util_jrec_check(f, buf, len, q, h, ctx, 0);
        if (r == 1)
            return (long long)q;
        if (r < 0)
            return -2;
    }
    return -1;
}

/* 1 when the copy at twin equals the copy at pos (clen bytes, then zero padding). */
static int util_twin_ok(const uint8_t *buf, size_t len, size_t pos, size_t twin, size_t clen)
{
    size_t plen = util_pad8(clen);

    return twin <= len && len - twin >= plen && memcmp(buf + pos, buf + twin, plen) == 0;
}

/* 1 when the twin differs from the copy at pos only where the twin holds zeros. */
static int util_twin_torn(const uint8_t *buf, size_t len, size_t pos, size_t twin, size_t clen)
{
    for (size_t i = 0; i < util_pad8(clen); i++) {
        if (twin + i >= len)
            return 1;
        if (buf[twin + i] != buf[pos + i] && buf[twin + i] != 0)
            return 0;
    }
    return 1;
}

/* Applies the valid copy at pos (its header in *h), whose record ends at end. */
static int util_jrec_take(const util_journal_fmt *f, const uint8_t *buf, size_t len,
                          size_t pos, size_t end, const util_jrec_hdr *h, void *ctx,
                          util_journal_info *info)
{
    util_jrec_hdr again;
    int r = util_jrec_check(f, buf, len, pos, &again, ctx, 1);

    if (r != 1)
        return r < 0 ? r : -EBADMSG; /* valid a moment ago: only memory can fail */
    info->records++;
    info->last_jseq = h->jseq;
    info->end = end;
    return 0;
}

/* Bad bytes at pos with a valid record at q after them. Had any later record seen the
 * bad bytes durable? If none had, they were never fdatasynced: a power cut without
 * fdatasync, the end of the journal (1). Otherwise rot (0). -ENOMEM. */
static int util_jrec_unsynced(const util_journal_fmt *f, const uint8_t *buf, size_t len,
                              size_t pos, long long q, util_jrec_hdr hq, void *ctx)
{
    uint64_t synced = 0;
    long long at = q;

    while (at >= 0) {
        if (hq.synced > synced)
            synced = hq.synced;
        at = util_jrec_find(f, buf, len, (size_t)at + 8, &hq, ctx);
    }
    if (at == -2)
        return -ENOMEM;
    return synced <= pos;
}

int util_journal_scan(const util_journal_fmt *f, const uint8_t *buf, size_t len, void *ctx,
                      util_journal_info *info, char *why, size_t whylen)
{
    uint16_t version;
    uint64_t expect;
    size_t pos = UTIL_JOURNAL_HDR;
    int rc = 0;
    char hwhy[128];

    memset(info, 0, sizeof *info);
    info->found = 2;
    info->size = len;
    if (len < UTIL_JOURNAL_HDR || util_get_u32(buf + 8) != UTIL_JOURNAL_HDR ||
        util_meta_check(buf, UTIL_JOURNAL_HDR, f->file_magic, f->version, &version, hwhy,
                        sizeof hwhy) != 0) {
        if (len < UTIL_JOURNAL_HDR || util_get_u32(buf + 8) != UTIL_JOURNAL_HDR)
            snprintf(hwhy, sizeof hwhy, "bad length");
        util_errf(why, whylen, "the header (bytes 0..23) is damaged: %s", hwhy);
        return -EBADMSG;
    }
    expect = util_get_u64(buf + UTIL_META_HDR);
    while (pos < len) {
        util_jrec_hdr h, hq;
        long long q;
        int r = util_jrec_check(f, buf, len, pos, &h, ctx, 0);

        if (r < 0) {
            rc = r;
            break;
        }
        if (r == 1) {
            size_t twin = pos + util_pad8(h.clen);
            if (h.jseq != expect || (info->records == 0 && h.kind != UTIL_JREC_SNAPSHOT)) {
                info->bad_at = pos;
                util_errf(why, whylen, "the %s at byte %zu has journal sequence %" PRIu64
                          " where %" PRIu64 "%s was expected", f->what, pos, h.jseq, expect,
                          info->records ? "" : " (a snapshot)");
                rc = -EBADMSG;
                break;
            }
            if (!util_twin_ok(buf, len, pos, twin, h.clen)) {
                /* A bad twin: rot when valid records follow or when it differs by more
                 * than zeros (the file was zero-filled: an unwritten sector reads as
                 * zeros); else a torn append, whose first copy is whole. */
                q = util_jrec_find(f, buf, len, twin + 8, &hq, ctx);
                if (q == -2) {
                    rc = -ENOMEM;
                    break;
                }
                if ((q >= 0 || !util_twin_torn(buf, len, pos, twin, h.clen)) &&
                    info->damaged_copies++ == 0)
                    info->damaged_at = twin;
            }
            rc = util_jrec_take(f, buf, len, pos, twin + util_pad8(h.clen), &h, ctx, info);
            if (rc != 0)
                break;
            expect = h.jseq + 1;
            pos = info->end;
            continue;
        }
        /* No valid copy here: its twin, a torn tail, the end, or damage. */
        q = util_jrec_find(f, buf, len, pos + 8, &hq, ctx);
        if (q == -2) {
            rc = -ENOMEM;
            break;
        }
        if (q < 0) {
            info->torn = !util_all_zero(buf + pos, len - pos);
            break;
        }
        if (hq.jseq == expect && (info->records || hq.kind == UTIL_JREC_SNAPSHOT) &&
            (size_t)q == pos + util_pad8(hq.clen)) {
            /* The first copy is bad and the second intact: damage, as a torn write
             * that kept the second copy and lost part of the first is too rare to
             * excuse it. */
            if (info->damaged_copies++ == 0)
                info->damaged_at = pos;
            rc = util_jrec_take(f, buf, len, (size_t)q, (size_t)q + util_pad8(hq.clen), &hq,
                                ctx, info);
            if (rc != 0)
                break;
            expect = hq.jseq + 1;
            pos = info->end;
            continue;
        }
        r = util_jrec_unsynced(f, buf, len, pos, q, hq, ctx);
        if (r < 0) {
            rc = r;
            break;
        }
        info->bad_at = pos;
        if (r == 1) {
            info->unsynced_cut = 1;
            break;
        }
        util_errf(why, whylen, "the %s at byte %zu is damaged (both copies) but a valid "
                  "record follows at byte %lld: committed history cannot be read past "
                  "byte %zu", f->what, pos, q, pos);
        rc = -EBADMSG;
        break;
    }
    if (rc == 0 && info->records == 0) {
        info->bad_at = UTIL_JOURNAL_HDR;
        util_errf(why, whylen, "no valid %s at byte %u (a journal starts with a durable "
                  "snapshot)", f->what, UTIL_JOURNAL_HDR);
        rc = -EBADMSG;
    }
    return rc;
}

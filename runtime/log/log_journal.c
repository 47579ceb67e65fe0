/* log_journal.c - the commit journal: DATA_DIR/COMMIT.journal, the log's commit point.
 *
 * A group commit appends one commit record here and fdatasyncs the file once. The file
 * is zero-filled when it is created or grown (never fallocate: unwritten extents would
 * make every fdatasync convert them, a metadata write), so an append overwrites blocks
 * that already exist and its fdatasync writes data only. A record holds the partitions
 * and source positions the group changed (a delta); the first record of a file holds
 * the whole committed state (a snapshot). When a delta no longer fits in a file of
 * LOG_JOURNAL_MAX_BYTES, a new file holding a snapshot replaces it (temp file, fsync,
 * rename, directory fsync), so the directory only ever has one journal. Every open for
 * writing starts a new one the same way: whatever the old file's tail held is gone.
 *
 * Each record is written twice, back to back, in one pwrite. A crash can tear the
 * write, and leave anything after the last good record: zeros, half a copy, one good
 * copy. Bit rot in an acknowledged record leaves one copy bad and its twin intact. So:
 * a copy whose twin is intact is used (and the bad twin reported); nothing valid past
 * the last good record is a torn tail (never acknowledged: the ack waits for the
 * fdatasync); a bad record followed by valid ones is damage (LOG_ECORRUPT), unless no
 * later record says the bad bytes had been made durable (a power cut under interval or
 * none durability, whose records are not fdatasynced), which ends the journal there.
 *
 * Records are 8-byte aligned, so that a reader that finds a bad copy can look for the
 * next valid one without trusting any length.
 */
#include <errno.h>
#include <fcntl.h>
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

static uint64_t log_jmin = LOG_JOURNAL_MIN_BYTES, log_jmax = LOG_JOURNAL_MAX_BYTES;

void log_journal_set_sizes(uint64_t min_bytes, uint64_t max_bytes)
{
    log_jmin = min_bytes < 4096 ? 4096 : min_bytes;
    log_jmax = max_bytes < log_jmin ? log_jmin : max_bytes;
}

static size_t log_pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* ---- Encoding ---------------------------------------------------------------------- */

static int log_jrec_encode(const log_commit_image *img, unsigned kind, uint64_t jseq,
                           uint64_t synced, uint8_t **out, size_t *outlen)
{
    size_t clen = LOG_JREC_HDR + log_commit_body_len(img), plen;
    uint8_t *buf;

    if (clen > LOG_MAX_COMMIT_BYTES || img->count > UINT32_MAX)
        return SPOOL_EINVAL;
    plen = log_pad8(clen);
    buf = calloc(1, 2 * plen);
    if (buf == NULL)
        return SPOOL_ENOMEM;
    util_put_u64(buf + 16, jseq);
    util_put_u64(buf + 24, synced);
    util_put_u16(buf + 32, (uint16_t)kind);
    log_commit_body_put(buf + LOG_JREC_HDR, img);
    util_meta_seal(buf, clen, LOG_JOURNAL_REC_MAGIC, LOG_JOURNAL_VERSION);
    memcpy(buf + plen, buf, plen);
    *out = buf;
    *outlen = 2 * plen;
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
        rc = log_jrec_encode(&img, LOG_JREC_SNAPSHOT, s->jseq + 1, s->jsynced, out, outlen);
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

    if (s->jfd < 0)
        return log_commit_image_encode(s, gen, seq, all, nall, out, outlen);
    rc = log_store_image(s, gen, 1, seq, changed, nchanged, &img);
    if (rc == SPOOL_OK)
        rc = log_jrec_encode(&img, LOG_JREC_DELTA, s->jseq + 1, s->jsynced, out, outlen);
    free(img.entries);
    if (rc == SPOOL_OK && s->jpos + *outlen > (s->jcap > log_jmax ? s->jcap : log_jmax)) {
        /* The file is full: this group starts a new one, with the whole state. */
        free(*out);
        *out = NULL;
        rc = log_commit_image_encode(s, gen, seq, all, nall, out, outlen);
    }
    return rc;
}

/* ---- Writing ------------------------------------------------------------------------ */

/* Writes zeros over [from, to) of fd. */
static int log_zero_fill(int fd, uint64_t from, uint64_t to)
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

int log_journal_file_new(const char *path, const uint8_t *rec, size_t len, uint64_t cap,
                         int *fd_out, uint64_t *cap_out)
{
    uint8_t hdr[LOG_JOURNAL_HDR] = {0};
    char *tmp = NULL;
    int fd = -1, e = 0, renamed = 0;

    if (len < LOG_JREC_HDR)
        return -EINVAL;
    /* Room for three times the snapshot in deltas before the next new file. */
    if (cap < 4096)
        cap = 4096;
    while (cap < LOG_JOURNAL_HDR + 4 * (uint64_t)len)
        cap *= 2;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    /* The header names the first record's sequence, so that a damaged first copy can
     * still be told from its twin. */
    util_put_u64(hdr + UTIL_META_HDR, util_get_u64(rec + 16));
    util_meta_seal(hdr, sizeof hdr, LOG_JOURNAL_FILE_MAGIC, LOG_JOURNAL_VERSION);
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        e = -errno;
    if (e == 0)
        e = util_pwrite_all(fd, hdr, sizeof hdr, 0);
    if (e == 0)
        e = util_pwrite_all(fd, rec, len, LOG_JOURNAL_HDR);
    if (e == 0)
        e = log_zero_fill(fd, LOG_JOURNAL_HDR + len, cap);
    if (e == 0 && fsync(fd) != 0)
        e = -errno;
    if (e == 0 && rename(tmp, path) != 0)
        e = -errno;
    if (e == 0) {
        renamed = 1;
        /* Past the rename the old journal may be gone: any failure is fatal. */
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

int log_journal_start(log_store *s, const uint8_t *rec, size_t len)
{
    uint64_t cap = 0;
    int fd = -1;
    int e = log_fault(s, LOG_IO_COMMIT, s->journal_path);

    if (e != 0)
        return -e;
    e = log_journal_file_new(s->journal_path, rec, len, log_jmin, &fd, &cap);
    if (e != 0)
        return e;
    if (s->jfd >= 0)
        close(s->jfd);
    s->jfd = fd;
    s->jcap = cap;
    s->jpos = s->jsynced = LOG_JOURNAL_HDR + len;
    s->jseq = util_get_u64(rec + 16);
    return 0;
}

int log_write_commit(log_store *s, const uint8_t *rec, size_t len, int sync)
{
    uint64_t room = s->jcap > log_jmax ? s->jcap : log_jmax;
    int e;

    if (s->jfd < 0 || (util_get_u16(rec + 32) == LOG_JREC_SNAPSHOT && s->jpos + len > room))
        return log_journal_start(s, rec, len);
    e = log_fault(s, LOG_IO_COMMIT, s->journal_path);
    if (e != 0)
        return -e;
    if (s->jpos + len > s->jcap) {
        /* Grow by doubling, with zeros written now: this one fdatasync pays for the
         * new size, the following ones overwrite blocks that exist. */
        uint64_t ncap = s->jcap;
        while (ncap < s->jpos + len)
            ncap *= 2;
        e = log_zero_fill(s->jfd, s->jcap, ncap);
        if (e != 0)
            return e; /* zeros past the last record read as its end: harmless */
        s->jcap = ncap;
    }
    e = util_pwrite_all(s->jfd, rec, len, (off_t)s->jpos);
    if (e != 0) {
        /* A partial record could hold one valid copy; a full disk must leave nothing
         * committed, so put the zeros back (they need no new blocks). */
        if ((e == -ENOSPC || e == -EDQUOT) && log_zero_fill(s->jfd, s->jpos, s->jpos + len) != 0)
            return -EIO;
        return e;
    }
    if (sync) {
        e = log_fault(s, LOG_IO_COMMIT_SYNC, s->journal_path);
        if (e == 0 && fdatasync(s->jfd) != 0)
            e = errno;
        if (e != 0) /* never retried, never backpressure: the pages may be gone */
            return e == ENOSPC || e == EDQUOT ? -EIO : -e;
        s->jsynced = s->jpos + len;
    }
    s->jpos += len;
    s->jseq = util_get_u64(rec + 16);
    return 0;
}

/* ---- Reading ------------------------------------------------------------------------ */

static int log_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

typedef struct log_jrec_hdr {
    uint64_t jseq;
    uint64_t synced;
    uint16_t kind;
    size_t clen;
} log_jrec_hdr;

/* 1 when a valid copy starts at pos (header in *h; its decoded state in *img when img
 * is not NULL), 0 when not, SPOOL_ENOMEM. Never reads outside [buf, buf + len). */
static int log_jrec_check(const uint8_t *buf, size_t len, size_t pos, log_jrec_hdr *h,
                          log_commit_image *img)
{
    const uint8_t *b = buf + pos;
    log_commit_image tmp;
    uint16_t version;
    char why[64];
    int rc;

    if (pos > len || len - pos < LOG_JREC_HDR || util_get_u32(b) != LOG_JOURNAL_REC_MAGIC)
        return 0;
    h->clen = util_get_u32(b + 8);
    if (h->clen < LOG_JREC_HDR || h->clen > len - pos)
        return 0;
    if (util_meta_check(b, h->clen, LOG_JOURNAL_REC_MAGIC, LOG_JOURNAL_VERSION, &version,
                        why, sizeof why) != 0)
        return 0;
    h->jseq = util_get_u64(b + 16);
    h->synced = util_get_u64(b + 24);
    h->kind = util_get_u16(b + 32);
    if ((h->kind != LOG_JREC_SNAPSHOT && h->kind != LOG_JREC_DELTA) ||
        util_get_u16(b + 34) != 0 || util_get_u32(b + 36) != 0)
        return 0;
    /* The padding to 8 bytes is zeros, so that no bit of a copy goes unchecked. */
    if (log_pad8(h->clen) <= len - pos &&
        !log_all_zero(b + h->clen, log_pad8(h->clen) - h->clen))
        return 0;
    rc = log_commit_body_decode(b, h->clen, LOG_JREC_HDR, 2, &tmp, why, sizeof why);
    if (rc == SPOOL_ENOMEM)
        return SPOOL_ENOMEM;
    if (rc != SPOOL_OK)
        return 0;
    if (img != NULL)
        *img = tmp;
    else
        log_commit_image_free(&tmp);
    return 1;
}

/* The first position >= from (8-aligned from the header) where a valid copy starts:
 * its position, -1 when none, or -2 when out of memory. */
static long long log_jrec_find(const uint8_t *buf, size_t len, size_t from, log_jrec_hdr *h)
{
    for (size_t q = from; q + LOG_JREC_HDR <= len; q += 8) {
        int r;
        if (util_get_u32(buf + q) != LOG_JOURNAL_REC_MAGIC)
            continue;
        r = log_jrec_check(buf, len, q, h, NULL);
        if (r == 1)
            return (long long)q;
        if (r < 0)
            return -2;
    }
    return -1;
}

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

/* 1 when the copy at twin equals the copy at pos (clen bytes, then zero padding). */
static int log_twin_ok(const uint8_t *buf, size_t len, size_t pos, size_t twin, size_t clen)
{
    size_t plen = log_pad8(clen);

    return twin <= len && len - twin >= plen && memcmp(buf + pos, buf + twin, plen) == 0;
}

/* 1 when the twin differs from the copy at pos only where the twin holds zeros. */
static int log_twin_torn(const uint8_t *buf, size_t len, size_t pos, size_t twin, size_t clen)
{
    for (size_t i = 0; i < log_pad8(clen); i++) {
        if (twin + i >= len)
            return 1;
        if (buf[twin + i] != buf[pos + i] && buf[twin + i] != 0)
            return 0;
    }
    return 1;
}

int log_journal_decode(const uint8_t *buf, size_t len, log_commit_image *img,
                       log_journal_info *info, char *why, size_t whylen)
{
    uint16_t version;
    uint64_t expect;
    size_t pos = LOG_JOURNAL_HDR;
    int have = 0, rc = SPOOL_OK;
    char hwhy[128];

    memset(img, 0, sizeof *img);
    memset(info, 0, sizeof *info);
    info->found = 2;
    info->size = len;
    if (len < LOG_JOURNAL_HDR || util_get_u32(buf + 8) != LOG_JOURNAL_HDR ||
        util_meta_check(buf, LOG_JOURNAL_HDR, LOG_JOURNAL_FILE_MAGIC, LOG_JOURNAL_VERSION,
                        &version, hwhy, sizeof hwhy) != 0) {
        if (len < LOG_JOURNAL_HDR || util_get_u32(buf + 8) != LOG_JOURNAL_HDR)
            snprintf(hwhy, sizeof hwhy, "bad length");
        util_errf(why, whylen, "the header (bytes 0..23) is damaged: %s", hwhy);
        return LOG_ECORRUPT;
    }
    expect = util_get_u64(buf + UTIL_META_HDR);
    while (pos < len) {
        log_commit_image rec = {0};
        log_jrec_hdr h, hq;
        long long q;
        int r = log_jrec_check(buf, len, pos, &h, &rec);

        if (r < 0) {
            rc = SPOOL_ENOMEM;
            break;
        }
        if (r == 1) {
            size_t twin = pos + log_pad8(h.clen);
            if (h.jseq != expect || (!have && h.kind != LOG_JREC_SNAPSHOT)) {
                log_commit_image_free(&rec);
                info->bad_at = pos;
                util_errf(why, whylen, "the commit record at byte %zu has journal sequence "
                          "%" PRIu64 " where %" PRIu64 "%s was expected", pos, h.jseq, expect,
                          have ? "" : " (a snapshot)");
                rc = LOG_ECORRUPT;
                break;
            }
            if (!log_twin_ok(buf, len, pos, twin, h.clen)) {
                /* A bad twin: rot when valid records follow or when it differs by more
                 * than zeros (the file was zero-filled: an unwritten sector reads as
                 * zeros); else a torn append, whose first copy is whole. */
                q = log_jrec_find(buf, len, twin + 8, &hq);
                if (q == -2) {
                    log_commit_image_free(&rec);
                    rc = SPOOL_ENOMEM;
                    break;
                }
                if ((q >= 0 || !log_twin_torn(buf, len, pos, twin, h.clen)) &&
                    info->damaged_copies++ == 0)
                    info->damaged_at = twin;
            }
            rc = log_jrec_apply(img, &rec, h.kind);
            if (rc != SPOOL_OK)
                break;
            have = 1;
            info->records++;
            info->last_jseq = h.jseq;
            expect = h.jseq + 1;
            pos = twin + log_pad8(h.clen);
            info->end = pos;
            continue;
        }
        /* No valid copy here: its twin, a torn tail, the end, or damage. */
        q = log_jrec_find(buf, len, pos + 8, &hq);
        if (q == -2) {
            rc = SPOOL_ENOMEM;
            break;
        }
        if (q < 0) {
            info->torn = !log_all_zero(buf + pos, len - pos);
            break;
        }
        if (hq.jseq == expect && (have || hq.kind == LOG_JREC_SNAPSHOT) &&
            (size_t)q == pos + log_pad8(hq.clen)) {
            /* The first copy is bad and the second intact: damage, as a torn write
             * that kept the second copy and lost part of the first is too rare to
             * excuse it. */
            if (log_jrec_check(buf, len, (size_t)q, &hq, &rec) != 1) {
                rc = SPOOL_ENOMEM;
                break;
            }
            if (info->damaged_copies++ == 0)
                info->damaged_at = pos;
            rc = log_jrec_apply(img, &rec, hq.kind);
            if (rc != SPOOL_OK)
                break;
            have = 1;
            info->records++;
            info->last_jseq = hq.jseq;
            expect = hq.jseq + 1;
            pos = (size_t)q + log_pad8(hq.clen);
            info->end = pos;
            continue;
        }
        /* A bad record with valid ones after it. Had any later record seen the bad
         * bytes durable? If none had, they were never fdatasynced: a power cut under
         * interval or none durability, the end of the journal. Otherwise: rot. */
        {
            uint64_t synced = 0;
            long long at = q;
            while (at >= 0) {
                if (hq.synced > synced)
                    synced = hq.synced;
                at = log_jrec_find(buf, len, (size_t)at + 8, &hq);
            }
            if (at == -2) {
                rc = SPOOL_ENOMEM;
                break;
            }
            if (synced <= pos) {
                info->unsynced_cut = 1;
                info->bad_at = pos;
                break;
            }
        }
        info->bad_at = pos;
        util_errf(why, whylen, "the commit record at byte %zu is damaged (both copies) but "
                  "a valid record follows at byte %lld: committed history cannot be read "
                  "past byte %zu", pos, q, pos);
        rc = LOG_ECORRUPT;
        break;
    }
    if (rc == SPOOL_OK && !have) {
        info->bad_at = LOG_JOURNAL_HDR;
        util_errf(why, whylen, "no valid commit record at byte %u (a journal starts with a "
                  "durable snapshot)", LOG_JOURNAL_HDR);
        rc = LOG_ECORRUPT;
    }
    if (rc != SPOOL_OK)
        log_commit_image_free(img);
    return rc;
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

/* log_verify.c - `spool verify`: an fsck of a data directory, and the explicit repair.
 *
 * Verification reads everything and changes nothing, so it runs beside a worker: it
 * replays the commit journal (or decodes a legacy COMMIT; damage is reported with the
 * journal's byte position, and so is a damaged copy beside an intact twin) and every
 * TOPIC file, scans every segment of every partition from
 * byte 0 with the same verifying scanner recovery uses (CRC and records of every
 * batch, offsets without a gap from segment to segment), compares each sealed
 * segment's .index file with the index rebuilt by the scan, and checks that the
 * active segment holds exactly the committed (offset, byte) end. Each finding names
 * file, byte position and offsets.
 *
 * Repair is only ever explicit (--repair) and needs the lock (a stopped worker). A
 * damaged partition is cut back to its last good batch before the damage: first the
 * damaged segment and every later one are copied to DATA_DIR/quarantine/<topic>/<p>/
 * and fsynced, then the new end is persisted in a new commit journal, then the segment
 * is truncated
 * and the later ones unlinked. The report says how many offsets were dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/bytes.h"
#include "util/fsio.h"
#include "util/strutil.h"

typedef struct log_vctx {
    const char *dir;
    log_finding_fn fn;
    void *ctx;
    int damage;
    int repair;
    int changed;              /* repair changed the commit point */
    log_commit_image img;
    log_journal_info info;
} log_vctx;

static void log_vreport(log_vctx *v, int kind, const char *topic, int32_t partition,
                        const char *file, uint64_t pos, int64_t offset, int64_t end,
                        const char *fmt, ...) __attribute__((format(printf, 9, 10)));

static void log_vreport(log_vctx *v, int kind, const char *topic, int32_t partition,
                        const char *file, uint64_t pos, int64_t offset, int64_t end,
                        const char *fmt, ...)
{
    char what[768];
    va_list ap;
    log_finding f = {kind, topic, partition, file, pos, offset, end, what};

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (kind == 1)
        v->damage++;
    if (v->fn)
        v->fn(v->ctx, &f);
}

static int log_copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    char buf[65536];
    ssize_t n;

    if (in < 0)
        return -errno;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = -errno;
        goto done;
    }
    while ((n = read(in, buf, sizeof buf)) > 0) {
        rc = util_write_all(out, buf, (size_t)n);
        if (rc != 0)
            goto done;
    }
    if (n < 0 || fsync(out) != 0)
        rc = -errno;
done:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* Persists v->img as a new commit journal (a snapshot; a legacy COMMIT is removed
 * after it is durable). *path gets the journal's path. 0 or -errno. */
static int log_verify_write_commit(log_vctx *v, char **path)
{
    uint8_t *rec = NULL;
    size_t len = 0;
    char *legacy = NULL;
    int rc;

    if (asprintf(path, "%s/COMMIT.journal", v->dir) < 0) {
        *path = NULL;
        return -ENOMEM;
    }
    if (log_journal_encode_img(&v->img, v->info.last_jseq + 1, &rec, &len) != SPOOL_OK)
        return -ENOMEM;
    rc = util_journal_file_new(&log_journal_fmt, *path, rec, len, LOG_JOURNAL_MIN_BYTES, NULL,
                               NULL);
    free(rec);
    if (rc == 0) {
        v->info.last_jseq++;
        v->info.found = 2;
        if (asprintf(&legacy, "%s/COMMIT", v->dir) < 0)
            return -ENOMEM;
        if (unlink(legacy) == 0)
            rc = util_fsync_dir(v->dir);
        free(legacy);
    }
    return rc;
}

/* Cuts partition dir back to (seg_base, cut_pos, cut_end), quarantining first. */
static int log_repair_partition(log_vctx *v, log_commit_entry *e, const char *pdir,
                                const int64_t *bases, size_t nbases, size_t bad,
                                uint64_t cut_pos, int64_t cut_end)
{
    char *qdir = NULL;
    int rc = 0;

    if (asprintf(&qdir, "%s/quarantine/%s/%d", v->dir, e->topic, e->partition) < 0)
        return -ENOMEM;
    rc = util_mkdir_p(qdir);
    for (size_t i = bad; i < nbases && rc == 0; i++) {
        char *from = NULL, *to = NULL;
        if (asprintf(&from, "%s/%020" PRId64 ".log", pdir, bases[i]) < 0 ||
            asprintf(&to, "%s/%020" PRId64 ".log", qdir, bases[i]) < 0)
            rc = -ENOMEM;
        else
            rc = log_copy_file(from, to);
        free(from);
        free(to);
    }
    if (rc == 0)
        rc = util_fsync_dir(qdir);
    if (rc == 0) {
        /* The commit point first: from here the partition ends at the cut. */
        char *commit = NULL;
        e->end_offset = cut_end;
        e->seg_base = bases[bad];
        e->seg_len = cut_pos;
        if (e->durable_end > cut_end)
            e->durable_end = cut_end;
        rc = log_verify_write_commit(v, &commit);
        free(commit);
    }
    for (size_t i = bad; i < nbases && rc == 0; i++) {
        char *path = NULL, *idx = NULL;
        if (asprintf(&path, "%s/%020" PRId64 ".log", pdir, bases[i]) < 0 ||
            asprintf(&idx, "%s/%020" PRId64 ".index", pdir, bases[i]) < 0) {
            rc = -ENOMEM;
        } else if (i == bad) {
            if (truncate(path, (off_t)cut_pos) != 0)
                rc = -errno;
            unlink(idx);
        } else if (unlink(path) != 0 || (unlink(idx) != 0 && errno != ENOENT)) {
            rc = errno == ENOENT ? 0 : -errno;
        }
        free(path);
        free(idx);
    }
    if (rc == 0)
        rc = util_fsync_dir(pdir);
    if (rc == 0)
        log_vreport(v, 0, e->topic, e->partition, pdir, cut_pos, cut_end, -1,
                    "REPAIRED: partition cut back to offset %" PRId64 "; the damaged "
                    "segment and all later ones were copied to %s first", cut_end, qdir);
    free(qdir);
    return rc;
}

static void log_verify_partition(log_vctx *v, const char *tdir, const char *topic,
                                 int32_t part, log_commit_entry *e)
{
    char *pdir = NULL;
    int64_t *bases = NULL;
    size_t nbases = 0;
    int64_t expect;
    uint64_t total = 0;
    size_t nsegs = 0;
    log_commit_entry none = {0};

    if (e == NULL)
        e = &none;
    if (asprintf(&pdir, "%s/%d", tdir, part) < 0)
        return;
    {
        DIR *d = opendir(pdir);
        struct dirent *de;
        size_t cap = 0;
        if (d == NULL) {
            if (e->end_offset > e->start_offset)
                log_vreport(v, 1, topic, part, pdir, 0, e->start_offset, e->end_offset,
                            "partition directory missing, COMMIT says offsets %" PRId64
                            "..%" PRId64 " are committed", e->start_offset,
                            e->end_offset - 1);
            free(pdir);
            return;
        }
        while ((de = readdir(d)) != NULL) {
            int64_t b = 0;
            size_t i;
            for (i = 0; i < 20 && de->d_name[i] >= '0' && de->d_name[i] <= '9'; i++)
                b = b * 10 + (de->d_name[i] - '0');
            if (i != 20 || strcmp(de->d_name + 20, ".log") != 0)
                continue;
            if (nbases == cap) {
                cap = cap ? cap * 2 : 16;
                int64_t *nb = realloc(bases, cap * sizeof *nb);
                if (nb == NULL)
                    break;
                bases = nb;
            }
            bases[nbases++] = b;
        }
        closedir(d);
        for (size_t i = 1; i < nbases; i++)
            for (size_t j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
                int64_t t = bases[j];
                bases[j] = bases[j - 1];
                bases[j - 1] = t;
            }
    }
    expect = e->start_offset;
    for (size_t i = 0; i < nbases; i++) {
        log_segment *seg = NULL;
        struct stat st;
        log_scan sc;
        int active = bases[i] == e->seg_base;
        uint64_t limit;

        if (bases[i] < e->start_offset || bases[i] > e->seg_base) {
            log_vreport(v, 0, topic, part, pdir, 0, bases[i], e->end_offset,
                        "segment %020" PRId64 ".log is outside the committed range (a "
                        "leftover of an interrupted retention or roll; the next open "
                        "removes it)", bases[i]);
            continue;
        }
        seg = log_segment_new(pdir, bases[i]);
        if (seg == NULL)
            break;
        if (bases[i] != expect) {
            log_vreport(v, 1, topic, part, seg->path, 0, expect, e->end_offset,
                        "segment starts at offset %" PRId64 " but offset %" PRId64
                        " was expected: offsets %" PRId64 "..%" PRId64 " are missing",
                        bases[i], expect, expect, bases[i] - 1);
            log_segment_unref_locked(seg);
            break;
        }
        seg->fd = open(seg->path, O_RDONLY | O_CLOEXEC);
        if (seg->fd < 0 || fstat(seg->fd, &st) != 0) {
            log_vreport(v, 1, topic, part, seg->path, 0, expect, e->end_offset,
                        "cannot open: %s", strerror(errno));
            log_segment_unref_locked(seg);
            break;
        }
        limit = active ? e->seg_len : (uint64_t)st.st_size;
        if (active && (uint64_t)st.st_size < limit) {
            log_vreport(v, 1, topic, part, seg->path, (uint64_t)st.st_size, expect,
                        e->end_offset, "file is %lld bytes but COMMIT says %" PRIu64
                        " bytes are committed", (long long)st.st_size, limit);
            limit = (uint64_t)st.st_size;
        }
        log_segment_scan(seg, limit, 1, &sc);
        nsegs++;
        total += sc.good_pos;
        if (sc.rc != SPOOL_OK || (active && sc.good_end != e->end_offset)) {
            log_vreport(v, 1, topic, part, seg->path, sc.good_pos, sc.good_end,
                        e->end_offset, "%s at byte %" PRIu64 " (offset %" PRId64 "; offsets "
                        "%" PRId64 "..%" PRId64 " of the partition are unreadable past it)",
                        sc.rc != SPOOL_OK ? sc.why : "the committed bytes end early",
                        sc.good_pos, sc.good_end, sc.good_end, e->end_offset - 1);
            if (v->repair && e != &none) {
                int rc = log_repair_partition(v, e, pdir, bases, nbases, i, sc.good_pos,
                                              sc.good_end);
                if (rc != 0)
                    log_vreport(v, 1, topic, part, pdir, 0, -1, -1, "repair failed: %s",
                                strerror(-rc));
                else
                    v->damage--, v->changed = 1;
            }
            log_segment_unref_locked(seg);
            break;
        }
        if (active && (uint64_t)st.st_size > limit)
            log_vreport(v, 0, topic, part, seg->path, limit, e->end_offset, e->end_offset,
                        "%" PRIu64 " uncommitted bytes past the committed end (a torn or "
                        "unacknowledged append; the next open cuts them)",
                        (uint64_t)st.st_size - limit);
        if (!active) {
            void *raw = NULL;
            size_t len = 0;
            log_index_image img;
            char why[256] = "missing";
            int ok = util_read_file(seg->idx_path, LOG_MAX_INDEX_BYTES, &raw, &len) == 0 &&
                     log_index_decode(raw, len, &img, why, sizeof why) == SPOOL_OK;
            if (ok) {
                ok = img.base == seg->base && img.end == sc.good_end &&
                     img.size == sc.good_pos && img.count == seg->nidx &&
                     (img.count == 0 ||
                      memcmp(img.entries, seg->idx, img.count * sizeof *img.entries) == 0);
                if (!ok)
                    snprintf(why, sizeof why, "does not match the segment");
                free(img.entries);
            }
            free(raw);
            if (!ok)
                log_vreport(v, 0, topic, part, seg->idx_path, 0, seg->base, e->end_offset,
                            "index %s (derived data: the next open rebuilds it)", why);
        }
        expect = sc.good_end;
        log_segment_unref_locked(seg);
    }
    if (nbases == 0 && e->end_offset > e->start_offset)
        log_vreport(v, 1, topic, part, pdir, 0, e->start_offset, e->end_offset,
                    "no segment files, COMMIT says offsets %" PRId64 "..%" PRId64
                    " are committed", e->start_offset, e->end_offset - 1);
    log_vreport(v, 0, topic, part, pdir, total, e->start_offset, e->end_offset,
                "offsets %" PRId64 "..%" PRId64 " in %zu segment(s), %" PRIu64 " bytes checked",
                e->start_offset, e->end_offset, nsegs, total);
    free(bases);
    free(pdir);
}

int log_verify(const char *dir, int repair, log_finding_fn fn, void *ctx, char *err,
               size_t errlen)
{
    log_vctx v = {dir, fn, ctx, 0, repair, 0, {0}, {0}};
    char *commit = NULL, *topics = NULL, *lock = NULL;
    char why[1024];
    int lock_fd = -1, rc = SPOOL_OK;
    DIR *d = NULL;
    struct dirent *de;

    if (asprintf(&commit, "%s/COMMIT", dir) < 0 || asprintf(&topics, "%s/topics", dir) < 0 ||
        asprintf(&lock, "%s/LOCK", dir) < 0) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    if (repair) {
        lock_fd = open(lock, O_RDWR | O_CLOEXEC);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
            util_errf(err, errlen, "verify: cannot repair %s while a worker holds its lock "
                      "(%s); stop it first", dir, lock);
            rc = LOG_ELOCKED;
            goto out;
        }
    }
    {
        struct stat st;
        if (stat(dir, &st) != 0) {
            util_errf(err, errlen, "verify: no data directory %s", dir);
            rc = LOG_ENOTOPIC;
            goto out;
        }
    }
    rc = log_commit_load(dir, !repair, &v.img, &v.info, why, sizeof why);
    free(commit);
    commit = NULL;
    if (asprintf(&commit, "%s/%s", dir, v.info.found == 1 ? "COMMIT" : "COMMIT.journal") < 0) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    if (rc == SPOOL_ENOMEM) {
        goto out;
    } else if (rc == LOG_ECORRUPT) {
        log_vreport(&v, 1, NULL, -1, commit, v.info.bad_at, -1, -1, "%s", why);
    } else if (rc != SPOOL_OK) {
        log_vreport(&v, 1, NULL, -1, commit, 0, -1, -1, "%s", why);
    } else if (v.info.found == 0) {
        log_vreport(&v, 0, NULL, -1, commit, 0, -1, -1, "no commit journal (and no legacy "
                    "COMMIT): nothing was committed");
    } else {
        log_vreport(&v, 0, NULL, -1, commit, v.info.end, -1, -1, "%s ok: %" PRIu64
                    " record(s), commit sequence %" PRIu64 ", %zu partitions, %zu source "
                    "positions", v.info.found == 1 ? "COMMIT (legacy format, converted "
                    "by the next open)" : "commit journal",
                    v.info.found == 1 ? (uint64_t)1 : v.info.records, v.img.seq, v.img.count,
                    v.img.nsources);
        if (v.info.damaged_copies > 0) {
            log_vreport(&v, 1, NULL, -1, commit, v.info.damaged_at, -1, -1, "%" PRIu64
                        " commit record(s) have one damaged copy, the first at byte %" PRIu64
                        "; the intact twin holds the record, so nothing is lost, but the "
                        "disk may be failing (the next open of the worker, or --repair, "
                        "rewrites the journal)", v.info.damaged_copies, v.info.damaged_at);
            if (repair) {
                char *path = NULL;
                int e = log_verify_write_commit(&v, &path);
                if (e == 0) {
                    v.damage--;
                    log_vreport(&v, 0, NULL, -1, path, 0, -1, -1, "REPAIRED: the commit "
                                "journal was rewritten from the intact copies");
                } else {
                    log_vreport(&v, 1, NULL, -1, path ? path : commit, 0, -1, -1,
                                "repair failed: %s", strerror(-e));
                }
                free(path);
            }
        }
        if (v.info.unsynced_cut)
            log_vreport(&v, 0, NULL, -1, commit, v.info.bad_at, -1, -1, "records from byte "
                        "%" PRIu64 " on were never made durable (a machine crash under "
                        "interval or none durability): the log ends before them",
                        v.info.bad_at);
        else if (v.info.torn)
            log_vreport(&v, 0, NULL, -1, commit, v.info.end, -1, -1, "a torn, "
                        "unacknowledged record after byte %" PRIu64 " (a crash while "
                        "appending; the next open drops it)", v.info.end);
    }
    rc = SPOOL_OK;
    d = opendir(topics);
    while (d && (de = readdir(d)) != NULL) {
        char *tdir = NULL, *tfile = NULL;
        void *tb = NULL;
        size_t tl = 0;
        uint16_t ver;
        int32_t count;
        if (!log_topic_name_valid(de->d_name))
            continue;
        if (asprintf(&tdir, "%s/%s", topics, de->d_name) < 0 ||
            asprintf(&tfile, "%s/TOPIC", tdir) < 0) {
            free(tdir);
            rc = SPOOL_ENOMEM;
            break;
        }
        if (util_read_file(tfile, 4096, &tb, &tl) != 0) {
            log_vreport(&v, 0, de->d_name, -1, tfile, 0, -1, -1, "no TOPIC file: a leftover "
                        "of an interrupted create, not a topic");
        } else if (util_meta_check(tb, tl, LOG_TOPIC_MAGIC, LOG_TOPIC_VERSION, &ver, why,
                                   sizeof why) != 0 ||
                   (count = util_u32_to_i32(util_get_u32((uint8_t *)tb + 16))) <= 0) {
            log_vreport(&v, 1, de->d_name, -1, tfile, 0, -1, -1, "TOPIC is damaged: %s", why);
        } else {
            for (int32_t p = 0; p < count; p++) {
                log_commit_entry *e = NULL;
                for (size_t i = 0; i < v.img.count; i++)
                    if (v.img.entries[i].partition == p &&
                        strcmp(v.img.entries[i].topic, de->d_name) == 0)
                        e = &v.img.entries[i];
                log_verify_partition(&v, tdir, de->d_name, p, e);
            }
        }
        free(tb);
        free(tfile);
        free(tdir);
    }
    if (d)
        closedir(d);
    if (rc == SPOOL_OK && v.damage > 0)
        rc = LOG_ECORRUPT;
out:
    if (lock_fd >= 0)
        close(lock_fd);
    log_commit_image_free(&v.img);
    free(commit);
    free(topics);
    free(lock);
    return rc;
}

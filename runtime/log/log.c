/* log.c - the store: open and recovery, topics, committed reads, waiting.
 *
 * Recovery trusts COMMIT alone. For each partition COMMIT holds the committed end
 * offset and the committed byte length of its segment; open() walks the segment's
 * batches from byte 0, verifying each one fully (bounds, CRC, every record) and that
 * offsets run on without a gap, and must land exactly on that (offset, byte) pair.
 * Anything short of it is damage to acknowledged data: LOG_ECORRUPT naming file, byte
 * and offset, and nothing is changed on disk. Only bytes past the committed length
 * (a torn or uncommitted append) are cut away, with ftruncate + fsync. A data
 * directory that has segment bytes but no COMMIT is refused too: COMMIT is written on
 * the first open, so its absence means it was lost, not that nothing was committed.
 *
 * Readers pread() batches below the committed end into their own buffer and walk them
 * with the same verifying decoder; they skip whole batches by header when seeking, and
 * check that each batch starts at the offset the previous one ended on.
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
#include <time.h>
#include <unistd.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/bytes.h"
#include "util/fsio.h"
#include "util/metafile.h"
#include "util/strutil.h"

#define LOG_TOPIC_NAME_MAX 249

/* ---- Names and partitioning ------------------------------------------------------ */

int log_topic_name_valid(const char *name)
{
    return util_name_valid(name, LOG_TOPIC_NAME_MAX);
}

uint32_t log_murmur2(const void *key, size_t len)
{
    const uint8_t *d = key;
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4, tail = len & ~(size_t)3;

    /* Kafka's Utils.murmur2: note the seed is xored with the length, as Java does. */
    for (size_t i = 0; i < n4; i++) {
        uint32_t k = util_get_u32(d + 4 * i);
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)d[tail + 2] << 16;
        h ^= (uint32_t)d[tail + 1] << 8;
        h ^= d[tail];
        h *= m;
        break;
    case 2:
        h ^= (uint32_t)d[tail + 1] << 8;
        h ^= d[tail];
        h *= m;
        break;
    case 1:
        h ^= d[tail];
        h *= m;
        break;
    default:
        break;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t log_partition_for_key(const void *key, size_t len, int32_t partitions)
{
    if (partitions <= 0 || (key == NULL && len > 0))
        return -1;
    return (int32_t)((log_murmur2(key, len) & 0x7fffffffu) % (uint32_t)partitions);
}

/* ---- Paths and small helpers ------------------------------------------------------ */

static char *log_pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *log_pathf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;

    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

void log_set_fault(log_store *s, log_fault_fn fn, void *ctx)
{
    s->fault = fn;
    s->fault_ctx = ctx;
}

static void log_topic_free(log_topic *t)
{
    if (t == NULL)
        return;
    for (int32_t i = 0; t->parts && i < t->count; i++) {
        if (t->parts[i].fd >= 0)
            close(t->parts[i].fd);
        free(t->parts[i].dir);
        free(t->parts[i].seg_path);
    }
    free(t->parts);
    free(t->dir);
    free(t->name);
    free(t);
}

static log_topic *log_find_topic_locked(log_store *s, const char *name)
{
    for (size_t i = 0; i < s->ntopics; i++)
        if (strcmp(s->topics[i]->name, name) == 0)
            return s->topics[i];
    return NULL;
}

log_partition *log_find_partition_locked(log_store *s, const char *topic, int32_t partition)
{
    log_topic *t = log_find_topic_locked(s, topic);

    if (t == NULL || partition < 0 || partition >= t->count)
        return NULL;
    return &t->parts[partition];
}

/* A new topic object with partition paths filled in and no file opened. */
static log_topic *log_topic_alloc(log_store *s, const char *name, int32_t count)
{
    log_topic *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->name = strdup(name);
    t->dir = log_pathf("%s/%s", s->topics_dir, name);
    t->parts = calloc((size_t)count, sizeof *t->parts);
    if (t->name == NULL || t->dir == NULL || t->parts == NULL)
        goto fail;
    t->count = count;
    for (int32_t i = 0; i < count; i++) {
        log_partition *p = &t->parts[i];
        p->fd = -1;
    }
    for (int32_t i = 0; i < count; i++) {
        log_partition *p = &t->parts[i];
        p->topic = t;
        p->id = i;
        p->dir = log_pathf("%s/%d", t->dir, i);
        p->seg_path = log_pathf("%s/%d/%020" PRId64 ".log", t->dir, i, (int64_t)0);
        if (p->dir == NULL || p->seg_path == NULL)
            goto fail;
    }
    return t;
fail:
    log_topic_free(t);
    return NULL;
}

static int log_add_topic_locked(log_store *s, log_topic *t)
{
    if (s->ntopics == s->captopics) {
        size_t ncap = s->captopics ? s->captopics * 2 : 8;
        log_topic **n = realloc(s->topics, ncap * sizeof *n);
        if (n == NULL)
            return SPOOL_ENOMEM;
        s->topics = n;
        s->captopics = ncap;
    }
    s->topics[s->ntopics++] = t;
    return SPOOL_OK;
}

/* Maps -errno from util_ to a log code. */
static int log_errno_rc(int e)
{
    if (e == -ENOSPC || e == -EDQUOT)
        return LOG_ENOSPC;
    if (e == -ENOMEM)
        return SPOOL_ENOMEM;
    return LOG_EIO;
}

/* ---- TOPIC files ------------------------------------------------------------------ */

static int log_topic_file_write(const char *path, int32_t count)
{
    uint8_t buf[UTIL_META_HDR + 4];

    util_put_u32(buf + UTIL_META_HDR, (uint32_t)count);
    util_meta_seal(buf, sizeof buf, LOG_TOPIC_MAGIC, LOG_FORMAT_VERSION);
    return util_atomic_replace_file(path, buf, sizeof buf);
}

/* Reads a TOPIC file: the partition count, 0 when absent, or a negative log code. */
static int log_topic_file_read(const char *path, int32_t *count, char *err, size_t errlen)
{
    void *buf = NULL;
    size_t len = 0;
    uint16_t version;
    char why[256];
    int rc = util_read_file(path, 4096, &buf, &len);

    *count = 0;
    if (rc == -ENOENT)
        return SPOOL_OK;
    if (rc != 0) {
        util_errf(err, errlen, "log: cannot read %s: %s", path, strerror(-rc));
        rc = rc == -EFBIG ? LOG_ECORRUPT : log_errno_rc(rc);
        goto out;
    }
    if (util_meta_check(buf, len, LOG_TOPIC_MAGIC, LOG_FORMAT_VERSION, &version, why,
                        sizeof why) != 0 || len != UTIL_META_HDR + 4) {
        util_errf(err, errlen, "log: %s is damaged (%s); restore it from a backup",
                  path, len != UTIL_META_HDR + 4 && why[0] == 0 ? "wrong size" : why);
        rc = LOG_ECORRUPT;
        goto out;
    }
    *count = util_u32_to_i32(util_get_u32((uint8_t *)buf + UTIL_META_HDR));
    if (*count <= 0) {
        util_errf(err, errlen, "log: %s is damaged (partition count %d); restore it from a "
                  "backup", path, *count);
        rc = LOG_ECORRUPT;
        goto out;
    }
    rc = SPOOL_OK;
out:
    free(buf);
    return rc;
}

/* ---- Creating topics -------------------------------------------------------------- */

/* Creates (or empties) a partition's first segment durably: file fsync, then its
 * directory's fsync, before the topic is declared to exist. A segment of a topic with
 * no TOPIC file is a leftover of an interrupted create and holds nothing committed. */
static int log_partition_create(log_partition *p, char *err, size_t errlen)
{
    int rc = util_mkdir_p(p->dir);
    int fd = -1;

    if (rc != 0) {
        util_errf(err, errlen, "log: cannot create directory %s: %s", p->dir, strerror(-rc));
        goto out;
    }
    fd = open(p->seg_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, 0) != 0 || fsync(fd) != 0) {
        rc = -errno;
        util_errf(err, errlen, "log: cannot create segment %s: %s", p->seg_path,
                  strerror(errno));
        goto out;
    }
    rc = util_fsync_dir(p->dir);
    if (rc != 0) {
        util_errf(err, errlen, "log: cannot fsync directory %s: %s", p->dir, strerror(-rc));
        goto out;
    }
    p->fd = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int log_topic_create(log_store *s, const char *topic, int32_t partitions, char *err,
                     size_t errlen)
{
    log_topic *t = NULL;
    char *topic_path = NULL;
    int rc = SPOOL_OK;

    if (s == NULL || !log_topic_name_valid(topic)) {
        util_errf(err, errlen, "log: invalid topic name \"%s\": use 1-249 letters, digits, "
                  "'.', '_' or '-', not \".\" or \"..\"", topic ? topic : "(null)");
        return SPOOL_EINVAL;
    }
    if (partitions <= 0 || partitions > 100000) {
        util_errf(err, errlen, "log: topic \"%s\": partition count %d must be 1..100000",
                  topic, partitions);
        return SPOOL_EINVAL;
    }
    /* Holding the lock across this I/O serialises topic creation; it is rare, and the
     * commit leader only needs the lock briefly before and after its own I/O. */
    pthread_mutex_lock(&s->mu);
    t = log_find_topic_locked(s, topic);
    if (t != NULL) {
        if (t->count != partitions) {
            util_errf(err, errlen, "log: topic \"%s\" exists with %d partitions, not %d; "
                      "partition counts cannot change", topic, t->count, partitions);
            rc = SPOOL_EINVAL;
        }
        t = NULL;
        goto out;
    }
    t = log_topic_alloc(s, topic, partitions);
    topic_path = t ? log_pathf("%s/TOPIC", t->dir) : NULL;
    if (topic_path == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (int32_t i = 0; i < partitions; i++) {
        rc = log_partition_create(&t->parts[i], err, errlen);
        if (rc != 0) {
            rc = log_errno_rc(rc);
            goto out;
        }
    }
    /* TOPIC last: it is what makes the topic exist on the next open. */
    rc = log_topic_file_write(topic_path, partitions);
    if (rc != 0) {
        util_errf(err, errlen, "log: cannot write %s: %s", topic_path, strerror(-rc));
        rc = log_errno_rc(rc);
        goto out;
    }
    rc = log_add_topic_locked(s, t);
    if (rc == SPOOL_OK)
        t = NULL;
out:
    pthread_mutex_unlock(&s->mu);
    log_topic_free(t);
    free(topic_path);
    return rc;
}

int32_t log_topic_partitions(log_store *s, const char *topic)
{
    log_topic *t;
    int32_t n;

    if (s == NULL || topic == NULL)
        return -1;
    pthread_mutex_lock(&s->mu);
    t = log_find_topic_locked(s, topic);
    n = t ? t->count : -1;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- Recovery --------------------------------------------------------------------- */

/* Verifies a segment up to its committed (end offset, byte length) and cuts off what
 * lies beyond. buf/cap is a scratch buffer reused across partitions. */
static int log_partition_recover(log_partition *p, int64_t end_offset, uint64_t end_pos,
                                 uint8_t **buf, size_t *cap, char *err, size_t errlen)
{
    struct stat st;
    uint64_t pos = 0;
    int64_t next = p->seg_base;
    char why[256];
    int rc = SPOOL_OK;

    if (fstat(p->fd, &st) != 0) {
        util_errf(err, errlen, "log: cannot stat %s: %s", p->seg_path, strerror(errno));
        return LOG_EIO;
    }
    if ((uint64_t)st.st_size < end_pos) {
        util_errf(err, errlen, "log: %s is %lld bytes but COMMIT says %llu bytes (offsets "
                  "below %lld) are committed: committed data is missing; restore the "
                  "partition from a backup", p->seg_path, (long long)st.st_size,
                  (unsigned long long)end_pos, (long long)end_offset);
        return LOG_ECORRUPT;
    }
    while (pos < end_pos) {
        log_batch_hdr h;
        uint64_t avail = end_pos - pos;
        size_t want = avail < LOG_BATCH_HDR ? (size_t)avail : LOG_BATCH_HDR;
        ssize_t got;

        if (*cap < LOG_BATCH_HDR) {
            uint8_t *nb = realloc(*buf, LOG_BATCH_HDR);
            if (nb == NULL)
                return SPOOL_ENOMEM;
            *buf = nb;
            *cap = LOG_BATCH_HDR;
        }
        got = util_pread_all(p->fd, *buf, want, (off_t)pos);
        if (got < 0)
            goto io_error;
        rc = log_batch_peek(*buf, (size_t)got, &h, why, sizeof why);
        if (rc == 0) {
            util_errf(why, sizeof why, "a batch header is cut short by the committed end");
            rc = LOG_ECORRUPT;
        }
        if (rc < 0)
            goto corrupt;
        if (h.length > avail) {
            util_errf(why, sizeof why, "batch length %u runs past the committed end at "
                      "byte %llu", h.length, (unsigned long long)end_pos);
            goto corrupt;
        }
        if (*cap < h.length) {
            uint8_t *nb = realloc(*buf, h.length);
            if (nb == NULL)
                return SPOOL_ENOMEM;
            *buf = nb;
            *cap = h.length;
        }
        got = util_pread_all(p->fd, *buf, h.length, (off_t)pos);
        if (got < 0)
            goto io_error;
        if (log_batch_verify(*buf, (size_t)got, &h, why, sizeof why) != SPOOL_OK)
            goto corrupt;
        if (h.base_offset != next) {
            util_errf(why, sizeof why, "batch base offset %lld where %lld was expected",
                      (long long)h.base_offset, (long long)next);
            goto corrupt;
        }
        next += h.count;
        pos += h.length;
    }
    if (next != end_offset) {
        util_errf(err, errlen, "log: %s: the committed %llu bytes hold offsets up to %lld "
                  "but COMMIT says %lld; the segment or COMMIT is damaged, restore from a "
                  "backup", p->seg_path, (unsigned long long)end_pos, (long long)next,
                  (long long)end_offset);
        return LOG_ECORRUPT;
    }
    if ((uint64_t)st.st_size > end_pos) {
        /* The torn or uncommitted tail: never acknowledged, so it is safe to drop. */
        if (ftruncate(p->fd, (off_t)end_pos) != 0 || fsync(p->fd) != 0) {
            util_errf(err, errlen, "log: cannot cut the uncommitted tail of %s back to byte "
                      "%llu: %s", p->seg_path, (unsigned long long)end_pos, strerror(errno));
            return LOG_EIO;
        }
    }
    p->end_offset = end_offset;
    p->end_pos = end_pos;
    return SPOOL_OK;
corrupt:
    util_errf(err, errlen, "log: corrupt committed data in %s at byte %llu (offset %lld, "
              "committed end %lld): %s; refusing to serve past it, restore the partition "
              "from a backup or repair explicitly", p->seg_path, (unsigned long long)pos,
              (long long)next, (long long)end_offset, why);
    return LOG_ECORRUPT;
io_error:
    util_errf(err, errlen, "log: cannot read %s at byte %llu: %s", p->seg_path,
              (unsigned long long)pos, strerror(errno));
    return LOG_EIO;
}

/* Loads every topic directory that has a TOPIC file. Directories without one are
 * leftovers of an interrupted log_topic_create() and are skipped. */
static int log_load_topics(log_store *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->topics_dir);
    struct dirent *de;
    int rc = SPOOL_OK;

    if (d == NULL) {
        util_errf(err, errlen, "log: cannot open %s: %s", s->topics_dir, strerror(errno));
        return LOG_EIO;
    }
    while ((de = readdir(d)) != NULL) {
        char *path = NULL;
        int32_t count = 0;
        log_topic *t = NULL;

        if (!log_topic_name_valid(de->d_name))
            continue;
        path = log_pathf("%s/%s/TOPIC", s->topics_dir, de->d_name);
        if (path == NULL) {
            rc = SPOOL_ENOMEM;
            break;
        }
        rc = log_topic_file_read(path, &count, err, errlen);
        free(path);
        if (rc != SPOOL_OK)
            break;
        if (count == 0)
            continue;
        t = log_topic_alloc(s, de->d_name, count);
        if (t == NULL || log_add_topic_locked(s, t) != SPOOL_OK) {
            log_topic_free(t);
            rc = SPOOL_ENOMEM;
            break;
        }
    }
    closedir(d);
    return rc;
}

/* 1 when any segment under topics/ holds bytes (used when COMMIT is missing). */
static int log_any_segment_bytes(log_store *s)
{
    for (size_t i = 0; i < s->ntopics; i++) {
        for (int32_t j = 0; j < s->topics[i]->count; j++) {
            struct stat st;
            if (stat(s->topics[i]->parts[j].seg_path, &st) == 0 && st.st_size > 0)
                return 1;
        }
    }
    return 0;
}

static int log_recover(log_store *s, char *err, size_t errlen)
{
    log_commit_image img = {0};
    void *raw = NULL;
    size_t rawlen = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    char why[256];
    int rc = log_load_topics(s, err, errlen);

    if (rc != SPOOL_OK)
        goto out;
    rc = util_read_file(s->commit_path, LOG_MAX_COMMIT_BYTES, &raw, &rawlen);
    if (rc == -ENOENT) {
        if (log_any_segment_bytes(s)) {
            util_errf(err, errlen, "log: %s is missing but segments under %s hold data: "
                      "the commit record was lost; restore it from a backup", s->commit_path,
                      s->topics_dir);
            rc = LOG_ECORRUPT;
            goto out;
        }
    } else if (rc != 0) {
        util_errf(err, errlen, "log: cannot read %s: %s", s->commit_path, strerror(-rc));
        rc = rc == -EFBIG ? LOG_ECORRUPT : log_errno_rc(rc);
        goto out;
    } else {
        rc = log_commit_image_decode(raw, rawlen, &img, why, sizeof why);
        if (rc != SPOOL_OK) {
            util_errf(err, errlen, "log: %s is damaged: %s; restore it from a backup",
                      s->commit_path, why);
            goto out;
        }
    }
    s->seq = img.seq;
    s->sources = img.sources;
    s->nsources = s->capsources = img.nsources;
    img.sources = NULL;
    img.nsources = 0;

    /* Open every segment, then verify those COMMIT names; unnamed ones hold nothing. */
    for (size_t i = 0; i < s->ntopics; i++) {
        log_topic *t = s->topics[i];
        for (int32_t j = 0; j < t->count; j++) {
            log_partition *p = &t->parts[j];
            p->fd = open(p->seg_path, O_RDWR | O_CLOEXEC);
            if (p->fd < 0 && errno == ENOENT)
                continue; /* checked below against COMMIT */
            if (p->fd < 0) {
                util_errf(err, errlen, "log: cannot open %s: %s", p->seg_path,
                          strerror(errno));
                rc = LOG_EIO;
                goto out;
            }
        }
    }
    for (size_t i = 0; i < img.count; i++) {
        log_commit_entry *e = &img.entries[i];
        log_partition *p = log_find_partition_locked(s, e->topic, e->partition);
        if (p == NULL) {
            if (e->end_offset == 0)
                continue;
            util_errf(err, errlen, "log: %s lists %s/%d with committed end offset %lld but "
                      "%s/%s/TOPIC is missing or has fewer partitions; restore the topic "
                      "from a backup", s->commit_path, e->topic, e->partition,
                      (long long)e->end_offset, s->topics_dir, e->topic);
            rc = LOG_ECORRUPT;
            goto out;
        }
        if (e->seg_base != p->seg_base) {
            util_errf(err, errlen, "log: %s names segment base %lld for %s/%d, this build "
                      "has one segment per partition at base 0", s->commit_path,
                      (long long)e->seg_base, e->topic, e->partition);
            rc = LOG_ECORRUPT;
            goto out;
        }
        if (p->fd < 0) {
            if (e->end_offset == 0 && e->seg_len == 0)
                continue; /* recreated below */
            util_errf(err, errlen, "log: %s is missing but COMMIT says offsets below %lld "
                      "are committed in it; restore the partition from a backup",
                      p->seg_path, (long long)e->end_offset);
            rc = LOG_ECORRUPT;
            goto out;
        }
        p->recovered = 1;
        rc = log_partition_recover(p, e->end_offset, e->seg_len, &buf, &cap, err, errlen);
        if (rc != SPOOL_OK)
            goto out;
    }
    for (size_t i = 0; i < s->ntopics; i++) {
        log_topic *t = s->topics[i];
        for (int32_t j = 0; j < t->count; j++) {
            log_partition *p = &t->parts[j];
            if (p->recovered)
                continue;
            /* Not in COMMIT: nothing of it was ever committed. */
            if (p->fd < 0) {
                rc = log_partition_create(p, err, errlen);
                rc = rc == 0 ? SPOOL_OK : log_errno_rc(rc);
            } else {
                rc = log_partition_recover(p, 0, 0, &buf, &cap, err, errlen);
            }
            if (rc != SPOOL_OK)
                goto out;
        }
    }
    if (raw == NULL) {
        /* First open: write an empty COMMIT so that its later absence means loss. */
        uint8_t *image = NULL;
        size_t image_len = 0;
        rc = log_commit_image_encode(s, 0, s->seq, s->sources, s->nsources, &image,
                                     &image_len);
        if (rc == SPOOL_OK) {
            rc = util_atomic_replace_file(s->commit_path, image, image_len);
            if (rc != 0) {
                util_errf(err, errlen, "log: cannot write %s: %s", s->commit_path,
                          strerror(-rc));
                rc = log_errno_rc(rc);
            }
        }
        free(image);
    }
out:
    log_commit_image_free(&img);
    free(raw);
    free(buf);
    return rc;
}

/* ---- Open and close --------------------------------------------------------------- */

int log_open(const char *dir, log_store **out, char *err, size_t errlen)
{
    log_store *s = NULL;
    char *lock_path = NULL;
    pthread_condattr_t ca;
    int rc = SPOOL_OK, sync_ok = 0;

    *out = NULL;
    if (dir == NULL || *dir == '\0') {
        util_errf(err, errlen, "log: no data directory given");
        return SPOOL_EINVAL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return SPOOL_ENOMEM;
    s->lock_fd = -1;
    s->dir = strdup(dir);
    s->commit_path = log_pathf("%s/COMMIT", dir);
    s->topics_dir = log_pathf("%s/topics", dir);
    lock_path = log_pathf("%s/LOCK", dir);
    if (s->dir == NULL || s->commit_path == NULL || s->topics_dir == NULL ||
        lock_path == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    /* The clock of data_cv is monotonic so that log_wait() ignores wall-clock jumps. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->commit_cv, NULL);
    pthread_cond_init(&s->data_cv, &ca);
    pthread_condattr_destroy(&ca);
    sync_ok = 1;

    rc = util_mkdir_p(dir);
    if (rc != 0) {
        util_errf(err, errlen, "log: cannot create data directory %s: %s", dir, strerror(-rc));
        rc = log_errno_rc(rc);
        goto out;
    }
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        util_errf(err, errlen, "log: cannot open %s: %s", lock_path, strerror(errno));
        rc = LOG_EIO;
        goto out;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            util_errf(err, errlen, "log: data directory %s is in use by another spool "
                      "process (lock %s is held); stop it or use another data directory",
                      dir, lock_path);
            rc = LOG_ELOCKED;
        } else {
            util_errf(err, errlen, "log: cannot lock %s: %s", lock_path, strerror(errno));
            rc = LOG_EIO;
        }
        goto out;
    }
    rc = util_mkdir_p(s->topics_dir);
    if (rc != 0) {
        util_errf(err, errlen, "log: cannot create %s: %s", s->topics_dir, strerror(-rc));
        rc = log_errno_rc(rc);
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    rc = log_recover(s, err, errlen);
    pthread_mutex_unlock(&s->mu);
    if (rc == SPOOL_ENOMEM)
        util_errf(err, errlen, "log: out of memory opening %s", dir);
out:
    free(lock_path);
    if (rc != SPOOL_OK) {
        if (!sync_ok) {
            /* log_close() destroys the mutex and conditions; create them to destroy. */
            pthread_mutex_init(&s->mu, NULL);
            pthread_cond_init(&s->commit_cv, NULL);
            pthread_cond_init(&s->data_cv, NULL);
        }
        log_close(s);
        return rc;
    }
    *out = s;
    return SPOOL_OK;
}

void log_close(log_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntopics; i++)
        log_topic_free(s->topics[i]);
    free(s->topics);
    for (size_t i = 0; i < s->nsources; i++) {
        free(s->sources[i].name);
        free(s->sources[i].pos);
    }
    free(s->sources);
    /* Closing the descriptor releases the flock. */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->commit_cv);
    pthread_cond_destroy(&s->data_cv);
    free(s->dir);
    free(s->commit_path);
    free(s->topics_dir);
    free(s);
}

/* ---- Committed state ---------------------------------------------------------------- */

int log_source_position(log_store *s, const char *source, void **pos, size_t *len)
{
    int rc = SPOOL_OK;

    if (s == NULL || source == NULL || pos == NULL || len == NULL)
        return SPOOL_EINVAL;
    *pos = NULL;
    *len = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nsources; i++) {
        if (strcmp(s->sources[i].name, source) != 0 || s->sources[i].len == 0)
            continue;
        *pos = malloc(s->sources[i].len);
        if (*pos == NULL) {
            rc = SPOOL_ENOMEM;
            break;
        }
        memcpy(*pos, s->sources[i].pos, s->sources[i].len);
        *len = s->sources[i].len;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int64_t log_end_offset(log_store *s, const char *topic, int32_t partition)
{
    log_partition *p;
    int64_t end;

    if (s == NULL || topic == NULL)
        return -1;
    pthread_mutex_lock(&s->mu);
    p = log_find_partition_locked(s, topic, partition);
    end = p ? p->end_offset : -1;
    pthread_mutex_unlock(&s->mu);
    return end;
}

int64_t log_start_offset(log_store *s, const char *topic, int32_t partition)
{
    log_partition *p;
    int64_t start;

    if (s == NULL || topic == NULL)
        return -1;
    pthread_mutex_lock(&s->mu);
    p = log_find_partition_locked(s, topic, partition);
    start = p ? p->seg_base : -1;
    pthread_mutex_unlock(&s->mu);
    return start;
}

uint64_t log_commit_seq(log_store *s)
{
    uint64_t seq;

    pthread_mutex_lock(&s->mu);
    seq = s->seq;
    pthread_mutex_unlock(&s->mu);
    return seq;
}

uint64_t log_wait(log_store *s, uint64_t seen, int timeout_ms)
{
    struct timespec deadline;
    uint64_t seq, wake;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->mu);
    wake = s->wake_gen;
    /* timeout_ms < 0 waits without limit; 0 only reads the sequence. */
    while (s->seq == seen && s->wake_gen == wake && timeout_ms != 0) {
        int e = timeout_ms < 0 ? pthread_cond_wait(&s->data_cv, &s->mu)
                               : pthread_cond_timedwait(&s->data_cv, &s->mu, &deadline);
        if (e == ETIMEDOUT)
            break;
    }
    seq = s->seq;
    pthread_mutex_unlock(&s->mu);
    return seq;
}

void log_wakeup(log_store *s)
{
    pthread_mutex_lock(&s->mu);
    s->wake_gen++;
    pthread_cond_broadcast(&s->data_cv);
    pthread_mutex_unlock(&s->mu);
}

void log_last_error(log_store *s, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    pthread_mutex_lock(&s->mu);
    util_errf(buf, len, "%s", s->last_error);
    pthread_mutex_unlock(&s->mu);
}

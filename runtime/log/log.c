/* log.c - the store: open and recovery, topics, segments on disk, committed state.
 *
 * Recovery trusts the commit point: the commit journal's last valid record (log_journal.c;
 * a legacy COMMIT file is read instead when there is no journal, and converted). For
 * each partition it holds the committed end offset,
 * the start offset (retention's), the base and committed byte length of the active
 * segment, and how far the partition was last made durable. Segment files below the
 * start or past the active one are leftovers of an interrupted retention or roll and
 * are removed. Sealed segments are adopted by their .index file when its size and
 * offsets agree with the files around it; otherwise a full verifying scan rebuilds it.
 * The active segment is scanned and verified batch by batch (bounds, CRC, records,
 * offsets without a gap) and must land exactly on the committed (offset, byte) pair.
 * Anything short of it is damage to acknowledged data: LOG_ECORRUPT naming file, byte
 * and offset, and nothing is changed on disk, except for topics whose durability is
 * interval or none, where data past the durable end may be lost to a machine crash as
 * documented: that is cut back with a warning. Bytes past the committed length (a torn
 * or uncommitted append) were never acknowledged and are cut off with ftruncate + fsync.
 *
 * A read-only store (tools beside a running worker) takes no lock and changes nothing:
 * it reads the journal once and serves that snapshot. A writable open starts a new
 * journal file holding the recovered state.
 */
#include <dirent.h>
#include <ftw.h>
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

int log_fault(log_store *s, log_io_op op, const char *path)
{
    return s->fault ? s->fault(s->fault_ctx, op, path) : 0;
}

int64_t log_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void log_warn(log_store *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->opts.warn)
        s->opts.warn(s->opts.warn_ctx, msg);
    else
        fprintf(stderr, "spool: warning: %s\n", msg);
}

int log_durability_parse(const char *str)
{
    static const char *names[] = {"default", "batch", "interval", "none"};

    for (int i = 0; str && i < 4; i++)
        if (strcmp(str, names[i]) == 0)
            return i;
    return -1;
}

const char *log_durability_name(log_durability d)
{
    static const char *names[] = {"default", "batch", "interval", "none"};
    return (unsigned)d < 4 ? names[d] : "?";
}

void log_topic_config_init(log_topic_config *c)
{
    memset(c, 0, sizeof *c);
    c->partitions = 1;
    c->segment_bytes = LOG_DEFAULT_SEGMENT_BYTES;
    c->segment_ms = LOG_DEFAULT_SEGMENT_MS;
    c->retention_ms = -1;
    c->retention_bytes = -1;
    c->flush_interval_ms = LOG_DEFAULT_FLUSH_INTERVAL_MS;
}

/* Fills in defaults for 0 fields and checks ranges. */
static int log_topic_config_resolve(log_topic_config *c, const char *topic, char *err,
                                    size_t errlen)
{
    if (c->segment_bytes == 0)
        c->segment_bytes = LOG_DEFAULT_SEGMENT_BYTES;
    if (c->segment_ms == 0)
        c->segment_ms = LOG_DEFAULT_SEGMENT_MS;
    if (c->retention_ms == 0)
        c->retention_ms = -1;
    if (c->retention_bytes == 0)
        c->retention_bytes = -1;
    if (c->flush_interval_ms == 0)
        c->flush_interval_ms = LOG_DEFAULT_FLUSH_INTERVAL_MS;
    c->keep_unconsumed = c->keep_unconsumed != 0;
    if (c->partitions <= 0 || c->partitions > 100000) {
        util_errf(err, errlen, "log: topic \"%s\": partition count %d must be 1..100000",
                  topic, c->partitions);
        return SPOOL_EINVAL;
    }
    if (c->segment_bytes < 1024 || c->segment_bytes > (1ll << 30) ||
        (c->segment_ms < 1 && c->segment_ms != -1) ||
        (c->retention_ms < 1 && c->retention_ms != -1) ||
        (c->retention_bytes < 1 && c->retention_bytes != -1) || c->flush_interval_ms < 1 ||
        (unsigned)c->durability > LOG_DURABILITY_NONE) {
        util_errf(err, errlen, "log: topic \"%s\": invalid settings (segment_bytes must be "
                  "1 KiB..1 GiB, times and sizes positive or -1 for none, durability "
                  "batch, interval or none)", topic);
        return SPOOL_EINVAL;
    }
    return SPOOL_OK;
}

log_durability log_topic_durability(const log_store *s, const log_topic *t)
{
    if (t->cfg.durability != LOG_DURABILITY_DEFAULT)
        return t->cfg.durability;
    if (s->opts.durability != LOG_DURABILITY_DEFAULT)
        return s->opts.durability;
    return LOG_DURABILITY_BATCH;
}

static void log_partition_clear(log_partition *p)
{
    for (size_t k = 0; k < p->nsegs; k++)
        log_segment_unref_locked(p->segs[k]);
    free(p->segs);
    p->segs = NULL;
    p->nsegs = p->capsegs = 0;
}

static void log_topic_free(log_topic *t)
{
    if (t == NULL)
        return;
    for (int32_t i = 0; t->parts && i < t->count; i++) {
        log_partition_clear(&t->parts[i]);
        free(t->parts[i].dir);
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

/* A new topic object with partition paths filled in and no segment. */
static log_topic *log_topic_alloc(log_store *s, const char *name, const log_topic_config *cfg)
{
    log_topic *t = calloc(1, sizeof *t);
    int32_t count = cfg->partitions;

    if (t == NULL)
        return NULL;
    t->cfg = *cfg;
    t->name = strdup(name);
    t->dir = log_pathf("%s/%s", s->topics_dir, name);
    t->parts = calloc((size_t)count, sizeof *t->parts);
    if (t->name == NULL || t->dir == NULL || t->parts == NULL)
        goto fail;
    t->count = count;
    for (int32_t i = 0; i < count; i++) {
        log_partition *p = &t->parts[i];
        p->topic = t;
        p->id = i;
        p->dir = log_pathf("%s/%d", t->dir, i);
        if (p->dir == NULL)
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

int log_reserve_segments_locked(log_partition *p, size_t extra)
{
    size_t ncap = p->capsegs ? p->capsegs : 4;
    log_segment **n;

    if (p->nsegs + extra <= p->capsegs)
        return SPOOL_OK;
    while (ncap < p->nsegs + extra)
        ncap *= 2;
    n = realloc(p->segs, ncap * sizeof *n);
    if (n == NULL)
        return SPOOL_ENOMEM;
    p->segs = n;
    p->capsegs = ncap;
    return SPOOL_OK;
}

int log_push_segment_locked(log_partition *p, log_segment *seg)
{
    if (log_reserve_segments_locked(p, 1) != SPOOL_OK)
        return SPOOL_ENOMEM;
    p->segs[p->nsegs++] = seg;
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

#define LOG_TOPIC_BODY_V2 52u

static int log_topic_file_write(const char *path, const log_topic_config *c)
{
    uint8_t buf[UTIL_META_HDR + LOG_TOPIC_BODY_V2];
    uint8_t *p = buf + UTIL_META_HDR;

    util_put_u32(p, (uint32_t)c->partitions);
    util_put_u64(p + 4, (uint64_t)c->segment_bytes);
    util_put_u64(p + 12, (uint64_t)c->segment_ms);
    util_put_u64(p + 20, (uint64_t)c->retention_ms);
    util_put_u64(p + 28, (uint64_t)c->retention_bytes);
    util_put_u32(p + 36, (uint32_t)c->durability);
    util_put_u64(p + 40, (uint64_t)c->flush_interval_ms);
    util_put_u32(p + 48, c->keep_unconsumed ? 1u : 0u);
    util_meta_seal(buf, sizeof buf, LOG_TOPIC_MAGIC, LOG_TOPIC_VERSION);
    return util_atomic_replace_file(path, buf, sizeof buf);
}

/* Reads a TOPIC file: cfg->partitions 0 when absent, or a negative log code. */
static int log_topic_file_read(const char *path, log_topic_config *c, char *err,
                               size_t errlen)
{
    void *buf = NULL;
    size_t len = 0;
    uint16_t version = 0;
    char why[256] = "";
    const uint8_t *p;
    int rc = util_read_file(path, 4096, &buf, &len);

    log_topic_config_init(c);
    c->partitions = 0;
    if (rc == -ENOENT)
        return SPOOL_OK;
    if (rc != 0) {
        util_errf(err, errlen, "log: cannot read %s: %s", path, strerror(-rc));
        rc = rc == -EFBIG ? LOG_ECORRUPT : log_errno_rc(rc);
        goto out;
    }
    if (util_meta_check(buf, len, LOG_TOPIC_MAGIC, LOG_TOPIC_VERSION, &version, why,
                        sizeof why) != 0 ||
        len != UTIL_META_HDR + (version == 1 ? 4u : LOG_TOPIC_BODY_V2)) {
        util_errf(err, errlen, "log: %s is damaged (%s); restore it from a backup",
                  path, why[0] == 0 ? "wrong size" : why);
        rc = LOG_ECORRUPT;
        goto out;
    }
    p = (const uint8_t *)buf + UTIL_META_HDR;
    c->partitions = util_u32_to_i32(util_get_u32(p));
    if (version >= 2) {
        c->segment_bytes = util_u64_to_i64(util_get_u64(p + 4));
        c->segment_ms = util_u64_to_i64(util_get_u64(p + 12));
        c->retention_ms = util_u64_to_i64(util_get_u64(p + 20));
        c->retention_bytes = util_u64_to_i64(util_get_u64(p + 28));
        c->durability = (log_durability)util_get_u32(p + 36);
        c->flush_interval_ms = util_u64_to_i64(util_get_u64(p + 40));
        c->keep_unconsumed = (int)(util_get_u32(p + 48) & 1u);
    }
    if (c->partitions <= 0 || log_topic_config_resolve(c, "", why, sizeof why) != SPOOL_OK) {
        util_errf(err, errlen, "log: %s is damaged (impossible settings, partition count "
                  "%d); restore it from a backup", path, c->partitions);
        c->partitions = 0;
        rc = LOG_ECORRUPT;
        goto out;
    }
    rc = SPOOL_OK;
out:
    free(buf);
    return rc;
}

/* ---- Segment files ------------------------------------------------------------------ */

int log_segment_create(log_store *s, log_segment *seg, const char *dir, char *err,
                              size_t errlen)
{
    int e = log_fault(s, LOG_IO_ROLL, seg->path);
    int fd = -1;

    if (e == 0) {
        fd = open(seg->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || ftruncate(fd, 0) != 0 || fsync(fd) != 0)
            e = errno;
    }
    if (e == 0)
        e = -util_fsync_dir(dir);
    if (e != 0) {
        util_errf(err, errlen, "log: cannot create segment %s: %s", seg->path, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    seg->fd = fd;
    seg->created_ms = log_wall_ms();
    return 0;
}

/* The bases of the segment files in dir, sorted. */
static int log_list_segments(const char *dir, int64_t **bases, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int64_t *v = NULL;
    size_t cnt = 0, cap = 0;

    *bases = NULL;
    *n = 0;
    if (d == NULL)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        int64_t base = 0;
        size_t i;
        for (i = 0; i < 20 && nm[i] >= '0' && nm[i] <= '9'; i++)
            base = base * 10 + (nm[i] - '0');
        if (i != 20 || strcmp(nm + 20, ".log") != 0 || base < 0)
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, ncap * sizeof *nv);
            if (nv == NULL) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        v[cnt++] = base;
    }
    closedir(d);
    for (size_t i = 1; i < cnt; i++) /* insertion sort: lists are short and nearly sorted */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t tmp = v[j];
            v[j] = v[j - 1];
            v[j - 1] = tmp;
        }
    *bases = v;
    *n = cnt;
    return 0;
}

/* Removes a segment and its index (retention leftovers, uncommitted rolls). */
static int log_segment_unlink(log_store *s, const char *dir, int64_t base)
{
    log_segment *tmp = log_segment_new(dir, base);
    int e = 0;

    if (tmp == NULL)
        return -ENOMEM;
    e = log_fault(s, LOG_IO_UNLINK, tmp->path);
    if (e == 0 && unlink(tmp->path) != 0 && errno != ENOENT)
        e = errno;
    if (e == 0 && unlink(tmp->idx_path) != 0 && errno != ENOENT)
        e = errno;
    log_segment_unref_locked(tmp);
    return -e;
}

/* ---- Creating and deleting topics ------------------------------------------------- */

static int log_partition_create(log_store *s, log_partition *p, char *err, size_t errlen)
{
    log_segment *seg;
    int rc = util_mkdir_p(p->dir);

    if (rc != 0) {
        util_errf(err, errlen, "log: cannot create directory %s: %s", p->dir, strerror(-rc));
        return rc;
    }
    seg = log_segment_new(p->dir, 0);
    if (seg == NULL)
        return -ENOMEM;
    rc = log_segment_create(s, seg, p->dir, err, errlen);
    if (rc == 0)
        rc = log_push_segment_locked(p, seg) == SPOOL_OK ? 0 : -ENOMEM;
    if (rc != 0) {
        log_segment_unref_locked(seg);
        return rc;
    }
    p->start_offset = p->end_offset = p->durable_end = 0;
    return 0;
}

int log_topic_create(log_store *s, const char *topic, int32_t partitions, char *err,
                     size_t errlen)
{
    log_topic_config c;

    log_topic_config_init(&c);
    c.partitions = partitions;
    return log_topic_create_ex(s, topic, &c, err, errlen);
}

int log_topic_create_ex(log_store *s, const char *topic, const log_topic_config *cfg,
                        char *err, size_t errlen)
{
    log_topic *t = NULL;
    char *topic_path = NULL;
    log_topic_config c;
    int rc = SPOOL_OK;

    if (s == NULL || cfg == NULL || !log_topic_name_valid(topic)) {
        util_errf(err, errlen, "log: invalid topic name \"%s\": use 1-249 letters, digits, "
                  "'.', '_' or '-', not \".\" or \"..\"", topic ? topic : "(null)");
        return SPOOL_EINVAL;
    }
    c = *cfg;
    rc = log_topic_config_resolve(&c, topic, err, errlen);
    if (rc != SPOOL_OK)
        return rc;
    if (s->opts.read_only) {
        util_errf(err, errlen, "log: %s is open read-only", s->dir);
        return SPOOL_EINVAL;
    }
    /* Holding the lock across this I/O serialises topic changes; they are rare, and the
     * commit leader only needs the lock briefly before and after its own I/O. */
    pthread_mutex_lock(&s->mu);
    log_lead_locked(s);
    t = log_find_topic_locked(s, topic);
    if (t != NULL) {
        if (t->count != c.partitions) {
            util_errf(err, errlen, "log: topic \"%s\" exists with %d partitions, not %d; "
                      "partition counts cannot change", topic, t->count, c.partitions);
            rc = SPOOL_EINVAL;
        } else if (memcmp(&t->cfg, &c, sizeof c) != 0) {
            topic_path = log_pathf("%s/TOPIC", t->dir);
            rc = topic_path ? log_topic_file_write(topic_path, &c) : -ENOMEM;
            if (rc != 0) {
                util_errf(err, errlen, "log: cannot write %s: %s",
                          topic_path ? topic_path : topic, strerror(-rc));
                rc = log_errno_rc(rc);
            } else {
                t->cfg = c;
            }
        }
        t = NULL;
        goto out;
    }
    t = log_topic_alloc(s, topic, &c);
    topic_path = t ? log_pathf("%s/TOPIC", t->dir) : NULL;
    if (topic_path == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    for (int32_t i = 0; i < c.partitions; i++) {
        rc = log_partition_create(s, &t->parts[i], err, errlen);
        if (rc != 0) {
            rc = log_errno_rc(rc);
            goto out;
        }
    }
    /* TOPIC last: it is what makes the topic exist on the next open. */
    rc = log_topic_file_write(topic_path, &c);
    if (rc != 0) {
        util_errf(err, errlen, "log: cannot write %s: %s", topic_path, strerror(-rc));
        rc = log_errno_rc(rc);
        goto out;
    }
    rc = log_add_topic_locked(s, t);
    if (rc == SPOOL_OK)
        t = NULL;
out:
    log_unlead_locked(s);
    pthread_mutex_unlock(&s->mu);
    log_topic_free(t);
    free(topic_path);
    return rc;
}

static int log_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* Removes DATA_DIR/trash/ (topics whose delete was interrupted), durably. */
static int log_empty_trash(log_store *s)
{
    char *trash = log_pathf("%s/trash", s->dir);
    struct stat st;
    int rc = 0;

    if (trash == NULL)
        return -ENOMEM;
    if (stat(trash, &st) == 0) {
        if (nftw(trash, log_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
            rc = -errno;
        if (rc == 0)
            rc = util_fsync_dir(s->dir);
    }
    free(trash);
    return rc;
}

int log_topic_delete(log_store *s, const char *topic, char *err, size_t errlen)
{
    log_topic *t;
    uint8_t *image = NULL;
    size_t image_len = 0;
    char *trash = NULL, *dest = NULL;
    int rc = SPOOL_OK, e;

    if (s == NULL || topic == NULL)
        return SPOOL_EINVAL;
    if (s->opts.read_only) {
        util_errf(err, errlen, "log: %s is open read-only", s->dir);
        return SPOOL_EINVAL;
    }
    pthread_mutex_lock(&s->mu);
    log_lead_locked(s);
    t = log_find_topic_locked(s, topic);
    if (t == NULL) {
        util_errf(err, errlen, "log: no topic \"%s\"", topic);
        rc = LOG_ENOTOPIC;
        goto out;
    }
    if (s->failed) {
        util_errf(err, errlen, "log: the store has failed: %s", s->last_error);
        rc = LOG_EIO;
        goto out;
    }
    /* 1. COMMIT forgets the topic: from here on it holds nothing committed. */
    s->exclude = t;
    rc = log_commit_image_encode(s, 0, s->seq, s->sources, s->nsources, &image, &image_len);
    s->exclude = NULL;
    if (rc != SPOOL_OK)
        goto out;
    trash = log_pathf("%s/trash", s->dir);
    dest = log_pathf("%s/trash/%s.%" PRIu64, s->dir, topic, s->seq);
    if (trash == NULL || dest == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    e = log_write_commit(s, image, image_len, 1);
    if (e != 0) {
        util_errf(err, errlen, "log: cannot write %s: %s", s->journal_path, strerror(-e));
        rc = log_errno_rc(e);
        if (rc == LOG_EIO)
            s->failed = 1;
        goto out;
    }
    /* 2. Out of topics/ (the name is free again), 3. gone. */
    e = util_mkdir_p(trash);
    if (e == 0 && rename(t->dir, dest) != 0)
        e = -errno;
    if (e == 0)
        e = util_fsync_dir(s->topics_dir);
    if (e == 0)
        e = log_empty_trash(s);
    for (size_t i = 0; i < s->ntopics; i++)
        if (s->topics[i] == t) {
            s->topics[i] = s->topics[--s->ntopics];
            break;
        }
    log_topic_free(t);
    if (e != 0) {
        util_errf(err, errlen, "log: topic \"%s\" is deleted but removing its files "
                  "failed (%s); the next open finishes it", topic, strerror(-e));
        rc = log_errno_rc(e);
    }
out:
    log_unlead_locked(s);
    pthread_mutex_unlock(&s->mu);
    free(image);
    free(trash);
    free(dest);
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

static int log_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int log_topic_names(log_store *s, char ***names, size_t *count)
{
    char **v;
    size_t n = 0;
    int rc = SPOOL_OK;

    pthread_mutex_lock(&s->mu);
    v = calloc(s->ntopics + 1, sizeof *v);
    if (v == NULL) {
        rc = SPOOL_ENOMEM;
    } else {
        for (; n < s->ntopics; n++) {
            v[n] = strdup(s->topics[n]->name);
            if (v[n] == NULL) {
                rc = SPOOL_ENOMEM;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != SPOOL_OK) {
        log_names_free(v, n);
        return rc;
    }
    qsort(v, n, sizeof *v, log_cmp_str);
    *names = v;
    *count = n;
    return SPOOL_OK;
}

void log_names_free(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

int log_topic_config_get(log_store *s, const char *topic, log_topic_config *cfg)
{
    log_topic *t;

    pthread_mutex_lock(&s->mu);
    t = log_find_topic_locked(s, topic);
    if (t != NULL)
        *cfg = t->cfg;
    pthread_mutex_unlock(&s->mu);
    return t ? SPOOL_OK : LOG_ENOTOPIC;
}

int log_partition_segments(log_store *s, const char *topic, int32_t partition,
                           log_segment_info **segs, size_t *count)
{
    log_partition *p;
    log_segment_info *v = NULL;
    int rc = SPOOL_OK;

    *segs = NULL;
    *count = 0;
    pthread_mutex_lock(&s->mu);
    p = log_find_partition_locked(s, topic, partition);
    if (p == NULL) {
        rc = LOG_ENOTOPIC;
    } else if (p->nsegs > 0) {
        v = calloc(p->nsegs, sizeof *v);
        if (v == NULL)
            rc = SPOOL_ENOMEM;
        for (size_t i = 0; v && i < p->nsegs; i++) {
            v[i].base = p->segs[i]->base;
            v[i].end = p->segs[i]->end;
            v[i].bytes = p->segs[i]->size;
            v[i].max_timestamp = p->segs[i]->max_ts;
            v[i].sealed = p->segs[i]->sealed;
        }
        *count = v ? p->nsegs : 0;
    }
    pthread_mutex_unlock(&s->mu);
    *segs = v;
    return rc;
}

/* ---- Leadership, flushing, maintenance ------------------------------------------- */

void log_lead_locked(log_store *s)
{
    while (s->leader)
        pthread_cond_wait(&s->commit_cv, &s->mu);
    s->leader = 1;
}

void log_unlead_locked(log_store *s)
{
    s->leader = 0;
    pthread_cond_broadcast(&s->commit_cv);
}

int log_flush_locked(log_store *s)
{
    uint64_t gen = ++s->group_gen;
    log_partition **v = NULL;
    size_t n = 0, cap = 0;
    uint8_t *image = NULL;
    size_t image_len = 0;
    char why[512] = "";
    int rc = SPOOL_OK, e = 0;

    if (s->failed)
        return LOG_EIO;
    for (size_t i = 0; i < s->ntopics; i++) {
        log_topic *t = s->topics[i];
        for (int32_t j = 0; j < t->count; j++) {
            log_partition *p = &t->parts[j];
            if (!p->dirty || p->nsegs == 0)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                log_partition **nv = realloc(v, ncap * sizeof *nv);
                if (nv == NULL) {
                    free(v);
                    return SPOOL_ENOMEM;
                }
                v = nv;
                cap = ncap;
            }
            v[n++] = p;
            p->plan_gen = gen;
            p->plan_end = p->end_offset;
            p->plan_pos = log_active(p)->size;
            p->plan_start = p->start_offset;
            p->plan_seg = log_active(p);
            p->plan_sync = 1;
        }
    }
    if (n == 0)
        goto out;
    rc = log_commit_image_encode(s, gen, s->seq, s->sources, s->nsources, &image,
                                 &image_len);
    if (rc != SPOOL_OK)
        goto out;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n && e == 0; i++) {
        log_segment *seg = v[i]->plan_seg;
        e = log_fault(s, LOG_IO_SYNC, seg->path);
        if (e == 0 && fdatasync(seg->fd) != 0)
            e = errno;
        if (e != 0)
            util_errf(why, sizeof why, "log: fdatasync of %s failed (%s); the store is "
                      "stopped to protect data, restart the worker to recover from disk",
                      seg->path, strerror(e));
    }
    if (e == 0) {
        e = -log_write_commit(s, image, image_len, 1);
        if (e != 0)
            util_errf(why, sizeof why, "log: writing the commit record to %s failed (%s); "
                      "the store is stopped to protect data", s->journal_path, strerror(e));
    }
    pthread_mutex_lock(&s->mu);
    if (e != 0) {
        s->failed = 1;
        memcpy(s->last_error, why, sizeof why);
        rc = LOG_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        v[i]->durable_end = v[i]->plan_end;
        v[i]->dirty = 0;
        v[i]->last_sync_ms = util_mono_ms();
    }
    s->last_durable_ms = util_mono_ms();
out:
    for (size_t i = 0; i < n; i++)
        v[i]->plan_gen = 0;
    free(v);
    free(image);
    return rc;
}

int log_flush(log_store *s)
{
    int rc;

    if (s == NULL || s->opts.read_only)
        return SPOOL_OK;
    pthread_mutex_lock(&s->mu);
    log_lead_locked(s);
    rc = log_flush_locked(s);
    log_unlead_locked(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int log_retention_run(log_store *s, int64_t now_ms)
{
    int rc;

    if (s == NULL || s->opts.read_only)
        return SPOOL_OK;
    pthread_mutex_lock(&s->mu);
    log_lead_locked(s);
    rc = log_retention_locked(s, now_ms);
    log_unlead_locked(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int log_maintain(log_store *s)
{
    int64_t now = util_mono_ms();
    int due = 0, rc = SPOOL_OK;

    if (s == NULL || s->opts.read_only)
        return SPOOL_OK;
    pthread_mutex_lock(&s->mu);
    log_lead_locked(s);
    for (size_t i = 0; i < s->ntopics && !due; i++) {
        log_topic *t = s->topics[i];
        if (log_topic_durability(s, t) != LOG_DURABILITY_INTERVAL)
            continue;
        for (int32_t j = 0; j < t->count && !due; j++)
            due = t->parts[j].dirty && now - t->parts[j].last_sync_ms >= t->cfg.flush_interval_ms;
    }
    if (due)
        rc = log_flush_locked(s);
    if (rc == SPOOL_OK &&
        now - s->last_retention_ms >= (s->opts.maintain_ms > 0 && s->opts.maintain_ms < 1000
                                           ? s->opts.maintain_ms : 1000)) {
        s->last_retention_ms = now;
        rc = log_retention_locked(s, log_wall_ms());
    }
    log_unlead_locked(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void *log_maint_main(void *arg)
{
    log_store *s = arg;
    struct timespec ts;

    pthread_mutex_lock(&s->mu);
    while (!s->maint_stop) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += s->opts.maintain_ms / 1000;
        ts.tv_nsec += (long)(s->opts.maintain_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->maint_cv, &s->mu, &ts);
        if (s->maint_stop)
            break;
        pthread_mutex_unlock(&s->mu);
        log_maintain(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- Recovery --------------------------------------------------------------------- */

/* Adopts the .index file of a sealed segment when it agrees with the segment file
 * (its size) and with the next segment (its end); 0 when it does, -1 otherwise. */
static int log_segment_adopt_index(log_segment *seg, uint64_t file_size, int64_t next_base)
{
    void *raw = NULL;
    size_t len = 0;
    log_index_image img;
    char why[256];
    int ok = -1;

    if (util_read_file(seg->idx_path, LOG_MAX_INDEX_BYTES, &raw, &len) != 0)
        return -1;
    if (log_index_decode(raw, len, &img, why, sizeof why) == SPOOL_OK) {
        if (img.base == seg->base && img.size == file_size && img.end == next_base &&
            (img.size == 0) == (img.end == img.base)) {
            free(seg->idx);
            seg->idx = img.entries;
            seg->nidx = seg->capidx = img.count;
            seg->idx_last = img.count ? img.entries[img.count - 1].pos : 0;
            seg->end = img.end;
            seg->size = img.size;
            seg->max_ts = img.max_ts;
            seg->created_ms = img.created_ms;
            img.entries = NULL;
            ok = 0;
        }
        free(img.entries);
    }
    free(raw);
    return ok;
}

static int64_t log_file_birth_ms(int fd)
{
    struct statx sx;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
        return (int64_t)sx.stx_btime.tv_sec * 1000 + sx.stx_btime.tv_nsec / 1000000;
    return log_wall_ms();
}

/* Loads one partition as COMMIT entry e describes it (NULL: nothing committed). */
static int log_partition_load(log_store *s, log_partition *p, const log_commit_entry *e,
                              int *rewrite, char *err, size_t errlen)
{
    log_commit_entry none = {0};
    int ro = s->opts.read_only;
    int64_t *bases = NULL;
    size_t nbases = 0, removed = 0;
    log_scan sc;
    struct stat st;
    log_segment *seg = NULL;
    int rc = SPOOL_OK, e2;

    if (e == NULL)
        e = &none;
    e2 = log_list_segments(p->dir, &bases, &nbases);
    if (e2 == -ENOENT) {
        if (e->end_offset > e->seg_base || e->seg_len > 0) {
            util_errf(err, errlen, "log: %s is missing but COMMIT says offsets below %lld "
                      "are committed in it; restore the partition from a backup", p->dir,
                      (long long)e->end_offset);
            return LOG_ECORRUPT;
        }
        nbases = 0;
    } else if (e2 != 0) {
        util_errf(err, errlen, "log: cannot list %s: %s", p->dir, strerror(-e2));
        return log_errno_rc(e2);
    }
    /* Leftovers of an interrupted retention (below the start) or roll (past the
     * committed segment) hold nothing committed. */
    for (size_t i = 0; i < nbases; i++) {
        if (bases[i] >= e->start_offset && bases[i] <= e->seg_base) {
            bases[removed++] = bases[i];
            continue;
        }
        if (!ro) {
            e2 = log_segment_unlink(s, p->dir, bases[i]);
            if (e2 != 0) {
                util_errf(err, errlen, "log: cannot remove leftover segment %020lld.log in "
                          "%s: %s", (long long)bases[i], p->dir, strerror(-e2));
                rc = LOG_EIO;
                goto out;
            }
        }
    }
    if (removed != nbases && !ro && util_fsync_dir(p->dir) != 0) {
        util_errf(err, errlen, "log: cannot fsync %s", p->dir);
        rc = LOG_EIO;
        goto out;
    }
    nbases = removed;
    if (nbases == 0 || bases[nbases - 1] != e->seg_base) {
        if (e->end_offset == e->seg_base && e->seg_len == 0 && nbases == 0) {
            /* Nothing committed: an empty active segment at the committed base. */
            seg = log_segment_new(p->dir, e->seg_base);
            if (seg == NULL) {
                rc = SPOOL_ENOMEM;
                goto out;
            }
            if (!ro) {
                e2 = util_mkdir_p(p->dir);
                if (e2 == 0)
                    e2 = log_segment_create(s, seg, p->dir, err, errlen);
                if (e2 != 0) {
                    rc = log_errno_rc(e2);
                    goto out;
                }
            }
            rc = log_push_segment_locked(p, seg);
            if (rc != SPOOL_OK)
                goto out;
            seg = NULL;
            p->start_offset = p->end_offset = p->durable_end = e->seg_base;
            goto out;
        }
        util_errf(err, errlen, "log: %s/%020lld.log is missing but COMMIT says offsets "
                  "below %lld are committed in it; restore the partition from a backup",
                  p->dir, (long long)e->seg_base, (long long)e->end_offset);
        rc = LOG_ECORRUPT;
        goto out;
    }
    if (bases[0] != e->start_offset) {
        util_errf(err, errlen, "log: %s/%020lld.log is missing: COMMIT says the partition "
                  "starts at offset %lld; restore the partition from a backup", p->dir,
                  (long long)e->start_offset, (long long)e->start_offset);
        rc = LOG_ECORRUPT;
        goto out;
    }
    for (size_t i = 0; i < nbases; i++) {
        int active = i + 1 == nbases;
        seg = log_segment_new(p->dir, bases[i]);
        if (seg == NULL) {
            rc = SPOOL_ENOMEM;
            goto out;
        }
        seg->fd = open(seg->path, (active && !ro ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (seg->fd < 0 || fstat(seg->fd, &st) != 0) {
            if (ro && errno == ENOENT && !active) {
                /* A worker beside us deleted it (retention) since we read COMMIT. */
                log_partition_clear(p);
                log_segment_unref_locked(seg);
                seg = NULL;
                continue;
            }
            util_errf(err, errlen, "log: cannot open %s: %s", seg->path, strerror(errno));
            rc = LOG_EIO;
            goto out;
        }
        if (!active) {
            seg->sealed = 1;
            if (log_segment_adopt_index(seg, (uint64_t)st.st_size, bases[i + 1]) != 0) {
                /* No trustworthy index: rebuild it from a full, verifying scan. */
                log_segment_scan(seg, (uint64_t)st.st_size, 1, &sc);
                if (sc.rc == SPOOL_ENOMEM || sc.rc == LOG_EIO) {
                    util_errf(err, errlen, "log: %s: %s", seg->path, sc.why);
                    rc = sc.rc;
                    goto out;
                }
                if (sc.rc != SPOOL_OK || sc.good_end != bases[i + 1]) {
                    util_errf(err, errlen, "log: corrupt committed data in %s at byte %llu "
                              "(offset %lld, topic %s partition %d, next segment starts at "
                              "%lld): %s; refusing to serve past it, restore the partition "
                              "from a backup or run 'spool verify --repair'", seg->path,
                              (unsigned long long)sc.good_pos, (long long)sc.good_end,
                              p->topic->name, p->id, (long long)bases[i + 1],
                              sc.rc != SPOOL_OK ? sc.why : "the segment ends early");
                    rc = LOG_ECORRUPT;
                    goto out;
                }
                seg->end = sc.good_end;
                seg->size = sc.good_pos;
                seg->max_ts = sc.max_ts;
                seg->created_ms = log_file_birth_ms(seg->fd);
                if (!ro) {
                    uint8_t *image = NULL;
                    size_t len = 0;
                    e2 = log_index_encode(seg, seg->end, seg->size, seg->max_ts, &image,
                                          &len) != SPOOL_OK ? -ENOMEM
                         : util_atomic_replace_file(seg->idx_path, image, len);
                    free(image);
                    if (e2 != 0) {
                        util_errf(err, errlen, "log: cannot rebuild %s: %s", seg->idx_path,
                                  strerror(-e2));
                        rc = log_errno_rc(e2);
                        goto out;
                    }
                }
                log_warn(s, "log: rebuilt the missing or stale index %s", seg->idx_path);
            }
        } else {
            uint64_t limit = e->seg_len;
            int64_t durable = e->durable_end;
            int lenient = log_topic_durability(s, p->topic) != LOG_DURABILITY_BATCH;
            if ((uint64_t)st.st_size < limit && !lenient) {
                util_errf(err, errlen, "log: %s is %lld bytes but COMMIT says %llu bytes "
                          "(offsets below %lld) are committed: committed data is missing; "
                          "restore the partition from a backup", seg->path,
                          (long long)st.st_size, (unsigned long long)limit,
                          (long long)e->end_offset);
                rc = LOG_ECORRUPT;
                goto out;
            }
            log_segment_scan(seg, limit, 1, &sc);
            if (sc.rc == SPOOL_ENOMEM || sc.rc == LOG_EIO) {
                util_errf(err, errlen, "log: %s: %s", seg->path, sc.why);
                rc = sc.rc;
                goto out;
            }
            if (sc.rc != SPOOL_OK || sc.good_end != e->end_offset) {
                if (!lenient || sc.good_end < durable) {
                    if (sc.rc == SPOOL_OK)
                        util_errf(err, errlen, "log: %s: the committed %llu bytes hold "
                                  "offsets up to %lld but COMMIT says %lld; the segment or "
                                  "COMMIT is damaged, restore from a backup", seg->path,
                                  (unsigned long long)limit, (long long)sc.good_end,
                                  (long long)e->end_offset);
                    else
                        util_errf(err, errlen, "log: corrupt committed data in %s at byte "
                                  "%llu (offset %lld, topic %s partition %d, committed end "
                                  "%lld): %s; refusing to serve past it, restore the "
                                  "partition from a backup or run 'spool verify --repair'",
                                  seg->path, (unsigned long long)sc.good_pos,
                                  (long long)sc.good_end, p->topic->name, p->id,
                                  (long long)e->end_offset, sc.why);
                    rc = LOG_ECORRUPT;
                    goto out;
                }
                /* Not durable by the topic's own choice (interval/none): lost in a crash
                 * of the machine, as documented. Keep what survived, loudly. */
                log_warn(s, "log: %s/%d: offsets %lld..%lld were committed without "
                         "fdatasync (durability %s) and did not survive; the partition "
                         "ends at %lld now", p->topic->name, p->id, (long long)sc.good_end,
                         (long long)e->end_offset - 1,
                         log_durability_name(log_topic_durability(s, p->topic)),
                         (long long)sc.good_end);
                limit = sc.good_pos;
                *rewrite = 1;
            }
            if ((uint64_t)st.st_size > limit && !ro) {
                /* The torn or uncommitted tail: never acknowledged, safe to drop. */
                e2 = log_fault(s, LOG_IO_TRUNCATE, seg->path);
                if (e2 == 0 && (ftruncate(seg->fd, (off_t)limit) != 0 || fsync(seg->fd) != 0))
                    e2 = errno;
                if (e2 != 0) {
                    util_errf(err, errlen, "log: cannot cut the uncommitted tail of %s back "
                              "to byte %llu: %s", seg->path, (unsigned long long)limit,
                              strerror(e2));
                    rc = LOG_EIO;
                    goto out;
                }
            }
            seg->end = sc.good_end;
            seg->size = limit;
            seg->max_ts = sc.max_ts;
            seg->created_ms = log_file_birth_ms(seg->fd);
            p->end_offset = sc.good_end;
            p->durable_end = durable < sc.good_end ? durable : sc.good_end;
            if (*rewrite)
                p->durable_end = sc.good_end;
        }
        rc = log_push_segment_locked(p, seg);
        if (rc != SPOOL_OK)
            goto out;
        seg = NULL;
    }
    p->start_offset = p->segs[0]->base;
out:
    log_segment_unref_locked(seg);
    free(bases);
    return rc;
}

/* Loads every topic directory that has a TOPIC file. Directories without one are
 * leftovers of an interrupted log_topic_create() and are skipped. */
static int log_load_topics(log_store *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->topics_dir);
    struct dirent *de;
    int rc = SPOOL_OK;

    if (d == NULL && errno == ENOENT && s->opts.read_only)
        return SPOOL_OK;
    if (d == NULL) {
        util_errf(err, errlen, "log: cannot open %s: %s", s->topics_dir, strerror(errno));
        return LOG_EIO;
    }
    while ((de = readdir(d)) != NULL) {
        char *path = NULL;
        log_topic_config c;
        log_topic *t = NULL;

        if (!log_topic_name_valid(de->d_name))
            continue;
        path = log_pathf("%s/%s/TOPIC", s->topics_dir, de->d_name);
        if (path == NULL) {
            rc = SPOOL_ENOMEM;
            break;
        }
        rc = log_topic_file_read(path, &c, err, errlen);
        free(path);
        if (rc != SPOOL_OK)
            break;
        if (c.partitions == 0)
            continue;
        t = log_topic_alloc(s, de->d_name, &c);
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
            log_partition *p = &s->topics[i]->parts[j];
            int64_t *bases = NULL;
            size_t n = 0;
            int any = 0;
            if (log_list_segments(p->dir, &bases, &n) != 0)
                continue;
            for (size_t k = 0; k < n && !any; k++) {
                char *path = log_pathf("%s/%020lld.log", p->dir, (long long)bases[k]);
                struct stat st;
                any = path && stat(path, &st) == 0 && st.st_size > 0;
                free(path);
            }
            free(bases);
            if (any)
                return 1;
        }
    }
    return 0;
}

/* Starts a new journal holding the recovered state (every open for writing does: the
 * old file's tail, torn or not, is gone), then removes a legacy COMMIT. */
static int log_journal_begin(log_store *s, const log_journal_info *info, char *err,
                             size_t errlen)
{
    uint8_t *image = NULL;
    size_t image_len = 0;
    int e, rc;

    s->j.seq = info->found == 2 ? info->last_jseq : 0;
    rc = log_commit_image_encode(s, 0, s->seq, s->sources, s->nsources, &image, &image_len);
    if (rc != SPOOL_OK)
        return rc;
    e = log_journal_start(s, image, image_len);
    free(image);
    if (e != 0) {
        util_errf(err, errlen, "log: cannot write %s: %s", s->journal_path, strerror(-e));
        return log_errno_rc(e);
    }
    /* The journal is durable (renamed, directory fsynced): COMMIT is history now. */
    if (unlink(s->commit_path) == 0) {
        e = util_fsync_dir(s->dir);
        if (e != 0) {
            util_errf(err, errlen, "log: cannot fsync %s after removing %s: %s", s->dir,
                      s->commit_path, strerror(-e));
            return log_errno_rc(e);
        }
        log_warn(s, "log: %s converted to the commit journal %s (format 3)",
                 s->commit_path, s->journal_path);
    } else if (errno != ENOENT) {
        util_errf(err, errlen, "log: cannot remove %s: %s", s->commit_path, strerror(errno));
        return LOG_EIO;
    }
    return SPOOL_OK;
}

static int log_recover(log_store *s, char *err, size_t errlen)
{
    log_commit_image img = {0};
    log_journal_info info;
    const char *cpath;
    int rewrite = 0;
    int rc = log_load_topics(s, err, errlen);

    memset(&info, 0, sizeof info);
    if (rc != SPOOL_OK)
        goto out;
    if (!s->opts.read_only) {
        int e = log_empty_trash(s);
        if (e != 0) {
            util_errf(err, errlen, "log: cannot empty %s/trash: %s", s->dir, strerror(-e));
            rc = log_errno_rc(e);
            goto out;
        }
    }
    rc = log_commit_load(s->dir, s->opts.read_only, &img, &info, err, errlen);
    if (rc != SPOOL_OK)
        goto out;
    cpath = info.found == 1 ? s->commit_path : s->journal_path;
    if (info.found == 0 && log_any_segment_bytes(s)) {
        util_errf(err, errlen, "log: %s is missing but segments under %s hold data: "
                  "the commit record was lost; restore it from a backup", s->journal_path,
                  s->topics_dir);
        rc = LOG_ECORRUPT;
        goto out;
    }
    if (info.damaged_copies > 0)
        log_warn(s, "log: %s: %llu commit record(s) had one damaged copy, the first at "
                 "byte %llu; the intact twin was used%s. The disk may be failing: run "
                 "'spool verify' and check it", s->journal_path,
                 (unsigned long long)info.damaged_copies,
                 (unsigned long long)info.damaged_at,
                 s->opts.read_only ? "" : " and the journal is rewritten");
    if (info.unsynced_cut)
        log_warn(s, "log: %s: the records from byte %llu on were never made durable and "
                 "did not survive a machine crash (interval or none durability); the log "
                 "continues from the last one before them", s->journal_path,
                 (unsigned long long)info.bad_at);
    s->seq = img.seq;
    s->sources = img.sources;
    s->nsources = s->capsources = img.nsources;
    img.sources = NULL;
    img.nsources = 0;

    for (size_t i = 0; i < img.count; i++) {
        log_commit_entry *e = &img.entries[i];
        log_partition *p = log_find_partition_locked(s, e->topic, e->partition);
        if (p == NULL) {
            if (e->end_offset == e->start_offset)
                continue;
            util_errf(err, errlen, "log: %s lists %s/%d with committed end offset %lld but "
                      "%s/%s/TOPIC is missing or has fewer partitions; restore the topic "
                      "from a backup", cpath, e->topic, e->partition,
                      (long long)e->end_offset, s->topics_dir, e->topic);
            rc = LOG_ECORRUPT;
            goto out;
        }
        if (p->recovered)
            continue;
        p->recovered = 1;
        rc = log_partition_load(s, p, e, &rewrite, err, errlen);
        if (rc != SPOOL_OK)
            goto out;
    }
    for (size_t i = 0; i < s->ntopics; i++) {
        log_topic *t = s->topics[i];
        for (int32_t j = 0; j < t->count; j++) {
            log_partition *p = &t->parts[j];
            if (p->recovered)
                continue;
            /* Not in the commit point: nothing of it was ever committed. */
            p->recovered = 1;
            rc = log_partition_load(s, p, NULL, &rewrite, err, errlen);
            if (rc != SPOOL_OK)
                goto out;
        }
    }
    if (!s->opts.read_only)
        rc = log_journal_begin(s, &info, err, errlen);
out:
    log_commit_image_free(&img);
    return rc;
}

/* ---- Open and close --------------------------------------------------------------- */

int log_open(const char *dir, log_store **out, char *err, size_t errlen)
{
    return log_open_ex(dir, NULL, out, err, errlen);
}

int log_open_ex(const char *dir, const log_open_opts *opts, log_store **out, char *err,
                size_t errlen)
{
    log_store *s = NULL;
    char *lock_path = NULL;
    pthread_condattr_t ca;
    struct stat st;
    int rc = SPOOL_OK;

    *out = NULL;
    if (dir == NULL || *dir == '\0') {
        util_errf(err, errlen, "log: no data directory given");
        return SPOOL_EINVAL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return SPOOL_ENOMEM;
    if (opts != NULL)
        s->opts = *opts;
    s->lock_fd = -1;
    s->dir = strdup(dir);
    s->commit_path = log_pathf("%s/COMMIT", dir);
    s->journal_path = log_pathf("%s/COMMIT.journal", dir);
    log_journal_init(s);
    s->topics_dir = log_pathf("%s/topics", dir);
    lock_path = log_pathf("%s/LOCK", dir);
    /* The clock of data_cv is monotonic so that log_wait() ignores wall-clock jumps. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->commit_cv, NULL);
    pthread_cond_init(&s->data_cv, &ca);
    pthread_cond_init(&s->maint_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (s->dir == NULL || s->commit_path == NULL || s->journal_path == NULL ||
        s->topics_dir == NULL || lock_path == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    s->last_durable_ms = s->last_retention_ms = util_mono_ms();
    if (s->opts.read_only) {
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            util_errf(err, errlen, "log: no data directory %s", dir);
            rc = LOG_ENOTOPIC;
            goto out;
        }
        goto recover;
    }
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
recover:
    pthread_mutex_lock(&s->mu);
    rc = log_recover(s, err, errlen);
    pthread_mutex_unlock(&s->mu);
    if (rc == SPOOL_ENOMEM)
        util_errf(err, errlen, "log: out of memory opening %s", dir);
    if (rc == SPOOL_OK && !s->opts.read_only && s->opts.maintain_ms > 0) {
        if (pthread_create(&s->maint, NULL, log_maint_main, s) != 0) {
            util_errf(err, errlen, "log: cannot start the maintenance thread");
            rc = SPOOL_ENOMEM;
        } else {
            s->maint_running = 1;
        }
    }
out:
    free(lock_path);
    if (rc != SPOOL_OK) {
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
    if (s->maint_running) {
        pthread_mutex_lock(&s->mu);
        s->maint_stop = 1;
        pthread_cond_broadcast(&s->maint_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->maint, NULL);
    }
    if (!s->opts.read_only && s->lock_fd >= 0)
        log_flush(s); /* interval and none topics: durable at a clean stop */
    log_syncer_stop(s->syncer);
    for (size_t i = 0; i < s->ntopics; i++)
        log_topic_free(s->topics[i]);
    free(s->topics);
    for (size_t i = 0; i < s->nsources; i++) {
        free(s->sources[i].name);
        free(s->sources[i].pos);
    }
    free(s->sources);
    util_journal_close(&s->j);
    /* Closing the descriptor releases the flock. */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->commit_cv);
    pthread_cond_destroy(&s->data_cv);
    pthread_cond_destroy(&s->maint_cv);
    free(s->dir);
    free(s->commit_path);
    free(s->journal_path);
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
    start = p ? p->start_offset : -1;
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

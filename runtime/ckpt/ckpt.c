/* ckpt.c - sink checkpoints: consumed offsets plus a resumable sink's position.
 *
 * One file per sink, DATA_DIR/sinks/<sink>.ckpt: a journal (util/journal.h) whose
 * every record is a snapshot holding the whole checkpoint, so the last valid record is
 * the checkpoint and nothing needs replaying. A record is small (a sink's topic
 * partitions and position), so a file of CKPT_JOURNAL_MIN_BYTES holds hundreds of
 * saves before it grows, and a new file starts when it is CKPT_JOURNAL_MAX_BYTES. Files
 * of the previous release hold one checkpoint in the metadata frame (util/metafile.h)
 * with the same body; they are read as they are and replaced by the first save.
 *
 * Every save is fdatasynced before the next is written, so a bad record followed by
 * valid ones is always damage (the log's journal may excuse it as never synced; a
 * checkpoint journal never does). Entries are few (a sink's topic partitions), so they
 * live in a plain array searched linearly.
 */
#include "ckpt/ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "spool/plugin.h"
#include "util/bytes.h"
#include "util/fsio.h"
#include "util/metafile.h"
#include "util/strutil.h"

/* A body bound that keeps a journal file (4 records' room, doubled) within the read
 * bound below, which legacy files had too. */
#define CKPT_MAX_BODY (4u * 1024u * 1024u)
#define CKPT_MAX_BYTES (64u * 1024u * 1024u)
#define CKPT_NAME_MAX 249

struct ckpt_writer {
    char *dir;                /* DATA_DIR/sinks */
    char *path;               /* DATA_DIR/sinks/<sink>.ckpt */
    util_journal j;
    int failed;               /* an EIO: every later save fails */
    char warning[512];
};

static int ckpt_paths(const char *data_dir, const char *sink, char **dir, char **path,
                      char *err, size_t errlen)
{
    *dir = NULL;
    *path = NULL;
    if (data_dir == NULL || !util_name_valid(sink, CKPT_NAME_MAX)) {
        util_errf(err, errlen, "ckpt: invalid sink name \"%s\": use 1-249 letters, digits, "
                  "'.', '_' or '-'", sink ? sink : "(null)");
        return SPOOL_EINVAL;
    }
    if (asprintf(dir, "%s/sinks", data_dir) < 0) {
        *dir = NULL;
        return SPOOL_ENOMEM;
    }
    if (asprintf(path, "%s/%s.ckpt", *dir, sink) < 0) {
        *path = NULL;
        free(*dir);
        *dir = NULL;
        return SPOOL_ENOMEM;
    }
    return SPOOL_OK;
}

/* ---- The body: entries and position (both formats) --------------------------------- */

/* Decodes a body at buf + at up to buf + len into c (empty on entry). Positions in why
 * count from buf. */
static int ckpt_body_decode(const uint8_t *buf, size_t len, size_t at, ckpt *c, char *why,
                            size_t whylen)
{
    const uint8_t *p = buf + at, *end = buf + len;
    uint32_t n, pl;

    if (end - p < 4)
        goto short_body;
    n = util_get_u32(p);
    p += 4;
    /* An entry is at least 14 bytes: bound the allocation by the file's size. */
    if (n > (size_t)(end - p) / 14) {
        util_errf(why, whylen, "%u entries cannot fit in %zu bytes", n, (size_t)(end - p));
        return LOG_ECORRUPT;
    }
    c->entries = calloc(n ? n : 1, sizeof *c->entries);
    if (c->entries == NULL)
        return SPOOL_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        ckpt_entry *e = &c->entries[i];
        size_t tl;
        if (end - p < 2)
            goto short_body;
        tl = util_get_u16(p);
        if ((size_t)(end - p) < 2 + tl + 12)
            goto short_body;
        e->topic = malloc(tl + 1);
        if (e->topic == NULL)
            return SPOOL_ENOMEM;
        memcpy(e->topic, p + 2, tl);
        e->topic[tl] = '\0';
        c->count = i + 1;
        p += 2 + tl;
        e->partition = util_u32_to_i32(util_get_u32(p));
        e->next_offset = util_u64_to_i64(util_get_u64(p + 4));
        p += 12;
        if (e->partition < 0 || e->next_offset < 0 || strlen(e->topic) != tl) {
            util_errf(why, whylen, "entry %u (byte %zu) has impossible values", i,
                      (size_t)(p - 14 - tl - buf));
            return LOG_ECORRUPT;
        }
    }
    if (end - p < 4)
        goto short_body;
    pl = util_get_u32(p);
    p += 4;
    if (pl != (size_t)(end - p)) {
        util_errf(why, whylen, "position length %u at byte %zu does not match the %zu bytes "
                  "left", pl, (size_t)(p - 4 - buf), (size_t)(end - p));
        return LOG_ECORRUPT;
    }
    if (pl > 0) {
        c->position = malloc(pl);
        if (c->position == NULL)
            return SPOOL_ENOMEM;
        memcpy(c->position, p, pl);
        c->position_len = pl;
    }
    return SPOOL_OK;
short_body:
    util_errf(why, whylen, "body cut short at byte %zu", (size_t)(p - buf));
    return LOG_ECORRUPT;
}

/* The body's length for c, or SPOOL_EINVAL with a reason when it cannot be saved. */
static int ckpt_body_len(const ckpt *c, size_t *len, char *err, size_t errlen)
{
    size_t n = 4 + 4 + c->position_len;

    for (size_t i = 0; i < c->count; i++) {
        size_t tl = strlen(c->entries[i].topic);
        if (tl > UINT16_MAX) {
            util_errf(err, errlen, "ckpt: topic name of %zu bytes is too long", tl);
            return SPOOL_EINVAL;
        }
        n += 2 + tl + 12;
    }
    if (n > CKPT_MAX_BODY || c->count > UINT32_MAX) {
        util_errf(err, errlen, "ckpt: a checkpoint of %zu bytes is more than the %u allowed "
                  "(%zu partitions, a position of %zu bytes)", n, CKPT_MAX_BODY, c->count,
                  c->position_len);
        return SPOOL_EINVAL;
    }
    *len = n;
    return SPOOL_OK;
}

static void ckpt_body_put(uint8_t *p, const ckpt *c)
{
    util_put_u32(p, (uint32_t)c->count);
    p += 4;
    for (size_t i = 0; i < c->count; i++) {
        size_t tl = strlen(c->entries[i].topic);
        util_put_u16(p, (uint16_t)tl);
        memcpy(p + 2, c->entries[i].topic, tl);
        p += 2 + tl;
        util_put_u32(p, (uint32_t)c->entries[i].partition);
        util_put_u64(p + 4, (uint64_t)c->entries[i].next_offset);
        p += 12;
    }
    util_put_u32(p, (uint32_t)c->position_len);
    p += 4;
    if (c->position_len > 0)
        memcpy(p, c->position, c->position_len);
}

/* ---- Decoding a file ---------------------------------------------------------------- */

/* The journal's records: snapshots of the whole checkpoint, applied by replacing it. */
static int ckpt_journal_body(void *ctx, unsigned kind, const uint8_t *copy, size_t clen,
                             int apply)
{
    ckpt rec = {0};
    char why[64];
    int rc;

    if (kind != UTIL_JREC_SNAPSHOT)
        return 0;
    rc = ckpt_body_decode(copy, clen, UTIL_JREC_HDR, &rec, why, sizeof why);
    if (rc == SPOOL_OK && apply) {
        ckpt_clear(ctx);
        *(ckpt *)ctx = rec;
        return 1;
    }
    ckpt_clear(&rec);
    return rc == SPOOL_OK ? 1 : rc == SPOOL_ENOMEM ? -ENOMEM : 0;
}

static const util_journal_fmt ckpt_journal_fmt = {
    .file_magic = CKPT_JOURNAL_FILE_MAGIC,
    .rec_magic = CKPT_JOURNAL_REC_MAGIC,
    .version = CKPT_JOURNAL_VERSION,
    .what = "checkpoint record",
    .body = ckpt_journal_body,
};

static int ckpt_legacy_decode(const uint8_t *buf, size_t len, ckpt *c, char *why,
                              size_t whylen)
{
    uint16_t version;
    char mwhy[160];

    if (util_meta_check(buf, len, CKPT_MAGIC, CKPT_VERSION, &version, mwhy, sizeof mwhy) != 0) {
        if (len >= 4 && util_get_u32(buf) != CKPT_MAGIC)
            util_errf(why, whylen, "bad magic 0x%08x at byte 0 (a checkpoint starts with "
                      "0x%08x, a legacy one with 0x%08x)", util_get_u32(buf),
                      CKPT_JOURNAL_FILE_MAGIC, CKPT_MAGIC);
        else
            util_errf(why, whylen, "legacy checkpoint, bytes 0..%zu: %s", len, mwhy);
        return LOG_ECORRUPT;
    }
    return ckpt_body_decode(buf, len, UTIL_META_HDR, c, why, whylen);
}

int ckpt_decode(const uint8_t *buf, size_t len, ckpt *out, util_journal_info *info,
                char *why, size_t whylen)
{
    int rc, e;

    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    if (len < 4 || util_get_u32(buf) != CKPT_JOURNAL_FILE_MAGIC) {
        info->found = 1;
        info->size = len;
        rc = ckpt_legacy_decode(buf, len, out, why, whylen);
    } else {
        e = util_journal_scan(&ckpt_journal_fmt, buf, len, out, info, why, whylen);
        rc = e == 0 ? SPOOL_OK : e == -ENOMEM ? SPOOL_ENOMEM : LOG_ECORRUPT;
        if (rc == SPOOL_OK && info->unsynced_cut) {
            /* Every record was fdatasynced before the next was written. */
            util_errf(why, whylen, "the checkpoint record at byte %llu is damaged (both "
                      "copies) but valid records follow it",
                      (unsigned long long)info->bad_at);
            rc = LOG_ECORRUPT;
        }
    }
    if (rc != SPOOL_OK)
        ckpt_clear(out);
    return rc;
}

/* Reads and decodes the file at path (an empty checkpoint when absent). Beside a
 * writer, bytes before a valid record may have been read before they were written:
 * damage is read again before it is believed (appends never rewrite earlier bytes). */
static int ckpt_read(const char *path, ckpt *out, util_journal_info *info, char *err,
                     size_t errlen)
{
    char why[384] = "";
    int rc = SPOOL_OK;

    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    for (int attempt = 0; attempt < 3; attempt++) {
        void *raw = NULL;
        size_t len = 0;
        int e = util_read_file(path, CKPT_MAX_BYTES, &raw, &len);
        if (e == -ENOENT)
            return SPOOL_OK; /* never checkpointed: start empty */
        if (e != 0) {
            util_errf(err, errlen, "ckpt: cannot read %s: %s", path, strerror(-e));
            return e == -EFBIG ? LOG_ECORRUPT : e == -ENOMEM ? SPOOL_ENOMEM : LOG_EIO;
        }
        rc = ckpt_decode(raw, len, out, info, why, sizeof why);
        free(raw);
        if (rc == SPOOL_OK && info->damaged_copies > 0 && attempt < 2)
            ckpt_clear(out);
        else if (rc != LOG_ECORRUPT || attempt == 2)
            break;
    }
    if (rc == LOG_ECORRUPT)
        util_errf(err, errlen, "ckpt: %s is damaged: %s; restore it from a backup or reset "
                  "the sink's offsets explicitly", path, why);
    else if (rc == SPOOL_ENOMEM)
        util_errf(err, errlen, "ckpt: out of memory loading %s", path);
    return rc;
}

int ckpt_load(const char *data_dir, const char *sink, ckpt *out, char *err, size_t errlen)
{
    char *dir = NULL, *path = NULL;
    util_journal_info info;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ckpt_paths(data_dir, sink, &dir, &path, err, errlen);
    if (rc == SPOOL_OK)
        rc = ckpt_read(path, out, &info, err, errlen);
    free(dir);
    free(path);
    return rc;
}

/* ---- Saving -------------------------------------------------------------------------- */

static int ckpt_writer_new(const char *data_dir, const char *sink, ckpt_writer **out,
                           char *err, size_t errlen)
{
    ckpt_writer *w = calloc(1, sizeof *w);
    int rc;

    *out = NULL;
    if (w == NULL)
        return SPOOL_ENOMEM;
    rc = ckpt_paths(data_dir, sink, &w->dir, &w->path, err, errlen);
    if (rc != SPOOL_OK) {
        ckpt_writer_close(w);
        return rc;
    }
    util_journal_init(&w->j, &ckpt_journal_fmt, w->path, CKPT_JOURNAL_MIN_BYTES,
                      CKPT_JOURNAL_MAX_BYTES);
    *out = w;
    return SPOOL_OK;
}

int ckpt_writer_open(const char *data_dir, const char *sink, ckpt *out, ckpt_writer **w,
                     char *err, size_t errlen)
{
    util_journal_info info;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ckpt_writer_new(data_dir, sink, w, err, errlen);
    if (rc != SPOOL_OK)
        return rc;
    rc = ckpt_read((*w)->path, out, &info, err, errlen);
    if (rc != SPOOL_OK) {
        ckpt_writer_close(*w);
        *w = NULL;
        return rc;
    }
    (*w)->j.seq = info.found == 2 ? info.last_jseq : 0;
    if (info.damaged_copies > 0)
        util_errf((*w)->warning, sizeof (*w)->warning, "ckpt: %s: %llu checkpoint record(s) "
                  "had one damaged copy (the first at byte %llu) beside an intact twin; "
                  "nothing was lost, but the disk may be failing: check it. The next save "
                  "rewrites the file", (*w)->path, (unsigned long long)info.damaged_copies,
                  (unsigned long long)info.damaged_at);
    return SPOOL_OK;
}

const char *ckpt_writer_warning(const ckpt_writer *w)
{
    return w != NULL && w->warning[0] != '\0' ? w->warning : NULL;
}

int ckpt_writer_save(ckpt_writer *w, const ckpt *c, char *err, size_t errlen)
{
    uint8_t *rec = NULL;
    size_t blen = 0, len;
    int rc, e;

    if (w->failed) {
        util_errf(err, errlen, "ckpt: %s: an earlier write failed, so nothing more is "
                  "written to it; restart the sink, which reloads the checkpoint from disk",
                  w->path);
        return LOG_EIO;
    }
    rc = ckpt_body_len(c, &blen, err, errlen);
    if (rc != SPOOL_OK)
        return rc;
    rec = util_jrec_alloc(blen);
    if (rec == NULL)
        return SPOOL_ENOMEM;
    ckpt_body_put(rec + UTIL_JREC_HDR, c);
    len = util_jrec_seal(&ckpt_journal_fmt, rec, blen, w->j.seq + 1, w->j.synced,
                         UTIL_JREC_SNAPSHOT);
    /* A new file's directory must exist (and be durable) before the rename into it. */
    e = w->j.fd < 0 ? util_mkdir_p(w->dir) : 0;
    if (e == 0)
        e = util_journal_write(&w->j, rec, len, 1);
    free(rec);
    if (e == 0)
        return SPOOL_OK;
    if (e == -ENOSPC || e == -EDQUOT) {
        util_errf(err, errlen, "ckpt: cannot write %s: %s; the previous checkpoint stays; "
                  "free space, then retry", w->path, strerror(-e));
        return LOG_ENOSPC;
    }
    if (e == -ENOMEM) {
        util_errf(err, errlen, "ckpt: out of memory writing %s", w->path);
        return SPOOL_ENOMEM;
    }
    w->failed = 1;
    util_errf(err, errlen, "ckpt: cannot write %s: %s", w->path, strerror(-e));
    return LOG_EIO;
}

void ckpt_writer_close(ckpt_writer *w)
{
    if (w == NULL)
        return;
    util_journal_close(&w->j);
    free(w->dir);
    free(w->path);
    free(w);
}

void ckpt_writer_set_fault(ckpt_writer *w, util_journal_fault_fn fn, void *ctx)
{
    w->j.fault = fn;
    w->j.fault_ctx = ctx;
}

void ckpt_writer_set_sizes(ckpt_writer *w, uint64_t min_bytes, uint64_t max_bytes)
{
    w->j.min_bytes = min_bytes < 4096 ? 4096 : min_bytes;
    w->j.max_bytes = max_bytes < w->j.min_bytes ? w->j.min_bytes : max_bytes;
}

int ckpt_save(const char *data_dir, const char *sink, const ckpt *c, char *err,
              size_t errlen)
{
    ckpt_writer *w = NULL;
    int rc = ckpt_writer_new(data_dir, sink, &w, err, errlen);

    if (rc == SPOOL_OK)
        rc = ckpt_writer_save(w, c, err, errlen);
    ckpt_writer_close(w);
    return rc;
}

int64_t ckpt_get(const ckpt *c, const char *topic, int32_t partition)
{
    for (size_t i = 0; c && topic && i < c->count; i++)
        if (c->entries[i].partition == partition && strcmp(c->entries[i].topic, topic) == 0)
            return c->entries[i].next_offset;
    return -1;
}

int ckpt_set(ckpt *c, const char *topic, int32_t partition, int64_t next_offset)
{
    ckpt_entry *n;

    if (c == NULL || topic == NULL || partition < 0 || next_offset < 0)
        return SPOOL_EINVAL;
    for (size_t i = 0; i < c->count; i++) {
        if (c->entries[i].partition == partition && strcmp(c->entries[i].topic, topic) == 0) {
            c->entries[i].next_offset = next_offset;
            return SPOOL_OK;
        }
    }
    n = realloc(c->entries, (c->count + 1) * sizeof *n);
    if (n == NULL)
        return SPOOL_ENOMEM;
    c->entries = n;
    n[c->count].topic = strdup(topic);
    if (n[c->count].topic == NULL)
        return SPOOL_ENOMEM;
    n[c->count].partition = partition;
    n[c->count].next_offset = next_offset;
    c->count++;
    return SPOOL_OK;
}

int ckpt_set_position(ckpt *c, const void *pos, size_t len)
{
    void *copy = NULL;

    if (c == NULL || (len > 0 && pos == NULL))
        return SPOOL_EINVAL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL)
            return SPOOL_ENOMEM;
        memcpy(copy, pos, len);
    }
    free(c->position);
    c->position = copy;
    c->position_len = len;
    return SPOOL_OK;
}

void ckpt_clear(ckpt *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->entries[i].topic);
    free(c->entries);
    free(c->position);
    memset(c, 0, sizeof *c);
}

/* ckpt.c - sink checkpoints: consumed offsets plus a resumable sink's position.
 *
 * One small file per sink, DATA_DIR/sinks/<sink>.ckpt, in the same checked frame as
 * the log's metadata (util/metafile.h, docs/log-format.md), replaced atomically. Since
 * a replace is atomic, a file that fails its checks was damaged after the fact: it is
 * reported as LOG_ECORRUPT and never taken for "no checkpoint", which would make the
 * sink re-deliver or skip data. Entries are few (a sink's topic partitions), so they
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

#define CKPT_MAGIC 0x4b435053u /* "SPCK" */
#define CKPT_VERSION 1u
#define CKPT_MAX_BYTES (64u * 1024u * 1024u)
#define CKPT_NAME_MAX 249

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

static int ckpt_decode(const uint8_t *buf, size_t len, ckpt *c, char *why, size_t whylen)
{
    const uint8_t *p = buf + UTIL_META_HDR, *end = buf + len;
    uint16_t version;
    uint32_t n, pl;

    if (util_meta_check(buf, len, CKPT_MAGIC, CKPT_VERSION, &version, why, whylen) != 0)
        return LOG_ECORRUPT;
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
            util_errf(why, whylen, "entry %u has impossible values", i);
            return LOG_ECORRUPT;
        }
    }
    if (end - p < 4)
        goto short_body;
    pl = util_get_u32(p);
    p += 4;
    if (pl != (size_t)(end - p)) {
        util_errf(why, whylen, "position length %u does not match the %zu bytes left", pl,
                  (size_t)(end - p));
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

int ckpt_load(const char *data_dir, const char *sink, ckpt *out, char *err, size_t errlen)
{
    char *dir = NULL, *path = NULL;
    void *raw = NULL;
    size_t len = 0;
    char why[256] = "";
    int rc;

    memset(out, 0, sizeof *out);
    rc = ckpt_paths(data_dir, sink, &dir, &path, err, errlen);
    if (rc != SPOOL_OK)
        goto out;
    rc = util_read_file(path, CKPT_MAX_BYTES, &raw, &len);
    if (rc == -ENOENT) {
        rc = SPOOL_OK; /* never checkpointed: start empty */
        goto out;
    }
    if (rc != 0) {
        util_errf(err, errlen, "ckpt: cannot read %s: %s", path, strerror(-rc));
        rc = rc == -EFBIG ? LOG_ECORRUPT : rc == -ENOMEM ? SPOOL_ENOMEM : LOG_EIO;
        goto out;
    }
    rc = ckpt_decode(raw, len, out, why, sizeof why);
    if (rc == LOG_ECORRUPT)
        util_errf(err, errlen, "ckpt: %s is damaged (%s); restore it from a backup or "
                  "reset the sink's offsets explicitly", path, why);
    else if (rc == SPOOL_ENOMEM)
        util_errf(err, errlen, "ckpt: out of memory loading %s", path);
out:
    if (rc != SPOOL_OK)
        ckpt_clear(out);
    free(raw);
    free(dir);
    free(path);
    return rc;
}

int ckpt_save(const char *data_dir, const char *sink, const ckpt *c, char *err,
              size_t errlen)
{
    char *dir = NULL, *path = NULL;
    uint8_t *buf = NULL, *p;
    size_t len = UTIL_META_HDR + 4 + 4;
    int rc;

    rc = ckpt_paths(data_dir, sink, &dir, &path, err, errlen);
    if (rc != SPOOL_OK)
        goto out;
    for (size_t i = 0; i < c->count; i++) {
        if (strlen(c->entries[i].topic) > UINT16_MAX) {
            rc = SPOOL_EINVAL;
            goto out;
        }
        len += 2 + strlen(c->entries[i].topic) + 12;
    }
    len += c->position_len;
    if (len > CKPT_MAX_BYTES || c->count > UINT32_MAX) {
        util_errf(err, errlen, "ckpt: checkpoint of sink \"%s\" would be %zu bytes, more "
                  "than the %u allowed", sink, len, CKPT_MAX_BYTES);
        rc = SPOOL_EINVAL;
        goto out;
    }
    buf = malloc(len);
    if (buf == NULL) {
        rc = SPOOL_ENOMEM;
        goto out;
    }
    p = buf + UTIL_META_HDR;
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
    util_meta_seal(buf, len, CKPT_MAGIC, CKPT_VERSION);

    rc = util_mkdir_p(dir);
    if (rc == 0)
        rc = util_atomic_replace_file(path, buf, len);
    if (rc != 0) {
        util_errf(err, errlen, "ckpt: cannot write %s: %s%s", path, strerror(-rc),
                  rc == -ENOSPC || rc == -EDQUOT ? "; free space, then retry" : "");
        rc = rc == -ENOSPC || rc == -EDQUOT ? LOG_ENOSPC : LOG_EIO;
    }
out:
    free(buf);
    free(dir);
    free(path);
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

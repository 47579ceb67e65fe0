/* file_sink.c - the file sink: appends one line per record, exactly once.
 *
 * Usage:
 *
 *     sinks:
 *       copy:
 *         connector: file
 *         topics: [lines]
 *         config: {path: /srv/out/lines.txt}
 *
 * Each record's value is written followed by '\n'. The sink is *resumable*: flush()
 * writes what is buffered, makes it durable with fdatasync and records the file's
 * length as the sink position, which the runtime stores atomically with the consumed
 * offsets. On open the file is cut back to that length, so lines written after the last
 * checkpoint by a worker that then crashed are removed before the runtime delivers
 * them again: no line is lost and none is doubled.
 *
 * The output file belongs to the sink: anything else that writes it (or truncates it)
 * breaks that promise, and a file shorter than its checkpoint stops the sink with an
 * error instead of silently carrying on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/plugin.h"

static const spool_host *host;

typedef struct file_sink {
    const char *path;
    int fd;
    int64_t size;          /* bytes in the file, including what is buffered */
    char *buf;
    size_t len, cap;
} file_sink;

static const spool_option file_sink_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path",
     .flags = SPOOL_OPT_REQUIRED, .doc = "File to append to, one line per record."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "buffer_bytes",
     .default_value = "256KiB", .min = 4096, .max = 64 * 1024 * 1024,
     .doc = "Bytes gathered in memory before a write to the file."},
    {.name = NULL},
};

static spool_rc fsk_write_all(spool_task *t, file_sink *s, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(s->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            /* Not SPOOL_RETRY: part of the data may be written. The task restarts
             * instead, and open() cuts the file back to its checkpoint. */
            host->set_error(t, "cannot write %s: %s", s->path, strerror(errno));
            return SPOOL_ERR;
        }
        done += (size_t)w;
    }
    return SPOOL_OK;
}

static spool_rc fsk_write_buffer(spool_task *t, file_sink *s)
{
    spool_rc rc = fsk_write_all(t, s, s->buf, s->len);
    s->len = 0;
    return rc;
}

/* Makes the file's directory entry durable, for a file that was just created. */
static void fsk_sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

static spool_rc fsk_open(spool_task *t, void **state)
{
    file_sink *s = calloc(1, sizeof(*s));
    const void *pos = NULL;
    size_t pos_len = 0;
    struct stat st;
    char text[32];
    int created = 0;

    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->path = host->opt_string(t, "path");
    s->cap = (size_t)host->opt_int(t, "buffer_bytes");
    s->buf = malloc(s->cap);
    if (s->buf == NULL)
        return SPOOL_ENOMEM;
    s->fd = open(s->path, O_WRONLY | O_CLOEXEC);
    if (s->fd < 0 && errno == ENOENT) {
        s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        created = 1;
    }
    if (s->fd < 0) {
        host->set_error(t, "cannot open %s for writing: %s; check the path and its "
                        "directory's permissions", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    if (created)
        fsk_sync_dir(s->path);
    if (fstat(s->fd, &st) != 0) {
        host->set_error(t, "cannot stat %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    s->size = st.st_size;
    host->sink_position(t, &pos, &pos_len);
    if (pos_len > 0) {
        int64_t checkpoint = -1;
        if (pos_len < sizeof(text)) {
            memcpy(text, pos, pos_len);
            text[pos_len] = '\0';
            if (sscanf(text, "%" SCNd64, &checkpoint) != 1)
                checkpoint = -1;
        }
        if (checkpoint < 0) {
            host->set_error(t, "the stored position of %s is not a byte length; reset "
                            "the sink's offsets to write the output again", s->path);
            return SPOOL_ERR;
        }
        if (checkpoint > s->size) {
            host->set_error(t, "%s has %" PRId64 " bytes but its checkpoint says %" PRId64
                            ": something else truncated or replaced it; move it away and "
                            "reset the sink's offsets to write it again", s->path, s->size,
                            checkpoint);
            return SPOOL_ERR;
        }
        if (checkpoint < s->size) {
            host->log(t, SPOOL_LOG_INFO, "cutting %s back from %" PRId64 " to %" PRId64
                      " bytes: lines past the last checkpoint are written again",
                      s->path, s->size, checkpoint);
            if (ftruncate(s->fd, (off_t)checkpoint) != 0 || fdatasync(s->fd) != 0) {
                host->set_error(t, "cannot cut %s back to its checkpoint: %s", s->path,
                                strerror(errno));
                return SPOOL_ERR;
            }
            s->size = checkpoint;
        }
    }
    if (lseek(s->fd, (off_t)s->size, SEEK_SET) < 0) {
        host->set_error(t, "cannot seek in %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    return SPOOL_OK;
}

static spool_rc fsk_put(spool_task *t, void *state, const spool_record *const *recs,
                        size_t n)
{
    file_sink *s = state;
    for (size_t i = 0; i < n; i++) {
        const spool_record *r = recs[i];
        size_t need = r->value_len + 1;
        if (s->len + need > s->cap) {
            spool_rc rc = fsk_write_buffer(t, s);
            if (rc != SPOOL_OK)
                return rc;
        }
        if (need > s->cap) {
            /* A record larger than the buffer goes straight to the file. */
            spool_rc rc = fsk_write_all(t, s, r->value, r->value_len);
            if (rc != SPOOL_OK)
                return rc;
            s->buf[s->len++] = '\n';
        } else {
            if (r->value_len > 0)
                memcpy(s->buf + s->len, r->value, r->value_len);
            s->buf[s->len + r->value_len] = '\n';
            s->len += need;
        }
        s->size += (int64_t)need;
    }
    return SPOOL_OK;
}

static spool_rc fsk_flush(spool_task *t, void *state)
{
    file_sink *s = state;
    char text[32];
    spool_rc rc = fsk_write_buffer(t, s);
    if (rc != SPOOL_OK)
        return rc;
    if (fdatasync(s->fd) != 0) {
        /* Never retried on the same descriptor: after a failed fdatasync the page
         * cache may claim data that is not on disk. */
        host->set_error(t, "cannot make %s durable (fdatasync): %s", s->path,
                        strerror(errno));
        return SPOOL_ERR;
    }
    int n = snprintf(text, sizeof(text), "%" PRId64, s->size);
    return host->set_sink_position(t, text, (size_t)n);
}

static void fsk_close(spool_task *t, void *state)
{
    file_sink *s = state;
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    free(s);
}

static const spool_plugin file_sink_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "file",
    .version = SPOOL_VERSION_STRING,
    .description = "Appends one line per record to a file, exactly once (resumable).",
    .kind = SPOOL_KIND_SINK,
    .delivery = SPOOL_DELIVERY_RESUMABLE,
    .options = file_sink_options,
    .open = fsk_open,
    .close = fsk_close,
    .put = fsk_put,
    .flush = fsk_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &file_sink_plugin;
}

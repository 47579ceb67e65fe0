/* file_source.c - the file source: one record per line of a file, following appends.
 *
 * Usage:
 *
 *     sources:
 *       lines:
 *         connector: file
 *         topic: lines
 *         config: {path: /var/log/app/events.log}
 *
 * Every complete line (ended by '\n', which is not part of the record) becomes one
 * record whose value is the line. The source position is "DEV:INODE:OFFSET", the byte
 * offset of the next unread line in that file; the runtime commits it with the records,
 * so a restart resumes exactly after the last committed line. A last line without '\n'
 * is held back until its newline arrives (it may still be being written), except when
 * `follow` is false, where the end of the file ends the input.
 *
 * Following uses inotify, so an idle source costs nothing. When the file is replaced
 * (another inode at the path, as with log rotation) the old file is read to its end
 * first and the new one from its start; when it shrinks below the position it was
 * truncated, and reading starts again from byte 0. Both are logged.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/plugin.h"

static const spool_host *host;

typedef struct file_source {
    const char *path;
    int follow;
    size_t max_line;
    int64_t max_lines;     /* lines emitted per poll() at most */
    int fd;
    dev_t dev;
    ino_t ino;
    int64_t pos;           /* file offset of buf[0]: the next unread line */
    char *buf;
    size_t len, cap;
    char prefix[48];       /* "DEV:INODE:" of the open file, for positions */
    size_t prefix_len;
    int ino_fd;            /* inotify, -1 when not following */
    int watch;
    int warned_missing;
} file_source;

static const spool_option file_source_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path",
     .flags = SPOOL_OPT_REQUIRED, .doc = "File to read, one record per line."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "follow", .default_value = "true",
     .doc = "Keep reading lines appended to the file; false ends the input at end of file."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_SIZE, .name = "max_line_bytes",
     .default_value = "1MiB", .min = 1, .max = 64 * 1024 * 1024,
     .doc = "Longest line accepted; a longer line stops the source with an error."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = "batch_lines", .default_value = "4096",
     .min = 1, .max = 1000000, .doc = "Lines handed to the log per commit at most."},
    {.name = NULL},
};

static void fs_close_file(file_source *s)
{
    if (s->watch >= 0)
        inotify_rm_watch(s->ino_fd, s->watch);
    s->watch = -1;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->len = 0;
}

/* Parses "DEV:INODE:OFFSET". Returns 0 on success. */
static int fs_parse_position(const void *p, size_t n, uint64_t *dev, uint64_t *ino,
                             int64_t *off)
{
    char text[96];
    if (n == 0 || n >= sizeof(text))
        return -1;
    memcpy(text, p, n);
    text[n] = '\0';
    return sscanf(text, "%" SCNu64 ":%" SCNu64 ":%" SCNd64, dev, ino, off) == 3 ? 0 : -1;
}

/* Opens the file at the committed position, or at 0 when it is another file now.
 * Returns SPOOL_OK, SPOOL_RETRY (not there yet) or SPOOL_ERR. */
static spool_rc fs_open_file(spool_task *t, file_source *s)
{
    struct stat st;
    const void *pos = NULL;
    size_t pos_len = 0;
    uint64_t dev = 0, ino = 0;
    int64_t off = 0;

    s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        if (errno == ENOENT && s->follow) {
            if (!s->warned_missing)
                host->log(t, SPOOL_LOG_WARN, "file %s does not exist yet; waiting for it",
                          s->path);
            s->warned_missing = 1;
            return SPOOL_RETRY;
        }
        host->set_error(t, "cannot open %s: %s; check the path and its permissions",
                        s->path, strerror(errno));
        return SPOOL_ERR;
    }
    if (fstat(s->fd, &st) != 0) {
        host->set_error(t, "cannot stat %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->prefix_len = (size_t)snprintf(s->prefix, sizeof(s->prefix), "%" PRIu64 ":%" PRIu64 ":",
                                     (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    s->pos = 0;
    host->source_position(t, &pos, &pos_len);
    if (pos_len > 0) {
        if (fs_parse_position(pos, pos_len, &dev, &ino, &off) != 0 || off < 0) {
            host->set_error(t, "stored position of %s is not DEV:INODE:OFFSET; reset the "
                            "source's position to read the file again", s->path);
            return SPOOL_ERR;
        }
        if (dev != (uint64_t)st.st_dev || ino != (uint64_t)st.st_ino)
            host->log(t, SPOOL_LOG_WARN, "%s is another file than at the last commit "
                      "(inode %" PRIu64 ", was %" PRIu64 "); reading it from the start",
                      s->path, (uint64_t)st.st_ino, ino);
        else if (off > st.st_size)
            host->log(t, SPOOL_LOG_WARN, "%s is shorter (%lld bytes) than the committed "
                      "position %" PRId64 ": it was truncated; reading it from the start",
                      s->path, (long long)st.st_size, off);
        else
            s->pos = off;
    }
    if (s->ino_fd >= 0) {
        s->watch = inotify_add_watch(s->ino_fd, s->path,
                                     IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF);
        if (s->watch < 0)
            host->log(t, SPOOL_LOG_WARN, "cannot watch %s (%s); new lines are noticed "
                      "on the next poll", s->path, strerror(errno));
    }
    s->warned_missing = 0;
    return SPOOL_OK;
}

static spool_rc fs_emit_line(spool_task *t, file_source *s, const char *line, size_t n,
                             int64_t next)
{
    /* Every line carries its position; the "DEV:INODE:" prefix is formatted once per
     * file and only the offset here, which keeps printf out of the per-line path. */
    char pos[sizeof(s->prefix) + 24], digits[24];
    size_t d = 0, pn = s->prefix_len;
    uint64_t v = (uint64_t)next;
    memcpy(pos, s->prefix, pn);
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (d > 0)
        pos[pn++] = digits[--d];
    spool_record rec = {.struct_size = sizeof(rec), .value = line, .value_len = n,
                        .partition = -1};
    return host->emit(t, &rec, pos, pn);
}

/* Emits the complete lines in buf, at most max_lines; returns how many or <0. */
static int64_t fs_emit_lines(spool_task *t, file_source *s)
{
    size_t start = 0;
    int64_t n = 0;
    while (n < s->max_lines) {
        char *nl = memchr(s->buf + start, '\n', s->len - start);
        if (nl == NULL)
            break;
        size_t line_len = (size_t)(nl - (s->buf + start));
        spool_rc rc = fs_emit_line(t, s, s->buf + start, line_len,
                                   s->pos + (int64_t)(start + line_len + 1));
        if (rc != SPOOL_OK)
            return rc;
        start += line_len + 1;
        n++;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    s->pos += (int64_t)start;
    return n;
}

/* Reads what fits in the buffer. Returns bytes read, 0 at end of file, or <0. */
static ssize_t fs_fill(spool_task *t, file_source *s)
{
    if (s->len == s->cap) {
        if (s->cap >= s->max_line) {
            host->set_error(t, "%s: the line at byte %" PRId64 " is longer than "
                            "max_line_bytes (%zu); raise max_line_bytes", s->path,
                            s->pos, s->max_line);
            return -1;
        }
        size_t cap = s->cap * 2 > s->max_line ? s->max_line : s->cap * 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL) {
            host->set_error(t, "out of memory growing the line buffer to %zu bytes", cap);
            return -1;
        }
        s->buf = b;
        s->cap = cap;
    }
    for (;;) {
        ssize_t r = pread(s->fd, s->buf + s->len, s->cap - s->len,
                          (off_t)(s->pos + (int64_t)s->len));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            host->set_error(t, "cannot read %s at byte %" PRId64 ": %s", s->path,
                            s->pos + (int64_t)s->len, strerror(errno));
        else
            s->len += (size_t)r;
        return r;
    }
}

/* At the end of the file: notices truncation and replacement. Returns 1 when the
 * file was reopened and reading should go on at once. */
static int fs_check_file(spool_task *t, file_source *s)
{
    struct stat st, now;
    if (fstat(s->fd, &st) == 0 && st.st_size < s->pos + (off_t)s->len) {
        host->log(t, SPOOL_LOG_WARN, "%s was truncated to %lld bytes; reading it from "
                  "the start", s->path, (long long)st.st_size);
        s->pos = 0;
        s->len = 0;
        return 1;
    }
    if (stat(s->path, &now) != 0 || now.st_ino != s->ino || now.st_dev != s->dev) {
        host->log(t, SPOOL_LOG_INFO, "%s was replaced; reading the new file", s->path);
        fs_close_file(s);
        return 1;
    }
    return 0;
}

static void fs_wait(file_source *s, int timeout_ms)
{
    char events[4096];
    struct pollfd pfd = {.fd = s->ino_fd, .events = POLLIN};
    if (s->ino_fd < 0 || s->watch < 0) {
        poll(NULL, 0, timeout_ms);
        return;
    }
    if (poll(&pfd, 1, timeout_ms) > 0)
        while (read(s->ino_fd, events, sizeof(events)) > 0)
            ;
}

static spool_rc fs_poll(spool_task *t, void *state, int timeout_ms)
{
    file_source *s = state;
    int64_t emitted = 0;

    if (s->fd < 0) {
        spool_rc rc = fs_open_file(t, s);
        if (rc == SPOOL_RETRY) {
            fs_wait(s, timeout_ms);
            return SPOOL_OK;
        }
        if (rc != SPOOL_OK)
            return rc;
    }
    while (emitted < s->max_lines && !host->stopping(t)) {
        int64_t n = fs_emit_lines(t, s);
        if (n < 0)
            return (spool_rc)n;
        emitted += n;
        if (emitted >= s->max_lines)
            break;
        ssize_t r = fs_fill(t, s);
        if (r < 0)
            return SPOOL_ERR;
        if (r > 0)
            continue;
        /* End of file. */
        if (fs_check_file(t, s))
            return SPOOL_OK;
        if (!s->follow) {
            if (s->len > 0) {
                spool_rc rc = fs_emit_line(t, s, s->buf, s->len, s->pos + (int64_t)s->len);
                if (rc != SPOOL_OK)
                    return rc;
                s->pos += (int64_t)s->len;
                s->len = 0;
            }
            return SPOOL_DONE;
        }
        if (emitted == 0)
            fs_wait(s, timeout_ms);
        break;
    }
    return SPOOL_OK;
}

static spool_rc fs_open(spool_task *t, void **state)
{
    file_source *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->fd = -1;
    s->ino_fd = -1;
    s->watch = -1;
    s->path = host->opt_string(t, "path");
    s->follow = host->opt_int(t, "follow") != 0;
    s->max_line = (size_t)host->opt_int(t, "max_line_bytes");
    s->max_lines = host->opt_int(t, "batch_lines");
    s->cap = s->max_line < 65536 ? s->max_line : 65536;
    s->buf = malloc(s->cap);
    if (s->buf == NULL)
        return SPOOL_ENOMEM;
    if (s->follow) {
        s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->ino_fd < 0)
            host->log(t, SPOOL_LOG_WARN, "inotify unavailable (%s); polling %s instead",
                      strerror(errno), s->path);
    }
    spool_rc rc = fs_open_file(t, s);
    return rc == SPOOL_RETRY ? SPOOL_OK : rc;
}

static void fs_close(spool_task *t, void *state)
{
    file_source *s = state;
    if (s == NULL)
        return;
    fs_close_file(s);
    if (s->ino_fd >= 0)
        close(s->ino_fd);
    free(s->buf);
    free(s);
}

static const spool_plugin file_source_plugin = {
    .struct_size = sizeof(spool_plugin),
    .abi_version = SPOOL_ABI_VERSION,
    .name = "file",
    .version = SPOOL_VERSION_STRING,
    .description = "Reads a file line by line, one record per line, following appends.",
    .kind = SPOOL_KIND_SOURCE,
    .options = file_source_options,
    .open = fs_open,
    .close = fs_close,
    .poll = fs_poll,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &file_source_plugin;
}

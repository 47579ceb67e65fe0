/* linefile_sink.c - example sink: each record's value as one line of a file, exactly once.
 *
 * A resumable sink (SPOOL_DELIVERY_RESUMABLE): put() appends to the file, flush()
 * fsyncs it and stores the file's length as the sink position, which the runtime saves
 * atomically with the offsets it consumed. open() cuts the file back to the stored
 * length, so that lines written after the last checkpoint (and read again after a
 * crash) are never doubled.
 */
#define SPOOL_REQUIRE_ABI 1
#include <spool/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const spool_host *host;

static const spool_option linefile_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path",
     .flags = SPOOL_OPT_REQUIRED, .doc = "The file the lines go to."},
    {.name = NULL},
};

typedef struct linefile {
    int fd;
    const char *path;
    long long size;            /* bytes written so far */
} linefile;

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static spool_rc linefile_open(spool_task *t, void **state)
{
    const void *pos;
    size_t len;
    linefile *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->path = host->opt_string(t, "path");
    s->fd = open(s->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        host->set_error(t, "cannot open %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    /* Cut back to the last checkpoint: what lies beyond comes again. */
    host->sink_position(t, &pos, &len);
    if (len > 0) {
        char text[24];
        if (len >= sizeof(text))
            return SPOOL_ERR;
        memcpy(text, pos, len);
        text[len] = '\0';
        s->size = strtoll(text, NULL, 10);
    }
    if (ftruncate(s->fd, (off_t)s->size) != 0 || lseek(s->fd, 0, SEEK_END) < 0) {
        host->set_error(t, "cannot cut %s back to %lld bytes: %s", s->path, s->size,
                        strerror(errno));
        return SPOOL_ERR;
    }
    return SPOOL_OK;
}

static void linefile_close(spool_task *t, void *state)
{
    linefile *s = state;
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static spool_rc linefile_put(spool_task *t, void *state, const spool_record *const *recs,
                             size_t n)
{
    linefile *s = state;
    for (size_t i = 0; i < n; i++) {
        const char *v = recs[i]->value != NULL ? recs[i]->value : "";
        if (write_all(s->fd, v, recs[i]->value_len) != 0 || write_all(s->fd, "\n", 1) != 0) {
            host->set_error(t, "cannot write %s: %s", s->path, strerror(errno));
            return SPOOL_RETRY;    /* the worker backs off; open() cuts the file back */
        }
        s->size += (long long)recs[i]->value_len + 1;
    }
    return SPOOL_OK;
}

static spool_rc linefile_flush(spool_task *t, void *state)
{
    linefile *s = state;
    char pos[24];
    if (fsync(s->fd) != 0) {
        host->set_error(t, "cannot sync %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    int n = snprintf(pos, sizeof(pos), "%lld", s->size);
    return host->set_sink_position(t, pos, (size_t)n);
}

static const spool_plugin linefile_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "linefile", .version = "1.0.0",
    .description = "Example sink: values as lines of a file, exactly once.",
    .kind = SPOOL_KIND_SINK, .delivery = SPOOL_DELIVERY_RESUMABLE,
    .options = linefile_options,
    .open = linefile_open, .close = linefile_close, .put = linefile_put,
    .flush = linefile_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &linefile_plugin;
}

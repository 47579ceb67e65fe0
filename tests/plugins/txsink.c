/* txsink.c - test sink: transactional, over a journal file with commit marks.
 *
 * put() appends "D<TAB>topic<TAB>partition<TAB>offset<TAB>value[<TAB>headers]" lines to
 * a buffer; flush() writes them with "O<TAB>topic<TAB>partition<TAB>next" lines for the
 * partitions it consumed, makes them durable, then appends and syncs "C", the commit
 * mark. open() cuts the journal after the last "C" and reports the committed offsets
 * with seek(): records and offsets commit together in the sink's own "system", as a
 * database sink's transaction would. Records whose id is in `reject_ids` are refused
 * with host->reject(). `crash_at: put:N` kills the process at the Nth put(), and
 * `flush:N` in the middle of the Nth flush(), after the data and before the mark.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"
#include "spool/plugin.h"

static const spool_host *host;

static const spool_option txsink_options[] = {
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "path", .flags = SPOOL_OPT_REQUIRED,
     .doc = "Journal file."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_LIST, .name = "reject_ids",
     .doc = "Ids of records to reject."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "headers", .default_value = "false",
     .doc = "Write each record's headers too."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = "crash_at", .default_value = "",
     .doc = "put:N or flush:N kills the process at that call."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_BOOL, .name = "per_task", .default_value = "false",
     .doc = "One journal per task: PATH.INDEX, from the task's name."},
    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_DURATION, .name = "put_delay", .default_value = "0",
     .doc = "Time each put() takes at least, to play a slow destination."},
    {.name = NULL},
};

typedef struct part_next {
    char topic[256];
    int32_t partition;
    int64_t next;
} part_next;

typedef struct txsink {
    int fd;
    const char *path;
    char task_path[4096];
    const char *const *reject;
    int headers;
    crash_point crash;
    int64_t put_delay_ms;
    char *buf;
    size_t len, cap;
    part_next parts[256];
    size_t nparts;
} txsink;

static int tx_append(txsink *s, const char *p, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL)
            return -1;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static part_next *tx_part(txsink *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && strcmp(s->parts[i].topic, topic) == 0)
            return &s->parts[i];
    if (s->nparts == sizeof(s->parts) / sizeof(s->parts[0]))
        return NULL;
    part_next *p = &s->parts[s->nparts++];
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    p->partition = partition;
    p->next = 0;
    return p;
}

static int tx_write_all(int fd, const char *p, size_t n)
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

/* Reads the journal, cuts it after the last commit mark, and learns the offsets. */
static spool_rc tx_recover(spool_task *t, txsink *s)
{
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return SPOOL_ERR;
    char *all = malloc((size_t)st.st_size + 1);
    if (all == NULL)
        return SPOOL_ENOMEM;
    ssize_t got = pread(s->fd, all, (size_t)st.st_size, 0);
    if (got != st.st_size) {
        free(all);
        return SPOOL_ERR;
    }
    all[got] = '\0';
    size_t committed = 0;
    for (char *line = all; *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        if (line[0] == 'C' && nl == line + 1)
            committed = (size_t)(nl + 1 - all);
        line = nl + 1;
    }
    all[committed] = '\0';
    for (char *line = all; *line != '\0';) {
        char *nl = strchr(line, '\n');
        char topic[256];
        int32_t partition;
        int64_t off;
        *nl = '\0';
        if ((line[0] == 'D' || line[0] == 'O') &&
            sscanf(line + 2, "%255[^\t]\t%" SCNd32 "\t%" SCNd64, topic, &partition, &off) == 3) {
            part_next *p = tx_part(s, topic, partition);
            int64_t next = line[0] == 'D' ? off + 1 : off;
            if (p != NULL && next > p->next)
                p->next = next;
        }
        line = nl + 1;
    }
    free(all);
    if (ftruncate(s->fd, (off_t)committed) != 0 || lseek(s->fd, 0, SEEK_END) < 0)
        return SPOOL_ERR;
    for (size_t i = 0; i < s->nparts; i++)
        if (host->seek(t, s->parts[i].topic, s->parts[i].partition, s->parts[i].next) != SPOOL_OK)
            return SPOOL_ERR;
    return SPOOL_OK;
}

static spool_rc tx_open(spool_task *t, void **state)
{
    txsink *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SPOOL_ENOMEM;
    *state = s;
    s->path = host->opt_string(t, "path");
    s->reject = host->opt_list(t, "reject_ids", NULL);
    s->headers = host->opt_int(t, "headers") != 0;
    s->put_delay_ms = host->opt_int(t, "put_delay");
    if (crash_parse(&s->crash, host->opt_string(t, "crash_at")) != 0) {
        host->set_error(t, "crash_at must be CALLBACK:N");
        return SPOOL_EINVAL;
    }
    if (host->opt_int(t, "per_task")) {
        const char *name = host->task_name(t), *slash = strrchr(name, '/');
        snprintf(s->task_path, sizeof(s->task_path), "%s.%s", s->path,
                 slash != NULL ? slash + 1 : name);
        s->path = s->task_path;
    }
    s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        host->set_error(t, "cannot open %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    return tx_recover(t, s);
}

static int tx_rejected(txsink *s, const spool_record *r)
{
    const char *v = r->value, *idp;
    char id[32];
    if (v == NULL || (idp = memmem(v, r->value_len, "\"id\":", 5)) == NULL)
        return 0;
    idp += 5;
    size_t n = 0;
    while (n + 1 < sizeof(id) && idp + n < v + r->value_len && idp[n] >= '0' && idp[n] <= '9') {
        id[n] = idp[n];
        n++;
    }
    id[n] = '\0';
    for (const char *const *p = s->reject; p != NULL && *p != NULL; p++)
        if (strcmp(*p, id) == 0)
            return 1;
    return 0;
}

static spool_rc tx_put(spool_task *t, void *state, const spool_record *const *recs, size_t n)
{
    txsink *s = state;
    crash_maybe(&s->crash, "put");
    if (s->put_delay_ms > 0) {
        struct timespec d = {(time_t)(s->put_delay_ms / 1000),
                             (long)(s->put_delay_ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        const spool_record *r = recs[i];
        part_next *p = tx_part(s, r->topic, r->partition);
        if (p == NULL)
            return SPOOL_ERR;
        if (r->offset + 1 > p->next)
            p->next = r->offset + 1;
        if (tx_rejected(s, r)) {
            char why[64];
            snprintf(why, sizeof(why), "rejected by txsink (offset %" PRId64 ")", r->offset);
            if (host->reject(t, r, why) != SPOOL_OK)
                return SPOOL_ERR;
            continue;
        }
        char head[320];
        int hn = snprintf(head, sizeof(head), "D\t%s\t%" PRId32 "\t%" PRId64 "\t", r->topic,
                          r->partition, r->offset);
        if (tx_append(s, head, (size_t)hn) != 0 ||
            tx_append(s, r->value ? r->value : "", r->value_len) != 0)
            return SPOOL_ENOMEM;
        for (size_t h = 0; s->headers && h < r->header_count; h++) {
            if (tx_append(s, h == 0 ? "\t" : ";", 1) != 0 ||
                tx_append(s, r->headers[h].key, strlen(r->headers[h].key)) != 0 ||
                tx_append(s, "=", 1) != 0 ||
                tx_append(s, r->headers[h].value, r->headers[h].value_len) != 0)
                return SPOOL_ENOMEM;
        }
        if (tx_append(s, "\n", 1) != 0)
            return SPOOL_ENOMEM;
    }
    return SPOOL_OK;
}

static spool_rc tx_flush(spool_task *t, void *state)
{
    txsink *s = state;
    for (size_t i = 0; i < s->nparts; i++) {
        char line[320];
        int n = snprintf(line, sizeof(line), "O\t%s\t%" PRId32 "\t%" PRId64 "\n",
                         s->parts[i].topic, s->parts[i].partition, s->parts[i].next);
        if (tx_append(s, line, (size_t)n) != 0)
            return SPOOL_ENOMEM;
    }
    if (tx_write_all(s->fd, s->buf, s->len) != 0 || fdatasync(s->fd) != 0) {
        host->set_error(t, "cannot write %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    s->len = 0;
    crash_maybe(&s->crash, "flush");
    if (tx_write_all(s->fd, "C\n", 2) != 0 || fdatasync(s->fd) != 0) {
        host->set_error(t, "cannot write %s: %s", s->path, strerror(errno));
        return SPOOL_ERR;
    }
    return SPOOL_OK;
}

static void tx_close(spool_task *t, void *state)
{
    txsink *s = state;
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    free(s);
}

static const spool_plugin txsink_plugin = {
    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,
    .name = "txsink", .version = "0.0.1",
    .description = "Test sink: a journal with commit marks (transactional).",
    .kind = SPOOL_KIND_SINK, .delivery = SPOOL_DELIVERY_TRANSACTIONAL,
    .options = txsink_options,
    .open = tx_open, .close = tx_close, .put = tx_put, .flush = tx_flush,
};

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)
{
    host = h;
    return &txsink_plugin;
}

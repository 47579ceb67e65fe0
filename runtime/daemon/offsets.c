/* offsets.c - KIP-875: reading, setting and resetting a connector's offsets.
 *
 * Shapes as Kafka Connect's:
 *
 *     sinks:   {"partition": {"kafka_topic": T, "kafka_partition": P},
 *               "offset": {"kafka_offset": NEXT}}        the next offset to deliver
 *     sources: {"partition": {"source": NAME}, "offset": {"position": TEXT}}
 *
 * A source's position is the opaque bytes its plugin committed with its records; shown
 * as text when it is printable (every shipped source writes text), else as
 * {"position_hex": ...}. Changing offsets needs the connector STOPPED, so that no task
 * holds them: a source's position is committed to the log like any other; a sink's
 * checkpoint files (DATA_DIR/sinks/NAME[-TASK].ckpt) are replaced atomically by a new
 * journal holding one record (ckpt_save), which the task reads when it starts. A reset
 * makes a sink start at the log's first offset and a source at the start of its input.
 * A transactional sink keeps its offsets in its own system, which spool cannot change
 * without running it: such requests are refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt.h"
#include "daemon/daemon_int.h"

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static json_t *position_json(const unsigned char *pos, size_t len)
{
    int printable = 1;
    for (size_t i = 0; i < len && printable; i++)
        printable = pos[i] >= 0x20 && pos[i] < 0x7f;
    if (printable)
        return json_pack("{ss%}", "position", (const char *)pos, len);
    char *hex = malloc(2 * len + 1);
    if (hex == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", pos[i]);
    json_t *o = json_pack("{ss}", "position_hex", hex);
    free(hex);
    return o;
}

static int sink_tasks(const dconn *c)
{
    return c->cc->tasks > 0 ? c->cc->tasks : 1;
}

static void ckpt_name(const dconn *c, int task, char *out, size_t n)
{
    if (sink_tasks(c) > 1)
        snprintf(out, n, "%s-%d", c->name, task);
    else
        snprintf(out, n, "%s", c->name);
}

static int check(spool_daemon *d, const dconn *c, int change, char *err, size_t errlen)
{
    if (backend_kind_of(d->b) == BACKEND_KAFKA) {
        snprintf(err, errlen, "the offsets endpoints work on the builtin log only: on kafka "
                 "a sink's offsets are its consumer group's (\"%s.%s\"; kafka-consumer-groups"
                 " --describe/--reset-offsets change them) and a source's position is a "
                 "record keyed \"%s\" in the offsets topic \"%s.offsets\"",
                 d->cf.log.group ? d->cf.log.group : "spool", c->name, c->name,
                 d->cf.log.group ? d->cf.log.group : "spool");
        return 501;
    }
    if (c->cc == NULL) {
        snprintf(err, errlen, "connector %s cannot be loaded: %s", c->name,
                 c->load_error ? c->load_error : "unknown reason");
        return 409;
    }
    if (change && (c->target != WORKER_STOPPED || c->w != NULL)) {
        snprintf(err, errlen, "connector %s must be in the STOPPED state before its offsets "
                 "can be changed: PUT /connectors/%s/stop first", c->name, c->name);
        return 400;
    }
    if (c->kind == SPOOL_KIND_SINK &&
        c->cc->plugin->desc->delivery == SPOOL_DELIVERY_TRANSACTIONAL) {
        snprintf(err, errlen, "sink %s (%s) is transactional: it keeps its offsets in its "
                 "own system, with the data; change them there", c->name,
                 c->cc->plugin->desc->name);
        return 400;
    }
    return 0;
}

int offsets_get(spool_daemon *d, dconn *c, json_t **out, char *err, size_t errlen)
{
    int st = check(d, c, 0, err, errlen);
    json_t *list = json_array();
    *out = NULL;
    if (st != 0) {
        json_decref(list);
        return st;
    }
    if (c->kind == SPOOL_KIND_SOURCE) {
        void *pos = NULL;
        size_t len = 0;
        backend_producer *p = NULL;
        int rc = backend_producer_open(d->b, c->name, &p, err, errlen);
        if (rc == SPOOL_OK)
            rc = backend_producer_position(p, &pos, &len);
        backend_producer_close(p);
        if (rc != SPOOL_OK) {
            json_decref(list);
            snprintf(err, errlen, "cannot read the position of %s", c->name);
            return 500;
        }
        if (len > 0)
            json_array_append_new(list, json_pack("{s{ss}so}", "partition", "source",
                                                  c->name, "offset",
                                                  position_json(pos, len)));
        free(pos);
    } else {
        for (int t = 0; t < sink_tasks(c); t++) {
            char name[300];
            ckpt ck = {0};
            ckpt_name(c, t, name, sizeof(name));
            if (ckpt_load(d->cf.data_dir, name, &ck, err, errlen) != SPOOL_OK) {
                json_decref(list);
                return 500;
            }
            for (size_t i = 0; i < ck.count; i++)
                json_array_append_new(
                    list, json_pack("{s{sssi}s{sI}}", "partition", "kafka_topic",
                                    ck.entries[i].topic, "kafka_partition",
                                    (int)ck.entries[i].partition, "offset", "kafka_offset",
                                    (json_int_t)ck.entries[i].next_offset));
            ckpt_clear(&ck);
        }
    }
    *out = json_pack("{so}", "offsets", list);
    return 200;
}

/* A source's new position from {"position": TEXT} or {"position_hex": HEX}; NULL offset
 * resets. */
static int source_alter(spool_daemon *d, dconn *c, json_t *offset, char *err, size_t errlen)
{
    unsigned char *pos = NULL;
    size_t len = 0;
    int st = 400;
    if (offset != NULL && !json_is_null(offset)) {
        const char *text = json_string_value(json_object_get(offset, "position"));
        const char *hex = json_string_value(json_object_get(offset, "position_hex"));
        if (text != NULL) {
            len = strlen(text);
            pos = (unsigned char *)strdup(text);
        } else if (hex != NULL && strlen(hex) % 2 == 0) {
            len = strlen(hex) / 2;
            pos = malloc(len + 1);
            for (size_t i = 0; pos != NULL && i < len; i++) {
                int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                    snprintf(err, errlen, "position_hex is not hexadecimal");
                    goto out;
                }
                pos[i] = (unsigned char)(hi << 4 | lo);
            }
        } else {
            snprintf(err, errlen, "a source's offset is {\"position\": TEXT} or "
                     "{\"position_hex\": HEX}, or null to reset it");
            goto out;
        }
        if (pos == NULL) {
            snprintf(err, errlen, "out of memory");
            st = 500;
            goto out;
        }
    }
    backend_producer *p = NULL;
    char why[512] = "";
    int rc = backend_producer_open(d->b, c->name, &p, why, sizeof(why));
    if (rc == SPOOL_OK)
        rc = backend_producer_set_position(p, pos, len);
    if (rc == SPOOL_OK)
        rc = backend_producer_commit(p);
    if (rc != SPOOL_OK && p != NULL)
        snprintf(why, sizeof(why), "%s", backend_producer_error(p));
    backend_producer_close(p);
    if (rc != SPOOL_OK) {
        snprintf(err, errlen, "cannot commit the new position: %s", why[0] ? why
                 : rc == SPOOL_EINVAL ? "position too large" : "out of memory");
        st = rc == SPOOL_EINVAL ? 400 : 500;
        goto out;
    }
    worker_log(SPOOL_LOG_INFO, "api", "source %s: position %s through the API",
               c->name, len ? "set" : "reset");
    st = 200;
out:
    free(pos);
    return st;
}

/* Removes topic/partition from ck (the sink then starts at the log's first offset). */
static void ckpt_forget(ckpt *ck, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < ck->count; i++)
        if (ck->entries[i].partition == partition && strcmp(ck->entries[i].topic, topic) == 0) {
            free(ck->entries[i].topic);
            ck->entries[i] = ck->entries[--ck->count];
            return;
        }
}

static int sink_alter(spool_daemon *d, dconn *c, json_t *list, char *err, size_t errlen)
{
    int tasks = sink_tasks(c), st = 200;
    ckpt *cks = calloc((size_t)tasks, sizeof(*cks));
    if (cks == NULL) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    for (int t = 0; t < tasks; t++) {
        char name[300];
        ckpt_name(c, t, name, sizeof(name));
        if (ckpt_load(d->cf.data_dir, name, &cks[t], err, errlen) != SPOOL_OK) {
            st = 500;
            goto out;
        }
        if (list == NULL)
            while (cks[t].count > 0)
                ckpt_forget(&cks[t], cks[t].entries[0].topic, cks[t].entries[0].partition);
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        json_t *part = json_object_get(e, "partition"), *off = json_object_get(e, "offset");
        const char *topic = json_string_value(json_object_get(part, "kafka_topic"));
        json_t *pj = json_object_get(part, "kafka_partition");
        json_t *oj = json_object_get(off, "kafka_offset");
        int known = 0;
        for (size_t k = 0; topic != NULL && k < c->cc->ntopics; k++)
            known |= strcmp(c->cc->topics[k], topic) == 0;
        if (!known || !json_is_integer(pj) || json_integer_value(pj) < 0 ||
            json_integer_value(pj) >= backend_topic_partitions(d->b, topic) ||
            (off != NULL && !json_is_null(off) &&
             (!json_is_integer(oj) || json_integer_value(oj) < 0))) {
            snprintf(err, errlen, "offsets[%zu]: expected {\"partition\": {\"kafka_topic\": "
                     "one of the sink's topics, \"kafka_partition\": an existing partition}, "
                     "\"offset\": {\"kafka_offset\": N} or null}", i);
            st = 400;
            goto out;
        }
        int32_t p = (int32_t)json_integer_value(pj);
        ckpt *ck = &cks[p % tasks];
        if (off == NULL || json_is_null(off))
            ckpt_forget(ck, topic, p);
        else if (ckpt_set(ck, topic, p, (int64_t)json_integer_value(oj)) != SPOOL_OK) {
            snprintf(err, errlen, "out of memory");
            st = 500;
            goto out;
        }
    }
    /* The resumable sink's output position stays: its output is cut back to it. */
    for (int t = 0; t < tasks; t++) {
        char name[300];
        ckpt_name(c, t, name, sizeof(name));
        if (ckpt_save(d->cf.data_dir, name, &cks[t], err, errlen) != SPOOL_OK) {
            st = 500;
            goto out;
        }
    }
    worker_log(SPOOL_LOG_INFO, "api", "sink %s: offsets %s through the API",
               c->name, list ? "changed" : "reset");
out:
    for (int t = 0; t < tasks; t++)
        ckpt_clear(&cks[t]);
    free(cks);
    return st;
}

int offsets_alter(spool_daemon *d, dconn *c, json_t *body, char *err, size_t errlen)
{
    int st = check(d, c, 1, err, errlen);
    if (st != 0)
        return st;
    json_t *list = body != NULL ? json_object_get(body, "offsets") : NULL;
    if (body != NULL && (!json_is_array(list) || json_array_size(list) == 0)) {
        snprintf(err, errlen, "expected {\"offsets\": [{\"partition\": {...}, \"offset\": "
                 "{...}}, ...]}, as GET /connectors/%s/offsets shows them", c->name);
        return 400;
    }
    if (c->kind == SPOOL_KIND_SINK)
        return sink_alter(d, c, list, err, errlen);
    json_t *offset = NULL;
    if (list != NULL) {
        if (json_array_size(list) != 1 ||
            !json_is_string(json_object_get(json_object_get(json_array_get(list, 0),
                                                            "partition"), "source"))) {
            snprintf(err, errlen, "a source has one partition: {\"partition\": {\"source\": "
                     "\"%s\"}, \"offset\": {\"position\": TEXT} or null}", c->name);
            return 400;
        }
        offset = json_object_get(json_array_get(list, 0), "offset");
        if (offset == NULL)
            offset = json_null();
    }
    return source_alter(d, c, offset, err, errlen);
}

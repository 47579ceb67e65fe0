/* log_batch.c - encoding and bounds-checked decoding of record batches.
 *
 * A batch is the unit of write, CRC and recovery (docs/log-format.md has the bytes).
 * Decoding trusts nothing: every length is checked against the bytes that remain
 * before it is used, the batch length is bounded by LOG_MAX_BATCH_BYTES before anyone
 * allocates for it, and a record must consume exactly the bytes its length prefix
 * claims. The decoders allocate nothing, so a fuzzer can call them on any input.
 * Timestamps are stored as deltas from the batch's first timestamp using wrapping
 * 64-bit arithmetic, which round-trips every int64 pair without overflow.
 */
#include <stdlib.h>
#include <string.h>

#include "log/log_int.h"
#include "spool/plugin.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/strutil.h"

/* A varint-coded signed length: -1 (null) when nullable, else 0..(end - p). */
static int log_get_len(const uint8_t **p, const uint8_t *end, int nullable, int64_t *len)
{
    uint64_t u;
    int64_t v;

    if (util_varint_get(p, end, &u) != 0)
        return -1;
    v = util_zigzag_dec(u);
    if (v == -1 && nullable) {
        *len = -1;
        return 0;
    }
    if (v < 0 || (uint64_t)v > (uint64_t)(end - *p))
        return -1;
    *len = v;
    return 0;
}

/* Decodes one record at *pp. hdrs may be NULL to validate only; *nheaders receives the
 * record's header count. Returns 0, or -1 with *what naming the bad field. */
static int log_record_decode(const uint8_t **pp, const uint8_t *end, int64_t first_ts,
                             log_record *rec, log_header *hdrs, size_t hdr_cap,
                             uint64_t *nheaders, const char **what)
{
    const uint8_t *p = *pp;
    const uint8_t *rend;
    uint64_t body, u, nh;
    int64_t len;

    if (util_varint_get(&p, end, &body) != 0 || body > (uint64_t)(end - p)) {
        *what = "record length";
        return -1;
    }
    rend = p + body;
    if (util_varint_get(&p, rend, &u) != 0) {
        *what = "timestamp delta";
        return -1;
    }
    if (rec)
        rec->timestamp_ms = util_u64_to_i64((uint64_t)first_ts + (uint64_t)util_zigzag_dec(u));
    if (log_get_len(&p, rend, 1, &len) != 0) {
        *what = "key length";
        return -1;
    }
    if (rec) {
        rec->key = len < 0 ? NULL : p;
        rec->key_len = len < 0 ? 0 : (size_t)len;
    }
    p += len < 0 ? 0 : len;
    if (log_get_len(&p, rend, 1, &len) != 0) {
        *what = "value length";
        return -1;
    }
    if (rec) {
        rec->value = len < 0 ? NULL : p;
        rec->value_len = len < 0 ? 0 : (size_t)len;
    }
    p += len < 0 ? 0 : len;
    if (util_varint_get(&p, rend, &nh) != 0 || nh > LOG_MAX_HEADERS ||
        (hdrs != NULL && nh > hdr_cap)) {
        *what = "header count";
        return -1;
    }
    for (uint64_t i = 0; i < nh; i++) {
        log_header h;
        if (log_get_len(&p, rend, 0, &len) != 0) {
            *what = "header key length";
            return -1;
        }
        h.key = (const char *)p;
        h.key_len = (size_t)len;
        p += len;
        if (log_get_len(&p, rend, 1, &len) != 0) {
            *what = "header value length";
            return -1;
        }
        h.value = len < 0 ? NULL : p;
        h.value_len = len < 0 ? 0 : (size_t)len;
        p += len < 0 ? 0 : len;
        if (hdrs)
            hdrs[i] = h;
    }
    if (p != rend) {
        *what = "record length (fields end before it)";
        return -1;
    }
    if (rec) {
        rec->headers = nh ? hdrs : NULL;
        rec->header_count = (size_t)nh;
    }
    *nheaders = nh;
    *pp = p;
    return 0;
}

int log_batch_peek(const uint8_t *buf, size_t len, log_batch_hdr *h, char *why,
                   size_t whylen)
{
    if (len < LOG_BATCH_HDR)
        return 0;
    if (util_get_u32(buf) != LOG_BATCH_MAGIC) {
        util_errf(why, whylen, "bad batch magic 0x%08x", util_get_u32(buf));
        return LOG_ECORRUPT;
    }
    memset(h, 0, sizeof *h);
    h->crc = util_get_u32(buf + 4);
    h->length = util_get_u32(buf + 8);
    h->version = util_get_u16(buf + 12);
    h->flags = util_get_u16(buf + 14);
    h->base_offset = util_u64_to_i64(util_get_u64(buf + 16));
    h->first_ts = util_u64_to_i64(util_get_u64(buf + 24));
    h->max_ts = util_u64_to_i64(util_get_u64(buf + 32));
    h->count = util_get_u32(buf + 40);
    if (h->length < LOG_BATCH_HDR || h->length > LOG_MAX_BATCH_BYTES) {
        util_errf(why, whylen, "batch length %u outside [%u, %u]", h->length,
                  LOG_BATCH_HDR, LOG_MAX_BATCH_BYTES);
        return LOG_ECORRUPT;
    }
    return 1;
}

int log_batch_verify(const uint8_t *buf, size_t len, log_batch_hdr *h, char *why,
                     size_t whylen)
{
    const uint8_t *p, *end;
    uint32_t crc;
    int rc = log_batch_peek(buf, len, h, why, whylen);

    if (rc == 0) {
        util_errf(why, whylen, "batch header cut short: %zu of %u bytes", len,
                  LOG_BATCH_HDR);
        return LOG_ECORRUPT;
    }
    if (rc < 0)
        return rc;
    if (h->length > len) {
        util_errf(why, whylen, "batch length %u runs past the %zu bytes available",
                  h->length, len);
        return LOG_ECORRUPT;
    }
    crc = util_crc32c(0, buf + 8, h->length - 8);
    if (crc != h->crc) {
        util_errf(why, whylen, "CRC32C mismatch (stored 0x%08x, computed 0x%08x)", h->crc,
                  crc);
        return LOG_ECORRUPT;
    }
    if (h->version != LOG_FORMAT_VERSION || h->flags != 0 || util_get_u32(buf + 44) != 0) {
        util_errf(why, whylen, "batch version %u flags 0x%04x: this build reads version %u "
                  "without flags", h->version, h->flags, LOG_FORMAT_VERSION);
        return LOG_ECORRUPT;
    }
    if (h->base_offset < 0 || h->base_offset > INT64_MAX - (int64_t)h->count) {
        util_errf(why, whylen, "base offset %lld with %u records is out of range",
                  (long long)h->base_offset, h->count);
        return LOG_ECORRUPT;
    }
    p = buf + LOG_BATCH_HDR;
    end = buf + h->length;
    h->max_headers = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        const char *what = NULL;
        uint64_t nh = 0;
        if (log_record_decode(&p, end, h->first_ts, NULL, NULL, 0, &nh, &what) != 0) {
            util_errf(why, whylen, "record %u of %u (offset %lld): bad %s", i, h->count,
                      (long long)(h->base_offset + i), what);
            return LOG_ECORRUPT;
        }
        if (nh > h->max_headers)
            h->max_headers = (uint32_t)nh;
    }
    if (p != end) {
        util_errf(why, whylen, "%zu bytes left after the batch's %u records",
                  (size_t)(end - p), h->count);
        return LOG_ECORRUPT;
    }
    return SPOOL_OK;
}

void log_batch_cursor_init(log_batch_cursor *c, const uint8_t *buf, const log_batch_hdr *h)
{
    c->p = buf + LOG_BATCH_HDR;
    c->end = buf + h->length;
    c->left = h->count;
    c->offset = h->base_offset;
    c->first_ts = h->first_ts;
}

int log_batch_cursor_next(log_batch_cursor *c, log_record *rec, log_header *hdrs,
                          size_t hdr_cap)
{
    const char *what = NULL;
    uint64_t nh = 0;

    if (c->left == 0)
        return 0;
    memset(rec, 0, sizeof *rec);
    if (log_record_decode(&c->p, c->end, c->first_ts, rec, hdrs, hdr_cap, &nh, &what) != 0)
        return LOG_ECORRUPT;
    rec->offset = c->offset++;
    c->left--;
    return 1;
}

int log_batch_decode(const uint8_t *buf, size_t len, log_batch_record_fn fn, void *ctx,
                     char *why, size_t whylen)
{
    log_batch_hdr h;
    log_batch_cursor c;
    log_header *hdrs = NULL;
    log_record rec;
    int rc = log_batch_verify(buf, len, &h, why, whylen);

    if (rc != SPOOL_OK)
        goto out;
    if (h.max_headers > 0) {
        hdrs = calloc(h.max_headers, sizeof *hdrs);
        if (hdrs == NULL) {
            rc = SPOOL_ENOMEM;
            goto out;
        }
    }
    log_batch_cursor_init(&c, buf, &h);
    while ((rc = log_batch_cursor_next(&c, &rec, hdrs, h.max_headers)) == 1) {
        if (fn != NULL && (rc = fn(ctx, &rec)) != 0)
            goto out;
    }
    if (rc < 0)
        util_errf(why, whylen, "record at offset %lld is malformed", (long long)c.offset);
out:
    free(hdrs);
    return rc;
}

/* The bytes after a record's length prefix; 0 (never a valid body) when rec cannot
 * be encoded. */
static size_t log_record_body_len(const log_record *rec, int64_t first_ts)
{
    size_t body = 0;
    uint64_t delta = (uint64_t)rec->timestamp_ms - (uint64_t)first_ts;

    /* Bounding each length first keeps the sum far from overflow. */
    if (rec->header_count > LOG_MAX_HEADERS || rec->key_len > LOG_MAX_BATCH_BYTES ||
        rec->value_len > LOG_MAX_BATCH_BYTES)
        return 0;
    body += util_varint_len(util_zigzag_enc(util_u64_to_i64(delta)));
    body += util_varint_len(util_zigzag_enc(rec->key ? (int64_t)rec->key_len : -1));
    body += rec->key ? rec->key_len : 0;
    body += util_varint_len(util_zigzag_enc(rec->value ? (int64_t)rec->value_len : -1));
    body += rec->value ? rec->value_len : 0;
    body += util_varint_len(rec->header_count);
    for (size_t i = 0; i < rec->header_count; i++) {
        const log_header *h = &rec->headers[i];
        if (h->key == NULL || h->key_len > LOG_MAX_BATCH_BYTES ||
            h->value_len > LOG_MAX_BATCH_BYTES)
            return 0;
        body += util_varint_len(util_zigzag_enc((int64_t)h->key_len)) + h->key_len;
        body += util_varint_len(util_zigzag_enc(h->value ? (int64_t)h->value_len : -1));
        body += h->value ? h->value_len : 0;
    }
    return body;
}

size_t log_record_encoded_len(const log_record *rec, int64_t first_ts)
{
    size_t body = log_record_body_len(rec, first_ts);

    return body == 0 ? 0 : util_varint_len(body) + body;
}

/* Writes a nullable byte string: zigzag length (-1 for NULL), then the bytes. */
static uint8_t *log_put_bytes(uint8_t *p, const void *b, size_t len)
{
    p += util_varint_put(p, util_zigzag_enc(b ? (int64_t)len : -1));
    if (b != NULL && len > 0) {
        memcpy(p, b, len);
        p += len;
    }
    return p;
}

size_t log_record_encode(uint8_t *p, const log_record *rec, int64_t first_ts)
{
    size_t body = log_record_body_len(rec, first_ts);
    uint8_t *start = p;
    uint64_t delta = (uint64_t)rec->timestamp_ms - (uint64_t)first_ts;

    p += util_varint_put(p, body);
    p += util_varint_put(p, util_zigzag_enc(util_u64_to_i64(delta)));
    p = log_put_bytes(p, rec->key, rec->key_len);
    p = log_put_bytes(p, rec->value, rec->value_len);
    p += util_varint_put(p, rec->header_count);
    for (size_t i = 0; i < rec->header_count; i++) {
        const log_header *h = &rec->headers[i];
        p = log_put_bytes(p, h->key, h->key_len);
        p = log_put_bytes(p, h->value, h->value_len);
    }
    return (size_t)(p - start);
}

void log_batch_seal(uint8_t *buf, size_t len, int64_t base_offset, uint32_t count,
                    int64_t first_ts, int64_t max_ts)
{
    util_put_u32(buf, LOG_BATCH_MAGIC);
    util_put_u32(buf + 8, (uint32_t)len);
    util_put_u16(buf + 12, LOG_FORMAT_VERSION);
    util_put_u16(buf + 14, 0);
    util_put_u64(buf + 16, (uint64_t)base_offset);
    util_put_u64(buf + 24, (uint64_t)first_ts);
    util_put_u64(buf + 32, (uint64_t)max_ts);
    util_put_u32(buf + 40, count);
    util_put_u32(buf + 44, 0);
    util_put_u32(buf + 4, util_crc32c(0, buf + 8, len - 8));
}

/* config_yaml.c - libyaml document loading, node access and diagnostics for config.
 *
 * libyaml reports one syntax problem and stops; everything after that (duplicate keys,
 * which libyaml accepts, unknown keys, types) is found here while walking the loaded
 * document. Every message is a single line "FILE:LINE:COLUMN: PATH: PROBLEM; EXPECTED"
 * with 1-based positions from libyaml's 0-based marks. Anything echoed from the file is
 * quoted, escaped and shortened, so a hostile key cannot forge extra lines in a log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"

/* ------------------------------------------------------------------------------ */
/* Growable strings                                                               */

void config_buf_add(config_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void config_buf_str(config_buf *b, const char *s)
{
    config_buf_add(b, s, strlen(s));
}

void config_buf_printf(config_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    config_buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

char *config_buf_take(config_buf *b)
{
    if (b->failed) {
        config_buf_free(b);
        return NULL;
    }
    char *s = b->s ? b->s : strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void config_buf_free(config_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

void config_join(config_buf *b, const char *const *items, size_t n)
{
    if (n == 0) {
        config_buf_str(b, "(none)");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            config_buf_str(b, ", ");
        config_buf_str(b, items[i]);
    }
}

/* ------------------------------------------------------------------------------ */
/* Diagnostics                                                                    */

static void config_report(config_ctx *c, int line, int column, const char *path,
                          const char *fmt, va_list ap)
{
    c->errors++;
    if (c->nmsgs >= CONFIG_MAX_DIAGS)
        return;    /* counted; config.c adds one "N more" line at the end */
    char body[2048];
    vsnprintf(body, sizeof body, fmt, ap);
    config_buf b = {0};
    if (line > 0)
        config_buf_printf(&b, "%s:%d:%d: ", c->name, line, column);
    else
        config_buf_printf(&b, "%s: ", c->name);
    if (path && *path) {
        config_buf_str(&b, path);
        config_buf_str(&b, ": ");
    }
    config_buf_str(&b, body);
    char *text = config_buf_take(&b);
    if (!text) {
        c->oom = 1;
        return;
    }
    /* Messages are one line whatever reached them (an env value, a libyaml text). */
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    config_msg *m = realloc(c->msgs, (c->nmsgs + 1) * sizeof *m);
    if (!m) {
        free(text);
        c->oom = 1;
        return;
    }
    c->msgs = m;
    m[c->nmsgs] = (config_msg){line, column, c->nmsgs, text};
    c->nmsgs++;
}

void config_error(config_ctx *c, const yaml_node_t *at, const char *path, const char *fmt,
                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    int line = at ? (int)at->start_mark.line + 1 : 0;
    int col = at ? (int)at->start_mark.column + 1 : 0;
    config_report(c, line, col, path, fmt, ap);
    va_end(ap);
}

void config_error_at(config_ctx *c, int line, int column, const char *path,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    config_report(c, line, column, path, fmt, ap);
    va_end(ap);
}

void config_nomem(config_ctx *c)
{
    c->oom = 1;
}

/* ------------------------------------------------------------------------------ */
/* Quoting and paths                                                              */

void config_show(char *out, size_t n, const char *s)
{
    /* Room for the worst escape (\xNN), the ellipsis, the quotes and the NUL. */
    size_t limit = n > 12 ? n - 12 : 0, o = 0, shown = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (o >= limit || shown >= 60) {
            /* Cut before a UTF-8 continuation byte's sequence would be split. */
            while (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
                o--;
            if (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
                o--;
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7F) {
            o += (size_t)snprintf(out + o, n - o, "\\x%02X", *p);
        } else {
            out[o++] = (char)*p;
        }
        if ((*p & 0xC0) != 0x80)
            shown++;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* Appends one key to a dotted path: parent.key, or parent["key"] when the key has
 * characters other than letters, digits, '_' and '-' (a '.' in a topic name would
 * otherwise read as a level). Keys come from the file: config_show escapes them. */
void config_path(char *out, const char *parent, const char *key)
{
    size_t o = 0;
    int plain = *key != '\0';
    for (const char *k = key; *k && plain; k++)
        plain = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
                (*k >= '0' && *k <= '9') || *k == '_' || *k == '-';
    if (parent && *parent) {
        o = strlen(parent);
        if (o > CONFIG_PATH_MAX - 100)
            o = CONFIG_PATH_MAX - 100;
        memmove(out, parent, o);
        if (plain)
            out[o++] = '.';
    }
    if (plain) {
        snprintf(out + o, CONFIG_PATH_MAX - o, "%.64s%s", key,
                 strlen(key) > 64 ? "..." : "");
    } else {
        char shown[90];
        config_show(shown, sizeof shown, key);
        snprintf(out + o, CONFIG_PATH_MAX - o, "[%s]", shown);
    }
}

void config_path_index(char *out, const char *parent, size_t i)
{
    char tmp[CONFIG_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%.*s[%zu]", CONFIG_PATH_MAX - 40, parent ? parent : "", i);
    memcpy(out, tmp, strlen(tmp) + 1);
}

/* ------------------------------------------------------------------------------ */
/* Suggestions                                                                    */

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), so
 * "partitoins" is one edit from "partitions". Words longer than 63 bytes get no
 * suggestion: nobody mistypes a key that long by a letter. */
static size_t config_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *config_suggest(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word);
    size_t limit = len <= 3 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    size_t bestd = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(word, cands[i]) == 0)
            return cands[i];
        size_t dist = config_distance(word, cands[i]);
        if (dist <= limit && dist < bestd) {
            best = cands[i];
            bestd = dist;
        }
    }
    return best;
}

void config_unknown_key(config_ctx *c, const config_entry *e, const char *path,
                        const char *const *valid, size_t nvalid)
{
    char full[CONFIG_PATH_MAX];
    config_path(full, path, e->key);
    config_buf b = {0};
    if (strcmp(e->key, "<<") == 0)
        config_buf_str(&b, "YAML merge keys (<<) are not supported; expected the keys "
                           "written out, one of: ");
    else {
        const char *s = config_suggest(e->key, valid, nvalid);
        config_buf_str(&b, "unknown key");
        if (s)
            config_buf_printf(&b, "; did you mean \"%s\"? expected one of: ", s);
        else
            config_buf_str(&b, "; expected one of: ");
    }
    config_join(&b, valid, nvalid);
    if (b.failed) {
        config_nomem(c);
    } else {
        config_error(c, e->knode, full, "%s", b.s);
    }
    config_buf_free(&b);
}

/* ------------------------------------------------------------------------------ */
/* Loading                                                                        */

/* libyaml reports reader errors (bad UTF-8, control characters) by byte offset, not
 * mark; turn the offset into a line and a column counted in characters, like marks. */
static void config_offset_mark(const config_ctx *c, size_t off, int *line, int *col)
{
    int l = 1, k = 1;
    for (size_t i = 0; i < off && i < c->len; i++) {
        unsigned char ch = (unsigned char)c->text[i];
        if (ch == '\n') {
            l++;
            k = 1;
        } else if ((ch & 0xC0) != 0x80) {
            k++;
        }
    }
    *line = l;
    *col = k;
}

/* The byte at a 0-based line and column, or -1; used only to explain "cannot start any
 * token" when the culprit is a tab, the most common way a hand-edited file breaks. */
static int config_char_at(const config_ctx *c, size_t line, size_t col)
{
    size_t i = 0;
    for (size_t l = 0; l < line && i < c->len; i++)
        if (c->text[i] == '\n')
            l++;
    for (size_t k = 0; i < c->len && c->text[i] != '\n'; i++) {
        if (((unsigned char)c->text[i] & 0xC0) == 0x80)
            continue;
        if (k++ == col)
            return (unsigned char)c->text[i];
    }
    return -1;
}

static void config_parser_error(config_ctx *c, const yaml_parser_t *ps)
{
    if (ps->error == YAML_MEMORY_ERROR) {
        config_nomem(c);
        return;
    }
    if (ps->error == YAML_READER_ERROR) {
        int line, col;
        config_offset_mark(c, ps->problem_offset, &line, &col);
        if (ps->problem_value != -1)
            config_error_at(c, line, col, NULL,
                            "invalid YAML: %s (#%X at byte %zu); expected UTF-8 text "
                            "without control characters",
                            ps->problem ? ps->problem : "unreadable input",
                            (unsigned)ps->problem_value, ps->problem_offset);
        else
            config_error_at(c, line, col, NULL,
                            "invalid YAML: %s (at byte %zu); expected UTF-8 text "
                            "without control characters",
                            ps->problem ? ps->problem : "unreadable input",
                            ps->problem_offset);
        return;
    }
    char ctx[160] = "";
    if (ps->context)
        snprintf(ctx, sizeof ctx, " (%s at %zu:%zu)", ps->context,
                 ps->context_mark.line + 1, ps->context_mark.column + 1);
    const char *hint = "expected valid YAML: check indentation, quotes and brackets";
    if (ps->error == YAML_COMPOSER_ERROR)
        hint = "expected every alias (*name) to follow its anchor (&name) in the file";
    if (config_char_at(c, ps->problem_mark.line, ps->problem_mark.column) == '\t')
        hint = "a tab character; expected spaces, YAML never indents with tabs";
    config_error_at(c, (int)ps->problem_mark.line + 1, (int)ps->problem_mark.column + 1,
                    NULL, "invalid YAML: %s%s; %s", ps->problem ? ps->problem : "error",
                    ctx, hint);
}

int config_yaml_load(config_ctx *c, yaml_document_t *doc)
{
    const unsigned char *u = (const unsigned char *)c->text;
    yaml_parser_t ps;
    yaml_document_t extra;
    int rc = -1;

    /* libyaml would switch to UTF-16 on its byte order mark, and its marks and
     * offsets would then count something else; pipelines are UTF-8 (a UTF-8 BOM is
     * fine: libyaml skips it). */
    if (c->len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        config_error_at(c, 1, 1, NULL, "invalid YAML: the file is UTF-16; expected UTF-8 "
                                       "(convert it, e.g. with iconv -t UTF-8)");
        return -1;
    }
    if (!yaml_parser_initialize(&ps)) {
        config_nomem(c);
        return -1;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)c->text, c->len);
    if (!yaml_parser_load(&ps, doc)) {
        config_parser_error(c, &ps);
        goto out;
    }
    /* A second document would be silently ignored; say so instead. */
    if (!yaml_parser_load(&ps, &extra)) {
        config_parser_error(c, &ps);
        yaml_document_delete(doc);
        goto out;
    }
    yaml_node_t *root = yaml_document_get_root_node(&extra);
    if (root) {
        config_error(c, root, NULL,
                     "a second YAML document (after \"---\"); expected one pipeline per "
                     "file");
        yaml_document_delete(&extra);
        yaml_document_delete(doc);
        goto out;
    }
    yaml_document_delete(&extra);
    rc = 0;
out:
    yaml_parser_delete(&ps);
    return rc;
}

/* ------------------------------------------------------------------------------ */
/* Nodes                                                                          */

yaml_node_t *config_node(config_ctx *c, int idx)
{
    if (c->stop)
        return NULL;
    if (++c->visited > CONFIG_MAX_NODES) {
        c->stop = 1;
        yaml_node_t *at = yaml_document_get_node(c->doc, idx);
        config_error(c, at, NULL,
                     "the document has more than %d nodes once aliases are expanded; "
                     "expected a smaller pipeline (are anchors and aliases nested?)",
                     CONFIG_MAX_NODES);
        return NULL;
    }
    return yaml_document_get_node(c->doc, idx);
}

const char *config_scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

int config_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = config_scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

const char *config_kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a map";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_SCALAR_NODE: return config_is_null(n) ? "nothing" : "a string";
    default: return "nothing";
    }
}

typedef struct config_keyref {
    const char *key;
    size_t pos;
} config_keyref;

static int config_keyref_cmp(const void *a, const void *b)
{
    const config_keyref *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    if (r)
        return r;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int config_map_entries(config_ctx *c, yaml_node_t *map, const char *path,
                       config_entry **out, size_t *n)
{
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    size_t np = (size_t)(map->data.mapping.pairs.top - pairs), ne = 0;
    config_entry *e = NULL;
    config_keyref *refs = NULL;
    unsigned char *dup = NULL;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (np == 0)
        return 0;
    e = calloc(np, sizeof *e);
    refs = calloc(np, sizeof *refs);
    dup = calloc(np, 1);
    if (!e || !refs || !dup) {
        config_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        yaml_node_t *k = config_node(c, pairs[i].key);
        yaml_node_t *v = config_node(c, pairs[i].value);
        if (!k || !v)
            goto out;
        if (k->type != YAML_SCALAR_NODE) {
            config_error(c, k, path, "a key that is %s; expected a plain name",
                         config_kind_name(k));
            continue;
        }
        e[ne] = (config_entry){config_scalar(k), k, v};
        refs[ne] = (config_keyref){e[ne].key, ne};
        ne++;
    }
    /* Sorting finds repeats in n log n; a map with thousands of keys stays cheap. */
    qsort(refs, ne, sizeof *refs, config_keyref_cmp);
    size_t run = 0;    /* where the current run of equal keys starts in refs */
    for (size_t i = 1; i < ne; i++) {
        if (strcmp(refs[i].key, refs[run].key) != 0) {
            run = i;
            continue;
        }
        /* Within a run refs are in file order, so refs[run] is the first written. */
        size_t first = refs[run].pos;
        dup[refs[i].pos] = 1;
        char full[CONFIG_PATH_MAX], shown[128];
        config_path(full, path, refs[i].key);
        config_show(shown, sizeof shown, refs[i].key);
        config_error(c, e[refs[i].pos].knode, full,
                     "duplicate key %s (first at %zu:%zu); expected each key once in a "
                     "map",
                     shown, e[first].knode->start_mark.line + 1,
                     e[first].knode->start_mark.column + 1);
    }
    size_t o = 0;
    for (size_t i = 0; i < ne; i++)
        if (!dup[i])
            e[o++] = e[i];
    *out = e;
    *n = o;
    e = NULL;
    rc = 0;
out:
    free(e);
    free(refs);
    free(dup);
    return rc;
}

int config_get_string(config_ctx *c, const yaml_node_t *n, const char *path, int secret,
                      const char *expected, char **out)
{
    *out = NULL;
    if (n->type != YAML_SCALAR_NODE || config_is_null(n)) {
        config_error(c, n, path, "got %s; expected %s", config_kind_name(n), expected);
        return -1;
    }
    if (strlen(config_scalar(n)) != n->data.scalar.length) {
        config_error(c, n, path, "contains a NUL character; expected %s", expected);
        return -1;
    }
    return config_expand(c, n, path, secret, config_scalar(n), out);
}

/* fuzz_json_scan.c - the allocation-free scanner against the frozen reference and
 * against jansson, on any input.
 *
 * The input's first line is a field path, or several separated by commas; the rest is
 * the JSON value. json_scan() and json_scan_text() must give the answers of the
 * reference (tests/unit/json_scan_ref.c, the scanner before it was made fast): return
 * value, tokens, flags, why and at. With one path: whenever json_scan_text() answers
 * by itself (found or absent), jansson must agree: the value parses, and the field is
 * there with the same text, or is not; whenever json_scan() calls the value JSON,
 * jansson must parse it unless a flag said "ask a full parser".
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "json_scan_ref.h"

static json_t *lookup(json_t *doc, const char *path)
{
    char buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        if (!json_is_object(doc))
            return NULL;
        doc = json_object_get(doc, k);
    }
    return doc;
}

/* Both scanners on json[0..len) with the paths: any difference aborts. */
static void against_reference(const char *const *paths, size_t npaths, const char *json,
                              size_t len)
{
    json_scan_ref_plan rp;
    json_scan_plan np;
    json_token a[JSON_SCAN_MAX_PATHS], b[JSON_SCAN_MAX_PATHS];
    unsigned fa = 7, fb = 7;
    const char *wa = NULL, *wb = NULL;
    size_t ata = 0, atb = 0;

    json_scan_ref_prepare(&rp, paths, npaths);
    json_scan_prepare(&np, paths, npaths);
    if (rp.ok != np.ok)
        abort();
    if (!np.ok)
        return;
    int ra = json_scan_ref(&rp, json, len, a, &fa, &wa, &ata);
    int rb = json_scan(&np, json, len, b, &fb, &wb, &atb);
    if (ra != rb || fa != fb || ata != atb || (wa == NULL) != (wb == NULL) ||
        (wa != NULL && strcmp(wa, wb) != 0))
        abort();
    for (size_t c = 0; c < npaths; c++)
        if (a[c].type != b[c].type || a[c].p != b[c].p || a[c].len != b[c].len ||
            a[c].escaped != b[c].escaped)
            abort();
    if (npaths == 1) {
        const char *ta = NULL, *tb = NULL;
        size_t la = 0, lb = 0;
        if (json_scan_ref_text(&rp, json, len, &ta, &la) !=
                json_scan_text(&np, json, len, &tb, &lb) ||
            ta != tb || la != lb)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    char path[201];
    const char *paths[JSON_SCAN_MAX_PATHS];
    json_scan_plan plan;
    json_token tok;
    const char *text, *why, *p = path;
    size_t n, at, plen, npaths = 0;
    unsigned flags;

    if (nl == NULL)
        return 0;
    plen = (size_t)(nl - data);
    memcpy(path, data, plen);
    path[plen] = '\0';
    const char *json = (const char *)nl + 1;
    size_t len = size - plen - 1;

    /* The scan in a block of exactly its length, so ASan sees reads past it. */
    char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, json, len);
    char list[201];
    memcpy(list, path, plen + 1);
    for (char *q = list, *comma; q != NULL && npaths < JSON_SCAN_MAX_PATHS; q = comma) {
        comma = strchr(q, ',');
        if (comma != NULL)
            *comma++ = '\0';
        paths[npaths++] = q;
    }
    against_reference(paths, npaths, copy, len);
    free(copy);

    if (plen == 0 || plen > 64 || memchr(path, '\0', plen) != NULL || path[0] == '.' ||
        path[plen - 1] == '.' || strstr(path, "..") != NULL || strchr(path, ',') != NULL)
        return 0;
    json_scan_prepare(&plan, &p, 1);
    if (!plan.ok)
        return 0;
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (json_scan(&plan, json, len, &tok, &flags, &why, &at) == 0) {
        if (doc == NULL && flags == 0)
            abort(); /* the scanner accepted what jansson refuses */
        if (tok.type != JSON_TOK_ABSENT && (tok.p < json || tok.p + tok.len > json + len))
            abort();
    } else if (at > len) {
        abort();
    }
    int found = json_scan_text(&plan, json, len, &text, &n);
    if (found >= 0) {
        json_t *node = doc != NULL ? lookup(doc, path) : NULL;
        if (doc == NULL || (found == 1) != (node != NULL))
            abort();
        if (found == 1) {
            char *want = json_is_string(node) ? strdup(json_string_value(node))
                         : json_dumps(node, JSON_COMPACT | JSON_ENCODE_ANY);
            if (want == NULL || strlen(want) != n || memcmp(want, text, n) != 0)
                abort();
            free(want);
        }
    }
    json_decref(doc);
    return 0;
}

/* store.c - connectors created through the API, kept in DATA_DIR/connectors/NAME.json.
 *
 *     {"name": "NAME", "config": {...}, "state": "RUNNING" | "PAUSED" | "STOPPED"}
 *
 * Each file is replaced atomically (write temp, fsync, rename, fsync the directory), so
 * after a crash it holds the old or the new version, and a connector the API answered
 * 201 for is on disk. The directory is mode 0700: configs hold secrets in clear.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon_int.h"
#include "util/fsio.h"

int daemon_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (const char *s = name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int store_dir(const char *data_dir, char *out, size_t n, char *err, size_t errlen)
{
    snprintf(out, n, "%s/connectors", data_dir);
    int rc = util_mkdir_p(out);
    if (rc == 0 && chmod(out, 0700) != 0)
        rc = -errno;
    if (rc != 0)
        snprintf(err, errlen, "cannot create %s (%s)", out, strerror(-rc));
    return rc;
}

int store_save(const char *data_dir, const char *name, json_t *config, int target,
               char *err, size_t errlen)
{
    char dir[4096], path[4400];
    int rc = store_dir(data_dir, dir, sizeof(dir), err, errlen);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    json_t *doc = json_pack("{sssOss}", "name", name, "config", config, "state",
                            worker_state_name(target));
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t len = strlen(text);
    text[len] = '\n';
    rc = util_atomic_replace_file(path, text, len + 1);
    free(text);
    if (rc != 0)
        snprintf(err, errlen, "cannot write %s (%s)%s", path, strerror(-rc),
                 rc == -ENOSPC ? "; free space on the disk and retry" : "");
    return rc;
}

int store_delete(const char *data_dir, const char *name, char *err, size_t errlen)
{
    char dir[4096], path[4400];
    snprintf(dir, sizeof(dir), "%s/connectors", data_dir);
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove %s (%s)", path, strerror(errno));
        return -errno;
    }
    int rc = util_fsync_dir(dir);
    if (rc != 0 && rc != -ENOENT) {
        snprintf(err, errlen, "cannot make the removal of %s durable (%s)", path,
                 strerror(-rc));
        return rc;
    }
    return 0;
}

static int store_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int store_state(const char *s)
{
    if (s != NULL && strcmp(s, "PAUSED") == 0)
        return WORKER_PAUSED;
    if (s != NULL && strcmp(s, "STOPPED") == 0)
        return WORKER_STOPPED;
    return WORKER_RUNNING;
}

int store_load_all(const char *data_dir, store_fn fn, void *ctx)
{
    char dir[4096];
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    snprintf(dir, sizeof(dir), "%s/connectors", data_dir);
    DIR *dp = opendir(dir);
    if (dp == NULL)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(dp)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));
            if (grown == NULL)
                break;
            names = grown;
        }
        names[n] = strndup(e->d_name, len - 5);
        if (names[n] != NULL)
            n++;
    }
    closedir(dp);
    qsort(names, n, sizeof(*names), store_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4400], problem[5200] = "";
        json_error_t je;
        snprintf(path, sizeof(path), "%s/%s.json", dir, names[i]);
        json_t *doc = json_load_file(path, 0, &je);
        json_t *config = json_object_get(doc, "config");
        const char *name = json_string_value(json_object_get(doc, "name"));
        if (doc == NULL)
            snprintf(problem, sizeof(problem), "%s:%d:%d: %s", path, je.line, je.column,
                     je.text);
        else if (!json_is_object(config) || name == NULL || strcmp(name, names[i]) != 0 ||
                 !daemon_name_ok(names[i]))
            snprintf(problem, sizeof(problem), "%s: not a connector written by spool "
                     "(expected {\"name\": \"%s\", \"config\": {...}})", path, names[i]);
        if (problem[0] == '\0' || daemon_name_ok(names[i]))
            fn(ctx, names[i], problem[0] ? NULL : config,
               store_state(json_string_value(json_object_get(doc, "state"))),
               problem[0] ? problem : NULL);
        json_decref(doc);
        free(names[i]);
    }
    free(names);
    return 0;
}

/* loader.c - loads plugin .so files, checks their descriptors and keeps the registry.
 *
 * A plugin is untrusted until proven well-formed: the loader stats the file (it must be
 * a regular file nobody but its owner can write), dlopens it with RTLD_NOW|RTLD_LOCAL so
 * an unresolved symbol fails here rather than at the first call of some callback hours
 * later, looks up the one entry symbol, and then walks the descriptor and its option
 * table with the same care as any input from disk: every struct is read only within
 * the struct_size it declares, the option table is stepped by its own stride, and every
 * declared default is parsed with the same parsers the config uses for YAML values
 * (loader_parse_option_value), so a default that YAML would refuse is refused here.
 * Every refusal is one line, "plugin file PATH: what is wrong; how to fix it", because
 * it ends up in a startup error or a task status read by someone who did not write the
 * plugin. Shared objects are never dlclosed: a plugin's function pointers, static
 * strings and option table are referenced from the registry, the config and running
 * tasks, and unloading would turn every one of them into a dangling pointer (SQLite and
 * syslog-ng keep modules resident for the same reason); even a plugin refused after
 * dlopen stays mapped, since its constructors ran and may have handed out pointers.
 * The registry holds one malloc'd loader_plugin per plugin, so pointers returned by
 * loader_find/loader_at stay valid while more plugins are loaded.
 *
 * Files are loaded on demand (see loader.h): the search path is indexed at start, and
 * a lookup loads the files named after the plugin it wants, or failing that all of
 * them. A mutex serializes everything that reads or grows the registry, because the
 * daemon's API threads look plugins up (and may load them) while tasks run; dlopen
 * and the plugin's entry function run under it, which is fine since they touch no
 * loader state of their own.
 */
#include "loader/loader.h"
#include "util/strutil.h"
#include "util/units.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOADER_NAME_MAX 64
#define LOADER_OPTIONS_MAX 256
#define LOADER_CHOICES_MAX 256
/* No conceivable future spool_option reaches this; a larger struct_size is garbage
 * and stepping by it would read far outside the plugin's table. */
#define LOADER_OPTION_STRIDE_MAX 1024
#define LOADER_BUILTIN_PATH "(built-in)"

/* The ABI-1 extent of the two growable structs the loader reads: a struct_size below
 * these cannot hold the members the loader must touch. */
#define LOADER_PLUGIN_ABI1_SIZE \
    (offsetof(spool_plugin, transform) + sizeof(((spool_plugin *)0)->transform))
#define LOADER_OPTION_ABI1_SIZE \
    (offsetof(spool_option, doc) + sizeof(((spool_option *)0)->doc))

/* Room for any refusal: a path, dlerror() text and the fix. */
#define LOADER_ERR_MAX 2048

enum { LOADER_FILE_INDEXED, LOADER_FILE_LOADED, LOADER_FILE_FAILED };

/* One *.so file of the search path, listed at start and loaded when needed. */
typedef struct loader_file {
    char *path;       /* DIR/NAME.so */
    const char *base; /* NAME.so, inside path */
    int state;        /* LOADER_FILE_* */
    int rc;           /* FAILED: the code of the refusal */
    char *error;      /* FAILED: the refusal, one line (NULL if out of memory) */
} loader_file;

/* The mutex guards everything below it: lookups from the daemon's API threads may
 * load files while tasks run. Entries of both arrays are malloc'd one by one, so a
 * realloc of an array never moves a loader_plugin anyone holds. */
struct loader {
    const spool_host *host;
    pthread_mutex_t mu;
    loader_plugin **plugins; /* registered plugins, in load order */
    size_t count, cap;
    loader_file **files;     /* the index, in search-path order, then name order */
    size_t nfiles, fcap;
    size_t opened;           /* dlopen() calls so far */
};

static const char *loader_type_name(uint32_t type)
{
    switch (type) {
    case SPOOL_OPT_STRING: return "STRING";
    case SPOOL_OPT_INT: return "INT";
    case SPOOL_OPT_BOOL: return "BOOL";
    case SPOOL_OPT_SIZE: return "SIZE";
    case SPOOL_OPT_DURATION: return "DURATION";
    case SPOOL_OPT_ENUM: return "ENUM";
    case SPOOL_OPT_LIST: return "LIST";
    default: return NULL;
    }
}

static const char *loader_kind_name(uint32_t kind)
{
    switch (kind) {
    case SPOOL_KIND_SOURCE: return "source";
    case SPOOL_KIND_SINK: return "sink";
    case SPOOL_KIND_TRANSFORM: return "transform";
    default: return "unknown";
    }
}

/* ---------------------------------------------------------------------------------
 * Value parsers, shared with the config so defaults and YAML agree
 * ------------------------------------------------------------------------------- */

int loader_parse_option_value(const spool_option *o, const char *text, int64_t *out,
                              char *why, size_t whylen)
{
    int64_t v = 0;
    bool ranged = false;

    if (text == NULL) {
        util_errf(why, whylen, "no value");
        return SPOOL_EINVAL;
    }
    switch (o->type) {
    case SPOOL_OPT_INT:
        if (util_parse_int(text, &v) != 0) {
            util_errf(why, whylen, "\"%s\" is not an integer", text);
            return SPOOL_EINVAL;
        }
        ranged = true;
        break;
    case SPOOL_OPT_SIZE:
        if (util_parse_size(text, &v) != 0) {
            util_errf(why, whylen,
                        "\"%s\" is not a size (write 512, 64KiB, 16MiB, 1GiB or 2GB)",
                        text);
            return SPOOL_EINVAL;
        }
        ranged = true;
        break;
    case SPOOL_OPT_DURATION:
        if (util_parse_duration(text, &v) != 0) {
            util_errf(why, whylen,
                        "\"%s\" is not a duration (write 250ms, 5s, 10m, 2h, 7d, or a "
                        "number of milliseconds)", text);
            return SPOOL_EINVAL;
        }
        ranged = true;
        break;
    case SPOOL_OPT_BOOL:
        if (util_parse_bool(text, &v) != 0) {
            util_errf(why, whylen, "\"%s\" is not a boolean (write true or false)",
                        text);
            return SPOOL_EINVAL;
        }
        break;
    case SPOOL_OPT_ENUM:
        for (size_t i = 0; o->choices != NULL && o->choices[i] != NULL; i++) {
            if (strcmp(o->choices[i], text) == 0) {
                *out = (int64_t)i;
                return SPOOL_OK;
            }
        }
        util_errf(why, whylen, "\"%s\" is not one of the declared choices", text);
        return SPOOL_EINVAL;
    case SPOOL_OPT_STRING:
    case SPOOL_OPT_LIST:
        /* Free text: there is nothing to parse and no number to return. */
        *out = 0;
        return SPOOL_OK;
    default:
        util_errf(why, whylen, "type %u is unknown", (unsigned)o->type);
        return SPOOL_EINVAL;
    }
    /* Bounds apply only when min < max, so a zero-filled entry (SPOOL_OPTION_INIT
     * without .min and .max) is unbounded. */
    if (ranged && o->min < o->max && (v < o->min || v > o->max)) {
        util_errf(why, whylen, "%s is outside the allowed range %lld..%lld", text,
                    (long long)o->min, (long long)o->max);
        return SPOOL_EINVAL;
    }
    *out = v;
    return SPOOL_OK;
}

/* ---------------------------------------------------------------------------------
 * Descriptor checks
 * ------------------------------------------------------------------------------- */

/* Names are YAML keys and file-name fragments: short, lower case, no surprises. */
static bool loader_name_ok(const char *s, bool allow_dash)
{
    size_t n = 0;

    if (s == NULL || *s == '\0')
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= LOADER_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              (allow_dash && c == '-')))
            return false;
    }
    return true;
}

/* One line of text: non-empty, no control characters (a newline would break the
 * `spool plugins` listing and the generated reference tables). */
static bool loader_line_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20)
            return false;
    return true;
}

static int loader_check_option(const spool_option *o, const char *opt_name,
                               const char *path, char *err, size_t errlen)
{
    const uint32_t known_flags = SPOOL_OPT_REQUIRED | SPOOL_OPT_SECRET;
    const char *tname = loader_type_name(o->type);
    bool has_choices = o->choices != NULL && o->choices[0] != NULL;
    char why[256];
    int64_t v;

    if (tname == NULL) {
        util_errf(err, errlen,
                    "plugin file %s: option \"%s\" declares type %u, which ABI %d does "
                    "not know; fix the plugin's option table",
                    path, opt_name, (unsigned)o->type, SPOOL_ABI_VERSION);
        return SPOOL_EINVAL;
    }
    if (o->flags & ~known_flags) {
        util_errf(err, errlen,
                    "plugin file %s: option \"%s\" sets unknown flag bits 0x%x; use only "
                    "SPOOL_OPT_REQUIRED and SPOOL_OPT_SECRET",
                    path, opt_name, (unsigned)(o->flags & ~known_flags));
        return SPOOL_EINVAL;
    }
    if (!loader_line_ok(o->doc)) {
        util_errf(err, errlen,
                    "plugin file %s: option \"%s\" has no doc; give every option a "
                    "one-line doc, it is shown by `spool plugins` and in the reference",
                    path, opt_name);
        return SPOOL_EINVAL;
    }
    if (o->type == SPOOL_OPT_ENUM && !has_choices) {
        util_errf(err, errlen,
                    "plugin file %s: ENUM option \"%s\" declares no choices; set choices "
                    "to a NULL-terminated list of the allowed values",
                    path, opt_name);
        return SPOOL_EINVAL;
    }
    if (o->type != SPOOL_OPT_ENUM && o->choices != NULL) {
        util_errf(err, errlen,
                    "plugin file %s: %s option \"%s\" declares choices, which only ENUM "
                    "options have; set choices to NULL or make it an ENUM",
                    path, tname, opt_name);
        return SPOOL_EINVAL;
    }
    if (o->type == SPOOL_OPT_ENUM) {
        size_t i;
        for (i = 0; o->choices[i] != NULL; i++) {
            if (i >= LOADER_CHOICES_MAX || !loader_line_ok(o->choices[i])) {
                util_errf(err, errlen,
                            "plugin file %s: ENUM option \"%s\" has an empty choice or "
                            "more than %d; fix the plugin's choices list",
                            path, opt_name, LOADER_CHOICES_MAX);
                return SPOOL_EINVAL;
            }
            for (size_t j = 0; j < i; j++) {
                if (strcmp(o->choices[i], o->choices[j]) == 0) {
                    util_errf(err, errlen,
                                "plugin file %s: ENUM option \"%s\" lists choice \"%s\" "
                                "twice; remove the duplicate",
                                path, opt_name, o->choices[i]);
                    return SPOOL_EINVAL;
                }
            }
        }
    }
    if ((o->flags & SPOOL_OPT_REQUIRED) && o->default_value != NULL) {
        util_errf(err, errlen,
                    "plugin file %s: option \"%s\" is REQUIRED but has default \"%s\"; "
                    "drop the default or the SPOOL_OPT_REQUIRED flag",
                    path, opt_name, o->default_value);
        return SPOOL_EINVAL;
    }
    if (o->default_value != NULL &&
        loader_parse_option_value(o, o->default_value, &v, why, sizeof why) != SPOOL_OK) {
        util_errf(err, errlen,
                    "plugin file %s: default of %s option \"%s\" is invalid: %s; fix the "
                    "default in the plugin's option table",
                    path, tname, opt_name, why);
        return SPOOL_EINVAL;
    }
    return SPOOL_OK;
}

/* Walks the option table by its own stride. Returns the number of options in *count. */
static int loader_check_options(const spool_plugin *p, const char *path, char *err,
                                size_t errlen, size_t *count)
{
    const char *base = (const char *)p->options;
    uint32_t stride;
    size_t n;

    *count = 0;
    if (p->options == NULL)
        return SPOOL_OK;
    stride = p->options[0].struct_size;
    if (stride < LOADER_OPTION_ABI1_SIZE || stride > LOADER_OPTION_STRIDE_MAX ||
        stride % _Alignof(spool_option) != 0) {
        util_errf(err, errlen,
                    "plugin file %s: the option table's first entry has struct_size %u, "
                    "expected at least %zu; start every option with SPOOL_OPTION_INIT",
                    path, (unsigned)stride, LOADER_OPTION_ABI1_SIZE);
        return SPOOL_EABI;
    }
    for (n = 0;; n++) {
        const spool_option *o = (const spool_option *)(const void *)(base + n * stride);
        int rc;

        /* The terminator may be a bare {0}: only its name is read. */
        if (o->name == NULL)
            break;
        if (n >= LOADER_OPTIONS_MAX) {
            util_errf(err, errlen,
                        "plugin file %s: the option table has more than %d options or "
                        "no terminator; end it with an entry whose name is NULL",
                        path, LOADER_OPTIONS_MAX);
            return SPOOL_EINVAL;
        }
        if (o->struct_size != stride) {
            util_errf(err, errlen,
                        "plugin file %s: option %zu has struct_size %u but the first has "
                        "%u; start every option with SPOOL_OPTION_INIT",
                        path, n, (unsigned)o->struct_size, (unsigned)stride);
            return SPOOL_EABI;
        }
        if (!loader_name_ok(o->name, false)) {
            util_errf(err, errlen,
                        "plugin file %s: option name \"%.80s\" is invalid; use 1 to %d "
                        "characters from a-z, 0-9 and _",
                        path, o->name, LOADER_NAME_MAX);
            return SPOOL_EINVAL;
        }
        for (size_t j = 0; j < n; j++) {
            const spool_option *prev =
                (const spool_option *)(const void *)(base + j * stride);
            if (strcmp(prev->name, o->name) == 0) {
                util_errf(err, errlen,
                            "plugin file %s: option \"%s\" is declared twice; remove "
                            "one declaration",
                            path, o->name);
                return SPOOL_EINVAL;
            }
        }
        rc = loader_check_option(o, o->name, path, err, errlen);
        if (rc != SPOOL_OK)
            return rc;
    }
    *count = n;
    return SPOOL_OK;
}

int loader_check_descriptor(const spool_plugin *p, const char *path, char *err,
                            size_t errlen)
{
    size_t nopts;
    const char *missing = NULL;

    if (path == NULL)
        path = "(unknown)";
    if (p == NULL) {
        util_errf(err, errlen,
                    "plugin file %s: no descriptor; spool_plugin_entry() must return its "
                    "static spool_plugin", path);
        return SPOOL_EINVAL;
    }
    if (p->struct_size < LOADER_PLUGIN_ABI1_SIZE) {
        util_errf(err, errlen,
                    "plugin file %s: descriptor struct_size is %u, smaller than the %zu "
                    "bytes of an ABI 1 spool_plugin; set struct_size = "
                    "sizeof(spool_plugin) and rebuild against the installed spool SDK",
                    path, (unsigned)p->struct_size, LOADER_PLUGIN_ABI1_SIZE);
        return SPOOL_EABI;
    }
    if (p->abi_version != SPOOL_ABI_VERSION) {
        bool newer = p->abi_version > SPOOL_ABI_VERSION;
        util_errf(err, errlen,
                    "plugin file %s: built for ABI %u, this runtime speaks ABI %d; %s",
                    path, (unsigned)p->abi_version, SPOOL_ABI_VERSION,
                    newer ? "the plugin is newer than this runtime: upgrade spool or "
                            "rebuild the plugin against the installed spool SDK"
                          : "the plugin is older than this runtime: rebuild it against "
                            "the installed spool SDK");
        return SPOOL_EABI;
    }
    if (!loader_name_ok(p->name, true)) {
        util_errf(err, errlen,
                    "plugin file %s: plugin name \"%.80s\" is invalid; use 1 to %d "
                    "characters from a-z, 0-9, _ and -",
                    path, p->name ? p->name : "(null)", LOADER_NAME_MAX);
        return SPOOL_EINVAL;
    }
    if (!loader_line_ok(p->version) || !loader_line_ok(p->description)) {
        util_errf(err, errlen,
                    "plugin file %s: plugin \"%s\" lacks a %s; set it to one line of text",
                    path, p->name, loader_line_ok(p->version) ? "description" : "version");
        return SPOOL_EINVAL;
    }
    if (p->kind < SPOOL_KIND_SOURCE || p->kind > SPOOL_KIND_TRANSFORM) {
        util_errf(err, errlen,
                    "plugin file %s: plugin \"%s\" declares kind %u, which ABI %d does "
                    "not know; use SPOOL_KIND_SOURCE, SPOOL_KIND_SINK or "
                    "SPOOL_KIND_TRANSFORM",
                    path, p->name, (unsigned)p->kind, SPOOL_ABI_VERSION);
        return SPOOL_EINVAL;
    }
    if (p->kind == SPOOL_KIND_SINK &&
        (p->delivery < SPOOL_DELIVERY_TRANSACTIONAL ||
         p->delivery > SPOOL_DELIVERY_IDEMPOTENT)) {
        util_errf(err, errlen,
                    "plugin file %s: sink \"%s\" declares delivery %u; set delivery to "
                    "SPOOL_DELIVERY_TRANSACTIONAL, _RESUMABLE or _IDEMPOTENT",
                    path, p->name, (unsigned)p->delivery);
        return SPOOL_EINVAL;
    }
    if (p->kind != SPOOL_KIND_SINK && p->delivery != 0) {
        util_errf(err, errlen,
                    "plugin file %s: %s \"%s\" declares delivery %u, which only sinks "
                    "have; set delivery to 0",
                    path, loader_kind_name(p->kind), p->name, (unsigned)p->delivery);
        return SPOOL_EINVAL;
    }
    if (p->open == NULL)
        missing = "open";
    else if (p->close == NULL)
        missing = "close";
    else if (p->kind == SPOOL_KIND_SOURCE && p->poll == NULL)
        missing = "poll";
    else if (p->kind == SPOOL_KIND_SINK && p->put == NULL)
        missing = "put";
    else if (p->kind == SPOOL_KIND_SINK && p->flush == NULL)
        missing = "flush";
    else if (p->kind == SPOOL_KIND_TRANSFORM && p->transform == NULL)
        missing = "transform";
    if (missing != NULL) {
        util_errf(err, errlen,
                    "plugin file %s: %s \"%s\" has no %s callback; every %s must "
                    "implement %s",
                    path, loader_kind_name(p->kind), p->name, missing,
                    loader_kind_name(p->kind), missing);
        return SPOOL_EINVAL;
    }
    return loader_check_options(p, path, err, errlen, &nopts);
}

/* ---------------------------------------------------------------------------------
 * The registry
 * ------------------------------------------------------------------------------- */

loader *loader_new(const spool_host *host)
{
    loader *l = calloc(1, sizeof *l);

    if (l == NULL)
        return NULL;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    l->host = host;
    return l;
}

void loader_free(loader *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free((void *)l->plugins[i]->options);
        free((void *)l->plugins[i]->path);
        free(l->plugins[i]);
    }
    free(l->plugins);
    for (size_t i = 0; i < l->nfiles; i++) {
        free(l->files[i]->path);
        free(l->files[i]->error);
        free(l->files[i]);
    }
    free(l->files);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* The lookups take a const loader: loading a file on demand changes what is mapped,
 * not what any lookup answers (apart from refusals). The loader was malloc'd
 * writable, so writing through the cast is defined. */
static loader *loader_mut(const loader *l)
{
    return (loader *)(uintptr_t)l;
}

/* The loaded plugin named name of kind (0: any kind), first in load order, or NULL.
 * Loads nothing; the caller holds the mutex. */
static loader_plugin *loader_find_loaded(const loader *l, const char *name,
                                         uint32_t kind)
{
    for (size_t i = 0; i < l->count; i++)
        if ((kind == 0 || l->plugins[i]->desc->kind == kind) &&
            strcmp(l->plugins[i]->desc->name, name) == 0)
            return l->plugins[i];
    return NULL;
}

/* Checks desc, refuses a duplicate name and appends it. desc must outlive l. The
 * caller holds the mutex. */
static int loader_register(loader *l, const spool_plugin *desc, const char *path,
                           char *err, size_t errlen)
{
    const loader_plugin *dup;
    loader_plugin *lp = NULL;
    const spool_option **view = NULL;
    size_t n = 0;
    int rc;

    rc = loader_check_descriptor(desc, path, err, errlen);
    if (rc != SPOOL_OK)
        goto out;
    /* Names are unique per kind: the file source and the file sink are both "file",
     * told apart by where the pipeline uses them. Only loaded plugins can be
     * compared: a duplicate in a file not loaded yet is refused when it is loaded. */
    dup = loader_find_loaded(l, desc->name, desc->kind);
    if (dup != NULL) {
        util_errf(err, errlen,
                    "plugin file %s: %s plugin name \"%s\" is already taken by plugin file "
                    "%s; remove one of the two files or rename one plugin",
                    path, loader_kind_name(desc->kind), desc->name, dup->path);
        rc = SPOOL_EINVAL;
        goto out;
    }
    if (desc->options != NULL) {
        const char *base = (const char *)desc->options;
        uint32_t stride = desc->options[0].struct_size;
        while (((const spool_option *)(const void *)(base + n * stride))->name != NULL)
            n++;
        view = calloc(n + 1, sizeof *view);
        if (view == NULL)
            goto oom;
        for (size_t i = 0; i < n; i++)
            view[i] = (const spool_option *)(const void *)(base + i * stride);
    } else {
        view = calloc(1, sizeof *view);
        if (view == NULL)
            goto oom;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        loader_plugin **grown = realloc(l->plugins, cap * sizeof *grown);
        if (grown == NULL)
            goto oom;
        l->plugins = grown;
        l->cap = cap;
    }
    lp = calloc(1, sizeof *lp);
    if (lp == NULL)
        goto oom;
    lp->path = strdup(path);
    if (lp->path == NULL)
        goto oom;
    lp->desc = desc;
    lp->options = view;
    lp->option_count = n;
    l->plugins[l->count++] = lp;
    return SPOOL_OK;

oom:
    util_errf(err, errlen, "plugin file %s: out of memory while registering it; "
                "free memory and retry", path);
    rc = SPOOL_ENOMEM;
    if (lp != NULL)
        free((void *)lp->path);
    free(lp);
out:
    free(view);
    return rc;
}

int loader_add_builtin(loader *l, spool_plugin_entry_fn *entry, char *err,
                       size_t errlen)
{
    const spool_plugin *desc;
    int rc;

    if (entry == NULL || (desc = entry(l->host)) == NULL) {
        util_errf(err, errlen,
                    "plugin file %s: the entry function returned no descriptor; it must "
                    "return its static spool_plugin", LOADER_BUILTIN_PATH);
        return SPOOL_EINVAL;
    }
    pthread_mutex_lock(&l->mu);
    rc = loader_register(l, desc, LOADER_BUILTIN_PATH, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Checks, dlopens and registers one file. The caller holds the mutex. */
static int loader_open_file(loader *l, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char *dlpath = NULL;
    void *handle;
    void *sym;
    spool_plugin_entry_fn *entry;
    const spool_plugin *desc;
    int rc = SPOOL_EINVAL;

    if (stat(path, &st) != 0) {
        util_errf(err, errlen,
                    "plugin file %s: cannot be read (%s); check the path and the plugin "
                    "search path", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        util_errf(err, errlen,
                    "plugin file %s: is not a regular file; point the plugin path at the "
                    ".so file itself", path);
        goto out;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        util_errf(err, errlen,
                    "plugin file %s: is writable by group or others (mode %04o); anyone "
                    "who can write it can run code in the worker: chmod go-w %s",
                    path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    /* A path without '/' would make dlopen search LD_LIBRARY_PATH and the system
     * library directories, i.e. load some other file than the one just checked. */
    if (strchr(path, '/') == NULL) {
        size_t len = strlen(path) + 3;
        dlpath = malloc(len);
        if (dlpath == NULL) {
            util_errf(err, errlen, "plugin file %s: out of memory; free memory and "
                        "retry", path);
            rc = SPOOL_ENOMEM;
            goto out;
        }
        snprintf(dlpath, len, "./%s", path);
    }
    /* RTLD_NOW: an unresolved symbol fails here, with the file named, instead of
     * killing a task the first time some rarely used callback runs. RTLD_LOCAL: one
     * plugin's symbols never satisfy another's, so plugins cannot collide. */
    l->opened++;
    handle = dlopen(dlpath != NULL ? dlpath : path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        /* glibc and musl both say "undefined symbol" / "symbol not found"; for those
         * the file is fine and the link was wrong, which deserves another fix. */
        if (why != NULL &&
            (strstr(why, "undefined symbol") != NULL ||
             strstr(why, "symbol not found") != NULL)) {
            util_errf(err, errlen,
                        "plugin file %s: needs a symbol that no loaded library provides "
                        "(%s); link the plugin with -Wl,--no-undefined and every library "
                        "it uses", path, why);
            goto out;
        }
        util_errf(err, errlen,
                    "plugin file %s: is not a loadable shared object for this machine "
                    "(%s); rebuild it for this platform against the installed spool SDK",
                    path, why != NULL ? why : "unknown dlopen error");
        goto out;
    }
    /* From here on the handle is never closed, not even on failure: see the top. */
    dlerror();
    sym = dlsym(handle, SPOOL_PLUGIN_ENTRY_SYMBOL);
    if (sym == NULL) {
        util_errf(err, errlen,
                    "plugin file %s: does not export %s; define it with SPOOL_EXPORT from "
                    "spool/plugin.h so it stays visible under -fvisibility=hidden",
                    path, SPOOL_PLUGIN_ENTRY_SYMBOL);
        goto out;
    }
    /* POSIX guarantees a data pointer from dlsym can hold a function address. */
    _Static_assert(sizeof entry == sizeof sym, "function and data pointers differ");
    memcpy(&entry, &sym, sizeof entry);
    desc = entry(l->host);
    if (desc == NULL) {
        util_errf(err, errlen,
                    "plugin file %s: %s() returned NULL; it must return its static "
                    "spool_plugin descriptor", path, SPOOL_PLUGIN_ENTRY_SYMBOL);
        goto out;
    }
    rc = loader_register(l, desc, path, err, errlen);
out:
    free(dlpath);
    return rc;
}

int loader_load_file(loader *l, const char *path, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&l->mu);
    rc = loader_open_file(l, path, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Loads an indexed file once: a file that loaded answers SPOOL_OK from then on, one
 * that was refused answers its refusal again (it is not retried: a refused file may
 * be mapped already, and a second dlopen would only find the same handle). The
 * caller holds the mutex. */
static int loader_load_entry(loader *l, loader_file *f, char *err, size_t errlen)
{
    char why[LOADER_ERR_MAX];
    int rc;

    if (f->state == LOADER_FILE_LOADED)
        return SPOOL_OK;
    if (f->state == LOADER_FILE_FAILED) {
        if (f->error != NULL)
            util_errf(err, errlen, "%s", f->error);
        else
            util_errf(err, errlen, "plugin file %s: was refused; run `spool plugins` "
                      "for the reason", f->path);
        return f->rc;
    }
    rc = loader_open_file(l, f->path, why, sizeof why);
    if (rc == SPOOL_OK) {
        f->state = LOADER_FILE_LOADED;
        return SPOOL_OK;
    }
    /* Kept for the next lookup that needs this file; without memory for a copy, the
     * next one reports the file without the detail. */
    f->state = LOADER_FILE_FAILED;
    f->rc = rc;
    f->error = strdup(why);
    util_errf(err, errlen, "%s", why);
    return rc;
}

/* Loads every indexed file not loaded yet, in index order, refused ones included in
 * the answer: the first refusal (in index order) is in err. The caller holds the
 * mutex. */
static int loader_load_all_locked(loader *l, char *err, size_t errlen)
{
    char why[LOADER_ERR_MAX];
    int first = SPOOL_OK;

    for (size_t i = 0; i < l->nfiles; i++) {
        int rc = loader_load_entry(l, l->files[i], why, sizeof why);
        if (rc != SPOOL_OK && first == SPOOL_OK) {
            first = rc;
            util_errf(err, errlen, "%s", why);
        }
    }
    return first;
}

int loader_load_all(loader *l, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&l->mu);
    rc = loader_load_all_locked(l, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* True when file is one of the names a plugin called name of kind (0: any kind)
 * conventionally lives in: spool-NAME-KIND.so or spool-NAME.so (spool's own
 * connectors), NAME-KIND.so or NAME.so (what spool_add_plugin(NAME) builds). */
static bool loader_conventional(const char *file, const char *name, uint32_t kind)
{
    static const uint32_t kinds[] = {SPOOL_KIND_SOURCE, SPOOL_KIND_SINK,
                                     SPOOL_KIND_TRANSFORM};
    size_t n = strlen(name);

    if (strncmp(file, "spool-", 6) == 0 && loader_conventional(file + 6, name, kind))
        return true;
    if (strncmp(file, name, n) != 0)
        return false;
    file += n;
    if (strcmp(file, ".so") == 0)
        return true;
    if (*file++ != '-')
        return false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *k = loader_kind_name(kinds[i]);
        size_t kn = strlen(k);
        if ((kind == 0 || kind == kinds[i]) && strncmp(file, k, kn) == 0 &&
            strcmp(file + kn, ".so") == 0)
            return true;
    }
    return false;
}

/* See loader_lookup(). The caller holds the mutex. */
static const loader_plugin *loader_lookup_locked(loader *l, const char *name,
                                                 uint32_t kind, char *err, size_t errlen)
{
    char why[LOADER_ERR_MAX];
    const loader_plugin *lp;
    bool refused = false;

    /* First the files named after it, all of them: few (one, normally), and loading
     * each finds a duplicate of the same name in two directories of the path, as
     * loading everything would. A refused candidate fails the lookup, found or not:
     * the file meant to provide the plugin is broken or clashes, and guessing which
     * one was meant would hide it. Files already loaded or refused cost no dlopen. */
    for (size_t i = 0; i < l->nfiles; i++) {
        loader_file *f = l->files[i];
        if (loader_conventional(f->base, name, kind) &&
            loader_load_entry(l, f, why, sizeof why) != SPOOL_OK && !refused) {
            refused = true;
            util_errf(err, errlen, "%s", why);
        }
    }
    if (refused)
        return NULL;
    lp = loader_find_loaded(l, name, kind);
    if (lp != NULL)
        return lp;
    /* Then, only if that did not provide it, every other file: a plugin under another
     * file name is found too, at the cost of loading everything. */
    if (loader_load_all_locked(l, why, sizeof why) != SPOOL_OK) {
        refused = true;
        util_errf(err, errlen, "%s", why);
    }
    lp = loader_find_loaded(l, name, kind);
    if (lp != NULL && err != NULL && errlen > 0)
        err[0] = '\0';
    return lp;
}

const loader_plugin *loader_lookup(const loader *cl, const char *name, uint32_t kind,
                                   char *err, size_t errlen)
{
    loader *l = loader_mut(cl);
    const loader_plugin *lp;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (l == NULL || name == NULL)
        return NULL;
    pthread_mutex_lock(&l->mu);
    lp = loader_lookup_locked(l, name, kind, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return lp;
}

const loader_plugin *loader_find(const loader *l, const char *name)
{
    return loader_lookup(l, name, 0, NULL, 0);
}

const loader_plugin *loader_find_kind(const loader *l, const char *name, uint32_t kind)
{
    return loader_lookup(l, name, kind, NULL, 0);
}

size_t loader_count(const loader *cl)
{
    loader *l = loader_mut(cl);
    char why[LOADER_ERR_MAX];
    size_t n;

    if (l == NULL)
        return 0;
    pthread_mutex_lock(&l->mu);
    /* Refused files are left out of the listing; loader_load_all() reports them. */
    (void)loader_load_all_locked(l, why, sizeof why);
    n = l->count;
    pthread_mutex_unlock(&l->mu);
    return n;
}

const loader_plugin *loader_at(const loader *cl, size_t i)
{
    loader *l = loader_mut(cl);
    char why[LOADER_ERR_MAX];
    const loader_plugin *lp;

    if (l == NULL)
        return NULL;
    pthread_mutex_lock(&l->mu);
    (void)loader_load_all_locked(l, why, sizeof why);
    lp = i < l->count ? l->plugins[i] : NULL;
    pthread_mutex_unlock(&l->mu);
    return lp;
}

void loader_get_stats(const loader *cl, loader_stats *out)
{
    loader *l = loader_mut(cl);

    memset(out, 0, sizeof *out);
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    out->plugins = l->count;
    out->indexed = l->nfiles;
    out->opened = l->opened;
    for (size_t i = 0; i < l->nfiles; i++) {
        if (l->files[i]->state == LOADER_FILE_LOADED)
            out->loaded++;
        else if (l->files[i]->state == LOADER_FILE_FAILED)
            out->refused++;
    }
    pthread_mutex_unlock(&l->mu);
}

int loader_file_loaded(const loader *cl, const char *path)
{
    loader *l = loader_mut(cl);
    int state = -1;

    if (l == NULL || path == NULL)
        return -1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->nfiles && state < 0; i++)
        if (strcmp(l->files[i]->path, path) == 0)
            state = l->files[i]->state == LOADER_FILE_LOADED;
    pthread_mutex_unlock(&l->mu);
    return state;
}

const spool_option *loader_option(const loader_plugin *p, const char *name)
{
    if (p == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < p->option_count; i++)
        if (strcmp(p->options[i]->name, name) == 0)
            return p->options[i];
    return NULL;
}

static int loader_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool loader_is_so_name(const char *name)
{
    size_t n = strlen(name);
    /* Hidden files are editor and package-manager leftovers, not plugins. */
    return name[0] != '.' && n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* Appends dir/name to the index, not loaded. The caller holds the mutex. */
static int loader_index_add(loader *l, char *path, size_t dirlen)
{
    loader_file *f;

    if (l->nfiles == l->fcap) {
        size_t cap = l->fcap ? l->fcap * 2 : 16;
        loader_file **grown = realloc(l->files, cap * sizeof *grown);
        if (grown == NULL)
            return SPOOL_ENOMEM;
        l->files = grown;
        l->fcap = cap;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return SPOOL_ENOMEM;
    f->path = path;
    f->base = path + dirlen + 1;
    f->state = LOADER_FILE_INDEXED;
    l->files[l->nfiles++] = f;
    return SPOOL_OK;
}

/* Lists the *.so files of dir into the index, in name order. The caller holds the
 * mutex. */
static int loader_index_dir_locked(loader *l, const char *dir, char *err, size_t errlen)
{
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, dirlen = strlen(dir);
    char *path = NULL;
    int rc = SPOOL_OK;

    d = opendir(dir);
    if (d == NULL) {
        /* A search-path entry that does not exist is normal (no plugins there). */
        if (errno == ENOENT)
            return SPOOL_OK;
        util_errf(err, errlen,
                    "plugin directory %s: cannot be read (%s); fix its permissions or "
                    "remove it from the plugin search path", dir, strerror(errno));
        return SPOOL_EINVAL;
    }
    while ((de = readdir(d)) != NULL) {
        if (!loader_is_so_name(de->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **grown = realloc(names, ncap * sizeof *grown);
            if (grown == NULL)
                goto oom;
            names = grown;
            cap = ncap;
        }
        names[n] = strdup(de->d_name);
        if (names[n] == NULL)
            goto oom;
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, loader_cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        size_t len = dirlen + strlen(names[i]) + 2;
        path = malloc(len);
        if (path == NULL)
            goto oom;
        snprintf(path, len, "%s/%s", dir, names[i]);
        /* Only regular files (or links to them) count; a directory called x.so is
         * not a plugin. A vanished entry is left to the load to report. */
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            free(path);
            path = NULL;
            continue;
        }
        if (loader_index_add(l, path, dirlen) != SPOOL_OK)
            goto oom;
        path = NULL;
    }
    goto out;

oom:
    util_errf(err, errlen, "plugin directory %s: out of memory while listing it; "
                "free memory and retry", dir);
    rc = SPOOL_ENOMEM;
out:
    free(path);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int loader_index_dir(loader *l, const char *dir, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&l->mu);
    rc = loader_index_dir_locked(l, dir, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int loader_load_dir(loader *l, const char *dir, char *err, size_t errlen)
{
    size_t first;
    int rc;

    pthread_mutex_lock(&l->mu);
    first = l->nfiles;
    rc = loader_index_dir_locked(l, dir, err, errlen);
    for (size_t i = first; rc == SPOOL_OK && i < l->nfiles; i++)
        rc = loader_load_entry(l, l->files[i], err, errlen);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * The search path
 * ------------------------------------------------------------------------------- */

struct loader_pathvec {
    char **v;
    size_t n, cap;
    bool failed;
};

/* Appends a copy of dir (the first len bytes) unless it is empty or already listed
 * (the same directory twice would load every plugin in it twice and fail on the
 * duplicate names). */
static void loader_path_push(struct loader_pathvec *pv, const char *dir, size_t len)
{
    char *s;

    if (pv->failed || len == 0)
        return;
    s = strndup(dir, len);
    if (s == NULL)
        goto fail;
    /* The same directory spelled two ways (relative, through a link) is one entry:
     * loading it twice would refuse every plugin in it as a duplicate of itself. */
    char *canon = realpath(s, NULL);
    if (canon != NULL) {
        free(s);
        s = canon;
    }
    for (size_t i = 0; i < pv->n; i++) {
        if (strcmp(pv->v[i], s) == 0) {
            free(s);
            return;
        }
    }
    if (pv->n + 1 >= pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 8;
        char **grown = realloc(pv->v, cap * sizeof *grown);
        if (grown == NULL) {
            free(s);
            goto fail;
        }
        pv->v = grown;
        pv->cap = cap;
    }
    pv->v[pv->n++] = s;
    pv->v[pv->n] = NULL;
    return;
fail:
    pv->failed = true;
}

static void loader_path_push_list(struct loader_pathvec *pv, const char *list)
{
    if (list == NULL)
        return;
    for (;;) {
        const char *colon = strchr(list, ':');
        size_t len = colon != NULL ? (size_t)(colon - list) : strlen(list);
        loader_path_push(pv, list, len);
        if (colon == NULL)
            break;
        list = colon + 1;
    }
}

/* <prefix>/lib/spool/plugins, where the binary is <prefix>/<bindir>/spool. The kernel's
 * /proc/self/exe link is already canonical (no symlinks, no ..), so stripping two
 * components is the canonical form of <dir of exe>/../lib/spool/plugins, and it holds
 * even when that directory does not exist. */
static void loader_path_push_default(struct loader_pathvec *pv)
{
    static const char suffix[] = "/lib/spool/plugins";
    char exe[PATH_MAX + sizeof suffix];
    ssize_t len = readlink("/proc/self/exe", exe, PATH_MAX);
    char *slash;

    if (len <= 0 || len >= PATH_MAX)
        return; /* no /proc: only the explicit entries */
    exe[len] = '\0';
    for (int i = 0; i < 2; i++) {
        slash = strrchr(exe, '/');
        if (slash == NULL)
            return;
        *slash = '\0';
    }
    strcat(exe, suffix);
    loader_path_push(pv, exe, strlen(exe));
}

char **loader_search_path(const char *extra)
{
    struct loader_pathvec pv = {0};

    loader_path_push_list(&pv, extra);
    loader_path_push_list(&pv, getenv("SPOOL_PLUGIN_PATH"));
    loader_path_push_default(&pv);
    if (!pv.failed && pv.v == NULL) {
        pv.v = calloc(1, sizeof *pv.v);
        if (pv.v == NULL)
            pv.failed = true;
    }
    if (pv.failed) {
        for (size_t i = 0; i < pv.n; i++)
            free(pv.v[i]);
        free(pv.v);
        return NULL;
    }
    return pv.v;
}

void loader_path_free(char **path)
{
    if (path == NULL)
        return;
    for (char **p = path; *p != NULL; p++)
        free(*p);
    free(path);
}

int loader_check_gauge(const char *name, double value, char *why, size_t whylen)
{
    static const char *const suffixes[] = {"_total", "_count", "_sum", "_bucket"};
    if (name == NULL || name[0] == '\0') {
        snprintf(why, whylen, "gauge(): the name is empty; name it as [a-z_][a-z0-9_]*, "
                 "such as \"slot_lag_bytes\"");
        return -1;
    }
    size_t len = strlen(name);
    if (len > SPOOL_GAUGE_NAME_MAX) {
        snprintf(why, whylen, "gauge \"%.60s...\": the name has %zu characters, more than "
                 "the %d allowed; shorten it", name, len, SPOOL_GAUGE_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9'))) {
            snprintf(why, whylen, "gauge \"%s\": the name must match [a-z_][a-z0-9_]* "
                     "(lower case letters, digits and underscores, not starting with a "
                     "digit) but has '%c' at position %zu", name,
                     (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?', i + 1);
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i]);
        if (len >= sl && strcmp(name + len - sl, suffixes[i]) == 0) {
            snprintf(why, whylen, "gauge \"%s\": a name ending in %s means a counter or a "
                     "histogram to Prometheus, not a gauge; name what the value is (such "
                     "as \"last_batch_records\")", name, suffixes[i]);
            return -1;
        }
    }
    /* x - x is 0 for every finite x, NaN for NaN and the infinities. */
    if (value - value != 0) {
        snprintf(why, whylen, "gauge \"%s\": the value is %s; only finite numbers are "
                 "exported", name, value != value ? "NaN" : "infinite");
        return -1;
    }
    return 0;
}

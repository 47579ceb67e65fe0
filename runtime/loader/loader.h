/* loader.h - finds plugins, loads them with dlopen and checks them before any use.
 *
 * The loader is the runtime's only view of a plugin's .so file. It refuses, with a
 * one-line reason naming the file and the fix, anything it cannot trust: a file that
 * is missing, not a shared object, lacks spool_plugin_entry, was built for another
 * ABI, declares malformed options, duplicates another plugin's name, or can be
 * written by group or others. Plugins are never unloaded before the process exits.
 *
 * Built-in plugins (compiled into the runtime, such as the `filter` transform) are
 * registered through loader_add_builtin() and go through the same checks.
 *
 * Loading on demand: loader_index_dir() lists the *.so files of a directory without
 * loading any; a lookup then loads only what it needs. Asked for NAME of kind KIND, it
 * loads every indexed file conventionally named for it (spool-NAME-KIND.so,
 * spool-NAME.so, NAME-KIND.so, NAME.so, across all directories, in index order) and,
 * only when those do not provide it, every remaining file. So a worker maps only the
 * plugins (and their libraries) its pipelines use, and a plugin under another file
 * name is still found, at the cost of loading everything. Listing (loader_count,
 * loader_at) and loader_load_all() load every indexed file first.
 *
 * Refusals under loading on demand: a file is checked when it is loaded, so a broken
 * file is reported by the first lookup that loads it (the lookup fails with the
 * file's refusal in err, even if another file provides the name: a refused candidate
 * means the file meant to provide it is broken or clashes) and by loader_load_all();
 * a broken file that nothing needs is reported only by loader_load_all() (`spool
 * validate`, `spool plugins`). A refused file stays refused for the process (fix it,
 * then restart). A duplicate name is found once both files are loaded: between two
 * conventionally named files of the same plugin at its first lookup (all candidates
 * are loaded), otherwise by loader_load_all(). Files added to a directory after it
 * was indexed are not seen.
 *
 * Threads: every function may be called from any thread; lookups that load are
 * serialized by a mutex inside the loader. Returned loader_plugin pointers stay valid
 * until loader_free(), whatever is loaded later.
 */
#ifndef SPOOL_LOADER_H
#define SPOOL_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "spool/plugin.h"

typedef struct loader_plugin {
    const spool_plugin *desc;        /* the plugin's static descriptor */
    const char *path;                /* the .so file, or "(built-in)" */
    const spool_option *const *options; /* NULL-terminated, stride-safe view */
    size_t option_count;
} loader_plugin;

typedef struct loader loader;

/* A new, empty registry whose plugins receive host. NULL when out of memory. */
loader *loader_new(const spool_host *host);

/* Frees the registry (the shared objects stay mapped until exit). */
void loader_free(loader *l);

/* Loads one plugin file. Returns SPOOL_OK, or a negative code with the reason in err:
 * "plugin file /x/y.so: <what is wrong>; <how to fix it>". */
int loader_load_file(loader *l, const char *path, char *err, size_t errlen);

/* Loads every *.so in dir (in name order). A directory that does not exist is skipped
 * (returns SPOOL_OK); the first bad plugin stops the scan with its reason in err. */
int loader_load_dir(loader *l, const char *dir, char *err, size_t errlen);

/* Adds every *.so file of dir (in name order) to the index without loading any; call
 * it for each directory of the search path, in order. A directory that does not
 * exist is skipped (SPOOL_OK); one that cannot be read is an error in err. */
int loader_index_dir(loader *l, const char *dir, char *err, size_t errlen);

/* Loads every indexed file not loaded yet, in index order, and checks it. Returns
 * SPOOL_OK, or the first refusal in index order (a file refused earlier counts) with
 * its reason in err; the other files are loaded all the same. */
int loader_load_all(loader *l, char *err, size_t errlen);

/* Registers a plugin compiled into the runtime, with the same checks as a file. */
int loader_add_builtin(loader *l, spool_plugin_entry_fn *entry, char *err, size_t errlen);

/* Checks a descriptor as the loader does (ABI, struct sizes, kind, callbacks,
 * options), writing the reason for the first problem into err. Exposed for tests and
 * the fuzzer. */
int loader_check_descriptor(const spool_plugin *p, const char *path, char *err,
                            size_t errlen);

/* The plugin of kind (spool_kind; 0 for any kind, the first in load order) named
 * name, loading indexed files as described at the top. NULL when there is none, with
 * err empty, or when a file the lookup needed was refused, with the refusal in err
 * ("plugin file PATH: ..."). err may be NULL. The lookup takes a const loader: it
 * may load files, which changes what is mapped but not what it answers. */
const loader_plugin *loader_lookup(const loader *l, const char *name, uint32_t kind,
                                   char *err, size_t errlen);

/* loader_lookup() without the reason: of any kind, and of one kind. Names are unique
 * per kind: a source and a sink may share one ("file"). */
const loader_plugin *loader_find(const loader *l, const char *name);
const loader_plugin *loader_find_kind(const loader *l, const char *name, uint32_t kind);

/* Every plugin, in load order (built-ins and those loaded by lookups first). Both
 * load every indexed file first; refused files are left out (loader_load_all()
 * reports them). */
size_t loader_count(const loader *l);
const loader_plugin *loader_at(const loader *l, size_t i);

/* What the loader did so far, for tests, benchmarks and the debug log. */
typedef struct loader_stats {
    size_t plugins; /* registered, built-ins included */
    size_t indexed; /* files in the index */
    size_t loaded;  /* indexed files loaded and accepted */
    size_t refused; /* indexed files refused */
    size_t opened;  /* dlopen() calls, loader_load_file() included */
} loader_stats;
void loader_get_stats(const loader *l, loader_stats *out);

/* 1 if the indexed file path (as indexed: DIR/NAME.so) is loaded, 0 if it is not
 * (yet, or was refused), -1 if it is not in the index. */
int loader_file_loaded(const loader *l, const char *path);

/* The search path, in order: extra (a ':'-separated list, e.g. from --plugin-path or
 * the worker config; may be NULL), then $SPOOL_PLUGIN_PATH, then the directory
 * lib/spool/plugins under the prefix the running binary was installed to (the
 * binary's directory's parent). Returns a malloc'd NULL-terminated array of malloc'd
 * strings; free with loader_path_free(). Empty entries and repeats of an earlier
 * entry are left out (one directory listed twice would load each plugin twice). NULL
 * when out of memory. */
char **loader_search_path(const char *extra);
void loader_path_free(char **path);

/* The option named name in p, or NULL. */
const spool_option *loader_option(const loader_plugin *p, const char *name);

/* Parses text as a value of option o, exactly as the loader checks declared defaults,
 * so YAML values and defaults obey the same rules: INT (decimal, optional sign), SIZE
 * in bytes (512, 64KiB, 16MiB, 1GiB, 2GB), DURATION in ms (250ms, 5s, 10m, 2h, 7d; a
 * bare number is ms), BOOL (true/false -> 1/0), ENUM (index into o->choices). INT,
 * SIZE and DURATION must lie within o->min..o->max when min <= max. STRING and LIST
 * accept anything and yield 0. Returns SPOOL_OK with the value in *out, or
 * SPOOL_EINVAL with a phrase such as "\"abc\" is not a size (...)" in why (no
 * prefix, no trailing period) for the caller to embed in its own message. */
int loader_parse_option_value(const spool_option *o, const char *text, int64_t *out,
                              char *why, size_t whylen);

/* Checks the arguments of host->gauge() as its contract in spool/plugin.h states them
 * (the name's characters, length and suffix; a finite value), so that the runtime and
 * the kit refuse the same calls. Returns 0, or -1 with a sentence in why that names the
 * gauge and says how to fix it. The limit on distinct names is the caller's. */
int loader_check_gauge(const char *name, double value, char *why, size_t whylen);

#endif /* SPOOL_LOADER_H */

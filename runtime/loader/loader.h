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
 * Threads: load everything from one thread before starting tasks; after that the
 * lookup functions are safe from any thread.
 */
#ifndef SPOOL_LOADER_H
#define SPOOL_LOADER_H

#include <stddef.h>

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

/* Registers a plugin compiled into the runtime, with the same checks as a file. */
int loader_add_builtin(loader *l, spool_plugin_entry_fn *entry, char *err, size_t errlen);

/* Checks a descriptor as the loader does (ABI, struct sizes, kind, callbacks,
 * options), writing the reason for the first problem into err. Exposed for tests and
 * the fuzzer. */
int loader_check_descriptor(const spool_plugin *p, const char *path, char *err,
                            size_t errlen);

/* The plugin named name, or NULL. */
const loader_plugin *loader_find(const loader *l, const char *name);

/* Every loaded plugin, in load order. */
size_t loader_count(const loader *l);
const loader_plugin *loader_at(const loader *l, size_t i);

/* The search path, in order: extra (a ':'-separated list, e.g. from --plugin-path or
 * the worker config; may be NULL), then $SPOOL_PLUGIN_PATH, then the directory
 * lib/spool/plugins under the prefix the running binary was installed to (the
 * binary's directory's parent). Returns a malloc'd NULL-terminated array of malloc'd
 * strings; free with loader_path_free(). */
char **loader_search_path(const char *extra);
void loader_path_free(char **path);

/* The option named name in p, or NULL. */
const spool_option *loader_option(const loader_plugin *p, const char *name);

#endif /* SPOOL_LOADER_H */

/* spool/plugin.h - the one header a spool plugin includes.
 *
 * A plugin is a shared object that exports exactly one symbol, spool_plugin_entry(),
 * which returns a static descriptor: ABI version, name, kind, declared options and
 * callbacks. The plugin never links against the runtime: every service it needs
 * (logging, options, emitting records, checkpoints) arrives in the spool_host table
 * handed to spool_plugin_entry(). A mismatch is therefore caught by version numbers
 * at load time, not by a crash at run time.
 *
 * Compatibility rules, kept for the whole life of ABI 1:
 *   - SPOOL_ABI_VERSION changes only for an incompatible change; the loader refuses a
 *     plugin built for another ABI with a message naming both numbers.
 *   - Every struct that crosses the boundary and may grow starts with struct_size.
 *     Members are only ever appended. A reader must check SPOOL_HAS() before touching a
 *     member that was appended after ABI 1.0, so old plugins run on new runtimes and
 *     new plugins detect old runtimes.
 *   - Arrays of growable structs cross the boundary as arrays of pointers, never as
 *     arrays of structs, so the two sides never disagree on a stride. The one exception
 *     is the option table, whose stride is its first element's struct_size.
 *
 * Threads: all callbacks of one task run on one thread and never concurrently, so a
 * plugin needs no locks for its per-task state. Different tasks (of the same plugin or
 * not) run in parallel, so state shared between tasks must be synchronised by the
 * plugin. Each host function says which threads may call it.
 *
 * Deadlines: a callback that has not returned after its connector's errors.deadline
 * (default 5 minutes; once the worker is shutting down, 5 seconds) FAILS the connector:
 * its thread is abandoned, never cancelled, and the plugin is not called again for that
 * task, close() included. The clock stops while the runtime works inside emit() and
 * reject(), so only the plugin's own time counts.
 *
 * Ownership: nothing is allocated on one side and freed on the other. Records passed
 * to a sink are borrowed for the call; emit() copies; strings returned by the host live
 * until the task's close() returns; the plugin's state is the plugin's.
 */
#ifndef SPOOL_PLUGIN_H
#define SPOOL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised only for an incompatible change. The loader refuses any other value. */
#define SPOOL_ABI_VERSION 1

/* The release of the SDK these headers come from (the build checks that it is the
 * project's version). SPOOL_VERSION_NUMBER is MAJOR * 10000 + MINOR * 100 + PATCH, so
 * that #if SPOOL_VERSION_NUMBER >= 200 reads "0.2.0 or later". */
#define SPOOL_VERSION_MAJOR 0
#define SPOOL_VERSION_MINOR 1
#define SPOOL_VERSION_PATCH 0
#define SPOOL_VERSION_STRING "0.1.0"
#define SPOOL_VERSION_NUMBER \
    (SPOOL_VERSION_MAJOR * 10000 + SPOOL_VERSION_MINOR * 100 + SPOOL_VERSION_PATCH)

/* Compile-time ABI check. A plugin states the ABI it was written for, with
 * -DSPOOL_REQUIRE_ABI=1 (the scaffold of `spool plugin new` does) or a #define before
 * this include; built against headers of another ABI, it then fails to compile instead
 * of failing to load. The loader checks the same number again at load time. */
#if defined(SPOOL_REQUIRE_ABI) && SPOOL_REQUIRE_ABI != SPOOL_ABI_VERSION
#error "spool/plugin.h: this plugin requires another spool plugin ABI (SPOOL_REQUIRE_ABI) than these headers speak (SPOOL_ABI_VERSION); build it against a spool SDK of the ABI it requires, or port it (docs/sdk.md, ABI stability)"
#endif

/* The largest record a source or a transform may emit: its key, value, header keys and
 * header values together. emit() refuses a larger record with SPOOL_EINVAL and the
 * connector is FAILED with the record's size in the reason. */
#define SPOOL_RECORD_MAX_BYTES (32u * 1024u * 1024u)

/* The name of the one symbol a plugin exports. */
#define SPOOL_PLUGIN_ENTRY_SYMBOL "spool_plugin_entry"

#if defined(__GNUC__)
#define SPOOL_EXPORT __attribute__((visibility("default")))
#define SPOOL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SPOOL_EXPORT
#define SPOOL_PRINTF(fmt, args)
#endif

/* True when the struct at p, of type T, was built with member m. */
#define SPOOL_HAS(T, p, m) \
    ((p)->struct_size >= offsetof(T, m) + sizeof(((T *)0)->m))

/* Result of every callback and host function. 0 is always success. */
typedef enum spool_rc {
    SPOOL_OK = 0,
    SPOOL_ERR = -1,    /* permanent failure: the task stops and reports the error */
    SPOOL_RETRY = -2,  /* transient failure: the runtime backs off and calls again */
    SPOOL_EINVAL = -3, /* invalid argument or configuration */
    SPOOL_ENOMEM = -4, /* out of memory */
    SPOOL_EABI = -5,   /* the other side of the boundary is too old for this call */
    SPOOL_ESTOP = -6,  /* the task is stopping: return from the callback */
    SPOOL_DONE = -7    /* source: no record will ever come again (end of input) */
} spool_rc;

/* The symbolic name of rc ("SPOOL_RETRY"). Never NULL. */
static inline const char *spool_rc_name(int rc)
{
    switch (rc) {
    case SPOOL_OK: return "SPOOL_OK";
    case SPOOL_ERR: return "SPOOL_ERR";
    case SPOOL_RETRY: return "SPOOL_RETRY";
    case SPOOL_EINVAL: return "SPOOL_EINVAL";
    case SPOOL_ENOMEM: return "SPOOL_ENOMEM";
    case SPOOL_EABI: return "SPOOL_EABI";
    case SPOOL_ESTOP: return "SPOOL_ESTOP";
    case SPOOL_DONE: return "SPOOL_DONE";
    default: return "SPOOL_UNKNOWN";
    }
}

/* A one-line description of rc for people. Never NULL. */
static inline const char *spool_rc_str(int rc)
{
    switch (rc) {
    case SPOOL_OK: return "success";
    case SPOOL_ERR: return "permanent failure";
    case SPOOL_RETRY: return "transient failure, will retry";
    case SPOOL_EINVAL: return "invalid argument";
    case SPOOL_ENOMEM: return "out of memory";
    case SPOOL_EABI: return "not supported by the other side's ABI";
    case SPOOL_ESTOP: return "task is stopping";
    case SPOOL_DONE: return "end of input";
    default: return "unknown result code";
    }
}

/* The runtime's handle on one running task. Opaque; owned by the runtime. */
typedef struct spool_task spool_task;

/* ---------------------------------------------------------------------------------
 * Declared options
 * ------------------------------------------------------------------------------- */

typedef enum spool_opt_type {
    SPOOL_OPT_STRING = 1,   /* any string */
    SPOOL_OPT_INT = 2,      /* signed 64-bit integer */
    SPOOL_OPT_BOOL = 3,     /* true or false */
    SPOOL_OPT_SIZE = 4,     /* bytes; YAML may say 512, 64KiB, 16MiB, 1GiB */
    SPOOL_OPT_DURATION = 5, /* milliseconds; YAML may say 250ms, 5s, 10m, 2h, 7d */
    SPOOL_OPT_ENUM = 6,     /* one of the declared choices */
    SPOOL_OPT_LIST = 7      /* a list of strings; YAML [a, b] or a block sequence */
} spool_opt_type;

#define SPOOL_OPT_REQUIRED 0x1u /* no default: the pipeline must set it */
#define SPOOL_OPT_SECRET 0x2u   /* never printed: masked in messages, status and docs */

/* One declared option. A plugin's options are a static array ended by an entry whose
 * name is NULL; the runtime steps through it by the first entry's struct_size.
 * The table must stay valid until the process exits. */
typedef struct spool_option {
    uint32_t struct_size;          /* sizeof(spool_option) */
    uint32_t type;                 /* spool_opt_type */
    const char *name;              /* YAML key: lower case letters, digits, '_' */
    const char *default_value;     /* as it would be written in YAML; NULL: none */
    uint32_t flags;                /* SPOOL_OPT_REQUIRED | SPOOL_OPT_SECRET */
    int64_t min, max;              /* INT, SIZE, DURATION bounds when min < max */
    const char *const *choices;    /* ENUM: NULL-terminated list; else NULL */
    const char *doc;               /* one line, shown by `spool plugins` and in docs */
} spool_option;

/* Starts an option's designated initializer; fields not named are zero (no bounds). */
#define SPOOL_OPTION_INIT .struct_size = sizeof(spool_option)

/* ---------------------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------------------- */

/* A record header. Frozen for ABI 1: it never grows. */
typedef struct spool_header {
    const char *key;               /* NUL-terminated */
    const void *value;
    size_t value_len;
} spool_header;

typedef struct spool_record {
    uint32_t struct_size;          /* sizeof(spool_record) */
    const void *key;               /* NULL: the record has no key */
    size_t key_len;
    const void *value;             /* NULL: a null value (a tombstone) */
    size_t value_len;
    const spool_header *headers;
    size_t header_count;
    int64_t timestamp_ms;          /* milliseconds since the epoch; 0 on emit: now */
    const char *topic;             /* sink: topic read from; emit: NULL, the task's */
    int32_t partition;             /* sink: partition read from; emit: -1, by key */
    int64_t offset;                /* sink: offset in the partition; emit: ignored */
} spool_record;

/* ---------------------------------------------------------------------------------
 * The host table: services the runtime gives every plugin
 * ------------------------------------------------------------------------------- */

typedef enum spool_log_level {
    SPOOL_LOG_ERROR = 1,
    SPOOL_LOG_WARN = 2,
    SPOOL_LOG_INFO = 3,
    SPOOL_LOG_DEBUG = 4
} spool_log_level;

typedef struct spool_host {
    uint32_t struct_size;          /* sizeof(spool_host) in the runtime */
    uint32_t abi_version;          /* SPOOL_ABI_VERSION of the runtime */
    const char *runtime_version;   /* "0.1.0"; static */

    /* Writes one log line tagged with the task's pipeline, connector and task.
     * t may be NULL outside a task. Thread: any. Blocks: no (bounded by stderr). */
    void (*log)(spool_task *t, int level, const char *fmt, ...) SPOOL_PRINTF(3, 4);

    /* Sets the text that explains the non-OK result the current callback is about to
     * return; the runtime logs it and shows it in the task's status. The text must not
     * contain a secret option's value. Thread: the task's. Copies fmt's result. */
    void (*set_error)(spool_task *t, const char *fmt, ...) SPOOL_PRINTF(2, 3);

    /* The value of a declared option, after defaults and ${VAR} expansion, as the
     * YAML spelled it; NULL when the option has no value. Thread: the task's. The
     * string is owned by the host and valid until close() returns. */
    const char *(*opt_string)(spool_task *t, const char *name);

    /* The value of a declared INT, BOOL (0 or 1), SIZE (bytes), DURATION (ms) or ENUM
     * (index into choices) option; 0 when it has no value. Thread: the task's. */
    int64_t (*opt_int)(spool_task *t, const char *name);

    /* The value of a declared LIST option: a NULL-terminated array of strings, with
     * its length in *n when n is not NULL; an empty array when it has no value. Owned
     * by the host and valid until close() returns. Thread: the task's. */
    const char *const *(*opt_list)(spool_task *t, const char *name, size_t *n);

    /* The task's name ("pipeline/connector/0"). Owned by the host; valid until close()
     * returns. Thread: any. */
    const char *(*task_name)(spool_task *t);

    /* Non-zero once the runtime has asked the task to stop: a callback that loops or
     * waits must return soon after. Thread: any. Blocks: no. */
    int (*stopping)(spool_task *t);

    /* Sources: hands one record to the runtime, with the source position to resume
     * from once this record (and all before it) is durable. The host copies rec,
     * its buffers and position before returning. position may be NULL when the
     * position did not change. Returns SPOOL_OK; SPOOL_ESTOP when the task is
     * stopping; SPOOL_EINVAL when the record is refused (larger than
     * SPOOL_RECORD_MAX_BYTES, or struct_size too small), which FAILS the connector with
     * the reason. After either, the callback must return. Transforms: passes one record
     * on to the next stage; position is ignored. Thread: the task's, inside poll() or
     * transform(). Blocks: bounded, for backpressure when the log is behind. */
    spool_rc (*emit)(spool_task *t, const spool_record *rec,
                     const void *position, size_t position_len);

    /* Sources: the last position committed to the log with this task's records, so
     * the task resumes there. *len is 0 when the task never committed. The bytes are
     * owned by the host and valid until the task's next commit (after poll() returns):
     * copy them to keep them. Thread: the task's. */
    spool_rc (*source_position)(spool_task *t, const void **position, size_t *len);

    /* Resumable sinks: the bytes the sink stored with set_sink_position() at the
     * last checkpoint, so open() can cut its output back to it. *len is 0 when there
     * is none. Owned by the host, valid until the next checkpoint (after flush()):
     * copy them to keep them. Thread: the task's. */
    spool_rc (*sink_position)(spool_task *t, const void **position, size_t *len);

    /* Resumable sinks: inside flush(), records how far the output is durably written.
     * The runtime stores it atomically with the consumed offsets once flush()
     * returns SPOOL_OK. The host copies it. Thread: the task's, inside flush(). */
    spool_rc (*set_sink_position)(spool_task *t, const void *position, size_t len);

    /* Transactional sinks: inside open(), tells the runtime the next offset to read
     * for one topic partition, as stored in the sink's own system. Partitions never
     * named start at the beginning of the log. Thread: the task's, inside open(). */
    spool_rc (*seek)(spool_task *t, const char *topic, int32_t partition,
                     int64_t next_offset);

    /* Sinks: inside put() (or flush(), except for transactional sinks, which commit
     * there), sets aside one record the destination refused for a reason of its own (a
     * type error, a constraint), so that the rest of the batch goes on. rec must be one
     * of the records of the current put(). With the
     * connector's `errors: {tolerance: all}` the record goes to the dead-letter topic
     * (when one is set) with the reason in its headers and SPOOL_OK is returned; with
     * tolerance none, SPOOL_ERR is returned and the connector fails once the callback
     * returns. reason is copied. Thread: the task's. */
    spool_rc (*reject)(spool_task *t, const spool_record *rec, const char *reason);

    /* Appended after ABI 1.0: check SPOOL_HAS(spool_host, host, gauge) first; an
     * older runtime lacks it (then simply publish nothing).
     *
     * Sets the task's gauge name to value: a number the plugin wants operators to see
     * (a replication slot's lag, the size of the last batch), exported by the daemon's
     * GET /metrics as spool_plugin_<name>{connector,task,type,plugin} (docs/api.md).
     * The last value set is kept, also across a restart of the task, until set again.
     * name: [a-z_][a-z0-9_]*, at most SPOOL_GAUGE_NAME_MAX characters, not ending in
     * _total, _count, _sum or _bucket (Prometheus' suffixes for counters and
     * histograms); value: finite; at most SPOOL_GAUGE_MAX distinct names per task.
     * Anything else returns SPOOL_EINVAL with the reason set as set_error() would, and
     * changes nothing: the plugin may go on (a gauge is never worth failing for). A
     * transform's gauges belong to the source or sink task it runs in. The host copies
     * name. Thread: the task's, inside any of its callbacks (open() to close()).
     * Blocks: no. */
    spool_rc (*gauge)(spool_task *t, const char *name, double value);

    /* Appended after ABI 1.0: check SPOOL_HAS(spool_host, host, key_field) first.
     *
     * A source's `key:` field (a dot path such as "resource.id"), or NULL when the
     * pipeline names none (or t is not a source). emit() takes the key from that field
     * of a record's JSON value when the record comes without a key; a source that
     * parses its input on threads of its own may find the field there, with the same
     * rule (a string without its quotes, an integer, true, false or null as written),
     * and emit the record with that key, which saves the task's thread the search.
     * When unsure, leave the key NULL: the runtime then looks for itself. The string
     * lives until close(). Thread: any, from open() to close(). Blocks: no. */
    const char *(*key_field)(spool_task *t);
} spool_host;

/* The limits of host->gauge(): the longest name and the distinct names per task. */
#define SPOOL_GAUGE_NAME_MAX 48
#define SPOOL_GAUGE_MAX 16

/* ---------------------------------------------------------------------------------
 * The plugin descriptor
 * ------------------------------------------------------------------------------- */

typedef enum spool_kind {
    SPOOL_KIND_SOURCE = 1,
    SPOOL_KIND_SINK = 2,
    SPOOL_KIND_TRANSFORM = 3
} spool_kind;

/* How far a sink can promise delivery; see docs/sdk.md for how to choose. */
typedef enum spool_delivery {
    /* Writes records and their offsets in one transaction of its own system and
     * reports them with seek() in open(). Exactly once. */
    SPOOL_DELIVERY_TRANSACTIONAL = 1,
    /* Stores with each checkpoint how far its output was written
     * (set_sink_position) and cuts its output back to it in open(). Exactly once. */
    SPOOL_DELIVERY_RESUMABLE = 2,
    /* Checkpointed by the runtime after a successful flush(); after a crash some
     * records come again, each with its stable topic/partition/offset. At least once. */
    SPOOL_DELIVERY_IDEMPOTENT = 3
} spool_delivery;

typedef struct spool_plugin {
    uint32_t struct_size;          /* sizeof(spool_plugin) */
    uint32_t abi_version;          /* SPOOL_ABI_VERSION the plugin was built for */
    const char *name;              /* connector name in YAML: [a-z0-9_-], unique */
    const char *version;           /* the plugin's own version */
    const char *description;       /* one line */
    uint32_t kind;                 /* spool_kind */
    uint32_t delivery;             /* sinks: spool_delivery; others: 0 */
    const spool_option *options;   /* declared options; may be NULL for none */

    /* All kinds. Acquires the task's resources and sets *state. Called once per task
     * before any other callback. Thread: the task's. Blocks: may, briefly (connect). */
    spool_rc (*open)(spool_task *t, void **state);

    /* All kinds. Releases everything open() and later callbacks acquired. Called
     * exactly once per task, also after a failed open() (with whatever *state it
     * set, possibly NULL). Thread: the task's. */
    void (*close)(spool_task *t, void *state);

    /* Sources. Emits zero or more records with host->emit(), waiting at most
     * timeout_ms for data when there is none. Returning SPOOL_OK with nothing
     * emitted is normal. SPOOL_DONE says the input has ended for good: the records
     * emitted in this call are still committed, and poll() is not called again.
     * Thread: the task's. Blocks: at most timeout_ms. */
    spool_rc (*poll)(spool_task *t, void *state, int timeout_ms);

    /* Sources, optional. Every record emitted with a position up to and including
     * this one is durable in the log: the source may now acknowledge upstream.
     * position is borrowed for the call. Thread: the task's. */
    spool_rc (*commit)(spool_task *t, void *state, const void *position, size_t len);

    /* Sinks. Delivers n records, in offset order per partition. The array and the
     * records are borrowed for the call: a sink that keeps them must copy.
     * Thread: the task's. Blocks: may, bounded by the sink's own timeouts. */
    spool_rc (*put)(spool_task *t, void *state, const spool_record *const *recs,
                    size_t n);

    /* Sinks. Makes everything put so far durable at the destination before
     * returning SPOOL_OK; the runtime checkpoints only after that. A transactional sink
     * commits its transaction (records and offsets) here: records it rejected in put()
     * are in the dead-letter topic by then. After SPOOL_RETRY from a transactional
     * sink's flush(), its transaction is taken as lost and the batch is put() again; for
     * other sinks only flush() is called again. A resumable sink that has no checkpoint
     * yet gets one flush() right after open(), with nothing put, so that it can record
     * where its output starts. Thread: the task's. */
    spool_rc (*flush)(spool_task *t, void *state);

    /* Transforms. Passes on zero or more records derived from rec with host->emit();
     * emitting nothing drops it. rec is borrowed. Thread: the task's. */
    spool_rc (*transform)(spool_task *t, void *state, const spool_record *rec);
} spool_plugin;

/* ---------------------------------------------------------------------------------
 * The layout of ABI 1, frozen
 *
 * On the LP64 targets spool supports, these are the sizes and offsets every ABI 1
 * plugin and runtime agree on: a change to any struct above that moves a member fails
 * the build here, before it can break a plugin built with older headers. Members may
 * only be appended (the sizes then grow, and these checks are raised with them).
 * tests/unit/test_abi.c checks every member's offset.
 * ------------------------------------------------------------------------------- */

#if defined(__cplusplus) && __cplusplus >= 201103L
#define SPOOL_STATIC_ASSERT(cond, msg) static_assert(cond, msg);
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define SPOOL_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg);
#else
#define SPOOL_STATIC_ASSERT(cond, msg)
#endif

#if defined(__LP64__) || defined(_LP64)
SPOOL_STATIC_ASSERT(sizeof(spool_plugin) == 104, "spool_plugin is 104 bytes in ABI 1")
SPOOL_STATIC_ASSERT(offsetof(spool_plugin, abi_version) == 4, "spool_plugin.abi_version at 4")
SPOOL_STATIC_ASSERT(offsetof(spool_plugin, options) == 40, "spool_plugin.options at 40")
SPOOL_STATIC_ASSERT(offsetof(spool_plugin, open) == 48, "spool_plugin.open at 48")
SPOOL_STATIC_ASSERT(offsetof(spool_plugin, transform) == 96, "spool_plugin.transform at 96")
SPOOL_STATIC_ASSERT(sizeof(spool_host) == 136, "spool_host is 136 bytes in ABI 1 (gauge, key_field appended)")
SPOOL_STATIC_ASSERT(offsetof(spool_host, log) == 16, "spool_host.log at 16")
SPOOL_STATIC_ASSERT(offsetof(spool_host, emit) == 72, "spool_host.emit at 72")
SPOOL_STATIC_ASSERT(offsetof(spool_host, reject) == 112, "spool_host.reject at 112")
SPOOL_STATIC_ASSERT(offsetof(spool_host, gauge) == 120, "spool_host.gauge at 120")
SPOOL_STATIC_ASSERT(offsetof(spool_host, key_field) == 128, "spool_host.key_field at 128")
SPOOL_STATIC_ASSERT(sizeof(spool_option) == 64, "spool_option is 64 bytes in ABI 1")
SPOOL_STATIC_ASSERT(offsetof(spool_option, min) == 32, "spool_option.min at 32")
SPOOL_STATIC_ASSERT(offsetof(spool_option, doc) == 56, "spool_option.doc at 56")
SPOOL_STATIC_ASSERT(sizeof(spool_record) == 88, "spool_record is 88 bytes in ABI 1")
SPOOL_STATIC_ASSERT(offsetof(spool_record, value) == 24, "spool_record.value at 24")
SPOOL_STATIC_ASSERT(offsetof(spool_record, offset) == 80, "spool_record.offset at 80")
SPOOL_STATIC_ASSERT(sizeof(spool_header) == 24, "spool_header is 24 bytes, frozen")
#endif

/* The entry point every plugin exports. It must be free of side effects (no threads,
 * no I/O, no allocation) other than keeping the host pointer, because the runtime
 * also calls it only to list and document plugins. It may be called more than once,
 * always with the same host. Returns a descriptor valid until the process exits. */
typedef const spool_plugin *spool_plugin_entry_fn(const spool_host *host);

SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *host);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_PLUGIN_H */

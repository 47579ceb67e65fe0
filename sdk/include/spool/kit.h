/* spool/kit.h - the plugin test kit: runs one plugin task in a unit test, no worker.
 *
 * The kit is a small host of its own (libspool-sdk-kit): it loads a plugin exactly as
 * spool's loader does (same descriptor and option checks, same messages), hands it a
 * spool_host table, and lets a test drive one task step by step:
 *
 *     char err[512];
 *     spool_kit *k = spool_kit_load("./mysink.so", err, sizeof(err));
 *     spool_kit_set(k, "path", "/tmp/out.txt");
 *     spool_kit_open(k);                        open(), with defaults applied
 *     spool_kit_put_value(k, "t", 0, "hello");  put() one record at the next offset
 *     spool_kit_flush(k);                       flush(), then the checkpoint
 *     spool_kit_crash(k);                       a kill -9: what was not flushed is gone
 *     spool_kit_open(k);                        open() again from the last checkpoint
 *     spool_kit_free(k);                        close() if open, then free
 *
 * What a worker does between callbacks, the kit does when the test asks: a source's
 * emitted records stay pending until spool_kit_commit() commits them with the last
 * position (and calls the plugin's commit()); a sink's offsets and position are saved
 * only when flush() returns SPOOL_OK. spool_kit_crash() throws away what a crash
 * would lose, so a test can check that the plugin resumes without losing or doubling a
 * record.
 *
 * The kit also checks the contract while it runs: host calls in the wrong phase
 * (seek() outside open(), set_sink_position() outside flush(), reject() outside put()),
 * records over SPOOL_RECORD_MAX_BYTES, a gauge() the runtime would refuse, and any secret option's value appearing in a log
 * line or an error text are counted as violations (spool_kit_violations()) with a
 * message in the kit's log.
 *
 * Threads: a kit is driven from one thread; the plugin may call the host's log(),
 * task_name() and stopping() from other threads, as the SDK allows. Kits are
 * independent of each other. Ownership: strings and records the kit returns are owned
 * by the kit and valid until the call named with each function.
 */
#ifndef SPOOL_KIT_H
#define SPOOL_KIT_H

#include <stddef.h>
#include <stdint.h>

#include "spool/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spool_kit spool_kit;

/* ---- Creating a kit ------------------------------------------------------------- */

/* A kit for the plugin whose entry function is linked into the test. Returns NULL with
 * the reason in err when the descriptor is one spool would refuse, or out of memory. */
spool_kit *spool_kit_new(spool_plugin_entry_fn *entry, char *err, size_t errlen);

/* A kit for the plugin file at path, loaded as spool loads it (dlopen, the one
 * exported symbol, ABI and descriptor checks). NULL with the reason in err. */
spool_kit *spool_kit_load(const char *path, char *err, size_t errlen);

/* Closes the task if it is open and frees the kit. The plugin stays loaded. */
void spool_kit_free(spool_kit *k);

/* The plugin's descriptor; valid until the process exits. */
const spool_plugin *spool_kit_plugin(const spool_kit *k);

/* The text of the last failure: the plugin's set_error() during the last callback, or
 * the kit's own reason when one of its calls failed. "" when none. Valid until the
 * next call on k. */
const char *spool_kit_error(const spool_kit *k);

/* ---- Declared options ------------------------------------------------------------ */

/* The declared option named name, or NULL when the plugin declares none. */
const spool_option *spool_kit_option(const spool_kit *k, const char *name);

/* The number of declared options, and the i-th, in declaration order. */
size_t spool_kit_option_count(const spool_kit *k);
const spool_option *spool_kit_option_at(const spool_kit *k, size_t i);

/* Sets an option as a pipeline file would write it ("64KiB", "5s", "true", a choice).
 * Checked as spool checks YAML: SPOOL_EINVAL for an undeclared name, a value of the
 * wrong type or out of range, or a call while the task is open. */
int spool_kit_set(spool_kit *k, const char *name, const char *value);

/* Sets a LIST option to n strings. */
int spool_kit_set_list(spool_kit *k, const char *name, const char *const *items, size_t n);

/* Forgets the value set for name, so that its default applies again. */
int spool_kit_unset(spool_kit *k, const char *name);

/* ---- The task -------------------------------------------------------------------- */

/* Applies defaults, checks that every required option is set (SPOOL_EINVAL naming it
 * otherwise), then calls open(). Returns open()'s result; after a failed open() the
 * kit calls close() at once, as the runtime does. The task resumes from what the
 * last commit (sources) or checkpoint (sinks) saved. */
int spool_kit_open(spool_kit *k);

/* Calls close() when the task is open. Nothing pending is committed. */
void spool_kit_close(spool_kit *k);

/* Simulates a crash and the restart after it: records emitted but not committed, and
 * everything a sink took since its last successful flush(), are forgotten, and the
 * task is closed (close() runs so that a test leaks nothing; a plugin must never rely
 * on close() to make data durable). spool_kit_open() then resumes as after a restart. */
void spool_kit_crash(spool_kit *k);

/* Makes host->stopping() return non-zero and emit() return SPOOL_ESTOP, as when the
 * worker stops; spool_kit_open() clears it. */
void spool_kit_stop(spool_kit *k);

/* ---- Sources and transforms ------------------------------------------------------ */

/* Calls poll(t, state, timeout_ms) once and returns its result. Emitted records are
 * pending until spool_kit_commit(). */
int spool_kit_poll(spool_kit *k, int timeout_ms);

/* Commits the pending records with the position of the last record emitted with one,
 * as the runtime does after poll(), then calls the plugin's commit() with it (when the
 * plugin has one and the position moved). Returns commit()'s result or SPOOL_OK. */
int spool_kit_commit(spool_kit *k);

/* poll() and commit() until poll() returns SPOOL_DONE (returns SPOOL_OK), an error
 * (returned), or max_polls calls (returns SPOOL_RETRY). */
int spool_kit_run_source(spool_kit *k, int max_polls, int timeout_ms);

/* Transforms: calls transform() on rec; what it emits is collected like a source's
 * records and committed at once. Returns transform()'s result. */
int spool_kit_transform(spool_kit *k, const spool_record *rec);

/* The records emitted so far: committed first, in emit order, then the pending ones.
 * Valid until the next spool_kit_crash() or spool_kit_clear_records(). */
size_t spool_kit_record_count(const spool_kit *k);
size_t spool_kit_committed_count(const spool_kit *k);
const spool_record *spool_kit_record(const spool_kit *k, size_t i);

/* Forgets the committed records (not the position), to look at what comes next. */
void spool_kit_clear_records(spool_kit *k);

/* The last committed source position (*len 0 when none); valid until the next commit.
 * Sets it, as if a previous run had committed it, when called before open(). */
void spool_kit_position(const spool_kit *k, const void **position, size_t *len);
int spool_kit_set_position(spool_kit *k, const void *position, size_t len);

/* ---- Sinks ----------------------------------------------------------------------- */

/* Calls put() with n records. The records are passed as they are (topic, partition and
 * offset included), borrowed for the call, as the runtime does. */
int spool_kit_put(spool_kit *k, const spool_record *const *recs, size_t n);

/* put() of one record with value (a C string) at topic/partition and the next offset
 * of that partition (spool_kit_next_offset()). */
int spool_kit_put_value(spool_kit *k, const char *topic, int32_t partition,
                        const char *value);

/* Calls flush(). On SPOOL_OK the kit checkpoints: the offsets after the records put
 * since the last checkpoint and, for a resumable sink, the position set in flush(). */
int spool_kit_flush(spool_kit *k);

/* The offset the sink reads next from topic/partition: after the records put so far;
 * after a crash, what the last checkpoint saved (idempotent and resumable sinks) or
 * what the sink reported with seek() in open() (transactional sinks); 0 for a
 * partition never seen. */
int64_t spool_kit_next_offset(const spool_kit *k, const char *topic, int32_t partition);

/* The position of the last checkpoint (resumable sinks); *len 0 when none. */
void spool_kit_sink_position(const spool_kit *k, const void **position, size_t *len);

/* Records the sink set aside with reject(), in order: their offsets and reasons. */
size_t spool_kit_rejected_count(const spool_kit *k);
int64_t spool_kit_rejected_offset(const spool_kit *k, size_t i);
const char *spool_kit_rejected_reason(const spool_kit *k, size_t i);

/* Gauges the plugin set with host->gauge(): 1 with the last value set for name in
 * *value (when value is not NULL), 0 when the plugin never set it. Kept across
 * spool_kit_crash() and spool_kit_open(), as a worker keeps them. A refused call (a bad
 * name, a non-finite value, more than SPOOL_GAUGE_MAX names, outside a callback) is a
 * violation. spool_kit_gauge_count() is the number of distinct names set. */
int spool_kit_gauge(const spool_kit *k, const char *name, double *value);
size_t spool_kit_gauge_count(const spool_kit *k);

/* ---- What the plugin said -------------------------------------------------------- */

/* Log lines ("LEVEL message") the plugin wrote and the kit's own notes ("KIT ..."),
 * in order. Valid until spool_kit_free(). Set SPOOL_KIT_VERBOSE=1 in the environment
 * to also print them to stderr. */
size_t spool_kit_log_count(const spool_kit *k);
const char *spool_kit_log_line(const spool_kit *k, size_t i);

/* Contract violations seen so far (each also a "KIT" log line): a host function
 * called in the wrong phase, a record over SPOOL_RECORD_MAX_BYTES, a secret option's
 * value in a log line or an error text. A passing test expects 0. */
size_t spool_kit_violations(const spool_kit *k);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_KIT_H */

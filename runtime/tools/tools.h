/* tools.h - the data-directory tools: spool topics, produce, consume, verify.
 *
 * Kafka's kafka-topics, console producer and consumer and a log fsck, on a data
 * directory, or (topics, produce, consume; --config or --bootstrap-servers) on the
 * Kafka cluster of the kafka backend. Commands that only read (topics list/describe,
 * consume, verify) open the built-in log read-only: no lock, no truncation, no write,
 * so they run safely beside a worker.
 * Commands that write (topics create/delete, produce, verify --repair) take the lock
 * and refuse with a clear message while a worker holds it.
 *
 * Each takes argc/argv starting at its own name and returns the process exit code:
 * 0 ok, 1 runtime, 2 usage, 3 storage I/O, 4 corruption.
 */
#ifndef SPOOL_TOOLS_H
#define SPOOL_TOOLS_H

int tools_topics(int argc, char **argv);
int tools_produce(int argc, char **argv);
int tools_consume(int argc, char **argv);
int tools_verify(int argc, char **argv);

/* spool plugin new: writes a plugin project (runtime/tools/cmd_plugin_new.c). */
int tools_plugin(int argc, char **argv);

#endif /* SPOOL_TOOLS_H */

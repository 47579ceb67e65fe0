/* daemon.h - `spool worker`: the long-lived worker with its management API.
 *
 * This is the only header of runtime/daemon/ that other subsystems include.
 */
#ifndef SPOOL_DAEMON_H
#define SPOOL_DAEMON_H

/* Runs `spool worker --config FILE [--log-format plain|json] [--log-level L]` (argv[0]
 * is "worker") until SIGTERM or SIGINT. Returns the exit code of DESIGN.md. */
int daemon_main(int argc, char **argv);

#endif /* SPOOL_DAEMON_H */

/* sdnotify.h - systemd's readiness and watchdog protocol, without libsystemd.
 *
 * Under a Type=notify unit, systemd passes the path of a datagram socket in
 * $NOTIFY_SOCKET; the service sends it newline-separated "KEY=VALUE" assignments
 * ("READY=1" once it serves, "RELOADING=1" and "READY=1" around a reload,
 * "STOPPING=1" when it begins to stop, "WATCHDOG=1" at least every $WATCHDOG_USEC / 2,
 * "STATUS=..." a line for `systemctl status`). The protocol is documented in
 * sd_notify(3) and is stable; it is small enough to speak by hand, which keeps
 * libsystemd out of the binary and lets spool run unchanged where systemd is absent.
 *
 * Threads: both functions are safe from any thread as long as nobody changes the
 * environment meanwhile (they only read it); sdnotify_send blocks for at most one
 * sendto() on a datagram socket, which systemd drains promptly.
 */
#ifndef SPOOL_UTIL_SDNOTIFY_H
#define SPOOL_UTIL_SDNOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", "RELOADING=1", "WATCHDOG=1", "STATUS=...",
 * several joined by '\n') to $NOTIFY_SOCKET, a filesystem path ("/run/...") or an
 * abstract address ("@name"). Returns 0 when NOTIFY_SOCKET is unset or empty (not under
 * systemd: nothing to do) or when the whole datagram was sent; -1 with errno set
 * otherwise: EINVAL for an empty state, EAFNOSUPPORT for an address that is neither
 * "/..." nor "@...", ENAMETOOLONG for one longer than sun_path, and whatever socket()
 * or sendto() reported (ECONNREFUSED, ENOENT, EAGAIN...). Never changes the environment. */
int sdnotify_send(const char *state);

/* The watchdog interval systemd asks for, in microseconds: $WATCHDOG_USEC when it is a
 * positive decimal number and $WATCHDOG_PID is unset or equals getpid(); 0 otherwise
 * (no watchdog, or it is meant for another process). Send "WATCHDOG=1" at least every
 * half of it. */
long long sdnotify_watchdog_usec(void);

#endif /* SPOOL_UTIL_SDNOTIFY_H */

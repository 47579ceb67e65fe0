/* sdnotify.h - systemd's readiness and watchdog protocol (sd_notify), without libsystemd.
 *
 * (A local stand-in with the API the packaging branch provides; that branch's version
 * replaces this file when the two are merged.)
 */
#ifndef SPOOL_UTIL_SDNOTIFY_H
#define SPOOL_UTIL_SDNOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", "RELOADING=1", "WATCHDOG=1", "STATUS=...") to
 * $NOTIFY_SOCKET. Returns 0 when NOTIFY_SOCKET is unset or the message was sent, -1 on
 * error. */
int sdnotify_send(const char *state);

/* $WATCHDOG_USEC when it is meant for this process ($WATCHDOG_PID unset or ours), else 0. */
long long sdnotify_watchdog_usec(void);

#endif /* SPOOL_UTIL_SDNOTIFY_H */

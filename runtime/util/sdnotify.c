/* sdnotify.c - systemd's notify protocol over an AF_UNIX datagram socket.
 *
 * One socket per message, as sd_notify() does: notifications are rare (start, reload,
 * stop, a watchdog ping every few seconds), and a socket kept open would have to be
 * guarded against fork and threads for no gain. The datagram carries the sender's
 * credentials implicitly (systemd turns on SO_PASSCRED), which is how systemd checks
 * NotifyAccess=main: the message must come from the main PID, which every thread of
 * the worker shares.
 *
 * Address rules, as systemd's own sockaddr_un_set_path(): "/path" is a filesystem
 * socket whose length counts the terminating NUL; "@name" is Linux's abstract
 * namespace, '@' becoming the leading NUL byte and the length counting no terminator.
 */
#include "util/sdnotify.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fills *sa from a NOTIFY_SOCKET value. Returns its length, or -1 with errno set. */
static int sdnotify_address(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n = strlen(path);

    if (path[0] != '/' && path[0] != '@') {
        errno = EAFNOSUPPORT;
        return -1;
    }
    if (n > sizeof sa->sun_path || (path[0] == '/' && n == sizeof sa->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@') {
        sa->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int sdnotify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t salen;
    size_t len;
    ssize_t sent;
    int fd, saved;

    if (path == NULL || path[0] == '\0')
        return 0;
    if (state == NULL || state[0] == '\0') {
        errno = EINVAL;
        return -1;
    }
    if (sdnotify_address(path, &sa, &salen) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    len = strlen(state);
    do
        sent = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
    while (sent < 0 && errno == EINTR);
    saved = errno;
    close(fd);
    if (sent < 0) {
        errno = saved;
        return -1;
    }
    if ((size_t)sent != len) { /* a datagram goes whole or not at all; be sure */
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* Parses a positive decimal number without sign, spaces or trailing text; 0 if not. */
static long long sdnotify_parse_positive(const char *s)
{
    char *end;
    long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0)
        return 0;
    return v;
}

long long sdnotify_watchdog_usec(void)
{
    const char *pid = getenv("WATCHDOG_PID");
    int saved = errno;
    long long usec;

    if (pid != NULL && sdnotify_parse_positive(pid) != (long long)getpid()) {
        errno = saved;
        return 0;
    }
    usec = sdnotify_parse_positive(getenv("WATCHDOG_USEC"));
    errno = saved;
    return usec;
}

/* sd_listen.c - a stand-in for systemd's side of Type=notify, for tests.
 *
 *   sd_listen SOCKET WATCHDOG_USEC COMMAND [ARG...]
 *
 * Binds an AF_UNIX datagram socket at SOCKET (with SO_PASSCRED, as systemd does), runs
 * COMMAND with NOTIFY_SOCKET=SOCKET, and, when WATCHDOG_USEC is not 0, WATCHDOG_USEC and
 * WATCHDOG_PID set to the command's pid. Every assignment the command sends is printed
 * on its own line of standard output as it arrives, prefixed "main: " when it came from
 * the command's pid and "other PID: " when not (systemd's NotifyAccess=main would drop
 * it). Exits with the command's exit status (128+N when killed by signal N) once it
 * has ended and every datagram has been read. Signals SIGHUP and SIGTERM sent to
 * sd_listen are passed on to the command, like `systemctl reload` and `stop`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

static int bind_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int one = 1;
    int fd;

    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "sd_listen: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "sd_listen: cannot bind %s: %s\n", path, strerror(errno));
        return -1;
    }
    return fd;
}

/* Reads one datagram and prints its lines; returns 0, or -1 when none was waiting. */
static int drain_one(int fd, pid_t main_pid)
{
    char buf[4097];
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = &control, .msg_controllen = sizeof control};
    struct cmsghdr *c;
    pid_t from = -1;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

    if (n < 0)
        return -1;
    buf[n] = '\0';
    for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            from = cred.pid;
        }
    }
    for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (from == main_pid)
            printf("main: %s\n", line);
        else
            printf("other %ld: %s\n", (long)from, line);
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = forward};
    int status = 0, fd;
    pid_t pid;

    if (argc < 4) {
        fprintf(stderr, "usage: sd_listen SOCKET WATCHDOG_USEC COMMAND [ARG...]\n");
        return 2;
    }
    fd = bind_socket(argv[1]);
    if (fd < 0)
        return 1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pid = fork();
    if (pid < 0) {
        perror("sd_listen: fork");
        return 1;
    }
    if (pid == 0) {
        char self[32];
        setenv("NOTIFY_SOCKET", argv[1], 1);
        if (strcmp(argv[2], "0") != 0) {
            snprintf(self, sizeof self, "%ld", (long)getpid());
            setenv("WATCHDOG_USEC", argv[2], 1);
            setenv("WATCHDOG_PID", self, 1);
        }
        signal(SIGHUP, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[3], argv + 3);
        fprintf(stderr, "sd_listen: cannot run %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        pid_t w;
        if (poll(&p, 1, 100) > 0)
            drain_one(fd, pid);
        w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            perror("sd_listen: waitpid");
            return 1;
        }
    }
    while (drain_one(fd, pid) == 0)
        ;
    unlink(argv[1]);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* test_sdnotify.c - sdnotify_send() into a real AF_UNIX datagram socket, the way
 * systemd's manager receives it (SO_PASSCRED on, credentials checked), and
 * sdnotify_watchdog_usec() against every shape of WATCHDOG_USEC / WATCHDOG_PID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "unit/test_log_helpers.h"
#include "util/sdnotify.h"

typedef struct listener {
    char *dir;  /* temp dir holding the socket (filesystem case) */
    char *addr; /* what goes into NOTIFY_SOCKET */
    int fd;
} listener;

/* Binds a datagram socket at addr ("/path" or "@name") with SO_PASSCRED, as systemd. */
static int bind_notify(const char *addr)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(addr);
    socklen_t len;
    int one = 1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(n < sizeof sa.sun_path);
    memcpy(sa.sun_path, addr, n);
    if (addr[0] == '@') {
        sa.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
    if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
        fprintf(stderr, "bind %s: %s\n", addr, strerror(errno));
        fail();
    }
    return fd;
}

/* Receives one datagram (waiting up to 10 s for it) into buf and checks that the
 * kernel-attached credentials name this process, as NotifyAccess=main requires. */
static void receive(int fd, char *buf, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = cap - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = &control, .msg_controllen = sizeof control};
    struct cmsghdr *c;
    struct ucred cred;
    ssize_t n;

    assert_int_equal(poll(&p, 1, 10000), 1);
    n = recvmsg(fd, &msg, MSG_DONTWAIT);
    assert_true(n >= 0);
    assert_false(msg.msg_flags & MSG_TRUNC);
    buf[n] = '\0';
    c = CMSG_FIRSTHDR(&msg);
    assert_non_null(c);
    assert_int_equal(c->cmsg_level, SOL_SOCKET);
    assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
    memcpy(&cred, CMSG_DATA(c), sizeof cred);
    assert_int_equal(cred.pid, getpid());
}

/* Nothing more is waiting on fd. */
static void assert_empty(int fd)
{
    char b[8];
    assert_int_equal(recv(fd, b, sizeof b, MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static listener listen_path(void)
{
    listener l = {.dir = test_tmpdir()};
    assert_true(asprintf(&l.addr, "%s/notify", l.dir) > 0);
    l.fd = bind_notify(l.addr);
    return l;
}

static void listener_close(listener *l)
{
    close(l->fd);
    test_rmdir(l->dir); /* frees it */
    free(l->addr);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_unset_is_a_no_op(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sdnotify_send("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_path_socket(void **state)
{
    (void)state;
    listener l = listen_path();
    static const char *const states[] = {
        "READY=1", "STATUS=running 3 connectors", "RELOADING=1\nMONOTONIC_USEC=12345",
        "WATCHDOG=1", "STOPPING=1",
    };
    char buf[512];

    setenv("NOTIFY_SOCKET", l.addr, 1);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        assert_int_equal(sdnotify_send(states[i]), 0);
        receive(l.fd, buf, sizeof buf);
        assert_string_equal(buf, states[i]);
    }
    assert_empty(l.fd);
    /* The environment stays: a later message still goes out. */
    assert_non_null(getenv("NOTIFY_SOCKET"));
    listener_close(&l);
}

static void test_sdnotify_abstract_socket(void **state)
{
    (void)state;
    test_rng rng = {test_seed("test_sdnotify_abstract_socket")};
    listener l = {0};
    char buf[64];

    assert_true(asprintf(&l.addr, "@spool-test-%ld-%016llx", (long)getpid(),
                         (unsigned long long)test_rand(&rng)) > 0);
    l.fd = bind_notify(l.addr);
    setenv("NOTIFY_SOCKET", l.addr, 1);
    assert_int_equal(sdnotify_send("READY=1"), 0);
    receive(l.fd, buf, sizeof buf);
    assert_string_equal(buf, "READY=1");
    assert_empty(l.fd);
    listener_close(&l);
}

static void test_sdnotify_errors(void **state)
{
    (void)state;
    listener l = listen_path();
    char *gone = NULL;
    char longpath[200];

    setenv("NOTIFY_SOCKET", l.addr, 1);
    errno = 0;
    assert_int_equal(sdnotify_send(""), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(sdnotify_send(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_empty(l.fd);

    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    assert_int_equal(sdnotify_send("READY=1"), -1);
    assert_int_equal(errno, EAFNOSUPPORT);

    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    assert_int_equal(sdnotify_send("READY=1"), -1);
    assert_int_equal(errno, ENAMETOOLONG);

    /* Nobody listening: the error reaches the caller. */
    assert_true(asprintf(&gone, "%s/nobody", l.dir) > 0);
    setenv("NOTIFY_SOCKET", gone, 1);
    assert_int_equal(sdnotify_send("READY=1"), -1);
    assert_int_equal(errno, ENOENT);
    free(gone);
    listener_close(&l);
}

static void test_sdnotify_watchdog(void **state)
{
    (void)state;
    char pid[32];

    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(sdnotify_watchdog_usec(), 0);

    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 30000000);

    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sdnotify_watchdog_usec(), 30000000);

    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    setenv("WATCHDOG_PID", "", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_PID");

    static const char *const bad[] = {"0", "-5", "abc", "", "12s", " 5", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        if (sdnotify_watchdog_usec() != 0) {
            fprintf(stderr, "WATCHDOG_USEC=\"%s\" was accepted\n", bad[i]);
            fail();
        }
    }
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdnotify_unset_is_a_no_op),
        cmocka_unit_test(test_sdnotify_path_socket),
        cmocka_unit_test(test_sdnotify_abstract_socket),
        cmocka_unit_test(test_sdnotify_errors),
        cmocka_unit_test(test_sdnotify_watchdog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: the example servers (examples/echo_server, examples/http_server)
 * as their users see them: each runs as a child process on 127.0.0.1:0, its
 * port read from its "listening on" line, and is driven over loopback by
 * plain blocking sockets (not ringo: the client stays neutral). Echo: several
 * concurrent clients' round trips come back intact. HTTP: three pipelined
 * keep-alive requests in one write get three replies in order and the
 * connection stays usable; HTTP/1.0 is answered and closed; a malformed
 * request gets 400, oversize headers 431, an oversize body 413, each
 * followed by a close; a client dribbling its headers a byte per 100 ms is
 * closed at its header deadline while another client is served; an idle
 * keep-alive connection is closed at the idle timeout. Both: SIGTERM with a
 * client connected ends the server with exit status 0, and the client sees
 * its connection closed.
 *
 * The meson test (examples/meson.build) passes the servers' paths in
 * ECHO_SERVER and HTTP_SERVER; HTTP_SERVER is absent when llhttp was not
 * found, and those tests are skipped. Exit 77 when io_uring is unavailable.
 * Under Valgrind the servers run under memcheck too, and every bound
 * stretches. Each socket has a receive/send timeout, so a server that stops
 * answering fails the test instead of hanging it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* ---- plumbing ------------------------------------------------------------------------- */

static int slack(void)
{
    return RUNNING_ON_VALGRIND ? 20 : 1;
}

static long iters(long base)
{
    const char *s = getenv("RINGO_TEST_ITERS");
    long pct = s ? strtol(s, NULL, 10) : 100;
    if (pct <= 0)
        pct = 100;
    long n = base * pct / 100;
    return n > 0 ? n : 1;
}

/* The servers' own deadlines in the HTTP tests: short, so the tests that
 * wait for them are quick, yet long enough for a request under memcheck. */
static int server_timeout_ms(void)
{
    return RUNNING_ON_VALGRIND ? 4000 : 1000;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct child {
    pid_t pid;
    int port;
};

/* Starts path on 127.0.0.1:0 with env (NAME=VALUE strings, NULL-ended)
 * added, and reads its port from its first line. */
static void start_server(struct child *ch, const char *path, const char *const *env)
{
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        if (getenv("RINGO_WORKERS") == NULL)
            setenv("RINGO_WORKERS", "2", 1);
        for (; env && *env; env++)
            putenv((char *)*env);
        if (RUNNING_ON_VALGRIND) {
            /* The suite's memcheck flags, for the server as well. */
            execlp("valgrind", "valgrind", "--quiet", "--error-exitcode=9",
                   "--leak-check=full", "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect", "--fair-sched=yes",
                   path, "127.0.0.1:0", (char *)NULL);
        } else {
            execl(path, path, "127.0.0.1:0", (char *)NULL);
        }
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    char line[256];
    size_t len = 0;
    int64_t deadline = now_ms() + 30000 * slack();
    while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        int left = (int)(deadline - now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1)
            fail_msg("%s: no 'listening on' line", path);
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            fail_msg("%s: ended before listening", path);
        len += (size_t)n;
    }
    close(out[0]);
    line[len] = '\0';
    unsigned port = 0;
    if (sscanf(line, "listening on 127.0.0.1:%u", &port) != 1 || port == 0 || port > 65535)
        fail_msg("%s: unexpected first line '%s'", path, line);
    ch->pid = pid;
    ch->port = (int)port;
}

/* Sends sig and waits for the exit; returns the wait status. */
static int stop_server(struct child *ch, int sig)
{
    assert_int_equal(kill(ch->pid, sig), 0);
    int64_t deadline = now_ms() + 30000 * slack();
    for (;;) {
        int status;
        pid_t r = waitpid(ch->pid, &status, WNOHANG);
        if (r == ch->pid) {
            ch->pid = 0;
            return status;
        }
        if (now_ms() > deadline) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &status, 0);
            ch->pid = 0;
            fail_msg("server still running %d s after signal %d", 30 * slack(), sig);
        }
        usleep(10000);
    }
}

static void kill_server(struct child *ch)
{
    if (ch->pid > 0) {
        kill(ch->pid, SIGKILL);
        waitpid(ch->pid, NULL, 0);
        ch->pid = 0;
    }
}

/* A connected socket, or -1 with errno set. Safe from any thread. */
static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 10 * slack()};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* try_connect for the test's main thread: fails the test instead. */
static int connect_to(int port)
{
    int fd = try_connect(port);
    if (fd < 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    return fd;
}

static bool send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool recv_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads until the peer closes (or cap bytes); returns the bytes read, or
 * -1 if the socket timed out first. A reset after the data counts as a
 * close. */
static ssize_t recv_until_close(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n < 0)
            return -1;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* True when the connection is closed: EOF or reset within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) != 1)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- echo ----------------------------------------------------------------------------- */

static struct child echo_srv;

static int echo_setup(void **state)
{
    (void)state;
    const char *path = getenv("ECHO_SERVER");
    if (path == NULL) {
        fprintf(stderr, "ECHO_SERVER not set: run through meson test\n");
        return -1;
    }
    start_server(&echo_srv, path, NULL);
    return 0;
}

static int echo_teardown(void **state)
{
    (void)state;
    kill_server(&echo_srv);
    return 0;
}

struct echo_client {
    int id;
    long rounds;
    bool ok;
    char why[128];
};

/* Round trips of varying sizes (1 byte to 8 KiB), each with its own
 * contents, compared byte for byte. */
static void *echo_client_main(void *arg)
{
    struct echo_client *cl = arg;
    char *o = malloc(8192), *i = malloc(8192);
    int fd = try_connect(echo_srv.port);
    cl->ok = fd >= 0 && o != NULL && i != NULL;
    if (!cl->ok)
        snprintf(cl->why, sizeof cl->why, "client %d: connect: %s", cl->id, strerror(errno));
    for (long r = 0; r < cl->rounds && cl->ok; r++) {
        size_t len = 1 + (size_t)((r * 977 + cl->id * 131) % 8192);
        for (size_t k = 0; k < len; k++)
            o[k] = (char)(k * 7 + r + cl->id);
        if (!send_all(fd, o, len) || !recv_all(fd, i, len)) {
            snprintf(cl->why, sizeof cl->why, "client %d round %ld: %s", cl->id, r,
                     strerror(errno));
            cl->ok = false;
        } else if (memcmp(o, i, len) != 0) {
            snprintf(cl->why, sizeof cl->why, "client %d round %ld: bytes differ", cl->id, r);
            cl->ok = false;
        }
    }
    if (fd >= 0)
        close(fd);
    free(o);
    free(i);
    return NULL;
}

static void echo_concurrent_clients_round_trips(void **state)
{
    (void)state;
    enum { CLIENTS = 8 };
    struct echo_client cl[CLIENTS];
    pthread_t th[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
        cl[k] = (struct echo_client){.id = k, .rounds = iters(200)};
        assert_int_equal(pthread_create(&th[k], NULL, echo_client_main, &cl[k]), 0);
    }
    for (int k = 0; k < CLIENTS; k++) {
        pthread_join(th[k], NULL);
        if (!cl[k].ok)
            fail_msg("%s", cl[k].why);
    }
}

static void echo_sigterm_with_client_connected_exits_zero(void **state)
{
    (void)state;
    int fd = connect_to(echo_srv.port);
    char buf[5];
    assert_true(send_all(fd, "hello", 5));
    assert_true(recv_all(fd, buf, 5));       /* its fiber is serving it */
    assert_memory_equal(buf, "hello", 5);
    int status = stop_server(&echo_srv, SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(closed_within(fd, 1000));
    close(fd);
}

/* ---- HTTP ----------------------------------------------------------------------------- */

static struct child http_srv;
static char header_env[64], idle_env[64];

static int http_setup(void **state)
{
    (void)state;
    const char *path = getenv("HTTP_SERVER");
    if (path == NULL)
        return 0;               /* each test skips */
    snprintf(header_env, sizeof header_env, "HTTP_HEADER_TIMEOUT_MS=%d", server_timeout_ms());
    snprintf(idle_env, sizeof idle_env, "HTTP_IDLE_TIMEOUT_MS=%d", server_timeout_ms());
    const char *env[] = {header_env, idle_env, NULL};
    start_server(&http_srv, path, env);
    return 0;
}

static int http_teardown(void **state)
{
    (void)state;
    kill_server(&http_srv);
    return 0;
}

static void need_http(void)
{
    if (http_srv.pid <= 0) {
        fprintf(stderr, "HTTP_SERVER not set (llhttp not found at build time): skipped\n");
        skip();
    }
}

/* Reads one reply (headers, then Content-Length bytes unless HEAD) into
 * buf; returns its length. */
static size_t recv_reply(int fd, char *buf, size_t cap, bool head)
{
    size_t len = 0;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strstr(buf, "Content-Length: ");
            size_t body = (cl != NULL && cl < end && !head) ? strtoul(cl + 16, NULL, 10) : 0;
            size_t want = (size_t)(end + 4 - buf) + body;
            if (len >= want) {
                assert_int_equal(len, want);        /* no byte of a later reply */
                return len;
            }
        }
        /* One byte at a time: replies are short, and the next reply's
         * bytes must stay in the socket. */
        assert_true(len < cap - 1);
        ssize_t n = recv(fd, buf + len, 1, 0);
        if (n <= 0)
            fail_msg("reply cut short after %zu bytes: '%s'", len, buf);
        len += (size_t)n;
    }
}

static void http_pipelined_requests_get_replies_in_order(void **state)
{
    (void)state;
    need_http();
    int fd = connect_to(http_srv.port);
    const char three[] = "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                         "HEAD /2 HTTP/1.1\r\nHost: t\r\n\r\n"
                         "POST /3 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    assert_true(send_all(fd, three, sizeof three - 1));
    char buf[1024];
    for (int k = 0; k < 3; k++) {
        recv_reply(fd, buf, sizeof buf, k == 1);
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(buf, "Content-Type: text/plain\r\n"));
        assert_non_null(strstr(buf, "Content-Length: 13\r\n"));
        assert_non_null(strstr(buf, "\r\nDate: "));
        assert_null(strstr(buf, "Connection: close"));
        assert_int_equal(count(buf, "Hello, World!"), k == 1 ? 0 : 1);
    }
    /* Still open: a fourth request, which asks to close. */
    const char last[] = "GET /4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_true(send_all(fd, last, sizeof last - 1));
    ssize_t n = recv_until_close(fd, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(count(buf, "HTTP/1.1 200 OK\r\n"), 1);
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    assert_non_null(strstr(buf, "\r\n\r\nHello, World!"));
    close(fd);
}

static void http_1_0_answered_then_closed(void **state)
{
    (void)state;
    need_http();
    char buf[1024];
    int fd = connect_to(http_srv.port);
    const char ka[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert_true(send_all(fd, ka, sizeof ka - 1));
    recv_reply(fd, buf, sizeof buf, false);
    assert_non_null(strstr(buf, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(buf, "Connection: keep-alive\r\n"));
    const char plain[] = "GET / HTTP/1.0\r\n\r\n";
    assert_true(send_all(fd, plain, sizeof plain - 1));
    ssize_t n = recv_until_close(fd, buf, sizeof buf);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(buf, "\r\n\r\nHello, World!"));
    close(fd);
}

/* Sends req, expects a reply with the given status line followed by a close. */
static void expect_error_then_close(const char *req, size_t len, const char *status)
{
    int fd = connect_to(http_srv.port);
    assert_true(send_all(fd, req, len));
    static char buf[4096];
    ssize_t n = recv_until_close(fd, buf, sizeof buf);
    if (n <= 0)
        fail_msg("expected '%s', got %s", status, n == 0 ? "a close" : "a timeout");
    if (strncmp(buf, status, strlen(status)) != 0)
        fail_msg("expected '%s', got '%.60s'", status, buf);
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    close(fd);
}

static void http_malformed_request_gets_400_then_close(void **state)
{
    (void)state;
    need_http();
    const char bad[] = "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n";
    expect_error_then_close(bad, sizeof bad - 1, "HTTP/1.1 400 Bad Request\r\n");
    const char junk[] = "\x01\x02\x03 nonsense\r\n\r\n";
    expect_error_then_close(junk, sizeof junk - 1, "HTTP/1.1 400 Bad Request\r\n");
}

static void http_oversize_headers_get_431_then_close(void **state)
{
    (void)state;
    need_http();
    static char req[16384];
    int len = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + len, 'a', 10000);
    len += 10000;
    len += snprintf(req + len, sizeof req - (size_t)len, "\r\n\r\n");
    expect_error_then_close(req, (size_t)len,
                            "HTTP/1.1 431 Request Header Fields Too Large\r\n");
}

static void http_oversize_body_gets_413_then_close(void **state)
{
    (void)state;
    need_http();
    const char big[] = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\nabc";
    expect_error_then_close(big, sizeof big - 1, "HTTP/1.1 413 Content Too Large\r\n");
}

/* The slow client's deadline is HTTP_HEADER_TIMEOUT_MS (1 s, or 4 s under
 * Valgrind); its headers would take 60 s at a byte per 100 ms. */
static void http_slow_headers_closed_at_deadline_while_others_served(void **state)
{
    (void)state;
    need_http();
    static char req[700];
    int len = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    memset(req + len, 's', 600);
    len += 600;
    len += snprintf(req + len, sizeof req - (size_t)len, "\r\n\r\n");

    int slow = connect_to(http_srv.port);
    assert_true(send_all(slow, req, 1));

    /* Meanwhile another client is served, twice on one connection. */
    int fast = connect_to(http_srv.port);
    char buf[1024];
    for (int k = 0; k < 2; k++) {
        const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_true(send_all(fast, get, sizeof get - 1));
        recv_reply(fast, buf, sizeof buf, false);
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    }
    close(fast);

    bool closed = false;
    for (int i = 1; i < len && !closed; i++) {
        if (closed_within(slow, 100)) {
            closed = true;
            break;
        }
        if (!send_all(slow, req + i, 1))
            closed = true;              /* reset by the server's close */
    }
    if (!closed)
        fail_msg("a client sending headers for 60 s was not closed at a %d ms deadline",
                 server_timeout_ms());
    close(slow);
}

static void http_idle_keepalive_closed_at_idle_timeout(void **state)
{
    (void)state;
    need_http();
    int fd = connect_to(http_srv.port);
    const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    char buf[1024];
    assert_true(send_all(fd, get, sizeof get - 1));
    recv_reply(fd, buf, sizeof buf, false);
    /* HTTP_IDLE_TIMEOUT_MS is 1 s (4 s under Valgrind). */
    if (!closed_within(fd, 10 * server_timeout_ms() * slack()))
        fail_msg("an idle keep-alive connection was still open long after its idle timeout");
    close(fd);
}

static void http_sigterm_with_client_connected_exits_zero(void **state)
{
    (void)state;
    need_http();
    int fd = connect_to(http_srv.port);
    const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    char buf[1024];
    assert_true(send_all(fd, get, sizeof get - 1));
    recv_reply(fd, buf, sizeof buf, false);
    int status = stop_server(&http_srv, SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(closed_within(fd, 1000));
    close(fd);
}

/* ---- main ----------------------------------------------------------------------------- */

static bool io_uring_available(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int main(void)
{
    if (getenv("ECHO_SERVER") == NULL) {
        fprintf(stderr, "ECHO_SERVER not set: run through meson test\n");
        return 77;
    }
    if (!io_uring_available()) {
        fprintf(stderr, "io_uring is unavailable here (%s): the servers cannot run\n",
                strerror(errno));
        return 77;
    }
    const struct CMUnitTest echo_tests[] = {
        cmocka_unit_test(echo_concurrent_clients_round_trips),
        cmocka_unit_test(echo_sigterm_with_client_connected_exits_zero),
    };
    const struct CMUnitTest http_tests[] = {
        cmocka_unit_test(http_pipelined_requests_get_replies_in_order),
        cmocka_unit_test(http_1_0_answered_then_closed),
        cmocka_unit_test(http_malformed_request_gets_400_then_close),
        cmocka_unit_test(http_oversize_headers_get_431_then_close),
        cmocka_unit_test(http_oversize_body_gets_413_then_close),
        cmocka_unit_test(http_slow_headers_closed_at_deadline_while_others_served),
        cmocka_unit_test(http_idle_keepalive_closed_at_idle_timeout),
        cmocka_unit_test(http_sigterm_with_client_connected_exits_zero),
    };
    int failed = cmocka_run_group_tests_name("echo_server", echo_tests, echo_setup, echo_teardown);
    failed += cmocka_run_group_tests_name("http_server", http_tests, http_setup, http_teardown);
    return failed;
}

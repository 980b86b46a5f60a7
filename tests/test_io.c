/* Description: the io layer (ringo/io.h): files and sockets for fibers.
 * An echo server answers 100 concurrent clients x 200 round trips; a read
 * under a 30 ms context deadline returns -ETIMEDOUT and the connection
 * stays usable with no byte lost; a read cancelled in flight from another
 * fiber returns -ECANCELED, and a context already ended fails a call at
 * once without consuming anything; select over RINGO_READABLE, a channel and
 * RINGO_TIMEOUT lets each arm win in turn; a 1 MiB file written with
 * ringo_write, fsynced, read back with ringo_pread, patched with
 * ringo_pwrite; ringo_write on a pipe (an fd the registry does not know);
 * -ENOENT, -ECONNREFUSED, -EINVAL for malformed addresses, networks and
 * ports; half-close; ringo_close while a read or an accept is pending wakes
 * it with -EBADF, and the fd number's next owner loses nothing; a write to a
 * peer that reset gets -EPIPE or -ECONNRESET and no SIGPIPE; tcp6 on [::1];
 * unix sockets by path (a stale socket file replaced, a live one refused)
 * and in the abstract namespace; SO_REUSEPORT listeners; ringo_local_port;
 * ringo_poll; a non-blocking fd waited out; ringo_blocking runs many calls
 * at once off the workers while they keep running fibers, queues beyond
 * RINGO_BLOCKING_THREADS, runs inline on plain threads, and idle pool
 * threads do not hide a deadlock; a run that ends with fibers blocked in a
 * read under a context and in the pool (running and queued) leaves no link
 * into their stacks and waits for the pool; the calls from plain threads; dial by
 * name ("localhost"); accept backs off at the fd limit, and ctx or closing
 * the listener ends the wait; a fork child of a running runtime gets -ECHILD.
 */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------------------------ */

static int listen_local(int *port)
{
    int l = ringo_listen("tcp", "127.0.0.1:0");
    assert_true(l >= 0);
    *port = ringo_local_port(l);
    assert_true(*port > 0);
    return l;
}

static void addr_of(char *buf, size_t n, int port)
{
    snprintf(buf, n, "127.0.0.1:%d", port);
}

/* A connected tcp pair: a accepted, b dialed. */
static void tcp_pair(int *a, int *b)
{
    int port;
    int l = listen_local(&port);
    char addr[64];
    addr_of(addr, sizeof(addr), port);
    *b = ringo_dial(NULL, "tcp", addr);
    assert_true(*b >= 0);
    *a = ringo_accept(NULL, l, NULL);
    assert_true(*a >= 0);
    assert_int_equal(ringo_close(l), 0);
}

/* Reads exactly n bytes (a fiber other than main: CHECKs). */
static bool read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = ringo_read(NULL, fd, (char *)buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static int64_t since_ms(int64_t t0)
{
    return (ringo_now() - t0) / RINGO_MILLISECOND;
}

/* ---- echo ------------------------------------------------------------------------------------ */

#define MSG 64

struct echo {
    int port;
    long rounds;
    ringo_waitgroup_t wg;               /* clients */
    ringo_waitgroup_t handlers;
    ringo_chan_t *accept_done;
    int lfd;
};

static struct echo echo_state;

static void echo_handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[512];
    for (;;) {
        ssize_t r = ringo_read(NULL, fd, buf, sizeof(buf));
        if (r <= 0) {
            CHECK(r == 0);
            break;
        }
        CHECK(ringo_write(NULL, fd, buf, (size_t)r) == r);
    }
    ringo_close(fd);
    ringo_waitgroup_done(&echo_state.handlers);
}

static void echo_acceptor(void *arg)
{
    struct echo *e = arg;
    for (;;) {
        int fd = ringo_accept(NULL, e->lfd, NULL);
        if (fd < 0) {
            CHECK(fd == -EBADF);        /* the listener was closed */
            break;
        }
        ringo_waitgroup_add(&e->handlers, 1);
        CHECK(ringo_go(echo_handler, (void *)(intptr_t)fd) == 0);
    }
    signal_done(e->accept_done);
}

static void echo_client(void *arg)
{
    struct echo *e = arg;
    char addr[64], out[MSG], in[MSG];
    addr_of(addr, sizeof(addr), e->port);
    int fd = ringo_dial(NULL, "tcp", addr);
    CHECK(fd >= 0);
    if (fd >= 0) {
        for (long r = 0; r < e->rounds; r++) {
            for (int i = 0; i < MSG; i++)
                out[i] = (char)(r * 31 + i + fd);
            if (ringo_write(NULL, fd, out, MSG) != MSG || !read_full(fd, in, MSG)) {
                CHECK(!"echo round trip failed");
                break;
            }
            CHECK(memcmp(in, out, MSG) == 0);
        }
        CHECK(ringo_close(fd) == 0);
    }
    ringo_waitgroup_done(&e->wg);
}

static void echo_main(void *arg)
{
    (void)arg;
    struct echo *ep = &echo_state;
    memset(ep, 0, sizeof(*ep));
#define e (*ep)
    long clients = ringo__on_valgrind() ? 10 : 100;
    e.rounds = iters(200);
    e.lfd = listen_local(&e.port);
    e.accept_done = ringo_chan_make(sizeof(int), 1);
    assert_int_equal(ringo_go(echo_acceptor, &e), 0);
    ringo_waitgroup_add(&e.wg, (int)clients);
    for (long i = 0; i < clients; i++)
        assert_int_equal(ringo_go(echo_client, &e), 0);
    ringo_waitgroup_wait(&e.wg);
    /* Closing the listener wakes the acceptor with -EBADF. */
    assert_int_equal(ringo_close(e.lfd), 0);
    await_done(e.accept_done, 1);
    ringo_waitgroup_wait(&e.handlers);     /* each saw its client's end */
    ringo_chan_unref(e.accept_done);
#undef e
}

static void test_echo_many_clients(void **state)
{
    (void)state;
    run_checked(2, echo_main, NULL);
}

/* ---- deadlines and cancels ---------------------------------------------------------------------- */

static void deadline_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[16];
    int64_t t0 = ringo_now();
    ringo_ctx_t *ctx = ringo_with_timeout(NULL, 30 * RINGO_MILLISECOND);
    ssize_t r = ringo_read(ctx, a, buf, sizeof(buf));
    int64_t ms = since_ms(t0);
    assert_int_equal(r, -ETIMEDOUT);
    assert_true(ms >= 30);
    assert_true(ms < 2000 * time_slack());
    /* The ctx stays done: the next call fails at once. */
    assert_int_equal(ringo_read(ctx, a, buf, sizeof(buf)), -ETIMEDOUT);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    /* The connection is still usable and nothing was lost. */
    assert_int_equal(ringo_write(NULL, b, "hello", 5), 5);
    assert_int_equal(ringo_read(NULL, a, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(ringo_write(NULL, a, "back", 4), 4);
    assert_int_equal(ringo_read(NULL, b, buf, sizeof(buf)), 4);
    ringo_close(a);
    ringo_close(b);
}

static void test_read_deadline(void **state)
{
    (void)state;
    run_checked(2, deadline_main, NULL);
}

struct canceled_read {
    int fd;
    ringo_ctx_t *ctx;
    ringo_chan_t *who, *done;
    _Atomic ssize_t res;
};

static void canceled_reader(void *arg)
{
    struct canceled_read *c = arg;
    char buf[16];
    report_self(c->who);
    atomic_store(&c->res, ringo_read(c->ctx, c->fd, buf, sizeof(buf)));
    signal_done(c->done);
}

static void cancel_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct canceled_read c = {.fd = a, .ctx = ringo_with_cancel(NULL)};
    c.who = ringo_chan_make(sizeof(ringo__fiber_t *), 1);
    c.done = ringo_chan_make(sizeof(int), 1);
    assert_int_equal(ringo_go(canceled_reader, &c), 0);
    wait_parked(await_report(c.who));
    ringo_cancel(c.ctx);
    await_done(c.done, 1);
    assert_int_equal(atomic_load(&c.res), -ECANCELED);
    /* Nothing was lost: data sent after the cancel arrives whole. */
    char buf[8];
    assert_int_equal(ringo_write(NULL, b, "abc", 3), 3);
    assert_int_equal(ringo_read(NULL, a, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "abc", 3);
    ringo_ctx_unref(c.ctx);
    ringo_chan_unref(c.who);
    ringo_chan_unref(c.done);
    ringo_close(a);
    ringo_close(b);
}

static void test_cancel_read_in_flight(void **state)
{
    (void)state;
    run_checked(2, cancel_main, NULL);
}

static void ended_ctx_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[8];
    assert_int_equal(ringo_write(NULL, b, "xyz", 3), 3);
    ringo_ctx_t *cancelled = ringo_with_cancel(NULL);
    ringo_cancel(cancelled);
    ringo_ctx_t *expired = ringo_with_deadline(NULL, ringo_now() - RINGO_SECOND);
    /* Nothing is attempted: the bytes stay for the next read. */
    assert_int_equal(ringo_read(cancelled, a, buf, sizeof(buf)), -ECANCELED);
    assert_int_equal(ringo_read(expired, a, buf, sizeof(buf)), -ETIMEDOUT);
    assert_int_equal(ringo_write(cancelled, b, "q", 1), -ECANCELED);
    assert_int_equal(ringo_accept(cancelled, a, NULL), -ECANCELED);
    assert_int_equal(ringo_dial(expired, "tcp", "127.0.0.1:1"), -ETIMEDOUT);
    assert_int_equal(ringo_poll(cancelled, a, POLLIN), -ECANCELED);
    assert_int_equal(ringo_read(NULL, a, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "xyz", 3);
    ringo_ctx_unref(cancelled);
    ringo_ctx_unref(expired);
    ringo_close(a);
    ringo_close(b);
}

static void test_ctx_ended_before_call(void **state)
{
    (void)state;
    run_checked(2, ended_ctx_main, NULL);
}

/* ---- select over an fd ----------------------------------------------------------------------- */

struct poker {
    int fd;
    ringo_chan_t *ch, *who, *done;
    int what;                   /* 0: write to fd; 1: send on ch */
};

static void poker(void *arg)
{
    struct poker *p = arg;
    wait_parked(await_report(p->who));
    if (p->what == 0) {
        CHECK(ringo_write(NULL, p->fd, "!", 1) == 1);
    } else {
        int v = 7;
        ringo_chan_send(p->ch, &v);
    }
    signal_done(p->done);
}

static void select_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    ringo_chan_t *who = ringo_chan_make(sizeof(ringo__fiber_t *), 1);
    ringo_chan_t *done = ringo_chan_make(sizeof(int), 1);
    for (int round = 0; round < 3; round++) {
        int v = 0;
        ringo_case_t cases[] = {
            RINGO_READABLE(a),
            RINGO_RECV(ch, &v),
            RINGO_TIMEOUT(round == 2 ? 20 * RINGO_MILLISECOND : 60 * RINGO_SECOND),
        };
        struct poker p = {.fd = b, .ch = ch, .who = who, .done = done, .what = round};
        if (round < 2) {
            assert_int_equal(ringo_go_copy(poker, &p, sizeof(p)), 0);
            report_self(who);   /* the poker acts once this select has parked */
        }
        int r = ringo_select(cases, NELEM(cases));
        assert_int_equal(r, round);
        if (round == 0) {
            char c;
            assert_int_equal(ringo_read(NULL, a, &c, 1), 1);
            assert_int_equal(c, '!');
        } else if (round == 1) {
            assert_int_equal(v, 7);
        }
        if (round < 2)
            await_done(done, 1);
    }
    ringo_chan_unref(done);
    ringo_chan_unref(ch);
    ringo_chan_unref(who);
    ringo_close(a);
    ringo_close(b);
}

static void test_select_fd_chan_timeout(void **state)
{
    (void)state;
    run_checked(2, select_main, NULL);
}

/* ---- files --------------------------------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ringo-io-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void files_main(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof(path), "%s/data", tmpdir);
    size_t n = (size_t)1 << 20;
    unsigned char *out = malloc(n), *in = malloc(n);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(i * 7 + (i >> 12));

    int fd = ringo_open(NULL, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(ringo_write(NULL, fd, out, n), (ssize_t)n);
    assert_int_equal(ringo_fsync(NULL, fd), 0);
    size_t got = 0;
    while (got < n) {
        ssize_t r = ringo_pread(NULL, fd, in + got, n - got, (off_t)got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(in, out, n);

    /* pwrite at an offset leaves the file position alone. */
    assert_int_equal(ringo_pwrite(NULL, fd, "XYZ", 3, 1000), 3);
    char three[3];
    assert_int_equal(ringo_pread(NULL, fd, three, 3, 1000), 3);
    assert_memory_equal(three, "XYZ", 3);
    assert_int_equal(ringo_write(NULL, fd, "tail", 4), 4);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, (off_t)n + 4);
    assert_int_equal(ringo_pread(NULL, fd, three, 3, (off_t)n + 1), 3);
    assert_memory_equal(three, "ail", 3);
    assert_int_equal(ringo_pread(NULL, fd, three, 3, -1), -EINVAL);
    assert_int_equal(ringo_close(fd), 0);

    /* Read from the start with ringo_read. */
    fd = ringo_open(NULL, path, O_RDONLY, 0);
    assert_true(fd >= 0);
    assert_int_equal(ringo_read(NULL, fd, three, 3), 3);
    assert_memory_equal(three, out, 3);
    assert_int_equal(ringo_close(fd), 0);
    assert_int_equal(unlink(path), 0);

    /* A pipe: an fd no ringo call made, written with ringo_write. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(ringo_write(NULL, p[1], "pipe", 4), 4);
    assert_int_equal(ringo_write(NULL, p[1], "line", 4), 4);
    char buf[8];
    assert_true(read_full(p[0], buf, 8));
    assert_memory_equal(buf, "pipeline", 8);
    assert_int_equal(ringo_close(p[0]), 0);
    assert_int_equal(ringo_close(p[1]), 0);
    free(out);
    free(in);
}

static void test_files(void **state)
{
    (void)state;
    make_tmpdir();
    run_checked(2, files_main, NULL);
    rmdir(tmpdir);
}

/* ---- errors ------------------------------------------------------------------------------------- */

static void errors_main(void *arg)
{
    (void)arg;
    assert_int_equal(ringo_open(NULL, "/nonexistent/ringo/file", O_RDONLY, 0), -ENOENT);
    assert_int_equal(ringo_open(NULL, NULL, O_RDONLY, 0), -EFAULT);

    /* A port nobody listens on any more. */
    int port;
    int l = listen_local(&port);
    assert_int_equal(ringo_close(l), 0);
    char addr[64];
    addr_of(addr, sizeof(addr), port);
    assert_int_equal(ringo_dial(NULL, "tcp", addr), -ECONNREFUSED);

    static const char *const bad_addrs[] = {
        "1.2.3.4", "host:", ":99999", "[::1", "[::1]", "[::1]:", "::1:80", ":65536", ":-1",
        ":1x", ":+1", ":123456", "", "1.2.3.4:0x10",
    };
    for (size_t i = 0; i < NELEM(bad_addrs); i++) {
        if (ringo_listen("tcp", bad_addrs[i]) != -EINVAL ||
            ringo_dial(NULL, "tcp", bad_addrs[i]) != -EINVAL) {
            fprintf(stderr, "address \"%s\" was not refused\n", bad_addrs[i]);
            fail();
        }
    }
    assert_int_equal(ringo_listen("tcp", NULL), -EINVAL);
    assert_int_equal(ringo_listen("tcp5", "127.0.0.1:0"), -EINVAL);
    assert_int_equal(ringo_dial(NULL, "tcp5", "127.0.0.1:80"), -EINVAL);
    assert_int_equal(ringo_listen(NULL, ":0"), -EINVAL);
    assert_int_equal(ringo_listen("udp", ":0"), -EINVAL);
    /* A host of the wrong family, a name where listen wants a number. */
    assert_int_equal(ringo_listen("tcp6", "127.0.0.1:0"), -EINVAL);
    assert_int_equal(ringo_listen("tcp4", "[::1]:0"), -EINVAL);
    assert_int_equal(ringo_listen("tcp", "example.com:0"), -EINVAL);
    ringo_listen_opts_t neg = {.backlog = -1};
    assert_int_equal(ringo_listen_opts("tcp", "127.0.0.1:0", &neg), -EINVAL);
    /* Unix: empty and overlong paths. */
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(ringo_listen("unix", ""), -EINVAL);
    assert_int_equal(ringo_listen("unix", longpath), -EINVAL);
    assert_int_equal(ringo_dial(NULL, "unix", longpath), -EINVAL);
    /* Bad descriptors. */
    char buf[4];
    assert_int_equal(ringo_read(NULL, -1, buf, sizeof(buf)), -EBADF);
    assert_int_equal(ringo_write(NULL, -1, buf, sizeof(buf)), -EBADF);
    assert_int_equal(ringo_close(-1), -EBADF);
    assert_int_equal(ringo_local_port(-1), -EBADF);
}

static void test_errors(void **state)
{
    (void)state;
    run_checked(2, errors_main, NULL);
}

/* ---- half-close -------------------------------------------------------------------------------- */

static void half_close_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    assert_int_equal(ringo_write(NULL, a, "last", 4), 4);
    assert_int_equal(shutdown(a, SHUT_WR), 0);
    char buf[8];
    assert_true(read_full(b, buf, 4));
    assert_memory_equal(buf, "last", 4);
    assert_int_equal(ringo_read(NULL, b, buf, sizeof(buf)), 0);     /* end of stream */
    /* The other direction still works. */
    assert_int_equal(ringo_write(NULL, b, "reply", 5), 5);
    assert_true(read_full(a, buf, 5));
    assert_memory_equal(buf, "reply", 5);
    ringo_close(a);
    ringo_close(b);
}

static void test_half_close(void **state)
{
    (void)state;
    run_checked(2, half_close_main, NULL);
}

/* ---- close while pending ------------------------------------------------------------------------- */

struct pending_read {
    int fd;
    ringo_chan_t *who, *done;
    _Atomic ssize_t res;
};

static void pending_reader(void *arg)
{
    struct pending_read *p = arg;
    char buf[16];
    report_self(p->who);
    atomic_store(&p->res, ringo_read(NULL, p->fd, buf, sizeof(buf)));
    signal_done(p->done);
}

static void close_pending_main(void *arg)
{
    (void)arg;
    long rounds = iters(20);
    for (long round = 0; round < rounds; round++) {
        int port;
        int l = listen_local(&port);
        char addr[64];
        addr_of(addr, sizeof(addr), port);
        int b = ringo_dial(NULL, "tcp", addr);
        int a = ringo_accept(NULL, l, NULL);
        assert_true(a >= 0 && b >= 0);

        struct pending_read p = {.fd = a};
        p.who = ringo_chan_make(sizeof(ringo__fiber_t *), 1);
        p.done = ringo_chan_make(sizeof(int), 1);
        assert_int_equal(ringo_go(pending_reader, &p), 0);
        wait_parked(await_report(p.who));
        int64_t t0 = ringo_now();
        assert_int_equal(ringo_close(a), 0);
        await_done(p.done, 1);
        assert_int_equal(atomic_load(&p.res), -EBADF);
        assert_true(since_ms(t0) < 2000 * time_slack());

        /* The number's next owner (most likely the same number) gets
         * everything sent to it: the cancelled read took nothing. */
        int b2 = ringo_dial(NULL, "tcp", addr);
        int a2 = ringo_accept(NULL, l, NULL);
        assert_true(a2 >= 0 && b2 >= 0);
        assert_int_equal(ringo_write(NULL, b2, "fresh", 5), 5);
        char buf[8];
        assert_true(read_full(a2, buf, 5));
        assert_memory_equal(buf, "fresh", 5);
        ringo_close(a2);
        ringo_close(b2);
        ringo_close(b);
        ringo_close(l);
        ringo_chan_unref(p.who);
        ringo_chan_unref(p.done);
    }
}

static void test_close_wakes_pending_read(void **state)
{
    (void)state;
    run_checked(2, close_pending_main, NULL);
}

/* ---- no SIGPIPE ------------------------------------------------------------------------------- */

static void sigpipe_main(void *arg)
{
    (void)arg;
    for (int how = 0; how < 3; how++) {
        int a, b;
        if (how < 2) {
            tcp_pair(&a, &b);
        } else {
            /* An fd the registry has never seen. */
            int sv[2];
            assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
            a = sv[0];
            b = sv[1];
        }
        /* The peer goes away with a reset (tcp) or a close (unix). */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        if (how < 2)
            assert_int_equal(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        assert_int_equal(ringo_close(b), 0);
        static char big[65536];
        ssize_t r = 0;
        for (int i = 0; i < 100 && r >= 0; i++)
            r = how == 1 ? ringo_send(NULL, a, big, sizeof(big), 0) : ringo_write(NULL, a, big, sizeof(big));
        assert_true(r == -EPIPE || r == -ECONNRESET);
        ringo_close(a);
    }
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
}

static void test_write_to_reset_peer(void **state)
{
    (void)state;
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);      /* so a SIGPIPE would end the test */
    run_checked(2, sigpipe_main, NULL);
}

/* ---- tcp6, unix, reuse_port, local_port, poll --------------------------------------------------------- */

static void exchange(int a, int b)
{
    char buf[4];
    assert_int_equal(ringo_write(NULL, b, "ping", 4), 4);
    assert_true(read_full(a, buf, 4));
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(ringo_write(NULL, a, "pong", 4), 4);
    assert_true(read_full(b, buf, 4));
    assert_memory_equal(buf, "pong", 4);
}

static void tcp6_main(void *arg)
{
    (void)arg;
    int l = ringo_listen("tcp6", "[::1]:0");
    assert_true(l >= 0);
    int port = ringo_local_port(l);
    char addr[64];
    snprintf(addr, sizeof(addr), "[::1]:%d", port);
    int b = ringo_dial(NULL, "tcp6", addr);
    assert_true(b >= 0);
    struct sockaddr_storage peer;
    int a = ringo_accept(NULL, l, &peer);
    assert_true(a >= 0);
    assert_int_equal(peer.ss_family, AF_INET6);
    exchange(a, b);
    ringo_close(a);
    ringo_close(b);
    ringo_close(l);
}

static bool have_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    close(fd);
    return ok;
}

static void test_tcp6_loopback(void **state)
{
    (void)state;
    if (!have_ipv6_loopback()) {
        fprintf(stderr, "no IPv6 loopback here: skipping\n");
        skip();
    }
    run_checked(2, tcp6_main, NULL);
}

static void unix_main(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof(path), "%s/sock", tmpdir);
    int l = ringo_listen("unix", path);
    assert_true(l >= 0);
    /* Somebody listens there: refused, and the file stays. */
    assert_int_equal(ringo_listen("unix", path), -EADDRINUSE);
    int b = ringo_dial(NULL, "unix", path);
    assert_true(b >= 0);
    int a = ringo_accept(NULL, l, NULL);
    assert_true(a >= 0);
    exchange(a, b);
    ringo_close(a);
    ringo_close(b);
    assert_int_equal(ringo_close(l), 0);
    /* The listener is gone, its file is not: a stale file is replaced. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    l = ringo_listen("unix", path);
    assert_true(l >= 0);
    b = ringo_dial(NULL, "unix", path);
    a = ringo_accept(NULL, l, NULL);
    assert_true(a >= 0 && b >= 0);
    exchange(a, b);
    ringo_close(a);
    ringo_close(b);
    ringo_close(l);
    /* A file that is not a socket is never removed. */
    unlink(path);
    int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(f >= 0);
    close(f);
    assert_int_equal(ringo_listen("unix", path), -EADDRINUSE);
    assert_int_equal(stat(path, &st), 0);
    unlink(path);

    /* The abstract namespace. */
    char name[64];
    snprintf(name, sizeof(name), "@ringo-test-io-%d", (int)getpid());
    l = ringo_listen("unix", name);
    assert_true(l >= 0);
    b = ringo_dial(NULL, "unix", name);
    assert_true(b >= 0);
    a = ringo_accept(NULL, l, NULL);
    assert_true(a >= 0);
    exchange(a, b);
    ringo_close(a);
    ringo_close(b);
    ringo_close(l);
    assert_int_equal(ringo_dial(NULL, "unix", name), -ECONNREFUSED);
}

static void test_unix_sockets(void **state)
{
    (void)state;
    make_tmpdir();
    run_checked(2, unix_main, NULL);
    rmdir(tmpdir);
}

struct acceptor {
    int lfd;
    ringo_chan_t *results;
};

static void accept_one(void *arg)
{
    struct acceptor *ac = arg;
    int fd = ringo_accept(NULL, ac->lfd, NULL);
    if (fd >= 0)
        ringo_close(fd);
    ringo_chan_send(ac->results, &fd);
}

static void reuse_port_main(void *arg)
{
    (void)arg;
    ringo_listen_opts_t opts = {.reuse_port = true, .backlog = 16};
    int l1 = ringo_listen_opts("tcp", "127.0.0.1:0", &opts);
    assert_true(l1 >= 0);
    int port = ringo_local_port(l1);
    char addr[64];
    addr_of(addr, sizeof(addr), port);
    int l2 = ringo_listen_opts("tcp", addr, &opts);
    assert_true(l2 >= 0);
    assert_int_equal(ringo_local_port(l2), port);
    /* Without SO_REUSEPORT the port is taken. */
    assert_int_equal(ringo_listen("tcp", addr), -EADDRINUSE);

    ringo_chan_t *results = ringo_chan_make(sizeof(int), 2);
    struct acceptor a1 = {l1, results}, a2 = {l2, results};
    assert_int_equal(ringo_go(accept_one, &a1), 0);
    assert_int_equal(ringo_go(accept_one, &a2), 0);
    int c = ringo_dial(NULL, "tcp", addr);
    assert_true(c >= 0);
    int first = -1, second = -1;
    assert_true(ringo_chan_recv(results, &first));
    assert_true(first >= 0);
    /* The other acceptor still waits: closing both wakes it. */
    ringo_close(l1);
    ringo_close(l2);
    assert_true(ringo_chan_recv(results, &second));
    assert_int_equal(second, -EBADF);
    ringo_close(c);
    ringo_chan_unref(results);
}

static void test_reuse_port(void **state)
{
    (void)state;
    run_checked(2, reuse_port_main, NULL);
}

static void local_port_poll_main(void *arg)
{
    (void)arg;
    int l = ringo_listen("tcp", ":0");      /* dual-stack, or IPv4 alone */
    assert_true(l >= 0);
    int port = ringo_local_port(l);
    assert_true(port > 0 && port < 65536);
    ringo_close(l);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(ringo_local_port(sv[0]), -EINVAL);     /* not tcp */

    int a, b;
    tcp_pair(&a, &b);
    assert_true(ringo_poll(NULL, a, POLLOUT) & POLLOUT);
    assert_int_equal(ringo_write(NULL, b, "r", 1), 1);
    int rev = ringo_poll(NULL, a, POLLIN);
    assert_true(rev & POLLIN);
    char c;
    assert_int_equal(ringo_read(NULL, a, &c, 1), 1);
    /* A poll under a deadline that nothing satisfies. */
    ringo_ctx_t *ctx = ringo_with_timeout(NULL, 10 * RINGO_MILLISECOND);
    assert_int_equal(ringo_poll(ctx, a, POLLIN), -ETIMEDOUT);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    ringo_close(a);
    ringo_close(b);
    ringo_close(sv[0]);
    ringo_close(sv[1]);
}

static void test_local_port_and_poll(void **state)
{
    (void)state;
    run_checked(2, local_port_poll_main, NULL);
}

struct nb_writer {
    int fd;
    ringo_chan_t *who;
};

static void nb_writer(void *arg)
{
    struct nb_writer *w = arg;
    wait_parked(await_report(w->who));
    CHECK(ringo_write(NULL, w->fd, "late", 4) == 4);
}

/* A user's O_NONBLOCK fd: the call waits for readiness instead of handing
 * back -EAGAIN; MSG_DONTWAIT still gets -EAGAIN. */
static void nonblock_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    assert_int_equal(fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK), 0);
    char buf[8];
    assert_int_equal(ringo_recv(NULL, a, buf, sizeof(buf), MSG_DONTWAIT), -EAGAIN);
    struct nb_writer w = {.fd = b, .who = ringo_chan_make(sizeof(ringo__fiber_t *), 1)};
    assert_int_equal(ringo_go(nb_writer, &w), 0);
    report_self(w.who);
    assert_true(read_full(a, buf, 4));
    assert_memory_equal(buf, "late", 4);
    ringo_chan_unref(w.who);
    ringo_close(a);
    ringo_close(b);
}

static void test_nonblocking_fd(void **state)
{
    (void)state;
    run_checked(2, nonblock_main, NULL);
}

/* ---- the blocking pool ------------------------------------------------------------------------ */

#define POOL_CALLS 8

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, running, max_running;
    bool released;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, false};

struct pool_call {
    int in;
    int out;                    /* written by fn, read by the fiber: an edge */
    pthread_t ran_on;
};

/* Blocks until the gate opens: only a fiber can open it. */
static void *gated_fn(void *arg)
{
    struct pool_call *c = arg;
    pthread_mutex_lock(&gate.mu);
    gate.entered++;
    if (++gate.running > gate.max_running)
        gate.max_running = gate.running;
    while (!gate.released)
        pthread_cond_wait(&gate.cv, &gate.mu);
    gate.running--;
    pthread_mutex_unlock(&gate.mu);
    c->out = c->in * 2;
    c->ran_on = pthread_self();
    return (void *)(intptr_t)(c->in + 1);
}

struct pool_fiber {
    struct pool_call call;
    ringo_waitgroup_t *wg;
    bool ok;
};

static void pool_caller(void *arg)
{
    struct pool_fiber *pf = arg;
    void *r = ringo_blocking(gated_fn, &pf->call);
    pf->ok = r == (void *)(intptr_t)(pf->call.in + 1) && pf->call.out == pf->call.in * 2;
    ringo_waitgroup_done(pf->wg);
}

static int gate_entered(void)
{
    pthread_mutex_lock(&gate.mu);
    int n = gate.entered;
    pthread_mutex_unlock(&gate.mu);
    return n;
}

static void gate_reset(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.entered = gate.running = gate.max_running = 0;
    gate.released = false;
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.released = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

static void pool_main(void *arg)
{
    int expect_concurrent = (int)(intptr_t)arg;
    gate_reset();
    static struct pool_fiber pf[POOL_CALLS];
    ringo_waitgroup_t wg = {0};
    ringo_waitgroup_add(&wg, POOL_CALLS);
    for (int i = 0; i < POOL_CALLS; i++) {
        pf[i] = (struct pool_fiber){.call = {.in = i + 10}, .wg = &wg};
        assert_int_equal(ringo_go(pool_caller, &pf[i]), 0);
    }
    /* More calls block at once than there are workers, and this fiber
     * still runs: they run off the workers. */
    while (gate_entered() < expect_concurrent)
        ringo_yield();
    gate_open();
    ringo_waitgroup_wait(&wg);
    for (int i = 0; i < POOL_CALLS; i++) {
        assert_true(pf[i].ok);
        assert_false(pthread_equal(pf[i].call.ran_on, pthread_self()));
    }
    pthread_mutex_lock(&gate.mu);
    int max_running = gate.max_running;
    pthread_mutex_unlock(&gate.mu);
    assert_true(max_running <= expect_concurrent);
}

static void *plain_thread_blocking(void *arg)
{
    (void)arg;
    struct pool_call c = {.in = 5};
    gate_reset();
    gate_open();
    void *r = ringo_blocking(gated_fn, &c);
    bool ok = r == (void *)(intptr_t)6 && c.out == 10 && pthread_equal(c.ran_on, pthread_self());
    return (void *)(intptr_t)ok;
}

static void pool_from_thread_main(void *arg)
{
    (void)arg;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, plain_thread_blocking, NULL), 0);
    void *ok;
    /* The thread does not need a fiber of ours: join it right here. */
    assert_int_equal(pthread_join(t, &ok), 0);
    assert_true((intptr_t)ok);
}

static void test_blocking_pool(void **state)
{
    (void)state;
    run_checked(2, pool_main, (void *)(intptr_t)POOL_CALLS);
    /* At most 2 pool threads: the rest queue and still all finish. */
    setenv("RINGO_BLOCKING_THREADS", "2", 1);
    run_checked(2, pool_main, (void *)(intptr_t)2);
    unsetenv("RINGO_BLOCKING_THREADS");
    /* A plain thread, and no runtime at all: fn runs on the caller. */
    run_checked(2, pool_from_thread_main, NULL);
    void *ok = plain_thread_blocking(NULL);
    assert_true((intptr_t)ok);
}

static void *noop_fn(void *arg)
{
    return arg;
}

static void idle_pool_deadlock_main(void *arg)
{
    (void)arg;
    ringo_blocking(noop_fn, NULL);      /* leaves an idle pool thread behind */
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    int v;
    ringo_chan_recv(ch, &v);            /* nobody will ever send */
}

static void idle_pool_deadlock_child(void)
{
    ringo_config_t cfg = {.workers = 2};
    ringo_run(&cfg, idle_pool_deadlock_main, NULL);
}

static void test_idle_pool_thread_hides_no_deadlock(void **state)
{
    (void)state;
    death_test(idle_pool_deadlock_child, "all fibers are asleep - deadlock!");
}

/* ---- the run's end ------------------------------------------------------------------------- */

static struct {
    ringo_ctx_t *ctx;           /* outlives the run */
    int fds[2];
    ringo_chan_t *who;
    _Atomic bool main_done;
    struct pool_call calls[2];
} ab;

static void abandoned_reader(void *arg)
{
    (void)arg;
    char c;
    report_self(ab.who);
    ringo_read(ab.ctx, ab.fds[0], &c, 1);
}

static void abandoned_blocker(void *arg)
{
    ringo_blocking(gated_fn, arg);
}

/* Opens the gate once main has gone: the pool's fn returns while or after
 * the run ends, and ringo_run waits for it either way. */
static void *late_opener(void *arg)
{
    (void)arg;
    while (!atomic_load(&ab.main_done))
        sched_yield();
    gate_open();
    return NULL;
}

static void abandon_main(void *arg)
{
    (void)arg;
    gate_reset();
    ab.ctx = ringo_with_cancel(NULL);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ab.fds), 0);
    ab.who = ringo_chan_make(sizeof(ringo__fiber_t *), 1);
    assert_int_equal(ringo_go(abandoned_reader, NULL), 0);
    wait_parked(await_report(ab.who));
    /* One pool thread: the first call runs, the second waits its turn. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(ringo_go(abandoned_blocker, &ab.calls[i]), 0);
    while (gate_entered() < 1)
        ringo_yield();
    ringo_chan_unref(ab.who);
    atomic_store(&ab.main_done, true);
}

static void test_run_end_abandons_io(void **state)
{
    (void)state;
    pthread_t opener;
    assert_int_equal(pthread_create(&opener, NULL, late_opener, NULL), 0);
    setenv("RINGO_BLOCKING_THREADS", "1", 1);
    run_checked(2, abandon_main, NULL);
    unsetenv("RINGO_BLOCKING_THREADS");
    assert_int_equal(pthread_join(opener, NULL), 0);
    /* What the abandoned calls left behind holds no link into their freed
     * stacks: cancelling the context runs no watcher of theirs, closing
     * the fd finds no op of theirs (ASan and Valgrind would see either). */
    ringo_cancel(ab.ctx);
    ringo_ctx_unref(ab.ctx);
    assert_int_equal(ringo_close(ab.fds[0]), 0);
    assert_int_equal(ringo_close(ab.fds[1]), 0);
    /* And the next run starts afresh, pool included. */
    run_checked(2, pool_main, (void *)(intptr_t)POOL_CALLS);
}

/* ---- plain threads, names, fd exhaustion, fork ----------------------------------------------------------- */

struct plain_server {
    int lfd;
    int port;
};

static void *plain_dialer(void *arg)
{
    struct plain_server *s = arg;
    char addr[64];
    addr_of(addr, sizeof(addr), s->port);
    int fd = ringo_dial(NULL, "tcp", addr);
    if (fd < 0)
        return (void *)0;
    char buf[4];
    bool ok = ringo_write(NULL, fd, "ping", 4) == 4 && ringo_read(NULL, fd, buf, 4) == 4 &&
              memcmp(buf, "pong", 4) == 0;
    ringo_close(fd);
    return (void *)(intptr_t)ok;
}

/* A plain thread serves one connection from another plain thread. */
static bool plain_exchange(void)
{
    struct plain_server s;
    s.lfd = ringo_listen("tcp", "127.0.0.1:0");
    if (s.lfd < 0)
        return false;
    s.port = ringo_local_port(s.lfd);
    pthread_t t;
    if (pthread_create(&t, NULL, plain_dialer, &s) != 0)
        return false;
    int a = ringo_accept(NULL, s.lfd, NULL);
    char buf[4];
    bool ok = a >= 0 && ringo_read(NULL, a, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0 &&
              ringo_write(NULL, a, "pong", 4) == 4;
    void *dialed;
    pthread_join(t, &dialed);
    ringo_close(a);
    ringo_close(s.lfd);
    ringo_ctx_t *cancelled = ringo_with_cancel(NULL);
    ringo_cancel(cancelled);
    ok = ok && ringo_read(cancelled, 0, buf, 1) == -ECANCELED;
    ringo_ctx_unref(cancelled);
    return ok && (intptr_t)dialed;
}

static void *plain_exchange_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)plain_exchange();
}

static void plain_during_run_main(void *arg)
{
    (void)arg;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, plain_exchange_thread, NULL), 0);
    void *ok;
    assert_int_equal(pthread_join(t, &ok), 0);
    assert_true((intptr_t)ok);
}

static void test_calls_outside_fibers(void **state)
{
    (void)state;
    assert_true(plain_exchange());              /* no runtime at all */
    run_checked(2, plain_during_run_main, NULL);  /* plain threads beside one */
}

static void dial_name_main(void *arg)
{
    (void)arg;
    int l = ringo_listen("tcp", ":0");          /* every address, both families */
    assert_true(l >= 0);
    int port = ringo_local_port(l);
    const char *nets[] = {"tcp", "tcp4"};
    for (size_t i = 0; i < NELEM(nets); i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "localhost:%d", port);
        int b = ringo_dial(NULL, nets[i], addr);
        assert_true(b >= 0);
        int a = ringo_accept(NULL, l, NULL);
        assert_true(a >= 0);
        exchange(a, b);
        ringo_close(a);
        ringo_close(b);
    }
    /* ":port" dials the local system. */
    char addr[64];
    snprintf(addr, sizeof(addr), ":%d", port);
    int b = ringo_dial(NULL, "tcp", addr);
    assert_true(b >= 0);
    int a = ringo_accept(NULL, l, NULL);
    assert_true(a >= 0);
    exchange(a, b);
    ringo_close(a);
    ringo_close(b);
    ringo_close(l);
}

static void test_dial_by_name(void **state)
{
    (void)state;
    run_checked(2, dial_name_main, NULL);
}

struct backing_off {
    int lfd;
    ringo_chan_t *who, *done;
    _Atomic int res;
};

static void backing_off_acceptor(void *arg)
{
    struct backing_off *b = arg;
    report_self(b->who);
    atomic_store(&b->res, ringo_accept(NULL, b->lfd, NULL));
    signal_done(b->done);
}

static void fd_limit_main(void *arg)
{
    (void)arg;
    int port, port2;
    int l = listen_local(&port), l2 = listen_local(&port2);
    char addr[64], addr2[64];
    addr_of(addr, sizeof(addr), port);
    addr_of(addr2, sizeof(addr2), port2);
    int c = ringo_dial(NULL, "tcp", addr), c2 = ringo_dial(NULL, "tcp", addr2);
    assert_true(c >= 0 && c2 >= 0);
    struct backing_off bo = {.lfd = l2};
    bo.who = ringo_chan_make(sizeof(ringo__fiber_t *), 1);
    bo.done = ringo_chan_make(sizeof(int), 1);
    /* Use up every descriptor left, then try to accept. */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int spare = dup(l);
    assert_true(spare >= 0);
    low = old;
    low.rlim_cur = (rlim_t)spare + 16;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[64], nfill = 0;
    while (nfill < 64 && (fill[nfill] = dup(spare)) >= 0)
        nfill++;
    assert_true(nfill < 64);
    ringo_ctx_t *ctx = ringo_with_timeout(NULL, 50 * RINGO_MILLISECOND);
    assert_int_equal(ringo_accept(ctx, l, NULL), -ETIMEDOUT);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    /* Closing a listener ends an accept that is pausing on it. */
    assert_int_equal(ringo_go(backing_off_acceptor, &bo), 0);
    wait_parked(await_report(bo.who));
    assert_int_equal(ringo_close(l2), 0);
    await_done(bo.done, 1);
    assert_int_equal(atomic_load(&bo.res), -EBADF);
    /* A descriptor frees up: the pending connection is accepted. */
    close(fill[--nfill]);
    int a = ringo_accept(NULL, l, NULL);
    assert_true(a >= 0);
    while (nfill > 0)
        close(fill[--nfill]);
    close(spare);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    exchange(a, c);
    ringo_close(a);
    ringo_close(c);
    ringo_close(c2);
    ringo_close(l);
    ringo_chan_unref(bo.who);
    ringo_chan_unref(bo.done);
}

static void test_accept_backs_off_at_fd_limit(void **state)
{
    (void)state;
    if (ringo__on_valgrind()) {
        /* Valgrind keeps descriptors of its own under the limit it shows. */
        fprintf(stderr, "the fd limit is Valgrind's under Valgrind: skipping\n");
        skip();
    }
    run_checked(2, fd_limit_main, NULL);
}

static void fork_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    /* The child reports through a pipe, not its exit status: under
     * Valgrind the child's exit runs a leak check over memory that belonged
     * to its parent's other threads, and fails it. */
    int report[2];
    assert_int_equal(pipe(report), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char buf[4];
        ssize_t r = ringo_read(NULL, a, buf, sizeof(buf));
        ssize_t w = ringo_write(NULL, b, "x", 1);
        char verdict = r == -ECHILD && w == -ECHILD ? 'y' : 'n';
        if (write(report[1], &verdict, 1) != 1)
            verdict = 'n';
        _exit(0);
    }
    close(report[1]);
    char verdict = 0;
    assert_int_equal(read(report[0], &verdict, 1), 1);
    assert_int_equal(verdict, 'y');
    close(report[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    /* The parent's connection is untouched. */
    exchange(a, b);
    ringo_close(a);
    ringo_close(b);
}

static void test_fork_child_gets_echild(void **state)
{
    (void)state;
    run_checked(2, fork_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_many_clients),
        cmocka_unit_test(test_read_deadline),
        cmocka_unit_test(test_cancel_read_in_flight),
        cmocka_unit_test(test_ctx_ended_before_call),
        cmocka_unit_test(test_select_fd_chan_timeout),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_close_wakes_pending_read),
        cmocka_unit_test(test_write_to_reset_peer),
        cmocka_unit_test(test_tcp6_loopback),
        cmocka_unit_test(test_unix_sockets),
        cmocka_unit_test(test_reuse_port),
        cmocka_unit_test(test_local_port_and_poll),
        cmocka_unit_test(test_nonblocking_fd),
        cmocka_unit_test(test_blocking_pool),
        cmocka_unit_test(test_idle_pool_thread_hides_no_deadlock),
        cmocka_unit_test(test_run_end_abandons_io),
        cmocka_unit_test(test_calls_outside_fibers),
        cmocka_unit_test(test_dial_by_name),
        cmocka_unit_test(test_accept_backs_off_at_fd_limit),
        cmocka_unit_test(test_fork_child_gets_echild),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

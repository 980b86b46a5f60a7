/* tests/io_stress.h - helpers shared by the io stress tests
 * (test_io_stress.c, test_io_races.c, test_io_fork.c, test_io_signals.c).
 *
 * slow_tool()       true under Valgrind, ThreadSanitizer or AddressSanitizer:
 *                   loops and durations shrink there.
 * scaled()          iters(), further capped under Valgrind so that a run of
 *                   the program stays under a minute there.
 * run_cfg()         run_checked() with a ring size.
 * listen_local()    a tcp listener on 127.0.0.1, any port.
 * dial_local()      a connection to it; accept_one() its other end.
 * count_fds()       entries in /proc/self/fd (not counting the directory's own).
 * max_fd()          the highest open descriptor.
 * dump_fds()        lists the open descriptors and what they are, on stderr.
 * pattern_fill(), pattern_check()
 *                   a byte stream in which every byte depends on its position
 *                   and a seed, so a byte lost, doubled or misplaced is seen.
 * read_full()       ringo_read until len bytes, end of file or an error.
 * go_echo()         starts a fiber that echoes a connection until end of file,
 *                   then closes it and marks wg done.
 * in_child()        runs fn in a forked child and asserts it exited 0.
 * All of it runs in a fiber unless said otherwise; failures go through CHECK.
 */
#ifndef RINGO_TESTS_IO_STRESS_H
#define RINGO_TESTS_IO_STRESS_H

#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

static inline bool slow_tool(void)
{
#if defined(RINGO_TSAN) || defined(RINGO_ASAN)
    return true;
#else
    return ringo__on_valgrind() != 0;
#endif
}

/* iters(base), at most cap under Valgrind (which runs one thread at a time,
 * some fifty times slower). */
static inline long scaled(long base, long valgrind_cap)
{
    long n = iters(base);
    if (ringo__on_valgrind() && n > valgrind_cap)
        n = valgrind_cap;
    return n;
}

static inline void run_cfg(unsigned workers, unsigned ring_entries, void (*fn)(void *), void *arg)
{
    ringo_config_t cfg = {.workers = workers, .ring_entries = ring_entries};
    atomic_store(&check_errors, 0);
    int rc = ringo_run(&cfg, fn, arg);
    assert_int_equal(rc, 0);
    assert_int_equal(atomic_load(&check_errors), 0);
}

/* A listener on 127.0.0.1 at a free port; *port receives the port. */
static inline int listen_local(int *port)
{
    int lfd = ringo_listen("tcp", "127.0.0.1:0");
    CHECK(lfd >= 0);
    if (lfd < 0)
        return lfd;
    *port = ringo_local_port(lfd);
    CHECK(*port > 0);
    return lfd;
}

static inline int dial_ctx(ringo_ctx_t *ctx, int port)
{
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    return ringo_dial(ctx, "tcp", addr);
}

static inline int dial_local(int port)
{
    int fd = dial_ctx(NULL, port);
    if (fd < 0)
        fprintf(stderr, "dial 127.0.0.1:%d: %s\n", port, strerror(-fd));
    CHECK(fd >= 0);
    return fd;
}

static inline int accept_one(int lfd)
{
    int fd = ringo_accept(NULL, lfd, NULL);
    if (fd < 0)
        fprintf(stderr, "accept: %s\n", strerror(-fd));
    CHECK(fd >= 0);
    return fd;
}

/* Entries of /proc/self/fd, less the one opendir holds while counting. */
static inline long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

static inline void dump_fds(const char *when)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    fprintf(stderr, "open descriptors %s:", when);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
            continue;
        char path[300], target[256];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        fprintf(stderr, " %s=%s", e->d_name, target);
    }
    fprintf(stderr, "\n");
    closedir(d);
}

static inline int max_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    if (!d)
        return -1;
    int self = dirfd(d), m = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd != self && fd > m)
            m = fd;
    }
    closedir(d);
    return m;
}

static inline uint8_t pattern_byte(uint64_t seed, uint64_t pos)
{
    uint64_t x = (pos + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xD1B54A32D192ED03ull;
    x ^= x >> 29;
    return (uint8_t)(x >> 7);
}

static inline void pattern_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t pos)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern_byte(seed, pos + i);
}

/* True if buf holds the stream's bytes at pos .. pos+len; reports the first
 * byte that does not. */
static inline bool pattern_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t pos)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern_byte(seed, pos + i)) {
            fprintf(stderr, "stream %llu: byte %llu is %#x, want %#x\n",
                    (unsigned long long)seed, (unsigned long long)(pos + i), buf[i],
                    pattern_byte(seed, pos + i));
            return false;
        }
    return true;
}

/* Reads until len bytes arrived: len, fewer at end of file, or -errno. */
static inline ssize_t read_full(ringo_ctx_t *ctx, int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = ringo_read(ctx, fd, (char *)buf + got, len - got);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

struct echo_arg {
    int fd;
    ringo_waitgroup_t *wg;
};

/* Echoes everything read on a->fd until end of file, then closes it. Any
 * error fails the test. */
static inline void echo_handler(void *arg)
{
    struct echo_arg a = *(struct echo_arg *)arg;
    char buf[4096];
    for (;;) {
        ssize_t r = ringo_read(NULL, a.fd, buf, sizeof(buf));
        if (r <= 0) {
            if (r < 0)
                fprintf(stderr, "echo_handler: read: %s\n", strerror((int)-r));
            CHECK(r == 0);
            break;
        }
        ssize_t w = ringo_write(NULL, a.fd, buf, (size_t)r);
        if (w != r)
            fprintf(stderr, "echo_handler: write: %zd of %zd\n", w, r);
        CHECK(w == r);
        if (w != r)
            break;
    }
    CHECK(ringo_close(a.fd) == 0);
    ringo_waitgroup_done(a.wg);
}

/* Echoes fd in a new fiber; wg counts it until it has closed fd. */
static inline void go_echo(int fd, ringo_waitgroup_t *wg)
{
    struct echo_arg a = {fd, wg};
    ringo_waitgroup_add(wg, 1);
    int rc = ringo_go_copy(echo_handler, &a, sizeof(a));
    CHECK(rc == 0);
    if (rc != 0)
        ringo_waitgroup_done(wg);
}

/* Runs fn in a forked child with its output captured; the child must exit
 * with status 0 (fn calls _exit itself, or returns for 0). Not from a
 * fiber. */
static inline void in_child(void (*fn)(void), const char *what)
{
    static struct death d;
    death_run(fn, &d);
    if (d.signal != 0 || d.status != 0)
        fail_msg("%s: child died by signal %d (%s), status %d; its output:\n%s", what, d.signal,
                 d.signal ? strsignal(d.signal) : "-", d.status, d.out);
}

static inline int64_t cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * RINGO_SECOND + ts.tv_nsec;
}

#endif

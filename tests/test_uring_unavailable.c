/* Description: io_uring unavailable. With io_uring_setup refused by a
 * seccomp filter (as Docker's default profile does: EPERM) or reported
 * missing (old or stripped kernels: ENOSYS), a program that never names a
 * backend falls back to epoll after one line on stderr naming the cause,
 * and its I/O works: an echo over TCP, a select over an fd, a deadline on
 * a read, a file written, synced and read back; ringo_stats says epoll.
 * Forcing io_uring there (the config's field) fails the run with the
 * error and one line naming the fix, as before the fallback existed. The
 * filters are installed in forked children, never in the test runner.
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static void install_filter(int err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        _exit(10);
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_setup), 0) < 0)
        _exit(11);
    if (seccomp_load(ctx) < 0)
        _exit(12);
    seccomp_release(ctx);
    /* The suite may run with RINGO_BACKEND set: this program names none. */
    unsetenv("RINGO_BACKEND");
}

/* ---- the I/O an unmodified program does ------------------------------------------- */

static void echo_server(void *arg)
{
    int lfd = *(int *)arg;
    int c = ringo_accept(NULL, lfd, NULL);
    CHECK(c >= 0);
    char buf[256];
    ssize_t n;
    while ((n = ringo_read(NULL, c, buf, sizeof(buf))) > 0)
        CHECK(ringo_write(NULL, c, buf, (size_t)n) == n);
    CHECK(n == 0);
    CHECK(ringo_close(c) == 0);
}

static void io_main(void *arg)
{
    (void)arg;
    ringo_stats_t st;
    ringo_stats(&st);
    CHECK(st.backend == RINGO_BACKEND_EPOLL);

    /* Echo over TCP, the server on another fiber (and maybe worker). */
    int lfd = ringo_listen("tcp", "127.0.0.1:0");
    CHECK(lfd >= 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ringo_local_port(lfd));
    CHECK(ringo_go(echo_server, &lfd) == 0);
    int c = ringo_dial(NULL, "tcp", addr);
    CHECK(c >= 0);
    for (int i = 0; i < 100; i++) {
        char msg[32], got[32];
        int len = snprintf(msg, sizeof(msg), "ping %d", i);
        CHECK(ringo_write(NULL, c, msg, (size_t)len) == len);
        ssize_t have = 0;
        while (have < len) {
            ssize_t n = ringo_read(NULL, c, got + have, sizeof(got) - (size_t)have);
            CHECK(n > 0);
            if (n <= 0)
                break;
            have += n;
        }
        CHECK(have == len && memcmp(got, msg, (size_t)len) == 0);
    }
    CHECK(ringo_close(c) == 0);

    /* select over an fd: not readable until the peer writes. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ringo_case_t cases[] = {RINGO_READABLE(sv[0]), RINGO_TIMEOUT(10 * RINGO_MILLISECOND)};
    CHECK(ringo_select(cases, 2) == 1);
    CHECK(write(sv[1], "x", 1) == 1);
    CHECK(ringo_select(cases, 1) == 0);

    /* A deadline ends a read that would wait forever. */
    char b;
    CHECK(ringo_read(NULL, sv[0], &b, 1) == 1);
    ringo_ctx_t *ctx = ringo_with_timeout(NULL, 20 * RINGO_MILLISECOND);
    CHECK(ringo_read(ctx, sv[0], &b, 1) == -ETIMEDOUT);
    ringo_ctx_unref(ctx);
    close(sv[0]);
    close(sv[1]);

    /* A file: written, synced, read back. */
    char path[] = "/tmp/ringo-unavailable-XXXXXX";
    int tmp = mkstemp(path);
    CHECK(tmp >= 0);
    close(tmp);
    int fd = ringo_open(NULL, path, O_RDWR | O_TRUNC, 0);
    CHECK(fd >= 0);
    CHECK(ringo_pwrite(NULL, fd, "hello file", 10, 0) == 10);
    CHECK(ringo_fsync(NULL, fd) == 0);
    char back[16] = {0};
    CHECK(ringo_pread(NULL, fd, back, sizeof(back), 0) == 10);
    CHECK(memcmp(back, "hello file", 10) == 0);
    CHECK(ringo_close(fd) == 0);
    unlink(path);
    CHECK(ringo_close(lfd) == 0);
}

static void fallback_child(int err)
{
    install_filter(err);
    atomic_store(&check_errors, 0);
    int rc = ringo_run(NULL, io_main, NULL);
    fprintf(stderr, "rc=%d errors=%d\n", rc, atomic_load(&check_errors));
    _exit(rc == 0 && atomic_load(&check_errors) == 0 ? 0 : 1);
}

static void eperm_child(void) { fallback_child(EPERM); }
static void enosys_child(void) { fallback_child(ENOSYS); }

/* One line from the runtime, then the child's own "rc=" line. */
static void check_one_line(const struct death *d)
{
    const char *rc = strstr(d->out, "rc=");
    assert_non_null(rc);
    assert_ptr_equal(strchr(d->out, '\n') + 1, rc);
}

static void test_eperm_falls_back_to_epoll(void **state)
{
    (void)state;
    static struct death d;
    death_run(eperm_child, &d);
    if (d.status != 0)
        fail_msg("child status %d signal %d: %s", d.status, d.signal, d.out);
    assert_non_null(strstr(d.out, "ringo: io_uring is unavailable"));
    assert_non_null(strstr(d.out, "seccomp"));
    assert_non_null(strstr(d.out, "kernel.io_uring_disabled"));
    assert_non_null(strstr(d.out, "using epoll"));
    check_one_line(&d);
}

static void test_enosys_falls_back_to_epoll(void **state)
{
    (void)state;
    static struct death d;
    death_run(enosys_child, &d);
    if (d.status != 0)
        fail_msg("child status %d signal %d: %s", d.status, d.signal, d.out);
    assert_non_null(strstr(d.out, "ringo: io_uring is unavailable"));
    assert_non_null(strstr(d.out, "Function not implemented"));
    assert_non_null(strstr(d.out, "using epoll"));
    check_one_line(&d);
}

/* ---- io_uring forced where it is refused --------------------------------------------- */

static int ran;

static void never(void *arg)
{
    (void)arg;
    ran = 1;
}

static void forced_child(void)
{
    install_filter(EPERM);
    ringo_config_t cfg = {.backend = RINGO_BACKEND_URING};
    int rc = ringo_run(&cfg, never, NULL);
    fprintf(stderr, "rc=%d ran=%d\n", rc, ran);
    _exit(rc == -EPERM && !ran ? 0 : 1);
}

static void test_forced_uring_fails_with_the_error(void **state)
{
    (void)state;
    static struct death d;
    death_run(forced_child, &d);
    if (d.status != 0)
        fail_msg("child status %d signal %d: %s", d.status, d.signal, d.out);
    assert_non_null(strstr(d.out, "ringo: io_uring is unavailable"));
    assert_non_null(strstr(d.out, "seccomp=unconfined"));
    assert_null(strstr(d.out, "using epoll"));
    check_one_line(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eperm_falls_back_to_epoll),
        cmocka_unit_test(test_enosys_falls_back_to_epoll),
        cmocka_unit_test(test_forced_uring_fails_with_the_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

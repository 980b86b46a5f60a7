/* Description: the io layer at the edges of the process, on 2 workers.
 *   - Out of descriptors: in a forked child (the test runner's limit is
 *     never touched), RLIMIT_NOFILE is lowered and every free number below
 *     it taken, then clients connect. The server's ringo_accept neither
 *     returns EMFILE nor spins: over 1.5 s of it the process uses under a
 *     quarter of that in CPU time (a spinning accept uses all it can get),
 *     the connections it already had keep being served meanwhile (an echo
 *     on each every 20 ms, at least 20 each), it says
 *     so in one line on stderr, and once descriptors are freed the waiting
 *     clients are accepted and served
 *     (test_accept_backs_off_on_emfile_and_recovers).
 *   - fork() while the runtime runs, with echoes in flight: in the child,
 *     ringo_read, ringo_write, ringo_dial and the other io calls return
 *     -ECHILD at once; the parent's echoes, in flight across each fork,
 *     all complete with the right bytes
 *     (test_fork_child_gets_echild_parent_loses_nothing).
 * Loop sizes scale with RINGO_TEST_ITERS and shrink under Valgrind.
 */
#include "io_stress.h"

#include <sys/resource.h>

/* ---- out of descriptors ------------------------------------------------------------------- */

#define EM_KEPT 4               /* connections served before and during */
#define EM_WAITING 8            /* clients that connect while no fd is free */
#define EM_FILL 32              /* numbers taken to exhaust the table */

struct emfile {
    int lfd, port;
    ringo_ctx_t *stop;
    long want;
    atomic_long accepted;
    atomic_long accept_errors;
    ringo_waitgroup_t wg;       /* the acceptor */
    ringo_waitgroup_t echoers;
};

/* Accepts until e->stop is cancelled, or e->want connections if it is > 0. */
static void em_acceptor(void *arg)
{
    struct emfile *e = arg;
    for (long n = 0; e->want <= 0 || n < e->want; n++) {
        int fd = ringo_accept(e->stop, e->lfd, NULL);
        if (fd == -ECANCELED && ringo_ctx_err(e->stop))
            break;
        if (fd < 0) {
            fprintf(stderr, "test: ringo_accept returned %s\n", strerror(-fd));
            atomic_fetch_add(&e->accept_errors, 1);
            CHECK(fd >= 0);
            continue;
        }
        atomic_fetch_add(&e->accepted, 1);
        go_echo(fd, &e->echoers);
    }
    ringo_waitgroup_done(&e->wg);
}

/* One echo of a few bytes on fd, checked; true if it came back right. */
static bool echo_once(ringo_ctx_t *ctx, int fd, uint64_t seed, uint64_t pos)
{
    uint8_t out[64], in[64];
    pattern_fill(out, sizeof(out), seed, pos);
    ssize_t w = ringo_write(ctx, fd, out, sizeof(out));
    ssize_t r = w == (ssize_t)sizeof(out) ? read_full(ctx, fd, in, sizeof(in)) : -1;
    if (r != (ssize_t)sizeof(in))
        fprintf(stderr, "test: echo on fd %d: write %zd, read %zd\n", fd, w, r);
    return r == (ssize_t)sizeof(in) && memcmp(in, out, sizeof(in)) == 0;
}

static void em_main(void *arg)
{
    (void)arg;
    struct emfile e = {0};
    e.lfd = listen_local(&e.port);
    if (e.lfd < 0)
        return;
    e.stop = ringo_with_cancel(ringo_background());
    e.want = EM_KEPT;
    ringo_waitgroup_add(&e.wg, 1);
    CHECK(ringo_go(em_acceptor, &e) == 0);

    int kept[EM_KEPT];
    for (int i = 0; i < EM_KEPT; i++) {
        kept[i] = dial_local(e.port);
        CHECK(echo_once(NULL, kept[i], (uint64_t)i, 0));
    }
    /* That acceptor ends there: an accept submitted before the limit is
     * lowered keeps the old limit in the kernel (io_uring reads it when
     * the operation is prepared). The next one starts below. */
    ringo_waitgroup_wait(&e.wg);
    CHECK(atomic_load(&e.accepted) == EM_KEPT);

    /* The clients' sockets exist before the table fills; connecting needs
     * no descriptor (the kernel completes the handshake into the backlog). */
    int waiting[EM_WAITING];
    for (int i = 0; i < EM_WAITING; i++) {
        waiting[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(waiting[i] >= 0);
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(nullfd >= 0);

    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = (rlim_t)max_fd() + 1 + EM_FILL;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    static int fill[65536];
    int nfill = 0, f;
    while ((f = fcntl(nullfd, F_DUPFD_CLOEXEC, 0)) >= 0)
        fill[nfill++] = f;
    CHECK(errno == EMFILE);
    CHECK(nfill >= EM_FILL);
    e.want = 0;
    ringo_waitgroup_add(&e.wg, 1);
    CHECK(ringo_go(em_acceptor, &e) == 0);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < EM_WAITING; i++)
        CHECK(connect(waiting[i], (struct sockaddr *)&sin, sizeof(sin)) == 0);

    /* A second and more without descriptors; the old connections are
     * served every 20 ms meanwhile. */
    ringo_duration_t span = RINGO_SECOND + RINGO_SECOND / 2;
    int64_t t0 = ringo_now(), cpu0 = cpu_now();
    long echoes = 0;
    while (ringo_now() - t0 < span) {
        for (int i = 0; i < EM_KEPT; i++)
            if (echo_once(NULL, kept[i], (uint64_t)i, (uint64_t)(echoes + 1) * 64))
                echoes++;
        ringo_sleep(20 * RINGO_MILLISECOND);
    }
    int64_t wall = ringo_now() - t0, cpu = cpu_now() - cpu0;
    fprintf(stderr, "test: %.0f ms out of descriptors: %.0f ms of CPU, %ld echoes served\n",
            (double)wall / 1e6, (double)cpu / 1e6, echoes);
    /* A back-off costs next to nothing (3-4% here, sanitizers included);
     * a retry loop burns a core, or starves the other fibers of the
     * worker it spins on. */
    CHECK(cpu < wall / 4);
    CHECK(echoes >= EM_KEPT * 20);
    if (atomic_load(&e.accepted) != EM_KEPT) {
        fprintf(stderr, "test: %ld connections accepted while no descriptor was free (%d filled)\n",
                atomic_load(&e.accepted) - EM_KEPT, nfill);
        dump_fds("then");
    }
    CHECK(atomic_load(&e.accepted) == EM_KEPT);
    CHECK(atomic_load(&e.accept_errors) == 0);

    /* Descriptors free up: the waiting clients are accepted (after the
     * current pause, at most a second) and served. */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 10 * RINGO_SECOND * time_slack());
    for (int i = 0; i < EM_WAITING; i++)
        CHECK(echo_once(ctx, waiting[i], 100 + (uint64_t)i, 0));
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    CHECK(atomic_load(&e.accepted) == EM_KEPT + EM_WAITING);
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);

    ringo_cancel(e.stop);
    ringo_waitgroup_wait(&e.wg);
    for (int i = 0; i < EM_KEPT; i++)
        CHECK(ringo_close(kept[i]) == 0);
    for (int i = 0; i < EM_WAITING; i++)
        CHECK(ringo_close(waiting[i]) == 0);
    ringo_waitgroup_wait(&e.echoers);
    close(nullfd);
    CHECK(ringo_close(e.lfd) == 0);
    ringo_ctx_unref(e.stop);
}

static void em_child(void)
{
    ringo_config_t cfg = {.workers = 2};
    atomic_store(&check_errors, 0);
    int rc = ringo_run(&cfg, em_main, NULL);
    fprintf(stderr, "test: ringo_run %d, %d checks failed\n", rc, atomic_load(&check_errors));
    _exit(rc == 0 && atomic_load(&check_errors) == 0 ? 0 : 1);
}

static void test_accept_backs_off_on_emfile_and_recovers(void **state)
{
    (void)state;
    if (ringo__on_valgrind()) {
        /* Valgrind emulates RLIMIT_NOFILE for the syscalls it sees and
         * leaves the kernel's limit alone, so accepts through the ring
         * never run out. */
        fprintf(stderr, "skipped: Valgrind does not lower the kernel's descriptor limit\n");
        skip();
    }
    static struct death d;
    death_run(em_child, &d);
    if (d.signal != 0 || d.status != 0)
        fail_msg("child died by signal %d, status %d; its output:\n%s", d.signal, d.status, d.out);
    /* The io layer said it was out of descriptors, once. */
    int said = 0;
    for (char *line = d.out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, "ringo:", 6) == 0 && strncmp(line, "ringo: warning: hwloc", 21) != 0)
            said++;
    if (said != 1)
        fail_msg("%d lines from ringo on stderr, want 1; the child's output:\n%s", said, d.out);
}

/* ---- fork while the runtime runs ----------------------------------------------------------- */

#define FORK_CLIENTS 8

struct forks {
    int lfd, port;
    atomic_int stopping;
    atomic_long rounds, verified;
    ringo_waitgroup_t wg;
    ringo_waitgroup_t echoers;
};

static void fork_acceptor(void *arg)
{
    struct forks *k = arg;
    for (long i = 0; i < FORK_CLIENTS; i++) {
        int fd = accept_one(k->lfd);
        if (fd < 0)
            break;
        go_echo(fd, &k->echoers);
    }
    ringo_waitgroup_done(&k->wg);
}

struct fork_client {
    struct forks *k;
    uint64_t seed;
};

static void fork_client(void *arg)
{
    struct fork_client fc = *(struct fork_client *)arg;
    struct forks *k = fc.k;
    unsigned seed = (unsigned)fc.seed;
    int fd = dial_local(k->port);
    uint8_t *out = malloc(8192), *in = malloc(8192);
    CHECK(out && in);
    uint64_t pos = 0;
    while (fd >= 0 && out && in && !atomic_load(&k->stopping)) {
        size_t len = 1 + rand_r(&seed) % 8192;
        pattern_fill(out, len, fc.seed, pos);
        CHECK(ringo_write(NULL, fd, out, len) == (ssize_t)len);
        ssize_t r = read_full(NULL, fd, in, len);
        CHECK(r == (ssize_t)len);
        if (r == (ssize_t)len && pattern_check(in, len, fc.seed, pos))
            atomic_fetch_add(&k->verified, 1);
        else
            CHECK(!"echo differs");
        pos += len;
        atomic_fetch_add(&k->rounds, 1);
        /* Under Valgrind, which runs one thread at a time, flat-out echoes
         * starve the forked child of its turn. */
        if (ringo__on_valgrind())
            ringo_sleep(RINGO_MILLISECOND);
    }
    free(out);
    free(in);
    if (fd >= 0)
        CHECK(ringo_close(fd) == 0);
    ringo_waitgroup_done(&k->wg);
}

enum { FK_READ, FK_WRITE, FK_DIAL, FK_RECV, FK_SEND, FK_ACCEPT, FK_POLL, FK_OPEN, FK_PREAD, FK_N };
static const char *const fk_name[] = {"ringo_read", "ringo_write", "ringo_dial", "ringo_recv",
                                      "ringo_send", "ringo_accept", "ringo_poll", "ringo_open",
                                      "ringo_pread"};

/* In the child: each call once, results through the pipe, then SIGKILL.
 * No stdio, no allocation: another thread may have held a lock at the
 * fork. The kill keeps Valgrind (which follows the child) from its exit
 * checks: a forked copy of a running runtime holds memory only the
 * parent's threads could reach. */
static _Noreturn void fork_child(struct forks *k, int report, int pr, int pw, int sock)
{
    long res[FK_N];
    char b[16];
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", k->port);
    res[FK_READ] = ringo_read(NULL, pr, b, sizeof(b));
    res[FK_WRITE] = ringo_write(NULL, pw, "x", 1);
    res[FK_DIAL] = ringo_dial(NULL, "tcp", addr);
    res[FK_RECV] = ringo_recv(NULL, sock, b, sizeof(b), 0);
    res[FK_SEND] = ringo_send(NULL, sock, "x", 1, 0);
    res[FK_ACCEPT] = ringo_accept(NULL, k->lfd, NULL);
    res[FK_POLL] = ringo_poll(NULL, pr, POLLIN);
    res[FK_OPEN] = ringo_open(NULL, "/dev/null", O_RDONLY, 0);
    res[FK_PREAD] = ringo_pread(NULL, pr, b, sizeof(b), 0);
    if (write(report, res, sizeof(res)) != (ssize_t)sizeof(res))
        _exit(7);
    kill(getpid(), SIGKILL);
    _exit(8);
}

static void *wait_child(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (r != pid)
        return (void *)(intptr_t)-1;
    return (void *)(intptr_t)(WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st));
}

static void fork_main(void *arg)
{
    (void)arg;
    struct forks k = {0};
    k.lfd = listen_local(&k.port);
    if (k.lfd < 0)
        return;
    ringo_waitgroup_add(&k.wg, 1 + FORK_CLIENTS);
    CHECK(ringo_go(fork_acceptor, &k) == 0);
    for (int i = 0; i < FORK_CLIENTS; i++) {
        struct fork_client fc = {&k, 1000 + (uint64_t)i};
        CHECK(ringo_go_copy(fork_client, &fc, sizeof(fc)) == 0);
    }
    long forks = scaled(20, 1) < 3 && !ringo__on_valgrind() ? 3 : scaled(20, 1);
    for (long f = 0; f < forks; f++) {
        /* Echoes are under way: wait for some to complete, so that others
         * are surely in flight when the process forks. */
        long r0 = atomic_load(&k.rounds);
        while (atomic_load(&k.rounds) < r0 + 2 * FORK_CLIENTS)
            ringo_yield();
        int rep[2], p[2], sp[2];
        CHECK(pipe2(rep, O_CLOEXEC) == 0);
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            fork_child(&k, rep[1], p[0], p[1], sp[0]);
        close(rep[1]);
        /* The child's answers, within a generous 10 s: a call that ran
         * the real operation would block on these fds for ever. */
        long res[FK_N];
        ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 10 * RINGO_SECOND * time_slack());
        ssize_t r = read_full(ctx, rep[0], res, sizeof(res));
        ringo_cancel(ctx);
        ringo_ctx_unref(ctx);
        if (r != (ssize_t)sizeof(res)) {
            fprintf(stderr, "fork %ld: the child answered %zd bytes (a call hung?)\n", f, r);
            CHECK(r == (ssize_t)sizeof(res));
            kill(pid, SIGKILL);
        } else {
            for (int i = 0; i < FK_N; i++) {
                if (res[i] != -ECHILD)
                    fprintf(stderr, "fork %ld: %s in the child returned %ld, want -ECHILD\n", f,
                            fk_name[i], res[i]);
                CHECK(res[i] == -ECHILD);
            }
        }
        intptr_t st = (intptr_t)ringo_blocking(wait_child, &pid);
        if (st != -SIGKILL)
            fprintf(stderr, "fork %ld: the child ended with %s %ld, want SIGKILL\n", f,
                    st < 0 ? "signal" : "status", (long)(st < 0 ? -st : st));
        CHECK(st == -SIGKILL);
        close(rep[0]);
        close(p[0]);
        close(p[1]);
        close(sp[0]);
        close(sp[1]);
    }
    /* The parent goes on as if nothing happened. */
    long r0 = atomic_load(&k.rounds);
    while (atomic_load(&k.rounds) < r0 + 50 * FORK_CLIENTS)
        ringo_yield();
    atomic_store(&k.stopping, 1);
    ringo_waitgroup_wait(&k.wg);
    ringo_waitgroup_wait(&k.echoers);
    fprintf(stderr, "%ld forks; %ld echoes, %ld verified\n", forks, atomic_load(&k.rounds),
            atomic_load(&k.verified));
    CHECK(atomic_load(&k.rounds) == atomic_load(&k.verified));
    CHECK(ringo_close(k.lfd) == 0);
}

static void test_fork_child_gets_echild_parent_loses_nothing(void **state)
{
    (void)state;
    run_checked(2, fork_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_backs_off_on_emfile_and_recovers),
        cmocka_unit_test(test_fork_child_gets_echild_parent_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

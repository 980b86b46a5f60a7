/* Description: core's event-source contract (core/event.h) on its own,
 * below the io layer: each opcode does what its syscall does and completes
 * exactly once; a deadline cancels an op that would wait forever; a cancel
 * from another worker ends an op at once, and one that lost the race to the
 * completion changes nothing; a ring whose CQ is much smaller than the
 * number of ops in flight (ring_entries 4: a CQ of 16) loses and doubles no
 * completion; a child forked while ops are in flight gets -ECHILD for its
 * own and touches nothing of its parent's rings; the runtime's end delivers
 * the completion of an op that nobody cancelled. The suite runs it on
 * each backend (meson test --setup epoll), and ringo_stats names the one
 * in use.
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

/* The library is not instrumented for ThreadSanitizer, but these tests'
 * completion callbacks are: they read what the submitting fiber wrote into
 * the record, so the test publishes its records itself (submission happens
 * before completion), as the library's own callbacks need not. */
static void submit_published(ringo__worker_t *w, ringo__ev_op_t *ev)
{
    RINGO_RACE_RELEASE(ev);
    ringo__ev_submit(w, ev);
}

/* One op and the fiber waiting for it. */
struct waited {
    ringo__ev_op_t ev;
    ringo__wait_t wait;
    _Atomic int32_t res;        /* atomic: the reaper writes it, not the fiber */
    _Atomic int completions;
};

static void waited_complete(ringo__op_t *op, int32_t res, uint32_t flags)
{
    (void)flags;
    RINGO_RACE_ACQUIRE(op);
    struct waited *x = (struct waited *)op;
    x->res = res;
    atomic_fetch_add(&x->completions, 1);
    if (!atomic_load(&ringo__rt->stopping))
        ringo__unblock(&x->wait);
}

/* Submits x on the calling worker and waits for its completion. */
static int32_t run_op(struct waited *x)
{
    x->ev.op.complete = waited_complete;
    atomic_store(&x->completions, 0);
    ringo__wait_prepare(&x->wait, "event test");
    submit_published(ringo__self(), &x->ev);
    ringo__wait_block(&x->wait);
    CHECK(atomic_load(&x->completions) == 1);
    return x->res;
}

/* ---- each opcode ------------------------------------------------------------------- */

static void opcodes_main(void *arg)
{
    (void)arg;
    struct waited x;
    char buf[64];

    /* The suite runs once per backend (RINGO_BACKEND): the one forced is
     * the one in use, and ringo_stats says so. */
    ringo_stats_t st;
    ringo_stats(&st);
    const char *forced = getenv("RINGO_BACKEND");
    if (forced && strcmp(forced, "epoll") == 0)
        CHECK(st.backend == RINGO_BACKEND_EPOLL);
    else if (forced && strcmp(forced, "uring") == 0)
        CHECK(st.backend == RINGO_BACKEND_URING);
    else
        CHECK(st.backend == RINGO_BACKEND_URING || st.backend == RINGO_BACKEND_EPOLL);

    memset(&x, 0, sizeof(x));
    x.ev.opcode = RINGO__EV_NOP;
    CHECK(run_op(&x) == 0);

    int p[2];
    CHECK(pipe(p) == 0);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_WRITE, .fd = p[1], .cbuf = "hello", .len = 5, .off = -1};
    CHECK(run_op(&x) == 5);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_POLL, .fd = p[0], .flags = POLLIN};
    CHECK(run_op(&x) & POLLIN);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_READ, .fd = p[0], .buf = buf, .len = sizeof(buf), .off = -1};
    CHECK(run_op(&x) == 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    close(p[0]);
    close(p[1]);

    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_SEND, .fd = sv[0], .cbuf = "ping", .len = 4,
                            .flags = MSG_NOSIGNAL};
    CHECK(run_op(&x) == 4);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_RECV, .fd = sv[1], .buf = buf, .len = sizeof(buf)};
    CHECK(run_op(&x) == 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    close(sv[0]);
    close(sv[1]);

    char path[] = "/tmp/ringo-event-XXXXXX";
    int tfd = mkstemp(path);
    CHECK(tfd >= 0);
    close(tfd);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_OPEN, .path = path, .flags = O_RDWR | O_CLOEXEC};
    int fd = run_op(&x);
    CHECK(fd >= 0);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_WRITE, .fd = fd, .cbuf = "abcdef", .len = 6, .off = 10};
    CHECK(run_op(&x) == 6);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_FSYNC, .fd = fd, .flags = RINGO__EV_DATASYNC};
    CHECK(run_op(&x) == 0);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_READ, .fd = fd, .buf = buf, .len = 3, .off = 12};
    CHECK(run_op(&x) == 3);
    CHECK(memcmp(buf, "cde", 3) == 0);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_CLOSE, .fd = fd};
    CHECK(run_op(&x) == 0);
    CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_OPEN, .path = "/nonexistent/ringo", .flags = O_RDONLY};
    CHECK(run_op(&x) == -ENOENT);
    unlink(path);

    /* accept and connect on loopback */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(lfd, 8) == 0);
    socklen_t sl = sizeof(sa);
    CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_CONNECT, .fd = cfd, .caddr = (struct sockaddr *)&sa,
                            .socklen = sizeof(sa)};
    CHECK(run_op(&x) == 0);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_ACCEPT, .fd = lfd, .addr = (struct sockaddr *)&peer,
                            .addrlen = &plen, .flags = SOCK_CLOEXEC};
    int afd = run_op(&x);
    CHECK(afd >= 0);
    CHECK(plen == sizeof(struct sockaddr_in) && peer.ss_family == AF_INET);
    /* The fds stay blocking: no backend leaves a user's fd flags changed
     * (epoll sets O_NONBLOCK around one accept or connect only). */
    CHECK(!(fcntl(lfd, F_GETFL) & O_NONBLOCK));
    CHECK(!(fcntl(cfd, F_GETFL) & O_NONBLOCK));
    CHECK(!(fcntl(afd, F_GETFL) & O_NONBLOCK));
    close(afd);
    close(cfd);
    close(lfd);

    /* an absolute timeout fires as 0 */
    memset(&x, 0, sizeof(x));
    int64_t start = ringo__now();
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_TIMEOUT, .deadline = start + 5 * RINGO_MILLISECOND};
    CHECK(run_op(&x) == 0);
    CHECK(ringo__now() >= start + 5 * RINGO_MILLISECOND);
}

static void test_each_opcode_completes_once_with_its_result(void **state)
{
    (void)state;
    run_checked(2, opcodes_main, NULL);
}

/* ---- deadlines and cancels ------------------------------------------------------------ */

static void deadline_main(void *arg)
{
    (void)arg;
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    char buf[8];
    struct waited x;
    memset(&x, 0, sizeof(x));
    int64_t start = ringo__now();
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_RECV, .fd = sv[0], .buf = buf, .len = sizeof(buf),
                            .deadline = start + 20 * RINGO_MILLISECOND};
    CHECK(run_op(&x) == -ECANCELED);
    int64_t took = ringo__now() - start;
    CHECK(took >= 20 * RINGO_MILLISECOND);
    CHECK(took < 2 * RINGO_SECOND * time_slack());
    /* A deadline that does not pass changes nothing. */
    CHECK(write(sv[1], "x", 1) == 1);
    memset(&x, 0, sizeof(x));
    x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_RECV, .fd = sv[0], .buf = buf, .len = sizeof(buf),
                            .deadline = ringo__now() + 10 * RINGO_SECOND};
    CHECK(run_op(&x) == 1);
    close(sv[0]);
    close(sv[1]);
}

static void test_deadline_cancels_a_recv_that_would_wait_forever(void **state)
{
    (void)state;
    run_checked(2, deadline_main, NULL);
}

struct cancel_target {
    struct waited x;
    ringo__worker_t *worker;
    ringo_chan_t *submitted;
    ringo_waitgroup_t finished;
    int sv[2];
};

static void cancelled_fiber(void *arg)
{
    struct cancel_target *t = arg;
    char buf[8];
    t->x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_RECV, .fd = t->sv[0], .buf = buf, .len = sizeof(buf)};
    t->x.ev.op.complete = waited_complete;
    ringo__wait_prepare(&t->x.wait, "event test");
    t->worker = ringo__self();
    submit_published(t->worker, &t->x.ev);
    int one = 1;
    /* Buffered: the send does not park, so the recv is still in flight. */
    ringo_chan_send(t->submitted, &one);
    ringo__wait_block(&t->x.wait);
    CHECK(atomic_load(&t->x.completions) == 1);
    ringo_waitgroup_done(&t->finished);
}

/* Odd rounds send a byte just before the cancel, so the cancel races the
 * completion: either way there is one completion, with the byte or with
 * -ECANCELED. */
static void cancel_main(void *arg)
{
    (void)arg;
    long n = iters(200);
    for (long i = 0; i < n; i++) {
        struct cancel_target t;
        memset(&t, 0, sizeof(t));
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sv) == 0);
        t.submitted = ringo_chan_make(sizeof(int), 1);
        ringo_waitgroup_add(&t.finished, 1);
        CHECK(ringo_go(cancelled_fiber, &t) == 0);
        int v;
        CHECK(ringo_chan_recv(t.submitted, &v));
        if (i & 1)
            CHECK(write(t.sv[1], "x", 1) == 1);
        /* From this fiber, often on the other worker: through its inbox. */
        ringo__ev_cancel(t.worker, &t.x.ev.op);
        ringo_waitgroup_wait(&t.finished);
        if (i & 1)
            CHECK(t.x.res == 1 || t.x.res == -ECANCELED);
        else
            CHECK(t.x.res == -ECANCELED);
        ringo_chan_unref(t.submitted);
        close(t.sv[0]);
        close(t.sv[1]);
    }
}

static void test_cancel_from_another_worker_ends_the_op(void **state)
{
    (void)state;
    run_checked(2, cancel_main, NULL);
}

/* ---- many ops in flight through a tiny CQ ---------------------------------------------- */

#define FLOOD 2000

struct flood {
    ringo__ev_op_t ev[FLOOD];
    _Atomic int done[FLOOD];
    _Atomic int total;
    ringo__wait_t wait;
};

static void flood_complete(ringo__op_t *op, int32_t res, uint32_t flags)
{
    (void)flags;
    RINGO_RACE_ACQUIRE(op);
    struct flood *f = (struct flood *)((ringo__ev_op_t *)op)->buf;
    size_t i = (size_t)(((ringo__ev_op_t *)op) - f->ev);
    CHECK(res == 0);
    CHECK(atomic_fetch_add(&f->done[i], 1) == 0);
    if (atomic_fetch_add(&f->total, 1) + 1 == FLOOD)
        ringo__unblock(&f->wait);
}

static void flood_main(void *arg)
{
    (void)arg;
    long rounds = iters(20);
    struct flood *f = malloc(sizeof(*f));
    for (long r = 0; r < rounds; r++) {
        memset(f, 0, sizeof(*f));
        ringo__wait_prepare(&f->wait, "event flood");
        ringo__worker_t *w = ringo__self();
        /* All submitted before any is reaped: 2,000 completions for a CQ
         * of 16 entries overflow it many times over. */
        for (int i = 0; i < FLOOD; i++) {
            f->ev[i] = (ringo__ev_op_t){.op.complete = flood_complete, .opcode = RINGO__EV_NOP, .buf = f};
            submit_published(w, &f->ev[i]);
        }
        ringo__wait_block(&f->wait);
        CHECK(atomic_load(&f->total) == FLOOD);
        for (int i = 0; i < FLOOD; i++)
            CHECK(atomic_load(&f->done[i]) == 1);
    }
    free(f);
}

static void test_tiny_cq_loses_and_doubles_no_completion(void **state)
{
    (void)state;
    ringo_config_t cfg = {.workers = 2, .ring_entries = 4};
    atomic_store(&check_errors, 0);
    assert_int_equal(ringo_run(&cfg, flood_main, NULL), 0);
    assert_int_equal(atomic_load(&check_errors), 0);
}

/* ---- fork ---------------------------------------------------------------------------- */

struct fork_reader {
    struct waited x;
    int fd;
    ringo_chan_t *submitted;
    ringo_waitgroup_t finished;
};

static void fork_reader_fiber(void *arg)
{
    struct fork_reader *r = arg;
    char buf[8];
    r->x.ev = (ringo__ev_op_t){.opcode = RINGO__EV_RECV, .fd = r->fd, .buf = buf, .len = sizeof(buf)};
    r->x.ev.op.complete = waited_complete;
    ringo__wait_prepare(&r->x.wait, "event test");
    submit_published(ringo__self(), &r->x.ev);
    int one = 1;
    ringo_chan_send(r->submitted, &one);
    ringo__wait_block(&r->x.wait);
    CHECK(r->x.res == 1 && buf[0] == 'f');
    ringo_waitgroup_done(&r->finished);
}

static void fork_main(void *arg)
{
    (void)arg;
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    struct fork_reader r;
    memset(&r, 0, sizeof(r));
    r.fd = sv[0];
    r.submitted = ringo_chan_make(sizeof(int), 1);
    ringo_waitgroup_add(&r.finished, 1);
    CHECK(ringo_go(fork_reader_fiber, &r) == 0);
    int v;
    CHECK(ringo_chan_recv(r.submitted, &v));
    ringo_sleep(RINGO_MILLISECOND);     /* let the recv reach the kernel */
    /* The child answers through a pipe, not its exit status, which a
     * leak check (Valgrind's, at the child's exit) may override. */
    int answer[2];
    CHECK(pipe(answer) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: its op completes at once with -ECHILD, and nothing it
         * does reaches the parent's rings. */
        struct waited x;
        memset(&x, 0, sizeof(x));
        x.ev.opcode = RINGO__EV_NOP;
        char ok = run_op(&x) == -ECHILD && ringo__ev_forked() ? 'y' : 'n';
        (void)!write(answer[1], &ok, 1);
        _exit(0);
    }
    CHECK(pid > 0);
    close(answer[1]);
    char ok = 0;
    CHECK(read(answer[0], &ok, 1) == 1 && ok == 'y');
    close(answer[0]);
    CHECK(waitpid(pid, NULL, 0) == pid);
    CHECK(!ringo__ev_forked());
    /* The parent's op in flight across the fork completes as usual. */
    CHECK(write(sv[1], "f", 1) == 1);
    ringo_waitgroup_wait(&r.finished);
    ringo_chan_unref(r.submitted);
    close(sv[0]);
    close(sv[1]);
}

static void test_fork_child_gets_echild_and_parent_loses_nothing(void **state)
{
    (void)state;
    run_checked(2, fork_main, NULL);
}

/* ---- the run's end ---------------------------------------------------------------------- */

static struct waited orphan;
static int orphan_sv[2];

static void orphan_fiber(void *arg)
{
    (void)arg;
    static char buf[8];
    orphan.ev = (ringo__ev_op_t){.opcode = RINGO__EV_RECV, .fd = orphan_sv[0], .buf = buf, .len = sizeof(buf)};
    (void)run_op(&orphan);      /* never returns: the run ends first */
    CHECK(false);
}

static void orphan_main(void *arg)
{
    (void)arg;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, orphan_sv) == 0);
    CHECK(ringo_go(orphan_fiber, NULL) == 0);
    while (atomic_load(&ringo__rt->workers[0].inflight) + atomic_load(&ringo__rt->workers[1].inflight) == 0)
        ringo_sleep(RINGO_MILLISECOND);
}

static void test_run_end_completes_ops_nobody_cancelled(void **state)
{
    (void)state;
    memset(&orphan, 0, sizeof(orphan));
    run_checked(2, orphan_main, NULL);
    assert_int_equal(atomic_load(&orphan.completions), 1);
    assert_int_equal(orphan.res, -ECANCELED);
    close(orphan_sv[0]);
    close(orphan_sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_opcode_completes_once_with_its_result),
        cmocka_unit_test(test_deadline_cancels_a_recv_that_would_wait_forever),
        cmocka_unit_test(test_cancel_from_another_worker_ends_the_op),
        cmocka_unit_test(test_tiny_cq_loses_and_doubles_no_completion),
        cmocka_unit_test(test_fork_child_gets_echild_and_parent_loses_nothing),
        cmocka_unit_test(test_run_end_completes_ops_nobody_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

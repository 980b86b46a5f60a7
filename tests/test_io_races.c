/* Description: the io layer's races, on 2 workers.
 *   - Cancel racing completion: a sender and a receiver on one tcp
 *     connection, every call under its own context, which a third fiber
 *     cancels at a random moment (before the call, while it waits, as it
 *     completes, after); one context in four also has a deadline
 *     microseconds away. Each call returns once, with the whole length, a
 *     short count (only when cancelled, and then the context's next call
 *     fails at once) or -ECANCELED (-ETIMEDOUT with a deadline); the bytes
 *     the sender reports sent are
 *     exactly the bytes the receiver reports received, in order
 *     (test_cancel_racing_completion_loses_and_doubles_nothing).
 *   - fd-number reuse: a read pending on fd X is woken with -EBADF by
 *     ringo_close(X), whose socket is then really gone (its peer sees end of
 *     file); a new connection Y accepted with the same number X sees only
 *     its own peer's bytes, none of what X's old peer writes late, and the
 *     old read's buffer is never written
 *     (test_fd_number_reuse_keeps_old_peer_bytes_out).
 *   - ringo_close from a fiber on the other worker wakes a read, recv,
 *     poll, accept or write pending on the fd with -EBADF (a write that
 *     moved bytes first returns their count), promptly (a generous 500 ms
 *     bound) (test_close_wakes_pending_call_across_workers).
 *   - The peer resets the connection (SO_LINGER {1, 0}, then close) while
 *     a fiber ringo_writes / ringo_sends 8 MiB: the call returns
 *     -ECONNRESET or -EPIPE, or a short count and then that error; no
 *     SIGPIPE is raised although its disposition is SIG_DFL, and the
 *     disposition is the same afterwards (test_peer_reset_mid_write_*; in a
 *     forked child, so a SIGPIPE shows as that child's death).
 * Loop sizes scale with RINGO_TEST_ITERS and shrink under Valgrind.
 */
#include "io_stress.h"

static int worker_index(void)
{
    ringo__worker_t *w = ringo__self();
    return w ? (int)w->index : -1;
}

/* ---- cancel racing completion ------------------------------------------------------------ */

#define RACE_SEED 0x5eed
#define RACE_MAXW 8192
#define RACE_BIGW (128 * 1024)

struct race {
    int wfd, rfd;
    long ops;                   /* calls each side makes under a context */
    ringo_chan_t *ctxs;         /* unbuffered: ringo_ctx_t *, NULL when a side is done */
    ringo_waitgroup_t wg;
    /* Written by their side only, read by main after wg. */
    uint64_t sent, received;
    long w_calls, w_returns, w_cancelled, w_short;
    long r_calls, r_returns, r_cancelled;
    long cancels;
};

/* A context for one call, handed to the canceller first. One in four also
 * has a deadline a few microseconds away, which races the cancel and the
 * completion. */
static ringo_ctx_t *race_ctx(struct race *g, unsigned *seed)
{
    ringo_ctx_t *ctx = rand_r(seed) % 4 == 0
        ? ringo_with_timeout(ringo_background(), (ringo_duration_t)(rand_r(seed) % 100) * RINGO_MICROSECOND)
        : ringo_with_cancel(ringo_background());
    CHECK(ctx != NULL);
    ringo_ctx_ref(ctx);
    ringo_chan_send(g->ctxs, &ctx);
    return ctx;
}

/* r is what a call under ctx returns when ctx ended it: -ECANCELED, or
 * -ETIMEDOUT if ctx has a deadline (which may have passed while a cancel
 * was landing, so either is right then). */
static bool ctx_ended(ringo_ctx_t *ctx, ssize_t r)
{
    int64_t dl;
    if (ringo_ctx_deadline(ctx, &dl))
        return r == -ECANCELED || r == -ETIMEDOUT;
    return r == -ECANCELED;
}

static void race_sender(void *arg)
{
    struct race *g = arg;
    unsigned seed = 1;
    uint8_t *buf = malloc(RACE_BIGW);
    CHECK(buf != NULL);
    for (long i = 0; i < g->ops && buf; i++) {
        size_t len = rand_r(&seed) % 64 == 0 ? RACE_BIGW : 1 + rand_r(&seed) % RACE_MAXW;
        bool use_send = i & 1;
        pattern_fill(buf, len, RACE_SEED, g->sent);
        ringo_ctx_t *ctx = race_ctx(g, &seed);
        g->w_calls++;
        ssize_t r = use_send ? ringo_send(ctx, g->wfd, buf, len, 0) : ringo_write(ctx, g->wfd, buf, len);
        g->w_returns++;
        if (r == (ssize_t)len) {
            g->sent += len;
        } else if (r > 0 && r < (ssize_t)len) {
            /* Moved bytes, then the cancel or the deadline landed: the
             * context's next call fails at once. (ringo_ctx_err may still
             * say 0 for a deadline whose timer has not run yet, as Go's
             * ctx.Err() may.) */
            g->sent += (uint64_t)r;
            g->w_short++;
            ssize_t again = ringo_write(ctx, g->wfd, buf + r, len - (size_t)r);
            if (!ctx_ended(ctx, again))
                fprintf(stderr, "write on an ended ctx: %zd\n", again);
            CHECK(ctx_ended(ctx, again));
        } else {
            if (!ctx_ended(ctx, r))
                fprintf(stderr, "race_sender: op %ld (%s %zu): %zd\n", i, use_send ? "send" : "write",
                        len, r);
            CHECK(ctx_ended(ctx, r));
            g->w_cancelled++;
        }
        ringo_cancel(ctx);
        ringo_ctx_unref(ctx);
    }
    free(buf);
    CHECK(shutdown(g->wfd, SHUT_WR) == 0);
    ringo_ctx_t *none = NULL;
    ringo_chan_send(g->ctxs, &none);
    ringo_waitgroup_done(&g->wg);
}

static void race_receiver(void *arg)
{
    struct race *g = arg;
    unsigned seed = 2;
    static uint8_t buf[RACE_MAXW];
    bool eof = false;
    for (long i = 0; i < g->ops && !eof; i++) {
        size_t len = 1 + rand_r(&seed) % RACE_MAXW;
        bool use_recv = i & 1;
        ringo_ctx_t *ctx = race_ctx(g, &seed);
        g->r_calls++;
        ssize_t r = use_recv ? ringo_recv(ctx, g->rfd, buf, len, 0) : ringo_read(ctx, g->rfd, buf, len);
        g->r_returns++;
        if (r > 0 && r <= (ssize_t)len) {
            CHECK(pattern_check(buf, (size_t)r, RACE_SEED, g->received));
            g->received += (uint64_t)r;
        } else if (r == 0) {
            eof = true;
        } else {
            if (!ctx_ended(ctx, r))
                fprintf(stderr, "race_receiver: op %ld (%s %zu): %zd\n", i, use_recv ? "recv" : "read",
                        len, r);
            CHECK(ctx_ended(ctx, r));
            g->r_cancelled++;
        }
        ringo_cancel(ctx);
        ringo_ctx_unref(ctx);
    }
    ringo_ctx_t *none = NULL;
    ringo_chan_send(g->ctxs, &none);
    /* The rest, without contexts, to the sender's end of stream. */
    while (!eof) {
        ssize_t r = ringo_read(NULL, g->rfd, buf, sizeof(buf));
        CHECK(r >= 0);
        if (r <= 0)
            break;
        CHECK(pattern_check(buf, (size_t)r, RACE_SEED, g->received));
        g->received += (uint64_t)r;
    }
    ringo_waitgroup_done(&g->wg);
}

/* Cancels each context it is handed after a random delay: none, a yield,
 * a busy wait, or a few microseconds' sleep. */
static void race_canceller(void *arg)
{
    struct race *g = arg;
    unsigned seed = 3;
    int done = 0;
    while (done < 2) {
        ringo_ctx_t *ctx = NULL;
        CHECK(ringo_chan_recv(g->ctxs, &ctx));
        if (!ctx) {
            done++;
            continue;
        }
        switch (rand_r(&seed) % 4) {
        case 0:
            break;
        case 1:
            ringo_yield();
            break;
        case 2:
            for (volatile unsigned k = rand_r(&seed) % 20000; k > 0; k--)
                ;
            break;
        default:
            ringo_sleep((ringo_duration_t)(rand_r(&seed) % 50) * RINGO_MICROSECOND);
            break;
        }
        ringo_cancel(ctx);
        ringo_ctx_unref(ctx);
        g->cancels++;
    }
    ringo_waitgroup_done(&g->wg);
}

static void race_main(void *arg)
{
    (void)arg;
    struct race g = {.ops = scaled(50000, 500)};
    int port;
    int lfd = listen_local(&port);
    if (lfd < 0)
        return;
    g.wfd = dial_local(port);
    g.rfd = accept_one(lfd);
    CHECK(ringo_close(lfd) == 0);
    if (g.wfd < 0 || g.rfd < 0)
        return;
    g.ctxs = ringo_chan_make(sizeof(ringo_ctx_t *), 0);
    ringo_waitgroup_add(&g.wg, 3);
    CHECK(ringo_go(race_canceller, &g) == 0);
    CHECK(ringo_go(race_sender, &g) == 0);
    CHECK(ringo_go(race_receiver, &g) == 0);
    ringo_waitgroup_wait(&g.wg);

    fprintf(stderr,
            "writes: %ld calls, %ld cancelled, %ld short; reads: %ld calls, %ld cancelled; "
            "%llu bytes sent, %llu received\n",
            g.w_calls, g.w_cancelled, g.w_short, g.r_calls, g.r_cancelled,
            (unsigned long long)g.sent, (unsigned long long)g.received);
    CHECK(g.w_calls == g.ops && g.w_returns == g.ops);
    CHECK(g.r_calls == g.r_returns);
    CHECK(g.cancels == g.w_calls + g.r_calls);
    CHECK(g.sent == g.received);
    /* The race ran both ways: some calls were cancelled, most got through. */
    CHECK(g.w_cancelled + g.r_cancelled > 0);
    CHECK(g.sent > 0);
    CHECK(ringo_close(g.wfd) == 0);
    CHECK(ringo_close(g.rfd) == 0);
    ringo_chan_unref(g.ctxs);
}

static void test_cancel_racing_completion_loses_and_doubles_nothing(void **state)
{
    (void)state;
    run_checked(2, race_main, NULL);
}

/* ---- fd-number reuse ------------------------------------------------------------------------- */

#define STALE_BUF 256

enum pend_kind { PEND_READ, PEND_RECV, PEND_POLL, PEND_ACCEPT, PEND_WRITE, NPEND };
static const char *const pend_name[] = {"read", "recv", "poll", "accept", "write"};

#define PEND_WRITE_LEN (4u << 20)

struct stale {
    int x;                      /* the fd that will be closed under the reader */
    int kind;
    uint8_t *abuf;              /* the old read's buffer, a canary */
    ringo_chan_t *who, *done;
    int y;                      /* the new connection, same number */
    char got[STALE_BUF];        /* what Y's reader received */
    size_t ngot;
};

static void stale_old_reader(void *arg)
{
    struct stale *s = arg;
    ssize_t r;
    report_self(s->who);
    if (s->kind == PEND_READ)
        r = ringo_read(NULL, s->x, s->abuf, STALE_BUF);
    else if (s->kind == PEND_RECV)
        r = ringo_recv(NULL, s->x, s->abuf, STALE_BUF, 0);
    else
        r = ringo_poll(NULL, s->x, POLLIN);
    if (r != -EBADF)
        fprintf(stderr, "%s on a closed fd returned %zd, want -EBADF\n", pend_name[s->kind], r);
    CHECK(r == -EBADF);
    signal_done(s->done);
}

static void stale_new_reader(void *arg)
{
    struct stale *s = arg;
    report_self(s->who);
    for (;;) {
        ssize_t r = ringo_recv(NULL, s->y, s->got + s->ngot, sizeof(s->got) - 1 - s->ngot, 0);
        CHECK(r >= 0);
        if (r <= 0)
            break;
        s->ngot += (size_t)r;
    }
    signal_done(s->done);
}

/* Takes every free descriptor number below x, so that x is the lowest free
 * one; returns how many it took (in fill[]). */
static int fill_below(int x, int nullfd, int *fill, int cap)
{
    int n = 0;
    for (;;) {
        int f = fcntl(nullfd, F_DUPFD_CLOEXEC, 0);
        CHECK(f >= 0);
        if (f < 0 || f == x) {
            if (f >= 0)
                close(f);
            return n;
        }
        CHECK(f < x && n < cap);
        if (f > x || n >= cap) {
            close(f);
            return n;
        }
        fill[n++] = f;
    }
}

static void stale_round(int lfd, int port, int kind, int nullfd)
{
    struct stale s = {.kind = kind};
    s.abuf = malloc(STALE_BUF);
    CHECK(s.abuf != NULL);
    memset(s.abuf, 0xAA, STALE_BUF);
    s.who = ringo_chan_make(sizeof(ringo__fiber_t *), 2);
    s.done = ringo_chan_make(sizeof(int), 2);

    int xp = dial_local(port);
    s.x = accept_one(lfd);
    if (xp < 0 || s.x < 0)
        return;
    CHECK(ringo_go(stale_old_reader, &s) == 0);
    wait_parked(await_report(s.who));

    /* Y's peer dials now (Y waits in the backlog), so that its own fd
     * cannot take X's number. */
    int yp = dial_local(port);
    CHECK(ringo_close(s.x) == 0);
    await_done(s.done, 1);

    /* X's socket is really gone: nothing holds it in the kernel, so its
     * peer sees the end of the stream (within a generous 5 s). */
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 5 * RINGO_SECOND * time_slack());
    char c;
    ssize_t r = ringo_read(ctx, xp, &c, 1);
    if (r != 0)
        fprintf(stderr, "%s: X's peer read %zd, want end of file: the closed socket lives on\n",
                pend_name[kind], r);
    CHECK(r == 0);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);

    int fill[64];
    int nfill = fill_below(s.x, nullfd, fill, 64);
    s.y = accept_one(lfd);
    if (s.y != s.x)
        fprintf(stderr, "accepted fd %d, wanted %d (X's number)\n", s.y, s.x);
    CHECK(s.y == s.x);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);

    CHECK(ringo_go(stale_new_reader, &s) == 0);
    wait_parked(await_report(s.who));
    /* X's old peer writes late, before and between Y's peer's bytes. */
    static const char stale_bytes[] = "STALE-BYTES-FROM-X";
    (void)send(xp, stale_bytes, sizeof(stale_bytes) - 1, MSG_NOSIGNAL);
    CHECK(ringo_write(NULL, yp, "fresh-", 6) == 6);
    (void)send(xp, stale_bytes, sizeof(stale_bytes) - 1, MSG_NOSIGNAL);
    ringo_sleep(RINGO_MILLISECOND);
    CHECK(ringo_write(NULL, yp, "Y", 1) == 1);
    CHECK(ringo_close(yp) == 0);
    await_done(s.done, 1);
    s.got[s.ngot] = '\0';
    if (strcmp(s.got, "fresh-Y") != 0)
        fprintf(stderr, "%s: Y's reader got \"%s\", want \"fresh-Y\"\n", pend_name[kind], s.got);
    CHECK(strcmp(s.got, "fresh-Y") == 0);

    for (int i = 0; i < STALE_BUF; i++)
        if (s.abuf[i] != 0xAA) {
            fprintf(stderr, "%s: the old call's buffer was written at %d\n", pend_name[kind], i);
            CHECK(s.abuf[i] == 0xAA);
            break;
        }
    CHECK(ringo_close(s.y) == 0);
    CHECK(ringo_close(xp) == 0);
    free(s.abuf);
    ringo_chan_unref(s.who);
    ringo_chan_unref(s.done);
}

static void reuse_main(void *arg)
{
    (void)arg;
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(nullfd >= 0);
    int port;
    int lfd = listen_local(&port);
    if (lfd < 0 || nullfd < 0)
        return;
    long rounds = scaled(30, 5);
    for (long i = 0; i < rounds; i++)
        for (int kind = PEND_READ; kind <= PEND_POLL; kind++)
            stale_round(lfd, port, kind, nullfd);
    CHECK(ringo_close(lfd) == 0);
    close(nullfd);
}

static void test_fd_number_reuse_keeps_old_peer_bytes_out(void **state)
{
    (void)state;
    run_checked(2, reuse_main, NULL);
}

/* ---- close wakes a pending call, across workers ------------------------------------------ */

struct pend {
    int fd, kind;
    int rworker;                /* where the call was submitted */
    ssize_t r;
    int64_t closed_at, woke_at;
    atomic_int closer_started;
    bool crossed;
    ringo_chan_t *who, *done;
};

static void pend_caller(void *arg)
{
    struct pend *p = arg;
    char buf[64];
    ssize_t r;
    p->rworker = worker_index();
    report_self(p->who);
    switch (p->kind) {
    case PEND_READ:
        r = ringo_read(NULL, p->fd, buf, sizeof(buf));
        break;
    case PEND_RECV:
        r = ringo_recv(NULL, p->fd, buf, sizeof(buf), 0);
        break;
    case PEND_POLL:
        r = ringo_poll(NULL, p->fd, POLLIN);
        break;
    case PEND_ACCEPT:
        r = ringo_accept(NULL, p->fd, NULL);
        break;
    default: {
        /* Far more than the socket buffers hold: the write waits. */
        char *big = calloc(1, PEND_WRITE_LEN);
        r = big ? ringo_write(NULL, p->fd, big, PEND_WRITE_LEN) : -ENOMEM;
        /* Bytes already moved are returned instead of the error. */
        if (r > 0 && r < (ssize_t)PEND_WRITE_LEN)
            r = -EBADF;
        free(big);
        break;
    }
    }
    p->woke_at = ringo_now();
    p->r = r;
    signal_done(p->done);
}

static void pend_closer(void *arg)
{
    struct pend *p = arg;
    atomic_store(&p->closer_started, 1);
    for (int i = 0; i < 200 && worker_index() == p->rworker; i++)
        ringo_yield();
    p->crossed = worker_index() != p->rworker;
    p->closed_at = ringo_now();
    CHECK(ringo_close(p->fd) == 0);
    signal_done(p->done);
}

static void pend_main(void *arg)
{
    (void)arg;
    int port;
    int lfd = listen_local(&port);
    if (lfd < 0)
        return;
    long rounds = scaled(100, 10), crossed = 0;
    int64_t worst[NPEND] = {0};
    ringo_chan_t *who = ringo_chan_make(sizeof(ringo__fiber_t *), 1);
    ringo_chan_t *done = ringo_chan_make(sizeof(int), 2);
    for (long i = 0; i < rounds; i++)
        for (int kind = 0; kind < NPEND; kind++) {
            struct pend p = {.kind = kind, .who = who, .done = done};
            int c = -1, l2 = -1;
            if (kind == PEND_ACCEPT) {
                int port2;
                p.fd = l2 = listen_local(&port2);
            } else {
                c = dial_local(port);
                p.fd = accept_one(lfd);
            }
            if (p.fd < 0)
                return;
            if (kind == PEND_WRITE) {
                /* Small buffers: most of the write has to wait. */
                int small = 64 * 1024;
                CHECK(setsockopt(p.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
                CHECK(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
            }
            CHECK(ringo_go(pend_caller, &p) == 0);
            wait_parked(await_report(who));
            CHECK(ringo_go(pend_closer, &p) == 0);
            /* Hold this worker until the closer started: it started on the
             * other one (when it did). */
            for (long k = 0; k < 10000000 && !atomic_load(&p.closer_started); k++)
                ;
            await_done(done, 2);
            if (p.r != -EBADF)
                fprintf(stderr, "%s pending on an fd closed by ringo_close: %zd, want -EBADF\n",
                        pend_name[kind], p.r);
            CHECK(p.r == -EBADF);
            int64_t late = p.woke_at - p.closed_at;
            if (late > worst[kind])
                worst[kind] = late;
            CHECK(late < 500 * RINGO_MILLISECOND * time_slack());
            crossed += p.crossed;
            if (c >= 0)
                CHECK(ringo_close(c) == 0);
        }
    fprintf(stderr, "%ld of %ld closes from the other worker; slowest wake-up:", crossed, rounds * NPEND);
    for (int kind = 0; kind < NPEND; kind++)
        fprintf(stderr, " %s %.2f ms", pend_name[kind], (double)worst[kind] / 1e6);
    fprintf(stderr, "\n");
    CHECK(crossed > 0);
    CHECK(ringo_close(lfd) == 0);
    ringo_chan_unref(who);
    ringo_chan_unref(done);
}

static void test_close_wakes_pending_call_across_workers(void **state)
{
    (void)state;
    run_checked(2, pend_main, NULL);
}

/* ---- peer reset mid-write ------------------------------------------------------------------ */

#define RESET_LEN (8u << 20)

struct reset {
    int fd;
    bool use_send;
    ssize_t r1, r2;
    ringo_chan_t *who, *done;
};

static ssize_t reset_put(struct reset *t, const uint8_t *buf, size_t len)
{
    return t->use_send ? ringo_send(NULL, t->fd, buf, len, 0) : ringo_write(NULL, t->fd, buf, len);
}

static void reset_writer(void *arg)
{
    struct reset *t = arg;
    uint8_t *buf = malloc(RESET_LEN);
    CHECK(buf != NULL);
    if (buf) {
        memset(buf, 'w', RESET_LEN);
        report_self(t->who);
        t->r1 = reset_put(t, buf, RESET_LEN);
        t->r2 = 1;
        if (t->r1 >= 0 && t->r1 < (ssize_t)RESET_LEN)
            t->r2 = reset_put(t, buf + t->r1, RESET_LEN - (size_t)t->r1);
        free(buf);
    }
    signal_done(t->done);
}

static bool sigpipe_default(void)
{
    struct sigaction sa;
    sigset_t mask;
    if (sigaction(SIGPIPE, NULL, &sa) != 0 || pthread_sigmask(SIG_SETMASK, NULL, &mask) != 0)
        return false;
    return sa.sa_handler == SIG_DFL && !sigismember(&mask, SIGPIPE);
}

static bool reset_with_send;

static void reset_main(void *arg)
{
    (void)arg;
    CHECK(sigpipe_default());
    int port;
    int lfd = listen_local(&port);
    if (lfd < 0)
        return;
    long rounds = scaled(10, 2);
    ringo_chan_t *who = ringo_chan_make(sizeof(ringo__fiber_t *), 1);
    ringo_chan_t *done = ringo_chan_make(sizeof(int), 1);
    for (long i = 0; i < rounds; i++) {
        struct reset t = {.use_send = reset_with_send, .who = who, .done = done};
        t.fd = dial_local(port);
        int s = accept_one(lfd);
        if (t.fd < 0 || s < 0)
            return;
        /* Small buffers, so that most of the 8 MiB waits in the call. */
        int small = 64 * 1024;
        CHECK(setsockopt(t.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
        CHECK(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
        CHECK(ringo_go(reset_writer, &t) == 0);
        wait_parked(await_report(who));
        /* The bytes are flowing: read some, then reset. */
        static uint8_t some[64 * 1024];
        CHECK(read_full(NULL, s, some, sizeof(some)) == (ssize_t)sizeof(some));
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
        CHECK(ringo_close(s) == 0);
        await_done(done, 1);

        bool r1_err = t.r1 == -ECONNRESET || t.r1 == -EPIPE;
        bool r1_short = t.r1 >= (ssize_t)sizeof(some) && t.r1 < (ssize_t)RESET_LEN;
        bool r2_err = t.r2 == -ECONNRESET || t.r2 == -EPIPE;
        if (!(r1_err || (r1_short && r2_err)))
            fprintf(stderr, "%s of 8 MiB into a reset connection: %zd, then %zd\n",
                    reset_with_send ? "ringo_send" : "ringo_write", t.r1, t.r2);
        CHECK(r1_err || (r1_short && r2_err));
        CHECK(ringo_close(t.fd) == 0);
        CHECK(sigpipe_default());
    }
    CHECK(ringo_close(lfd) == 0);
    ringo_chan_unref(who);
    ringo_chan_unref(done);
}

static void reset_child(void)
{
    if (!sigpipe_default()) {
        fprintf(stderr, "SIGPIPE is not at SIG_DFL and unblocked in the test process\n");
        _exit(3);
    }
    ringo_config_t cfg = {.workers = 2};
    atomic_store(&check_errors, 0);
    int rc = ringo_run(&cfg, reset_main, NULL);
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
        fprintf(stderr, "a SIGPIPE is pending\n");
        _exit(4);
    }
    if (!sigpipe_default()) {
        fprintf(stderr, "SIGPIPE's disposition or mask changed\n");
        _exit(5);
    }
    _exit(rc == 0 && atomic_load(&check_errors) == 0 ? 0 : 1);
}

static void test_peer_reset_mid_write_no_sigpipe(void **state)
{
    (void)state;
    reset_with_send = false;
    in_child(reset_child, "ringo_write into a reset connection");
}

static void test_peer_reset_mid_send_no_sigpipe(void **state)
{
    (void)state;
    reset_with_send = true;
    in_child(reset_child, "ringo_send into a reset connection");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_racing_completion_loses_and_doubles_nothing),
        cmocka_unit_test(test_fd_number_reuse_keeps_old_peer_bytes_out),
        cmocka_unit_test(test_close_wakes_pending_call_across_workers),
        cmocka_unit_test(test_peer_reset_mid_write_no_sigpipe),
        cmocka_unit_test(test_peer_reset_mid_send_no_sigpipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

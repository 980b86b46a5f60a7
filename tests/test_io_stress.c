/* Description: the io layer (ringo/io.h) under load, on 2 workers.
 *   - 10,000 connections dialled, accepted, echoed once and closed at both
 *     ends with ringo_close: afterwards the process holds as many
 *     descriptors as before (test_conn_churn_returns_fds_to_baseline).
 *   - The same 10,000 connections on rings of 4 submission entries, whose
 *     completion queues overflow over and over with hundreds of operations
 *     in flight: every call returns once, with the right bytes
 *     (test_tiny_ring_cq_overflow_loses_no_completion).
 *   - main returns while 1,000 connections have reads pending at both ends
 *     (2,000 fibers parked in the kernel): ringo_run returns within a
 *     second, every descriptor the runtime made is closed, and the
 *     sanitizers find no leak; a second run then works as usual
 *     (test_shutdown_with_reads_in_flight_returns_promptly).
 *   - More ringo_blocking calls than the pool has threads: none runs beyond
 *     the pool's size, each returns its own result, and the workers keep
 *     running fibers and io while every pool thread is busy
 *     (test_blocking_calls_beyond_pool_size_all_complete,
 *      test_blocking_pool_size_from_environment).
 * Loop sizes scale with RINGO_TEST_ITERS and shrink under Valgrind.
 */
#include "io_stress.h"

#include <pthread.h>

/* ---- connection churn ------------------------------------------------------------------ */

#define CHURN_CLIENTS 32

struct churn {
    int lfd, port;
    long n;
    atomic_long next;           /* the next connection a client takes */
    atomic_long served, verified;
    ringo_waitgroup_t wg;       /* clients and handlers */
};

struct churn_conn {
    struct churn *c;
    int fd;
};

/* Server end: reads the client's 8 bytes, echoes them, closes first. */
static void churn_handler(void *arg)
{
    struct churn_conn cc = *(struct churn_conn *)arg;
    uint64_t v;
    ssize_t r = read_full(NULL, cc.fd, &v, sizeof(v));
    CHECK(r == (ssize_t)sizeof(v));
    if (r == (ssize_t)sizeof(v))
        CHECK(ringo_write(NULL, cc.fd, &v, sizeof(v)) == (ssize_t)sizeof(v));
    CHECK(ringo_close(cc.fd) == 0);
    atomic_fetch_add(&cc.c->served, 1);
    ringo_waitgroup_done(&cc.c->wg);
}

static void churn_acceptor(void *arg)
{
    struct churn *c = arg;
    for (long i = 0; i < c->n; i++) {
        struct churn_conn cc = {c, accept_one(c->lfd)};
        if (cc.fd < 0) {
            ringo_waitgroup_add(&c->wg, (int)-(c->n - i));
            break;
        }
        CHECK(ringo_go_copy(churn_handler, &cc, sizeof(cc)) == 0);
    }
    ringo_waitgroup_done(&c->wg);
}

static void churn_client(void *arg)
{
    struct churn *c = arg;
    long i;
    while ((i = atomic_fetch_add(&c->next, 1)) < c->n) {
        int fd = dial_local(c->port);
        if (fd < 0)
            break;
        uint64_t v = (uint64_t)i * 7919u + 1, back = 0;
        CHECK(ringo_write(NULL, fd, &v, sizeof(v)) == (ssize_t)sizeof(v));
        CHECK(read_full(NULL, fd, &back, sizeof(back)) == (ssize_t)sizeof(back));
        CHECK(back == v);
        char more;
        CHECK(ringo_read(NULL, fd, &more, 1) == 0);     /* the server closed */
        CHECK(ringo_close(fd) == 0);
        if (back == v)
            atomic_fetch_add(&c->verified, 1);
    }
    ringo_waitgroup_done(&c->wg);
}

/* n connections through lfd by CHURN_CLIENTS clients at once. */
static void churn(int lfd, int port, long n)
{
    struct churn c = {.lfd = lfd, .port = port, .n = n};
    ringo_waitgroup_add(&c.wg, (int)(1 + CHURN_CLIENTS + n));
    CHECK(ringo_go(churn_acceptor, &c) == 0);
    for (int i = 0; i < CHURN_CLIENTS; i++)
        CHECK(ringo_go(churn_client, &c) == 0);
    ringo_waitgroup_wait(&c.wg);
    CHECK(atomic_load(&c.served) == n);
    CHECK(atomic_load(&c.verified) == n);
}

static void churn_main(void *arg)
{
    (void)arg;
    int port;
    int lfd = listen_local(&port);
    if (lfd < 0)
        return;
    /* One connection first, so that whatever the io layer makes once (on
     * first use) is in the baseline. */
    churn(lfd, port, 1);
    long before = count_fds();
    long n = scaled(10000, 300);
    int64_t t0 = ringo_now();
    churn(lfd, port, n);
    long after = count_fds();
    if (after != before) {
        fprintf(stderr, "descriptors: %ld before %ld connections, %ld after\n", before, n, after);
        dump_fds("after");
    }
    CHECK(after == before);
    fprintf(stderr, "%ld connections in %.2f s\n", n, (double)(ringo_now() - t0) / 1e9);
    CHECK(ringo_close(lfd) == 0);
}

static void test_conn_churn_returns_fds_to_baseline(void **state)
{
    (void)state;
    run_checked(2, churn_main, NULL);
}

/* ---- completion-queue overflow on a tiny ring ------------------------------------------------ */

#define OVF_CLIENTS 256
#define OVF_MSG 48

struct ovf {
    int lfd, port;
    long n;
    atomic_long next;
    atomic_long calls, returns;     /* io calls made and returned, clients and handlers */
    atomic_long echoed, verified;
    ringo_waitgroup_t wg;
};

#define OVF_CALL(o, expr)                                   \
    ({                                                      \
        atomic_fetch_add(&(o)->calls, 1);                   \
        __typeof__(expr) r_ = (expr);                       \
        atomic_fetch_add(&(o)->returns, 1);                 \
        r_;                                                 \
    })

struct ovf_conn {
    struct ovf *o;
    int fd;
};

static void ovf_handler(void *arg)
{
    struct ovf_conn oc = *(struct ovf_conn *)arg;
    struct ovf *o = oc.o;
    uint8_t buf[OVF_MSG];
    size_t got = 0;
    while (got < OVF_MSG) {
        ssize_t r = OVF_CALL(o, ringo_recv(NULL, oc.fd, buf + got, OVF_MSG - got, 0));
        CHECK(r > 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == OVF_MSG) {
        CHECK(OVF_CALL(o, ringo_send(NULL, oc.fd, buf, OVF_MSG, 0)) == OVF_MSG);
        atomic_fetch_add(&o->echoed, 1);
    }
    CHECK(OVF_CALL(o, ringo_close(oc.fd)) == 0);
    ringo_waitgroup_done(&o->wg);
}

static void ovf_acceptor(void *arg)
{
    struct ovf *o = arg;
    for (long i = 0; i < o->n; i++) {
        struct ovf_conn oc = {o, OVF_CALL(o, ringo_accept(NULL, o->lfd, NULL))};
        CHECK(oc.fd >= 0);
        if (oc.fd < 0) {
            ringo_waitgroup_add(&o->wg, (int)-(o->n - i));
            break;
        }
        CHECK(ringo_go_copy(ovf_handler, &oc, sizeof(oc)) == 0);
    }
    ringo_waitgroup_done(&o->wg);
}

static void ovf_client(void *arg)
{
    struct ovf *o = arg;
    long i;
    while ((i = atomic_fetch_add(&o->next, 1)) < o->n) {
        int fd = OVF_CALL(o, dial_ctx(NULL, o->port));
        CHECK(fd >= 0);
        if (fd < 0)
            break;
        uint8_t out[OVF_MSG], in[OVF_MSG];
        pattern_fill(out, OVF_MSG, (uint64_t)i, 0);
        memset(in, 0, sizeof(in));
        CHECK(OVF_CALL(o, ringo_write(NULL, fd, out, OVF_MSG)) == OVF_MSG);
        ssize_t r = OVF_CALL(o, read_full(NULL, fd, in, OVF_MSG));
        CHECK(r == OVF_MSG);
        if (r == OVF_MSG && pattern_check(in, OVF_MSG, (uint64_t)i, 0))
            atomic_fetch_add(&o->verified, 1);
        else
            CHECK(!"echo differs");
        CHECK(OVF_CALL(o, ringo_read(NULL, fd, in, 1)) == 0);
        CHECK(OVF_CALL(o, ringo_close(fd)) == 0);
    }
    ringo_waitgroup_done(&o->wg);
}

static void ovf_main(void *arg)
{
    (void)arg;
    struct ovf o = {.n = scaled(10000, 300)};
    o.lfd = listen_local(&o.port);
    if (o.lfd < 0)
        return;
    ringo_waitgroup_add(&o.wg, (int)(1 + OVF_CLIENTS + o.n));
    CHECK(ringo_go(ovf_acceptor, &o) == 0);
    for (int i = 0; i < OVF_CLIENTS; i++)
        CHECK(ringo_go(ovf_client, &o) == 0);
    ringo_waitgroup_wait(&o.wg);
    CHECK(atomic_load(&o.echoed) == o.n);
    CHECK(atomic_load(&o.verified) == o.n);
    CHECK(atomic_load(&o.calls) == atomic_load(&o.returns));
    CHECK(ringo_close(o.lfd) == 0);
}

static void test_tiny_ring_cq_overflow_loses_no_completion(void **state)
{
    (void)state;
    /* 4 submission entries: the completion queue holds 8 or 16, far fewer
     * than the operations in flight. */
    run_cfg(2, 4, ovf_main, NULL);
}

/* ---- shutdown with reads in flight --------------------------------------------------------- */

struct shut {
    long n;
    int lfd;
    int *fds;                   /* 2n: both ends of each connection */
    ringo_chan_t *who;
    int64_t returned_at;        /* when main returned */
    atomic_long woke;           /* readers that returned (none should) */
};

struct shut_reader {
    struct shut *s;
    int fd;
};

static void shut_reader(void *arg)
{
    struct shut_reader sr = *(struct shut_reader *)arg;
    char buf[64];
    report_self(sr.s->who);
    ssize_t r = ringo_read(NULL, sr.fd, buf, sizeof(buf));
    /* Nothing is ever written and nobody closes: reaching here at all is
     * wrong while main runs. */
    fprintf(stderr, "shut_reader: read returned %zd\n", r);
    atomic_fetch_add(&sr.s->woke, 1);
}

static void shut_main(void *arg)
{
    struct shut *s = arg;
    int port;
    s->lfd = listen_local(&port);
    if (s->lfd < 0)
        return;
    for (long i = 0; i < s->n; i++) {
        s->fds[2 * i] = dial_local(port);
        s->fds[2 * i + 1] = accept_one(s->lfd);
        for (int e = 0; e < 2; e++) {
            struct shut_reader sr = {s, s->fds[2 * i + e]};
            if (sr.fd >= 0)
                CHECK(ringo_go_copy(shut_reader, &sr, sizeof(sr)) == 0);
        }
    }
    long parked = 0;
    for (long i = 0; i < 2 * s->n; i++)
        if (s->fds[i] >= 0) {
            wait_parked(await_report(s->who));
            parked++;
        }
    CHECK(parked == 2 * s->n);
    CHECK(atomic_load(&s->woke) == 0);
    s->returned_at = ringo_now();
}

/* After a run that ended with reads in flight, an ordinary echo. */
static void after_main(void *arg)
{
    (void)arg;
    int port;
    int lfd = listen_local(&port);
    if (lfd < 0)
        return;
    int c = dial_local(port), s = accept_one(lfd);
    ringo_waitgroup_t echoer = {0};
    go_echo(s, &echoer);
    uint8_t out[1000], in[1000];
    for (int round = 0; round < 10; round++) {
        pattern_fill(out, sizeof(out), 99, (uint64_t)round * sizeof(out));
        CHECK(ringo_write(NULL, c, out, sizeof(out)) == (ssize_t)sizeof(out));
        CHECK(read_full(NULL, c, in, sizeof(in)) == (ssize_t)sizeof(in));
        CHECK(memcmp(in, out, sizeof(in)) == 0);
    }
    CHECK(ringo_close(c) == 0);
    ringo_waitgroup_wait(&echoer);
    CHECK(ringo_close(lfd) == 0);
}

static void test_shutdown_with_reads_in_flight_returns_promptly(void **state)
{
    (void)state;
    /* 1,000 whatever RINGO_TEST_ITERS says: the AddressSanitizer build is
     * where leaks show. Valgrind gets 200, and so does ThreadSanitizer,
     * whose fibers cost milliseconds each to make and to free (2,000 of
     * them parked on channels alone take over a second to tear down). */
    bool few = ringo__on_valgrind();
#ifdef RINGO_TSAN
    few = true;
#endif
    struct shut s = {.n = few ? 200 : 1000};
    assert_non_null(s.fds = malloc(2 * (size_t)s.n * sizeof(int)));
    assert_non_null(s.who = ringo_chan_make(sizeof(ringo__fiber_t *), 2 * (size_t)s.n));
    long before = count_fds();

    run_checked(2, shut_main, &s);
    int64_t late = ringo_now() - s.returned_at;
    fprintf(stderr, "ringo_run returned %.1f ms after main, with %ld reads in flight\n",
            (double)late / 1e6, 2 * s.n);
    assert_true(late < RINGO_SECOND * time_slack());
    assert_int_equal(atomic_load(&s.woke), 0);

    /* The fds are the test's, as the io layer's contract has it. */
    for (long i = 0; i < 2 * s.n; i++)
        if (s.fds[i] >= 0)
            assert_int_equal(close(s.fds[i]), 0);
    assert_int_equal(close(s.lfd), 0);
    /* Nothing else stays open: the rings and whatever the io layer made. */
    if (count_fds() != before)
        dump_fds("after");
    assert_int_equal(count_fds(), before);
    ringo_chan_unref(s.who);
    free(s.fds);

    run_checked(2, after_main, NULL);
    if (count_fds() != before)
        dump_fds("after a second run");
    assert_int_equal(count_fds(), before);
}

/* ---- the blocking pool ----------------------------------------------------------------- */

struct gate {
    pthread_mutex_t lock;       /* protects open */
    pthread_cond_t opened;
    bool open;
    atomic_int inside, max_inside, started;
};

struct bcall {
    struct gate *g;
    long in, out;
};

/* Runs on a pool thread: blocks the thread until the gate opens. */
static void *gated(void *arg)
{
    struct bcall *b = arg;
    struct gate *g = b->g;
    atomic_fetch_add(&g->started, 1);
    int n = atomic_fetch_add(&g->inside, 1) + 1;
    int m = atomic_load(&g->max_inside);
    while (n > m && !atomic_compare_exchange_weak(&g->max_inside, &m, n))
        ;
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->opened, &g->lock);
    pthread_mutex_unlock(&g->lock);
    b->out = b->in * 3 + 1;
    atomic_fetch_sub(&g->inside, 1);
    return b;
}

struct blk {
    struct gate g;
    int calls;
    int pool;                   /* the pool's documented size */
    atomic_int right;
    ringo_waitgroup_t wg;
};

struct blk_arg {
    struct blk *k;
    long i;
};

static void blocking_caller(void *arg)
{
    struct blk_arg a = *(struct blk_arg *)arg;
    struct bcall b = {&a.k->g, a.i, 0};
    void *r = ringo_blocking(gated, &b);
    CHECK(r == &b);
    CHECK(b.out == a.i * 3 + 1);
    if (r == &b && b.out == a.i * 3 + 1)
        atomic_fetch_add(&a.k->right, 1);
    ringo_waitgroup_done(&a.k->wg);
}

static void ping(void *arg)
{
    ringo_chan_t **ch = arg;
    int v;
    while (ringo_chan_recv(ch[0], &v))
        ringo_chan_send(ch[1], &v);
}

static void blk_main(void *arg)
{
    struct blk *k = arg;
    ringo_waitgroup_add(&k->wg, k->calls);
    for (int i = 0; i < k->calls; i++) {
        struct blk_arg a = {k, i};
        CHECK(ringo_go_copy(blocking_caller, &a, sizeof(a)) == 0);
    }
    /* Let the pool fill up: up to 5 s for as many calls as it has threads
     * (a pool may run fewer; what it must not do is run more). */
    int want = k->calls < k->pool ? k->calls : k->pool;
    int64_t until = ringo_now() + 5 * RINGO_SECOND * time_slack();
    while (atomic_load(&k->g.started) < want && ringo_now() < until)
        ringo_sleep(RINGO_MILLISECOND);
    CHECK(atomic_load(&k->g.started) >= 1);

    /* Every pool thread is blocked: fibers, channels, timers and io must
     * still run on both workers. */
    ringo_chan_t *ch[2] = {ringo_chan_make(sizeof(int), 0), ringo_chan_make(sizeof(int), 0)};
    CHECK(ringo_go(ping, ch) == 0);
    for (int i = 0; i < 1000; i++) {
        int v = i, back = -1;
        ringo_chan_send(ch[0], &v);
        CHECK(ringo_chan_recv(ch[1], &back) && back == i);
    }
    ringo_chan_close(ch[0]);
    ringo_sleep(RINGO_MILLISECOND);
    int port;
    int lfd = listen_local(&port);
    if (lfd >= 0) {
        int c = dial_local(port), s = accept_one(lfd);
        ringo_waitgroup_t echoer = {0};
        go_echo(s, &echoer);
        for (int round = 0; round < 100; round++) {
            uint8_t out[256], in[256];
            pattern_fill(out, sizeof(out), 5, (uint64_t)round * sizeof(out));
            CHECK(ringo_write(NULL, c, out, sizeof(out)) == (ssize_t)sizeof(out));
            CHECK(read_full(NULL, c, in, sizeof(in)) == (ssize_t)sizeof(in));
            CHECK(memcmp(in, out, sizeof(in)) == 0);
        }
        CHECK(ringo_close(c) == 0);
        ringo_waitgroup_wait(&echoer);
        CHECK(ringo_close(lfd) == 0);
    }
    CHECK(atomic_load(&k->right) == 0);     /* none got past the gate */

    pthread_mutex_lock(&k->g.lock);
    k->g.open = true;
    pthread_cond_broadcast(&k->g.opened);
    pthread_mutex_unlock(&k->g.lock);
    ringo_waitgroup_wait(&k->wg);
    int max = atomic_load(&k->g.max_inside);
    fprintf(stderr, "%d blocking calls, at most %d at once (pool of %d)\n", k->calls, max, k->pool);
    CHECK(max >= 1 && max <= k->pool);
    CHECK(atomic_load(&k->right) == k->calls);
    ringo_chan_unref(ch[0]);
    ringo_chan_unref(ch[1]);
}

static void test_blocking_calls_beyond_pool_size_all_complete(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("RINGO_BLOCKING_THREADS"), 0);
    struct blk k = {.calls = 200, .pool = 64};
    pthread_mutex_init(&k.g.lock, NULL);
    pthread_cond_init(&k.g.opened, NULL);
    run_checked(2, blk_main, &k);
    pthread_cond_destroy(&k.g.opened);
    pthread_mutex_destroy(&k.g.lock);
}

static void test_blocking_pool_size_from_environment(void **state)
{
    (void)state;
    assert_int_equal(setenv("RINGO_BLOCKING_THREADS", "4", 1), 0);
    struct blk k = {.calls = 40, .pool = 4};
    pthread_mutex_init(&k.g.lock, NULL);
    pthread_cond_init(&k.g.opened, NULL);
    run_checked(2, blk_main, &k);
    pthread_cond_destroy(&k.g.opened);
    pthread_mutex_destroy(&k.g.lock);
    assert_int_equal(unsetenv("RINGO_BLOCKING_THREADS"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_churn_returns_fds_to_baseline),
        cmocka_unit_test(test_tiny_ring_cq_overflow_loses_no_completion),
        cmocka_unit_test(test_shutdown_with_reads_in_flight_returns_promptly),
        cmocka_unit_test(test_blocking_pool_size_from_environment),
        cmocka_unit_test(test_blocking_calls_beyond_pool_size_all_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: the weighted semaphore (ringo_sem_t in ringo/sync.h), ported
 * from golang.org/x/sync/semaphore's semaphore_test.go where it applies.
 * init sets the capacity (the zero value has none); try_acquire succeeds
 * only when the weight fits and nobody is queued; waiters are served in
 * arrival order and a later small request never overtakes a queued big one;
 * a big request is not starved by small ones cycling; an acquire whose
 * context times out gives -ETIMEDOUT and one whose context another fiber
 * cancels gives -ECANCELED, and a waiter that gives up unblocks the ones
 * queued behind it; a request larger than the capacity waits until its
 * context ends without blocking anyone else; a NULL context waits for as
 * long as it takes; releasing more than is held panics; many fibers of
 * different weights never hold more than the capacity together; a context
 * that has already ended fails the acquire even with units free.
 */
#include "common.h"
#include "internal.h"

#include <stdatomic.h>

/* ---- helpers ------------------------------------------------------------------------------- */

/* A fiber that acquires n with ctx (its own reference, dropped after) and
 * reports the result on `result`. */
struct acq {
    ringo_sem_t *s;
    ringo_ctx_t *ctx;           /* NULL: wait forever */
    int64_t n;
    ringo_chan_t *who;          /* cap 1+ */
    ringo_chan_t *result;       /* cap 1+: int */
};

static void acquirer(void *arg)
{
    struct acq *a = arg;
    report_self(a->who);
    int rc = ringo_sem_acquire(a->ctx, a->s, a->n);
    if (a->ctx)
        ringo_ctx_unref(a->ctx);
    ringo_chan_send(a->result, &rc);
}

static int await_result(ringo_chan_t *result)
{
    int rc = 12345;
    assert_true(ringo_chan_recv(result, &rc));
    return rc;
}

/* ---- capacity and try_acquire ------------------------------------------------------------------ */

/* NewWeighted(n): the capacity is exactly n; the zero value has none. */
static void capacity_main(void *arg)
{
    (void)arg;
    ringo_sem_t zero = {{0}};
    assert_false(ringo_sem_try_acquire(&zero, 1));

    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 5);
    assert_true(ringo_sem_try_acquire(&s, 5));
    assert_false(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 5);
    assert_false(ringo_sem_try_acquire(&s, 6));
    assert_true(ringo_sem_try_acquire(&s, 3));
    assert_false(ringo_sem_try_acquire(&s, 3));
    assert_true(ringo_sem_try_acquire(&s, 2));
    assert_false(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 2);
    ringo_sem_release(&s, 3);
    assert_int_equal(ringo_sem_acquire(NULL, &s, 4), 0);
    assert_int_equal(ringo_sem_acquire(ringo_background(), &s, 1), 0);
    assert_false(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 5);
    assert_true(ringo_sem_try_acquire(&s, 5));
    ringo_sem_release(&s, 5);
}

static void test_sem_capacity(void **state)
{
    (void)state;
    run_main(2, capacity_main, NULL);
}

/* TestWeightedTryAcquire: {true, false, true, false}. */
static void try_acquire_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 2);
    assert_int_equal(ringo_sem_acquire(ringo_background(), &s, 1), 0);
    assert_true(ringo_sem_try_acquire(&s, 1));
    assert_false(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 2);
    assert_true(ringo_sem_try_acquire(&s, 1));
    assert_int_equal(ringo_sem_acquire(ringo_background(), &s, 1), 0);
    assert_false(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 2);
}

static void test_sem_try_acquire(void **state)
{
    (void)state;
    run_main(2, try_acquire_main, NULL);
}

/* TestWeightedAcquire: Acquire with a short timeout as a try: {true, false,
 * true, false}. */
static bool acquire_within(ringo_sem_t *s, int64_t n, ringo_duration_t d)
{
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), d);
    assert_non_null(ctx);
    int rc = ringo_sem_acquire(ctx, s, n);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    assert_true(rc == 0 || rc == -ETIMEDOUT);
    return rc == 0;
}

static void acquire_timeout_try_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 2);
    assert_int_equal(ringo_sem_acquire(ringo_background(), &s, 1), 0);
    assert_true(acquire_within(&s, 1, 20 * RINGO_MILLISECOND));
    assert_false(acquire_within(&s, 1, 20 * RINGO_MILLISECOND));
    ringo_sem_release(&s, 2);
    assert_true(acquire_within(&s, 1, 20 * RINGO_MILLISECOND));
    assert_int_equal(ringo_sem_acquire(ringo_background(), &s, 1), 0);
    assert_false(acquire_within(&s, 1, 20 * RINGO_MILLISECOND));
    ringo_sem_release(&s, 2);
}

static void test_sem_acquire_with_timeout(void **state)
{
    (void)state;
    run_main(2, acquire_timeout_try_main, NULL);
}

/* ---- FIFO order --------------------------------------------------------------------------------- */

struct qw {
    ringo_sem_t *s;
    int64_t n;
    int id;
    ringo_chan_t *who;          /* cap 1 */
    ringo_chan_t *got;          /* cap 8: ids, sent once acquired */
    ringo_chan_t *release;      /* cap 1: main says "let go" */
    ringo_chan_t *done;         /* cap 8 */
    atomic_int rc;
};

static void queued_waiter(void *arg)
{
    struct qw *w = arg;
    report_self(w->who);
    atomic_store(&w->rc, ringo_sem_acquire(NULL, w->s, w->n));
    ringo_chan_send(w->got, &w->id);
    int one;
    (void)ringo_chan_recv(w->release, &one);
    ringo_sem_release(w->s, w->n);
    signal_done(w->done);
}

static int next_got(ringo_chan_t *got)
{
    int id = -1;
    assert_true(ringo_chan_recv(got, &id));
    return id;
}

static void let_go(struct qw *w)
{
    int one = 1;
    ringo_chan_send(w->release, &one);
}

/* x/sync's Weighted is FIFO: "Acquire ... blocks ... in FIFO order";
 * TestLargeAcquireDoesntStarve's premise. Capacity 3, fully held: A(3),
 * B(1), C(2) queue in that order. Freeing 1 serves nobody (A is first and
 * needs 3), and a later D(1) queues too rather than take the free unit;
 * freeing 2 more serves A alone; when A lets go, B and C are served
 * together and D still waits behind them; D is served when B lets go. */
static void fifo_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 3);
    ringo_chan_t *got = ringo_chan_make(sizeof(int), 8);
    ringo_chan_t *done = ringo_chan_make(sizeof(int), 8);
    static const int64_t sizes[] = {3, 1, 2, 1};
    enum { A, B, C, D, NW };
    struct qw w[NW];
    for (int i = 0; i < NW; i++)
        w[i] = (struct qw){.s = &s, .n = sizes[i], .id = i,
                           .who = ringo_chan_make(sizeof(void *), 1), .got = got,
                           .release = ringo_chan_make(sizeof(int), 1), .done = done,
                           .rc = -1};

    assert_int_equal(ringo_sem_acquire(NULL, &s, 3), 0);
    for (int i = A; i <= C; i++) {
        assert_int_equal(ringo_go(queued_waiter, &w[i]), 0);
        wait_parked(await_report(w[i].who));
    }
    assert_false(ringo_sem_try_acquire(&s, 1));

    ringo_sem_release(&s, 1);                   /* 1 free; A (first) needs 3 */
    assert_false(ringo_sem_try_acquire(&s, 1)); /* a new request does not jump the queue */
    assert_int_equal(ringo_go(queued_waiter, &w[D]), 0);
    wait_parked(await_report(w[D].who));
    /* Had D taken the free unit it would have reported before parking. */
    assert_int_equal(ringo_chan_try_recv(got, NULL), -EAGAIN);

    ringo_sem_release(&s, 2);                   /* 3 free: A, and only A */
    assert_int_equal(next_got(got), A);
    assert_int_equal(atomic_load(&w[A].rc), 0);
    assert_int_equal(ringo_chan_try_recv(got, NULL), -EAGAIN);
    assert_false(ringo_sem_try_acquire(&s, 1));

    let_go(&w[A]);                              /* B(1) and C(2) fit together */
    int first = next_got(got), second = next_got(got);
    assert_true((first == B && second == C) || (first == C && second == B));
    assert_int_equal(atomic_load(&w[B].rc), 0);
    assert_int_equal(atomic_load(&w[C].rc), 0);
    assert_int_equal(ringo_chan_try_recv(got, NULL), -EAGAIN);   /* D: full */

    let_go(&w[B]);                              /* 1 free: D */
    assert_int_equal(next_got(got), D);
    assert_int_equal(atomic_load(&w[D].rc), 0);
    let_go(&w[C]);
    let_go(&w[D]);
    await_done(done, NW);

    assert_true(ringo_sem_try_acquire(&s, 3));
    ringo_sem_release(&s, 3);
    for (int i = 0; i < NW; i++) {
        ringo_chan_unref(w[i].who);
        ringo_chan_unref(w[i].release);
    }
    ringo_chan_unref(got);
    ringo_chan_unref(done);
}

static void test_sem_fifo_order(void **state)
{
    (void)state;
    run_main(2, fifo_main, NULL);
}

struct chain {
    ringo_sem_t s;
    atomic_int pos;
    atomic_int order[32];
    ringo_chan_t *who;
    ringo_chan_t *done;
};

struct link {
    struct chain *c;
    int id;
};

static void chain_waiter(void *arg)
{
    struct link l = *(struct link *)arg;
    report_self(l.c->who);
    if (ringo_sem_acquire(NULL, &l.c->s, 1) != 0)
        atomic_store(&l.c->order[31], -1);
    atomic_store(&l.c->order[atomic_fetch_add(&l.c->pos, 1)], l.id);
    ringo_sem_release(&l.c->s, 1);
    signal_done(l.c->done);
}

/* FIFO among equal weights: capacity 1, held; 30 waiters queue one after
 * another; released once, they get it in arrival order (each passes it on
 * to the next). */
static void chain_main(void *arg)
{
    (void)arg;
    enum { N = 30 };
    struct chain c = {.s = {{0}}, .who = ringo_chan_make(sizeof(void *), 1),
                      .done = ringo_chan_make(sizeof(int), N)};
    ringo_sem_init(&c.s, 1);
    assert_int_equal(ringo_sem_acquire(NULL, &c.s, 1), 0);
    for (int i = 0; i < N; i++) {
        struct link l = {.c = &c, .id = i};
        assert_int_equal(ringo_go_copy(chain_waiter, &l, sizeof(l)), 0);
        wait_parked(await_report(c.who));
    }
    ringo_sem_release(&c.s, 1);
    await_done(c.done, N);
    assert_int_equal(atomic_load(&c.pos), N);
    assert_int_equal(atomic_load(&c.order[31]), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(atomic_load(&c.order[i]), i);
    ringo_chan_unref(c.who);
    ringo_chan_unref(c.done);
}

static void test_sem_fifo_equal_weights(void **state)
{
    (void)state;
    run_main(2, chain_main, NULL);
}

/* ---- a large acquire is not starved ------------------------------------------------------------- */

struct starve {
    ringo_sem_t s;
    atomic_bool running;
    atomic_int errors;
    ringo_chan_t *done;
};

static void cycler(void *arg)
{
    struct starve *st = arg;
    while (atomic_load(&st->running)) {
        ringo_sleep(RINGO_MILLISECOND);
        ringo_sem_release(&st->s, 1);
        if (ringo_sem_acquire(NULL, &st->s, 1) != 0)
            atomic_fetch_add(&st->errors, 1);
    }
    ringo_sem_release(&st->s, 1);
    signal_done(st->done);
}

/* TestLargeAcquireDoesntStarve: n fibers each hold 1 and keep releasing and
 * re-acquiring it; Acquire(n) still gets through, because once it queues
 * the re-acquires queue behind it. (Go has no bound; we allow 10 s.) */
static void starve_main(void *arg)
{
    (void)arg;
    enum { N = 4 };
    struct starve st = {.s = {{0}}, .running = true, .done = ringo_chan_make(sizeof(int), N)};
    ringo_sem_init(&st.s, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ringo_sem_acquire(NULL, &st.s, 1), 0);
        assert_int_equal(ringo_go(cycler, &st), 0);
    }
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 10 * RINGO_SECOND);
    assert_non_null(ctx);
    int rc = ringo_sem_acquire(ctx, &st.s, N);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    atomic_store(&st.running, false);
    assert_int_equal(rc, 0);
    ringo_sem_release(&st.s, N);
    await_done(st.done, N);
    assert_int_equal(atomic_load(&st.errors), 0);
    assert_true(ringo_sem_try_acquire(&st.s, N));
    ringo_sem_release(&st.s, N);
    ringo_chan_unref(st.done);
}

static void test_sem_large_acquire_doesnt_starve(void **state)
{
    (void)state;
    run_main(2, starve_main, NULL);
}

/* ---- contexts ------------------------------------------------------------------------------------- */

/* No x/sync test by name: Acquire "on failure, returns ctx.Err()". A
 * deadline that passes gives -ETIMEDOUT, no sooner than the deadline; the
 * waiter leaves the queue (a try_acquire after the release succeeds). */
static void timeout_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 1);
    assert_int_equal(ringo_sem_acquire(NULL, &s, 1), 0);
    int64_t t0 = ringo_now();
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 20 * RINGO_MILLISECOND);
    assert_non_null(ctx);
    assert_int_equal(ringo_sem_acquire(ctx, &s, 1), -ETIMEDOUT);
    int64_t took = ringo_now() - t0;
    assert_int_equal(ringo_ctx_err(ctx), -ETIMEDOUT);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    assert_true(took >= 15 * RINGO_MILLISECOND);
    assert_true(took < 5 * RINGO_SECOND);
    ringo_sem_release(&s, 1);
    assert_true(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 1);

    /* A context that has already ended fails at once when it would have
     * to wait (ringo_cancel frees nothing: ctx is valid until released). */
    ctx = ringo_with_cancel(ringo_background());
    assert_non_null(ctx);
    ringo_cancel(ctx);
    assert_int_equal(ringo_sem_acquire(NULL, &s, 1), 0);
    assert_int_equal(ringo_sem_acquire(ctx, &s, 1), -ECANCELED);
    ringo_ctx_unref(ctx);
    ringo_sem_release(&s, 1);
    assert_true(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 1);
}

static void test_sem_acquire_times_out(void **state)
{
    (void)state;
    run_main(2, timeout_main, NULL);
}

/* No x/sync test by name: a waiter whose context another fiber cancels
 * returns -ECANCELED and leaves the queue. Once with the waiter in a spawned
 * fiber and main cancelling, once the other way round. */
struct canceller {
    ringo_ctx_t *ctx;           /* the creator's reference, handed over */
    ringo_chan_t *who;
};

static void cancel_when_parked(void *arg)
{
    struct canceller *c = arg;
    wait_parked(await_report(c->who));
    ringo_cancel(c->ctx);
    ringo_ctx_unref(c->ctx);
}

static void cancel_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 1);
    assert_int_equal(ringo_sem_acquire(NULL, &s, 1), 0);

    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    assert_non_null(ctx);
    struct acq a = {.s = &s, .ctx = ringo_ctx_ref(ctx), .n = 1,
                    .who = ringo_chan_make(sizeof(void *), 1),
                    .result = ringo_chan_make(sizeof(int), 1)};
    assert_int_equal(ringo_go(acquirer, &a), 0);
    wait_parked(await_report(a.who));
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    assert_int_equal(await_result(a.result), -ECANCELED);

    /* Main waits; another fiber cancels. */
    ctx = ringo_with_cancel(ringo_background());
    assert_non_null(ctx);
    struct canceller c = {.ctx = ctx, .who = a.who};
    ringo_ctx_ref(ctx);             /* ours; c owns the creator's */
    assert_int_equal(ringo_go(cancel_when_parked, &c), 0);
    report_self(a.who);
    assert_int_equal(ringo_sem_acquire(ctx, &s, 1), -ECANCELED);
    assert_int_equal(ringo_ctx_err(ctx), -ECANCELED);
    ringo_ctx_unref(ctx);

    /* Nobody is left queued. */
    ringo_sem_release(&s, 1);
    assert_true(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 1);
    ringo_chan_unref(a.who);
    ringo_chan_unref(a.result);
}

static void test_sem_acquire_cancelled(void **state)
{
    (void)state;
    run_main(2, cancel_main, NULL);
}

static void cancel_fiber(void *arg)
{
    ringo_cancel(arg);
    ringo_ctx_unref(arg);       /* handed the creator's reference */
}

/* TestAllocCancelDoesntStarve: with 1 of 10 held, Acquire(10) queues; a
 * new Acquire(1) queues behind it; cancelling the big one (from another
 * fiber) must let the small one through. */
static void alloc_cancel_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 10);
    assert_int_equal(ringo_sem_acquire(ringo_background(), &s, 1), 0);
    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    assert_non_null(ctx);
    struct acq big = {.s = &s, .ctx = ringo_ctx_ref(ctx), .n = 10,
                      .who = ringo_chan_make(sizeof(void *), 1),
                      .result = ringo_chan_make(sizeof(int), 1)};
    assert_int_equal(ringo_go(acquirer, &big), 0);
    /* Wait until the Acquire(10) call blocks (Go's loop, verbatim). */
    while (ringo_sem_try_acquire(&s, 1)) {
        ringo_sem_release(&s, 1);
        ringo_yield();
    }
    assert_int_equal(ringo_go(cancel_fiber, ctx), 0);   /* go cancel() */
    ringo_ctx_t *guard = ringo_with_timeout(ringo_background(), 10 * RINGO_SECOND);
    assert_int_equal(ringo_sem_acquire(guard, &s, 1), 0);
    ringo_cancel(guard);
    ringo_ctx_unref(guard);
    ringo_sem_release(&s, 1);
    assert_int_equal(await_result(big.result), -ECANCELED);   /* 1 is still held */
    ringo_sem_release(&s, 1);
    assert_true(ringo_sem_try_acquire(&s, 10));
    ringo_sem_release(&s, 10);
    ringo_chan_unref(big.who);
    ringo_chan_unref(big.result);
}

static void test_sem_alloc_cancel_doesnt_starve(void **state)
{
    (void)state;
    run_main(2, alloc_cancel_main, NULL);
}

/* ---- larger than the capacity ------------------------------------------------------------------- */

struct small {
    ringo_sem_t *s;
    atomic_int errors;
    ringo_chan_t *done;
};

static void small_user(void *arg)
{
    struct small *sm = arg;
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 10 * RINGO_SECOND);
    int rc = ringo_sem_acquire(ctx, sm->s, 1);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    if (rc == 0) {
        ringo_sleep(RINGO_MILLISECOND);
        ringo_sem_release(sm->s, 1);
    } else {
        atomic_fetch_add(&sm->errors, 1);
    }
    signal_done(sm->done);
}

/* "Asking for more than the capacity waits until ctx ends": on an idle
 * semaphore, with a deadline (-ETIMEDOUT) and with a cancel (-ECANCELED).
 * And TestWeightedDoesntBlockIfTooBig: while such a request waits, it does
 * not hold up the others (x/sync never queues it). */
static void too_big_main(void *arg)
{
    (void)arg;
    enum { CAP = 2 };
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, CAP);

    int64_t t0 = ringo_now();
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 20 * RINGO_MILLISECOND);
    assert_int_equal(ringo_sem_acquire(ctx, &s, CAP + 1), -ETIMEDOUT);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    assert_true(ringo_now() - t0 >= 15 * RINGO_MILLISECOND);
    assert_true(ringo_sem_try_acquire(&s, CAP));
    ringo_sem_release(&s, CAP);

    ctx = ringo_with_cancel(ringo_background());
    struct acq big = {.s = &s, .ctx = ringo_ctx_ref(ctx), .n = CAP + 1,
                      .who = ringo_chan_make(sizeof(void *), 1),
                      .result = ringo_chan_make(sizeof(int), 1)};
    assert_int_equal(ringo_go(acquirer, &big), 0);
    wait_parked(await_report(big.who));

    /* It waits, but others still get through. */
    assert_true(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 1);
    struct small sm = {.s = &s, .done = ringo_chan_make(sizeof(int), 8)};
    for (int i = 0; i < CAP * 3; i++)
        assert_int_equal(ringo_go(small_user, &sm), 0);
    await_done(sm.done, CAP * 3);
    assert_int_equal(atomic_load(&sm.errors), 0);
    assert_int_equal(ringo_chan_try_recv(big.result, NULL), -EAGAIN);

    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    assert_int_equal(await_result(big.result), -ECANCELED);
    assert_true(ringo_sem_try_acquire(&s, CAP));
    ringo_sem_release(&s, CAP);
    ringo_chan_unref(big.who);
    ringo_chan_unref(big.result);
    ringo_chan_unref(sm.done);
}

static void test_sem_larger_than_capacity(void **state)
{
    (void)state;
    run_main(2, too_big_main, NULL);
}

/* ---- NULL context -------------------------------------------------------------------------------- */

/* No x/sync twin (Go passes context.Background()): a NULL ctx waits
 * however long it takes, here until another fiber releases. */
static void null_ctx_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 2);
    assert_int_equal(ringo_sem_acquire(NULL, &s, 2), 0);
    struct acq a = {.s = &s, .ctx = NULL, .n = 2,
                    .who = ringo_chan_make(sizeof(void *), 1),
                    .result = ringo_chan_make(sizeof(int), 1)};
    assert_int_equal(ringo_go(acquirer, &a), 0);
    wait_parked(await_report(a.who));
    /* Well past anything a default timeout might be. */
    ringo_sleep(50 * RINGO_MILLISECOND);
    assert_int_equal(ringo_chan_try_recv(a.result, NULL), -EAGAIN);
    ringo_sem_release(&s, 1);
    assert_int_equal(ringo_chan_try_recv(a.result, NULL), -EAGAIN);  /* needs 2 */
    ringo_sem_release(&s, 1);
    assert_int_equal(await_result(a.result), 0);
    assert_false(ringo_sem_try_acquire(&s, 1));
    ringo_sem_release(&s, 2);
    ringo_chan_unref(a.who);
    ringo_chan_unref(a.result);
}

static void test_sem_null_ctx_waits(void **state)
{
    (void)state;
    run_main(2, null_ctx_main, NULL);
}

/* ---- misuse --------------------------------------------------------------------------------------- */

static void release_unheld_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 1);
    ringo_sem_release(&s, 1);
}

static void release_too_much_main(void *arg)
{
    (void)arg;
    ringo_sem_t s = {{0}};
    ringo_sem_init(&s, 4);
    assert_int_equal(ringo_sem_acquire(NULL, &s, 2), 0);
    ringo_sem_release(&s, 3);
}

static void release_unheld_child(void) { run_main(2, release_unheld_main, NULL); }
static void release_too_much_child(void) { run_main(2, release_too_much_main, NULL); }

/* TestWeightedPanic: Release(1) on a fresh NewWeighted(1) panics; so does
 * releasing 3 when 2 are held. */
static void test_sem_release_more_than_held_panics(void **state)
{
    (void)state;
    death_test(release_unheld_child, "semaphore: released more than held");
    death_test(release_too_much_child, "semaphore: released more than held");
}

/* ---- hammer -------------------------------------------------------------------------------------- */

enum { HAMMER_CAP = 8 };

struct hammer {
    ringo_sem_t s;
    atomic_long held;           /* the total weight held right now */
    atomic_int errors;
    long loops;
    ringo_chan_t *done;
};

struct hammer_arg {
    struct hammer *h;
    int64_t n;
};

static void hammer_weighted(void *arg)
{
    struct hammer_arg a = *(struct hammer_arg *)arg;
    struct hammer *h = a.h;
    for (long i = 0; i < h->loops; i++) {
        if (ringo_sem_acquire(NULL, &h->s, a.n) != 0)
            atomic_fetch_add(&h->errors, 1);
        long now = atomic_fetch_add(&h->held, a.n) + a.n;
        if (now > HAMMER_CAP)
            atomic_fetch_add(&h->errors, 1);
        if (i % 4 == 0)
            ringo_yield();
        atomic_fetch_sub(&h->held, a.n);
        ringo_sem_release(&h->s, a.n);
    }
    signal_done(h->done);
}

/* TestWeighted (HammerWeighted): fibers of weights 1..8 on a capacity-8
 * semaphore acquire and release in a loop; together they never hold more
 * than the capacity, and nobody is lost. */
static void hammer_main(void *arg)
{
    (void)arg;
    struct hammer h = {.s = {{0}}, .loops = iters(1000),
                       .done = ringo_chan_make(sizeof(int), HAMMER_CAP)};
    ringo_sem_init(&h.s, HAMMER_CAP);
    for (int64_t n = 1; n <= HAMMER_CAP; n++) {
        struct hammer_arg a = {.h = &h, .n = n};
        assert_int_equal(ringo_go_copy(hammer_weighted, &a, sizeof(a)), 0);
    }
    await_done(h.done, HAMMER_CAP);
    assert_int_equal(atomic_load(&h.errors), 0);
    assert_int_equal(atomic_load(&h.held), 0);
    assert_true(ringo_sem_try_acquire(&h.s, HAMMER_CAP));
    ringo_sem_release(&h.s, HAMMER_CAP);
    ringo_chan_unref(h.done);
}

static void test_sem_hammer(void **state)
{
    (void)state;
    run_main(2, hammer_main, NULL);
}

/* ---- a context that has already ended --------------------------------------------------- */

/* x/sync's Acquire checks ctx.Done() first and fails even when the units
 * are free; ringo_sem_acquire used to take them. Nothing is taken. */
static void ended_ctx_main(void *arg)
{
    (void)arg;
    ringo_sem_t s;
    ringo_sem_init(&s, 5);
    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    assert_non_null(ctx);
    ringo_cancel(ctx);
    assert_int_equal(ringo_sem_acquire(ctx, &s, 1), -ECANCELED);
    ringo_ctx_unref(ctx);

    ctx = ringo_with_timeout(ringo_background(), RINGO_MILLISECOND);
    assert_non_null(ctx);
    ringo_chan_recv(ringo_ctx_done(ctx), NULL);
    assert_int_equal(ringo_sem_acquire(ctx, &s, 5), -ETIMEDOUT);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);

    assert_true(ringo_sem_try_acquire(&s, 5));     /* all five still free */
    ringo_sem_release(&s, 5);
}

static void test_sem_acquire_ended_ctx_fails_first(void **state)
{
    (void)state;
    run_main(2, ended_ctx_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sem_capacity),
        cmocka_unit_test(test_sem_try_acquire),
        cmocka_unit_test(test_sem_acquire_with_timeout),
        cmocka_unit_test(test_sem_fifo_order),
        cmocka_unit_test(test_sem_fifo_equal_weights),
        cmocka_unit_test(test_sem_large_acquire_doesnt_starve),
        cmocka_unit_test(test_sem_acquire_times_out),
        cmocka_unit_test(test_sem_acquire_cancelled),
        cmocka_unit_test(test_sem_alloc_cancel_doesnt_starve),
        cmocka_unit_test(test_sem_larger_than_capacity),
        cmocka_unit_test(test_sem_null_ctx_waits),
        cmocka_unit_test(test_sem_release_more_than_held_panics),
        cmocka_unit_test(test_sem_hammer),
        cmocka_unit_test(test_sem_acquire_ended_ctx_fails_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

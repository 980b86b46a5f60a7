/* Description: Go's time package on ringo's timer heaps (ringo/time.h),
 * with Go 1.23's timer semantics. ringo_after delivers one ringo_now() time
 * at least d later, and an unfired one may be dropped. ringo_timer_stop
 * returns true unless the timer was already stopped or its value received,
 * and after it (or ringo_timer_reset) returns no value from before it is
 * ever received: one that fired unreceived is discarded, and a fire racing
 * the call on the other worker delivers nothing. ringo_timer_reset re-arms,
 * returning whether the timer was pending, and delivers once after the new
 * duration; stop/reset racing the fire from many fibers delivers exactly
 * one value for each arming that no stop or reset claimed.
 * ringo_after_func runs its function in a new fiber, and stop keeps it from
 * running exactly when it returns true. Tickers tick every d (within
 * generous bounds), drop ticks for a slow receiver, change period on reset,
 * and discard an unreceived tick on reset and stop; ringo_ticker_stop is
 * idempotent and a stopped ticker can be reset (ringo_ticker_free releases
 * it); a non-positive interval panics. In builds with assertions on, using
 * a freed timer or ticker panics at the use.
 *
 * Regressions (each used to fail): a receive right after Reset(long)
 * returned the old value at once (test_timer_reset_discards_unreceived_value);
 * Stop then a receive with default found the old value
 * (test_timer_stop_discards_unreceived_value); Stop after an unreceived fire
 * returned false (test_timer_stop_result_go123); a ticker's Reset left an
 * old tick pending (test_ticker_reset_discards_pending_tick);
 * ringo_ticker_stop freed the ticker, so a second stop or a Reset after it
 * was a use after free (test_ticker_stop_twice_then_reset); a fire racing
 * Stop/Reset on the other worker delivered a stale value after the call
 * returned (test_timer_stop_reset_race_no_stale_value,
 * test_ticker_stop_reset_race_no_stale_tick).
 */
#include "common.h"
#include "chan_internal.h"   /* a timer channel's hidden one-value buffer */

#include <stdatomic.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Receives one int64_t from ch, failing (not hanging) after 5 s. */
static int64_t recv_time(ringo_chan_t *ch)
{
    int64_t v = -1;
    ringo_case_t c[] = {RINGO_RECV(ch, &v), RINGO_TIMEOUT(5 * RINGO_SECOND)};
    int k = ringo_select(c, NELEM(c));
    assert_int_equal(k, 0);
    assert_true(c[0].ok);
    return v;
}

/* ---- ringo_after -------------------------------------------------------------------------- */

/* Go's TestAfter: the value comes at least d later, once. */
static void after_main(void *arg)
{
    (void)arg;
    ringo_duration_t ds[] = {0, RINGO_MILLISECOND, 10 * RINGO_MILLISECOND};
    for (size_t i = 0; i < NELEM(ds); i++) {
        int64_t start = ringo_now();
        ringo_chan_t *ch = ringo_after(ds[i]);
        assert_non_null(ch);
        assert_int_equal(ringo_chan_cap(ch), 0);   /* Go 1.23 */
        int64_t v = recv_time(ch);
        int64_t end = ringo_now();
        assert_true(v >= start + ds[i]);
        assert_true(v <= end);
        assert_true(end - start >= ds[i]);
        assert_true(end - start < ds[i] + RINGO_SECOND);
        /* Once: nothing more arrives, and the channel is not closed. */
        int64_t more = 0;
        ringo_case_t c[] = {RINGO_RECV(ch, &more), RINGO_TIMEOUT(3 * ds[i] + 5 * RINGO_MILLISECOND)};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
        assert_int_equal(ringo_chan_try_recv(ch, &more), -EAGAIN);
        ringo_chan_unref(ch);
    }
    /* Negative: at once, like Go. */
    int64_t start = ringo_now();
    ringo_chan_t *ch = ringo_after(-RINGO_SECOND);
    assert_true(recv_time(ch) >= start);
    ringo_chan_unref(ch);
}

static void test_after(void **state)
{
    (void)state;
    run_main(2, after_main, NULL);
}

/* No Go twin (Go has a GC): dropping an after-channel before it fires is safe: the fire finds no
 * user (Go: the GC collects it). Many, spread over both workers, some
 * firing while they are dropped; one far in the future is pending when the
 * runtime ends. */
static ringo_waitgroup_t droppers;

static void after_dropper(void *arg)
{
    intptr_t i = (intptr_t)arg;
    ringo_chan_t *ch = ringo_after((i % 5) * RINGO_MILLISECOND / 2);
    if (i % 3 == 0)
        ringo_yield();
    ringo_chan_unref(ch);
    ringo_waitgroup_done(&droppers);
}

static void after_unref_main(void *arg)
{
    (void)arg;
    ringo_chan_unref(ringo_after(5 * RINGO_MILLISECOND));
    ringo_waitgroup_add(&droppers, 1000);
    for (intptr_t i = 0; i < 1000; i++)
        assert_int_equal(ringo_go(after_dropper, (void *)i), 0);
    /* Every dropper has let go of its channel (a handshake: under Valgrind
     * some have not even started 20 ms later, and an abandoned fiber's
     * reference would be a leak). Then wait past most of those fires with
     * a timer of our own, so that some fire after their last unref. */
    ringo_waitgroup_wait(&droppers);
    ringo_chan_t *ch = ringo_after(3 * RINGO_MILLISECOND);
    recv_time(ch);
    ringo_chan_unref(ch);
    ringo_chan_unref(ringo_after(RINGO_HOUR));
}

static void test_after_unref_unfired(void **state)
{
    (void)state;
    run_main(2, after_unref_main, NULL);
}

/* ---- ringo_timer_stop / ringo_timer_reset ------------------------------------------------------ */

/* Go's TestAfterStop (its NewTimer part): stopped before the fire, nothing
 * is delivered. */
static void stop_main(void *arg)
{
    (void)arg;
    const ringo_duration_t d = 20 * RINGO_MILLISECOND;
    ringo_timer_t *t = ringo_timer_new(d);
    assert_non_null(t);
    ringo_chan_t *ch = ringo_timer_chan(t);
    assert_non_null(ch);
    assert_int_equal(ringo_chan_cap(ch), 0);   /* Go 1.23 */
    assert_true(ringo_timer_stop(t));
    assert_false(ringo_timer_stop(t));      /* no longer pending */
    ringo_sleep(2 * d);
    int64_t v;
    assert_int_equal(ringo_chan_try_recv(ch, &v), -EAGAIN);
    ringo_timer_free(t);
}

static void test_timer_stop_before_fire(void **state)
{
    (void)state;
    run_main(2, stop_main, NULL);
}

/* Go's Timer.Stop doc: stop after the value was received returns false.
 * Freeing a pending timer is fine too. */
static void stop_after_main(void *arg)
{
    (void)arg;
    int64_t start = ringo_now();
    ringo_timer_t *t = ringo_timer_new(RINGO_MILLISECOND);
    int64_t v = recv_time(ringo_timer_chan(t));
    assert_true(v >= start + RINGO_MILLISECOND);
    assert_false(ringo_timer_stop(t));
    ringo_timer_free(t);
    ringo_timer_free(ringo_timer_new(RINGO_HOUR));
}

/* Waits, without receiving, until t's fire has put its value in ch. */
static void await_unreceived(ringo_chan_t *ch)
{
    for (;;) {
        ringo__spin_lock(&ch->lock);
        size_t held = ch->count;
        ringo__spin_unlock(&ch->lock);
        if (held)
            break;
        ringo_yield();
    }
    /* Go 1.23: a timer channel reports len 0 and cap 0 even now. */
    assert_int_equal(ringo_chan_len(ch), 0);
    assert_int_equal(ringo_chan_cap(ch), 0);
}

/* Nothing is ready on ch now, nor within a short while (a select with a
 * timeout; the old value would be there at once). */
static void assert_nothing_pending(ringo_chan_t *ch)
{
    int64_t v;
    ringo_case_t now[] = {RINGO_RECV(ch, &v), RINGO_DEFAULT};
    assert_int_equal(ringo_select(now, NELEM(now)), 1);
    ringo_case_t soon[] = {RINGO_RECV(ch, &v), RINGO_TIMEOUT(10 * RINGO_MILLISECOND)};
    assert_int_equal(ringo_select(soon, NELEM(soon)), 1);
}

/* Go 1.23 (Timer.Reset doc): a receive after Reset(long) returns does not
 * get the value of the previous arming, which fired but was not received;
 * Reset reports it as pending. Used to return the old value at once. */
static void reset_discards_main(void *arg)
{
    (void)arg;
    ringo_timer_t *t = ringo_timer_new(RINGO_MICROSECOND);
    ringo_chan_t *ch = ringo_timer_chan(t);
    await_unreceived(ch);
    assert_true(ringo_timer_reset(t, RINGO_HOUR));
    assert_nothing_pending(ch);
    /* A short Reset after it delivers one value, of the new arming. */
    int64_t r = ringo_now();
    assert_true(ringo_timer_reset(t, RINGO_MILLISECOND));
    assert_true(recv_time(ch) >= r + RINGO_MILLISECOND);
    ringo_timer_free(t);
}

static void test_timer_reset_discards_unreceived_value(void **state)
{
    (void)state;
    run_main(2, reset_discards_main, NULL);
}

/* Go 1.23 (Timer.Stop doc): after Stop returns, a receive with default
 * finds nothing, though the timer fired before it and nobody received.
 * Used to find the old value. */
static void stop_discards_main(void *arg)
{
    (void)arg;
    ringo_timer_t *t = ringo_timer_new(0);
    ringo_chan_t *ch = ringo_timer_chan(t);
    await_unreceived(ch);
    assert_true(ringo_timer_stop(t));
    assert_int_equal(ringo_chan_len(ch), 0);
    assert_int_equal(ringo_chan_try_recv(ch, NULL), -EAGAIN);
    assert_nothing_pending(ch);
    ringo_timer_free(t);
}

static void test_timer_stop_discards_unreceived_value(void **state)
{
    (void)state;
    run_main(2, stop_discards_main, NULL);
}

/* Stop's result as Go 1.23 defines it: "if the program has not received
 * from t.C already and the timer is running, Stop is guaranteed to return
 * true"; false once stopped or received. Reset returns the same. */
static void stop_result_main(void *arg)
{
    (void)arg;
    ringo_timer_t *t = ringo_timer_new(RINGO_HOUR);
    ringo_chan_t *ch = ringo_timer_chan(t);
    assert_true(ringo_timer_stop(t));           /* pending */
    assert_false(ringo_timer_stop(t));          /* stopped */
    assert_false(ringo_timer_reset(t, 0));      /* stopped */
    await_unreceived(ch);
    assert_true(ringo_timer_stop(t));           /* fired, not received: true (used to be false) */
    assert_false(ringo_timer_stop(t));
    assert_false(ringo_timer_reset(t, 0));
    recv_time(ch);
    assert_false(ringo_timer_stop(t));          /* received */
    assert_false(ringo_timer_reset(t, 0));
    await_unreceived(ch);
    assert_true(ringo_timer_reset(t, RINGO_HOUR)); /* fired, not received */
    assert_true(ringo_timer_reset(t, RINGO_HOUR)); /* pending */
    assert_true(ringo_timer_stop(t));
    ringo_timer_free(t);
}

static void test_timer_stop_result_go123(void **state)
{
    (void)state;
    run_main(2, stop_result_main, NULL);
}

static void test_timer_stop_after_fire(void **state)
{
    (void)state;
    run_main(2, stop_after_main, NULL);
}

/* Go's TestReset: Reset re-arms for d from now and says whether the timer
 * was pending; each arming delivers once. */
static void reset_main(void *arg)
{
    (void)arg;
    const ringo_duration_t d = 10 * RINGO_MILLISECOND;
    ringo_timer_t *t = ringo_timer_new(RINGO_HOUR);
    ringo_chan_t *ch = ringo_timer_chan(t);

    /* Pending, far off: pulled in. */
    int64_t r = ringo_now();
    assert_true(ringo_timer_reset(t, d));
    int64_t v = recv_time(ch);
    assert_true(v >= r + d);
    assert_true(ringo_now() - r < d + RINGO_SECOND);

    /* Fired: re-armed, false. */
    r = ringo_now();
    assert_false(ringo_timer_reset(t, d));
    v = recv_time(ch);
    assert_true(v >= r + d);

    /* Pending, soon: pushed out; it does not fire at the old time. */
    assert_false(ringo_timer_reset(t, 5 * RINGO_MILLISECOND));
    r = ringo_now();
    assert_true(ringo_timer_reset(t, 5 * d));
    v = recv_time(ch);
    assert_true(v >= r + 5 * d);

    /* Stopped: false, and it fires again after the new d. */
    r = ringo_now();
    assert_false(ringo_timer_reset(t, RINGO_HOUR));
    assert_true(ringo_timer_stop(t));
    assert_false(ringo_timer_reset(t, d));
    v = recv_time(ch);
    assert_true(v >= r + d);

    /* Exactly once per arming. */
    ringo_sleep(3 * d);
    assert_int_equal(ringo_chan_try_recv(ch, &v), -EAGAIN);
    assert_false(ringo_timer_stop(t));
    ringo_timer_free(t);
}

static void test_timer_reset(void **state)
{
    (void)state;
    run_main(2, reset_main, NULL);
}

/* ---- stop/reset races -------------------------------------------------------------------------- */

#define RACERS 3
#define RACER_OPS 8

struct race {
    ringo_timer_t *t;
    ringo_chan_t *ch;           /* the timer's channel */
    ringo_chan_t *quit;         /* closed: the drainer stops */
    ringo_chan_t *done;         /* racers and the drainer report here */
    atomic_long armings;        /* the first plus every reset */
    atomic_long prevented;      /* stop/reset calls that returned true */
    atomic_long received;
    unsigned seed;
};

static void racer(void *arg)
{
    struct race *r = arg;
    unsigned seed = r->seed ^ (unsigned)ringo_fiber_id();
    for (int i = 0; i < RACER_OPS; i++) {
        int op = rand_r(&seed) % 3;
        bool was;
        if (op == 0) {
            was = ringo_timer_stop(r->t);
        } else {
            /* 0 to 50 us: the fire races the next calls. */
            ringo_duration_t d = (ringo_duration_t)(rand_r(&seed) % 51) * RINGO_MICROSECOND;
            was = ringo_timer_reset(r->t, d);
            atomic_fetch_add(&r->armings, 1);
        }
        if (was)
            atomic_fetch_add(&r->prevented, 1);
        if (rand_r(&seed) % 2)
            ringo_yield();
    }
    ringo_chan_send(r->done, &(int){1});
}

static void drainer(void *arg)
{
    struct race *r = arg;
    int64_t v;
    for (;;) {
        ringo_case_t c[] = {RINGO_RECV(r->ch, &v), RINGO_RECV(r->quit, NULL)};
        if (ringo_select(c, NELEM(c)) == 1)
            break;
        atomic_fetch_add(&r->received, 1);
    }
    ringo_chan_send(r->done, &(int){1});
}

/* Go's TestTimerStopStress / TestResetStress / issue 37269 races: several
 * fibers stop and reset one timer while it fires and another fiber drains
 * its channel. With Go 1.23's semantics every arming either is prevented
 * (exactly one stop or reset returns true for it: before its fire, or after
 * it with the value unreceived and discarded) or has its one value
 * received: received == armings - prevented, exactly. */
static void race_main(void *arg)
{
    (void)arg;
    long rounds = iters(1000);
    for (long round = 0; round < rounds; round++) {
        struct race r = {.seed = (unsigned)round * 2654435761u};
        r.t = ringo_timer_new((ringo_duration_t)(round % 20) * RINGO_MICROSECOND);
        r.ch = ringo_chan_ref(ringo_timer_chan(r.t));  /* outlives the timer below */
        r.quit = ringo_chan_make(0, 0);
        r.done = ringo_chan_make(sizeof(int), RACERS + 1);
        atomic_store(&r.armings, 1);
        assert_int_equal(ringo_go(drainer, &r), 0);
        for (int i = 0; i < RACERS; i++)
            assert_int_equal(ringo_go(racer, &r), 0);
        int one;
        for (int i = 0; i < RACERS; i++)
            assert_true(ringo_chan_recv(r.done, &one));
        if (ringo_timer_stop(r.t))
            atomic_fetch_add(&r.prevented, 1);
        ringo_timer_free(r.t);          /* no fire is under way after this */
        ringo_chan_close(r.quit);
        assert_true(ringo_chan_recv(r.done, &one));
        int64_t v;
        assert_int_equal(ringo_chan_try_recv(r.ch, &v), -EAGAIN);  /* stop discarded it */
        long fires = atomic_load(&r.armings) - atomic_load(&r.prevented);
        assert_int_equal(atomic_load(&r.received), fires);
        ringo_chan_unref(r.ch);
        ringo_chan_unref(r.quit);
        ringo_chan_unref(r.done);
    }
}

static void test_timer_stop_reset_races(void **state)
{
    (void)state;
    run_main(2, race_main, NULL);
}

/* ---- a fire racing Stop/Reset on the other worker ------------------------------------------ */

static int worker_index(void)
{
    ringo__worker_t *w = ringo__self();
    return w ? (int)w->index : -1;
}

enum { OP_STOP, OP_RESET, NOPS };

struct stale {
    ringo_timer_t *t;           /* one of t, tk */
    ringo_ticker_t *tk;
    int op;
    unsigned spin;              /* busy-wait before the call */
    int main_worker;
    atomic_int started, done;
    atomic_long crossed;        /* rounds where the call ran on the other worker */
};

/* Stops or resets (to an hour) the timer or ticker at some moment around
 * its fire, then checks that nothing is pending: Go 1.23 promises that no
 * value from before the call is received after it returns. Nobody
 * receives, so a timer's Stop and Reset must report it pending. */
static void stale_caller(void *arg)
{
    struct stale *s = arg;
    atomic_store(&s->started, 1);
    for (volatile unsigned i = 0; i < s->spin; i++)
        ;
    if (worker_index() != s->main_worker)
        atomic_fetch_add(&s->crossed, 1);
    ringo_chan_t *ch;
    if (s->t) {
        ch = ringo_timer_chan(s->t);
        bool pending = s->op == OP_STOP ? ringo_timer_stop(s->t) : ringo_timer_reset(s->t, RINGO_HOUR);
        CHECK(pending);
    } else {
        ch = ringo_ticker_chan(s->tk);
        if (s->op == OP_STOP)
            ringo_ticker_stop(s->tk);
        else
            ringo_ticker_reset(s->tk, RINGO_HOUR);
    }
    CHECK(ringo_chan_try_recv(ch, NULL) == -EAGAIN);
    atomic_store(&s->done, 1);
}

/* Each round arms a timer (or ticker) due within microseconds on the main
 * fiber's worker, and starts a fiber that stops or resets it. Main spins
 * without yielding until that fiber has started - so it started on the
 * other worker, when it did - then yields, letting its own worker fire the
 * timer while the call runs there. After the timer is freed (which waits
 * out a fire under way), its channel must still be empty: a fire that
 * raced the call delivered nothing. */
static void stale_race(bool ticker)
{
    unsigned seed = 12345;
    struct stale s = {0};
    long rounds = iters(2000);
    for (long round = 0; round < rounds; round++) {
        s.op = (int)(rand_r(&seed) % NOPS);
        s.spin = (unsigned)(rand_r(&seed) % 4000);
        s.main_worker = worker_index();
        atomic_store(&s.started, 0);
        atomic_store(&s.done, 0);
        ringo_duration_t d = (ringo_duration_t)(rand_r(&seed) % 30) * RINGO_MICROSECOND;
        s.t = ticker ? NULL : ringo_timer_new(d);
        s.tk = ticker ? ringo_ticker_new(d + RINGO_MICROSECOND) : NULL;
        ringo_chan_t *ch = ringo_chan_ref(ticker ? ringo_ticker_chan(s.tk) : ringo_timer_chan(s.t));
        assert_int_equal(ringo_go(stale_caller, &s), 0);
        for (long i = 0; i < 1000000 && !atomic_load(&s.started); i++)
            ;
        while (!atomic_load(&s.done))
            ringo_yield();
        if (ticker)
            ringo_ticker_free(s.tk);
        else
            ringo_timer_free(s.t);
        assert_int_equal(ringo_chan_try_recv(ch, NULL), -EAGAIN);
        ringo_chan_unref(ch);
    }
    if (atomic_load(&s.crossed) == 0)
        fprintf(stderr, "stale race: the caller never ran on the other worker\n");
}

static void stale_timer_main(void *arg)
{
    (void)arg;
    stale_race(false);
}

static void test_timer_stop_reset_race_no_stale_value(void **state)
{
    (void)state;
    run_checked(2, stale_timer_main, NULL);
}

static void stale_ticker_main(void *arg)
{
    (void)arg;
    stale_race(true);
}

static void test_ticker_stop_reset_race_no_stale_tick(void **state)
{
    (void)state;
    run_checked(2, stale_ticker_main, NULL);
}

/* ---- ringo_after_func ------------------------------------------------------------------------- */

struct func_ctx {
    ringo_chan_t *done;     /* {fiber id, time} */
    atomic_int ran;
};

struct func_report {
    uint64_t id;
    int64_t when;
};

static void func_fire(void *arg)
{
    struct func_ctx *c = arg;
    atomic_fetch_add(&c->ran, 1);
    struct func_report rep = {ringo_fiber_id(), ringo_now()};
    ringo_chan_send(c->done, &rep);
}

/* Go's TestAfterFunc: fn runs in a fiber of its own, d later; each arming
 * (Reset) runs it again in a new fiber. */
static void after_func_main(void *arg)
{
    (void)arg;
    struct func_ctx c = {.done = ringo_chan_make(sizeof(struct func_report), 1)};
    uint64_t me = ringo_fiber_id();
    const ringo_duration_t d = 10 * RINGO_MILLISECOND;
    int64_t start = ringo_now();
    ringo_timer_t *t = ringo_after_func(d, func_fire, &c);
    assert_non_null(t);
    struct func_report rep;
    assert_true(ringo_chan_recv(c.done, &rep));
    assert_true(rep.id != 0 && rep.id != me);
    assert_true(rep.when >= start + d);
    assert_true(ringo_now() - start < d + RINGO_SECOND);
    assert_false(ringo_timer_stop(t));

    uint64_t first = rep.id;
    start = ringo_now();
    assert_false(ringo_timer_reset(t, d));
    assert_true(ringo_chan_recv(c.done, &rep));
    assert_true(rep.id != 0 && rep.id != me && rep.id != first);
    assert_true(rep.when >= start + d);
    assert_int_equal(atomic_load(&c.ran), 2);
    ringo_timer_free(t);
    ringo_chan_unref(c.done);
}

static void test_after_func(void **state)
{
    (void)state;
    run_main(2, after_func_main, NULL);
}

/* Go's TestAfterStop (its AfterFunc part): stopped in time, fn never runs. */
static void after_func_stop_main(void *arg)
{
    (void)arg;
    const ringo_duration_t d = 20 * RINGO_MILLISECOND;
    struct func_ctx c = {.done = ringo_chan_make(sizeof(struct func_report), 1)};
    ringo_timer_t *t = ringo_after_func(d, func_fire, &c);
    assert_true(ringo_timer_stop(t));
    ringo_sleep(3 * d);
    assert_int_equal(atomic_load(&c.ran), 0);
    assert_int_equal(ringo_chan_len(c.done), 0);
    ringo_timer_free(t);

    /* Freed while pending: never runs either. */
    t = ringo_after_func(d, func_fire, &c);
    ringo_timer_free(t);
    ringo_sleep(3 * d);
    assert_int_equal(atomic_load(&c.ran), 0);
    ringo_chan_unref(c.done);
}

static void test_after_func_stop(void **state)
{
    (void)state;
    run_main(2, after_func_stop_main, NULL);
}

static atomic_long af_ran;

static void af_count(void *arg)
{
    (void)arg;
    atomic_fetch_add(&af_ran, 1);
}

struct af_race {
    ringo_timer_t *t;
    unsigned spin;
    atomic_int started, done;
    atomic_long too_late;       /* stops that returned false */
};

static void af_stopper(void *arg)
{
    struct af_race *a = arg;
    atomic_store(&a->started, 1);
    for (volatile unsigned i = 0; i < a->spin; i++)
        ;
    if (!ringo_timer_stop(a->t))
        atomic_fetch_add(&a->too_late, 1);
    atomic_store(&a->done, 1);
}

/* Go's AfterFunc Stop: true exactly when fn will never run; false means fn
 * was started. Stop runs on the other worker while the timer fires (as in
 * the stale-value races above); once every fiber has ended, fn ran exactly
 * as many times as Stop returned false. */
static void af_race_main(void *arg)
{
    (void)arg;
    unsigned seed = 777;
    struct af_race a = {0};
    atomic_store(&af_ran, 0);
    long rounds = iters(2000);
    for (long round = 0; round < rounds; round++) {
        a.spin = (unsigned)(rand_r(&seed) % 4000);
        atomic_store(&a.started, 0);
        atomic_store(&a.done, 0);
        a.t = ringo_after_func((ringo_duration_t)(rand_r(&seed) % 30) * RINGO_MICROSECOND, af_count, NULL);
        assert_non_null(a.t);
        assert_int_equal(ringo_go(af_stopper, &a), 0);
        for (long i = 0; i < 1000000 && !atomic_load(&a.started); i++)
            ;
        while (!atomic_load(&a.done))
            ringo_yield();
        ringo_timer_free(a.t);
    }
    int64_t give_up = ringo_now() + 10 * RINGO_SECOND;
    while (ringo_num_fibers() > 1 && ringo_now() < give_up)
        ringo_yield();
    assert_int_equal(ringo_num_fibers(), 1);
    assert_int_equal(atomic_load(&af_ran), atomic_load(&a.too_late));
}

static void test_after_func_stop_race(void **state)
{
    (void)state;
    run_main(2, af_race_main, NULL);
}

/* ---- tickers ---------------------------------------------------------------------------------- */

/* Go's TestTicker: 10 ticks of 5 ms take at least ~50 ms (45 allowed) and,
 * generously, under a second; tick times increase. */
static void ticker_main(void *arg)
{
    (void)arg;
    const ringo_duration_t d = 5 * RINGO_MILLISECOND;
    int64_t start = ringo_now();
    ringo_ticker_t *t = ringo_ticker_new(d);
    assert_non_null(t);
    ringo_chan_t *ch = ringo_ticker_chan(t);
    assert_int_equal(ringo_chan_cap(ch), 0);   /* Go 1.23 */
    int64_t prev = start;
    for (int i = 0; i < 10; i++) {
        int64_t v = recv_time(ch);
        assert_true(v > prev);
        prev = v;
    }
    int64_t took = ringo_now() - start;
    assert_true(took >= 45 * RINGO_MILLISECOND);
    assert_true(took < 10 * d + RINGO_SECOND);
    ringo_ticker_free(t);
}

static void test_ticker_period(void **state)
{
    (void)state;
    run_main(2, ticker_main, NULL);
}

/* Go's Ticker doc, "drops ticks to make up for slow receivers" (checked by
 * TestTicker's timing): the channel holds at most one tick. */
static void ticker_slow_main(void *arg)
{
    (void)arg;
    ringo_ticker_t *t = ringo_ticker_new(5 * RINGO_MILLISECOND);
    ringo_chan_t *ch = ringo_ticker_chan(t);
    ringo_sleep(50 * RINGO_MILLISECOND);
    size_t len = ringo_chan_len(ch);
    assert_true(len <= 1);
    /* Ticking goes on after the backlog was dropped. */
    recv_time(ch);
    recv_time(ch);
    assert_true(ringo_chan_len(ch) <= 1);
    ringo_ticker_free(t);
}

static void test_ticker_drops_for_slow_receiver(void **state)
{
    (void)state;
    run_main(2, ticker_slow_main, NULL);
}

/* Go's TestTicker (its Reset half): the new period applies from the reset
 * on. */
static void ticker_reset_main(void *arg)
{
    (void)arg;
    ringo_ticker_t *t = ringo_ticker_new(RINGO_HOUR);
    ringo_chan_t *ch = ringo_ticker_chan(t);
    int64_t r = ringo_now();
    ringo_ticker_reset(t, 5 * RINGO_MILLISECOND);
    for (int i = 0; i < 5; i++)
        recv_time(ch);
    int64_t took = ringo_now() - r;
    assert_true(took >= 25 * RINGO_MILLISECOND);
    assert_true(took < RINGO_SECOND);

    /* Slower: no tick from before the reset slips in, so the first receive
     * after it takes a new period, and two take two. */
    const ringo_duration_t slow = 40 * RINGO_MILLISECOND;
    r = ringo_now();
    ringo_ticker_reset(t, slow);
    recv_time(ch);
    assert_true(ringo_now() - r >= slow);
    recv_time(ch);
    took = ringo_now() - r;
    assert_true(took >= 2 * slow);
    assert_true(took < 2 * slow + RINGO_SECOND);
    ringo_ticker_free(t);
}

static void test_ticker_reset(void **state)
{
    (void)state;
    run_main(2, ticker_reset_main, NULL);
}

/* Go's Ticker.Stop (TestTicker's final check): no ticks after Stop, not
 * even one sent before it. The test holds its own reference to the channel
 * so that it can look at it after the ticker is gone. */
static void ticker_stop_main(void *arg)
{
    (void)arg;
    ringo_ticker_t *t = ringo_ticker_new(2 * RINGO_MILLISECOND);
    ringo_chan_t *ch = ringo_chan_ref(ringo_ticker_chan(t));
    recv_time(ch);
    ringo_ticker_stop(t);
    assert_nothing_pending(ch);
    ringo_ticker_free(t);
    assert_int_equal(ringo_chan_try_recv(ch, NULL), -EAGAIN);
    ringo_chan_unref(ch);

    /* Many tickers stopped at once, some mid-tick, then freed. */
    ringo_ticker_t *many[100];
    for (int i = 0; i < 100; i++)
        many[i] = ringo_ticker_new((i % 5 + 1) * RINGO_MICROSECOND * 100);
    ringo_sleep(RINGO_MILLISECOND);
    for (int i = 0; i < 100; i++)
        ringo_ticker_stop(many[i]);
    for (int i = 0; i < 100; i++)
        ringo_ticker_free(many[i]);
    ringo_ticker_free(NULL);
}

/* Go 1.23 (Ticker.Reset): an unreceived tick from before the reset is
 * discarded; the next tick comes a new period later. Used to stay
 * pending. */
static void ticker_reset_discards_main(void *arg)
{
    (void)arg;
    ringo_ticker_t *t = ringo_ticker_new(RINGO_MILLISECOND);
    ringo_chan_t *ch = ringo_ticker_chan(t);
    await_unreceived(ch);
    ringo_ticker_reset(t, RINGO_HOUR);
    assert_int_equal(ringo_chan_len(ch), 0);
    assert_nothing_pending(ch);
    int64_t r = ringo_now();
    ringo_ticker_reset(t, 2 * RINGO_MILLISECOND);
    assert_true(recv_time(ch) >= r + 2 * RINGO_MILLISECOND);
    ringo_ticker_free(t);
}

static void test_ticker_reset_discards_pending_tick(void **state)
{
    (void)state;
    run_main(2, ticker_reset_discards_main, NULL);
}

/* Go's Ticker.Stop is idempotent and a stopped ticker can be Reset.
 * ringo_ticker_stop used to free the ticker, making both a use after
 * free. */
static void ticker_stop_twice_main(void *arg)
{
    (void)arg;
    ringo_ticker_t *t = ringo_ticker_new(RINGO_MILLISECOND);
    ringo_chan_t *ch = ringo_ticker_chan(t);
    await_unreceived(ch);
    ringo_ticker_stop(t);
    ringo_ticker_stop(t);
    assert_nothing_pending(ch);
    ringo_ticker_reset(t, RINGO_MILLISECOND);   /* ticking again */
    int64_t prev = recv_time(ch);
    assert_true(recv_time(ch) > prev);
    ringo_ticker_stop(t);
    ringo_ticker_stop(t);
    assert_nothing_pending(ch);
    ringo_ticker_free(t);

    /* A timer stopped twice, then reset, as in Go. */
    ringo_timer_t *tm = ringo_timer_new(RINGO_HOUR);
    assert_true(ringo_timer_stop(tm));
    assert_false(ringo_timer_stop(tm));
    assert_false(ringo_timer_reset(tm, RINGO_MILLISECOND));
    recv_time(ringo_timer_chan(tm));
    ringo_timer_free(tm);
}

static void test_ticker_stop_twice_then_reset(void **state)
{
    (void)state;
    run_main(2, ticker_stop_twice_main, NULL);
}

/* ---- freed handles (builds with assertions on) -------------------------------------------------- */

static void freed_timer_main(void *arg)
{
    (void)arg;
    ringo_timer_t *t = ringo_timer_new(RINGO_HOUR);
    ringo_timer_free(t);
    ringo_timer_stop(t);
}

__attribute__((unused)) static void freed_timer_child(void)   /* not under ASan */
{
    run_main(2, freed_timer_main, NULL);
}

static void freed_timer_twice_main(void *arg)
{
    (void)arg;
    ringo_timer_t *t = ringo_after_func(RINGO_HOUR, af_count, NULL);
    ringo_timer_free(t);
    ringo_timer_free(t);
}

__attribute__((unused)) static void freed_timer_twice_child(void)   /* not under ASan */
{
    run_main(2, freed_timer_twice_main, NULL);
}

static void freed_ticker_main(void *arg)
{
    (void)arg;
    ringo_ticker_t *t = ringo_ticker_new(RINGO_HOUR);
    ringo_ticker_free(t);
    ringo_ticker_reset(t, RINGO_SECOND);
}

__attribute__((unused)) static void freed_ticker_child(void)   /* not under ASan */
{
    run_main(2, freed_ticker_main, NULL);
}

/* A stale handle fails loudly at its use. Only where it applies: with
 * assertions on, and not under a tool that itself reports the read of
 * freed memory (ASan, memcheck). */
static void test_freed_timer_use_panics(void **state)
{
    (void)state;
#if defined(NDEBUG) || defined(RINGO_ASAN)
    skip();
#else
    if (ringo__on_valgrind())
        skip();
    death_test(freed_timer_child, "ringo_timer_stop: use of a freed timer or ticker");
    death_test(freed_timer_twice_child, "ringo_timer_free: use of a freed timer or ticker");
    death_test(freed_ticker_child, "ringo_ticker_reset: use of a freed timer or ticker");
#endif
}

static void test_ticker_stop(void **state)
{
    (void)state;
    run_main(2, ticker_stop_main, NULL);
}

static void ticker_zero_main(void *arg)
{
    (void)arg;
    ringo_ticker_new(0);
}

static void ticker_zero_child(void)
{
    run_main(2, ticker_zero_main, NULL);
}

static void ticker_negative_main(void *arg)
{
    (void)arg;
    ringo_ticker_new(-RINGO_SECOND);
}

static void ticker_negative_child(void)
{
    run_main(2, ticker_negative_main, NULL);
}

/* Go's TestNewTickerLtZeroDuration: NewTicker panics with "non-positive
 * interval for NewTicker". */
static void test_ticker_nonpositive_panics(void **state)
{
    (void)state;
    death_test(ticker_zero_child, "non-positive interval for ringo_ticker_new");
    death_test(ticker_negative_child, "non-positive interval for ringo_ticker_new");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_after),
        cmocka_unit_test(test_after_unref_unfired),
        cmocka_unit_test(test_timer_stop_before_fire),
        cmocka_unit_test(test_timer_stop_after_fire),
        cmocka_unit_test(test_timer_reset_discards_unreceived_value),
        cmocka_unit_test(test_timer_stop_discards_unreceived_value),
        cmocka_unit_test(test_timer_stop_result_go123),
        cmocka_unit_test(test_timer_reset),
        cmocka_unit_test(test_timer_stop_reset_races),
        cmocka_unit_test(test_timer_stop_reset_race_no_stale_value),
        cmocka_unit_test(test_ticker_stop_reset_race_no_stale_tick),
        cmocka_unit_test(test_after_func),
        cmocka_unit_test(test_after_func_stop),
        cmocka_unit_test(test_after_func_stop_race),
        cmocka_unit_test(test_ticker_period),
        cmocka_unit_test(test_ticker_drops_for_slow_receiver),
        cmocka_unit_test(test_ticker_reset),
        cmocka_unit_test(test_ticker_stop),
        cmocka_unit_test(test_ticker_reset_discards_pending_tick),
        cmocka_unit_test(test_ticker_stop_twice_then_reset),
        cmocka_unit_test(test_ticker_nonpositive_panics),
        cmocka_unit_test(test_freed_timer_use_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

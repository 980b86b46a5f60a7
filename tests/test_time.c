/* Description: Go's time package on ringo's timer heaps (ringo/time.h):
 * ringo_after delivers one ringo_now() time at least d later, and an unfired
 * one may be dropped; ringo_timer_stop before the fire returns true and
 * nothing is delivered, after it returns false (and drains nothing);
 * ringo_timer_reset re-arms, returning whether the timer was pending, and
 * delivers once after the new duration; stop/reset racing the fire from
 * many fibers never crashes and never delivers more than one value per
 * arming; ringo_after_func runs its function in a new fiber, and stop keeps
 * it from running; tickers tick every d (within generous bounds), drop ticks
 * for a slow receiver, change period on reset, stop delivering on stop, and
 * panic for a non-positive interval.
 */
#include "common.h"

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
        assert_int_equal(ringo_chan_cap(ch), 1);
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
static void after_dropper(void *arg)
{
    intptr_t i = (intptr_t)arg;
    ringo_chan_t *ch = ringo_after((i % 5) * RINGO_MILLISECOND / 2);
    if (i % 3 == 0)
        ringo_yield();
    ringo_chan_unref(ch);
}

static void after_unref_main(void *arg)
{
    (void)arg;
    ringo_chan_unref(ringo_after(5 * RINGO_MILLISECOND));
    for (intptr_t i = 0; i < 1000; i++)
        assert_int_equal(ringo_go(after_dropper, (void *)i), 0);
    /* Wait past every one of those fires with a timer of our own. */
    ringo_chan_t *ch = ringo_after(20 * RINGO_MILLISECOND);
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
    assert_int_equal(ringo_chan_cap(ch), 1);
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

/* Go's TestTimerStopStress / Timer.Stop doc: stop after the fire returns
 * false; like Go before 1.23, it leaves a value
 * already sent in the channel. */
static void stop_after_main(void *arg)
{
    (void)arg;
    int64_t start = ringo_now();
    ringo_timer_t *t = ringo_timer_new(RINGO_MILLISECOND);
    int64_t v = recv_time(ringo_timer_chan(t));
    assert_true(v >= start + RINGO_MILLISECOND);
    assert_false(ringo_timer_stop(t));
    ringo_timer_free(t);

    t = ringo_timer_new(RINGO_MILLISECOND);
    ringo_chan_t *ch = ringo_timer_chan(t);
    while (ringo_chan_len(ch) == 0)
        ringo_yield();                      /* fired, not yet received */
    assert_false(ringo_timer_stop(t));
    assert_int_equal(ringo_chan_len(ch), 1);
    assert_int_equal(ringo_chan_try_recv(ch, &v), 0);
    assert_true(v >= start + RINGO_MILLISECOND);
    ringo_timer_free(t);

    /* Freeing a pending timer is fine too. */
    ringo_timer_free(ringo_timer_new(RINGO_HOUR));
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
 * its channel. Every arming either is prevented (exactly one stop or reset
 * returns true for it) or fires once, and each fire sends at most one value
 * (dropped if the channel is full); so received <= armings - prevented, and
 * something is received if anything fired. */
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
        while (ringo_chan_try_recv(r.ch, &v) == 0)
            atomic_fetch_add(&r.received, 1);
        long fires = atomic_load(&r.armings) - atomic_load(&r.prevented);
        long got = atomic_load(&r.received);
        assert_true(fires >= 0);
        assert_true(got <= fires);
        assert_true(fires == 0 || got >= 1);
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
    assert_int_equal(ringo_chan_cap(ch), 1);
    int64_t prev = start;
    for (int i = 0; i < 10; i++) {
        int64_t v = recv_time(ch);
        assert_true(v > prev);
        prev = v;
    }
    int64_t took = ringo_now() - start;
    assert_true(took >= 45 * RINGO_MILLISECOND);
    assert_true(took < 10 * d + RINGO_SECOND);
    ringo_ticker_stop(t);
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
    ringo_ticker_stop(t);
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

    /* Slower: two receives after the reset span at least one new period
     * (one tick from before the reset may still slip in). */
    const ringo_duration_t slow = 40 * RINGO_MILLISECOND;
    ringo_ticker_reset(t, slow);
    r = ringo_now();
    int64_t v;
    ringo_chan_try_recv(ch, &v);
    recv_time(ch);
    recv_time(ch);
    took = ringo_now() - r;
    assert_true(took >= slow);
    assert_true(took < 2 * slow + RINGO_SECOND);
    ringo_ticker_stop(t);
}

static void test_ticker_reset(void **state)
{
    (void)state;
    run_main(2, ticker_reset_main, NULL);
}

/* Go's Ticker.Stop (TestTicker's final check): no ticks after Stop. The test holds its own reference to the channel so that it can
 * look at it after the ticker is gone. */
static void ticker_stop_main(void *arg)
{
    (void)arg;
    ringo_ticker_t *t = ringo_ticker_new(2 * RINGO_MILLISECOND);
    ringo_chan_t *ch = ringo_chan_ref(ringo_ticker_chan(t));
    recv_time(ch);
    ringo_ticker_stop(t);
    int64_t v;
    ringo_chan_try_recv(ch, &v);            /* at most one sent before the stop */
    ringo_sleep(20 * RINGO_MILLISECOND);
    assert_int_equal(ringo_chan_try_recv(ch, &v), -EAGAIN);
    ringo_chan_unref(ch);

    /* Many tickers stopped at once, some mid-tick. */
    ringo_ticker_t *many[100];
    for (int i = 0; i < 100; i++)
        many[i] = ringo_ticker_new((i % 5 + 1) * RINGO_MICROSECOND * 100);
    ringo_sleep(RINGO_MILLISECOND);
    for (int i = 0; i < 100; i++)
        ringo_ticker_stop(many[i]);
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
        cmocka_unit_test(test_timer_reset),
        cmocka_unit_test(test_timer_stop_reset_races),
        cmocka_unit_test(test_after_func),
        cmocka_unit_test(test_after_func_stop),
        cmocka_unit_test(test_ticker_period),
        cmocka_unit_test(test_ticker_drops_for_slow_receiver),
        cmocka_unit_test(test_ticker_reset),
        cmocka_unit_test(test_ticker_stop),
        cmocka_unit_test(test_ticker_nonpositive_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: ringo_now and ringo_sleep on the per-worker timer heaps. A
 * sleep lasts at least its duration (and not absurdly longer: generous
 * bounds only); sleepers wake in deadline order; 100,000 concurrent sleepers
 * all wake; d <= 0 returns at once; sleeping from a plain thread sleeps the
 * thread; the timers of one worker keep firing while other workers are
 * busy.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_long counter;

static void test_now_monotonic(void **state)
{
    (void)state;
    int64_t a = ringo_now();
    int64_t b = ringo_now();
    assert_true(a > 0 && b >= a);
}

/* Written by twenty fibers at once: atomics (the race detector caught the
 * plain int64_t this once was). */
static _Atomic int64_t worst_early = 0, worst_late = 0;

static void sleep_once(void *arg)
{
    int64_t d = (int64_t)(intptr_t)arg * RINGO_MILLISECOND;
    int64_t t0 = ringo_now();
    ringo_sleep(d);
    int64_t took = ringo_now() - t0;
    if (took < d)
        worst_early = 1;
    int64_t late = atomic_load(&worst_late);
    while (took - d > late && !atomic_compare_exchange_weak(&worst_late, &late, took - d))
        ;
    atomic_fetch_add(&counter, 1);
}

static void duration_main(void *arg)
{
    (void)arg;
    atomic_store(&counter, 0);
    for (intptr_t ms = 1; ms <= 20; ms++)
        assert_int_equal(ringo_go(sleep_once, (void *)ms), 0);
    while (atomic_load(&counter) < 20)
        ringo_sleep(RINGO_MILLISECOND);
}

static void test_sleep_duration(void **state)
{
    (void)state;
    run_main(2, duration_main, NULL);
    assert_int_equal(worst_early, 0);
    /* Generous: a loaded 2-core VM can stall a thread for a while. */
    assert_true(worst_late < 500 * RINGO_MILLISECOND);
}

/* ---- order ------------------------------------------------------------------------------- */

static int order[10];
static atomic_int order_pos;
static ringo_chan_t *order_gate;

static void sleep_and_record(void *arg)
{
    intptr_t k = (intptr_t)arg;
    /* All start sleeping together: spawning takes long under a sanitizer,
     * and fibers already spawned run meanwhile (on a spare worker while
     * main holds the only one). */
    ringo_chan_recv(order_gate, NULL);
    ringo_sleep((int64_t)k * 15 * RINGO_MILLISECOND);
    order[atomic_fetch_add(&order_pos, 1)] = (int)k;
}

static void order_main(void *arg)
{
    (void)arg;
    atomic_store(&order_pos, 0);
    order_gate = ringo_chan_make(sizeof(int), 0);
    /* Spawned in reverse deadline order. */
    for (intptr_t k = 10; k >= 1; k--)
        assert_int_equal(ringo_go(sleep_and_record, (void *)k), 0);
    ringo_chan_close(order_gate);
    while (atomic_load(&order_pos) < 10)
        ringo_sleep(RINGO_MILLISECOND);
    ringo_chan_unref(order_gate);
}

static void test_sleep_order(void **state)
{
    (void)state;
    run_main(1, order_main, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(order[i], i + 1);
}

/* ---- 100,000 sleepers ------------------------------------------------------------------------ */

static void short_sleeper(void *arg)
{
    intptr_t i = (intptr_t)arg;
    ringo_sleep((10 + i % 90) * RINGO_MILLISECOND);
    atomic_fetch_add(&counter, 1);
}

static void many_main(void *arg)
{
    (void)arg;
    long n = live_cap(iters(100000));
    atomic_store(&counter, 0);
    for (long i = 0; i < n; i++)
        assert_int_equal(ringo_go(short_sleeper, (void *)(intptr_t)i), 0);
    int64_t deadline = ringo_now() + 60 * RINGO_SECOND;
    while (atomic_load(&counter) < n && ringo_now() < deadline)
        ringo_sleep(5 * RINGO_MILLISECOND);
    assert_int_equal(atomic_load(&counter), n);
}

static void test_100k_sleepers(void **state)
{
    (void)state;
    run_main(2, many_main, NULL);
}

/* ---- edge cases ---------------------------------------------------------------------------------- */

static void zero_main(void *arg)
{
    (void)arg;
    int64_t t0 = ringo_now();
    for (int i = 0; i < 1000; i++) {
        ringo_sleep(0);
        ringo_sleep(-RINGO_SECOND);
    }
    assert_true(ringo_now() - t0 < RINGO_SECOND);
}

static void test_nonpositive_sleep(void **state)
{
    (void)state;
    run_main(2, zero_main, NULL);
}

static void test_sleep_plain_thread(void **state)
{
    (void)state;
    int64_t t0 = ringo_now();
    ringo_sleep(5 * RINGO_MILLISECOND);   /* no runtime: sleeps the thread */
    assert_true(ringo_now() - t0 >= 5 * RINGO_MILLISECOND);
}

/* ---- timers keep firing while the other worker computes --------------------------------------- */

static atomic_int stop_busy;

static void busy_yielder(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_busy))
        ringo_yield();
}

static void busy_main(void *arg)
{
    (void)arg;
    atomic_store(&stop_busy, 0);
    assert_int_equal(ringo_go(busy_yielder, NULL), 0);
    assert_int_equal(ringo_go(busy_yielder, NULL), 0);
    for (int i = 0; i < 20; i++) {
        int64_t t0 = ringo_now();
        ringo_sleep(2 * RINGO_MILLISECOND);
        assert_true(ringo_now() - t0 >= 2 * RINGO_MILLISECOND);
    }
    atomic_store(&stop_busy, 1);
}

static void test_timers_fire_among_runnable_fibers(void **state)
{
    (void)state;
    run_main(2, busy_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_monotonic),
        cmocka_unit_test(test_sleep_duration),
        cmocka_unit_test(test_sleep_order),
        cmocka_unit_test(test_100k_sleepers),
        cmocka_unit_test(test_nonpositive_sleep),
        cmocka_unit_test(test_sleep_plain_thread),
        cmocka_unit_test(test_timers_fire_among_runnable_fibers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: the monitor rescues fibers stuck behind a hog. With two
 * workers, a fiber that spins for a second without yielding must not delay
 * a sleeper beyond 50 ms (its timers are fired and its runnable fibers moved
 * to the other worker), and runnable fibers queued behind a hog still run.
 * Regression: when every worker was held by a fiber that never yields
 * (1 worker + 1 hog, 2 + 2, 2 + 3), nothing else ever ran again, sleepers
 * never woke and ringo_run never returned. Spare workers now run the other
 * fibers while the hogs spin, and retire once the hogs end.
 */
#include "common.h"
#include "internal.h"

#include <stdatomic.h>

static atomic_int hog_started;
static atomic_int hog_done;

static void hog(void *arg)
{
    int64_t ms = (int64_t)(intptr_t)arg;
    atomic_store(&hog_started, 1);
    int64_t end = ringo_now() + ms * RINGO_MILLISECOND;
    while (ringo_now() < end)
        ;   /* no yield: a CPU-bound loop, as careless code writes */
    atomic_store(&hog_done, 1);
}

static int64_t worst_lateness;
static atomic_int sleeper_done;

static void sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        int64_t t0 = ringo_now();
        ringo_sleep(2 * RINGO_MILLISECOND);
        int64_t late = ringo_now() - t0 - 2 * RINGO_MILLISECOND;
        if (late > worst_lateness)
            worst_lateness = late;
    }
    atomic_store(&sleeper_done, 1);
}

static void hog_main(void *arg)
{
    (void)arg;
    atomic_store(&hog_started, 0);
    atomic_store(&hog_done, 0);
    atomic_store(&sleeper_done, 0);
    worst_lateness = 0;
    /* Both are spawned from main's worker: whichever worker the hog lands
     * on, the sleeper has to share it at some point. */
    assert_int_equal(ringo_go(sleeper, NULL), 0);
    assert_int_equal(ringo_go(hog, (void *)(intptr_t)1000), 0);
    while (!atomic_load(&sleeper_done) || !atomic_load(&hog_done))
        ringo_sleep(RINGO_MILLISECOND);
}

static void test_hog_does_not_starve_sleeper(void **state)
{
    (void)state;
    run_main(2, hog_main, NULL);
    if (worst_lateness >= 50 * RINGO_MILLISECOND * time_slack())
        fail_msg("a sleeper was %lld ms late behind a hog",
                 (long long)(worst_lateness / RINGO_MILLISECOND));
}

/* Runnable fibers queued on the hogged worker get moved and run. */
static atomic_int ran;

static void quick(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static void queued_main(void *arg)
{
    (void)arg;
    atomic_store(&ran, 0);
    atomic_store(&hog_done, 0);
    /* main itself hogs its worker after queueing work there. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(ringo_go(quick, NULL), 0);
    int64_t t0 = ringo_now();
    while (atomic_load(&ran) < 100 && ringo_now() - t0 < 2 * RINGO_SECOND * time_slack())
        ;   /* spin: no yield */
    assert_int_equal(atomic_load(&ran), 100);
    ringo_stats_t st;
    ringo_stats(&st);
    (void)st;
}

static void test_queued_fibers_escape_hog(void **state)
{
    (void)state;
    run_main(2, queued_main, NULL);
}

/* ---- every worker hogged ----------------------------------------------------------------------- */

/* The hogs spin until main says stop, or until a deadline long past what
 * the test needs: a hog that reaches it means nothing else ran meanwhile
 * (the old behaviour; the test then fails rather than hangs). */
static atomic_int hogs_running, stop_hogs, hogs_timed_out;

static void stubborn_hog(void *arg)
{
    (void)arg;
    atomic_fetch_add(&hogs_running, 1);
    int64_t end = ringo_now() + 10 * RINGO_SECOND * time_slack();
    while (!atomic_load(&stop_hogs)) {
        if (ringo_now() > end) {
            atomic_fetch_add(&hogs_timed_out, 1);
            break;
        }
    }
    atomic_fetch_sub(&hogs_running, 1);
}

struct progress {
    ringo_chan_t *ping, *pong, *done;
};

static void napper(void *arg)
{
    struct progress *p = arg;
    for (int i = 0; i < 20; i++)
        ringo_sleep(RINGO_MILLISECOND);
    signal_done(p->done);
}

static void ponger_fiber(void *arg)
{
    struct progress *p = arg;
    int v;
    while (ringo_chan_recv(p->ping, &v))
        ringo_chan_send(p->pong, &v);
    signal_done(p->done);
}

/* Starts nhogs hogs, checks that sleepers and a channel ping-pong make
 * progress while they all spin, then stops them (they end soon after). */
static void hogged_progress(int nhogs)
{
    atomic_store(&hogs_running, 0);
    atomic_store(&stop_hogs, 0);
    atomic_store(&hogs_timed_out, 0);
    for (int i = 0; i < nhogs; i++)
        assert_int_equal(ringo_go(stubborn_hog, NULL), 0);
    /* main sleeps while the hogs take every worker: it runs again only on
     * a spare. */
    while (atomic_load(&hogs_running) < nhogs && !atomic_load(&hogs_timed_out))
        ringo_sleep(RINGO_MILLISECOND);
    struct progress p = {.ping = ringo_chan_make(sizeof(int), 0),
                         .pong = ringo_chan_make(sizeof(int), 0),
                         .done = ringo_chan_make(sizeof(int), 8)};
    for (int i = 0; i < 4; i++)
        assert_int_equal(ringo_go(napper, &p), 0);
    assert_int_equal(ringo_go(ponger_fiber, &p), 0);
    for (int i = 0; i < 1000; i++) {
        int v = i, r = -1;
        ringo_chan_send(p.ping, &v);
        assert_true(ringo_chan_recv(p.pong, &r));
        assert_int_equal(r, i);
    }
    ringo_chan_close(p.ping);
    await_done(p.done, 5);
    /* All of that happened while every hog still spun. */
    assert_int_equal(atomic_load(&hogs_timed_out), 0);
    assert_int_equal(atomic_load(&hogs_running), nhogs);
    atomic_store(&stop_hogs, 1);
    ringo_chan_unref(p.ping);
    ringo_chan_unref(p.pong);
    ringo_chan_unref(p.done);
}

static void all_hogged_main(void *arg)
{
    hogged_progress((int)(intptr_t)arg);
}

static void test_one_worker_one_hog_others_progress(void **state)
{
    (void)state;
    run_main(1, all_hogged_main, (void *)1);
    assert_int_equal(atomic_load(&hogs_running), 0);   /* ringo_run waited for it */
}

static void test_two_workers_two_hogs_others_progress(void **state)
{
    (void)state;
    run_main(2, all_hogged_main, (void *)2);
    assert_int_equal(atomic_load(&hogs_running), 0);
}

static void test_two_workers_three_hogs_others_progress(void **state)
{
    (void)state;
    run_main(2, all_hogged_main, (void *)3);
    assert_int_equal(atomic_load(&hogs_running), 0);
}

/* Once the hogs end, the spares retire: their threads park and no more
 * workers run fibers than were configured; new hogs bring them back. */
static void await_spares_parked(ringo__runtime_t *rt)
{
    while (atomic_load(&hogs_running) > 0)
        ringo_sleep(RINGO_MILLISECOND);
    int64_t deadline = ringo_now() + 5 * RINGO_SECOND * time_slack();
    for (;;) {
        bool all_parked = true;
        for (unsigned i = rt->nprocs; i < rt->nworkers; i++) {
            int st = atomic_load(&rt->workers[i].spare_state);
            if (st != RINGO__SPARE_DORMANT && st != RINGO__SPARE_PARKED)
                all_parked = false;
        }
        if (all_parked && ringo__live_count(atomic_load(&rt->idle)) == rt->nprocs)
            break;
        assert_true(ringo_now() < deadline);
        ringo_sleep(RINGO_MILLISECOND);
    }
}

static void spares_retire_main(void *arg)
{
    (void)arg;
    ringo__runtime_t *rt = ringo__rt;
    for (int round = 0; round < 3; round++) {
        hogged_progress(2);
        /* Two hogs on one worker: spares ran the rest. */
        assert_true(atomic_load(&rt->nslots) > rt->nprocs);
        await_spares_parked(rt);
    }
}

static void test_spares_retire_when_hogs_end(void **state)
{
    (void)state;
    run_main(1, spares_retire_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hog_does_not_starve_sleeper),
        cmocka_unit_test(test_queued_fibers_escape_hog),
        cmocka_unit_test(test_one_worker_one_hog_others_progress),
        cmocka_unit_test(test_two_workers_two_hogs_others_progress),
        cmocka_unit_test(test_two_workers_three_hogs_others_progress),
        cmocka_unit_test(test_spares_retire_when_hogs_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: the monitor rescues fibers stuck behind a hog. With two
 * workers, a fiber that spins for a second without yielding must not delay
 * a sleeper beyond 50 ms (its timers are fired and its runnable fibers moved
 * to the other worker), and runnable fibers queued behind a hog still run.
 */
#include "common.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hog_does_not_starve_sleeper),
        cmocka_unit_test(test_queued_fibers_escape_hog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

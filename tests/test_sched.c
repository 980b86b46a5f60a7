/* Description: the scheduler and the park/ready primitive. A million
 * ready/park hand-offs between fibers spread over two workers lose none and
 * double none (a parked fiber resumes exactly once however the wake-up
 * races its switch); plain threads ready fibers; work spreads to idle
 * workers (steals and MSG_RING wake-ups happen); everything also runs with
 * 1, 3 and 4 workers.
 */
#include "common.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* A one-slot hand-off built only on park/ready: the test's stand-in for a
 * channel. slot is NULL (empty), TOKEN (a signal is waiting), or the fiber
 * parked on it. */
#define TOKEN ((ringo__fiber_t *)1)

struct event {
    _Atomic(ringo__fiber_t *) slot;
};

static void event_wait(struct event *e)
{
    ringo__fiber_t *self = ringo__current();
    /* A token already waiting is consumed without parking. */
    ringo__fiber_t *expect = TOKEN;
    if (atomic_compare_exchange_strong(&e->slot, &expect, NULL))
        return;
    ringo__park_prepare("test event");
    expect = NULL;
    if (!atomic_compare_exchange_strong(&e->slot, &expect, self)) {
        /* The token came in between: consume it and be our own waker, as
         * the wait contract allows (the switch sees WOKEN and requeues). */
        assert_ptr_equal(expect, TOKEN);
        atomic_store(&e->slot, NULL);
        ringo__ready(self);
    }
    ringo__park();
}

static void event_signal(struct event *e)
{
    for (;;) {
        ringo__fiber_t *s = atomic_load(&e->slot);
        if (s == NULL) {
            if (atomic_compare_exchange_weak(&e->slot, &s, TOKEN))
                return;
        } else if (s == TOKEN) {
            return;     /* already signalled: events coalesce, callers alternate */
        } else if (atomic_compare_exchange_weak(&e->slot, &s, NULL)) {
            ringo__ready(s);
            return;
        }
    }
}

struct pair {
    struct event ping, pong;
    long rounds;
    atomic_long pings, pongs;
};

static atomic_long finished;

static void pinger(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        event_signal(&p->ping);
        event_wait(&p->pong);
        atomic_fetch_add(&p->pongs, 1);
    }
    atomic_fetch_add(&finished, 1);
}

static void ponger(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        event_wait(&p->ping);
        atomic_fetch_add(&p->pings, 1);
        /* Some work between, so the two sides drift across workers. */
        if ((i & 7) == 0)
            ringo_yield();
        event_signal(&p->pong);
    }
    atomic_fetch_add(&finished, 1);
}

#define PAIRS 8
static struct pair pairs[PAIRS];

static void handoff_main(void *arg)
{
    (void)arg;
    long total = iters(1000000);
    atomic_store(&finished, 0);
    for (int i = 0; i < PAIRS; i++) {
        memset(&pairs[i], 0, sizeof(pairs[i]));
        pairs[i].rounds = total / (2 * PAIRS);
        assert_int_equal(ringo_go(pinger, &pairs[i]), 0);
        assert_int_equal(ringo_go(ponger, &pairs[i]), 0);
    }
    while (atomic_load(&finished) < 2 * PAIRS)
        ringo_sleep(RINGO_MILLISECOND);
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(atomic_load(&pairs[i].pings), pairs[i].rounds);
        assert_int_equal(atomic_load(&pairs[i].pongs), pairs[i].rounds);
    }
}

static void test_million_handoffs_two_workers(void **state)
{
    (void)state;
    run_main(2, handoff_main, NULL);
}

static void test_handoffs_other_worker_counts(void **state)
{
    (void)state;
    unsigned counts[] = {1, 3, 4};
    for (int i = 0; i < 3; i++)
        run_main(counts[i], handoff_main, NULL);
}

/* ---- plain threads ready fibers ------------------------------------------------------- */

#define WAITERS 64
static struct event thread_events[WAITERS];
static atomic_long woken;

static void thread_waiter(void *arg)
{
    struct event *e = arg;
    for (int i = 0; i < 200; i++) {
        event_wait(e);
        atomic_fetch_add(&woken, 1);
    }
    atomic_fetch_add(&finished, 1);
}

static _Atomic int stop_thread;

static void *signaller(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_thread))
        for (int i = 0; i < WAITERS; i++)
            event_signal(&thread_events[i]);
    return NULL;
}

static void thread_main(void *arg)
{
    (void)arg;
    atomic_store(&finished, 0);
    atomic_store(&woken, 0);
    atomic_store(&stop_thread, 0);
    for (int i = 0; i < WAITERS; i++) {
        atomic_store(&thread_events[i].slot, NULL);
        assert_int_equal(ringo_go(thread_waiter, &thread_events[i]), 0);
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, signaller, NULL), 0);
    while (atomic_load(&finished) < WAITERS)
        ringo_sleep(RINGO_MILLISECOND);
    atomic_store(&stop_thread, 1);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&woken), WAITERS * 200);
}

static void test_ready_from_plain_thread(void **state)
{
    (void)state;
    run_main(2, thread_main, NULL);
}

/* ---- work spreads ----------------------------------------------------------------------- */

static atomic_long busy_done;

static void busy(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    for (int i = 0; i < 200000; i++)
        x += (uint64_t)i;
    atomic_fetch_add(&busy_done, 1);
}

static void spread_main(void *arg)
{
    (void)arg;
    atomic_store(&busy_done, 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(ringo_go(busy, NULL), 0);
    while (atomic_load(&busy_done) < 200)
        ringo_sleep(RINGO_MILLISECOND);
    ringo_stats_t st;
    ringo_stats(&st);
    assert_int_equal(st.workers, 2);
    assert_true(st.total.switches >= 200);
    assert_true(st.total.spawns >= 200);
    /* With main spawning on one worker, the other got its share by stealing
     * after being woken. */
    assert_true(st.total.steals > 0);
    ringo_worker_stats_t w0, w1;
    assert_int_equal(ringo_worker_stats(0, &w0), 0);
    assert_int_equal(ringo_worker_stats(1, &w1), 0);
    assert_int_equal(ringo_worker_stats(2, &w1), -EINVAL);
    assert_true(w0.switches > 0 && w1.switches > 0);
}

static void test_work_spreads(void **state)
{
    (void)state;
    run_main(2, spread_main, NULL);
    ringo_stats_t st;
    ringo_stats(&st);
    assert_int_equal(st.workers, 0);   /* no runtime: zeros */
}

/* Wake-ups through the eventfd fallback (kernels before 6.13 lack the
 * ring-less MSG_RING), forced with RINGO_WAKE=eventfd. */
static void test_eventfd_wakeups(void **state)
{
    (void)state;
    setenv("RINGO_WAKE", "eventfd", 1);
    run_main(2, thread_main, NULL);
    run_main(2, handoff_main, NULL);
    unsetenv("RINGO_WAKE");
}

/* hwloc failing (here: every discovery component disabled) is not fatal:
 * one warning, the online CPU count, no pinning. */
static unsigned fallback_workers;

static void count_workers(void *arg)
{
    (void)arg;
    ringo_stats_t st;
    ringo_stats(&st);
    fallback_workers = st.workers;
}

static void hwloc_child(void)
{
    setenv("HWLOC_COMPONENTS", "-linux,-x86,-synthetic,-xml", 1);
    unsetenv("RINGO_WORKERS");
    if (ringo_run(NULL, count_workers, NULL) != 0)
        _exit(3);
    _exit(fallback_workers == (unsigned)sysconf(_SC_NPROCESSORS_ONLN) ? 0 : 4);
}

static void test_hwloc_failure_falls_back(void **state)
{
    (void)state;
    static struct death d;
    death_run(hwloc_child, &d);
    if (d.status != 0)
        fail_msg("child status %d signal %d: %s", d.status, d.signal, d.out);
    assert_non_null(strstr(d.out, "ringo: warning: hwloc could not read the topology"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_handoffs_two_workers),
        cmocka_unit_test(test_handoffs_other_worker_counts),
        cmocka_unit_test(test_ready_from_plain_thread),
        cmocka_unit_test(test_work_spreads),
        cmocka_unit_test(test_eventfd_wakeups),
        cmocka_unit_test(test_hwloc_failure_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

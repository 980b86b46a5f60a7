/* Description: sync objects that outlive a ringo_run whose fibers were
 * still blocked on them when main returned. Such fibers are freed with their
 * stacks; the channel, select, Mutex, WaitGroup, Cond and semaphore they
 * waited on must forget them. Each test leaves fibers parked on an object at
 * the end of one run (2 workers), then uses the object from the main thread
 * and in a second run, and checks it behaves as if those calls had never
 * been made.
 *
 * What used to happen: the objects kept links into the freed stacks. The
 * next send, unlock, Done, Signal or Release from the main thread or a later
 * run followed them: a segfault, a write into freed memory, or a wake-up of
 * a fiber that no longer exists; an abandoned Mutex waiter woken just before
 * the end left its WOKEN bit set, so a later contended Mutex never woke its
 * next waiter; a context cancelled after the run called into a semaphore
 * waiter's freed stack.
 */
#include "common.h"

#include <stdatomic.h>

#define PARKED 4            /* fibers left blocked on each object */

/* Spawns fn(arg) PARKED times and returns once each has parked. Each fiber
 * calls report_self(who) just before it blocks. */
static void spawn_parked(void (*fn)(void *), ringo_chan_t *who)
{
    for (int i = 0; i < PARKED; i++)
        assert_int_equal(ringo_go(fn, who), 0);
    for (int i = 0; i < PARKED; i++)
        wait_parked(await_report(who));
}

static ringo_chan_t *make_who(void)
{
    ringo_chan_t *who = ringo_chan_make(sizeof(ringo__fiber_t *), 4 * PARKED);
    assert_non_null(who);
    return who;
}

/* ---- channels and select ------------------------------------------------------------ */

static ringo_chan_t *unbuf;     /* unbuffered int */
static ringo_chan_t *full;      /* cap 1 int, full */

static void unbuf_receiver(void *who)
{
    int v;
    report_self(who);
    ringo_chan_recv(unbuf, &v);
}

static void full_sender(void *who)
{
    int v = 666;
    report_self(who);
    ringo_chan_send(full, &v);
}

static void two_chan_selector(void *who)
{
    int in, out = 667;
    ringo_case_t c[] = {RINGO_RECV(unbuf, &in), RINGO_SEND(full, &out)};
    report_self(who);
    ringo_select(c, 2);
}

static void chan_run1(void *arg)
{
    (void)arg;
    int one = 1;
    ringo_chan_send(full, &one);
    ringo_chan_t *who = make_who();
    spawn_parked(unbuf_receiver, who);
    spawn_parked(full_sender, who);
    spawn_parked(two_chan_selector, who);
    ringo_chan_unref(who);
}

static void send_42(void *arg)
{
    (void)arg;
    int v = 42;
    ringo_chan_send(unbuf, &v);
}

static void chan_run2(void *arg)
{
    (void)arg;
    int v = 0;
    /* No stale receiver takes this, no stale sender refills the buffer. */
    CHECK(ringo_chan_try_send(unbuf, &v) == -EAGAIN);
    CHECK(ringo_chan_recv(full, &v) && v == 2);
    CHECK(ringo_chan_try_recv(full, &v) == -EAGAIN);
    for (long i = 0; i < iters(1000); i++) {
        CHECK(ringo_go(send_42, NULL) == 0);
        v = 0;
        int w = 0;
        ringo_case_t c[] = {RINGO_RECV(unbuf, &v), RINGO_RECV(full, &w)};
        CHECK(ringo_select(c, 2) == 0 && v == 42);
    }
}

static void test_chan_abandoned_waiters_forgotten(void **state)
{
    (void)state;
    assert_non_null(unbuf = ringo_chan_make(sizeof(int), 0));
    assert_non_null(full = ringo_chan_make(sizeof(int), 1));
    run_checked(2, chan_run1, NULL);

    /* The main thread: the buffer holds run 1's value and nothing else. */
    int v = 0;
    assert_int_equal(ringo_chan_try_send(unbuf, &v), -EAGAIN);
    assert_int_equal(ringo_chan_len(full), 1);
    assert_int_equal(ringo_chan_try_recv(full, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ringo_chan_try_recv(full, &v), -EAGAIN);
    v = 2;
    assert_int_equal(ringo_chan_try_send(full, &v), 0);

    run_checked(2, chan_run2, NULL);

    ringo_chan_close(unbuf);
    ringo_chan_close(full);
    assert_false(ringo_chan_recv(unbuf, &v));
    ringo_chan_unref(unbuf);    /* no "freed while fibers are blocked" */
    ringo_chan_unref(full);
}

/* A sender woken by the last receive, which never ran again, on a channel
 * its owner freed right after: the run's end must not touch the channel.
 * One worker: main returns before the woken sender can run. */
static void reporting_sender(void *who)
{
    int v = 42;
    report_self(who);
    ringo_chan_send(unbuf, &v);
}

static void freed_chan_run(void *arg)
{
    (void)arg;
    ringo_chan_t *who = make_who();
    ringo_chan_t *c = ringo_chan_make(sizeof(int), 0);
    CHECK(c != NULL);
    unbuf = c;
    assert_int_equal(ringo_go(reporting_sender, who), 0);
    wait_parked(await_report(who));
    int v = 0;
    CHECK(ringo_chan_recv(c, &v) && v == 42);
    ringo_chan_unref(c);
    ringo_chan_unref(who);
}

static void test_chan_freed_after_waking_sender(void **state)
{
    (void)state;
    for (long i = 0; i < iters(100); i++)
        run_checked(1, freed_chan_run, NULL);
    unbuf = NULL;
}

/* ---- Mutex ----------------------------------------------------------------------------- */

static ringo_mutex_t mu;
static long counter;

static void locker(void *who)
{
    report_self(who);
    ringo_mutex_lock(&mu);
    counter++;
    ringo_mutex_unlock(&mu);
}

static void mutex_run1(void *arg)
{
    (void)arg;
    ringo_chan_t *who = make_who();
    ringo_mutex_lock(&mu);
    spawn_parked(locker, who);
    ringo_chan_unref(who);
    /* Returns holding mu, with PARKED fibers queued on it. */
}

struct contend {
    ringo_waitgroup_t wg;
    long rounds;
};

static void contender(void *arg)
{
    struct contend *c = arg;
    for (long i = 0; i < c->rounds; i++) {
        ringo_mutex_lock(&mu);
        counter++;
        if (i % 16 == 0)
            ringo_yield();      /* hold it across a switch: waiters park */
        ringo_mutex_unlock(&mu);
    }
    ringo_waitgroup_done(&c->wg);
}

static void mutex_contend_run(void *arg)
{
    (void)arg;
    struct contend c = {.rounds = iters(2000)};
    counter = 0;
    ringo_waitgroup_add(&c.wg, 8);
    for (int i = 0; i < 8; i++)
        CHECK(ringo_go(contender, &c) == 0);
    ringo_waitgroup_wait(&c.wg);
    ringo_mutex_lock(&mu);
    CHECK(counter == 8 * c.rounds);
    ringo_mutex_unlock(&mu);
}

static void test_mutex_abandoned_waiters_forgotten(void **state)
{
    (void)state;
    memset(&mu, 0, sizeof(mu));
    counter = 0;
    run_checked(2, mutex_run1, NULL);
    assert_int_equal(counter, 0);

    /* Held by run 1's main, which is gone: Go lets anyone unlock it. */
    assert_false(ringo_mutex_trylock(&mu));
    ringo_mutex_unlock(&mu);
    assert_true(ringo_mutex_trylock(&mu));
    ringo_mutex_unlock(&mu);

    run_checked(2, mutex_contend_run, NULL);
    ringo_mutex_lock(&mu);
    ringo_mutex_unlock(&mu);
}

/* Unlock wakes the one waiter (setting WOKEN for it) and main returns at
 * once: on one worker the waiter never runs again. */
static void mutex_woken_run(void *arg)
{
    (void)arg;
    ringo_chan_t *who = make_who();
    ringo_mutex_lock(&mu);
    assert_int_equal(ringo_go(locker, who), 0);
    wait_parked(await_report(who));
    ringo_mutex_unlock(&mu);
    ringo_chan_unref(who);
}

static void test_mutex_woken_waiter_abandoned(void **state)
{
    (void)state;
    for (long i = 0; i < iters(20); i++) {
        memset(&mu, 0, sizeof(mu));
        run_checked(1, mutex_woken_run, NULL);
        run_checked(2, mutex_contend_run, NULL);
    }
}

/* ---- WaitGroup ----------------------------------------------------------------------------- */

static ringo_waitgroup_t wg;

static void wg_waiter(void *who)
{
    report_self(who);
    ringo_waitgroup_wait(&wg);
}

static void wg_run1(void *arg)
{
    (void)arg;
    ringo_chan_t *who = make_who();
    ringo_waitgroup_add(&wg, 1);
    spawn_parked(wg_waiter, who);
    ringo_chan_unref(who);
}

static void wg_doer(void *arg)
{
    (void)arg;
    ringo_waitgroup_done(&wg);
}

static void wg_run2(void *arg)
{
    ringo_chan_t *who = make_who();
    (void)arg;
    for (long r = 0; r < iters(200); r++) {
        ringo_waitgroup_add(&wg, 3);
        for (int i = 0; i < 2; i++)
            CHECK(ringo_go(wg_waiter, who) == 0);
        for (int i = 0; i < 2; i++)
            CHECK(await_report(who) != NULL);
        for (int i = 0; i < 3; i++)
            CHECK(ringo_go(wg_doer, NULL) == 0);
        ringo_waitgroup_wait(&wg);
    }
    ringo_chan_unref(who);
}

static void test_waitgroup_abandoned_waiters_forgotten(void **state)
{
    (void)state;
    memset(&wg, 0, sizeof(wg));
    run_checked(2, wg_run1, NULL);
    /* The last Done releases nobody: the abandoned waiters are not counted. */
    ringo_waitgroup_done(&wg);
    ringo_waitgroup_wait(&wg);
    run_checked(2, wg_run2, NULL);
    ringo_waitgroup_add(&wg, 1);
    ringo_waitgroup_done(&wg);
    ringo_waitgroup_wait(&wg);
}

/* ---- Cond -------------------------------------------------------------------------------- */

static ringo_cond_t cv;
static ringo_mutex_t cmu;
static int ready_flag, woke;

static void cond_waiter(void *who)
{
    ringo_mutex_lock(&cmu);
    report_self(who);
    while (!ready_flag)
        ringo_cond_wait(&cv, &cmu);
    woke++;
    ringo_mutex_unlock(&cmu);
}

static void cond_run1(void *arg)
{
    (void)arg;
    ringo_chan_t *who = make_who();
    spawn_parked(cond_waiter, who);
    ringo_chan_unref(who);
}

static void cond_run2(void *arg)
{
    (void)arg;
    ringo_chan_t *who = make_who();
    for (long r = 0; r < iters(200); r++) {
        ringo_mutex_lock(&cmu);
        ready_flag = 0;
        woke = 0;
        ringo_mutex_unlock(&cmu);
        spawn_parked(cond_waiter, who);
        ringo_mutex_lock(&cmu);
        ready_flag = 1;
        ringo_cond_broadcast(&cv);
        ringo_mutex_unlock(&cmu);
        for (;;) {
            ringo_mutex_lock(&cmu);
            int n = woke;
            ringo_mutex_unlock(&cmu);
            if (n == PARKED)
                break;
            ringo_yield();
        }
    }
    ringo_chan_unref(who);
}

static void test_cond_abandoned_waiters_forgotten(void **state)
{
    (void)state;
    memset(&cv, 0, sizeof(cv));
    memset(&cmu, 0, sizeof(cmu));
    ready_flag = 0;
    run_checked(2, cond_run1, NULL);
    ringo_cond_signal(&cv);
    ringo_cond_broadcast(&cv);
    assert_true(ringo_mutex_trylock(&cmu));     /* the waiters had unlocked it */
    ringo_mutex_unlock(&cmu);
    run_checked(2, cond_run2, NULL);
    ringo_cond_broadcast(&cv);
}

/* ---- the weighted semaphore ------------------------------------------------------------------- */

static ringo_sem_t sem;
static ringo_ctx_t *sem_ctx;

static void sem_acquirer(void *who)
{
    report_self(who);
    if (ringo_sem_acquire(NULL, &sem, 1) == 0)
        ringo_sem_release(&sem, 1);
}

static void sem_ctx_acquirer(void *who)
{
    report_self(who);
    ringo_sem_acquire(sem_ctx, &sem, 1);
}

static void sem_huge_acquirer(void *who)
{
    report_self(who);
    ringo_sem_acquire(sem_ctx, &sem, 100);     /* never fits: watches the context only */
}

static void sem_run1(void *arg)
{
    (void)arg;
    ringo_chan_t *who = make_who();
    CHECK(ringo_sem_acquire(NULL, &sem, 2) == 0);
    spawn_parked(sem_acquirer, who);
    spawn_parked(sem_ctx_acquirer, who);
    spawn_parked(sem_huge_acquirer, who);
    ringo_chan_unref(who);
}

struct sem_stress {
    ringo_waitgroup_t wg;
    _Atomic int inside, max;
    long rounds;
};

static void sem_stressor(void *arg)
{
    struct sem_stress *s = arg;
    for (long i = 0; i < s->rounds; i++) {
        CHECK(ringo_sem_acquire(NULL, &sem, 1) == 0);
        int n = atomic_fetch_add(&s->inside, 1) + 1;
        int m = atomic_load(&s->max);
        while (n > m && !atomic_compare_exchange_weak(&s->max, &m, n))
            ;
        ringo_yield();
        atomic_fetch_sub(&s->inside, 1);
        ringo_sem_release(&sem, 1);
    }
    ringo_waitgroup_done(&s->wg);
}

static void sem_run2(void *arg)
{
    (void)arg;
    struct sem_stress s = {.rounds = iters(500)};
    ringo_waitgroup_add(&s.wg, 6);
    for (int i = 0; i < 6; i++)
        CHECK(ringo_go(sem_stressor, &s) == 0);
    ringo_waitgroup_wait(&s.wg);
    CHECK(atomic_load(&s.max) <= 2);
    CHECK(ringo_sem_try_acquire(&sem, 2));
    ringo_sem_release(&sem, 2);
}

static void test_sem_abandoned_waiters_forgotten(void **state)
{
    (void)state;
    ringo_sem_init(&sem, 2);
    assert_non_null(sem_ctx = ringo_with_cancel(ringo_background()));
    run_checked(2, sem_run1, NULL);

    /* Run 1's main still holds 2; releasing them grants nobody stale. */
    assert_false(ringo_sem_try_acquire(&sem, 1));
    ringo_sem_release(&sem, 2);
    assert_true(ringo_sem_try_acquire(&sem, 2));
    ringo_sem_release(&sem, 2);
    /* The abandoned acquirers no longer watch the context. */
    ringo_cancel(sem_ctx);
    ringo_ctx_unref(sem_ctx);
    sem_ctx = NULL;

    run_checked(2, sem_run2, NULL);
    assert_true(ringo_sem_try_acquire(&sem, 2));
    ringo_sem_release(&sem, 2);
}

/* An acquirer granted by the last release, which never ran again, on a
 * semaphore its owner freed right after: an acquire that was granted never
 * touches the semaphore again, so neither may the run's end. */
struct heap_sem {
    ringo_chan_t *who;
    ringo_sem_t *sem;
};

static void heap_sem_acquirer(void *arg)
{
    struct heap_sem *h = arg;
    ringo_sem_t *sem = h->sem;
    report_self(h->who);
    ringo_sem_acquire(NULL, sem, 1);
}

static void sem_freed_run(void *arg)
{
    (void)arg;
    struct heap_sem h = {make_who(), malloc(sizeof(ringo_sem_t))};
    CHECK(h.sem != NULL);
    ringo_sem_init(h.sem, 1);
    CHECK(ringo_sem_acquire(NULL, h.sem, 1) == 0);
    CHECK(ringo_go(heap_sem_acquirer, &h) == 0);
    wait_parked(await_report(h.who));
    ringo_sem_release(h.sem, 1);
    free(h.sem);
    ringo_chan_unref(h.who);
}

static void test_sem_freed_after_granting(void **state)
{
    (void)state;
    for (long i = 0; i < iters(100); i++)
        run_checked(1, sem_freed_run, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_abandoned_waiters_forgotten),
        cmocka_unit_test(test_chan_freed_after_waking_sender),
        cmocka_unit_test(test_mutex_abandoned_waiters_forgotten),
        cmocka_unit_test(test_mutex_woken_waiter_abandoned),
        cmocka_unit_test(test_waitgroup_abandoned_waiters_forgotten),
        cmocka_unit_test(test_cond_abandoned_waiters_forgotten),
        cmocka_unit_test(test_sem_abandoned_waiters_forgotten),
        cmocka_unit_test(test_sem_freed_after_granting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

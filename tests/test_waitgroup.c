/* Description: sync.WaitGroup, sync.Once and sync.Cond (ringo/sync.h),
 * ported from Go's sync/waitgroup_test.go, once_test.go and cond_test.go
 * where they apply. WaitGroup: wait returns after 1,000 fibers called done;
 * a group is reused for several rounds with many waiters, none released
 * early; a negative counter panics; wait on a zero counter returns at once;
 * a plain pthread waits while fibers call done; a waiter that arrives as
 * the round ends may free the group at once. Once: of 1,000 concurrent
 * callers (fibers and pthreads) fn runs exactly once and every caller
 * returns only after it finished; a zero-value static once; an fn that
 * leaves its fiber through ringo_exit counts as done. Cond: broadcast
 * wakes every waiter (fibers and pthreads); each signal wakes exactly one;
 * wait returns holding the mutex again.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- WaitGroup: fan-out ------------------------------------------------------------------------ */

struct fan {
    ringo_waitgroup_t wg;
    atomic_long finished;
};

static void fan_fiber(void *arg)
{
    struct fan *f = arg;
    atomic_fetch_add(&f->finished, 1);
    ringo_waitgroup_done(&f->wg);
}

/* No Go test by name: the WaitGroup example (fan out, Wait). 1,000 fibers
 * on two workers; wait returns only when all called done. */
static void fanout_main(void *arg)
{
    (void)arg;
    const long n = live_cap(1000);
    struct fan f = {.wg = {{0}}};
    ringo_waitgroup_add(&f.wg, (int)n);
    for (long i = 0; i < n; i++)
        assert_int_equal(ringo_go(fan_fiber, &f), 0);
    ringo_waitgroup_wait(&f.wg);
    assert_int_equal(atomic_load(&f.finished), n);

    /* The same, adding one at a time as each fiber starts. */
    atomic_store(&f.finished, 0);
    for (long i = 0; i < n; i++) {
        ringo_waitgroup_add(&f.wg, 1);
        assert_int_equal(ringo_go(fan_fiber, &f), 0);
    }
    ringo_waitgroup_wait(&f.wg);
    assert_int_equal(atomic_load(&f.finished), n);
}

static void test_waitgroup_fanout(void **state)
{
    (void)state;
    run_main(2, fanout_main, NULL);
}

/* ---- WaitGroup: reuse, many waiters ------------------------------------------------------------ */

struct barrier {
    ringo_waitgroup_t *wg1, *wg2;
    ringo_chan_t *exited;       /* cap n */
};

static void barrier_fiber(void *arg)
{
    struct barrier *b = arg;
    ringo_waitgroup_done(b->wg1);
    ringo_waitgroup_wait(b->wg2);
    signal_done(b->exited);
}

/* TestWaitGroup: n fibers each call wg1.Done then wg2.Wait; the main fiber
 * waits on wg1, then counts wg2 down one by one, checking that no fiber got
 * through early; eight rounds on the same two groups (reuse after Wait). */
static void reuse_main(void *arg)
{
    (void)arg;
    ringo_waitgroup_t wg1 = {{0}}, wg2 = {{0}};
    for (int round = 0; round < 8; round++) {
        const int n = 16 + round * 8;
        struct barrier b = {.wg1 = &wg1, .wg2 = &wg2,
                            .exited = ringo_chan_make(sizeof(int), (size_t)n)};
        ringo_waitgroup_add(&wg1, n);
        ringo_waitgroup_add(&wg2, n);
        for (int i = 0; i < n; i++)
            assert_int_equal(ringo_go(barrier_fiber, &b), 0);
        ringo_waitgroup_wait(&wg1);
        for (int i = 0; i < n; i++) {
            if (ringo_chan_try_recv(b.exited, NULL) == 0)
                fail_msg("WaitGroup released group too soon (round %d)", round);
            ringo_waitgroup_done(&wg2);
        }
        await_done(b.exited, n);    /* blocks if the barrier fails to release someone */
        ringo_chan_unref(b.exited);
    }
}

static void test_waitgroup_reuse(void **state)
{
    (void)state;
    run_main(2, reuse_main, NULL);
}

/* ---- WaitGroup: zero counter ------------------------------------------------------------------- */

/* No Go test by name: "If the counter is zero, Wait returns immediately",
 * also for a group that went up and back down, and from a plain thread. */
static void *wait_zero_thread(void *arg)
{
    ringo_waitgroup_wait(arg);
    return NULL;
}

static void zero_main(void *arg)
{
    (void)arg;
    ringo_waitgroup_t wg = {{0}};
    ringo_waitgroup_wait(&wg);
    ringo_waitgroup_wait(&wg);
    ringo_waitgroup_add(&wg, 3);
    ringo_waitgroup_add(&wg, -3);
    ringo_waitgroup_wait(&wg);
    ringo_waitgroup_add(&wg, 2);
    ringo_waitgroup_done(&wg);
    ringo_waitgroup_done(&wg);
    ringo_waitgroup_wait(&wg);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_zero_thread, &wg), 0);
    pthread_join(th, NULL);
}

static void test_waitgroup_wait_zero(void **state)
{
    (void)state;
    run_main(2, zero_main, NULL);
    /* And with no runtime at all. */
    ringo_waitgroup_t wg = {{0}};
    ringo_waitgroup_wait(&wg);
}

/* ---- WaitGroup: misuse ------------------------------------------------------------------------- */

static void negative_done_main(void *arg)
{
    (void)arg;
    ringo_waitgroup_t wg = {{0}};
    ringo_waitgroup_add(&wg, 1);
    ringo_waitgroup_done(&wg);
    ringo_waitgroup_done(&wg);
}

static void negative_add_main(void *arg)
{
    (void)arg;
    ringo_waitgroup_t wg = {{0}};
    ringo_waitgroup_add(&wg, 2);
    ringo_waitgroup_add(&wg, -3);
}

static void negative_done_child(void) { run_main(2, negative_done_main, NULL); }
static void negative_add_child(void) { run_main(2, negative_add_main, NULL); }

/* TestWaitGroupMisuse: Add(1), Done(), Done() panics; so does an Add that
 * takes the counter below zero. */
static void test_waitgroup_negative_panics(void **state)
{
    (void)state;
    death_test(negative_done_child, "sync: negative WaitGroup counter");
    death_test(negative_add_child, "sync: negative WaitGroup counter");
}

/* ---- WaitGroup: plain-thread waiter ------------------------------------------------------------ */

struct thwait {
    ringo_waitgroup_t wg;
    atomic_long done_calls;
    long n;
    atomic_int errors;
    ringo_chan_t *hello;        /* cap 1: the thread is about to wait */
    ringo_chan_t *finished;     /* cap 1: its wait returned */
};

static void *thread_waiter(void *arg)
{
    struct thwait *t = arg;
    signal_done(t->hello);
    ringo_waitgroup_wait(&t->wg);
    if (atomic_load(&t->done_calls) != t->n)
        atomic_fetch_add(&t->errors, 1);
    signal_done(t->finished);
    return NULL;
}

static void thwait_fiber(void *arg)
{
    struct thwait *t = arg;
    ringo_yield();
    atomic_fetch_add(&t->done_calls, 1);
    ringo_waitgroup_done(&t->wg);
}

/* No Go twin (Go has no foreign threads): a pthread blocks in wait (on the
 * futex) and fibers on two workers call done; the main fiber waits too. */
static void thread_wait_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        struct thwait t = {.wg = {{0}}, .n = 200,
                           .hello = ringo_chan_make(sizeof(int), 1),
                           .finished = ringo_chan_make(sizeof(int), 1)};
        ringo_waitgroup_add(&t.wg, (int)t.n);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, thread_waiter, &t), 0);
        await_hellos(t.hello, 1);
        for (long i = 0; i < t.n; i++)
            assert_int_equal(ringo_go(thwait_fiber, &t), 0);
        ringo_waitgroup_wait(&t.wg);
        assert_int_equal(atomic_load(&t.done_calls), t.n);
        await_done(t.finished, 1);
        pthread_join(th, NULL);
        assert_int_equal(atomic_load(&t.errors), 0);
        ringo_chan_unref(t.hello);
        ringo_chan_unref(t.finished);
    }
}

static void test_waitgroup_pthread_waiter(void **state)
{
    (void)state;
    run_main(2, thread_wait_main, NULL);
}

/* ---- Once ------------------------------------------------------------------------------------------- */

struct once_test {
    ringo_once_t once;
    atomic_int runs;            /* how many times fn ran */
    int value;                  /* plain: written by fn, read by every caller after once_do */
    atomic_int errors;
    ringo_chan_t *hello;        /* the pthreads' hellos */
    ringo_chan_t *done;
};

static void once_fn(void *arg)
{
    struct once_test *o = arg;
    atomic_fetch_add(&o->runs, 1);
    ringo_sleep(2 * RINGO_MILLISECOND);     /* let the other callers pile up */
    o->value++;
}

static void once_caller(void *arg)
{
    struct once_test *o = arg;
    ringo_once_do(&o->once, once_fn, o);
    if (o->value != 1)
        atomic_fetch_add(&o->errors, 1);
    signal_done(o->done);
}

static void *once_thread(void *arg)
{
    signal_done(((struct once_test *)arg)->hello);
    once_caller(arg);
    return NULL;
}

/* TestOnce: every caller sees fn's effect when once_do returns, and fn ran
 * once; 1,000 fibers on two workers and two pthreads. */
static void once_main(void *arg)
{
    (void)arg;
    const long n = live_cap(1000);
    enum { NTHREADS = 2 };
    struct once_test o = {.once = {{0}}, .hello = ringo_chan_make(sizeof(int), NTHREADS),
                          .done = ringo_chan_make(sizeof(int), 16)};
    pthread_t th[NTHREADS];
    for (long i = 0; i < n; i++) {
        assert_int_equal(ringo_go(once_caller, &o), 0);
        if (i == n / 2)
            for (int k = 0; k < NTHREADS; k++)
                assert_int_equal(pthread_create(&th[k], NULL, once_thread, &o), 0);
    }
    await_hellos(o.hello, NTHREADS);
    await_done(o.done, n + NTHREADS);
    for (int k = 0; k < NTHREADS; k++)
        pthread_join(th[k], NULL);
    assert_int_equal(atomic_load(&o.runs), 1);
    assert_int_equal(atomic_load(&o.errors), 0);
    assert_int_equal(o.value, 1);
    /* Later calls do nothing. */
    ringo_once_do(&o.once, once_fn, &o);
    assert_int_equal(atomic_load(&o.runs), 1);
    ringo_chan_unref(o.hello);
    ringo_chan_unref(o.done);
}

static void test_once_concurrent(void **state)
{
    (void)state;
    run_main(2, once_main, NULL);
}

static ringo_once_t static_once;
static ringo_once_t static_once2;
static atomic_int static_runs;
static atomic_int static_runs2;

static void count_static(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* No Go test by name: "var once sync.Once" works as declared; two onces
 * are independent, and a different fn on a spent once does not run. */
static void static_once_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        ringo_once_do(&static_once, count_static, &static_runs);
    assert_int_equal(atomic_load(&static_runs), 1);
    ringo_once_do(&static_once, count_static, &static_runs2);
    assert_int_equal(atomic_load(&static_runs2), 0);
    ringo_once_do(&static_once2, count_static, &static_runs2);
    ringo_once_do(&static_once2, count_static, &static_runs2);
    assert_int_equal(atomic_load(&static_runs2), 1);
}

static void test_once_zero_value(void **state)
{
    (void)state;
    run_main(2, static_once_main, NULL);
    /* Also from a plain thread, with no runtime. */
    static ringo_once_t bare;
    static atomic_int bare_runs;
    ringo_once_do(&bare, count_static, &bare_runs);
    ringo_once_do(&bare, count_static, &bare_runs);
    assert_int_equal(atomic_load(&bare_runs), 1);
}

/* ---- Cond: broadcast ----------------------------------------------------------------------------- */

struct bcast {
    ringo_mutex_t mu;
    ringo_cond_t cond;
    bool ready;                 /* guarded by mu */
    int waiting;                /* guarded by mu: waiters that reached the loop */
    int woke;                   /* guarded by mu */
    ringo_chan_t *hello;        /* the pthreads' hellos */
    ringo_chan_t *done;
};

static void bcast_waiter(void *arg)
{
    struct bcast *b = arg;
    ringo_mutex_lock(&b->mu);
    b->waiting++;
    while (!b->ready)
        ringo_cond_wait(&b->cond, &b->mu);
    b->woke++;
    ringo_mutex_unlock(&b->mu);
    signal_done(b->done);
}

static void *bcast_thread(void *arg)
{
    signal_done(((struct bcast *)arg)->hello);
    bcast_waiter(arg);
    return NULL;
}

/* TestCondBroadcast (simplified): N waiters in the standard
 * `while (!ready) wait` loop, two of them pthreads; once all are inside
 * wait, one broadcast wakes them all. Several rounds on the same cond. */
static void bcast_main(void *arg)
{
    (void)arg;
    enum { NTHREADS = 2 };
    const int n = 100;
    struct bcast b = {.mu = {{0}}, .cond = {{0}}, .hello = ringo_chan_make(sizeof(int), NTHREADS),
                      .done = ringo_chan_make(sizeof(int), 16)};
    for (int round = 0; round < 3; round++) {
        ringo_mutex_lock(&b.mu);
        b.ready = false;
        b.waiting = b.woke = 0;
        ringo_mutex_unlock(&b.mu);
        pthread_t th[NTHREADS];
        for (int i = 0; i < n; i++)
            assert_int_equal(ringo_go(bcast_waiter, &b), 0);
        for (int k = 0; k < NTHREADS; k++)
            assert_int_equal(pthread_create(&th[k], NULL, bcast_thread, &b), 0);
        await_hellos(b.hello, NTHREADS);
        /* A waiter counts itself under mu and holds mu until wait releases
         * it: once we hold mu and see them all, they are all in wait. */
        for (;;) {
            ringo_mutex_lock(&b.mu);
            if (b.waiting == n + NTHREADS)
                break;
            ringo_mutex_unlock(&b.mu);
            ringo_yield();
        }
        assert_int_equal(b.woke, 0);
        b.ready = true;
        ringo_cond_broadcast(&b.cond);
        ringo_mutex_unlock(&b.mu);
        await_done(b.done, n + NTHREADS);
        for (int k = 0; k < NTHREADS; k++)
            pthread_join(th[k], NULL);
        ringo_mutex_lock(&b.mu);
        assert_int_equal(b.woke, n + NTHREADS);
        ringo_mutex_unlock(&b.mu);
    }
    ringo_chan_unref(b.hello);
    ringo_chan_unref(b.done);
}

static void test_cond_broadcast(void **state)
{
    (void)state;
    run_main(2, bcast_main, NULL);
}

/* ---- Cond: signal ---------------------------------------------------------------------------------- */

struct sig {
    ringo_mutex_t mu;
    ringo_cond_t cond;
    ringo_chan_t *running;      /* cap n */
    ringo_chan_t *awake;        /* cap n */
};

static void sig_waiter(void *arg)
{
    struct sig *s = arg;
    int one = 1;
    ringo_mutex_lock(&s->mu);
    ringo_chan_send(s->running, &one);
    ringo_cond_wait(&s->cond, &s->mu);
    ringo_chan_send(s->awake, &one);
    ringo_mutex_unlock(&s->mu);
}

/* TestCondSignal: n fibers wait; each signal wakes exactly one (Go's Cond
 * has no spurious wake-ups), so n signals give n wake-ups, one at a time. */
static void signal_main(void *arg)
{
    (void)arg;
    int n = 20;
    struct sig s = {.mu = {{0}}, .cond = {{0}},
                    .running = ringo_chan_make(sizeof(int), (size_t)n),
                    .awake = ringo_chan_make(sizeof(int), (size_t)n)};
    for (int i = 0; i < n; i++)
        assert_int_equal(ringo_go(sig_waiter, &s), 0);
    await_done(s.running, n);       /* each sent while holding mu, before waiting */
    int woken = 0;
    while (n > 0) {
        if (ringo_chan_try_recv(s.awake, NULL) == 0)
            fail_msg("a fiber woke without a signal");
        ringo_mutex_lock(&s.mu);    /* every waiter is inside wait now */
        ringo_cond_signal(&s.cond);
        ringo_mutex_unlock(&s.mu);
        await_done(s.awake, 1);     /* deadlocks if no fiber wakes */
        woken++;
        /* As in Go, a best-effort check for a second wake-up; a signal that
         * woke two would also leave a later signal with nobody to wake, and
         * await_done above would then never return. */
        if (ringo_chan_try_recv(s.awake, NULL) == 0)
            fail_msg("too many fibers awake after one signal");
        n--;
    }
    assert_int_equal(woken, 20);
    ringo_cond_signal(&s.cond);     /* with no waiters: nothing happens */
    ringo_cond_broadcast(&s.cond);
    ringo_chan_unref(s.running);
    ringo_chan_unref(s.awake);
}

static void test_cond_signal(void **state)
{
    (void)state;
    run_main(2, signal_main, NULL);
}

/* ---- Cond: wait re-acquires the mutex ---------------------------------------------------------------- */

struct relock {
    ringo_mutex_t mu;
    ringo_cond_t cond;
    bool ready;                 /* guarded by mu */
    bool waiting;               /* guarded by mu */
    ringo_chan_t *woke;         /* cap 1 */
    ringo_chan_t *release;      /* cap 1 */
    ringo_chan_t *done;         /* cap 1 */
};

static void relock_waiter(void *arg)
{
    struct relock *r = arg;
    int one = 1;
    ringo_mutex_lock(&r->mu);
    r->waiting = true;
    while (!r->ready)
        ringo_cond_wait(&r->cond, &r->mu);
    /* Holding mu again: tell main, and keep holding it until told. */
    ringo_chan_send(r->woke, &one);
    (void)ringo_chan_recv(r->release, &one);
    ringo_mutex_unlock(&r->mu);
    ringo_chan_send(r->done, &one);
}

/* TestCondSignal's premise ("Wait locks c.L before returning"): after wait
 * returns, the waiter holds the mutex, so trylock from another fiber fails
 * until it unlocks; and wait released it meanwhile (main could lock it to
 * set ready). */
static void relock_main(void *arg)
{
    (void)arg;
    struct relock r = {.mu = {{0}}, .cond = {{0}},
                       .woke = ringo_chan_make(sizeof(int), 1),
                       .release = ringo_chan_make(sizeof(int), 1),
                       .done = ringo_chan_make(sizeof(int), 1)};
    assert_int_equal(ringo_go(relock_waiter, &r), 0);
    for (;;) {
        ringo_mutex_lock(&r.mu);     /* succeeds only while the waiter is in wait */
        if (r.waiting)
            break;
        ringo_mutex_unlock(&r.mu);
        ringo_yield();
    }
    r.ready = true;
    ringo_cond_signal(&r.cond);
    ringo_mutex_unlock(&r.mu);
    await_done(r.woke, 1);
    assert_false(ringo_mutex_trylock(&r.mu));
    int one = 1;
    ringo_chan_send(r.release, &one);
    await_done(r.done, 1);
    assert_true(ringo_mutex_trylock(&r.mu));
    ringo_mutex_unlock(&r.mu);
    ringo_chan_unref(r.woke);
    ringo_chan_unref(r.release);
    ringo_chan_unref(r.done);
}

static void test_cond_wait_relocks(void **state)
{
    (void)state;
    run_main(2, relock_main, NULL);
}

/* ---- WaitGroup: a late waiter frees it ---------------------------------------------------- */

struct late {
    ringo_waitgroup_t *wg;      /* on the heap; the late waiter frees it */
    ringo_chan_t *who;          /* report_self */
    ringo_chan_t *go;           /* closed: the doer and the late waiter start */
    ringo_chan_t *done;         /* cap 3: each fiber reports its end */
};

static void counted_waiter(void *arg)
{
    struct late *l = arg;
    report_self(l->who);
    ringo_waitgroup_wait(l->wg);    /* must not touch wg after waking */
    signal_done(l->done);
}

static void last_doer(void *arg)
{
    struct late *l = arg;
    ringo_chan_recv(l->go, NULL);
    ringo_waitgroup_done(l->wg);
    signal_done(l->done);
}

static void late_freer(void *arg)
{
    struct late *l = arg;
    ringo_chan_recv(l->go, NULL);
    ringo_waitgroup_wait(l->wg);
    free(l->wg);                    /* Wait returned: the group is done with */
    signal_done(l->done);
}

/* The Done that ended a round used to zero the word and only then take the
 * semaphore's lock to release the waiters: a Wait arriving in between saw
 * zero, returned, and its caller freed the WaitGroup under the release (and
 * each woken waiter read the word again). Now the word is zeroed under
 * that lock, a zero-counter Wait waits the lock out, and woken waiters never
 * read the WaitGroup. ASan sees any touch of the freed group. */
static void late_free_main(void *arg)
{
    (void)arg;
    struct late l = {.who = ringo_chan_make(sizeof(ringo__fiber_t *), 1),
                     .done = ringo_chan_make(sizeof(int), 3)};
    for (long i = 0; i < iters(2000); i++) {
        l.wg = calloc(1, sizeof(*l.wg));
        assert_non_null(l.wg);
        l.go = ringo_chan_make(0, 0);
        ringo_waitgroup_add(l.wg, 1);
        assert_int_equal(ringo_go(counted_waiter, &l), 0);
        wait_parked(await_report(l.who));
        assert_int_equal(ringo_go(last_doer, &l), 0);
        assert_int_equal(ringo_go(late_freer, &l), 0);
        ringo_chan_close(l.go);
        await_done(l.done, 3);
        ringo_chan_unref(l.go);
    }
    ringo_chan_unref(l.who);
    ringo_chan_unref(l.done);
}

static void test_waitgroup_late_waiter_frees_it(void **state)
{
    (void)state;
    run_main(2, late_free_main, NULL);
}

/* ---- Once: fn leaves the fiber --------------------------------------------------------------- */

static atomic_int probe_cleaned;

static void probe_cleanup(int *unused)
{
    (void)unused;
    atomic_store(&probe_cleaned, 1);
}

static void exit_probe(void *arg)
{
    (void)arg;
    __attribute__((cleanup(probe_cleanup))) int guard = 0;
    (void)guard;
    ringo_exit();
}

static ringo_once_t exit_once;
static atomic_int exit_runs, exit_later_runs;
static bool exit_unwinds;

static void exiting_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&exit_runs, 1);
    ringo_exit();
}

static void once_exiter(void *arg)
{
    (void)arg;
    ringo_once_do(&exit_once, exiting_fn, NULL);
    CHECK(!"ringo_once_do returned after fn exited the fiber");
}

static void wait_only_main_left(void)
{
    while (ringo_num_fibers() > 1)
        ringo_yield();
}

static void once_exit_main(void *arg)
{
    (void)arg;
    /* Does ringo_exit unwind through cleanup handlers in this build? */
    assert_int_equal(ringo_go(exit_probe, NULL), 0);
    wait_only_main_left();
    exit_unwinds = atomic_load(&probe_cleaned);
    if (!exit_unwinds)
        return;
    assert_int_equal(ringo_go(once_exiter, NULL), 0);
    wait_only_main_left();
    /* Go: if f exits (runtime.Goexit), Do considers it to have returned. */
    ringo_once_do(&exit_once, count_static, &exit_later_runs);
    assert_int_equal(atomic_load(&exit_runs), 1);
    assert_int_equal(atomic_load(&exit_later_runs), 0);
}

/* The slow path used to mark done and unlock after fn returned: an fn that
 * left the fiber through ringo_exit left the once's mutex locked and every
 * later Do blocked forever. Skipped where ringo_exit does not unwind. */
static void test_once_fn_exits_fiber(void **state)
{
    (void)state;
    run_checked(2, once_exit_main, NULL);
    if (!exit_unwinds)
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waitgroup_fanout),
        cmocka_unit_test(test_waitgroup_reuse),
        cmocka_unit_test(test_waitgroup_wait_zero),
        cmocka_unit_test(test_waitgroup_negative_panics),
        cmocka_unit_test(test_waitgroup_pthread_waiter),
        cmocka_unit_test(test_once_concurrent),
        cmocka_unit_test(test_once_zero_value),
        cmocka_unit_test(test_cond_broadcast),
        cmocka_unit_test(test_cond_signal),
        cmocka_unit_test(test_cond_wait_relocks),
        cmocka_unit_test(test_waitgroup_late_waiter_frees_it),
        cmocka_unit_test(test_once_fn_exits_fiber),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

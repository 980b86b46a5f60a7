/* Description: sync.Mutex and sync.RWMutex (ringo/sync.h), ported from Go's
 * sync/mutex_test.go and sync/rwmutex_test.go where they apply. Mutex: a
 * counter under a mutex stays exact with 1,000 fibers on two workers (some
 * taking it by trylock); trylock fails while the mutex is held and succeeds
 * when it is free; a fiber that locks rarely is not starved by fibers that
 * hammer the mutex (starvation mode); unlocking an unlocked mutex panics;
 * plain pthreads and fibers share one mutex (also with no runtime at all);
 * the zero value works (static, stack, calloc). RWMutex: readers hold the
 * read lock together; a writer excludes readers and other writers (and its
 * writes are visible to later readers); a pending writer keeps new readers
 * out until it has had its turn; tryrlock/trylock; unlocking an unlocked
 * RWMutex (or the wrong half) panics with Go's words.
 */
#include "common.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- Mutex: exact counter ------------------------------------------------------------------ */

struct counter {
    ringo_mutex_t mu;
    long value;             /* guarded by mu: plain on purpose (TSan checks mu's ordering) */
    long per_fiber;
    ringo_chan_t *done;
};

static void count_fiber(void *arg)
{
    struct counter *c = arg;
    for (long i = 0; i < c->per_fiber; i++) {
        if (i % 7 == 3) {
            /* HammerMutex's TryLock path, but retried so the total stays exact. */
            while (!ringo_mutex_trylock(&c->mu))
                ringo_yield();
        } else {
            ringo_mutex_lock(&c->mu);
        }
        c->value++;
        if (i % 64 == 0)
            ringo_yield();      /* hold it across a switch now and then */
        ringo_mutex_unlock(&c->mu);
    }
    signal_done(c->done);
}

/* TestMutex (HammerMutex): 1,000 fibers × 1,000 increments on two workers,
 * the total exact. */
static void counter_main(void *arg)
{
    (void)arg;
    const long nfibers = live_cap(1000);
    struct counter c = {.mu = {{0}}, .per_fiber = iters(1000),
                        .done = ringo_chan_make(sizeof(int), 16)};
    for (long i = 0; i < nfibers; i++)
        assert_int_equal(ringo_go(count_fiber, &c), 0);
    await_done(c.done, nfibers);
    ringo_mutex_lock(&c.mu);
    assert_int_equal(c.value, nfibers * c.per_fiber);
    ringo_mutex_unlock(&c.mu);
    ringo_chan_unref(c.done);
}

static void test_mutex_counter(void **state)
{
    (void)state;
    run_main(2, counter_main, NULL);
}

/* ---- Mutex: trylock ------------------------------------------------------------------------- */

struct tryer {
    ringo_mutex_t *mu;
    ringo_chan_t *result;   /* cap 1: bool */
};

static void try_from_other_fiber(void *arg)
{
    struct tryer *t = arg;
    bool got = ringo_mutex_trylock(t->mu);
    if (got)
        ringo_mutex_unlock(t->mu);
    ringo_chan_send(t->result, &got);
}

static bool trylock_elsewhere(ringo_mutex_t *mu)
{
    struct tryer t = {.mu = mu, .result = ringo_chan_make(sizeof(bool), 1)};
    assert_int_equal(ringo_go(try_from_other_fiber, &t), 0);
    bool got = false;
    assert_true(ringo_chan_recv(t.result, &got));
    ringo_chan_unref(t.result);
    return got;
}

/* TestMutex's opening: TryLock fails with the mutex locked and succeeds
 * once it is unlocked; also from another fiber. */
static void trylock_main(void *arg)
{
    (void)arg;
    ringo_mutex_t mu = {{0}};
    ringo_mutex_lock(&mu);
    assert_false(ringo_mutex_trylock(&mu));
    assert_false(trylock_elsewhere(&mu));
    ringo_mutex_unlock(&mu);

    assert_true(ringo_mutex_trylock(&mu));
    assert_false(ringo_mutex_trylock(&mu));
    assert_false(trylock_elsewhere(&mu));
    ringo_mutex_unlock(&mu);

    assert_true(trylock_elsewhere(&mu));     /* it unlocked it again */
    assert_true(ringo_mutex_trylock(&mu));
    ringo_mutex_unlock(&mu);
    ringo_mutex_lock(&mu);                   /* and a plain lock still works */
    ringo_mutex_unlock(&mu);
}

static void test_mutex_trylock(void **state)
{
    (void)state;
    run_main(2, trylock_main, NULL);
}

/* ---- Mutex: fairness ----------------------------------------------------------------------- */

struct fair {
    ringo_mutex_t mu;
    atomic_bool stop;
    ringo_chan_t *hogs_done;    /* hogs report here when told to stop */
    ringo_chan_t *rare_done;    /* cap 1: the rare locker finished */
    _Atomic int64_t max_wait;   /* longest single acquisition by the rare locker */
};

/* Go's hog: holds the mutex for 100 µs and re-locks at once. */
static void hog_sleeping(void *arg)
{
    struct fair *f = arg;
    while (!atomic_load(&f->stop)) {
        ringo_mutex_lock(&f->mu);
        ringo_sleep(100 * RINGO_MICROSECOND);
        ringo_mutex_unlock(&f->mu);
    }
    signal_done(f->hogs_done);
}

static void hog_yield_inside(void *arg)
{
    struct fair *f = arg;
    while (!atomic_load(&f->stop)) {
        ringo_mutex_lock(&f->mu);
        ringo_yield();
        ringo_mutex_unlock(&f->mu);
    }
    signal_done(f->hogs_done);
}

static void hog_yield_outside(void *arg)
{
    struct fair *f = arg;
    while (!atomic_load(&f->stop)) {
        ringo_mutex_lock(&f->mu);
        ringo_mutex_unlock(&f->mu);
        ringo_yield();
    }
    signal_done(f->hogs_done);
}

static void rare_locker(void *arg)
{
    struct fair *f = arg;
    for (int i = 0; i < 10; i++) {
        ringo_sleep(100 * RINGO_MICROSECOND);
        int64_t t0 = ringo_now();
        ringo_mutex_lock(&f->mu);
        int64_t waited = ringo_now() - t0;
        ringo_mutex_unlock(&f->mu);
        if (waited > atomic_load(&f->max_wait))
            atomic_store(&f->max_wait, waited);
    }
    signal_done(f->rare_done);
}

/* TestMutexFairness: a fiber that locks only every 100 µs gets the mutex
 * 10 times while others hammer it (Go allows 10 s; starvation mode hands
 * the lock to a waiter blocked over 1 ms, so 5 s is very generous). */
static void fairness_main(void *arg)
{
    (void)arg;
    struct fair f = {.mu = {{0}},
                     .hogs_done = ringo_chan_make(sizeof(int), 8),
                     .rare_done = ringo_chan_make(sizeof(int), 1)};
    void (*hogs[])(void *) = {hog_sleeping, hog_yield_inside, hog_yield_inside,
                              hog_yield_outside, hog_yield_outside};
    const int nhogs = (int)(sizeof(hogs) / sizeof(hogs[0]));
    for (int i = 0; i < nhogs; i++)
        assert_int_equal((ringo_go)(hogs[i], &f), 0);
    assert_int_equal(ringo_go(rare_locker, &f), 0);

    int v;
    ringo_case_t cases[] = {RINGO_RECV(f.rare_done, &v), RINGO_TIMEOUT(5 * RINGO_SECOND)};
    int which = ringo_select(cases, 2);
    atomic_store(&f.stop, true);
    if (which != 0)
        fail_msg("the rare locker did not get the mutex 10 times in 5 s");
    await_done(f.hogs_done, nhogs);
    print_message("fairness: longest wait %.3f ms\n", (double)atomic_load(&f.max_wait) / 1e6);
    ringo_chan_unref(f.hogs_done);
    ringo_chan_unref(f.rare_done);
}

static void test_mutex_fairness(void **state)
{
    (void)state;
    run_main(2, fairness_main, NULL);
}

/* ---- Mutex: misuse ------------------------------------------------------------------------- */

static void unlock_unlocked_main(void *arg)
{
    (void)arg;
    ringo_mutex_t mu = {{0}};
    ringo_mutex_unlock(&mu);
}

static void unlock_unlocked_child(void)
{
    run_main(2, unlock_unlocked_main, NULL);
}

static void unlock_twice_main(void *arg)
{
    (void)arg;
    ringo_mutex_t mu = {{0}};
    ringo_mutex_lock(&mu);
    ringo_mutex_unlock(&mu);
    ringo_mutex_unlock(&mu);
}

static void unlock_twice_child(void)
{
    run_main(2, unlock_twice_main, NULL);
}

/* TestMutexMisuse "Mutex.Unlock" and "Mutex.Unlock2". */
static void test_mutex_unlock_unlocked_panics(void **state)
{
    (void)state;
    death_test(unlock_unlocked_child, "sync: unlock of unlocked mutex");
    death_test(unlock_twice_child, "sync: unlock of unlocked mutex");
}

/* ---- Mutex: plain threads ------------------------------------------------------------------ */

struct mixed {
    ringo_mutex_t mu;
    long value;                 /* guarded by mu */
    long per_fiber, per_thread;
    ringo_chan_t *hello;
    ringo_chan_t *done;
};

static void mixed_fiber(void *arg)
{
    struct mixed *m = arg;
    for (long i = 0; i < m->per_fiber; i++) {
        ringo_mutex_lock(&m->mu);
        m->value++;
        if (i % 32 == 0)
            ringo_yield();
        ringo_mutex_unlock(&m->mu);
    }
    signal_done(m->done);
}

static void *mixed_thread(void *arg)
{
    struct mixed *m = arg;
    signal_done(m->hello);
    for (long i = 0; i < m->per_thread; i++) {
        if (i % 5 == 0) {
            while (!ringo_mutex_trylock(&m->mu))
                sched_yield();
        } else {
            ringo_mutex_lock(&m->mu);
        }
        m->value++;
        ringo_mutex_unlock(&m->mu);
    }
    signal_done(m->done);
    return NULL;
}

/* No Go twin (Go has no foreign threads): two pthreads and 100 fibers share
 * one mutex, each side blocking while the other holds it; the count is
 * exact. */
static void mixed_main(void *arg)
{
    (void)arg;
    struct mixed m = {.mu = {{0}}, .per_fiber = iters(1000), .per_thread = iters(20000),
                      .hello = ringo_chan_make(sizeof(int), 4),
                      .done = ringo_chan_make(sizeof(int), 4)};
    enum { NTHREADS = 2, NFIBERS = 100 };
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, mixed_thread, &m), 0);
    await_hellos(m.hello, NTHREADS);
    for (int i = 0; i < NFIBERS; i++)
        assert_int_equal(ringo_go(mixed_fiber, &m), 0);
    await_done(m.done, NTHREADS + NFIBERS);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    ringo_mutex_lock(&m.mu);
    assert_int_equal(m.value, NFIBERS * m.per_fiber + NTHREADS * m.per_thread);
    ringo_mutex_unlock(&m.mu);
    ringo_chan_unref(m.hello);
    ringo_chan_unref(m.done);
}

static void test_mutex_pthreads_and_fibers(void **state)
{
    (void)state;
    run_main(2, mixed_main, NULL);
}

struct bare {
    ringo_mutex_t mu;
    long value;                 /* guarded by mu */
    long n;
};

static void *bare_thread(void *arg)
{
    struct bare *b = arg;
    for (long i = 0; i < b->n; i++) {
        ringo_mutex_lock(&b->mu);
        b->value++;
        ringo_mutex_unlock(&b->mu);
    }
    return NULL;
}

/* No Go twin: with no runtime running at all, plain threads contend on a
 * mutex (they block on its futex). */
static void test_mutex_without_runtime(void **state)
{
    (void)state;
    struct bare b = {.mu = {{0}}, .n = iters(100000)};
    assert_true(ringo_mutex_trylock(&b.mu));
    assert_false(ringo_mutex_trylock(&b.mu));
    ringo_mutex_unlock(&b.mu);
    enum { NTHREADS = 4 };
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bare_thread, &b), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(b.value, NTHREADS * b.n);
}

/* ---- zero values ----------------------------------------------------------------------------- */

static ringo_mutex_t static_mu;
static ringo_rwmutex_t static_rw;

struct zero_heap {
    ringo_mutex_t mu;
    long value;
    ringo_chan_t *done;
};

static void zero_heap_fiber(void *arg)
{
    struct zero_heap *z = arg;
    for (long i = 0; i < iters(1000); i++) {
        ringo_mutex_lock(&z->mu);
        z->value++;
        ringo_mutex_unlock(&z->mu);
    }
    signal_done(z->done);
}

/* No Go twin beyond "the zero Mutex is an unlocked mutex": static, stack
 * and calloc'd mutexes and RWMutexes need no init. */
static void zero_value_main(void *arg)
{
    (void)arg;
    ringo_mutex_lock(&static_mu);
    assert_false(ringo_mutex_trylock(&static_mu));
    ringo_mutex_unlock(&static_mu);
    assert_true(ringo_mutex_trylock(&static_mu));
    ringo_mutex_unlock(&static_mu);

    ringo_mutex_t stack_mu = {{0}};
    assert_true(ringo_mutex_trylock(&stack_mu));
    ringo_mutex_unlock(&stack_mu);

    ringo_rwmutex_rlock(&static_rw);
    assert_true(ringo_rwmutex_tryrlock(&static_rw));
    assert_false(ringo_rwmutex_trylock(&static_rw));
    ringo_rwmutex_runlock(&static_rw);
    ringo_rwmutex_runlock(&static_rw);
    ringo_rwmutex_lock(&static_rw);
    ringo_rwmutex_unlock(&static_rw);

    ringo_rwmutex_t stack_rw = {{0}};
    assert_true(ringo_rwmutex_trylock(&stack_rw));
    ringo_rwmutex_unlock(&stack_rw);

    struct zero_heap *z = calloc(1, sizeof(*z));
    assert_non_null(z);
    z->done = ringo_chan_make(sizeof(int), 4);
    enum { N = 20 };
    for (int i = 0; i < N; i++)
        assert_int_equal(ringo_go(zero_heap_fiber, z), 0);
    await_done(z->done, N);
    ringo_mutex_lock(&z->mu);
    assert_int_equal(z->value, N * iters(1000));
    ringo_mutex_unlock(&z->mu);
    ringo_chan_unref(z->done);
    free(z);
}

static void test_zero_values(void **state)
{
    (void)state;
    run_main(2, zero_value_main, NULL);
}

/* ---- RWMutex: parallel readers ----------------------------------------------------------------- */

struct par {
    ringo_rwmutex_t *rw;
    ringo_chan_t *clocked, *cunlock, *cdone;
};

static void parallel_reader(void *arg)
{
    struct par *p = arg;
    int one = 1;
    ringo_rwmutex_rlock(p->rw);
    ringo_chan_send(p->clocked, &one);
    (void)ringo_chan_recv(p->cunlock, &one);
    ringo_rwmutex_runlock(p->rw);
    ringo_chan_send(p->cdone, &one);
}

/* TestParallelReaders: every reader takes the read lock and reports before
 * any is allowed to release it: possible only if they hold it together. */
static void parallel_readers_main(void *arg)
{
    (void)arg;
    static const int counts[] = {1, 3, 4, 100};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        int n = counts[k];
        ringo_rwmutex_t rw = {{0}};
        struct par p = {.rw = &rw,
                        .clocked = ringo_chan_make(sizeof(int), 0),
                        .cunlock = ringo_chan_make(sizeof(int), 0),
                        .cdone = ringo_chan_make(sizeof(int), 0)};
        for (int i = 0; i < n; i++)
            assert_int_equal(ringo_go(parallel_reader, &p), 0);
        await_done(p.clocked, n);
        /* All n hold it: another reader gets in, a writer does not. */
        assert_false(ringo_rwmutex_trylock(&rw));
        assert_true(ringo_rwmutex_tryrlock(&rw));
        ringo_rwmutex_runlock(&rw);
        int one = 1;
        for (int i = 0; i < n; i++)
            ringo_chan_send(p.cunlock, &one);
        await_done(p.cdone, n);
        assert_true(ringo_rwmutex_trylock(&rw));
        ringo_rwmutex_unlock(&rw);
        ringo_chan_unref(p.clocked);
        ringo_chan_unref(p.cunlock);
        ringo_chan_unref(p.cdone);
    }
}

static void test_rwmutex_parallel_readers(void **state)
{
    (void)state;
    run_main(2, parallel_readers_main, NULL);
}

/* ---- RWMutex: hammer ----------------------------------------------------------------------------- */

struct hammer {
    ringo_rwmutex_t rw;
    atomic_int activity;        /* readers add 1, writers 10,000 */
    atomic_int errors;
    long shared;                /* written under the write lock, read under the read lock */
    long iterations;
    ringo_chan_t *hello;        /* the pthread's hello (see mixed_thread) */
    ringo_chan_t *cdone;
};

static void hammer_read(struct hammer *h, long i)
{
    if (i % 5 == 2) {
        while (!ringo_rwmutex_tryrlock(&h->rw))
            ringo_yield();
    } else {
        ringo_rwmutex_rlock(&h->rw);
    }
    int n = atomic_fetch_add(&h->activity, 1) + 1;
    if (n < 1 || n >= 10000)
        atomic_fetch_add(&h->errors, 1);
    long seen = h->shared;
    if (seen < 0 || seen > 2 * h->iterations + 2 * h->iterations)
        atomic_fetch_add(&h->errors, 1);
    if (i % 16 == 0)
        ringo_yield();
    atomic_fetch_sub(&h->activity, 1);
    ringo_rwmutex_runlock(&h->rw);
}

static void hammer_write(struct hammer *h, long i)
{
    if (i % 5 == 2) {
        while (!ringo_rwmutex_trylock(&h->rw))
            ringo_yield();
    } else {
        ringo_rwmutex_lock(&h->rw);
    }
    int n = atomic_fetch_add(&h->activity, 10000) + 10000;
    if (n != 10000)
        atomic_fetch_add(&h->errors, 1);
    h->shared++;
    if (i % 16 == 0)
        ringo_yield();
    atomic_fetch_sub(&h->activity, 10000);
    ringo_rwmutex_unlock(&h->rw);
}

static void hammer_reader(void *arg)
{
    struct hammer *h = arg;
    for (long i = 0; i < h->iterations; i++)
        hammer_read(h, i);
    signal_done(h->cdone);
}

static void hammer_writer(void *arg)
{
    struct hammer *h = arg;
    for (long i = 0; i < h->iterations; i++)
        hammer_write(h, i);
    signal_done(h->cdone);
}

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    signal_done(h->hello);
    /* One pthread both reads and writes, blocking on the futex path. */
    for (long i = 0; i < h->iterations; i++) {
        if (i % 2)
            hammer_write(h, i);
        else
            hammer_read(h, i);
    }
    signal_done(h->cdone);
    return NULL;
}

/* TestRWMutex (HammerRWMutex with 1, 3 and 10 readers; two writers, one
 * started before the readers and one among them): a writer never overlaps a
 * reader or another writer. Plus (no Go twin) a pthread that reads and
 * writes alongside, and a plain counter written by writers that readers
 * read, which TSan checks for ordering. */
static void hammer_main(void *arg)
{
    (void)arg;
    static const int readers[] = {1, 3, 10};
    for (size_t k = 0; k < sizeof(readers) / sizeof(readers[0]); k++) {
        for (int with_thread = 0; with_thread < 2; with_thread++) {
            struct hammer h = {.rw = {{0}}, .iterations = iters(1000),
                               .hello = ringo_chan_make(sizeof(int), 1),
                               .cdone = ringo_chan_make(sizeof(int), 4)};
            int nr = readers[k], i;
            pthread_t th;
            assert_int_equal(ringo_go(hammer_writer, &h), 0);
            for (i = 0; i < nr / 2; i++)
                assert_int_equal(ringo_go(hammer_reader, &h), 0);
            assert_int_equal(ringo_go(hammer_writer, &h), 0);
            for (; i < nr; i++)
                assert_int_equal(ringo_go(hammer_reader, &h), 0);
            if (with_thread) {
                assert_int_equal(pthread_create(&th, NULL, hammer_thread, &h), 0);
                await_hellos(h.hello, 1);
            }
            await_done(h.cdone, 2 + nr + with_thread);
            if (with_thread)
                pthread_join(th, NULL);
            assert_int_equal(atomic_load(&h.errors), 0);
            assert_int_equal(atomic_load(&h.activity), 0);
            ringo_rwmutex_rlock(&h.rw);
            assert_int_equal(h.shared, 2 * h.iterations + (with_thread ? h.iterations / 2 : 0));
            ringo_rwmutex_runlock(&h.rw);
            ringo_chan_unref(h.hello);
            ringo_chan_unref(h.cdone);
        }
    }
}

static void test_rwmutex_writer_excludes(void **state)
{
    (void)state;
    run_main(2, hammer_main, NULL);
}

/* ---- RWMutex: a pending writer blocks new readers ------------------------------------------------ */

struct pend {
    ringo_rwmutex_t rw;
    ringo_chan_t *who;          /* cap 2: fibers report themselves */
    ringo_chan_t *done;         /* cap 2 */
    atomic_int seq;
    atomic_int writer_at;       /* seq when the writer got in (0: not yet) */
    atomic_int reader_at;       /* seq when the late reader got in */
};

static void pending_writer(void *arg)
{
    struct pend *p = arg;
    report_self(p->who);
    ringo_rwmutex_lock(&p->rw);
    atomic_store(&p->writer_at, atomic_fetch_add(&p->seq, 1) + 1);
    ringo_rwmutex_unlock(&p->rw);
    signal_done(p->done);
}

static void late_reader(void *arg)
{
    struct pend *p = arg;
    report_self(p->who);
    ringo_rwmutex_rlock(&p->rw);
    atomic_store(&p->reader_at, atomic_fetch_add(&p->seq, 1) + 1);
    ringo_rwmutex_runlock(&p->rw);
    signal_done(p->done);
}

/* No Go test by name; RWMutex's documented rule "if any goroutine calls
 * Lock while the lock is already held by one or more readers, concurrent
 * calls to RLock will block until the writer has acquired (and released)
 * the lock" (the reason TestRLockRecursive-style recursion deadlocks).
 * Reader A (main) holds the read lock; writer W blocks in lock; from then
 * on tryrlock fails and a new reader R blocks; when A lets go, W gets it
 * before R. */
static void pending_writer_main(void *arg)
{
    (void)arg;
    struct pend p = {.rw = {{0}},
                     .who = ringo_chan_make(sizeof(void *), 2),
                     .done = ringo_chan_make(sizeof(int), 2)};
    ringo_rwmutex_rlock(&p.rw);
    assert_int_equal(ringo_go(pending_writer, &p), 0);
    ringo__fiber_t *w = await_report(p.who);
    /* Once W has announced itself, new readers are turned away. */
    while (ringo_rwmutex_tryrlock(&p.rw)) {
        ringo_rwmutex_runlock(&p.rw);
        ringo_yield();
    }
    wait_parked(w);
    assert_false(ringo_rwmutex_tryrlock(&p.rw));
    assert_false(ringo_rwmutex_trylock(&p.rw));
    assert_int_equal(atomic_load(&p.writer_at), 0);

    assert_int_equal(ringo_go(late_reader, &p), 0);
    wait_parked(await_report(p.who));
    assert_int_equal(atomic_load(&p.reader_at), 0);
    assert_int_equal(atomic_load(&p.writer_at), 0);

    ringo_rwmutex_runlock(&p.rw);
    await_done(p.done, 2);
    assert_int_equal(atomic_load(&p.writer_at), 1);
    assert_int_equal(atomic_load(&p.reader_at), 2);
    assert_true(ringo_rwmutex_trylock(&p.rw));
    ringo_rwmutex_unlock(&p.rw);
    ringo_chan_unref(p.who);
    ringo_chan_unref(p.done);
}

static void test_rwmutex_pending_writer_blocks_readers(void **state)
{
    (void)state;
    run_main(2, pending_writer_main, NULL);
}

/* ---- RWMutex: trylock / tryrlock ------------------------------------------------------------------ */

/* TestRWMutex's opening (Go 1.18's TryLock/TryRLock). */
static void rw_try_main(void *arg)
{
    (void)arg;
    ringo_rwmutex_t rw = {{0}};
    ringo_rwmutex_lock(&rw);
    assert_false(ringo_rwmutex_trylock(&rw));
    assert_false(ringo_rwmutex_tryrlock(&rw));
    ringo_rwmutex_unlock(&rw);

    assert_true(ringo_rwmutex_trylock(&rw));
    assert_false(ringo_rwmutex_trylock(&rw));
    assert_false(ringo_rwmutex_tryrlock(&rw));
    ringo_rwmutex_unlock(&rw);

    assert_true(ringo_rwmutex_tryrlock(&rw));
    assert_true(ringo_rwmutex_tryrlock(&rw));
    assert_false(ringo_rwmutex_trylock(&rw));
    ringo_rwmutex_runlock(&rw);
    assert_false(ringo_rwmutex_trylock(&rw));
    ringo_rwmutex_runlock(&rw);
    assert_true(ringo_rwmutex_trylock(&rw));
    ringo_rwmutex_unlock(&rw);
}

static void test_rwmutex_try(void **state)
{
    (void)state;
    run_main(2, rw_try_main, NULL);
}

/* ---- RWMutex: misuse ----------------------------------------------------------------------------- */

static void rw_runlock_unlocked_main(void *arg)
{
    (void)arg;
    ringo_rwmutex_t rw = {{0}};
    ringo_rwmutex_runlock(&rw);
}

static void rw_runlock_after_lock_main(void *arg)
{
    (void)arg;
    ringo_rwmutex_t rw = {{0}};
    ringo_rwmutex_lock(&rw);
    ringo_rwmutex_runlock(&rw);
}

static void rw_runlock_twice_main(void *arg)
{
    (void)arg;
    ringo_rwmutex_t rw = {{0}};
    ringo_rwmutex_rlock(&rw);
    ringo_rwmutex_runlock(&rw);
    ringo_rwmutex_runlock(&rw);
}

static void rw_unlock_unlocked_main(void *arg)
{
    (void)arg;
    ringo_rwmutex_t rw = {{0}};
    ringo_rwmutex_unlock(&rw);
}

static void rw_unlock_twice_main(void *arg)
{
    (void)arg;
    ringo_rwmutex_t rw = {{0}};
    ringo_rwmutex_lock(&rw);
    ringo_rwmutex_unlock(&rw);
    ringo_rwmutex_unlock(&rw);
}

static void rw_unlock_after_rlock_main(void *arg)
{
    (void)arg;
    ringo_rwmutex_t rw = {{0}};
    ringo_rwmutex_rlock(&rw);
    ringo_rwmutex_unlock(&rw);
}

static void rw_runlock_unlocked_child(void) { run_main(2, rw_runlock_unlocked_main, NULL); }
static void rw_runlock_after_lock_child(void) { run_main(2, rw_runlock_after_lock_main, NULL); }
static void rw_runlock_twice_child(void) { run_main(2, rw_runlock_twice_main, NULL); }
static void rw_unlock_unlocked_child(void) { run_main(2, rw_unlock_unlocked_main, NULL); }
static void rw_unlock_twice_child(void) { run_main(2, rw_unlock_twice_main, NULL); }
static void rw_unlock_after_rlock_child(void) { run_main(2, rw_unlock_after_rlock_main, NULL); }

/* TestMutexMisuse "RWMutex.RUnlock", "RWMutex.RUnlock2", "RWMutex.RUnlock3". */
static void test_rwmutex_runlock_unlocked_panics(void **state)
{
    (void)state;
    death_test(rw_runlock_unlocked_child, "sync: RUnlock of unlocked RWMutex");
    death_test(rw_runlock_after_lock_child, "sync: RUnlock of unlocked RWMutex");
    death_test(rw_runlock_twice_child, "sync: RUnlock of unlocked RWMutex");
}

/* TestMutexMisuse "RWMutex.Unlock", "RWMutex.Unlock2", "RWMutex.Unlock3". */
static void test_rwmutex_unlock_unlocked_panics(void **state)
{
    (void)state;
    death_test(rw_unlock_unlocked_child, "sync: Unlock of unlocked RWMutex");
    death_test(rw_unlock_twice_child, "sync: Unlock of unlocked RWMutex");
    death_test(rw_unlock_after_rlock_child, "sync: Unlock of unlocked RWMutex");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutex_counter),
        cmocka_unit_test(test_mutex_trylock),
        cmocka_unit_test(test_mutex_fairness),
        cmocka_unit_test(test_mutex_unlock_unlocked_panics),
        cmocka_unit_test(test_mutex_pthreads_and_fibers),
        cmocka_unit_test(test_mutex_without_runtime),
        cmocka_unit_test(test_zero_values),
        cmocka_unit_test(test_rwmutex_parallel_readers),
        cmocka_unit_test(test_rwmutex_writer_excludes),
        cmocka_unit_test(test_rwmutex_pending_writer_blocks_readers),
        cmocka_unit_test(test_rwmutex_try),
        cmocka_unit_test(test_rwmutex_runlock_unlocked_panics),
        cmocka_unit_test(test_rwmutex_unlock_unlocked_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

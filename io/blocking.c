/* io/blocking.c - ringo_blocking: the blocking pool, for calls that cannot
 * go through the ring (getaddrinfo, a library that blocks).
 *
 * A fiber's call is a record on its own stack (struct blocking_call). The
 * fiber prepares to park, hands the record to an idle pool thread or queues
 * it, and parks; the thread that runs fn stores the result and readies the
 * fiber with ringo__unblock, which orders memory: what fn wrote, the fiber
 * sees (for the race detector too: the fiber's writes before the call reach
 * fn through the record's address, fn's reach the fiber through its wake).
 * A record is touched by the pool only under pool.lock and only while its
 * state is QUEUED or RUNNING; once DONE or ABANDONED the pool forgets it.
 *
 * Threads. At most pool.max (RINGO_BLOCKING_THREADS, default 64), started
 * when a call finds no idle thread, each started with the call that made
 * it queued; a thread idle for IDLE_NS exits, and the next thread started
 * joins it. From a thread that is not a fiber, or in a fork child, fn runs
 * on the caller. If no thread can be started and none runs, the caller
 * runs fn itself.
 *
 * The deadlock check (core/sched.c) counts every thread that is not the
 * runtime's own as one that might wake a fiber. A pool thread might only
 * while some call is queued or running (pool.busy > 0): such a call's fiber
 * is parked and will be readied by it. With no call in the pool an idle
 * thread can wake nobody, and ringo__idle_thread_hook says so, so idle
 * threads do not hide a deadlock. busy is counted before the caller parks
 * and dropped only after its fiber was readied, so a check that reads 0 sees
 * the readied fiber in a run queue.
 *
 * The run's end. A fiber still waiting when ringo_run ends is abandoned:
 * its published waiter's hook (sync/waitq.h) takes a queued call off the
 * queue, or marks a running one ABANDONED so that its thread does not touch
 * it when fn returns. Then ringo__run_end_hook ends the pool: idle threads
 * are told to exit, busy ones exit when their fn returns, and all are
 * joined and freed before ringo_run frees the stacks, so a second run
 * starts with an empty pool. A fn that never returns holds ringo_run up
 * (it says so on stderr after a second), as a fiber that never yields does.
 *
 * Locks: pool.lock (a pthread mutex: a thread may wait for it while
 * another readies a fiber under it) protects everything in `pool` but
 * busy, and each record's state, result and links. Under it: rt->global_lock
 * (readying a fiber from a pool thread). Nothing takes it while holding a
 * runtime lock.
 */
#include "io_internal.h"
#include "waitq.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_THREADS 64
#define MAX_THREADS 4096
#define IDLE_NS (5 * RINGO_SECOND)

enum { CALL_QUEUED, CALL_RUNNING, CALL_DONE, CALL_ABANDONED, CALL_INLINE };

struct blocking_call {
    ringo__link_t link;             /* on pool.queue while QUEUED there */
    void *(*fn)(void *);
    void *arg;
    void *result;
    int state;                      /* CALL_*; pool.lock */
    ringo__wait_t wait;
    ringo__waiter_t waiter;         /* published on the fiber: its abandon hook */
};

struct pool_thread {
    ringo__link_t link;             /* on pool.all until joined */
    ringo__link_t idle_link;        /* on pool.idle while idle */
    pthread_t thread;
    _Atomic int tid;
    _Atomic uint32_t futex;         /* set to 1 to wake it */
    struct blocking_call *call;     /* handed to it while idle */
    bool idle;
    bool exited;                    /* it returned; join it */
};

static struct {
    pthread_mutex_t lock;
    ringo__list_t queue;            /* calls no thread has taken yet */
    ringo__list_t all;              /* every thread not yet joined */
    ringo__list_t idle;             /* threads waiting for a call */
    unsigned nthreads;              /* threads started and not exited */
    unsigned max;                   /* 0 until the first call of a run */
    bool closing;                   /* the run is ending: threads exit */
    _Atomic unsigned busy;          /* calls queued or running */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void lock(void)
{
    ringo__pthread_lock(&pool.lock);
}

static void unlock(void)
{
    ringo__pthread_unlock(&pool.lock);
}

static void futex_wake(_Atomic uint32_t *word)
{
    atomic_store_explicit(word, 1, memory_order_release);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static unsigned env_max(void)
{
    const char *s = getenv("RINGO_BLOCKING_THREADS");
    if (!s || !*s)
        return DEFAULT_THREADS;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > MAX_THREADS) {
        fprintf(stderr, "ringo: warning: ignoring RINGO_BLOCKING_THREADS=%s (want 1..%d)\n", s,
                MAX_THREADS);
        return DEFAULT_THREADS;
    }
    return (unsigned)v;
}

/* ---- the pool's threads ------------------------------------------------------------ */

/* fn has returned for c. pool.lock held. */
static void call_finish(struct blocking_call *c, void *result)
{
    if (c->state == CALL_ABANDONED)
        return;                 /* its fiber died with the run */
    c->result = result;
    c->state = CALL_DONE;
    ringo__runtime_t *rt = ringo__rt;
    /* A stopping runtime runs no fiber again: the waiter is abandoned. */
    if (rt && !atomic_load(&rt->stopping))
        ringo__unblock(&c->wait);   /* from here c may vanish */
}

static void *pool_main(void *arg)
{
    struct pool_thread *t = arg;
    atomic_store(&t->tid, (int)syscall(SYS_gettid));
    lock();
    for (;;) {
        struct blocking_call *c = t->call;
        t->call = NULL;
        if (!c) {
            ringo__link_t *l = ringo__list_pop_front(&pool.queue);
            c = l ? ringo__container_of(l, struct blocking_call, link) : NULL;
        }
        if (c) {
            c->state = CALL_RUNNING;
            unlock();
            RINGO_RACE_ACQUIRE(c);          /* the caller's writes, to fn */
            void *r = c->fn(c->arg);
            lock();
            call_finish(c, r);
            /* After the wake-up: see the top of this file. */
            atomic_fetch_sub(&pool.busy, 1);
            continue;
        }
        if (pool.closing)
            break;
        /* Idle: wait for a call, the run's end, or IDLE_NS. */
        int64_t until = ringo__wall_now() + IDLE_NS;
        t->idle = true;
        ringo__list_push_back(&pool.idle, &t->idle_link);
        for (;;) {
            atomic_store_explicit(&t->futex, 0, memory_order_relaxed);
            unlock();
            int64_t left = until - ringo__wall_now();
            if (left > 0) {
                struct timespec ts = {.tv_sec = left / RINGO_SECOND, .tv_nsec = left % RINGO_SECOND};
                syscall(SYS_futex, &t->futex, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
            }
            lock();
            if (!t->idle || ringo__wall_now() >= until)
                break;          /* handed a call (or told to end), or timed out */
        }
        if (t->idle) {
            ringo__list_remove(&pool.idle, &t->idle_link);
            t->idle = false;
            if (!t->call && ringo__list_empty(&pool.queue))
                break;          /* idle for IDLE_NS */
        }
    }
    pool.nthreads--;
    t->exited = true;
    unlock();
    return NULL;
}

/* Joins and frees the threads on `done`. No lock held. */
static void join_all(ringo__list_t *done, bool report)
{
    bool named = !report;
    for (ringo__link_t *l; (l = ringo__list_pop_front(done));) {
        struct pool_thread *t = ringo__container_of(l, struct pool_thread, link);
        if (!named) {
            struct timespec deadline;
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 1;
            if (pthread_timedjoin_np(t->thread, NULL, &deadline) == 0) {
                ringo__free(t);
                continue;
            }
            fprintf(stderr, "ringo: ringo_run is waiting for a ringo_blocking call to return\n");
            named = true;
        }
        pthread_join(t->thread, NULL);
        ringo__free(t);
    }
}

/* Starts one more thread (its slot already counted in nthreads), after
 * joining those that exited. False if it could not. */
static bool spawn(void)
{
    ringo__list_t done = {0};
    lock();
    ringo__list_foreach_safe(&pool.all, l, nx) {
        if (ringo__container_of(l, struct pool_thread, link)->exited) {
            ringo__list_remove(&pool.all, l);
            ringo__list_push_back(&done, l);
        }
    }
    unlock();
    join_all(&done, false);

    struct pool_thread *t = ringo__calloc(1, sizeof(*t));
    if (!t)
        return false;
    lock();
    ringo__list_push_back(&pool.all, &t->link);
    unlock();
    if (pthread_create(&t->thread, NULL, pool_main, t) != 0) {
        lock();
        ringo__list_remove(&pool.all, &t->link);
        unlock();
        ringo__free(t);
        return false;
    }
    return true;
}

/* ---- hooks for core/ --------------------------------------------------------------- */

/* The deadlock check's question: see the top of this file. */
static bool idle_pool_thread(int tid)
{
    if (atomic_load(&pool.busy))
        return false;
    bool found = false;
    lock();
    for (ringo__link_t *l = pool.all.first; l && !found; l = l->next)
        found = atomic_load(&ringo__container_of(l, struct pool_thread, link)->tid) == tid;
    unlock();
    return found;
}

/* ringo_run's end: every worker has stopped and abandoned calls are
 * marked; the threads end and are joined. */
static void pool_run_end(void)
{
    ringo__list_t done = {0};
    lock();
    pool.closing = true;
    for (ringo__link_t *l; (l = ringo__list_pop_front(&pool.idle));) {
        struct pool_thread *t = ringo__container_of(l, struct pool_thread, idle_link);
        t->idle = false;
        futex_wake(&t->futex);
    }
    ringo__list_splice_back(&done, &pool.all);
    unlock();
    join_all(&done, true);
    lock();
    pool.closing = false;
    pool.max = 0;
    unlock();
}

__attribute__((constructor)) static void register_pool_hooks(void)
{
    atomic_store(&ringo__idle_thread_hook, idle_pool_thread);
    atomic_store(&ringo__run_end_hook, pool_run_end);
}

/* ---- the call ------------------------------------------------------------------------ */

/* The caller's fiber was abandoned at ringo_run's end. */
static void call_abandoned(ringo__waiter_t *w, bool queued)
{
    (void)queued;
    struct blocking_call *c = ringo__container_of(w, struct blocking_call, waiter);
    lock();
    if (c->state == CALL_QUEUED) {
        ringo__list_remove(&pool.queue, &c->link);
        atomic_fetch_sub(&pool.busy, 1);
    }
    if (c->state == CALL_QUEUED || c->state == CALL_RUNNING)
        c->state = CALL_ABANDONED;
    unlock();
}

void *ringo_blocking(void *(*fn)(void *), void *arg)
{
    if (!ringo__current() || ringo__ev_forked())
        return fn(arg);

    struct blocking_call c;
    c.fn = fn;
    c.arg = arg;
    c.result = NULL;
    c.state = CALL_QUEUED;
    ringo__waiter_init(&c.waiter, &c.wait, NULL, call_abandoned);
    RINGO_RACE_RELEASE(&c);             /* to fn, on whichever thread runs it */
    ringo__wait_prepare(&c.wait, "blocking call");
    ringo__waiters_publish(&c.waiter);

    struct pool_thread *t = NULL;
    bool more = false;
    lock();
    if (!pool.max)
        pool.max = env_max();
    atomic_fetch_add(&pool.busy, 1);
    ringo__link_t *l = ringo__list_pop_front(&pool.idle);
    if (l) {
        t = ringo__container_of(l, struct pool_thread, idle_link);
        t->idle = false;
        t->call = &c;
    } else {
        ringo__list_push_back(&pool.queue, &c.link);
        if (pool.nthreads < pool.max) {
            pool.nthreads++;
            more = true;
        }
    }
    unlock();
    if (t)
        futex_wake(&t->futex);
    if (more && !spawn()) {
        /* Nobody may be left to run it: then the caller does, after
         * waking itself (it is still on its way into the park). */
        lock();
        pool.nthreads--;
        bool self = pool.nthreads == 0 && c.state == CALL_QUEUED;
        if (self) {
            ringo__list_remove(&pool.queue, &c.link);
            c.state = CALL_INLINE;
            atomic_fetch_sub(&pool.busy, 1);
        }
        unlock();
        if (self)
            ringo__unblock(&c.wait);
    }
    ringo__wait_block(&c.wait);
    ringo__waiters_retract(&c.waiter);
    if (c.state == CALL_INLINE)
        return fn(arg);
    return c.result;
}

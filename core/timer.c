/* core/timer.c - per-worker timer heaps.
 *
 * Each worker keeps its deadlines in a 4-ary min-heap (shallower than a
 * binary heap for the same count, as in Go's runtime). The earliest deadline
 * is the timeout of the worker's ring wait: there is never an SQE per timer.
 * A timer is added to the heap of the worker that arms it and fires from
 * that heap: on the owner when it polls or wakes, or on the monitor thread
 * when the owner is hogged by a fiber that will not yield.
 *
 * Locking: w->timer_lock protects w->heap, heap_cap and, for timers in the
 * heap, their heap_index and heap fields. ntimers and timer_next are
 * mirrored in atomics so idle checks read them without the lock. fire()
 * runs after the lock is dropped, so a timer callback may arm timers.
 *
 * ThreadSanitizer: fire() runs in the calling worker's own TSan context
 * (w->tsan_timer_fiber, Go's per-P timerRaceCtx), switched to and back
 * without synchronisation, so what a timer acquires from its setter never
 * lands on the fiber or scheduler that happened to run it. Only the worker's
 * own thread uses its timer context; the monitor fires in its own.
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>

#define ARITY 4

static inline void heap_set(ringo__worker_t *w, int32_t i, ringo__timer_t *t)
{
    w->heap[i] = t;
    t->heap_index = i;
}

static void sift_up(ringo__worker_t *w, int32_t i)
{
    ringo__timer_t *t = w->heap[i];
    while (i > 0) {
        int32_t p = (i - 1) / ARITY;
        if (w->heap[p]->when <= t->when)
            break;
        heap_set(w, i, w->heap[p]);
        i = p;
    }
    heap_set(w, i, t);
}

static void sift_down(ringo__worker_t *w, int32_t i)
{
    int32_t n = atomic_load_explicit(&w->ntimers, memory_order_relaxed);
    ringo__timer_t *t = w->heap[i];
    for (;;) {
        int32_t c = i * ARITY + 1, best = -1;
        for (int32_t k = c; k < c + ARITY && k < n; k++)
            if (best < 0 || w->heap[k]->when < w->heap[best]->when)
                best = k;
        if (best < 0 || w->heap[best]->when >= t->when)
            break;
        heap_set(w, i, w->heap[best]);
        i = best;
    }
    heap_set(w, i, t);
}

static void publish_next(ringo__worker_t *w)
{
    int32_t n = atomic_load_explicit(&w->ntimers, memory_order_relaxed);
    atomic_store_explicit(&w->timer_next, n ? w->heap[0]->when : INT64_MAX, memory_order_release);
}

void ringo__timer_add(ringo__worker_t *w, ringo__timer_t *t)
{
    bool earliest;
    ringo__spin_lock(&w->timer_lock);
    int32_t n = atomic_load_explicit(&w->ntimers, memory_order_relaxed);
    if (n == w->heap_cap) {
        int32_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        ringo__timer_t **h = ringo__realloc(w->heap, (size_t)cap * sizeof(*h));
        if (!h) {
            ringo__spin_unlock(&w->timer_lock);
            ringo__throw("out of memory growing the timer heap");
        }
        w->heap = h;
        w->heap_cap = cap;
    }
    __atomic_store_n(&t->heap, w, __ATOMIC_RELEASE);
    w->heap[n] = t;
    atomic_store_explicit(&w->ntimers, n + 1, memory_order_relaxed);
    sift_up(w, n);
    earliest = w->heap[0] == t;
    publish_next(w);
    ringo__spin_unlock(&w->timer_lock);
    /* A sleeping owner waits with its old earliest deadline as timeout.
     * Dekker with go_idle (sched.c), which stores `sleeping` and then
     * loads timer_next, both seq_cst: the fence orders our store of
     * timer_next before the load of `sleeping`, so either the owner reads
     * the new deadline or we see it asleep and wake it. Only from another
     * thread: the owner arming its own timer is not asleep. */
    if (earliest && w != ringo__self()) {
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&w->sleeping) && !atomic_exchange(&w->wake_pending, 1))
            ringo__ev_wake(w);
    }
}

void ringo__timer_arm(ringo__timer_t *t)
{
    ringo__runtime_t *rt = ringo__rt;
    if (!rt)
        ringo_panic("timer armed with no runtime running");
    ringo__worker_t *w = ringo__self();
    ringo__timer_add(w ? w : &rt->workers[0], t);
}

/* Removes heap entry i; caller holds the lock. */
static void heap_remove(ringo__worker_t *w, int32_t i)
{
    int32_t last = atomic_load_explicit(&w->ntimers, memory_order_relaxed) - 1;
    ringo__timer_t *t = w->heap[i];
    atomic_store_explicit(&w->ntimers, last, memory_order_relaxed);
    if (i != last) {
        heap_set(w, i, w->heap[last]);
        sift_down(w, i);
        sift_up(w, w->heap[i]->heap_index);
    }
    t->heap_index = -1;
    __atomic_store_n(&t->heap, NULL, __ATOMIC_RELEASE);
    publish_next(w);
}

bool ringo__timer_del(ringo__timer_t *t)
{
    for (;;) {
        ringo__worker_t *w = __atomic_load_n(&t->heap, __ATOMIC_ACQUIRE);
        if (!w)
            return false;
        ringo__spin_lock(&w->timer_lock);
        if (t->heap != w) {        /* fired or moved meanwhile */
            ringo__spin_unlock(&w->timer_lock);
            continue;
        }
        heap_remove(w, t->heap_index);
        ringo__spin_unlock(&w->timer_lock);
        return true;
    }
}

bool ringo__timer_del_sync(ringo__timer_t *t)
{
    bool pending = ringo__timer_del(t);
    while (atomic_load_explicit(&t->firing, memory_order_acquire))
        sched_yield();
    return pending;
}

int ringo__timers_run(ringo__worker_t *w, int64_t now)
{
    int fired = 0;
    for (;;) {
        ringo__spin_lock(&w->timer_lock);
        if (!atomic_load_explicit(&w->ntimers, memory_order_relaxed) || w->heap[0]->when > now) {
            ringo__spin_unlock(&w->timer_lock);
            return fired;
        }
        ringo__timer_t *t = w->heap[0];
        /* A sync timer counts its fire before it leaves the heap (whose
         * release store ringo__timer_del_sync acquires), so the canceller
         * sees it either pending or firing. Others may be gone the moment
         * fire() returns (a sleeper's timer lives on its stack). */
        bool sync = t->sync;
        if (sync)
            atomic_fetch_add_explicit(&t->firing, 1, memory_order_relaxed);
        heap_remove(w, 0);
        ringo__spin_unlock(&w->timer_lock);
#ifdef RINGO_TSAN
        /* Timers fire in a TSan context of their own, as Go's run in its
         * per-P timerRaceCtx: a fire acquires its timer's setter and
         * releases into what it delivers, but none of that lands on the
         * fiber or scheduler whose thread happens to run it. The monitor
         * (no worker of its own) fires in its own thread's context. */
        ringo__worker_t *self = ringo__self();
        void *was = RINGO_TSAN_CURRENT();
        if (self)
            RINGO_TSAN_SWITCH(self->tsan_timer_fiber);
        t->fire(t);
        if (self)
            RINGO_TSAN_SWITCH(was);
#else
        t->fire(t);
#endif
        if (sync)
            atomic_fetch_sub_explicit(&t->firing, 1, memory_order_release);
        fired++;
    }
}

void ringo__timers_free(ringo__worker_t *w)
{
    /* Unlink every pending timer, so a later stop or free of it is a
     * harmless no-op, and release the ones the runtime owns. */
    int32_t n = atomic_load(&w->ntimers);
    for (int32_t i = 0; i < n; i++) {
        ringo__timer_t *t = w->heap[i];
        t->heap_index = -1;
        __atomic_store_n(&t->heap, NULL, __ATOMIC_RELEASE);
        if (t->dispose)
            t->dispose(t);
    }
    ringo__free(w->heap);
    w->heap = NULL;
    w->heap_cap = 0;
    atomic_store(&w->ntimers, 0);
}

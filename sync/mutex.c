/* sync/mutex.c - sync.Mutex and sync.RWMutex (the runtime semaphore under
 * RWMutex is in sema.c).
 *
 * Mutex: one atomic state word plus a waiter queue, after Go's sync/mutex.go.
 *   LOCKED    held;
 *   WOKEN     a waiter is awake and competing (or a newcomer is spinning):
 *             unlock must not wake another;
 *   STARVING  hand-off mode: unlock gives the lock straight to the first
 *             waiter, newcomers queue instead of barging;
 *   WAITERS   the queue is not empty (changed only under qlock).
 * Normal mode lets a running fiber barge in ahead of woken waiters, which
 * is fast; a waiter that has waited over 1 ms switches the mutex to
 * starvation mode so it cannot be starved, and the last starving waiter
 * switches it back. Woken waiters that lose the race requeue at the front.
 * qlock protects the queue and is held only for list surgery; waiters are
 * woken after it is released. A waiter abandoned at ringo_run's end
 * (sync/waitq.h) gives back what it was holding for itself: the WAITERS and
 * STARVING bits once the queue is empty, the WOKEN bit it was woken with, or
 * the lock that was handed to it (mutex_waiter_abandoned).
 *
 * RWMutex: Go's reader-count design. reader_count goes negative by
 * MAX_READERS while a writer is pending, which sends new readers to
 * reader_sem; reader_wait counts the readers the writer still waits for.
 */
#include "waitq.h"

#include <string.h>

/* ---- Mutex ------------------------------------------------------------------------------ */

#define M_LOCKED   1u
#define M_WOKEN    2u
#define M_STARVING 4u
#define M_WAITERS  8u
#define STARVE_NS  (1 * RINGO_MILLISECOND)
#define SPINS      4

struct mutex {
    _Atomic uint32_t state;
    ringo__spinlock_t qlock;    /* protects q, its waiters and the WAITERS bit's changes */
    ringo__list_t q;
};
_Static_assert(sizeof(struct mutex) <= sizeof(ringo_mutex_t), "ringo_mutex_t too small");

static ringo__waiter_cancel_fn mutex_waiter_abandoned;

static void mutex_lock_slow(struct mutex *m)
{
    int64_t wait_start = 0;
    bool starving = false, woken = false;
    int spins = 0;
    for (;;) {
        uint32_t s = atomic_load_explicit(&m->state, memory_order_relaxed);
        if (!(s & (M_LOCKED | M_STARVING))) {
            uint32_t n = (s | M_LOCKED) & (woken ? ~M_WOKEN : ~0u);
            if (atomic_compare_exchange_weak_explicit(&m->state, &s, n, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
            continue;
        }
        if (!(s & M_STARVING) && spins < SPINS) {
            /* Spinning: tell unlock not to wake a sleeper meanwhile. */
            if (!woken && !(s & M_WOKEN) && (s & M_WAITERS) &&
                atomic_compare_exchange_weak(&m->state, &s, s | M_WOKEN))
                woken = true;
            spins++;
            for (int i = 0; i < 50; i++)
                ringo__cpu_relax();
            continue;
        }

        ringo__spin_lock(&m->qlock);
        s = atomic_load(&m->state);
        bool queued = false;
        while (s & (M_LOCKED | M_STARVING)) {
            uint32_t n = s | M_WAITERS;
            if (starving && (s & M_LOCKED))
                n |= M_STARVING;
            if (woken)
                n &= ~M_WOKEN;
            if (atomic_compare_exchange_weak(&m->state, &s, n)) {
                queued = true;
                break;
            }
        }
        if (!queued) {              /* released meanwhile: compete again */
            ringo__spin_unlock(&m->qlock);
            continue;
        }
        woken = false;
        ringo__wait_t wt;
        ringo__waiter_t w;
        ringo__waiter_init(&w, &wt, &m->qlock, mutex_waiter_abandoned);
        w.mu.handoff = false;
        bool again = wait_start != 0;
        if (!again)
            wait_start = ringo__now();
        ringo__waiter_enqueue(&m->q, &w, again);   /* a re-waiter goes first */
        ringo__wait_prepare(&wt, "sync.Mutex.Lock");
        ringo__spin_unlock(&m->qlock);
        ringo__waiter_park(&w);

        starving = starving || ringo__now() - wait_start > STARVE_NS;
        if (atomic_load(&m->state) & M_STARVING) {
            /* Handed off: we own it. Leave starvation mode if we did not
             * wait long or nobody else waits. */
            ringo__spin_lock(&m->qlock);
            bool none = ringo__list_empty(&m->q);
            if (!starving || none)
                atomic_fetch_and(&m->state, ~(M_STARVING | (none ? M_WAITERS : 0u)));
            ringo__spin_unlock(&m->qlock);
            return;
        }
        woken = true;               /* unlock set WOKEN on our behalf */
        spins = 0;
    }
}

void ringo_mutex_lock(ringo_mutex_t *mu)
{
    struct mutex *m = (struct mutex *)mu;
    uint32_t zero = 0;
    if (RINGO__UNLIKELY(!atomic_compare_exchange_strong_explicit(&m->state, &zero, M_LOCKED,
                                                                memory_order_acquire,
                                                                memory_order_relaxed)))
        mutex_lock_slow(m);
    RINGO_RACE_ACQUIRE(m);      /* unlock -> lock */
}

bool ringo_mutex_trylock(ringo_mutex_t *mu)
{
    struct mutex *m = (struct mutex *)mu;
    uint32_t s = atomic_load_explicit(&m->state, memory_order_relaxed);
    if (s & (M_LOCKED | M_STARVING))
        return false;
    if (!atomic_compare_exchange_strong_explicit(&m->state, &s, s | M_LOCKED,
                                                 memory_order_acquire, memory_order_relaxed))
        return false;
    RINGO_RACE_ACQUIRE(m);
    return true;
}

static void mutex_unlock_slow(struct mutex *m, uint32_t s)
{
    if (!(s & M_STARVING)) {
        for (;;) {
            /* Nobody to wake, or someone awake already will take it. */
            if (!(s & M_WAITERS) || (s & (M_LOCKED | M_WOKEN | M_STARVING)))
                return;
            if (atomic_compare_exchange_weak(&m->state, &s, s | M_WOKEN))
                break;
        }
        ringo__spin_lock(&m->qlock);
        ringo__waiter_t *w = ringo__waiter_dequeue(&m->q);
        if (ringo__list_empty(&m->q))
            atomic_fetch_and(&m->state, ~M_WAITERS);
        if (!w)
            atomic_fetch_and(&m->state, ~M_WOKEN);
        ringo__wait_t *wt = w ? w->wait : NULL;
        ringo__spin_unlock(&m->qlock);
        if (wt)
            ringo__unblock(wt);
        return;
    }
    /* Starvation mode: hand the lock to the first waiter, LOCKED stays set
     * for it (newcomers see STARVING and queue). */
    ringo__spin_lock(&m->qlock);
    ringo__waiter_t *w = ringo__waiter_dequeue(&m->q);
    ringo__wait_t *wt = NULL;
    if (w) {
        w->mu.handoff = true;
        wt = w->wait;
        atomic_fetch_or(&m->state, M_LOCKED);
    } else {
        atomic_fetch_and(&m->state, ~(M_STARVING | M_WAITERS));
    }
    ringo__spin_unlock(&m->qlock);
    if (wt)
        ringo__unblock(wt);
}

void ringo_mutex_unlock(ringo_mutex_t *mu)
{
    struct mutex *m = (struct mutex *)mu;
    RINGO_RACE_RELEASE(m);
    uint32_t old = atomic_fetch_sub_explicit(&m->state, M_LOCKED, memory_order_release);
    if (RINGO__UNLIKELY(!(old & M_LOCKED))) {
        atomic_fetch_add(&m->state, M_LOCKED);
        ringo_panic("sync: unlock of unlocked mutex");
    }
    if (old != M_LOCKED)
        mutex_unlock_slow(m, old - M_LOCKED);
}

/* A waiter whose fiber was abandoned at ringo_run's end (sync/waitq.h);
 * every abandoned waiter is already off the queue. One that a waker had
 * taken would have read m->state on waking, so m is still alive. */
static void mutex_waiter_abandoned(ringo__waiter_t *w, bool queued)
{
    struct mutex *m = ringo__container_of(w->lock, struct mutex, qlock);
    if (queued) {
        /* Nobody left to be WAITERS or to be starving for. */
        ringo__spin_lock(&m->qlock);
        if (ringo__list_empty(&m->q))
            atomic_fetch_and(&m->state, ~(M_WAITERS | M_STARVING));
        ringo__spin_unlock(&m->qlock);
        return;
    }
    if (w->mu.handoff) {
        /* Starvation mode handed it the lock, which it never saw. */
        ringo_mutex_unlock((ringo_mutex_t *)m);
        return;
    }
    /* Normal mode woke it with WOKEN set, so no unlock wakes another: take
     * the bit back and wake the next waiter (a plain thread) if the mutex
     * is free. */
    uint32_t s = atomic_fetch_and(&m->state, ~M_WOKEN) & ~M_WOKEN;
    if (!(s & M_LOCKED))
        mutex_unlock_slow(m, s);
}

/* ---- RWMutex --------------------------------------------------------------------------------- */

#define MAX_READERS (1 << 30)

struct rwmutex {
    struct mutex w;             /* held by a writer, against other writers */
    ringo__sema_t writer_sem;   /* the writer waits here for departing readers */
    ringo__sema_t reader_sem;   /* readers wait here for the writer */
    _Atomic int32_t reader_count;
    _Atomic int32_t reader_wait;
};
_Static_assert(sizeof(struct rwmutex) <= sizeof(ringo_rwmutex_t), "ringo_rwmutex_t too small");

void ringo_rwmutex_rlock(ringo_rwmutex_t *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    if (atomic_fetch_add(&rw->reader_count, 1) + 1 < 0)
        ringo__sema_acquire(&rw->reader_sem, "sync.RWMutex.RLock", NULL);
    RINGO_RACE_ACQUIRE(&rw->reader_sem);    /* Unlock -> RLock */
}

bool ringo_rwmutex_tryrlock(ringo_rwmutex_t *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    int32_t c = atomic_load(&rw->reader_count);
    while (c >= 0) {
        if (atomic_compare_exchange_weak(&rw->reader_count, &c, c + 1)) {
            RINGO_RACE_ACQUIRE(&rw->reader_sem);
            return true;
        }
    }
    return false;
}

void ringo_rwmutex_runlock(ringo_rwmutex_t *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    RINGO_RACE_RELEASE(&rw->writer_sem);    /* RUnlock -> Lock */
    int32_t r = atomic_fetch_sub(&rw->reader_count, 1) - 1;
    if (r >= 0)
        return;
    if (r + 1 == 0 || r + 1 == -MAX_READERS) {
        atomic_fetch_add(&rw->reader_count, 1);
        ringo_panic("sync: RUnlock of unlocked RWMutex");
    }
    /* A writer is pending: the last departing reader lets it in. */
    if (atomic_fetch_sub(&rw->reader_wait, 1) - 1 == 0)
        ringo__sema_release(&rw->writer_sem);
}

void ringo_rwmutex_lock(ringo_rwmutex_t *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    ringo_mutex_lock((ringo_mutex_t *)&rw->w);
    /* Announce the writer; r is the number of active readers. */
    int32_t r = atomic_fetch_sub(&rw->reader_count, MAX_READERS);
    if (r != 0 && atomic_fetch_add(&rw->reader_wait, r) + r != 0)
        ringo__sema_acquire(&rw->writer_sem, "sync.RWMutex.Lock", NULL);
    RINGO_RACE_ACQUIRE(&rw->reader_sem);
    RINGO_RACE_ACQUIRE(&rw->writer_sem);
}

bool ringo_rwmutex_trylock(ringo_rwmutex_t *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    if (!ringo_mutex_trylock((ringo_mutex_t *)&rw->w))
        return false;
    int32_t zero = 0;
    if (!atomic_compare_exchange_strong(&rw->reader_count, &zero, -MAX_READERS)) {
        ringo_mutex_unlock((ringo_mutex_t *)&rw->w);
        return false;
    }
    RINGO_RACE_ACQUIRE(&rw->reader_sem);
    RINGO_RACE_ACQUIRE(&rw->writer_sem);
    return true;
}

void ringo_rwmutex_unlock(ringo_rwmutex_t *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    RINGO_RACE_RELEASE(&rw->reader_sem);    /* Unlock -> RLock and Lock */
    int32_t r = atomic_fetch_add(&rw->reader_count, MAX_READERS) + MAX_READERS;
    if (r >= MAX_READERS) {
        atomic_fetch_sub(&rw->reader_count, MAX_READERS);
        ringo_panic("sync: Unlock of unlocked RWMutex");
    }
    /* Let in the readers that queued behind the writer. */
    for (int32_t i = 0; i < r; i++)
        ringo__sema_release(&rw->reader_sem);
    ringo_mutex_unlock((ringo_mutex_t *)&rw->w);
}

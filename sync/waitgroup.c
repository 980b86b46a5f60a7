/* sync/waitgroup.c - sync.WaitGroup, sync.Once and sync.Cond.
 *
 * WaitGroup (after Go's sync/waitgroup.go): one 64-bit atomic word, the
 * counter in the high half and the number of waiters in the low half, plus
 * a semaphore. The Add that brings the counter to zero with waiters present
 * resets the word and releases each waiter once; a waiter checks the word is
 * still zero when it wakes, which catches reuse before Wait returned.
 *
 * Once: an atomic done flag read on the fast path; a mutex serialises the
 * slow path so concurrent callers return only after fn finished.
 *
 * Cond: a FIFO of waiters under a spinlock. Wait queues itself before it
 * unlocks the mutex, so a Signal after the unlock cannot be lost.
 */
#include "waitq.h"

/* ---- WaitGroup ----------------------------------------------------------------------- */

struct waitgroup {
    _Atomic uint64_t state;     /* counter << 32 | waiters */
    ringo__sema_t sema;
};
_Static_assert(sizeof(struct waitgroup) <= sizeof(ringo_waitgroup_t), "ringo_waitgroup_t too small");

void ringo_waitgroup_add(ringo_waitgroup_t *wgp, int delta)
{
    struct waitgroup *wg = (struct waitgroup *)wgp;
    if (delta < 0)
        RINGO_RACE_RELEASE(wg);     /* Done -> Wait */
    uint64_t st = atomic_fetch_add(&wg->state, (uint64_t)(int64_t)delta << 32) +
                  ((uint64_t)(int64_t)delta << 32);
    int32_t v = (int32_t)(st >> 32);
    uint32_t w = (uint32_t)st;
    /* Go's check: the Add that starts a round must happen before Wait (a
     * pseudo-read here, a pseudo-write by the first waiter). */
    if (delta > 0 && v == delta)
        RINGO_RACE_READ(&wg->sema);
    if (v < 0)
        ringo_panic("sync: negative WaitGroup counter");
    if (w != 0 && delta > 0 && v == delta)
        ringo_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0)
        return;
    /* Counter hit zero with waiters: nobody may touch the state now but us. */
    if (atomic_load(&wg->state) != st)
        ringo_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
    atomic_store(&wg->state, 0);
    ringo__sema_release_n(&wg->sema, w);   /* the last touch of wg */
}

void ringo_waitgroup_done(ringo_waitgroup_t *wg)
{
    ringo_waitgroup_add(wg, -1);
}

void ringo_waitgroup_wait(ringo_waitgroup_t *wgp)
{
    struct waitgroup *wg = (struct waitgroup *)wgp;
    uint64_t st = atomic_load(&wg->state);
    for (;;) {
        if ((st >> 32) == 0) {
            RINGO_RACE_ACQUIRE(wg);
            return;
        }
        if (atomic_compare_exchange_weak(&wg->state, &st, st + 1)) {
            if ((uint32_t)st == 0)
                RINGO_RACE_WRITE(&wg->sema);
            ringo__sema_acquire(&wg->sema, "sync.WaitGroup.Wait");
            if (atomic_load(&wg->state) != 0)
                ringo_panic("sync: WaitGroup is reused before previous Wait has returned");
            RINGO_RACE_ACQUIRE(wg);
            return;
        }
    }
}

/* ---- Once ------------------------------------------------------------------------------- */

struct once {
    _Atomic uint32_t done;
    ringo_mutex_t m;
};
_Static_assert(sizeof(struct once) <= sizeof(ringo_once_t), "ringo_once_t too small");

void ringo_once_do(ringo_once_t *op, void (*fn)(void *), void *arg)
{
    struct once *o = (struct once *)op;
    if (RINGO__LIKELY(atomic_load_explicit(&o->done, memory_order_acquire))) {
        RINGO_RACE_ACQUIRE(o);      /* fn's return -> every Do */
        return;
    }
    ringo_mutex_lock(&o->m);
    if (!atomic_load_explicit(&o->done, memory_order_relaxed)) {
        fn(arg);
        RINGO_RACE_RELEASE(o);
        atomic_store_explicit(&o->done, 1, memory_order_release);
    }
    ringo_mutex_unlock(&o->m);
}

/* ---- Cond ---------------------------------------------------------------------------------- */

struct cond {
    ringo__spinlock_t lock;     /* protects q */
    ringo__waitq_t q;
};
_Static_assert(sizeof(struct cond) <= sizeof(ringo_cond_t), "ringo_cond_t too small");

void ringo_cond_wait(ringo_cond_t *cp, ringo_mutex_t *mu)
{
    struct cond *c = (struct cond *)cp;
    ringo__waiter_t w = {0};
    ringo__spin_lock(&c->lock);
    ringo__wait_prepare(&w.wait, "sync.Cond.Wait");
    ringo__waitq_push(&c->q, &w, false);
    ringo__spin_unlock(&c->lock);
    ringo_mutex_unlock(mu);
    ringo__wait_block(&w.wait);
    ringo_mutex_lock(mu);
}

void ringo_cond_signal(ringo_cond_t *cp)
{
    struct cond *c = (struct cond *)cp;
    ringo__spin_lock(&c->lock);
    ringo__waiter_t *w = ringo__waitq_pop(&c->q);
    ringo__spin_unlock(&c->lock);
    if (w)
        ringo__unblock(&w->wait);
}

void ringo_cond_broadcast(ringo_cond_t *cp)
{
    struct cond *c = (struct cond *)cp;
    ringo__spin_lock(&c->lock);
    ringo__waiter_t *w = c->q.head;
    c->q.head = c->q.tail = NULL;
    ringo__spin_unlock(&c->lock);
    while (w) {
        ringo__waiter_t *next = w->next;    /* read before it may vanish */
        ringo__unblock(&w->wait);
        w = next;
    }
}

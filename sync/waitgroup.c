/* sync/waitgroup.c - sync.WaitGroup.
 *
 * After Go's sync/waitgroup.go: one 64-bit atomic word, the counter in the
 * high half and the number of waiters in the low half, plus a runtime
 * semaphore (sema.c) the waiters sleep on.
 *
 * The release. The Add that brings the counter to zero with waiters present
 * owns the round's end: holding the semaphore's lock, it swaps the word from
 * exactly what it computed to 0 (a Wait that slipped in since makes it try
 * again), takes the waiters off the queue, leaves a unit for each counted
 * waiter not queued yet, and unlocks; then it wakes the ones it took without
 * touching the WaitGroup again. A Wait that finds the counter already zero
 * may return and free the WaitGroup (one on its stack, say), so before it
 * returns it waits for the semaphore's lock to be free: the release that
 * zeroed the word is then done with it. Woken waiters do not read the word
 * again either (Go checks it for reuse; here the first waiter to return may
 * have freed it).
 *
 * A waiter abandoned at ringo_run's end (sync/waitq.h) is no longer counted
 * (wg_waiter_abandoned), so the next round is not released early.
 */
#include "waitq.h"

struct waitgroup {
    _Atomic uint64_t state;     /* counter << 32 | waiters */
    ringo__sema_t sema;         /* sema.lock also serialises a round's release */
};
_Static_assert(sizeof(struct waitgroup) <= sizeof(ringo_waitgroup_t), "ringo_waitgroup_t too small");

/* Ends the round if state still reads `old`: 0 afterwards, its w waiters
 * released. false if state changed meanwhile (the caller recomputes). */
static bool release_round(struct waitgroup *wg, uint64_t old, uint32_t w)
{
    ringo__sema_t *s = &wg->sema;
    ringo__list_t woken = {0};
    ringo__spin_lock(&s->lock);
    if (!atomic_compare_exchange_strong(&wg->state, &old, 0)) {
        ringo__spin_unlock(&s->lock);
        return false;
    }
    for (; w; w--) {
        ringo__waiter_t *x = ringo__waiter_dequeue(&s->q);
        if (!x)
            break;
        ringo__list_push_back(&woken, &x->link);
    }
    s->count += (int32_t)w;     /* for counted waiters not queued yet */
    ringo__spin_unlock(&s->lock);
    ringo__waiters_wake_all(&woken);    /* wg is not touched again */
    return true;
}

void ringo_waitgroup_add(ringo_waitgroup_t *wgp, int delta)
{
    struct waitgroup *wg = (struct waitgroup *)wgp;
    if (delta < 0)
        RINGO_RACE_RELEASE(wg);     /* Done -> Wait */
    uint64_t d = (uint64_t)(int64_t)delta << 32;
    uint64_t old = atomic_load(&wg->state);
    for (;;) {
        uint64_t st = old + d;
        int32_t v = (int32_t)(st >> 32);
        uint32_t w = (uint32_t)st;
        if (v < 0)
            ringo_panic("sync: negative WaitGroup counter");
        if (v == 0 && w != 0) {
            if (release_round(wg, old, w))
                return;
            old = atomic_load(&wg->state);
            continue;
        }
        if (!atomic_compare_exchange_weak(&wg->state, &old, st))
            continue;
        /* Go's check: the Add that starts a round must happen before Wait
         * (a pseudo-read here, a pseudo-write by the first waiter). */
        if (delta > 0 && v == delta) {
            RINGO_RACE_READ(&wg->sema);
            if (w != 0)
                ringo_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        return;
    }
}

void ringo_waitgroup_done(ringo_waitgroup_t *wg)
{
    ringo_waitgroup_add(wg, -1);
}

static inline void relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* A waiter whose fiber was abandoned at ringo_run's end: if it was still
 * queued it is still counted; uncount it. (One the release already took
 * was uncounted by the release.) */
static void wg_waiter_abandoned(ringo__waiter_t *w, bool queued)
{
    if (!queued)
        return;
    struct waitgroup *wg = ringo__container_of(w->lock, struct waitgroup, sema.lock);
    atomic_fetch_sub(&wg->state, 1);
}

void ringo_waitgroup_wait(ringo_waitgroup_t *wgp)
{
    struct waitgroup *wg = (struct waitgroup *)wgp;
    uint64_t st = atomic_load(&wg->state);
    for (;;) {
        if ((st >> 32) == 0) {
            /* A release that zeroed the word may still hold the lock. */
            while (atomic_load_explicit(&wg->sema.lock.locked, memory_order_acquire))
                relax();
            RINGO_RACE_ACQUIRE(wg);
            return;
        }
        if (atomic_compare_exchange_weak(&wg->state, &st, st + 1)) {
            if ((uint32_t)st == 0)
                RINGO_RACE_WRITE(&wg->sema);
            ringo__sema_acquire(&wg->sema, "sync.WaitGroup.Wait", wg_waiter_abandoned);
            RINGO_RACE_ACQUIRE(wg);
            return;
        }
    }
}

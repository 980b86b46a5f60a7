/* sync/waitgroup.c - sync.WaitGroup.
 *
 * After Go's sync/waitgroup.go: one 64-bit atomic word, the counter in the
 * high half and the number of waiters in the low half, plus a runtime
 * semaphore (sema.c) whose queue the waiters sleep on. A waiter counts
 * itself in the word (only while the counter is above zero), then queues.
 *
 * The release. The Add that brings the counter to zero with w waiters
 * counted owns the round's end; the word then reads (0, w) until it is
 * done. Holding the semaphore's lock it takes the waiters off the queue,
 * and if some of the w are still between counting and queueing (no switch
 * can come in between, so they arrive promptly) it drops the lock and
 * takes them as they come. With all w taken it zeroes the word, unlocks,
 * and wakes them without touching the WaitGroup again; a woken waiter
 * does not touch it either. A Wait that finds the counter zero returns
 * only once no release is in progress: the word's waiter half is 0 and the
 * semaphore's lock is free, so the release is done with the WaitGroup.
 * So whoever returns from Wait may free the WaitGroup at once (one on its
 * stack, say), even while other waiters are still being woken. (Go checks
 * the word again in each woken waiter, to catch reuse; here that read could
 * be of freed memory, so the check is not made.)
 *
 * Lock: sema.lock guards the queue and the zeroing of a round's word.
 * A waiter abandoned at ringo_run's end (sync/waitq.h) is no longer counted
 * (wg_waiter_abandoned), so the next round is not released early.
 */
#include "waitq.h"

struct waitgroup {
    _Atomic uint64_t state;     /* counter << 32 | waiters */
    ringo__sema_t sema;         /* sema.lock also serialises a round's release */
};
_Static_assert(sizeof(struct waitgroup) <= sizeof(ringo_waitgroup_t), "ringo_waitgroup_t too small");

/* The race detector's sync objects for a WaitGroup live outside it: a
 * woken waiter may find it freed, and TSan treats even an annotation on
 * freed memory as a use. DONE carries each Done to each Wait; LIFE carries
 * each waiter's accesses to wg (up to queueing) to every Wait's return,
 * since whoever returns may free wg. Two groups hashed to one cell only
 * gain edges (a race between them could go unreported), never reports. */
#ifdef RINGO_TSAN
static char race_cells[2][1024];
#define CELL(k, wg) (&race_cells[k][((uintptr_t)(wg) >> 5) % 1024])
#else
#define CELL(k, wg) ((void)(wg), (void *)0)
#endif
#define DONE(wg) CELL(0, wg)
#define LIFE(wg) CELL(1, wg)

/* The round's end: state reads (0, w). Takes all w waiters off the queue,
 * zeroes state, and wakes them; wg is not touched after the unlock. */
static void release_round(struct waitgroup *wg, uint32_t w)
{
    ringo__sema_t *s = &wg->sema;
    ringo__list_t woken = {0};
    ringo__spin_lock(&s->lock);
    for (;;) {
        ringo__waiter_t *x;
        while (w && (x = ringo__waiter_dequeue(&s->q)) != NULL) {
            ringo__list_push_back(&woken, &x->link);
            w--;
        }
        if (!w)
            break;
        /* A counted waiter has yet to queue: let it take the lock. */
        ringo__spin_unlock(&s->lock);
        ringo__cpu_relax();
        ringo__spin_lock(&s->lock);
    }
    atomic_store(&wg->state, 0);
    ringo__spin_unlock(&s->lock);
    ringo__waiters_wake_all(&woken);
}

void ringo_waitgroup_add(ringo_waitgroup_t *wgp, int delta)
{
    struct waitgroup *wg = (struct waitgroup *)wgp;
    if (delta < 0)
        RINGO_RACE_RELEASE(DONE(wg));   /* Done -> Wait */
    uint64_t d = (uint64_t)(int64_t)delta << 32;
    uint64_t st = atomic_fetch_add(&wg->state, d) + d;
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
    /* Counter hit zero with waiters: nobody may change the word now but
     * us (waiters count themselves only while the counter is above zero). */
    if (atomic_load(&wg->state) != st)
        ringo_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
    release_round(wg, w);
}

void ringo_waitgroup_done(ringo_waitgroup_t *wg)
{
    ringo_waitgroup_add(wg, -1);
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
            /* A release in progress reads (0, w > 0) until it zeroes the
             * word, which it does under the lock: wait until it is out. */
            while ((uint32_t)st != 0 && (st >> 32) == 0) {
                ringo__cpu_relax();
                st = atomic_load(&wg->state);
            }
            while (atomic_load_explicit(&wg->sema.lock.locked, memory_order_acquire))
                ringo__cpu_relax();
            RINGO_RACE_ACQUIRE(DONE(wg));
            RINGO_RACE_ACQUIRE(LIFE(wg));
            return;
        }
        if (atomic_compare_exchange_weak(&wg->state, &st, st + 1)) {
            if ((uint32_t)st == 0)
                RINGO_RACE_WRITE(&wg->sema);
            RINGO_RACE_RELEASE(LIFE(wg));
            ringo__sema_acquire(&wg->sema, "sync.WaitGroup.Wait", wg_waiter_abandoned);
            RINGO_RACE_ACQUIRE(DONE(wg));
            RINGO_RACE_ACQUIRE(LIFE(wg));
            return;
        }
    }
}

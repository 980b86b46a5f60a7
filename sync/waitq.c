/* sync/waitq.c - parking on waiters, and forgetting abandoned ones.
 *
 * A blocking call publishes the waiters it queued on its fiber's record
 * (ringo__fiber_t.sync_waiters) for exactly as long as any of them may be
 * queued; only that fiber writes the field. When ringo_run ends, every
 * worker has stopped and no fiber runs, so the fields are read from the
 * thread that called ringo_run: abandon_all takes each published waiter off
 * its queue under the queue's lock, and only when all are off calls their
 * cancel hooks. A hook for a waiter that was no longer queued (a waker took
 * it; the fiber never ran again) may touch its primitive only if the
 * blocked call would have touched it after waking: a program may free a
 * primitive once it has no queued waiters. The order matters: a hook may hand what the waiter would
 * have had to the next waiter in line (the weighted semaphore does), and
 * that must never be another abandoned fiber, whose wake-up would touch a
 * runtime that is gone. Waiters of plain threads are never abandoned.
 *
 * The hook is registered by a constructor in this file, which every
 * primitive that blocks links in through ringo__waiter_park.
 */
#include "waitq.h"

void ringo__waiters_publish(ringo__waiter_t *first)
{
    ringo__fiber_t *f = first->wait->fiber;
    if (f) {
        /* Under TSan: what it did so far, for the run's end should it
         * never wake (abandon_unlink acquires it). */
        RINGO_RACE_RELEASE(RINGO__RACE_WAITER(first->wait));
        f->sync_waiters = first;
    }
}

void ringo__waiters_retract(ringo__waiter_t *first)
{
    ringo__fiber_t *f = first->wait->fiber;
    if (f)
        f->sync_waiters = NULL;
}

void ringo__waiter_park(ringo__waiter_t *first)
{
    ringo__waiters_publish(first);
    ringo__wait_block(first->wait);
    ringo__waiters_retract(first);
}

/* ---- the run's end ------------------------------------------------------------ */

static void abandon_unlink(ringo__fiber_t *f, void *arg)
{
    (void)arg;
    ringo__waiter_t *first = f->sync_waiters;
    if (!first)
        return;
    /* The caller of ringo_run comes after everything the fiber did, as it
     * comes after the fibers that ended. */
    RINGO_RACE_ACQUIRE(RINGO__RACE_WAITER(first->wait));
    for (ringo__waiter_t *w = f->sync_waiters; w; w = w->also) {
        /* A waiter a waker already took may have outlived its primitive
         * (a channel's last unref needs no waiters gone, only queued ones):
         * its lock is not touched. No fiber runs now, so q reads without
         * the lock what the last dequeue left; a plain thread can only
         * clear it meanwhile, which the locked recheck sees. */
        if (!w->lock || !w->q) {
            w->abandoned = 1;
            continue;
        }
        ringo__spin_lock(w->lock);
        w->abandoned = ringo__waiter_unlink(w) ? 2 : 1;
        ringo__spin_unlock(w->lock);
    }
}

static void abandon_cancel(ringo__fiber_t *f, void *arg)
{
    (void)arg;
    /* A hook may free the memory its own waiter lives in (a select's
     * scratch): read the next link first. */
    for (ringo__waiter_t *w = f->sync_waiters, *next; w; w = next) {
        next = w->also;
        if (w->cancel)
            w->cancel(w, w->abandoned == 2);
    }
    f->sync_waiters = NULL;
}

static void abandon_all(void)
{
    ringo__fibers_foreach(abandon_unlink, NULL);
    ringo__fibers_foreach(abandon_cancel, NULL);
}

__attribute__((constructor)) static void register_abandon_hook(void)
{
    atomic_store(&ringo__abandon_hook, abandon_all);
}

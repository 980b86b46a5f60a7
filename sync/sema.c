/* sync/sema.c - the runtime semaphore under RWMutex and WaitGroup (Go's
 * semacquire/semrelease).
 *
 * A count and a FIFO of waiters. Release hands its unit straight to the
 * first waiter (which then returns without touching count) or, with nobody
 * queued, adds it to count; acquire takes from count or queues.
 * Invariant (s->lock held): count > 0 implies q is empty.
 *
 * s->lock protects count and q; it is held only for list surgery, and
 * waiters are woken after it is released. (A WaitGroup ends its rounds on
 * the queue itself, waitgroup.c.)
 */
#include "waitq.h"

_Static_assert(sizeof(ringo__sema_t) == 24, "sema layout");

void ringo__sema_acquire(ringo__sema_t *s, const char *reason, ringo__waiter_cancel_fn *cancel)
{
    ringo__spin_lock(&s->lock);
    if (s->count > 0) {
        s->count--;
        ringo__spin_unlock(&s->lock);
        return;
    }
    ringo__wait_t wt;
    ringo__waiter_t w;
    ringo__waiter_init(&w, &wt, &s->lock, cancel);
    ringo__wait_prepare(&wt, reason);
    ringo__waiter_enqueue(&s->q, &w, false);
    ringo__spin_unlock(&s->lock);
    ringo__waiter_park(&w);
}

void ringo__sema_release(ringo__sema_t *s)
{
    ringo__spin_lock(&s->lock);
    ringo__waiter_t *w = ringo__waiter_dequeue(&s->q);
    if (!w)
        s->count++;
    ringo__spin_unlock(&s->lock);
    if (w)
        ringo__unblock(w->wait);
}

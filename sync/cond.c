/* sync/cond.c - sync.Cond.
 *
 * A FIFO of waiters (sync/waitq.h) under a spinlock. Wait queues itself
 * before it unlocks the mutex, so a Signal after that unlock cannot be
 * lost; Signal wakes the first waiter, Broadcast all of them, each after
 * the lock is dropped. c->lock protects q and the waiters on it.
 *
 * A waiter abandoned at ringo_run's end is simply taken off the queue: a
 * Cond keeps no other state about its waiters.
 */
#include "waitq.h"

struct cond {
    ringo__spinlock_t lock;     /* protects q */
    ringo__list_t q;
};
_Static_assert(sizeof(struct cond) <= sizeof(ringo_cond_t), "ringo_cond_t too small");

void ringo_cond_wait(ringo_cond_t *cp, ringo_mutex_t *mu)
{
    struct cond *c = (struct cond *)cp;
    ringo__wait_t wt;
    ringo__waiter_t w;
    ringo__waiter_init(&w, &wt, &c->lock, NULL);
    ringo__spin_lock(&c->lock);
    ringo__wait_prepare(&wt, "sync.Cond.Wait");
    ringo__waiter_enqueue(&c->q, &w, false);
    ringo__spin_unlock(&c->lock);
    ringo_mutex_unlock(mu);
    ringo__waiter_park(&w);
    ringo_mutex_lock(mu);
}

void ringo_cond_signal(ringo_cond_t *cp)
{
    struct cond *c = (struct cond *)cp;
    ringo__spin_lock(&c->lock);
    ringo__waiter_t *w = ringo__waiter_dequeue(&c->q);
    ringo__wait_t *wt = w ? w->wait : NULL;
    ringo__spin_unlock(&c->lock);
    if (wt)
        ringo__unblock(wt);
}

void ringo_cond_broadcast(ringo_cond_t *cp)
{
    struct cond *c = (struct cond *)cp;
    ringo__list_t woken = {0};
    ringo__spin_lock(&c->lock);
    ringo__waiter_t *w;
    while ((w = ringo__waiter_dequeue(&c->q)) != NULL)
        ringo__list_push_back(&woken, &w->link);
    ringo__spin_unlock(&c->lock);
    ringo__waiters_wake_all(&woken);
}

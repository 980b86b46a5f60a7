/* sync/sem.c - a weighted semaphore, FIFO-fair, after golang.org/x/sync/semaphore.
 *
 * Acquirers that cannot be served at once queue in arrival order; release
 * serves from the front and stops at the first waiter that does not fit, so
 * a large request is never starved by a stream of small ones. A queued
 * waiter ends either granted (by release) or cancelled (by its context):
 * one CAS on its state word decides which, so it is woken exactly once. As
 * in x/sync, a context that has already ended fails the acquire even when
 * units are free.
 *
 * s->lock protects size, cur, the queue and the waiters on it; waiters are
 * woken after it is released. Context watchers run with no lock held and
 * only do the CAS and the wake-up. A waiter abandoned at ringo_run's end
 * (sync/waitq.h) stops watching its context and lets the waiters behind it
 * in (sem_waiter_abandoned).
 */
#include "waitq.h"

#include <errno.h>
#include <string.h>

enum { SEM_WAITING = 0, SEM_GRANTED, SEM_CANCELLED };

struct sem {
    ringo__spinlock_t lock;
    int32_t pad_;
    int64_t size, cur;
    ringo__list_t q;
};
_Static_assert(sizeof(struct sem) <= sizeof(ringo_sem_t), "ringo_sem_t too small");

/* A blocked acquire: its queue node and its context watch. */
struct sem_waiter {
    ringo__waiter_t node;       /* node.sem.weight: the units asked for */
    ringo__wait_t wait;
    ringo_ctx_t *ctx;
    bool watching;
    ringo__ctx_watch_t watch;
};

void ringo_sem_init(ringo_sem_t *sp, int64_t capacity)
{
    struct sem *s = (struct sem *)sp;
    memset(s, 0, sizeof(*s));
    s->size = capacity;
}

/* Grants queued waiters from the front while they fit; lock held. The
 * granted ones go on `woken`, for the caller to wake once unlocked. */
static void grant(struct sem *s, ringo__list_t *woken)
{
    ringo__waiter_t *w;
    while ((w = ringo__waiter_first(&s->q)) != NULL) {
        if (atomic_load(&w->sem.state) == SEM_WAITING && s->size - s->cur < w->sem.weight)
            break;          /* FIFO: nobody overtakes a waiter that does not fit */
        ringo__waiter_dequeue(&s->q);
        int expect = SEM_WAITING;
        if (atomic_compare_exchange_strong(&w->sem.state, &expect, SEM_GRANTED)) {
            s->cur += w->sem.weight;
            ringo__list_push_back(woken, &w->link);
        }
        /* else: its context ended first; it will find itself unqueued. */
    }
}

static void on_cancel(void *arg)
{
    ringo__waiter_t *w = arg;
    int expect = SEM_WAITING;
    if (atomic_compare_exchange_strong(&w->sem.state, &expect, SEM_CANCELLED))
        ringo__unblock(w->wait);
}

/* A waiter whose fiber was abandoned at ringo_run's end (sync/waitq.h). An
 * acquire woken by a grant never touches s again, so the program may have
 * freed s since: such a waiter keeps its units, as a fiber abandoned after
 * its acquire returned would. Any other waiter was still queued (a
 * cancelled one stays queued until it unlinks itself), so s is alive: the
 * waiters behind it may now fit. */
static void sem_waiter_abandoned(ringo__waiter_t *node, bool queued)
{
    struct sem_waiter *sw = ringo__container_of(node, struct sem_waiter, node);
    if (sw->watching)
        ringo__ctx_unwatch(sw->ctx, &sw->watch);
    if (!queued)
        return;
    struct sem *s = ringo__container_of(node->lock, struct sem, lock);
    ringo__list_t woken = {0};
    ringo__spin_lock(&s->lock);
    grant(s, &woken);
    ringo__spin_unlock(&s->lock);
    ringo__waiters_wake_all(&woken);
}

int ringo_sem_acquire(ringo_ctx_t *ctx, ringo_sem_t *sp, int64_t n)
{
    struct sem *s = (struct sem *)sp;
    if (ctx) {
        int err = ringo_ctx_err(ctx);
        if (err)
            return err;
    }
    ringo__spin_lock(&s->lock);
    if (s->size - s->cur >= n && ringo__list_empty(&s->q)) {
        s->cur += n;
        ringo__spin_unlock(&s->lock);
        RINGO_RACE_ACQUIRE(s);      /* Release -> Acquire */
        return 0;
    }
    struct sem_waiter sw;
    ringo__waiter_init(&sw.node, &sw.wait, &s->lock, sem_waiter_abandoned);
    sw.node.sem.weight = n;
    atomic_store_explicit(&sw.node.sem.state, SEM_WAITING, memory_order_relaxed);
    sw.ctx = ctx;
    sw.watching = false;
    ringo__wait_prepare(&sw.wait, "semaphore acquire");
    /* More than the capacity never fits: it waits for its context only. */
    if (n <= s->size)
        ringo__waiter_enqueue(&s->q, &sw.node, false);
    ringo__spin_unlock(&s->lock);

    sw.watching = ctx && ringo__ctx_watch(ctx, &sw.watch, on_cancel, &sw.node);
    if (ctx && !sw.watching)
        on_cancel(&sw.node);    /* already cancelled: wakes ourselves */
    if (!ctx && n > s->size)
        ringo__block_forever("semaphore acquire (more than capacity)");
    ringo__waiter_park(&sw.node);
    if (sw.watching)
        ringo__ctx_unwatch(ctx, &sw.watch);

    if (atomic_load(&sw.node.sem.state) == SEM_GRANTED) {
        RINGO_RACE_ACQUIRE(s);
        return 0;
    }
    ringo__list_t woken = {0};
    ringo__spin_lock(&s->lock);
    ringo__waiter_unlink(&sw.node);
    /* We may have been the front waiter holding others back. */
    grant(s, &woken);
    ringo__spin_unlock(&s->lock);
    ringo__waiters_wake_all(&woken);
    int err = ringo_ctx_err(ctx);
    return err ? err : -ECANCELED;
}

bool ringo_sem_try_acquire(ringo_sem_t *sp, int64_t n)
{
    struct sem *s = (struct sem *)sp;
    ringo__spin_lock(&s->lock);
    bool ok = s->size - s->cur >= n && ringo__list_empty(&s->q);
    if (ok)
        s->cur += n;
    ringo__spin_unlock(&s->lock);
    if (ok)
        RINGO_RACE_ACQUIRE(s);
    return ok;
}

void ringo_sem_release(ringo_sem_t *sp, int64_t n)
{
    struct sem *s = (struct sem *)sp;
    RINGO_RACE_RELEASE(s);
    ringo__list_t woken = {0};
    ringo__spin_lock(&s->lock);
    s->cur -= n;
    if (s->cur < 0) {
        s->cur += n;
        ringo__spin_unlock(&s->lock);
        ringo_panic("semaphore: released more than held");
    }
    grant(s, &woken);
    ringo__spin_unlock(&s->lock);
    ringo__waiters_wake_all(&woken);
}

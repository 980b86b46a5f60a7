/* sync/sem.c - a weighted semaphore, FIFO-fair, after golang.org/x/sync/semaphore.
 *
 * Acquirers that cannot be served at once queue in arrival order; release
 * serves from the front and stops at the first waiter that does not fit, so
 * a large request is never starved by a stream of small ones. A queued
 * waiter ends either granted (by release) or cancelled (by its context):
 * one CAS on its state word decides which, so it is woken exactly once.
 *
 * s->lock protects size, cur and the queue; waiters are woken after it is
 * released. Context watchers run with no lock held and only do the CAS and
 * the wake-up.
 */
#include "waitq.h"

#include <errno.h>
#include <string.h>

enum { SEM_WAITING = 0, SEM_GRANTED, SEM_CANCELLED };

struct sem {
    ringo__spinlock_t lock;
    int32_t pad_;
    int64_t size, cur;
    ringo__waitq_t q;           /* waiters' ticket is their weight */
};
_Static_assert(sizeof(struct sem) <= sizeof(ringo_sem_t), "ringo_sem_t too small");

void ringo_sem_init(ringo_sem_t *sp, int64_t capacity)
{
    struct sem *s = (struct sem *)sp;
    memset(s, 0, sizeof(*s));
    s->size = capacity;
}

/* Grants queued waiters from the front while they fit; lock held. Returns
 * the list of waiters to wake (linked through next). */
static ringo__waiter_t *grant(struct sem *s)
{
    ringo__waiter_t *wake = NULL, **tail = &wake;
    while (s->q.head) {
        ringo__waiter_t *w = s->q.head;
        if (atomic_load(&w->state) == SEM_WAITING && s->size - s->cur < w->ticket)
            break;          /* FIFO: nobody overtakes a waiter that does not fit */
        ringo__waitq_pop(&s->q);
        int expect = SEM_WAITING;
        if (atomic_compare_exchange_strong(&w->state, &expect, SEM_GRANTED)) {
            s->cur += w->ticket;
            *tail = w;
            tail = &w->next;
        }
        /* else: its context ended first; it will find itself unqueued. */
    }
    *tail = NULL;
    return wake;
}

static void wake_list(ringo__waiter_t *w)
{
    while (w) {
        ringo__waiter_t *next = w->next;
        ringo__unblock(&w->wait);
        w = next;
    }
}

static void on_cancel(void *arg)
{
    ringo__waiter_t *w = arg;
    int expect = SEM_WAITING;
    if (atomic_compare_exchange_strong(&w->state, &expect, SEM_CANCELLED))
        ringo__unblock(&w->wait);
}

int ringo_sem_acquire(ringo_ctx_t *ctx, ringo_sem_t *sp, int64_t n)
{
    struct sem *s = (struct sem *)sp;
    ringo__spin_lock(&s->lock);
    if (s->size - s->cur >= n && !s->q.head) {
        s->cur += n;
        ringo__spin_unlock(&s->lock);
        RINGO_RACE_ACQUIRE(s);      /* Release -> Acquire */
        return 0;
    }
    ringo__waiter_t w = {0};
    w.ticket = n;
    ringo__wait_prepare(&w.wait, "semaphore acquire");
    /* More than the capacity never fits: it waits for its context only. */
    if (n <= s->size)
        ringo__waitq_push(&s->q, &w, false);
    ringo__spin_unlock(&s->lock);

    ringo__ctx_watch_t watch;
    bool watching = ctx && ringo__ctx_watch(ctx, &watch, on_cancel, &w);
    if (ctx && !watching)
        on_cancel(&w);          /* already cancelled: wakes ourselves */
    if (!ctx && n > s->size)
        ringo__block_forever("semaphore acquire (more than capacity)");
    ringo__wait_block(&w.wait);
    if (watching)
        ringo__ctx_unwatch(ctx, &watch);

    if (atomic_load(&w.state) == SEM_GRANTED) {
        RINGO_RACE_ACQUIRE(s);
        return 0;
    }
    ringo__spin_lock(&s->lock);
    ringo__waitq_unlink(&s->q, &w);
    /* We may have been the front waiter holding others back. */
    ringo__waiter_t *wake = grant(s);
    ringo__spin_unlock(&s->lock);
    wake_list(wake);
    int err = ringo_ctx_err(ctx);
    return err ? err : -ECANCELED;
}

bool ringo_sem_try_acquire(ringo_sem_t *sp, int64_t n)
{
    struct sem *s = (struct sem *)sp;
    ringo__spin_lock(&s->lock);
    bool ok = s->size - s->cur >= n && !s->q.head;
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
    ringo__spin_lock(&s->lock);
    s->cur -= n;
    if (s->cur < 0) {
        s->cur += n;
        ringo__spin_unlock(&s->lock);
        ringo_panic("semaphore: released more than held");
    }
    ringo__waiter_t *wake = grant(s);
    ringo__spin_unlock(&s->lock);
    wake_list(wake);
}

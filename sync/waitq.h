/* sync/waitq.h - the small blocking queue under the sync package.
 *
 * A ringo__waitq is a FIFO of blocked waiters (fibers or plain threads);
 * sync types embed one next to a spinlock and build on it, much as
 * Go's sync package builds on runtime semaphores. A waiter lives on the
 * blocked caller's stack. ringo__sema is Go's runtime semaphore: a counter
 * with a waitq, handing a released unit straight to the first waiter.
 *
 * Lock rules: the owner's spinlock protects the queue links; it is held only
 * for list surgery, never while blocking or waking (wake-ups come after
 * unlock).
 */
#ifndef RINGO_SYNC_WAITQ_H
#define RINGO_SYNC_WAITQ_H

#include "internal.h"

typedef struct ringo__waiter {
    ringo__wait_t wait;
    struct ringo__waiter *next;
    int64_t ticket;             /* users' own data: weights, start times */
    _Atomic int state;          /* users' own protocol (0: waiting) */
} ringo__waiter_t;

/* The queue itself; its owner supplies the lock that guards it. */
typedef struct ringo__waitq {
    ringo__waiter_t *head, *tail;
} ringo__waitq_t;

static inline void ringo__waitq_push(ringo__waitq_t *q, ringo__waiter_t *w, bool front)
{
    w->next = NULL;
    if (!q->head) {
        q->head = q->tail = w;
    } else if (front) {
        w->next = q->head;
        q->head = w;
    } else {
        q->tail->next = w;
        q->tail = w;
    }
}

static inline ringo__waiter_t *ringo__waitq_pop(ringo__waitq_t *q)
{
    ringo__waiter_t *w = q->head;
    if (w) {
        q->head = w->next;
        if (!q->head)
            q->tail = NULL;
        w->next = NULL;
    }
    return w;
}

/* Removes w if queued; true if it was. */
static inline bool ringo__waitq_unlink(ringo__waitq_t *q, ringo__waiter_t *w)
{
    ringo__waiter_t **pp = &q->head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            if (q->tail == w)
                q->tail = prev;
            w->next = NULL;
            return true;
        }
    }
    return false;
}

/* Go's runtime semaphore: acquire blocks until count > 0 and takes one;
 * release hands a unit to the first waiter or adds it to count. */
typedef struct ringo__sema {
    ringo__spinlock_t lock;     /* protects count and q */
    int32_t count;
    ringo__waitq_t q;
} ringo__sema_t;

void ringo__sema_acquire(ringo__sema_t *s, const char *reason);
void ringo__sema_release(ringo__sema_t *s);
/* Releases n units at once and never touches s after waking anyone (a
 * woken waiter may free it: a WaitGroup on its stack). */
void ringo__sema_release_n(ringo__sema_t *s, uint32_t n);

#include "ctx_watch.h"

#endif

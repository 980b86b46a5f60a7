/* sync/waitq.h - the one waiter node under every blocking sync primitive.
 *
 * A waiter (ringo__waiter_t) is what a blocked fiber or plain thread puts on
 * a primitive's queue: a channel send or receive, each channel case of a
 * select, the runtime semaphore (under RWMutex and WaitGroup), Mutex, Cond
 * and the weighted semaphore. It lives on the blocked caller's stack for as
 * long as it is queued. A queue is a ringo__list_t (core/list.h) that the
 * primitive guards with one of its spinlocks. Every waiter records both the
 * queue it is on and that lock, so code that knows nothing of the primitive
 * can take it off (ringo__waiter_unlink); a primitive whose own state must
 * change when a waiter goes away without being served gives the waiter a
 * cancel hook (libdill's clause cancel, in spirit). A new blocking
 * primitive is one more user of this node and, if it needs one, a hook.
 *
 * Life of a waiter:
 *   ringo__waiter_init      who to wake, which lock guards its queue, hook;
 *   ringo__waiter_enqueue   under the lock; w->q = the queue;
 *   ringo__waiter_park      unlocked: publishes the waiter on the blocking
 *                           fiber, blocks, and unpublishes once woken;
 *   a waker takes it with ringo__waiter_dequeue (w->q = NULL) under the lock,
 *   fills in the outcome, drops the lock, and only then unblocks w->wait.
 * Membership is w->q != NULL, read and written under *w->lock only.
 *
 * Abandoned waiters. A fiber still blocked when ringo_run returns is freed
 * with its stack, and with it every waiter it had queued. While it blocks,
 * the fiber's record points at its waiters (ringo__fiber_t.sync_waiters, a
 * chain through `also`: a select queues several), and at the run's end
 * ringo__abandon_hook (waitq.c) first unlinks every such waiter under its
 * lock, then calls each hook. So a channel, mutex, WaitGroup, Cond or
 * semaphore that outlives the run holds no link into freed memory, and is
 * left as if the abandoned calls had never been made.
 *
 * Lock rules: *w->lock protects the queue's links, w->q and the fields a
 * waker fills in; it is held only for list surgery, never while blocking
 * or waking. Wake-ups come after unlock. A cancel hook is called with no
 * lock held (it takes the primitive's locks itself) and never blocks.
 */
#ifndef RINGO_SYNC_WAITQ_H
#define RINGO_SYNC_WAITQ_H

#include "internal.h"

typedef struct ringo__waiter ringo__waiter_t;
typedef struct ringo__select ringo__select_t;

/* Called for a waiter whose blocked call was abandoned at ringo_run's end,
 * after every abandoned waiter is off its queue. `queued` tells whether w
 * was still queued (else a waker had taken it but its fiber never ran). */
typedef void ringo__waiter_cancel_fn(ringo__waiter_t *w, bool queued);

struct ringo__waiter {
    ringo__link_t link;             /* on *q while queued */
    ringo__list_t *q;               /* the queue it is on, NULL when on none */
    ringo__spinlock_t *lock;        /* guards *q's links and this node's outcome;
                                       NULL for a waiter that is never queued */
    ringo__waiter_cancel_fn *cancel;    /* optional */
    ringo__wait_t *wait;            /* who to unblock (a select's waiters share one) */
    ringo__waiter_t *also;          /* the next waiter the same blocked call queued */
    uint8_t abandoned;              /* set at ringo_run's end: 1, or 2 if it was queued */
    union {
        struct {                    /* channels and select */
            void *elem;             /* send: the value; recv: where it goes (may be NULL) */
            ringo__select_t *sel;   /* NULL for a plain send or receive */
            int case_index;
            bool success;           /* set by the waker: false means "closed" */
        } ch;
        struct {                    /* the weighted semaphore */
            int64_t weight;
            _Atomic int state;      /* sem.c's protocol */
        } sem;
        struct {                    /* Mutex */
            bool handoff;           /* dequeued with the lock handed to it */
        } mu;
        void *op;                   /* a select's fd case: its poll record */
    };
};

static inline void ringo__waiter_init(ringo__waiter_t *w, ringo__wait_t *wait, ringo__spinlock_t *lock,
                                      ringo__waiter_cancel_fn *cancel)
{
    w->link.next = w->link.prev = NULL;
    w->q = NULL;
    w->lock = lock;
    w->cancel = cancel;
    w->wait = wait;
    w->also = NULL;
    w->abandoned = 0;
}

/* Queues w on q (at the front: a re-waiter keeping its place). Caller
 * holds *w->lock. */
static inline void ringo__waiter_enqueue(ringo__list_t *q, ringo__waiter_t *w, bool front)
{
    if (front)
        ringo__list_push_front(q, &w->link);
    else
        ringo__list_push_back(q, &w->link);
    w->q = q;
}

/* Takes q's first waiter off q, or returns NULL. Caller holds the lock. */
static inline ringo__waiter_t *ringo__waiter_dequeue(ringo__list_t *q)
{
    ringo__link_t *l = ringo__list_pop_front(q);
    if (!l)
        return NULL;
    ringo__waiter_t *w = ringo__container_of(l, ringo__waiter_t, link);
    w->q = NULL;
    return w;
}

static inline ringo__waiter_t *ringo__waiter_first(const ringo__list_t *q)
{
    return ringo__list_first_entry(q, ringo__waiter_t, link);
}

/* Takes w off its queue if it is on one; true if it was. Caller holds
 * *w->lock. */
static inline bool ringo__waiter_unlink(ringo__waiter_t *w)
{
    if (!w->q)
        return false;
    ringo__list_remove(w->q, &w->link);
    w->q = NULL;
    return true;
}

/* Unblocks every waiter on `woken` (a local list of dequeued waiters), each
 * taken off the list before it is woken: it may vanish once woken. No lock
 * held. */
static inline void ringo__waiters_wake_all(ringo__list_t *woken)
{
    ringo__link_t *l;
    while ((l = ringo__list_pop_front(woken)) != NULL)
        ringo__unblock(ringo__container_of(l, ringo__waiter_t, link)->wait);
}

/* Blocks on first->wait with the waiters chained from `first` (through
 * `also`) published on the calling fiber, so that ringo_run's end can find
 * them if it never wakes. Called after ringo__wait_prepare and the
 * enqueues, with no lock held. Returns once woken; the waiters are then
 * unpublished. */
void ringo__waiter_park(ringo__waiter_t *first);
/* The two halves, for a caller (select) whose waiters stay queued after it
 * wakes: publish before ringo__wait_block, retract once none is queued. */
void ringo__waiters_publish(ringo__waiter_t *first);
void ringo__waiters_retract(ringo__waiter_t *first);

/* Go's runtime semaphore: acquire blocks until count > 0 and takes one;
 * release hands a unit to the first waiter or adds it to count. */
typedef struct ringo__sema {
    ringo__spinlock_t lock;     /* protects count and q */
    int32_t count;
    ringo__list_t q;
} ringo__sema_t;

/* `cancel` (may be NULL) is the waiter's hook if the caller's fiber is
 * abandoned while it waits (see above); its lock is &s->lock. */
void ringo__sema_acquire(ringo__sema_t *s, const char *reason, ringo__waiter_cancel_fn *cancel);
void ringo__sema_release(ringo__sema_t *s);

#include "ctx_watch.h"

#endif

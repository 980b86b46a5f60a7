/* sync/chan_internal.h - what channels and select share (not public).
 *
 * A sudog (Go's name) is one blocked operation on one channel: the waiter,
 * where its element lives, and - for select - which select and case it
 * belongs to. It lives on the blocked fiber's (or thread's) stack for as
 * long as it is queued.
 */
#ifndef RINGO_CHAN_INTERNAL_H
#define RINGO_CHAN_INTERNAL_H

#include "internal.h"

typedef struct ringo__select ringo__select_t;
typedef struct ringo__sudog ringo__sudog_t;

struct ringo__sudog {
    ringo__wait_t *wait;        /* who to unblock (a select's sudogs share one) */
    void *elem;                 /* send: the value; recv: where it goes (may be NULL) */
    ringo__sudog_t *next, *prev;
    ringo_chan_t *c;
    ringo__select_t *sel;       /* NULL for a plain send or receive */
    int case_index;
    bool queued;                /* in c's sendq or recvq; c->lock protects it */
    bool success;               /* set by the waker: false means "closed" */
};

/* The state a blocked select shares with its wakers. done goes 0 -> 1 once,
 * by CAS, for the case that wins; that waker records the winner and
 * unblocks the select. Everything else that raced it backs off. */
struct ringo__select {
    _Atomic int done;
    int winner;                 /* case index, written by the CAS winner */
    int timeout_case;           /* the case the timer stands for */
    ringo__wait_t wait;
};

struct waitq {
    ringo__sudog_t *first, *last;
};

/* count, closed and the queues' first pointers are written with relaxed
 * atomic stores (under the lock) so select can peek at them unlocked. */
struct ringo_chan {
    ringo__spinlock_t lock;     /* protects every field below and the sudogs queued here */
    size_t count;               /* elements in buf */
    size_t recvx, sendx;        /* buf indices */
    bool closed;
    struct waitq recvq, sendq;
    _Atomic long refs;
    size_t elem_size, cap;
    unsigned char *buf;         /* cap * elem_size bytes, inline after the struct */
};

/* Takes the first sudog whose select (if any) it can still win. Caller
 * holds c->lock. */
ringo__sudog_t *ringo__waitq_dequeue(struct waitq *q);
void ringo__waitq_enqueue(struct waitq *q, ringo__sudog_t *s);
void ringo__waitq_remove(struct waitq *q, ringo__sudog_t *s);

/* Completes a send to a receiver found waiting (c locked; unlocks c). */
void ringo__chan_send_direct(ringo_chan_t *c, ringo__sudog_t *r, const void *ep);
/* Completes a receive from a sender found waiting (c locked; unlocks c). */
void ringo__chan_recv_direct(ringo_chan_t *c, ringo__sudog_t *s, void *ep);

static inline void *ringo__chan_slot(ringo_chan_t *c, size_t i)
{
    return c->buf + i * c->elem_size;
}

/* Buffer operations; c locked, count < cap (put) or count > 0 (take). */
void ringo__chan_buf_put(ringo_chan_t *c, const void *ep);
void ringo__chan_buf_take(ringo_chan_t *c, void *ep);

#endif

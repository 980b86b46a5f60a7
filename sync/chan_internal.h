/* sync/chan_internal.h - what channels and select share (not public).
 *
 * A blocked channel operation is a ringo__waiter_t (sync/waitq.h) on the
 * channel's recvq or sendq, with its `ch` fields in use: where its element
 * lives and, for select, which select and case it belongs to (Go calls it a
 * sudog). It lives on the blocked fiber's (or thread's) stack for as long
 * as it is queued; its lock is the channel's lock.
 */
#ifndef RINGO_CHAN_INTERNAL_H
#define RINGO_CHAN_INTERNAL_H

#include "waitq.h"

/* The state a blocked select shares with its wakers. done goes 0 -> 1 once,
 * by CAS, for the case that wins; that waker records the winner and
 * unblocks the select. Everything else that raced it backs off. */
struct ringo__select {
    _Atomic int done;
    int winner;                 /* case index, written by the CAS winner */
    int timeout_case;           /* the case the timer stands for */
    ringo__wait_t wait;
};

#define RINGO__CHAN_LIVE  0x6368616eu   /* "chan" */

/* count, closed are written with relaxed atomic stores (under the lock) so
 * that select can peek at them unlocked; it also peeks at the queues'
 * first pointers, which core/list.h writes plainly: a pointer-sized,
 * aligned word, read only as a hint that the locked pass then checks. */
struct ringo_chan {
    /* lock protects count, recvx, sendx, closed, the two queues and the
     * waiters on them; refs is atomic; magic, elem_size, cap and buf are
     * written only by make and by the last unref. */
    ringo__spinlock_t lock;
    uint32_t magic;             /* RINGO__CHAN_LIVE until the last unref */
    size_t count;               /* elements in buf */
    size_t recvx, sendx;        /* buf indices */
    bool closed;
    ringo__list_t recvq, sendq;
    _Atomic long refs;
    size_t elem_size, cap;      /* immutable */
    bool timer;                 /* a timer's channel: reports cap 0, len 0 (immutable) */
    unsigned char *buf;         /* cap * elem_size bytes, inline after the struct */
};

/* A timer's or ticker's channel (time.c): int64_t elements and a one-value
 * buffer that a fire fills without blocking, but which reports cap 0 and
 * len 0, as Go 1.23's synchronous timer channels do. NULL: out of memory. */
ringo_chan_t *ringo__chan_make_timer(void);

/* Takes the first waiter of q whose select (if any) it can still win,
 * winning it. Caller holds the channel's lock. */
ringo__waiter_t *ringo__chan_dequeue(ringo__list_t *q);
/* Queues w on q (w's lock is the channel's, held by the caller). */
void ringo__chan_enqueue(ringo__list_t *q, ringo__waiter_t *w);

/* Completes a send to a receiver r found waiting: copies ep into r's
 * element and marks r successful. c locked; c stays locked, and the caller
 * unblocks r->wait after unlocking it. */
void ringo__chan_send_direct(ringo_chan_t *c, ringo__waiter_t *r, const void *ep);
/* Completes a receive from a sender s found waiting (for a full buffered c,
 * through the buffer's head). Same locking as ringo__chan_send_direct. */
void ringo__chan_recv_direct(ringo_chan_t *c, ringo__waiter_t *s, void *ep);

static inline void *ringo__chan_slot(ringo_chan_t *c, size_t i)
{
    return c->buf + i * c->elem_size;
}

/* Buffer operations; c locked, count < cap (put) or count > 0 (take). */
void ringo__chan_buf_put(ringo_chan_t *c, const void *ep);
void ringo__chan_buf_take(ringo_chan_t *c, void *ep);

/* Debug builds: panics "use of a freed channel" if c was freed by its last
 * unref (a use after free that the poisoned magic field catches). */
#ifndef NDEBUG
_Noreturn void ringo__chan_freed(void);
#define RINGO__CHAN_CHECK(c) \
    do { \
        if (RINGO__UNLIKELY((c)->magic != RINGO__CHAN_LIVE)) \
            ringo__chan_freed(); \
    } while (0)
#else
#define RINGO__CHAN_CHECK(c) ((void)0)
#endif

#endif

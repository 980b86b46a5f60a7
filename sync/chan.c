/* sync/chan.c - channels: Go's chan, with its exact semantics.
 *
 * Invariants (c->lock held):
 *   - at least one of c->sendq, c->recvq is empty;
 *   - count > 0 implies recvq is empty (a receiver would have taken it);
 *   - count < cap implies sendq is empty (a sender would have buffered);
 *   - closed never reverts to open; a closed channel has an empty sendq.
 * c->lock protects the channel's state and the fields of the waiters
 * queued on it (sync/waitq.h). Waiters are unblocked only after c->lock is
 * released.
 *
 * Hand-off: a sender that finds a receiver waiting copies its value straight
 * into the receiver's destination, and a receiver that finds a sender
 * waiting takes the value straight from the sender's memory (for a full
 * buffered channel: the head of the buffer, and the sender's value goes to
 * the tail), so an unbuffered send is one copy and one wake-up.
 *
 * Select waiters sit in the same queues; a waker may take one only by
 * winning its select's `done` word (ringo__chan_dequeue), so a select
 * completes exactly one of its cases. Lock order: a plain operation holds
 * one channel lock; select takes several in address order (select.c).
 *
 * A blocked operation's waiter is published on its fiber (sync/waitq.h), so
 * a run that ends while it waits takes it off the queue: a channel outliving
 * ringo_run keeps no waiter of a freed stack. Debug builds (no NDEBUG)
 * poison a channel at its last unref, and every entry point checks the
 * magic word before it takes the lock: a use after free panics "use of a
 * freed channel" at the use rather than spinning on a garbage lock.
 */
#include "chan_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- wait queues ------------------------------------------------------------- */

void ringo__chan_enqueue(ringo__list_t *q, ringo__waiter_t *w)
{
    ringo__waiter_enqueue(q, w, false);
}

ringo__waiter_t *ringo__chan_dequeue(ringo__list_t *q)
{
    ringo__waiter_t *w;
    while ((w = ringo__waiter_dequeue(q)) != NULL) {
        ringo__select_t *sel = w->ch.sel;
        if (!sel)
            return w;
        int expect = 0;
        if (atomic_compare_exchange_strong_explicit(&sel->done, &expect, 1,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            sel->winner = w->ch.case_index;
            return w;
        }
        /* Its select already completed another case; it will take its
         * remaining waiters off the other queues itself. */
    }
    return NULL;
}

/* ---- the two hand-offs ------------------------------------------------------------ */

void ringo__chan_send_direct(ringo_chan_t *c, ringo__waiter_t *r, const void *ep)
{
    RINGO_RACE_ACQUIRE(RINGO__RACE_WAITER(r->wait));    /* the receiver's past, before we write its memory */
    if (r->ch.elem && c->elem_size)
        memcpy(r->ch.elem, ep, c->elem_size);
    r->ch.success = true;
}

void ringo__chan_recv_direct(ringo_chan_t *c, ringo__waiter_t *s, void *ep)
{
    RINGO_RACE_ACQUIRE(RINGO__RACE_WAITER(s->wait));    /* the sender's past: its value and more */
    if (c->cap == 0) {
        if (ep && c->elem_size)
            memcpy(ep, s->ch.elem, c->elem_size);
    } else {
        /* Full buffer: take its head, put the sender's value at its tail
         * (the same slot, since the buffer is full). */
        void *slot = ringo__chan_slot(c, c->recvx);
        RINGO_RACE_ACQUIRE(slot);
        if (ep && c->elem_size)
            memcpy(ep, slot, c->elem_size);
        if (c->elem_size)
            memcpy(slot, s->ch.elem, c->elem_size);
        RINGO_RACE_RELEASE(slot);
        if (++c->recvx == c->cap)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
    s->ch.success = true;
}

void ringo__chan_buf_put(ringo_chan_t *c, const void *ep)
{
    void *slot = ringo__chan_slot(c, c->sendx);
    /* Go's edges for a buffer slot: the kth receive happens before the
     * (k+cap)th send completes, and each send before its receive. */
    RINGO_RACE_ACQUIRE(slot);
    if (c->elem_size)
        memcpy(slot, ep, c->elem_size);
    RINGO_RACE_RELEASE(slot);
    if (++c->sendx == c->cap)
        c->sendx = 0;
    __atomic_store_n(&c->count, c->count + 1, __ATOMIC_RELAXED);
}

void ringo__chan_buf_take(ringo_chan_t *c, void *ep)
{
    void *slot = ringo__chan_slot(c, c->recvx);
    RINGO_RACE_ACQUIRE(slot);
    if (ep && c->elem_size)
        memcpy(ep, slot, c->elem_size);
    RINGO_RACE_RELEASE(slot);
    if (++c->recvx == c->cap)
        c->recvx = 0;
    __atomic_store_n(&c->count, c->count - 1, __ATOMIC_RELAXED);
}

/* ---- life cycle ---------------------------------------------------------------------- */

#ifndef NDEBUG
void ringo__chan_freed(void)
{
    ringo_panic("use of a freed channel");
}
#endif

ringo_chan_t *ringo_chan_make(size_t elem_size, size_t cap)
{
    if (elem_size && cap > (SIZE_MAX - sizeof(ringo_chan_t) - 16) / elem_size)
        return NULL;
    size_t bytes = elem_size * cap;
    ringo_chan_t *c = ringo__calloc(1, sizeof(*c) + bytes + 16);
    if (!c)
        return NULL;
    c->magic = RINGO__CHAN_LIVE;
    c->elem_size = elem_size;
    c->cap = cap;
    /* Inline buffer, 16-byte aligned for any element type. */
    c->buf = (unsigned char *)(((uintptr_t)(c + 1) + 15) & ~(uintptr_t)15);
    atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

ringo_chan_t *ringo__chan_make_timer(void)
{
    ringo_chan_t *c = ringo_chan_make(sizeof(int64_t), 1);
    if (c)
        c->timer = true;
    return c;
}

ringo_chan_t *ringo_chan_ref(ringo_chan_t *c)
{
    if (c) {
        RINGO__CHAN_CHECK(c);
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    }
    return c;
}

void ringo_chan_unref(ringo_chan_t *c)
{
    if (!c)
        return;
    RINGO__CHAN_CHECK(c);
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    ringo__spin_lock(&c->lock);
    bool waiters = !ringo__list_empty(&c->recvq) || !ringo__list_empty(&c->sendq);
    ringo__spin_unlock(&c->lock);
    if (waiters)
        ringo_panic("channel freed while fibers are blocked on it");
    ringo__free_poisoned(c, sizeof(*c));
}

size_t ringo_chan_len(ringo_chan_t *c)
{
    if (!c)
        return 0;
    RINGO__CHAN_CHECK(c);
    if (c->timer)
        return 0;
    ringo__spin_lock(&c->lock);
    size_t n = c->count;
    ringo__spin_unlock(&c->lock);
    return n;
}

size_t ringo_chan_cap(ringo_chan_t *c)
{
    if (!c)
        return 0;
    RINGO__CHAN_CHECK(c);
    return c->timer ? 0 : c->cap;
}

/* ---- send ---------------------------------------------------------------------------- */

enum send_mode {
    SEND_BLOCK,         /* ringo_chan_send: wait; a closed channel panics */
    SEND_TRY,           /* ringo_chan_try_send: never wait; closed is -EPIPE */
};

/* 0 sent, -EAGAIN would block, -EPIPE closed (SEND_TRY only; SEND_BLOCK
 * panics). One locked section decides, so a close cannot slip between the
 * check and the send. Inlined into the API functions so that the race
 * detector's pseudo-access names their caller. */
static inline __attribute__((always_inline)) int chan_send(ringo_chan_t *c, const void *ep, enum send_mode mode)
{
    if (!c) {
        if (mode == SEND_TRY)
            return -EAGAIN;
        ringo__block_forever("chan send (nil chan)");
    }
    RINGO__CHAN_CHECK(c);
    RINGO_RACE_READ(&c->closed);    /* a send racing a close is a race (as in Go) */
    ringo__spin_lock(&c->lock);
    if (c->closed) {
        ringo__spin_unlock(&c->lock);
        /* Go's try-send on a closed channel panics; ours reports it, since
         * the caller asked not to be stopped. */
        if (mode == SEND_TRY)
            return -EPIPE;
        ringo_panic("send on closed channel");
    }
    ringo__waiter_t *r = ringo__chan_dequeue(&c->recvq);
    if (r) {
        ringo__chan_send_direct(c, r, ep);
        ringo__wait_t *wt = r->wait;
        ringo__spin_unlock(&c->lock);
        ringo__unblock(wt);
        return 0;
    }
    if (c->count < c->cap) {
        ringo__chan_buf_put(c, ep);
        ringo__spin_unlock(&c->lock);
        return 0;
    }
    if (mode == SEND_TRY) {
        ringo__spin_unlock(&c->lock);
        return -EAGAIN;
    }

    ringo__wait_t wt;
    ringo__waiter_t s;
    ringo__waiter_init(&s, &wt, &c->lock, NULL);
    s.ch.elem = (void *)ep;
    s.ch.sel = NULL;
    s.ch.success = false;
    ringo__wait_prepare(&wt, "chan send");
    RINGO_RACE_RELEASE(RINGO__RACE_WAITER(&wt));        /* for the receiver that takes our value */
    ringo__chan_enqueue(&c->sendq, &s);
    ringo__spin_unlock(&c->lock);
    ringo__waiter_park(&s);
    if (!s.ch.success)
        ringo_panic("send on closed channel");
    return 0;
}

void ringo_chan_send(ringo_chan_t *c, const void *ep)
{
    chan_send(c, ep, SEND_BLOCK);
}

int ringo_chan_try_send(ringo_chan_t *c, const void *ep)
{
    return chan_send(c, ep, SEND_TRY);
}

/* ---- receive --------------------------------------------------------------------------- */

/* 1 got a value, 0 closed and drained (*ep zeroed), -EAGAIN would block. */
static int chan_recv(ringo_chan_t *c, void *ep, bool block)
{
    if (!c) {
        if (!block)
            return -EAGAIN;
        ringo__block_forever("chan receive (nil chan)");
    }
    RINGO__CHAN_CHECK(c);
    ringo__spin_lock(&c->lock);
    if (c->closed && c->count == 0) {
        ringo__spin_unlock(&c->lock);
        RINGO_RACE_ACQUIRE(&c->closed);     /* close -> receive of the zero value */
        if (ep && c->elem_size)
            memset(ep, 0, c->elem_size);
        return 0;
    }
    ringo__waiter_t *s = ringo__chan_dequeue(&c->sendq);
    if (s) {
        ringo__chan_recv_direct(c, s, ep);
        ringo__wait_t *wt = s->wait;
        ringo__spin_unlock(&c->lock);
        ringo__unblock(wt);
        return 1;
    }
    if (c->count > 0) {
        ringo__chan_buf_take(c, ep);
        ringo__spin_unlock(&c->lock);
        return 1;
    }
    if (!block) {
        ringo__spin_unlock(&c->lock);
        return -EAGAIN;
    }

    ringo__wait_t wt;
    ringo__waiter_t r;
    ringo__waiter_init(&r, &wt, &c->lock, NULL);
    r.ch.elem = ep;
    r.ch.sel = NULL;
    r.ch.success = false;
    ringo__wait_prepare(&wt, "chan receive");
    RINGO_RACE_RELEASE(RINGO__RACE_WAITER(&wt));        /* for the sender that writes into ep */
    ringo__chan_enqueue(&c->recvq, &r);
    ringo__spin_unlock(&c->lock);
    ringo__waiter_park(&r);
    return r.ch.success ? 1 : 0;
}

bool ringo_chan_recv(ringo_chan_t *c, void *ep)
{
    return chan_recv(c, ep, true) == 1;
}

int ringo_chan_try_recv(ringo_chan_t *c, void *ep)
{
    int r = chan_recv(c, ep, false);
    return r == 1 ? 0 : r == 0 ? -EPIPE : r;
}

/* ---- close ----------------------------------------------------------------------------- */

void ringo_chan_close(ringo_chan_t *c)
{
    if (!c)
        ringo_panic("close of nil channel");
    RINGO__CHAN_CHECK(c);
    RINGO_RACE_WRITE(&c->closed);
    RINGO_RACE_RELEASE(&c->closed);
    ringo__spin_lock(&c->lock);
    if (c->closed) {
        ringo__spin_unlock(&c->lock);
        ringo_panic("close of closed channel");
    }
    __atomic_store_n(&c->closed, true, __ATOMIC_RELAXED);

    /* Everyone blocked here wakes: receivers with zero values and false,
     * senders to panic. Collect them on a local list (a dequeued waiter's
     * link is free), then wake them with the lock dropped. */
    ringo__list_t woken = {0};
    ringo__waiter_t *w;
    while ((w = ringo__chan_dequeue(&c->recvq)) != NULL) {
        RINGO_RACE_ACQUIRE(RINGO__RACE_WAITER(w->wait));
        if (w->ch.elem && c->elem_size)
            memset(w->ch.elem, 0, c->elem_size);
        w->ch.success = false;
        ringo__list_push_back(&woken, &w->link);
    }
    while ((w = ringo__chan_dequeue(&c->sendq)) != NULL) {
        w->ch.success = false;
        ringo__list_push_back(&woken, &w->link);
    }
    ringo__spin_unlock(&c->lock);
    ringo__waiters_wake_all(&woken);
}

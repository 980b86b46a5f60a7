/* sync/select.c - Go's select over channels, fds and a timeout.
 *
 * Pass 0 peeks at each case unlocked, in a random order, and tries the first
 * that looks ready under that channel's lock alone (the common case: no
 * other lock taken). Only when nothing looked ready (default or not) does
 * pass 1 (all involved channels locked, in address order) visit the cases
 * in a random permutation and take the first that can proceed; this is what
 * makes the choice among ready cases uniform. fd cases were checked just
 * before with one poll(2) of timeout 0 (only when the select has any).
 * No case ready: with RINGO_DEFAULT return its index; otherwise
 * Pass 2: prepare to park, queue one sudog per channel case, unlock, arm
 * the one timer (the shortest RINGO_TIMEOUT) on the worker's heap, queue a
 * POLL_ADD SQE per fd case, and park: the SQEs go out with the worker's
 * next io_uring_enter, so a select that puts the worker to sleep costs one
 * enter for everything. The first case to fire wins the select's `done`
 * word by CAS (sudogs in ringo__waitq_dequeue, the timer and poll
 * completions here); the losers back off.
 * Pass 3 (after waking): cancel the timer (waiting out a fire in progress),
 * orphan or reap the polls, relock the channels and unqueue the sudogs that
 * did not win.
 *
 * A poll that lost is cancelled through its ring's owner (only the owner
 * may submit; ringo__ring_cancel). Its record is on the heap and outlives
 * the select: whichever of the CQE and the select's exit comes second
 * frees it (the state word below), so a late CQE never touches the
 * select's stack.
 *
 * Lock order: channel locks in address order, then (never while holding
 * them) timer and ring locks.
 */
#include "chan_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 8     /* cases handled with on-stack arrays; more use the heap */

enum { POLL_ARMED, POLL_FIRING, POLL_DONE, POLL_ORPHANED };

struct select_poll {
    ringo__op_t op;
    _Atomic int state;
    ringo__select_t *sel;       /* valid while state is ARMED or FIRING */
    int case_index;
    ringo__worker_t *owner;     /* whose ring holds the SQE */
};

static void poll_complete(ringo__op_t *op, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct select_poll *p = (struct select_poll *)op;
    int expect = POLL_ARMED;
    if (!atomic_compare_exchange_strong(&p->state, &expect, POLL_FIRING) ||
        atomic_load(&ringo__rt->stopping)) {
        /* The select left (or was abandoned at shutdown): nobody else will
         * free the record. */
        ringo__free(p);
        return;
    }
    ringo__select_t *sel = p->sel;
    int zero = 0;
    /* Readiness, an error or a hang-up all end the wait, as poll(2) does. */
    bool won = atomic_compare_exchange_strong(&sel->done, &zero, 1);
    if (won)
        sel->winner = p->case_index;
    atomic_store_explicit(&p->state, POLL_DONE, memory_order_release);
    if (won) {
        /* Readiness orders nothing by itself (Go's netpoller neither); the
         * read(2) or write(2) that follows does, through TSan's fd edges.
         * And whoever reaps this CQE is an accident of scheduling. */
        ringo__unblock_quiet(&sel->wait);
    }
}

static void timeout_fire(ringo__timer_t *t)
{
    ringo__select_t *sel = t->arg;
    int zero = 0;
    if (atomic_compare_exchange_strong(&sel->done, &zero, 1)) {
        sel->winner = sel->timeout_case;
        ringo__unblock_quiet(&sel->wait);   /* a timeout orders nothing */
    }
}

/* The shortest timeout case (the first such in case order), or -1. */
static int tmo_case(const ringo_case_t *cases, size_t n)
{
    int t = -1;
    for (size_t i = 0; i < n; i++)
        if (cases[i].kind == RINGO_CASE_TIMEOUT && (t < 0 || cases[i].timeout < cases[t].timeout))
            t = (int)i;
    return t;
}

static int cmp_chan(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (ringo_chan_t *const *)a, y = (uintptr_t) * (ringo_chan_t *const *)b;
    return x < y ? -1 : x > y;
}

/* Could this channel case proceed? An unlocked guess (see pass 0). */
static bool maybe_ready(const ringo_case_t *cs)
{
    ringo_chan_t *c = cs->ch;
    if (__atomic_load_n(&c->closed, __ATOMIC_RELAXED))
        return true;
    size_t count = __atomic_load_n(&c->count, __ATOMIC_RELAXED);
    if (cs->kind == RINGO_CASE_RECV)
        return count > 0 || __atomic_load_n(&c->sendq.first, __ATOMIC_RELAXED) != NULL;
    return count < c->cap || __atomic_load_n(&c->recvq.first, __ATOMIC_RELAXED) != NULL;
}

struct lockset {
    ringo_chan_t **chans;
    size_t n;
};

static void lock_all(struct lockset *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        ringo__spin_lock(&ls->chans[i]->lock);
}

static void unlock_all(struct lockset *ls)
{
    for (size_t i = ls->n; i-- > 0;)
        ringo__spin_unlock(&ls->chans[i]->lock);
}

static bool is_chan_case(const ringo_case_t *c)
{
    return (c->kind == RINGO_CASE_RECV || c->kind == RINGO_CASE_SEND) && c->ch;
}

/* Pass 1 for case i; returns true (channels unlocked, sudog to wake in
 * *wake) if it proceeded. */
static bool try_case(ringo_case_t *cs, struct lockset *ls, ringo__wait_t **wake, const short *fd_ready, int i)
{
    ringo_chan_t *c = cs->ch;
    ringo__sudog_t *s;
    switch (cs->kind) {
    case RINGO_CASE_RECV:
        if (!c)
            return false;
        if ((s = ringo__waitq_dequeue(&c->sendq)) != NULL) {
            ringo__chan_recv_direct(c, s, cs->ptr);
            *wake = s->wait;
        } else if (c->count > 0) {
            ringo__chan_buf_take(c, cs->ptr);
        } else if (c->closed) {
            RINGO_RACE_ACQUIRE(&c->closed);
            if (cs->ptr && c->elem_size)
                memset(cs->ptr, 0, c->elem_size);
            cs->ok = false;
            unlock_all(ls);
            return true;
        } else {
            return false;
        }
        cs->ok = true;
        unlock_all(ls);
        return true;
    case RINGO_CASE_SEND:
        if (!c)
            return false;
        if (c->closed) {
            unlock_all(ls);
            ringo_panic("send on closed channel");
        }
        if ((s = ringo__waitq_dequeue(&c->recvq)) != NULL) {
            ringo__chan_send_direct(c, s, cs->ptr);
            *wake = s->wait;
        } else if (c->count < c->cap) {
            ringo__chan_buf_put(c, cs->ptr);
        } else {
            return false;
        }
        unlock_all(ls);
        return true;
    case RINGO_CASE_TIMEOUT:
        if (cs->timeout > 0)
            return false;
        unlock_all(ls);
        return true;
    case RINGO_CASE_READABLE:
    case RINGO_CASE_WRITABLE:
        if (!fd_ready || !fd_ready[i])
            return false;
        unlock_all(ls);
        return true;
    }
    return false;
}

int ringo_select(ringo_case_t *cases, size_t n)
{
    int dflt = -1, nfd = 0;
    for (size_t i = 0; i < n; i++) {
        switch (cases[i].kind) {
        case RINGO_CASE_DEFAULT:
            if (dflt >= 0)
                return -EINVAL;
            dflt = (int)i;
            break;
        case RINGO_CASE_READABLE:
        case RINGO_CASE_WRITABLE:
            if (cases[i].fd < 0)
                return -EBADF;
            nfd++;
            break;
        case RINGO_CASE_RECV:
        case RINGO_CASE_SEND:
        case RINGO_CASE_TIMEOUT:
            break;
        default:
            return -EINVAL;
        }
    }
    if (n > 65536)
        return -EINVAL;
#ifdef RINGO_TSAN
    /* Go reads every send case's channel: a send racing a close is a race. */
    for (size_t i = 0; i < n; i++)
        if (cases[i].kind == RINGO_CASE_SEND && cases[i].ch)
            RINGO_RACE_READ(&cases[i].ch->closed);
#endif
    if (!ringo__current()) {
        if (nfd)
            return -ENOTSUP;    /* fd cases need a worker's ring */
        if (ringo__rt)          /* see note_caller() in chan.c */
            atomic_store_explicit(&ringo__rt->external, 1, memory_order_relaxed);
    }

    /* Scratch: small selects live on the stack (a fiber's stack is small;
     * no VLAs), big ones on the heap. */
    uint16_t order_small[SMALL];
    ringo_chan_t *chans_small[SMALL];
    short ready_small[SMALL];
    ringo__sudog_t sg_small[SMALL];
    uint16_t *order = order_small;
    ringo_chan_t **chans = chans_small;
    short *fd_ready = nfd ? ready_small : NULL;
    ringo__sudog_t *sg = sg_small;
    void *heap = NULL;
    if (n > SMALL) {
        heap = ringo__malloc(n * (sizeof(*order) + sizeof(*chans) + sizeof(*fd_ready) + sizeof(*sg)) + 16);
        if (!heap)
            return -ENOMEM;
        sg = heap;
        chans = (ringo_chan_t **)(sg + n);
        order = (uint16_t *)(chans + n);
        fd_ready = nfd ? (short *)(order + n) : NULL;
    }

    /* A random permutation: the order cases are tried in. */
    for (size_t i = 0; i < n; i++) {
        size_t j = ringo__rand((uint32_t)i + 1);
        order[i] = order[j];
        order[j] = (uint16_t)i;
    }

    if (nfd) {
        struct pollfd pfd_small[SMALL], *pfd = pfd_small;
        if (n > SMALL) {
            pfd = ringo__malloc(n * sizeof(*pfd));
            if (!pfd) {
                ringo__free(heap);
                return -ENOMEM;
            }
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            fd_ready[i] = 0;
            if (cases[i].kind == RINGO_CASE_READABLE || cases[i].kind == RINGO_CASE_WRITABLE)
                pfd[k++] = (struct pollfd){.fd = cases[i].fd,
                                           .events = cases[i].kind == RINGO_CASE_READABLE ? POLLIN : POLLOUT};
        }
        if (poll(pfd, (nfds_t)k, 0) > 0) {
            k = 0;
            for (size_t i = 0; i < n; i++)
                if (cases[i].kind == RINGO_CASE_READABLE || cases[i].kind == RINGO_CASE_WRITABLE)
                    fd_ready[i] = pfd[k++].revents != 0;
        }
        if (pfd != pfd_small)
            ringo__free(pfd);
    }

    /* ---- pass 0: peek unlocked, lock one channel at a time ----
     * A case that looks ready is tried under its own lock alone; the usual
     * select (something is ready) never takes the other locks. A peek may
     * miss a case; pass 1 decides with every lock held. */
    for (size_t k = 0; k < n; k++) {
        int i = order[k];
        ringo_case_t *cs = &cases[i];
        if (!is_chan_case(cs)) {
            if ((cs->kind == RINGO_CASE_TIMEOUT && cs->timeout <= 0) ||
                ((cs->kind == RINGO_CASE_READABLE || cs->kind == RINGO_CASE_WRITABLE) && fd_ready[i])) {
                ringo__free(heap);
                return i;
            }
            continue;
        }
        if (!maybe_ready(cs))
            continue;
        struct lockset one = {&cs->ch, 1};
        ringo__wait_t *wake = NULL;
        ringo__spin_lock(&cs->ch->lock);
        if (try_case(cs, &one, &wake, fd_ready, i)) {
            if (wake)
                ringo__unblock(wake);
            ringo__free(heap);
            return i;
        }
        ringo__spin_unlock(&cs->ch->lock);
    }
    /* Nothing looked ready. Even with a default we go on to the locked
     * pass: the peeks above were taken at different instants, and only all
     * the locks held at once prove that no case was ready (Go's
     * TestNonblockSelectRace: c1 emptied just after it was peeked, c2
     * filled just before). */

    /* The channels, sorted and unique: the lock order. */
    struct lockset ls = {chans, 0};
    for (size_t i = 0; i < n; i++)
        if (is_chan_case(&cases[i]))
            chans[ls.n++] = cases[i].ch;
    if (ls.n <= 16) {
        /* Insertion sort: no call per comparison for the usual handful. */
        for (size_t i = 1; i < ls.n; i++) {
            ringo_chan_t *c = chans[i];
            size_t j = i;
            for (; j > 0 && (uintptr_t)chans[j - 1] > (uintptr_t)c; j--)
                chans[j] = chans[j - 1];
            chans[j] = c;
        }
    } else {
        qsort(chans, ls.n, sizeof(*chans), cmp_chan);
    }
    size_t u = 0;
    for (size_t i = 0; i < ls.n; i++)
        if (u == 0 || chans[u - 1] != chans[i])
            chans[u++] = chans[i];
    ls.n = u;

    /* ---- pass 1 ---- */
    lock_all(&ls);
    for (size_t k = 0; k < n; k++) {
        int i = order[k];
        ringo__wait_t *wake = NULL;
        if (try_case(&cases[i], &ls, &wake, fd_ready, i)) {
            if (wake)
                ringo__unblock(wake);
            ringo__free(heap);
            return i;
        }
    }
    if (dflt >= 0) {
        unlock_all(&ls);
        ringo__free(heap);
        return dflt;
    }

    /* ---- pass 2 ---- */
    ringo__select_t sel;
    atomic_store_explicit(&sel.done, 0, memory_order_relaxed);
    sel.winner = -1;
    sel.timeout_case = tmo_case(cases, n);
    ringo__wait_prepare(&sel.wait, "select");
    RINGO_RACE_RELEASE(RINGO__RACE_WAITER(&sel.wait));  /* for the partner of whichever case wins */
    int tmo = sel.timeout_case;
    for (size_t k = 0; k < n; k++) {
        int i = order[k];
        ringo_case_t *cs = &cases[i];
        sg[i].queued = false;
        if (is_chan_case(cs)) {
            sg[i] = (ringo__sudog_t){.wait = &sel.wait, .elem = cs->ptr, .c = cs->ch,
                                     .sel = &sel, .case_index = i};
            ringo__waitq_enqueue(cs->kind == RINGO_CASE_RECV ? &cs->ch->recvq : &cs->ch->sendq, &sg[i]);
        }
    }
    unlock_all(&ls);

    ringo__timer_t timer;
    if (tmo >= 0) {
        memset(&timer, 0, sizeof(timer));
        timer.heap_index = -1;
        int64_t now = ringo__now();
        timer.when = cases[tmo].timeout > INT64_MAX - now ? INT64_MAX : now + cases[tmo].timeout;
        timer.fire = timeout_fire;
        timer.arg = &sel;
        timer.sync = true;
        ringo__timer_arm(&timer);
    }

    struct select_poll *polls_small[SMALL], **polls = polls_small;
    if (nfd) {
        if (nfd > SMALL && !(polls = ringo__calloc((size_t)nfd, sizeof(*polls))))
            ringo__throw("out of memory arming a select");
        ringo__worker_t *w = ringo__self();
        int k = 0;
        for (size_t i = 0; i < n; i++) {
            if (cases[i].kind != RINGO_CASE_READABLE && cases[i].kind != RINGO_CASE_WRITABLE)
                continue;
            struct select_poll *p = ringo__malloc(sizeof(*p));
            if (!p)
                ringo__throw("out of memory arming a select");
            p->op.complete = poll_complete;
            atomic_store_explicit(&p->state, POLL_ARMED, memory_order_relaxed);
            p->sel = &sel;
            p->case_index = (int)i;
            p->owner = w;
            struct io_uring_sqe *sqe = ringo__ring_sqe(w);
            io_uring_prep_poll_add(sqe, cases[i].fd,
                                   cases[i].kind == RINGO_CASE_READABLE ? POLLIN : POLLOUT);
            io_uring_sqe_set_data(sqe, p);
            ringo__ring_op_started(w);
            polls[k++] = p;
        }
    }

    if (tmo < 0 && !nfd && ls.n == 0)
        ringo__block_forever("select (no cases)");
    ringo__wait_block(&sel.wait);

    /* ---- pass 3 ---- */
    int winner = sel.winner;
    if (tmo >= 0)
        ringo__timer_del_sync(&timer);
    for (int k = 0; k < nfd; k++) {
        struct select_poll *p = polls[k];
        /* Read before orphaning it: once orphaned, its CQE may free it. */
        ringo__worker_t *owner = p->owner;
        int expect = POLL_ARMED;
        if (atomic_compare_exchange_strong(&p->state, &expect, POLL_ORPHANED)) {
            ringo__ring_cancel(owner, (uint64_t)(uintptr_t)p);  /* p frees itself */
        } else {
            while (atomic_load_explicit(&p->state, memory_order_acquire) != POLL_DONE)
                ;
            ringo__free(p);
        }
    }
    if (polls != polls_small)
        ringo__free(polls);

    lock_all(&ls);
    for (size_t i = 0; i < n; i++) {
        if (!is_chan_case(&cases[i]) || !sg[i].queued)
            continue;
        ringo__waitq_remove(cases[i].kind == RINGO_CASE_RECV ? &cases[i].ch->recvq : &cases[i].ch->sendq,
                            &sg[i]);
    }
    unlock_all(&ls);

    bool success = winner >= 0 && is_chan_case(&cases[winner]) ? sg[winner].success : true;
    ringo__free(heap);
    if (winner >= 0 && cases[winner].kind == RINGO_CASE_RECV)
        cases[winner].ok = success;
    else if (winner >= 0 && cases[winner].kind == RINGO_CASE_SEND && !success)
        ringo_panic("send on closed channel");
    return winner;
}

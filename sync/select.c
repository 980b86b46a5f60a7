/* sync/select.c - Go's select over channels, fds and a timeout.
 *
 * ringo_select runs these passes, each its own function below:
 *
 *   check     validate the cases (-EINVAL, -EBADF, -ENOTSUP) and size the
 *             scratch (small selects on the stack, no VLAs; big ones on the
 *             heap: -ENOMEM);
 *   peek      (pass 0) visit the cases unlocked in a random order and try
 *             the first that looks ready under its channel's lock alone; fd
 *             cases were checked just before with one poll(2) of timeout 0.
 *             The usual select, something ready, ends here;
 *   order     the channels sorted by address, each once: the lock order;
 *   locked    (pass 1) all channels locked, visit the cases in a random
 *             permutation and take the first that can proceed: only all the
 *             locks held at once prove nothing is ready, and the random
 *             order makes the choice among ready cases uniform. Nothing
 *             ready: with RINGO_DEFAULT return its index;
 *   enqueue   (pass 2) prepare to park, queue one waiter per channel case,
 *             unlock; arm the one timer (the shortest RINGO_TIMEOUT) and a
 *             one-shot POLL per fd case on the worker's event source
 *             (core/event.h; it goes out with the worker's next poll or
 *             wait, with whatever else it submits), and park. The first case to fire wins the
 *             select's `done` word by CAS (channel waiters in
 *             ringo__chan_dequeue, the timer and poll completions here);
 *             the losers back off;
 *   unqueue   (pass 3, after waking) cancel the timer (waiting out a fire in
 *             progress), orphan or reap the polls, relock the channels and
 *             take the losers' waiters off their queues.
 *
 * Poll records. A poll's record is on the heap and outlives the select: its
 * state word says who frees it, the select leaving (pass 3) or the CQE,
 * whichever comes second; a late CQE never touches the select's stack.
 *   ARMED -> FIRING -> DONE    the CQE came first (FIRING: it is using the
 *                              select); pass 3 waits for DONE, then frees;
 *   ARMED -> ORPHANED          pass 3 came first; the CQE frees the record.
 * Pass 3 asks the ring's owner to cancel the poll (only the owner may
 * submit) before it tries to orphan it, and whoever frees the record first
 * drops that request if it still waits in the owner's inbox
 * (ringo__ev_forget): a stale request would cancel the next poll that the
 * allocator places at the same address. A cancel that lands before the
 * orphaning completes the poll as usual; the select is done by then, so
 * the completion wins nothing.
 * Every record is allocated before pass 1, so arming cannot fail. When the
 * runtime stops, each worker cancels and reaps its ring's operations; a
 * poll completing then still goes to DONE (so a select in pass 3 on another
 * worker stops waiting for it) but wakes nobody, and a select orphaning a
 * poll then asks no ring for a cancel (the owner's shutdown cancels all);
 * if the owner's ring is already gone, no CQE will come and it frees the
 * record itself. A select that never runs
 * again is abandoned: its fiber published its waiters (sync/waitq.h), and
 * their hooks free its poll records and heap scratch.
 *
 * Lock order: channel locks in address order, then (never while holding
 * them) timer and ring locks.
 */
#include "chan_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 8         /* cases handled with on-stack arrays; more use the heap */
#define MAX_CASES 65536 /* order[] holds uint16_t indices */

enum { POLL_ARMED, POLL_FIRING, POLL_DONE, POLL_ORPHANED };

struct select_poll {
    ringo__ev_op_t ev;          /* a one-shot POLL on the select's worker */
    _Atomic int state;
    ringo__select_t *sel;       /* valid while state is ARMED or FIRING */
    int case_index;
    ringo__worker_t *owner;     /* whose ring holds the SQE */
};

/* One call's working state. */
struct sel {
    ringo_case_t *cases;
    size_t n;
    int dflt;                   /* the default case, or -1 */
    int tmo;                    /* the shortest timeout case, or -1 */
    int nfd;
    uint16_t *order;            /* a random permutation of the cases */
    short *fd_ready;            /* poll(2)'s verdict per case; NULL without fd cases */
    ringo_chan_t **chans;       /* the lock order */
    size_t nchans;
    ringo__waiter_t *w;         /* one per case; used by channel and fd cases */
    void *heap;                 /* scratch for big selects, or NULL */
    ringo__select_t shared;     /* what the wakers see */
    ringo__waiter_t tail;       /* ends the published chain; frees heap if abandoned */
    ringo__waiter_t *chain;     /* the published chain's first waiter */
};

static bool is_chan_case(const ringo_case_t *c)
{
    return (c->kind == RINGO_CASE_RECV || c->kind == RINGO_CASE_SEND) && c->ch;
}

static bool is_fd_case(const ringo_case_t *c)
{
    return c->kind == RINGO_CASE_READABLE || c->kind == RINGO_CASE_WRITABLE;
}

/* ---- completions ------------------------------------------------------------ */

static void poll_complete(ringo__op_t *op, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct select_poll *p = (struct select_poll *)op;
    int expect = POLL_ARMED;
    if (!atomic_compare_exchange_strong(&p->state, &expect, POLL_FIRING)) {
        /* Orphaned: the select left, we come second. Its cancel request
         * (asked before it orphaned p) must not outlive p, or it would
         * cancel whatever poll next gets p's address on this worker. */
        ringo__ev_forget(p->owner, &p->ev.op);
        ringo__free(p);
        return;
    }
    ringo__select_t *sel = p->sel;
    bool won = false;
    /* Readiness, an error or a hang-up all end the wait, as poll(2) does;
     * at shutdown the completion is the ring's cancel and wakes nobody. */
    if (!atomic_load(&ringo__rt->stopping)) {
        int zero = 0;
        won = atomic_compare_exchange_strong(&sel->done, &zero, 1);
        if (won)
            sel->winner = p->case_index;
    }
    /* From here the select may free p; sel stays valid only if we won (it
     * waits for our wake-up). */
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

/* ---- abandoned at the run's end (sync/waitq.h) --------------------------------- */

static void poll_abandoned(ringo__waiter_t *w, bool queued)
{
    (void)queued;
    /* The rings are gone: ARMED or DONE, nobody else will free it. */
    ringo__free(w->op);
}

static void scratch_abandoned(ringo__waiter_t *w, bool queued)
{
    (void)queued;
    ringo__free(ringo__container_of(w, struct sel, tail)->heap);
}

/* ---- check ------------------------------------------------------------------- */

/* Validates the cases and fills in st's counts. 0 or -errno. */
static int sel_check(struct sel *st, ringo_case_t *cases, size_t n)
{
    if (!cases && n)
        return -EINVAL;
    if (n > MAX_CASES)
        return -EINVAL;
    st->cases = cases;
    st->n = n;
    st->dflt = st->tmo = -1;
    st->nfd = 0;
    for (size_t i = 0; i < n; i++) {
        switch (cases[i].kind) {
        case RINGO_CASE_DEFAULT:
            if (st->dflt >= 0)
                return -EINVAL;
            st->dflt = (int)i;
            break;
        case RINGO_CASE_READABLE:
        case RINGO_CASE_WRITABLE:
            if (cases[i].fd < 0)
                return -EBADF;
            st->nfd++;
            break;
        case RINGO_CASE_TIMEOUT:
            if (st->tmo < 0 || cases[i].timeout < cases[st->tmo].timeout)
                st->tmo = (int)i;
            break;
        case RINGO_CASE_RECV:
        case RINGO_CASE_SEND:
            if (cases[i].ch)
                RINGO__CHAN_CHECK(cases[i].ch);
            break;
        default:
            return -EINVAL;
        }
    }
    if (!ringo__current() && st->nfd)
        return -ENOTSUP;        /* fd cases need a worker's ring */
#ifdef RINGO_TSAN
    /* Go reads every send case's channel: a send racing a close is a race. */
    for (size_t i = 0; i < n; i++)
        if (cases[i].kind == RINGO_CASE_SEND && cases[i].ch)
            RINGO_RACE_READ(&cases[i].ch->closed);
#endif
    return 0;
}

/* Points st's arrays at the small ones or at one heap block. 0 or -ENOMEM. */
static int sel_scratch(struct sel *st, uint16_t *order, ringo_chan_t **chans, short *ready,
                       ringo__waiter_t *w)
{
    size_t n = st->n;
    st->heap = NULL;
    if (n <= SMALL) {
        st->order = order;
        st->chans = chans;
        st->fd_ready = st->nfd ? ready : NULL;
        st->w = w;
        return 0;
    }
    st->heap = ringo__malloc(n * (sizeof(*st->w) + sizeof(*st->chans) + sizeof(*st->order) +
                                  sizeof(*st->fd_ready)));
    if (!st->heap)
        return -ENOMEM;
    st->w = st->heap;
    st->chans = (ringo_chan_t **)(st->w + n);
    st->order = (uint16_t *)(st->chans + n);
    st->fd_ready = st->nfd ? (short *)(st->order + n) : NULL;
    return 0;
}

static void sel_shuffle(struct sel *st)
{
    for (size_t i = 0; i < st->n; i++) {
        size_t j = ringo__rand((uint32_t)i + 1);
        st->order[i] = st->order[j];
        st->order[j] = (uint16_t)i;
    }
}

/* fd_ready[i] = whether fd case i is ready now (one poll(2), timeout 0).
 * 0 or -ENOMEM. */
static int sel_poll_fds(struct sel *st)
{
    struct pollfd pfd_small[SMALL], *pfd = pfd_small;
    if (st->n > SMALL && !(pfd = ringo__malloc(st->n * sizeof(*pfd))))
        return -ENOMEM;
    nfds_t k = 0;
    for (size_t i = 0; i < st->n; i++) {
        st->fd_ready[i] = 0;
        if (is_fd_case(&st->cases[i]))
            pfd[k++] = (struct pollfd){.fd = st->cases[i].fd,
                                       .events = st->cases[i].kind == RINGO_CASE_READABLE ? POLLIN : POLLOUT};
    }
    if (poll(pfd, k, 0) > 0) {
        k = 0;
        for (size_t i = 0; i < st->n; i++)
            if (is_fd_case(&st->cases[i]))
                st->fd_ready[i] = pfd[k++].revents != 0;
    }
    if (pfd != pfd_small)
        ringo__free(pfd);
    return 0;
}

/* ---- trying one case ------------------------------------------------------------- */

/* Performs case i if it can proceed now. The channel locks of `locked`
 * (n of them) are held; returns true with them released (and *wake set to
 * a waiter to unblock, if any), false with them still held. */
static bool try_case(struct sel *st, int i, ringo_chan_t **locked, size_t n, ringo__wait_t **wake)
{
    ringo_case_t *cs = &st->cases[i];
    ringo_chan_t *c = cs->ch;
    ringo__waiter_t *w;
    switch (cs->kind) {
    case RINGO_CASE_RECV:
        if (!c)
            return false;
        if ((w = ringo__chan_dequeue(&c->sendq)) != NULL) {
            ringo__chan_recv_direct(c, w, cs->ptr);
            *wake = w->wait;
            cs->ok = true;
        } else if (c->count > 0) {
            ringo__chan_buf_take(c, cs->ptr);
            cs->ok = true;
        } else if (c->closed) {
            RINGO_RACE_ACQUIRE(&c->closed);
            if (cs->ptr && c->elem_size)
                memset(cs->ptr, 0, c->elem_size);
            cs->ok = false;
        } else {
            return false;
        }
        break;
    case RINGO_CASE_SEND:
        if (!c)
            return false;
        if (c->closed) {
            for (size_t k = n; k-- > 0;)
                ringo__spin_unlock(&locked[k]->lock);
            ringo_panic("send on closed channel");
        }
        if ((w = ringo__chan_dequeue(&c->recvq)) != NULL) {
            ringo__chan_send_direct(c, w, cs->ptr);
            *wake = w->wait;
        } else if (c->count < c->cap) {
            ringo__chan_buf_put(c, cs->ptr);
        } else {
            return false;
        }
        break;
    case RINGO_CASE_TIMEOUT:
        if (cs->timeout > 0)
            return false;
        break;
    case RINGO_CASE_READABLE:
    case RINGO_CASE_WRITABLE:
        if (!st->fd_ready[i])
            return false;
        break;
    default:                    /* the default case: only after pass 1 */
        return false;
    }
    for (size_t k = n; k-- > 0;)
        ringo__spin_unlock(&locked[k]->lock);
    return true;
}

/* ---- pass 0: peek ------------------------------------------------------------------ */

/* Tries, in the random order, each case that looks ready, under its own
 * channel's lock alone. Returns the index of the case performed, or -1 (no
 * lock held either way). A peek may miss a ready case: pass 1 decides. */
static int sel_peek(struct sel *st)
{
    for (size_t k = 0; k < st->n; k++) {
        int i = st->order[k];
        ringo_case_t *cs = &st->cases[i];
        if (!is_chan_case(cs)) {
            if ((cs->kind == RINGO_CASE_TIMEOUT && cs->timeout <= 0) ||
                (is_fd_case(cs) && st->fd_ready[i]))
                return i;
            continue;
        }
        ringo_chan_t *c = cs->ch;
        bool maybe;
        if (__atomic_load_n(&c->closed, __ATOMIC_RELAXED)) {
            maybe = true;
        } else {
            size_t count = __atomic_load_n(&c->count, __ATOMIC_RELAXED);
            if (cs->kind == RINGO_CASE_RECV)
                maybe = count > 0 || __atomic_load_n(&c->sendq.first, __ATOMIC_RELAXED) != NULL;
            else
                maybe = count < c->cap || __atomic_load_n(&c->recvq.first, __ATOMIC_RELAXED) != NULL;
        }
        if (!maybe)
            continue;
        ringo__wait_t *wake = NULL;
        ringo__spin_lock(&c->lock);
        if (try_case(st, i, &c, 1, &wake)) {
            if (wake)
                ringo__unblock(wake);
            return i;
        }
        ringo__spin_unlock(&c->lock);
    }
    return -1;
}

/* ---- the lock order ------------------------------------------------------------------ */

static int cmp_chan(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (ringo_chan_t *const *)a, y = (uintptr_t) * (ringo_chan_t *const *)b;
    return x < y ? -1 : x > y;
}

/* st->chans = the channel cases' channels, sorted by address, each once. */
static void sel_order_locks(struct sel *st)
{
    ringo_chan_t **chans = st->chans;
    size_t n = 0;
    for (size_t i = 0; i < st->n; i++)
        if (is_chan_case(&st->cases[i]))
            chans[n++] = st->cases[i].ch;
    if (n <= 16) {
        /* Insertion sort: no call per comparison for the usual handful. */
        for (size_t i = 1; i < n; i++) {
            ringo_chan_t *c = chans[i];
            size_t j = i;
            for (; j > 0 && (uintptr_t)chans[j - 1] > (uintptr_t)c; j--)
                chans[j] = chans[j - 1];
            chans[j] = c;
        }
    } else {
        qsort(chans, n, sizeof(*chans), cmp_chan);
    }
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || chans[u - 1] != chans[i])
            chans[u++] = chans[i];
    st->nchans = u;
}

static void lock_all(struct sel *st)
{
    for (size_t i = 0; i < st->nchans; i++)
        ringo__spin_lock(&st->chans[i]->lock);
}

static void unlock_all(struct sel *st)
{
    for (size_t i = st->nchans; i-- > 0;)
        ringo__spin_unlock(&st->chans[i]->lock);
}

/* ---- pass 1: every lock held --------------------------------------------------------- */

/* Caller holds every channel lock. Returns the case performed (locks
 * released), or -1 (locks still held). */
static int sel_locked(struct sel *st)
{
    for (size_t k = 0; k < st->n; k++) {
        int i = st->order[k];
        ringo__wait_t *wake = NULL;
        if (try_case(st, i, st->chans, st->nchans, &wake)) {
            if (wake)
                ringo__unblock(wake);
            return i;
        }
    }
    return -1;
}

/* ---- pass 2: enqueue, arm, park -------------------------------------------------------- */

/* One record per fd case, in st->w[i].op, allocated before any lock is
 * taken. 0 or -ENOMEM (nothing allocated). */
static int sel_alloc_polls(struct sel *st)
{
    for (size_t i = 0; i < st->n; i++) {
        if (!is_fd_case(&st->cases[i]))
            continue;
        if (!(st->w[i].op = ringo__malloc(sizeof(struct select_poll)))) {
            while (i-- > 0)
                if (is_fd_case(&st->cases[i]))
                    ringo__free(st->w[i].op);
            return -ENOMEM;
        }
    }
    return 0;
}

static void sel_free_polls(struct sel *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (is_fd_case(&st->cases[i]))
            ringo__free(st->w[i].op);
}

/* Caller holds every channel lock. Prepares to park, queues a waiter per
 * channel case and chains every waiter (channel and fd cases, then
 * st->tail) for publication; returns with the locks released. */
static void sel_enqueue(struct sel *st)
{
    ringo__select_t *sel = &st->shared;
    atomic_store_explicit(&sel->done, 0, memory_order_relaxed);
    sel->winner = -1;
    sel->timeout_case = st->tmo;
    ringo__wait_prepare(&sel->wait, "select");
    RINGO_RACE_RELEASE(RINGO__RACE_WAITER(&sel->wait));  /* for the partner of whichever case wins */

    ringo__waiter_init(&st->tail, &sel->wait, NULL, st->heap ? scratch_abandoned : NULL);
    ringo__waiter_t *chain = &st->tail;
    for (size_t k = 0; k < st->n; k++) {
        int i = st->order[k];
        ringo_case_t *cs = &st->cases[i];
        ringo__waiter_t *w = &st->w[i];
        if (is_chan_case(cs)) {
            ringo__waiter_init(w, &sel->wait, &cs->ch->lock, NULL);
            w->ch.elem = cs->ptr;
            w->ch.sel = sel;
            w->ch.case_index = i;
            w->ch.success = false;
            ringo__chan_enqueue(cs->kind == RINGO_CASE_RECV ? &cs->ch->recvq : &cs->ch->sendq, w);
        } else if (is_fd_case(cs)) {
            void *rec = w->op;
            ringo__waiter_init(w, &sel->wait, NULL, poll_abandoned);
            w->op = rec;
        } else {
            continue;
        }
        w->also = chain;
        chain = w;
    }
    unlock_all(st);
    st->chain = chain;
    ringo__waiters_publish(chain);
}

static void sel_arm_timer(struct sel *st, ringo__timer_t *timer)
{
    memset(timer, 0, sizeof(*timer));
    timer->heap_index = -1;
    int64_t now = ringo__now(), d = st->cases[st->tmo].timeout;
    timer->when = d > INT64_MAX - now ? INT64_MAX : now + d;
    timer->fire = timeout_fire;
    timer->arg = &st->shared;
    timer->sync = true;
    ringo__timer_arm(timer);
}

static void sel_arm_polls(struct sel *st)
{
    ringo__worker_t *w = ringo__self();
    for (size_t i = 0; i < st->n; i++) {
        ringo_case_t *cs = &st->cases[i];
        if (!is_fd_case(cs))
            continue;
        struct select_poll *p = st->w[i].op;
        p->ev = (ringo__ev_op_t){
            .op.complete = poll_complete,
            .opcode = RINGO__EV_POLL,
            .fd = cs->fd,
            .flags = cs->kind == RINGO_CASE_READABLE ? POLLIN : POLLOUT,
        };
        atomic_store_explicit(&p->state, POLL_ARMED, memory_order_relaxed);
        p->sel = &st->shared;
        p->case_index = (int)i;
        p->owner = w;
        ringo__ev_submit(w, &p->ev);
    }
}

/* ---- pass 3: unqueue the losers ----------------------------------------------------------- */

/* After the wake-up: stops the timer, settles each poll record, and takes
 * every waiter still queued off its channel. Returns the winning case. */
static int sel_unqueue(struct sel *st, ringo__timer_t *timer)
{
    int winner = st->shared.winner;
    if (st->tmo >= 0)
        ringo__timer_del_sync(timer);
    for (size_t i = 0; i < st->n; i++) {
        if (!is_fd_case(&st->cases[i]))
            continue;
        struct select_poll *p = st->w[i].op;
        /* Read before orphaning it: once orphaned, its CQE may free it. */
        ringo__worker_t *owner = p->owner;
        /* The cancel is asked before p is orphaned, so that whoever frees
         * p can drop a request still waiting in the owner's inbox
         * (ringo__ev_forget): a stale one would cancel the next poll that
         * the allocator places at p's address. */
        bool stopping = atomic_load(&ringo__rt->stopping);
        if (!stopping)
            ringo__ev_cancel(owner, &p->ev.op);
        int expect = POLL_ARMED;
        if (atomic_compare_exchange_strong(&p->state, &expect, POLL_ORPHANED)) {
            if (stopping && ringo__ev_gone(owner))
                ringo__free(p);     /* the owner's ring is gone: no CQE will come */
            /* else the CQE frees p (at shutdown, the owner cancels and
             * reaps every operation on its ring). */
        } else {
            while (atomic_load_explicit(&p->state, memory_order_acquire) != POLL_DONE)
                ;
            ringo__ev_forget(owner, &p->ev.op);
            ringo__free(p);
        }
    }
    lock_all(st);
    for (size_t i = 0; i < st->n; i++)
        if (is_chan_case(&st->cases[i]))
            ringo__waiter_unlink(&st->w[i]);
    unlock_all(st);
    return winner;
}

/* ---- the whole ----------------------------------------------------------------------- */

int ringo_select(ringo_case_t *cases, size_t n)
{
    struct sel st;
    int r = sel_check(&st, cases, n);
    if (r < 0)
        return r;

    uint16_t order_small[SMALL];
    ringo_chan_t *chans_small[SMALL];
    short ready_small[SMALL];
    ringo__waiter_t w_small[SMALL];
    if ((r = sel_scratch(&st, order_small, chans_small, ready_small, w_small)) < 0)
        return r;
    sel_shuffle(&st);
    if (st.nfd && (r = sel_poll_fds(&st)) < 0)
        goto out;
    if ((r = sel_peek(&st)) >= 0)
        goto out;

    /* Nothing looked ready. Even with a default we go on to the locked
     * pass: the peeks above were taken at different instants, and only all
     * the locks held at once prove that no case was ready (Go's
     * TestNonblockSelectRace: c1 emptied just after it was peeked, c2
     * filled just before). */
    sel_order_locks(&st);
    bool polls = st.nfd && st.dflt < 0;
    if (polls && (r = sel_alloc_polls(&st)) < 0)
        goto out;
    lock_all(&st);
    if ((r = sel_locked(&st)) < 0 && st.dflt >= 0) {
        unlock_all(&st);
        r = st.dflt;
    }
    if (r >= 0) {
        if (polls)
            sel_free_polls(&st);
        goto out;
    }
    if (st.tmo < 0 && !st.nfd && st.nchans == 0) {
        unlock_all(&st);
        ringo__free(st.heap);
        ringo__block_forever("select (no cases)");
    }

    sel_enqueue(&st);
    ringo__timer_t timer;
    if (st.tmo >= 0)
        sel_arm_timer(&st, &timer);
    if (st.nfd)
        sel_arm_polls(&st);
    ringo__wait_block(&st.shared.wait);
    r = sel_unqueue(&st, &timer);
    ringo__waiters_retract(st.chain);

    bool success = is_chan_case(&cases[r]) ? st.w[r].ch.success : true;
    if (cases[r].kind == RINGO_CASE_RECV)
        cases[r].ok = success;
    else if (cases[r].kind == RINGO_CASE_SEND && !success) {
        ringo__free(st.heap);
        ringo_panic("send on closed channel");
    }
out:
    ringo__free(st.heap);
    return r;
}

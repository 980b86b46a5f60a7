/* io/op.c - the one way an io call waits: ringo__io_wait.
 *
 * In a fiber, an operation goes through the calling worker's event source
 * (core/event.h):
 *   1. its fd's registry entry takes it (fdtab.c), unless a ringo_close of
 *      that fd is under way (-EBADF). An fd the table cannot hold (beyond
 *      2^30, or no memory for its chunk) goes unregistered: its calls
 *      work, but ringo_close cannot cancel them;
 *   2. the fiber prepares to park, publishes an abandon hook on itself
 *      (sync/waitq.h) and submits the op on its worker;
 *   3. if ctx can be cancelled, an internal watcher (sync/ctx_watch.h) will
 *      ask the backend to cancel the op when ctx ends; ctx's deadline rides
 *      on the op itself (the backend's linked timeout);
 *   4. it parks. The completion callback, on the worker (or on the monitor
 *      for a hogged worker), stores the result, takes the op off its entry
 *      and readies the fiber.
 * The fiber always waits for its own op's completion: a cancel, from ctx
 * or from ringo_close, only makes it come sooner. So the record and the
 * buffer it points at stay on the fiber's stack for exactly as long as the
 * kernel may use them, and bytes moved before a cancel landed are returned,
 * never lost. The caller's buffer is the kernel's from the submit until the
 * fiber resumes; the record's fields are owned as io_internal.h says.
 *
 * Cancels. A cancel names the op record, never the fd. Exactly one party
 * asks for a closed op's cancel, decided by the op's phase word: ringo_close
 * (under the entry's lock) moves SUBMITTING -> CANCEL_ASKED, or finds
 * SUBMITTED and moves it to CLOSER_ASKING, asks once it has dropped the
 * lock, then stores CLOSER_ASKED; the submitter, right after the submit,
 * swaps in SUBMITTED and cancels if it finds CANCEL_ASKED. Either way the
 * cancel is asked after the op reached the backend's queue. Nothing that
 * may complete ops is called under an entry's lock: a submit or a cancel
 * on the caller's own worker may reap completions on the spot.
 *   A cancel asked from another thread waits in the op's worker's inbox
 * until that worker's next poll, and would then cancel whatever op has the
 * record's address by then. So before its record can be reused, a waiter
 * whose op another thread asked to cancel (`asked`) waits until every such
 * request is made (a closer still CLOSER_ASKING; a ctx watcher is waited
 * for by ringo__ctx_unwatch) and drops the requests still queued
 * (ringo__ev_forget).
 *
 * Results: -EINTR is retried; -EAGAIN from a non-blocking fd is waited out
 * with a poll op and the call retried (unless MSG_DONTWAIT asks otherwise);
 * -ECANCELED becomes -EBADF if ringo_close cancelled the op, -ETIMEDOUT if
 * ctx's deadline passed, else ctx's error.
 *
 * Shutdown. When the runtime stops, each worker's event source cancels and
 * completes what is still in flight: a completion then wakes nobody (the
 * fiber is abandoned with its stack, as select.c's polls are), and the
 * abandon hook published in step 2 unwatches ctx at the run's end (and
 * takes off its entry an op whose completion never came), so no context or
 * fd entry that outlives the run keeps a link into a freed stack.
 *
 * Outside a fiber the plain blocking syscall runs (ctx checked before, not
 * during). In a child forked while a runtime ran, a fiber gets -ECHILD:
 * the rings belong to the parent.
 *
 * Locks: none of its own. Takes an fd entry's lock (fdtab.c) and a
 * context's lock (in ringo__ctx_watch/unwatch), never both at once, and
 * neither across a submit or a cancel.
 */
#include "io_internal.h"
#include "waitq.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


/* What a dump says a fiber waiting on each opcode is doing. */
static const char *const wait_reasons[RINGO__EV_OPCODES] = {
    [RINGO__EV_NOP] = "io",
    [RINGO__EV_READ] = "io read",
    [RINGO__EV_WRITE] = "io write",
    [RINGO__EV_RECV] = "io recv",
    [RINGO__EV_SEND] = "io send",
    [RINGO__EV_ACCEPT] = "io accept",
    [RINGO__EV_CONNECT] = "io connect",
    [RINGO__EV_POLL] = "io poll",
    [RINGO__EV_OPEN] = "io open",
    [RINGO__EV_CLOSE] = "io close",
    [RINGO__EV_FSYNC] = "io fsync",
    [RINGO__EV_TIMEOUT] = "io pause",
};

/* Whether op is registered on its fd's entry: every op on an fd, and a
 * pause given one (accept's back-off on its listener, so that closing the
 * listener ends the pause too). */
static bool has_fd(const ringo__ev_op_t *ev)
{
    return ev->opcode != RINGO__EV_OPEN && ev->opcode != RINGO__EV_NOP && ev->fd >= 0;
}

/* The readiness an op that got -EAGAIN waits for, or 0 if it returns
 * -EAGAIN to its caller (MSG_DONTWAIT, or an op that never blocks). */
static short eagain_events(const ringo__ev_op_t *ev)
{
    switch (ev->opcode) {
    case RINGO__EV_RECV:
        return (ev->flags & MSG_DONTWAIT) ? 0 : POLLIN;
    case RINGO__EV_SEND:
        return (ev->flags & MSG_DONTWAIT) ? 0 : POLLOUT;
    case RINGO__EV_READ:
    case RINGO__EV_ACCEPT:
        return POLLIN;
    case RINGO__EV_WRITE:
        return POLLOUT;
    default:
        return 0;
    }
}

/* ---- outside a fiber --------------------------------------------------------------- */

static ssize_t plain_syscall(const ringo__ev_op_t *ev)
{
    ssize_t r;
    switch (ev->opcode) {
    case RINGO__EV_READ:
        r = ev->off < 0 ? read(ev->fd, ev->buf, ev->len) : pread(ev->fd, ev->buf, ev->len, ev->off);
        break;
    case RINGO__EV_WRITE:
        r = ev->off < 0 ? write(ev->fd, ev->cbuf, ev->len) : pwrite(ev->fd, ev->cbuf, ev->len, ev->off);
        break;
    case RINGO__EV_RECV:
        r = recv(ev->fd, ev->buf, ev->len, (int)ev->flags);
        break;
    case RINGO__EV_SEND:
        r = send(ev->fd, ev->cbuf, ev->len, (int)ev->flags);
        break;
    case RINGO__EV_ACCEPT:
        r = accept4(ev->fd, ev->addr, ev->addrlen, (int)ev->flags);
        break;
    case RINGO__EV_CONNECT:
        r = connect(ev->fd, ev->caddr, ev->socklen);
        break;
    case RINGO__EV_POLL: {
        struct pollfd p = {.fd = ev->fd, .events = (short)ev->flags};
        r = poll(&p, 1, -1);
        if (r > 0)
            r = p.revents;
        break;
    }
    case RINGO__EV_OPEN:
        r = openat(AT_FDCWD, ev->path, (int)ev->flags, (mode_t)ev->mode);
        break;
    case RINGO__EV_CLOSE:
        r = close(ev->fd);
        break;
    case RINGO__EV_FSYNC:
        r = (ev->flags & RINGO__EV_DATASYNC) ? fdatasync(ev->fd) : fsync(ev->fd);
        break;
    case RINGO__EV_TIMEOUT: {
        int64_t when = ringo__kernel_time(ev->deadline);
        struct timespec ts = {.tv_sec = when / RINGO_SECOND, .tv_nsec = when % RINGO_SECOND};
        int e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        return e ? -e : 0;
    }
    default:
        return 0;
    }
    return r < 0 ? -errno : r;
}

static ssize_t plain_wait(ringo__io_op_t *op)
{
    for (;;) {
        ssize_t r = plain_syscall(&op->ev);
        short ev;
        if (r == -EINTR && op->ev.opcode != RINGO__EV_CONNECT)
            continue;           /* a connect goes on; net.c waits it out */
        if (r == -EAGAIN && (ev = eagain_events(&op->ev))) {
            struct pollfd p = {.fd = op->ev.fd, .events = ev};
            (void)poll(&p, 1, -1);
            continue;
        }
        return r;
    }
}

/* ---- in a fiber ----------------------------------------------------------------------- */

/* One wait's context side, on the waiting fiber's stack. */
struct io_wait {
    ringo__waiter_t waiter;         /* published on the fiber: its abandon hook */
    ringo__io_op_t *op;
    ringo_ctx_t *ctx;
    bool watching;
    ringo__ctx_watch_t watch;
};

static void op_complete(ringo__op_t *o, int32_t res, uint32_t flags)
{
    (void)flags;
    ringo__io_op_t *op = (ringo__io_op_t *)(void *)o;
    op->res = res;
    if (op->entry)
        ringo__fd_unregister(op);
    /* At shutdown this is the backend cancelling an abandoned fiber's op:
     * the fiber never runs again, and its abandon hook cleans up. */
    if (RINGO__UNLIKELY(atomic_load_explicit(&ringo__rt->stopping, memory_order_relaxed)))
        return;
    /* The wake-up orders nothing the race detector could see: the bytes a
     * read brings were written by the kernel. From here op may vanish. */
    ringo__unblock_quiet(&op->wait);
}

/* ctx ended: any thread, with no lock held. The waiter unwatches before
 * it returns, and waits for this to return, so op is alive here. */
static void on_ctx_cancel(void *arg)
{
    ringo__io_op_t *op = arg;
    atomic_store_explicit(&op->asked, true, memory_order_relaxed);
    ringo__ev_cancel(op->worker, &op->ev.op);
}

/* The fiber blocked in this wait was abandoned at ringo_run's end: every
 * worker has stopped and every completion that will come has come. */
static void op_abandoned(ringo__waiter_t *w, bool queued)
{
    (void)queued;
    struct io_wait *iw = ringo__container_of(w, struct io_wait, waiter);
    if (iw->op->entry)
        ringo__fd_unregister(iw->op);       /* its completion never came */
    if (iw->watching)
        ringo__ctx_unwatch(iw->ctx, &iw->watch);
}

/* Submits op on the calling worker and parks until its completion. The
 * result as the backend gave it, or -EBADF if op's fd is being closed. */
static int32_t fiber_wait(ringo_ctx_t *ctx, ringo__io_op_t *op)
{
    ringo__worker_t *w = ringo__self();
    op->ev.op.complete = op_complete;
    op->worker = w;
    op->entry = NULL;
    op->closed = false;
    atomic_store_explicit(&op->asked, false, memory_order_relaxed);
    op->wait.fiber = ringo__current();
    ringo__fd_entry_t *e = has_fd(&op->ev) ? ringo__fd_entry(op->ev.fd, true) : NULL;
    if (e && ringo__fd_register(e, op) < 0)
        return -EBADF;

    struct io_wait iw;
    iw.op = op;
    iw.ctx = ctx;
    iw.watching = false;
    ringo__waiter_init(&iw.waiter, &op->wait, NULL, op_abandoned);
    ringo__park_prepare(wait_reasons[op->ev.opcode < RINGO__EV_OPCODES ? op->ev.opcode : 0]);
    ringo__waiters_publish(&iw.waiter);
    ringo__ev_submit(w, &op->ev);
    if (e && atomic_exchange(&op->phase, RINGO__IO_PHASE_SUBMITTED) == RINGO__IO_PHASE_CANCEL_ASKED)
        ringo__ev_cancel(w, &op->ev.op);    /* ringo_close came first */
    if (ctx) {
        iw.watching = ringo__ctx_watch(ctx, &iw.watch, on_ctx_cancel, op);
        if (!iw.watching)
            ringo__ev_cancel(w, &op->ev.op);    /* ctx ended meanwhile */
    }
    ringo__park();
    if (iw.watching)
        ringo__ctx_unwatch(ctx, &iw.watch);
    ringo__waiters_retract(&iw.waiter);
    if (e)
        while (atomic_load_explicit(&op->phase, memory_order_acquire) == RINGO__IO_PHASE_CLOSER_ASKING)
            ringo__cpu_relax();     /* a ringo_close between its unlock and its ask */
    if (atomic_load_explicit(&op->asked, memory_order_acquire))
        ringo__ev_forget(op->worker, &op->ev.op);
    return op->res;
}

/* Why a cancelled op was cancelled. */
static int cancel_cause(ringo_ctx_t *ctx, int64_t deadline)
{
    if (deadline && ringo__now() >= deadline)
        return -ETIMEDOUT;
    int err = ctx ? ringo_ctx_err(ctx) : 0;
    return err ? err : -ECANCELED;
}

ssize_t ringo__io_wait(ringo_ctx_t *ctx, ringo__io_op_t *op)
{
    int64_t deadline = 0;
    if (ctx && !ringo_ctx_deadline(ctx, &deadline))
        deadline = 0;
    if (op->ev.opcode != RINGO__EV_TIMEOUT)
        op->ev.deadline = deadline;
    bool fiber = ringo__current() != NULL;
    if (fiber && RINGO__UNLIKELY(ringo__ev_forked()))
        return -ECHILD;
    for (;;) {
        int err = ctx ? ringo_ctx_err(ctx) : 0;
        if (err)
            return err;
        if (deadline && ringo__now() >= deadline)
            return -ETIMEDOUT;
        if (!fiber)
            return plain_wait(op);

        int32_t res = fiber_wait(ctx, op);
        if (res >= 0)
            return res;
        if (op->closed)
            return -EBADF;
        short ev;
        switch (res) {
        case -EINTR:
            if (op->ev.opcode == RINGO__EV_CONNECT)
                return res;     /* a connect goes on; net.c waits it out */
            continue;
        case -EAGAIN:
            if (!(ev = eagain_events(&op->ev)))
                return res;
            ringo__io_op_t p;
            p.ev = (ringo__ev_op_t){.opcode = RINGO__EV_POLL, .fd = op->ev.fd, .flags = (uint32_t)ev};
            ssize_t r = ringo__io_wait(ctx, &p);
            if (r < 0)
                return r;
            continue;
        case -ECANCELED:
            return cancel_cause(ctx, deadline);
        case -ETIME:
            if (op->ev.opcode == RINGO__EV_TIMEOUT)
                return 0;       /* the pause ran out: what it is for */
            return res;
        default:
            return res;
        }
    }
}

int ringo__io_pause(ringo_ctx_t *ctx, int fd, int64_t d)
{
    int64_t now = ringo__now(), when = d > INT64_MAX - now ? INT64_MAX : now + d, cd = 0;
    bool has_deadline = ctx && ringo_ctx_deadline(ctx, &cd);
    if (has_deadline && cd < when)
        when = cd;
    ringo__io_op_t op;
    op.ev = (ringo__ev_op_t){.opcode = RINGO__EV_TIMEOUT, .fd = fd, .deadline = when};
    ssize_t r = ringo__io_wait(ctx, &op);
    if (r < 0)
        return (int)r;
    int err = ctx ? ringo_ctx_err(ctx) : 0;
    if (err)
        return err;
    if (has_deadline && ringo__now() >= cd)
        return -ETIMEDOUT;
    return 0;
}

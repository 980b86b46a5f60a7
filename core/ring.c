/* core/ring.c - the io_uring event source: one ring per worker, behind the
 * contract in event.h (submit an operation, cancel it, wait, reap, wake).
 *
 * Rings are created with SINGLE_ISSUER | COOP_TASKRUN | TASKRUN_FLAG |
 * SUBMIT_ALL and a CQ four times the SQ; on EINVAL (older kernels) flags are
 * dropped one at a time. Not DEFER_TASKRUN: with it no completion becomes
 * visible while a fiber hogs the worker, and the monitor could not rescue
 * anybody waiting on it.
 *
 * Operations. ringo__uring_submit turns a ringo__ev_op_t into one SQE whose
 * user_data is the record's address (never the fd), plus a linked timeout
 * (IORING_OP_LINK_TIMEOUT, absolute, CLOCK_MONOTONIC like ringo__now) when
 * the op has a deadline (not in virtual time, clock.c). The pair always
 * goes into the SQ together: if only one slot is left, the queue is
 * flushed first, because a flush between the two would send the op off
 * without its timeout. The linked timeout's
 * own CQE carries UD_IGNORE and counts for nothing; a TIMEOUT op's
 * -ETIME ("it fired") is delivered as 0. A timespec the kernel reads at
 * submission lives in the record's backend scratch until then.
 *
 * Who touches what:
 *   SQ: the owning worker only (SINGLE_ISSUER). Everything that needs an SQE
 *       on another worker's ring goes through that worker's cancel inbox.
 *   CQ: whoever holds w->cq_lock: the owner, or the monitor rescuing a
 *       hogged worker. CQEs are copied out under the lock and dispatched
 *       after it is released, so a completion may ready fibers freely.
 *
 * Pressure. A full SQ is submitted and the slot taken again; a submit the
 * kernel refuses for the moment (-EBUSY, -EAGAIN: the CQ is overflowing or
 * memory is short) reaps, flushes the overflow and tries again, and -EINTR
 * is retried; nothing prepared is ever dropped. The kernel keeps CQEs that
 * did not fit (IORING_FEAT_NODROP) and raises IORING_SQ_CQ_OVERFLOW; every
 * poll and wait of the owner checks it and has them flushed into the CQ,
 * so no completion is lost however small the CQ.
 *
 * Wake-ups (ringo__uring_wake): a worker sends IORING_OP_MSG_RING from its own
 * ring to the target's (the target sees a CQE with user_data UD_WAKE).
 * A thread without a ring (the monitor, a plain pthread) uses the ring-less
 * IORING_REGISTER_SEND_MSG_RING (Linux 6.13) or, where that is missing, writes
 * the target's eventfd, on which every ring keeps a multishot poll.
 * w->wake_pending is set by whoever sends a wake-up and cleared when it lands;
 * every path on which none is on its way after all clears it too (the target
 * has no ring, the eventfd write fails, the MSG_RING fails: its failure CQE
 * comes back to the sender tagged UD_WAKE_FAILED and the wake-up is sent
 * again the ring-less way), or the target would never be woken again.
 *
 * inflight counts this ring's operations whose completion has not been
 * dispatched; dispatch decrements it only after the completion callback
 * returned, so whatever the callback readied is in a run queue before the
 * count can read zero (the deadlock check in sched.c relies on it).
 *
 * Cancel requests from other threads go to w's inbox (inbox_lock); once
 * the ring is gone (ring_fd < 0, set under inbox_lock) requests are dropped:
 * no operation is left to cancel.
 *
 * Under Valgrind (3.19 at least) io_uring_enter is not known to block, so a
 * worker asleep in it would keep Valgrind's one-thread-at-a-time lock and
 * stall the process; ringo__uring_wait then sleeps in poll(2) instead.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "uring_compat.h"

#define REAP_BATCH 64

/* A worker's ring, allocated by ringo__uring_init. */
struct ringo__uring {
    struct io_uring ring;
    unsigned sq_pending;                /* SQEs prepared, not yet submitted */
} RINGO__ALIGNED;

#define UD_IGNORE   0ull                /* cancels, linked timeouts, skipped messages */
#define UD_WAKE     1ull                /* MSG_RING wake-up */
#define UD_EVENTFD  2ull                /* the eventfd wake poll */

static const unsigned wanted_flags[] = {
    /* dropped in this order when the kernel says EINVAL */
    IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_COOP_TASKRUN,
    IORING_SETUP_SINGLE_ISSUER,
};

static int create_ring(struct io_uring *ring, unsigned entries, unsigned flags)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = flags | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    return io_uring_queue_init_params(entries, ring, &p);
}

/* Why io_uring cannot be used, for the line on stderr: the cause and, when
 * the runtime cannot fall back (io_uring was asked for), the fix. */
static const char *unavailable_why(int err, bool forced)
{
    switch (err) {
    case -ENOSYS:
        return forced ? "the kernel has no io_uring (CONFIG_IO_URING is off, or it predates "
                        "Linux 5.1); ringo needs a kernel with io_uring"
                      : "the kernel has no io_uring (CONFIG_IO_URING is off, or it is too old)";
    case -EPERM:
        return forced ? "io_uring_setup is forbidden: a seccomp filter (Docker's default profile) "
                        "or sysctl kernel.io_uring_disabled blocks it; allow io_uring (docker run "
                        "--security-opt seccomp=unconfined, or sysctl -w kernel.io_uring_disabled=0)"
                      : "io_uring_setup is forbidden: a seccomp filter (Docker's default profile) "
                        "or sysctl kernel.io_uring_disabled blocks it";
    case -ENOMEM:
        return "not enough locked memory for the ring; raise RLIMIT_MEMLOCK (ulimit -l)";
    case -EMFILE:
    case -ENFILE:
        return "out of file descriptors";
    default:
        return "the kernel refused to create a ring";
    }
}

/* The opcodes ringo__uring_submit and the wake-ups use, by name. */
static const struct {
    int op;
    const char *name;
} used_opcodes[] = {
    {IORING_OP_NOP, "NOP"},           {IORING_OP_READ, "READ"},
    {IORING_OP_WRITE, "WRITE"},       {IORING_OP_RECV, "RECV"},
    {IORING_OP_SEND, "SEND"},         {IORING_OP_ACCEPT, "ACCEPT"},
    {IORING_OP_CONNECT, "CONNECT"},   {IORING_OP_POLL_ADD, "POLL_ADD"},
    {IORING_OP_OPENAT, "OPENAT"},     {IORING_OP_CLOSE, "CLOSE"},
    {IORING_OP_FSYNC, "FSYNC"},       {IORING_OP_TIMEOUT, "TIMEOUT"},
    {IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_MSG_RING, "MSG_RING"},
};

/* The first opcode ringo uses that ring's kernel lacks, or NULL. */
static const char *missing_opcode(struct io_uring *ring)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (!probe)
        return "IORING_REGISTER_PROBE";
    const char *missing = NULL;
    for (size_t i = 0; i < sizeof(used_opcodes) / sizeof(used_opcodes[0]) && !missing; i++)
        if (!io_uring_opcode_supported(probe, used_opcodes[i].op))
            missing = used_opcodes[i].name;
    io_uring_free_probe(probe);
    return missing;
}

static int send_msg_ring_registered(int target_fd, uint64_t user_data)
{
    struct io_uring_sqe sqe;
    memset(&sqe, 0, sizeof(sqe));
    sqe.opcode = IORING_OP_MSG_RING;
    sqe.fd = target_fd;
    sqe.off = user_data;            /* the target's CQE user_data */
    int ret = (int)syscall(__NR_io_uring_register, -1, IORING_REGISTER_SEND_MSG_RING, &sqe, 1);
    return ret < 0 ? -errno : ret;
}

/* quiet: the caller falls back to epoll and says so itself; else the
 * line on stderr names the fix too. */
int ringo__uring_probe(ringo__runtime_t *rt, bool quiet)
{
    unsigned flags = 0;
    for (size_t i = 0; i < sizeof(wanted_flags) / sizeof(wanted_flags[0]); i++)
        flags |= wanted_flags[i];

    struct io_uring ring;
    int ret;
    size_t drop = 0;
    while ((ret = create_ring(&ring, rt->ring_entries, flags)) == -EINVAL &&
           drop < sizeof(wanted_flags) / sizeof(wanted_flags[0]))
        flags &= ~wanted_flags[drop++];
    if (ret < 0) {
        fprintf(stderr, "ringo: io_uring is unavailable (io_uring_setup: %s): %s%s\n",
                strerror(-ret), unavailable_why(ret, !quiet), quiet ? "; using epoll" : "");
        return ret;
    }
    const char *missing = missing_opcode(&ring);
    if (missing) {
        io_uring_queue_exit(&ring);
        fprintf(stderr, "ringo: io_uring is unavailable: the kernel lacks IORING_OP_%s (it is "
                        "too old)%s\n", missing, quiet ? "; using epoll" : "");
        return -ENOSYS;
    }
    rt->ring_flags = flags;

    /* Can threads without a ring post into one? (Linux 6.13) */
    const char *wake = getenv("RINGO_WAKE");
    rt->send_msg_ring = !(wake && strcmp(wake, "eventfd") == 0) &&
                        send_msg_ring_registered(ring.ring_fd, UD_WAKE) >= 0;
    io_uring_queue_exit(&ring);
    return 0;
}

/* The CQE of a failed MSG_RING wake-up carries the target, tagged in its
 * low bits (workers are cache-line aligned; op records are pointer
 * aligned, so an op's user_data never has both low bits set). */
#define UD_WAKE_FAILED 3ull
_Static_assert(_Alignof(ringo__op_t) >= 4 && _Alignof(ringo__worker_t) >= 4,
               "user_data tags need two free low bits");

static struct io_uring_sqe *get_sqe(ringo__worker_t *w);
static void submit(ringo__worker_t *w);

static void arm_eventfd(ringo__worker_t *w)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_poll_multishot(sqe, w->wake_efd, POLLIN);
    io_uring_sqe_set_data64(sqe, UD_EVENTFD);
}

int ringo__uring_init(ringo__worker_t *w)
{
    ringo__runtime_t *rt = ringo__rt;
    struct ringo__uring *u = ringo__aligned_alloc(RINGO__CACHELINE, sizeof(*u));
    if (!u)
        return -ENOMEM;
    memset(u, 0, sizeof(*u));
    int ret = create_ring(&u->ring, rt->ring_entries, rt->ring_flags);
    if (ret < 0) {
        ringo__free(u);
        return ret;
    }
    w->uring = u;
    atomic_store(&w->efd_rearm, 0);
    w->wake_efd = -1;
    if (!rt->send_msg_ring) {
        RINGO_TSAN_HIDE_BEGIN();     /* other threads write it: see sanitizer.h */
        w->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        RINGO_TSAN_HIDE_END();
        if (w->wake_efd < 0) {
            ret = -errno;
            io_uring_queue_exit(&u->ring);
            ringo__free(u);
            w->uring = NULL;
            return ret;
        }
        arm_eventfd(w);
        submit(w);
    }
    /* Published last: wakers use the ring, and the eventfd, once they see it. */
    atomic_store_explicit(&w->ring_fd, u->ring.ring_fd, memory_order_release);
    return 0;
}

void ringo__uring_fini(ringo__worker_t *w)
{
    /* Operations still in flight belong to abandoned fibers: cancel them
     * and reap their completions, so the records they own are freed (their
     * completion callbacks see rt->stopping). Bounded: a stuck op is left. */
    if (w->uring && atomic_load(&w->inflight) > 0) {
        struct io_uring_sqe *sqe = get_sqe(w);
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, UD_IGNORE);
        for (int i = 0; i < 100 && atomic_load(&w->inflight) > 0; i++)
            ringo__uring_wait(w, 10 * RINGO_MILLISECOND);
    }
    /* The monitor may still be looking at this worker: holding cq_lock for
     * good makes its try-lock reaps back off before the CQ is unmapped. */
    ringo__spin_lock(&w->cq_lock);
    ringo__ev_inbox_close(w);
    if (w->uring) {
        io_uring_queue_exit(&w->uring->ring);
        ringo__free(w->uring);
    }
    w->uring = NULL;
    if (w->wake_efd >= 0) {
        RINGO_TSAN_HIDE_BEGIN();
        close(w->wake_efd);
        RINGO_TSAN_HIDE_END();
    }
    w->wake_efd = -1;
}

/* Hands what is queued to the kernel. A refusal for the moment (-EBUSY,
 * -EAGAIN: completions pile up, or memory is short) is met by reaping and
 * flushing the overflow, then trying again; -EINTR is retried. Nothing
 * prepared is dropped. Owner only. */
static void submit(ringo__worker_t *w)
{
    struct ringo__uring *u = w->uring;
    RINGO__STAT_INC(w, submits);
    for (;;) {
        int ret = io_uring_submit(&u->ring);
        if (ret >= 0 || (ret != -EBUSY && ret != -EAGAIN && ret != -EINTR))
            break;
        if (ret != -EINTR) {
            ringo__uring_reap(w);
            ringo__spin_lock(&w->cq_lock);
            io_uring_get_events(&u->ring);
            ringo__spin_unlock(&w->cq_lock);
        }
    }
    u->sq_pending = 0;
}

static struct io_uring_sqe *get_sqe(ringo__worker_t *w)
{
    struct ringo__uring *u = w->uring;
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&u->ring)))
        submit(w);              /* SQ full: push what is queued and try again */
    u->sq_pending++;
    return sqe;
}

/* The largest transfer one SQE asks for (its length is 32 bits); callers
 * that need more loop, as they do for short transfers. */
#define MAX_XFER (1u << 30)

static unsigned xfer_len(size_t len)
{
    return len > MAX_XFER ? MAX_XFER : (unsigned)len;
}

void ringo__uring_submit(ringo__worker_t *w, ringo__ev_op_t *op)
{
    struct ringo__uring *u = w->uring;
    if (RINGO__UNLIKELY(ringo__ev_forked())) {
        op->op.complete(&op->op, -ECHILD, 0);
        return;
    }
    /* The op and its linked timeout go to the kernel together. */
    if (op->deadline && io_uring_sq_space_left(&u->ring) < 2)
        submit(w);
    struct io_uring_sqe *sqe = get_sqe(w);
    struct __kernel_timespec *ts = (struct __kernel_timespec *)op->backend;
    _Static_assert(sizeof(op->backend) >= sizeof(*ts), "a timespec fits the scratch");
    switch (op->opcode) {
    case RINGO__EV_NOP:
        io_uring_prep_nop(sqe);
        break;
    case RINGO__EV_READ:
        io_uring_prep_read(sqe, op->fd, op->buf, xfer_len(op->len), (uint64_t)op->off);
        break;
    case RINGO__EV_WRITE:
        io_uring_prep_write(sqe, op->fd, op->cbuf, xfer_len(op->len), (uint64_t)op->off);
        break;
    case RINGO__EV_RECV:
        io_uring_prep_recv(sqe, op->fd, op->buf, xfer_len(op->len), (int)op->flags);
        break;
    case RINGO__EV_SEND:
        io_uring_prep_send(sqe, op->fd, op->cbuf, xfer_len(op->len), (int)op->flags);
        break;
    case RINGO__EV_ACCEPT:
        io_uring_prep_accept(sqe, op->fd, op->addr, op->addrlen, (int)op->flags);
        break;
    case RINGO__EV_CONNECT:
        io_uring_prep_connect(sqe, op->fd, op->caddr, op->socklen);
        break;
    case RINGO__EV_POLL:
        io_uring_prep_poll_add(sqe, op->fd, op->flags);
        break;
    case RINGO__EV_OPEN:
        io_uring_prep_openat(sqe, AT_FDCWD, op->path, (int)op->flags, op->mode);
        break;
    case RINGO__EV_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    case RINGO__EV_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, (op->flags & RINGO__EV_DATASYNC) ? IORING_FSYNC_DATASYNC : 0);
        break;
    case RINGO__EV_TIMEOUT: {
        int64_t when = ringo__kernel_time(op->deadline);
        ts->tv_sec = when / RINGO_SECOND;
        ts->tv_nsec = when % RINGO_SECOND;
        io_uring_prep_timeout(sqe, ts, 0, IORING_TIMEOUT_ABS);
        break;
    }
    default:
        ringo__throw("ringo__uring_submit: unknown opcode %d", op->opcode);
    }
    io_uring_sqe_set_data(sqe, &op->op);
    atomic_fetch_add(&w->inflight, 1);
    /* In virtual time an op's deadline is the virtual clock's, which stands
     * still while the op is in flight: the kernel is given none. */
    if (op->deadline && op->opcode != RINGO__EV_TIMEOUT &&
        !atomic_load_explicit(&ringo__virtual_now, memory_order_relaxed)) {
        sqe->flags |= IOSQE_IO_LINK;
        ts->tv_sec = op->deadline / RINGO_SECOND;
        ts->tv_nsec = op->deadline % RINGO_SECOND;
        struct io_uring_sqe *lt = get_sqe(w);
        io_uring_prep_link_timeout(lt, ts, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(lt, UD_IGNORE);
    }
}

struct cqe_copy {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

static void wake_failed(ringo__worker_t *target);

/* What the kernel wrote for a completed op, which memcheck cannot see. */
static void tell_valgrind(const ringo__ev_op_t *ev, int32_t res)
{
    switch (ev->opcode) {
    case RINGO__EV_READ:
    case RINGO__EV_RECV:
        RINGO_VALGRIND_DEFINED(ev->buf, (size_t)res);
        break;
    case RINGO__EV_ACCEPT:
        if (ev->addrlen) {
            RINGO_VALGRIND_DEFINED(ev->addrlen, sizeof(*ev->addrlen));
            RINGO_VALGRIND_DEFINED(ev->addr, *ev->addrlen);
        }
        break;
    default:
        break;
    }
}

static void dispatch(ringo__worker_t *w, const struct cqe_copy *c)
{
    if ((c->user_data & UD_WAKE_FAILED) == UD_WAKE_FAILED) {
        wake_failed((ringo__worker_t *)(uintptr_t)(c->user_data & ~UD_WAKE_FAILED));
        return;
    }
    switch (c->user_data) {
    case UD_IGNORE:
        return;
    case UD_WAKE:
        /* The wake-up has landed: the next one must be sent again. */
        atomic_store(&w->wake_pending, 0);
        atomic_fetch_add_explicit(&w->stats.wakes_received, 1, memory_order_relaxed);
        return;
    case UD_EVENTFD: {
        uint64_t v;
        atomic_store(&w->wake_pending, 0);
        RINGO_TSAN_HIDE_BEGIN();      /* a wake-up orders nothing (sanitizer.h) */
        ssize_t got = read(w->wake_efd, &v, sizeof(v));
        RINGO_TSAN_HIDE_END();
        if (got > 0)
            atomic_fetch_add_explicit(&w->stats.wakes_received, 1, memory_order_relaxed);
        if (!(c->flags & IORING_CQE_F_MORE))
            atomic_store(&w->efd_rearm, 1);   /* the owner re-arms: only it submits */
        return;
    }
    default: {
        ringo__op_t *op = (ringo__op_t *)(uintptr_t)c->user_data;
        int32_t res = c->res;
        ringo__ev_op_t *ev = (ringo__ev_op_t *)op;
        if (res == -ETIME && ev->opcode == RINGO__EV_TIMEOUT)
            res = 0;            /* a timeout op that fired did what it was for */
        if (RINGO__UNLIKELY(ringo__rt->on_valgrind) && res > 0)
            tell_valgrind(ev, res);
        /* In this order: see the top of this file. */
        op->complete(op, res, c->flags);
        atomic_fetch_sub(&w->inflight, 1);
        return;
    }
    }
}

unsigned ringo__uring_reap(ringo__worker_t *w)
{
    unsigned total = 0;
    for (;;) {
        struct cqe_copy batch[REAP_BATCH];
        unsigned n = 0, head;
        struct io_uring_cqe *cqe;
        if (!ringo__spin_trylock(&w->cq_lock))
            return total;       /* someone else is reaping it right now */
        struct io_uring *ring = &w->uring->ring;
        io_uring_for_each_cqe(ring, head, cqe) {
            batch[n].user_data = cqe->user_data;
            batch[n].res = cqe->res;
            batch[n].flags = cqe->flags;
            if (++n == REAP_BATCH)
                break;
        }
        io_uring_cq_advance(ring, n);
        ringo__spin_unlock(&w->cq_lock);
        if (!n)
            return total;
        atomic_fetch_add_explicit(&w->stats.completions, n, memory_order_relaxed);
        for (unsigned i = 0; i < n; i++)
            dispatch(w, &batch[i]);
        total += n;
        if (n < REAP_BATCH)
            return total;
    }
}

static void prep_cancel(ringo__worker_t *w, ringo__op_t *op)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void ringo__uring_cancel(ringo__worker_t *w, ringo__op_t *op)
{
    if (RINGO__UNLIKELY(ringo__ev_forked()))
        return;
    if (w == ringo__self()) {
        prep_cancel(w, op);
        return;
    }
    ringo__ev_inbox_post(w, op);
}

static void owner_maintenance(ringo__worker_t *w)
{
    if (w->wake_efd >= 0 && atomic_exchange(&w->efd_rearm, 0))
        arm_eventfd(w);
    if (atomic_load_explicit(&w->inbox_nonempty, memory_order_acquire)) {
        ringo__spin_lock(&w->inbox_lock);
        for (size_t i = 0; i < w->ninbox; i++)
            prep_cancel(w, w->inbox[i]);
        w->ninbox = 0;
        atomic_store(&w->inbox_nonempty, 0);
        ringo__spin_unlock(&w->inbox_lock);
    }
}

void ringo__uring_poll(ringo__worker_t *w)
{
    struct ringo__uring *u = w->uring;
    if (RINGO__UNLIKELY(ringo__ev_forked()))
        return;
    owner_maintenance(w);
    /* Submit what fibers queued, and let the kernel run deferred task work
     * when it says some is waiting (COOP_TASKRUN sets IORING_SQ_TASKRUN)
     * or flush completions that overflowed the CQ. */
    unsigned kflags = IO_URING_READ_ONCE(*u->ring.sq.kflags);
    bool taskrun = (ringo__rt->ring_flags & IORING_SETUP_TASKRUN_FLAG) &&
                   (kflags & IORING_SQ_TASKRUN);
    if (u->sq_pending) {
        submit(w);
    } else if (taskrun || (kflags & IORING_SQ_CQ_OVERFLOW)) {
        RINGO__STAT_INC(w, submits);
        ringo__spin_lock(&w->cq_lock);
        io_uring_get_events(&u->ring);
        ringo__spin_unlock(&w->cq_lock);
    }
    /* Not io_uring_cq_ready(): it reads the CQ head outside cq_lock, which
     * the monitor may be advancing. The reap looks under the lock. */
    ringo__uring_reap(w);
    /* The reap made room: completions the kernel held back come next time
     * (IORING_SQ_CQ_OVERFLOW stays set until they are flushed). */
}

bool ringo__uring_ready(ringo__worker_t *w)
{
    struct ringo__uring *u = w->uring;
    if (!u || ringo__ev_forked())
        return false;
    /* A hint: the CQ head may be moving under the monitor's reap, and a
     * stale answer only costs one poll, or one look later. */
    unsigned kflags = IO_URING_READ_ONCE(*u->ring.sq.kflags);
    return (kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) || u->sq_pending ||
           io_uring_cq_ready(&u->ring) ||
           atomic_load_explicit(&w->inbox_nonempty, memory_order_relaxed);
}

/* ringo__uring_wait for Valgrind: submit without waiting, sleep in poll(2)
 * on the ring fd (readable when CQEs are there; Valgrind lets the other
 * threads run meanwhile), then let the kernel post what it deferred. At most
 * 10 ms a nap, so a wake-up that the poll does not see is late, not lost. */
static void ring_wait_valgrind(ringo__worker_t *w, int64_t timeout_ns)
{
    struct io_uring *ring = &w->uring->ring;
    int ms = 10;
    if (timeout_ns >= 0 && timeout_ns < 10 * RINGO_MILLISECOND)
        ms = (int)((timeout_ns + RINGO_MILLISECOND - 1) / RINGO_MILLISECOND);
    if (w->uring->sq_pending)
        submit(w);
    ringo__spin_lock(&w->cq_lock);
    if (!io_uring_cq_ready(ring)) {
        struct pollfd p = {.fd = ring->ring_fd, .events = POLLIN};
        (void)poll(&p, 1, ms);
    }
    io_uring_get_events(ring);
    ringo__spin_unlock(&w->cq_lock);
    ringo__uring_reap(w);
}

void ringo__uring_wait(ringo__worker_t *w, int64_t timeout_ns)
{
    if (RINGO__UNLIKELY(ringo__ev_forked())) {
        int64_t ns = timeout_ns < 0 || timeout_ns > 10 * RINGO_MILLISECOND
                     ? 10 * RINGO_MILLISECOND : timeout_ns;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
        (void)clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        return;
    }
    owner_maintenance(w);
    if (RINGO__UNLIKELY(ringo__rt->on_valgrind)) {
        ring_wait_valgrind(w, timeout_ns);
        return;
    }
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / RINGO_SECOND;
        ts.tv_nsec = timeout_ns % RINGO_SECOND;
        tsp = &ts;
    }
    struct io_uring_cqe *cqe;
    struct ringo__uring *u = w->uring;
    RINGO__STAT_INC(w, submits);
    /* One io_uring_enter: submits what is queued and waits. -ETIME and
     * -EINTR are ordinary outcomes here (the caller's loop comes back);
     * a refused submission (-EBUSY, -EAGAIN) goes the slow way, which
     * reaps and retries. liburing peeks at the CQ head inside, so hold
     * cq_lock: the monitor only ever try-locks it (and has no reason to
     * rescue a worker that sleeps). The wait also flushes completions
     * that overflowed the CQ. */
    ringo__spin_lock(&w->cq_lock);
    int ret = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
    ringo__spin_unlock(&w->cq_lock);
    if (ret == -EBUSY || ret == -EAGAIN)
        submit(w);
    else
        u->sq_pending = 0;
    ringo__uring_reap(w);
}

/* The ring-less wake-up: MSG_RING without a ring, else the eventfd. */
static void wake_ringless(ringo__runtime_t *rt, ringo__worker_t *target, int target_fd)
{
    if (rt->send_msg_ring) {
        if (send_msg_ring_registered(target_fd, UD_WAKE) >= 0)
            return;
    }
    uint64_t one = 1;
    ssize_t put = -1;
    if (target->wake_efd >= 0) {
        RINGO_TSAN_HIDE_BEGIN();
        put = write(target->wake_efd, &one, sizeof(one));
        RINGO_TSAN_HIDE_END();
    }
    if (put != sizeof(one))
        atomic_store(&target->wake_pending, 0);   /* nothing is on its way */
}

/* A MSG_RING this worker sent to target failed (its CQE came back here):
 * the target was not woken. Try once more without the ring; if that fails
 * too, wake_pending is cleared so that the next waker tries again. */
static void wake_failed(ringo__worker_t *target)
{
    int target_fd = atomic_load_explicit(&target->ring_fd, memory_order_acquire);
    if (target_fd < 0) {
        atomic_store(&target->wake_pending, 0);
        return;
    }
    wake_ringless(ringo__rt, target, target_fd);
}

void ringo__uring_wake(ringo__worker_t *target)
{
    ringo__runtime_t *rt = ringo__rt;
    if (RINGO__UNLIKELY(ringo__ev_forked())) {
        atomic_store(&target->wake_pending, 0);
        return;
    }
    int target_fd = atomic_load_explicit(&target->ring_fd, memory_order_acquire);
    if (target_fd < 0) {
        /* No ring (shutting down, or a spare slot whose thread is starting). */
        atomic_store(&target->wake_pending, 0);
        return;
    }
    ringo__worker_t *self = ringo__self();
    if (self) {
        if (self == target) {
            atomic_store(&target->wake_pending, 0);   /* awake by definition */
            return;
        }
        struct io_uring_sqe *sqe = get_sqe(self);
        io_uring_prep_msg_ring(sqe, target_fd, 0, UD_WAKE, 0);
        /* Success posts nothing here; a failure posts a CQE that names the
         * target, so the wake-up is not lost (wake_failed). */
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)target | UD_WAKE_FAILED);
        RINGO__STAT_INC(self, submits);
        RINGO__STAT_INC(self, wakes_sent);
        /* Sent now, not at the next poll; wakers may hold a lock, so no
         * reaping here: if the kernel refuses for the moment, the SQE stays
         * queued (sq_pending) and goes with the next submission. */
        if (io_uring_submit(&self->uring->ring) >= 0)
            self->uring->sq_pending = 0;
        return;
    }
    wake_ringless(rt, target, target_fd);
}

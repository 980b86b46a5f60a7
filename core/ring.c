/* core/ring.c - the per-worker io_uring: creation, waiting, reaping, wake-ups.
 *
 * This file is the io_uring backend behind the small contract in internal.h
 * (ringo__ring_*): probe, init/fini on the worker's thread, wait with a
 * timeout, poll, reap from any thread, wake from any thread, get an SQE. An
 * epoll backend can implement the same contract.
 *
 * Rings are created with SINGLE_ISSUER | COOP_TASKRUN | TASKRUN_FLAG |
 * SUBMIT_ALL and a CQ four times the SQ; on EINVAL (older kernels) flags are
 * dropped one at a time. Not DEFER_TASKRUN: with it no completion becomes
 * visible while a fiber hogs the worker, and the monitor could not rescue
 * anybody waiting on it.
 *
 * Who touches what:
 *   SQ: the owning worker only (SINGLE_ISSUER). Everything that needs an SQE
 *       on another worker's ring goes through that worker's cancel inbox.
 *   CQ: whoever holds w->cq_lock: the owner, or the monitor rescuing a
 *       hogged worker. CQEs are copied out under the lock and dispatched
 *       after it is released, so a completion may ready fibers freely.
 *
 * Wake-ups (ringo__ring_wake): a worker sends IORING_OP_MSG_RING from its own
 * ring to the target's (the target sees a CQE with user_data RINGO__UD_WAKE).
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
 * stall the process; ringo__ring_wait then sleeps in poll(2) instead.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REAP_BATCH 64

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

static void explain_unavailable(int err)
{
    const char *why;
    switch (err) {
    case -ENOSYS:
        why = "the kernel has no io_uring (CONFIG_IO_URING is off, or it predates Linux 5.1); "
              "ringo needs a kernel with io_uring";
        break;
    case -EPERM:
        why = "io_uring_setup is forbidden: a seccomp filter (Docker's default profile) or "
              "sysctl kernel.io_uring_disabled blocks it; allow io_uring (docker run "
              "--security-opt seccomp=unconfined, or sysctl -w kernel.io_uring_disabled=0)";
        break;
    case -ENOMEM:
        why = "not enough locked memory for the ring; raise RLIMIT_MEMLOCK (ulimit -l)";
        break;
    case -EMFILE:
    case -ENFILE:
        why = "out of file descriptors";
        break;
    default:
        why = "the kernel refused to create a ring";
        break;
    }
    fprintf(stderr, "ringo: io_uring is unavailable (io_uring_setup: %s): %s\n",
            strerror(-err), why);
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

int ringo__ring_probe(ringo__runtime_t *rt)
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
        explain_unavailable(ret);
        return ret;
    }
    rt->ring_flags = flags;

    /* Can threads without a ring post into one? (Linux 6.13) */
    const char *wake = getenv("RINGO_WAKE");
    rt->send_msg_ring = !(wake && strcmp(wake, "eventfd") == 0) &&
                        send_msg_ring_registered(ring.ring_fd, RINGO__UD_WAKE) >= 0;
    io_uring_queue_exit(&ring);
    return 0;
}

/* The CQE of a failed MSG_RING wake-up carries the target, tagged in its
 * low bits (workers are cache-line aligned; op records are pointer
 * aligned, so an op's user_data never has both low bits set). */
#define UD_WAKE_FAILED 3ull
_Static_assert(_Alignof(ringo__op_t) >= 4 && _Alignof(ringo__worker_t) >= 4,
               "user_data tags need two free low bits");

static void arm_eventfd(ringo__worker_t *w)
{
    struct io_uring_sqe *sqe = ringo__ring_sqe(w);
    io_uring_prep_poll_multishot(sqe, w->wake_efd, POLLIN);
    io_uring_sqe_set_data64(sqe, RINGO__UD_EVENTFD);
}

int ringo__ring_init(ringo__worker_t *w)
{
    ringo__runtime_t *rt = ringo__rt;
    int ret = create_ring(&w->ring, rt->ring_entries, rt->ring_flags);
    if (ret < 0)
        return ret;
    w->ring_ready = true;
    w->sq_pending = 0;
    atomic_store(&w->efd_rearm, 0);
    w->wake_efd = -1;
    if (!rt->send_msg_ring) {
        RINGO_TSAN_HIDE_BEGIN();     /* other threads write it: see sanitizer.h */
        w->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        RINGO_TSAN_HIDE_END();
        if (w->wake_efd < 0) {
            ret = -errno;
            io_uring_queue_exit(&w->ring);
            w->ring_ready = false;
            return ret;
        }
        arm_eventfd(w);
        io_uring_submit(&w->ring);
        w->sq_pending = 0;
    }
    /* Published last: wakers use the ring, and the eventfd, once they see it. */
    atomic_store_explicit(&w->ring_fd, w->ring.ring_fd, memory_order_release);
    return 0;
}

void ringo__ring_fini(ringo__worker_t *w)
{
    /* Operations still in flight belong to abandoned fibers: cancel them
     * and reap their completions, so the records they own are freed (their
     * completion callbacks see rt->stopping). Bounded: a stuck op is left. */
    if (w->ring_ready && atomic_load(&w->inflight) > 0) {
        struct io_uring_sqe *sqe = ringo__ring_sqe(w);
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, RINGO__UD_IGNORE);
        for (int i = 0; i < 100 && atomic_load(&w->inflight) > 0; i++)
            ringo__ring_wait(w, 10 * RINGO_MILLISECOND);
    }
    /* The monitor may still be looking at this worker: holding cq_lock for
     * good makes its try-lock reaps back off before the CQ is unmapped. */
    ringo__spin_lock(&w->cq_lock);
    /* Under inbox_lock, so a cancel posted from now on is dropped instead
     * of landing in a freed inbox (other workers' fibers may still post
     * while this one shuts down). */
    ringo__spin_lock(&w->inbox_lock);
    atomic_store_explicit(&w->ring_fd, -1, memory_order_relaxed);
    ringo__free(w->inbox);
    w->inbox = NULL;
    w->ninbox = w->inbox_cap = 0;
    atomic_store(&w->inbox_nonempty, 0);
    ringo__spin_unlock(&w->inbox_lock);
    if (w->ring_ready)
        io_uring_queue_exit(&w->ring);
    w->ring_ready = false;
    if (w->wake_efd >= 0) {
        RINGO_TSAN_HIDE_BEGIN();
        close(w->wake_efd);
        RINGO_TSAN_HIDE_END();
    }
    w->wake_efd = -1;
}

struct io_uring_sqe *ringo__ring_sqe(ringo__worker_t *w)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&w->ring))) {
        /* SQ full: push what is queued to the kernel and try again. */
        RINGO__STAT_INC(w, submits);
        io_uring_submit(&w->ring);
        w->sq_pending = 0;
    }
    w->sq_pending++;
    return sqe;
}

struct cqe_copy {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

static void wake_failed(ringo__worker_t *target);

static void dispatch(ringo__worker_t *w, const struct cqe_copy *c)
{
    if ((c->user_data & UD_WAKE_FAILED) == UD_WAKE_FAILED) {
        wake_failed((ringo__worker_t *)(uintptr_t)(c->user_data & ~UD_WAKE_FAILED));
        return;
    }
    switch (c->user_data) {
    case RINGO__UD_IGNORE:
        return;
    case RINGO__UD_WAKE:
        /* The wake-up has landed: the next one must be sent again. */
        atomic_store(&w->wake_pending, 0);
        atomic_fetch_add_explicit(&w->stats.wakes_received, 1, memory_order_relaxed);
        return;
    case RINGO__UD_EVENTFD: {
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
        /* In this order: see the top of this file. */
        op->complete(op, c->res, c->flags);
        atomic_fetch_sub(&w->inflight, 1);
        return;
    }
    }
}

unsigned ringo__ring_reap(ringo__worker_t *w)
{
    unsigned total = 0;
    for (;;) {
        struct cqe_copy batch[REAP_BATCH];
        unsigned n = 0, head;
        struct io_uring_cqe *cqe;
        if (!ringo__spin_trylock(&w->cq_lock))
            return total;       /* someone else is reaping it right now */
        io_uring_for_each_cqe(&w->ring, head, cqe) {
            batch[n].user_data = cqe->user_data;
            batch[n].res = cqe->res;
            batch[n].flags = cqe->flags;
            if (++n == REAP_BATCH)
                break;
        }
        io_uring_cq_advance(&w->ring, n);
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

void ringo__ring_op_started(ringo__worker_t *w)
{
    atomic_fetch_add(&w->inflight, 1);
}

static void prep_cancel(ringo__worker_t *w, uint64_t user_data)
{
    struct io_uring_sqe *sqe = ringo__ring_sqe(w);
    io_uring_prep_cancel64(sqe, user_data, 0);
    io_uring_sqe_set_data64(sqe, RINGO__UD_IGNORE);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void ringo__ring_cancel(ringo__worker_t *w, uint64_t user_data)
{
    if (w == ringo__self()) {
        prep_cancel(w, user_data);
        return;
    }
    ringo__spin_lock(&w->inbox_lock);
    if (atomic_load_explicit(&w->ring_fd, memory_order_relaxed) < 0) {
        /* Its ring is gone (shutdown): nothing is in flight to cancel. */
        ringo__spin_unlock(&w->inbox_lock);
        return;
    }
    if (w->ninbox == w->inbox_cap) {
        size_t cap = w->inbox_cap ? w->inbox_cap * 2 : 64;
        uint64_t *n = ringo__realloc(w->inbox, cap * sizeof(*n));
        if (!n) {
            ringo__spin_unlock(&w->inbox_lock);
            ringo__throw("out of memory queueing a cancel request");
        }
        w->inbox = n;
        w->inbox_cap = cap;
    }
    w->inbox[w->ninbox++] = user_data;
    atomic_store(&w->inbox_nonempty, 1);
    ringo__spin_unlock(&w->inbox_lock);
    if (!atomic_exchange(&w->wake_pending, 1))
        ringo__ring_wake(w);
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

void ringo__ring_poll(ringo__worker_t *w)
{
    owner_maintenance(w);
    /* Submit what fibers queued, and let the kernel run deferred task work
     * when it says some is waiting (COOP_TASKRUN sets IORING_SQ_TASKRUN). */
    bool taskrun = (ringo__rt->ring_flags & IORING_SETUP_TASKRUN_FLAG) &&
                   (IO_URING_READ_ONCE(*w->ring.sq.kflags) & IORING_SQ_TASKRUN);
    if (w->sq_pending || io_uring_cq_has_overflow(&w->ring)) {
        RINGO__STAT_INC(w, submits);
        io_uring_submit(&w->ring);
        w->sq_pending = 0;
    } else if (taskrun) {
        RINGO__STAT_INC(w, submits);
        io_uring_get_events(&w->ring);
    }
    /* Not io_uring_cq_ready(): it reads the CQ head outside cq_lock, which
     * the monitor may be advancing. The reap looks under the lock. */
    ringo__ring_reap(w);
}

/* ringo__ring_wait for Valgrind: submit without waiting, sleep in poll(2)
 * on the ring fd (readable when CQEs are there; Valgrind lets the other
 * threads run meanwhile), then let the kernel post what it deferred. At most
 * 10 ms a nap, so a wake-up that the poll does not see is late, not lost. */
static void ring_wait_valgrind(ringo__worker_t *w, int64_t timeout_ns)
{
    int ms = 10;
    if (timeout_ns >= 0 && timeout_ns < 10 * RINGO_MILLISECOND)
        ms = (int)((timeout_ns + RINGO_MILLISECOND - 1) / RINGO_MILLISECOND);
    RINGO__STAT_INC(w, submits);
    w->sq_pending = 0;
    ringo__spin_lock(&w->cq_lock);
    io_uring_submit(&w->ring);
    if (!io_uring_cq_ready(&w->ring)) {
        struct pollfd p = {.fd = w->ring.ring_fd, .events = POLLIN};
        (void)poll(&p, 1, ms);
    }
    io_uring_get_events(&w->ring);
    ringo__spin_unlock(&w->cq_lock);
    ringo__ring_reap(w);
}

void ringo__ring_wait(ringo__worker_t *w, int64_t timeout_ns)
{
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
    RINGO__STAT_INC(w, submits);
    w->sq_pending = 0;
    /* One io_uring_enter: submits what is queued and waits. -ETIME and
     * -EINTR are ordinary outcomes here. liburing peeks at the CQ head
     * inside, so hold cq_lock: the monitor only ever try-locks it (and has
     * no reason to rescue a worker that sleeps). */
    ringo__spin_lock(&w->cq_lock);
    (void)io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, tsp, NULL);
    ringo__spin_unlock(&w->cq_lock);
    ringo__ring_reap(w);
}

/* The ring-less wake-up: MSG_RING without a ring, else the eventfd. */
static void wake_ringless(ringo__runtime_t *rt, ringo__worker_t *target, int target_fd)
{
    if (rt->send_msg_ring) {
        if (send_msg_ring_registered(target_fd, RINGO__UD_WAKE) >= 0)
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

void ringo__ring_wake(ringo__worker_t *target)
{
    ringo__runtime_t *rt = ringo__rt;
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
        struct io_uring_sqe *sqe = ringo__ring_sqe(self);
        io_uring_prep_msg_ring(sqe, target_fd, 0, RINGO__UD_WAKE, 0);
        /* Success posts nothing here; a failure posts a CQE that names the
         * target, so the wake-up is not lost (wake_failed). */
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)target | UD_WAKE_FAILED);
        RINGO__STAT_INC(self, submits);
        RINGO__STAT_INC(self, wakes_sent);
        io_uring_submit(&self->ring);
        self->sq_pending = 0;
        return;
    }
    wake_ringless(rt, target, target_fd);
}

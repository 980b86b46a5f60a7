/* core/epoll.c - the epoll event source: the contract in event.h for where
 * io_uring is refused. One epoll instance per worker, an eventfd in it for
 * wake-ups, and a few threads of the runtime's own for files.
 *
 * Operations. ringo__epoll_submit only queues the op on the worker's
 * pending list (owner only, no lock); the owner's next poll or wait starts
 * it, as io_uring sends its SQEs then. Starting runs the syscall for the op
 * without blocking: recv/send with MSG_DONTWAIT; read/write with
 * RWF_NOWAIT (pipes, sockets and cached file pages answer at once); accept
 * and connect on a blocking socket with O_NONBLOCK set around the one call
 * and the file's flags put back at once (under flags_lock, so two workers
 * never interleave their set and restore); poll with poll(2) of timeout 0.
 * The user's fd flags are never left changed. What would block waits for
 * readiness: the fd is registered in the worker's epoll once,
 * edge-triggered for in, out and peer hang-up (EPOLLET; the add is
 * repeated at each wait, and EEXIST is the usual answer: it costs one
 * syscall and no state that a plain close(2) and a reused number could
 * leave stale), the op goes on the worker's list for that fd, and each
 * event for the fd retries the ops waiting on it. Edge-triggering never
 * loses a wake-up here: an op waits only after its syscall said EAGAIN,
 * and readiness after that moment is a new edge.
 * Files never report readiness: epoll_ctl refuses them (EPERM), and read,
 * write, open and fsync on them (and on fds that neither take RWF_NOWAIT
 * nor are non-blocking) run on the file threads (the pool below), blocking,
 * as io_uring's own workers run them. Those threads start on demand (at
 * most POOL_MAX), sleep when idle, and end at the run's end, which waits
 * for the call each is in: a call that never returns (an open of a FIFO
 * nobody opens) holds ringo_run up, where io_uring would interrupt it.
 *
 * Completions. A finished op gets its result and goes on the worker's done
 * list (done_lock); whoever reaps (the owner at each poll and wait, the
 * monitor for a hogged worker) dispatches it outside every lock: first its
 * deadline timer is stopped, waiting out a fire under way, then
 * complete(), then inflight drops (in that order, as ring.c says why).
 *
 * Deadlines and cancels. An op that waits (for readiness or a file thread)
 * arms a core timer at its deadline (timer.c), whose fire cancels it. A
 * cancel finishes with -ECANCELED an op that has not yet run its syscall
 * for good: pending, waiting for readiness, queued for a file thread; one
 * that a file thread is running finishes with its result. Each op's state
 * word says where it is; the lock of that place (owner only for pending,
 * cq_lock for the fd lists, pool.lock for the file queue) guards each move
 * out of it. Cancels from other threads go through the worker's inbox
 * (event.c), which the owner drains at its next poll or wait.
 *
 * Locks: w->cq_lock (the fd lists; held while events are handled and ops
 * started, so the monitor's reap and the owner never handle the same fd at
 * once) > w->epoll->done_lock; pool.lock > done_lock; flags_lock is a leaf.
 * The syscalls that move user data run hidden from ThreadSanitizer, as the
 * kernel's own writes are under io_uring (sanitizer.h).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define EVENT_BATCH 64
#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define POOL_MAX 32
#define WAKE_TAG UINT64_MAX
#define MAX_XFER (1u << 30)

enum op_state { ST_PENDING, ST_WAITING, ST_POOL_QUEUED, ST_POOL_RUNNING, ST_TIMER, ST_DONE };
enum op_how { HOW_NOWAIT, HOW_PLAIN, HOW_POOL };

/* What the backend keeps in an op's scratch. */
struct ep_op {
    ringo__ev_op_t *next;       /* on the pending, fd, pool or done list */
    ringo__worker_t *w;         /* the submitting worker */
    _Atomic int state;          /* enum op_state */
    uint8_t how;                /* read/write: enum op_how */
    bool cancel_asked;          /* cancelled while pending (owner only) */
    bool timer_armed;
    bool connecting;            /* connect: in progress, wait for its outcome */
    uint32_t events;            /* EPOLLIN or EPOLLOUT it waits for */
    int32_t res;
    ringo__timer_t timer;
};
#define EP(op) ((struct ep_op *)(void *)(op)->backend)
_Static_assert(sizeof(struct ep_op) <= sizeof(((ringo__ev_op_t *)0)->backend),
               "the epoll backend's op state fits the scratch");

/* A worker's epoll, allocated by ringo__epoll_init. */
struct ringo__epoll {
    int epfd;
    ringo__ev_op_t *pend_head, *pend_tail;      /* owner only */
    ringo__ev_op_t ***dir;                      /* cq_lock: fd -> ops waiting on it */
    size_t ndir;
    size_t nwaiting;                            /* cq_lock: ops on the fd lists */
    ringo__spinlock_t done_lock;
    ringo__ev_op_t *done_head, *done_tail;      /* done_lock */
    _Atomic int done_nonempty;
} RINGO__ALIGNED;

/* The calls that act for an op go straight to the kernel (syscall(2)), as
 * io_uring's do: sanitizer interceptors would otherwise take the fds they
 * make and the buffers they fill for the worker thread's own accesses,
 * where under io_uring only the kernel touches them. -1 and errno, as libc. */
static long k_read(int fd, void *buf, size_t len, int64_t off)
{
    return off < 0 ? syscall(SYS_read, fd, buf, len) : syscall(SYS_pread64, fd, buf, len, (long)off);
}

static long k_write(int fd, const void *buf, size_t len, int64_t off)
{
    return off < 0 ? syscall(SYS_write, fd, buf, len) : syscall(SYS_pwrite64, fd, buf, len, (long)off);
}

/* preadv2/pwritev2 of one buffer; off -1: the file position. */
static long k_rw2(long nr, int fd, void *buf, size_t len, int64_t off, int flags)
{
    struct iovec v = {.iov_base = buf, .iov_len = len};
    return syscall(nr, fd, &v, 1, (long)off, 0L, flags);
}

static int k_poll0(int fd, short events, short *revents)
{
    struct pollfd p = {.fd = fd, .events = events};
    struct timespec zero = {0, 0};
    int r = (int)syscall(SYS_ppoll, &p, 1, &zero, NULL, 0);
    *revents = p.revents;
    return r;
}

static int k_fcntl(int fd, int cmd, long arg)
{
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static pthread_mutex_t flags_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool no_pwait2;

/* ---- the file threads ------------------------------------------------------------ */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ringo__ev_op_t *head, *tail;
    unsigned nthreads, nidle;
    bool stopping;
    pthread_t threads[POOL_MAX];
    _Atomic int tids[POOL_MAX];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void finish(ringo__ev_op_t *op, int32_t res);

static ssize_t blocking_call(ringo__ev_op_t *op)
{
    ssize_t r;
    size_t len = op->len > MAX_XFER ? MAX_XFER : op->len;
    RINGO_TSAN_HIDE_BEGIN();
    switch (op->opcode) {
    case RINGO__EV_READ:
        r = k_read(op->fd, op->buf, len, op->off);
        break;
    case RINGO__EV_WRITE:
        r = k_write(op->fd, op->cbuf, len, op->off);
        break;
    case RINGO__EV_OPEN:
        r = syscall(SYS_openat, AT_FDCWD, op->path, (int)op->flags, (mode_t)op->mode);
        break;
    case RINGO__EV_FSYNC:
        r = syscall((op->flags & RINGO__EV_DATASYNC) ? SYS_fdatasync : SYS_fsync, op->fd);
        break;
    default:
        r = -1;
        errno = EINVAL;
        break;
    }
    if (r < 0)
        r = -errno;
    RINGO_TSAN_HIDE_END();
    return r;
}

static void *pool_thread(void *arg)
{
    unsigned slot = (unsigned)(uintptr_t)arg;
    atomic_store(&pool.tids[slot], (int)syscall(SYS_gettid));
    ringo__pthread_lock(&pool.lock);
    for (;;) {
        while (!pool.head && !pool.stopping) {
            pool.nidle++;
            RINGO_TSAN_HIDE_BEGIN();
            pthread_cond_wait(&pool.cond, &pool.lock);
            RINGO_TSAN_HIDE_END();
            pool.nidle--;
        }
        ringo__ev_op_t *op = pool.head;
        if (!op)
            break;
        pool.head = EP(op)->next;
        if (!pool.head)
            pool.tail = NULL;
        atomic_store(&EP(op)->state, ST_POOL_RUNNING);
        ringo__pthread_unlock(&pool.lock);
        ssize_t r;
        do
            r = blocking_call(op);
        while (r == -EINTR);
        finish(op, (int32_t)r);
        ringo__pthread_lock(&pool.lock);
    }
    ringo__pthread_unlock(&pool.lock);
    return NULL;
}

/* Hands op to a file thread, starting one if none is idle. */
static void to_pool(ringo__ev_op_t *op)
{
    struct ep_op *ep = EP(op);
    ep->next = NULL;
    ringo__pthread_lock(&pool.lock);
    atomic_store(&ep->state, ST_POOL_QUEUED);
    if (pool.tail)
        EP(pool.tail)->next = op;
    else
        pool.head = op;
    pool.tail = op;
    if (!pool.nidle && pool.nthreads < POOL_MAX &&
        pthread_create(&pool.threads[pool.nthreads], NULL, pool_thread,
                       (void *)(uintptr_t)pool.nthreads) == 0)
        pool.nthreads++;
    else
        pthread_cond_signal(&pool.cond);
    ringo__pthread_unlock(&pool.lock);
}

void ringo__epoll_run_end(ringo__runtime_t *rt)
{
    /* The workers' state outlives their fini, for a monitor that was
     * looking at one as it stopped; every thread is gone now. */
    for (unsigned i = 0; i < rt->nworkers; i++) {
        ringo__free(rt->workers[i].epoll);
        rt->workers[i].epoll = NULL;
    }
    ringo__pthread_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.cond);
    unsigned n = pool.nthreads;
    ringo__pthread_unlock(&pool.lock);
    for (unsigned i = 0; i < n; i++) {
        pthread_join(pool.threads[i], NULL);
        atomic_store(&pool.tids[i], 0);
    }
    ringo__pthread_lock(&pool.lock);
    pool.nthreads = 0;
    pool.stopping = false;
    pool.head = pool.tail = NULL;
    ringo__pthread_unlock(&pool.lock);
}

bool ringo__epoll_own_thread(int tid)
{
    for (unsigned i = 0; i < POOL_MAX; i++)
        if (atomic_load_explicit(&pool.tids[i], memory_order_relaxed) == tid)
            return true;
    return false;
}

/* ---- completions ------------------------------------------------------------------- */

static void wake_owner(ringo__worker_t *w)
{
    if (!atomic_exchange(&w->wake_pending, 1))
        ringo__epoll_wake(w);
}

/* op is done with res: onto its worker's done list; the owner is woken if
 * this is another thread. */
static void finish(ringo__ev_op_t *op, int32_t res)
{
    struct ep_op *ep = EP(op);
    ringo__worker_t *w = ep->w;
    struct ringo__epoll *e = w->epoll;
    ep->res = res;
    ep->next = NULL;
    atomic_store(&ep->state, ST_DONE);
    ringo__spin_lock(&e->done_lock);
    if (e->done_tail)
        EP(e->done_tail)->next = op;
    else
        e->done_head = op;
    e->done_tail = op;
    atomic_store_explicit(&e->done_nonempty, 1, memory_order_release);
    ringo__spin_unlock(&e->done_lock);
    if (ringo__self() != w)
        wake_owner(w);
}

static unsigned dispatch_done(ringo__worker_t *w)
{
    struct ringo__epoll *e = w->epoll;
    if (!atomic_load_explicit(&e->done_nonempty, memory_order_acquire))
        return 0;
    ringo__spin_lock(&e->done_lock);
    ringo__ev_op_t *op = e->done_head;
    e->done_head = e->done_tail = NULL;
    atomic_store_explicit(&e->done_nonempty, 0, memory_order_relaxed);
    ringo__spin_unlock(&e->done_lock);
    unsigned n = 0;
    while (op) {
        struct ep_op *ep = EP(op);
        ringo__ev_op_t *next = ep->next;
        if (ep->timer_armed)
            ringo__timer_del_sync(&ep->timer);      /* a fire under way ends first */
        op->op.complete(&op->op, ep->res, 0);
        atomic_fetch_sub(&w->inflight, 1);
        op = next;
        n++;
    }
    if (n)
        atomic_fetch_add_explicit(&w->stats.completions, n, memory_order_relaxed);
    return n;
}

/* ---- the fd lists ------------------------------------------------------------------ */

static ringo__ev_op_t **fd_slot(struct ringo__epoll *e, int fd, bool create)
{
    size_t c = (size_t)fd >> CHUNK_SHIFT;
    if (c >= e->ndir) {
        if (!create)
            return NULL;
        size_t n = e->ndir ? e->ndir : 16;
        while (n <= c)
            n *= 2;
        ringo__ev_op_t ***d = ringo__realloc(e->dir, n * sizeof(*d));
        if (!d)
            return NULL;
        memset(d + e->ndir, 0, (n - e->ndir) * sizeof(*d));
        e->dir = d;
        e->ndir = n;
    }
    if (!e->dir[c]) {
        if (!create)
            return NULL;
        e->dir[c] = ringo__calloc(CHUNK_SIZE, sizeof(ringo__ev_op_t *));
        if (!e->dir[c])
            return NULL;
    }
    return &e->dir[c][(unsigned)fd & (CHUNK_SIZE - 1)];
}

/* Registers fd in w's epoll unless it is there: 0, or -errno (EPERM: the
 * file cannot report readiness). */
static int watch(struct ringo__epoll *e, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(unsigned)fd};
    RINGO_TSAN_HIDE_BEGIN();
    int r = epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST ? 0 : -errno;
    RINGO_TSAN_HIDE_END();
    return r;
}

static void deadline_fire(ringo__timer_t *t);
static void timeout_fire(ringo__timer_t *t);

static void arm_timer(ringo__ev_op_t *op, void (*fire)(ringo__timer_t *))
{
    struct ep_op *ep = EP(op);
    memset(&ep->timer, 0, sizeof(ep->timer));
    ep->timer.heap_index = -1;
    ep->timer.when = op->deadline;
    ep->timer.fire = fire;
    ep->timer.arg = op;
    ep->timer.sync = true;
    ep->timer_armed = true;
    ringo__timer_add(ep->w, &ep->timer);
}

/* ---- the syscalls ------------------------------------------------------------------- */

/* Runs a blocking syscall on fd with O_NONBLOCK set for just that call,
 * the file's flags restored at once. */
static int with_nonblock(int fd, int (*call)(ringo__ev_op_t *), ringo__ev_op_t *op)
{
    int fl = k_fcntl(fd, F_GETFL, 0);
    if (fl < 0)
        return -errno;
    if (fl & O_NONBLOCK)
        return call(op);
    ringo__pthread_lock(&flags_lock);
    if (k_fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = -errno;
        ringo__pthread_unlock(&flags_lock);
        return err;
    }
    int r = call(op);
    (void)k_fcntl(fd, F_SETFL, fl);
    ringo__pthread_unlock(&flags_lock);
    return r;
}

static int do_accept(ringo__ev_op_t *op)
{
    int r = (int)syscall(SYS_accept4, op->fd, op->addr, op->addrlen, (int)op->flags);
    return r < 0 ? -errno : r;
}

static int do_connect(ringo__ev_op_t *op)
{
    int r = (int)syscall(SYS_connect, op->fd, op->caddr, op->socklen);
    return r < 0 ? -errno : r;
}

/* The outcome of a connect in progress: -EAGAIN while it goes on. */
static int connect_outcome(int fd)
{
    short revents;
    if (k_poll0(fd, POLLOUT, &revents) == 0)
        return -EAGAIN;
    int err = 0;
    socklen_t len = sizeof(err);
    if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

/* One try of op's syscall, never blocking: its result, or -EAGAIN. */
static ssize_t attempt(ringo__ev_op_t *op)
{
    struct ep_op *ep = EP(op);
    size_t len = op->len > MAX_XFER ? MAX_XFER : op->len;
    ssize_t r;
    RINGO_TSAN_HIDE_BEGIN();
    switch (op->opcode) {
    case RINGO__EV_READ:
    case RINGO__EV_WRITE: {
        bool rd = op->opcode == RINGO__EV_READ;
        if (ep->how == HOW_NOWAIT) {
            r = k_rw2(rd ? SYS_preadv2 : SYS_pwritev2, op->fd, (void *)op->cbuf, len, op->off,
                      RWF_NOWAIT);
            if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
                /* No RWF_NOWAIT here: the plain call if the fd does not
                 * block, else readiness and then a file thread. */
                int fl = k_fcntl(op->fd, F_GETFL, 0);
                ep->how = fl >= 0 && (fl & O_NONBLOCK) ? HOW_PLAIN : HOW_POOL;
                if (ep->how == HOW_POOL) {
                    short revents;
                    r = k_poll0(op->fd, rd ? POLLIN : POLLOUT, &revents) > 0 ? 1 : 0;
                    RINGO_TSAN_HIDE_END();
                    return r ? -EINPROGRESS : -EAGAIN;   /* ready now: straight to a thread */
                }
            }
            if (ep->how == HOW_NOWAIT)
                break;
        } else if (ep->how == HOW_POOL) {
            RINGO_TSAN_HIDE_END();
            return -EINPROGRESS;
        }
        if (rd)
            r = k_read(op->fd, op->buf, len, op->off);
        else
            r = k_write(op->fd, op->cbuf, len, op->off);
        break;
    }
    case RINGO__EV_RECV:
        r = syscall(SYS_recvfrom, op->fd, op->buf, len, (int)op->flags | MSG_DONTWAIT, NULL, NULL);
        break;
    case RINGO__EV_SEND:
        r = syscall(SYS_sendto, op->fd, op->cbuf, len, (int)op->flags | MSG_DONTWAIT, NULL, 0);
        break;
    case RINGO__EV_ACCEPT:
        r = with_nonblock(op->fd, do_accept, op);
        RINGO_TSAN_HIDE_END();
        return r;
    case RINGO__EV_CONNECT:
        if (ep->connecting) {
            r = connect_outcome(op->fd);
        } else {
            r = with_nonblock(op->fd, do_connect, op);
            if (r == -EINPROGRESS || r == -EALREADY) {
                ep->connecting = true;
                r = -EAGAIN;
            }
        }
        RINGO_TSAN_HIDE_END();
        return r;
    case RINGO__EV_POLL: {
        short revents = 0;
        r = k_poll0(op->fd, (short)op->flags, &revents);
        RINGO_TSAN_HIDE_END();
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EAGAIN;
        return (revents & POLLNVAL) ? -EBADF : revents;
    }
    default:
        r = -1;
        errno = EINVAL;
        break;
    }
    RINGO_TSAN_HIDE_END();
    return r < 0 ? -errno : r;
}

/* The readiness op waits for. */
static uint32_t wanted_events(const ringo__ev_op_t *op)
{
    switch (op->opcode) {
    case RINGO__EV_READ:
    case RINGO__EV_RECV:
    case RINGO__EV_ACCEPT:
        return EPOLLIN | EPOLLRDHUP;
    case RINGO__EV_POLL: {
        uint32_t ev = 0;
        if (op->flags & (POLLIN | POLLPRI | POLLRDHUP))
            ev |= EPOLLIN | EPOLLRDHUP;
        if (op->flags & POLLOUT)
            ev |= EPOLLOUT;
        return ev ? ev : EPOLLIN | EPOLLOUT;
    }
    default:
        return EPOLLOUT;
    }
}

/* Takes op a step further: starts it (first) or retries it after an event
 * for its fd. It ends finished, on an fd list, with a file thread, or (a
 * TIMEOUT) on the timer heap. Called with cq_lock held. */
static void advance(ringo__worker_t *w, ringo__ev_op_t *op, bool first)
{
    struct ep_op *ep = EP(op);
    struct ringo__epoll *e = w->epoll;
    ssize_t r;
    switch (op->opcode) {
    case RINGO__EV_NOP:
        finish(op, 0);
        return;
    case RINGO__EV_TIMEOUT:
        atomic_store(&ep->state, ST_TIMER);
        arm_timer(op, timeout_fire);
        return;
    case RINGO__EV_OPEN:
    case RINGO__EV_FSYNC:
        if (op->deadline)
            arm_timer(op, deadline_fire);
        to_pool(op);
        return;
    case RINGO__EV_CLOSE:
        RINGO_TSAN_HIDE_BEGIN();
        r = syscall(SYS_close, op->fd);
        r = r < 0 && errno != EINTR ? -errno : 0;
        RINGO_TSAN_HIDE_END();
        finish(op, (int32_t)r);
        return;
    case RINGO__EV_READ:
    case RINGO__EV_WRITE:
    case RINGO__EV_RECV:
    case RINGO__EV_SEND:
    case RINGO__EV_ACCEPT:
    case RINGO__EV_CONNECT:
    case RINGO__EV_POLL:
        break;
    default:
        finish(op, -EINVAL);
        return;
    }
    do
        r = attempt(op);
    while (r == -EINTR);
    if (r == -EINPROGRESS && (op->opcode == RINGO__EV_READ || op->opcode == RINGO__EV_WRITE)) {
        /* Ready, and the fd may block: a file thread does the call. */
        if (first && op->deadline)
            arm_timer(op, deadline_fire);
        to_pool(op);
        return;
    }
    if (r != -EAGAIN ||
        ((op->opcode == RINGO__EV_RECV || op->opcode == RINGO__EV_SEND) && (op->flags & MSG_DONTWAIT))) {
        finish(op, (int32_t)r);
        return;
    }
    /* It would block: wait for the fd's next edge. */
    if (first) {
        int err = watch(e, op->fd);
        if (err == -EPERM) {
            /* A file: it never reports readiness. */
            if (op->opcode == RINGO__EV_READ || op->opcode == RINGO__EV_WRITE) {
                if (op->deadline)
                    arm_timer(op, deadline_fire);
                to_pool(op);
            } else if (op->opcode == RINGO__EV_POLL) {
                finish(op, (int32_t)(op->flags & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)));
            } else {
                finish(op, err);
            }
            return;
        }
        if (err < 0) {
            finish(op, err);
            return;
        }
    }
    ringo__ev_op_t **slot = fd_slot(e, op->fd, true);
    if (!slot) {
        finish(op, -ENOMEM);
        return;
    }
    ep->events = wanted_events(op);
    ep->next = *slot;
    *slot = op;
    e->nwaiting++;
    atomic_store(&ep->state, ST_WAITING);
    if (first && op->deadline)
        arm_timer(op, deadline_fire);
}

/* Starts what fibers queued since the last poll. Owner, cq_lock held. */
static void start_pending(ringo__worker_t *w)
{
    struct ringo__epoll *e = w->epoll;
    while (e->pend_head) {
        ringo__ev_op_t *op = e->pend_head;
        e->pend_head = EP(op)->next;
        if (!e->pend_head)
            e->pend_tail = NULL;
        if (EP(op)->cancel_asked)
            finish(op, -ECANCELED);
        else
            advance(w, op, true);
    }
}

/* Retries the ops that the events in evs wake. cq_lock held. */
static void handle_events(ringo__worker_t *w, const struct epoll_event *evs, int n)
{
    struct ringo__epoll *e = w->epoll;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == WAKE_TAG) {
            /* The wake-up has landed: the next one must be sent again.
             * Edge-triggered, every write makes an event: no read needed. */
            atomic_store(&w->wake_pending, 0);
            atomic_fetch_add_explicit(&w->stats.wakes_received, 1, memory_order_relaxed);
            continue;
        }
        ringo__ev_op_t **slot = fd_slot(e, (int)evs[i].data.u64, false);
        if (!slot || !*slot)
            continue;
        uint32_t got = evs[i].events | ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? ~0u : 0);
        ringo__ev_op_t *op = *slot;
        *slot = NULL;
        while (op) {
            struct ep_op *ep = EP(op);
            ringo__ev_op_t *next = ep->next;
            e->nwaiting--;
            if (ep->events & got) {
                advance(w, op, false);
            } else {
                ep->next = *slot;
                *slot = op;
                e->nwaiting++;
            }
            op = next;
        }
    }
}

/* Harvests w's epoll without sleeping. cq_lock held. */
static void harvest(ringo__worker_t *w)
{
    struct epoll_event evs[EVENT_BATCH];
    int n;
    do {
        RINGO_TSAN_HIDE_BEGIN();
        n = epoll_wait(w->epoll->epfd, evs, EVENT_BATCH, 0);
        RINGO_TSAN_HIDE_END();
        if (n > 0)
            handle_events(w, evs, n);
    } while (n == EVENT_BATCH);
}

/* ---- cancels ---------------------------------------------------------------------- */

/* Unlinks op from its fd list. cq_lock held. */
static bool unlink_waiting(struct ringo__epoll *e, ringo__ev_op_t *op)
{
    ringo__ev_op_t **p = fd_slot(e, op->fd, false);
    for (; p && *p; p = &EP(*p)->next) {
        if (*p == op) {
            *p = EP(op)->next;
            e->nwaiting--;
            return true;
        }
    }
    return false;
}

/* Cancels op where it is now. The owner (its own cancels, its inbox) or a
 * deadline's fire (owner or monitor); never with cq_lock held. */
static void cancel_op(ringo__ev_op_t *op)
{
    struct ep_op *ep = EP(op);
    ringo__worker_t *w = ep->w;
    for (;;) {
        int s = atomic_load(&ep->state);
        switch (s) {
        case ST_PENDING:
            ep->cancel_asked = true;    /* only the owner sees it pending */
            return;
        case ST_WAITING:
            ringo__spin_lock(&w->cq_lock);
            if (atomic_load(&ep->state) == ST_WAITING && unlink_waiting(w->epoll, op)) {
                finish(op, -ECANCELED);
                ringo__spin_unlock(&w->cq_lock);
                return;
            }
            ringo__spin_unlock(&w->cq_lock);
            continue;
        case ST_POOL_QUEUED: {
            ringo__pthread_lock(&pool.lock);
            bool taken = false;
            if (atomic_load(&ep->state) == ST_POOL_QUEUED) {
                ringo__ev_op_t **p = &pool.head, *prev = NULL;
                for (; *p; prev = *p, p = &EP(*p)->next) {
                    if (*p == op) {
                        *p = ep->next;
                        if (pool.tail == op)
                            pool.tail = prev;
                        taken = true;
                        break;
                    }
                }
            }
            ringo__pthread_unlock(&pool.lock);
            if (taken) {
                finish(op, -ECANCELED);
                return;
            }
            continue;
        }
        case ST_TIMER: {
            int expect = ST_TIMER;
            if (atomic_compare_exchange_strong(&ep->state, &expect, ST_DONE)) {
                ringo__timer_del(&ep->timer);
                finish(op, -ECANCELED);
            }
            return;
        }
        default:        /* running on a file thread, or done: its result comes */
            return;
        }
    }
}

static void deadline_fire(ringo__timer_t *t)
{
    cancel_op(t->arg);
}

static void timeout_fire(ringo__timer_t *t)
{
    ringo__ev_op_t *op = t->arg;
    int expect = ST_TIMER;
    if (atomic_compare_exchange_strong(&EP(op)->state, &expect, ST_DONE))
        finish(op, 0);
}

void ringo__epoll_cancel(ringo__worker_t *w, ringo__op_t *op)
{
    if (RINGO__UNLIKELY(ringo__ev_forked()))
        return;
    if (w == ringo__self()) {
        cancel_op((ringo__ev_op_t *)op);
        return;
    }
    ringo__ev_inbox_post(w, op);
}

/* The owner acts on the cancel requests other threads left. */
static void drain_inbox(ringo__worker_t *w)
{
    while (atomic_load_explicit(&w->inbox_nonempty, memory_order_acquire)) {
        ringo__op_t *batch[64];
        size_t n = 0;
        ringo__spin_lock(&w->inbox_lock);
        while (w->ninbox && n < 64)
            batch[n++] = w->inbox[--w->ninbox];
        if (!w->ninbox)
            atomic_store(&w->inbox_nonempty, 0);
        ringo__spin_unlock(&w->inbox_lock);
        for (size_t i = 0; i < n; i++)
            cancel_op((ringo__ev_op_t *)batch[i]);
    }
}

/* ---- the contract --------------------------------------------------------------- */

int ringo__epoll_probe(ringo__runtime_t *rt, bool quiet)
{
    (void)rt;
    (void)quiet;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        int err = -errno;
        fprintf(stderr, "ringo: epoll is unavailable (epoll_create1: %s)\n", strerror(-err));
        return err;
    }
    close(ep);
    return 0;
}

int ringo__epoll_init(ringo__worker_t *w)
{
    struct ringo__epoll *e = ringo__aligned_alloc(RINGO__CACHELINE, sizeof(*e));
    if (!e)
        return -ENOMEM;
    memset(e, 0, sizeof(*e));
    RINGO_TSAN_HIDE_BEGIN();     /* other threads use it: see sanitizer.h */
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    RINGO_TSAN_HIDE_END();
    if (e->epfd < 0) {
        int err = -errno;
        ringo__free(e);
        return err;
    }
    RINGO_TSAN_HIDE_BEGIN();     /* other threads write it: see sanitizer.h */
    w->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = WAKE_TAG};
    int err = w->wake_efd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, w->wake_efd, &ev) < 0 ? -errno : 0;
    RINGO_TSAN_HIDE_END();
    if (err) {
        if (w->wake_efd >= 0)
            close(w->wake_efd);
        w->wake_efd = -1;
        close(e->epfd);
        ringo__free(e);
        return err;
    }
    w->epoll = e;
    /* Published last: wakers use the eventfd once they see it. */
    atomic_store_explicit(&w->ring_fd, e->epfd, memory_order_release);
    return 0;
}

/* Every op of w still in flight finishes with -ECANCELED (shutdown). */
static void cancel_all(ringo__worker_t *w)
{
    struct ringo__epoll *e = w->epoll;
    for (ringo__ev_op_t *op = e->pend_head; op; op = EP(op)->next)
        EP(op)->cancel_asked = true;
    ringo__spin_lock(&w->cq_lock);
    start_pending(w);
    for (size_t c = 0; c < e->ndir; c++) {
        if (!e->dir[c])
            continue;
        for (unsigned i = 0; i < CHUNK_SIZE; i++) {
            ringo__ev_op_t *op = e->dir[c][i];
            e->dir[c][i] = NULL;
            while (op) {
                ringo__ev_op_t *next = EP(op)->next;
                e->nwaiting--;
                finish(op, -ECANCELED);
                op = next;
            }
        }
    }
    ringo__spin_unlock(&w->cq_lock);
    /* Queued for a file thread. */
    ringo__ev_op_t *mine = NULL;
    ringo__pthread_lock(&pool.lock);
    for (ringo__ev_op_t **p = &pool.head; *p;) {
        ringo__ev_op_t *op = *p;
        if (EP(op)->w == w) {
            *p = EP(op)->next;
            EP(op)->next = mine;
            mine = op;
        } else {
            p = &EP(op)->next;
        }
    }
    pool.tail = NULL;
    for (ringo__ev_op_t *op = pool.head; op; op = EP(op)->next)
        pool.tail = op;
    ringo__pthread_unlock(&pool.lock);
    while (mine) {
        ringo__ev_op_t *next = EP(mine)->next;
        finish(mine, -ECANCELED);
        mine = next;
    }
    /* TIMEOUT ops on the timer heap. */
    for (;;) {
        ringo__ev_op_t *found[64];
        size_t n = 0;
        ringo__spin_lock(&w->timer_lock);
        int32_t nt = atomic_load(&w->ntimers);
        for (int32_t i = 0; i < nt && n < 64; i++)
            if (w->heap[i]->fire == timeout_fire)
                found[n++] = w->heap[i]->arg;
        ringo__spin_unlock(&w->timer_lock);
        if (!n)
            break;
        for (size_t i = 0; i < n; i++)
            cancel_op(found[i]);
    }
}

void ringo__epoll_fini(ringo__worker_t *w)
{
    struct ringo__epoll *e = w->epoll;
    if (e && atomic_load(&w->inflight) > 0) {
        cancel_all(w);
        for (int i = 0; i < 100 && atomic_load(&w->inflight) > 0; i++) {
            dispatch_done(w);
            if (atomic_load(&w->inflight) > 0)
                ringo__epoll_wait(w, 10 * RINGO_MILLISECOND);
        }
    }
    /* The monitor may still be looking at this worker: holding cq_lock for
     * good makes its try-lock reaps back off. */
    ringo__spin_lock(&w->cq_lock);
    ringo__ev_inbox_close(w);
    if (e) {
        for (size_t c = 0; c < e->ndir; c++)
            ringo__free(e->dir[c]);
        ringo__free(e->dir);
        e->dir = NULL;
        e->ndir = 0;
        RINGO_TSAN_HIDE_BEGIN();
        close(e->epfd);
        RINGO_TSAN_HIDE_END();
        e->epfd = -1;       /* e itself is freed at the run's end */
    }
    if (w->wake_efd >= 0) {
        RINGO_TSAN_HIDE_BEGIN();
        close(w->wake_efd);
        RINGO_TSAN_HIDE_END();
    }
    w->wake_efd = -1;
}

void ringo__epoll_submit(ringo__worker_t *w, ringo__ev_op_t *op)
{
    if (RINGO__UNLIKELY(ringo__ev_forked())) {
        op->op.complete(&op->op, -ECHILD, 0);
        return;
    }
    struct ringo__epoll *e = w->epoll;
    struct ep_op *ep = EP(op);
    ep->next = NULL;
    ep->w = w;
    atomic_store_explicit(&ep->state, ST_PENDING, memory_order_relaxed);
    ep->how = HOW_NOWAIT;
    ep->cancel_asked = false;
    ep->timer_armed = false;
    ep->connecting = false;
    if (e->pend_tail)
        EP(e->pend_tail)->next = op;
    else
        e->pend_head = op;
    e->pend_tail = op;
    atomic_fetch_add(&w->inflight, 1);
}

void ringo__epoll_poll(ringo__worker_t *w)
{
    if (RINGO__UNLIKELY(ringo__ev_forked()))
        return;
    struct ringo__epoll *e = w->epoll;
    drain_inbox(w);
    if (e->pend_head || e->nwaiting) {
        ringo__spin_lock(&w->cq_lock);
        start_pending(w);
        if (e->nwaiting)
            harvest(w);
        ringo__spin_unlock(&w->cq_lock);
    }
    dispatch_done(w);
}

bool ringo__epoll_ready(ringo__worker_t *w)
{
    struct ringo__epoll *e = w->epoll;
    if (!e || ringo__ev_forked())
        return false;
    return e->pend_head || atomic_load_explicit(&e->done_nonempty, memory_order_relaxed) ||
           atomic_load_explicit(&w->inbox_nonempty, memory_order_relaxed);
}

unsigned ringo__epoll_reap(ringo__worker_t *w)
{
    struct ringo__epoll *e = w->epoll;
    if (!e)
        return 0;
    if (ringo__spin_trylock(&w->cq_lock)) {
        /* The owner is gone if its epoll is (fini holds cq_lock for good). */
        harvest(w);
        ringo__spin_unlock(&w->cq_lock);
    }
    return dispatch_done(w);
}

/* epoll_pwait2's timeout in nanoseconds; where the kernel lacks it,
 * epoll_wait's in milliseconds, rounded up so a timer is never early. */
static int wait_events(int epfd, struct epoll_event *evs, int64_t timeout_ns)
{
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / RINGO_SECOND;
            ts.tv_nsec = timeout_ns % RINGO_SECOND;
            tsp = &ts;
        }
        int n = (int)syscall(SYS_epoll_pwait2, epfd, evs, EVENT_BATCH, tsp, NULL, (size_t)0);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store_explicit(&no_pwait2, true, memory_order_relaxed);
    }
    int ms = -1;
    if (timeout_ns >= 0) {
        int64_t m = (timeout_ns + RINGO_MILLISECOND - 1) / RINGO_MILLISECOND;
        ms = m > INT32_MAX ? INT32_MAX : (int)m;
    }
    return epoll_wait(epfd, evs, EVENT_BATCH, ms);
}

void ringo__epoll_wait(ringo__worker_t *w, int64_t timeout_ns)
{
    if (RINGO__UNLIKELY(ringo__ev_forked())) {
        int64_t ns = timeout_ns < 0 || timeout_ns > 10 * RINGO_MILLISECOND
                     ? 10 * RINGO_MILLISECOND : timeout_ns;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
        (void)clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        return;
    }
    struct ringo__epoll *e = w->epoll;
    drain_inbox(w);
    if (e->pend_head) {
        ringo__spin_lock(&w->cq_lock);
        start_pending(w);
        ringo__spin_unlock(&w->cq_lock);
    }
    if (atomic_load_explicit(&e->done_nonempty, memory_order_acquire) ||
        atomic_load_explicit(&w->inbox_nonempty, memory_order_acquire))
        timeout_ns = 0;
    struct epoll_event evs[EVENT_BATCH];
    RINGO__STAT_INC(w, submits);
    RINGO_TSAN_HIDE_BEGIN();        /* the monitor harvests it too: see sanitizer.h */
    int n = wait_events(e->epfd, evs, timeout_ns);
    RINGO_TSAN_HIDE_END();
    if (n > 0) {
        ringo__spin_lock(&w->cq_lock);
        handle_events(w, evs, n);
        if (n == EVENT_BATCH)
            harvest(w);
        ringo__spin_unlock(&w->cq_lock);
    }
    dispatch_done(w);
}

void ringo__epoll_wake(ringo__worker_t *target)
{
    if (RINGO__UNLIKELY(ringo__ev_forked())) {
        atomic_store(&target->wake_pending, 0);
        return;
    }
    int efd = target->wake_efd;
    ringo__worker_t *self = ringo__self();
    if (atomic_load_explicit(&target->ring_fd, memory_order_acquire) < 0 || efd < 0 ||
        self == target) {
        /* No event source (shutting down, a spare starting), or awake. */
        atomic_store(&target->wake_pending, 0);
        return;
    }
    uint64_t one = 1;
    RINGO_TSAN_HIDE_BEGIN();
    ssize_t put = write(efd, &one, sizeof(one));
    RINGO_TSAN_HIDE_END();
    if (put != sizeof(one)) {
        atomic_store(&target->wake_pending, 0);   /* nothing is on its way */
        return;
    }
    if (self)
        RINGO__STAT_INC(self, wakes_sent);
}

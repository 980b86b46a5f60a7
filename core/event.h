/* core/event.h - the event-source contract: how a worker waits, and how the
 * layers above (sync/ and io/) have the kernel do an operation for a fiber.
 *
 * core/ has one event source per worker, from one of two backends: the
 * worker's io_uring (ring.c), or an epoll instance with a small blocking
 * pool for files (epoll.c), for where io_uring is refused. event.c picks
 * one per run (ringo__ev_probe); the inline functions at the end of this
 * header are the one place that tells them apart. Nothing here names a
 * liburing or epoll type, so sync/ and io/ never see which backend runs.
 *
 * Operations
 *   The submitter fills a ringo__ev_op_t (opcode, arguments, complete) and
 *   calls ringo__ev_submit on its own worker. Whatever happens next -
 *   success, an error, ringo__ev_cancel, the op's deadline passing, the
 *   runtime shutting down - exactly one completion is delivered: complete(op,
 *   res, flags) with res >= 0 (the result of the matching syscall) or
 *   -errno, on the submitting worker (or on the monitor when that worker is
 *   hogged; see monitor.c). Until complete has run, the record and every
 *   buffer, path or address it points at belong to the backend: the
 *   submitter keeps them valid and unchanged, even if the fiber that asked
 *   has stopped waiting. An op cancelled before the kernel acted completes
 *   with -ECANCELED; one that finished first completes with its result, so
 *   bytes moved are never lost.
 *
 *   A deadline (absolute, ringo__now()'s clock) cancels the op when it
 *   passes: it then completes with -ECANCELED, and the caller, seeing the
 *   clock past the deadline, reports -ETIMEDOUT. io_uring implements it as
 *   a linked timeout, so it costs no timer on the heap.
 *
 *   The record's identity is its address: it is what a cancel names, never
 *   the fd, so a cancel cannot hit an unrelated op that reused the fd.
 *
 * Waiting, waking
 *   ringo__ev_wait sleeps until a completion arrives, a wake-up lands or
 *   timeout_ns passes, then dispatches what arrived; ringo__ev_poll does the
 *   same without sleeping. -EINTR from the kernel, a full submission queue
 *   and an overflowed completion queue are handled inside: no completion is
 *   lost or doubled, no submission dropped, no error reaches a fiber.
 *   ringo__ev_wake is the one way to get a sleeping worker's attention, from
 *   any thread.
 *
 * Threads: submit, wait and poll only on the worker's own thread; cancel,
 * wake and reap from any thread (another worker's request goes through the
 * target's inbox, which its owner drains at its next poll or wait).
 */
#ifndef RINGO_CORE_EVENT_H
#define RINGO_CORE_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct ringo__worker ringo__worker_t;
typedef struct ringo__runtime ringo__runtime_t;

enum ringo__ev_opcode {
    RINGO__EV_NOP = 0,
    RINGO__EV_READ,         /* fd, buf, len, off (-1: the file position)      -> bytes   */
    RINGO__EV_WRITE,        /* fd, cbuf, len, off (-1: the file position)     -> bytes   */
    RINGO__EV_RECV,         /* fd, buf, len, flags (MSG_*)                    -> bytes   */
    RINGO__EV_SEND,         /* fd, cbuf, len, flags (MSG_*)                   -> bytes   */
    RINGO__EV_ACCEPT,       /* fd, addr, addrlen (in/out; may be NULL), flags (SOCK_*) -> new fd */
    RINGO__EV_CONNECT,      /* fd, caddr, socklen                             -> 0       */
    RINGO__EV_POLL,         /* fd, flags (POLLIN/POLLOUT...), one shot        -> revents */
    RINGO__EV_OPEN,         /* path, flags (O_*), mode; relative to the cwd   -> new fd  */
    RINGO__EV_CLOSE,        /* fd                                             -> 0       */
    RINGO__EV_FSYNC,        /* fd, flags (0 or RINGO__EV_DATASYNC)            -> 0       */
    RINGO__EV_TIMEOUT,      /* fires at deadline                              -> 0       */
    RINGO__EV_OPCODES
};

#define RINGO__EV_DATASYNC 1u       /* fsync flag: fdatasync */

/* A completion callback, and the identity of an operation in flight. */
typedef struct ringo__op {
    void (*complete)(struct ringo__op *op, int32_t res, uint32_t flags);
} ringo__op_t;

typedef struct ringo__ev_op {
    ringo__op_t op;             /* first: the backend hands back &op */
    uint8_t opcode;             /* enum ringo__ev_opcode */
    int fd;
    union {
        void *buf;
        const void *cbuf;
        const char *path;
        struct sockaddr *addr;          /* accept: where the peer goes */
        const struct sockaddr *caddr;   /* connect: where to */
    };
    union {
        size_t len;
        socklen_t *addrlen;             /* accept */
        socklen_t socklen;              /* connect */
    };
    int64_t off;
    uint32_t flags;
    uint32_t mode;
    int64_t deadline;           /* absolute ns (ringo__now()); 0: none */
    int64_t backend[12];        /* the backend's scratch until completed */
} ringo__ev_op_t;

/* The backend of the run (0 until the first probe): RINGO_BACKEND_URING
 * or RINGO_BACKEND_EPOLL (ringo/runtime.h). Written by ringo__ev_probe
 * before any worker starts, read by everything below. */
extern int ringo__ev_backend;

/* Picks the backend once, before any worker starts: io_uring if it can be
 * set up and has every opcode ringo uses, else epoll with one line on
 * stderr saying why; `wanted` (RINGO_BACKEND=..., then the config) forces
 * one. -errno with one line on stderr if the forced one cannot be had. */
int ringo__ev_probe(ringo__runtime_t *rt, int wanted);
/* After every worker stopped: ends what the backend keeps per run (the
 * epoll backend's file threads). */
void ringo__ev_run_end(ringo__runtime_t *rt);
/* True if tid is a thread of the backend's own that runs no user code
 * (the deadlock check does not count it). */
bool ringo__ev_own_thread(int tid);
/* True in a child made by fork() while a runtime ran: the rings belong to
 * the parent, so in the child every op completes at once with -ECHILD and
 * nothing touches them. */
bool ringo__ev_forked(void);

/* Each backend's side of the functions below (ring.c: ringo__uring_*,
 * epoll.c: ringo__epoll_*). */
#define RINGO__EV_BACKEND_FUNCS(B) \
    int ringo__##B##_probe(ringo__runtime_t *rt, bool quiet); \
    int ringo__##B##_init(ringo__worker_t *w); \
    void ringo__##B##_fini(ringo__worker_t *w); \
    void ringo__##B##_submit(ringo__worker_t *w, ringo__ev_op_t *op); \
    void ringo__##B##_cancel(ringo__worker_t *w, ringo__op_t *op); \
    void ringo__##B##_poll(ringo__worker_t *w); \
    void ringo__##B##_wait(ringo__worker_t *w, int64_t timeout_ns); \
    bool ringo__##B##_ready(ringo__worker_t *w); \
    unsigned ringo__##B##_reap(ringo__worker_t *w); \
    void ringo__##B##_wake(ringo__worker_t *w);
RINGO__EV_BACKEND_FUNCS(uring)
RINGO__EV_BACKEND_FUNCS(epoll)
void ringo__epoll_run_end(ringo__runtime_t *rt);
/* Both backends' cross-thread cancel: queues op on w's inbox, wakes w. */
void ringo__ev_inbox_post(ringo__worker_t *w, ringo__op_t *op);
/* Both backends' fini: closes and frees w's inbox (later posts are dropped). */
void ringo__ev_inbox_close(ringo__worker_t *w);
bool ringo__epoll_own_thread(int tid);

/* The dispatch: io_uring is the branch the compiler lays out first. */
#define RINGO__EV_URING() __builtin_expect(ringo__ev_backend != 2 /* RINGO_BACKEND_EPOLL */, 1)

/* Makes or ends a worker's event source, on the worker's own thread. fini
 * first cancels what is still in flight and delivers its completions. */
static inline int ringo__ev_init(ringo__worker_t *w)
{
    return RINGO__EV_URING() ? ringo__uring_init(w) : ringo__epoll_init(w);
}
static inline void ringo__ev_fini(ringo__worker_t *w)
{
    if (RINGO__EV_URING())
        ringo__uring_fini(w);
    else
        ringo__epoll_fini(w);
}

/* Queues op on the calling worker's event source; it goes to the kernel at
 * the worker's next poll or wait, or sooner if the queue is full. w must be
 * ringo__self(). Never fails: errors arrive as the completion. */
static inline void ringo__ev_submit(ringo__worker_t *w, ringo__ev_op_t *op)
{
    if (RINGO__EV_URING())
        ringo__uring_submit(w, op);
    else
        ringo__epoll_submit(w, op);
}
/* Asks w's event source to cancel op (submitted on w). Any thread. If the
 * op already completed, or completes meanwhile, nothing happens. */
static inline void ringo__ev_cancel(ringo__worker_t *w, ringo__op_t *op)
{
    if (RINGO__EV_URING())
        ringo__uring_cancel(w, op);
    else
        ringo__epoll_cancel(w, op);
}
/* The submitter is done with op: its completion has run and nobody will
 * ask for its cancel any more. Drops the cancel requests for op that w has
 * not acted on yet, so that the record's address may name a new op on w
 * at once (a request from another thread waits in w's inbox until w's next
 * poll, and would otherwise cancel whatever op then has that address). Any
 * thread; cheap when w's inbox is empty. The same for both backends. */
void ringo__ev_forget(ringo__worker_t *w, ringo__op_t *op);

/* Owner only: submits what is queued and dispatches what completed;
 * ringo__ev_wait also sleeps until something arrives or timeout_ns passes
 * (< 0: no timeout). */
static inline void ringo__ev_poll(ringo__worker_t *w)
{
    if (RINGO__EV_URING())
        ringo__uring_poll(w);
    else
        ringo__epoll_poll(w);
}
static inline void ringo__ev_wait(ringo__worker_t *w, int64_t timeout_ns)
{
    if (RINGO__EV_URING())
        ringo__uring_wait(w, timeout_ns);
    else
        ringo__epoll_wait(w, timeout_ns);
}
/* Owner only, cheap (no syscall): true if ringo__ev_poll would find
 * something to do now (completions, kernel work that produces them,
 * queued submissions or cancel requests). A spinning worker watches it so
 * that its own completions do not wait for the spin to end. (epoll cannot
 * tell of readiness without a syscall: there it sees all but that.) */
static inline bool ringo__ev_ready(ringo__worker_t *w)
{
    return RINGO__EV_URING() ? ringo__uring_ready(w) : ringo__epoll_ready(w);
}
/* Dispatches completions that are ready. Any thread (the monitor uses it on
 * a hogged worker). Returns how many. */
static inline unsigned ringo__ev_reap(ringo__worker_t *w)
{
    return RINGO__EV_URING() ? ringo__uring_reap(w) : ringo__epoll_reap(w);
}
/* Wakes w out of ringo__ev_wait. Any thread. */
static inline void ringo__ev_wake(ringo__worker_t *w)
{
    if (RINGO__EV_URING())
        ringo__uring_wake(w);
    else
        ringo__epoll_wake(w);
}
/* True once w's event source is gone (its worker stopped): nothing on it
 * will complete any more. Any thread. */
bool ringo__ev_gone(ringo__worker_t *w);

#endif

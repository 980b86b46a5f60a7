/* io/io_internal.h - what the io/ files share: the one way an io call
 * waits (op.c), the fd registry (fdtab.c), and the pieces net.c takes from
 * fd.c.
 *
 * An io call from a fiber fills a ringo__io_op_t on its own stack and hands
 * it to ringo__io_wait, which registers it on its fd's registry entry,
 * submits it to the calling worker's event source (core/event.h), and parks
 * until its completion. A cancel (the call's context ending, ringo_close on
 * its fd) only makes that completion come sooner: the fiber always waits for
 * its own op's completion, so the record and its buffer live on the
 * fiber's stack for exactly as long as the kernel may touch them.
 */
#ifndef RINGO_IO_INTERNAL_H
#define RINGO_IO_INTERNAL_H

#include "internal.h"
#include "event.h"

#include <ringo/io.h>

typedef struct ringo__fd_entry ringo__fd_entry_t;

/* One operation an io call is waiting for. Lives on the waiting fiber's
 * stack from ringo__io_wait's start to its return.
 * Who touches what:
 *   ev        the backend, from submit to the completion;
 *   link      the fd entry's lock (entry->ops), while entry != NULL;
 *   closed    written by ringo_close under the entry's lock, read by the
 *             waiter after the completion (which took that lock after it);
 *   phase     atomic: who issues the cancel of a closed op (op.c);
 *   res       written by the completion, read by the waiter once woken. */
typedef struct ringo__io_op {
    ringo__ev_op_t ev;              /* first: the backend hands back &ev.op */
    ringo__wait_t wait;             /* the parked fiber */
    ringo__worker_t *worker;        /* whose event source holds ev */
    ringo__fd_entry_t *entry;       /* registered on it; NULL once completed */
    ringo__link_t link;             /* on entry->ops */
    _Atomic int phase;              /* RINGO__IO_PHASE_*: who asks a close's cancel */
    _Atomic bool asked;             /* another thread asked for its cancel */
    bool closed;
    int32_t res;
    struct ringo__io_op *next_ask;  /* on a ringo_close's list of cancels to ask */
} ringo__io_op_t;

/* An op's phase (op.c says how ringo_close and the submitter use it). */
enum {
    RINGO__IO_PHASE_SUBMITTING,     /* registered, not yet handed to the backend */
    RINGO__IO_PHASE_SUBMITTED,
    RINGO__IO_PHASE_CANCEL_ASKED,   /* closed before its submit: the submitter cancels */
    RINGO__IO_PHASE_CLOSER_ASKING,  /* ringo_close is asking for its cancel right now */
    RINGO__IO_PHASE_CLOSER_ASKED,   /* ringo_close has asked */
};

/* Runs op (opcode and arguments filled in; deadline and complete are
 * ringo__io_wait's) for the calling thread under ctx and returns its
 * result: >= 0, or -errno with -EINTR retried and -EAGAIN on a
 * non-blocking fd waited out (unless the op asks MSG_DONTWAIT). In a fiber
 * it goes through the worker's event source; elsewhere it is the plain
 * syscall, ctx checked before. Maps a cancel to -EBADF (closed with
 * ringo_close), -ETIMEDOUT (ctx's deadline) or ctx's error. In a fork child
 * of a running runtime, a fiber gets -ECHILD. */
ssize_t ringo__io_wait(ringo_ctx_t *ctx, ringo__io_op_t *op);
/* Waits d nanoseconds under ctx: 0, or ctx's error (-ECANCELED,
 * -ETIMEDOUT). For accept's back-off: registered on fd (if >= 0), so a
 * ringo_close of fd ends it with -EBADF. */
int ringo__io_pause(ringo_ctx_t *ctx, int fd, int64_t d);

/* ---- the fd registry (fdtab.c) --------------------------------------------------- */

enum ringo__fd_kind {
    RINGO__FD_UNKNOWN = 0,          /* never seen, or closed with ringo_close since */
    RINGO__FD_SOCKET,               /* writes go out as MSG_NOSIGNAL sends */
    RINGO__FD_OTHER,                /* files, pipes: plain writes */
};

/* One fd's entry. lock protects ops, closing and closer; kind is a hint
 * read and written without it. */
struct ringo__fd_entry {
    ringo__spinlock_t lock;
    _Atomic uint8_t kind;           /* enum ringo__fd_kind */
    bool closing;                   /* ringo_close is waiting for ops to end */
    ringo__list_t ops;              /* ringo__io_op_t.link, in flight on this fd */
    ringo__wait_t *closer;          /* ringo_close, waiting for ops to empty */
};

/* fd's entry, made on first use; NULL for fd < 0, an fd beyond the table,
 * or no memory for its chunk (create) or no chunk yet (!create). Entries
 * never move or go away. */
ringo__fd_entry_t *ringo__fd_entry(int fd, bool create);
/* Records what fd is (ringo_open, accept, dial, listen); best effort. */
void ringo__fd_set_kind(int fd, enum ringo__fd_kind kind);
/* Registers op on e unless e is closing: 0, or -EBADF. */
int ringo__fd_register(ringo__fd_entry_t *e, ringo__io_op_t *op);
/* The completion's side: takes op off its entry and wakes a ringo_close
 * waiting for the entry's last op. */
void ringo__fd_unregister(ringo__io_op_t *op);
/* ringo_close's side: marks every op on e closed, has each cancelled,
 * and waits until all have completed; new ops get -EBADF meanwhile. 0, or
 * -EBADF if another ringo_close of the fd is under way. */
int ringo__fd_quiesce(ringo__fd_entry_t *e);

#endif

/* io/fdtab.c - the fd registry: per fd, the io calls of fibers in flight
 * on it and what kind of file it is.
 *
 * The table is indexed by fd: a fixed array of chunk pointers, each chunk
 * 16384 entries made on first use (zeroed: an empty entry is all zeros) and
 * kept for the life of the process, so an entry never moves and a lookup is
 * two loads with no lock. Chunks are published with a release store under
 * grow_lock, which only their making takes.
 *
 * An entry's lock protects its list of ops in flight (ringo__io_op_t.link),
 * its closing flag, its closer, and the `entry` and `closed` fields of each
 * op on the list. An op is on the list from just before its submit until
 * its completion callback (op.c) takes it off; so, while the lock is held,
 * every op on the list is alive and not yet completed, and may be named in
 * a cancel. The hot path takes the lock twice per op, uncontended unless
 * two fibers use the same fd at once (a reader and a writer).
 *
 * ringo_close (ringo__fd_quiesce): marks every op on the entry closed and
 * has each cancelled (who asks is settled by the op's phase word; the
 * asking happens after the lock is dropped, op.c says why), sets closing so
 * that no new op registers, and waits until the list is empty; only then
 * does the caller close(2) the fd. So no op of ours can reach a file that
 * reuses the number later: every one has completed before the number is
 * released.
 *
 * The kind (socket or not) is a hint that ringo_write reads without the
 * lock: set by ringo_open, accept, dial and listen, learned from -ENOTSOCK,
 * and forgotten by ringo_close. An fd closed with plain close(2) and reused
 * keeps a stale hint; a stale "socket" costs one failed send, a stale
 * "other" on what is now a socket writes without MSG_NOSIGNAL.
 *
 * Lock order: an entry's lock is a leaf; nothing that may reap completions
 * (a submit, a cancel) runs under it, since a completion takes it. A
 * ringo_close's wait is woken after the lock is dropped.
 */
#include "io_internal.h"

#include <errno.h>
#include <string.h>

#define CHUNK_SHIFT 14
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define NCHUNKS (1u << 16)              /* 2^30 fds, beyond any nr_open in use */

static ringo__fd_entry_t *_Atomic chunks[NCHUNKS];
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;


static ringo__fd_entry_t *grow(unsigned c)
{
    ringo__pthread_lock(&grow_lock);
    ringo__fd_entry_t *chunk = atomic_load_explicit(&chunks[c], memory_order_relaxed);
    if (!chunk) {
        chunk = ringo__calloc(CHUNK_SIZE, sizeof(*chunk));
        if (chunk)
            atomic_store_explicit(&chunks[c], chunk, memory_order_release);
    }
    ringo__pthread_unlock(&grow_lock);
    return chunk;
}

ringo__fd_entry_t *ringo__fd_entry(int fd, bool create)
{
    if (fd < 0)
        return NULL;
    unsigned c = (unsigned)fd >> CHUNK_SHIFT;
    if (c >= NCHUNKS)
        return NULL;
    ringo__fd_entry_t *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
    if (RINGO__UNLIKELY(!chunk) && (!create || !(chunk = grow(c))))
        return NULL;
    return &chunk[(unsigned)fd & (CHUNK_SIZE - 1)];
}

void ringo__fd_set_kind(int fd, enum ringo__fd_kind kind)
{
    if (ringo__ev_forked())
        return;                 /* grow_lock may be held by a thread that is gone */
    ringo__fd_entry_t *e = ringo__fd_entry(fd, true);
    if (e)
        atomic_store_explicit(&e->kind, (uint8_t)kind, memory_order_relaxed);
}

int ringo__fd_register(ringo__fd_entry_t *e, ringo__io_op_t *op)
{
    ringo__spin_lock(&e->lock);
    if (RINGO__UNLIKELY(e->closing)) {
        ringo__spin_unlock(&e->lock);
        return -EBADF;
    }
    op->entry = e;
    atomic_store_explicit(&op->phase, RINGO__IO_PHASE_SUBMITTING, memory_order_relaxed);
    ringo__list_push_back(&e->ops, &op->link);
    ringo__spin_unlock(&e->lock);
    return 0;
}

/* A closer that will never run again (its fiber is abandoned at shutdown)
 * is not woken; its close is given up and the entry made usable again. */
static bool closer_abandoned(const ringo__wait_t *closer)
{
    ringo__runtime_t *rt = ringo__rt;
    return closer->fiber && rt && atomic_load(&rt->stopping);
}

void ringo__fd_unregister(ringo__io_op_t *op)
{
    ringo__fd_entry_t *e = op->entry;
    ringo__wait_t *wake = NULL;
    ringo__spin_lock(&e->lock);
    ringo__list_remove(&e->ops, &op->link);
    op->entry = NULL;
    if (e->closer && ringo__list_empty(&e->ops)) {
        wake = e->closer;
        e->closer = NULL;
        if (closer_abandoned(wake)) {
            e->closing = false;
            wake = NULL;
        }
    }
    ringo__spin_unlock(&e->lock);
    if (wake)
        ringo__unblock_quiet(wake);     /* a close orders nothing by itself */
}

int ringo__fd_quiesce(ringo__fd_entry_t *e)
{
    ringo__spin_lock(&e->lock);
    if (e->closing) {
        ringo__spin_unlock(&e->lock);
        return -EBADF;          /* another ringo_close of this fd is under way */
    }
    atomic_store_explicit(&e->kind, RINGO__FD_UNKNOWN, memory_order_relaxed);
    if (ringo__list_empty(&e->ops)) {
        ringo__spin_unlock(&e->lock);
        return 0;
    }
    e->closing = true;
    ringo__io_op_t *ask = NULL;
    for (ringo__link_t *l = e->ops.first; l; l = l->next) {
        ringo__io_op_t *op = ringo__container_of(l, ringo__io_op_t, link);
        op->closed = true;
        int expect = RINGO__IO_PHASE_SUBMITTING;
        if (atomic_compare_exchange_strong(&op->phase, &expect, RINGO__IO_PHASE_CANCEL_ASKED))
            continue;           /* not yet submitted: its submitter cancels it */
        /* Submitted: ours to ask, once the lock is dropped. Its waiter will
         * not reuse the record while we are CLOSER_ASKING (op.c). */
        atomic_store_explicit(&op->asked, true, memory_order_relaxed);
        atomic_store_explicit(&op->phase, RINGO__IO_PHASE_CLOSER_ASKING, memory_order_relaxed);
        op->next_ask = ask;
        ask = op;
    }
    ringo__wait_t wait;
    ringo__wait_prepare(&wait, "close (its fd's calls are being cancelled)");
    e->closer = &wait;
    ringo__spin_unlock(&e->lock);
    while (ask) {
        ringo__io_op_t *op = ask;
        ask = op->next_ask;
        ringo__ev_cancel(op->worker, &op->ev.op);
        atomic_store_explicit(&op->phase, RINGO__IO_PHASE_CLOSER_ASKED, memory_order_release);
    }
    ringo__wait_block(&wait);
    ringo__spin_lock(&e->lock);
    e->closing = false;
    ringo__spin_unlock(&e->lock);
    return 0;
}

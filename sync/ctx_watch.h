/* sync/ctx_watch.h - how other sync types hear about a context's cancel.
 *
 * A watcher is a node on a context's watcher list (that context's lock
 * guards the list and each node's `listed`). The semaphore uses internal
 * watchers to wake a blocked Acquire; AfterFunc uses heap watchers whose fn
 * starts in a new fiber.
 */
#ifndef RINGO_SYNC_CTX_WATCH_H
#define RINGO_SYNC_CTX_WATCH_H

#include "internal.h"

/* Something to run when a context is cancelled: an AfterFunc (heap node; fn
 * starts in a new fiber) or an internal watcher (the caller's node; fn is
 * called inline, with no lock held, and must not block). */
typedef struct ringo__ctx_watch {
    ringo__link_t link;         /* on its context's watcher list */
    void (*fn)(void *);
    void *arg;
    uint64_t id;
    bool internal;
    bool listed;                /* on its context's list (the context's lock) */
    _Atomic int firing;         /* taken off the list by a cancel, fn still running */
} ringo__ctx_watch_t;

/* Registers an internal watcher: on_cancel(arg) runs once when ctx is
 * cancelled. false if ctx is already cancelled (nothing registered). The
 * caller holds a reference to ctx until it has unwatched. */
bool ringo__ctx_watch(ringo_ctx_t *ctx, ringo__ctx_watch_t *w, void (*on_cancel)(void *), void *arg);
/* Unregisters it; if a cancel already took it, waits until on_cancel has
 * returned, so the caller may free w. */
void ringo__ctx_unwatch(ringo_ctx_t *ctx, ringo__ctx_watch_t *w);

#endif

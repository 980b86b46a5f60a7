/* ringo/context.h - Go's context package: cancellation trees, deadlines and
 * request-scoped values.
 *
 * Who frees what. Cancelling and freeing are separate, as Go's cancel() and
 * its garbage collector are:
 *   - ringo_with_cancel / _timeout / _deadline / _value return a context
 *     holding one reference, the creator's. The creator drops it exactly
 *     once with ringo_ctx_unref.
 *   - ringo_cancel cancels and frees nothing. It may be called any number of
 *     times, from any fiber or thread holding a reference; the first call
 *     wins. Between an early cancel and the release the context stays
 *     readable (ringo_ctx_err, ringo_ctx_done, ...), as in Go.
 *   - RINGO_DEFER_CANCEL is Go's `defer cancel()`: at scope exit it cancels
 *     the context and drops the creator's reference. A scope that uses it
 *     may still call ringo_cancel early, and must not ringo_ctx_unref the
 *     creator's reference itself.
 *   - Another fiber that keeps using a context takes its own reference with
 *     ringo_ctx_ref (before ringo_go) and drops it with ringo_ctx_unref.
 *     Every function here needs its caller to hold a reference to ctx.
 *   - A context is freed when its last reference goes. Children hold their
 *     parents, and a pending deadline holds its context until it fires or
 *     is stopped by a cancel (or the runtime ends). Unlike Go, a parent
 *     does not hold its children: a context released without a cancel is
 *     freed once its other references go, and its AfterFuncs that never
 *     started are dropped with it. Cancel before releasing (Go's rule).
 *   - Background and TODO are never freed; ref/unref/cancel on them do
 *     nothing.
 * Builds with assertions (no NDEBUG) poison a freed context: using a stale
 * handle panics with "use of a freed context" where it happens.
 *
 * Running out of memory. Calls that can fail say so with their result:
 * the constructors return NULL (nothing was made; the parent is
 * untouched) and ringo_ctx_after_func returns 0 (fn will never run). Where
 * no caller is left to tell and a promise was already made (the fiber of an
 * AfterFunc started by a cancel; the done channel, made on first use, whose
 * NULL would mean "never cancelled"), running out is fatal: the process
 * ends with "ringo: fatal: ..." saying which, as Go's runtime does.
 *
 * A child detaches from its parent when cancelled or freed, so a
 * long-lived parent does not accumulate dead children. Deriving a context
 * never starts a fiber; deadlines use the runtime's timers.
 */
#ifndef RINGO_CONTEXT_H
#define RINGO_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <ringo/chan.h>
#include <ringo/common.h>
#include <ringo/time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ringo_ctx ringo_ctx_t;

/* Never cancelled, no values, no deadline; never freed. */
RINGO_API ringo_ctx_t *ringo_background(void);
RINGO_API ringo_ctx_t *ringo_todo(void);

/* Derive a child of parent (NULL means ringo_background()); the child holds
 * a reference to parent. Each returns the creator's reference (drop it with
 * ringo_ctx_unref), or NULL when memory ran out. A child of an
 * already-cancelled parent is returned cancelled with the parent's error
 * and cause. */
RINGO_API ringo_ctx_t *ringo_with_cancel(ringo_ctx_t *parent);
/* Cancelled with -ETIMEDOUT at now + d, or earlier by its parent or by
 * ringo_cancel (then -ECANCELED). Arming the deadline needs a running
 * runtime (ringo_panic otherwise) unless it has passed already; a deadline
 * that has passed gives a context cancelled at once. */
RINGO_API ringo_ctx_t *ringo_with_timeout(ringo_ctx_t *parent, ringo_duration_t d);
RINGO_API ringo_ctx_t *ringo_with_deadline(ringo_ctx_t *parent, int64_t deadline); /* ringo_now() clock */
RINGO_API ringo_ctx_t *ringo_with_value(ringo_ctx_t *parent, const void *key, void *value);

/* Go's cancel(): cancels ctx (err -ECANCELED) and its descendants, closes
 * their done channels, starts their AfterFuncs and stops their deadlines.
 * Returns once all of that is done, even when another cancel of ctx or of
 * an ancestor is doing it (Go's cancel waits the same way). Idempotent;
 * frees nothing (see the top of this file). On background, TODO, a value
 * context or NULL it does nothing: they have no cancel of their own. */
RINGO_API void ringo_cancel(ringo_ctx_t *ctx);
/* Like ringo_cancel, recording why (Go 1.20's WithCancelCause): cause is an
 * -errno of the caller's choosing, reported as given by ringo_ctx_cause; 0
 * records none. Only the first cancel of a context sets its cause. */
RINGO_API void ringo_cancel_cause(ringo_ctx_t *ctx, int cause);

/* Closed when ctx is cancelled; NULL for contexts that can never be (a
 * select case on NULL never fires). Borrowed: valid while ctx is. Made on
 * first use; running out of memory for it is fatal. */
RINGO_API ringo_chan_t *ringo_ctx_done(ringo_ctx_t *ctx);
/* 0 while live; -ECANCELED (cancelled: ringo_cancel, ringo_cancel_cause, or
 * an ancestor's), or -ETIMEDOUT (its own or an ancestor's deadline). */
RINGO_API int ringo_ctx_err(ringo_ctx_t *ctx);
/* 0 while live; then the cause given to ringo_cancel_cause (on ctx or the
 * ancestor whose cancel reached it), else what ringo_ctx_err returns. */
RINGO_API int ringo_ctx_cause(ringo_ctx_t *ctx);
/* true and *deadline (if not NULL) set when ctx or an ancestor has one. */
RINGO_API bool ringo_ctx_deadline(ringo_ctx_t *ctx, int64_t *deadline);
/* Keys compare by address: a `static const char key;` per use cannot collide. */
RINGO_API void *ringo_ctx_value(ringo_ctx_t *ctx, const void *key);
/* Takes a reference; returns ctx. */
RINGO_API ringo_ctx_t *ringo_ctx_ref(ringo_ctx_t *ctx);
/* Drops a reference; the last one frees ctx (and drops its parent). */
RINGO_API void ringo_ctx_unref(ringo_ctx_t *ctx);

/* Go 1.21's AfterFunc: runs fn(arg) in a new fiber once ctx is cancelled
 * (at once if it already is). Returns a registration id (> 0), or 0 when fn
 * is NULL or memory (for the registration, or the fiber started at once)
 * ran out: then fn never runs. A cancel that cannot start the fiber later
 * ends the process (see the top of this file). */
RINGO_API uint64_t ringo_ctx_after_func(ringo_ctx_t *ctx, void (*fn)(void *), void *arg);
/* Unregisters it: true if that kept fn from being started. */
RINGO_API bool ringo_ctx_after_func_stop(ringo_ctx_t *ctx, uint64_t id);

/* case <-ctx.Done() in ringo_select. */
#define RINGO_DONE(ctx) RINGO_RECV(ringo_ctx_done(ctx), NULL)

/* defer cancel(): `ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(parent);`
 * cancels ctx and drops the creator's reference at scope exit (NULL: does
 * nothing). Earlier ringo_cancel calls in the scope are fine. */
static inline void ringo_ctx_cancel_cleanup_(ringo_ctx_t **ctx)
{
    if (*ctx) {
        ringo_cancel(*ctx);
        ringo_ctx_unref(*ctx);
    }
}
#define RINGO_DEFER_CANCEL __attribute__((cleanup(ringo_ctx_cancel_cleanup_)))

#ifdef __cplusplus
}
#endif
#endif

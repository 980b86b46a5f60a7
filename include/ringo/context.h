/* ringo/context.h - Go's context package: cancellation trees, deadlines and
 * request-scoped values.
 *
 * Every derived context holds a reference to its parent. The creator of a
 * cancellable context owns one reference and must call ringo_cancel exactly
 * once (RINGO_DEFER_CANCEL does it at scope exit): like Go's cancel(), it
 * cancels the context and its descendants and releases the creator's
 * reference. Another fiber that keeps using a context takes its own with
 * ringo_ctx_ref and drops it with ringo_ctx_unref. Value contexts are
 * released with ringo_ctx_unref. Background and TODO are never freed.
 *
 * A child detaches from its parent when cancelled or released, so a
 * long-lived parent does not accumulate dead children. Deriving a context
 * never starts a fiber; the done channel is made on first use; deadlines
 * use the runtime's timers.
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

RINGO_API ringo_ctx_t *ringo_background(void);
RINGO_API ringo_ctx_t *ringo_todo(void);
/* NULL only when memory ran out. */
RINGO_API ringo_ctx_t *ringo_with_cancel(ringo_ctx_t *parent);
RINGO_API ringo_ctx_t *ringo_with_timeout(ringo_ctx_t *parent, ringo_duration_t d);
RINGO_API ringo_ctx_t *ringo_with_deadline(ringo_ctx_t *parent, int64_t deadline); /* ringo_now() clock */
RINGO_API ringo_ctx_t *ringo_with_value(ringo_ctx_t *parent, const void *key, void *value);

/* Go's cancel(): cancels ctx (err -ECANCELED) and its descendants and drops
 * the creator's reference. Call exactly once per ringo_with_cancel /
 * _timeout / _deadline. */
RINGO_API void ringo_cancel(ringo_ctx_t *ctx);
/* Like ringo_cancel, recording why (Go 1.20's WithCancelCause): cause is an
 * -errno of the caller's choosing, reported by ringo_ctx_cause. */
RINGO_API void ringo_cancel_cause(ringo_ctx_t *ctx, int cause);

/* Closed when ctx is cancelled; NULL for contexts that can never be (a
 * select case on NULL never fires). Borrowed: valid while ctx is. */
RINGO_API ringo_chan_t *ringo_ctx_done(ringo_ctx_t *ctx);
/* 0 while live; -ECANCELED, or -ETIMEDOUT (deadline exceeded). */
RINGO_API int ringo_ctx_err(ringo_ctx_t *ctx);
/* The cause given to ringo_cancel_cause, else ringo_ctx_err. */
RINGO_API int ringo_ctx_cause(ringo_ctx_t *ctx);
RINGO_API bool ringo_ctx_deadline(ringo_ctx_t *ctx, int64_t *deadline);
/* Keys compare by address: a `static const char key;` per use cannot collide. */
RINGO_API void *ringo_ctx_value(ringo_ctx_t *ctx, const void *key);
RINGO_API ringo_ctx_t *ringo_ctx_ref(ringo_ctx_t *ctx);
RINGO_API void ringo_ctx_unref(ringo_ctx_t *ctx);

/* Go 1.21's AfterFunc: runs fn(arg) in a new fiber once ctx is cancelled
 * (at once if it already is). Returns a registration id (> 0), or 0 when
 * memory ran out. */
RINGO_API uint64_t ringo_ctx_after_func(ringo_ctx_t *ctx, void (*fn)(void *), void *arg);
/* Unregisters it: true if that kept fn from being started. */
RINGO_API bool ringo_ctx_after_func_stop(ringo_ctx_t *ctx, uint64_t id);

/* case <-ctx.Done() in ringo_select. */
#define RINGO_DONE(ctx) RINGO_RECV(ringo_ctx_done(ctx), NULL)

/* defer cancel(): `ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(parent);` */
static inline void ringo_ctx_cancel_cleanup_(ringo_ctx_t **ctx)
{
    if (*ctx)
        ringo_cancel(*ctx);
}
#define RINGO_DEFER_CANCEL __attribute__((cleanup(ringo_ctx_cancel_cleanup_)))

#ifdef __cplusplus
}
#endif
#endif

/* ringo/group.h - a group of fibers working on parts of one task, with
 * error propagation and cancellation (golang.org/x/sync/errgroup).
 *
 *   var g errgroup.Group           ringo_group_t g = {0};  (or RINGO_GROUP_INIT)
 *   g, ctx := WithContext(parent)  ringo_ctx_t *ctx RINGO_DEFER_CANCEL =
 *                                      ringo_group_with_context(&g, parent);
 *   g.Go(func() error {...})       ringo_group_go(&g, fn, arg), fn returning int
 *   g.TryGo(f)                     ringo_group_try_go(&g, fn, arg)
 *   g.SetLimit(n)                  ringo_group_set_limit(&g, n)
 *   err := g.Wait()                int err = ringo_group_wait(&g);
 *
 * A member's result is an int: 0 for success, anything else an error (a
 * -errno, or a code of the program's own). The first error wins: Wait
 * returns it, and it cancels the group's context (if the group has one)
 * with that error as the context's cause (ringo_ctx_cause), as
 * errgroup.WithContext does through context.WithCancelCause. Wait cancels
 * the context too, with no cause (ringo_ctx_err and ringo_ctx_cause then
 * give -ECANCELED), however the members ended.
 *
 * The zero value is a group with no limit and no context. Like the other
 * sync types, a group must not be copied after first use. A group may be
 * used again after Wait has returned (the first error stays: a group is for
 * one task, as in Go); ringo_group_go must not race with a Wait that could
 * be returning (Go's "the first call to Go must happen before a Wait").
 * A group holds no memory of its own: nothing to free.
 *
 * Panics. A member that panics ends the program there and then, with the
 * panic's message and the fiber dump, like any panicking fiber: the panic
 * is not carried to Wait. That is what x/sync does today (it tried
 * re-raising panics in Wait and went back: a delayed panic hides where it
 * happened, and a Wait that is never reached hides it altogether); and
 * ringo, like C, has no recover to catch a panic with. A member that leaves
 * its fiber with ringo_exit (Go's runtime.Goexit) counts as having
 * returned 0.
 *
 * Where C forces a difference from Go: ringo_group_go and
 * ringo_group_try_go can fail to start a fiber (-ENOMEM); then fn never
 * runs, the caller still owns arg, and the group is as before the call.
 */
#ifndef RINGO_GROUP_H
#define RINGO_GROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <ringo/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ringo_ctx ringo_ctx_t;

typedef struct ringo_group { uint64_t opaque_[14]; } ringo_group_t;

/* The zero group, for initialisers: `ringo_group_t g = RINGO_GROUP_INIT;`. */
#define RINGO_GROUP_INIT {{0}}

/* errgroup.WithContext: makes *g a fresh group (whatever it held before;
 * no member of it may be running) whose context is a new child of parent
 * (NULL: ringo_background()), and returns that context. It is cancelled
 * with the first error as its cause, or when ringo_group_wait returns,
 * whichever comes first; hand it to the members. The returned context is
 * the caller's reference (ringo_with_cancel's): the group borrows it, so
 * release it (ringo_ctx_unref, or RINGO_DEFER_CANCEL at the declaration)
 * only after the last ringo_group_wait has returned. NULL when memory ran
 * out; *g is then untouched. */
RINGO_API ringo_ctx_t *ringo_group_with_context(ringo_group_t *g, ringo_ctx_t *parent);

/* Group.Go: starts fn(arg) in a new fiber that is a member of g. With a
 * limit set, first waits until fewer than the limit are in flight (forever
 * with a limit of 0). The first member to return non-zero cancels the
 * group's context. Returns 0, -EINVAL for a NULL fn (nothing waited for
 * or started), or -ENOMEM when no fiber could be started (see the top of
 * this file). The macro records the call site and fn's
 * name for fiber dumps, as ringo_go does. */
RINGO_API int ringo_group_go_at(ringo_group_t *g, int (*fn)(void *), void *arg,
                                const char *file, int line, const char *fn_name);
#define ringo_group_go(g, fn, arg) \
    ringo_group_go_at((g), (fn), (arg), __FILE__, __LINE__, #fn)

/* Group.TryGo: like ringo_group_go, but starts fn only if that keeps the
 * members in flight within the limit; never waits. Returns 1 if fn was
 * started, 0 if the limit is reached (fn not started), -EINVAL or -ENOMEM
 * as above. */
RINGO_API int ringo_group_try_go_at(ringo_group_t *g, int (*fn)(void *), void *arg,
                                    const char *file, int line, const char *fn_name);
#define ringo_group_try_go(g, fn, arg) \
    ringo_group_try_go_at((g), (fn), (arg), __FILE__, __LINE__, #fn)

/* Group.SetLimit: at most n members in flight from now on; n < 0 removes
 * the limit; 0 lets no new member start. Changing a limit while members
 * started under it are still in flight panics, as in Go: "errgroup: modify
 * limit while N goroutines in the group are still active". */
RINGO_API void ringo_group_set_limit(ringo_group_t *g, int n);

/* Group.Wait: waits until every member started so far has returned, then
 * cancels the group's context (if any) and returns the first non-zero
 * result of a member, or 0. Callable again after more members. */
RINGO_API int ringo_group_wait(ringo_group_t *g);

#ifdef __cplusplus
}
#endif
#endif

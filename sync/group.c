/* sync/group.c - error groups (golang.org/x/sync/errgroup).
 *
 * Built from the sync types, as x/sync builds it from Go's: a WaitGroup
 * counts the members, a weighted semaphore (x/sync's buffered channel of
 * tokens) bounds how many are in flight, and one atomic word holds the
 * first error. Each member runs in a fiber whose entry frame carries a
 * copy of {g, fn, arg, token} (ringo_go_copy: no allocation) and a cleanup
 * handler that gives back the token and marks the member done - Go's
 * `defer g.done()`, so a member leaving through ringo_exit is counted too.
 *
 * Invariants. err goes from 0 to the first non-zero result once and never
 * changes again; only the member that set it cancels ctx with it as the
 * cause. tokens counts the members that hold a semaphore unit: taken
 * before the WaitGroup add, given back (sem first, then the count) before
 * the WaitGroup done, so set_limit seeing zero knows no release is still
 * touching the semaphore it is about to reset. A member records its error
 * before its done, so Wait, which returns after the last done, reads it.
 *
 * Locks: none of its own. The semaphore's and the WaitGroup's are taken
 * inside their calls; cancelling ctx takes context locks with none held.
 * ctx and limited are plain fields, written only while no member of the
 * group runs (with_context, set_limit) and read by the caller of go, wait
 * and by members, which ringo_go orders after the writes.
 */
#include <ringo/context.h>
#include <ringo/group.h>
#include <ringo/runtime.h>
#include <ringo/sync.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

struct group {
    ringo_waitgroup_t wg;       /* members started and not yet done */
    ringo_sem_t sem;            /* the limit, when `limited` */
    ringo_ctx_t *ctx;           /* borrowed from with_context's caller; NULL: none */
    _Atomic int64_t tokens;     /* semaphore units held by members */
    _Atomic int err;            /* the first non-zero result; 0 until then */
    bool limited;
};
_Static_assert(sizeof(struct group) <= sizeof(ringo_group_t), "ringo_group_t too small");

/* What a member's fiber is started with, copied onto its stack. */
struct member {
    struct group *g;
    int (*fn)(void *);
    void *arg;
    bool token;                 /* holds a semaphore unit */
};

static void give_back_token(struct group *g)
{
    ringo_sem_release(&g->sem, 1);
    atomic_fetch_sub(&g->tokens, 1);
}

/* defer g.done(): runs when fn returns and when it leaves by ringo_exit. */
static void member_done(struct member **mp)
{
    struct member *m = *mp;
    if (m->token)
        give_back_token(m->g);
    ringo_waitgroup_done(&m->g->wg);
}

static void member_main(void *arg)
{
    __attribute__((cleanup(member_done))) struct member *m = arg;
    int rc = m->fn(m->arg);
    int none = 0;
    if (rc != 0 && atomic_compare_exchange_strong(&m->g->err, &none, rc) && m->g->ctx)
        ringo_cancel_cause(m->g->ctx, rc);
}

/* Starts the member once its token (if any) is held; undoes the token on
 * failure, so the group is as before the call. */
static int start(struct group *g, int (*fn)(void *), void *arg, bool token,
                 const char *file, int line, const char *fn_name)
{
    struct member m = {g, fn, arg, token};
    ringo_waitgroup_add(&g->wg, 1);
    int rc = ringo_go_copy_at(member_main, &m, sizeof(m), file, line, fn_name);
    if (rc < 0) {
        ringo_waitgroup_done(&g->wg);
        if (token)
            give_back_token(g);
    }
    return rc;
}

ringo_ctx_t *ringo_group_with_context(ringo_group_t *gp, ringo_ctx_t *parent)
{
    ringo_ctx_t *ctx = ringo_with_cancel(parent);
    if (!ctx)
        return NULL;
    struct group *g = (struct group *)gp;
    memset(g, 0, sizeof(*g));
    g->ctx = ctx;
    return ctx;
}

int ringo_group_go_at(ringo_group_t *gp, int (*fn)(void *), void *arg,
                      const char *file, int line, const char *fn_name)
{
    struct group *g = (struct group *)gp;
    if (!fn)
        return -EINVAL;
    bool token = g->limited;
    if (token) {
        ringo_sem_acquire(NULL, &g->sem, 1);    /* with no ctx it only returns 0 */
        atomic_fetch_add(&g->tokens, 1);
    }
    return start(g, fn, arg, token, file, line, fn_name);
}

int ringo_group_try_go_at(ringo_group_t *gp, int (*fn)(void *), void *arg,
                          const char *file, int line, const char *fn_name)
{
    struct group *g = (struct group *)gp;
    if (!fn)
        return -EINVAL;
    bool token = g->limited;
    if (token) {
        if (!ringo_sem_try_acquire(&g->sem, 1))
            return 0;
        atomic_fetch_add(&g->tokens, 1);
    }
    int rc = start(g, fn, arg, token, file, line, fn_name);
    return rc < 0 ? rc : 1;
}

void ringo_group_set_limit(ringo_group_t *gp, int n)
{
    struct group *g = (struct group *)gp;
    if (n < 0) {
        g->limited = false;
        return;
    }
    int64_t active = atomic_load(&g->tokens);
    if (active != 0)
        ringo_panic("errgroup: modify limit while %lld goroutines in the group are still active",
                    (long long)active);
    ringo_sem_init(&g->sem, n);
    g->limited = true;
}

int ringo_group_wait(ringo_group_t *gp)
{
    struct group *g = (struct group *)gp;
    ringo_waitgroup_wait(&g->wg);
    int err = atomic_load(&g->err);
    if (g->ctx)
        ringo_cancel_cause(g->ctx, err);
    return err;
}

/* sync/context.c - Go's context package: cancellation trees, deadlines,
 * values, AfterFunc and cancel causes.
 *
 * Structure. A context holds a reference to its parent. A cancellable
 * context (with_cancel / _timeout / _deadline) is linked into the children
 * list of its nearest cancellable ancestor (value contexts are skipped, as
 * in Go's parentCancelCtx); background and TODO have no list, so their
 * children are never linked anywhere. Cancelling walks the subtree with an
 * explicit work list (no recursion: a chain may be arbitrarily deep),
 * closing done channels, running watchers and starting AfterFunc fibers. A
 * child unlinks itself from its ancestor when it is cancelled or freed, so a
 * long-lived parent does not accumulate dead children.
 *
 * Lifetimes. refs counts the creator's reference, ringo_ctx_ref holders and
 * each child's reference on its parent. A child that a cancelling parent is
 * about to visit is pinned with a "ref unless already dying" increment; a
 * child found dying is skipped (it unlinks itself in its free path). The
 * deadline timer is a sync timer: the free path waits out a fire in
 * progress before the memory goes.
 *
 * Locks. c->lock protects c's children list, its watcher list, its done
 * channel and the `attached` field of each child linked to it. Only one
 * context lock is held at a time; channels are closed, watchers run and
 * fibers started after it is released. err, cause and attached are also
 * read without the lock (atomics).
 */
#include "waitq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { CTX_ROOT, CTX_CANCEL, CTX_VALUE };

struct ringo_ctx {
    _Atomic long refs;
    int kind;
    ringo_ctx_t *parent;
    const void *key;                        /* CTX_VALUE */
    void *value;

    ringo__spinlock_t lock;
    _Atomic int err;
    _Atomic int cause;
    ringo_chan_t *done;                     /* made on first use */
    ringo_ctx_t *children;                  /* cancellable descendants linked here */
    ringo_ctx_t *sib_next, *sib_prev;       /* in attached->children */
    ringo_ctx_t *_Atomic attached;          /* the ancestor whose list holds us */
    ringo_ctx_t *work_next;                 /* cancellation work list */
    ringo__ctx_watch_t *watches;
    uint64_t next_watch_id;
    bool has_deadline;
    int64_t deadline;
    ringo__timer_t timer;
};

/* c->lock doubles as Go's c.mu for the race detector: whatever one holder
 * did, the next holder sees (cancel -> Err, AfterFunc -> its cancel). */
static inline void ctx_lock(ringo_ctx_t *c)
{
    ringo__spin_lock_hb(&c->lock, c);
}

static inline void ctx_unlock(ringo_ctx_t *c)
{
    ringo__spin_unlock_hb(&c->lock, c);
}

static ringo_ctx_t background_ctx = {.kind = CTX_ROOT};
static ringo_ctx_t todo_ctx = {.kind = CTX_ROOT};

ringo_ctx_t *ringo_background(void)
{
    return &background_ctx;
}

ringo_ctx_t *ringo_todo(void)
{
    return &todo_ctx;
}

static bool is_root(const ringo_ctx_t *c)
{
    return !c || c->kind == CTX_ROOT;
}

/* The nearest cancellable context at or above c, or NULL. */
static ringo_ctx_t *cancel_ancestor(ringo_ctx_t *c)
{
    while (c && c->kind == CTX_VALUE)
        c = c->parent;
    return c && c->kind == CTX_CANCEL ? c : NULL;
}

ringo_ctx_t *ringo_ctx_ref(ringo_ctx_t *c)
{
    if (!is_root(c))
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

/* Takes a reference unless the context is already being freed. */
static bool ref_unless_dying(ringo_ctx_t *c)
{
    long r = atomic_load(&c->refs);
    while (r > 0)
        if (atomic_compare_exchange_weak(&c->refs, &r, r + 1))
            return true;
    return false;
}

static void detach(ringo_ctx_t *c)
{
    for (;;) {
        ringo_ctx_t *a = atomic_load(&c->attached);
        if (!a)
            return;
        ctx_lock(a);
        if (atomic_load(&c->attached) == a) {
            if (c->sib_prev)
                c->sib_prev->sib_next = c->sib_next;
            else
                a->children = c->sib_next;
            if (c->sib_next)
                c->sib_next->sib_prev = c->sib_prev;
            c->sib_next = c->sib_prev = NULL;
            atomic_store(&c->attached, NULL);
            ctx_unlock(a);
            return;
        }
        ctx_unlock(a);
    }
}

static void free_one(ringo_ctx_t *c)
{
    if (c->kind == CTX_CANCEL) {
        if (c->has_deadline)
            ringo__timer_del_sync(&c->timer);
        detach(c);
        /* AfterFuncs never triggered go with the context. */
        for (ringo__ctx_watch_t *w = c->watches, *n; w; w = n) {
            n = w->next;
            if (!w->internal)
                ringo__free(w);
        }
        ringo_chan_unref(c->done);
    }
    ringo__free(c);
}

void ringo_ctx_unref(ringo_ctx_t *c)
{
    /* Iterative: dropping a child may drop its parent, and so on. */
    while (!is_root(c) && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        ringo_ctx_t *parent = c->parent;
        free_one(c);
        c = parent;
    }
}

/* ---- cancellation ------------------------------------------------------------------- */

static void start_after_func(ringo__ctx_watch_t *w)
{
    if (ringo_go_at(w->fn, w->arg, "ringo_ctx_after_func", 0, "after_func") < 0)
        ringo__throw("out of memory starting a context AfterFunc");
}

/* Cancels c alone; queues its pinned children on *work. */
static void cancel_one(ringo_ctx_t *c, int err, int cause, ringo_ctx_t **work)
{
    ctx_lock(c);
    if (atomic_load(&c->err)) {
        ctx_unlock(c);
        return;
    }
    atomic_store(&c->cause, cause ? cause : err);
    /* Before err is visible: ringo_ctx_err reads it without the lock and
     * acquires right after (test_race caught the release coming too late). */
    RINGO_RACE_RELEASE(c);
    atomic_store(&c->err, err);
    ringo_chan_t *done = c->done;
    for (ringo_ctx_t *ch = c->children, *n; ch; ch = n) {
        n = ch->sib_next;
        ch->sib_next = ch->sib_prev = NULL;
        atomic_store(&ch->attached, NULL);
        if (ref_unless_dying(ch)) {
            ch->work_next = *work;
            *work = ch;
        }
    }
    c->children = NULL;
    ringo__ctx_watch_t *watches = c->watches;
    for (ringo__ctx_watch_t *w = watches; w; w = w->next) {
        atomic_store(&w->firing, 1);
        w->listed = false;
    }
    c->watches = NULL;
    ctx_unlock(c);

    if (done)
        ringo_chan_close(done);
    for (ringo__ctx_watch_t *w = watches, *n; w; w = n) {
        n = w->next;
        if (w->internal) {
            w->fn(w->arg);
            atomic_store_explicit(&w->firing, 0, memory_order_release);
        } else {
            start_after_func(w);
            ringo__free(w);
        }
    }
}

static void cancel_tree(ringo_ctx_t *root, int err, int cause)
{
    ringo_ctx_t *work = NULL;
    cancel_one(root, err, cause, &work);
    while (work) {
        ringo_ctx_t *c = work;
        work = c->work_next;
        /* A descendant of a cause-cancelled context reports that cause. */
        cancel_one(c, err, cause, &work);
        ringo_ctx_unref(c);
    }
}

static void cancel_with(ringo_ctx_t *c, int cause)
{
    if (!c)
        return;
    if (c->kind != CTX_CANCEL) {
        ringo_ctx_unref(c);
        return;
    }
    cancel_tree(c, -ECANCELED, cause);
    detach(c);
    ringo_ctx_unref(c);     /* the creator's reference */
}

void ringo_cancel(ringo_ctx_t *c)
{
    cancel_with(c, 0);
}

void ringo_cancel_cause(ringo_ctx_t *c, int cause)
{
    cancel_with(c, cause);
}

/* ---- deriving ------------------------------------------------------------------------ */

static ringo_ctx_t *derive(ringo_ctx_t *parent, int kind)
{
    ringo_ctx_t *c = ringo__calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
    c->kind = kind;
    c->parent = ringo_ctx_ref(parent ? parent : &background_ctx);
    c->timer.heap_index = -1;
    return c;
}

/* Links c under its cancellable ancestor, or cancels it at once if that
 * ancestor is already cancelled. */
static void propagate(ringo_ctx_t *c)
{
    ringo_ctx_t *a = cancel_ancestor(c->parent);
    if (!a)
        return;
    ctx_lock(a);
    int err = atomic_load(&a->err);
    if (!err) {
        c->sib_prev = NULL;
        c->sib_next = a->children;
        if (a->children)
            a->children->sib_prev = c;
        a->children = c;
        atomic_store(&c->attached, a);
    }
    ctx_unlock(a);
    if (err)
        cancel_tree(c, err, atomic_load(&a->cause));
}

ringo_ctx_t *ringo_with_cancel(ringo_ctx_t *parent)
{
    ringo_ctx_t *c = derive(parent, CTX_CANCEL);
    if (c)
        propagate(c);
    return c;
}

ringo_ctx_t *ringo_with_value(ringo_ctx_t *parent, const void *key, void *value)
{
    ringo_ctx_t *c = derive(parent, CTX_VALUE);
    if (c) {
        c->key = key;
        c->value = value;
    }
    return c;
}

static void deadline_fire(ringo__timer_t *t)
{
    ringo_ctx_t *c = t->arg;
    cancel_tree(c, -ETIMEDOUT, 0);
    detach(c);
}

ringo_ctx_t *ringo_with_deadline(ringo_ctx_t *parent, int64_t deadline)
{
    int64_t cur;
    if (ringo_ctx_deadline(parent, &cur) && cur <= deadline)
        return ringo_with_cancel(parent);   /* the parent's comes first */
    ringo_ctx_t *c = derive(parent, CTX_CANCEL);
    if (!c)
        return NULL;
    c->has_deadline = true;
    c->deadline = deadline;
    propagate(c);
    if (deadline <= ringo__now()) {
        cancel_tree(c, -ETIMEDOUT, 0);
        detach(c);
        return c;
    }
    c->timer.when = deadline;
    c->timer.fire = deadline_fire;
    c->timer.arg = c;
    c->timer.sync = true;
    ringo__timer_arm(&c->timer);
    return c;
}

ringo_ctx_t *ringo_with_timeout(ringo_ctx_t *parent, ringo_duration_t d)
{
    int64_t now = ringo__now();
    return ringo_with_deadline(parent, d > INT64_MAX - now ? INT64_MAX : now + d);
}

/* ---- queries -------------------------------------------------------------------------- */

ringo_chan_t *ringo_ctx_done(ringo_ctx_t *c)
{
    c = cancel_ancestor(c);
    if (!c)
        return NULL;
    ctx_lock(c);
    if (!c->done) {
        c->done = ringo_chan_make(0, 0);
        if (c->done && atomic_load(&c->err))
            ringo_chan_close(c->done);
    }
    ringo_chan_t *d = c->done;
    ctx_unlock(c);
    return d;
}

int ringo_ctx_err(ringo_ctx_t *c)
{
    c = cancel_ancestor(c);
    if (!c)
        return 0;
    int err = atomic_load(&c->err);
    RINGO_RACE_ACQUIRE(c);      /* Go's Err takes c.mu */
    return err;
}

int ringo_ctx_cause(ringo_ctx_t *c)
{
    c = cancel_ancestor(c);
    if (!c || !atomic_load(&c->err))
        return 0;
    RINGO_RACE_ACQUIRE(c);
    return atomic_load(&c->cause);
}

bool ringo_ctx_deadline(ringo_ctx_t *c, int64_t *deadline)
{
    for (; c; c = c->parent) {
        if (c->kind == CTX_CANCEL && c->has_deadline) {
            if (deadline)
                *deadline = c->deadline;
            return true;
        }
    }
    return false;
}

void *ringo_ctx_value(ringo_ctx_t *c, const void *key)
{
    for (; c; c = c->parent)
        if (c->kind == CTX_VALUE && c->key == key)
            return c->value;
    return NULL;
}

/* ---- AfterFunc and internal watchers -------------------------------------------------------- */

/* Adds w to c's list; false (w not added) if c is already cancelled. */
static bool watch_add(ringo_ctx_t *c, ringo__ctx_watch_t *w)
{
    ctx_lock(c);
    if (atomic_load(&c->err)) {
        ctx_unlock(c);
        return false;
    }
    w->id = ++c->next_watch_id;
    w->listed = true;
    w->prev = NULL;
    w->next = c->watches;
    if (c->watches)
        c->watches->prev = w;
    c->watches = w;
    ctx_unlock(c);
    return true;
}

/* Takes w off c's list; c->lock held, w listed. */
static void watch_unlink(ringo_ctx_t *c, ringo__ctx_watch_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        c->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->listed = false;
}

/* Removes w if still listed: true. Else a cancel took it; for an internal
 * watcher, waits until its fn has returned. */
static bool watch_remove(ringo_ctx_t *c, ringo__ctx_watch_t *w)
{
    ctx_lock(c);
    bool listed = w->listed;
    if (listed)
        watch_unlink(c, w);
    ctx_unlock(c);
    if (!listed && w->internal)
        while (atomic_load_explicit(&w->firing, memory_order_acquire))
            ;
    return listed;
}

/* Ids for registrations that never reach a list. */
#define ID_NEVER (UINT64_MAX - 1)       /* a context that cannot be cancelled */
#define ID_STARTED UINT64_MAX           /* already cancelled: fn started at once */

uint64_t ringo_ctx_after_func(ringo_ctx_t *ctx, void (*fn)(void *), void *arg)
{
    ringo_ctx_t *c = cancel_ancestor(ctx);
    if (!c)
        return ID_NEVER;        /* never cancelled: never runs */
    ringo__ctx_watch_t *w = ringo__calloc(1, sizeof(*w));
    if (!w)
        return 0;
    w->fn = fn;
    w->arg = arg;
    if (!watch_add(c, w)) {
        start_after_func(w);    /* already cancelled: at once */
        ringo__free(w);
        return ID_STARTED;
    }
    return w->id;
}

bool ringo_ctx_after_func_stop(ringo_ctx_t *ctx, uint64_t id)
{
    ringo_ctx_t *c = cancel_ancestor(ctx);
    if (!c || id == ID_NEVER || id == ID_STARTED)
        return id == ID_NEVER;  /* Go: stopping one that could never run "stopped" it */
    ctx_lock(c);
    ringo__ctx_watch_t *w = c->watches;
    while (w && !(w->id == id && !w->internal))
        w = w->next;
    if (w)
        watch_unlink(c, w);
    ctx_unlock(c);
    ringo__free(w);
    return w != NULL;
}

/* ---- for sync/sem.c: wake a waiter when its context ends ------------------------------ */

bool ringo__ctx_watch(ringo_ctx_t *ctx, ringo__ctx_watch_t *w, void (*on_cancel)(void *), void *arg)
{
    memset(w, 0, sizeof(*w));
    w->internal = true;
    w->fn = on_cancel;
    w->arg = arg;
    ringo_ctx_t *c = cancel_ancestor(ctx);
    return !c || watch_add(c, w);
}

void ringo__ctx_unwatch(ringo_ctx_t *ctx, ringo__ctx_watch_t *w)
{
    ringo_ctx_t *c = cancel_ancestor(ctx);
    if (c)
        watch_remove(c, w);
}

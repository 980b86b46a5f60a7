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
 * Lifetimes. Stopping and freeing are separate, as Go's cancel() and its
 * garbage collector are. ringo_cancel only cancels: it is idempotent and
 * frees nothing, so an early cancel followed by a deferred one is safe and
 * the context stays readable in between. Memory goes when refs reaches
 * zero; refs counts
 *   - the creator's reference (what ringo_with_* returned), dropped by the
 *     creator's ringo_ctx_unref or by RINGO_DEFER_CANCEL;
 *   - each ringo_ctx_ref;
 *   - each child's reference on its parent;
 *   - the armed deadline timer's reference (Go's shape: cancel stops the
 *     timer and drops the timer's reference if it stopped it; a fire drops
 *     it at its very end; the shutdown dispose drops it for a timer that
 *     never fired). Exactly one of them took the timer off its heap, and
 *     only that one drops it. So nothing frees a context whose timer is
 *     pending or firing, and freeing never waits for a timer;
 *   - a cancel's pin on a child it is about to visit: "ref unless already
 *     dying"; a child found dying is skipped (it unlinks itself as it goes).
 *     The pin comes before the cancel clears the child's `attached`, and a
 *     child found dying is not touched after that store: a dying child's
 *     free waits in detach only while `attached` names the ancestor, and
 *     frees the child the moment it reads NULL. (Clearing first used to let
 *     the child's last unref, on another worker, free it between the store
 *     and the pin: the pin then read freed memory, or pinned whatever new
 *     context the allocator had put there and pushed that onto the work
 *     list, corrupting the heap under load.)
 * Every entry point needs its caller to hold a reference. In builds with
 * assertions, a freed context is overwritten with a poison pattern and the
 * entry points check its magic, so a stale handle panics where it is used.
 *
 * Locks. c->lock protects c's children list, its watcher list (and each
 * watcher's `listed`), the first store of err and cause, the installing of
 * the done channel, and the `sib` link and `attached` field of each child
 * linked to c. It is a leaf in the runtime's lock order: only one context
 * lock is held at a time, and nothing else is taken under it (no channel,
 * timer or allocation). Channels are made and closed, timers armed and
 * stopped, watchers run and fibers started with no context lock held.
 * err, cause, attached and the settling fields are also read without the
 * lock (atomics; attached is confirmed under the lock).
 *
 * Settled. Go's cancel() returns only when the whole subtree is cancelled,
 * even if another cancel got there first (it waits on the child's mutex).
 * Ours walks without holding locks, so each cancelled context counts the
 * parts of its cancel still under way in `unsettled`: its own (done
 * closed, watchers run, timer stopped) plus one per pinned child whose
 * settling it awaits. A child learns whom to tell through settle_to: the
 * cancel that unlinks it sets it to its old ancestor (a CAS from NULL),
 * the child's settling swaps in SETTLED; whichever comes second knows
 * whether the ancestor counts the child. The last part settles a context
 * and passes one part up. ringo_cancel waits until its context is settled;
 * walks and timer fires never wait, so every walk ends and no wait cycle
 * can form.
 *
 * Invariants. err goes from 0 to an -errno once and never back; a context
 * with err set has empty children and watcher lists, nothing is added to
 * either after, and it leaves its ancestor's list (unlinked by the
 * ancestor's cancel, or by its own cancel's detach). A child is on its ancestor's list iff its attached names that
 * ancestor. A node taken off a children list by a cancel is pinned and
 * reuses its `sib` link on that cancel's work list (nothing else touches a
 * detached node's link). A context is settled only after every descendant
 * that was linked under it when it was cancelled.
 */
#include "ctx_watch.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { CTX_ROOT, CTX_CANCEL, CTX_VALUE };

/* Debug builds: a live context's magic; a freed one is poisoned
 * (ringo__free_poisoned), which no live magic matches. */
#define CTX_MAGIC 0x52435458u          /* "RCTX" */

struct ringo_ctx {
    _Atomic long refs;
    int kind;
    ringo_ctx_t *parent;
    /* Past the allocator's free-list words (glibc's first 16 bytes), so
     * the poison survives free() until the memory is reused. */
    uint32_t magic;
    const void *key;                        /* CTX_VALUE */
    void *value;

    ringo__spinlock_t lock;                 /* protects what the header says */
    _Atomic int err;
    _Atomic int cause;
    ringo_chan_t *done;                     /* made on first use */
    ringo__list_t children;                 /* cancellable descendants linked here */
    ringo__list_t watches;                  /* ringo__ctx_watch_t.link */
    uint64_t next_watch_id;
    ringo__link_t sib;                      /* in attached->children, then a work list */
    ringo_ctx_t *_Atomic attached;          /* the ancestor whose list holds us */
    /* Settling (see "Settled" above): the parts of c's cancel not yet
     * done, and whom to tell when they are (NULL: nobody; SETTLED: done). */
    _Atomic long unsettled;
    ringo_ctx_t *_Atomic settle_to;
    bool has_deadline;
    int64_t deadline;
    ringo__timer_t timer;                   /* armed: holds a reference */
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

static char settled_mark;
#define SETTLED ((ringo_ctx_t *)(void *)&settled_mark)

static ringo_ctx_t background_ctx = {.kind = CTX_ROOT, .magic = CTX_MAGIC};
static ringo_ctx_t todo_ctx = {.kind = CTX_ROOT, .magic = CTX_MAGIC};

/* Panics on a handle to freed memory (debug builds), at the use. */
static inline ringo_ctx_t *live(ringo_ctx_t *c, const char *fn)
{
    RINGO__CHECK_LIVE(c, CTX_MAGIC, fn, "context");
    return c;
}

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

static ringo_ctx_t *sib_ctx(ringo__link_t *l)
{
    return ringo__container_of(l, ringo_ctx_t, sib);
}

static ringo__ctx_watch_t *link_watch(ringo__link_t *l)
{
    return ringo__container_of(l, ringo__ctx_watch_t, link);
}

ringo_ctx_t *ringo_ctx_ref(ringo_ctx_t *c)
{
    if (!is_root(live(c, "ringo_ctx_ref")))
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

/* Takes c off its ancestor's children list, if it is on one. */
static void detach(ringo_ctx_t *c)
{
    for (;;) {
        ringo_ctx_t *a = atomic_load(&c->attached);
        if (!a)
            return;
        /* a is alive: c's parent chain holds a reference to it. */
        ctx_lock(a);
        if (atomic_load(&c->attached) == a) {
            ringo__list_remove(&a->children, &c->sib);
            atomic_store(&c->attached, NULL);
            ctx_unlock(a);
            return;
        }
        ctx_unlock(a);
    }
}

/* refs reached zero: no child, no pin, no timer refers to c any more. */
static void free_one(ringo_ctx_t *c)
{
    if (c->kind == CTX_CANCEL) {
        assert(!__atomic_load_n(&c->timer.heap, __ATOMIC_ACQUIRE));
        assert(ringo__list_empty(&c->children));
        detach(c);
        /* AfterFuncs never triggered go with the context. An internal
         * watcher's owner holds a reference until it unwatches. */
        ringo__list_foreach_safe(&c->watches, l, nx) {
            assert(!link_watch(l)->internal);
            ringo__free(link_watch(l));
        }
        ringo_chan_unref(c->done);
    }
    ringo__free_poisoned(c, sizeof(*c));
}

void ringo_ctx_unref(ringo_ctx_t *c)
{
    live(c, "ringo_ctx_unref");
    /* Iterative: dropping a child may drop its parent, and so on. */
    while (!is_root(c) && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        ringo_ctx_t *parent = c->parent;
        free_one(c);
        c = parent;
    }
}

/* ---- cancellation ------------------------------------------------------------------- */

/* An AfterFunc whose context was cancelled. Nobody is left to tell of a
 * failure, and the registration promised fn would run: as in Go, a fiber
 * that cannot be started for want of memory is fatal. */
static void start_after_func(ringo__ctx_watch_t *w)
{
    int rc = ringo_go_at(w->fn, w->arg, "ringo_ctx_after_func", 0, "after_func");
    if (rc < 0)
        ringo__throw("cannot start a context AfterFunc (%s)", strerror(-rc));
}

/* One part of c's cancel is done; the last one settles c and tells the
 * context c reports to, and so on up. The caller holds a reference to c,
 * and c's chain of parent references holds everything above. */
static void settle(ringo_ctx_t *c)
{
    while (c && atomic_fetch_sub_explicit(&c->unsettled, 1, memory_order_acq_rel) == 1) {
        ringo_ctx_t *up = atomic_exchange_explicit(&c->settle_to, SETTLED, memory_order_acq_rel);
        c = up == SETTLED ? NULL : up;
    }
}

/* Go's cancel returns only once the whole subtree is cancelled, even when
 * another cancel got there first (it waits on the child's mutex): so does
 * ours. Only ringo_cancel waits; a walk never does, so every walk ends.
 * A few yields cover the usual short wait; after them it sleeps, 1 us
 * doubling to 1 ms, so that many losing cancels (a thousand fibers
 * cancelling one tree at once) leave the workers to the walks they wait
 * for instead of cycling through each other's yields. */
static void wait_settled(ringo_ctx_t *c)
{
    int64_t nap = RINGO_MICROSECOND;
    for (int i = 0; atomic_load_explicit(&c->settle_to, memory_order_acquire) != SETTLED; i++) {
        if (i < 16) {
            ringo_yield();
            continue;
        }
        ringo_sleep(nap);
        if (nap < RINGO_MILLISECOND)
            nap *= 2;
    }
}

/* Cancels c alone; queues its pinned children on *work. The caller holds a
 * reference to c (its own, a pin, or the firing timer's). */
static void cancel_one(ringo_ctx_t *c, int err, int cause, ringo__list_t *work)
{
    ctx_lock(c);
    if (atomic_load(&c->err)) {
        ctx_unlock(c);
        return;         /* another cancel's; it settles c */
    }
    atomic_store_explicit(&c->unsettled, 1, memory_order_relaxed);     /* c's own part */
    atomic_store(&c->cause, cause ? cause : err);
    /* Before err is visible: ringo_ctx_err reads it without the lock and
     * acquires right after (test_race caught the release coming too late). */
    RINGO_RACE_RELEASE(c);
    atomic_store(&c->err, err);
    ringo_chan_t *done = c->done;
    for (ringo__link_t *l; (l = ringo__list_pop_front(&c->children));) {
        ringo_ctx_t *ch = sib_ctx(l);
        /* Pin first, then clear attached, and after a failed pin touch ch
         * no more: a dying ch's free (detach) returns the moment it reads
         * attached as NULL, and frees ch. */
        bool pinned = ref_unless_dying(ch);
        atomic_store(&ch->attached, NULL);
        if (!pinned)
            continue;   /* being freed: gone once attached is NULL */
        ringo__list_push_back(work, &ch->sib);
        /* c settles after ch, unless ch (cancelled by its own cancel
         * meanwhile) has settled already. Counted first: ch may settle
         * the moment it is told about c. */
        ringo_ctx_t *none = NULL;
        atomic_fetch_add_explicit(&c->unsettled, 1, memory_order_relaxed);
        if (!atomic_compare_exchange_strong(&ch->settle_to, &none, c))
            atomic_fetch_sub_explicit(&c->unsettled, 1, memory_order_relaxed);
    }
    ringo__list_t watches = c->watches;
    c->watches = (ringo__list_t){0};
    for (ringo__link_t *l = watches.first; l; l = l->next) {
        atomic_store(&link_watch(l)->firing, 1);
        link_watch(l)->listed = false;
    }
    ctx_unlock(c);

    /* A stopped timer's reference is ours to drop; a fire already under way
     * drops its own. The caller's reference keeps c alive past this. */
    if (c->has_deadline && ringo__timer_del(&c->timer))
        ringo_ctx_unref(c);
    if (done)
        ringo_chan_close(done);
    ringo__list_foreach_safe(&watches, l, nx) {
        ringo__ctx_watch_t *w = link_watch(l);
        if (w->internal) {
            w->fn(w->arg);
            /* Its owner may free w from here on (nx was read already). */
            atomic_store_explicit(&w->firing, 0, memory_order_release);
        } else {
            start_after_func(w);
            ringo__free(w);
        }
    }
    settle(c);
}

/* Cancels root and its subtree and takes root off its ancestor's list. */
static void cancel_tree(ringo_ctx_t *root, int err, int cause)
{
    ringo__list_t work = {0};
    cancel_one(root, err, cause, &work);
    detach(root);
    for (ringo__link_t *l; (l = ringo__list_pop_front(&work));) {
        ringo_ctx_t *c = sib_ctx(l);
        /* A descendant of a cause-cancelled context reports that cause. */
        cancel_one(c, err, cause, &work);
        ringo_ctx_unref(c);     /* the pin */
    }
}

static void cancel_with(ringo_ctx_t *c, int cause, const char *fn)
{
    if (live(c, fn) && c->kind == CTX_CANCEL) {
        cancel_tree(c, -ECANCELED, cause);
        wait_settled(c);
    }
}

void ringo_cancel(ringo_ctx_t *c)
{
    cancel_with(c, 0, "ringo_cancel");
}

void ringo_cancel_cause(ringo_ctx_t *c, int cause)
{
    cancel_with(c, cause, "ringo_cancel_cause");
}

/* ---- deriving ------------------------------------------------------------------------ */

static ringo_ctx_t *derive(ringo_ctx_t *parent, int kind)
{
    live(parent, "ringo_with_*");
    ringo_ctx_t *c = ringo__calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    atomic_store_explicit(&c->refs, 1, memory_order_relaxed);     /* the creator's */
    c->kind = kind;
    c->magic = CTX_MAGIC;
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
        ringo__list_push_back(&a->children, &c->sib);
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

/* Runs with the timer's reference, dropped last: the cancel may drop every
 * other one meanwhile, and nothing here waits for this fire to end. */
static void deadline_fire(ringo__timer_t *t)
{
    ringo_ctx_t *c = t->arg;
    cancel_tree(c, -ETIMEDOUT, 0);
    ringo_ctx_unref(c);
}

/* The runtime ended with the timer pending. */
static void deadline_dispose(ringo__timer_t *t)
{
    ringo_ctx_unref(t->arg);
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
    if (atomic_load(&c->err))
        return c;               /* the parent was cancelled already */
    if (deadline <= ringo__now()) {
        cancel_tree(c, -ETIMEDOUT, 0);
        return c;
    }
    c->timer.when = deadline;
    c->timer.fire = deadline_fire;
    c->timer.dispose = deadline_dispose;
    c->timer.arg = ringo_ctx_ref(c);        /* the timer's reference */
    ringo__timer_arm(&c->timer);
    /* A cancel that came between propagate and the arm found no timer to
     * stop: stop it for that cancel (whoever deletes it drops the ref). */
    if (atomic_load(&c->err) && ringo__timer_del(&c->timer))
        ringo_ctx_unref(c);
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
    c = cancel_ancestor(live(c, "ringo_ctx_done"));
    if (!c)
        return NULL;
    ctx_lock(c);
    ringo_chan_t *d = c->done;
    ctx_unlock(c);
    if (d)
        return d;

    /* Made outside the lock. NULL would read as "never cancelled" and
     * leave the caller waiting forever: running out here is fatal. */
    ringo_chan_t *made = ringo_chan_make(0, 0);
    if (!made)
        ringo__throw("out of memory making a context's done channel");
    ctx_lock(c);
    bool installed = !c->done;
    if (installed)
        c->done = made;
    d = c->done;
    /* A cancel that already ran saw no channel: closing it is ours. */
    bool close_it = installed && atomic_load(&c->err);
    ctx_unlock(c);
    if (!installed)
        ringo_chan_unref(made);
    if (close_it)
        ringo_chan_close(d);
    return d;
}

int ringo_ctx_err(ringo_ctx_t *c)
{
    c = cancel_ancestor(live(c, "ringo_ctx_err"));
    if (!c)
        return 0;
    int err = atomic_load(&c->err);
    RINGO_RACE_ACQUIRE(c);      /* Go's Err takes c.mu */
    return err;
}

int ringo_ctx_cause(ringo_ctx_t *c)
{
    c = cancel_ancestor(live(c, "ringo_ctx_cause"));
    if (!c || !atomic_load(&c->err))
        return 0;
    RINGO_RACE_ACQUIRE(c);
    return atomic_load(&c->cause);
}

bool ringo_ctx_deadline(ringo_ctx_t *c, int64_t *deadline)
{
    for (live(c, "ringo_ctx_deadline"); c; c = c->parent) {
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
    for (live(c, "ringo_ctx_value"); c; c = c->parent)
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
    ringo__list_push_back(&c->watches, &w->link);
    ctx_unlock(c);
    return true;
}

/* Removes w if still listed: true. Else a cancel took it; for an internal
 * watcher, waits until its fn has returned. */
static bool watch_remove(ringo_ctx_t *c, ringo__ctx_watch_t *w)
{
    ctx_lock(c);
    bool listed = w->listed;
    if (listed) {
        ringo__list_remove(&c->watches, &w->link);
        w->listed = false;
    }
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
    ringo_ctx_t *c = cancel_ancestor(live(ctx, "ringo_ctx_after_func"));
    if (!fn)
        return 0;
    if (!c)
        return ID_NEVER;        /* never cancelled: never runs */
    ringo__ctx_watch_t *w = ringo__calloc(1, sizeof(*w));
    if (!w)
        return 0;
    w->fn = fn;
    w->arg = arg;
    if (watch_add(c, w))
        return w->id;
    /* Already cancelled: start it now; a failure here has a caller to
     * report to, and fn never runs. */
    ringo__free(w);
    return ringo_go_at(fn, arg, "ringo_ctx_after_func", 0, "after_func") < 0 ? 0 : ID_STARTED;
}

bool ringo_ctx_after_func_stop(ringo_ctx_t *ctx, uint64_t id)
{
    ringo_ctx_t *c = cancel_ancestor(live(ctx, "ringo_ctx_after_func_stop"));
    if (!c || id == ID_NEVER || id == ID_STARTED)
        return id == ID_NEVER;  /* Go: stopping one that could never run "stopped" it */
    ringo__ctx_watch_t *found = NULL;
    ctx_lock(c);
    for (ringo__link_t *l = c->watches.first; l && !found; l = l->next) {
        ringo__ctx_watch_t *w = link_watch(l);
        if (w->id == id && !w->internal) {
            ringo__list_remove(&c->watches, l);
            w->listed = false;
            found = w;
        }
    }
    ctx_unlock(c);
    ringo__free(found);
    return found != NULL;
}

/* ---- for sync/sem.c: wake a waiter when its context ends ------------------------------ */

bool ringo__ctx_watch(ringo_ctx_t *ctx, ringo__ctx_watch_t *w, void (*on_cancel)(void *), void *arg)
{
    memset(w, 0, sizeof(*w));
    w->internal = true;
    w->fn = on_cancel;
    w->arg = arg;
    ringo_ctx_t *c = cancel_ancestor(live(ctx, "ringo__ctx_watch"));
    return !c || watch_add(c, w);
}

void ringo__ctx_unwatch(ringo_ctx_t *ctx, ringo__ctx_watch_t *w)
{
    ringo_ctx_t *c = cancel_ancestor(live(ctx, "ringo__ctx_unwatch"));
    if (c)
        watch_remove(c, w);
}

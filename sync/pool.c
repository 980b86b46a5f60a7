/* sync/pool.c - sync.Pool: a cache of reusable objects.
 *
 * Each pool gets, on first put, a side structure (struct pool_state) with a
 * private slot per worker (taken and filled with single atomic exchanges,
 * no lock) and a shared list plus a victim list under a spinlock. Go clears
 * pools at every GC; ringo has no GC, so the monitor ages every registered
 * pool every few seconds (through ringo__periodic_hook): the victim
 * generation is freed with free_fn and the current one becomes the victim.
 * An object idle across two agings is therefore freed; a busy pool keeps
 * refilling its current generation.
 *
 * Ownership: the ringo_pool_t is the user's memory and may end at any time
 * (a pool on a fiber's stack); the state is the runtime's. Aging and the
 * final release touch only the state, never the ringo_pool_t: free_fn is
 * copied into the state when it is created. ringo_pool_free releases the
 * state; a pool whose storage ends without it leaks its state, whose
 * objects aging still frees.
 *
 * State lifetime: st->refs counts the registry (until ringo_pool_free) and
 * each aging pass working on st; whoever drops the last one frees st and
 * whatever it still holds. ringo_pool_drain never frees st, so it may run
 * concurrently with get and put.
 *
 * Locks: pools_lock protects the registry (pools, npools, next_pool, refs);
 * st->lock protects shared and victim. The two are never nested. free_fn
 * (user code, which may use pools) runs with neither held.
 */
#include "waitq.h"

#include <stdlib.h>
#include <string.h>

struct objs {
    void **v;
    size_t n, cap;
};

struct pool_state {
    struct pool_state *next_pool;       /* pools_lock */
    int refs;                           /* pools_lock */
    void (*free_fn)(void *);            /* the pool's, at creation; never changes */
    ringo__spinlock_t lock;             /* shared, victim */
    struct objs shared, victim;
    _Atomic(void *) priv[RINGO__MAX_WORKERS];
};

struct pool_hdr {                       /* the opaque part of ringo_pool_t */
    _Atomic(struct pool_state *) st;
};
_Static_assert(sizeof(struct pool_hdr) <= sizeof(((ringo_pool_t *)0)->opaque_), "ringo_pool_t too small");

static void pools_age(void);
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_state *pools;
static size_t npools;

static struct pool_state *state(ringo_pool_t *p, bool create)
{
    struct pool_hdr *h = (struct pool_hdr *)p->opaque_;
    struct pool_state *st = atomic_load_explicit(&h->st, memory_order_acquire);
    if (st || !create)
        return st;
    ringo__pthread_lock(&pools_lock);
    st = atomic_load(&h->st);
    if (!st && (st = ringo__calloc(1, sizeof(*st)))) {
        atomic_store(&ringo__periodic_hook, pools_age);
        st->free_fn = p->free_fn;
        st->refs = 1;
        st->next_pool = pools;
        pools = st;
        npools++;
        atomic_store_explicit(&h->st, st, memory_order_release);
    }
    ringo__pthread_unlock(&pools_lock);
    return st;
}

static bool push(struct objs *o, void *x)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        void **v = ringo__realloc(o->v, cap * sizeof(*v));
        if (!v)
            return false;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = x;
    return true;
}

/* Frees an object the pool lets go of. No lock held. */
static void release(void (*free_fn)(void *), void *x)
{
    RINGO_RACE_ACQUIRE(x);      /* its last Put, wherever that ran */
    if (free_fn)
        free_fn(x);
}

void *ringo_pool_get(ringo_pool_t *p)
{
    struct pool_state *st = state(p, false);
    void *x = NULL;
    if (st) {
        ringo__worker_t *w = ringo__self();
        if (w && (x = atomic_exchange_explicit(&st->priv[w->index], NULL, memory_order_acquire))) {
            RINGO_RACE_ACQUIRE(x);  /* Put -> Get of the same object */
            return x;
        }
        ringo__spin_lock(&st->lock);
        if (st->shared.n)
            x = st->shared.v[--st->shared.n];
        else if (st->victim.n)
            x = st->victim.v[--st->victim.n];
        ringo__spin_unlock(&st->lock);
        if (x) {
            RINGO_RACE_ACQUIRE(x);
            return x;
        }
    }
    return p->new_fn ? p->new_fn() : NULL;
}

void ringo_pool_put(ringo_pool_t *p, void *x)
{
    if (!x)
        return;
    RINGO_RACE_RELEASE(x);
    struct pool_state *st = state(p, true);
    if (!st) {
        release(p->free_fn, x);     /* out of memory: dropped */
        return;
    }
    ringo__worker_t *w = ringo__self();
    void *expect = NULL;
    if (w && atomic_compare_exchange_strong_explicit(&st->priv[w->index], &expect, x,
                                                     memory_order_release, memory_order_relaxed))
        return;
    ringo__spin_lock(&st->lock);
    bool ok = push(&st->shared, x);
    ringo__spin_unlock(&st->lock);
    if (!ok)
        release(st->free_fn, x);    /* out of memory: dropped */
}

static void release_all(void (*free_fn)(void *), struct objs *o)
{
    for (size_t i = 0; i < o->n; i++)
        release(free_fn, o->v[i]);
    ringo__free(o->v);
    memset(o, 0, sizeof(*o));
}

/* Takes every object out of st - private slots, shared and victim - and
 * frees it with free_fn, outside st->lock. Puts that race it may leave
 * objects behind; st itself stays valid. */
static void empty(struct pool_state *st)
{
    for (unsigned i = 0; i < RINGO__MAX_WORKERS; i++) {
        void *x = atomic_exchange(&st->priv[i], NULL);
        if (x)
            release(st->free_fn, x);
    }
    ringo__spin_lock(&st->lock);
    struct objs shared = st->shared, victim = st->victim;
    memset(&st->shared, 0, sizeof(st->shared));
    memset(&st->victim, 0, sizeof(st->victim));
    ringo__spin_unlock(&st->lock);
    release_all(st->free_fn, &shared);
    release_all(st->free_fn, &victim);
}

/* Drops a reference taken under pools_lock; the last one frees st and what
 * it holds. Called without pools_lock. */
static void state_unref(struct pool_state *st)
{
    ringo__pthread_lock(&pools_lock);
    bool last = --st->refs == 0;
    ringo__pthread_unlock(&pools_lock);
    if (!last)
        return;
    empty(st);
    ringo__free(st);
}

/* One aging step of one pool: the victims die, the current generation
 * (shared and private slots) becomes the victims. Holds a reference to st;
 * no lock held. */
static void age(struct pool_state *st)
{
    ringo__spin_lock(&st->lock);
    struct objs dead = st->victim;
    st->victim = st->shared;
    memset(&st->shared, 0, sizeof(st->shared));
    ringo__spin_unlock(&st->lock);
    for (unsigned i = 0; i < RINGO__MAX_WORKERS; i++) {
        void *x = atomic_exchange(&st->priv[i], NULL);
        if (!x)
            continue;
        ringo__spin_lock(&st->lock);
        bool ok = push(&st->victim, x);
        ringo__spin_unlock(&st->lock);
        if (!ok)
            release(st->free_fn, x);    /* out of memory: it dies a generation early */
    }
    release_all(st->free_fn, &dead);
}

/* The monitor's periodic hook (tests call it directly). Pins every
 * registered pool under pools_lock, then ages each with no lock held, so
 * free_fn never runs under pools_lock and a ringo_pool_free meanwhile only
 * drops the registry's reference. */
static void pools_age(void)
{
    ringo__pthread_lock(&pools_lock);
    struct pool_state **pinned = npools ? ringo__malloc(npools * sizeof(*pinned)) : NULL;
    size_t n = 0;
    if (pinned) {
        for (struct pool_state *st = pools; st; st = st->next_pool) {
            st->refs++;
            pinned[n++] = st;
        }
    }
    ringo__pthread_unlock(&pools_lock);
    /* Out of memory: no aging this time; the next period tries again. */
    for (size_t i = 0; i < n; i++) {
        age(pinned[i]);
        state_unref(pinned[i]);
    }
    ringo__free(pinned);
}

void ringo_pool_drain(ringo_pool_t *p)
{
    struct pool_state *st = state(p, false);
    if (st)
        empty(st);
}

void ringo_pool_free(ringo_pool_t *p)
{
    struct pool_hdr *h = (struct pool_hdr *)p->opaque_;
    ringo__pthread_lock(&pools_lock);
    struct pool_state *st = atomic_exchange(&h->st, NULL);
    if (st) {
        for (struct pool_state **pp = &pools; *pp; pp = &(*pp)->next_pool)
            if (*pp == st) {
                *pp = st->next_pool;
                npools--;
                break;
            }
    }
    ringo__pthread_unlock(&pools_lock);
    if (!st)
        return;
    /* Free the objects now even if an aging pass still holds st. */
    empty(st);
    state_unref(st);
}

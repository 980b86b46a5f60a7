/* sync/pool.c - sync.Pool: a cache of reusable objects.
 *
 * Each pool gets, on first use, a side structure with a private slot per
 * worker (taken and filled with single atomic exchanges, no lock) and a
 * shared list plus a victim list under a spinlock. Go clears pools at every
 * GC; ringo has no GC, so the monitor ages every registered pool every few
 * seconds (through ringo__periodic_hook): the victim generation is freed with free_fn
 * and the current one becomes the victim. An object idle across two agings
 * is therefore freed; a busy pool keeps refilling its current generation.
 *
 * Locks: pools_lock protects the registry list (pool creation, drain,
 * aging); st->lock protects shared and victim. Never nested the other way.
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
    ringo_pool_t *owner;
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
        st->owner = p;
        st->next_pool = pools;
        pools = st;
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
        if (p->free_fn)
            p->free_fn(x);
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
    if (!ok && p->free_fn)
        p->free_fn(x);
}

static void free_all(ringo_pool_t *p, struct objs *o)
{
    for (size_t i = 0; i < o->n; i++) {
        RINGO_RACE_ACQUIRE(o->v[i]);    /* its last Put, wherever that ran */
        if (p->free_fn)
            p->free_fn(o->v[i]);
    }
    o->n = 0;
}

/* One aging step of one pool; pools_lock held. */
static void age(struct pool_state *st)
{
    struct objs dead;
    ringo__spin_lock(&st->lock);
    dead = st->victim;
    st->victim = st->shared;
    memset(&st->shared, 0, sizeof(st->shared));
    ringo__spin_unlock(&st->lock);
    /* Private slots join the victims too. */
    for (unsigned i = 0; i < RINGO__MAX_WORKERS; i++) {
        void *x = atomic_exchange(&st->priv[i], NULL);
        if (x) {
            ringo__spin_lock(&st->lock);
            bool ok = push(&st->victim, x);
            ringo__spin_unlock(&st->lock);
            if (!ok && st->owner->free_fn) {
                RINGO_RACE_ACQUIRE(x);
                st->owner->free_fn(x);
            }
        }
    }
    free_all(st->owner, &dead);
    ringo__free(dead.v);
}

static void pools_age(void)
{
    ringo__pthread_lock(&pools_lock);
    for (struct pool_state *st = pools; st; st = st->next_pool)
        age(st);
    ringo__pthread_unlock(&pools_lock);
}

void ringo_pool_drain(ringo_pool_t *p)
{
    struct pool_hdr *h = (struct pool_hdr *)p->opaque_;
    ringo__pthread_lock(&pools_lock);
    struct pool_state *st = atomic_exchange(&h->st, NULL);
    if (st) {
        for (struct pool_state **pp = &pools; *pp; pp = &(*pp)->next_pool)
            if (*pp == st) {
                *pp = st->next_pool;
                break;
            }
    }
    ringo__pthread_unlock(&pools_lock);
    if (!st)
        return;
    for (unsigned i = 0; i < RINGO__MAX_WORKERS; i++) {
        void *x = atomic_exchange(&st->priv[i], NULL);
        if (x && p->free_fn) {
            RINGO_RACE_ACQUIRE(x);
            p->free_fn(x);
        }
    }
    free_all(p, &st->shared);
    free_all(p, &st->victim);
    ringo__free(st->shared.v);
    ringo__free(st->victim.v);
    ringo__free(st);
}

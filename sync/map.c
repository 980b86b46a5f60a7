/* sync/map.c - sync.Map: a concurrent map for read-mostly use; loads take
 * no lock.
 *
 * Layout: a chained hash table. Readers walk the chains lock-free: writers
 * (serialised by wlock) publish a new node at the head of its chain with a
 * release store, change a value with one atomic store, and unlink a deleted
 * node with one store, leaving the node itself intact for readers still on
 * it. Growing copies every node into a new table and swaps the table
 * pointer.
 *
 * Reclamation (epoch based): a fiber's load runs inside a read section that
 * never spans a switch, marked by its worker's slot holding the epoch it
 * entered with. Unlinked nodes and old tables are retired with the epoch at
 * retirement; they are freed once no slot holds an epoch at or below it.
 * A range pins the map (no frees while ranging) because its callback may
 * switch fibers. Plain threads, which have no slot, load under wlock.
 *
 * Values are the caller's pointers. The map calls free_value for a value it
 * drops (overwrite, delete, free) - at once: with free_value set, a value
 * some fiber loaded must not be deleted under it (as with any pointer).
 *
 * Keys are byte strings of any length, zero included: the empty key (klen
 * 0, key then may be NULL) is one key like any other, and no key bytes are
 * ever read or copied for it.
 *
 * Lock: wlock (a spinlock) protects everything but the lock-free read path.
 *
 * Handles: m->magic is MAP_LIVE from ringo_map_new until ringo_map_free;
 * debug builds (assertions on) check it in every public entry point and
 * poison a freed map, so a stale handle panics at its use.
 */
#include "waitq.h"

#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS 16
#define MAP_LIVE 0x5a11ab1eu

struct node {
    struct node *_Atomic next;
    uint64_t hash;
    void *_Atomic value;
    size_t klen;
    unsigned char key[];
};

struct table {
    size_t nbuckets;            /* power of two */
    struct node *_Atomic buckets[];
};

struct retired {
    void *ptr;
    uint64_t epoch;
};

struct slot {
    _Atomic uint64_t epoch;     /* 0: not reading */
    char pad[56];
};

struct ringo_map {
    ringo__spinlock_t wlock;
    struct table *_Atomic table;
    size_t count;               /* live entries (wlock) */
    void (*free_value)(void *);
    _Atomic uint64_t epoch;
    _Atomic int ranging;
    uint32_t magic;             /* MAP_LIVE until freed (written only then) */
    struct retired *retired;    /* wlock */
    size_t nretired, retired_cap;
    struct slot slots[RINGO__MAX_WORKERS];
};

/* A use of a freed map panics here in debug builds, at the use. */
#define check_live(m, fn) RINGO__CHECK_LIVE((m), MAP_LIVE, (fn), "map")

/* Key equality; an empty key's pointer may be NULL, so it is never read. */
static inline bool key_equal(const struct node *n, uint64_t h, const void *key, size_t klen)
{
    return n->hash == h && n->klen == klen && (klen == 0 || memcmp(n->key, key, klen) == 0);
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    /* FNV-1a, then a final mix so low bits spread. */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static struct table *table_new(size_t nbuckets)
{
    struct table *t = ringo__calloc(1, sizeof(*t) + nbuckets * sizeof(t->buckets[0]));
    if (t)
        t->nbuckets = nbuckets;
    return t;
}

ringo_map_t *ringo_map_new(void (*free_value)(void *))
{
    ringo_map_t *m = ringo__aligned_alloc(64, (sizeof(*m) + 63) & ~(size_t)63);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->free_value = free_value;
    m->magic = MAP_LIVE;
    atomic_store(&m->epoch, 1);
    struct table *t = table_new(MIN_BUCKETS);
    if (!t) {
        ringo__free(m);
        return NULL;
    }
    atomic_store(&m->table, t);
    return m;
}

/* wlock doubles as Go's sync.Map mu for the race detector: writers are
 * ordered one after another. A node's address is its own sync point: its
 * writer releases it before publishing a node or a value, and a reader
 * acquires it after loading either, so Store -> Load is an edge (Go gets
 * that from its atomics) and the key bytes the reader compares are covered. */
static inline void map_lock(ringo_map_t *m)
{
    ringo__spin_lock_hb(&m->wlock, m);
}

static inline void map_unlock(ringo_map_t *m)
{
    ringo__spin_unlock_hb(&m->wlock, m);
}

/* ---- reclamation (wlock held) ------------------------------------------------------ */

static void reclaim(ringo_map_t *m)
{
    if (atomic_load(&m->ranging))
        return;
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < RINGO__MAX_WORKERS; i++) {
        uint64_t e = atomic_load(&m->slots[i].epoch);
        if (e && e < min)
            min = e;
    }
    size_t kept = 0;
    for (size_t i = 0; i < m->nretired; i++) {
        if (m->retired[i].epoch < min)
            ringo__free(m->retired[i].ptr);
        else
            m->retired[kept++] = m->retired[i];
    }
    m->nretired = kept;
}

static void retire(ringo_map_t *m, void *p)
{
    if (m->nretired == m->retired_cap) {
        size_t cap = m->retired_cap ? m->retired_cap * 2 : 64;
        struct retired *r = ringo__realloc(m->retired, cap * sizeof(*r));
        if (!r)
            ringo__throw("out of memory retiring a map node");
        m->retired = r;
        m->retired_cap = cap;
    }
    /* Readers that entered at or before this epoch may still see p. */
    m->retired[m->nretired++] = (struct retired){p, atomic_fetch_add(&m->epoch, 1)};
    if (m->nretired >= 64)
        reclaim(m);
}

/* ---- the read path ------------------------------------------------------------------ */

static struct node *find(struct table *t, uint64_t h, const void *key, size_t klen)
{
    struct node *n = atomic_load_explicit(&t->buckets[h & (t->nbuckets - 1)], memory_order_acquire);
    for (; n; n = atomic_load_explicit(&n->next, memory_order_acquire)) {
        RINGO_RACE_ACQUIRE(n);
        if (key_equal(n, h, key, klen))
            return n;
    }
    return NULL;
}

bool ringo_map_load(ringo_map_t *m, const void *key, size_t klen, void **value)
{
    check_live(m, "ringo_map_load");
    uint64_t h = hash_bytes(key, klen);
    ringo__worker_t *w = ringo__self();
    struct node *n;
    void *v = NULL;
    if (w) {
        struct slot *s = &m->slots[w->index];
        atomic_store(&s->epoch, atomic_load(&m->epoch));   /* seq_cst: before the loads */
        n = find(atomic_load(&m->table), h, key, klen);
        if (n) {
            v = atomic_load_explicit(&n->value, memory_order_acquire);
            RINGO_RACE_ACQUIRE(n);  /* after the load: the Store that made v */
        }
        atomic_store_explicit(&s->epoch, 0, memory_order_release);
    } else {
        map_lock(m);
        n = find(atomic_load(&m->table), h, key, klen);
        if (n)
            v = atomic_load(&n->value);
        map_unlock(m);
    }
    if (value)
        *value = n ? v : NULL;
    return n != NULL;
}

/* ---- writes (wlock) --------------------------------------------------------------------- */

static void grow(ringo_map_t *m)
{
    struct table *old = atomic_load(&m->table);
    struct table *t = table_new(old->nbuckets * 2);
    if (!t)
        return;                 /* stay small; still correct */
    for (size_t b = 0; b < old->nbuckets; b++) {
        for (struct node *n = atomic_load(&old->buckets[b]); n; n = atomic_load(&n->next)) {
            struct node *c = ringo__malloc(sizeof(*c) + n->klen);
            if (!c) {
                /* Give up growing: free the partial copy. */
                for (size_t k = 0; k < t->nbuckets; k++)
                    for (struct node *x = atomic_load(&t->buckets[k]), *nx; x; x = nx) {
                        nx = atomic_load(&x->next);
                        ringo__free(x);
                    }
                ringo__free(t);
                return;
            }
            memcpy(c, n, sizeof(*c) + n->klen);
            RINGO_RACE_RELEASE(c);
            size_t i = c->hash & (t->nbuckets - 1);
            atomic_store(&c->next, atomic_load(&t->buckets[i]));
            atomic_store(&t->buckets[i], c);
        }
    }
    atomic_store_explicit(&m->table, t, memory_order_release);
    for (size_t b = 0; b < old->nbuckets; b++)
        for (struct node *n = atomic_load(&old->buckets[b]), *nx; n; n = nx) {
            nx = atomic_load(&n->next);
            retire(m, n);
        }
    retire(m, old);
}

static struct node *insert(ringo_map_t *m, uint64_t h, const void *key, size_t klen, void *value)
{
    struct table *t = atomic_load(&m->table);
    struct node *n = ringo__malloc(sizeof(*n) + klen);
    if (!n)
        ringo__throw("out of memory storing into a map");
    n->hash = h;
    n->klen = klen;
    if (klen)
        memcpy(n->key, key, klen);
    atomic_store_explicit(&n->value, value, memory_order_relaxed);
    RINGO_RACE_RELEASE(n);
    size_t i = h & (t->nbuckets - 1);
    atomic_store_explicit(&n->next, atomic_load(&t->buckets[i]), memory_order_relaxed);
    atomic_store_explicit(&t->buckets[i], n, memory_order_release);   /* publish */
    if (++m->count > t->nbuckets)
        grow(m);
    return n;
}

/* Unlinks the node for key; returns its value via *value. wlock held. */
static bool unlink_key(ringo_map_t *m, uint64_t h, const void *key, size_t klen, void **value)
{
    struct table *t = atomic_load(&m->table);
    struct node *_Atomic *pp = &t->buckets[h & (t->nbuckets - 1)];
    for (struct node *n; (n = atomic_load(pp)); pp = &n->next) {
        if (key_equal(n, h, key, klen)) {
            atomic_store_explicit(pp, atomic_load(&n->next), memory_order_release);
            *value = atomic_load(&n->value);
            m->count--;
            retire(m, n);
            return true;
        }
    }
    return false;
}

void ringo_map_store(ringo_map_t *m, const void *key, size_t klen, void *value)
{
    check_live(m, "ringo_map_store");
    uint64_t h = hash_bytes(key, klen);
    void *old = NULL;
    bool had = false;
    map_lock(m);
    struct node *n = find(atomic_load(&m->table), h, key, klen);
    if (n) {
        RINGO_RACE_RELEASE(n);
        old = atomic_exchange_explicit(&n->value, value, memory_order_acq_rel);
        had = true;
    } else {
        insert(m, h, key, klen, value);
    }
    map_unlock(m);
    if (had && old != value && m->free_value)
        m->free_value(old);
}

bool ringo_map_load_or_store(ringo_map_t *m, const void *key, size_t klen, void *value, void **actual)
{
    check_live(m, "ringo_map_load_or_store");
    void *v;
    if (ringo_map_load(m, key, klen, &v)) {
        if (actual)
            *actual = v;
        return true;
    }
    uint64_t h = hash_bytes(key, klen);
    map_lock(m);
    struct node *n = find(atomic_load(&m->table), h, key, klen);
    if (n)
        v = atomic_load(&n->value);
    else
        insert(m, h, key, klen, value);
    map_unlock(m);
    if (actual)
        *actual = n ? v : value;
    return n != NULL;
}

bool ringo_map_load_and_delete(ringo_map_t *m, const void *key, size_t klen, void **value)
{
    check_live(m, "ringo_map_load_and_delete");
    uint64_t h = hash_bytes(key, klen);
    void *v = NULL;
    map_lock(m);
    bool had = unlink_key(m, h, key, klen, &v);
    map_unlock(m);
    if (value)
        *value = v;
    return had;
}

void ringo_map_delete(ringo_map_t *m, const void *key, size_t klen)
{
    check_live(m, "ringo_map_delete");
    void *v;
    if (ringo_map_load_and_delete(m, key, klen, &v) && m->free_value)
        m->free_value(v);
}

void ringo_map_range(ringo_map_t *m, bool (*fn)(const void *key, size_t klen, void *value, void *arg),
                     void *arg)
{
    check_live(m, "ringo_map_range");
    /* The callback may switch fibers or write to the map: pin the nodes
     * (no frees while ranging) and walk the table current at the start. */
    map_lock(m);
    atomic_fetch_add(&m->ranging, 1);
    struct table *t = atomic_load(&m->table);
    map_unlock(m);
    bool go = true;
    for (size_t b = 0; go && b < t->nbuckets; b++)
        for (struct node *n = atomic_load_explicit(&t->buckets[b], memory_order_acquire); go && n;
             n = atomic_load_explicit(&n->next, memory_order_acquire)) {
            void *v = atomic_load_explicit(&n->value, memory_order_acquire);
            RINGO_RACE_ACQUIRE(n);
            go = fn(n->key, n->klen, v, arg);
        }
    atomic_fetch_sub(&m->ranging, 1);
}

void ringo_map_free(ringo_map_t *m)
{
    if (!m)
        return;
    check_live(m, "ringo_map_free");
    struct table *t = atomic_load(&m->table);
    for (size_t b = 0; b < t->nbuckets; b++)
        for (struct node *n = atomic_load(&t->buckets[b]), *nx; n; n = nx) {
            nx = atomic_load(&n->next);
            if (m->free_value)
                m->free_value(atomic_load(&n->value));
            ringo__free(n);
        }
    ringo__free(t);
    for (size_t i = 0; i < m->nretired; i++)
        ringo__free(m->retired[i].ptr);
    ringo__free(m->retired);
    ringo__free_poisoned(m, sizeof(*m));
}

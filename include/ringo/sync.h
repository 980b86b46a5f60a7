/* ringo/sync.h - Go's sync package: Mutex, RWMutex, WaitGroup, Once, Cond,
 * a weighted semaphore (golang.org/x/sync/semaphore), Map and Pool.
 *
 * Every type works at its zero value, like Go: `ringo_mutex_t mu = {0};`,
 * `static ringo_once_t once;`. The structs are opaque blobs whose layout may
 * change between versions; they must not be copied after first use. All of
 * them work from fibers and from plain threads (which block on a futex).
 * Misuse panics with Go's words: "sync: unlock of unlocked mutex",
 * "sync: negative WaitGroup counter", ...
 *
 * They may outlive a ringo_run: fibers still blocked on one when main
 * returns are forgotten, as if their calls had never been made (a Mutex
 * lock handed to such a fiber is released; semaphore units granted to one
 * that never ran again stay granted). Locks held by fibers that were still
 * running stay held, as in Go.
 *
 * Errors: only ringo_sem_acquire returns one (listed there); every other
 * function here returns void or a bool that is not an error.
 */
#ifndef RINGO_SYNC_H
#define RINGO_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ringo/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ringo_ctx ringo_ctx_t;

/* ---- Mutex: one atomic word; brief spin, then park; Go's starvation mode
 * (a waiter blocked over 1 ms gets the lock handed to it). ---- */
typedef struct ringo_mutex { uint64_t opaque_[3]; } ringo_mutex_t;
RINGO_API void ringo_mutex_lock(ringo_mutex_t *mu);
RINGO_API void ringo_mutex_unlock(ringo_mutex_t *mu);
RINGO_API bool ringo_mutex_trylock(ringo_mutex_t *mu);

/* ---- RWMutex: Go's reader-count design; a pending writer blocks new readers. ---- */
typedef struct ringo_rwmutex { uint64_t opaque_[10]; } ringo_rwmutex_t;
RINGO_API void ringo_rwmutex_rlock(ringo_rwmutex_t *rw);
RINGO_API void ringo_rwmutex_runlock(ringo_rwmutex_t *rw);
RINGO_API void ringo_rwmutex_lock(ringo_rwmutex_t *rw);
RINGO_API void ringo_rwmutex_unlock(ringo_rwmutex_t *rw);
RINGO_API bool ringo_rwmutex_tryrlock(ringo_rwmutex_t *rw);
RINGO_API bool ringo_rwmutex_trylock(ringo_rwmutex_t *rw);

/* ---- WaitGroup: reusable once Wait has returned; a Wait that returned may
 * free it at once, even while other waiters are still being woken. ---- */
typedef struct ringo_waitgroup { uint64_t opaque_[4]; } ringo_waitgroup_t;
RINGO_API void ringo_waitgroup_add(ringo_waitgroup_t *wg, int delta);
RINGO_API void ringo_waitgroup_done(ringo_waitgroup_t *wg);
RINGO_API void ringo_waitgroup_wait(ringo_waitgroup_t *wg);

/* ---- Once: fn runs exactly once; concurrent callers return after it
 * finished. An fn that leaves its fiber (ringo_exit) counts as finished. ---- */
typedef struct ringo_once { uint64_t opaque_[4]; } ringo_once_t;
RINGO_API void ringo_once_do(ringo_once_t *once, void (*fn)(void *), void *arg);

/* ---- Cond: wait atomically unlocks mu and suspends; re-locks before returning. ---- */
typedef struct ringo_cond { uint64_t opaque_[3]; } ringo_cond_t;
RINGO_API void ringo_cond_wait(ringo_cond_t *c, ringo_mutex_t *mu);
RINGO_API void ringo_cond_signal(ringo_cond_t *c);
RINGO_API void ringo_cond_broadcast(ringo_cond_t *c);

/* ---- Weighted semaphore, FIFO-fair (x/sync/semaphore). ringo_sem_init sets
 * the capacity (the zero value has capacity 0: init it first). ---- */
typedef struct ringo_sem { uint64_t opaque_[5]; } ringo_sem_t;
RINGO_API void ringo_sem_init(ringo_sem_t *s, int64_t capacity);
/* 0, or the context's error if ctx has ended or ends first, with nothing
 * acquired: -ECANCELED (cancelled) or -ETIMEDOUT (deadline exceeded). A ctx
 * that has already ended fails even when n units are free (x/sync's order).
 * ctx may be NULL: wait for as long as it takes. Asking for more than the
 * capacity waits until ctx ends (forever with a NULL ctx). */
RINGO_API int ringo_sem_acquire(ringo_ctx_t *ctx, ringo_sem_t *s, int64_t n);
RINGO_API bool ringo_sem_try_acquire(ringo_sem_t *s, int64_t n);
/* Releasing more than is held panics: "semaphore: released more than held". */
RINGO_API void ringo_sem_release(ringo_sem_t *s, int64_t n);

/* ---- Map (sync.Map): keys are byte strings, copied; values are pointers the
 * map does not own (free_value, if set, is called for values the map drops
 * on delete, overwrite and ringo_map_free). Built for read-mostly use: loads
 * take no lock.
 *
 * A key is klen bytes at key; klen 0 is the empty key, a key like any
 * other, and key may then be NULL.
 *
 * Out of memory: ringo_map_new returns NULL. A store that cannot allocate
 * its entry ends the program with "ringo: fatal: out of memory ...", as Go
 * does (these calls have no error to return); a table that cannot grow
 * just stays smaller.
 *
 * Freed handles: in builds with assertions on (no NDEBUG), using a map
 * after ringo_map_free panics at the use ("ringo_map_load: use of a freed
 * map"); without them it is undefined, as with any freed pointer. ---- */
typedef struct ringo_map ringo_map_t;
/* NULL only when memory ran out. */
RINGO_API ringo_map_t *ringo_map_new(void (*free_value)(void *));
/* true if the key is present (*value = its value; value may be NULL). */
RINGO_API bool ringo_map_load(ringo_map_t *m, const void *key, size_t klen, void **value);
RINGO_API void ringo_map_store(ringo_map_t *m, const void *key, size_t klen, void *value);
/* true if the key was present (*actual = its value, value not stored). */
RINGO_API bool ringo_map_load_or_store(ringo_map_t *m, const void *key, size_t klen, void *value,
                                       void **actual);
/* true if the key was present (*value = its value, which the caller now owns). */
RINGO_API bool ringo_map_load_and_delete(ringo_map_t *m, const void *key, size_t klen, void **value);
RINGO_API void ringo_map_delete(ringo_map_t *m, const void *key, size_t klen);
/* Calls fn for each entry until it returns false; sees a consistent value per
 * entry, not a snapshot of the whole map (Go's Range). */
RINGO_API void ringo_map_range(ringo_map_t *m,
                               bool (*fn)(const void *key, size_t klen, void *value, void *arg),
                               void *arg);
/* Frees the map and, with free_value, every value in it. NULL is a no-op.
 * No other call on m may be running or follow. */
RINGO_API void ringo_map_free(ringo_map_t *m);

/* ---- Pool (sync.Pool): per-worker private slot and shared list, plus a
 * victim generation the runtime ages every few seconds (there is no GC):
 * an object idle for two agings is freed with free_fn.
 *
 * Set new_fn and free_fn before the first use and leave them: the runtime
 * keeps its own copy of free_fn, so that aging never reads the pool's
 * memory. What the runtime holds for a pool is its own, not in the
 * ringo_pool_t: a pool whose storage ends (one on a fiber's stack, say)
 * cannot harm the program. Release it with ringo_pool_free before then;
 * forgetting to leaks the runtime's small record of the pool, and aging
 * still frees the objects it caches.
 *
 * Out of memory: nothing is reported. A put that cannot keep its object
 * frees it with free_fn at once (with free_fn NULL it is dropped, as every
 * object the pool lets go of is), and get falls back on new_fn. ---- */
typedef struct ringo_pool {
    void *(*new_fn)(void);      /* get on an empty pool calls it (NULL: get returns NULL) */
    void (*free_fn)(void *);    /* frees objects the runtime trims (NULL: they are dropped) */
    uint64_t opaque_[6];
} ringo_pool_t;
RINGO_API void *ringo_pool_get(ringo_pool_t *p);
RINGO_API void ringo_pool_put(ringo_pool_t *p, void *obj);
/* Frees every pooled object with free_fn. The pool stays usable, and this
 * may run while other fibers get and put (objects they put meanwhile may
 * stay pooled). Not Go's (there is no GC). */
RINGO_API void ringo_pool_drain(ringo_pool_t *p);
/* Teardown for a pool whose storage is about to end: frees every pooled
 * object with free_fn and releases what the runtime holds for the pool
 * (a later put starts it afresh, empty). Like free(): call it once no
 * fiber uses the pool any more; aging running meanwhile is safe. Calling
 * it twice is harmless. Not Go's (there is no GC). */
RINGO_API void ringo_pool_free(ringo_pool_t *p);

#ifdef __cplusplus
}
#endif
#endif

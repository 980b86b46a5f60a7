/* core/spinlock.h - the runtime's spin lock and its CPU pause.
 *
 * For short critical sections only (a few dozen instructions: a timer heap
 * update, a waiter queue push): a waiter spins, never sleeps, so a holder
 * must not block, park or call anything that might. Whoever spins pauses
 * with ringo__cpu_relax() between tries, which keeps a spinning hyperthread
 * from starving its sibling and eases the cache line's ping-pong.
 *
 * Acquire on lock, release on unlock: what one holder wrote, the next one
 * sees. The _hb variants also publish that order to ThreadSanitizer for
 * locks that stand for a Go sync.Mutex (sanitizer.h); the runtime's own
 * locks order nothing for the race detector.
 */
#ifndef RINGO_SPINLOCK_H
#define RINGO_SPINLOCK_H

#include <stdatomic.h>
#include <stdbool.h>

#include "sanitizer.h"

/* One pause in a spin-wait loop. */
static inline void ringo__cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

typedef struct { _Atomic int locked; } ringo__spinlock_t;

static inline bool ringo__spin_trylock(ringo__spinlock_t *l)
{
    return !atomic_load_explicit(&l->locked, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire);
}

/* Test-and-test-and-set: waiters read the word, which stays in their cache
 * while the holder works, and only try the exchange once it reads free. */
static inline void ringo__spin_lock(ringo__spinlock_t *l)
{
    while (!ringo__spin_trylock(l)) {
        for (int i = 0; i < 16; i++)
            ringo__cpu_relax();
    }
}

static inline void ringo__spin_unlock(ringo__spinlock_t *l)
{
    atomic_store_explicit(&l->locked, 0, memory_order_release);
}

/* The same lock, standing for a Go mutex under the race detector: each
 * holder happens after the previous ones, through sync object `hb`
 * (sanitizer.h). For locks that guard what Go guards with a sync.Mutex. */
static inline void ringo__spin_lock_hb(ringo__spinlock_t *l, const void *hb)
{
    ringo__spin_lock(l);
    RINGO_RACE_ACQUIRE(hb);
}

static inline void ringo__spin_unlock_hb(ringo__spinlock_t *l, const void *hb)
{
    RINGO_RACE_RELEASE(hb);
    ringo__spin_unlock(l);
}

#endif

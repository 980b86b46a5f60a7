/* sync/once.c - sync.Once.
 *
 * An atomic done flag read on the fast path; a mutex serialises the slow
 * path, so concurrent callers return only after fn has finished. As in Go,
 * fn counts as having run however it ends: the slow path's "mark done and
 * unlock" is a cleanup handler (__attribute__((cleanup))) on the frame that
 * calls fn, so it also runs when fn leaves the fiber by unwinding through
 * ringo_exit; without it, every later Do would block on the mutex forever.
 * (A cleanup handler runs during an unwind when its code is compiled with
 * unwind tables, -fexceptions, which ringo_exit's unwinding needs anyway.)
 */
#include "waitq.h"

struct once {
    _Atomic uint32_t done;
    ringo_mutex_t m;
};
_Static_assert(sizeof(struct once) <= sizeof(ringo_once_t), "ringo_once_t too small");

struct once_slow {
    struct once *o;
    bool called;                /* fn was called (returned or not) */
};

static void once_finish(struct once_slow *s)
{
    if (s->called) {
        RINGO_RACE_RELEASE(s->o);
        atomic_store_explicit(&s->o->done, 1, memory_order_release);
    }
    ringo_mutex_unlock(&s->o->m);
}

void ringo_once_do(ringo_once_t *op, void (*fn)(void *), void *arg)
{
    struct once *o = (struct once *)op;
    if (RINGO__LIKELY(atomic_load_explicit(&o->done, memory_order_acquire))) {
        RINGO_RACE_ACQUIRE(o);      /* fn's return -> every Do */
        return;
    }
    ringo_mutex_lock(&o->m);
    __attribute__((cleanup(once_finish))) struct once_slow slow = {o, false};
    if (!atomic_load_explicit(&o->done, memory_order_relaxed)) {
        slow.called = true;
        fn(arg);
    }
}

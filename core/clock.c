/* core/clock.c - the runtime's clock and ringo_sleep.
 *
 * Every deadline in the runtime (timer heaps, wait_since, ringo_now) reads
 * CLOCK_MONOTONIC in nanoseconds, which the vDSO serves without a syscall.
 *
 * Virtual time (ringo_config_t.virtual_time). While such a run lasts,
 * ringo__now() reads ringo__virtual_now instead: a value that starts at
 * RINGO__VIRTUAL_EPOCH and moves only when the one worker has nothing to
 * run and no ring operation in flight; then the scheduler (go_idle in
 * sched.c) jumps it to the earliest timer. Only that worker's thread
 * stores it, and only forward. 0 means the real clock: the cost to a
 * normal run is one relaxed load and a branch that always goes one way.
 * What must stay in real time whatever the mode (the monitor's periods,
 * the blocking pool's idle threads) reads ringo__wall_now(); a deadline
 * handed to the kernel goes through ringo__kernel_time().
 *
 * A sleeping fiber parks on the timer embedded in its own record, so a
 * sleep allocates nothing; the timer is added to the calling worker's heap
 * after park_prepare, and its fire (on that worker, or on the monitor when
 * the worker is hogged) readies the fiber. A plain thread sleeps in
 * clock_nanosleep. No lock of its own: the heap's lock is timer.c's.
 */
#include "internal.h"

#include <errno.h>
#include <time.h>

_Atomic int64_t ringo__virtual_now;

int64_t ringo__wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * RINGO_SECOND + ts.tv_nsec;
}

int64_t ringo__now(void)
{
    int64_t v = atomic_load_explicit(&ringo__virtual_now, memory_order_relaxed);
    if (RINGO__UNLIKELY(v != 0))
        return v;
    return ringo__wall_now();
}

int64_t ringo__kernel_time(int64_t t)
{
    int64_t v = atomic_load_explicit(&ringo__virtual_now, memory_order_relaxed);
    if (RINGO__UNLIKELY(v != 0)) {
        int64_t left = t > v ? t - v : 0, wall = ringo__wall_now();
        return left > INT64_MAX - wall ? INT64_MAX : wall + left;
    }
    return t;
}

int64_t ringo_now(void)
{
    return ringo__now();
}

static void sleep_fire(ringo__timer_t *t)
{
    /* A sleep's end orders nothing (as in Go, where the timer just readies
     * the goroutine). */
    ringo__wait_t wt = {.fiber = t->arg};
    ringo__unblock_quiet(&wt);
}

void ringo_sleep(ringo_duration_t d)
{
    if (d <= 0)
        return;
    ringo__worker_t *w = ringo__self();
    ringo__fiber_t *f = w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
    if (!f) {
        struct timespec ts = {.tv_sec = d / RINGO_SECOND, .tv_nsec = d % RINGO_SECOND};
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
            ;
        return;
    }
    int64_t now = ringo__now();
    ringo__timer_t *t = &f->sleep_timer;
    t->when = d > INT64_MAX - now ? INT64_MAX : now + d;
    t->fire = sleep_fire;
    t->arg = f;
    w->now_cached = now;
    ringo__park_prepare("sleep");
    ringo__timer_add(w, t);
    ringo__park();
}

/* core/clock.c - the runtime's clock and ringo_sleep.
 *
 * Every deadline in the runtime (timer heaps, wait_since, ringo_now) reads
 * CLOCK_MONOTONIC in nanoseconds, which the vDSO serves without a syscall.
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

int64_t ringo__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * RINGO_SECOND + ts.tv_nsec;
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

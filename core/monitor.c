/* core/monitor.c - the monitor thread (Go's sysmon): rescues hogged workers.
 *
 * ringo switches fibers only at blocking calls and ringo_yield, so a fiber
 * that computes without yielding keeps its worker. Nothing is interrupted
 * (no signals: C code holding malloc's lock must never be re-entered);
 * instead the monitor notices a worker whose switch count has not moved for
 * RINGO__HOG_NS while it runs a fiber, and then, on that worker's behalf:
 *   - moves its runnable fibers (queue and runnext) to the global queue;
 *   - fires its expired timers (their fibers go to the global queue);
 *   - reaps its ring's completions (the fibers they ready, likewise);
 * and wakes idle workers to run them. It repeats every period while the hog
 * lasts, so a sleeper on a hogged worker is late by about one period.
 *
 * Every SCAVENGE_PERIOD it also trims surplus pooled stacks (stack.c), and
 * every HOOK_PERIOD it calls ringo__periodic_hook, through which sync/ ages
 * its pools (standing in for the GC that clears Go's).
 *
 * The monitor polls every millisecond while any worker runs fibers and
 * every 20 ms when all are idle; a futex lets shutdown end its wait.
 *
 * Threads and locks: the monitor only reads workers' published atomics
 * (current, stats.switches), steals through the lock-free run-queue protocol and takes
 * w->timer_lock / w->cq_lock like any other thread. rt->rescue_seq is odd
 * while it holds fibers in its hands, so the deadlock check never mistakes
 * that moment for "nothing runnable".
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BUSY_PERIOD (1 * RINGO_MILLISECOND)
#define IDLE_PERIOD (20 * RINGO_MILLISECOND)
#define SCAVENGE_PERIOD (1000 * RINGO_MILLISECOND)
#define HOOK_PERIOD (5 * RINGO_SECOND)

void (*_Atomic ringo__periodic_hook)(void);

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / RINGO_SECOND, .tv_nsec = ns % RINGO_SECOND};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void rescue(ringo__runtime_t *rt, ringo__worker_t *w, int64_t now)
{
    atomic_fetch_add(&rt->rescue_seq, 1);
    /* A lone worker's runnable fibers have nowhere else to go; leaving its
     * queue alone also lets it pop without atomics (sched.c). */
    unsigned moved = rt->nworkers > 1 ? ringo__runq_drain(w) : 0;
    ringo__timers_run(w, now);
    ringo__ring_reap(w);
    atomic_fetch_add(&rt->rescue_seq, 1);
    atomic_fetch_add_explicit(&w->stats.rescues, 1, memory_order_relaxed);
    /* Fibers readied by timers and completions were already woken for
     * one at a time; the moved ones need as many idle workers as there are. */
    for (unsigned i = 0; i < moved && atomic_load(&rt->nidle) > 0; i++)
        ringo__wakep(rt);
}

static void *monitor_main(void *arg)
{
    ringo__runtime_t *rt = arg;
    ringo__tls_is_monitor = true;
    uint64_t *last_tick = ringo__calloc(rt->nworkers, sizeof(*last_tick));
    int64_t *since = ringo__calloc(rt->nworkers, sizeof(*since));
    if (!last_tick || !since) {
        ringo__free(last_tick);
        ringo__free(since);
        return NULL;
    }
    int64_t last_scavenge = ringo__now(), last_age = last_scavenge;
    while (!atomic_load(&rt->stopping)) {
        int64_t now = ringo__now();
        if (now - last_scavenge >= SCAVENGE_PERIOD) {
            ringo__stacks_scavenge(rt);
            last_scavenge = now;
        }
        if (now - last_age >= HOOK_PERIOD) {
            void (*hook)(void) = atomic_load(&ringo__periodic_hook);
            if (hook)
                hook();
            last_age = now;
        }
        bool busy = false;
        for (unsigned i = 0; i < rt->nworkers; i++) {
            ringo__worker_t *w = &rt->workers[i];
            ringo__fiber_t *cur = atomic_load_explicit(&w->current, memory_order_relaxed);
            uint64_t tick = atomic_load_explicit(&w->stats.switches, memory_order_relaxed);
            if (!cur || tick != last_tick[i]) {
                last_tick[i] = tick;
                since[i] = now;
                busy |= cur != NULL;
                continue;
            }
            busy = true;
            if (now - since[i] >= RINGO__HOG_NS)
                rescue(rt, w, now);
        }
        uint32_t v = atomic_load(&rt->monitor_futex);
        if (atomic_load(&rt->stopping))
            break;
        futex_wait(&rt->monitor_futex, v, busy ? BUSY_PERIOD : IDLE_PERIOD);
    }
    ringo__free(last_tick);
    ringo__free(since);
    return NULL;
}

int ringo__monitor_start(ringo__runtime_t *rt)
{
    int err = pthread_create(&rt->monitor, NULL, monitor_main, rt);
    if (err)
        return -err;
    rt->monitor_started = true;
    return 0;
}

void ringo__monitor_kick(ringo__runtime_t *rt)
{
    atomic_fetch_add(&rt->monitor_futex, 1);
    syscall(SYS_futex, &rt->monitor_futex, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void ringo__monitor_stop(ringo__runtime_t *rt)
{
    if (!rt->monitor_started)
        return;
    ringo__monitor_kick(rt);
    pthread_join(rt->monitor, NULL);
    rt->monitor_started = false;
}

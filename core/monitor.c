/* core/monitor.c - the monitor thread (Go's sysmon): rescues hogged workers
 * and runs spare workers while every worker is hogged.
 *
 * ringo switches fibers only at blocking calls and ringo_yield, so a fiber
 * that computes without yielding keeps its worker. Nothing is interrupted
 * (no signals: C code holding malloc's lock must never be re-entered);
 * instead the monitor notices a worker whose switch count has not moved for
 * RINGO__HOG_NS while it runs a fiber (it is "hogged"), and then, on that
 * worker's behalf:
 *   - moves its runnable fibers (queue and runnext) to the global queue;
 *   - fires its expired timers (their fibers go to the global queue);
 *   - reaps its ring's completions (the fibers they ready, likewise);
 * and wakes idle workers to run them. It repeats every period while the hog
 * lasts, so a sleeper on a hogged worker is late by about one period.
 *
 * Spare workers. When every running worker is hogged (and its thread has
 * been computing for at least half that time: a worker the kernel left off
 * the CPU on a loaded machine looks stuck too, but a spare would not help
 * it), nobody is left to run what the rescues move, so the monitor does
 * what Go does for a P whose M
 * is stuck in a system call: it brings up a spare worker (a thread with its
 * own ring, run queue and timer heap, in rt->workers[nprocs..]) that runs
 * the other fibers. A spare counts as a running worker; if it too gets
 * hogged, another comes up, up to the spare slots there are. Once more
 * workers run unhogged than were configured (a hog ended or yielded) for a
 * whole RINGO__HOG_NS, the monitor retires one spare (the highest one not
 * hogged): it runs no fiber from then on and its runnable fibers go to the
 * global queue at once; it keeps serving its timers, in-flight operations
 * and cancel requests until none is left (sched.c), then its thread parks
 * on a futex, its ring kept open (runtime.c), no longer counted live.
 * So the number of workers running fibers without being hogged exceeds
 * the configured count only between a hog's end and the retirement that
 * follows it, about RINGO__HOG_NS, and never by more than the spares that
 * were needed. A spare needed again is taken back (retiring or parked)
 * before a new thread is started; parked spare threads end at shutdown.
 *
 * Spare slot states (w->spare_state): DORMANT -> ACTIVE (the monitor
 * starts its thread), ACTIVE -> RETIRING (the monitor), RETIRING -> ACTIVE
 * and PARKED -> ACTIVE (the monitor, by CAS), RETIRING -> PARKED (the
 * spare, by CAS, when it has nothing left), PARKED -> EXITING (ringo_run,
 * by CAS, at shutdown), ACTIVE -> EXITING (the spare, at shutdown or when
 * its ring cannot be made), EXITING -> DORMANT (whoever joins the thread:
 * the monitor after a failed start, else ringo_run). Only the monitor
 * moves a spare out of ACTIVE while the runtime runs; it rescues ACTIVE
 * and RETIRING spares (a retiring one may still run a hog), whose rings
 * stay open until shutdown.
 *
 * Every SCAVENGE_PERIOD it also trims surplus pooled stacks (stack.c), and
 * every HOOK_PERIOD it calls ringo__periodic_hook, through which sync/ ages
 * its pools (standing in for the GC that clears Go's). While every worker
 * sleeps it re-runs the deadlock check (sched.c), since a verdict put off
 * because of a thread outside the runtime, or a spare still ending, comes
 * due when that thread ends.
 *
 * Its periods are real time, also in a virtual-time run (clock.c), where
 * it rescues nothing: a hog there holds the one worker, as on one P.
 *
 * The monitor polls every millisecond while any worker runs fibers and
 * every 20 ms when all are idle; a futex lets shutdown end its wait
 * (ringo__monitor_kick also wakes the caller of ringo_run waiting for main).
 *
 * Threads and locks: the monitor only reads workers' published atomics
 * (current, stats.switches), steals through the lock-free run-queue protocol and takes
 * w->timer_lock / w->cq_lock like any other thread. rt->rescue_seq is odd
 * while it holds fibers in its hands, so the deadlock check never mistakes
 * that moment for "nothing runnable". Its private arrays are its own.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BUSY_PERIOD (1 * RINGO_MILLISECOND)
#define IDLE_PERIOD (20 * RINGO_MILLISECOND)
#define SCAVENGE_PERIOD (1000 * RINGO_MILLISECOND)
#define HOOK_PERIOD (5 * RINGO_SECOND)
#define SPARE_RETRY (1000 * RINGO_MILLISECOND)   /* after a spare failed to start */

void (*_Atomic ringo__periodic_hook)(void);

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / RINGO_SECOND, .tv_nsec = ns % RINGO_SECOND};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void wake_moved(ringo__runtime_t *rt, unsigned moved)
{
    /* Fibers readied by timers and completions were already woken for
     * one at a time; the moved ones need as many idle workers as there are. */
    for (unsigned i = 0; i < moved && ringo__idle_count(atomic_load(&rt->idle)) > 0; i++)
        ringo__wakep(rt);
}

/* Moves a hogged worker's runnable fibers to the global queue and fires
 * its timers and completions on its behalf. */
static void rescue(ringo__runtime_t *rt, ringo__worker_t *w, int64_t now)
{
    atomic_fetch_add(&rt->rescue_seq, 1);
    unsigned moved = ringo__runq_drain(w);
    ringo__timers_run(w, now);
    ringo__ev_reap(w);
    atomic_fetch_add(&rt->rescue_seq, 1);
    atomic_fetch_add_explicit(&w->stats.rescues, 1, memory_order_relaxed);
    wake_moved(rt, moved);
}

static void wake_worker(ringo__worker_t *w)
{
    if (!atomic_exchange(&w->wake_pending, 1))
        ringo__ev_wake(w);
}

struct monitor {
    ringo__runtime_t *rt;
    uint64_t *last_tick;
    bool *had_queued;                   /* fibers queued behind a running one at the last look */
    uint64_t *last_sleeps;              /* each worker's sleeps at the last look */
    int64_t *since;
    int64_t *cpu_base;                  /* its thread's CPU time when first seen stuck; -1 */
    int64_t over_since;                 /* more unhogged workers than nprocs since; 0: not */
    int64_t spare_retry_at;             /* no spare start before this */
    bool warned_full;
};

/* Brings one more worker to run fibers: a retiring spare taken back, or a
 * dormant slot's new thread. */
static void spare_up(struct monitor *m, const bool *hogged, int64_t now)
{
    ringo__runtime_t *rt = m->rt;
    if (now < m->spare_retry_at)
        return;
    for (unsigned i = rt->nprocs; i < atomic_load(&rt->nslots); i++) {
        ringo__worker_t *w = &rt->workers[i];
        int expect = RINGO__SPARE_RETIRING;
        if (hogged[i])
            continue;               /* its own fiber holds it */
        if (atomic_compare_exchange_strong(&w->spare_state, &expect, RINGO__SPARE_ACTIVE)) {
            m->last_tick[i] = atomic_load(&w->stats.switches);
            m->since[i] = now;
            m->cpu_base[i] = -1;
            wake_worker(w);
            return;
        }
    }
    for (unsigned i = rt->nprocs; i < rt->nworkers; i++) {
        ringo__worker_t *w = &rt->workers[i];
        if (atomic_load(&w->spare_state) != RINGO__SPARE_PARKED)
            continue;
        /* Live again before it can run (its own uncount on parking may
         * come before or after this one: the sum is right either way). */
        atomic_fetch_add(&rt->idle, RINGO__LIVE_ONE + RINGO__WAKE_ONE);
        int expect = RINGO__SPARE_PARKED;
        if (atomic_compare_exchange_strong(&w->spare_state, &expect, RINGO__SPARE_ACTIVE)) {
            m->last_tick[i] = atomic_load(&w->stats.switches);
            m->since[i] = now;
            m->cpu_base[i] = -1;
            syscall(SYS_futex, &w->spare_state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
            return;
        }
        atomic_fetch_sub(&rt->idle, RINGO__LIVE_ONE);
    }
    for (unsigned i = rt->nprocs; i < rt->nworkers; i++) {
        ringo__worker_t *w = &rt->workers[i];
        if (atomic_load(&w->spare_state) != RINGO__SPARE_DORMANT)
            continue;
        if (i >= atomic_load(&rt->nslots))
            atomic_store_explicit(&rt->nslots, i + 1, memory_order_release);
        m->last_tick[i] = atomic_load(&w->stats.switches);
        m->since[i] = now;
        m->cpu_base[i] = -1;
        /* Live (and a wake-up, for the deadlock check) before it exists. */
        atomic_fetch_add(&rt->idle, RINGO__LIVE_ONE + RINGO__WAKE_ONE);
        atomic_store(&w->spare_state, RINGO__SPARE_ACTIVE);
        int err = pthread_create(&w->thread, NULL, ringo__spare_thread, w);
        if (err) {
            atomic_store(&w->spare_state, RINGO__SPARE_DORMANT);
            atomic_fetch_sub(&rt->idle, RINGO__LIVE_ONE);
            m->spare_retry_at = now + SPARE_RETRY;
            static _Atomic int warned;
            if (!atomic_exchange(&warned, 1))
                fprintf(stderr, "ringo: warning: no spare worker for fibers that never yield: %s\n",
                        strerror(err));
        }
        return;
    }
    if (!m->warned_full) {
        m->warned_full = true;
        fprintf(stderr, "ringo: warning: every worker and all %u spares are held by fibers "
                        "that never yield; other fibers wait for one to yield\n",
                rt->nworkers - rt->nprocs);
    }
}

/* Retires the highest unhogged ACTIVE spare. */
static void spare_down(struct monitor *m, const bool *hogged)
{
    ringo__runtime_t *rt = m->rt;
    for (unsigned i = atomic_load(&rt->nslots); i-- > rt->nprocs;) {
        ringo__worker_t *w = &rt->workers[i];
        if (hogged[i] || atomic_load(&w->spare_state) != RINGO__SPARE_ACTIVE)
            continue;
        atomic_store(&w->spare_state, RINGO__SPARE_RETIRING);
        /* Its queue goes now, so it stops running fibers at its next switch. */
        atomic_fetch_add(&rt->rescue_seq, 1);
        unsigned moved = ringo__runq_drain(w);
        atomic_fetch_add(&rt->rescue_seq, 1);
        wake_moved(rt, moved);
        wake_worker(w);
        return;
    }
}

static void join_ended_spares(struct monitor *m, int64_t now)
{
    ringo__runtime_t *rt = m->rt;
    for (unsigned i = rt->nprocs, n = atomic_load(&rt->nslots); i < n; i++) {
        ringo__worker_t *w = &rt->workers[i];
        if (atomic_load(&w->spare_state) == RINGO__SPARE_EXITING) {
            pthread_join(w->thread, NULL);
            atomic_store(&w->spare_state, RINGO__SPARE_DORMANT);
        }
    }
    if (atomic_exchange(&rt->spare_failed, 0))
        m->spare_retry_at = now + SPARE_RETRY;
}

/* CPU time the thread running w has used, or -1 if it cannot be read. */
static int64_t thread_cpu(ringo__worker_t *w)
{
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(w->thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * RINGO_SECOND + ts.tv_nsec;
}

/* A stuck worker whose thread computed for most of the time (not one the
 * kernel merely left off the CPU, on a loaded machine): only those make
 * the monitor bring up a spare, which would not help the others. */
static bool computing(struct monitor *m, unsigned i, ringo__worker_t *w)
{
    int64_t cpu = thread_cpu(w);
    if (cpu < 0 || m->cpu_base[i] < 0)
        return true;
    return cpu - m->cpu_base[i] >= RINGO__HOG_NS / 2;
}

/* One look at every running worker; true if any runs a fiber. */
static bool look(struct monitor *m, bool *hogged, int64_t now)
{
    ringo__runtime_t *rt = m->rt;
    bool busy = false, waiting = false;
    unsigned nhogged = 0, nfree = 0, n = atomic_load(&rt->nslots);
    for (unsigned i = 0; i < n; i++) {
        ringo__worker_t *w = &rt->workers[i];
        hogged[i] = false;
        /* A retiring spare still runs the fiber it had; if that one hogs
         * it, it is rescued like any worker, but it is no free worker. */
        int st = ringo__is_spare(rt, w) ? atomic_load(&w->spare_state) : RINGO__SPARE_ACTIVE;
        if (st != RINGO__SPARE_ACTIVE && st != RINGO__SPARE_RETIRING)
            continue;
        ringo__fiber_t *cur = atomic_load_explicit(&w->current, memory_order_relaxed);
        uint64_t tick = atomic_load_explicit(&w->stats.switches, memory_order_relaxed);
        /* A worker running a fiber with others queued behind it, at this
         * look and the last (a millisecond apart), has more work than it
         * runs: an idle worker that sleeps without a nap (it went idle
         * when all were) is woken to look at it (sched.c decides what is
         * worth taking). */
        uint32_t head = (uint32_t)atomic_load_explicit(&w->rq.head, memory_order_relaxed);
        uint32_t len = atomic_load_explicit(&w->rq.tail, memory_order_relaxed) - head;
        bool queued = cur && ((len > 0 && len <= RINGO__RUNQ_SIZE) ||
                              atomic_load_explicit(&w->rq.runnext, memory_order_relaxed));
        waiting |= queued && m->had_queued[i];
        m->had_queued[i] = queued;
        /* A worker that switched fibers but never slept since the last
         * look is saturated (its time goes to fibers and to the kernel
         * work of their operations, which io_uring does in the submitting
         * thread): another worker should take some of its fibers. */
        uint64_t sleeps = atomic_load_explicit(&w->stats.sleeps, memory_order_relaxed);
        waiting |= sleeps == m->last_sleeps[i] && tick != m->last_tick[i];
        m->last_sleeps[i] = sleeps;
        /* Virtual time keeps every fiber on its one worker, in its order:
         * nothing is rescued (and no spare started) there. */
        if (!cur || tick != m->last_tick[i] || rt->virtual_time) {
            m->last_tick[i] = tick;
            m->since[i] = now;
            m->cpu_base[i] = -1;
            busy |= cur != NULL;
            nfree += st == RINGO__SPARE_ACTIVE;
            continue;
        }
        busy = true;
        if (m->cpu_base[i] < 0)
            m->cpu_base[i] = thread_cpu(w);
        if (now - m->since[i] < RINGO__HOG_NS) {
            nfree += st == RINGO__SPARE_ACTIVE;
            continue;
        }
        rescue(rt, w, now);
        if (!computing(m, i, w)) {
            nfree += st == RINGO__SPARE_ACTIVE;     /* descheduled, not hogging */
            continue;
        }
        hogged[i] = true;
        nhogged++;
    }
    if (atomic_load(&rt->stopping))
        return busy;
    if (waiting)
        ringo__wakep(rt);
    if (nhogged && !nfree)
        spare_up(m, hogged, now);
    if (nfree > rt->nprocs) {
        if (!m->over_since)
            m->over_since = now;
        else if (now - m->over_since >= RINGO__HOG_NS) {
            spare_down(m, hogged);
            m->over_since = 0;
        }
    } else {
        m->over_since = 0;
    }
    join_ended_spares(m, now);
    return busy;
}

static void *monitor_main(void *arg)
{
    ringo__runtime_t *rt = arg;
    ringo__tls_is_monitor = true;
    struct monitor m = {.rt = rt};
    m.last_tick = ringo__calloc(rt->nworkers, sizeof(*m.last_tick));
    m.had_queued = ringo__calloc(rt->nworkers, sizeof(*m.had_queued));
    m.last_sleeps = ringo__calloc(rt->nworkers, sizeof(*m.last_sleeps));
    m.since = ringo__calloc(rt->nworkers, sizeof(*m.since));
    m.cpu_base = ringo__calloc(rt->nworkers, sizeof(*m.cpu_base));
    bool *hogged = ringo__calloc(rt->nworkers, sizeof(*hogged));
    /* Published before ringo__monitor_start returns: before any fiber runs. */
    atomic_store(&rt->monitor_tid, (int)syscall(SYS_gettid));
    syscall(SYS_futex, &rt->monitor_tid, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    if (!m.last_tick || !m.had_queued || !m.last_sleeps || !m.since || !m.cpu_base || !hogged)
        goto out;
    for (unsigned i = 0; i < rt->nworkers; i++)
        m.cpu_base[i] = -1;
    int64_t last_scavenge = ringo__wall_now(), last_age = last_scavenge;
    while (!atomic_load(&rt->stopping)) {
        int64_t now = ringo__wall_now();
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
        bool busy = look(&m, hogged, now);
        uint64_t idle = atomic_load(&rt->idle);
        if (!busy && ringo__idle_count(idle) == ringo__live_count(idle))
            ringo__check_deadlock(rt);
        uint32_t v = atomic_load(&rt->monitor_futex);
        if (atomic_load(&rt->stopping))
            break;
        futex_wait(&rt->monitor_futex, v, busy ? BUSY_PERIOD : IDLE_PERIOD);
    }
out:
    ringo__free(m.last_tick);
    ringo__free(m.had_queued);
    ringo__free(m.last_sleeps);
    ringo__free(m.since);
    ringo__free(m.cpu_base);
    ringo__free(hogged);
    return NULL;
}

int ringo__monitor_start(ringo__runtime_t *rt)
{
    int err = pthread_create(&rt->monitor, NULL, monitor_main, rt);
    if (err)
        return -err;
    rt->monitor_started = true;
    /* Its thread id must be known before a fiber runs (runtime.c). */
    while (!atomic_load(&rt->monitor_tid))
        syscall(SYS_futex, &rt->monitor_tid, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return 0;
}

void ringo__monitor_kick(ringo__runtime_t *rt)
{
    /* Wakes the monitor, and the caller of ringo_run waiting for main
     * (runtime.c, on the gate's condition variable). */
    atomic_fetch_add(&rt->monitor_futex, 1);
    syscall(SYS_futex, &rt->monitor_futex, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    pthread_mutex_lock(&rt->gate_lock);
    pthread_cond_broadcast(&rt->gate_cond);
    pthread_mutex_unlock(&rt->gate_lock);
}

void ringo__monitor_stop(ringo__runtime_t *rt)
{
    if (!rt->monitor_started)
        return;
    ringo__monitor_kick(rt);
    pthread_join(rt->monitor, NULL);
    rt->monitor_started = false;
}

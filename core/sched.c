/* core/sched.c - the scheduler: run queues, work stealing, idling in the ring.
 *
 * Each worker owns a 256-slot run queue plus a runnext slot (Go's P). The
 * owner pushes at the tail; the owner and thieves pop at the head with a
 * CAS, so stealing takes no lock. A readied or new fiber goes to runnext of
 * the worker that readied it and runs next there (Go's rule: it inherits the
 * waker's cache and time slice); the fiber it displaces goes to the queue.
 * A full queue spills half to the global queue, which has one mutex and is
 * visited by the owner every 61 scheduling rounds so nothing starves.
 *
 * The owner takes from its queue's tail when the newest entry is a fiber
 * that has never run, and from the head otherwise (a deque, as in Cilk's
 * work-first order); thieves always take the oldest half. A spawn tree
 * (skynet, a recursive divide and conquer) then runs depth first: a node's
 * children finish before its siblings' subtrees start, so the fibers alive
 * at once number about depth x fan-out instead of a whole level of the
 * tree, and a thief takes the biggest subtrees, near the root. Fibers that
 * ran before (yields, wake-ups) keep FIFO order: every 61st round the owner
 * takes the oldest entry if it is one of those, or if the head has not moved
 * for 10 ms (the slice after which Go preempts a goroutine), so a fiber
 * queued behind a growing spawn tree still gets its turn (oldest_due).
 *
 * Finding work (find_runnable, on the scheduler context g0):
 *   1. timers due and ring completions of this worker (no syscall);
 *   2. runnext / local queue / global queue;
 *   3. spin briefly stealing half of a random victim's queue (runnext last),
 *      cut short by completions on its own ring (back to 1.);
 *   4. sleep in its event source (ringo__ev_wait), the timeout being its
 *      nearest timer, or a nap while other workers run (below). This is the
 *      only place a worker sleeps.
 *      In virtual time (one worker) it sleeps only while a ring operation
 *      is in flight; otherwise it moves the virtual clock to its nearest
 *      timer (clock.c) and goes back to 1., or, with no timer, runs the
 *      deadlock check as usual.
 *
 * Stealing only work that waits. Measured on 2 workers (bench/workerpool,
 * pipeline, fanin; BENCH_STATS=1 prints the counters), stealing whatever a
 * busy worker had queued made a program 2-2.6x slower than on one worker:
 * a producer handing jobs to 8 fibers leaves one or two queued behind
 * runnext at any time, an idle worker was woken for each (a MSG_RING, a
 * system call on the waker's side), stole them, and from then on every
 * channel hand-off crossed cores, its lock and the fibers' stacks bouncing
 * between caches. Those fibers would have run on their own worker within
 * a microsecond. So a thief takes from a victim only a backlog
 * (STEAL_BACKLOG fibers or more: a burst of completions), fibers that
 * never ran (a spawn is new parallel work, not one end of a hand-off),
 * fibers the kernel or a timer readied while the victim runs another (no
 * partner fiber shares their data: independent connections spread), or
 * a queue whose head has not moved for STALE_NS (its runnext too if the
 * victim has not switched meanwhile: it runs one long fiber), judged from
 * what the thief saw of that victim before (worth_stealing). Wake-ups
 * follow the same rule: a fiber readied on a worker wakes an idle one only
 * for a backlog (ringo__wakep_local); a spawn and the global queue always
 * wake one. An idle worker sleeps in naps (NAP_MIN_NS doubling to
 * NAP_MAX_NS) while other workers run, so it comes back to check whether
 * their queues wait; one that went to sleep while all were idle is woken
 * by the monitor when a busy worker keeps fibers queued, or never sleeps,
 * for a whole monitor period (monitor.c: with io_uring a connection's
 * kernel work runs in its worker's thread, so four busy connections on
 * one worker kept it saturated while its run queue looked idle). A
 * parallel computation thus spreads over the workers within about a nap,
 * and a chain of hand-offs stays on one.
 *
 * Wake-ups without lost work: a worker publishes `sleeping` and counts
 * itself idle in rt->idle (seq_cst), then re-checks what a waker would
 * have woken it for (the global queue, backlogs: wake_worthy_work); a
 * waker publishes work, then (after a full fence) reads nspinning and
 * rt->idle (ringo__wakep). One of the two always sees the other. Work
 * that wakes nobody (a short local queue) is never lost either: its owner
 * is running and runs it, and if the owner is hogged the monitor moves it
 * to the global queue. A spinning worker finding work wakes another if it
 * was the last spinner, so bursts fan out. wake_pending (set by the
 * waker, cleared when the wake-up lands) keeps a sleeper from being sent
 * two wake-ups.
 *
 * Spare workers (rt->workers[nprocs..]; the monitor starts and retires
 * them, see monitor.c) run this same loop. An ACTIVE spare is a worker like
 * any other. A RETIRING one runs no fiber: it hands whatever becomes
 * runnable on it to the global queue and serves its own timers, in-flight
 * operations and cancel requests until none is left, then parks its thread
 * (runtime.c) until the monitor needs it again. It never counts itself
 * idle, so while it retires no deadlock is declared.
 *
 * Steal victims and wake-up targets are picked with ringo__rand, the
 * runtime's one random number generator (fiber.c); a worker's state starts
 * from its index, or in virtual time from ringo_config_t.seed, so that
 * select's choices replay.
 *
 * Lock rules: only rt->global_lock (the global queue list). Run queues are
 * lock-free; runnext is an atomic pointer any consumer may CAS away, and
 * every consumer, the owner too, pops with a CAS: a thief (another worker,
 * a spare, the monitor) may be at the queue at any time, even when only
 * one worker is configured.
 *
 * Run queue invariants. Only the owner writes tail and the slots (it
 * pushes at tail, and pops at tail only in runq_pop_fresh). The head word
 * is the head index (low 32 bits) and the count of the owner's pops at the
 * tail (high 32); every pop at the head (owner or thief) and every owner
 * pop at the tail changes it by CAS, so a claim computed from a head word
 * that has changed since it was read always fails: a thief never takes an
 * entry the owner took from the tail, and the reverse. A fiber's `fresh`
 * is written at spawn and cleared by the fiber's first run; its `by_event`
 * is set by whoever readies it from a completion or timer and cleared when
 * it runs; both are read racily, by owners choosing an end and thieves
 * choosing a victim, and only ever steer a choice, never a pop's safety.
 * w->seen[] and w->nap_ns belong to w's thread alone.
 */
#include "internal.h"
#include "sanitizer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SPIN_NS (20 * RINGO_MICROSECOND)
#define RUNNEXT_STREAK_MAX 64
#define OLDEST_WAIT_NS (10 * RINGO_MILLISECOND)
#define STEAL_BACKLOG 16
#define STALE_NS (50 * RINGO_MICROSECOND)
#define NAP_MIN_NS (20 * RINGO_MICROSECOND)
#define NAP_MAX_NS RINGO_MILLISECOND

_Thread_local ringo__worker_t *ringo__tls_worker __attribute__((tls_model("initial-exec")));
_Thread_local bool ringo__tls_is_monitor __attribute__((tls_model("initial-exec")));

/* The out-of-line form of ringo__self() (internal.h), for architectures
 * without the inline one and for debuggers. */
#if defined(__clang__)
__attribute__((noinline))
#else
__attribute__((noinline, noipa))
#endif
ringo__worker_t *ringo__self_slow(void)
{
    return ringo__tls_worker;
}

/* Worker slots in use: the configured workers and every spare started so
 * far. Slots past it are untouched zeros. */
static inline unsigned nslots(ringo__runtime_t *rt)
{
    return atomic_load_explicit(&rt->nslots, memory_order_acquire);
}

uint64_t ringo__next_fiber_id(ringo__worker_t *w)
{
    if (w->id_next == w->id_end) {
        /* Ids come in batches so spawning touches no shared counter. */
        w->id_next = atomic_fetch_add(&ringo__rt->id_source, 16);
        w->id_end = w->id_next + 16;
    }
    return w->id_next++;
}

/* ---- the global queue ------------------------------------------------------- */

static bool global_grow(ringo__runtime_t *rt, size_t need)
{
    size_t cap = rt->global_cap ? rt->global_cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap == rt->global_cap)
        return true;
    ringo__fiber_t **q = ringo__malloc(cap * sizeof(*q));
    if (!q)
        return false;
    size_t len = atomic_load_explicit(&rt->global_len, memory_order_relaxed);
    for (size_t i = 0; i < len; i++)
        q[i] = rt->global_q[(rt->global_head + i) % rt->global_cap];
    ringo__free(rt->global_q);
    rt->global_q = q;
    rt->global_head = 0;
    rt->global_cap = cap;
    return true;
}

void ringo__global_put(ringo__runtime_t *rt, ringo__fiber_t *const *fs, size_t n)
{
    ringo__pthread_lock(&rt->global_lock);
    size_t len = atomic_load_explicit(&rt->global_len, memory_order_relaxed);
    if (len + n > rt->global_cap && !global_grow(rt, len + n)) {
        ringo__pthread_unlock(&rt->global_lock);
        ringo__throw("out of memory growing the global run queue");
    }
    for (size_t i = 0; i < n; i++)
        rt->global_q[(rt->global_head + len + i) % rt->global_cap] = fs[i];
    atomic_store_explicit(&rt->global_len, len + n, memory_order_release);
    ringo__pthread_unlock(&rt->global_lock);
}

/* Takes a fair share of the global queue: one to run, the rest to w's queue. */
static ringo__fiber_t *global_get(ringo__runtime_t *rt, ringo__worker_t *w)
{
    if (!atomic_load_explicit(&rt->global_len, memory_order_relaxed))
        return NULL;
    ringo__fiber_t *batch[RINGO__RUNQ_SIZE / 2];
    ringo__pthread_lock(&rt->global_lock);
    size_t len = atomic_load_explicit(&rt->global_len, memory_order_relaxed);
    size_t n = len / rt->nprocs + 1;
    if (n > len)
        n = len;
    if (n > RINGO__RUNQ_SIZE / 2)
        n = RINGO__RUNQ_SIZE / 2;
    for (size_t i = 0; i < n; i++)
        batch[i] = rt->global_q[(rt->global_head + i) % rt->global_cap];
    if (n) {
        rt->global_head = (rt->global_head + n) % rt->global_cap;
        atomic_store_explicit(&rt->global_len, len - n, memory_order_relaxed);
    }
    ringo__pthread_unlock(&rt->global_lock);
    if (!n)
        return NULL;
    for (size_t i = 1; i < n; i++)
        ringo__runq_put(w, batch[i], false);
    return batch[0];
}

/* ---- the local run queue ------------------------------------------------------ */

/* The head word's parts (see runq_pop_fresh). */
#define HEAD_POP (1ull << 32)

static inline uint32_t runq_head(struct ringo__runq *q)
{
    return (uint32_t)atomic_load_explicit(&q->head, memory_order_acquire);
}

/* hw with its head index moved on by n, its pop count kept. */
static inline uint64_t head_advance(uint64_t hw, uint32_t n)
{
    return (hw & ~0xffffffffull) | (uint32_t)((uint32_t)hw + n);
}

static inline uint32_t runq_len(struct ringo__runq *q)
{
    uint32_t h = runq_head(q);
    return atomic_load_explicit(&q->tail, memory_order_acquire) - h;
}

static inline bool runq_empty(struct ringo__runq *q)
{
    return runq_len(q) == 0 && !atomic_load_explicit(&q->runnext, memory_order_acquire);
}

/* Moves half the full queue plus f to the global queue. False if a thief
 * got there first (the queue is no longer full: retry the fast path). */
#define container_of_runq(q) ((ringo__worker_t *)((char *)(q) - offsetof(ringo__worker_t, rq)))

static bool runq_put_slow(ringo__runtime_t *rt, struct ringo__runq *q, ringo__fiber_t *f,
                          uint64_t hw, uint32_t t)
{
    uint32_t h = (uint32_t)hw;
    enum { HALF = RINGO__RUNQ_SIZE / 2 };
    /* May run on a fiber's stack (spawn, ready): use the worker's scratch. */
    ringo__fiber_t **batch = (ringo__fiber_t **)container_of_runq(q)->scratch;
    uint32_t n = (t - h) / 2;
    if (n != HALF)
        return false;
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&q->slots[(h + i) % RINGO__RUNQ_SIZE], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&q->head, &hw, head_advance(hw, n),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    batch[n] = f;
    ringo__global_put(rt, batch, n + 1);
    return true;
}

void ringo__runq_put(ringo__worker_t *w, ringo__fiber_t *f, bool next)
{
    struct ringo__runq *q = &w->rq;
    if (next) {
        f = atomic_exchange_explicit(&q->runnext, f, memory_order_acq_rel);
        if (!f)
            return;
        /* The displaced fiber goes to the tail. */
    }
    for (;;) {
        uint64_t hw = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (t - (uint32_t)hw < RINGO__RUNQ_SIZE) {
            atomic_store_explicit(&q->slots[t % RINGO__RUNQ_SIZE], f, memory_order_relaxed);
            atomic_store_explicit(&q->tail, t + 1, memory_order_release);
            return;
        }
        if (runq_put_slow(ringo__rt, q, f, hw, t))
            return;
    }
}

static ringo__fiber_t *runq_pop_queue(struct ringo__runq *q)
{
    /* A CAS even with one worker: the monitor drains a hogged worker's
     * queue and a spare steals from it, both at any moment. */
    for (;;) {
        uint64_t hw = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t h = (uint32_t)hw;
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (t == h)
            return NULL;
        ringo__fiber_t *f = atomic_load_explicit(&q->slots[h % RINGO__RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&q->head, &hw, head_advance(hw, 1),
                                                  memory_order_acq_rel, memory_order_relaxed))
            return f;
    }
}

/* The owner's pop at the tail, taken only when the newest entry is a fiber
 * that has never run (the work-first order of a spawn tree; see the top of
 * this file). Thieves take the oldest half: a thief reads the head word,
 * then tail, copies its half and claims it with a CAS on the head word. A
 * thief may sit between its reads and its CAS for as long as the kernel
 * likes, while the owner pops several entries from the tail, down into the
 * half the thief means to take. So every pop at the tail first lowers
 * tail, then bumps the pop count in the head word with a CAS: a thief that
 * read the head word before the pop fails its CAS and reads again (and
 * then sees the lowered tail), and if a thief's claim landed first, the
 * owner's CAS fails, it puts tail back and looks again. The peek at
 * `fresh` may read a fiber a thief has already taken and even started:
 * that only makes the choice of end wrong once, never the pop (stacks
 * stay mapped for the runtime's life, so the read is safe). */
static ringo__fiber_t *runq_pop_fresh(struct ringo__runq *q)
{
    for (;;) {
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        uint64_t hw = atomic_load_explicit(&q->head, memory_order_acquire);
        if (t == (uint32_t)hw)
            return NULL;
        ringo__fiber_t *f = atomic_load_explicit(&q->slots[(t - 1) % RINGO__RUNQ_SIZE],
                                                 memory_order_relaxed);
        if (!atomic_load_explicit(&f->fresh, memory_order_relaxed))
            return NULL;
        atomic_store_explicit(&q->tail, t - 1, memory_order_relaxed);
        /* Release: a thief that reads the new head word sees tail lowered. */
        if (atomic_compare_exchange_strong_explicit(&q->head, &hw, hw + HEAD_POP,
                                                    memory_order_seq_cst, memory_order_relaxed))
            return f;                   /* head <= t - 1 still: slot t - 1 is ours */
        atomic_store_explicit(&q->tail, t, memory_order_relaxed);
    }
}

/* On a 61st round (the owner has just polled, so now_cached is current):
 * must the owner take its oldest entry rather than the newest fresh one?
 * Yes if the oldest is a fiber that ran before (a yield, a wake-up: those
 * keep FIFO order) or if the head has not moved for OLDEST_WAIT_NS. */
static bool oldest_due(ringo__worker_t *w)
{
    if (w->schedtick % 61 != 0)
        return false;
    struct ringo__runq *q = &w->rq;
    uint32_t h = runq_head(q);
    if (h == atomic_load_explicit(&q->tail, memory_order_relaxed))
        return false;
    ringo__fiber_t *f = atomic_load_explicit(&q->slots[h % RINGO__RUNQ_SIZE], memory_order_relaxed);
    if (!atomic_load_explicit(&f->fresh, memory_order_relaxed))
        return true;
    if (h != w->oldest_mark) {
        w->oldest_mark = h;
        w->oldest_since = w->now_cached;
        return false;
    }
    return w->now_cached - w->oldest_since >= OLDEST_WAIT_NS;
}

/* Owner's pop: runnext first, except that a long streak of runnext hand-offs
 * (two fibers ping-ponging) yields to the queue so it cannot starve. Then
 * the newest entry if it never ran, else the oldest (oldest_due decides on
 * every 61st round), so nothing waits behind a spawn tree for long. */
static ringo__fiber_t *runq_get(ringo__worker_t *w)
{
    struct ringo__runq *q = &w->rq;
    ringo__fiber_t *f;
    if (w->runnext_streak < RUNNEXT_STREAK_MAX) {
        f = atomic_load_explicit(&q->runnext, memory_order_relaxed);
        if (f && atomic_compare_exchange_strong_explicit(&q->runnext, &f, NULL,
                                                         memory_order_acq_rel, memory_order_relaxed)) {
            w->runnext_streak++;
            return f;
        }
    }
    w->runnext_streak = 0;
    if (!oldest_due(w) && (f = runq_pop_fresh(q)) != NULL)
        return f;
    f = runq_pop_queue(q);
    if (f)
        return f;
    f = atomic_load_explicit(&q->runnext, memory_order_relaxed);
    if (f && atomic_compare_exchange_strong_explicit(&q->runnext, &f, NULL,
                                                     memory_order_acq_rel, memory_order_relaxed))
        return f;
    return NULL;
}

/* Grabs half of victim's queue into batch (Go's runqgrab). With
 * take_runnext, an otherwise empty victim gives up its runnext. */
static uint32_t runq_grab(struct ringo__runq *q, ringo__fiber_t **batch, bool take_runnext)
{
    for (;;) {
        /* The pop count in the head word fails this CAS if the owner
         * popped at the tail meanwhile (runq_pop_fresh). */
        uint64_t hw = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t h = (uint32_t)hw;
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
        uint32_t n = t - h;
        n = n - n / 2;
        if (n == 0) {
            if (take_runnext) {
                ringo__fiber_t *f = atomic_load_explicit(&q->runnext, memory_order_acquire);
                if (f && atomic_compare_exchange_strong_explicit(&q->runnext, &f, NULL,
                                                                 memory_order_acq_rel,
                                                                 memory_order_relaxed)) {
                    batch[0] = f;
                    return 1;
                }
            }
            return 0;
        }
        if (n > RINGO__RUNQ_SIZE / 2)
            continue;       /* read head and tail at different times */
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&q->slots[(h + i) % RINGO__RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&q->head, &hw, head_advance(hw, n),
                                                    memory_order_acq_rel, memory_order_relaxed))
            return n;
    }
}

static ringo__fiber_t *steal_from(ringo__worker_t *w, ringo__worker_t *victim, bool take_runnext)
{
    ringo__fiber_t *batch[RINGO__RUNQ_SIZE / 2];
    uint32_t n = runq_grab(&victim->rq, batch, take_runnext);
    if (!n)
        return NULL;
    for (uint32_t i = 0; i + 1 < n; i++)
        ringo__runq_put(w, batch[i], false);
    atomic_store_explicit(&w->stats.steals,
        atomic_load_explicit(&w->stats.steals, memory_order_relaxed) + n, memory_order_relaxed);
    return batch[n - 1];
}

unsigned ringo__runq_drain(ringo__worker_t *victim)
{
    ringo__fiber_t *batch[RINGO__RUNQ_SIZE / 2];
    unsigned total = 0;
    uint32_t n;
    while ((n = runq_grab(&victim->rq, batch, true)) > 0) {
        ringo__global_put(ringo__rt, batch, n);
        total += n;
    }
    return total;
}

/* ---- waking idle workers ------------------------------------------------------ */

static bool wake_one(ringo__runtime_t *rt)
{
    unsigned n = nslots(rt), start = ringo__rand(n);
    for (unsigned i = 0; i < n; i++) {
        ringo__worker_t *v = &rt->workers[(start + i) % n];
        if (ringo__is_spare(rt, v) &&
            atomic_load(&v->spare_state) != RINGO__SPARE_ACTIVE)
            continue;       /* retiring: it would not take the work */
        if (atomic_load(&v->sleeping) && !atomic_load(&v->wake_pending) &&
            !atomic_exchange(&v->wake_pending, 1)) {
            ringo__ev_wake(v);
            return true;
        }
    }
    return false;
}

void ringo__wakep(ringo__runtime_t *rt)
{
    /* Pairs with the fence-free seq_cst updates in go_idle(): our caller
     * published work before this fence. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&rt->nspinning, memory_order_relaxed) != 0)
        return;     /* a spinner will find the work */
    if (ringo__idle_count(atomic_load_explicit(&rt->idle, memory_order_relaxed)) == 0)
        return;
    wake_one(rt);
}

void ringo__wakep_local(ringo__runtime_t *rt, ringo__worker_t *w)
{
    /* Looked at on every 8th push only: head is the line thieves CAS, and
     * reading it on every spawn of a spawn loop cost 9% of bench/waitgroup
     * (perf). A backlog is still seen within 8 pushes; until then it is
     * its owner's, which runs it. */
    uint32_t t = atomic_load_explicit(&w->rq.tail, memory_order_relaxed);
    if ((t & 7) == 0 && t - runq_head(&w->rq) >= STEAL_BACKLOG)
        ringo__wakep(rt);
}

void ringo__wake_all(ringo__runtime_t *rt)
{
    for (unsigned i = 0, n = nslots(rt); i < n; i++) {
        ringo__worker_t *v = &rt->workers[i];
        if (!atomic_exchange(&v->wake_pending, 1))
            ringo__ev_wake(v);
    }
}

/* ---- finding work --------------------------------------------------------------- */

/* What a fiber switches to when it blocks or yields: a fiber from this
 * worker's queues, or NULL to go through the scheduler, which it must do
 * every 61 rounds to poll timers, the ring and the global queue. */
ringo__fiber_t *ringo__sched_next_local(ringo__worker_t *w)
{
    if (RINGO__UNLIKELY(atomic_load_explicit(&ringo__rt->stopping, memory_order_relaxed)))
        return NULL;
    if (++w->schedtick % 61 == 0)
        return NULL;
    return runq_get(w);
}

static void poll_local(ringo__worker_t *w)
{
    int64_t now = ringo__now();
    w->now_cached = now;
    if (atomic_load_explicit(&w->timer_next, memory_order_relaxed) <= now)
        ringo__timers_run(w, now);
    ringo__ev_poll(w);
}

static bool any_work(ringo__runtime_t *rt)
{
    if (atomic_load(&rt->global_len))
        return true;
    for (unsigned i = 0, n = nslots(rt); i < n; i++)
        if (!runq_empty(&rt->workers[i].rq))
            return true;
    return false;
}

/* What a worker about to sleep must not sleep through: work whose
 * publisher calls ringo__wakep (the global queue, a backlog). A short
 * queue of a running worker is its owner's to run; a napping worker comes
 * back for it if it waits (go_idle). */
static bool wake_worthy_work(ringo__runtime_t *rt)
{
    if (atomic_load(&rt->global_len))
        return true;
    for (unsigned i = 0, n = nslots(rt); i < n; i++) {
        uint32_t len = runq_len(&rt->workers[i].rq);
        if (len >= STEAL_BACKLOG && len <= RINGO__RUNQ_SIZE)
            return true;
    }
    return false;
}

/* May thief w take from victim v now? Only work that waits: a backlog of
 * STEAL_BACKLOG or more, or a queue whose head has not moved for STALE_NS
 * (its runnext too when the victim has not switched either). w remembers
 * what it saw of each victim across spins and naps. *runnext says whether
 * the victim's runnext may go too. */
static bool worth_stealing(ringo__worker_t *w, ringo__worker_t *v, int64_t now, bool *runnext)
{
    struct ringo__runq *q = &v->rq;
    uint32_t h = runq_head(q);
    uint32_t len = atomic_load_explicit(&q->tail, memory_order_acquire) - h;
    *runnext = false;
    if (len > RINGO__RUNQ_SIZE)
        return false;               /* head and tail read at different times */
    if (len >= STEAL_BACKLOG)
        return true;
    /* A fiber that never ran is new parallel work, not one end of a
     * hand-off: take it at once. So is one the kernel or a timer readied
     * (by_event: a connection's fiber whose read completed) while its
     * worker runs another: no partner on that worker shares its data, and
     * left there, independent connections pile onto one worker whose
     * queue never looks stale, the other idle (bench tcp_stream). The peek
     * may read a fiber just taken by another thief; stacks stay mapped, so
     * it is safe, and only the choice suffers. */
    ringo__fiber_t *next = atomic_load_explicit(&q->runnext, memory_order_relaxed);
    ringo__fiber_t *oldest = len ? atomic_load_explicit(&q->slots[h % RINGO__RUNQ_SIZE],
                                                        memory_order_relaxed) : next;
    if (!oldest)
        return false;
    if (atomic_load_explicit(&oldest->fresh, memory_order_relaxed) ||
        (atomic_load_explicit(&oldest->by_event, memory_order_relaxed) &&
         !atomic_load_explicit(&v->sleeping, memory_order_relaxed))) {
        *runnext = len == 0;
        return true;
    }
    uint64_t sw = atomic_load_explicit(&v->stats.switches, memory_order_relaxed);
    struct ringo__victim_seen *seen = &w->seen[v->index % RINGO__SEEN_SLOTS];
    if (seen->head != h) {
        seen->head = h;
        seen->switches = sw;
        seen->since = now;
        return false;
    }
    if (now - seen->since < STALE_NS)
        return false;
    *runnext = seen->switches == sw;
    if (!*runnext) {
        /* The head waited, but the victim moves: measure runnext afresh. */
        seen->switches = sw;
    }
    return len > 0 || *runnext;
}

static ringo__fiber_t *spin_steal(ringo__runtime_t *rt, ringo__worker_t *w)
{
    unsigned n = nslots(rt);
    if (n == 1)
        return NULL;
    /* Like Go, keep at most half of the busy workers spinning. */
    uint64_t idle = atomic_load(&rt->idle);
    unsigned busy = ringo__live_count(idle) - ringo__idle_count(idle);
    if (2 * atomic_load(&rt->nspinning) >= busy)
        return NULL;
    atomic_fetch_add(&rt->nspinning, 1);
    int64_t now = ringo__now(), deadline = now + SPIN_NS;
    ringo__fiber_t *f = NULL;
    for (unsigned round = 0;; round++) {
        unsigned start = ringo__rand(n);
        if (round && (round & 3) == 0)
            now = ringo__now();
        bool last = now >= deadline;
        for (unsigned i = 0; i < n && !f; i++) {
            ringo__worker_t *v = &rt->workers[(start + i) % n];
            bool runnext;
            if (v != w && worth_stealing(w, v, now, &runnext))
                f = steal_from(w, v, runnext);
        }
        if (!f)
            f = global_get(rt, w);
        /* Our own completions end the spin at once: find_runnable polls
         * them before anything else. */
        if (f || atomic_load_explicit(&rt->stopping, memory_order_relaxed) || last ||
            ringo__ev_ready(w))
            break;
        for (int k = 0; k < 32; k++)
            ringo__cpu_relax();
    }
    /* The last spinner to find work wakes another, so a burst fans out. */
    if (atomic_fetch_sub(&rt->nspinning, 1) == 1 && f)
        ringo__wakep(rt);
    return f;
}

/* The deadlock check (Go's checkdead): called by a worker about to sleep
 * with no timeout, and by the monitor while every worker sleeps.
 *
 * Why a verdict is never wrong. A fiber can be made runnable only by (a) a
 * fiber running on a worker, (b) a worker's scheduler firing timers or
 * dispatching completions, (c) the monitor rescuing a hogged worker or
 * retiring a spare, or (d) a thread outside the runtime (a plain pthread
 * sending on a channel, arming a timer, spawning). The check rules each
 * out in turn, reading in this order:
 *   1. rescue_seq is even and the idle word reads v0 with every live worker
 *      idle. At the end (7) both are read again and must be unchanged:
 *      rt->idle's upper half counts every wake-up, so an unchanged word
 *      means no worker left its idle section in between (no ABA: a worker
 *      cannot wake, run a fiber and doze off again unseen; it would take
 *      2^32 wake-ups within one check), and a spare was neither started
 *      nor taken back (both count a wake-up too); an unchanged
 *      even rescue_seq means the monitor moved nothing meanwhile. So for the
 *      whole check no fiber ran (a), and no scheduler fired a timer (b):
 *      timers fire only outside the idle section. The one thing an idle
 *      worker still does is dispatch completions inside its ring wait.
 *   2. Every worker's inflight is 0. ring.c's dispatch decrements inflight
 *      only after the completion's callback has queued the fiber it
 *      readies (and armed whatever timer it arms), so once inflight reads
 *      0, everything any dispatch did is visible to the reads below, and no
 *      completion can come later: an SQE is counted before it is submitted,
 *      and only a running fiber submits.
 *   3. Every worker's ntimers is 0 (after 2, so a timer armed by a
 *      completion's callback is seen).
 *   4. No thread exists but the runtime's own (d); a thread that ended
 *      did all it did before, and the reads below see it.
 *   5. The global queue and every run queue are empty. Only a worker
 *      outside its idle section or the monitor (both excluded by 1) takes
 *      fibers out of a queue, so what 2-4 let in is still there.
 *   6. (Nothing else readies fibers: wake-up CQEs only clear wake_pending.)
 *   7. The idle word and rescue_seq are unchanged, as said in 1.
 * Then at the moment of 7 no fiber is runnable, none can become so, and
 * nothing is left that could make one: the program is deadlocked. */
void ringo__check_deadlock(ringo__runtime_t *rt)
{
    if (atomic_load(&rt->stopping) || atomic_load(&rt->exit_requested))
        return;
    uint64_t seq = atomic_load(&rt->rescue_seq);
    uint64_t v0 = atomic_load(&rt->idle);
    if ((seq & 1) || ringo__idle_count(v0) != ringo__live_count(v0))
        return;
    unsigned n = nslots(rt);
    for (unsigned i = 0; i < n; i++)
        if (atomic_load(&rt->workers[i].inflight))
            return;
    for (unsigned i = 0; i < n; i++)
        if (atomic_load(&rt->workers[i].ntimers))
            return;
    if (ringo__foreign_threads(rt))
        return;
    atomic_thread_fence(memory_order_seq_cst);
    if (any_work(rt))
        return;
    if (atomic_load(&rt->rescue_seq) != seq || atomic_load(&rt->idle) != v0 ||
        atomic_load(&rt->stopping) || atomic_load(&rt->exit_requested))
        return;
    if (ringo_num_fibers() == 0 && atomic_load(&rt->main_exited))
        ringo__throw("no fibers (main called ringo_exit) - deadlock!");
    ringo__throw("all fibers are asleep - deadlock!");
}

/* Sleeps in the ring until a completion, a wake-up or the nearest timer.
 * Every way out of the idle section counts a wake-up in rt->idle (the
 * deadlock check relies on it). */
static void go_idle(ringo__runtime_t *rt, ringo__worker_t *w)
{
    atomic_store(&w->sleeping, 1);
    uint64_t idle = atomic_fetch_add(&rt->idle, RINGO__IDLE_ONE) + RINGO__IDLE_ONE;
    if (wake_worthy_work(rt) || atomic_load(&rt->stopping) || atomic_load(&w->inbox_nonempty) ||
        (ringo__is_spare(rt, w) && atomic_load(&w->spare_state) != RINGO__SPARE_ACTIVE)) {
        atomic_fetch_add(&rt->idle, RINGO__WAKE_ONE - RINGO__IDLE_ONE);
        atomic_store(&w->sleeping, 0);
        return;
    }
    int64_t next = atomic_load(&w->timer_next);
    if (next == INT64_MAX && atomic_load(&w->inflight) == 0)
        ringo__check_deadlock(rt);
    int64_t timeout = -1;
    if (RINGO__UNLIKELY(rt->virtual_time)) {
        /* Every fiber is blocked. With no ring operation in flight only a
         * timer can wake one: jump the clock to it and go fire it. With
         * one in flight, time stands still until it completes. */
        if (next != INT64_MAX && atomic_load(&w->inflight) == 0) {
            if (next > atomic_load(&ringo__virtual_now))
                atomic_store(&ringo__virtual_now, next);
            atomic_fetch_add(&rt->idle, RINGO__WAKE_ONE - RINGO__IDLE_ONE);
            atomic_store(&w->sleeping, 0);
            return;
        }
    } else if (next != INT64_MAX) {
        int64_t now = ringo__now();
        timeout = next > now ? next - now : 0;
    }
    if (ringo__idle_count(idle) < ringo__live_count(idle)) {
        /* Others run: nap, then look for work that waits (worth_stealing). */
        if (timeout < 0 || timeout > w->nap_ns)
            timeout = w->nap_ns;
        w->nap_ns = w->nap_ns * 2 < NAP_MAX_NS ? w->nap_ns * 2 : NAP_MAX_NS;
    }
    RINGO__STAT_INC(w, sleeps);
    ringo__ev_wait(w, timeout);
    atomic_fetch_add(&rt->idle, RINGO__WAKE_ONE - RINGO__IDLE_ONE);
    atomic_store(&w->sleeping, 0);
}

/* One round of a retiring spare (see the top of this file). False once
 * nothing is left and it has parked (its thread leaves the loop to wait). */
static bool retire_step(ringo__runtime_t *rt, ringo__worker_t *w)
{
    poll_local(w);
    /* What its timers and completions readied went to its own queue. */
    unsigned moved = ringo__runq_drain(w);
    for (unsigned i = 0; i < moved && ringo__idle_count(atomic_load(&rt->idle)); i++)
        ringo__wakep(rt);
    /* A waker may have picked it just before it retired: pass that on. */
    if (any_work(rt))
        ringo__wakep(rt);
    if (!atomic_load(&w->ntimers) && !atomic_load(&w->inflight) &&
        !atomic_load(&w->inbox_nonempty)) {
        int expect = RINGO__SPARE_RETIRING;
        if (atomic_compare_exchange_strong(&w->spare_state, &expect, RINGO__SPARE_PARKED))
            return false;
    }
    if (atomic_load(&w->spare_state) == RINGO__SPARE_ACTIVE)
        return true;        /* the monitor needs it again */
    int64_t next = atomic_load(&w->timer_next), timeout = -1;
    if (next != INT64_MAX) {
        int64_t now = ringo__now();
        timeout = next > now ? next - now : 0;
    }
    ringo__ev_wait(w, timeout);
    return true;
}

static ringo__fiber_t *find_runnable(ringo__runtime_t *rt, ringo__worker_t *w)
{
    bool spare = ringo__is_spare(rt, w);
    for (;;) {
        if (atomic_load_explicit(&rt->stopping, memory_order_relaxed))
            return NULL;
        if (spare && atomic_load(&w->spare_state) != RINGO__SPARE_ACTIVE) {
            if (!retire_step(rt, w))
                return NULL;
            continue;
        }
        poll_local(w);
        ringo__fiber_t *f = NULL;
        if (w->schedtick % 61 == 0)
            f = global_get(rt, w);
        if (!f)
            f = runq_get(w);
        if (!f)
            f = global_get(rt, w);
        if (!f)
            f = spin_steal(rt, w);
        if (f) {
            w->nap_ns = NAP_MIN_NS;
            return f;
        }
        if (ringo__ev_ready(w))
            continue;           /* completions came in while it looked */
        go_idle(rt, w);
    }
}

/* A virtual-time run's generator state from its seed (splitmix64's
 * finaliser: nearby seeds give unrelated streams; never the stuck 0). */
static uint64_t seed_state(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x9E3779B97F4A7C15ull;
}

void ringo__worker_loop(ringo__worker_t *w)
{
    ringo__runtime_t *rt = ringo__rt;
    w->rng = 0x9E3779B97F4A7C15ull * (w->index + 1);
    w->nap_ns = NAP_MIN_NS;
    if (rt->virtual_time)
        w->rng = seed_state(rt->seed);
    ringo__fiber_t *f;
    while ((f = find_runnable(rt, w)) != NULL) {
        w->schedtick++;
        ringo__switch(w, NULL, f, RINGO__POST_NONE);
    }
}

/* core/sched.c - the scheduler: run queues, work stealing, idling in the ring.
 *
 * Why it is built this way (measured on a 2-core VM where moving one cache
 * line between the cores costs 230 ns or more): with fine-grained channel
 * traffic (a worker pool, a pipeline, a select fan-in) a second worker that
 * steals eagerly made every rendezvous cross cores - the channel lock, the
 * waiter, the fiber record and the run queue each changing hands - and ran
 * 3-6x slower than one worker (perf: 40% in the channel spin locks and
 * the fiber state CAS; ~20% of switches were steals). Spawn-heavy trees
 * run breadth first through a FIFO queue kept a million fibers' stacks
 * live (skynet: 640 MB, 160k page faults). Hence: steal only work that is
 * waiting, run fresh fibers depth first, and let idle workers nap.
 *
 * Each worker owns a 256-slot run queue plus a runnext slot (Go's P). The
 * queue is a deque whose head and tail share one word (rq.ht), so every
 * change is one atomic update and the owner may pop at either end while
 * thieves take batches from the head. A readied fiber goes to runnext of
 * the worker that readied it and runs next there (Go's rule: it inherits
 * the waker's cache and time slice); the fiber it displaces goes to the
 * tail. A spawned fiber goes to the tail tagged fresh (the slot's low
 * bit); the owner pops a fresh tail first (LIFO: a spawn tree runs depth
 * first, its stacks reused while hot), else the head (FIFO). Fairness:
 * after 64 runnext hand-offs in a row the queue gets a turn; after 64 LIFO
 * pops the head goes next if it ran before, or if it is fresh and has sat
 * there for FAIR_NS. A full queue spills its older half to the global
 * queue, which has one mutex and is visited by the owner every 61
 * scheduling rounds so nothing starves.
 *
 * Finding work (find_runnable, on the scheduler context g0):
 *   1. timers due and ring completions of this worker (no syscall);
 *   2. runnext / local queue / global queue;
 *   3. spin for SPIN_NS (cut short by completions on its own ring, which
 *      send it back to 1), looking at the other workers every STEAL_POLL_NS
 *      (a look pulls a victim's queue line away from its owner, so looks
 *      are sparse) and stealing the older half of a victim's queue only
 *      if it is work the victim is not about to run: a fiber that was
 *      queued already at a look STEAL_OLD_NS ago, or anything once the
 *      victim has not switched for STEAL_STUCK_NS (one fiber holds it;
 *      runnext too then), or anything of a sleeping victim; the global
 *      queue at once;
 *   4. sleep in io_uring_submit_and_wait_timeout on its own ring. While
 *      another worker is busy the sleep is a nap (50 us, doubling to 1 ms
 *      while nothing turns up) after which it looks again; otherwise it
 *      sleeps until a wake-up, completion or its nearest timer. This is
 *      the only place a worker sleeps.
 *
 * Wake-ups without lost work: a worker publishes `sleeping` and counts
 * itself idle in rt->idle (seq_cst), then re-checks every queue; a waker
 * publishes work, then (after a full fence) reads nspinning and rt->idle
 * (ringo__wakep). One of the two always sees the other. A napping worker
 * needs no wake-up (it looks again soon), so ready() and spawn wake only
 * deep sleepers (ringo__wakep_sleeper) and the busy worker makes no
 * syscall per hand-off; the global queue, the monitor and spares wake
 * anyone. A spinning worker finding work wakes another if it was the last
 * spinner, so bursts fan out. wake_pending (set by the waker, cleared when
 * the wake-up CQE is reaped) keeps a sleeper from being sent two MSG_RINGs.
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
 * runtime's one random number generator (fiber.c).
 *
 * Lock rules: only rt->global_lock (the global queue list). Run queues are
 * lock-free; runnext is an atomic pointer any consumer may CAS away, and
 * every consumer, the owner too, updates rq.ht with a CAS: a thief
 * (another worker, a spare, the monitor) may be at the queue at any time,
 * even when only one worker is configured. w->looks is its owner's.
 */
#include "internal.h"
#include "sanitizer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SPIN_NS (40 * RINGO_MICROSECOND)
#define STEAL_POLL_NS (4 * RINGO_MICROSECOND)
#define STEAL_STUCK_NS (50 * RINGO_MICROSECOND)
#define STEAL_OLD_NS (50 * RINGO_MICROSECOND)
#define NAP_MIN_NS (50 * RINGO_MICROSECOND)
#define NAP_MAX_NS (1 * RINGO_MILLISECOND)
#define RUNNEXT_STREAK_MAX 64
#define FRESH_STREAK_MAX 64
#define FAIR_NS (20 * RINGO_MILLISECOND)

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

#define FRESH ((uintptr_t)1)    /* slot tag: the fiber has not run yet */

static inline uint32_t ht_head(uint64_t v) { return (uint32_t)v; }
static inline uint32_t ht_tail(uint64_t v) { return (uint32_t)(v >> 32); }
static inline uint64_t ht_make(uint32_t h, uint32_t t) { return (uint64_t)t << 32 | h; }
static inline ringo__fiber_t *untag(ringo__fiber_t *f)
{
    return (ringo__fiber_t *)((uintptr_t)f & ~FRESH);
}

static inline bool runq_empty(struct ringo__runq *q)
{
    uint64_t v = atomic_load_explicit(&q->ht, memory_order_acquire);
    return ht_head(v) == ht_tail(v) && !atomic_load_explicit(&q->runnext, memory_order_acquire);
}

bool ringo__runq_backlog(ringo__worker_t *w)
{
    uint64_t v = atomic_load_explicit(&w->rq.ht, memory_order_relaxed);
    return ht_head(v) != ht_tail(v);
}

#define container_of_runq(q) ((ringo__worker_t *)((char *)(q) - offsetof(ringo__worker_t, rq)))

/* Moves the older half of the full queue plus f to the global queue. False
 * if the queue changed meanwhile (a thief: retry the fast path). */
static bool runq_put_slow(ringo__runtime_t *rt, struct ringo__runq *q, ringo__fiber_t *f, uint64_t v)
{
    enum { HALF = RINGO__RUNQ_SIZE / 2 };
    /* May run on a fiber's stack (spawn, ready): use the worker's scratch. */
    ringo__fiber_t **batch = (ringo__fiber_t **)container_of_runq(q)->scratch;
    uint32_t h = ht_head(v), t = ht_tail(v);
    for (uint32_t i = 0; i < HALF; i++)
        batch[i] = untag(atomic_load_explicit(&q->slots[(h + i) % RINGO__RUNQ_SIZE],
                                              memory_order_relaxed));
    if (!atomic_compare_exchange_strong_explicit(&q->ht, &v, ht_make(h + HALF, t),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    batch[HALF] = untag(f);
    ringo__global_put(rt, batch, HALF + 1);
    return true;
}

/* Pushes f (tagged or not) at the tail; only the owner pushes. */
static void runq_push(ringo__worker_t *w, ringo__fiber_t *f)
{
    struct ringo__runq *q = &w->rq;
    for (;;) {
        uint64_t v = atomic_load_explicit(&q->ht, memory_order_acquire);
        uint32_t h = ht_head(v), t = ht_tail(v);
        if (t - h < RINGO__RUNQ_SIZE) {
            atomic_store_explicit(&q->slots[t % RINGO__RUNQ_SIZE], f, memory_order_relaxed);
            /* Release: the slot before the tail that covers it. Thieves
             * only move the head, so adding to the tail half is exact. */
            atomic_fetch_add_explicit(&q->ht, (uint64_t)1 << 32, memory_order_release);
            return;
        }
        if (runq_put_slow(ringo__rt, q, f, v))
            return;
    }
}

void ringo__runq_put(ringo__worker_t *w, ringo__fiber_t *f, bool next)
{
    if (next) {
        f = atomic_exchange_explicit(&w->rq.runnext, f, memory_order_acq_rel);
        if (!f)
            return;
        /* The displaced fiber goes to the tail. */
    }
    runq_push(w, f);
}

void ringo__runq_put_fresh(ringo__worker_t *w, ringo__fiber_t *f)
{
    runq_push(w, (ringo__fiber_t *)((uintptr_t)f | FRESH));
}

/* Pops the newest fiber (tail) if it is fresh and `lifo`, else the
 * oldest (head). */
static ringo__fiber_t *runq_pop(struct ringo__runq *q, bool lifo, bool *was_fresh)
{
    /* Atomic even with one worker: the monitor drains a hogged worker's
     * queue and a spare steals from it, both at any moment. */
    for (;;) {
        uint64_t v = atomic_load_explicit(&q->ht, memory_order_acquire);
        uint32_t h = ht_head(v), t = ht_tail(v);
        if (t == h)
            return NULL;
        ringo__fiber_t *f = atomic_load_explicit(&q->slots[(t - 1) % RINGO__RUNQ_SIZE],
                                                 memory_order_relaxed);
        uint64_t nv;
        if (lifo && ((uintptr_t)f & FRESH)) {
            nv = ht_make(h, t - 1);
        } else {
            f = atomic_load_explicit(&q->slots[h % RINGO__RUNQ_SIZE], memory_order_relaxed);
            nv = ht_make(h + 1, t);
        }
        if (atomic_compare_exchange_weak_explicit(&q->ht, &v, nv,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            *was_fresh = (uintptr_t)f & FRESH;
            /* The fiber likely next is often cold (made or last run on
             * another core): start fetching its record now. */
            if (ht_head(nv) != ht_tail(nv)) {
                ringo__fiber_t *n = untag(atomic_load_explicit(
                    &q->slots[(ht_tail(nv) - 1) % RINGO__RUNQ_SIZE], memory_order_relaxed));
                __builtin_prefetch(n, 1);
                __builtin_prefetch((char *)n + RINGO__CACHELINE, 1);
            }
            return untag(f);
        }
    }
}

/* After a streak of LIFO pops: may the owner go on popping fresh fibers
 * newest first? Not if the oldest fiber has run before (readied, yielded:
 * it goes next), nor if a fresh one has sat at the head for FAIR_NS; a
 * fresh head younger than that waits, so that a spawn tree runs depth
 * first and few of its subtrees are pending at once. */
static bool lifo_fair(ringo__worker_t *w)
{
    uint64_t v = atomic_load_explicit(&w->rq.ht, memory_order_acquire);
    uint32_t h = ht_head(v);
    if (h == ht_tail(v))
        return true;
    ringo__fiber_t *oldest = atomic_load_explicit(&w->rq.slots[h % RINGO__RUNQ_SIZE],
                                                  memory_order_relaxed);
    if (!((uintptr_t)oldest & FRESH))
        return false;
    int64_t now = ringo__now();
    if (h != w->fair_head) {
        w->fair_head = h;
        w->fair_since = now;
        return true;
    }
    return now - w->fair_since < FAIR_NS;
}

/* Owner's pop: runnext first, then the newest fresh fiber, then the oldest
 * one. Streaks are bounded so nothing starves: a long run of runnext
 * hand-offs (two fibers ping-ponging) yields to the queue, a long run of
 * fresh fibers to its head (lifo_fair). */
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
    bool lifo = true, fresh = false;
    if (w->fresh_streak >= FRESH_STREAK_MAX) {
        lifo = lifo_fair(w);
        w->fresh_streak = 0;
    }
    f = runq_pop(q, lifo, &fresh);
    if (f) {
        w->fresh_streak = fresh && lifo ? w->fresh_streak + 1 : 0;
        return f;
    }
    f = atomic_load_explicit(&q->runnext, memory_order_relaxed);
    if (f && atomic_compare_exchange_strong_explicit(&q->runnext, &f, NULL,
                                                     memory_order_acq_rel, memory_order_relaxed))
        return f;
    return NULL;
}

/* Grabs the older half of victim's queue into batch, tags kept (Go's
 * runqgrab). With take_runnext, an otherwise empty victim gives up its
 * runnext. */
static uint32_t runq_grab(struct ringo__runq *q, ringo__fiber_t **batch, bool take_runnext)
{
    for (int tries = 0; tries < 64; tries++) {
        uint64_t v = atomic_load_explicit(&q->ht, memory_order_acquire);
        uint32_t h = ht_head(v), t = ht_tail(v);
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
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&q->slots[(h + i) % RINGO__RUNQ_SIZE], memory_order_relaxed);
        /* Fails if the owner pushed or popped meanwhile: the slots read
         * may be stale (a tail pop can reach below the batch's end). */
        if (atomic_compare_exchange_strong_explicit(&q->ht, &v, ht_make(h + n, t),
                                                    memory_order_acq_rel, memory_order_relaxed))
            return n;
        ringo__cpu_relax();
    }
    return 0;   /* the owner is busy at its queue: it needs no help now */
}

static ringo__fiber_t *steal_from(ringo__worker_t *w, ringo__worker_t *victim, bool take_runnext)
{
    ringo__fiber_t *batch[RINGO__RUNQ_SIZE / 2];
    uint32_t n = runq_grab(&victim->rq, batch, take_runnext);
    if (!n)
        return NULL;
    /* The oldest runs now; the rest keep their order and tags here. */
    for (uint32_t i = 1; i < n; i++)
        runq_push(w, batch[i]);
    atomic_store_explicit(&w->stats.steals,
        atomic_load_explicit(&w->stats.steals, memory_order_relaxed) + n, memory_order_relaxed);
    return untag(batch[0]);
}

unsigned ringo__runq_drain(ringo__worker_t *victim)
{
    ringo__fiber_t *batch[RINGO__RUNQ_SIZE / 2];
    unsigned total = 0;
    uint32_t n;
    while ((n = runq_grab(&victim->rq, batch, true)) > 0) {
        for (uint32_t i = 0; i < n; i++)
            batch[i] = untag(batch[i]);
        ringo__global_put(ringo__rt, batch, n);
        total += n;
    }
    return total;
}

/* ---- waking idle workers ------------------------------------------------------ */

static bool wake_one(ringo__runtime_t *rt, bool nappers)
{
    unsigned n = nslots(rt), start = ringo__rand(n);
    for (unsigned i = 0; i < n; i++) {
        ringo__worker_t *v = &rt->workers[(start + i) % n];
        if (ringo__is_spare(rt, v) &&
            atomic_load(&v->spare_state) != RINGO__SPARE_ACTIVE)
            continue;       /* retiring: it would not take the work */
        if (!nappers && atomic_load(&v->napping))
            continue;
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
    wake_one(rt, true);
}

void ringo__wakep_sleeper(ringo__runtime_t *rt)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&rt->nspinning, memory_order_relaxed) != 0)
        return;
    if (ringo__idle_count(atomic_load_explicit(&rt->idle, memory_order_relaxed)) <=
        atomic_load_explicit(&rt->nnapping, memory_order_relaxed))
        return;
    wake_one(rt, false);
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

/* What a thief saw of one victim when it last took a look. */
struct ringo__look {
    int64_t tail_when;                  /* when tail was read; 0: not yet */
    int64_t sw_when;                    /* when switches was last seen to move */
    uint64_t switches;                  /* the victim's switch count */
    uint32_t tail;                      /* the victim's queue tail */
};

/* One look at victim v: steals from it only what v is not about to run
 * itself (see the top of this file): fibers that were queued already at a
 * look STEAL_OLD_NS ago, or anything once v has not switched for
 * STEAL_STUCK_NS (one fiber holds it), or anything if v is asleep. */
static ringo__fiber_t *look_at(ringo__worker_t *w, ringo__worker_t *v, int64_t now)
{
    struct ringo__look *l = &w->looks[v->index];
    uint64_t ht = atomic_load_explicit(&v->rq.ht, memory_order_acquire);
    uint64_t sw = atomic_load_explicit(&v->stats.switches, memory_order_relaxed);
    if (sw != l->switches || !l->sw_when) {
        l->switches = sw;
        l->sw_when = now;
    }
    if (ht_head(ht) == ht_tail(ht) && !atomic_load_explicit(&v->rq.runnext, memory_order_relaxed)) {
        l->tail_when = 0;
        return NULL;
    }
    bool old = l->tail_when && now - l->tail_when >= STEAL_OLD_NS &&
               (int32_t)(l->tail - ht_head(ht)) > 0;
    bool stuck = now - l->sw_when >= STEAL_STUCK_NS ||
                 atomic_load_explicit(&v->sleeping, memory_order_relaxed);
    if (old || stuck) {
        ringo__fiber_t *f = steal_from(w, v, stuck);
        if (f) {
            l->tail_when = 0;
            return f;
        }
    }
    /* A new tail sample only once the one it replaces is old enough to
     * judge by. */
    if (!l->tail_when || now - l->tail_when >= STEAL_OLD_NS) {
        l->tail_when = now;
        l->tail = ht_tail(ht);
    }
    return NULL;
}

static ringo__fiber_t *look_around(ringo__runtime_t *rt, ringo__worker_t *w, int64_t now)
{
    unsigned n = nslots(rt), start = ringo__rand(n);
    for (unsigned i = 0; i < n; i++) {
        ringo__worker_t *v = &rt->workers[(start + i) % n];
        ringo__fiber_t *f;
        if (v != w && (f = look_at(w, v, now)) != NULL)
            return f;
    }
    return global_get(rt, w);
}

static ringo__fiber_t *spin_steal(ringo__runtime_t *rt, ringo__worker_t *w)
{
    if (nslots(rt) == 1)
        return NULL;
    /* Like Go, keep at most half of the busy workers spinning; the others
     * take one look and go to sleep. */
    uint64_t idle = atomic_load(&rt->idle);
    unsigned busy = ringo__live_count(idle) - ringo__idle_count(idle);
    if (2 * atomic_load(&rt->nspinning) >= busy)
        return look_around(rt, w, ringo__now());
    atomic_fetch_add(&rt->nspinning, 1);
    int64_t now = ringo__now(), deadline = now + SPIN_NS;
    ringo__fiber_t *f;
    for (;;) {
        f = look_around(rt, w, now);
        if (f || atomic_load_explicit(&rt->stopping, memory_order_relaxed) || now >= deadline ||
            ringo__ev_ready(w))
            break;
        /* Between looks, watch only what is cheap to watch: a look pulls
         * the victims' queue lines away from their owners. Our own
         * completions end the spin at once (find_runnable polls them). */
        int64_t next = now + STEAL_POLL_NS;
        while ((now = ringo__now()) < next &&
               !atomic_load_explicit(&rt->global_len, memory_order_relaxed) &&
               !atomic_load_explicit(&rt->stopping, memory_order_relaxed) &&
               !ringo__ev_ready(w)) {
            for (int k = 0; k < 64; k++)
                ringo__cpu_relax();
        }
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

/* Sleeps in the ring until a completion, a wake-up or the nearest timer,
 * or, while another worker is busy, for a nap (see the top of this file).
 * Every way out of the idle section counts a wake-up in rt->idle (the
 * deadlock check relies on it). */
static void go_idle(ringo__runtime_t *rt, ringo__worker_t *w)
{
    /* Napping is published before `sleeping`: a waker that skips nappers
     * and sees sleeping without napping wakes us, at worst for nothing. */
    atomic_store(&w->napping, 1);
    atomic_store(&w->sleeping, 1);
    uint64_t v = atomic_fetch_add(&rt->idle, RINGO__IDLE_ONE) + RINGO__IDLE_ONE;
    bool nap = ringo__idle_count(v) < ringo__live_count(v);
    if (!nap)
        atomic_store(&w->napping, 0);
    else
        atomic_fetch_add(&rt->nnapping, 1);
    int64_t next = INT64_MAX;
    if ((!nap && any_work(rt)) || atomic_load(&rt->global_len) || atomic_load(&rt->stopping) ||
        atomic_load(&w->inbox_nonempty) ||
        (ringo__is_spare(rt, w) && atomic_load(&w->spare_state) != RINGO__SPARE_ACTIVE))
        goto out;
    next = atomic_load(&w->timer_next);
    if (!nap && next == INT64_MAX && atomic_load(&w->inflight) == 0)
        ringo__check_deadlock(rt);
    int64_t timeout = -1;
    if (next != INT64_MAX) {
        int64_t now = ringo__now();
        timeout = next > now ? next - now : 0;
    }
    if (nap && (timeout < 0 || timeout > w->nap_ns)) {
        timeout = w->nap_ns;
        w->nap_ns = w->nap_ns * 2 > NAP_MAX_NS ? NAP_MAX_NS : w->nap_ns * 2;
    }
    RINGO__STAT_INC(w, sleeps);
    ringo__ev_wait(w, timeout);
out:
    atomic_fetch_add(&rt->idle, RINGO__WAKE_ONE - RINGO__IDLE_ONE);
    if (nap) {
        atomic_fetch_sub(&rt->nnapping, 1);
        atomic_store(&w->napping, 0);
    }
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

void ringo__worker_loop(ringo__worker_t *w)
{
    ringo__runtime_t *rt = ringo__rt;
    w->rng = 0x9E3779B97F4A7C15ull * (w->index + 1);
    w->nap_ns = NAP_MIN_NS;
    if (!w->looks && !(w->looks = ringo__calloc(rt->nworkers, sizeof(*w->looks))))
        ringo__throw("out of memory for a worker's steal records");
    ringo__fiber_t *f;
    while ((f = find_runnable(rt, w)) != NULL) {
        w->schedtick++;
        ringo__switch(w, NULL, f, RINGO__POST_NONE);
    }
}

/* core/internal.h - the runtime core's private structures and contracts.
 *
 * Layers: core/ knows nothing of channels or sockets. sync/ and
 * io/ use only what this header exports with the ringo__ prefix.
 *
 * The one wait abstraction
 *   Every blocking primitive parks a fiber the same way:
 *       ringo__park_prepare(reason);   // state RUNNING -> PARKING
 *       ...publish the fiber where exactly one waker can find it...
 *       ringo__park();                 // switch away; returns once readied
 *   and the single waker that takes it (under the primitive's lock, by
 *   winning an atomic word, or by owning a CQE) calls ringo__ready(f).
 *   ringo__ready may run before the parking fiber has left its stack; the
 *   PARKING -> WOKEN hand-off then lets the parker's worker requeue it once it
 *   is safely switched out. So a parked fiber resumes exactly once, however
 *   the wake-up races the switch. Calling ringo__ready twice for one park is a
 *   bug in the caller and throws.
 *
 * Lock order (outermost first); no other nesting exists:
 *   sync/: channel locks (several only in select, in address order)
 *          > nothing: select drops them before arming timers or polls
 *   sync/: a ringo_timer's lock > its channel's lock, w->timer_lock (a
 *          timer's fire sends, and wakes the receiver, under it: time.c)
 *   rt->stack_lock  >  nothing      (stack pool, chunk table)
 *   rt->global_lock >  nothing      (global run queue)
 *   w->timer_lock   >  nothing      (one worker's timer heap)
 *   w->cq_lock      >  nothing      (reaping one worker's CQ: owner or monitor)
 *   w->inbox_lock   >  nothing      (cancel requests for w's ring)
 *   rt->gate_lock   >  nothing      (start gate; then main's end, runtime.c)
 *   io/: an fd entry's lock > nothing (fdtab.c); the blocking pool's lock
 *          > rt->global_lock (a call's end readies its fiber under it:
 *          blocking.c)
 * Timers and completions are fired, and waiters woken, after their lock is
 * dropped.
 *
 * Thread-locals: a fiber can resume on another worker, so code never keeps
 * the address of a thread-local across a switch. The current worker is read
 * only through ringo__self(), which the compiler cannot cache (see sched.c).
 */
#ifndef RINGO_INTERNAL_H
#define RINGO_INTERNAL_H

#include "ringo_config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>

#include <ringo.h>

#include "list.h"

#include "event.h"
#include "sanitizer.h"

#define RINGO__CACHELINE 64
#define RINGO__ALIGNED __attribute__((aligned(RINGO__CACHELINE)))
#define RINGO__LIKELY(x) __builtin_expect(!!(x), 1)
#define RINGO__UNLIKELY(x) __builtin_expect(!!(x), 0)

#define RINGO__MAX_WORKERS 256
#define RINGO__RUNQ_SIZE 256            /* power of two */
#define RINGO__STACK_CACHE 256          /* stacks a worker keeps at hand */
#define RINGO__HOG_NS (10 * RINGO_MILLISECOND)

typedef struct ringo__fiber ringo__fiber_t;
typedef struct ringo__worker ringo__worker_t;
typedef struct ringo__timer ringo__timer_t;
typedef struct ringo__runtime ringo__runtime_t;
struct _Unwind_Exception;               /* <unwind.h> */

/* ---- spin locks (spinlock.h) ----------------------------------------------- */
#include "spinlock.h"

/* Relaxed counter owned by one thread and read by others (stats): a plain
 * add, not a locked instruction. */
#define RINGO__STAT_INC(w, field) \
    atomic_store_explicit(&(w)->stats.field, \
        atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + 1, \
        memory_order_relaxed)

/* ---- timers --------------------------------------------------------------- */

/* A deadline in one worker's heap. The record is owned by its user (a
 * sleeping fiber embeds one); fire runs with no lock held, on the owning
 * worker or on the monitor thread when that worker is hogged. */
struct ringo__timer {
    int64_t when;
    int32_t heap_index;                 /* -1 when in no heap */
    ringo__worker_t *heap;              /* the worker whose heap holds it */
    void (*fire)(ringo__timer_t *t);
    void *arg;
    bool sync;                          /* ringo__timer_del_sync will be used */
    /* Called for a timer still pending when the runtime shuts down, if the
     * runtime owns it (ringo_after's records); others are just unlinked. */
    void (*dispose)(ringo__timer_t *t);
    _Atomic int firing;                 /* fire() calls in progress (sync timers) */
};

/* Adds t (t->when set) to w's heap. From another thread than w's, wakes w
 * if t became its earliest deadline while it sleeps. */
void ringo__timer_add(ringo__worker_t *w, ringo__timer_t *t);
/* Adds t to the calling worker's heap, or to worker 0's from other threads.
 * Panics if no runtime runs. */
void ringo__timer_arm(ringo__timer_t *t);
bool ringo__timer_del(ringo__timer_t *t);   /* true if it was pending */
/* Like ringo__timer_del, and also waits for a fire() already under way to
 * return: after it, nothing touches t or what fire() uses. */
bool ringo__timer_del_sync(ringo__timer_t *t);
/* Fires every timer of w due at now; returns how many fired. */
int ringo__timers_run(ringo__worker_t *w, int64_t now);
void ringo__timers_free(ringo__worker_t *w);

/* ---- fibers ---------------------------------------------------------------- */

enum ringo__fiber_state {
    RINGO__FIBER_FREE = 0,      /* the slot holds no fiber (zeroed memory reads so) */
    RINGO__FIBER_RUNNABLE,      /* in a run queue */
    RINGO__FIBER_RUNNING,
    RINGO__FIBER_PARKING,       /* ringo__park_prepare done, still on its stack */
    RINGO__FIBER_PARKED,        /* switched out, waiting for ringo__ready */
    RINGO__FIBER_WOKEN,         /* readied while PARKING; its worker requeues it */
    RINGO__FIBER_DEAD,          /* returned; the slot goes back to the pool */
};

#define RINGO__FIBER_MAIN      0x1u
#define RINGO__FIBER_CANARY    0x2u     /* no guard page: check the canary */

#define RINGO__CANARY 0x5a1ad5a1ad5a1ad5ull

/* A fiber lives at the top of its own stack slot, so spawning allocates
 * nothing beyond the pooled stack and a dump can find every fiber by walking
 * the slots. */
struct ringo__fiber {
    void *sp;                           /* saved stack pointer while switched out */
    _Atomic int state;                  /* enum ringo__fiber_state */
    uint16_t flags;
    /* Set at spawn, cleared when the fiber first runs: the owner's run
     * queue pops never-run fibers newest first (sched.c). In the first
     * cache line, which switching to the fiber reads anyway. */
    _Atomic uint8_t fresh;
    /* Set when the kernel or a timer readied it (ringo__unblock_quiet: no
     * partner fiber on its worker shares its data), cleared when it runs:
     * an idle worker may take it at once from a busy one (sched.c). */
    _Atomic uint8_t by_event;
    uint64_t id;
    void (*fn)(void *);
    void *arg;
    char *stack_lo;                     /* lowest usable byte, above the guard */
    /* Written by the fiber itself before it parks; read racily by dumps. */
    const char *_Atomic wait_reason;
    _Atomic int64_t wait_since;
    /* Where it was created, for dumps and crash reports. */
    const char *file;
    const char *fn_name;
    int line;
    uint64_t parent_id;
    ringo__timer_t sleep_timer;         /* ringo_sleep needs no allocation */
    void *tsan_fiber;
    void *race_token;                   /* TSan: this fiber's sync objects (see below) */
    void *asan_fake_stack;
    /* ringo_exit's unwind (fiber.c): its exception object, which lives in
     * fiber_entry's frame, above every frame the unwind leaves. */
    struct _Unwind_Exception *exit_unwind;
    /* sync/: the waiters this fiber has queued on sync objects while it
     * blocks (sync/waitq.h); written by the fiber itself, read at the run's
     * end by ringo__abandon_hook. */
    void *sync_waiters;
} RINGO__ALIGNED;

/* TSan's sync objects for one fiber's life: spawn -> start and ready ->
 * resume (RINGO__RACE_FIBER), and a parked waiter -> the partner that takes
 * its value or fills its buffer (RINGO__RACE_WAITER). They live in a small
 * heap block allocated at spawn and freed when the fiber ends: freeing it
 * makes TSan drop them, so the next fiber in the same slot (which reuses the
 * slot's TSan context, see stack.c) does not also inherit its predecessor's
 * edges through stale sync objects. Plain threads use their waiter's
 * address. */
#define RINGO__RACE_FIBER(f) ((f)->race_token)
#define RINGO__RACE_WAITER(wt) \
    ((wt)->fiber ? (void *)((char *)(wt)->fiber->race_token + 1) : (void *)(wt))

/* A blocked waiter that may be a fiber or a plain thread: fibers park,
 * other threads sleep on a futex. The same three steps as park/ready:
 * prepare, publish, block; the single waker calls ringo__unblock. */
typedef struct ringo__wait {
    ringo__fiber_t *fiber;              /* NULL: a plain thread */
    _Atomic uint32_t futex;
} ringo__wait_t;

void ringo__wait_prepare(ringo__wait_t *w, const char *reason);
void ringo__wait_block(ringo__wait_t *w);
void ringo__unblock(ringo__wait_t *w);
/* ringo__unblock for wake-ups that order nothing (a sleep's end, a
 * timeout, an fd becoming ready): under TSan the woken side gets no edge
 * from whoever happens to run the timer or reap the completion. */
void ringo__unblock_quiet(ringo__wait_t *w);
/* Blocks the caller forever (a NULL channel, an empty select). */
_Noreturn void ringo__block_forever(const char *reason);
/* A uniformly random number below n, from the calling worker's generator
 * (or a thread-local one). */
uint32_t ringo__rand(uint32_t n);

/* Parking and readying: see the top of this file. */
void ringo__park_prepare(const char *reason);
void ringo__park(void);
void ringo__ready(ringo__fiber_t *f);
ringo__fiber_t *ringo__current(void);   /* NULL outside a fiber */
/* What a dump says f is doing: "runnable", "running" or its wait reason
 * (*waiting set); NULL when the slot holds no live fiber. Racy, lock-free,
 * async-signal-safe: for dumps. */
const char *ringo__fiber_doing(const ringo__fiber_t *f, bool *waiting);

/* ---- the worker ------------------------------------------------------------ */

struct ringo__runq {
    /* The head word: the head index (low 32 bits) and the count of the
     * owner's pops at the tail (high 32; sched.c). Consumers (owner,
     * thieves) CAS it. */
    _Atomic uint64_t head RINGO__ALIGNED;
    _Atomic uint32_t tail;                 /* written by the owner only */
    _Atomic(ringo__fiber_t *) runnext;
    _Atomic(ringo__fiber_t *) slots[RINGO__RUNQ_SIZE];
};

/* The per-worker counters, listed once: the struct below and the copies
 * into the public ringo_worker_stats_t (runtime.c) are built from this
 * list, which names that struct's fields in its order. */
#define RINGO__WORKER_COUNTERS(X) \
    X(switches) X(steals) X(wakes_sent) X(wakes_received) X(submits) \
    X(completions) X(parks) X(spawns) X(sleeps) X(rescues)

#define RINGO__COUNTER_FIELD(name) _Atomic uint64_t name;
typedef struct {
    RINGO__WORKER_COUNTERS(RINGO__COUNTER_FIELD)
} ringo__worker_counters_t;
_Static_assert(sizeof(ringo__worker_counters_t) == sizeof(ringo_worker_stats_t),
               "every public worker counter is in RINGO__WORKER_COUNTERS");

#define RINGO__SEEN_SLOTS 32

struct ringo__worker {
    /* Owner-only, hot. */
    unsigned index;
    void *sched_sp;                     /* the scheduler context (g0) while a fiber runs */
    int post_action;                    /* what the context switched to does with post_fiber */
    ringo__fiber_t *post_fiber;
    uint32_t schedtick;                 /* switches since start; paces the periodic poll */
    uint32_t runnext_streak;
    uint32_t oldest_mark;               /* run queue head last seen, and since when (sched.c) */
    int64_t oldest_since;
    uint64_t rng;
    uint64_t id_next, id_end;           /* batch of fiber ids */
    unsigned stack_cached;
    char *stack_cache[RINGO__STACK_CACHE];
    int64_t now_cached;                 /* the clock at the last poll; for wait_since */
    int64_t nap_ns;                     /* the next idle nap while others run (sched.c) */
    /* What this worker, as a thief, last saw of each victim (sched.c:
     * stealing only work that waits), indexed by victim index mod the size. */
    struct ringo__victim_seen {
        uint32_t head;
        uint64_t switches;
        int64_t since;
    } seen[RINGO__SEEN_SLOTS];

    /* Read by others. */
    _Atomic(ringo__fiber_t *) current RINGO__ALIGNED;  /* NULL: in the scheduler */
    _Atomic int sleeping;               /* published before sleeping in the ring */
    _Atomic int wake_pending;           /* a wake-up is on its way */
    _Atomic uint64_t spawned, exited;   /* fiber accounting, owner-written */
    _Atomic int64_t inflight;           /* submitted ops whose completion has not run */
    _Atomic int tid;                    /* the thread running it, 0 for none (sched.c) */
    _Atomic int spare_state;            /* enum ringo__spare_state; spare slots only */

    struct ringo__runq rq;

    /* Timer heap; w->timer_lock protects heap, ntimers and heap_cap. */
    ringo__spinlock_t timer_lock RINGO__ALIGNED;
    ringo__timer_t **heap;
    int32_t heap_cap;
    _Atomic int32_t ntimers;
    _Atomic int64_t timer_next;         /* earliest deadline, INT64_MAX if none */

    /* The event source (event.h; ring.c). Only the owner submits; cq_lock
     * lets the monitor reap while the owner is hogged. */
    ringo__spinlock_t cq_lock RINGO__ALIGNED;
    struct ringo__uring *uring;         /* io_uring's own state (ring.c); NULL when none */
    struct ringo__epoll *epoll;         /* epoll's own state (epoll.c); NULL when none */
    _Atomic int ring_fd;                /* the ring's (or epoll's) fd; -1 once gone (read by wakers) */
    int wake_efd;                       /* eventfd wake-up, when ring-less MSG_RING is missing */
    _Atomic int efd_rearm;              /* its multishot poll ended; the owner re-arms */
    /* Cancel requests from other threads; inbox_lock protects the three. */
    ringo__spinlock_t inbox_lock;
    ringo__op_t **inbox;
    size_t ninbox, inbox_cap;
    _Atomic int inbox_nonempty;

    ringo__worker_counters_t stats RINGO__ALIGNED;

    /* Scratch for batch moves that may run on a fiber's stack: kept here
     * so a fiber's stack stays one page deep (RSS per parked fiber).
     * Owner thread only. */
    void *scratch[RINGO__STACK_CACHE / 2 + 1];
    size_t scratch_ci[RINGO__STACK_CACHE / 2], scratch_idx[RINGO__STACK_CACHE / 2];
    struct { void *base; size_t len; } scratch_iov[RINGO__STACK_CACHE / 2];

    pthread_t thread;
    void *altstack;
    void *tsan_sched_fiber;
    void *tsan_timer_fiber;             /* Go's per-P timerRaceCtx (timer.c) */
    const void *sched_stack_lo;         /* for ASan's fiber annotations */
    void *asan_sched_fake;
    size_t sched_stack_size;
    int cpu;                            /* hwloc PU to pin to, -1 for none */
};

/* A spare worker's life (sched.c, monitor.c). */
enum ringo__spare_state {
    RINGO__SPARE_DORMANT = 0,           /* no thread */
    RINGO__SPARE_ACTIVE,                /* runs fibers like any worker */
    RINGO__SPARE_RETIRING,              /* runs none; serves its timers and ring, then parks */
    RINGO__SPARE_PARKED,                /* its thread waits (futex on spare_state), ring kept */
    RINGO__SPARE_EXITING,               /* its thread ends (shutdown, or no ring) */
};

#define RINGO__POST_NONE   0
#define RINGO__POST_YIELD  1            /* requeue post_fiber at the tail */
#define RINGO__POST_PARK   2            /* publish post_fiber as PARKED */
#define RINGO__POST_EXIT   3            /* return post_fiber's stack to the pool */

/* ---- the runtime ------------------------------------------------------------ */

struct ringo__stack_chunk {
    char *base;
    size_t nslots;
    _Atomic size_t carved;              /* slots handed out at least once */
    unsigned *vg_ids;                   /* Valgrind stack ids, when running under it */
};

#define RINGO__MAX_CHUNKS 16384

enum ringo__guard_mode {
    RINGO__GUARD_MADVISE,               /* MADV_GUARD_INSTALL: no VMA per guard */
    RINGO__GUARD_MPROTECT,              /* costs VMAs; limited by vm.max_map_count */
    RINGO__GUARD_CANARY,                /* no guard page; canary checked at switches */
};

struct ringo__runtime {
    /* workers[0, nprocs) are the configured workers; workers[nprocs,
     * nworkers) are spare slots the monitor brings up while every worker is
     * held by a fiber that does not yield (monitor.c). Loops that must see
     * every fiber or counter run over all nworkers slots; an unused spare
     * slot is all zeros. */
    unsigned nworkers;
    unsigned nprocs;
    _Atomic unsigned nslots;            /* slots ever used: nprocs + spares started */
    ringo__worker_t *workers;
    size_t stack_size;                  /* a fiber's stack, its record included */
    size_t page_size;
    size_t guard_size;                  /* below each stack (stack.c) */
    size_t slot_size;                   /* guard_size + stack_size */
    unsigned ring_entries;
    unsigned ring_flags;                /* the flags this kernel accepted */
    bool send_msg_ring;                 /* IORING_REGISTER_SEND_MSG_RING works */
    bool on_valgrind;                   /* running under Valgrind (ring.c, stack.c) */
    bool virtual_time;                  /* ringo_config_t.virtual_time: one worker, the
                                           virtual clock (clock.c), no rescues */
    uint64_t seed;                      /* with virtual_time: the worker's generator's seed */

    _Atomic int stopping RINGO__ALIGNED;
    /* Worker idleness in one word (sched.c): bits 0-15 count workers
     * sleeping in their ring, bits 16-31 worker threads that run fibers,
     * bits 32-63 count wake-ups, so the deadlock check can tell that no
     * worker woke while it looked. */
    _Atomic uint64_t idle;
    _Atomic unsigned nspinning;         /* workers looking for work */
    int caller_tid;                     /* the thread in ringo_run */
    _Atomic int monitor_tid;
    _Atomic int exit_requested;         /* ringo_main: main returned */
    _Atomic int spare_failed;           /* a spare could not make its ring */
    int exit_status;
    _Atomic uint64_t rescue_seq;        /* odd while the monitor moves fibers */
    _Atomic bool main_exited;           /* main called ringo_exit */
    _Atomic uint64_t ext_spawned;       /* fibers spawned by non-worker threads */
    _Atomic uint64_t id_source;

    /* Global run queue: a growable ring of pointers, so moving a batch in
     * or out touches no fiber. global_lock protects all four fields;
     * global_len is also read without it as a hint. */
    pthread_mutex_t global_lock RINGO__ALIGNED;
    ringo__fiber_t **global_q;
    size_t global_head, global_cap;
    _Atomic size_t global_len;

    /* Stack pool; stack_lock protects everything below it in this group. */
    pthread_mutex_t stack_lock RINGO__ALIGNED;
    struct ringo__stack_chunk *chunks;  /* fixed array: a signal handler reads it */
    _Atomic size_t nchunks;
    char **warm;                        /* freed stacks whose pages stay resident */
    size_t nwarm, warm_cap;
    size_t warm_low;                    /* nwarm's minimum since the last scavenge */
    char **cold;                        /* freed stacks given back with MADV_DONTNEED */
    size_t ncold, cold_cap;
    _Atomic int guard_mode;             /* enum ringo__guard_mode; degrades only */
    int pidfd;                          /* for batched process_madvise, or -1 */
    size_t mprotect_budget;             /* guards mprotect may still install */
    _Atomic int guard_warned;

    /* The monitor thread. */
    pthread_t monitor;
    _Atomic uint32_t monitor_futex;
    bool monitor_started;

    _Atomic int init_failed;
    /* Start gate: workers wait here until all have their rings. */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_cond;
    unsigned gate_arrived;
    bool gate_open;
};

/* The runtime that is running, or NULL. Set before workers start and
 * cleared after they all stopped. */
extern ringo__runtime_t *ringo__rt;
/* TSan only: each fiber's end releases here; ringo_run acquires it. */
extern char ringo__fibers_ended;
/* TSan only: each worker releases here once set up; fibers acquire it. */
extern char ringo__workers_ready;
extern _Thread_local ringo__worker_t *ringo__tls_worker;
extern _Thread_local bool ringo__tls_is_monitor;

/* Handles the API gives out (channels, contexts, timers, maps) carry a
 * magic word set when they are made, and every entry point checks it in
 * builds with assertions. Their free goes through here: with assertions on
 * it first overwrites the whole record with RINGO__POISON bytes, which no
 * magic matches, so a use through a stale handle panics at the use (until
 * the allocator reuses the memory). Keep the magic past the allocator's
 * free-list words (glibc's first 16 bytes). */
#define RINGO__POISON 0xdb
static inline void ringo__free_poisoned(void *p, size_t size)
{
#ifndef NDEBUG
    __builtin_memset(p, RINGO__POISON, size);
    /* The stores are to memory about to be freed: keep the compiler from
     * dropping them as dead. */
    __asm__ volatile("" : : "r"(p) : "memory");
#else
    (void)size;
#endif
    ringo__free(p);
}

/* The check at an entry point, in builds with assertions: a handle whose
 * magic is not `live` (freed, or never such a handle) panics with
 * "<fn>: use of a freed <kind> (<address>)". NULL passes: each function
 * says what NULL means for it. */
#ifndef NDEBUG
#define RINGO__CHECK_LIVE(h, live, fn, kind) \
    do { \
        if ((h) && RINGO__UNLIKELY((h)->magic != (live))) \
            ringo_panic("%s: use of a freed %s (%p)", (fn), (kind), (const void *)(h)); \
    } while (0)
#else
#define RINGO__CHECK_LIVE(h, live, fn, kind) do { (void)(h); (void)(fn); } while (0)
#endif

/* The runtime's own pthread mutexes (global queue, stack pool, pool list).
 * Under TSan their interceptors would publish an edge between whichever
 * fibers happen to take them, and log accesses from contexts nobody joins;
 * these wrappers hide them (sanitizer.h). */
static inline void ringo__pthread_lock(pthread_mutex_t *m)
{
    RINGO_TSAN_HIDE_BEGIN();
    pthread_mutex_lock(m);
    RINGO_TSAN_HIDE_END();
}

static inline void ringo__pthread_unlock(pthread_mutex_t *m)
{
    RINGO_TSAN_HIDE_BEGIN();
    pthread_mutex_unlock(m);
    RINGO_TSAN_HIDE_END();
}

/* The calling thread's worker, NULL on other threads.
 * A fiber may resume on another thread after any switch, so the compiler
 * must never reuse a thread-local address computed before one. On x86-64
 * the whole access (TLS offset, then %fs-relative load) sits in one volatile
 * asm, which the compiler can neither cache nor hoist; elsewhere it is a
 * call the optimiser cannot see into. */
ringo__worker_t *ringo__self_slow(void);
static inline ringo__worker_t *ringo__self(void)
{
#if defined(__x86_64__) && !defined(RINGO_TSAN) && !defined(RINGO_ASAN)
    ringo__worker_t *w;
    __asm__ volatile("movq ringo__tls_worker@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0"
                     : "=r"(w));
    return w;
#else
    return ringo__self_slow();
#endif
}

/* ---- scheduler (sched.c) ----------------------------------------------------- */
#define RINGO__IDLE_ONE   ((uint64_t)1)
#define RINGO__LIVE_ONE   ((uint64_t)1 << 16)
#define RINGO__WAKE_ONE   ((uint64_t)1 << 32)
static inline unsigned ringo__idle_count(uint64_t v) { return (unsigned)(v & 0xffff); }
static inline unsigned ringo__live_count(uint64_t v) { return (unsigned)((v >> 16) & 0xffff); }
void ringo__runq_put(ringo__worker_t *w, ringo__fiber_t *f, bool next);
void ringo__global_put(ringo__runtime_t *rt, ringo__fiber_t *const *fs, size_t n);
void ringo__wakep(ringo__runtime_t *rt);
/* After w queued a fiber on its own run queue: wakes an idle worker only
 * if the queue holds a backlog worth a second worker (sched.c). */
void ringo__wakep_local(ringo__runtime_t *rt, ringo__worker_t *w);
void ringo__wake_all(ringo__runtime_t *rt);
/* The worker's scheduler loop, on its own thread; returns when stopping. */
void ringo__worker_loop(ringo__worker_t *w);
/* For a fiber about to switch out: the next fiber from this worker's queues,
 * or NULL to switch to the scheduler context. */
ringo__fiber_t *ringo__sched_next_local(ringo__worker_t *w);
/* Moves every runnable fiber of a hogged worker to the global queue. */
unsigned ringo__runq_drain(ringo__worker_t *victim);
uint64_t ringo__next_fiber_id(ringo__worker_t *w);

/* ---- stacks (stack.c) ------------------------------------------------------- */
int ringo__stacks_init(ringo__runtime_t *rt);
void ringo__stacks_fini(ringo__runtime_t *rt);
/* A slot's fiber header, with the usable stack below it; NULL: -ENOMEM. */
ringo__fiber_t *ringo__stack_get(ringo__runtime_t *rt, ringo__worker_t *w);
void ringo__stack_put(ringo__runtime_t *rt, ringo__worker_t *w, ringo__fiber_t *f);
/* Gives the pages of surplus warm stacks back to the kernel; returns how
 * many slots it trimmed. The monitor calls it. */
size_t ringo__stacks_scavenge(ringo__runtime_t *rt);
/* The fiber whose stack guard holds addr, or NULL. Async-signal-safe. */
ringo__fiber_t *ringo__stack_guard_owner(const void *addr);
/* Calls fn for every slot that holds a live fiber. Lock-free, racy: dumps. */
void ringo__fibers_foreach(void (*fn)(ringo__fiber_t *f, void *arg), void *arg);
/* ASan builds: makes every carved slot's stack a LeakSanitizer root region,
 * for an exit with fibers alive (ringo_main). Elsewhere it does nothing. */
void ringo__stacks_lsan_roots(ringo__runtime_t *rt);

/* ---- fibers (fiber.c) -------------------------------------------------------- */
void ringo__switch(ringo__worker_t *w, ringo__fiber_t *from, ringo__fiber_t *to, int action);
void ringo__finish_switch(ringo__worker_t *w);
int ringo__spawn_main(void (*fn)(void *), void *arg);
void ringo__ctx_switch(void **save_sp, void *load_sp);   /* core/arch/<cpu>.S */
void ringo__ctx_start(void);

/* ---- the event source: see event.h ----------------------------------------------- */

/* ---- the monitor (monitor.c) -------------------------------------------------- */
int ringo__monitor_start(ringo__runtime_t *rt);
void ringo__monitor_stop(ringo__runtime_t *rt);
void ringo__monitor_kick(ringo__runtime_t *rt);
/* A hook the monitor calls every few seconds, for layers above core/ (sync/
 * registers sync.Pool's aging here; core/ knows nothing of pools). */
extern void (*_Atomic ringo__periodic_hook)(void);
/* Set by sync/ (waitq.c): ringo_run calls it once every worker has stopped
 * and before the stacks are freed, so that sync objects outliving the run
 * drop the waiters of fibers that were still blocked on them. */
extern void (*_Atomic ringo__abandon_hook)(void);
/* Set by io/ (blocking.c): ringo_run calls it after ringo__abandon_hook
 * and before the stacks are freed; the blocking pool's threads end there. */
extern void (*_Atomic ringo__run_end_hook)(void);
/* Set by io/ (blocking.c): true if thread tid is a blocking-pool thread
 * that can wake no fiber now (no call in the pool); ringo__foreign_threads
 * does not count it. */
extern bool (*_Atomic ringo__idle_thread_hook)(int tid);

/* ---- panics and dumps (panic.c) -------------------------------------------- */
_Noreturn void ringo__throw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ringo__signals_install(ringo__runtime_t *rt);
void ringo__signals_restore(void);
int ringo__altstack_init(ringo__worker_t *w);
void ringo__altstack_fini(ringo__worker_t *w);
void ringo__check_deadlock(ringo__runtime_t *rt);

/* ---- the clock (clock.c) ------------------------------------------------------ */
int64_t ringo__now(void);                /* CLOCK_MONOTONIC in nanoseconds, or virtual time */
int64_t ringo__wall_now(void);           /* CLOCK_MONOTONIC, whatever the mode */
/* t, a ringo__now() time, as a CLOCK_MONOTONIC time for the kernel: in
 * virtual time, as far from now in real time as t is from now in virtual. */
int64_t ringo__kernel_time(int64_t t);
/* The virtual clock (clock.c); 0 while the real one is in use. */
extern _Atomic int64_t ringo__virtual_now;
#define RINGO__VIRTUAL_EPOCH ((int64_t)946684800 * RINGO_SECOND)
/* True if a thread exists that is not the runtime's own (the caller of
 * ringo_run, its workers, the monitor) and so might yet wake a fiber. */
bool ringo__foreign_threads(ringo__runtime_t *rt);
/* Runs a spare worker on its own thread (runtime.c); the monitor starts it. */
void *ringo__spare_thread(void *w);
static inline bool ringo__is_spare(const ringo__runtime_t *rt, const ringo__worker_t *w)
{
    return w->index >= rt->nprocs;
}

#endif

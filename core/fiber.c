/* core/fiber.c - fibers: creation, the switch, park/ready and exit.
 *
 * The switch. Fibers switch straight to one another when the worker has a
 * runnable fiber at hand, and to the worker's scheduler context (g0, on the
 * thread's own stack) otherwise. Whatever must happen to the fiber that
 * switched out - requeue it (yield), publish it as parked, free its stack
 * (exit) - happens in the context switched to, once nobody runs on that
 * stack any more: the switcher leaves a "post action" in its worker and the
 * resumed side runs ringo__finish_switch(). That is what lets a fiber park on
 * one worker and be stolen by another a nanosecond later, safely.
 *
 * Fiber state (f->state) moves only along these edges:
 *   RUNNABLE -> RUNNING            the worker that dequeued it (ringo__switch)
 *   RUNNING  -> RUNNABLE           yield, in finish_switch after the switch
 *   RUNNING  -> PARKING            ringo__park_prepare, by the fiber itself
 *   PARKING  -> PARKED             finish_switch after the park switch, by CAS
 *   PARKING  -> WOKEN              ringo__ready racing the park switch, by CAS;
 *                                  finish_switch then makes it RUNNABLE
 *   PARKED   -> RUNNABLE           ringo__ready, by CAS
 *   RUNNING  -> DEAD -> FREE       exit; the slot returns to the pool
 * The CASes make every race between one ready and one park resolve to
 * exactly one requeue.
 *
 * A fiber ends when its function returns or it calls ringo_exit, which
 * first unwinds its frames, running their cleanup handlers (see there).
 *
 * Thread-locals: after ringo__ctx_switch returns, the fiber may be on
 * another worker, so every function re-reads ringo__self() after a switch.
 */
#include "internal.h"
#include "sanitizer.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

static _Noreturn void fiber_entry(ringo__fiber_t *f);

char ringo__fibers_ended;
char ringo__workers_ready;

/* Builds the frame ringo__ctx_switch pops the first time it loads f->sp, so
 * that its `ret` lands in ringo__ctx_start with f and fiber_entry at hand.
 * top is 16-byte aligned. */
static void init_frame(ringo__fiber_t *f, char *top)
{
#if defined(__x86_64__)
    uint64_t *sp = (uint64_t *)top;
    *--sp = (uint64_t)(uintptr_t)ringo__ctx_start;   /* return address */
    *--sp = 0;                                        /* rbp */
    *--sp = 0;                                        /* rbx */
    *--sp = (uint64_t)(uintptr_t)f;                   /* r12 */
    *--sp = (uint64_t)(uintptr_t)fiber_entry;         /* r13 */
    *--sp = 0;                                        /* r14 */
    *--sp = 0;                                        /* r15 */
    /* Default FP control state: MXCSR 0x1f80 (all exceptions masked, round
     * to nearest), x87 control word 0x037f. */
    *--sp = 0x1f80ull | (0x037full << 32);
    f->sp = sp;
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)(top - 176);
    memset(sp, 0, 176);
    sp[0] = (uint64_t)(uintptr_t)f;                   /* x19 */
    sp[1] = (uint64_t)(uintptr_t)fiber_entry;         /* x20 */
    sp[11] = (uint64_t)(uintptr_t)ringo__ctx_start;   /* x30 */
    f->sp = sp;
#else
#  error "ringo: no context switch for this architecture (core/arch/)"
#endif
}

static _Noreturn void stack_overflow(const ringo__fiber_t *f)
{
    ringo__throw("stack overflow in fiber %llu (created at %s:%d by %s)",
                 (unsigned long long)f->id, f->file ? f->file : "?", f->line,
                 f->fn_name ? f->fn_name : "?");
}

void ringo__switch(ringo__worker_t *w, ringo__fiber_t *from, ringo__fiber_t *to, int action)
{
    if (from && RINGO__UNLIKELY(from->flags & RINGO__FIBER_CANARY) &&
        *(const uint64_t *)from->stack_lo != RINGO__CANARY)
        stack_overflow(from);

    w->post_action = action;
    w->post_fiber = from;
    atomic_store_explicit(&w->current, to, memory_order_relaxed);
    void *load;
    if (to) {
        atomic_store_explicit(&to->state, RINGO__FIBER_RUNNING, memory_order_relaxed);
        if (atomic_load_explicit(&to->by_event, memory_order_relaxed))
            atomic_store_explicit(&to->by_event, 0, memory_order_relaxed);
        RINGO__STAT_INC(w, switches);   /* also the monitor's progress tick */
        load = to->sp;
        RINGO_ASAN_START_SWITCH(action == RINGO__POST_EXIT ? NULL :
                                from ? &from->asan_fake_stack : &w->asan_sched_fake,
                                to->stack_lo, (size_t)((char *)to - to->stack_lo));
        RINGO_TSAN_SWITCH(to->tsan_fiber);
    } else {
        load = w->sched_sp;
        RINGO_ASAN_START_SWITCH(action == RINGO__POST_EXIT ? NULL :
                                from ? &from->asan_fake_stack : &w->asan_sched_fake,
                                w->sched_stack_lo, w->sched_stack_size);
        RINGO_TSAN_SWITCH(w->tsan_sched_fiber);
    }
    ringo__ctx_switch(from ? &from->sp : &w->sched_sp, load);

    /* Resumed, perhaps on another worker. */
    w = ringo__self();
    RINGO_ASAN_FINISH_SWITCH(from ? from->asan_fake_stack : w->asan_sched_fake);
    ringo__finish_switch(w);
}

void ringo__finish_switch(ringo__worker_t *w)
{
    int action = w->post_action;
    ringo__fiber_t *f = w->post_fiber;
    w->post_action = RINGO__POST_NONE;
    w->post_fiber = NULL;

    switch (action) {
    case RINGO__POST_NONE:
        break;
    case RINGO__POST_YIELD:
        atomic_store_explicit(&f->state, RINGO__FIBER_RUNNABLE, memory_order_relaxed);
        ringo__runq_put(w, f, false);
        break;
    case RINGO__POST_PARK: {
        int expect = RINGO__FIBER_PARKING;
        if (!atomic_compare_exchange_strong_explicit(&f->state, &expect, RINGO__FIBER_PARKED,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            /* A waker came between park_prepare and now: it left the
             * fiber WOKEN for us to requeue. */
            atomic_store_explicit(&f->state, RINGO__FIBER_RUNNABLE, memory_order_relaxed);
            ringo__runq_put(w, f, true);
        }
        break;
    }
    case RINGO__POST_EXIT:
        ringo__stack_put(ringo__rt, w, f);
        break;
    }
}

/* ---- spawning -------------------------------------------------------------- */

static int spawn(void (*fn)(void *), void *arg, const void *copy, size_t size,
                 const char *file, int line, const char *fn_name, uint32_t flags)
{
    ringo__runtime_t *rt = ringo__rt;
    if (!rt)
        ringo_panic("ringo_go: no runtime is running (call it inside ringo_run)");
    if (!fn)
        return -EINVAL;
    size_t usable = rt->stack_size - sizeof(ringo__fiber_t);
    if (copy && size > usable / 4)
        return -EINVAL;

    ringo__worker_t *w = ringo__self();
    ringo__fiber_t *f = ringo__stack_get(rt, w);
    if (!f)
        return -ENOMEM;
#ifdef RINGO_TSAN
    if (!(f->race_token = ringo__malloc(2))) {   /* freed by ringo__stack_put */
        ringo__stack_put(rt, w, f);
        return -ENOMEM;
    }
#endif

    char *top = (char *)f;
    if (copy) {
        top = (char *)((uintptr_t)(top - size) & ~(uintptr_t)15);
        /* The slot's stack is the new fiber's memory, not the parent's:
         * under TSan the copy is not the parent's access (sanitizer.h). */
        RINGO_TSAN_NOACCESS_BEGIN();
        memcpy(top, copy, size);
        RINGO_TSAN_NOACCESS_END();
        arg = top;
    }
    f->fn = fn;
    f->arg = arg;
    f->flags |= flags;
    f->file = file;
    f->line = line;
    f->fn_name = fn_name;
    ringo__fiber_t *parent = w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
    f->parent_id = parent ? parent->id : 0;
    f->id = w ? ringo__next_fiber_id(w) : atomic_fetch_add(&rt->id_source, 1);
    f->sleep_timer.heap_index = -1;
    atomic_store_explicit(&f->fresh, 1, memory_order_relaxed);
    init_frame(f, top);
#ifdef RINGO_TSAN
    char name[96];
    snprintf(name, sizeof(name), "fiber %llu %s (%s:%d)", (unsigned long long)f->id,
             fn_name ? fn_name : "?", file ? file : "?", line);
    RINGO_TSAN_NAME(f->tsan_fiber, name);
#endif
    /* Happens-before: everything the parent did so far, the child sees. */
    RINGO_RACE_RELEASE(RINGO__RACE_FIBER(f));
    atomic_store_explicit(&f->state, RINGO__FIBER_RUNNABLE, memory_order_release);

    if (w) {
        RINGO__STAT_INC(w, spawns);
        atomic_store_explicit(&w->spawned,
            atomic_load_explicit(&w->spawned, memory_order_relaxed) + 1, memory_order_relaxed);
        ringo__runq_put(w, f, true);
    } else {
        atomic_fetch_add(&rt->ext_spawned, 1);
        ringo__global_put(rt, &f, 1);
    }
    /* A new fiber may run in parallel: let an idle worker come for it
     * (thieves take fibers that never ran at once; sched.c). */
    ringo__wakep(rt);
    return 0;
}

int ringo_go_at(void (*fn)(void *), void *arg, const char *file, int line, const char *fn_name)
{
    return spawn(fn, arg, NULL, 0, file, line, fn_name, 0);
}

int (ringo_go)(void (*fn)(void *), void *arg)
{
    return spawn(fn, arg, NULL, 0, NULL, 0, NULL, 0);
}

int ringo_go_copy_at(void (*fn)(void *), const void *arg, size_t size,
                     const char *file, int line, const char *fn_name)
{
    static const char empty;
    return spawn(fn, NULL, arg ? arg : &empty, arg ? size : 0, file, line, fn_name, 0);
}

int ringo__spawn_main(void (*fn)(void *), void *arg)
{
    return spawn(fn, arg, NULL, 0, "ringo_run", 0, "main", RINGO__FIBER_MAIN);
}

/* ---- running and ending ------------------------------------------------------ */

static _Noreturn void fiber_exit(void)
{
    ringo__worker_t *w = ringo__self();
    ringo__fiber_t *f = atomic_load_explicit(&w->current, memory_order_relaxed);

    atomic_store_explicit(&w->exited,
        atomic_load_explicit(&w->exited, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(&f->state, RINGO__FIBER_DEAD, memory_order_release);
    /* ringo_run returns after every fiber that ended (sanitizer.h). */
    RINGO_RACE_RELEASE(&ringo__fibers_ended);
    ringo__switch(w, f, ringo__sched_next_local(w), RINGO__POST_EXIT);
    __builtin_unreachable();
}

static _Noreturn void fiber_entry(ringo__fiber_t *f)
{
    ringo__worker_t *w = ringo__self();
    RINGO_ASAN_FINISH_SWITCH(NULL);
    ringo__finish_switch(w);
    atomic_store_explicit(&f->fresh, 0, memory_order_relaxed);
    RINGO_RACE_ACQUIRE(RINGO__RACE_FIBER(f));      /* the spawn's release */
    RINGO_RACE_ACQUIRE(&ringo__workers_ready);  /* every worker's TLS (errno) */

    /* ringo_exit unwinds up to this frame and no further (exit_stop). */
    struct _Unwind_Exception exit_unwind;
    f->exit_unwind = &exit_unwind;
    f->fn(f->arg);

    if (f->flags & RINGO__FIBER_MAIN) {
        /* main returned: the program is over (Go's main semantics). */
        ringo__runtime_t *rt = ringo__rt;
        atomic_store(&rt->stopping, 1);
        ringo__wake_all(rt);
        ringo__monitor_kick(rt);
    }
    fiber_exit();
}

/* ringo_exit is Go's Goexit: the fiber's deferred work still runs. In C
 * that is the cleanup handlers (__attribute__((cleanup)), so
 * RINGO_DEFER_CANCEL) of every frame it leaves, which a forced unwind runs,
 * as pthread_exit does: libgcc walks the stack frame by frame, calling
 * exit_stop before each, and enters each frame's cleanups (code compiled
 * with -fexceptions has them as landing pads), which resume the unwind.
 * exit_stop ends the fiber once the unwind reaches fiber_entry's frame,
 * whose CFA lies above the exception object it holds; a cleanup may block
 * and resume on another worker meanwhile, as the unwinder keeps its state
 * in that object. If a frame on the way has no unwind information,
 * _Unwind_ForcedUnwind returns and the fiber ends without the cleanups of
 * the frames above it. */
static _Unwind_Reason_Code exit_stop(int version, _Unwind_Action actions,
                                     _Unwind_Exception_Class cls, struct _Unwind_Exception *exc,
                                     struct _Unwind_Context *ctx, void *arg)
{
    (void)version;
    (void)cls;
    (void)arg;
    if ((actions & _UA_END_OF_STACK) || _Unwind_GetCFA(ctx) > (uintptr_t)exc)
        fiber_exit();
    return _URC_NO_REASON;
}

/* A C++ catch (...) that swallows the unwind instead of rethrowing it. */
static void exit_unwind_caught(_Unwind_Reason_Code reason, struct _Unwind_Exception *exc)
{
    (void)reason;
    (void)exc;
    ringo__throw("ringo_exit's unwind was caught and not rethrown");
}

void ringo_exit(void)
{
    ringo__worker_t *w = ringo__self();
    ringo__fiber_t *f = w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
    if (!f)
        ringo_panic("ringo_exit called outside a fiber");
    if (f->flags & RINGO__FIBER_MAIN)
        atomic_store(&ringo__rt->main_exited, true);
    struct _Unwind_Exception *exc = f->exit_unwind;
    memset(exc, 0, sizeof(*exc));
    exc->exception_class = 0x52494e474f455849ull;    /* "RINGOEXI" */
    exc->exception_cleanup = exit_unwind_caught;
    _Unwind_ForcedUnwind(exc, exit_stop, NULL);
    fiber_exit();
}

void ringo_yield(void)
{
    ringo__worker_t *w = ringo__self();
    ringo__fiber_t *f = w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
    if (!f) {
        sched_yield();
        return;
    }
    ringo__switch(w, f, ringo__sched_next_local(w), RINGO__POST_YIELD);
}

/* ---- parking --------------------------------------------------------------- */

ringo__fiber_t *ringo__current(void)
{
    ringo__worker_t *w = ringo__self();
    return w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
}

void ringo__park_prepare(const char *reason)
{
    ringo__worker_t *w = ringo__self();
    ringo__fiber_t *f = w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
    if (!f)
        ringo__throw("park outside a fiber (%s)", reason);
    atomic_store_explicit(&f->wait_reason, reason, memory_order_relaxed);
    atomic_store_explicit(&f->wait_since, w->now_cached, memory_order_relaxed);
    /* Release: whoever finds the fiber through the primitive that publishes
     * it next also sees PARKING. */
    atomic_store_explicit(&f->state, RINGO__FIBER_PARKING, memory_order_release);
}

void ringo__park(void)
{
    ringo__worker_t *w = ringo__self();
    ringo__fiber_t *f = atomic_load_explicit(&w->current, memory_order_relaxed);
    RINGO__STAT_INC(w, parks);
    ringo__switch(w, f, ringo__sched_next_local(w), RINGO__POST_PARK);
    RINGO_RACE_ACQUIRE(RINGO__RACE_FIBER(f));      /* the waker's release in ringo__ready */
}

/* Each state's name, and what a dump shows for a fiber in it, in Go's
 * words: a fiber readied but not yet requeued is runnable, one on its way
 * into a park is already waiting; NULL: no live fiber, not listed. */
static const struct {
    const char *name, *shown;
} fiber_states[] = {
    [RINGO__FIBER_FREE] = {"free", NULL},
    [RINGO__FIBER_RUNNABLE] = {"runnable", "runnable"},
    [RINGO__FIBER_RUNNING] = {"running", "running"},
    [RINGO__FIBER_PARKING] = {"parking", "waiting"},
    [RINGO__FIBER_PARKED] = {"parked", "waiting"},
    [RINGO__FIBER_WOKEN] = {"woken", "runnable"},
    [RINGO__FIBER_DEAD] = {"dead", NULL},
};
_Static_assert(sizeof(fiber_states) / sizeof(fiber_states[0]) == RINGO__FIBER_DEAD + 1,
               "a name for every fiber state");

static const char *state_name(int s)
{
    return s >= 0 && s <= RINGO__FIBER_DEAD ? fiber_states[s].name : "corrupt";
}

const char *ringo__fiber_doing(const ringo__fiber_t *f, bool *waiting)
{
    int s = atomic_load_explicit(&f->state, memory_order_acquire);
    const char *shown = s >= 0 && s <= RINGO__FIBER_DEAD ? fiber_states[s].shown : NULL;
    *waiting = s == RINGO__FIBER_PARKING || s == RINGO__FIBER_PARKED;
    if (*waiting) {
        const char *reason = atomic_load_explicit(&f->wait_reason, memory_order_relaxed);
        if (reason)
            shown = reason;
    }
    return shown;
}

void ringo__ready(ringo__fiber_t *f)
{
    ringo__runtime_t *rt = ringo__rt;
    /* Happens-before: the waker's past, to the woken fiber once it runs. */
    RINGO_RACE_RELEASE(RINGO__RACE_FIBER(f));
    int s = atomic_load_explicit(&f->state, memory_order_acquire);
    for (;;) {
        if (s == RINGO__FIBER_PARKING) {
            if (atomic_compare_exchange_weak_explicit(&f->state, &s, RINGO__FIBER_WOKEN,
                                                      memory_order_acq_rel, memory_order_acquire))
                return;     /* its own worker requeues it after the switch */
        } else if (s == RINGO__FIBER_PARKED) {
            if (atomic_compare_exchange_weak_explicit(&f->state, &s, RINGO__FIBER_RUNNABLE,
                                                      memory_order_acq_rel, memory_order_acquire))
                break;
        } else {
            ringo__throw("fiber %llu readied while %s", (unsigned long long)f->id, state_name(s));
        }
    }

    ringo__worker_t *w = ringo__self();
#if defined(RINGO_TSAN) || defined(RINGO_ASAN)
    /* Sanitizer builds shake things up: one wake-up in eight goes through
     * the global queue, so the fiber likely resumes on another worker. Code
     * that caches a thread-local across a switch breaks there, visibly. */
    if (w && ringo__rand(8) == 0)
        w = NULL;
#endif
    if (w) {
        /* Go's rule: the readied fiber runs next on the waker's worker. */
        ringo__runq_put(w, f, true);
        /* Wake an idle worker only for a backlog; a napping one comes for
         * fibers that wait here (sched.c). */
        ringo__wakep_local(rt, w);
    } else {
        ringo__global_put(rt, &f, 1);
        ringo__wakep(rt);
    }
}

/* ---- waiters that may be plain threads --------------------------------------------- */

void ringo__wait_prepare(ringo__wait_t *wt, const char *reason)
{
    wt->fiber = ringo__current();
    if (wt->fiber) {
        ringo__park_prepare(reason);
        return;
    }
    atomic_store_explicit(&wt->futex, 0, memory_order_relaxed);
}

void ringo__wait_block(ringo__wait_t *wt)
{
    if (wt->fiber) {
        ringo__park();
        return;
    }
    while (!atomic_load_explicit(&wt->futex, memory_order_acquire))
        syscall(SYS_futex, &wt->futex, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    RINGO_RACE_ACQUIRE(wt);
}

void ringo__unblock(ringo__wait_t *wt)
{
    if (wt->fiber) {
        ringo__ready(wt->fiber);
        return;
    }
    RINGO_RACE_RELEASE(wt);
    atomic_store_explicit(&wt->futex, 1, memory_order_release);
    syscall(SYS_futex, &wt->futex, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void ringo__unblock_quiet(ringo__wait_t *wt)
{
    if (wt->fiber)
        atomic_store_explicit(&wt->fiber->by_event, 1, memory_order_relaxed);
    RINGO_TSAN_NOSYNC_BEGIN();
    ringo__unblock(wt);
    RINGO_TSAN_NOSYNC_END();
}

void ringo__block_forever(const char *reason)
{
    if (ringo__current()) {
        ringo__park_prepare(reason);
        ringo__park();
        ringo__throw("a fiber blocked forever (%s) was woken", reason);
    }
    for (;;)
        pause();
}

uint32_t ringo__rand(uint32_t n)
{
    static _Thread_local uint64_t thread_state;
    ringo__worker_t *w = ringo__self();
    uint64_t *state = w ? &w->rng : &thread_state;
    if (!*state)
        *state = (uint64_t)(uintptr_t)state ^ (uint64_t)ringo__now() ^ 0x9E3779B97F4A7C15ull;
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    /* Lemire's multiply-shift: unbiased enough for n far below 2^32. */
    return (uint32_t)(((x * 0x2545F4914F6CDD1Dull) >> 32) * (uint64_t)n >> 32);
}

/* ---- identity ------------------------------------------------------------------- */

uint64_t ringo_fiber_id(void)
{
    ringo__fiber_t *f = ringo__current();
    return f ? f->id : 0;
}

size_t ringo_num_fibers(void)
{
    ringo__runtime_t *rt = ringo__rt;
    if (!rt)
        return 0;
    /* Fibers always exit on a worker; only spawns come from outside too. */
    uint64_t spawned = atomic_load(&rt->ext_spawned), exited = 0;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        spawned += atomic_load_explicit(&rt->workers[i].spawned, memory_order_relaxed);
        exited += atomic_load_explicit(&rt->workers[i].exited, memory_order_relaxed);
    }
    return spawned > exited ? (size_t)(spawned - exited) : 0;
}

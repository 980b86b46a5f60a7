/* ringo/runtime.h - the runtime, fibers ("goroutines"), panics and
 * introspection.
 *
 * A program calls ringo_main() (main's return ends the process, as in Go)
 * or ringo_run() (returns to its caller) with its main function; everything
 * else happens inside fibers that main spawns with ringo_go(). Errors come
 * back as -errno, never through errno: a fiber may resume on another thread.
 *
 * Fibers are not preempted: a fiber runs until it blocks, yields or ends.
 * One that computes for long without doing so holds its worker; the
 * runtime then moves the other fibers off that worker, and when every
 * worker is so held, it runs them on a spare worker thread until one is
 * free again, so sleepers wake and other fibers progress meanwhile.
 *
 * Deadlocks: when every fiber is blocked and nothing pending (a timer, an
 * I/O operation, a runnable fiber) can wake one, the program dies with
 * "ringo: fatal: all fibers are asleep - deadlock!", as in Go. Channels and
 * the sync types also work from plain threads, which the runtime cannot
 * see coming: no such verdict is given while any thread exists besides the
 * runtime's own and the thread blocked in ringo_run/ringo_main (under
 * ThreadSanitizer, threads that block every signal are taken for TSan's
 * own and not counted). It comes once the last such thread has ended.
 */
#ifndef RINGO_RUNTIME_H
#define RINGO_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ringo/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- runtime ------------------------------------------------------------ */

/* Where the runtime gets its I/O and wake-ups from (its backend). io_uring
 * is the fast one; where it is refused (Docker's default seccomp profile,
 * the kernel.io_uring_disabled sysctl, gVisor, kernels too old to have
 * every opcode ringo uses) the runtime falls back to epoll, with one line
 * on stderr naming why, and everything works the same: the same calls,
 * results, cancellation, deadlines and select over fds. On epoll, regular
 * files (which never report readiness) are read, written, opened and
 * synced on a few threads of the runtime's own. The environment variable
 * RINGO_BACKEND=uring|epoll forces one for a run, overriding the config's
 * field; forcing io_uring where it is refused makes ringo_run fail as
 * described below. */
typedef enum ringo_backend {
    RINGO_BACKEND_AUTO = 0,     /* io_uring if usable, else epoll */
    RINGO_BACKEND_URING = 1,
    RINGO_BACKEND_EPOLL = 2,
} ringo_backend_t;

typedef struct ringo_config {
    unsigned workers;      /* 0: one per allowed core (hwloc); env RINGO_WORKERS overrides.
                              Go's GOMAXPROCS: while fibers that never yield hold
                              workers, spare threads may run beside them */
    bool     no_pin;       /* true: don't pin workers to cores */
    size_t   stack_size;   /* each fiber's stack; 0: 64 KiB (see below) */
    unsigned ring_entries; /* SQ entries per worker ring; 0: 256 */
    bool     virtual_time; /* true: a test clock, one worker (see "Virtual time") */
    uint64_t seed;         /* with virtual_time: seeds select's random choices */
    ringo_backend_t backend; /* 0 (AUTO): io_uring, else epoll; env RINGO_BACKEND overrides */
} ringo_config_t;

/* Virtual time (Go's testing/synctest), for tests of code that waits on
 * time. With .virtual_time, ringo_run runs on one worker (workers and
 * RINGO_WORKERS are ignored) and ringo_now() reads a virtual clock that
 * starts at the same value every run (946684800 s, synctest's midnight of
 * 1 January 2000) and moves only when every fiber is blocked: it then
 * jumps straight to the earliest timer, whose fire wakes its fiber. So
 * ringo_sleep(RINGO_HOUR) returns at once in wall time, ringo_now() reads
 * an hour later, and a fiber that computes sees the clock stand still.
 * Every timer lives on that clock: sleeps, timers, tickers, RINGO_TIMEOUT,
 * context deadlines.
 *
 * A run is reproducible: the one worker runs fibers in an order that
 * depends only on what they do, and .seed seeds select's random choice
 * among ready cases (and every other random choice the runtime makes), so
 * the same program with the same seed takes the same steps at the same
 * virtual times; another seed may choose differently.
 *
 * Blocked means blocked on something inside the run: a channel, a select,
 * a lock, a WaitGroup, a sleep, a context. As in synctest, what comes from
 * outside is not:
 *   - a fiber waiting on real I/O (sockets, files, fd select cases) is not
 *     blocked in this sense: while any I/O operation is in flight the
 *     clock stands still, however long the I/O takes in wall time, and a
 *     context deadline on such an operation cannot pass until it
 *     completes (it is not given to the kernel). Test I/O-bound code with
 *     in-memory stand-ins (channels, socketpairs that the test feeds);
 *   - calls run on the blocking pool (ringo_blocking, name resolution) and
 *     plain threads the program starts do not hold the clock: they come
 *     back at whatever virtual time it is then, which makes a run that
 *     uses them not reproducible.
 * When every fiber is blocked and no timer is pending, the run dies with
 * "all fibers are asleep - deadlock!" and the fiber dump (each fiber's wait
 * reason, how long in virtual time, where it was created), as any run
 * does. A timer that keeps firing (a ticker nobody stops) keeps the clock
 * going instead, as a ticker keeps a Go program alive.
 *
 * The monitor moves no fiber in virtual time: a fiber that computes for
 * long holds the one worker until it blocks or yields. Outside
 * ringo_run, ringo_now() is the real clock again. */

/* Fiber stacks. Each fiber gets stack_size bytes (64 KiB unless configured,
 * 16 KiB to 1 GiB, rounded up to pages), less a few hundred bytes for the
 * fiber's own record: reserved address space, of which only the pages the
 * fiber touches are ever resident (a parked fiber costs about one page).
 * They never grow: a 64 KiB stack does not hold a 64 KiB local array.
 * Below each stack lies a 64 KiB guard that costs no memory; a fiber that
 * runs past its stack dies with "ringo: fatal: stack overflow in fiber N
 * (created at file:line by fn)" and the fiber dump. A frame of up to 64 KiB
 * is always caught; larger ones are caught in code compiled with
 * -fstack-clash-protection, which ringo.pc's Cflags add. */

/* Runs main_fn(arg) as the first fiber on a fresh runtime and returns to
 * its caller after main_fn returns. Every other fiber is then abandoned (it
 * never runs again) and all runtime memory is released, so a later
 * ringo_run starts clean. Returning to the caller means waiting for every
 * fiber that is running on a worker when main returns to reach a switch
 * (block, yield, sleep or end): a fiber that computes, or spins on
 * non-blocking channel operations, without ever switching delays
 * ringo_run's return for as long as it does so. After a second of that,
 * ringo_run writes each such fiber's id, function and creation site to
 * stderr ("ringo: ringo_run is waiting for fiber 7 spin (app.c:42) to reach
 * a switch"). For Go's behaviour, where main's return ends the program at
 * once, use ringo_main. cfg may be NULL. Returns 0, -EBUSY if a runtime is
 * already running, -EINVAL for a NULL main_fn or a bad cfg, -ENOMEM, or the
 * -errno that kept the runtime from starting (e.g. -ENOSYS or -EPERM when
 * io_uring was forced and is unavailable) after one line on stderr naming
 * the cause. */
RINGO_API int ringo_run(const ringo_config_t *cfg, void (*main_fn)(void *), void *arg);

/* Go's program shape: runs main_fn(argc, argv) as the first fiber and,
 * as soon as it returns, ends the process with exit(status), status being
 * what main_fn returned. Like Go's main, it does not wait for the other
 * fibers: those still running are stopped by the exit, wherever they are.
 * exit() flushes stdio and runs atexit handlers as usual. Meant to be
 * called from the program's main:
 *     int main(int argc, char **argv) { ringo_main(NULL, app_main, argc, argv); }
 * If main_fn ends through ringo_exit(), the program goes on until the
 * other fibers end too, then dies with the deadlock error, as in Go. If the
 * runtime cannot start (the errors of ringo_run), it writes the cause to
 * stderr and exits with status 2; so does a NULL main_fn. Never returns. */
RINGO_API _Noreturn void ringo_main(const ringo_config_t *cfg,
                                    int (*main_fn)(int argc, char **argv),
                                    int argc, char **argv);

/* "0.1.0": the version of the library actually loaded. */
RINGO_API const char *ringo_version(void);

/* ---- fibers --------------------------------------------------------------- */

/* Starts fn(arg) in a new fiber (`go fn(arg)`). Returns 0, -ENOMEM when no
 * stack could be had, or -EINVAL when fn is NULL; on failure fn never runs
 * and the caller still owns arg.
 * Spawning with no runtime running is a panic. Callable from fibers and from
 * plain threads while the runtime runs. The macro records the call site and
 * the function's name for fiber dumps; (ringo_go)(fn, arg) calls the plain
 * function. */
RINGO_API int ringo_go_at(void (*fn)(void *), void *arg,
                          const char *file, int line, const char *fn_name);
RINGO_API int (ringo_go)(void (*fn)(void *), void *arg);
#define ringo_go(fn, arg) ringo_go_at((fn), (arg), __FILE__, __LINE__, #fn)

/* Like ringo_go, but copies size bytes at arg onto the new fiber's stack and
 * passes fn a pointer to that copy: each fiber gets its own arguments (the
 * fix for Go's loop-variable capture bug). size may be up to a quarter of the
 * stack; larger gives -EINVAL. */
RINGO_API int ringo_go_copy_at(void (*fn)(void *), const void *arg, size_t size,
                               const char *file, int line, const char *fn_name);
#define ringo_go_copy(fn, arg, size) \
    ringo_go_copy_at((fn), (arg), (size), __FILE__, __LINE__, #fn)

/* Lets other fibers run (runtime.Gosched). From a plain thread: sched_yield. */
RINGO_API void ringo_yield(void);

/* Ends the calling fiber (runtime.Goexit). From main, main ends but the
 * program goes on with the other fibers, as in Go.
 * Like Go's deferred calls, the cleanup handlers of the frames it leaves
 * run first, innermost first: __attribute__((cleanup)) variables, such as
 * RINGO_DEFER_CANCEL's, and ringo_once_do, whose function then counts as
 * having returned. The stack is unwound as pthread_exit unwinds a thread
 * (libgcc's forced unwind), so a frame's cleanups run only if its code was
 * compiled with -fexceptions (ringo.pc's Cflags add it); frames compiled
 * without it are left without theirs. A cleanup may block. In C++, a
 * catch (...) on the way must rethrow. */
RINGO_API _Noreturn void ringo_exit(void);

/* The calling fiber's id (1 is main); 0 outside a fiber. */
RINGO_API uint64_t ringo_fiber_id(void);

/* Fibers that exist now, main included (runtime.NumGoroutine). */
RINGO_API size_t ringo_num_fibers(void);

/* Writes a summary of the fibers grouped by creation site and state, most
 * numerous first (Go's goroutine profile, debug=1), then every fiber's id,
 * state, wait reason, how long it has waited and where it was created (Go's
 * goroutine dump). SIGQUIT prints the same and exits with status 2, unless
 * the program installed its own SIGQUIT handler before ringo_run. */
RINGO_API void ringo_fiber_dump(int fd);

/* Leak check, like uber-go/goleak's VerifyNone: waits up to ~100 ms (with
 * backoff) for every fiber but the caller to end. Returns 0, or the number
 * of fibers still alive after printing them to stderr grouped by creation
 * site and wait reason. Call it from the fiber that should be the last. */
RINGO_API int ringo_expect_no_leaks(void);

/* ---- panics --------------------------------------------------------------- */

/* Programmer errors Go makes panics end here: prints "ringo: panic: <msg>"
 * and the fiber dump to stderr, then aborts. */
RINGO_API _Noreturn void ringo_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Called with the message before the dump and abort; for tests and loggers.
 * If it returns, the panic proceeds. NULL restores the default. */
RINGO_API void ringo_set_panic_handler(void (*h)(const char *msg));

/* ---- statistics ------------------------------------------------------------ */

typedef struct ringo_worker_stats {
    uint64_t switches;      /* fiber resumptions */
    uint64_t steals;        /* fibers taken from other workers' queues */
    uint64_t wakes_sent;    /* MSG_RING (or eventfd) wake-ups this worker sent */
    uint64_t wakes_received;/* wake-up completions that reached this worker */
    uint64_t submits;       /* io_uring_enter calls that submitted or waited */
    uint64_t completions;   /* CQEs reaped */
    uint64_t parks;         /* fibers that parked here */
    uint64_t spawns;        /* fibers created here */
    uint64_t sleeps;        /* times the worker slept in its ring */
    uint64_t rescues;       /* times the monitor found it hogged and rescued its fibers */
} ringo_worker_stats_t;

typedef struct ringo_stats {
    unsigned workers;
    ringo_backend_t backend;      /* the one in use: RINGO_BACKEND_URING or _EPOLL */
    uint64_t fibers;        /* ringo_num_fibers() */
    ringo_worker_stats_t total;   /* sum over workers */
} ringo_stats_t;

/* Totals for the running runtime (zeros when none runs; out NULL: nothing). */
RINGO_API void ringo_stats(ringo_stats_t *out);
/* One worker's counters: 0, or -EINVAL for a bad index or no runtime. */
RINGO_API int ringo_worker_stats(unsigned index, ringo_worker_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif

/* core/runtime.c - ringo_run and ringo_main: start the workers, run main,
 * end the program or tear it all down.
 *
 * Start-up, in order: resolve the configuration (cfg, then RINGO_WORKERS;
 * virtual time forces one worker and starts the virtual clock, clock.c);
 * pick the event source once (event.c: io_uring, else epoll with one line
 * saying why; a clear line and -errno if a forced one is unusable); find the
 * allowed cores with hwloc (on failure: the online CPU count, no pinning,
 * one warning); reserve the stack pool; install the crash signals; queue the
 * main fiber; start one thread per worker, each pinning itself and creating
 * its own ring (SINGLE_ISSUER rings belong to the thread that makes them);
 * start the monitor; then open the start gate. Every runtime thread has
 * published its thread id before any fiber runs (see "Whose threads").
 *
 * Shut-down, ringo_run: main's return sets rt->stopping and wakes every
 * worker and the caller; each worker leaves its loop at its next trip
 * through the scheduler, so a fiber that never reaches a switch (it never
 * blocks nor yields) delays ringo_run's return for as long as it runs; after
 * a second ringo_run names those fibers on stderr. It then stops the
 * monitor, joins the workers and spares, restores the signals, and frees the
 * rings, the timer heaps and every stack chunk: abandoned fibers are
 * released with the memory they live in, once sync/ has taken their
 * waiters off the queues of objects that outlive the run
 * (ringo__abandon_hook).
 *
 * ringo_main: main's return hands its status to the caller's thread, which
 * calls exit() with it at once, as Go's runtime does when main returns:
 * the other fibers are not waited for, stdio is flushed and atexit
 * handlers run.
 *
 * Whose threads: the deadlock check (sched.c) may only declare a deadlock
 * when no thread outside the runtime exists, since any other thread could
 * still send on a channel or ready a fiber. The runtime's own threads are
 * known exactly by id: the caller of ringo_run (blocked in it), each
 * worker and spare (w->tid), the monitor. Everything else in
 * /proc/self/task counts as foreign, except the kernel's io_uring worker
 * threads (they run no user code), io/'s blocking-pool threads while no
 * call is in the pool (ringo__idle_thread_hook) and, under
 * ThreadSanitizer, its background threads (told apart by their signal
 * mask; see below).
 *
 * Only one runtime runs at a time (ringo__rt); `running` guards that.
 */
#include "internal.h"
#include "sanitizer.h"

#include <dirent.h>
#include <errno.h>
#include <hwloc.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_STACK (64 * 1024)
#define MIN_STACK (16 * 1024)
#define DEFAULT_ENTRIES 256

static _Atomic int running;
void (*_Atomic ringo__abandon_hook)(void);
void (*_Atomic ringo__run_end_hook)(void);
bool (*_Atomic ringo__idle_thread_hook)(int tid);

const char *ringo_version(void)
{
    return RINGO_VERSION_STRING;
}

static int gettid_now(void)
{
    return (int)syscall(SYS_gettid);
}

static bool own_thread(ringo__runtime_t *rt, int tid)
{
    if (tid == rt->caller_tid || tid == atomic_load(&rt->monitor_tid) ||
        ringo__ev_own_thread(tid))
        return true;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (atomic_load_explicit(&rt->workers[i].tid, memory_order_relaxed) == tid)
            return true;
    return false;
}

/* Reads /proc/self/task/<tid>/<name> into buf (NUL-terminated); false if
 * it cannot (the thread has gone). */
static bool read_task_file(const char *tid, const char *name, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%s/%s", tid, name);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

#define PF_IO_WORKER 0x10   /* include/linux/sched.h: an io_uring worker thread */

/* A thread that can wake no fiber: gone (zombie), or one of the kernel's
 * io_uring workers ("iou-wrk-*", "iou-sqp-*"), which run no user code. */
static bool harmless_thread(const char *tid)
{
    char buf[1024];
    if (!read_task_file(tid, "stat", buf, sizeof(buf)))
        return true;                            /* it has ended */
    const char *open = strchr(buf, '(');
    const char *close = strrchr(buf, ')');
    if (!open || !close || close[1] != ' ')
        return false;
    char state = close[2];
    if (state == 'Z' || state == 'X')
        return true;
    /* Field 9, flags: the sixth field after the state. */
    const char *p = close + 3;
    for (int i = 0; i < 6 && p; i++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    unsigned long flags = p ? strtoul(p, NULL, 10) : 0;
    return (flags & PF_IO_WORKER) && strncmp(open + 1, "iou-", 4) == 0;
}

#ifdef RINGO_TSAN
/* ThreadSanitizer starts its background threads (one, or two in a forked
 * child) with every blockable signal blocked. A user thread that blocks
 * every signal looks the same and is excused too: in TSan builds only, the
 * deadlock check can miss such a thread (runtime.h says so). */
static bool tsan_background_thread(const char *tid)
{
    char buf[2048];
    if (!read_task_file(tid, "status", buf, sizeof(buf)))
        return false;
    const char *blk = strstr(buf, "\nSigBlk:");
    if (!blk)
        return false;
    unsigned long long mask = strtoull(blk + 8, NULL, 16);
    /* All but SIGKILL, SIGSTOP and glibc's two internal signals. */
    return (mask & 0xfffffffe7ffbfeffull) == 0xfffffffe7ffbfeffull;
}
#endif

bool ringo__foreign_threads(ringo__runtime_t *rt)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return true;                            /* cannot tell: assume one */
    bool found = false;
    struct dirent *e;
    bool (*idle_thread)(int) = atomic_load(&ringo__idle_thread_hook);
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (own_thread(rt, atoi(e->d_name)) || harmless_thread(e->d_name))
            continue;
        if (idle_thread && idle_thread(atoi(e->d_name)))
            continue;
#ifdef RINGO_TSAN
        if (tsan_background_thread(e->d_name))
            continue;
#endif
        found = true;
    }
    closedir(d);
    return found;
}

/* ---- topology ------------------------------------------------------------------- */

struct topology {
    hwloc_topology_t topo;
    hwloc_bitmap_t *pus;    /* one PU per allowed core */
    unsigned ncores;
};

static void topology_free(struct topology *t)
{
    if (t->pus) {
        for (unsigned i = 0; i < t->ncores; i++)
            hwloc_bitmap_free(t->pus[i]);
        ringo__free(t->pus);
    }
    if (t->topo)
        hwloc_topology_destroy(t->topo);
    memset(t, 0, sizeof(*t));
}

/* The cores this process may run on, one PU each. 0 on success. */
static int topology_load(struct topology *t)
{
    memset(t, 0, sizeof(*t));
    if (hwloc_topology_init(&t->topo) < 0) {
        t->topo = NULL;
        return -1;
    }
    if (hwloc_topology_load(t->topo) < 0)
        goto fail;
    hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
    if (!allowed)
        goto fail;
    if (hwloc_get_cpubind(t->topo, allowed, HWLOC_CPUBIND_PROCESS) < 0)
        hwloc_bitmap_copy(allowed, hwloc_topology_get_allowed_cpuset(t->topo));
    int n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_CORE);
    t->pus = ringo__calloc(n > 0 ? (size_t)n : 1, sizeof(*t->pus));
    for (int i = 0; t->pus && i < n; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_CORE, (unsigned)i);
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (!set)
            break;
        hwloc_bitmap_and(set, core->cpuset, allowed);
        if (hwloc_bitmap_iszero(set)) {
            hwloc_bitmap_free(set);
            continue;
        }
        hwloc_bitmap_singlify(set);
        t->pus[t->ncores++] = set;
    }
    hwloc_bitmap_free(allowed);
    if (t->ncores == 0)
        goto fail;
    return 0;
fail:
    topology_free(t);
    return -1;
}

/* ---- workers --------------------------------------------------------------------- */

struct worker_start {
    ringo__worker_t *w;
    struct topology *topo;
};

/* What a worker or spare thread sets up, once it has its ring, before it
 * runs the scheduler. */
static void worker_setup(ringo__worker_t *w)
{
    w->tsan_sched_fiber = RINGO_TSAN_CURRENT();
    w->tsan_timer_fiber = RINGO_TSAN_CREATE();
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *lo;
        size_t size;
        if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
            w->sched_stack_lo = lo;
            w->sched_stack_size = size;
        }
        pthread_attr_destroy(&attr);
    }
}

static void worker_end(ringo__worker_t *w)
{
    ringo__ev_fini(w);
    ringo__altstack_fini(w);
    if (w->tsan_timer_fiber)
        RINGO_TSAN_DESTROY(w->tsan_timer_fiber);
    w->tsan_timer_fiber = NULL;
    ringo__tls_worker = NULL;
}

static void *worker_thread(void *arg)
{
    struct worker_start *ws = arg;
    ringo__worker_t *w = ws->w;
    ringo__runtime_t *rt = ringo__rt;
    ringo__tls_worker = w;
    atomic_store(&w->tid, gettid_now());

    if (ws->topo && w->cpu >= 0)
        hwloc_set_cpubind(ws->topo->topo, ws->topo->pus[w->cpu], HWLOC_CPUBIND_THREAD);
    int err = ringo__altstack_init(w);
    if (!err)
        err = ringo__ev_init(w);
    if (err)
        atomic_store(&rt->init_failed, err);
    /* Fibers run on this thread and touch its TLS (errno): under TSan
     * every fiber starts after every worker's set-up (fiber_entry). */
    RINGO_RACE_RELEASE(&ringo__workers_ready);
    pthread_mutex_lock(&rt->gate_lock);
    rt->gate_arrived++;
    pthread_cond_broadcast(&rt->gate_cond);
    while (!rt->gate_open)
        pthread_cond_wait(&rt->gate_cond, &rt->gate_lock);
    pthread_mutex_unlock(&rt->gate_lock);

    if (!atomic_load(&rt->init_failed)) {
        worker_setup(w);
        ringo__worker_loop(w);
    }
    worker_end(w);
    return NULL;
}

/* A retired spare with nothing left waits here, not counted live, until
 * the monitor takes it back (true; it counted it live again) or shutdown
 * (false). Its ring and eventfd stay open meanwhile: a waker that read
 * their numbers a moment ago never writes into a closed, reused fd. */
static bool spare_park(ringo__runtime_t *rt, ringo__worker_t *w)
{
    atomic_fetch_sub(&rt->idle, RINGO__LIVE_ONE);
    for (;;) {
        int s = atomic_load(&w->spare_state);
        if (s != RINGO__SPARE_PARKED)
            return s == RINGO__SPARE_ACTIVE;
        if (atomic_load(&rt->stopping))
            return false;
        syscall(SYS_futex, &w->spare_state, FUTEX_WAIT_PRIVATE, RINGO__SPARE_PARKED, NULL, NULL, 0);
    }
}

/* A spare worker's thread (monitor.c starts it, ACTIVE and counted live).
 * It runs fibers, retires, parks and runs again as the monitor says, and
 * ends at shutdown (or at once if it cannot make its ring). */
void *ringo__spare_thread(void *arg)
{
    ringo__worker_t *w = arg;
    ringo__runtime_t *rt = ringo__rt;
    ringo__tls_worker = w;
    atomic_store(&w->tid, gettid_now());
    bool live = true;
    int err = ringo__altstack_init(w);
    if (!err)
        err = ringo__ev_init(w);
    if (!err) {
        RINGO_RACE_RELEASE(&ringo__workers_ready);
        worker_setup(w);
        for (;;) {
            ringo__worker_loop(w);
            if (atomic_load(&w->spare_state) != RINGO__SPARE_PARKED)
                break;                  /* shutdown */
            if (!(live = spare_park(rt, w)))
                break;
        }
    } else {
        static _Atomic int warned;
        atomic_store(&rt->spare_failed, 1);
        if (!atomic_exchange(&warned, 1))
            fprintf(stderr, "ringo: warning: no spare worker for fibers that never yield: %s\n",
                    strerror(-err));
    }
    worker_end(w);
    if (live)
        atomic_fetch_sub(&rt->idle, RINGO__LIVE_ONE);
    atomic_store(&w->tid, 0);
    /* Last: the monitor (if a ring failed) or ringo_run joins the thread. */
    atomic_store(&w->spare_state, RINGO__SPARE_EXITING);
    return NULL;
}

static unsigned env_workers(void)
{
    const char *s = getenv("RINGO_WORKERS");
    if (!s || !*s)
        return 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > RINGO__MAX_WORKERS) {
        fprintf(stderr, "ringo: warning: ignoring RINGO_WORKERS=%s (want 1..%d)\n", s,
                RINGO__MAX_WORKERS);
        return 0;
    }
    return (unsigned)v;
}

static void runtime_free(ringo__runtime_t *rt)
{
    if (!rt)
        return;
    if (rt->workers) {
        for (unsigned i = 0; i < rt->nworkers; i++)
            ringo__timers_free(&rt->workers[i]);
        ringo__free(rt->workers);
    }
    ringo__stacks_fini(rt);
    ringo__free(rt->global_q);
    pthread_mutex_destroy(&rt->global_lock);
    pthread_mutex_destroy(&rt->stack_lock);
    pthread_mutex_destroy(&rt->gate_lock);
    pthread_cond_destroy(&rt->gate_cond);
    ringo__free(rt);
}

/* Spare slots beside the configured workers: enough for a hog on every
 * worker and a few more, bounded so the idle word's fields never fill. */
static unsigned spare_slots(unsigned nprocs)
{
    return nprocs < 4 ? 4 : nprocs;
}

/* Blocks the caller of ringo_run/ringo_main until main has returned (or,
 * for ringo_main, asked to end the process); ringo__monitor_kick wakes it.
 * On the gate's condition variable, free once the gate is open: a blocking
 * call ThreadSanitizer knows, so a signal (SIGQUIT) that lands on this
 * thread is delivered at once, not held back until the next intercepted
 * call, as it would be in a raw futex wait. */
static void wait_for_main(ringo__runtime_t *rt)
{
    pthread_mutex_lock(&rt->gate_lock);
    while (!atomic_load(&rt->stopping) && !atomic_load(&rt->exit_requested))
        pthread_cond_wait(&rt->gate_cond, &rt->gate_lock);
    pthread_mutex_unlock(&rt->gate_lock);
}

/* Writes each fiber still running on a worker (one that has not reached a
 * switch since main returned) to stderr. The reads are racy, as a dump's
 * are: the fiber headers stay mapped until ringo_run frees the stacks. */
static void name_stragglers(ringo__runtime_t *rt)
{
    unsigned n = atomic_load(&rt->nslots);
    for (unsigned i = 0; i < n; i++) {
        ringo__fiber_t *f = atomic_load_explicit(&rt->workers[i].current, memory_order_acquire);
        if (!f)
            continue;
        fprintf(stderr, "ringo: ringo_run is waiting for fiber %llu %s (created at %s:%d) "
                        "to reach a switch\n",
                (unsigned long long)f->id, f->fn_name ? f->fn_name : "?",
                f->file ? f->file : "?", f->line);
    }
}

/* Joins one worker thread; after the first second past *deadline, names the
 * fibers that hold the workers up (once). */
static void join_worker(ringo__runtime_t *rt, pthread_t t, const struct timespec *deadline,
                        bool *named)
{
    if (!*named && pthread_timedjoin_np(t, NULL, deadline) == 0)
        return;
    if (!*named) {
        name_stragglers(rt);
        *named = true;
    }
    pthread_join(t, NULL);
}


/* ringo_run's body. With exit_on_main (ringo_main), main's return ends the
 * process from here with main's status; otherwise it returns as ringo_run. */
static int run(const ringo_config_t *cfg, void (*main_fn)(void *), void *arg, bool exit_on_main)
{
    if (!main_fn)
        return -EINVAL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&running, &expect, 1))
        return -EBUSY;

    ringo_config_t c = {0};
    if (cfg)
        c = *cfg;
    int ret = 0;
    struct topology topo;
    bool have_topo = false;
    ringo__runtime_t *rt = NULL;
    pthread_t *threads = NULL;
    struct worker_start *starts = NULL;
    unsigned started = 0;

    long page = sysconf(_SC_PAGESIZE);
    size_t stack = c.stack_size ? c.stack_size : DEFAULT_STACK;
    if (stack < MIN_STACK || stack > ((size_t)1 << 30)) {
        ret = -EINVAL;
        goto out;
    }
    stack = (stack + (size_t)page - 1) & ~((size_t)page - 1);

    rt = ringo__calloc(1, sizeof(*rt));
    if (!rt) {
        ret = -ENOMEM;
        goto out;
    }
    rt->on_valgrind = ringo__on_valgrind();
    rt->virtual_time = c.virtual_time;
    rt->seed = c.seed;
    /* Adaptive: spin briefly before sleeping; both locks are held for a
     * few dozen instructions. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&rt->global_lock, &ma);
    pthread_mutex_init(&rt->stack_lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&rt->gate_lock, NULL);
    pthread_cond_init(&rt->gate_cond, NULL);
    rt->page_size = (size_t)page;
    rt->stack_size = stack;
    rt->ring_entries = c.ring_entries ? c.ring_entries : DEFAULT_ENTRIES;
    rt->caller_tid = gettid_now();
    atomic_store(&rt->id_source, 1);

    ret = ringo__ev_probe(rt, (int)c.backend);
    if (ret < 0)
        goto out;

    have_topo = topology_load(&topo) == 0;
    unsigned ncores = have_topo ? topo.ncores : 0;
    if (!have_topo) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        ncores = n > 0 ? (unsigned)n : 1;
        fprintf(stderr, "ringo: warning: hwloc could not read the topology; "
                        "using %u workers, not pinned\n", ncores);
    }
    unsigned nworkers = env_workers();
    if (!nworkers)
        nworkers = c.workers;
    if (!nworkers)
        nworkers = ncores;
    if (nworkers > RINGO__MAX_WORKERS)
        nworkers = RINGO__MAX_WORKERS;
    if (c.virtual_time)
        nworkers = 1;       /* one worker runs the bubble, in a reproducible order */
    rt->nprocs = nworkers;
    rt->nworkers = nworkers + spare_slots(nworkers);
    atomic_store(&rt->nslots, nworkers);
    atomic_store(&rt->idle, nworkers * RINGO__LIVE_ONE);

    rt->workers = ringo__aligned_alloc(RINGO__CACHELINE, rt->nworkers * sizeof(ringo__worker_t));
    if (!rt->workers) {
        ret = -ENOMEM;
        goto out;
    }
    memset(rt->workers, 0, rt->nworkers * sizeof(ringo__worker_t));
    for (unsigned i = 0; i < rt->nworkers; i++) {
        ringo__worker_t *w = &rt->workers[i];
        w->index = i;
        w->wake_efd = -1;
        atomic_store(&w->ring_fd, -1);
        w->cpu = (have_topo && !c.no_pin && i < nworkers) ? (int)(i % ncores) : -1;
        atomic_store(&w->timer_next, INT64_MAX);
    }

    ret = ringo__stacks_init(rt);
    if (ret < 0)
        goto out;

    ringo__rt = rt;
    if (c.virtual_time)
        atomic_store(&ringo__virtual_now, RINGO__VIRTUAL_EPOCH);
    ret = ringo__spawn_main(main_fn, arg);
    if (ret < 0)
        goto out;

    threads = ringo__calloc(nworkers, sizeof(*threads));
    starts = ringo__calloc(nworkers, sizeof(*starts));
    if (!threads || !starts) {
        ret = -ENOMEM;
        goto out;
    }
    ringo__signals_install(rt);
    for (; started < nworkers; started++) {
        starts[started].w = &rt->workers[started];
        starts[started].topo = have_topo ? &topo : NULL;
        int err = pthread_create(&threads[started], NULL, worker_thread, &starts[started]);
        if (err) {
            atomic_store(&rt->init_failed, -err);
            break;
        }
        rt->workers[started].thread = threads[started];   /* the monitor reads its CPU clock */
    }
    /* Every started worker has its ring (or failed) and its thread id
     * published; so has the monitor, which starts before any fiber runs. */
    pthread_mutex_lock(&rt->gate_lock);
    while (rt->gate_arrived < started)
        pthread_cond_wait(&rt->gate_cond, &rt->gate_lock);
    pthread_mutex_unlock(&rt->gate_lock);
    ret = atomic_load(&rt->init_failed);
    if (ret == 0) {
        int err = ringo__monitor_start(rt);
        if (err) /* the runtime still works; hogs go unrescued */
            fprintf(stderr, "ringo: warning: no monitor thread: %s\n", strerror(-err));
    } else {
        fprintf(stderr, "ringo: could not start the workers: %s\n", strerror(-ret));
        atomic_store(&rt->stopping, 1);
    }
    pthread_mutex_lock(&rt->gate_lock);
    rt->gate_open = true;
    pthread_cond_broadcast(&rt->gate_cond);
    pthread_mutex_unlock(&rt->gate_lock);

    wait_for_main(rt);
    if (exit_on_main && atomic_load(&rt->exit_requested)) {
        ringo__stacks_lsan_roots(rt);
        /* Nothing reads these any more (every worker is past the gate);
         * freed so that LeakSanitizer's exit check does not depend on the
         * compiler keeping their addresses in a register. */
        ringo__free(threads);
        ringo__free(starts);
        exit(rt->exit_status);
    }

    /* The monitor first: no spare starts once it has gone. Then the
     * parked spares are told to end. */
    ringo__monitor_stop(rt);
    for (unsigned i = nworkers; i < rt->nworkers; i++) {
        ringo__worker_t *w = &rt->workers[i];
        int parked = RINGO__SPARE_PARKED;
        if (atomic_compare_exchange_strong(&w->spare_state, &parked, RINGO__SPARE_EXITING))
            syscall(SYS_futex, &w->spare_state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    bool named = false;
    for (unsigned i = 0; i < started; i++)
        join_worker(rt, threads[i], &deadline, &named);
    for (unsigned i = nworkers; i < rt->nworkers; i++)
        if (atomic_load(&rt->workers[i].spare_state) != RINGO__SPARE_DORMANT)
            join_worker(rt, rt->workers[i].thread, &deadline, &named);
    /* Fibers still blocked die with their stacks: sync objects forget them. */
    void (*abandon)(void) = atomic_load(&ringo__abandon_hook);
    if (abandon)
        abandon();
    void (*run_end)(void) = atomic_load(&ringo__run_end_hook);
    if (run_end)
        run_end();
    ringo__ev_run_end(rt);
    /* What the fibers that ended did, the caller of ringo_run sees. */
    RINGO_RACE_ACQUIRE(&ringo__fibers_ended);
    ringo__signals_restore();

out:
    ringo__rt = NULL;
    atomic_store(&ringo__virtual_now, 0);
    ringo__free(threads);
    ringo__free(starts);
    if (have_topo)
        topology_free(&topo);
    runtime_free(rt);
    atomic_store(&running, 0);
    return ret;
}

int ringo_run(const ringo_config_t *cfg, void (*main_fn)(void *), void *arg)
{
    return run(cfg, main_fn, arg, false);
}

struct main_call {
    int (*fn)(int argc, char **argv);
    int argc;
    char **argv;
};

/* ringo_main's main fiber: runs main, hands its status to the thread in
 * run(), which exits the process; this fiber blocks until then. */
static void main_trampoline(void *arg)
{
    struct main_call *mc = arg;
    int status = mc->fn(mc->argc, mc->argv);
    ringo__runtime_t *rt = ringo__rt;
    rt->exit_status = status;
    atomic_store(&rt->exit_requested, 1);
    ringo__monitor_kick(rt);
    ringo__block_forever("main returned");
}

void ringo_main(const ringo_config_t *cfg, int (*main_fn)(int argc, char **argv), int argc,
                char **argv)
{
    if (!main_fn) {
        fprintf(stderr, "ringo: ringo_main: main_fn is NULL\n");
        exit(2);
    }
    struct main_call mc = {.fn = main_fn, .argc = argc, .argv = argv};
    int ret = run(cfg, main_trampoline, &mc, true);
    if (ret < 0) {
        fprintf(stderr, "ringo: ringo_main: the runtime did not start: %s\n", strerror(-ret));
        exit(2);
    }
    /* main ended through ringo_exit and every other fiber ended too: the
     * deadlock check ends the process before this. Should the runtime
     * stop some other way, end as Go does when main's goroutine is gone. */
    exit(0);
}

/* ---- statistics -------------------------------------------------------------------- */

static void worker_stats(ringo__worker_t *w, ringo_worker_stats_t *o)
{
    ringo__worker_counters_t *s = &w->stats;
#define COPY(name) o->name = atomic_load_explicit(&s->name, memory_order_relaxed);
    RINGO__WORKER_COUNTERS(COPY)
#undef COPY
}

int ringo_worker_stats(unsigned index, ringo_worker_stats_t *out)
{
    ringo__runtime_t *rt = ringo__rt;
    if (!rt || !out || index >= rt->nprocs)
        return -EINVAL;
    worker_stats(&rt->workers[index], out);
    return 0;
}

void ringo_stats(ringo_stats_t *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    ringo__runtime_t *rt = ringo__rt;
    if (!rt)
        return;
    out->workers = rt->nprocs;
    out->backend = (ringo_backend_t)ringo__ev_backend;
    out->fibers = ringo_num_fibers();
    /* Spares' counters count too: they ran the configured workers' fibers. */
    for (unsigned i = 0; i < rt->nworkers; i++) {
        ringo_worker_stats_t s;
        worker_stats(&rt->workers[i], &s);
#define ADD(name) out->total.name += s.name;
        RINGO__WORKER_COUNTERS(ADD)
#undef ADD
    }
}

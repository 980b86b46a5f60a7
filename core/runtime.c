/* core/runtime.c - ringo_run: start the workers, run main, tear it all down.
 *
 * Start-up, in order: resolve the configuration (cfg, then RINGO_WORKERS);
 * probe io_uring once (a clear line and -errno if it is unusable); find the
 * allowed cores with hwloc (on failure: the online CPU count, no pinning,
 * one warning); reserve the stack pool; install the crash signals; queue the
 * main fiber; start one thread per worker, each pinning itself and creating
 * its own ring (SINGLE_ISSUER rings belong to the thread that makes them);
 * start the monitor.
 *
 * Shut-down: main's return sets rt->stopping and wakes every worker; each
 * leaves its loop at its next trip through the scheduler, and a fiber that
 * never yields delays that, as it would delay Go's exit. ringo_run joins the
 * workers and the monitor, restores the signals, and frees the rings, the
 * timer heaps and every stack chunk: abandoned fibers are released with the
 * memory they live in, once sync/ has taken their waiters off the queues of
 * objects that outlive the run (ringo__abandon_hook).
 *
 * Only one runtime runs at a time (ringo__rt); `running` guards that.
 */
#include "internal.h"
#include "sanitizer.h"

#include <dirent.h>
#include <errno.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_STACK (64 * 1024)
#define MIN_STACK (16 * 1024)
#define DEFAULT_ENTRIES 256

ringo__runtime_t *ringo__rt;
static _Atomic int running;
void (*_Atomic ringo__abandon_hook)(void);

const char *ringo_version(void)
{
    return RINGO_VERSION_STRING;
}

int ringo__count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 1 << 30;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
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

static void *worker_thread(void *arg)
{
    struct worker_start *ws = arg;
    ringo__worker_t *w = ws->w;
    ringo__runtime_t *rt = ringo__rt;
    ringo__tls_worker = w;

    if (ws->topo && w->cpu >= 0)
        hwloc_set_cpubind(ws->topo->topo, ws->topo->pus[w->cpu], HWLOC_CPUBIND_THREAD);
    int err = ringo__altstack_init(w);
    if (!err)
        err = ringo__ring_init(w);
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
        ringo__worker_loop(w);
    }
    ringo__ring_fini(w);
    ringo__altstack_fini(w);
    if (w->tsan_timer_fiber)
        RINGO_TSAN_DESTROY(w->tsan_timer_fiber);
    ringo__tls_worker = NULL;
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

int ringo_run(const ringo_config_t *cfg, void (*main_fn)(void *), void *arg)
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
    rt->no_pin = c.no_pin;
    atomic_store(&rt->id_source, 1);

    ret = ringo__ring_probe(rt);
    if (ret < 0)
        goto out;
    rt->baseline_threads = ringo__count_threads();

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
    rt->nworkers = nworkers;

    rt->workers = ringo__aligned_alloc(RINGO__CACHELINE, nworkers * sizeof(ringo__worker_t));
    if (!rt->workers) {
        ret = -ENOMEM;
        goto out;
    }
    memset(rt->workers, 0, nworkers * sizeof(ringo__worker_t));
    for (unsigned i = 0; i < nworkers; i++) {
        ringo__worker_t *w = &rt->workers[i];
        w->index = i;
        w->wake_efd = -1;
        w->cpu = (have_topo && !c.no_pin) ? (int)(i % ncores) : -1;
        atomic_store(&w->timer_next, INT64_MAX);
    }

    ret = ringo__stacks_init(rt);
    if (ret < 0)
        goto out;

    ringo__rt = rt;
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
    }
    /* Open the gate once every started worker has its ring (or failed). */
    pthread_mutex_lock(&rt->gate_lock);
    while (rt->gate_arrived < started)
        pthread_cond_wait(&rt->gate_cond, &rt->gate_lock);
    rt->gate_open = true;
    pthread_cond_broadcast(&rt->gate_cond);
    pthread_mutex_unlock(&rt->gate_lock);

    ret = atomic_load(&rt->init_failed);
    if (ret == 0) {
        int err = ringo__monitor_start(rt);
        if (err) /* the runtime still works; hogs go unrescued */
            fprintf(stderr, "ringo: warning: no monitor thread: %s\n", strerror(-err));
    } else {
        fprintf(stderr, "ringo: could not start the workers: %s\n", strerror(-ret));
    }

    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    ringo__monitor_stop(rt);
    /* Fibers still blocked die with their stacks: sync objects forget them. */
    void (*abandon)(void) = atomic_load(&ringo__abandon_hook);
    if (abandon)
        abandon();
    /* What the fibers that ended did, the caller of ringo_run sees. */
    RINGO_RACE_ACQUIRE(&ringo__fibers_ended);
    ringo__signals_restore();

out:
    ringo__rt = NULL;
    ringo__free(threads);
    ringo__free(starts);
    if (have_topo)
        topology_free(&topo);
    runtime_free(rt);
    atomic_store(&running, 0);
    return ret;
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
    if (!rt || !out || index >= rt->nworkers)
        return -EINVAL;
    worker_stats(&rt->workers[index], out);
    return 0;
}

void ringo_stats(ringo_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    ringo__runtime_t *rt = ringo__rt;
    if (!rt)
        return;
    out->workers = rt->nworkers;
    out->fibers = ringo_num_fibers();
    for (unsigned i = 0; i < rt->nworkers; i++) {
        ringo_worker_stats_t s;
        worker_stats(&rt->workers[i], &s);
#define ADD(name) out->total.name += s.name;
        RINGO__WORKER_COUNTERS(ADD)
#undef ADD
    }
}

/*
 * mutex: the cost of a contended ringo_mutex_t, 1,000 fibers on two workers.
 *
 * Main spawns 1,000 fibers; fiber f does its share [N*f/1000,
 * N*(f+1)/1000) of N lock / counter++ / unlock rounds on one mutex and then
 * calls done on a WaitGroup, which main waits on. The counter is a plain
 * int64 touched only under the mutex, so a lost update (a broken mutex)
 * shows as a final counter below N; it must be exactly N.
 * Reported: wall time (first spawn to Wait returning) / N
 * ("mutex: X ns/lock", one lock + increment + unlock). Run with
 * RINGO_WORKERS=2. BENCH_N overrides N (default 10,000,000).
 *
 * Go twin: bench/go/mutex (sync.Mutex, sync.WaitGroup, GOMAXPROCS=2).
 */
#include "bench.h"

#define FIBERS 1000

static int64_t n_ops;
static ringo_mutex_t mu;
static int64_t counter;         /* guarded by mu */
static ringo_waitgroup_t wg;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t final_counter;
static int64_t elapsed_ns;
static int spawn_rc;            /* first ringo_go_copy() failure (-errno), or 0 */
static int64_t spawn_failed_at;

static void locker(void *arg)
{
    const struct bench_range *r = arg;   /* our own copy (ringo_go_copy) */
    for (int64_t i = r->lo; i < r->hi; i++) {
        ringo_mutex_lock(&mu);
        counter++;
        ringo_mutex_unlock(&mu);
    }
    ringo_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t t0 = ringo_now();
    spawn_rc = bench_fan_out(locker, FIBERS, n_ops, &wg, &spawn_failed_at);
    ringo_waitgroup_wait(&wg);
    elapsed_ns = ringo_now() - t0;
    /* Every locker has called done, after its last unlock: the mutex is
     * free, but take it anyway rather than rely on that. */
    ringo_mutex_lock(&mu);
    final_counter = counter;
    ringo_mutex_unlock(&mu);
}

int main(void)
{
    n_ops = bench_n(10000000);
    bench_run(bench_main);
    bench_check_spawn(spawn_rc, spawn_failed_at);
    if (final_counter != n_ops)
        bench_fail("counter %lld, want %lld", (long long)final_counter, (long long)n_ops);
    printf("# fibers %d, lock/unlock pairs %lld, total %.1f ms\n", FIBERS, (long long)n_ops,
           bench_ms(elapsed_ns));
    bench_result("%.1f ns/lock", (double)elapsed_ns / (double)n_ops);
    return 0;
}

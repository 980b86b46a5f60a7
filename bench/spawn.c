/*
 * spawn: the cost of creating, scheduling and finishing a fiber.
 *
 * Main spawns N fibers back to back (no yield inside the loop, so the spawn
 * path itself is measured and the run queue grows as fast as the second
 * worker lets it), then yields until all have run. Each fiber adds its index
 * to a shared sum so that the result can be checked.
 * Reported: wall time / N ("spawn: X ns/fiber"). Run with RINGO_WORKERS=2.
 * BENCH_N overrides N (default 1,000,000).
 *
 * Go twin: bench/go/spawn (goroutines, runtime.Gosched, sync/atomic).
 */
#include "bench.h"

#include <stdatomic.h>

static int64_t n_fibers;
static _Atomic int64_t sum;
static _Atomic int64_t done;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t elapsed_ns;
static int spawn_rc;          /* first ringo_go() failure (-errno), or 0 */
static int64_t spawn_failed_at;

static void child(void *arg)
{
    atomic_fetch_add(&sum, (int64_t)(intptr_t)arg);
    atomic_fetch_add(&done, 1);
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t t0 = ringo_now();
    for (int64_t i = 0; i < n_fibers; i++) {
        int rc = ringo_go(child, (void *)(intptr_t)i);
        if (rc != 0) {
            spawn_rc = rc;
            spawn_failed_at = i;
            return;
        }
    }
    /* Yield rather than block, like the Go twin's runtime.Gosched loop. */
    while (atomic_load(&done) != n_fibers)
        ringo_yield();
    elapsed_ns = ringo_now() - t0;
}

int main(void)
{
    n_fibers = bench_n(1000000);
    bench_run(bench_main);
    bench_check_spawn(spawn_rc, spawn_failed_at);
    bench_check_sum(atomic_load(&sum), bench_triangle(n_fibers));
    printf("# fibers %lld, total %.1f ms\n", (long long)n_fibers, bench_ms(elapsed_ns));
    bench_result("%.1f ns/fiber", (double)elapsed_ns / (double)n_fibers);
    return 0;
}

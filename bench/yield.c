/*
 * yield: the cost of one context switch between two fibers on one worker.
 *
 * Main spawns one child; both call ringo_yield() M times, so with a single
 * worker they alternate and every yield is one switch. The child sets a done
 * flag at the end; main, once through its own M yields, keeps yielding until
 * the flag is set. Reported: wall time / (2*M) ("yield: X ns/switch").
 * Run with RINGO_WORKERS=1. BENCH_N overrides M (default 5,000,000).
 *
 * Go twin: bench/go/yield (two goroutines calling runtime.Gosched,
 * GOMAXPROCS=1).
 */
#include "bench.h"

#include <stdatomic.h>

static int64_t m_yields;
static _Atomic int child_done;
static int64_t child_count;   /* published by the store to child_done */

/* Results, printed by main() once ringo_run() has returned. */
static int64_t main_count;
static int64_t elapsed_ns;
static int spawn_rc;

static void child(void *arg)
{
    (void)arg;
    int64_t c = 0;
    for (int64_t i = 0; i < m_yields; i++) {
        ringo_yield();
        c++;
    }
    child_count = c;
    atomic_store(&child_done, 1);
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t t0 = ringo_now();
    spawn_rc = ringo_go(child, NULL);
    if (spawn_rc != 0)
        return;
    int64_t c = 0;
    for (int64_t i = 0; i < m_yields; i++) {
        ringo_yield();
        c++;
    }
    while (!atomic_load(&child_done))
        ringo_yield();
    elapsed_ns = ringo_now() - t0;
    main_count = c;
}

int main(void)
{
    m_yields = bench_n(5000000);
    bench_run(bench_main);
    bench_check_rc(spawn_rc, "ringo_go");
    /* child_count is only valid if the child finished; check the flag too. */
    if (!atomic_load(&child_done) || main_count != m_yields || child_count != m_yields)
        bench_fail("main counted %lld, child %lld, want %lld each", (long long)main_count,
                   (long long)child_count, (long long)m_yields);
    printf("# yields %lld per side, total %.1f ms\n", (long long)m_yields, bench_ms(elapsed_ns));
    bench_result("%.1f ns/switch", (double)elapsed_ns / (double)(2 * m_yields));
    return 0;
}

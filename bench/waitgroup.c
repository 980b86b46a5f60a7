/*
 * waitgroup: fan-out / fan-in with a WaitGroup, on two workers.
 *
 * N fibers in rounds of 10,000 (100 rounds by default; a last, smaller round
 * if N is not a multiple). Each round main adds the round's size to one
 * WaitGroup, spawns that many fibers, each of which bumps a shared atomic
 * counter and calls done, and then waits. The same WaitGroup serves every
 * round (it is reusable once Wait has returned). Check: after each Wait the
 * counter must equal the number of fibers spawned so far, since every fiber
 * bumps it before its done (a Wait that returns early shows up here).
 * Reported: wall time (first spawn to last Wait returning) / N
 * ("waitgroup: X ns/fiber"). Run with RINGO_WORKERS=2. BENCH_N overrides N
 * (default 1,000,000).
 *
 * Go twin: bench/go/waitgroup (sync.WaitGroup, sync/atomic, GOMAXPROCS=2).
 */
#include "bench.h"

#include <stdatomic.h>

#define ROUND 10000

static int64_t n_fibers;
static ringo_waitgroup_t wg;
static _Atomic int64_t ran;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t rounds;
static int64_t elapsed_ns;
static int spawn_rc;             /* first ringo_go() failure (-errno), or 0 */
static int64_t spawn_failed_at;
static int64_t early_round = -1; /* first round whose Wait returned early */
static int64_t early_ran, early_want;

static void child(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
    ringo_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t t0 = ringo_now();
    for (int64_t base = 0; base < n_fibers; base += ROUND) {
        int64_t size = n_fibers - base < ROUND ? n_fibers - base : ROUND;
        ringo_waitgroup_add(&wg, (int)size);
        for (int64_t i = 0; i < size; i++) {
            int rc = ringo_go(child, NULL);
            if (rc != 0) {
                /* Take back the fibers that will never call done, let the
                 * ones that exist finish, and stop. */
                spawn_rc = rc;
                spawn_failed_at = base + i;
                ringo_waitgroup_add(&wg, -(int)(size - i));
                ringo_waitgroup_wait(&wg);
                return;
            }
        }
        ringo_waitgroup_wait(&wg);
        int64_t got = atomic_load(&ran);
        if (got != base + size && early_round < 0) {
            early_round = rounds;
            early_ran = got;
            early_want = base + size;
        }
        rounds++;
    }
    elapsed_ns = ringo_now() - t0;
}

int main(void)
{
    n_fibers = bench_n(1000000);
    bench_run(bench_main);
    bench_check_spawn(spawn_rc, spawn_failed_at);
    if (early_round >= 0)
        bench_fail("round %lld: Wait returned after %lld fibers, want %lld",
                   (long long)early_round, (long long)early_ran, (long long)early_want);
    if (atomic_load(&ran) != n_fibers)
        bench_fail("%lld fibers ran, want %lld", (long long)atomic_load(&ran),
                   (long long)n_fibers);
    printf("# fibers %lld in %lld rounds of up to %d, total %.1f ms\n", (long long)n_fibers,
           (long long)rounds, ROUND, bench_ms(elapsed_ns));
    bench_result("%.1f ns/fiber", (double)elapsed_ns / (double)n_fibers);
    return 0;
}

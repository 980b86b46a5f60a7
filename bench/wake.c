/*
 * wake: how long an idle worker takes to pick up a newly spawned fiber while
 * the spawning fiber keeps its own worker busy.
 *
 * Each iteration main sleeps 200 us (so the other worker runs out of work and
 * goes to sleep in the kernel), takes t0, spawns a fiber that records
 * ringo_now() when it starts running, and then spins, never yielding, until
 * that timestamp appears. As main never gives up its worker, the fiber can
 * only run if the other worker is woken and takes it. Latency = timestamp -
 * t0. Reported: the median over K iterations ("wake: X ns"), with p90, p99
 * and max as detail. Run with RINGO_WORKERS=2. BENCH_N overrides K (default
 * 2000).
 *
 * Go twin: bench/go/wake (time.Sleep, a goroutine storing a monotonic
 * timestamp, a spin on sync/atomic, GOMAXPROCS=2).
 */
#include "bench.h"

#include <stdatomic.h>

/*
 * A wake that takes this long means nobody was woken; fail instead of
 * spinning until the harness timeout.
 */
#define GIVE_UP (2 * RINGO_SECOND)

static int64_t k_iters;
static int64_t *lat;
static _Atomic int64_t woke_at;   /* 0 = not yet; ringo_now() is never 0 */
static _Atomic int64_t ran;

/* Failure, reported by main() once ringo_run() has returned. */
static int spawn_rc;
static int64_t failed_at = -1;

static void waker(void *arg)
{
    (void)arg;
    /*
     * Timestamp first: the counter update is bookkeeping and must not be
     * part of the measured latency. It precedes the store so that main, once
     * it sees the timestamp, also sees the count.
     */
    int64_t t = ringo_now();
    atomic_fetch_add(&ran, 1);
    atomic_store(&woke_at, t);
}

static void bench_main(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < k_iters; i++) {
        ringo_sleep(200 * RINGO_MICROSECOND);
        atomic_store(&woke_at, 0);
        int64_t t0 = ringo_now();
        spawn_rc = ringo_go(waker, NULL);
        if (spawn_rc != 0) {
            failed_at = i;
            return;
        }
        int64_t t;
        for (uint64_t spins = 0;; spins++) {
            if ((t = atomic_load(&woke_at)) != 0)
                break;
            /* Check the clock only now and then to keep the spin tight. */
            if ((spins & 0xfff) == 0xfff && ringo_now() - t0 > GIVE_UP) {
                failed_at = i;
                return;
            }
        }
        lat[i] = t - t0;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* q-th percentile of a sorted array (nearest rank, same as the Go twin). */
static int64_t pct(const int64_t *sorted, int64_t n, int q)
{
    int64_t i = n * q / 100;
    return sorted[i < n ? i : n - 1];
}

int main(void)
{
    k_iters = bench_n(2000);
    lat = calloc((size_t)k_iters, sizeof *lat);
    if (lat == NULL)
        bench_fail("out of memory");

    bench_run(bench_main);
    if (spawn_rc != 0)
        bench_fail("iteration %lld: ringo_go: %s", (long long)failed_at, strerror(-spawn_rc));
    if (failed_at >= 0)
        bench_fail("iteration %lld: fiber not started after %lld ms (idle worker never woken?)",
                   (long long)failed_at, (long long)(GIVE_UP / RINGO_MILLISECOND));
    int64_t got = atomic_load(&ran);
    if (got != k_iters)
        bench_fail("%lld fibers ran, want %lld", (long long)got, (long long)k_iters);
    qsort(lat, (size_t)k_iters, sizeof *lat, cmp_i64);
    printf("# iterations %lld\n", (long long)k_iters);
    printf("# p50 %lld p90 %lld p99 %lld max %lld ns\n",
           (long long)pct(lat, k_iters, 50), (long long)pct(lat, k_iters, 90),
           (long long)pct(lat, k_iters, 99), (long long)lat[k_iters - 1]);
    bench_result("%lld ns", (long long)pct(lat, k_iters, 50));
    free(lat);
    return 0;
}

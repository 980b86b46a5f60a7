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
#include <ringo.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* BENCH_N if set (for quick smoke runs), else def. */
static int64_t bench_n(int64_t def)
{
    const char *s = getenv("BENCH_N");
    if (s == NULL || *s == '\0')
        return def;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0) {
        fprintf(stderr, "spawn: bad BENCH_N '%s'\n", s);
        exit(2);
    }
    return v;
}

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

    int rc = ringo_run(NULL, bench_main, NULL);
    if (rc != 0) {
        fprintf(stderr, "spawn: ringo_run: %s\n", strerror(-rc));
        return 1;
    }
    if (spawn_rc != 0) {
        fprintf(stderr, "spawn: ringo_go failed at fiber %lld: %s\n",
                (long long)spawn_failed_at, strerror(-spawn_rc));
        return 1;
    }
    int64_t got = atomic_load(&sum);
    int64_t want = n_fibers * (n_fibers - 1) / 2;
    if (got != want) {
        fprintf(stderr, "spawn: sum %lld, want %lld\n", (long long)got, (long long)want);
        return 1;
    }
    printf("# fibers %lld, total %.1f ms\n", (long long)n_fibers, (double)elapsed_ns / 1e6);
    printf("spawn: %.1f ns/fiber\n", (double)elapsed_ns / (double)n_fibers);
    return 0;
}

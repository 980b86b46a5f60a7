/*
 * parked_rss: resident memory per blocked fiber.
 *
 * Main records RSS, spawns N fibers that each bump a counter and then sleep
 * for an hour, waits (sleeping 1 ms at a time) until all N have started, and
 * records RSS again. RSS is resident pages from /proc/self/statm times the
 * page size, so it counts what fibers actually touch (stack pages, fiber
 * records, timers), not reserved address space. Both readings are taken
 * inside the running scheduler, so worker setup is in the baseline.
 * Reported: (after - before) / N ("parked_rss: X bytes/fiber"). Main then
 * returns and ringo abandons the sleepers. Run with RINGO_WORKERS=2.
 * BENCH_N overrides N (default 1,000,000).
 *
 * Go twin: bench/go/parked_rss (goroutines in time.Sleep(time.Hour),
 * GOMAXPROCS=2).
 */
#include "bench.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

/*
 * Resident set in bytes, or -1 on error. Plain read(2) rather than stdio:
 * this runs on a fiber stack, and scanf-family frames are large.
 */
static int64_t rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return -1;
    buf[len] = '\0';

    /* Fields: size resident shared ...; resident is in pages. */
    char *end;
    errno = 0;
    (void)strtoll(buf, &end, 10);
    long long resident = strtoll(end, &end, 10);
    long page = sysconf(_SC_PAGESIZE);
    if (errno != 0 || resident <= 0 || page <= 0)
        return -1;
    return resident * page;
}

static int64_t n_fibers;
static _Atomic int64_t started;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t rss_before, rss_after;
static int spawn_rc;
static int64_t spawn_failed_at;

static void sleeper(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    ringo_sleep(RINGO_HOUR);
}

static void bench_main(void *arg)
{
    (void)arg;
    rss_before = rss_bytes();
    if (rss_before < 0)
        return;
    for (int64_t i = 0; i < n_fibers; i++) {
        int rc = ringo_go(sleeper, NULL);
        if (rc != 0) {
            spawn_rc = rc;
            spawn_failed_at = i;
            return;
        }
    }
    while (atomic_load(&started) != n_fibers)
        ringo_sleep(RINGO_MILLISECOND);
    rss_after = rss_bytes();
}

int main(void)
{
    n_fibers = bench_n(1000000);
    bench_run(bench_main);
    bench_check_spawn(spawn_rc, spawn_failed_at);
    if (rss_before < 0 || rss_after < 0)
        bench_fail("cannot read /proc/self/statm");
    const double mib = 1024.0 * 1024.0;
    printf("# fibers %lld, rss before %.1f MiB, after %.1f MiB\n",
           (long long)n_fibers, (double)rss_before / mib, (double)rss_after / mib);
    bench_result("%.0f bytes/fiber", (double)(rss_after - rss_before) / (double)n_fibers);
    return 0;
}

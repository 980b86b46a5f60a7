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
#include <ringo.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        fprintf(stderr, "parked_rss: bad BENCH_N '%s'\n", s);
        exit(2);
    }
    return v;
}

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

    int rc = ringo_run(NULL, bench_main, NULL);
    if (rc != 0) {
        fprintf(stderr, "parked_rss: ringo_run: %s\n", strerror(-rc));
        return 1;
    }
    if (spawn_rc != 0) {
        fprintf(stderr, "parked_rss: ringo_go failed at fiber %lld: %s\n",
                (long long)spawn_failed_at, strerror(-spawn_rc));
        return 1;
    }
    if (rss_before < 0 || rss_after < 0) {
        fprintf(stderr, "parked_rss: cannot read /proc/self/statm\n");
        return 1;
    }
    const double mib = 1024.0 * 1024.0;
    printf("# fibers %lld, rss before %.1f MiB, after %.1f MiB\n",
           (long long)n_fibers, (double)rss_before / mib, (double)rss_after / mib);
    printf("parked_rss: %.0f bytes/fiber\n", (double)(rss_after - rss_before) / (double)n_fibers);
    return 0;
}

/*
 * workerpool: a producer, a pool of 8 workers and a collector joined by
 * unbuffered channels, on two workers.
 *
 * One producer fiber sends the jobs 0..N-1 on an unbuffered `jobs` channel
 * and closes it. Eight worker fibers each receive jobs until `jobs` is
 * closed, send 2*job+1 on an unbuffered `results` channel for each, and
 * end (WaitGroup done). Main receives N results, summing them; the sum must
 * be N*N (the sum of the first N odd numbers). Every job crosses two
 * rendezvous, so this measures channel hand-offs between fibers that often
 * sit on different workers: the scheduler's wake-ups, hand-offs and steals.
 * Reported: wall time (spawns to the workers' end) / N
 * ("workerpool: X ns/job"). Run with RINGO_WORKERS=2. BENCH_N overrides N
 * (default 1,000,000).
 *
 * Channel lifetime: main owns both channels and drops them after the
 * WaitGroup says every worker has ended; the producer's last use (its
 * close) happens before the workers see the close and end.
 *
 * Go twin: bench/go/workerpool (GOMAXPROCS=2).
 */
#include "bench.h"

#define WORKERS 8

static int64_t n_jobs;
static ringo_chan_t *jobs, *results;
static ringo_waitgroup_t wg;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t sum;
static int64_t elapsed_ns;
static int fail_rc;
static const char *fail_what;

static void producer(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < n_jobs; i++)
        ringo_chan_send(jobs, &i);
    ringo_chan_close(jobs);
}

static void worker(void *arg)
{
    (void)arg;
    int64_t j;
    while (ringo_chan_recv(jobs, &j)) {
        int64_t r = 2 * j + 1;
        ringo_chan_send(results, &r);
    }
    ringo_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    jobs = ringo_chan_make(sizeof(int64_t), 0);
    results = ringo_chan_make(sizeof(int64_t), 0);
    if (!jobs || !results) {
        fail_rc = -ENOMEM;
        fail_what = "ringo_chan_make";
        return;     /* the process exits: nothing to unref */
    }
    int64_t t0 = ringo_now();
    ringo_waitgroup_add(&wg, WORKERS);
    for (int i = 0; i < WORKERS; i++) {
        int rc = ringo_go(worker, NULL);
        if (rc != 0) {
            fail_rc = rc;
            fail_what = "ringo_go";
            return;     /* fibers already running keep the channels */
        }
    }
    int rc = ringo_go(producer, NULL);
    if (rc != 0) {
        fail_rc = rc;
        fail_what = "ringo_go";
        return;
    }
    for (int64_t i = 0; i < n_jobs; i++) {
        int64_t r;
        if (!ringo_chan_recv(results, &r)) {
            fail_rc = -EPIPE;
            fail_what = "ringo_chan_recv";
            return;
        }
        sum += r;
    }
    ringo_waitgroup_wait(&wg);
    elapsed_ns = ringo_now() - t0;
    ringo_chan_unref(jobs);
    ringo_chan_unref(results);
}

int main(void)
{
    n_jobs = bench_n(1000000);
    bench_run(bench_main);
    bench_check_rc(fail_rc, fail_what);
    bench_check_sum(sum, n_jobs * n_jobs);
    printf("# jobs %lld, workers %d, total %.1f ms\n", (long long)n_jobs, WORKERS,
           bench_ms(elapsed_ns));
    bench_result("%.1f ns/job", (double)elapsed_ns / (double)n_jobs);
    return 0;
}

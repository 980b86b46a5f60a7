/*
 * pingpong, pingpong_x: one round trip between two fibers over two
 * unbuffered channels. This one source builds both programs (see
 * bench/meson.build): pingpong runs on a single worker; pingpong_x
 * (-DPINGPONG_STATS=1) is the same program run with two workers, so that the
 * child can be taken by the second worker and every send has to wake a fiber
 * parked on the other worker.
 *
 * Main spawns one child, then sends an int64 counter on ping and waits for
 * it to come back on pong; the child receives it, adds one and sends it
 * back. That is one round trip: two rendezvous sends, two receives and (with
 * one worker) two fiber switches. The child does exactly N round trips and
 * returns, so nobody needs to close anything. After N round trips the
 * counter must be N. Reported: wall time / N ("pingpong: X ns/roundtrip",
 * "pingpong_x: X ns/roundtrip"); pingpong_x adds the runtime's steal and
 * wake counters as detail (steals 0 means the scheduler kept both fibers on
 * one worker). Run pingpong with RINGO_WORKERS=1, pingpong_x with
 * RINGO_WORKERS=2. BENCH_N overrides N (default 1,000,000).
 *
 * Channel lifetime: main owns both channels and drops them only after it has
 * received the N-th pong. By then the child's last receive on ping has
 * returned and its last send on pong has completed (a send is complete once
 * the receiver has the value), so the child touches neither channel again
 * and needs no reference of its own.
 *
 * Go twins: bench/go/pingpong (two unbuffered chan int64, GOMAXPROCS=1) and
 * bench/go/pingpong_x (the same, GOMAXPROCS=2; Go's scheduler may well keep
 * both goroutines on one P).
 */
#include "bench.h"

#ifndef PINGPONG_STATS
#define PINGPONG_STATS 0
#endif

static int64_t n_trips;
static ringo_chan_t *ping, *pong;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t counter;
static int64_t elapsed_ns;
static int fail_rc;           /* -ENOMEM from ringo_chan_make, or ringo_go's rc */
static const char *fail_what;
#if PINGPONG_STATS
static ringo_stats_t stats;   /* taken at the end of the timed loop */
#endif

static void child(void *arg)
{
    (void)arg;
    int64_t v;
    for (int64_t i = 0; i < n_trips; i++) {
        ringo_chan_recv(ping, &v);
        v++;
        ringo_chan_send(pong, &v);
    }
}

static void bench_main(void *arg)
{
    (void)arg;
    ping = ringo_chan_make(sizeof(int64_t), 0);
    pong = ringo_chan_make(sizeof(int64_t), 0);
    if (ping == NULL || pong == NULL) {
        fail_rc = -ENOMEM;
        fail_what = "ringo_chan_make";
        goto out;
    }
    int64_t t0 = ringo_now();
    int rc = ringo_go(child, NULL);
    if (rc != 0) {
        fail_rc = rc;
        fail_what = "ringo_go";
        goto out;
    }
    int64_t v = 0;
    for (int64_t i = 0; i < n_trips; i++) {
        ringo_chan_send(ping, &v);
        ringo_chan_recv(pong, &v);
    }
    elapsed_ns = ringo_now() - t0;
#if PINGPONG_STATS
    ringo_stats(&stats);
#endif
    counter = v;
out:
    /* ringo_chan_unref(NULL) is not promised to be a no-op: check. */
    if (ping != NULL)
        ringo_chan_unref(ping);
    if (pong != NULL)
        ringo_chan_unref(pong);
}

int main(void)
{
    n_trips = bench_n(1000000);
    bench_run(bench_main);
    bench_check_rc(fail_rc, fail_what);
    if (counter != n_trips)
        bench_fail("counter %lld, want %lld", (long long)counter, (long long)n_trips);
#if PINGPONG_STATS
    printf("# workers %u, steals %llu, wakes sent %llu, worker sleeps %llu\n",
           stats.workers, (unsigned long long)stats.total.steals,
           (unsigned long long)stats.total.wakes_sent, (unsigned long long)stats.total.sleeps);
#endif
    printf("# round trips %lld, total %.1f ms\n", (long long)n_trips, bench_ms(elapsed_ns));
    bench_result("%.1f ns/roundtrip", (double)elapsed_ns / (double)n_trips);
    return 0;
}

/*
 * after_loop: the cost of creating and abandoning a time.After timer in
 * every iteration of a select loop, on a single worker.
 *
 * Each iteration main sends the iteration number into a channel of capacity
 * 1 (empty at that point, so the send never blocks), then selects over a
 * receive from that channel and a receive from a fresh ringo_after(1 s)
 * channel, and drops its reference to the timer channel once the select has
 * returned. The channel case is always ready and the timer is a second away,
 * so the select takes the value at once: what is measured is the timer's
 * creation and abandonment (plus one buffered send, receive and select),
 * Go's
 *     select { case v := <-ch: ...; case <-time.After(time.Second): }
 * The sum of the received values must be N*(N-1)/2; a timer case that fires
 * (a one-second stall) is reported as a failure, not measured.
 * Reported: wall time / N ("after_loop: X ns/iter").
 * Run with RINGO_WORKERS=1. BENCH_N overrides N (default 1,000,000).
 *
 * Dropped timer channels are left to the runtime: whether ringo_chan_unref
 * stops the pending timer or the timer keeps the channel alive until it
 * fires, up to N timers may still be pending when main returns, and
 * ringo_run releases them (Go likewise keeps every time.After timer until it
 * fires).
 *
 * Go twin: bench/go/after_loop (GOMAXPROCS=1).
 */
#include "bench.h"

static int64_t n_iters;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t sum;
static int64_t elapsed_ns;
static int fail_rc;           /* -ENOMEM, or ringo_select's -EINVAL */
static const char *fail_what;
static int64_t failed_at = -1;
static int64_t timed_out_at = -1;

static void bench_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int64_t), 1);
    if (ch == NULL) {
        fail_rc = -ENOMEM;
        fail_what = "ringo_chan_make";
        return;
    }
    int64_t t0 = ringo_now();
    for (int64_t i = 0; i < n_iters; i++) {
        ringo_chan_send(ch, &i);
        ringo_chan_t *after = ringo_after(RINGO_SECOND);
        if (after == NULL) {
            fail_rc = -ENOMEM;
            fail_what = "ringo_after";
            failed_at = i;
            break;
        }
        int64_t v, fired;
        ringo_case_t cases[] = {
            RINGO_RECV(ch, &v),
            RINGO_RECV(after, &fired),
        };
        int idx = ringo_select(cases, 2);
        ringo_chan_unref(after);
        if (idx == 0) {
            sum += v;
        } else if (idx == 1) {
            timed_out_at = i;
            break;
        } else {
            fail_rc = idx < 0 ? idx : -EINVAL;
            fail_what = "ringo_select";
            failed_at = i;
            break;
        }
    }
    elapsed_ns = ringo_now() - t0;
    ringo_chan_unref(ch);   /* nobody else ever used it */
}

int main(void)
{
    n_iters = bench_n(1000000);
    bench_run(bench_main);
    if (fail_rc != 0)
        bench_fail("iteration %lld: %s: %s", (long long)failed_at, fail_what, strerror(-fail_rc));
    if (timed_out_at >= 0)
        bench_fail("iteration %lld: the 1 s timer fired before the ready channel was taken",
                   (long long)timed_out_at);
    bench_check_sum(sum, bench_triangle(n_iters));
    printf("# iterations %lld, total %.1f ms\n", (long long)n_iters, bench_ms(elapsed_ns));
    bench_result("%.1f ns/iter", (double)elapsed_ns / (double)n_iters);
    return 0;
}

/*
 * select4: the cost of a receiving select over four buffered channels fed by
 * four producers, on two workers.
 *
 * Four int64 channels of capacity 128; producer p sends the values
 * [p*N/4, (p+1)*N/4) on its own channel p, so together they send 0..N-1 once
 * each. Main loops ringo_select over one RINGO_RECV case per channel until it
 * has received N values, counting per channel and summing. A producer whose
 * range is done simply stops sending; its channel is never ready again and
 * the select keeps going on the others, so nothing is closed. The counts
 * must match the ranges and the sum must be N*(N-1)/2.
 * Reported: wall time (spawn to last value) / N ("select4: X ns/select").
 * Run with RINGO_WORKERS=2. BENCH_N overrides N (default 4,000,000).
 *
 * The case array is built once, outside the loop: ringo_select only writes
 * the ok field of the case that fired, and every case receives into the
 * same variable (only one fires per call), like `case v = <-c0:` in Go.
 *
 * Channel lifetime: main owns the four channels and drops them only after it
 * has received all N values. Each producer's last use of its channel is its
 * last send, which is complete once main has that value, so no producer
 * touches a channel after main drops it and none needs a reference of its
 * own.
 *
 * Go twin: bench/go/select4 (a four-case select statement, GOMAXPROCS=2).
 */
#include "bench.h"

#define CHANNELS 4
#define CAPACITY 128

struct producer_arg {
    ringo_chan_t *ch;
    int64_t lo, hi;
};

static int64_t n_msgs;
static ringo_chan_t *chans[CHANNELS];

/* Results, printed by main() once ringo_run() has returned. */
static int64_t count[CHANNELS];
static int64_t sum;
static int64_t elapsed_ns;
static int fail_rc;           /* -ENOMEM, ringo_go's rc, or ringo_select's -EINVAL */
static const char *fail_what;
static int64_t not_ok;        /* recv cases that fired with ok == false */

static void producer(void *arg)
{
    const struct producer_arg *a = arg;   /* our own copy (ringo_go_copy) */
    for (int64_t i = a->lo; i < a->hi; i++)
        ringo_chan_send(a->ch, &i);
}

static void bench_main(void *arg)
{
    (void)arg;
    for (int c = 0; c < CHANNELS; c++) {
        chans[c] = ringo_chan_make(sizeof(int64_t), CAPACITY);
        if (chans[c] == NULL) {
            fail_rc = -ENOMEM;
            fail_what = "ringo_chan_make";
            goto out;
        }
    }
    int64_t v;
    ringo_case_t cases[CHANNELS];
    for (int c = 0; c < CHANNELS; c++)
        cases[c] = RINGO_RECV(chans[c], &v);

    int64_t t0 = ringo_now();
    for (int p = 0; p < CHANNELS; p++) {
        struct producer_arg a = {chans[p], n_msgs * p / CHANNELS, n_msgs * (p + 1) / CHANNELS};
        int rc = ringo_go_copy(producer, &a, sizeof a);
        if (rc != 0) {
            /* Producers already running cannot be stopped: leave the
             * channels to the exiting process rather than free them under
             * those fibers. */
            fail_rc = rc;
            fail_what = "ringo_go_copy";
            return;
        }
    }
    for (int64_t i = 0; i < n_msgs; i++) {
        int idx = ringo_select(cases, CHANNELS);
        if (idx < 0 || idx >= CHANNELS) {
            /* Only the ringo_select bug of returning an index out of range
             * leaves idx >= 0; report it as -EINVAL. Producers may still be
             * sending: leave the channels be. */
            fail_rc = idx < 0 ? idx : -EINVAL;
            fail_what = "ringo_select";
            return;
        }
        if (!cases[idx].ok)
            not_ok++;
        count[idx]++;
        sum += v;
    }
    elapsed_ns = ringo_now() - t0;
out:
    /* ringo_chan_unref(NULL) is not promised to be a no-op: check. */
    for (int c = 0; c < CHANNELS; c++)
        if (chans[c] != NULL)
            ringo_chan_unref(chans[c]);
}

int main(void)
{
    n_msgs = bench_n(4000000);
    bench_run(bench_main);
    bench_check_rc(fail_rc, fail_what);
    if (not_ok != 0)
        bench_fail("%lld receives reported a closed channel", (long long)not_ok);
    for (int c = 0; c < CHANNELS; c++) {
        int64_t want = n_msgs * (c + 1) / CHANNELS - n_msgs * c / CHANNELS;
        if (count[c] != want)
            bench_fail("channel %d delivered %lld, want %lld", c, (long long)count[c],
                       (long long)want);
    }
    bench_check_sum(sum, bench_triangle(n_msgs));
    printf("# selects %lld over %d channels of capacity %d, total %.1f ms\n",
           (long long)n_msgs, CHANNELS, CAPACITY, bench_ms(elapsed_ns));
    bench_result("%.1f ns/select", (double)elapsed_ns / (double)n_msgs);
    return 0;
}

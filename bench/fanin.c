/*
 * fanin: a receiving select over four unbuffered channels, each fed by its
 * own sending fiber, on two workers.
 *
 * Producer p sends the values [p*N/4, (p+1)*N/4) on its own unbuffered
 * int64 channel p, so together they send 0..N-1 once each. Main loops
 * ringo_select over one RINGO_RECV case per channel until it has received
 * N values, counting per channel and summing. Unlike select4 (buffered
 * channels) every value is a rendezvous: a producer blocks in each send
 * until the select takes it, so most selects find a sender parked and wake
 * it, and a select that finds none parks until a sender arrives. The counts
 * must match the ranges and the sum must be N*(N-1)/2.
 * Reported: wall time (spawn to last value) / N ("fanin: X ns/select").
 * Run with RINGO_WORKERS=2. BENCH_N overrides N (default 1,000,000).
 *
 * Channel lifetime: main owns the four channels and drops them only after
 * it has received all N values; each producer's last use of its channel is
 * its last send, complete once main has that value.
 *
 * Go twin: bench/go/fanin (a four-case select statement, GOMAXPROCS=2).
 */
#include "bench.h"

#define CHANNELS 4

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
static int fail_rc;
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
        chans[c] = ringo_chan_make(sizeof(int64_t), 0);
        if (chans[c] == NULL) {
            fail_rc = -ENOMEM;
            fail_what = "ringo_chan_make";
            return;     /* the process exits: nothing to unref */
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
            fail_rc = rc;
            fail_what = "ringo_go_copy";
            return;     /* producers already running keep the channels */
        }
    }
    for (int64_t i = 0; i < n_msgs; i++) {
        int idx = ringo_select(cases, CHANNELS);
        if (idx < 0 || idx >= CHANNELS) {
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
    for (int c = 0; c < CHANNELS; c++)
        ringo_chan_unref(chans[c]);
}

int main(void)
{
    n_msgs = bench_n(1000000);
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
    printf("# selects %lld over %d unbuffered channels, total %.1f ms\n",
           (long long)n_msgs, CHANNELS, bench_ms(elapsed_ns));
    bench_result("%.1f ns/select", (double)elapsed_ns / (double)n_msgs);
    return 0;
}

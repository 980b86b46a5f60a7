/*
 * buffered_1x1, buffered_4x4: throughput of one buffered channel between
 * PRODUCERS producers and CONSUMERS consumers on two workers. This one
 * source builds both programs (see bench/meson.build): buffered_1x1 with
 * -DPRODUCERS=1 -DCONSUMERS=1, buffered_4x4 with -DPRODUCERS=4
 * -DCONSUMERS=4.
 *
 * The channel carries int64 and has capacity 1024. Producer p sends the
 * values [p*N/PRODUCERS, (p+1)*N/PRODUCERS), so together they send 0..N-1
 * once each (a single producer sends them all), and then tells main on pdone
 * how many it sent. Each consumer receives until the channel is closed and
 * drained (RINGO_CHAN_FOREACH) and sends its (partial) sum on results. Main,
 * having spawned them all, receives the producer counts, closes the channel,
 * and adds up the consumer sums, which must come to N*(N-1)/2 (and the
 * counts to N). No WaitGroup: completion goes over channels, as in the Go
 * twins. Reported: wall time (spawn to last sum) / N
 * ("buffered_1x1: X ns/msg", "buffered_4x4: X ns/msg").
 * Run with RINGO_WORKERS=2. BENCH_N overrides N (default 10,000,000).
 *
 * Channel lifetime: main owns all three channels and drops them only after
 * it has received every producer's count and every consumer's sum. Each
 * fiber's last use of a channel comes before the send main receives (a send
 * is complete once the receiver has the value), so no fiber touches a
 * channel after main drops it and none needs a reference of its own.
 *
 * Go twins: bench/go/buffered_1x1 and bench/go/buffered_4x4 (chan int64 of
 * capacity 1024, GOMAXPROCS=2).
 */
#include "bench.h"

#if !defined(PRODUCERS) || !defined(CONSUMERS)
#error "define PRODUCERS and CONSUMERS (see bench/meson.build)"
#endif
#define CAPACITY 1024

static int64_t n_msgs;
static ringo_chan_t *ch;        /* the measured channel: int64, CAPACITY */
static ringo_chan_t *pdone;     /* producers -> main: int64 counts, cap PRODUCERS */
static ringo_chan_t *results;   /* consumers -> main: int64 sums, cap CONSUMERS */

/* Results, printed by main() once ringo_run() has returned. */
static int64_t sum;
static int64_t sent;            /* what the producers say they sent */
static int64_t elapsed_ns;
static int fail_rc;             /* -ENOMEM from ringo_chan_make, or ringo_go's rc */
static const char *fail_what;

static void producer(void *arg)
{
    const struct bench_range *r = arg;   /* our own copy (ringo_go_copy) */
    int64_t count = 0;
    for (int64_t i = r->lo; i < r->hi; i++) {
        ringo_chan_send(ch, &i);
        count++;
    }
    ringo_chan_send(pdone, &count);
}

static void consumer(void *arg)
{
    (void)arg;
    int64_t s = 0, v;
    RINGO_CHAN_FOREACH(ch, v)
        s += v;
    ringo_chan_send(results, &s);
}

static void bench_main(void *arg)
{
    (void)arg;
    ch = ringo_chan_make(sizeof(int64_t), CAPACITY);
    pdone = ringo_chan_make(sizeof(int64_t), PRODUCERS);
    results = ringo_chan_make(sizeof(int64_t), CONSUMERS);
    if (ch == NULL || pdone == NULL || results == NULL) {
        fail_rc = -ENOMEM;
        fail_what = "ringo_chan_make";
        goto out;
    }
    /*
     * A failed spawn leaves main waiting for a fiber that never runs, so
     * start the consumers first and give up before any producer exists: with
     * nothing sent yet, closing ch lets the consumers that did start finish.
     */
    int64_t t0 = ringo_now();
    int started = 0;
    for (int c = 0; c < CONSUMERS; c++) {
        int rc = ringo_go(consumer, NULL);
        if (rc != 0) {
            fail_rc = rc;
            fail_what = "ringo_go(consumer)";
            ringo_chan_close(ch);
            goto drain;
        }
        started++;
    }
    for (int p = 0; p < PRODUCERS; p++) {
        struct bench_range r = {n_msgs * p / PRODUCERS, n_msgs * (p + 1) / PRODUCERS};
        int rc = ringo_go_copy(producer, &r, sizeof r);
        if (rc != 0) {
            /* Producers already running cannot be stopped: leave the
             * channels to the exiting process rather than free them under
             * those fibers. */
            fail_rc = rc;
            fail_what = "ringo_go_copy(producer)";
            return;
        }
    }
    for (int p = 0; p < PRODUCERS; p++) {
        int64_t count;
        ringo_chan_recv(pdone, &count);
        sent += count;
    }
    ringo_chan_close(ch);
drain:
    for (int c = 0; c < started; c++) {
        int64_t s;
        ringo_chan_recv(results, &s);
        sum += s;
    }
    elapsed_ns = ringo_now() - t0;
out:
    /* ringo_chan_unref(NULL) is not promised to be a no-op: check. */
    if (ch != NULL)
        ringo_chan_unref(ch);
    if (pdone != NULL)
        ringo_chan_unref(pdone);
    if (results != NULL)
        ringo_chan_unref(results);
}

int main(void)
{
    n_msgs = bench_n(10000000);
    bench_run(bench_main);
    bench_check_rc(fail_rc, fail_what);
    if (sent != n_msgs)
        bench_fail("producers sent %lld, want %lld", (long long)sent, (long long)n_msgs);
    bench_check_sum(sum, bench_triangle(n_msgs));
    printf("# messages %lld, producers %d, consumers %d, capacity %d, total %.1f ms\n",
           (long long)n_msgs, PRODUCERS, CONSUMERS, CAPACITY, bench_ms(elapsed_ns));
    bench_result("%.1f ns/msg", (double)elapsed_ns / (double)n_msgs);
    return 0;
}

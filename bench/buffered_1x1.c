/*
 * buffered_1x1: throughput of a buffered channel between one producer and
 * one consumer on two workers.
 *
 * The channel carries int64 and has capacity 1024. The producer sends the
 * values 0..N-1 and then tells main on pdone how many it sent. The consumer
 * receives until the channel is closed and drained (RINGO_CHAN_FOREACH) and
 * sends its sum on results. Main, having spawned both, receives the
 * producer's count, closes the channel and receives the sum, which must be
 * N*(N-1)/2 (and the count N). No WaitGroup: completion goes over channels,
 * as in the Go twin (and as in bench/buffered_4x4.c, which this mirrors with
 * PRODUCERS = CONSUMERS = 1).
 * Reported: wall time (spawn to sum) / N ("buffered_1x1: X ns/msg").
 * Run with RINGO_WORKERS=2. BENCH_N overrides N (default 10,000,000).
 *
 * Channel lifetime: main owns all three channels and drops them only after
 * it has received the producer's count and the consumer's sum. Each fiber's
 * last use of a channel comes before the send main receives (a send is
 * complete once the receiver has the value), so no fiber touches a channel
 * after main drops it and none needs a reference of its own.
 *
 * Go twin: bench/go/buffered_1x1 (chan int64 of capacity 1024, GOMAXPROCS=2).
 */
#include <ringo.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCERS 1
#define CONSUMERS 1
#define CAPACITY 1024

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
        fprintf(stderr, "buffered_1x1: bad BENCH_N '%s'\n", s);
        exit(2);
    }
    return v;
}

struct range {
    int64_t lo, hi;
};

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
    const struct range *r = arg;   /* our own copy (ringo_go_copy) */
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
        struct range r = {n_msgs * p / PRODUCERS, n_msgs * (p + 1) / PRODUCERS};
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

    int rc = ringo_run(NULL, bench_main, NULL);
    if (rc != 0) {
        fprintf(stderr, "buffered_1x1: ringo_run: %s\n", strerror(-rc));
        return 1;
    }
    if (fail_rc != 0) {
        fprintf(stderr, "buffered_1x1: %s: %s\n", fail_what, strerror(-fail_rc));
        return 1;
    }
    if (sent != n_msgs) {
        fprintf(stderr, "buffered_1x1: producers sent %lld, want %lld\n",
                (long long)sent, (long long)n_msgs);
        return 1;
    }
    int64_t want = n_msgs * (n_msgs - 1) / 2;
    if (sum != want) {
        fprintf(stderr, "buffered_1x1: sum %lld, want %lld\n", (long long)sum, (long long)want);
        return 1;
    }
    printf("# messages %lld, producers %d, consumers %d, capacity %d, total %.1f ms\n",
           (long long)n_msgs, PRODUCERS, CONSUMERS, CAPACITY, (double)elapsed_ns / 1e6);
    printf("buffered_1x1: %.1f ns/msg\n", (double)elapsed_ns / (double)n_msgs);
    return 0;
}

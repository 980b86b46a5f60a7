/*
 * pingpong: one round trip between two fibers over two unbuffered channels,
 * on a single worker.
 *
 * Main spawns one child, then sends an int64 counter on ping and waits for
 * it to come back on pong; the child receives it, adds one and sends it
 * back. That is one round trip: two rendezvous sends, two receives and (with
 * one worker) two fiber switches. The child does exactly N round trips and
 * returns, so nobody needs to close anything. After N round trips the
 * counter must be N. Reported: wall time / N ("pingpong: X ns/roundtrip").
 * Run with RINGO_WORKERS=1. BENCH_N overrides N (default 1,000,000).
 *
 * Channel lifetime: main owns both channels and drops them only after it has
 * received the N-th pong. By then the child's last receive on ping has
 * returned and its last send on pong has completed (a send is complete once
 * the receiver has the value), so the child touches neither channel again
 * and needs no reference of its own.
 *
 * Go twin: bench/go/pingpong (two unbuffered chan int64, GOMAXPROCS=1).
 * bench/pingpong_x.c is the same program run with two workers.
 */
#include <ringo.h>

#include <errno.h>
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
        fprintf(stderr, "pingpong: bad BENCH_N '%s'\n", s);
        exit(2);
    }
    return v;
}

static int64_t n_trips;
static ringo_chan_t *ping, *pong;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t counter;
static int64_t elapsed_ns;
static int fail_rc;           /* -ENOMEM from ringo_chan_make, or ringo_go's rc */
static const char *fail_what;

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

    int rc = ringo_run(NULL, bench_main, NULL);
    if (rc != 0) {
        fprintf(stderr, "pingpong: ringo_run: %s\n", strerror(-rc));
        return 1;
    }
    if (fail_rc != 0) {
        fprintf(stderr, "pingpong: %s: %s\n", fail_what, strerror(-fail_rc));
        return 1;
    }
    if (counter != n_trips) {
        fprintf(stderr, "pingpong: counter %lld, want %lld\n",
                (long long)counter, (long long)n_trips);
        return 1;
    }
    printf("# round trips %lld, total %.1f ms\n", (long long)n_trips, (double)elapsed_ns / 1e6);
    printf("pingpong: %.1f ns/roundtrip\n", (double)elapsed_ns / (double)n_trips);
    return 0;
}

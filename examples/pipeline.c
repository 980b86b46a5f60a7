/* examples/pipeline.c - the channel patterns of chapter 6 of docs/guide.md,
 * in C.
 *
 *   func gen(...) <-chan int        ringo_chan_t *generate(...): makes the
 *     { out := make(chan int)         channel, gives the stage fiber its own
 *       go func() {                   reference (ringo_chan_ref before
 *         defer close(out) ... }()    ringo_go), the fiber closes and unrefs
 *       return out }                  it; the caller owns the returned one
 *   for v := range sq(gen(...))     RINGO_CHAN_FOREACH(sq, v)
 *   wg.Wait(); close(out)           a closer fiber counts "finished" signals
 *                                   on a channel, then closes out
 *   ctx.Done() / cancel()           a done channel (chan struct{}) and
 *                                   ringo_chan_close(done); context comes later
 *   sem := make(chan struct{}, n)   ringo_chan_make(0, n): send = acquire,
 *                                   receive = release
 *   time.NewTicker(d) / <-t.C       ringo_ticker_new(d) /
 *                                   ringo_chan_recv(ringo_ticker_chan(t), &now)
 *   defer ticker.Stop()             ringo_ticker_free(t) (stops it; no GC
 *                                   frees it)
 *
 * Reference counting is the C stand-in for Go's garbage collector: whoever
 * hands a channel to a fiber that may outlive it takes a reference for that
 * fiber first, and every owner drops its own with ringo_chan_unref.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static char token;                      /* what a send on a chan struct{} points at */

/* ---- pipeline: generate -> square -> print -------------------------------------------- */

#define MAX_NUMS 8

struct gen_args { ringo_chan_t *out; int n; int nums[MAX_NUMS]; };

static void gen_stage(void *arg)
{
    struct gen_args *a = arg;
    for (int i = 0; i < a->n; i++)
        ringo_chan_send(a->out, &a->nums[i]);
    ringo_chan_close(a->out);           /* the stage owns its output: it closes it */
    ringo_chan_unref(a->out);
}

/* func generate(nums ...int) <-chan int */
static ringo_chan_t *generate(const int *nums, int n)
{
    struct gen_args a = {.n = n};
    check(n <= MAX_NUMS, "generate: too many numbers");
    for (int i = 0; i < n; i++)
        a.nums[i] = nums[i];
    ringo_chan_t *out = ringo_chan_make(sizeof(int), 0);
    a.out = ringo_chan_ref(out);        /* the fiber's reference */
    ringo_go_copy(gen_stage, &a, sizeof a);
    return out;                         /* the caller's reference */
}

struct square_args { ringo_chan_t *in, *out; };

static void square_stage(void *arg)
{
    struct square_args *a = arg;
    int n;
    RINGO_CHAN_FOREACH(a->in, n) {
        int sq = n * n;
        ringo_chan_send(a->out, &sq);
    }
    ringo_chan_close(a->out);
    ringo_chan_unref(a->in);
    ringo_chan_unref(a->out);
}

/* func square(in <-chan int) <-chan int */
static ringo_chan_t *square(ringo_chan_t *in)
{
    ringo_chan_t *out = ringo_chan_make(sizeof(int), 0);
    struct square_args a = {ringo_chan_ref(in), ringo_chan_ref(out)};
    ringo_go_copy(square_stage, &a, sizeof a);
    return out;
}

static void pipeline(void)
{
    const int nums[] = {1, 2, 3, 4};
    ringo_chan_t *gen = generate(nums, 4);
    ringo_chan_t *sq = square(gen);
    ringo_chan_unref(gen);              /* square holds its own reference */

    int v, i = 0;
    printf("pipeline:");
    RINGO_CHAN_FOREACH(sq, v) {
        printf(" %d", v);
        check(i < 4 && v == nums[i] * nums[i], "squares in order");
        i++;
    }
    printf("\n");
    check(i == 4, "pipeline delivered four squares");
    ringo_chan_unref(sq);
}

/* ---- fan-in ----------------------------------------------------------------------------- */

struct forward_args { ringo_chan_t *in, *out, *finished; };

static void forward(void *arg)
{
    struct forward_args *a = arg;
    int v;
    RINGO_CHAN_FOREACH(a->in, v)
        ringo_chan_send(a->out, &v);
    ringo_chan_send(a->finished, &token);   /* wg.Done() */
    ringo_chan_unref(a->in);
    ringo_chan_unref(a->out);
    ringo_chan_unref(a->finished);
}

struct closer_args { ringo_chan_t *out, *finished; int n; };

static void closer(void *arg)
{
    struct closer_args *a = arg;
    for (int i = 0; i < a->n; i++)          /* wg.Wait() */
        ringo_chan_recv(a->finished, NULL);
    ringo_chan_close(a->out);               /* every forwarder is done sending */
    ringo_chan_unref(a->out);
    ringo_chan_unref(a->finished);
}

/* func merge(cs ...<-chan int) <-chan int */
static ringo_chan_t *merge(ringo_chan_t **ins, int n)
{
    ringo_chan_t *out = ringo_chan_make(sizeof(int), 0);
    ringo_chan_t *finished = ringo_chan_make(0, n);
    for (int i = 0; i < n; i++) {
        struct forward_args a = {ringo_chan_ref(ins[i]), ringo_chan_ref(out),
                                 ringo_chan_ref(finished)};
        ringo_go_copy(forward, &a, sizeof a);
    }
    struct closer_args c = {ringo_chan_ref(out), ringo_chan_ref(finished), n};
    ringo_go_copy(closer, &c, sizeof c);
    ringo_chan_unref(finished);
    return out;
}

static void fan_in(void)
{
    const int src[3][5] = {{1, 2, 3, 4, 5}, {101, 102, 103, 104, 105}, {201, 202, 203, 204, 205}};
    ringo_chan_t *ins[3];
    for (int i = 0; i < 3; i++)
        ins[i] = generate(src[i], 5);
    ringo_chan_t *merged = merge(ins, 3);
    for (int i = 0; i < 3; i++)
        ringo_chan_unref(ins[i]);

    int v, total = 0, next[3] = {0, 0, 0};
    RINGO_CHAN_FOREACH(merged, v) {
        int s = v / 100;
        check(s >= 0 && s < 3 && next[s] < 5, "fan-in: value from a known source");
        check(v == src[s][next[s]], "fan-in: each source's order is kept");
        next[s]++;
        total++;
    }
    check(total == 15, "fan-in: all 15 values arrived");
    printf("fan-in: 3 producers x 5 values merged into one channel, %d received\n", total);
    ringo_chan_unref(merged);
}

/* ---- generator stopped through a done channel ---------------------------------------------- */

struct fib_args { ringo_chan_t *out, *done; };

static void fib_stage(void *arg)
{
    struct fib_args *a = arg;
    long x = 0, y = 1;
    for (;;) {
        ringo_case_t cases[] = {RINGO_RECV(a->done, NULL), RINGO_SEND(a->out, &x)};
        if (ringo_select(cases, 2) == 0)
            break;                      /* <-done: the consumer lost interest */
        long next = x + y;
        x = y;
        y = next;
    }
    ringo_chan_close(a->out);
    ringo_chan_unref(a->out);
    ringo_chan_unref(a->done);
}

/* func fibonacci(done <-chan struct{}) <-chan int */
static ringo_chan_t *fibonacci(ringo_chan_t *done)
{
    ringo_chan_t *out = ringo_chan_make(sizeof(long), 0);
    struct fib_args a = {ringo_chan_ref(out), ringo_chan_ref(done)};
    ringo_go_copy(fib_stage, &a, sizeof a);
    return out;
}

static void generator(void)
{
    ringo_chan_t *done = ringo_chan_make(0, 0);
    ringo_chan_t *fib = fibonacci(done);

    long v, prev = 1, cur = 0;          /* the expected sequence */
    int count = 0;
    printf("generator:");
    RINGO_CHAN_FOREACH(fib, v) {
        check(v == cur, "fibonacci value");
        long next = prev + cur;
        prev = cur;
        cur = next;
        if (v > 1000) {
            ringo_chan_close(done);     /* cancel() */
            break;
        }
        printf(" %ld", v);
        count++;
    }
    printf("\n");
    check(count == 17, "17 fibonacci numbers up to 1000");

    /* The generator sees done at its next select and closes its channel.
     * While we drain, its send case may still win a few races against the
     * closed done (select picks randomly among ready cases); the loop ends
     * only because the generator did stop. */
    int extra = 0;
    RINGO_CHAN_FOREACH(fib, v)
        extra++;
    printf("generator: stopped through done (%d more value(s) slipped out first)\n", extra);
    ringo_chan_unref(fib);
    ringo_chan_unref(done);
}

/* ---- semaphore ------------------------------------------------------------------------------- */

#define LIMIT 3
#define ITEMS 12

static atomic_int running, max_running;

struct sem_args { int item; ringo_chan_t *sem, *finished; };

static void limited_work(void *arg)
{
    struct sem_args *a = arg;
    int now = atomic_fetch_add(&running, 1) + 1;
    int seen = atomic_load(&max_running);
    while (now > seen && !atomic_compare_exchange_weak(&max_running, &seen, now))
        ;
    ringo_sleep(5 * RINGO_MILLISECOND);     /* "process(item)" */
    atomic_fetch_sub(&running, 1);
    ringo_chan_recv(a->sem, NULL);          /* release: <-sem */
    ringo_chan_send(a->finished, &a->item);
    ringo_chan_unref(a->sem);
    ringo_chan_unref(a->finished);
}

static void semaphore(void)
{
    ringo_chan_t *sem = ringo_chan_make(0, LIMIT);        /* chan struct{}, cap LIMIT */
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), ITEMS);

    for (int i = 0; i < ITEMS; i++) {
        ringo_chan_send(sem, &token);       /* acquire: blocks while LIMIT run */
        struct sem_args a = {i, ringo_chan_ref(sem), ringo_chan_ref(finished)};
        ringo_go_copy(limited_work, &a, sizeof a);
    }
    bool seen[ITEMS] = {false};
    for (int i = 0; i < ITEMS; i++) {
        int item;
        check(ringo_chan_recv(finished, &item), "semaphore: finished");
        check(item >= 0 && item < ITEMS && !seen[item], "semaphore: each item once");
        seen[item] = true;
    }
    int max = atomic_load(&max_running);
    printf("semaphore: %d items, at most %d at once (limit %d)\n", ITEMS, max, LIMIT);
    check(max >= 1 && max <= LIMIT, "semaphore: concurrency stayed within the limit");
    ringo_chan_unref(sem);
    ringo_chan_unref(finished);
}

/* ---- rate limiting with a ticker ------------------------------------------------------------ */

#define RATE_TASKS 5

struct rate_args { int task; ringo_chan_t *results; };
struct rate_result { int task; int64_t started; };

static void rate_task(void *arg)
{
    struct rate_args *a = arg;
    struct rate_result r = {a->task, ringo_now()};
    ringo_chan_send(a->results, &r);
    ringo_chan_unref(a->results);
}

static void rate_limit(void)
{
    ringo_ticker_t *ticker = ringo_ticker_new(10 * RINGO_MILLISECOND);   /* 100 per second */
    check(ticker != NULL, "ringo_ticker_new");
    ringo_chan_t *results = ringo_chan_make(sizeof(struct rate_result), RATE_TASKS);

    int64_t start = ringo_now();
    for (int t = 0; t < RATE_TASKS; t++) {
        int64_t tick;
        check(ringo_chan_recv(ringo_ticker_chan(ticker), &tick), "tick");   /* <-ticker.C */
        struct rate_args a = {t, ringo_chan_ref(results)};
        ringo_go_copy(rate_task, &a, sizeof a);
    }
    ringo_ticker_free(ticker);

    int64_t last = start;
    for (int t = 0; t < RATE_TASKS; t++) {
        struct rate_result r;
        check(ringo_chan_recv(results, &r), "rate result");
        if (r.started > last)
            last = r.started;
    }
    int64_t elapsed = last - start;
    printf("rate limit: %d tasks at 10 ms intervals took %lld ms\n", RATE_TASKS,
           (long long)(elapsed / RINGO_MILLISECOND));
    check(elapsed >= 40 * RINGO_MILLISECOND, "rate limit: 5 ticks need at least 40 ms");
    check(elapsed < 5 * RINGO_SECOND, "rate limit: finished in seconds");
    ringo_chan_unref(results);
}

static void main_fiber(void *arg)
{
    (void)arg;
    pipeline();
    fan_in();
    generator();
    semaphore();
    rate_limit();
    puts("pipeline: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}

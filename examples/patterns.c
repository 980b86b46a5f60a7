/* examples/patterns.c - Go's concurrency patterns (chapter 6 of
 * docs/guide.md), the patterns that take a context: fan-out/fan-in, a worker pool, a generator,
 * or-done and rate limiting. (pipeline.c has their done-channel forms.)
 *
 *   results := make(chan R, n)         ringo_chan_make(sizeof(R), n)
 *   wg.Add(1); go func(u) {            ringo_waitgroup_add(&wg, 1);
 *     defer wg.Done(); ... }(url)        ringo_go_copy(fn, &args, sizeof args)
 *   go func() { wg.Wait();             a closer fiber: ringo_waitgroup_wait,
 *     close(results) }()                 then ringo_chan_close(results)
 *   for r := range results             RINGO_CHAN_FOREACH(results, r)
 *   select { case <-ctx.Done():        ringo_case_t cases[] = {RINGO_DONE(ctx),
 *            case ch <- v: }              RINGO_SEND(ch, &v)};  ringo_select
 *   ctx, cancel := WithCancel(...)     ringo_ctx_t *ctx RINGO_DEFER_CANCEL =
 *   defer cancel() ... cancel()          ringo_with_cancel(...); an early
 *                                        ringo_cancel(ctx) is fine: cancel
 *                                        is idempotent and frees nothing
 *   ticker := time.NewTicker(d)        ringo_ticker_new(d) ... ringo_ticker_free
 *   case <-ticker.C:                   RINGO_RECV(ringo_ticker_chan(t), &when)
 *
 * Ownership: a fiber that may outlive the call that started it (a
 * generator's producer, or-done's forwarder, a rate-limited task) takes its
 * own references to the channels and context it uses and drops them when
 * it ends. Fibers their starter waits for (the worker pool's workers)
 * borrow instead.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static void note_max(atomic_int *max, int now)
{
    int seen = atomic_load(max);
    while (now > seen && !atomic_compare_exchange_weak(max, &seen, now))
        ;
}

/* ---- fan-out / fan-in ------------------------------------------------------------------------- */

struct result { int url; int status; int err; };

/* A pretend HTTP GET of URL number `url` taking `latency`, abandoned when
 * ctx ends. */
static struct result fetch(ringo_ctx_t *ctx, int url, ringo_duration_t latency)
{
    struct result r = {url, 0, 0};
    ringo_case_t cases[] = {RINGO_DONE(ctx), RINGO_TIMEOUT(latency)};
    if (ringo_select(cases, 2) == 0)
        r.err = ringo_ctx_err(ctx);
    else
        r.status = 200;
    return r;
}

struct fetch_args {
    ringo_ctx_t *ctx;                   /* own reference */
    ringo_chan_t *results;              /* own reference */
    ringo_waitgroup_t *wg;
    int url;
    ringo_duration_t latency;
};

static void fetch_fiber(void *arg)
{
    struct fetch_args *a = arg;
    struct result r = fetch(a->ctx, a->url, a->latency);
    ringo_chan_send(a->results, &r);    /* buffered for every URL: never blocks */
    ringo_ctx_unref(a->ctx);
    ringo_chan_unref(a->results);
    ringo_waitgroup_done(a->wg);        /* last: after this the WaitGroup may go */
}

struct closer_args { ringo_waitgroup_t *wg; ringo_chan_t *results; };

static void closer(void *arg)
{
    struct closer_args *a = arg;
    ringo_waitgroup_wait(a->wg);        /* every fetch has sent */
    ringo_chan_close(a->results);       /* ends the collector's range loop */
    ringo_chan_unref(a->results);
}

/* func fanOutFanIn(ctx, urls) []Result: one fiber per URL; results land in
 * out[] in completion order. The WaitGroup lives in this frame: the closer
 * is its only waiter and this function returns only after the closer closed
 * results, which it does after its Wait returned. */
static int fan_out_fan_in(ringo_ctx_t *ctx, const ringo_duration_t *latency, int n,
                          struct result *out)
{
    ringo_chan_t *results = ringo_chan_make(sizeof(struct result), (size_t)n);
    check(results != NULL, "ringo_chan_make");
    ringo_waitgroup_t wg = {0};
    for (int u = 0; u < n; u++) {       /* fan-out */
        struct fetch_args a = {ringo_ctx_ref(ctx), ringo_chan_ref(results), &wg, u, latency[u]};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(fetch_fiber, &a, sizeof a) == 0, "ringo_go_copy");
    }
    struct closer_args c = {&wg, ringo_chan_ref(results)};
    check(ringo_go_copy(closer, &c, sizeof c) == 0, "ringo_go_copy");

    int got = 0;
    struct result r;
    RINGO_CHAN_FOREACH(results, r) {    /* fan-in */
        check(got < n, "no more results than URLs");
        out[got++] = r;
    }
    ringo_chan_unref(results);
    return got;
}

#define URLS 8

static void fan_out_fan_in_demo(void)
{
    ringo_duration_t latency[URLS];
    struct result out[URLS];

    for (int u = 0; u < URLS; u++)
        latency[u] = ((u * 7) % URLS) * RINGO_MILLISECOND;   /* finish out of order */
    int64_t start = ringo_now();
    int got = fan_out_fan_in(ringo_background(), latency, URLS, out);
    long took = (long)((ringo_now() - start) / RINGO_MILLISECOND);
    bool seen[URLS] = {false};
    printf("fan-out/fan-in: completion order:");
    for (int i = 0; i < got; i++) {
        printf(" %d", out[i].url);
        check(out[i].url >= 0 && out[i].url < URLS && !seen[out[i].url], "each URL once");
        check(out[i].status == 200 && out[i].err == 0, "fetch succeeded");
        seen[out[i].url] = true;
    }
    printf(" (%ld ms for %d fetches of up to 7 ms)\n", took, URLS);
    check(got == URLS, "fan-in collected every result");
    check(took < 5000, "the fetches ran concurrently");

    /* With a deadline, the slow fetches give up and say why. (Only the 10 s
     * ones are sure to: after a long enough stall of the machine, a fast
     * fetch's timer and the deadline may both be due, and either may win.) */
    for (int u = 0; u < URLS; u++)
        latency[u] = u < URLS / 2 ? u * 5 * RINGO_MILLISECOND : 10 * RINGO_SECOND;
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 50 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    start = ringo_now();
    got = fan_out_fan_in(ctx, latency, URLS, out);
    took = (long)((ringo_now() - start) / RINGO_MILLISECOND);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    check(got == URLS, "every fetch reported, failed or not");
    check(took < 5000, "the 10 s fetches gave up at the deadline");
    int ok = 0;
    for (int i = 0; i < got; i++) {
        if (out[i].err == 0)
            ok++;
        check(out[i].err == 0 || out[i].err == -ETIMEDOUT, "an error is the deadline's");
        if (latency[out[i].url] == 10 * RINGO_SECOND)
            check(out[i].err == -ETIMEDOUT, "the 10 s fetches missed the 50 ms deadline");
    }
    printf("fan-out/fan-in: with a 50 ms deadline %d of %d fetches made it (%ld ms)\n", ok, URLS,
           took);
}

/* ---- worker pool -------------------------------------------------------------------------------- */

struct worker_args {
    ringo_ctx_t *ctx;                   /* borrowed: worker_pool waits for every worker */
    ringo_chan_t *tasks, *results;      /* likewise */
    ringo_waitgroup_t *wg;
    atomic_int *busy, *max_busy;
};

struct task_result { int task; long value; };

static long process(int task)
{
    ringo_sleep(RINGO_MILLISECOND);
    return (long)task * task;
}

static void pool_worker(void *arg)
{
    struct worker_args *a = arg;
    int task;
    RINGO_CHAN_FOREACH(a->tasks, task) {
        ringo_case_t cases[] = {RINGO_DONE(a->ctx), RINGO_DEFAULT};
        if (ringo_select(cases, 2) == 0)
            break;                      /* case <-ctx.Done(): return */
        note_max(a->max_busy, atomic_fetch_add(a->busy, 1) + 1);
        struct task_result r = {task, process(task)};
        atomic_fetch_sub(a->busy, 1);
        ringo_chan_send(a->results, &r);    /* room for every task: never blocks */
    }
    ringo_waitgroup_done(a->wg);
}

/* func workerPool(ctx, tasks, numWorkers) []Result. Returns how many results
 * it wrote to out; *err is ctx's error if it cut the work short. Unlike the
 * reference's version, the task sender also watches ctx: once the workers
 * have quit, a plain send on tasksCh would block forever. */
static int worker_pool(ringo_ctx_t *ctx, const int *tasks, int n, int num_workers,
                       struct task_result *out, int *err, int *max_busy_out)
{
    ringo_chan_t *tasks_ch = ringo_chan_make(sizeof(int), 0);
    ringo_chan_t *results_ch = ringo_chan_make(sizeof(struct task_result), (size_t)n);
    check(tasks_ch && results_ch, "ringo_chan_make");
    ringo_waitgroup_t wg = {0};
    atomic_int busy = 0, max_busy = 0;

    for (int i = 0; i < num_workers; i++) {
        struct worker_args a = {ctx, tasks_ch, results_ch, &wg, &busy, &max_busy};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(pool_worker, &a, sizeof a) == 0, "ringo_go_copy");
    }
    for (int i = 0; i < n; i++) {
        ringo_case_t cases[] = {RINGO_DONE(ctx), RINGO_SEND(tasks_ch, &tasks[i])};
        if (ringo_select(cases, 2) == 0)
            break;
    }
    ringo_chan_close(tasks_ch);
    ringo_waitgroup_wait(&wg);
    ringo_chan_close(results_ch);

    int got = 0;
    struct task_result r;
    RINGO_CHAN_FOREACH(results_ch, r)
        out[got++] = r;
    *err = ringo_ctx_err(ctx);
    *max_busy_out = atomic_load(&max_busy);
    ringo_chan_unref(tasks_ch);
    ringo_chan_unref(results_ch);
    return got;
}

#define POOL_TASKS 200

static void worker_pool_demo(void)
{
    static int tasks[POOL_TASKS];
    static struct task_result out[POOL_TASKS];
    for (int i = 0; i < POOL_TASKS; i++)
        tasks[i] = i + 1;

    int err, max_busy;
    int got = worker_pool(ringo_background(), tasks, 50, 4, out, &err, &max_busy);
    bool seen[POOL_TASKS + 1] = {false};
    for (int i = 0; i < got; i++) {
        check(out[i].task >= 1 && out[i].task <= 50 && !seen[out[i].task], "each task once");
        check(out[i].value == (long)out[i].task * out[i].task, "result is the task squared");
        seen[out[i].task] = true;
    }
    printf("worker pool: 4 workers processed %d of 50 tasks, at most %d at once\n", got, max_busy);
    check(got == 50 && err == 0, "every task processed");
    check(max_busy >= 1 && max_busy <= 4, "no more than 4 tasks in progress");

    /* 200 tasks of 1 ms on 2 workers need 100 ms; the context allows 30. */
    int64_t start = ringo_now();
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 30 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    got = worker_pool(ctx, tasks, POOL_TASKS, 2, out, &err, &max_busy);
    long took = (long)((ringo_now() - start) / RINGO_MILLISECOND);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    for (int i = 0; i < got; i++)
        check(out[i].value == (long)out[i].task * out[i].task, "a partial result is still right");
    printf("worker pool: a 30 ms deadline stopped it after %d of %d tasks (%ld ms)\n", got,
           POOL_TASKS, took);
    check(err == -ETIMEDOUT && got < POOL_TASKS, "the deadline cut the pool short");
    check(took >= 30 && took < 5000, "it returned soon after the deadline");
}

/* ---- generator stopped by cancel ------------------------------------------------------------------ */

struct fib_args { ringo_ctx_t *ctx; ringo_chan_t *out; };

static void fib_producer(void *arg)
{
    struct fib_args *a = arg;
    long x = 0, y = 1;
    for (;;) {
        ringo_case_t cases[] = {RINGO_DONE(a->ctx), RINGO_SEND(a->out, &x)};
        if (ringo_select(cases, 2) == 0)
            break;
        long next = x + y;
        x = y;
        y = next;
    }
    ringo_chan_close(a->out);           /* defer close(ch) */
    ringo_chan_unref(a->out);
    ringo_ctx_unref(a->ctx);
}

/* func fibonacci(ctx) <-chan int */
static ringo_chan_t *fibonacci(ringo_ctx_t *ctx)
{
    ringo_chan_t *out = ringo_chan_make(sizeof(long), 0);
    check(out != NULL, "ringo_chan_make");
    struct fib_args a = {ringo_ctx_ref(ctx), ringo_chan_ref(out)};
    check(ringo_go_copy(fib_producer, &a, sizeof a) == 0, "ringo_go_copy");
    return out;
}

static void generator_demo(void)
{
    ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(ringo_background());
    check(ctx != NULL, "ringo_with_cancel");
    ringo_chan_t *fib = fibonacci(ctx);

    long v, prev = 1, cur = 0;
    int count = 0;
    printf("generator:");
    RINGO_CHAN_FOREACH(fib, v) {
        check(v == cur, "the fibonacci sequence");
        long next = prev + cur;
        prev = cur;
        cur = next;
        if (v > 1000) {
            ringo_cancel(ctx);          /* cancel(); the deferred one is harmless */
            break;
        }
        printf(" %ld", v);
        count++;
    }
    printf("\n");
    check(count == 17 && ringo_ctx_err(ctx) == -ECANCELED, "17 numbers up to 1000, then cancel");

    /* The producer sees Done at its next select and closes its channel;
     * a value or two may win the select's coin toss first. */
    int extra = 0;
    RINGO_CHAN_FOREACH(fib, v)
        extra++;
    printf("generator: cancel stopped the producer (%d value(s) slipped out first)\n", extra);
    ringo_chan_unref(fib);
}

/* ---- or-done ---------------------------------------------------------------------------------------- */

struct or_done_args { ringo_ctx_t *ctx; ringo_chan_t *in, *out; };

static void or_done_forwarder(void *arg)
{
    struct or_done_args *a = arg;
    for (;;) {
        int v;
        ringo_case_t recv[] = {RINGO_DONE(a->ctx), RINGO_RECV(a->in, &v)};
        if (ringo_select(recv, 2) == 0 || !recv[1].ok)
            break;                      /* cancelled, or in was closed */
        ringo_case_t send[] = {RINGO_SEND(a->out, &v), RINGO_DONE(a->ctx)};
        if (ringo_select(send, 2) == 1)
            break;
    }
    ringo_chan_close(a->out);
    ringo_chan_unref(a->out);
    ringo_chan_unref(a->in);
    ringo_ctx_unref(a->ctx);
}

/* func orDone(ctx, in <-chan int) <-chan int: a range over the result ends
 * when in closes or ctx ends, whichever comes first. */
static ringo_chan_t *or_done(ringo_ctx_t *ctx, ringo_chan_t *in)
{
    ringo_chan_t *out = ringo_chan_make(sizeof(int), 0);
    check(out != NULL, "ringo_chan_make");
    struct or_done_args a = {ringo_ctx_ref(ctx), ringo_chan_ref(in), ringo_chan_ref(out)};
    check(ringo_go_copy(or_done_forwarder, &a, sizeof a) == 0, "ringo_go_copy");
    return out;
}

static void or_done_demo(void)
{
    /* A source that stalls after five values and is never closed: a plain
     * range over it would hang; through orDone the deadline ends it. */
    ringo_chan_t *stalled = ringo_chan_make(sizeof(int), 8);
    for (int i = 1; i <= 5; i++)
        ringo_chan_send(stalled, &i);
    int64_t start = ringo_now();
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 30 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    ringo_chan_t *out = or_done(ctx, stalled);
    int v, n = 0;
    RINGO_CHAN_FOREACH(out, v)
        check(v == ++n, "values in order");
    long took = (long)((ringo_now() - start) / RINGO_MILLISECOND);
    printf("or-done: read %d values from a stalled source, then the deadline ended the range "
           "(%ld ms)\n", n, took);
    /* All five, unless the machine stalled past the deadline mid-way: with
     * Done and a value both ready, select may take either. */
    check(n <= 5, "only what the source had");
    check(ringo_ctx_err(ctx) == -ETIMEDOUT && took >= 30 && took < 5000,
          "the range ended at the deadline");
    ringo_chan_unref(out);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    ringo_chan_unref(stalled);

    /* A source that closes: the range ends with it, the context unused. */
    ringo_chan_t *finite = ringo_chan_make(sizeof(int), 3);
    for (int i = 1; i <= 3; i++)
        ringo_chan_send(finite, &i);
    ringo_chan_close(finite);
    ctx = ringo_with_cancel(ringo_background());
    check(ctx != NULL, "ringo_with_cancel");
    out = or_done(ctx, finite);
    n = 0;
    RINGO_CHAN_FOREACH(out, v)
        check(v == ++n, "values in order");
    check(n == 3 && ringo_ctx_err(ctx) == 0, "a closed source ends the range, no cancel needed");
    printf("or-done: a closed source ended the range after %d values\n", n);
    ringo_chan_unref(out);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    ringo_chan_unref(finite);
}

/* ---- rate limiting with a ticker and a context --------------------------------------------------------- */

struct rate_args { int task; ringo_chan_t *started; };
struct rate_start { int task; int64_t at; };

static void rate_task(void *arg)
{
    struct rate_args *a = arg;
    struct rate_start s = {a->task, ringo_now()};
    ringo_chan_send(a->started, &s);    /* room for every task */
    ringo_chan_unref(a->started);
}

/* func rateLimited(ctx, tasks): starts one task per tick until the tasks or
 * ctx run out; returns how many it started. */
static int rate_limited(ringo_ctx_t *ctx, int ntasks, ringo_duration_t every, ringo_chan_t *started)
{
    ringo_ticker_t *ticker = ringo_ticker_new(every);
    check(ticker != NULL, "ringo_ticker_new");
    int n = 0;
    for (; n < ntasks; n++) {
        int64_t when;
        ringo_case_t cases[] = {RINGO_DONE(ctx), RINGO_RECV(ringo_ticker_chan(ticker), &when)};
        if (ringo_select(cases, 2) == 0)
            break;
        struct rate_args a = {n, ringo_chan_ref(started)};
        check(ringo_go_copy(rate_task, &a, sizeof a) == 0, "ringo_go_copy");   /* go process(task) */
    }
    ringo_ticker_free(ticker);          /* defer ticker.Stop(); no GC frees it */
    return n;
}

#define RATE_TASKS 100

static void rate_limit_demo(void)
{
    ringo_chan_t *started = ringo_chan_make(sizeof(struct rate_start), RATE_TASKS);
    check(started != NULL, "ringo_chan_make");

    int64_t start = ringo_now();
    int n = rate_limited(ringo_background(), 5, 10 * RINGO_MILLISECOND, started);
    check(n == 5, "all five tasks started");
    for (int i = 0; i < n; i++) {
        struct rate_start s;
        check(ringo_chan_recv(started, &s), "start report");
        /* Task k waits for the (k+1)th tick: ticks never come early. */
        check(s.at - start >= (s.task + 1) * 10 * RINGO_MILLISECOND - 2 * RINGO_MILLISECOND,
              "no task starts before its tick");
        check(s.at - start < 5 * RINGO_SECOND, "and not in seconds");
    }
    printf("rate limit: 5 tasks at 10 ms intervals started within %ld ms\n",
           (long)((ringo_now() - start) / RINGO_MILLISECOND));

    /* Far more tasks than the deadline leaves ticks for. */
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 45 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    n = rate_limited(ctx, RATE_TASKS, 10 * RINGO_MILLISECOND, started);
    check(ringo_ctx_err(ctx) == -ETIMEDOUT, "stopped by the deadline");
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    for (int i = 0; i < n; i++)
        check(ringo_chan_recv(started, NULL), "start report");
    printf("rate limit: a 45 ms deadline allowed %d of %d tasks at 10 ms intervals\n", n,
           RATE_TASKS);
    check(n < RATE_TASKS, "the context stopped the rate limiter");
    ringo_chan_unref(started);
}

static void main_fiber(void *arg)
{
    (void)arg;
    fan_out_fan_in_demo();
    worker_pool_demo();
    generator_demo();
    or_done_demo();
    rate_limit_demo();
    puts("patterns: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}

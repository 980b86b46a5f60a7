/* examples/net_patterns.c - the worker pool, pipeline and fan-out/fan-in
 * patterns of Go concurrency (guide section 6) over real
 * connections: every job is an HTTP request to a local server the example
 * starts itself (local_http.h). patterns.c and pipeline.c show the same
 * shapes with pretend work; here each step dials, writes, reads and
 * closes a TCP connection, so fibers really park on the ring.
 *
 * The server answers GET /square/<n> with n*n and GET /inc/<n> with n+1,
 * after a pause of 0 to 2 ms.
 *
 *   worker pool      jobs channel -> W workers -> results channel; a closer
 *                    fiber closes results after wg.Wait(). The server
 *                    counts requests in flight: never more than W.
 *   pipeline         gen -> square (HTTP) -> inc (HTTP) -> sum, stages joined
 *                    by channels, each stage selecting on ctx.Done() beside
 *                    every send; cancelling part-way ends every stage.
 *   fan-out/fan-in   one input channel read by K fetchers (fan-out), their
 *                    K output channels merged into one (fan-in) by one
 *                    forwarding fiber each, a WaitGroup and a closer.
 *
 * Ownership: a fiber that may outlive the call that started it (a
 * pipeline stage, a merge forwarder) holds its own references to the
 * channels and context it uses (ringo_chan_ref / ringo_ctx_ref before
 * ringo_go) and drops them when it ends. Workers whose starter waits for
 * them borrow.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"
#include "local_http.h"

#include <stdatomic.h>

static int arith_handler(ringo_ctx_t *ctx, int fd, const char *path, char *body, size_t cap)
{
    long n;
    (void)ctx, (void)fd;
    if (sscanf(path, "/square/%ld", &n) == 1) {
        ringo_sleep((n % 3) * RINGO_MILLISECOND);
        return snprintf(body, cap, "%ld", n * n);
    }
    if (sscanf(path, "/inc/%ld", &n) == 1) {
        ringo_sleep((n % 3) * RINGO_MILLISECOND);
        return snprintf(body, cap, "%ld", n + 1);
    }
    return -1;
}

static int port;    /* the local server's, set once before any fiber reads it */

/* GET /<op>/<n> and parse the number. Returns 0 or -errno. */
static int remote(ringo_ctx_t *ctx, const char *op, long n, long *out)
{
    char path[64], body[32];
    snprintf(path, sizeof path, "/%s/%ld", op, n);
    int len = http_get(ctx, port, path, body, sizeof body);
    if (len < 0)
        return len;
    *out = strtol(body, NULL, 10);
    return 0;
}

/* ---- worker pool ---------------------------------------------------------------------- */

struct job_result { long job, value; int err; };

struct pool {
    ringo_chan_t *jobs, *results;   /* borrowed: worker_pool waits for the workers */
    ringo_waitgroup_t wg;
};

static void pool_worker(void *arg)
{
    struct pool *p = arg;
    long job;
    RINGO_CHAN_FOREACH(p->jobs, job) {          /* for job := range jobs */
        struct job_result r = {job, 0, 0};
        r.err = remote(NULL, "square", job, &r.value);
        ringo_chan_send(p->results, &r);
    }
    ringo_waitgroup_done(&p->wg);
}

struct pool_closer_args { ringo_waitgroup_t *wg; ringo_chan_t *results; };  /* own reference */

static void pool_closer(void *arg)
{
    struct pool_closer_args *a = arg;
    ringo_waitgroup_wait(a->wg);
    ringo_chan_close(a->results);   /* ends the collector's range loop, which may */
    ringo_chan_unref(a->results);   /* then drop its reference before we return */
}

static void worker_pool_demo(struct local_server *srv)
{
    enum { JOBS = 40, WORKERS = 4 };
    struct pool p = {ringo_chan_make(sizeof(long), JOBS), ringo_chan_make(sizeof(struct job_result), 0), {{0}}};
    check(p.jobs && p.results, "ringo_chan_make");
    atomic_store(&srv->max_in_flight, 0);
    for (int w = 0; w < WORKERS; w++) {
        ringo_waitgroup_add(&p.wg, 1);
        check(ringo_go(pool_worker, &p) == 0, "ringo_go");
    }
    struct pool_closer_args c = {&p.wg, ringo_chan_ref(p.results)};
    check(ringo_go_copy(pool_closer, &c, sizeof c) == 0, "ringo_go_copy");
    for (long j = 1; j <= JOBS; j++)
        ringo_chan_send(p.jobs, &j);
    ringo_chan_close(p.jobs);

    bool seen[JOBS + 1] = {false};
    int got = 0;
    struct job_result r;
    RINGO_CHAN_FOREACH(p.results, r) {          /* until the closer closes it */
        check(r.err == 0, "every request succeeds");
        check(r.job >= 1 && r.job <= JOBS && !seen[r.job], "each job once");
        check(r.value == r.job * r.job, "the server squared it");
        seen[r.job] = true;
        got++;
    }
    int max = atomic_load(&srv->max_in_flight);
    printf("worker pool: %d jobs over %d workers, at most %d requests in flight\n", got, WORKERS, max);
    check(got == JOBS, "every job has a result");
    check(max >= 1 && max <= WORKERS, "never more requests than workers");
    ringo_chan_unref(p.jobs);
    ringo_chan_unref(p.results);
}

/* ---- pipeline ----------------------------------------------------------------------------- */

struct stage {
    ringo_ctx_t *ctx;           /* own reference */
    ringo_chan_t *in, *out;     /* own references (in is NULL for the generator) */
    const char *op;
    long count;                 /* the generator's: how many numbers */
};

/* Sends v on out unless ctx ends first. */
static bool send_or_done(ringo_ctx_t *ctx, ringo_chan_t *out, const long *v)
{
    ringo_case_t cases[] = {RINGO_SEND(out, v), RINGO_DONE(ctx)};
    return ringo_select(cases, 2) == 0;
}

/* Stage fibers running now. Counted apart from ringo_num_fibers(): the
 * in-process server's connection fibers come and go on their own time. */
static _Atomic long stages_alive;

static void stage_end(struct stage *s)
{
    ringo_chan_close(s->out);   /* defer close(out) */
    ringo_chan_unref(s->out);
    ringo_chan_unref(s->in);    /* NULL is fine: does nothing */
    ringo_ctx_unref(s->ctx);
    atomic_fetch_sub(&stages_alive, 1);
}

static void gen_stage(void *arg)
{
    struct stage *s = arg;
    for (long v = 1; v <= s->count; v++)
        if (!send_or_done(s->ctx, s->out, &v))
            break;
    stage_end(s);
}

static void http_stage(void *arg)
{
    struct stage *s = arg;
    long v, r;
    RINGO_CHAN_FOREACH(s->in, v) {
        if (remote(s->ctx, s->op, v, &r) != 0 || !send_or_done(s->ctx, s->out, &r))
            break;
    }
    stage_end(s);
}

/* Starts one stage and returns its output channel (the caller's reference). */
static ringo_chan_t *start_stage(void (*fn)(void *), ringo_ctx_t *ctx, ringo_chan_t *in,
                                 const char *op, long count)
{
    ringo_chan_t *out = ringo_chan_make(sizeof(long), 0);
    check(out != NULL, "ringo_chan_make");
    /* The stage's own references, taken before ringo_go. */
    struct stage args = {ringo_ctx_ref(ctx), in ? ringo_chan_ref(in) : NULL, ringo_chan_ref(out), op, count};
    atomic_fetch_add(&stages_alive, 1);
    check(ringo_go_copy(fn, &args, sizeof args) == 0, "ringo_go_copy");
    return out;
}

static void pipeline_demo(void)
{
    enum { N = 30 };
    /* Run to the end: sum over n of n*n + 1. */
    {
        ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(NULL);
        ringo_chan_t *nums = start_stage(gen_stage, ctx, NULL, NULL, N);
        ringo_chan_t *squares = start_stage(http_stage, ctx, nums, "square", 0);
        ringo_chan_t *plus1 = start_stage(http_stage, ctx, squares, "inc", 0);
        ringo_chan_unref(nums);         /* the stages hold their own */
        ringo_chan_unref(squares);
        long v, sum = 0, want = 0, count = 0;
        RINGO_CHAN_FOREACH(plus1, v) {
            sum += v;
            count++;
        }
        ringo_chan_unref(plus1);
        for (long n = 1; n <= N; n++)
            want += n * n + 1;
        printf("pipeline: %ld values through two HTTP stages, sum %ld\n", count, sum);
        check(count == N && sum == want, "the pipeline computed sum(n*n + 1)");
    }
    /* Take five, then cancel: every stage ends, even one blocked in a read. */
    {
        ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(NULL);
        ringo_chan_t *nums = start_stage(gen_stage, ctx, NULL, NULL, 1000000);
        ringo_chan_t *squares = start_stage(http_stage, ctx, nums, "square", 0);
        ringo_chan_unref(nums);
        long v;
        for (long n = 1; n <= 5; n++) {
            check(ringo_chan_recv(squares, &v) && v == n * n, "the first squares arrive in order");
        }
        ringo_cancel(ctx);              /* early cancel; the deferred one is harmless */
        RINGO_CHAN_FOREACH(squares, v)  /* drain until the stage closes its output */
            ;
        ringo_chan_unref(squares);
        int64_t start = ringo_now();
        while (atomic_load(&stages_alive) > 0 && ringo_now() - start < 10 * RINGO_SECOND)
            ringo_sleep(RINGO_MILLISECOND);
        long left = atomic_load(&stages_alive);
        printf("pipeline cancelled after 5 values: %ld stage fibers left\n", left);
        check(left == 0, "cancel ends every stage");
    }
}

/* ---- fan-out / fan-in --------------------------------------------------------------------- */

struct fetcher { ringo_chan_t *in, *out; };     /* own references */

static void fetcher_fiber(void *arg)             /* fan-out: many readers of one channel */
{
    struct fetcher *f = arg;
    long n, r;
    RINGO_CHAN_FOREACH(f->in, n) {
        check(remote(NULL, "square", n, &r) == 0, "a fan-out request succeeds");
        ringo_chan_send(f->out, &r);
    }
    ringo_chan_close(f->out);
    ringo_chan_unref(f->out);
    ringo_chan_unref(f->in);
}

struct forwarder { ringo_chan_t *from, *to; ringo_waitgroup_t *wg; };   /* own references */

static void forward_fiber(void *arg)
{
    struct forwarder *f = arg;
    long v;
    RINGO_CHAN_FOREACH(f->from, v)
        ringo_chan_send(f->to, &v);
    ringo_chan_unref(f->from);
    ringo_chan_unref(f->to);
    ringo_waitgroup_done(f->wg);
}

struct merge_closer { ringo_chan_t *out; ringo_waitgroup_t *wg; };

static void merge_closer_fiber(void *arg)
{
    struct merge_closer *m = arg;
    ringo_waitgroup_wait(m->wg);
    ringo_chan_close(m->out);
    ringo_chan_unref(m->out);
    free(m->wg);                /* its only waiter was us */
}

/* func merge(cs ...<-chan T) <-chan T: the fan-in. */
static ringo_chan_t *merge(ringo_chan_t *const *cs, int k)
{
    ringo_chan_t *out = ringo_chan_make(sizeof(long), 0);
    ringo_waitgroup_t *wg = calloc(1, sizeof *wg);
    check(out && wg, "allocation");
    for (int i = 0; i < k; i++) {
        struct forwarder f = {ringo_chan_ref(cs[i]), ringo_chan_ref(out), wg};
        ringo_waitgroup_add(wg, 1);
        check(ringo_go_copy(forward_fiber, &f, sizeof f) == 0, "ringo_go_copy");
    }
    struct merge_closer m = {ringo_chan_ref(out), wg};
    check(ringo_go_copy(merge_closer_fiber, &m, sizeof m) == 0, "ringo_go_copy");
    return out;
}

static void fan_out_fan_in_demo(void)
{
    enum { N = 24, K = 3 };
    ringo_chan_t *in = ringo_chan_make(sizeof(long), N);
    check(in != NULL, "ringo_chan_make");
    ringo_chan_t *outs[K];
    for (int i = 0; i < K; i++) {
        outs[i] = ringo_chan_make(sizeof(long), 0);
        check(outs[i] != NULL, "ringo_chan_make");
        struct fetcher f = {ringo_chan_ref(in), ringo_chan_ref(outs[i])};
        check(ringo_go_copy(fetcher_fiber, &f, sizeof f) == 0, "ringo_go_copy");
    }
    ringo_chan_t *all = merge(outs, K);
    for (int i = 0; i < K; i++)
        ringo_chan_unref(outs[i]);      /* the fetchers and forwarders hold theirs */
    for (long n = 1; n <= N; n++)
        ringo_chan_send(in, &n);
    ringo_chan_close(in);
    ringo_chan_unref(in);

    long v, sum = 0, want = 0;
    int count = 0;
    RINGO_CHAN_FOREACH(all, v) {
        sum += v;
        count++;
    }
    ringo_chan_unref(all);
    for (long n = 1; n <= N; n++)
        want += n * n;
    printf("fan-out/fan-in: %d requests over %d fetchers, merged sum %ld\n", count, K, sum);
    check(count == N && sum == want, "every square arrived exactly once");
}

static void main_fiber(void *arg)
{
    (void)arg;
    struct local_server srv;
    check(local_server_start(&srv, arith_handler) == 0, "the local server starts");
    port = srv.port;
    worker_pool_demo(&srv);
    pipeline_demo();
    fan_out_fan_in_demo();
    local_server_stop(&srv);
    printf("the server answered %d requests\n", atomic_load(&srv.requests));
    check(example_fibers_reach(1), "every fiber winds down");
    check(ringo_expect_no_leaks() == 0, "no fiber left behind");
    puts("ok");
}

int main(void)
{
    return example_run(main_fiber);
}

/*
 * ctx_cancel: how long cancelling the root of a large context tree takes to
 * reach 100,000 fibers blocked on its leaves, on two workers.
 *
 * Main builds a 10-ary tree of cancellable contexts five levels deep under
 * a root: root = ringo_with_cancel(ringo_background()), and every other node
 * ringo_with_cancel of its parent, 111,111 contexts in all with 100,000
 * leaves (stored in heap order: node i's parent is (i-1)/10, the leaves are
 * the last 100,000). It then spawns one fiber per leaf. Each fiber fetches
 * its leaf's done channel, signals "ready" on a WaitGroup, and blocks in
 * ringo_chan_recv on that channel; once woken it checks that the receive
 * reported a closed channel and that ringo_ctx_err is -ECANCELED, counts
 * itself as having observed the cancellation (an atomic), and calls done on
 * a second WaitGroup. Main waits for every "ready" and sleeps 10 ms so the
 * last few fibers to signal are parked too (a fiber can only signal before
 * it blocks; one that has not quite parked by then is harmless). Then, timed:
 * ringo_cancel(root), which cancels the whole tree, and ringo_waitgroup_wait
 * until all 100,000 fibers are through. Check: all 100,000 observed the
 * cancellation.
 * Reported: that time ("ctx_cancel: X ms"); the tree's build time and the
 * teardown (one ringo_ctx_unref per node, releasing the creator's
 * references; the cancel was the timed one) are detail lines.
 * Run with RINGO_WORKERS=2. BENCH_N overrides the number of leaves N
 * (default 100,000; must be a power of 10 and at most 10,000,000; the tree
 * is log10(N) levels deep).
 *
 * Context lifetime: main holds the creator's reference to every node until
 * the teardown, which starts after the second Wait returned, that is after
 * each fiber's last use of its leaf (ringo_ctx_err comes before its done).
 * So the fibers borrow their leaf and its done channel and take no
 * reference of their own.
 *
 * Go twin: bench/go/ctx_cancel (a context.WithCancel tree, goroutines
 * blocked in <-ctx.Done(), sync.WaitGroup, GOMAXPROCS=2).
 */
#include "bench.h"

#include <stdatomic.h>

#define DIV 10
#define MAX_LEAVES 10000000

static int64_t n_leaves, n_nodes;
static int depth;
static ringo_ctx_t **nodes;     /* n_nodes, heap order; allocated by main() */
static ringo_waitgroup_t ready; /* every waiter is (about to be) parked */
static ringo_waitgroup_t wg;    /* every waiter is through */
static _Atomic int64_t observed;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t build_ns, elapsed_ns, teardown_ns;
static int fail_rc;             /* -ENOMEM from ringo_with_cancel, or ringo_go's rc */
static const char *fail_what;
static int64_t fail_at;

static void waiter(void *arg)
{
    ringo_ctx_t *ctx = arg;     /* borrowed: main holds the creator's reference */
    ringo_chan_t *done = ringo_ctx_done(ctx);
    ringo_waitgroup_done(&ready);
    /* done is never NULL for a cancellable context; if it were, the recv
     * would block forever, so skip it and go uncounted instead. */
    if (done != NULL && !ringo_chan_recv(done, NULL) && ringo_ctx_err(ctx) == -ECANCELED)
        atomic_fetch_add(&observed, 1);
    ringo_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t built = 0;
    int64_t t0 = ringo_now();
    for (int64_t i = 0; i < n_nodes; i++) {
        nodes[i] = ringo_with_cancel(i == 0 ? ringo_background() : nodes[(i - 1) / DIV]);
        if (nodes[i] == NULL) {
            fail_rc = -ENOMEM;
            fail_what = "ringo_with_cancel";
            fail_at = i;
            goto release;
        }
        built++;
    }
    build_ns = ringo_now() - t0;

    int64_t first_leaf = n_nodes - n_leaves;
    ringo_waitgroup_add(&ready, (int)n_leaves);
    ringo_waitgroup_add(&wg, (int)n_leaves);
    for (int64_t i = 0; i < n_leaves; i++) {
        int rc = ringo_go(waiter, nodes[first_leaf + i]);
        if (rc != 0) {
            /* Take back the fibers that will never signal; the ones that
             * exist are released by the cancel below like in a good run. */
            fail_rc = rc;
            fail_what = "ringo_go";
            fail_at = i;
            ringo_waitgroup_add(&ready, -(int)(n_leaves - i));
            ringo_waitgroup_add(&wg, -(int)(n_leaves - i));
            break;
        }
    }
    ringo_waitgroup_wait(&ready);
    ringo_sleep(10 * RINGO_MILLISECOND);

    t0 = ringo_now();
    ringo_cancel(nodes[0]);
    ringo_waitgroup_wait(&wg);
    elapsed_ns = ringo_now() - t0;

    /* The root's ringo_cancel was the timed one; this releases. */
    t0 = ringo_now();
    for (int64_t i = n_nodes - 1; i >= 0; i--)
        ringo_ctx_unref(nodes[i]);
    teardown_ns = ringo_now() - t0;
    return;

release:
    /* No fiber exists yet: just drop what was built, each node once. */
    for (int64_t i = built - 1; i >= 0; i--)
        ringo_ctx_unref(nodes[i]);
}

int main(void)
{
    n_leaves = bench_n(100000);
    n_nodes = 0;
    depth = 0;
    for (int64_t p = 1;; p *= DIV) {
        n_nodes += p;
        if (p == n_leaves)
            break;
        if (p > n_leaves / DIV || p >= MAX_LEAVES) {
            fprintf(stderr, BENCH_NAME ": BENCH_N %lld is not a power of %d up to %d\n",
                    (long long)n_leaves, DIV, MAX_LEAVES);
            return 2;
        }
        depth++;
    }
    nodes = calloc((size_t)n_nodes, sizeof *nodes);
    if (nodes == NULL)
        bench_fail("out of memory for %lld context pointers", (long long)n_nodes);

    bench_run(bench_main);
    if (fail_rc != 0)
        bench_fail("%s failed at %lld: %s", fail_what, (long long)fail_at, strerror(-fail_rc));
    if (atomic_load(&observed) != n_leaves)
        bench_fail("%lld fibers observed the cancellation, want %lld",
                   (long long)atomic_load(&observed), (long long)n_leaves);
    free(nodes);
    printf("# contexts %lld (%d-ary, depth %d), waiting fibers %lld\n", (long long)n_nodes, DIV,
           depth, (long long)n_leaves);
    printf("# build %.1f ms, teardown %.1f ms, cancel-to-all-woken %.1f ns/fiber\n",
           bench_ms(build_ns), bench_ms(teardown_ns), (double)elapsed_ns / (double)n_leaves);
    bench_result("%.1f ms", bench_ms(elapsed_ns));
    return 0;
}

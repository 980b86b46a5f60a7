/*
 * skynet: the classic skynet benchmark (github.com/atemerev/skynet) on two
 * workers: a 10-ary tree of 1,111,111 fibers whose 1,000,000 leaves carry
 * the numbers 0..999999 and whose inner nodes add up their children's sums.
 *
 * A node for [num, num+size) with size 1 sends num to its parent. Otherwise
 * it makes one unbuffered int64 channel (as in the classic Go program: one
 * channel per parent, shared by its 10 children), spawns 10 children for
 * the tenths of its range, receives 10 values from that channel, drops it
 * and sends the sum to its own parent. Main spawns the root and receives
 * the total, which must be 499999500000 (N*(N-1)/2).
 * Reported: wall time from spawning the root to receiving the total
 * ("skynet: X ms"). Run with RINGO_WORKERS=2. BENCH_N overrides the number
 * of leaves N (default 1,000,000; must be a power of 10).
 *
 * Go twin: bench/go/skynet (GOMAXPROCS=2).
 */
#include "bench.h"

#include <stdatomic.h>

#define DIV 10

/*
 * A node's arguments, passed by value with ringo_go_copy: each child gets
 * its own copy on its own stack, so the parent's loop variable can move on.
 *
 * out is borrowed, not referenced. The parent keeps its channel until it has
 * received all DIV results and only then drops it; a child's one and only
 * use of out is its final send, and a send is complete once the parent has
 * received the value, so by the time the parent drops the channel no child
 * can still touch it. This holds for an unbuffered channel (the send hands
 * the value straight to the receiver) as it would for one of capacity DIV
 * (the value sits in the buffer, the sender is long gone). Taking a
 * reference per child would cost 1,111,111 ref/unref pairs for nothing.
 */
struct node_arg {
    int64_t num;
    int64_t size;
    ringo_chan_t *out;
};

static int64_t n_leaves;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t total;
static int64_t elapsed_ns;
/* First failure anywhere in the tree (-ENOMEM from ringo_chan_make or
 * ringo_go_copy's rc), 0 if none; set once from any worker. */
static _Atomic int fail_rc;
static const char *_Atomic fail_what;

static void fail(int rc, const char *what)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&fail_rc, &expected, rc))
        atomic_store(&fail_what, what);
}

static void node(void *arg)
{
    const struct node_arg *a = arg;   /* our own copy (ringo_go_copy) */
    int64_t sum = 0;
    if (a->size == 1) {
        sum = a->num;
        ringo_chan_send(a->out, &sum);
        return;
    }
    ringo_chan_t *rc = ringo_chan_make(sizeof(int64_t), 0);
    if (rc == NULL) {
        /* Report 0 for this subtree so that the tree still completes; the
         * total is then wrong and main reports the failure. */
        fail(-ENOMEM, "ringo_chan_make");
        ringo_chan_send(a->out, &sum);
        return;
    }
    int64_t sub = a->size / DIV;
    int spawned = 0;
    for (int i = 0; i < DIV; i++) {
        struct node_arg child = {a->num + i * sub, sub, rc};
        int err = ringo_go_copy(node, &child, sizeof child);
        if (err != 0) {
            /* Wait only for the children that exist; as above. */
            fail(err, "ringo_go_copy");
            break;
        }
        spawned++;
    }
    for (int i = 0; i < spawned; i++) {
        int64_t v;
        ringo_chan_recv(rc, &v);
        sum += v;
    }
    ringo_chan_unref(rc);   /* all children have sent: none touches it again */
    ringo_chan_send(a->out, &sum);
}

static void bench_main(void *arg)
{
    (void)arg;
    ringo_chan_t *root = ringo_chan_make(sizeof(int64_t), 0);
    if (root == NULL) {
        fail(-ENOMEM, "ringo_chan_make");
        return;
    }
    int64_t t0 = ringo_now();
    struct node_arg a = {0, n_leaves, root};
    int rc = ringo_go_copy(node, &a, sizeof a);
    if (rc != 0) {
        fail(rc, "ringo_go_copy");
        ringo_chan_unref(root);
        return;
    }
    ringo_chan_recv(root, &total);
    elapsed_ns = ringo_now() - t0;
    ringo_chan_unref(root);   /* the root node has sent: it never touches it again */
}

int main(void)
{
    n_leaves = bench_n(1000000);
    int64_t fibers = 0;
    for (int64_t p = 1;; p *= DIV) {
        fibers += p;
        if (p == n_leaves)
            break;
        if (p > n_leaves / DIV) {
            fprintf(stderr, BENCH_NAME ": BENCH_N %lld is not a power of %d\n",
                    (long long)n_leaves, DIV);
            return 2;
        }
    }

    bench_run(bench_main);
    bench_check_rc(atomic_load(&fail_rc), atomic_load(&fail_what));
    bench_check_sum(total, bench_triangle(n_leaves));
    printf("# leaves %lld, fibers %lld, %.1f ns/fiber\n", (long long)n_leaves,
           (long long)fibers, (double)elapsed_ns / (double)fibers);
    bench_result("%.1f ms", bench_ms(elapsed_ns));
    return 0;
}

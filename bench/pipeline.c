/*
 * pipeline: a source, four stages and a sink joined by unbuffered
 * channels, on two workers.
 *
 * The source sends 0..N-1 on link 0 and closes it; stage k (k = 1..4)
 * receives from link k-1 until it is closed, sends each value plus one on
 * link k, and closes link k. Main is the sink: it receives from link 4
 * until it is closed, counting and summing. The count must be N and the
 * sum N*(N-1)/2 + 4N. Each item crosses five rendezvous in a chain, so
 * this measures how well the scheduler keeps a chain of hand-offs flowing
 * across workers. Reported: wall time (spawns to the sink's last receive)
 * / N ("pipeline: X ns/item"). Run with RINGO_WORKERS=2. BENCH_N overrides
 * N (default 500,000).
 *
 * Channel lifetime: main owns the links and drops them once link 4 is
 * closed: every stage closed its output after its last use of both its
 * links, and the source's close of link 0 came before stage 1 saw it.
 *
 * Go twin: bench/go/pipeline (GOMAXPROCS=2).
 */
#include "bench.h"

#define STAGES 4

static int64_t n_items;
static ringo_chan_t *links[STAGES + 1];

/* Results, printed by main() once ringo_run() has returned. */
static int64_t count, sum;
static int64_t elapsed_ns;
static int fail_rc;
static const char *fail_what;

static void source(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < n_items; i++)
        ringo_chan_send(links[0], &i);
    ringo_chan_close(links[0]);
}

static void stage(void *arg)
{
    intptr_t k = (intptr_t)arg;
    int64_t v;
    while (ringo_chan_recv(links[k - 1], &v)) {
        v++;
        ringo_chan_send(links[k], &v);
    }
    ringo_chan_close(links[k]);
}

static void bench_main(void *arg)
{
    (void)arg;
    for (int k = 0; k <= STAGES; k++) {
        links[k] = ringo_chan_make(sizeof(int64_t), 0);
        if (!links[k]) {
            fail_rc = -ENOMEM;
            fail_what = "ringo_chan_make";
            return;     /* the process exits: nothing to unref */
        }
    }
    int64_t t0 = ringo_now();
    for (intptr_t k = 1; k <= STAGES; k++) {
        int rc = ringo_go(stage, (void *)k);
        if (rc != 0) {
            fail_rc = rc;
            fail_what = "ringo_go";
            return;     /* fibers already running keep the links */
        }
    }
    int rc = ringo_go(source, NULL);
    if (rc != 0) {
        fail_rc = rc;
        fail_what = "ringo_go";
        return;
    }
    int64_t v;
    while (ringo_chan_recv(links[STAGES], &v)) {
        count++;
        sum += v;
    }
    elapsed_ns = ringo_now() - t0;
    for (int k = 0; k <= STAGES; k++)
        ringo_chan_unref(links[k]);
}

int main(void)
{
    n_items = bench_n(500000);
    bench_run(bench_main);
    bench_check_rc(fail_rc, fail_what);
    if (count != n_items)
        bench_fail("sink received %lld items, want %lld", (long long)count, (long long)n_items);
    bench_check_sum(sum, bench_triangle(n_items) + STAGES * n_items);
    printf("# items %lld, stages %d, total %.1f ms\n", (long long)n_items, STAGES,
           bench_ms(elapsed_ns));
    bench_result("%.1f ns/item", (double)elapsed_ns / (double)n_items);
    return 0;
}

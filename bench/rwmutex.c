/*
 * rwmutex: the cost of a read-mostly ringo_rwmutex_t, 1,000 fibers on two
 * workers.
 *
 * Shared state: an array of 16 int64, all zero. Main spawns 1,000 fibers;
 * fiber f does the operations [N*f/1000, N*(f+1)/1000) of 0..N-1, where
 * operation j is a write if j % 10 == 0 and a read otherwise (90% reads).
 * A read takes the read lock, sums the 16 values and checks that they are
 * all equal, then unlocks; a write takes the write lock and increments all
 * 16. Completion goes through a WaitGroup, which main waits on.
 * Checks: every slot ends at the number of writes W = ceil(N/10) (a lost
 * update means writers overlapped), the fibers did N - W reads, and no read
 * saw a half-done write (unequal slots mean a reader overlapped a writer).
 * Reported: wall time (first spawn to Wait returning) / N
 * ("rwmutex: X ns/op"). Run with RINGO_WORKERS=2. BENCH_N overrides N
 * (default 10,000,000).
 *
 * Go twin: bench/go/rwmutex (sync.RWMutex, sync.WaitGroup, GOMAXPROCS=2).
 */
#include "bench.h"

#include <stdatomic.h>

#define FIBERS 1000
#define SLOTS 16
#define WRITE_EVERY 10

static int64_t n_ops;
static ringo_rwmutex_t rw;
static int64_t data[SLOTS];      /* guarded by rw */
static ringo_waitgroup_t wg;
static _Atomic int64_t reads;    /* added once per fiber */
static _Atomic int64_t torn;     /* reads that saw unequal slots */
static _Atomic int64_t read_sum; /* keeps the reads' sums alive */

/* Results, printed by main() once ringo_run() has returned. */
static int64_t final[SLOTS];
static int64_t elapsed_ns;
static int spawn_rc;             /* first ringo_go_copy() failure (-errno), or 0 */
static int64_t spawn_failed_at;

static void worker(void *arg)
{
    const struct bench_range *r = arg;   /* our own copy (ringo_go_copy) */
    int64_t my_reads = 0, my_torn = 0, my_sum = 0;
    for (int64_t j = r->lo; j < r->hi; j++) {
        if (j % WRITE_EVERY == 0) {
            ringo_rwmutex_lock(&rw);
            for (int s = 0; s < SLOTS; s++)
                data[s]++;
            ringo_rwmutex_unlock(&rw);
        } else {
            ringo_rwmutex_rlock(&rw);
            int64_t first = data[0], sum = 0;
            int bad = 0;
            for (int s = 0; s < SLOTS; s++) {
                sum += data[s];
                bad |= data[s] != first;
            }
            ringo_rwmutex_runlock(&rw);
            my_sum += sum;
            my_torn += bad;
            my_reads++;
        }
    }
    atomic_fetch_add(&reads, my_reads);
    atomic_fetch_add(&torn, my_torn);
    atomic_fetch_add(&read_sum, my_sum);
    ringo_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t t0 = ringo_now();
    spawn_rc = bench_fan_out(worker, FIBERS, n_ops, &wg, &spawn_failed_at);
    ringo_waitgroup_wait(&wg);
    elapsed_ns = ringo_now() - t0;
    ringo_rwmutex_rlock(&rw);
    memcpy(final, data, sizeof final);
    ringo_rwmutex_runlock(&rw);
}

int main(void)
{
    n_ops = bench_n(10000000);
    bench_run(bench_main);
    bench_check_spawn(spawn_rc, spawn_failed_at);
    int64_t writes = (n_ops + WRITE_EVERY - 1) / WRITE_EVERY;
    for (int s = 0; s < SLOTS; s++)
        if (final[s] != writes)
            bench_fail("slot %d is %lld, want %lld writes", s, (long long)final[s],
                       (long long)writes);
    if (atomic_load(&reads) != n_ops - writes)
        bench_fail("%lld reads, want %lld", (long long)atomic_load(&reads),
                   (long long)(n_ops - writes));
    if (atomic_load(&torn) != 0)
        bench_fail("%lld reads saw a write half done", (long long)atomic_load(&torn));
    printf("# fibers %d, ops %lld (reads %lld, writes %lld) on %d slots, total %.1f ms\n", FIBERS,
           (long long)n_ops, (long long)(n_ops - writes), (long long)writes, SLOTS,
           bench_ms(elapsed_ns));
    bench_result("%.1f ns/op", (double)elapsed_ns / (double)n_ops);
    return 0;
}

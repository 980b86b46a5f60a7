/* Description: fibers. A million spawned fibers all run and the fiber count
 * returns to 1; ringo_go_copy gives each fiber its own arguments (the
 * loop-variable bug and its fix); ids are unique; ringo_exit ends only the
 * calling fiber, running the cleanup handlers of the frames it leaves
 * (RINGO_DEFER_CANCEL cancels, a Once whose function exits counts as done);
 * main's return abandons the rest (Go's main semantics) and a
 * second runtime starts clean after the first; plain threads may spawn;
 * misuse fails cleanly (-EBUSY, -EINVAL) or panics as Go would.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_long counter;
static atomic_long sum;

static void wait_for(atomic_long *v, long want)
{
    while (atomic_load(v) < want)
        ringo_yield();
}

/* The count drops when a fiber's stack is back in the pool, a moment after
 * its function returned: give the workers time, bounded. */
static void wait_fibers(size_t want)
{
    int64_t deadline = ringo_now() + 10 * RINGO_SECOND;
    while (ringo_num_fibers() != want && ringo_now() < deadline)
        ringo_yield();
    assert_int_equal(ringo_num_fibers(), want);
}

/* ---- a million fibers ---------------------------------------------------------- */

static void add_index(void *arg)
{
    atomic_fetch_add(&sum, (long)(intptr_t)arg);
    atomic_fetch_add(&counter, 1);
}

static void million_main(void *arg)
{
    (void)arg;
    long n = iters(1000000);
    assert_int_equal(ringo_num_fibers(), 1);
    long cap = live_cap(n);
    for (long i = 0; i < n; i++) {
        assert_int_equal(ringo_go(add_index, (void *)(intptr_t)i), 0);
        if (cap < n && i % cap == cap - 1)
            wait_for(&counter, i + 1);      /* TSan: bounded fibers alive */
    }
    wait_for(&counter, n);
    assert_int_equal(atomic_load(&sum), n * (n - 1) / 2);
    wait_fibers(1);
}

static void test_million_fibers(void **state)
{
    (void)state;
    atomic_store(&counter, 0);
    atomic_store(&sum, 0);
    run_main(2, million_main, NULL);
}

/* ---- ringo_go_copy: each fiber its own arguments ---------------------------------- */

struct item {
    int index;
    char name[20];
};

static atomic_int seen[64];

static void take_item(void *arg)
{
    struct item *it = arg;
    char want[20];
    snprintf(want, sizeof(want), "item-%d", it->index);
    if (it->index >= 0 && it->index < 64 && strcmp(it->name, want) == 0)
        atomic_fetch_add(&seen[it->index], 1);
    atomic_fetch_add(&counter, 1);
}

static void copy_main(void *arg)
{
    (void)arg;
    /* One loop variable, reused: with ringo_go(&item) every fiber would see
     * the last value (Go's bug); ringo_go_copy snapshots it per fiber. */
    struct item it;
    for (int i = 0; i < 64; i++) {
        it.index = i;
        snprintf(it.name, sizeof(it.name), "item-%d", i);
        assert_int_equal(ringo_go_copy(take_item, &it, sizeof(it)), 0);
    }
    memset(&it, 0xff, sizeof(it));
    wait_for(&counter, 64);
    for (int i = 0; i < 64; i++)
        assert_int_equal(atomic_load(&seen[i]), 1);

    /* Too big for a quarter of the stack: refused, nothing runs. */
    static char big[1 << 20];
    assert_int_equal(ringo_go_copy(take_item, big, sizeof(big)), -EINVAL);
    assert_int_equal(ringo_go(NULL, NULL), -EINVAL);
}

static void test_go_copy(void **state)
{
    (void)state;
    atomic_store(&counter, 0);
    for (int i = 0; i < 64; i++)
        atomic_store(&seen[i], 0);
    run_main(2, copy_main, NULL);
}

/* ---- ids, exit --------------------------------------------------------------------- */

static uint64_t ids[1000];

static void record_id(void *arg)
{
    ids[(intptr_t)arg] = ringo_fiber_id();
    atomic_fetch_add(&counter, 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void ids_main(void *arg)
{
    (void)arg;
    assert_int_equal(ringo_fiber_id(), 1);   /* main is fiber 1, as in Go */
    for (intptr_t i = 0; i < 1000; i++)
        assert_int_equal(ringo_go(record_id, (void *)i), 0);
    wait_for(&counter, 1000);
    qsort(ids, 1000, sizeof(ids[0]), cmp_u64);
    for (int i = 0; i < 1000; i++) {
        assert_true(ids[i] > 1);
        if (i)
            assert_true(ids[i] != ids[i - 1]);
    }
}

static void test_fiber_ids(void **state)
{
    (void)state;
    atomic_store(&counter, 0);
    run_main(2, ids_main, NULL);
    assert_int_equal(ringo_fiber_id(), 0);  /* not a fiber */
}

static void exits_early(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    ringo_exit();
    atomic_fetch_add(&counter, 1000);   /* never reached */
}

static void exit_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        assert_int_equal(ringo_go(exits_early, NULL), 0);
    wait_for(&counter, 100);
    wait_fibers(1);
    assert_int_equal(atomic_load(&counter), 100);
}

static void test_exit(void **state)
{
    (void)state;
    atomic_store(&counter, 0);
    run_main(2, exit_main, NULL);
}

/* ---- ringo_exit runs the cleanups of the frames it leaves ------------------------------
 * Go's Goexit runs the goroutine's deferred calls. ringo_exit used to end
 * the fiber on the spot: RINGO_DEFER_CANCEL never cancelled (whoever waited
 * on the context waited forever) and no cleanup handler ran. Now it unwinds
 * the stack, innermost frame first, running each cleanup, and a cleanup
 * may block like any fiber code. */

static ringo_chan_t *exit_ctxs, *exit_steps;

/* Blocks until main takes the step: an unbuffered send. */
static void note_step(int *depth)
{
    ringo_chan_send(exit_steps, depth);
}

__attribute__((noinline)) static void exit_at_3(void)
{
    int mark __attribute__((cleanup(note_step))) = 3;
    ringo_exit();
}

__attribute__((noinline)) static void exit_at_2(void)
{
    int mark __attribute__((cleanup(note_step))) = 2;
    exit_at_3();
}

__attribute__((noinline)) static void exit_from_1(void)
{
    int mark __attribute__((cleanup(note_step))) = 1;
    exit_at_2();
}

static void cancels_then_exits(void *arg)
{
    (void)arg;
    ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(ringo_background());
    ringo_ctx_t *ref = ringo_ctx_ref(ctx);
    ringo_chan_send(exit_ctxs, &ref);
    exit_from_1();
}

static void defer_cancel_main(void *arg)
{
    (void)arg;
    exit_ctxs = ringo_chan_make(sizeof(ringo_ctx_t *), 0);
    exit_steps = ringo_chan_make(sizeof(int), 0);
    long rounds = iters(1000);
    for (long r = 0; r < rounds; r++) {
        assert_int_equal(ringo_go(cancels_then_exits, NULL), 0);
        ringo_ctx_t *ctx = NULL;
        assert_true(ringo_chan_recv(exit_ctxs, &ctx));
        assert_int_equal(ringo_ctx_err(ctx), 0);
        for (int want = 3; want >= 1; want--) {
            int step = 0;
            assert_true(ringo_chan_recv(exit_steps, &step));
            assert_int_equal(step, want);
        }
        assert_false(ringo_chan_recv(ringo_ctx_done(ctx), NULL));
        assert_int_equal(ringo_ctx_err(ctx), -ECANCELED);
        ringo_ctx_unref(ctx);
    }
    wait_fibers(1);
    ringo_chan_unref(exit_ctxs);
    ringo_chan_unref(exit_steps);
}

static void test_exit_runs_defer_cancel(void **state)
{
    (void)state;
    run_checked(2, defer_cancel_main, NULL);
}

/* ringo_exit inside ringo_once_do's function left the Once locked and not
 * done: every later caller blocked forever. Go's Once counts a Goexit in f
 * as f having returned: later calls return at once without calling f, and
 * callers already waiting are let go. */

#define ONCE_WAITERS 4

static ringo_chan_t *once_go, *once_who, *once_done;

static void once_fn_exits(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    int go = 0;
    ringo_chan_recv(once_go, &go);
    ringo_exit();
}

static void once_fn_counts(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1000);
}

static void exits_in_once(void *arg)
{
    ringo_once_do(arg, once_fn_exits, NULL);
    CHECK(!"ringo_once_do returned to a fiber that called ringo_exit");
}

static void waits_on_once(void *arg)
{
    report_self(once_who);
    ringo_once_do(arg, once_fn_counts, NULL);
    signal_done(once_done);
}

static void exit_once_main(void *arg)
{
    (void)arg;
    once_go = ringo_chan_make(sizeof(int), 0);
    once_who = ringo_chan_make(sizeof(ringo__fiber_t *), ONCE_WAITERS);
    once_done = ringo_chan_make(sizeof(int), ONCE_WAITERS);
    long rounds = iters(500);
    for (long r = 0; r < rounds; r++) {
        ringo_once_t once = {0};
        atomic_store(&counter, 0);
        assert_int_equal(ringo_go(exits_in_once, &once), 0);
        while (atomic_load(&counter) < 1)
            ringo_yield();
        /* The function is running; these block in ringo_once_do. */
        for (int i = 0; i < ONCE_WAITERS; i++)
            assert_int_equal(ringo_go(waits_on_once, &once), 0);
        for (int i = 0; i < ONCE_WAITERS; i++)
            wait_parked(await_report(once_who));
        int go = 1;
        ringo_chan_send(once_go, &go);
        await_done(once_done, ONCE_WAITERS);
        /* And later callers return at once. */
        ringo_once_do(&once, once_fn_counts, NULL);
        assert_int_equal(atomic_load(&counter), 1);
        wait_fibers(1);
    }
    ringo_chan_unref(once_go);
    ringo_chan_unref(once_who);
    ringo_chan_unref(once_done);
}

static void test_exit_inside_once_marks_it_done(void **state)
{
    (void)state;
    run_checked(2, exit_once_main, NULL);
}

/* ---- main's return abandons the others; a second runtime starts clean ---------------- */

static void forever(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    for (;;)
        ringo_sleep(RINGO_HOUR);
}

static void spinner(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    for (;;)
        ringo_yield();
}

static void abandon_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ringo_go(forever, NULL), 0);
    assert_int_equal(ringo_go(spinner, NULL), 0);
    wait_for(&counter, 1001);
    assert_int_equal(ringo_num_fibers(), 1002);
    /* Returning ends the program's fibers; ringo_run frees their memory. */
}

static void second_main(void *arg)
{
    (void)arg;
    assert_int_equal(ringo_num_fibers(), 1);
    assert_int_equal(ringo_fiber_id(), 1);
    atomic_fetch_add(&counter, 1);
}

static void test_abandon_and_rerun(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        atomic_store(&counter, 0);
        run_main(2, abandon_main, NULL);
        assert_int_equal(ringo_num_fibers(), 0);    /* no runtime now */
        atomic_store(&counter, 0);
        run_main(1, second_main, NULL);
        assert_int_equal(atomic_load(&counter), 1);
    }
}

/* ---- misuse -------------------------------------------------------------------------- */

static int nested_rc;

static void nested_main(void *arg)
{
    (void)arg;
    nested_rc = ringo_run(NULL, second_main, NULL);
}

static void test_run_errors(void **state)
{
    (void)state;
    assert_int_equal(ringo_run(NULL, NULL, NULL), -EINVAL);
    ringo_config_t tiny = {.stack_size = 1024};
    assert_int_equal(ringo_run(&tiny, second_main, NULL), -EINVAL);
    run_main(1, nested_main, NULL);
    assert_int_equal(nested_rc, -EBUSY);
}

static void go_outside(void)
{
    ringo_go(add_index, NULL);
}

static void test_go_without_runtime_panics(void **state)
{
    (void)state;
    death_test(go_outside, "ringo: panic: ringo_go: no runtime is running");
}

/* ---- plain threads may spawn ------------------------------------------------------------- */

static void *thread_spawner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        if (ringo_go(add_index, (void *)(intptr_t)i) != 0)
            abort();
    return NULL;
}

static void thread_main(void *arg)
{
    (void)arg;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_spawner, NULL), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);  /* blocks this worker briefly: fine in a test */
    wait_for(&counter, 2000);
    assert_int_equal(atomic_load(&sum), 2 * (999 * 1000 / 2));
}

static void test_spawn_from_plain_thread(void **state)
{
    (void)state;
    atomic_store(&counter, 0);
    atomic_store(&sum, 0);
    run_main(2, thread_main, NULL);
}

/* ---- a fiber that outlives many switches keeps its stack data ------------------------------ */

static void stack_keeper(void *arg)
{
    long buf[512];
    for (int i = 0; i < 512; i++)
        buf[i] = (long)(intptr_t)arg * 1000 + i;
    for (int r = 0; r < 100; r++) {
        ringo_yield();
        for (int i = 0; i < 512; i++)
            if (buf[i] != (long)(intptr_t)arg * 1000 + i)
                abort();
    }
    atomic_fetch_add(&counter, 1);
}

static void keeper_main(void *arg)
{
    (void)arg;
    for (intptr_t i = 0; i < 200; i++)
        assert_int_equal(ringo_go(stack_keeper, (void *)i), 0);
    wait_for(&counter, 200);
}

static void test_stack_contents_survive_migration(void **state)
{
    (void)state;
    atomic_store(&counter, 0);
    run_main(2, keeper_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_fibers),
        cmocka_unit_test(test_go_copy),
        cmocka_unit_test(test_fiber_ids),
        cmocka_unit_test(test_exit),
        cmocka_unit_test(test_exit_runs_defer_cancel),
        cmocka_unit_test(test_abandon_and_rerun),
        cmocka_unit_test(test_run_errors),
        cmocka_unit_test(test_go_without_runtime_panics),
        cmocka_unit_test(test_spawn_from_plain_thread),
        cmocka_unit_test(test_stack_contents_survive_migration),
        cmocka_unit_test(test_exit_inside_once_marks_it_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

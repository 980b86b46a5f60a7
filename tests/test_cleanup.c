/* tests/test_cleanup.c - ringo_run leaves nothing behind.
 *
 * A program exercises every part of the runtime that allocates (fibers by
 * the thousand, channels, select over channels, an fd and a timeout,
 * After/Timer/AfterFunc/Ticker including ones still pending when main
 * returns, contexts with deadlines and AfterFuncs, Map, Pool, the
 * semaphore) and then returns from main. Once ringo_run has returned, the
 * heap must hold nothing the runtime allocated: LeakSanitizer (in the ASan
 * build) and memcheck (under `meson test --setup valgrind`) are asked for a
 * leak check right then, twice over (two runs in one process), and any
 * leaked byte fails the test. In other builds the workload still runs and
 * checks its results.
 */
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

#ifdef RINGO_ASAN
#include <sanitizer/lsan_interface.h>
#endif
#if RINGO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

static void pinger(void *arg)
{
    ringo_chan_t *c = arg;
    long v;
    while (ringo_chan_recv(c, &v))
        ;
    ringo_chan_unref(c);
}

static void after_fn(void *arg)
{
    ringo_waitgroup_done(arg);
}

static void *pool_new(void)
{
    return malloc(64);
}

static void workload(void *arg)
{
    (void)arg;
    /* Fibers and channels. */
    ringo_chan_t *c = ringo_chan_make(sizeof(long), 16);
    for (int i = 0; i < 1000; i++)
        CHECK(ringo_go(pinger, ringo_chan_ref(c)) == 0);
    for (long i = 0; i < 10000; i++)
        ringo_chan_send(c, &i);
    ringo_chan_close(c);
    ringo_chan_unref(c);

    /* select: a channel, an fd (its poll is cancelled when it loses) and a
     * timeout. */
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK) == 0);
    ringo_chan_t *never = ringo_chan_make(0, 0);
    for (int i = 0; i < 20; i++) {
        ringo_case_t cs[] = {RINGO_RECV(never, NULL), RINGO_READABLE(p[0]),
                             RINGO_TIMEOUT(RINGO_MICROSECOND)};
        CHECK(ringo_select(cs, 3) == 2);
    }
    ringo_chan_unref(never);
    close(p[0]);
    close(p[1]);

    /* Timers: fired, stopped, and still pending when main returns. */
    ringo_waitgroup_t wg = {0};
    ringo_chan_t *a = ringo_after(RINGO_MICROSECOND);
    CHECK(ringo_chan_recv(a, NULL));
    ringo_chan_unref(a);
    ringo_chan_unref(ringo_after(RINGO_HOUR));                  /* pending at the end */
    ringo_timer_t *t = ringo_timer_new(RINGO_HOUR);
    CHECK(ringo_timer_stop(t));
    ringo_timer_free(t);
    ringo_waitgroup_add(&wg, 1);
    ringo_timer_t *af = ringo_after_func(RINGO_MICROSECOND, after_fn, &wg);
    ringo_waitgroup_wait(&wg);
    ringo_timer_free(af);
    ringo_ticker_t *tk = ringo_ticker_new(RINGO_MICROSECOND * 100);
    CHECK(ringo_chan_recv(ringo_ticker_chan(tk), NULL));
    ringo_ticker_stop(tk);
    ringo_ticker_stop(tk);          /* idempotent, as in Go */
    ringo_ticker_free(tk);

    /* Contexts: a tree, a deadline that fires, one cancelled first, an
     * AfterFunc that runs and one stopped. */
    ringo_ctx_t *root = ringo_with_cancel(ringo_background());
    ringo_ctx_t *val = ringo_with_value(root, &wg, &wg);
    ringo_ctx_t *dl = ringo_with_timeout(val, RINGO_MICROSECOND);
    CHECK(ringo_chan_recv(ringo_ctx_done(dl), NULL) == false);
    ringo_ctx_t *late = ringo_with_timeout(root, RINGO_HOUR);
    ringo_waitgroup_add(&wg, 1);
    ringo_ctx_after_func(late, after_fn, &wg);
    uint64_t id = ringo_ctx_after_func(root, after_fn, &wg);
    CHECK(ringo_ctx_after_func_stop(root, id));
    ringo_cancel(late);
    ringo_ctx_unref(late);
    ringo_waitgroup_wait(&wg);
    ringo_cancel(dl);
    ringo_ctx_unref(dl);
    ringo_ctx_unref(val);
    ringo_cancel(root);
    ringo_ctx_unref(root);

    /* Map, Pool, semaphore. */
    ringo_map_t *m = ringo_map_new(free);
    for (long i = 0; i < 1000; i++)
        ringo_map_store(m, &i, sizeof(i), malloc(16));
    for (long i = 0; i < 1000; i += 2)
        ringo_map_delete(m, &i, sizeof(i));
    ringo_map_free(m);
    ringo_pool_t pool = {.new_fn = pool_new, .free_fn = free};
    for (int i = 0; i < 100; i++)
        ringo_pool_put(&pool, ringo_pool_get(&pool));
    ringo_pool_drain(&pool);
    ringo_pool_free(&pool);
    ringo_sem_t sem;
    ringo_sem_init(&sem, 2);
    CHECK(ringo_sem_acquire(NULL, &sem, 2) == 0);
    ringo_sem_release(&sem, 2);
}

static void expect_no_leaks_now(void)
{
#ifdef RINGO_ASAN
    assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
#endif
#if RINGO_HAVE_VALGRIND
    if (ringo__on_valgrind()) {
        unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
        VALGRIND_DO_LEAK_CHECK;
        VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
        /* leaked: definitely and indirectly lost. "Possibly lost" is
         * glibc's own (the TLS vectors of the thread stacks it caches,
         * dlopen's tables). */
        (void)dubious;
        (void)reachable;
        (void)suppressed;
        assert_int_equal(leaked, 0);
    }
#endif
}

static void test_nothing_left_after_run(void **state)
{
    (void)state;
    for (int run = 0; run < 2; run++) {
        run_checked(2, workload, NULL);
        expect_no_leaks_now();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_left_after_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

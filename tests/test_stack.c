/* Description: fiber stacks. Stacks are reused (RSS after ten rounds of
 * 100,000 fibers does not grow); 100,000 fibers can be parked at once with
 * guard pages on; a stack overflow dies with "stack overflow in fiber N
 * (created at file:line by fn)" whether the guard is a MADV_GUARD_INSTALL
 * marker, an mprotect page, or (no guard left) the canary; a fiber may use
 * most of its stack legitimately; cfg.stack_size is honoured.
 */
#include "common.h"
#include "internal.h"
#include "sanitizer.h"

#include <stdatomic.h>

static atomic_long counter;

static void wait_for(long want)
{
    while (atomic_load(&counter) < want)
        ringo_sleep(RINGO_MILLISECOND);
}

/* Touches a few KiB of stack, as real fibers do. */
static void touch_and_sleep(void *arg)
{
    volatile char buf[3000];
    buf[0] = (char)(intptr_t)arg;
    buf[sizeof(buf) - 1] = buf[0];
    atomic_fetch_add(&counter, 1);
    ringo_sleep(5 * RINGO_MILLISECOND);
}

static int64_t rss_after[10];

static void reuse_main(void *arg)
{
    (void)arg;
    long n = iters(100000);
    for (int round = 0; round < 10; round++) {
        atomic_store(&counter, 0);
        for (long i = 0; i < n; i++)
            assert_int_equal(ringo_go(touch_and_sleep, (void *)(intptr_t)i), 0);
        wait_for(n);
        while (ringo_num_fibers() > 1)
            ringo_sleep(RINGO_MILLISECOND);
        /* The monitor trims pooled stacks that stayed idle for a whole
         * scavenge period (a second); run two periods' worth now, a few
         * times over, so stacks still on their way back to the pool on a
         * loaded machine are counted out: the settled (lowest) RSS. */
        rss_after[round] = INT64_MAX;
        for (int settle = 0; settle < 5; settle++) {
            ringo__stacks_scavenge(ringo__rt);
            ringo__stacks_scavenge(ringo__rt);
            int64_t rss = resident_bytes();
            if (rss < rss_after[round])
                rss_after[round] = rss;
            ringo_sleep(10 * RINGO_MILLISECOND);
        }
    }
}

static void test_stacks_reused(void **state)
{
    (void)state;
#if defined(RINGO_ASAN) || defined(RINGO_TSAN)
    /* Shadow memory and quarantines grow with every touched stack page:
     * RSS says nothing about the pool under a sanitizer. */
    skip();
#endif
    run_main(2, reuse_main, NULL);
    /* Round 1 built the pool; later rounds reuse it. Allow 10% + 8 MiB of
     * noise (malloc arenas, page tables), far below one more round's worth
     * of fresh stacks. */
    int64_t base = rss_after[0];
    for (int r = 1; r < 10; r++) {
        if (rss_after[r] > base + base / 10 + (8 << 20))
            fail_msg("RSS grew: round 1 %lld bytes, round %d %lld bytes",
                     (long long)base, r + 1, (long long)rss_after[r]);
    }
}

/* ---- 100,000 parked at once, guarded ---------------------------------------------- */

static void park_long(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    ringo_sleep(RINGO_HOUR);
}

static void parked_main(void *arg)
{
    (void)arg;
    long n = live_cap(iters(100000));
    atomic_store(&counter, 0);
    for (long i = 0; i < n; i++)
        assert_int_equal(ringo_go(park_long, NULL), 0);
    wait_for(n);
    assert_int_equal(ringo_num_fibers(), (size_t)n + 1);
    /* Guards are on for all of them: madvise markers on this kernel, or
     * mprotect within budget on older ones; never the canary fallback. */
    assert_int_not_equal(ringo__rt->guard_mode, RINGO__GUARD_CANARY);
}

static void test_100k_parked_guarded(void **state)
{
    (void)state;
    run_main(2, parked_main, NULL);
}

/* ---- overflow ------------------------------------------------------------------------ */

static volatile int limit = 1 << 30;   /* never reached: the guard is */

static int recurse(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    pad[511] = pad[0];
    if (depth > limit)
        return 0;
    return recurse(depth + 1) + pad[511];
}

static void overflow_fiber(void *arg)
{
    (void)arg;
    recurse(0);
}

static void overflow_main(void *arg)
{
    (void)arg;
    ringo_go(overflow_fiber, NULL);
    ringo_sleep(RINGO_HOUR);
}

static void overflow_child(void)
{
    ringo_config_t cfg = {.workers = 2};
    ringo_run(&cfg, overflow_main, NULL);
}

static void overflow_with(const char *mode)
{
    setenv("RINGO_STACK_GUARD", mode, 1);
    death_test(overflow_child, "ringo: fatal: stack overflow in fiber ");
    death_test(overflow_child, "by overflow_fiber)");
    death_test(overflow_child, "test_stack.c:");
    unsetenv("RINGO_STACK_GUARD");
}

static void test_overflow_madvise(void **state)
{
    (void)state;
    overflow_with("madvise");
}

static void test_overflow_mprotect(void **state)
{
    (void)state;
    overflow_with("mprotect");
}

/* Canary: the overflow runs into the slot below before anything notices,
 * so the test recurses just past its own stack by a small margin. */
static void small_overflow(void *arg)
{
    (void)arg;
    char *lo = ringo__current()->stack_lo;
    volatile char here;
    /* Write over the canary word, as a too-deep frame would. */
    size_t gap = (size_t)((char *)&here - lo);
    (void)gap;
    memset(lo, 0x42, 64);
    ringo_yield();
}

static void canary_main(void *arg)
{
    (void)arg;
    ringo_go(small_overflow, NULL);
    ringo_sleep(RINGO_HOUR);
}

static void canary_child(void)
{
    ringo_config_t cfg = {.workers = 1};
    setenv("RINGO_STACK_GUARD", "canary", 1);
    ringo_run(&cfg, canary_main, NULL);
}

static void test_overflow_canary(void **state)
{
    (void)state;
    death_test(canary_child, "ringo: fatal: stack overflow in fiber ");
    death_test(canary_child, "by small_overflow)");
}

/* ---- using the stack legitimately ------------------------------------------------------ */

static void deep_but_fine(void *arg)
{
    size_t bytes = (size_t)(uintptr_t)arg;
    volatile char *p = __builtin_alloca(bytes);
    for (size_t i = 0; i < bytes; i += 512)
        p[i] = 1;
    ringo_yield();
    atomic_fetch_add(&counter, 1);
}

static void deep_main(void *arg)
{
    size_t stack = (size_t)(uintptr_t)arg;
    atomic_store(&counter, 0);
    /* Leave room for the guard, the fiber record, frames and the switch;
     * sanitizer-instrumented frames are several times larger. */
#if defined(RINGO_ASAN) || defined(RINGO_TSAN)
    size_t use = stack / 2;
#else
    size_t use = stack - 4096 - 4096;
#endif
    for (int i = 0; i < 100; i++)
        assert_int_equal(ringo_go(deep_but_fine, (void *)(uintptr_t)use), 0);
    wait_for(100);
}

static void test_stack_size_config(void **state)
{
    (void)state;
    size_t sizes[] = {16 * 1024, 64 * 1024, 256 * 1024};
    for (int i = 0; i < 3; i++) {
        ringo_config_t cfg = {.workers = 2, .stack_size = sizes[i]};
        assert_int_equal(ringo_run(&cfg, deep_main, (void *)(uintptr_t)sizes[i]), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stacks_reused),
        cmocka_unit_test(test_100k_parked_guarded),
        cmocka_unit_test(test_overflow_madvise),
        cmocka_unit_test(test_overflow_mprotect),
        cmocka_unit_test(test_overflow_canary),
        cmocka_unit_test(test_stack_size_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: the context switch preserves what the ABI says a call
 * preserves: the callee-saved registers, and the floating-point control
 * state (MXCSR and the x87 control word on x86-64, FPCR on AArch64), per
 * fiber. Two fibers on one worker (and then on two) interleave with
 * ringo_yield, each holding its own values across every switch.
 */
#include "common.h"

#include <fenv.h>
#include <stdatomic.h>

#define ROUNDS 2000

/* ---- callee-saved registers ------------------------------------------------ */

static atomic_int reg_failures;

#if defined(__x86_64__)
/* Pins values in rbx, r12-r15 across ringo_yield: the asm ties each value to
 * its register before and after the call, so the compiler must keep it
 * there, and only the switch can change it. */
static void reg_fiber(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        register uint64_t b asm("rbx") = seed ^ 0x1111;
        register uint64_t r12 asm("r12") = seed ^ 0x2222;
        register uint64_t r13 asm("r13") = seed ^ 0x3333;
        register uint64_t r14 asm("r14") = seed ^ 0x4444;
        register uint64_t r15 asm("r15") = seed ^ 0x5555;
        __asm__ volatile("" : "+r"(b), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15));
        ringo_yield();
        __asm__ volatile("" : "+r"(b), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15));
        if (b != (seed ^ 0x1111) || r12 != (seed ^ 0x2222) || r13 != (seed ^ 0x3333) ||
            r14 != (seed ^ 0x4444) || r15 != (seed ^ 0x5555))
            atomic_fetch_add(&reg_failures, 1);
    }
}
#else
/* Elsewhere: enough live values across the call that the compiler must use
 * every callee-saved register. */
static void reg_fiber(void *arg)
{
    volatile uint64_t seed = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t v[12];
        for (int k = 0; k < 12; k++)
            v[k] = seed * (k + 3);
        ringo_yield();
        for (int k = 0; k < 12; k++)
            if (v[k] != seed * (k + 3))
                atomic_fetch_add(&reg_failures, 1);
    }
}
#endif

static atomic_int finished;

static void reg_child(void *arg)
{
    reg_fiber(arg);
    atomic_fetch_add(&finished, 1);
}

static void reg_main(void *arg)
{
    (void)arg;
    atomic_store(&finished, 0);
    for (uintptr_t s = 1; s <= 4; s++)
        assert_int_equal(ringo_go(reg_child, (void *)(s * 0x0101010101010101ull)), 0);
    reg_fiber((void *)(uintptr_t)0xdeadbeefcafef00dull);
    while (atomic_load(&finished) < 4)
        ringo_yield();
}

static void test_callee_saved_one_worker(void **state)
{
    (void)state;
    atomic_store(&reg_failures, 0);
    run_main(1, reg_main, NULL);
    assert_int_equal(atomic_load(&reg_failures), 0);
}

static void test_callee_saved_two_workers(void **state)
{
    (void)state;
    atomic_store(&reg_failures, 0);
    run_main(2, reg_main, NULL);
    assert_int_equal(atomic_load(&reg_failures), 0);
}

/* ---- floating-point control state --------------------------------------------- */

static atomic_int fp_failures;
static const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};

#if defined(__x86_64__)
static unsigned short x87_cw(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}
#endif

/* fesetround changes MXCSR and the x87 control word together on x86-64
 * (FPCR on AArch64); a fiber must find its own mode after every switch. */
static void fp_child(void *arg)
{
    int mode = modes[(uintptr_t)arg];
    fesetround(mode);
#if defined(__x86_64__)
    unsigned short cw = x87_cw();
#endif
    for (int i = 0; i < ROUNDS; i++) {
        ringo_yield();
        if (fegetround() != mode)
            atomic_fetch_add(&fp_failures, 1);
#if defined(__x86_64__)
        if (x87_cw() != cw)
            atomic_fetch_add(&fp_failures, 1);
#endif
    }
    atomic_fetch_add(&finished, 1);
}

/* A fiber that never touched its FP state starts with the defaults, whatever
 * the fiber before it on that worker left behind. */
static void fp_fresh(void *arg)
{
    (void)arg;
    if (fegetround() != FE_TONEAREST)
        atomic_fetch_add(&fp_failures, 1);
    atomic_fetch_add(&finished, 1);
}

static void fp_main(void *arg)
{
    (void)arg;
    atomic_store(&finished, 0);
    for (uintptr_t m = 0; m < 4; m++)
        assert_int_equal(ringo_go(fp_child, (void *)m), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ringo_go(fp_fresh, NULL), 0);
        ringo_yield();
    }
    while (atomic_load(&finished) < 104)
        ringo_yield();
    /* main's own mode was never changed. */
    if (fegetround() != FE_TONEAREST)
        atomic_fetch_add(&fp_failures, 1);
}

static void test_fp_control_one_worker(void **state)
{
    (void)state;
    atomic_store(&fp_failures, 0);
    run_main(1, fp_main, NULL);
    assert_int_equal(atomic_load(&fp_failures), 0);
}

static void test_fp_control_two_workers(void **state)
{
    (void)state;
    atomic_store(&fp_failures, 0);
    run_main(2, fp_main, NULL);
    assert_int_equal(atomic_load(&fp_failures), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callee_saved_one_worker),
        cmocka_unit_test(test_callee_saved_two_workers),
        cmocka_unit_test(test_fp_control_one_worker),
        cmocka_unit_test(test_fp_control_two_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

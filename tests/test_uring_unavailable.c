/* Description: io_uring unavailable. With io_uring_setup refused by a
 * seccomp filter (as Docker's default profile does) ringo_run returns -EPERM
 * after one line naming the cause and the fix; with the syscall reported
 * missing (old or stripped kernels) it returns -ENOSYS; neither runs main.
 * The filter is installed in a forked child, never in the test runner.
 */
#include "common.h"

#include <seccomp.h>
#include <sys/syscall.h>

static int ran;

static void never(void *arg)
{
    (void)arg;
    ran = 1;
}

static void with_filter(int err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        _exit(10);
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_setup), 0) < 0)
        _exit(11);
    if (seccomp_load(ctx) < 0)
        _exit(12);
    seccomp_release(ctx);
    int rc = ringo_run(NULL, never, NULL);
    fprintf(stderr, "rc=%d ran=%d\n", rc, ran);
    _exit(rc == -err && !ran ? 0 : 1);
}

static void eperm_child(void) { with_filter(EPERM); }
static void enosys_child(void) { with_filter(ENOSYS); }

static void test_eperm(void **state)
{
    (void)state;
    static struct death d;
    death_run(eperm_child, &d);
    if (d.status != 0)
        fail_msg("child status %d signal %d: %s", d.status, d.signal, d.out);
    assert_non_null(strstr(d.out, "ringo: io_uring is unavailable"));
    assert_non_null(strstr(d.out, "seccomp"));
    assert_non_null(strstr(d.out, "kernel.io_uring_disabled"));
    /* One line, not a flood. */
    assert_ptr_equal(strchr(d.out, '\n'), strstr(d.out, "\nrc="));
}

static void test_enosys(void **state)
{
    (void)state;
    static struct death d;
    death_run(enosys_child, &d);
    if (d.status != 0)
        fail_msg("child status %d signal %d: %s", d.status, d.signal, d.out);
    assert_non_null(strstr(d.out, "ringo: io_uring is unavailable"));
    assert_non_null(strstr(d.out, "Function not implemented"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eperm),
        cmocka_unit_test(test_enosys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

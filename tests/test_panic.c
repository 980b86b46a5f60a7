/* Description: panics, fatal errors and introspection. ringo_panic prints
 * "ringo: panic: <msg>" and the fiber dump, runs the installed handler,
 * and aborts; a runtime whose fibers are all blocked with nothing that could
 * wake them reports "all fibers are asleep - deadlock!" (and the Goexit
 * variant); ringo_fiber_dump names each fiber's wait reason, how long, and
 * where it was created; SIGQUIT prints the dump and exits with status 2.
 */
#include "common.h"
#include "internal.h"

#include <fcntl.h>
#include <stdatomic.h>

static atomic_int counter;

/* ---- ringo_panic ------------------------------------------------------------------------ */

static void panic_main(void *arg)
{
    (void)arg;
    ringo_panic("send on closed channel (test %d)", 42);
}

static void panic_child(void)
{
    run_main(2, panic_main, NULL);
}

static void handler(const char *msg)
{
    fprintf(stderr, "handler saw: %s\n", msg);
}

static void panic_handler_child(void)
{
    ringo_set_panic_handler(handler);
    run_main(2, panic_main, NULL);
}

static void test_panic(void **state)
{
    (void)state;
    death_test(panic_child, "ringo: panic: send on closed channel (test 42)");
    death_test(panic_child, "fiber 1 [running] (main)");
    death_test(panic_handler_child, "handler saw: send on closed channel (test 42)");
}

/* ---- deadlock ---------------------------------------------------------------------------- */

static void park_forever(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    ringo__park_prepare("test wait");
    ringo__park();
}

static void deadlock_main(void *arg)
{
    (void)arg;
    ringo_go(park_forever, NULL);
    ringo_go(park_forever, NULL);
    while (atomic_load(&counter) < 2)
        ringo_yield();
    park_forever(NULL);     /* main blocks too: nothing can ever run again */
}

static void deadlock_child(void)
{
    run_main(2, deadlock_main, NULL);
}

static void exit_main(void *arg)
{
    (void)arg;
    ringo_exit();
}

static void goexit_child(void)
{
    run_main(2, exit_main, NULL);
}

static void test_deadlock(void **state)
{
    (void)state;
    death_test(deadlock_child, "ringo: fatal: all fibers are asleep - deadlock!");
    death_test(deadlock_child, "[test wait, ");
    death_test(goexit_child, "ringo: fatal: no fibers (main called ringo_exit) - deadlock!");
}

/* Not a deadlock: fibers asleep on timers will wake. The runtime must not
 * misreport while every worker is idle waiting for a timer. */
static void sleepy_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++)
        ringo_sleep(3 * RINGO_MILLISECOND);
}

static void test_idle_with_timers_is_not_deadlock(void **state)
{
    (void)state;
    run_main(2, sleepy_main, NULL);
}

/* main exits through ringo_exit while others still run: the program goes on
 * until they finish, then reports, as Go does. Here one fiber is left
 * sleeping and then finishes. */
static void late_finisher(void *arg)
{
    (void)arg;
    ringo_sleep(20 * RINGO_MILLISECOND);
    fprintf(stderr, "late finisher ran\n");
}

static void exit_early_main(void *arg)
{
    (void)arg;
    ringo_go(late_finisher, NULL);
    ringo_exit();
}

static void exit_early_child(void)
{
    run_main(2, exit_early_main, NULL);
}

static void test_main_goexit_lets_others_finish(void **state)
{
    (void)state;
    death_test(exit_early_child, "late finisher ran");
}

/* ---- the dump ------------------------------------------------------------------------------ */

static void dump_sleeper(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    ringo_sleep(RINGO_HOUR);
}

static char dump_text[65536];

static void dump_main(void *arg)
{
    (void)arg;
    atomic_store(&counter, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ringo_go(dump_sleeper, NULL), 0);
    while (atomic_load(&counter) < 3)
        ringo_sleep(RINGO_MILLISECOND);
    ringo_sleep(20 * RINGO_MILLISECOND);   /* so "for how long" is not zero */
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    ringo_fiber_dump(p[1]);
    ssize_t n = read(p[0], dump_text, sizeof(dump_text) - 1);
    assert_true(n > 0);
    dump_text[n] = '\0';
    close(p[0]);
    close(p[1]);
}

static void test_fiber_dump(void **state)
{
    (void)state;
    run_main(2, dump_main, NULL);
    assert_non_null(strstr(dump_text, "fiber 1 [running] (main)"));
    assert_non_null(strstr(dump_text, "[sleep, "));
    assert_non_null(strstr(dump_text, "\tdump_sleeper\n\tcreated at "));
    assert_non_null(strstr(dump_text, "test_panic.c:"));
    assert_non_null(strstr(dump_text, "by fiber 1"));
    /* The grouped summary comes first and counts them... */
    assert_non_null(strstr(dump_text, "     3 @ "));
    assert_non_null(strstr(dump_text, "dump_sleeper [sleep]"));
    /* ...then one entry per fiber: three sleepers. */
    const char *list = strstr(dump_text, "\n\n");
    assert_non_null(list);
    int sleepers = 0;
    for (const char *s = list; (s = strstr(s, "\tdump_sleeper\n")); s++)
        sleepers++;
    assert_int_equal(sleepers, 3);
}

/* ---- SIGQUIT --------------------------------------------------------------------------------- */

static void quit_main(void *arg)
{
    (void)arg;
    assert_int_equal(ringo_go(dump_sleeper, NULL), 0);
    while (atomic_load(&counter) < 1)
        ringo_sleep(RINGO_MILLISECOND);
    kill(getpid(), SIGQUIT);
    ringo_sleep(RINGO_HOUR);
}

static void quit_child(void)
{
    atomic_store(&counter, 0);
    run_main(2, quit_main, NULL);
}

static void test_sigquit_dump(void **state)
{
    (void)state;
    static struct death d;
    death_run(quit_child, &d);
    assert_int_equal(d.signal, 0);
    assert_int_equal(d.status, 2);
    assert_non_null(strstr(d.out, "SIGQUIT: quit"));
    assert_non_null(strstr(d.out, "dump_sleeper"));

    /* And the handler is gone once ringo_run returns. */
    struct sigaction sa;
    assert_int_equal(sigaction(SIGQUIT, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_panic),
        cmocka_unit_test(test_deadlock),
        cmocka_unit_test(test_idle_with_timers_is_not_deadlock),
        cmocka_unit_test(test_main_goexit_lets_others_finish),
        cmocka_unit_test(test_fiber_dump),
        cmocka_unit_test(test_sigquit_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

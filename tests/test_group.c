/* Description: error groups (ringo/group.h), after x/sync's
 * errgroup_test.go. The zero group returns the first error from Wait
 * whatever follows it (TestZeroGroup); a group made from a context cancels
 * it by Wait, with the first error as its cause (TestWithContext,
 * TestCancelCause, with go and try_go); the first error cancels the context
 * while the other members still run, and theirs does not replace it;
 * try_go respects the limit and stops at 0 (TestTryGo); no more than the
 * limit run at once across two workers (TestGoLimit) and go blocks at the
 * limit until a member ends; changing a limit while its members run panics
 * with Go's words; a member's panic ends the program with the member in
 * the dump and Wait never returns; a member leaving by ringo_exit counts
 * as done; a group is reusable after Wait; a NULL fn is refused and
 * changes nothing.
 */
#include "common.h"

#include <stdatomic.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum { E1 = -EIO, E2 = 42 };    /* an -errno and a code of the program's own */

static int return_code(void *arg)
{
    return *(const int *)arg;
}

/* ---- TestZeroGroup --------------------------------------------------------------------------- */

struct codes {
    int n;
    int v[3];
};

static const struct codes zero_cases[] = {
    {0, {0}}, {1, {0}}, {1, {E1}}, {2, {E1, 0}}, {3, {E1, 0, E2}},
};

static void zero_group_main(void *arg)
{
    (void)arg;
    for (size_t c = 0; c < NELEM(zero_cases); c++) {
        ringo_group_t g = RINGO_GROUP_INIT;
        int first = 0;
        for (int i = 0; i < zero_cases[c].n; i++) {
            const int *code = &zero_cases[c].v[i];
            assert_int_equal(ringo_group_go(&g, return_code, (void *)code), 0);
            if (first == 0)
                first = *code;
            assert_int_equal(ringo_group_wait(&g), first);
        }
        assert_int_equal(ringo_group_wait(&g), first);
    }
}

static void test_zero_group(void **state)
{
    (void)state;
    run_main(2, zero_group_main, NULL);
}

/* ---- TestWithContext, TestCancelCause ---------------------------------------------------------- */

static const struct codes ctx_cases[] = {
    {0, {0}}, {1, {0}}, {1, {E1}}, {2, {E1, 0}},
};

static void with_context_main(void *arg)
{
    (void)arg;
    for (int try = 0; try < 2; try++) {
        for (size_t c = 0; c < NELEM(ctx_cases); c++) {
            ringo_group_t g;
            ringo_ctx_t *ctx = ringo_group_with_context(&g, NULL);
            assert_non_null(ctx);
            assert_int_equal(ringo_ctx_err(ctx), 0);
            int want = 0;
            for (int i = 0; i < ctx_cases[c].n; i++) {
                void *code = (void *)&ctx_cases[c].v[i];
                if (try == 0)
                    assert_int_equal(ringo_group_go(&g, return_code, code), 0);
                else
                    assert_int_equal(ringo_group_try_go(&g, return_code, code), 1);
                if (want == 0)
                    want = ctx_cases[c].v[i];
            }
            assert_int_equal(ringo_group_wait(&g), want);
            /* Wait cancelled the context, whatever the members returned. */
            assert_int_equal(ringo_ctx_err(ctx), -ECANCELED);
            assert_int_equal(ringo_chan_try_recv(ringo_ctx_done(ctx), NULL), -EPIPE);
            assert_int_equal(ringo_ctx_cause(ctx), want ? want : -ECANCELED);
            ringo_ctx_unref(ctx);
        }
    }

    /* A child of a cancelled parent starts cancelled; a group made from
     * it still runs its members and reports their results. */
    ringo_ctx_t *parent = ringo_with_cancel(NULL);
    ringo_cancel(parent);
    ringo_group_t g;
    ringo_ctx_t *ctx = ringo_group_with_context(&g, parent);
    assert_int_equal(ringo_ctx_err(ctx), -ECANCELED);
    static const int e2 = E2;
    assert_int_equal(ringo_group_go(&g, return_code, (void *)&e2), 0);
    assert_int_equal(ringo_group_wait(&g), E2);
    ringo_ctx_unref(ctx);
    ringo_ctx_unref(parent);
}

static void test_with_context(void **state)
{
    (void)state;
    run_main(2, with_context_main, NULL);
}

/* ---- the first error cancels the others --------------------------------------------------------- */

struct cancel_test {
    ringo_ctx_t *ctx;
    ringo_chan_t *who;          /* the waiting member reports itself */
    atomic_int seen_cause;
};

/* Blocks until the group's context is cancelled, then fails with an error
 * of its own, which must not replace the first. */
static int wait_for_cancel(void *arg)
{
    struct cancel_test *t = arg;
    report_self(t->who);
    CHECK(!ringo_chan_recv(ringo_ctx_done(t->ctx), NULL));
    atomic_store(&t->seen_cause, ringo_ctx_cause(t->ctx));
    return ringo_ctx_err(t->ctx);
}

static void first_error_main(void *arg)
{
    (void)arg;
    long rounds = iters(200);
    for (long r = 0; r < rounds; r++) {
        struct cancel_test t = {.who = ringo_chan_make(sizeof(ringo__fiber_t *), 1)};
        ringo_group_t g;
        t.ctx = ringo_group_with_context(&g, NULL);
        assert_non_null(t.ctx);
        assert_int_equal(ringo_group_go(&g, wait_for_cancel, &t), 0);
        wait_parked(await_report(t.who));
        static const int e1 = E1;
        assert_int_equal(ringo_group_go(&g, return_code, (void *)&e1), 0);
        assert_int_equal(ringo_group_wait(&g), E1);
        assert_int_equal(atomic_load(&t.seen_cause), E1);
        assert_int_equal(ringo_ctx_cause(t.ctx), E1);
        ringo_ctx_unref(t.ctx);
        ringo_chan_unref(t.who);
    }
}

static void test_first_error_cancels_the_rest(void **state)
{
    (void)state;
    run_checked(2, first_error_main, NULL);
}

/* Many members fail at once on two workers: Wait reports exactly one of
 * their errors, the same one the context was cancelled with. */
static int fail_with_index(void *arg)
{
    return (int)(intptr_t)arg;
}

static void racing_errors_main(void *arg)
{
    (void)arg;
    long rounds = iters(100);
    for (long r = 0; r < rounds; r++) {
        ringo_group_t g;
        ringo_ctx_t *ctx = ringo_group_with_context(&g, NULL);
        for (intptr_t i = 1; i <= 16; i++)
            assert_int_equal(ringo_group_go(&g, fail_with_index, (void *)i), 0);
        int err = ringo_group_wait(&g);
        assert_true(err >= 1 && err <= 16);
        assert_int_equal(ringo_ctx_cause(ctx), err);
        ringo_ctx_unref(ctx);
    }
}

static void test_racing_errors_one_wins(void **state)
{
    (void)state;
    run_main(2, racing_errors_main, NULL);
}

/* ---- TestTryGo ------------------------------------------------------------------------------------ */

static int send_one(void *arg)
{
    int one = 1;
    ringo_chan_send(arg, &one);
    return 0;
}

struct drain {
    ringo_chan_t *ch;
    int n;
};

static int drain_member(void *arg)
{
    struct drain *d = arg;
    for (int i = 0; i < d->n; i++)
        CHECK(ringo_chan_recv(d->ch, NULL));
    return 0;
}

/* go func() { for i := 0; i < n; i++ { <-ch } }(), as a member of drains,
 * which the test waits for before it frees ch. */
static void drain(ringo_group_t *drains, struct drain *d)
{
    assert_int_equal(ringo_group_go(drains, drain_member, d), 0);
}

static void try_go_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    ringo_group_t g = RINGO_GROUP_INIT, drains = RINGO_GROUP_INIT;
    const int n = 42;
    struct drain all = {ch, n}, one = {ch, 1};
    ringo_group_set_limit(&g, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(ringo_group_try_go(&g, send_one, ch), 1);
    assert_int_equal(ringo_group_try_go(&g, send_one, ch), 0);
    drain(&drains, &all);
    assert_int_equal(ringo_group_wait(&g), 0);

    assert_int_equal(ringo_group_try_go(&g, send_one, ch), 1);
    drain(&drains, &one);
    assert_int_equal(ringo_group_wait(&g), 0);

    /* Switch limit. */
    ringo_group_set_limit(&g, 1);
    assert_int_equal(ringo_group_try_go(&g, send_one, ch), 1);
    assert_int_equal(ringo_group_try_go(&g, send_one, ch), 0);
    drain(&drains, &one);
    assert_int_equal(ringo_group_wait(&g), 0);

    /* Block all calls. */
    ringo_group_set_limit(&g, 0);
    for (int i = 0; i < 1024; i++)
        assert_int_equal(ringo_group_try_go(&g, send_one, ch), 0);
    assert_int_equal(ringo_group_wait(&g), 0);

    /* No limit again. */
    ringo_group_set_limit(&g, -1);
    for (int i = 0; i < n; i++)
        assert_int_equal(ringo_group_try_go(&g, send_one, ch), 1);
    drain(&drains, &all);
    assert_int_equal(ringo_group_wait(&g), 0);
    assert_int_equal(ringo_group_wait(&drains), 0);
    ringo_chan_unref(ch);
}

static void test_try_go(void **state)
{
    (void)state;
    run_checked(2, try_go_main, NULL);
}

/* ---- TestGoLimit ------------------------------------------------------------------------------------ */

enum { LIMIT = 10 };

struct limit_test {
    atomic_int active, max;
};

static int count_active(void *arg)
{
    struct limit_test *t = arg;
    int n = atomic_fetch_add(&t->active, 1) + 1;
    int m = atomic_load(&t->max);
    while (n > m && !atomic_compare_exchange_weak(&t->max, &m, n))
        ;
    if (n > LIMIT)
        return n;               /* the group's first error names the count */
    ringo_yield();              /* give the others a chance to count themselves */
    atomic_fetch_sub(&t->active, 1);
    return 0;
}

static void go_limit_main(void *arg)
{
    (void)arg;
    struct limit_test t = {0};
    ringo_group_t g = RINGO_GROUP_INIT;
    ringo_group_set_limit(&g, LIMIT);
    long n = iters(1 << 10);
    for (long i = 0; i <= n; i++)
        assert_int_equal(ringo_group_go(&g, count_active, &t), 0);
    assert_int_equal(ringo_group_wait(&g), 0);
    assert_true(atomic_load(&t.max) >= 1 && atomic_load(&t.max) <= LIMIT);
    assert_int_equal(atomic_load(&t.active), 0);
}

static void test_go_limit(void **state)
{
    (void)state;
    run_main(2, go_limit_main, NULL);
}

/* go at the limit blocks until a member ends, then starts its fn. */
struct gate_test {
    ringo_chan_t *gate;         /* each member takes one token to end */
    ringo_chan_t *who;          /* members and the blocked caller report themselves */
    atomic_int started;
    ringo_group_t g;
};

static int gated_member(void *arg)
{
    struct gate_test *t = arg;
    atomic_fetch_add(&t->started, 1);
    report_self(t->who);
    CHECK(ringo_chan_recv(t->gate, NULL));
    return 0;
}

static void third_go(void *arg)
{
    struct gate_test *t = arg;
    report_self(t->who);
    CHECK(ringo_group_go(&t->g, gated_member, t) == 0);
}

static void go_blocks_main(void *arg)
{
    (void)arg;
    struct gate_test t = {
        .gate = ringo_chan_make(sizeof(int), 0),
        .who = ringo_chan_make(sizeof(ringo__fiber_t *), 4),
        .g = RINGO_GROUP_INIT,
    };
    ringo_group_set_limit(&t.g, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ringo_group_go(&t.g, gated_member, &t), 0);
        wait_parked(await_report(t.who));
    }
    assert_int_equal(ringo_go(third_go, &t), 0);
    wait_parked(await_report(t.who));       /* parked in go, at the limit */
    assert_int_equal(atomic_load(&t.started), 2);

    int one = 1;
    ringo_chan_send(t.gate, &one);           /* one member ends: the third starts */
    wait_parked(await_report(t.who));
    assert_int_equal(atomic_load(&t.started), 3);
    ringo_chan_send(t.gate, &one);
    ringo_chan_send(t.gate, &one);
    assert_int_equal(ringo_group_wait(&t.g), 0);
    ringo_chan_unref(t.gate);
    ringo_chan_unref(t.who);
}

static void test_go_blocks_at_limit(void **state)
{
    (void)state;
    run_checked(2, go_blocks_main, NULL);
}

/* ---- SetLimit while members run ------------------------------------------------------------------- */

static int block_on(void *arg)
{
    ringo_chan_recv(arg, NULL);
    return 0;
}

static void set_limit_active_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    ringo_group_t g = RINGO_GROUP_INIT;
    /* Members started with no limit hold no token (Go's nil channel has
     * length 0): a limit may be set while they run. */
    assert_int_equal(ringo_group_go(&g, block_on, ch), 0);
    ringo_group_set_limit(&g, 1);
    assert_int_equal(ringo_group_try_go(&g, block_on, ch), 1);
    ringo_group_set_limit(&g, 2);           /* one member under the limit of 1: panics */
    puts("set_limit returned");
}

static void set_limit_active_child(void)
{
    run_main(2, set_limit_active_main, NULL);
}

static void test_set_limit_while_active_panics(void **state)
{
    (void)state;
    death_test(set_limit_active_child,
               "ringo: panic: errgroup: modify limit while 1 goroutines in the group are still active");
}

/* ---- a member's panic ---------------------------------------------------------------------------------- */

static int panicking_member(void *arg)
{
    (void)arg;
    ringo_panic("member %d failed hard", 7);
}

static void member_panic_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    ringo_group_t g = RINGO_GROUP_INIT;
    assert_int_equal(ringo_group_go(&g, block_on, ch), 0);
    assert_int_equal(ringo_group_go(&g, panicking_member, NULL), 0);
    ringo_group_wait(&g);
    puts("wait returned");
}

static void member_panic_child(void)
{
    run_main(2, member_panic_main, NULL);
}

static void test_member_panic_ends_program(void **state)
{
    (void)state;
    static struct death d;
    death_run(member_panic_child, &d);
    bool ok = d.signal == SIGABRT &&
              strstr(d.out, "ringo: panic: member 7 failed hard") &&
              strstr(d.out, "panicking_member") &&      /* the member, by name, in the dump */
              strstr(d.out, "test_group.c") &&
              !strstr(d.out, "wait returned");
    if (!ok)
        fprintf(stderr, "signal %d status %d; output:\n%s\n", d.signal, d.status, d.out);
    assert_true(ok);
}

/* ---- a member leaving by ringo_exit (runtime.Goexit) ----------------------------------------------------- */

static int exiting_member(void *arg)
{
    (void)arg;
    ringo_exit();
}

static void member_exit_main(void *arg)
{
    (void)arg;
    ringo_group_t g = RINGO_GROUP_INIT;
    ringo_group_set_limit(&g, 1);
    assert_int_equal(ringo_group_go(&g, exiting_member, NULL), 0);
    assert_int_equal(ringo_group_wait(&g), 0);          /* counted as done, with no error */
    assert_int_equal(ringo_group_go(&g, exiting_member, NULL), 0);   /* its token came back */
    static const int e1 = E1;
    assert_int_equal(ringo_group_go(&g, return_code, (void *)&e1), 0);
    assert_int_equal(ringo_group_wait(&g), E1);
}

static void test_member_exit_counts_as_done(void **state)
{
    (void)state;
    run_main(2, member_exit_main, NULL);
}

/* ---- reuse after Wait, bad input ---------------------------------------------------------------------------- */

static void reuse_main(void *arg)
{
    (void)arg;
    static const int ok = 0, e1 = E1, e2 = E2;
    ringo_group_t g = RINGO_GROUP_INIT;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(ringo_group_go(&g, return_code, (void *)&ok), 0);
        assert_int_equal(ringo_group_wait(&g), 0);
    }
    assert_int_equal(ringo_group_go(&g, return_code, (void *)&e1), 0);
    assert_int_equal(ringo_group_wait(&g), E1);
    assert_int_equal(ringo_group_go(&g, return_code, (void *)&e2), 0);
    assert_int_equal(ringo_group_wait(&g), E1);          /* the first error stays */

    /* with_context makes a used group fresh again. */
    ringo_ctx_t *ctx = ringo_group_with_context(&g, NULL);
    assert_int_equal(ringo_group_go(&g, return_code, (void *)&ok), 0);
    assert_int_equal(ringo_group_wait(&g), 0);
    assert_int_equal(ringo_ctx_cause(ctx), -ECANCELED);
    /* After Wait the context stays cancelled; new members see it so. */
    assert_int_equal(ringo_group_go(&g, return_code, (void *)&e2), 0);
    assert_int_equal(ringo_group_wait(&g), E2);
    assert_int_equal(ringo_ctx_cause(ctx), -ECANCELED);
    ringo_ctx_unref(ctx);
}

static void test_reuse_after_wait(void **state)
{
    (void)state;
    run_main(2, reuse_main, NULL);
}

static void bad_input_main(void *arg)
{
    (void)arg;
    ringo_group_t g = RINGO_GROUP_INIT;
    ringo_group_set_limit(&g, 1);
    assert_int_equal(ringo_group_go(&g, NULL, NULL), -EINVAL);
    assert_int_equal(ringo_group_try_go(&g, NULL, NULL), -EINVAL);
    assert_int_equal(ringo_group_wait(&g), 0);          /* nothing was started */
    static const int ok = 0;
    assert_int_equal(ringo_group_try_go(&g, return_code, (void *)&ok), 1);   /* no token lost */
    assert_int_equal(ringo_group_wait(&g), 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    run_main(2, bad_input_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_group),
        cmocka_unit_test(test_with_context),
        cmocka_unit_test(test_first_error_cancels_the_rest),
        cmocka_unit_test(test_racing_errors_one_wins),
        cmocka_unit_test(test_try_go),
        cmocka_unit_test(test_go_limit),
        cmocka_unit_test(test_go_blocks_at_limit),
        cmocka_unit_test(test_set_limit_while_active_panics),
        cmocka_unit_test(test_member_panic_ends_program),
        cmocka_unit_test(test_member_exit_counts_as_done),
        cmocka_unit_test(test_reuse_after_wait),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

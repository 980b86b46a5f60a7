/* Description: contexts (ringo/context.h), ported from Go's
 * context/context_test.go, x_test.go and afterfunc_test.go where they apply.
 * Background and TODO are never done and carry nothing; ringo_with_cancel
 * is live until ringo_cancel, then reports -ECANCELED with its done channel
 * closed; cancellation reaches every descendant (a chain, a fan-out and a
 * tree of 100,000 nodes, value contexts included); cancelled or released
 * children detach from a long-lived parent (memory stays flat, the parent's
 * own cancel stays fast and touches no freed child: ASan would see it);
 * simultaneous and interlocked cancels from many fibers on two workers;
 * values through chains (nearest key wins, keys compare by address);
 * timeouts and deadlines (-ETIMEDOUT, at least d late, a child's deadline is
 * the earlier of its own and its parent's, a past deadline is done at
 * once); RINGO_DONE as a select case; RINGO_DEFER_CANCEL; after_func and
 * after_func_stop; cancel causes and their propagation; contexts shared by
 * fibers on both workers through ringo_ctx_ref/unref; Go's "generator
 * stopped by cancel" pattern.
 *
 * Lifetimes (ringo_cancel cancels, ringo_ctx_unref releases): cancel twice
 * and on contexts with no cancel of their own; an early cancel then
 * RINGO_DEFER_CANCEL, the context usable between, from fibers on both
 * workers; racing cancels each return with the subtree cancelled and every
 * AfterFunc run once; a cancel takes deadlines off the timer heap; a
 * released deadline context lives until it fires (or the runtime ends);
 * debug builds panic on a freed handle. Regressions: a deadline fire that
 * dropped the last reference used to wait for itself forever; a parent's
 * cancel used to pin a child its last unref was freeing at that moment.
 *
 * Fibers other than main never assert (cmocka cannot unwind them): they
 * count failures with CHECK, and each test asserts the count is zero.
 */
#include "common.h"
#include "internal.h"

#include <stdatomic.h>

/* A generous bound for "at once" and "soon": a loaded 2-core VM under a
 * sanitizer stalls threads for a long time. */
#define SOON (10 * RINGO_SECOND)

/* True if ctx's done channel is closed (without blocking). */
static bool is_done(ringo_ctx_t *ctx)
{
    ringo_chan_t *d = ringo_ctx_done(ctx);
    return d != NULL && ringo_chan_try_recv(d, NULL) == -EPIPE;
}

/* Waits at most SOON for ctx's done channel to close. */
static bool wait_done(ringo_ctx_t *ctx)
{
    ringo_case_t cs[] = {RINGO_DONE(ctx), RINGO_TIMEOUT(SOON)};
    int i = ringo_select(cs, 2);
    return i == 0 && !cs[0].ok;
}

/* Receives one signal_done() token on ch, counting a failure with CHECK. */
static void await_chan(ringo_chan_t *ch)
{
    int v = 0;
    CHECK(ringo_chan_recv(ch, &v));
}

/* ---- TestBackground, TestTODO ---------------------------------------------------------- */

static const char key_a[] = "key";
static const char key_b[] = "key";     /* same bytes, different address */
static const char key_c = 'c';

static void background_main(void *arg)
{
    (void)arg;
    ringo_ctx_t *roots[] = {ringo_background(), ringo_todo()};
    assert_ptr_equal(ringo_background(), roots[0]);
    assert_ptr_equal(ringo_todo(), roots[1]);
    for (int i = 0; i < 2; i++) {
        ringo_ctx_t *c = roots[i];
        assert_non_null(c);
        assert_null(ringo_ctx_done(c));
        assert_int_equal(ringo_ctx_err(c), 0);
        assert_int_equal(ringo_ctx_cause(c), 0);
        int64_t dl = 12345;
        assert_false(ringo_ctx_deadline(c, &dl));
        assert_null(ringo_ctx_value(c, key_a));
        assert_null(ringo_ctx_value(c, &key_c));
        /* Never freed: extra references are harmless. */
        assert_ptr_equal(ringo_ctx_ref(c), c);
        ringo_ctx_unref(c);
        ringo_ctx_unref(ringo_ctx_ref(c));
        assert_int_equal(ringo_ctx_err(c), 0);
        /* RINGO_DONE on a never-cancelled context never fires. */
        ringo_case_t cs[] = {RINGO_DONE(c), RINGO_DEFAULT};
        assert_int_equal(ringo_select(cs, 2), 1);
    }
    /* A value context over Background can never be cancelled either. */
    ringo_ctx_t *v = ringo_with_value(ringo_background(), key_a, (void *)key_a);
    assert_non_null(v);
    assert_null(ringo_ctx_done(v));
    assert_int_equal(ringo_ctx_err(v), 0);
    assert_false(ringo_ctx_deadline(v, &(int64_t){0}));
    ringo_ctx_unref(v);
}

static void test_background_todo(void **state)
{
    (void)state;
    run_checked(2, background_main, NULL);
}

/* ---- TestWithCancel --------------------------------------------------------------------- */

static void with_cancel_main(void *arg)
{
    (void)arg;
    ringo_ctx_t *c = ringo_with_cancel(ringo_background());
    assert_non_null(c);
    assert_int_equal(ringo_ctx_err(c), 0);
    assert_int_equal(ringo_ctx_cause(c), 0);
    assert_false(ringo_ctx_deadline(c, &(int64_t){0}));
    ringo_chan_t *d = ringo_ctx_done(c);
    assert_non_null(d);
    assert_ptr_equal(ringo_ctx_done(c), d);         /* made once */
    assert_int_equal(ringo_chan_try_recv(d, NULL), -EAGAIN);

    /* ringo_cancel frees nothing: c stays readable until the creator's
     * reference goes. */
    ringo_cancel(c);
    assert_int_equal(ringo_ctx_err(c), -ECANCELED);
    assert_int_equal(ringo_ctx_cause(c), -ECANCELED);
    assert_ptr_equal(ringo_ctx_done(c), d);
    assert_false(ringo_chan_recv(d, NULL));
    assert_false(ringo_chan_recv(d, NULL));         /* stays closed */
    assert_int_equal(ringo_chan_try_recv(d, NULL), -EPIPE);
    ringo_ctx_unref(c);

    /* The done channel asked for only after the cancel is closed too. */
    c = ringo_with_cancel(ringo_background());
    ringo_cancel(c);
    assert_true(is_done(c));
    assert_int_equal(ringo_ctx_err(c), -ECANCELED);
    ringo_ctx_unref(c);
}

static void test_with_cancel(void **state)
{
    (void)state;
    run_checked(2, with_cancel_main, NULL);
}

/* ---- cancel reaches every descendant: a chain and a fan-out ----------------------------- */

#define CHAIN 64

static void chain_main(void *arg)
{
    (void)arg;
    /* Chain: cancel, value, cancel, timeout (an hour), value, ... */
    for (int order = 0; order < 2; order++) {
        ringo_ctx_t *ctx[CHAIN], *keep[CHAIN];
        ringo_ctx_t *parent = ringo_background();
        for (int i = 0; i < CHAIN; i++) {
            switch (i % 4) {
            case 0: case 2: ctx[i] = ringo_with_cancel(parent); break;
            case 1: ctx[i] = ringo_with_value(parent, &key_c, (void *)(intptr_t)(i + 1)); break;
            default: ctx[i] = ringo_with_timeout(parent, RINGO_HOUR); break;
            }
            assert_non_null(ctx[i]);
            keep[i] = ringo_ctx_ref(ctx[i]);
            parent = ctx[i];
        }
        /* Ask for half of the done channels before the cancel. */
        for (int i = 0; i < CHAIN; i += 2)
            assert_false(is_done(keep[i]));
        for (int i = 0; i < CHAIN; i++)
            assert_int_equal(ringo_ctx_err(keep[i]), 0);
        ringo_cancel(ctx[0]);
        for (int i = 0; i < CHAIN; i++) {
            assert_int_equal(ringo_ctx_err(keep[i]), -ECANCELED);
            assert_true(is_done(keep[i]));
        }
        /* Cancel again (a second cancel, or none of a value context's
         * own: both do nothing) and release every creator's reference,
         * parents first in one round and children first in the other: a
         * child keeps its parent alive. */
        for (int k = 0; k < CHAIN; k++) {
            int i = order == 0 ? k : CHAIN - 1 - k;
            ringo_cancel(ctx[i]);
            ringo_ctx_unref(ctx[i]);
            assert_int_equal(ringo_ctx_err(keep[i]), -ECANCELED);
        }
        for (int k = 0; k < CHAIN; k++)
            ringo_ctx_unref(keep[order == 0 ? k : CHAIN - 1 - k]);
    }

    /* Fan-out: one parent, many direct children and grandchildren; a
     * cancelled sibling does not affect the others. */
    enum { FAN = 256 };
    ringo_ctx_t *root = ringo_with_cancel(ringo_background());
    ringo_ctx_t *kroot = ringo_ctx_ref(root);
    ringo_ctx_t *kids[FAN], *kkids[FAN], *grand[FAN], *kgrand[FAN];
    for (int i = 0; i < FAN; i++) {
        kids[i] = ringo_with_cancel(root);
        kkids[i] = ringo_ctx_ref(kids[i]);
        grand[i] = i % 2 ? ringo_with_cancel(kids[i]) : ringo_with_value(kids[i], &key_c, NULL);
        kgrand[i] = ringo_ctx_ref(grand[i]);
    }
    ringo_cancel(kids[7]);
    assert_int_equal(ringo_ctx_err(kgrand[7]), -ECANCELED);
    assert_int_equal(ringo_ctx_err(kroot), 0);
    assert_int_equal(ringo_ctx_err(kkids[8]), 0);
    assert_int_equal(ringo_ctx_err(kgrand[8]), 0);
    ringo_cancel(root);
    for (int i = 0; i < FAN; i++) {
        assert_int_equal(ringo_ctx_err(kkids[i]), -ECANCELED);
        assert_int_equal(ringo_ctx_err(kgrand[i]), -ECANCELED);
        assert_true(is_done(kkids[i]));
        assert_true(is_done(kgrand[i]));
    }
    for (int i = 0; i < FAN; i++) {
        ringo_cancel(kids[i]);          /* kids[7]: a second time */
        ringo_ctx_unref(kids[i]);
        ringo_cancel(grand[i]);
        ringo_ctx_unref(grand[i]);
        ringo_ctx_unref(kkids[i]);
        ringo_ctx_unref(kgrand[i]);
    }
    ringo_ctx_unref(root);
    ringo_ctx_unref(kroot);
}

static void test_cancel_reaches_descendants(void **state)
{
    (void)state;
    run_checked(2, chain_main, NULL);
}

/* ---- a tree of 100,000 nodes ------------------------------------------------------------- */

static void tree_main(void *arg)
{
    (void)arg;
    long n = iters(100000);
    ringo_ctx_t **node = calloc((size_t)n, sizeof(*node));
    ringo_ctx_t **keep = calloc((size_t)n, sizeof(*keep));
    assert_non_null(node);
    assert_non_null(keep);
    node[0] = ringo_with_cancel(ringo_background());
    keep[0] = ringo_ctx_ref(node[0]);
    /* Node i hangs under node (i-1)/4; every seventh is a value context. */
    for (long i = 1; i < n; i++) {
        ringo_ctx_t *p = node[(i - 1) / 4];
        node[i] = i % 7 == 0 ? ringo_with_value(p, &key_c, (void *)(intptr_t)i)
                             : ringo_with_cancel(p);
        assert_non_null(node[i]);
        keep[i] = ringo_ctx_ref(node[i]);
        /* Half the done channels exist before the cancel. */
        if (i % 2 == 0)
            assert_false(is_done(node[i]));
    }
    int64_t t0 = ringo_now();
    ringo_cancel(node[0]);
    int64_t took = ringo_now() - t0;
    long bad_err = 0, not_done = 0;
    for (long i = 0; i < n; i++) {
        if (ringo_ctx_err(keep[i]) != -ECANCELED)
            bad_err++;
        if (!is_done(keep[i]))
            not_done++;
    }
    assert_int_equal(bad_err, 0);
    assert_int_equal(not_done, 0);
    assert_true(took < SOON);
    for (long i = n - 1; i >= 0; i--)
        ringo_ctx_unref(node[i]);
    for (long i = 0; i < n; i++)
        ringo_ctx_unref(keep[i]);
    free(node);
    free(keep);
}

static void test_tree_cancel(void **state)
{
    (void)state;
    run_checked(2, tree_main, NULL);
}

/* ---- children detach from a long-lived parent ------------------------------------------- */

static atomic_int stopped_ran;

static void stopped_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&stopped_ran, 1);
}

static void send_fn(void *arg)
{
    signal_done(arg);
}

static int64_t detach_rss_mid, detach_rss_end, detach_cancel_took;
static long detach_n;

static void detach_main(void *arg)
{
    (void)arg;
    atomic_store(&stopped_ran, 0);
    ringo_ctx_t *parent = ringo_with_cancel(ringo_background());
    ringo_ctx_t *keep = ringo_ctx_ref(parent);
    assert_non_null(ringo_ctx_done(parent));
    long n = detach_n = iters(400000);
    for (long i = 0; i < n; i++) {
        if (i == n / 10)
            detach_rss_mid = resident_bytes();
        ringo_ctx_t *c, *v, *r;
        uint64_t id;
        switch (i % 7) {
        case 0:
            c = ringo_with_cancel(parent);
            (void)ringo_ctx_done(c);
            ringo_cancel(c);
            ringo_ctx_unref(c);
            break;
        case 1:
            c = ringo_with_timeout(parent, RINGO_HOUR);     /* its timer must go too */
            ringo_cancel(c);
            ringo_ctx_unref(c);
            break;
        case 2:
            v = ringo_with_value(parent, &key_c, NULL);     /* released, never cancelled */
            ringo_ctx_unref(v);
            break;
        case 3:
            v = ringo_with_value(parent, &key_c, NULL);
            c = ringo_with_cancel(v);
            ringo_ctx_unref(v);
            ringo_cancel_cause(c, -EPIPE);
            ringo_ctx_unref(c);
            break;
        case 4:
            c = ringo_with_cancel(parent);
            r = ringo_ctx_ref(c);
            ringo_ctx_unref(c);         /* released, never cancelled */
            ringo_cancel(r);
            ringo_ctx_unref(r);
            break;
        case 5:
            id = ringo_ctx_after_func(parent, stopped_fn, NULL);
            CHECK(id > 0);
            CHECK(ringo_ctx_after_func_stop(parent, id));
            break;
        default:
            c = ringo_with_cancel(parent);
            v = ringo_with_cancel(c);
            ringo_cancel(c);            /* the grandchild goes with its parent */
            ringo_ctx_unref(c);
            ringo_ctx_unref(v);
            break;
        }
    }
    detach_rss_end = resident_bytes();
    assert_int_equal(ringo_ctx_err(keep), 0);
    /* The parent still works: a live child and an after_func registered now
     * see the cancel. */
    ringo_ctx_t *live = ringo_with_cancel(parent);
    ringo_ctx_t *klive = ringo_ctx_ref(live);
    ringo_chan_t *ran = ringo_chan_make(sizeof(int), 1);
    assert_true(ringo_ctx_after_func(parent, send_fn, ran) > 0);
    int64_t t0 = ringo_now();
    ringo_cancel(parent);
    detach_cancel_took = ringo_now() - t0;
    assert_int_equal(ringo_ctx_err(keep), -ECANCELED);
    assert_int_equal(ringo_ctx_err(klive), -ECANCELED);
    await_chan(ran);
    /* Stopped after_funcs never run: give them a while to show up (a
     * bound on absence, not an ordering). */
    ringo_sleep(100 * RINGO_MILLISECOND);
    assert_int_equal(atomic_load(&stopped_ran), 0);
    ringo_ctx_unref(live);
    ringo_ctx_unref(klive);
    ringo_ctx_unref(parent);
    ringo_ctx_unref(keep);
    ringo_chan_unref(ran);
}

/* XTestCancelRemoves, at scale: children cancelled or released leave their
 * parent. Memory stays flat over 400,000 children (each would keep at least
 * a context, most a channel or a timer), and the parent's cancel is quick
 * and touches none of them (under ASan a stale child is a use-after-free). */
static void test_children_detach(void **state)
{
    (void)state;
    run_checked(2, detach_main, NULL);
    assert_true(detach_cancel_took < RINGO_SECOND);
#if !defined(RINGO_ASAN) && !defined(RINGO_TSAN)
    /* Quarantines and shadow memory make RSS meaningless under sanitizers. */
    if (detach_n >= 400000) {
        int64_t grew = detach_rss_end - detach_rss_mid;
        if (grew > (16 << 20))
            fail_msg("RSS grew by %lld bytes over %ld detached children",
                     (long long)grew, detach_n - detach_n / 10);
    }
#endif
}

/* ---- XTestCancelRemoves ------------------------------------------------------------------- */

static void cancel_removes_main(void *arg)
{
    (void)arg;
    atomic_store(&stopped_ran, 0);
    for (int kind = 0; kind < 2; kind++) {
        ringo_ctx_t *parent = kind == 0 ? ringo_with_cancel(ringo_background())
                                        : ringo_with_timeout(ringo_background(), RINGO_HOUR);
        ringo_ctx_t *keep = ringo_ctx_ref(parent);
        ringo_ctx_t *c = ringo_with_cancel(parent);
        ringo_cancel(c);
        ringo_ctx_unref(c);
        c = ringo_with_timeout(parent, 60 * RINGO_SECOND);
        ringo_cancel(c);
        ringo_ctx_unref(c);
        ringo_ctx_t *v = ringo_with_value(parent, &key_c, NULL);
        c = ringo_with_cancel(v);
        ringo_cancel(c);
        ringo_ctx_unref(c);
        ringo_ctx_unref(v);
        uint64_t id = ringo_ctx_after_func(parent, stopped_fn, NULL);
        assert_true(id > 0);
        assert_true(ringo_ctx_after_func_stop(parent, id));
        assert_false(ringo_ctx_after_func_stop(parent, id));   /* already gone */
        /* Nothing of the above is reachable from parent now; cancelling it
         * must not touch any of it. */
        ringo_cancel(parent);
        ringo_ctx_unref(parent);
        assert_int_equal(ringo_ctx_err(keep), -ECANCELED);
        ringo_ctx_unref(keep);
    }
    ringo_sleep(50 * RINGO_MILLISECOND);      /* a bound on absence */
    assert_int_equal(atomic_load(&stopped_ran), 0);
}

static void test_cancel_removes(void **state)
{
    (void)state;
    run_checked(2, cancel_removes_main, NULL);
}

/* ---- XTestSimultaneousCancels ------------------------------------------------------------- */

struct sim {
    ringo_ctx_t *ctx;
    ringo_chan_t *results;
};

static void sim_waiter(void *arg)
{
    struct sim s = *(struct sim *)arg;      /* a copy: the caller reuses *arg */
    static atomic_int dumped;
    bool done = wait_done(s.ctx);
    if (!done && !atomic_exchange(&dumped, 1)) {
        /* Who holds things up: the fibers and where they wait. */
        fprintf(stderr, "a waiter timed out; the fibers:\n");
        ringo_fiber_dump(2);
    }
    CHECK(done);
    CHECK(ringo_ctx_err(s.ctx) == -ECANCELED);
    ringo_ctx_unref(s.ctx);
    signal_done(s.results);
}

static void sim_canceller(void *arg)
{
    struct sim s = *(struct sim *)arg;
    ringo_cancel(s.ctx);
    ringo_ctx_unref(s.ctx);             /* it was handed the creator's reference */
    signal_done(s.results);
}

/* XTestSimultaneousCancels: a tree of contexts, every one cancelled by its
 * own fiber at the same time while another fiber per context waits on its
 * done channel; all of them wake and all the cancels return. */
static void simultaneous_main(void *arg)
{
    (void)arg;
    const long m = 1000;      /* 2,000 live fibers: under live_cap's limit */
    long rounds = iters(20);
    ringo_ctx_t **ctx = calloc((size_t)m, sizeof(*ctx));
    assert_non_null(ctx);
    ringo_chan_t *results = ringo_chan_make(sizeof(int), (size_t)(2 * m));
    for (long r = 0; r < rounds; r++) {
        ctx[0] = ringo_with_cancel(ringo_background());
        for (long i = 1; i < m; i++)
            ctx[i] = ringo_with_cancel(ctx[(i - 1) / 4]);
        /* Waiters first (each with its own reference), then cancellers in
         * an order unrelated to the tree. */
        for (long i = 0; i < m; i++) {
            struct sim s = {ringo_ctx_ref(ctx[i]), results};
            assert_int_equal(ringo_go_copy(sim_waiter, &s, sizeof(s)), 0);
        }
        for (long k = 0; k < m; k++) {
            long i = (k * 617) % m;         /* gcd(617, 1000) = 1: a permutation */
            struct sim s = {ctx[i], results};
            assert_int_equal(ringo_go_copy(sim_canceller, &s, sizeof(s)), 0);
        }
        for (long i = 0; i < 2 * m; i++)
            await_chan(results);
    }
    ringo_chan_unref(results);
    free(ctx);
}

static void test_simultaneous_cancels(void **state)
{
    (void)state;
    run_checked(2, simultaneous_main, NULL);
}

/* ---- XTestInterlockedCancels ---------------------------------------------------------------- */

struct interlock {
    ringo_ctx_t *parent, *child;
    ringo_chan_t *gate, *finished;
};

/* Go's version: waits for the parent to be done, then cancels the child. */
static void cancel_child_after_parent(void *arg)
{
    struct interlock s = *(struct interlock *)arg;
    ringo_chan_recv(ringo_ctx_done(s.parent), NULL);
    CHECK(ringo_ctx_err(s.parent) == -ECANCELED);
    ringo_cancel(s.child);
    ringo_ctx_unref(s.child);           /* handed the creator's reference */
    ringo_ctx_unref(s.parent);
    signal_done(s.finished);
}

/* Both sides released by one gate: parent and child cancels race. */
static void gated_cancel(void *arg)
{
    struct interlock s = *(struct interlock *)arg;
    ringo_chan_recv(s.gate, NULL);
    ringo_ctx_t *c = s.parent ? s.parent : s.child;
    ringo_cancel(c);
    ringo_ctx_unref(c);                 /* handed the creator's reference */
    signal_done(s.finished);
}

static void interlocked_main(void *arg)
{
    (void)arg;
    long n = iters(3000);
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), 2);
    for (long i = 0; i < n; i++) {
        ringo_ctx_t *parent = ringo_with_cancel(ringo_background());
        ringo_ctx_t *child = ringo_with_cancel(parent);
        ringo_ctx_t *kchild = ringo_ctx_ref(child);
        ringo_ctx_t *kparent = ringo_ctx_ref(parent);
        if (i % 2 == 0) {
            struct interlock s = {ringo_ctx_ref(parent), child, NULL, finished};
            assert_int_equal(ringo_go_copy(cancel_child_after_parent, &s, sizeof(s)), 0);
            ringo_cancel(parent);
            ringo_ctx_unref(parent);
            assert_true(wait_done(kchild));
            await_chan(finished);
        } else {
            ringo_chan_t *gate = ringo_chan_make(0, 0);
            struct interlock a = {parent, NULL, gate, finished};
            struct interlock b = {NULL, child, gate, finished};
            assert_int_equal(ringo_go_copy(gated_cancel, &a, sizeof(a)), 0);
            assert_int_equal(ringo_go_copy(gated_cancel, &b, sizeof(b)), 0);
            ringo_chan_close(gate);
            await_chan(finished);
            await_chan(finished);
            ringo_chan_unref(gate);
        }
        assert_int_equal(ringo_ctx_err(kparent), -ECANCELED);
        assert_int_equal(ringo_ctx_err(kchild), -ECANCELED);
        assert_true(is_done(kparent));
        assert_true(is_done(kchild));
        ringo_ctx_unref(kchild);
        ringo_ctx_unref(kparent);
    }
    ringo_chan_unref(finished);
}

static void test_interlocked_cancels(void **state)
{
    (void)state;
    run_checked(2, interlocked_main, NULL);
}

/* ---- TestValues ------------------------------------------------------------------------------ */

static void values_main(void *arg)
{
    (void)arg;
    static char v1, v2, v3, v4;
    ringo_ctx_t *c1 = ringo_with_value(ringo_background(), key_a, &v1);
    ringo_ctx_t *c2 = ringo_with_cancel(c1);
    ringo_ctx_t *c3 = ringo_with_value(c2, &key_c, &v2);
    ringo_ctx_t *c4 = ringo_with_value(c3, key_a, &v3);      /* shadows c1's */
    ringo_ctx_t *c5 = ringo_with_timeout(c4, RINGO_HOUR);
    assert_ptr_equal(ringo_ctx_value(c1, key_a), &v1);
    assert_null(ringo_ctx_value(c1, &key_c));
    assert_ptr_equal(ringo_ctx_value(c2, key_a), &v1);
    assert_ptr_equal(ringo_ctx_value(c3, key_a), &v1);
    assert_ptr_equal(ringo_ctx_value(c3, &key_c), &v2);
    assert_ptr_equal(ringo_ctx_value(c4, key_a), &v3);       /* nearest wins */
    assert_ptr_equal(ringo_ctx_value(c4, &key_c), &v2);
    assert_ptr_equal(ringo_ctx_value(c5, key_a), &v3);
    assert_ptr_equal(ringo_ctx_value(c5, &key_c), &v2);
    /* Keys compare by address, not by the bytes behind them. */
    assert_true(memcmp(key_a, key_b, sizeof(key_a)) == 0);
    assert_null(ringo_ctx_value(c5, key_b));
    assert_null(ringo_ctx_value(c5, &v4));
    /* A sibling branch does not see c4's value. */
    ringo_ctx_t *s = ringo_with_value(c3, key_b, &v4);
    assert_ptr_equal(ringo_ctx_value(s, key_b), &v4);
    assert_ptr_equal(ringo_ctx_value(s, key_a), &v1);
    assert_null(ringo_ctx_value(c5, key_b));
    /* A NULL value is a value: it hides the outer one. */
    ringo_ctx_t *z = ringo_with_value(c4, key_a, NULL);
    assert_null(ringo_ctx_value(z, key_a));
    assert_ptr_equal(ringo_ctx_value(z, &key_c), &v2);
    /* Values survive cancellation. */
    ringo_ctx_t *k5 = ringo_ctx_ref(c5);
    ringo_cancel(c2);
    ringo_ctx_unref(c2);                /* c3 keeps it */
    assert_int_equal(ringo_ctx_err(k5), -ECANCELED);
    assert_int_equal(ringo_ctx_err(z), -ECANCELED);
    assert_ptr_equal(ringo_ctx_value(k5, key_a), &v3);
    assert_ptr_equal(ringo_ctx_value(k5, &key_c), &v2);
    assert_int_equal(ringo_ctx_err(c1), 0);
    ringo_ctx_unref(z);
    ringo_ctx_unref(s);
    ringo_cancel(c5);
    ringo_ctx_unref(c5);
    ringo_ctx_unref(k5);
    ringo_ctx_unref(c4);
    ringo_ctx_unref(c3);
    ringo_ctx_unref(c1);
}

static void test_values(void **state)
{
    (void)state;
    run_checked(2, values_main, NULL);
}

/* ---- TestWithTimeout, TestDeadline --------------------------------------------------------------- */

static void timeout_main(void *arg)
{
    (void)arg;
    const ringo_duration_t d = 30 * RINGO_MILLISECOND;
    int64_t t0 = ringo_now();
    ringo_ctx_t *c = ringo_with_timeout(ringo_background(), d);
    int64_t t1 = ringo_now();
    assert_non_null(c);
    ringo_ctx_t *child = ringo_with_cancel(c);
    ringo_ctx_t *kchild = ringo_ctx_ref(child);
    int64_t dl = 0;
    assert_true(ringo_ctx_deadline(c, &dl));
    assert_true(dl >= t0 + d && dl <= t1 + d);
    int64_t cdl = 0;
    assert_true(ringo_ctx_deadline(child, &cdl));
    assert_int_equal(cdl, dl);
    assert_int_equal(ringo_ctx_err(c), 0);
    assert_false(ringo_chan_recv(ringo_ctx_done(c), NULL));     /* blocks until it fires */
    int64_t took = ringo_now() - t0;
    assert_true(took >= d);
    assert_true(took < SOON);
    assert_true(ringo_now() >= dl);
    assert_int_equal(ringo_ctx_err(c), -ETIMEDOUT);
    assert_int_equal(ringo_ctx_cause(c), -ETIMEDOUT);
    /* Go: a child cancelled by its parent's deadline reports DeadlineExceeded. */
    assert_true(wait_done(kchild));
    assert_int_equal(ringo_ctx_err(kchild), -ETIMEDOUT);
    assert_int_equal(ringo_ctx_cause(kchild), -ETIMEDOUT);
    /* The first error sticks: the creator's cancel does not change it. */
    ringo_cancel(c);
    assert_int_equal(ringo_ctx_err(c), -ETIMEDOUT);
    ringo_cancel_cause(child, -EPIPE);
    assert_int_equal(ringo_ctx_cause(kchild), -ETIMEDOUT);
    ringo_ctx_unref(child);
    ringo_ctx_unref(c);
    ringo_ctx_unref(kchild);

    /* Many concurrent timeouts on both workers' timer heaps. */
    enum { N = 50 };
    ringo_ctx_t *cs[N];
    int64_t start = ringo_now();
    for (int i = 0; i < N; i++)
        cs[i] = ringo_with_timeout(ringo_background(), (i % 10 + 1) * RINGO_MILLISECOND);
    for (int i = 0; i < N; i++) {
        assert_true(wait_done(cs[i]));
        assert_true(ringo_now() - start >= (i % 10 + 1) * RINGO_MILLISECOND);
        assert_int_equal(ringo_ctx_err(cs[i]), -ETIMEDOUT);
        ringo_cancel(cs[i]);
        ringo_ctx_unref(cs[i]);
    }
}

static void test_with_timeout(void **state)
{
    (void)state;
    run_checked(2, timeout_main, NULL);
}

/* TestDeadline "already past", and a timeout of zero or less. */
static void past_deadline_main(void *arg)
{
    (void)arg;
    int64_t past = ringo_now() - RINGO_SECOND;
    ringo_ctx_t *cs[] = {
        ringo_with_deadline(ringo_background(), past),
        ringo_with_timeout(ringo_background(), 0),
        ringo_with_timeout(ringo_background(), -RINGO_SECOND),
    };
    for (int i = 0; i < 3; i++) {
        assert_non_null(cs[i]);
        assert_int_equal(ringo_ctx_err(cs[i]), -ETIMEDOUT);
        assert_int_equal(ringo_ctx_cause(cs[i]), -ETIMEDOUT);
        assert_true(is_done(cs[i]));
        int64_t dl = 0;
        assert_true(ringo_ctx_deadline(cs[i], &dl));
        if (i == 0)
            assert_int_equal(dl, past);
        /* A child of an expired context is born expired. */
        ringo_ctx_t *child = ringo_with_cancel(cs[i]);
        assert_int_equal(ringo_ctx_err(child), -ETIMEDOUT);
        assert_true(is_done(child));
        ringo_cancel(cs[i]);
        assert_int_equal(ringo_ctx_err(cs[i]), -ETIMEDOUT);
        ringo_cancel(child);
        ringo_ctx_unref(child);
        ringo_ctx_unref(cs[i]);
    }
}

static void test_past_deadline(void **state)
{
    (void)state;
    run_checked(2, past_deadline_main, NULL);
}

/* TestDeadline / TestWithDeadline "child deadline is the earlier". */
static void deadline_min_main(void *arg)
{
    (void)arg;
    int64_t now = ringo_now();
    int64_t pd = now + RINGO_HOUR;
    ringo_ctx_t *parent = ringo_with_deadline(ringo_background(), pd);
    ringo_ctx_t *later = ringo_with_deadline(parent, now + 2 * RINGO_HOUR);
    ringo_ctx_t *later_t = ringo_with_timeout(parent, 3 * RINGO_HOUR);
    ringo_ctx_t *plain = ringo_with_cancel(parent);
    ringo_ctx_t *val = ringo_with_value(parent, &key_c, NULL);
    int64_t ed = now + 40 * RINGO_MILLISECOND;
    ringo_ctx_t *earlier = ringo_with_deadline(val, ed);
    ringo_ctx_t *under_earlier = ringo_with_timeout(earlier, RINGO_HOUR);
    int64_t dl;
    assert_true(ringo_ctx_deadline(parent, &dl));
    assert_int_equal(dl, pd);
    assert_true(ringo_ctx_deadline(later, &dl));
    assert_int_equal(dl, pd);
    assert_true(ringo_ctx_deadline(later_t, &dl));
    assert_int_equal(dl, pd);
    assert_true(ringo_ctx_deadline(plain, &dl));
    assert_int_equal(dl, pd);
    assert_true(ringo_ctx_deadline(val, &dl));
    assert_int_equal(dl, pd);
    assert_true(ringo_ctx_deadline(earlier, &dl));
    assert_int_equal(dl, ed);
    assert_true(ringo_ctx_deadline(under_earlier, &dl));
    assert_int_equal(dl, ed);
    /* The earlier one fires on its own; the parent lives on. */
    assert_true(wait_done(under_earlier));
    assert_true(ringo_now() >= ed);
    assert_int_equal(ringo_ctx_err(earlier), -ETIMEDOUT);
    assert_int_equal(ringo_ctx_err(under_earlier), -ETIMEDOUT);
    assert_int_equal(ringo_ctx_err(parent), 0);
    assert_int_equal(ringo_ctx_err(later), 0);
    ringo_ctx_t *all[] = {under_earlier, earlier, val, plain, later_t, later, parent};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        ringo_cancel(all[i]);
        ringo_ctx_unref(all[i]);
    }
}

static void test_deadline_min(void **state)
{
    (void)state;
    run_checked(2, deadline_min_main, NULL);
}

/* ---- RINGO_DONE in a select -------------------------------------------------------------------- */

struct sel {
    ringo_ctx_t *ctx;
    ringo_chan_t *who;
};

static void cancel_when_parked(void *arg)
{
    struct sel s = *(struct sel *)arg;
    ringo__fiber_t *f = NULL;
    CHECK(ringo_chan_recv(s.who, &f));
    wait_parked(f);
    ringo_cancel(s.ctx);
    ringo_ctx_unref(s.ctx);         /* this fiber was handed the creator's reference */
}

/* TestSelect-style use of ctx.Done(): a select on a channel that never
 * gets a value and RINGO_DONE, cancelled from another fiber once the
 * selecting fiber is parked. */
static void select_done_main(void *arg)
{
    (void)arg;
    ringo_chan_t *never = ringo_chan_make(sizeof(int), 0);
    ringo_chan_t *who = ringo_chan_make(sizeof(void *), 1);
    for (int round = 0; round < 20; round++) {
        ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
        ringo_ctx_t *keep = ringo_ctx_ref(ctx);
        /* round % 2: a done channel made before the select, or by it. */
        if (round % 2)
            (void)ringo_ctx_done(keep);
        struct sel s = {ctx, who};
        assert_int_equal(ringo_go_copy(cancel_when_parked, &s, sizeof(s)), 0);
        ringo__fiber_t *self = ringo__current();
        assert_int_equal(ringo_chan_try_send(who, &self), 0);
        int v = -1;
        ringo_case_t cs[] = {RINGO_RECV(never, &v), RINGO_DONE(keep)};
        assert_int_equal(ringo_select(cs, 2), 1);
        assert_false(cs[1].ok);
        assert_int_equal(v, -1);
        assert_int_equal(ringo_ctx_err(keep), -ECANCELED);
        ringo_ctx_unref(keep);
    }
    /* A live context loses to a ready channel; a cancelled one is ready. */
    ringo_chan_t *ready = ringo_chan_make(sizeof(int), 1);
    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    assert_int_equal(ringo_chan_try_send(ready, &(int){5}), 0);
    int v = 0;
    ringo_case_t cs[] = {RINGO_DONE(ctx), RINGO_RECV(ready, &v)};
    assert_int_equal(ringo_select(cs, 2), 1);
    assert_int_equal(v, 5);
    ringo_case_t cs2[] = {RINGO_DONE(ctx), RINGO_DEFAULT};
    assert_int_equal(ringo_select(cs2, 2), 1);
    ringo_cancel(ctx);
    ringo_case_t cs3[] = {RINGO_DONE(ctx), RINGO_DEFAULT};
    assert_int_equal(ringo_select(cs3, 2), 0);
    ringo_ctx_unref(ctx);
    ringo_chan_unref(ready);
    ringo_chan_unref(never);
    ringo_chan_unref(who);
}

static void test_select_done(void **state)
{
    (void)state;
    run_checked(2, select_done_main, NULL);
}

/* ---- RINGO_DEFER_CANCEL ------------------------------------------------------------------------- */

static ringo_ctx_t *defer_early_return(ringo_ctx_t *parent, ringo_ctx_t **kept)
{
    ringo_ctx_t *c RINGO_DEFER_CANCEL = ringo_with_timeout(parent, RINGO_HOUR);
    *kept = ringo_ctx_ref(c);
    if (ringo_ctx_err(c) == 0)
        return *kept;           /* the cleanup cancels c on the way out */
    return NULL;
}

static void defer_main(void *arg)
{
    (void)arg;
    ringo_ctx_t *keep, *kchild;
    {
        ringo_ctx_t *c RINGO_DEFER_CANCEL = ringo_with_cancel(ringo_background());
        keep = ringo_ctx_ref(c);
        ringo_ctx_t *child RINGO_DEFER_CANCEL = ringo_with_cancel(c);
        kchild = ringo_ctx_ref(child);
        assert_int_equal(ringo_ctx_err(c), 0);
        assert_int_equal(ringo_ctx_err(child), 0);
    }
    assert_int_equal(ringo_ctx_err(keep), -ECANCELED);
    assert_int_equal(ringo_ctx_err(kchild), -ECANCELED);
    assert_true(is_done(keep));
    ringo_ctx_unref(kchild);
    ringo_ctx_unref(keep);

    /* A NULL context is left alone. */
    {
        ringo_ctx_t *none RINGO_DEFER_CANCEL = NULL;
        (void)none;
    }

    /* break out of a loop and return from a function: each runs the cleanup. */
    ringo_ctx_t *kept[3] = {0};
    for (int i = 0; i < 10; i++) {
        ringo_ctx_t *c RINGO_DEFER_CANCEL = ringo_with_cancel(ringo_background());
        kept[i] = ringo_ctx_ref(c);
        if (i == 2)
            break;
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ringo_ctx_err(kept[i]), -ECANCELED);
        ringo_ctx_unref(kept[i]);
    }
    ringo_ctx_t *k = NULL;
    assert_non_null(defer_early_return(ringo_background(), &k));
    assert_int_equal(ringo_ctx_err(k), -ECANCELED);
    ringo_ctx_unref(k);
}

static void test_defer_cancel(void **state)
{
    (void)state;
    run_checked(2, defer_main, NULL);
}

/* ---- AfterFunc (afterfunc_test.go) --------------------------------------------------------------- */

struct af {
    ringo_chan_t *ran;      /* cap >= 1: the fiber id fn ran on */
};

static void af_fn(void *arg)
{
    struct af *a = arg;
    uint64_t id = ringo_fiber_id();
    ringo_chan_send(a->ran, &id);
}

static void cancel_and_report(void *arg)
{
    struct sel s = *(struct sel *)arg;
    uint64_t id = ringo_fiber_id();
    ringo_cancel(s.ctx);
    ringo_ctx_unref(s.ctx);         /* handed the creator's reference */
    ringo_chan_send(s.who, &id);
}

static void after_func_main(void *arg)
{
    (void)arg;
    uint64_t me = ringo_fiber_id();
    struct af a = {ringo_chan_make(sizeof(uint64_t), 16)};
    uint64_t got = 0;

    /* TestAfterFuncCalledAfterCancel: not before, then in a new fiber. */
    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    ringo_ctx_t *keep = ringo_ctx_ref(ctx);
    uint64_t id = ringo_ctx_after_func(ctx, af_fn, &a);
    assert_true(id > 0);
    assert_int_equal(ringo_chan_try_recv(a.ran, &got), -EAGAIN);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    assert_true(ringo_chan_recv(a.ran, &got));
    assert_true(got != 0 && got != me);
    /* Stop after it ran (or started): false. */
    assert_false(ringo_ctx_after_func_stop(keep, id));
    /* No function: 0, on a live context, a cancelled one and a root. */
    assert_int_equal(ringo_ctx_after_func(keep, NULL, NULL), 0);
    assert_int_equal(ringo_ctx_after_func(ringo_background(), NULL, NULL), 0);
    ringo_ctx_t *live_ctx = ringo_with_cancel(ringo_background());
    assert_int_equal(ringo_ctx_after_func(live_ctx, NULL, NULL), 0);
    ringo_ctx_unref(live_ctx);
    ringo_ctx_unref(keep);

    /* Cancelled from another fiber: fn runs in a third one. */
    ctx = ringo_with_cancel(ringo_background());
    keep = ringo_ctx_ref(ctx);
    assert_true(ringo_ctx_after_func(ctx, af_fn, &a) > 0);
    ringo_chan_t *who = ringo_chan_make(sizeof(uint64_t), 1);
    struct sel s = {ctx, who};
    assert_int_equal(ringo_go_copy(cancel_and_report, &s, sizeof(s)), 0);
    uint64_t canceller = 0;
    assert_true(ringo_chan_recv(who, &canceller));
    assert_true(ringo_chan_recv(a.ran, &got));
    assert_true(got != me && got != canceller && got != 0);
    ringo_ctx_unref(keep);
    ringo_chan_unref(who);

    /* TestAfterFuncCalledImmediately: already cancelled. */
    ctx = ringo_with_cancel(ringo_background());
    keep = ringo_ctx_ref(ctx);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    id = ringo_ctx_after_func(keep, af_fn, &a);
    assert_true(id > 0);
    assert_true(ringo_chan_recv(a.ran, &got));
    assert_true(got != me && got != 0);
    assert_false(ringo_ctx_after_func_stop(keep, id));
    ringo_ctx_unref(keep);

    /* TestAfterFuncNotCalledAfterStop. */
    atomic_store(&stopped_ran, 0);
    ctx = ringo_with_cancel(ringo_background());
    keep = ringo_ctx_ref(ctx);
    id = ringo_ctx_after_func(ctx, stopped_fn, NULL);
    assert_true(id > 0);
    assert_true(ringo_ctx_after_func_stop(ctx, id));
    assert_false(ringo_ctx_after_func_stop(ctx, id));      /* a second stop: false */
    /* A registration still in place runs; the stopped one does not. */
    assert_true(ringo_ctx_after_func(ctx, af_fn, &a) > 0);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    assert_true(ringo_chan_recv(a.ran, &got));
    ringo_sleep(50 * RINGO_MILLISECOND);      /* a bound on absence */
    assert_int_equal(atomic_load(&stopped_ran), 0);
    ringo_ctx_unref(keep);

    /* TestAfterFuncCalledAfterTimeout, and on a child of a value context
     * whose ancestor is cancelled; several registrations all run. */
    ctx = ringo_with_timeout(ringo_background(), 5 * RINGO_MILLISECOND);
    ringo_ctx_t *v = ringo_with_value(ctx, &key_c, NULL);
    for (int i = 0; i < 5; i++)
        assert_true(ringo_ctx_after_func(v, af_fn, &a) > 0);
    assert_true(ringo_ctx_after_func(ctx, af_fn, &a) > 0);
    for (int i = 0; i < 6; i++) {
        ringo_case_t cs[] = {RINGO_RECV(a.ran, &got), RINGO_TIMEOUT(SOON)};
        assert_int_equal(ringo_select(cs, 2), 0);
    }
    assert_int_equal(ringo_ctx_err(v), -ETIMEDOUT);
    ringo_ctx_unref(v);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);

    ringo_chan_unref(a.ran);
}

static void test_after_func(void **state)
{
    (void)state;
    run_checked(2, after_func_main, NULL);
}

/* Go: AfterFunc(context.Background(), f) registers nothing that can fire,
 * and its stop() returns true (stop's once runs first: it "stopped" f), so
 * the same holds for any context that can never be cancelled. */
static void after_func_never_main(void *arg)
{
    (void)arg;
    atomic_store(&stopped_ran, 0);
    ringo_ctx_t *v = ringo_with_value(ringo_background(), &key_c, NULL);
    ringo_ctx_t *never[] = {ringo_background(), ringo_todo(), v};
    for (int i = 0; i < 3; i++) {
        uint64_t id = ringo_ctx_after_func(never[i], stopped_fn, NULL);
        assert_true(id > 0);
        assert_true(ringo_ctx_after_func_stop(never[i], id));
    }
    ringo_ctx_unref(v);
    assert_int_equal(atomic_load(&stopped_ran), 0);
}

static void test_after_func_never_cancelled(void **state)
{
    (void)state;
    run_checked(2, after_func_never_main, NULL);
}

/* ---- TestCause (Go 1.20 WithCancelCause) ------------------------------------------------------------ */

static void cause_main(void *arg)
{
    (void)arg;
    /* Cancelled with a cause: err is Canceled, cause is the cause. */
    ringo_ctx_t *c = ringo_with_cancel(ringo_background());
    ringo_ctx_t *kc = ringo_ctx_ref(c);
    ringo_ctx_t *child = ringo_with_cancel(c);
    ringo_ctx_t *kchild = ringo_ctx_ref(child);
    ringo_ctx_t *val = ringo_with_value(child, &key_c, NULL);
    ringo_ctx_t *grand = ringo_with_timeout(val, RINGO_HOUR);
    ringo_ctx_t *kgrand = ringo_ctx_ref(grand);
    /* A child cancelled first keeps its own cause. */
    ringo_ctx_t *own = ringo_with_cancel(c);
    ringo_ctx_t *kown = ringo_ctx_ref(own);
    ringo_cancel_cause(own, -EBADF);
    ringo_ctx_unref(own);
    assert_int_equal(ringo_ctx_err(kc), 0);
    assert_int_equal(ringo_ctx_cause(kc), 0);
    ringo_cancel_cause(c, -EPIPE);
    ringo_ctx_unref(c);
    assert_int_equal(ringo_ctx_err(kc), -ECANCELED);
    assert_int_equal(ringo_ctx_cause(kc), -EPIPE);
    /* Go: descendants of a cause-cancelled parent report the parent's cause. */
    assert_int_equal(ringo_ctx_err(kchild), -ECANCELED);
    assert_int_equal(ringo_ctx_cause(kchild), -EPIPE);
    assert_int_equal(ringo_ctx_err(val), -ECANCELED);
    assert_int_equal(ringo_ctx_cause(val), -EPIPE);
    assert_int_equal(ringo_ctx_err(kgrand), -ECANCELED);
    assert_int_equal(ringo_ctx_cause(kgrand), -EPIPE);
    assert_int_equal(ringo_ctx_cause(kown), -EBADF);
    /* The first cancel wins: later causes are ignored. */
    ringo_cancel_cause(child, -EIO);
    ringo_ctx_unref(child);
    assert_int_equal(ringo_ctx_cause(kchild), -EPIPE);
    ringo_cancel(grand);
    ringo_ctx_unref(grand);
    assert_int_equal(ringo_ctx_cause(kgrand), -EPIPE);
    ringo_ctx_unref(val);
    ringo_ctx_unref(kgrand);
    ringo_ctx_unref(kchild);
    ringo_ctx_unref(kown);
    ringo_ctx_unref(kc);

    /* Plain cancel: the cause is the error. */
    c = ringo_with_cancel(ringo_background());
    kc = ringo_ctx_ref(c);
    child = ringo_with_cancel(c);
    kchild = ringo_ctx_ref(child);
    ringo_cancel(c);
    ringo_ctx_unref(c);
    assert_int_equal(ringo_ctx_cause(kc), -ECANCELED);
    assert_int_equal(ringo_ctx_cause(kchild), -ECANCELED);
    ringo_cancel(child);
    ringo_ctx_unref(child);
    ringo_ctx_unref(kchild);
    ringo_ctx_unref(kc);

    /* Cause on a timeout context before it fires; and a timeout's cause. */
    c = ringo_with_timeout(ringo_background(), RINGO_HOUR);
    kc = ringo_ctx_ref(c);
    ringo_cancel_cause(c, -ENOSPC);
    ringo_ctx_unref(c);
    assert_int_equal(ringo_ctx_err(kc), -ECANCELED);
    assert_int_equal(ringo_ctx_cause(kc), -ENOSPC);
    ringo_ctx_unref(kc);

    c = ringo_with_timeout(ringo_background(), RINGO_MILLISECOND);
    child = ringo_with_cancel(c);
    assert_true(wait_done(child));
    assert_int_equal(ringo_ctx_err(c), -ETIMEDOUT);
    assert_int_equal(ringo_ctx_cause(c), -ETIMEDOUT);
    assert_int_equal(ringo_ctx_cause(child), -ETIMEDOUT);
    kc = ringo_ctx_ref(c);
    ringo_cancel_cause(c, -EPIPE);                  /* too late */
    ringo_ctx_unref(c);
    assert_int_equal(ringo_ctx_cause(kc), -ETIMEDOUT);
    ringo_cancel(child);
    ringo_ctx_unref(child);
    ringo_ctx_unref(kc);
}

static void test_cause(void **state)
{
    (void)state;
    run_checked(2, cause_main, NULL);
}

/* ---- a context shared by fibers on both workers ----------------------------------------------------- */

static const char req_key = 'r';

struct share {
    ringo_ctx_t *ctx;       /* the fiber's own reference */
    ringo_chan_t *ready, *finished;
    intptr_t want;
};

static void share_worker(void *arg)
{
    struct share s = *(struct share *)arg;
    CHECK(ringo_ctx_value(s.ctx, &req_key) == (void *)s.want);
    ringo_ctx_t *child = ringo_with_cancel(s.ctx);
    ringo_ctx_t *v = ringo_with_value(child, &key_c, (void *)&key_c);
    CHECK(ringo_ctx_value(v, &req_key) == (void *)s.want);
    CHECK(ringo_ctx_err(v) == 0);
    signal_done(s.ready);
    ringo_case_t cs[] = {RINGO_DONE(v), RINGO_TIMEOUT(SOON)};
    CHECK(ringo_select(cs, 2) == 0);
    CHECK(ringo_ctx_err(v) == -ECANCELED);
    CHECK(ringo_ctx_cause(v) == -ECONNRESET);
    CHECK(ringo_ctx_err(s.ctx) == -ECANCELED);
    ringo_ctx_unref(v);
    ringo_cancel(child);
    ringo_ctx_unref(child);
    ringo_ctx_unref(s.ctx);
    signal_done(s.finished);
}

static void share_main(void *arg)
{
    (void)arg;
    enum { K = 64 };
    long rounds = iters(50);
    ringo_chan_t *ready = ringo_chan_make(sizeof(int), K);
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), K);
    for (long r = 0; r < rounds; r++) {
        ringo_ctx_t *base = ringo_with_value(ringo_background(), &req_key, (void *)(intptr_t)(r + 1));
        ringo_ctx_t *ctx = ringo_with_cancel(base);
        ringo_ctx_unref(base);          /* ctx keeps it alive */
        for (int i = 0; i < K; i++) {
            struct share s = {ringo_ctx_ref(ctx), ready, finished, (intptr_t)(r + 1)};
            assert_int_equal(ringo_go_copy(share_worker, &s, sizeof(s)), 0);
        }
        for (int i = 0; i < K; i++)
            await_chan(ready);
        ringo_cancel_cause(ctx, -ECONNRESET);
        ringo_ctx_unref(ctx);           /* main's reference goes; the fibers hold theirs */
        for (int i = 0; i < K; i++)
            await_chan(finished);
    }
    ringo_chan_unref(ready);
    ringo_chan_unref(finished);
}

static void test_shared_across_workers(void **state)
{
    (void)state;
    run_checked(2, share_main, NULL);
}

/* ---- ExampleWithCancel: a generator stopped by cancel ------------------------------------------------ */

struct gen {
    ringo_ctx_t *ctx;
    ringo_chan_t *out, *exited;
};

static void fibonacci(void *arg)
{
    struct gen g = *(struct gen *)arg;
    uint64_t x = 0, y = 1;
    for (;;) {
        ringo_case_t cs[] = {RINGO_DONE(g.ctx), RINGO_SEND(g.out, &x)};
        int i = ringo_select(cs, 2);
        if (i == 0)
            break;
        CHECK(i == 1);
        uint64_t t = x + y;
        x = y;
        y = t;
    }
    CHECK(ringo_ctx_err(g.ctx) == -ECANCELED);
    ringo_ctx_unref(g.ctx);
    ringo_chan_unref(g.out);
    signal_done(g.exited);
}

static void generator_main(void *arg)
{
    (void)arg;
    ringo_chan_t *exited = ringo_chan_make(sizeof(int), 1);
    for (int round = 0; round < 100; round++) {
        ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(ringo_background());
        ringo_chan_t *out = ringo_chan_make(sizeof(uint64_t), (size_t)(round % 3));
        struct gen g = {ringo_ctx_ref(ctx), ringo_chan_ref(out), exited};
        assert_int_equal(ringo_go_copy(fibonacci, &g, sizeof(g)), 0);
        uint64_t a = 0, b = 1, v;
        for (int i = 0; i < 30; i++) {
            assert_true(ringo_chan_recv(out, &v));
            assert_true(v == a);
            uint64_t t = a + b;
            a = b;
            b = t;
        }
        ringo_cancel(ctx);              /* early; the deferred one follows */
        assert_int_equal(ringo_ctx_err(ctx), -ECANCELED);
        await_chan(exited);
        ringo_chan_unref(out);
    }
    ringo_chan_unref(exited);
}

static void test_generator_stopped_by_cancel(void **state)
{
    (void)state;
    run_checked(2, generator_main, NULL);
}

/* ---- regression: a deadline fire that drops the last reference ------------------------------ */

/* Used to hang the runtime: c has a deadline and a child d. The fire's
 * cancel of c pinned d; the creator, seeing ringo_ctx_err(c), cancelled d
 * and c; the fire's unpin of d then dropped c to zero, and freeing c waited
 * for c's timer, which was the fire running on that very thread: forever
 * (and the fire went on to touch c's freed memory). Many fibers waiting on
 * c's done channel widen the window. Run in a forked child under alarm(),
 * so a hang fails the test instead of stalling the suite. */
#define FIRE_WAITERS 500

struct fire_wait {
    ringo_chan_t *done;         /* the waiter's own reference */
    ringo_waitgroup_t *wg;
};

static void fire_waiter(void *arg)
{
    struct fire_wait w = *(struct fire_wait *)arg;
    CHECK(!ringo_chan_recv(w.done, NULL));
    ringo_chan_unref(w.done);
    ringo_waitgroup_done(w.wg);
}

static void fire_release_main(void *arg)
{
    (void)arg;
    long rounds = iters(200);
    for (long r = 0; r < rounds; r++) {
        ringo_ctx_t *c = ringo_with_timeout(ringo_background(), 200 * RINGO_MICROSECOND);
        ringo_ctx_t *d = ringo_with_cancel(c);
        ringo_chan_t *done = ringo_ctx_done(c);
        ringo_waitgroup_t wg = {0};
        ringo_waitgroup_add(&wg, FIRE_WAITERS);
        for (int i = 0; i < FIRE_WAITERS; i++) {
            struct fire_wait w = {ringo_chan_ref(done), &wg};
            CHECK(ringo_go_copy(fire_waiter, &w, sizeof(w)) == 0);
        }
        while (ringo_ctx_err(c) == 0)
            ringo_yield();
        CHECK(ringo_ctx_err(c) == -ETIMEDOUT);
        ringo_cancel(d);
        ringo_ctx_unref(d);
        ringo_cancel(c);
        ringo_ctx_unref(c);
        ringo_waitgroup_wait(&wg);
    }
}

static void fire_release_child(void)
{
    alarm(120);
    ringo_config_t cfg = {.workers = 2};
    int rc = ringo_run(&cfg, fire_release_main, NULL);
    _exit(rc == 0 && atomic_load(&check_errors) == 0 ? 0 : 1);
}

static void test_deadline_fire_drops_last_reference(void **state)
{
    (void)state;
    static struct death d;
    death_run(fire_release_child, &d);
    if (d.signal != 0 || d.status != 0) {
        fprintf(stderr, "child: signal %d (SIGALRM %d: hung) status %d; output:\n%s\n",
                d.signal, SIGALRM, d.status, d.out);
        fail();
    }
}

/* ---- regression: a parent's cancel meets children released at that moment -------------------- */

/* Used to corrupt the heap under load: the parent's cancel took a child off
 * its list and cleared the child's `attached` before pinning it; the
 * child's own cancel and last unref, on another worker, then read
 * `attached` as NULL and freed the child in between, so the pin read freed
 * memory, or pinned (and cancelled, and later unpinned) whatever new
 * context the allocator had put there. Here every child's fiber releases
 * its child while the parent's cancel walks the list, after hammering the
 * child's count (the pin's CAS then retries, which widens the window), and
 * at once makes a context of its own, likely in the child's memory: a
 * cancel that mistook it for the child would have cancelled it. More
 * workers than CPUs, so the walker is preempted in the window now and
 * then. ASan reports the read itself. */
#define WALK_CHILDREN 64

struct walk_child {
    ringo_ctx_t *ctx;           /* the creator's reference, handed over */
    ringo_chan_t *start;        /* closed when the parent's cancel starts */
    ringo_waitgroup_t *wg;
    int spins;
};

static void walk_child_release(void *arg)
{
    struct walk_child w = *(struct walk_child *)arg;
    CHECK(!ringo_chan_recv(w.start, NULL));
    for (int i = 0; i < w.spins; i++)
        ringo_ctx_unref(ringo_ctx_ref(w.ctx));
    ringo_cancel(w.ctx);
    ringo_ctx_unref(w.ctx);
    ringo_ctx_t *mine = ringo_with_cancel(ringo_background());
    CHECK(mine != NULL);
    ringo_yield();
    CHECK(ringo_ctx_err(mine) == 0);
    ringo_cancel(mine);
    ringo_ctx_unref(mine);
    ringo_waitgroup_done(w.wg);
}

static void walk_release_main(void *arg)
{
    (void)arg;
    long rounds = iters(1000);
    for (long r = 0; r < rounds; r++) {
        ringo_ctx_t *parent = ringo_with_cancel(ringo_background());
        ringo_chan_t *start = ringo_chan_make(0, 0);
        ringo_waitgroup_t wg = {0};
        ringo_waitgroup_add(&wg, WALK_CHILDREN);
        for (int i = 0; i < WALK_CHILDREN; i++) {
            struct walk_child w = {ringo_with_cancel(parent), start, &wg, (int)((i * 37 + r) % 200)};
            CHECK(w.ctx != NULL);
            CHECK(ringo_go_copy(walk_child_release, &w, sizeof(w)) == 0);
        }
        ringo_chan_close(start);
        ringo_cancel(parent);
        CHECK(ringo_ctx_err(parent) == -ECANCELED);
        ringo_ctx_unref(parent);
        ringo_waitgroup_wait(&wg);
        ringo_chan_unref(start);
    }
}

static void test_parent_cancel_meets_released_children(void **state)
{
    (void)state;
    run_checked(4, walk_release_main, NULL);
}

/* ---- regression: cancel twice; an early cancel, then the deferred one ---------------------- */

/* Used to be a double free: ringo_cancel also released the creator's
 * reference, so a second cancel (Go allows any number) freed the context
 * again. Now cancel only cancels: twice, with a cause after a plain one,
 * on every kind of context, and the context stays readable between. */
static void cancel_twice_main(void *arg)
{
    (void)arg;
    ringo_ctx_t *cs[] = {
        ringo_with_cancel(ringo_background()),
        ringo_with_timeout(ringo_background(), RINGO_HOUR),
        ringo_with_deadline(ringo_background(), ringo_now() - RINGO_SECOND),
    };
    int want[] = {-ECANCELED, -ECANCELED, -ETIMEDOUT};
    for (int i = 0; i < 3; i++) {
        ringo_ctx_t *c = cs[i];
        assert_non_null(c);
        ringo_ctx_t *child = ringo_with_cancel(c);
        ringo_ctx_t *v = ringo_with_value(c, &key_c, NULL);
        ringo_cancel(c);
        ringo_cancel(c);
        ringo_cancel_cause(c, -EPIPE);              /* too late: the first wins */
        assert_int_equal(ringo_ctx_err(c), want[i]);
        assert_int_equal(ringo_ctx_cause(c), want[i]);
        assert_true(is_done(c));
        assert_int_equal(ringo_ctx_err(child), want[i]);
        assert_true(is_done(child));
        ringo_cancel(child);
        ringo_cancel(child);
        ringo_cancel(v);                            /* no cancel of its own: nothing */
        assert_int_equal(ringo_ctx_err(v), want[i]);
        ringo_ctx_unref(v);
        ringo_ctx_unref(child);
        ringo_cancel(c);                            /* still ours: still fine */
        ringo_ctx_unref(c);
    }
    /* Background, TODO, NULL: nothing to cancel. */
    ringo_cancel(ringo_background());
    ringo_cancel(ringo_todo());
    ringo_cancel(NULL);
    ringo_cancel_cause(ringo_background(), -EPIPE);
    assert_int_equal(ringo_ctx_err(ringo_background()), 0);
    /* A value context's "cancel" leaves it and its parent live. */
    ringo_ctx_t *p = ringo_with_cancel(ringo_background());
    ringo_ctx_t *v = ringo_with_value(p, &key_c, NULL);
    ringo_cancel(v);
    assert_int_equal(ringo_ctx_err(v), 0);
    assert_int_equal(ringo_ctx_err(p), 0);
    ringo_ctx_unref(v);
    ringo_ctx_unref(p);
}

static void test_cancel_twice(void **state)
{
    (void)state;
    run_checked(2, cancel_twice_main, NULL);
}

/* Go's everyday shape: `ctx, cancel := WithCancel(p); defer cancel()` and
 * an early cancel() on some path. The deferred cancel used to free the
 * context a second time (or the early one left the scope's variable
 * dangling). Between the two the context is as usable as in Go: Err, Done,
 * deriving children (born cancelled), AfterFunc (runs at once). Run by
 * many fibers at once on two workers. */
struct early {
    ringo_chan_t *ran;          /* AfterFunc tokens */
    ringo_chan_t *finished;
    long rounds;
};

static void early_scope(struct early *e, long r)
{
    ringo_ctx_t *ctx RINGO_DEFER_CANCEL = r % 2 ? ringo_with_cancel(ringo_background())
                                                : ringo_with_timeout(ringo_background(), RINGO_HOUR);
    CHECK(ctx != NULL);
    ringo_ctx_t *before RINGO_DEFER_CANCEL = ringo_with_cancel(ctx);
    CHECK(ringo_ctx_after_func(ctx, send_fn, e->ran) > 0);
    ringo_chan_t *done = ringo_ctx_done(ctx);
    CHECK(ringo_ctx_err(ctx) == 0);

    ringo_cancel(ctx);                  /* the early cancel() */

    CHECK(ringo_ctx_err(ctx) == -ECANCELED);
    CHECK(ringo_ctx_done(ctx) == done);
    CHECK(!ringo_chan_recv(done, NULL));
    CHECK(ringo_ctx_err(before) == -ECANCELED);
    ringo_ctx_t *after RINGO_DEFER_CANCEL = ringo_with_cancel(ctx);
    CHECK(ringo_ctx_err(after) == -ECANCELED);
    CHECK(ringo_ctx_after_func(ctx, send_fn, e->ran) > 0);     /* starts at once */
    if (r % 3 == 0)
        ringo_cancel(before);           /* a child cancelled early too */
}                                       /* three deferred cancels run here */

static void early_fiber(void *arg)
{
    struct early *e = arg;
    for (long r = 0; r < e->rounds; r++)
        early_scope(e, r);
    signal_done(e->finished);
}

static void early_cancel_main(void *arg)
{
    (void)arg;
    enum { FIBERS = 8 };
    long rounds = iters(500);
    ringo_chan_t *ran = ringo_chan_make(sizeof(int), 64);
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), FIBERS);
    struct early e = {ran, finished, rounds};
    for (int i = 0; i < FIBERS; i++)
        assert_int_equal(ringo_go(early_fiber, &e), 0);
    /* Two AfterFuncs per round, each exactly once. */
    for (long i = 0; i < 2 * FIBERS * rounds; i++)
        await_chan(ran);
    await_done(finished, FIBERS);
    ringo_sleep(20 * RINGO_MILLISECOND);        /* a bound on absence */
    assert_int_equal(ringo_chan_try_recv(ran, NULL), -EAGAIN);
    ringo_chan_unref(ran);
    ringo_chan_unref(finished);
}

static void test_early_cancel_then_defer_cancel(void **state)
{
    (void)state;
    run_checked(2, early_cancel_main, NULL);
}

/* Many fibers on two workers, each with its own reference, derive
 * children, register AfterFuncs, then cancel one context and their
 * children at once, some twice: every AfterFunc runs exactly once and
 * nothing is freed twice (ASan) or raced (TSan). And each cancel returns
 * only with the whole subtree cancelled, as Go's does: a cancel that lost
 * the race used to return while the winner was still walking, and the
 * child's err read right after it was still 0. */
struct many {
    ringo_ctx_t *ctx;           /* the fiber's own reference */
    ringo_chan_t *gate, *ran, *finished;
    int who;
};

static void many_canceller(void *arg)
{
    struct many m = *(struct many *)arg;
    ringo_ctx_t *child = ringo_with_cancel(m.ctx);
    ringo_ctx_t *grand = ringo_with_timeout(child, RINGO_HOUR);
    CHECK(ringo_ctx_after_func(child, send_fn, m.ran) > 0);
    CHECK(ringo_ctx_after_func(grand, send_fn, m.ran) > 0);
    ringo_chan_recv(m.gate, NULL);
    if (m.who % 2)
        ringo_cancel(child);
    ringo_cancel(m.ctx);
    ringo_cancel(m.ctx);
    ringo_cancel_cause(grand, -EIO);
    CHECK(wait_done(grand));
    CHECK(ringo_ctx_err(grand) == -ECANCELED);
    CHECK(ringo_ctx_err(child) == -ECANCELED);
    ringo_ctx_unref(grand);
    ringo_cancel(child);
    ringo_ctx_unref(child);
    ringo_ctx_unref(m.ctx);
    signal_done(m.finished);
}

static void many_cancels_main(void *arg)
{
    (void)arg;
    enum { K = 16 };
    long rounds = iters(200);
    ringo_chan_t *ran = ringo_chan_make(sizeof(int), 3 * K);
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), K);
    for (long r = 0; r < rounds; r++) {
        ringo_ctx_t *ctx = r % 2 ? ringo_with_cancel(ringo_background())
                                 : ringo_with_timeout(ringo_background(), RINGO_HOUR);
        ringo_chan_t *gate = ringo_chan_make(0, 0);
        CHECK(ringo_ctx_after_func(ctx, send_fn, ran) > 0);
        for (int i = 0; i < K; i++) {
            struct many m = {ringo_ctx_ref(ctx), gate, ran, finished, i};
            assert_int_equal(ringo_go_copy(many_canceller, &m, sizeof(m)), 0);
        }
        ringo_ctx_unref(ctx);           /* released before anyone cancels */
        ringo_chan_close(gate);
        await_done(finished, K);
        for (long i = 0; i < 2 * K + 1; i++)
            await_chan(ran);
        ringo_chan_unref(gate);
    }
    ringo_sleep(20 * RINGO_MILLISECOND);        /* a bound on absence */
    assert_int_equal(ringo_chan_try_recv(ran, NULL), -EAGAIN);
    ringo_chan_unref(ran);
    ringo_chan_unref(finished);
}

static void test_concurrent_cancels_run_after_funcs_once(void **state)
{
    (void)state;
    run_checked(2, many_cancels_main, NULL);
}

/* ---- regression: a cancelled context kept its deadline in the timer heap --------------------- */

static long timers_pending(void)
{
    long n = 0;
    for (unsigned i = 0; i < ringo__rt->nworkers; i++)
        n += atomic_load(&ringo__rt->workers[i].ntimers);
    return n;
}

/* The deadline timer used to leave the heap only when the context was
 * freed: a cancelled context still referenced kept its entry (and the
 * worker's earliest wake-up) until the deadline. Cancel now stops it. */
static void cancel_stops_timer_main(void *arg)
{
    (void)arg;
    enum { N = 1000 };
    static ringo_ctx_t *cs[N];
    long base = timers_pending();
    for (int i = 0; i < N; i++)
        assert_non_null(cs[i] = ringo_with_timeout(ringo_background(), RINGO_HOUR + i));
    assert_int_equal(timers_pending(), base + N);
    for (int i = 0; i < N; i++)
        ringo_cancel(cs[i]);
    assert_int_equal(timers_pending(), base);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ringo_ctx_err(cs[i]), -ECANCELED);     /* still ours to read */
        ringo_ctx_unref(cs[i]);
    }
    /* A parent's cancel stops its descendants' timers too (each deadline
     * earlier than its parent's, so each has its own). */
    ringo_ctx_t *root = ringo_with_cancel(ringo_background());
    int64_t t = ringo_now() + RINGO_HOUR;
    for (int i = 0; i < N; i++)
        cs[i] = ringo_with_deadline(i ? cs[(i - 1) / 2] : root, t - i);
    assert_int_equal(timers_pending(), base + N);
    ringo_cancel(root);
    assert_int_equal(timers_pending(), base);
    for (int i = N - 1; i >= 0; i--)
        ringo_ctx_unref(cs[i]);
    ringo_ctx_unref(root);
}

static void test_cancel_stops_deadline_timer(void **state)
{
    (void)state;
    run_checked(2, cancel_stops_timer_main, NULL);
}

/* Released without a cancel (Go's vet would warn, but it must not leak or
 * crash): the pending deadline holds the context, fires on time, runs its
 * AfterFuncs and frees it; one still pending when the runtime ends is
 * freed by the runtime's shutdown, AfterFunc and all. A released child
 * without a deadline of its own goes at once. LeakSanitizer and Valgrind
 * check "freed" at exit; ASan checks nothing touched freed memory. */
static void released_deadline_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ran = ringo_chan_make(sizeof(int), 64);
    long n = iters(200);
    for (long i = 0; i < n; i++) {
        ringo_ctx_t *c = ringo_with_timeout(ringo_background(), (i % 5) * 100 * RINGO_MICROSECOND);
        ringo_ctx_t *child = ringo_with_cancel(c);
        CHECK(ringo_ctx_after_func(c, send_fn, ran) > 0);
        ringo_ctx_unref(child);
        ringo_ctx_unref(c);
        await_chan(ran);
    }
    /* Never fires: the runtime's end drops the timer's reference. */
    ringo_ctx_t *late = ringo_with_timeout(ringo_background(), RINGO_HOUR);
    ringo_ctx_t *late_child = ringo_with_timeout(late, 2 * RINGO_HOUR);
    CHECK(ringo_ctx_after_func(late, send_fn, ran) > 0);
    ringo_ctx_unref(late);
    ringo_ctx_unref(late_child);
    ringo_chan_unref(ran);
}

static void test_released_deadline_context_is_freed(void **state)
{
    (void)state;
    run_checked(2, released_deadline_main, NULL);
    run_checked(1, released_deadline_main, NULL);
}

/* ---- debug builds: a stale handle panics at the use ------------------------------------------- */

static int stale_use;

static void stale_main(void *arg)
{
    (void)arg;
    ringo_ctx_t *c = ringo_with_timeout(ringo_background(), RINGO_HOUR);
    (void)ringo_ctx_done(c);
    ringo_cancel(c);
    ringo_ctx_unref(c);                 /* the last reference: freed */
    switch (stale_use) {
    case 0: (void)ringo_ctx_err(c); break;
    case 1: ringo_cancel(c); break;
    case 2: ringo_ctx_unref(c); break;
    default: (void)ringo_with_cancel(c); break;
    }
}

__attribute__((unused)) static void stale_child(void)   /* not under ASan */
{
    ringo_config_t cfg = {.workers = 2};
    ringo_run(&cfg, stale_main, NULL);
}

static void test_use_of_freed_context_panics(void **state)
{
    (void)state;
#if defined(NDEBUG) || defined(RINGO_ASAN)
    /* No poisoning without assertions; ASan reports the use itself. */
    skip();
#else
    for (stale_use = 0; stale_use < 4; stale_use++)
        death_test(stale_child, "use of a freed context");
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_todo),
        cmocka_unit_test(test_with_cancel),
        cmocka_unit_test(test_cancel_reaches_descendants),
        cmocka_unit_test(test_tree_cancel),
        cmocka_unit_test(test_children_detach),
        cmocka_unit_test(test_cancel_removes),
        cmocka_unit_test(test_simultaneous_cancels),
        cmocka_unit_test(test_interlocked_cancels),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_with_timeout),
        cmocka_unit_test(test_past_deadline),
        cmocka_unit_test(test_deadline_min),
        cmocka_unit_test(test_select_done),
        cmocka_unit_test(test_defer_cancel),
        cmocka_unit_test(test_after_func),
        cmocka_unit_test(test_after_func_never_cancelled),
        cmocka_unit_test(test_cause),
        cmocka_unit_test(test_shared_across_workers),
        cmocka_unit_test(test_generator_stopped_by_cancel),
        cmocka_unit_test(test_deadline_fire_drops_last_reference),
        cmocka_unit_test(test_parent_cancel_meets_released_children),
        cmocka_unit_test(test_cancel_twice),
        cmocka_unit_test(test_early_cancel_then_defer_cancel),
        cmocka_unit_test(test_concurrent_cancels_run_after_funcs_once),
        cmocka_unit_test(test_cancel_stops_deadline_timer),
        cmocka_unit_test(test_released_deadline_context_is_freed),
        cmocka_unit_test(test_use_of_freed_context_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: ringo_select (Go's select statement), ported from the select
 * tests in Go's runtime/chan_test.go and runtime/select_test.go where they
 * apply. Ready receive and send cases fire; RINGO_DEFAULT fires only when
 * nothing is ready, and a ready case never loses to it; cases on NULL
 * channels never fire; the choice among ready cases is uniform; the same
 * channel may appear in several cases (a select never rendezvouses with
 * itself); .ok tells a close from a value; RINGO_TIMEOUT fires when nothing
 * else does; 100,000 selects blocked on channels are woken across workers;
 * RINGO_READABLE / RINGO_WRITABLE fire on pipes without consuming anything,
 * and a losing fd case leaves nothing behind; a fd case still pending
 * when main returns is settled by whichever of its completion and its
 * select comes second; malformed case lists give -EINVAL (NULL cases
 * included), a negative fd -EBADF, a fd case from a plain thread -ENOTSUP,
 * no memory for a fd case's poll record -ENOMEM.
 */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <math.h>
#include <stdatomic.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* What a send on a zero-size (chan struct{}) channel points at. */
static char tok;

/* ---- ready cases, default, nil channels --------------------------------------------------- */

/* TestChan "Ensure that non-blocking receive does not block" and its send
 * twin, plus a select whose one ready case is a receive or a send. */
static void ready_main(void *arg)
{
    (void)arg;
    ringo_chan_t *a = ringo_chan_make(sizeof(int), 1);
    ringo_chan_t *b = ringo_chan_make(sizeof(int), 1);
    int v = 11, out = -1;

    /* Receive: only a holds a value. */
    ringo_chan_send(a, &v);
    ringo_case_t rc[] = {RINGO_RECV(b, &out), RINGO_RECV(a, &out)};
    assert_int_equal(ringo_select(rc, NELEM(rc)), 1);
    assert_int_equal(out, 11);
    assert_true(rc[1].ok);
    assert_int_equal(ringo_chan_len(a), 0);

    /* Send: a has room, b is full. */
    v = 22;
    ringo_chan_send(b, &v);
    int w = 33;
    ringo_case_t sc[] = {RINGO_SEND(b, &w), RINGO_SEND(a, &w)};
    assert_int_equal(ringo_select(sc, NELEM(sc)), 1);
    assert_int_equal(ringo_chan_len(a), 1);
    assert_true(ringo_chan_recv(a, &out));
    assert_int_equal(out, 33);
    assert_true(ringo_chan_recv(b, &out));
    assert_int_equal(out, 22);

    /* Mixed: the only ready case is the send, whatever its position. */
    ringo_case_t mc[] = {RINGO_RECV(a, &out), RINGO_SEND(b, &w), RINGO_RECV(b, &out)};
    assert_int_equal(ringo_select(mc, NELEM(mc)), 1);
    assert_int_equal(ringo_chan_len(b), 1);

    ringo_chan_unref(a);
    ringo_chan_unref(b);
}

static void test_ready_cases(void **state)
{
    (void)state;
    run_main(2, ready_main, NULL);
}

/* TestChan's non-blocking receive / send via select default. */
static void default_main(void *arg)
{
    (void)arg;
    size_t caps[] = {0, 1, 16};
    for (size_t k = 0; k < NELEM(caps); k++) {
        ringo_chan_t *ch = ringo_chan_make(sizeof(int), caps[k]);
        int v = 1, out = 5;
        ringo_case_t c1[] = {RINGO_RECV(ch, &out), RINGO_DEFAULT};
        assert_int_equal(ringo_select(c1, NELEM(c1)), 1);
        assert_int_equal(out, 5);       /* nothing written */
        /* The default may come first; it still loses to nothing. */
        ringo_case_t c2[] = {RINGO_DEFAULT, RINGO_RECV(ch, &out)};
        assert_int_equal(ringo_select(c2, NELEM(c2)), 0);
        /* Fill the buffer; then a send has nowhere to go. */
        for (size_t i = 0; i < caps[k]; i++)
            ringo_chan_send(ch, &v);
        ringo_case_t c3[] = {RINGO_SEND(ch, &v), RINGO_DEFAULT};
        assert_int_equal(ringo_select(c3, NELEM(c3)), 1);
        assert_int_equal(ringo_chan_len(ch), caps[k]);
        /* A default alone returns at once. */
        ringo_case_t c4[] = {RINGO_DEFAULT};
        assert_int_equal(ringo_select(c4, 1), 0);
        ringo_chan_unref(ch);
    }
}

static void test_default_when_nothing_ready(void **state)
{
    (void)state;
    run_main(2, default_main, NULL);
}

/* Go: a nil channel's cases are never ready (TestChan's "nil chan" select
 * uses, selectnbsend/selectnbrecv on nil). With nothing else, a timeout
 * still fires. */
static void nil_main(void *arg)
{
    (void)arg;
    int v = 1, out = 7;
    for (int i = 0; i < 100; i++) {
        ringo_case_t c[] = {RINGO_RECV(NULL, &out), RINGO_SEND(NULL, &v), RINGO_DEFAULT};
        assert_int_equal(ringo_select(c, NELEM(c)), 2);
        assert_int_equal(out, 7);
    }
    int64_t t0 = ringo_now();
    ringo_case_t c[] = {RINGO_RECV(NULL, &out), RINGO_SEND(NULL, &v),
                        RINGO_TIMEOUT(10 * RINGO_MILLISECOND)};
    assert_int_equal(ringo_select(c, NELEM(c)), 2);
    int64_t took = ringo_now() - t0;
    assert_true(took >= 10 * RINGO_MILLISECOND);
    assert_true(took < 10 * RINGO_MILLISECOND + RINGO_SECOND);

    /* A nil case next to a ready one: the ready one wins every time. */
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 1);
    for (int i = 0; i < 100; i++) {
        ringo_chan_send(ch, &i);
        ringo_case_t d[] = {RINGO_RECV(NULL, &out), RINGO_RECV(ch, &out), RINGO_SEND(NULL, &v)};
        assert_int_equal(ringo_select(d, NELEM(d)), 1);
        assert_int_equal(out, i);
    }
    ringo_chan_unref(ch);
}

static void test_nil_channel_cases_never_fire(void **state)
{
    (void)state;
    run_main(2, nil_main, NULL);
}

/* ---- TestSelectFairness ------------------------------------------------------------------------- */

/* Go's TestSelectFairness: with two always-ready channels each side wins
 * about half the time. 10,000 trials: binomial sd 50, bound 5 sd. */
static void fairness_main(void *arg)
{
    (void)arg;
    const int trials = 10000;
    ringo_chan_t *a = ringo_chan_make(sizeof(int), 1);
    ringo_chan_t *b = ringo_chan_make(sizeof(int), 1);
    int v = 0, out;
    ringo_chan_send(a, &v);
    ringo_chan_send(b, &v);
    int counts[2] = {0, 0};
    for (int i = 0; i < trials; i++) {
        ringo_case_t c[] = {RINGO_RECV(a, &out), RINGO_RECV(b, &out)};
        int k = ringo_select(c, NELEM(c));
        assert_true(k == 0 || k == 1);
        counts[k]++;
        ringo_chan_send(k == 0 ? a : b, &v);    /* ready again */
    }
    double bound = 5 * sqrt(trials * 0.25);
    assert_true(fabs(counts[0] - trials / 2.0) < bound);
    assert_true(fabs(counts[1] - trials / 2.0) < bound);

    /* The same for two ready send cases (Go's TestPseudoRandomSend). */
    counts[0] = counts[1] = 0;
    for (int i = 0; i < trials; i++) {
        ringo_chan_recv(a, NULL);
        ringo_chan_recv(b, NULL);
        ringo_case_t c[] = {RINGO_SEND(a, &v), RINGO_SEND(b, &v)};
        int k = ringo_select(c, NELEM(c));
        assert_true(k == 0 || k == 1);
        counts[k]++;
        ringo_chan_send(k == 0 ? b : a, &v);    /* both full again */
    }
    assert_true(fabs(counts[0] - trials / 2.0) < bound);
    assert_true(fabs(counts[1] - trials / 2.0) < bound);
    ringo_chan_unref(a);
    ringo_chan_unref(b);
}

static void test_select_fairness(void **state)
{
    (void)state;
    run_main(2, fairness_main, NULL);
}

/* ---- TestNonblockSelectRace ----------------------------------------------------------------- */

struct race {
    ringo_chan_t *go, *ack, *ch, *c1, *c2, *done;
    long rounds;
};

static void readier(void *arg)
{
    struct race *r = arg;
    /* r lives on main's stack: after the last hand-off main may return, so
     * the loop bound must not be read through r (Valgrind caught that). */
    long rounds = r->rounds;
    for (long i = 0; i < rounds; i++) {
        ringo_chan_recv(r->go, NULL);
        ringo_chan_send(r->ch, &i);
        ringo_chan_send(r->ack, &tok);
    }
}

/* A channel made ready before the select (ordered by a handshake with the
 * fiber that readied it) always beats the default. */
static void ready_beats_default_main(void *arg)
{
    (void)arg;
    struct race r = {.go = ringo_chan_make(0, 0), .ack = ringo_chan_make(0, 0),
                     .ch = ringo_chan_make(sizeof(long), 1), .rounds = iters(10000)};
    assert_int_equal(ringo_go(readier, &r), 0);
    for (long i = 0; i < r.rounds; i++) {
        ringo_chan_send(r.go, &tok);
        ringo_chan_recv(r.ack, NULL);
        long out = -1;
        ringo_case_t c[] = {RINGO_DEFAULT, RINGO_RECV(r.ch, &out)};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
        assert_int_equal(out, i);
        assert_true(c[1].ok);
    }
    ringo_chan_unref(r.go);
    ringo_chan_unref(r.ack);
    ringo_chan_unref(r.ch);
}

static void test_ready_case_beats_default(void **state)
{
    (void)state;
    run_main(2, ready_beats_default_main, NULL);
}

static void nonblock_selector(void *arg)
{
    struct race *r = arg;
    long rounds = r->rounds;    /* as in readier */
    for (long i = 0; i < rounds; i++) {
        ringo_chan_recv(r->go, NULL);
        ringo_case_t c[] = {RINGO_RECV(r->c1, NULL), RINGO_RECV(r->c2, NULL), RINGO_DEFAULT};
        bool won = ringo_select(c, NELEM(c)) != 2;
        ringo_chan_send(r->done, &won);
    }
}

/* Go's TestNonblockSelectRace: c1 holds a value; one fiber selects on c1
 * and c2 with a default while another fills c2 and then empties c1. At
 * every instant c1 or c2 is ready, so the default must never win. With
 * RINGO_TEST_ITERS scaling as in Go's -short. */
static void nonblock_race_main(void *arg)
{
    (void)arg;
    struct race r = {.go = ringo_chan_make(0, 0),
                     .c1 = ringo_chan_make(sizeof(int), 1),
                     .c2 = ringo_chan_make(sizeof(int), 1),
                     .done = ringo_chan_make(sizeof(bool), 0),
                     .rounds = iters(100000)};
    assert_int_equal(ringo_go(nonblock_selector, &r), 0);
    int one = 1;
    for (long i = 0; i < r.rounds; i++) {
        ringo_chan_send(r.c1, &one);
        ringo_chan_send(r.go, &tok);
        ringo_chan_send(r.c2, &one);
        ringo_case_t c[] = {RINGO_RECV(r.c1, NULL), RINGO_DEFAULT};
        ringo_select(c, NELEM(c));
        bool won = false;
        assert_true(ringo_chan_recv(r.done, &won));
        assert_true(won);
        /* Empty both for the next round. */
        ringo_chan_try_recv(r.c1, NULL);
        ringo_chan_try_recv(r.c2, NULL);
    }
    ringo_chan_unref(r.go);
    ringo_chan_unref(r.c1);
    ringo_chan_unref(r.c2);
    ringo_chan_unref(r.done);
}

static void test_nonblock_select_race(void **state)
{
    (void)state;
    run_main(2, nonblock_race_main, NULL);
}

/* Go's TestNonblockSelectRace2: the same with c2 becoming ready by close. */
static void nonblock_race2_main(void *arg)
{
    (void)arg;
    long rounds = iters(100000);
    struct race r = {.go = ringo_chan_make(0, 0),
                     .done = ringo_chan_make(sizeof(bool), 0),
                     .rounds = rounds};
    assert_int_equal(ringo_go(nonblock_selector, &r), 0);
    int one = 1;
    for (long i = 0; i < rounds; i++) {
        /* The selector reads c1 and c2 only after the go handshake. */
        r.c1 = ringo_chan_make(sizeof(int), 1);
        r.c2 = ringo_chan_make(sizeof(int), 0);
        ringo_chan_send(r.c1, &one);
        ringo_chan_send(r.go, &tok);
        ringo_chan_close(r.c2);
        ringo_case_t c[] = {RINGO_RECV(r.c1, NULL), RINGO_DEFAULT};
        ringo_select(c, NELEM(c));
        bool won = false;
        assert_true(ringo_chan_recv(r.done, &won));
        assert_true(won);
        ringo_chan_unref(r.c1);
        ringo_chan_unref(r.c2);
    }
    ringo_chan_unref(r.go);
    ringo_chan_unref(r.done);
}

static void test_nonblock_select_race2(void **state)
{
    (void)state;
    run_main(2, nonblock_race2_main, NULL);
}

/* ---- the same channel in several cases ---------------------------------------------------------- */

static void one_sender(void *arg)
{
    ringo_chan_t *ch = arg;
    int v = 42;
    ringo_chan_send(ch, &v);
}

static void one_receiver(void *arg)
{
    ringo_chan_t *ch = arg;
    int v = -1;
    assert_true(ringo_chan_recv(ch, &v));
    assert_int_equal(v, 43);
}

/* Go's TestSelectDuplicateChannel and TestSelfSelect. */
static void duplicate_main(void *arg)
{
    (void)arg;
    /* Two receive cases on one buffered channel: exactly one fires, and both
     * get picked over many tries. */
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 1);
    int seen[2] = {0, 0};
    for (int i = 0; i < 200; i++) {
        ringo_chan_send(ch, &i);
        int o0 = -1, o1 = -1;
        ringo_case_t c[] = {RINGO_RECV(ch, &o0), RINGO_RECV(ch, &o1)};
        int k = ringo_select(c, NELEM(c));
        assert_true(k == 0 || k == 1);
        seen[k]++;
        assert_int_equal(k == 0 ? o0 : o1, i);
        assert_int_equal(k == 0 ? o1 : o0, -1);
        assert_int_equal(ringo_chan_len(ch), 0);
    }
    assert_true(seen[0] > 0 && seen[1] > 0);

    /* Both blocked on an unbuffered channel: one value, one case. */
    ringo_chan_t *u = ringo_chan_make(sizeof(int), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ringo_go(one_sender, u), 0);
        int o0 = -1, o1 = -1;
        ringo_case_t c[] = {RINGO_RECV(u, &o0), RINGO_RECV(u, &o1)};
        int k = ringo_select(c, NELEM(c));
        assert_true(k == 0 || k == 1);
        assert_int_equal(k == 0 ? o0 : o1, 42);
        assert_int_equal(k == 0 ? o1 : o0, -1);
    }

    /* A send and a receive of the same unbuffered channel in one select:
     * it never pairs with itself, so the receive takes a partner's value and
     * the send goes to a partner receiver. */
    for (int i = 0; i < 100; i++) {
        int mine = 43, got = -1;
        assert_int_equal(ringo_go(one_sender, u), 0);
        ringo_case_t c[] = {RINGO_SEND(u, &mine), RINGO_RECV(u, &got)};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
        assert_int_equal(got, 42);
        assert_true(c[1].ok);

        assert_int_equal(ringo_go(one_receiver, u), 0);
        got = -1;
        ringo_case_t d[] = {RINGO_RECV(u, &got), RINGO_SEND(u, &mine)};
        assert_int_equal(ringo_select(d, NELEM(d)), 1);
        assert_int_equal(got, -1);
    }
    /* On a buffered channel: empty, only the send can proceed; full, only
     * the receive. */
    int x = 5, got = -1;
    ringo_case_t e[] = {RINGO_RECV(ch, &got), RINGO_SEND(ch, &x)};
    assert_int_equal(ringo_select(e, NELEM(e)), 1);
    assert_int_equal(ringo_select(e, NELEM(e)), 0);
    assert_int_equal(got, 5);
    ringo_chan_unref(ch);
    ringo_chan_unref(u);
}

static void test_same_channel_in_two_cases(void **state)
{
    (void)state;
    run_main(2, duplicate_main, NULL);
}

struct self_select {
    ringo_chan_t *ch, *done;
    int id;
    long rounds;
    size_t cap;
};

static void self_selector(void *arg)
{
    struct self_select *s = arg;
    for (long i = 0; i < s->rounds; i++) {
        int got = -1;
        ringo_case_t c[] = {RINGO_SEND(s->ch, &s->id), RINGO_RECV(s->ch, &got)};
        if ((i + s->id) & 1) {
            ringo_case_t t = c[0];
            c[0] = c[1];
            c[1] = t;
        }
        int k = ringo_select(c, NELEM(c));
        if (c[k].kind == RINGO_CASE_RECV && s->cap == 0)
            assert_int_not_equal(got, s->id);   /* Go: "self receive" */
    }
    ringo_chan_send(s->done, &tok);
}

/* Go's TestSelfSelect: two fibers each select on sending to and receiving
 * from the same channel; on an unbuffered channel neither ever receives its
 * own value. */
static void self_select_main(void *arg)
{
    (void)arg;
    size_t caps[] = {0, 10};
    for (size_t k = 0; k < NELEM(caps); k++) {
        ringo_chan_t *ch = ringo_chan_make(sizeof(int), caps[k]);
        ringo_chan_t *done = ringo_chan_make(0, 2);
        struct self_select s[2];
        for (int i = 0; i < 2; i++) {
            s[i] = (struct self_select){ch, done, i, iters(10000), caps[k]};
            assert_int_equal(ringo_go(self_selector, &s[i]), 0);
        }
        /* Go's wg.Wait(): each pairing (or buffer slot) completes a select
         * in each fiber, so both finish. */
        ringo_chan_recv(done, NULL);
        ringo_chan_recv(done, NULL);
        /* Both have finished; nothing waits on ch any more. */
        ringo_chan_unref(ch);
        ringo_chan_unref(done);
    }
}

static void test_self_select(void **state)
{
    (void)state;
    run_main(2, self_select_main, NULL);
}

/* ---- send cases, .ok --------------------------------------------------------------------------- */

struct catcher {
    ringo_chan_t *ch, *results;
};

static void catcher(void *arg)
{
    struct catcher *c = arg;
    int v = -1;
    assert_true(ringo_chan_recv(c->ch, &v));
    ringo_chan_send(c->results, &v);
}

/* A select with two send cases to two receivers: each fires once (a fired
 * case is disabled by setting its channel to NULL, Go's idiom). */
static void send_cases_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 100; round++) {
        ringo_chan_t *results = ringo_chan_make(sizeof(int), 2);
        struct catcher ca = {ringo_chan_make(sizeof(int), 0), results};
        struct catcher cb = {ringo_chan_make(sizeof(int), 0), results};
        assert_int_equal(ringo_go(catcher, &ca), 0);
        assert_int_equal(ringo_go(catcher, &cb), 0);
        int one = 1, two = 2;
        ringo_case_t c[] = {RINGO_SEND(ca.ch, &one), RINGO_SEND(cb.ch, &two)};
        for (int i = 0; i < 2; i++) {
            int k = ringo_select(c, NELEM(c));
            assert_true(k == 0 || k == 1);
            assert_non_null(c[k].ch);
            c[k].ch = NULL;
        }
        int x, y;
        assert_true(ringo_chan_recv(results, &x));
        assert_true(ringo_chan_recv(results, &y));
        assert_int_equal(x + y, 3);
        assert_int_equal(x * y, 2);
        ringo_chan_unref(ca.ch);
        ringo_chan_unref(cb.ch);
        ringo_chan_unref(results);
    }
}

static void test_send_cases(void **state)
{
    (void)state;
    run_main(2, send_cases_main, NULL);
}

/* Go's `v, ok := <-ch` in a select case: ok is true for a value (even a
 * zero value) and false, with v zeroed, once ch is closed and drained. */
static void ok_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 2);
    ringo_chan_t *never = ringo_chan_make(sizeof(int), 0);
    int zero = 0, seven = 7, out = -1;
    ringo_chan_send(ch, &zero);
    ringo_chan_send(ch, &seven);
    ringo_chan_close(ch);
    ringo_case_t c[] = {RINGO_RECV(never, &out), RINGO_RECV(ch, &out)};
    assert_int_equal(ringo_select(c, NELEM(c)), 1);
    assert_true(c[1].ok);
    assert_int_equal(out, 0);
    c[1].ok = false;
    assert_int_equal(ringo_select(c, NELEM(c)), 1);
    assert_true(c[1].ok);
    assert_int_equal(out, 7);
    for (int i = 0; i < 3; i++) {
        out = 99;
        c[1].ok = true;
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
        assert_false(c[1].ok);
        assert_int_equal(out, 0);
    }
    /* A closed channel is ready: it beats the default. */
    ringo_case_t d[] = {RINGO_RECV(ch, NULL), RINGO_DEFAULT};
    assert_int_equal(ringo_select(d, NELEM(d)), 0);
    assert_false(d[0].ok);
    ringo_chan_unref(ch);
    ringo_chan_unref(never);
}

static void test_ok_tells_close_from_value(void **state)
{
    (void)state;
    run_main(2, ok_main, NULL);
}

static void closer(void *arg)
{
    ringo_chan_close(arg);
}

/* Close wakes a select blocked on a receive (ok false). */
static void close_wakes_select_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        ringo_chan_t *a = ringo_chan_make(sizeof(int), 0);
        ringo_chan_t *b = ringo_chan_make(sizeof(int), i % 2);
        assert_int_equal(ringo_go(closer, b), 0);
        int out = 3;
        ringo_case_t c[] = {RINGO_RECV(a, &out), RINGO_RECV(b, &out)};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
        assert_false(c[1].ok);
        assert_int_equal(out, 0);
        ringo_chan_unref(a);
        ringo_chan_unref(b);
    }
}

static void test_close_wakes_select(void **state)
{
    (void)state;
    run_main(2, close_wakes_select_main, NULL);
}

/* ---- RINGO_TIMEOUT ---------------------------------------------------------------------------- */

/* Go's `case <-time.After(d)` when nothing else is ready. */
static void timeout_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    int out;
    ringo_duration_t ds[] = {1 * RINGO_MILLISECOND, 20 * RINGO_MILLISECOND};
    for (size_t i = 0; i < NELEM(ds); i++) {
        int64_t t0 = ringo_now();
        ringo_case_t c[] = {RINGO_RECV(ch, &out), RINGO_TIMEOUT(ds[i])};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
        int64_t took = ringo_now() - t0;
        assert_true(took >= ds[i]);
        assert_true(took < ds[i] + RINGO_SECOND);
    }
    /* A timeout that has not expired never beats a ready case. */
    int v = 1;
    ringo_chan_t *b = ringo_chan_make(sizeof(int), 1);
    for (int i = 0; i < 100; i++) {
        ringo_chan_send(b, &v);
        ringo_case_t c[] = {RINGO_TIMEOUT(RINGO_SECOND), RINGO_RECV(b, &out)};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
    }
    /* The timeout case is only for this select: a later select is not
     * woken by an earlier one's timer. */
    int64_t t0 = ringo_now();
    ringo_case_t c[] = {RINGO_RECV(ch, &out), RINGO_TIMEOUT(30 * RINGO_MILLISECOND)};
    assert_int_equal(ringo_select(c, NELEM(c)), 1);
    assert_true(ringo_now() - t0 >= 30 * RINGO_MILLISECOND);
    ringo_chan_unref(ch);
    ringo_chan_unref(b);
}

static void test_timeout_fires(void **state)
{
    (void)state;
    run_main(2, timeout_main, NULL);
}

/* ---- blocked selects woken across workers ------------------------------------------------------ */

struct stress {
    ringo_chan_t *a, *b;        /* the channels selected on */
    ringo_chan_t *pdone, *results;
    long per_producer;
};

struct tally {
    long count;
    long long sum;
};

struct prod {
    struct stress *s;
    ringo_chan_t *ch;
    long base;
};

static void stress_producer(void *arg)
{
    struct prod *p = arg;
    for (long i = 1; i <= p->s->per_producer; i++) {
        long v = p->base + i;
        if (i % 3 == 0) {
            /* Some sends are themselves selects. */
            ringo_case_t c[] = {RINGO_SEND(p->ch, &v)};
            assert_int_equal(ringo_select(c, 1), 0);
        } else {
            ringo_chan_send(p->ch, &v);
        }
    }
    ringo_chan_send(p->s->pdone, &tok);
}

static void stress_consumer(void *arg)
{
    struct stress *s = arg;
    struct tally t = {0, 0};
    long v;
    ringo_case_t c[] = {RINGO_RECV(s->a, &v), RINGO_RECV(s->b, &v)};
    while (c[0].ch || c[1].ch) {
        int k = ringo_select(c, NELEM(c));
        assert_true(k == 0 || k == 1);
        if (!c[k].ok) {
            c[k].ch = NULL;     /* closed: Go's nil-out idiom */
            continue;
        }
        t.count++;
        t.sum += v;
    }
    ringo_chan_send(s->results, &t);
}

/* Go's TestSelectStress, in spirit: 100,000 values through selects blocked
 * on two unbuffered channels, producers and consumers on both workers. */
static void stress_main(void *arg)
{
    (void)arg;
    enum { CONS = 4 };
    size_t caps[] = {0, 1};
    for (size_t k = 0; k < NELEM(caps); k++) {
        struct stress s = {.a = ringo_chan_make(sizeof(long), caps[k]),
                           .b = ringo_chan_make(sizeof(long), caps[k]),
                           .pdone = ringo_chan_make(0, 0),
                           .results = ringo_chan_make(sizeof(struct tally), 0),
                           .per_producer = iters(100000) / 4};
        long n = 4 * s.per_producer;
        for (int c = 0; c < CONS; c++)
            assert_int_equal(ringo_go(stress_consumer, &s), 0);
        for (long p = 0; p < 4; p++) {
            struct prod pr = {&s, p % 2 ? s.b : s.a, p * s.per_producer};
            assert_int_equal(ringo_go_copy(stress_producer, &pr, sizeof(pr)), 0);
        }
        for (int p = 0; p < 4; p++)
            ringo_chan_recv(s.pdone, NULL);
        ringo_chan_close(s.a);
        ringo_chan_close(s.b);
        struct tally total = {0, 0};
        for (int c = 0; c < CONS; c++) {
            struct tally t;
            assert_true(ringo_chan_recv(s.results, &t));
            total.count += t.count;
            total.sum += t.sum;
        }
        assert_int_equal(total.count, n);
        assert_true(total.sum == (long long)n * (n + 1) / 2);
        ringo_chan_unref(s.a);
        ringo_chan_unref(s.b);
        ringo_chan_unref(s.pdone);
        ringo_chan_unref(s.results);
    }
}

static void test_select_stress_across_workers(void **state)
{
    (void)state;
    run_main(2, stress_main, NULL);
}

/* ---- fd cases ----------------------------------------------------------------------------------- */

struct piper {
    ringo_chan_t *go;
    int fd;
};

static void pipe_writer(void *arg)
{
    struct piper *p = arg;
    ringo_chan_recv(p->go, NULL);
    assert_int_equal(write(p->fd, "x", 1), 1);
}

/* No Go twin (Go's netpoller is hidden): RINGO_READABLE fires when data
 * arrives and reads nothing. */
static void readable_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int p[2];
        assert_int_equal(pipe2(p, O_NONBLOCK), 0);
        ringo_chan_t *never = ringo_chan_make(sizeof(int), 0);
        struct piper pw = {ringo_chan_make(0, 0), p[1]};
        assert_int_equal(ringo_go(pipe_writer, &pw), 0);
        /* Not readable yet: the writer waits for the handshake. */
        ringo_case_t d[] = {RINGO_RECV(never, NULL), RINGO_READABLE(p[0])};
        ringo_chan_send(pw.go, &tok);
        assert_int_equal(ringo_select(d, NELEM(d)), 1);
        /* The byte is still there. */
        char buf[4];
        assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
        assert_int_equal(buf[0], 'x');
        assert_int_equal(read(p[0], buf, sizeof(buf)), -1);
        assert_int_equal(errno, EAGAIN);
        /* Readable at once when data is already waiting; still unread. */
        assert_int_equal(write(p[1], "yz", 2), 2);
        ringo_case_t e[] = {RINGO_READABLE(p[0]), RINGO_RECV(never, NULL)};
        assert_int_equal(ringo_select(e, NELEM(e)), 0);
        assert_int_equal(ringo_select(e, NELEM(e)), 0);
        assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
        close(p[0]);
        close(p[1]);
        ringo_chan_unref(pw.go);
        ringo_chan_unref(never);
    }
}

static void test_readable_pipe(void **state)
{
    (void)state;
    run_main(2, readable_main, NULL);
}

/* RINGO_WRITABLE fires on a pipe with room and writes nothing. */
static void writable_main(void *arg)
{
    (void)arg;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    ringo_chan_t *never = ringo_chan_make(sizeof(int), 0);
    for (int i = 0; i < 10; i++) {
        ringo_case_t c[] = {RINGO_RECV(never, NULL), RINGO_WRITABLE(p[1])};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
    }
    char buf[4];
    assert_int_equal(read(p[0], buf, sizeof(buf)), -1);    /* nothing written */
    assert_int_equal(errno, EAGAIN);
    close(p[0]);
    close(p[1]);
    ringo_chan_unref(never);
}

static void test_writable_pipe(void **state)
{
    (void)state;
    run_main(2, writable_main, NULL);
}

struct feeder {
    ringo_chan_t *ch;
    long rounds;
};

static void feeder(void *arg)
{
    struct feeder *f = arg;
    for (long i = 0; i < f->rounds; i++) {
        if (i % 4 == 0)
            ringo_yield();
        ringo_chan_send(f->ch, &i);
    }
}

/* A select with a fd case and a channel case: the channel wins, then the
 * pipe is closed (and its fd numbers reused by the next round's pipe). The
 * losing poll must be cancelled cleanly: 1,000 rounds, then fd cases still
 * work. */
static void fd_loses_main(void *arg)
{
    (void)arg;
    long rounds = iters(1000);
    struct feeder f = {ringo_chan_make(sizeof(long), 0), rounds};
    assert_int_equal(ringo_go(feeder, &f), 0);
    for (long i = 0; i < rounds; i++) {
        int p[2];
        assert_int_equal(pipe2(p, O_NONBLOCK), 0);
        long v = -1;
        ringo_case_t c[] = {RINGO_READABLE(p[0]), RINGO_RECV(f.ch, &v)};
        assert_int_equal(ringo_select(c, NELEM(c)), 1);
        assert_int_equal(v, i);
        close(p[0]);
        close(p[1]);
    }
    /* Still sound: a fresh pipe is not readable until written, then is. */
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    ringo_case_t e[] = {RINGO_READABLE(p[0]), RINGO_TIMEOUT(20 * RINGO_MILLISECOND)};
    assert_int_equal(ringo_select(e, NELEM(e)), 1);
    assert_int_equal(write(p[1], "a", 1), 1);
    assert_int_equal(ringo_select(e, NELEM(e)), 0);
    char ch;
    assert_int_equal(read(p[0], &ch, 1), 1);
    close(p[0]);
    close(p[1]);
    ringo_chan_unref(f.ch);
}

static void test_losing_fd_case(void **state)
{
    (void)state;
    run_main(2, fd_loses_main, NULL);
}

/* ---- a select with a fd case when the run ends ------------------------------------------ */

#define SHUTDOWN_SELECTORS 4

struct shutdown_sel {
    ringo_chan_t *who;          /* report_self */
    ringo_chan_t *wake;         /* unbuffered, never closed */
    int p[2];                   /* the pipe the fd cases wait on */
    int how;                    /* 0: nobody wakes them; 1: a channel; 2: the pipe */
};

static void shutdown_selector(void *arg)
{
    struct shutdown_sel *s = arg;
    long v;
    ringo_case_t c[] = {RINGO_READABLE(s->p[0]), RINGO_RECV(s->wake, &v)};
    report_self(s->who);
    ringo_select(c, NELEM(c));
}

static void shutdown_main(void *arg)
{
    struct shutdown_sel *s = arg;
    for (int i = 0; i < SHUTDOWN_SELECTORS; i++)
        assert_int_equal(ringo_go(shutdown_selector, s), 0);
    for (int i = 0; i < SHUTDOWN_SELECTORS; i++)
        wait_parked(await_report(s->who));
    long v = 1;
    if (s->how == 1)
        for (int i = 0; i < SHUTDOWN_SELECTORS / 2; i++)
            ringo_chan_send(s->wake, &v);
    else if (s->how == 2)
        assert_int_equal(write(s->p[1], "x", 1), 1);
    /* main returns: the selectors' polls complete while the workers stop,
     * some selectors in pass 3 on another worker, some never to run. */
}

/* The fd case's poll record used to be freed by its completion at shutdown
 * even after it had reached FIRING, while its select, woken by another
 * case, spun in pass 3 waiting for DONE on the freed record (a hang or a
 * use after free); records of selects that never ran again had to be freed
 * by someone. Many runs end with selects in every state. */
static void test_select_fd_case_pending_at_shutdown(void **state)
{
    (void)state;
    for (long i = 0; i < iters(300); i++) {
        struct shutdown_sel s = {.how = (int)(i % 3)};
        assert_non_null(s.who = ringo_chan_make(sizeof(ringo__fiber_t *), SHUTDOWN_SELECTORS));
        assert_non_null(s.wake = ringo_chan_make(sizeof(long), 0));
        assert_int_equal(pipe2(s.p, O_NONBLOCK), 0);
        run_main(2, shutdown_main, &s);
        close(s.p[0]);
        close(s.p[1]);
        ringo_chan_unref(s.who);
        ringo_chan_unref(s.wake);
    }
}

/* ---- bad input ---------------------------------------------------------------------------- */

static void *fd_select_thread(void *arg)
{
    int *p = arg;
    ringo_case_t c[] = {RINGO_READABLE(p[0])};
    return (void *)(intptr_t)ringo_select(c, NELEM(c));
}

/* ringo_select(NULL, 3) used to dereference NULL; now -EINVAL. A fd case
 * from a plain thread is -ENOTSUP (it needs a worker's ring); a negative fd
 * is -EBADF. None performs anything. */
static void bad_input_main(void *arg)
{
    (void)arg;
    assert_int_equal(ringo_select(NULL, 3), -EINVAL);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fd_select_thread, p), 0);
    void *rc;
    assert_int_equal(pthread_join(t, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, -ENOTSUP);
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 1);
    int v = 1;
    ringo_case_t c[] = {RINGO_SEND(ch, &v), RINGO_READABLE(-1)};
    assert_int_equal(ringo_select(c, NELEM(c)), -EBADF);
    assert_int_equal(ringo_chan_len(ch), 0);
    ringo_chan_unref(ch);
    close(p[0]);
    close(p[1]);
}

static void test_select_null_cases_einval(void **state)
{
    (void)state;
    assert_int_equal(ringo_select(NULL, 3), -EINVAL);    /* outside a run too */
    run_main(2, bad_input_main, NULL);
}

/* ---- out of memory arming a fd case ----------------------------------------------------------- */

#if !defined(RINGO_ASAN) && !defined(RINGO_TSAN)
/* malloc that fails once, on the thread that asked, for the next call:
 * ringo_select allocates nothing else before a fd case's poll record when
 * it has at most 8 cases. (Not under the sanitizers or Valgrind, which own
 * malloc.) */
extern void *__libc_malloc(size_t n);
static _Thread_local bool malloc_fail_next;

void *malloc(size_t n)
{
    if (malloc_fail_next) {
        malloc_fail_next = false;
        return NULL;
    }
    return __libc_malloc(n);
}

static void enomem_main(void *arg)
{
    (void)arg;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    int v = 0;
    ringo_case_t c[] = {RINGO_RECV(ch, &v), RINGO_READABLE(p[0])};
    malloc_fail_next = true;
    int rc = ringo_select(c, NELEM(c));
    malloc_fail_next = false;
    assert_int_equal(rc, -ENOMEM);
    /* Nothing was left queued: no receiver takes a try_send. */
    assert_int_equal(ringo_chan_try_send(ch, &v), -EAGAIN);
    /* And the same select works once memory is back. */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ringo_select(c, NELEM(c)), 1);
    ringo_chan_unref(ch);
    close(p[0]);
    close(p[1]);
}
#endif

/* Arming a fd case used to throw ("out of memory arming a select") though
 * ringo_select returns int; now it returns -ENOMEM having done nothing. */
static void test_select_fd_arming_out_of_memory(void **state)
{
    (void)state;
#if defined(RINGO_ASAN) || defined(RINGO_TSAN)
    skip();
#else
    if (ringo__on_valgrind())
        skip();
    run_main(2, enomem_main, NULL);
#endif
}

/* ---- malformed lists ---------------------------------------------------------------------------- */

/* Go rejects two defaults at compile time; ringo_select returns -EINVAL,
 * and for an unknown kind too, without performing anything. */
static void einval_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 1);
    int v = 1;
    ringo_case_t c[] = {RINGO_DEFAULT, RINGO_SEND(ch, &v), RINGO_DEFAULT};
    assert_int_equal(ringo_select(c, NELEM(c)), -EINVAL);
    ringo_case_t d[] = {RINGO_SEND(ch, &v), {.kind = 99}};
    assert_int_equal(ringo_select(d, NELEM(d)), -EINVAL);
    ringo_case_t e[] = {RINGO_SEND(ch, &v), {.kind = 0}};
    assert_int_equal(ringo_select(e, NELEM(e)), -EINVAL);
    assert_int_equal(ringo_chan_len(ch), 0);
    ringo_chan_unref(ch);
}

static void test_two_defaults_einval(void **state)
{
    (void)state;
    run_main(2, einval_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_cases),
        cmocka_unit_test(test_default_when_nothing_ready),
        cmocka_unit_test(test_nil_channel_cases_never_fire),
        cmocka_unit_test(test_select_fairness),
        cmocka_unit_test(test_ready_case_beats_default),
        cmocka_unit_test(test_nonblock_select_race),
        cmocka_unit_test(test_nonblock_select_race2),
        cmocka_unit_test(test_same_channel_in_two_cases),
        cmocka_unit_test(test_self_select),
        cmocka_unit_test(test_send_cases),
        cmocka_unit_test(test_ok_tells_close_from_value),
        cmocka_unit_test(test_close_wakes_select),
        cmocka_unit_test(test_timeout_fires),
        cmocka_unit_test(test_select_stress_across_workers),
        cmocka_unit_test(test_readable_pipe),
        cmocka_unit_test(test_writable_pipe),
        cmocka_unit_test(test_losing_fd_case),
        cmocka_unit_test(test_two_defaults_einval),
        cmocka_unit_test(test_select_fd_case_pending_at_shutdown),
        cmocka_unit_test(test_select_null_cases_einval),
        cmocka_unit_test(test_select_fd_arming_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Description: channels (ringo/chan.h), ported from Go's runtime/chan_test.go
 * where it applies. An unbuffered send does not complete before a receive;
 * sends to a full channel and receives from an empty one block; values come
 * out in FIFO order for capacities 0, 1 and 16; len and cap; close lets
 * buffered values drain, then receives give false and a zeroed element, and
 * wakes every blocked receiver; the non-blocking forms give -EAGAIN and
 * -EPIPE; misuse panics with Go's words (send on closed channel, close of
 * closed or nil channel, a channel freed under blocked fibers); zero-size
 * elements; RINGO_CHAN_FOREACH; a million messages through many producers
 * and consumers on two workers lose and duplicate nothing; plain pthreads
 * send, receive and block on channels; typed channels from RINGO_CHAN_DEFINE,
 * their select cases and per-view references; try_send racing a close gives
 * -EPIPE, never a panic; a use after the last unref panics in debug builds.
 * (compile_fail_chan_direction.c and compile_fail_chan_case_type.c check
 * that the typed directions and case element types are enforced at compile
 * time.)
 */
#include "common.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

static const size_t caps[] = {0, 1, 16};
#define NCAPS (sizeof(caps) / sizeof(caps[0]))

/* ---- helpers ------------------------------------------------------------------------------- */

struct blk {
    ringo_chan_t *ch;       /* the channel under test */
    ringo_chan_t *who;      /* cap 1+: the fiber reports itself here */
    ringo_chan_t *done;     /* cap 1+: the fiber reports its result here */
    atomic_int passed;      /* set once the blocking operation completed */
    int value;
};

/* ---- TestChan: blocking ---------------------------------------------------------------------- */

static void blocking_sender(void *arg)
{
    struct blk *b = arg;
    report_self(b->who);
    ringo_chan_send(b->ch, &b->value);
    atomic_store(&b->passed, 1);
    int one = 1;
    ringo_chan_send(b->done, &one);
}

/* TestChan "Ensure that send to unbuffered chan blocks" / "send to full
 * chan blocks": the send completes only once the receiver takes a value. */
static void send_blocks_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        struct blk b = {.ch = ringo_chan_make(sizeof(int), caps[k]),
                        .who = ringo_chan_make(sizeof(void *), 1),
                        .done = ringo_chan_make(sizeof(int), 1),
                        .value = 1000};
        int v;
        for (size_t i = 0; i < caps[k]; i++) {
            v = (int)i;
            assert_int_equal(ringo_chan_try_send(b.ch, &v), 0);
        }
        assert_int_equal(ringo_go(blocking_sender, &b), 0);
        wait_parked(await_report(b.who));
        assert_int_equal(atomic_load(&b.passed), 0);
        assert_int_equal(ringo_chan_len(b.ch), caps[k]);
        /* Receiving one value lets the sender through. */
        assert_true(ringo_chan_recv(b.ch, &v));
        assert_int_equal(v, caps[k] == 0 ? 1000 : 0);
        assert_true(ringo_chan_recv(b.done, &v));
        assert_int_equal(atomic_load(&b.passed), 1);
        /* The rest, in order, with the blocked value last. */
        for (size_t i = 1; i < caps[k]; i++) {
            assert_true(ringo_chan_recv(b.ch, &v));
            assert_int_equal(v, (int)i);
        }
        if (caps[k] > 0) {
            assert_true(ringo_chan_recv(b.ch, &v));
            assert_int_equal(v, 1000);
        }
        assert_int_equal(ringo_chan_try_recv(b.ch, &v), -EAGAIN);
        ringo_chan_unref(b.ch);
        ringo_chan_unref(b.who);
        ringo_chan_unref(b.done);
    }
}

static void test_send_blocks_until_received(void **state)
{
    (void)state;
    run_main(2, send_blocks_main, NULL);
}

static void blocking_receiver(void *arg)
{
    struct blk *b = arg;
    int v = -1;
    report_self(b->who);
    bool ok = ringo_chan_recv(b->ch, &v);
    atomic_store(&b->passed, 1);
    b->value = v;
    ringo_chan_send(b->done, &ok);
}

/* TestChan "Ensure that receive from empty chan blocks". */
static void recv_blocks_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        struct blk b = {.ch = ringo_chan_make(sizeof(int), caps[k]),
                        .who = ringo_chan_make(sizeof(void *), 1),
                        .done = ringo_chan_make(sizeof(bool), 1)};
        assert_int_equal(ringo_go(blocking_receiver, &b), 0);
        wait_parked(await_report(b.who));
        assert_int_equal(atomic_load(&b.passed), 0);
        int v = 77;
        ringo_chan_send(b.ch, &v);
        bool ok = false;
        assert_true(ringo_chan_recv(b.done, &ok));
        assert_true(ok);
        assert_int_equal(b.value, 77);
        assert_int_equal(ringo_chan_len(b.ch), 0);
        ringo_chan_unref(b.ch);
        ringo_chan_unref(b.who);
        ringo_chan_unref(b.done);
    }
}

static void test_recv_blocks_until_sent(void **state)
{
    (void)state;
    run_main(2, recv_blocks_main, NULL);
}

/* ---- TestChan: FIFO, len/cap ----------------------------------------------------------------- */

struct fifo {
    ringo_chan_t *ch;
    int n;
};

static void fifo_sender(void *arg)
{
    /* Copy out first: once the last value is received, main reuses *f. */
    struct fifo f = *(struct fifo *)arg;
    for (int i = 0; i < f.n; i++)
        ringo_chan_send(f.ch, &i);
}

/* TestChan "Send 100 integers, ensure that we receive them non-corrupted in
 * FIFO order". */
static void fifo_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        struct fifo f = {.ch = ringo_chan_make(sizeof(int), caps[k]), .n = 100};
        assert_int_equal(ringo_go(fifo_sender, &f), 0);
        for (int i = 0; i < f.n; i++) {
            int v = -1;
            assert_true(ringo_chan_recv(f.ch, &v));
            assert_int_equal(v, i);
        }
        ringo_chan_unref(f.ch);
    }
}

static void test_fifo_order(void **state)
{
    (void)state;
    run_main(2, fifo_main, NULL);
}

/* TestChan "Test len/cap"; len and cap of a nil channel are 0, as in Go. */
static void len_cap_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        ringo_chan_t *ch = ringo_chan_make(sizeof(int), caps[k]);
        assert_int_equal(ringo_chan_len(ch), 0);
        assert_int_equal(ringo_chan_cap(ch), caps[k]);
        for (size_t i = 0; i < caps[k]; i++) {
            int v = (int)i;
            ringo_chan_send(ch, &v);
            assert_int_equal(ringo_chan_len(ch), i + 1);
        }
        assert_int_equal(ringo_chan_cap(ch), caps[k]);
        ringo_chan_close(ch);
        assert_int_equal(ringo_chan_len(ch), caps[k]);
        assert_int_equal(ringo_chan_cap(ch), caps[k]);
        ringo_chan_unref(ch);
    }
    assert_int_equal(ringo_chan_len(NULL), 0);
    assert_int_equal(ringo_chan_cap(NULL), 0);
}

static void test_len_cap(void **state)
{
    (void)state;
    run_main(2, len_cap_main, NULL);
}

/* ---- close semantics ------------------------------------------------------------------------ */

/* TestChan "Ensure that we receive 0 from closed chan" plus the
 * non-blocking forms (Go's select-with-default receive/send). */
static void close_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        size_t c = caps[k];
        ringo_chan_t *ch = ringo_chan_make(sizeof(int), c);
        int v = 5;
        /* Empty: nothing to receive; unbuffered or full: nothing to send. */
        assert_int_equal(ringo_chan_try_recv(ch, &v), -EAGAIN);
        for (size_t i = 0; i < c; i++) {
            v = (int)(i + 1);
            assert_int_equal(ringo_chan_try_send(ch, &v), 0);
        }
        v = 99;
        assert_int_equal(ringo_chan_try_send(ch, &v), -EAGAIN);
        assert_int_equal(ringo_chan_len(ch), c);

        ringo_chan_close(ch);
        /* Buffered values drain after close. */
        for (size_t i = 0; i < c; i++) {
            v = -1;
            if (i % 2)
                assert_true(ringo_chan_recv(ch, &v));
            else
                assert_int_equal(ringo_chan_try_recv(ch, &v), 0);
            assert_int_equal(v, (int)(i + 1));
        }
        assert_int_equal(ringo_chan_len(ch), 0);
        /* Then: false / -EPIPE with the element zeroed, as often as asked. */
        for (int rep = 0; rep < 3; rep++) {
            v = 0x5a5a5a5a;
            assert_false(ringo_chan_recv(ch, &v));
            assert_int_equal(v, 0);
            v = 0x5a5a5a5a;
            assert_int_equal(ringo_chan_try_recv(ch, &v), -EPIPE);
            assert_int_equal(v, 0);
            assert_false(ringo_chan_recv(ch, NULL));
            assert_int_equal(ringo_chan_try_recv(ch, NULL), -EPIPE);
        }
        /* try_send on a closed channel reports it rather than panicking. */
        v = 1;
        assert_int_equal(ringo_chan_try_send(ch, &v), -EPIPE);
        ringo_chan_unref(ch);
    }
    /* A nil channel is never ready. */
    int v = 1;
    assert_int_equal(ringo_chan_try_send(NULL, &v), -EAGAIN);
    assert_int_equal(ringo_chan_try_recv(NULL, &v), -EAGAIN);
}

static void test_close_semantics(void **state)
{
    (void)state;
    run_main(2, close_main, NULL);
}

/* No Go twin (Go zeroes via the type): a closed channel's element is zeroed
 * in full, whatever its size. */
struct big {
    char bytes[100];
};

static void close_big_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(struct big), 2);
    struct big b;
    memset(&b, 0x11, sizeof(b));
    ringo_chan_send(ch, &b);
    ringo_chan_close(ch);
    memset(&b, 0, sizeof(b));
    assert_true(ringo_chan_recv(ch, &b));
    for (size_t i = 0; i < sizeof(b.bytes); i++)
        assert_int_equal(b.bytes[i], 0x11);
    memset(&b, 0xff, sizeof(b));
    assert_false(ringo_chan_recv(ch, &b));
    for (size_t i = 0; i < sizeof(b.bytes); i++)
        assert_int_equal(b.bytes[i], 0);
    ringo_chan_unref(ch);
}

static void test_close_zeroes_large_elements(void **state)
{
    (void)state;
    run_main(2, close_big_main, NULL);
}

/* TestChan "Ensure that close unblocks receive", with 100 receivers all
 * blocked first. */
#define CLOSE_RECEIVERS 100

struct close_wake {
    ringo_chan_t *ch, *who, *results;
};

static void close_waiter(void *arg)
{
    struct close_wake *w = arg;
    int v = 0x5a5a5a5a;
    report_self(w->who);
    bool ok = ringo_chan_recv(w->ch, &v);
    int res = (ok ? 1 : 0) | (v != 0 ? 2 : 0);
    ringo_chan_send(w->results, &res);
}

static void close_wakes_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        struct close_wake w = {
            .ch = ringo_chan_make(sizeof(int), caps[k]),
            .who = ringo_chan_make(sizeof(void *), CLOSE_RECEIVERS),
            .results = ringo_chan_make(sizeof(int), CLOSE_RECEIVERS),
        };
        for (int i = 0; i < CLOSE_RECEIVERS; i++)
            assert_int_equal(ringo_go(close_waiter, &w), 0);
        for (int i = 0; i < CLOSE_RECEIVERS; i++)
            wait_parked(await_report(w.who));
        assert_int_equal(ringo_chan_len(w.results), 0);
        ringo_chan_close(w.ch);
        for (int i = 0; i < CLOSE_RECEIVERS; i++) {
            int res = -1;
            assert_true(ringo_chan_recv(w.results, &res));
            assert_int_equal(res, 0);   /* ok false, value zeroed */
        }
        ringo_chan_unref(w.ch);
        ringo_chan_unref(w.who);
        ringo_chan_unref(w.results);
    }
}

static void test_close_wakes_all_receivers(void **state)
{
    (void)state;
    run_main(2, close_wakes_main, NULL);
}

/* ---- panics ------------------------------------------------------------------------------------ */

static ringo_chan_t *death_ch, *death_who;

static void death_sender(void *arg)
{
    (void)arg;
    int v = 1;
    report_self(death_who);
    ringo_chan_send(death_ch, &v);
}

static void blocked_sender_main(void *arg)
{
    size_t cap = (size_t)(uintptr_t)arg;
    death_ch = ringo_chan_make(sizeof(int), cap);
    death_who = ringo_chan_make(sizeof(void *), 1);
    int v = 0;
    for (size_t i = 0; i < cap; i++)
        ringo_chan_send(death_ch, &v);
    assert_int_equal(ringo_go(death_sender, NULL), 0);
    wait_parked(await_report(death_who));
    ringo_chan_close(death_ch);
    ringo_sleep(10 * RINGO_SECOND);     /* the woken sender panics meanwhile */
}

static void blocked_sender_child0(void)
{
    run_main(2, blocked_sender_main, (void *)(uintptr_t)0);
}

static void blocked_sender_child1(void)
{
    run_main(2, blocked_sender_main, (void *)(uintptr_t)1);
}

/* TestChan "close makes a blocked sender panic" (Go's closechan readies
 * senders, which then panic). Under the race detector the close is a race
 * with the send before it is a panic: Go's TestRaceChanSendClose. */
static void test_close_panics_blocked_sender(void **state)
{
    (void)state;
#ifdef RINGO_TSAN
    static const char *const want[] = {"ringo_chan_close", "ringo_chan_send", "death_sender",
                                       "blocked_sender_main", NULL};
    race_test(blocked_sender_child0, want);
    race_test(blocked_sender_child1, want);
#else
    death_test(blocked_sender_child0, "send on closed channel");
    death_test(blocked_sender_child1, "send on closed channel");
#endif
}

static void send_closed_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 4);
    ringo_chan_close(ch);
    int v = 1;
    ringo_chan_send(ch, &v);
}

static void send_closed_child(void)
{
    run_main(2, send_closed_main, NULL);
}

/* Go: "send on closed channel". */
static void test_send_on_closed_panics(void **state)
{
    (void)state;
    death_test(send_closed_child, "ringo: panic: send on closed channel");
}

static void close_closed_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    ringo_chan_close(ch);
    ringo_chan_close(ch);
}

static void close_closed_child(void)
{
    run_main(2, close_closed_main, NULL);
}

/* Go: "close of closed channel". */
static void test_close_closed_panics(void **state)
{
    (void)state;
    death_test(close_closed_child, "ringo: panic: close of closed channel");
}

static void close_nil_main(void *arg)
{
    (void)arg;
    ringo_chan_close(NULL);
}

static void close_nil_child(void)
{
    run_main(2, close_nil_main, NULL);
}

/* Go: "close of nil channel". */
static void test_close_nil_panics(void **state)
{
    (void)state;
    death_test(close_nil_child, "ringo: panic: close of nil channel");
}

static void death_receiver(void *arg)
{
    (void)arg;
    int v;
    report_self(death_who);
    ringo_chan_recv(death_ch, &v);
}

static void unref_blocked_main(void *arg)
{
    (void)arg;
    death_ch = ringo_chan_make(sizeof(int), 0);
    death_who = ringo_chan_make(sizeof(void *), 1);
    assert_int_equal(ringo_go(death_receiver, NULL), 0);
    wait_parked(await_report(death_who));
    ringo_chan_unref(death_ch);
}

static void unref_blocked_child(void)
{
    run_main(2, unref_blocked_main, NULL);
}

static void unref_blocked_sender_main(void *arg)
{
    (void)arg;
    death_ch = ringo_chan_make(sizeof(int), 0);
    death_who = ringo_chan_make(sizeof(void *), 1);
    assert_int_equal(ringo_go(death_sender, NULL), 0);
    wait_parked(await_report(death_who));
    ringo_chan_unref(death_ch);
}

static void unref_blocked_sender_child(void)
{
    run_main(2, unref_blocked_sender_main, NULL);
}

/* No Go twin (the GC keeps such a channel alive): freeing a channel with
 * fibers blocked on it is a panic. */
static void test_unref_while_blocked_panics(void **state)
{
    (void)state;
    death_test(unref_blocked_child, "channel freed while fibers are blocked on it");
    death_test(unref_blocked_sender_child, "channel freed while fibers are blocked on it");
}

/* ---- references -------------------------------------------------------------------------------- */

static void ref_holder(void *arg)
{
    ringo_chan_t *ch = arg;
    for (int i = 0; i < 10; i++)
        ringo_chan_send(ch, &i);
    ringo_chan_close(ch);
    ringo_chan_unref(ch);
}

/* No Go twin (Go has a GC): a fiber that took its own reference keeps the
 * channel alive after the creator dropped its one. */
static void ref_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    ringo_chan_t *mine = ringo_chan_ref(ch);
    assert_ptr_equal(mine, ch);
    ringo_chan_t *theirs = ringo_chan_ref(ch);
    assert_int_equal(ringo_go(ref_holder, theirs), 0);
    int v, sum = 0;
    RINGO_CHAN_FOREACH(mine, v)
        sum += v;
    assert_int_equal(sum, 45);
    ringo_chan_unref(ch);
    ringo_chan_unref(mine);
}

static void test_ref_unref(void **state)
{
    (void)state;
    run_main(2, ref_main, NULL);
}

/* ---- zero-size elements, FOREACH --------------------------------------------------------------- */

static void token_sender(void *arg)
{
    ringo_chan_t *ch = arg;
    char dummy = 0;
    for (int i = 0; i < 50; i++)
        ringo_chan_send(ch, &dummy);
    ringo_chan_close(ch);
}

/* Go's chan struct{} (as used throughout chan_test.go for done channels):
 * counts, not bytes. */
static void zero_size_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        ringo_chan_t *ch = ringo_chan_make(0, caps[k]);
        assert_non_null(ch);
        assert_int_equal(ringo_chan_cap(ch), caps[k]);
        char dummy = 0;
        for (size_t i = 0; i < caps[k]; i++)
            assert_int_equal(ringo_chan_try_send(ch, &dummy), 0);
        assert_int_equal(ringo_chan_len(ch), caps[k]);
        assert_int_equal(ringo_chan_try_send(ch, &dummy), -EAGAIN);
        for (size_t i = 0; i < caps[k]; i++)
            assert_true(ringo_chan_recv(ch, i % 2 ? NULL : &dummy));
        assert_int_equal(ringo_chan_try_recv(ch, NULL), -EAGAIN);

        assert_int_equal(ringo_go(token_sender, ch), 0);
        int got = 0;
        while (ringo_chan_recv(ch, NULL))
            got++;
        assert_int_equal(got, 50);
        assert_int_equal(ringo_chan_try_recv(ch, NULL), -EPIPE);
        ringo_chan_unref(ch);
    }
}

static void test_zero_size_elements(void **state)
{
    (void)state;
    run_main(2, zero_size_main, NULL);
}

/* Go's `for v := range c` (TestChan's receive loops, TestMultiConsumer's
 * consumers): over a closed buffered channel and over one a fiber
 * fills and then closes. */
static void foreach_main(void *arg)
{
    (void)arg;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 8);
    for (int i = 1; i <= 5; i++)
        ringo_chan_send(ch, &i);
    ringo_chan_close(ch);
    int v, n = 0, sum = 0;
    RINGO_CHAN_FOREACH(ch, v) {
        n++;
        sum += v;
        assert_int_equal(v, n);
    }
    assert_int_equal(n, 5);
    assert_int_equal(sum, 15);
    assert_int_equal(v, 0);
    /* Ranging again over the drained, closed channel does nothing. */
    RINGO_CHAN_FOREACH(ch, v)
        fail();
    ringo_chan_unref(ch);

    for (size_t k = 0; k < NCAPS; k++) {
        ringo_chan_t *c = ringo_chan_make(sizeof(int), caps[k]);
        assert_int_equal(ringo_go(ref_holder, ringo_chan_ref(c)), 0);   /* sends 0..9, closes */
        n = 0;
        RINGO_CHAN_FOREACH(c, v)
            assert_int_equal(v, n++);
        assert_int_equal(n, 10);
        ringo_chan_unref(c);
    }
}

static void test_foreach(void **state)
{
    (void)state;
    run_main(2, foreach_main, NULL);
}

/* ---- TestMultiConsumer / TestChan "Send 1000 integers in 4 goroutines" ------------------------ */

#define PRODUCERS 4
#define CONSUMERS 4

struct mpmc {
    ringo_chan_t *ch;       /* the channel under test */
    ringo_chan_t *pdone;    /* producers say they are done */
    ringo_chan_t *results;  /* consumers' {count, sum} */
    long per_producer;
};

struct mpmc_arg {
    struct mpmc *m;
    long index;
};

struct tally {
    long count;
    long long sum;
};

static void mpmc_producer(void *arg)
{
    struct mpmc_arg *a = arg;
    long base = a->index * a->m->per_producer;
    for (long i = 1; i <= a->m->per_producer; i++) {
        long v = base + i;
        ringo_chan_send(a->m->ch, &v);
    }
    int one = 1;
    ringo_chan_send(a->m->pdone, &one);
}

static void mpmc_consumer(void *arg)
{
    struct mpmc *m = arg;
    struct tally t = {0, 0};
    long v;
    RINGO_CHAN_FOREACH(m->ch, v) {
        t.count++;
        t.sum += v;
    }
    ringo_chan_send(m->results, &t);
}

static void mpmc_main(void *arg)
{
    (void)arg;
    const size_t mcaps[] = {0, 1, 64};
    for (size_t k = 0; k < 3; k++) {
        struct mpmc m = {
            .ch = ringo_chan_make(sizeof(long), mcaps[k]),
            .pdone = ringo_chan_make(sizeof(int), 0),
            .results = ringo_chan_make(sizeof(struct tally), 0),
            .per_producer = iters(1000000) / PRODUCERS,
        };
        long n = m.per_producer * PRODUCERS;
        for (long c = 0; c < CONSUMERS; c++)
            assert_int_equal(ringo_go(mpmc_consumer, &m), 0);
        for (long p = 0; p < PRODUCERS; p++) {
            struct mpmc_arg a = {&m, p};
            assert_int_equal(ringo_go_copy(mpmc_producer, &a, sizeof(a)), 0);
        }
        int one;
        for (int p = 0; p < PRODUCERS; p++)
            assert_true(ringo_chan_recv(m.pdone, &one));
        ringo_chan_close(m.ch);
        struct tally total = {0, 0};
        for (int c = 0; c < CONSUMERS; c++) {
            struct tally t;
            assert_true(ringo_chan_recv(m.results, &t));
            total.count += t.count;
            total.sum += t.sum;
        }
        assert_int_equal(total.count, n);
        assert_true(total.sum == (long long)n * (n + 1) / 2);
        ringo_chan_unref(m.ch);
        ringo_chan_unref(m.pdone);
        ringo_chan_unref(m.results);
    }
}

static void test_million_messages_many_producers_consumers(void **state)
{
    (void)state;
    run_main(2, mpmc_main, NULL);
}

/* ---- plain threads ------------------------------------------------------------------------------- */

struct thr {
    ringo_chan_t *hello;    /* cap 1: the thread's first channel operation */
    ringo_chan_t *req, *rep, *done;
    long n;
    atomic_long errors;
};

/* Waits, without blocking, until the new thread's first channel operation
 * (a buffered send that does not block) has happened. Until a plain thread
 * has touched a channel the runtime cannot know it exists, so blocking
 * before that could rightly be judged a deadlock; after it, fibers blocked
 * waiting for the thread must not be. */
static void await_thread(struct thr *t)
{
    while (ringo_chan_try_recv(t->hello, NULL) != 0)
        ringo_yield();
}

static void *pthread_client(void *arg)
{
    struct thr *t = arg;
    ringo_chan_send(t->hello, &(int){1});
    for (long i = 0; i < t->n; i++) {
        ringo_chan_send(t->req, &i);
        long r = -1;
        if (!ringo_chan_recv(t->rep, &r) || r != 2 * i)
            atomic_fetch_add(&t->errors, 1);
    }
    ringo_chan_close(t->req);
    int one = 1;
    ringo_chan_send(t->done, &one);
    return NULL;
}

/* No Go twin (Go has no foreign threads): a pthread (not a ringo worker) sends requests to a fiber and blocks for
 * its replies. */
static void pthread_echo_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        struct thr t = {.hello = ringo_chan_make(sizeof(int), 1),
                        .req = ringo_chan_make(sizeof(long), caps[k]),
                        .rep = ringo_chan_make(sizeof(long), caps[k]),
                        .done = ringo_chan_make(sizeof(int), 0),
                        .n = iters(10000)};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, pthread_client, &t), 0);
        await_thread(&t);
        long v, served = 0;
        RINGO_CHAN_FOREACH(t.req, v) {
            assert_int_equal(v, served);
            served++;
            v *= 2;
            ringo_chan_send(t.rep, &v);
        }
        assert_int_equal(served, t.n);
        int one;
        assert_true(ringo_chan_recv(t.done, &one));   /* the thread is finishing */
        pthread_join(th, NULL);
        assert_int_equal(atomic_load(&t.errors), 0);
        ringo_chan_unref(t.hello);
        ringo_chan_unref(t.req);
        ringo_chan_unref(t.rep);
        ringo_chan_unref(t.done);
    }
}

static void test_pthread_send_recv(void **state)
{
    (void)state;
    run_main(2, pthread_echo_main, NULL);
}

static void *pthread_receiver(void *arg)
{
    struct thr *t = arg;
    ringo_chan_send(t->hello, &(int){1});
    for (long i = 0; i < t->n; i++) {
        long r = -1;
        if (!ringo_chan_recv(t->req, &r) || r != i)
            atomic_fetch_add(&t->errors, 1);
    }
    long r = 0;
    if (ringo_chan_recv(t->req, &r) || r != 0)     /* closed: false, zeroed */
        atomic_fetch_add(&t->errors, 1);
    int one = 1;
    ringo_chan_send(t->done, &one);
    return NULL;
}

/* No Go twin: a pthread blocked in recv is woken by a fiber's send. On an unbuffered
 * channel a non-blocking send succeeds only when a receiver is waiting, so
 * the first half proves the thread was blocked; the second half uses plain
 * sends; close wakes it last. */
static void pthread_blocked_main(void *arg)
{
    (void)arg;
    struct thr t = {.hello = ringo_chan_make(sizeof(int), 1),
                    .req = ringo_chan_make(sizeof(long), 0),
                    .done = ringo_chan_make(sizeof(int), 0),
                    .n = iters(2000)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pthread_receiver, &t), 0);
    await_thread(&t);
    long i = 0;
    for (; i < t.n / 2; i++)
        while (ringo_chan_try_send(t.req, &i) == -EAGAIN)
            ringo_yield();
    for (; i < t.n; i++)
        ringo_chan_send(t.req, &i);
    ringo_chan_close(t.req);
    int one;
    assert_true(ringo_chan_recv(t.done, &one));
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&t.errors), 0);
    ringo_chan_unref(t.hello);
    ringo_chan_unref(t.req);
    ringo_chan_unref(t.done);
}

static void test_pthread_blocked_recv_woken_by_fiber(void **state)
{
    (void)state;
    run_main(2, pthread_blocked_main, NULL);
}

/* ---- typed channels -------------------------------------------------------------------------------- */

RINGO_CHAN_DEFINE(intchan, int)

static void typed_producer(void *arg)
{
    intchan_tx tx = *(intchan_tx *)arg;     /* a send-only view */
    for (int i = 0; i < 20; i++)
        intchan_send(tx, i * i);
    intchan_close(tx);
}

/* No Go twin for the C encoding of chan T / chan<- T / <-chan T: the typed
 * wrappers send, receive, close and try like the raw calls. */
static void typed_main(void *arg)
{
    (void)arg;
    for (size_t k = 0; k < NCAPS; k++) {
        intchan c = intchan_make(caps[k]);
        assert_non_null(c.raw);
        assert_ptr_equal(c.tx.raw, c.raw);
        assert_ptr_equal(c.rx.raw, c.raw);
        assert_int_equal(ringo_chan_cap(c.raw), caps[k]);
        assert_int_equal(ringo_chan_len(c.raw), 0);

        int v = -1;
        assert_int_equal(intchan_try_recv(c.rx, &v), -EAGAIN);
        if (caps[k] > 0) {
            assert_int_equal(intchan_try_send(c.tx, 41), 0);
            assert_int_equal(intchan_try_recv(c.rx, &v), 0);
            assert_int_equal(v, 41);
        } else {
            assert_int_equal(intchan_try_send(c.tx, 41), -EAGAIN);
        }

        assert_int_equal(ringo_go_copy(typed_producer, &c.tx, sizeof(c.tx)), 0);
        for (int i = 0; i < 20; i++) {
            assert_true(intchan_recv(c.rx, &v));
            assert_int_equal(v, i * i);
        }
        v = 7;
        assert_false(intchan_recv(c.rx, &v));
        assert_int_equal(v, 0);
        assert_int_equal(intchan_try_recv(c.rx, &v), -EPIPE);
        assert_int_equal(intchan_try_send(c.tx, 1), -EPIPE);
        intchan_unref(c);
    }
}

/* Typed select cases, and references taken and dropped through one view. */
static ringo_chan_t *typed_done;

static void typed_view_holder(void *arg)
{
    intchan_rx rx = *(intchan_rx *)arg;     /* its own reference, taken by main */
    int v = -1;
    ringo_case_t c[] = {intchan_recv_case(rx, &v)};
    CHECK(ringo_select(c, 1) == 0 && c[0].ok && v == 9);
    intchan_rx_unref(rx);
    signal_done(typed_done);
}

static void typed_cases_main(void *arg)
{
    (void)arg;
    intchan c = intchan_make(1);
    assert_non_null(c.raw);
    int in = 5, out = -1;
    ringo_case_t s[] = {intchan_send_case(c.tx, &in)};
    assert_int_equal(ringo_select(s, 1), 0);
    ringo_case_t r[] = {intchan_recv_case(c.rx, &out), RINGO_DEFAULT};
    assert_int_equal(ringo_select(r, 2), 0);
    assert_int_equal(out, 5);
    assert_true(r[0].ok);

    intchan_rx rx = intchan_rx_ref(c.rx);
    assert_int_equal(ringo_go_copy(typed_view_holder, &rx, sizeof(rx)), 0);
    intchan_tx tx = intchan_tx_ref(c.tx);
    intchan_unref(intchan_ref(c));          /* +1 -1 */
    intchan_unref(c);                       /* main's own; tx and rx remain */
    intchan_send(tx, 9);                    /* the holder takes it and drops rx */
    intchan_tx_unref(tx);
    await_done(typed_done, 1);              /* the holder dropped the last one */
}

static void test_typed_select_cases(void **state)
{
    (void)state;
    assert_non_null(typed_done = ringo_chan_make(sizeof(int), 1));
    run_checked(2, typed_cases_main, NULL);
    ringo_chan_unref(typed_done);
}

/* ---- try_send racing a close ------------------------------------------------------------- */

#ifndef RINGO_TSAN
/* A plain thread closes each channel it is handed after a short, varying
 * spin, so the close lands anywhere inside the fiber's try_send loop. */
static void *try_closer(void *arg)
{
    ringo_chan_t *todo = arg;
    ringo_chan_t *c;
    for (unsigned k = 0; ringo_chan_recv(todo, &c); k++) {
        for (volatile unsigned spin = 0; spin < (k * 7919u) % 2048; spin++)
            ;
        ringo_chan_close(c);
    }
    return NULL;
}

/* try_send used to look at `closed` under the lock, drop it, and send under
 * it again: a close in between made the send panic "send on closed
 * channel" where -EPIPE is promised. Now one locked section decides: every
 * result is 0, -EAGAIN or -EPIPE, and -EPIPE comes once closed. */
static void try_send_close_main(void *arg)
{
    (void)arg;
    ringo_chan_t *todo = ringo_chan_make(sizeof(ringo_chan_t *), 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, try_closer, todo), 0);
    for (long i = 0; i < iters(5000); i++) {
        ringo_chan_t *c = ringo_chan_make(sizeof(int), (size_t)(i % 2));
        ringo_chan_send(todo, &c);
        int v = 1, rc;
        while ((rc = ringo_chan_try_send(c, &v)) != -EPIPE)
            assert_true(rc == 0 || rc == -EAGAIN);
        assert_int_equal(ringo_chan_try_send(c, &v), -EPIPE);
        ringo_chan_unref(c);
    }
    ringo_chan_close(todo);
    assert_int_equal(pthread_join(t, NULL), 0);
    ringo_chan_unref(todo);
}
#endif

static void test_try_send_racing_close_gives_epipe(void **state)
{
    (void)state;
#ifdef RINGO_TSAN
    skip();     /* a send racing a close is a data race, and TSan says so (as Go's -race) */
#else
    /* Valgrind runs one thread at a time: the fiber's busy loop starves
     * the closing thread, and no two threads ever race anyway. */
    if (ringo__on_valgrind())
        skip();
    run_main(2, try_send_close_main, NULL);
#endif
}

/* ---- a freed channel, used ------------------------------------------------------------------ */

#if !defined(NDEBUG) && !defined(RINGO_ASAN)
static void freed_use_main(void *arg)
{
    (void)arg;
    ringo_chan_t *c = ringo_chan_make(sizeof(int), 1);
    ringo_chan_unref(c);
    int v = 1;
    ringo_chan_send(c, &v);
}

static void freed_use_child(void)
{
    run_main(2, freed_use_main, NULL);
}
#endif

/* Debug builds poison a channel at its last unref: a later use panics at
 * the use instead of spinning on or writing through freed memory. Under
 * ASan or Valgrind the tool reports the use first and the child's exit is
 * its own, so the test is skipped there. */
static void test_use_after_last_unref_panics(void **state)
{
    (void)state;
#if defined(NDEBUG) || defined(RINGO_ASAN)
    skip();
#else
    if (ringo__on_valgrind())
        skip();     /* Valgrind, too, reports the read of freed memory first */
    death_test(freed_use_child, "ringo: panic: use of a freed channel");
#endif
}

static void test_typed_channels(void **state)
{
    (void)state;
    run_main(2, typed_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_blocks_until_received),
        cmocka_unit_test(test_recv_blocks_until_sent),
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_len_cap),
        cmocka_unit_test(test_close_semantics),
        cmocka_unit_test(test_close_zeroes_large_elements),
        cmocka_unit_test(test_close_wakes_all_receivers),
        cmocka_unit_test(test_close_panics_blocked_sender),
        cmocka_unit_test(test_send_on_closed_panics),
        cmocka_unit_test(test_close_closed_panics),
        cmocka_unit_test(test_close_nil_panics),
        cmocka_unit_test(test_unref_while_blocked_panics),
        cmocka_unit_test(test_ref_unref),
        cmocka_unit_test(test_zero_size_elements),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_million_messages_many_producers_consumers),
        cmocka_unit_test(test_pthread_send_recv),
        cmocka_unit_test(test_pthread_blocked_recv_woken_by_fiber),
        cmocka_unit_test(test_typed_channels),
        cmocka_unit_test(test_typed_select_cases),
        cmocka_unit_test(test_try_send_racing_close_gives_epipe),
        cmocka_unit_test(test_use_after_last_unref_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

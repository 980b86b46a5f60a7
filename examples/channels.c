/* examples/channels.c - Go's channels in C (chapter 2 of
 * docs/guide.md).
 *
 *   ch := make(chan T)           ringo_chan_make(sizeof(T), 0)
 *   ch := make(chan T, 3)        ringo_chan_make(sizeof(T), 3)
 *   ch <- v / v := <-ch          ringo_chan_send(ch, &v) / ringo_chan_recv(ch, &v)
 *   v, ok := <-ch                bool ok = ringo_chan_recv(ch, &v)
 *   select { case ch <- v:       ringo_chan_try_send(ch, &v): 0 or -EAGAIN
 *            default: }
 *   close(ch)                    ringo_chan_close(ch)
 *   for v := range ch            RINGO_CHAN_FOREACH(ch, v)
 *   chan<- T / <-chan T          RINGO_CHAN_DEFINE(name, T): name_tx / name_rx
 *   var ch chan T (nil)          ringo_chan_t *ch = NULL
 *
 * C has no garbage collector, so channels are reference counted:
 * ringo_chan_make hands the creator one reference. A fiber that goes on
 * using a channel after its creator may have dropped it takes its own
 * reference with ringo_chan_ref *before* ringo_go (taking it inside the new
 * fiber would race with the creator's unref) and drops it with
 * ringo_chan_unref when it is done.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- unbuffered: a handshake ------------------------------------------------------- */

static atomic_bool handshake_sent;

static void say_hello(void *arg)
{
    ringo_chan_t *ch = arg;             /* our own reference, taken by main */
    const char *msg = "hello";
    ringo_chan_send(ch, &msg);          /* blocks until main receives */
    atomic_store(&handshake_sent, true);
    ringo_chan_unref(ch);
}

static void unbuffered(void)
{
    ringo_chan_t *ch = ringo_chan_make(sizeof(const char *), 0);
    ringo_go(say_hello, ringo_chan_ref(ch));

    /* Give the sender plenty of time: with no receiver its send cannot
     * complete, however long we wait. */
    ringo_sleep(20 * RINGO_MILLISECOND);
    check(!atomic_load(&handshake_sent), "unbuffered send completed with no receiver");
    check(ringo_chan_len(ch) == 0, "an unbuffered channel holds nothing");

    const char *msg = NULL;
    check(ringo_chan_recv(ch, &msg), "unbuffered recv");
    check(strcmp(msg, "hello") == 0, "unbuffered value");
    printf("unbuffered: got %s; the send finished only once we received\n", msg);
    ringo_chan_unref(ch);
}

/* ---- buffered: a FIFO of cap elements -------------------------------------------------- */

static void buffered(void)
{
    ringo_chan_t *ch = ringo_chan_make(sizeof(char), 3);
    const char in[] = "abcd";

    for (int i = 0; i < 3; i++)          /* "a", "b", "c" fit: no receiver needed */
        check(ringo_chan_try_send(ch, &in[i]) == 0, "buffered send within capacity");
    check(ringo_chan_len(ch) == 3 && ringo_chan_cap(ch) == 3, "len and cap of a full buffer");

    /* ch <- "d" would block now; the non-blocking form says so. */
    check(ringo_chan_try_send(ch, &in[3]) == -EAGAIN, "4th send into cap 3 must block");

    char out;
    check(ringo_chan_recv(ch, &out) && out == 'a', "FIFO: first out is a");
    check(ringo_chan_try_send(ch, &in[3]) == 0, "room again after one receive");
    for (int i = 1; i < 4; i++)
        check(ringo_chan_recv(ch, &out) && out == in[i], "FIFO order");
    check(ringo_chan_try_recv(ch, &out) == -EAGAIN, "empty buffer: a recv would block");
    puts("buffered: a b c fit, d waited for room, all came out in order");
    ringo_chan_unref(ch);
}

/* ---- directional channels -------------------------------------------------------------- */

/* chan int, with its send-only (intchan_tx) and receive-only (intchan_rx)
 * views. Passing an intchan_rx to producer() does not compile
 * (tests/compile_fail_chan_direction.c checks it). */
RINGO_CHAN_DEFINE(intchan, int)

struct producer_args { intchan_tx out; };
struct consumer_args { intchan_rx in; intchan_tx result; };

static void producer(void *arg)         /* func producer(out chan<- int) */
{
    struct producer_args *a = arg;
    for (int i = 1; i <= 5; i++)
        intchan_send(a->out, i);
    intchan_close(a->out);              /* only the sender closes */
    ringo_chan_unref(a->out.raw);
}

static void consumer(void *arg)         /* func consumer(in <-chan int, result chan<- int) */
{
    struct consumer_args *a = arg;
    int v, sum = 0;
    while (intchan_recv(a->in, &v))
        sum += v;
    intchan_send(a->result, sum);
    ringo_chan_unref(a->in.raw);
    ringo_chan_unref(a->result.raw);
}

static void directional(void)
{
    intchan data = intchan_make(0);
    intchan result = intchan_make(1);

    /* Each fiber gets its own reference to the channels it keeps using. */
    ringo_chan_ref(data.raw);
    struct producer_args pa = {data.tx};
    ringo_go_copy(producer, &pa, sizeof pa);

    ringo_chan_ref(data.raw);
    ringo_chan_ref(result.raw);
    struct consumer_args ca = {data.rx, result.tx};
    ringo_go_copy(consumer, &ca, sizeof ca);

    intchan_unref(data);                /* main is done with it; the fibers are not */

    int sum = 0;
    check(intchan_recv(result.rx, &sum), "directional result");
    check(sum == 15, "consumer summed 1..5");
    printf("directional: producer(chan<- int) -> consumer(<-chan int): sum %d\n", sum);
    intchan_unref(result);
}

/* ---- close, range and v, ok := <-ch ------------------------------------------------------ */

static void count_to_five(void *arg)
{
    ringo_chan_t *ch = arg;
    for (int i = 0; i < 5; i++)
        ringo_chan_send(ch, &i);
    ringo_chan_close(ch);               /* "no more values": ends the range loop */
    ringo_chan_unref(ch);
}

static void closing(void)
{
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    ringo_go(count_to_five, ringo_chan_ref(ch));

    int v, next = 0;
    RINGO_CHAN_FOREACH(ch, v) {         /* for v := range ch */
        check(v == next, "range order");
        next++;
    }
    check(next == 5, "range saw all five values");

    /* A closed, drained channel answers at once: zero value, ok == false. */
    v = 42;
    bool ok = ringo_chan_recv(ch, &v);
    check(!ok && v == 0, "recv after close gives (0, false)");
    check(ringo_chan_try_recv(ch, &v) == -EPIPE, "try_recv after close gives -EPIPE");
    printf("close: range got 0..4, then v, ok := <-ch gave (%d, %s)\n", v, ok ? "true" : "false");
    ringo_chan_unref(ch);

    /* Values sent before the close are still delivered; ok turns false only
     * once the buffer is drained. */
    ringo_chan_t *b = ringo_chan_make(sizeof(int), 2);
    int seven = 7;
    ringo_chan_send(b, &seven);
    ringo_chan_close(b);
    check(ringo_chan_recv(b, &v) && v == 7, "buffered value survives close");
    check(!ringo_chan_recv(b, &v) && v == 0, "then (0, false)");
    puts("close: a buffered value sent before close still arrives, then ok is false");
    ringo_chan_unref(b);
}

/* ---- nil channels in select ---------------------------------------------------------------- */

struct numbers_args { ringo_chan_t *out; int first, count; };

static void numbers(void *arg)
{
    struct numbers_args *a = arg;
    for (int i = 0; i < a->count; i++) {
        int v = a->first + i;
        ringo_chan_send(a->out, &v);
    }
    ringo_chan_close(a->out);
    ringo_chan_unref(a->out);
}

static ringo_chan_t *start_numbers(int first, int count)
{
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    struct numbers_args a = {ringo_chan_ref(ch), first, count};
    ringo_go_copy(numbers, &a, sizeof a);
    return ch;
}

static void nil_channels(void)
{
    /* A receive from a NULL channel can never proceed: the select picks the
     * timeout (and a plain ringo_chan_recv(NULL, ...) would block forever). */
    int v;
    ringo_case_t lone[] = {RINGO_RECV(NULL, &v), RINGO_TIMEOUT(10 * RINGO_MILLISECOND)};
    check(ringo_select(lone, 2) == 1, "a nil channel's case never fires");
    check(ringo_chan_try_recv(NULL, &v) == -EAGAIN, "try_recv on nil would block");

    /* The idiom: merge two channels, and switch each case off by setting its
     * channel to NULL once it is closed. Loop until both are off. */
    ringo_chan_t *own_a = start_numbers(1, 5), *own_b = start_numbers(100, 5);
    ringo_chan_t *a = own_a, *b = own_b;   /* the select's view; we keep our refs */
    int from_a = 0, from_b = 0;
    while (a != NULL || b != NULL) {
        ringo_case_t cases[] = {RINGO_RECV(a, &v), RINGO_RECV(b, &v)};
        int i = ringo_select(cases, 2);
        check(i == 0 || i == 1, "select index");
        check(cases[i].ch != NULL, "a case on a nil channel fired");
        if (!cases[i].ok) {             /* closed: never look at it again */
            if (i == 0)
                a = NULL;
            else
                b = NULL;
            continue;
        }
        if (i == 0) {
            check(v == 1 + from_a++, "values from a in order");
        } else {
            check(v == 100 + from_b++, "values from b in order");
        }
    }
    check(from_a == 5 && from_b == 5, "merged all values");
    puts("nil channel: its select case never fired; nil-ing closed inputs ended the merge");
    ringo_chan_unref(own_a);
    ringo_chan_unref(own_b);
}

static void main_fiber(void *arg)
{
    (void)arg;
    unbuffered();
    buffered();
    directional();
    closing();
    nil_channels();
    puts("channels: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}

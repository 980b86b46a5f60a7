/* examples/timers.c - Go's time package timers, in C, with Go 1.23's rules.
 *
 *   time.After(d)             ringo_after(d): a channel; unref it when done
 *   t := time.NewTimer(d)     ringo_timer_new(d); ringo_timer_free(t) when done
 *   <-t.C                     ringo_chan_recv(ringo_timer_chan(t), &when)
 *   t.Stop()                  ringo_timer_stop(t): true if it was still pending
 *   t.Reset(d)                ringo_timer_reset(t, d): the same report
 *   time.AfterFunc(d, f)      ringo_after_func(d, f, arg)
 *   case <-time.After(d):     RINGO_TIMEOUT(d) in ringo_select (allocates nothing)
 *
 * Go 1.23's rule, which ringo follows: once Stop or Reset has returned, no
 * value from before the call is ever received. A timer that fired while
 * nobody was receiving has its value discarded by Stop, and Stop reports
 * true for it. The old idiom of draining the channel after Stop is not
 * needed: a receive there would block, as nothing is left to receive.
 *
 * There is no garbage collector: a timer belongs to whoever made it and is
 * released with ringo_timer_free (Stop never frees).
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <errno.h>
#include <stdatomic.h>

static atomic_int after_func_runs;
static ringo_chan_t *after_func_done;   /* the AfterFunc tells main it ran */

static void on_timer(void *arg)
{
    atomic_fetch_add(&after_func_runs, 1);
    ringo_chan_send(after_func_done, arg);
}

static void main_fiber(void *arg)
{
    (void)arg;

    /* time.After */
    int64_t start = ringo_now(), when = 0;
    ringo_chan_t *after = ringo_after(5 * RINGO_MILLISECOND);
    check(after != NULL, "ringo_after");
    check(ringo_chan_recv(after, &when), "ringo_after delivers");
    ringo_chan_unref(after);
    check(when - start >= 5 * RINGO_MILLISECOND, "not before its time");
    printf("After(5ms) fired after %lld us\n", (long long)((when - start) / RINGO_MICROSECOND));

    /* NewTimer, then Stop before it fires: Stop says it stopped it. */
    ringo_timer_t *t = ringo_timer_new(RINGO_HOUR);
    check(t != NULL, "ringo_timer_new");
    check(ringo_timer_stop(t), "Stop of a pending timer returns true");
    check(!ringo_timer_stop(t), "a second Stop returns false");

    /* Reset re-arms; it reports whether the previous arming was pending. */
    check(!ringo_timer_reset(t, 2 * RINGO_MILLISECOND), "Reset of a stopped timer returns false");
    check(ringo_chan_recv(ringo_timer_chan(t), &when), "the reset timer fires");

    /* Go 1.23: a fire nobody received is discarded by Stop, which then
     * returns true, and nothing is left to receive. */
    check(!ringo_timer_reset(t, RINGO_MILLISECOND), "a received fire is not pending");
    ringo_sleep(10 * RINGO_MILLISECOND);        /* it fires; nobody receives */
    check(ringo_timer_stop(t), "Stop discards an unreceived fire and returns true");
    check(ringo_chan_try_recv(ringo_timer_chan(t), &when) == -EAGAIN, "nothing stale to receive");
    puts("Stop and Reset follow Go 1.23: no stale value after they return");

    /* A timeout in a select, the allocation-free form. */
    ringo_chan_t *never = ringo_chan_make(sizeof(int), 0);
    int v;
    ringo_case_t cases[] = {RINGO_RECV(never, &v), RINGO_TIMEOUT(2 * RINGO_MILLISECOND)};
    check(ringo_select(cases, 2) == 1, "the timeout case fires");
    ringo_chan_unref(never);
    ringo_timer_free(t);

    /* AfterFunc: fn runs in its own fiber; Stop before it fires keeps it
     * from running. */
    after_func_done = ringo_chan_make(sizeof(int), 1);
    static int token = 7;
    ringo_timer_t *stopped = ringo_after_func(RINGO_HOUR, on_timer, &token);
    ringo_timer_t *fired = ringo_after_func(RINGO_MILLISECOND, on_timer, &token);
    check(stopped && fired, "ringo_after_func");
    check(ringo_timer_chan(fired) == NULL, "an AfterFunc timer has no channel");
    check(ringo_timer_stop(stopped), "Stop keeps the hour-long AfterFunc from running");
    int got = 0;
    check(ringo_chan_recv(after_func_done, &got) && got == 7, "the AfterFunc ran with its argument");
    check(!ringo_timer_stop(fired), "Stop after it started returns false");
    ringo_timer_free(stopped);
    ringo_timer_free(fired);
    check(example_fibers_reach(1), "the AfterFunc fiber ended");
    check(atomic_load(&after_func_runs) == 1, "exactly one AfterFunc ran");
    ringo_chan_unref(after_func_done);
    puts("AfterFunc: the stopped one never ran, the other ran once");
    puts("ok");
}

int main(void)
{
    return example_run(main_fiber);
}

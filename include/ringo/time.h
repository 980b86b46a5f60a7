/* ringo/time.h - durations, the monotonic clock and sleeping (Go's time). */
#ifndef RINGO_TIME_H
#define RINGO_TIME_H

#include <stdbool.h>
#include <stdint.h>
#include <ringo/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds, like Go's time.Duration. */
typedef int64_t ringo_duration_t;

#define RINGO_NANOSECOND  ((ringo_duration_t)1)
#define RINGO_MICROSECOND ((ringo_duration_t)1000 * RINGO_NANOSECOND)
#define RINGO_MILLISECOND ((ringo_duration_t)1000 * RINGO_MICROSECOND)
#define RINGO_SECOND      ((ringo_duration_t)1000 * RINGO_MILLISECOND)
#define RINGO_MINUTE      ((ringo_duration_t)60 * RINGO_SECOND)
#define RINGO_HOUR        ((ringo_duration_t)60 * RINGO_MINUTE)

/* CLOCK_MONOTONIC in nanoseconds; the clock every ringo deadline is on. */
RINGO_API int64_t ringo_now(void);

/* Pauses the calling fiber for at least d (time.Sleep). d <= 0 returns at
 * once. The worker runs other fibers meanwhile; the wake-up comes from the
 * worker's timer heap, never from an SQE per sleeper. Called from a thread
 * that is not a ringo worker, it sleeps that thread. */
RINGO_API void ringo_sleep(ringo_duration_t d);

/* ---- timers and tickers (Go's time.After, Timer, AfterFunc, Ticker) ----------- */

typedef struct ringo_chan ringo_chan_t;
typedef struct ringo_timer ringo_timer_t;
typedef struct ringo_ticker ringo_ticker_t;

/* Go 1.23's timer semantics. A timer's or ticker's channel (elements
 * int64_t: the ringo_now() time of the fire) holds at most one value, and a
 * fire never blocks. Once ringo_timer_stop, ringo_timer_reset,
 * ringo_ticker_stop or ringo_ticker_reset has returned, no value from
 * before the call is ever received: one that fired but was not received is
 * discarded, and a fire under way delivers nothing. As in Go 1.23, these
 * channels (and ringo_after's) report ringo_chan_cap 0 and ringo_chan_len
 * 0, whatever is pending.
 *
 * Out of memory: the functions that return a pointer return NULL (nothing
 * was armed). A fire that needs memory and has no caller to tell - the
 * fiber an AfterFunc starts - ends the program with "ringo: fatal: out of
 * memory ...", as Go does; so does a timer heap that cannot grow.
 *
 * Freed handles: in builds with assertions on (no NDEBUG), using a timer or
 * ticker after ringo_timer_free / ringo_ticker_free panics at the use
 * ("ringo_timer_stop: use of a freed timer or ticker"). Without
 * assertions it is undefined, as with any freed pointer.
 *
 * Creating a timer or ticker with no runtime running panics. */

/* time.After(d): a channel (cap 0 as above, elements int64_t: the ringo_now()
 * time of the fire) that receives once, d from now. The caller owns one
 * reference and drops it with ringo_chan_unref when done, fired or not.
 * NULL only when memory ran out. Inside ringo_select prefer RINGO_TIMEOUT,
 * which allocates nothing. */
RINGO_API ringo_chan_t *ringo_after(ringo_duration_t d);

/* time.NewTimer(d): its channel (ringo_timer_chan, borrowed, valid until
 * ringo_timer_free) receives the fire time once, d from now. NULL only when
 * memory ran out. */
RINGO_API ringo_timer_t *ringo_timer_new(ringo_duration_t d);
/* time.AfterFunc(d, f): runs fn(arg) in a new fiber d from now. The timer
 * has no channel (ringo_timer_chan gives NULL). NULL when fn is NULL (Go
 * would fault when the timer fires; ringo refuses it at once) or memory ran
 * out; then nothing runs. */
RINGO_API ringo_timer_t *ringo_after_func(ringo_duration_t d, void (*fn)(void *), void *arg);
RINGO_API ringo_chan_t *ringo_timer_chan(ringo_timer_t *t);
/* Timer.Stop: true if the call stopped the timer, false if it had already
 * been stopped, or had fired and its value was received (for an AfterFunc:
 * fn was started; Stop does not wait for fn). As in Go 1.23, a value that
 * fired but was not received is discarded, and Stop returns true for it.
 * Stopping twice is harmless (the second returns false). */
RINGO_API bool ringo_timer_stop(ringo_timer_t *t);
/* Timer.Reset: re-arms t for d from now (a stopped or fired timer too) and
 * returns what ringo_timer_stop would have: true if the previous arming
 * was pending. No value of the previous arming is received afterwards.
 * d <= 0 fires at once. */
RINGO_API bool ringo_timer_reset(ringo_timer_t *t, ringo_duration_t d);
/* Stops the timer, waits for a fire under way on another thread to finish,
 * and releases the timer and its reference to its channel (a caller that
 * took its own ringo_chan_ref keeps the channel, empty). NULL is a no-op.
 * Not Go's (there is no GC); fn of an AfterFunc may still be running. */
RINGO_API void ringo_timer_free(ringo_timer_t *t);

/* time.NewTicker(d): its channel receives the time every d; a slow
 * receiver misses ticks rather than queueing them. d <= 0 panics, as in Go.
 * NULL only when memory ran out. */
RINGO_API ringo_ticker_t *ringo_ticker_new(ringo_duration_t d);
RINGO_API ringo_chan_t *ringo_ticker_chan(ringo_ticker_t *t);
/* Ticker.Reset: stops the ticker, discards an unreceived tick, and ticks
 * every d from now, also after ringo_ticker_stop. d <= 0 panics. */
RINGO_API void ringo_ticker_reset(ringo_ticker_t *t, ringo_duration_t d);
/* Ticker.Stop: no tick is received after it returns (an unreceived one is
 * discarded). Idempotent, and the ticker can be Reset afterwards, as in
 * Go; it does not free the ticker (ringo_ticker_free does). */
RINGO_API void ringo_ticker_stop(ringo_ticker_t *t);
/* Stops the ticker and releases it and its reference to its channel, like
 * ringo_timer_free (there is no GC). NULL is a no-op. */
RINGO_API void ringo_ticker_free(ringo_ticker_t *t);

#ifdef __cplusplus
}
#endif
#endif

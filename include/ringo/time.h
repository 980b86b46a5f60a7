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

/* time.After(d): a channel (capacity 1, elements int64_t: the ringo_now()
 * time of the fire) that receives once, d from now. The caller owns one
 * reference and drops it with ringo_chan_unref when done, fired or not.
 * NULL only when memory ran out. Inside ringo_select prefer RINGO_TIMEOUT,
 * which allocates nothing. */
RINGO_API ringo_chan_t *ringo_after(ringo_duration_t d);

/* time.NewTimer(d): its channel (ringo_timer_chan, borrowed, valid until
 * ringo_timer_free) receives the fire time once, d from now. */
RINGO_API ringo_timer_t *ringo_timer_new(ringo_duration_t d);
/* time.AfterFunc(d, f): runs fn(arg) in a new fiber d from now. The timer
 * has no channel. */
RINGO_API ringo_timer_t *ringo_after_func(ringo_duration_t d, void (*fn)(void *), void *arg);
RINGO_API ringo_chan_t *ringo_timer_chan(ringo_timer_t *t);
/* Stop: true if this call kept the timer from firing (it was pending).
 * Like Go, Stop does not drain a value already sent to the channel. */
RINGO_API bool ringo_timer_stop(ringo_timer_t *t);
/* Reset: re-arms for d from now; true if the timer had been pending. */
RINGO_API bool ringo_timer_reset(ringo_timer_t *t, ringo_duration_t d);
/* Stops the timer and releases it (and its reference to its channel). */
RINGO_API void ringo_timer_free(ringo_timer_t *t);

/* time.NewTicker(d): its channel receives the time every d; a slow
 * receiver misses ticks rather than queueing them (capacity 1). d <= 0
 * panics, as in Go. */
RINGO_API ringo_ticker_t *ringo_ticker_new(ringo_duration_t d);
RINGO_API ringo_chan_t *ringo_ticker_chan(ringo_ticker_t *t);
RINGO_API void ringo_ticker_reset(ringo_ticker_t *t, ringo_duration_t d);
/* Stops and frees the ticker (Go's Stop; there is no GC to do the rest). */
RINGO_API void ringo_ticker_stop(ringo_ticker_t *t);

#ifdef __cplusplus
}
#endif
#endif

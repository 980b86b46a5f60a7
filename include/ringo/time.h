/* ringo/time.h - durations, the monotonic clock and sleeping (Go's time). */
#ifndef RINGO_TIME_H
#define RINGO_TIME_H

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

#ifdef __cplusplus
}
#endif
#endif

/* sync/time.c - Go's time.After, Timer, AfterFunc and Ticker on the
 * runtime's per-worker timer heaps.
 *
 * A timer's channel has capacity 1 and a fire sends without blocking, so a
 * slow receiver misses ticks instead of queueing them (Go's rule). Fires
 * run on the worker that armed the timer, or on the monitor thread when
 * that worker is hogged; they never block.
 *
 * Locking: t->lock serialises stop, reset, free and a ticker's re-arming in
 * its own fire, so a timer is never in a heap twice. Lock order: t->lock,
 * then the heap's timer_lock (inside ringo__timer_add / ringo__timer_del).
 * ringo_timer_free and ringo_ticker_stop wait out a fire in progress
 * (ringo__timer_del_sync) before freeing.
 */
#include "chan_internal.h"

#include <stdlib.h>
#include <string.h>

struct ringo_timer {
    ringo__timer_t t;
    ringo__spinlock_t lock;
    ringo__worker_t *home;      /* the heap it is armed on (t->lock) */
    ringo_chan_t *ch;           /* NULL for after_func */
    void (*fn)(void *);
    void *arg;
    ringo_duration_t period;    /* tickers */
    bool stopped;               /* ticker stopped: its fire must not re-arm */
};

static int64_t deadline(ringo_duration_t d)
{
    int64_t now = ringo__now();
    if (d < 0)
        d = 0;
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}

static ringo__worker_t *home_worker(void)
{
    ringo__runtime_t *rt = ringo__rt;
    if (!rt)
        ringo_panic("timer created with no runtime running");
    ringo__worker_t *w = ringo__self();
    return w ? w : &rt->workers[0];
}

static void send_now(ringo_chan_t *ch)
{
    int64_t now = ringo__now();
    ringo_chan_try_send(ch, &now);      /* full: the receiver misses this one */
}

/* ---- time.After -------------------------------------------------------------------- */

struct after {
    ringo__timer_t t;
    ringo_chan_t *ch;
};

/* Happens-before, as in Go: what a timer's creator (or the last Reset) did
 * happens before its fire, and so before the receive of its tick or the
 * start of its AfterFunc. Fires run in the worker's timer context
 * (core/timer.c). */

static void after_fire(ringo__timer_t *t)
{
    struct after *a = t->arg;
    RINGO_RACE_ACQUIRE(a);
    send_now(a->ch);
    ringo_chan_unref(a->ch);
    ringo__free(a);
}

static void after_dispose(ringo__timer_t *t)
{
    struct after *a = t->arg;
    ringo_chan_unref(a->ch);
    ringo__free(a);
}

ringo_chan_t *ringo_after(ringo_duration_t d)
{
    ringo__worker_t *w = home_worker();
    struct after *a = ringo__calloc(1, sizeof(*a));
    ringo_chan_t *ch = ringo_chan_make(sizeof(int64_t), 1);
    if (!a || !ch) {
        ringo__free(a);
        ringo_chan_unref(ch);
        return NULL;
    }
    a->ch = ringo_chan_ref(ch);     /* the timer's own reference */
    a->t.heap_index = -1;
    a->t.when = deadline(d);
    a->t.fire = after_fire;
    a->t.dispose = after_dispose;
    a->t.arg = a;
    RINGO_RACE_RELEASE(a);
    ringo__timer_add(w, &a->t);
    return ch;
}

/* ---- Timer and AfterFunc ----------------------------------------------------------------- */

static void timer_fire(ringo__timer_t *tt)
{
    ringo_timer_t *t = tt->arg;
    RINGO_RACE_ACQUIRE(t);
    if (t->ch)
        send_now(t->ch);
    else    /* the spawn passes it on to fn */
        ringo_go_at(t->fn, t->arg, "ringo_after_func", 0, "after_func");
}

static ringo_timer_t *timer_make(ringo_duration_t d, bool with_chan)
{
    ringo__worker_t *w = home_worker();
    ringo_timer_t *t = ringo__calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (with_chan && !(t->ch = ringo_chan_make(sizeof(int64_t), 1))) {
        ringo__free(t);
        return NULL;
    }
    t->t.heap_index = -1;
    t->t.fire = timer_fire;
    t->t.arg = t;
    t->t.sync = true;
    t->t.when = deadline(d);
    t->home = w;
    RINGO_RACE_RELEASE(t);
    return t;
}

ringo_timer_t *ringo_timer_new(ringo_duration_t d)
{
    ringo_timer_t *t = timer_make(d, true);
    if (t)
        ringo__timer_add(t->home, &t->t);
    return t;
}

ringo_timer_t *ringo_after_func(ringo_duration_t d, void (*fn)(void *), void *arg)
{
    ringo_timer_t *t = timer_make(d, false);
    if (!t)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    /* timer_fire reads fn/arg through t; t->t.arg stays t. */
    ringo__timer_add(t->home, &t->t);
    return t;
}

ringo_chan_t *ringo_timer_chan(ringo_timer_t *t)
{
    return t ? t->ch : NULL;
}

bool ringo_timer_stop(ringo_timer_t *t)
{
    ringo__spin_lock(&t->lock);
    bool pending = ringo__timer_del(&t->t);
    ringo__spin_unlock(&t->lock);
    return pending;
}

bool ringo_timer_reset(ringo_timer_t *t, ringo_duration_t d)
{
    ringo__worker_t *w = ringo__self();
    ringo__spin_lock(&t->lock);
    bool pending = ringo__timer_del(&t->t);
    if (w)
        t->home = w;
    t->t.when = deadline(d);
    RINGO_RACE_RELEASE(t);
    ringo__timer_add(t->home, &t->t);
    ringo__spin_unlock(&t->lock);
    return pending;
}

void ringo_timer_free(ringo_timer_t *t)
{
    if (!t)
        return;
    ringo__spin_lock(&t->lock);
    t->stopped = true;
    ringo__spin_unlock(&t->lock);
    ringo__timer_del_sync(&t->t);
    ringo_chan_unref(t->ch);
    ringo__free(t);
}

/* ---- Ticker ------------------------------------------------------------------------------------ */

static void ticker_fire(ringo__timer_t *tt)
{
    ringo_timer_t *t = tt->arg;
    RINGO_RACE_ACQUIRE(t);
    send_now(t->ch);
    ringo__spin_lock(&t->lock);
    if (!t->stopped && t->t.heap_index < 0) {
        /* Next tick one period after the last; if we fell behind, skip
         * ahead rather than fire a burst. */
        int64_t now = ringo__now();
        int64_t next = t->t.when + t->period;
        if (next <= now)
            next = now + t->period;
        t->t.when = next;
        ringo__timer_add(t->home, &t->t);
    }
    ringo__spin_unlock(&t->lock);
}

ringo_ticker_t *ringo_ticker_new(ringo_duration_t d)
{
    if (d <= 0)
        ringo_panic("non-positive interval for ringo_ticker_new");
    ringo_timer_t *t = timer_make(d, true);
    if (!t)
        return NULL;
    t->period = d;
    t->t.fire = ticker_fire;
    ringo__timer_add(t->home, &t->t);
    return (ringo_ticker_t *)t;
}

ringo_chan_t *ringo_ticker_chan(ringo_ticker_t *tk)
{
    return tk ? ((ringo_timer_t *)tk)->ch : NULL;
}

void ringo_ticker_reset(ringo_ticker_t *tk, ringo_duration_t d)
{
    if (d <= 0)
        ringo_panic("non-positive interval for ringo_ticker_reset");
    ringo_timer_t *t = (ringo_timer_t *)tk;
    ringo__worker_t *w = ringo__self();
    ringo__spin_lock(&t->lock);
    ringo__timer_del(&t->t);
    if (w)
        t->home = w;
    t->period = d;
    t->t.when = deadline(d);
    RINGO_RACE_RELEASE(t);
    ringo__timer_add(t->home, &t->t);
    ringo__spin_unlock(&t->lock);
}

void ringo_ticker_stop(ringo_ticker_t *tk)
{
    ringo_timer_free((ringo_timer_t *)tk);
}

/* sync/time.c - Go's time.After, Timer, AfterFunc and Ticker on the
 * runtime's per-worker timer heaps, with Go 1.23's channel semantics.
 *
 * A timer's channel holds at most one value and a fire never blocks: a
 * ticker's slow receiver misses ticks instead of queueing them. As in Go
 * 1.23, no value from before a Stop or Reset is ever received after it
 * returns: Stop and Reset discard a value that fired but was not received,
 * and a fire already under way when they run delivers nothing. Fires run
 * on the worker that armed the timer, or on the monitor thread when that
 * worker is hogged.
 *
 * Invariants (t->lock held):
 *   - t->armed: the current arming has neither delivered (a timer's one
 *     value, an AfterFunc's start) nor been stopped or reset. A ticker stays
 *     armed from creation or Reset until Stop.
 *   - t is in a heap only while armed, and only a holder of t->lock adds it
 *     to one; so a fire that finds t back in a heap, or t not armed, belongs
 *     to an arming that was stopped or reset, and delivers nothing.
 *   - a timer's channel holds a value only while its arming is not armed
 *     (the value is that arming's delivery); Stop and Reset drain it.
 * "Pending" (what Stop and Reset return) is Go 1.23's: the arming was
 * armed, or its value was still unreceived in the channel.
 *
 * Locking: t->lock serialises stop, reset, free and fires, so a timer is
 * never in a heap twice. A fire delivers under t->lock (Go holds its
 * timer's sendLock the same way), which is what makes a Stop or Reset that
 * took the lock after it see the value, and one before it stop it. Lock
 * order: t->lock, then its channel's lock (the send or the drain) or the
 * heap's timer_lock (ringo__timer_add / ringo__timer_del). The record's
 * heap_index and heap fields belong to the heap's timer_lock: this file
 * reads only t->t.heap, with an atomic load (in_heap). ringo_timer_free and
 * ringo_ticker_free wait out a fire in progress (ringo__timer_del_sync)
 * before freeing.
 *
 * Handles: t->magic is TIMER_LIVE from creation until the free; debug builds
 * (assertions on) check it in every public entry point and poison a freed
 * timer, so a stale handle panics at its use instead of corrupting memory.
 */
#include "chan_internal.h"

#include <stdlib.h>
#include <string.h>

#define TIMER_LIVE 0x71e5a11eu

struct ringo_timer {
    ringo__timer_t t;
    ringo__spinlock_t lock;     /* protects every field below but magic */
    ringo__worker_t *home;      /* the heap it is armed on */
    ringo_chan_t *ch;           /* NULL for after_func */
    void (*fn)(void *);
    void *arg;
    ringo_duration_t period;    /* tickers; 0 for timers */
    bool armed;                 /* see the invariants above */
    uint32_t magic;             /* TIMER_LIVE until freed (written only then) */
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

/* Discards a value that fired but was not received; true if there was one.
 * Caller holds t->lock, so no fire can refill the channel meanwhile. */
static bool drain(ringo_chan_t *ch)
{
    bool had = false;
    while (ch && ringo_chan_try_recv(ch, NULL) == 0)
        had = true;
    return had;
}

/* A Reset arms on the caller's heap when the caller is a worker, else
 * where the timer was last armed. t->lock held. */
static void rehome(ringo_timer_t *t)
{
    ringo__worker_t *w = ringo__self();
    if (w)
        t->home = w;
}

static bool in_heap(ringo_timer_t *t)
{
    return __atomic_load_n(&t->t.heap, __ATOMIC_ACQUIRE) != NULL;
}

/* A use of a freed handle panics here in debug builds, at the use. */
#define check_live(t, fn) RINGO__CHECK_LIVE((t), TIMER_LIVE, (fn), "timer or ticker")

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
    ringo_chan_t *ch = ringo__chan_make_timer();
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

/* Timers and AfterFuncs. A fire delivers only for the current arming (the
 * invariants above); an AfterFunc's fiber is started after t->lock is
 * dropped, since fn may use t. */
static void timer_fire(ringo__timer_t *tt)
{
    ringo_timer_t *t = tt->arg;
    RINGO_RACE_ACQUIRE(t);
    ringo__spin_lock(&t->lock);
    bool deliver = t->armed && !in_heap(t);
    if (deliver) {
        t->armed = false;
        if (t->ch)
            send_now(t->ch);
    }
    bool start = deliver && !t->ch;
    void (*fn)(void *) = t->fn;
    void *arg = t->arg;
    ringo__spin_unlock(&t->lock);
    /* A fire has no caller to tell: a fiber that cannot be started is fatal,
     * as it is in Go (and for a context's AfterFunc). */
    if (start && ringo_go_at(fn, arg, "ringo_after_func", 0, "after_func") < 0)
        ringo__throw("out of memory starting a ringo_after_func fiber");
}

static ringo_timer_t *timer_make(ringo_duration_t d, bool with_chan)
{
    ringo__worker_t *w = home_worker();
    ringo_timer_t *t = ringo__calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (with_chan && !(t->ch = ringo__chan_make_timer())) {
        ringo__free(t);
        return NULL;
    }
    t->t.heap_index = -1;
    t->t.fire = timer_fire;
    t->t.arg = t;
    t->t.sync = true;
    t->t.when = deadline(d);
    t->home = w;
    t->armed = true;
    t->magic = TIMER_LIVE;
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
    if (!fn)
        return NULL;            /* refused now rather than fatal when it fires */
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
    check_live(t, "ringo_timer_chan");
    return t ? t->ch : NULL;
}

/* Stops t's current arming; true if it was pending (Go 1.23). t->lock held. */
static bool stop_locked(ringo_timer_t *t)
{
    ringo__timer_del(&t->t);
    bool pending = t->armed;
    t->armed = false;
    if (drain(t->ch))
        pending = true;
    return pending;
}

bool ringo_timer_stop(ringo_timer_t *t)
{
    check_live(t, "ringo_timer_stop");
    ringo__spin_lock(&t->lock);
    bool pending = stop_locked(t);
    ringo__spin_unlock(&t->lock);
    return pending;
}

bool ringo_timer_reset(ringo_timer_t *t, ringo_duration_t d)
{
    check_live(t, "ringo_timer_reset");
    ringo__spin_lock(&t->lock);
    bool pending = stop_locked(t);
    rehome(t);
    t->t.when = deadline(d);
    t->armed = true;
    RINGO_RACE_RELEASE(t);
    ringo__timer_add(t->home, &t->t);
    ringo__spin_unlock(&t->lock);
    return pending;
}

static void timer_release(ringo_timer_t *t)
{
    ringo__spin_lock(&t->lock);
    stop_locked(t);
    ringo__spin_unlock(&t->lock);
    ringo__timer_del_sync(&t->t);       /* a fire under way finds it stopped */
    ringo_chan_unref(t->ch);
    ringo__free_poisoned(t, sizeof(*t));
}

void ringo_timer_free(ringo_timer_t *t)
{
    if (!t)
        return;
    check_live(t, "ringo_timer_free");
    timer_release(t);
}

/* ---- Ticker ------------------------------------------------------------------------------------ */

/* Delivers a tick (dropped if the last one is still unreceived) and re-arms
 * one period after the last tick; if we fell behind, it skips ahead rather
 * than fire a burst. */
static void ticker_fire(ringo__timer_t *tt)
{
    ringo_timer_t *t = tt->arg;
    RINGO_RACE_ACQUIRE(t);
    ringo__spin_lock(&t->lock);
    if (t->armed && !in_heap(t)) {
        send_now(t->ch);
        int64_t now = ringo__now();
        int64_t next = t->t.when > INT64_MAX - t->period ? INT64_MAX : t->t.when + t->period;
        if (next <= now)
            next = now > INT64_MAX - t->period ? INT64_MAX : now + t->period;
        t->t.when = next;
        ringo__timer_add(t->home, &t->t);
    }
    ringo__spin_unlock(&t->lock);
}

static ringo_timer_t *ticker_of(ringo_ticker_t *tk, const char *what)
{
    ringo_timer_t *t = (ringo_timer_t *)tk;
    check_live(t, what);
    return t;
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
    ringo_timer_t *t = ticker_of(tk, "ringo_ticker_chan");
    return t ? t->ch : NULL;
}

void ringo_ticker_reset(ringo_ticker_t *tk, ringo_duration_t d)
{
    ringo_timer_t *t = ticker_of(tk, "ringo_ticker_reset");
    if (d <= 0)
        ringo_panic("non-positive interval for ringo_ticker_reset");
    ringo__spin_lock(&t->lock);
    stop_locked(t);
    rehome(t);
    t->period = d;
    t->t.when = deadline(d);
    t->armed = true;
    RINGO_RACE_RELEASE(t);
    ringo__timer_add(t->home, &t->t);
    ringo__spin_unlock(&t->lock);
}

void ringo_ticker_stop(ringo_ticker_t *tk)
{
    ringo_timer_t *t = ticker_of(tk, "ringo_ticker_stop");
    ringo__spin_lock(&t->lock);
    stop_locked(t);
    ringo__spin_unlock(&t->lock);
}

void ringo_ticker_free(ringo_ticker_t *tk)
{
    if (!tk)
        return;
    timer_release(ticker_of(tk, "ringo_ticker_free"));
}

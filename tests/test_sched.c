/* Description: the scheduler and the park/ready primitive. A million
 * ready/park hand-offs between fibers spread over two workers lose none and
 * double none (a parked fiber resumes exactly once however the wake-up
 * races its switch); plain threads ready fibers; work spreads to idle
 * workers (steals and MSG_RING wake-ups happen); everything also runs with
 * 1, 3 and 4 workers.
 * Regressions, each named for what used to happen:
 *   - the deadlock check declared "all fibers are asleep" while a worker
 *     still counted idle was dispatching the completion that readies a
 *     fiber (stress: fd waits completing while other workers doze off);
 *   - ... and whenever a plain pthread that would wake a fiber existed
 *     before ringo_run, or was started by main just before it blocked
 *     (before the monitor thread existed);
 *   - a timer armed from a plain thread could leave worker 0 asleep with no
 *     timeout (no fence between publishing the deadline and reading
 *     `sleeping`; stress);
 *   - a MSG_RING wake-up that failed left the target's wake_pending set for
 *     good, so it was never woken again; a cancel request posted to a
 *     worker whose ring was gone landed in a freed inbox;
 *   - returning from main waited for fibers that never switch; ringo_main
 *     now exits at once with main's status, and ringo_run names the fibers
 *     it waits for after a second.
 */
#include "common.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

/* A one-slot hand-off built only on park/ready: the test's stand-in for a
 * channel. slot is NULL (empty), TOKEN (a signal is waiting), or the fiber
 * parked on it. */
#define TOKEN ((ringo__fiber_t *)1)

struct event {
    _Atomic(ringo__fiber_t *) slot;
};

static void event_wait(struct event *e)
{
    ringo__fiber_t *self = ringo__current();
    /* A token already waiting is consumed without parking. */
    ringo__fiber_t *expect = TOKEN;
    if (atomic_compare_exchange_strong(&e->slot, &expect, NULL))
        return;
    ringo__park_prepare("test event");
    expect = NULL;
    if (!atomic_compare_exchange_strong(&e->slot, &expect, self)) {
        /* The token came in between: consume it and be our own waker, as
         * the wait contract allows (the switch sees WOKEN and requeues). */
        assert_ptr_equal(expect, TOKEN);
        atomic_store(&e->slot, NULL);
        ringo__ready(self);
    }
    ringo__park();
}

static void event_signal(struct event *e)
{
    for (;;) {
        ringo__fiber_t *s = atomic_load(&e->slot);
        if (s == NULL) {
            if (atomic_compare_exchange_weak(&e->slot, &s, TOKEN))
                return;
        } else if (s == TOKEN) {
            return;     /* already signalled: events coalesce, callers alternate */
        } else if (atomic_compare_exchange_weak(&e->slot, &s, NULL)) {
            ringo__ready(s);
            return;
        }
    }
}

struct pair {
    struct event ping, pong;
    long rounds;
    atomic_long pings, pongs;
};

static atomic_long finished;

static void pinger(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        event_signal(&p->ping);
        event_wait(&p->pong);
        atomic_fetch_add(&p->pongs, 1);
    }
    atomic_fetch_add(&finished, 1);
}

static void ponger(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        event_wait(&p->ping);
        atomic_fetch_add(&p->pings, 1);
        /* Some work between, so the two sides drift across workers. */
        if ((i & 7) == 0)
            ringo_yield();
        event_signal(&p->pong);
    }
    atomic_fetch_add(&finished, 1);
}

#define PAIRS 8
static struct pair pairs[PAIRS];

static void handoff_main(void *arg)
{
    (void)arg;
    long total = iters(1000000);
    atomic_store(&finished, 0);
    for (int i = 0; i < PAIRS; i++) {
        memset(&pairs[i], 0, sizeof(pairs[i]));
        pairs[i].rounds = total / (2 * PAIRS);
        assert_int_equal(ringo_go(pinger, &pairs[i]), 0);
        assert_int_equal(ringo_go(ponger, &pairs[i]), 0);
    }
    while (atomic_load(&finished) < 2 * PAIRS)
        ringo_sleep(RINGO_MILLISECOND);
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(atomic_load(&pairs[i].pings), pairs[i].rounds);
        assert_int_equal(atomic_load(&pairs[i].pongs), pairs[i].rounds);
    }
}

static void test_million_handoffs_two_workers(void **state)
{
    (void)state;
    run_main(2, handoff_main, NULL);
}

static void test_handoffs_other_worker_counts(void **state)
{
    (void)state;
    unsigned counts[] = {1, 3, 4};
    for (int i = 0; i < 3; i++)
        run_main(counts[i], handoff_main, NULL);
}

/* ---- plain threads ready fibers ------------------------------------------------------- */

#define WAITERS 64
static struct event thread_events[WAITERS];
static atomic_long woken;

static void thread_waiter(void *arg)
{
    struct event *e = arg;
    for (int i = 0; i < 200; i++) {
        event_wait(e);
        atomic_fetch_add(&woken, 1);
    }
    atomic_fetch_add(&finished, 1);
}

static _Atomic int stop_thread;

static void *signaller(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_thread))
        for (int i = 0; i < WAITERS; i++)
            event_signal(&thread_events[i]);
    return NULL;
}

static void thread_main(void *arg)
{
    (void)arg;
    atomic_store(&finished, 0);
    atomic_store(&woken, 0);
    atomic_store(&stop_thread, 0);
    for (int i = 0; i < WAITERS; i++) {
        atomic_store(&thread_events[i].slot, NULL);
        assert_int_equal(ringo_go(thread_waiter, &thread_events[i]), 0);
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, signaller, NULL), 0);
    while (atomic_load(&finished) < WAITERS)
        ringo_sleep(RINGO_MILLISECOND);
    atomic_store(&stop_thread, 1);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&woken), WAITERS * 200);
}

static void test_ready_from_plain_thread(void **state)
{
    (void)state;
    run_main(2, thread_main, NULL);
}

/* ---- work spreads ----------------------------------------------------------------------- */

static atomic_long busy_done;

static void busy(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    for (int i = 0; i < 200000; i++)
        x += (uint64_t)i;
    atomic_fetch_add(&busy_done, 1);
}

static void spread_main(void *arg)
{
    (void)arg;
    atomic_store(&busy_done, 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(ringo_go(busy, NULL), 0);
    while (atomic_load(&busy_done) < 200)
        ringo_sleep(RINGO_MILLISECOND);
    ringo_stats_t st;
    ringo_stats(&st);
    assert_int_equal(st.workers, 2);
    assert_true(st.total.switches >= 200);
    assert_true(st.total.spawns >= 200);
    /* With main spawning on one worker, the other got its share by stealing
     * after being woken. */
    assert_true(st.total.steals > 0);
    ringo_worker_stats_t w0, w1;
    assert_int_equal(ringo_worker_stats(0, &w0), 0);
    assert_int_equal(ringo_worker_stats(1, &w1), 0);
    assert_int_equal(ringo_worker_stats(2, &w1), -EINVAL);
    assert_true(w0.switches > 0 && w1.switches > 0);
}

static void test_work_spreads(void **state)
{
    (void)state;
    run_main(2, spread_main, NULL);
    ringo_stats_t st;
    ringo_stats(&st);
    assert_int_equal(st.workers, 0);   /* no runtime: zeros */
}

/* Wake-ups through the eventfd fallback (kernels before 6.13 lack the
 * ring-less MSG_RING), forced with RINGO_WAKE=eventfd. */
static void test_eventfd_wakeups(void **state)
{
    (void)state;
    setenv("RINGO_WAKE", "eventfd", 1);
    run_main(2, thread_main, NULL);
    run_main(2, handoff_main, NULL);
    unsetenv("RINGO_WAKE");
}

/* hwloc failing (here: every discovery component disabled) is not fatal:
 * one warning, the online CPU count, no pinning. */
static unsigned fallback_workers;

static void count_workers(void *arg)
{
    (void)arg;
    ringo_stats_t st;
    ringo_stats(&st);
    fallback_workers = st.workers;
}

static void hwloc_child(void)
{
    setenv("HWLOC_COMPONENTS", "-linux,-x86,-synthetic,-xml", 1);
    unsetenv("RINGO_WORKERS");
    if (ringo_run(NULL, count_workers, NULL) != 0)
        _exit(3);
    _exit(fallback_workers == (unsigned)sysconf(_SC_NPROCESSORS_ONLN) ? 0 : 4);
}

static void test_hwloc_failure_falls_back(void **state)
{
    (void)state;
    static struct death d;
    death_run(hwloc_child, &d);
    if (d.status != 0)
        fail_msg("child status %d signal %d: %s", d.status, d.signal, d.out);
    assert_non_null(strstr(d.out, "ringo: warning: hwloc could not read the topology"));
}

/* ---- the deadlock check vs a completion being dispatched ---------------------------------- */

/* A fiber waits with select for a timerfd to fire (an io_uring poll in
 * flight on its worker, which then sleeps), while a fiber it spawned just
 * before (which the other worker, woken for it, steals) spins until about
 * that moment and ends, so that its worker dozes off and runs the deadlock
 * check just as the sleeping worker dispatches the poll's completion, which
 * readies the first fiber. Nothing else is pending (main waits on an event,
 * not a timer). Before the fix the dispatching worker, still counted idle,
 * had taken the op off inflight before readying the fiber, and a check
 * falling in between declared a false "all fibers are asleep - deadlock!".
 * The spin's end is jittered to sweep the window; a race of nanoseconds, so
 * this is a stress test (the argument is at ringo__check_deadlock). */
static struct event tfd_done;

struct dozer_arg {
    ringo__fiber_t *reader;
    int64_t spin_ns;
};

static void tfd_dozer(void *arg)
{
    const struct dozer_arg *d = arg;
    ringo__fiber_t *r = d->reader;
    int64_t t0 = ringo_now();
    /* The reader is parked in its select once this fiber got its own
     * worker; if it did not, this round just does not race. */
    while (atomic_load(&r->state) != RINGO__FIBER_PARKED && ringo_now() - t0 < RINGO_MILLISECOND)
        ;
    int64_t until = ringo_now() + d->spin_ns;
    while (ringo_now() < until)
        ;
}

static void tfd_reader(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    CHECK(tfd >= 0);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (long i = 0; i < rounds && tfd >= 0; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        struct dozer_arg d = {ringo__current(), (int64_t)(rng % (300 * 1000))};
        CHECK(ringo_go_copy(tfd_dozer, &d, sizeof(d)) == 0);
        struct itimerspec its = {.it_value = {0, 200 * 1000}};
        CHECK(timerfd_settime(tfd, 0, &its, NULL) == 0);
        ringo_case_t c = RINGO_READABLE(tfd);
        CHECK(ringo_select(&c, 1) == 0);
        uint64_t n;
        CHECK(read(tfd, &n, sizeof(n)) == sizeof(n));
    }
    close(tfd);
    event_signal(&tfd_done);
}

static void tfd_main(void *arg)
{
    (void)arg;
    atomic_store(&tfd_done.slot, NULL);
    assert_int_equal(ringo_go(tfd_reader, (void *)(intptr_t)iters(2000)), 0);
    event_wait(&tfd_done);
}

static void test_no_false_deadlock_while_completion_dispatched(void **state)
{
    (void)state;
    run_checked(2, tfd_main, NULL);
}

/* ---- the deadlock check vs plain threads ------------------------------------------------------ */

static ringo_chan_t *_Atomic ext_chan;
static ringo__fiber_t *_Atomic ext_main_fiber;

/* Waits until main has blocked and every worker sleeps, then a while more
 * (a false verdict, if any, comes in that time: the last worker to doze off
 * checks at once, the monitor every 20 ms), then wakes main with a send. */
static void *late_sender(void *arg)
{
    (void)arg;
    ringo_chan_t *ch;
    while (!(ch = atomic_load(&ext_chan)))
        sched_yield();
    ringo__fiber_t *f;
    while (!(f = atomic_load(&ext_main_fiber)) || atomic_load(&f->state) != RINGO__FIBER_PARKED)
        sched_yield();
    ringo__runtime_t *rt = ringo__rt;
    for (;;) {
        uint64_t v = atomic_load(&rt->idle);
        if (ringo__idle_count(v) == ringo__live_count(v))
            break;
        sched_yield();
    }
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int v = 42;
    ringo_chan_send(ch, &v);
    return NULL;
}

static void wait_for_thread_main(void *arg)
{
    bool start_thread = arg != NULL;
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    pthread_t t;
    if (start_thread)
        CHECK(pthread_create(&t, NULL, late_sender, NULL) == 0);
    atomic_store(&ext_main_fiber, ringo__current());
    atomic_store(&ext_chan, ch);
    int v = 0;
    CHECK(ringo_chan_recv(ch, &v) && v == 42);      /* blocks until the thread sends */
    if (start_thread)
        pthread_join(t, NULL);
    atomic_store(&ext_chan, NULL);
    atomic_store(&ext_main_fiber, NULL);
    ringo_chan_unref(ch);
}

static void thread_before_run_child(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, late_sender, NULL) != 0)
        _exit(3);
    ringo_config_t cfg = {.workers = 2};
    if (ringo_run(&cfg, wait_for_thread_main, NULL) != 0)
        _exit(4);
    pthread_join(t, NULL);
    _exit(atomic_load(&check_errors) ? 5 : 0);
}

static void test_no_deadlock_verdict_pthread_before_run(void **state)
{
    (void)state;
    static struct death d;
    death_run(thread_before_run_child, &d);
    if (d.signal || d.status)
        fail_msg("child signal %d status %d: %s", d.signal, d.status, d.out);
}

static void thread_from_main_child(void)
{
    ringo_config_t cfg = {.workers = 2};
    for (long i = 0; i < iters(50); i++)
        if (ringo_run(&cfg, wait_for_thread_main, (void *)1) != 0)
            _exit(4);
    _exit(atomic_load(&check_errors) ? 5 : 0);
}

static void test_no_deadlock_verdict_pthread_started_by_main(void **state)
{
    (void)state;
    static struct death d;
    death_run(thread_from_main_child, &d);
    if (d.signal || d.status)
        fail_msg("child signal %d status %d: %s", d.signal, d.status, d.out);
}

/* A real deadlock is still reported once the plain thread that could have
 * broken it has ended (the monitor checks again). */
static void *quick_thread(void *arg)
{
    (void)arg;
    return NULL;
}

static void deadlock_after_thread_main(void *arg)
{
    (void)arg;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, quick_thread, NULL) == 0);
    pthread_detach(t);
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 0);
    int v;
    ringo_chan_recv(ch, &v);       /* nobody will ever send */
}

static void deadlock_after_thread_child(void)
{
    run_main(2, deadlock_after_thread_main, NULL);
}

static void test_deadlock_reported_after_plain_thread_ends(void **state)
{
    (void)state;
    death_test(deadlock_after_thread_child, "ringo: fatal: all fibers are asleep - deadlock!");
}

/* ---- a timer armed from a plain thread while worker 0 dozes off ---------------------------------- */

/* The thread arms an already-due timer on worker 0 (the heap plain threads
 * use) at random moments after main starts to park, i.e. around worker 0
 * going idle. Without the fence in ringo__timer_add, worker 0 could read the old
 * deadline (none) while the thread read `sleeping` as 0: worker 0 slept
 * with no timeout and main was never woken. The thread waits for main with a
 * generous bound and, past it, counts a failure and wakes worker 0 itself. */
static struct event timer_ev;
static atomic_long timer_rounds_begun, timer_rounds_done, timer_stuck;

static void timer_ev_fire(ringo__timer_t *t)
{
    (void)t;
    event_signal(&timer_ev);
}

static void *timer_arming_thread(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    ringo__fiber_t *main_f;
    while (!(main_f = atomic_load(&ext_main_fiber)))
        sched_yield();
    uint64_t rng = 88172645463325252ull;
    static ringo__timer_t t;
    (void)main_f;
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&timer_rounds_begun) == i)
            ;
        /* Worker 0 reaches its ring wait a few microseconds after main
         * parks, or some 20 more when it first spins looking for work. */
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int64_t until = ringo__now() + (int64_t)(rng % ((rng >> 32) & 1 ? 8000 : 40000));
        while (ringo__now() < until)
            ;
        memset(&t, 0, sizeof(t));
        t.heap_index = -1;
        t.fire = timer_ev_fire;
        t.when = ringo__now();
        ringo__timer_arm(&t);
        int64_t deadline = ringo__now() + 2 * RINGO_SECOND * time_slack();
        while (atomic_load(&timer_rounds_done) == i) {
            if (ringo__now() > deadline && !atomic_load(&timer_stuck)) {
                /* Worker 0 sleeps past a due timer: record it, wake it
                 * (the timer then fires) and end the test. */
                atomic_store(&timer_stuck, 1);
                ringo__worker_t *w0 = &ringo__rt->workers[0];
                atomic_store(&w0->wake_pending, 1);
                ringo__ev_wake(w0);
            }
        }
        if (atomic_load(&timer_stuck))
            break;
    }
    return NULL;
}

static void timer_thread_main(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    atomic_store(&timer_rounds_begun, 0);
    atomic_store(&timer_rounds_done, 0);
    atomic_store(&timer_ev.slot, NULL);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, timer_arming_thread, arg) == 0);
    atomic_store(&ext_main_fiber, ringo__current());
    for (long i = 0; i < rounds && !atomic_load(&timer_stuck); i++) {
        atomic_fetch_add(&timer_rounds_begun, 1);
        event_wait(&timer_ev);
        atomic_fetch_add(&timer_rounds_done, 1);
    }
    pthread_join(t, NULL);
    atomic_store(&ext_main_fiber, NULL);
}

static void test_timer_from_plain_thread_wakes_dozing_worker(void **state)
{
    (void)state;
    atomic_store(&timer_stuck, 0);
    long rounds = iters(10000);
    run_checked(1, timer_thread_main, (void *)(intptr_t)rounds);
    assert_int_equal(atomic_load(&timer_stuck), 0);
    run_checked(2, timer_thread_main, (void *)(intptr_t)rounds);
    assert_int_equal(atomic_load(&timer_stuck), 0);
}

/* ---- a failed MSG_RING wake-up --------------------------------------------------------------------- */

/* A wake-up sent by MSG_RING to a "ring" that is not one fails; the failure
 * CQE comes back to the sender, which must clear the target's wake_pending
 * (after trying the ring-less way, which fails too here). Before, the flag
 * stayed set and no waker ever sent that worker another wake-up. */
static ringo__worker_t fake_target __attribute__((aligned(64)));

static void failed_wake_main(void *arg)
{
    (void)arg;
    int p[2];
    CHECK(pipe(p) == 0);
    memset(&fake_target, 0, sizeof(fake_target));
    fake_target.wake_efd = -1;
    atomic_store(&fake_target.ring_fd, p[0]);
    atomic_store(&fake_target.wake_pending, 1);
    ringo__ev_wake(&fake_target);          /* from a fiber: MSG_RING */
    int64_t deadline = ringo_now() + 2 * RINGO_SECOND * time_slack();
    while (atomic_load(&fake_target.wake_pending) && ringo_now() < deadline)
        ringo_sleep(RINGO_MILLISECOND);       /* the worker reaps the failure meanwhile */
    CHECK(atomic_load(&fake_target.wake_pending) == 0);
    close(p[0]);
    close(p[1]);
}

static void test_failed_msg_ring_clears_wake_pending(void **state)
{
    (void)state;
    run_checked(2, failed_wake_main, NULL);
}

/* A cancel request for a worker whose ring is gone (it shut down while
 * other workers' fibers still ran) is dropped. Before, it went into the
 * inbox that ring_fini had freed without taking the inbox lock, and the
 * wake-up that followed left wake_pending set. */
static void cancel_ringless_main(void *arg)
{
    (void)arg;
    static ringo__op_t dummy_op;
    memset(&fake_target, 0, sizeof(fake_target));
    fake_target.wake_efd = -1;
    atomic_store(&fake_target.ring_fd, -1);
    ringo__ev_cancel(&fake_target, &dummy_op);
    CHECK(fake_target.inbox == NULL && fake_target.ninbox == 0);
    CHECK(atomic_load(&fake_target.inbox_nonempty) == 0);
    CHECK(atomic_load(&fake_target.wake_pending) == 0);
}

static void test_cancel_to_worker_without_ring_is_dropped(void **state)
{
    (void)state;
    run_checked(2, cancel_ringless_main, NULL);
}

/* ---- ringo_main and what ringo_run waits for --------------------------------------------------------- */

static ringo_chan_t *spin_chan;

/* Spins on non-blocking channel operations: never reaches a switch. */
static void nonblocking_spinner(void *arg)
{
    int64_t until = (int64_t)(intptr_t)arg;
    int v = 1;
    atomic_fetch_add(&busy_done, 1);
    while (until == 0 || ringo_now() < until) {
        (void)ringo_chan_try_send(spin_chan, &v);
        (void)ringo_chan_try_recv(spin_chan, &v);
    }
}

/* Blocks forever holding heap memory that only its stack points to: at
 * ringo_main's exit that is memory in use, not a leak (LeakSanitizer must
 * not report it). */
static void holder(void *arg)
{
    (void)arg;
    char *volatile held = malloc(100);
    ringo_chan_t *never = ringo_chan_make(sizeof(int), 0);
    atomic_fetch_add(&busy_done, 1);
    ringo_chan_recv(never, NULL);
    free(held);
}

static int app_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    spin_chan = ringo_chan_make(sizeof(int), 1);
    atomic_store(&busy_done, 0);
    ringo_go(nonblocking_spinner, NULL);      /* forever */
    ringo_go(holder, NULL);
    while (atomic_load(&busy_done) < 2)
        ringo_sleep(RINGO_MILLISECOND);
    printf("main is done");                   /* no newline: only exit's flush writes it */
    return 7;
}

static void ringo_main_child(void)
{
    alarm(20);          /* a ringo_main that waited would hang here */
    ringo_config_t cfg = {.workers = 2};
    char *argv[] = {"app", NULL};
    ringo_main(&cfg, app_main, 1, argv);
}

static void test_ringo_main_exits_with_status_without_waiting(void **state)
{
    (void)state;
    static struct death d;
    death_run(ringo_main_child, &d);
    if (d.signal || d.status != 7)
        fail_msg("child signal %d status %d: %s", d.signal, d.status, d.out);
    assert_non_null(strstr(d.out, "main is done"));
}

static void ringo_main_null_child(void)
{
    ringo_main(NULL, NULL, 0, NULL);
}

static void test_ringo_main_null_exits_2(void **state)
{
    (void)state;
    static struct death d;
    death_run(ringo_main_null_child, &d);
    assert_int_equal(d.signal, 0);
    assert_int_equal(d.status, 2);
    assert_non_null(strstr(d.out, "ringo: ringo_main:"));
}

static void straggler_main(void *arg)
{
    (void)arg;
    spin_chan = ringo_chan_make(sizeof(int), 1);
    atomic_store(&busy_done, 0);
    int64_t until = ringo_now() + 2 * RINGO_SECOND;
    ringo_go(nonblocking_spinner, (void *)(intptr_t)until);
    while (atomic_load(&busy_done) < 1)
        ringo_sleep(RINGO_MILLISECOND);
}

static void straggler_child(void)
{
    alarm(30);
    ringo_config_t cfg = {.workers = 2};
    int64_t t0 = ringo_now();
    if (ringo_run(&cfg, straggler_main, NULL) != 0)
        _exit(4);
    /* It did wait for the spinner: ringo_run returns to its caller only
     * once every fiber reached a switch. */
    _exit(ringo_now() - t0 >= RINGO_SECOND ? 0 : 5);
}

static void test_ringo_run_names_fibers_it_waits_for(void **state)
{
    (void)state;
    static struct death d;
    death_run(straggler_child, &d);
    if (d.signal || d.status)
        fail_msg("child signal %d status %d: %s", d.signal, d.status, d.out);
    assert_non_null(strstr(d.out, "ringo: ringo_run is waiting for fiber "));
    assert_non_null(strstr(d.out, " nonblocking_spinner (created at "));
    assert_non_null(strstr(d.out, "test_sched.c:"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_handoffs_two_workers),
        cmocka_unit_test(test_handoffs_other_worker_counts),
        cmocka_unit_test(test_ready_from_plain_thread),
        cmocka_unit_test(test_work_spreads),
        cmocka_unit_test(test_eventfd_wakeups),
        cmocka_unit_test(test_hwloc_failure_falls_back),
        cmocka_unit_test(test_no_false_deadlock_while_completion_dispatched),
        cmocka_unit_test(test_no_deadlock_verdict_pthread_before_run),
        cmocka_unit_test(test_no_deadlock_verdict_pthread_started_by_main),
        cmocka_unit_test(test_deadlock_reported_after_plain_thread_ends),
        cmocka_unit_test(test_timer_from_plain_thread_wakes_dozing_worker),
        cmocka_unit_test(test_failed_msg_ring_clears_wake_pending),
        cmocka_unit_test(test_cancel_to_worker_without_ring_is_dropped),
        cmocka_unit_test(test_ringo_main_exits_with_status_without_waiting),
        cmocka_unit_test(test_ringo_main_null_exits_2),
        cmocka_unit_test(test_ringo_run_names_fibers_it_waits_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

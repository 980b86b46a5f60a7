/* Description: virtual time (ringo_config_t.virtual_time, Go's
 * testing/synctest). A virtual hour's sleep returns at once in wall time,
 * at exactly an hour of virtual time, on one worker whatever was asked,
 * and the real clock is back after the run; a ticker-driven rate limiter
 * grants exactly one token per tick over a virtual hour, each at its
 * tick's exact virtual time; a race between context deadlines and work
 * (select choosing between a passed deadline and a ready job) gives the
 * same trace from the same seed 100 times, and different traces from
 * different seeds; a deadlock inside the bubble is reported with the
 * blocked fibers and their waits in virtual time; a read in flight on a
 * pipe holds the clock still until it completes.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static int64_t wall_ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void vrun(uint64_t seed, unsigned workers, void (*fn)(void *), void *arg)
{
    ringo_config_t cfg = {.workers = workers, .virtual_time = true, .seed = seed};
    atomic_store(&check_errors, 0);
    assert_int_equal(ringo_run(&cfg, fn, arg), 0);
    assert_int_equal(atomic_load(&check_errors), 0);
}

/* ---- a virtual hour's sleep ------------------------------------------------------------------------- */

static int64_t start_now;

static void sleeper(void *arg)
{
    ringo_sleep(RINGO_MINUTE);
    signal_done(arg);
}

static void hour_main(void *arg)
{
    (void)arg;
    ringo_stats_t st;
    ringo_stats(&st);
    CHECK(st.workers == 1);             /* asked for 4 */
    int64_t t0 = ringo_now();
    start_now = t0;
    ringo_chan_t *done = ringo_chan_make(sizeof(int), 1);
    CHECK(ringo_go(sleeper, done) == 0);
    ringo_sleep(RINGO_HOUR);
    CHECK(ringo_now() - t0 == RINGO_HOUR);      /* exactly: the clock jumped to the timer */
    CHECK(ringo_chan_try_recv(done, NULL) == 0); /* the minute's sleeper ended before */
    ringo_chan_unref(done);
}

static void test_sleep_an_hour(void **state)
{
    (void)state;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vrun(1, 4, hour_main, NULL);
    int64_t ms = wall_ms_since(&t0);
    fprintf(stderr, "a virtual hour's sleep took %lld ms of wall time\n", (long long)ms);
    assert_true(ms < 10000 * time_slack());
    /* Every run starts the clock at the same place; afterwards it is real. */
    assert_int_equal(start_now, (int64_t)946684800 * RINGO_SECOND);
    int64_t real = ringo_now();
    assert_true(real != start_now + RINGO_HOUR);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    assert_true(llabs((int64_t)ts.tv_sec * RINGO_SECOND + ts.tv_nsec - real) < RINGO_SECOND);
}

/* ---- a ticker-driven rate limiter over a virtual hour ---------------------------------------------------- */

enum { BURST = 10, CLIENTS = 3 };
#define TICK (100 * RINGO_MILLISECOND)

struct limiter {
    ringo_ctx_t *ctx;           /* ends the test at 1 h + 50 ms */
    ringo_chan_t *tokens;       /* cap BURST: the bucket */
    int64_t t0;
    ringo_mutex_t mu;           /* guards granted and late */
    long granted;
    long late;                  /* grants after the burst not at a tick's exact time */
};

/* Adds a token every tick; a full bucket drops it. */
static int refill(void *arg)
{
    struct limiter *l = arg;
    ringo_ticker_t *tk = ringo_ticker_new(TICK);
    for (;;) {
        int64_t when;
        ringo_case_t c[] = {RINGO_DONE(l->ctx), RINGO_RECV(ringo_ticker_chan(tk), &when)};
        if (ringo_select(c, 2) == 0)
            break;
        int one = 1;
        (void)ringo_chan_try_send(l->tokens, &one);
    }
    ringo_ticker_free(tk);
    return 0;
}

/* Takes tokens as fast as they come until the context ends. */
static int client(void *arg)
{
    struct limiter *l = arg;
    for (;;) {
        ringo_case_t c[] = {RINGO_DONE(l->ctx), RINGO_RECV(l->tokens, NULL)};
        if (ringo_select(c, 2) == 0)
            return 0;
        int64_t since = ringo_now() - l->t0;
        ringo_mutex_lock(&l->mu);
        long n = ++l->granted;
        /* The burst at 0, then grant n - BURST at tick n - BURST exactly:
         * the clients always wait, so every token is taken as it lands. */
        if (n <= BURST ? since != 0 : since != (n - BURST) * TICK)
            l->late++;
        ringo_mutex_unlock(&l->mu);
    }
}

static void limiter_main(void *arg)
{
    (void)arg;
    struct limiter l = {.tokens = ringo_chan_make(sizeof(int), BURST), .t0 = ringo_now()};
    for (int i = 0; i < BURST; i++) {
        int one = 1;
        ringo_chan_send(l.tokens, &one);
    }
    ringo_ctx_t *deadline = ringo_with_timeout(NULL, RINGO_HOUR + 50 * RINGO_MILLISECOND);
    ringo_group_t g;
    l.ctx = ringo_group_with_context(&g, deadline);
    CHECK(ringo_group_go(&g, refill, &l) == 0);
    for (int i = 0; i < CLIENTS; i++)
        CHECK(ringo_group_go(&g, client, &l) == 0);
    CHECK(ringo_group_wait(&g) == 0);
    CHECK(ringo_ctx_err(deadline) == -ETIMEDOUT);
    CHECK(ringo_now() - l.t0 == RINGO_HOUR + 50 * RINGO_MILLISECOND);
    /* 36,000 ticks in the hour, each one token, plus the burst. */
    CHECK(l.granted == BURST + RINGO_HOUR / TICK);
    CHECK(l.late == 0);
    if (l.granted != BURST + RINGO_HOUR / TICK || l.late)
        fprintf(stderr, "granted %ld, late %ld\n", l.granted, l.late);
    ringo_ctx_unref(l.ctx);
    ringo_ctx_unref(deadline);
    ringo_chan_unref(l.tokens);
}

static void test_rate_limiter_hour(void **state)
{
    (void)state;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vrun(7, 0, limiter_main, NULL);
    int64_t ms = wall_ms_since(&t0);
    fprintf(stderr, "a virtual hour of rate limiting (36,010 grants) took %lld ms of wall time\n",
            (long long)ms);
    assert_true(ms < 60000 * time_slack());
}

/* ---- a context deadline race, replayed from its seed ------------------------------------------------------ */

enum { RACERS = 6, JOBS = 64, MAX_EVENTS = 256 };

struct event {
    int64_t at;                 /* virtual ns since the run began */
    int racer, what;            /* what: -1 its context ended, else the job taken */
};

struct trace {
    ringo_mutex_t mu;
    int n;
    struct event ev[MAX_EVENTS];
};

struct race {
    struct trace *tr;
    ringo_chan_t *jobs;         /* buffered, always full enough */
    int64_t t0;
};

struct racer_arg {
    struct race *r;
    int index;
};

static void record(struct race *r, int racer, int what)
{
    ringo_mutex_lock(&r->tr->mu);
    if (r->tr->n < MAX_EVENTS)
        r->tr->ev[r->tr->n++] = (struct event){ringo_now() - r->t0, racer, what};
    ringo_mutex_unlock(&r->tr->mu);
}

/* Works jobs until its deadline; each job takes 7 ms. Its deadline passes
 * while it sleeps, so it wakes to a done context and a ready job at once:
 * select's random choice decides whether it takes one more. */
static int racer(void *arg)
{
    struct racer_arg *a = arg;
    ringo_ctx_t *ctx = ringo_with_timeout(NULL, (10 + 5 * a->index) * RINGO_MILLISECOND);
    for (;;) {
        int job = -1;
        ringo_case_t c[] = {RINGO_DONE(ctx), RINGO_RECV(a->r->jobs, &job)};
        if (ringo_select(c, 2) == 0) {
            CHECK(ringo_ctx_err(ctx) == -ETIMEDOUT);
            record(a->r, a->index, -1);
            break;
        }
        record(a->r, a->index, job);
        ringo_sleep(7 * RINGO_MILLISECOND);
    }
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    return 0;
}

static void race_main(void *arg)
{
    struct race r = {.tr = arg, .jobs = ringo_chan_make(sizeof(int), JOBS), .t0 = ringo_now()};
    for (int i = 0; i < JOBS; i++)
        ringo_chan_send(r.jobs, &i);
    struct racer_arg args[RACERS];
    ringo_group_t g = RINGO_GROUP_INIT;
    for (int i = 0; i < RACERS; i++) {
        args[i] = (struct racer_arg){&r, i};
        CHECK(ringo_group_go(&g, racer, &args[i]) == 0);
    }
    CHECK(ringo_group_wait(&g) == 0);
    ringo_chan_unref(r.jobs);
}

static void run_race(uint64_t seed, struct trace *tr)
{
    memset(tr, 0, sizeof(*tr));
    vrun(seed, 0, race_main, tr);
    assert_true(tr->n > RACERS && tr->n < MAX_EVENTS);
}

static bool same_trace(const struct trace *a, const struct trace *b)
{
    return a->n == b->n && memcmp(a->ev, b->ev, (size_t)a->n * sizeof(a->ev[0])) == 0;
}

static void test_deadline_race_replays(void **state)
{
    (void)state;
    static struct trace first, again;
    run_race(42, &first);
    /* Sanity: each racer ended once, at or after its deadline. */
    int ended = 0;
    for (int i = 0; i < first.n; i++)
        if (first.ev[i].what < 0) {
            ended++;
            assert_true(first.ev[i].at >= (10 + 5 * first.ev[i].racer) * RINGO_MILLISECOND);
        }
    assert_int_equal(ended, RACERS);
    long runs = iters(100);
    if (runs < 5)
        runs = 5;
    for (long i = 1; i < runs; i++) {
        run_race(42, &again);
        if (!same_trace(&first, &again)) {
            fprintf(stderr, "run %ld of seed 42 differs from the first\n", i);
            fail();
        }
    }
    /* The seed is what decides: some other seed plays the race otherwise. */
    bool differs = false;
    for (uint64_t seed = 1; seed <= 16 && !differs; seed++) {
        run_race(seed, &again);
        differs = !same_trace(&first, &again);
    }
    assert_true(differs);
}

/* ---- a deadlock inside the bubble ----------------------------------------------------------------------------- */

static void stuck_receiver(void *arg)
{
    ringo_chan_recv(arg, NULL);        /* nobody ever sends */
}

static void vdeadlock_main(void *arg)
{
    (void)arg;
    ringo_chan_t *never = ringo_chan_make(sizeof(int), 0);
    ringo_go(stuck_receiver, never);
    ringo_sleep(RINGO_HOUR);            /* the receiver has now waited an hour */
    ringo_mutex_t mu = {0};
    ringo_mutex_lock(&mu);
    ringo_mutex_lock(&mu);              /* main blocks too: nothing can wake anyone */
}

static void vdeadlock_child(void)
{
    ringo_config_t cfg = {.virtual_time = true};
    ringo_run(&cfg, vdeadlock_main, NULL);
}

static void test_deadlock_in_bubble(void **state)
{
    (void)state;
    static struct death d;
    death_run(vdeadlock_child, &d);
    bool ok = d.signal == SIGABRT &&
              strstr(d.out, "ringo: fatal: all fibers are asleep - deadlock!") &&
              strstr(d.out, "[chan receive, 60 minutes]") &&    /* waited in virtual time */
              strstr(d.out, "stuck_receiver") && strstr(d.out, "test_vtime.c") &&
              strstr(d.out, "(main)");
    if (!ok)
        fprintf(stderr, "signal %d status %d; output:\n%s\n", d.signal, d.status, d.out);
    assert_true(ok);
}

/* ---- real I/O holds the clock ----------------------------------------------------------------------------------- */

struct io_test {
    int p[2];
    ringo_chan_t *order;        /* cap 2: who finished first */
};

static void *late_writer(void *arg)
{
    struct io_test *t = arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(write(t->p[1], "x", 1) == 1);
    return NULL;
}

static void hour_sleeper(void *arg)
{
    struct io_test *t = arg;
    ringo_sleep(RINGO_HOUR);
    int who = 2;
    ringo_chan_send(t->order, &who);
}

static void io_main(void *arg)
{
    struct io_test *t = arg;
    int64_t t0 = ringo_now();
    CHECK(ringo_go(hour_sleeper, t) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, late_writer, t) == 0);
    char c;
    CHECK(ringo_read(NULL, t->p[0], &c, 1) == 1);
    CHECK(ringo_now() == t0);           /* 50 ms of wall time, none of virtual */
    int who = 1;
    ringo_chan_send(t->order, &who);
    int first = 0, second = 0;
    CHECK(ringo_chan_recv(t->order, &first) && ringo_chan_recv(t->order, &second));
    CHECK(first == 1 && second == 2);
    CHECK(ringo_now() - t0 == RINGO_HOUR);
    pthread_join(th, NULL);
}

static void test_io_in_flight_holds_the_clock(void **state)
{
    (void)state;
    struct io_test t = {.order = NULL};
    assert_int_equal(pipe(t.p), 0);
    t.order = ringo_chan_make(sizeof(int), 2);
    vrun(3, 0, io_main, &t);
    ringo_chan_unref(t.order);
    close(t.p[0]);
    close(t.p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleep_an_hour),
        cmocka_unit_test(test_rate_limiter_hour),
        cmocka_unit_test(test_deadline_race_replays),
        cmocka_unit_test(test_deadlock_in_bubble),
        cmocka_unit_test(test_io_in_flight_holds_the_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* examples/exercises.c - classic Go concurrency exercises, answered in C
 * with ringo (docs/guide.md, chapter 12 lists them).
 *
 *   6. A worker pool: tasks from a channel, a configurable number of
 *      workers, context cancellation, results on a channel that closes
 *      when the pool is done.
 *   7. Fetch N URLs with at most M requests in flight, results in input
 *      order: a weighted semaphore bounds the fibers, each writes its own
 *      slot of the results array, a WaitGroup joins them.
 *   8. Pub/sub: a broker hands each subscriber its own channel; a publish
 *      sends to every one of them, so every subscriber sees every event.
 *   9. Find the bug in process(): the fixed version, shown correct.
 *
 * Go to ringo, briefly: `go f(x)` is ringo_go_copy(f, &x, sizeof x) (each
 * fiber its own copy of its arguments); wg.Add/Done/Wait are
 * ringo_waitgroup_*; select is ringo_select with RINGO_DONE(ctx) for
 * <-ctx.Done(); channels and contexts are reference counted, and a fiber
 * that outlives the call that started it holds its own references.
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

static void note_max(atomic_int *max, int now)
{
    int seen = atomic_load(max);
    while (now > seen && !atomic_compare_exchange_weak(max, &seen, now))
        ;
}

static long ms_since(int64_t start)
{
    return (long)((ringo_now() - start) / RINGO_MILLISECOND);
}

/* Waits (up to 5 s) until no more than `baseline` fibers exist: the
 * goroutine-leak check of scenario question 10. */
static bool fibers_settle(size_t baseline)
{
    int64_t start = ringo_now();
    while (ringo_num_fibers() > baseline && ringo_now() - start < 5 * RINGO_SECOND)
        ringo_sleep(RINGO_MILLISECOND);
    return ringo_num_fibers() <= baseline;
}

/* ==== 6. worker pool ======================================================================== */

struct task { int id; int n; };
struct task_result { int id; long value; int worker; };

/* The pool's shared state lives on the heap: start_pool returns at once,
 * and its last user (the closer fiber) frees it. */
struct pool {
    ringo_waitgroup_t wg;
    atomic_int busy, max_busy;
};

struct pool_worker_args {
    int id;
    struct pool *p;
    ringo_ctx_t *ctx;                   /* each worker's own reference */
    ringo_chan_t *tasks, *results;      /* likewise */
};

/* The work itself honours ctx: 1 ms of "computation" that stops if ctx ends. */
static int compute(ringo_ctx_t *ctx, int n, long *out)
{
    ringo_case_t cases[] = {RINGO_DONE(ctx), RINGO_TIMEOUT(RINGO_MILLISECOND)};
    if (ringo_select(cases, 2) == 0)
        return ringo_ctx_err(ctx);
    *out = (long)n * n;
    return 0;
}

static void pool_worker(void *arg)
{
    struct pool_worker_args *a = arg;
    for (;;) {
        struct task t;
        ringo_case_t get[] = {RINGO_DONE(a->ctx), RINGO_RECV(a->tasks, &t)};
        if (ringo_select(get, 2) == 0 || !get[1].ok)
            break;                      /* cancelled, or no more tasks */
        note_max(&a->p->max_busy, atomic_fetch_add(&a->p->busy, 1) + 1);
        struct task_result r = {t.id, 0, a->id};
        int err = compute(a->ctx, t.n, &r.value);
        atomic_fetch_sub(&a->p->busy, 1);
        if (err)
            break;
        ringo_case_t put[] = {RINGO_DONE(a->ctx), RINGO_SEND(a->results, &r)};
        if (ringo_select(put, 2) == 0)
            break;                      /* nobody will read it any more */
    }
    ringo_ctx_unref(a->ctx);
    ringo_chan_unref(a->tasks);
    ringo_chan_unref(a->results);
    ringo_waitgroup_done(&a->p->wg);    /* last touch of the pool */
}

struct pool_closer_args { struct pool *p; ringo_chan_t *results; int *max_busy; };

static void pool_closer(void *arg)
{
    struct pool_closer_args *a = arg;
    ringo_waitgroup_wait(&a->p->wg);
    *a->max_busy = atomic_load(&a->p->max_busy);   /* published by the close below */
    ringo_chan_close(a->results);
    ringo_chan_unref(a->results);
    free(a->p);
}

/* func StartPool(ctx, tasks <-chan Task, workers int) <-chan Result. The
 * result channel closes once every worker has stopped: when tasks is closed
 * and drained, or ctx ends. *max_busy (readable once results closed)
 * reports the most tasks that were ever in progress at once. */
static ringo_chan_t *start_pool(ringo_ctx_t *ctx, ringo_chan_t *tasks, int workers, int *max_busy)
{
    struct pool *p = calloc(1, sizeof *p);
    ringo_chan_t *results = ringo_chan_make(sizeof(struct task_result), 0);
    check(p && results, "allocation");
    for (int i = 0; i < workers; i++) {
        struct pool_worker_args a = {i, p, ringo_ctx_ref(ctx), ringo_chan_ref(tasks),
                                     ringo_chan_ref(results)};
        ringo_waitgroup_add(&p->wg, 1);
        check(ringo_go_copy(pool_worker, &a, sizeof a) == 0, "ringo_go_copy");
    }
    struct pool_closer_args c = {p, ringo_chan_ref(results), max_busy};
    check(ringo_go_copy(pool_closer, &c, sizeof c) == 0, "ringo_go_copy");
    return results;
}

struct producer_args { ringo_ctx_t *ctx; ringo_chan_t *tasks; int count; /* < 0: forever */ };

static void producer(void *arg)
{
    struct producer_args *a = arg;
    for (int i = 0; a->count < 0 || i < a->count; i++) {
        struct task t = {i, i % 1000};
        ringo_case_t cases[] = {RINGO_DONE(a->ctx), RINGO_SEND(a->tasks, &t)};
        if (ringo_select(cases, 2) == 0)
            break;
    }
    ringo_chan_close(a->tasks);
    ringo_chan_unref(a->tasks);
    ringo_ctx_unref(a->ctx);
}

static ringo_chan_t *start_producer(ringo_ctx_t *ctx, int count)
{
    ringo_chan_t *tasks = ringo_chan_make(sizeof(struct task), 0);
    check(tasks != NULL, "ringo_chan_make");
    struct producer_args a = {ringo_ctx_ref(ctx), ringo_chan_ref(tasks), count};
    check(ringo_go_copy(producer, &a, sizeof a) == 0, "ringo_go_copy");
    return tasks;
}

#define Q6_TASKS 120

static void question6(void)
{
    puts("6. worker pool");
    const int sizes[] = {1, 4, 16};
    for (int s = 0; s < 3; s++) {
        int workers = sizes[s], max_busy = 0;
        ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
        check(ctx != NULL, "ringo_with_cancel");
        int64_t start = ringo_now();
        ringo_chan_t *tasks = start_producer(ctx, Q6_TASKS);
        ringo_chan_t *results = start_pool(ctx, tasks, workers, &max_busy);
        ringo_chan_unref(tasks);

        bool seen[Q6_TASKS] = {false};
        bool used[16] = {false};
        int got = 0, used_workers = 0;
        struct task_result r;
        RINGO_CHAN_FOREACH(results, r) {
            check(r.id >= 0 && r.id < Q6_TASKS && !seen[r.id], "each task once");
            check(r.value == (long)r.id * r.id, "the task's result");
            check(r.worker >= 0 && r.worker < workers, "a known worker");
            seen[r.id] = true;
            if (!used[r.worker]) {
                used[r.worker] = true;
                used_workers++;
            }
            got++;
        }
        printf("   %2d worker(s): %d results in %ld ms, %d worker(s) took part, at most %d busy\n",
               workers, got, ms_since(start), used_workers, max_busy);
        check(got == Q6_TASKS, "every task produced a result");
        check(max_busy >= 1 && max_busy <= workers, "never more tasks in progress than workers");
        ringo_chan_unref(results);
        ringo_cancel(ctx);
        ringo_ctx_unref(ctx);
    }

    /* Cancellation: an endless task stream; the consumer has had enough
     * after 20 results. Cancelling stops the producer and every worker,
     * the result channel closes, and no fiber is left behind. */
    size_t baseline = ringo_num_fibers();
    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    check(ctx != NULL, "ringo_with_cancel");
    int max_busy = 0;
    ringo_chan_t *tasks = start_producer(ctx, -1);
    ringo_chan_t *results = start_pool(ctx, tasks, 8, &max_busy);
    ringo_chan_unref(tasks);
    int got = 0;
    struct task_result r;
    while (got < 20 && ringo_chan_recv(results, &r))
        got++;
    check(got == 20, "20 results from the endless stream");
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);               /* the producer and workers hold their own */
    int after = 0;
    RINGO_CHAN_FOREACH(results, r)      /* ends: the workers all stopped */
        after++;
    ringo_chan_unref(results);
    check(fibers_settle(baseline), "no fiber leaked after the cancel");
    printf("   endless stream: cancelled after 20 results (%d more in flight), pool closed, "
           "%zu fiber(s) left as before\n", after, ringo_num_fibers());
}

/* ==== 7. bounded parallel fetch, results in order ============================================ */

struct page { const char *url; char body[48]; int finished_seq; int err; };

struct fetch_shared {
    ringo_sem_t sem;
    ringo_waitgroup_t wg;
    atomic_int in_flight, max_in_flight, finished;
};

struct fetch_args {
    ringo_ctx_t *ctx;                   /* borrowed: fetch_all waits for us */
    struct fetch_shared *sh;
    struct page *slot;                  /* ours alone: results[i] */
    ringo_duration_t latency;
};

static void fetch_one(void *arg)
{
    struct fetch_args *a = arg;
    note_max(&a->sh->max_in_flight, atomic_fetch_add(&a->sh->in_flight, 1) + 1);
    ringo_sleep(a->latency);            /* the "HTTP request" */
    if ((a->slot->err = ringo_ctx_err(a->ctx)) == 0)
        snprintf(a->slot->body, sizeof a->slot->body, "<html>%s</html>", a->slot->url);
    a->slot->finished_seq = atomic_fetch_add(&a->sh->finished, 1);
    atomic_fetch_sub(&a->sh->in_flight, 1);
    ringo_sem_release(&a->sh->sem, 1);
    ringo_waitgroup_done(&a->sh->wg);
}

/* func fetchAll(ctx, urls []string, m int) []Page: pages[i] is urls[i]'s.
 * Acquiring before ringo_go bounds the number of fibers, not just the
 * requests. Returns the most requests ever in flight. */
static int fetch_all(ringo_ctx_t *ctx, const char *const *urls, int n, int m, struct page *pages)
{
    struct fetch_shared sh = {0};
    ringo_sem_init(&sh.sem, m);
    for (int i = 0; i < n; i++) {
        pages[i] = (struct page){.url = urls[i], .finished_seq = -1};
        int err = ringo_sem_acquire(ctx, &sh.sem, 1);
        if (err) {
            pages[i].err = err;         /* not even started */
            continue;
        }
        struct fetch_args a = {ctx, &sh, &pages[i], ((i * 5) % 7 + 1) * RINGO_MILLISECOND};
        ringo_waitgroup_add(&sh.wg, 1);
        check(ringo_go_copy(fetch_one, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&sh.wg);
    return atomic_load(&sh.max_in_flight);
}

#define Q7_URLS 20

static void question7(void)
{
    puts("7. fetch N URLs, at most M at once, results in order");
    static char names[Q7_URLS][32];
    const char *urls[Q7_URLS];
    for (int i = 0; i < Q7_URLS; i++) {
        snprintf(names[i], sizeof names[i], "https://example.com/%d", i);
        urls[i] = names[i];
    }
    const int limits[] = {1, 4, Q7_URLS};
    for (int l = 0; l < 3; l++) {
        int m = limits[l];
        struct page pages[Q7_URLS];
        int64_t start = ringo_now();
        int max = fetch_all(ringo_background(), urls, Q7_URLS, m, pages);
        bool reordered = false;
        for (int i = 0; i < Q7_URLS; i++) {
            char want[48];
            snprintf(want, sizeof want, "<html>%s</html>", urls[i]);
            check(pages[i].err == 0 && strcmp(pages[i].body, want) == 0,
                  "pages[i] holds urls[i]'s body");
            if (pages[i].finished_seq != i)
                reordered = true;
        }
        printf("   M = %2d: %d pages in %ld ms, at most %d in flight, completion order %s "
               "input order, results in input order\n", m, Q7_URLS, ms_since(start), max,
               reordered ? "differed from" : "matched");
        check(max >= 1 && max <= m, "never more than M requests in flight");
        if (m == 1)
            check(!reordered, "one at a time finishes in order");
    }

    /* A deadline stops the launching; what never started says so. */
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 15 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    struct page pages[Q7_URLS];
    fetch_all(ctx, urls, Q7_URLS, 1, pages);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    int ok = 0;
    for (int i = 0; i < Q7_URLS; i++) {
        check(pages[i].err == 0 || pages[i].err == -ETIMEDOUT, "ok or the deadline");
        if (pages[i].err == 0)
            ok++;
        if (i > 0 && pages[i - 1].err)
            check(pages[i].err != 0, "after the first failure, nothing more completes");
    }
    printf("   M = 1 with a 15 ms deadline: %d of %d pages, the rest -ETIMEDOUT\n", ok, Q7_URLS);
    check(ok < Q7_URLS, "the deadline cut the fetch short");
}

/* ==== 8. pub/sub ===================================================================================== */

#define MAX_SUBS 8

struct event { int publisher; int seq; };

/* Subscribers come and go under the write lock; publishes share the read
 * lock, so a close can never race a send on the channel it closes. A
 * publish blocks until each subscriber's buffer has room: no event is
 * dropped; a stalled subscriber slows publishers down instead. */
struct broker {
    ringo_rwmutex_t mu;
    ringo_chan_t *subs[MAX_SUBS];       /* the broker's references */
    int nsubs;
    bool closed;
};

/* Returns the subscriber's reference to a fresh channel, or NULL once the
 * broker is closed or full. */
static ringo_chan_t *broker_subscribe(struct broker *b, size_t buffer)
{
    ringo_chan_t *ch = NULL;
    ringo_rwmutex_lock(&b->mu);
    if (!b->closed && b->nsubs < MAX_SUBS) {
        ch = ringo_chan_make(sizeof(struct event), buffer);
        if (ch)
            b->subs[b->nsubs++] = ringo_chan_ref(ch);
    }
    ringo_rwmutex_unlock(&b->mu);
    return ch;
}

static bool broker_publish(struct broker *b, struct event e)
{
    ringo_rwmutex_rlock(&b->mu);
    bool open = !b->closed;
    for (int i = 0; open && i < b->nsubs; i++)
        ringo_chan_send(b->subs[i], &e);
    ringo_rwmutex_runlock(&b->mu);
    return open;
}

/* Closes every subscriber's channel: their range loops end once drained. */
static void broker_close(struct broker *b)
{
    ringo_rwmutex_lock(&b->mu);
    b->closed = true;
    for (int i = 0; i < b->nsubs; i++) {
        ringo_chan_close(b->subs[i]);
        ringo_chan_unref(b->subs[i]);
        b->subs[i] = NULL;
    }
    b->nsubs = 0;
    ringo_rwmutex_unlock(&b->mu);
}

#define PUBLISHERS 3
#define EVENTS 50
#define SUBSCRIBERS 4

struct publisher_args { struct broker *b; int id; ringo_waitgroup_t *wg; };

static void publisher(void *arg)
{
    struct publisher_args *a = arg;
    for (int s = 0; s < EVENTS; s++) {
        check(broker_publish(a->b, (struct event){a->id, s}), "publish on an open broker");
        if (s % 8 == 0)
            ringo_yield();              /* interleave with the other publishers */
    }
    ringo_waitgroup_done(a->wg);
}

struct sub_report { int id, received; bool in_order; };
struct subscriber_args { int id; ringo_chan_t *events, *reports; };

static void subscriber(void *arg)
{
    struct subscriber_args *a = arg;
    struct sub_report rep = {a->id, 0, true};
    int next[PUBLISHERS] = {0};
    struct event e;
    RINGO_CHAN_FOREACH(a->events, e) {
        if (e.publisher < 0 || e.publisher >= PUBLISHERS || e.seq != next[e.publisher])
            rep.in_order = false;
        else
            next[e.publisher]++;
        rep.received++;
        if (rep.received % 16 == 0)
            ringo_sleep(RINGO_MILLISECOND);     /* a slowish consumer */
    }
    ringo_chan_send(a->reports, &rep);
    ringo_chan_unref(a->events);
    ringo_chan_unref(a->reports);
}

static void question8(void)
{
    puts("8. pub/sub");
    struct broker *b = calloc(1, sizeof *b);
    ringo_chan_t *reports = ringo_chan_make(sizeof(struct sub_report), SUBSCRIBERS);
    check(b && reports, "allocation");

    for (int i = 0; i < SUBSCRIBERS; i++) {
        ringo_chan_t *events = broker_subscribe(b, 8);
        check(events != NULL, "subscribe");
        /* subscribe's reference passes to the subscriber fiber */
        struct subscriber_args a = {i, events, ringo_chan_ref(reports)};
        check(ringo_go_copy(subscriber, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_t wg = {0};
    for (int p = 0; p < PUBLISHERS; p++) {
        struct publisher_args a = {b, p, &wg};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(publisher, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);
    broker_close(b);
    check(!broker_publish(b, (struct event){0, 0}), "publish after close is refused");
    check(broker_subscribe(b, 1) == NULL, "subscribe after close is refused");

    bool seen[SUBSCRIBERS] = {false};
    for (int i = 0; i < SUBSCRIBERS; i++) {
        struct sub_report rep;
        check(ringo_chan_recv(reports, &rep), "subscriber report");
        check(rep.id >= 0 && rep.id < SUBSCRIBERS && !seen[rep.id], "one report per subscriber");
        seen[rep.id] = true;
        printf("   subscriber %d: %d events, each publisher's in order: %s\n", rep.id,
               rep.received, rep.in_order ? "yes" : "no");
        check(rep.received == PUBLISHERS * EVENTS, "every subscriber got every event");
        check(rep.in_order, "each publisher's events arrive in publish order");
    }
    ringo_chan_unref(reports);
    free(b);
}

/* ==== 9. find the bug ================================================================================== */

/* The buggy Go:
 *
 *     func process(items []int) []int {
 *         results := make([]int, len(items))
 *         for i, item := range items {
 *             go func() { results[i] = transform(item) }()
 *         }
 *         return results
 *     }
 *
 * (1) nothing waits: process returns, and its caller reads results, while
 * the goroutines may still be writing them (in C the array could even be
 * gone); (2) before Go 1.22 every closure shares one i and one item, the
 * C equivalent being ringo_go(fn, &loop_var) (goroutines.c shows it); (3)
 * so the reads race the writes. Writing distinct indices is fine on its
 * own. The fix: Add before each ringo_go_copy, which gives each fiber its
 * own i and item; Done as each fiber's last act; Wait before returning. */

static int transform(int x)
{
    if (x % 3 == 0)
        ringo_yield();                  /* finish out of order */
    return 2 * x + 1;
}

struct job { int i, item; int *results; ringo_waitgroup_t *wg; };

static void transform_fiber(void *arg)
{
    struct job *j = arg;                /* this fiber's own copy */
    j->results[j->i] = transform(j->item);
    ringo_waitgroup_done(j->wg);
}

static int *process(const int *items, int n)
{
    int *results = calloc((size_t)n, sizeof *results);
    check(results != NULL, "calloc");
    ringo_waitgroup_t wg = {0};
    for (int i = 0; i < n; i++) {
        struct job j = {i, items[i], results, &wg};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(transform_fiber, &j, sizeof j) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);          /* every write happens before this returns */
    return results;
}

/* Bug (1) made visible without a data race: the same loop without the
 * Wait, its results read with atomics the moment it returns. */
struct racy_job { int i, item; atomic_int *results; ringo_waitgroup_t *cleanup; };

static void racy_transform_fiber(void *arg)
{
    struct racy_job *j = arg;
    atomic_store(&j->results[j->i], transform(j->item));
    ringo_waitgroup_done(j->cleanup);
}

static int filled_without_wait(const int *items, int n, atomic_int *results,
                               ringo_waitgroup_t *cleanup)
{
    for (int i = 0; i < n; i++) {
        struct racy_job j = {i, items[i], results, cleanup};
        ringo_waitgroup_add(cleanup, 1);
        check(ringo_go_copy(racy_transform_fiber, &j, sizeof j) == 0, "ringo_go_copy");
    }
    int filled = 0;                     /* "return results": what the caller would see */
    for (int i = 0; i < n; i++)
        filled += atomic_load(&results[i]) != 0;
    return filled;
}

#define Q9_ITEMS 1000

static void question9(void)
{
    puts("9. find the bug");
    static int items[Q9_ITEMS];
    for (int i = 0; i < Q9_ITEMS; i++)
        items[i] = i * 7 - 300;

    for (int round = 0; round < 10; round++) {
        int *results = process(items, Q9_ITEMS);
        for (int i = 0; i < Q9_ITEMS; i++)
            check(results[i] == 2 * items[i] + 1, "results[i] == transform(items[i])");
        free(results);
    }
    printf("   fixed process(): 10 runs x %d items, every result in its own slot\n", Q9_ITEMS);

    static atomic_int racy[Q9_ITEMS];
    ringo_waitgroup_t cleanup = {0};
    int filled = filled_without_wait(items, Q9_ITEMS, racy, &cleanup);
    ringo_waitgroup_wait(&cleanup);     /* now let them finish, before racy[] is reused */
    printf("   without the Wait, the caller would have found %d of %d results filled in\n",
           filled, Q9_ITEMS);
}

static void main_fiber(void *arg)
{
    (void)arg;
    question6();
    question7();
    question8();
    question9();
    puts("exercises: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}

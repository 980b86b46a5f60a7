/* examples/errgroup.c - fetchBoth done with an error group
 * (golang.org/x/sync/errgroup), and a bounded fan-out.
 *
 * The WaitGroup version of fetchBoth (examples/context.c) waits for both
 * fetches even when the first has already failed, and picks the error by
 * hand. With a group, the first error cancels the context both fetches
 * run under, so the slow one stops at once, and Wait returns that error:
 *
 *   func fetchBoth(ctx context.Context) (A, B, error) {
 *       g, ctx := errgroup.WithContext(ctx)
 *       var a A; var b B
 *       g.Go(func() (err error) { a, err = fetchA(ctx); return })
 *       g.Go(func() (err error) { b, err = fetchB(ctx); return })
 *       return a, b, g.Wait()
 *   }
 *
 * Members return an int: 0, or an error (-errno or a code of your own).
 * Their arguments live in the caller's frame, which is safe because Wait
 * returns only after every member has.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

static const char *err_name(int err)
{
    switch (err) {
    case 0: return "nil";
    case -ECANCELED: return "context canceled";
    default: return strerror(-err);
    }
}

/* A remote call: answers after `work`, or fails with `fail` after `work`
 * (0: succeeds), or gives up when ctx is cancelled. */
struct fetch {
    ringo_ctx_t *ctx;           /* borrowed: the group's, alive until Wait returns */
    const char *name;
    ringo_duration_t work;
    int fail;
    long result;
    int err;                    /* what this fetch itself ended with */
};

static int fetch(void *arg)
{
    struct fetch *f = arg;
    ringo_case_t cases[] = {RINGO_DONE(f->ctx), RINGO_TIMEOUT(f->work)};
    if (ringo_select(cases, 2) == 0)
        f->err = ringo_ctx_err(f->ctx);
    else if (f->fail)
        f->err = f->fail;
    else
        f->result = (long)strlen(f->name);
    printf("  %s: %s\n", f->name, err_name(f->err));
    return f->err;
}

/* func fetchBoth(ctx) (A, B, error) */
static int fetch_both(ringo_ctx_t *parent, struct fetch *a, struct fetch *b)
{
    ringo_group_t g;
    ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_group_with_context(&g, parent);
    check(ctx != NULL, "ringo_group_with_context");
    a->ctx = b->ctx = ctx;
    check(ringo_group_go(&g, fetch, a) == 0, "ringo_group_go");
    check(ringo_group_go(&g, fetch, b) == 0, "ringo_group_go");
    return ringo_group_wait(&g);        /* then ctx is released at scope exit */
}

static long ms_since(int64_t start)
{
    return (long)((ringo_now() - start) / RINGO_MILLISECOND);
}

static void fetch_both_demo(void)
{
    struct fetch a = {.name = "fetchA", .work = 30 * RINGO_MILLISECOND};
    struct fetch b = {.name = "fetchB", .work = 40 * RINGO_MILLISECOND};
    int64_t start = ringo_now();
    int err = fetch_both(NULL, &a, &b);
    long took = ms_since(start);
    printf("fetchBoth: 30 ms and 40 ms fetches together took %ld ms, err = %s\n", took,
           err_name(err));
    check(err == 0 && a.result == 6 && b.result == 6, "both fetches succeeded");
    check(took >= 40 && took < 5000, "joined after the slower one");

    /* fetchA fails after 5 ms; fetchB would take 10 s, but the failure
     * cancels it: fetchBoth returns A's error at once. */
    a = (struct fetch){.name = "fetchA", .work = 5 * RINGO_MILLISECOND, .fail = -ECONNREFUSED};
    b = (struct fetch){.name = "fetchB", .work = 10 * RINGO_SECOND};
    start = ringo_now();
    err = fetch_both(NULL, &a, &b);
    took = ms_since(start);
    printf("fetchBoth: A failed after 5 ms: err = %s after %ld ms (B: %s)\n", err_name(err),
           took, err_name(b.err));
    check(err == -ECONNREFUSED, "the first error is the group's");
    check(b.err == -ECANCELED && b.result == 0, "the slow fetch was cancelled");
    check(took < 5000, "nobody waited for the slow fetch");
}

/* ---- at most N in flight: SetLimit ---------------------------------------------------------------- */

static atomic_int in_flight, most;

static int bounded_job(void *arg)
{
    (void)arg;
    int n = atomic_fetch_add(&in_flight, 1) + 1;
    int m = atomic_load(&most);
    while (n > m && !atomic_compare_exchange_weak(&most, &m, n))
        ;
    ringo_sleep(RINGO_MILLISECOND);
    atomic_fetch_sub(&in_flight, 1);
    return 0;
}

static void bounded_demo(void)
{
    ringo_group_t g = RINGO_GROUP_INIT;
    ringo_group_set_limit(&g, 4);
    for (int i = 0; i < 40; i++)
        check(ringo_group_go(&g, bounded_job, NULL) == 0, "ringo_group_go");   /* blocks at 4 */
    check(ringo_group_wait(&g) == 0, "bounded jobs");
    printf("40 jobs with a limit of 4: at most %d ran at once\n", atomic_load(&most));
    check(atomic_load(&most) >= 1 && atomic_load(&most) <= 4, "the limit held");
}

static void main_fiber(void *arg)
{
    (void)arg;
    fetch_both_demo();
    bounded_demo();
    puts("errgroup: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}

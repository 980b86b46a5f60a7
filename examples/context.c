/* examples/context.c - Go's context.Context in C (chapter 5
 * of docs/guide.md), and fetchBoth: two fetches where the first error
 * cancels the other.
 *
 *   context.Background()               ringo_background()
 *   ctx, cancel := WithCancel(parent)  ctx = ringo_with_cancel(parent); the
 *   cancel()                             context is its own cancel handle:
 *                                        ringo_cancel(ctx), as often as you like
 *   defer cancel()                     ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ...
 *                                        (cancels, then releases the creator's
 *                                        reference, at scope exit)
 *   WithTimeout / WithDeadline         ringo_with_timeout(parent, d) /
 *                                        ringo_with_deadline(parent, ringo_now() + d)
 *   ctx.Deadline()                     ringo_ctx_deadline(ctx, &when)
 *   WithValue(ctx, key, v)             ringo_with_value(ctx, &key, v), released
 *                                        with ringo_ctx_unref
 *   type ctxKey struct{} (private)     static const char key;  keys compare by
 *                                        address, so two never collide
 *   ctx.Value(key).(string)            (const char *)ringo_ctx_value(ctx, &key)
 *   case <-ctx.Done():                 RINGO_DONE(ctx) in ringo_select
 *   ctx.Err()                          ringo_ctx_err(ctx): 0, -ECANCELED
 *                                        (Canceled) or -ETIMEDOUT (DeadlineExceeded)
 *   context.AfterFunc(ctx, f)          ringo_ctx_after_func(ctx, f, arg)
 *
 * There is no garbage collector, so contexts are reference counted. Each
 * ringo_with_* hands its creator one reference, released once with
 * ringo_ctx_unref (RINGO_DEFER_CANCEL does it too); ringo_cancel only
 * cancels, so a context stays readable after an early cancel, as in Go. A
 * fiber that may use a context after the code that handed it over has moved
 * on takes its own reference (ringo_ctx_ref before ringo_go) and drops it
 * with ringo_ctx_unref. Fibers that are waited for (fetchBoth's WaitGroup)
 * borrow their caller's context instead.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *err_name(int err)
{
    switch (err) {
    case 0: return "nil";
    case -ECANCELED: return "context canceled";
    case -ETIMEDOUT: return "context deadline exceeded";
    default: return strerror(-err);
    }
}

static long ms_since(int64_t start)
{
    return (long)((ringo_now() - start) / RINGO_MILLISECOND);
}

/* ---- request-scoped values with private keys ------------------------------------------------ */

/* Each "package" owns its keys; only its own accessors can reach them. */
static const char request_id_key;

static ringo_ctx_t *with_request_id(ringo_ctx_t *ctx, const char *id)
{
    return ringo_with_value(ctx, &request_id_key, (void *)id);
}

static const char *request_id(ringo_ctx_t *ctx)
{
    const char *id = ringo_ctx_value(ctx, &request_id_key);
    return id ? id : "";
}

/* ---- a fake database: work that honours cancellation ------------------------------------------- */

/* Takes `work` to answer, unless ctx ends first: then returns ctx's error
 * at once, as a driver that watches ctx.Done() would. */
static int db_query(ringo_ctx_t *ctx, const char *sql, ringo_duration_t work, long *out)
{
    const char *rid = request_id(ctx);  /* read deep in the call chain */
    if (!*rid)
        rid = "-";
    ringo_case_t cases[] = {RINGO_DONE(ctx), RINGO_TIMEOUT(work)};
    if (ringo_select(cases, 2) == 0) {
        int err = ringo_ctx_err(ctx);
        printf("  [%s] %s: %s\n", rid, sql, err_name(err));
        return err;
    }
    *out = (long)strlen(sql);
    printf("  [%s] %s: ok\n", rid, sql);
    return 0;
}

static int get_user(ringo_ctx_t *ctx, int user_id, ringo_duration_t work, long *user)
{
    (void)user_id;
    return db_query(ctx, "SELECT * FROM users WHERE id = $1", work, user);
}

static int get_orders(ringo_ctx_t *ctx, long user, ringo_duration_t work, long *orders)
{
    (void)user;
    return db_query(ctx, "SELECT * FROM orders WHERE user_id = $1", work, orders);
}

/* func handleRequest(ctx): the same ctx flows into every call. */
static int handle_request(ringo_ctx_t *ctx, ringo_duration_t work)
{
    long user, orders;
    int err = get_user(ctx, 42, work, &user);
    if (err)
        return err;
    return get_orders(ctx, user, work, &orders);
}

/* ---- cancellation through the call chain ------------------------------------------------------------ */

struct query_args {
    ringo_ctx_t *ctx;                   /* the fiber's own reference */
    ringo_chan_t *errs;                 /* likewise */
    bool orders;
};

static void query_fiber(void *arg)
{
    struct query_args *a = arg;
    long out;
    int err = a->orders ? get_orders(a->ctx, 1, 10 * RINGO_SECOND, &out)
                        : get_user(a->ctx, 1, 10 * RINGO_SECOND, &out);
    ringo_chan_send(a->errs, &err);
    ringo_ctx_unref(a->ctx);
    ringo_chan_unref(a->errs);
}

static void cancellation(void)
{
    /* A request that completes. */
    ringo_ctx_t *req = ringo_with_cancel(ringo_background());
    ringo_ctx_t *ctx = with_request_id(req, "req-1");
    check(req && ctx, "context allocation");
    printf("request req-1:\n");
    check(handle_request(ctx, 5 * RINGO_MILLISECOND) == 0, "an uncancelled request succeeds");
    ringo_ctx_unref(ctx);
    ringo_cancel(req);                  /* done with it: what defer cancel() would do */
    ringo_ctx_unref(req);

    /* A request whose client goes away while two slow queries run. */
    req = ringo_with_cancel(ringo_background());
    ctx = with_request_id(req, "req-2");
    check(req && ctx, "context allocation");
    ringo_chan_t *errs = ringo_chan_make(sizeof(int), 2);
    printf("request req-2 (client disconnects after 20 ms):\n");
    int64_t start = ringo_now();
    for (int i = 0; i < 2; i++) {
        struct query_args a = {ringo_ctx_ref(ctx), ringo_chan_ref(errs), i == 1};
        check(ringo_go_copy(query_fiber, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_ctx_unref(ctx);               /* the fibers hold their own references */
    ringo_sleep(20 * RINGO_MILLISECOND);
    ringo_cancel(req);                  /* the client disconnected */
    for (int i = 0; i < 2; i++) {
        int err;
        check(ringo_chan_recv(errs, &err), "query result");
        check(err == -ECANCELED, "a cancelled query returns -ECANCELED");
    }
    ringo_ctx_unref(req);
    long took = ms_since(start);
    printf("cancel: both 10 s queries returned %s after %ld ms\n", err_name(-ECANCELED), took);
    check(took >= 20 && took < 5000, "the queries stopped early, once cancelled");
    ringo_chan_unref(errs);
}

/* ---- WithTimeout ------------------------------------------------------------------------------------- */

static void with_timeout(void)
{
    int64_t start = ringo_now();
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 20 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    int64_t deadline;
    check(ringo_ctx_deadline(ctx, &deadline), "a timeout context has a deadline");
    check(deadline >= start + 20 * RINGO_MILLISECOND, "deadline is 20 ms out");

    printf("timeout (20 ms) on a 10 s query:\n");
    long user;
    int err = get_user(ctx, 7, 10 * RINGO_SECOND, &user);
    long took = ms_since(start);
    printf("timeout: the query returned %s after %ld ms\n", err_name(err), took);
    check(err == -ETIMEDOUT, "the query times out with -ETIMEDOUT");
    check(ringo_ctx_err(ctx) == -ETIMEDOUT, "ctx.Err() is DeadlineExceeded");
    check(took >= 20 && took < 5000, "it gave up at the deadline");
    ringo_cancel(ctx);                  /* Go's rule holds after the deadline passed too */
    ringo_ctx_unref(ctx);
}

/* ---- WithDeadline ---------------------------------------------------------------------------------- */

static void with_deadline(void)
{
    int64_t deadline = ringo_now() + 30 * RINGO_MILLISECOND;
    ringo_ctx_t *ctx = ringo_with_deadline(ringo_background(), deadline);
    check(ctx != NULL, "ringo_with_deadline");
    int64_t d;
    check(ringo_ctx_deadline(ctx, &d) && d == deadline, "Deadline() reports it");

    /* A child cannot extend its parent's deadline: the earlier one wins. */
    ringo_ctx_t *later = ringo_with_deadline(ctx, deadline + RINGO_SECOND);
    check(later != NULL, "ringo_with_deadline");
    check(ringo_ctx_deadline(later, &d) && d == deadline, "the parent's earlier deadline wins");

    /* A plain cancellable child ends with its parent, with the parent's error. */
    ringo_ctx_t *child = ringo_with_cancel(ctx);
    check(child != NULL, "ringo_with_cancel");
    int err = ringo_ctx_err(child);     /* read before the clock, so the check is exact */
    check(err == 0 || ringo_now() >= deadline, "live before the deadline");
    check(!ringo_chan_recv(ringo_ctx_done(child), NULL), "<-child.Done() once closed");
    check(ringo_now() >= deadline, "not before the deadline");
    check(ringo_ctx_err(child) == -ETIMEDOUT && ringo_ctx_err(later) == -ETIMEDOUT,
          "descendants report DeadlineExceeded");
    printf("deadline: parent's deadline ended the child and the grandchild (%s)\n",
           err_name(ringo_ctx_err(child)));

    /* A deadline already past: the context is born done. */
    ringo_ctx_t *past = ringo_with_deadline(ringo_background(), ringo_now() - RINGO_SECOND);
    check(past != NULL && ringo_ctx_err(past) == -ETIMEDOUT, "a past deadline is already exceeded");

    ringo_ctx_t *all[] = {past, child, later, ctx};
    for (int i = 0; i < 4; i++) {
        ringo_cancel(all[i]);
        ringo_ctx_unref(all[i]);
    }
}

/* ---- WithValue ------------------------------------------------------------------------------------ */

/* Two packages both keep a "user" in the context; distinct private keys mean
 * neither can see or clobber the other's. */
static const char auth_user_key;        /* package auth: who is calling */
static const char audit_user_key;       /* package audit: whom the action is on behalf of */

/* handler -> service -> repository: only the bottom reads the request ID. */
static const char *repository_lookup(ringo_ctx_t *ctx)
{
    return request_id(ctx);
}

static const char *service_call(ringo_ctx_t *ctx)
{
    return repository_lookup(ctx);
}

static void values(void)
{
    ringo_ctx_t *req = ringo_with_cancel(ringo_background());
    ringo_ctx_t *c1 = with_request_id(req, "abc-123");
    ringo_ctx_t *c2 = ringo_with_value(c1, &auth_user_key, "alice");
    ringo_ctx_t *c3 = ringo_with_value(c2, &audit_user_key, "bob");
    check(req && c1 && c2 && c3, "context allocation");

    const char *rid = service_call(c3);
    printf("values: request ID read three calls down: %s\n", rid);
    check(strcmp(rid, "abc-123") == 0, "the request ID travels down the call chain");
    check(strcmp(ringo_ctx_value(c3, &auth_user_key), "alice") == 0, "auth's user");
    check(strcmp(ringo_ctx_value(c3, &audit_user_key), "bob") == 0, "audit's user, no collision");
    check(ringo_ctx_value(c1, &auth_user_key) == NULL, "a parent does not see a child's value");
    check(strcmp(request_id(ringo_background()), "") == 0, "a missing value reads as the zero value");

    /* A nearer value for the same key shadows the outer one. */
    ringo_ctx_t *c4 = with_request_id(c3, "abc-123/retry-1");
    check(c4 != NULL, "context allocation");
    check(strcmp(service_call(c4), "abc-123/retry-1") == 0, "the nearest value wins");

    /* Values add no cancellation of their own: c4 ends when req does. */
    check(ringo_ctx_err(c4) == 0, "live");
    ringo_cancel(req);                  /* req stays readable until released */
    check(ringo_ctx_err(c4) == -ECANCELED, "a value context reports its parent's cancellation");
    check(!ringo_chan_recv(ringo_ctx_done(c4), NULL), "and shares its done channel");
    ringo_ctx_unref(req);

    ringo_ctx_unref(c4);
    ringo_ctx_unref(c3);
    ringo_ctx_unref(c2);
    ringo_ctx_unref(c1);
}

/* ---- RINGO_DEFER_CANCEL and AfterFunc -------------------------------------------------------------- */

struct note { ringo_chan_t *ch; const char *msg; };

/* The AfterFunc: runs in its own fiber once the context is cancelled. It
 * owns its note and the channel reference in it. */
static void on_cancel(void *arg)
{
    struct note *n = arg;
    ringo_chan_send(n->ch, &n->msg);
    ringo_chan_unref(n->ch);
    free(n);
}

static struct note *new_note(ringo_chan_t *ch, const char *msg)
{
    struct note *n = malloc(sizeof *n);
    check(n != NULL, "malloc");
    n->ch = ringo_chan_ref(ch);
    n->msg = msg;
    return n;
}

static void scoped(ringo_chan_t *notes)
{
    ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_cancel(ringo_background());
    check(ctx != NULL, "ringo_with_cancel");
    check(ringo_ctx_after_func(ctx, on_cancel, new_note(notes, "scope exit cancelled ctx")) > 0,
          "ringo_ctx_after_func");
    check(ringo_ctx_err(ctx) == 0, "live inside the scope");
}   /* defer cancel() runs here */

static void defer_and_after_func(void)
{
    ringo_chan_t *notes = ringo_chan_make(sizeof(const char *), 4);
    const char *msg = NULL;

    scoped(notes);
    ringo_case_t wait[] = {RINGO_RECV(notes, &msg), RINGO_TIMEOUT(5 * RINGO_SECOND)};
    check(ringo_select(wait, 2) == 0, "the AfterFunc ran after RINGO_DEFER_CANCEL cancelled");
    printf("defer cancel: %s\n", msg);

    /* Stopping an AfterFunc before the cancel keeps it from running. */
    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    check(ctx != NULL, "ringo_with_cancel");
    struct note *n = new_note(notes, "should never be sent");
    uint64_t id = ringo_ctx_after_func(ctx, on_cancel, n);
    check(id > 0, "ringo_ctx_after_func");
    check(ringo_ctx_after_func_stop(ctx, id), "stop kept fn from starting");
    ringo_chan_unref(n->ch);            /* fn will not run: its note is ours again */
    free(n);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    ringo_sleep(20 * RINGO_MILLISECOND);
    check(ringo_chan_len(notes) == 0, "a stopped AfterFunc never runs");

    /* On a context already cancelled, AfterFunc starts fn at once. */
    ctx = ringo_with_cancel(ringo_background());
    check(ctx != NULL, "ringo_with_cancel");
    ringo_cancel(ctx);
    check(ringo_ctx_after_func(ctx, on_cancel, new_note(notes, "registered after the cancel")) > 0,
          "ringo_ctx_after_func");
    check(ringo_select(wait, 2) == 0, "AfterFunc on a cancelled context runs");
    printf("after func: %s\n", msg);
    ringo_ctx_unref(ctx);
    ringo_chan_unref(notes);
}

/* ---- longOperation: poll ctx between units of work ---------------------------------------------- */

/* Equivalent to Go's select { case <-ctx.Done(): ... default: doWork(i) }:
 * a {RINGO_DONE(ctx), RINGO_DEFAULT} select would do the same. */
static int long_operation(ringo_ctx_t *ctx, int iterations, int *completed)
{
    for (int i = 0; i < iterations; i++) {
        int err = ringo_ctx_err(ctx);
        if (err)
            return err;
        ringo_sleep(RINGO_MILLISECOND);  /* doWork(i) */
        (*completed)++;
    }
    return 0;
}

struct long_args { ringo_ctx_t *ctx; ringo_chan_t *out; };
struct long_result { int err, completed; };

static void long_fiber(void *arg)
{
    struct long_args *a = arg;
    struct long_result r = {0, 0};
    r.err = long_operation(a->ctx, 1000, &r.completed);
    ringo_chan_send(a->out, &r);
    ringo_ctx_unref(a->ctx);
    ringo_chan_unref(a->out);
}

static void long_op(void)
{
    int completed = 0;
    check(long_operation(ringo_background(), 20, &completed) == 0 && completed == 20,
          "without cancellation every unit runs");

    /* Ended by a timeout. */
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 30 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    completed = 0;
    int err = long_operation(ctx, 1000, &completed);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    printf("longOperation: timed out after %d of 1000 units (%s)\n", completed, err_name(err));
    check(err == -ETIMEDOUT && completed < 1000, "the timeout stops the loop");

    /* Ended by another fiber's cancel. */
    ctx = ringo_with_cancel(ringo_background());
    check(ctx != NULL, "ringo_with_cancel");
    ringo_chan_t *out = ringo_chan_make(sizeof(struct long_result), 1);
    struct long_args a = {ringo_ctx_ref(ctx), ringo_chan_ref(out)};
    check(ringo_go_copy(long_fiber, &a, sizeof a) == 0, "ringo_go_copy");
    ringo_sleep(20 * RINGO_MILLISECOND);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);               /* the fiber holds its own */
    struct long_result r;
    check(ringo_chan_recv(out, &r), "long operation result");
    printf("longOperation: cancelled after %d of 1000 units (%s)\n", r.completed, err_name(r.err));
    check(r.err == -ECANCELED && r.completed < 1000, "cancel stops the loop");
    ringo_chan_unref(out);
}

/* ---- fetchBoth: two calls at once, joined with a WaitGroup ------------------------------------------ */

struct fetch_args {
    ringo_ctx_t *ctx;                   /* borrowed: fetch_both waits for us */
    const char *what;
    ringo_duration_t work;
    long *out;
    int *err;
    ringo_waitgroup_t *wg;
};

static void fetch_fiber(void *arg)
{
    struct fetch_args *a = arg;
    *a->err = db_query(a->ctx, a->what, a->work, a->out);   /* a, errA = fetchA(ctx) */
    ringo_waitgroup_done(a->wg);                             /* defer wg.Done() */
}

/* func fetchBoth(ctx) (A, B, error) */
static int fetch_both(ringo_ctx_t *ctx, ringo_duration_t work_a, ringo_duration_t work_b,
                      long *a, long *b)
{
    int err_a = 0, err_b = 0;
    ringo_waitgroup_t wg = {0};
    ringo_waitgroup_add(&wg, 2);
    struct fetch_args fa = {ctx, "fetchA", work_a, a, &err_a, &wg};
    struct fetch_args fb = {ctx, "fetchB", work_b, b, &err_b, &wg};
    check(ringo_go_copy(fetch_fiber, &fa, sizeof fa) == 0, "ringo_go_copy");
    check(ringo_go_copy(fetch_fiber, &fb, sizeof fb) == 0, "ringo_go_copy");
    ringo_waitgroup_wait(&wg);          /* after this, a, b, err_a, err_b are ours to read */
    return err_a ? err_a : err_b;
}

static void fetch_both_demo(void)
{
    ringo_ctx_t *ctx = with_request_id(ringo_background(), "fetch-1");
    check(ctx != NULL, "ringo_with_value");
    long a = 0, b = 0;
    int64_t start = ringo_now();
    int err = fetch_both(ctx, 30 * RINGO_MILLISECOND, 40 * RINGO_MILLISECOND, &a, &b);
    long took = ms_since(start);
    printf("fetchBoth: 30 ms and 40 ms fetches together took %ld ms\n", took);
    check(err == 0 && a == 6 && b == 6, "both fetches succeeded");
    check(took >= 40 && took < 5000, "joined after the slower one");
    ringo_ctx_unref(ctx);

    /* The slow half outlives the timeout: its error comes back, the fast
     * half's result is still there. */
    ringo_ctx_t *tctx = ringo_with_timeout(ringo_background(), 100 * RINGO_MILLISECOND);
    ctx = with_request_id(tctx, "fetch-2");
    check(tctx && ctx, "context allocation");
    a = b = 0;
    err = fetch_both(ctx, RINGO_MILLISECOND, 10 * RINGO_SECOND, &a, &b);
    printf("fetchBoth: with a 100 ms timeout: err = %s, a = %ld\n", err_name(err), a);
    check(err == -ETIMEDOUT && a == 6 && b == 0, "errB reported, A's result kept");
    ringo_ctx_unref(ctx);
    ringo_cancel(tctx);
    ringo_ctx_unref(tctx);
}

static void main_fiber(void *arg)
{
    (void)arg;
    cancellation();
    with_timeout();
    with_deadline();
    values();
    defer_and_after_func();
    long_op();
    fetch_both_demo();
    puts("context: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}

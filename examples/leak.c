/* examples/leak.c - hunting a fiber leak (chapter 8 of docs/guide.md):
 * "your service is leaking goroutines in production".
 *
 * The leaky handler starts three fibers per request and loses each one a
 * different way:
 *   a forgotten cancel   waits on ctx.Done() of a context nobody cancels
 *   a blocked send       sends a result to a channel nobody reads any more
 *   a missing Done       waits on a WaitGroup whose Done never comes
 * ringo_num_fibers() (runtime.NumGoroutine) grows by three per request, and
 * ringo_fiber_dump's grouped summary (the goroutine profile) points at the
 * three creation sites, with counts. The fixed handler cancels, buffers the
 * result channel, and always calls done; ringo_expect_no_leaks() (goleak's
 * VerifyNone) then finds nothing. The example checks all of this itself.
 */
#define _GNU_SOURCE     /* pipe2 */
#include <ringo.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REQUESTS 20

static void watch_request(void *arg)
{
    ringo_ctx_t *ctx = arg;
    ringo_chan_recv(ringo_ctx_done(ctx), NULL);     /* leaks if never cancelled */
    ringo_ctx_unref(ctx);
}

static void compute_result(void *arg)
{
    ringo_chan_t *out = arg;
    int result = 42;
    ringo_chan_send(out, &result);                  /* leaks if nobody receives */
    ringo_chan_unref(out);
}

static void wait_for_helpers(void *arg)
{
    ringo_waitgroup_wait(arg);                      /* leaks if Done never comes */
}

/* One group per request of each service: a WaitGroup may be reused only
 * after every Wait on it has returned (Go's rule; -race checks it). */
static ringo_waitgroup_t wgs[2][REQUESTS];
/* What the leaky handler lost, kept reachable so LeakSanitizer and Valgrind
 * (which do not scan fiber stacks) do not flag the example's deliberate
 * leak. Not static: the compiler would drop stores nobody reads. */
ringo_ctx_t *lost_ctx[REQUESTS];
ringo_chan_t *lost_chan[REQUESTS];

static void handle(int i, bool fixed)
{
    /* 1. a context for the request's background watcher */
    ringo_ctx_t *ctx = ringo_with_cancel(ringo_background());
    ringo_go(watch_request, ringo_ctx_ref(ctx));

    /* 2. a result the handler may stop waiting for */
    ringo_chan_t *out = ringo_chan_make(sizeof(int), fixed ? 1 : 0);
    ringo_go(compute_result, ringo_chan_ref(out));

    /* 3. a helper group */
    ringo_waitgroup_t *wg = &wgs[fixed][i];
    ringo_waitgroup_add(wg, 1);
    ringo_go(wait_for_helpers, wg);

    /* ...and the handler gives up on the result (a timeout, say) and
     * returns without receiving it. */
    ringo_chan_unref(out);
    if (fixed) {
        ringo_cancel(ctx);                  /* defer cancel() */
        ringo_ctx_unref(ctx);
        ringo_waitgroup_done(wg);           /* defer wg.Done() */
    } else {
        lost_ctx[i] = ctx;
        lost_chan[i] = out;
        ringo_ctx_unref(ctx);               /* BUG: dropped without cancel */
    }
}

static int failed;

static void check(bool ok, const char *what)
{
    if (!ok) {
        printf("FAILED: %s\n", what);
        failed = 1;
    }
}

static void main_fiber(void *arg)
{
    (void)arg;
    /* The fixed service: nothing outlives a request. */
    for (int i = 0; i < REQUESTS; i++)
        handle(i, true);
    check(ringo_expect_no_leaks() == 0, "the fixed handler leaked");

    /* The leaky one. */
    size_t before = ringo_num_fibers();
    for (int i = 0; i < REQUESTS; i++)
        handle(i, false);
    ringo_sleep(10 * RINGO_MILLISECOND);    /* let them all reach their waits */
    size_t after = ringo_num_fibers();
    printf("fibers: %zu before, %zu after %d leaky requests\n", before, after, REQUESTS);
    check(after - before == 3 * REQUESTS, "three fibers leak per request");

    /* The profile names every culprit with its count. */
    int p[2];
    static char dump[1 << 16];
    if (pipe2(p, O_NONBLOCK) == 0) {
        ringo_fiber_dump(p[1]);
        ssize_t n = read(p[0], dump, sizeof(dump) - 1);
        dump[n > 0 ? n : 0] = '\0';
        close(p[0]);
        close(p[1]);
    }
    const char *summary_end = strstr(dump, "\n\n");
    if (summary_end)
        printf("%.*s\n", (int)(summary_end - dump), dump);
    check(strstr(dump, "watch_request [chan receive]") != NULL, "dump names watch_request");
    check(strstr(dump, "compute_result [chan send]") != NULL, "dump names compute_result");
    check(strstr(dump, "wait_for_helpers [sync.WaitGroup.Wait]") != NULL, "dump names wait_for_helpers");
    check(strstr(dump, "    20 @ ") != NULL, "dump counts 20 per site");
    check(ringo_expect_no_leaks() == 3 * REQUESTS, "ringo_expect_no_leaks reports them");
}   /* main returns: the leaked fibers are abandoned with the process */

int main(void)
{
    ringo_config_t cfg = {.workers = 2};
    if (ringo_run(&cfg, main_fiber, NULL) < 0)
        return 1;
    return failed;
}

/* examples/net_leak.c - hunting a goroutine leak (docs/guide.md, section
 * 8) with real sockets: a service whose handlers leak fibers blocked
 * reading from a backend that never answers.
 *
 * The backend (local_http.h, with a handler that holds each connection
 * until the client hangs up or the server stops) accepts every request
 * and never replies. The frontend's handler asks it in a helper fiber and
 * waits for the answer at most 20 ms:
 *
 *   leaky   the helper reads with no deadline (a NULL context): when the
 *           handler gives up, the helper stays parked in ringo_read for
 *           good, one leaked fiber (and one open connection) per request.
 *   fixed   the handler derives a context with the same 20 ms timeout
 *           (RINGO_DEFER_CANCEL) and the helper reads under it: at the
 *           deadline the read is cancelled in the kernel and returns
 *           -ETIMEDOUT, the helper closes its socket and ends.
 *
 * How the leak is found, as one would in production: ringo_num_fibers()
 * (runtime.NumGoroutine) keeps growing; ringo_fiber_dump's summary (the
 * goroutine profile) groups the leaked fibers by creation site and wait
 * reason ("ask_backend_leaky [io read]") with their count; and
 * ringo_expect_no_leaks() (goleak's VerifyNone), run where every fiber
 * should be gone, prints them and returns how many. Stopping the backend
 * closes its side of every connection: the leaked reads see end-of-file,
 * the helpers end, and the last check finds nothing.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#define _GNU_SOURCE     /* pipe2 */
#include "example.h"
#include "local_http.h"

#include <fcntl.h>
#include <unistd.h>

#define REQUESTS 10

/* The backend: takes the request and never answers; it lets go only when
 * the client hangs up (the read sees end-of-file) or the server stops. */
static int hanging_handler(ringo_ctx_t *ctx, int fd, const char *path, char *body, size_t cap)
{
    (void)path, (void)cap;
    ringo_read(ctx, fd, body, 1);
    return -1;
}

static int backend_port;
static atomic_int helpers_ended;

struct ask {
    ringo_ctx_t *ctx;           /* own reference; NULL in the leaky version */
    ringo_chan_t *answer;       /* own reference; cap 1, so the send never blocks */
};

static void ask(struct ask *a)
{
    char body[64];
    int n = http_get(a->ctx, backend_port, "/slow", body, sizeof body);
    ringo_chan_send(a->answer, &n);
    ringo_chan_unref(a->answer);
    ringo_ctx_unref(a->ctx);
    atomic_fetch_add(&helpers_ended, 1);
}

/* Two functions, so that the dump tells the two versions apart. */
static void ask_backend_leaky(void *arg) { ask(arg); }
static void ask_backend_fixed(void *arg) { ask(arg); }

/* Handles one request; returns what the backend said, or -ETIMEDOUT. */
static int handle(bool fixed)
{
    ringo_ctx_t *ctx RINGO_DEFER_CANCEL = fixed ? ringo_with_timeout(NULL, 20 * RINGO_MILLISECOND) : NULL;
    ringo_chan_t *answer = ringo_chan_make(sizeof(int), 1);
    check(answer != NULL && (ctx != NULL || !fixed), "allocation");
    struct ask a = {fixed ? ringo_ctx_ref(ctx) : NULL, ringo_chan_ref(answer)};
    int rc = fixed ? ringo_go_copy(ask_backend_fixed, &a, sizeof a)     /* the macro records */
                   : ringo_go_copy(ask_backend_leaky, &a, sizeof a);    /* each name */
    check(rc == 0, "ringo_go_copy");

    int result = -ETIMEDOUT;
    ringo_case_t cases[] = {RINGO_RECV(answer, &result), RINGO_TIMEOUT(20 * RINGO_MILLISECOND)};
    ringo_select(cases, 2);             /* the answer, or give up after 20 ms */
    ringo_chan_unref(answer);
    return result;
}                                        /* fixed: the deferred cancel ends the helper's read */

static void main_fiber(void *arg)
{
    (void)arg;
    struct local_server backend;
    check(local_server_start(&backend, hanging_handler) == 0, "the backend starts");
    backend_port = backend.port;
    size_t baseline = ringo_num_fibers();   /* main and the backend's accept fiber */

    /* The fixed service: every helper ends at its deadline, and so does
     * the backend's fiber for its connection (it reads end-of-file). */
    for (int i = 0; i < REQUESTS; i++)
        check(handle(true) == -ETIMEDOUT, "the backend never answers");
    check(example_fibers_reach(baseline), "the fixed service leaves no fiber behind");
    check(atomic_load(&helpers_ended) == REQUESTS, "every fixed helper ended");
    printf("fixed: %d requests, fibers back to %zu\n", REQUESTS, ringo_num_fibers());

    /* The leaky one: each request leaves its helper parked in a read, and
     * the backend's connection fiber parked in its handler. */
    for (int i = 0; i < REQUESTS; i++)
        check(handle(false) == -ETIMEDOUT, "the backend never answers");
    check(example_fibers_reach(baseline + 2 * REQUESTS), "two fibers leak per request");
    printf("leaky: %d requests, fibers %zu -> %zu\n", REQUESTS, baseline, ringo_num_fibers());

    /* The goroutine profile names the culprit, its wait and its count. */
    static char dump[1 << 16];
    int p[2];
    check(pipe2(p, O_NONBLOCK) == 0, "pipe2");
    ringo_fiber_dump(p[1]);
    ssize_t n = read(p[0], dump, sizeof dump - 1);
    dump[n > 0 ? n : 0] = '\0';
    close(p[0]);
    close(p[1]);
    const char *summary_end = strstr(dump, "\n\n");
    if (summary_end)
        printf("%.*s\n", (int)(summary_end - dump), dump);
    char want[64];
    snprintf(want, sizeof want, "%6d @ ", REQUESTS);
    check(strstr(dump, "ask_backend_leaky [io read]") != NULL, "the dump shows the helpers parked in a read");
    check(strstr(dump, "ask_backend_fixed") == NULL, "no fixed helper is left");
    check(strstr(dump, want) != NULL, "the dump counts one per request");

    /* goleak's VerifyNone at the point where only main should be left: the
     * backend's accept fiber, its stuck connections and the helpers. */
    int leaked = ringo_expect_no_leaks();
    printf("ringo_expect_no_leaks: %d fibers\n", leaked);
    check(leaked == 1 + 2 * REQUESTS, "ringo_expect_no_leaks counts every stuck fiber");

    /* Stopping the backend closes its side: the leaked reads see EOF. */
    local_server_stop(&backend);
    check(example_fibers_reach(1), "the helpers wind down");
    check(ringo_expect_no_leaks() == 0, "once the backend hangs up, every helper ends");
    check(atomic_load(&helpers_ended) == 2 * REQUESTS, "every leaky helper ended too");
    puts("ok");
}

int main(void)
{
    ringo_config_t cfg = {.workers = 2};
    if (ringo_run(&cfg, main_fiber, NULL) < 0)
        return 1;
    return 0;
}

/* examples/fetch.c - the classic Go exercise, for real over TCP:
 * fetch N URLs with at most M requests in flight, results in input order,
 * over TCP from a local HTTP server the example starts itself
 * (local_http.h).
 *
 *   sem := semaphore.NewWeighted(m)   ringo_sem_init(&sem, m)
 *   sem.Acquire(ctx, 1)               ringo_sem_acquire(ctx, &sem, 1), before
 *                                       ringo_go: it bounds the fibers too
 *   go func(i int) {                  ringo_go_copy(fetch_one, &args, sizeof args):
 *     defer sem.Release(1)              each fiber its own copy of i
 *     defer wg.Done()                 ringo_sem_release, ringo_waitgroup_done
 *     results[i] = get(urls[i]) }(i)  each fiber writes only its own slot
 *   wg.Wait()                         ringo_waitgroup_wait(&wg)
 *   http.Get with ctx                 http_get(ctx, port, path, ...): ringo_dial,
 *                                       ringo_write, ringo_read, all under ctx
 *
 * The server's handler sleeps a few milliseconds that vary with the URL,
 * so requests finish out of order; the results still land in input order
 * because each fiber owns results[i]. The server itself counts how many
 * requests it is handling at once, so "at most M" is measured where it
 * matters. A last round runs under a deadline that expires part-way: the
 * URLs never started say -ETIMEDOUT, and no fiber is left behind.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"
#include "local_http.h"

#define N_URLS 20

/* GET /page/<i>: "page <i> squared is <i*i>", after a pause of 1 to 7 ms. */
static int page_handler(ringo_ctx_t *ctx, int fd, const char *path, char *body, size_t cap)
{
    int i;
    if (sscanf(path, "/page/%d", &i) != 1)
        return -1;
    ringo_sleep(((i * 5) % 7 + 1) * RINGO_MILLISECOND);
    (void)ctx, (void)fd;
    return snprintf(body, cap, "page %d squared is %d", i, i * i);
}

struct result {
    char body[64];
    int err;              /* 0, or the -errno of the fetch */
    int finished_seq;     /* in which order it finished */
};

struct fetch_shared {
    ringo_sem_t sem;
    ringo_waitgroup_t wg;
    atomic_int finished;
    int port;
};

struct fetch_args {
    ringo_ctx_t *ctx;     /* borrowed: fetch_all waits for every fiber */
    struct fetch_shared *sh;
    const char *url;
    struct result *slot;  /* ours alone: results[i] */
};

static void fetch_one(void *arg)
{
    struct fetch_args *a = arg;     /* our own copy (ringo_go_copy) */
    int n = http_get(a->ctx, a->sh->port, a->url, a->slot->body, sizeof a->slot->body);
    a->slot->err = n < 0 ? n : 0;
    a->slot->finished_seq = atomic_fetch_add(&a->sh->finished, 1);
    ringo_sem_release(&a->sh->sem, 1);
    ringo_waitgroup_done(&a->sh->wg);
}

/* func fetchAll(ctx, urls, m) []Result: results[i] is urls[i]'s. */
static void fetch_all(ringo_ctx_t *ctx, int port, const char *const *urls, int n, int m,
                      struct result *results)
{
    struct fetch_shared sh = {.port = port};
    ringo_sem_init(&sh.sem, m);
    for (int i = 0; i < n; i++) {
        results[i] = (struct result){.finished_seq = -1};
        int err = ringo_sem_acquire(ctx, &sh.sem, 1);
        if (err) {
            results[i].err = err;       /* never started */
            continue;
        }
        struct fetch_args a = {ctx, &sh, urls[i], &results[i]};
        ringo_waitgroup_add(&sh.wg, 1);
        if (ringo_go_copy(fetch_one, &a, sizeof a) != 0) {
            results[i].err = -ENOMEM;
            ringo_waitgroup_done(&sh.wg);
            ringo_sem_release(&sh.sem, 1);
        }
    }
    ringo_waitgroup_wait(&sh.wg);
}

static void main_fiber(void *arg)
{
    (void)arg;
    struct local_server srv;
    check(local_server_start(&srv, page_handler) == 0, "the local server starts");
    printf("server on 127.0.0.1:%d\n", srv.port);

    static char names[N_URLS][32];
    const char *urls[N_URLS];
    for (int i = 0; i < N_URLS; i++) {
        snprintf(names[i], sizeof names[i], "/page/%d", i);
        urls[i] = names[i];
    }

    const int limits[] = {1, 4, N_URLS};
    for (int l = 0; l < 3; l++) {
        int m = limits[l];
        struct result results[N_URLS];
        atomic_store(&srv.max_in_flight, 0);
        int64_t start = ringo_now();
        fetch_all(NULL, srv.port, urls, N_URLS, m, results);
        bool reordered = false;
        for (int i = 0; i < N_URLS; i++) {
            char want[64];
            snprintf(want, sizeof want, "page %d squared is %d", i, i * i);
            check(results[i].err == 0, "every fetch succeeds");
            check(strcmp(results[i].body, want) == 0, "results[i] holds urls[i]'s body");
            if (results[i].finished_seq != i)
                reordered = true;
        }
        int max = atomic_load(&srv.max_in_flight);
        printf("M = %2d: %d pages in %ld ms, the server saw at most %d at once, "
               "completion order %s input order, results in input order\n",
               m, N_URLS, (long)((ringo_now() - start) / RINGO_MILLISECOND), max,
               reordered ? "differed from" : "matched");
        check(max >= 1 && max <= m, "never more than M requests in flight");
        if (m == 1)
            check(!reordered, "one at a time finishes in order");
    }

    /* A missing page is an error in its own slot, not the others'. */
    {
        const char *mixed[] = {"/page/2", "/nothing/here", "/page/3"};
        struct result results[3];
        fetch_all(NULL, srv.port, mixed, 3, 2, results);
        check(results[0].err == 0 && strcmp(results[0].body, "page 2 squared is 4") == 0, "page 2");
        check(results[1].err == -ENOENT, "a 404 comes back as -ENOENT");
        check(results[2].err == 0 && strcmp(results[2].body, "page 3 squared is 9") == 0, "page 3");
    }

    /* A deadline that expires part-way: one at a time, each request takes
     * at least a millisecond, so 20 cannot all fit in 12 ms. */
    {
        ringo_ctx_t *ctx RINGO_DEFER_CANCEL = ringo_with_timeout(NULL, 12 * RINGO_MILLISECOND);
        check(ctx != NULL, "ringo_with_timeout");
        struct result results[N_URLS];
        fetch_all(ctx, srv.port, urls, N_URLS, 1, results);
        int ok = 0, timed_out = 0;
        for (int i = 0; i < N_URLS; i++) {
            if (results[i].err == 0)
                ok++;
            else if (results[i].err == -ETIMEDOUT)
                timed_out++;
        }
        printf("under a 12 ms deadline: %d fetched, %d timed out\n", ok, timed_out);
        check(ok + timed_out == N_URLS, "each fetch either succeeded or timed out");
        check(timed_out > 0, "the deadline stopped the rest");
        check(results[N_URLS - 1].err == -ETIMEDOUT, "the last one never ran");
    }

    local_server_stop(&srv);
    check(example_fibers_reach(1), "every fiber winds down");
    check(ringo_expect_no_leaks() == 0, "no fiber left behind");
    puts("ok");
}

int main(void)
{
    return example_run(main_fiber);
}

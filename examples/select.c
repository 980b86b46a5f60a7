/* examples/select.c - Go's select in C (chapter 3 of docs/guide.md).
 *
 *   select {                      ringo_case_t cases[] = {
 *   case v := <-ch1:                  RINGO_RECV(ch1, &v),
 *   case v, ok := <-ch2:              RINGO_RECV(ch2, &v),   ok in cases[1].ok
 *   case ch3 <- x:                    RINGO_SEND(ch3, &x),
 *   case <-time.After(d):             RINGO_TIMEOUT(d),   (or RINGO_RECV(ringo_after(d), NULL))
 *   default:                          RINGO_DEFAULT,
 *   }                             };
 *                                 switch (ringo_select(cases, n)) { case 0: ... }
 *   done := make(chan struct{})   ringo_chan_make(0, 0)
 *   close(done)                   ringo_chan_close(done): wakes every receiver
 *
 * Among ready cases select picks one uniformly at random, as Go does.
 * Channels are reference counted: a fiber that uses a channel beyond its
 * creator's lifetime takes its own reference with ringo_chan_ref before
 * ringo_go and drops it with ringo_chan_unref when done.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- select over two channels ---------------------------------------------------------- */

struct later_args { ringo_chan_t *out; const char *msg; ringo_duration_t delay; };

/* Sends msg on out after delay. */
static void send_later(void *arg)
{
    struct later_args *a = arg;
    ringo_sleep(a->delay);
    ringo_chan_send(a->out, &a->msg);
    ringo_chan_unref(a->out);
}

static void start_send_later(ringo_chan_t *out, const char *msg, ringo_duration_t delay)
{
    struct later_args a = {ringo_chan_ref(out), msg, delay};
    ringo_go_copy(send_later, &a, sizeof a);
}

static void two_channels(void)
{
    ringo_chan_t *c1 = ringo_chan_make(sizeof(const char *), 0);
    ringo_chan_t *c2 = ringo_chan_make(sizeof(const char *), 0);
    start_send_later(c1, "one", 10 * RINGO_MILLISECOND);
    start_send_later(c2, "two", 20 * RINGO_MILLISECOND);

    bool got1 = false, got2 = false;
    for (int n = 0; n < 2; n++) {
        const char *msg = NULL;
        ringo_case_t cases[] = {RINGO_RECV(c1, &msg), RINGO_RECV(c2, &msg)};
        switch (ringo_select(cases, 2)) {
        case 0:
            check(!got1 && strcmp(msg, "one") == 0, "c1 carries one");
            got1 = true;
            break;
        case 1:
            check(!got2 && strcmp(msg, "two") == 0, "c2 carries two");
            got2 = true;
            break;
        default:
            check(false, "select index");
        }
        printf("select: received %s\n", msg);
    }
    check(got1 && got2, "both channels heard");

    /* When several cases are ready the choice is random: fill two buffers
     * and count which side each select takes. A send case takes part too. */
    ringo_chan_t *a = ringo_chan_make(sizeof(int), 1000);
    ringo_chan_t *b = ringo_chan_make(sizeof(int), 1000);
    ringo_chan_t *sink = ringo_chan_make(sizeof(int), 1000);
    for (int i = 0; i < 1000; i++) {
        ringo_chan_send(a, &i);
        ringo_chan_send(b, &i);
    }
    int hits[3] = {0}, v, x = 7;
    for (int i = 0; i < 1500; i++) {
        ringo_case_t cases[] = {RINGO_RECV(a, &v), RINGO_RECV(b, &v), RINGO_SEND(sink, &x)};
        int k = ringo_select(cases, 3);
        check(k >= 0 && k < 3, "select index");
        hits[k]++;
    }
    printf("select: 1500 selects with three ready cases chose %d / %d / %d\n",
           hits[0], hits[1], hits[2]);
    for (int k = 0; k < 3; k++)
        check(hits[k] > 300, "uniform choice among ready cases");   /* expect ~500 each */
    ringo_chan_unref(a);
    ringo_chan_unref(b);
    ringo_chan_unref(sink);
    ringo_chan_unref(c1);
    ringo_chan_unref(c2);
}

/* ---- timeouts --------------------------------------------------------------------------- */

static void timeouts(void)
{
    /* The result channel has room for one, so the slow worker can always
     * deliver and finish even if nobody is listening any more: the C twin of
     * Go's advice against leaking a goroutine blocked on its send. */
    ringo_chan_t *result = ringo_chan_make(sizeof(const char *), 1);
    start_send_later(result, "slow answer", 100 * RINGO_MILLISECOND);

    const char *msg = NULL;
    int64_t start = ringo_now();
    ringo_case_t cases[] = {RINGO_RECV(result, &msg), RINGO_TIMEOUT(20 * RINGO_MILLISECOND)};
    int k = ringo_select(cases, 2);
    int64_t waited = ringo_now() - start;
    check(k == 1, "the timeout fires before a 100 ms answer");
    check(waited >= 20 * RINGO_MILLISECOND, "timeout waited at least 20 ms");
    printf("timeout: gave up after %lld ms\n", (long long)(waited / RINGO_MILLISECOND));

    /* time.After(d) is a real channel: the caller owns a reference. */
    ringo_chan_t *after = ringo_after(2 * RINGO_SECOND);
    check(after != NULL, "ringo_after");
    ringo_case_t late[] = {RINGO_RECV(result, &msg), RINGO_RECV(after, NULL)};
    k = ringo_select(late, 2);
    check(k == 0 && strcmp(msg, "slow answer") == 0, "the answer beats a 2 s time.After");
    printf("timeout: with a longer deadline the %s arrived\n", msg);
    ringo_chan_unref(after);            /* fired or not, drop it */
    ringo_chan_unref(result);
}

/* ---- default: non-blocking operations ----------------------------------------------------- */

static void non_blocking(void)
{
    ringo_chan_t *ch = ringo_chan_make(sizeof(int), 1);
    int v = -1, x = 5;

    ringo_case_t recv[] = {RINGO_RECV(ch, &v), RINGO_DEFAULT};
    check(ringo_select(recv, 2) == 1 && v == -1, "empty channel: default");

    ringo_case_t send[] = {RINGO_SEND(ch, &x), RINGO_DEFAULT};
    check(ringo_select(send, 2) == 0, "room in the buffer: the send happens");
    check(ringo_select(send, 2) == 1, "full buffer: default");

    check(ringo_select(recv, 2) == 0 && v == 5, "a ready case beats default");
    puts("default: select never blocks; it takes default only when nothing is ready");
    ringo_chan_unref(ch);
}

/* ---- the done channel ---------------------------------------------------------------------- */

#define WORKERS 4
#define TASKS 40

struct worker_args { int id; ringo_chan_t *done, *tasks, *stopped; };
struct report { int id, processed, sum; };

/* func worker(done <-chan struct{}, tasks <-chan int) */
static void worker(void *arg)
{
    struct worker_args *a = arg;
    struct report r = {a->id, 0, 0};
    for (;;) {
        int task;
        ringo_case_t cases[] = {RINGO_RECV(a->done, NULL), RINGO_RECV(a->tasks, &task)};
        if (ringo_select(cases, 2) == 0)
            break;                      /* done was closed: shut down */
        ringo_sleep(RINGO_MILLISECOND);   /* "process(task)" */
        r.processed++;
        r.sum += task;
    }
    ringo_chan_send(a->stopped, &r);
    ringo_chan_unref(a->done);
    ringo_chan_unref(a->tasks);
    ringo_chan_unref(a->stopped);
}

static void done_channel(void)
{
    ringo_chan_t *done = ringo_chan_make(0, 0);        /* chan struct{} */
    ringo_chan_t *tasks = ringo_chan_make(sizeof(int), 0);
    ringo_chan_t *stopped = ringo_chan_make(sizeof(struct report), WORKERS);

    for (int i = 0; i < WORKERS; i++) {
        struct worker_args a = {i, ringo_chan_ref(done), ringo_chan_ref(tasks),
                                ringo_chan_ref(stopped)};
        ringo_go_copy(worker, &a, sizeof a);
    }
    int want = 0;
    for (int t = 1; t <= TASKS; t++) {
        ringo_chan_send(tasks, &t);     /* unbuffered: some worker took it */
        want += t;
    }

    /* One close reaches every worker: it broadcasts, where a send would
     * wake just one receiver. */
    ringo_chan_close(done);

    int processed = 0, sum = 0;
    bool seen[WORKERS] = {false};
    for (int i = 0; i < WORKERS; i++) {
        struct report r;
        check(ringo_chan_recv(stopped, &r), "stop report");
        check(r.id >= 0 && r.id < WORKERS && !seen[r.id], "one report per worker");
        seen[r.id] = true;
        printf("done: worker %d shut down after %d tasks\n", r.id, r.processed);
        processed += r.processed;
        sum += r.sum;
    }
    check(processed == TASKS && sum == want, "every task processed exactly once");
    printf("done: closing one channel stopped all %d workers\n", WORKERS);
    ringo_chan_unref(done);
    ringo_chan_unref(tasks);
    ringo_chan_unref(stopped);
}

static void main_fiber(void *arg)
{
    (void)arg;
    two_channels();
    timeouts();
    non_blocking();
    done_channel();
    puts("select: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}

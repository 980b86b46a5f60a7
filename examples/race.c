/* examples/race.c - a data race (chapter 7 of docs/guide.md)
 * and its three fixes, and ringo's `go test -race`.
 *
 *   counter++ from fibers on 2 workers   a data race: ThreadSanitizer reports it
 *   fix 1: sync.Mutex                ringo_mutex_lock / unlock around it
 *   fix 2: atomic.Int64              atomic_fetch_add
 *   fix 3: a channel to one owner    every fiber sends +1; one fiber sums
 *
 * `example_race racy` runs the racy counter: in the ThreadSanitizer build
 * (scripts/test.sh's tsan run) the test suite expects the race report; in
 * other builds it just prints what it got (often not 1000). `example_race
 * fixed` runs the three fixes and checks each counts exactly 1000; the
 * suite runs it in every build, TSan included, which must stay silent.
 */
#include <ringo.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define N 1000

static ringo_waitgroup_t wg;

/* ---- the race ---------------------------------------------------------------------- */

static volatile int racy_counter;  /* volatile: keep every increment */

#define RACERS 4
#define RACY_INCS 200000

static void racy_inc(void *arg)
{
    (void)arg;
    /* No yield: while one runs on each worker, their increments overlap
     * in real time with nothing ordering them - the race the detector
     * must see (and why the count comes out short). */
    for (int i = 0; i < RACY_INCS; i++)
        racy_counter++;             /* DATA RACE: unsynchronized write */
    ringo_waitgroup_done(&wg);
}

/* ---- fix 1: a mutex ------------------------------------------------------------------ */

static ringo_mutex_t mu;
static int mutex_counter;

static void mutex_inc(void *arg)
{
    (void)arg;
    ringo_mutex_lock(&mu);
    mutex_counter++;
    ringo_mutex_unlock(&mu);
    ringo_waitgroup_done(&wg);
}

/* ---- fix 2: an atomic ------------------------------------------------------------------ */

static _Atomic long atomic_counter;

static void atomic_inc(void *arg)
{
    (void)arg;
    atomic_fetch_add(&atomic_counter, 1);
    ringo_waitgroup_done(&wg);
}

/* ---- fix 3: share memory by communicating --------------------------------------------- */

static void send_one(void *arg)
{
    ringo_chan_t *updates = arg;        /* this fiber's own reference */
    int delta = 1;
    ringo_chan_send(updates, &delta);
    ringo_chan_unref(updates);
    ringo_waitgroup_done(&wg);
}

static int run_fixed(void)
{
    int bad = 0;

    ringo_waitgroup_add(&wg, N);
    for (int i = 0; i < N; i++)
        ringo_go(mutex_inc, NULL);
    ringo_waitgroup_wait(&wg);
    printf("mutex:   %d\n", mutex_counter);
    bad |= mutex_counter != N;

    ringo_waitgroup_add(&wg, N);
    for (int i = 0; i < N; i++)
        ringo_go(atomic_inc, NULL);
    ringo_waitgroup_wait(&wg);
    printf("atomic:  %ld\n", atomic_load(&atomic_counter));
    bad |= atomic_load(&atomic_counter) != N;

    /* One owner (this fiber) holds the counter; others only send deltas. */
    ringo_chan_t *updates = ringo_chan_make(sizeof(int), 0);
    ringo_waitgroup_add(&wg, N);
    for (int i = 0; i < N; i++)
        ringo_go(send_one, ringo_chan_ref(updates));
    int counter = 0, delta;
    for (int i = 0; i < N; i++) {
        ringo_chan_recv(updates, &delta);
        counter += delta;
    }
    ringo_waitgroup_wait(&wg);
    ringo_chan_unref(updates);
    printf("channel: %d\n", counter);
    bad |= counter != N;
    return bad;
}

static int mode_racy, failed;

static void main_fiber(void *arg)
{
    (void)arg;
    if (mode_racy) {
        ringo_waitgroup_add(&wg, RACERS);
        for (int i = 0; i < RACERS; i++)
            ringo_go(racy_inc, NULL);
        ringo_waitgroup_wait(&wg);
        printf("racy:    %d (want %d; the race detector flags this)\n", racy_counter,
               RACERS * RACY_INCS);
        return;
    }
    failed = run_fixed();
}

int main(int argc, char **argv)
{
    mode_racy = argc > 1 && strcmp(argv[1], "racy") == 0;
    ringo_config_t cfg = {.workers = 2};
    if (ringo_run(&cfg, main_fiber, NULL) < 0)
        return 1;
    if (failed)
        puts("FAILED: a fixed counter was wrong");
    return failed;
}

/* examples/threads.c - ringo from plain threads, and ringo_stats.
 *
 * Channels, select over channels and timeouts, and the sync types work
 * from threads ringo did not start: such a thread blocks on a futex where a
 * fiber would park. ringo_go works from them too. Here:
 *   - a plain thread produces into a channel a fiber consumes;
 *   - a fiber produces into a channel a plain thread consumes;
 *   - a plain thread starts fibers with ringo_go and waits for them with a
 *     WaitGroup;
 *   - fibers and a plain thread share one Mutex-guarded counter;
 *   - the fiber that must join a thread does it through ringo_blocking, so
 *     its worker is not blocked meanwhile.
 * Then ringo_stats and ringo_worker_stats report what the workers did.
 *
 * Ownership is the same as between fibers: a thread that uses a channel
 * after its creator may drop it holds its own reference.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it.
 */
#include "example.h"

#include <errno.h>
#include <pthread.h>

#define N 200

static ringo_mutex_t mu;
static long counter;            /* guarded by mu */

static void add_under_lock(int times)
{
    for (int i = 0; i < times; i++) {
        ringo_mutex_lock(&mu);
        counter++;
        ringo_mutex_unlock(&mu);
    }
}

static void *thread_producer(void *arg)       /* a plain thread */
{
    ringo_chan_t *ch = arg;                   /* own reference */
    for (int i = 1; i <= N; i++)
        ringo_chan_send(ch, &i);
    ringo_chan_close(ch);
    ringo_chan_unref(ch);
    add_under_lock(N);
    return NULL;
}

static void *thread_consumer(void *arg)
{
    ringo_chan_t *ch = arg;                   /* own reference */
    long sum = 0;
    int v;
    RINGO_CHAN_FOREACH(ch, v)
        sum += v;
    ringo_chan_unref(ch);
    return (void *)(intptr_t)sum;
}

static void fiber_helper(void *arg)
{
    add_under_lock(N);
    ringo_waitgroup_done(arg);
}

static void *thread_spawner(void *arg)
{
    (void)arg;
    ringo_waitgroup_t wg = {0};
    for (int i = 0; i < 4; i++) {
        ringo_waitgroup_add(&wg, 1);
        if (ringo_go(fiber_helper, &wg) != 0)
            ringo_waitgroup_done(&wg);
    }
    ringo_waitgroup_wait(&wg);                /* a thread waiting for fibers */
    return NULL;
}

static void *join_thread(void *arg)           /* run by ringo_blocking */
{
    void *ret = NULL;
    pthread_join(*(pthread_t *)arg, &ret);
    return ret;
}

static void main_fiber(void *arg)
{
    (void)arg;
    pthread_t producer, consumer, spawner;

    /* thread -> fiber */
    ringo_chan_t *in = ringo_chan_make(sizeof(int), 0);
    check(in != NULL, "ringo_chan_make");
    check(pthread_create(&producer, NULL, thread_producer, ringo_chan_ref(in)) == 0, "pthread_create");
    long sum = 0;
    int v;
    RINGO_CHAN_FOREACH(in, v)
        sum += v;
    ringo_chan_unref(in);
    check(sum == (long)N * (N + 1) / 2, "the fiber received every value the thread sent");

    /* fiber -> thread */
    ringo_chan_t *out = ringo_chan_make(sizeof(int), 4);
    check(out != NULL, "ringo_chan_make");
    check(pthread_create(&consumer, NULL, thread_consumer, ringo_chan_ref(out)) == 0, "pthread_create");
    for (int i = 1; i <= N; i++)
        ringo_chan_send(out, &i);
    ringo_chan_close(out);
    ringo_chan_unref(out);

    /* a thread spawning fibers */
    check(pthread_create(&spawner, NULL, thread_spawner, NULL) == 0, "pthread_create");

    long thread_sum = (long)(intptr_t)ringo_blocking(join_thread, &consumer);
    check(thread_sum == (long)N * (N + 1) / 2, "the thread received every value the fiber sent");
    ringo_blocking(join_thread, &producer);
    ringo_blocking(join_thread, &spawner);
    ringo_mutex_lock(&mu);
    check(counter == 5 * N, "fibers and a thread shared the mutex");
    ringo_mutex_unlock(&mu);
    puts("threads: channels both ways, ringo_go and a WaitGroup from a thread, a shared mutex");

    ringo_stats_t s;
    ringo_stats(&s);
    printf("stats: %u workers, %llu fibers now, %llu switches, %llu parks, %llu spawns, "
           "%llu steals, %llu rescues\n", s.workers, (unsigned long long)s.fibers,
           (unsigned long long)s.total.switches, (unsigned long long)s.total.parks,
           (unsigned long long)s.total.spawns, (unsigned long long)s.total.steals,
           (unsigned long long)s.total.rescues);
    check(s.workers == 2, "two workers, as configured");
    check(s.total.switches > 0 && s.total.parks > 0, "the counters count");
    uint64_t switches = 0;
    for (unsigned i = 0; i < s.workers; i++) {
        ringo_worker_stats_t w;
        check(ringo_worker_stats(i, &w) == 0, "ringo_worker_stats");
        printf("  worker %u: %llu switches, %llu submits, %llu completions, %llu sleeps\n", i,
               (unsigned long long)w.switches, (unsigned long long)w.submits,
               (unsigned long long)w.completions, (unsigned long long)w.sleeps);
        switches += w.switches;
    }
    ringo_worker_stats_t none;
    check(ringo_worker_stats(1000, &none) == -EINVAL, "a bad index is -EINVAL");
    check(switches > 0, "the workers' own counters count too");
    puts("ok");
}

int main(void)
{
    ringo_config_t cfg = {.workers = 2};
    if (ringo_run(&cfg, main_fiber, NULL) < 0)
        return 1;
    return 0;
}

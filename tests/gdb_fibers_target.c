/* tests/gdb_fibers_target.c - the program gdb_fibers.py inspects with gdb.
 *
 * On two workers it parks 1,000 fibers, 250 in each of four functions, each
 * blocked a different way: park_on_chan (a channel receive, one frame deeper
 * in receive_one), park_on_mutex (a held mutex), park_in_sleep (an hour's
 * sleep) and park_in_select (a select on two silent channels). One more
 * fiber, spin_until_told, keeps running on its worker. Once every one of
 * them is parked, or running for the spinner (watched through their
 * records, no sleeps), it prints
 *     ready <pid> chan=<id> mutex=<id> sleep=<id> select=<id> spin=<id>
 * naming one fiber of each kind, and the main fiber blocks reading stdin.
 * It lets any process ptrace it (Yama's ptrace_scope 1 allows only
 * ancestors otherwise). At end of file it stops the spinner and returns: the process exits 0
 * with the parked fibers abandoned, as a Go program's main returning does.
 */
#include <ringo.h>
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PER_KIND 250
#define KINDS 4

static ringo_chan_t *silent, *silent2;
static ringo_mutex_t held;
static _Atomic int stop_spinning;
static _Atomic uint64_t first_id[KINDS + 1];

static void note_id(int kind)
{
    uint64_t expect = 0;
    atomic_compare_exchange_strong(&first_id[kind], &expect, ringo_fiber_id());
}

static __attribute__((noinline)) void receive_one(ringo_chan_t *ch)
{
    int v;
    ringo_chan_recv(ch, &v);
    __asm__ volatile("");       /* keep the call from being a tail call */
}

static __attribute__((noinline)) void park_on_chan(void *arg)
{
    (void)arg;
    note_id(0);
    receive_one(silent);
    __asm__ volatile("");
}

static __attribute__((noinline)) void park_on_mutex(void *arg)
{
    (void)arg;
    note_id(1);
    ringo_mutex_lock(&held);
    ringo_mutex_unlock(&held);
}

static __attribute__((noinline)) void park_in_sleep(void *arg)
{
    (void)arg;
    note_id(2);
    ringo_sleep(3600 * RINGO_SECOND);
    __asm__ volatile("");
}

static __attribute__((noinline)) void park_in_select(void *arg)
{
    (void)arg;
    note_id(3);
    int a, b;
    ringo_case_t cases[] = {RINGO_RECV(silent, &a), RINGO_RECV(silent2, &b)};
    ringo_select(cases, 2);
    __asm__ volatile("");
}

static __attribute__((noinline)) void spin_until_told(void *arg)
{
    (void)arg;
    note_id(KINDS);
    while (!atomic_load(&stop_spinning))
        ;
}

struct census {
    unsigned parked, spinning;
    ringo__fiber_t *self;
};

static void count_one(ringo__fiber_t *f, void *arg)
{
    struct census *c = arg;
    int s = atomic_load(&f->state);
    if (f == c->self)
        return;
    if (s == RINGO__FIBER_PARKED)
        c->parked++;
    else if (s == RINGO__FIBER_RUNNING && f->fn == spin_until_told)
        c->spinning++;
}

static void main_fiber(void *arg)
{
    int *status = arg;
    silent = ringo_chan_make(sizeof(int), 0);
    silent2 = ringo_chan_make(sizeof(int), 0);
    ringo_mutex_lock(&held);
    void (*const kinds[KINDS])(void *) = {park_on_chan, park_on_mutex, park_in_sleep,
                                         park_in_select};
    for (int i = 0; i < PER_KIND * KINDS; i++)
        if (ringo_go(kinds[i % KINDS], NULL) != 0) {
            fprintf(stderr, "gdb_fibers_target: ringo_go failed\n");
            exit(1);
        }
    if (ringo_go(spin_until_told, NULL) != 0)
        exit(1);

    for (;;) {
        struct census c = {.self = ringo__current()};
        ringo__fibers_foreach(count_one, &c);
        if (c.parked == PER_KIND * KINDS && c.spinning == 1)
            break;
        ringo_yield();
    }
    printf("ready %d chan=%llu mutex=%llu sleep=%llu select=%llu spin=%llu\n", (int)getpid(),
           (unsigned long long)first_id[0], (unsigned long long)first_id[1],
           (unsigned long long)first_id[2], (unsigned long long)first_id[3],
           (unsigned long long)first_id[4]);
    fflush(stdout);

    char buf[64];
    while (ringo_read(NULL, 0, buf, sizeof(buf)) > 0)
        ;
    atomic_store(&stop_spinning, 1);
    *status = 0;
}

int main(void)
{
    /* Under Yama's ptrace_scope 1 only an ancestor may attach; gdb is a
     * sibling here. Fails harmlessly where Yama is absent. */
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    int status = 1;
    ringo_config_t cfg = {.workers = 2};
    int rc = ringo_run(&cfg, main_fiber, &status);
    if (rc != 0) {
        fprintf(stderr, "gdb_fibers_target: ringo_run: %d\n", rc);
        return 1;
    }
    return status;
}

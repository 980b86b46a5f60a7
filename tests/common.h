/* tests/common.h - helpers shared by the cmocka tests.
 *
 * run_main()     runs fn on a fresh runtime with n workers and asserts that
 *                ringo_run succeeded.
 * iters()        scales a stress count by RINGO_TEST_ITERS (a percentage;
 *                the sanitizer test setups lower it).
 * death_test()   forks, runs fn in the child with stderr captured, and
 *                checks that the child died by the expected signal (or exit
 *                status) and printed the expected text: Go's panics and
 *                fatal errors end the process, so that is how they are tested.
 * CHECK()        counts a failure in a fiber other than main (cmocka cannot
 *                unwind those); run_checked() runs fn and asserts none.
 * wait_parked(), report_self(), await_report()
 *                learn that a fiber is blocked by watching its state, never
 *                by sleeping.
 * signal_done(), await_done(), await_hellos()
 *                small channel handshakes between fibers and pthreads.
 */
#ifndef RINGO_TESTS_COMMON_H
#define RINGO_TESTS_COMMON_H

#include <ringo.h>
#include "internal.h"      /* ringo__fiber_t, ringo__current() */
#include "sanitizer.h"     /* RINGO_TSAN / RINGO_ASAN */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void run_main(unsigned workers, void (*fn)(void *), void *arg)
{
    ringo_config_t cfg = {.workers = workers};
    int rc = ringo_run(&cfg, fn, arg);
    assert_int_equal(rc, 0);
}

static inline long iters(long base)
{
    const char *s = getenv("RINGO_TEST_ITERS");
    long pct = s ? strtol(s, NULL, 10) : 100;
    if (pct <= 0)
        pct = 100;
    long n = base * pct / 100;
    return n > 0 ? n : 1;
}

/* ThreadSanitizer gives each fiber a thread context and allows about 8,000
 * at once: tests that park huge numbers of fibers cap them there. */
/* How much slower than native the tool running us makes time-bounded
 * checks: Valgrind runs one thread at a time, many times slower. Bounds on
 * lateness are multiplied by it. */
static inline int64_t time_slack(void)
{
    return ringo__on_valgrind() ? 20 : 1;
}

static inline long live_cap(long n)
{
#ifdef RINGO_TSAN
    return n > 4000 ? 4000 : n;
#else
    return n;
#endif
}

static inline int64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (int64_t)res * sysconf(_SC_PAGESIZE);
}

/* Failures counted by CHECK in fibers other than main (cmocka cannot unwind
 * them); run_checked() resets it and asserts it stayed zero. */
static atomic_int check_errors __attribute__((unused));

#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            atomic_fetch_add(&check_errors, 1);                                  \
        }                                                                        \
    } while (0)

/* run_main() for tests whose fibers report failures with CHECK. */
static inline void run_checked(unsigned workers, void (*fn)(void *), void *arg)
{
    atomic_store(&check_errors, 0);
    run_main(workers, fn, arg);
    assert_int_equal(atomic_load(&check_errors), 0);
}

/* Blocks until fiber f has parked: the tests learn that a fiber is blocked
 * by watching its state, never by sleeping. A fiber reports its
 * ringo__current() on a buffered channel (which does not park it) right
 * before the one operation that may block (report_self / await_report). A
 * fiber that spins or yields while it waits is RUNNABLE/RUNNING, not
 * PARKED, so this waits it out. */
static inline void wait_parked(ringo__fiber_t *f)
{
    while (atomic_load(&f->state) != RINGO__FIBER_PARKED)
        ringo_yield();
}

/* Sends the calling fiber on who (cap 1+) without parking, for wait_parked. */
static inline void report_self(ringo_chan_t *who)
{
    ringo__fiber_t *self = ringo__current();
    assert_int_equal(ringo_chan_try_send(who, &self), 0);
}

/* Receives a fiber that report_self() sent on who. */
static inline ringo__fiber_t *await_report(ringo_chan_t *who)
{
    ringo__fiber_t *f = NULL;
    assert_true(ringo_chan_recv(who, &f));
    assert_non_null(f);
    return f;
}

/* Sends the int token 1 on done (cap >= 1 or a waiting receiver). */
static inline void signal_done(ringo_chan_t *done)
{
    int one = 1;
    ringo_chan_send(done, &one);
}

/* Receives n tokens from done (an int channel), asserting each arrives. */
static inline void await_done(ringo_chan_t *done, long n)
{
    for (long i = 0; i < n; i++) {
        int v = 0;
        assert_true(ringo_chan_recv(done, &v));
    }
}

/* A handshake with plain threads: each thread says hello on a channel once
 * it runs, and the fiber that started them polls for n hellos without
 * parking, so that what the test does next overlaps the threads' work. (The
 * deadlock check needs no such help: it counts every thread that is not
 * the runtime's own as a possible waker.) */
static inline void await_hellos(ringo_chan_t *hello, int n)
{
    for (int got = 0; got < n;) {
        if (ringo_chan_try_recv(hello, NULL) == 0)
            got++;
        else
            ringo_yield();
    }
}

/* Child outcome of a death test. */
struct death {
    int signal;         /* terminating signal, 0 if it exited */
    int status;         /* exit status if it exited */
    char out[65536];    /* what it wrote to stderr (and stdout) */
};

static inline void death_run(void (*fn)(void), struct death *d)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        dup2(p[1], 1);
        /* No core files from deliberate aborts. */
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], d->out + len, sizeof(d->out) - 1 - len)) > 0)
        len += (size_t)n;
    d->out[len] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    d->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    d->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Asserts the child aborted (SIGABRT) and printed want. */
static inline void death_test(void (*fn)(void), const char *want)
{
    static struct death d;
    death_run(fn, &d);
    if (d.signal != SIGABRT || !strstr(d.out, want)) {
        fprintf(stderr, "death test: signal %d status %d, wanted SIGABRT and \"%s\"; output:\n%s\n",
                d.signal, d.status, want, d.out);
        fail();
    }
}

/* Asserts the child was stopped by a ThreadSanitizer data race report
 * (TSAN_OPTIONS has halt_on_error=1, exit code 66) that names every string
 * in want (NULL-terminated): the function names of both sides, say. Go's
 * runtime/race tests, as a death test. Only meaningful in a TSan build. */
static inline void race_test(void (*fn)(void), const char *const *want)
{
    static struct death d;
    death_run(fn, &d);
    bool ok = d.signal == 0 && d.status == 66 &&
              strstr(d.out, "WARNING: ThreadSanitizer: data race") != NULL;
    for (const char *const *w = want; ok && *w; w++)
        ok = strstr(d.out, *w) != NULL;
    if (!ok) {
        fprintf(stderr, "race test: signal %d status %d, wanted a TSan data race report naming:",
                d.signal, d.status);
        for (const char *const *w = want; *w; w++)
            fprintf(stderr, " \"%s\"", *w);
        fprintf(stderr, "; output:\n%s\n", d.out);
        fail();
    }
}

#endif

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
 */
#ifndef RINGO_TESTS_COMMON_H
#define RINGO_TESTS_COMMON_H

#include <ringo.h>
#include "sanitizer.h"     /* RINGO_TSAN / RINGO_ASAN */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
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

#endif

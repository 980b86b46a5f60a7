/*
 * bench.h: the plumbing every benchmark program in bench/ shares.
 *
 * Each program is built with -DBENCH_NAME="<name>" (bench/meson.build), the
 * name compare.py runs it under and the one its last line starts with:
 * "<name>: VALUE UNIT". The helpers below prefix their messages with it, so
 * one source can be built as two programs (pingpong and pingpong_x,
 * buffered_1x1 and buffered_4x4).
 *
 * Conventions: a bad BENCH_N exits 2; any other failure (ringo_run, a failed
 * call inside the benchmark, a wrong result) prints "<name>: ..." on stderr
 * and exits 1; stdout gets only "# ..." detail lines and the result line.
 */
#ifndef RINGO_BENCH_H
#define RINGO_BENCH_H

#include <ringo.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME (bench/meson.build passes -DBENCH_NAME=\"<program>\")"
#endif

/* "<name>: <message>" on stderr, then exit(1). */
__attribute__((format(printf, 1, 2)))
static inline _Noreturn void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(BENCH_NAME ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The benchmark's size: BENCH_N if set; else def / 1000 (at least 1) when
 * RINGO_BENCH_QUICK=1, the smoke pass of `scripts/bench.sh --quick` that
 * checks every result without timing anything (a power of 10 stays one, as
 * skynet and ctx_cancel need); else def. The Go twins' bench.Program.N does
 * the same. */
static inline int64_t bench_n(int64_t def)
{
    const char *s = getenv("BENCH_N");
    if (s == NULL || *s == '\0') {
        const char *quick = getenv("RINGO_BENCH_QUICK");
        if (quick != NULL && strcmp(quick, "1") == 0)
            return def / 1000 > 0 ? def / 1000 : 1;
        return def;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0) {
        fprintf(stderr, BENCH_NAME ": bad BENCH_N '%s'\n", s);
        exit(2);
    }
    return v;
}

/* ringo_run(NULL, fn, NULL); exits 1 if the runtime itself fails. */
/* BENCH_STATS=1: after the benchmark's main fiber returns, print each
 * worker's scheduler counters as "# " lines (where time went: steals,
 * wake-ups, sleeps). */
static void (*bench_main_fn)(void *);

static void bench_main_with_stats(void *arg)
{
    bench_main_fn(arg);
    const char *s = getenv("BENCH_STATS");
    if (!s || !*s || *s == '0')
        return;
    ringo_stats_t st;
    ringo_stats(&st);
    for (unsigned i = 0; i < st.workers; i++) {
        ringo_worker_stats_t w;
        if (ringo_worker_stats(i, &w) != 0)
            continue;
        printf("# worker %u: switches %llu steals %llu wakes_sent %llu wakes_received %llu "
               "sleeps %llu submits %llu parks %llu spawns %llu\n", i,
               (unsigned long long)w.switches, (unsigned long long)w.steals,
               (unsigned long long)w.wakes_sent, (unsigned long long)w.wakes_received,
               (unsigned long long)w.sleeps, (unsigned long long)w.submits,
               (unsigned long long)w.parks, (unsigned long long)w.spawns);
    }
}

static inline void bench_run(void (*fn)(void *))
{
    bench_main_fn = fn;
    int rc = ringo_run(NULL, bench_main_with_stats, NULL);
    if (rc != 0)
        bench_fail("ringo_run: %s", strerror(-rc));
}

/* The failure a benchmark recorded as (what, -errno), if any: exits 1. */
static inline void bench_check_rc(int rc, const char *what)
{
    if (rc != 0)
        bench_fail("%s: %s", what, strerror(-rc));
}

/* A ringo_go() that failed (rc) at the at-th fiber of a spawn loop: exits 1. */
static inline void bench_check_spawn(int rc, int64_t at)
{
    if (rc != 0)
        bench_fail("ringo_go failed at fiber %lld: %s", (long long)at, strerror(-rc));
}

/* Every benchmark checks a sum of 0..N-1 (or of its inputs): exits 1 if off. */
static inline void bench_check_sum(int64_t got, int64_t want)
{
    if (got != want)
        bench_fail("sum %lld, want %lld", (long long)got, (long long)want);
}

/* n*(n-1)/2, the sum of 0..n-1. */
static inline int64_t bench_triangle(int64_t n)
{
    return n * (n - 1) / 2;
}

/* One fiber's share [lo, hi) of a benchmark's operations (bench_fan_out). */
struct bench_range {
    int64_t lo, hi;
};

/* Spawns `fibers` copies of fn, each given its own struct bench_range (by
 * value, ringo_go_copy) of the n operations, all registered on wg before
 * any runs. A failed spawn takes back the fibers that will never call
 * ringo_waitgroup_done, sets *failed_at and returns its -errno (the fibers
 * already started still finish); 0 otherwise. */
static inline int bench_fan_out(void (*fn)(void *), int fibers, int64_t n, ringo_waitgroup_t *wg,
                                int64_t *failed_at)
{
    ringo_waitgroup_add(wg, fibers);
    for (int f = 0; f < fibers; f++) {
        struct bench_range r = {n * f / fibers, n * (f + 1) / fibers};
        int rc = ringo_go_copy(fn, &r, sizeof r);
        if (rc != 0) {
            *failed_at = f;
            ringo_waitgroup_add(wg, -(fibers - f));
            return rc;
        }
    }
    return 0;
}

/* Nanoseconds as milliseconds, for the "# ... total X ms" detail lines. */
static inline double bench_ms(int64_t ns)
{
    return (double)ns / 1e6;
}

/* The result line, always last: "<name>: VALUE UNIT". */
__attribute__((format(printf, 1, 2)))
static inline void bench_result(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(BENCH_NAME ": ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

#endif

/* examples/example.h - the two things every self-checking example shares:
 * check(), which ends the program with "FAILED: <what>" when a property the
 * example demonstrates does not hold (the test suite runs the examples),
 * example_run(), main's body: run the example's main fiber on a fresh
 * runtime; and example_fibers_reach(), a bounded wait for fibers that were
 * told to end to finish ending, before a leak check. */
#ifndef RINGO_EXAMPLE_H
#define RINGO_EXAMPLE_H

#include <ringo.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static inline void check(bool ok, const char *what)
{
    if (!ok) {
        printf("FAILED: %s\n", what);
        exit(1);
    }
}

static inline int example_run(void (*main_fiber)(void *))
{
    int rc = ringo_run(NULL, main_fiber, NULL);
    if (rc < 0) {
        fprintf(stderr, "ringo_run: %d\n", rc);
        return 1;
    }
    return 0;
}

/* Waits (at most 10 s, checking every millisecond) until exactly n fibers
 * exist; true if they do. */
static inline bool example_fibers_reach(size_t n)
{
    int64_t start = ringo_now();
    while (ringo_num_fibers() != n && ringo_now() - start < 10 * RINGO_SECOND)
        ringo_sleep(RINGO_MILLISECOND);
    return ringo_num_fibers() == n;
}

#endif

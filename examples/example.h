/* examples/example.h - the two things every self-checking example shares:
 * check(), which ends the program with "FAILED: <what>" when a property the
 * example demonstrates does not hold (the test suite runs the examples),
 * and example_run(), main's body: run the example's main fiber on a fresh
 * runtime. */
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

#endif

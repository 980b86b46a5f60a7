/* examples/goroutines.c - goroutines as fibers (chapter 1 of docs/guide.md).
 *
 *   go doSomething()          ringo_go(do_something, arg)
 *   main returning            ends every other fiber, as in Go
 *   runtime.Goexit()          ringo_exit()
 *   the loop-variable bug     passing &item to every fiber: all see the last
 *   and its fix               ringo_go_copy(fn, &item, sizeof item)
 *
 * Channels and WaitGroups arrive with the sync layer; until then this
 * example waits with an atomic counter and ringo_sleep. It checks its own
 * results and exits non-zero if anything is off, so the test suite runs it.
 */
#include <ringo.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int finished;

static void wait_finished(int n)
{
    while (atomic_load(&finished) < n)
        ringo_sleep(RINGO_MILLISECOND);
    atomic_store(&finished, 0);
}

/* ---- go doSomething() ---------------------------------------------------------- */

static void say_hello(void *arg)
{
    printf("hello from fiber %llu (%s)\n", (unsigned long long)ringo_fiber_id(),
           (const char *)arg);
    atomic_fetch_add(&finished, 1);
}

/* ---- Goexit ---------------------------------------------------------------------- */

static void leaves_early(void *arg)
{
    (void)arg;
    atomic_fetch_add(&finished, 1);
    ringo_exit();                   /* like runtime.Goexit: the rest never runs */
    puts("unreachable");
    exit(1);
}

/* ---- the loop-variable bug and its fix ---------------------------------------------- */

struct item {
    int id;
};

static int seen_by_pointer[5], seen_by_copy[5];

static void process_shared(void *arg)
{
    /* BUG: arg points at the caller's one loop variable; by the time this
     * runs the loop has moved on (usually to its end). */
    const struct item *it = arg;
    if (it->id >= 0 && it->id < 5)
        seen_by_pointer[it->id]++;
    atomic_fetch_add(&finished, 1);
}

static void process_copy(void *arg)
{
    /* FIX: ringo_go_copy gave this fiber its own copy of the item. */
    const struct item *it = arg;
    seen_by_copy[it->id]++;
    atomic_fetch_add(&finished, 1);
}

/* ---- main returning kills the rest ----------------------------------------------------- */

static void may_never_print(void *arg)
{
    (void)arg;
    ringo_sleep(RINGO_SECOND);
    puts("this may never print");   /* main is long gone */
    exit(1);
}

static void main_fiber(void *arg)
{
    (void)arg;
    ringo_go(say_hello, "fire and forget");
    wait_finished(1);

    ringo_go(leaves_early, NULL);
    wait_finished(1);

    struct item item = {-1};
    for (item.id = 0; item.id < 5; item.id++)
        ringo_go(process_shared, &item);
    wait_finished(5);
    int distinct = 0;
    for (int i = 0; i < 5; i++)
        distinct += seen_by_pointer[i] != 0;
    printf("shared pointer: %d of 5 fibers saw their own item\n", distinct);

    for (item.id = 0; item.id < 5; item.id++)
        ringo_go_copy(process_copy, &item, sizeof(item));
    wait_finished(5);
    for (int i = 0; i < 5; i++) {
        if (seen_by_copy[i] != 1) {
            printf("copy: item %d seen %d times\n", i, seen_by_copy[i]);
            exit(1);
        }
    }
    puts("ringo_go_copy: each of 5 fibers saw its own item");

    ringo_go(may_never_print, NULL);
    printf("main returns with %zu fibers alive; they end with it\n", ringo_num_fibers());
}

int main(void)
{
    int rc = ringo_run(NULL, main_fiber, NULL);
    if (rc < 0) {
        fprintf(stderr, "ringo_run: %d\n", rc);
        return 1;
    }
    return 0;
}

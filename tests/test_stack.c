/* Description: fiber stacks. Stacks are reused (RSS after ten rounds of
 * 100,000 fibers does not grow); 100,000 fibers can be parked at once with
 * guard pages on; a stack overflow dies with "stack overflow in fiber N
 * (created at file:line by fn)" whether the guard is a MADV_GUARD_INSTALL
 * marker, an mprotect page, or (no guard left) the canary; a 64 KiB frame
 * in code without stack-clash protection faults in the fiber's own guard,
 * leaving its neighbours whole, and a 1 MiB one does with it; two fibers
 * overflowing at once print two whole reports, one after the other; a
 * fiber may use most of its stack legitimately; cfg.stack_size is honoured.
 */
#include "common.h"
#include "internal.h"
#include "sanitizer.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_long counter;

static void wait_for(long want)
{
    while (atomic_load(&counter) < want)
        ringo_sleep(RINGO_MILLISECOND);
}

/* Touches a few KiB of stack, as real fibers do. */
static void touch_and_sleep(void *arg)
{
    volatile char buf[3000];
    buf[0] = (char)(intptr_t)arg;
    buf[sizeof(buf) - 1] = buf[0];
    atomic_fetch_add(&counter, 1);
    ringo_sleep(5 * RINGO_MILLISECOND);
}

static int64_t rss_after[10];

static void reuse_main(void *arg)
{
    (void)arg;
    long n = iters(100000);
    for (int round = 0; round < 10; round++) {
        atomic_store(&counter, 0);
        for (long i = 0; i < n; i++)
            assert_int_equal(ringo_go(touch_and_sleep, (void *)(intptr_t)i), 0);
        wait_for(n);
        while (ringo_num_fibers() > 1)
            ringo_sleep(RINGO_MILLISECOND);
        /* The monitor trims pooled stacks that stayed idle for a whole
         * scavenge period (a second); run two periods' worth now, a few
         * times over, so stacks still on their way back to the pool on a
         * loaded machine are counted out: the settled (lowest) RSS. */
        rss_after[round] = INT64_MAX;
        for (int settle = 0; settle < 5; settle++) {
            ringo__stacks_scavenge(ringo__rt);
            ringo__stacks_scavenge(ringo__rt);
            int64_t rss = resident_bytes();
            if (rss < rss_after[round])
                rss_after[round] = rss;
            ringo_sleep(10 * RINGO_MILLISECOND);
        }
    }
}

static void test_stacks_reused(void **state)
{
    (void)state;
#if defined(RINGO_ASAN) || defined(RINGO_TSAN)
    /* Shadow memory and quarantines grow with every touched stack page:
     * RSS says nothing about the pool under a sanitizer. */
    skip();
#endif
    run_main(2, reuse_main, NULL);
    /* Round 1 built the pool; later rounds reuse it. Allow 10% + 8 MiB of
     * noise (malloc arenas, page tables), far below one more round's worth
     * of fresh stacks. */
    int64_t base = rss_after[0];
    for (int r = 1; r < 10; r++) {
        if (rss_after[r] > base + base / 10 + (8 << 20))
            fail_msg("RSS grew: round 1 %lld bytes, round %d %lld bytes",
                     (long long)base, r + 1, (long long)rss_after[r]);
    }
}

/* ---- 100,000 parked at once, guarded ---------------------------------------------- */

static void park_long(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    ringo_sleep(RINGO_HOUR);
}

static void parked_main(void *arg)
{
    (void)arg;
    long n = live_cap(iters(100000));
    atomic_store(&counter, 0);
    for (long i = 0; i < n; i++)
        assert_int_equal(ringo_go(park_long, NULL), 0);
    wait_for(n);
    assert_int_equal(ringo_num_fibers(), (size_t)n + 1);
    /* Guards are on for all of them: madvise markers on this kernel, or
     * mprotect within budget on older ones; never the canary fallback. */
    assert_int_not_equal(ringo__rt->guard_mode, RINGO__GUARD_CANARY);
}

static void test_100k_parked_guarded(void **state)
{
    (void)state;
    run_main(2, parked_main, NULL);
}

/* ---- overflow ------------------------------------------------------------------------ */

static volatile int limit = 1 << 30;   /* never reached: the guard is */

static int recurse(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    pad[511] = pad[0];
    if (depth > limit)
        return 0;
    return recurse(depth + 1) + pad[511];
}

static void overflow_fiber(void *arg)
{
    (void)arg;
    recurse(0);
}

static void overflow_main(void *arg)
{
    (void)arg;
    ringo_go(overflow_fiber, NULL);
    ringo_sleep(RINGO_HOUR);
}

static void overflow_child(void)
{
    ringo_config_t cfg = {.workers = 2};
    ringo_run(&cfg, overflow_main, NULL);
}

static void overflow_with(const char *mode)
{
    setenv("RINGO_STACK_GUARD", mode, 1);
    death_test(overflow_child, "ringo: fatal: stack overflow in fiber ");
    death_test(overflow_child, "by overflow_fiber)");
    death_test(overflow_child, "test_stack.c:");
    unsetenv("RINGO_STACK_GUARD");
}

static void test_overflow_madvise(void **state)
{
    (void)state;
    overflow_with("madvise");
}

static void test_overflow_mprotect(void **state)
{
    (void)state;
    overflow_with("mprotect");
}

/* Canary: the overflow runs into the slot below before anything notices,
 * so the test recurses just past its own stack by a small margin. */
static void small_overflow(void *arg)
{
    (void)arg;
    char *lo = ringo__current()->stack_lo;
    volatile char here;
    /* Write over the canary word, as a too-deep frame would. */
    size_t gap = (size_t)((char *)&here - lo);
    (void)gap;
    memset(lo, 0x42, 64);
    ringo_yield();
}

static void canary_main(void *arg)
{
    (void)arg;
    ringo_go(small_overflow, NULL);
    ringo_sleep(RINGO_HOUR);
}

static void canary_child(void)
{
    ringo_config_t cfg = {.workers = 1};
    setenv("RINGO_STACK_GUARD", "canary", 1);
    ringo_run(&cfg, canary_main, NULL);
}

static void test_overflow_canary(void **state)
{
    (void)state;
    death_test(canary_child, "ringo: fatal: stack overflow in fiber ");
    death_test(canary_child, "by small_overflow)");
}

/* ---- a frame larger than a page --------------------------------------------------------
 * Ordinary C: a 64 KiB buffer on the default 64 KiB stack, in code built
 * without -fstack-clash-protection, half-way down a call chain. Its frame
 * moves the stack pointer past the rest of the stack in one step, and the
 * first byte written is at the frame's bottom. With a one-page guard that byte was in the slot below: the
 * neighbour's fiber record and newest frames were overwritten before the
 * fault (silent corruption, or a dump that crashed on the wrecked record).
 * The guard is now 64 KiB, so the first write faults in the fiber's own
 * guard and the neighbours come through whole. */

__attribute__((noinline, optimize("no-stack-clash-protection")))
static void big_frame(void)
{
    char buf[64 * 1024];
    memset(buf, 0x5a, sizeof(buf));
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* The same frame further down a call chain, where half the stack is
 * already in use: its bottom lies 32 KiB below the stack, past any guard
 * smaller than the frame itself. */
__attribute__((noinline, optimize("no-stack-clash-protection")))
static void big_frame_deep(void)
{
    volatile char half[32 * 1024];
    half[sizeof(half) - 1] = 1;
    half[0] = 1;
    big_frame();
    half[1] = half[0];
}

/* Built the way ringo.pc's Cflags build user code: each page of the frame
 * is touched from the top down, so even a 1 MiB frame faults in the guard. */
__attribute__((noinline, optimize("stack-clash-protection")))
static void huge_frame(void)
{
    char buf[1024 * 1024];
    memset(buf, 0x5a, sizeof(buf));
    __asm__ volatile("" : : "r"(buf) : "memory");
}

#define NEIGHBOURS 16

static atomic_int neighbours_up;

static void neighbour(void *arg)
{
    (void)arg;
    atomic_fetch_add(&neighbours_up, 1);
    ringo_sleep(RINGO_HOUR);
}

/* The record of the fiber in the slot just below f's guard (slots are
 * adjacent), if that slot holds a parked neighbour. */
static ringo__fiber_t *neighbour_below(ringo__fiber_t *f)
{
    uintptr_t top = (uintptr_t)(f->stack_lo - ringo__rt->guard_size) - sizeof(ringo__fiber_t);
    ringo__fiber_t *below = (ringo__fiber_t *)(top & ~(uintptr_t)(RINGO__CACHELINE - 1));
    if (ringo__stack_guard_owner(f->stack_lo - 1) != f)
        return NULL;            /* no guard here: nothing to check */
    if (below->fn_name == NULL || strcmp(below->fn_name, "neighbour") != 0)
        return NULL;
    while (atomic_load(&below->state) != RINGO__FIBER_PARKED)
        ringo_yield();          /* it is on its way into its sleep */
    return below;
}

static atomic_int big_go;

static void big_frame_fiber(void *arg)
{
    while (!atomic_load(&big_go))
        ringo_yield();
    ringo__fiber_t *below = neighbour_below(ringo__current());
    if (below)
        fprintf(stderr, "neighbour below: fiber %llu\n", (unsigned long long)below->id);
    else
        fprintf(stderr, "no parked neighbour below\n");
    if (arg)
        huge_frame();
    else
        big_frame_deep();
}

/* The fibers spawned around it take the slots around it: the pool hands
 * out a batch's slots from the top down. */
static void big_frame_main(void *arg)
{
    for (int i = 0; i < NEIGHBOURS; i++)
        ringo_go(neighbour, NULL);
    ringo_go(big_frame_fiber, arg);
    for (int i = 0; i < NEIGHBOURS; i++)
        ringo_go(neighbour, NULL);
    while (atomic_load(&neighbours_up) < 2 * NEIGHBOURS)
        ringo_sleep(RINGO_MILLISECOND);
    atomic_store(&big_go, 1);
    ringo_sleep(RINGO_HOUR);
}

static void big_frame_child(void)
{
    ringo_config_t cfg = {.workers = 2};
    ringo_run(&cfg, big_frame_main, NULL);
}

static void huge_frame_child(void)
{
    ringo_config_t cfg = {.workers = 2};
    ringo_run(&cfg, big_frame_main, (void *)1);
}

/* The report names the overflowing fiber, and the dump after it lists every
 * neighbour whole: state, function and creation site. */
static void check_big_frame_report(void (*child)(void))
{
    static struct death d;
    death_run(child, &d);
    unsigned long long below = 0;
    const char *b = strstr(d.out, "neighbour below: fiber ");
    if (b)
        below = strtoull(b + strlen("neighbour below: fiber "), NULL, 10);
    char entry[64];
    snprintf(entry, sizeof(entry), "fiber %llu [sleep, ", below);
    int listed = 0;
    for (const char *s = d.out; (s = strstr(s, "\tneighbour\n\tcreated at ")); s++)
        listed++;
    if (d.signal != SIGABRT || !below || !strstr(d.out, entry) ||
        !strstr(d.out, "ringo: fatal: stack overflow in fiber ") ||
        !strstr(d.out, "by big_frame_fiber)") || listed != 2 * NEIGHBOURS) {
        fprintf(stderr, "signal %d, %d of %d neighbours listed; output:\n%s\n", d.signal, listed,
                2 * NEIGHBOURS, d.out);
        fail();
    }
}

static void test_frame_larger_than_page_spares_neighbours(void **state)
{
    (void)state;
    check_big_frame_report(big_frame_child);
}

static void test_huge_frame_clash_protected(void **state)
{
    (void)state;
    check_big_frame_report(huge_frame_child);
}

/* ---- two overflows at once ---------------------------------------------------------------
 * Two fibers on two workers overflowing together used to print their
 * reports at the same time, line by line into each other. Now each prints
 * its whole report in turn. To catch them together every time, the parent
 * holds the first report up: it reads the child's stderr (a one-page pipe)
 * until the first report starts and then stops reading, so the first
 * reporter blocks mid-dump; only then does it let the second fiber
 * overflow, and it reads on once that fiber's thread is asleep (waiting
 * its turn, or, before the fix, blocked writing into the full pipe). */

#define SLEEPERS 200

static int go_pipe[2], tid_pipe[2];
static atomic_int sleepers_up, second_ready;

static void sleeper(void *arg)
{
    (void)arg;
    atomic_fetch_add(&sleepers_up, 1);
    ringo_sleep(RINGO_HOUR);
}

static void second_overflow(void *arg)
{
    (void)arg;
    atomic_store(&second_ready, 1);
    char c;
    /* Blocks this worker's thread until the parent says go. */
    if (read(go_pipe[0], &c, 1) != 1)
        _exit(3);
    long tid = syscall(SYS_gettid);
    if (write(tid_pipe[1], &tid, sizeof(tid)) != sizeof(tid))
        _exit(3);
    big_frame();
}

static void first_overflow(void *arg)
{
    (void)arg;
    big_frame();
}

static void two_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < SLEEPERS; i++)
        ringo_go(sleeper, NULL);
    while (atomic_load(&sleepers_up) < SLEEPERS)
        ringo_sleep(RINGO_MILLISECOND);
    ringo_go(second_overflow, NULL);
    while (!atomic_load(&second_ready))
        ringo_sleep(RINGO_MILLISECOND);
    ringo_go(first_overflow, NULL);
    ringo_sleep(RINGO_HOUR);
}

/* 'S' or 'D' once thread tid of process pid sleeps in the kernel. */
static bool thread_asleep(pid_t pid, long tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/task/%ld/stat", (int)pid, tid);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && (paren[2] == 'S' || paren[2] == 'D');
}

static char two_out[1 << 20];

static size_t read_some(int fd, size_t len)
{
    ssize_t n = read(fd, two_out + len, sizeof(two_out) - 1 - len);
    if (n > 0)
        len += (size_t)n;
    two_out[len] = '\0';
    return n > 0 ? len : SIZE_MAX;
}

static int count(const char *from, const char *to, const char *what)
{
    int n = 0;
    for (const char *s = from; (s = strstr(s, what)) && (!to || s < to); s++)
        n++;
    return n;
}

static void test_two_overflows_at_once_report_whole(void **state)
{
    (void)state;
    int out[2];
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(go_pipe), 0);
    assert_int_equal(pipe(tid_pipe), 0);
    assert_true(fcntl(out[1], F_SETPIPE_SZ, 4096) > 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(out[0]);
        dup2(out[1], 2);
        dup2(out[1], 1);
        signal(SIGABRT, SIG_DFL);
        ringo_config_t cfg = {.workers = 3};
        ringo_run(&cfg, two_main, NULL);
        _exit(0);
    }
    close(out[1]);
    const char *header = "ringo: fatal: stack overflow in fiber ";
    size_t len = 0, r;
    while (!strstr(two_out, header) && (r = read_some(out[0], len)) != SIZE_MAX)
        len = r;
    assert_non_null(strstr(two_out, header));
    /* The first reporter is now blocked on the full pipe, mid-report. */
    assert_int_equal(write(go_pipe[1], "g", 1), 1);
    long tid = 0;
    assert_int_equal(read(tid_pipe[0], &tid, sizeof(tid)), sizeof(tid));
    while (!thread_asleep(pid, tid))
        usleep(1000);
    while ((r = read_some(out[0], len)) != SIZE_MAX)
        len = r;
    close(out[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);

    /* Two reports, each with its whole dump before the next begins. */
    const char *first = strstr(two_out, header);
    const char *second = first ? strstr(first + 1, header) : NULL;
    bool ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && first && second &&
              count(first, second, "\tsleeper\n") == SLEEPERS &&
              count(second, NULL, "\tsleeper\n") == SLEEPERS &&
              count(two_out, NULL, header) == 2 &&
              strstr(first, "by first_overflow)") && strstr(second, "by second_overflow)");
    if (!ok) {
        fprintf(stderr, "wanted two whole reports, one after the other; output:\n%s\n", two_out);
        fail();
    }
}

/* ---- using the stack legitimately ------------------------------------------------------ */

static void deep_but_fine(void *arg)
{
    size_t bytes = (size_t)(uintptr_t)arg;
    volatile char *p = __builtin_alloca(bytes);
    for (size_t i = 0; i < bytes; i += 512)
        p[i] = 1;
    ringo_yield();
    atomic_fetch_add(&counter, 1);
}

static void deep_main(void *arg)
{
    size_t stack = (size_t)(uintptr_t)arg;
    atomic_store(&counter, 0);
    /* Leave room for the guard, the fiber record, frames and the switch;
     * sanitizer-instrumented frames are several times larger. */
#if defined(RINGO_ASAN) || defined(RINGO_TSAN)
    size_t use = stack / 2;
#else
    size_t use = stack - 4096 - 4096;
#endif
    for (int i = 0; i < 100; i++)
        assert_int_equal(ringo_go(deep_but_fine, (void *)(uintptr_t)use), 0);
    wait_for(100);
}

static void test_stack_size_config(void **state)
{
    (void)state;
    size_t sizes[] = {16 * 1024, 64 * 1024, 256 * 1024};
    for (int i = 0; i < 3; i++) {
        ringo_config_t cfg = {.workers = 2, .stack_size = sizes[i]};
        assert_int_equal(ringo_run(&cfg, deep_main, (void *)(uintptr_t)sizes[i]), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stacks_reused),
        cmocka_unit_test(test_100k_parked_guarded),
        cmocka_unit_test(test_overflow_madvise),
        cmocka_unit_test(test_overflow_mprotect),
        cmocka_unit_test(test_overflow_canary),
        cmocka_unit_test(test_frame_larger_than_page_spares_neighbours),
        cmocka_unit_test(test_huge_frame_clash_protected),
        cmocka_unit_test(test_two_overflows_at_once_report_whole),
        cmocka_unit_test(test_stack_size_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

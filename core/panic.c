/* core/panic.c - panics, fatal errors, fiber dumps and the crash signals.
 *
 * ringo_panic   a programmer error Go makes a panic: "ringo: panic: <msg>",
 *               the fiber dump, abort().
 * ringo__throw  corrupted or impossible runtime state, deadlock, stack
 *               overflow: "ringo: fatal: <msg>", the dump, abort().
 * Dumps walk the stack slots (every fiber lives at the top of its slot) and
 * print each live fiber's id, state or wait reason, how long it has waited
 * and where it was created. They take no lock and allocate nothing, so the
 * SIGQUIT and SIGSEGV handlers can use them; a dump of a running program is
 * a racy snapshot, as in Go. Threads dying at once print their reports one
 * at a time, each whole (die()).
 *
 * Signals: ringo_run installs, for its duration only,
 *   SIGSEGV/SIGBUS on an alternate stack per worker: a fault in a stack's
 *     guard is reported as a stack overflow in that fiber; any other
 *     fault goes to the handler that was there before (or the default);
 *   SIGQUIT, only if its disposition was the default: dump and exit(2) as
 *     Go does. A program's own SIGQUIT handler is left alone.
 * Both are restored when ringo_run returns: no process-wide setting changes
 * behind the user's back beyond the runtime's lifetime.
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void (*_Atomic panic_handler)(const char *msg);

void ringo_set_panic_handler(void (*h)(const char *msg))
{
    atomic_store(&panic_handler, h);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void fdprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fdprintf(int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    write_all(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

struct dump_ctx {
    int fd;
    int64_t now;
};

static void dump_one(ringo__fiber_t *f, void *arg)
{
    struct dump_ctx *d = arg;
    bool waiting;
    const char *what = ringo__fiber_doing(f, &waiting);
    if (!what)
        return;
    char since[48] = "";
    if (waiting) {
        int64_t t = atomic_load_explicit(&f->wait_since, memory_order_relaxed);
        int64_t ms = t && d->now > t ? (d->now - t) / RINGO_MILLISECOND : 0;
        if (ms >= 60000)
            snprintf(since, sizeof(since), ", %lld minutes", (long long)(ms / 60000));
        else
            snprintf(since, sizeof(since), ", %lld ms", (long long)ms);
    }
    fdprintf(d->fd, "fiber %llu [%s%s]%s:\n", (unsigned long long)f->id, what, since,
             (f->flags & RINGO__FIBER_MAIN) ? " (main)" : "");
    if (f->flags & RINGO__FIBER_MAIN)
        fdprintf(d->fd, "\tcreated by ringo_run\n\n");
    else
        fdprintf(d->fd, "\t%s\n\tcreated at %s:%d by fiber %llu\n\n",
                 f->fn_name ? f->fn_name : "?", f->file ? f->file : "?", f->line,
                 (unsigned long long)f->parent_id);
}

/* ---- the grouped dump (Go's goroutine profile, debug=1) -----------------------------
 * Fibers that share a creation site and a state count as one line, most
 * numerous first: what a leak looks like at a glance. Fixed-size table on
 * the stack, no allocation (signal handlers use it too). */

#define GROUPS 128

struct group {
    const char *file, *fn, *what;
    int line;
    uint64_t count;
};

struct group_ctx {
    struct group g[GROUPS];
    uint64_t total, other;
    uint64_t skip_id;           /* the caller of ringo_expect_no_leaks */
};

static void group_one(ringo__fiber_t *f, void *arg)
{
    struct group_ctx *gc = arg;
    bool waiting;
    const char *what = ringo__fiber_doing(f, &waiting);
    if (!what || f->id == gc->skip_id)
        return;
    gc->total++;
    const char *file = (f->flags & RINGO__FIBER_MAIN) ? "ringo_run" : f->file;
    const char *fn = (f->flags & RINGO__FIBER_MAIN) ? "main" : f->fn_name;
    for (int i = 0; i < GROUPS; i++) {
        struct group *g = &gc->g[i];
        if (!g->count) {
            *g = (struct group){file, fn, what, f->line, 1};
            return;
        }
        if (g->file == file && g->fn == fn && g->what == what && g->line == f->line) {
            g->count++;
            return;
        }
    }
    gc->other++;
}

static void dump_grouped(int fd, uint64_t skip_id)
{
    struct group_ctx gc;
    memset(&gc, 0, sizeof(gc));
    gc.skip_id = skip_id;
    ringo__fibers_foreach(group_one, &gc);
    fdprintf(fd, "fibers: %llu\n", (unsigned long long)gc.total);
    for (;;) {
        /* Selection by count: at most GROUPS lines, no sort buffer. */
        struct group *best = NULL;
        for (int i = 0; i < GROUPS; i++)
            if (gc.g[i].count && (!best || gc.g[i].count > best->count))
                best = &gc.g[i];
        if (!best)
            break;
        fdprintf(fd, "%6llu @ %s:%d %s [%s]\n", (unsigned long long)best->count,
                 best->file ? best->file : "?", best->line, best->fn ? best->fn : "?", best->what);
        best->count = 0;
    }
    if (gc.other)
        fdprintf(fd, "%6llu in other groups\n", (unsigned long long)gc.other);
    fdprintf(fd, "\n");
}

void ringo_fiber_dump(int fd)
{
    dump_grouped(fd, 0);
    struct dump_ctx d = {.fd = fd, .now = ringo__now()};
    ringo__fibers_foreach(dump_one, &d);
}

int ringo_expect_no_leaks(void)
{
    /* Fibers finishing their last steps get ~100 ms, with backoff, as
     * goleak gives goroutines. */
    ringo_duration_t pause = 100 * RINGO_MICROSECOND;
    int64_t deadline = ringo__now() + 100 * RINGO_MILLISECOND;
    size_t n;
    while ((n = ringo_num_fibers()) > 1 && ringo__now() < deadline) {
        ringo_sleep(pause);
        if (pause < 10 * RINGO_MILLISECOND)
            pause *= 2;
    }
    if (n <= 1)
        return 0;
    fdprintf(2, "ringo: found %zu leaked fibers:\n", n - 1);
    dump_grouped(2, ringo_fiber_id());
    return (int)(n - 1);
}

/* One report at a time, as Go's paniclk: two fibers overflowing at once on
 * two workers would otherwise interleave their reports line by line. Each
 * dying thread counts itself in `dying`, prints its whole report under
 * report_lock, and then, if others are still to print, waits for them; the
 * last one aborts. A thread that faults while printing its own report (a
 * record corrupted beyond reading) aborts at once instead of waiting for
 * itself. Futexes and write(2) only: die runs in signal handlers. */
static _Atomic int dying;
static _Atomic uint32_t report_lock;    /* 1 while a report is being printed */
static _Atomic long report_owner;       /* its thread id */

static _Noreturn void die(const char *kind, const char *msg)
{
    long self = syscall(SYS_gettid);
    if (atomic_load(&report_owner) == self) {
        fdprintf(2, "\nringo: %s while printing a report: %s\n", kind, msg);
        abort();
    }
    atomic_fetch_add(&dying, 1);
    while (atomic_exchange(&report_lock, 1))
        syscall(SYS_futex, &report_lock, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    atomic_store(&report_owner, self);

    fdprintf(2, "ringo: %s: %s\n\n", kind, msg);
    ringo_fiber_dump(2);

    atomic_store(&report_owner, 0);
    atomic_store(&report_lock, 0);
    syscall(SYS_futex, &report_lock, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    if (atomic_fetch_sub(&dying, 1) > 1)
        for (;;)
            pause();        /* the last one to print aborts the process */
    abort();
}

void ringo_panic(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    void (*h)(const char *) = atomic_load(&panic_handler);
    if (h)
        h(msg);
    die("panic", msg);
}

void ringo__throw(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    die("fatal", msg);
}

/* ---- signals ------------------------------------------------------------------- */

static struct sigaction old_segv, old_bus, old_quit;
static bool quit_installed;

static void chain(int sig, siginfo_t *si, void *uc, const struct sigaction *old)
{
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
        return;
    }
    if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the fault recurs and kills us
     * the ordinary way (core dump included). */
    sigaction(sig, old, NULL);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    ringo__fiber_t *f = ringo__stack_guard_owner(si->si_addr);
    if (f) {
        char msg[256];
        snprintf(msg, sizeof(msg), "stack overflow in fiber %llu (created at %s:%d by %s)",
                 (unsigned long long)f->id, f->file ? f->file : "ringo_run", f->line,
                 f->fn_name ? f->fn_name : "main");
        die("fatal", msg);
    }
    chain(sig, si, uc, sig == SIGBUS ? &old_bus : &old_segv);
}

static void on_quit(int sig)
{
    (void)sig;
    fdprintf(2, "SIGQUIT: quit\n\n");
    ringo_fiber_dump(2);
    _exit(2);
}

void ringo__signals_install(ringo__runtime_t *rt)
{
    (void)rt;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);

    struct sigaction cur;
    quit_installed = false;
    if (sigaction(SIGQUIT, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
        cur.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_quit;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGQUIT, &sa, &old_quit);
        quit_installed = true;
    }
}

void ringo__signals_restore(void)
{
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    if (quit_installed)
        sigaction(SIGQUIT, &old_quit, NULL);
    quit_installed = false;
}

#define ALTSTACK_SIZE (64 * 1024)

int ringo__altstack_init(ringo__worker_t *w)
{
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) < 0) {
        int err = -errno;
        munmap(p, ALTSTACK_SIZE);
        return err;
    }
    w->altstack = p;
    return 0;
}

void ringo__altstack_fini(ringo__worker_t *w)
{
    if (!w->altstack)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(w->altstack, ALTSTACK_SIZE);
    w->altstack = NULL;
}

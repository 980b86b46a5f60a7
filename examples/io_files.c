/* examples/io_files.c - files, deadlines, readiness and blocking calls with
 * ringo's I/O layer: Go's os package and conn.SetDeadline, the C way.
 *
 *   os.OpenFile(path, flag, perm)   ringo_open(ctx, path, flags, mode) (O_CLOEXEC added)
 *   f.Write / f.WriteAt / f.ReadAt  ringo_write / ringo_pwrite / ringo_pread
 *   f.Sync(), f.Close()             ringo_fsync(ctx, fd), ringo_close(fd)
 *   SetReadDeadline(t); Read        ringo_read(ringo_with_deadline(...), ...):
 *                                     -ETIMEDOUT, and no byte is lost
 *   cancelling from elsewhere       ringo_cancel(ctx) from another fiber:
 *                                     the read returns -ECANCELED
 *   Close while a Read waits        ringo_close(fd): the read returns -EBADF
 *   (readiness beside channels)     RINGO_READABLE(fd) in ringo_select
 *   a call that must block          ringo_blocking(fn, arg): a pool thread
 *                                     runs it, the fiber parks, the worker
 *                                     runs other fibers
 *
 * It runs on one worker, so that the last part shows the worker staying
 * free while a blocking call runs. It checks its own results and exits
 * non-zero if anything is off, so the test suite runs it.
 */
#define _GNU_SOURCE     /* pipe2 */
#include "example.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void files(void)
{
    char path[] = "/tmp/ringo-example-XXXXXX";
    int tmp = mkstemp(path);
    check(tmp >= 0, "mkstemp");
    close(tmp);

    int fd = ringo_open(NULL, path, O_RDWR | O_TRUNC, 0600);
    check(fd >= 0, "ringo_open");
    check(ringo_write(NULL, fd, "hello, world", 12) == 12, "ringo_write writes everything");
    check(ringo_pwrite(NULL, fd, "HELLO", 5, 0) == 5, "ringo_pwrite at offset 0");
    check(ringo_fsync(NULL, fd) == 0, "ringo_fsync");
    char buf[16] = {0};
    check(ringo_pread(NULL, fd, buf, sizeof buf - 1, 0) == 12, "ringo_pread reads it back");
    check(strcmp(buf, "HELLO, world") == 0, "the file holds what was written");
    check(ringo_pread(NULL, fd, buf, 4, -1) == -EINVAL, "a negative offset is -EINVAL");
    check(ringo_close(fd) == 0, "ringo_close");
    check(ringo_open(NULL, "/nonexistent/dir/file", O_RDONLY, 0) == -ENOENT,
          "errors come back as -errno");
    unlink(path);
    printf("files: wrote, patched, synced and read back \"%s\"\n", buf);
}

struct pipe_writer { int fd; ringo_duration_t after; const char *msg; };

static void write_later(void *arg)
{
    struct pipe_writer *w = arg;
    ringo_sleep(w->after);
    ringo_write(NULL, w->fd, w->msg, strlen(w->msg));
}

static void cancel_later(void *arg)
{
    ringo_ctx_t *ctx = arg;             /* own reference */
    ringo_sleep(5 * RINGO_MILLISECOND);
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
}

struct closed_read { int fd; ringo_chan_t *result; };

static void read_until_closed(void *arg)
{
    struct closed_read *r = arg;
    char c;
    int n = (int)ringo_read(NULL, r->fd, &c, 1);    /* no deadline at all */
    ringo_chan_send(r->result, &n);
    ringo_chan_unref(r->result);
}

static void deadlines(void)
{
    int p[2];
    check(pipe2(p, O_CLOEXEC) == 0, "pipe2");
    char buf[32] = {0};

    /* A read deadline: nothing arrives, the read gives up. */
    ringo_ctx_t *ctx = ringo_with_timeout(NULL, 10 * RINGO_MILLISECOND);
    check(ringo_read(ctx, p[0], buf, sizeof buf) == -ETIMEDOUT, "the deadline ends the read");
    check(ringo_ctx_err(ctx) == -ETIMEDOUT, "the context says why");
    ringo_ctx_unref(ctx);

    /* Nothing was lost: the next read gets what is written next. */
    struct pipe_writer w = {p[1], RINGO_MILLISECOND, "after the deadline"};
    check(ringo_go_copy(write_later, &w, sizeof w) == 0, "ringo_go_copy");
    check(ringo_read(NULL, p[0], buf, sizeof buf - 1) == 18, "the next read works");
    check(strcmp(buf, "after the deadline") == 0, "and sees the bytes");

    /* Cancelled by another fiber. */
    ctx = ringo_with_cancel(NULL);
    check(ringo_go(cancel_later, ringo_ctx_ref(ctx)) == 0, "ringo_go");
    check(ringo_read(ctx, p[0], buf, sizeof buf) == -ECANCELED, "a cancel ends the read");
    ringo_ctx_unref(ctx);

    /* Readiness in a select, beside a timeout. Nothing is read by it. */
    w = (struct pipe_writer){p[1], 2 * RINGO_MILLISECOND, "ready"};
    check(ringo_go_copy(write_later, &w, sizeof w) == 0, "ringo_go_copy");
    ringo_case_t cases[] = {RINGO_READABLE(p[0]), RINGO_TIMEOUT(10 * RINGO_SECOND)};
    check(ringo_select(cases, 2) == 0, "the fd case fires");
    memset(buf, 0, sizeof buf);
    check(ringo_read(NULL, p[0], buf, sizeof buf - 1) == 5 && strcmp(buf, "ready") == 0,
          "the bytes are still there to read");

    /* ringo_close wakes a read that waits on the fd. */
    struct closed_read r = {p[0], ringo_chan_make(sizeof(int), 0)};
    ringo_chan_t *result = ringo_chan_ref(r.result);
    check(ringo_go_copy(read_until_closed, &r, sizeof r) == 0, "ringo_go_copy");
    ringo_sleep(5 * RINGO_MILLISECOND);     /* let it start waiting (either order is fine) */
    check(ringo_close(p[0]) == 0, "ringo_close");
    int n = 0;
    ringo_chan_recv(result, &n);
    check(n == -EBADF, "the waiting read returns -EBADF");
    ringo_chan_unref(result);
    ringo_close(p[1]);
    puts("deadlines: -ETIMEDOUT, nothing lost, -ECANCELED, RINGO_READABLE, -EBADF on close");
}

static atomic_bool slow_call_running, blocking_returned;

static void *slow_call(void *arg)            /* a library call that blocks its thread */
{
    atomic_store(&slow_call_running, true);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_store(&slow_call_running, false);
    return arg;
}

struct ticker { atomic_int ticks; ringo_waitgroup_t wg; };

static void ticker_fiber(void *arg)
{
    struct ticker *t = arg;                  /* borrowed: blocking_calls waits for us */
    while (!atomic_load(&blocking_returned)) {
        if (atomic_load(&slow_call_running))
            atomic_fetch_add(&t->ticks, 1);
        ringo_sleep(RINGO_MILLISECOND);
    }
    ringo_waitgroup_done(&t->wg);
}

static void blocking_calls(void)
{
    struct ticker t = {0};
    ringo_waitgroup_add(&t.wg, 1);
    check(ringo_go(ticker_fiber, &t) == 0, "ringo_go");
    int token = 1;
    void *back = ringo_blocking(slow_call, &token);  /* parks this fiber only */
    atomic_store(&blocking_returned, true);
    ringo_waitgroup_wait(&t.wg);
    check(back == &token, "ringo_blocking returns fn's result");
    printf("blocking: while a 100 ms call ran on the pool, another fiber on the same "
           "worker ticked %d times\n", atomic_load(&t.ticks));
    check(atomic_load(&t.ticks) > 0, "the worker kept running fibers");
}

static void main_fiber(void *arg)
{
    (void)arg;
    files();
    deadlines();
    blocking_calls();
    check(example_fibers_reach(1), "every fiber ended");
    puts("ok");
}

int main(void)
{
    ringo_config_t cfg = {.workers = 1};
    if (ringo_run(&cfg, main_fiber, NULL) < 0)
        return 1;
    return 0;
}

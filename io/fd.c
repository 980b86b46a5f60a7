/* io/fd.c - reading and writing, files, readiness: ringo_read, _write,
 * _pread, _pwrite, _recv, _send, _open, _fsync, _close, _poll.
 *
 * Each call is one or more operations through ringo__io_wait (op.c), whose
 * record lives in the call's frame: the caller's buffer belongs to the
 * kernel from an op's submit until ringo__io_wait returns, and not a moment
 * longer. Writes and sends loop until every byte is out; a failure after
 * some bytes returns the count (Go's n, err: the next call reports it).
 * One op moves at most MAX_RW bytes, as one read(2) or write(2) does.
 *
 * Sockets never raise SIGPIPE: ringo_send always adds MSG_NOSIGNAL, and
 * ringo_write on a socket is a send with it. Whether an fd is a socket is
 * the registry's hint (fdtab.c): unknown fds are tried as sockets first and
 * learn otherwise from -ENOTSOCK.
 *
 * ringo_close cancels the calls still waiting on the fd and waits for
 * their completions (ringo__fd_quiesce) before close(2), so none of them
 * can touch a file that reuses the number. Locks: only the fd entry's,
 * taken inside fdtab.c.
 */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define MAX_RW 0x7ffff000u      /* Linux's MAX_RW_COUNT: one read(2) moves no more */

static size_t clamp_len(size_t len)
{
    return len > MAX_RW ? MAX_RW : len;
}

static ssize_t io_one(ringo_ctx_t *ctx, uint8_t opcode, int fd, const void *buf, size_t len,
                      int64_t off, uint32_t flags)
{
    ringo__io_op_t op;
    op.ev = (ringo__ev_op_t){.opcode = opcode, .fd = fd, .cbuf = buf, .len = clamp_len(len),
                             .off = off, .flags = flags};
    return ringo__io_wait(ctx, &op);
}

/* Writes or sends all of buf (off < 0: at the file position). */
static ssize_t put_all(ringo_ctx_t *ctx, uint8_t opcode, int fd, const void *buf, size_t len,
                       int64_t off, uint32_t flags)
{
    size_t done = 0;
    do {
        ssize_t r = io_one(ctx, opcode, fd, (const char *)buf + done, len - done,
                           off < 0 ? -1 : off + (int64_t)done, flags);
        if (r < 0)
            return done ? (ssize_t)done : r;
        if (r == 0 && len > done)
            break;              /* no progress, no error: do not spin */
        done += (size_t)r;
    } while (done < len);
    return (ssize_t)done;
}

ssize_t ringo_read(ringo_ctx_t *ctx, int fd, void *buf, size_t len)
{
    return io_one(ctx, RINGO__EV_READ, fd, buf, len, -1, 0);
}

ssize_t ringo_pread(ringo_ctx_t *ctx, int fd, void *buf, size_t len, off_t off)
{
    if (off < 0)
        return -EINVAL;
    return io_one(ctx, RINGO__EV_READ, fd, buf, len, off, 0);
}

ssize_t ringo_write(ringo_ctx_t *ctx, int fd, const void *buf, size_t len)
{
    ringo__fd_entry_t *e = ringo__fd_entry(fd, false);
    int kind = e ? atomic_load_explicit(&e->kind, memory_order_relaxed) : RINGO__FD_UNKNOWN;
    if (kind != RINGO__FD_OTHER) {
        ssize_t r = put_all(ctx, RINGO__EV_SEND, fd, buf, len, -1, MSG_NOSIGNAL);
        if (r != -ENOTSOCK) {
            if (kind == RINGO__FD_UNKNOWN && r >= 0)
                ringo__fd_set_kind(fd, RINGO__FD_SOCKET);
            return r;
        }
        ringo__fd_set_kind(fd, RINGO__FD_OTHER);
    }
    return put_all(ctx, RINGO__EV_WRITE, fd, buf, len, -1, 0);
}

ssize_t ringo_pwrite(ringo_ctx_t *ctx, int fd, const void *buf, size_t len, off_t off)
{
    if (off < 0)
        return -EINVAL;
    return put_all(ctx, RINGO__EV_WRITE, fd, buf, len, off, 0);
}

ssize_t ringo_recv(ringo_ctx_t *ctx, int fd, void *buf, size_t len, int flags)
{
    return io_one(ctx, RINGO__EV_RECV, fd, buf, len, -1, (uint32_t)flags);
}

ssize_t ringo_send(ringo_ctx_t *ctx, int fd, const void *buf, size_t len, int flags)
{
    return put_all(ctx, RINGO__EV_SEND, fd, buf, len, -1, (uint32_t)(flags | MSG_NOSIGNAL));
}

int ringo_open(ringo_ctx_t *ctx, const char *path, int flags, mode_t mode)
{
    if (!path)
        return -EFAULT;
    ringo__io_op_t op;
    op.ev = (ringo__ev_op_t){.opcode = RINGO__EV_OPEN, .fd = -1, .path = path,
                             .flags = (uint32_t)(flags | O_CLOEXEC), .mode = (uint32_t)mode};
    ssize_t fd = ringo__io_wait(ctx, &op);
    if (fd >= 0)
        ringo__fd_set_kind((int)fd, RINGO__FD_OTHER);
    return (int)fd;
}

int ringo_fsync(ringo_ctx_t *ctx, int fd)
{
    return (int)io_one(ctx, RINGO__EV_FSYNC, fd, NULL, 0, 0, 0);
}

int ringo_poll(ringo_ctx_t *ctx, int fd, short events)
{
    return (int)io_one(ctx, RINGO__EV_POLL, fd, NULL, 0, 0, (uint16_t)events);
}

int ringo_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    if (!ringo__ev_forked()) {
        /* No entry yet: no ringo call ever waited on fd. */
        ringo__fd_entry_t *e = ringo__fd_entry(fd, false);
        if (e) {
            int r = ringo__fd_quiesce(e);
            if (r < 0)
                return r;
        }
    }
    /* Linux releases the fd even when close(2) says EINTR. */
    if (close(fd) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

/* ringo/io.h - files and sockets for fibers: Go's os and net, the C way.
 *
 * Every call here, made from a fiber, hands the operation itself to the
 * calling worker's event source (its io_uring) and parks the fiber until
 * that operation completes; the worker runs other fibers meanwhile. Nothing
 * is polled and then retried on a ready fd: the kernel does the read, the
 * write, the accept.
 *
 * Results. Each call returns >= 0 on success or -errno (never sets errno).
 * Beyond the syscall's own errors:
 *   -ECANCELED  ctx was cancelled before or while the operation ran;
 *   -ETIMEDOUT  ctx's deadline passed before or while it ran;
 *   -EBADF      the fd was closed with ringo_close while the call waited,
 *               or is being closed as it starts (Go's "use of closed
 *               network connection").
 * A cancelled operation is cancelled in the kernel, and the call returns
 * only once the kernel let go of the buffer. If it moved bytes before the
 * cancel landed, the call returns those bytes instead of the error: no byte
 * read or written is lost. The next call on that ctx then fails at once.
 *
 * ctx may be NULL: no cancellation, no deadline (context.Background()).
 * The caller holds a reference to ctx for the duration of the call.
 *
 * Outside a fiber (a plain thread, or before ringo_run), the calls run the
 * plain blocking syscalls; ctx is checked before, not during.
 *
 * Differences from Go:
 *   - Descriptors are plain ints the caller owns, with no finalizer: close
 *     each with ringo_close (which also wakes calls still waiting on it).
 *     ringo remembers per fd whether it is a socket (to send rather than
 *     write); ringo_close forgets it, plain close(2) does not, so a number
 *     closed with close(2) and reused for another kind of file may be
 *     written to the wrong way once (a pipe that was a socket: -ENOTSOCK is
 *     learnt and retried; a socket that was a pipe: written without
 *     MSG_NOSIGNAL).
 *   - Sockets never raise SIGPIPE: sends use MSG_NOSIGNAL and writes to a
 *     socket are sends, so a closed peer gives -EPIPE. The process's SIGPIPE
 *     disposition is never touched. (ringo_write to a pipe whose reader is
 *     gone still raises SIGPIPE, as write(2) does, unless the program
 *     ignores it.)
 *   - In a child made by fork() while the runtime runs, these calls return
 *     -ECHILD: the rings belong to the parent. Exec, or use plain syscalls.
 */
#ifndef RINGO_IO_H
#define RINGO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <ringo/common.h>
#include <ringo/time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ringo_ctx ringo_ctx_t;

/* ---- reading and writing ------------------------------------------------------------ */

/* read(2): up to len bytes; 0 at end of file or when the peer closed. */
RINGO_API ssize_t ringo_read(ringo_ctx_t *ctx, int fd, void *buf, size_t len);
/* Writes all len bytes (short writes are continued) and returns len, or
 * fails. A failure after some bytes went out returns the bytes written
 * (Go's n, err: the next call reports the error). */
RINGO_API ssize_t ringo_write(ringo_ctx_t *ctx, int fd, const void *buf, size_t len);
/* At an offset, leaving the file position alone. pwrite writes all len.
 * A negative offset gives -EINVAL. */
RINGO_API ssize_t ringo_pread(ringo_ctx_t *ctx, int fd, void *buf, size_t len, off_t off);
RINGO_API ssize_t ringo_pwrite(ringo_ctx_t *ctx, int fd, const void *buf, size_t len, off_t off);
/* recv(2)/send(2) with MSG_* flags. send writes all len and adds
 * MSG_NOSIGNAL; with MSG_DONTWAIT either returns -EAGAIN rather than wait. */
RINGO_API ssize_t ringo_recv(ringo_ctx_t *ctx, int fd, void *buf, size_t len, int flags);
RINGO_API ssize_t ringo_send(ringo_ctx_t *ctx, int fd, const void *buf, size_t len, int flags);

/* ---- files ---------------------------------------------------------------------------- */

/* open(2) relative to the current directory; O_CLOEXEC is always added.
 * A NULL path gives -EFAULT. */
RINGO_API int ringo_open(ringo_ctx_t *ctx, const char *path, int flags, mode_t mode);
/* fsync(2). */
RINGO_API int ringo_fsync(ringo_ctx_t *ctx, int fd);
/* Closes fd. Calls of other fibers still waiting on fd are cancelled first
 * and return -EBADF; ringo_close waits until every one of them has let go
 * of the fd (their buffers are released), then close(2)s it, so none can
 * touch a file that later reuses the number. Calls that start on fd
 * meanwhile in fibers get -EBADF. Like close(2) the fd is gone whatever the result.
 * -EBADF for a negative fd, or if another ringo_close of fd is under way
 * (that one closes it); close(2)'s errors otherwise (-EINTR never). From a
 * fork child of a running runtime it is plain close(2). */
RINGO_API int ringo_close(int fd);

/* ---- readiness -------------------------------------------------------------------------- */

/* Waits until fd has one of events (POLLIN, POLLOUT, ...) and returns the
 * revents, which may include POLLERR and POLLHUP. Reads and writes need no
 * poll first; this is for protocols that want readiness itself. For
 * readiness among channels and timeouts, see RINGO_READABLE in select. */
RINGO_API int ringo_poll(ringo_ctx_t *ctx, int fd, short events);

/* ---- sockets -------------------------------------------------------------------------- */

/* network: "tcp" (IPv6 and IPv4), "tcp4", "tcp6" or "unix".
 * address: "host:port", ":port" (all interfaces), "[::1]:port", a port of 0
 * for any free one; for unix, a filesystem path, or "@name" for the
 * abstract namespace. Hosts in ringo_listen are numeric or "localhost";
 * ringo_dial resolves names.
 * Malformed addresses and unknown networks give -EINVAL, ports outside
 * 0-65535 -EINVAL, unknown hosts -ENOENT (ringo_dial).
 * Sockets are created with SOCK_CLOEXEC. */

typedef struct ringo_listen_opts {
    int backlog;                /* 0: SOMAXCONN */
    bool reuse_port;            /* SO_REUSEPORT: one listener per process or
                                 * per worker, the kernel spreads connections */
} ringo_listen_opts_t;

/* A listening socket with SO_REUSEADDR (tcp); unix sockets remove a stale
 * socket file first only if nothing is bound to it (a live listener, or a
 * file that is not a socket, gives -EADDRINUSE; the check connects no
 * stream). ":port" on "tcp" listens on [::] for both families, or on
 * 0.0.0.0 where IPv6 is unavailable; "tcp6" is IPv6 only. The listening
 * socket itself is made with plain syscalls (none of them blocks).
 * A negative backlog gives -EINVAL. */
RINGO_API int ringo_listen(const char *network, const char *address);
RINGO_API int ringo_listen_opts(const char *network, const char *address,
                                const ringo_listen_opts_t *opts);
/* Accepts one connection (SOCK_CLOEXEC; TCP_NODELAY on tcp, as Go sets);
 * peer, when not NULL, receives its address. Out of descriptors (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM), it does not return the error: it says so once
 * on stderr and retries after a pause that doubles from 5 ms to 1 s, as
 * Go's http.Server does, so a server at its fd limit keeps serving the
 * connections it has and accepts again once descriptors free up; ctx ends
 * the wait (-ECANCELED, -ETIMEDOUT). A connection aborted before it was
 * taken (ECONNABORTED) is skipped, as Go does. */
RINGO_API int ringo_accept(ringo_ctx_t *ctx, int lfd, struct sockaddr_storage *peer);
/* A connected socket. Names are resolved on the blocking pool, then each
 * address is tried in turn until one connects; the whole dial is under ctx
 * (a name lookup itself is not interrupted: ctx is checked after it). The
 * last address's error is returned when none connects (-ECONNREFUSED,
 * -ENETUNREACH, ...). A host of "" (":port") dials the local system. A
 * lookup that cannot be done now gives -EAGAIN. TCP_NODELAY is set on
 * tcp. */
RINGO_API int ringo_dial(ringo_ctx_t *ctx, const char *network, const char *address);
/* The port a tcp socket is bound to (after ringo_listen(..., ":0")).
 * -EINVAL for a socket that is not tcp; getsockname(2)'s errors. */
RINGO_API int ringo_local_port(int fd);

/* ---- blocking calls -------------------------------------------------------------------- */

/* Runs fn(arg) on ringo's blocking pool (for calls that cannot go through
 * the ring: getaddrinfo, a library that blocks) and returns its result. The
 * fiber parks meanwhile and its worker runs other fibers. The pool has at
 * most RINGO_BLOCKING_THREADS threads (default 64, or the environment
 * variable of that name, read when a run first needs the pool); calls
 * beyond wait their turn. Threads start when needed and end after a few
 * idle seconds; idle ones do not keep the deadlock check from seeing a
 * deadlock. ringo_run returns only once every fn the pool started has
 * returned (after a second it says on stderr that it is waiting). From a
 * thread that is not a fiber, or in a fork child, fn runs on the calling
 * thread. */
RINGO_API void *ringo_blocking(void *(*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif

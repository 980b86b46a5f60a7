/* examples/server.h - what echo_server.c and http_server.c share: a TCP
 * server's life from the signal mask to the last connection.
 *
 * main() calls server_run(), which blocks SIGINT and SIGTERM in the main
 * thread before the runtime starts (server_signals), so every thread ringo
 * starts inherits the mask and neither signal is ever delivered
 * asynchronously; a signalfd receives them instead. (Blocking a signal is
 * a process setting; the program makes it, the library never does.) The
 * main fiber runs server_main(), which
 *   - listens, prints "listening on <host:port>" (the bound port, so an
 *     address ending in ":0" works) and flushes stdout;
 *   - starts a fiber that reads the signalfd with ringo_read;
 *   - accepts until the first signal, running srv->serve in a fiber per
 *     connection;
 *   - then shuts down gracefully: it stops accepting and closes the
 *     listener, and waits (WaitGroup) for the connections to finish the
 *     exchange they are in. A second signal, or SERVER_GRACE_MS (default
 *     10 s) passing, cuts the wait short: every connection's operations
 *     are cancelled and each fiber closes its socket.
 *
 * Contexts. hard is the root; stop is its child. The first signal cancels
 * stop, the end of the grace period cancels hard (and so stop). Each
 * connection derives its own pair, c->stop from stop and c->hard from
 * hard, so that its per-operation registrations touch only contexts of its
 * own rather than one shared by every connection. A connection waits for
 * its next exchange under c->stop (shutdown ends that wait) and completes
 * the exchange under c->hard (only the end of the grace period ends it).
 *
 * Ownership. The server struct is static and outlives every connection
 * fiber: server_main returns only once the WaitGroup says all
 * have ended. A connection fiber owns its socket and its two contexts and
 * releases them before its Done.
 */
#ifndef RINGO_EXAMPLE_SERVER_H
#define RINGO_EXAMPLE_SERVER_H

#include <ringo.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct server_conn;

struct server {
    const char *name;               /* the program's name, for messages */
    void (*serve)(struct server_conn *c);   /* one connection, in its own fiber */
    int sigfd;                      /* SIGINT and SIGTERM arrive here */
    ringo_duration_t grace;         /* SERVER_GRACE_MS */
    int lfd;
    ringo_ctx_t *hard;              /* cancelled when the grace period ends */
    ringo_ctx_t *stop;              /* child of hard: cancelled by the first signal */
    ringo_waitgroup_t conns;        /* one count per connection fiber */
    ringo_waitgroup_t watcher;      /* the signal watcher's fiber */
    _Atomic int live;               /* connections being served, for messages */
};

struct server_conn {
    struct server *srv;
    int fd;
    ringo_ctx_t *stop;              /* child of srv->stop: waiting for an exchange */
    ringo_ctx_t *hard;              /* child of srv->hard: inside an exchange */
};

/* A duration in milliseconds from the environment, or def when unset.
 * Exits 2 on a value that is not a positive integer. */
static inline ringo_duration_t server_env_ms(const char *name, int64_t def_ms)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return def_ms * RINGO_MILLISECOND;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > INT64_MAX / RINGO_MILLISECOND) {
        fprintf(stderr, "bad %s '%s': want a positive number of milliseconds\n", name, s);
        exit(2);
    }
    return v * RINGO_MILLISECOND;
}

/* Call from main before ringo starts. Returns the signalfd, or -1 after a
 * message. */
static inline int server_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0) {
        fprintf(stderr, "pthread_sigmask: %s\n", strerror(rc));
        return -1;
    }
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0)
        perror("signalfd");
    return fd;
}

/* "127.0.0.1:8080" or "[::1]:8080", the address fd is bound to. */
static inline int server_local_addr(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -errno;
    char host[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        return -EAFNOSUPPORT;
    }
    return 0;
}

/* The signal watcher: the first signal cancels stop, a second one hard.
 * It ends when hard is cancelled (its read then fails); server_main waits
 * for that (srv->watcher) before it releases the contexts. */
static inline void server_watch_signals(void *arg)
{
    struct server *srv = arg;
    for (int seen = 0;; seen++) {
        struct signalfd_siginfo si;
        ssize_t n = ringo_read(srv->hard, srv->sigfd, &si, sizeof si);
        if (n == -ECANCELED || n == -ETIMEDOUT)
            break;
        if (n != (ssize_t)sizeof si) {
            fprintf(stderr, "%s: reading signals: %s; shutting down\n", srv->name,
                    n < 0 ? strerror((int)-n) : "short read");
            ringo_cancel(srv->stop);
            break;
        }
        if (seen == 0) {
            fprintf(stderr, "%s: %s: shutting down (%d connections)\n", srv->name,
                    strsignal((int)si.ssi_signo), atomic_load(&srv->live));
            ringo_cancel(srv->stop);
        } else {
            fprintf(stderr, "%s: %s again: closing every connection\n", srv->name,
                    strsignal((int)si.ssi_signo));
            ringo_cancel(srv->hard);
            break;
        }
    }
    ringo_waitgroup_done(&srv->watcher);
}

static inline void server_conn_main(void *arg)
{
    struct server_conn *c = arg;          /* a copy on this fiber's stack */
    struct server *srv = c->srv;
    atomic_fetch_add(&srv->live, 1);
    c->stop = ringo_with_cancel(srv->stop);
    c->hard = ringo_with_cancel(srv->hard);
    if (c->stop != NULL && c->hard != NULL)
        srv->serve(c);
    else
        fprintf(stderr, "%s: out of memory for a connection\n", srv->name);
    ringo_close(c->fd);
    if (c->stop != NULL) {
        ringo_cancel(c->stop);
        ringo_ctx_unref(c->stop);
    }
    if (c->hard != NULL) {
        ringo_cancel(c->hard);
        ringo_ctx_unref(c->hard);
    }
    atomic_fetch_sub(&srv->live, 1);
    ringo_waitgroup_done(&srv->conns);
}

struct server_drain {
    struct server *srv;
    ringo_chan_t *done;                   /* closed once every connection ended */
};

static inline void server_drain_main(void *arg)
{
    struct server_drain *d = arg;
    ringo_waitgroup_wait(&d->srv->conns);
    ringo_chan_close(d->done);
    ringo_chan_unref(d->done);
}

/* Waits for the connection fibers; when the grace period passes first (or
 * a second signal cancelled hard), cancels hard and waits for them to
 * close. */
static inline int server_drain(struct server *srv)
{
    ringo_chan_t *done = ringo_chan_make(0, 0);
    if (done == NULL)
        return -ENOMEM;
    struct server_drain d = {srv, ringo_chan_ref(done)};
    int rc = ringo_go_copy(server_drain_main, &d, sizeof d);
    if (rc != 0) {
        ringo_chan_unref(done);
        ringo_chan_unref(done);
        return rc;
    }
    ringo_case_t cases[] = {
        RINGO_RECV(done, NULL),
        RINGO_DONE(srv->hard),
        RINGO_TIMEOUT(srv->grace),
    };
    if (ringo_select(cases, 3) != 0) {
        int live = atomic_load(&srv->live);
        if (live > 0)
            fprintf(stderr, "%s: closing %d connections still busy\n", srv->name, live);
        ringo_cancel(srv->hard);
        ringo_chan_recv(done, NULL);
    }
    ringo_chan_unref(done);
    return 0;
}

/* The main fiber's body: returns the exit status. */
static inline int server_main(struct server *srv, const char *address)
{
    int status = 1, rc;
    char local[INET6_ADDRSTRLEN + 8];
    srv->grace = server_env_ms("SERVER_GRACE_MS", 10000);
    srv->hard = ringo_with_cancel(NULL);
    srv->stop = srv->hard ? ringo_with_cancel(srv->hard) : NULL;
    if (srv->stop == NULL) {
        fprintf(stderr, "%s: out of memory\n", srv->name);
        goto out;
    }
    srv->lfd = ringo_listen("tcp", address);
    if (srv->lfd < 0) {
        fprintf(stderr, "%s: listen %s: %s\n", srv->name, address, strerror(-srv->lfd));
        goto out;
    }
    rc = server_local_addr(srv->lfd, local, sizeof local);
    if (rc != 0) {
        fprintf(stderr, "%s: getsockname: %s\n", srv->name, strerror(-rc));
        ringo_close(srv->lfd);
        goto out;
    }
    ringo_waitgroup_add(&srv->watcher, 1);
    rc = ringo_go(server_watch_signals, srv);
    if (rc != 0) {
        fprintf(stderr, "%s: starting the signal watcher: %s\n", srv->name, strerror(-rc));
        ringo_waitgroup_done(&srv->watcher);
        ringo_close(srv->lfd);
        goto out;
    }
    printf("listening on %s\n", local);
    fflush(stdout);
    status = 0;

    for (;;) {
        int fd = ringo_accept(srv->stop, srv->lfd, NULL);
        if (fd == -ECANCELED)
            break;
        if (fd < 0) {
            /* A connection that died in the backlog, or a firewall's
             * refusal, concerns that connection only. Anything else is a
             * broken listener: shut down as if signalled, and say so. */
            if (fd == -ECONNABORTED || fd == -EPERM || fd == -EPROTO || fd == -EINTR)
                continue;
            fprintf(stderr, "%s: accept: %s\n", srv->name, strerror(-fd));
            status = 1;
            break;
        }
        struct server_conn c = {.srv = srv, .fd = fd};
        ringo_waitgroup_add(&srv->conns, 1);
        rc = ringo_go_copy(server_conn_main, &c, sizeof c);
        if (rc != 0) {
            fprintf(stderr, "%s: no fiber for a connection: %s\n", srv->name, strerror(-rc));
            ringo_close(fd);
            ringo_waitgroup_done(&srv->conns);
        }
    }
    ringo_cancel(srv->stop);
    ringo_close(srv->lfd);

    rc = server_drain(srv);
    if (rc != 0) {
        /* Cannot time the grace period: end every connection now. */
        fprintf(stderr, "%s: shutdown: %s\n", srv->name, strerror(-rc));
        ringo_cancel(srv->hard);
        ringo_waitgroup_wait(&srv->conns);
    }
out:
    ringo_cancel(srv->hard);      /* ends the signal watcher too */
    ringo_waitgroup_wait(&srv->watcher);
    if (srv->stop != NULL)
        ringo_ctx_unref(srv->stop);
    if (srv->hard != NULL)
        ringo_ctx_unref(srv->hard);
    return status;
}

struct server_run_args {
    struct server *srv;
    const char *address;
    int status;
};

static inline void server_main_fiber(void *arg)
{
    struct server_run_args *a = arg;
    a->status = server_main(a->srv, a->address);
}

/* The program's main: usage, the signal mask and signalfd (before any of
 * ringo's threads exist, so they all inherit the mask), then the runtime.
 * ringo_run rather than ringo_main: it returns once server_main has
 * returned, with every fiber of the server ended and the runtime's memory
 * released, so the program exits as cleanly as it started. Returns the
 * exit status. */
static inline int server_run(struct server *srv, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
        return 2;
    }
    srv->sigfd = server_signals();
    if (srv->sigfd < 0)
        return 1;
    struct server_run_args a = {srv, argv[1], 0};
    int rc = ringo_run(NULL, server_main_fiber, &a);
    close(srv->sigfd);
    if (rc < 0) {
        fprintf(stderr, "%s: ringo_run: %s\n", srv->name, strerror(-rc));
        return 1;
    }
    return a.status;
}

#endif

/* examples/local_http.h - a small HTTP/1.0 server and client over ringo's
 * sockets, for the examples that run Go's classic exercises over TCP
 * (fetch.c, net_patterns.c, net_leak.c). Each example starts the server in
 * its own process, on a free loopback port, and talks to it with real
 * connections: ringo_listen, ringo_accept, ringo_dial, ringo_read,
 * ringo_write and ringo_close, nothing else.
 *
 * The server: one accept fiber, one fiber per connection. A connection
 * carries one request ("GET <path> HTTP/1.0", headers, blank line); the
 * example's handler turns the path into a body (and may sleep, to play a
 * slow backend), the server answers "200 OK" with Content-Length and
 * closes. A handler that returns a negative number makes the server answer
 * "404 Not Found". Every wait of the server is under its stop context:
 * local_server_stop cancels it, which ends the accept and every connection
 * still waiting, then waits for all of them (a WaitGroup).
 *
 * The client: http_get(ctx, port, path, body, cap) dials, sends the
 * request, reads the whole response (the server closes when done) and
 * hands back the body, all under ctx.
 *
 * Ownership: the server's fibers borrow the struct local_server, which must
 * stay put until local_server_stop returns; that is why stop waits. Each
 * connection fiber owns its socket and closes it.
 */
#ifndef RINGO_EXAMPLE_LOCAL_HTTP_H
#define RINGO_EXAMPLE_LOCAL_HTTP_H

#include <ringo.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_MESSAGE 2048

/* Writes the body for path into body (at most cap bytes) and returns its
 * length, or a negative number for "404". Runs in the connection's fiber,
 * under the server's stop context (ctx), and may block; fd is the
 * connection, for a handler that wants to notice the client leaving (a
 * read returns 0). */
typedef int (*http_handler_fn)(ringo_ctx_t *ctx, int fd, const char *path, char *body, size_t cap);

struct local_server {
    http_handler_fn handler;
    int lfd;
    int port;
    ringo_ctx_t *stop;              /* cancelled by local_server_stop */
    ringo_waitgroup_t fibers;       /* the accept fiber and every connection */
    atomic_int requests;            /* requests answered */
    atomic_int in_flight, max_in_flight;   /* requests being handled at once */
};

struct server_conn {
    struct local_server *srv;
    int fd;
};

static inline void http_note_max(atomic_int *max, int now)
{
    int seen = atomic_load(max);
    while (now > seen && !atomic_compare_exchange_weak(max, &seen, now))
        ;
}

/* Reads until the blank line that ends the head (or EOF, or a full buffer).
 * Returns the bytes read (buf is NUL-terminated), or -errno. */
static inline ssize_t http_read_head(ringo_ctx_t *ctx, int fd, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    while (used + 1 < cap && strstr(buf, "\r\n\r\n") == NULL) {
        ssize_t n = ringo_read(ctx, fd, buf + used, cap - 1 - used);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
    }
    return (ssize_t)used;
}

static void server_conn_fiber(void *arg)
{
    struct server_conn c = *(struct server_conn *)arg;   /* ringo_go_copy's copy */
    struct local_server *srv = c.srv;
    char req[HTTP_MAX_MESSAGE], path[256], body[1024], reply[HTTP_MAX_MESSAGE];

    ssize_t n = http_read_head(srv->stop, c.fd, req, sizeof req);
    if (n > 0 && sscanf(req, "GET %255s HTTP/1.", path) == 1) {
        http_note_max(&srv->max_in_flight, atomic_fetch_add(&srv->in_flight, 1) + 1);
        int len = srv->handler(srv->stop, c.fd, path, body, sizeof body);
        atomic_fetch_sub(&srv->in_flight, 1);
        int head;
        if (len >= 0)
            head = snprintf(reply, sizeof reply,
                            "HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%.*s",
                            len, len, body);
        else
            head = snprintf(reply, sizeof reply,
                            "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        if (ringo_ctx_err(srv->stop) == 0 && ringo_write(srv->stop, c.fd, reply, (size_t)head) == head)
            atomic_fetch_add(&srv->requests, 1);
    }
    ringo_close(c.fd);
    ringo_waitgroup_done(&srv->fibers);
}

static void server_accept_fiber(void *arg)
{
    struct local_server *srv = arg;
    for (;;) {
        int fd = ringo_accept(srv->stop, srv->lfd, NULL);
        if (fd < 0)
            break;                  /* -ECANCELED: local_server_stop */
        struct server_conn c = {srv, fd};
        ringo_waitgroup_add(&srv->fibers, 1);
        if (ringo_go_copy(server_conn_fiber, &c, sizeof c) != 0) {
            ringo_close(fd);
            ringo_waitgroup_done(&srv->fibers);
        }
    }
    ringo_close(srv->lfd);
    ringo_waitgroup_done(&srv->fibers);
}

/* Listens on 127.0.0.1 (a free port, in srv->port) and starts serving.
 * Returns 0 or -errno. */
static inline int local_server_start(struct local_server *srv, http_handler_fn handler)
{
    memset(srv, 0, sizeof *srv);
    srv->handler = handler;
    srv->lfd = ringo_listen("tcp", "127.0.0.1:0");
    if (srv->lfd < 0)
        return srv->lfd;
    srv->port = ringo_local_port(srv->lfd);
    srv->stop = ringo_with_cancel(NULL);
    if (srv->port < 0 || srv->stop == NULL) {
        ringo_close(srv->lfd);
        ringo_ctx_unref(srv->stop);
        return srv->port < 0 ? srv->port : -ENOMEM;
    }
    ringo_waitgroup_add(&srv->fibers, 1);
    if (ringo_go(server_accept_fiber, srv) != 0) {
        ringo_waitgroup_done(&srv->fibers);
        ringo_close(srv->lfd);
        ringo_ctx_unref(srv->stop);
        return -ENOMEM;
    }
    return 0;
}

/* Stops accepting, ends every connection still waiting, and returns once
 * every server fiber has ended. */
static inline void local_server_stop(struct local_server *srv)
{
    ringo_cancel(srv->stop);
    ringo_waitgroup_wait(&srv->fibers);
    ringo_ctx_unref(srv->stop);
    srv->stop = NULL;
}

/* GET path from the local server on port, under ctx. Returns the body's
 * length (body NUL-terminated, cut to cap - 1), -ENOENT for a 404, -EPROTO
 * for a response that is not HTTP, or the -errno of the dial, read or
 * write (-ECANCELED / -ETIMEDOUT when ctx ended). */
static inline int http_get(ringo_ctx_t *ctx, int port, const char *path, char *body, size_t cap)
{
    char addr[32], msg[HTTP_MAX_MESSAGE];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fd = ringo_dial(ctx, "tcp", addr);
    if (fd < 0)
        return fd;
    int len = snprintf(msg, sizeof msg, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
    ssize_t n = ringo_write(ctx, fd, msg, (size_t)len);
    size_t used = 0;
    if (n == len) {
        /* The server closes after its reply: read to EOF. */
        while (used + 1 < sizeof msg && (n = ringo_read(ctx, fd, msg + used, sizeof msg - 1 - used)) > 0)
            used += (size_t)n;
    } else if (n >= 0) {
        n = -EIO;                    /* a short write: the next call would say why */
    }
    ringo_close(fd);
    if (n < 0)
        return (int)n;
    msg[used] = '\0';
    int status;
    const char *start = strstr(msg, "\r\n\r\n");
    if (sscanf(msg, "HTTP/1.%*d %d", &status) != 1 || start == NULL)
        return -EPROTO;
    if (status == 404)
        return -ENOENT;
    if (status != 200)
        return -EPROTO;
    start += 4;
    size_t blen = strlen(start);
    if (blen >= cap)
        blen = cap - 1;
    memcpy(body, start, blen);
    body[blen] = '\0';
    return (int)blen;
}

#endif

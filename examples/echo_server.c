/* examples/echo_server.c - a TCP echo server: Go's net.Listen, Accept and
 * `go handle(conn)`, with a graceful shutdown.
 *
 *     echo_server 127.0.0.1:8080      (":0" picks a free port)
 *
 * Prints "listening on <host:port>" once it listens. Each connection gets a
 * fiber that writes back every byte it reads until the peer closes. SIGINT
 * or SIGTERM stops it (examples/server.h): it stops accepting, lets each
 * connection write back what it already read, closes them and exits with
 * status 0. A second signal, or SERVER_GRACE_MS (default 10 s) of a peer
 * that does not read its echo, ends the remaining writes. RINGO_WORKERS
 * sets the number of workers.
 *
 * A connection fiber owns its socket and a 16 KiB buffer on its own stack:
 * a parked connection costs the stack pages its frame touched, not a
 * buffer's worth. Reads run under c->stop, so a shutdown ends the wait for
 * the next bytes; the write of bytes already read runs under c->hard, so
 * it completes unless the grace period ends.
 */
#include "server.h"

#define ECHO_BUF (16 * 1024)

static void echo(struct server_conn *c)
{
    char buf[ECHO_BUF];
    for (;;) {
        ssize_t n = ringo_read(c->stop, c->fd, buf, sizeof buf);
        if (n <= 0)
            return;         /* EOF, shutdown, or the peer reset the connection */
        if (ringo_write(c->hard, c->fd, buf, (size_t)n) != n)
            return;
    }
}

static struct server srv = {.name = "echo_server", .serve = echo};

static int echo_main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
        return 2;
    }
    return server_main(&srv, argv[1]);
}

int main(int argc, char **argv)
{
    srv.sigfd = server_signals();       /* before ringo's threads exist */
    if (srv.sigfd < 0)
        return 1;
    ringo_main(NULL, echo_main, argc, argv);
}

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
 * A connection fiber owns its socket and a 16 KiB buffer from malloc, not
 * from its stack: a 16 KiB frame would be probed page by page on entry
 * (-fstack-clash-protection, which ringo's flags add), making all of it
 * resident for every connection, while a heap buffer costs only the pages
 * the reads actually fill. Reads run under c->stop, so a shutdown ends the wait for
 * the next bytes; the write of bytes already read runs under c->hard, so
 * it completes unless the grace period ends.
 */
#include "server.h"

#define ECHO_BUF (16 * 1024)

static void echo(struct server_conn *c)
{
    char *buf = malloc(ECHO_BUF);
    if (buf == NULL) {
        fprintf(stderr, "echo_server: out of memory for a connection's buffer\n");
        return;
    }
    for (;;) {
        ssize_t n = ringo_read(c->stop, c->fd, buf, ECHO_BUF);
        if (n <= 0)
            break;          /* EOF, shutdown, or the peer reset the connection */
        if (ringo_write(c->hard, c->fd, buf, (size_t)n) != n)
            break;
    }
    free(buf);
}

static struct server srv = {.name = "echo_server", .serve = echo};

int main(int argc, char **argv)
{
    return server_run(&srv, argc, argv);
}

/* examples/http_server.c - an HTTP/1.1 "Hello, World!" server with the
 * defences a server on the open internet needs, and a graceful shutdown.
 *
 *     http_server 127.0.0.1:8080      (":0" picks a free port)
 *
 * Prints "listening on <host:port>" once it listens. Every request, any
 * method and path, gets "200 OK", Content-Type text/plain, Content-Length
 * 13, a Date header and "Hello, World!" (HEAD: no body). Requests are
 * parsed by llhttp, streaming: a connection's memory is fixed whatever its
 * requests hold.
 *
 * Behaviour, per connection (one fiber each):
 *   - Keep-alive. HTTP/1.1 connections stay open unless the request says
 *     "Connection: close"; HTTP/1.0 ones only with "Connection:
 *     keep-alive". The reply echoes the request's version and says
 *     "Connection: close" before the server closes.
 *   - Pipelining. All requests a read brings are parsed, and their
 *     responses are written together in one write, in order.
 *   - Header deadline (slowloris). The request line and headers must be
 *     complete within HTTP_HEADER_TIMEOUT_MS (default 5000) of the
 *     request's first byte; a new connection's first request within that
 *     time of the accept. Past it the connection is closed, without a reply.
 *   - Idle timeout. Between requests a keep-alive connection may stay silent
 *     for HTTP_IDLE_TIMEOUT_MS (default 30000); a body must make progress
 *     at least that often.
 *   - Limits. A request line plus header fields over 8 KiB gets "431
 *     Request Header Fields Too Large", a body over 1 MiB (declared or
 *     sent) "413 Content Too Large", anything llhttp rejects "400 Bad
 *     Request"; each is followed by a close.
 *   - Closing after a reply: shutdown(SHUT_WR), then the peer's unread
 *     bytes are read and dropped for up to 500 ms (or until it closes), so
 *     its kernel does not answer them with a reset that destroys the reply
 *     it has not read yet.
 * SIGINT/SIGTERM shut down gracefully (examples/server.h): connections
 * waiting for a request are closed, a request being read or answered is
 * completed and answered with "Connection: close". RINGO_WORKERS sets the
 * number of workers.
 *
 * Deadlines are contexts: each read runs under ringo_with_deadline(parent,
 * its deadline), whose parent is the connection's stop context when it
 * waits for a request and its hard context once a request has begun.
 *
 * Buffers: 4 KiB in and 4 KiB out, with the connection's state in one
 * malloc'd block rather than the fiber's frame: a frame that large would be
 * probed page by page on entry (-fstack-clash-protection, which ringo's
 * flags add), making it all resident for every connection, where the heap
 * costs only the pages the traffic touches. When a pipelined burst fills
 * the out buffer, the parser pauses at a message boundary, the
 * buffer is written, and parsing resumes where it paused.
 */
#include "server.h"

#include <stdbool.h>
#include <time.h>

#include <llhttp.h>

#define IN_BUF           4096
#define OUT_BUF          4096
#define MAX_HEADER_BYTES (8 * 1024)
#define MAX_BODY_BYTES   (1024 * 1024)
#define MAX_RESPONSE     256        /* the longest response appended below */
#define LINGER           (500 * RINGO_MILLISECOND)
#define LINGER_BYTES     (256 * 1024)

static ringo_duration_t header_timeout, idle_timeout;

struct http_conn {
    struct server_conn *c;
    llhttp_t parser;
    int64_t now;                /* ringo_now() at the last read */
    int64_t header_deadline;    /* the current request's headers must be in by then */
    uint64_t served;            /* requests answered */
    size_t header_bytes;        /* request line and fields of the current request */
    uint64_t body_bytes;
    bool in_request;            /* between a request's first byte and its end */
    bool headers_done;
    bool keep_alive;            /* llhttp's verdict for the current request */
    bool head;                  /* a HEAD request: no body in the reply */
    bool close_after;           /* close once out is written */
    int error_status;           /* 413 or 431 decided by a callback */
    size_t out_len;
    char in[IN_BUF];
    char out[OUT_BUF];
};

/* ---- responses ------------------------------------------------------------------------ */

static void append(struct http_conn *h, const char *s, size_t len)
{
    memcpy(h->out + h->out_len, s, len);
    h->out_len += len;
}

#define APPEND_LIT(h, lit) append((h), (lit), sizeof(lit) - 1)

/* "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n", formatted once a second per
 * worker. The cache is thread-local and used without a switch in between,
 * so a fiber that moves between workers never sees another's half-written
 * string. */
static void append_date(struct http_conn *h)
{
    static _Thread_local struct {
        time_t sec;
        size_t len;
        char text[64];
    } cache;
    time_t now = time(NULL);
    if (now != cache.sec || cache.len == 0) {
        struct tm tm;
        gmtime_r(&now, &tm);
        cache.len = strftime(cache.text, sizeof cache.text,
                             "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        cache.sec = now;
    }
    append(h, cache.text, cache.len);
}

/* The reply names the request's version, as net/http's does. */
static bool http_1_0(struct http_conn *h)
{
    return llhttp_get_http_major(&h->parser) == 1 && llhttp_get_http_minor(&h->parser) == 0;
}

static void append_hello(struct http_conn *h)
{
    static const char body[] = "Hello, World!";
    if (http_1_0(h))
        APPEND_LIT(h, "HTTP/1.0 200 OK\r\n");
    else
        APPEND_LIT(h, "HTTP/1.1 200 OK\r\n");
    APPEND_LIT(h, "Content-Type: text/plain\r\nContent-Length: 13\r\n");
    append_date(h);
    if (!h->keep_alive)
        APPEND_LIT(h, "Connection: close\r\n");
    else if (http_1_0(h))
        APPEND_LIT(h, "Connection: keep-alive\r\n");
    APPEND_LIT(h, "\r\n");
    if (!h->head)
        append(h, body, sizeof body - 1);
}

static void append_error(struct http_conn *h, int status)
{
    switch (status) {
    case 413:
        APPEND_LIT(h, "HTTP/1.1 413 Content Too Large\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 17\r\n"
                      "Connection: close\r\n\r\nContent Too Large");
        break;
    case 431:
        APPEND_LIT(h, "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 31\r\n"
                      "Connection: close\r\n\r\nRequest Header Fields Too Large");
        break;
    default:
        APPEND_LIT(h, "HTTP/1.1 400 Bad Request\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 11\r\n"
                      "Connection: close\r\n\r\nBad Request");
        break;
    }
}

/* ---- llhttp callbacks --------------------------------------------------------------- */

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *h = p->data;
    h->in_request = true;
    h->headers_done = false;
    h->header_bytes = 0;
    h->body_bytes = 0;
    if (h->served > 0)              /* the first request's clock started at the accept */
        h->header_deadline = h->now + header_timeout;
    return 0;
}

/* Every piece of the request line and the header fields counts against
 * MAX_HEADER_BYTES, with 2 bytes of separators per piece. */
static int count_header(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    struct http_conn *h = p->data;
    h->header_bytes += len + 2;
    if (h->header_bytes > MAX_HEADER_BYTES) {
        h->error_status = 431;
        return -1;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *h = p->data;
    h->headers_done = true;
    h->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
    h->head = llhttp_get_method(p) == HTTP_HEAD;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > MAX_BODY_BYTES) {
        h->error_status = 413;
        return -1;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    struct http_conn *h = p->data;
    h->body_bytes += len;
    if (h->body_bytes > MAX_BODY_BYTES) {
        h->error_status = 413;
        return -1;
    }
    return 0;
}

/* Appends the reply. Pauses the parser when the connection is to close
 * (nothing after this request is answered) or when out has no room for
 * another reply (feed() writes it and resumes). */
static int on_message_complete(llhttp_t *p)
{
    struct http_conn *h = p->data;
    h->in_request = false;
    h->served++;
    if (h->keep_alive && ringo_ctx_err(h->c->stop) != 0)
        h->keep_alive = false;      /* shutting down: this is the last reply */
    append_hello(h);
    if (!h->keep_alive) {
        h->close_after = true;
        return HPE_PAUSED;
    }
    return OUT_BUF - h->out_len < MAX_RESPONSE ? HPE_PAUSED : 0;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = count_header,
    .on_url = count_header,
    .on_version = count_header,
    .on_header_field = count_header,
    .on_header_value = count_header,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- the connection ----------------------------------------------------------------- */

static int flush(struct http_conn *h)
{
    if (h->out_len == 0)
        return 0;
    ssize_t n = ringo_write(h->c->hard, h->c->fd, h->out, h->out_len);
    if (n != (ssize_t)h->out_len)
        return -1;
    h->out_len = 0;
    return 0;
}

/* Parses data, appending replies to out and writing out whenever the
 * parser pauses for room. A parse error appends its error reply and sets
 * close_after. Returns -1 when a write failed. */
static int feed(struct http_conn *h, const char *data, size_t len)
{
    while (len > 0) {
        enum llhttp_errno e = llhttp_execute(&h->parser, data, len);
        if (e == HPE_OK)
            return 0;
        if (e == HPE_PAUSED) {
            const char *pos = llhttp_get_error_pos(&h->parser);
            llhttp_resume(&h->parser);
            if (h->close_after)
                return 0;
            len -= (size_t)(pos - data);
            data = pos;
            if (flush(h) != 0)
                return -1;
            continue;
        }
        if (e == HPE_PAUSED_UPGRADE) {      /* answered already; no protocol switch here */
            h->close_after = true;
            return 0;
        }
        if (OUT_BUF - h->out_len < MAX_RESPONSE && flush(h) != 0)
            return -1;
        append_error(h, h->error_status ? h->error_status : 400);
        h->close_after = true;
        return 0;
    }
    return 0;
}

/* The close after a reply: see the top of the file. */
static void linger(struct http_conn *h)
{
    if (shutdown(h->c->fd, SHUT_WR) != 0)
        return;
    ringo_ctx_t *ctx = ringo_with_timeout(h->c->hard, LINGER);
    if (ctx == NULL)
        return;
    char buf[512];
    for (size_t total = 0; total < LINGER_BYTES;) {
        ssize_t n = ringo_read(ctx, h->c->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
}

static void serve_http(struct server_conn *c)
{
    struct http_conn *h = malloc(sizeof *h);
    if (h == NULL) {
        fprintf(stderr, "http_server: out of memory for a connection\n");
        return;
    }
    memset(h, 0, offsetof(struct http_conn, in));      /* the buffers need no zeroing */
    h->c = c;
    llhttp_init(&h->parser, HTTP_REQUEST, &settings);
    h->parser.data = h;
    h->header_deadline = ringo_now() + header_timeout;

    for (;;) {
        /* Waiting for a request: shutdown ends the wait. Inside one: only
         * its deadline (or the end of the grace period) does. */
        ringo_ctx_t *parent = h->in_request ? c->hard : c->stop;
        int64_t deadline;
        if (h->in_request ? !h->headers_done : h->served == 0)
            deadline = h->header_deadline;
        else
            deadline = ringo_now() + idle_timeout;
        ringo_ctx_t *ctx = ringo_with_deadline(parent, deadline);
        if (ctx == NULL)
            break;
        ssize_t n = ringo_read(ctx, c->fd, h->in, sizeof h->in);
        ringo_cancel(ctx);
        ringo_ctx_unref(ctx);
        if (n <= 0)
            break;      /* EOF, a deadline, shutdown, or a reset: close quietly */
        h->now = ringo_now();
        if (feed(h, h->in, (size_t)n) != 0 || flush(h) != 0)
            break;
        if (h->close_after) {
            linger(h);
            break;
        }
    }
    free(h);
}

static struct server srv = {.name = "http_server", .serve = serve_http};

int main(int argc, char **argv)
{
    header_timeout = server_env_ms("HTTP_HEADER_TIMEOUT_MS", 5000);
    idle_timeout = server_env_ms("HTTP_IDLE_TIMEOUT_MS", 30000);
    return server_run(&srv, argc, argv);
}

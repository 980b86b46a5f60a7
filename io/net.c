/* io/net.c - sockets: ringo_listen, _listen_opts, _accept, _dial,
 * _local_port, and the parsing of networks and addresses they share.
 *
 * Networks: "tcp" (IPv6 and IPv4), "tcp4", "tcp6", "unix". Addresses:
 * "host:port", ":port", "[v6]:port"; a port is 1-5 digits, 0-65535. A host
 * with a colon must be bracketed. Unix addresses are a path, or "@name" in
 * the abstract namespace. Anything else is -EINVAL.
 *
 * listen is plain syscalls (none of them blocks). ":port" on "tcp" listens
 * dual-stack on [::] with IPV6_V6ONLY off, or on 0.0.0.0 where IPv6 is
 * unavailable. A unix socket file left behind by a listener that is gone
 * (connecting to it is refused) is removed before the bind; a live one, or a
 * file that is not a socket, gives -EADDRINUSE. The probe leaves no trace
 * on a live listener (unix_stale).
 *
 * accept and dial wait through ringo__io_wait (op.c): the op records, the
 * peer address buffer and its length live in the call's frame until the op
 * completes. accept backs off on descriptor exhaustion (the pause is a
 * timeout op under ctx, so ctx still ends it). dial parses numeric hosts
 * itself and resolves names with getaddrinfo on the blocking pool
 * (blocking.c), then tries each address in turn, each connect under ctx.
 *
 * No locks of its own.
 */
#include "io_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum net { NET_TCP, NET_TCP4, NET_TCP6, NET_UNIX };

#define MAX_HOST 1024
#define MAX_ADDRS 16            /* of a resolved name, tried in order */

static int parse_network(const char *network, enum net *out)
{
    static const struct {
        const char *name;
        enum net net;
    } nets[] = {{"tcp", NET_TCP}, {"tcp4", NET_TCP4}, {"tcp6", NET_TCP6}, {"unix", NET_UNIX}};
    if (!network)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
        if (strcmp(network, nets[i].name) == 0) {
            *out = nets[i].net;
            return 0;
        }
    }
    return -EINVAL;
}

/* Splits "host:port" / "[host]:port" / ":port". 0 or -EINVAL. */
static int split_host_port(const char *addr, char *host, size_t host_size, uint16_t *port)
{
    if (!addr)
        return -EINVAL;
    const char *h = addr, *colon;
    size_t hlen;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -EINVAL;     /* no port */
        hlen = (size_t)(colon - addr);
        if (memchr(addr, ':', hlen) || memchr(addr, '[', hlen) || memchr(addr, ']', hlen))
            return -EINVAL;     /* an IPv6 host must be bracketed */
    }
    if (hlen >= host_size)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5)
        return -EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* One address to bind or connect to. */
struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool dual;                  /* [::] meant for both families (listen "tcp") */
};

static void make_v4(struct addr *a, const struct in_addr *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr = *ip;
    a->len = sizeof(*sin);
}

static void make_v6(struct addr *a, const struct in6_addr *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = *ip;
    a->len = sizeof(*sin6);
}

/* A numeric host (or "localhost", or "" meaning `empty`'s choice) as an
 * address of a family the network allows. 1 if it was one, 0 if host is a
 * name to resolve, -EINVAL if it does not fit the network. */
static int numeric_addr(enum net net, const char *host, uint16_t port, bool listening, struct addr *a)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (host[0] == '\0') {
        if (!listening) {
            host = "localhost";     /* Go dials the local system */
        } else if (net == NET_TCP4) {
            v4.s_addr = htonl(INADDR_ANY);
            make_v4(a, &v4, port);
            return 1;
        } else {
            make_v6(a, &in6addr_any, port);
            a->dual = net == NET_TCP;
            return 1;
        }
    }
    if (strcmp(host, "localhost") == 0) {
        if (!listening)
            return 0;               /* dial resolves it, as any name */
        if (net == NET_TCP6) {
            make_v6(a, &in6addr_loopback, port);
        } else {
            v4.s_addr = htonl(INADDR_LOOPBACK);
            make_v4(a, &v4, port);
        }
        return 1;
    }
    if (inet_pton(AF_INET, host, &v4) == 1) {
        if (net == NET_TCP6)
            return -EINVAL;
        make_v4(a, &v4, port);
        return 1;
    }
    if (inet_pton(AF_INET6, host, &v6) == 1) {
        if (net == NET_TCP4)
            return -EINVAL;
        make_v6(a, &v6, port);
        return 1;
    }
    return listening ? -EINVAL : 0;
}

/* A unix address: a path, or "@name" in the abstract namespace. */
static int unix_addr(const char *address, struct addr *a, bool *abstract)
{
    if (!address || !address[0])
        return -EINVAL;
    memset(a, 0, sizeof(*a));
    struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
    sun->sun_family = AF_UNIX;
    size_t n = strlen(address);
    *abstract = address[0] == '@';
    if (*abstract) {
        if (n > sizeof(sun->sun_path))
            return -EINVAL;
        sun->sun_path[0] = '\0';
        memcpy(sun->sun_path + 1, address + 1, n - 1);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        if (n >= sizeof(sun->sun_path))
            return -EINVAL;
        memcpy(sun->sun_path, address, n + 1);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- listen ------------------------------------------------------------------------------ */

static int listen_on(const struct addr *a, int backlog, bool reuse_port, bool v6only)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, err = 0;
    if (a->ss.ss_family != AF_UNIX &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        err = -errno;
    if (!err && reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        err = -errno;
    if (!err && a->ss.ss_family == AF_INET6) {
        int v = v6only;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) < 0)
            err = -errno;
    }
    if (!err && bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
        err = -errno;
    if (!err && listen(fd, backlog) < 0)
        err = -errno;
    if (err) {
        close(fd);
        return err;
    }
    ringo__fd_set_kind(fd, RINGO__FD_SOCKET);
    return fd;
}

/* Whether a unix socket file at path is left over: a socket nobody is
 * bound to (connecting is refused). The probe is a datagram socket: to a
 * live stream listener its connect fails with EPROTOTYPE, so the listener
 * never sees a connection come and go. */
static bool unix_stale(const struct addr *a, const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return false;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool stale = connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno == ECONNREFUSED;
    close(fd);
    return stale;
}

int ringo_listen_opts(const char *network, const char *address, const ringo_listen_opts_t *opts)
{
    enum net net;
    int r = parse_network(network, &net);
    if (r < 0)
        return r;
    int backlog = opts && opts->backlog ? opts->backlog : SOMAXCONN;
    bool reuse_port = opts && opts->reuse_port;
    if (backlog < 0)
        return -EINVAL;
    struct addr a;
    if (net == NET_UNIX) {
        bool abstract;
        if ((r = unix_addr(address, &a, &abstract)) < 0)
            return r;
        r = listen_on(&a, backlog, reuse_port, false);
        if (r == -EADDRINUSE && !abstract && unix_stale(&a, address)) {
            unlink(address);
            r = listen_on(&a, backlog, reuse_port, false);
        }
        return r;
    }
    char host[MAX_HOST];
    uint16_t port;
    if ((r = split_host_port(address, host, sizeof(host), &port)) < 0)
        return r;
    a.dual = false;
    if ((r = numeric_addr(net, host, port, true, &a)) < 0)
        return r;
    r = listen_on(&a, backlog, reuse_port, net == NET_TCP6);
    if (a.dual && (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL || r == -EPROTONOSUPPORT)) {
        /* No IPv6 here: IPv4 alone. */
        struct in_addr any = {.s_addr = htonl(INADDR_ANY)};
        make_v4(&a, &any, port);
        r = listen_on(&a, backlog, reuse_port, false);
    }
    return r;
}

int ringo_listen(const char *network, const char *address)
{
    return ringo_listen_opts(network, address, NULL);
}

/* ---- accept -------------------------------------------------------------------------------- */

#define ACCEPT_PAUSE_MIN (5 * RINGO_MILLISECOND)
#define ACCEPT_PAUSE_MAX RINGO_SECOND

static bool out_of_descriptors(int err)
{
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

int ringo_accept(ringo_ctx_t *ctx, int lfd, struct sockaddr_storage *peer)
{
    static _Atomic bool warned;
    int64_t pause = ACCEPT_PAUSE_MIN;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        ringo__io_op_t op;
        op.ev = (ringo__ev_op_t){.opcode = RINGO__EV_ACCEPT, .fd = lfd,
                                 .addr = (struct sockaddr *)&ss, .addrlen = &len,
                                 .flags = SOCK_CLOEXEC};
        ss.ss_family = AF_UNSPEC;
        ssize_t r = ringo__io_wait(ctx, &op);
        if (r >= 0) {
            int fd = (int)r;
            if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
                set_nodelay(fd);
            ringo__fd_set_kind(fd, RINGO__FD_SOCKET);
            if (peer)
                memcpy(peer, &ss, sizeof(ss));
            return fd;
        }
        if (r == -ECONNABORTED)
            continue;           /* the peer gave up before we took it: next */
        if (!out_of_descriptors((int)r))
            return (int)r;
        if (!atomic_exchange(&warned, true))
            fprintf(stderr, "ringo: ringo_accept: %s; retrying after a pause (5ms, doubling "
                            "to 1s) until descriptors free up\n", strerror((int)-r));
        int err = ringo__io_pause(ctx, lfd, pause);
        if (err < 0)
            return err;
        pause = pause * 2 > ACCEPT_PAUSE_MAX ? ACCEPT_PAUSE_MAX : pause * 2;
    }
}

/* ---- dial ----------------------------------------------------------------------------------- */

struct resolve {
    const char *host;
    int family;
    struct addr *out;
    size_t n;
    uint16_t port;
    int err;
};

static int gai_errno(int rc, int sys_errno)
{
    switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
    case EAI_FAIL:
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return sys_errno ? -sys_errno : -EIO;
    default:
        return -EINVAL;
    }
}

/* On the blocking pool: getaddrinfo, copied into the caller's array. */
static void *resolve_fn(void *arg)
{
    struct resolve *rs = arg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = rs->family;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(rs->host, NULL, &hints, &res);
    if (rc != 0) {
        rs->err = gai_errno(rc, errno);
        return NULL;
    }
    rs->n = 0;
    for (struct addrinfo *ai = res; ai && rs->n < MAX_ADDRS; ai = ai->ai_next) {
        struct addr *a = &rs->out[rs->n];
        if (ai->ai_family == AF_INET)
            make_v4(a, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, rs->port);
        else if (ai->ai_family == AF_INET6)
            make_v6(a, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, rs->port);
        else
            continue;
        rs->n++;
    }
    freeaddrinfo(res);
    rs->err = rs->n ? 0 : -ENOENT;
    return NULL;
}

/* Connects fd to a under ctx: 0 or -errno. */
static int connect_one(ringo_ctx_t *ctx, int fd, const struct addr *a)
{
    ringo__io_op_t op;
    op.ev = (ringo__ev_op_t){.opcode = RINGO__EV_CONNECT, .fd = fd,
                             .caddr = (const struct sockaddr *)&a->ss, .socklen = a->len};
    int r = (int)ringo__io_wait(ctx, &op);
    if (r != -EINTR && r != -EINPROGRESS && r != -EALREADY)
        return r;
    /* The connect goes on in the kernel: wait for its outcome. */
    r = ringo_poll(ctx, fd, POLLOUT);
    if (r < 0)
        return r;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        return -errno;
    return -soerr;
}

/* ctx ended or its deadline passed: stop trying addresses. */
static bool ctx_over(ringo_ctx_t *ctx)
{
    int64_t d;
    return ctx && (ringo_ctx_err(ctx) || (ringo_ctx_deadline(ctx, &d) && ringo__now() >= d));
}

int ringo_dial(ringo_ctx_t *ctx, const char *network, const char *address)
{
    enum net net;
    int r = parse_network(network, &net);
    if (r < 0)
        return r;
    struct addr addrs[MAX_ADDRS];
    size_t n = 1;
    if (net == NET_UNIX) {
        bool abstract;
        if ((r = unix_addr(address, &addrs[0], &abstract)) < 0)
            return r;
    } else {
        char host[MAX_HOST];
        uint16_t port;
        if ((r = split_host_port(address, host, sizeof(host), &port)) < 0)
            return r;
        r = numeric_addr(net, host[0] ? host : "", port, false, &addrs[0]);
        if (r < 0)
            return r;
        if (r == 0) {
            struct resolve rs = {
                .host = host[0] ? host : "localhost",
                .family = net == NET_TCP4 ? AF_INET : net == NET_TCP6 ? AF_INET6 : AF_UNSPEC,
                .out = addrs,
                .port = port,
            };
            ringo_blocking(resolve_fn, &rs);
            if (rs.err)
                return rs.err;
            n = rs.n;
        }
    }
    int last = -ECONNREFUSED;
    for (size_t i = 0; i < n; i++) {
        if (ctx_over(ctx))
            break;
        int fd = socket(addrs[i].ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = -errno;
            continue;
        }
        r = connect_one(ctx, fd, &addrs[i]);
        if (r == 0) {
            if (net != NET_UNIX)
                set_nodelay(fd);
            ringo__fd_set_kind(fd, RINGO__FD_SOCKET);
            return fd;
        }
        ringo_close(fd);
        last = r;
    }
    if (ctx_over(ctx)) {
        int err = ringo_ctx_err(ctx);
        int64_t d;
        if (ringo_ctx_deadline(ctx, &d) && ringo__now() >= d)
            return -ETIMEDOUT;
        return err;
    }
    return last;
}

int ringo_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EINVAL;
}

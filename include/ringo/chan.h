/* ringo/chan.h - channels and select (Go's chan and select statement).
 *
 * A channel carries fixed-size elements by value. Unbuffered channels
 * (cap 0) are a rendezvous: a send completes only when a receiver takes the
 * value, which is copied straight from the sender's memory to the
 * receiver's. Buffered channels are a FIFO of cap elements. Closing wakes
 * every receiver (after the buffer drains they get zero values and false)
 * and makes blocked senders panic. A NULL channel blocks forever and is
 * never ready in a select. Misuse panics with Go's words: "send on closed
 * channel", "close of closed channel", "close of nil channel".
 *
 * Channels are reference counted: ringo_chan_make returns one reference; a
 * fiber that uses a channel beyond its creator's lifetime takes its own
 * with ringo_chan_ref before ringo_go and drops it with ringo_chan_unref.
 * Freeing a channel while fibers are blocked on it panics. In builds with
 * assertions on (no NDEBUG), a use after the last unref panics at the use:
 * "use of a freed channel" (the freed memory is poisoned; detection is best
 * effort once the memory is reused). A channel may outlive ringo_run:
 * fibers still blocked on it when the run ends are forgotten.
 *
 * Channels work from plain threads too: a thread that is not a ringo worker
 * blocks on a futex instead of parking a fiber.
 */
#ifndef RINGO_CHAN_H
#define RINGO_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ringo/common.h>
#include <ringo/time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ringo_chan ringo_chan_t;

/* make(chan T, cap) with sizeof(T) == elem_size; elem_size 0 is chan
 * struct{}. NULL only when memory ran out. */
RINGO_API ringo_chan_t *ringo_chan_make(size_t elem_size, size_t cap);
RINGO_API ringo_chan_t *ringo_chan_ref(ringo_chan_t *ch);
RINGO_API void ringo_chan_unref(ringo_chan_t *ch);

/* ch <- *elem. Blocks until a receiver takes it or buffer space frees up.
 * NULL ch blocks forever; a closed ch panics. */
RINGO_API void ringo_chan_send(ringo_chan_t *ch, const void *elem);
/* *elem = <-ch (elem may be NULL to discard). Returns false once ch is
 * closed and drained, with *elem zeroed: Go's `v, ok := <-ch`. */
RINGO_API bool ringo_chan_recv(ringo_chan_t *ch, void *elem);
/* Non-blocking forms: 0, -EAGAIN (would block), -EPIPE (closed; for
 * try_recv, closed and drained, *elem zeroed). A NULL ch gives -EAGAIN.
 * Nothing else: try_send on a closed channel never panics. */
RINGO_API int ringo_chan_try_send(ringo_chan_t *ch, const void *elem);
RINGO_API int ringo_chan_try_recv(ringo_chan_t *ch, void *elem);
RINGO_API void ringo_chan_close(ringo_chan_t *ch);
RINGO_API size_t ringo_chan_len(ringo_chan_t *ch);
RINGO_API size_t ringo_chan_cap(ringo_chan_t *ch);

/* for var := range ch { ... }: var is an lvalue of the element type.
 *     int v; RINGO_CHAN_FOREACH(ch, v) { use(v); }                */
#define RINGO_CHAN_FOREACH(ch, var) while (ringo_chan_recv((ch), &(var)))

/* ---- typed, direction-checked channels: chan T, chan<- T, <-chan T ------------ */

/* RINGO_CHAN_DEFINE(intchan, int) defines
 *   intchan       bidirectional: .raw, .tx (send-only), .rx (receive-only)
 *   intchan_tx / intchan_rx   the directional views (distinct types)
 *   intchan_make(cap), intchan_send(tx, v), intchan_recv(rx, &v),
 *   intchan_try_send(tx, v), intchan_try_recv(rx, &v), intchan_close(tx),
 *   intchan_ref(c) / intchan_unref(c), and the same for each view:
 *   intchan_tx_ref(tx) / intchan_tx_unref(tx), intchan_rx_ref(rx) /
 *   intchan_rx_unref(rx), so a fiber handed one view can keep and drop its
 *   own reference;
 *   intchan_recv_case(rx, int *out), intchan_send_case(tx, const int *in)
 *   select cases (RINGO_RECV / RINGO_SEND with the element type checked).
 * Passing a receive-only view where a send-only one is expected (or the
 * reverse) does not compile; neither does a case whose pointer is not to
 * the element type (C requires the diagnostic; GCC before 14 makes it only a
 * warning unless -Werror=incompatible-pointer-types). */
#define RINGO_CHAN_DEFINE(name, T)                                                   \
    typedef struct { ringo_chan_t *raw; } name##_tx;                                 \
    typedef struct { ringo_chan_t *raw; } name##_rx;                                 \
    typedef struct { ringo_chan_t *raw; name##_tx tx; name##_rx rx; } name;          \
    static inline __attribute__((unused)) name name##_make(size_t cap)               \
    {                                                                                \
        ringo_chan_t *c = ringo_chan_make(sizeof(T), cap);                           \
        name r = {c, {c}, {c}};                                                      \
        return r;                                                                    \
    }                                                                                \
    static inline __attribute__((unused)) void name##_send(name##_tx c, T v)         \
    { ringo_chan_send(c.raw, &v); }                                                  \
    static inline __attribute__((unused)) bool name##_recv(name##_rx c, T *v)        \
    { return ringo_chan_recv(c.raw, v); }                                            \
    static inline __attribute__((unused)) int name##_try_send(name##_tx c, T v)      \
    { return ringo_chan_try_send(c.raw, &v); }                                       \
    static inline __attribute__((unused)) int name##_try_recv(name##_rx c, T *v)     \
    { return ringo_chan_try_recv(c.raw, v); }                                        \
    static inline __attribute__((unused)) void name##_close(name##_tx c)             \
    { ringo_chan_close(c.raw); }                                                     \
    static inline __attribute__((unused)) name name##_ref(name c)                    \
    { ringo_chan_ref(c.raw); return c; }                                             \
    static inline __attribute__((unused)) void name##_unref(name c)                  \
    { ringo_chan_unref(c.raw); }                                                     \
    static inline __attribute__((unused)) name##_tx name##_tx_ref(name##_tx c)       \
    { ringo_chan_ref(c.raw); return c; }                                             \
    static inline __attribute__((unused)) void name##_tx_unref(name##_tx c)          \
    { ringo_chan_unref(c.raw); }                                                     \
    static inline __attribute__((unused)) name##_rx name##_rx_ref(name##_rx c)       \
    { ringo_chan_ref(c.raw); return c; }                                             \
    static inline __attribute__((unused)) void name##_rx_unref(name##_rx c)          \
    { ringo_chan_unref(c.raw); }                                                     \
    static inline __attribute__((unused)) ringo_case_t name##_recv_case(name##_rx c, T *out) \
    { return RINGO_RECV(c.raw, out); }                                               \
    static inline __attribute__((unused)) ringo_case_t name##_send_case(name##_tx c, const T *in) \
    { return RINGO_SEND(c.raw, in); }

/* ---- select ----------------------------------------------------------------------- */

enum ringo_case_kind {
    RINGO_CASE_RECV = 1,
    RINGO_CASE_SEND,
    RINGO_CASE_TIMEOUT,
    RINGO_CASE_READABLE,
    RINGO_CASE_WRITABLE,
    RINGO_CASE_DEFAULT,
};

typedef struct ringo_case {
    int kind;                   /* enum ringo_case_kind */
    ringo_chan_t *ch;
    void *ptr;                  /* recv: where the value goes (may be NULL); send: the value */
    ringo_duration_t timeout;   /* RINGO_TIMEOUT */
    int fd;                     /* RINGO_READABLE / RINGO_WRITABLE */
    bool ok;                    /* after a recv case fired: false if ch was closed */
} ringo_case_t;

#define RINGO_RECV(ch_, out_)  ((ringo_case_t){.kind = RINGO_CASE_RECV, .ch = (ch_), .ptr = (out_)})
#define RINGO_SEND(ch_, in_)   ((ringo_case_t){.kind = RINGO_CASE_SEND, .ch = (ch_), .ptr = (void *)(in_)})
#define RINGO_TIMEOUT(d_)      ((ringo_case_t){.kind = RINGO_CASE_TIMEOUT, .timeout = (d_)})
#define RINGO_READABLE(fd_)    ((ringo_case_t){.kind = RINGO_CASE_READABLE, .fd = (fd_)})
#define RINGO_WRITABLE(fd_)    ((ringo_case_t){.kind = RINGO_CASE_WRITABLE, .fd = (fd_)})
#define RINGO_DEFAULT          ((ringo_case_t){.kind = RINGO_CASE_DEFAULT})

/* Go's select: blocks until one case can proceed, performs it and returns
 * its index. Among ready cases one is chosen uniformly at random. With a
 * RINGO_DEFAULT case it never blocks (returns the default's index when
 * nothing is ready). A case on a NULL channel never fires; a select with
 * no case that can ever fire blocks forever. A fd case fires when the fd is
 * readable/writable (nothing is read or written); fd cases need a fiber.
 * Returns the index of the case performed, or, performing nothing:
 *   -EINVAL   a malformed case list: cases NULL with n > 0, two defaults,
 *             an unknown kind, more than 65536 cases;
 *   -EBADF    a fd case with a negative fd;
 *   -ENOTSUP  a fd case from a thread that is not running a fiber;
 *   -ENOMEM   no memory for the scratch of a select of more than 8 cases,
 *             or for a fd case's poll record.
 * ringo_select(NULL, 0) is Go's empty select: it blocks forever. */
RINGO_API int ringo_select(ringo_case_t *cases, size_t n);

#ifdef __cplusplus
}
#endif
#endif

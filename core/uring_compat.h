/* core/uring_compat.h - what Debian 12's liburing 2.3 lacks and the kernel
 * has. Only ring.c includes it: no other file sees liburing. One place, so the rest of the code reads as if liburing were current.
 * Each definition is the kernel's UAPI value; the runtime probes whether the
 * running kernel honours it before relying on it. */
#ifndef RINGO_URING_COMPAT_H
#define RINGO_URING_COMPAT_H

#include <liburing.h>

/* Linux 6.13: send a MSG_RING without a source ring, through
 * io_uring_register(-1, IORING_REGISTER_SEND_MSG_RING, sqe, 1). It lets a
 * thread that owns no ring (the monitor, a plain pthread) wake a worker. */
#ifndef IORING_REGISTER_SEND_MSG_RING
#define IORING_REGISTER_SEND_MSG_RING 31
#endif

#endif

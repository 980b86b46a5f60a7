/* ringo.h - the umbrella header: Go's concurrency model for C on io_uring.
 *
 * Include this one header. The pieces live in ringo/<subsystem>.h, each
 * documenting its functions, the -errno they return and where ringo's
 * semantics differ from Go's.
 */
#ifndef RINGO_H
#define RINGO_H

#include <ringo/version.h>
#include <ringo/time.h>
#include <ringo/runtime.h>
#include <ringo/chan.h>
#include <ringo/sync.h>
#include <ringo/context.h>
#include <ringo/group.h>
#include <ringo/io.h>

#endif

/* ringo/common.h - what every public header shares: the export macro. */
#ifndef RINGO_COMMON_H
#define RINGO_COMMON_H

/* The library is built with -fvisibility=hidden; RINGO_API marks the ABI, so
 * every exported symbol is a deliberate addition. */
#if defined(RINGO_BUILDING)
#  define RINGO_API __attribute__((visibility("default")))
#else
#  define RINGO_API
#endif

#endif

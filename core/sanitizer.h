/* core/sanitizer.h - fiber annotations for ThreadSanitizer, AddressSanitizer
 * and Valgrind. Each macro is empty unless the build uses that tool, so the
 * switch path carries nothing in release builds.
 *
 * ThreadSanitizer, the way Go's race detector works. In a TSan build the
 * runtime itself (core/, sync/) is compiled without instrumentation (meson
 * passes -fno-sanitize=thread -DRINGO_TSAN=1 for it), so its own atomics,
 * spinlocks and run queues publish no happens-before edge: if they did,
 * every fiber that touched the scheduler would seem ordered after every
 * other, and real races between fibers would go unreported. Instead:
 *   - every fiber is a TSan fiber, switched to without synchronisation
 *     (RINGO_TSAN_SWITCH passes __tsan_switch_to_fiber_no_sync);
 *   - each ordering point the API promises publishes its edge explicitly
 *     with RINGO_RACE_RELEASE(addr) at its source and RINGO_RACE_ACQUIRE(addr)
 *     at its destination: spawn -> start, ready -> resume, channel slots,
 *     close -> receive, unlock -> lock, Done -> Wait, Once, cancel -> Err,
 *     Store -> Load, Put -> Get;
 *   - RINGO_RACE_READ/WRITE mark Go's pseudo-accesses (a send reads the
 *     channel, close writes it), so a send racing a close is reported;
 *   - the runtime's own pthread mutexes and eventfd wake-ups, which TSan's
 *     interceptors would turn into edges (and, for the fd, accesses), run
 *     inside RINGO_TSAN_NOSYNC_* or RINGO_TSAN_HIDE_* (neither);
 *   - memory the runtime allocates and frees for itself goes through
 *     ringo__malloc & co., which hide it from TSan's access history (who
 *     frees a context or a map node is an accident of scheduling);
 *   - timers fire in a per-worker TSan context of their own (Go's per-P
 *     timerRaceCtx, core/timer.c); a sleep's end, a select's timeout and
 *     an fd becoming ready wake their fiber without any edge, as in Go.
 * A fiber's own sync objects live in a per-fiber heap token (internal.h,
 * RINGO__RACE_FIBER) that dies with it. Its TSan context does not: a slot
 * keeps one for life (stack.c says why), so a fiber inherits the clock of
 * the fibers that ran on its stack before - the one blind spot. */
#ifndef RINGO_SANITIZER_H
#define RINGO_SANITIZER_H

#include "ringo_config.h"
#include <stddef.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define RINGO_ASAN 1
#  endif
#  if __has_feature(thread_sanitizer)
#    define RINGO_TSAN 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(RINGO_ASAN)
#  define RINGO_ASAN 1
#endif
/* The runtime is built with -fno-sanitize=thread and -DRINGO_TSAN=1 (see
 * above); programs and tests built with -fsanitize=thread get it here. */
#if defined(__SANITIZE_THREAD__) && !defined(RINGO_TSAN)
#  define RINGO_TSAN 1
#endif

#ifdef RINGO_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#  define RINGO_ASAN_START_SWITCH(save, bottom, size) __sanitizer_start_switch_fiber((save), (bottom), (size))
#  define RINGO_ASAN_FINISH_SWITCH(save) __sanitizer_finish_switch_fiber((save), NULL, NULL)
#  define RINGO_ASAN_UNPOISON(addr, size) __asan_unpoison_memory_region((addr), (size))
#else
#  define RINGO_ASAN_START_SWITCH(save, bottom, size) ((void)0)
#  define RINGO_ASAN_FINISH_SWITCH(save) ((void)0)
#  define RINGO_ASAN_UNPOISON(addr, size) ((void)0)
#endif

#ifdef RINGO_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_set_fiber_name(void *fiber, const char *name);
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void __tsan_read1(void *addr);
void __tsan_write1(void *addr);
void __tsan_func_entry(void *call_pc);
void __tsan_func_exit(void *unused);    /* GCC's builtin has this type */
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#  define RINGO_TSAN_CURRENT() __tsan_get_current_fiber()
#  define RINGO_TSAN_CREATE() __tsan_create_fiber(0)
#  define RINGO_TSAN_DESTROY(f) __tsan_destroy_fiber(f)
#  define RINGO_TSAN_SWITCH(f) __tsan_switch_to_fiber((f), 1u /* no_sync */)
#  define RINGO_TSAN_NAME(f, name) __tsan_set_fiber_name((f), (name))
#  define RINGO_RACE_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#  define RINGO_RACE_RELEASE(addr) __tsan_release((void *)(addr))
/* The runtime is not instrumented, so TSan's shadow stack lacks the frame
 * of the user function that called into it: push the call site for the
 * duration of the pseudo-access, and the report names the caller. (Used
 * in API functions or helpers inlined into them.) */
#  define RINGO_RACE_READ(addr) \
    (__tsan_func_entry(__builtin_return_address(0)), __tsan_read1((void *)(addr)), __tsan_func_exit(NULL))
#  define RINGO_RACE_WRITE(addr) \
    (__tsan_func_entry(__builtin_return_address(0)), __tsan_write1((void *)(addr)), __tsan_func_exit(NULL))
#  define RINGO_TSAN_NOSYNC_BEGIN() AnnotateIgnoreSyncBegin(__FILE__, __LINE__)
#  define RINGO_TSAN_NOSYNC_END() AnnotateIgnoreSyncEnd(__FILE__, __LINE__)
#  define RINGO_TSAN_NOACCESS_BEGIN() \
    (AnnotateIgnoreReadsBegin(__FILE__, __LINE__), AnnotateIgnoreWritesBegin(__FILE__, __LINE__))
#  define RINGO_TSAN_NOACCESS_END() \
    (AnnotateIgnoreWritesEnd(__FILE__, __LINE__), AnnotateIgnoreReadsEnd(__FILE__, __LINE__))
#  define RINGO_TSAN_HIDE_BEGIN() (RINGO_TSAN_NOSYNC_BEGIN(), RINGO_TSAN_NOACCESS_BEGIN())
#  define RINGO_TSAN_HIDE_END() (RINGO_TSAN_NOACCESS_END(), RINGO_TSAN_NOSYNC_END())
#else
#  define RINGO_TSAN_HIDE_BEGIN() ((void)0)
#  define RINGO_TSAN_HIDE_END() ((void)0)
#  define RINGO_TSAN_CURRENT() NULL
#  define RINGO_TSAN_CREATE() NULL
#  define RINGO_TSAN_DESTROY(f) ((void)(f))
#  define RINGO_TSAN_SWITCH(f) ((void)(f))
#  define RINGO_TSAN_NAME(f, name) ((void)0)
#  define RINGO_RACE_ACQUIRE(addr) ((void)(addr))
#  define RINGO_RACE_RELEASE(addr) ((void)(addr))
#  define RINGO_RACE_READ(addr) ((void)(addr))
#  define RINGO_RACE_WRITE(addr) ((void)(addr))
#  define RINGO_TSAN_NOSYNC_BEGIN() ((void)0)
#  define RINGO_TSAN_NOSYNC_END() ((void)0)
#  define RINGO_TSAN_NOACCESS_BEGIN() ((void)0)
#  define RINGO_TSAN_NOACCESS_END() ((void)0)
#endif

/* The runtime's own heap memory: plain libc calls, except that under TSan
 * the allocation and the free are hidden from the access history. */
#ifdef RINGO_TSAN
#include <stdlib.h>
static inline void *ringo__malloc(size_t n)
{
    RINGO_TSAN_NOACCESS_BEGIN();
    void *p = malloc(n);
    RINGO_TSAN_NOACCESS_END();
    return p;
}
static inline void *ringo__calloc(size_t n, size_t size)
{
    RINGO_TSAN_NOACCESS_BEGIN();
    void *p = calloc(n, size);
    RINGO_TSAN_NOACCESS_END();
    return p;
}
static inline void *ringo__realloc(void *old, size_t n)
{
    RINGO_TSAN_NOACCESS_BEGIN();
    void *p = realloc(old, n);
    RINGO_TSAN_NOACCESS_END();
    return p;
}
static inline void *ringo__aligned_alloc(size_t align, size_t n)
{
    RINGO_TSAN_NOACCESS_BEGIN();
    void *p = aligned_alloc(align, n);
    RINGO_TSAN_NOACCESS_END();
    return p;
}
static inline void ringo__free(void *p)
{
    RINGO_TSAN_NOACCESS_BEGIN();
    free(p);
    RINGO_TSAN_NOACCESS_END();
}
#else
#  define ringo__malloc malloc
#  define ringo__calloc calloc
#  define ringo__realloc realloc
#  define ringo__aligned_alloc aligned_alloc
#  define ringo__free free
#endif

/* Valgrind does not know what io_uring's kernel side writes into user
 * memory (a read's buffer, an accept's address): the ring tells memcheck
 * with RINGO_VALGRIND_DEFINED as each completion is dispatched. */
#if RINGO_HAVE_VALGRIND
#  include <valgrind/valgrind.h>
#  include <valgrind/memcheck.h>
#  define RINGO_VALGRIND_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER((lo), (hi))
#  define RINGO_VALGRIND_STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#  define RINGO_VALGRIND_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
static inline int ringo__on_valgrind(void) { return RUNNING_ON_VALGRIND; }
#else
#  define RINGO_VALGRIND_STACK_REGISTER(lo, hi) 0u
#  define RINGO_VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#  define RINGO_VALGRIND_DEFINED(p, n) ((void)(p), (void)(n))
static inline int ringo__on_valgrind(void) { return 0; }
#endif

#endif

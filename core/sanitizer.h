/* core/sanitizer.h - fiber annotations for ThreadSanitizer, AddressSanitizer
 * and Valgrind. Each macro is empty unless the build uses that tool, so the
 * switch path carries nothing in release builds. */
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
#  define RINGO_TSAN_CURRENT() __tsan_get_current_fiber()
#  define RINGO_TSAN_CREATE() __tsan_create_fiber(0)
#  define RINGO_TSAN_DESTROY(f) __tsan_destroy_fiber(f)
#  define RINGO_TSAN_SWITCH(f) __tsan_switch_to_fiber((f), 0)
#else
#  define RINGO_TSAN_CURRENT() NULL
#  define RINGO_TSAN_CREATE() NULL
#  define RINGO_TSAN_DESTROY(f) ((void)(f))
#  define RINGO_TSAN_SWITCH(f) ((void)(f))
#endif

#if RINGO_HAVE_VALGRIND
#  include <valgrind/valgrind.h>
#  define RINGO_VALGRIND_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER((lo), (hi))
#  define RINGO_VALGRIND_STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
static inline int ringo__on_valgrind(void) { return RUNNING_ON_VALGRIND; }
#else
#  define RINGO_VALGRIND_STACK_REGISTER(lo, hi) 0u
#  define RINGO_VALGRIND_STACK_DEREGISTER(id) ((void)(id))
static inline int ringo__on_valgrind(void) { return 0; }
#endif

#endif

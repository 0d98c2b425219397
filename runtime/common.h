/*
 * common.h — small shared definitions of the runtime: cache-line size,
 * branch hints, and the ThreadSanitizer annotation hooks.
 *
 * ThreadSanitizer does not model atomic_thread_fence.  The runtime keeps every
 * fence of the published algorithms in all builds and, under TSan only, adds
 * __tsan_release/__tsan_acquire on the variable that the fence publishes
 * through, so TSan sees the same happens-before edge the fence creates.
 */
#ifndef TWILL_COMMON_H
#define TWILL_COMMON_H

#include <stdalign.h>
#include <stdatomic.h>

/* 64-byte lines on every x86-64 and most Arm cores; writer groups are kept
   apart by this much so that a thief's CAS does not evict the owner's line. */
#define TWILL_CACHE_LINE 64

#define twill_likely(x)   __builtin_expect(!!(x), 1)
#define twill_unlikely(x) __builtin_expect(!!(x), 0)
#define TWILL_COLD        __attribute__((cold, noinline))

#if defined(__SANITIZE_THREAD__)
#define TWILL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TWILL_TSAN 1
#endif
#endif

#ifdef TWILL_TSAN
#include <sanitizer/tsan_interface.h>
#define TWILL_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define TWILL_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define TWILL_TSAN_RELEASE(addr) ((void)0)
#define TWILL_TSAN_ACQUIRE(addr) ((void)0)
#endif

#endif /* TWILL_COMMON_H */

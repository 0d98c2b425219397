/*
 * common.h — small shared definitions of the runtime: cache-line size,
 * branch hints, the debug assertion and the ThreadSanitizer annotation
 * hooks.
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

/* A spin-wait hint to the CPU (and to a sibling hardware thread). */
static inline void twill_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Record rc in *slot unless an earlier nonzero code is there (first error
   wins).  relaxed: each caller publishes the slot through the completion
   of the work that failed (a finish, a join). */
static inline void twill__first_error(_Atomic int *slot, int rc)
{
    int zero = 0;
    atomic_compare_exchange_strong_explicit(slot, &zero, rc, memory_order_relaxed,
                                            memory_order_relaxed);
}

#if defined(__SANITIZE_THREAD__)
#define TWILL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TWILL_TSAN 1
#endif
#endif

/* Debug assertion: on in Debug builds and wherever TWILL_DEBUG is defined
   (CI's builds, cmake -DTWILL_ASSERTS=ON), compiled away otherwise.  For
   what must never happen: an owner-only call from another thread, a
   private-stack index out of bounds, a count below zero. */
#ifdef TWILL_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define TWILL_ASSERT(cond)                                                        \
    ((cond) ? (void)0                                                             \
            : (fprintf(stderr, "twill: %s:%d: assertion failed: %s\n", __FILE__, \
                       __LINE__, #cond),                                          \
               abort()))
#else
#define TWILL_ASSERT(cond) ((void)0)
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

/*
 * os.h — the runtime's only wrappers around the operating system: the Linux
 * futex, the monotonic clock, bounded condition-variable waits, the
 * calling thread's id and scheduling attributes, and one power-of-two
 * rounding.
 *
 * Who may call what: every function, any thread.  No state.
 */
#ifndef TWILL_OS_H
#define TWILL_OS_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Relative timeout in nanoseconds (>= 0) as a timespec. */
static inline struct timespec twill__timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

/* Sleep while *word == expected, at most timeout_ns (< 0: no limit).  The
   kernel compares under its own lock, so a wake between the caller's check
   and the sleep is never lost.  Spurious returns (EINTR, EAGAIN, the
   timeout) are the caller's to handle: every caller loops and re-checks. */
static inline void twill__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                                     int64_t timeout_ns)
{
    struct timespec ts = twill__timespec(timeout_ns < 0 ? 0 : timeout_ns);
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout_ns < 0 ? NULL : &ts,
            NULL, 0);
}

/* Wake up to n sleepers on word.  Does not write *word: a waker may call it
   after the word's owner has already seen its last change and gone. */
static inline void twill__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Monotonic clock in nanoseconds. */
static inline int64_t twill__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The calling thread's kernel id (what ps -L and perf show). */
static inline long twill__thread_id(void)
{
    return syscall(SYS_gettid);
}

/* The kernel's struct sched_attr up to sched_period (its first version,
   SCHED_ATTR_SIZE_VER0), which <linux/sched/types.h> cannot give beside
   glibc's <sched.h> (both define struct sched_param); glibc has no
   wrapper for the two calls. */
typedef struct twill__sched_attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period; /* runtime: a normal thread's slice (Linux 6.12) */
} twill__sched_attr;

/* The calling thread's attributes into *a: 0, or -1 and errno. */
static inline int twill__sched_getattr(twill__sched_attr *a)
{
    *a = (twill__sched_attr){.size = sizeof *a};
    return (int)syscall(SYS_sched_getattr, 0, a, sizeof *a, 0);
}

/* Give the calling thread the attributes *a: 0, or -1 and errno. */
static inline int twill__sched_setattr(twill__sched_attr *a)
{
    a->size = sizeof *a;
    return (int)syscall(SYS_sched_setattr, 0, a, 0);
}

/* Absolute deadline for a timeout > 0, saturating at INT64_MAX (a timeout
   too large to represent means no limit, never an overflow). */
static inline int64_t twill__deadline(int64_t timeout_ns)
{
    int64_t now = twill__now_ns();
    return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

/* A bounded wait on a condition variable (CLOCK_MONOTONIC): the absolute
   deadline for timeout_ns > 0, as pthread_cond_timedwait wants it.  A
   deadline beyond any clock turns *timeout_ns into -1 (no limit). */
static inline struct timespec twill__cond_deadline(int64_t *timeout_ns)
{
    struct timespec ts = {0, 0};
    if (*timeout_ns > 0) {
        int64_t d = twill__deadline(*timeout_ns);
        if (d == INT64_MAX)
            *timeout_ns = -1;
        ts = twill__timespec(d);
    }
    return ts;
}

/* Wait on cv (mutex held) until signalled, or until deadline when
   timeout_ns > 0 (see twill__cond_deadline).  0 or ETIMEDOUT (or another
   pthread code: callers re-check their condition either way). */
static inline int twill__cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t timeout_ns,
                                   const struct timespec *deadline)
{
    return timeout_ns < 0 ? pthread_cond_wait(cv, mu) : pthread_cond_timedwait(cv, mu, deadline);
}

/* Smallest power of two >= n (n >= 1, at most 2^63). */
static inline size_t twill__pow2_ceil(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

#endif /* TWILL_OS_H */

/*
 * stress/common.h — shared bits of the stress programs: a watchdog that
 * turns a hang into a failure, a failure count (FAIL), a tiny RNG, and a
 * busy delay used to vary timing (never to synchronise).
 */
#ifndef TWILL_STRESS_COMMON_H
#define TWILL_STRESS_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Failures found so far, by any thread (FAIL); a program that counts its
   own way leaves it unused. */
__attribute__((unused)) static long stress_failures;

/* Report a failure, from any thread: a line on stderr, and one more in
   stress_failures. */
#define FAIL(...)                                                   \
    do {                                                            \
        fprintf(stderr, "FAIL: " __VA_ARGS__);                      \
        fputc('\n', stderr);                                        \
        __atomic_add_fetch(&stress_failures, 1, __ATOMIC_RELAXED);  \
    } while (0)

static void stress_watchdog_fired(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: stress program did not finish in time (hang?)\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(2);
}

/* Fail the program if it runs longer than `seconds`. */
static inline void stress_watchdog(unsigned seconds)
{
    signal(SIGALRM, stress_watchdog_fired);
    alarm(seconds);
}

static inline uint64_t stress_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline int64_t stress_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Busy-wait about ns nanoseconds: moves the next step across race windows. */
static inline void stress_delay(int64_t ns)
{
    int64_t end = stress_now_ns() + ns;
    while (stress_now_ns() < end)
        ;
}

#endif /* TWILL_STRESS_COMMON_H */

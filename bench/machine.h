/*
 * bench/machine.h — what the probes of the machine itself (futexwake,
 * pingpong: no runtime linked) share: pinning the calling thread to one
 * CPU, a clock, and sorting samples.  Header-only, as bench/probe.h is for
 * the probes of a pool; bench/common.c has the same clock and sort for the
 * benchmark driver, which these programs do not link (it needs par.h).
 */
#ifndef TWILL_BENCH_MACHINE_H
#define TWILL_BENCH_MACHINE_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include (pthread_setaffinity_np)"
#endif

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

/* Pin the calling thread to CPU cpu: 0, or an errno value. */
static inline int machine_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* CLOCK_MONOTONIC, in seconds. */
static inline double machine_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int machine_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sort v[0..n) ascending (then v[n / 2] is the median). */
static inline void machine_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, machine_cmp_double);
}

#endif /* TWILL_BENCH_MACHINE_H */

/*
 * bench/probe.h — what the hand-run probes (prio, bcast, resize) share: a
 * clock, a CPU-bound task of a set length, a feeder thread that keeps a
 * pool's outside queue full of such tasks, and sorting samples for their
 * median and 99th percentile.  Header-only: each probe is one program.
 */
#ifndef TWILL_BENCH_PROBE_H
#define TWILL_BENCH_PROBE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "twill.h"

static inline double probe_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds each probe_spin task runs; set before feeding. */
static double probe_task_s = 50e-6;

static int probe_spin(void *arg)
{
    (void)arg;
    double end = probe_now() + probe_task_s;
    while (probe_now() < end)
        ;
    return 0;
}

typedef struct probe_feeder {
    twill_pool *pool;
    _Atomic int on;
    pthread_t thread;
} probe_feeder;

static void *probe_feed(void *arg)
{
    probe_feeder *f = arg;
    while (atomic_load_explicit(&f->on, memory_order_relaxed))
        if (twill_submit_for(f->pool, probe_spin, NULL, 10000000) == ESHUTDOWN)
            break;
    return NULL;
}

/* Start feeding pool and return once its outside queue is full. */
static inline void probe_feed_start(probe_feeder *f, twill_pool *pool)
{
    f->pool = pool;
    atomic_store(&f->on, 1);
    pthread_create(&f->thread, NULL, probe_feed, f);
    while (twill_submit_for(pool, probe_spin, NULL, 0) != EAGAIN)
        ;
}

static inline void probe_feed_stop(probe_feeder *f)
{
    atomic_store(&f->on, 0);
    pthread_join(f->thread, NULL);
}

static int probe_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sort n samples (seconds); their median and 99th percentile in us. */
static inline void probe_percentiles(double *s, int n, double *median_us, double *p99_us)
{
    qsort(s, (size_t)n, sizeof *s, probe_cmp);
    *median_us = s[n / 2] * 1e6;
    *p99_us = s[(n * 99) / 100] * 1e6;
}

#endif /* TWILL_BENCH_PROBE_H */

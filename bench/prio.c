/*
 * bench/prio.c — HIGH submit→start latency under a saturating NORMAL
 * backlog (issue 11).  A feeder thread keeps the pool's NORMAL outside
 * queue full of CPU tasks (~50 us each, --grain-us); meanwhile the main
 * thread, --size times, pauses 1 ms, takes the time, submits one task at
 * the level under test that takes the time when it starts, and waits for
 * it (polling with 20 us sleeps, so that it leaves the CPUs to the pool).  Prints, per level, the median and 99th percentile:
 *   bench=prio sched=stealing workers=2 level=high tries=200 median_us=.. p99_us=..
 * NORMAL is measured with a tenth of the tries: each waits behind the whole
 * backlog (queue_capacity tasks).  The scheduler comes from $TWILL_SCHED.
 * Usage: bench_prio [--workers N] [--size TRIES] [--grain-us US]
 * A probe run by hand (README, "Priorities"), not by bench/run.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

static twill_pool *pool;

static int stamp_task(void *arg)
{
    /* release: pairs with the waiter's acquire */
    atomic_store_explicit((_Atomic double *)arg, probe_now(), memory_order_release);
    return 0;
}

static void measure(twill_prio prio, const char *name, int tries, unsigned workers)
{
    double *lat = calloc((size_t)tries, sizeof *lat);
    for (int i = 0; i < tries; i++) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
        _Atomic double start = 0.0;
        double t0 = probe_now();
        if (twill_submit_prio(pool, prio, stamp_task, (void *)&start, -1) != 0) {
            fprintf(stderr, "bench_prio: submit failed\n");
            exit(1);
        }
        /* poll with short sleeps, leaving the CPUs to the workers: the task
           stamps its own start, so the poll does not change the interval */
        double t1;
        struct timespec poll = {0, 20000};
        while ((t1 = atomic_load_explicit(&start, memory_order_acquire)) == 0.0)
            nanosleep(&poll, NULL);
        lat[i] = t1 - t0;
    }
    double median, p99;
    probe_percentiles(lat, tries, &median, &p99);
    const char *sched = getenv("TWILL_SCHED");
    printf("bench=prio sched=%s workers=%u level=%s tries=%d median_us=%.1f p99_us=%.1f\n",
           sched != NULL ? sched : "stealing", workers, name, tries, median, p99);
    free(lat);
}

int main(int argc, char **argv)
{
    unsigned workers = 2;
    int tries = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--workers") == 0)
            workers = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--size") == 0)
            tries = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--grain-us") == 0)
            probe_task_s = atof(argv[i + 1]) * 1e-6;
    }
    if (workers < 1 || tries < 10) {
        fprintf(stderr, "usage: bench_prio [--workers N] [--size TRIES>=10] [--grain-us US]\n");
        return 1;
    }
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.queue_capacity = 1024;
    if (twill_pool_create(&pool, &cfg) != 0)
        return 1;
    probe_feeder feed;
    probe_feed_start(&feed, pool); /* the NORMAL queue full */
    measure(TWILL_PRIO_HIGH, "high", tries, workers);
    measure(TWILL_PRIO_NORMAL, "normal", tries / 10, workers);
    probe_feed_stop(&feed);
    twill_pool_shutdown(pool, TWILL_CANCEL, NULL);
    twill_pool_destroy(pool);
    return 0;
}

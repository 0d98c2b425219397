/*
 * bench/bcast.c — twill_broadcast latency (issue 12): how long a broadcast
 * of an empty function takes from an outside thread, on an idle pool
 * (every worker parked) and on a busy one (a feeder keeps every worker in
 * --task-us long tasks).  --size tries each; prints the median and 99th
 * percentile:
 *   bench=bcast sched=stealing workers=2 pool=idle tries=200 median_us=.. p99_us=..
 * On a busy pool a share waits for the task running on its worker, so the
 * expected figure is about one task length.  The scheduler comes from
 * $TWILL_SCHED.
 * Usage: bench_bcast [--workers N] [--size TRIES] [--task-us US]
 * A probe run by hand (README, "Embedding"), not by bench/run.
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

static int empty(void *arg)
{
    (void)arg;
    return 0;
}

static void measure(const char *name, int tries, unsigned workers, long pause_ns)
{
    double *lat = calloc((size_t)tries, sizeof *lat);
    for (int i = 0; i < tries; i++) {
        struct timespec pause = {0, pause_ns};
        nanosleep(&pause, NULL); /* idle: long past the spin before parking */
        double t0 = probe_now();
        if (twill_broadcast(pool, empty, NULL) != 0) {
            fprintf(stderr, "bench_bcast: broadcast failed\n");
            exit(1);
        }
        lat[i] = probe_now() - t0;
    }
    double median, p99;
    probe_percentiles(lat, tries, &median, &p99);
    const char *sched = getenv("TWILL_SCHED");
    printf("bench=bcast sched=%s workers=%u pool=%s tries=%d median_us=%.1f p99_us=%.1f\n",
           sched != NULL ? sched : "stealing", workers, name, tries, median, p99);
    free(lat);
}

int main(int argc, char **argv)
{
    unsigned workers = 2;
    int tries = 200;
    double task_us = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--workers") == 0)
            workers = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--size") == 0)
            tries = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--task-us") == 0)
            task_us = atof(argv[i + 1]);
    }
    if (workers < 1 || tries < 10) {
        fprintf(stderr, "usage: bench_bcast [--workers N] [--size TRIES>=10] [--task-us US]\n");
        return 1;
    }
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.queue_capacity = 64;
    if (twill_pool_create(&pool, &cfg) != 0)
        return 1;
    measure("idle", tries, workers, 2000000);
    probe_feeder feed;
    probe_task_s = task_us * 1e-6;
    probe_feed_start(&feed, pool); /* a full queue */
    measure("busy", tries, workers, 100000);
    probe_feed_stop(&feed);
    twill_pool_shutdown(pool, TWILL_CANCEL, NULL);
    twill_pool_destroy(pool);
    return 0;
}

/*
 * bench/resize.c — how long twill_pool_resize takes (issue 11).  For each
 * N in 2, 4, 8, 16: a 1-worker pool grows to N and shrinks back to 1,
 * --size times; prints the median of each direction:
 *   bench=resize sched=stealing from=1 to=8 reps=50 grow_us=.. shrink_us=..
 * Grow: until the N-1 new threads are created (not until they run).
 * Shrink: until the surplus workers have left and been joined (their
 * threads exited), from idle.  The scheduler comes from $TWILL_SCHED.
 * Usage: bench_resize [--size REPS]
 * A probe run by hand (README, "Elastic pools"), not by bench/run.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

int main(int argc, char **argv)
{
    int reps = argc > 2 && strcmp(argv[1], "--size") == 0 ? atoi(argv[2]) : 50;
    if (reps < 1) {
        fprintf(stderr, "usage: bench_resize [--size REPS]\n");
        return 1;
    }
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 1;
    twill_pool *pool;
    if (twill_pool_create(&pool, &cfg) != 0)
        return 1;
    double *grow = calloc((size_t)reps, sizeof *grow), *shrink = calloc((size_t)reps, sizeof *shrink);
    const char *sched = getenv("TWILL_SCHED");
    for (unsigned n = 2; n <= 16; n *= 2) {
        for (int r = 0; r < reps; r++) {
            double t0 = probe_now();
            if (twill_pool_resize(pool, n) != 0)
                return 1;
            double t1 = probe_now();
            if (twill_pool_resize(pool, 1) != 0)
                return 1;
            grow[r] = t1 - t0;
            shrink[r] = probe_now() - t1;
        }
        double grow_us, shrink_us, p99;
        probe_percentiles(grow, reps, &grow_us, &p99);
        probe_percentiles(shrink, reps, &shrink_us, &p99);
        printf("bench=resize sched=%s from=1 to=%u reps=%d grow_us=%.1f shrink_us=%.1f\n",
               sched != NULL ? sched : "stealing", n, reps, grow_us, shrink_us);
    }
    free(grow);
    free(shrink);
    twill_pool_destroy(pool);
    return 0;
}

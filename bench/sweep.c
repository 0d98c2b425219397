/*
 * bench/sweep.c — one point of the pool-size comparison (bench/run --sweep):
 * an outside thread submits --tasks tasks to a pool of --workers workers
 * with a --queue bound, and every task either burns --task-us of CPU
 * (--kind cpu) or sleeps that long (--kind io, a stand-in for blocking
 * I/O).  Each task's latency runs from just before its twill_submit call
 * until it finishes, so a full queue (backpressure) and waiting behind
 * other tasks both count.
 *
 * Prints one line:
 *   bench=sweep kind=K workers=W queue=Q tasks=N task_us=U
 *     throughput=TASKS_PER_S p50_us=.. p99_us=.. ok=1
 * Uses the public API only (twill_static).  Usage:
 *   bench_sweep --kind cpu|io --workers W --queue Q [--tasks N] [--task-us U]
 *               [--sched stealing|central]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twill.h"

typedef struct item {
    int64_t submitted, finished;
} item;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t task_ns;
static int io_kind;
static _Atomic long finished;

static int task(void *arg)
{
    item *it = arg;
    if (io_kind) {
        struct timespec ts = {0, task_ns};
        nanosleep(&ts, NULL);
    } else {
        int64_t end = now_ns() + task_ns;
        while (now_ns() < end)
            ;
    }
    it->finished = now_ns();
    atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long tasks = 0, task_us = 0;
    unsigned workers = 0;
    size_t queue = 0;
    const char *kind = NULL;
    twill_sched sched = TWILL_SCHED_STEALING;
    for (int a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--kind") == 0)
            kind = argv[a + 1];
        else if (strcmp(argv[a], "--workers") == 0)
            workers = (unsigned)atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--queue") == 0)
            queue = (size_t)atol(argv[a + 1]);
        else if (strcmp(argv[a], "--tasks") == 0)
            tasks = atol(argv[a + 1]);
        else if (strcmp(argv[a], "--task-us") == 0)
            task_us = atol(argv[a + 1]);
        else if (strcmp(argv[a], "--sched") == 0)
            sched = strcmp(argv[a + 1], "central") == 0 ? TWILL_SCHED_CENTRAL : sched;
    }
    if (kind == NULL || (strcmp(kind, "cpu") != 0 && strcmp(kind, "io") != 0) || workers == 0 ||
        queue == 0) {
        fprintf(stderr, "usage: %s --kind cpu|io --workers W --queue Q [--tasks N] [--task-us U]"
                        " [--sched stealing|central]\n", argv[0]);
        return 2;
    }
    io_kind = strcmp(kind, "io") == 0;
    if (task_us <= 0)
        task_us = io_kind ? 1000 : 50;
    if (tasks <= 0)
        tasks = io_kind ? 2000 : 20000;
    task_ns = task_us * 1000;
    item *items = calloc((size_t)tasks, sizeof *items);
    int64_t *lat = malloc((size_t)tasks * sizeof *lat);
    if (items == NULL || lat == NULL)
        return 1;

    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.queue_capacity = queue;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE; /* more workers than cores: let the OS place them */
    twill_pool *pool;
    int rc = twill_pool_create(&pool, &cfg);
    if (rc != 0) {
        fprintf(stderr, "twill_pool_create: %s\n", twill_strerror(rc));
        return 1;
    }
    int64_t t0 = now_ns();
    for (long i = 0; i < tasks; i++) {
        items[i].submitted = now_ns();
        if ((rc = twill_submit(pool, task, &items[i])) != 0) {
            fprintf(stderr, "twill_submit: %s\n", twill_strerror(rc));
            return 1;
        }
    }
    twill_pool_destroy(pool); /* drains: every task has run */
    int64_t t1 = now_ns();
    long ran = atomic_load_explicit(&finished, memory_order_acquire);
    for (long i = 0; i < tasks; i++)
        lat[i] = items[i].finished - items[i].submitted;
    qsort(lat, (size_t)tasks, sizeof *lat, cmp_i64);
    printf("bench=sweep kind=%s workers=%u queue=%zu tasks=%ld task_us=%ld throughput=%.0f "
           "p50_us=%.1f p99_us=%.1f ok=%d\n",
           kind, workers, queue, tasks, task_us, (double)tasks * 1e9 / (double)(t1 - t0),
           (double)lat[tasks / 2] / 1e3, (double)lat[tasks * 99 / 100] / 1e3, ran == tasks);
    free(items);
    free(lat);
    return ran == tasks ? 0 : 1;
}

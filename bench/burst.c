/*
 * bench/burst.c — memory probe for issue 15 ("Memory after a spawn burst"):
 * a 1-worker pool runs one task that spawns N trivial tasks into a group
 * and waits for them, so the worker's deque and its task records all peak
 * at once; then we look at what the process still holds.
 *
 * Prints one machine-readable line:
 *   bench=burst spawns=N time_s=T peak_rss_kb=P rss_after_kb=A rss_idle_kb=I
 *     heap_kb=H heap_free_kb=F fastbin_free_kb=FB mmap_kb=M
 *     rss_after_trim_kb=R rss_after_destroy_kb=D
 *   peak_rss_kb      getrusage ru_maxrss over the whole run
 *   rss_after_kb     resident set (/proc/self/statm) after the burst, pool alive
 *   rss_idle_kb      the same 200 ms later, once the worker has gone idle
 *   heap_* mmap_kb   glibc mallinfo2 at that moment (all arenas): bytes in
 *                    the heaps, free inside them, free in fastbins, in mmaps
 *   rss_after_trim_kb  the same after malloc_trim(0) (only with trim=1, else -1)
 *   rss_after_destroy_kb  after twill_pool_destroy
 * Usage: bench_burst [spawns (default 10000000)] [trim=0|1 (default 0)]
 * Not part of bench/run: it measures memory, not time.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "twill.h"

typedef struct burst {
    long spawns;
    _Atomic long ran;
} burst;

static int trivial(void *arg)
{
    burst *b = arg;
    /* relaxed: a count read after twill_run returns (which orders it). */
    atomic_fetch_add_explicit(&b->ran, 1, memory_order_relaxed);
    return 0;
}

static int spawner(void *arg)
{
    burst *b = arg;
    twill_group g;
    int rc = twill_group_init(&g, NULL);
    for (long i = 0; rc == 0 && i < b->spawns; i++)
        rc = twill_group_spawn(&g, trivial, b);
    int wrc = twill_group_wait(&g);
    return rc != 0 ? rc : wrc;
}

/* Resident set in KiB, from /proc/self/statm (second field, in pages). */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long spawns = argc > 1 ? atol(argv[1]) : 10000000;
    int trim = argc > 2 ? atoi(argv[2]) : 0;
    if (spawns < 1) {
        fprintf(stderr, "usage: bench_burst [spawns >= 1] [trim=0|1]\n");
        return 2;
    }
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 1;
    twill_pool *pool;
    int rc = twill_pool_create(&pool, &cfg);
    if (rc != 0) {
        fprintf(stderr, "bench_burst: twill_pool_create: %s\n", twill_strerror(rc));
        return 1;
    }
    burst b = {.spawns = spawns};
    double t0 = now_s();
    rc = twill_run(pool, spawner, &b);
    double t1 = now_s();
    long ran = atomic_load_explicit(&b.ran, memory_order_relaxed);
    if (rc != 0 || ran != spawns) {
        fprintf(stderr, "bench_burst: run returned %s, %ld of %ld tasks ran\n",
                twill_strerror(rc), ran, spawns);
        return 1;
    }
    long after = rss_kb();
    usleep(200000);
    long idle = rss_kb();
    long heap = -1, heap_free = -1, fast_free = -1, mmapped = -1, after_trim = -1;
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    heap = (long)(mi.arena / 1024);
    heap_free = (long)(mi.fordblks / 1024);
    fast_free = (long)(mi.fsmblks / 1024);
    mmapped = (long)(mi.hblkhd / 1024);
    if (trim) {
        malloc_trim(0);
        after_trim = rss_kb();
    }
#endif
    twill_pool_destroy(pool);
    long after_destroy = rss_kb();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench=burst spawns=%ld time_s=%.3f peak_rss_kb=%ld rss_after_kb=%ld rss_idle_kb=%ld "
           "heap_kb=%ld heap_free_kb=%ld fastbin_free_kb=%ld mmap_kb=%ld rss_after_trim_kb=%ld "
           "rss_after_destroy_kb=%ld\n",
           spawns, t1 - t0, ru.ru_maxrss, after, idle, heap, heap_free, fast_free, mmapped,
           after_trim, after_destroy);
    return 0;
}

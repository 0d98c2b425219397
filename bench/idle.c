/*
 * bench/idle.c — CPU used by a pool that has nothing to do.  Starts the
 * runtime with --workers (default 2), runs a burst of 100 tasks so that every
 * worker has woken up and gone idle through its normal path, waits 100 ms
 * for the spinning phase to end, then measures the process's user+system
 * CPU time (getrusage) over --size ms of sleep (default 1000).
 * Prints: bench=idle impl=twill workers=2 ms=1000 cpu_pct=0.012 ok=1
 * (percent of one core; the target for twill is under 1).
 * Usage: bench_idle[_tbb|_mutexpool] --impl twill|central|tbb|mutexpool
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"
#include "par.h"

#define BURST 100

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int count_task(void *p)
{
    atomic_fetch_add_explicit((_Atomic int *)p, 1, memory_order_relaxed);
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    o.workers = 2;
    o.size = 1000;
    int rc = bench_parse(argc, argv, &o, "  --size: milliseconds measured (default 1000)");
    if (rc)
        return rc;
    rc = bench_start("idle", &o, true);
    if (rc)
        return rc;
    _Atomic int ran = 0;
    for (int i = 0; i < BURST && !rc; i++)
        rc = par_submit(count_task, &ran);
    while (!rc && atomic_load_explicit(&ran, memory_order_relaxed) < BURST)
        bench_sleep_ns(100000);
    bench_sleep_ns(100000000);
    double c0 = cpu_s(), t0 = bench_now();
    bench_sleep_ns((long)o.size * 1000000L);
    double c1 = cpu_s(), t1 = bench_now();
    par_stop();
    printf("bench=idle impl=%s workers=%u ms=%llu cpu_pct=%.3f ok=%d\n", o.impl, o.workers,
           (unsigned long long)o.size, 100.0 * (c1 - c0) / (t1 - t0), rc == 0);
    return rc ? 1 : 0;
}

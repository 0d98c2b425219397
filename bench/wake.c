/*
 * bench/wake.c — submit→start latency on a sleeping pool.  --size tries
 * (default 500): sleep 2 ms so that every worker parks, take the time,
 * submit a task that takes the time when it starts, wait for it.  Prints the
 * median and 99th percentile of the differences:
 *   bench=wake impl=twill workers=2 tries=500 median_us=12.3 p99_us=40.1 ok=1
 * The main thread polls for completion with short sleeps, which does not
 * affect the measured interval (the task stamps its own start).
 * Usage: bench_wake[_tbb|_mutexpool] --impl twill|central|tbb|mutexpool
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "par.h"

#define PARK_NS 2000000L /* long past any spin-before-park phase */
#define POLL_NS 50000L

typedef struct stamp {
    _Atomic double start; /* set by the task; 0 until it ran */
} stamp;

static int stamp_task(void *p)
{
    /* release: pairs with the poller's acquire (a double carries no other data) */
    atomic_store_explicit(&((stamp *)p)->start, bench_now(), memory_order_release);
    return 0;
}

/* One try: the latency in seconds, or a negative errno. */
static double one_try(void)
{
    stamp s;
    atomic_init(&s.start, 0.0);
    bench_sleep_ns(PARK_NS);
    double t0 = bench_now();
    int rc = par_submit(stamp_task, &s);
    if (rc)
        return -rc;
    double t1;
    while ((t1 = atomic_load_explicit(&s.start, memory_order_acquire)) == 0.0)
        bench_sleep_ns(POLL_NS);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    o.workers = 2;
    o.size = 500;
    int rc = bench_parse(argc, argv, &o, "  --size: number of tries (default 500)");
    if (rc)
        return rc;
    rc = bench_start("wake", &o, true);
    if (rc)
        return rc;
    double *lat = bench_alloc(o.size * sizeof *lat);
    size_t n = 0;
    for (; n < o.size; n++) {
        lat[n] = one_try();
        if (lat[n] < 0)
            break;
    }
    par_stop();
    bool ok = n == o.size;
    if (!ok)
        fprintf(stderr, "wake: submit failed: %s\n", strerror((int)-lat[n]));
    printf("bench=wake impl=%s workers=%u tries=%zu median_us=%.2f p99_us=%.2f ok=%d\n", o.impl,
           o.workers, n, n ? bench_percentile(lat, n, 50) * 1e6 : 0.0,
           n ? bench_percentile(lat, n, 99) * 1e6 : 0.0, ok);
    free(lat);
    return ok ? 0 : 1;
}

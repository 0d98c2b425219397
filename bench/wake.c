/*
 * bench/wake.c — submit→start latency on a sleeping pool.  --size tries
 * (default 500): sleep 2 ms so that every worker parks, take the time,
 * submit a task that takes the time when it starts, wait for it.  Prints the
 * median and 99th percentile of the differences:
 *   bench=wake impl=twill variant=block workers=2 tries=500 median_us=12.3 p99_us=40.1 ok=1
 * The task stamps its own start, so how the producer waits for it only
 * matters through what it leaves of the CPUs (--variant):
 *   block  the producer sleeps (50 µs polls) until the task ran: its CPU
 *          is free, as after a twill_run or a blocking wait;
 *   spin   the producer keeps running (spins on the stamp): a service
 *          thread that submits and goes on; the task must not wait out
 *          a scheduler slice behind the producer (it starts on another
 *          CPU, or preempts the producer on its own: README "Wake-ups");
 *   run    the producer hands the task over and waits for it in one call
 *          (par_run: twill_run, which may hand its own CPU to the task).
 * Usage: bench_wake[_tbb|_mutexpool] --impl twill|central|tbb|mutexpool
 *        [--variant block|spin|run]
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

enum { BLOCK, SPIN, RUN };

/* One try: the latency in seconds, or a negative errno. */
static double one_try(int how)
{
    stamp s;
    atomic_init(&s.start, 0.0);
    bench_sleep_ns(PARK_NS);
    double t0 = bench_now();
    int rc = how == RUN ? par_run(stamp_task, &s) : par_submit(stamp_task, &s);
    if (rc)
        return -rc;
    double t1;
    while ((t1 = atomic_load_explicit(&s.start, memory_order_acquire)) == 0.0)
        if (how == BLOCK)
            bench_sleep_ns(POLL_NS);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    o.workers = 2;
    o.size = 500;
    int rc = bench_parse(argc, argv, &o,
                         "  --size: number of tries (default 500)\n"
                         "  --variant: block (default) | spin | run, how the producer waits");
    if (rc)
        return rc;
    if (!*o.variant)
        strcpy(o.variant, "block");
    int how = !strcmp(o.variant, "block") ? BLOCK
            : !strcmp(o.variant, "spin")  ? SPIN
            : !strcmp(o.variant, "run")   ? RUN
                                          : -1;
    if (how < 0) {
        fprintf(stderr, "wake: unknown variant '%s' (expected: block spin run)\n", o.variant);
        return 2;
    }
    rc = bench_start("wake", &o, true);
    if (rc)
        return rc;
    double *lat = bench_alloc(o.size * sizeof *lat);
    size_t n = 0;
    for (; n < o.size; n++) {
        lat[n] = one_try(how);
        if (lat[n] < 0)
            break;
    }
    par_stop();
    bool ok = n == o.size;
    if (!ok)
        fprintf(stderr, "wake: submit failed: %s\n", strerror((int)-lat[n]));
    printf("bench=wake impl=%s variant=%s workers=%u tries=%zu median_us=%.2f p99_us=%.2f ok=%d\n",
           o.impl, o.variant, o.workers, n, n ? bench_percentile(lat, n, 50) * 1e6 : 0.0,
           n ? bench_percentile(lat, n, 99) * 1e6 : 0.0, ok);
    free(lat);
    return ok ? 0 : 1;
}

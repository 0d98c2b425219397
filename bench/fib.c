/*
 * bench/fib.c — fib(n) with a join at every level and no cutoff.  Each task
 * does one addition, so the time is almost all fork-join overhead: T1/Ts is
 * the cost of a join against a plain call, and the speedup shows whether the
 * runtime spreads a tree of tiny tasks.  fib(n) makes fib(n+1) - 1 joins.
 * As in Lace's fib, the half a thief may take (par_join's b) is the larger
 * one, fib(n-1), and the joiner runs fib(n-2) itself: a steal takes the
 * most work there is, and the joiner's own half is over soonest.
 * --size n (quick 36).  Checksum: fib(n), against the iterative value.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "par.h"

#define FIB_MAX 60 /* fib(60) takes hours serially; bigger n is surely a typo */

/* A task's argument, and the workload's state (the root's argument). */
typedef struct fib_arg {
    unsigned n;
    uint64_t result;
} fib_arg;

/*
 * The serial baseline makes one plain call per node, as the parallel version
 * makes one task per node.  Without these attributes gcc -O3 turns the second
 * call into a loop and unrolls the first (0.8 ns per node instead of ~2 here),
 * which is no longer the same algorithm.
 */
#if defined(__clang__)
#define ONE_CALL_PER_NODE __attribute__((noinline, disable_tail_calls))
#else
#define ONE_CALL_PER_NODE __attribute__((noinline, optimize("no-optimize-sibling-calls")))
#endif

ONE_CALL_PER_NODE static uint64_t fib_serial(unsigned n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static int fib_task(void *p)
{
    fib_arg *a = p;
    if (a->n < 2) {
        a->result = a->n;
        return 0;
    }
    fib_arg small = {a->n - 2, 0}, large = {a->n - 1, 0};
    int rc = par_join(fib_task, &small, fib_task, &large); /* large: the stealable half */
    a->result = small.result + large.result;
    return rc;
}

static void *fib_setup(const bench_opts *o)
{
    if (o->size > FIB_MAX) {
        fprintf(stderr, "fib: --size must be at most %d\n", FIB_MAX);
        return NULL;
    }
    fib_arg *s = bench_alloc(sizeof *s);
    *s = (fib_arg){.n = (unsigned)o->size};
    return s;
}

static int fib_run_serial(void *st)
{
    fib_arg *s = st;
    s->result = fib_serial(s->n);
    return 0;
}

static int fib_run_parallel(void *st)
{
    return par_run(fib_task, st);
}

static uint64_t fib_checksum(void *st, uint64_t *expected)
{
    fib_arg *s = st;
    uint64_t a = 0, b = 1;
    for (unsigned i = 0; i < s->n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    *expected = a;
    return s->result;
}

static const bench_workload fib = {
    .name = "fib",
    .size_help = "n of fib(n), at most 60",
    .default_size = {36},
    .setup = fib_setup,
    .serial = fib_run_serial,
    .parallel = fib_run_parallel,
    .checksum = fib_checksum,
    .teardown = free,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &fib);
}

/*
 * bench/reduce.c — sum of a large array of 64-bit integers with each
 * runtime's reduce primitive (twill_parallel_reduce, a taskloop reduction,
 * tbb::parallel_reduce) over chunks of at least 16 Ki elements.  One add per
 * 8 bytes loaded: memory bound, so the speedup is capped by memory bandwidth,
 * not by the runtime; T1/Ts shows the cost of splitting and combining.
 * --size elements (quick 2^27 = 1 GiB).  a[i] = (i * 40503) mod 2^16;
 * as 40503 is odd, every 2^16 consecutive elements are a permutation of
 * 0..2^16-1, so the expected sum has a closed form (checksum).
 */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "par.h"

#define REDUCE_GRAIN (16u * 1024u)
#define PERIOD       ((uint64_t)1 << 16)

typedef struct reduce_state {
    uint64_t *a;
    size_t    n;
    uint64_t  sum;
} reduce_state;

static uint64_t sum_range(const void *ctx, size_t begin, size_t end)
{
    const uint64_t *a = ctx;
    uint64_t sum = 0;
    for (size_t i = begin; i < end; i++)
        sum += a[i];
    return sum;
}

static int reduce_task(void *p)
{
    reduce_state *s = p;
    return par_sum(s->n, REDUCE_GRAIN, sum_range, s->a, &s->sum);
}

static void *reduce_setup(const bench_opts *o)
{
    if (o->size > ((uint64_t)1 << 34)) {
        fprintf(stderr, "reduce: --size must be at most 2^34\n");
        return NULL;
    }
    reduce_state *s = bench_alloc(sizeof *s);
    s->n = (size_t)o->size;
    s->a = bench_alloc(s->n * sizeof *s->a);
    for (size_t i = 0; i < s->n; i++)
        s->a[i] = (i * 40503u) % PERIOD;
    return s;
}

static int reduce_run_serial(void *st)
{
    reduce_state *s = st;
    s->sum = sum_range(s->a, 0, s->n);
    return 0;
}

static int reduce_run_parallel(void *st)
{
    return par_run(reduce_task, st);
}

static uint64_t reduce_checksum(void *st, uint64_t *expected)
{
    reduce_state *s = st;
    uint64_t periods = s->n / PERIOD, tail = 0;
    for (uint64_t i = periods * PERIOD; i < s->n; i++)
        tail += (i * 40503u) % PERIOD;
    *expected = periods * (PERIOD * (PERIOD - 1) / 2) + tail;
    return s->sum;
}

static void reduce_teardown(void *st)
{
    reduce_state *s = st;
    free(s->a);
    free(s);
}

static const bench_workload reduce = {
    .name = "reduce",
    .size_help = "number of elements, at most 2^34",
    .default_size = {(uint64_t)1 << 27},
    .setup = reduce_setup,
    .serial = reduce_run_serial,
    .parallel = reduce_run_parallel,
    .checksum = reduce_checksum,
    .teardown = reduce_teardown,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &reduce);
}

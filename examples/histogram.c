/*
 * histogram.c — statistics over a large array with twill_parallel_reduce.
 *
 * Fills n samples with twill_parallel_for (each sample is a function of its
 * index, so the data does not depend on which worker wrote what), then
 * reduces them to one summary: count, min, max, sum, sum of squares and a
 * BINS-bin histogram.  Each chunk folds its samples into its own copy of the
 * identity; twill combines neighbouring partial summaries in index order.
 * Integer sums make the result exact, so the parallel summary must equal,
 * field by field, the one the same body computes serially over [0, n).
 *
 * The grain is explicit here: GRAIN samples per chunk is enough work per task
 * that splitting and combining cost little, and small enough for load balance.
 *
 * Usage: histogram [n]    (default 20000000; exits 1 on a wrong result)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "twill.h"

enum { BINS = 16, BAR_WIDTH = 50, GRAIN = 1 << 14 };

typedef struct summary {
    uint64_t count, sum, sumsq;
    uint32_t min, max;
    uint64_t bins[BINS];
} summary;

static const summary identity = {.min = UINT32_MAX, .max = 0};

/* twill_range_fn: sample i is a bell-shaped value in [0, 65536): the sum of
   four uniform 14-bit numbers. */
static int fill(void *ctx, size_t begin, size_t end)
{
    uint16_t *samples = ctx;
    for (size_t i = begin; i < end; i++) {
        uint64_t r = example_random(i);
        samples[i] = (uint16_t)((r & 0x3fff) + (r >> 14 & 0x3fff) + (r >> 28 & 0x3fff) +
                                (r >> 42 & 0x3fff));
    }
    return 0;
}

/* twill_reduce_fn: fold samples [begin, end) into *acc. */
static int summarize(void *ctx, size_t begin, size_t end, void *acc)
{
    const uint16_t *samples = ctx;
    summary *s = acc;
    for (size_t i = begin; i < end; i++) {
        uint32_t v = samples[i];
        s->count++;
        s->sum += v;
        s->sumsq += (uint64_t)v * v;
        s->min = v < s->min ? v : s->min;
        s->max = v > s->max ? v : s->max;
        s->bins[v * BINS >> 16]++;
    }
    return 0;
}

/* twill_combine_fn: acc = acc followed by other. */
static void merge(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    summary *a = acc;
    const summary *b = other;
    a->count += b->count;
    a->sum += b->sum;
    a->sumsq += b->sumsq;
    a->min = b->min < a->min ? b->min : a->min;
    a->max = b->max > a->max ? b->max : a->max;
    for (int i = 0; i < BINS; i++)
        a->bins[i] += b->bins[i];
}

static bool summary_equal(const summary *a, const summary *b)
{
    return a->count == b->count && a->sum == b->sum && a->sumsq == b->sumsq &&
           a->min == b->min && a->max == b->max &&
           memcmp(a->bins, b->bins, sizeof a->bins) == 0;
}

static void print_summary(const summary *s)
{
    double mean = (double)s->sum / (double)s->count;
    double var = (double)s->sumsq / (double)s->count - mean * mean;
    printf("n %llu  min %u  max %u  mean %.1f  stddev %.1f\n", (unsigned long long)s->count,
           s->min, s->max, mean, sqrt(var > 0 ? var : 0));
    uint64_t top = 1;
    for (int i = 0; i < BINS; i++)
        top = s->bins[i] > top ? s->bins[i] : top;
    for (int i = 0; i < BINS; i++)
        printf("%5d..%-5d %10llu %.*s\n", i << 12, ((i + 1) << 12) - 1,
               (unsigned long long)s->bins[i], (int)(s->bins[i] * BAR_WIDTH / top),
               "##################################################");
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    uint16_t *samples = malloc(n * sizeof *samples);
    if (n == 0 || !samples) {
        fprintf(stderr, "usage: histogram [n > 0]\n");
        return 1;
    }
    twill_pool *pool;
    example_check(twill_pool_create(&pool, NULL), "twill_pool_create");
    example_check(twill_parallel_for(pool, 0, n, GRAIN, fill, samples), "fill");

    summary par, ser = identity;
    double t0 = example_now_ms();
    example_check(twill_parallel_reduce(pool, 0, n, GRAIN, &par, sizeof par, &identity,
                                        summarize, merge, samples), "twill_parallel_reduce");
    double t1 = example_now_ms();
    summarize(samples, 0, n, &ser);
    double t2 = example_now_ms();

    print_summary(&par);
    bool ok = summary_equal(&par, &ser);
    printf("histogram: %zu samples on %u workers in %.1f ms (serial %.1f ms): %s\n", n,
           twill_pool_size(pool), t1 - t0, t2 - t1, ok ? "matches serial, OK" : "WRONG");
    twill_pool_destroy(pool);
    free(samples);
    return ok ? 0 : 1;
}

/*
 * quicksort.c — divide and conquer with twill_join.
 *
 * Sorts n pseudo-random 32-bit keys with a parallel quicksort: partition
 * around a median-of-three pivot, then sort the two sides with twill_join.
 * The right side is offered to idle workers while this worker sorts the left
 * one; when nobody takes it, it runs here, with no allocation and no lock.
 * Below CUTOFF keys a side is sorted serially by qsort: a task must be long
 * compared with a steal to be worth one.
 *
 * twill_join runs in parallel only inside a worker, so the whole sort enters
 * the pool once with twill_run.  The result is checked against qsort of a
 * copy of the input.
 *
 * Usage: quicksort [n]    (default 10000000; exits 1 on a wrong result)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "twill.h"

enum { CUTOFF = 4096 };

typedef struct span {
    uint32_t *keys;
    size_t n;
} span;

static int compare_keys(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t median3(uint32_t a, uint32_t b, uint32_t c)
{
    if (a > b) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    return c < a ? a : c > b ? b : c;
}

/*
 * Hoare partition of k[0..n), n >= 2: returns m in [1, n) with every key of
 * k[0..m) <= every key of k[m..n).  The pivot is a key of the array, so both
 * sides are non-empty and the recursion always makes progress.
 */
static size_t partition(uint32_t *k, size_t n)
{
    uint32_t pivot = median3(k[0], k[n / 2], k[n - 1]);
    size_t i = 0, j = n - 1;
    for (;;) {
        while (k[i] < pivot)
            i++;
        while (k[j] > pivot)
            j--;
        if (i >= j)
            return j + 1;
        uint32_t t = k[i];
        k[i++] = k[j];
        k[j--] = t;
    }
}

/* A twill task: sort one span, splitting it in two parallel halves. */
static int sort_span(void *arg)
{
    span *s = arg;
    if (s->n <= CUTOFF) {
        qsort(s->keys, s->n, sizeof *s->keys, compare_keys);
        return 0;
    }
    size_t m = partition(s->keys, s->n);
    span left = {s->keys, m}, right = {s->keys + m, s->n - m};
    return twill_join(sort_span, &left, sort_span, &right);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    uint32_t *keys = malloc(n * sizeof *keys), *expected = malloc(n * sizeof *keys);
    if (n == 0 || !keys || !expected) {
        fprintf(stderr, "usage: quicksort [n > 0]\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = expected[i] = (uint32_t)example_random(i);

    twill_pool *pool;
    example_check(twill_pool_create(&pool, NULL), "twill_pool_create");
    span all = {keys, n};
    double t0 = example_now_ms();
    example_check(twill_run(pool, sort_span, &all), "twill_run");
    double t1 = example_now_ms();
    qsort(expected, n, sizeof *expected, compare_keys);
    double t2 = example_now_ms();

    twill_stats st;
    example_check(twill_pool_stats(pool, -1, &st), "twill_pool_stats");
    bool ok = memcmp(keys, expected, n * sizeof *keys) == 0;
    printf("quicksort: %zu keys on %u workers in %.1f ms (qsort: %.1f ms), %llu steals: %s\n",
           n, twill_pool_size(pool), t1 - t0, t2 - t1, (unsigned long long)st.steals,
           ok ? "sorted, OK" : "WRONG");
    twill_pool_destroy(pool);
    free(keys);
    free(expected);
    return ok ? 0 : 1;
}

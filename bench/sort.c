/*
 * bench/sort.c — parallel mergesort of 64-bit keys: the two halves are sorted
 * by a join, then merged by a parallel merge that splits the longer run at
 * its middle, finds the split point in the other by binary search and joins
 * the two sub-merges.  Below 4096 keys a sort, and below 8192 keys a merge,
 * is serial.  Mixes compute with memory traffic and needs parallel merges to
 * scale past the last level.  The serial baseline is the same mergesort
 * (same leaves and cutoffs) with serial merges.
 * --size keys (quick 2e6).  Checksum: 0 unless the output is ascending, else
 * the sum of mix(key) over all keys, which must equal the input's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "par.h"

#define SORT_CUTOFF      4096 /* sort tasks below this many keys are serial */
#define MERGE_CUTOFF     8192 /* merge tasks below this many keys are serial */
#define INSERTION_CUTOFF 32

/* A sort task: sort a[0..n), result in tmp when into_tmp, else in a. */
typedef struct sort_arg {
    uint64_t *a, *tmp;
    size_t    n;
    bool      into_tmp;
} sort_arg;

/* A merge task: merge sorted x[0..nx) and y[0..ny) into out. */
typedef struct merge_arg {
    const uint64_t *x, *y;
    size_t          nx, ny;
    uint64_t       *out;
} merge_arg;

typedef struct sort_state {
    sort_arg  root;
    uint64_t *input;
    uint64_t  expected;
} sort_state;

static void insertion_sort(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t key = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > key; j--)
            a[j] = a[j - 1];
        a[j] = key;
    }
}

static void merge_serial(const merge_arg *m)
{
    size_t i = 0, j = 0, k = 0;
    while (i < m->nx && j < m->ny)
        m->out[k++] = m->y[j] < m->x[i] ? m->y[j++] : m->x[i++];
    memcpy(m->out + k, m->x + i, (m->nx - i) * sizeof *m->out);
    memcpy(m->out + k + m->nx - i, m->y + j, (m->ny - j) * sizeof *m->out);
}

/* The two halves of s, each to be sorted into the opposite buffer of s. */
static void halves(const sort_arg *s, sort_arg *lo, sort_arg *hi)
{
    size_t h = s->n / 2;
    *lo = (sort_arg){s->a, s->tmp, h, !s->into_tmp};
    *hi = (sort_arg){s->a + h, s->tmp + h, s->n - h, !s->into_tmp};
}

/* The merge of s's sorted halves into s's destination buffer. */
static merge_arg final_merge(const sort_arg *s)
{
    size_t h = s->n / 2;
    const uint64_t *src = s->into_tmp ? s->a : s->tmp;
    return (merge_arg){src, src + h, h, s->n - h, s->into_tmp ? s->tmp : s->a};
}

static void sort_serial(const sort_arg *s)
{
    if (s->n <= INSERTION_CUTOFF) {
        if (s->into_tmp)
            memcpy(s->tmp, s->a, s->n * sizeof *s->a);
        insertion_sort(s->into_tmp ? s->tmp : s->a, s->n);
        return;
    }
    sort_arg lo, hi;
    halves(s, &lo, &hi);
    sort_serial(&lo);
    sort_serial(&hi);
    merge_arg m = final_merge(s);
    merge_serial(&m);
}

/* First index of y[0..n) whose key is >= key. */
static size_t lower_bound(const uint64_t *y, size_t n, uint64_t key)
{
    size_t lo = 0;
    while (n > 0) {
        size_t half = n / 2;
        if (y[lo + half] < key) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo;
}

static int merge_task(void *p)
{
    const merge_arg *m = p;
    if (m->nx + m->ny <= MERGE_CUTOFF) {
        merge_serial(m);
        return 0;
    }
    bool swap = m->nx < m->ny;
    const uint64_t *x = swap ? m->y : m->x, *y = swap ? m->x : m->y;
    size_t nx = swap ? m->ny : m->nx, ny = swap ? m->nx : m->ny;
    size_t i = nx / 2, j = lower_bound(y, ny, x[i]);
    merge_arg lo = {x, y, i, j, m->out};
    merge_arg hi = {x + i, y + j, nx - i, ny - j, m->out + i + j};
    return par_join(merge_task, &lo, merge_task, &hi);
}

static int sort_task(void *p)
{
    const sort_arg *s = p;
    if (s->n <= SORT_CUTOFF) {
        sort_serial(s);
        return 0;
    }
    sort_arg lo, hi;
    halves(s, &lo, &hi);
    int rc = par_join(sort_task, &lo, sort_task, &hi);
    merge_arg m = final_merge(s);
    return rc ? rc : merge_task(&m);
}

/* Sum of mix(key) over a[0..n): equal for any permutation of the keys. */
static uint64_t key_hash(const uint64_t *a, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h += bench_mix64(a[i]);
    return h;
}

static void *sort_setup(const bench_opts *o)
{
    size_t n = (size_t)o->size;
    if (n < 2 || n > ((size_t)1 << 32)) {
        fprintf(stderr, "sort: --size must be in [2, 2^32]\n");
        return NULL;
    }
    sort_state *s = bench_alloc(sizeof *s);
    s->input = bench_alloc(n * sizeof *s->input);
    s->root = (sort_arg){bench_alloc(n * sizeof *s->input), bench_alloc(n * sizeof *s->input),
                         n, false};
    for (size_t i = 0; i < n; i++)
        s->input[i] = bench_mix64(i + 0x9e3779b97f4a7c15u);
    s->expected = key_hash(s->input, n);
    return s;
}

static void sort_reset(void *st)
{
    sort_state *s = st;
    memcpy(s->root.a, s->input, s->root.n * sizeof *s->input);
}

static int sort_run_serial(void *st)
{
    sort_serial(&((sort_state *)st)->root);
    return 0;
}

static int sort_run_parallel(void *st)
{
    return par_run(sort_task, &((sort_state *)st)->root);
}

static uint64_t sort_checksum(void *st, uint64_t *expected)
{
    sort_state *s = st;
    *expected = s->expected;
    for (size_t i = 1; i < s->root.n; i++)
        if (s->root.a[i - 1] > s->root.a[i])
            return 0;
    return key_hash(s->root.a, s->root.n);
}

static void sort_teardown(void *st)
{
    sort_state *s = st;
    free(s->input);
    free(s->root.a);
    free(s->root.tmp);
    free(s);
}

static const bench_workload sort = {
    .name = "sort",
    .size_help = "number of keys, in [2, 2^32]",
    .default_size = {2000000},
    .setup = sort_setup,
    .reset = sort_reset,
    .serial = sort_run_serial,
    .parallel = sort_run_parallel,
    .checksum = sort_checksum,
    .teardown = sort_teardown,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &sort);
}

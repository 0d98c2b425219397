/*
 * bench/matmul.c — C += A * B for n x n matrices of doubles, by recursive
 * quadrant splitting (the Cilk "matmul" scheme): the 8 products of the
 * quadrants run in two phases of 4, each phase a task group of 4 tasks that
 * write disjoint quarters of C, down to 64 x 64 blocks done by a serial
 * i-k-j loop.  Coarse tasks and heavy arithmetic: speedup should be near
 * linear; T1/Ts shows any cost the runtime adds to compute-bound code.
 * --size n, a power of two >= 64 (quick 512).
 * Checksum: sum over i, j of w_i * C_ij * v_j with small integer weights;
 * the entries of A and B are integers 0..3, so every product is exact and the
 * expected value, (w^T A)(B v), is computed in O(n^2) at setup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "par.h"

#define MM_LEAF 64
#define MM_MAX  8192

/* A task's argument: C += A * B on n x n blocks of matrices with row stride ld. */
typedef struct mm_arg {
    const double *a, *b;
    double       *c;
    size_t        n, ld;
} mm_arg;

typedef struct mm_state {
    mm_arg   root;
    double  *a, *b, *c;
    uint64_t expected;
} mm_state;

static uint64_t row_weight(size_t i) { return i % 7 + 1; }
static uint64_t col_weight(size_t j) { return j % 5 + 1; }

static void mm_kernel(const mm_arg *m)
{
    for (size_t i = 0; i < m->n; i++)
        for (size_t k = 0; k < m->n; k++) {
            double aik = m->a[i * m->ld + k];
            const double *brow = m->b + k * m->ld;
            double *crow = m->c + i * m->ld;
            for (size_t j = 0; j < m->n; j++)
                crow[j] += aik * brow[j];
        }
}

/* The 4 products of phase k (0 or 1): C_rc += A_rk * B_kc, r, c in {0, 1}. */
static void mm_phase(const mm_arg *m, size_t k, mm_arg q[4])
{
    size_t h = m->n / 2, ld = m->ld;
    for (size_t r = 0; r < 2; r++)
        for (size_t c = 0; c < 2; c++)
            q[2 * r + c] = (mm_arg){m->a + r * h * ld + k * h, m->b + k * h * ld + c * h,
                                    m->c + r * h * ld + c * h, h, ld};
}

static void mm_serial(const mm_arg *m)
{
    if (m->n <= MM_LEAF) {
        mm_kernel(m);
        return;
    }
    for (size_t k = 0; k < 2; k++) {
        mm_arg q[4];
        mm_phase(m, k, q);
        for (int i = 0; i < 4; i++)
            mm_serial(&q[i]);
    }
}

static int mm_task(void *p)
{
    const mm_arg *m = p;
    if (m->n <= MM_LEAF) {
        mm_kernel(m);
        return 0;
    }
    int rc = 0;
    for (size_t k = 0; k < 2 && !rc; k++) {
        mm_arg q[4];
        mm_phase(m, k, q);
        par_group g;
        rc = par_group_init(&g);
        for (int i = 0; i < 4 && !rc; i++)
            rc = par_group_spawn(&g, mm_task, &q[i]);
        int wrc = par_group_wait(&g);
        rc = rc ? rc : wrc;
    }
    return rc;
}

/* (w^T A)(B v): the checksum of A * B without forming it. */
static uint64_t mm_expected(const mm_state *s, size_t n)
{
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t wa = 0, bv = 0;
        for (size_t i = 0; i < n; i++) {
            wa += row_weight(i) * (uint64_t)s->a[i * n + k];
            bv += (uint64_t)s->b[k * n + i] * col_weight(i);
        }
        total += wa * bv;
    }
    return total;
}

static void *mm_setup(const bench_opts *o)
{
    size_t n = (size_t)o->size;
    if (n < MM_LEAF || n > MM_MAX || (n & (n - 1))) {
        fprintf(stderr, "matmul: --size must be a power of two in [%d, %d]\n", MM_LEAF, MM_MAX);
        return NULL;
    }
    mm_state *s = bench_alloc(sizeof *s);
    s->a = bench_alloc(n * n * sizeof *s->a);
    s->b = bench_alloc(n * n * sizeof *s->b);
    s->c = bench_alloc(n * n * sizeof *s->c);
    for (size_t i = 0; i < n * n; i++) {
        s->a[i] = (double)(bench_mix64(2 * i) & 3);
        s->b[i] = (double)(bench_mix64(2 * i + 1) & 3);
    }
    s->root = (mm_arg){s->a, s->b, s->c, n, n};
    s->expected = mm_expected(s, n);
    return s;
}

static void mm_reset(void *st)
{
    mm_state *s = st;
    memset(s->c, 0, s->root.n * s->root.n * sizeof *s->c);
}

static int mm_run_serial(void *st)
{
    mm_serial(&((mm_state *)st)->root);
    return 0;
}

static int mm_run_parallel(void *st)
{
    return par_run(mm_task, &((mm_state *)st)->root);
}

static uint64_t mm_checksum(void *st, uint64_t *expected)
{
    mm_state *s = st;
    size_t n = s->root.n;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            total += row_weight(i) * (uint64_t)s->c[i * n + j] * col_weight(j);
    *expected = s->expected;
    return total;
}

static void mm_teardown(void *st)
{
    mm_state *s = st;
    free(s->a);
    free(s->b);
    free(s->c);
    free(s);
}

static const bench_workload matmul = {
    .name = "matmul",
    .size_help = "matrix order n, a power of two in [64, 8192]",
    .default_size = {512},
    .setup = mm_setup,
    .reset = mm_reset,
    .serial = mm_run_serial,
    .parallel = mm_run_parallel,
    .checksum = mm_checksum,
    .teardown = mm_teardown,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &matmul);
}

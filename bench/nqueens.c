/*
 * bench/nqueens.c — count the placements of n queens, with a task for every
 * legal placement (as in BOTS and Lace): a task places a queen on its row,
 * and for every safe column of the next row spawns a child, with its own copy
 * of the board, into a task group, then waits and sums.  Tasks are small and
 * the tree is irregular: it measures group spawn/wait cost and load balance.
 * --size n (quick 12, at most 16).  Checksum: the number of solutions,
 * against the known sequence (OEIS A000170).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "par.h"

#define QUEENS_MAX 16

static const uint64_t solutions[QUEENS_MAX + 1] = {
    1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596, 2279184, 14772512,
};

/* A task's argument, and the workload's state (the root's argument). */
typedef struct queens_arg {
    int      n, row;             /* queens 0..row-1 are placed */
    uint64_t count;              /* out: solutions below this placement */
    signed char col[QUEENS_MAX]; /* col[r]: column of the queen on row r */
} queens_arg;

/* True when a queen at (row, c) is attacked by none of rows 0..row-1. */
static bool safe(const signed char *col, int row, int c)
{
    for (int r = 0; r < row; r++) {
        int d = col[r] - c;
        if (d == 0 || d == row - r || d == r - row)
            return false;
    }
    return true;
}

static uint64_t queens_serial(int n, int row, signed char *col)
{
    if (row == n)
        return 1;
    uint64_t count = 0;
    for (int c = 0; c < n; c++)
        if (safe(col, row, c)) {
            col[row] = (signed char)c;
            count += queens_serial(n, row + 1, col);
        }
    return count;
}

static int queens_task(void *p)
{
    queens_arg *a = p;
    if (a->row == a->n) {
        a->count = 1;
        return 0;
    }
    /* Locals, so that the calls below (which may write any memory, as far
       as the compiler knows) do not make it reload n, row and the board:
       the same loop as queens_serial's. */
    int n = a->n, row = a->row;
    signed char col[QUEENS_MAX];
    memcpy(col, a->col, sizeof col); /* fixed size: two moves, not a call */
    queens_arg child[QUEENS_MAX];
    par_group g;
    int rc = par_group_init(&g), spawned = 0;
    for (int c = 0; c < n && !rc; c++) {
        if (!safe(col, row, c))
            continue;
        queens_arg *k = &child[spawned++];
        k->n = n;
        k->row = row + 1;
        memcpy(k->col, col, sizeof k->col);
        k->col[row] = (signed char)c;
        rc = par_group_spawn(&g, queens_task, k);
    }
    int wrc = par_group_wait(&g);
    a->count = 0;
    for (int i = 0; i < spawned; i++)
        a->count += child[i].count;
    return rc ? rc : wrc;
}

static void *queens_setup(const bench_opts *o)
{
    if (o->size > QUEENS_MAX) {
        fprintf(stderr, "nqueens: --size must be at most %d\n", QUEENS_MAX);
        return NULL;
    }
    queens_arg *s = bench_alloc(sizeof *s);
    *s = (queens_arg){.n = (int)o->size};
    return s;
}

static int queens_run_serial(void *st)
{
    queens_arg *s = st;
    s->count = queens_serial(s->n, 0, s->col);
    return 0;
}

static int queens_run_parallel(void *st)
{
    return par_run(queens_task, st);
}

static uint64_t queens_checksum(void *st, uint64_t *expected)
{
    queens_arg *s = st;
    *expected = solutions[s->n];
    return s->count;
}

static const bench_workload nqueens = {
    .name = "nqueens",
    .size_help = "board size n, at most 16",
    .default_size = {12},
    .setup = queens_setup,
    .serial = queens_run_serial,
    .parallel = queens_run_parallel,
    .checksum = queens_checksum,
    .teardown = free,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &nqueens);
}

/*
 * mpi_uts.c — beyond one machine: an unbalanced tree search over MPI ranks,
 * with twill inside each rank (the MPI + threads shape of HPC codes).
 *
 * The tree is UTS-like and geometric: a node's children are drawn from its
 * 64-bit state (each further child with probability 0.8, at most 100, none
 * at the depth limit), and child i's state is a hash of the parent's and i,
 * so every rank can expand any part of the tree on its own, with no data
 * sent.
 *
 * Distribution (static, documented): every rank expands the top of the tree
 * serially, breadth first, until the frontier holds at least
 * FRONTIER_PER_RANK nodes per rank; rank r then searches the subtrees of
 * frontier nodes r, r + size, r + 2 size, ...  with a twill pool (one task
 * group per node, one task per child), and MPI_Reduce sums nodes and leaves
 * and takes the deepest level.  The nodes above the frontier are counted
 * once, by rank 0.  A static split balances well here because the frontier
 * is wide; a tree whose work sits under a few frontier nodes would need
 * work requests between ranks (not done: see the README).
 *
 * Threads: MPI_THREAD_FUNNELED.  Only the main thread calls MPI; twill's
 * workers never do.  With --check, rank 0 also counts the whole tree
 * serially and the program fails when the sums differ.
 *
 * Usage: mpirun -np RANKS mpi_uts [--depth D] [--seed S] [--workers W] [--check]
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "twill.h"

enum { MAX_CHILDREN = 100, FRONTIER_PER_RANK = 64 };

typedef struct node {
    uint64_t state;
    int depth;
} node;

typedef struct counts {
    long long nodes, leaves, max_depth;
} counts;

static int depth_limit = 13; /* seed 19: 4,580,133 nodes */
static uint64_t seed = 19;

static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static int num_children(const node *n)
{
    if (n->depth >= depth_limit)
        return 0;
    uint64_t s = ~n->state;
    int k = 0;
    while (k < MAX_CHILDREN && (s = mix(s + 0x9e3779b97f4a7c15u)) % 10 < 8)
        k++;
    return k;
}

static node child(const node *n, int i)
{
    return (node){mix(n->state + 0x9e3779b97f4a7c15u * (uint64_t)(i + 1)), n->depth + 1};
}

static void add(counts *a, const counts *b)
{
    a->nodes += b->nodes;
    a->leaves += b->leaves;
    if (b->max_depth > a->max_depth)
        a->max_depth = b->max_depth;
}

static counts serial(const node *n)
{
    counts c = {1, 0, n->depth};
    int k = num_children(n);
    if (k == 0)
        c.leaves = 1;
    for (int i = 0; i < k; i++) {
        node ch = child(n, i);
        counts cc = serial(&ch);
        add(&c, &cc);
    }
    return c;
}

/* ---------------------------------------------------- the twill search -- */

typedef struct search_arg {
    node n;
    counts c;
} search_arg;

static int search(void *p)
{
    search_arg *a = p;
    int k = num_children(&a->n);
    a->c = (counts){1, k == 0, a->n.depth};
    if (k == 0)
        return 0;
    search_arg kids[MAX_CHILDREN];
    twill_group g;
    int rc = twill_group_init(&g, NULL);
    for (int i = 0; i < k && rc == 0; i++) {
        kids[i].n = child(&a->n, i);
        rc = twill_group_spawn(&g, search, &kids[i]);
    }
    int wrc = twill_group_wait(&g);
    for (int i = 0; i < k; i++)
        add(&a->c, &kids[i].c);
    return rc != 0 ? rc : wrc;
}

/* This rank's share of the frontier, searched with the pool. */
typedef struct share {
    node *frontier;
    long n, rank, size;
    counts c;
} share;

static int search_share(void *p)
{
    share *s = p;
    long mine = (s->n - s->rank + s->size - 1) / s->size;
    search_arg *args = calloc((size_t)(mine > 0 ? mine : 1), sizeof *args);
    if (args == NULL)
        return ENOMEM;
    twill_group g;
    int rc = twill_group_init(&g, NULL);
    for (long i = s->rank, j = 0; i < s->n && rc == 0; i += s->size, j++) {
        args[j].n = s->frontier[i];
        rc = twill_group_spawn(&g, search, &args[j]);
    }
    int wrc = twill_group_wait(&g);
    for (long j = 0; j < mine; j++)
        add(&s->c, &args[j].c);
    free(args);
    return rc != 0 ? rc : wrc;
}

/* Breadth-first expansion of the top of the tree until the frontier has at
   least `want` nodes (or the tree ends); counts the expanded nodes in
   *above.  Returns the frontier (malloc'd) and its length in *n. */
static node *expand_top(long want, long *n, counts *above)
{
    long cap = 1024, len = 1;
    node *level = malloc((size_t)cap * sizeof *level);
    if (level == NULL)
        return NULL;
    level[0] = (node){mix(seed), 0};
    *above = (counts){0, 0, 0};
    while (len < want) {
        long next_len = 0, next_cap = 1024;
        node *next = malloc((size_t)next_cap * sizeof *next);
        if (next == NULL)
            break;
        for (long i = 0; i < len; i++) {
            int k = num_children(&level[i]);
            counts one = {1, k == 0, level[i].depth};
            add(above, &one);
            for (int c = 0; c < k; c++) {
                if (next_len == next_cap) {
                    node *grown = realloc(next, (size_t)(next_cap *= 2) * sizeof *next);
                    if (grown == NULL)
                        exit(1);
                    next = grown;
                }
                next[next_len++] = child(&level[i], c);
            }
        }
        free(level);
        level = next;
        len = next_len;
        if (len == 0)
            break;
    }
    *n = len;
    return level;
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    unsigned workers = 0;
    int check = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--depth") == 0 && a + 1 < argc)
            depth_limit = atoi(argv[++a]);
        else if (strcmp(argv[a], "--seed") == 0 && a + 1 < argc)
            seed = strtoull(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--workers") == 0 && a + 1 < argc)
            workers = (unsigned)atoi(argv[++a]);
        else if (strcmp(argv[a], "--check") == 0)
            check = 1;
        else {
            if (rank == 0)
                fprintf(stderr, "usage: mpirun -np R %s [--depth D] [--seed S] [--workers W] [--check]\n",
                        argv[0]);
            MPI_Finalize();
            return 2;
        }
    }
    if (provided < MPI_THREAD_FUNNELED && rank == 0)
        fprintf(stderr, "warning: MPI gives thread level %d, below FUNNELED\n", provided);

    double t0 = example_now_ms();
    counts above = {0, 0, 0};
    share s = {.rank = rank, .size = size};
    s.frontier = expand_top((long)size * FRONTIER_PER_RANK, &s.n, &above);
    if (s.frontier == NULL)
        MPI_Abort(MPI_COMM_WORLD, 1);

    twill_config cfg;
    twill_config_init(&cfg);
    if (workers != 0)
        cfg.workers = workers;
    twill_pool *pool;
    example_check(twill_pool_create(&pool, &cfg), "twill_pool_create");
    double t1 = example_now_ms();
    example_check(twill_run(pool, search_share, &s), "search");
    double mine_ms = example_now_ms() - t1;
    unsigned used = twill_pool_size(pool);
    twill_pool_destroy(pool);
    free(s.frontier);
    if (rank == 0)
        add(&s.c, &above);

    long long local[3] = {s.c.nodes, s.c.leaves, s.c.max_depth}, sum[2], deepest;
    MPI_Reduce(local, sum, 2, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(&local[2], &deepest, 1, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    double max_ms;
    MPI_Reduce(&mine_ms, &max_ms, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    printf("rank %d/%d: %lld nodes of its share in %.1f ms on %u workers\n", rank, size,
           local[0], mine_ms, used);
    int bad = 0;
    if (rank == 0) {
        printf("tree: %lld nodes, %lld leaves, depth %lld; %.1f ms in all, slowest rank %.1f ms\n",
               sum[0], sum[1], deepest, example_now_ms() - t0, max_ms);
        if (check) {
            node root = {mix(seed), 0};
            counts want = serial(&root);
            bad = want.nodes != sum[0] || want.leaves != sum[1] || want.max_depth != deepest;
            printf("check: %s (serial: %lld nodes, %lld leaves, depth %lld)\n",
                   bad ? "FAILED" : "matches the serial count", want.nodes, want.leaves,
                   want.max_depth);
        }
    }
    MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return bad;
}

/*
 * bench/uts.c — unbalanced tree search in the style of UTS (Olivier et al.,
 * LCPC 2006): count the nodes of a random tree that is generated while it is
 * searched, with a task for every node (a task group per node spawns its
 * children).  The shape is unknown in advance, so the work must be balanced
 * dynamically.  Two variants:
 *   t1  geometric, like UTS T1: every node below the depth limit has a
 *       geometrically distributed number of children with mean 4; the root
 *       has 4.  --size is the depth limit (quick 10: 1.4 M nodes).
 *   t3  binomial, like UTS T3: the root has --size children (quick 2000:
 *       1.6 M nodes); every other node has 8 children with probability
 *       0.124875, else none (m*q = 0.999: a deep, very unbalanced tree).
 * The RNG is splittable and counter based instead of UTS's SHA-1: a child's
 * state is 32 rounds of splitmix64 over (parent state + golden ratio *
 * (index + 1)), about the cost of a SHA-1 node in UTS, and a
 * node's uniform draw is the top 53 bits of its state.  Node counts
 * therefore differ from the original T1/T3.
 * Checksum: the node count, against a table for the suite's sizes, else
 * against a serial count made at setup.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "par.h"

#define UTS_SEED     19
#define UTS_HASH_ROUNDS 32 /* see child_state */
#define UTS_LOCAL    16 /* children kept in the parent's frame; more are allocated */
#define GEO_MEAN     4.0
#define GEO_MAXDEPTH 30
#define BIN_Q        0.124875
#define BIN_M        8

typedef struct uts_tree {
    bool     binomial;      /* t3, else t1 */
    unsigned root_children;
    unsigned max_depth;     /* t1: nodes at this depth are leaves */
    double   log_1mp;       /* t1: log(1 - p), p = 1 / (1 + GEO_MEAN) */
} uts_tree;

/* A task's argument. */
typedef struct uts_node {
    const uts_tree *tree;
    uint64_t        state;
    unsigned        depth;
    uint64_t        count; /* out: nodes in this subtree */
} uts_node;

typedef struct uts_state {
    uts_tree tree;
    uts_node root;
    uint64_t expected;
} uts_state;

/* Node counts measured once with the serial search (see the runner's sizes). */
static const struct {
    bool     binomial;
    uint64_t size, nodes;
} known[] = {
    {false, 10, 1414043}, {false, 11, 5649070}, {true, 2000, 1588041}, {true, 5000, 2399425},
};

/* A child's state: UTS_HASH_ROUNDS rounds of splitmix64, so that a node
   costs about what UTS's SHA-1 does (~100 ns here) and the benchmark
   measures scheduling of realistic nodes, not of a 2 ns hash. */
static uint64_t child_state(uint64_t state, unsigned i)
{
    uint64_t x = state + 0x9e3779b97f4a7c15u * (i + 1u);
    for (int r = 0; r < UTS_HASH_ROUNDS; r++)
        x = bench_mix64(x);
    return x;
}

static unsigned num_children(const uts_tree *t, uint64_t state, unsigned depth)
{
    if (depth == 0)
        return t->root_children;
    double u = (double)(state >> 11) * 0x1.0p-53; /* uniform in [0, 1) */
    if (t->binomial)
        return u < BIN_Q ? BIN_M : 0;
    if (depth >= t->max_depth)
        return 0;
    return (unsigned)floor(log(1.0 - u) / t->log_1mp);
}

static uint64_t uts_serial(const uts_tree *t, uint64_t state, unsigned depth)
{
    uint64_t count = 1;
    unsigned n = num_children(t, state, depth);
    for (unsigned i = 0; i < n; i++)
        count += uts_serial(t, child_state(state, i), depth + 1);
    return count;
}

static int uts_task(void *p)
{
    uts_node *a = p;
    unsigned n = num_children(a->tree, a->state, a->depth);
    a->count = 1;
    if (n == 0)
        return 0;
    uts_node local[UTS_LOCAL];
    uts_node *kids = n <= UTS_LOCAL ? local : bench_alloc(n * sizeof *kids);
    par_group g;
    int rc = par_group_init(&g);
    for (unsigned i = 0; i < n && !rc; i++) {
        kids[i] = (uts_node){a->tree, child_state(a->state, i), a->depth + 1, 0};
        rc = par_group_spawn(&g, uts_task, &kids[i]);
    }
    int wrc = par_group_wait(&g);
    for (unsigned i = 0; i < n; i++)
        a->count += kids[i].count;
    if (kids != local)
        free(kids);
    return rc ? rc : wrc;
}

static uint64_t expected_nodes(const uts_tree *t, uint64_t size)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].binomial == t->binomial && known[i].size == size)
            return known[i].nodes;
    return uts_serial(t, bench_mix64(UTS_SEED), 0);
}

static void *uts_setup(const bench_opts *o)
{
    bool binomial = !strcmp(o->variant, "t3");
    if (binomial ? o->size > 1000000 : o->size > GEO_MAXDEPTH) {
        fprintf(stderr, "uts: --size must be at most %s\n", binomial ? "1e6" : "30");
        return NULL;
    }
    uts_state *s = bench_alloc(sizeof *s);
    s->tree = (uts_tree){
        .binomial = binomial,
        .root_children = binomial ? (unsigned)o->size : (unsigned)GEO_MEAN,
        .max_depth = (unsigned)o->size,
        .log_1mp = log(1.0 - 1.0 / (1.0 + GEO_MEAN)),
    };
    s->root = (uts_node){.tree = &s->tree, .state = bench_mix64(UTS_SEED)};
    s->expected = expected_nodes(&s->tree, o->size);
    return s;
}

static int uts_run_serial(void *st)
{
    uts_state *s = st;
    s->root.count = uts_serial(&s->tree, s->root.state, 0);
    return 0;
}

static int uts_run_parallel(void *st)
{
    uts_state *s = st;
    return par_run(uts_task, &s->root);
}

static uint64_t uts_checksum(void *st, uint64_t *expected)
{
    uts_state *s = st;
    *expected = s->expected;
    return s->root.count;
}

static const bench_workload uts = {
    .name = "uts",
    .size_help = "t1: depth limit, at most 30; t3: children of the root, at most 1e6",
    .variants = "t1 t3",
    .default_size = {11, 5000},
    .setup = uts_setup,
    .serial = uts_run_serial,
    .parallel = uts_run_parallel,
    .checksum = uts_checksum,
    .teardown = free,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &uts);
}

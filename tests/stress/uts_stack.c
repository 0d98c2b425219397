/*
 * stress/uts_stack.c — task groups on the stack, in the shape of Lace's UTS
 * benchmark (issue 16), a plain C program so that it also runs under the
 * sanitizers and valgrind.
 *
 * The shape.  An unbalanced tree search like UTS T1 (geometric, fixed shape,
 * depth limit 10, mean branching 4): every node above the depth limit has a
 * geometric number of children (P(another child) = 0.8, mean 4, capped at
 * 100 like UTS), nodes at the limit are leaves.  A node's state is a 64-bit
 * word; child i's state is splitmix64 of the parent's state plus the golden
 * ratio times (i + 1), and the child count is drawn from the state by the
 * same hash on its complement, so the tree is fixed by the seed and a serial
 * recursion gives the reference node count, leaf count and depth.  Seed 194
 * gives 4,145,799 nodes at depth 10 (UTS T1 has 4,130,071; our hash is not
 * UTS's SHA-1, so the trees differ).  Every node is one task that declares a
 * twill_group on its own stack, calls twill_group_init(&g, NULL), builds its
 * children's arguments in memory of its own frame (alloca, or a VLA), spawns
 * one task per child and waits.  Frames of finished nodes are reused at once
 * by their siblings, so each new group starts on bytes of earlier groups and
 * earlier children's arguments, as in Lace's uts-lace.c.  Four variants, one
 * per round in turn: alloca or VLA, and init's result ignored (as Lace-style
 * code does) or checked.  Each round runs on 1 and 2 workers and on both
 * schedulers, and must match the serial reference.
 *
 * The stale-bytes phase.  One function is called three times at the same
 * stack depth, so its group has the same address each time (the program
 * checks that it does): the first call initialises the group, spawns and
 * waits; the second is a call whose frame only overwrites those bytes with
 * garbage, as a sibling's locals do; the third declares a fresh group there
 * and must get 0 from init, a group with no pending task, and a working
 * spawn and wait.  The patterns aim at today's layout in runtime/group.c
 * (magic word, pending count, ..., pool pointer) so that a runtime that
 * trusts the old bytes fails in both known ways: a stale count (the wait
 * never ends: the watchdog fires) and a stale pool pointer (a crash).  What
 * they check does not depend on that layout: init must accept any bytes.
 *
 * Before the fix of issue 16 (init read the group and returned EBUSY when it
 * found "initialised, tasks pending") this program failed every time: at -O2
 * in the stale-bytes phase (EBUSY, then the unchecked wait hung until the
 * watchdog; the 0xa5 pattern alone: SIGSEGV), and with gcc -O3 already in
 * the tree (spawns into a stale pool returned ESHUTDOWN, then a hang).
 * Under valgrind memcheck the old init is an uninitialised read at once.
 * The watchdog, re-armed before every run, turns a hang into FAIL, exit 2.
 *
 * Usage: stress_uts_stack [depth [rounds]]
 *   depth   depth limit of the tree, 1..20 (default 10: 4.1 M nodes, about
 *           7 s in all here and 20 s under AddressSanitizer; under
 *           ThreadSanitizer 9: 1.0 M nodes, about 50 s).  CI runs depth 7
 *           (64,038 nodes) under valgrind memcheck: about 5 s.
 *   rounds  per scheduler and worker count (default 4: each variant once);
 *           0 runs only the stale-bytes phase.
 */
#include <alloca.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "twill.h"

/* ThreadSanitizer costs ~20 times per task here: a smaller default tree.
   (AddressSanitizer runs the full one in ~20 s.) */
#if defined(__SANITIZE_THREAD__)
#define UTS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UTS_TSAN 1
#endif
#endif
#ifdef UTS_TSAN
#define UTS_DEFAULT_DEPTH 9
#else
#define UTS_DEFAULT_DEPTH 10
#endif

enum {
    UTS_SEED = 194,         /* depth 10: 4,145,799 nodes (see the file comment) */
    UTS_MAX_CHILDREN = 100, /* UTS's cap on a geometric node */
    UTS_MAX_DEPTH = 20,     /* largest depth argument: keeps a run finite */
    DEFAULT_ROUNDS = 4,
    RUN_WATCHDOG_S = 60,    /* one run of the tree: ~1 s here, ~4 s under TSan */
    STALE_TASKS = 64,       /* tasks spawned into each group of the stale phase */
    STALE_WATCHDOG_S = 30,
};

#define UTS_GOLDEN 0x9e3779b97f4a7c15u
/* P(another child) = 0xcccc.../2^64 = 0.8: geometric with mean 0.8/0.2 = 4. */
#define UTS_CONTINUE 0xccccccccccccccccu

/* ---------------------------------------------------------- the tree -- */

/* Depth limit of this run: written by main before any pool exists. */
static int max_depth;

static uint64_t mix64(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9u;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t child_state(uint64_t state, int i)
{
    return mix64(state + UTS_GOLDEN * (uint64_t)(i + 1));
}

/* Geometric: one Bernoulli(0.8) draw per further child, from ~state so that
   the draws are not the children's states. */
static int num_children(uint64_t state, int depth)
{
    if (depth >= max_depth)
        return 0;
    int n = 0;
    while (n < UTS_MAX_CHILDREN && mix64(~state + UTS_GOLDEN * (uint64_t)(n + 1)) < UTS_CONTINUE)
        n++;
    return n;
}

typedef struct uts_count {
    uint64_t nodes, leaves;
    int depth; /* deepest node, the root being 0 */
} uts_count;

static void add_count(uts_count *acc, const uts_count *c)
{
    acc->nodes += c->nodes;
    acc->leaves += c->leaves;
    if (c->depth > acc->depth)
        acc->depth = c->depth;
}

static uts_count count_serial(uint64_t state, int depth)
{
    int n = num_children(state, depth);
    uts_count c = {1, n == 0, depth};
    for (int i = 0; i < n; i++) {
        uts_count k = count_serial(child_state(state, i), depth + 1);
        add_count(&c, &k);
    }
    return c;
}

/* A node task's argument, filled field by field by its parent like UTS's
   Node, so that stale bytes survive in the gaps. */
typedef struct uts_arg {
    int depth;      /* in */
    int children;   /* out: how many it spawned (UTS's numChildren) */
    uint64_t state; /* in */
    uts_count r;    /* out: its subtree */
} uts_arg;

/* Start a node: its own count, and how many children it has. */
static int begin_node(uts_arg *a)
{
    int n = num_children(a->state, a->depth);
    a->children = n;
    a->r = (uts_count){1, n == 0, a->depth};
    return n;
}

/* Spawn a's n children (arguments in kids, in a's frame) into g, already
   initialised by the caller, wait, and add up their counts. */
static int expand(uts_arg *a, uts_arg *kids, int n, twill_group *g, twill_fn self)
{
    for (int i = 0; i < n; i++) {
        kids[i].depth = a->depth + 1;
        kids[i].children = -1;
        kids[i].state = child_state(a->state, i);
        int rc = twill_group_spawn(g, self, &kids[i]);
        if (rc != 0) {
            FAIL("spawn at depth %d returned %s", a->depth, twill_strerror(rc));
            kids[i].r = count_serial(kids[i].state, kids[i].depth);
        }
    }
    int rc = twill_group_wait(g);
    if (rc != 0)
        FAIL("group wait at depth %d returned %s", a->depth, twill_strerror(rc));
    for (int i = 0; i < n; i++)
        add_count(&a->r, &kids[i].r);
    return 0;
}

/* A checked init failed: report it and count the subtree serially, so the
   run goes on (spawning into a group init refused is what hangs). */
static int init_refused(uts_arg *a, int rc)
{
    FAIL("twill_group_init of a fresh group on the stack at depth %d returned %s", a->depth,
         twill_strerror(rc));
    a->r = count_serial(a->state, a->depth);
    return 0;
}

/* The Lace shape: alloca'd children, init's result ignored. */
static int search_alloca_unchecked(void *p)
{
    uts_arg *a = p;
    int n = begin_node(a);
    if (n == 0)
        return 0;
    uts_arg *kids = alloca(sizeof *kids * (size_t)n);
    twill_group g;
    (void)twill_group_init(&g, NULL); /* unchecked on purpose, as uts-lace.c */
    return expand(a, kids, n, &g, search_alloca_unchecked);
}

static int search_alloca_checked(void *p)
{
    uts_arg *a = p;
    int n = begin_node(a);
    if (n == 0)
        return 0;
    uts_arg *kids = alloca(sizeof *kids * (size_t)n);
    twill_group g;
    int rc = twill_group_init(&g, NULL);
    if (rc != 0)
        return init_refused(a, rc);
    return expand(a, kids, n, &g, search_alloca_checked);
}

static int search_vla_unchecked(void *p)
{
    uts_arg *a = p;
    int n = begin_node(a);
    if (n == 0)
        return 0;
    uts_arg kids[n];
    twill_group g;
    (void)twill_group_init(&g, NULL); /* unchecked on purpose */
    return expand(a, kids, n, &g, search_vla_unchecked);
}

static int search_vla_checked(void *p)
{
    uts_arg *a = p;
    int n = begin_node(a);
    if (n == 0)
        return 0;
    uts_arg kids[n];
    twill_group g;
    int rc = twill_group_init(&g, NULL);
    if (rc != 0)
        return init_refused(a, rc);
    return expand(a, kids, n, &g, search_vla_checked);
}

static const struct {
    twill_fn fn;
    const char *name;
} variants[] = {
    {search_alloca_unchecked, "alloca, init unchecked"},
    {search_alloca_checked, "alloca, init checked"},
    {search_vla_unchecked, "VLA, init unchecked"},
    {search_vla_checked, "VLA, init checked"},
};

/* ------------------------------------------------- stale-bytes phase -- */

/* Where the group of the previous group_frame call lived: written and read
   by the one worker that runs stale_task, between calls. */
static uintptr_t stale_group_at;
static _Atomic int stale_ran;

static int stale_bump(void *arg)
{
    (void)arg;
    /* relaxed: read after the group wait, which orders it. */
    atomic_fetch_add_explicit(&stale_ran, 1, memory_order_relaxed);
    return 0;
}

/* The garbage: 0 keeps the old group but for a count of 7 in its second
   word; 1 fills all but the first word with 0xa5 (count and pool pointer);
   2 fills all 64 bytes with pseudo-random bytes. */
static unsigned char scribble_byte(int pattern, size_t i, unsigned char old)
{
    switch (pattern) {
    case 0:
        return i == 4 ? 7 : i > 4 && i < 8 ? 0 : old;
    case 1:
        return i < 4 ? old : 0xa5;
    default:
        return (unsigned char)(mix64(i + 1) >> 56);
    }
}

typedef enum { FRAME_USE, FRAME_SCRIBBLE, FRAME_REUSE } frame_step;

/* One frame holding a group.  FRAME_USE: init, STALE_TASKS spawns, wait.
   FRAME_SCRIBBLE: the frame of another call at the same depth, which only
   writes garbage (pattern) over the bytes where the last group lived.
   FRAME_REUSE: a fresh group over those bytes; check says whether init's
   result is checked (unchecked: spawn anyway, as Lace-style code does).  One
   function for the three steps, so that the group has the same address in
   each, whatever the compiler or sanitizer does with frame layouts. */
static __attribute__((noinline)) void group_frame(frame_step step, int pattern, bool check,
                                                  const char *what)
{
    twill_group g;
    if (step != FRAME_USE && (uintptr_t)&g != stale_group_at)
        FAIL("stale phase (%s): this frame's group is at %p, the last one was at %p: the "
             "phase tests nothing", what, (void *)&g, (void *)stale_group_at);
    stale_group_at = (uintptr_t)&g;
    if (step == FRAME_SCRIBBLE) {
        volatile unsigned char *b = (volatile unsigned char *)&g; /* stores not elided */
        for (size_t i = 0; i < sizeof g; i++)
            b[i] = scribble_byte(pattern, i, b[i]);
        return;
    }
    int rc = twill_group_init(&g, NULL);
    if (rc != 0) {
        FAIL("stale phase (%s): init of a fresh group over stale bytes returned %s", what,
             twill_strerror(rc));
        if (check)
            return;
    }
    atomic_store_explicit(&stale_ran, 0, memory_order_relaxed);
    for (int i = 0; i < STALE_TASKS; i++)
        if ((rc = twill_group_spawn(&g, stale_bump, NULL)) != 0)
            FAIL("stale phase (%s): spawn returned %s", what, twill_strerror(rc));
    if ((rc = twill_group_wait(&g)) != 0)
        FAIL("stale phase (%s): wait returned %s", what, twill_strerror(rc));
    int ran = atomic_load_explicit(&stale_ran, memory_order_relaxed);
    if (ran != STALE_TASKS)
        FAIL("stale phase (%s): %d of %d tasks ran", what, ran, STALE_TASKS);
}

/* Runs on a worker: each call below starts at the same stack pointer.
   Checked before unchecked: a runtime that refuses the init fails with a
   message before the unchecked spawn hangs or crashes it. */
static int stale_task(void *arg)
{
    (void)arg;
    static const char *const names[3][2] = {
        {"stale count, init unchecked", "stale count, init checked"},
        {"stale count and pool, init unchecked", "stale count and pool, init checked"},
        {"random bytes, init unchecked", "random bytes, init checked"},
    };
    for (int pattern = 0; pattern < 3; pattern++) {
        for (int check = 1; check >= 0; check--) {
            group_frame(FRAME_USE, 0, true, "first use");
            group_frame(FRAME_SCRIBBLE, pattern, true, names[pattern][check]);
            group_frame(FRAME_REUSE, 0, check, names[pattern][check]);
        }
    }
    return 0;
}

/* ------------------------------------------------------------- driver -- */

static twill_pool *make_pool(twill_sched sched, unsigned workers)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE;
    twill_pool *pool = NULL;
    int rc = twill_pool_create(&pool, &cfg);
    if (rc != 0) {
        FAIL("pool create (%u workers): %s", workers, twill_strerror(rc));
        return NULL;
    }
    return pool;
}

static void run_tree(twill_pool *pool, int variant, const uts_count *want, const char *config)
{
    uts_arg root;
    memset(&root, 0, sizeof root);
    root.state = mix64(UTS_SEED);
    stress_watchdog(RUN_WATCHDOG_S);
    int64_t t0 = stress_now_ns();
    int rc = twill_run(pool, variants[variant].fn, &root);
    double s = (double)(stress_now_ns() - t0) / 1e9;
    if (rc != 0)
        FAIL("%s, %s: twill_run returned %s", config, variants[variant].name, twill_strerror(rc));
    if (root.r.nodes != want->nodes || root.r.leaves != want->leaves ||
        root.r.depth != want->depth)
        FAIL("%s, %s: %llu nodes, %llu leaves, depth %d; serial: %llu, %llu, %d", config,
             variants[variant].name, (unsigned long long)root.r.nodes,
             (unsigned long long)root.r.leaves, root.r.depth, (unsigned long long)want->nodes,
             (unsigned long long)want->leaves, want->depth);
    printf("  %s, %s: %llu nodes in %.2f s\n", config, variants[variant].name,
           (unsigned long long)root.r.nodes, s);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    max_depth = argc > 1 ? atoi(argv[1]) : UTS_DEFAULT_DEPTH;
    int rounds = argc > 2 ? atoi(argv[2]) : DEFAULT_ROUNDS;
    if (max_depth < 1 || max_depth > UTS_MAX_DEPTH || rounds < 0) {
        fprintf(stderr, "usage: %s [depth 1..%d [rounds >= 0]]\n", argv[0], UTS_MAX_DEPTH);
        return 2;
    }
    static const struct {
        twill_sched sched;
        const char *name;
    } scheds[] = {{TWILL_SCHED_STEALING, "stealing"}, {TWILL_SCHED_CENTRAL, "central"}};

    uts_count want = {0, 0, 0};
    if (rounds > 0) {
        int64_t t0 = stress_now_ns();
        want = count_serial(mix64(UTS_SEED), 0);
        printf("uts_stack: geometric tree, mean branching 4, depth limit %d, seed %d: "
               "%llu nodes, %llu leaves, depth %d (serial count %.2f s)\n",
               max_depth, UTS_SEED, (unsigned long long)want.nodes,
               (unsigned long long)want.leaves, want.depth,
               (double)(stress_now_ns() - t0) / 1e9);
        fflush(stdout);
    }
    for (size_t s = 0; s < 2; s++) {
        for (unsigned workers = 1; workers <= 2; workers++) {
            twill_pool *pool = make_pool(scheds[s].sched, workers);
            if (pool == NULL)
                continue;
            char config[64];
            snprintf(config, sizeof config, "%s, %u worker%s", scheds[s].name, workers,
                     workers > 1 ? "s" : "");
            long before = __atomic_load_n(&stress_failures, __ATOMIC_RELAXED);
            int64_t t0 = stress_now_ns();
            for (int r = 0; r < rounds; r++)
                run_tree(pool, r % 4, &want, config);
            printf("  %s: stale-bytes phase...\n", config);
            fflush(stdout);
            stress_watchdog(STALE_WATCHDOG_S);
            int rc = twill_run(pool, stale_task, NULL);
            if (rc != 0)
                FAIL("%s: stale phase returned %s", config, twill_strerror(rc));
            twill_stats st;
            twill_pool_stats(pool, -1, &st);
            twill_pool_destroy(pool);
            alarm(0);
            printf("uts_stack (%s): %d rounds and the stale-bytes phase: %llu tasks run, "
                   "%llu steals, %ld problems, %.2f s\n",
                   config, rounds, (unsigned long long)st.tasks_run,
                   (unsigned long long)st.steals,
                   __atomic_load_n(&stress_failures, __ATOMIC_RELAXED) - before,
                   (double)(stress_now_ns() - t0) / 1e9);
            fflush(stdout);
        }
    }
    long bad = __atomic_load_n(&stress_failures, __ATOMIC_RELAXED);
    if (bad != 0) {
        printf("uts_stack: FAILED (%ld problems)\n", bad);
        return 1;
    }
    printf("uts_stack: OK, every run matched the serial count and every group declared over "
           "stale bytes initialised to an empty, working group\n");
    return 0;
}

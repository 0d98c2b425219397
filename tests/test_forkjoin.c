/*
 * test_forkjoin.c — the fork-join contract: twill_join, task groups,
 * twill_parallel_for and twill_parallel_reduce, their nesting, entry from
 * outside and from other pools, and their interplay with shutdown (cancel
 * and drain).  Each section runs a deterministic script first, then
 * concurrent runs with pools of 2 and 4 workers (more workers than cores
 * on a small machine, for more interleavings), then the error contract.
 * Compiled once per scheduler (see testutil.h).
 *
 * Checks that must run on a worker thread are written as tasks that return
 * the source line of the first failed check (CHECK below) and 0 otherwise,
 * because Criterion's assertions may only fail on the test's own thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static const unsigned WORKER_COUNTS[] = {2, 4};
#define FOR_EACH_WORKER_COUNT(w)                                                       \
    for (size_t wi_ = 0; wi_ < sizeof WORKER_COUNTS / sizeof WORKER_COUNTS[0]; wi_++) \
        for (unsigned w = WORKER_COUNTS[wi_], once_ = 1; once_; once_ = 0)


/* ------------------------------------------------- taken-once tracking -- */

/* One spawned task: ran or discarded, each must end at exactly 1 in total. */
typedef struct item {
    _Atomic int ran;
    _Atomic int discarded;
} item;

static int item_task(void *arg)
{
    atomic_fetch_add(&((item *)arg)->ran, 1);
    return 0;
}

/* The discard hook's log: calls for item_task, and calls for anything else
   (counted per function pointer where a test needs it). */
typedef struct hook_log {
    _Atomic long calls;
    _Atomic long others;
    twill_fn probe;           /* discards of this function go to probes */
    _Atomic long probes;
} hook_log;

static void hook(twill_fn fn, void *arg, void *ctx)
{
    hook_log *h = ctx;
    atomic_fetch_add(&h->calls, 1);
    if (fn == item_task)
        atomic_fetch_add(&((item *)arg)->discarded, 1);
    else if (h->probe != NULL && fn == h->probe)
        atomic_fetch_add(&h->probes, 1);
    else
        atomic_fetch_add(&h->others, 1);
}

static twill_pool *hooked_pool(unsigned workers, hook_log *h)
{
    twill_config cfg = test_config(workers);
    cfg.discard = hook;
    cfg.discard_ctx = h;
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    return p;
}

/* Every item ran + discarded exactly once; returns how many ran. */
static long expect_each_once(item *items, long n)
{
    long ran = 0;
    for (long i = 0; i < n; i++) {
        int r = atomic_load(&items[i].ran), d = atomic_load(&items[i].discarded);
        cr_assert_eq(r + d, 1, "item %ld ran %d times and was discarded %d times", i, r, d);
        ran += r;
    }
    return ran;
}

static uint64_t stats_discarded(twill_pool *p)
{
    twill_stats s;
    cr_assert_eq(twill_pool_stats(p, -1, &s), 0);
    return s.tasks_discarded;
}

/* ================================================================ join == */

typedef struct fib_arg {
    int n;
    long result;
} fib_arg;

/* fib with a join at every level and no cutoff. */
static int fib_task(void *arg)
{
    fib_arg *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return 0;
    }
    fib_arg x = {f->n - 1, 0}, y = {f->n - 2, 0};
    int rc = twill_join(fib_task, &x, fib_task, &y);
    f->result = x.result + y.result;
    return rc;
}

static long fib_serial(int n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static long fib_join_count(int n)
{
    return n < 2 ? 0 : 1 + fib_join_count(n - 1) + fib_join_count(n - 2);
}

typedef struct half {
    int code;
    _Atomic int ran;
    _Atomic int *seq;  /* order of execution, when not NULL */
    int order;         /* value of *seq when this half started */
    int worker;        /* twill_worker_id() inside */
} half;

static int half_task(void *arg)
{
    half *h = arg;
    atomic_fetch_add(&h->ran, 1);
    if (h->seq != NULL)
        h->order = atomic_fetch_add(h->seq, 1);
    h->worker = twill_worker_id();
    return h->code;
}

/* The result-code table of twill_join, checked wherever it is called. */
static int join_code_script(void *arg)
{
    (void)arg;
    static const int cases[][3] = {
        /* a, b, result */
        {0, 0, 0},
        {5, 0, 5},
        {0, 7, 7},
        {5, 7, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        half a = {.code = cases[i][0]}, b = {.code = cases[i][1]};
        CHECK(twill_join(half_task, &a, half_task, &b) == cases[i][2]);
        CHECK(atomic_load(&a.ran) == 1);
        CHECK(atomic_load(&b.ran) == 1);
    }
    return 0;
}

Test(join, outside_any_worker_runs_a_then_b_serially_on_the_caller, .timeout = 30)
{
    _Atomic int seq = 0;
    half a = {.seq = &seq}, b = {.seq = &seq};
    cr_assert_eq(twill_join(half_task, &a, half_task, &b), 0);
    cr_assert_eq(a.order, 0, "a runs first");
    cr_assert_eq(b.order, 1, "b runs second");
    cr_assert_eq(a.worker, -1);
    cr_assert_eq(b.worker, -1);
}

Test(join, result_is_a_code_if_nonzero_else_b_code_outside_a_worker, .timeout = 30)
{
    int line = join_code_script(NULL);
    cr_assert_eq(line, 0, "check at line %d failed", line);
}

Test(join, result_is_a_code_if_nonzero_else_b_code_inside_a_worker, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        RUN_CHECKS(p, join_code_script, NULL);
        twill_pool_destroy(p);
    }
}

static int fib_checked(void *arg)
{
    int n = *(int *)arg;
    fib_arg f = {n, 0};
    CHECK(fib_task(&f) == 0);
    CHECK(f.result == fib_serial(n));
    return 0;
}

Test(join, nested_joins_outside_any_worker_match_serial_fib, .timeout = 30)
{
    /* Every half of a join tree on a thread that is no worker runs once,
       each join taking back its own b (the outside thread's own stack of
       halves, join.c), and through the exported symbol as well. */
    int ns[] = {1, 2, 10, 17};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        int line = fib_checked(&ns[i]);
        cr_assert_eq(line, 0, "fib(%d): check at line %d failed", ns[i], line);
    }
    int (*volatile join)(twill_fn, void *, twill_fn, void *) = twill_join;
    int n = 10;
    cr_assert_eq(join(fib_checked, &n, fib_checked, &n), 0);
}

Test(join, fib_with_a_join_at_every_level_matches_serial_fib, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        int ns[] = {0, 1, 2, 3, 10, 17, 22};
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            RUN_CHECKS(p, fib_checked, &ns[i]);
        twill_pool_destroy(p);
    }
}

/* A binary tree of joins; leaf i returns code(i) and counts itself. */
typedef struct code_tree {
    int depth;
    long index;
    _Atomic int *leaf_runs;
} code_tree;

static int leaf_code(long index)
{
    return index % 3 == 2 ? (int)(100 + index) : 0;
}

static int code_tree_task(void *arg)
{
    code_tree *t = arg;
    if (t->depth == 0) {
        atomic_fetch_add(&t->leaf_runs[t->index], 1);
        return leaf_code(t->index);
    }
    code_tree l = {t->depth - 1, 2 * t->index, t->leaf_runs};
    code_tree r = {t->depth - 1, 2 * t->index + 1, t->leaf_runs};
    return twill_join(code_tree_task, &l, code_tree_task, &r);
}

/* The contract's answer for the same tree, without twill. */
static int code_tree_expected(int depth, long index)
{
    if (depth == 0)
        return leaf_code(index);
    int a = code_tree_expected(depth - 1, 2 * index);
    int b = code_tree_expected(depth - 1, 2 * index + 1);
    return a != 0 ? a : b;
}

Test(join, both_halves_run_even_if_a_fails_under_stealing, .timeout = 30)
{
    enum { DEPTH = 12, LEAVES = 1 << DEPTH };
    _Atomic int *runs = calloc(LEAVES, sizeof *runs);
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (int round = 0; round < 5; round++) {
            memset(runs, 0, LEAVES * sizeof *runs);
            code_tree root = {DEPTH, 0, runs};
            cr_assert_eq(twill_run(p, code_tree_task, &root), code_tree_expected(DEPTH, 0));
            for (long i = 0; i < LEAVES; i++)
                cr_assert_eq(atomic_load(&runs[i]), 1, "leaf %ld ran %d times", i,
                             atomic_load(&runs[i]));
        }
        twill_pool_destroy(p);
    }
    free(runs);
}

/* A chain of nested joins; the recursion is in a (b counts) or in b. */
typedef struct chain {
    int depth;
    _Atomic long *count;
} chain;

static int chain_in_a(void *arg)
{
    chain *c = arg;
    if (c->depth == 0)
        return 0;
    chain next = {c->depth - 1, c->count};
    return twill_join(chain_in_a, &next, count_task, c->count);
}

static int chain_in_b(void *arg)
{
    chain *c = arg;
    if (c->depth == 0)
        return 0;
    chain next = {c->depth - 1, c->count};
    return twill_join(count_task, c->count, chain_in_b, &next);
}

Test(join, a_10000_deep_chain_works_on_the_default_worker_stack, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (int round = 0; round < 3; round++) {
            _Atomic long n = 0;
            chain c = {10000, &n};
            cr_assert_eq(twill_run(p, chain_in_a, &c), 0);
            cr_assert_eq(atomic_load(&n), 10000);
            atomic_store(&n, 0);
            cr_assert_eq(twill_run(p, chain_in_b, &c), 0);
            cr_assert_eq(atomic_load(&n), 10000);
        }
        twill_pool_destroy(p);
    }
}

/* A loop body: one 10,000-deep chain per index, recursion in a or in b. */
static int body_with_chain(void *ctx, size_t b, size_t e)
{
    for (size_t i = b; i < e; i++) {
        chain c = {10000, ctx};
        int rc = i % 2 == 0 ? chain_in_a(&c) : chain_in_b(&c);
        if (rc != 0)
            return rc;
    }
    return 0;
}

Test(join, deep_chains_on_every_worker_at_once_fit_the_default_stack, .timeout = 30)
{
    /* Joiners whose b was stolen help while they wait; what they pick up
       must not pile chain upon chain on one stack. */
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        _Atomic long n = 0;
        cr_assert_eq(twill_parallel_for(p, 0, 16, 1, body_with_chain, &n), 0);
        cr_assert_eq(atomic_load(&n), 16L * 10000);
        twill_pool_destroy(p);
    }
}

static int many_joins(void *arg)
{
    for (int i = 0; i < *(int *)arg; i++)
        CHECK(twill_join(noop, NULL, noop, NULL) == 0);
    return 0;
}

Test(join, stats_count_the_b_half_of_every_join_as_a_task_run, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        int joins = 1000;
        RUN_CHECKS(p, many_joins, &joins);
        twill_stats s;
        cr_assert_eq(twill_pool_stats(p, -1, &s), 0);
        cr_assert_eq(s.tasks_run, 1u + 1000u, "the twill_run task plus one b per join");

        int n = 16;
        RUN_CHECKS(p, fib_checked, &n);
        cr_assert_eq(twill_pool_stats(p, -1, &s), 0);
        cr_assert_eq(s.tasks_run, 1u + 1000u + 1u + (uint64_t)fib_join_count(n),
                     "b halves count whether run inline or stolen");
        cr_assert_eq(s.tasks_failed, 0);
        twill_pool_destroy(p);
    }
}

/* A poll (at the first join after the submission's trip, or every 1024
   inline join halves: twill.h, twill_submit) starts a queued outside job
   on the stack of the joins it interrupts; when that job waits on a group, its helping
   wait pops its own worker's newest work first, which is the private b half
   of the join below it (never shared: `done` never set).  That half must
   run once and finish properly, and the joins below still complete. */
typedef struct polled {
    _Atomic int queued;   /* the outside job is in the queue */
    _Atomic long leaves;  /* b halves run */
    _Atomic int waited;   /* the outside job's group wait returned 0 */
} polled;

static polled poll_state;

static int leaf(void *arg)
{
    (void)arg;
    atomic_fetch_add(&poll_state.leaves, 1);
    return 0;
}

static int outside_group_waiter(void *arg)
{
    (void)arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    CHECK(twill_group_spawn(&g, noop, NULL) == 0);
    CHECK(twill_group_wait(&g) == 0);
    atomic_store(&poll_state.waited, 1);
    return 0;
}

enum { INLINE_POLL_EVERY = 1024 };

static int a_poll_period_of_joins(void *arg)
{
    (void)arg;
    /* One of them ends in a poll that runs the outside job: the first
       after the submission's trip, or the 1024th at the latest (the 64th
       where joins take the cold path) */
    for (int i = 0; i < INLINE_POLL_EVERY; i++)
        CHECK(twill_join(noop, NULL, noop, NULL) == 0);
    return 0;
}

static int inner_join(void *arg)
{
    (void)arg;
    return twill_join(a_poll_period_of_joins, NULL, leaf, NULL); /* this leaf stays private */
}

static int polled_from_joins(void *arg)
{
    (void)arg;
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&poll_state.queued)) {
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec);
        sched_yield();
    }
    return twill_join(inner_join, NULL, leaf, NULL); /* this leaf is published */
}

Test(join, a_group_wait_polled_in_a_join_runs_the_private_half_below_it_once, .timeout = 30)
{
    twill_pool *p = test_pool(1); /* fresh: its count starts at 0 */
    cr_assert_eq(twill_submit(p, polled_from_joins, NULL), 0);
    cr_assert_eq(twill_submit(p, outside_group_waiter, NULL), 0);
    atomic_store(&poll_state.queued, 1);
    twill_pool_destroy(p);
    cr_assert_eq(atomic_load(&poll_state.leaves), 2, "each b half once");
    cr_assert_eq(atomic_load(&poll_state.waited), 1);
}

/* The same, when the outside job's wait ends (a timeout) after it ran the
   newest private half: the join it interrupted then takes back an older
   join's private half (below its own, which is gone) and runs it. */
static twill_group timed_group; /* outlives the outside job: its task runs later */

static int spin_past_a_millisecond(void *arg)
{
    (void)arg;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do /* the waiter's 1 ms timeout must have passed when this returns */
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 2000000);
    return leaf(NULL);
}

static int outside_timed_waiter(void *arg)
{
    (void)arg;
    CHECK(twill_group_init(&timed_group, NULL) == 0);
    CHECK(twill_group_spawn(&timed_group, noop, NULL) == 0);
    /* stealing: helps once (the newest private half: 2 ms), then times
       out; central (no private halves): may run its own task first */
    int rc = twill_group_wait_for(&timed_group, 1000000);
    CHECK(rc == ETIMEDOUT || rc == 0);
    atomic_store(&poll_state.waited, 1);
    return 0;
}

static int innermost_join(void *arg)
{
    (void)arg;
    return twill_join(a_poll_period_of_joins, NULL, spin_past_a_millisecond, NULL);
}

static int middle_join(void *arg)
{
    (void)arg;
    return twill_join(innermost_join, NULL, leaf, NULL); /* private, taken back below */
}

static int polled_from_three_joins(void *arg)
{
    (void)arg;
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&poll_state.queued)) {
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec);
        sched_yield();
    }
    return twill_join(middle_join, NULL, leaf, NULL);
}

Test(join, a_join_whose_half_a_polled_wait_ran_takes_back_an_older_private_half, .timeout = 30)
{
    twill_pool *p = test_pool(1);
    cr_assert_eq(twill_submit(p, polled_from_three_joins, NULL), 0);
    cr_assert_eq(twill_submit(p, outside_timed_waiter, NULL), 0);
    atomic_store(&poll_state.queued, 1);
    twill_pool_destroy(p);
    cr_assert_eq(atomic_load(&poll_state.leaves), 3, "each b half once");
    cr_assert_eq(atomic_load(&poll_state.waited), 1);
}

static int join_null_script(void *arg)
{
    (void)arg;
    half h = {0};
    CHECK(twill_join(NULL, NULL, half_task, &h) == EINVAL);
    CHECK(twill_join(half_task, &h, NULL, NULL) == EINVAL);
    CHECK(twill_join(NULL, NULL, NULL, NULL) == EINVAL);
    CHECK(atomic_load(&h.ran) == 0);
    return 0;
}

Test(join, null_a_or_b_is_einval_and_neither_half_runs, .timeout = 30)
{
    int line = join_null_script(NULL);
    cr_assert_eq(line, 0, "outside a worker: check at line %d failed", line);
    twill_pool *p = test_pool(2);
    RUN_CHECKS(p, join_null_script, NULL);
    twill_pool_destroy(p);
}

/* ============================================================== groups == */

Test(group, spawn_and_wait_from_outside_runs_every_task_once, .timeout = 30)
{
    enum { N = 5000 };
    item *items = calloc(N, sizeof *items);
    FOR_EACH_WORKER_COUNT(w) {
        hook_log h = {0};
        twill_pool *p = hooked_pool(w, &h);
        memset(items, 0, N * sizeof *items);
        twill_group g;
        cr_assert_eq(twill_group_init(&g, p), 0);
        for (long i = 0; i < N; i++)
            cr_assert_eq(twill_group_spawn(&g, item_task, &items[i]), 0);
        cr_assert_eq(twill_group_wait(&g), 0);
        cr_assert_eq(expect_each_once(items, N), N);
        cr_assert_eq(atomic_load(&h.calls), 0);
        twill_pool_destroy(p);
    }
    free(items);
}

typedef struct spawn_job {
    twill_pool *pool;    /* expected pool (NULL: not checked) */
    item *items;
    long n;
} spawn_job;

static int spawn_and_wait_on_worker(void *arg)
{
    spawn_job *j = arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0); /* the current worker's pool */
    for (long i = 0; i < j->n; i++)
        CHECK(twill_group_spawn(&g, item_task, &j->items[i]) == 0);
    CHECK(twill_group_wait(&g) == 0);
    for (long i = 0; i < j->n; i++)
        CHECK(atomic_load(&j->items[i].ran) == 1);
    return 0;
}

Test(group, spawn_and_wait_from_a_worker_runs_every_task_once, .timeout = 30)
{
    enum { N = 5000 };
    item *items = calloc(N, sizeof *items);
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        memset(items, 0, N * sizeof *items);
        spawn_job j = {p, items, N};
        RUN_CHECKS(p, spawn_and_wait_on_worker, &j);
        cr_assert_eq(expect_each_once(items, N), N);
        twill_pool_destroy(p);
    }
    free(items);
}

typedef struct pool_probe {
    twill_pool *want;
    _Atomic long ran, wrong_pool;
} pool_probe;

static int record_pool(void *arg)
{
    pool_probe *pp = arg;
    if (twill_current_pool() != pp->want)
        atomic_fetch_add(&pp->wrong_pool, 1);
    atomic_fetch_add(&pp->ran, 1);
    return 0;
}

typedef struct cross_spawn {
    twill_group *g;
    pool_probe *probe;
} cross_spawn;

/* On a worker of another pool: spawn into g (of pool A) and wait. */
static int spawn_into_foreign_group(void *arg)
{
    cross_spawn *c = arg;
    for (int i = 0; i < 100; i++)
        CHECK(twill_group_spawn(c->g, record_pool, c->probe) == 0);
    CHECK(twill_group_wait(c->g) == 0);
    return 0;
}

Test(group, spawns_land_on_the_group_pool_whichever_thread_spawns, .timeout = 30)
{
    twill_pool *a = test_pool(2), *b = test_pool(2);
    pool_probe probe = {.want = a};
    twill_group g;
    cr_assert_eq(twill_group_init(&g, a), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(twill_group_spawn(&g, record_pool, &probe), 0);
    cr_assert_eq(twill_group_wait(&g), 0);
    cr_assert_eq(atomic_load(&probe.ran), 100);

    cross_spawn c = {&g, &probe};
    RUN_CHECKS(b, spawn_into_foreign_group, &c);
    cr_assert_eq(atomic_load(&probe.ran), 200);
    cr_assert_eq(atomic_load(&probe.wrong_pool), 0, "a group task ran outside its pool");
    twill_pool_destroy(b);
    twill_pool_destroy(a);
}

typedef struct init_inside {
    pool_probe probe;
} init_inside;

static int init_with_null_pool(void *arg)
{
    init_inside *c = arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    CHECK(twill_group_spawn(&g, record_pool, &c->probe) == 0);
    CHECK(twill_group_wait(&g) == 0);
    return 0;
}

Test(group, init_with_null_pool_inside_a_worker_uses_the_current_pool, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    init_inside c = {.probe = {.want = p}};
    RUN_CHECKS(p, init_with_null_pool, &c);
    cr_assert_eq(atomic_load(&c.probe.ran), 1);
    cr_assert_eq(atomic_load(&c.probe.wrong_pool), 0);
    twill_pool_destroy(p);
}

/* A task that spawns two children into its own group down to depth 0. */
typedef struct self_spawn {
    twill_group *g;
    int depth;
    _Atomic long *nodes;
} self_spawn;

static int self_spawn_task(void *arg)
{
    self_spawn *s = arg;
    atomic_fetch_add(s->nodes, 1);
    if (s->depth > 0) {
        /* Children live in the heap: the parent returns before they run. */
        for (int k = 0; k < 2; k++) {
            self_spawn *c = malloc(sizeof *c);
            *c = (self_spawn){s->g, s->depth - 1, s->nodes};
            if (twill_group_spawn(s->g, self_spawn_task, c) != 0)
                return 1;
        }
    }
    free(s);
    return 0;
}

static int self_spawn_root(twill_group *g, int depth, _Atomic long *nodes)
{
    self_spawn *root = malloc(sizeof *root);
    *root = (self_spawn){g, depth, nodes};
    int rc = twill_group_spawn(g, self_spawn_task, root);
    return rc != 0 ? rc : twill_group_wait(g);
}

typedef struct self_spawn_job {
    int depth;
    _Atomic long nodes;
} self_spawn_job;

static int self_spawn_on_worker(void *arg)
{
    self_spawn_job *j = arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    CHECK(self_spawn_root(&g, j->depth, &j->nodes) == 0);
    return 0;
}

Test(group, tasks_may_spawn_into_their_own_group_while_it_is_waited_on, .timeout = 30)
{
    enum { DEPTH = 12 };
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        twill_group g;
        _Atomic long nodes = 0;
        cr_assert_eq(twill_group_init(&g, p), 0);
        cr_assert_eq(self_spawn_root(&g, DEPTH, &nodes), 0);
        cr_assert_eq(atomic_load(&nodes), (1L << (DEPTH + 1)) - 1, "waited from outside");

        self_spawn_job j = {DEPTH, 0};
        RUN_CHECKS(p, self_spawn_on_worker, &j);
        cr_assert_eq(atomic_load(&j.nodes), (1L << (DEPTH + 1)) - 1, "waited from a worker");
        twill_pool_destroy(p);
    }
}

/* One group per level, each waiting for the single task of the next. */
typedef struct group_chain {
    int depth;
    _Atomic long *levels;
} group_chain;

static int group_chain_task(void *arg)
{
    group_chain *c = arg;
    atomic_fetch_add(c->levels, 1);
    if (c->depth == 0)
        return 0;
    group_chain next = {c->depth - 1, c->levels};
    twill_group g;
    int rc = twill_group_init(&g, NULL);
    if (rc == 0)
        rc = twill_group_spawn(&g, group_chain_task, &next);
    int wrc = twill_group_wait(&g);
    return rc != 0 ? rc : wrc;
}

Test(group, groups_nest_10000_deep_on_the_default_worker_stack, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        _Atomic long levels = 0;
        group_chain c = {10000, &levels};
        cr_assert_eq(twill_run(p, group_chain_task, &c), 0);
        cr_assert_eq(atomic_load(&levels), 10001);
        twill_pool_destroy(p);
    }
}

static int fail_task(void *arg)
{
    (void)arg;
    return 42;
}

static int fail_after_gate(void *arg)
{
    gate_pass(arg);
    return 42;
}

Test(group, first_nonzero_code_is_returned_and_cancels_the_tasks_not_started, .timeout = 30)
{
    enum { N = 200 };
    FOR_EACH_WORKER_COUNT(w) {
        hook_log h = {0};
        twill_pool *p = hooked_pool(w, &h);
        gate fail_gate = GATE_INIT, others = GATE_INIT;
        item items[N];
        memset(items, 0, sizeof items);
        twill_group g;
        cr_assert_eq(twill_group_init(&g, p), 0);
        /* Every worker blocked: one in the task that will fail, the rest in
           gate tasks of the same group; then N tasks queue up behind them. */
        cr_assert_eq(twill_group_spawn(&g, fail_after_gate, &fail_gate), 0);
        for (unsigned i = 1; i < w; i++)
            cr_assert_eq(twill_group_spawn(&g, gate_task, &others), 0);
        gate_wait_inside(&fail_gate, 1);
        gate_wait_inside(&others, (int)w - 1);
        for (int i = 0; i < N; i++)
            cr_assert_eq(twill_group_spawn(&g, item_task, &items[i]), 0);
        cr_assert(!twill_group_cancelled(&g));
        /* The failure cancels the group before any queued task can start. */
        gate_open(&fail_gate);
        struct timespec dl = test_deadline(), now;
        while (!twill_group_cancelled(&g)) {
            clock_gettime(CLOCK_REALTIME, &now);
            cr_assert(now.tv_sec < dl.tv_sec, "the failing task never cancelled its group");
            sched_yield();
        }
        gate_open(&others);
        cr_assert_eq(twill_group_wait(&g), 42, "the first error wins over ECANCELED");
        cr_assert_eq(expect_each_once(items, N), 0, "no queued task starts after the failure");
        cr_assert_eq(atomic_load(&h.calls), N, "each skipped task goes through the hook");
        cr_assert_eq(atomic_load(&h.others), 0);
        cr_assert_eq(stats_discarded(p), (uint64_t)N);
        twill_pool_destroy(p);
    }
}

Test(group, first_error_wins_when_many_tasks_fail, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        hook_log h = {0};
        twill_pool *p = hooked_pool(w, &h);
        twill_group g;
        cr_assert_eq(twill_group_init(&g, p), 0);
        for (int i = 0; i < 1000; i++)
            cr_assert_eq(twill_group_spawn(&g, fail_task, NULL), 0);
        cr_assert_eq(twill_group_wait(&g), 42);
        twill_stats s;
        cr_assert_eq(twill_pool_stats(p, -1, &s), 0);
        cr_assert_geq(s.tasks_failed, 1);
        cr_assert_eq(s.tasks_failed + (uint64_t)atomic_load(&h.calls), 1000,
                     "every task failed or was discarded, once");
        twill_pool_destroy(p);
    }
}

/* All w workers blocked in plain gate tasks (not part of any group). */
static void block_workers(twill_pool *p, gate *gt, unsigned w)
{
    for (unsigned i = 0; i < w; i++)
        cr_assert_eq(twill_submit(p, gate_task, gt), 0);
    gate_wait_inside(gt, (int)w);
}

Test(group, cancel_then_wait_returns_ecanceled_and_discards_the_skipped_tasks, .timeout = 30)
{
    enum { N = 100 };
    FOR_EACH_WORKER_COUNT(w) {
        hook_log h = {0};
        twill_pool *p = hooked_pool(w, &h);
        gate gt = GATE_INIT;
        item items[N];
        memset(items, 0, sizeof items);
        block_workers(p, &gt, w);
        twill_group g;
        cr_assert_eq(twill_group_init(&g, p), 0);
        for (int i = 0; i < N; i++)
            cr_assert_eq(twill_group_spawn(&g, item_task, &items[i]), 0);
        twill_group_cancel(&g);
        cr_assert(twill_group_cancelled(&g));
        gate_open(&gt);
        cr_assert_eq(twill_group_wait(&g), ECANCELED);
        cr_assert_eq(expect_each_once(items, N), 0);
        cr_assert_eq(atomic_load(&h.calls), N);
        twill_pool_destroy(p);
    }
}

Test(group, cancel_with_nothing_skipped_waits_with_0_and_resets, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);
    twill_group_cancel(&g);
    cr_assert(twill_group_cancelled(&g));
    cr_assert_eq(twill_group_wait(&g), 0, "no task was skipped");
    cr_assert(!twill_group_cancelled(&g), "wait resets the group");
    _Atomic long n = 0;
    cr_assert_eq(twill_group_spawn(&g, count_task, &n), 0);
    cr_assert_eq(twill_group_wait(&g), 0);
    cr_assert_eq(atomic_load(&n), 1);
    twill_pool_destroy(p);
}

typedef struct cancelled_spawn {
    twill_group *g;
    item *it;
} cancelled_spawn;

static int spawn_into_cancelled(void *arg)
{
    cancelled_spawn *c = arg;
    CHECK(twill_group_spawn(c->g, item_task, c->it) == 0);
    return 0;
}

Test(group, spawn_into_a_cancelled_group_returns_0_and_calls_the_hook_once, .timeout = 30)
{
    hook_log h = {0};
    twill_pool *p = hooked_pool(2, &h);
    item outside = {0}, inside = {0};
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);
    twill_group_cancel(&g);
    cr_assert_eq(twill_group_spawn(&g, item_task, &outside), 0, "from outside");
    cr_assert_eq(atomic_load(&outside.discarded), 1, "discarded at once, through the hook");
    cancelled_spawn c = {&g, &inside};
    RUN_CHECKS(p, spawn_into_cancelled, &c);
    cr_assert_eq(atomic_load(&inside.discarded), 1, "from a worker");
    cr_assert_eq(twill_group_wait(&g), ECANCELED);
    cr_assert_eq(expect_each_once(&outside, 1), 0);
    cr_assert_eq(expect_each_once(&inside, 1), 0);
    cr_assert_eq(atomic_load(&h.calls), 2);
    cr_assert_eq(stats_discarded(p), 2u, "discards on any thread are counted");
    twill_pool_destroy(p);
}

typedef struct gated_counter {
    gate g;
    _Atomic long passed;
} gated_counter;

static int count_after_gate(void *arg)
{
    gated_counter *gc = arg;
    gate_pass(&gc->g);
    atomic_fetch_add(&gc->passed, 1);
    return 0;
}

Test(group, wait_for_times_out_while_tasks_are_blocked_and_they_keep_running, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        gated_counter gc = {.g = GATE_INIT};
        twill_group g;
        cr_assert_eq(twill_group_init(&g, p), 0);
        long spawned = (long)w + 2; /* w blocked, 2 queued */
        for (long i = 0; i < spawned; i++)
            cr_assert_eq(twill_group_spawn(&g, count_after_gate, &gc), 0);
        gate_wait_inside(&gc.g, (int)w);
        cr_assert_eq(twill_group_wait_for(&g, 0), ETIMEDOUT, "0 checks once");
        cr_assert_eq(twill_group_wait_for(&g, 1000000), ETIMEDOUT, "1 ms");
        cr_assert_eq(atomic_load(&gc.passed), 0);
        /* Still usable after a timeout: spawn more, then wait for real. */
        cr_assert_eq(twill_group_spawn(&g, count_after_gate, &gc), 0);
        spawned++;
        gate_open(&gc.g);
        cr_assert_eq(twill_group_wait_for(&g, TEST_WAIT_NS), 0);
        cr_assert_eq(atomic_load(&gc.passed), spawned, "timed-out tasks kept going");
        cr_assert_eq(twill_group_wait_for(&g, 0), 0, "an empty group is done at once");
        twill_pool_destroy(p);
    }
}

typedef struct worker_wait_for {
    gated_counter *gc;
    long spawned;
} worker_wait_for;

static int wait_for_zero_on_worker(void *arg)
{
    worker_wait_for *c = arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    for (long i = 0; i < c->spawned; i++)
        CHECK(twill_group_spawn(&g, count_after_gate, c->gc) == 0);
    CHECK(twill_group_wait_for(&g, 0) == ETIMEDOUT);
    gate_open(&c->gc->g);
    CHECK(twill_group_wait(&g) == 0);
    CHECK(atomic_load(&c->gc->passed) == c->spawned);
    return 0;
}

Test(group, wait_for_zero_on_a_worker_checks_once_without_running_tasks, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    gated_counter gc = {.g = GATE_INIT};
    worker_wait_for c = {&gc, 3};
    RUN_CHECKS(p, wait_for_zero_on_worker, &c);
    twill_pool_destroy(p);
}

Test(group, is_reusable_after_wait_whatever_the_previous_outcome, .timeout = 30)
{
    hook_log h = {0};
    twill_pool *p = hooked_pool(2, &h);
    twill_group g;
    _Atomic long n = 0;
    cr_assert_eq(twill_group_init(&g, p), 0);
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 100; i++)
            cr_assert_eq(twill_group_spawn(&g, count_task, &n), 0);
        cr_assert_eq(twill_group_wait(&g), 0);
    }
    cr_assert_eq(atomic_load(&n), 1000);

    cr_assert_eq(twill_group_spawn(&g, fail_task, NULL), 0);
    cr_assert_eq(twill_group_wait(&g), 42);
    cr_assert(!twill_group_cancelled(&g), "an error does not outlive its wait");
    cr_assert_eq(twill_group_spawn(&g, count_task, &n), 0);
    cr_assert_eq(twill_group_wait(&g), 0, "the old error is not reported again");

    twill_group_cancel(&g);
    item skipped = {0};
    cr_assert_eq(twill_group_spawn(&g, item_task, &skipped), 0);
    cr_assert_eq(twill_group_wait(&g), ECANCELED);
    cr_assert_eq(twill_group_spawn(&g, count_task, &n), 0);
    cr_assert_eq(twill_group_wait(&g), 0, "the cancellation does not outlive its wait");
    cr_assert_eq(atomic_load(&n), 1002);
    cr_assert_eq(atomic_load(&skipped.discarded), 1);

    cr_assert_eq(twill_group_init(&g, p), 0, "a waited group may be initialised again");
    twill_pool_destroy(p);
}

/* Issue 16: a fresh group holding the bytes of an older, live group (what a
   stack frame at the same address leaves behind) must initialise; init used
   to read them and refuse with EBUSY, and the spawns that followed kept the
   stale count (a wait that never ends) and pool pointer (a crash). */
Test(group, init_ignores_stale_bytes_of_an_older_group, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    gated_counter gc = {.g = GATE_INIT};
    twill_group live, fresh;
    cr_assert_eq(twill_group_init(&live, p), 0);
    cr_assert_eq(twill_group_spawn(&live, count_after_gate, &gc), 0);
    gate_wait_inside(&gc.g, 1);
    memcpy(&fresh, &live, sizeof fresh); /* an initialised group, one task pending */
    gate_open(&gc.g);
    cr_assert_eq(twill_group_wait(&live), 0);

    _Atomic long n = 0;
    cr_assert_eq(twill_group_init(&fresh, p), 0, "stale bytes do not make a fresh group busy");
    cr_assert_eq(twill_group_spawn(&fresh, count_task, &n), 0);
    cr_assert_eq(twill_group_wait_for(&fresh, TEST_WAIT_NS), 0, "no stale count left");

    memset(&fresh, 0xa5, sizeof fresh); /* garbage overwrites the rest, too */
    memcpy(&fresh, &live, sizeof(uint32_t)); /* ... but the magic word survives */
    cr_assert_eq(twill_group_init(&fresh, p), 0);
    cr_assert_eq(twill_group_spawn(&fresh, count_task, &n), 0);
    cr_assert_eq(twill_group_wait_for(&fresh, TEST_WAIT_NS), 0);
    cr_assert_eq(atomic_load(&n), 2);
    cr_assert_eq(atomic_load(&gc.passed), 1);
    twill_pool_destroy(p);
}

/* Issue 15: waits that return (and reset the group) while spawns continue
   must not lose a spawn's count: the reset used to store 0 over it, the
   late finish drove the count negative, and the final wait never ended. */
typedef struct racing_spawner {
    twill_group *g;
    _Atomic long *ran;
    long n, refused;
    _Atomic int done;
} racing_spawner;

static void *spawn_many(void *arg)
{
    racing_spawner *rs = arg;
    for (long i = 0; i < rs->n; i++)
        if (twill_group_spawn(rs->g, count_task, rs->ran) != 0)
            rs->refused++;
    atomic_store_explicit(&rs->done, 1, memory_order_release);
    return NULL;
}

Test(group, waits_racing_spawns_never_lose_a_count, .timeout = 120)
{
    twill_pool *p = test_pool(2);
    twill_group g;
    _Atomic long ran = 0;
    cr_assert_eq(twill_group_init(&g, p), 0);
    racing_spawner rs = {.g = &g, .ran = &ran, .n = 300000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, spawn_many, &rs), 0);
    long polls = 0;
    while (!atomic_load_explicit(&rs.done, memory_order_acquire)) {
        int rc = twill_group_wait_for(&g, 0);
        cr_assert(rc == 0 || rc == ETIMEDOUT, "poll returned %s", twill_strerror(rc));
        polls++;
    }
    pthread_join(th, NULL);
    cr_assert_eq(rs.refused, 0);
    cr_assert_eq(twill_group_wait_for(&g, TEST_WAIT_NS), 0, "every count was kept (%ld polls)",
                 polls);
    cr_assert_eq(atomic_load(&ran), rs.n);
    cr_assert_eq(twill_group_wait_for(&g, 0), 0, "the group is empty and reusable");
    twill_pool_destroy(p);
}

/* Issue 9: a worker deep in one long join tree still starts an outside
   task (the poll counts tasks run, also inline join halves; it used to
   count only the worker loop's searches, which a join tree never
   reaches).  A submission that finds no idle worker trips the busy
   workers' joins, so on the stealing scheduler the task starts at the
   worker's next join; the count is the backstop (every 1024 inline
   halves).  A traced pool, whose joins ignore trips and all take the cold
   path, and the central scheduler poll every 64 joins. */
enum { POLL_TREE_DEPTH = 20, POLL_PROBES = 4 };

typedef struct poll_tree {
    _Atomic long leaves;
    _Atomic long started;               /* probes that ran */
    _Atomic long at_start[POLL_PROBES]; /* leaves when probe k started */
} poll_tree;

static poll_tree ptree;

static int poll_leaf_or_split(void *arg)
{
    long depth = (long)(intptr_t)arg;
    if (depth == 0) {
        for (volatile int i = 0; i < 50; i++)
            ;
        atomic_fetch_add(&ptree.leaves, 1);
        return 0;
    }
    void *d = (void *)(intptr_t)(depth - 1);
    return twill_join(poll_leaf_or_split, d, poll_leaf_or_split, d);
}

static int note_start(void *arg)
{
    atomic_store(&ptree.at_start[(intptr_t)arg], atomic_load(&ptree.leaves));
    atomic_fetch_add(&ptree.started, 1);
    return 0;
}

typedef struct tree_run {
    twill_pool *p;
    int rc;
} tree_run;

static void *run_tree(void *arg)
{
    tree_run *r = arg;
    r->rc = twill_run(r->p, poll_leaf_or_split, (void *)(intptr_t)POLL_TREE_DEPTH);
    return NULL;
}

/* The largest number of leaves p's only worker, deep in one join tree,
   ran between an outside submission and its start, over POLL_PROBES
   submissions one after another; destroys p. */
static long worst_start_gap(twill_pool *p)
{
    memset(&ptree, 0, sizeof ptree);
    tree_run r = {.p = p, .rc = -1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_tree, &r), 0);
    wait_count(&ptree.leaves, 1000); /* the worker is inside the tree */
    long worst = 0;
    for (int k = 0; k < POLL_PROBES; k++) {
        cr_assert_eq(twill_submit(p, note_start, (void *)(intptr_t)k), 0);
        /* Read after the submit returned: a test thread descheduled
           between the read and the push would otherwise count the
           worker's leaves of that whole time against it (seen once under
           load). */
        long submitted_at = atomic_load(&ptree.leaves);
        wait_count(&ptree.started, k + 1);
        long gap = atomic_load(&ptree.at_start[k]) - submitted_at;
        worst = gap > worst ? gap : worst;
    }
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0);
    twill_pool_destroy(p);
    long total = 1L << POLL_TREE_DEPTH;
    cr_assert_eq(atomic_load(&ptree.leaves), total);
    cr_assert(atomic_load(&ptree.at_start[POLL_PROBES - 1]) < total,
              "every probe started inside the tree");
    return worst;
}

Test(join, outside_task_starts_while_a_worker_is_deep_in_a_join_tree, .timeout = 60)
{
    long worst = worst_start_gap(test_pool(1));
#ifdef TWILL_TEST_CENTRAL
    long bound = 512; /* the cold path's count: every 64 joins, with room */
#else
    long bound = 64; /* the trip: the next join (a leaf or two), with room */
#endif
    cr_assert(worst < bound, "an outside task waited %ld leaves (bound %ld)", worst, bound);
}

Test(join, outside_task_starts_within_64_joins_where_joins_ignore_trips, .timeout = 60)
{
    char path[128];
    snprintf(path, sizeof path, "%s/twill-test-forkjoin-%ld.json",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp", (long)getpid());
    twill_config cfg = test_config(1);
    cfg.trace_path = path; /* a traced worker's joins all take the cold path */
    cfg.trace_events = 1024;
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    long worst = worst_start_gap(p);
    unlink(path);
    /* Every 64 joins on the cold path (a leaf per join), with room. */
    cr_assert(worst < 512, "an outside task waited %ld leaves", worst);
}

Test(group, zeroed_or_null_group_is_einval_and_takes_nothing, .timeout = 30)
{
    hook_log h = {0};
    twill_pool *p = hooked_pool(2, &h);
    twill_group g;
    memset(&g, 0, sizeof g);
    _Atomic long n = 0;
    cr_assert_eq(twill_group_spawn(&g, count_task, &n), EINVAL);
    cr_assert_eq(twill_group_wait(&g), EINVAL);
    cr_assert_eq(twill_group_wait_for(&g, 0), EINVAL);
    cr_assert_eq(twill_group_wait_for(&g, 1000000), EINVAL);
    twill_group_cancel(&g); /* no-op */
    cr_assert(!twill_group_cancelled(&g));
    cr_assert_eq(twill_group_spawn(NULL, count_task, &n), EINVAL);
    cr_assert_eq(twill_group_wait(NULL), EINVAL);
    cr_assert_eq(twill_group_wait_for(NULL, 0), EINVAL);
    twill_group_cancel(NULL);
    cr_assert(!twill_group_cancelled(NULL));
    cr_assert_eq(twill_group_init(NULL, p), EINVAL);

    cr_assert_eq(twill_group_init(&g, p), 0);
    cr_assert_eq(twill_group_spawn(&g, NULL, NULL), EINVAL);
    cr_assert_eq(twill_group_wait_for(&g, 0), 0, "the refused spawn left nothing pending");
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&n), 0);
    cr_assert_eq(atomic_load(&h.calls), 0);
    twill_pool_destroy(p);
}

Test(group, init_with_null_pool_outside_a_worker_is_einval, .timeout = 30)
{
    twill_group g;
    memset(&g, 0, sizeof g);
    cr_assert_eq(twill_group_init(&g, NULL), EINVAL);
    cr_assert_eq(twill_group_spawn(&g, noop, NULL), EINVAL, "the group stays invalid");
}

/* twill_current_group: the group of the task running on this thread. */
static int current_is_null(void *arg)
{
    (void)arg;
    CHECK(twill_current_group() == NULL);
    return 0;
}

static int current_is_arg(void *arg)
{
    CHECK(twill_current_group() == arg);
    return 0;
}

/* A task of group `outer` (arg) that waits on an inner group: the inner
   tasks see theirs, a join half run here sees ours, and after the wait,
   in which this worker ran inner tasks on this stack, ours comes back. */
static int current_through_inner_wait(void *arg)
{
    twill_group *outer = arg;
    CHECK(twill_current_group() == outer);
    twill_group inner;
    CHECK(twill_group_init(&inner, NULL) == 0);
    for (int i = 0; i < 8; i++)
        CHECK(twill_group_spawn(&inner, current_is_arg, &inner) == 0);
    CHECK(twill_group_wait(&inner) == 0);
    CHECK(twill_current_group() == outer);
    CHECK(twill_join(current_is_arg, outer, noop, NULL) == 0);
    CHECK(twill_run(twill_current_pool(), current_is_arg, outer) == 0); /* inline */
    CHECK(twill_current_group() == outer);
    return 0;
}

/* A twill_run task (no group) that waits on a group whose task waits on
   another: on one worker every task runs on this one stack. */
static int current_nested_driver(void *arg)
{
    (void)arg;
    CHECK(twill_current_group() == NULL);
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(twill_group_spawn(&g, current_through_inner_wait, &g) == 0);
    CHECK(twill_group_wait(&g) == 0);
    CHECK(twill_current_group() == NULL);
    return 0;
}

Test(group, current_group_names_the_group_of_the_running_task, .timeout = 30)
{
    cr_assert_null(twill_current_group(), "outside any worker");
    unsigned counts[] = {1, 2, 4};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        twill_pool *p = test_pool(counts[i]);
        RUN_CHECKS(p, current_is_null, NULL);
        RUN_CHECKS(p, current_nested_driver, NULL);
        cr_assert_eq(twill_broadcast(p, current_is_null, NULL), 0, "a broadcast share");
        twill_group g;
        cr_assert_eq(twill_group_init(&g, p), 0);
        for (int t = 0; t < 16; t++)
            cr_assert_eq(twill_group_spawn(&g, current_through_inner_wait, &g), 0);
        cr_assert_eq(twill_group_wait(&g), 0, "%u workers", counts[i]);
        twill_pool_destroy(p);
    }
}

/* Work that lands on the one worker of a pool while it is inside a group
   task: a submitted task, a twill_run task and a broadcast share from
   outside.  Each must see
   NULL, not the group of the task it interrupted.  (A join half stolen by a
   worker inside a group task cannot be forced: a thief must be waiting for
   b while b's joiner waits for it to be stolen, which twill_join's contract
   forbids.) */
typedef struct interrupts {
    twill_pool *pool;
    _Atomic int submitted_ran, done;
    int submit_rc, run_rc, bcast_rc;
} interrupts;

static int submitted_check(void *arg)
{
    interrupts *in = arg;
    in->submit_rc = current_is_null(NULL);
    atomic_store(&in->submitted_ran, 1);
    return 0;
}

static void *interrupt_from_outside(void *arg)
{
    interrupts *in = arg;
    struct timespec dl = test_deadline(), now;
    if (twill_submit(in->pool, submitted_check, in) != 0)
        in->submit_rc = -1;
    while (in->submit_rc == 0 && !atomic_load(&in->submitted_ran)) {
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec)
            in->submit_rc = -2; /* never ran */
        sched_yield();
    }
    in->run_rc = twill_run(in->pool, current_is_null, NULL);
    in->bcast_rc = twill_broadcast(in->pool, current_is_null, NULL);
    atomic_store(&in->done, 1);
    return NULL;
}

/* A group task that helps (inner group waits, each beyond a poll, so the
   worker also takes outside work) until the outside calls are done. */
static int help_until_interrupted(void *arg)
{
    interrupts *in = arg;
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&in->done)) {
        twill_group inner;
        CHECK(twill_group_init(&inner, NULL) == 0);
        for (int i = 0; i < 2 * 64; i++)
            CHECK(twill_group_spawn(&inner, noop, NULL) == 0);
        CHECK(twill_group_wait(&inner) == 0);
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec);
    }
    return 0;
}

Test(group, current_group_is_null_in_work_that_interrupts_a_group_task, .timeout = 60)
{
    twill_pool *p = test_pool(1);
    interrupts in = {.pool = p};
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);
    cr_assert_eq(twill_group_spawn(&g, help_until_interrupted, &in), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, interrupt_from_outside, &in), 0);
    cr_assert_eq(twill_group_wait(&g), 0);
    pthread_join(t, NULL);
    cr_assert_eq(in.submit_rc, 0, "a submitted task: line %d", in.submit_rc);
    cr_assert_eq(in.run_rc, 0, "a twill_run task: line %d", in.run_rc);
    cr_assert_eq(in.bcast_rc, 0, "a broadcast share: line %d", in.bcast_rc);
    twill_pool_destroy(p);
}

/* =============================================================== loops == */

typedef struct visit {
    size_t begin, end;
    _Atomic int *hits;        /* per index, relative to begin */
    _Atomic long calls, bad;  /* bad: empty or out-of-range chunk */
    _Atomic long off_pool;    /* calls not on a worker of `pool` */
    twill_pool *pool;         /* where the body must run; NULL: on the caller */
    size_t next;              /* serial runs: where the next chunk must begin */
    size_t fail_at;           /* index whose chunk returns 42; SIZE_MAX: none */
    size_t fail_every;        /* also fail chunks holding a multiple of it; 0: none */
} visit;

static void visit_reset(visit *v, size_t begin, size_t end, twill_pool *pool)
{
    free(v->hits);
    memset(v, 0, sizeof *v);
    v->begin = begin;
    v->end = end;
    v->hits = calloc(end - begin + 1, sizeof *v->hits);
    v->pool = pool;
    v->next = begin;
    v->fail_at = SIZE_MAX;
}

static int visit_body(void *ctx, size_t b, size_t e)
{
    visit *v = ctx;
    atomic_fetch_add(&v->calls, 1);
    if (b >= e || b < v->begin || e > v->end)
        atomic_fetch_add(&v->bad, 1);
    bool placed = v->pool != NULL ? twill_current_pool() == v->pool && twill_worker_id() >= 0
                                  : twill_worker_id() == -1;
    if (!placed)
        atomic_fetch_add(&v->off_pool, 1);
    if (v->pool == NULL) { /* serial: chunks in index order, back to back */
        if (b != v->next)
            atomic_fetch_add(&v->bad, 1);
        v->next = e;
    }
    for (size_t i = b; i < e && i < v->end; i++)
        atomic_fetch_add_explicit(&v->hits[i - v->begin], 1, memory_order_relaxed);
    bool fail = v->fail_at >= b && v->fail_at < e;
    if (v->fail_every != 0)
        fail |= (b + v->fail_every - 1) / v->fail_every * v->fail_every < e;
    return fail ? 42 : 0;
}

static void expect_visited_once(visit *v)
{
    cr_assert_eq(atomic_load(&v->bad), 0, "a chunk was empty, out of range or out of order");
    cr_assert_eq(atomic_load(&v->off_pool), 0, "the body ran on the wrong thread");
    for (size_t i = v->begin; i < v->end; i++)
        cr_assert_eq(atomic_load(&v->hits[i - v->begin]), 1, "index %zu visited %d times", i,
                     atomic_load(&v->hits[i - v->begin]));
}

static const size_t LOOP_SIZES[] = {1, 2, 3, 1000, 100003};

Test(parallel_for, null_pool_outside_a_worker_runs_serially_on_the_caller, .timeout = 30)
{
    visit v = {0};
    size_t grains[] = {0, 1, 7, 5000};
    for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
        visit_reset(&v, 3, 1003, NULL);
        cr_assert_eq(twill_parallel_for(NULL, 3, 1003, grains[gi], visit_body, &v), 0);
        expect_visited_once(&v);
        cr_assert_eq(v.next, 1003, "the chunks cover the range in order");
    }
    free(v.hits);
}

typedef struct for_job {
    visit *v;
    size_t grain;
} for_job;

static int for_on_worker(void *arg)
{
    for_job *j = arg;
    CHECK(twill_parallel_for(NULL, j->v->begin, j->v->end, j->grain, visit_body, j->v) == 0);
    return 0;
}

Test(parallel_for, visits_every_index_exactly_once_for_any_size_and_grain, .timeout = 30)
{
    visit v = {0};
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (size_t s = 0; s < sizeof LOOP_SIZES / sizeof LOOP_SIZES[0]; s++) {
            size_t n = LOOP_SIZES[s], begin = 5, end = begin + n;
            size_t grains[] = {0, 1, 7, 1000, n + 5};
            for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
                /* From outside with a pool: the loop enters the pool. */
                visit_reset(&v, begin, end, p);
                cr_assert_eq(twill_parallel_for(p, begin, end, grains[gi], visit_body, &v), 0);
                expect_visited_once(&v);
                /* From a worker with pool NULL: the worker's pool. */
                visit_reset(&v, begin, end, p);
                for_job j = {&v, grains[gi]};
                RUN_CHECKS(p, for_on_worker, &j);
                expect_visited_once(&v);
            }
        }
        twill_pool_destroy(p);
    }
    free(v.hits);
}

Test(parallel_for, grain_larger_than_the_range_calls_the_body_once, .timeout = 30)
{
    visit v = {0};
    twill_pool *p = test_pool(4);
    visit_reset(&v, 10, 110, p);
    cr_assert_eq(twill_parallel_for(p, 10, 110, 1000, visit_body, &v), 0);
    expect_visited_once(&v);
    cr_assert_eq(atomic_load(&v.calls), 1);
    twill_pool_destroy(p);
    free(v.hits);
}

Test(parallel_for, ranges_ending_at_size_max_do_not_overflow, .timeout = 30)
{
    visit v = {0};
    twill_pool *p = test_pool(4);
    size_t grains[] = {0, 1, 3, SIZE_MAX};
    for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
        visit_reset(&v, SIZE_MAX - 5000, SIZE_MAX, p);
        cr_assert_eq(twill_parallel_for(p, SIZE_MAX - 5000, SIZE_MAX, grains[gi], visit_body, &v),
                     0);
        expect_visited_once(&v);
    }
    twill_pool_destroy(p);
    free(v.hits);
}

Test(parallel_for, empty_range_returns_0_without_calling_the_body, .timeout = 30)
{
    visit v = {0};
    twill_pool *p = test_pool(2);
    visit_reset(&v, 7, 7, p);
    cr_assert_eq(twill_parallel_for(p, 7, 7, 0, visit_body, &v), 0);
    cr_assert_eq(twill_parallel_for(p, 0, 0, 1, visit_body, &v), 0);
    cr_assert_eq(twill_parallel_for(NULL, 7, 7, 1, visit_body, &v), 0);
    cr_assert_eq(atomic_load(&v.calls), 0);
    twill_pool_destroy(p);
    free(v.hits);
}

Test(parallel_for, a_nonzero_body_code_is_returned_and_stops_the_serial_loop, .timeout = 30)
{
    visit v = {0};
    visit_reset(&v, 0, 100, NULL);
    v.fail_at = 10;
    cr_assert_eq(twill_parallel_for(NULL, 0, 100, 1, visit_body, &v), 42);
    cr_assert_eq(atomic_load(&v.calls), 11, "chunks 0..10 ran, none after the failure");
    for (size_t i = 11; i < 100; i++)
        cr_assert_eq(atomic_load(&v.hits[i]), 0);
    free(v.hits);
}

Test(parallel_for, a_nonzero_body_code_is_returned_and_stops_the_parallel_loop, .timeout = 30)
{
    enum { N = 1000000 };
    visit v = {0};
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (int round = 0; round < 3; round++) {
            /* Failures every 1000 indices: whichever part of the range a
               worker runs, it fails within 1000 chunks, so even a worker
               preempted for long cannot let the others finish the loop. */
            visit_reset(&v, 0, N, p);
            v.fail_every = 1000;
            cr_assert_eq(twill_parallel_for(p, 0, N, 1, visit_body, &v), 42);
            cr_assert_lt(atomic_load(&v.calls), N / 2, "the loop did not stop early");
        }
        twill_pool_destroy(p);
    }
    free(v.hits);
}

Test(parallel_for, rejects_a_reversed_range_or_null_body_with_einval, .timeout = 30)
{
    visit v = {0};
    twill_pool *p = test_pool(2);
    visit_reset(&v, 0, 10, p);
    cr_assert_eq(twill_parallel_for(p, 10, 9, 1, visit_body, &v), EINVAL);
    cr_assert_eq(twill_parallel_for(NULL, 10, 9, 1, visit_body, &v), EINVAL);
    cr_assert_eq(twill_parallel_for(p, 0, 10, 1, NULL, &v), EINVAL);
    cr_assert_eq(twill_parallel_for(NULL, 0, 10, 1, NULL, &v), EINVAL);
    cr_assert_eq(twill_parallel_for(p, 5, 5, 1, NULL, &v), EINVAL, "NULL body even if empty");
    cr_assert_eq(atomic_load(&v.calls), 0);
    twill_pool_destroy(p);
    free(v.hits);
}

/* ------------------------------------------------------------- reduce -- */

static uint64_t mix(size_t i)
{
    return (uint64_t)i * 0x9e3779b97f4a7c15ull ^ ((uint64_t)i >> 3);
}

static int sum_body(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx;
    uint64_t *s = acc;
    for (size_t i = b; i < e; i++)
        *s += mix(i);
    return 0;
}

static void sum_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(uint64_t *)acc += *(const uint64_t *)other;
}

Test(parallel_reduce, sum_matches_the_serial_sum, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (size_t s = 0; s < sizeof LOOP_SIZES / sizeof LOOP_SIZES[0]; s++) {
            size_t n = LOOP_SIZES[s];
            uint64_t want = 0, zero = 0;
            for (size_t i = 17; i < 17 + n; i++)
                want += mix(i);
            size_t grains[] = {0, 1, 13, n + 1};
            for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
                uint64_t got = 12345;
                cr_assert_eq(twill_parallel_reduce(p, 17, 17 + n, grains[gi], &got, sizeof got,
                                                   &zero, sum_body, sum_combine, NULL), 0);
                cr_assert_eq(got, want, "n %zu grain %zu", n, grains[gi]);
                got = 12345;
                cr_assert_eq(twill_parallel_reduce(NULL, 17, 17 + n, grains[gi], &got, sizeof got,
                                                   &zero, sum_body, sum_combine, NULL), 0);
                cr_assert_eq(got, want, "serial, n %zu grain %zu", n, grains[gi]);
            }
        }
        twill_pool_destroy(p);
    }
}

/* A non-commutative accumulator: the span of indices folded so far.  Any
   fold or combine out of index order clears ok. */
typedef struct span {
    long first, last, count;
    int ok;
} span;

static const span EMPTY_SPAN = {0, 0, 0, 1};

/* Field by field: memcmp would also compare the padding. */
static bool span_eq(const span *a, const span *b)
{
    return a->first == b->first && a->last == b->last && a->count == b->count && a->ok == b->ok;
}

static void span_add(span *s, long i)
{
    if (s->count == 0)
        s->first = i;
    else if (s->last + 1 != i)
        s->ok = 0;
    s->last = i;
    s->count++;
}

static void span_join(span *a, const span *o)
{
    if (o->count == 0)
        return;
    if (a->count == 0) {
        *a = *o;
        return;
    }
    if (a->last + 1 != o->first || !o->ok)
        a->ok = 0;
    a->last = o->last;
    a->count += o->count;
}

typedef struct span_ctx {
    size_t fail_at;  /* index whose chunk returns 42; SIZE_MAX: none */
    _Atomic long body_calls, combine_calls;
} span_ctx;

static int span_body(void *ctx, size_t b, size_t e, void *acc)
{
    span_ctx *c = ctx;
    atomic_fetch_add(&c->body_calls, 1);
    for (size_t i = b; i < e; i++)
        span_add(acc, (long)i);
    return (c->fail_at >= b && c->fail_at < e) ? 42 : 0;
}

static void span_combine(void *ctx, void *acc, const void *other)
{
    atomic_fetch_add(&((span_ctx *)ctx)->combine_calls, 1);
    span_join(acc, other);
}

Test(parallel_reduce, partial_results_are_combined_in_index_order, .timeout = 30)
{
    enum { N = 100000 };
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        size_t grains[] = {0, 1, 3, 100};
        long combines = 0;
        for (int round = 0; round < 3; round++) {
            for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
                span_ctx c = {.fail_at = SIZE_MAX};
                span got = {-1, -1, -1, 0};
                cr_assert_eq(twill_parallel_reduce(p, 1, 1 + N, grains[gi], &got, sizeof got,
                                                   &EMPTY_SPAN, span_body, span_combine, &c), 0);
                cr_assert(got.ok, "combined out of order (grain %zu)", grains[gi]);
                cr_assert_eq(got.first, 1);
                cr_assert_eq(got.last, N);
                cr_assert_eq(got.count, N);
                combines += atomic_load(&c.combine_calls);
            }
        }
        cr_assert_gt(combines, 0, "the runs never split, so order was not tested");
        twill_pool_destroy(p);
    }
}

Test(parallel_reduce, empty_range_writes_the_identity_without_calling_body_or_combine,
     .timeout = 30)
{
    twill_pool *p = test_pool(2);
    span_ctx c = {.fail_at = SIZE_MAX};
    span got = {7, 7, 7, 0};
    cr_assert_eq(twill_parallel_reduce(p, 9, 9, 0, &got, sizeof got, &EMPTY_SPAN, span_body,
                                       span_combine, &c), 0);
    cr_assert(span_eq(&got, &EMPTY_SPAN));
    got = (span){7, 7, 7, 0};
    cr_assert_eq(twill_parallel_reduce(NULL, 0, 0, 1, &got, sizeof got, &EMPTY_SPAN, span_body,
                                       span_combine, &c), 0);
    cr_assert(span_eq(&got, &EMPTY_SPAN));
    cr_assert_eq(atomic_load(&c.body_calls), 0);
    cr_assert_eq(atomic_load(&c.combine_calls), 0);
    twill_pool_destroy(p);
}

Test(parallel_reduce, on_error_the_code_is_returned_and_result_is_untouched, .timeout = 30)
{
    static const span SENTINEL = {-5, -5, -5, 5};
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        size_t fails[] = {0, 500, 99999};
        for (size_t fi = 0; fi < sizeof fails / sizeof fails[0]; fi++) {
            span_ctx c = {.fail_at = fails[fi]};
            span got = SENTINEL;
            cr_assert_eq(twill_parallel_reduce(p, 0, 100000, 1, &got, sizeof got, &EMPTY_SPAN,
                                               span_body, span_combine, &c), 42);
            cr_assert(span_eq(&got, &SENTINEL), "result was written");
            got = SENTINEL;
            cr_assert_eq(twill_parallel_reduce(NULL, 0, 100000, 1, &got, sizeof got,
                                               &EMPTY_SPAN, span_body, span_combine, &c), 42);
            cr_assert(span_eq(&got, &SENTINEL), "serial: result was written");
        }
        twill_pool_destroy(p);
    }
}

Test(parallel_reduce, rejects_bad_arguments_with_einval_and_leaves_result_untouched,
     .timeout = 30)
{
    static const span SENTINEL = {-5, -5, -5, 5};
    twill_pool *p = test_pool(2);
    span_ctx c = {.fail_at = SIZE_MAX};
    span got = SENTINEL;
    size_t sz = sizeof got;
    cr_assert_eq(twill_parallel_reduce(p, 0, 10, 1, NULL, sz, &EMPTY_SPAN, span_body,
                                       span_combine, &c), EINVAL);
    cr_assert_eq(twill_parallel_reduce(p, 0, 10, 1, &got, sz, NULL, span_body, span_combine,
                                       &c), EINVAL);
    cr_assert_eq(twill_parallel_reduce(p, 0, 10, 1, &got, sz, &EMPTY_SPAN, NULL, span_combine,
                                       &c), EINVAL);
    cr_assert_eq(twill_parallel_reduce(p, 0, 10, 1, &got, sz, &EMPTY_SPAN, span_body, NULL,
                                       &c), EINVAL);
    cr_assert_eq(twill_parallel_reduce(p, 0, 10, 1, &got, 0, &EMPTY_SPAN, span_body,
                                       span_combine, &c), EINVAL);
    cr_assert_eq(twill_parallel_reduce(p, 10, 9, 1, &got, sz, &EMPTY_SPAN, span_body,
                                       span_combine, &c), EINVAL);
    cr_assert_eq(twill_parallel_reduce(NULL, 10, 9, 1, &got, sz, &EMPTY_SPAN, span_body,
                                       span_combine, &c), EINVAL);
    cr_assert_eq(twill_parallel_reduce(p, 3, 3, 1, &got, 0, &EMPTY_SPAN, span_body,
                                       span_combine, &c), EINVAL, "checked even if empty");
    cr_assert(span_eq(&got, &SENTINEL));
    cr_assert_eq(atomic_load(&c.body_calls), 0);
    twill_pool_destroy(p);
}

/* An accumulator well over 256 bytes: 64 bins and an order check. */
typedef struct histo {
    uint64_t bins[64];
    span s;
} histo;

static int histo_body(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx;
    histo *h = acc;
    for (size_t i = b; i < e; i++) {
        h->bins[mix(i) % 64] += i;
        span_add(&h->s, (long)i);
    }
    return 0;
}

static void histo_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    histo *a = acc;
    const histo *o = other;
    for (int k = 0; k < 64; k++)
        a->bins[k] += o->bins[k];
    span_join(&a->s, &o->s);
}

Test(parallel_reduce, accumulators_larger_than_256_bytes_work, .timeout = 30)
{
    enum { N = 50000 };
    _Static_assert(sizeof(histo) > 256, "the accumulator must be large");
    histo identity, want;
    memset(&identity, 0, sizeof identity);
    identity.s = EMPTY_SPAN;
    want = identity;
    histo_body(NULL, 0, N, &want);
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        size_t grains[] = {0, 1, 64};
        for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
            histo got;
            memset(&got, 0xab, sizeof got);
            cr_assert_eq(twill_parallel_reduce(p, 0, N, grains[gi], &got, sizeof got, &identity,
                                               histo_body, histo_combine, NULL), 0);
            cr_assert(got.s.ok && got.s.count == N);
            cr_assert_eq(memcmp(got.bins, want.bins, sizeof want.bins), 0);
        }
        twill_pool_destroy(p);
    }
}

/* ============================================================= nesting == */

typedef struct nest_ctx {
    long *fibs;           /* 4 per index */
    uint64_t *sums;       /* 4 per index */
    _Atomic long loop_hits;
} nest_ctx;

typedef struct nest_task {
    nest_ctx *c;
    size_t slot;
} nest_task;

static int reduce_in_join(void *arg)
{
    uint64_t *out = arg, zero = 0;
    return twill_parallel_reduce(NULL, 0, 2000, 0, out, sizeof *out, &zero, sum_body,
                                 sum_combine, NULL);
}

/* A group task: fib by joins beside a reduce, both in one join. */
static int group_task_with_join(void *arg)
{
    nest_task *t = arg;
    fib_arg f = {12, 0};
    int rc = twill_join(fib_task, &f, reduce_in_join, &t->c->sums[t->slot]);
    t->c->fibs[t->slot] = f.result;
    return rc;
}

/* A loop body: a group of 4 tasks per index, waited on inside the body. */
static int body_with_group(void *ctx, size_t b, size_t e)
{
    nest_ctx *c = ctx;
    for (size_t i = b; i < e; i++) {
        atomic_fetch_add(&c->loop_hits, 1);
        twill_group g;
        nest_task tasks[4];
        int rc = twill_group_init(&g, NULL);
        for (int k = 0; k < 4 && rc == 0; k++) {
            tasks[k] = (nest_task){c, i * 4 + (size_t)k};
            rc = twill_group_spawn(&g, group_task_with_join, &tasks[k]);
        }
        int wrc = twill_group_wait(&g);
        if (rc != 0 || wrc != 0)
            return rc != 0 ? rc : wrc;
    }
    return 0;
}

Test(nesting, join_inside_group_task_inside_parallel_for, .timeout = 30)
{
    enum { N = 48 };
    uint64_t want_sum = 0;
    for (size_t i = 0; i < 2000; i++)
        want_sum += mix(i);
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        nest_ctx c = {calloc(N * 4, sizeof(long)), calloc(N * 4, sizeof(uint64_t)), 0};
        cr_assert_eq(twill_parallel_for(p, 0, N, 1, body_with_group, &c), 0);
        cr_assert_eq(atomic_load(&c.loop_hits), N);
        for (size_t k = 0; k < N * 4; k++) {
            cr_assert_eq(c.fibs[k], fib_serial(12), "slot %zu", k);
            cr_assert_eq(c.sums[k], want_sum, "slot %zu", k);
        }
        free(c.fibs);
        free(c.sums);
        twill_pool_destroy(p);
    }
}

/* N-queens: a board prefix and the number of completions found under it. */
typedef struct queens {
    int n, row;
    int cols[16];
    long solutions;
} queens;

static bool queen_fits(const queens *q, int col)
{
    for (int r = 0; r < q->row; r++) {
        int d = q->cols[r] - col;
        if (d == 0 || d == q->row - r || -d == q->row - r)
            return false;
    }
    return true;
}

/* One child group per row: a task per column that fits. */
static int queens_group(void *arg)
{
    queens *q = arg;
    q->solutions = 0;
    if (q->row == q->n) {
        q->solutions = 1;
        return 0;
    }
    queens child[16];
    twill_group g;
    int rc = twill_group_init(&g, NULL);
    for (int c = 0; c < q->n && rc == 0; c++) {
        child[c] = *q;
        child[c].solutions = 0;
        if (!queen_fits(q, c))
            continue;
        child[c].cols[q->row] = c;
        child[c].row = q->row + 1;
        rc = twill_group_spawn(&g, queens_group, &child[c]);
    }
    int wrc = twill_group_wait(&g);
    for (int c = 0; c < q->n; c++)
        q->solutions += child[c].solutions;
    return rc != 0 ? rc : wrc;
}

/* Columns [lo, hi) of row q->row, split by joins down to one column. */
typedef struct queens_span {
    const queens *q;
    int lo, hi;
    long solutions;
} queens_span;

static int queens_join(void *arg);

static int queens_columns(void *arg)
{
    queens_span *s = arg;
    if (s->hi - s->lo > 1) {
        int mid = (s->lo + s->hi) / 2;
        queens_span l = {s->q, s->lo, mid, 0}, r = {s->q, mid, s->hi, 0};
        int rc = twill_join(queens_columns, &l, queens_columns, &r);
        s->solutions = l.solutions + r.solutions;
        return rc;
    }
    s->solutions = 0;
    if (!queen_fits(s->q, s->lo))
        return 0;
    queens child = *s->q;
    child.cols[child.row] = s->lo;
    child.row++;
    int rc = queens_join(&child);
    s->solutions = child.solutions;
    return rc;
}

static int queens_join(void *arg)
{
    queens *q = arg;
    if (q->row == q->n) {
        q->solutions = 1;
        return 0;
    }
    queens_span all = {q, 0, q->n, 0};
    int rc = queens_columns(&all);
    q->solutions = all.solutions;
    return rc;
}

Test(nesting, nqueens_8_has_92_solutions_with_groups_and_with_joins, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        queens q = {.n = 8};
        cr_assert_eq(twill_run(p, queens_group, &q), 0);
        cr_assert_eq(q.solutions, 92, "groups");
        queens r = {.n = 8};
        cr_assert_eq(twill_run(p, queens_join, &r), 0);
        cr_assert_eq(r.solutions, 92, "joins");
        twill_pool_destroy(p);
    }
}

Test(nesting, helping_waits_keep_the_stack_bounded_on_a_large_group_tree, .timeout = 60)
{
    /* nqueens(11) with a group per placement: 166,926 tasks that each wait.
       A waiter that helps with arbitrary tasks nests their waits on its
       stack; on the central queue this overflowed the 8 MiB worker stack
       (segfault) before helping was bounded. */
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        queens q = {.n = 11};
        cr_assert_eq(twill_run(p, queens_group, &q), 0);
        cr_assert_eq(q.solutions, 2680);
        twill_pool_destroy(p);
    }
}

typedef struct deep_outside {
    twill_group deepest;       /* waited on at the bottom of the chain */
    _Atomic int ready;         /* the bottom task has initialised `deepest` */
    _Atomic int fed;           /* the outside thread has spawned into it */
    int depth;
} deep_outside;

typedef struct deep_level {
    deep_outside *d;
    int level;
} deep_level;

static int deep_level_task(void *arg)
{
    deep_level *l = arg;
    if (l->level == l->d->depth) {
        if (twill_group_init(&l->d->deepest, NULL) != 0)
            return 1;
        atomic_store(&l->d->ready, 1);
        while (!atomic_load(&l->d->fed)) /* the feeder is an outside thread */
            sched_yield();
        return twill_group_wait(&l->d->deepest);
    }
    twill_group g;
    deep_level next = {l->d, l->level + 1};
    if (twill_group_init(&g, NULL) != 0 || twill_group_spawn(&g, deep_level_task, &next) != 0)
        return 2;
    return twill_group_wait(&g);
}

typedef struct deep_feeder {
    twill_pool *p;
    deep_outside *d;
    item *items;
    int n;
} deep_feeder;

static void *feed_deepest_from_outside(void *arg)
{
    deep_feeder *f = arg;
    while (!atomic_load(&f->d->ready))
        sched_yield();
    void *rc = NULL;
    for (int i = 0; i < f->n; i++)
        if (twill_group_spawn(&f->d->deepest, item_task, &f->items[i]) != 0)
            rc = (void *)1;
    atomic_store(&f->d->fed, 1);
    return rc;
}

Test(nesting, a_deeply_nested_wait_runs_tasks_spawned_into_its_group_from_outside,
     .timeout = 30)
{
    /* One worker, 40 nested group waits (beyond the depth where helping is
       restricted); the bottom group is fed by an outside thread, so its
       tasks arrive through the injector and only the waiter can run them.
       Restricted helping used to take only the worker's own tasks: hang. */
    twill_pool *p = test_pool(1);
    deep_outside d = {.depth = 40};
    enum { N = 50 };
    item items[N];
    memset(items, 0, sizeof items);
    deep_feeder f = {p, &d, items, N};
    pthread_t t;
    pthread_create(&t, NULL, feed_deepest_from_outside, &f);
    deep_level top = {&d, 0};
    cr_assert_eq(twill_run(p, deep_level_task, &top), 0);
    void *frc;
    pthread_join(t, &frc);
    cr_assert_null(frc);
    twill_pool_destroy(p);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&items[i].ran), 1, "task %d", i);
}

typedef struct meet {
    _Atomic int b_started;
    int a_worker, b_worker;
} meet;

static int meet_b(void *arg)
{
    meet *m = arg;
    m->b_worker = twill_worker_id();
    atomic_store(&m->b_started, 1);
    return 0;
}

static int meet_a(void *arg)
{
    /* Wait (bounded) until b runs elsewhere: only a thief can start b
       while a runs.  Returns 1 if b never started. */
    meet *m = arg;
    m->a_worker = twill_worker_id();
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&m->b_started)) {
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec)
            return 1;
        sched_yield();
    }
    return 0;
}

static int warm_join_then_meet(void *arg)
{
    int rc = twill_join(noop, NULL, noop, NULL);
    return rc != 0 ? rc : twill_join(meet_a, arg, meet_b, arg);
}

Test(join, b_is_stolen_while_a_runs_on_an_idle_pool, .timeout = 60)
{
    /* "Inside a worker: b may run in parallel": with idle workers around,
       a thief must get b while a is still running (here a waits for it).
       A join half kept out of thieves' reach made this join serial: hang. */
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (int round = 0; round < 20; round++) {
            meet m = {0};
            cr_assert_eq(twill_run(p, warm_join_then_meet, &m), 0, "round %d: b never ran "
                         "while a was running", round);
            cr_assert_neq(m.a_worker, m.b_worker);
        }
        twill_pool_destroy(p);
    }
}

typedef struct chunk_log {
    _Atomic size_t min_chunk, calls, covered;
} chunk_log;

static int log_chunk(void *ctx, size_t b, size_t e)
{
    chunk_log *l = ctx;
    size_t n = e - b, cur = atomic_load(&l->min_chunk);
    while (n < cur && !atomic_compare_exchange_weak(&l->min_chunk, &cur, n))
        ;
    atomic_fetch_add(&l->calls, 1);
    atomic_fetch_add(&l->covered, n);
    return 0;
}

Test(loops, no_chunk_is_smaller_than_the_grain_unless_the_range_is, .timeout = 30)
{
    static const size_t sizes[] = {1, 99, 100, 150, 199, 1000, 100000};
    static const size_t grains[] = {1, 7, 100, 1000};
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            for (size_t j = 0; j < sizeof grains / sizeof *grains; j++) {
                chunk_log l = {SIZE_MAX, 0, 0};
                size_t n = sizes[i], g = grains[j];
                cr_assert_eq(twill_parallel_for(p, 10, 10 + n, g, log_chunk, &l), 0);
                cr_assert_eq(atomic_load(&l.covered), n);
                size_t want = n < g ? n : g;
                cr_assert_geq(atomic_load(&l.min_chunk), want,
                              "n=%zu grain=%zu: a chunk of %zu", n, g,
                              atomic_load(&l.min_chunk));
            }
        twill_pool_destroy(p);
    }
}

Test(group, spawn_after_a_cancelling_shutdown_returns_eshutdown_even_if_cancelled,
     .timeout = 30)
{
    /* DESIGN: after TWILL_CANCEL "every new submit or spawn from anywhere
       returns ESHUTDOWN"; a cancelled group does not turn that into a
       discard (which would return 0). */
    hook_log h = {0};
    twill_pool *p = hooked_pool(2, &h);
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);
    twill_group_cancel(&g);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_CANCEL, NULL), 0);
    item it = {0};
    cr_assert_eq(twill_group_spawn(&g, item_task, &it), ESHUTDOWN);
    cr_assert_eq(atomic_load(&h.calls), 0, "a refused spawn is not discarded");
    cr_assert_eq(twill_group_wait(&g), 0, "nothing was taken, nothing skipped");
    twill_pool_destroy(p);
}

typedef struct sort_job {
    int *a, *tmp;
    size_t n;
} sort_job;

static int cmp_int(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

static int merge_sort(void *arg)
{
    sort_job *j = arg;
    if (j->n <= 64) {
        for (size_t i = 1; i < j->n; i++) { /* insertion sort */
            int v = j->a[i];
            size_t k = i;
            for (; k > 0 && j->a[k - 1] > v; k--)
                j->a[k] = j->a[k - 1];
            j->a[k] = v;
        }
        return 0;
    }
    size_t h = j->n / 2;
    sort_job l = {j->a, j->tmp, h}, r = {j->a + h, j->tmp + h, j->n - h};
    int rc = twill_join(merge_sort, &l, merge_sort, &r);
    if (rc != 0)
        return rc;
    size_t x = 0, y = h, o = 0;
    while (x < h && y < j->n)
        j->tmp[o++] = j->a[y] < j->a[x] ? j->a[y++] : j->a[x++];
    while (x < h)
        j->tmp[o++] = j->a[x++];
    while (y < j->n)
        j->tmp[o++] = j->a[y++];
    memcpy(j->a, j->tmp, j->n * sizeof *j->a);
    return 0;
}

Test(nesting, parallel_mergesort_agrees_with_qsort, .timeout = 30)
{
    enum { N = 200003 };
    int *a = malloc(N * sizeof *a), *want = malloc(N * sizeof *a), *tmp = malloc(N * sizeof *a);
    uint64_t x = 88172645463325252ull;
    FOR_EACH_WORKER_COUNT(w) {
        twill_pool *p = test_pool(w);
        for (size_t i = 0; i < N; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            a[i] = (int)(x % 100000) - 50000; /* with duplicates */
        }
        memcpy(want, a, N * sizeof *a);
        qsort(want, N, sizeof *want, cmp_int);
        sort_job j = {a, tmp, N};
        cr_assert_eq(twill_run(p, merge_sort, &j), 0);
        cr_assert_eq(memcmp(a, want, N * sizeof *a), 0, "not sorted like qsort");
        twill_pool_destroy(p);
    }
    free(a);
    free(want);
    free(tmp);
}

typedef struct cross_run {
    twill_pool *outer, *inner;
    twill_pool *seen_pool;
    int seen_worker, outer_worker, rc;
    pthread_t outer_thread, inner_thread;
} cross_run;

static int inner_task(void *arg)
{
    cross_run *c = arg;
    c->seen_pool = twill_current_pool();
    c->seen_worker = twill_worker_id();
    c->inner_thread = pthread_self();
    return 42;
}

static int outer_task(void *arg)
{
    cross_run *c = arg;
    c->outer_worker = twill_worker_id();
    c->outer_thread = pthread_self();
    c->rc = twill_run(c->inner, inner_task, c);
    CHECK(twill_current_pool() == c->outer);
    CHECK(twill_worker_id() == c->outer_worker);
    return 0;
}

Test(nesting, run_on_another_pool_from_a_worker_blocks_and_returns_the_code, .timeout = 30)
{
    twill_pool *a = test_pool(2), *b = test_pool(2);
    for (int round = 0; round < 20; round++) {
        cross_run c = {.outer = a, .inner = b};
        RUN_CHECKS(a, outer_task, &c);
        cr_assert_eq(c.rc, 42);
        cr_assert_eq(c.seen_pool, b, "the task ran on the other pool");
        cr_assert_geq(c.seen_worker, 0);
        cr_assert(!pthread_equal(c.inner_thread, c.outer_thread));
    }
    twill_pool_destroy(b);
    twill_pool_destroy(a);
}

Test(nesting, run_from_a_worker_of_the_same_pool_runs_inline, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    cross_run c = {.outer = p, .inner = p};
    RUN_CHECKS(p, outer_task, &c);
    cr_assert_eq(c.rc, 42);
    cr_assert_eq(c.seen_pool, p);
    cr_assert_eq(c.seen_worker, c.outer_worker, "worker id unchanged");
    cr_assert(pthread_equal(c.inner_thread, c.outer_thread), "same thread: inline");
    twill_pool_destroy(p);
}

typedef struct foreign_loop {
    twill_pool *other;
    visit *v;
} foreign_loop;

static int loop_on_other_pool(void *arg)
{
    foreign_loop *f = arg;
    CHECK(twill_parallel_for(f->other, f->v->begin, f->v->end, 1, visit_body, f->v) == 0);
    return 0;
}

Test(nesting, parallel_for_on_another_pool_from_a_worker_runs_there, .timeout = 30)
{
    twill_pool *a = test_pool(2), *b = test_pool(2);
    visit v = {0};
    visit_reset(&v, 0, 5000, b);
    foreign_loop f = {b, &v};
    RUN_CHECKS(a, loop_on_other_pool, &f);
    expect_visited_once(&v);
    free(v.hits);
    twill_pool_destroy(b);
    twill_pool_destroy(a);
}

/* ===================================================== shutdown interplay == */

/* A shutdown on its own thread (it blocks until the workers exit). */
typedef struct canceller {
    twill_pool *p;
    size_t discarded;
    int rc;
} canceller;

static void *cancel_thread(void *arg)
{
    canceller *c = arg;
    c->rc = twill_pool_shutdown(c->p, TWILL_CANCEL, &c->discarded);
    return NULL;
}

static void *drain_thread(void *arg)
{
    canceller *c = arg;
    c->rc = twill_pool_shutdown(c->p, TWILL_DRAIN, &c->discarded);
    return NULL;
}

static int probe_task(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
    return 0;
}

/* Submit probes from this thread until the pool refuses with ESHUTDOWN:
   from then on the shutdown has started.  Returns the probes taken. */
static long wait_for_shutdown_start(twill_pool *p, _Atomic long *probe_ran)
{
    long taken = 0;
    struct timespec dl = test_deadline(), now;
    for (;;) {
        int rc = twill_submit_for(p, probe_task, probe_ran, 0);
        if (rc == ESHUTDOWN)
            return taken;
        cr_assert(rc == 0 || rc == EAGAIN, "unexpected %s", twill_strerror(rc));
        taken += rc == 0;
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "shutdown never started");
        sched_yield();
    }
}

typedef struct spawner {
    twill_group *g;
    item *items;
    long n;
    gate *gt;
} spawner;

/* On a worker: queue n group tasks on this worker, then block. */
static int spawn_then_block(void *arg)
{
    spawner *s = arg;
    for (long i = 0; i < s->n; i++)
        if (twill_group_spawn(s->g, item_task, &s->items[i]) != 0)
            return 1;
    gate_pass(s->gt);
    return 0;
}

/* Every worker blocked, n group tasks queued (from outside or from a
   worker), then a cancelling shutdown.  The group wait reports the first
   error if a running task failed, else ECANCELED; every task is run or
   discarded exactly once and *discarded equals the hook count. */
static void cancel_with_queued_group_tasks(unsigned w, bool from_worker, bool a_task_fails)
{
    enum { N = 300 };
    hook_log h = {.probe = probe_task};
    twill_pool *p = hooked_pool(w, &h);
    gate gt = GATE_INIT;
    item *items = calloc(N, sizeof *items);
    _Atomic long probe_ran = 0;
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);

    unsigned blockers = from_worker ? w - 1 : w;
    for (unsigned i = 0; i < blockers; i++)
        cr_assert_eq(twill_group_spawn(&g, i == 0 && a_task_fails ? fail_after_gate : gate_task,
                                       &gt), 0);
    gate_wait_inside(&gt, (int)blockers);
    spawner s = {&g, items, N, &gt};
    if (from_worker) {
        cr_assert_eq(twill_submit(p, spawn_then_block, &s), 0);
        gate_wait_inside(&gt, (int)w);
    } else {
        for (long i = 0; i < N; i++)
            cr_assert_eq(twill_group_spawn(&g, item_task, &items[i]), 0);
    }

    canceller c = {.p = p};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, cancel_thread, &c), 0);
    long probes = wait_for_shutdown_start(p, &probe_ran);
    item late = {0};
    cr_assert_eq(twill_group_spawn(&g, item_task, &late), ESHUTDOWN);
    gate_open(&gt);
    int rc = twill_group_wait(&g);
    cr_assert_eq(rc, a_task_fails ? 42 : ECANCELED, "got %s", twill_strerror(rc));
    pthread_join(t, NULL);
    cr_assert_eq(c.rc, 0);

    cr_assert_eq(expect_each_once(items, N), 0, "queued tasks are discarded, not run");
    cr_assert_eq(atomic_load(&late.ran) + atomic_load(&late.discarded), 0,
                 "a refused spawn takes nothing");
    cr_assert_eq(atomic_load(&probe_ran) + atomic_load(&h.probes), probes);
    cr_assert_eq(atomic_load(&h.others), 0, "running tasks are not discarded");
    cr_assert_eq((long)c.discarded, atomic_load(&h.calls), "*discarded = hook calls");
    cr_assert_eq((long)c.discarded, N + atomic_load(&h.probes));
    cr_assert_eq(stats_discarded(p), (uint64_t)c.discarded);
    twill_pool_destroy(p);
    free(items);
}

Test(shutdown, cancel_discards_group_tasks_queued_from_outside_exactly_once, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w)
        cancel_with_queued_group_tasks(w, false, false);
}

Test(shutdown, cancel_discards_group_tasks_queued_by_a_worker_exactly_once, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w)
        cancel_with_queued_group_tasks(w, true, false);
}

Test(shutdown, cancel_with_a_failed_group_task_reports_its_error, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        cancel_with_queued_group_tasks(w, false, true);
        cancel_with_queued_group_tasks(w, true, true);
    }
}

/* A join whose halves block on a gate while the pool is cancelled. */
typedef struct gated_half {
    gate *gt;
    int code;
    _Atomic int ran;
} gated_half;

static int gated_half_task(void *arg)
{
    gated_half *h = arg;
    gate_pass(h->gt);
    atomic_fetch_add(&h->ran, 1);
    return h->code;
}

typedef struct blocked_join {
    gated_half a, b;
    int rc;
} blocked_join;

static int join_through_cancel(void *arg)
{
    blocked_join *j = arg;
    j->rc = twill_join(gated_half_task, &j->a, gated_half_task, &j->b);
    return 0;
}

Test(shutdown, both_halves_of_a_running_join_still_run_under_cancel, .timeout = 30)
{
    FOR_EACH_WORKER_COUNT(w) {
        hook_log h = {.probe = probe_task};
        twill_pool *p = hooked_pool(w, &h);
        gate gt = GATE_INIT;
        blocked_join j = {{&gt, 0, 0}, {&gt, 9, 0}, -1};
        cr_assert_eq(twill_submit(p, join_through_cancel, &j), 0);
        gate_wait_inside(&gt, 1); /* a is running; b is queued or running */
        canceller c = {.p = p};
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, cancel_thread, &c), 0);
        _Atomic long probe_ran = 0;
        wait_for_shutdown_start(p, &probe_ran);
        gate_open(&gt);
        pthread_join(t, NULL);
        cr_assert_eq(c.rc, 0);
        cr_assert_eq(atomic_load(&j.a.ran), 1);
        cr_assert_eq(atomic_load(&j.b.ran), 1, "b ran although the pool was cancelling");
        cr_assert_eq(j.rc, 9, "a's 0, so b's code");
        cr_assert_eq(atomic_load(&h.others), 0, "no part of the join was discarded");
        twill_pool_destroy(p);
    }
}

/* Blocked at a gate; once through, runs a group and a join of its own. */
typedef struct drain_job {
    gate *gt;
    item *items;
    long n;
    int group_rc, join_rc;
    _Atomic long join_halves;
} drain_job;

static int spawn_after_gate(void *arg)
{
    drain_job *d = arg;
    gate_pass(d->gt);
    twill_group g;
    d->group_rc = twill_group_init(&g, NULL);
    for (long i = 0; i < d->n && d->group_rc == 0; i++)
        d->group_rc = twill_group_spawn(&g, item_task, &d->items[i]);
    int wrc = twill_group_wait(&g);
    if (d->group_rc == 0)
        d->group_rc = wrc;
    d->join_rc = twill_join(count_task, &d->join_halves, count_task, &d->join_halves);
    return 0;
}

Test(shutdown, drain_lets_running_tasks_spawn_groups_and_join_until_done, .timeout = 30)
{
    enum { N = 500 };
    FOR_EACH_WORKER_COUNT(w) {
        hook_log h = {.probe = probe_task};
        twill_pool *p = hooked_pool(w, &h);
        gate gt = GATE_INIT;
        item *items = calloc(N, sizeof *items);
        drain_job d = {.gt = &gt, .items = items, .n = N, .group_rc = -1, .join_rc = -1};
        cr_assert_eq(twill_submit(p, spawn_after_gate, &d), 0);
        gate_wait_inside(&gt, 1);
        canceller c = {.p = p};
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, drain_thread, &c), 0);
        _Atomic long probe_ran = 0;
        long probes = wait_for_shutdown_start(p, &probe_ran);
        gate_open(&gt);
        pthread_join(t, NULL);
        cr_assert_eq(c.rc, 0);
        cr_assert_eq(d.group_rc, 0, "spawns from a running task are accepted while draining");
        cr_assert_eq(expect_each_once(items, N), N, "and all of them run");
        cr_assert_eq(d.join_rc, 0);
        cr_assert_eq(atomic_load(&d.join_halves), 2);
        cr_assert_eq(atomic_load(&probe_ran), probes, "accepted work is run, not discarded");
        cr_assert_eq(c.discarded, 0);
        cr_assert_eq(atomic_load(&h.calls), 0);
        twill_pool_destroy(p);
        free(items);
    }
}

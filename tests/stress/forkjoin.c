/*
 * stress/forkjoin.c — exactly-once under heavy stealing for the fork-join
 * helpers, a plain C program so that it also runs under ThreadSanitizer.
 *
 * Each round, on both schedulers, with pools of 2 and 4 workers:
 *   (a) a binary tree of twill_join (2^14 leaves, entered with twill_run);
 *       every leaf bumps its own counter;
 *   (b) one task group fed at the same time by 2 outside threads and by a
 *       worker (twill_run), some tasks spawning a child into the same group
 *       from inside; every task and child bumps its own counter; the wait
 *       alternates between the main thread and a worker; every fourth
 *       round a thread polls the group with wait_for(0) while it is fed,
 *       so waits that return and reset it race the spawns;
 *   (c) twill_parallel_for with grain 1 over 100,000 indices, alternately
 *       from outside and from a worker with pool NULL; a counter per index;
 *   (d) twill_parallel_reduce with grain 1 over the same range with a
 *       non-commutative accumulator that detects any out-of-order combine.
 * Every visit also stamps a plain (non-atomic) slot with the round number,
 * which the main thread reads after the join, wait or loop returns: under
 * TSan a missing happens-before edge (task publication, join completion,
 * group wait) or a task run twice at once is a reported race, and in any
 * build a stale stamp is a failure.  After round r every counter must read
 * exactly r + 1: a lost task or a task run twice shows up here.  Leaves and tasks spin for a varying few hundred cycles so
 * that thieves find work in flight.  A watchdog turns a hang into FAIL.
 *
 * Usage: stress_forkjoin [rounds]    (default 20: ~3 s, ~25 s under TSan)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "twill.h"

enum {
    TREE_DEPTH = 14,
    LEAVES = 1 << TREE_DEPTH,
    OUTSIDE_SPAWNERS = 2,
    PER_SOURCE = 4000,                     /* tasks per spawning source */
    SOURCES = OUTSIDE_SPAWNERS + 1,        /* + the worker */
    GROUP_TASKS = SOURCES * PER_SOURCE,
    CHILD_EVERY = 4,                       /* every 4th task spawns a child */
    LOOP_N = 100000,
};

/* Work of a varied length so that work is in flight and the load is
   uneven: mostly under 100 iterations, one index in 64 about 3000, so
   workers run dry at different times and steal all through a phase. */
static void spin(unsigned x)
{
    unsigned h = x * 2654435761u;
    unsigned n = (h >> 26) == 0 ? 3000 : (h >> 8) % 97;
    volatile unsigned sink = 0;
    for (unsigned i = 0; i < n; i++)
        sink += i;
}

/* The round in progress: written by main between phases only, read by
   tasks (published to them by the submission that made them visible). */
static int current_round;

/* Per item: how often it ran, and the round that last stamped it. */
typedef struct tally {
    _Atomic int *count;
    int *stamp;
    long n;
} tally;

static tally tally_new(long n)
{
    return (tally){calloc((size_t)n, sizeof(_Atomic int)), calloc((size_t)n, sizeof(int)), n};
}

static void tally_free(tally *t)
{
    free(t->count);
    free(t->stamp);
}

static void visit(const tally *t, long i)
{
    /* relaxed: read by main after the phase, which orders everything. */
    atomic_fetch_add_explicit(&t->count[i], 1, memory_order_relaxed);
    t->stamp[i] = current_round; /* plain on purpose: see the file comment */
}

/* After round r (0-based) every item ran r + 1 times and bears stamp r. */
static void check_tally(const char *what, const tally *t, int r)
{
    long bad = 0;
    for (long i = 0; i < t->n; i++) {
        int v = atomic_load_explicit(&t->count[i], memory_order_relaxed);
        if (v != r + 1 || t->stamp[i] != r) {
            if (bad < 5)
                FAIL("%s %ld ran %d times (want %d), stamp %d (want %d)", what, i, v, r + 1,
                     t->stamp[i], r);
            bad++;
        }
    }
}

/* ------------------------------------------------------ (a) join tree -- */

typedef struct node {
    int depth;
    long index;
    const tally *leaves;
} node;

static int tree_task(void *arg)
{
    node *t = arg;
    if (t->depth == 0) {
        spin((unsigned)t->index);
        visit(t->leaves, t->index);
        return 0;
    }
    node l = {t->depth - 1, 2 * t->index, t->leaves};
    node r = {t->depth - 1, 2 * t->index + 1, t->leaves};
    return twill_join(tree_task, &l, tree_task, &r);
}

/* ---------------------------------------------------------- (b) group -- */

typedef struct group_round {
    twill_group g;
    tally ran;              /* GROUP_TASKS parents, then their children */
    _Atomic int go;         /* start line for the concurrent spawners */
    _Atomic long spawn_errors;
} group_round;

typedef struct gtask {
    group_round *gr;
    long id;
} gtask;

static gtask *gtasks;      /* one per parent and per child, by id */

static int group_task(void *arg)
{
    gtask *t = arg;
    spin((unsigned)t->id);
    visit(&t->gr->ran, t->id);
    if (t->id < GROUP_TASKS && t->id % CHILD_EVERY == 0) {
        long child = GROUP_TASKS + t->id / CHILD_EVERY;
        if (twill_group_spawn(&t->gr->g, group_task, &gtasks[child]) != 0)
            atomic_fetch_add(&t->gr->spawn_errors, 1);
    }
    return 0;
}

static void spawn_range(group_round *gr, long source)
{
    for (long i = source * PER_SOURCE; i < (source + 1) * PER_SOURCE; i++)
        if (twill_group_spawn(&gr->g, group_task, &gtasks[i]) != 0)
            atomic_fetch_add(&gr->spawn_errors, 1);
}

typedef struct spawner_arg {
    group_round *gr;
    long source;
} spawner_arg;

static void *outside_spawner(void *arg)
{
    spawner_arg *s = arg;
    /* acquire: pairs with the worker spawner's release; yields so that a
       spinning thread does not keep the worker off a small machine's cores. */
    while (!atomic_load_explicit(&s->gr->go, memory_order_acquire))
        sched_yield();
    spawn_range(s->gr, s->source);
    return NULL;
}

static int worker_spawner(void *arg)
{
    spawner_arg *s = arg;
    atomic_store_explicit(&s->gr->go, 1, memory_order_release);
    spawn_range(s->gr, s->source);
    return 0;
}

static int worker_wait(void *arg)
{
    return twill_group_wait(arg);
}

/* Polls the group with wait_for(0) while the spawners run: each poll that
   finds the count at zero resets the group for its next round, racing the
   spawns (issue 15: that reset used to erase a concurrent spawn's count). */
typedef struct poller_arg {
    group_round *gr;
    _Atomic int stop;
} poller_arg;

static void *poller(void *arg)
{
    poller_arg *pa = arg;
    /* acquire: pairs with main's release once the spawners are joined. */
    while (!atomic_load_explicit(&pa->stop, memory_order_acquire)) {
        int rc = twill_group_wait_for(&pa->gr->g, 0);
        if (rc != 0 && rc != ETIMEDOUT)
            FAIL("polling wait_for returned %s", twill_strerror(rc));
    }
    return NULL;
}

static void group_phase(twill_pool *pool, group_round *gr, int round)
{
    if (twill_group_init(&gr->g, pool) != 0)
        FAIL("group init");
    atomic_store(&gr->go, 0);
    pthread_t th[OUTSIDE_SPAWNERS];
    spawner_arg args[SOURCES];
    for (long s = 0; s < SOURCES; s++)
        args[s] = (spawner_arg){gr, s};
    for (int s = 0; s < OUTSIDE_SPAWNERS; s++)
        pthread_create(&th[s], NULL, outside_spawner, &args[s]);
    poller_arg pa = {.gr = gr};
    pthread_t poll_th;
    if (round % 4 == 1)
        pthread_create(&poll_th, NULL, poller, &pa);
    if (twill_run(pool, worker_spawner, &args[OUTSIDE_SPAWNERS]) != 0)
        FAIL("twill_run of the worker spawner");
    for (int s = 0; s < OUTSIDE_SPAWNERS; s++)
        pthread_join(th[s], NULL);
    if (round % 4 == 1) {
        atomic_store_explicit(&pa.stop, 1, memory_order_release);
        pthread_join(poll_th, NULL);
    }
    int rc = round % 2 == 0 ? twill_group_wait(&gr->g) : twill_run(pool, worker_wait, &gr->g);
    if (rc != 0)
        FAIL("group wait returned %s", twill_strerror(rc));
    if (atomic_load(&gr->spawn_errors) != 0)
        FAIL("%ld group spawns failed", atomic_load(&gr->spawn_errors));
}

/* ---------------------------------------------------- (c) and (d) loops -- */

static int for_body(void *ctx, size_t b, size_t e)
{
    const tally *hits = ctx;
    for (size_t i = b; i < e; i++) {
        spin((unsigned)i);
        visit(hits, (long)i);
    }
    return 0;
}

static int for_from_worker(void *arg)
{
    return twill_parallel_for(NULL, 0, LOOP_N, 1, for_body, arg);
}

/* The indices folded so far; ok drops to 0 on any out-of-order step. */
typedef struct span {
    long first, last, count;
    int ok;
} span;

static int span_body(void *ctx, size_t b, size_t e, void *acc)
{
    (void)ctx;
    span *s = acc;
    for (size_t i = b; i < e; i++) {
        if (s->count == 0)
            s->first = (long)i;
        else if (s->last + 1 != (long)i)
            s->ok = 0;
        s->last = (long)i;
        s->count++;
    }
    return 0;
}

static void span_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    span *a = acc;
    const span *o = other;
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

/* ------------------------------------------------------------- driver -- */

typedef struct config_result {
    uint64_t steals, tasks_run;
} config_result;

static config_result run_config(twill_sched sched, unsigned workers, int rounds)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE;
    twill_pool *pool = NULL;
    config_result res = {0, 0};
    int rc = twill_pool_create(&pool, &cfg);
    if (rc != 0) {
        FAIL("pool create: %s", twill_strerror(rc));
        return res;
    }
    tally leaves = tally_new(LEAVES), hits = tally_new(LOOP_N);
    group_round *gr = calloc(1, sizeof *gr);
    gr->ran = tally_new(GROUP_TASKS + GROUP_TASKS / CHILD_EVERY);
    for (long i = 0; i < GROUP_TASKS + GROUP_TASKS / CHILD_EVERY; i++)
        gtasks[i] = (gtask){gr, i};

    for (int r = 0; r < rounds; r++) {
        current_round = r;
        node root = {TREE_DEPTH, 0, &leaves};
        if ((rc = twill_run(pool, tree_task, &root)) != 0)
            FAIL("join tree returned %s", twill_strerror(rc));
        check_tally("join leaf", &leaves, r);

        group_phase(pool, gr, r);
        check_tally("group task", &gr->ran, r);

        rc = r % 2 == 0 ? twill_parallel_for(pool, 0, LOOP_N, 1, for_body, &hits)
                        : twill_run(pool, for_from_worker, &hits);
        if (rc != 0)
            FAIL("parallel_for returned %s", twill_strerror(rc));
        check_tally("loop index", &hits, r);

        span identity = {0, 0, 0, 1}, got = {-1, -1, -1, 0};
        rc = twill_parallel_reduce(pool, 0, LOOP_N, 1, &got, sizeof got, &identity, span_body,
                                   span_combine, NULL);
        if (rc != 0 || !got.ok || got.first != 0 || got.last != LOOP_N - 1 || got.count != LOOP_N)
            FAIL("parallel_reduce: rc %d, span [%ld, %ld] count %ld ok %d", rc, got.first,
                 got.last, got.count, got.ok);
    }

    twill_stats st;
    twill_pool_stats(pool, -1, &st);
    res.steals = st.steals;
    res.tasks_run = st.tasks_run;
    twill_pool_destroy(pool);
    tally_free(&gr->ran);
    free(gr);
    tally_free(&hits);
    tally_free(&leaves);
    return res;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    if (rounds < 1)
        rounds = 1;
    stress_watchdog(240);
    gtasks = calloc(GROUP_TASKS + GROUP_TASKS / CHILD_EVERY, sizeof *gtasks);
    static const struct {
        twill_sched sched;
        const char *name;
    } scheds[] = {{TWILL_SCHED_STEALING, "stealing"}, {TWILL_SCHED_CENTRAL, "central"}};
    for (size_t s = 0; s < 2; s++) {
        for (unsigned workers = 2; workers <= 4; workers += 2) {
            int64_t t0 = stress_now_ns();
            long before = __atomic_load_n(&stress_failures, __ATOMIC_RELAXED);
            config_result res = run_config(scheds[s].sched, workers, rounds);
            printf("forkjoin stress (%s, %u workers): %d rounds of a %d-leaf join tree, "
                   "%d group tasks (+%d children) from 2 outside threads and a worker, "
                   "parallel_for and parallel_reduce over %d indices at grain 1: "
                   "%llu tasks run, %llu steals, %ld problems, %.2f s\n",
                   scheds[s].name, workers, rounds, LEAVES, GROUP_TASKS,
                   GROUP_TASKS / CHILD_EVERY, LOOP_N, (unsigned long long)res.tasks_run,
                   (unsigned long long)res.steals,
                   __atomic_load_n(&stress_failures, __ATOMIC_RELAXED) - before,
                   (double)(stress_now_ns() - t0) / 1e9);
            if (scheds[s].sched == TWILL_SCHED_STEALING && res.steals == 0)
                FAIL("no steal happened: the run did not exercise stealing");
        }
    }
    free(gtasks);
    long bad = __atomic_load_n(&stress_failures, __ATOMIC_RELAXED);
    if (bad != 0) {
        printf("forkjoin stress: FAILED (%ld problems)\n", bad);
        return 1;
    }
    printf("forkjoin stress: OK, every leaf, group task and loop index ran exactly once per "
           "round, and every reduce combined in index order\n");
    return 0;
}

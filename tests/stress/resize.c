/*
 * stress/resize.c — elastic pools under load: every task runs exactly
 * once while the pool grows and shrinks under it.
 *
 * Per scheduler, an elastic pool (2 workers, up to 5, a 1 ms idle
 * timeout) gets, at the same time:
 *   - two outside submitters: plain tasks at all three priorities, some of
 *     which submit children from inside (into the deque of a worker that
 *     may be about to leave), twill_run of a join tree, and task groups
 *     spawned and waited from outside;
 *   - a resizer thread: twill_pool_resize to random sizes 1..5, over and
 *     over, while the idle timeout also shrinks the pool on its own;
 *   - a broadcaster: each broadcast reaches every worker of its moment
 *     once (distinct ids) and returns.
 * At the end the pool shrinks to one worker: a task left behind in the
 * deque of a worker that left would keep it from terminating.
 * Every task has an id and counts its runs; after a draining shutdown each
 * id ran exactly once, nothing was discarded, and the worker hooks ran
 * once per thread (as many stops as starts).  Plain C so that it runs
 * under ThreadSanitizer.
 *
 * Usage: stress_resize [rounds]   (default 2000 per submitter)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "twill.h"

#define MAX_TASKS (1 << 20)
#define CHILDREN 4

static _Atomic unsigned char runs[MAX_TASKS];
static _Atomic unsigned next_id;
static _Atomic long starts, stops;
static _Atomic int resizing;
static twill_pool *pool;
static int failures;

static void fail(const char *what, int rc)
{
    fprintf(stderr, "FAIL: %s: %s\n", what, twill_strerror(rc));
    failures++;
}

static unsigned new_id(void)
{
    unsigned id = atomic_fetch_add(&next_id, 1);
    if (id >= MAX_TASKS) {
        fprintf(stderr, "FAIL: too many tasks\n");
        exit(1);
    }
    return id;
}

static void ran(unsigned id)
{
    if (atomic_fetch_add(&runs[id], 1) != 0) {
        fprintf(stderr, "FAIL: task %u ran twice\n", id);
        exit(1);
    }
}

static int leaf(void *arg)
{
    ran((unsigned)(uintptr_t)arg);
    return 0;
}

/* Submits children from inside: they land in this worker's own queue,
   which a shrink may have to hand over. */
static int parent(void *arg)
{
    ran((unsigned)(uintptr_t)arg);
    for (int i = 0; i < CHILDREN; i++) {
        unsigned id = new_id();
        int rc = twill_submit(pool, leaf, (void *)(uintptr_t)id);
        if (rc != 0) {
            ran(id); /* not taken: account for it so the check stays exact */
            fail("inside submit", rc);
        }
    }
    return 0;
}

typedef struct tree {
    int depth;
    unsigned id;
} tree;

static int join_tree(void *arg)
{
    tree *t = arg;
    ran(t->id);
    if (t->depth == 0)
        return 0;
    tree a = {t->depth - 1, new_id()}, b = {t->depth - 1, new_id()};
    return twill_join(join_tree, &a, join_tree, &b);
}

static void on_start(unsigned id, void *ctx)
{
    (void)id;
    (void)ctx;
    atomic_fetch_add(&starts, 1);
}

static void on_stop(unsigned id, void *ctx)
{
    (void)id;
    (void)ctx;
    atomic_fetch_add(&stops, 1);
}

static void *submitter(void *arg)
{
    uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    int rounds = *(int *)arg;
    for (int r = 0; r < rounds; r++) {
        switch (stress_rng(&rng) % 4) {
        case 0: { /* plain tasks at every priority, some with children */
            for (int i = 0; i < 16; i++) {
                unsigned id = new_id();
                twill_prio prio = (twill_prio)((int)(stress_rng(&rng) % 3) - 1);
                int rc = twill_submit_prio(pool, prio, i % 4 == 0 ? parent : leaf,
                                           (void *)(uintptr_t)id, -1);
                if (rc != 0) {
                    ran(id);
                    fail("submit", rc);
                }
            }
            break;
        }
        case 1: { /* a join tree on a worker */
            tree t = {6, new_id()};
            int rc = twill_run(pool, join_tree, &t);
            if (rc != 0)
                fail("twill_run", rc);
            break;
        }
        default: { /* a group spawned and waited from outside */
            twill_group g;
            twill_group_init(&g, pool);
            for (int i = 0; i < 24; i++) {
                unsigned id = new_id();
                int rc = twill_group_spawn(&g, i % 6 == 0 ? parent : leaf, (void *)(uintptr_t)id);
                if (rc != 0) {
                    ran(id);
                    fail("group spawn", rc);
                }
            }
            int rc = twill_group_wait(&g);
            if (rc != 0)
                fail("group wait", rc);
            break;
        }
        }
    }
    return NULL;
}

/* Broadcasts while the size changes: each must reach every worker of the
   moment exactly once (distinct ids) and return. */
static _Atomic uint64_t shares_seen;

static int share(void *arg)
{
    (void)arg;
    int id = twill_worker_id();
    uint64_t bit = UINT64_C(1) << (id & 63);
    if (id < 0 || (atomic_fetch_or(&shares_seen, bit) & bit) != 0) {
        fprintf(stderr, "FAIL: broadcast share twice on worker %d\n", id);
        exit(1);
    }
    return 0;
}

static void *broadcaster(void *arg)
{
    long *count = arg;
    while (atomic_load(&resizing)) {
        atomic_store(&shares_seen, 0);
        int rc = twill_broadcast(pool, share, NULL);
        if (rc != 0)
            fail("broadcast", rc);
        ++*count;
    }
    return NULL;
}

static void *resizer(void *arg)
{
    uint64_t rng = 12345;
    (void)arg;
    while (atomic_load(&resizing)) {
        unsigned n = 1 + (unsigned)(stress_rng(&rng) % 5);
        int rc = twill_pool_resize(pool, n);
        if (rc != 0)
            fail("resize", rc);
        if (stress_rng(&rng) % 4 == 0)
            stress_delay(200000); /* let the elastic rules act for a while */
    }
    return NULL;
}

static void run(twill_sched sched, int rounds)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 2;
    cfg.max_workers = 5;
    cfg.idle_timeout_ns = 1000000;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE;
    cfg.on_worker_start = on_start;
    cfg.on_worker_stop = on_stop;
    atomic_store(&next_id, 0);
    atomic_store(&starts, 0);
    atomic_store(&stops, 0);
    for (unsigned i = 0; i < MAX_TASKS; i++)
        atomic_store_explicit(&runs[i], 0, memory_order_relaxed);
    int rc = twill_pool_create(&pool, &cfg);
    if (rc != 0) {
        fail("create", rc);
        return;
    }
    atomic_store(&resizing, 1);
    pthread_t sub[2], rs, bc;
    int args[2] = {rounds, rounds};
    long broadcasts = 0;
    pthread_create(&rs, NULL, resizer, NULL);
    pthread_create(&bc, NULL, broadcaster, &broadcasts);
    for (int i = 0; i < 2; i++)
        pthread_create(&sub[i], NULL, submitter, &args[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(sub[i], NULL);
    atomic_store(&resizing, 0);
    pthread_join(rs, NULL);
    pthread_join(bc, NULL);
    /* Down to one worker last: a task left in the queue of a worker that
       left would keep the pool from terminating (the watchdog fails it). */
    rc = twill_pool_resize(pool, 1);
    if (rc != 0)
        fail("final resize", rc);
    size_t discarded = 1;
    rc = twill_pool_shutdown(pool, TWILL_DRAIN, &discarded);
    if (rc != 0 || discarded != 0)
        fail("shutdown", rc);
    twill_stats st;
    twill_pool_stats(pool, -1, &st);
    unsigned n = atomic_load(&next_id), missing = 0;
    for (unsigned i = 0; i < n; i++)
        missing += atomic_load(&runs[i]) == 0;
    if (missing != 0) {
        fprintf(stderr, "FAIL: %u of %u tasks never ran\n", missing, n);
        failures++;
    }
    if (atomic_load(&starts) != atomic_load(&stops)) {
        fprintf(stderr, "FAIL: %ld worker starts, %ld stops\n", atomic_load(&starts),
                atomic_load(&stops));
        failures++;
    }
    printf("%s: %u tasks, %lu run by the pool, %ld worker threads, %ld broadcasts\n",
           sched == TWILL_SCHED_CENTRAL ? "central" : "stealing", n,
           (unsigned long)st.tasks_run, atomic_load(&starts), broadcasts);
    twill_pool_destroy(pool);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    stress_watchdog(240);
    run(TWILL_SCHED_STEALING, rounds);
    run(TWILL_SCHED_CENTRAL, rounds);
    if (failures != 0)
        return 1;
    printf("resize: OK\n");
    return 0;
}

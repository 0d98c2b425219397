/*
 * stress/isolated.c — isolated task groups under load, a plain C program so
 * that it also runs under ThreadSanitizer.
 *
 * Each round, on both schedulers, with pools of 2 and 4 workers, two
 * outside threads spawn HOLDERS holder tasks and as many lock takers into
 * one plain group.  A holder takes a shared mutex and, holding it, waits on
 * an isolated group of TREES small trees (a join, a plain group, every
 * other tree a nested isolated group) of its own, of FED tasks that an
 * outside feeder thread spawns into it meanwhile (a latch task keeps the
 * group open until the feeder is done), while it has submitted lock takers
 * into its own queue before and after its group's spawns.  The other
 * workers block on the mutex, so the holder's wait must finish its group
 * by itself: a plain wait would run a taker on the holder's thread, which
 * the taker detects (the holder is a thread-local's address) and counts
 * instead of deadlocking.
 *
 * Every leaf and fed task bumps its own counter and stamps a plain slot
 * with the round, read by the main thread after the round: a task lost or
 * run twice shows in the counters (each must read round + 1), a missing
 * happens-before edge is a TSan report.  Re-entries must stay 0.  A
 * watchdog turns a hang into FAIL.
 *
 * Usage: stress_isolated [rounds]    (default 40: ~1 s, ~30 s under TSan)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "twill.h"

enum {
    HOLDERS = 48,
    TREES = 4,
    LEAVES = 8,            /* per tree: a join of two plain groups of four */
    FED = 8,               /* outside spawns into each holder's group */
    SLOTS_PER_HOLDER = TREES * LEAVES + FED,
    SLOTS = HOLDERS * SLOTS_PER_HOLDER,
    SPAWNERS = 2,
};

static _Atomic long counts[SLOTS];
static int stamps[SLOTS]; /* plain: written by the task, read by main after the round */
static int round_now;     /* written by main between rounds only */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(void *) holder;
static _Atomic long reentries, takers, holders_done;
static _Thread_local char me;

static void visit(int slot)
{
    stress_delay(slot % 7 * 200);
    atomic_fetch_add_explicit(&counts[slot], 1, memory_order_relaxed);
    stamps[slot] = round_now;
}

/* ------------------------------------------------------------- trees -- */

typedef struct leafs {
    int first; /* slot of the first leaf */
} leafs;

static int leaf_task(void *arg)
{
    visit((int)(intptr_t)arg);
    return 0;
}

/* Four leaves from first: spawned into a plain group, or an isolated one. */
static int four(int first, bool isolated)
{
    twill_group g;
    int rc = isolated ? twill_group_init_isolated(&g, NULL) : twill_group_init(&g, NULL);
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = twill_group_spawn(&g, leaf_task, (void *)(intptr_t)(first + i));
    int wrc = twill_group_wait(&g);
    return rc != 0 ? rc : wrc;
}

static int four_plain(void *arg)
{
    return four(((leafs *)arg)->first, false);
}

static int four_isolated(void *arg)
{
    return four(((leafs *)arg)->first, true);
}

static int tree_task(void *arg)
{
    int first = (int)(intptr_t)arg;
    leafs a = {first}, b = {first + 4};
    return twill_join(four_plain, &a, first / LEAVES % 2 ? four_isolated : four_plain, &b);
}

/* ------------------------------------------------------- the feeder -- */

/* A holder's request: spawn FED tasks into g, then set fed. */
typedef struct request {
    twill_group *g;
    int first;
    _Atomic int fed;
    struct request *next;
} request;

static pthread_mutex_t feed_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t feed_cv = PTHREAD_COND_INITIALIZER;
static request *feed_queue;
static bool feed_stop;

static void *feeder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&feed_mu);
    for (;;) {
        while (feed_queue == NULL && !feed_stop)
            pthread_cond_wait(&feed_cv, &feed_mu);
        if (feed_queue == NULL)
            break;
        request *r = feed_queue;
        feed_queue = r->next;
        pthread_mutex_unlock(&feed_mu);
        for (int i = 0; i < FED; i++)
            if (twill_group_spawn(r->g, leaf_task, (void *)(intptr_t)(r->first + i)) != 0)
                FAIL("outside spawn into an isolated group refused");
        /* release: the latch's acquire sees the spawns counted */
        atomic_store_explicit(&r->fed, 1, memory_order_release);
        pthread_mutex_lock(&feed_mu);
    }
    pthread_mutex_unlock(&feed_mu);
    return NULL;
}

/* In the holder's group: keeps it open until the feeder has spawned. */
static int latch_task(void *arg)
{
    request *r = arg;
    while (!atomic_load_explicit(&r->fed, memory_order_acquire))
        sched_yield();
    return 0;
}

/* ------------------------------------------------- holders and takers -- */

static int taker_task(void *arg)
{
    (void)arg;
    if (atomic_load(&holder) == &me) {
        atomic_fetch_add(&reentries, 1);
        return 0;
    }
    pthread_mutex_lock(&lock);
    atomic_store(&holder, &me);
    atomic_fetch_add(&takers, 1);
    atomic_store(&holder, NULL);
    pthread_mutex_unlock(&lock);
    return 0;
}

static int holder_task(void *arg)
{
    int h = (int)(intptr_t)arg, base = h * SLOTS_PER_HOLDER;
    twill_pool *pool = twill_current_pool();
    if (twill_submit(pool, taker_task, NULL) != 0)
        FAIL("submit from a holder");
    if (atomic_load(&holder) == &me) {
        atomic_fetch_add(&reentries, 1);
        return 0;
    }
    pthread_mutex_lock(&lock);
    atomic_store(&holder, &me);
    twill_group g;
    int rc = twill_group_init_isolated(&g, NULL);
    request r = {.g = &g, .first = base + TREES * LEAVES};
    atomic_init(&r.fed, 0);
    for (int t = 0; t < TREES && rc == 0; t++)
        rc = twill_group_spawn(&g, tree_task, (void *)(intptr_t)(base + t * LEAVES));
    if (rc == 0)
        rc = twill_group_spawn(&g, latch_task, &r);
    pthread_mutex_lock(&feed_mu);
    r.next = feed_queue;
    feed_queue = &r;
    pthread_cond_signal(&feed_cv);
    pthread_mutex_unlock(&feed_mu);
    if (twill_submit(pool, taker_task, NULL) != 0) /* above the group's tasks */
        FAIL("submit from a holder");
    int wrc = twill_group_wait(&g);
    if (rc != 0 || wrc != 0)
        FAIL("holder %d: spawn %d, wait %d", h, rc, wrc);
    atomic_fetch_add(&holders_done, 1);
    atomic_store(&holder, NULL);
    pthread_mutex_unlock(&lock);
    return 0;
}

typedef struct spawner {
    twill_group *all;
    int index;
} spawner;

static void *spawn_outside(void *arg)
{
    spawner *s = arg;
    for (int h = s->index; h < HOLDERS; h += SPAWNERS)
        if (twill_group_spawn(s->all, holder_task, (void *)(intptr_t)h) != 0 ||
            twill_group_spawn(s->all, taker_task, NULL) != 0)
            FAIL("outside spawn");
    return NULL;
}

/* ------------------------------------------------------------ rounds -- */

static void run_config(twill_sched sched, unsigned workers, int rounds)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE;
    twill_pool *pool;
    if (twill_pool_create(&pool, &cfg) != 0) {
        FAIL("pool create");
        return;
    }
    for (int i = 0; i < SLOTS; i++)
        atomic_store(&counts[i], 0);
    atomic_store(&reentries, 0);
    atomic_store(&takers, 0);
    atomic_store(&holders_done, 0);
    pthread_t feed;
    feed_stop = false;
    pthread_create(&feed, NULL, feeder, NULL);
    for (int round = 0; round < rounds; round++) {
        round_now = round;
        twill_group all;
        twill_group_init(&all, pool);
        pthread_t t[SPAWNERS];
        spawner s[SPAWNERS];
        for (int i = 0; i < SPAWNERS; i++) {
            s[i] = (spawner){&all, i};
            pthread_create(&t[i], NULL, spawn_outside, &s[i]);
        }
        for (int i = 0; i < SPAWNERS; i++)
            pthread_join(t[i], NULL);
        if (twill_group_wait(&all) != 0)
            FAIL("round %d: wait", round);
        for (int i = 0; i < SLOTS; i++) {
            if (atomic_load(&counts[i]) != round + 1)
                FAIL("%u workers, round %d: slot %d ran %ld times", workers, round, i,
                     atomic_load(&counts[i]) - round);
            if (stamps[i] != round)
                FAIL("round %d: slot %d stamped %d", round, i, stamps[i]);
        }
    }
    /* the takers submitted from inside may still run: drain them */
    twill_pool_shutdown(pool, TWILL_DRAIN, NULL);
    twill_pool_destroy(pool);
    pthread_mutex_lock(&feed_mu);
    feed_stop = true;
    pthread_cond_signal(&feed_cv);
    pthread_mutex_unlock(&feed_mu);
    pthread_join(feed, NULL);
    long want = (long)rounds * HOLDERS * 3;
    if (atomic_load(&reentries) != 0)
        FAIL("%u workers: %ld lock takers ran inside a holder's isolated wait", workers,
             atomic_load(&reentries));
    if (atomic_load(&takers) != want || atomic_load(&holders_done) != (long)rounds * HOLDERS)
        FAIL("%u workers: %ld takers of %ld, %ld holders", workers, atomic_load(&takers), want,
             atomic_load(&holders_done));
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 40;
    stress_watchdog(600);
    static const struct {
        twill_sched sched;
        const char *name;
    } scheds[] = {{TWILL_SCHED_STEALING, "stealing"}, {TWILL_SCHED_CENTRAL, "central"}};
    for (int s = 0; s < 2; s++)
        for (unsigned workers = 2; workers <= 4; workers *= 2) {
            run_config(scheds[s].sched, workers, rounds);
            printf("isolated %s, %u workers: %d rounds of %d holders, %d slots\n", scheds[s].name,
                   workers, rounds, HOLDERS, SLOTS);
        }
    if (stress_failures != 0) {
        printf("FAILED: %ld\n", stress_failures);
        return 1;
    }
    printf("OK\n");
    return 0;
}

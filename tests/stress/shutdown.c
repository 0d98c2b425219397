/*
 * stress/shutdown.c — "taken or not" under shutdown racing submitters.
 *
 * Each round: a pool of 2 workers with an 8-slot queue (so submitters also
 * block on backpressure), 3 outside threads submitting as fast as they can
 * (plain submits, submits with a timeout, and group spawns), tasks that
 * themselves submit children from inside the pool, and the main thread
 * calling shutdown (alternately DRAIN and CANCEL) after a random delay.
 *
 * Checked for every task, by a counter per task:
 *   - a call that returned 0 took the task: it ran exactly once or was
 *     discarded exactly once (the hook), never both;
 *   - a call that returned nonzero took nothing: never ran, never discarded;
 *   - after DRAIN nothing was discarded; *discarded equals the hook calls;
 *   - submits refused after shutdown return ESHUTDOWN (or EAGAIN/ETIMEDOUT
 *     for the bounded variants, both before shutdown only).
 * Submissions cycle through the priority levels (HIGH, NORMAL, LOW: each
 * level's queue must keep taken-or-not too).
 * The rounds cycle through the idle policies (default, park, spin: a spinning
 * worker must still take part in termination), each with DRAIN and CANCEL.
 * Then rounds of destroy while outside submitters are blocked on a full
 * queue (see destroy_round).  Both schedulers.  Usage: stress_shutdown [rounds]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sched.h" /* pool->submitters, pool->state: probes for destroy_round */
#include "twill.h"

enum { SUBMITTERS = 3, PER_THREAD = 4000, CHILDREN = 2 };

typedef struct task {
    _Atomic int ran, discarded;
    int rc;                        /* what the taking call returned; -1 unset */
    struct task *child[CHILDREN];  /* submitted from inside when it runs */
} task;

typedef struct round {
    twill_pool *pool;
    twill_group group;
    task *tasks;                   /* SUBMITTERS * PER_THREAD parents + children */
    _Atomic long hook_calls;
    _Atomic int go;
} round_t;

static int run_task(void *arg)
{
    task *t = arg;
    /* relaxed: read after the pool has been shut down and joined. */
    atomic_fetch_add_explicit(&t->ran, 1, memory_order_relaxed);
    for (int i = 0; i < CHILDREN; i++)
        if (t->child[i] != NULL)
            t->child[i]->rc = twill_submit(twill_current_pool(), run_task, t->child[i]);
    return 0;
}

static void on_discard(twill_fn fn, void *arg, void *ctx)
{
    (void)fn;
    task *t = arg;
    atomic_fetch_add_explicit(&t->discarded, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&((round_t *)ctx)->hook_calls, 1, memory_order_relaxed);
}

typedef struct submitter {
    round_t *r;
    int index;
} submitter;

static void *submit_loop(void *arg)
{
    submitter *s = arg;
    round_t *r = s->r;
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        ;
    for (int i = 0; i < PER_THREAD; i++) {
        task *t = &r->tasks[s->index * PER_THREAD + i];
        int rc;
        /* every level, through each kind of call */
        twill_prio prio = (twill_prio)((i / 3 + s->index) % 3 - 1);
        switch ((i + s->index) % 3) {
        case 0: rc = twill_submit_prio(r->pool, prio, run_task, t, -1); break;
        case 1: rc = twill_submit_prio(r->pool, prio, run_task, t, 20000); break;
        default: rc = twill_group_spawn_prio(&r->group, prio, run_task, t); break;
        }
        t->rc = rc;
        if (rc == ESHUTDOWN)
            break;
    }
    return NULL;
}

/* Totals over all rounds, to show the races really happened. */
static long n_ran, n_discarded, n_refused;

/* Check one task (and its children): returns the number of violations. */
static long check(const task *t, bool drained)
{
    int ran = atomic_load(&t->ran), disc = atomic_load(&t->discarded);
    long bad = 0;
    n_ran += ran;
    n_discarded += disc;
    n_refused += t->rc > 0;
    if (t->rc == 0 && ran + disc != 1)
        bad++;
    if (t->rc != 0 && ran + disc != 0)
        bad++;
    if (t->rc != 0 && t->rc != -1 && t->rc != ESHUTDOWN && t->rc != EAGAIN && t->rc != ETIMEDOUT)
        bad++;
    if (drained && disc != 0)
        bad++;
    if (bad != 0)
        fprintf(stderr, "FAIL: task rc=%d ran=%d discarded=%d (%s)\n", t->rc, ran, disc,
                drained ? "drain" : "cancel");
    for (int i = 0; i < CHILDREN; i++)
        if (t->child[i] != NULL)
            bad += check(t->child[i], drained);
    return bad;
}

static long one_round(twill_sched sched, twill_stop how, twill_idle idle, uint64_t *seed)
{
    size_t parents = SUBMITTERS * PER_THREAD;
    round_t r;
    memset(&r, 0, sizeof r);
    r.tasks = calloc(parents * (1 + CHILDREN), sizeof *r.tasks);
    if (r.tasks == NULL)
        return 1;
    for (size_t i = 0; i < parents * (1 + CHILDREN); i++)
        r.tasks[i].rc = -1;
    for (size_t i = 0; i < parents; i++)
        for (int c = 0; c < CHILDREN; c++)
            r.tasks[i].child[c] = &r.tasks[parents + i * CHILDREN + (size_t)c];
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 2;
    cfg.scheduler = sched;
    cfg.idle = idle;
    cfg.queue_capacity = 8;
    cfg.discard = on_discard;
    cfg.discard_ctx = &r;
    if (twill_pool_create(&r.pool, &cfg) != 0 || twill_group_init(&r.group, r.pool) != 0)
        return 1;
    pthread_t th[SUBMITTERS];
    submitter sub[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        sub[i] = (submitter){&r, i};
        pthread_create(&th[i], NULL, submit_loop, &sub[i]);
    }
    atomic_store_explicit(&r.go, 1, memory_order_release);
    stress_delay((int64_t)(stress_rng(seed) % 3000000));
    size_t discarded = 0;
    long bad = twill_pool_shutdown(r.pool, how, &discarded) != 0;
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    int gw = twill_group_wait(&r.group);
    if (gw != 0 && !(how == TWILL_CANCEL && gw == ECANCELED))
        bad++;
    for (size_t i = 0; i < parents; i++)
        bad += check(&r.tasks[i], how == TWILL_DRAIN);
    if ((long)discarded != atomic_load(&r.hook_calls)) {
        fprintf(stderr, "FAIL: *discarded=%zu but the hook ran %ld times\n", discarded,
                (long)atomic_load(&r.hook_calls));
        bad++;
    }
    twill_pool_destroy(r.pool);
    free(r.tasks);
    return bad;
}

/* Destroy while outside threads are blocked in submit (forbidden by
   twill.h, but an easy mistake): shutdown inside destroy refuses them, and
   destroy waits until each has left its call before freeing the pool.
   Without that wait ThreadSanitizer reports the pool's free racing a
   submitter's last touch of the injector.  Each thread makes exactly one
   call, at its own level (LOW, NORMAL, HIGH: each level's queue is full),
   and destroy starts only once all of them are inside it, waiting (the
   runtime's count of submitters that may wait, read here as a probe): a
   call that starts after destroy would be a use after free in any
   runtime. */
typedef struct blocked {
    twill_pool *pool;
    twill_prio prio;
    _Atomic long *ran;
    int rc;
} blocked;

typedef struct held {
    twill_pool *pool;
    _Atomic int open;
} held;

static int held_task(void *arg)
{
    held *h = arg;
    /* acquire: pairs with the releaser's store. */
    while (!atomic_load_explicit(&h->open, memory_order_acquire))
        sched_yield();
    return 0;
}

/* Opens the held task once shutdown has begun, so the queue stays full
   until the blocked submitters are refused.  Its last touch of the pool
   comes before the open, and destroy cannot finish before the open. */
static void *releaser(void *arg)
{
    held *h = arg;
    /* acquire: pairs with shutdown's store of state. */
    while (atomic_load_explicit(&h->pool->state, memory_order_acquire) == TWILL__RUNNING)
        sched_yield();
    atomic_store_explicit(&h->open, 1, memory_order_release);
    return NULL;
}

static int count_ran(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
    return 0;
}

static void *submit_once(void *arg)
{
    blocked *b = arg;
    b->rc = twill_submit_prio(b->pool, b->prio, count_ran, b->ran, -1);
    return NULL;
}

static long destroy_round(twill_sched sched, uint64_t *seed)
{
    static _Atomic long ran;
    atomic_store(&ran, 0);
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 1;
    cfg.scheduler = sched;
    cfg.queue_capacity = 2;
    twill_pool *pool;
    if (twill_pool_create(&pool, &cfg) != 0)
        return 1;
    held h = {.pool = pool};
    if (twill_submit(pool, held_task, &h) != 0)
        return 1;
    long accepted = 0;
    while (accepted < 2) /* the worker may not have taken held_task yet */
        if (twill_submit_for(pool, count_ran, &ran, 0) == 0)
            accepted++;
    /* Now held_task runs (it left the full queue): fill HIGH and LOW too. */
    for (int i = 0; i < 4; i++)
        if (twill_submit_prio(pool, i < 2 ? TWILL_PRIO_HIGH : TWILL_PRIO_LOW, count_ran, &ran,
                              0) == 0)
            accepted++;
    if (accepted != 6) {
        fprintf(stderr, "FAIL: HIGH and LOW did not take 2 tasks each (%ld taken)\n", accepted);
        atomic_store_explicit(&h.open, 1, memory_order_release);
        twill_pool_destroy(pool);
        return 1;
    }
    blocked b[SUBMITTERS];
    pthread_t th[SUBMITTERS], rel;
    for (int i = 0; i < SUBMITTERS; i++) {
        b[i] = (blocked){pool, (twill_prio)(i % 3 - 1), &ran, -1};
        pthread_create(&th[i], NULL, submit_once, &b[i]);
    }
    /* relaxed: a probe; the watchdog bounds the wait. */
    while (atomic_load_explicit(&pool->submitters, memory_order_relaxed) != SUBMITTERS)
        sched_yield();
    pthread_create(&rel, NULL, releaser, &h);
    stress_delay((int64_t)(stress_rng(seed) % 300000));
    twill_pool_destroy(pool);
    pthread_join(rel, NULL);
    long bad = 0;
    for (int i = 0; i < SUBMITTERS; i++) {
        pthread_join(th[i], NULL);
        if (b[i].rc == 0)
            accepted++;
        else if (b[i].rc != ESHUTDOWN)
            bad++;
    }
    if (atomic_load(&ran) != accepted) {
        fprintf(stderr, "FAIL: destroy with blocked submitters: %ld accepted, %ld ran\n",
                accepted, (long)atomic_load(&ran));
        bad++;
    }
    return bad;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 40;
    stress_watchdog(280);
    uint64_t seed = 0xfeedbeef;
    long bad = 0;
    twill_sched scheds[] = {TWILL_SCHED_STEALING, TWILL_SCHED_CENTRAL};
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < rounds; i++)
            bad += one_round(scheds[s], i % 2 ? TWILL_CANCEL : TWILL_DRAIN,
                             (twill_idle)(i / 2 % 3), &seed);
        printf("shutdown stress (%s): %d rounds of %d submitters x %d tasks (+%d children "
               "each) against DRAIN/CANCEL: %ld ran, %ld discarded, %ld refused, %ld violations\n",
               s ? "central" : "stealing", rounds, SUBMITTERS, PER_THREAD, CHILDREN, n_ran,
               n_discarded, n_refused, bad);
        if (n_discarded == 0 || n_refused == 0) {
            printf("shutdown stress: FAIL: no discard or no refusal, the race was not exercised\n");
            bad++;
        }
        n_ran = n_discarded = n_refused = 0;
        long dbad = 0;
        for (int i = 0; i < rounds; i++)
            dbad += destroy_round(scheds[s], &seed);
        printf("shutdown stress (%s): %d rounds of destroy with %d submitters blocked: %ld "
               "violations\n",
               s ? "central" : "stealing", rounds, SUBMITTERS, dbad);
        bad += dbad;
    }
    printf("shutdown stress: %s\n", bad ? "FAILED" : "OK");
    return bad != 0;
}

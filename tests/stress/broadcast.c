/*
 * stress/broadcast.c — twill_broadcast exactly once per worker per
 * broadcast, while several outside threads broadcast at once, others
 * submit tasks (some of which broadcast from inside a worker), and
 * workers go idle and park between bursts (random pauses), so broadcasts
 * land on busy, spinning, parking and sleeping workers.  Each broadcast
 * carries its own per-worker counters, checked when it returns: a share
 * run twice, missed or run on the wrong worker fails; a lost wake-up
 * hangs into the watchdog.  Both schedulers.
 * Usage: stress_broadcast [rounds]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "twill.h"

#define WORKERS 3
#define THREADS 3

typedef struct shares {
    _Atomic int per[WORKERS];
    _Atomic int bad;
} shares;

static int share(void *arg)
{
    shares *s = arg;
    int id = twill_worker_id();
    if (id < 0 || id >= WORKERS)
        atomic_fetch_add_explicit(&s->bad, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&s->per[id], 1, memory_order_relaxed);
    return 0;
}

static _Atomic long failures;

/* One broadcast, checked.  The shares' writes are visible once it returns
   (the broadcast's wait acquires what every share released). */
static void broadcast_checked(twill_pool *p)
{
    shares s = {0};
    int rc = twill_broadcast(p, share, &s);
    /* ESHUTDOWN: a task left queued when destroy began drains; then no
       share may have run. */
    int want = rc == ESHUTDOWN && twill_worker_id() >= 0 ? 0 : 1;
    bool ok = (rc == 0 || want == 0) && atomic_load_explicit(&s.bad, memory_order_relaxed) == 0;
    for (int i = 0; i < WORKERS; i++)
        ok = ok && atomic_load_explicit(&s.per[i], memory_order_relaxed) == want;
    if (!ok)
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
}

static _Atomic long tasks_run;

static int task(void *arg)
{
    twill_pool *p = arg;
    long n = atomic_fetch_add_explicit(&tasks_run, 1, memory_order_relaxed);
    if (n % 16 == 0)
        broadcast_checked(p); /* from inside a worker */
    stress_delay((int64_t)(n % 7) * 1000);
    return 0;
}

typedef struct thread_arg {
    twill_pool *pool;
    long rounds;
    uint64_t seed;
    bool submitter;
} thread_arg;

static void *run_thread(void *arg)
{
    thread_arg *a = arg;
    for (long r = 0; r < a->rounds; r++) {
        stress_delay((int64_t)(stress_rng(&a->seed) % 40000));
        if (a->submitter) {
            for (int i = 0; i < 8; i++)
                if (twill_submit(a->pool, task, a->pool) != 0)
                    atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
        } else {
            broadcast_checked(a->pool);
        }
    }
    return NULL;
}

static int run(twill_sched sched, long rounds)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = WORKERS;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE;
    twill_pool *p;
    if (twill_pool_create(&p, &cfg) != 0)
        return 1;
    atomic_store(&failures, 0);
    atomic_store(&tasks_run, 0);
    pthread_t th[THREADS + 1];
    thread_arg args[THREADS + 1];
    for (int i = 0; i <= THREADS; i++) {
        args[i] = (thread_arg){p, rounds, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1), i == THREADS};
        if (pthread_create(&th[i], NULL, run_thread, &args[i]) != 0)
            return 1;
    }
    for (int i = 0; i <= THREADS; i++)
        pthread_join(th[i], NULL);
    twill_pool_destroy(p);
    long ran = atomic_load(&tasks_run), bad = atomic_load(&failures);
    printf("%s: %ld broadcasts from outside, %ld tasks, %ld failures\n",
           sched == TWILL_SCHED_CENTRAL ? "central" : "stealing", rounds * THREADS, ran, bad);
    return bad != 0 || ran != rounds * 8;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 300;
    stress_watchdog(240);
    int rc = run(TWILL_SCHED_STEALING, rounds);
    rc |= run(TWILL_SCHED_CENTRAL, rounds);
    puts(rc == 0 ? "PASS" : "FAIL");
    return rc;
}

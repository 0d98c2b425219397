/*
 * stress/handover.c — the idle hand-over (sched_steal.c, idle; park.c,
 * "Spinners"): a worker that finds work after spinning wakes a sleeper
 * only if work is left, and a producer that skipped its wake-up because a
 * spinner was counted must still get its task run.  Each round, on an
 * n-worker pool whose workers are busy, spinning, parking or asleep (a
 * random pause of 0-60 us first), n-1 "blockers" are submitted that each
 * wait until the round's "releaser" has started, then the releaser: from
 * outside (twill_submit) in even rounds, from inside the last blocker (a
 * push onto its worker's deque, then it waits) in odd ones.  The
 * releaser can only run on the one worker no blocker holds, so if the
 * wake-up meant for it is lost (skipped for a spinner that then took a
 * blocker and handed nothing over), every blocker waits forever: each
 * waits at most 10 s and reports the lost wake-up.  Every task must run
 * exactly once.  Both schedulers, 2 and 3 workers.
 * Usage: stress_handover [rounds]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "twill.h"

#define WAIT_NS 10000000000LL

static twill_pool *pool;
static _Atomic long released; /* rounds whose releaser has started */
static _Atomic long ran;      /* tasks run, blockers and releasers */

static int releaser(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    /* release: pairs with the blockers' acquire load. */
    atomic_fetch_add_explicit(&released, 1, memory_order_release);
    return 0;
}

/* arg: the round's number r, or -r - 1 when this blocker submits the
   round's releaser itself (the last blocker of an odd round: see
   submit_round); a submit from a worker goes onto its own deque. */
static int blocker(void *arg)
{
    long r = (long)(intptr_t)arg;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    if (r < 0) { /* the inside case: push the releaser, then wait */
        r = -r - 1;
        if (twill_submit(pool, releaser, NULL) != 0) {
            FAIL("round %ld: the inside submit of the releaser was refused", r);
            return 0;
        }
    }
    int64_t limit = stress_now_ns() + WAIT_NS;
    while (atomic_load_explicit(&released, memory_order_acquire) <= r) {
        if (stress_now_ns() > limit) {
            FAIL("round %ld: the releaser never started (lost wake-up)", r);
            return 0;
        }
    }
    return 0;
}

static int submit_round(long r, unsigned workers)
{
    bool inside = r % 2 == 1;
    for (unsigned i = 0; i + 1 < workers; i++) {
        bool last = i + 2 == workers;
        long arg = inside && last ? -r - 1 : r;
        if (twill_submit(pool, blocker, (void *)(intptr_t)arg) != 0)
            return 1;
    }
    return inside ? 0 : twill_submit(pool, releaser, NULL);
}

static int run_rounds(twill_sched sched, unsigned workers, long rounds)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.scheduler = sched;
    if (twill_pool_create(&pool, &cfg) != 0)
        return 1;
    atomic_store(&released, 0);
    atomic_store(&ran, 0);
    long before = __atomic_load_n(&stress_failures, __ATOMIC_RELAXED);
    uint64_t seed = 0x9e3779b9u + workers;
    long want = 0;
    for (long r = 0; r < rounds; r++) {
        stress_delay((int64_t)(stress_rng(&seed) % 60000));
        if (submit_round(r, workers) != 0) {
            FAIL("submit refused in round %ld", r);
            break;
        }
        want += workers; /* n-1 blockers and a releaser */
        int64_t limit = stress_now_ns() + 2 * WAIT_NS;
        while (atomic_load_explicit(&ran, memory_order_relaxed) < want ||
               atomic_load_explicit(&released, memory_order_acquire) <= r) {
            if (__atomic_load_n(&stress_failures, __ATOMIC_RELAXED) != before ||
                stress_now_ns() > limit) {
                FAIL("round %ld did not finish", r);
                break;
            }
        }
        if (__atomic_load_n(&stress_failures, __ATOMIC_RELAXED) != before)
            break;
    }
    twill_pool_destroy(pool); /* drains: nothing is left behind */
    if (atomic_load(&ran) != want)
        FAIL("%ld tasks ran, %ld submitted", atomic_load(&ran), want);
    int bad = __atomic_load_n(&stress_failures, __ATOMIC_RELAXED) != before;
    if (!bad)
        printf("handover stress (%s, %u workers): %ld rounds, %ld tasks, each ran once\n",
               sched == TWILL_SCHED_CENTRAL ? "central" : "stealing", workers, rounds, want);
    return bad;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 4000;
    stress_watchdog(280);
    int bad = run_rounds(TWILL_SCHED_STEALING, 2, rounds);
    bad |= run_rounds(TWILL_SCHED_STEALING, 3, rounds / 2);
    bad |= run_rounds(TWILL_SCHED_CENTRAL, 2, rounds / 4);
    bad |= run_rounds(TWILL_SCHED_CENTRAL, 3, rounds / 4);
    printf("handover stress: %s\n", bad ? "FAILED" : "OK");
    return bad;
}

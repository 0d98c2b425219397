/*
 * stress/park.c — no lost wake-ups: many rounds of "submit one task from
 * outside, wait until it has run" on a 2-worker pool, with a random pause
 * of 0-60 us between rounds, so the submit lands while workers are busy,
 * spinning, announcing sleep, re-checking, or asleep.  A lost wake-up
 * leaves the task queued forever: the wait has a 10 s bound per round and
 * the whole run a watchdog.  Both schedulers, each with the default idle
 * policy and with TWILL_IDLE_PARK (no spin rounds: every idle moment is a
 * park, so the announce/re-check races come several times as often).
 * Usage: stress_park [rounds]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "twill.h"

static _Atomic long done;

static int mark(void *arg)
{
    (void)arg;
    /* release: pairs with the waiter's acquire load. */
    atomic_fetch_add_explicit(&done, 1, memory_order_release);
    return 0;
}

static int run_rounds(twill_sched sched, twill_idle idle, long rounds)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 2;
    cfg.scheduler = sched;
    cfg.idle = idle;
    twill_pool *p;
    if (twill_pool_create(&p, &cfg) != 0)
        return 1;
    atomic_store(&done, 0);
    uint64_t seed = 0x1234567;
    for (long r = 0; r < rounds; r++) {
        stress_delay((int64_t)(stress_rng(&seed) % 60000));
        if (twill_submit(p, mark, NULL) != 0)
            return 1;
        int64_t limit = stress_now_ns() + 10000000000LL;
        while (atomic_load_explicit(&done, memory_order_acquire) <= r) {
            if (stress_now_ns() > limit) {
                printf("park stress: FAIL: round %ld never ran (lost wake-up)\n", r);
                return 1;
            }
        }
    }
    twill_stats st;
    twill_pool_stats(p, -1, &st);
    printf("park stress (%s, idle %s): %ld submit-then-wait rounds, %lu parks, %lu wakes, "
           "none lost\n",
           sched == TWILL_SCHED_CENTRAL ? "central" : "stealing",
           idle == TWILL_IDLE_PARK ? "park" : "default", rounds,
           (unsigned long)st.parks, (unsigned long)st.wakes);
    int parked = st.parks > 0;
    twill_pool_destroy(p);
    if (!parked) {
        printf("park stress: FAIL: workers never parked, the test proved nothing\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 100000;
    stress_watchdog(280);
    int bad = run_rounds(TWILL_SCHED_STEALING, TWILL_IDLE_DEFAULT, rounds);
    bad |= run_rounds(TWILL_SCHED_STEALING, TWILL_IDLE_PARK, rounds / 4);
    bad |= run_rounds(TWILL_SCHED_CENTRAL, TWILL_IDLE_DEFAULT, rounds / 4);
    bad |= run_rounds(TWILL_SCHED_CENTRAL, TWILL_IDLE_PARK, rounds / 8);
    printf("park stress: %s\n", bad ? "FAILED" : "OK");
    return bad;
}

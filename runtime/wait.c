/*
 * wait.c — the one helping wait (see wait.h).
 *
 * A worker that waits keeps its core busy with other tasks: it asks the
 * scheduler for work (for a join, the thief first: what the thief has
 * queued is part of b, so stealing it back keeps our stack bounded by the
 * recursion depth, "leapfrogging") and runs it.  After TWILL__WAIT_SPINS
 * failed attempts it naps on the word for at most TWILL__WAIT_NAP_NS,
 * then looks again: new work may exist that nobody told it about, since a
 * waiter is not a parked worker.  Beyond TWILL__HELP_DEPTH nested waits it
 * helps only with what it may depend on (TWILL__FIND_OWN) and naps at once
 * when there is none, which bounds its stack.  Under isolation (w->iso,
 * sched.h) it helps only with records of its tag, and naps the same way
 * when there are none.  A thread that is not a worker of the pool sleeps
 * on the word until the last finisher wakes it; a worker of another pool
 * publishes its private work first (twill__sched_before_blocking).  A
 * traced worker records the wait as one span (trace.h); the tasks it runs
 * meanwhile are spans inside it.
 *
 * Who may call what: see wait.h.
 */
#include "wait.h"

#include <sched.h>

/* Failed help attempts before a helping waiter naps: ~100 us of looking. */
#define TWILL__WAIT_SPINS 2048
/* Longest nap of a helping waiter. */
#define TWILL__WAIT_NAP_NS 1000000

/* A restricted look: nested deeply (TWILL__FIND_OWN), or isolated. */
static TWILL_COLD bool find_restricted(twill__worker *w, const twill__want *want,
                                       twill__found *f)
{
    twill__want own = *want;
    if (w->waits > TWILL__HELP_DEPTH)
        own.mode = TWILL__FIND_OWN;
    return w->iso != 0 ? twill__sched_find_iso(w, &own, f) : twill__sched_find(w, &own, f);
}

static bool help(twill__worker *w, const twill__want *want)
{
    twill__found f;
    if (!(twill_likely(twill__help_plain(w)) ? twill__sched_find(w, want, &f)
                                             : find_restricted(w, want, &f)))
        return false;
    twill__run_found(w, &f);
    return true;
}

int twill__wait(twill__worker *w, _Atomic uint32_t *word, int64_t timeout_ns,
                const twill__want *want)
{
    int64_t deadline = timeout_ns > 0 ? twill__deadline(timeout_ns) : 0;
    int misses = 0, rc = 0;
    twill__trace_span traced = {0, 0};
    if (w != NULL) {
        TWILL_ASSERT(twill__self() == w && w->waits < UINT32_MAX);
        w->waits++;
        traced = twill__trace_begin(w->trace, TWILL__TR_WAIT);
    } else if (!twill__completed(word)) {
        twill__sched_before_blocking(); /* perhaps a worker of another pool */
    }
    while (!twill__completed(word)) {
        int64_t left = -1;
        if (timeout_ns >= 0) {
            left = timeout_ns == 0 ? 0 : deadline - twill__now_ns();
            if (left <= 0) {
                rc = ETIMEDOUT;
                break;
            }
        }
        if (w != NULL) {
            if (help(w, want)) {
                misses = 0;
                continue;
            }
            if (++misses < TWILL__WAIT_SPINS && w->waits <= TWILL__HELP_DEPTH)
                continue;
            misses = 0;
            if (left < 0 || left > TWILL__WAIT_NAP_NS)
                left = TWILL__WAIT_NAP_NS;
        }
        twill__completion_sleep(word, left);
    }
    if (w != NULL) {
        /* the thief asked first, + 1 (0: none) */
        twill__trace_end(w->trace, &traced, TWILL__TRE_WAIT,
                         want->mode == TWILL__FIND_HELP ? (uint64_t)(want->victim + 1) : 0, 0);
        w->waits--;
    }
    return rc;
}

int twill__wait_lock(twill_pool *pool, twill__worker *w)
{
    static const twill__want help_any = {TWILL__FIND_HELP, -1, NULL};
    /* Under isolation w cannot run its mailbox share (sched.h), so it could
       wait for itself. */
    if (w != NULL && w->iso != 0)
        return EDEADLK;
    if (w == NULL) {
        twill__sched_before_blocking(); /* perhaps a worker of another pool */
        pthread_mutex_lock(&pool->shutdown_lock);
    } else {
        /* A draining shutdown holds the lock until this worker exits, so
           the state is checked on every round.  acquire: pairs with
           shutdown's store of state.  Posts happen under the lock only, so
           an empty mailbox seen with the lock held stays empty.  Nor does
           it hold the lock with private group tasks (a task run here may
           leave them): a holder may wait for other workers, whose tasks
           may wait for those; the find runs them first. */
        for (;;) {
            if (pthread_mutex_trylock(&pool->shutdown_lock) == 0) {
                if (!twill__mailbox_full(w) && twill__sched_holds_none(w))
                    break;
                pthread_mutex_unlock(&pool->shutdown_lock);
            }
            if (atomic_load_explicit(&pool->state, memory_order_acquire) != TWILL__RUNNING)
                return ESHUTDOWN;
            twill__found f;
            if (twill__sched_find(w, &help_any, &f)) /* our share first */
                twill__run_found(w, &f);
            else
                sched_yield();
        }
    }
    /* Under the lock, which shutdown holds when it stores the state, so
       relaxed is enough. */
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != TWILL__RUNNING || pool->joined) {
        pthread_mutex_unlock(&pool->shutdown_lock);
        return ESHUTDOWN;
    }
    return 0;
}

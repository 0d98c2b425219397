/*
 * broadcast.c — twill_broadcast: run fn(arg) once on every worker of a
 * pool and wait for all of them.
 *
 * Design.  Every worker has a one-slot mailbox (sched.h).  The broadcaster
 * builds one job (kind BCAST, on its stack) with a completion word that
 * counts the shares, stores a pointer to it in every worker's mailbox, and
 * wakes every worker (ops->wake_all).  A worker takes its mailbox before any
 * other work, wherever it looks for work (twill__sched_find: the worker
 * loop, helping waits, idle spinning), in job.c's poll (every
 * TWILL__POLL_EVERY tasks, so a worker deep in a join tree answers too),
 * and in the park re-check of each policy; a worker busy in one long task
 * runs its share when that task returns.  The broadcaster then waits on
 * the word with the one helping wait: a worker of the pool runs its own
 * share (its mailbox) and helps; another thread sleeps.
 *
 * Serialisation.  One broadcast at a time per pool, under the pool's
 * shutdown_lock: so a mailbox has one slot, and no shutdown starts while
 * shares are pending (no share is ever discarded or left behind by an
 * exiting worker).  A worker of the pool never blocks on that lock: it
 * tries it and, while another broadcast holds it, runs its own share of
 * that one and helps.  Rejected: a per-worker queue of broadcasts (no lock,
 * but an unbounded queue or a full-queue path) and one job per worker in
 * the deques (a thief could run another worker's share).
 *
 * A broadcast from inside a share, or from a task run while its worker
 * waits for a broadcast, would wait for itself: EDEADLK.
 *
 * Who may call what: twill_broadcast from any thread.
 */
#include "job.h"
#include "wait.h"

#include <sched.h>

static const twill__want help_any = {TWILL__FIND_HELP, -1, NULL};

/* Take the pool's broadcast lock: 0 (held), or ESHUTDOWN (not held). */
static int lock_pool(twill_pool *pool, twill__worker *w)
{
    if (w == NULL) {
        pthread_mutex_lock(&pool->shutdown_lock);
    } else {
        /* A worker keeps answering the broadcast in flight while it waits
           for the lock; a draining shutdown holds the lock until this
           worker exits, so the state is checked on every round.  acquire:
           pairs with shutdown's store of state. */
        while (pthread_mutex_trylock(&pool->shutdown_lock) != 0) {
            if (atomic_load_explicit(&pool->state, memory_order_acquire) != TWILL__RUNNING)
                return ESHUTDOWN;
            twill__found f;
            if (twill__sched_find(w, &help_any, &f))
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

int twill_broadcast(twill_pool *pool, twill_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL)
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    twill__worker *w = twill__self_in(pool);
    if (w != NULL && w->broadcasts != 0)
        return EDEADLK;
    rc = lock_pool(pool, w);
    if (rc != 0)
        return rc;
    twill__bcast_ctl ctl;
    atomic_init(&ctl.done, pool->nworkers);
    atomic_init(&ctl.first_error, 0);
    const twill__job job = {.fn = fn, .arg = arg, .ctl = &ctl, .kind = TWILL__JOB_BCAST};
    for (unsigned i = 0; i < pool->nworkers; i++) {
        /* every mailbox is empty: the previous broadcast took them all */
        TWILL_ASSERT(atomic_load_explicit(&pool->workers[i].mailbox, memory_order_relaxed) == NULL);
        /* release: pairs with the owner's acquire exchange in
           twill__mailbox_take (the job and ctl are visible to it). */
        atomic_store_explicit(&pool->workers[i].mailbox, &job, memory_order_release);
    }
    pool->ops->wake_all(pool); /* sleepers re-check their mailbox */
    if (w != NULL)
        w->broadcasts++;
    twill__wait(w, &ctl.done, -1, w != NULL ? &help_any : NULL);
    if (w != NULL)
        w->broadcasts--;
    pthread_mutex_unlock(&pool->shutdown_lock);
    /* relaxed: the shares' finishes released it to our wait's acquire. */
    return atomic_load_explicit(&ctl.first_error, memory_order_relaxed);
}

/*
 * broadcast.c — twill_broadcast: run fn(arg) once on every worker of a
 * pool and wait for all of them.
 *
 * Design.  Every worker has a one-slot mailbox (sched.h).  The broadcaster
 * builds one job (kind BCAST, on its stack) with a completion word that
 * counts the shares, stores a pointer to it in every worker's mailbox, and
 * wakes every worker (ops->wake_all) and trips their joins
 * (twill__sched_trip).  A worker takes its mailbox before any other work,
 * wherever it looks for work (twill__sched_find: the worker loop, helping
 * waits, idle spinning), in job.c's poll (at the next join after the trip,
 * and every TWILL__POLL_EVERY tasks or TWILL__POS_SLOT inline join halves,
 * so a worker deep in a join tree answers too),
 * and in the park re-check of each policy; a worker busy in one long task
 * runs its share when that task returns.  The broadcaster then waits on
 * the word with the one helping wait: a worker of the pool runs its own
 * share (its mailbox) and helps; another thread sleeps.
 *
 * Serialisation.  A mailbox has one slot, so broadcasts on one pool post
 * one at a time: under the pool's shutdown_lock, a broadcaster waits until
 * every mailbox is empty (each worker has taken its share of the previous
 * broadcast, not necessarily finished it), posts, and unlocks before it
 * waits for its shares.  Posting under that lock, with the state checked
 * there, orders every post before any shutdown's state change, so a
 * worker that sees `closing` also sees its full mailbox and runs its share
 * before it exits (both policies re-check the mailbox before they stop).
 * The lock is never held while waiting for a share to finish, so a share
 * or a task run while helping may broadcast again.  A worker of the pool
 * never blocks on the lock: it tries it and meanwhile runs its own share
 * of the broadcast in flight and helps; it holds the lock only with its
 * own mailbox empty, and runs nothing while it holds it (a task run there
 * could broadcast and wait for the lock held below it on the same stack).  Rejected: holding the lock until
 * the shares finish (a task a helping broadcaster runs cannot broadcast:
 * deadlock); a per-worker queue of broadcasts (an unbounded queue or a
 * full-queue path); one job per worker in the deques (a thief could run
 * another worker's share).
 *
 * Who may call what: twill_broadcast from any thread.
 */
#include "job.h"
#include "wait.h"

#include <sched.h>

static const twill__want help_any = {TWILL__FIND_HELP, -1, NULL};

/* Lock held: wait until every worker has taken its share of the previous
   broadcast (ours is taken: twill__wait_lock).  Nothing runs here, since a task or
   share run under the lock could broadcast and wait for this very lock;
   the previous broadcast woke every worker, so the wait lasts at most the
   longest task running when it was posted. */
static void wait_mailboxes_empty(twill_pool *pool)
{
    for (unsigned i = 0, n = twill__pool_nworkers(pool); i < n; i++)
        /* relaxed: only emptiness matters; the owner's exchange is what
           hands the job over, and our next post is a release store. */
        while (atomic_load_explicit(&pool->workers[i].mailbox, memory_order_relaxed) != NULL)
            sched_yield();
}

int twill_broadcast(twill_pool *pool, twill_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL)
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    twill__worker *w = twill__self_in(pool);
    rc = twill__wait_lock(pool, w);
    if (rc != 0)
        return rc;
    twill__bcast_ctl ctl;
    /* The size cannot change while we hold the lock (elastic.c). */
    unsigned n = twill__pool_nworkers(pool);
    atomic_init(&ctl.done, n);
    atomic_init(&ctl.first_error, 0);
    const twill__job job = {.fn = fn, .arg = arg, .ctl = &ctl, .kind = TWILL__JOB_BCAST};
    wait_mailboxes_empty(pool);
    for (unsigned i = 0; i < n; i++) {
        TWILL_ASSERT(atomic_load_explicit(&pool->workers[i].mailbox, memory_order_relaxed) == NULL);
        /* release: pairs with the owner's acquire exchange in
           twill__mailbox_take (the job and ctl are visible to it). */
        atomic_store_explicit(&pool->workers[i].mailbox, &job, memory_order_release);
    }
    pool->ops->wake_all(pool); /* sleepers re-check their mailbox */
    twill__sched_trip(pool);   /* busy workers, at their next join */
    pthread_mutex_unlock(&pool->shutdown_lock);
    twill__wait(w, &ctl.done, -1, w != NULL ? &help_any : NULL);
    /* relaxed: the shares' finishes released it to our wait's acquire. */
    return atomic_load_explicit(&ctl.first_error, memory_order_relaxed);
}

/*
 * elastic.c — starting worker threads and changing how many run (see
 * elastic.h).
 *
 * Slots.  pool->workers has TWILL_MAX_WORKERS slots, zeroed lazily.
 * Worker i's slot is set up when it first starts and kept after it leaves:
 * its counters stay in the totals, its deque stays (empty) for thieves
 * that still hold its id in a stale victim order, and a later worker i
 * reuses it.  Ids stay 0..size-1: workers start at the top (id = size)
 * and leave from the top (worker.c).
 *
 * Every change of size happens under shutdown_lock: a start here, a
 * leaving worker's step down (worker.c).  So a broadcast (which posts
 * under that lock) sees a size that holds until it has posted, and a
 * shutdown (which changes the state under it) sees no size change while
 * it terminates the pool: termination counts idle workers against size.
 *
 * twill_pool_resize: growing starts the new workers under shutdown_lock.
 * Shrinking sets leave_from (the new size) under it, wakes every worker
 * and waits, without the lock, until size has come down: each surplus
 * worker leaves between tasks, highest first, after handing its queued
 * tasks over.  Then it joins their threads.  Resizes count themselves in
 * `resizes`; the last one wins, and a shrink that a later resize overtakes
 * stops waiting.
 *
 * Elastic growth: an outside submitter that queued a job while no worker
 * is idle (ops->starved) starts one more worker, up to max_workers; only
 * with trylock, so a submitter never waits for a resize or a shutdown.
 */
#include "elastic.h"

#include <limits.h>

#include "job.h"
#include "os.h"
#include "wait.h"
#include "worker.h"

/* Worker stack: 8 MiB, enough for a 10,000-deep join or group chain with
   room to spare (~300 bytes a level when optimised); only touched pages are
   committed.  AddressSanitizer's redzones and unoptimised frames take
   several times more, so its builds get four times the stack. */
#if defined(__SANITIZE_ADDRESS__)
#define TWILL__WORKER_STACK ((size_t)32 << 20)
#else
#define TWILL__WORKER_STACK ((size_t)8 << 20)
#endif

/* shutdown_lock held (or the creator): join worker i's thread if it has
   one that was not joined (it has left or stopped). */
static void join_slot(twill_pool *pool, unsigned i)
{
    twill__worker *w = &pool->workers[i];
    if (w->has_thread) {
        pthread_join(w->thread, NULL);
        w->has_thread = false;
    }
}

void twill__workers_join(twill_pool *pool)
{
    for (unsigned i = 0, n = atomic_load_explicit(&pool->slots, memory_order_relaxed); i < n; i++)
        join_slot(pool, i);
}

/* shutdown_lock held (or the creator): start worker `size`.  Its slot is
   set up (and published through `slots`, release: the parking re-check
   reads its deque) before size counts it, and size before its thread
   runs.  0, ENOMEM or EAGAIN (size unchanged). */
static int start_one(twill_pool *pool)
{
    unsigned i = atomic_load_explicit(&pool->size, memory_order_relaxed);
    twill__worker *w = &pool->workers[i];
    join_slot(pool, i); /* a worker i that left earlier */
    if (i == atomic_load_explicit(&pool->slots, memory_order_relaxed)) {
        w->pool = pool;
        w->id = i;
    }
    if (pool->trace != NULL && (w->trace = twill__trace_ring_for(pool->trace, i)) == NULL)
        return ENOMEM;
    int rc = pool->ops->add_worker(pool, i);
    if (rc != 0)
        return rc;
    if (i == atomic_load_explicit(&pool->slots, memory_order_relaxed))
        atomic_store_explicit(&pool->slots, i + 1, memory_order_release);
    twill__sched_fast_reset(w);
    /* release: pairs with the acquire loads of size and size_gen (victim
       orders, twill_pool_size). */
    atomic_store_explicit(&pool->size, i + 1, memory_order_release);
    atomic_fetch_add_explicit(&pool->size_gen, 1, memory_order_release);
    atomic_fetch_add_explicit(&pool->starting, 1, memory_order_relaxed);
    pthread_attr_t attr;
    rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setstacksize(&attr, TWILL__WORKER_STACK);
        rc = pthread_create(&w->thread, &attr, twill__worker_main, w);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        atomic_fetch_sub_explicit(&pool->starting, 1, memory_order_relaxed);
        atomic_store_explicit(&pool->size, i, memory_order_release);
        atomic_fetch_add_explicit(&pool->size_gen, 1, memory_order_release);
        return EAGAIN;
    }
    w->has_thread = true;
    return 0;
}

int twill__workers_start(twill_pool *pool, unsigned n)
{
    int rc = 0;
    while (rc == 0 && atomic_load_explicit(&pool->size, memory_order_relaxed) < n)
        rc = start_one(pool);
    return rc;
}

/* An outside job is queued: start one more worker if none is idle. */
static TWILL_COLD void grow(twill_pool *pool)
{
    /* relaxed: a hint (see starting). */
    if (atomic_load_explicit(&pool->starting, memory_order_relaxed) != 0 ||
        !pool->ops->starved(pool) || pthread_mutex_trylock(&pool->shutdown_lock) != 0)
        return;
    /* Under the lock: the state, size, max_workers and leave_from hold. */
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) == TWILL__RUNNING &&
        !pool->joined &&
        atomic_load_explicit(&pool->leave_from, memory_order_relaxed) == UINT32_MAX &&
        atomic_load_explicit(&pool->size, memory_order_relaxed) <
            atomic_load_explicit(&pool->max_workers, memory_order_relaxed) &&
        pool->ops->starved(pool))
        (void)start_one(pool); /* no thread now: the next submit tries again */
    pthread_mutex_unlock(&pool->shutdown_lock);
}

/* An outside job is queued: on an elastic pool below its maximum, grow.
   relaxed: hints, re-checked under the lock (grow); one load and a
   compare on a fixed-size pool. */
static inline void queued_outside(twill_pool *pool)
{
    if (twill_unlikely(atomic_load_explicit(&pool->size, memory_order_relaxed) <
                       atomic_load_explicit(&pool->max_workers, memory_order_relaxed)))
        grow(pool);
}

/* An outside submit that may wait (timeout_ns != 0) and found its queue
   full, begun at t0 (the trace's clock).  Only a submitter that may wait
   counts itself in submitters, which lets destroy wait for those that
   shutdown woke
   (relaxed in, release out: pairs with destroy's acquire, so our last
   touch of the pool, growing included, precedes its free); one that
   never waits is in flight only while its caller races destroy, which
   twill.h forbids.  A worker of another pool publishes its private work
   before it waits (sched.h). */
static TWILL_COLD int submit_wait(twill_pool *pool, twill_prio prio, const twill__job *job,
                                  int64_t timeout_ns, int64_t t0)
{
    atomic_fetch_add_explicit(&pool->submitters, 1, memory_order_relaxed);
    twill__sched_before_blocking();
    int rc = twill__submit_outside(pool, prio, job, timeout_ns);
    twill__trace_outside(pool->trace, job->fn, t0, rc);
    if (rc == 0)
        queued_outside(pool);
    atomic_fetch_sub_explicit(&pool->submitters, 1, memory_order_release);
    return rc;
}

/* An outside submit on a traced pool, or at another level than NORMAL. */
static TWILL_COLD int submit_other(twill_pool *pool, twill_prio prio, const twill__job *job,
                                   int64_t timeout_ns)
{
    int64_t t0 = twill__trace_clock(pool->trace);
    /* First without waiting, as the NORMAL path below. */
    int rc = twill__submit_outside(pool, prio, job, 0);
    if (rc == EAGAIN && timeout_ns != 0)
        return submit_wait(pool, prio, job, timeout_ns, t0);
    twill__trace_outside(pool->trace, job->fn, t0, rc);
    if (rc == 0)
        queued_outside(pool);
    return rc;
}

int twill__submit(twill_pool *pool, twill_prio prio, const twill__job *job, int64_t timeout_ns)
{
    twill__worker *w = twill__self_in(pool);
    if (w != NULL)
        return twill__submit_inside(w, prio, job);
    if (twill_unlikely(pool->trace != NULL || prio != TWILL_PRIO_NORMAL))
        return submit_other(pool, prio, job, timeout_ns);
    /* First without waiting: a queue with room takes the job in one push
       (NORMAL is the policy's own queue), and nothing of the pool is
       written; only a full one sends us to the waiting path. */
    int rc = pool->ops->submit(pool, job, 0);
    if (twill_likely(rc == 0)) {
        queued_outside(pool);
        return 0;
    }
    return rc == EAGAIN && timeout_ns != 0 ? submit_wait(pool, prio, job, timeout_ns, 0) : rc;
}

/* Wait without any lock until size is at most n, or a later resize took
   over (resizes moved past seq), or the pool stops running (a shutdown
   keeps every worker until termination).  The leaving workers wake us
   through the futex on size; the bounded sleep re-reads the rest.
   acquire: pairs with their release store of size. */
static int wait_size(twill_pool *pool, unsigned n, uint32_t seq)
{
    for (;;) {
        uint32_t s = atomic_load_explicit(&pool->size, memory_order_acquire);
        if (s <= n || atomic_load_explicit(&pool->resizes, memory_order_relaxed) != seq)
            return 0;
        if (atomic_load_explicit(&pool->state, memory_order_acquire) != TWILL__RUNNING)
            return ESHUTDOWN;
        twill__futex_wait(&pool->size, s, 1000000);
    }
}

int twill_pool_resize(twill_pool *pool, unsigned workers)
{
    if (pool == NULL || workers < 1 || workers > TWILL_MAX_WORKERS)
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    twill__worker *self = twill__self_in(pool);
    rc = twill__wait_lock(pool, self);
    if (rc != 0)
        return rc;
    unsigned old = atomic_load_explicit(&pool->size, memory_order_relaxed);
    if (self != NULL && workers < old) {
        /* it would wait for itself, or for a worker that waits on it */
        pthread_mutex_unlock(&pool->shutdown_lock);
        return EDEADLK;
    }
    uint32_t seq = atomic_load_explicit(&pool->resizes, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->resizes, seq, memory_order_relaxed);
    atomic_store_explicit(&pool->base, workers, memory_order_relaxed);
    if (atomic_load_explicit(&pool->max_workers, memory_order_relaxed) < workers)
        atomic_store_explicit(&pool->max_workers, workers, memory_order_relaxed);
    /* relaxed: read by the workers between tasks as a request; the
       wake-up that follows (a fence, then a claim of every sleeper's
       word, park.c) makes a parked one see it. */
    atomic_store_explicit(&pool->leave_from, workers < old ? workers : UINT32_MAX,
                          memory_order_relaxed);
    if (workers >= old) {
        rc = twill__workers_start(pool, workers);
        pthread_mutex_unlock(&pool->shutdown_lock);
        return rc;
    }
    pool->ops->wake_all(pool);
    pthread_mutex_unlock(&pool->shutdown_lock);
    rc = wait_size(pool, workers, seq); /* a worker of another pool published in wait_lock */
    if (twill__wait_lock(pool, NULL) == 0) {
        if (atomic_load_explicit(&pool->resizes, memory_order_relaxed) == seq)
            atomic_store_explicit(&pool->leave_from, UINT32_MAX, memory_order_relaxed);
        /* the threads of the workers that left (a later resize may have
           started some slots again: those below size stay) */
        for (unsigned i = atomic_load_explicit(&pool->size, memory_order_relaxed); i < old; i++)
            join_slot(pool, i);
        pthread_mutex_unlock(&pool->shutdown_lock);
    }
    return rc;
}

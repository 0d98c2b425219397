/*
 * elastic.h — starting worker threads, and changing how many run: the
 * pool's start (pool.c), twill_pool_resize, and elastic growth while
 * outside work waits (elastic.c).  Leaving is the worker's own step
 * (worker.c).
 *
 * Who may call what: twill__workers_start from the pool creator;
 * twill__workers_join with shutdown_lock held (or from the creator);
 * twill__submit from any thread.
 */
#ifndef TWILL_ELASTIC_H
#define TWILL_ELASTIC_H

#include "sched.h"

/* Start workers until n run.  0, ENOMEM or EAGAIN (a thread could not be
   started: those started so far keep running; the caller stops them). */
int twill__workers_start(twill_pool *pool, unsigned n);

/* Join every worker thread not joined yet (after they were told to stop,
   or after they left). */
void twill__workers_join(twill_pool *pool);

/* Any thread: take job for pool (twill_submit_prio, twill_run, group
   spawns).  From one of its workers: that worker's queues, never blocking;
   from elsewhere: the outside queue of its level, waiting as timeout_ns
   says, and then, on an elastic pool below its maximum, one more worker
   when no worker is idle.  The return codes of twill_submit_for. */
int twill__submit(twill_pool *pool, twill_prio prio, const twill__job *job, int64_t timeout_ns);

#endif /* TWILL_ELASTIC_H */

/*
 * wait.h — the one helping wait: wait until a completion word
 * (completion.h) reads done, helping run tasks when the caller is a worker,
 * sleeping on the word otherwise.  Used by twill_join (a stolen half),
 * group waits, twill_run and, through them, the loops.
 *
 * Who may call what: the one thread that waits on the word.
 */
#ifndef TWILL_WAIT_H
#define TWILL_WAIT_H

#include "job.h"

/* Wait for *word.  w: the calling worker of the pool the word's work runs
   on (it helps), or NULL (it sleeps).  want: what helping looks for first
   (its mode is raised to TWILL__FIND_OWN once waits nest deeply); NULL
   when w is NULL.  timeout_ns: < 0 no limit, 0 check once, > 0 at most
   that long (a helping wait may overshoot by one task it ran).
   0 once done, else ETIMEDOUT. */
int twill__wait(twill__worker *w, _Atomic uint32_t *word, int64_t timeout_ns,
                const twill__want *want);

/* Take pool->shutdown_lock: 0 (held), or ESHUTDOWN (not held: the pool
   no longer runs).  w: the calling worker of that pool, or NULL.  The
   holders of that lock (broadcast posts, resizing, leaving, shutdown) may
   wait for every worker to answer its broadcast mailbox, so a worker never
   blocks on it: it tries it and meanwhile runs its own mailbox share and
   whatever else it finds.  It holds the lock only with its mailbox empty
   and no private group task (twill__sched_holds_none).  A thread that is
   no worker of the pool blocks on it, a worker of another pool after
   publishing its private work (twill__sched_before_blocking).
   EDEADLK (not held) when w runs under isolation (sched.h): it may not
   run its share there, so a broadcast in flight could wait for it. */
int twill__wait_lock(twill_pool *pool, twill__worker *w);

#endif /* TWILL_WAIT_H */

/*
 * job.h — what running, finishing and discarding a job of each kind means
 * (job.c), and the poll that keeps outside jobs from waiting behind a long
 * stream of local work.  The group's control block that group jobs account
 * to is task.h's.
 *
 * Who may call what: on worker w itself, except twill__discard_job (any
 * thread, w NULL off the pool's workers).
 */
#ifndef TWILL_JOB_H
#define TWILL_JOB_H

#include "sched.h"

/* Any thread.  Cancel g: tasks not yet started are discarded.  release:
   pairs with the acquire loads of cancelled before a task starts. */
static inline void twill__group_cancel(twill__group_ctl *g)
{
    atomic_store_explicit(&g->cancelled, true, memory_order_release);
}

/* One twill_broadcast (broadcast.c), on the broadcaster's stack: `done`
   is a completion word counting the shares still to run. */
typedef struct twill__bcast_ctl {
    _Atomic uint32_t done;
    _Atomic int first_error;        /* first nonzero share code; CAS from 0 */
} twill__bcast_ctl;

/* Take an outside job every this many tasks run, wherever they run, so an
   outside task waits behind at most this many local ones.  A power of two:
   the check is a mask of a counter.  The b halves that joins run inline
   are counted apart, in fast.pos; the inline path polls every
   TWILL__POS_SLOT (1024, twill.h) only: each poll there is a taken branch
   and a call out of the inline join, which every 64 halves cost fib(36)
   9% of its time at 1 worker (README "The inline join"), and a producer
   that finds no idle worker trips the joins instead (twill__sched_trip).
   Joins that take the cold path poll every 64 halves
   (twill__job_count_inline). */
#define TWILL__POLL_EVERY 64
/* Every this many polls of a worker (so every ~1024 tasks it runs) the poll
   starts a queued LOW task first: the bound against LOW's starvation while
   NORMAL work keeps arriving (twill.h). */
#define TWILL__LOW_EVERY 16

void twill__job_poll(twill__worker *w);

/* Worker w has just finished a task (its completion published): now and
   then, run an outside job that may be waiting. */
static inline void twill__job_tick(twill__worker *w)
{
    /* relaxed: our own counter. */
    if (twill_unlikely((atomic_load_explicit(&w->stats.tasks_run, memory_order_relaxed) &
                        (TWILL__POLL_EVERY - 1)) == 0))
        twill__job_poll(w);
}

/* Worker w of the pool: take job into w's own queue (NORMAL) or its
   level's queue; never blocks.  0, ESHUTDOWN (cancelling), ENOMEM. */
int twill__submit_inside(twill__worker *w, twill_prio prio, const twill__job *job);

/* A thread that is no worker of pool: take job into the outside queue of
   its level, waiting for space as timeout_ns says (twill_submit_for).
   A caller that may wait counts itself in pool->submitters (elastic.c's
   submit_blocking). */
int twill__submit_outside(twill_pool *pool, twill_prio prio, const twill__job *job,
                          int64_t timeout_ns);

/* Worker w, at a join's cold path (twill__sched_tripped) or before a
   private task of a group wait: start a queued HIGH task, unless w runs
   one taken here already or is nested too deeply (then the next find
   takes it). */
void twill__job_run_high(twill__worker *w);

/* Worker w, on a join's cold path: it runs the b half inline; count it as
   the inline path does (fast.pos's low bits), flush the count into the
   stats every TWILL__POS_SLOT-th time, and poll every TWILL__POLL_EVERY-th
   (so also at the TWILL__POS_SLOT-th, which the inline path sends here).
   A worker whose joins all come here (another policy, a traced pool)
   ignores trips (twill__sched_tripped), so this is its poll, as often as
   for other tasks; on an armed worker it is an occasional extra one. */
static inline void twill__job_count_inline(twill__worker *w)
{
    _Static_assert(TWILL__POS_SLOT % TWILL__POLL_EVERY == 0, "the slot's last half polls");
    uint64_t n = TWILL__POS_COUNT(w->fast.pos) + 1;
    if (twill_unlikely(n == TWILL__POS_SLOT)) {
        w->fast.pos -= TWILL__POS_SLOT - 1;
        TWILL__COUNT(w, joins_inline, TWILL__POS_SLOT);
    } else {
        w->fast.pos++;
    }
    if (twill_unlikely(n % TWILL__POLL_EVERY == 0))
        twill__job_poll(w);
}

/* Worker w, whose pool traces: run fn(arg), a task of job kind `kind`,
   recorded with its start and duration; returns its code.  Counting it is
   the caller's. */
int twill__job_run_timed(twill__worker *w, twill_fn fn, void *arg, unsigned kind);

/* Owner only.  Wrap a job in a record and push it.  0 or ENOMEM. */
int twill__push_job(twill__worker *w, const twill__job *job);
void twill__run_job(twill__worker *w, const twill__job *job);

/* Owner of g, outside isolation: run fn(arg), g's private task taken back
   from its private group stack by g's wait (group.c).  The fast path of
   twill__run_job for that TWILL__JOB_GPRIV job, inline in the wait's
   loop: what job.c's group case does (GROUP, GPRIV), where no trace can
   time it (an owner is untraced: sched.h) and neither the pool nor the
   group cancels; those cases take twill__run_job itself. */
static inline void twill__run_private(twill__worker *w, twill_fn fn, void *arg,
                                      twill__group_ctl *g)
{
    TWILL_ASSERT(w->iso == 0 && w->trace == NULL && &w->fast == g->owner);
    /* relaxed, acquire: as twill__run_job and its group case. */
    if (twill_unlikely(atomic_load_explicit(&w->pool->state, memory_order_relaxed) ==
                           TWILL__CANCELLING ||
                       atomic_load_explicit(&g->cancelled, memory_order_acquire))) {
        twill__job job = {.fn = fn, .arg = arg, .ctl = g, .kind = TWILL__JOB_GPRIV};
        twill__run_job(w, &job);
        return;
    }
    struct twill__group_head *outer = w->fast.group; /* twill_current_group, as job.c's call_as */
    w->fast.group = (struct twill__group_head *)g;
    int rc = fn(arg);
    w->fast.group = outer;
    twill__count_result(w, rc);
    if (twill_unlikely(rc != 0)) {
        twill__first_error(&g->first_error, rc); /* published by the token's finish */
        twill__group_cancel(g);
    }
    twill__group_private_done(g);
    twill__job_tick(w);
}
void twill__run_record(twill__worker *w, twill__task *t);
void twill__discard_job(twill_pool *pool, twill__worker *w, const twill__job *job);

static inline void twill__run_found(twill__worker *w, twill__found *f)
{
    if (f->rec != NULL)
        twill__run_record(w, f->rec);
    else
        twill__run_job(w, &f->job);
}

#endif /* TWILL_JOB_H */

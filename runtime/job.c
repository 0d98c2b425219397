/*
 * job.c — what running, finishing and discarding a job of each kind means:
 *   PLAIN  run it, count it;
 *   GROUP  skip it (discard) if its group was cancelled; a nonzero code is
 *          the group's first error and cancels it; finish one of `pending`;
 *   GPRIV  a group task from its owner's private group stack: as GROUP,
 *          but one of the owner's `priv` (task.h);
 *   RUN    hand the code to twill_run's waiter and finish its word;
 *   JOIN   the b half of a join: always runs (even when cancelling: it is
 *          part of a running task), result to the joiner, finish its word;
 *   BCAST  a worker's share of twill_broadcast, from its mailbox: always
 *          runs, first error to the broadcaster, finish its word; also
 *          taken by the poll, so a worker deep in a join tree runs it.
 * A discarded job calls the pool's discard hook, is counted, and finishes
 * its waiter's word (a skipped group task, ECANCELED for twill_run).
 * When the pool traces, every job's function runs through call(), which
 * records it as a task event of its kind (trace.h); untraced, call() is
 * one test of w->trace.  Outside submissions are recorded on the outside
 * track by twill__submit (elastic.c).
 * While a job runs, the worker's `group` names its group (NULL for the
 * other kinds): twill_current_group.
 *
 * The poll.  Every TWILL__POLL_EVERY tasks run on a worker (counted where
 * they run: the worker loop, a helping wait; a join's inline halves apart,
 * every TWILL__POS_SLOT of them), the
 * worker runs one outside job if one waits, so a worker deep in a single
 * join tree still starts outside work.  The job runs on the worker's stack
 * at that point, like work a helping wait runs; polls do not nest, but a
 * HIGH task may start inside a polled job (twill__job_run_high).  Under
 * isolation (w->iso, sched.h) there is no poll: nothing without the tag
 * may run on that stack.
 *
 * Who may call what: see job.h.
 */
#include "job.h"

#include <stdlib.h>

TWILL_COLD void twill__job_poll(twill__worker *w)
{
    twill__job job;
    const twill__sched_ops *ops = w->pool->ops;
    twill__found f;
    /* Under isolation nothing without our tag runs here (sched.h): no
       share, no LOW or outside job. */
    if (!w->polling && twill_unlikely(twill__mailbox_full(w)) && w->iso == 0 &&
        twill__mailbox_take(w, &f)) {
        /* a broadcast share waits: a worker deep in a join tree runs it here */
        w->polling = true;
        twill__run_job(w, &f.job);
        w->polling = false;
    }
    if (w->polling || !twill__help_plain(w))
        return;
    if (twill_unlikely(++w->polls % TWILL__LOW_EVERY == 0)) {
        twill__task *low = twill__sched_take_level(w, &w->pool->low);
        if (low != NULL) {
            w->polling = true;
            twill__run_record(w, low);
            w->polling = false;
            return;
        }
    }
    if (!ops->take_outside(w, &job))
        return;
    w->polling = true;
    twill__run_job(w, &job);
    w->polling = false;
}

/* Run one queued HIGH task here, on this stack: also inside a job a poll
   took (one level more), so that a HIGH task does not wait behind such a
   job's joins and group waits.  They do not nest (inside one the next
   find takes the next, or another worker does), no poll runs inside one,
   and a deep helping wait leaves it to others. */
TWILL_COLD void twill__job_run_high(twill__worker *w)
{
    if (w->in_high || !twill__help_plain(w)) /* also under isolation (sched.h) */
        return;
    twill__task *t = twill__sched_take_level(w, &w->pool->high);
    if (t == NULL)
        return;
    bool polling = w->polling;
    w->in_high = w->polling = true;
    twill__run_record(w, t);
    w->in_high = false;
    w->polling = polling;
}

/* The queue of a non-NORMAL level. */
static twill__prioq *level_queue(twill_pool *pool, twill_prio prio)
{
    return prio == TWILL_PRIO_HIGH ? &pool->high : &pool->low;
}

/* Worker w: a HIGH or LOW task into its level's queue; never blocks. */
static int push_level(twill__worker *w, twill_prio prio, const twill__job *job)
{
    twill__task *t = twill__task_alloc(&w->free);
    if (t == NULL)
        return ENOMEM;
    t->job = *job;
    TWILL__COUNT(w, spawns, 1);
    twill__prioq_push(level_queue(w->pool, prio), t);
    if (prio == TWILL_PRIO_HIGH)
        twill__sched_trip(w->pool);
    w->pool->ops->wake_one(w->pool, TWILL__WAKE_ELSEWHERE);
    return 0;
}

int twill__job_run_timed(twill__worker *w, twill_fn fn, void *arg, unsigned kind)
{
    twill__trace_span s = twill__trace_enter(w->trace, TWILL__TR_RUN);
    int rc = fn(arg);
    twill__trace_leave(w->trace, &s, TWILL__TRE_TASK, kind, (uint64_t)(uintptr_t)fn, rc != 0);
    return rc;
}

/* Run the job's function: one test when the pool does not trace. */
static inline int call(twill__worker *w, const twill__job *job)
{
    if (twill_likely(w->trace == NULL))
        return job->fn(job->arg);
    return twill__job_run_timed(w, job->fn, job->arg, job->kind);
}

int twill__push_job(twill__worker *w, const twill__job *job)
{
    twill__task *t = twill__task_alloc(&w->free);
    if (t == NULL)
        return ENOMEM;
    t->job = *job;
    if (twill_unlikely(twill__sched_push(w, t) != 0)) {
        twill__task_free(&w->free, t);
        return ENOMEM;
    }
    return 0;
}

int twill__submit_inside(twill__worker *w, twill_prio prio, const twill__job *job)
{
    int rc = twill__accepts_inside(w->pool);
    if (rc != 0)
        return rc;
    twill__job j = *job;
    if (j.iso == 0) /* no tag of its own: the spawner's (sched.h, "Isolation") */
        j.iso = w->iso;
    return prio == TWILL_PRIO_NORMAL ? twill__push_job(w, &j) : push_level(w, prio, &j);
}

int twill__submit_outside(twill_pool *pool, twill_prio prio, const twill__job *job,
                          int64_t timeout_ns)
{
    if (prio == TWILL_PRIO_NORMAL)
        return pool->ops->submit(pool, job, timeout_ns);
    int rc = twill__prioq_submit(level_queue(pool, prio), job, timeout_ns);
    if (rc == 0) {
        if (prio == TWILL_PRIO_HIGH)
            twill__sched_trip(pool);
        pool->ops->wake_one(pool, twill__job_wake_pref(job, true));
    }
    return rc;
}

/* A group task of job kind `kind` (GROUP or GPRIV) of g ended (ran or was
   discarded): one less in its count, pending or the owner's priv
   (task.h).  After this the group may be gone. */
static inline void group_task_ended(uint32_t kind, twill__group_ctl *g)
{
    if (kind == TWILL__JOB_GPRIV)
        twill__group_private_done(g);
    else
        twill__finish(&g->pending);
}

void twill__discard_job(twill_pool *pool, twill__worker *w, const twill__job *job)
{
    if (pool->discard != NULL)
        pool->discard(job->fn, job->arg, pool->discard_ctx);
    if (w != NULL)
        TWILL__COUNT(w, tasks_discarded, 1);
    else
        atomic_fetch_add_explicit(&pool->outside_discards, 1, memory_order_relaxed);
    if (job->kind == TWILL__JOB_GROUP || job->kind == TWILL__JOB_GPRIV) {
        /* relaxed: read by the waiter after its acquire of pending. */
        atomic_store_explicit(&((twill__group_ctl *)job->ctl)->skipped, true,
                              memory_order_relaxed);
        group_task_ended(job->kind, job->ctl);
    } else if (job->kind == TWILL__JOB_RUN) {
        twill__run_ctl *rc = job->ctl;
        rc->result = ECANCELED;
        twill__finish(&rc->done);
    }
}

/* Call job's function as a task of group g (NULL: of none), which
   twill_current_group reports meanwhile; the caller's group comes back
   after, so a waiting task that ran this one sees its own again. */
static inline int call_as(twill__worker *w, twill__group_ctl *g, const twill__job *job)
{
    struct twill__group_head *outer = w->fast.group;
    w->fast.group = (struct twill__group_head *)g;
    int rc = call(w, job);
    w->fast.group = outer;
    return rc;
}

static void run_group_job(twill__worker *w, const twill__job *job)
{
    twill__group_ctl *g = job->ctl;
    /* acquire: pairs with the release store in twill_group_cancel. */
    if (atomic_load_explicit(&g->cancelled, memory_order_acquire)) {
        twill__discard_job(w->pool, w, job);
        return;
    }
    int rc = call_as(w, g, job);
    twill__count_result(w, rc);
    if (rc != 0) {
        /* published by the finish's release */
        twill__first_error(&g->first_error, rc);
        twill__group_cancel(g);
    }
    group_task_ended(job->kind, g);
}

/* One worker's share of a broadcast: never discarded (posted before any
   shutdown began, broadcast.c), not a task (not counted, no tick).  After the
   finish the control block (on the broadcaster's stack) may be gone. */
static void run_bcast_job(twill__worker *w, const twill__job *job)
{
    twill__bcast_ctl *b = job->ctl;
    int rc = call_as(w, NULL, job);
    if (rc != 0)
        twill__first_error(&b->first_error, rc); /* published by the finish's release */
    twill__finish(&b->done);
}

/* A job of another isolation tag than what runs on w now runs under its
   own (sched.h, "Isolation"): so do its spawns and its waits. */
static TWILL_COLD void run_isolated(twill__worker *w, const twill__job *job)
{
    twill__iso_ctx old = twill__iso_enter(w, job->iso);
    twill__run_job(w, job);
    twill__iso_leave(w, old);
}

void twill__run_job(twill__worker *w, const twill__job *job)
{
    if (twill_unlikely(!twill__job_plain(job))) {
        if (job->kind == TWILL__JOB_BCAST) {
            run_bcast_job(w, job);
            return;
        }
        if (job->iso != w->iso) {
            run_isolated(w, job);
            return;
        }
    }
    TWILL_ASSERT(job->iso == w->iso); /* an isolated context runs only its tag */
    /* relaxed: a task that starts just before a cancelling shutdown becomes
       visible runs, which is allowed (it was running "at" shutdown). */
    if (twill_unlikely(atomic_load_explicit(&w->pool->state, memory_order_relaxed) ==
                       TWILL__CANCELLING)) {
        /* relaxed: read by shutdown after joining the workers. */
        atomic_fetch_add_explicit(&w->pool->shutdown_discards, 1, memory_order_relaxed);
        twill__discard_job(w->pool, w, job);
        return;
    }
    switch (job->kind) {
    case TWILL__JOB_GROUP:
    case TWILL__JOB_GPRIV:
        run_group_job(w, job);
        break;
    case TWILL__JOB_RUN: {
        twill__run_ctl *rc = job->ctl;
        rc->result = call_as(w, NULL, job);
        twill__count_result(w, rc->result);
        twill__finish(&rc->done);
        break;
    }
    default:
        twill__count_result(w, call_as(w, NULL, job));
        break;
    }
    twill__job_tick(w);
}

/* A stolen (or leftover) join half: always runs, even when cancelling.
   After the finish the record (on the joiner's stack) may be gone. */
static void run_join_half(twill__worker *w, twill__task *t)
{
    int rc = call_as(w, NULL, &t->job);
    twill__count_result(w, rc);
    t->result = rc;
    twill__finish(&t->done);
    twill__job_tick(w);
}

void twill__run_record(twill__worker *w, twill__task *t)
{
    if (t->job.kind != TWILL__JOB_JOIN) {
        twill__job job = t->job;
        twill__task_free(&w->free, t); /* recycle before running: stays hot */
        twill__run_job(w, &job);
        return;
    }
    if (twill_unlikely(t->job.iso != 0) && t->job.iso != w->iso) { /* as run_isolated */
        twill__iso_ctx old = twill__iso_enter(w, t->job.iso);
        run_join_half(w, t);
        twill__iso_leave(w, old);
        return;
    }
    TWILL_ASSERT(t->job.iso == w->iso);
    run_join_half(w, t);
}

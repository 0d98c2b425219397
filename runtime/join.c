/*
 * join.c — twill_join: fork-join of two tasks.
 *
 * Fast path, inline in twill.h: the b half becomes a frame on the caller's
 * stack, pushed onto the worker's private stack (out of thieves' reach
 * until published; sched_steal.h); a runs; if b is still the private top
 * it is popped and called, counted in fast.pos's low bits.  No allocation,
 * lock, system call, fence or read-modify-write, and the compiler sees
 * both functions.  Here: the one external definition of that inline
 * function, and its cold paths.
 *
 * Cold paths (the words of twill__fast sent the join here):
 *   push   the private stack is full, a publication is wanted, another
 *          policy (its own queue), or a thread that is no worker (nothing);
 *   rest   after a: a trip (a HIGH task waits: it starts first; or the
 *          poll is asked for: an outside job or a broadcast share that
 *          no idle worker takes, twill__sched_trip), b was published
 *          (take it back, or wait for the thief, helping meanwhile, the
 *          thief first: wait.c; a wait nested in a, such as an outside
 *          job's group wait in a poll, may have run it: twill__steal_find),
 *          another policy or a traced worker (b timed), the 1024th inline
 *          half (the flush and the poll, job.h), or no worker (run b).
 *
 * Who may call: any thread; outside a worker a then b run serially.
 */
#include "wait.h"

/* The one external definition of twill.h's inline twill_join (C99 inline:
   this declaration makes this file's definition the external one). */
extern __inline__ int twill_join(twill_fn a, void *a_arg, twill_fn b, void *b_arg);

_Static_assert(sizeof(twill__task) <= offsetof(struct twill__join_frame, f) &&
                   offsetof(twill__task, job.fn) == offsetof(struct twill__join_frame, fn) &&
                   offsetof(twill__task, job.arg) == offsetof(struct twill__join_frame, arg),
               "a join frame holds the runtime's record of b");
_Static_assert((TWILL__POS_SLOT & (TWILL__POS_SLOT - 1)) == 0 && TWILL__SPLIT_TRIP == UINT64_MAX,
               "twill.h's inline join writes these numbers out");

/* The b halves of the joins in progress on a thread that is no worker,
   newest first, linked through job.ctl (that thread's twill__self_v2 is
   the shared, read-only twill__outside). */
static __thread twill__task *outside_joins;

void TWILL__ABI(join_push)(struct twill__fast *f, struct twill__join_frame *fr)
{
    twill__task *t = (twill__task *)fr;
    if (f != &twill__outside) {
        twill__sched_join_push((twill__worker *)f, t);
        return;
    }
    t->job.ctl = outside_joins;
    outside_joins = t;
}

/* b was taken by a thief (or ran early): wait for it, helping. */
static TWILL_COLD int wait_taken(twill__worker *w, twill__task *t)
{
    /* relaxed: the thief id is only a hint for where to look first. */
    twill__want want = {TWILL__FIND_HELP, atomic_load_explicit(&t->thief, memory_order_relaxed),
                        NULL};
    TWILL__COUNT(w, spawns, 1);
    twill__wait(w, &t->done, -1, &want);
    return t->result;
}

int TWILL__ABI(join_rest)(struct twill__fast *f, int ra)
{
    twill__task *t;
    int rb;
    if (f == &twill__outside) {
        t = outside_joins;
        outside_joins = t->job.ctl;
        rb = t->job.fn(t->job.arg);
        return ra != 0 ? ra : rb;
    }
    twill__worker *w = (twill__worker *)f;
    /* Our record: the private top if b is still private, else the newest
       that left the private reach (w->pub); every newer join has returned. */
    uint64_t top = TWILL__POS_TOP(w->fast.pos);
    t = twill__stealing(w) && top != w->s.lo
            ? (twill__task *)w->fast.slot[(top - 1) & (TWILL__PRIVATE_CAP - 1)]
            : w->pub;
    TWILL_ASSERT(t != NULL);
    for (;;) {
        /* Asked to look (twill__sched_trip): a queued HIGH task starts
           before b (twill_submit_prio); else, where a trip is a request
           (an armed worker), the poll takes the outside job or broadcast
           share that no idle worker was there for. */
        if (twill__sched_tripped(w)) {
            if (twill__prioq_nonempty(&w->pool->high))
                twill__job_run_high(w);
            else if (twill__sched_fast_armed(w))
                twill__job_poll(w);
        }
        /* Take records back until ours shows up (inline) or it is gone
           (taken).  Records above ours are tasks a pushed without waiting;
           they run here, as they would have anyway. */
        twill__task *x = twill__sched_unpush(w, t);
        if (twill_likely(x == t)) {
            twill__job_count_inline(w);
            rb = twill_likely(w->trace == NULL)
                     ? t->job.fn(t->job.arg)
                     : twill__job_run_timed(w, t->job.fn, t->job.arg, TWILL__JOB_JOIN);
            if (rb != 0)
                TWILL__COUNT(w, tasks_failed, 1);
            break;
        }
        if (x == NULL) {
            rb = wait_taken(w, t);
            break;
        }
        twill__run_record(w, x); /* shared when it left the private stack */
    }
    if (w->pub == t) /* b had left the private reach (maybe while HIGH ran) */
        w->pub = t->job.ctl;
    return ra != 0 ? ra : rb;
}

int TWILL__ABI(join_failed)(int ra, int rb)
{
    TWILL__COUNT(twill__self(), tasks_failed, 1);
    return ra != 0 ? ra : rb;
}

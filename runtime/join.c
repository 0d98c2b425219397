/*
 * join.c — twill_join: fork-join of two tasks.
 *
 * Fast path: the b half becomes a task record on this stack frame, pushed
 * where its scheduler keeps join halves (work stealing: the private stack,
 * out of thieves' reach until published; sched_steal.h); we run a; then we
 * take b back, and if nobody started it we run it inline.  On the stealing
 * scheduler that is no allocation, no lock, no system call and no fence
 * (measured: the seq_cst fence of the deque's take was ~40% of the fast
 * path, fib(32) at 1 worker, 53 -> 32 ms without it).
 *
 * Slow path: b was taken by another worker.  We wait for its completion
 * word, helping meanwhile, the thief first (wait.c).
 *
 * Who may call: any thread; outside a worker a then b run serially.
 */
#include "wait.h"

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

int twill_join(twill_fn a, void *a_arg, twill_fn b, void *b_arg)
{
    if (twill_unlikely(a == NULL || b == NULL))
        return EINVAL;
    twill__worker *w = twill__self;
    if (w == NULL) {
        int ra = a(a_arg);
        int rb = b(b_arg);
        return ra != 0 ? ra : rb;
    }
    twill__task t;
    t.job.fn = b;
    t.job.arg = b_arg;
    t.job.kind = TWILL__JOB_JOIN;
    /* done and thief matter only once t can be taken by another worker:
       twill__task_share sets them then. */
    twill__sched_join_push(w, &t);
    int ra = a(a_arg);
    int rb;
    for (;;) {
        /* Take records back until ours shows up (inline) or it is gone
           (taken).  Records above ours are tasks a pushed without waiting;
           they run here, as they would have anyway. */
        twill__task *x = twill__sched_unpush(w, &t);
        if (twill_likely(x == &t)) {
            rb = b(b_arg);
            twill__ran_inline(w, rb);
            break;
        }
        if (x == NULL) {
            rb = wait_taken(w, &t);
            break;
        }
        if (x == TWILL__TIMED_SELF) { /* inline, but the pool traces: time b */
            rb = twill__job_run_timed(w, b, b_arg, TWILL__JOB_JOIN);
            twill__ran_inline(w, rb);
            break;
        }
        if (x == TWILL__HIGH_FIRST) { /* a queued HIGH task starts before b */
            twill__job_run_high(w);
        } else {
            /* a record a pushed, or, when a wait nested in a ran our b
               (see twill__steal_find), an older join's private half */
            twill__own_share(w, x);
            twill__run_record(w, x);
        }
    }
    return ra != 0 ? ra : rb;
}

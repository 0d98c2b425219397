/*
 * join.c — twill_join: fork-join of two tasks.
 *
 * Fast path (stealing scheduler): the b half becomes a task record on this
 * stack frame, pushed onto our private stack; we run a; then we pop, and if
 * the record is still there we run b inline.  No allocation, no lock, no
 * system call, no fence: private tasks are out of thieves' reach until we
 * publish them into our Chase-Lev deque, which we do when a thief asks or a
 * worker sleeps (pool.h, worker.c).  Measured here: the seq_cst fence of the
 * deque's take was ~40% of the fast path (fib(32) at 1 worker, 53 -> 32 ms
 * with the fence removed), hence the private stack (Lace's split deque
 * idea, van Dijk and van de Pol 2014).
 *
 * Slow path: b was stolen.  We help until the thief publishes b's result:
 * first stealing back from the thief (leapfrogging: what it has queued is
 * part of b, so our stack stays bounded by the recursion depth), then from
 * anyone.  After a short spin without finding work we sleep on the record's
 * state word; the thief wakes us when it sets DONE (task.h).
 *
 * Central scheduler: b goes to the shared FIFO; after a we take it back out
 * if nobody started it, otherwise we help by running queued tasks.
 *
 * Who may call: any thread; outside a worker a then b run serially.
 */
#include "pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Failed help attempts before a joiner sleeps: ~100 us of stealing. */
#define TWILL__JOIN_SPINS 2048
/* A sleeping joiner wakes this often to help again (new work may exist that
   nobody told it about, since it is not a parked worker). */
#define TWILL__JOIN_NAP_NS 1000000

static int wait_stolen(twill__worker *w, twill__task *t)
{
    int misses = 0;
    w->waits++;
    /* acquire: pairs with the acq_rel exchange to DONE by b's runner, so
       its result (and everything b wrote) is visible. */
    while (atomic_load_explicit(&t->state, memory_order_acquire) != TWILL__JOIN_DONE) {
        /* relaxed: the thief id is only a hint for where to look first. */
        if (twill__help_once(w, atomic_load_explicit(&t->thief, memory_order_relaxed), NULL)) {
            misses = 0;
            continue;
        }
        if (++misses < TWILL__JOIN_SPINS && !twill__help_restricted(w))
            continue;
        uint32_t expected = TWILL__JOIN_PENDING;
        /* relaxed CAS: only announces that we sleep; the runner's exchange
           reads it and wakes us.  On failure the state is DONE. */
        if (atomic_compare_exchange_strong_explicit(&t->state, &expected, TWILL__JOIN_SLEEPING,
                                                    memory_order_relaxed, memory_order_relaxed) ||
            expected == TWILL__JOIN_SLEEPING) {
            struct timespec nap = {0, TWILL__JOIN_NAP_NS};
            syscall(SYS_futex, &t->state, FUTEX_WAIT_PRIVATE, TWILL__JOIN_SLEEPING, &nap, NULL, 0);
        }
        misses = 0;
    }
    w->waits--;
    return t->result;
}

/* Stealing scheduler: take records back until ours shows up (inline) or the
   deque is empty (stolen).  Records above ours are tasks a submitted or
   spawned without waiting; they run here, as they would have anyway. */
static int take_back(twill__worker *w, twill__task *t)
{
    for (;;) {
        twill__task *x = twill__pop(w);
        if (twill_likely(x == t)) {
            int rc = t->job.fn(t->job.arg);
            twill__count_result(w, rc);
            return rc;
        }
        if (x == NULL)
            return wait_stolen(w, t);
        twill__run_record(w, x);
    }
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
    /* state and thief matter only once t can be stolen: twill__publish sets
       them (central: twill__push_slow does). */
    twill__push_private(w, &t);
    int ra = a(a_arg);
    int rb;
    if (twill_likely(w->work_ev != NULL)) { /* stealing scheduler */
        rb = take_back(w, &t);
    } else if (twill__central_remove(w->pool, &t)) {
        rb = b(b_arg);
        twill__count_result(w, rb);
    } else {
        rb = wait_stolen(w, &t);
    }
    return ra != 0 ? ra : rb;
}

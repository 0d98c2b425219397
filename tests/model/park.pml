/*
 * park.pml -- Promela model of twill's parking protocol (runtime/park.c,
 * runtime/park.h: twill__event_prepare / _cancel / _wait / _notify / _wake,
 * and park() / work_visible() in runtime/worker.c), checked by spin through
 * tests/model/check.sh.  Keep it in step with those files.
 *
 * THE PROTOCOL (an event count on one futex word)
 *
 *   Shared per pool: `sleepers` (workers that announced they are going idle;
 *   `waiters` in park.h), `epoch` (the 32-bit futex word), the work queues
 *   (one Chase-Lev deque per worker plus the injector).
 *
 *   Worker, when it finds no work (park() in worker.c):
 *     1. sleepers++                       (seq_cst RMW: the announce)
 *     2. key = epoch                      (acquire, after the announce)
 *     3. full barrier                     (membarrier() and/or seq_cst fence)
 *        -- steps 1-3 are twill__event_prepare --
 *     4. re-check every queue (work_visible); if one has an item:
 *        sleepers-- (twill__event_cancel), go take it
 *     5. futex_wait(&epoch, key)          (blocks only if epoch == key)
 *     6. sleepers--, back to the loop     (5-6: twill__event_wait)
 *   Producer (outside submitter -> injector, or a worker -> its own deque;
 *   twill__event_notify after the push):
 *     1. publish the item
 *     2. full barrier                     (seq_cst fence, or compiler barrier
 *                                          when the sleeper uses membarrier)
 *     3. if sleepers > 0: epoch++; futex_wake(&epoch, 1)
 *                                         (twill__event_wake)
 *   The same event count guards injector space (space_ev: submitters sleep,
 *   injector pops notify); that use has the same shape and is not modelled
 *   separately.
 *
 *   Why no wake-up is lost: worker (sleepers++ ; barrier ; load queues) and
 *   producer (store item ; barrier ; load sleepers) are the two halves of a
 *   Dekker handshake, so at least one side sees the other.  If the worker's
 *   re-check misses the item, the producer sees sleepers > 0 and bumps the
 *   epoch; the bump happens after the worker took its key (the key was read
 *   before the re-check), so either futex_wait sees epoch != key and returns
 *   at once, or the worker is already queued on the futex and the wake that
 *   follows the bump finds it.
 *
 * WHAT IS MODELLED
 *   - NW = 2 workers, NP outside producers pushing K items each into the
 *     injector, and workers that may spawn (push to their own deque, going
 *     through the same producer path) up to SPAWN times in total.
 *   - The queues as counters q[0..NW-1] (deques) and q[NW] (injector).  A
 *     take removes one item from any non-empty queue (own deque, injector or
 *     a steal -- the order does not matter to this property, so spin tries
 *     every choice).  The re-check of step 4 reads the queues ONE AT A TIME,
 *     as the real code does, so a push may land behind the scan.
 *   - futex_wait as one atomic step "if epoch == key, join the blocked set,
 *     else return" (the kernel compares and enqueues under the futex bucket
 *     lock, which futex_wake also takes), then a wait until removed from the
 *     set.  futex_wake(1) removes ANY ONE blocked thread, chosen
 *     nondeterministically, or does nothing if none is blocked.  The epoch
 *     increment and the wake are separate steps, as in the code.
 *   - Spurious wake-ups (EINTR, stray FUTEX_WAKE): a blocked thread may leave
 *     the set on its own, at most SPURIOUS times in all.  Bounded because an
 *     unbounded always-enabled escape would, under weak fairness, hide every
 *     lost wake-up; the property below does not rely on them anyway.
 *
 * WHAT IS ABSTRACTED
 *   - Memory model: spin explores sequentially consistent interleavings.
 *     That is a fair model of the code only because every access that the
 *     argument above relies on is ordered by a full barrier on both sides of
 *     the Dekker pair (seq_cst fences, or membarrier() on the sleeper side
 *     which turns the producer's compiler barrier into a full one for this
 *     purpose).  The model cannot find bugs from a MISSING barrier; the
 *     stress test and review must cover that.  (Variant LATE_PUBLISH below
 *     shows what a producer whose load of sleepers moves above its publish
 *     -- exactly what a missing StoreLoad barrier permits -- does.)
 *   - The brief spin-then-sleep phase: spinning is just more take attempts
 *     at the top of the loop, which the model already has.
 *   - Task bodies, stealing details (ABA, the deque's own races: tested
 *     separately), shutdown and termination detection (park()'s
 *     closing/stopped branch), timeouts on the wait, stats, and the extra
 *     notify after a steal that leaves work behind (it only adds wake-ups).
 *   - twill__event_wait's user-space pre-check (epoch == key before the
 *     system call): it only skips a futex_wait that would return at once.
 *   - A take or re-check that misreads a deque while its owner is mid-take
 *     (size_estimate is a hint): the item is then held by an awake worker,
 *     which the model's atomic take already covers.
 *   - Epoch wrap-around: the model's epoch never wraps (at most NP*K+SPAWN
 *     bumps).  In the code a waiter would need to miss exactly 2^32 bumps
 *     between reading its key and entering futex_wait to be fooled.
 *
 * THE PROPERTY: no lost wake-up.
 *   LOST := every worker is blocked in futex_wait, every outside producer has
 *           finished (its wake, if any, included), and an item is still queued.
 *   Nothing can leave that state except a spurious wake-up, which the
 *   protocol must not need, so LOST is the lost wake-up itself.
 *   Checked two ways (check.sh runs both):
 *     safety:   a monitor asserts !LOST in every reachable state
 *               (spin -a park.pml; cc -DSAFETY pan.c; ./pan);
 *     liveness: ltl `drain`: <>[] (pending == 0) -- every run eventually
 *               empties all queues for good
 *               (spin -DLIVENESS -a park.pml; cc pan.c; ./pan -a).
 *   The liveness search runs WITHOUT weak fairness (-f), on purpose.  Every
 *   run of this model is finite: an idle round ends blocked unless the epoch
 *   moved after the key was read or a spurious wake-up came, and both are
 *   bounded.  So a lost wake-up is a terminal state with work queued, which
 *   pan reports as an acceptance cycle by stuttering that state; spin 6.5.2's
 *   -f construction does not report such a stutter (every bug variant then
 *   "passes").  Passing without -f is the stronger result anyway: it holds
 *   even for unfair schedules.
 *
 * SIZE: NP, K, SPAWN, SPURIOUS can be overridden with -D.  The defaults (2
 *   producers x 1 item + 1 spawn, 1 spurious wake-up) give ~1 M states for
 *   safety and ~0.6 M for liveness, a few seconds each; -DNP=2 -DK=2 passes
 *   too (~10 M / ~7 M states, 10-20 s, 0.5-0.9 GB) but is too big for CI.
 *
 * SEEDED BUGS (spin must reject each; select with -D):
 *   NO_RECHECK        the worker skips step 4 and sleeps at once.
 *   LATE_PUBLISH      the producer reads sleepers BEFORE publishing the item.
 *   KEY_AFTER_RECHECK the worker reads its key after the re-check (what a
 *                     relaxed key load placed after the fence could become
 *                     on a weakly ordered CPU).
 *   NO_EPOCH_BUMP     the producer wakes without advancing the epoch.
 */

#ifndef NP
#define NP 2            /* outside producers */
#endif
#ifndef K
#define K 1             /* items per outside producer */
#endif
#ifndef SPAWN
#define SPAWN 1         /* pushes from inside workers, in total */
#endif
#ifndef SPURIOUS
#define SPURIOUS 1      /* spurious futex wake-ups, in total */
#endif

#define NW 2            /* workers; PENDING and ALLBLOCKED assume 2 */
#define INJ NW          /* index of the injector in q[] */

byte q[NW + 1];         /* items in each worker's deque, then the injector */
byte sleepers;          /* announced idle workers */
byte epoch;             /* the futex word (never wraps here, see above) */
bool blocked[NW];       /* the futex's wait queue: who sleeps on &epoch */
byte pdone;             /* outside producers that have finished */
byte spawns = SPAWN;    /* remaining worker-side pushes */
byte spur = SPURIOUS;   /* remaining spurious wake-ups */

#define PENDING    (q[0] + q[1] + q[2])
#define ALLBLOCKED (blocked[0] && blocked[1])
#define LOST       (ALLBLOCKED && pdone == NP && PENDING > 0)

/* futex_wake(&epoch, 1): atomically remove at most one thread from the wait
   queue; when both are blocked spin tries either. */
inline futex_wake1()
{
    atomic {
        if
        :: blocked[0] -> blocked[0] = false
        :: blocked[1] -> blocked[1] = false
        :: else -> skip
        fi
    }
}

/* The producer path (twill__event_notify after a push), for queue qi.
   Reading sleepers and branching on the value is one step: the branch is
   local, and merging it keeps the state space small.  A local that is dead
   is reset to 0 in the same step for the same reason. */
inline produce(qi)
{
#ifdef LATE_PUBLISH
    /* BUG: the load of sleepers is done before the item is visible (what a
       missing StoreLoad barrier lets the hardware do). */
    s = sleepers;
    q[qi]++;
    if
    :: s > 0 -> s = 0; epoch++; futex_wake1()
    :: else
    fi
#else
    q[qi]++;            /* 1. publish */
                        /* 2. full barrier: implicit, the model is SC */
    if                  /* 3. read sleepers */
    :: sleepers > 0 ->
#ifndef NO_EPOCH_BUMP
        epoch++;        /* invalidate every key taken so far ... */
#endif
        futex_wake1()   /* ... then wake one thread already queued */
    :: else             /* fast path: no system call */
    fi
#endif
}

active [NW] proctype worker()
{
    byte me = _pid;     /* workers are started first: _pid 0 and 1 */
    byte key;
#ifdef LATE_PUBLISH
    byte s;
#endif

loop:
    /* Try to take an item: own deque, injector, or steal -- any non-empty
       queue, atomically (the deque's own correctness is tested elsewhere). */
    if
    :: atomic { q[0] > 0 -> q[0]-- }; goto running
    :: atomic { q[1] > 0 -> q[1]-- }; goto running
    :: atomic { q[INJ] > 0 -> q[INJ]-- }; goto running
    :: else -> goto idle
    fi;

running:
    /* Running a task may spawn one (push to this worker's deque). */
    if
    :: atomic { spawns > 0 -> spawns-- }; produce(me)
    :: skip
    fi;
    goto loop;

idle:
    sleepers++;                         /* 1. announce */
#ifndef KEY_AFTER_RECHECK
    key = epoch;                        /* 2. key, after the announce */
#endif
                                        /* 3. full barrier: implicit (SC) */
#ifndef NO_RECHECK
    /* 4. re-check (work_visible in worker.c): one queue at a time, in the
       code's order -- injector, then every deque -- unrolled for NW = 2; on
       a hit, cancel and go take it */
    if
    :: q[INJ] > 0 -> goto cancel
    :: else
    fi;
    if
    :: q[0] > 0 -> goto cancel
    :: else
    fi;
    if
    :: q[1] > 0 -> goto cancel
    :: else
    fi;
#endif
#ifdef KEY_AFTER_RECHECK
    key = epoch;                        /* BUG: a bump between the re-check
                                           and here is absorbed into the key */
#endif
    /* 5. futex_wait(&epoch, key) */
    atomic {
        if
        :: epoch == key -> blocked[me] = true
        :: else -> skip                 /* EAGAIN: the epoch moved */
        fi
    }
end_wait:                               /* sleeping forever with nothing
                                           queued is a legal end state */
    if
    :: !blocked[me]                     /* woken (or never blocked) */
    :: atomic { blocked[me] && spur > 0 -> spur--; blocked[me] = false }
                                        /* spurious wake-up */
    fi;
    atomic { sleepers--; key = 0 };     /* 6. retract */
    goto loop;
cancel:
    atomic { sleepers--; key = 0 };     /* 4. (hit) retract */
    goto loop
}

active [NP] proctype producer()
{
    byte n;
#ifdef LATE_PUBLISH
    byte s;
#endif
    do
    :: atomic { n < K -> n++ }; produce(INJ)
    :: else -> break
    od;
    pdone++
}

#ifndef LIVENESS
/* Safety: the lost-wake-up state is unreachable.  This process can take its
   single step in any reachable state, so the assertion is checked in all. */
active proctype monitor()
{
    assert(!LOST)
}
#else
/* Liveness: every run eventually empties the queues for good.  All runs are
   finite here (each idle round needs a fresh epoch bump or a spurious wake,
   and both are bounded), so a violation is a run that stops with work left. */
ltl drain { <> [] (q[0] + q[1] + q[2] == 0) }
#endif

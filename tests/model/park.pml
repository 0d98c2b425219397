/*
 * park.pml -- Promela model of twill's idle protocol: parking (runtime/park.c,
 * runtime/park.h: twill__event_prepare / _cancel / _wait / _notify / _wake /
 * _spin_begin / _spin_end) and the worker loop around it (runtime/worker.c:
 * twill__worker_main, find_work, go_idle, spin, park, work_visible), checked
 * by spin through tests/model/check.sh.  Keep it in step with those files.
 *
 * THE PROTOCOL (a targeted event: one futex word per sleeper, a count of
 * announced sleepers, plus a spinner count)
 *
 *   Shared per pool: `waiters` (workers that announced they are going to
 *   sleep), `spinning` (idle workers looking for work without sleeping),
 *   `armed[w]` (worker w's own futex word: 1 from its announce until a
 *   producer claims it or it takes it back), the work queues (one Chase-Lev
 *   deque per worker plus the injector).
 *
 *   notify (twill__event_notify), after a producer published an item:
 *     full barrier (seq_cst fence, or a compiler barrier when the sleeper
 *     uses membarrier); if (waiters != 0 && spinning == 0): fence, then
 *     claim one armed sleeper (CAS armed 1 -> 0; the code prefers one
 *     announced from another CPU, which the model leaves to chance) and
 *     futex_wake(&armed[w], 1); none armed: nothing   (twill__event_wake)
 *
 *   Busy worker (twill__worker_main): take work directly (find_work: own
 *     deque, injector, steal), without touching `spinning`; run it (it may
 *     push to its own deque and notify); repeat.  Found nothing: go idle.
 *   Idle worker (go_idle: spin, park, spin, park, ... until spin finds work;
 *     coming from work it may skip the first spin and park at once, when
 *     enough others spin (twill__sched_may_spin): the model lets it choose):
 *     spin():  spinning++                         (twill__event_spin_begin)
 *              up to TWILL__SPIN_ROUNDS take attempts (find_work)
 *              spinning--                 (seq_cst; twill__event_spin_end)
 *              found work: the HAND-OVER -- if someone sleeps and this was
 *              the last spinner (twill__event_handover_due), re-check the
 *              queues one at a time (work_visible) and, if an item is
 *              left, wake a sleeper to take over the search -- then run
 *              the task (back to the busy loop).  Found nothing: park().
 *     park():  1. armed[me] = 1, waiters++ (seq_cst: the announce)
 *              3. full barrier            (membarrier() and/or seq_cst fence)
 *                 -- steps 1-3 are twill__event_prepare_as --
 *              4. re-check every queue (work_visible); if one has an item:
 *                 armed[me] = 0, waiters-- (twill__event_cancel_as), return
 *              5. futex_wait(&armed[me], 1) (blocks only if still armed)
 *              6. armed[me] = 0, waiters--, return (5-6: event_wait_as)
 *              Either way go_idle SPINS again: a woken worker never takes
 *              work outside spin(), so it is counted in `spinning` while it
 *              searches and hands over when it finds something.
 *   The same event count guards injector space (space_ev: submitters sleep,
 *   injector pops notify; nobody spins there); that use has the same shape
 *   and is not modelled separately.
 *
 *   Why no wake-up is lost.  (a) Worker (armed, waiters++ ; barrier ; load
 *   queues) and producer (store item ; barrier ; load waiters, armed) are
 *   the two halves of a Dekker handshake, so at least one side sees the
 *   other.  If the re-check misses the item, the producer sees waiters > 0
 *   and, unless someone spins, claims an armed sleeper; a claim clears the
 *   word before the wake, so either futex_wait sees it cleared and returns
 *   at once, or the worker is already queued on it and the wake finds it.
 *   If it finds none armed, every announced worker was claimed by another
 *   producer or took itself back: it is awake, and its next announce
 *   re-checks after our item.
 *   (b) A producer that skips the wake because spinning > 0 published before
 *   reading a spinner S still counted.  S decrements `spinning` BEFORE its
 *   announce, so if S finds nothing, its park re-check (after the announce)
 *   sees the item.  If S finds work (perhaps another item), S's hand-over
 *   is the other half of a Dekker pair with that producer: S decrements
 *   `spinning`, then reads waiters and the queues; the producer published,
 *   then read `spinning` (a real barrier on both sides: notify fences
 *   before trusting a spinner).  So S sees the item and wakes a sleeper,
 *   or the producer saw S's decrement (and woke, or another spinner takes
 *   the duty over, recursively), or nobody slept when S looked and a
 *   worker that announces later re-checks and sees the item.  (c) A woken worker is a spinner
 *   again, so the chain continues: every item skipped on S's behalf is
 *   either taken by a spinner, seen by a re-check, or followed by a wake-up.
 *
 * WHAT IS MODELLED
 *   - NW workers (2, or 3 for SLEPT_TAKES_DIRECTLY below), NP outside
 *     producers pushing K items each into the injector, and running tasks
 *     that may spawn (push to their worker's deque, then notify) up to
 *     SPAWN times in total.
 *   - The queues as counters q[0..NW-1] (deques) and q[NW] (injector).  A
 *     take removes one item from any non-empty queue (own deque, injector or
 *     a steal -- the order does not matter to this property, so spin tries
 *     every choice).  The re-check of step 4 reads the queues ONE AT A TIME,
 *     as the real code does, so a push may land behind the scan.
 *   - The busy loop (direct takes) and the idle loop (spin, then park, then
 *     spin again) as separate code paths, as in worker.c.  A spin phase is
 *     TRIES take attempts (TWILL__SPIN_ROUNDS in the code; 1 by default:
 *     the windows that matter -- a push between spin_begin and an attempt,
 *     or between the last attempt and spin_end -- exist with one attempt,
 *     and -DTRIES=2 passes too).
 *   - notify's two loads (waiters, then spinning) as two steps, in the
 *     code's order.
 *   - Tasks that never return: a running task may block for good (HANGS of
 *     them in total, at most NW-1 so that one worker stays free).  In the
 *     runtime a task may wait for another queued task (a latch, a blocking
 *     call); more generally a busy worker may stay busy arbitrarily long.
 *     Without this, a skipped wake-up would only delay an item until the
 *     busy worker came back for it, and the bugs that spinning makes
 *     possible (an item queued while a worker sleeps and the others are
 *     busy) would be invisible.
 *   - futex_wait as one atomic step "if armed[me], join the blocked set,
 *     else return" (the kernel compares and enqueues under the futex bucket
 *     lock, which futex_wake also takes), then a wait until removed from the
 *     set.  The claim (armed[w] cleared) and the wake (w removed from the
 *     set) are separate steps, as in the code; which armed sleeper a
 *     producer claims is chosen nondeterministically.
 *   - Spurious wake-ups (EINTR, stray FUTEX_WAKE): a blocked thread may leave
 *     the set on its own, at most SPURIOUS times in all.  Bounded because an
 *     unbounded always-enabled escape would, under weak fairness, hide every
 *     lost wake-up; the property below does not rely on them anyway.
 *
 * WHAT IS ABSTRACTED
 *   - Memory model: spin explores sequentially consistent interleavings.
 *     That is a fair model of the code only because every access that the
 *     argument above relies on is ordered by a full barrier on both sides of
 *     each Dekker pair: (item store | waiters load) against (waiters store |
 *     queue loads), and, for the hand-over, (spinning decrement | waiters
 *     load) against the same sleeper side.  The model cannot find bugs from
 *     a MISSING barrier; the stress test and review must cover that.
 *     (Variant LATE_PUBLISH below shows what a producer whose loads move
 *     above its publish -- exactly what a missing StoreLoad barrier
 *     permits -- does.)
 *   - Inside a spin phase: cpu_relax/sched_yield, and the notify that a
 *     steal leaving work behind issues (a spinner counts itself in
 *     `spinning`, so that notify never wakes anyone; a busy worker's only
 *     adds wake-ups).
 *   - Task bodies, stealing details (ABA, the deque's own races: tested
 *     separately), shutdown and termination detection (park()'s
 *     closing/stopped branch), timeouts on the wait, stats, the central
 *     scheduler (no event count), helping waits (a busy worker's direct
 *     takes, which the busy loop covers).
 *   - twill__event_wait_as's user-space pre-check (armed before the system
 *     call): it only skips a futex_wait that would return at once.
 *   - Timeouts and leaving (elastic pools), and the CPU a sleeper announced
 *     from: which sleeper is claimed is left to chance, so every
 *     preference the code makes is covered.
 *   - A take or re-check that misreads a deque while its owner is mid-take
 *     (size_estimate is a hint), or a find_work that gives up after lost
 *     steal races: the item is then held by an awake worker, or the park
 *     re-check that follows sees it; the model's atomic take covers both.
 *
 * THE PROPERTY: no lost wake-up -- no item stays queued while a worker
 * sleeps and every other worker is busy for good.
 *   LOST := every worker is blocked in futex_wait or running a task that
 *           never returns (at least one is blocked: HANGS < NW), every
 *           outside producer has finished (its notify included), and an item
 *           is still queued.
 *   Nothing can leave that state except a spurious wake-up, which the
 *   protocol must not need, so LOST is the lost wake-up itself.
 *   Checked two ways (check.sh runs both):
 *     safety:   assert(!LOST) right after every step that can make LOST true
 *               (a worker blocking, a task hanging, the last producer
 *               finishing -- a push cannot: its producer is still running),
 *               so LOST is checked in every reachable state without a
 *               monitor process (spin -a park.pml; cc -DSAFETY pan.c; ./pan);
 *     liveness: ltl `drain`: <>[] (pending == 0) -- every run eventually
 *               empties all queues for good; HANGS < NW leaves one worker
 *               to do it (spin -DLIVENESS -a park.pml; cc pan.c; ./pan -a).
 *   The liveness search runs WITHOUT weak fairness (-f), on purpose.  Every
 *   run of this model is finite: an idle round ends blocked unless a
 *   producer claimed the worker or a spurious wake-up came, and both are
 *   bounded; spawns and hangs are bounded too.  So a lost wake-up is a
 *   terminal state with work queued, which pan reports as an acceptance
 *   cycle by stuttering that state; spin 6.5.2's -f construction does not
 *   report such a stutter (every bug variant then "passes").  Passing
 *   without -f is the stronger result anyway: it holds even for unfair
 *   schedules.
 *
 * SIZE: NW, NP, K, SPAWN, SPURIOUS, TRIES, HANGS can be overridden with -D.
 *   Default (NW=2, 2 producers x 1 item + 1 spawn, 1 spurious wake-up,
 *   1 hang): ~2.6 M states for safety, ~3.8 M for liveness (2-8 s each).
 *   Three workers (check.sh: -DNW=3 -DNP=1 -DK=3 -DSPAWN=0 -DSPURIOUS=0,
 *   2 hangs): ~4.4 M states for safety; liveness passes too (~6.4 M, ~13 s),
 *   too slow to run every time.  With SPAWN=0 the deques stay empty and the
 *   model leaves their reads out (exact).
 *
 * SEEDED BUGS (spin must reject each; select with -D):
 *   NO_RECHECK        the worker skips step 4 and sleeps at once.
 *   LATE_PUBLISH      the producer reads waiters/spinning BEFORE publishing.
 *   ARM_AFTER_RECHECK the worker arms its word only after the re-check (what
 *                     a relaxed store sunk below the fence could become on
 *                     a weakly ordered CPU): a producer that saw waiters
 *                     finds nobody armed and wakes nobody.
 *   NO_CLAIM          the producer wakes without clearing the word: a
 *                     worker not yet in futex_wait sleeps on after it.
 *   NO_HANDOVER       a spinner that finds work does not notify: W1 sleeps,
 *                     W0 spins, two items are pushed (both wakes skipped),
 *                     W0 takes one and its task never returns.  (A push
 *                     between the spinner's successful take and its
 *                     spin_end is skipped too: the hand-over covers it.)
 *   HANDOVER_BEFORE_SPIN_END
 *                     the spinner that found work does the hand-over's
 *                     look (waiters, spinning, the queues) before its
 *                     spin_end: a push after the look but before the
 *                     decrement is skipped by its producer (a spinner is
 *                     still counted) and by the hand-over.
 *   HANDOVER_INJECTOR_ONLY
 *                     the hand-over's look reads only the injector: an
 *                     item a busy worker pushed onto its deque while a
 *                     spinner was counted (its wake-up skipped) is missed
 *                     when that spinner takes another item.  Needs three
 *                     workers and a spawn (check.sh's "3s" size): two
 *                     workers end up running tasks that never return, the
 *                     third asleep, the spawned item on a deque.
 *   SPIN_END_AFTER_ANNOUNCE
 *                     the spinner decrements `spinning` only after its
 *                     announce and re-check: a push after the re-check sees
 *                     waiters > 0 but spinning > 0, skips, and the spinner
 *                     then sleeps, still armed.
 *   WOKEN_TAKES_DIRECTLY
 *                     after park() returns (woken, or the re-check found
 *                     work), the worker goes back to the busy loop and takes
 *                     work directly instead of spinning, so it never hands
 *                     over.  Two workers suffice through the re-check path:
 *                     W1 sleeps, W0 spins, two items are pushed (skipped),
 *                     W0's re-check sees them, W0 takes one directly and
 *                     hangs, W1 sleeps on.
 *   SLEPT_TAKES_DIRECTLY
 *                     the same, but only after futex_wait (a re-check hit
 *                     still spins): the bug as once implemented, which a
 *                     Criterion test caught.  It needs THREE workers (check.sh
 *                     runs it with NW=3, 3 items): a skipped wake-up is
 *                     covered by one hand-over, which wakes one sleeper; with
 *                     two workers that sleeper is the only other worker, and
 *                     taking one item directly is all it could do anyway.
 *                     With three: W1 and W2 sleep, W0 spins, items are pushed
 *                     while it spins (their wakes skipped); W0 takes one and
 *                     hands over to W1; W1 takes a second directly, with no
 *                     hand-over; both tasks hang and W2 sleeps next to the
 *                     third item.
 */

#ifndef NW
#define NW 2            /* workers: 2 or 3 */
#endif
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
#ifndef TRIES
#define TRIES 1         /* take attempts per spin phase (TWILL__SPIN_ROUNDS) */
#endif
#ifndef HANGS
#define HANGS (NW - 1)  /* tasks that never return, in total */
#endif

#if NW != 2 && NW != 3
#error "NW must be 2 or 3"
#endif
#if HANGS >= NW
#error "HANGS must leave one worker free (HANGS <= NW - 1)"
#endif

#define INJ NW          /* index of the injector in q[] */

byte q[NW + 1];         /* items in each worker's deque, then the injector */
byte waiters;           /* announced sleepers (twill__event.waiters) */
byte spinning;          /* spinning workers (twill__event.spinning) */
bool armed[NW];         /* each worker's futex word */
bool blocked[NW];       /* who sleeps in futex_wait on its own word */
bool hung[NW];          /* running a task that never returns */
byte pdone;             /* outside producers that have finished */
byte spawns = SPAWN;    /* remaining worker-side pushes */
byte spur = SPURIOUS;   /* remaining spurious wake-ups */
byte hangs = HANGS;     /* remaining never-returning tasks */

#define STUCK(w) (blocked[w] || hung[w])
#if NW == 2
#define PENDING  (q[0] + q[1] + q[2])
#define ALLSTUCK (STUCK(0) && STUCK(1))
#else
#define PENDING  (q[0] + q[1] + q[2] + q[3])
#define ALLSTUCK (STUCK(0) && STUCK(1) && STUCK(2))
#endif
/* HANGS < NW, so in ALLSTUCK at least one worker sleeps in futex_wait. */
#define LOST     (ALLSTUCK && pdone == NP && PENDING > 0)
#ifndef LIVENESS
#define CHECK    assert(!LOST)
#else
#define CHECK    skip
#endif

/* twill__event_wake(ev, 1): claim one armed sleeper, any one (the code's
   CPU preference is a choice the model leaves open), then wake it, as two
   steps: the sleeper may come back between them (a spurious wake-up) and
   arm again, and then takes the late wake as a spurious one.  None armed:
   nothing.  w is the caller's scratch variable. */
inline wake_one()
{
    if
    :: atomic { armed[0] ->
#ifndef NO_CLAIM
           armed[0] = false;
#endif
           w = 0 }
    :: atomic { armed[1] ->
#ifndef NO_CLAIM
           armed[1] = false;
#endif
           w = 1 }
#if NW > 2
    :: atomic { armed[2] ->
#ifndef NO_CLAIM
           armed[2] = false;
#endif
           w = 2 }
#endif
    :: else -> w = NW
    fi;
    if
    :: w < NW -> blocked[w] = false; w = 0     /* futex_wake(&armed[w], 1) */
    :: else -> w = 0
    fi
}

/* twill__event_notify: (full barrier, implicit under SC) then
   if (waiters != 0 && spinning == 0) wake one.
   The two loads are two steps, in the code's order. */
inline notify()
{
    if
    :: waiters > 0 ->
        if
        :: spinning == 0 -> wake_one()
        :: else         /* a spinner will find the work */
        fi
    :: else             /* fast path: no system call */
    fi
}

/* The producer path (a push, then twill__event_notify), for queue qi. */
inline produce(qi)
{
#ifdef LATE_PUBLISH
    /* BUG: the loads of waiters and spinning are done before the item is
       visible (what a missing StoreLoad barrier lets the hardware do). */
    s = (waiters > 0 && spinning == 0);
    q[qi]++;
    if
    :: s -> s = 0; wake_one()
    :: else
    fi
#else
    q[qi]++;            /* 1. publish */
    notify()            /* 2.-3. barrier, load waiters and spinning */
#endif
}

/* One take attempt (find_work): remove one item from any non-empty queue,
   atomically (own deque, injector or a steal: spin tries every choice), and
   go to OK; if every queue is empty, go to NO.  Deques fill only by a
   spawn, so with SPAWN == 0 they stay empty and are left out of the takes
   and the re-check (an exact reduction). */
#if SPAWN == 0
#define TAKE(OK, NO) \
    if \
    :: atomic { q[INJ] > 0 -> q[INJ]-- }; goto OK \
    :: else -> goto NO \
    fi
#elif NW == 2
#define TAKE(OK, NO) \
    if \
    :: atomic { q[0] > 0 -> q[0]-- }; goto OK \
    :: atomic { q[1] > 0 -> q[1]-- }; goto OK \
    :: atomic { q[INJ] > 0 -> q[INJ]-- }; goto OK \
    :: else -> goto NO \
    fi
#else
#define TAKE(OK, NO) \
    if \
    :: atomic { q[0] > 0 -> q[0]-- }; goto OK \
    :: atomic { q[1] > 0 -> q[1]-- }; goto OK \
    :: atomic { q[2] > 0 -> q[2]-- }; goto OK \
    :: atomic { q[INJ] > 0 -> q[INJ]-- }; goto OK \
    :: else -> goto NO \
    fi
#endif

/* One step of the re-check (work_visible): read queue j, go to cancel if it
   holds an item. */
#define RECHECK(j) \
    if \
    :: q[j] > 0 -> goto cancel \
    :: else \
    fi

/* One step of the hand-over's look: read queue j, wake if it holds an
   item. */
#define HANDOVER_LOOK(j) \
    if \
    :: q[j] > 0 -> goto wake \
    :: else \
    fi

/* Where park() returns to: go_idle spins again, after a wake-up (AFTER_WAIT)
   and after a re-check that found work (AFTER_CANCEL) alike. */
#if defined(WOKEN_TAKES_DIRECTLY) || defined(SLEPT_TAKES_DIRECTLY)
#define AFTER_WAIT   busy       /* BUG: back to find_work, not a spinner */
#else
#define AFTER_WAIT   spin
#endif
#ifdef WOKEN_TAKES_DIRECTLY
#define AFTER_CANCEL busy       /* BUG: likewise */
#else
#define AFTER_CANCEL spin
#endif

active [NW] proctype worker()
{
    byte me = _pid;     /* workers are started first: _pid 0 .. NW-1 */
    byte w;             /* wake_one's scratch */
    byte tries;         /* take attempts left in this spin phase */
#ifdef LATE_PUBLISH
    byte s;
#endif

busy:
    /* twill__worker_main: a worker that is not idle takes work directly,
       without counting itself as spinning.  Found nothing: it spins, or
       parks at once when others spin (sched_may_spin reads `spinning`
       relaxed, so any outcome is possible). */
    TAKE(running, idle);
idle:
    if
    :: goto spin
    :: goto park
    fi;

running:
    /* Running a task may spawn one (push to this worker's deque) ... */
    if
    :: atomic { spawns > 0 -> spawns-- }; produce(me)
    :: skip
    fi;
    /* ... and may never return (it waits for something else to run). */
    if
    :: atomic { hangs > 0 -> hangs--; hung[me] = true; CHECK };
end_hung:
        false
    :: goto busy
    fi;

spin:
    /* go_idle -> spin(): twill__event_spin_begin, then up to TRIES take
       attempts, then twill__event_spin_end. */
    atomic { spinning++; tries = TRIES };
attempt:
    TAKE(found, missed);
missed:
    if
    :: tries > 1 -> tries--; goto attempt
    :: else -> tries = 0
    fi;
#ifndef SPIN_END_AFTER_ANNOUNCE
    spinning--;                         /* spin_end, before the announce */
#endif
park:
    /* park(): the announce/re-check/sleep protocol. */
#ifndef ARM_AFTER_RECHECK
    armed[me] = true;                   /* 1. arm, then ... */
#endif
    waiters++;                          /*    ... announce */
                                        /* 3. full barrier: implicit (SC) */
#ifndef NO_RECHECK
    /* 4. re-check, one queue at a time in the code's order: the injector,
       then every deque; on a hit, cancel */
    RECHECK(INJ);
#if SPAWN > 0
    RECHECK(0);
    RECHECK(1);
#if NW > 2
    RECHECK(2);
#endif
#endif
#endif
#ifdef SPIN_END_AFTER_ANNOUNCE
    spinning--;                         /* BUG: spin_end after the re-check */
#endif
#ifdef ARM_AFTER_RECHECK
    armed[me] = true;                   /* BUG: a producer that saw waiters
                                           before this found nobody armed */
#endif
    /* 5. futex_wait(&armed[me], 1) */
    atomic {
        if
        :: armed[me] -> blocked[me] = true; CHECK
        :: else -> skip                 /* EAGAIN: claimed */
        fi
    }
end_wait:                               /* sleeping forever with nothing
                                           queued is a legal end state */
    if
    :: !blocked[me]                     /* woken (or never blocked) */
    :: atomic { blocked[me] && spur > 0 -> spur--; blocked[me] = false }
                                        /* spurious wake-up */
    fi;
    atomic { armed[me] = false; waiters-- };  /* 6. retract */
    goto AFTER_WAIT;

cancel:
    atomic { armed[me] = false; waiters-- };  /* 4. (hit) retract */
#ifdef SPIN_END_AFTER_ANNOUNCE
    spinning--;
#endif
    goto AFTER_CANCEL;

found:
#ifdef HANDOVER_BEFORE_SPIN_END
    goto handover;                      /* BUG: looks before it stops */
handed:
    atomic { spinning--; tries = 0 };
    goto running;
#endif
    atomic { spinning--; tries = 0 };   /* spin_end */
#ifndef NO_HANDOVER
handover:
    /* the hand-over (sched_steal.c, idle): if this was the last spinner and
       someone sleeps, re-check the queues one at a time (work_visible) and
       wake a sleeper only if an item is still queued */
    if
    :: waiters > 0 && spinning == 0 ->
        HANDOVER_LOOK(INJ);
#if SPAWN > 0 && !defined(HANDOVER_INJECTOR_ONLY)
        HANDOVER_LOOK(0);
        HANDOVER_LOOK(1);
#if NW > 2
        HANDOVER_LOOK(2);
#endif
#endif
        goto after_look;
wake:
        wake_one();
after_look:
        skip
    :: else
    fi;
#endif
#ifdef HANDOVER_BEFORE_SPIN_END
    goto handed
#else
    goto running
#endif
}

active [NP] proctype producer()
{
    byte n;
    byte w;             /* wake_one's scratch */
#ifdef LATE_PUBLISH
    byte s;
#endif
    do
    :: atomic { n < K -> n++ }; produce(INJ)
    :: else -> break
    od;
    atomic { pdone++; CHECK }
}

#ifdef LIVENESS
ltl drain { <> [] (PENDING == 0) }
#endif

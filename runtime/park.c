/*
 * park.c — idle parking and wake-up: an event count on a Linux futex.
 *
 * The protocol
 * ------------
 * A sleeper (an idle worker, or a submitter waiting for injector space):
 *   1. waiters++                      announce          (seq_cst RMW)
 *   2. key = epoch                                       (acquire)
 *   3. StoreLoad barrier              membarrier() or seq_cst fence
 *   4. re-check every place work (or space) can appear; if found: waiters--
 *   5. futex_wait(&epoch, key)        sleeps only while epoch == key
 *   6. waiters--
 * A producer (a deque push, an injector enqueue, a dequeue that frees space):
 *   1. publish the item               (release store in the queue)
 *   2. StoreLoad barrier              compiler barrier or seq_cst fence
 *   3. if (waiters != 0) { epoch++; futex_wake(&epoch, n) }
 *
 * Why no wake-up is lost.  This is Dekker's pattern: the sleeper stores
 * waiters then loads the queues, the producer stores a queue then loads
 * waiters.  With a full barrier between each store and load, at least one
 * side sees the other's store.  If the producer sees waiters != 0, it moves
 * the epoch before waking: a sleeper that has not yet reached futex_wait
 * finds epoch != key there and returns at once (the kernel compares the word
 * under its own lock), and one that already sleeps is woken.  If the
 * producer sees waiters == 0, the sleeper's announce came after the
 * producer's barrier, so the sleeper's re-check (after its own barrier) sees
 * the item and it does not sleep.  Step 2 reads the key after the announce
 * so that an epoch move in between is never missed.
 *
 * Who pays for the barrier.  Producers are hot (every task pushed by the
 * fork-join fast path), sleepers are cold (they are about to make a system
 * call anyway).  So when the kernel offers membarrier(PRIVATE_EXPEDITED),
 * the sleeper issues it in step 3: it runs a full barrier on every CPU that
 * is running a thread of this process, which is exactly the barrier each
 * producer would have needed at that moment; the producer keeps only a
 * compiler barrier so that its store and load stay in program order (the
 * asymmetric Dekker of Folly's asymmetricHeavyBarrier and userspace RCU).
 * Without membarrier, or under ThreadSanitizer (which models neither), both
 * sides use a seq_cst fence.  The protocol is model-checked with spin in
 * tests/model/park.pml (sequentially consistent, which the barriers justify).
 *
 * Spinners.  An idle worker first spins (looks for work without sleeping);
 * while any worker spins, producers skip the wake-up: the spinner will find
 * the work, and a stream of submissions to a busy pool makes no system call.
 * This loses nothing: a spinner stops spinning (decrement) before it
 * announces itself in step 1, so a producer that saw it spinning published
 * before that announce and the spinner's re-check (step 4) sees the item.  A
 * spinner that finds work hands the search over (Go's "spinning M" rule),
 * but only when something is left to find: after its decrement and a full
 * barrier, if someone sleeps and nobody else spins, it re-checks every
 * queue and wakes a sleeper only if an item is still there.  That is
 * Dekker again, between (publish ; barrier ; load spinning) in a producer
 * that skipped and (decrement spinning ; barrier ; load the queues) in the
 * spinner: either the producer saw the decrement (and wakes, or another
 * spinner covers it, recursively), or the spinner sees the item.  So the
 * producer's side needs a real barrier before it trusts a spinner: notify
 * fences when it sees a waiter, also in the asymmetric mode (the spinner
 * is hot here, on its way to a task, and membarrier() costs it ~50 us
 * while another CPU runs one of our threads).  A spinner whose find took
 * the last item wakes nobody, so a lone wake-up (a twill_run, a stray
 * submit) costs one futex wake, not two in a row.
 *
 * Wake-ups.  A producer wakes one sleeper per publication (an idle worker
 * that finds work and sees more left wakes the next one, see sched_steal.c).  Shutdown
 * and termination wake all.  Spurious wake-ups are allowed everywhere: every
 * caller loops and re-checks.
 *
 * Targeted events (idle workers).  A futex wake on one shared word wakes
 * whichever sleeper the kernel queued first, and if that one is pinned to
 * (or last ran on) the producer's CPU while the producer keeps running, the
 * task waits out the producer's scheduler slice with another CPU idle.  So
 * each worker sleeps on its own word, `armed`, and a producer picks whom
 * to wake by what it does next (twill__wake_pref, park.h): a worker that
 * keeps running, one announced from another CPU than its own
 * (sched_getcpu); a caller that blocks, one from its own CPU; an outside
 * thread that keeps running, one from its own CPU if that sleeper has a
 * short time slice (it preempts the thread at once: "Short slices"
 * below), else one from another CPU; any when none is preferred.  The
 * steps change only in what is announced and where one sleeps:
 *   sleeper:  1. cpu = sched_getcpu(); armed = 1 (seq_cst); waiters++
 *             3. barrier; 4. re-check; found: take armed back (exchange 0)
 *             5. futex_wait(&armed, 1); 6. exchange armed to 0: it was 0
 *                already iff a waker claimed us; waiters--
 *   producer: 1-2 as above; 3. if (waiters != 0): seq_cst fence, then
 *             claim an armed sleeper (CAS armed 1 -> 0), futex_wake it.
 * A claim is a promise to wake, kept by the futex: the kernel re-reads
 * armed under its lock, so a claimed sleeper never sleeps on, and one
 * already asleep is woken.  A producer that sees waiters != 0 but claims
 * nobody lost nothing: every announced sleeper has been claimed by another
 * producer or taken itself back, so it is awake or about to be, and looks
 * for work; if it misses our item, its next announce and re-check Dekker
 * with us through `armed` (our fence, then our load of its armed that read
 * the value before its re-arm, puts its re-check after our publication).
 * wake_all (shutdown, a broadcast, a resize) fences and claims every armed
 * sleeper; one that arms after that fence re-checks after the caller's
 * stores, by the same argument.  A sleeper that was claimed counts as woken
 * even when its timeout ran out meanwhile: the waker spent its wake-up on
 * it, so it must look.
 *
 * Short slices.  Waking a worker pinned to an idle vCPU takes ~90 us in
 * a VM (bench_futexwake --pin 1: the hypervisor must wake the vCPU), one
 * on the waker's own, busy CPU a few microseconds if it preempts the
 * waker.  Under EEVDF (Linux 6.6 on) a woken thread preempts only if its
 * deadline is earlier, and a pinned idle worker that yielded while it
 * spun (sched.h, TWILL__SPIN_ROUNDS) pushed its deadline back by a slice
 * each time: it waited out the waker's slice instead (1.87 ms here).
 * Linux 6.12 lets a normal thread ask for its own slice (sched_attr's
 * sched_runtime, 0.1 to 100 ms; a shorter one also preempts sooner), so
 * workers ask for the shortest: a yield then costs them at most 100 us
 * of deadline, and a woken worker preempts an outside producer that keeps
 * running within microseconds.  The slice only matters where a worker
 * shares a CPU with another runnable thread; there it means a switch
 * every 100 us instead of every few ms.
 *
 * Rejected designs.  (a) A mutex+condvar: a lock on every push.  (b) A
 * sleeping flag per worker that producers scan: O(workers) on every push.
 * (c) Sleeping with a timeout and polling: bounded latency but it burns an
 * idle core's budget and still needs the same ordering to be prompt.
 * (d) The fence only on pushes that make a deque non-empty: cheaper, but a
 * sleeper can then miss a push onto a deque that looked empty to it after
 * an earlier item was stolen; the asymmetric barrier gives the same fast
 * path without that hole.
 */
#include "park.h"

#include <linux/membarrier.h>
#include <sched.h>

#include "os.h"

static long membarrier_cmd(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

/* Set by twill__sleeper_thread_init, read by this thread's arms. */
static _Thread_local bool short_slice;

void twill__sleeper_thread_init(void)
{
    /* Read first, so that only the slice changes: the policy, the nice
       value and the flags go back as they were.  Normal threads only
       (SCHED_OTHER): a batch, idle or real-time thread keeps its own
       rules.  Kernels before 6.12 accept and ignore a normal thread's
       runtime and report 0 for it, so the second read tells. */
    twill__sched_attr a;
    short_slice = false;
    if (twill__sched_getattr(&a) != 0 || a.policy != SCHED_OTHER)
        return;
    a.runtime = TWILL__SHORT_SLICE_NS;
    if (twill__sched_setattr(&a) != 0)
        return;
    short_slice = twill__sched_getattr(&a) == 0 && a.runtime == TWILL__SHORT_SLICE_NS;
}

void twill__event_init(twill__event *ev, bool asymmetric)
{
    atomic_init(&ev->waiters, 0);
    atomic_init(&ev->spinning, 0);
    atomic_init(&ev->epoch, 0);
    ev->sleepers = NULL;
    ev->nsleepers = NULL;
#ifdef TWILL_TSAN
    asymmetric = false;
#endif
    /* Registration is per process and idempotent; it fails on kernels
       before 4.14 or where seccomp forbids it, and then we use fences. */
    ev->asymmetric = asymmetric &&
                     membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void twill__event_init_targeted(twill__event *ev, bool asymmetric, twill__sleeper *sleepers,
                                _Atomic uint32_t *nsleepers)
{
    twill__event_init(ev, asymmetric);
    ev->sleepers = sleepers;
    ev->nsleepers = nsleepers;
}

/* Steps 1 (after the caller's own part) and 3 of the announce. */
static void announce(twill__event *ev)
{
    /* seq_cst: the announce; pairs with the producers' load of waiters
       through the barrier below and theirs. */
    atomic_fetch_add_explicit(&ev->waiters, 1, memory_order_seq_cst);
}

static void barrier(twill__event *ev)
{
    if (ev->asymmetric) {
        /* The heavy half of the asymmetric barrier: a full barrier on every
           CPU running one of our threads, so every producer's earlier
           publication is visible to our re-check, and every producer's later
           load of waiters sees our announce.  Cannot fail once registered. */
        membarrier_cmd(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    }
    /* Our side of Dekker in the symmetric mode; in the asymmetric mode it
       also orders our own announce before our re-check. */
    atomic_thread_fence(memory_order_seq_cst);
}

uint32_t twill__event_prepare(twill__event *ev)
{
    TWILL_ASSERT(ev->sleepers == NULL);
    announce(ev);
    /* acquire: pairs with the producers' release increment of epoch. */
    uint32_t key = atomic_load_explicit(&ev->epoch, memory_order_acquire);
    barrier(ev);
    return key;
}

void twill__sleeper_arm(twill__sleeper *s)
{
    /* relaxed: a hint for wakers (twill__sleeper). */
    atomic_store_explicit(&s->cpu, sched_getcpu(), memory_order_relaxed);
    atomic_store_explicit(&s->short_slice, short_slice, memory_order_relaxed);
    /* seq_cst: in an event, armed before waiters, so a producer that sees
       our count finds us armed (its loads follow its fence); and in the
       total order with the wakers' fences (header, "Targeted events"). */
    atomic_store_explicit(&s->armed, 1, memory_order_seq_cst);
}

void twill__event_prepare_as(twill__event *ev, twill__sleeper *s)
{
    TWILL_ASSERT(ev->sleepers != NULL);
    twill__sleeper_arm(s);
    announce(ev);
    barrier(ev);
}

void twill__event_cancel(twill__event *ev)
{
    /* release: our re-check is done before we stop being counted. */
    atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_release);
}

void twill__event_wait(twill__event *ev, uint32_t key, int64_t timeout_ns)
{
    /* acquire: pairs with the producers' release increment of epoch. */
    if (atomic_load_explicit(&ev->epoch, memory_order_acquire) == key) {
        /* The kernel re-reads epoch under its hash-bucket lock and sleeps
           only if it still equals key: a wake between our load and the
           sleep is never lost.  EINTR/EAGAIN/ETIMEDOUT: callers loop. */
        twill__futex_wait(&ev->epoch, key, timeout_ns);
    }
    twill__event_cancel(ev);
}

/* Take our word back.  acq_rel: reading a waker's 0 (a claim) acquires
   what it published before claiming us (its CAS is a release). */
static bool disarm(twill__sleeper *s)
{
    return atomic_exchange_explicit(&s->armed, 0, memory_order_acq_rel) == 0;
}

bool twill__event_cancel_as(twill__event *ev, twill__sleeper *s)
{
    bool claimed = disarm(s);
    twill__event_cancel(ev);
    return claimed;
}

bool twill__sleeper_sleep(twill__sleeper *s, int64_t timeout_ns)
{
    /* acquire: as in disarm.  The kernel re-reads armed under its bucket
       lock, so a claim (and its wake) before the sleep is never lost. */
    if (atomic_load_explicit(&s->armed, memory_order_acquire) == 1)
        twill__futex_wait(&s->armed, 1, timeout_ns);
    return disarm(s);
}

bool twill__event_wait_as(twill__event *ev, twill__sleeper *s, int64_t timeout_ns)
{
    bool claimed = twill__sleeper_sleep(s, timeout_ns);
    twill__event_cancel(ev);
    return claimed;
}

/* Claim s if it is armed.  acq_rel: the release half pairs with the
   sleeper's acquire in disarm (it sees what we published); the load first
   keeps wakers from writing the lines of sleepers that are not armed. */
static bool claim(twill__sleeper *s)
{
    uint32_t one = 1;
    /* relaxed: the CAS decides. */
    return atomic_load_explicit(&s->armed, memory_order_relaxed) == 1 &&
           atomic_compare_exchange_strong_explicit(&s->armed, &one, 0, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* The futex wake after a claim.  The word stays valid: sleeper words live
   as long as their owner (a pool); a stale wake at a sleeper that already
   left and armed again is a spurious wake-up, which it tolerates. */
TWILL_COLD void twill__sleeper_wake(twill__sleeper *s)
{
    twill__futex_wake(&s->armed, 1);
}

/* Does pref prefer sleeper s, for a caller on CPU cpu (park.h)?  OUTSIDE
   prefers ours if it has the short slice and another CPU's if it has not:
   here == short_slice.  relaxed: hints (twill__sleeper). */
static bool preferred(twill__sleeper *s, int cpu, twill__wake_pref pref)
{
    bool here = atomic_load_explicit(&s->cpu, memory_order_relaxed) == cpu;
    switch (pref) {
    case TWILL__WAKE_HERE:
        return here;
    case TWILL__WAKE_OUTSIDE:
        return here == atomic_load_explicit(&s->short_slice, memory_order_relaxed);
    default:
        return !here;
    }
}

TWILL_COLD twill__sleeper *twill__sleepers_claim_one(twill__sleeper *s, unsigned n,
                                                     twill__wake_pref pref)
{
    int cpu = sched_getcpu();
    /* Two passes: the preferred sleepers, then any.  Lowest index first,
       so the highest (an elastic pool's extra workers) sleep longest and
       time out. */
    for (int any = 0; any < 2; any++)
        for (unsigned i = 0; i < n; i++)
            if ((any || preferred(&s[i], cpu, pref)) && claim(&s[i]))
                return &s[i];
    return NULL;
}

TWILL_COLD void twill__sleepers_wake_all(twill__sleeper *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (claim(&s[i]))
            twill__sleeper_wake(&s[i]);
}

TWILL_COLD void twill__event_wake(twill__event *ev, int n, twill__wake_pref pref)
{
    if (ev->sleepers == NULL) {
        /* release: pairs with the sleepers' acquire loads of epoch; the
           move itself is what makes a not-yet-sleeping announcer skip its
           sleep. */
        atomic_fetch_add_explicit(&ev->epoch, 1, memory_order_release);
        twill__futex_wake(&ev->epoch, n);
        return;
    }
    /* The wakers' side of the ordering with a sleeper's armed store and
       barrier (header, "Targeted events"): also the full barrier the
       asymmetric notify left to us before these loads. */
    atomic_thread_fence(memory_order_seq_cst);
    /* acquire: pairs with the release that publishes a new slot. */
    unsigned count = atomic_load_explicit(ev->nsleepers, memory_order_acquire);
    if (n == INT32_MAX) {
        twill__sleepers_wake_all(ev->sleepers, count);
        return;
    }
    twill__sleeper *s;
    while (n-- > 0 && (s = twill__sleepers_claim_one(ev->sleepers, count, pref)) != NULL)
        twill__sleeper_wake(s);
}

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
 * spinner that finds work notifies once more, so if it was the last spinner
 * a sleeper takes over the search (Go's "spinning M" rule).
 *
 * Wake-ups.  A producer wakes one sleeper per publication (an idle worker
 * that then finds more work wakes the next one, see sched_steal.c).  Shutdown
 * and termination wake all.  Spurious wake-ups are allowed everywhere: every
 * caller loops and re-checks.
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

#include "os.h"

static long membarrier_cmd(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

void twill__event_init(twill__event *ev, bool asymmetric)
{
    atomic_init(&ev->waiters, 0);
    atomic_init(&ev->spinning, 0);
    atomic_init(&ev->epoch, 0);
#ifdef TWILL_TSAN
    asymmetric = false;
#endif
    /* Registration is per process and idempotent; it fails on kernels
       before 4.14 or where seccomp forbids it, and then we use fences. */
    ev->asymmetric = asymmetric &&
                     membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

uint32_t twill__event_prepare(twill__event *ev)
{
    /* seq_cst: the announce; pairs with the producers' load of waiters
       through the barrier below and theirs. */
    atomic_fetch_add_explicit(&ev->waiters, 1, memory_order_seq_cst);
    /* acquire: pairs with the producers' release increment of epoch. */
    uint32_t key = atomic_load_explicit(&ev->epoch, memory_order_acquire);
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
    return key;
}

void twill__event_cancel(twill__event *ev)
{
    /* release: our re-check is done before we stop being counted. */
    atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_release);
}

bool twill__event_wait(twill__event *ev, uint32_t key, int64_t timeout_ns)
{
    bool slept = false;
    /* acquire: pairs with the producers' release increment of epoch. */
    if (atomic_load_explicit(&ev->epoch, memory_order_acquire) == key) {
        /* The kernel re-reads epoch under its hash-bucket lock and sleeps
           only if it still equals key: a wake between our load and the
           sleep is never lost.  EINTR/EAGAIN/ETIMEDOUT: callers loop. */
        twill__futex_wait(&ev->epoch, key, timeout_ns);
        slept = true;
    }
    twill__event_cancel(ev);
    return slept;
}

TWILL_COLD void twill__event_wake(twill__event *ev, int n)
{
    /* release: pairs with the sleepers' acquire loads of epoch; the move
       itself is what makes a not-yet-sleeping announcer skip its sleep. */
    atomic_fetch_add_explicit(&ev->epoch, 1, memory_order_release);
    twill__futex_wake(&ev->epoch, n);
}

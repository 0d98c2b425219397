/*
 * park.h — event counts: sleep until something happens, with no lost
 * wake-ups and no system call on the producer's fast path.  The protocol and
 * its ordering argument open park.c.
 *
 * Used for two events per pool: "work is available" (idle workers sleep on
 * it, each on its own sleeper word, so that a producer wakes one whose CPU
 * is free: a targeted event) and "the injector has space" (blocked outside
 * submitters sleep on it, on the shared epoch word).
 *
 * Who may call what: every function, any thread.
 */
#ifndef TWILL_PARK_H
#define TWILL_PARK_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

/* A sleeper of a targeted event (or of a scheduler that arms and claims
   the same words under its own lock): one per worker slot. */
typedef struct twill__sleeper {
    /* 1 from the sleeper's announce until a waker claims it (CAS 1 -> 0,
       then a futex wake) or the sleeper takes it back (exchange to 0).
       The futex word the sleeper waits on. */
    _Atomic uint32_t armed;
    /* The CPU the sleeper announced from (sched_getcpu): where it is
       pinned, or where the kernel puts it back when that CPU is idle.
       Written by the sleeper before it arms (relaxed), read by wakers as a
       hint (relaxed): a wrong guess only costs the targeting. */
    _Atomic int32_t cpu;
    /* Whether the sleeper runs with a short time slice
       (twill__sleeper_thread_init): woken onto a busy CPU, it preempts the
       running thread at once.  Written and read as cpu is. */
    _Atomic bool short_slice;
} twill__sleeper;

/* Whom a producer's wake-up prefers on a targeted event, by what the
   producer does next.  A wrong guess costs only time: any armed sleeper
   is taken when no preferred one is. */
typedef enum twill__wake_pref {
    /* A worker that keeps running: a sleeper announced from another CPU
       (its own CPU is busy with its own work). */
    TWILL__WAKE_ELSEWHERE,
    /* An outside thread that keeps running: one announced from its own CPU
       if that one has a short slice (it preempts the thread and starts
       within microseconds, where waking an idle vCPU takes ~90 us in a
       VM: README "Wake-ups"), else one from another CPU (without the
       short slice it would wait out the thread's slice, ~2 ms). */
    TWILL__WAKE_OUTSIDE,
    /* The caller blocks right away (twill_run): one from its own CPU,
       which starts the moment the caller sleeps. */
    TWILL__WAKE_HERE
} twill__wake_pref;

/* The slice workers ask for: the kernel's shortest, 0.1 ms. */
#define TWILL__SHORT_SLICE_NS 100000

/* The calling thread is a worker that will sleep on sleeper words: ask
   the kernel for a short time slice (Linux 6.12 and later honour a slice
   for normal threads; other kernels and policies keep theirs), keeping
   its policy and nice value.  Where the short slice is in effect, the
   thread's twill__sleeper_arm tells wakers so. */
void twill__sleeper_thread_init(void);

typedef struct twill__event {
    /* Written by sleepers (announce/retract, RMW); read by producers. */
    alignas(TWILL_CACHE_LINE) _Atomic uint32_t waiters;
    /* Idle workers still spinning (looking for work before they sleep);
       written by them (RMW), read by producers: while one spins, a producer
       does not wake a sleeper, the spinner will find the work. */
    _Atomic uint32_t spinning;
    /* The futex word of an untargeted event.  Written by producers that saw
       a waiter (RMW); read by sleepers as their key. */
    _Atomic uint32_t epoch;
    /* Targeted events: the sleeper words, *nsleepers of them in use (the
       owner's count, read with acquire); NULL: untargeted.  Set at init. */
    twill__sleeper *sleepers;
    _Atomic uint32_t *nsleepers;
    /* true: sleepers issue membarrier() and producers need only a compiler
       barrier (asymmetric Dekker); false: both sides use a seq_cst fence.
       Written once at init. */
    bool asymmetric;
} twill__event;

/* Before sharing.  asymmetric requests membarrier(); it is used only when
   the kernel supports it (and never under ThreadSanitizer). */
void twill__event_init(twill__event *ev, bool asymmetric);

/* The same, for a targeted event: sleepers[0 .. *nsleepers) are its
   sleepers' words (zeroed, caller-owned, outliving the event); every
   sleeper uses the _as functions with its own word. */
void twill__event_init_targeted(twill__event *ev, bool asymmetric, twill__sleeper *sleepers,
                                _Atomic uint32_t *nsleepers);

/* Sleeper, step 1: announce the intention to sleep and take a key.  The
   caller must then re-check its condition and either call
   twill__event_cancel (condition true) or twill__event_wait (still false). */
uint32_t twill__event_prepare(twill__event *ev);

/* Sleeper: retract an announcement made with prepare. */
void twill__event_cancel(twill__event *ev);

/* Sleeper, step 3: sleep until the epoch moves past key, a wake-up, a
   spurious wake-up, or timeout_ns (< 0: no limit) passes.  Retracts the
   announcement before returning. */
void twill__event_wait(twill__event *ev, uint32_t key, int64_t timeout_ns);

/* The three steps on a targeted event, for the sleeper whose word is s.
   cancel_as and wait_as return true when a waker claimed s (a wake-up was
   spent on this sleeper: it must look for work before it goes away). */
void twill__event_prepare_as(twill__event *ev, twill__sleeper *s);
bool twill__event_cancel_as(twill__event *ev, twill__sleeper *s);
bool twill__event_wait_as(twill__event *ev, twill__sleeper *s, int64_t timeout_ns);

/* Producer, slow path: wake up to n sleepers; on a targeted event, the
   ones pref prefers first. */
void twill__event_wake(twill__event *ev, int n, twill__wake_pref pref);

/* Sleeper words without an event, armed and claimed under their owner's
   lock (a scheduler whose queue has one).  The sleeper arms its word (and
   records its CPU and slice), then sleep waits until a waker claims it, a
   spurious wake-up, or timeout_ns (< 0: no limit), takes the word back
   and returns true if it was claimed.  claim_one claims one armed sleeper
   of s[0..n), one that pref prefers if there is one, and returns it (NULL:
   none was armed); sleeper_wake then wakes it, under the lock or after
   it: a claimed sleeper does not start a sleep (the kernel re-reads its
   word), so the wake only ends one that began, and waking after the
   unlock spares the woken worker a wait for the lock that its waker holds
   (on the waker's CPU it runs first: park.c, "Short slices").  wake_all
   claims and wakes every armed one. */
void twill__sleeper_arm(twill__sleeper *s);
bool twill__sleeper_sleep(twill__sleeper *s, int64_t timeout_ns);
twill__sleeper *twill__sleepers_claim_one(twill__sleeper *s, unsigned n, twill__wake_pref pref);
void twill__sleeper_wake(twill__sleeper *s);
void twill__sleepers_wake_all(twill__sleeper *s, unsigned n);

/* Producer, after making its work visible: wake one sleeper if any has
   announced itself.  No system call unless a sleeper exists; pref: whom
   to wake (twill__wake_pref).  Returns whether an
   idle worker will look: one sleeps (woken now, or left to a spinner) or
   one spins; false when none is idle (a hint: every worker was busy a
   moment ago, and the caller may ask them by its own means). */
static inline bool twill__event_notify_as(twill__event *ev, twill__wake_pref pref)
{
    /* StoreLoad between the caller's publication (a deque or injector store)
       and the load of waiters below; the sleeper side has the matching
       barrier between its announce and its re-check.  Asymmetric mode moves
       the hardware barrier to the sleeper (membarrier), leaving a compiler
       barrier here to keep program order. */
    if (ev->asymmetric)
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the barrier above (see park.c). */
    if (twill_unlikely(atomic_load_explicit(&ev->waiters, memory_order_relaxed) != 0)) {
        /* Someone sleeps.  A skip because a spinner is still counted must
           come after a full barrier on our side too: that spinner's
           hand-over re-checks the queues after its spin_end and wakes only
           if it sees our item (Dekker, park.c "Spinners"), and in the
           asymmetric mode nobody issues membarrier() for it. */
        if (ev->asymmetric)
            atomic_thread_fence(memory_order_seq_cst);
        /* relaxed: ordered by the fence (either mode's). */
        if (atomic_load_explicit(&ev->spinning, memory_order_relaxed) == 0)
            twill__event_wake(ev, 1, pref);
        return true;
    }
    /* relaxed: only the hint above (the line the fence ordered us on). */
    return atomic_load_explicit(&ev->spinning, memory_order_relaxed) != 0;
}

/* The usual producer: a worker that keeps running after the notify. */
static inline void twill__event_notify(twill__event *ev)
{
    (void)twill__event_notify_as(ev, TWILL__WAKE_ELSEWHERE);
}

/* An idle worker starts looking for work without sleeping. */
static inline void twill__event_spin_begin(twill__event *ev)
{
    /* relaxed: producers only read it as a hint to skip a wake-up; a
       spinner that stops either found work and hands the search over, or
       parks and re-checks under the protocol (park.c). */
    atomic_fetch_add_explicit(&ev->spinning, 1, memory_order_relaxed);
}

/* A spinner stops: it found work, or it is about to park.  seq_cst: the
   decrement precedes the spinner's announce in prepare, so a producer that
   saw it still spinning is covered by that announce's re-check. */
static inline void twill__event_spin_end(twill__event *ev)
{
    atomic_fetch_sub_explicit(&ev->spinning, 1, memory_order_seq_cst);
}

/* A spinner that found work, after spin_end: is a hand-over due?  True
   when someone sleeps and nobody else spins; the caller then re-checks
   every queue and, if an item is still there, wakes a sleeper
   (twill__event_wake) to search on in its place (park.c, "Spinners"). */
static inline bool twill__event_handover_due(twill__event *ev)
{
    /* seq_cst fence: our decrement before our loads of waiters and, after
       this, of the queues; pairs with the producers' fence between their
       publication and their load of spinning (notify). */
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the fence. */
    return atomic_load_explicit(&ev->waiters, memory_order_relaxed) != 0 &&
           atomic_load_explicit(&ev->spinning, memory_order_relaxed) == 0;
}

/* Wake every sleeper (shutdown, termination). */
static inline void twill__event_notify_all(twill__event *ev)
{
    twill__event_wake(ev, INT32_MAX, TWILL__WAKE_ELSEWHERE);
}

#endif /* TWILL_PARK_H */

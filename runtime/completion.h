/*
 * completion.h — the completion word: what every wait in twill waits on (a
 * join's stolen half, a group, a twill_run), and how the last finisher
 * wakes the waiter.
 *
 * The word is a futex word.  Bits 0-30 count what is still to finish; bit
 * 31 (SLEEPER) says a waiter sleeps on the word.  A waiter is done when the
 * count reads 0.  A finisher's fetch_sub is its last write to the word: it
 * then calls futex_wake only if the old value had SLEEPER set, and
 * futex_wake does not write user memory.  So a waiter may return, and its
 * stack frame (where the word often lives) be reused, the moment the count
 * reaches 0.  (A separate sleepers field or a condition variable would be
 * touched after the count hits zero: rejected.)
 *
 * Who may call what: add and finish from any thread; sleep from the one
 * waiting thread.
 */
#ifndef TWILL_COMPLETION_H
#define TWILL_COMPLETION_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "os.h"

#define TWILL__SLEEPER 0x80000000u /* a waiter sleeps on the word */
#define TWILL__PENDING 0x7fffffffu /* the count of what is still to finish */

/* Is everything finished?  acquire: pairs with twill__finish's release, so
   the finishers' writes are visible to the waiter. */
static inline bool twill__completed(_Atomic uint32_t *word)
{
    return (atomic_load_explicit(word, memory_order_acquire) & TWILL__PENDING) == 0;
}

/* One more thing to finish.  relaxed: counted before the thing is
   published (the publication releases). */
static inline void twill__expect(_Atomic uint32_t *word)
{
    atomic_fetch_add_explicit(word, 1, memory_order_relaxed);
}

/* One thing finished (or was discarded).  acq_rel: release publishes what
   it wrote to the waiter's acquire in twill__completed; acquire orders our
   read of SLEEPER.  After this call the word may be gone. */
static inline void twill__finish(_Atomic uint32_t *word)
{
    uint32_t old = atomic_fetch_sub_explicit(word, 1, memory_order_acq_rel);
    TWILL_ASSERT((old & TWILL__PENDING) != 0); /* a count below zero */
    if ((old & TWILL__PENDING) == 1 && (old & TWILL__SLEEPER))
        twill__futex_wake(word, INT_MAX);
}

/* Waiter: sleep until the word changes or nap_ns passes (< 0: no limit). */
static inline void twill__completion_sleep(_Atomic uint32_t *word, int64_t nap_ns)
{
    uint32_t v = atomic_load_explicit(word, memory_order_acquire);
    if ((v & TWILL__PENDING) == 0)
        return;
    /* relaxed CAS: the flag only asks the last finisher for a wake-up; the
       kernel re-checks the word before sleeping. */
    if (!(v & TWILL__SLEEPER) &&
        !atomic_compare_exchange_strong_explicit(word, &v, v | TWILL__SLEEPER,
                                                 memory_order_relaxed, memory_order_relaxed))
        return; /* changed under us: look again */
    twill__futex_wait(word, v | TWILL__SLEEPER, nap_ns);
}

/* Waiter, once done: clear SLEEPER for the word's next use.  An RMW, so a
   concurrent twill__expect (a group spawn racing its wait) is kept.
   relaxed: nobody sleeps on the finished round any more.  Only the
   waiter sets SLEEPER (twill__completion_sleep), so its own load tells
   exactly whether there is a flag to clear: a round it never slept in
   pays no read-modify-write. */
static inline void twill__completion_reset(_Atomic uint32_t *word)
{
    if (atomic_load_explicit(word, memory_order_relaxed) & TWILL__SLEEPER)
        atomic_fetch_and_explicit(word, ~TWILL__SLEEPER, memory_order_relaxed);
}

#endif /* TWILL_COMPLETION_H */

/*
 * deque.h — the Chase-Lev work-stealing deque, after Lê, Pop, Cohen and
 * Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory
 * Models" (PPoPP 2013), with the buffer growth of Chase and Lev (SPAA 2005).
 *
 * Who may call what
 *   push, take, destroy: the owner thread only (one thread per deque).
 *   steal, size_estimate: any thread.
 *   init: before the deque is shared.
 *
 * Invariants
 *   - Items live in [top, bottom).  top only grows (CAS by thieves, or by the
 *     owner for the last item); bottom is written by the owner only.
 *   - Indices are signed 64-bit: take() on an empty deque briefly stores
 *     bottom = top - 1, which must not wrap, and 2^63 pushes never happen.
 *   - The buffer doubles when a push finds it full, and halves when a take
 *     leaves fewer than capacity/4 items (crossbeam's rule), never below the
 *     initial capacity; an owner that finds its deque empty puts it straight
 *     back to that capacity.  A resize
 *     copies [top, bottom) into a fresh buffer and publishes it; the old one
 *     is never written again and is freed as soon as no thief can still be
 *     reading it (the reclamation protocol is in deque.c).  So a thief that
 *     still holds an old buffer reads the same item that its CAS on top then
 *     claims, and a thief that sees the new one and wins its CAS has an index
 *     the copy covers: no item both stolen and taken, none lost.
 *   - top is only ever changed by a CAS from t to t + 1 (the owner never
 *     stores it), so a thief's successful CAS proves that nobody claimed
 *     index t since it read top.  crossbeam's FIFO pop stored front back,
 *     which with a resize let a task be popped twice (GHSA-pqqp-xmhj-wgcw).
 *   - After a resize the owner uses only the new buffer: grow returns it to
 *     push, and take reads its item before it shrinks (pushing into the old
 *     buffer is the paper's own bug, found by CDSChecker).
 *   - Slots are atomic: after wrap-around the owner may overwrite a slot that
 *     a losing thief is reading; the thief then fails its CAS and drops the
 *     value, but the read itself must not be a data race.
 *
 * The push/take/steal fast paths are inline here; growth, shrinking and
 * freeing are the cold paths in deque.c.
 */
#ifndef TWILL_DEQUE_H
#define TWILL_DEQUE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct twill__deque_buf {
    int64_t mask;                  /* capacity - 1; capacity is a power of two */
    struct twill__deque_buf *prev; /* retired chain; owner only */
    _Atomic(void *) slot[];
} twill__deque_buf;

typedef struct twill__deque {
    /* Written by thieves (CAS) and by the owner (CAS on the last item). */
    alignas(TWILL_CACHE_LINE) _Atomic int64_t top;
    /* Thieves between their load of buffer and their CAS on top: each one
       increments it before and decrements it after (RMWs by thieves); read
       by the owner before it frees replaced buffers.  On top's line, which a
       thief is about to write anyway. */
    _Atomic uint32_t stealers;
    /* Written by the owner only; read by thieves. */
    alignas(TWILL_CACHE_LINE) _Atomic int64_t bottom;
    _Atomic(twill__deque_buf *) buffer;
    /* Owner only (plain fields, on the owner's line; written at resizes). */
    int64_t low_water;          /* take's fast path needs at least this many
                                   items left after it: 0 at the initial
                                   capacity, ceil(capacity/4) above it */
    int64_t min_mask;           /* initial capacity - 1: never shrink below */
    twill__deque_buf *retired;  /* replaced buffers not yet freed (via prev) */
    bool trim_due;              /* the buffer is above its initial capacity or
                                   retired is not empty: an empty take calls
                                   take_cold to shrink and free */
} twill__deque;

/* Outcome of a steal: a lost race is never mistaken for "no work". */
typedef enum {
    TWILL__STEAL_EMPTY,   /* nothing to steal at the time of the attempt */
    TWILL__STEAL_SUCCESS, /* *out holds the stolen item */
    TWILL__STEAL_RETRY    /* lost a race with another thief or the owner */
} twill__steal_result;

/* Largest initial capacity accepted by init (2^30 slots). */
#define TWILL__DEQUE_MAX_CAPACITY ((size_t)1 << 30)

/* Before sharing.  capacity is rounded up to a power of two.
   Returns 0; EINVAL for NULL d, capacity 0 or over the maximum; ENOMEM. */
int twill__deque_init(twill__deque *d, size_t capacity);

/* Owner only, once no thief can touch d: frees the buffer and retired ones.
   Items still inside are not touched.  NULL: no-op. */
void twill__deque_destroy(twill__deque *d);

/* Owner only.  Slow path of push: grows the buffer and returns the new one,
   or NULL when out of memory (the buffer is then unchanged). */
twill__deque_buf *twill__deque_grow(twill__deque *d, twill__deque_buf *a,
                                    int64_t t, int64_t b);

/* Owner only.  Cold side of take: the deque looked empty, or fewer than
   low_water items would be left.  Takes as take does, then shrinks the
   buffer if it is mostly empty and frees retired buffers no thief holds. */
void *twill__deque_take_cold(twill__deque *d);

/* Owner only.  Replaced buffers still waiting for thieves (tests). */
size_t twill__deque_retired(twill__deque *d);

/* Current capacity of the buffer.  Owner only (tests and stats). */
static inline size_t twill__deque_capacity(twill__deque *d)
{
    /* relaxed: the owner is the only writer of buffer. */
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_relaxed);
    return (size_t)a->mask + 1;
}

/*
 * Owner only.  Push x (not NULL) at the bottom.  Returns 0, or ENOMEM when the
 * buffer was full and could not grow (x is then not pushed).
 */
static inline int twill__deque_push(twill__deque *d, void *x)
{
    /* relaxed: bottom is written by this thread only. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: pairs with the thieves' CAS on top, so their reads of slots
       below the new top happen before we overwrite those slots after a wrap. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* relaxed: buffer is written by this thread only. */
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_relaxed);
    if (twill_unlikely(b - t > a->mask)) {
        /* Use the buffer grow returns, never the one loaded above: pushing
           into the old buffer after a resize is the paper's own bug. */
        a = twill__deque_grow(d, a, t, b);
        if (twill_unlikely(a == NULL))
            return ENOMEM;
    }
    /* relaxed: published by the release fence below. */
    atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
    /* Release fence: orders the slot store (and whatever the caller wrote
       into the item before pushing) before the bottom store, pairing with
       the acquire load of bottom in steal.  Without it a thief could see the
       new bottom and read a stale slot or a half-written task. */
    atomic_thread_fence(memory_order_release);
    TWILL_TSAN_RELEASE(&d->bottom);
    /* relaxed: ordered by the fence above. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return 0;
}

/* Owner only.  The claim protocol of take, after bottom was read as b + 1
   and b found not below top: shared by the fast path and take_cold. */
static inline void *twill__deque_take_claim(twill__deque *d, int64_t b)
{
    /* relaxed: buffer is written by this thread only. */
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_relaxed);
    /* relaxed: the seq_cst fence below orders it. */
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    /* Seq_cst fence (StoreLoad): our claim on slot b (bottom store) must be
       globally visible before we read top; it pairs with the fence in steal
       between its loads of top and bottom.  Without it the owner and a thief
       can each miss the other's claim and both take the same last item. */
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the fence above. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (twill_likely(t < b)) {
        /* More than one item: slot b is ours, no thief can reach it. */
        return atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
    }
    void *x = NULL;
    if (t == b) {
        /* Last item: race the thieves for it with a CAS on top.
           relaxed load: we own the slot until top moves past it. */
        x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
        /* seq_cst: totally ordered with the thieves' CAS on top. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                     memory_order_seq_cst,
                                                     memory_order_relaxed))
            x = NULL;
    }
    /* Empty (or just emptied): restore bottom = top.  relaxed: thieves that
       read the transient value see t >= b and report empty, which is true. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return x;
}

/* Owner only.  Take the most recently pushed item; NULL when empty. */
static inline void *twill__deque_take(twill__deque *d)
{
    /* relaxed: bottom is written by this thread only. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    /* One compare sends the rare cases to the cold side: the deque is empty
       for sure (top only grows, so a stale top is too small, never too large;
       if even it has caught up with bottom the deque is empty), or, with a
       buffer above its initial capacity (low_water > 0), fewer than a quarter
       of it would stay filled, so it should shrink.  At the initial capacity
       low_water is 0 and this is the plain emptiness test.  relaxed: a fast
       exit, the full protocol follows.  low_water, trim_due: owner only. */
    if (twill_unlikely(atomic_load_explicit(&d->top, memory_order_relaxed) + d->low_water > b)) {
        /* Empty, at the initial capacity, nothing waiting to be freed: what
           an idle worker polling its deque sees, so no call.  (Not retesting
           low_water here keeps the compare above a single add from memory.) */
        if (twill_likely(!d->trim_due))
            return NULL;
        return twill__deque_take_cold(d);
    }
    return twill__deque_take_claim(d, b);
}

/* Any thread.  Try to steal the oldest item into *out. */
static inline twill__steal_result twill__deque_steal(twill__deque *d, void **out)
{
    /* acquire: pairs with other thieves' CAS on top. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* Seq_cst fence: orders the top load before the bottom load; pairs with
       the fence in take (see there). */
    atomic_thread_fence(memory_order_seq_cst);
    /* acquire: pairs with the release fence in push, making the slot and the
       item's contents visible. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    TWILL_TSAN_ACQUIRE(&d->bottom);
    if (t >= b)
        return TWILL__STEAL_EMPTY;
    /* Announce that we are about to hold the buffer; the owner frees a
       replaced buffer only if it reads stealers == 0 after publishing the
       replacement (deque.c).  seq_cst, with the seq_cst load of buffer
       below, against the owner's seq_cst store of buffer then load of
       stealers (Dekker): either it sees our increment, or we see its new
       buffer.  After the emptiness test, so an empty steal costs nothing. */
    atomic_fetch_add_explicit(&d->stealers, 1, memory_order_seq_cst);
    /* seq_cst: the Dekker pair above; also acquire, pairing with the store
       of a new buffer, so its copied slots are visible.  Loaded after bottom,
       so it is at least the buffer that held item t when bottom was
       published. */
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_seq_cst);
    /* relaxed: may race with an owner overwrite after wrap-around; the CAS
       below then fails and the value is dropped. */
    void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
    /* seq_cst: totally ordered with the owner's CAS in take and other thieves;
       success is the claim on item t and releases our read of its slot. */
    bool won = atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                       memory_order_seq_cst,
                                                       memory_order_relaxed);
    /* seq_cst: done with a.  The owner's seq_cst load of stealers that reads
       the count without us (this or a later RMW) synchronises with it, so
       our reads of a happen before the owner frees a.  seq_cst rather than
       release so that all RMWs of stealers stay in the one total order the
       owner's argument uses (deque.c). */
    atomic_fetch_sub_explicit(&d->stealers, 1, memory_order_seq_cst);
    if (!won)
        return TWILL__STEAL_RETRY;
    *out = x;
    return TWILL__STEAL_SUCCESS;
}

/* Any thread.  Number of items at some recent moment (may be stale, never
   negative).  Used by idle workers to decide whether a victim is worth it. */
static inline int64_t twill__deque_size_estimate(twill__deque *d)
{
    /* acquire on both: pairs with push's fence / thieves' CAS; the result is
       only a hint, a stale value costs one extra or one missed attempt. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    return b > t ? b - t : 0;
}

#endif /* TWILL_DEQUE_H */

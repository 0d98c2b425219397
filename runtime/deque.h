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
 *   - The buffer only grows.  A grown buffer copies [top, bottom) and the old
 *     one is never written again; it is kept on a retired list and freed by
 *     destroy, so a thief still holding it reads the same item that its CAS on
 *     top then claims (no use-after-free, no item both stolen and taken).
 *   - Slots are atomic: after wrap-around the owner may overwrite a slot that
 *     a losing thief is reading; the thief then fails its CAS and drops the
 *     value, but the read itself must not be a data race.
 *
 * The push/take/steal fast paths are inline here; growth is the cold slow
 * path in deque.c.
 */
#ifndef TWILL_DEQUE_H
#define TWILL_DEQUE_H

#include <errno.h>
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
    /* Written by the owner only; read by thieves. */
    alignas(TWILL_CACHE_LINE) _Atomic int64_t bottom;
    _Atomic(twill__deque_buf *) buffer;
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

/* Owner only.  Take the most recently pushed item; NULL when empty. */
static inline void *twill__deque_take(twill__deque *d)
{
    /* relaxed: bottom and buffer are written by this thread only. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    /* Empty for sure, without the fence: top only grows, so a stale top is
       too small, never too large; if even it has caught up with bottom the
       deque is empty.  relaxed: a fast exit, the full protocol follows. */
    if (atomic_load_explicit(&d->top, memory_order_relaxed) > b)
        return NULL;
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
    /* acquire: pairs with the release store of a grown buffer, so its copied
       slots are visible.  Loaded after bottom, so it is at least the buffer
       that held item t when bottom was published. */
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_acquire);
    /* relaxed: may race with an owner overwrite after wrap-around; the CAS
       below then fails and the value is dropped. */
    void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
    /* seq_cst: totally ordered with the owner's CAS in take and other thieves;
       success is the claim on item t and releases our read of its slot. */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_relaxed))
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

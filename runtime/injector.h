/*
 * injector.h — the bounded multi-producer multi-consumer queue through which
 * threads outside a pool submit work (Vyukov's bounded MPMC queue: a ring of
 * cells, each with a sequence number that says whose turn the cell is).
 *
 * Who may call what: try_push and try_pop from any thread; init and destroy
 * before and after sharing.  Blocking, timeouts and wake-ups are the
 * scheduler's business (sched_steal.c), built on try_push/try_pop and the
 * events of park.h.
 *
 * Invariants
 *   - Cell i of round r is writable when seq == i + r*cap and readable when
 *     seq == i + r*cap + 1; a producer claims a cell by a CAS on tail, a
 *     consumer by a CAS on head.  Capacity is a power of two.
 *   - A job in the queue was taken by a submit call that returned 0: it is
 *     run or discarded exactly once by whoever pops it.
 *   - Bit 63 of tail is CLOSED, set once by close().  A producer claims a
 *     cell only by a CAS on tail, which fails once CLOSED is set, so after
 *     close() returns no new job can enter: "taken or not" is decided by
 *     that one CAS, with no separate in-flight count.
 */
#ifndef TWILL_INJECTOR_H
#define TWILL_INJECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "task.h"

typedef struct twill__inj_cell {
    _Atomic uint64_t seq; /* turn number, see invariants */
    twill__job job;       /* written by the producer that owns the turn */
} twill__inj_cell;

typedef struct twill__injector {
    /* Read-only after init. */
    twill__inj_cell *cells;
    uint64_t mask;
    uint64_t limit;  /* jobs accepted at once: the capacity asked for */
    /* Written by producers (CAS). */
    alignas(TWILL_CACHE_LINE) _Atomic uint64_t tail;
    /* Written by consumers (CAS). */
    alignas(TWILL_CACHE_LINE) _Atomic uint64_t head;
    char pad_[TWILL_CACHE_LINE - sizeof(uint64_t)];
} twill__injector;

/* capacity >= 1, rounded up to a power of two; the ring has at least 2
   cells (see init), a capacity of 1 is enforced by try_push.
   Returns 0, EINVAL, ENOMEM. */
int twill__injector_init(twill__injector *q, size_t capacity);
void twill__injector_destroy(twill__injector *q);

/* Outcome of try_push. */
typedef enum {
    TWILL__INJ_PUSHED, /* taken */
    TWILL__INJ_FULL,   /* nothing taken: every cell holds a job */
    TWILL__INJ_CLOSED  /* nothing taken: close() was called */
} twill__inj_result;

#define TWILL__INJ_CLOSED_BIT ((uint64_t)1 << 63)

/* Any thread.  Inline: the outside submit's fast path (sched_steal.c). */
static inline twill__inj_result twill__injector_try_push(twill__injector *q, const twill__job *job)
{
    /* relaxed: only a starting guess; the CAS below decides. */
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        if (pos & TWILL__INJ_CLOSED_BIT)
            return TWILL__INJ_CLOSED;
        /* A limit below the ring size (capacity 1): relaxed head, a stale
           one only makes us report full, and a blocked submitter re-checks. */
        if (twill_unlikely(q->limit <= q->mask) &&
            pos - atomic_load_explicit(&q->head, memory_order_relaxed) >= q->limit)
            return TWILL__INJ_FULL;
        twill__inj_cell *c = &q->cells[pos & q->mask];
        /* acquire: pairs with the consumer's release of this cell, so its
           read of the previous job is done before we overwrite it. */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            /* seq_cst: the claim is ordered against close()'s fetch_or in
               one total order (the CAS fails once CLOSED is set); the
               cell's seq, not tail, publishes the job. */
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                c->job = *job;
                /* release: publishes the job to the consumer that acquires
                   seq == pos + 1. */
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return TWILL__INJ_PUSHED;
            }
        } else if (dif < 0) {
            return TWILL__INJ_FULL; /* the cell still holds last round's job */
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

/* Any thread.  A hint: has the consumer freed the cell k - 1 pushes past
   the tail (k clamped to 1..limit), so that the next k pushes should find
   room?  Also true once closed (a push then reports it).  relaxed: the
   push re-checks with its own acquire. */
static inline bool twill__injector_room(twill__injector *q, uint64_t k)
{
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (pos & TWILL__INJ_CLOSED_BIT)
        return true;
    uint64_t last = pos + (k < 1 ? 1 : k > q->limit ? q->limit : k) - 1;
    uint64_t seq = atomic_load_explicit(&q->cells[last & q->mask].seq, memory_order_relaxed);
    return (int64_t)(seq - last) >= 0;
}

/* Any thread, once: refuse every later push.  Jobs already taken stay. */
void twill__injector_close(twill__injector *q);

/* Any thread.  false when empty. */
bool twill__injector_try_pop(twill__injector *q, twill__job *out);

/* Any thread.  true if a pop might succeed now (a hint: may be stale). */
static inline bool twill__injector_nonempty(twill__injector *q)
{
    /* acquire on both: pairs with the producers' and consumers' CAS; the
       caller re-checks with try_pop before relying on it. */
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    return (t & ~TWILL__INJ_CLOSED_BIT) != h;
}

/* Any thread.  Jobs queued or being written, at some recent moment.
   acquire: pairs with the producers' and consumers' CAS. */
static inline size_t twill__injector_length(twill__injector *q)
{
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire) & ~TWILL__INJ_CLOSED_BIT;
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    return t > h ? (size_t)(t - h) : 0;
}

#endif /* TWILL_INJECTOR_H */

/*
 * injector.c — bounded MPMC queue for external submissions (see injector.h
 * for the algorithm and invariants).  Any thread.
 */
#include "injector.h"

#include <errno.h>
#include <stdlib.h>

#include "os.h"

int twill__injector_init(twill__injector *q, size_t capacity)
{
    if (q == NULL || capacity == 0 || capacity > ((size_t)1 << 30))
        return EINVAL;
    size_t limit = twill__pow2_ceil(capacity);
    /* At least 2 cells: with one, "written this round" (pos + 1) and "free
       for the next round" (pos + capacity) are the same sequence number.
       A limit of 1 is then enforced in try_push. */
    size_t cap = limit < 2 ? 2 : limit;
    q->cells = calloc(cap, sizeof *q->cells);
    if (q->cells == NULL)
        return ENOMEM;
    q->mask = cap - 1;
    q->limit = limit;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&q->cells[i].seq, i);
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    return 0;
}

void twill__injector_destroy(twill__injector *q)
{
    free(q->cells);
    q->cells = NULL;
}

void twill__injector_close(twill__injector *q)
{
    /* seq_cst: see try_push; every CAS after this one fails. */
    atomic_fetch_or_explicit(&q->tail, TWILL__INJ_CLOSED_BIT, memory_order_seq_cst);
}

bool twill__injector_try_pop(twill__injector *q, twill__job *out)
{
    /* relaxed: only a starting guess; the CAS below decides. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;;) {
        twill__inj_cell *c = &q->cells[pos & q->mask];
        /* acquire: pairs with the producer's release of this cell. */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - (pos + 1));
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *out = c->job;
                /* release: our read of the job is done; the producer of the
                   next round may overwrite the cell. */
                atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
                return true;
            }
        } else if (dif < 0) {
            return false; /* not yet written this round: empty */
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
}

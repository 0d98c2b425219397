/*
 * deque.c — the cold paths of the Chase-Lev deque (see deque.h for the
 * algorithm, its invariants and who may call what): initialisation, growth
 * and destruction.  Owner only, except init (before sharing).
 */
#include "deque.h"

#include <stdlib.h>

static twill__deque_buf *buf_new(int64_t capacity)
{
    twill__deque_buf *a = malloc(sizeof *a + (size_t)capacity * sizeof a->slot[0]);
    if (a == NULL)
        return NULL;
    a->mask = capacity - 1;
    a->prev = NULL;
    for (int64_t i = 0; i < capacity; i++)
        atomic_init(&a->slot[i], NULL);
    return a;
}

int twill__deque_init(twill__deque *d, size_t capacity)
{
    if (d == NULL || capacity == 0 || capacity > TWILL__DEQUE_MAX_CAPACITY)
        return EINVAL;
    size_t cap = 1;
    while (cap < capacity)
        cap <<= 1;
    twill__deque_buf *a = buf_new((int64_t)cap);
    if (a == NULL)
        return ENOMEM;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->buffer, a);
    return 0;
}

TWILL_COLD twill__deque_buf *twill__deque_grow(twill__deque *d, twill__deque_buf *a,
                                               int64_t t, int64_t b)
{
    twill__deque_buf *g = buf_new(2 * (a->mask + 1));
    if (g == NULL)
        return NULL;
    /* Copy the live items [t, b).  relaxed loads: the owner wrote them; a
       thief may steal some concurrently, which is harmless because the old
       buffer stays intact and the CAS on top decides who gets each one. */
    for (int64_t i = t; i < b; i++)
        atomic_store_explicit(&g->slot[i & g->mask],
                              atomic_load_explicit(&a->slot[i & a->mask],
                                                   memory_order_relaxed),
                              memory_order_relaxed);
    g->prev = a; /* retire: freed by destroy, once no thief can hold it */
    /* release: pairs with the acquire load of buffer in steal, so a thief
       that sees g also sees the copied slots. */
    atomic_store_explicit(&d->buffer, g, memory_order_release);
    return g;
}

void twill__deque_destroy(twill__deque *d)
{
    if (d == NULL)
        return;
    /* relaxed: called by the owner once every thief is gone. */
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_relaxed);
    while (a != NULL) {
        twill__deque_buf *prev = a->prev;
        free(a);
        a = prev;
    }
    atomic_store_explicit(&d->buffer, NULL, memory_order_relaxed);
}

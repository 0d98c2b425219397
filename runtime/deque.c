/*
 * deque.c — the cold paths of the Chase-Lev deque (see deque.h for the
 * algorithm, its invariants and who may call what): initialisation, growth,
 * shrinking, freeing replaced buffers, and destruction.  Owner only, except
 * init (before sharing).
 *
 * Resizing
 *   push doubles a full buffer (grow); take's cold side halves a buffer that
 *   would keep fewer than capacity/4 items, as crossbeam-deque does, and an
 *   empty deque goes back to its initial capacity in one step; never below
 *   it.  Both copy the live range [top, bottom) into a fresh buffer and
 *   publish it with one store of `buffer`; the old buffer is never written
 *   again.  Why a shrink cannot lose or duplicate an item:
 *   - take reads its own item (index b, claimed by the bottom store and the
 *     fence) before it shrinks, and copies [t2, b) where t2 is a top read
 *     after that claim; bottom stays b, so no thief can reach index b.
 *   - A thief that loads the new buffer has synchronised with its
 *     publication, so the owner's read of t2 happens before the thief's CAS,
 *     which (coherence) then reads top >= t2: if the CAS succeeds, the
 *     index it claims is one the copy covers.
 *   - A thief that still holds the old buffer reads a frozen copy, which
 *     holds item t for every t below b.  It cannot win an index >= b with
 *     it: such an index is claimable only after a later push, and a thief
 *     that read that push's bottom (or a top written by someone who did)
 *     also loads the buffer that push wrote into, or a newer one.
 *   The buffer is reloaded after every resize: push uses the one grow
 *   returns, take does not touch its local copy after shrinking.
 *
 * Freeing replaced buffers (reclamation)
 *   A thief holds a buffer only between its load of `buffer` and its CAS on
 *   top.  Each deque counts those thieves: steal increments `stealers`
 *   before loading `buffer` and decrements it after the CAS.  The owner,
 *   after publishing a new buffer, reads `stealers`; when it reads 0 it
 *   frees every retired buffer at once, otherwise it keeps them on the
 *   retired list and tries again at its next resize or whenever take's cold
 *   side runs (each time it finds the deque empty), so a burst's buffers
 *   are gone as soon as the owner looks at its drained deque.
 *   Why reading 0 is safe (all four operations are seq_cst, so they sit in
 *   one total order S, the shape of Dekker's algorithm):
 *     owner:  store buffer = new (P);  load stealers (R)
 *     thief:  stealers += 1 (I);       load buffer (L) ... CAS;  stealers -= 1 (D)
 *   If the thief's L returned a retired buffer, L precedes P in S (a seq_cst
 *   load after P in S would see P or a later store, and later stores are
 *   newer buffers, never a retired one).  Then I < L < P < R in S, so R
 *   reads I or a later RMW of stealers; until D the count includes this
 *   thief, so reading 0 means R read D or a later RMW, whose release
 *   sequence makes the thief's reads of the buffer happen before R and
 *   hence before the free.  With D only a release, R could in principle
 *   read a value older than I; keeping every RMW seq_cst rules that out.
 *   Buffers retired earlier were loaded even earlier, so one 0 frees them
 *   all.  A thief stalled inside steal delays the free, never blocks the
 *   owner: memory held is at most the buffers replaced meanwhile, less
 *   than the largest capacity reached, since sizes are powers of two.
 *   Cost (callgrind, bench_deque): two locked RMWs per steal that finds
 *   work, +5 instructions (none for an empty steal), on top's cache line
 *   which the CAS writes anyway.  Nothing on push or take: the shrink test
 *   rides on take's emptiness compare (top + low_water > b, low_water being
 *   0 at the initial capacity), the same instruction count as before; an
 *   empty take tests one owner flag (trim_due), +3 instructions.
 *   Rejected:
 *   - Free at destroy only (the previous scheme): a burst of N spawns keeps
 *     ~2N slots until the pool dies (issue 15).
 *   - Epochs (crossbeam-epoch) or hazard pointers: the deque is a leaf and
 *     does not know its thieves; either needs per-thread registration and a
 *     global structure, and still costs a seq_cst store or fence per steal.
 *   - Quiescent states (QSBR: each worker reports passing its loop top,
 *     when it holds no buffer): free for steal, but puts a protocol into
 *     worker.c for a leaf's sake and never frees while one worker runs a
 *     long task.
 *   - A reference count in each buffer: a thief must load the pointer and
 *     then increment, and the buffer may be freed in between.
 *   - The owner waiting for stealers == 0: a preempted thief would stall it.
 *   - Keeping retired buffers for reuse: memory is never given back.
 */
#include "deque.h"

#include "os.h"

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
    size_t cap = twill__pow2_ceil(capacity);
    twill__deque_buf *a = buf_new((int64_t)cap);
    if (a == NULL)
        return ENOMEM;
    atomic_init(&d->top, 0);
    atomic_init(&d->stealers, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->buffer, a);
    d->low_water = 0;
    d->min_mask = (int64_t)cap - 1;
    d->retired = NULL;
    d->trim_due = false;
    return 0;
}

/* Owner only.  Free the retired buffers if no thief can hold one. */
static void reclaim(twill__deque *d)
{
    if (d->retired == NULL)
        return;
    /* seq_cst: the owner's half of the Dekker pair (see the file comment):
       after our seq_cst store of buffer, reading 0 here means every thief
       that loaded a retired buffer has decremented, and that decrement
       synchronises with this load. */
    if (atomic_load_explicit(&d->stealers, memory_order_seq_cst) != 0)
        return; /* a thief is inside steal: try again later */
    twill__deque_buf *r = d->retired;
    while (r != NULL) {
        twill__deque_buf *prev = r->prev;
        free(r);
        r = prev;
    }
    d->retired = NULL;
    d->trim_due = d->low_water != 0;
}

/* Owner only.  Replace buffer a by a fresh one of capacity cap holding the
   items [t, b) (b - t <= cap); a is retired.  Returns the new buffer, or
   NULL when out of memory (nothing changed). */
static twill__deque_buf *resize(twill__deque *d, twill__deque_buf *a, int64_t t, int64_t b,
                                int64_t cap)
{
    TWILL_ASSERT(b - t <= cap && cap > d->min_mask);
    twill__deque_buf *g = buf_new(cap);
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
    a->prev = d->retired; /* retire: freed once no thief can hold it */
    d->retired = a;
    d->low_water = cap - 1 > d->min_mask ? (cap + 3) / 4 : 0;
    d->trim_due = true; /* a is retired; reclaim clears it if it can */
    /* seq_cst: release, pairing with the thieves' load of buffer, so a thief
       that sees g also sees the copied slots; and the store half of the
       Dekker pair that reclaim's load of stealers completes. */
    atomic_store_explicit(&d->buffer, g, memory_order_seq_cst);
    reclaim(d);
    return g;
}

TWILL_COLD twill__deque_buf *twill__deque_grow(twill__deque *d, twill__deque_buf *a,
                                               int64_t t, int64_t b)
{
    return resize(d, a, t, b, 2 * (a->mask + 1));
}

/* Owner only, between operations (bottom is not being claimed).  Shrink the
   buffer while fewer than a quarter of it is used, then free what no thief
   holds. */
static void trim(twill__deque *d)
{
    /* relaxed: buffer and bottom are written by this thread only. */
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* relaxed: a stale (smaller) top only makes us copy items that are
       already stolen, into slots no thief can win again (its CAS reads a top
       at least as new as this one, see the file comment); the size is chosen
       from the same value, so the copy always fits. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    int64_t len = b > t ? b - t : 0, cap = a->mask + 1, want = cap;
    while (want - 1 > d->min_mask && 4 * len < want)
        want /= 2;
    if (want < cap && resize(d, a, t, b, want) != NULL)
        return; /* resize has reclaimed */
    reclaim(d); /* out of memory or nothing to shrink: still free what we can */
}

TWILL_COLD void *twill__deque_take_cold(twill__deque *d)
{
    /* relaxed: bottom is written by this thread only. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    /* relaxed: the empty-for-sure test of take, on a fresher top. */
    if (atomic_load_explicit(&d->top, memory_order_relaxed) > b) {
        trim(d); /* empty: back to the initial capacity, free what we can */
        return NULL;
    }
    void *x = twill__deque_take_claim(d, b); /* our item is read before trim */
    trim(d);
    return x;
}

size_t twill__deque_retired(twill__deque *d)
{
    size_t n = 0;
    for (twill__deque_buf *r = d->retired; r != NULL; r = r->prev)
        n++;
    return n;
}

void twill__deque_destroy(twill__deque *d)
{
    if (d == NULL)
        return;
    /* relaxed: called by the owner once every thief is gone. */
    TWILL_ASSERT(atomic_load_explicit(&d->stealers, memory_order_relaxed) == 0);
    twill__deque_buf *a = atomic_load_explicit(&d->buffer, memory_order_relaxed);
    free(a);
    for (twill__deque_buf *r = d->retired; r != NULL;) {
        twill__deque_buf *prev = r->prev;
        free(r);
        r = prev;
    }
    d->retired = NULL;
    atomic_store_explicit(&d->buffer, NULL, memory_order_relaxed);
}

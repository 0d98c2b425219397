/*
 * sched_steal.h — the work-stealing scheduler's fast paths, inline: push,
 * the owner's pop, and the words of the private stack that the inline
 * join in twill.h reads.  Included by sched.h only (it needs the worker
 * defined there); the cold paths and the rest of the policy are in
 * sched_steal.c.
 *
 * The private stack.  Join halves go to slot[top % 64] first, where
 * fast.pos = 64 * top + (inline halves mod 64): a store and an index, no
 * fence, out of thieves' reach (the push itself is inline in twill.h; it
 * calls twill__steal_push_private only when fast.limit says so).  They are
 * published to the Chase-Lev deque (oldest first, so the deque stays
 * ordered oldest at top to newest at bottom, below every private task)
 * when the deque is empty, when a thief asks, or when the stack is full:
 * Lace's split deque idea (van Dijk and van de Pol 2014) on an unmodified
 * Chase-Lev deque.  Only join halves are private: the joiner runs b itself
 * after a at the latest, which is all twill_join promises, so keeping b
 * out of reach for a while can cost parallelism but never progress.
 *
 * The words, in units of fast.pos (64 per slot):
 *   lo     the oldest private slot (owner only); slots lo..top-1 are
 *          private, everything older is published or spilled.  Every
 *          private slot belongs to a join in progress on this stack, so
 *          after a a join's b is private exactly when top - 1 >= lo, and
 *          it is then the top; otherwise lo == top (nothing private).
 *   limit  64 * (lo + 64), or 0: "push on the cold path" (the stack full
 *          or publication wanted).  Set to 0 by the owner when its deque
 *          runs empty (twill__steal_pop), and by thieves that find it
 *          empty (with split_req, if not 0 already); re-armed by
 *          twill__steal_publish.  A thief's trip that a re-arm overwrites
 *          is made again by the thief's next look.
 *   split  64 * lo, or TWILL__SPLIT_TRIP while a HIGH task waits
 *          (twill__sched_high_announce), always on a traced worker, and
 *          while an isolated context runs (w->iso != 0; sched.h,
 *          "Isolation": its cold pop keeps the seal, a slot index in
 *          lo..top); the owner moves it with a CAS that leaves a trip in
 *          place.  After a, pos - 63 < split sends the join to its cold
 *          path: b published, HIGH first, or isolation.
 *
 * Who may call what: everything here on worker w itself (owner only).
 */
#ifndef TWILL_SCHED_STEAL_H
#define TWILL_SCHED_STEAL_H

#ifndef TWILL_SCHED_H
#error "include sched.h, not sched_steal.h"
#endif

void twill__steal_publish(twill__worker *w, bool all);
void twill__steal_push_private(twill__worker *w, twill__task *t);
bool twill__steal_find(twill__worker *w, const twill__want *want, twill__found *f);
twill__task *twill__steal_pop_iso(twill__worker *w);
bool twill__steal_find_iso(twill__worker *w, const twill__want *want, twill__found *f);

/* Owner only.  Push t onto the deque, where thieves can take it at once,
   and wake a sleeper if any.  0, or ENOMEM when the deque could not grow. */
static inline int twill__steal_push(twill__worker *w, twill__task *t)
{
    if (twill_unlikely(twill__deque_push(&w->s.dq, t) != 0))
        return ENOMEM;
    twill__event_notify(w->s.work_ev);
    return 0;
}

/* Worker v's next push publishes (see limit above).  relaxed: a request;
   the publication itself is ordered by the deque push.  Stored only when
   not already 0, so repeated requests do not keep taking the owner's line. */
static inline void twill__steal_trip_limit(twill__worker *v)
{
    if (__atomic_load_n(&v->fast.limit, __ATOMIC_RELAXED) != 0)
        __atomic_store_n(&v->fast.limit, 0, __ATOMIC_RELAXED);
}

/* Owner only.  Pop the newest task of this worker that left the private
   stack: the spill list, then the deque; NULL when both are empty.  A
   deque left empty asks for the next push to publish. */
static inline twill__task *twill__steal_pop_shared(twill__worker *w)
{
    twill__steal_worker *s = &w->s;
    if (twill_unlikely(s->spilled != NULL)) {
        twill__task *t = s->spilled;
        s->spilled = t->next;
        return t;
    }
    twill__task *t = twill__deque_take(&s->dq);
    if (twill__deque_size_estimate(&s->dq) == 0)
        twill__steal_trip_limit(w);
    return t;
}

/* Owner only, a join's cold path.  Pop the newest task of this worker:
   private first (no fence), then twill__steal_pop_shared. */
static inline twill__task *twill__steal_pop(twill__worker *w)
{
    uint64_t top = TWILL__POS_TOP(w->fast.pos);
    TWILL_ASSERT(twill__self() == w && top - w->s.lo <= TWILL__PRIVATE_CAP);
    if (twill_likely(top != w->s.lo)) {
        w->fast.pos -= 1u << TWILL__POS_SHIFT;
        return (twill__task *)w->fast.slot[(top - 1) & (TWILL__PRIVATE_CAP - 1)];
    }
    return twill__steal_pop_shared(w);
}

/* Owner only.  lo moved up: keep the seal within [lo, top] (sched.h,
   "Isolation"). */
static inline void twill__steal_seal_lo(twill__worker *w)
{
    if (w->s.lo > w->iso_seal)
        w->iso_seal = w->s.lo;
}

/* Owner only, twill__iso_enter: the private records pushed under the
   current tag get it written, and the new context starts above them.
   Joins take the cold path from now on: split tripped, and not re-armed
   while w->iso != 0 (twill__sched_fast_armed). */
static inline void twill__steal_iso_seal(twill__worker *w)
{
    uint64_t top = TWILL__POS_TOP(w->fast.pos);
    TWILL_ASSERT(w->iso == 0 || (w->s.lo <= w->iso_seal && w->iso_seal <= top));
    for (uint64_t i = w->iso == 0 ? w->s.lo : w->iso_seal; i != top; i++)
        ((twill__task *)w->fast.slot[i & (TWILL__PRIVATE_CAP - 1)])->job.iso = w->iso;
    w->iso_seal = top;
    /* relaxed: the owner's own word; HIGH producers only ever store the
       same trip. */
    __atomic_store_n(&w->fast.split, TWILL__SPLIT_TRIP, __ATOMIC_RELAXED);
}

/* Owner only, twill__iso_leave: the restored seal back within [lo, top]
   (records were published or popped meanwhile). */
static inline void twill__steal_iso_unseal(twill__worker *w)
{
    uint64_t top = TWILL__POS_TOP(w->fast.pos);
    twill__steal_seal_lo(w);
    if (w->iso_seal > top)
        w->iso_seal = top;
}

/* Owner only.  Has this worker no task of its own queued? */
static inline bool twill__steal_own_empty(twill__worker *w)
{
    return TWILL__POS_TOP(w->fast.pos) == w->s.lo && w->s.spilled == NULL &&
           twill__deque_size_estimate(&w->s.dq) == 0;
}

/* Owner only.  Is some worker out of work?  Our queue is empty, or a thief
   asked us for work (our queue holds only private halves it cannot see:
   splitting pushes one more, which publishes the older half).  relaxed: a
   hint. */
static inline bool twill__steal_demand(twill__worker *w)
{
    return twill__pool_nworkers(w->pool) > 1 &&
           (twill__steal_own_empty(w) ||
            atomic_load_explicit(&w->s.split_req, memory_order_relaxed));
}

#endif /* TWILL_SCHED_STEAL_H */

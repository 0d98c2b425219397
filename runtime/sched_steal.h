/*
 * sched_steal.h — the work-stealing scheduler's fast paths, inline: push,
 * the join half's push onto the private stack, and the owner's pop.
 * Included by sched.h only (it needs the worker defined there); the cold
 * paths and the rest of the policy are in sched_steal.c.
 *
 * The private stack.  Join halves go to priv[priv_lo..priv_hi) first: a
 * store and an index, no fence, out of thieves' reach.  They are published
 * to the Chase-Lev deque (oldest first, so the deque stays ordered oldest
 * at top to newest at bottom, below every private task) when the deque is
 * empty, when a thief asks (split_req), when a worker sleeps, or when the
 * stack is full: Lace's split deque idea (van Dijk and van de Pol 2014) on
 * an unmodified Chase-Lev deque.  Only join halves are private: the joiner
 * runs b itself after a at the latest, which is all twill_join promises,
 * so keeping b out of reach for a while can cost parallelism but never
 * progress.
 *
 * Who may call what: everything here on worker w itself (owner only).
 */
#ifndef TWILL_SCHED_STEAL_H
#define TWILL_SCHED_STEAL_H

#ifndef TWILL_SCHED_H
#error "include sched.h, not sched_steal.h"
#endif

void twill__steal_publish(twill__worker *w);
void twill__steal_spill(twill__worker *w);
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

/* Owner only.  Push the b half of a join onto the private stack. */
static inline void twill__steal_push_private(twill__worker *w, twill__task *t)
{
    twill__steal_worker *s = &w->s;
    TWILL_ASSERT(twill__self == w);
    if (twill_unlikely(s->priv_hi - s->priv_lo == TWILL__PRIVATE_CAP)) {
        twill__steal_publish(w);
        if (twill_unlikely(s->priv_hi - s->priv_lo == TWILL__PRIVATE_CAP))
            twill__steal_spill(w); /* the deque could not grow */
    }
    s->priv[s->priv_hi & (TWILL__PRIVATE_CAP - 1)] = t;
    s->priv_hi++;
    /* Publish when our deque is empty (so a long `a` can never hide every
       b: our oldest pending task is within thieves' reach), or when somebody
       wants work (a thief that takes our last public task asks for more,
       which covers a deque emptied after this check).  relaxed loads: hints;
       publication itself is ordered properly (a deque push, then the event
       protocol), and a request missed here is seen at the next push. */
    if (twill_unlikely(twill__deque_size_estimate(&s->dq) == 0 ||
                       atomic_load_explicit(&s->split_req, memory_order_relaxed) ||
                       atomic_load_explicit(&s->work_ev->waiters, memory_order_relaxed) != 0))
        twill__steal_publish(w);
}

/* Owner only.  Pop the newest task of this worker: private first (no
   fence), then the spill list, then the deque; NULL when all are empty. */
static inline twill__task *twill__steal_pop(twill__worker *w)
{
    twill__steal_worker *s = &w->s;
    TWILL_ASSERT(twill__self == w && s->priv_hi - s->priv_lo <= TWILL__PRIVATE_CAP);
    if (twill_likely(s->priv_hi != s->priv_lo)) {
        s->priv_hi--;
        return s->priv[s->priv_hi & (TWILL__PRIVATE_CAP - 1)];
    }
    if (twill_unlikely(s->spilled != NULL)) {
        twill__task *t = s->spilled;
        s->spilled = t->next;
        return t;
    }
    return twill__deque_take(&s->dq);
}

/* Owner only.  Private record t, at index i, leaves the private stack (or
   is taken by a tagged pop): write its isolation tag if it was implicit
   (sched.h, "Isolation"). */
static inline void twill__steal_priv_tag(twill__worker *w, twill__task *t, uint32_t i)
{
    if (w->iso == 0 || (int32_t)(i - w->iso_seal) >= 0)
        t->job.iso = w->iso;
}

/* Owner only.  priv_lo moved up: keep the seal within [priv_lo, priv_hi]. */
static inline void twill__steal_seal_lo(twill__worker *w)
{
    if ((int32_t)(w->s.priv_lo - w->iso_seal) > 0)
        w->iso_seal = w->s.priv_lo;
}

/* Owner only, twill__iso_enter: the private records pushed under the
   current tag get it written, and the new context's start above them.
   Joins take the slow path from now on (twill__sched_unpush). */
static inline void twill__steal_iso_seal(twill__worker *w)
{
    twill__steal_worker *s = &w->s;
    TWILL_ASSERT(w->iso == 0 || s->priv_hi - w->iso_seal <= s->priv_hi - s->priv_lo);
    for (uint32_t i = w->iso == 0 ? s->priv_lo : w->iso_seal; i != s->priv_hi; i++)
        s->priv[i & (TWILL__PRIVATE_CAP - 1)]->job.iso = w->iso;
    w->iso_seal = s->priv_hi;
    /* relaxed: our own hint; HIGH producers only ever clear it. */
    atomic_store_explicit(&s->join_fast, false, memory_order_relaxed);
}

/* Owner only, twill__iso_leave: the restored seal back within
   [priv_lo, priv_hi] (records were published or popped meanwhile). */
static inline void twill__steal_iso_unseal(twill__worker *w)
{
    twill__steal_seal_lo(w);
    if ((int32_t)(w->iso_seal - w->s.priv_hi) > 0)
        w->iso_seal = w->s.priv_hi;
}

/* Owner only.  Has this worker no task of its own queued? */
static inline bool twill__steal_own_empty(twill__worker *w)
{
    return w->s.priv_hi == w->s.priv_lo && w->s.spilled == NULL &&
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

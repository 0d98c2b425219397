/*
 * sched_steal.h — the work-stealing scheduler's fast paths, inline: push,
 * the owner's pop, and the words of the private stack that the inline
 * join in twill.h reads.  Included by sched.h only (it needs the worker
 * defined there); the cold paths and the rest of the policy are in
 * sched_steal.c.
 *
 * The private stack.  Join halves go to slot[top % 64] first, where
 * fast.pos = 1024 * top + (inline halves mod 1024): a store and an index, no
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
 * The words, in units of fast.pos (TWILL__POS_SLOT, 1024, per slot):
 *   lo     the oldest private slot (owner only); slots lo..top-1 are
 *          private, everything older is published or spilled.  Every
 *          private slot belongs to a join in progress on this stack, so
 *          after a a join's b is private exactly when top - 1 >= lo, and
 *          it is then the top; otherwise lo == top (nothing private).
 *   limit  1024 * (lo + 64), or 0: "push on the cold path" (the stack full
 *          or publication wanted).  Set to 0 by the owner when its deque
 *          runs empty (twill__steal_pop), and by thieves that find it
 *          empty (with split_req, if not 0 already); re-armed by
 *          twill__steal_publish.  A thief's trip that a re-arm overwrites
 *          is made again by the thief's next look.
 *   split  1024 * lo, or TWILL__SPLIT_TRIP while a HIGH task waits
 *          or an outside job or broadcast share no idle worker takes
 *          (twill__sched_trip), always on a traced worker, and
 *          while an isolated context runs (w->iso != 0; sched.h,
 *          "Isolation": its cold pop keeps the seal, a slot index in
 *          lo..top); the owner moves it with a CAS that leaves a trip in
 *          place.  After a, pos - 1023 < split sends the join to its cold
 *          path: b published, HIGH first, or isolation.
 *
 * The private group stack.  A group's owner (task.h: the stealing,
 * untraced worker that initialised it) spawns its NORMAL tasks, outside
 * isolation, into fast.gslot[gtop % 64] by value (three words, no
 * record, no fence; inline in twill.h), counted in the group's plain
 * `priv` (task.h) and in spawns once they leave the stack.  A
 * separate stack, so that the inline join's pop stays "the private top is
 * my b" without a kind check.  They are taken back newest first by the
 * owner's group wait (group.c), or by any find of the owner
 * (twill__steal_find, before everything else); they are published, the
 * older half as TWILL__JOB_GROUP records counted in the group's pending,
 * on the same triggers as join halves (limit 0 at a spawn, or before the
 * owner's wait runs one: the deque empty or a thief asked; the stack
 * full), and all of them by a timed group wait, an isolated find (they
 * carry no tag) and a worker about to block on another pool
 * (twill__sched_before_blocking); a worker takes its own pool's lock,
 * to broadcast, resize or leave, only with none left (wait.c).  Unlike a
 * join half, a private group task has no frame waiting for it below:
 * anything of the owner may run it, and it runs at the latest at the
 * owner's next find.
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
int twill__steal_gpush(twill__worker *w, twill_fn fn, void *arg, twill__group_ctl *g);
void twill__steal_gpublish(twill__worker *w, bool all);

/* Owner only: slot i (mod TWILL__GPRIV_CAP) of the private group stack
   (twill.h's twill__fast: gslot[glo .. gtop)). */
static inline struct twill__gjob *twill__steal_gslot(twill__worker *w, uint32_t i)
{
    return &w->fast.gslot[i & (TWILL__GPRIV_CAP - 1)];
}

/* Owner only: private group task i as the job it is, of kind `kind`
   (GPRIV to run it here, GROUP to publish it).  A private task is
   counted in spawns when it leaves the stack (popped or published): the
   inline spawn counts nothing. */
static inline twill__job twill__steal_gjob(twill__worker *w, uint32_t i, unsigned kind)
{
    const struct twill__gjob *e = twill__steal_gslot(w, i);
    return (twill__job){.fn = e->fn, .arg = e->arg, .ctl = e->group, .kind = kind};
}

/* Owner only: the newest private group task into *job, or false. */
static inline bool twill__steal_gpop(twill__worker *w, twill__job *job)
{
    if (w->fast.gtop == w->fast.glo)
        return false;
    *job = twill__steal_gjob(w, --w->fast.gtop, TWILL__JOB_GPRIV);
    TWILL__COUNT(w, spawns, 1);
    return true;
}

/* Owner only: is the private group stack empty? */
static inline bool twill__steal_gempty(const twill__worker *w)
{
    return w->fast.gtop == w->fast.glo;
}

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
        w->fast.pos -= TWILL__POS_SLOT;
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
    /* relaxed: the owner's own word; producers (twill__sched_trip) only
       ever store the same trip. */
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
           twill__steal_gempty(w) && twill__deque_size_estimate(&w->s.dq) == 0;
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

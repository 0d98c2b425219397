/*
 * sched_steal.c — the work-stealing scheduler: per-worker Chase-Lev deques
 * with a private stack in front (sched_steal.h), a bounded injector for
 * outside submissions, stealing nearest first, spinning, parking, and
 * termination.
 *
 * A worker looks for work in this order (twill__steal_find):
 *   1. its own tasks, newest first (LIFO: the best cache locality and the
 *      O(depth) memory bound of fork-join): its spilled join halves, then
 *      its deque (private join halves are published first: they belong
 *      to joins below the find, which take them back themselves);
 *   2. the injector (outside submissions, oldest first);
 *   3. its victims' deques, nearest first, oldest first (FIFO: the largest
 *      pieces of work), each level of the victim order from a fresh random
 *      start, a lost race retried, never taken for "empty"; a victim whose
 *      deque is empty is asked to publish private tasks;
 *   4. idle: a short spin of the above, then parking (park.c).
 * So that a long stream of local work cannot starve outside submissions,
 * job.c also takes an injector job every TWILL__POLL_EVERY tasks run
 * (twill__sched_steal.take_outside), wherever they run: the worker loop, a
 * helping wait; and every TWILL__POS_SLOT inline join halves.
 *
 * Taken or not, outside submissions.  A submit is taken by one atomic step
 * that shutdown can make fail: the CAS on the injector's tail, which fails
 * once shutdown has set its CLOSED bit.  Only after closing the injector
 * does shutdown set `closing`; workers terminate once every queue is empty
 * (a claimed but not yet written injector cell counts as non-empty), so
 * every job in a queue is run (DRAIN) or discarded (CANCEL) first.
 *
 * Termination: a worker leaves only from the idle path, after its own
 * re-check of every queue found nothing, once `stopped` is set.  Work a
 * running task creates goes to its own deque, so a worker that is still
 * running when others leave finishes everything it spawns.
 *
 * Who may call what: create/destroy from the pool creator; submit and
 * close from any thread; everything else on worker w itself (owner-only
 * state: its private stack, its deque's owner side, its counters).
 */
#include "sched.h"

#include <errno.h>
#include <stdlib.h>

#include "injector.h"
#include "os.h"

/* Initial deque capacity: a fork-join recursion of depth 256 needs no
   growth; deeper ones grow once or twice. */
#define DEQUE_INITIAL 256
/* Yields of a submitter that found the injector full before it sleeps. */
#define SUBMIT_SPINS 64
/* Free cells a yielding submitter waits for before it pushes again (a
   quarter of the queue when that is less). */
#define SUBMIT_ROOM 64

typedef struct steal_pool {
    twill__injector inj;
    /* Idle workers sleep here; any producer of work notifies. */
    twill__event work_ev;
    /* Outside submitters blocked on a full injector sleep here; every
       injector pop notifies (one load unless a submitter sleeps), shutdown
       notifies all. */
    twill__event space_ev;
    /* Tasks that no worker holds, taken with the injector's (take_outside):
       those of workers that left the pool (hand_over: a leaving worker's
       deque cannot be stolen from once it is gone from the victim orders),
       outside spawns into isolated groups (submit: an isolated wait
       searches this queue for its tag, which it cannot do in the
       injector; sched.h, "Isolation"), and the records an isolated wait
       moved out of its way (pop_iso).  The outside bound is the
       injector's.  Almost always empty (one load). */
    twill__prioq handed;
    bool handed_ready;
    /* work_ev's sleeper words, one per worker slot (park.h). */
    twill__sleeper sleepers[TWILL_MAX_WORKERS];
} steal_pool;

static steal_pool *sp(const twill_pool *pool)
{
    return pool->sched;
}

/* ------------------------------------------------------------ create -- */

static int create(twill_pool *pool, size_t capacity)
{
    steal_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return ENOMEM;
    pool->sched = p;
    twill__event_init_targeted(&p->work_ev, true, p->sleepers, &pool->slots);
    twill__event_init(&p->space_ev, true);
    if (twill__prioq_init(&p->handed, capacity) != 0)
        return ENOMEM;
    p->handed_ready = true;
    return twill__injector_init(&p->inj, capacity) != 0 ? ENOMEM : 0;
}

/* Slot i, before its thread starts: the first time, its deque and room
   for the longest victim order; every time, a fresh fast-path state and a
   victim order to be built for the size it will see. */
static int add_worker(twill_pool *pool, unsigned i)
{
    twill__steal_worker *s = &pool->workers[i].s;
    if (s->victims == NULL) {
        /* victims, then the level ends (at most one level per victim) */
        uint16_t *v = malloc(2 * TWILL_MAX_WORKERS * sizeof *v);
        if (v == NULL)
            return ENOMEM;
        if (twill__deque_init(&s->dq, DEQUE_INITIAL) != 0) {
            free(v);
            return ENOMEM;
        }
        s->victims = v;
        s->level_end = v + TWILL_MAX_WORKERS;
        s->work_ev = &sp(pool)->work_ev;
        s->rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ (uintptr_t)pool;
    }
    TWILL_ASSERT(TWILL__POS_TOP(pool->workers[i].fast.pos) == s->lo && s->spilled == NULL &&
                 twill__steal_gempty(&pool->workers[i]));
    atomic_store_explicit(&s->split_req, false, memory_order_relaxed);
    /* relaxed: the slot's thread is created after this (pthread_create
       orders it), and size_gen changes only under the caller's lock. */
    s->victims_gen = atomic_load_explicit(&pool->size_gen, memory_order_relaxed) - 1;
    return 0;
}

static void destroy(twill_pool *pool)
{
    steal_pool *p = sp(pool);
    if (p == NULL)
        return;
    for (unsigned i = 0, n = atomic_load_explicit(&pool->slots, memory_order_relaxed); i < n; i++) {
        twill__steal_worker *s = &pool->workers[i].s;
        if (s->victims != NULL)
            twill__deque_destroy(&s->dq);
        free(s->victims);
    }
    twill__injector_destroy(&p->inj);
    if (p->handed_ready && twill__pool_usable(pool) == 0) /* see sched_central.c's destroy */
        twill__prioq_destroy(&p->handed);
    free(p);
    pool->sched = NULL;
}

/* ------------------------------------------------------------ submit -- */

/* Outside thread, after its push of job into the injector: wake an idle
   worker (twill__job_wake_pref), or, when none is idle, trip every
   worker's joins (twill__sched_trip), so that one deep in a join tree
   takes the job at its next join instead of at its next poll, up to
   TWILL__POS_SLOT inline halves later.  A trip is a hint: the poll still
   finds the job if it is lost. */
static inline void outside_pushed(twill_pool *pool, const twill__job *job)
{
    if (!twill__event_notify_as(&sp(pool)->work_ev, twill__job_wake_pref(job, true)))
        twill__sched_trip(pool);
}

/* Outside thread, the slow path of submit: a spawn into an isolated
   group, or the injector was full (or is, again, for a retry). */
static TWILL_COLD int submit_wait(twill_pool *pool, const twill__job *job, int64_t timeout_ns)
{
    steal_pool *p = sp(pool);
    if (job->iso != 0) { /* a spawn into an isolated group: see handed */
        int rc = twill__prioq_submit(&p->handed, job, timeout_ns);
        if (rc == 0)
            (void)twill__event_notify_as(&p->work_ev, twill__job_wake_pref(job, true));
        return rc;
    }
    int64_t deadline = timeout_ns > 0 ? twill__deadline(timeout_ns) : 0;
    int spins = 0;
    for (;;) {
        twill__inj_result r = twill__injector_try_push(&p->inj, job);
        if (r == TWILL__INJ_PUSHED) {
            outside_pushed(pool, job);
            return 0;
        }
        if (r == TWILL__INJ_CLOSED)
            return ESHUTDOWN;
        if (timeout_ns == 0)
            return EAGAIN;
        /* Full: retry a while before sleeping.  A stream of submissions to
           busy workers finds a slot within a few yields, so it pays neither
           a sleep nor, on every pop meanwhile, the workers' wake-up call.
           While yielding, wait until SUBMIT_ROOM cells are free rather than
           one: pushing into each cell as soon as a worker frees it puts us
           on the line that worker reads next (a cell is 40 bytes), and the
           line travels back and forth for every job; with room ahead we
           fill cells the workers left a while ago.  Bounded by
           SUBMIT_SPINS: the sleep that follows takes the first free cell,
           so a submitter never waits beside free cells for long (issue 15). */
        if (spins < SUBMIT_SPINS) {
            uint64_t room = p->inj.limit / 4 < SUBMIT_ROOM ? p->inj.limit / 4 : SUBMIT_ROOM;
            do {
                spins++;
                sched_yield();
            } while (spins < SUBMIT_SPINS && !twill__injector_room(&p->inj, room));
            continue;
        }
        uint32_t key = twill__event_prepare(&p->space_ev);
        /* The re-check after our announce: a consumer that frees a cell, or
           shutdown closing the queue, wakes us after this (park.c). */
        r = twill__injector_try_push(&p->inj, job);
        if (r != TWILL__INJ_FULL) {
            twill__event_cancel(&p->space_ev);
            if (r == TWILL__INJ_CLOSED)
                return ESHUTDOWN;
            outside_pushed(pool, job);
            return 0;
        }
        int64_t left = -1;
        if (timeout_ns > 0) {
            left = deadline - twill__now_ns();
            if (left <= 0) {
                twill__event_cancel(&p->space_ev);
                return ETIMEDOUT;
            }
        }
        twill__event_wait(&p->space_ev, key, left);
    }
}

/* Outside thread: enqueue into the injector, waiting for space as
   timeout_ns says.  A closed injector (shutdown) refuses.  The fast path
   is one push and one notify (a load of the sleepers' count); anything
   else, submit_wait. */
static int submit(twill_pool *pool, const twill__job *job, int64_t timeout_ns)
{
    steal_pool *p = sp(pool);
    if (twill_likely(job->iso == 0) &&
        twill_likely(twill__injector_try_push(&p->inj, job) == TWILL__INJ_PUSHED)) {
        outside_pushed(pool, job);
        return 0;
    }
    return submit_wait(pool, job, timeout_ns);
}

/* ---------------------------------------------------- private stack -- */

/* Owner only.  Move the older half (at least one), or all, of the private
   group tasks to the deque, oldest first, each as a TWILL__JOB_GROUP
   record counted in its group's pending before the push makes it
   stealable (task.h).  Those that find no record or no room (out of
   memory) stay private, and run on this worker.  The caller wakes a
   sleeper. */
TWILL_COLD void twill__steal_gpublish(twill__worker *w, bool all)
{
    struct twill__fast *f = &w->fast;
    uint32_t n = f->gtop - f->glo, k = all ? n : (n + 1) / 2;
    for (uint32_t i = 0; i < k; i++) {
        twill__task *t = twill__task_alloc(&w->free);
        if (t == NULL)
            break;
        t->job = twill__steal_gjob(w, f->glo, TWILL__JOB_GROUP);
        twill__group_ctl *g = t->job.ctl;
        twill__group_private_leaves(g);
        if (twill__deque_push(&w->s.dq, t) != 0) {
            twill__group_private_back(g);
            twill__task_free(&w->free, t);
            break;
        }
        f->glo++;
        TWILL__COUNT(w, spawns, 1);
    }
}

/* Owner only.  Move the older half (at least one), or all, of the private
   tasks to the deque, oldest first, then wake a sleeper if any, and re-arm the
   inline push (limit: see sched_steal.h; it stays 0 while the deque is
   empty, out of memory growing it, or behind spilled tasks).  The deque
   push's release fence publishes each task; the event protocol (park.c)
   then orders the wake-up check after it. */
TWILL_COLD void twill__steal_publish(twill__worker *w, bool all)
{
    twill__steal_worker *s = &w->s;
    /* relaxed: a request arriving after this clear is seen at a later push
       (its thief trips limit again). */
    atomic_store_explicit(&s->split_req, false, memory_order_relaxed);
    if (!twill__steal_gempty(w))
        twill__steal_gpublish(w, all);
    /* Spilled tasks are older than every private one: publishing private
       ones before them would put newer tasks under older ones. */
    if (twill_unlikely(s->spilled != NULL)) {
        twill__event_notify(s->work_ev);
        return;
    }
    uint64_t old_lo = s->lo, n = TWILL__POS_TOP(w->fast.pos) - old_lo, k = all ? n : (n + 1) / 2;
    for (uint64_t i = 0; i < k; i++) {
        twill__task *t = (twill__task *)w->fast.slot[s->lo & (TWILL__PRIVATE_CAP - 1)];
        twill__join_leaves_private(w, t); /* before the push: a thief may take it at once */
        twill__task_share(t);
        if (twill__deque_push(&s->dq, t) != 0) {
            w->pub = t->job.ctl; /* out of memory growing the deque: the task stays private */
            break;
        }
        s->lo++;
    }
    twill__steal_seal_lo(w);
    /* relaxed: the owner's own words (thieves only ever store 0 to limit,
       producers only the trip to split, twill__sched_trip, which the CAS
       keeps). */
    uint64_t split = old_lo * TWILL__POS_SLOT;
    __atomic_compare_exchange_n(&w->fast.split, &split, s->lo * TWILL__POS_SLOT, false,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    __atomic_store_n(&w->fast.limit,
                     twill__deque_size_estimate(&s->dq) > 0
                         ? (s->lo + TWILL__PRIVATE_CAP) * TWILL__POS_SLOT
                         : 0,
                     __ATOMIC_RELAXED);
    twill__event_notify(s->work_ev);
}

/* Owner only.  The private stack is full and the deque cannot grow: move
   the oldest private task to the spill list (no memory needed: records
   link through `next`).  Pops still see every task newest first.  limit
   stays 0: every push comes back here until the spill list is gone. */
static void spill(twill__worker *w)
{
    twill__steal_worker *s = &w->s;
    twill__task *t = (twill__task *)w->fast.slot[s->lo & (TWILL__PRIVATE_CAP - 1)];
    twill__join_leaves_private(w, t);
    twill__task_share(t); /* a wait nested above its join may run it (twill__steal_find) */
    uint64_t split = s->lo * TWILL__POS_SLOT;
    s->lo++;
    twill__steal_seal_lo(w);
    /* relaxed: as in twill__steal_publish. */
    __atomic_compare_exchange_n(&w->fast.split, &split, s->lo * TWILL__POS_SLOT, false,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    __atomic_store_n(&w->fast.limit, 0, __ATOMIC_RELAXED);
    t->next = s->spilled;
    s->spilled = t;
}

/* Owner only: the inline push found pos >= limit.  Push the b half t of a
   join onto the private stack (publishing the older half first if it is
   full, spilling if that could not make room), then publish if asked. */
TWILL_COLD void twill__steal_push_private(twill__worker *w, twill__task *t)
{
    twill__steal_worker *s = &w->s;
    TWILL_ASSERT(twill__self() == w);
    if (twill_unlikely(TWILL__POS_TOP(w->fast.pos) - s->lo == TWILL__PRIVATE_CAP)) {
        twill__steal_publish(w, false);
        if (twill_unlikely(TWILL__POS_TOP(w->fast.pos) - s->lo == TWILL__PRIVATE_CAP))
            spill(w); /* the deque could not grow */
    }
    w->fast.slot[TWILL__POS_TOP(w->fast.pos) & (TWILL__PRIVATE_CAP - 1)] = (void *)t;
    w->fast.pos += TWILL__POS_SLOT;
    /* Publish when our deque is empty (so a long `a` can never hide every
       b: our oldest pending task is within thieves' reach), or when somebody
       wants work (a thief that takes our last public task asks for more,
       which covers a deque emptied after the owner's last look).  Both
       left limit at 0; so did a full stack published just now if the
       deque is still empty. */
    if (__atomic_load_n(&w->fast.limit, __ATOMIC_RELAXED) == 0)
        twill__steal_publish(w, false);
}

/* Owner of g only, its count already raised (twill__group_private_add):
   push a private task of g where twill.h's inline spawn could not (the
   stack full, publication wanted, or anything else it leaves to the
   library).  Publish the older half first if full, push, then publish if
   asked (the join's rules, twill__steal_push_private).  0, or ENOMEM with
   the count undone (no room could be made: out of memory). */
TWILL_COLD int twill__steal_gpush(twill__worker *w, twill_fn fn, void *arg,
                                  twill__group_ctl *g)
{
    struct twill__fast *f = &w->fast;
    if (f->gtop - f->glo == TWILL__GPRIV_CAP) {
        twill__steal_publish(w, false);
        if (f->gtop - f->glo == TWILL__GPRIV_CAP) {
            twill__group_private_done(g);
            return ENOMEM;
        }
    }
    *twill__steal_gslot(w, f->gtop++) = (struct twill__gjob){fn, arg, (struct twill__group_head *)g};
    /* relaxed: a request (sched_steal.h, limit), as in twill__steal_push_private. */
    if (__atomic_load_n(&w->fast.limit, __ATOMIC_RELAXED) == 0)
        twill__steal_publish(w, false);
    return 0;
}

/* ------------------------------------------------------ finding work -- */

/* Take one job from the injector, and wake a blocked submitter now that a
   slot is free (twill_submit blocks only while the queue is full).  The
   notify costs one load of space_ev's waiters unless a submitter sleeps.
   (Waking only at half occupancy saved system calls when producers
   outrun consumers, but left a submitter asleep beside free slots, and a
   task that waited for it deadlocked: issue 15.) */
static TWILL_COLD bool take_handed(twill__worker *w, twill__job *job)
{
    twill__task *t = twill__prioq_pop(&sp(w->pool)->handed, NULL);
    if (t == NULL)
        return false;
    TWILL_ASSERT(t->job.kind != TWILL__JOB_JOIN);
    *job = t->job;
    twill__task_free(&w->free, t);
    return true;
}

static bool take_outside(twill__worker *w, twill__job *job)
{
    steal_pool *p = sp(w->pool);
    if (twill_unlikely(twill__prioq_nonempty(&p->handed)) && take_handed(w, job))
        return true;
    if (!twill__injector_try_pop(&p->inj, job))
        return false;
    TWILL__COUNT(w, injected, 1);
    twill__event_notify(&p->space_ev);
    return true;
}

/* Ask worker v to publish at its next push: trip its inline push (limit)
   and tell its loops that someone wants work (split_req).  relaxed: a
   request, see sched_steal.h; each stored only when not already set, so
   an idle thief does not keep invalidating the victim's lines. */
static void ask_publish(twill__worker *v)
{
    if (!atomic_load_explicit(&v->s.split_req, memory_order_relaxed))
        atomic_store_explicit(&v->s.split_req, true, memory_order_relaxed);
    twill__steal_trip_limit(v);
}

/* Try to steal from victim v.  NULL: nothing taken; *lost: a race was lost
   (the victim may still have work). */
static twill__task *steal_from(twill__worker *w, unsigned v, bool *lost)
{
    twill_pool *pool = w->pool;
    twill__steal_worker *victim = &pool->workers[v].s;
    if (twill__deque_size_estimate(&victim->dq) == 0) {
        /* Nothing public: ask the victim to publish at its next push. */
        ask_publish(&pool->workers[v]);
        return NULL;
    }
    void *x;
    TWILL__COUNT(w, steal_attempts, 1);
    twill__steal_result r = twill__deque_steal(&victim->dq, &x);
    if (r != TWILL__STEAL_SUCCESS) {
        *lost |= (r == TWILL__STEAL_RETRY);
        return NULL;
    }
    twill__task *t = x;
    TWILL__COUNT(w, steals, 1);
    twill__trace_steal(w->trace, v);
    if (t->job.kind == TWILL__JOB_JOIN)
        /* relaxed: a hint for the joiner's leapfrogging. */
        atomic_store_explicit(&t->thief, (int)w->id, memory_order_relaxed);
    /* More left there: let a sleeper help (a chain of wake-ups spreads work
       without a thundering herd).  None left: ask the victim to publish
       what it keeps private. */
    if (twill__deque_size_estimate(&victim->dq) > 0)
        twill__event_notify(w->s.work_ev);
    else
        ask_publish(&pool->workers[v]);
    return t;
}

/* Try the victims once, nearest level first, each level from a fresh
   random member so that thieves spread over equally near victims; `first`
   (>= 0: a joiner's thief) before all.  A lost race makes the pass repeat
   (bounded), so "retry" is never taken for "empty". */
/* Build the victim order for the size now, when it changed since the
   last build (an elastic pool grew or shrank).  acquire: pairs with
   elastic.c's release bump of size_gen, after the new size and every new
   slot's set-up.  A victim that has left since is harmless: its slot
   stays, with an empty deque (hand_over). */
static void refresh_victims(twill__worker *w)
{
    twill_pool *pool = w->pool;
    uint32_t gen = atomic_load_explicit(&pool->size_gen, memory_order_acquire);
    if (twill_likely(gen == w->s.victims_gen))
        return;
    w->s.victims_gen = gen;
    w->s.nlevels = twill__topo_victims(pool->topo, w->id, twill__pool_nworkers(pool),
                                       w->s.victims, w->s.level_end);
}

static twill__task *steal_pass(twill__worker *w, int first)
{
    twill__steal_worker *s = &w->s;
    refresh_victims(w);
    for (int pass = 0; pass < 4; pass++) {
        bool lost = false;
        twill__task *t;
        if (first >= 0 && first != (int)w->id && (t = steal_from(w, (unsigned)first, &lost)))
            return t;
        /* xorshift64: a new start for every pass */
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        for (unsigned k = 0, lo = 0; k < s->nlevels; lo = s->level_end[k++]) {
            unsigned len = s->level_end[k] - lo, r = (unsigned)(s->rng % len);
            for (unsigned q = 0; q < len; q++) {
                unsigned i = q + r < len ? q + r : q + r - len;
                if ((t = steal_from(w, s->victims[lo + i], &lost)))
                    return t;
            }
        }
        if (!lost)
            break;
    }
    return NULL;
}

bool twill__steal_find(twill__worker *w, const twill__want *want, twill__found *f)
{
    /* Private group tasks first, newest first: nothing waits for them
       below (sched_steal.h), and they cost no fence. */
    if (!twill__steal_gempty(w)) {
        f->rec = NULL;
        return twill__steal_gpop(w, &f->job);
    }
    /* Private halves here belong to joins below this find on the stack
       (a wait nested in their a, such as an outside job's group wait in a
       poll): publish them all rather than pop one, so that each join finds
       its half gone through w->pub (join.c) instead of an older join's
       half on top of the private stack. */
    if (twill_unlikely(TWILL__POS_TOP(w->fast.pos) != w->s.lo))
        twill__steal_publish(w, true);
    if ((f->rec = twill__steal_pop_shared(w)) != NULL)
        return true;
    /* A deeply nested wait also takes outside jobs (which it may depend
       on: a group fed from outside) and tasks handed over by a worker that
       left (likewise: their owner would have run them), up to a hard depth
       that bounds the stack, but never steals. */
    if ((want->mode != TWILL__FIND_OWN || w->waits <= TWILL__HELP_DEPTH_MAX) &&
        take_outside(w, &f->job))
        return true;
    return want->mode != TWILL__FIND_OWN &&
           (f->rec = steal_pass(w, want->mode == TWILL__FIND_HELP ? want->victim : -1)) != NULL;
}

/* Owner only, w->iso != 0: take back the join halves set aside by
   pop_shared_iso (oldest first, linked through `next`), which were not
   ours, to where they were, the deque's newest, in their order; those the
   deque cannot take now (out of memory growing it) become the oldest
   spilled records (they are older than all of them), never lost. */
static void put_back(twill__worker *w, twill__task *aside)
{
    twill__steal_worker *s = &w->s;
    while (aside != NULL && twill_likely(twill__deque_push(&s->dq, aside) == 0))
        aside = aside->next;
    twill__task *newest_first = NULL;
    while (aside != NULL) {
        twill__task *next = aside->next;
        aside->next = newest_first;
        newest_first = aside;
        aside = next;
    }
    twill__task **end = &s->spilled;
    while (*end != NULL)
        end = &(*end)->next;
    *end = newest_first;
}

/* Owner only, w->iso != 0: the newest record of w's tag that left the
   private stack, from the spill list or the deque, or NULL. */
static twill__task *pop_shared_iso(twill__worker *w)
{
    twill__steal_worker *s = &w->s;
    uint32_t tag = w->iso;
    if (twill_unlikely(s->spilled != NULL) && s->spilled->job.iso == tag) {
        twill__task *t = s->spilled;
        s->spilled = t->next;
        return t;
    }
    /* The deque's newest records that are not ours would hide ours below
       them (submitted after the group's spawns, say, or join halves of
       joins below this context, published by twill__steal_find_iso) from
       a waiter whose peers may all be blocked on the lock it holds: they
       go to `handed`, where any worker, or their own isolated wait, takes
       them.  A join half is set aside and put back instead (its joiner is
       further down this stack, and `handed` carries jobs by value). */
    twill__task *t, *aside = NULL;
    for (;;) {
        t = twill__deque_take(&s->dq);
        if (t == NULL || t->job.iso == tag)
            break;
        if (t->job.kind == TWILL__JOB_JOIN) {
            t->next = aside; /* the oldest ends first */
            aside = t;
            continue;
        }
        twill__prioq_push(&sp(w->pool)->handed, t);
        twill__event_notify(s->work_ev);
    }
    if (twill_unlikely(aside != NULL))
        put_back(w, aside);
    if (twill__deque_size_estimate(&s->dq) == 0)
        twill__steal_trip_limit(w); /* as twill__steal_pop_shared */
    return t;
}

twill__task *twill__steal_pop_iso(twill__worker *w)
{
    uint64_t top = TWILL__POS_TOP(w->fast.pos);
    TWILL_ASSERT(twill__self() == w && w->iso != 0 && top - w->s.lo <= TWILL__PRIVATE_CAP);
    if (top != w->s.lo) {
        /* The joiner's own b (the private top, see sched_steal.h), pushed
           in this context: at or above the seal, or tagged by a nested
           context's twill__iso_enter. */
        twill__task *t = (twill__task *)w->fast.slot[(top - 1) & (TWILL__PRIVATE_CAP - 1)];
        TWILL_ASSERT(top - 1 >= w->iso_seal || t->job.iso == w->iso);
        w->fast.pos -= TWILL__POS_SLOT;
        if (w->iso_seal > top - 1)
            w->iso_seal = top - 1;
        return t;
    }
    return pop_shared_iso(w);
}

bool twill__steal_find_iso(twill__worker *w, const twill__want *want, twill__found *f)
{
    /* Never a private pop (sched_steal.h): every private record leaves the
       private stack, its tag written, those pushed below this context with
       theirs, which pop_shared_iso then leaves alone. */
    if (twill_unlikely(TWILL__POS_TOP(w->fast.pos) != w->s.lo || !twill__steal_gempty(w))) {
        twill__steal_publish(w, true); /* private group tasks too: untagged, for others */
        while (TWILL__POS_TOP(w->fast.pos) != w->s.lo)
            spill(w); /* behind spilled records, or the deque could not grow */
    }
    if ((f->rec = pop_shared_iso(w)) != NULL)
        return true;
    twill__prioq *handed = &sp(w->pool)->handed;
    return (want->mode != TWILL__FIND_OWN || w->waits <= TWILL__HELP_DEPTH_MAX) &&
           twill_unlikely(twill__prioq_nonempty(handed)) &&
           (f->rec = twill__prioq_pop_tag(handed, w->iso, NULL)) != NULL;
}

/* -------------------------------------------------------------- idle -- */

/* Is there anything a worker could take right now? (the parking re-check) */
static bool work_visible(twill_pool *pool)
{
    if (twill__injector_nonempty(&sp(pool)->inj) || twill__prioq_nonempty(&pool->high) ||
        twill__prioq_nonempty(&pool->low) || twill__prioq_nonempty(&sp(pool)->handed))
        return true;
    /* Every slot, also those of workers that left: their deques are empty
       (hand_over), and a look costs one load. */
    for (unsigned i = 0, n = atomic_load_explicit(&pool->slots, memory_order_acquire); i < n; i++)
        if (twill__deque_size_estimate(&pool->workers[i].s.dq) > 0)
            return true;
    return false;
}

/* Park until work may exist, for at most timeout_ns when >= 0.  Returns
   TWILL__IDLE_WORK (look again), _STOP (exit: terminated) or _LEAVE (asked
   to leave, or the timeout passed without a wake-up). */
static int park(twill__worker *w, int64_t timeout_ns)
{
    twill_pool *pool = w->pool;
    twill__event *ev = w->s.work_ev;
    twill__sleeper *me = &sp(pool)->sleepers[w->id];
    twill__event_prepare_as(ev, me);
    /* Read `closing` before the re-check: shutdown sets it only after the
       injector is closed, so if we see it, every outside job was claimed
       before our re-check (a claimed cell counts as non-empty).  Read after
       the re-check, a job claimed in between could be missed and lost.
       acquire: pairs with the seq_cst store in shutdown. */
    bool closing = atomic_load_explicit(&pool->closing, memory_order_acquire);
    /* Our mailbox too: a broadcaster fills it, then wakes every worker
       (wake_all: a fence, then a claim of every armed word); we armed
       before our barrier, so either the waker saw us armed and claims us
       (event_wait_as will not sleep) or the mailbox store is visible
       here (park.c, "Targeted events").  The same for a request to leave
       (leave_from, then wake_all). */
    if (work_visible(pool) || twill__mailbox_full(w)) {
        twill__event_cancel_as(ev, me);
        return TWILL__IDLE_WORK;
    }
    if (twill__sched_leave_now(w))
        /* a wake-up spent on us: look before leaving */
        return twill__event_cancel_as(ev, me) ? TWILL__IDLE_WORK : TWILL__IDLE_LEAVE;
    /* acquire: pairs with the release store in twill__sched_may_stop. */
    if (atomic_load_explicit(&pool->stopped, memory_order_acquire)) {
        twill__event_cancel_as(ev, me);
        return TWILL__IDLE_STOP;
    }
    /* seq_cst: the count of sleepers is read after our re-check, in the
       announce's total order. */
    if (twill__sched_may_stop(pool, closing,
                              atomic_load_explicit(&ev->waiters, memory_order_seq_cst))) {
        twill__event_cancel_as(ev, me);
        twill__event_notify_all(ev);
        return TWILL__IDLE_STOP;
    }
    TWILL__COUNT(w, parks, 1);
    int64_t start = timeout_ns >= 0 ? twill__now_ns() : 0;
    twill__trace_span parked = twill__trace_begin(w->trace, TWILL__TR_PARK);
    bool woken = twill__event_wait_as(ev, me, timeout_ns);
    /* Not woken: a spurious return or the timeout, which the clock tells
       apart.  Woken counts even past the timeout: the waker spent its
       wake-up on us (park.c), so we look first (elastic.c re-checks
       everything before a worker goes anyway). */
    bool timed_out = !woken && timeout_ns >= 0 && twill__now_ns() - start >= timeout_ns;
    twill__trace_end(w->trace, &parked, TWILL__TRE_PARK, 0, woken);
    if (woken)
        TWILL__COUNT(w, wakes, 1);
    return timed_out ? TWILL__IDLE_LEAVE : TWILL__IDLE_WORK;
}

/* Idle: spin, park, and after every wake-up spin again (a woken worker is
   a spinner, which keeps the hand-over chain going).  While it spins it is
   counted in the event's `spinning`; a spinner that finds work and was the
   last one re-checks the queues and, if work is left, wakes a sleeper to
   take over the search.  A worker coming from work spins only if few
   others do (sched_may_spin). */
static int idle(twill__worker *w, twill__found *f, int64_t timeout_ns)
{
    twill_pool *pool = w->pool;
    twill__event *ev = w->s.work_ev;
    /* find popped every private and spilled task */
    TWILL_ASSERT(TWILL__POS_TOP(w->fast.pos) == w->s.lo && w->s.spilled == NULL &&
                 twill__steal_gempty(w));
    /* relaxed: a heuristic (sched_may_spin) */
    bool spin = twill__sched_may_spin(pool,
                                      atomic_load_explicit(&ev->spinning, memory_order_relaxed));
    for (;;) {
        if (spin) {
            twill__event_spin_begin(ev);
            bool got = twill__sched_spin(w, f);
            twill__event_spin_end(ev);
            /* The hand-over: if we were the last spinner, a producer may
               have skipped its wake-up on our account; if its item is
               still queued, a sleeper takes over the search (the found
               task may block).  If nothing is left, nobody is woken: the
               wake-up's cost stays off the found task's way. */
            if (got) {
                if (twill__event_handover_due(ev) && work_visible(pool))
                    twill__event_wake(ev, 1, false);
                return TWILL__IDLE_WORK;
            }
        }
        int r = park(w, timeout_ns);
        if (r != TWILL__IDLE_WORK)
            return r;
        spin = true;
    }
}

/* Worker w leaves, between tasks: its private stack is empty (no join of
   its own is in progress), so what it holds is its deque, which it moves,
   oldest first, to `handed` (the deque's own take and steal decide, task
   by task, whether w or a thief gets each one), then wakes a sleeper. */
static void hand_over(twill__worker *w)
{
    steal_pool *p = sp(w->pool);
    /* worker.c leaves only with its private group stack empty */
    TWILL_ASSERT(TWILL__POS_TOP(w->fast.pos) == w->s.lo && w->s.spilled == NULL &&
                 twill__steal_gempty(w));
    twill__task *t, *newest_first = NULL;
    while ((t = twill__deque_take(&w->s.dq)) != NULL) {
        t->next = newest_first;
        newest_first = t;
    }
    if (newest_first == NULL)
        return;
    /* now oldest first */
    for (twill__task *next; (t = newest_first) != NULL; newest_first = next) {
        next = t->next;
        twill__prioq_push(&p->handed, t);
    }
    twill__event_notify(&p->work_ev);
}

/* Outside jobs wait and nobody is idle: no sleeper, no spinner.  relaxed:
   a hint (growing is a heuristic, re-checked under the lock). */
static bool starved(twill_pool *pool)
{
    steal_pool *p = sp(pool);
    return (twill__injector_nonempty(&p->inj) || twill__prioq_nonempty(&pool->high)) &&
           atomic_load_explicit(&p->work_ev.waiters, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&p->work_ev.spinning, memory_order_relaxed) == 0;
}

/* ---------------------------------------------------------- shutdown -- */

static void close_outside(twill_pool *pool)
{
    twill__injector_close(&sp(pool)->inj);
    twill__prioq_close(&sp(pool)->handed);
    twill__event_notify_all(&sp(pool)->space_ev); /* blocked submitters: refused */
}

static void wake_all(twill_pool *pool)
{
    if (sp(pool) != NULL)
        twill__event_notify_all(&sp(pool)->work_ev);
}

static size_t queued(twill_pool *pool)
{
    return twill__injector_length(&sp(pool)->inj);
}

/* A record entered a priority queue: the event protocol (park.c) orders
   its length store before our check for sleepers, and the sleeper's
   re-check (work_visible) reads that length. */
static void wake_one(twill_pool *pool, twill__wake_pref pref)
{
    (void)twill__event_notify_as(&sp(pool)->work_ev, pref);
}

const twill__sched_ops twill__sched_steal = {
    .name = "stealing",
    .create = create,
    .destroy = destroy,
    .submit = submit,
    .push = NULL,   /* inline: twill__steal_push */
    .unpush = NULL, /* inline: twill__steal_pop */
    .find = twill__steal_find,
    .take_outside = take_outside,
    .idle = idle,
    .add_worker = add_worker,
    .hand_over = hand_over,
    .starved = starved,
    .close = close_outside,
    .wake_all = wake_all,
    .demand = twill__steal_demand,
    .queued = queued,
    .wake_one = wake_one,
};

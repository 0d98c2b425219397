/*
 * group.c — task groups: spawn any number of tasks, wait for all, cancel,
 * first error wins.
 *
 * The caller owns the group (twill_group, 64 opaque bytes, often on the
 * stack); this file overlays twill__group_ctl (job.h) on it.  Its
 * `pending` is a completion word (completion.h), so a waiter may return,
 * and the group's frame be reused, the moment the last task finishes.  A
 * group holds no resources between uses, so there is no destroy.
 *
 * Who may call what: spawn/cancel/cancelled from any thread; wait from one
 * thread at a time; init when no task is pending (not checked: init never
 * reads the group).  The magic word tells a zeroed group (EINVAL) from an
 * initialised one; memory that was never initialised at all is garbage
 * that no check can tell apart, so using it is undefined (twill.h).
 */
#include <string.h>

#include "elastic.h"
#include "wait.h"

/* The one external definition of each of twill.h's inline group
   functions (C99 inline, as join.c's twill_join). */
extern __inline__ int twill_group_init(twill_group *g, twill_pool *pool);
extern __inline__ int twill_group_spawn(twill_group *g, twill_fn fn, void *arg);
extern __inline__ int twill_group_wait(twill_group *g);

/* twill.h's inline functions read and write a group through
   twill__group_head, and a worker's pool through fast.pool_state and
   fast.high_len. */
#define SAME_FIELD(f)                                                                      \
    (offsetof(twill__group_ctl, f) == offsetof(struct twill__group_head, f) &&             \
     sizeof(((twill__group_ctl *)0)->f) == sizeof(((struct twill__group_head *)0)->f))
_Static_assert(SAME_FIELD(magic) && SAME_FIELD(pending) && SAME_FIELD(first_error) &&
                   SAME_FIELD(iso) && SAME_FIELD(cancelled) && SAME_FIELD(skipped) &&
                   SAME_FIELD(priv) && SAME_FIELD(pool) && SAME_FIELD(owner) &&
                   sizeof(twill__group_ctl) == sizeof(struct twill__group_head),
               "twill__group_head is twill__group_ctl");
#undef SAME_FIELD
_Static_assert(TWILL__POOL_CANCELLING == TWILL__CANCELLING && sizeof(int) == sizeof(_Atomic int) &&
                   sizeof(size_t) == sizeof(_Atomic size_t),
               "the pool words that twill.h's inline functions read");
_Static_assert(TWILL__SLEEPER_BIT == TWILL__SLEEPER && TWILL__GROUP_MAGIC == 0x7477696cu &&
                   TWILL__POLL_EVERY == 64 && TWILL__SPLIT_TRIP == UINT64_MAX,
               "twill.h's inline wait and init write these numbers out");

#define GROUP_MAGIC TWILL__GROUP_MAGIC /* "twil": set by init, 0 in a zeroed group */
#define ISOLATED_MAGIC 0x74776973u  /* "twis": set by init_isolated */

_Static_assert(sizeof(twill__group_ctl) <= sizeof(twill_group), "twill_group too small");
_Static_assert(_Alignof(twill__group_ctl) <= _Alignof(twill_group), "twill_group under-aligned");

static twill__group_ctl *as_ctl(twill_group *g)
{
    return (twill__group_ctl *)(void *)g;
}

static bool valid(const twill_group *g)
{
    if (g == NULL)
        return false;
    uint32_t magic = ((const twill__group_ctl *)(const void *)g)->magic;
    return twill_likely(magic == GROUP_MAGIC) || magic == ISOLATED_MAGIC;
}

/* Every init; twill.h's inline one takes the owner's own (a worker whose
   groups spawn privately: fast.gpool) and writes the same fields. */
int TWILL__ABI(group_init)(twill_group *g, twill_pool *pool)
{
    twill__worker *self = twill__self();
    if (g == NULL || (pool == NULL && self == NULL))
        return EINVAL;
    if (pool == NULL) /* the calling worker's (twill_current_pool) */
        pool = self->pool;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    twill__group_ctl *gr = as_ctl(g);
    /* Never read g before writing it: a fresh group on the stack holds
       whatever an earlier frame left there, possibly the bytes of an older
       group (magic and a nonzero count), so any "still busy?" test on it
       would refuse a brand-new group. */
    memset(g, 0, sizeof *g);
    gr->magic = GROUP_MAGIC;
    gr->pool = pool;
    if (self != NULL && self->pool == pool && twill__sched_private_spawns(self))
        gr->owner = &self->fast; /* its spawns go private (task.h) */
    return 0;
}

int twill_group_init_isolated(twill_group *g, twill_pool *pool)
{
    int rc = TWILL__ABI(group_init)(g, pool);
    if (rc != 0)
        return rc;
    twill__group_ctl *gr = as_ctl(g);
    gr->magic = ISOLATED_MAGIC;
    gr->owner = NULL; /* an isolated wait finds its tasks through the shared queues */
    /* A fresh tag, never 0 (sched.h, "Isolation"): 2^32 inits before one
       comes back.  relaxed: only uniqueness matters; the tag reaches
       workers inside the jobs, published by their queues. */
    do
        gr->iso = atomic_fetch_add_explicit(&gr->pool->iso_last, 1, memory_order_relaxed) + 1;
    while (gr->iso == 0);
    return 0;
}

/* The owner's private spawn, when twill.h's inline push did not take it:
   the pool cancels, the group is cancelled, the private group stack
   wants its cold path (full, or publication wanted: sched_steal.h), or
   split is tripped. */
static TWILL_COLD int spawn_private(twill__worker *w, twill__group_ctl *gr, twill_fn fn,
                                    void *arg)
{
    int rc = twill__accepts_inside(gr->pool);
    if (rc != 0)
        return rc;
    /* acquire: pairs with the release store in twill__group_cancel. */
    if (atomic_load_explicit(&gr->cancelled, memory_order_acquire)) {
        twill__job job = {.fn = fn, .arg = arg, .ctl = gr, .kind = TWILL__JOB_GROUP};
        twill__expect(&gr->pending);
        twill__discard_job(gr->pool, w, &job); /* one clean-up path */
        return 0;
    }
    twill__group_private_add(gr);
    return twill__steal_gpush(w, fn, arg, gr); /* counted in spawns when it leaves */
}

/* Every spawn but the owner's private one: a record in a shared queue,
   counted in pending. */
static int spawn_shared(twill__group_ctl *gr, twill_prio prio, twill_fn fn, void *arg)
{
    twill__job job = {.fn = fn, .arg = arg, .ctl = gr, .kind = TWILL__JOB_GROUP};
    twill__worker *w = twill__self_in(gr->pool);
    /* The task's isolation tag (sched.h): an isolated group's own, else
       the spawner's (0 outside any worker), so the magic check that tells
       an initialised group is also the only test a plain spawn pays. */
    if (twill_likely(gr->magic == GROUP_MAGIC)) {
        if (w != NULL)
            job.iso = w->iso;
    } else if (gr->magic == ISOLATED_MAGIC) {
        job.iso = gr->iso;
    } else {
        return EINVAL;
    }
    if (w == NULL) { /* outside: the pool decides, like any outside submit */
        int rc = twill__pool_usable(gr->pool);
        if (rc != 0)
            return rc;
    }
    twill__expect(&gr->pending);
    /* A pool that refuses work refuses this spawn too, cancelled group or
       not (DESIGN: after a cancelling shutdown every spawn from anywhere
       returns ESHUTDOWN).  acquire: pairs with shutdown's store of state. */
    int rc = w != NULL ? twill__accepts_inside(gr->pool)
                       : (atomic_load_explicit(&gr->pool->state, memory_order_acquire) !=
                                  TWILL__RUNNING
                              ? ESHUTDOWN
                              : 0);
    if (twill_likely(rc == 0)) {
        /* acquire: pairs with the release store in twill__group_cancel. */
        if (twill_unlikely(atomic_load_explicit(&gr->cancelled, memory_order_acquire))) {
            twill__discard_job(gr->pool, w, &job); /* one clean-up path */
            return 0;
        }
        /* our own worker: straight to its queue, never blocks */
        rc = w != NULL && prio == TWILL_PRIO_NORMAL
                 ? twill__push_job(w, &job)
                 : twill__submit(gr->pool, prio, &job, -1);
    }
    if (twill_unlikely(rc != 0))
        twill__finish(&gr->pending); /* nothing was taken: undo the count */
    return rc;
}

/* Every spawn that twill.h's inline private push does not take:
   twill_group_spawn_prio's, and twill_group_spawn's for anything unusual
   (see there).  The owner's NORMAL spawn outside isolation still goes
   onto its private group stack (spawn_private); the rest are shared. */
int TWILL__ABI(group_spawn)(twill_group *g, twill_prio prio, twill_fn fn, void *arg)
{
    if (g == NULL || fn == NULL || prio < TWILL_PRIO_LOW || prio > TWILL_PRIO_HIGH)
        return EINVAL;
    twill__group_ctl *gr = as_ctl(g);
    /* The owner is a worker of gr's pool (init), never twill__outside. */
    struct twill__fast *self = TWILL__ABI(self);
    twill__worker *w = (twill__worker *)self;
    if (twill_likely(gr->owner == self) && prio == TWILL_PRIO_NORMAL && w->iso == 0)
        return spawn_private(w, gr, fn, arg);
    return spawn_shared(gr, prio, fn, arg);
}

int twill_group_spawn_prio(twill_group *g, twill_prio prio, twill_fn fn, void *arg)
{
    return TWILL__ABI(group_spawn)(g, prio, fn, arg);
}

/* The result of a completed group; resets it for reuse.  Spawns may race
   with this (twill.h allows them during a wait), so the reset never writes
   the count: it only clears SLEEPER, with an RMW that keeps an increment
   landing meanwhile.  (It used to store pending = 0, which erased such an
   increment; that task's finish then drove the count below zero and every
   later wait hung.)  A task spawned while the wait returns thus belongs to
   the next round; its error or skip may be reported by either wait. */
static inline int collect(twill__group_ctl *gr)
{
    /* relaxed loads first: each word is written only when a task fails,
       is skipped or cancels, so a clean round pays no read-modify-write;
       a write racing the load belongs to the next round (see above). */
    int rc = 0;
    if (twill_unlikely(atomic_load_explicit(&gr->first_error, memory_order_relaxed) != 0))
        rc = atomic_exchange_explicit(&gr->first_error, 0, memory_order_relaxed);
    if (twill_unlikely(atomic_load_explicit(&gr->skipped, memory_order_relaxed)) &&
        atomic_exchange_explicit(&gr->skipped, false, memory_order_relaxed) && rc == 0)
        rc = ECANCELED;
    if (twill_unlikely(atomic_load_explicit(&gr->cancelled, memory_order_relaxed)))
        atomic_store_explicit(&gr->cancelled, false, memory_order_relaxed);
    twill__completion_reset(&gr->pending);
    return rc;
}

/* The owner's wait, before a pop: a HIGH task waits, or split is tripped
   (sched.h: HIGH work, or an outside job or broadcast share for the
   poll).  The look a tripped join makes (join.c), so that a trip does not
   outlive it: while split stays tripped twill.h's inline spawn takes the
   library's path. */
static TWILL_COLD void look(twill__worker *w)
{
    bool tripped = twill__sched_tripped(w);
    if (twill__prioq_nonempty(&w->pool->high))
        twill__job_run_high(w);
    else if (tripped)
        twill__job_poll(w);
}

/* The wait itself: w is the calling worker of gr's pool (it helps), or
   NULL (it sleeps). */
static int wait_group(twill__group_ctl *gr, twill__worker *w, int64_t timeout_ns)
{
    /* The owner first takes back its private tasks (task.h), newest first
       (anything on its private group stack: they are all its own work),
       until none of gr's is left unfinished; a HIGH task starts before
       each, and when publication is wanted (limit 0: a thief asked, or
       the deque ran empty) the older half goes to the deque first, as a
       spawn would, so that idle workers share a batch spawned before the
       wait.  A timed wait publishes them instead, so that it never runs a
       task past its deadline or (0) at all, while they stay within
       others' reach.  Outside isolation only: the stack's tasks carry no
       tag; an isolated find publishes them (twill__steal_find_iso). */
    if (w != NULL && gr->owner == &w->fast) {
        if (gr->priv != 0 && w->iso == 0) {
            if (timeout_ns >= 0) {
                twill__steal_publish(w, true);
            } else {
                twill__job job;
                while (gr->priv != 0 && !twill__steal_gempty(w)) {
                    /* before the pop: the HIGH task may push and pop here */
                    if (twill_unlikely(twill__prioq_nonempty(&w->pool->high) ||
                                       __atomic_load_n(&w->fast.split, __ATOMIC_RELAXED) ==
                                           TWILL__SPLIT_TRIP)) {
                        look(w);
                        if (gr->priv == 0)
                            break;
                    }
                    /* relaxed: a request (sched_steal.h, limit) */
                    if (twill_unlikely(__atomic_load_n(&w->fast.limit, __ATOMIC_RELAXED) == 0))
                        twill__steal_publish(w, false);
                    if (!twill__steal_gpop(w, &job))
                        break;
                    twill__run_private(w, job.fn, job.arg, job.ctl);
                }
            }
        }
        /* untraced (the owner): no wait span to record when nothing is left */
        if (twill_likely(twill__completed(&gr->pending)))
            return collect(gr);
    }
    twill__want want = {TWILL__FIND_HELP, -1, gr};
    int rc = twill__wait(w, &gr->pending, timeout_ns, w != NULL ? &want : NULL);
    return rc != 0 ? rc : collect(gr);
}

/* An isolated group: a worker of its pool waits under the group's tag, so
   it helps only with the group's work (sched.h, "Isolation"). */
static TWILL_COLD int wait_isolated(twill__group_ctl *gr, int64_t timeout_ns)
{
    int rc = twill__pool_usable(gr->pool);
    if (rc != 0)
        return rc;
    twill__worker *w = twill__self_in(gr->pool);
    if (w == NULL || w->iso == gr->iso)
        return wait_group(gr, w, timeout_ns);
    twill__iso_ctx old = twill__iso_enter(w, gr->iso);
    rc = wait_group(gr, w, timeout_ns);
    twill__iso_leave(w, old);
    return rc;
}

/* Every wait that twill.h's inline one does not finish (it may have run
   some private tasks first), and every twill_group_wait_for. */
int TWILL__ABI(group_wait)(twill_group *g, int64_t timeout_ns)
{
    if (g == NULL)
        return EINVAL;
    twill__group_ctl *gr = as_ctl(g);
    /* The owner (a plain group, set by init on a worker of its pool, never
       twill__outside, which a forked child's thread is) needs no more
       checks.  Nothing pending (a task that spawned nothing, or whose
       tasks all ended: private ones hold the token, task.h): done,
       without wait_group's frame, as wait_group itself would return. */
    struct twill__fast *self = TWILL__ABI(self);
    if (twill_likely(gr->owner == self)) {
        if (twill__completed(&gr->pending))
            return collect(gr);
        return wait_group(gr, (twill__worker *)self, timeout_ns);
    }
    if (twill_unlikely(gr->magic != GROUP_MAGIC))
        return gr->magic == ISOLATED_MAGIC ? wait_isolated(gr, timeout_ns) : EINVAL;
    int rc = twill__pool_usable(gr->pool);
    if (rc != 0)
        return rc;
    return wait_group(gr, twill__self_in(gr->pool), timeout_ns);
}

int twill_group_wait_for(twill_group *g, int64_t timeout_ns)
{
    return TWILL__ABI(group_wait)(g, timeout_ns);
}

/* The inline wait's rare steps, on the owner: a private task of g failed
   (as twill__run_private: counted, g's first error, g cancelled); the
   token's finish found a sleeper on g (completion.h's finish); the poll
   every TWILL__POLL_EVERY runs (twill__job_tick). */
void TWILL__ABI(group_failed)(struct twill__group_head *g, int rc)
{
    twill__group_ctl *gr = (twill__group_ctl *)(void *)g;
    TWILL__COUNT((twill__worker *)TWILL__ABI(self), tasks_failed, 1);
    twill__first_error(&gr->first_error, rc); /* published by the token's finish */
    twill__group_cancel(gr);
}

void TWILL__ABI(group_wake)(struct twill__group_head *g)
{
    twill__futex_wake(&((twill__group_ctl *)(void *)g)->pending, INT_MAX);
}

void TWILL__ABI(group_poll)(void)
{
    twill__job_poll((twill__worker *)TWILL__ABI(self));
}

void twill_group_cancel(twill_group *g)
{
    if (valid(g))
        twill__group_cancel(as_ctl(g));
}

bool twill_group_cancelled(const twill_group *g)
{
    if (!valid(g))
        return false;
    /* acquire: pairs with the release store in twill__group_cancel. */
    return atomic_load_explicit(&((const twill__group_ctl *)(const void *)g)->cancelled,
                                memory_order_acquire);
}

twill_group *twill_current_group(void)
{
    twill__worker *w = twill__self();
    return w != NULL ? (twill_group *)(void *)w->fast.group : NULL;
}

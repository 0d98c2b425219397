/*
 * sched_central.c — the central-queue scheduler: one FIFO of task records
 * under one mutex, idle workers each on its own word (park.h's sleeper
 * words, armed and claimed under the mutex), so that a submit wakes one
 * whose CPU is not the submitter's.  This is the classic thread pool, kept
 * behind the same API so the two can be compared.
 *
 * Who may call what: create/destroy from the pool creator; submit, close
 * and wake_all from any thread; the rest on worker w.  All state below is
 * protected by `lock`, except `length`, which is also read without it as a
 * hint.
 *
 * Invariants
 *   - The FIFO is a doubly-linked list of records, so a joiner can take its
 *     own b back out in O(1) (unpush) when nobody started it.
 *   - `external` counts queued records submitted from outside threads and
 *     never exceeds `capacity`: the bound applies to outside submissions
 *     only; pushes from the pool's own workers never block.
 *   - A record is linked iff its `queued` field is nonzero (QUEUED_INSIDE:
 *     pushed by a worker, QUEUED_OUTSIDE: submitted from outside).
 *   - Idle workers take the oldest record (FIFO, the classic pool); a worker
 *     that helps while it waits (join, group) takes the newest, which is
 *     usually its own child.  Helping from the head would run unrelated
 *     tasks that wait in turn, nesting without bound: a 1-worker nqueens
 *     overflowed its stack that way.
 *   - Taken or not: an outside submit is taken by the enqueue under the
 *     lock, which checks `state`; shutdown stores state and then takes the
 *     lock to wake blocked submitters, so none can enqueue after it.
 */
#include "sched.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "os.h"

enum { QUEUED_INSIDE = 1, QUEUED_OUTSIDE = 2 };

typedef struct central {
    pthread_mutex_t lock;
    pthread_cond_t space;       /* outside submitters wait here while full */
    twill__task *head, *tail;   /* FIFO: pop at head, push at tail */
    size_t external, capacity;  /* see invariants */
    unsigned idle;              /* workers asleep (or about to be) on their word */
    /* Idle workers still looking before they wait (twill__sched_spin);
       RMW by them, read by starved (relaxed: a hint). */
    _Atomic unsigned spinning;
    _Atomic size_t length;      /* queued records; written under lock */
    /* Idle workers' words, one per worker slot; armed, claimed and taken
       back under lock (the futex wait itself outside it). */
    twill__sleeper sleepers[TWILL_MAX_WORKERS];
    _Atomic uint32_t *slots;    /* the pool's count of worker slots */
} central;

static central *cq(const twill_pool *pool)
{
    return pool->sched;
}

static int create(twill_pool *pool, size_t capacity)
{
    central *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ENOMEM;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->space, &attr);
    pthread_condattr_destroy(&attr);
    c->capacity = capacity;
    atomic_init(&c->length, 0);
    atomic_init(&c->spinning, 0);
    c->slots = &pool->slots;
    pool->sched = c;
    return 0;
}

static void destroy(twill_pool *pool)
{
    central *c = cq(pool);
    if (c == NULL)
        return;
    /* Inherited through fork(), the condition variable may still count
       the parent's waiters, and destroying it would wait for those
       forever: memory only. */
    if (twill__pool_usable(pool) == 0) {
        pthread_cond_destroy(&c->space);
        pthread_mutex_destroy(&c->lock);
    }
    free(c);
    pool->sched = NULL;
}

/* Lock held: claim a sleeping worker, one that pref prefers if any
   (park.h), for the caller to wake once it has unlocked
   (twill__sleeper_wake; NULL: nobody to wake).  A claimed worker takes its
   word back under the lock, so `idle` still counts it until then and this
   may claim nobody: every sleeper is then awake or about to be and
   re-checks under the lock.  acquire: pairs with the release that
   publishes a new slot. */
static twill__sleeper *claim_one_locked(central *c, twill__wake_pref pref)
{
    if (c->idle == 0)
        return NULL;
    return twill__sleepers_claim_one(c->sleepers,
                                     atomic_load_explicit(c->slots, memory_order_acquire), pref);
}

/* After the unlock: wake what claim_one_locked claimed. */
static void wake_claimed(twill__sleeper *s)
{
    if (s != NULL)
        twill__sleeper_wake(s);
}

static void wake_all_locked(central *c)
{
    twill__sleepers_wake_all(c->sleepers, atomic_load_explicit(c->slots, memory_order_acquire));
}

/* Lock held.  Returns the sleeper to wake after the unlock
   (wake_claimed). */
static twill__sleeper *link_tail(central *c, twill__task *t, uint8_t how)
{
    t->next = NULL;
    t->prev = c->tail;
    if (c->tail != NULL)
        c->tail->next = t;
    else
        c->head = t;
    c->tail = t;
    t->queued = how;
    /* relaxed: a hint for lock-free readers; the lock orders the rest. */
    atomic_store_explicit(&c->length, atomic_load_explicit(&c->length, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return claim_one_locked(c, twill__job_wake_pref(&t->job, how == QUEUED_OUTSIDE));
}

/* Lock held. */
static void unlink_rec(central *c, twill__task *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        c->head = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    else
        c->tail = t->prev;
    if (t->queued == QUEUED_OUTSIDE) {
        c->external--;
        pthread_cond_signal(&c->space);
    }
    t->queued = 0;
    atomic_store_explicit(&c->length, atomic_load_explicit(&c->length, memory_order_relaxed) - 1,
                          memory_order_relaxed);
}

static void push(twill__worker *w, twill__task *t)
{
    central *c = cq(w->pool);
    pthread_mutex_lock(&c->lock);
    twill__sleeper *s = link_tail(c, t, QUEUED_INSIDE);
    pthread_mutex_unlock(&c->lock);
    wake_claimed(s);
}

static int submit(twill_pool *pool, const twill__job *job, int64_t timeout_ns)
{
    central *c = cq(pool);
    twill__task *t = malloc(sizeof *t);
    if (t == NULL)
        return ENOMEM;
    t->job = *job;
    struct timespec deadline = twill__cond_deadline(&timeout_ns);
    int rc = 0;
    twill__sleeper *s = NULL;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        /* acquire: pairs with the shutdown's state store; shutdown then
           takes this lock to wake us, so the check cannot go stale. */
        if (atomic_load_explicit(&pool->state, memory_order_acquire) != TWILL__RUNNING) {
            rc = ESHUTDOWN;
            break;
        }
        if (c->external < c->capacity) {
            c->external++;
            s = link_tail(c, t, QUEUED_OUTSIDE);
            break;
        }
        if (timeout_ns == 0) {
            rc = EAGAIN;
            break;
        }
        /* Any other error than ETIMEDOUT (none is expected with a valid
           deadline) just means: look again. */
        int w = twill__cond_wait(&c->space, &c->lock, timeout_ns, &deadline);
        if (w == ETIMEDOUT && c->external >= c->capacity) {
            rc = ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    wake_claimed(s);
    if (rc != 0)
        free(t);
    return rc;
}

/* Lock held: the record to take for want, or NULL; under isolation (iso,
   w->iso: a helping wait's find only) only records of that tag. */
static twill__task *choose(central *c, const twill__want *want, uint32_t iso)
{
    if (want->mode == TWILL__FIND_LOOP)
        return c->head;
    twill__task *t = c->tail;
    if (want->mode == TWILL__FIND_OWN) /* only the tasks of the group waited for */
        while (t != NULL && !(want->ctl != NULL && t->job.kind == TWILL__JOB_GROUP &&
                              t->job.ctl == want->ctl))
            t = t->prev;
    if (twill_unlikely(iso != 0)) /* an isolated wait: only its tag (sched.h) */
        while (t != NULL && !(t->job.iso == iso &&
                              (want->mode != TWILL__FIND_OWN ||
                               (t->job.kind == TWILL__JOB_GROUP && t->job.ctl == want->ctl))))
            t = t->prev;
    return t;
}

static bool find(twill__worker *w, const twill__want *want, twill__found *f)
{
    central *c = cq(w->pool);
    /* relaxed: a hint; an empty queue costs no lock (idle spinning). */
    if (atomic_load_explicit(&c->length, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&c->lock);
    twill__task *t = choose(c, want, w->iso);
    if (t != NULL) {
        if (t->queued == QUEUED_OUTSIDE)
            TWILL__COUNT(w, injected, 1);
        unlink_rec(c, t);
    }
    pthread_mutex_unlock(&c->lock);
    f->rec = t;
    return t != NULL;
}

/* The oldest outside job, so that a worker deep in local work still starts
   outside work now and then (job.c's poll). */
static bool take_outside(twill__worker *w, twill__job *job)
{
    central *c = cq(w->pool);
    /* relaxed: a hint, as in find. */
    if (atomic_load_explicit(&c->length, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&c->lock);
    twill__task *t = c->head;
    while (t != NULL && t->queued != QUEUED_OUTSIDE)
        t = t->next;
    if (t != NULL) {
        TWILL__COUNT(w, injected, 1);
        unlink_rec(c, t);
    }
    pthread_mutex_unlock(&c->lock);
    if (t == NULL)
        return false;
    *job = t->job;
    twill__task_free(&w->free, t);
    return true;
}

static twill__task *unpush(twill__worker *w, twill__task *t)
{
    central *c = cq(w->pool);
    pthread_mutex_lock(&c->lock);
    bool was_queued = t->queued != 0;
    if (was_queued)
        unlink_rec(c, t);
    pthread_mutex_unlock(&c->lock);
    return was_queued ? t : NULL;
}

/* The FIFO is empty: an idle worker would find nothing, so splitting a
   loop pays.  relaxed: a hint. */
static bool demand(twill__worker *w)
{
    return twill__pool_nworkers(w->pool) > 1 &&
           atomic_load_explicit(&cq(w->pool)->length, memory_order_relaxed) == 0;
}

static int idle(twill__worker *w, twill__found *f, int64_t timeout_ns)
{
    twill_pool *pool = w->pool;
    central *c = cq(pool);
    twill__sleeper *me = &c->sleepers[w->id];
    /* A worker coming from work spins only if few others do; one woken
       for work always spins (sched_may_spin).  relaxed: a heuristic. */
    bool spin = twill__sched_may_spin(pool, atomic_load_explicit(&c->spinning,
                                                                 memory_order_relaxed));
    for (;;) {
        if (spin) {
            atomic_fetch_add_explicit(&c->spinning, 1, memory_order_relaxed);
            bool got = twill__sched_spin(w, f);
            atomic_fetch_sub_explicit(&c->spinning, 1, memory_order_relaxed);
            if (got)
                return TWILL__IDLE_WORK;
        }
        spin = true;
        int64_t deadline = timeout_ns >= 0 ? twill__deadline(timeout_ns) : INT64_MAX;
        int r = TWILL__IDLE_WORK;
        pthread_mutex_lock(&c->lock);
        /* relaxed loads of closing/stopped: closing is written before
           wake_all takes this lock, stopped only under it. */
        /* The priority queues' lengths, the mailbox and leave_from are
           read under our lock: a push there is followed by wake_one, and a
           broadcaster fills the mailbox (a resize sets leave_from) before
           wake_all, both of which take this lock. */
        while (c->head == NULL && !twill__prioq_nonempty(&pool->high) &&
               !twill__prioq_nonempty(&pool->low) && !twill__mailbox_full(w) &&
               !atomic_load_explicit(&pool->stopped, memory_order_relaxed)) {
            if (twill__sched_leave_now(w)) {
                r = TWILL__IDLE_LEAVE;
                break;
            }
            if (twill__sched_may_stop(pool,
                                      atomic_load_explicit(&pool->closing, memory_order_relaxed),
                                      c->idle + 1)) {
                wake_all_locked(c);
                break;
            }
            int64_t left = -1;
            if (deadline != INT64_MAX && (left = deadline - twill__now_ns()) <= 0) {
                r = TWILL__IDLE_LEAVE; /* elastic.c re-checks before it goes */
                break;
            }
            /* Armed under the lock: a waker (under it too) either sees us
               armed or ran before our check above saw its record. */
            twill__sleeper_arm(me);
            c->idle++;
            TWILL__COUNT(w, parks, 1);
            twill__trace_span parked = twill__trace_begin(w->trace, TWILL__TR_PARK);
            pthread_mutex_unlock(&c->lock);
            bool woken = twill__sleeper_sleep(me, left);
            pthread_mutex_lock(&c->lock);
            twill__trace_end(w->trace, &parked, TWILL__TRE_PARK, 0, woken);
            c->idle--;
            if (woken) {
                TWILL__COUNT(w, wakes, 1);
                break; /* spend the wake-up on a spin */
            }
        }
        if (atomic_load_explicit(&pool->stopped, memory_order_relaxed) && !twill__mailbox_full(w))
            r = TWILL__IDLE_STOP;
        pthread_mutex_unlock(&c->lock);
        if (r != TWILL__IDLE_WORK)
            return r;
    }
}

/* A central worker holds no task of its own: everything it pushes goes to
   the one FIFO. */
static int add_worker(twill_pool *pool, unsigned i)
{
    (void)pool;
    (void)i;
    return 0;
}

static void hand_over(twill__worker *w)
{
    (void)w;
}

/* Outside jobs wait and no worker sleeps or spins.  Under the lock: idle
   is written under it (growing is rare enough to pay for it). */
static bool starved(twill_pool *pool)
{
    central *c = cq(pool);
    if (atomic_load_explicit(&c->spinning, memory_order_relaxed) != 0)
        return false;
    pthread_mutex_lock(&c->lock);
    bool r = (c->external > 0 || twill__prioq_nonempty(&pool->high)) && c->idle == 0;
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* Wake every sleeper: workers (closing or stopped changed) and blocked
   submitters (state changed).  Under the lock, so none misses it. */
static void wake_all(twill_pool *pool)
{
    central *c = cq(pool);
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    wake_all_locked(c);
    pthread_cond_broadcast(&c->space);
    pthread_mutex_unlock(&c->lock);
}

/* A record entered a priority queue: wake a sleeper.  The claim under our
   lock, so that a worker about to sleep either saw the record in its
   check (made under this lock) or is armed when we claim; the wake after
   the unlock (claim_one_locked). */
static void wake_one(twill_pool *pool, twill__wake_pref pref)
{
    central *c = cq(pool);
    pthread_mutex_lock(&c->lock);
    twill__sleeper *s = claim_one_locked(c, pref);
    pthread_mutex_unlock(&c->lock);
    wake_claimed(s);
}

static size_t queued(twill_pool *pool)
{
    central *c = cq(pool);
    pthread_mutex_lock(&c->lock);
    size_t n = c->external;
    pthread_mutex_unlock(&c->lock);
    return n;
}

const twill__sched_ops twill__sched_central = {
    .name = "central",
    .create = create,
    .destroy = destroy,
    .submit = submit,
    .push = push,
    .unpush = unpush,
    .find = find,
    .take_outside = take_outside,
    .idle = idle,
    .add_worker = add_worker,
    .hand_over = hand_over,
    .starved = starved,
    .close = wake_all,
    .wake_all = wake_all,
    .demand = demand,
    .queued = queued,
    .wake_one = wake_one,
};

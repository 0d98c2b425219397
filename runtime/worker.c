/*
 * worker.c — the worker loop and what it runs.
 *
 * A worker looks for work in this order (stealing scheduler):
 *   1. every TWILL__INJECT_POLL tasks, the injector first, so a long stream
 *      of local work cannot starve outside submissions;
 *   2. its own tasks, newest first (LIFO: the best cache locality and the
 *      O(depth) memory bound of fork-join): the private stack of join
 *      halves, then its deque;
 *   3. the injector;
 *   4. its victims' deques, nearest first, oldest first (FIFO: the largest
 *      pieces of work), a lost race retried, never taken for "empty"; a
 *      victim whose deque is empty is asked to publish private tasks;
 *   5. a short spin of the above, then parking (park.c).
 * Under the central scheduler steps 1-4 are one pop from the shared FIFO and
 * parking is its condition variable (central.c).
 *
 * Who may call what: every function here runs on worker `w` itself
 * (owner-only state: its deque's owner side, free list, counters), except
 * twill__discard_job, which the shutdown path may also call.
 *
 * Termination: a worker leaves only from the idle path, after its own
 * re-check of every queue found nothing, once `stopped` is set.  Work a
 * running task creates goes to its own deque, so a worker that is still
 * running when others leave finishes everything it spawns.
 */
#include "pool.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

_Thread_local twill__worker *twill__self;

/* Poll the injector after this many local tasks: often enough that an
   outside task waits at most ~61 short tasks, rarely enough that the poll
   (one load of head and tail) is lost in the noise.  Prime, so it does not
   beat with binary splitting. */
#define TWILL__INJECT_POLL 61
/* Rounds of looking for work before parking: one round is a pass over all
   victims (~50 ns each here), so 64 rounds stay well under 100 us and an
   idle pool parks quickly. */
#define TWILL__SPIN_ROUNDS 64
/* Spare task records a worker keeps; beyond this they are freed, so a
   producer/consumer pattern cannot pile records up on the consumer. */
#define TWILL__FREE_LIST_MAX 256

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

twill__task *twill__task_alloc(twill__worker *w)
{
    twill__task *t = w->free_list;
    if (twill_likely(t != NULL)) {
        w->free_list = t->next;
        return t;
    }
    return malloc(sizeof *t);
}

void twill__task_free(twill__worker *w, twill__task *t)
{
    /* The length is kept in the record at the head: cheap and owner-only. */
    size_t len = w->free_list != NULL ? (size_t)w->free_list->prev + 1 : 1;
    if (len > TWILL__FREE_LIST_MAX) {
        free(t);
        return;
    }
    t->next = w->free_list;
    t->prev = (twill__task *)(uintptr_t)len;
    w->free_list = t;
}

/* A join record leaves its owner's private stack: give it the fields a
   thief and a waiting joiner use. */
static void join_shareable(twill__task *t)
{
    if (t->job.kind == TWILL__JOB_JOIN) {
        /* relaxed: published by the deque push (or central lock) after. */
        atomic_store_explicit(&t->state, TWILL__JOIN_PENDING, memory_order_relaxed);
        atomic_store_explicit(&t->thief, -1, memory_order_relaxed);
    }
}

/* Owner only.  twill__push when the fast path does not apply: the central
   scheduler, or a deque that could not grow (then the task runs here and
   now instead; it is taken either way). */
TWILL_COLD void twill__push_slow(twill__worker *w, twill__task *t)
{
    join_shareable(t);
    if (w->work_ev == NULL)
        twill__central_push(w->pool, t);
    else
        twill__run_record(w, t);
}

/* Owner only.  Move the older half (at least one) of the private tasks to
   the deque, oldest first, so the deque stays ordered oldest (top) to
   newest (bottom) below every private task, then wake a sleeper if any.
   Thieves ask for this by setting split_req when they find the deque
   empty; this is Lace's split request (van Dijk and van de Pol 2014) on
   top of an unmodified Chase-Lev deque.  The deque push's release fence
   publishes each task; the event protocol (park.c) then orders the
   wake-up check after it. */
TWILL_COLD void twill__publish(twill__worker *w)
{
    /* relaxed: a request arriving after this clear is seen at a later push. */
    atomic_store_explicit(&w->split_req, false, memory_order_relaxed);
    uint32_t n = w->priv_hi - w->priv_lo, k = (n + 1) / 2;
    for (uint32_t i = 0; i < k; i++) {
        twill__task *t = w->priv[w->priv_lo & (TWILL__PRIVATE_CAP - 1)];
        join_shareable(t);
        if (twill__deque_push(&w->dq, t) != 0)
            break; /* out of memory growing the deque: the task stays private */
        w->priv_lo++;
    }
    twill__event_notify(w->work_ev);
}

/* Owner only.  Wrap a job in a record and push it.  Returns 0 or ENOMEM. */
int twill__push_job(twill__worker *w, const twill__job *job)
{
    twill__task *t = twill__task_alloc(w);
    if (t == NULL)
        return ENOMEM;
    t->job = *job;
    twill__push(w, t);
    return 0;
}

/* Drop a taken job unrun: the hook, the counters, and the job's waiter.
   w is the calling worker, or NULL on any other thread. */
void twill__discard_job(twill_pool *pool, twill__worker *w, const twill__job *job)
{
    if (pool->discard != NULL)
        pool->discard(job->fn, job->arg, pool->discard_ctx);
    if (w != NULL)
        TWILL__COUNT(w, tasks_discarded, 1);
    else
        atomic_fetch_add_explicit(&pool->outside_discards, 1, memory_order_relaxed);
    if (job->kind == TWILL__JOB_GROUP) {
        twill__group_discarded(job->ctl);
    } else if (job->kind == TWILL__JOB_RUN) {
        twill__run_ctl *rc = job->ctl;
        rc->result = ECANCELED;
        /* release: publishes result to the waiter in twill_run. */
        atomic_store_explicit(&rc->done, 1, memory_order_release);
        syscall(SYS_futex, &rc->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

void twill__run_job(twill__worker *w, const twill__job *job)
{
    /* relaxed: a task that starts just before a cancelling shutdown becomes
       visible runs, which is allowed (it was running "at" shutdown). */
    if (twill_unlikely(atomic_load_explicit(&w->pool->state, memory_order_relaxed) ==
                       TWILL__CANCELLING)) {
        /* relaxed: read by shutdown after joining the workers. */
        atomic_fetch_add_explicit(&w->pool->shutdown_discards, 1, memory_order_relaxed);
        twill__discard_job(w->pool, w, job);
        return;
    }
    switch (job->kind) {
    case TWILL__JOB_GROUP:
        twill__group_run(w, job);
        return;
    case TWILL__JOB_RUN: {
        twill__run_ctl *rc = job->ctl;
        rc->result = job->fn(job->arg);
        twill__count_result(w, rc->result);
        /* release: publishes result to the waiter in twill_run. */
        atomic_store_explicit(&rc->done, 1, memory_order_release);
        syscall(SYS_futex, &rc->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        return;
    }
    default:
        twill__count_result(w, job->fn(job->arg));
        return;
    }
}

void twill__run_record(twill__worker *w, twill__task *t)
{
    if (t->job.kind != TWILL__JOB_JOIN) {
        twill__job job = t->job;
        twill__task_free(w, t); /* recycle before running: stays hot */
        twill__run_job(w, &job);
        return;
    }
    /* A stolen (or leftover) join half: always runs, even when cancelling. */
    int rc = t->job.fn(t->job.arg);
    twill__count_result(w, rc);
    t->result = rc;
    /* acq_rel: release publishes result to the joiner; the old value says
       whether it sleeps.  After this store the record may be gone. */
    uint32_t old = atomic_exchange_explicit(&t->state, TWILL__JOIN_DONE, memory_order_acq_rel);
    if (old == TWILL__JOIN_SLEEPING)
        syscall(SYS_futex, &t->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Take one job from the injector, and wake a blocked submitter now that a
   slot is free (twill_submit blocks only while the queue is full).  The
   notify costs one load of space_ev's waiters unless a submitter sleeps.
   (Waking only at half occupancy saved system calls when producers
   outrun consumers, but left a submitter asleep beside free slots, and a
   task that waited for it deadlocked: issue 15.) */
static bool pop_injector(twill__worker *w, twill__job *job)
{
    if (!twill__injector_try_pop(&w->pool->inj, job))
        return false;
    TWILL__COUNT(w, injected, 1);
    twill__event_notify(&w->pool->space_ev);
    return true;
}

/* Try the victims once, nearest first.  A lost race makes the pass repeat
   (bounded), so "retry" is never taken for "empty". */
static twill__task *steal_pass(twill__worker *w, int prefer_victim)
{
    twill_pool *pool = w->pool;
    for (int pass = 0; pass < 4; pass++) {
        bool lost = false;
        for (unsigned k = 0; k + 1 < pool->nworkers + (prefer_victim >= 0); k++) {
            int v = (prefer_victim >= 0) ? (k == 0 ? prefer_victim : w->victims[k - 1])
                                         : w->victims[k];
            if (v == (int)w->id)
                continue;
            twill__worker *victim = &pool->workers[v];
            if (twill__deque_size_estimate(&victim->dq) == 0) {
                /* Nothing public: ask the victim to publish at its next
                   push.  relaxed: a hint; set only if clear, so an idle
                   thief does not keep invalidating the owner's line. */
                if (!atomic_load_explicit(&victim->split_req, memory_order_relaxed))
                    atomic_store_explicit(&victim->split_req, true, memory_order_relaxed);
                continue;
            }
            void *x;
            TWILL__COUNT(w, steal_attempts, 1);
            twill__steal_result r = twill__deque_steal(&victim->dq, &x);
            if (r == TWILL__STEAL_SUCCESS) {
                twill__task *t = x;
                TWILL__COUNT(w, steals, 1);
                if (t->job.kind == TWILL__JOB_JOIN)
                    /* relaxed: a hint for the joiner's leapfrogging. */
                    atomic_store_explicit(&t->thief, (int)w->id, memory_order_relaxed);
                /* More left there: let a sleeper help (a chain of wake-ups
                   spreads work without a thundering herd).  None left: ask
                   the victim to publish what it keeps private. */
                if (twill__deque_size_estimate(&victim->dq) > 0)
                    twill__event_notify(&pool->work_ev);
                else if (!atomic_load_explicit(&victim->split_req, memory_order_relaxed))
                    atomic_store_explicit(&victim->split_req, true, memory_order_relaxed);
                return t;
            }
            lost |= (r == TWILL__STEAL_RETRY);
        }
        if (!lost)
            break;
    }
    return NULL;
}

/* What a worker found: a record (from a deque or the central FIFO) or a
   job by value (from the injector). */
typedef struct found {
    twill__task *rec;
    twill__job job;
    bool external; /* central: rec came from an outside thread */
} found;

/* Central scheduler: note what the FIFO gave us (outside submissions count
   as injected, as on the stealing scheduler). */
static bool central_found(twill__worker *w, found *f, twill__task *t)
{
    f->rec = t;
    if (t != NULL && f->external)
        TWILL__COUNT(w, injected, 1);
    return t != NULL;
}

/* One attempt to find a task.  prefer_victim >= 0 is tried first (a joiner
   stealing back from its thief); helping (a wait) takes the newest task of
   the central FIFO instead of the oldest.  Returns false if none found. */
static bool find_work(twill__worker *w, int prefer_victim, bool helping, found *f)
{
    twill_pool *pool = w->pool;
    f->rec = NULL;
    if (w->work_ev == NULL) /* central scheduler */
        return central_found(w, f, twill__central_pop(pool, helping, &f->external));
    if (++w->since_inject >= TWILL__INJECT_POLL) {
        w->since_inject = 0;
        if (pop_injector(w, &f->job))
            return true;
    }
    f->rec = twill__pop(w);
    if (f->rec == NULL && pop_injector(w, &f->job))
        return true;
    if (f->rec == NULL)
        f->rec = steal_pass(w, prefer_victim);
    return f->rec != NULL;
}

static void run_found(twill__worker *w, found *f)
{
    if (f->rec != NULL)
        twill__run_record(w, f->rec);
    else
        twill__run_job(w, &f->job);
}

bool twill__help_once(twill__worker *w, int prefer_victim, const void *group)
{
    found f;
    bool got;
    if (twill_likely(!twill__help_restricted(w))) {
        got = find_work(w, prefer_victim, true, &f);
    } else if (w->work_ev == NULL) {
        got = central_found(w, &f, twill__central_pop_group(w->pool, group, &f.external));
    } else {
        /* Our own tasks, then outside jobs (which our wait may depend on:
           a group fed from outside the pool), the latter only up to a hard
           depth, which bounds the stack. */
        got = (f.rec = twill__pop(w)) != NULL ||
              (w->waits <= TWILL__HELP_DEPTH_MAX && pop_injector(w, &f.job));
    }
    if (!got)
        return false;
    run_found(w, &f);
    return true;
}

/* Is there anything a worker could take right now? (the parking re-check) */
static bool work_visible(twill__worker *w)
{
    twill_pool *pool = w->pool;
    if (twill__injector_nonempty(&pool->inj))
        return true;
    for (unsigned i = 0; i < pool->nworkers; i++)
        if (twill__deque_size_estimate(&pool->workers[i].dq) > 0)
            return true;
    return false;
}

/* Park until work may exist.  Returns true when the worker must exit. */
static bool park(twill__worker *w)
{
    twill_pool *pool = w->pool;
    uint32_t key = twill__event_prepare(&pool->work_ev);
    /* Read `closing` before the re-check: shutdown sets it only after the
       injector is closed, so if we see it, every outside job was claimed
       before our re-check (a claimed cell counts as non-empty).  Read after
       the re-check, a job claimed in between could be missed and lost.
       acquire: pairs with the seq_cst store in shutdown. */
    bool closing = atomic_load_explicit(&pool->closing, memory_order_acquire);
    if (work_visible(w)) {
        twill__event_cancel(&pool->work_ev);
        return false;
    }
    /* acquire: pairs with the release stores in shutdown / below. */
    if (atomic_load_explicit(&pool->stopped, memory_order_acquire)) {
        twill__event_cancel(&pool->work_ev);
        return true;
    }
    /* Termination: closed to outside work, nothing queued anywhere, and
       every worker idle (so no running task can create more). seq_cst:
       the count is read after our re-check, in the announce's total order. */
    if (closing &&
        atomic_load_explicit(&pool->work_ev.waiters, memory_order_seq_cst) == pool->nworkers) {
        /* release: pairs with the acquire loads above in other workers. */
        atomic_store_explicit(&pool->stopped, true, memory_order_release);
        twill__event_cancel(&pool->work_ev);
        twill__event_notify_all(&pool->work_ev);
        return true;
    }
    TWILL__COUNT(w, parks, 1);
    if (twill__event_wait(&pool->work_ev, key, -1))
        TWILL__COUNT(w, wakes, 1);
    return false;
}

static void set_thread_name(twill__worker *w)
{
    char name[24]; /* the kernel keeps 15 characters: prefix (<= 10) + id */
    snprintf(name, sizeof name, "%s-%u", w->pool->name, w->id);
    name[15] = '\0';
    pthread_setname_np(pthread_self(), name);
}

/* Spin: look for work for a while without sleeping.  Counted in the
   event's `spinning` while it lasts; a spinner that finds work notifies
   once, so if it was the last spinner a sleeper takes over the search. */
static bool spin(twill__worker *w, found *f)
{
    if (w->work_ev != NULL)
        twill__event_spin_begin(w->work_ev);
    bool got = false;
    for (int i = 0; i < TWILL__SPIN_ROUNDS && !got; i++) {
        if (i < TWILL__SPIN_ROUNDS / 4)
            cpu_relax();
        else
            sched_yield(); /* let a producer sharing our core run */
        got = find_work(w, -1, false, f);
    }
    if (w->work_ev != NULL) {
        twill__event_spin_end(w->work_ev);
        if (got) {
            /* StoreLoad between our spin_end and the hand-over's load of
               waiters: in membarrier mode notify has only a compiler
               barrier, and here the heavy side is a third thread (a late
               sleeper), so on weakly ordered CPUs a hand-over could be
               missed.  Once per idle-to-busy transition. */
            atomic_thread_fence(memory_order_seq_cst);
            twill__event_notify(w->work_ev);
        }
    }
    return got;
}

/* Idle: spin, park, and after every wake-up spin again (a woken worker is
   a spinner, which keeps the hand-over chain going).  Returns false with
   work in *f, or true when the worker must exit. */
static bool go_idle(twill__worker *w, found *f)
{
    twill_pool *pool = w->pool;
    for (;;) {
        if (spin(w, f))
            return false;
        if (w->work_ev == NULL) {
            /* acquire: pairs with the release store in central idle. */
            if (atomic_load_explicit(&pool->stopped, memory_order_acquire))
                return true;
            twill__central_idle(w);
        } else if (park(w)) {
            return true;
        }
    }
}

void *twill__worker_main(void *arg)
{
    twill__worker *w = arg;
    twill__self = w;
    set_thread_name(w);
    if (twill__topo_bind(w->pool->topo, w->id) != 0)
        TWILL__COUNT(w, bind_failures, 1);
    found f;
    for (;;) {
        if (find_work(w, -1, false, &f)) {
            run_found(w, &f);
            continue;
        }
        if (go_idle(w, &f))
            break;
        run_found(w, &f);
    }
    twill__self = NULL;
    return NULL;
}

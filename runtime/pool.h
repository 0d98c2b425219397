/*
 * pool.h — the pool and worker structures shared by the runtime's files, and
 * the internal entry points between them.
 *
 * Pool lifecycle (state):
 *   RUNNING  -> DRAINING or CANCELLING   (first shutdown call)
 *   then the shutdown caller closes the outside queue (no submit can land
 *   after that), sets `closing`, and wakes every worker; the worker that finds every queue
 *   empty while every other worker is idle sets `stopped`; workers exit.
 */
#ifndef TWILL_POOL_H
#define TWILL_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "deque.h"
#include "injector.h"
#include "park.h"
#include "task.h"
#include "topology.h"
#include "twill.h"

/* Pool states, in the order they happen. */
enum {
    TWILL__RUNNING = 0,    /* accepting work from everywhere */
    TWILL__DRAINING = 1,   /* outside submits refused; everything accepted runs */
    TWILL__CANCELLING = 2  /* every submit refused; queued tasks are discarded */
};

/* Per-worker counters: written by their worker only (relaxed load+store, no
   read-modify-write), read by twill_pool_stats from any thread. */
typedef struct twill__counters {
    _Atomic uint64_t tasks_run, tasks_failed, tasks_discarded;
    _Atomic uint64_t spawns, steals, steal_attempts, injected;
    _Atomic uint64_t parks, wakes, bind_failures;
} twill__counters;

/* Owner-only increment of a counter readable by other threads. */
#define TWILL__COUNT(w, field, n)                                                   \
    atomic_store_explicit(&(w)->stats.field,                                        \
                          atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + (n), \
                          memory_order_relaxed)

/* Private stack: the newest tasks of a worker, invisible to thieves, so
   that pushing and popping them needs no fence (see worker.c).  Power of
   two; when full, the older half is published. */
#define TWILL__PRIVATE_CAP 64

typedef struct twill__worker {
    twill__deque dq;           /* public tasks: owner push/take; others steal */
    /* Written by thieves that found dq empty (set if clear), cleared by the
       owner when it publishes; read by the owner on every push. */
    alignas(TWILL_CACHE_LINE) _Atomic bool split_req;
    /* Written by the owner only. */
    alignas(TWILL_CACHE_LINE) struct twill_pool *pool;
    uint32_t priv_lo, priv_hi; /* private tasks are priv[lo..hi), newest at hi-1 */
    twill__event *work_ev;     /* the pool's work event; NULL: central scheduler */
    unsigned id;
    unsigned since_inject;     /* tasks run since the injector was last polled */
    unsigned waits;            /* nested helping waits (join, group) on this stack */
    uint64_t rng;              /* victim randomisation */
    twill__task *free_list;    /* spare task records */
    uint16_t *victims;         /* nearest first; nworkers - 1 entries */
    pthread_t thread;
    twill__counters stats;
    twill__task *priv[TWILL__PRIVATE_CAP];
} twill__worker;

typedef struct twill__central twill__central;

struct twill_pool {
    /* Read-only after create. */
    unsigned nworkers;
    twill_sched sched;
    twill_pin pin;
    void (*discard)(twill_fn fn, void *arg, void *ctx);
    void *discard_ctx;
    char name[16];
    twill__topo *topo;
    twill__worker *workers;
    twill__central *central;   /* TWILL_SCHED_CENTRAL only */
    twill__injector inj;       /* TWILL_SCHED_STEALING only */

    /* Idle workers sleep here; any producer of work notifies. */
    twill__event work_ev;
    /* Outside submitters blocked on a full queue sleep here; consumers
       notify after freeing a slot, shutdown notifies all. */
    twill__event space_ev;

    /* Written by the first shutdown (release), read by everyone (acquire). */
    alignas(TWILL_CACHE_LINE) _Atomic int state;
    /* Set by shutdown once no outside submit can still land. */
    _Atomic bool closing;
    /* Set by the worker that detects termination; workers then exit. */
    _Atomic bool stopped;
    /* Tasks discarded because of shutdown (for *discarded). */
    _Atomic uint64_t shutdown_discards;
    /* Discards on threads that are not workers (spawn into a cancelled group
       from outside); added to the stats of "all workers". */
    _Atomic uint64_t outside_discards;
    /* Serialises shutdown callers; protects `joined`. */
    pthread_mutex_t shutdown_lock;
    bool joined;
    unsigned started;          /* workers whose thread was created */
};

/* The calling thread's worker, or NULL outside any pool (the only hidden
   global state of the library). */
extern _Thread_local twill__worker *twill__self;

/* Owner only: account for one executed task. */
static inline void twill__count_result(twill__worker *w, int rc)
{
    TWILL__COUNT(w, tasks_run, 1);
    if (rc != 0)
        TWILL__COUNT(w, tasks_failed, 1);
}

void twill__push_slow(twill__worker *w, twill__task *t);
void twill__publish(twill__worker *w);

/* Owner only.  Push t where thieves can take it at once (a deque push, and
   a sleeper is woken if any): submits and spawns from a worker, which may
   block on something their child does. */
static inline void twill__push(twill__worker *w, twill__task *t)
{
    TWILL__COUNT(w, spawns, 1);
    if (twill_likely(w->work_ev != NULL && twill__deque_push(&w->dq, t) == 0)) {
        twill__event_notify(w->work_ev);
        return;
    }
    twill__push_slow(w, t);
}

/* Owner only.  Push the b half of a join: onto the private stack (a store
   and an index, no fence), published to the deque when the deque is empty,
   when a thief asks, when a worker sleeps, or when the stack is full
   (twill__publish).  Only join halves are private: the joiner runs b
   itself after a at the latest, which is all twill_join promises, so
   keeping b out of reach for a while can cost parallelism but never
   progress. */
static inline void twill__push_private(twill__worker *w, twill__task *t)
{
    if (twill_unlikely(w->work_ev == NULL)) {
        twill__push(w, t);
        return;
    }
    TWILL__COUNT(w, spawns, 1);
    if (twill_unlikely(w->priv_hi - w->priv_lo == TWILL__PRIVATE_CAP)) {
        twill__publish(w);
        if (twill_unlikely(w->priv_hi - w->priv_lo == TWILL__PRIVATE_CAP)) {
            twill__push_slow(w, t); /* the deque could not grow: run b now */
            return;
        }
    }
    w->priv[w->priv_hi & (TWILL__PRIVATE_CAP - 1)] = t;
    w->priv_hi++;
    /* Publish when our deque is empty (so a long `a` can never hide every
       b: our oldest pending task is within thieves' reach), or when somebody
       wants work (a thief that takes our last public task asks for more,
       which covers a deque emptied after this check).  relaxed loads: hints;
       publication itself is ordered properly (a deque push, then the event
       protocol), and a request missed here is seen at the next push. */
    if (twill_unlikely(twill__deque_size_estimate(&w->dq) == 0 ||
                       atomic_load_explicit(&w->split_req, memory_order_relaxed) ||
                       atomic_load_explicit(&w->work_ev->waiters, memory_order_relaxed) != 0))
        twill__publish(w);
}

/* Owner only, stealing scheduler.  Pop the newest task of this worker:
   private first (no fence), then the deque; NULL when both are empty. */
static inline twill__task *twill__pop(twill__worker *w)
{
    if (twill_likely(w->priv_hi != w->priv_lo)) {
        w->priv_hi--;
        return w->priv[w->priv_hi & (TWILL__PRIVATE_CAP - 1)];
    }
    return twill__deque_take(&w->dq);
}

/* Owner only.  Has this worker no task of its own queued? */
static inline bool twill__own_empty(twill__worker *w)
{
    return w->priv_hi == w->priv_lo && twill__deque_size_estimate(&w->dq) == 0;
}

/* Nested helping waits beyond which a waiter runs only work that its own
   wait depends on: its own deque's tasks (all pushed by frames on its
   stack), or on the central queue the tasks of the group it waits for
   (found by a scan, so a restricted waiter naps instead of spinning).
   Helping with arbitrary tasks nests their waits on our stack without
   bound (2-worker nqueens on the central queue overflowed 8 MiB). */
#define TWILL__HELP_DEPTH 32
/* Restricted waiters also take outside jobs, up to this many nested waits;
   beyond it only their own tasks (a few hundred bytes of stack a level). */
#define TWILL__HELP_DEPTH_MAX 256

static inline bool twill__help_restricted(const twill__worker *w)
{
    return w->waits > TWILL__HELP_DEPTH;
}

/* Inside worker of `pool`? */
static inline twill__worker *twill__self_in(const twill_pool *pool)
{
    twill__worker *w = twill__self;
    return w != NULL && w->pool == pool ? w : NULL;
}

/* worker.c */
void *twill__worker_main(void *arg);
twill__task *twill__task_alloc(twill__worker *w);
void twill__task_free(twill__worker *w, twill__task *t);
int twill__push_job(twill__worker *w, const twill__job *job);
void twill__run_job(twill__worker *w, const twill__job *job);
void twill__run_record(twill__worker *w, twill__task *t);
void twill__discard_job(twill_pool *pool, twill__worker *w, const twill__job *job);
bool twill__help_once(twill__worker *w, int prefer_victim, const void *group);

/* pool.c */
size_t twill__pool_queued(twill_pool *pool);
int twill__submit_job(twill_pool *pool, const twill__job *job, int64_t timeout_ns);
int twill__accepts_inside(const twill_pool *pool);

/* central.c: the classic pool (one FIFO under one mutex). */
int twill__central_create(twill_pool *pool, size_t capacity);
void twill__central_destroy(twill_pool *pool);
int twill__central_push_external(twill_pool *pool, const twill__job *job, int64_t timeout_ns);
void twill__central_push(twill_pool *pool, twill__task *t);
bool twill__central_remove(twill_pool *pool, twill__task *t);
twill__task *twill__central_pop(twill_pool *pool, bool newest, bool *external);
twill__task *twill__central_pop_group(twill_pool *pool, const void *group, bool *external);
void twill__central_idle(twill__worker *w);
void twill__central_wake_all(twill_pool *pool);
bool twill__central_has_demand(twill_pool *pool);
size_t twill__central_external(twill_pool *pool);

/* group.c */
void twill__group_run(twill__worker *w, const twill__job *job);
void twill__group_discarded(void *ctl);

#endif /* TWILL_POOL_H */

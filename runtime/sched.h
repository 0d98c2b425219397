/*
 * sched.h — the one internal scheduler interface, and the pool and worker
 * as every runtime file sees them.
 *
 * Layering: each file calls only files below it; nothing below points back
 * up.  Only sched.h, sched_steal.* and sched_central.c know which policy
 * runs (and pool.c, which reads the policy's name from the config).
 *
 *   pool.c                 create, shutdown, stats, config, submit, twill_run
 *   group.c join.c loops.c the fork-join helpers
 *   worker.c               a worker thread's loop: find, run, idle
 *   wait.c                 the one helping wait (join, group, twill_run)
 *   job.c                  what running, finishing, discarding a job means
 *   sched.h                this interface; inline dispatch to the fast paths
 *   sched_steal.[ch]       work stealing: private stack, deque, injector,
 *                          stealing, spinning, parking, termination
 *   sched_central.c        the classic pool: one FIFO, a mutex, sleeper words
 *   deque injector park topology   the stealing scheduler's parts
 *   trace                  the timeline trace's rings and JSON writer
 *   completion.h task.h os.h common.h   leaves: words, records, OS calls
 *
 * A policy is a twill__sched_ops table (cold paths, called through it) plus,
 * for work stealing, inline fast paths (push, join push and take back),
 * which sched.h calls directly: no indirect call on the fork-join path.  A
 * third policy is one new file and one line in twill__sched_policy().
 *
 * The one exception to the layering: twill_join's fast path is inline in
 * the public header (include/twill.h, "private: the inline join"), so it
 * runs in the caller's code, below everything here.  It touches only
 * struct twill__fast, the worker's first member (pos, slot: the private
 * stack of sched_steal.h; limit and split: the words that send a join to
 * join.c's cold paths), through the thread-local twill__self_v2; nothing
 * else of the runtime is visible there.  Every policy keeps those words so
 * that the fast path is right for it: the stealing one as sched_steal.h
 * says (a traced worker with split kept at UINT64_MAX: its joins take the
 * cold path, which times b), the others with limit 0, split UINT64_MAX
 * and a top of 1 (every join cold: TWILL__POS_COLD).
 *
 * Pool lifecycle (state):
 *   RUNNING  -> DRAINING or CANCELLING   (first shutdown call)
 *   then the shutdown caller closes the outside queue (no submit can land
 *   after that), sets `closing`, and wakes every worker; the worker that
 *   finds every queue empty while every other worker is idle sets `stopped`
 *   (twill__sched_may_stop); workers exit.
 */
#ifndef TWILL_SCHED_H
#define TWILL_SCHED_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "completion.h"
#include "deque.h"
#include "park.h"
#include "prioq.h"
#include "task.h"
#include "topology.h"
#include "trace.h"
#include "twill.h"

/* Whom the wake-up for job prefers (park.h), submitted from outside the
   pool's workers or by one of them.  twill_run's submitter blocks right
   after (it waits for the code), so it may hand over its own CPU; every
   other one goes on. */
static inline twill__wake_pref twill__job_wake_pref(const twill__job *job, bool outside)
{
    if (job->kind == TWILL__JOB_RUN)
        return TWILL__WAKE_HERE;
    return outside ? TWILL__WAKE_OUTSIDE : TWILL__WAKE_ELSEWHERE;
}

/* Pool states, in the order they happen. */
enum {
    TWILL__RUNNING = 0,    /* accepting work from everywhere */
    TWILL__DRAINING = 1,   /* outside submits refused; everything accepted runs */
    TWILL__CANCELLING = 2  /* every submit refused; queued tasks are discarded */
};

/* Per-worker counters: written by their worker only (relaxed load+store, no
   read-modify-write), read by twill_pool_stats from any thread.  A join
   half that its joiner runs inline is one spawn and one task run; the
   fast path counts it in the low bits of fast.pos, flushed in batches of
   TWILL__POS_SLOT (1024) and at the end of every task
   (twill__count_result) into joins_inline, and stats add that to both,
   as they add fast.gruns (twill.h: private group tasks that the inline
   group wait ran). */
typedef struct twill__counters {
    _Atomic uint64_t tasks_run, tasks_failed, tasks_discarded;
    _Atomic uint64_t spawns, steals, steal_attempts, injected;
    _Atomic uint64_t parks, wakes, bind_failures;
    _Atomic uint64_t joins_inline;
} twill__counters;

/* Owner-only increment of a counter readable by other threads. */
#define TWILL__COUNT(w, field, n)                                                   \
    atomic_store_explicit(&(w)->stats.field,                                        \
                          atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + (n), \
                          memory_order_relaxed)

/* The private stack's capacity (TWILL__PRIVATE_CAP) is twill.h's; when
   full, the older half is published (sched_steal.h).  fast.pos counts
   inline halves below twill.h's TWILL__POS_SLOT, and keeps the stack's
   top above them. */
#define TWILL__POS_TOP(pos) ((pos) / TWILL__POS_SLOT)
#define TWILL__POS_COUNT(pos) ((pos) & (TWILL__POS_SLOT - 1))
/* split's value while a HIGH task waits, and always on other policies. */
#define TWILL__SPLIT_TRIP UINT64_MAX

/* The stealing scheduler's part of a worker; all zero under other
   policies (work_ev NULL says so). */
typedef struct twill__steal_worker {
    twill__deque dq;           /* public tasks: owner push/take; others steal */
    /* Set by thieves that found dq empty (with their trip of fast.limit),
       cleared by the owner when it publishes; read by twill__steal_demand. */
    alignas(TWILL_CACHE_LINE) _Atomic bool split_req;
    /* Written by the owner only. */
    alignas(TWILL_CACHE_LINE) uint64_t lo; /* private tasks: slots lo..top of fast.pos */
    twill__event *work_ev;     /* the pool's work event; NULL: another policy */
    uint64_t rng;              /* victim order: a fresh start each steal pass */
    uint16_t *victims;         /* nearest first; size - 1 entries (room for the most) */
    uint16_t *level_end;       /* victims[level_end[k-1] .. level_end[k]) share a level */
    unsigned nlevels;
    uint32_t victims_gen;      /* the pool's size_gen the victim order was built for */
    /* Private tasks that neither fit the private stack nor the deque (out
       of memory growing it): newest first, linked through `next`; older
       than every private task, newer than every deque task, and never
       seen by thieves.  Almost always NULL. */
    twill__task *spilled;
} twill__steal_worker;

typedef struct twill__worker {
    /* What the inline join touches (twill.h); first, so that twill__self_v2
       points at the worker itself. */
    struct twill__fast fast;
    twill__steal_worker s;
    /* Written by the owner only (counters: read by stats too). */
    struct twill_pool *pool;
    unsigned id;
    /* Nested helping waits on this stack (wait.c), and the isolation tag
       of what runs on it now, 0 for none (see "Isolation" below), in one
       word for twill__help_plain's one test. */
    union {
        struct {
            uint32_t waits, iso;
        };
        uint64_t waits_iso;
    };
    /* The private-stack slot index (as s.lo) from which private records
       carry iso implicitly ("Isolation"). */
    uint64_t iso_seal;
    bool polling;              /* running an outside job taken by a poll (job.c) */
    bool in_high;              /* running a HIGH task taken at a join or wait (job.c) */
    unsigned polls;            /* polls made (job.c: every TWILL__LOW_EVERY-th takes LOW) */
    /* The b halves of the joins in progress on this stack that left its
       private reach (published, spilled, or pushed on another policy),
       newest first, linked through job.ctl: a join whose b is not private
       after a finds its own record on top (join.c), since every newer join
       has returned. */
    twill__task *pub;
    twill__free_list free;     /* spare task records */
    twill__trace_ring *trace;  /* its trace ring, NULL when the pool does not trace */
    twill__counters stats;
    pthread_t thread;
    bool has_thread;           /* thread created and not yet joined (under shutdown_lock) */
    /* The broadcast mailbox: the job of this worker's share of the one
       twill_broadcast in flight (they are serialised), or NULL.  Written
       by the broadcaster (store, NULL to job) and by the owner (exchange,
       job to NULL, twill__mailbox_take); on its own line. */
    alignas(TWILL_CACHE_LINE) _Atomic(const twill__job *) mailbox;
} twill__worker;

typedef struct twill__sched_ops twill__sched_ops;

struct twill_pool {
    /* Read-only after create. */
    const twill__sched_ops *ops;
    void *sched;               /* the policy's own state */
    void (*discard)(twill_fn fn, void *arg, void *ctx);
    void *discard_ctx;
    twill_idle idle;           /* what an idle worker does (twill__sched_spin) */
    void (*on_worker_start)(unsigned worker, void *ctx); /* twill_config's hooks */
    void (*on_worker_stop)(unsigned worker, void *ctx);
    void *hook_ctx;
    char name[16];
    unsigned fork_gen;         /* twill__fork_gen when created (pool.c) */
    twill__topo *topo;
    /* TWILL_MAX_WORKERS slots, zeroed lazily (calloc); slot i is set up
       when worker i first starts (elastic.c) and kept, with its counters
       and its (empty) deque, after that worker exits. */
    twill__worker *workers;
    twill__trace *trace;       /* NULL: no trace_path (trace.h) */
    void *workers_mem;         /* what calloc returned (workers is aligned) */
    int64_t idle_timeout_ns;   /* an elastic extra worker exits after this long idle */

    /* The size.  Workers 0..size-1 run; changed under shutdown_lock only
       (elastic.c), by one RMW or store, read by anyone (acquire, pairs
       with the release that follows a new slot's set-up).  Futex word:
       a shrinking resize sleeps on it. */
    alignas(TWILL_CACHE_LINE) _Atomic uint32_t size;
    /* Bumped (release) after every change of size: workers rebuild their
       victim order when it moved (sched_steal.c). */
    _Atomic uint32_t size_gen;
    /* Slots set up so far (the high-water mark of size); under
       shutdown_lock, read by stats and the parking re-check (acquire). */
    _Atomic uint32_t slots;
    /* Workers with id >= leave_from leave at their next top-level step
       (a shrinking twill_pool_resize); UINT32_MAX otherwise.  Read by
       every worker between tasks (relaxed: a request; the worker that
       leaves synchronises through size). */
    _Atomic uint32_t leave_from;
    /* base: the size twill_pool_resize or create set; max_workers: how far
       outside demand may grow it (== base: fixed).  Written under
       shutdown_lock, read by submitters (relaxed: hints for growing,
       re-checked under the lock). */
    _Atomic uint32_t base, max_workers;
    /* Workers started and not yet looking for work: counted as idle by
       elastic growth, so one backlog starts one worker, not one per
       submit while it boots.  RMW by elastic.c (+1) and the worker (-1),
       read by submitters (relaxed: a hint). */
    _Atomic uint32_t starting;
    /* twill_pool_resize calls so far (under shutdown_lock; read by a
       shrinking resize while it waits, relaxed: did a later one take over?). */
    _Atomic uint32_t resizes;

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
    /* The last isolation tag handed out (twill_group_init_isolated). */
    _Atomic uint32_t iso_last;
    /* The HIGH and LOW levels' queues, the same for every policy (NORMAL
       work is the policy's own): HIGH is taken before anything else, at
       every find and before a join's inline half, LOW only when a find
       found nothing else (twill__sched_find) and by the poll's
       anti-starvation rule (job.c).  prio_ready: both initialised. */
    twill__prioq high, low;
    bool prio_ready;
    /* Outside threads inside a submit call; destroy waits for 0. */
    alignas(TWILL_CACHE_LINE) _Atomic unsigned submitters;
    /* Serialises shutdown callers, and broadcasts' posts with each other
       and with shutdown (broadcast.c); protects `joined`. */
    pthread_mutex_t shutdown_lock;
    bool joined;
};

/* The number of workers now (twill_pool_size).  acquire: see size. */
static inline unsigned twill__pool_nworkers(const twill_pool *pool)
{
    return atomic_load_explicit(&((twill_pool *)pool)->size, memory_order_acquire);
}

/* What ops->idle returns. */
enum { TWILL__IDLE_WORK, TWILL__IDLE_STOP, TWILL__IDLE_LEAVE };

/* Worker w: is it asked to leave (a shrinking resize)?  relaxed: see
   leave_from. */
static inline bool twill__sched_must_leave(const twill__worker *w)
{
    return twill_unlikely(
        w->id >= atomic_load_explicit(&w->pool->leave_from, memory_order_relaxed));
}

/* Worker w: asked to leave, and its turn: the highest id (workers leave
   from the top, so ids stay 0..size-1), while the pool runs (a shutdown
   makes every worker stay until termination).  relaxed: hints; the
   leaving itself re-checks under shutdown_lock (worker.c). */
static inline bool twill__sched_leave_now(const twill__worker *w)
{
    twill_pool *pool = w->pool;
    return twill__sched_must_leave(w) &&
           w->id + 1 == atomic_load_explicit(&pool->size, memory_order_relaxed) &&
           atomic_load_explicit(&pool->state, memory_order_relaxed) == TWILL__RUNNING;
}

/* What a worker looks for (twill__want.mode). */
typedef enum {
    TWILL__FIND_LOOP, /* the worker loop: anything, oldest outside work first */
    TWILL__FIND_HELP, /* a helping wait: anything, its own newest work first */
    TWILL__FIND_OWN   /* a deeply nested wait: only what it may depend on */
} twill__find_mode;

typedef struct twill__want {
    twill__find_mode mode;
    int victim;        /* HELP: a worker to try first (a joiner's thief), or -1 */
    const void *ctl;   /* OWN: the group waited for (central), or NULL */
} twill__want;

/* What a worker found: a record (a deque, the central FIFO) or a job by
   value (the injector). */
typedef struct twill__found {
    twill__task *rec;
    twill__job job;
} twill__found;

struct twill__sched_ops {
    const char *name; /* as $TWILL_SCHED spells it (the trace's metadata) */
    /* Pool creator, after pool->workers exists: the policy's state.
       capacity is the outside bound, a power of two.  0 or ENOMEM; on
       failure destroy still runs. */
    int (*create)(twill_pool *pool, size_t capacity);
    /* Once every worker has exited (or never started).  Safe after a
       partial create. */
    void (*destroy)(twill_pool *pool);
    /* Outside thread: take job, waiting for space as timeout_ns says
       (twill_submit_for).  0, EAGAIN, ETIMEDOUT, ESHUTDOWN, ENOMEM. */
    int (*submit)(twill_pool *pool, const twill__job *job, int64_t timeout_ns);
    /* Worker w, other policies than stealing: push t (a spawn, a join
       half, already shared).  Cannot fail. */
    void (*push)(twill__worker *w, twill__task *t);
    /* Worker w, other policies: take the join record t back if nobody
       started it (t), else NULL. */
    twill__task *(*unpush)(twill__worker *w, twill__task *t);
    /* Worker w, other policies: one attempt to find work. */
    bool (*find)(twill__worker *w, const twill__want *want, twill__found *f);
    /* Worker w: the oldest outside job, or false (job.c polls this every
       TWILL__POLL_EVERY tasks run). */
    bool (*take_outside)(twill__worker *w, twill__job *job);
    /* Worker w found nothing: spin, then sleep until work may exist, for
       at most timeout_ns when >= 0 (an elastic extra worker's idle
       timeout).  TWILL__IDLE_WORK with work in *f; TWILL__IDLE_STOP when
       the pool has terminated; TWILL__IDLE_LEAVE when the timeout passed
       without work or w is asked to leave (twill__sched_must_leave). */
    int (*idle)(twill__worker *w, twill__found *f, int64_t timeout_ns);
    /* Pool creator or elastic.c (shutdown_lock held), before worker i's
       first thread starts: set up its slot.  0 or ENOMEM. */
    int (*add_worker)(twill_pool *pool, unsigned i);
    /* Worker w, leaving the pool between tasks: hand every task it still
       holds to the others (nothing lost, nothing run twice). */
    void (*hand_over)(twill__worker *w);
    /* Any thread: do outside jobs wait while no worker is idle (so an
       elastic pool should grow)?  A hint. */
    bool (*starved)(twill_pool *pool);
    /* Shutdown, after state moved: refuse outside submits from now on and
       wake the submitters blocked on a full queue. */
    void (*close)(twill_pool *pool);
    /* Any thread: wake every worker, so each re-checks its queues and its
       mailbox: shutdown or failed create (after closing/stopped), and
       twill_broadcast (after filling the mailboxes). */
    void (*wake_all)(twill_pool *pool);
    /* Worker w, other policies: is some worker out of work (so splitting
       a loop pays)? */
    bool (*demand)(twill__worker *w);
    /* Any thread: outside jobs waiting to start, at some recent moment. */
    size_t (*queued)(twill_pool *pool);
    /* Any thread, after a record entered pool->high or pool->low: wake an
       idle worker if one sleeps, as pref prefers (park.h; no lost
       wake-up: the idle paths re-check both queues after announcing
       themselves). */
    void (*wake_one)(twill_pool *pool, twill__wake_pref pref);
};

extern const twill__sched_ops twill__sched_steal;
extern const twill__sched_ops twill__sched_central;

/* The one place that maps a config's policy to its implementation. */
static inline const twill__sched_ops *twill__sched_policy(twill_sched s)
{
    return s == TWILL_SCHED_CENTRAL ? &twill__sched_central : &twill__sched_steal;
}

/* The calling thread's worker (twill.h's thread-local twill__self_v2, or
   &twill__outside on other threads) and the count of fork()s this process
   has lived through: the only hidden global state of the library
   (worker.c).  twill__outside is never written: its limit 0 and split
   TWILL__SPLIT_TRIP send every join of a thread that is no worker to the
   cold paths, which run a then b. */
extern struct twill__fast twill__outside;
extern _Atomic unsigned twill__fork_gen;

_Static_assert(offsetof(twill__worker, fast) == 0, "twill__self_v2 points at the worker");

/* The calling thread's worker, or NULL outside any pool. */
static inline twill__worker *twill__self(void)
{
    struct twill__fast *f = TWILL__ABI(self);
    return f != &twill__outside ? (twill__worker *)f : NULL;
}

/* Is pool usable by this process?  A pool inherited through fork() has no
   workers (threads do not survive fork): every call on it is EOWNERDEAD.
   relaxed: the generation changes only in a child's atfork handler, while
   the child has one thread. */
static inline int twill__pool_usable(const twill_pool *pool)
{
    return twill_likely(pool->fork_gen ==
                        atomic_load_explicit(&twill__fork_gen, memory_order_relaxed))
               ? 0
               : EOWNERDEAD;
}

/* Can a worker of pool submit or spawn now?  0 or ESHUTDOWN.  acquire:
   pairs with shutdown's store of state. */
static inline int twill__accepts_inside(const twill_pool *pool)
{
    return atomic_load_explicit(&pool->state, memory_order_acquire) == TWILL__CANCELLING
               ? ESHUTDOWN
               : 0;
}

/* Inside a worker of `pool`? */
static inline twill__worker *twill__self_in(const twill_pool *pool)
{
    twill__worker *w = twill__self();
    return w != NULL && w->pool == pool ? w : NULL;
}

/* Owner only: account for one executed task, and flush the count of
   inline join halves kept in fast.pos, so that every join a task made is
   in the stats before its completion is published. */
static inline void twill__count_result(twill__worker *w, int rc)
{
    TWILL__COUNT(w, tasks_run, 1);
    if (rc != 0)
        TWILL__COUNT(w, tasks_failed, 1);
    uint64_t halves = TWILL__POS_COUNT(w->fast.pos);
    if (halves != 0) {
        TWILL__COUNT(w, joins_inline, halves);
        w->fast.pos -= halves;
    }
}

/* Nested helping waits beyond which a waiter runs only work that its own
   wait may depend on (TWILL__FIND_OWN): its own queue's tasks (all pushed
   by frames on its stack), outside jobs, or on the central queue the tasks
   of the group it waits for.  Helping with arbitrary tasks nests their
   waits on our stack without bound (2-worker nqueens on the central queue
   overflowed 8 MiB). */
#define TWILL__HELP_DEPTH 32
/* Restricted waiters also take outside jobs, up to this many nested waits;
   beyond it only their own tasks (a few hundred bytes of stack a level). */
#define TWILL__HELP_DEPTH_MAX 256

/* Owner only: may w's helping wait look for anything (no isolation, at
   most TWILL__HELP_DEPTH nested waits)?  One compare where the word is
   little-endian. */
static inline bool twill__help_plain(const twill__worker *w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return w->waits_iso <= TWILL__HELP_DEPTH;
#else
    return w->waits <= TWILL__HELP_DEPTH && w->iso == 0;
#endif
}

/* Rounds of looking for work before an idle worker sleeps under
   TWILL_IDLE_DEFAULT: one round is a pass over all queues (~50 ns a victim
   here) after a pause (the first 16) or a burst of TWILL__PAUSE_BURST
   pauses (the other 48, ~1.3 us each here) or, on pinned workers, a
   sched_yield (~1.5 us here), so 64 rounds stay well under 100 us and an
   idle pool parks quickly.
   Pinned workers yield: one cannot move off a CPU that the producer
   shares with it, so it must give the CPU back (without yields, one
   outside producer made 2.9 M/s at 2 pinned workers instead of 13.7).
   Unpinned workers pause: the kernel moves threads between CPUs itself,
   and (EEVDF, Linux 6.6 on) it pushes a yielding thread's deadline back,
   which the thread carries into its sleep, so when a producer that keeps
   running wakes it onto the producer's CPU it no longer preempts the
   producer and waits out its slice: 1.87 ms from submit to start instead
   of 4.2 us, measured with TWILL_PIN=none (bench_futexwake, no runtime,
   shows the same: 20 us of sched_yield before a futex sleep, 1.84 ms; 20
   us of pauses, 5.4 us).  Pinned workers yield all the same: with the
   short slice they ask for (park.c, "Short slices") a yield pushes the
   deadline back by at most 0.1 ms, and a worker woken onto a busy
   producer's CPU still preempts it (6.8 us from submit to start).  The
   other side of it: a yield then cedes the CPU to a thread with the
   default slice only once the deadline has passed that thread's, so such
   a thread woken onto a spinner's CPU can wait for the spin (README
   "Wake-ups").  Where the kernel gives no short slice, outside producers
   wake a worker on another CPU, which needs no preempting. */
#define TWILL__SPIN_ROUNDS 64
#define TWILL__PAUSE_BURST 64

/* Termination, the same rule for every policy: closed to outside work,
   nothing queued anywhere (the caller's re-check), and every worker idle
   (idle counts them, the caller included), so no running task can create
   more.  Then `stopped` is set and true returned.  release: pairs with the
   acquire loads of stopped in the idle paths. */
static inline bool twill__sched_may_stop(twill_pool *pool, bool closing, unsigned idle)
{
    if (!closing || idle != twill__pool_nworkers(pool))
        return false;
    atomic_store_explicit(&pool->stopped, true, memory_order_release);
    return true;
}

/* Owner only: join record t leaves the private reach of w (see pub): the
   oldest private record, at slot s.lo (stealing), or one pushed on another
   policy.  Its kind is written here, and its isolation tag where it was
   implicit (at or above the seal, or no isolation: "Isolation" below). */
static inline void twill__join_leaves_private(twill__worker *w, twill__task *t)
{
    t->job.kind = TWILL__JOB_JOIN;
    if (w->iso == 0 || w->s.lo >= w->iso_seal)
        t->job.iso = w->iso;
    t->job.ctl = w->pub;
    w->pub = t;
}

#include "sched_steal.h"

/* ---- dispatch: stealing inline and direct, other policies by table ---- */

static inline bool twill__stealing(const twill__worker *w)
{
    return w->s.work_ev != NULL;
}

/* Owner only.  Push t where other workers can take it at once: submits
   and spawns from a worker, which may block on something their child
   does.  0, or ENOMEM (nothing taken). */
static inline int twill__sched_push(twill__worker *w, twill__task *t)
{
    TWILL__COUNT(w, spawns, 1);
    if (twill_likely(twill__stealing(w)))
        return twill__steal_push(w, t);
    twill__task_share(t);
    w->pool->ops->push(w, t);
    return 0;
}

/* Owner only, on the cold path of a join (the inline one in twill.h
   pushes itself when it may).  Push the b half t of a join (never fails;
   the record's kind is set here, the inline path writes only fn and arg).
   Counted as a spawn by the joiner once it knows how b ran (join.c). */
static inline void twill__sched_join_push(twill__worker *w, twill__task *t)
{
    if (twill_likely(twill__stealing(w))) {
        twill__steal_push_private(w, t);
        return;
    }
    twill__join_leaves_private(w, t);
    twill__task_share(t);
    w->pool->ops->push(w, t);
}

/* Owner only, after a, on the cold path: t itself if nobody started it
   (run it inline), NULL if it was taken (wait for it), or another record
   pushed above it by a (stealing only: run it, then ask again).  Under
   isolation the stealing pop is twill__steal_pop_iso, which takes only
   records of w's tag ("Isolation"). */
static inline twill__task *twill__sched_unpush(twill__worker *w, twill__task *t)
{
    if (twill_likely(twill__stealing(w)))
        return twill_likely(w->iso == 0) ? twill__steal_pop(w) : twill__steal_pop_iso(w);
    return w->pool->ops->unpush(w, t);
}

/* May a group that worker w initialises take w's spawns into its private
   group stack (twill__group_ctl.owner)?  On the stealing policy, unless
   the pool traces (a traced worker's tasks are all timed through job.c). */
static inline bool twill__sched_private_spawns(const twill__worker *w)
{
    return twill__stealing(w) && w->trace == NULL;
}

/* Worker w, between tasks: does it hold no private group task (which a
   task may leave behind, spawned into a group it did not wait for)?  It
   leaves the pool only then; its next find runs them. */
static inline bool twill__sched_holds_none(const twill__worker *w)
{
    return !twill__stealing(w) || twill__steal_gempty(w);
}

/* The calling thread is about to block in a call on another pool (a
   wait, a full queue, its shutdown_lock, a shutdown or shrink): if it is
   a worker of a stealing pool with private work (join halves, group
   tasks), publish it all, so that its peers run it meanwhile; it may be
   what the call waits for (a task that twill_runs on another pool a job
   that waits for a group spawned here).  Under isolation too, as an
   isolated find does (the records get their tags as they leave).
   Nothing when nothing is private (no wake-up either). */
static inline void twill__sched_before_blocking(void)
{
    twill__worker *w = twill__self();
    if (w != NULL && twill__stealing(w) &&
        (TWILL__POS_TOP(w->fast.pos) != w->s.lo || !twill__steal_gempty(w)))
        twill__steal_publish(w, true);
}

/* Does worker w take the inline join's pop (split armed)?  On the
   stealing policy, unless the pool traces or w runs under isolation: a
   traced worker's joins all take the cold path, which times b (the trace
   costs nothing when off), and so do an isolated context's, whose pop
   keeps the seal ("Isolation"). */
static inline bool twill__sched_fast_armed(const twill__worker *w)
{
    return twill__stealing(w) && w->trace == NULL && w->iso == 0;
}

/* Owner only, on a join's cold path: did anyone ask w to look since it
   last did (twill__sched_trip tripped split)?  Re-arms split where it is
   armed.  acquire (the CAS): pairs with the trip's release, so the work
   that caused it is visible to the look that follows.  A trip after the
   CAS stays for the next join.  Elsewhere split stays tripped: every join
   looks for HIGH work (one load of the queue's length, which the caller
   does) and nothing else, as a trip there asks nothing. */
static inline bool twill__sched_tripped(twill__worker *w)
{
    uint64_t *split = &w->fast.split;
    if (__atomic_load_n(split, __ATOMIC_RELAXED) != TWILL__SPLIT_TRIP)
        return false;
    if (!twill__sched_fast_armed(w))
        return true;
    uint64_t trip = TWILL__SPLIT_TRIP;
    return __atomic_compare_exchange_n(split, &trip, w->s.lo * TWILL__POS_SLOT, false,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* pos of a worker of another policy and of twill__outside: top 1, so that
   after a, pos - 1023 stays below TWILL__SPLIT_TRIP whatever the count. */
#define TWILL__POS_COLD TWILL__POS_SLOT

/* Creator or elastic.c, after ops->add_worker and before worker w's
   thread starts: the inline join's and spawn's words for w's policy (an
   empty private stack, nothing counted; the stealing policy publishes its first push,
   its deque being empty). */
static inline void twill__sched_fast_reset(twill__worker *w)
{
    TWILL_ASSERT(TWILL__POS_COUNT(w->fast.pos) == 0); /* flushed by its last task */
    w->fast.pos = twill__stealing(w) ? 0 : TWILL__POS_COLD;
    w->s.lo = 0;
    /* twill.h's inline group functions read these (group.c checks the
       types). */
    w->fast.gpool = twill__sched_private_spawns(w) ? w->pool : NULL;
    w->fast.pool_state = (const int *)(const void *)&w->pool->state;
    w->fast.high_len = (const size_t *)(const void *)&w->pool->high.length;
    /* relaxed: the thread is created after this (pthread_create orders it);
       a producer's trip is dropped, as its work is found by a find. */
    __atomic_store_n(&w->fast.limit, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&w->fast.split, twill__sched_fast_armed(w) ? 0 : TWILL__SPLIT_TRIP,
                     __ATOMIC_RELAXED);
}

/* Owner only: is a broadcast share waiting for w?  relaxed: a hint; the
   take's exchange is what synchronises. */
static inline bool twill__mailbox_full(twill__worker *w)
{
    return atomic_load_explicit(&w->mailbox, memory_order_relaxed) != NULL;
}

/* Owner only: take the broadcast share waiting for w into f (a job by
   value), or false.  acquire: pairs with the broadcaster's release store
   of the mailbox, so the job and its control block are visible. */
static inline bool twill__mailbox_take(twill__worker *w, twill__found *f)
{
    if (twill_likely(!twill__mailbox_full(w)))
        return false;
    const twill__job *job = atomic_exchange_explicit(&w->mailbox, NULL, memory_order_acquire);
    if (job == NULL)
        return false;
    f->rec = NULL;
    f->job = *job;
    return true;
}

/* Worker w: the oldest record of a HIGH or LOW queue, or NULL; one taken
   from an outside submission counts as injected, as at NORMAL. */
static inline twill__task *twill__sched_take_level(twill__worker *w, twill__prioq *q)
{
    bool outside = false;
    twill__task *t = twill__prioq_pop(q, &outside);
    if (outside)
        TWILL__COUNT(w, injected, 1);
    return t;
}

/* Worker w: one attempt to find work, by priority: a queued HIGH task
   first, then the policy's own order (own queue, outside, peers), then
   LOW.  Each level's queue costs one load when empty.  A deeply nested
   restricted wait takes HIGH and LOW only as deep as outside jobs
   (TWILL__HELP_DEPTH_MAX), which bounds its stack. */
static inline bool twill__sched_find(twill__worker *w, const twill__want *want,
                                     twill__found *f)
{
    twill_pool *pool = w->pool;
    if (twill__mailbox_take(w, f)) /* a broadcast share first, wherever work is looked for */
        return true;
    bool shallow = want->mode != TWILL__FIND_OWN || w->waits <= TWILL__HELP_DEPTH_MAX;
    if (twill_unlikely(twill__prioq_nonempty(&pool->high)) && shallow &&
        (f->rec = twill__sched_take_level(w, &pool->high)) != NULL)
        return true;
    bool got = twill_likely(twill__stealing(w)) ? twill__steal_find(w, want, f)
                                                : pool->ops->find(w, want, f);
    if (got)
        return true;
    return twill_unlikely(twill__prioq_nonempty(&pool->low)) && shallow &&
           (f->rec = twill__sched_take_level(w, &pool->low)) != NULL;
}

/* ---- isolation (twill_group_init_isolated) ----

   Every job carries an isolation tag (twill__job.iso): the tag of the
   isolated group it was spawned into, else the tag of the context that
   spawned it, so a tag passes to everything an isolated group's tasks
   spawn, submit or join, transitively (oneTBB's isolate works the same
   way).  Tags come from a per-pool counter and are never 0 (no tag).

   w->iso is the tag of what runs on w's stack now: 0 in the worker loop,
   a job's tag while that job runs (job.c switches only when they differ),
   an isolated group's while w waits for it (group.c).  While w->iso != 0,
   every wait on w's stack (wait.c) runs only records of that tag
   (twill__sched_find_iso): no outside job, no broadcast share, no poll
   (job.c), no other tag, not even that of an isolated group nested in
   this one (its own wait or other workers run those).  Finding none, the
   wait naps on its completion word (wait.c), whose last finisher wakes
   it; new tagged work is seen at the latest after a nap.

   Where tagged records can be, and how a tagged find reaches them:
     - w's own private stack: a find never pops it (the inline join
       finds its b through pub once it left: sched_steal.h) but moves
       every private record to the deque (or the spill list), tags
       written; then the newest record of the spill list and of the
       deque, if it carries the tag; deque records above it that do not
       are moved to the stealing policy's queue of tasks no worker holds
       (a join half is pushed back instead: its joiner is on this stack);
     - HIGH, LOW, the central FIFO, and (stealing) the queue of tasks that
       no worker holds, where outside spawns into an isolated group go
       instead of the injector: searched under their locks;
     - other workers' deques: never.  A thief could read a tag only from
       a record it has not claimed, which may be gone by then; such a
       record is run by its owner or by a thief in an untagged find.

   The join pays nothing for this outside isolation.  Records on the
   private stack from slot iso_seal up were pushed under the current
   w->iso and carry it implicitly (the inline push writes only fn and
   arg); those below it carry theirs in job.iso.  A tag is written when a
   record leaves the private stack (twill__join_leaves_private, the one
   place) and, for the records above the seal, when w->iso changes
   (twill__iso_enter, which raises the seal to the top; twill__iso_leave
   clamps the old one back into [s.lo, top]).  So a wait under isolation
   never takes a join half pushed below its context: that half carries
   its own tag.  With w->iso == 0 every private record's tag is 0 and the
   seal means nothing, so the inline pop need not maintain it; with
   w->iso != 0 split stays tripped (twill__sched_fast_armed is false, so
   twill__sched_tripped does not re-arm it until isolation ends) and
   every join takes the cold path, whose pop keeps lo <= seal <= top. */

/* What twill__iso_leave restores. */
typedef struct twill__iso_ctx {
    uint32_t iso;
    uint64_t seal;
} twill__iso_ctx;

/* Owner only.  Run under tag (nonzero, != w->iso) until twill__iso_leave. */
static inline twill__iso_ctx twill__iso_enter(twill__worker *w, uint32_t tag)
{
    twill__iso_ctx old = {w->iso, w->iso_seal};
    TWILL_ASSERT(tag != 0 && tag != w->iso);
    if (twill__stealing(w))
        twill__steal_iso_seal(w);
    w->iso = tag;
    return old;
}

/* Owner only.  Back to the context twill__iso_enter left.  split stays
   tripped: the next join's cold path re-arms it outside isolation
   (twill__sched_tripped). */
static inline void twill__iso_leave(twill__worker *w, twill__iso_ctx old)
{
    w->iso = old.iso;
    w->iso_seal = old.seal;
    if (twill__stealing(w))
        twill__steal_iso_unseal(w);
}

/* Worker w with w->iso != 0: twill__sched_take_level for that tag only. */
static inline twill__task *twill__sched_take_level_iso(twill__worker *w, twill__prioq *q)
{
    bool outside = false;
    twill__task *t = twill__prioq_pop_tag(q, w->iso, &outside);
    if (outside)
        TWILL__COUNT(w, injected, 1);
    return t;
}

/* Worker w with w->iso != 0: twill__sched_find for an isolated wait: only
   records of w's tag, from HIGH, the policy's queues (sched_steal.c's
   twill__steal_find_iso; central's find, which filters on w->iso), then
   LOW; never the mailbox or outside jobs. */
static inline bool twill__sched_find_iso(twill__worker *w, const twill__want *want,
                                         twill__found *f)
{
    twill_pool *pool = w->pool;
    bool shallow = want->mode != TWILL__FIND_OWN || w->waits <= TWILL__HELP_DEPTH_MAX;
    if (twill__prioq_nonempty(&pool->high) && shallow &&
        (f->rec = twill__sched_take_level_iso(w, &pool->high)) != NULL)
        return true;
    if (twill__stealing(w) ? twill__steal_find_iso(w, want, f) : pool->ops->find(w, want, f))
        return true;
    return twill__prioq_nonempty(&pool->low) && shallow &&
           (f->rec = twill__sched_take_level_iso(w, &pool->low)) != NULL;
}

/* Any thread, after queueing work that busy workers should start soon (a
   HIGH record; an outside job or a broadcast share that no idle worker
   will take): tell every worker to look before its next inline join half,
   by tripping its fast.split, which sends that join to the cold path
   (twill__sched_tripped: a HIGH task first, else the poll).  release:
   pairs with the owner's acquire CAS there, so the work is visible to its
   look.  The work itself is also found through its queue (every find
   reads the queue's length, the poll comes every TWILL__POLL_EVERY tasks
   or TWILL__POS_SLOT inline halves, and the idle paths re-check under
   their own ordering).  One store per worker, only if not already tripped
   (relaxed load: when the owner re-arms split just then, work it did not
   see waits for its next find, poll or trip, as a late hint costs latency
   on a join path, never the task). */
static inline void twill__sched_trip(twill_pool *pool)
{
    for (unsigned i = 0, n = twill__pool_nworkers(pool); i < n; i++) {
        uint64_t *split = &pool->workers[i].fast.split;
        if (__atomic_load_n(split, __ATOMIC_RELAXED) != TWILL__SPLIT_TRIP)
            __atomic_store_n(split, TWILL__SPLIT_TRIP, __ATOMIC_RELEASE);
    }
}

/* Worker w: is some worker out of work (so splitting a loop pays)? */
static inline bool twill__sched_demand(twill__worker *w)
{
    if (twill_likely(twill__stealing(w)))
        return twill__steal_demand(w);
    return w->pool->ops->demand(w);
}

/* May an idle worker that nobody woke spin before it parks, while
   `spinning` others do?  Workers bound one per place never share a CPU,
   so each may spin on its own.  Where two can share one (TWILL_PIN_NONE,
   or more workers than places), at most half of the workers spin under
   DEFAULT (Go's rule): spinners on one CPU would yield it back and forth
   between them, taking it from the woken or busy worker or the outside
   producer that needs it, and one spinner picks up a burst as well as
   many.  A worker woken for work always spins (the hand-over chain).
   Parking without a spin loses nothing: the park re-checks (park.c, the
   central queue's lock). */
static inline bool twill__sched_may_spin(const twill_pool *pool, unsigned spinning)
{
    unsigned n = twill__pool_nworkers(pool);
    return pool->idle != TWILL_IDLE_DEFAULT || 2 * spinning < n ||
           n <= twill__topo_own_places(pool->topo);
}

/* Worker w, idle: look for work as the pool's idle policy says, and
   return true with work in *f, or false when the worker should park.
   Every scheduler's idle starts here, before each park and after each
   wake-up, so the policy lives in this one function:
     DEFAULT  TWILL__SPIN_ROUNDS rounds, pausing, then yielding (pinned)
              or pausing longer (unpinned) between them (a producer may
              share our core: see TWILL__SPIN_ROUNDS);
     PARK     one look and no pause: the worker parks at once (a woken
              worker still looks once, or it would park again beside the
              work it was woken for);
     SPIN     DEFAULT's rounds, then rounds without end, yielding between
              them (at once back when nobody else wants the core: this
              worker does not sleep, so the yield's cost to a later
              wake-up does not matter), on the base workers
              of an elastic pool only, until shutdown begins:
              termination is detected by parked workers (sched_may_stop),
              so from `closing` on a spinner stops after DEFAULT's rounds
              and parks, as under DEFAULT.
   Wake-ups stay exact under every policy: a parking worker still
   announces itself and re-checks (park.c, the central queue's lock), and
   a spinner is counted in `spinning` (sched_steal.c) like a DEFAULT one. */
static inline bool twill__sched_spin(twill__worker *w, twill__found *f)
{
    static const twill__want loop = {TWILL__FIND_LOOP, -1, NULL};
    twill_pool *pool = w->pool;
    if (pool->idle == TWILL_IDLE_PARK)
        return twill__sched_find(w, &loop, f);
    bool pinned = twill__topo_own_places(pool->topo) != 0;
    for (unsigned i = 0;; i++) {
        if (i < TWILL__SPIN_ROUNDS / 4) {
            twill_cpu_relax();
        } else if (pinned || i >= TWILL__SPIN_ROUNDS) {
            sched_yield();
        } else {
            for (unsigned k = 0; k < TWILL__PAUSE_BURST; k++)
                twill_cpu_relax();
        }
        if (twill__sched_find(w, &loop, f))
            return true;
        /* relaxed: closing only ends the spinning; the park that follows
           re-reads it with its own ordering (sched_steal.c's park, the
           central queue's lock).  An elastic pool's extra workers (id >=
           base) and workers asked to leave stop spinning too: they park
           with their idle timeout, or leave. */
        if (i + 1 >= TWILL__SPIN_ROUNDS &&
            (pool->idle != TWILL_IDLE_SPIN ||
             atomic_load_explicit(&pool->closing, memory_order_relaxed) ||
             w->id >= atomic_load_explicit(&pool->base, memory_order_relaxed) ||
             twill__sched_leave_now(w)))
            return false;
    }
}

#endif /* TWILL_SCHED_H */

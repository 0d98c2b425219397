/*
 * twill.h — the one public header of twill, a work-stealing task runtime for C11.
 *
 * Conventions
 *   - Every function that can fail returns 0 or a positive errno value (the
 *     pthread convention); twill_strerror() names it.  The library never
 *     prints, exits or aborts on its own.
 *   - A task is a plain function pointer with a void * argument.  It returns 0
 *     for success or a nonzero error code of the caller's choice.
 *   - "Taken or not": a call that returns 0 has taken the task, which then runs
 *     exactly once or is discarded exactly once (the discard hook is called).
 *     A call that returns nonzero has taken nothing.
 *   - Error codes: EINVAL bad argument, ENOMEM, EAGAIN full (try once),
 *     ETIMEDOUT, ECANCELED, ESHUTDOWN, EDEADLK; EBUSY keeps a name in
 *     twill_strerror but no function returns it any more.
 *
 * Usable from C++ (extern "C"; no C11 atomics appear in this header).
 */
#ifndef TWILL_H
#define TWILL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TWILL_BUILDING) && defined(__GNUC__)
#pragma GCC visibility push(default) /* the public API of libtwill.so */
#endif

/* twill_join, twill_group_init, twill_group_spawn and twill_group_wait
   are inline with gcc and clang (see "private: the inline join" below):
   C99 inline definitions (C++: inline), every declaration of them inline,
   and the library holds the one external definition of each (join.c,
   group.c).
   Under gnu89 inline semantics plain inline would emit a definition in
   every file; extern inline means inline only there. */
#if !defined(__GNUC__)
#define TWILL__INLINE
#elif defined(__cplusplus) || defined(__GNUC_STDC_INLINE__)
#define TWILL__INLINE __inline__
#else
#define TWILL__INLINE extern __inline__
#endif

#define TWILL_VERSION_MAJOR 0
#define TWILL_VERSION_MINOR 1
#define TWILL_VERSION_PATCH 0

/* At most this many workers per pool; more is EINVAL. */
#define TWILL_MAX_WORKERS 1024u
/* Injector bound used when twill_config.queue_capacity is 0. */
#define TWILL_DEFAULT_QUEUE_CAPACITY 4096u
/* How long an elastic pool's extra worker idles before it exits (1 s). */
#define TWILL_DEFAULT_IDLE_TIMEOUT_NS 1000000000
/* Largest accepted queue_capacity (2^24 slots); more is EINVAL. */
#define TWILL_MAX_QUEUE_CAPACITY (1u << 24)
/* Events a trace keeps per track when twill_config.trace_events is 0
   (2^18: 8 MiB a worker at 32 bytes an event, committed as it fills). */
#define TWILL_TRACE_EVENTS_DEFAULT (1u << 18)
/* Largest accepted trace_events (2^26); more is EINVAL. */
#define TWILL_MAX_TRACE_EVENTS (1u << 26)

typedef struct twill_pool twill_pool;
typedef int (*twill_fn)(void *arg);

typedef enum {
    TWILL_PIN_CORES,   /* one worker per physical core, bound to that core */
    TWILL_PIN_THREADS, /* one worker per hardware thread, bound to it */
    TWILL_PIN_NONE     /* one worker per physical core, not bound */
} twill_pin;

typedef enum {
    TWILL_SCHED_STEALING, /* per-worker Chase-Lev deques, stealing, injector */
    TWILL_SCHED_CENTRAL   /* one shared mutex+condvar FIFO: the classic pool */
} twill_sched;

/* What a worker that found no work does (twill_config.idle). */
typedef enum {
    TWILL_IDLE_DEFAULT = 0, /* look again for a short while (64 rounds, well under
                               100 us), then sleep until work is announced */
    TWILL_IDLE_PARK,        /* sleep at once: one look, no spin rounds; least CPU */
    TWILL_IDLE_SPIN         /* never sleep while the pool runs: a busy core per idle
                               worker (as Lace does), for latency benchmarks */
} twill_idle;

/* Priority of a submitted or spawned task. */
typedef enum {
    TWILL_PRIO_LOW = -1,   /* background: started only by a worker that found nothing
                              else, but at least one every 1024 tasks a worker runs */
    TWILL_PRIO_NORMAL = 0, /* twill_submit, twill_group_spawn */
    TWILL_PRIO_HIGH = 1    /* started before any other queued task: checked by every
                              worker before it starts its next task */
} twill_prio;

typedef enum {
    TWILL_DRAIN, /* run everything accepted, including what it spawns */
    TWILL_CANCEL /* let running tasks finish, discard everything queued */
} twill_stop;

typedef struct twill_config {
    unsigned    workers;        /* 0: one per core allowed to the process (its cpuset and
                                   the creating thread's binding, e.g. taskset), but at
                                   most the cgroup CPU quota, ceil(quota / period), from
                                   v2 cpu.max or v1 cpu.cfs_quota_us/_period_us; >= 1 */
    twill_pin   pin;            /* TWILL_PIN_CORES unless $TWILL_PIN=cores|threads|none */
    twill_sched scheduler;      /* TWILL_SCHED_STEALING unless $TWILL_SCHED=stealing|central */
    size_t      queue_capacity; /* bound of outside submissions queued at once (both
                                   schedulers); 0: TWILL_DEFAULT_QUEUE_CAPACITY;
                                   rounded up to a power of two */
    void      (*discard)(twill_fn fn, void *arg, void *ctx); /* called once for every task dropped unrun */
    void       *discard_ctx;
    const char *name;           /* thread-name prefix (NULL: "twill"); at most 10 characters are used */
    twill_idle  idle;           /* TWILL_IDLE_DEFAULT unless $TWILL_IDLE=default|park|spin */
    /* Worker hooks (NULL: none).  Each runs exactly once per worker thread,
       on that thread, with its id (0..size-1, as twill_worker_id() returns
       there) and hook_ctx: on_worker_start before the worker runs its first
       task, on_worker_stop after its last one, while the pool shuts down
       (also when create fails after starting some workers).  Per-worker
       set-up and tear-down: scratch memory, RNG state, FP mode, profiler
       registration.  A hook must not submit to, shut down or destroy its
       own pool; a slow start hook delays only its own worker. */
    void      (*on_worker_start)(unsigned worker, void *ctx);
    void      (*on_worker_stop)(unsigned worker, void *ctx);
    void       *hook_ctx;
    /* Elastic pools.  max_workers 0 or <= workers: a fixed size.  Above it,
       the pool grows by one worker (up to max_workers) each time an outside
       submission is queued while no worker is idle, and each extra worker
       (id >= workers) exits once it has found no work for idle_timeout_ns
       (0: TWILL_DEFAULT_IDLE_TIMEOUT_NS), the highest id first.  Hooks run
       for every worker that starts or exits.  <= TWILL_MAX_WORKERS. */
    unsigned    max_workers;
    int64_t     idle_timeout_ns; /* >= 0 */
    /* Timeline trace (NULL or "": none; $TWILL_TRACE=path sets it; copied
       at create).  Each worker records every task it runs (start, duration,
       function, kind), its steals, parks and helping waits; outside
       submissions are recorded with the submitting thread.
       twill_pool_destroy writes it all to this path as Chrome trace-event
       JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing open;
       twill_pool_trace_write writes it at any time (README "Trace").  A
       write at destroy that fails is lost silently.  Off, it costs the hot
       paths at most one predictable branch. */
    const char *trace_path;
    /* Events kept per track (each worker's, the outside threads'): the
       newest; older ones are dropped and the file counts them.  0:
       TWILL_TRACE_EVENTS_DEFAULT unless $TWILL_TRACE_EVENTS = 1..2^26;
       rounded up to a power of two; > TWILL_MAX_TRACE_EVENTS is EINVAL. */
    size_t      trace_events;
} twill_config;

/* ---------------------------------------------------------------- pools -- */

/*
 * Fill *cfg with the defaults, then apply the environment:
 *   TWILL_WORKERS = decimal 1..1024, TWILL_PIN = cores|threads|none,
 *   TWILL_SCHED = stealing|central, TWILL_IDLE = default|park|spin,
 *   TWILL_TRACE = path (trace_path points into the environment),
 *   TWILL_TRACE_EVENTS = decimal 1..2^26.
 * Invalid environment values are ignored (the default stays).  Fields set
 * after this call win.  cfg NULL: no-op.  Thread-safe as long as no thread
 * modifies the environment concurrently.
 */
void twill_config_init(twill_config *cfg);

/*
 * Create a pool and start its workers.  cfg NULL: twill_config_init()
 * defaults.  Returns 0 and sets *out; EINVAL when out is NULL, workers or
 * max_workers > TWILL_MAX_WORKERS, queue_capacity > TWILL_MAX_QUEUE_CAPACITY,
 * idle_timeout_ns < 0, trace_events > TWILL_MAX_TRACE_EVENTS, or an enum
 * (pin, scheduler, idle) is out of range; ENOMEM; EAGAIN when a thread could
 * not be started.  On error *out is left untouched and nothing is leaked.
 * Any thread.
 */
int twill_pool_create(twill_pool **out, const twill_config *cfg);

/* Number of workers now (their ids are 0..size-1); 0 for NULL.  Any
   thread.  On an elastic or resized pool, a moment's value. */
unsigned twill_pool_size(const twill_pool *pool);

/*
 * Set the pool's size to `workers` (its base size; an elastic pool's
 * max_workers is raised to it when smaller) and return once exactly that
 * many workers run.  Growing starts the new workers (pinned in the
 * topology's order, as at create).  Shrinking asks the workers with the
 * highest ids to leave; each finishes the task it runs (and everything it
 * waits for), hands the tasks it still holds to the others, runs its
 * on_worker_stop hook and exits: nothing is lost or run twice.  Their
 * counters stay in twill_pool_stats(pool, -1, ...).  When a later resize
 * takes over while a shrink waits, the earlier call returns 0 at once;
 * the last one wins.
 * Returns 0; EINVAL for a NULL pool or workers outside 1..TWILL_MAX_WORKERS;
 * ESHUTDOWN once shutdown has started; EDEADLK when shrinking from one of
 * the pool's own workers (it would wait for itself), and for any resize
 * from a task running under isolation (see twill_broadcast); EAGAIN or ENOMEM when
 * a worker could not be started (those started so far run); EOWNERDEAD
 * after fork().  Any thread.
 */
int twill_pool_resize(twill_pool *pool, unsigned workers);

/*
 * Stop the pool and wait until every worker has exited.
 *   TWILL_DRAIN: runs everything already accepted; the pool's own running
 *     tasks may still submit, spawn and join until no task is left; submits
 *     from outside threads return ESHUTDOWN from the moment shutdown starts.
 *   TWILL_CANCEL: running tasks finish, everything queued is discarded
 *     (discard hook, counted), and from then on every submit or spawn from
 *     anywhere returns ESHUTDOWN; both halves of a join still run.
 * discarded (may be NULL) receives the number of tasks dropped by this call,
 * group tasks included.  A second or concurrent shutdown returns 0 once the
 * workers have exited, with *discarded = 0.
 * Returns 0; EINVAL for a NULL pool or unknown mode; EDEADLK when called from
 * one of the pool's own workers (nothing is stopped).  Any other thread.
 */
int twill_pool_shutdown(twill_pool *pool, twill_stop how, size_t *discarded);

/*
 * Shut down with TWILL_DRAIN if still running, join every thread and free
 * everything; a pool with a trace_path writes its trace there first (a
 * failed write is not reported: twill_pool_trace_write reports).  NULL: no-op.  Called from one of the pool's own workers it
 * does nothing (it cannot wait for itself; the pool stays valid).  Must not
 * run concurrently with any other use of the pool.
 */
void twill_pool_destroy(twill_pool *pool);

/* -------------------------------------------------------------- submit -- */

/*
 * Submit fn(arg) to run on the pool.  From outside threads it goes through
 * the bounded injector and blocks while it is full; an idle worker is woken
 * for it, and when none is idle (stealing scheduler) a worker running a
 * join tree starts it at its next join, a busy worker in any case within
 * its next 64 tasks or joins (1024 inline join halves on the stealing
 * scheduler's untraced fast path).  From one of the pool's
 * own workers it goes to that worker's queue and never blocks.
 * Returns 0 (taken); EINVAL for NULL pool or fn; ESHUTDOWN when the pool is
 * shutting down (see twill_pool_shutdown); ENOMEM.  Any thread.
 */
int twill_submit(twill_pool *pool, twill_fn fn, void *arg);

/*
 * Like twill_submit with a bound on the wait while the injector is full:
 * timeout_ns 0 tries once (EAGAIN when full), > 0 waits at most that long
 * (ETIMEDOUT), < 0 waits forever.  Any thread.
 */
int twill_submit_for(twill_pool *pool, twill_fn fn, void *arg, int64_t timeout_ns);

/*
 * twill_submit_for at a priority level (twill_submit is
 * twill_submit_prio(pool, TWILL_PRIO_NORMAL, fn, arg, -1)).
 *   HIGH: every worker checks for a queued HIGH task before it starts its
 *     next task (from its own queue, outside, a peer, a join's inline half
 *     or a group wait's private task), so an accepted HIGH task starts as
 *     soon as some worker finishes its current one (at once on an idle
 *     pool); HIGH tasks from outside start in FIFO order.  A worker running
 *     a HIGH task that it started at a join or wait starts no second one
 *     inside it (its stack stays bounded); the other workers do.
 *   LOW: started by a worker that found no HIGH or NORMAL work (own queue,
 *     outside, peers).  Bound against starvation: every worker also starts
 *     one queued LOW task every 1024 tasks it runs (every 16th outside
 *     poll; sooner while outside tasks reach a busy pool, each polled for
 *     at a join), however much NORMAL work keeps arriving.
 * Each level's outside queue has its own bound (queue_capacity), so a full
 * NORMAL queue never blocks a HIGH submission; from the pool's own workers
 * no level ever blocks.  Returns as twill_submit_for; EINVAL also for an
 * unknown prio.  Any thread.
 */
int twill_submit_prio(twill_pool *pool, twill_prio prio, twill_fn fn, void *arg,
                      int64_t timeout_ns);

/*
 * Run fn(arg) on a worker of pool and wait for it; returns fn's code.
 * From a worker of the same pool it runs fn inline.  From a worker of another
 * pool it blocks that worker until fn is done on this pool; that worker's
 * private work (join halves, group tasks it spawned) is published first,
 * so that its own pool's other workers may run it meanwhile (fn may wait
 * for it).  So does every other call that blocks a worker on another pool
 * (a wait, a broadcast, a full queue, a shutdown or shrink).
 * Returns fn's code; EINVAL for NULL pool or fn; ESHUTDOWN if the pool no
 * longer accepts work; ECANCELED if the task was discarded by a cancelling
 * shutdown.  Any thread.
 */
int twill_run(twill_pool *pool, twill_fn fn, void *arg);

/* Run fn(arg) exactly once on every worker of pool (inside it,
   twill_worker_id() tells which), wait for all, and return the first
   nonzero code, else 0.  Each worker runs its share before it takes other
   work: at once when idle, else at its next join (stealing scheduler),
   when its current task returns, or at its next poll (every 64 tasks or
   joins it runs, 1024 inline join halves, even deep in a join tree).  From a
   worker of the same pool the caller runs its own share and helps while it
   waits; elsewhere it sleeps.  Concurrent broadcasts on one pool (from any
   threads, from tasks, from inside a share) each run once per worker: they
   are posted one at a time under a pool mutex, a later one waiting until
   every worker has started its share of the earlier one.  A broadcast that
   returned 0 ran in full even if shutdown started meanwhile.  A worker in
   an isolated wait (twill_group_init_isolated) runs no share until that
   wait returns, so the broadcast waits for it.  Returns EINVAL (NULL pool
   or fn), ESHUTDOWN (shutdown started), EOWNERDEAD (pool inherited through
   fork), EDEADLK when called from a task running under isolation (a task
   of an isolated group, or anything it spawned or joined: its worker could
   be the one an isolated wait holds). */
int twill_broadcast(twill_pool *pool, twill_fn fn, void *arg);

/* ----------------------------------------------------------- fork-join -- */

/*
 * Run a(a_arg) and b(b_arg), possibly in parallel, and return when both are
 * done.  Both always run, even if a fails.  Returns a's code if nonzero, else
 * b's; EINVAL if a or b is NULL (neither runs).  Inside a worker b is
 * offered to thieves while a runs (no allocation, lock or system call when b
 * is not stolen); b never starts before a unless a thief takes it, so code
 * must not make a wait for b.  Outside any worker: runs a then b serially.
 * Any thread.
 *
 * With gcc and clang (C and C++) the common case is inline: the definition
 * below, so a call with known functions calls them directly (or inlines
 * them), about 30 instructions beyond the two calls (README "The inline
 * join").  twill_join is also an ordinary exported function (FFI, function
 * pointers), the same code.
 */
TWILL__INLINE int twill_join(twill_fn a, void *a_arg, twill_fn b, void *b_arg);

/*
 * Task group: caller-owned, may live on the stack.  Fields are private.
 * A group is reusable once twill_group_wait has returned (not after a
 * twill_group_wait_for timeout); it holds no resources then, so there is no
 * destroy.  A zeroed group is invalid (EINVAL) until twill_group_init; a
 * group that was neither zeroed nor initialised is undefined to use (its
 * bytes may look like any group's).
 */
typedef struct twill_group {
    uint64_t private_[8]; /* private: use the functions below */
} twill_group;

/*
 * Initialise g for pool.  pool NULL: the calling worker's pool.  On a
 * worker of pool (stealing scheduler, untraced), that worker becomes g's
 * owner: see twill_group_spawn.
 * Returns 0; EINVAL when g is NULL or pool is NULL outside any worker.
 * Never reads *g first, so a fresh group (on the stack, uninitialised)
 * always initialises.  Re-initialising a group that still has pending
 * tasks is undefined (it is not detected).  Any thread, while no other
 * thread uses g.
 */
TWILL__INLINE int twill_group_init(twill_group *g, twill_pool *pool);

/*
 * Initialise g as twill_group_init does, as an isolated group: a wait on g
 * by a worker of its pool helps only with g's tasks and with what they
 * spawn, submit or join, transitively (each task carries g's isolation
 * tag, and everything it spawns inherits it); it never runs an unrelated
 * task, an outside job or a broadcast share, and sleeps when none of g's
 * work is within its reach (work queued on other workers is left to them).
 * So a task may hold a lock across twill_group_wait on g while other tasks
 * that take the same lock are queued (g's own tasks must not take it).  An
 * isolated group nested in another has its own tag: the outer wait does not
 * run the inner group's tasks.  Under isolation (in g's tasks and what they
 * spawn, on any worker) joins and waits help the same restricted way, the
 * periodic poll for outside work is off, and twill_broadcast and
 * twill_pool_resize return EDEADLK.  Spawns from outside threads into g go
 * to a queue the wait can search (bounded like the outside queue).  Work
 * of g queued behind unrelated tasks on another worker's deque is left to
 * that worker.  Everything else (spawn, wait, cancel, errors, reuse, the
 * discard hook) is as for twill_group_init.
 * Returns 0; EINVAL when g is NULL or pool is NULL outside any worker;
 * EOWNERDEAD for a pool inherited through fork().  Any thread, while no
 * other thread uses g.
 */
int twill_group_init_isolated(twill_group *g, twill_pool *pool);

/*
 * Spawn fn(arg) into g, on g's pool, from any thread.  From a worker of that
 * pool it is pushed to the worker's own queue and never blocks; from other
 * threads it goes through the injector (blocking while full).  A NORMAL
 * spawn by g's owner (the worker that initialised g, stealing scheduler,
 * outside isolation) goes to that worker's private group stack first:
 * no allocation and no read-modify-write per task, out of thieves' reach
 * until published (when the worker's queue is empty, a thief asks at a
 * later spawn or join or before the owner's wait runs its next one, the
 * stack is full, or a timed wait begins); the
 * owner's twill_group_wait runs them inline, newest first, and any other
 * look for work by that worker runs them before anything else.  So a
 * task that spawns and then blocks outside twill until a child has run
 * (a semaphore, a flag) may wait for ever: wait with twill_group_wait
 * (or twill_group_wait_for) instead.  (A twill call that blocks it on
 * another pool publishes them first: twill_run.)
 * Returns 0 (taken); a cancelled group also returns 0 and discards the task
 * through the hook.  EINVAL for NULL/uninitialised g or NULL fn; ESHUTDOWN
 * when the pool no longer accepts it; ENOMEM.
 * With gcc and clang the owner's private spawn is inline (the definition
 * below: a few checks and three stores, no call), as is an owner's
 * twill_group_init; every other spawn calls into the library.  Both are
 * also ordinary exported functions.
 */
TWILL__INLINE int twill_group_spawn(twill_group *g, twill_fn fn, void *arg);

/* twill_group_spawn at a priority level (see twill_submit_prio); EINVAL
   also for an unknown prio.  twill_group_spawn is the NORMAL level. */
int twill_group_spawn_prio(twill_group *g, twill_prio prio, twill_fn fn, void *arg);

/*
 * Wait until every task of g is done.  On a worker of g's pool it helps run
 * tasks; on other threads it sleeps.  Returns the first nonzero task code,
 * else ECANCELED if tasks were skipped by cancellation, else 0; EINVAL for a
 * NULL or uninitialised group.  Afterwards g is reset and reusable.  One
 * waiting thread per group at a time; spawns may continue concurrently
 * (tasks may spawn into their own group while it is waited on).  A wait
 * covers the tasks it saw pending; a task spawned while it returns belongs
 * to the next round (a later wait waits for it, nothing is lost), and its
 * error or skip is reported by one of the two waits.
 * With gcc and clang the owner's wait is inline as long as it only runs
 * its private tasks (the definition below); anything else calls into the
 * library.  Also an ordinary exported function.
 */
TWILL__INLINE int twill_group_wait(twill_group *g);

/*
 * twill_group_wait with a bound: timeout_ns 0 checks once, > 0 waits at most
 * that long, < 0 forever.  ETIMEDOUT when tasks are still pending (they keep
 * running; wait again later).  A helping wait may overshoot by the length of
 * one task it ran.  On g's owner it first publishes the private spawns
 * (twill_group_spawn), so 0 runs none of them and they stay within other
 * workers' reach.  Other returns as twill_group_wait; same threads.
 */
int twill_group_wait_for(twill_group *g, int64_t timeout_ns);

/* Cancel g: tasks not yet started are skipped and discarded.  Any thread. */
void twill_group_cancel(twill_group *g);

/* True once g was cancelled (explicitly or by a failing task).  Any thread. */
bool twill_group_cancelled(const twill_group *g);

/*
 * The group of the task running on this thread: inside a task spawned with
 * twill_group_spawn(_prio), the group it was spawned into; NULL inside a
 * submitted or twill_run task, a broadcast share, and outside workers.  Code
 * a task runs through twill_join or a loop sees its task's answer when it
 * runs on the task's own thread and NULL when another worker took it; a task
 * that a waiting task runs meanwhile has its own answer, and the waiter gets
 * its own back.  For a task that spawns into or cancels its own group
 * without carrying a pointer (twill.hpp finds a throwing task's group with
 * it).  Any thread.
 */
twill_group *twill_current_group(void);

/* --------------------------------------------------------------- loops -- */

/*
 * Run body over [begin, end), split adaptively into chunks of at least grain
 * indices (0: automatic).  pool NULL: the calling worker's pool, or serial
 * outside any worker.  From outside threads with a pool, the loop enters the
 * pool as twill_run does.  Once a body returns nonzero no new chunk starts;
 * the first recorded code is returned.  begin > end or NULL body: EINVAL;
 * begin == end: 0 without calling body.  Any thread; body may run on any
 * worker of the pool, concurrently with itself on disjoint ranges.
 */
typedef int (*twill_range_fn)(void *ctx, size_t begin, size_t end);
int twill_parallel_for(twill_pool *pool, size_t begin, size_t end, size_t grain,
                       twill_range_fn body, void *ctx);

/*
 * Reduce over [begin, end): each chunk's body folds into an accumulator of
 * acc_size bytes that starts as a copy of *identity; partial results are
 * combined in index order with combine(ctx, acc, other) (so combine must be
 * associative, need not be commutative).  On success *result is overwritten
 * (the identity for an empty range); on error it is left untouched.
 * EINVAL for NULL result/identity/body/combine, acc_size 0 or begin > end;
 * ENOMEM; otherwise as twill_parallel_for.  Any thread; body and combine run
 * on workers, concurrently on disjoint accumulators.
 */
typedef int (*twill_reduce_fn)(void *ctx, size_t begin, size_t end, void *acc);
typedef void (*twill_combine_fn)(void *ctx, void *acc, const void *other);
int twill_parallel_reduce(twill_pool *pool, size_t begin, size_t end, size_t grain,
                          void *result, size_t acc_size, const void *identity,
                          twill_reduce_fn body, twill_combine_fn combine, void *ctx);

/* ------------------------------------------------------------ identity -- */

/* 0..size-1 inside a worker, -1 elsewhere.  Any thread. */
int twill_worker_id(void);

/* The pool of the calling worker; NULL outside workers.  Any thread. */
twill_pool *twill_current_pool(void);

/* --------------------------------------------------------------- stats -- */

typedef struct twill_stats {
    uint64_t tasks_run;       /* tasks executed: submits, group tasks, the b half of
                                 each join (inline or stolen), twill_run tasks */
    uint64_t tasks_failed;    /* of those, how many returned nonzero */
    uint64_t tasks_discarded; /* dropped unrun (cancel, cancelled group), hook called */
    uint64_t spawns;          /* tasks pushed by workers (join halves, inside submits,
                                 group spawns) */
    uint64_t steals;          /* tasks taken from another worker's deque */
    uint64_t steal_attempts;  /* steal tries on non-empty looking deques */
    uint64_t injected;        /* outside submissions taken (from every level's queue) */
    uint64_t parks;           /* times a worker went to sleep */
    uint64_t wakes;           /* times a sleeping worker woke up */
    uint64_t bind_failures;   /* workers that could not be pinned (never fatal) */
    uint64_t queued;          /* outside submissions waiting to start now: the
                                 pool's, whichever worker is asked for */
} twill_stats;

/*
 * Read counters of one worker (0..size-1) or of all (-1), summed; the total
 * also counts discards made on threads outside the pool (a spawn into a
 * cancelled group from outside), which belong to no worker.  Counters
 * are written by their own worker only, so a read during activity is a
 * consistent-enough snapshot, not an atomic one.  Readable until destroy.
 * Returns 0; EINVAL for NULL pool/out or a worker out of range; EOWNERDEAD
 * for a pool inherited through fork().  Any thread.
 */
int twill_pool_stats(const twill_pool *pool, int worker, twill_stats *out);

/* --------------------------------------------------------------- trace -- */

/*
 * Write what the pool's trace (twill_config.trace_path) has recorded so far
 * to path, as Chrome trace-event JSON: one track per worker and one for
 * outside threads, and a metadata block (otherData: twill version, pool
 * config, topology, dropped events, each worker's time split running /
 * searching / parked / in helping waits, and its stats).  Works while the
 * pool runs (events still being recorded are left out, counted as dropped)
 * and after shutdown until destroy; concurrent calls are serialised.
 * Returns 0; EINVAL for a NULL pool or path, or a pool that does not trace;
 * EOWNERDEAD for a pool inherited through fork(); ENOMEM; otherwise the
 * errno of the failed open or write (the file may then be partial).
 * Any thread, also a task of the pool.
 */
int twill_pool_trace_write(twill_pool *pool, const char *path);

/* Name of an error code returned by twill; never NULL, whatever the code.
   A static string.  Any thread. */
const char *twill_strerror(int code);

/* ------------------------------------------ private: the inline join -- */

/*
 * Everything below is private to twill (names with two underscores): the
 * fast path of twill_join, inline so that the compiler sees both functions.
 * Not part of the API; its layout changes with TWILL__ABI_VERSION, which is
 * in the name of every symbol it uses, so code compiled against another
 * version fails to link instead of misreading the worker.
 *
 * A worker's private stack holds the b halves of the joins in progress on
 * its thread that no thief can see yet: pointers to frames on the joiners'
 * stacks, slot[(pos / 1024) % 64].  The fast path pushes b, runs a, and if b
 * is still private pops it and calls it.  Everything else (the stack full,
 * a thief or an idle worker waiting for b, a HIGH task queued, b published
 * or stolen, the central scheduler, a thread that is no worker) takes the
 * exported cold functions, in runtime/join.c; runtime/sched_steal.h says
 * how the stack is published and what the words below mean.
 */
#if defined(__GNUC__)

#define TWILL__ABI_VERSION 3
#define TWILL__ABI_CAT(name, v) twill__##name##_v##v
#define TWILL__ABI_NAME(name, v) TWILL__ABI_CAT(name, v)
#define TWILL__ABI(name) TWILL__ABI_NAME(name, TWILL__ABI_VERSION)

#define TWILL__PRIVATE_CAP 64 /* slots of the private stack, a power of two */
/* fast.pos per slot, a power of two: the b halves run inline are counted
   below it, and the cold path takes every TWILL__POS_SLOT-th (it flushes
   the count into the stats and polls for outside work: runtime/job.h). */
#define TWILL__POS_SLOT 1024

/* The b half of a join, on the joiner's stack; the runtime's record of it
   (runtime/task.h) overlays fn .. private_ once b leaves the private
   stack. */
struct __attribute__((__may_alias__)) twill__join_frame {
    twill_fn fn;
    void *arg;
    void *private_[6];
    /* The inline join's own, beyond the runtime's record: what it needs
       after a and b, kept here rather than in registers saved across the
       calls (which would cost every caller, leaf calls too). */
    struct twill__fast *f;
    int ra;
};

/* A group as the runtime sees it, overlaid on twill_group: the layout of
   runtime/task.h's twill__group_ctl (group.c checks), for the inline
   init, spawn and wait.  Fields read by other threads too are accessed
   with __atomic builtins. */
#define TWILL__GROUP_MAGIC 0x7477696cu /* "twil": an initialised plain group */
#define TWILL__SLEEPER_BIT 0x80000000u /* pending: a waiter sleeps (runtime/completion.h) */
struct twill__fast;
struct __attribute__((__may_alias__)) twill__group_head {
    uint32_t magic;
    uint32_t pending;        /* completion word: the first private task adds the token */
    int first_error;
    uint32_t iso;
    unsigned char cancelled;
    unsigned char skipped;
    uint32_t priv;           /* the owner's private tasks unfinished, owner only */
    void *pool;
    const struct twill__fast *owner; /* NULL: no private spawns */
};

/* A private group task: what it runs and its group (it has no
   isolation tag: private spawns happen outside isolation only). */
struct twill__gjob {
    twill_fn fn;
    void *arg;
    struct twill__group_head *group;
};
#define TWILL__GPRIV_CAP 64 /* slots of the private group stack, a power of two */
#define TWILL__POOL_CANCELLING 2 /* the pool's state word once a cancelling
                                    shutdown began (runtime/sched.h) */

/* The part of a worker that the inline join and spawn touch (the first
   member of the runtime's worker). */
struct twill__fast {
    /* The worker's own thread only.  pos: TWILL__POS_SLOT * (top of the
       private stack) + (b halves run inline since the last flush, mod
       TWILL__POS_SLOT). */
    uint64_t pos;
    struct twill__join_frame *slot[TWILL__PRIVATE_CAP];
    /* The group words, the worker's own thread only.  The private group
       stack (runtime/sched_steal.h): gslot[glo .. gtop) mod
       TWILL__GPRIV_CAP.  gpool: its pool where its groups spawn
       privately (stealing, untraced), else NULL.  pool_state, high_len:
       its pool's state word and HIGH queue length, read (__atomic) by
       the inline spawn and wait.  group: the group of the task running
       on this stack (twill_current_group).  gruns: private group tasks
       run by the inline wait, each also a spawn (read by stats from any
       thread: __atomic stores). */
    uint32_t glo, gtop;
    void *gpool;
    const int *pool_state;
    const size_t *high_len;
    struct twill__group_head *group;
    uint64_t gruns;
    struct twill__gjob gslot[TWILL__GPRIV_CAP];
    /* Written by other threads too, read (__atomic, relaxed) by every
       join: a push with pos >= limit, or a join with pos - 63 < split
       after a, takes the cold path. */
    __attribute__((__aligned__(64))) uint64_t limit;
    uint64_t split;
};

/* The calling thread's worker, or a worker-less stand-in whose limit and
   split send every join down the cold path.  initial-exec: one load from
   the thread pointer in the executable and in libtwill.so alike. */
extern __thread struct twill__fast *TWILL__ABI(self)
    __attribute__((__tls_model__("initial-exec")));
/* Never NULL, which the inline functions tell the compiler: given a
   group it can see is zeroed (owner NULL), gcc -O1 would otherwise
   assume a NULL worker on the path it knows is dead and warn
   (-Wstringop-overflow) about the loads there. */
#define TWILL__SELF()                                                 \
    (__extension__({                                                  \
        struct twill__fast *self_ = TWILL__ABI(self);                 \
        if (self_ == NULL)                                            \
            __builtin_unreachable();                                  \
        self_;                                                        \
    }))

/* Cold paths: push b when the fast path may not; finish the join after a
   when b is not the private stack's top, a HIGH task waits or the 1024th
   inline half is due (returns the join's code; the runtime finds the
   frame itself, so that the caller keeps fewer registers across a); b
   failed inline. */
__attribute__((__cold__)) void TWILL__ABI(join_push)(struct twill__fast *f,
                                                     struct twill__join_frame *fr);
__attribute__((__cold__)) int TWILL__ABI(join_rest)(struct twill__fast *f, int ra);
__attribute__((__cold__)) int TWILL__ABI(join_failed)(int ra, int rb);

/* What the inline group functions leave to the library: an init that
   makes no owner (or bad arguments); a spawn that is not the owner's
   private one (isolation, the stack full or publication wanted, a trip,
   a cancelling pool, a cancelled group, bad arguments); a wait with
   anything but the owner's private tasks to run, or a result to collect
   (the rest of the wait, from where the inline loop stopped; < 0: no
   timeout); and three steps of the inline wait's run: a task failed, a
   sleeper to wake when the token finishes, the periodic poll. */
__attribute__((__cold__)) int TWILL__ABI(group_init)(twill_group *g, twill_pool *pool);
__attribute__((__cold__)) int TWILL__ABI(group_spawn)(twill_group *g, twill_prio prio,
                                                      twill_fn fn, void *arg);
int TWILL__ABI(group_wait)(twill_group *g, int64_t timeout_ns);
__attribute__((__cold__)) void TWILL__ABI(group_failed)(struct twill__group_head *g, int rc);
__attribute__((__cold__)) void TWILL__ABI(group_wake)(struct twill__group_head *g);
__attribute__((__cold__)) void TWILL__ABI(group_poll)(void);

TWILL__INLINE int twill_join(twill_fn a, void *a_arg, twill_fn b, void *b_arg)
{
    struct twill__fast *f = TWILL__SELF();
    struct twill__join_frame fr;
    uint64_t pos;
    int ra, rb;
    if (__builtin_expect(!a || !b, 0))
        return EINVAL;
    fr.fn = b;
    fr.arg = b_arg;
    fr.f = f;
    /* Push b: slot[top % 64] = &fr, top + 1. */
    pos = f->pos;
    if (__builtin_expect(pos >= __atomic_load_n(&f->limit, __ATOMIC_RELAXED), 0)) {
        TWILL__ABI(join_push)(f, &fr);
    } else {
        f->pos = pos + TWILL__POS_SLOT;
        f->slot[pos / TWILL__POS_SLOT % TWILL__PRIVATE_CAP] = &fr;
    }
    ra = a(a_arg);
    /* f, ra and b's argument come back from fr (memory a may write, so
       reloaded) rather than from registers saved across the calls. */
    f = fr.f;
    /* Pop b and count it: top - 1, count + 1.  The 1024th count would
       carry into top: the cold path flushes it (and polls), as it takes a
       b that is no longer the private top (split > TWILL__POS_SLOT * (top
       - 1)) or a trip. */
    pos = f->pos - (TWILL__POS_SLOT - 1);
    if (__builtin_expect(pos % TWILL__POS_SLOT == 0 ||
                             pos < __atomic_load_n(&f->split, __ATOMIC_RELAXED),
                         0))
        return TWILL__ABI(join_rest)(f, ra);
    f->pos = pos;
    fr.ra = ra;
    rb = b(fr.arg);
    if (__builtin_expect(rb != 0, 0))
        return TWILL__ABI(join_failed)(fr.ra, rb);
    return fr.ra;
}

/* The owner's private spawn: onto its private group stack, counted in
   the group's priv (the first one also adds the group's token to
   pending): three stores and an index.  Any doubt takes the library: isolation, which always trips
   split (runtime/sched.h, "Isolation"), and a trip for HIGH work or a
   poll alike; limit 0 (publication wanted); the stack full; a cancelling
   pool; a cancelled group. */
TWILL__INLINE int twill_group_spawn(twill_group *g, twill_fn fn, void *arg)
{
    struct twill__fast *f = TWILL__SELF();
    struct twill__group_head *h = (struct twill__group_head *)(void *)g;
    if (__builtin_expect(g != NULL && fn != NULL && h->owner == f, 1)) {
        uint32_t top = f->gtop;
        if (__builtin_expect(
                top - f->glo != TWILL__GPRIV_CAP &&
                    __atomic_load_n(&f->limit, __ATOMIC_RELAXED) != 0 &&
                    __atomic_load_n(&f->split, __ATOMIC_RELAXED) != UINT64_MAX /* trip */ &&
                    __atomic_load_n(f->pool_state, __ATOMIC_ACQUIRE) != TWILL__POOL_CANCELLING &&
                    !__atomic_load_n(&h->cancelled, __ATOMIC_ACQUIRE),
                1)) {
            struct twill__gjob *e = &f->gslot[top & (TWILL__GPRIV_CAP - 1)];
            e->fn = fn;
            e->arg = arg;
            e->group = h;
            f->gtop = top + 1;
            /* relaxed: the token is counted before anyone can see the
               task (it is private); runtime/completion.h's expect. */
            if (h->priv++ == 0)
                __atomic_fetch_add(&h->pending, 1, __ATOMIC_RELAXED);
            return 0;
        }
    }
    return TWILL__ABI(group_spawn)(g, TWILL_PRIO_NORMAL, fn, arg);
}

/* The owner's init: a worker of the pool whose spawns go private. */
TWILL__INLINE int twill_group_init(twill_group *g, twill_pool *pool)
{
    struct twill__fast *f = TWILL__SELF();
    if (__builtin_expect(g != NULL && f->gpool != NULL && (pool == NULL || pool == f->gpool), 1)) {
        struct twill__group_head *h = (struct twill__group_head *)(void *)g;
        h->magic = TWILL__GROUP_MAGIC;
        h->pending = 0;
        h->first_error = 0;
        h->iso = 0;
        h->cancelled = 0;
        h->skipped = 0;
        h->priv = 0;
        h->pool = f->gpool;
        h->owner = f;
        return 0;
    }
    return TWILL__ABI(group_init)(g, pool);
}

/* The owner's wait: take its private tasks back, newest first, and run
   them here until none of g's is left (they may belong to other groups
   it owns, spawned from g's tasks), then return if g is done and clean.
   Anything else takes the library, which goes on from there: a HIGH task
   queued or a trip (split), publication wanted (limit 0: a thief asks,
   or the worker's queue ran empty; the library publishes the older half),
   a cancelling pool or a cancelled group (the task is discarded there),
   shared work pending, an error or skip to report.  Each run is what the
   library's own does (runtime/job.h, twill__run_private): the current
   group set around it, counted, the token finished after the group's
   last private task, a poll every 64. */
TWILL__INLINE int twill_group_wait(twill_group *g)
{
    struct twill__fast *f = TWILL__SELF();
    struct twill__group_head *h = (struct twill__group_head *)(void *)g;
    if (__builtin_expect(g != NULL && h->owner == f, 1)) {
        while (h->priv != 0) {
            uint32_t top = f->gtop;
            const struct twill__gjob *e = &f->gslot[(top - 1) & (TWILL__GPRIV_CAP - 1)];
            struct twill__group_head *c, *outer;
            twill_fn fn;
            void *arg;
            uint64_t n;
            int rc;
            if (__builtin_expect(top == f->glo, 0))
                break;
            c = e->group;
            if (__builtin_expect(
                    __atomic_load_n(f->high_len, __ATOMIC_RELAXED) != 0 ||
                        __atomic_load_n(&f->split, __ATOMIC_RELAXED) == UINT64_MAX /* trip */ ||
                        __atomic_load_n(&f->limit, __ATOMIC_RELAXED) == 0 /* publish */ ||
                        __atomic_load_n(f->pool_state, __ATOMIC_RELAXED) == TWILL__POOL_CANCELLING ||
                        __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE),
                    0))
                break;
            fn = e->fn; /* read before the call: its spawns reuse the slot */
            arg = e->arg;
            f->gtop = top - 1;
            outer = f->group;
            f->group = c;
            rc = fn(arg);
            f->group = outer;
            n = f->gruns + 1;
            __atomic_store_n(&f->gruns, n, __ATOMIC_RELAXED);
            if (__builtin_expect(rc != 0, 0))
                TWILL__ABI(group_failed)(c, rc);
            /* The token (runtime/task.h): acq_rel as runtime/completion.h's
               finish; c may be gone after it. */
            if (--c->priv == 0 &&
                __builtin_expect(__atomic_fetch_sub(&c->pending, 1, __ATOMIC_ACQ_REL) ==
                                     (TWILL__SLEEPER_BIT | 1),
                                 0))
                TWILL__ABI(group_wake)(c);
            if (__builtin_expect((n & 63) == 0, 0))
                TWILL__ABI(group_poll)();
        }
        /* Done and clean: collect (group.c) would return 0 and reset
           nothing.  acquire: pairs with the finishers' release. */
        if (__builtin_expect(__atomic_load_n(&h->pending, __ATOMIC_ACQUIRE) == 0 &&
                                 __atomic_load_n(&h->first_error, __ATOMIC_RELAXED) == 0 &&
                                 !__atomic_load_n(&h->skipped, __ATOMIC_RELAXED) &&
                                 !__atomic_load_n(&h->cancelled, __ATOMIC_RELAXED),
                             1))
            return 0;
    }
    return TWILL__ABI(group_wait)(g, -1);
}

#endif /* __GNUC__ */

#if defined(TWILL_BUILDING) && defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* TWILL_H */

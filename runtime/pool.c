/*
 * pool.c — configuration, pool creation, submission from any thread,
 * twill_run, shutdown, statistics and error names: the public face of the
 * pool, on top of the scheduler interface (sched.h); and the trace's
 * set-up and writing (trace.h).
 *
 * Taken or not.  An outside submit is taken by one atomic step of the
 * policy's outside queue that shutdown can make fail (sched_steal.c,
 * sched_central.c).  Shutdown stores the new state, closes that queue, and
 * only then sets `closing`, after which workers terminate once every queue
 * is empty, so every job in a queue is run (DRAIN) or discarded (CANCEL)
 * before the workers exit.
 *
 * fork().  Threads do not survive fork(): a pool inherited by a child has
 * no workers.  Every call on it returns EOWNERDEAD (twill__pool_usable),
 * and destroy frees its memory without joining threads that do not exist.
 *
 * Who may call what: everything here from any thread, except that shutdown
 * from the pool's own worker returns EDEADLK and destroy must be the last
 * use of the pool.
 */
#include "elastic.h"
#include "job.h"
#include "wait.h"
#include "worker.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "quota.h"

/* ------------------------------------------------------------ config -- */

static bool env_is(const char *v, const char *word)
{
    return v != NULL && strcmp(v, word) == 0;
}

/* $name as a decimal in 1..max, or 0 when unset or invalid. */
static unsigned long long env_count(const char *name, unsigned long long max)
{
    const char *v = getenv(name);
    if (v == NULL || *v < '0' || *v > '9')
        return 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    return *end == '\0' && n >= 1 && n <= max ? n : 0;
}

void twill_config_init(twill_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->pin = TWILL_PIN_CORES;
    cfg->scheduler = TWILL_SCHED_STEALING;
    cfg->workers = (unsigned)env_count("TWILL_WORKERS", TWILL_MAX_WORKERS);
    cfg->trace_events = (size_t)env_count("TWILL_TRACE_EVENTS", TWILL_MAX_TRACE_EVENTS);
    const char *v = getenv("TWILL_TRACE");
    if (v != NULL && *v != '\0')
        cfg->trace_path = v;
    v = getenv("TWILL_PIN");
    if (env_is(v, "cores"))
        cfg->pin = TWILL_PIN_CORES;
    else if (env_is(v, "threads"))
        cfg->pin = TWILL_PIN_THREADS;
    else if (env_is(v, "none"))
        cfg->pin = TWILL_PIN_NONE;
    v = getenv("TWILL_SCHED");
    if (env_is(v, "central"))
        cfg->scheduler = TWILL_SCHED_CENTRAL;
    else if (env_is(v, "stealing"))
        cfg->scheduler = TWILL_SCHED_STEALING;
    v = getenv("TWILL_IDLE");
    if (env_is(v, "default"))
        cfg->idle = TWILL_IDLE_DEFAULT;
    else if (env_is(v, "park"))
        cfg->idle = TWILL_IDLE_PARK;
    else if (env_is(v, "spin"))
        cfg->idle = TWILL_IDLE_SPIN;
}

static int validate(const twill_config *cfg)
{
    if (cfg->workers > TWILL_MAX_WORKERS || cfg->queue_capacity > TWILL_MAX_QUEUE_CAPACITY ||
        cfg->max_workers > TWILL_MAX_WORKERS || cfg->idle_timeout_ns < 0 ||
        cfg->trace_events > TWILL_MAX_TRACE_EVENTS)
        return EINVAL;
    if ((unsigned)cfg->pin > TWILL_PIN_NONE || (unsigned)cfg->scheduler > TWILL_SCHED_CENTRAL ||
        (unsigned)cfg->idle > TWILL_IDLE_SPIN)
        return EINVAL;
    return 0;
}

/* ------------------------------------------------------------ create -- */

static void free_pool(twill_pool *pool)
{
    if (pool->ops != NULL)
        pool->ops->destroy(pool);
    if (pool->prio_ready && twill__pool_usable(pool) == 0) { /* see sched_central.c's destroy */
        twill__prioq_destroy(&pool->high);
        twill__prioq_destroy(&pool->low);
    }
    if (pool->workers != NULL)
        for (unsigned i = 0, n = atomic_load_explicit(&pool->slots, memory_order_relaxed); i < n; i++)
            twill__free_list_clear(&pool->workers[i].free);
    free(pool->workers_mem);
    twill__trace_destroy(pool->trace);
    twill__topo_destroy(pool->topo);
    if (twill__pool_usable(pool) == 0) /* see sched_central.c's destroy */
        pthread_mutex_destroy(&pool->shutdown_lock);
    free(pool);
}

/* Every slot a resize may ever use: calloc of this size maps fresh zero
   pages, so only the slots of workers that start are ever touched. */
static int alloc_slots(twill_pool *pool)
{
    pool->workers_mem = calloc(1, TWILL_MAX_WORKERS * sizeof(twill__worker) + TWILL_CACHE_LINE);
    if (pool->workers_mem == NULL)
        return ENOMEM;
    uintptr_t p = (uintptr_t)pool->workers_mem;
    pool->workers = (twill__worker *)((p + TWILL_CACHE_LINE - 1) & ~(uintptr_t)(TWILL_CACHE_LINE - 1));
    return 0;
}

/* Set `closing` (and `stopped` when the workers must leave at once), wake
   every worker and join them all.  seq_cst stores: read by idle workers
   after their announce (sched_steal.c, park). */
static void close_and_join(twill_pool *pool, bool stop_now)
{
    atomic_store_explicit(&pool->closing, true, memory_order_seq_cst);
    if (stop_now)
        atomic_store_explicit(&pool->stopped, true, memory_order_seq_cst);
    pool->ops->wake_all(pool);
    twill__workers_join(pool);
}

static int start_workers(twill_pool *pool, unsigned n)
{
    int rc = twill__workers_start(pool, n);
    if (rc != 0)
        close_and_join(pool, true); /* stop those started so far */
    return rc;
}

/* workers = 0: one per allowed core (topology.c), but no more than the
   cgroup's CPU quota gives time for (quota.c), at least 1. */
static unsigned default_workers(const twill__topo *topo)
{
    unsigned n = twill__topo_default_workers(topo), q = twill__quota_cpus();
    return q != 0 && q < n ? q : n;
}

/* With a trace path: the trace, before any worker starts (elastic.c
   gives each worker its ring as it starts). */
static int start_trace(twill_pool *pool, const twill_config *cfg, size_t cap)
{
    if (cfg->trace_path == NULL || cfg->trace_path[0] == '\0')
        return 0;
    char topo[512];
    twill__topo_describe(pool->topo, topo, sizeof topo);
    size_t events = cfg->trace_events != 0 ? cfg->trace_events : TWILL_TRACE_EVENTS_DEFAULT;
    return twill__trace_create(&pool->trace, cfg, pool->ops->name, twill__pow2_ceil(events),
                               atomic_load_explicit(&pool->base, memory_order_relaxed), cap,
                               topo) != 0
               ? ENOMEM
               : 0;
}

static int build_pool(twill_pool *pool, const twill_config *cfg)
{
    pool->discard = cfg->discard;
    pool->discard_ctx = cfg->discard_ctx;
    pool->idle = cfg->idle;
    pool->on_worker_start = cfg->on_worker_start;
    pool->on_worker_stop = cfg->on_worker_stop;
    pool->hook_ctx = cfg->hook_ctx;
    snprintf(pool->name, 11, "%s", cfg->name != NULL ? cfg->name : "twill");
    pthread_mutex_init(&pool->shutdown_lock, NULL);
    pool->fork_gen = twill__fork_watch();
    int rc = twill__topo_create(&pool->topo, cfg->pin);
    if (rc != 0)
        return rc;
    unsigned n = cfg->workers != 0 ? cfg->workers : default_workers(pool->topo);
    if (n > TWILL_MAX_WORKERS) /* a default on a huge machine */
        n = TWILL_MAX_WORKERS;
    atomic_init(&pool->base, n);
    atomic_init(&pool->max_workers, cfg->max_workers > n ? cfg->max_workers : n);
    atomic_init(&pool->leave_from, UINT32_MAX);
    pool->idle_timeout_ns =
        cfg->idle_timeout_ns != 0 ? cfg->idle_timeout_ns : TWILL_DEFAULT_IDLE_TIMEOUT_NS;
    rc = alloc_slots(pool);
    if (rc != 0)
        return rc;
    size_t cap = cfg->queue_capacity != 0 ? cfg->queue_capacity : TWILL_DEFAULT_QUEUE_CAPACITY;
    cap = twill__pow2_ceil(cap);
    if (twill__prioq_init(&pool->high, cap) != 0)
        return ENOMEM;
    if (twill__prioq_init(&pool->low, cap) != 0) {
        twill__prioq_destroy(&pool->high);
        return ENOMEM;
    }
    pool->prio_ready = true;
    pool->ops = twill__sched_policy(cfg->scheduler);
    if (start_trace(pool, cfg, cap) != 0)
        return ENOMEM;
    return pool->ops->create(pool, cap);
}

int twill_pool_create(twill_pool **out, const twill_config *cfg)
{
    twill_config defaults;
    if (out == NULL)
        return EINVAL;
    if (cfg == NULL) {
        twill_config_init(&defaults);
        cfg = &defaults;
    }
    int rc = validate(cfg);
    if (rc != 0)
        return rc;
    twill_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return ENOMEM;
    rc = build_pool(pool, cfg);
    if (rc == 0)
        rc = start_workers(pool, atomic_load_explicit(&pool->base, memory_order_relaxed));
    if (rc != 0) {
        free_pool(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

unsigned twill_pool_size(const twill_pool *pool)
{
    return pool != NULL ? twill__pool_nworkers(pool) : 0;
}

/* ------------------------------------------------------------- trace -- */

static void add_counters(twill_stats *s, const twill__worker *w);

/* The trace and the counters of every worker slot ever used (workers that
   left included) to path (trace.c). */
static int write_trace(twill_pool *pool, const char *path)
{
    /* acquire: see slots */
    unsigned n = atomic_load_explicit(&pool->slots, memory_order_acquire);
    twill_stats *stats = calloc(n, sizeof *stats);
    if (stats == NULL)
        return ENOMEM;
    for (unsigned i = 0; i < n; i++)
        add_counters(&stats[i], &pool->workers[i]);
    int rc = twill__trace_write(pool->trace, path, stats, n);
    free(stats);
    return rc;
}

int twill_pool_trace_write(twill_pool *pool, const char *path)
{
    if (pool == NULL || path == NULL)
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    return pool->trace != NULL ? write_trace(pool, path) : EINVAL;
}

/* ------------------------------------------------------------ submit -- */

int twill_submit_prio(twill_pool *pool, twill_prio prio, twill_fn fn, void *arg,
                      int64_t timeout_ns)
{
    if (pool == NULL || fn == NULL || prio < TWILL_PRIO_LOW || prio > TWILL_PRIO_HIGH)
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    twill__job job = {.fn = fn, .arg = arg, .ctl = NULL, .kind = TWILL__JOB_PLAIN};
    return twill__submit(pool, prio, &job, timeout_ns);
}

int twill_submit_for(twill_pool *pool, twill_fn fn, void *arg, int64_t timeout_ns)
{
    return twill_submit_prio(pool, TWILL_PRIO_NORMAL, fn, arg, timeout_ns);
}

int twill_submit(twill_pool *pool, twill_fn fn, void *arg)
{
    return twill_submit_for(pool, fn, arg, -1);
}

int twill_run(twill_pool *pool, twill_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL)
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    if (twill__self_in(pool) != NULL)
        return fn(arg);
    twill__run_ctl ctl;
    atomic_init(&ctl.done, 1);
    ctl.result = 0;
    twill__job job = {.fn = fn, .arg = arg, .ctl = &ctl, .kind = TWILL__JOB_RUN};
    rc = twill__submit(pool, TWILL_PRIO_NORMAL, &job, -1);
    if (rc != 0)
        return rc;
    /* From a worker of another pool this blocks that worker (twill.h). */
    twill__wait(NULL, &ctl.done, -1, NULL);
    return ctl.result;
}

/* ---------------------------------------------------------- shutdown -- */

int twill_pool_shutdown(twill_pool *pool, twill_stop how, size_t *discarded)
{
    if (pool == NULL || (how != TWILL_DRAIN && how != TWILL_CANCEL))
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    if (twill__self_in(pool) != NULL)
        return EDEADLK;
    twill__sched_before_blocking(); /* perhaps a worker of another pool */
    pthread_mutex_lock(&pool->shutdown_lock);
    if (pool->joined) {
        pthread_mutex_unlock(&pool->shutdown_lock);
        if (discarded != NULL)
            *discarded = 0;
        return 0;
    }
    /* seq_cst: read by workers (CANCEL discards), inside submitters and the
       central queue's enqueue under its lock (file comment). */
    atomic_store_explicit(&pool->state, how == TWILL_DRAIN ? TWILL__DRAINING : TWILL__CANCELLING,
                          memory_order_seq_cst);
    pool->ops->close(pool); /* blocked outside submitters: refused */
    twill__prioq_close(&pool->high);
    twill__prioq_close(&pool->low);
    close_and_join(pool, false);
    pool->joined = true;
    pthread_mutex_unlock(&pool->shutdown_lock);
    if (discarded != NULL)
        *discarded = (size_t)atomic_load_explicit(&pool->shutdown_discards, memory_order_relaxed);
    return 0;
}

void twill_pool_destroy(twill_pool *pool)
{
    if (pool == NULL || twill__self_in(pool) != NULL)
        return; /* from its own worker: it cannot wait for itself */
    if (twill__pool_usable(pool) != 0) {
        /* Inherited through fork(): no thread to join, no lock to trust
           (a parent thread may have held it); memory only. */
        free_pool(pool);
        return;
    }
    twill_pool_shutdown(pool, TWILL_DRAIN, NULL);
    /* Outside submitters that shutdown woke may still be on their way out
       of a submit call (twill.h forbids calling destroy meanwhile, but it
       is an easy mistake): let them leave before the memory goes.
       acquire: pairs with their release decrement. */
    while (atomic_load_explicit(&pool->submitters, memory_order_acquire) != 0)
        sched_yield();
    if (pool->trace != NULL) /* a failure here has nobody to report to (twill.h) */
        write_trace(pool, twill__trace_path(pool->trace));
    free_pool(pool);
}

/* ------------------------------------------------------------- stats -- */

/* Worker w's counters into s.  Private group tasks that twill.h's inline
   wait ran (fast.gruns) were spawned and run; so were the join halves
   run inline (joins_inline). */
static void add_counters(twill_stats *s, const twill__worker *w)
{
    const twill__counters *c = &w->stats;
#define TWILL__ADD(f) s->f += atomic_load_explicit(&c->f, memory_order_relaxed)
    TWILL__ADD(tasks_run);
    TWILL__ADD(tasks_failed);
    TWILL__ADD(tasks_discarded);
    TWILL__ADD(spawns);
    TWILL__ADD(steals);
    TWILL__ADD(steal_attempts);
    TWILL__ADD(injected);
    TWILL__ADD(parks);
    TWILL__ADD(wakes);
    TWILL__ADD(bind_failures);
    /* relaxed: statistics (the owner's __atomic stores in twill.h). */
    uint64_t inline_runs = atomic_load_explicit(&c->joins_inline, memory_order_relaxed) +
                           __atomic_load_n(&w->fast.gruns, __ATOMIC_RELAXED);
    s->tasks_run += inline_runs;
    s->spawns += inline_runs;
#undef TWILL__ADD
}

int twill_pool_stats(const twill_pool *pool, int worker, twill_stats *out)
{
    if (pool == NULL || out == NULL || worker < -1 || worker >= (int)twill__pool_nworkers(pool))
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof *out);
    out->queued = pool->ops->queued((twill_pool *)pool) +
                  twill__prioq_external(&((twill_pool *)pool)->high) +
                  twill__prioq_external(&((twill_pool *)pool)->low);
    if (worker >= 0) {
        add_counters(out, &pool->workers[worker]);
        return 0;
    }
    /* every slot: the work of workers that have left stays counted */
    for (unsigned i = 0, n = atomic_load_explicit(&((twill_pool *)pool)->slots,
                                                  memory_order_acquire);
         i < n; i++)
        add_counters(out, &pool->workers[i]);
    /* relaxed: a statistic. */
    out->tasks_discarded += atomic_load_explicit(&((twill_pool *)pool)->outside_discards,
                                                 memory_order_relaxed);
    return 0;
}

/* ---------------------------------------------------------- identity -- */

int twill_worker_id(void)
{
    twill__worker *w = twill__self();
    return w != NULL ? (int)w->id : -1;
}

twill_pool *twill_current_pool(void)
{
    twill__worker *w = twill__self();
    return w != NULL ? w->pool : NULL;
}

const char *twill_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case EINVAL: return "invalid argument";
    case ENOMEM: return "out of memory";
    case EAGAIN: return "try again (queue full, or a worker thread could not be started)";
    case ETIMEDOUT: return "timed out";
    case ECANCELED: return "canceled";
    case ESHUTDOWN: return "pool is shutting down";
    case EDEADLK: return "would deadlock (called from the pool's own worker)";
    case EBUSY: return "busy";
    case EOWNERDEAD: return "pool belongs to the parent process (used after fork)";
    default: return "unknown error";
    }
}

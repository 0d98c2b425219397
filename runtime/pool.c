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
#include "job.h"
#include "wait.h"
#include "worker.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "quota.h"

/* Worker stack: 8 MiB, enough for a 10,000-deep join or group chain with
   room to spare (~300 bytes a level when optimised); only touched pages are
   committed.  AddressSanitizer's redzones and unoptimised frames take
   several times more, so its builds get four times the stack. */
#if defined(__SANITIZE_ADDRESS__)
#define TWILL__WORKER_STACK ((size_t)32 << 20)
#else
#define TWILL__WORKER_STACK ((size_t)8 << 20)
#endif

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
    if (pool->workers != NULL) {
        for (unsigned i = 0; i < pool->nworkers; i++)
            twill__free_list_clear(&pool->workers[i].free);
        free(pool->workers);
    }
    twill__trace_destroy(pool->trace);
    twill__topo_destroy(pool->topo);
    if (twill__pool_usable(pool) == 0) /* see sched_central.c's destroy */
        pthread_mutex_destroy(&pool->shutdown_lock);
    free(pool);
}

static int init_workers(twill_pool *pool)
{
    size_t bytes = pool->nworkers * sizeof(twill__worker);
    bytes = (bytes + TWILL_CACHE_LINE - 1) / TWILL_CACHE_LINE * TWILL_CACHE_LINE;
    pool->workers = aligned_alloc(TWILL_CACHE_LINE, bytes);
    if (pool->workers == NULL)
        return ENOMEM;
    memset(pool->workers, 0, bytes);
    for (unsigned i = 0; i < pool->nworkers; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].id = i;
    }
    return 0;
}

/* Set `closing` (and `stopped` when the workers must leave at once), wake
   every worker and join the first n.  seq_cst stores: read by idle workers
   after their announce (sched_steal.c, park). */
static void close_and_join(twill_pool *pool, bool stop_now, unsigned n)
{
    atomic_store_explicit(&pool->closing, true, memory_order_seq_cst);
    if (stop_now)
        atomic_store_explicit(&pool->stopped, true, memory_order_seq_cst);
    pool->ops->wake_all(pool);
    for (unsigned i = 0; i < n; i++)
        pthread_join(pool->workers[i].thread, NULL);
}

static int start_workers(twill_pool *pool)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return ENOMEM;
    pthread_attr_setstacksize(&attr, TWILL__WORKER_STACK);
    int rc = 0;
    for (unsigned i = 0; i < pool->nworkers && rc == 0; i++) {
        rc = pthread_create(&pool->workers[i].thread, &attr, twill__worker_main,
                            &pool->workers[i]);
        if (rc == 0)
            pool->started++;
    }
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        close_and_join(pool, true, pool->started); /* stop those started so far */
        return EAGAIN;
    }
    return 0;
}

/* workers = 0: one per allowed core (topology.c), but no more than the
   cgroup's CPU quota gives time for (quota.c), at least 1. */
static unsigned default_workers(const twill__topo *topo)
{
    unsigned n = twill__topo_default_workers(topo), q = twill__quota_cpus();
    return q != 0 && q < n ? q : n;
}

/* With a trace path: the trace and every worker's ring, before the
   policy's create (which reads them, sched_steal.c). */
static int start_trace(twill_pool *pool, const twill_config *cfg, size_t cap)
{
    if (cfg->trace_path == NULL || cfg->trace_path[0] == '\0')
        return 0;
    char topo[512];
    twill__topo_describe(pool->topo, topo, sizeof topo);
    size_t events = cfg->trace_events != 0 ? cfg->trace_events : TWILL_TRACE_EVENTS_DEFAULT;
    if (twill__trace_create(&pool->trace, cfg, twill__pow2_ceil(events), pool->nworkers, cap,
                            topo) != 0)
        return ENOMEM;
    for (unsigned i = 0; i < pool->nworkers; i++)
        if ((pool->workers[i].trace = twill__trace_ring_for(pool->trace, i)) == NULL)
            return ENOMEM;
    return 0;
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
    pool->nworkers = cfg->workers != 0 ? cfg->workers : default_workers(pool->topo);
    if (pool->nworkers > TWILL_MAX_WORKERS) /* a default on a huge machine */
        pool->nworkers = TWILL_MAX_WORKERS;
    rc = init_workers(pool);
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
    if (start_trace(pool, cfg, cap) != 0)
        return ENOMEM;
    pool->ops = twill__sched_policy(cfg->scheduler);
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
        rc = start_workers(pool);
    if (rc != 0) {
        free_pool(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

unsigned twill_pool_size(const twill_pool *pool)
{
    return pool != NULL ? pool->nworkers : 0;
}

/* ------------------------------------------------------------- trace -- */

/* The trace and every worker's counters to path (trace.c). */
static int write_trace(twill_pool *pool, const char *path)
{
    twill_stats *stats = malloc(pool->nworkers * sizeof *stats);
    if (stats == NULL)
        return ENOMEM;
    for (unsigned i = 0; i < pool->nworkers; i++)
        twill_pool_stats(pool, (int)i, &stats[i]);
    int rc = twill__trace_write(pool->trace, path, stats, pool->nworkers);
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
    return twill__submit_job(pool, prio, &job, timeout_ns);
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
    rc = twill__submit_job(pool, TWILL_PRIO_NORMAL, &job, -1);
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
    close_and_join(pool, false, pool->nworkers);
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

static void add_counters(twill_stats *s, const twill__counters *c)
{
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
    uint64_t inline_halves = atomic_load_explicit(&c->joins_inline, memory_order_relaxed);
    s->tasks_run += inline_halves;
    s->spawns += inline_halves;
#undef TWILL__ADD
}

int twill_pool_stats(const twill_pool *pool, int worker, twill_stats *out)
{
    if (pool == NULL || out == NULL || worker < -1 || worker >= (int)pool->nworkers)
        return EINVAL;
    int rc = twill__pool_usable(pool);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof *out);
    out->queued = pool->ops->queued((twill_pool *)pool) +
                  twill__prioq_external(&((twill_pool *)pool)->high) +
                  twill__prioq_external(&((twill_pool *)pool)->low);
    if (worker >= 0) {
        add_counters(out, &pool->workers[worker].stats);
        return 0;
    }
    for (unsigned i = 0; i < pool->nworkers; i++)
        add_counters(out, &pool->workers[i].stats);
    /* relaxed: a statistic. */
    out->tasks_discarded += atomic_load_explicit(&((twill_pool *)pool)->outside_discards,
                                                 memory_order_relaxed);
    return 0;
}

/* ---------------------------------------------------------- identity -- */

int twill_worker_id(void)
{
    return twill__self != NULL ? (int)twill__self->id : -1;
}

twill_pool *twill_current_pool(void)
{
    return twill__self != NULL ? twill__self->pool : NULL;
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

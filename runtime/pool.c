/*
 * pool.c — configuration, pool creation, submission from any thread,
 * twill_run, shutdown, statistics and error names.
 *
 * Taken or not.  An outside submit is taken by one atomic step that
 * shutdown can also make fail: the CAS on the injector's tail, which fails
 * once shutdown has set its CLOSED bit (stealing), or the enqueue under the
 * central queue's lock, which checks `state` (central).  So either the
 * submitter takes nothing (ESHUTDOWN), or its job entered the queue before
 * shutdown closed it.  Only then does shutdown set `closing`, after which
 * workers terminate once every queue is empty (a claimed but not yet
 * written injector cell counts as non-empty), so every job in a queue is
 * run (DRAIN) or discarded (CANCEL) before the workers exit.
 *
 * Who may call what: everything here from any thread, except that shutdown
 * from the pool's own worker returns EDEADLK and destroy must be the last
 * use of the pool.
 */
#include "pool.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Initial deque capacity: a fork-join recursion of depth 256 needs no
   growth; deeper ones grow once or twice. */
#define TWILL__DEQUE_INITIAL 256
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

void twill_config_init(twill_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->pin = TWILL_PIN_CORES;
    cfg->scheduler = TWILL_SCHED_STEALING;
    const char *v = getenv("TWILL_WORKERS");
    if (v != NULL && *v >= '0' && *v <= '9') {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*end == '\0' && n >= 1 && n <= TWILL_MAX_WORKERS)
            cfg->workers = (unsigned)n;
    }
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
}

static int validate(const twill_config *cfg)
{
    if (cfg->workers > TWILL_MAX_WORKERS || cfg->queue_capacity > TWILL_MAX_QUEUE_CAPACITY)
        return EINVAL;
    if ((unsigned)cfg->pin > TWILL_PIN_NONE || (unsigned)cfg->scheduler > TWILL_SCHED_CENTRAL)
        return EINVAL;
    return 0;
}

/* ------------------------------------------------------------ create -- */

static void free_pool(twill_pool *pool)
{
    if (pool->workers != NULL) {
        for (unsigned i = 0; i < pool->nworkers; i++) {
            twill__worker *w = &pool->workers[i];
            while (w->free_list != NULL) {
                twill__task *t = w->free_list;
                w->free_list = t->next;
                free(t);
            }
            free(w->victims);
            twill__deque_destroy(&w->dq);
        }
        free(pool->workers);
    }
    twill__central_destroy(pool);
    twill__injector_destroy(&pool->inj);
    twill__topo_destroy(pool->topo);
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
        twill__worker *w = &pool->workers[i];
        w->pool = pool;
        w->work_ev = pool->sched == TWILL_SCHED_STEALING ? &pool->work_ev : NULL;
        w->id = i;
        w->rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ (uintptr_t)pool;
        w->victims = malloc((pool->nworkers > 1 ? pool->nworkers - 1 : 1) * sizeof *w->victims);
        if (w->victims == NULL || twill__deque_init(&w->dq, TWILL__DEQUE_INITIAL) != 0)
            return ENOMEM;
        twill__topo_victims(pool->topo, i, pool->nworkers, w->rng, w->victims);
    }
    return 0;
}

/* Set `closing` (and `stopped` when the workers must leave at once), wake
   every worker and join the first n.  seq_cst stores: read by idle workers
   after their announce (worker.c, park). */
static void close_and_join(twill_pool *pool, bool stop_now, unsigned n)
{
    atomic_store_explicit(&pool->closing, true, memory_order_seq_cst);
    if (stop_now)
        atomic_store_explicit(&pool->stopped, true, memory_order_seq_cst);
    twill__event_notify_all(&pool->work_ev);
    if (pool->central != NULL)
        twill__central_wake_all(pool);
    for (unsigned i = 0; i < n; i++)
        pthread_join(pool->workers[i].thread, NULL);
}

/* Stop and join the workers started so far (create failed halfway). */
static void abort_start(twill_pool *pool)
{
    close_and_join(pool, true, pool->started);
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
        abort_start(pool);
        return EAGAIN;
    }
    return 0;
}

static int build_pool(twill_pool *pool, const twill_config *cfg)
{
    pool->sched = cfg->scheduler;
    pool->pin = cfg->pin;
    pool->discard = cfg->discard;
    pool->discard_ctx = cfg->discard_ctx;
    snprintf(pool->name, 11, "%s", cfg->name != NULL ? cfg->name : "twill");
    pthread_mutex_init(&pool->shutdown_lock, NULL);
    twill__event_init(&pool->work_ev, true);
    twill__event_init(&pool->space_ev, true);
    int rc = twill__topo_create(&pool->topo, cfg->pin);
    if (rc != 0)
        return rc;
    pool->nworkers = cfg->workers != 0 ? cfg->workers : twill__topo_default_workers(pool->topo);
    if (pool->nworkers > TWILL_MAX_WORKERS) /* a default on a huge machine */
        pool->nworkers = TWILL_MAX_WORKERS;
    size_t cap = cfg->queue_capacity != 0 ? cfg->queue_capacity : TWILL_DEFAULT_QUEUE_CAPACITY;
    if (pool->sched == TWILL_SCHED_CENTRAL) {
        size_t pow2 = 1; /* same rounding as the injector */
        while (pow2 < cap)
            pow2 <<= 1;
        rc = twill__central_create(pool, pow2);
    } else {
        rc = twill__injector_init(&pool->inj, cap);
    }
    if (rc == 0)
        rc = init_workers(pool);
    return rc;
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

/* ------------------------------------------------------------ submit -- */

/* Yields of a submitter that found the injector full before it sleeps. */
#define INJECT_SPINS 64

/* Outside thread, stealing scheduler: enqueue into the injector, waiting for
   space as timeout_ns says.  A closed injector (shutdown) refuses. */
static int inject(twill_pool *pool, const twill__job *job, int64_t timeout_ns)
{
    int64_t deadline = timeout_ns > 0 ? twill__deadline(timeout_ns) : 0;
    int spins = 0;
    for (;;) {
        twill__inj_result r = twill__injector_try_push(&pool->inj, job);
        if (twill_likely(r == TWILL__INJ_PUSHED)) {
            twill__event_notify(&pool->work_ev);
            return 0;
        }
        if (r == TWILL__INJ_CLOSED)
            return ESHUTDOWN;
        if (timeout_ns == 0)
            return EAGAIN;
        /* Full: retry a while before sleeping.  A stream of submissions to
           busy workers finds a slot within a few yields, so it pays neither
           a sleep nor, on every pop meanwhile, the workers' wake-up call. */
        if (spins < INJECT_SPINS) {
            spins++;
            sched_yield();
            continue;
        }
        uint32_t key = twill__event_prepare(&pool->space_ev);
        /* The re-check after our announce: a consumer that frees a cell, or
           shutdown closing the queue, wakes us after this (park.c). */
        r = twill__injector_try_push(&pool->inj, job);
        if (r != TWILL__INJ_FULL) {
            twill__event_cancel(&pool->space_ev);
            if (r == TWILL__INJ_CLOSED)
                return ESHUTDOWN;
            twill__event_notify(&pool->work_ev);
            return 0;
        }
        int64_t left = -1;
        if (timeout_ns > 0) {
            left = deadline - twill__now_ns();
            if (left <= 0) {
                twill__event_cancel(&pool->space_ev);
                return ETIMEDOUT;
            }
        }
        twill__event_wait(&pool->space_ev, key, left);
    }
}

/* Can a worker of pool submit or spawn now?  0 or ESHUTDOWN. */
int twill__accepts_inside(const twill_pool *pool)
{
    /* acquire: pairs with shutdown's store of state. */
    return atomic_load_explicit(&pool->state, memory_order_acquire) == TWILL__CANCELLING
               ? ESHUTDOWN
               : 0;
}

int twill__submit_job(twill_pool *pool, const twill__job *job, int64_t timeout_ns)
{
    twill__worker *w = twill__self_in(pool);
    if (w != NULL) {
        int rc = twill__accepts_inside(pool);
        return rc != 0 ? rc : twill__push_job(w, job);
    }
    /* Outside: the queue itself decides "taken or not" against shutdown
       (the injector's CLOSED bit, the central queue's lock). */
    return pool->sched == TWILL_SCHED_CENTRAL
               ? twill__central_push_external(pool, job, timeout_ns)
               : inject(pool, job, timeout_ns);
}

int twill_submit_for(twill_pool *pool, twill_fn fn, void *arg, int64_t timeout_ns)
{
    if (pool == NULL || fn == NULL)
        return EINVAL;
    twill__job job = {.fn = fn, .arg = arg, .ctl = NULL, .kind = TWILL__JOB_PLAIN};
    return twill__submit_job(pool, &job, timeout_ns);
}

int twill_submit(twill_pool *pool, twill_fn fn, void *arg)
{
    return twill_submit_for(pool, fn, arg, -1);
}

int twill_run(twill_pool *pool, twill_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL)
        return EINVAL;
    if (twill__self_in(pool) != NULL)
        return fn(arg);
    twill__run_ctl ctl;
    atomic_init(&ctl.done, 0);
    ctl.result = 0;
    twill__job job = {.fn = fn, .arg = arg, .ctl = &ctl, .kind = TWILL__JOB_RUN};
    int rc = twill__submit_job(pool, &job, -1);
    if (rc != 0)
        return rc;
    /* acquire: pairs with the worker's release store of done. */
    while (atomic_load_explicit(&ctl.done, memory_order_acquire) == 0)
        syscall(SYS_futex, &ctl.done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return ctl.result;
}

/* ---------------------------------------------------------- shutdown -- */

int twill_pool_shutdown(twill_pool *pool, twill_stop how, size_t *discarded)
{
    if (pool == NULL || (how != TWILL_DRAIN && how != TWILL_CANCEL))
        return EINVAL;
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
    if (pool->central == NULL)
        twill__injector_close(&pool->inj);
    twill__event_notify_all(&pool->space_ev); /* blocked submitters: refused */
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
    twill_pool_shutdown(pool, TWILL_DRAIN, NULL);
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
#undef TWILL__ADD
}

int twill_pool_stats(const twill_pool *pool, int worker, twill_stats *out)
{
    if (pool == NULL || out == NULL || worker < -1 || worker >= (int)pool->nworkers)
        return EINVAL;
    memset(out, 0, sizeof *out);
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

/* Outside submissions queued now (a hint, for tests and diagnostics). */
size_t twill__pool_queued(twill_pool *pool)
{
    if (pool->sched == TWILL_SCHED_CENTRAL)
        return twill__central_external(pool);
    /* acquire: pairs with the producers' and consumers' CAS. */
    uint64_t t = atomic_load_explicit(&pool->inj.tail, memory_order_acquire) &
                 ~TWILL__INJ_CLOSED_BIT;
    uint64_t h = atomic_load_explicit(&pool->inj.head, memory_order_acquire);
    return t > h ? (size_t)(t - h) : 0;
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
    case EAGAIN: return "queue full (try again)";
    case ETIMEDOUT: return "timed out";
    case ECANCELED: return "canceled";
    case ESHUTDOWN: return "pool is shutting down";
    case EDEADLK: return "would deadlock (called from the pool's own worker)";
    case EBUSY: return "busy";
    default: return "unknown error";
    }
}

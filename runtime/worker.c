/*
 * worker.c — a worker thread: name it, pin it, then find and run tasks
 * until the scheduler says the pool has terminated.  What a worker looks
 * for and how it idles is its scheduler's business (sched.h); what running
 * a task means is job.c's.
 *
 * It also keeps the library's hidden global state: the calling thread's
 * worker (thread-local) and the fork generation (pool.c's fork() rule).
 *
 * Worker hooks (twill_config's on_worker_start/on_worker_stop) run in
 * twill__worker_main, once each per thread: start before its first task,
 * stop after its last.
 *
 * Leaving.  A worker leaves the pool, between tasks, when a shrinking
 * resize asks it to (leave_from) or, on an elastic pool, when it is an
 * extra worker that found no work for the idle timeout; always the
 * highest id first (leave).  Starting workers is elastic.c's.
 *
 * Who may call what: twill__worker_main is the thread's start routine
 * (pool.c); it runs on worker w only.  twill__fork_watch: any thread.
 */
#include "worker.h"

#include <stdio.h>

#include "os.h"
#include "wait.h"

/* A thread that is no worker: pos >= limit 0 sends its push, and
   pos - 1023 < TWILL__SPLIT_TRIP the rest of its join, to the cold paths
   (join.c), which never write here. */
struct twill__fast twill__outside = {.pos = TWILL__POS_COLD, .limit = 0,
                                     .split = TWILL__SPLIT_TRIP};
__thread struct twill__fast *TWILL__ABI(self) = &twill__outside;
_Atomic unsigned twill__fork_gen;

/* In the child of a fork(), on its only thread: no worker survived, so
   that thread is none of them, and every pool it inherited is stale.
   relaxed: the child has one thread right now. */
static void forked_child(void)
{
    TWILL__ABI(self) = &twill__outside;
    atomic_fetch_add_explicit(&twill__fork_gen, 1, memory_order_relaxed);
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, forked_child);
}

unsigned twill__fork_watch(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    return atomic_load_explicit(&twill__fork_gen, memory_order_relaxed);
}

static void set_thread_name(twill__worker *w)
{
    char name[24]; /* the kernel keeps 15 characters: prefix (<= 10) + id */
    snprintf(name, sizeof name, "%s-%u", w->pool->name, w->id);
    name[15] = '\0';
    pthread_setname_np(pthread_self(), name);
}

/* How long worker w may idle before it offers to leave: only an elastic
   pool's extra workers (id >= base) do; the others park without limit.
   relaxed: base changes under shutdown_lock, re-checked by leave. */
static int64_t idle_timeout(const twill__worker *w)
{
    return w->id >= atomic_load_explicit(&w->pool->base, memory_order_relaxed)
               ? w->pool->idle_timeout_ns
               : -1;
}

/* Worker w, between tasks: leave the pool if it is asked to (a shrinking
   resize) or, timed_out, if it is an extra worker that idled for the idle
   timeout, and if it is its turn: the highest id, so that ids stay
   0..size-1.  Under shutdown_lock, which every change of size, every
   broadcast post and shutdown's state change take, and which a worker
   holds only with its mailbox empty (twill__wait_lock): no broadcast
   share of ours is pending or can be posted, and the pool still runs.  We
   hand our tasks over, step size down (release: pairs with the acquire
   loads of size; the other workers rebuild their victim order), wake the
   resize that waits on size, and wake every sleeper: the next worker in
   line may leave now.  Our thread is joined by whoever reuses the slot,
   a resize, or shutdown.  true: w has left.  A task run while waiting for
   the lock may leave private group tasks behind, which only w can run:
   twill__wait_lock runs them before it takes the lock. */
static bool leave(twill__worker *w, bool timed_out)
{
    twill_pool *pool = w->pool;
    if (twill__wait_lock(pool, w) != 0)
        return false;
    uint32_t size = atomic_load_explicit(&pool->size, memory_order_relaxed);
    bool go = w->id + 1 == size &&
              (twill__sched_must_leave(w) ||
               (timed_out && w->id >= atomic_load_explicit(&pool->base, memory_order_relaxed)));
    if (go) {
        pool->ops->hand_over(w);
        atomic_store_explicit(&pool->size, size - 1, memory_order_release);
        atomic_fetch_add_explicit(&pool->size_gen, 1, memory_order_release);
        twill__futex_wake(&pool->size, INT32_MAX);
        pool->ops->wake_all(pool);
    }
    pthread_mutex_unlock(&pool->shutdown_lock);
    if (go)
        twill__free_list_clear(&w->free);
    return go;
}

void *twill__worker_main(void *arg)
{
    static const twill__want loop = {TWILL__FIND_LOOP, -1, NULL};
    twill__worker *w = arg;
    TWILL__ABI(self) = &w->fast;
    set_thread_name(w);
    if (twill__topo_bind(w->pool->topo, w->id) != 0)
        TWILL__COUNT(w, bind_failures, 1);
    /* A short slice, so that a producer may wake this worker onto its own
       busy CPU (park.c, "Short slices"); best effort, as the pinning. */
    twill__sleeper_thread_init();
    /* The hooks run here, on the worker's own thread with twill__self()
       set (so twill_worker_id() is w->id inside them): start before the
       first find, stop after the loop has left for good. */
    if (w->pool->on_worker_start != NULL)
        w->pool->on_worker_start(w->id, w->pool->hook_ctx);
    /* relaxed: a hint for elastic growth (sched.h). */
    atomic_fetch_sub_explicit(&w->pool->starting, 1, memory_order_relaxed);
    twill__found f;
    for (;;) {
        /* One relaxed load between tasks; a broadcast share is answered
           first (find takes it), and so are private group tasks a task
           left behind (twill__sched_holds_none). */
        if (twill__sched_leave_now(w) && !twill__mailbox_full(w) && twill__sched_holds_none(w) &&
            leave(w, false))
            break;
        if (!twill__sched_find(w, &loop, &f)) {
            twill__free_list_idle(&w->free);
            int r = w->pool->ops->idle(w, &f, idle_timeout(w));
            if (r == TWILL__IDLE_STOP || (r == TWILL__IDLE_LEAVE && leave(w, true)))
                break;
            if (r == TWILL__IDLE_LEAVE)
                continue;
        }
        twill__run_found(w, &f);
    }
    if (w->pool->on_worker_stop != NULL)
        w->pool->on_worker_stop(w->id, w->pool->hook_ctx);
    twill__trace_stop(w->trace);
    TWILL__ABI(self) = &twill__outside;
    return NULL;
}

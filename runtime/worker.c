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
 * Who may call what: twill__worker_main is the thread's start routine
 * (pool.c); it runs on worker w only.  twill__fork_watch: any thread.
 */
#include "worker.h"

#include <stdio.h>

#include "job.h"

_Thread_local twill__worker *twill__self;
_Atomic unsigned twill__fork_gen;

/* In the child of a fork(), on its only thread: no worker survived, so
   that thread is none of them, and every pool it inherited is stale.
   relaxed: the child has one thread right now. */
static void forked_child(void)
{
    twill__self = NULL;
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

void *twill__worker_main(void *arg)
{
    static const twill__want loop = {TWILL__FIND_LOOP, -1, NULL};
    twill__worker *w = arg;
    twill__self = w;
    set_thread_name(w);
    if (twill__topo_bind(w->pool->topo, w->id) != 0)
        TWILL__COUNT(w, bind_failures, 1);
    /* The hooks run here, on the worker's own thread with twill__self
       set (so twill_worker_id() is w->id inside them): start before the
       first find, stop after the loop has left for good. */
    if (w->pool->on_worker_start != NULL)
        w->pool->on_worker_start(w->id, w->pool->hook_ctx);
    twill__found f;
    for (;;) {
        if (!twill__sched_find(w, &loop, &f)) {
            twill__free_list_idle(&w->free);
            if (w->pool->ops->idle(w, &f))
                break;
        }
        twill__run_found(w, &f);
    }
    if (w->pool->on_worker_stop != NULL)
        w->pool->on_worker_stop(w->id, w->pool->hook_ctx);
    twill__trace_stop(w->trace);
    twill__self = NULL;
    return NULL;
}

/*
 * bench/mutexpool.c — the classic thread pool, impl "mutexpool": the
 * baseline that twill's external submission is compared with.  One FIFO ring
 * of 4096 slots (twill's default injector bound) under one mutex, a condvar
 * for idle workers and one for submitters blocked on a full ring; a submit
 * signals a worker only when one is waiting (as libuv's threadpool does).
 * It provides the submission half of par.h only (par_submit, and par_run as
 * a submit plus a wait on a condition variable; no join, group or sum), so
 * it is linked into the submission workload and the sleeping-pool probes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"

#define RING_SLOTS 4096

typedef struct job {
    par_fn fn;
    void  *arg;
} job;

/* Every field is read and written with lock held, except threads/nthreads
   (main thread only, in par_start/par_stop). */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t  not_empty; /* idle workers wait here */
    pthread_cond_t  not_full;  /* submitters wait here while the ring is full */
    job             ring[RING_SLOTS];
    uint64_t        head, tail; /* next slot to take / to fill; tail - head queued */
    unsigned        idle, blocked;
    bool            stopping;
    pthread_t      *threads;
    unsigned        nthreads;
} mp = {.lock = PTHREAD_MUTEX_INITIALIZER,
        .not_empty = PTHREAD_COND_INITIALIZER,
        .not_full = PTHREAD_COND_INITIALIZER};

static _Thread_local int worker_index = -1;

const char par_impls[] = "mutexpool";

/* Worker loop: take jobs in FIFO order; exit once stopping and drained. */
static void *worker(void *arg)
{
    worker_index = (int)(intptr_t)arg;
    pthread_mutex_lock(&mp.lock);
    for (;;) {
        while (mp.head == mp.tail && !mp.stopping) {
            mp.idle++;
            pthread_cond_wait(&mp.not_empty, &mp.lock);
            mp.idle--;
        }
        if (mp.head == mp.tail)
            break;
        job j = mp.ring[mp.head++ % RING_SLOTS];
        if (mp.blocked)
            pthread_cond_signal(&mp.not_full);
        pthread_mutex_unlock(&mp.lock);
        j.fn(j.arg);
        pthread_mutex_lock(&mp.lock);
    }
    pthread_mutex_unlock(&mp.lock);
    return NULL;
}

int par_start(const char *impl, unsigned workers, bool external)
{
    (void)external;
    if (strcmp(impl, par_impls))
        return ENOTSUP;
    mp.threads = calloc(workers, sizeof *mp.threads);
    if (!mp.threads)
        return ENOMEM;
    mp.stopping = false;
    for (mp.nthreads = 0; mp.nthreads < workers; mp.nthreads++) {
        int rc = pthread_create(&mp.threads[mp.nthreads], NULL, worker,
                                (void *)(intptr_t)mp.nthreads);
        if (rc) {
            par_stop();
            return rc;
        }
    }
    return 0;
}

/* Drain, then join every worker. */
void par_stop(void)
{
    pthread_mutex_lock(&mp.lock);
    mp.stopping = true;
    pthread_cond_broadcast(&mp.not_empty);
    pthread_mutex_unlock(&mp.lock);
    for (unsigned i = 0; i < mp.nthreads; i++)
        pthread_join(mp.threads[i], NULL);
    free(mp.threads);
    mp.threads = NULL;
    mp.nthreads = 0;
}

int par_submit(par_fn fn, void *arg)
{
    pthread_mutex_lock(&mp.lock);
    while (mp.tail - mp.head == RING_SLOTS) {
        mp.blocked++;
        pthread_cond_wait(&mp.not_full, &mp.lock);
        mp.blocked--;
    }
    mp.ring[mp.tail++ % RING_SLOTS] = (job){fn, arg};
    if (mp.idle)
        pthread_cond_signal(&mp.not_empty);
    pthread_mutex_unlock(&mp.lock);
    return 0;
}

/* twill_run's counterpart in the classic pool: submit, then wait on a
   condition variable of the call's own until the task has run. */
typedef struct run_call {
    par_fn fn;
    void *arg;
    int rc;
    bool done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} run_call;

static int run_call_task(void *p)
{
    run_call *c = p;
    int rc = c->fn(c->arg);
    pthread_mutex_lock(&c->mu);
    c->rc = rc;
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int par_run(par_fn fn, void *arg)
{
    run_call c = {.fn = fn, .arg = arg};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    int rc = par_submit(run_call_task, &c);
    pthread_mutex_lock(&c.mu);
    while (rc == 0 && !c.done)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    return rc != 0 ? rc : c.rc;
}

int par_worker_index(void)
{
    return worker_index;
}

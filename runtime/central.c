/*
 * central.c — the central-queue scheduler: one FIFO of task records under
 * one mutex, idle workers on one condition variable.  This is the classic
 * thread pool, kept behind the same API so the two can be compared.
 *
 * Who may call what: every function, any thread; all state below is
 * protected by `lock`, except `length`, which is also read without it as a
 * demand hint.
 *
 * Invariants
 *   - The FIFO is a doubly-linked list of records, so a joiner can take its
 *     own b back out in O(1) (twill__central_remove) when nobody started it.
 *   - `external` counts queued records submitted from outside threads and
 *     never exceeds `capacity`: the bound applies to outside submissions
 *     only; pushes from the pool's own workers never block.
 *   - A record is linked iff its `queued` field is nonzero (1: pushed by a
 *     worker, 2: submitted from outside).
 *   - Idle workers take the oldest record (FIFO, the classic pool); a worker
 *     that helps while it waits (join, group) takes the newest, which is
 *     usually its own child.  Helping from the head would run unrelated
 *     tasks that wait in turn, nesting without bound: a 1-worker nqueens
 *     overflowed its stack that way.
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

struct twill__central {
    pthread_mutex_t lock;
    pthread_cond_t work;        /* idle workers wait here */
    pthread_cond_t space;       /* outside submitters wait here while full */
    twill__task *head, *tail;   /* FIFO: pop at head, push at tail */
    size_t external, capacity;  /* see invariants */
    unsigned idle;              /* workers waiting on `work` */
    _Atomic size_t length;      /* queued records; written under lock */
};

int twill__central_create(twill_pool *pool, size_t capacity)
{
    twill__central *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ENOMEM;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->work, NULL);
    pthread_cond_init(&c->space, &attr);
    pthread_condattr_destroy(&attr);
    c->capacity = capacity;
    atomic_init(&c->length, 0);
    pool->central = c;
    return 0;
}

void twill__central_destroy(twill_pool *pool)
{
    twill__central *c = pool->central;
    if (c == NULL)
        return;
    pthread_cond_destroy(&c->space);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->lock);
    free(c);
    pool->central = NULL;
}

/* Lock held. */
static void link_tail(twill__central *c, twill__task *t, uint8_t how)
{
    t->next = NULL;
    t->prev = c->tail;
    if (c->tail != NULL)
        c->tail->next = t;
    else
        c->head = t;
    c->tail = t;
    t->queued = how;
    /* relaxed: a hint for lock-free readers; the lock orders the rest. */
    atomic_store_explicit(&c->length, atomic_load_explicit(&c->length, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (c->idle > 0)
        pthread_cond_signal(&c->work);
}

/* Lock held. */
static void unlink_rec(twill__central *c, twill__task *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        c->head = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    else
        c->tail = t->prev;
    if (t->queued == 2) {
        c->external--;
        pthread_cond_signal(&c->space);
    }
    t->queued = 0;
    atomic_store_explicit(&c->length, atomic_load_explicit(&c->length, memory_order_relaxed) - 1,
                          memory_order_relaxed);
}

void twill__central_push(twill_pool *pool, twill__task *t)
{
    twill__central *c = pool->central;
    pthread_mutex_lock(&c->lock);
    link_tail(c, t, 1);
    pthread_mutex_unlock(&c->lock);
}

/* Lock held.  Wait on `space` until deadline (absolute, CLOCK_MONOTONIC;
   timeout_ns < 0: forever).  Returns 0 or ETIMEDOUT. */
static int wait_space(twill__central *c, int64_t timeout_ns, const struct timespec *deadline)
{
    if (timeout_ns < 0)
        return pthread_cond_wait(&c->space, &c->lock);
    return pthread_cond_timedwait(&c->space, &c->lock, deadline);
}

int twill__central_push_external(twill_pool *pool, const twill__job *job, int64_t timeout_ns)
{
    twill__central *c = pool->central;
    twill__task *t = malloc(sizeof *t);
    if (t == NULL)
        return ENOMEM;
    t->job = *job;
    struct timespec deadline = {0};
    if (timeout_ns > 0) {
        int64_t d = twill__deadline(timeout_ns);
        if (d == INT64_MAX)
            timeout_ns = -1; /* beyond any clock: no limit */
        deadline.tv_sec = d / 1000000000;
        deadline.tv_nsec = d % 1000000000;
    }
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        /* acquire: pairs with the shutdown's state store; shutdown then
           takes this lock to wake us, so the check cannot go stale. */
        if (atomic_load_explicit(&pool->state, memory_order_acquire) != TWILL__RUNNING) {
            rc = ESHUTDOWN;
            break;
        }
        if (c->external < c->capacity) {
            c->external++;
            link_tail(c, t, 2);
            break;
        }
        if (timeout_ns == 0) {
            rc = EAGAIN;
            break;
        }
        /* Any other error than ETIMEDOUT (none is expected with a valid
           deadline) just means: look again. */
        if (wait_space(c, timeout_ns, &deadline) == ETIMEDOUT && c->external >= c->capacity) {
            rc = ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != 0)
        free(t);
    return rc;
}

twill__task *twill__central_pop(twill_pool *pool, bool newest, bool *external)
{
    twill__central *c = pool->central;
    /* relaxed: a hint; an empty queue costs no lock (idle spinning). */
    if (atomic_load_explicit(&c->length, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&c->lock);
    twill__task *t = newest ? c->tail : c->head;
    if (t != NULL) {
        *external = t->queued == 2;
        unlink_rec(c, t);
    }
    pthread_mutex_unlock(&c->lock);
    return t;
}

twill__task *twill__central_pop_group(twill_pool *pool, const void *group, bool *external)
{
    twill__central *c = pool->central;
    if (group == NULL || atomic_load_explicit(&c->length, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&c->lock);
    twill__task *t = c->tail;
    while (t != NULL && !(t->job.kind == TWILL__JOB_GROUP && t->job.ctl == group))
        t = t->prev;
    if (t != NULL) {
        *external = t->queued == 2;
        unlink_rec(c, t);
    }
    pthread_mutex_unlock(&c->lock);
    return t;
}

bool twill__central_remove(twill_pool *pool, twill__task *t)
{
    twill__central *c = pool->central;
    pthread_mutex_lock(&c->lock);
    bool was_queued = t->queued != 0;
    if (was_queued)
        unlink_rec(c, t);
    pthread_mutex_unlock(&c->lock);
    return was_queued;
}

bool twill__central_has_demand(twill_pool *pool)
{
    /* relaxed: a hint for loop splitting. */
    return atomic_load_explicit(&pool->central->length, memory_order_relaxed) == 0;
}

size_t twill__central_external(twill_pool *pool)
{
    twill__central *c = pool->central;
    pthread_mutex_lock(&c->lock);
    size_t n = c->external;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void twill__central_idle(twill__worker *w)
{
    twill_pool *pool = w->pool;
    twill__central *c = pool->central;
    pthread_mutex_lock(&c->lock);
    /* relaxed loads of closing/stopped: both are written under this lock
       (twill__central_wake_all) or by a worker holding it. */
    while (c->head == NULL && !atomic_load_explicit(&pool->stopped, memory_order_relaxed)) {
        if (atomic_load_explicit(&pool->closing, memory_order_relaxed) &&
            c->idle + 1 == pool->nworkers) {
            /* Closed, empty, and every other worker waits here: no running
               task is left to create work.  release: pairs with the acquire
               load in the worker loop. */
            atomic_store_explicit(&pool->stopped, true, memory_order_release);
            pthread_cond_broadcast(&c->work);
            break;
        }
        c->idle++;
        TWILL__COUNT(w, parks, 1);
        pthread_cond_wait(&c->work, &c->lock);
        TWILL__COUNT(w, wakes, 1);
        c->idle--;
    }
    pthread_mutex_unlock(&c->lock);
}

void twill__central_wake_all(twill_pool *pool)
{
    twill__central *c = pool->central;
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->work);
    pthread_cond_broadcast(&c->space);
    pthread_mutex_unlock(&c->lock);
}

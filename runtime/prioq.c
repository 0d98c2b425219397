/*
 * prioq.c — one priority level's queue (prioq.h).
 *
 * Taken or not: an outside submit is taken by the link under the lock,
 * which checks `closed`; close sets it under the same lock, so no submit
 * lands after close returns.  Records pushed by workers are not counted
 * against the bound (pushes from inside never block).
 */
#include "prioq.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "os.h"

enum { QUEUED_INSIDE = 1, QUEUED_OUTSIDE = 2 };

int twill__prioq_init(twill__prioq *q, size_t capacity)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return ENOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->space, &attr);
    pthread_condattr_destroy(&attr);
    q->head = q->tail = NULL;
    q->external = 0;
    q->capacity = capacity;
    q->blocked = 0;
    q->closed = false;
    atomic_init(&q->length, 0);
    return 0;
}

void twill__prioq_destroy(twill__prioq *q)
{
    /* Every record was run or discarded before the workers exited. */
    pthread_cond_destroy(&q->space);
    pthread_mutex_destroy(&q->lock);
}

/* Lock held. */
static void link_tail(twill__prioq *q, twill__task *t, uint8_t how)
{
    t->next = NULL;
    t->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    t->queued = how;
    /* relaxed: a hint for lock-free readers; the lock (or the reader's own
       barrier, prioq.h) orders the rest. */
    atomic_store_explicit(&q->length, atomic_load_explicit(&q->length, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

int twill__prioq_submit(twill__prioq *q, const twill__job *job, int64_t timeout_ns)
{
    twill__task *t = malloc(sizeof *t);
    if (t == NULL)
        return ENOMEM;
    t->job = *job;
    struct timespec deadline = twill__cond_deadline(&timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->closed) {
            rc = ESHUTDOWN;
            break;
        }
        if (q->external < q->capacity) {
            q->external++;
            link_tail(q, t, QUEUED_OUTSIDE);
            break;
        }
        if (timeout_ns == 0) {
            rc = EAGAIN;
            break;
        }
        q->blocked++;
        int w = twill__cond_wait(&q->space, &q->lock, timeout_ns, &deadline);
        q->blocked--;
        if (w == ETIMEDOUT && !q->closed && q->external >= q->capacity) {
            rc = ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&q->lock);
    if (rc != 0)
        free(t);
    return rc;
}

void twill__prioq_push(twill__prioq *q, twill__task *t)
{
    pthread_mutex_lock(&q->lock);
    link_tail(q, t, QUEUED_INSIDE);
    pthread_mutex_unlock(&q->lock);
}

/* Lock held: take t out of q; *outside (if not NULL): was it an outside
   submission? */
static void unlink_rec(twill__prioq *q, twill__task *t, bool *outside)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        q->head = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    else
        q->tail = t->prev;
    if (outside != NULL)
        *outside = t->queued == QUEUED_OUTSIDE;
    if (t->queued == QUEUED_OUTSIDE) {
        q->external--;
        if (q->blocked > 0)
            pthread_cond_signal(&q->space);
    }
    t->queued = 0;
    atomic_store_explicit(&q->length, atomic_load_explicit(&q->length, memory_order_relaxed) - 1,
                          memory_order_relaxed);
}

twill__task *twill__prioq_pop(twill__prioq *q, bool *outside)
{
    if (!twill__prioq_nonempty(q))
        return NULL;
    pthread_mutex_lock(&q->lock);
    twill__task *t = q->head;
    if (t != NULL)
        unlink_rec(q, t, outside);
    pthread_mutex_unlock(&q->lock);
    return t;
}

twill__task *twill__prioq_pop_tag(twill__prioq *q, uint32_t iso, bool *outside)
{
    pthread_mutex_lock(&q->lock);
    twill__task *t = q->head;
    while (t != NULL && t->job.iso != iso)
        t = t->next;
    if (t != NULL)
        unlink_rec(q, t, outside);
    pthread_mutex_unlock(&q->lock);
    return t;
}

void twill__prioq_close(twill__prioq *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->space);
    pthread_mutex_unlock(&q->lock);
}

size_t twill__prioq_external(twill__prioq *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->external;
    pthread_mutex_unlock(&q->lock);
    return n;
}

/*
 * prioq.h — the queue of one non-default priority level (HIGH or LOW):
 * a FIFO of task records under a mutex, with its own bound on records
 * submitted from outside threads and a lock-free length word that workers
 * read before taking the lock.  Both schedulers keep their NORMAL work in
 * their own queues and share these two (sched.h).
 *
 * Rejected: a second and third injector per level.  Pushes from the
 * pool's own workers must never block at any level, and an injector is
 * bounded; a mutex is cheap for work that is rare by design (HIGH) or
 * background (LOW), and `length` keeps the hot path to one load.
 *
 * Who may call what: init/destroy before and after sharing; everything
 * else from any thread.  All fields are protected by `lock`, except
 * `length`, written under it and read without it as a hint.
 */
#ifndef TWILL_PRIOQ_H
#define TWILL_PRIOQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "task.h"

typedef struct twill__prioq {
    /* Written under lock; read by every worker before each task (HIGH),
       so it sits on its own line, away from the lock's. */
    alignas(TWILL_CACHE_LINE) _Atomic size_t length;
    alignas(TWILL_CACHE_LINE) pthread_mutex_t lock;
    pthread_cond_t space;        /* outside submitters wait here while full */
    twill__task *head, *tail;    /* FIFO: pop at head, push at tail */
    size_t external, capacity;   /* outside records queued, and their bound */
    unsigned blocked;            /* submitters waiting on `space` */
    bool closed;                 /* shutdown: outside submits refused */
} twill__prioq;

/* 0 or ENOMEM. */
int twill__prioq_init(twill__prioq *q, size_t capacity);
void twill__prioq_destroy(twill__prioq *q);

/* Outside thread: queue job, waiting for space as timeout_ns says
   (twill_submit_for).  0, EAGAIN, ETIMEDOUT, ESHUTDOWN (closed), ENOMEM. */
int twill__prioq_submit(twill__prioq *q, const twill__job *job, int64_t timeout_ns);

/* A worker of the pool: queue t (already shared).  Never blocks. */
void twill__prioq_push(twill__prioq *q, twill__task *t);

/* Any thread: the oldest record, or NULL; *outside (when not NULL) says
   whether it was submitted from outside. */
twill__task *twill__prioq_pop(twill__prioq *q, bool *outside);

/* Any thread: the oldest record whose isolation tag is iso (an isolated
   wait, sched.h), or NULL.  The caller checks twill__prioq_nonempty first. */
twill__task *twill__prioq_pop_tag(twill__prioq *q, uint32_t iso, bool *outside);

/* Shutdown: refuse outside submits from now on, wake blocked submitters. */
void twill__prioq_close(twill__prioq *q);

/* Outside records queued now. */
size_t twill__prioq_external(twill__prioq *q);

/* Anything queued, at some recent moment?  relaxed: a hint; a caller that
   must not miss a record orders this load itself (a scheduler's re-check
   before it sleeps). */
static inline bool twill__prioq_nonempty(const twill__prioq *q)
{
    return atomic_load_explicit(&((twill__prioq *)q)->length, memory_order_relaxed) != 0;
}

#endif /* TWILL_PRIOQ_H */

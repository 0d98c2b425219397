/*
 * task.h — what the queues carry.
 *
 * A job is a task by value: function, argument, and what to do when it ends
 * (its kind and control block).  The injector and the central queue's
 * external path carry jobs; a task record wraps a job so that it can sit in
 * a Chase-Lev deque or the central FIFO by pointer.
 *
 * Records of join halves live on the joiner's stack; all other records come
 * from per-worker free lists (no malloc once warm) and go back to the free
 * list of whichever worker ran them.
 */
#ifndef TWILL_TASK_H
#define TWILL_TASK_H

#include <stdint.h>

#include "common.h"
#include "twill.h"

/* What happens when a job ends, or is discarded. */
enum {
    TWILL__JOB_PLAIN, /* twill_submit: nothing more */
    TWILL__JOB_GROUP, /* twill_group_spawn: ctl is the group; account for it */
    TWILL__JOB_RUN,   /* twill_run: ctl is a twill__run_ctl; hand back the code */
    TWILL__JOB_JOIN   /* the b half of twill_join: never discarded, never freed */
};

typedef struct twill__job {
    twill_fn fn;
    void *arg;
    void *ctl;     /* group or run control block, per kind */
    unsigned kind; /* TWILL__JOB_* */
} twill__job;

/* States of a join record (the b half).  Written by whoever runs b, read by
   the joiner. */
enum {
    TWILL__JOIN_PENDING = 0, /* b not finished */
    TWILL__JOIN_SLEEPING = 1, /* b not finished and the joiner sleeps on state */
    TWILL__JOIN_DONE = 2     /* b finished; result is valid */
};

typedef struct twill__task {
    twill__job job;
    /* Join records only. */
    _Atomic uint32_t state; /* TWILL__JOIN_*: thief writes DONE, joiner SLEEPING */
    _Atomic int thief;      /* id of the worker that stole it, -1: none yet */
    int result;             /* b's code, published by the DONE store */
    /* Free-list and central FIFO links; owner of the list only. */
    struct twill__task *next, *prev;
    uint8_t queued;         /* central FIFO: 1 while linked in (mutex held) */
} twill__task;

/* Completion of a twill_run: written by the worker, read by the waiter. */
typedef struct twill__run_ctl {
    _Atomic uint32_t done; /* futex word: 0 pending, 1 done */
    int result;            /* fn's code, or ECANCELED; published by done */
} twill__run_ctl;

#endif /* TWILL_TASK_H */

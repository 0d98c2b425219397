/*
 * task.h — what the queues carry.
 *
 * A job is a task by value: function, argument, and what to do when it ends
 * (its kind and control block).  Outside queues carry jobs; a task record
 * wraps a job so that it can sit in a Chase-Lev deque or a FIFO by
 * pointer.
 *
 * Records of join halves live on the joiner's stack; all other records come
 * from per-worker free lists (no malloc once warm) and go back to the free
 * list of whichever worker ran them.
 *
 * Who may call what: a free list is its worker's own (owner only).
 */
#ifndef TWILL_TASK_H
#define TWILL_TASK_H

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common.h"
#include "completion.h"
#include "twill.h"

/* What happens when a job ends, or is discarded (job.c). */
enum {
    TWILL__JOB_PLAIN, /* twill_submit: nothing more */
    TWILL__JOB_GROUP, /* twill_group_spawn: ctl is the group; account for it */
    TWILL__JOB_RUN,   /* twill_run: ctl is a twill__run_ctl; hand back the code */
    TWILL__JOB_GPRIV, /* a group task from its owner's private group stack (sched_steal.h):
                         ctl is the group; account for it in `priv`, not `pending` */
    TWILL__JOB_JOIN,  /* the b half of twill_join: never discarded, never freed */
    TWILL__JOB_BCAST  /* one worker's share of twill_broadcast: ctl is a twill__bcast_ctl;
                         taken from the worker's mailbox, never queued or discarded */
};

typedef struct twill__job {
    twill_fn fn;
    void *arg;
    void *ctl;     /* group or run control block, per kind */
    union {
        struct {
            uint32_t kind; /* TWILL__JOB_* */
            /* Isolation tag (sched.h, "Isolation"): the isolated group
               this job belongs to, directly or through whoever spawned
               it; 0 for none.  A join record's is written only once it
               leaves the private stack. */
            uint32_t iso;
        };
        uint64_t kind_iso; /* both, for twill__job_plain's one test */
    };
} twill__job;

/* A task kind (no broadcast share) without an isolation tag: what runs
   the plain way (job.c).  One compare where the word is little-endian. */
static inline bool twill__job_plain(const twill__job *job)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return job->kind_iso <= TWILL__JOB_JOIN;
#else
    return job->kind <= TWILL__JOB_JOIN && job->iso == 0;
#endif
}

/* 64 bytes: a join's record is its frame on the joiner's stack, and
   twill.h's struct twill__join_frame (job.fn, job.arg, then room) holds
   exactly this much (join.c checks). */
typedef struct twill__task {
    twill__job job;
    /* Free-list and FIFO links; owner of the list only. */
    struct twill__task *next, *prev;
    /* Join records only, from the moment the record can be taken by
       another worker (twill__task_share). */
    _Atomic uint32_t done;  /* completion word (completion.h): 1 until b finished */
    _Atomic int thief;      /* id of the worker that stole it, -1: none yet */
    int result;             /* b's code, published by the finish of `done` */
    uint8_t queued;         /* a FIFO's: nonzero while linked in (its lock held) */
} twill__task;

/* A join record leaves its owner's private reach (a deque, a FIFO): give it the fields a thief and a waiting joiner use.  relaxed:
   published by the queue's own release (deque push, FIFO lock). */
static inline void twill__task_share(twill__task *t)
{
    if (t->job.kind == TWILL__JOB_JOIN) {
        atomic_store_explicit(&t->done, 1, memory_order_relaxed);
        atomic_store_explicit(&t->thief, -1, memory_order_relaxed);
    }
}

/* A group as the runtime sees it; group.c overlays it on the caller's
   twill_group.  `pending` is a completion word (completion.h): tasks
   spawned and not yet finished or discarded, where the owner's private
   tasks count as one (the token) while there are any.

   The owner is the worker that initialised the group (stealing, untraced;
   NULL otherwise).  Its NORMAL spawns outside isolation go to its private
   group stack (sched_steal.h) as TWILL__JOB_GPRIV jobs and are counted in
   `priv`, a plain word only the owner touches: the private tasks not yet
   finished, whether still on the stack or running on the owner.  The
   first one (priv 0 -> 1) adds the token to pending, the last one to end
   (priv 1 -> 0) finishes it, so every other thread sees the group busy
   while any private task is unfinished, and one private task costs no
   read-modify-write.  A private task that leaves the stack for the deque
   (published) becomes a TWILL__JOB_GROUP record counted in pending, by
   twill__group_private_leaves. */
typedef struct twill__group_ctl {
    uint32_t magic;                 /* GROUP_MAGIC once initialised (group.c) */
    _Atomic uint32_t pending;
    _Atomic int first_error;        /* first nonzero task code; CAS from 0 */
    uint32_t iso;                   /* isolation tag (sched.h); 0: a plain group */
    _Atomic bool cancelled;         /* set by cancel or a failing task */
    _Atomic bool skipped;           /* some task was discarded unrun */
    uint32_t priv;                  /* the owner's private tasks (owner only) */
    twill_pool *pool;               /* written by init only */
    const struct twill__fast *owner; /* written by init only; NULL: no private spawns */
} twill__group_ctl;

/* Owner of g only: a private task of g is spawned. */
static inline void twill__group_private_add(twill__group_ctl *g)
{
    if (g->priv++ == 0)
        twill__expect(&g->pending); /* the token */
}

/* Owner of g only: a private task of g ended (ran or was discarded).
   After the last one the group may be gone. */
static inline void twill__group_private_done(twill__group_ctl *g)
{
    if (--g->priv == 0)
        twill__finish(&g->pending); /* the token */
}

/* Owner of g only: a private task of g leaves the private stack as a
   TWILL__JOB_GROUP record, counted in pending before anyone can take it
   (the last one inherits the token).  Undone by twill__group_private_back
   if it could not leave. */
static inline void twill__group_private_leaves(twill__group_ctl *g)
{
    if (--g->priv != 0)
        twill__expect(&g->pending);
}

static inline void twill__group_private_back(twill__group_ctl *g)
{
    if (g->priv++ != 0)
        twill__finish(&g->pending); /* never the last count: the token stays */
}

/* Completion of a twill_run: written by the worker, read by the waiter. */
typedef struct twill__run_ctl {
    _Atomic uint32_t done; /* completion word: 1 until fn finished or was discarded */
    int result;            /* fn's code, or ECANCELED; published by done */
} twill__run_ctl;

/* Spare records of one worker.  Beyond TWILL__FREE_LIST_MAX they are
   freed, so a producer/consumer pattern cannot pile records up on the
   consumer. */
#define TWILL__FREE_LIST_MAX 256
/* Records given back to malloc in one busy period after which a worker,
   going idle, asks glibc to return free pages: glibc trims only a heap's
   top, and a burst's first-freed records (the newest, at the top) stay on
   the free list and in glibc's tcache, pinning everything below (10 M
   spawns kept 784 MB).  64 Ki records, 5 MiB: small bursts never pay the
   trim (30-50 ms for 780 MB). */
#define TWILL__TRIM_AFTER 65536
typedef struct twill__free_list {
    twill__task *head;
    unsigned len;
    uint64_t freed;  /* records free()d since the last twill__free_list_idle */
} twill__free_list;

/* Owner only.  A record, or NULL when out of memory. */
static inline twill__task *twill__task_alloc(twill__free_list *fl)
{
    twill__task *t = fl->head;
    if (twill_likely(t != NULL)) {
        fl->head = t->next;
        fl->len--;
        return t;
    }
    return malloc(sizeof *t);
}

/* Owner only. */
static inline void twill__task_free(twill__free_list *fl, twill__task *t)
{
    if (twill_unlikely(fl->len >= TWILL__FREE_LIST_MAX)) {
        free(t);
        fl->freed++;
        return;
    }
    t->next = fl->head;
    fl->head = t;
    fl->len++;
}

/* Owner only, on its way to idle: give a burst's memory back. */
static inline void twill__free_list_idle(twill__free_list *fl)
{
#ifdef __GLIBC__
    if (twill_unlikely(fl->freed >= TWILL__TRIM_AFTER))
        malloc_trim(0);
#endif
    fl->freed = 0;
}

/* Owner only, once nobody else uses the list. */
static inline void twill__free_list_clear(twill__free_list *fl)
{
    while (fl->head != NULL) {
        twill__task *t = fl->head;
        fl->head = t->next;
        free(t);
    }
    fl->len = 0;
}

#endif /* TWILL_TASK_H */

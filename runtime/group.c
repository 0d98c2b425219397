/*
 * group.c — task groups: spawn any number of tasks, wait for all, cancel,
 * first error wins.
 *
 * The caller owns the group (twill_group, 64 opaque bytes, often on the
 * stack); this file overlays struct group on it.  A group holds no resources
 * between uses, so there is no destroy.
 *
 * The completion word.  `pending` is the futex word: bits 0-30 count tasks
 * spawned and not yet finished or discarded, bit 31 (WAITING) says a waiter
 * sleeps on it.  The last finisher's fetch_sub is its last write to the
 * group; it then calls futex_wake only if the old value had WAITING set, and
 * futex_wake does not write user memory.  So a waiter may return, and its
 * stack frame be reused, the moment the count reaches 0: no finisher touches
 * the group afterwards.  (A separate "sleepers" field or a condition
 * variable would be touched after the count hits zero: rejected.)
 *
 * Who may call what: spawn/cancel/cancelled from any thread; wait from one
 * thread at a time; init when no task is pending (not checked: init never
 * reads the group).  The magic word tells a zeroed group (EINVAL) from an
 * initialised one; memory that was never initialised at all is garbage
 * that no check can tell apart, so using it is undefined (twill.h).
 */
#include "pool.h"

#include <limits.h>
#include <string.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GROUP_MAGIC 0x7477696cu     /* "twil": set by init, 0 in a zeroed group */
#define GROUP_WAITING 0x80000000u   /* a waiter sleeps on pending */
#define GROUP_COUNT 0x7fffffffu     /* pending task count */
/* Failed help attempts before a helping waiter naps on the futex. */
#define GROUP_SPINS 2048
/* Longest nap of a helping waiter: it then looks for work again. */
#define GROUP_NAP_NS 1000000

typedef struct group {
    uint32_t magic;                 /* written by init only */
    _Atomic uint32_t pending;       /* see the file comment */
    _Atomic int first_error;        /* first nonzero task code; CAS from 0 */
    _Atomic bool cancelled;         /* set by cancel or a failing task */
    _Atomic bool skipped;           /* some task was discarded unrun */
    twill_pool *pool;               /* written by init only */
} group;

_Static_assert(sizeof(group) <= sizeof(twill_group), "twill_group too small");
_Static_assert(_Alignof(group) <= _Alignof(twill_group), "twill_group under-aligned");

static group *as_group(twill_group *g)
{
    return (group *)(void *)g;
}

static bool valid(const twill_group *g)
{
    return g != NULL && ((const group *)(const void *)g)->magic == GROUP_MAGIC;
}

int twill_group_init(twill_group *g, twill_pool *pool)
{
    if (g == NULL)
        return EINVAL;
    if (pool == NULL)
        pool = twill_current_pool();
    if (pool == NULL)
        return EINVAL;
    group *gr = as_group(g);
    /* Never read g before writing it: a fresh group on the stack holds
       whatever an earlier frame left there, possibly the bytes of an older
       group (magic and a nonzero count), so any "still busy?" test on it
       would refuse a brand-new group. */
    memset(g, 0, sizeof *g);
    gr->magic = GROUP_MAGIC;
    gr->pool = pool;
    return 0;
}

/* One task of gr finished or was discarded. */
static void finish_one(group *gr)
{
    /* acq_rel: release publishes the task's effects (and first_error) to
       the waiter's acquire load; acquire orders the WAITING read. */
    uint32_t old = atomic_fetch_sub_explicit(&gr->pending, 1, memory_order_acq_rel);
    if ((old & GROUP_COUNT) == 1 && (old & GROUP_WAITING))
        syscall(SYS_futex, &gr->pending, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void twill__group_discarded(void *ctl)
{
    group *gr = ctl;
    /* relaxed: read by the waiter after its acquire of pending. */
    atomic_store_explicit(&gr->skipped, true, memory_order_relaxed);
    finish_one(gr);
}

void twill__group_run(twill__worker *w, const twill__job *job)
{
    group *gr = job->ctl;
    /* acquire: pairs with the release store in cancel. */
    if (atomic_load_explicit(&gr->cancelled, memory_order_acquire)) {
        twill__discard_job(w->pool, w, job);
        return;
    }
    int rc = job->fn(job->arg);
    twill__count_result(w, rc);
    if (rc != 0) {
        int zero = 0;
        /* relaxed: first_error is published by finish_one's release. */
        atomic_compare_exchange_strong_explicit(&gr->first_error, &zero, rc,
                                                memory_order_relaxed, memory_order_relaxed);
        twill_group_cancel((twill_group *)(void *)gr);
    }
    finish_one(gr);
}

int twill_group_spawn(twill_group *g, twill_fn fn, void *arg)
{
    if (!valid(g) || fn == NULL)
        return EINVAL;
    group *gr = as_group(g);
    twill__job job = {.fn = fn, .arg = arg, .ctl = gr, .kind = TWILL__JOB_GROUP};
    twill__worker *w = twill__self_in(gr->pool);
    /* relaxed: counted before the task is published (the push releases). */
    atomic_fetch_add_explicit(&gr->pending, 1, memory_order_relaxed);
    /* A pool that refuses work refuses this spawn too, cancelled group or
       not (DESIGN: after a cancelling shutdown every spawn from anywhere
       returns ESHUTDOWN).  acquire: pairs with shutdown's store of state. */
    if (twill_unlikely(w != NULL ? twill__accepts_inside(gr->pool) != 0
                                 : atomic_load_explicit(&gr->pool->state, memory_order_acquire) !=
                                       TWILL__RUNNING)) {
        finish_one(gr); /* nothing was taken: undo the count */
        return ESHUTDOWN;
    }
    /* acquire: pairs with the release store in cancel. */
    if (twill_unlikely(atomic_load_explicit(&gr->cancelled, memory_order_acquire))) {
        twill__discard_job(gr->pool, w, &job); /* one clean-up path */
        return 0;
    }
    int rc;
    if (w != NULL) /* our own worker: straight to its queue, never blocks */
        rc = twill__accepts_inside(gr->pool) != 0 ? ESHUTDOWN : twill__push_job(w, &job);
    else
        rc = twill__submit_job(gr->pool, &job, -1);
    if (twill_unlikely(rc != 0))
        finish_one(gr); /* nothing was taken: undo the count */
    return rc;
}

/* Is gr complete?  acquire: pairs with finish_one's release. */
static bool done(group *gr)
{
    return (atomic_load_explicit(&gr->pending, memory_order_acquire) & GROUP_COUNT) == 0;
}

/* Sleep until pending changes or nap_ns passes (< 0: no limit). */
static void nap(group *gr, int64_t nap_ns)
{
    uint32_t v = atomic_load_explicit(&gr->pending, memory_order_acquire);
    if ((v & GROUP_COUNT) == 0)
        return;
    /* relaxed CAS: the flag only asks the last finisher for a wake-up; the
       kernel re-checks the word before sleeping. */
    if (!(v & GROUP_WAITING) &&
        !atomic_compare_exchange_strong_explicit(&gr->pending, &v, v | GROUP_WAITING,
                                                 memory_order_relaxed, memory_order_relaxed))
        return; /* changed under us: look again */
    struct timespec ts, *tp = NULL;
    if (nap_ns >= 0) {
        ts.tv_sec = nap_ns / 1000000000;
        ts.tv_nsec = nap_ns % 1000000000;
        tp = &ts;
    }
    syscall(SYS_futex, &gr->pending, FUTEX_WAIT_PRIVATE, v | GROUP_WAITING, tp, NULL, 0);
}

/* The result of a completed group; resets it for reuse.  Spawns may race
   with this (twill.h allows them during a wait), so the reset never writes
   the count: it only clears WAITING, with an RMW that keeps an increment
   landing meanwhile.  (It used to store pending = 0, which erased such an
   increment; that task's finish then drove the count below zero and every
   later wait hung.)  A task spawned while the wait returns thus belongs to
   the next round; its error or skip may be reported by either wait. */
static int collect(group *gr)
{
    int rc = atomic_exchange_explicit(&gr->first_error, 0, memory_order_relaxed);
    if (atomic_exchange_explicit(&gr->skipped, false, memory_order_relaxed) && rc == 0)
        rc = ECANCELED;
    atomic_store_explicit(&gr->cancelled, false, memory_order_relaxed);
    /* relaxed: the flag only asks a finisher for a wake-up, nobody sleeps
       on this round any more. */
    atomic_fetch_and_explicit(&gr->pending, ~GROUP_WAITING, memory_order_relaxed);
    return rc;
}

int twill_group_wait_for(twill_group *g, int64_t timeout_ns)
{
    if (!valid(g))
        return EINVAL;
    group *gr = as_group(g);
    twill__worker *w = twill__self_in(gr->pool);
    int64_t deadline = timeout_ns > 0 ? twill__deadline(timeout_ns) : 0;
    int misses = 0, rc = 0;
    if (w != NULL)
        w->waits++;
    while (!done(gr)) {
        int64_t left = -1;
        if (timeout_ns >= 0) {
            left = timeout_ns == 0 ? 0 : deadline - twill__now_ns();
            if (left <= 0) {
                rc = ETIMEDOUT;
                break;
            }
        }
        if (w != NULL && twill__help_once(w, -1, gr)) {
            misses = 0;
            continue;
        }
        if (w != NULL && ++misses < GROUP_SPINS && !twill__help_restricted(w))
            continue;
        misses = 0;
        int64_t cap = w != NULL ? GROUP_NAP_NS : -1;
        nap(gr, left < 0 ? cap : (cap < 0 || left < cap ? left : cap));
    }
    if (w != NULL)
        w->waits--;
    return rc != 0 ? rc : collect(gr);
}

int twill_group_wait(twill_group *g)
{
    return twill_group_wait_for(g, -1);
}

void twill_group_cancel(twill_group *g)
{
    if (!valid(g))
        return;
    /* release: pairs with the acquire load in twill__group_run. */
    atomic_store_explicit(&as_group(g)->cancelled, true, memory_order_release);
}

bool twill_group_cancelled(const twill_group *g)
{
    if (!valid(g))
        return false;
    /* acquire: pairs with the release store in cancel. */
    return atomic_load_explicit(&((const group *)(const void *)g)->cancelled,
                                memory_order_acquire);
}

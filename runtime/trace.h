/*
 * trace.h — the timeline trace (twill_config.trace_path, $TWILL_TRACE):
 * per-worker rings of fixed-size events, a time split per worker, a
 * locked ring for outside threads, and the Chrome trace-event JSON writer
 * (trace.c).
 *
 * Recording.  Each worker owns one ring (twill__trace_ring): every event
 * is four words stored into the next slot, then the ring's head is
 * published; no lock, no allocation, no write to anything another worker
 * writes.  A full ring overwrites its oldest event; the head says how many
 * were ever recorded, so the file can say how many were dropped.  Spans
 * (a task run, a helping wait, a park) take the clock when they begin and
 * end and are recorded once, at their end, with their start and duration;
 * steals are instants.  Outside submissions go to one more ring under a
 * mutex: they come from any thread, and an outside submit already takes a
 * lock or a CAS on a shared queue, so a per-submitter ring would buy
 * nothing (rejected: one ring per submitting thread, found through a
 * thread-local, which needs registration and clean-up per thread).
 *
 * The time split.  A worker is always in one state: running a task
 * (RUN), in a helping wait that is not running a task (WAIT), parked
 * (PARK), or anything else, which is looking for work (SEARCH: the worker
 * loop's finds and spinning).  A span's begin switches the state and
 * hands the previous one back in the span (on the caller's stack); its end
 * switches back.  So nested spans (a task inside a wait inside a task)
 * charge each nanosecond to the innermost one, and the per-state totals
 * add up to the worker's lifetime, whatever the ring dropped.
 *
 * Reading while workers record (twill__trace_write, any time): the writer
 * copies a ring's slots, then re-reads its head; an event whose slot may
 * have been rewritten meanwhile is dropped from the copy (counted as
 * dropped), so every event in the file is one that was recorded whole.
 * The ordering argument is at put() in trace.c.
 *
 * Clock: CLOCK_MONOTONIC (twill__now_ns), the same for every thread.
 *
 * Who may call what: create/ring_for/destroy by the pool creator (or,
 * for ring_for, whoever starts a worker); enter/leave/begin/end/steal/
 * stop on the ring's worker only (owner only); outside and write from any
 * thread.
 */
#ifndef TWILL_TRACE_H
#define TWILL_TRACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "twill.h"

/* What a worker is doing: the time split. */
enum {
    TWILL__TR_SEARCH, /* none of the others: finding work, spinning */
    TWILL__TR_RUN,    /* running a task (not inside a helping wait it makes) */
    TWILL__TR_WAIT,   /* in a helping wait, between the tasks it runs */
    TWILL__TR_PARK,   /* parked until woken */
    TWILL__TR_STATES,
    TWILL__TR_GONE = TWILL__TR_STATES /* the worker thread has exited */
};

/* Event types. */
enum {
    TWILL__TRE_TASK,  /* span: a task run; what = its function, kind = its job kind */
    TWILL__TRE_WAIT,  /* span: a helping wait; what = 1 + the thief first asked, or 0 */
    TWILL__TRE_PARK,  /* span: parked; aux = 1 when woken by a producer */
    TWILL__TRE_STEAL, /* instant: a steal; what = the victim's id */
    TWILL__TRE_SUBMIT /* outside ring: what = fn, dur = time in the call, aux = thread, rc */
};

/* A task kind besides the job kinds (task.h): one chunk of a loop body,
   inside the join half that runs it; aux = its number of indices. */
#define TWILL__TRACE_CHUNK 15u

/* One event: 32 bytes, two per cache line.  Words are relaxed atomics so
   that the writer may copy a slot while its owner rewrites it (put()). */
typedef struct twill__trace_event {
    _Atomic int64_t ts;    /* start, ns on the trace clock */
    _Atomic int64_t dur;   /* ns; 0 for instants */
    _Atomic uint64_t what; /* per type, see above */
    _Atomic uint64_t info; /* type | kind << 4 | aux << 8 */
} twill__trace_event;

typedef struct twill__trace_ring {
    /* Written by the owner only (relaxed stores, head: release), read by
       the writer. */
    _Atomic uint64_t head;                 /* events recorded so far */
    _Atomic int64_t since;                 /* when the current state began */
    _Atomic unsigned state;                /* TWILL__TR_* now */
    _Atomic int64_t ns[TWILL__TR_STATES];  /* time in each state, up to `since` */
    /* Read-only after creation. */
    uint64_t mask;                         /* slots - 1 (a power of two) */
    twill__trace_event ev[];
} twill__trace_ring;

typedef struct twill__trace twill__trace;

/* The caller's record of an open span: when it began and the state to go
   back to. */
typedef struct twill__trace_span {
    int64_t start;
    unsigned prev;
} twill__trace_span;

/* Pool creator: a trace writing to cfg->trace_path, keeping the newest
   `events` (a power of two) per ring, for a pool of `workers` on the
   policy named `scheduler` whose outside bound is queue_capacity; topology
   describes where workers run.  0 or ENOMEM. */
int twill__trace_create(twill__trace **out, const twill_config *cfg, const char *scheduler,
                        size_t events, unsigned workers, size_t queue_capacity,
                        const char *topology);
/* After every worker has exited.  NULL: no-op. */
void twill__trace_destroy(twill__trace *tr);
/* Before worker `id` (< TWILL_MAX_WORKERS) starts: its ring, created on
   first use (and kept for a later worker with the same id), its state
   SEARCH from now; NULL when out of memory. */
twill__trace_ring *twill__trace_ring_for(twill__trace *tr, unsigned id);
/* The path given at create. */
const char *twill__trace_path(const twill__trace *tr);
/* Any thread: write everything recorded so far to path as Chrome trace-
   event JSON; stats[0..n) are the workers' counters, copied into the
   metadata.  Writes are serialised.  0, ENOMEM, or the errno of the
   failed open or write. */
int twill__trace_write(twill__trace *tr, const char *path, const twill_stats *stats,
                       unsigned n);

/* Owner only: begin a span in `state`; end it with leave. */
twill__trace_span twill__trace_enter(twill__trace_ring *r, unsigned state);
/* Owner only: end span s and record it as an event of `type`. */
void twill__trace_leave(twill__trace_ring *r, const twill__trace_span *s, unsigned type,
                        unsigned kind, uint64_t what, uint64_t aux);
void twill__trace_steal_slow(twill__trace_ring *r, unsigned victim);
void twill__trace_stop_slow(twill__trace_ring *r);
void twill__trace_outside_slow(twill__trace *tr, twill_fn fn, int64_t t0, int rc);
int64_t twill__trace_clock_slow(void);

/* The hooks: each is one test of the trace pointer when tracing is off. */

/* Owner only (r: the worker's ring or NULL). */
static inline twill__trace_span twill__trace_begin(twill__trace_ring *r, unsigned state)
{
    twill__trace_span s = {0, 0};
    if (twill_unlikely(r != NULL))
        s = twill__trace_enter(r, state);
    return s;
}

static inline void twill__trace_end(twill__trace_ring *r, const twill__trace_span *s,
                                    unsigned type, uint64_t what, uint64_t aux)
{
    if (twill_unlikely(r != NULL))
        twill__trace_leave(r, s, type, 0, what, aux);
}

/* Owner only: a steal from worker `victim`. */
static inline void twill__trace_steal(twill__trace_ring *r, unsigned victim)
{
    if (twill_unlikely(r != NULL))
        twill__trace_steal_slow(r, victim);
}

/* Owner only, as the worker thread exits: its time split ends now. */
static inline void twill__trace_stop(twill__trace_ring *r)
{
    if (twill_unlikely(r != NULL))
        twill__trace_stop_slow(r);
}

/* Any thread, before an outside submission: its start time (0 untraced). */
static inline int64_t twill__trace_clock(const twill__trace *tr)
{
    return twill_unlikely(tr != NULL) ? twill__trace_clock_slow() : 0;
}

/* Any thread, after an outside submission of fn that began at t0 and
   returned rc: an event on the outside track, with the calling thread. */
static inline void twill__trace_outside(twill__trace *tr, twill_fn fn, int64_t t0, int rc)
{
    if (twill_unlikely(tr != NULL))
        twill__trace_outside_slow(tr, fn, t0, rc);
}

#endif /* TWILL_TRACE_H */

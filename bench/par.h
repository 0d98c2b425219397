/*
 * bench/par.h — the small parallel vocabulary every workload is written in,
 * so that all peers run the same algorithm on the same input.  Each binary
 * links exactly one backend, which maps every call onto its runtime's own
 * primitive:
 *
 *   backend       impl names           join / group / sum / submit
 *   par_twill.c   twill, central       twill_join / twill_group / twill_parallel_reduce / twill_submit
 *   par_omp.c     omp-gcc, omp-clang   omp task+taskwait / same / taskloop reduction / (none)
 *   par_tbb.cpp   tbb                  task_group / task_group / parallel_reduce / task_arena::enqueue
 *   mutexpool.c   mutexpool            (none) / (none) / (none) / a mutex+condvar FIFO
 *
 * The only cost this layer adds is one direct call per operation (for twill
 * a tail jump), so instruction counts per join stay the runtime's; the
 * twill backend's par_join and par_group_* are inline (PAR_TWILL_INLINE),
 * like twill_join and the group functions themselves, so that a
 * workload's join sees both functions and its group calls cost no call
 * of their own, as with twill.h used directly (and Lace's SPAWN and
 * SYNC).
 * "central" is twill with config.scheduler = TWILL_SCHED_CENTRAL, same code.
 * omp-gcc or omp-clang is whichever compiler built par_omp.c (libgomp or
 * libomp).  A backend that lacks an operation does not define it; such
 * workload/backend pairs are simply not built (bench/CMakeLists.txt).
 *
 * Threads: par_start/par_stop/par_run/par_submit from the main thread or the
 * workload's own outside threads; par_join, par_group_* and par_sum only inside a
 * task started by par_run.  All return 0 or an errno value; ENOTSUP from
 * par_start means "this impl is not in this binary".
 */
#ifndef BENCH_PAR_H
#define BENCH_PAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef PAR_TWILL_INLINE
#include "twill.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*par_fn)(void *arg);

/* Names of the impls this binary's backend provides, space-separated. */
extern const char par_impls[];

/*
 * Start the runtime impl with workers threads.  external: tasks will come
 * from outside threads (par_submit) rather than from par_run, so no worker
 * slot is kept for the calling thread.
 */
int par_start(const char *impl, unsigned workers, bool external);
void par_stop(void);

/* Run fn(arg) as the root task on the runtime and wait; fn's code. */
int par_run(par_fn fn, void *arg);

/* Run a and b, b possibly in parallel; a's code if nonzero, else b's. */
#ifdef PAR_TWILL_INLINE
static inline int par_join(par_fn a, void *a_arg, par_fn b, void *b_arg)
{
    return twill_join(a, a_arg, b, b_arg);
}
#else
int par_join(par_fn a, void *a_arg, par_fn b, void *b_arg);
#endif

/*
 * A task group lives from par_group_init to par_group_wait, in the frame of
 * one task, which spawns into it and waits for it (OpenMP's taskwait waits
 * for all children of the task, which is then the same thing).
 */
#define PAR_GROUP_BYTES 192
typedef struct par_group {
    union {
        max_align_t   align_;
        unsigned char bytes[PAR_GROUP_BYTES];
    } u; /* private to the backend */
} par_group;
#ifdef PAR_TWILL_INLINE
static inline int par_group_init(par_group *g)
{
    return twill_group_init((twill_group *)(void *)g->u.bytes, NULL);
}
static inline int par_group_spawn(par_group *g, par_fn fn, void *arg)
{
    return twill_group_spawn((twill_group *)(void *)g->u.bytes, fn, arg);
}
static inline int par_group_wait(par_group *g)
{
    return twill_group_wait((twill_group *)(void *)g->u.bytes);
}
#else
int par_group_init(par_group *g);
int par_group_spawn(par_group *g, par_fn fn, void *arg);
int par_group_wait(par_group *g); /* the first nonzero task code, else 0 */
#endif

/* *out = sum of body(ctx, b, e) over chunks of [0, n) of at least grain. */
typedef uint64_t (*par_sum_fn)(const void *ctx, size_t begin, size_t end);
int par_sum(size_t n, size_t grain, par_sum_fn body, const void *ctx, uint64_t *out);

/* From an outside thread: run fn(arg) some time later; blocks while full. */
int par_submit(par_fn fn, void *arg);

/* 0..workers-1 on a worker thread, -1 elsewhere. */
int par_worker_index(void);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_PAR_H */

/*
 * bench/par_omp.c — par.h on OpenMP tasks.  Built by gcc it runs on libgomp
 * ("omp-gcc"), built by clang on libomp ("omp-clang"); bench/run builds the
 * second one in its own clang build directory.
 *
 * par_run opens a parallel region of `workers` threads whose single thread
 * runs the root task; a join is `omp task` for b, a inline, `omp taskwait`;
 * a group is the tasks of the current task; the sum is a taskloop with a
 * reduction (OpenMP 4.5/5.0).  OpenMP has no way to hand a task to the
 * runtime from a thread outside it, so there is no par_submit (nor
 * par_worker_index, which only the submission workloads use) here.
 * Threads are not pinned (OMP_PROC_BIND unset), as a user would run it.
 */
#include <errno.h>
#include <omp.h>
#include <string.h>

#include "par.h"

#ifdef __clang__
const char par_impls[] = "omp-clang";
#else
const char par_impls[] = "omp-gcc";
#endif

static int team_size; /* main thread writes it in par_start only */

typedef struct omp_group {
    int err; /* a nonzero task code, if any; written under omp atomic */
} omp_group;
_Static_assert(sizeof(omp_group) <= PAR_GROUP_BYTES, "par_group too small");

int par_start(const char *impl, unsigned workers, bool external)
{
    if (strcmp(impl, par_impls) || external)
        return ENOTSUP;
    omp_set_dynamic(0);
    team_size = (int)workers;
    return 0;
}

void par_stop(void)
{
}

int par_run(par_fn fn, void *arg)
{
    int rc = 0;
#pragma omp parallel num_threads(team_size)
#pragma omp single
    rc = fn(arg);
    return rc;
}

int par_join(par_fn a, void *a_arg, par_fn b, void *b_arg)
{
    int rb = 0;
#pragma omp task shared(rb) firstprivate(b, b_arg)
    rb = b(b_arg);
    int ra = a(a_arg);
#pragma omp taskwait
    return ra ? ra : rb;
}

int par_group_init(par_group *g)
{
    ((omp_group *)g->u.bytes)->err = 0;
    return 0;
}

int par_group_spawn(par_group *g, par_fn fn, void *arg)
{
    omp_group *og = (omp_group *)g->u.bytes;
#pragma omp task firstprivate(og, fn, arg)
    {
        int rc = fn(arg);
        if (rc) {
#pragma omp atomic write
            og->err = rc;
        }
    }
    return 0;
}

int par_group_wait(par_group *g)
{
#pragma omp taskwait
    return ((omp_group *)g->u.bytes)->err;
}

int par_sum(size_t n, size_t grain, par_sum_fn body, const void *ctx, uint64_t *out)
{
    uint64_t s = 0;
    size_t chunks = (n + grain - 1) / grain;
#pragma omp taskloop reduction(+ : s) grainsize(1) firstprivate(body, ctx, grain, n)
    for (size_t c = 0; c < chunks; c++) {
        size_t end = (c + 1) * grain < n ? (c + 1) * grain : n;
        s += body(ctx, c * grain, end);
    }
    *out = s;
    return 0;
}

/*
 * bench/par_tbb.cpp — par.h on oneTBB (Debian libtbb-dev), impl "tbb".
 *
 * The runtime is a task_arena of `workers` threads under a global_control
 * limit, so TBB uses no more threads than the others.  With par_run the
 * calling thread joins the arena (one slot reserved for it, as OpenMP's
 * master thread); for external submission every slot goes to TBB workers.
 * A join is a task_group with b run() and a inline, as in TBB's own fib
 * example; a group is a task_group placed in the caller's par_group; the sum
 * is parallel_reduce over a blocked_range with the same grain; submission is
 * task_arena::enqueue.
 */
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <new>

#include "par.h"

namespace {

struct tbb_group {
    tbb::task_group  tasks;
    std::atomic<int> err{0}; /* a nonzero task code; relaxed: wait() orders it */
};
static_assert(sizeof(tbb_group) <= PAR_GROUP_BYTES, "par_group too small for tbb_group");
static_assert(alignof(tbb_group) <= alignof(max_align_t), "par_group under-aligned");

tbb::global_control *limit; /* main thread writes both in par_start/par_stop */
tbb::task_arena     *arena;

tbb_group *as_group(par_group *g)
{
    return std::launder(reinterpret_cast<tbb_group *>(g->u.bytes));
}

} // namespace

extern "C" {

const char par_impls[] = "tbb";

int par_start(const char *impl, unsigned workers, bool external)
{
    if (std::strcmp(impl, par_impls))
        return ENOTSUP;
    int threads = static_cast<int>(workers);
    /* max_allowed_parallelism counts the calling thread: workers + 1 leaves
       all `workers` slots to TBB's own threads. */
    limit = new tbb::global_control(tbb::global_control::max_allowed_parallelism,
                                    static_cast<size_t>(threads + (external ? 1 : 0)));
    arena = new tbb::task_arena(threads, external ? 0 : 1);
    arena->initialize();
    return 0;
}

void par_stop(void)
{
    delete arena;
    delete limit;
    arena = nullptr;
    limit = nullptr;
}

int par_run(par_fn fn, void *arg)
{
    int rc = 0;
    arena->execute([&] { rc = fn(arg); });
    return rc;
}

int par_join(par_fn a, void *a_arg, par_fn b, void *b_arg)
{
    tbb::task_group g;
    int rb = 0;
    g.run([&] { rb = b(b_arg); });
    int ra = a(a_arg);
    g.wait();
    return ra ? ra : rb;
}

int par_group_init(par_group *g)
{
    new (g->u.bytes) tbb_group;
    return 0;
}

int par_group_spawn(par_group *g, par_fn fn, void *arg)
{
    tbb_group *tg = as_group(g);
    tg->tasks.run([tg, fn, arg] {
        if (int rc = fn(arg))
            tg->err.store(rc, std::memory_order_relaxed);
    });
    return 0;
}

int par_group_wait(par_group *g)
{
    tbb_group *tg = as_group(g);
    tg->tasks.wait();
    int err = tg->err.load(std::memory_order_relaxed);
    tg->~tbb_group();
    return err;
}

int par_sum(size_t n, size_t grain, par_sum_fn body, const void *ctx, uint64_t *out)
{
    *out = tbb::parallel_reduce(
        tbb::blocked_range<size_t>(0, n, grain), uint64_t{0},
        [=](const tbb::blocked_range<size_t> &r, uint64_t acc) {
            return acc + body(ctx, r.begin(), r.end());
        },
        std::plus<uint64_t>());
    return 0;
}

int par_submit(par_fn fn, void *arg)
{
    arena->enqueue([fn, arg] { fn(arg); });
    return 0;
}

int par_worker_index(void)
{
    int i = tbb::this_task_arena::current_thread_index();
    return i == tbb::task_arena::not_initialized ? -1 : i;
}

} // extern "C"

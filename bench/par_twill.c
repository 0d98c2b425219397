/*
 * bench/par_twill.c — par.h on twill, through its public header only.
 * "twill" is the work-stealing scheduler, "central" the same library with
 * config.scheduler = TWILL_SCHED_CENTRAL (one mutex+condvar FIFO).  Other
 * settings are the defaults (workers pinned to cores, default injector).
 */
#include <errno.h>
#include <string.h>

#include "par.h"
#include "twill.h"

_Static_assert(sizeof(twill_group) <= PAR_GROUP_BYTES, "par_group too small for twill_group");

const char par_impls[] = "twill central";

static twill_pool *pool; /* main thread writes it in par_start/par_stop only */

int par_start(const char *impl, unsigned workers, bool external)
{
    (void)external; /* twill's workers never include the calling thread */
    twill_config cfg;
    twill_config_init(&cfg);
    if (!strcmp(impl, "twill"))
        cfg.scheduler = TWILL_SCHED_STEALING;
    else if (!strcmp(impl, "central"))
        cfg.scheduler = TWILL_SCHED_CENTRAL;
    else
        return ENOTSUP;
    cfg.workers = workers;
    cfg.name = "bench";
    return twill_pool_create(&pool, &cfg);
}

void par_stop(void)
{
    twill_pool_destroy(pool);
    pool = NULL;
}

int par_run(par_fn fn, void *arg)
{
    return twill_run(pool, fn, arg);
}

typedef struct sum_ctx {
    par_sum_fn  body;
    const void *ctx;
} sum_ctx;

static int sum_body(void *ctx, size_t begin, size_t end, void *acc)
{
    const sum_ctx *s = ctx;
    *(uint64_t *)acc += s->body(s->ctx, begin, end);
    return 0;
}

static void sum_combine(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(uint64_t *)acc += *(const uint64_t *)other;
}

int par_sum(size_t n, size_t grain, par_sum_fn body, const void *ctx, uint64_t *out)
{
    sum_ctx s = {body, ctx};
    const uint64_t zero = 0;
    return twill_parallel_reduce(NULL, 0, n, grain, out, sizeof *out, &zero, sum_body,
                                 sum_combine, &s);
}

int par_submit(par_fn fn, void *arg)
{
    return twill_submit(pool, fn, arg);
}

int par_worker_index(void)
{
    return twill_worker_id();
}

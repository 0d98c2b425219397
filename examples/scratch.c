/*
 * scratch.c — per-worker scratch memory with worker hooks: each worker
 * allocates its buffer in on_worker_start and frees it in on_worker_stop;
 * a parallel_for body finds its worker's buffer by twill_worker_id(), so
 * no chunk allocates.  Then a twill_broadcast reads every worker's usage.
 * Usage: example_scratch [n]
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "example.h"
#include "twill.h"

#define SCRATCH 4096

typedef struct state {
    double *scratch[TWILL_MAX_WORKERS]; /* slot w: written by worker w only */
    size_t used[TWILL_MAX_WORKERS];
    double *out;
} state;

static void start(unsigned worker, void *ctx)
{
    state *s = ctx;
    s->scratch[worker] = malloc(SCRATCH * sizeof(double));
}

static void stop(unsigned worker, void *ctx)
{
    state *s = ctx;
    free(s->scratch[worker]);
    s->scratch[worker] = NULL;
}

/* out[i] = sum of (i+k)%7 for k < 64, computed through the scratch buffer. */
static int body(void *ctx, size_t begin, size_t end)
{
    state *s = ctx;
    int w = twill_worker_id();
    double *buf = s->scratch[w];
    if (buf == NULL)
        return ENOMEM;
    for (size_t i = begin; i < end; i++) {
        for (int k = 0; k < 64; k++)
            buf[k] = (double)((i + (size_t)k) % 7);
        double sum = 0;
        for (int k = 0; k < 64; k++)
            sum += buf[k];
        s->out[i] = sum;
    }
    s->used[w] += end - begin;
    return 0;
}

static _Atomic size_t seen;

static int report(void *ctx)
{
    state *s = ctx;
    atomic_fetch_add_explicit(&seen, s->used[twill_worker_id()], memory_order_relaxed);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    static state s;
    s.out = malloc(n * sizeof(double));
    example_check(s.out != NULL ? 0 : ENOMEM, "malloc");
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.on_worker_start = start;
    cfg.on_worker_stop = stop;
    cfg.hook_ctx = &s;
    twill_pool *pool;
    example_check(twill_pool_create(&pool, &cfg), "twill_pool_create");
    example_check(twill_parallel_for(pool, 0, n, 0, body, &s), "twill_parallel_for");
    example_check(twill_broadcast(pool, report, &s), "twill_broadcast");
    twill_pool_destroy(pool);
    for (size_t i = 0; i < n; i++) {
        double want = 0;
        for (int k = 0; k < 64; k++)
            want += (double)((i + (size_t)k) % 7);
        if (s.out[i] != want) {
            fprintf(stderr, "scratch: wrong value at %zu\n", i);
            return 1;
        }
    }
    printf("scratch: %zu items, %zu counted by the broadcast: ok\n", n,
           (size_t)atomic_load(&seen));
    free(s.out);
    return atomic_load(&seen) == n ? 0 : 1;
}

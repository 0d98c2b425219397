/*
 * test_embed.c — embedding: worker hooks (on_worker_start/on_worker_stop).
 * Compiled once per scheduler (see testutil.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define HOOK_MAX 8

/* What the hooks saw, per worker: written by that worker's thread only,
   read by the test after shutdown (pthread_join orders it). */
typedef struct hook_log {
    _Atomic int starts[HOOK_MAX], stops[HOOK_MAX];
    _Atomic int bad_id;        /* a hook where twill_worker_id() != worker */
    _Atomic int tasks_before_start; /* tasks run on a worker before its start hook */
    _Atomic int tasks_after_stop;
    pthread_t thread[HOOK_MAX];
} hook_log;

static _Thread_local int started_here, stopped_here;

static void on_start(unsigned worker, void *ctx)
{
    hook_log *log = ctx;
    if (worker >= HOOK_MAX || twill_worker_id() != (int)worker)
        atomic_fetch_add(&log->bad_id, 1);
    if (worker < HOOK_MAX) {
        atomic_fetch_add(&log->starts[worker], 1);
        log->thread[worker] = pthread_self();
    }
    started_here = 1;
}

static void on_stop(unsigned worker, void *ctx)
{
    hook_log *log = ctx;
    if (worker >= HOOK_MAX || twill_worker_id() != (int)worker)
        atomic_fetch_add(&log->bad_id, 1);
    if (worker < HOOK_MAX) {
        atomic_fetch_add(&log->stops[worker], 1);
        if (!pthread_equal(log->thread[worker], pthread_self()))
            atomic_fetch_add(&log->bad_id, 1);
    }
    stopped_here = 1;
}

static hook_log *task_log;

static int check_task(void *arg)
{
    if (!started_here)
        atomic_fetch_add(&task_log->tasks_before_start, 1);
    if (stopped_here)
        atomic_fetch_add(&task_log->tasks_after_stop, 1);
    return count_task(arg);
}

static twill_pool *hook_pool(unsigned workers, hook_log *log)
{
    twill_config cfg = test_config(workers);
    cfg.on_worker_start = on_start;
    cfg.on_worker_stop = on_stop;
    cfg.hook_ctx = log;
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    return p;
}

static void expect_once_each(hook_log *log, unsigned workers)
{
    for (unsigned i = 0; i < HOOK_MAX; i++) {
        int want = i < workers ? 1 : 0;
        cr_expect_eq(atomic_load(&log->starts[i]), want, "worker %u started %d times", i,
                     atomic_load(&log->starts[i]));
        cr_expect_eq(atomic_load(&log->stops[i]), want, "worker %u stopped %d times", i,
                     atomic_load(&log->stops[i]));
    }
    cr_expect_eq(atomic_load(&log->bad_id), 0);
}

Test(hooks, run_once_per_worker_on_its_thread_around_every_task, .timeout = 60)
{
    static hook_log log;
    task_log = &log;
    twill_pool *p = hook_pool(4, &log);
    _Atomic long ran = 0;
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(twill_submit(p, check_task, &ran), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&ran), 2000);
    expect_once_each(&log, 4);
    cr_expect_eq(atomic_load(&log.tasks_before_start), 0);
    cr_expect_eq(atomic_load(&log.tasks_after_stop), 0);
    twill_pool_destroy(p);
    expect_once_each(&log, 4); /* destroy after shutdown runs no hook again */
}

Test(hooks, run_once_each_for_a_pool_destroyed_at_once, .timeout = 60)
{
    for (int round = 0; round < 20; round++) {
        hook_log *log = calloc(1, sizeof *log);
        twill_pool *p = hook_pool(3, log);
        twill_pool_destroy(p);
        expect_once_each(log, 3);
        free(log);
    }
}

Test(hooks, null_hooks_keep_the_pool_working, .timeout = 60)
{
    twill_config cfg = test_config(2);
    cfg.on_worker_start = NULL;
    cfg.on_worker_stop = NULL;
    cfg.hook_ctx = (void *)1;
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    _Atomic long ran = 0;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(twill_submit(p, count_task, &ran), 0);
    twill_pool_destroy(p);
    cr_assert_eq(atomic_load(&ran), 100);
}

static _Atomic int only_start_seen;
static void only_start(unsigned worker, void *ctx)
{
    (void)worker;
    (void)ctx;
    atomic_fetch_add(&only_start_seen, 1);
}

Test(hooks, one_hook_without_the_other, .timeout = 60)
{
    twill_config cfg = test_config(2);
    cfg.on_worker_start = only_start;
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_run(p, noop, NULL), 0);
    twill_pool_destroy(p);
    cr_assert_eq(atomic_load(&only_start_seen), 2);
}

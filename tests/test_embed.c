/*
 * test_embed.c — embedding: worker hooks (on_worker_start/on_worker_stop)
 * and twill_broadcast.
 * Compiled once per scheduler (see testutil.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---------------------------------------------------------- broadcast -- */

#define BC_MAX 8

/* Shares seen per worker id; a share on a non-worker counts in bad. */
typedef struct bc_log {
    _Atomic long per[BC_MAX];
    _Atomic long bad;
    _Atomic long total;
} bc_log;

static int share(void *arg)
{
    bc_log *log = arg;
    int id = twill_worker_id();
    if (id < 0 || id >= BC_MAX)
        atomic_fetch_add(&log->bad, 1);
    else
        atomic_fetch_add(&log->per[id], 1);
    atomic_fetch_add(&log->total, 1);
    return 0;
}

static void expect_shares(bc_log *log, unsigned workers, long each)
{
    for (unsigned i = 0; i < BC_MAX; i++)
        cr_expect_eq(atomic_load(&log->per[i]), i < workers ? each : 0,
                     "worker %u ran %ld shares, want %ld", i, atomic_load(&log->per[i]),
                     i < workers ? each : 0L);
    cr_expect_eq(atomic_load(&log->bad), 0);
}

Test(broadcast, from_outside_runs_once_on_every_worker, .timeout = 60)
{
    twill_pool *p = test_pool(4);
    bc_log log = {0};
    for (int i = 0; i < 100; i++)
        cr_assert_eq(twill_broadcast(p, share, &log), 0);
    expect_shares(&log, 4, 100);
    twill_pool_destroy(p);
}

static int fail_on_one(void *arg)
{
    (void)arg;
    return twill_worker_id() == 1 ? 7 : 0;
}

Test(broadcast, returns_the_first_nonzero_code, .timeout = 60)
{
    twill_pool *p = test_pool(3);
    cr_assert_eq(twill_broadcast(p, fail_on_one, NULL), 7);
    cr_assert_eq(twill_broadcast(p, noop, NULL), 0);
    twill_pool_destroy(p);
}

typedef struct inside_arg {
    twill_pool *pool;
    bc_log *log;
    int rounds;
} inside_arg;

static int broadcast_inside(void *arg)
{
    inside_arg *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        int rc = twill_broadcast(a->pool, share, a->log);
        if (rc != 0)
            return rc;
    }
    return 0;
}

Test(broadcast, from_inside_a_worker_runs_its_own_share_too, .timeout = 60)
{
    twill_pool *p = test_pool(4);
    bc_log log = {0};
    inside_arg a = {p, &log, 50};
    cr_assert_eq(twill_run(p, broadcast_inside, &a), 0);
    expect_shares(&log, 4, 50);
    twill_pool_destroy(p);
}

Test(broadcast, from_several_workers_and_threads_at_once_each_once_per_worker, .timeout = 60)
{
    twill_pool *p = test_pool(3);
    bc_log log = {0};
    inside_arg a = {p, &log, 30};
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(twill_group_spawn(&g, broadcast_inside, &a), 0);
    for (int i = 0; i < 30; i++)
        cr_assert_eq(twill_broadcast(p, share, &log), 0);
    cr_assert_eq(twill_group_wait(&g), 0);
    expect_shares(&log, 3, 4 * 30);
    twill_pool_destroy(p);
}

/* A broadcast on a pool whose workers are all blocked in long tasks: no
   share runs while they are blocked; every one runs once they return. */
typedef struct busy_arg {
    twill_pool *pool;
    bc_log *log;
    _Atomic int rc;
    _Atomic long done;
} busy_arg;

static void *broadcaster(void *arg)
{
    busy_arg *b = arg;
    atomic_store(&b->rc, twill_broadcast(b->pool, share, b->log));
    atomic_store(&b->done, 1);
    return NULL;
}

Test(broadcast, waits_for_workers_busy_in_long_tasks, .timeout = 60)
{
    twill_pool *p = test_pool(2);
    static gate gt = GATE_INIT;
    bc_log log = {0};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(twill_submit(p, gate_task, &gt), 0);
    gate_wait_inside(&gt, 2);
    busy_arg b = {p, &log, -1, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, broadcaster, &b), 0);
    /* Both workers are inside the gate, so no share can run yet.  A
       bounded look (the broadcaster may not even have posted yet): */
    for (int i = 0; i < 1000; i++)
        sched_yield();
    cr_expect_eq(atomic_load(&log.total), 0);
    cr_expect_eq(atomic_load(&b.done), 0);
    gate_open(&gt);
    wait_count(&b.done, 1);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&b.rc), 0);
    expect_shares(&log, 2, 1);
    twill_pool_destroy(p);
}

/* Loops of joins, one on each worker: started as the shares of a
   broadcast from a thread of their own (a later broadcast may post while
   those shares run), so that no loop can end up nested in another's poll
   on one worker, where it would wait for a share that only its return
   lets run (polls do not nest), as two loops spawned from outside could. */
typedef struct loop_start {
    twill_pool *pool;
    twill_fn fn;
    void *arg;
    int rc;
} loop_start;

static void *broadcast_loops(void *arg)
{
    loop_start *l = arg;
    l->rc = twill_broadcast(l->pool, l->fn, l->arg);
    return NULL;
}

/* Workers that never return to their loop (each spins in inline joins
   until every share has run) still answer: the poll takes the mailbox. */
typedef struct spin_arg {
    bc_log *log;
    long want;
    _Atomic long inside;
} spin_arg;

static int join_until_shares(void *arg)
{
    spin_arg *s = arg;
    atomic_fetch_add(&s->inside, 1);
    struct timespec dl = test_deadline(), now;
    while (atomic_load(&s->log->total) < s->want) {
        twill_join(noop, NULL, noop, NULL);
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec)
            return ETIMEDOUT;
    }
    return 0;
}

Test(broadcast, reaches_workers_deep_in_join_loops, .timeout = 60)
{
    twill_pool *p = test_pool(2);
    bc_log log = {0};
    spin_arg s = {&log, 2, 0};
    loop_start l = {p, join_until_shares, &s, -1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, broadcast_loops, &l), 0);
    wait_count(&s.inside, 2);
    cr_assert_eq(twill_broadcast(p, share, &log), 0);
    pthread_join(th, NULL);
    cr_assert_eq(l.rc, 0);
    expect_shares(&log, 2, 1);
    twill_pool_destroy(p);
}

/* A broadcast from outside trips the busy workers' joins (stealing
   scheduler), so a worker in a loop of joins runs its share at its next
   join, not at its next poll (every 1024 inline halves; the central
   scheduler, whose joins ignore trips, polls every 64 joins).  Each join here takes a few microseconds, so the
   broadcast's own set-up is worth a join or two.  The gap is counted from
   just before the call, so a broadcaster descheduled before it posts
   (other tests run beside this one) counts against it: the median over
   several broadcasts is what is checked. */
enum { SLOW_JOIN_WORKERS = 2, SLOW_JOIN_ROUNDS = 8 };

typedef struct slow_joins {
    _Atomic long joins[SLOW_JOIN_WORKERS]; /* joins each worker finished */
    _Atomic long at_share[SLOW_JOIN_WORKERS];
    _Atomic long inside;
    _Atomic int stop;
} slow_joins;

static slow_joins sj;

static int busy_leaf(void *arg)
{
    (void)arg;
    for (volatile int i = 0; i < 2000; i++)
        ;
    return 0;
}

static int slow_joins_until_stopped(void *arg)
{
    (void)arg;
    int id = twill_worker_id();
    CHECK(id >= 0 && id < SLOW_JOIN_WORKERS);
    atomic_fetch_add(&sj.inside, 1);
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&sj.stop)) {
        CHECK(twill_join(busy_leaf, NULL, busy_leaf, NULL) == 0);
        atomic_fetch_add(&sj.joins[id], 1);
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec);
    }
    return 0;
}

static int note_share(void *arg)
{
    (void)arg;
    int id = twill_worker_id();
    atomic_store(&sj.at_share[id], atomic_load(&sj.joins[id]));
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

Test(broadcast, reaches_workers_in_join_loops_at_their_next_join, .timeout = 60)
{
    twill_pool *p = test_pool(SLOW_JOIN_WORKERS);
    loop_start l = {p, slow_joins_until_stopped, NULL, -1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, broadcast_loops, &l), 0);
    wait_count(&sj.inside, SLOW_JOIN_WORKERS);
    long gaps[SLOW_JOIN_ROUNDS * SLOW_JOIN_WORKERS];
    for (int r = 0; r < SLOW_JOIN_ROUNDS; r++) {
        long before[SLOW_JOIN_WORKERS];
        for (int i = 0; i < SLOW_JOIN_WORKERS; i++)
            before[i] = atomic_load(&sj.joins[i]);
        cr_assert_eq(twill_broadcast(p, note_share, NULL), 0);
        for (int i = 0; i < SLOW_JOIN_WORKERS; i++)
            gaps[r * SLOW_JOIN_WORKERS + i] = atomic_load(&sj.at_share[i]) - before[i];
    }
    atomic_store(&sj.stop, 1);
    pthread_join(th, NULL);
    cr_assert_eq(l.rc, 0);
    twill_pool_destroy(p);
    size_t n = sizeof gaps / sizeof gaps[0];
    qsort(gaps, n, sizeof gaps[0], cmp_long);
#ifdef TWILL_TEST_CENTRAL
    long bound = 512; /* the poll: every 64 joins, with room */
#else
    long bound = 64; /* the trip: the next join, with room for noise */
#endif
    cr_assert(gaps[n / 2] < bound, "the median share ran %ld joins late (bound %ld; worst %ld)",
              gaps[n / 2], bound, gaps[n - 1]);
}

static int broadcast_again(void *arg)
{
    return twill_broadcast(arg, noop, NULL);
}

Test(broadcast, error_codes, .timeout = 60)
{
    twill_pool *p = test_pool(2);
    cr_assert_eq(twill_broadcast(NULL, noop, NULL), EINVAL);
    cr_assert_eq(twill_broadcast(p, NULL, NULL), EINVAL);
    cr_assert_eq(twill_broadcast(p, broadcast_again, p), 0); /* from inside a share: fine */
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(twill_broadcast(p, noop, NULL), ESHUTDOWN);
    twill_pool_destroy(p);
}

static _Atomic long drain_started;

/* Broadcast again and again from a worker once shutdown is about to start:
   each returns 0 until shutdown has begun, then ESHUTDOWN (never a hang,
   though shutdown holds the broadcast lock while it drains this task). */
static int broadcast_during_drain(void *arg)
{
    inside_arg *a = arg;
    struct timespec dl = test_deadline(), now;
    while (atomic_load(&drain_started) == 0) {
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec)
            return ETIMEDOUT;
        sched_yield();
    }
    for (;;) {
        int rc = twill_broadcast(a->pool, share, a->log);
        if (rc == ESHUTDOWN)
            return 0;
        if (rc != 0)
            return rc;
        a->rounds++;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec)
            return ETIMEDOUT;
    }
}

static _Atomic int drain_rc = -1;
static int record_drain(void *arg)
{
    atomic_store(&drain_rc, broadcast_during_drain(arg));
    return 0;
}

Test(broadcast, from_a_worker_while_shutdown_drains_is_eshutdown, .timeout = 60)
{
    twill_pool *p = test_pool(2);
    bc_log log = {0};
    inside_arg a = {p, &log, 0};
    cr_assert_eq(twill_submit(p, record_drain, &a), 0);
    atomic_store(&drain_started, 1);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&drain_rc), 0);
    expect_shares(&log, 2, a.rounds); /* the broadcasts that returned 0 ran in full */
    twill_pool_destroy(p);
}

Test(broadcast, on_a_pool_inherited_through_fork_is_eownerdead, .timeout = 60)
{
    twill_pool *p = test_pool(2);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(twill_broadcast(p, noop, NULL) == EOWNERDEAD ? 0 : 1);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    twill_pool_destroy(p);
}

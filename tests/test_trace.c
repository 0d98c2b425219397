/*
 * test_trace.c — the timeline trace (twill_config.trace_path,
 * twill_pool_trace_write): a known workload recorded and written, the file
 * parsed and checked by tests/trace_check.py (python3's json module: the
 * format, perfect nesting, the time split, event counts against the
 * stats), a full ring dropping its oldest events, a write while workers
 * record, the environment, and the error contract.
 *
 * The trace_* task functions are not static and the binary exports its
 * symbols (ENABLE_EXPORTS), so dladdr names them in the file.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* A path for this test's trace files (each Criterion test runs in its own
   process). */
static void trace_path(char *buf, size_t len, const char *tag)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/twill-test-trace-%ld-%s.json", dir != NULL ? dir : "/tmp",
             (long)getpid(), tag);
}

/* tests/trace_check.py on path with args: 0 when every check passed. */
static int trace_check(const char *path, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s", TWILL_PYTHON3, TWILL_TRACE_CHECK, path, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static twill_pool *traced_pool(unsigned workers, const char *path, size_t events)
{
    twill_config cfg = test_config(workers);
    cfg.trace_path = path;
    cfg.trace_events = events;
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    return p;
}

/* ------------------------------------------------- a known workload -- */

typedef struct fib_arg {
    int n;
    long r;
} fib_arg;

int trace_fib(void *p);
int trace_fib(void *p)
{
    fib_arg *f = p, a = {f->n - 1, 0}, b = {f->n - 2, 0};
    if (f->n < 2) {
        f->r = f->n;
        return 0;
    }
    int rc = twill_join(trace_fib, &a, trace_fib, &b);
    f->r = a.r + b.r;
    return rc;
}

int trace_chunk(void *ctx, size_t begin, size_t end);
int trace_chunk(void *ctx, size_t begin, size_t end)
{
    atomic_fetch_add((_Atomic long *)ctx, (long)(end - begin));
    return 0;
}

int trace_spawned(void *arg);
int trace_spawned(void *arg)
{
    fib_arg f = {12, 0};
    trace_fib(&f);
    return count_task(arg);
}

/* 40 group spawns from a thread of their own: the outside track must name
   it apart from the test's thread. */
typedef struct spawner {
    twill_pool *pool;
    _Atomic long spawned;
    long tid;
    int rc;
} spawner;

static void *spawn_from_a_thread(void *arg)
{
    spawner *sp = arg;
    twill_group g;
    sp->tid = test_tid();
    sp->rc = twill_group_init(&g, sp->pool);
    for (int i = 0; i < 40 && sp->rc == 0; i++)
        sp->rc = twill_group_spawn(&g, trace_spawned, &sp->spawned);
    if (sp->rc == 0)
        sp->rc = twill_group_wait_for(&g, TEST_WAIT_NS);
    return NULL;
}

/* Joins, group spawns from outside, a loop and a broadcast on `workers`
   workers; then the trace written after shutdown must agree with the
   stats, the time split with the spans, and name the functions. */
static void known_workload(unsigned workers)
{
    char path[256], at_destroy[256], args[512];
    trace_path(path, sizeof path, "written");
    trace_path(at_destroy, sizeof at_destroy, "destroy");
    twill_pool *p = traced_pool(workers, at_destroy, 0);
    fib_arg f = {20, 0};
    cr_assert_eq(twill_run(p, trace_fib, &f), 0);
    cr_assert_eq(f.r, 6765);
    spawner sp = {.pool = p};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, spawn_from_a_thread, &sp), 0);
    pthread_join(th, NULL);
    cr_assert_eq(sp.rc, 0);
    _Atomic long indices = 0;
    cr_assert_eq(twill_parallel_for(p, 0, 10000, 100, trace_chunk, &indices), 0);
    cr_assert_eq(atomic_load(&indices), 10000);
    cr_assert_eq(twill_broadcast(p, noop, NULL), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    twill_stats s;
    cr_assert_eq(twill_pool_stats(p, -1, &s), 0);
    cr_assert_eq(twill_pool_trace_write(p, path), 0);
    /* outside submissions: twill_run and the loop's twill_run from this
       thread, 40 spawns from the other */
    snprintf(args, sizeof args,
             "--exact --expect workers=%u --expect tasks=%llu --expect steals=%llu "
             "--expect parks=%llu --expect outside=42 --expect dropped=0 --thread %ld "
             "--thread %ld --name trace_fib --name trace_spawned --name trace_chunk",
             workers, (unsigned long long)s.tasks_run, (unsigned long long)s.steals,
             (unsigned long long)s.parks, test_tid(), sp.tid);
    cr_assert_eq(trace_check(path, args), 0, "%s: see the lines above", path);
    twill_pool_destroy(p);
    cr_assert_eq(trace_check(at_destroy, args), 0, "%s (at destroy): see above", at_destroy);
    unlink(path);
    unlink(at_destroy);
}

Test(trace, a_known_workload_on_one_worker_matches_its_stats, .timeout = 120)
{
    known_workload(1);
}

Test(trace, a_known_workload_on_two_workers_matches_its_stats, .timeout = 120)
{
    known_workload(2);
}

/* ---------------------------------------------------------- full ring -- */

int trace_join_loop(void *arg);
int trace_join_loop(void *arg)
{
    for (int i = 0; i < 1000; i++)
        twill_join(noop, NULL, noop, NULL);
    return count_task(arg);
}

Test(trace, a_full_ring_keeps_the_newest_events_and_counts_the_rest, .timeout = 60)
{
    char path[256], args[256];
    trace_path(path, sizeof path, "full");
    twill_pool *p = traced_pool(1, path, 50); /* rounded up to 64 */
    _Atomic long ran = 0;
    cr_assert_eq(twill_run(p, trace_join_loop, &ran), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    twill_stats s;
    cr_assert_eq(twill_pool_stats(p, -1, &s), 0);
    twill_pool_destroy(p);
    /* one worker: 1001 task runs and its parks, no steals, no waits; the
       newest 64 survive, and the join loop's own run (it ends after every
       join it makes) is among them */
    unsigned long long recorded = s.tasks_run + s.parks;
    cr_assert_eq(s.tasks_run, 1001);
    snprintf(args, sizeof args, "--exact --expect kept=64 --expect dropped=%llu --name trace_join_loop",
             recorded - 64);
    cr_assert_eq(trace_check(path, args), 0, "%s: see the lines above", path);
    unlink(path);
}

/* ------------------------------------------------ while workers record -- */

typedef struct busy {
    _Atomic bool stop;
    _Atomic long rounds;
} busy;

int trace_busy(void *arg);
int trace_busy(void *arg)
{
    busy *b = arg;
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&b->stop)) {
        fib_arg f = {10, 0};
        trace_fib(&f);
        atomic_fetch_add(&b->rounds, 1);
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec)
            return ETIMEDOUT;
    }
    return 0;
}

Test(trace, a_write_while_workers_record_gives_whole_events, .timeout = 120)
{
    char path[256];
    trace_path(path, sizeof path, "live");
    /* a small ring, so the writer's copies race with its wrap-around */
    twill_pool *p = traced_pool(2, path, 256);
    busy b = {false, 0};
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);
    cr_assert_eq(twill_group_spawn(&g, trace_busy, &b), 0);
    cr_assert_eq(twill_group_spawn(&g, trace_busy, &b), 0);
    for (int i = 0; i < 10; i++) {
        long r = atomic_load(&b.rounds);
        wait_count(&b.rounds, r + 20); /* the ring has wrapped since the last write */
        cr_assert_eq(twill_pool_trace_write(p, path), 0);
        cr_assert_eq(trace_check(path, "--live --expect workers=2"), 0, "write %d: see above", i);
    }
    atomic_store(&b.stop, true);
    cr_assert_eq(twill_group_wait_for(&g, TEST_WAIT_NS), 0);
    twill_pool_destroy(p);
    cr_assert_eq(trace_check(path, "--exact --expect workers=2"), 0, "at destroy: see above");
    unlink(path);
}

/* -------------------------------------------------------- environment -- */

Test(trace, config_init_reads_twill_trace_and_twill_trace_events)
{
    twill_config cfg;
    setenv("TWILL_TRACE", "/some/where.json", 1);
    setenv("TWILL_TRACE_EVENTS", "1000", 1);
    twill_config_init(&cfg);
    cr_assert_str_eq(cfg.trace_path, "/some/where.json");
    cr_assert_eq(cfg.trace_events, 1000);
    setenv("TWILL_TRACE", "", 1);
    setenv("TWILL_TRACE_EVENTS", "67108865", 1); /* 2^26 + 1: ignored */
    twill_config_init(&cfg);
    cr_assert_null(cfg.trace_path);
    cr_assert_eq(cfg.trace_events, 0);
    setenv("TWILL_TRACE_EVENTS", "12x", 1);
    twill_config_init(&cfg);
    cr_assert_eq(cfg.trace_events, 0);
    unsetenv("TWILL_TRACE");
    unsetenv("TWILL_TRACE_EVENTS");
}

/* ----------------------------------------------------- error contract -- */

Test(trace, errors_of_twill_pool_trace_write_and_of_create, .timeout = 60)
{
    char path[256];
    trace_path(path, sizeof path, "errors");
    cr_assert_eq(twill_pool_trace_write(NULL, path), EINVAL);
    twill_pool *plain = test_pool(1);
    cr_assert_eq(twill_pool_trace_write(plain, path), EINVAL, "a pool without trace_path");
    twill_pool_destroy(plain);

    twill_pool *p = traced_pool(1, path, 0);
    cr_assert_eq(twill_pool_trace_write(p, NULL), EINVAL);
    cr_assert_eq(twill_pool_trace_write(p, "/nonexistent-twill-dir/t.json"), ENOENT);
    cr_assert_eq(twill_pool_trace_write(p, "/"), EISDIR);
    if (access("/dev/full", W_OK) == 0)
        cr_assert_eq(twill_pool_trace_write(p, "/dev/full"), ENOSPC);
    cr_assert_eq(twill_pool_trace_write(p, path), 0, "the pool still writes after errors");
    twill_pool_destroy(p);
    cr_assert_eq(trace_check(path, "--exact --expect workers=1"), 0);
    unlink(path);

    twill_config cfg = test_config(1);
    cfg.trace_path = path;
    cfg.trace_events = TWILL_MAX_TRACE_EVENTS + 1;
    cr_assert_eq(twill_pool_create(&p, &cfg), EINVAL);
    twill_pool *untraced = NULL;
    cr_assert_eq(twill_pool_create(&untraced, &(twill_config){.workers = 1, .pin = TWILL_PIN_NONE,
                                                               .scheduler = TEST_SCHED,
                                                               .trace_path = ""}),
                 0);
    cr_assert_eq(twill_pool_trace_write(untraced, path), EINVAL, "an empty path: no trace");
    twill_pool_destroy(untraced);
}

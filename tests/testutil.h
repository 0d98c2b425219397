/*
 * testutil.h — shared helpers for the Criterion tests: pools on the
 * scheduler under test, and a gate that blocks tasks until the test opens
 * it.  Every wait here has a timeout, so a hang fails instead of hanging.
 *
 * Each Criterion test file is compiled twice, once per scheduler
 * (TWILL_TEST_CENTRAL defined or not), so the whole contract is checked on
 * both.
 */
#ifndef TWILL_TESTUTIL_H
#define TWILL_TESTUTIL_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "twill.h"

#ifdef TWILL_TEST_CENTRAL
#define TEST_SCHED TWILL_SCHED_CENTRAL
#else
#define TEST_SCHED TWILL_SCHED_STEALING
#endif

/* Longest any test waits for an event before failing. */
#define TEST_WAIT_NS (20LL * 1000000000LL)

/* Inside a task: fail the task with the current line number. */
#define CHECK(cond)              \
    do {                         \
        if (!(cond))             \
            return __LINE__;     \
    } while (0)

/* Run a checking task on a worker of p and fail the test with its line. */
#define RUN_CHECKS(p, fn, arg)                                                  \
    do {                                                                        \
        int line_ = twill_run((p), (fn), (arg));                                \
        cr_assert_eq(line_, 0, "worker-side check at line %d failed", line_);   \
    } while (0)

/* Inside a task: yield until cond holds, failing the task with this line
   (as CHECK) once the test's deadline passed. */
#define CHECK_SOON(cond)                                  \
    do {                                                  \
        struct timespec dl_ = test_deadline(), now_;      \
        while (!(cond)) {                                 \
            clock_gettime(CLOCK_REALTIME, &now_);         \
            CHECK(now_.tv_sec < dl_.tv_sec);              \
            sched_yield();                                \
        }                                                 \
    } while (0)

/* On the test's own thread: the same, failing the test with msg. */
#define ASSERT_SOON(cond, msg)                            \
    do {                                                  \
        struct timespec dl_ = test_deadline(), now_;      \
        while (!(cond)) {                                 \
            clock_gettime(CLOCK_REALTIME, &now_);         \
            cr_assert(now_.tv_sec < dl_.tv_sec, msg);     \
            sched_yield();                                \
        }                                                 \
    } while (0)

static inline twill_config test_config(unsigned workers)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.scheduler = TEST_SCHED;
    cfg.pin = TWILL_PIN_NONE;
    return cfg;
}

static inline twill_pool *test_pool(unsigned workers)
{
    twill_config cfg = test_config(workers);
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    return p;
}

static inline struct timespec test_deadline(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += TEST_WAIT_NS / 1000000000LL;
    return ts;
}

/* The simplest tasks: do nothing; count into an _Atomic long. */
static inline int noop(void *arg)
{
    (void)arg;
    return 0;
}

static inline int count_task(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
    return 0;
}

/* A discard hook that counts its calls (ctx: a discards); `ran` is for the
   tasks of tests that count both. */
typedef struct discards {
    _Atomic long calls;
    _Atomic long ran;
} discards;

static inline void count_discard(twill_fn fn, void *arg, void *ctx)
{
    (void)fn;
    (void)arg;
    atomic_fetch_add(&((discards *)ctx)->calls, 1);
}

/* A gate: tasks call gate_pass() and block until gate_open(); the test can
   wait until n tasks are blocked inside with gate_wait_inside(). */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int inside;
} gate;

#define GATE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0}

static inline void gate_pass(gate *g)
{
    struct timespec dl = test_deadline();
    pthread_mutex_lock(&g->mu);
    g->inside++;
    pthread_cond_broadcast(&g->cv);
    int rc = 0;
    while (!g->open && rc == 0)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
    g->inside--;
    pthread_mutex_unlock(&g->mu);
    cr_assert_eq(rc, 0, "gate never opened");
}

static inline int gate_task(void *arg)
{
    gate_pass(arg);
    return 0;
}

static inline void gate_wait_inside(gate *g, int n)
{
    struct timespec dl = test_deadline();
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    while (g->inside < n && rc == 0)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
    pthread_mutex_unlock(&g->mu);
    cr_assert_eq(rc, 0, "tasks never reached the gate");
}

static inline void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Wait until *counter >= n (polled with a timeout; no sleeping as sync:
   the poll yields and the deadline fails the test). */
static inline void wait_count(_Atomic long *counter, long n)
{
    struct timespec dl = test_deadline(), now;
    while (atomic_load(counter) < n) {
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "count stuck at %ld, want %ld",
                  atomic_load(counter), n);
        sched_yield();
    }
}

/* The calling thread's id, for thread_sleeps. */
static inline long test_tid(void)
{
    return (long)syscall(SYS_gettid);
}

/* Is thread tid of this process blocked in the kernel (state S in
   /proc)?  false when it cannot tell. */
static inline bool thread_sleeps(long tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the state follows "(comm) " */
    return end != NULL && end[1] == ' ' && end[2] == 'S';
}

#endif /* TWILL_TESTUTIL_H */

/*
 * worker_pool.c — the worker-pool pattern: producers outside the pool, a
 * bounded queue with backpressure, urgent jobs at a higher priority, an
 * elastic pool that grows while jobs wait, results through a task group,
 * and a graceful shutdown on SIGINT.
 *
 * PRODUCERS threads spawn jobs into one task group from outside the pool.
 * Outside submissions go through the pool's bounded injector, kept small here
 * (queue_capacity QUEUE_CAPACITY), so when the workers fall behind,
 * twill_group_spawn blocks until a slot frees: that is the backpressure, and
 * the program reports how many spawns had to wait and for how long.  Each job
 * writes its result into its own slot; twill_group_wait is the point after
 * which all of them can be read.
 *
 * Every URGENT_EVERY-th job is urgent: spawned at TWILL_PRIO_HIGH, it starts
 * before the NORMAL jobs already queued (its own queue, its own bound).  The
 * pool is elastic: it starts with one worker per core and may grow to two
 * per online CPU (max_workers) while jobs wait and no worker is idle; the extra
 * workers exit after IDLE_TIMEOUT_MS without work.  The program reports the
 * largest size it saw.
 *
 * On SIGINT (Ctrl-C) the producers stop, then:
 *   default    drain: every job already accepted still runs, none is lost;
 *   --cancel   twill_pool_shutdown(TWILL_CANCEL): running jobs finish, queued
 *              ones are dropped, and the discard hook records which.
 * Either way every accepted job is accounted for exactly once:
 * submitted = completed + discarded, and each result is checked.
 *
 * Signals and threads: SIGINT is blocked before any thread starts, so the
 * pool's workers and the producers inherit the mask, and only the main thread
 * runs the handler.  The handler sets a flag and writes one byte to a
 * self-pipe; the main thread sleeps in read() on that pipe, which the last
 * producer also writes to when all jobs are in.
 *
 * Usage: worker_pool [--jobs N] [--cancel] [--interrupt-after K]
 *   --jobs N               jobs to run (default 20000)
 *   --interrupt-after K    the producer that submits the K-th job sends SIGINT
 *                          to the process, as Ctrl-C would (used by the tests)
 * Exits 1 when a job is lost, run twice, or computed a wrong result.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "twill.h"

enum {
    PRODUCERS = 3,
    QUEUE_CAPACITY = 8,
    JOB_ROUNDS = 10000, /* rounds of example_random per job: ~0.15 ms on a busy 2-core VM */
    SHOW_DISCARDED = 8, /* discarded job ids printed */
    URGENT_EVERY = 100, /* every 100th job is spawned at TWILL_PRIO_HIGH */
    IDLE_TIMEOUT_MS = 50
};
#define WAITED_MS 0.02 /* a spawn that took longer than this waited for a slot */

typedef struct job {
    size_t id;
    uint64_t result; /* written by the job's task, read after the group wait */
    bool done;       /* likewise */
} job;

typedef struct producer {
    pthread_t thread;
    struct shared *shared;
    size_t submitted, waited; /* spawns accepted; of those, spawns that waited */
    size_t urgent;            /* spawns accepted at TWILL_PRIO_HIGH */
    unsigned peak_workers;    /* the largest pool size this producer saw */
    double waited_ms;         /* time spent waiting for a slot */
} producer;

typedef struct shared {
    twill_pool *pool;
    twill_group group;
    job *jobs;
    size_t njobs, interrupt_after;
    atomic_size_t next;           /* next job id to hand out */
    atomic_size_t producers_left; /* the last one to finish writes 'D' */
    atomic_size_t ndiscarded;     /* jobs seen by the discard hook */
    size_t *discarded;            /* their ids, in the order they were dropped */
} shared;

/* Set by the SIGINT handler, polled by producers.  A lock-free atomic is safe
   to use from a handler; relaxed is enough: it only tells them to stop. */
static atomic_bool stop_requested;
static int wake_pipe[2]; /* [1]: written by the handler and the last producer */

static void on_sigint(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_store_explicit(&stop_requested, true, memory_order_relaxed);
    ssize_t n = write(wake_pipe[1], "I", 1); /* async-signal-safe */
    (void)n; /* the pipe is non-blocking; if full, a byte is already there */
    errno = saved;
}

static uint64_t job_value(size_t id)
{
    uint64_t v = id;
    for (int i = 0; i < JOB_ROUNDS; i++)
        v = example_random(v);
    return v;
}

/* twill_fn: one job.  Runs on a worker. */
static int run_job(void *arg)
{
    job *j = arg;
    j->result = job_value(j->id);
    j->done = true;
    return 0;
}

/* The discard hook: may run on any thread, must not block.  Records the id. */
static void on_discard(twill_fn fn, void *arg, void *ctx)
{
    (void)fn;
    shared *s = ctx;
    /* relaxed: the slot index only has to be unique; shutdown's return (it
       joins every worker) orders the write before the main thread's read */
    size_t slot = atomic_fetch_add_explicit(&s->ndiscarded, 1, memory_order_relaxed);
    s->discarded[slot] = ((const job *)arg)->id;
}

static void *produce(void *arg)
{
    producer *p = arg;
    shared *s = p->shared;
    while (!atomic_load_explicit(&stop_requested, memory_order_relaxed)) {
        size_t id = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        if (id >= s->njobs)
            break;
        bool urgent = id % URGENT_EVERY == 0;
        double t0 = example_now_ms();
        if (twill_group_spawn_prio(&s->group, urgent ? TWILL_PRIO_HIGH : TWILL_PRIO_NORMAL,
                                   run_job, &s->jobs[id]) != 0)
            break; /* ESHUTDOWN: a cancelling shutdown started; nothing was taken */
        double waited = example_now_ms() - t0;
        p->submitted++;
        p->urgent += urgent;
        unsigned size = twill_pool_size(s->pool);
        if (size > p->peak_workers)
            p->peak_workers = size;
        p->waited += waited > WAITED_MS;
        p->waited_ms += waited > WAITED_MS ? waited : 0;
        if (id + 1 == s->interrupt_after)
            kill(getpid(), SIGINT); /* to the process: the main thread handles it */
    }
    if (atomic_fetch_sub_explicit(&s->producers_left, 1, memory_order_relaxed) == 1) {
        ssize_t n = write(wake_pipe[1], "D", 1);
        (void)n;
    }
    return NULL;
}

/* Block SIGINT in every thread started from now on; handle it on this one. */
static void setup_signals(sigset_t *sigint)
{
    example_check(pipe(wake_pipe) != 0 ? errno : 0, "pipe");
    fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigemptyset(sigint);
    sigaddset(sigint, SIGINT);
    pthread_sigmask(SIG_BLOCK, sigint, NULL);
}

/* Sleep until all jobs are in ('D') or SIGINT arrived ('I'). */
static bool wait_for_interrupt(const sigset_t *sigint)
{
    pthread_sigmask(SIG_UNBLOCK, sigint, NULL);
    char why = 0;
    while (read(wake_pipe[0], &why, 1) != 1)
        ; /* EINTR only; SA_RESTART makes it rare */
    return why == 'I';
}

static int compare_ids(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Check every job: completed with the right result, discarded, or never
   submitted; print the account.  Returns true when it balances. */
static bool report(const shared *s, const producer *prod, size_t discarded, bool interrupted)
{
    size_t submitted = 0, waited = 0, urgent = 0, completed = 0, wrong = 0;
    unsigned peak = 0;
    double waited_ms = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        submitted += prod[i].submitted;
        waited += prod[i].waited;
        urgent += prod[i].urgent;
        waited_ms += prod[i].waited_ms;
        peak = prod[i].peak_workers > peak ? prod[i].peak_workers : peak;
    }
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i].done) {
            completed++;
            wrong += s->jobs[i].result != job_value(i);
        }
    size_t hooked = atomic_load_explicit(&s->ndiscarded, memory_order_relaxed);
    printf("worker_pool: %s; %zu jobs submitted, %zu completed, %zu discarded\n",
           interrupted ? "interrupted by SIGINT" : "all jobs in", submitted, completed, hooked);
    printf("backpressure: %zu of %zu spawns waited for one of %d queue slots, %.1f ms in all\n",
           waited, submitted, QUEUE_CAPACITY, waited_ms);
    printf("%zu urgent jobs at TWILL_PRIO_HIGH; elastic pool: up to %u workers\n", urgent, peak);
    if (hooked > 0) {
        qsort(s->discarded, hooked, sizeof *s->discarded, compare_ids);
        printf("discarded jobs:");
        for (size_t i = 0; i < hooked && i < SHOW_DISCARDED; i++)
            printf(" %zu", s->discarded[i]);
        printf("%s\n", hooked > SHOW_DISCARDED ? " ..." : "");
    }
    bool ok = submitted == completed + hooked && discarded == hooked && wrong == 0;
    printf("%s\n", ok ? "every job accounted for exactly once, results checked: OK"
                      : "MISMATCH: a job was lost, run twice, or computed wrongly");
    return ok;
}

static bool parse(int argc, char **argv, size_t *njobs, size_t *interrupt_after, bool *cancel)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cancel") == 0)
            *cancel = true;
        else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
            *njobs = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--interrupt-after") == 0 && i + 1 < argc)
            *interrupt_after = strtoull(argv[++i], NULL, 10);
        else
            return false;
    }
    return *njobs > 0;
}

int main(int argc, char **argv)
{
    shared s = {.njobs = 20000};
    bool cancel = false;
    if (!parse(argc, argv, &s.njobs, &s.interrupt_after, &cancel)) {
        fprintf(stderr, "usage: worker_pool [--jobs N] [--cancel] [--interrupt-after K]\n");
        return 1;
    }
    s.jobs = calloc(s.njobs, sizeof *s.jobs);
    s.discarded = calloc(s.njobs, sizeof *s.discarded);
    if (!s.jobs || !s.discarded)
        return 1;
    for (size_t i = 0; i < s.njobs; i++)
        s.jobs[i].id = i;
    atomic_init(&s.producers_left, PRODUCERS);

    sigset_t sigint;
    setup_signals(&sigint);
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.queue_capacity = QUEUE_CAPACITY;
    cfg.discard = on_discard;
    cfg.discard_ctx = &s;
    cfg.name = "job";
    /* elastic: the default size (a worker per core), growing up to two
       workers per online CPU while jobs wait */
    cfg.max_workers = 2 * (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    cfg.idle_timeout_ns = IDLE_TIMEOUT_MS * 1000000LL;
    twill_pool *pool;
    example_check(twill_pool_create(&pool, &cfg), "twill_pool_create");
    s.pool = pool;
    example_check(twill_group_init(&s.group, pool), "twill_group_init");
    producer prod[PRODUCERS] = {0};
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i].shared = &s;
        example_check(pthread_create(&prod[i].thread, NULL, produce, &prod[i]), "pthread_create");
    }

    bool interrupted = wait_for_interrupt(&sigint);
    size_t discarded = 0;
    if (interrupted && cancel) /* producers still spawning get ESHUTDOWN */
        example_check(twill_pool_shutdown(pool, TWILL_CANCEL, &discarded), "shutdown");
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i].thread, NULL);
    int rc = twill_group_wait(&s.group); /* after a cancel: ECANCELED or 0 */
    if (rc != 0 && !(cancel && rc == ECANCELED))
        example_check(rc, "twill_group_wait");
    if (!(interrupted && cancel))
        example_check(twill_pool_shutdown(pool, TWILL_DRAIN, &discarded), "shutdown");

    bool ok = report(&s, prod, discarded, interrupted);
    twill_pool_destroy(pool);
    free(s.jobs);
    free(s.discarded);
    return ok ? 0 : 1;
}

/*
 * bench/submit.c — flat external submission: --size empty tasks (quick 8e6)
 * handed to the runtime by 1 or 2 threads outside it (--variant 1|2), with
 * par_submit (twill_submit, task_arena::enqueue, the mutex pool's submit).
 * The time runs from the start of submission until every task has run, so
 * the rate (size / time_s, tasks/s) is the injector's throughput, bounded
 * queue and wake-ups included.  Each task counts itself on its worker's own
 * cache line, so counting adds no contention.  The serial baseline calls
 * the task function size times on the main thread.
 * Checksum: the number of tasks that ran.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "par.h"

#define MAX_PRODUCERS 2
#define POLL_NS       20000 /* completion poll period of the main thread */

/* One counter per cache line; the last line counts tasks run off the
   workers (serial baseline), hence the atomic add there. */
typedef struct counter {
    _Alignas(64) _Atomic uint64_t n;
} counter;

typedef struct submit_state {
    uint64_t  tasks;
    unsigned  producers, workers;
    counter  *done;   /* workers + 1 lines */
    _Atomic int rc;   /* first failed par_submit's code, set by producers */
} submit_state;

typedef struct producer_arg {
    submit_state *s;
    uint64_t      tasks;
} producer_arg;

static int empty_task(void *p)
{
    submit_state *s = p;
    int w = par_worker_index();
    if (w < 0 || (unsigned)w >= s->workers) {
        atomic_fetch_add_explicit(&s->done[s->workers].n, 1, memory_order_relaxed);
        return 0;
    }
    /* Single writer, so load+store is enough; relaxed, as the counts carry
       no data: the main thread only waits for their sum to reach size. */
    _Atomic uint64_t *n = &s->done[w].n;
    atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return 0;
}

static uint64_t tasks_done(const submit_state *s)
{
    uint64_t total = 0;
    for (unsigned i = 0; i <= s->workers; i++)
        total += atomic_load_explicit(&s->done[i].n, memory_order_relaxed);
    return total;
}

static void *producer(void *p)
{
    producer_arg *a = p;
    for (uint64_t i = 0; i < a->tasks; i++) {
        int rc = par_submit(empty_task, a->s);
        if (rc) {
            int none = 0; /* relaxed: read after pthread_join, which orders it */
            atomic_compare_exchange_strong_explicit(&a->s->rc, &none, rc, memory_order_relaxed,
                                                    memory_order_relaxed);
            break;
        }
    }
    return NULL;
}

static void *submit_setup(const bench_opts *o)
{
    if (o->size > ((uint64_t)1 << 40)) {
        fprintf(stderr, "submit: --size must be at most 2^40\n");
        return NULL;
    }
    submit_state *s = bench_alloc(sizeof *s);
    *s = (submit_state){.tasks = o->size, .producers = (unsigned)atoi(o->variant),
                        .workers = o->workers};
    s->done = bench_alloc((s->workers + 1) * sizeof *s->done);
    return s;
}

static void submit_reset(void *st)
{
    submit_state *s = st;
    for (unsigned i = 0; i <= s->workers; i++)
        atomic_init(&s->done[i].n, 0);
    atomic_init(&s->rc, 0);
}

static int submit_run_serial(void *st)
{
    submit_state *s = st;
    int (*volatile fn)(void *) = empty_task; /* a real call per task, as a runtime makes */
    for (uint64_t i = 0; i < s->tasks; i++)
        fn(s);
    return 0;
}

/* Producers submit their share; the main thread waits for the last task.
   A submit that fails leaves tasks missing: stop waiting and report it. */
static int submit_run_parallel(void *st)
{
    submit_state *s = st;
    pthread_t threads[MAX_PRODUCERS];
    producer_arg args[MAX_PRODUCERS];
    unsigned started = 0;
    int rc = 0;
    while (started < s->producers && !rc) {
        uint64_t share = s->tasks / s->producers + (started < s->tasks % s->producers);
        args[started] = (producer_arg){s, share};
        rc = pthread_create(&threads[started], NULL, producer, &args[started]);
        started += !rc;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    rc = rc ? rc : atomic_load_explicit(&s->rc, memory_order_relaxed);
    while (!rc && tasks_done(s) < s->tasks)
        bench_sleep_ns(POLL_NS);
    return rc;
}

static uint64_t submit_checksum(void *st, uint64_t *expected)
{
    submit_state *s = st;
    *expected = s->tasks;
    return tasks_done(s);
}

static void submit_teardown(void *st)
{
    submit_state *s = st;
    free(s->done);
    free(s);
}

static const bench_workload submit = {
    .name = "submit",
    .size_help = "number of tasks, at most 2^40",
    .variants = "1 2",
    .default_size = {8000000, 8000000},
    .external = true,
    .setup = submit_setup,
    .reset = submit_reset,
    .serial = submit_run_serial,
    .parallel = submit_run_parallel,
    .checksum = submit_checksum,
    .teardown = submit_teardown,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &submit);
}

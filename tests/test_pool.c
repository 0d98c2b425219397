/*
 * test_pool.c — the pool contract: configuration and environment, creation,
 * submission with backpressure, twill_run, identity, shutdown (drain,
 * cancel, idempotent, from a worker), statistics, error names, bad input.
 * Compiled once per scheduler (see testutil.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"


static int fail_task(void *arg)
{
    (void)arg;
    return 42;
}

/* Submit n counting tasks to p from here, drain, check each ran once, and
   destroy p. */
static void submit_and_drain(twill_pool *p, long n)
{
    _Atomic long ran = 0;
    for (long i = 0; i < n; i++)
        cr_assert_eq(twill_submit(p, count_task, &ran), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&ran), n);
    twill_pool_destroy(p);
}

/* ------------------------------------------------------------ config -- */

Test(config, init_gives_documented_defaults, .timeout = 30)
{
    unsetenv("TWILL_WORKERS");
    unsetenv("TWILL_PIN");
    unsetenv("TWILL_SCHED");
    twill_config cfg;
    twill_config_init(&cfg);
    cr_assert_eq(cfg.workers, 0);
    cr_assert_eq(cfg.pin, TWILL_PIN_CORES);
    cr_assert_eq(cfg.scheduler, TWILL_SCHED_STEALING);
    cr_assert_eq(cfg.queue_capacity, 0);
    cr_assert_null(cfg.discard);
    cr_assert_null(cfg.name);
    twill_config_init(NULL); /* no-op, no crash */
}

Test(config, environment_overrides_defaults, .timeout = 30)
{
    setenv("TWILL_WORKERS", "3", 1);
    setenv("TWILL_PIN", "none", 1);
    setenv("TWILL_SCHED", "central", 1);
    twill_config cfg;
    twill_config_init(&cfg);
    cr_assert_eq(cfg.workers, 3);
    cr_assert_eq(cfg.pin, TWILL_PIN_NONE);
    cr_assert_eq(cfg.scheduler, TWILL_SCHED_CENTRAL);
    setenv("TWILL_PIN", "threads", 1);
    setenv("TWILL_SCHED", "stealing", 1);
    twill_config_init(&cfg);
    cr_assert_eq(cfg.pin, TWILL_PIN_THREADS);
    cr_assert_eq(cfg.scheduler, TWILL_SCHED_STEALING);
}

Test(config, invalid_environment_values_are_ignored, .timeout = 30)
{
    const char *bad_workers[] = {"0", "-1", "1025", "abc", "4x", "", " 2", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_workers / sizeof *bad_workers; i++) {
        setenv("TWILL_WORKERS", bad_workers[i], 1);
        setenv("TWILL_PIN", "sideways", 1);
        setenv("TWILL_SCHED", "CENTRAL", 1);
        twill_config cfg;
        twill_config_init(&cfg);
        cr_assert_eq(cfg.workers, 0, "TWILL_WORKERS=\"%s\" must be ignored", bad_workers[i]);
        cr_assert_eq(cfg.pin, TWILL_PIN_CORES);
        cr_assert_eq(cfg.scheduler, TWILL_SCHED_STEALING);
    }
    setenv("TWILL_WORKERS", "1024", 1);
    twill_config cfg;
    twill_config_init(&cfg);
    cr_assert_eq(cfg.workers, 1024, "the upper bound itself is valid");
}

Test(config, fields_set_after_init_win_over_environment, .timeout = 30)
{
    setenv("TWILL_WORKERS", "3", 1);
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 2;
    cfg.scheduler = TEST_SCHED;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_pool_size(p), 2);
    twill_pool_destroy(p);
    unsetenv("TWILL_WORKERS");
}

/* ------------------------------------------------------------ create -- */

Test(create, default_pool_has_one_worker_per_usable_core, .timeout = 30)
{
    unsetenv("TWILL_WORKERS");
    twill_config cfg = test_config(0);
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    unsigned n = twill_pool_size(p);
    cr_assert(n >= 1 && n <= (unsigned)CPU_COUNT(&set), "size %u for %d usable CPUs", n,
              CPU_COUNT(&set));
    twill_pool_destroy(p);
}

Test(create, null_config_means_defaults, .timeout = 30)
{
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, NULL), 0);
    cr_assert_geq(twill_pool_size(p), 1);
    twill_pool_destroy(p);
}

Test(create, more_workers_than_cores_is_allowed, .timeout = 30)
{
    twill_pool *p = test_pool(8);
    cr_assert_eq(twill_pool_size(p), 8);
    submit_and_drain(p, 100);
}

Test(create, rejects_bad_configuration, .timeout = 30)
{
    twill_pool *p = (twill_pool *)0x1;
    twill_config cfg = test_config(TWILL_MAX_WORKERS + 1);
    cr_assert_eq(twill_pool_create(&p, &cfg), EINVAL);
    cr_assert_eq(p, (twill_pool *)0x1, "*out untouched on error");
    cfg = test_config(1);
    cfg.queue_capacity = (size_t)TWILL_MAX_QUEUE_CAPACITY + 1;
    cr_assert_eq(twill_pool_create(&p, &cfg), EINVAL);
    cfg = test_config(1);
    cfg.pin = (twill_pin)7;
    cr_assert_eq(twill_pool_create(&p, &cfg), EINVAL);
    cfg = test_config(1);
    cfg.scheduler = (twill_sched)-1;
    cr_assert_eq(twill_pool_create(&p, &cfg), EINVAL);
    cr_assert_eq(twill_pool_create(NULL, NULL), EINVAL);
}

Test(create, every_pin_mode_works_and_bind_failures_are_not_fatal, .timeout = 30)
{
    twill_pin modes[] = {TWILL_PIN_CORES, TWILL_PIN_THREADS, TWILL_PIN_NONE};
    for (int i = 0; i < 3; i++) {
        twill_config cfg = test_config(3);
        cfg.pin = modes[i];
        twill_pool *p;
        cr_assert_eq(twill_pool_create(&p, &cfg), 0);
        cr_assert_eq(twill_run(p, noop, NULL), 0);
        twill_stats st;
        cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
        if (modes[i] == TWILL_PIN_NONE)
            cr_assert_eq(st.bind_failures, 0);
        twill_pool_destroy(p);
    }
}

Test(create, small_queue_capacity_is_accepted, .timeout = 30)
{
    twill_config cfg = test_config(1);
    cfg.queue_capacity = 1;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    _Atomic long n = 0;
    for (int i = 0; i < 50; i++)
        cr_assert_eq(twill_submit(p, count_task, &n), 0);
    twill_pool_destroy(p);
    cr_assert_eq(atomic_load(&n), 50);
}

Test(create, two_pools_coexist, .timeout = 30)
{
    twill_pool *a = test_pool(1), *b = test_pool(2);
    _Atomic long na = 0, nb = 0;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(twill_submit(a, count_task, &na), 0);
        cr_assert_eq(twill_submit(b, count_task, &nb), 0);
    }
    twill_pool_destroy(a);
    twill_pool_destroy(b);
    cr_assert_eq(atomic_load(&na), 100);
    cr_assert_eq(atomic_load(&nb), 100);
}

Test(create, destroy_of_null_is_a_no_op_and_size_of_null_is_zero, .timeout = 30)
{
    twill_pool_destroy(NULL);
    cr_assert_eq(twill_pool_size(NULL), 0);
}

/* ------------------------------------------------------------ submit -- */

Test(submit, every_submitted_task_runs_once, .timeout = 30)
{
    submit_and_drain(test_pool(2), 10000);
}

Test(submit, rejects_null_pool_or_function, .timeout = 30)
{
    twill_pool *p = test_pool(1);
    cr_assert_eq(twill_submit(NULL, noop, NULL), EINVAL);
    cr_assert_eq(twill_submit(p, NULL, NULL), EINVAL);
    cr_assert_eq(twill_submit_for(NULL, noop, NULL, 0), EINVAL);
    cr_assert_eq(twill_submit_for(p, NULL, NULL, 0), EINVAL);
    twill_pool_destroy(p);
}

typedef struct full_pool {
    twill_pool *p;
    gate g;
    _Atomic long ran;
    int accepted;
} full_pool;

/* A pool of 1 worker blocked on a gate, with its 4-slot queue full. */
static void fill_pool(full_pool *f)
{
    twill_config cfg = test_config(1);
    cfg.queue_capacity = 4;
    cr_assert_eq(twill_pool_create(&f->p, &cfg), 0);
    cr_assert_eq(twill_submit(f->p, gate_task, &f->g), 0);
    gate_wait_inside(&f->g, 1);
    f->accepted = 0;
    while (twill_submit_for(f->p, count_task, &f->ran, 0) == 0)
        f->accepted++;
}

/* A pool with capacity `requested` accepts exactly `bound` outside tasks
   while its only worker is busy. */
static void full_pool_check(size_t requested, int bound)
{
    full_pool f = {.g = GATE_INIT};
    twill_config cfg = test_config(1);
    cfg.queue_capacity = requested;
    cr_assert_eq(twill_pool_create(&f.p, &cfg), 0);
    cr_assert_eq(twill_submit(f.p, gate_task, &f.g), 0);
    gate_wait_inside(&f.g, 1);
    while (twill_submit_for(f.p, count_task, &f.ran, 0) == 0)
        f.accepted++;
    cr_assert_eq(f.accepted, bound);
    gate_open(&f.g);
    twill_pool_destroy(f.p);
    cr_assert_eq(atomic_load(&f.ran), bound);
}

Test(create, capacity_one_accepts_exactly_one_outside_task, .timeout = 30)
{
    full_pool_check(1, 1);
}

Test(create, capacity_is_rounded_up_to_a_power_of_two, .timeout = 30)
{
    full_pool_check(5, 8);
}

Test(submit, full_queue_try_once_returns_eagain_and_takes_nothing, .timeout = 30)
{
    full_pool f = {.g = GATE_INIT};
    fill_pool(&f);
    cr_assert_eq(f.accepted, 4, "the bound is the queue capacity");
    cr_assert_eq(twill_submit_for(f.p, count_task, &f.ran, 0), EAGAIN);
    gate_open(&f.g);
    cr_assert_eq(twill_pool_shutdown(f.p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&f.ran), 4, "the refused task never runs");
    twill_pool_destroy(f.p);
}

Test(stats, queued_counts_outside_tasks_waiting_to_start, .timeout = 30)
{
    full_pool f = {.g = GATE_INIT};
    fill_pool(&f);
    twill_stats all, w0;
    cr_assert_eq(twill_pool_stats(f.p, -1, &all), 0);
    cr_assert_eq(twill_pool_stats(f.p, 0, &w0), 0);
    cr_assert_eq(all.queued, 4);
    cr_assert_eq(w0.queued, 4, "the pool's queue, whichever worker is asked for");
    gate_open(&f.g);
    cr_assert_eq(twill_pool_shutdown(f.p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(twill_pool_stats(f.p, -1, &all), 0);
    cr_assert_eq(all.queued, 0);
    twill_pool_destroy(f.p);
}

Test(submit, full_queue_with_timeout_returns_etimedout, .timeout = 30)
{
    full_pool f = {.g = GATE_INIT};
    fill_pool(&f);
    cr_assert_eq(twill_submit_for(f.p, count_task, &f.ran, 2000000), ETIMEDOUT);
    gate_open(&f.g);
    twill_pool_destroy(f.p);
    cr_assert_eq(atomic_load(&f.ran), 4);
}

typedef struct blocked_submit {
    twill_pool *p;
    _Atomic long *ran;
    int64_t timeout_ns;   /* for twill_submit_for; 0 in a zeroed struct: use twill_submit */
    _Atomic int started;
    int rc;
} blocked_submit;

/* Thread body: one submit that may block on a full queue. */
static void *submit_forever(void *arg)
{
    blocked_submit *b = arg;
    atomic_store(&b->started, 1);
    b->rc = b->timeout_ns != 0 ? twill_submit_for(b->p, count_task, b->ran, b->timeout_ns)
                               : twill_submit(b->p, count_task, b->ran);
    return NULL;
}

Test(submit, blocking_submit_proceeds_when_space_frees, .timeout = 30)
{
    full_pool f = {.g = GATE_INIT};
    fill_pool(&f);
    blocked_submit b = {.p = f.p, .ran = &f.ran};
    pthread_t t;
    pthread_create(&t, NULL, submit_forever, &b);
    while (!atomic_load(&b.started))
        sched_yield();
    gate_open(&f.g);
    pthread_join(t, NULL);
    cr_assert_eq(b.rc, 0);
    twill_pool_destroy(f.p);
    cr_assert_eq(atomic_load(&f.ran), 5);
}

/* Issue 15.2: a submitter blocked on a full queue returns as soon as one
   slot frees, not once the queue is half empty.  The worker frees one slot
   by taking a task that then waits for that very submitter: with the old
   half-empty wake-up this deadlocked (here: the task gave up after its
   bound and the test failed). */
typedef struct await_submitter {
    gate g;                  /* holds the worker while the queue fills */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int returned;            /* the blocked submit has returned */
    int saw_return;          /* the waiting task saw it within its bound */
} await_submitter;

static int wait_for_submitter(void *arg)
{
    await_submitter *a = arg;
    struct timespec dl = test_deadline();
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    while (!a->returned && rc == 0)
        rc = pthread_cond_timedwait(&a->cv, &a->mu, &dl);
    a->saw_return = a->returned;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

typedef struct notify_submit {
    blocked_submit b;
    await_submitter *a;
} notify_submit;

static void *submit_then_notify(void *arg)
{
    notify_submit *n = arg;
    submit_forever(&n->b);
    pthread_mutex_lock(&n->a->mu);
    n->a->returned = 1;
    pthread_cond_broadcast(&n->a->cv);
    pthread_mutex_unlock(&n->a->mu);
    return NULL;
}

static void blocked_submitter_sees_first_free_slot(int64_t timeout_ns)
{
    await_submitter a = {.g = GATE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER,
                         .cv = PTHREAD_COND_INITIALIZER};
    _Atomic long ran = 0;
    twill_config cfg = test_config(1);
    cfg.queue_capacity = 8;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_submit(p, gate_task, &a.g), 0);
    gate_wait_inside(&a.g, 1);
    cr_assert_eq(twill_submit_for(p, wait_for_submitter, &a, 0), 0);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(twill_submit_for(p, count_task, &ran, 0), 0);
    cr_assert_eq(twill_submit_for(p, count_task, &ran, 0), EAGAIN, "the queue is full");
    notify_submit n = {.b = {.p = p, .ran = &ran, .timeout_ns = timeout_ns}, .a = &a};
    pthread_t t;
    pthread_create(&t, NULL, submit_then_notify, &n);
    while (!atomic_load(&n.b.started))
        sched_yield();
    gate_open(&a.g); /* the worker takes wait_for_submitter: one slot frees */
    pthread_join(t, NULL);
    cr_assert_eq(n.b.rc, 0);
    twill_pool_destroy(p);
    cr_assert(a.saw_return, "the submitter returned while the task waited for it");
    cr_assert_eq(atomic_load(&ran), 8);
}

Test(submit, blocked_submit_returns_as_soon_as_one_slot_frees, .timeout = 60)
{
    blocked_submitter_sees_first_free_slot(0);
}

Test(submit, blocked_bounded_submit_returns_as_soon_as_one_slot_frees, .timeout = 60)
{
    blocked_submitter_sees_first_free_slot(TEST_WAIT_NS);
}

typedef struct shutdown_call {
    twill_pool *p;
    twill_stop how;
    size_t discarded;
    int rc;
} shutdown_call;

static void *shutdown_thread(void *arg)
{
    shutdown_call *s = arg;
    s->rc = twill_pool_shutdown(s->p, s->how, &s->discarded);
    return NULL;
}

Test(submit, blocked_submit_returns_eshutdown_when_shutdown_starts, .timeout = 30)
{
    full_pool f = {.g = GATE_INIT};
    fill_pool(&f);
    blocked_submit b = {.p = f.p, .ran = &f.ran};
    pthread_t t, s;
    pthread_create(&t, NULL, submit_forever, &b);
    while (!atomic_load(&b.started))
        sched_yield();
    /* The queue stays full (the worker is held at the gate), so the
       submitter is refused whether it blocked before shutdown began or not. */
    shutdown_call sc = {.p = f.p, .how = TWILL_DRAIN};
    pthread_create(&s, NULL, shutdown_thread, &sc);
    pthread_join(t, NULL);
    cr_assert_eq(b.rc, ESHUTDOWN);
    gate_open(&f.g);
    pthread_join(s, NULL);
    cr_assert_eq(sc.rc, 0);
    cr_assert_eq(atomic_load(&f.ran), 4, "drain ran everything accepted, nothing else");
    twill_pool_destroy(f.p);
}

Test(submit, huge_timeout_on_a_full_queue_waits_like_forever, .timeout = 30)
{
    /* now + INT64_MAX overflowed: on the central queue the submitter then
       spun in pthread_cond_timedwait (EINVAL) holding the queue's lock, and
       the pool could never drain.  It must simply wait for space. */
    full_pool f = {.g = GATE_INIT};
    fill_pool(&f);
    blocked_submit h = {.p = f.p, .ran = &f.ran, .timeout_ns = INT64_MAX, .rc = -1};
    pthread_t t;
    pthread_create(&t, NULL, submit_forever, &h);
    while (!atomic_load(&h.started))
        sched_yield();
    gate_open(&f.g);
    pthread_join(t, NULL);
    cr_assert_eq(h.rc, 0);
    twill_pool_destroy(f.p);
    cr_assert_eq(atomic_load(&f.ran), 5);
}

static int submit_many_inside(void *arg)
{
    full_pool *f = arg;
    /* From a worker: goes to its own queue and never blocks, even though
       the injector (capacity 4) is tiny. */
    for (int i = 0; i < 1000; i++)
        if (twill_submit_for(f->p, count_task, &f->ran, 0) != 0)
            return 1;
    return 0;
}

Test(submit, submit_from_own_worker_never_blocks, .timeout = 30)
{
    full_pool f = {.g = GATE_INIT};
    twill_config cfg = test_config(1);
    cfg.queue_capacity = 4;
    cr_assert_eq(twill_pool_create(&f.p, &cfg), 0);
    cr_assert_eq(twill_run(f.p, submit_many_inside, &f), 0);
    twill_pool_destroy(f.p);
    cr_assert_eq(atomic_load(&f.ran), 1000);
}

/* -------------------------------------------------------------- run -- */

static int whoami(void *arg)
{
    int *out = arg;
    out[0] = twill_worker_id();
    out[1] = twill_current_pool() != NULL;
    return 7;
}

Test(run, runs_on_a_worker_and_returns_the_task_code, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    int who[2] = {-5, 0};
    cr_assert_eq(twill_run(p, whoami, who), 7);
    cr_assert(who[0] >= 0 && who[0] < 2);
    cr_assert_eq(who[1], 1);
    cr_assert_eq(twill_run(NULL, whoami, who), EINVAL);
    cr_assert_eq(twill_run(p, NULL, NULL), EINVAL);
    twill_pool_destroy(p);
}

Test(run, outside_workers_identity_is_none, .timeout = 30)
{
    cr_assert_eq(twill_worker_id(), -1);
    cr_assert_null(twill_current_pool());
}

typedef struct nested {
    twill_pool *self, *other;
    int inner_id, outer_id;
} nested;

static int inner_same_pool(void *arg)
{
    nested *n = arg;
    n->inner_id = twill_worker_id();
    return 3;
}

static int outer_runs_nested(void *arg)
{
    nested *n = arg;
    n->outer_id = twill_worker_id();
    int rc = twill_run(n->self, inner_same_pool, n); /* inline */
    if (rc != 3)
        return 100 + rc;
    return twill_run(n->other, fail_task, NULL); /* blocks on the other pool */
}

Test(run, from_own_worker_runs_inline_and_from_another_pool_blocks, .timeout = 30)
{
    nested n = {.self = test_pool(2), .other = test_pool(1)};
    cr_assert_eq(twill_run(n.self, outer_runs_nested, &n), 42);
    cr_assert_eq(n.inner_id, n.outer_id, "same-pool run is inline on the same worker");
    twill_pool_destroy(n.self);
    twill_pool_destroy(n.other);
}

Test(run, after_shutdown_returns_eshutdown, .timeout = 30)
{
    twill_pool *p = test_pool(1);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(twill_run(p, noop, NULL), ESHUTDOWN);
    twill_pool_destroy(p);
}

/* --------------------------------------------------------- fairness -- */

typedef struct flood {
    twill_pool *p;
    _Atomic int outside_ran;
    long local_after;
} flood;

static int mark_outside(void *arg)
{
    atomic_store(&((flood *)arg)->outside_ran, 1);
    return 0;
}

static int local_chain(void *arg)
{
    /* Each local task re-submits itself (to its own queue) until the
       outside task has run: without injector polling this never ends. */
    flood *f = arg;
    if (atomic_load(&f->outside_ran))
        return 0;
    f->local_after++;
    if (f->local_after > 10000000)
        return 1; /* starved: give up so the test fails instead of hanging */
    return twill_submit(f->p, local_chain, f);
}

static int start_flood(void *arg)
{
    flood *f = arg;
    return twill_submit(f->p, local_chain, f);
}

Test(fairness, outside_submission_runs_while_a_worker_is_flooded_with_local_work,
     .timeout = 30)
{
    flood f = {.p = test_pool(1)};
    cr_assert_eq(twill_run(f.p, start_flood, &f), 0);
    cr_assert_eq(twill_submit(f.p, mark_outside, &f), 0);
    twill_pool_destroy(f.p);
    cr_assert_eq(atomic_load(&f.outside_ran), 1);
    cr_assert_lt(f.local_after, 10000000, "outside task starved behind local work");
}

/* --------------------------------------------------------- shutdown -- */

static int spawn_children(void *arg)
{
    discards *d = arg;
    atomic_fetch_add(&d->ran, 1);
    twill_pool *p = twill_current_pool();
    for (int i = 0; i < 10; i++)
        if (twill_submit(p, count_task, &d->ran) != 0)
            return 1;
    return 0;
}

Test(shutdown, drain_runs_everything_accepted_including_what_it_spawns, .timeout = 30)
{
    discards d = {0};
    twill_config cfg = test_config(2);
    cfg.discard = count_discard;
    cfg.discard_ctx = &d;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(twill_submit(p, spawn_children, &d), 0);
    size_t dropped = 99;
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, &dropped), 0);
    cr_assert_eq(dropped, 0);
    cr_assert_eq(atomic_load(&d.ran), 100 * 11);
    cr_assert_eq(atomic_load(&d.calls), 0);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(p, -1, &st), 0, "stats readable after shutdown");
    cr_assert_eq(st.tasks_run, 1100);
    twill_pool_destroy(p);
}

/* A 1-worker pool whose discard hook counts into *d, its worker held at g. */
static twill_pool *gated_pool(discards *d, gate *g)
{
    twill_config cfg = test_config(1);
    cfg.discard = count_discard;
    cfg.discard_ctx = d;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_submit(p, gate_task, g), 0);
    gate_wait_inside(g, 1);
    return p;
}

Test(shutdown, cancel_discards_queued_tasks_once_each_and_reports_the_count, .timeout = 30)
{
    discards d = {0};
    gate g = GATE_INIT;
    twill_pool *p = gated_pool(&d, &g);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(twill_submit(p, count_task, &d.ran), 0);
    shutdown_call sc = {.p = p, .how = TWILL_CANCEL, .discarded = 999};
    pthread_t s;
    pthread_create(&s, NULL, shutdown_thread, &sc);
    /* The running task finishes after shutdown has begun: refused from now. */
    while (twill_submit(p, count_task, &d.ran) == 0)
        sched_yield(); /* accepted ones are still counted below */
    gate_open(&g);
    pthread_join(s, NULL);
    cr_assert_eq(sc.rc, 0);
    long ran = atomic_load(&d.ran), calls = atomic_load(&d.calls);
    cr_assert_eq(ran, 0, "queued tasks must not run after a cancel");
    cr_assert_eq((long)sc.discarded, calls, "*discarded equals the hook calls");
    cr_assert_geq(calls, 20);
    twill_stats st;
    twill_pool_stats(p, -1, &st);
    cr_assert_eq(st.tasks_discarded, (uint64_t)calls);
    cr_assert_eq(twill_submit(p, noop, NULL), ESHUTDOWN);
    twill_pool_destroy(p);
}

typedef struct runner {
    twill_pool *p;
    int rc;
} runner;

static void *run_thread(void *arg)
{
    runner *r = arg;
    r->rc = twill_run(r->p, noop, NULL);
    return NULL;
}

Test(shutdown, run_whose_task_is_discarded_returns_ecanceled, .timeout = 30)
{
    discards d = {0};
    gate g = GATE_INIT;
    twill_pool *p = gated_pool(&d, &g);
    runner r = {.p = p, .rc = -1};
    pthread_t t, s;
    pthread_create(&t, NULL, run_thread, &r);
    /* Wait until the run's task is queued (no sleeping). */
    struct timespec dl = test_deadline(), now;
    twill_stats st = {0};
    while (twill_pool_stats(p, -1, &st) == 0 && st.queued == 0) {
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "twill_run never queued its task");
        sched_yield();
    }
    shutdown_call sc = {.p = p, .how = TWILL_CANCEL};
    pthread_create(&s, NULL, shutdown_thread, &sc);
    /* Open the gate only once shutdown has begun (submits are refused);
       probes accepted before that are discarded too, and counted. */
    long probes = 0;
    while (twill_submit(p, noop, NULL) == 0)
        probes++;
    gate_open(&g);
    pthread_join(s, NULL);
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, ECANCELED, "rc %d", r.rc);
    cr_assert_eq(sc.discarded, (size_t)(1 + probes));
    cr_assert_eq(atomic_load(&d.calls), 1 + probes, "the hook sees the discarded run task");
    cr_assert_eq(twill_run(p, noop, NULL), ESHUTDOWN);
    twill_pool_destroy(p);
}

Test(shutdown, second_and_concurrent_shutdowns_return_zero_with_no_discards, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    shutdown_call a = {.p = p, .how = TWILL_CANCEL, .discarded = 7};
    shutdown_call b = {.p = p, .how = TWILL_DRAIN, .discarded = 7};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, shutdown_thread, &a);
    pthread_create(&tb, NULL, shutdown_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(b.rc, 0);
    size_t d = 7;
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, &d), 0);
    cr_assert_eq(d, 0);
    twill_pool_destroy(p);
}

static int shutdown_own_pool(void *arg)
{
    (void)arg;
    return twill_pool_shutdown(twill_current_pool(), TWILL_DRAIN, NULL);
}

Test(shutdown, from_own_worker_returns_edeadlk, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    cr_assert_eq(twill_run(p, shutdown_own_pool, NULL), EDEADLK);
    cr_assert_eq(twill_run(p, noop, NULL), 0, "the pool still works");
    twill_pool_destroy(p);
}

static int destroy_own_pool(void *arg)
{
    (void)arg;
    twill_pool_destroy(twill_current_pool()); /* must be a no-op */
    return twill_current_pool() != NULL ? 0 : 1;
}

Test(shutdown, destroy_from_own_worker_does_nothing, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    cr_assert_eq(twill_run(p, destroy_own_pool, NULL), 0);
    cr_assert_eq(twill_run(p, noop, NULL), 0, "the pool still works");
    twill_pool_destroy(p);
}

Test(shutdown, rejects_null_pool_and_unknown_mode, .timeout = 30)
{
    twill_pool *p = test_pool(1);
    cr_assert_eq(twill_pool_shutdown(NULL, TWILL_DRAIN, NULL), EINVAL);
    cr_assert_eq(twill_pool_shutdown(p, (twill_stop)9, NULL), EINVAL);
    twill_pool_destroy(p);
}

Test(shutdown, submit_after_shutdown_returns_eshutdown_and_takes_nothing, .timeout = 30)
{
    discards d = {0};
    twill_config cfg = test_config(2);
    cfg.discard = count_discard;
    cfg.discard_ctx = &d;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(twill_submit(p, count_task, &d.ran), ESHUTDOWN);
    cr_assert_eq(twill_submit_for(p, count_task, &d.ran, 0), ESHUTDOWN);
    twill_pool_destroy(p);
    cr_assert_eq(atomic_load(&d.ran), 0);
    cr_assert_eq(atomic_load(&d.calls), 0, "a refused task is not discarded either");
}

/* ------------------------------------------------------------ stats -- */

Test(stats, count_runs_failures_and_outside_injections, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    _Atomic long n = 0;
    for (int i = 0; i < 50; i++)
        cr_assert_eq(twill_submit(p, count_task, &n), 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(twill_submit(p, fail_task, NULL), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    twill_stats all, w0, w1;
    cr_assert_eq(twill_pool_stats(p, -1, &all), 0);
    cr_assert_eq(twill_pool_stats(p, 0, &w0), 0);
    cr_assert_eq(twill_pool_stats(p, 1, &w1), 0);
    cr_assert_eq(all.tasks_run, 55);
    cr_assert_eq(all.tasks_failed, 5);
    cr_assert_eq(all.tasks_run, w0.tasks_run + w1.tasks_run, "all is the sum of workers");
    cr_assert_eq(all.injected, 55, "outside submissions taken, on either scheduler");
    twill_pool_destroy(p);
}

Test(stats, rejects_bad_arguments, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(NULL, -1, &st), EINVAL);
    cr_assert_eq(twill_pool_stats(p, -1, NULL), EINVAL);
    cr_assert_eq(twill_pool_stats(p, 2, &st), EINVAL);
    cr_assert_eq(twill_pool_stats(p, -2, &st), EINVAL);
    twill_pool_destroy(p);
}

Test(stats, idle_workers_park, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    twill_stats st = {0};
    /* Workers park after a bounded spin; poll (with the test deadline)
       until both have parked at least once. */
    struct timespec dl = test_deadline(), now;
    do {
        cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "workers never parked");
        sched_yield();
    } while (st.parks < 2);
    twill_pool_destroy(p);
}

/* -------------------------------------------------------------- fork -- */

/* Issue 15: a pool inherited through fork() has no workers.  Every call on
   it returns EOWNERDEAD instead of hanging, destroy frees it without
   joining, and a new pool in the child works. */
static int child_checks(twill_pool *p)
{
    _Atomic long n = 0;
    twill_group g;
    twill_stats st;
    if (twill_submit(p, count_task, &n) != EOWNERDEAD ||
        twill_submit_for(p, count_task, &n, 0) != EOWNERDEAD ||
        twill_run(p, count_task, &n) != EOWNERDEAD || twill_group_init(&g, p) != EOWNERDEAD ||
        twill_pool_stats(p, -1, &st) != EOWNERDEAD ||
        twill_pool_shutdown(p, TWILL_DRAIN, NULL) != EOWNERDEAD ||
        twill_pool_trace_write(p, "/dev/null") != EOWNERDEAD ||
        twill_parallel_for(p, 0, 10, 1, NULL, NULL) != EINVAL)
        return 1;
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's allocator is not fork-safe: a lock another parent
       thread held at the fork stays held in the child, and the child's
       next allocations (a new pool's threads) hang there.  Plain builds
       check the rest. */
    return 0;
#endif
    twill_pool_destroy(p);
    twill_pool *fresh;
    twill_config cfg = test_config(2);
    if (twill_pool_create(&fresh, &cfg) != 0 || twill_run(fresh, count_task, &n) != 0 ||
        twill_group_init(&g, fresh) != 0 || twill_group_spawn(&g, count_task, &n) != 0 ||
        twill_group_wait(&g) != 0 || atomic_load(&n) != 2)
        return 2;
    twill_pool_destroy(fresh);
    return 0;
}

/* Wait for child pid with a deadline; its exit code, or -1. */
static int wait_child(pid_t pid)
{
    struct timespec dl = test_deadline(), now;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        sched_yield();
    }
}

Test(fork, inherited_pool_fails_every_call_and_a_new_pool_works, .timeout = 60)
{
    twill_pool *p = test_pool(2);
    _Atomic long n = 0;
    cr_assert_eq(twill_run(p, count_task, &n), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(child_checks(p));
    cr_assert_eq(wait_child(pid), 0, "the child's checks (1: inherited pool, 2: new pool)");
    cr_assert_eq(twill_run(p, count_task, &n), 0, "the parent's pool is untouched");
    cr_assert_eq(atomic_load(&n), 2);
    twill_pool_destroy(p);
}

static int fork_from_task(void *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* The child's only thread is no worker: fork-join runs serially. */
        _Atomic long n = 0;
        int ok = twill_worker_id() == -1 && twill_current_pool() == NULL &&
                 twill_join(count_task, &n, count_task, &n) == 0 && atomic_load(&n) == 2 &&
                 twill_submit(arg, count_task, &n) == EOWNERDEAD;
        _exit(ok ? 0 : 1);
    }
    return pid > 0 ? wait_child(pid) : -1;
}

Test(fork, a_child_forked_by_a_task_is_outside_every_pool, .timeout = 60)
{
    twill_pool *p = test_pool(1);
    cr_assert_eq(twill_run(p, fork_from_task, p), 0);
    twill_pool_destroy(p);
}

/* ---------------------------------------------------------- strerror -- */

Test(strerror, names_every_code_and_never_returns_null, .timeout = 30)
{
    int codes[] = {0,         EINVAL,    EINVAL,  ENOMEM, EAGAIN,    ETIMEDOUT,
                   ECANCELED, ESHUTDOWN, EDEADLK, EBUSY,  EOWNERDEAD};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        const char *s = twill_strerror(codes[i]);
        cr_assert_not_null(s);
        cr_assert_neq(strcmp(s, "unknown error"), 0, "code %d has a name", codes[i]);
    }
    cr_assert_not_null(twill_strerror(-1));
    cr_assert_not_null(twill_strerror(123456));
    cr_assert_not_null(twill_strerror(42));
}

/* --------------------------------------------------------- topology -- */

Test(topology, default_workers_follow_the_process_binding, .timeout = 30)
{
    /* Like `taskset -c N prog`: bind the process (this forked test) to one
       CPU; a default pool then has exactly one worker. */
    cpu_set_t all, one;
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    int cpu = -1;
    for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++)
        if (CPU_ISSET(i, &all))
            cpu = i;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    twill_config cfg = test_config(0);
    cfg.pin = TWILL_PIN_CORES;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_pool_size(p), 1);
    cr_assert_eq(twill_run(p, noop, NULL), 0);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
    cr_assert_eq(st.bind_failures, 0, "binding to an allowed core succeeds");
    twill_pool_destroy(p);
    sched_setaffinity(0, sizeof all, &all);
}

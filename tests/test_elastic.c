/*
 * test_elastic.c — the contract of elastic pools: twill_pool_resize,
 * max_workers and idle_timeout_ns (twill.h, "Elastic pools").
 */
#include <pthread.h>
#include <stdint.h>

#include "testutil.h"

/* Which workers ran a broadcast share: a bit per id. */
static _Atomic uint64_t seen;

static int mark_worker(void *arg)
{
    (void)arg;
    int id = twill_worker_id();
    cr_assert(id >= 0 && id < 64);
    atomic_fetch_or(&seen, UINT64_C(1) << id);
    return 0;
}

/* The ids that answer a broadcast: exactly 0..n-1 when n workers run. */
static uint64_t answering(twill_pool *p)
{
    atomic_store(&seen, 0);
    cr_assert_eq(twill_broadcast(p, mark_worker, NULL), 0);
    return atomic_load(&seen);
}

static uint64_t ids_below(unsigned n)
{
    return (UINT64_C(1) << n) - 1;
}

Test(resize, grows_and_shrinks_to_exactly_the_size_asked)
{
    twill_pool *p = test_pool(1);
    cr_assert_eq(twill_pool_resize(p, 4), 0);
    cr_assert_eq(twill_pool_size(p), 4);
    cr_assert_eq(answering(p), ids_below(4));
    cr_assert_eq(twill_pool_resize(p, 2), 0);
    cr_assert_eq(twill_pool_size(p), 2);
    cr_assert_eq(answering(p), ids_below(2));
    cr_assert_eq(twill_pool_resize(p, 2), 0); /* the same size: nothing to do */
    cr_assert_eq(twill_pool_resize(p, 3), 0); /* a slot used before */
    cr_assert_eq(answering(p), ids_below(3));
    twill_pool_destroy(p);
}

Test(resize, bad_arguments_are_einval)
{
    twill_pool *p = test_pool(1);
    cr_assert_eq(twill_pool_resize(NULL, 1), EINVAL);
    cr_assert_eq(twill_pool_resize(p, 0), EINVAL);
    cr_assert_eq(twill_pool_resize(p, TWILL_MAX_WORKERS + 1), EINVAL);
    cr_assert_eq(twill_pool_size(p), 1);
    twill_pool_destroy(p);

    twill_config cfg = test_config(1);
    cfg.max_workers = TWILL_MAX_WORKERS + 1;
    cr_assert_eq(twill_pool_create(&p, &cfg), EINVAL);
    cfg = test_config(1);
    cfg.idle_timeout_ns = -1;
    cr_assert_eq(twill_pool_create(&p, &cfg), EINVAL);
}

Test(resize, after_shutdown_is_eshutdown)
{
    twill_pool *p = test_pool(2);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(twill_pool_resize(p, 3), ESHUTDOWN);
    cr_assert_eq(twill_pool_resize(p, 1), ESHUTDOWN);
    twill_pool_destroy(p);
}

typedef struct inside_resize {
    twill_pool *pool;
    unsigned to;
    int rc;
} inside_resize;

static int resize_from_worker(void *arg)
{
    inside_resize *r = arg;
    r->rc = twill_pool_resize(r->pool, r->to);
    return 0;
}

Test(resize, from_a_worker_shrinking_is_edeadlk_growing_works)
{
    twill_pool *p = test_pool(2);
    inside_resize r = {p, 1, -1};
    cr_assert_eq(twill_run(p, resize_from_worker, &r), 0);
    cr_assert_eq(r.rc, EDEADLK);
    cr_assert_eq(twill_pool_size(p), 2);
    r.to = 3;
    cr_assert_eq(twill_run(p, resize_from_worker, &r), 0);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(twill_pool_size(p), 3);
    twill_pool_destroy(p);
}

typedef struct resizer {
    twill_pool *pool;
    unsigned to;
    int rc;
    _Atomic long done;
} resizer;

static void *resize_thread(void *arg)
{
    resizer *r = arg;
    r->rc = twill_pool_resize(r->pool, r->to);
    atomic_store(&r->done, 1);
    return NULL;
}

Test(resize, shrink_waits_for_the_running_task_and_loses_nothing)
{
    twill_pool *p = test_pool(2);
    gate g = GATE_INIT;
    /* both workers inside a long task */
    cr_assert_eq(twill_submit(p, gate_task, &g), 0);
    cr_assert_eq(twill_submit(p, gate_task, &g), 0);
    gate_wait_inside(&g, 2);
    _Atomic long ran = 0;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(twill_submit(p, count_task, &ran), 0);
    resizer r = {p, 1, -1, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, resize_thread, &r), 0);
    /* Worker 1 is still inside its task: the resize cannot be done.  No
       timing here: the gate holds worker 1 until we open it. */
    cr_assert_eq(atomic_load(&r.done), 0);
    cr_assert_eq(twill_pool_size(p), 2);
    gate_open(&g);
    wait_count(&r.done, 1);
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(twill_pool_size(p), 1);
    wait_count(&ran, 100);
    size_t discarded = 1;
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, &discarded), 0);
    cr_assert_eq(atomic_load(&ran), 100);
    cr_assert_eq(discarded, 0);
    twill_pool_destroy(p);
}

/* The worker that will leave (1) pushes tasks into its own deque (inside
   submits) while worker 0 is held, so nobody can steal them, and returns
   while the shrink is pending: it must hand them over, not drop them or
   keep them.  A broadcast puts each part on the right worker. */
typedef struct spawner {
    twill_pool *pool;
    gate *hold, *g;
    _Atomic long *ran;
    int n;
} spawner;

static int spawn_on_1_hold_0(void *arg)
{
    spawner *s = arg;
    if (twill_worker_id() == 0) {
        gate_pass(s->hold);
        return 0;
    }
    for (int i = 0; i < s->n; i++)
        cr_assert_eq(twill_submit(s->pool, count_task, s->ran), 0);
    gate_pass(s->g);
    return 0;
}

static void *broadcast_thread(void *arg)
{
    spawner *s = arg;
    cr_assert_eq(twill_broadcast(s->pool, spawn_on_1_hold_0, s), 0);
    return NULL;
}

Test(resize, a_leaving_worker_hands_its_queued_tasks_over)
{
    twill_pool *p = test_pool(2);
    gate g = GATE_INIT, hold = GATE_INIT;
    _Atomic long ran = 0;
    spawner s = {p, &hold, &g, &ran, 1000};
    pthread_t b, t;
    cr_assert_eq(pthread_create(&b, NULL, broadcast_thread, &s), 0);
    gate_wait_inside(&hold, 1);
    gate_wait_inside(&g, 1);
    cr_assert_eq(atomic_load(&ran), 0);
    resizer r = {p, 1, -1, 0};
    cr_assert_eq(pthread_create(&t, NULL, resize_thread, &r), 0);
    gate_open(&g); /* worker 1 returns to its loop and leaves */
    wait_count(&r.done, 1);
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(twill_pool_size(p), 1);
    gate_open(&hold); /* worker 0 runs what worker 1 handed over */
    pthread_join(b, NULL);
    wait_count(&ran, 1000);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&ran), 1000);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
    cr_assert_eq(st.tasks_run, 1000, "%lu", (unsigned long)st.tasks_run); /* broadcast shares are not tasks */
    twill_pool_destroy(p);
}

/* A broadcast posted while a shrink waits for busy workers: each answers
   its share before it leaves (the share is part of its current work), so
   the broadcast returns with every share run.  A first broadcast places
   the work: workers 1 and 2 (the ones that must leave) block in it,
   worker 0 returns at once and is free to run the second one's share. */
static _Atomic long shares;
static gate hold12 = GATE_INIT;

static int block_1_and_2(void *arg)
{
    (void)arg;
    if (twill_worker_id() != 0)
        gate_pass(&hold12);
    return 0;
}

static int count_share(void *arg)
{
    (void)arg;
    atomic_fetch_add(&shares, 1);
    return 0;
}

typedef struct caster {
    twill_pool *pool;
    twill_fn fn;
    int rc;
    _Atomic long done;
} caster;

static void *cast_thread(void *arg)
{
    caster *c = arg;
    c->rc = twill_broadcast(c->pool, c->fn, NULL);
    atomic_store(&c->done, 1);
    return NULL;
}

Test(resize, a_leaving_worker_answers_a_broadcast_posted_before_it_leaves)
{
    twill_pool *p = test_pool(3);
    atomic_store(&shares, 0);
    caster place = {p, block_1_and_2, -1, 0}, cast = {p, count_share, -1, 0};
    pthread_t pt, rt, ct;
    cr_assert_eq(pthread_create(&pt, NULL, cast_thread, &place), 0);
    gate_wait_inside(&hold12, 2);
    resizer r = {p, 1, -1, 0};
    cr_assert_eq(pthread_create(&rt, NULL, resize_thread, &r), 0);
    cr_assert_eq(pthread_create(&ct, NULL, cast_thread, &cast), 0);
    /* worker 0's share ran: the broadcast has posted to all three, and
       workers 1 and 2 are still inside the first one */
    wait_count(&shares, 1);
    gate_open(&hold12);
    wait_count(&place.done, 1);
    wait_count(&cast.done, 1);
    wait_count(&r.done, 1);
    pthread_join(pt, NULL);
    pthread_join(ct, NULL);
    pthread_join(rt, NULL);
    cr_assert_eq(place.rc, 0);
    cr_assert_eq(cast.rc, 0);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(atomic_load(&shares), 3);
    cr_assert_eq(twill_pool_size(p), 1);
    twill_pool_destroy(p);
}

/* Issue 10 review: a worker that must leave waits for shutdown_lock in
   leave() and runs what it finds meanwhile.  A task found there that
   spawns into a group and returns leaves private group tasks behind, which
   only that worker can run: it must run them (stay until they are done),
   not leave with them (they were lost: never run, never discarded, the
   group's wait hung).  Set up without timing, in one attempt when the
   threads' starts fall right (else again): both workers are held in a
   first broadcast's shares; a second broadcast fills both mailboxes; the
   shrink asks worker 1 to leave; a third broadcast takes the lock and
   waits for the mailboxes to empty (worker 0's stays full).  Worker 1,
   let go, runs its share, tries to leave, finds the lock taken and runs
   the outside task T: T spawns, lets worker 0 go, and returns once the
   third broadcast has posted and sleeps, so that worker 1 then takes the
   lock (after its share of the third). */
typedef struct leaver {
    twill_pool *pool;
    gate hold0, hold1;
    twill_group g;
    _Atomic long children, third_shares, third_tid;
    _Atomic int t_worker; /* the worker that ran T, -1 before */
    int t_rc;             /* T's CHECK line, 0: passed */
} leaver;

static leaver *lv;

static int lv_place(void *arg)
{
    (void)arg;
    gate_pass(twill_worker_id() == 0 ? &lv->hold0 : &lv->hold1);
    return 0;
}

static int lv_third(void *arg)
{
    (void)arg;
    atomic_fetch_add(&lv->third_shares, 1);
    return 0;
}

static int lv_t_checks(void)
{
    atomic_store(&lv->t_worker, twill_worker_id());
    if (twill_worker_id() != 1)
        return 0; /* the threads started in another order: not this time */
    CHECK(twill_group_init(&lv->g, lv->pool) == 0);
    for (int i = 0; i < 10; i++)
        CHECK(twill_group_spawn(&lv->g, count_task, &lv->children) == 0);
    gate_open(&lv->hold0);
    CHECK_SOON(atomic_load(&lv->third_shares) >= 1 && thread_sleeps(atomic_load(&lv->third_tid)));
    return 0;
}

static int lv_t(void *arg)
{
    (void)arg;
    lv->t_rc = lv_t_checks();
    return 0;
}

typedef struct lv_thread {
    twill_fn share; /* broadcast it, or NULL: shrink to 1 */
    int rc;
    _Atomic long tid;
} lv_thread;

static void *lv_run(void *arg)
{
    lv_thread *t = arg;
    atomic_store(&t->tid, test_tid());
    if (t->share == lv_third)
        atomic_store(&lv->third_tid, test_tid());
    t->rc = t->share != NULL ? twill_broadcast(lv->pool, t->share, NULL)
                             : twill_pool_resize(lv->pool, 1);
    return NULL;
}

Test(resize, a_leaving_worker_runs_private_tasks_a_task_left_while_it_waited_for_the_lock,
     .timeout = 120)
{
    bool hit = false;
    for (int attempt = 0; attempt < 50 && !hit; attempt++) {
        leaver l = {.hold0 = GATE_INIT, .hold1 = GATE_INIT, .t_worker = -1};
        lv = &l;
        l.pool = test_pool(2);
        lv_thread place = {.share = lv_place}, second = {.share = noop}, shrink = {.share = NULL},
                  third = {.share = lv_third};
        pthread_t tp, ts, tr, tt;
        cr_assert_eq(pthread_create(&tp, NULL, lv_run, &place), 0);
        gate_wait_inside(&l.hold0, 1);
        gate_wait_inside(&l.hold1, 1);
        /* the lock is free: asleep means posted, waiting for its shares */
        cr_assert_eq(pthread_create(&ts, NULL, lv_run, &second), 0);
        ASSERT_SOON(atomic_load(&second.tid) != 0 && thread_sleeps(atomic_load(&second.tid)),
                    "the second broadcast never slept");
        /* asleep means leave_from set, waiting for the size */
        cr_assert_eq(pthread_create(&tr, NULL, lv_run, &shrink), 0);
        ASSERT_SOON(atomic_load(&shrink.tid) != 0 && thread_sleeps(atomic_load(&shrink.tid)),
                    "the shrink never slept");
        cr_assert_eq(pthread_create(&tt, NULL, lv_run, &third), 0);
        /* running: it takes the free lock at once, as a rule */
        wait_count(&third.tid, 1);
        cr_assert_eq(twill_submit(l.pool, lv_t, NULL), 0);
        gate_open(&l.hold1);
        /* T ran on worker 1 (inside leave: nothing else can run it
           there), or worker 1 left first (the third broadcast was late) */
        ASSERT_SOON(atomic_load(&l.t_worker) >= 0 || twill_pool_size(l.pool) == 1,
                    "neither T ran nor worker 1 left");
        hit = atomic_load(&l.t_worker) == 1;
        gate_open(&l.hold0);
        pthread_join(tp, NULL);
        pthread_join(ts, NULL);
        pthread_join(tr, NULL);
        pthread_join(tt, NULL);
        cr_assert_eq(place.rc, 0);
        cr_assert_eq(second.rc, 0);
        cr_assert_eq(shrink.rc, 0);
        cr_assert_eq(third.rc, 0);
        cr_assert_eq(twill_pool_size(l.pool), 1);
        cr_assert_eq(l.t_rc, 0, "T's check at line %d failed", l.t_rc);
        if (hit) {
            cr_assert_eq(twill_group_wait_for(&l.g, TEST_WAIT_NS), 0, "private tasks lost");
            cr_assert_eq(atomic_load(&l.children), 10);
        }
        cr_assert_eq(twill_pool_shutdown(l.pool, TWILL_DRAIN, NULL), 0);
        twill_pool_destroy(l.pool);
    }
    cr_assert(hit, "worker 1 never ran T while it waited for the lock");
}

Test(resize, stats_keep_the_work_of_workers_that_left)
{
    twill_pool *p = test_pool(3);
    _Atomic long ran = 0;
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(twill_submit(p, count_task, &ran), 0);
    wait_count(&ran, 3000);
    cr_assert_eq(twill_pool_resize(p, 1), 0);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
    cr_assert_eq(st.tasks_run, 3000);
    cr_assert_eq(twill_pool_stats(p, 0, &st), 0);
    cr_assert_eq(twill_pool_stats(p, 1, &st), EINVAL);
    cr_assert_eq(twill_pool_stats(p, 2, &st), EINVAL);
    twill_pool_destroy(p);
}

/* Hooks: a start and a stop per worker thread, for resized workers too. */
typedef struct hook_counts {
    _Atomic int starts[8], stops[8];
} hook_counts;

static void on_start(unsigned id, void *ctx)
{
    cr_assert_eq((int)id, twill_worker_id());
    atomic_fetch_add(&((hook_counts *)ctx)->starts[id], 1);
}

static void on_stop(unsigned id, void *ctx)
{
    cr_assert_eq((int)id, twill_worker_id());
    atomic_fetch_add(&((hook_counts *)ctx)->stops[id], 1);
}

Test(resize, hooks_run_once_per_worker_thread)
{
    hook_counts h = {0};
    twill_config cfg = test_config(1);
    cfg.on_worker_start = on_start;
    cfg.on_worker_stop = on_stop;
    cfg.hook_ctx = &h;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_pool_resize(p, 3), 0);
    cr_assert_eq(twill_pool_resize(p, 1), 0); /* joined: stop hooks have run */
    cr_assert_eq(atomic_load(&h.stops[1]), 1);
    cr_assert_eq(atomic_load(&h.stops[2]), 1);
    cr_assert_eq(atomic_load(&h.stops[0]), 0);
    cr_assert_eq(twill_pool_resize(p, 2), 0);
    twill_pool_destroy(p);
    int want_starts[3] = {1, 2, 1}, want_stops[3] = {1, 2, 1};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(atomic_load(&h.starts[i]), want_starts[i], "worker %d", i);
        cr_assert_eq(atomic_load(&h.stops[i]), want_stops[i], "worker %d", i);
    }
}

/* Elastic: grows while outside tasks wait and nobody is idle, up to
   max_workers, and the extra workers exit after the idle timeout. */
static twill_pool *elastic_pool(unsigned workers, unsigned max, hook_counts *h)
{
    twill_config cfg = test_config(workers);
    cfg.max_workers = max;
    cfg.idle_timeout_ns = 20 * 1000000LL;
    cfg.on_worker_start = on_start;
    cfg.on_worker_stop = on_stop;
    cfg.hook_ctx = h;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    return p;
}

/* Poll with a deadline until the pool has n workers. */
static void wait_size(twill_pool *p, unsigned n)
{
    struct timespec dl = test_deadline(), now;
    while (twill_pool_size(p) != n) {
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "size stuck at %u, want %u", twill_pool_size(p), n);
        sched_yield();
    }
}

/* Poll with a deadline until a hook counter reaches n. */
static void wait_hook(_Atomic int *count, int n)
{
    struct timespec dl = test_deadline(), now;
    while (atomic_load(count) < n) {
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "hook count stuck at %d, want %d", atomic_load(count), n);
        sched_yield();
    }
}

Test(elastic, grows_under_a_backlog_up_to_max_and_shrinks_after_idling)
{
    hook_counts h = {0};
    twill_pool *p = elastic_pool(1, 3, &h);
    gate g = GATE_INIT;
    /* Three tasks that block: they can only all be inside at once if the
       pool grew to three workers (each submit found no idle worker once
       the earlier ones were inside). */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(twill_submit(p, gate_task, &g), 0);
        gate_wait_inside(&g, i + 1);
    }
    cr_assert_eq(twill_pool_size(p), 3);
    /* At the maximum: more waiting work grows nothing. */
    _Atomic long ran = 0;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(twill_submit(p, count_task, &ran), 0);
    cr_assert_eq(twill_pool_size(p), 3);
    gate_open(&g);
    wait_count(&ran, 10);
    /* Idle now: the extra workers leave after the timeout, highest first,
       down to the base size, and not below it. */
    wait_size(p, 1);
    /* the stop hook runs on the leaving thread, after it left */
    wait_hook(&h.stops[2], 1);
    cr_assert_eq(answering(p), ids_below(1));
    /* It grows again on demand, reusing the slots. */
    gate g2 = GATE_INIT;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(twill_submit(p, gate_task, &g2), 0);
        gate_wait_inside(&g2, i + 1);
    }
    /* At least 2: a submit that races the worker's step from its last
       task to idling sees nobody idle (growth is eager by design). */
    unsigned grown = twill_pool_size(p);
    cr_assert(grown >= 2 && grown <= 3, "size %u", grown);
    gate_open(&g2);
    twill_pool_destroy(p);
    cr_assert_eq(atomic_load(&h.starts[1]), 2);
    cr_assert_eq(atomic_load(&h.stops[1]), 2);
    cr_assert_eq(atomic_load(&h.starts[0]), 1);
    cr_assert_eq(atomic_load(&h.stops[0]), 1);
}

Test(elastic, resize_sets_the_base_and_raises_the_maximum)
{
    hook_counts h = {0};
    twill_pool *p = elastic_pool(1, 2, &h);
    cr_assert_eq(twill_pool_resize(p, 4), 0); /* max 2 -> 4 */
    cr_assert_eq(twill_pool_size(p), 4);
    cr_assert_eq(answering(p), ids_below(4));
    /* base 4: nobody above it to time out; resize down to 2 */
    cr_assert_eq(twill_pool_resize(p, 2), 0);
    cr_assert_eq(twill_pool_size(p), 2);
    /* max stays 4: a backlog grows it past the base again */
    gate g = GATE_INIT;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(twill_submit(p, gate_task, &g), 0);
        gate_wait_inside(&g, i + 1);
    }
    cr_assert_eq(twill_pool_size(p), 4);
    gate_open(&g);
    wait_size(p, 2);
    twill_pool_destroy(p);
}

Test(elastic, a_fixed_pool_never_grows)
{
    twill_pool *p = test_pool(1);
    gate g = GATE_INIT;
    cr_assert_eq(twill_submit(p, gate_task, &g), 0);
    gate_wait_inside(&g, 1);
    _Atomic long ran = 0;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(twill_submit(p, count_task, &ran), 0);
    cr_assert_eq(twill_pool_size(p), 1);
    gate_open(&g);
    wait_count(&ran, 10);
    twill_pool_destroy(p);
}

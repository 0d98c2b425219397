/*
 * test_prio.c — priorities (twill_submit_prio, twill_group_spawn_prio):
 * scripted start orders on a pool whose workers are held at a gate while a
 * backlog queues up (HIGH first and FIFO, LOW last, LOW's starvation
 * bound, HIGH spawned from inside and before a join's inline half), then
 * each level's own bound, shutdown at every level, bad input.  Compiled
 * once per scheduler (see testutil.h).
 */
#include <stdlib.h>

#include "testutil.h"

#define MAX_TASKS 4096

/* Start order: each task writes its id at the next position. */
typedef struct order {
    _Atomic int n;
    int ids[MAX_TASKS];
} order;

typedef struct tagged {
    order *o;
    int id;
} tagged;

static int record(void *arg)
{
    tagged *t = arg;
    int i = atomic_fetch_add(&t->o->n, 1);
    if (i < MAX_TASKS)
        t->o->ids[i] = t->id;
    return 0;
}

static int position(const order *o, int id)
{
    for (int i = 0; i < atomic_load(&o->n) && i < MAX_TASKS; i++)
        if (o->ids[i] == id)
            return i;
    return -1;
}

/* A pool of `workers` workers, each held at g (returned with all inside). */
static twill_pool *held_pool(unsigned workers, size_t capacity, gate *g)
{
    twill_config cfg = test_config(workers);
    cfg.queue_capacity = capacity;
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    for (unsigned i = 0; i < workers; i++)
        cr_assert_eq(twill_submit(p, gate_task, g), 0);
    gate_wait_inside(g, (int)workers);
    return p;
}

/* ------------------------------------------------------ start order -- */

Test(prio, high_starts_before_every_queued_normal_task, .timeout = 30)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        static order o;
        atomic_store(&o.n, 0);
        static tagged t[21];
        gate g = GATE_INIT;
        twill_pool *p = held_pool(workers, 0, &g);
        for (int i = 0; i < 20; i++) {
            t[i] = (tagged){&o, i};
            cr_assert_eq(twill_submit(p, record, &t[i]), 0);
        }
        t[20] = (tagged){&o, 100};
        cr_assert_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, record, &t[20], -1), 0);
        gate_open(&g);
        cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
        cr_assert_eq(atomic_load(&o.n), 21);
        /* With 2 workers the other one may start a NORMAL task at the same
           moment: HIGH is among the first `workers` starts. */
        cr_expect_lt(position(&o, 100), (int)workers, "HIGH started at %d with %u workers",
                     position(&o, 100), workers);
        twill_pool_destroy(p);
    }
}

Test(prio, high_tasks_from_outside_start_in_fifo_order, .timeout = 30)
{
    static order o;
    static tagged t[10];
    gate g = GATE_INIT;
    twill_pool *p = held_pool(1, 0, &g);
    for (int i = 0; i < 5; i++) {
        t[i] = (tagged){&o, i};
        cr_assert_eq(twill_submit(p, record, &t[i]), 0);
    }
    for (int i = 5; i < 10; i++) {
        t[i] = (tagged){&o, i};
        cr_assert_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, record, &t[i], 0), 0);
    }
    gate_open(&g);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    for (int i = 0; i < 10; i++)
        cr_expect_eq(o.ids[i], i < 5 ? i + 5 : i - 5, "start %d was task %d", i, o.ids[i]);
    twill_pool_destroy(p);
}

Test(prio, low_never_starts_while_normal_work_is_queued, .timeout = 30)
{
    static order o;
    static tagged t[21];
    gate g = GATE_INIT;
    twill_pool *p = held_pool(1, 0, &g);
    t[0] = (tagged){&o, 100};
    cr_assert_eq(twill_submit_prio(p, TWILL_PRIO_LOW, record, &t[0], -1), 0);
    for (int i = 1; i < 21; i++) {
        t[i] = (tagged){&o, i};
        cr_assert_eq(twill_submit_prio(p, i % 2 ? TWILL_PRIO_NORMAL : TWILL_PRIO_HIGH, record,
                                       &t[i], -1),
                     0);
    }
    gate_open(&g);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_expect_eq(position(&o, 100), 20, "LOW started at %d", position(&o, 100));
    twill_pool_destroy(p);
}

Test(prio, low_is_not_starved_by_a_backlog_of_normal_work, .timeout = 60)
{
    /* The documented bound: a worker starts a queued LOW task at least once
       every 1024 tasks it runs. */
    static order o;
    static tagged t[3001];
    gate g = GATE_INIT;
    twill_pool *p = held_pool(1, 4096, &g);
    t[0] = (tagged){&o, 100000};
    cr_assert_eq(twill_submit_prio(p, TWILL_PRIO_LOW, record, &t[0], -1), 0);
    for (int i = 1; i <= 3000; i++) {
        t[i] = (tagged){&o, i};
        cr_assert_eq(twill_submit(p, record, &t[i]), 0);
    }
    gate_open(&g);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    int at = position(&o, 100000);
    cr_expect(at >= 0 && at <= 1024, "LOW started at %d, after more than 1024 tasks", at);
    twill_pool_destroy(p);
}

typedef struct inside {
    order o;
    tagged normal[10], high, b;
    twill_group g;
} inside;

static int spawn_normal_then_high(void *arg)
{
    inside *s = arg;
    for (int i = 0; i < 10; i++)
        if (twill_group_spawn(&s->g, record, &s->normal[i]) != 0)
            return 1;
    return twill_group_spawn_prio(&s->g, TWILL_PRIO_HIGH, record, &s->high);
}

Test(prio, high_spawned_inside_runs_before_the_spawners_queued_work, .timeout = 30)
{
    static inside s;
    twill_pool *p = test_pool(1);
    for (int i = 0; i < 10; i++)
        s.normal[i] = (tagged){&s.o, i};
    s.high = (tagged){&s.o, 100};
    cr_assert_eq(twill_group_init(&s.g, p), 0);
    cr_assert_eq(twill_run(p, spawn_normal_then_high, &s), 0);
    cr_assert_eq(twill_group_wait(&s.g), 0);
    cr_expect_eq(position(&s.o, 100), 0, "HIGH started at %d", position(&s.o, 100));
    cr_assert_eq(atomic_load(&s.o.n), 11);
    twill_pool_destroy(p);
}

static int a_spawns_high(void *arg)
{
    inside *s = arg;
    return twill_group_spawn_prio(&s->g, TWILL_PRIO_HIGH, record, &s->high);
}

static int join_with_high(void *arg)
{
    inside *s = arg;
    return twill_join(a_spawns_high, s, record, &s->b);
}

Test(prio, high_starts_before_a_joins_inline_half, .timeout = 30)
{
    static inside s;
    twill_pool *p = test_pool(1);
    s.high = (tagged){&s.o, 100};
    s.b = (tagged){&s.o, 1};
    cr_assert_eq(twill_group_init(&s.g, p), 0);
    cr_assert_eq(twill_run(p, join_with_high, &s), 0);
    cr_assert_eq(twill_group_wait(&s.g), 0);
    cr_expect_eq(position(&s.o, 100), 0);
    cr_expect_eq(position(&s.o, 1), 1);
    twill_pool_destroy(p);
}

/* ----------------------------------------------------------- bounds -- */

Test(prio, each_level_has_its_own_outside_bound, .timeout = 30)
{
    gate g = GATE_INIT;
    twill_pool *p = held_pool(1, 1, &g);
    _Atomic long ran = 0;
    cr_assert_eq(twill_submit_for(p, count_task, &ran, 0), 0);
    cr_expect_eq(twill_submit_for(p, count_task, &ran, 0), EAGAIN, "NORMAL is full");
    cr_expect_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, count_task, &ran, 0), 0,
                 "a full NORMAL queue does not block HIGH");
    cr_expect_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, count_task, &ran, 0), EAGAIN);
    cr_expect_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, count_task, &ran, 1000000), ETIMEDOUT);
    cr_expect_eq(twill_submit_prio(p, TWILL_PRIO_LOW, count_task, &ran, 0), 0);
    cr_expect_eq(twill_submit_prio(p, TWILL_PRIO_LOW, count_task, &ran, 0), EAGAIN);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
    cr_expect_eq(st.queued, 3);
    gate_open(&g);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_expect_eq(atomic_load(&ran), 3, "exactly the accepted tasks ran");
    twill_pool_destroy(p);
}

static int submit_many_inside(void *arg)
{
    _Atomic long *ran = arg;
    twill_pool *p = twill_current_pool();
    for (int i = 0; i < 300; i++)
        if (twill_submit_prio(p, (twill_prio)(i % 3 - 1), count_task, ran, 0) != 0)
            return 1;
    return 0;
}

Test(prio, pushes_from_inside_never_block_at_any_level, .timeout = 30)
{
    twill_config cfg = test_config(1);
    cfg.queue_capacity = 1;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    _Atomic long ran = 0;
    cr_assert_eq(twill_run(p, submit_many_inside, &ran), 0, "a try-once push from inside failed");
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&ran), 300);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
    cr_assert_eq(st.injected, 1, "only the outside twill_run counts as injected");
    twill_pool_destroy(p);
}

/* --------------------------------------------------------- shutdown -- */

typedef struct blocked {
    twill_pool *p;
    _Atomic long *ran;
    _Atomic int started;
    int rc;
} blocked;

static void *submit_high_blocking(void *arg)
{
    blocked *b = arg;
    atomic_store(&b->started, 1);
    b->rc = twill_submit_prio(b->p, TWILL_PRIO_HIGH, count_task, b->ran, -1);
    return NULL;
}

Test(prio, cancel_discards_every_level_once_and_refuses_after, .timeout = 30)
{
    discards d = {0};
    gate g = GATE_INIT;
    twill_config cfg = test_config(1);
    cfg.queue_capacity = 4;
    cfg.discard = count_discard;
    cfg.discard_ctx = &d;
    twill_pool *p;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_assert_eq(twill_submit(p, gate_task, &g), 0);
    gate_wait_inside(&g, 1);
    _Atomic long ran = 0;
    twill_group grp;
    cr_assert_eq(twill_group_init(&grp, p), 0);
    for (int lvl = -1; lvl <= 1; lvl++) {
        cr_assert_eq(twill_submit_prio(p, (twill_prio)lvl, count_task, &ran, 0), 0);
        cr_assert_eq(twill_group_spawn_prio(&grp, (twill_prio)lvl, count_task, &ran), 0);
    }
    for (int i = 0; i < 2; i++)
        cr_assert_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, count_task, &ran, 0), 0);
    /* HIGH is full now (4): a blocked submitter, refused by the shutdown. */
    blocked b = {p, &ran, 0, -1};
    pthread_t th;
    pthread_create(&th, NULL, submit_high_blocking, &b);
    while (!atomic_load(&b.started))
        sched_yield();
    cr_assert_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, count_task, &ran, 0), EAGAIN);
    /* Release the worker and cancel: whatever it starts before the cancel
       lands runs, the rest is discarded. */
    size_t dropped = 0;
    gate_open(&g);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_CANCEL, &dropped), 0);
    pthread_join(th, NULL);
    long r = atomic_load(&ran), c = atomic_load(&d.calls);
    cr_expect_eq(r + c, 8 + (b.rc == 0), "every accepted task ran or was discarded once");
    cr_expect_eq((long)dropped, c);
    cr_expect(b.rc == 0 || b.rc == ESHUTDOWN, "blocked HIGH submit: %d", b.rc);
    for (int lvl = -1; lvl <= 1; lvl++) {
        cr_expect_eq(twill_submit_prio(p, (twill_prio)lvl, count_task, &ran, -1), ESHUTDOWN);
        cr_expect_eq(twill_group_spawn_prio(&grp, (twill_prio)lvl, count_task, &ran), ESHUTDOWN);
    }
    twill_group_wait(&grp);
    twill_pool_destroy(p);
}

Test(prio, drain_runs_every_level, .timeout = 30)
{
    twill_pool *p = test_pool(2);
    _Atomic long ran = 0;
    for (int i = 0; i < 300; i++)
        cr_assert_eq(twill_submit_prio(p, (twill_prio)(i % 3 - 1), count_task, &ran, -1), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(atomic_load(&ran), 300);
    twill_stats st;
    cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
    cr_assert_eq(st.injected, 300, "outside submissions of every level count as injected");
    twill_pool_destroy(p);
}

/* -------------------------------------------------------- bad input -- */

Test(prio, unknown_priority_is_einval_and_takes_nothing, .timeout = 30)
{
    twill_pool *p = test_pool(1);
    _Atomic long ran = 0;
    twill_group g;
    cr_assert_eq(twill_group_init(&g, p), 0);
    static const int bad[] = {-2, 2, 100};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(twill_submit_prio(p, (twill_prio)bad[i], count_task, &ran, -1), EINVAL);
        cr_expect_eq(twill_group_spawn_prio(&g, (twill_prio)bad[i], count_task, &ran), EINVAL);
    }
    cr_expect_eq(twill_submit_prio(NULL, TWILL_PRIO_HIGH, count_task, &ran, -1), EINVAL);
    cr_expect_eq(twill_submit_prio(p, TWILL_PRIO_HIGH, NULL, &ran, -1), EINVAL);
    cr_assert_eq(twill_group_wait(&g), 0);
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_expect_eq(atomic_load(&ran), 0);
    twill_pool_destroy(p);
}

/*
 * test_isolated.c — isolated task groups (twill_group_init_isolated): a
 * wait on one runs only the group's tasks and what they spawn or join,
 * transitively, never unrelated work, so a task may wait on it while it
 * holds a lock that other queued tasks take.  The lock scenario (with a
 * plain group shown to run a queued lock taker inside the wait, on the
 * same thread), nesting of isolated and plain groups and joins, errors,
 * cancel, timeouts, outside spawns and priority levels.  Compiled once
 * per scheduler (testutil.h).
 *
 * Every task checks where it runs: each thread keeps a stack of the
 * contexts on it (a task's group id, or an isolated wait's), and a task of
 * group id X may start only where the innermost context is none, untagged
 * (0) or X itself.  A task of another isolated group, or an unrelated one,
 * starting inside an isolated wait is a violation; the tests count them.
 * Re-entry on a lock is detected the same way (its holder is a thread),
 * never by deadlocking.
 */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

/* ---------------------------------------------------- where tasks run -- */

static _Thread_local int ctx[512];
static _Thread_local int ctx_n;
static _Atomic long violations;
static _Atomic int next_id = 1;

/* A task of group id `id` (0: none) starts here. */
static void ctx_enter(int id)
{
    if (ctx_n > 0 && ctx[ctx_n - 1] != 0 && ctx[ctx_n - 1] != id)
        atomic_fetch_add(&violations, 1);
    ctx[ctx_n++] = id;
}

static void ctx_leave(void)
{
    ctx_n--;
}

/* Wait on isolated group g, known to the checks as id. */
static int wait_isolated_as(twill_group *g, int id, int64_t timeout_ns)
{
    ctx[ctx_n++] = id;
    int rc = twill_group_wait_for(g, timeout_ns);
    ctx_n--;
    return rc;
}

/* ------------------------------------------------ a tree of all kinds -- */

/* A tree node: depth 0 is a leaf; others join two children (depth % 3 ==
   0), spawn three into a plain group (1), or into a new isolated group
   (2), whose children belong to that group's id. */
typedef struct node {
    int id, depth;
    _Atomic long *ran;
} node;

static long tree_size(int depth)
{
    if (depth == 0)
        return 1;
    return 1 + (depth % 3 == 0 ? 2 : 3) * tree_size(depth - 1);
}

static int tree_task(void *arg)
{
    node *n = arg;
    ctx_enter(n->id);
    atomic_fetch_add(n->ran, 1);
    int rc = 0;
    if (n->depth > 0) {
        node kids[3];
        int id = n->depth % 3 == 2 ? atomic_fetch_add(&next_id, 1) : n->id;
        for (int i = 0; i < 3; i++)
            kids[i] = (node){id, n->depth - 1, n->ran};
        if (n->depth % 3 == 0) {
            rc = twill_join(tree_task, &kids[0], tree_task, &kids[1]);
        } else {
            twill_group g;
            rc = n->depth % 3 == 1 ? twill_group_init(&g, NULL) : twill_group_init_isolated(&g, NULL);
            for (int i = 0; i < 3 && rc == 0; i++)
                rc = twill_group_spawn(&g, tree_task, &kids[i]);
            int wrc = n->depth % 3 == 1 ? twill_group_wait(&g) : wait_isolated_as(&g, id, -1);
            rc = rc != 0 ? rc : wrc;
        }
    }
    ctx_leave();
    return rc;
}

/* An unrelated task: it must never start inside an isolated wait. */
static int unrelated_task(void *arg)
{
    ctx_enter(0);
    atomic_fetch_add((_Atomic long *)arg, 1);
    ctx_leave();
    return 0;
}

/* Spawns trees into an isolated group (and unrelated tasks beside them,
   from inside: they sit in this worker's own queue) and waits on it. */
typedef struct forest {
    int trees, depth;
    _Atomic long ran, unrelated;
} forest;

static int forest_task(void *arg)
{
    forest *f = arg;
    ctx_enter(0);
    twill_group g;
    CHECK(twill_group_init_isolated(&g, NULL) == 0);
    int id = atomic_fetch_add(&next_id, 1);
    node *kids = calloc((size_t)f->trees, sizeof *kids);
    CHECK(kids != NULL);
    for (int i = 0; i < f->trees; i++) {
        kids[i] = (node){id, f->depth, &f->ran};
        CHECK(twill_group_spawn(&g, tree_task, &kids[i]) == 0);
        CHECK(twill_submit(twill_current_pool(), unrelated_task, &f->unrelated) == 0);
    }
    CHECK(wait_isolated_as(&g, id, TEST_WAIT_NS) == 0);
    free(kids);
    ctx_leave();
    return 0;
}

Test(nesting, isolated_and_plain_groups_and_joins_nest_and_keep_to_their_tags, .timeout = 120)
{
    for (unsigned w = 1; w <= 4; w *= 2) {
        twill_pool *p = test_pool(w);
        atomic_store(&violations, 0);
        forest f = {.trees = 8, .depth = 7};
        cr_assert_eq(twill_run(p, forest_task, &f), 0);
        cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
        cr_assert_eq(atomic_load(&f.ran), 8 * tree_size(7), "%u workers: every node once", w);
        cr_assert_eq(atomic_load(&f.unrelated), 8);
        cr_assert_eq(atomic_load(&violations), 0,
                     "%u workers: %ld tasks started inside another group's isolated wait", w,
                     atomic_load(&violations));
        twill_pool_destroy(p);
    }
}

/* ----------------------------------------------------------- the lock -- */

/* The lock tasks share.  holder: a thread-local's address, so a task that
   finds its own thread holding it has been run inside its holder's wait
   (re-entry): it counts that and returns instead of deadlocking. */
typedef struct shared_lock {
    pthread_mutex_t mu;
    _Atomic(void *) holder;
    _Atomic long reentries, takers;
} shared_lock;

static _Thread_local char me;

static bool lock_take(shared_lock *l)
{
    if (atomic_load(&l->holder) == &me) {
        atomic_fetch_add(&l->reentries, 1);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    atomic_store(&l->holder, &me);
    return true;
}

static void lock_drop(shared_lock *l)
{
    atomic_store(&l->holder, NULL);
    pthread_mutex_unlock(&l->mu);
}

/* Takes the lock, counts, drops it. */
static int taker_task(void *arg)
{
    shared_lock *l = arg;
    ctx_enter(0);
    if (lock_take(l)) {
        atomic_fetch_add(&l->takers, 1);
        lock_drop(l);
    }
    ctx_leave();
    return 0;
}

/* One worker, one deterministic script: a task takes the lock, then waits
   on group g while lock takers wait in every queue the wait could help
   from: its own deque (submitted by itself), HIGH, and the outside queue
   before and after g's own tasks (which come from outside, at NORMAL, LOW
   and HIGH).  A plain wait runs one of the takers on the holder's thread
   (the injector's oldest, the central FIFO's newest, or HIGH); an isolated
   one runs g's tasks only. */
typedef struct script {
    shared_lock lock;
    twill_group g;
    int id;
    bool isolated;
    _Atomic int locked, armed;
    _Atomic long ran;
    int wait_rc;
} script;

static int g_task(void *arg)
{
    script *s = arg;
    ctx_enter(s->isolated ? s->id : 0);
    atomic_fetch_add(&s->ran, 1);
    ctx_leave();
    return 0;
}

static int holder_task(void *arg)
{
    script *s = arg;
    ctx_enter(0);
    CHECK(lock_take(&s->lock));
    CHECK(twill_submit(twill_current_pool(), taker_task, &s->lock) == 0); /* own deque */
    atomic_store(&s->locked, 1);
    while (!atomic_load(&s->armed))
        sched_yield(); /* bounded: the test thread arms at once */
    if (s->isolated)
        s->wait_rc = wait_isolated_as(&s->g, s->id, TEST_WAIT_NS);
    else
        s->wait_rc = twill_group_wait_for(&s->g, TEST_WAIT_NS);
    lock_drop(&s->lock);
    ctx_leave();
    return 0;
}

static void run_script(script *s)
{
    twill_pool *p = test_pool(1);
    pthread_mutex_init(&s->lock.mu, NULL);
    s->id = atomic_fetch_add(&next_id, 1);
    cr_assert_eq(s->isolated ? twill_group_init_isolated(&s->g, p) : twill_group_init(&s->g, p), 0);
    twill_group all;
    cr_assert_eq(twill_group_init(&all, p), 0);
    cr_assert_eq(twill_group_spawn(&all, holder_task, s), 0);
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&s->locked)) {
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "the holder never took the lock");
        sched_yield();
    }
    cr_assert_eq(twill_group_spawn(&all, taker_task, &s->lock), 0);
    cr_assert_eq(twill_group_spawn(&s->g, g_task, s), 0);
    cr_assert_eq(twill_group_spawn_prio(&s->g, TWILL_PRIO_LOW, g_task, s), 0);
    cr_assert_eq(twill_group_spawn_prio(&s->g, TWILL_PRIO_HIGH, g_task, s), 0);
    cr_assert_eq(twill_group_spawn_prio(&all, TWILL_PRIO_HIGH, taker_task, &s->lock), 0);
    cr_assert_eq(twill_group_spawn(&all, taker_task, &s->lock), 0);
    atomic_store(&s->armed, 1);
    cr_assert_eq(twill_group_wait_for(&all, TEST_WAIT_NS), 0);
    cr_assert_eq(s->wait_rc, 0);
    cr_assert_eq(atomic_load(&s->ran), 3, "g's tasks ran once each");
    twill_pool_destroy(p);
    pthread_mutex_destroy(&s->lock.mu);
}

Test(lock, a_plain_wait_under_a_lock_runs_a_queued_lock_taker_on_the_holder_thread, .timeout = 60)
{
    /* What isolation is for: the same script with a plain group re-enters
       the lock (a real program would deadlock there). */
    script s = {.isolated = false};
    run_script(&s);
    cr_assert_gt(atomic_load(&s.lock.reentries), 0, "a plain wait ran no taker inside");
    cr_assert_eq(atomic_load(&s.lock.takers) + atomic_load(&s.lock.reentries), 4);
}

Test(lock, an_isolated_wait_under_a_lock_runs_only_its_group_and_finishes, .timeout = 60)
{
    atomic_store(&violations, 0);
    script s = {.isolated = true};
    run_script(&s);
    cr_assert_eq(atomic_load(&s.lock.reentries), 0, "a lock taker ran inside the isolated wait");
    cr_assert_eq(atomic_load(&s.lock.takers), 4, "every taker ran once, after the holder");
    cr_assert_eq(atomic_load(&violations), 0);
}

/* Many holders (each waits on an isolated group of small trees while it
   holds the lock) and many takers, queued from outside and from inside,
   on pools whose other workers block on the lock: all must finish. */
typedef struct crowd {
    shared_lock lock;
    _Atomic long holders, ran;
} crowd;

static int crowd_holder(void *arg)
{
    crowd *c = arg;
    ctx_enter(0);
    CHECK(twill_submit(twill_current_pool(), taker_task, &c->lock) == 0);
    if (lock_take(&c->lock)) {
        twill_group g;
        CHECK(twill_group_init_isolated(&g, NULL) == 0);
        int id = atomic_fetch_add(&next_id, 1);
        node kids[4];
        for (int i = 0; i < 4; i++) {
            kids[i] = (node){id, 4, &c->ran};
            CHECK(twill_group_spawn(&g, tree_task, &kids[i]) == 0);
        }
        CHECK(twill_submit(twill_current_pool(), taker_task, &c->lock) == 0);
        CHECK(wait_isolated_as(&g, id, TEST_WAIT_NS) == 0);
        atomic_fetch_add(&c->holders, 1);
        lock_drop(&c->lock);
    }
    ctx_leave();
    return 0;
}

Test(lock, holders_waiting_on_isolated_groups_and_queued_takers_all_finish, .timeout = 120)
{
    for (unsigned w = 2; w <= 4; w *= 2) {
        twill_pool *p = test_pool(w);
        atomic_store(&violations, 0);
        crowd c = {0};
        pthread_mutex_init(&c.lock.mu, NULL);
        twill_group all;
        cr_assert_eq(twill_group_init(&all, p), 0);
        for (int i = 0; i < 100; i++) {
            cr_assert_eq(twill_group_spawn(&all, crowd_holder, &c), 0);
            cr_assert_eq(twill_group_spawn(&all, taker_task, &c.lock), 0);
        }
        cr_assert_eq(twill_group_wait_for(&all, TEST_WAIT_NS), 0, "%u workers: stuck", w);
        cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
        cr_assert_eq(atomic_load(&c.lock.reentries), 0, "%u workers: a taker ran in a holder's wait",
                     w);
        cr_assert_eq(atomic_load(&c.holders), 100);
        cr_assert_eq(atomic_load(&c.lock.takers), 300);
        cr_assert_eq(atomic_load(&c.ran), 400 * tree_size(4));
        cr_assert_eq(atomic_load(&violations), 0);
        twill_pool_destroy(p);
        pthread_mutex_destroy(&c.lock.mu);
    }
}

/* A broadcast from outside while the only worker holds the lock in an
   isolated wait: its share takes the lock too, so it must wait until the
   worker leaves the wait (none runs inside: not even through the poll of
   every 64 tasks, which the group's 300 tasks pass several times). */
typedef struct bcast_script {
    shared_lock lock;
    twill_pool *pool;
    _Atomic int locked, calling;
    _Atomic long ran, shares;
    int rc;
} bcast_script;

static int share_takes_lock(void *arg)
{
    bcast_script *b = arg;
    ctx_enter(0);
    if (lock_take(&b->lock)) {
        atomic_fetch_add(&b->shares, 1);
        lock_drop(&b->lock);
    }
    ctx_leave();
    return 0;
}

static void *broadcaster(void *arg)
{
    bcast_script *b = arg;
    atomic_store(&b->calling, 1);
    b->rc = twill_broadcast(b->pool, share_takes_lock, b);
    return NULL;
}

/* The group's first task: give the broadcaster time to post (if it has not
   by then, the test checks less but still passes). */
static int first_lets_broadcaster_post(void *arg)
{
    bcast_script *b = arg;
    while (!atomic_load(&b->calling))
        sched_yield();
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - t0.tv_sec) * 1000000000L + now.tv_nsec - t0.tv_nsec < 20000000L);
    atomic_fetch_add(&b->ran, 1);
    return 0;
}

static int counted_ran(void *arg)
{
    atomic_fetch_add(&((bcast_script *)arg)->ran, 1);
    return 0;
}

static int holder_under_broadcast(void *arg)
{
    bcast_script *b = arg;
    ctx_enter(0);
    CHECK(lock_take(&b->lock));
    twill_group g;
    CHECK(twill_group_init_isolated(&g, NULL) == 0);
    int id = atomic_fetch_add(&next_id, 1);
    for (int i = 0; i < 299; i++)
        CHECK(twill_group_spawn(&g, counted_ran, b) == 0);
    CHECK(twill_group_spawn(&g, first_lets_broadcaster_post, b) == 0); /* popped first */
    atomic_store(&b->locked, 1);
    CHECK(wait_isolated_as(&g, id, TEST_WAIT_NS) == 0);
    lock_drop(&b->lock);
    ctx_leave();
    return 0;
}

Test(lock, a_broadcast_waits_for_a_worker_in_an_isolated_wait_and_its_share_runs_after,
     .timeout = 60)
{
    bcast_script b = {.pool = test_pool(1)};
    pthread_mutex_init(&b.lock.mu, NULL);
    twill_group all;
    cr_assert_eq(twill_group_init(&all, b.pool), 0);
    cr_assert_eq(twill_group_spawn(&all, holder_under_broadcast, &b), 0);
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&b.locked)) {
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "the holder never took the lock");
        sched_yield();
    }
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, broadcaster, &b), 0);
    cr_assert_eq(twill_group_wait_for(&all, TEST_WAIT_NS), 0);
    cr_assert_eq(pthread_timedjoin_np(t, NULL, &dl), 0, "the broadcast never finished");
    cr_assert_eq(b.rc, 0);
    cr_assert_eq(atomic_load(&b.ran), 300);
    cr_assert_eq(atomic_load(&b.lock.reentries), 0, "a share ran inside the isolated wait");
    cr_assert_eq(atomic_load(&b.shares), 1);
    twill_pool_destroy(b.pool);
    pthread_mutex_destroy(&b.lock.mu);
}

/* ------------------------------------- as for plain groups: the rest -- */

static int returns_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

typedef struct outcome {
    _Atomic long ran;
    int first_error, after_cancel, reused;
} outcome;

static int counted(void *arg)
{
    atomic_fetch_add(&((outcome *)arg)->ran, 1);
    return 0;
}

/* From a worker: first error wins and cancels, cancel gives ECANCELED,
   and the group is reusable after each. */
static int errors_and_cancel(void *arg)
{
    outcome *o = arg;
    twill_group g;
    CHECK(twill_group_init_isolated(&g, NULL) == 0);
    for (int i = 0; i < 20; i++)
        CHECK(twill_group_spawn(&g, i == 10 ? returns_arg : counted,
                                i == 10 ? (void *)(intptr_t)7 : (void *)o) == 0);
    o->first_error = twill_group_wait(&g);
    CHECK(!twill_group_cancelled(&g)); /* reset by the wait */
    for (int i = 0; i < 5; i++)
        CHECK(twill_group_spawn(&g, counted, o) == 0);
    twill_group_cancel(&g);
    CHECK(twill_group_cancelled(&g));
    CHECK(twill_group_spawn(&g, counted, o) == 0); /* into a cancelled group: discarded */
    o->after_cancel = twill_group_wait(&g);
    CHECK(twill_group_spawn(&g, counted, o) == 0);
    o->reused = twill_group_wait(&g);
    return 0;
}

Test(group, isolated_first_error_cancel_discard_and_reuse_behave_as_for_plain_groups,
     .timeout = 30)
{
    for (unsigned w = 1; w <= 2; w++) {
        discards d = {0};
        twill_config cfg = test_config(w);
        cfg.discard = count_discard;
        cfg.discard_ctx = &d;
        twill_pool *p = NULL;
        cr_assert_eq(twill_pool_create(&p, &cfg), 0);
        outcome o = {0};
        cr_assert_eq(twill_run(p, errors_and_cancel, &o), 0);
        cr_assert_eq(o.first_error, 7);
        cr_assert_eq(o.after_cancel, ECANCELED);
        cr_assert_eq(o.reused, 0);
        twill_pool_destroy(p);
        /* 19 counted tasks in round one (run or skipped once the 7 cancels
           them), 6 skipped in round two, 1 run in round three. */
        cr_assert_eq(atomic_load(&o.ran) + atomic_load(&d.calls), 19 + 6 + 1);
        cr_assert_geq(atomic_load(&d.calls), 6);
    }
}

/* wait_for on an isolated group times out while its task runs elsewhere,
   and a later wait collects it. */
typedef struct timed {
    twill_group g;
    gate gt;
    int first, second;
} timed;

static int wait_twice(void *arg)
{
    timed *t = arg;
    gate_wait_inside(&t->gt, 1); /* g's task is running on the other worker */
    t->first = twill_group_wait_for(&t->g, 1000000);
    CHECK(twill_group_wait_for(&t->g, 0) == ETIMEDOUT);
    gate_open(&t->gt);
    t->second = twill_group_wait_for(&t->g, TEST_WAIT_NS);
    return 0;
}

Test(group, isolated_wait_for_times_out_while_a_task_runs_and_a_later_wait_collects_it,
     .timeout = 30)
{
    twill_pool *p = test_pool(2);
    timed t = {.gt = GATE_INIT};
    cr_assert_eq(twill_group_init_isolated(&t.g, p), 0);
    cr_assert_eq(twill_group_spawn(&t.g, gate_task, &t.gt), 0);
    gate_wait_inside(&t.gt, 1);
    cr_assert_eq(twill_run(p, wait_twice, &t), 0);
    cr_assert_eq(t.first, ETIMEDOUT);
    cr_assert_eq(t.second, 0);
    twill_pool_destroy(p);
}

Test(group, isolated_spawns_from_outside_threads_run_once_and_an_outside_wait_collects_them,
     .timeout = 30)
{
    for (unsigned w = 1; w <= 4; w *= 2) {
        twill_pool *p = test_pool(w);
        twill_group g;
        cr_assert_eq(twill_group_init_isolated(&g, p), 0);
        outcome o = {0};
        for (int i = 0; i < 3000; i++)
            cr_assert_eq(twill_group_spawn_prio(&g, (twill_prio)(i % 3 - 1), counted, &o), 0);
        cr_assert_eq(twill_group_wait_for(&g, TEST_WAIT_NS), 0);
        cr_assert_eq(atomic_load(&o.ran), 3000);
        twill_pool_destroy(p);
    }
}

/* From a task of an isolated group: the calls that would wait for every
   worker (this one included, which runs nothing unrelated there). */
static int noop_share(void *arg)
{
    (void)arg;
    return 0;
}

static int broadcast_and_resize(void *arg)
{
    twill_pool *p = arg;
    CHECK(twill_broadcast(p, noop_share, NULL) == EDEADLK);
    CHECK(twill_pool_resize(p, 3) == EDEADLK);
    return 0;
}

static int isolated_caller(void *arg)
{
    twill_group g;
    CHECK(twill_group_init_isolated(&g, NULL) == 0);
    CHECK(twill_group_spawn(&g, broadcast_and_resize, arg) == 0);
    return twill_group_wait(&g);
}

Test(group, isolated_errors_are_einval_and_broadcast_or_resize_inside_are_edeadlk,
     .timeout = 30)
{
    twill_pool *p = test_pool(2);
    twill_group g;
    cr_assert_eq(twill_group_init_isolated(NULL, p), EINVAL);
    cr_assert_eq(twill_group_init_isolated(&g, NULL), EINVAL, "no current pool outside a worker");
    cr_assert_eq(twill_group_init_isolated(&g, p), 0);
    cr_assert_eq(twill_group_spawn(&g, NULL, NULL), EINVAL);
    cr_assert_eq(twill_group_spawn_prio(&g, (twill_prio)7, noop, NULL), EINVAL);
    cr_assert_eq(twill_group_wait(&g), 0, "nothing spawned");
    cr_assert_eq(twill_run(p, isolated_caller, p), 0);
    cr_assert_eq(twill_broadcast(p, noop_share, NULL), 0, "outside isolation: as before");
    cr_assert_eq(twill_pool_shutdown(p, TWILL_CANCEL, NULL), 0);
    cr_assert_eq(twill_group_spawn(&g, noop, NULL), ESHUTDOWN);
    twill_pool_destroy(p);
}

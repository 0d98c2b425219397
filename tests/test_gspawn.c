/*
 * test_gspawn.c — group spawns by the group's own worker (the worker that
 * initialised it), which the stealing scheduler keeps on that worker's
 * private group stack until they run there or are published: the same
 * contract as every other spawn.  Exactly once past the stack's capacity
 * under stealing, a group left with private tasks and waited for by
 * another thread, the first error cancelling the private tasks not yet
 * started, timed waits that leave them to other workers, a HIGH task
 * starting between them, isolation, and a cancelling shutdown.  Compiled
 * once per scheduler (testutil.h); on the central queue the same programs
 * check that nothing differs.
 *
 * Checks that must run on a worker are tasks that return the line of the
 * first failed check (CHECK), as in test_forkjoin.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* One task of a test: how often it ran and was discarded, and whether
   twill_current_group named its group while it ran. */
typedef struct slot {
    _Atomic int ran, discarded, wrong_group;
    _Atomic int worker;       /* twill_worker_id() where it ran */
    twill_group *g;
    int code;                 /* what it returns */
    gate *gt;                 /* non-NULL: pass it first */
} slot;

static int slot_task(void *arg)
{
    slot *s = arg;
    if (s->gt != NULL)
        gate_pass(s->gt);
    if (twill_current_group() != s->g)
        atomic_fetch_add(&s->wrong_group, 1);
    atomic_store(&s->worker, twill_worker_id());
    atomic_fetch_add(&s->ran, 1);
    return s->code;
}

static _Atomic long hook_calls;

static void slot_hook(twill_fn fn, void *arg, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&hook_calls, 1);
    if (fn == slot_task)
        atomic_fetch_add(&((slot *)arg)->discarded, 1);
}

static twill_pool *hooked_pool(unsigned workers)
{
    twill_config cfg = test_config(workers);
    cfg.discard = slot_hook;
    atomic_store(&hook_calls, 0);
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    return p;
}

static slot *slots_for(long n, twill_group *g)
{
    slot *s = calloc((size_t)n, sizeof *s);
    cr_assert_not_null(s);
    for (long i = 0; i < n; i++) {
        s[i].g = g;
        atomic_init(&s[i].worker, -2);
    }
    return s;
}

/* On a worker: a few private tasks and their wait.  The submission that
   started the calling task may have left a trip on its worker (no idle
   worker looked), which sends the next inline group wait to the
   library's (twill.h), whose look clears it; a test of the inline wait
   itself settles first.  Several tasks: the first spawn on an empty
   deque publishes (sched_steal.h), so the wait finds private ones only
   after it.  0, or the line of the failed check. */
static int settle(void)
{
    _Atomic long ran = 0;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(twill_group_spawn(&g, count_task, &ran) == 0);
    CHECK(twill_group_wait(&g) == 0 && atomic_load(&ran) == 4);
    return 0;
}

/* ---------------------------------------- exactly once, stats, naming -- */

enum { MANY = 5000 }; /* far beyond the private stack's 64 slots */

typedef struct many_job {
    slot *slots;
    long n;
} many_job;

/* On a worker: init a group there (its owner), spawn n tasks, wait. */
static int spawn_many_and_wait(void *arg)
{
    many_job *j = arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    for (long i = 0; i < j->n; i++) {
        j->slots[i].g = &g;
        CHECK(twill_group_spawn(&g, slot_task, &j->slots[i]) == 0);
    }
    CHECK(twill_group_wait(&g) == 0);
    return 0;
}

Test(gspawn, owner_spawns_beyond_the_private_stack_run_once_counted_and_named, .timeout = 60)
{
    static const unsigned counts[] = {1, 2, 4};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        twill_pool *p = test_pool(counts[c]);
        slot *s = slots_for(MANY, NULL);
        many_job j = {s, MANY};
        RUN_CHECKS(p, spawn_many_and_wait, &j);
        for (long i = 0; i < MANY; i++) {
            cr_assert_eq(atomic_load(&s[i].ran), 1, "task %ld ran %d times (%u workers)", i,
                         atomic_load(&s[i].ran), counts[c]);
            cr_assert_eq(atomic_load(&s[i].wrong_group), 0,
                         "twill_current_group in task %ld (%u workers)", i, counts[c]);
        }
        twill_stats st;
        cr_assert_eq(twill_pool_stats(p, -1, &st), 0);
        cr_assert_eq(st.spawns, MANY, "spawns %lu (%u workers)", (unsigned long)st.spawns,
                     counts[c]);
        cr_assert_eq(st.tasks_run, MANY + 1, "tasks_run %lu: the spawns and the twill_run",
                     (unsigned long)st.tasks_run);
        free(s);
        twill_pool_destroy(p);
    }
}

/* ------------------------------------- left behind, waited elsewhere -- */

enum { LEFT = 100 };

typedef struct left_job {
    twill_group *g, *anchor; /* the test's: they outlive the task */
    slot *slots;
    _Atomic long anchor_ran;
} left_job;

/* On a worker: first a task of another group, which the stealing
   scheduler publishes (its deque is empty), so that on a 1-worker pool
   nothing asks for the tasks that follow; then init the test's group
   here (this worker owns it), spawn gated tasks into it and return
   without waiting for either group. */
static int spawn_and_leave(void *arg)
{
    left_job *j = arg;
    CHECK(twill_group_init(j->anchor, NULL) == 0);
    CHECK(twill_group_spawn(j->anchor, count_task, &j->anchor_ran) == 0);
    CHECK(twill_group_init(j->g, NULL) == 0);
    for (long i = 0; i < LEFT; i++)
        CHECK(twill_group_spawn(j->g, slot_task, &j->slots[i]) == 0);
    return 0;
}

Test(gspawn, private_tasks_a_task_leaves_behind_keep_the_group_busy_for_an_outside_waiter,
     .timeout = 60)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        twill_pool *p = test_pool(workers);
        twill_group g, anchor;
        gate gt = GATE_INIT;
        slot *s = slots_for(LEFT, &g);
        for (long i = 0; i < LEFT; i++)
            s[i].gt = &gt;
        left_job j = {&g, &anchor, s, 0};
        RUN_CHECKS(p, spawn_and_leave, &j);
        /* No task can finish before the gate opens: the group is busy
           for this thread, whatever its owner keeps to itself. */
        cr_assert_eq(twill_group_wait_for(&g, 0), ETIMEDOUT, "%u workers", workers);
        gate_open(&gt);
        cr_assert_eq(twill_group_wait_for(&g, TEST_WAIT_NS), 0, "%u workers", workers);
        for (long i = 0; i < LEFT; i++)
            cr_assert_eq(atomic_load(&s[i].ran), 1, "task %ld (%u workers)", i, workers);
        cr_assert_eq(twill_group_wait_for(&anchor, TEST_WAIT_NS), 0);
        cr_assert_eq(atomic_load(&j.anchor_ran), 1);
        free(s);
        twill_pool_destroy(p);
    }
}

/* ------------------------------------------------ first error cancels -- */

enum { FAILING = 10 };

typedef struct fail_job {
    slot *slots;
    int rc;
} fail_job;

/* On the only worker: every task fails with its own code; the first to
   run cancels the others, which are discarded unrun. */
static int spawn_failing_and_wait(void *arg)
{
    fail_job *j = arg;
    twill_group g;
    int line = settle(); /* the wait below is the inline one */
    if (line != 0)
        return line;
    CHECK(twill_group_init(&g, NULL) == 0);
    for (int i = 0; i < FAILING; i++) {
        j->slots[i].g = &g;
        j->slots[i].code = 100 + i;
        CHECK(twill_group_spawn(&g, slot_task, &j->slots[i]) == 0);
    }
    j->rc = twill_group_wait(&g);
    return 0;
}

Test(gspawn, the_first_failing_private_task_cancels_the_rest_and_its_code_is_returned,
     .timeout = 30)
{
    twill_pool *p = hooked_pool(1);
    slot *s = slots_for(FAILING, NULL);
    fail_job j = {s, 0};
    RUN_CHECKS(p, spawn_failing_and_wait, &j);
    int ran = 0, code = 0;
    for (int i = 0; i < FAILING; i++) {
        int r = atomic_load(&s[i].ran), d = atomic_load(&s[i].discarded);
        cr_assert_eq(r + d, 1, "task %d ran %d, discarded %d", i, r, d);
        if (r)
            code = s[i].code;
        ran += r;
    }
    cr_assert_eq(ran, 1, "one worker: only the first task to run runs (%d ran)", ran);
    cr_assert_eq(j.rc, code, "wait returned %d, the failed task %d", j.rc, code);
    cr_assert_eq(atomic_load(&hook_calls), FAILING - 1);
    free(s);
    twill_pool_destroy(p);
}

/* ------------------------------------------------------- timed waits -- */

enum { TIMED = 8 };

typedef struct timed_job {
    slot *slots;
    long polls;
    int owner;
} timed_job;

/* On a worker of a 2-worker pool: spawn, then poll the group with
   wait_for(0) until it is done.  Such a wait runs nothing (twill.h), so
   the other worker must get every task, the private ones included. */
static int spawn_and_poll(void *arg)
{
    timed_job *j = arg;
    twill_group g;
    j->owner = twill_worker_id();
    CHECK(twill_group_init(&g, NULL) == 0);
    for (int i = 0; i < TIMED; i++) {
        j->slots[i].g = &g;
        CHECK(twill_group_spawn(&g, slot_task, &j->slots[i]) == 0);
    }
    struct timespec dl = test_deadline(), now;
    int rc;
    while ((rc = twill_group_wait_for(&g, 0)) == ETIMEDOUT) {
        j->polls++;
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec); /* a private task nobody else can reach */
    }
    CHECK(rc == 0);
    return 0;
}

Test(gspawn, wait_for_zero_on_the_owner_runs_nothing_and_leaves_its_tasks_to_others,
     .timeout = 60)
{
    twill_pool *p = test_pool(2);
    slot *s = slots_for(TIMED, NULL);
    timed_job j = {s, 0, -1};
    RUN_CHECKS(p, spawn_and_poll, &j);
    for (int i = 0; i < TIMED; i++) {
        cr_assert_eq(atomic_load(&s[i].ran), 1, "task %d", i);
        cr_assert_neq(atomic_load(&s[i].worker), j.owner,
                      "task %d ran on the polling owner (worker %d)", i, j.owner);
    }
    free(s);
    twill_pool_destroy(p);
}

/* ---------------------------------------------- a batch and a thief -- */

enum { BATCH = 8 };

typedef struct batch_job {
    gate *busy;               /* holds the other worker while the owner spawns */
    int owner;
    _Atomic long owner_ran, thief_ran;
} batch_job;

/* On the owner, the first child waits until the other worker has run one
   (the task published at the first spawn), the second until it has run
   two: a task that was still private when the wait began, so the wait
   must publish once the thief asks (it took the deque's last task).
   Later ones return at once. */
static int batch_child(void *arg)
{
    batch_job *j = arg;
    if (twill_worker_id() != j->owner) {
        atomic_fetch_add(&j->thief_ran, 1);
        return 0;
    }
    long k = atomic_fetch_add(&j->owner_ran, 1) + 1;
    /* fails when the batch stayed private: run serially */
    CHECK_SOON(k > 2 || atomic_load(&j->thief_ran) >= k);
    return 0;
}

static int spawn_batch_and_wait(void *arg)
{
    batch_job *j = arg;
    twill_group g;
    j->owner = twill_worker_id();
    /* A first, small group (the first spawn is published, the second
       stays private): its wait takes any trip the submissions that
       started this task left (the library's look before the private
       task re-arms split), so that the batch's wait below runs inline
       in twill.h. */
    CHECK(twill_group_init(&g, NULL) == 0);
    CHECK(twill_group_spawn(&g, noop, NULL) == 0);
    CHECK(twill_group_spawn(&g, noop, NULL) == 0);
    CHECK(twill_group_wait(&g) == 0);
    CHECK(twill_group_init(&g, NULL) == 0);
    for (int i = 0; i < BATCH; i++)
        CHECK(twill_group_spawn(&g, batch_child, j) == 0);
    gate_open(j->busy);
    CHECK(twill_group_wait(&g) == 0);
    CHECK(atomic_load(&j->owner_ran) + atomic_load(&j->thief_ran) == BATCH);
    return 0;
}

/* The owner's wait on a batch it spawned shares it with an idle worker:
   each time a thief asks (it emptied the owner's deque), the wait
   publishes the older half of the private tasks before its next one
   (it used to run the whole batch itself).  The other worker is held
   while the owner spawns, so that only the first spawn publishes. */
Test(gspawn, the_owners_wait_publishes_when_a_thief_asks, .timeout = 60)
{
    twill_pool *p = test_pool(2);
    gate busy = GATE_INIT;
    batch_job j = {.busy = &busy, .owner = -1};
    cr_assert_eq(twill_submit(p, gate_task, &busy), 0);
    gate_wait_inside(&busy, 1);
    RUN_CHECKS(p, spawn_batch_and_wait, &j);
    cr_assert_geq(atomic_load(&j.thief_ran), 2);
    twill_pool_destroy(p);
}

/* ------------------------------------------ blocked on another pool -- */

/* Has thread *tid started and does it sleep in the kernel? */
static bool started_and_asleep(_Atomic long *tid)
{
    return atomic_load(tid) != 0 && thread_sleeps(atomic_load(tid));
}

/* Join empty halves (with the test's deadline) until a flag is set: a
   task that is busy in joins, so that a trip or a poll runs work inside
   one of them. */
static int join_until_set(_Atomic long *flag)
{
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(flag)) {
        CHECK(twill_join(noop, NULL, noop, NULL) == 0);
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec);
    }
    return 0;
}

/* A task that waits (with the test's deadline) for a group of another
   pool, and says that it started. */
typedef struct group_waiter {
    twill_group *g;
    _Atomic long started;
    int rc;
} group_waiter;

static int wait_for_group(void *arg)
{
    group_waiter *w = arg;
    atomic_store(&w->started, 1);
    w->rc = twill_group_wait_for(w->g, TEST_WAIT_NS);
    return w->rc;
}

/* A broadcast from a thread of its own, which records its id. */
typedef struct caster_thread {
    twill_pool *pool;
    _Atomic long tid;
    int rc;
} caster_thread;

static void *cast_noop(void *arg)
{
    caster_thread *c = arg;
    atomic_store(&c->tid, test_tid());
    c->rc = twill_broadcast(c->pool, noop, NULL);
    return NULL;
}

/* A task of pool A spawns two tasks into its group h (the other worker
   of A held meanwhile, so the second stays private), then blocks on pool
   B, whose task W waits for h: in twill_run of W; in a submit to B's full
   queue while B's only worker runs W; or in a broadcast on B while W
   keeps an earlier broadcast's share in that worker's mailbox (so the
   broadcast blocks on B's lock, whose holder waits for that mailbox).
   Blocked there, it cannot run its private task; it must publish it
   first, so that A's other worker runs it (it stayed out of reach: W's
   wait timed out). */
typedef enum { BLOCK_IN_RUN, BLOCK_IN_SUBMIT, BLOCK_IN_BROADCAST } block_how;

typedef struct cross_job {
    twill_pool *b;
    gate *busy;              /* holds A's other worker while we spawn */
    twill_group h;
    group_waiter w;          /* W, for h */
    _Atomic long ran;
    block_how how;
} cross_job;

static int block_on_b(cross_job *j)
{
    if (j->how == BLOCK_IN_RUN) {
        gate_open(j->busy);
        return twill_run(j->b, wait_for_group, &j->w);
    }
    CHECK(twill_submit(j->b, wait_for_group, &j->w) == 0);
    CHECK_SOON(atomic_load(&j->w.started));
    if (j->how == BLOCK_IN_SUBMIT) {
        int n = 0, rc;
        while ((rc = twill_submit_for(j->b, noop, NULL, 0)) == 0)
            CHECK(++n < 1 << 20); /* B's worker is busy: its queue fills */
        CHECK(rc == EAGAIN);
        gate_open(j->busy);
        return twill_submit(j->b, noop, NULL); /* blocks until B's worker is free */
    }
    caster_thread first = {.pool = j->b, .rc = -1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, cast_noop, &first) == 0);
    CHECK_SOON(started_and_asleep(&first.tid)); /* posted (the lock was free), waiting */
    gate_open(j->busy);
    CHECK(twill_broadcast(j->b, noop, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    return first.rc;
}

static int spawn_then_block_on_b(void *arg)
{
    cross_job *j = arg;
    CHECK(twill_group_init(&j->h, NULL) == 0);
    CHECK(twill_group_spawn(&j->h, count_task, &j->ran) == 0);
    CHECK(twill_group_spawn(&j->h, count_task, &j->ran) == 0); /* private */
    CHECK(block_on_b(j) == 0);
    CHECK(twill_group_wait(&j->h) == 0);
    return 0;
}

static void cross_pool(block_how how)
{
    twill_pool *a = test_pool(2);
    twill_config cfg = test_config(1);
    cfg.queue_capacity = 4;
    twill_pool *b = NULL;
    cr_assert_eq(twill_pool_create(&b, &cfg), 0);
    gate busy = GATE_INIT;
    cross_job j = {.b = b, .busy = &busy, .how = how};
    j.w = (group_waiter){.g = &j.h, .rc = -1};
    cr_assert_eq(twill_submit(a, gate_task, &busy), 0);
    gate_wait_inside(&busy, 1);
    RUN_CHECKS(a, spawn_then_block_on_b, &j);
    cr_assert_eq(j.w.rc, 0, "W's wait for the group: %s", twill_strerror(j.w.rc));
    cr_assert_eq(atomic_load(&j.ran), 2);
    twill_pool_destroy(b);
    twill_pool_destroy(a);
}

Test(gspawn, a_worker_blocked_in_twill_run_on_another_pool_publishes_its_private_tasks,
     .timeout = 60)
{
    cross_pool(BLOCK_IN_RUN);
}

Test(gspawn, a_worker_blocked_on_another_pools_full_queue_publishes_its_private_tasks,
     .timeout = 60)
{
    cross_pool(BLOCK_IN_SUBMIT);
}

Test(gspawn, a_worker_broadcasting_on_another_pool_publishes_its_private_tasks, .timeout = 60)
{
    cross_pool(BLOCK_IN_BROADCAST);
}

/* The same on X's own pool: worker Y of A runs twill_run(C, job), where
   job waits for g, so an earlier broadcast's share stays in Y's mailbox;
   X, with a private task of g, broadcasts on A.  It must not take A's
   lock while it holds private group tasks (the broadcast would wait
   there for Y's mailbox, Y for job, job for g): wait_lock runs them
   first (it used to hold the lock with them: job's wait timed out). */
typedef struct own_bcast_job {
    twill_pool *c;
    gate *blocker_go, *z_busy;
    twill_group g;
    group_waiter job;        /* on C, for g */
    _Atomic long ran;
    int blocker_rc;
} own_bcast_job;

static int own_bcast_blocker(void *arg)
{
    own_bcast_job *j = arg;
    gate_pass(j->blocker_go);
    j->blocker_rc = twill_run(j->c, wait_for_group, &j->job);
    return 0;
}

static int spawn_then_broadcast_on_own_pool(void *arg)
{
    own_bcast_job *j = arg;
    CHECK(twill_group_init(&j->g, NULL) == 0);
    CHECK(twill_group_spawn(&j->g, count_task, &j->ran) == 0);
    CHECK(twill_group_spawn(&j->g, count_task, &j->ran) == 0); /* private */
    gate_open(j->blocker_go);
    CHECK_SOON(atomic_load(&j->job.started));
    caster_thread first = {.pool = twill_current_pool(), .rc = -1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, cast_noop, &first) == 0);
    CHECK_SOON(started_and_asleep(&first.tid)); /* posted to all three, waiting */
    gate_open(j->z_busy);
    CHECK(twill_broadcast(twill_current_pool(), noop, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(first.rc == 0);
    CHECK(twill_group_wait(&j->g) == 0);
    return 0;
}

Test(gspawn, a_worker_broadcasting_on_its_pool_runs_its_private_tasks_before_the_lock,
     .timeout = 60)
{
    twill_pool *a = test_pool(3), *c = test_pool(1);
    gate blocker_go = GATE_INIT, z_busy = GATE_INIT;
    own_bcast_job j = {.c = c, .blocker_go = &blocker_go, .z_busy = &z_busy, .blocker_rc = -1};
    j.job = (group_waiter){.g = &j.g, .rc = -1};
    cr_assert_eq(twill_submit(a, own_bcast_blocker, &j), 0);
    gate_wait_inside(&blocker_go, 1);
    cr_assert_eq(twill_submit(a, gate_task, &z_busy), 0);
    gate_wait_inside(&z_busy, 1);
    RUN_CHECKS(a, spawn_then_broadcast_on_own_pool, &j);
    cr_assert_eq(twill_pool_shutdown(a, TWILL_DRAIN, NULL), 0); /* the blocker is done */
    cr_assert_eq(j.job.rc, 0, "job's wait for the group: %s", twill_strerror(j.job.rc));
    cr_assert_eq(j.blocker_rc, 0);
    cr_assert_eq(atomic_load(&j.ran), 2);
    twill_pool_destroy(c);
    twill_pool_destroy(a);
}

/* Under isolation: X holds a private task of plain group g and, at a join
   of its loop, starts J, a HIGH task of an isolated group (it runs under
   that group's tag); J blocks in twill_run(B, W), W waits for g.  The
   private task must be published then too (it was not, under isolation). */
typedef struct iso_block_job {
    twill_pool *b;
    gate *busy;
    twill_group g;
    group_waiter w;          /* W, for g */
    _Atomic long ran, spawned, j_done;
    int j_rc, t_rc;
} iso_block_job;

static int iso_block_j(void *arg)
{
    iso_block_job *j = arg;
    gate_open(j->busy); /* only X could start J: the other worker was held */
    j->j_rc = twill_run(j->b, wait_for_group, &j->w);
    atomic_store(&j->j_done, 1);
    return 0;
}

static int iso_block_t_checks(iso_block_job *j)
{
    CHECK(twill_group_init(&j->g, NULL) == 0);
    CHECK(twill_group_spawn(&j->g, count_task, &j->ran) == 0);
    CHECK(twill_group_spawn(&j->g, count_task, &j->ran) == 0); /* private */
    atomic_store(&j->spawned, 1);
    CHECK(join_until_set(&j->j_done) == 0); /* the HIGH spawn trips a join: J runs inside it */
    CHECK(twill_group_wait(&j->g) == 0);
    return 0;
}

static int iso_block_t(void *arg)
{
    iso_block_job *j = arg;
    j->t_rc = iso_block_t_checks(j);
    return 0;
}

Test(gspawn, a_worker_blocked_on_another_pool_under_isolation_publishes_its_private_tasks,
     .timeout = 60)
{
    twill_pool *a = test_pool(2), *b = test_pool(1);
    gate busy = GATE_INIT;
    iso_block_job j = {.b = b, .busy = &busy, .j_rc = -1, .t_rc = -1};
    j.w = (group_waiter){.g = &j.g, .rc = -1};
    twill_group iso;
    cr_assert_eq(twill_group_init_isolated(&iso, a), 0);
    cr_assert_eq(twill_submit(a, gate_task, &busy), 0);
    gate_wait_inside(&busy, 1);
    cr_assert_eq(twill_submit(a, iso_block_t, &j), 0);
    wait_count(&j.spawned, 1);
    cr_assert_eq(twill_group_spawn_prio(&iso, TWILL_PRIO_HIGH, iso_block_j, &j), 0);
    cr_assert_eq(twill_group_wait_for(&iso, TEST_WAIT_NS), 0);
    cr_assert_eq(twill_pool_shutdown(a, TWILL_DRAIN, NULL), 0); /* T is done */
    cr_assert_eq(j.t_rc, 0, "T's check at line %d failed", j.t_rc);
    cr_assert_eq(j.w.rc, 0, "W's wait for the group: %s", twill_strerror(j.w.rc));
    cr_assert_eq(j.j_rc, 0);
    cr_assert_eq(atomic_load(&j.ran), 2);
    twill_pool_destroy(b);
    twill_pool_destroy(a);
}

/* ------------------------------------------------ HIGH between them -- */

enum { BEFORE_HIGH = 6 };

typedef struct high_job {
    twill_pool *p;
    _Atomic long group_ran;
    _Atomic long ran_before_high; /* group tasks run when the HIGH task started */
    _Atomic int submitted;
    _Atomic long inner_ran;       /* the HIGH task's own group task */
} high_job;

/* The HIGH task, on the same worker, owns a group of its own whose spawn
   goes onto the same private group stack, right where the wait it
   interrupts would pop its next task. */
static int high_task(void *arg)
{
    high_job *j = arg;
    atomic_store(&j->ran_before_high, atomic_load(&j->group_ran));
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    CHECK(twill_group_spawn(&g, count_task, &j->inner_ran) == 0);
    CHECK(twill_group_wait(&g) == 0);
    return 0;
}

/* The first group task to run submits a HIGH task. */
static int submit_high_once(void *arg)
{
    high_job *j = arg;
    if (atomic_exchange(&j->submitted, 1) == 0 &&
        twill_submit_prio(j->p, TWILL_PRIO_HIGH, high_task, j, -1) != 0)
        return EIO;
    atomic_fetch_add(&j->group_ran, 1);
    return 0;
}

static int spawn_then_high(void *arg)
{
    high_job *j = arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    for (int i = 0; i < BEFORE_HIGH; i++)
        CHECK(twill_group_spawn(&g, submit_high_once, j) == 0);
    CHECK(twill_group_wait(&g) == 0);
    return 0;
}

Test(gspawn, a_high_task_starts_before_the_next_private_task_of_the_wait, .timeout = 30)
{
    twill_pool *p = test_pool(1);
    high_job j = {.p = p, .ran_before_high = -1};
    RUN_CHECKS(p, spawn_then_high, &j);
    /* it ran by the time the twill_run returned: the wait helped with it */
    cr_assert_eq(atomic_load(&j.ran_before_high), 1,
                 "the HIGH task started after %ld group tasks, not right after the first",
                 atomic_load(&j.ran_before_high));
    cr_assert_eq(atomic_load(&j.group_ran), BEFORE_HIGH, "group tasks ran %ld times",
                 atomic_load(&j.group_ran));
    cr_assert_eq(atomic_load(&j.inner_ran), 1, "the HIGH task's own task ran %ld times",
                 atomic_load(&j.inner_ran));
    twill_pool_destroy(p);
}

/* The same inside an outside job that a poll took: a task in a loop of
   joins runs it at one of them (polling).  A HIGH task submitted there
   still starts before the wait's next private task (the poll's job used
   to refuse it: it ran after the whole group). */
typedef struct polled_job {
    high_job h;
    _Atomic long looping, job_done;
    int job_rc, loop_rc;
} polled_job;

static int polled_spawn_then_high(void *arg)
{
    polled_job *j = arg;
    j->job_rc = spawn_then_high(&j->h);
    atomic_store(&j->job_done, 1);
    return 0;
}

static int join_loop(void *arg)
{
    polled_job *j = arg;
    atomic_store(&j->looping, 1);
    j->loop_rc = join_until_set(&j->job_done);
    return 0;
}

Test(gspawn, a_high_task_starts_before_the_next_private_task_of_a_wait_in_a_polled_job,
     .timeout = 30)
{
    twill_pool *p = test_pool(1);
    polled_job j = {.h = {.p = p, .ran_before_high = -1}, .job_rc = -1, .loop_rc = -1};
    cr_assert_eq(twill_submit(p, join_loop, &j), 0);
    wait_count(&j.looping, 1);
    cr_assert_eq(twill_submit(p, polled_spawn_then_high, &j), 0); /* the only worker is busy */
    cr_assert_eq(twill_pool_shutdown(p, TWILL_DRAIN, NULL), 0);
    cr_assert_eq(j.loop_rc, 0, "the join loop's check at line %d failed", j.loop_rc);
    cr_assert_eq(j.job_rc, 0, "the job's check at line %d failed", j.job_rc);
    cr_assert_eq(atomic_load(&j.h.ran_before_high), 1,
                 "the HIGH task started after %ld group tasks, not right after the first",
                 atomic_load(&j.h.ran_before_high));
    cr_assert_eq(atomic_load(&j.h.inner_ran), 1);
    twill_pool_destroy(p);
}

/* -------------------------------------------------------- isolation -- */

enum { ISO_TASKS = 20 };

typedef struct iso_job {
    twill_group *iso;
    slot *slots;
    _Atomic int phase;       /* 1 while the owner waits on the isolated group */
    _Atomic int ran_in_iso;  /* plain private tasks run in phase 1 */
    int rc;
} iso_job;

static int plain_task_phase(void *arg)
{
    iso_job *j = arg;
    if (atomic_load(&j->phase) == 1)
        atomic_fetch_add(&j->ran_in_iso, 1);
    return 0;
}

/* Inside an isolated task: a plain group of its own, spawned and waited
   there on the only worker (its tasks carry the isolated tag). */
static int plain_group_inside_isolation(void *arg)
{
    iso_job *j = arg;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    for (int i = 0; i < ISO_TASKS; i++) {
        j->slots[i].g = &g;
        CHECK(twill_group_spawn(&g, slot_task, &j->slots[i]) == 0);
    }
    CHECK(twill_group_wait_for(&g, TEST_WAIT_NS) == 0);
    return 0;
}

static int isolation_script(void *arg)
{
    iso_job *j = arg;
    twill_group plain, iso;
    CHECK(twill_group_init(&plain, NULL) == 0);
    for (int i = 0; i < ISO_TASKS; i++)
        CHECK(twill_group_spawn(&plain, plain_task_phase, j) == 0);
    CHECK(twill_group_init_isolated(&iso, NULL) == 0);
    CHECK(twill_group_spawn(&iso, plain_group_inside_isolation, j) == 0);
    atomic_store(&j->phase, 1);
    j->rc = twill_group_wait_for(&iso, TEST_WAIT_NS);
    atomic_store(&j->phase, 2);
    CHECK(twill_group_wait(&plain) == 0);
    return 0;
}

Test(gspawn, an_isolated_wait_runs_no_private_task_of_the_owner_and_isolated_spawns_complete,
     .timeout = 60)
{
    twill_pool *p = test_pool(1);
    slot *s = slots_for(ISO_TASKS, NULL);
    iso_job j = {.slots = s};
    RUN_CHECKS(p, isolation_script, &j);
    cr_assert_eq(j.rc, 0, "the isolated group's wait: %d", j.rc);
    cr_assert_eq(atomic_load(&j.ran_in_iso), 0, "plain tasks ran inside the isolated wait");
    for (int i = 0; i < ISO_TASKS; i++)
        cr_assert_eq(atomic_load(&s[i].ran), 1, "task %d of the group inside isolation", i);
    free(s);
    twill_pool_destroy(p);
}

/* ------------------------------------- the owner's spawn refuses too -- */

typedef struct refuse_job {
    slot *slots;
    int spawn_rc, wait_rc;
    int discarded_at_spawn; /* the last task's discards when its spawn returned */
} refuse_job;

/* On the only worker, after settling (so that the spawns below take
   twill.h's inline path): one task, so the deque holds one and the next
   spawn is private, then cancel, then a spawn into the cancelled group. */
static int spawn_into_own_cancelled_group(void *arg)
{
    refuse_job *j = arg;
    int line = settle();
    if (line != 0)
        return line;
    twill_group g;
    CHECK(twill_group_init(&g, NULL) == 0);
    j->slots[0].g = j->slots[1].g = j->slots[2].g = &g;
    CHECK(twill_group_spawn(&g, slot_task, &j->slots[0]) == 0);
    CHECK(twill_group_spawn(&g, slot_task, &j->slots[1]) == 0);
    twill_group_cancel(&g);
    j->spawn_rc = twill_group_spawn(&g, slot_task, &j->slots[2]);
    j->discarded_at_spawn = atomic_load(&j->slots[2].discarded);
    j->wait_rc = twill_group_wait(&g);
    return 0;
}

Test(gspawn, the_owners_spawn_into_its_cancelled_group_is_discarded_through_the_hook,
     .timeout = 30)
{
    twill_pool *p = hooked_pool(1);
    slot *s = slots_for(3, NULL);
    refuse_job j = {s, -1, -1, -1};
    RUN_CHECKS(p, spawn_into_own_cancelled_group, &j);
    cr_assert_eq(j.spawn_rc, 0, "a spawn into a cancelled group returns 0 (twill.h)");
    cr_assert_eq(j.discarded_at_spawn, 1, "discarded by the spawn itself, not later");
    cr_assert_eq(atomic_load(&s[2].ran), 0, "the task spawned after the cancel ran");
    cr_assert_eq(atomic_load(&s[2].discarded), 1, "discarded %d times",
                 atomic_load(&s[2].discarded));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(atomic_load(&s[i].ran) + atomic_load(&s[i].discarded), 1, "task %d", i);
    cr_assert_eq(j.wait_rc, ECANCELED);
    free(s);
    twill_pool_destroy(p);
}

typedef struct looping_job {
    twill_pool *pool;
    _Atomic int looping;
    _Atomic long rounds;
    int probe_rc, last_rc;
} looping_job;

/* On the only worker: spawn and wait, round after round, each round
   after a submit of its own that tells whether the pool still takes
   work (an inside submit refuses once the shutdown's state store is
   visible), until a spawn is refused (or the deadline passes: a failed
   check).  Once the probe was refused, the spawn that follows it must be
   too: a spawn the owner keeps private would return 0 and be discarded. */
static int spawn_until_refused(void *arg)
{
    looping_job *j = arg;
    int line = settle();
    if (line != 0)
        return line;
    _Atomic long ran = 0;
    struct timespec dl = test_deadline(), now;
    for (;;) {
        int probe = twill_submit(j->pool, noop, NULL);
        twill_group g;
        CHECK(twill_group_init(&g, NULL) == 0);
        int rc = twill_group_spawn(&g, count_task, &ran);
        (void)twill_group_wait(&g);
        if (probe != 0 || rc != 0) {
            j->probe_rc = probe;
            j->last_rc = rc;
            return 0;
        }
        atomic_fetch_add(&j->rounds, 1);
        atomic_store(&j->looping, 1);
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec); /* never refused */
    }
}

Test(gspawn, the_owners_spawns_return_eshutdown_once_a_cancelling_shutdown_began,
     .timeout = 60)
{
    twill_pool *p = hooked_pool(1);
    looping_job j = {.pool = p, .probe_rc = -1, .last_rc = -1};
    cr_assert_eq(twill_submit(p, spawn_until_refused, &j), 0);
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&j.looping)) {
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "the task never started its rounds");
        sched_yield();
    }
    /* Returns once the looping task does: only a refused spawn or probe
       ends it. */
    cr_assert_eq(twill_pool_shutdown(p, TWILL_CANCEL, NULL), 0);
    cr_assert_eq(j.last_rc, ESHUTDOWN,
                 "a spawn after the pool refused a submit (%d) returned %d, round %ld",
                 j.probe_rc, j.last_rc, atomic_load(&j.rounds));
    twill_pool_destroy(p);
}

/* --------------------------- a sleeper on another group the wait runs -- */

typedef struct wake_job {
    twill_group *c;          /* the group the outside thread waits on */
    _Atomic int c_ready, outside_done;
    _Atomic long tid;        /* the outside thread's, 0 until known */
    _Atomic long ran;
    int outside_rc;
    bool woken;              /* the outside wait returned well before its deadline */
} wake_job;

static void *wait_outside(void *arg)
{
    wake_job *j = arg;
    atomic_store(&j->tid, test_tid());
    struct timespec dl = test_deadline(), now;
    while (!atomic_load(&j->c_ready)) {
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec >= dl.tv_sec)
            break;
        sched_yield();
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    j->outside_rc = atomic_load(&j->c_ready) ? twill_group_wait_for(j->c, TEST_WAIT_NS) : EIO;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Woken, not timed out: a wait that sleeps to its deadline finds the
       group done then and returns 0 too. */
    j->woken = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) <
               TEST_WAIT_NS / 2;
    atomic_store(&j->outside_done, 1);
    return NULL;
}

/* On the only worker, settled: c's private task lies on top of h's, and
   an outside thread sleeps on c (its SLEEPER bit, read through twill.h's
   private view of a group, and the thread blocked in the kernel).  The
   wait on h runs c's task first, whose end is c's last: the token's
   finish must wake the sleeper. */
static int wait_runs_a_sleepers_last_task(void *arg)
{
    wake_job *j = arg;
    int line = settle();
    if (line != 0)
        return line;
    twill_group d, h, c;
    _Atomic long dummy = 0;
    CHECK(twill_group_init(&d, NULL) == 0);
    CHECK(twill_group_spawn(&d, count_task, &dummy) == 0); /* published: the deque is empty */
    CHECK(twill_group_init(&h, NULL) == 0);
    CHECK(twill_group_spawn(&h, count_task, &j->ran) == 0);
    CHECK(twill_group_init(&c, NULL) == 0);
    CHECK(twill_group_spawn(&c, count_task, &j->ran) == 0);
    j->c = &c;
    atomic_store(&j->c_ready, 1);
    const struct twill__group_head *hc = (const struct twill__group_head *)(void *)&c;
    struct timespec dl = test_deadline(), now;
    while (!(__atomic_load_n(&hc->pending, __ATOMIC_ACQUIRE) & TWILL__SLEEPER_BIT) ||
           !thread_sleeps(atomic_load(&j->tid))) {
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec); /* the outside thread never slept on c */
        sched_yield();
    }
    CHECK(twill_group_wait(&h) == 0);
    CHECK(twill_group_wait(&d) == 0 && atomic_load(&dummy) == 1);
    /* c lives in this frame: keep it until the outside wait is over */
    while (!atomic_load(&j->outside_done)) {
        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(now.tv_sec < dl.tv_sec + 10); /* the outside wait never returned */
        sched_yield();
    }
    return 0;
}

Test(gspawn, the_wait_that_runs_another_groups_last_private_task_wakes_its_sleeper,
     .timeout = 60)
{
    twill_pool *p = test_pool(1);
    wake_job j = {0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, wait_outside, &j), 0);
    RUN_CHECKS(p, wait_runs_a_sleepers_last_task, &j);
    pthread_join(th, NULL);
    cr_assert_eq(j.outside_rc, 0, "the outside wait on c: %d", j.outside_rc);
    cr_assert(j.woken, "the outside wait on c slept to its deadline: nobody woke it");
    cr_assert_eq(atomic_load(&j.ran), 2);
    twill_pool_destroy(p);
}

/* -------------------------------------------------- cancelling shutdown -- */

enum { AT_SHUTDOWN = 30 };

typedef struct shut_job {
    slot *slots;
    gate *gt;
    int wait_rc;
} shut_job;

/* Submitted from outside: spawn private tasks, block in the gate (not a
   twill wait: they stay where they are), then wait for them. */
static int spawn_block_wait(void *arg)
{
    shut_job *j = arg;
    twill_group g;
    if (twill_group_init(&g, NULL) != 0)
        return EIO;
    for (int i = 0; i < AT_SHUTDOWN; i++) {
        j->slots[i].g = &g;
        if (twill_group_spawn(&g, slot_task, &j->slots[i]) != 0)
            return EIO;
    }
    gate_pass(j->gt);
    j->wait_rc = twill_group_wait(&g);
    return 0;
}

typedef struct shutdown_arg {
    twill_pool *p;
    size_t discarded;
    int rc;
} shutdown_arg;

static void *cancel_pool(void *arg)
{
    shutdown_arg *a = arg;
    a->rc = twill_pool_shutdown(a->p, TWILL_CANCEL, &a->discarded);
    return NULL;
}

Test(gspawn, a_cancelling_shutdown_discards_the_private_tasks_a_blocked_task_holds,
     .timeout = 60)
{
    twill_pool *p = hooked_pool(1);
    gate gt = GATE_INIT;
    slot *s = slots_for(AT_SHUTDOWN, NULL);
    shut_job j = {s, &gt, -1};
    cr_assert_eq(twill_submit(p, spawn_block_wait, &j), 0);
    gate_wait_inside(&gt, 1);
    shutdown_arg a = {p, 0, -1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, cancel_pool, &a), 0);
    /* The shutdown has begun once outside submits are refused; each one
       accepted before that is discarded too. */
    long extra = 0;
    struct timespec dl = test_deadline(), now;
    while (twill_submit_for(p, noop, NULL, 0) == 0) {
        extra++;
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "shutdown never began");
        sched_yield();
    }
    gate_open(&gt);
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, 0);
    for (int i = 0; i < AT_SHUTDOWN; i++) {
        cr_assert_eq(atomic_load(&s[i].ran), 0, "task %d ran after the cancelling shutdown", i);
        cr_assert_eq(atomic_load(&s[i].discarded), 1, "task %d discarded %d times", i,
                     atomic_load(&s[i].discarded));
    }
    cr_assert_eq(j.wait_rc, ECANCELED, "the blocked task's wait: %d", j.wait_rc);
    cr_assert_eq(a.discarded, (size_t)(AT_SHUTDOWN + extra), "discarded %zu, want %ld",
                 a.discarded, AT_SHUTDOWN + extra);
    cr_assert_eq(atomic_load(&hook_calls), AT_SHUTDOWN + extra);
    free(s);
    twill_pool_destroy(p);
}

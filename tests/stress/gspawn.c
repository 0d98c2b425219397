/*
 * stress/gspawn.c — exactly-once for group spawns by the group's own
 * worker, which the stealing scheduler keeps on its private group stack
 * (sched_steal.h) until they run there, are published, or are stolen; a
 * plain C program so that it also runs under ThreadSanitizer.
 *
 * Each round, on both schedulers, with pools of 2 and 4 workers:
 *   (a) a tree of groups, entered with twill_run: every node inits its
 *       own group (on whatever worker runs it: its owner), spawns up to
 *       BRANCH children into it and waits; every node whose id is 1 mod 5
 *       also spawns one extra child into its parent's group, which is
 *       being waited on, from whatever worker it runs on (the owner's or
 *       another's: private or shared);
 *   (b) the same tree where one node per round (a different one each
 *       round) fails after its own wait: its code cancels its parent's
 *       group and, passed up by every wait, every group above it, so
 *       tasks not yet started are discarded all over the tree, private
 *       ones included;
 *   (c) a task that inits a group owned by its worker, spawns into it
 *       and returns without waiting, the group then waited for by the
 *       main thread while a third thread cancels it at a varying moment;
 *   (d) a fresh pool running a tree (a) from an outside submit, shut down
 *       while the tree is in flight: TWILL_DRAIN on even rounds (nothing
 *       may be lost: every spawn runs), TWILL_CANCEL on odd ones;
 *   (e) a task that spawns into a group h of its own, then into a group
 *       c that the main thread waits on, then waits on h: its wait runs
 *       c's private tasks, which lie on top (twill.h's inline wait), and
 *       the end of c's last one must release the main thread's wait (the
 *       token's finish), cancelled by a third thread on odd rounds.
 * Every spawn counts its slot's `spawned` before the call; a task counts
 * `ran`, the discard hook `discarded`.  After every phase each slot must
 * read spawned == ran + discarded (and, where nothing cancels, discarded
 * == 0): a task lost, run twice, or both run and discarded shows up here.
 * Every run also stamps a plain (non-atomic) slot with the round, which
 * the main thread reads after the wait, run or shutdown returned: under
 * TSan a missing happens-before edge (a private task's completion through
 * the group's token, a publication, a steal) is a reported race.  Tasks
 * spin a varying few hundred cycles so that thieves find work in flight.
 * A watchdog turns a hang into FAIL.
 *
 * Usage: stress_gspawn [rounds]    (default 16: ~2 s, ~30 s under TSan)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "twill.h"

enum {
    BRANCH = 4,
    DEPTH = 7,                   /* levels below the root */
    TREE = 21845,                /* 1 + 4 + ... + 4^7: ids of a full tree */
    SLOTS = 2 * TREE,            /* a node's extra child: id + TREE */
    LEFT = 2000,                 /* (c): tasks spawned and left behind */
};

typedef struct slot {
    _Atomic long spawned, ran, discarded;
} slot;

/* A node of the tree; lives in its parent's frame (extras: static). */
typedef struct node {
    long id;
    int depth;
    twill_group *parent;  /* the group it was spawned into (NULL: the root) */
} node;

static slot slots[SLOTS];
static int stamps[SLOTS]; /* plain: written by the task, read by main after the phase */
static int round_now;     /* written by main between phases only */
static _Atomic long failing_node; /* (b): the node that fails, -1: none */
static node extras[TREE];         /* a node's extra child, written by its spawner */

static void spin(unsigned x)
{
    unsigned h = x * 2654435761u;
    unsigned n = (h >> 27) == 0 ? 2000 : (h >> 8) % 97;
    volatile unsigned sink = 0;
    for (unsigned i = 0; i < n; i++)
        sink += i;
}


static int node_task(void *arg);

static void discard_hook(twill_fn fn, void *arg, void *ctx)
{
    (void)ctx;
    if (fn == node_task) {
        /* relaxed: read by main after the phase, which orders everything. */
        atomic_fetch_add_explicit(&slots[((node *)arg)->id].discarded, 1, memory_order_relaxed);
    }
}

static int spawn_node(twill_group *g, node *n)
{
    atomic_fetch_add_explicit(&slots[n->id].spawned, 1, memory_order_relaxed);
    int rc = twill_group_spawn(g, node_task, n);
    if (rc != 0) /* not taken: not counted */
        atomic_fetch_sub_explicit(&slots[n->id].spawned, 1, memory_order_relaxed);
    return rc;
}

static int node_task(void *arg)
{
    node *n = arg;
    atomic_fetch_add_explicit(&slots[n->id].ran, 1, memory_order_relaxed);
    stamps[n->id] = round_now;
    spin((unsigned)n->id);
    int rc = 0;
    /* The extra child goes into the parent's group, which is being waited
       on: private if we run on the parent's worker (its owner), shared
       otherwise.  It outlives our frame: its node is a static one. */
    if (n->parent != NULL && n->id < TREE && n->id % 5 == 1) {
        extras[n->id] = (node){n->id + TREE, 0, NULL};
        rc = spawn_node(n->parent, &extras[n->id]);
    }
    twill_group mine;
    node kids[BRANCH];
    int nk = 0;
    if (n->depth > 0) {
        if (twill_group_init(&mine, NULL) != 0)
            return EIO;
        unsigned h = (unsigned)n->id * 2654435761u;
        int want = 1 + (int)((h >> 28) % BRANCH); /* 1..4 children */
        for (int k = 0; k < want && rc == 0; k++) {
            kids[nk] = (node){n->id * BRANCH + k + 1, n->depth - 1, &mine};
            rc = spawn_node(&mine, &kids[nk]);
            nk++;
        }
        int wrc = twill_group_wait(&mine);
        if (rc == 0)
            rc = wrc;
    }
    if (rc == 0 && n->id == atomic_load_explicit(&failing_node, memory_order_relaxed))
        rc = EIO;
    return rc;
}

static int tree_root(void *arg)
{
    (void)arg;
    node root = {0, DEPTH, NULL};
    atomic_fetch_add_explicit(&slots[0].spawned, 1, memory_order_relaxed); /* run, not spawned */
    return node_task(&root);
}

/* Every slot: spawned == ran + discarded; no discard unless allowed.
   Slots that ran carry this round's stamp or an older one (a slot not
   spawned this round keeps its old stamp). */
static long total_ran, total_discarded; /* over every check: shows what was exercised */

static void check(const char *what, int r, int discards_allowed)
{
    long bad = 0;
    for (long i = 0; i < SLOTS; i++) {
        long s = atomic_load_explicit(&slots[i].spawned, memory_order_relaxed);
        long ran = atomic_load_explicit(&slots[i].ran, memory_order_relaxed);
        long d = atomic_load_explicit(&slots[i].discarded, memory_order_relaxed);
        total_ran += ran;
        total_discarded += d;
        if (s != ran + d || (!discards_allowed && d != 0) || (ran > 0 && stamps[i] > r)) {
            if (bad < 5)
                FAIL("%s round %d: slot %ld spawned %ld, ran %ld, discarded %ld", what, r, i, s,
                     ran, d);
            bad++;
        }
    }
}

static void reset_slots(void)
{
    memset(slots, 0, sizeof slots);
}

static twill_pool *make_pool(twill_sched sched, unsigned workers)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE;
    cfg.discard = discard_hook;
    twill_pool *p = NULL;
    if (twill_pool_create(&p, &cfg) != 0) {
        FAIL("pool_create");
        exit(1);
    }
    return p;
}

/* ------------------------------------------------ (c) left behind -- */

typedef struct left {
    twill_group g;
    node nodes[LEFT];
} left;

static int spawn_left(void *arg)
{
    left *l = arg;
    if (twill_group_init(&l->g, NULL) != 0)
        return EIO;
    for (long i = 0; i < LEFT; i++) {
        l->nodes[i] = (node){TREE + i, 0, NULL}; /* leaves: no tree below */
        if (spawn_node(&l->g, &l->nodes[i]) != 0)
            return EIO;
    }
    return 0;
}

typedef struct canceller {
    twill_group *g;
    int64_t delay_ns;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    stress_delay(c->delay_ns);
    twill_group_cancel(c->g);
    return NULL;
}

/* ---------------------------- (e) a group waited on by another thread -- */

enum { HANDED = 40 };

typedef struct handed {
    twill_group c;              /* waited on by the main thread */
    _Atomic int ready;          /* c initialised and spawned into */
    node h_nodes[3], c_nodes[HANDED];
} handed;

/* On a worker: settle (a first wait of its own, which clears a trip the
   submission may have left: twill.h's inline wait leaves trips to the
   library), then h's tasks (the first one publishes, the deque being
   empty, so the others stay private), c's on top, and the wait on h. */
static int hand_over(void *arg)
{
    handed *hd = arg;
    twill_group h;
    if (twill_group_init(&h, NULL) != 0)
        return EIO;
    for (int i = 0; i < 3; i++) {
        hd->h_nodes[i] = (node){TREE + HANDED + i, 0, NULL};
        if (spawn_node(&h, &hd->h_nodes[i]) != 0)
            return EIO;
    }
    if (twill_group_wait(&h) != 0 || twill_group_init(&hd->c, NULL) != 0)
        return EIO;
    for (int i = 0; i < 3; i++)
        if (spawn_node(&h, &hd->h_nodes[i]) != 0)
            return EIO;
    for (int i = 0; i < HANDED; i++) {
        hd->c_nodes[i] = (node){TREE + i, 0, NULL};
        if (spawn_node(&hd->c, &hd->c_nodes[i]) != 0)
            return EIO;
    }
    /* release: pairs with the main thread's acquire before its wait on c */
    atomic_store_explicit(&hd->ready, 1, memory_order_release);
    return twill_group_wait(&h);
}

/* -------------------------------------------- (d) shutdown in flight -- */

static void *shutdown_later(void *arg)
{
    twill_pool *p = arg;
    stress_delay(200000 + (int64_t)(round_now % 7) * 150000);
    size_t discarded = 0;
    if (twill_pool_shutdown(p, round_now % 2 == 0 ? TWILL_DRAIN : TWILL_CANCEL, &discarded) != 0)
        FAIL("shutdown");
    return NULL;
}

static void round_on(twill_sched sched, unsigned workers, int r)
{
    const char *name = sched == TWILL_SCHED_CENTRAL ? "central" : "stealing";
    twill_pool *p = make_pool(sched, workers);
    char what[64];

    /* (a) */
    reset_slots();
    atomic_store(&failing_node, -1);
    int rc = twill_run(p, tree_root, NULL);
    snprintf(what, sizeof what, "(a) %s/%u", name, workers);
    if (rc != 0)
        FAIL("%s: tree returned %d", what, rc);
    check(what, r, 0);

    /* (b): a node at depth 2..4, different every round */
    reset_slots();
    atomic_store(&failing_node, 1 + BRANCH + (long)((r * 7919) % (TREE - 1 - BRANCH - 1024)));
    rc = twill_run(p, tree_root, NULL);
    snprintf(what, sizeof what, "(b) %s/%u", name, workers);
    if (rc != 0 && rc != EIO && rc != ECANCELED)
        FAIL("%s: tree returned %d", what, rc);
    check(what, r, 1);

    /* (c) */
    reset_slots();
    atomic_store(&failing_node, -1);
    left *l = malloc(sizeof *l);
    if (twill_run(p, spawn_left, l) != 0)
        FAIL("(c) spawn_left");
    canceller c = {&l->g, (int64_t)(r % 5) * 20000};
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, &c);
    rc = twill_group_wait(&l->g);
    pthread_join(th, NULL);
    if (rc != 0 && rc != ECANCELED)
        FAIL("(c) %s/%u: wait returned %d", name, workers, rc);
    snprintf(what, sizeof what, "(c) %s/%u", name, workers);
    check(what, r, 1);
    free(l);

    /* (e) */
    reset_slots();
    handed *hd = calloc(1, sizeof *hd);
    if (twill_submit(p, hand_over, hd) != 0)
        FAIL("(e) submit");
    while (!atomic_load_explicit(&hd->ready, memory_order_acquire))
        sched_yield();
    c = (canceller){&hd->c, (int64_t)(r % 5) * 5000};
    if (r % 2 != 0)
        pthread_create(&th, NULL, cancel_later, &c);
    rc = twill_group_wait(&hd->c);
    if (r % 2 != 0)
        pthread_join(th, NULL);
    if (rc != 0 && (r % 2 == 0 || rc != ECANCELED))
        FAIL("(e) %s/%u: wait returned %d", name, workers, rc);
    /* the c tasks' slots and stamps (plain) now, before the pool drains */
    snprintf(what, sizeof what, "(e) %s/%u", name, workers);
    for (long i = TREE; i < TREE + HANDED; i++) {
        long sp = atomic_load_explicit(&slots[i].spawned, memory_order_relaxed);
        long ran = atomic_load_explicit(&slots[i].ran, memory_order_relaxed);
        long d = atomic_load_explicit(&slots[i].discarded, memory_order_relaxed);
        if (sp != ran + d || (r % 2 == 0 && d != 0) || (ran > 0 && stamps[i] != r))
            FAIL("%s round %d: slot %ld spawned %ld, ran %ld, discarded %ld", what, r, i, sp,
                 ran, d);
    }
    twill_pool_destroy(p); /* drains hand_over and h */
    check(what, r, r % 2 != 0);
    free(hd);

    /* (d) */
    reset_slots();
    p = make_pool(sched, workers);
    if (twill_submit(p, tree_root, NULL) != 0)
        FAIL("(d) submit");
    pthread_create(&th, NULL, shutdown_later, p);
    pthread_join(th, NULL);
    snprintf(what, sizeof what, "(d) %s/%u %s", name, workers, r % 2 == 0 ? "drain" : "cancel");
    check(what, r, r % 2 != 0);
    twill_pool_destroy(p);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 16;
    stress_watchdog(280);
    static const unsigned counts[] = {2, 4};
    for (int r = 0; r < rounds; r++) {
        round_now = r;
        for (int s = 0; s < 2; s++)
            for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
                round_on(s == 0 ? TWILL_SCHED_STEALING : TWILL_SCHED_CENTRAL, counts[k], r);
    }
    if (stress_failures != 0) {
        fprintf(stderr, "stress_gspawn: %ld failures\n", stress_failures);
        return 1;
    }
    printf("stress_gspawn: %d rounds ok (%ld tasks ran, %ld discarded)\n", rounds, total_ran,
           total_discarded);
    return 0;
}

/*
 * stress/deque.c — concurrency stress of the Chase-Lev deque, a plain C
 * program so that it also runs under ThreadSanitizer.
 *
 * Checked, for 1, 2 and 3 thieves:
 *   - exactly once: every item is taken by the owner or stolen by one thief
 *     exactly once (a counter per item, not only a sum);
 *   - publication: each item's payload, written with plain stores before the
 *     push, is seen complete by whoever takes it (TSan reports a race if the
 *     push/steal ordering is missing);
 *   - growth under stealing: each round starts from a 1-slot buffer and the
 *     owner pushes in bursts, so the buffer grows while thieves steal, and
 *     indices wrap around every buffer many times;
 *   - shrinking under stealing: in "cycle" rounds the owner pushes a burst
 *     of 500-3000 items (the buffer grows to 4096 slots), then takes until
 *     at most 0-3 are left, so it shrinks step by step back towards one slot
 *     while thieves keep stealing from whichever buffer they loaded, and
 *     repeats; replaced buffers are freed while thieves run (ASan reports a
 *     use-after-free, TSan a race with free, if one is freed too early), and
 *     none is left once the thieves are gone.
 * The owner mixes pushes and takes at random.  A watchdog bounds the run.
 *
 * Usage: stress_deque [items_per_round] [rounds]
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "deque.h"

typedef struct item {
    uint64_t payload[4]; /* plain data, published by push */
    _Atomic int taken;   /* how many times this item was obtained */
} item;

typedef struct round_ctx {
    twill__deque dq;
    item *items;
    long n;
    size_t max_capacity; /* owner only: largest capacity seen */
    long shrinks;        /* owner only: takes after which the capacity was smaller */
    long held;           /* owner only: ops after which replaced buffers waited for thieves */
    _Atomic int started;    /* thieves running: the owner starts when all are */
    _Atomic int owner_done; /* set by the owner after its last take */
    _Atomic long stolen;    /* total steals, reported */
    _Atomic long retries;   /* lost races, reported */
} round_ctx;

static long failures;

/* Account for one item obtained by the owner or a thief.  A pointer that is
   not one of this round's items (NULL or stale: a slot that a resize did
   not copy) is a failure, reported instead of crashing. */
static void consume(round_ctx *c, void *x)
{
    item *it = x;
    uintptr_t p = (uintptr_t)x, lo = (uintptr_t)c->items, hi = (uintptr_t)(c->items + c->n);
    if (p < lo || p >= hi || (p - lo) % sizeof *it != 0) {
        fprintf(stderr, "FAIL: got %p, which is no item of this round\n", x);
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        return;
    }
    uint64_t i = it->payload[0];
    if (it->payload[1] != i * 3 || it->payload[2] != i * 5 || it->payload[3] != ~i) {
        fprintf(stderr, "FAIL: item %lu has a torn payload\n", (unsigned long)i);
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    }
    /* relaxed: only the final per-item count matters, read after join. */
    atomic_fetch_add_explicit(&it->taken, 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
    round_ctx *c = arg;
    unsigned empty = 0;
    /* relaxed: only a start signal; the deque's own ordering covers items. */
    atomic_fetch_add_explicit(&c->started, 1, memory_order_relaxed);
    for (;;) {
        void *x;
        switch (twill__deque_steal(&c->dq, &x)) {
        case TWILL__STEAL_SUCCESS:
            consume(c, x);
            atomic_fetch_add_explicit(&c->stolen, 1, memory_order_relaxed);
            break;
        case TWILL__STEAL_RETRY:
            atomic_fetch_add_explicit(&c->retries, 1, memory_order_relaxed);
            break;
        case TWILL__STEAL_EMPTY:
            /* acquire: pairs with the owner's release store of owner_done,
               after which nothing is pushed any more. */
            if (atomic_load_explicit(&c->owner_done, memory_order_acquire))
                return NULL;
            /* Keep trying for a while before giving the core away, so that
               thieves are inside steal while the owner resizes. */
            if (++empty % 64 == 0)
                sched_yield();
            break;
        }
    }
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef enum { ROUND_WIDE, ROUND_NARROW, ROUND_CYCLE } round_kind;

static void owner_push(round_ctx *c, long i)
{
    item *it = &c->items[i];
    uint64_t v = (uint64_t)i;
    it->payload[0] = v;
    it->payload[1] = v * 3;
    it->payload[2] = v * 5;
    it->payload[3] = ~v;
    if (twill__deque_push(&c->dq, it) != 0) {
        fprintf(stderr, "FAIL: push out of memory\n");
        exit(1);
    }
    size_t cap = twill__deque_capacity(&c->dq);
    if (cap > c->max_capacity)
        c->max_capacity = cap;
}

/* One take, with the owner's view of the resize around it. */
static void *owner_take(round_ctx *c)
{
    size_t before = twill__deque_capacity(&c->dq);
    void *x = twill__deque_take(&c->dq);
    if (twill__deque_capacity(&c->dq) < before)
        c->shrinks++;
    if (twill__deque_retired(&c->dq) > 0)
        c->held++;
    return x;
}

/* Owner: in "wide" rounds it pushes bursts of up to 64 items, forcing growth
   while thieves steal; in "narrow" rounds it keeps 0-2 items queued, so its
   takes keep racing the thieves for the last items (the case that needs the
   seq_cst fence in take); in "cycle" rounds it grows the buffer with a big
   burst, then takes down to near empty so that it shrinks, again and again. */
static void owner(round_ctx *c, uint64_t seed, round_kind kind)
{
    long next = 0;
    uint64_t burst_mod = kind == ROUND_NARROW ? 2 : 64, pop_mod = kind == ROUND_NARROW ? 3 : 48;
    /* Wide rounds open with 100 pushes in a row: the buffer must grow. */
    long burst = kind == ROUND_NARROW ? 1 : 100;
    if (kind == ROUND_CYCLE) {
        burst_mod = 2501;
        burst = 500 + (long)(rng_next(&seed) % burst_mod);
    }
    while (next < c->n) {
        for (long k = 0; k < burst && next < c->n; k++, next++)
            owner_push(c, next);
        if (next == c->n)
            break; /* leave the last burst to the thieves */
        if (kind == ROUND_CYCLE) {
            /* Down to near empty: the thieves take some, we take the rest. */
            int64_t keep = (int64_t)(rng_next(&seed) % 4);
            for (long k = 1; twill__deque_size_estimate(&c->dq) > keep; k++) {
                void *x = owner_take(c);
                if (x == NULL)
                    break;
                consume(c, x);
                if (k % 16 == 0)
                    sched_yield(); /* on a busy machine, let thieves in mid-drain */
            }
            burst = 500 + (long)(rng_next(&seed) % burst_mod);
            continue;
        }
        long pops = (long)(rng_next(&seed) % pop_mod);
        for (long k = 0; k < pops; k++) {
            void *x = owner_take(c);
            if (x == NULL)
                break;
            consume(c, x);
        }
        burst = (long)(rng_next(&seed) % burst_mod) + 1;
    }
    /* The thieves take what is left, so every round has steals. */
    while (twill__deque_size_estimate(&c->dq) > 0)
        sched_yield();
    /* release: pairs with the thieves' acquire load; they exit once they
       also find the deque empty. */
    atomic_store_explicit(&c->owner_done, 1, memory_order_release);
}

typedef struct totals {
    long stolen, retries, shrinks, held;
    size_t capacity;
} totals;

static int run_round(int thieves, long n, uint64_t seed, round_kind kind, totals *tot)
{
    round_ctx c = {.n = n};
    c.items = calloc((size_t)n, sizeof *c.items);
    if (c.items == NULL || twill__deque_init(&c.dq, 1) != 0) {
        fprintf(stderr, "FAIL: out of memory\n");
        exit(1);
    }
    pthread_t tid[3];
    for (int t = 0; t < thieves; t++)
        pthread_create(&tid[t], NULL, thief, &c);
    /* Rounds last less than a thread start: wait for the thieves, so that
       they really steal while the owner grows and shrinks.  relaxed: see
       thief. */
    while (atomic_load_explicit(&c.started, memory_order_relaxed) < thieves)
        sched_yield();
    owner(&c, seed, kind);
    for (int t = 0; t < thieves; t++)
        pthread_join(tid[t], NULL);
    int bad = 0;
    for (long i = 0; i < n; i++) {
        int k = atomic_load_explicit(&c.items[i].taken, memory_order_relaxed);
        if (k != 1) {
            if (bad < 10)
                fprintf(stderr, "FAIL: item %ld taken %d times (thieves=%d)\n", i, k, thieves);
            bad++;
        }
    }
    /* No thief left: the owner's next look at its empty deque frees every
       replaced buffer and goes back to the initial capacity. */
    if (twill__deque_take(&c.dq) != NULL || twill__deque_retired(&c.dq) != 0 ||
        twill__deque_capacity(&c.dq) != 1) {
        fprintf(stderr, "FAIL: after the round: %zu retired buffers, capacity %zu\n",
                twill__deque_retired(&c.dq), twill__deque_capacity(&c.dq));
        bad++;
    }
    tot->stolen += atomic_load_explicit(&c.stolen, memory_order_relaxed);
    tot->retries += atomic_load_explicit(&c.retries, memory_order_relaxed);
    tot->shrinks += c.shrinks;
    tot->held += c.held;
    if (c.max_capacity > tot->capacity)
        tot->capacity = c.max_capacity;
    twill__deque_destroy(&c.dq);
    free(c.items);
    return bad;
}

static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: stress_deque did not finish in time (hang?)\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(2);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 60;
    signal(SIGALRM, watchdog);
    alarm(240);
    long total_bad = 0;
    for (int thieves = 1; thieves <= 3; thieves++) {
        totals tot = {0};
        int bad = 0, cycle_rounds = 0;
        for (int r = 0; r < rounds; r++) {
            round_kind kind = (round_kind)(r % 3);
            cycle_rounds += kind == ROUND_CYCLE;
            bad += run_round(thieves, n,
                             0x9e3779b97f4a7c15ull * (uint64_t)(r + 1) + (uint64_t)thieves, kind,
                             &tot);
        }
        printf("deque stress: %d thieves, %d rounds x %ld items: %ld stolen, %ld lost races, "
               "capacity grew 1 -> %zu at most, %ld shrinks, %ld times buffers waited for "
               "thieves, %d items not taken exactly once\n",
               thieves, rounds, n, tot.stolen, tot.retries, tot.capacity, tot.shrinks, tot.held,
               bad);
        total_bad += bad;
        if (tot.stolen < rounds || tot.capacity < 128 || tot.shrinks < cycle_rounds) {
            printf("deque stress: FAIL: the run did not exercise stealing, growth or shrinking\n");
            total_bad++;
        }
    }
    total_bad += __atomic_load_n(&failures, __ATOMIC_RELAXED);
    if (total_bad != 0) {
        printf("deque stress: FAILED (%ld problems)\n", total_bad);
        return 1;
    }
    printf("deque stress: OK, every item taken exactly once with its payload intact\n");
    return 0;
}

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
 *     indices wrap around every buffer many times.
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
    _Atomic int owner_done; /* set by the owner after its last take */
    _Atomic long stolen;    /* total steals, reported */
    _Atomic long retries;   /* lost races, reported */
} round_ctx;

static long failures;

static void consume(item *it, long i_expected)
{
    (void)i_expected;
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
    for (;;) {
        void *x;
        switch (twill__deque_steal(&c->dq, &x)) {
        case TWILL__STEAL_SUCCESS:
            consume(x, -1);
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

/* Owner: in "wide" rounds it pushes bursts of up to 64 items, forcing growth
   while thieves steal; in "narrow" rounds it keeps 0-2 items queued, so its
   takes keep racing the thieves for the last items (the case that needs the
   seq_cst fence in take). */
static void owner(round_ctx *c, uint64_t seed, bool narrow)
{
    long next = 0;
    uint64_t burst_mod = narrow ? 2 : 64, pop_mod = narrow ? 3 : 48;
    /* Wide rounds open with 100 pushes in a row: the buffer must grow. */
    long burst = narrow ? 1 : 100;
    while (next < c->n) {
        for (long k = 0; k < burst && next < c->n; k++, next++) {
            item *it = &c->items[next];
            uint64_t i = (uint64_t)next;
            it->payload[0] = i;
            it->payload[1] = i * 3;
            it->payload[2] = i * 5;
            it->payload[3] = ~i;
            if (twill__deque_push(&c->dq, it) != 0) {
                fprintf(stderr, "FAIL: push out of memory\n");
                exit(1);
            }
        }
        if (next == c->n)
            break; /* leave the last burst to the thieves */
        long pops = (long)(rng_next(&seed) % pop_mod);
        for (long k = 0; k < pops; k++) {
            void *x = twill__deque_take(&c->dq);
            if (x == NULL)
                break;
            consume(x, -1);
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

static int run_round(int thieves, long n, uint64_t seed, long *stolen, long *retries,
                     size_t *capacity)
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
    owner(&c, seed, seed & 1);
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
    *stolen += atomic_load_explicit(&c.stolen, memory_order_relaxed);
    *retries += atomic_load_explicit(&c.retries, memory_order_relaxed);
    if (twill__deque_capacity(&c.dq) > *capacity)
        *capacity = twill__deque_capacity(&c.dq);
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
        long stolen = 0, retries = 0;
        size_t cap = 0;
        int bad = 0;
        for (int r = 0; r < rounds; r++)
            bad += run_round(thieves, n, 0x9e3779b97f4a7c15ull * (uint64_t)(r + 1) + (uint64_t)thieves,
                             &stolen, &retries, &cap);
        printf("deque stress: %d thieves, %d rounds x %ld items: %ld stolen, %ld lost races, "
               "capacity grew 1 -> %zu at most, %d items not taken exactly once\n",
               thieves, rounds, n, stolen, retries, cap, bad);
        total_bad += bad;
        if (stolen < rounds || cap < 128) {
            printf("deque stress: FAIL: the run did not exercise stealing or growth\n");
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

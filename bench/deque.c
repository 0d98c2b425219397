/*
 * bench/deque.c — micro-benchmark of the Chase-Lev deque.
 *   push_pop_ns:  owner cost of one push followed by one take (no thieves),
 *                 the fork-join fast path.
 *   push_pop_deep_ns: the same with 16 items queued underneath, so take
 *                 runs its many-items path (no CAS) instead of the last-item one.
 *   push_steal_ns: cost of one push plus one steal by the same thread, in
 *                 batches of 64 (no contention): the thief's own cost,
 *                 deterministic under callgrind.
 *   steal_mops:   millions of items per second moved from an owner that
 *                 pushes to one thief that steals (owner never takes).
 * Prints one machine-readable line:
 *   bench=deque push_pop_ns=<median> push_pop_deep_ns=<median> push_steal_ns=<median> steal_mops=<median> reps=<n>
 * Usage: bench_deque [reps] [pairs_per_rep] [steal=1|0]
 * (steal=0 skips the two-thread steal test, e.g. under callgrind, which
 * serialises threads.  Instructions per operation:
 *   valgrind --tool=callgrind bench_deque 1 1000000 0
 *   callgrind_annotate --inclusive=yes callgrind.out.* | grep -E 'push_[a-z_]*_ns'
 * and divide by the pairs.)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "deque.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* push+take pairs with `under` items queued underneath. */
__attribute__((noinline)) static double push_pop_ns(long pairs, int under)
{
    twill__deque d;
    twill__deque_init(&d, 64);
    static int token;
    void *volatile sink;
    for (int k = 0; k < under; k++)
        twill__deque_push(&d, &token);
    double t0 = now_s();
    for (long i = 0; i < pairs; i++) {
        twill__deque_push(&d, &token);
        sink = twill__deque_take(&d);
    }
    double t1 = now_s();
    (void)sink;
    twill__deque_destroy(&d);
    return (t1 - t0) * 1e9 / (double)pairs;
}

__attribute__((noinline)) static double push_steal_ns(long pairs)
{
    twill__deque d;
    twill__deque_init(&d, 64);
    static int token;
    void *volatile sink;
    long batches = (pairs + 63) / 64;
    double t0 = now_s();
    for (long i = 0; i < batches; i++) {
        for (int k = 0; k < 64; k++)
            twill__deque_push(&d, &token);
        for (int k = 0; k < 64; k++) {
            void *x = NULL;
            twill__deque_steal(&d, &x);
            sink = x;
        }
    }
    double t1 = now_s();
    (void)sink;
    twill__deque_destroy(&d);
    return (t1 - t0) * 1e9 / (double)(batches * 64);
}

typedef struct {
    twill__deque d;
    long items;
    _Atomic long received;
} steal_ctx;

static void *thief(void *arg)
{
    steal_ctx *c = arg;
    long got = 0;
    while (got < c->items) {
        void *x;
        if (twill__deque_steal(&c->d, &x) == TWILL__STEAL_SUCCESS)
            got++;
    }
    /* release: the owner reads it after join; ordering is for form only. */
    atomic_store_explicit(&c->received, got, memory_order_release);
    return NULL;
}

static double steal_mops(long items)
{
    steal_ctx c = {.items = items};
    twill__deque_init(&c.d, 1024);
    static int token;
    pthread_t t;
    double t0 = now_s();
    pthread_create(&t, NULL, thief, &c);
    for (long i = 0; i < items; i++) {
        /* Keep at most ~512 items queued so the buffer does not grow. */
        while (twill__deque_size_estimate(&c.d) > 512)
            ;
        twill__deque_push(&c.d, &token);
    }
    pthread_join(t, NULL);
    double t1 = now_s();
    twill__deque_destroy(&c.d);
    return (double)items / (t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    long pairs = argc > 2 ? atol(argv[2]) : 20000000;
    int with_steal = argc > 3 ? atoi(argv[3]) : 1;
    if (reps < 1 || reps > 100 || pairs < 1) {
        fprintf(stderr, "usage: bench_deque [reps 1..100] [pairs_per_rep >= 1]\n");
        return 2;
    }
    double pp[100], pd[100], ps[100], st[100];
    for (int r = 0; r < reps; r++) {
        pp[r] = push_pop_ns(pairs, 0);
        pd[r] = push_pop_ns(pairs, 16);
        ps[r] = push_steal_ns(pairs);
        st[r] = with_steal ? steal_mops(pairs / 4) : 0.0;
    }
    printf("bench=deque push_pop_ns=%.2f push_pop_deep_ns=%.2f push_steal_ns=%.2f "
           "steal_mops=%.2f reps=%d pairs=%ld\n",
           median(pp, reps), median(pd, reps), median(ps, reps), median(st, reps), reps, pairs);
    return 0;
}

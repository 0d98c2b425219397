/*
 * bench/pingpong.c — the machine's own cost of moving one cache line
 * between two CPUs, without any runtime: a thread pinned to CPU 1 and the
 * main thread pinned to CPU 0 take turns writing one word (each waits for
 * the other's write, then writes the next number), 1,000,000 round trips
 * per run, 5 runs; prints the median round trip:
 *   bench=pingpong cpus=0,1 round_trip_ns=490.3 min_ns=469.1 max_ns=506.9
 * Every queue that two CPUs both write (the outside queue's tail between
 * two producers, a cell between a producer and the worker that pops it)
 * pays about half a round trip per transfer of its line; README "Two
 * outside producers" says what that means for bench_submit --variant 2.
 * On a VM the figure moves with where the host runs the two vCPUs.
 * A probe run by hand, not by bench/run.  Needs 2 CPUs.
 * Usage: bench_pingpong
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>

#include "machine.h"

#define TRIPS 1000000L
#define RUNS 5

/* The word both threads write, alone on its line.  Odd values are the
   main thread's, even ones the partner's. */
static _Alignas(64) _Atomic long turn;

/* The partner: answers each odd value v with v + 1.  acquire/release: the
   turns alternate, each thread's write made after it saw the other's. */
static void *partner(void *arg)
{
    (void)arg;
    if (machine_pin(1) != 0) {
        fprintf(stderr, "pingpong: cannot pin to CPU 1 (needs 2 CPUs)\n");
        exit(1);
    }
    for (long v = 1; v < 2 * TRIPS * RUNS; v += 2) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != v)
            ;
        atomic_store_explicit(&turn, v + 1, memory_order_release);
    }
    return NULL;
}

int main(void)
{
    if (machine_pin(0) != 0) {
        fprintf(stderr, "pingpong: cannot pin to CPU 0\n");
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, partner, NULL) != 0) {
        fprintf(stderr, "pingpong: cannot start the partner thread\n");
        return 1;
    }
    double ns[RUNS];
    long v = 1;
    for (int r = 0; r < RUNS; r++) {
        double start = machine_now();
        for (long i = 0; i < TRIPS; i++, v += 2) {
            atomic_store_explicit(&turn, v, memory_order_release);
            while (atomic_load_explicit(&turn, memory_order_acquire) != v + 1)
                ;
        }
        ns[r] = (machine_now() - start) * 1e9 / TRIPS;
    }
    pthread_join(t, NULL);
    machine_sort(ns, RUNS);
    printf("bench=pingpong cpus=0,1 round_trip_ns=%.1f min_ns=%.1f max_ns=%.1f\n", ns[RUNS / 2],
           ns[0], ns[RUNS - 1]);
    return 0;
}

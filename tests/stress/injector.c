/*
 * stress/injector.c — the bounded MPMC injector under 3 producers and 2
 * consumers with a 4-slot ring (wrap-around every 4 items, full and empty
 * most of the time).  Checks that every item is popped exactly once with
 * the payload its producer wrote (plain stores published by the push), and
 * that a full queue makes try_push fail instead of overwriting.
 * Usage: stress_injector [items_per_producer]
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "injector.h"

enum { PRODUCERS = 3, CONSUMERS = 2 };

typedef struct item {
    long id;
    long check;         /* plain data written before the push */
    _Atomic int popped;
} item;

static twill__injector q;
static item *items;
static long per_producer;
static _Atomic long consumed;
static _Atomic long bad_payloads;

static void *producer(void *arg)
{
    long base = (long)(intptr_t)arg * per_producer;
    for (long i = 0; i < per_producer; i++) {
        item *it = &items[base + i];
        it->id = base + i;
        it->check = ~(base + i);
        twill__job job = {.arg = it};
        while (twill__injector_try_push(&q, &job) != TWILL__INJ_PUSHED)
            sched_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    long total = PRODUCERS * per_producer;
    twill__job job;
    while (atomic_load_explicit(&consumed, memory_order_relaxed) < total) {
        if (!twill__injector_try_pop(&q, &job)) {
            sched_yield();
            continue;
        }
        item *it = job.arg;
        if (it->check != ~it->id)
            atomic_fetch_add(&bad_payloads, 1);
        atomic_fetch_add_explicit(&it->popped, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&consumed, 1, memory_order_relaxed);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    per_producer = argc > 1 ? atol(argv[1]) : 200000;
    stress_watchdog(240);
    items = calloc((size_t)(PRODUCERS * per_producer), sizeof *items);
    if (items == NULL || twill__injector_init(&q, 4) != 0)
        return 1;
    /* A full queue refuses: fill it single-threaded first. */
    twill__job j = {0};
    int accepted = 0;
    while (twill__injector_try_push(&q, &j) == TWILL__INJ_PUSHED)
        accepted++;
    while (twill__injector_try_pop(&q, &j))
        ;
    pthread_t t[PRODUCERS + CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, producer, (void *)(intptr_t)i);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&t[PRODUCERS + i], NULL, consumer, NULL);
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
        pthread_join(t[i], NULL);
    long wrong = 0, total = PRODUCERS * per_producer;
    for (long i = 0; i < total; i++)
        if (atomic_load(&items[i].popped) != 1) {
            if (wrong < 10)
                fprintf(stderr, "FAIL: item %ld popped %d times\n", i, atomic_load(&items[i].popped));
            wrong++;
        }
    printf("injector stress: %d producers, %d consumers, 4 slots (accepted %d when full), "
           "%ld items: %ld not popped exactly once, %ld torn payloads\n",
           PRODUCERS, CONSUMERS, accepted, total, wrong, atomic_load(&bad_payloads));
    twill__injector_destroy(&q);
    free(items);
    if (wrong != 0 || atomic_load(&bad_payloads) != 0 || accepted != 4) {
        printf("injector stress: FAILED\n");
        return 1;
    }
    printf("injector stress: OK\n");
    return 0;
}

/*
 * two_pools.c — a CPU pool and a small pool for blocking work in one program.
 *
 * A task that blocks (on a disk, a socket, a lock held elsewhere) holds its
 * worker for the whole wait.  On the CPU pool, sized to the cores, that
 * leaves a core idle; so blocking steps go to a second, small pool whose
 * workers are expected to sleep (IO_WORKERS of them, not pinned), and the
 * CPU pool only ever computes.  Pools are independent objects: any number
 * can live in one process.
 *
 * Each of n items goes through two steps:
 *   fetch (I/O pool)  a FETCH_MS sleep stands in for a blocking read, then
 *                     the item's bytes are filled in;
 *   hash  (CPU pool)  a checksum of those bytes.
 * The fetch task hands its item to the CPU pool by spawning into a group of
 * that pool: a group always runs its tasks on its own pool, whichever thread
 * spawns.  The main thread waits for the fetch group first (after which no
 * hash task can be added), then for the hash group.
 *
 * Every hash is checked against a serial computation, and every step must
 * have run on the pool it was sent to.
 *
 * Usage: two_pools [n]    (default 64; exits 1 on a wrong result)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "example.h"
#include "twill.h"

enum { ITEM_BYTES = 1 << 16, IO_WORKERS = 4, FETCH_MS = 2 };

typedef struct item {
    struct pipeline *pipeline;
    size_t id;
    unsigned char data[ITEM_BYTES];      /* written by fetch */
    uint64_t hash;                       /* written by hash_item */
    twill_pool *fetched_on, *hashed_on;  /* the pool each step ran on */
} item;

typedef struct pipeline {
    twill_group fetches; /* on the I/O pool */
    twill_group hashes;  /* on the CPU pool */
} pipeline;

static void fill_item(unsigned char *data, size_t id)
{
    for (size_t i = 0; i < ITEM_BYTES; i++)
        data[i] = (unsigned char)example_random(id * ITEM_BYTES + i);
}

/* FNV-1a, 64-bit. */
static uint64_t hash_bytes(const unsigned char *data)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < ITEM_BYTES; i++)
        h = (h ^ data[i]) * 1099511628211u;
    return h;
}

/* twill_fn on the CPU pool. */
static int hash_item(void *arg)
{
    item *it = arg;
    it->hashed_on = twill_current_pool();
    it->hash = hash_bytes(it->data);
    return 0;
}

/* twill_fn on the I/O pool: block, then pass the item on to the CPU pool. */
static int fetch(void *arg)
{
    item *it = arg;
    struct timespec delay = {0, FETCH_MS * 1000000L};
    nanosleep(&delay, NULL);
    fill_item(it->data, it->id);
    it->fetched_on = twill_current_pool();
    return twill_group_spawn(&it->pipeline->hashes, hash_item, it);
}

static bool check(const item *items, size_t n, twill_pool *io, twill_pool *cpu)
{
    static unsigned char expected[ITEM_BYTES];
    for (size_t i = 0; i < n; i++) {
        fill_item(expected, i);
        if (items[i].hash != hash_bytes(expected) || items[i].fetched_on != io ||
            items[i].hashed_on != cpu)
            return false;
    }
    return true;
}

/* The CPU pool keeps the defaults (one pinned worker per core, or $TWILL_*);
   the pool for blocking work gets IO_WORKERS unpinned workers. */
static twill_pool *create_pool(const char *name, bool for_blocking)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.name = name;
    if (for_blocking) {
        cfg.workers = IO_WORKERS;
        cfg.pin = TWILL_PIN_NONE;
    }
    twill_pool *pool;
    example_check(twill_pool_create(&pool, &cfg), "twill_pool_create");
    return pool;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 64;
    item *items = calloc(n, sizeof *items);
    if (n == 0 || !items) {
        fprintf(stderr, "usage: two_pools [n > 0]\n");
        return 1;
    }
    twill_pool *cpu = create_pool("cpu", false);
    twill_pool *io = create_pool("io", true);
    pipeline pl;
    example_check(twill_group_init(&pl.fetches, io), "twill_group_init");
    example_check(twill_group_init(&pl.hashes, cpu), "twill_group_init");

    double t0 = example_now_ms();
    for (size_t i = 0; i < n; i++) {
        items[i].pipeline = &pl;
        items[i].id = i;
        example_check(twill_group_spawn(&pl.fetches, fetch, &items[i]), "spawn fetch");
    }
    example_check(twill_group_wait(&pl.fetches), "fetches");
    example_check(twill_group_wait(&pl.hashes), "hashes");
    double t1 = example_now_ms();

    bool ok = check(items, n, io, cpu);
    printf("two_pools: %zu items fetched on %u I/O workers and hashed on %u CPU workers "
           "in %.1f ms (the fetches alone, one at a time: %zu ms): %s\n",
           n, twill_pool_size(io), twill_pool_size(cpu), t1 - t0, n * FETCH_MS,
           ok ? "checked, OK" : "WRONG");
    twill_pool_destroy(io);
    twill_pool_destroy(cpu);
    free(items);
    return ok ? 0 : 1;
}

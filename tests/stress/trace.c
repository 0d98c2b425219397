/*
 * stress/trace.c — the trace's concurrent reading: workers record into
 * small rings (they wrap many times a round) while outside threads submit
 * (the locked outside ring) and two writer threads call
 * twill_pool_trace_write at the same time, then destroy writes once more.
 * Under ThreadSanitizer this checks that copying rings that are being
 * written is race-free; everywhere it checks that every write succeeds and
 * ends the file properly.  Both schedulers, alternating by round.
 * Usage: stress_trace [rounds]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "twill.h"

#define WORKERS 3
#define SUBMITTERS 2
#define WRITERS 2

static _Atomic long failures;
static _Atomic bool stop;

static void fail(const char *what, int rc)
{
    fprintf(stderr, "FAIL: %s: %s\n", what, twill_strerror(rc));
    atomic_fetch_add(&failures, 1);
}

static int fib(void *arg)
{
    intptr_t n = (intptr_t)arg;
    if (n < 2)
        return 0;
    return twill_join(fib, (void *)(n - 1), fib, (void *)(n - 2));
}

static int spawner(void *arg)
{
    twill_group g;
    if (twill_group_init(&g, NULL) != 0)
        return EINVAL;
    for (int i = 0; i < 8; i++)
        twill_group_spawn(&g, fib, (void *)(intptr_t)(6 + i % 4));
    (void)arg;
    return twill_group_wait(&g);
}

typedef struct round {
    twill_pool *pool;
    char path[WRITERS + 1][256];
} round_t;

static void *submitter(void *arg)
{
    round_t *r = arg;
    while (!atomic_load(&stop)) {
        int rc = twill_submit(r->pool, spawner, NULL);
        if (rc != 0)
            fail("submit", rc);
    }
    return NULL;
}

/* Does the file at path end like a complete trace? */
static bool complete(const char *path)
{
    FILE *f = fopen(path, "r");
    char tail[8] = {0};
    bool ok = f != NULL && fseek(f, -4, SEEK_END) == 0 && fread(tail, 1, 4, f) == 4 &&
              strcmp(tail, "\n]}\n") == 0;
    if (f != NULL)
        fclose(f);
    return ok;
}

typedef struct writer {
    round_t *r;
    int k;
} writer;

static void *write_loop(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < 20; i++) {
        int rc = twill_pool_trace_write(w->r->pool, w->r->path[w->k]);
        if (rc != 0)
            fail("twill_pool_trace_write", rc);
        else if (!complete(w->r->path[w->k]))
            fail("a live write left an incomplete file", 0);
        stress_delay(200000);
    }
    return NULL;
}

static void one_round(int n)
{
    round_t r;
    for (int k = 0; k <= WRITERS; k++)
        snprintf(r.path[k], sizeof r.path[k], "%s/twill-stress-trace-%ld-%d.json",
                 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp", (long)getpid(), k);
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = WORKERS;
    cfg.pin = TWILL_PIN_NONE;
    cfg.scheduler = n % 2 ? TWILL_SCHED_CENTRAL : TWILL_SCHED_STEALING;
    cfg.trace_path = r.path[WRITERS];
    cfg.trace_events = 128;
    int rc = twill_pool_create(&r.pool, &cfg);
    if (rc != 0) {
        fail("create", rc);
        return;
    }
    atomic_store(&stop, false);
    pthread_t sub[SUBMITTERS], wr[WRITERS];
    writer ws[WRITERS];
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_create(&sub[i], NULL, submitter, &r);
    for (int k = 0; k < WRITERS; k++) {
        ws[k] = (writer){&r, k};
        pthread_create(&wr[k], NULL, write_loop, &ws[k]);
    }
    for (int k = 0; k < WRITERS; k++)
        pthread_join(wr[k], NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(sub[i], NULL);
    twill_pool_destroy(r.pool);
    if (!complete(r.path[WRITERS]))
        fail("the write at destroy left an incomplete file", 0);
    for (int k = 0; k <= WRITERS; k++)
        unlink(r.path[k]);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 6;
    stress_watchdog(240);
    for (int n = 0; n < rounds; n++)
        one_round(n);
    if (atomic_load(&failures) != 0)
        return 1;
    printf("stress_trace: %d rounds, ok\n", rounds);
    return 0;
}

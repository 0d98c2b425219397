/*
 * job_scheduler.c — background jobs with priorities and deadlines: the
 * worker-pool pattern's "task scheduler with priority queues" exercise.
 *
 * A one-worker pool (so the order is easy to see) gets, from this thread:
 *   1. a backlog of NORMAL jobs (each a few ms of work), some with a
 *      deadline too short to be met behind the backlog;
 *   2. LOW jobs (background: they run only when nothing else waits);
 *   3. after a while, HIGH jobs, which overtake every queued NORMAL job.
 * A job whose deadline has passed when it would start is not run: it goes
 * to the same handler as the jobs that shutdown discards, the pool's
 * discard hook, so there is one clean-up path.  Shutdown drains (default)
 * or, with --cancel, discards what is still queued.
 *
 * Output: the order in which jobs started (H/N/L, x for an expired one), and
 * per level the count run, expired and discarded and the queueing latency
 * (submit to start: median and max).  Exits 1 when an order rule is broken:
 * a HIGH job starting after a NORMAL job that was submitted before it, a
 * LOW job starting while NORMAL jobs wait, or a job neither run nor
 * discarded.
 *
 * Usage: job_scheduler [--normal N] [--low L] [--high H] [--cancel]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "twill.h"

enum { LEVELS = 3, MAX_JOBS = 4096, WORK_US = 2000 };

static const char *level_name[LEVELS] = {"LOW", "NORMAL", "HIGH"};
static const char level_mark[LEVELS] = {'L', 'N', 'H'};

typedef struct job {
    int level;          /* twill_prio + 1 */
    double submitted_ms, deadline_ms; /* deadline 0: none */
    double started_ms;  /* -1: not started */
    int seq;            /* order of start */
    int expired, discarded;
} job;

static job jobs[MAX_JOBS];
static _Atomic int started_seq;
static char order[MAX_JOBS + 1];

/* The one clean-up path: jobs shutdown discards (the pool's hook) and jobs
   found past their deadline. */
static void discarded(twill_fn fn, void *arg, void *ctx)
{
    (void)fn;
    (void)ctx;
    job *j = arg;
    if (j->started_ms >= 0)
        j->expired = 1;
    else
        j->discarded = 1;
}

static int run_job(void *arg)
{
    job *j = arg;
    j->started_ms = example_now_ms();
    j->seq = atomic_fetch_add(&started_seq, 1);
    if (j->deadline_ms > 0 && j->started_ms > j->deadline_ms) {
        order[j->seq] = 'x';
        discarded(run_job, j, NULL);
        return 0;
    }
    order[j->seq] = level_mark[j->level];
    double end = j->started_ms + WORK_US / 1000.0;
    while (example_now_ms() < end)
        ;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int normal = 200, low = 20, high = 10;
    bool cancel = false;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--normal") == 0 && a + 1 < argc)
            normal = atoi(argv[++a]);
        else if (strcmp(argv[a], "--low") == 0 && a + 1 < argc)
            low = atoi(argv[++a]);
        else if (strcmp(argv[a], "--high") == 0 && a + 1 < argc)
            high = atoi(argv[++a]);
        else if (strcmp(argv[a], "--cancel") == 0)
            cancel = true;
        else {
            fprintf(stderr, "usage: %s [--normal N] [--low L] [--high H] [--cancel]\n", argv[0]);
            return 2;
        }
    }
    if (normal < 1 || low < 0 || high < 0 || normal + low + high > MAX_JOBS) {
        fprintf(stderr, "at most %d jobs in all\n", MAX_JOBS);
        return 2;
    }
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = 1;
    cfg.queue_capacity = MAX_JOBS;
    cfg.discard = discarded;
    twill_pool *pool;
    example_check(twill_pool_create(&pool, &cfg), "twill_pool_create");

    int n = 0;
    /* 1 and 2: the backlog and the background jobs; every tenth NORMAL job
       has a deadline of 5 ms, which the backlog makes it miss. */
    for (int i = 0; i < normal + low; i++, n++) {
        job *j = &jobs[n];
        j->level = i < normal ? TWILL_PRIO_NORMAL + 1 : TWILL_PRIO_LOW + 1;
        j->started_ms = -1;
        j->submitted_ms = example_now_ms();
        j->deadline_ms = i < normal && i % 10 == 9 ? j->submitted_ms + 5 : 0;
        example_check(twill_submit_prio(pool, (twill_prio)(j->level - 1), run_job, j, -1),
                      "submit");
    }
    /* 3: once a tenth of the backlog has started, the HIGH jobs. */
    while (atomic_load(&started_seq) < normal / 10)
        ;
    int first_high = n;
    for (int i = 0; i < high; i++, n++) {
        job *j = &jobs[n];
        j->level = TWILL_PRIO_HIGH + 1;
        j->started_ms = -1;
        j->submitted_ms = example_now_ms();
        example_check(twill_submit_prio(pool, TWILL_PRIO_HIGH, run_job, j, -1), "submit");
    }
    if (cancel) /* let a few more start, then drop the rest */
        while (atomic_load(&started_seq) < normal / 5)
            ;
    size_t dropped = 0;
    example_check(twill_pool_shutdown(pool, cancel ? TWILL_CANCEL : TWILL_DRAIN, &dropped),
                  "shutdown");
    twill_pool_destroy(pool);

    int ran = atomic_load(&started_seq);
    order[ran] = '\0';
    printf("start order (H high, N normal, L low, x expired):\n");
    for (int i = 0; i < ran; i += 100)
        printf("  %.100s\n", order + i);

    int bad = 0;
    for (int lv = LEVELS - 1; lv >= 0; lv--) {
        double lat[MAX_JOBS];
        int cnt = 0, expired = 0, disc = 0;
        for (int i = 0; i < n; i++) {
            if (jobs[i].level != lv)
                continue;
            expired += jobs[i].expired;
            disc += jobs[i].discarded;
            if (jobs[i].started_ms >= 0 && !jobs[i].expired)
                lat[cnt++] = jobs[i].started_ms - jobs[i].submitted_ms;
            if (jobs[i].started_ms < 0 && !jobs[i].discarded) {
                printf("job %d neither ran nor was discarded\n", i);
                bad++;
            }
        }
        qsort(lat, (size_t)cnt, sizeof lat[0], cmp_double);
        printf("%-6s ran %4d  expired %3d  discarded %4d  wait median %7.1f ms  max %7.1f ms\n",
               level_name[lv], cnt, expired, disc, cnt ? lat[cnt / 2] : 0.0,
               cnt ? lat[cnt - 1] : 0.0);
    }
    /* The rules.  HIGH overtakes: no NORMAL job submitted before a HIGH one
       starts between that HIGH job's submission and its start, beyond the
       one job running when it was submitted. */
    for (int h = first_high; h < first_high + high; h++) {
        if (jobs[h].started_ms < 0)
            continue;
        int late = 0;
        for (int i = 0; i < normal; i++)
            late += jobs[i].started_ms > jobs[h].submitted_ms && jobs[i].seq < jobs[h].seq &&
                    jobs[i].started_ms >= 0;
        if (late > 1) {
            printf("HIGH job %d started after %d NORMAL jobs queued before it\n", h, late);
            bad++;
        }
    }
    /* LOW waits for NORMAL: no LOW job starts before the last NORMAL one. */
    int last_normal = -1;
    for (int i = 0; i < normal; i++)
        if (jobs[i].started_ms >= 0 && jobs[i].seq > last_normal)
            last_normal = jobs[i].seq;
    for (int i = normal; i < normal + low; i++)
        if (jobs[i].started_ms >= 0 && jobs[i].seq < last_normal) {
            printf("LOW job %d started while NORMAL jobs waited\n", i);
            bad++;
        }
    printf("%d jobs: %d started, %zu discarded by %s; %s\n", n, ran, dropped,
           cancel ? "a cancelling shutdown" : "a draining shutdown (none expected)",
           bad ? "RULES BROKEN" : "every rule held");
    return bad != 0;
}

/*
 * bench/common.c — flags, the measurement loop and small helpers shared by
 * every benchmark binary (see common.h for the flags and the output line).
 */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "par.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    return v[rank == 0 ? 0 : (rank > n ? n : rank) - 1];
}

void *bench_alloc(size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) {
        fprintf(stderr, "bench: out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

void bench_opts_default(bench_opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (bench_opts){.impl = "serial", .workers = cpus > 0 ? (unsigned)cpus : 1,
                      .reps = 5, .warmup = 1};
}

static void usage(const char *prog, const char *help)
{
    fprintf(stderr,
            "usage: %s [--impl NAME] [--workers N] [--size S] [--variant V]\n"
            "          [--reps R] [--warmup K]\n  --impl: serial or one of: %s\n%s\n",
            prog, par_impls, help);
}

/* Parse one numeric flag value into [lo, hi]; false when malformed. */
static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi || v != (double)(uint64_t)v)
        return false;
    *out = v;
    return true;
}

int bench_parse(int argc, char **argv, bench_opts *o, const char *help)
{
    for (int i = 1; i < argc; i += 2) {
        const char *flag = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        double v = 0;
        bool ok = val != NULL;
        if (ok && !strcmp(flag, "--impl"))
            o->impl = val;
        else if (ok && !strcmp(flag, "--variant") && (ok = strlen(val) < sizeof o->variant))
            strcpy(o->variant, val);
        else if (ok && !strcmp(flag, "--workers") && (ok = parse_num(val, 1, 1024, &v)))
            o->workers = (unsigned)v;
        else if (ok && !strcmp(flag, "--size") && (ok = parse_num(val, 1, 1e15, &v)))
            o->size = (uint64_t)v;
        else if (ok && !strcmp(flag, "--reps") && (ok = parse_num(val, 1, 1000, &v)))
            o->reps = (int)v;
        else if (ok && !strcmp(flag, "--warmup") && (ok = parse_num(val, 0, 100, &v)))
            o->warmup = (int)v;
        else
            ok = false;
        if (!ok) {
            usage(argv[0], help);
            return 2;
        }
    }
    return 0;
}

int bench_start(const char *name, const bench_opts *o, bool external)
{
    int rc = par_start(o->impl, o->workers, external);
    if (rc)
        fprintf(stderr, "%s: cannot start impl '%s' (this binary has: %s): %s\n", name, o->impl,
                par_impls, strerror(rc));
    return !rc ? 0 : rc == ENOTSUP ? 3 : 1;
}

/* Position of word among the space-separated words of list, or -1. */
static int word_index(const char *list, const char *word)
{
    size_t n = strlen(word);
    int index = 0;
    for (const char *p = list; *p; index++) {
        size_t len = strcspn(p, " ");
        if (len == n && !strncmp(p, word, n))
            return index;
        p += len + (p[len] == ' ');
    }
    return -1;
}

/* Parse flags and fill in the workload's defaults; 0 or an exit status. */
static int parse_for(const bench_workload *w, int argc, char **argv, bench_opts *o)
{
    char help[256];
    snprintf(help, sizeof help, "  --size: %s (default %llu)%s%s", w->size_help,
             (unsigned long long)w->default_size[0], w->variants ? "\n  --variant: " : "",
             w->variants ? w->variants : "");
    bench_opts_default(o);
    int rc = bench_parse(argc, argv, o, help);
    if (rc)
        return rc;
    const char *variants = w->variants ? w->variants : "";
    if (!*o->variant)
        snprintf(o->variant, sizeof o->variant, "%.*s", (int)strcspn(variants, " "), variants);
    int index = w->variants ? word_index(variants, o->variant) : *o->variant ? -1 : 0;
    if (index < 0) {
        fprintf(stderr, "%s: unknown variant '%s' (expected: %s)\n", w->name, o->variant,
                w->variants ? w->variants : "none");
        return 2;
    }
    if (!o->size)
        o->size = w->default_size[index];
    if (!strcmp(o->impl, "serial"))
        o->workers = 1;
    return 0;
}

/* One repetition: reset, run timed, check.  Returns true when right. */
static bool measure(const bench_workload *w, const bench_opts *o, bool serial, void *st,
                    int rep)
{
    if (w->reset)
        w->reset(st);
    double t0 = bench_now();
    int rc = serial ? w->serial(st) : w->parallel(st);
    double t1 = bench_now();
    uint64_t expected = 0, sum = w->checksum(st, &expected);
    bool ok = rc == 0 && sum == expected;
    if (rc)
        fprintf(stderr, "%s: run failed: %s\n", w->name, strerror(rc));
    else if (!ok)
        fprintf(stderr, "%s: wrong checksum %llu, expected %llu\n", w->name,
                (unsigned long long)sum, (unsigned long long)expected);
    if (rep >= 0)
        printf("bench=%s%s%s impl=%s workers=%u size=%llu rep=%d time_s=%.6f checksum=%llu ok=%d\n",
               w->name, *o->variant ? "-" : "", o->variant, o->impl, o->workers,
               (unsigned long long)o->size, rep, t1 - t0, (unsigned long long)sum, ok);
    fflush(stdout);
    return ok;
}

int bench_main(int argc, char **argv, const bench_workload *w)
{
    bench_opts o;
    int rc = parse_for(w, argc, argv, &o);
    if (rc)
        return rc;
    bool serial = !strcmp(o.impl, "serial");
    rc = serial ? 0 : bench_start(w->name, &o, w->external);
    if (rc)
        return rc;
    void *st = w->setup(&o);
    int failures = 0;
    for (int rep = -o.warmup; st && rep < o.reps; rep++)
        failures += !measure(w, &o, serial, st, rep);
    if (st)
        w->teardown(st);
    if (!serial)
        par_stop();
    return !st ? 2 : failures ? 1 : 0;
}

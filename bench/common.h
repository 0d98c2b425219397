/*
 * bench/common.h — what every benchmark binary shares: the command-line
 * flags, the measurement loop with its output line, timing, percentiles and
 * the hash used to build inputs.
 *
 * Every binary takes the same flags
 *   --impl NAME   serial, or a runtime linked into the binary (par.h)
 *   --workers N   threads of the runtime (default: online CPUs)
 *   --size S      input size, meaning per workload (default: its quick size;
 *                 "1e6" is accepted)
 *   --variant V   shape of the workload where it has several (uts, submit)
 *   --reps R      measured repetitions (default 5), one output line each
 *   --warmup K    unmeasured repetitions first (default 1)
 * and prints one machine-readable line per measurement:
 *   bench=fib impl=twill workers=2 size=30 rep=0 time_s=0.012345 checksum=832040 ok=1
 * Exit status: 0 all checksums right, 1 a wrong checksum or a failed run,
 * 2 bad flags, 3 the implementation is not in this binary or cannot run this
 * workload (ENOTSUP from par.h).
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_opts {
    const char *impl;    /* --impl */
    unsigned    workers; /* --workers, >= 1 */
    uint64_t    size;    /* --size, 0 until parsed: the workload's default */
    char        variant[16]; /* --variant, "": the workload's default */
    int         reps;    /* --reps, 1..1000 */
    int         warmup;  /* --warmup, 0..100 */
} bench_opts;

/*
 * One workload.  Everything but serial/parallel is untimed.  The state built
 * by setup carries the input, the result of the last run and whatever the
 * checksum needs.
 */
typedef struct bench_workload {
    const char *name;         /* printed as bench=NAME, or NAME-VARIANT */
    const char *size_help;    /* what --size means, for the usage text */
    const char *variants;     /* accepted --variant values, space-separated, the
                                 first is the default; NULL: none */
    uint64_t    default_size[4]; /* quick-suite size of each variant, in order */
    bool        external;     /* submits from threads outside the runtime (par_start) */
    /* Build the input for o->size and o->variant (never NULL here); NULL with
       a message on stderr when they are out of range. */
    void *(*setup)(const bench_opts *o);
    void (*reset)(void *st);    /* before every repetition; NULL: nothing */
    int (*serial)(void *st);    /* the serial baseline; 0 on success */
    int (*parallel)(void *st);  /* on the main thread; enters the runtime via par.h */
    /* Checksum of the last run; *expected gets the value it must have. */
    uint64_t (*checksum)(void *st, uint64_t *expected);
    void (*teardown)(void *st);
} bench_workload;

/* main() of a workload binary: parse flags, start the runtime, measure. */
int bench_main(int argc, char **argv, const bench_workload *w);

/* Parse the common flags into *o (which holds the caller's defaults).
   Returns 0, or 2 after printing the usage (with help) on stderr. */
int bench_parse(int argc, char **argv, bench_opts *o, const char *help);

/* par_start(o->impl, o->workers, external), with a message on failure.
   Returns 0, or the exit status: 3 for ENOTSUP, else 1. */
int bench_start(const char *name, const bench_opts *o, bool external);

/* Defaults shared by every binary: impl "serial", workers = online CPUs. */
void bench_opts_default(bench_opts *o);

/* Monotonic clock in seconds. */
double bench_now(void);

/* Sleep for ns nanoseconds (restarted on EINTR). */
void bench_sleep_ns(long ns);

/* The p-th percentile (0..100, nearest rank) of v[0..n); sorts v. n >= 1. */
double bench_percentile(double *v, size_t n, double p);

/* 64-byte aligned allocation that exits the program when memory runs out. */
void *bench_alloc(size_t bytes);

/* splitmix64's finaliser: a bijective 64-bit mixer (Steele et al. 2014).
   Used as a counter-based RNG: mix(seed + i) for the i-th value. */
static inline uint64_t bench_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

#endif /* BENCH_COMMON_H */

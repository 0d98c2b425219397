/*
 * example.h — the three helpers every example shares, kept here so the
 * examples themselves show only twill: a monotonic clock, a check that stops
 * the program with twill's name for an error code, and a counter-based
 * pseudo-random generator (the data then does not depend on which worker
 * generates which part).  Each example defines _POSIX_C_SOURCE first.
 */
#ifndef TWILL_EXAMPLE_H
#define TWILL_EXAMPLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "twill.h"

/* Milliseconds on the monotonic clock. */
static inline double example_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Stop the program when a twill call that must succeed did not. */
static inline void example_check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", what, twill_strerror(rc));
        exit(1);
    }
}

/* splitmix64 (Steele, Lea, Flood 2014): the i-th value of a random stream. */
static inline uint64_t example_random(uint64_t i)
{
    uint64_t z = i * 0x9e3779b97f4a7c15u + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

#endif /* TWILL_EXAMPLE_H */

/*
 * bench/futexwake.c — the machine's own floor for a wake-up, without any
 * runtime: one thread sleeps on a futex, the main thread wakes it every
 * 2 ms and spins until the sleeper has stamped the time, 200 tries; prints
 * the median and 90th percentile from the wake to the sleeper running, the
 * median time the waker spent in its futex_wake call, and how often the
 * sleeper ran on the waker's CPU:
 *   bench=futexwake pin=1 before=none median_us=84.5 p90_us=98.1 wake_call_us=31.2 on_waker_cpu=0/200
 * --pin 1: the sleeper is pinned to CPU 0 and the waker to CPU 1 (as
 * twill's pinned workers and an outside producer on the other CPU); 0:
 * neither is pinned.  --before none|yield|pause: what the sleeper does
 * for 20 us after each wake-up before it sleeps again (an idle worker's
 * spin phase).  README "Wake-ups" explains what the numbers mean for
 * bench_wake.  A probe run by hand, not by bench/run.  Needs 2 CPUs.
 * Usage: bench_futexwake [--pin 0|1] [--before none|yield|pause]
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"

#define TRIES 200
#define IDLE_NS 2000000L  /* between tries: the sleeper is long asleep */
#define BEFORE_NS 20000L  /* the sleeper's spin before it sleeps again */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_pause() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_pause() __asm__ volatile("yield")
#else
#define cpu_pause() atomic_signal_fence(memory_order_seq_cst)
#endif

enum { SLEEPING = 1, WOKEN = 0, QUIT = 2 };

static _Atomic unsigned word = SLEEPING;
static _Atomic double stamp;
static _Atomic int stamp_cpu;
static int pin;
static enum { NONE, YIELD, PAUSE } before;

static void pin_to(int cpu)
{
    int rc = machine_pin(cpu);
    if (rc != 0)
        fprintf(stderr, "futexwake: cannot pin to CPU %d: %s\n", cpu, strerror(rc));
}

static void *sleeper(void *arg)
{
    (void)arg;
    if (pin)
        pin_to(0);
    for (;;) {
        while (atomic_load(&word) == SLEEPING)
            syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, SLEEPING, NULL, NULL, 0);
        if (atomic_load(&word) == QUIT)
            return NULL;
        atomic_store(&stamp_cpu, sched_getcpu());
        atomic_store(&stamp, machine_now()); /* seq_cst: after stamp_cpu */
        atomic_store(&word, SLEEPING);
        double end = machine_now() + BEFORE_NS * 1e-9;
        while (before != NONE && machine_now() < end)
            if (before == YIELD)
                sched_yield();
            else
                cpu_pause();
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pin")) {
            pin = atoi(argv[i + 1]) != 0;
        } else if (!strcmp(argv[i], "--before")) {
            const char *b = argv[i + 1];
            before = !strcmp(b, "yield") ? YIELD : !strcmp(b, "pause") ? PAUSE : NONE;
        } else {
            fprintf(stderr, "usage: bench_futexwake [--pin 0|1] [--before none|yield|pause]\n");
            return 2;
        }
    }
    if (pin)
        pin_to(1);
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL) != 0)
        return 1;
    double d[TRIES], call[TRIES];
    int same = 0;
    for (int i = 0; i < TRIES; i++) {
        nanosleep(&(struct timespec){0, IDLE_NS}, NULL);
        atomic_store(&stamp, 0.0);
        double t0 = machine_now();
        atomic_store(&word, WOKEN);
        syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        call[i] = (machine_now() - t0) * 1e6;
        double t1;
        while ((t1 = atomic_load(&stamp)) == 0.0)
            ;
        same += atomic_load(&stamp_cpu) == sched_getcpu();
        while (atomic_load(&word) != SLEEPING) /* its next sleep is its own */
            ;
        d[i] = (t1 - t0) * 1e6;
    }
    atomic_store(&word, QUIT);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    pthread_join(t, NULL);
    machine_sort(d, TRIES);
    machine_sort(call, TRIES);
    static const char *names[] = {"none", "yield", "pause"};
    printf("bench=futexwake pin=%d before=%s median_us=%.1f p90_us=%.1f wake_call_us=%.1f "
           "on_waker_cpu=%d/%d\n",
           pin, names[before], d[TRIES / 2], d[TRIES * 9 / 10], call[TRIES / 2], same, TRIES);
    return 0;
}

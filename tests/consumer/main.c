/*
 * main.c — the consumer: a program outside the twill tree that enters a pool
 * with twill_run and computes fib(N) with twill_join, then checks the result
 * against a loop, and that a spawn into a zeroed group is EINVAL.  Prints
 * "consumer: fib(N) = V OK" and exits 0, or exits 1.
 */
#include <stdio.h>
#include <string.h>

#include <twill.h>

enum { N = 27, SERIAL_BELOW = 16 };

typedef struct fib {
    int n;
    long result;
} fib;

static long fib_serial(int n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static int fib_task(void *arg)
{
    fib *f = arg;
    if (f->n < SERIAL_BELOW) {
        f->result = fib_serial(f->n);
        return 0;
    }
    fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
    int rc = twill_join(fib_task, &a, fib_task, &b);
    f->result = a.result + b.result;
    return rc;
}

/* A group the compiler can see is zeroed: spawn and wait are EINVAL, and
   their inline code builds without warnings at any -O (.ci/consumer.sh;
   gcc 12 -O1 once warned here, -Wstringop-overflow).  External, as the
   warning came only with the function kept out of line. */
int zeroed_group_is_einval(void);
int zeroed_group_is_einval(void)
{
    twill_group g;
    memset(&g, 0, sizeof g);
    int s = twill_group_spawn(&g, fib_task, NULL);
    int w = twill_group_wait(&g);
    return s == EINVAL && w == EINVAL;
}

int main(void)
{
    twill_pool *pool;
    int rc = twill_pool_create(&pool, NULL);
    if (rc != 0) {
        fprintf(stderr, "consumer: twill_pool_create: %s\n", twill_strerror(rc));
        return 1;
    }
    fib f = {N, 0};
    rc = twill_run(pool, fib_task, &f);
    twill_pool_destroy(pool);
    if (!zeroed_group_is_einval()) {
        fprintf(stderr, "consumer: a zeroed group was accepted\n");
        return 1;
    }

    long x = 0, y = 1;
    for (int i = 0; i < N; i++) {
        long t = x + y;
        x = y;
        y = t;
    }
    int ok = rc == 0 && f.result == x;
    printf("consumer: fib(%d) = %ld %s\n", N, f.result, ok ? "OK" : "WRONG");
    return ok ? 0 : 1;
}

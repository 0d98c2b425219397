/*
 * loops.c — twill_parallel_for and twill_parallel_reduce with lazy binary
 * splitting (Tzannes, Caragea, Barua and Vishkin, "Lazy Binary Splitting",
 * PPoPP 2010): a worker runs its range a chunk at a time and splits the rest
 * in two (a twill_join) only when its own deque is empty, i.e. when a thief
 * could be looking for work.  Cheap bodies are therefore split a few times
 * per worker, costly ones as finely as the grain allows, with no tuning.
 *
 * One recursion serves both loops: a reduce is a for whose chunks fold into
 * an accumulator, and whose splits combine the right accumulator into the
 * left one, in index order.
 *
 * Who may call: any thread (see twill.h for pool NULL and outside threads).
 */
#include "wait.h"

#include <stdlib.h>
#include <string.h>

/* Automatic grain: aim for this many chunks per worker, so a cheap body pays
   a call per chunk, not per index, and a costly one still balances. */
#define TWILL__CHUNKS_PER_WORKER 256
/* Accumulators up to this size live on the stack at each split. */
#define TWILL__ACC_STACK 256

typedef struct loop {
    twill_range_fn body;              /* for */
    twill_reduce_fn rbody;            /* reduce */
    twill_combine_fn combine;
    void *ctx;
    const void *identity;
    size_t acc_size, grain;
    _Atomic int error;                /* first nonzero body code; CAS from 0 */
} loop;

typedef struct range {
    loop *lp;
    size_t begin, end;
    void *acc;                        /* reduce: the fold so far */
} range;

static bool stopped(loop *lp)
{
    /* relaxed: an early-stop hint; the code itself is read after the joins. */
    return atomic_load_explicit(&lp->error, memory_order_relaxed) != 0;
}

/* Published to the caller by the joins' synchronisation. */
static void record(loop *lp, int rc)
{
    twill__first_error(&lp->error, rc);
}

/* One chunk; on a traced worker (tr) also a task event of kind chunk. */
static void run_chunk(range *r, twill__trace_ring *tr, size_t b, size_t e)
{
    loop *lp = r->lp;
    twill__trace_span s = twill__trace_begin(tr, TWILL__TR_RUN);
    int rc = lp->body != NULL ? lp->body(lp->ctx, b, e) : lp->rbody(lp->ctx, b, e, r->acc);
    if (twill_unlikely(tr != NULL))
        twill__trace_leave(tr, &s, TWILL__TRE_TASK, TWILL__TRACE_CHUNK,
                           lp->body != NULL ? (uint64_t)(uintptr_t)lp->body
                                            : (uint64_t)(uintptr_t)lp->rbody,
                           e - b);
    if (rc != 0)
        record(lp, rc);
}

/* Is some worker of the pool out of work (so splitting pays)? */
static bool demand(twill__worker *w)
{
    return w != NULL && twill__sched_demand(w);
}

static int run_range(void *arg);

/* Split r at mid: left continues in r, right gets its own accumulator. */
static void split(range *r, size_t mid)
{
    loop *lp = r->lp;
    /* aligned for any accumulator type a caller may use */
    alignas(max_align_t) unsigned char small[TWILL__ACC_STACK];
    void *racc = NULL;
    if (lp->rbody != NULL) {
        racc = lp->acc_size <= sizeof small ? small : malloc(lp->acc_size);
        if (racc == NULL) {
            record(lp, ENOMEM);
            return;
        }
        memcpy(racc, lp->identity, lp->acc_size);
    }
    range left = {lp, r->begin, mid, r->acc}, right = {lp, mid, r->end, racc};
    twill_join(run_range, &left, run_range, &right);
    if (lp->rbody != NULL && !stopped(lp))
        lp->combine(lp->ctx, r->acc, racc);
    if (racc != small)
        free(racc);
}

static int run_range(void *arg)
{
    range *r = arg;
    loop *lp = r->lp;
    twill__worker *w = twill__self();
    twill__trace_ring *tr = w != NULL ? w->trace : NULL;
    size_t b = r->begin, e = r->end;
    /* Split or peel off a chunk only while both parts keep >= grain indices
       (halved first: no overflow), so no chunk is smaller than grain unless
       the whole range is; the last chunk has grain..2*grain-1 indices. */
    while ((e - b) / 2 >= lp->grain && !stopped(lp)) {
        if (demand(w)) {
            range rest = {lp, b, e, r->acc};
            split(&rest, b + (e - b) / 2);
            return 0;
        }
        run_chunk(r, tr, b, b + lp->grain);
        b += lp->grain;
    }
    if (b < e && !stopped(lp))
        run_chunk(r, tr, b, e);
    return 0;
}

/* Run the loop: inside a worker of `pool` (or serially), or enter it. */
static int run_loop(twill_pool *pool, loop *lp, size_t begin, size_t end, void *acc)
{
    range r = {lp, begin, end, acc};
    twill__worker *w = twill__self();
    if (pool == NULL)
        pool = w != NULL ? w->pool : NULL;
    unsigned workers = pool != NULL ? twill__pool_nworkers(pool) : 1;
    if (lp->grain == 0) {
        size_t n = (end - begin) / ((size_t)workers * TWILL__CHUNKS_PER_WORKER);
        lp->grain = n > 0 ? n : 1;
    }
    if (pool == NULL || twill__self_in(pool) != NULL) {
        run_range(&r);
    } else {
        int rc = twill_run(pool, run_range, &r);
        if (rc != 0)
            return rc;
    }
    /* relaxed: the joins and twill_run ordered every write before this. */
    return atomic_load_explicit(&lp->error, memory_order_relaxed);
}

int twill_parallel_for(twill_pool *pool, size_t begin, size_t end, size_t grain,
                       twill_range_fn body, void *ctx)
{
    if (body == NULL || begin > end)
        return EINVAL;
    if (begin == end)
        return 0;
    loop lp = {.body = body, .ctx = ctx, .grain = grain};
    atomic_init(&lp.error, 0);
    return run_loop(pool, &lp, begin, end, NULL);
}

int twill_parallel_reduce(twill_pool *pool, size_t begin, size_t end, size_t grain,
                          void *result, size_t acc_size, const void *identity,
                          twill_reduce_fn body, twill_combine_fn combine, void *ctx)
{
    if (result == NULL || identity == NULL || body == NULL || combine == NULL ||
        acc_size == 0 || begin > end)
        return EINVAL;
    if (begin == end) {
        memmove(result, identity, acc_size);
        return 0;
    }
    void *acc = malloc(acc_size);
    if (acc == NULL)
        return ENOMEM;
    memcpy(acc, identity, acc_size);
    loop lp = {.rbody = body, .combine = combine, .ctx = ctx, .identity = identity,
               .acc_size = acc_size, .grain = grain};
    atomic_init(&lp.error, 0);
    int rc = run_loop(pool, &lp, begin, end, acc);
    if (rc == 0)
        memcpy(result, acc, acc_size);
    free(acc);
    return rc;
}

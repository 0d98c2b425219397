/*
 * trace.c — recording into the trace rings and writing them out as Chrome
 * trace-event JSON (see trace.h for the design).
 *
 * The file is the JSON Object Format of the Trace Event Format:
 *   {"otherData": {...}, "traceEvents": [...]}
 * otherData first: it is the metadata block (twill version, pool config,
 * topology, dropped events, each worker's time split and counters), and
 * Perfetto's importer fails on an otherData split across two of the chunks
 * it reads, so it goes where the first chunk holds it whole (a few hundred
 * bytes a worker).  traceEvents holds
 *   "M" process_name / thread_name / thread_sort_index: the pool, one track
 *       per worker (tid = worker id + 1; its name carries its time split),
 *       one for outside threads (tid = TWILL_MAX_WORKERS + 1);
 *   "X" complete events: task runs (name = the function's symbol, cat = its
 *       kind), helping waits, parks; ts and dur in microseconds since the
 *       pool was created, to the nanosecond (three decimals);
 *   "i" instant events (thread scope): steals, outside submissions.
 * Each track's events are written sorted by start, longer first on ties,
 * so a parent always precedes the spans it contains; spans nest perfectly
 * by construction (they open and close on the worker's stack), which both
 * viewers require.  Strings carry no \u escapes and no control characters
 * (Perfetto's tokenizer rejects both); event args are flat.
 *
 * Symbols are resolved when the file is written, not when events are
 * recorded: dladdr() on each distinct function once.  A name is used only
 * when dladdr finds a symbol that starts exactly at the address; otherwise
 * the event is named module+offset (addr2line -f -e module offset finds
 * it), e.g. for static functions, which are not in the dynamic symbol
 * table.
 *
 * Who may call what: see trace.h.
 */
#include "trace.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os.h"
#include "task.h"

/* The outside track's thread id in the file (workers: id + 1). */
#define OUTSIDE_TID (TWILL_MAX_WORKERS + 1)

struct twill__trace {
    /* Read-only after create. */
    char *path;
    char *name;                      /* the pool's, as JSON can carry it */
    char *pool_json;                 /* the "pool" object of otherData */
    char *topology;
    int64_t origin;                  /* trace clock at create: ts 0 in the file */
    size_t slots;                    /* events per ring */
    /* Serialises twill__trace_write calls. */
    pthread_mutex_t write_lock;
    /* Protects the outside ring's writers; the file writer takes it to copy. */
    pthread_mutex_t outside_lock;
    twill__trace_ring *outside;
    /* Written by ring_for (release), read by the writer (acquire). */
    _Atomic(twill__trace_ring *) rings[TWILL_MAX_WORKERS];
};

static const char *const idle_name[] = {[TWILL_IDLE_DEFAULT] = "default",
                                        [TWILL_IDLE_PARK] = "park",
                                        [TWILL_IDLE_SPIN] = "spin"};
static const char *const pin_name[] = {[TWILL_PIN_CORES] = "cores",
                                       [TWILL_PIN_THREADS] = "threads",
                                       [TWILL_PIN_NONE] = "none"};
static const char *const state_name[TWILL__TR_STATES] = {
    [TWILL__TR_SEARCH] = "search", [TWILL__TR_RUN] = "run", [TWILL__TR_WAIT] = "wait",
    [TWILL__TR_PARK] = "park"};

/* ------------------------------------------------------------ create -- */

static twill__trace_ring *ring_new(size_t slots)
{
    /* calloc: a large block comes zeroed from mmap, so only the pages that
       events reach are ever committed. */
    twill__trace_ring *r = calloc(1, sizeof *r + slots * sizeof(twill__trace_event));
    if (r != NULL)
        r->mask = slots - 1;
    return r;
}

/* A copy of s with every character that a JSON string (as Perfetto reads
   it) cannot carry unescaped replaced by '?'. */
static char *json_safe_dup(const char *s)
{
    char *d = strdup(s);
    if (d != NULL)
        for (char *p = d; *p != '\0'; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                *p = '?';
    return d;
}

int twill__trace_create(twill__trace **out, const twill_config *cfg, const char *scheduler,
                        size_t events, unsigned workers, size_t queue_capacity,
                        const char *topology)
{
    twill__trace *tr = calloc(1, sizeof *tr);
    if (tr == NULL)
        return ENOMEM;
    tr->slots = events;
    tr->origin = twill__now_ns();
    pthread_mutex_init(&tr->write_lock, NULL);
    pthread_mutex_init(&tr->outside_lock, NULL);
    char name[11]; /* the thread-name prefix, as the pool keeps it */
    snprintf(name, sizeof name, "%s", cfg->name != NULL ? cfg->name : "twill");
    tr->name = json_safe_dup(name);
    char pool[512];
    snprintf(pool, sizeof pool,
             "{\"name\": \"%s\", \"scheduler\": \"%s\", \"workers\": %u, \"idle\": \"%s\", "
             "\"pin\": \"%s\", \"queue_capacity\": %zu}",
             tr->name != NULL ? tr->name : "", scheduler, workers,
             idle_name[cfg->idle], pin_name[cfg->pin], queue_capacity);
    tr->path = strdup(cfg->trace_path);
    tr->pool_json = strdup(pool);
    tr->topology = json_safe_dup(topology);
    tr->outside = ring_new(events);
    if (tr->path == NULL || tr->name == NULL || tr->pool_json == NULL || tr->topology == NULL || tr->outside == NULL) {
        twill__trace_destroy(tr);
        return ENOMEM;
    }
    *out = tr;
    return 0;
}

void twill__trace_destroy(twill__trace *tr)
{
    if (tr == NULL)
        return;
    for (unsigned i = 0; i < TWILL_MAX_WORKERS; i++)
        free(atomic_load_explicit(&tr->rings[i], memory_order_relaxed));
    free(tr->outside);
    free(tr->topology);
    free(tr->pool_json);
    free(tr->name);
    free(tr->path);
    pthread_mutex_destroy(&tr->outside_lock);
    pthread_mutex_destroy(&tr->write_lock);
    free(tr);
}

twill__trace_ring *twill__trace_ring_for(twill__trace *tr, unsigned id)
{
    TWILL_ASSERT(id < TWILL_MAX_WORKERS);
    twill__trace_ring *r = atomic_load_explicit(&tr->rings[id], memory_order_relaxed);
    if (r == NULL) {
        r = ring_new(tr->slots);
        if (r == NULL)
            return NULL;
        /* release: pairs with the writer's acquire load; the ring's
           initial words are visible with it. */
        atomic_store_explicit(&tr->rings[id], r, memory_order_release);
    }
    /* relaxed: the worker thread starts after this (pthread_create orders
       it), and the writer's reading of a live ring is a snapshot anyway. */
    atomic_store_explicit(&r->since, twill__now_ns(), memory_order_relaxed);
    atomic_store_explicit(&r->state, TWILL__TR_SEARCH, memory_order_relaxed);
    return r;
}

const char *twill__trace_path(const twill__trace *tr)
{
    return tr->path;
}

/* --------------------------------------------------------- recording -- */

/* Owner only (the outside ring: outside_lock held).  Store one event in
   the next slot and publish it.
   Ordering with a concurrent writer (snapshot()): the writer reads head
   (acquire), copies slots, fences (acquire) and reads head again.
   - The release store of head publishes this event's words: a writer
     whose first read of head covers the event copies it whole, unless
     the slot is rewritten meanwhile.
   - The release fence before the stores orders them after the store of
     head that published the previous event.  So if the writer's copy saw
     any word of this event (index h) in a slot that held index h - slots,
     the fences synchronise and its second read of head is at least h: it
     knows that slot may be torn and keeps only indices above
     head - slots.  Without the fence the new words could reach the writer
     before the head that warns about them. */
static void put(twill__trace_ring *r, int64_t ts, int64_t dur, uint64_t what, uint64_t info)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed); /* our own */
    twill__trace_event *e = &r->ev[h & r->mask];
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&e->ts, ts, memory_order_relaxed);
    atomic_store_explicit(&e->dur, dur, memory_order_relaxed);
    atomic_store_explicit(&e->what, what, memory_order_relaxed);
    atomic_store_explicit(&e->info, info, memory_order_relaxed);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

static uint64_t info_word(unsigned type, unsigned kind, uint64_t aux)
{
    return type | (uint64_t)kind << 4 | aux << 8;
}

/* Owner only: charge the time since the last switch to the current state,
   enter `to`, and return the state left.  relaxed: owner-written words,
   read by the writer as a snapshot. */
static unsigned switch_state(twill__trace_ring *r, unsigned to, int64_t now)
{
    unsigned from = atomic_load_explicit(&r->state, memory_order_relaxed);
    if (from < TWILL__TR_STATES) {
        int64_t d = now - atomic_load_explicit(&r->since, memory_order_relaxed);
        atomic_store_explicit(&r->ns[from],
                              atomic_load_explicit(&r->ns[from], memory_order_relaxed) + d,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&r->since, now, memory_order_relaxed);
    atomic_store_explicit(&r->state, to, memory_order_relaxed);
    return from;
}

twill__trace_span twill__trace_enter(twill__trace_ring *r, unsigned state)
{
    int64_t now = twill__now_ns();
    twill__trace_span s = {now, switch_state(r, state, now)};
    return s;
}

void twill__trace_leave(twill__trace_ring *r, const twill__trace_span *s, unsigned type,
                        unsigned kind, uint64_t what, uint64_t aux)
{
    int64_t now = twill__now_ns();
    switch_state(r, s->prev, now);
    put(r, s->start, now - s->start, what, info_word(type, kind, aux));
}

void twill__trace_steal_slow(twill__trace_ring *r, unsigned victim)
{
    put(r, twill__now_ns(), 0, victim, info_word(TWILL__TRE_STEAL, 0, 0));
}

void twill__trace_stop_slow(twill__trace_ring *r)
{
    unsigned from = atomic_load_explicit(&r->state, memory_order_relaxed);
    switch_state(r, from, twill__now_ns());
    /* release: pairs with the writer's acquire load of state; our last
       event and time split are visible with GONE, and the writer may copy
       the ring as final (nothing is being rewritten). */
    atomic_store_explicit(&r->state, TWILL__TR_GONE, memory_order_release);
}

int64_t twill__trace_clock_slow(void)
{
    return twill__now_ns();
}

void twill__trace_outside_slow(twill__trace *tr, twill_fn fn, int64_t t0, int rc)
{
    int64_t now = twill__now_ns();
    uint64_t aux = (uint64_t)(uint32_t)twill__thread_id() | (uint64_t)(rc & 0xff) << 32;
    pthread_mutex_lock(&tr->outside_lock);
    put(tr->outside, now, now - t0, (uint64_t)(uintptr_t)fn,
        info_word(TWILL__TRE_SUBMIT, 0, aux));
    pthread_mutex_unlock(&tr->outside_lock);
}

/* ------------------------------------------------------------ reading -- */

typedef struct event {
    int64_t ts, dur;
    uint64_t what, info;
} event;

/* What the writer took from one ring. */
typedef struct track {
    event *ev;                       /* sorted by start, longer first (take_all) */
    size_t n;
    uint64_t dropped;                /* recorded but not in ev */
    int64_t ns[TWILL__TR_STATES];    /* the time split */
} track;

static int by_start(const void *a, const void *b)
{
    const event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->dur > y->dur ? -1 : x->dur < y->dur;
}

/* Copy ring r into t, oldest first (see put() for the ordering).  The
   ring is final when its worker had exited before and after the copy and
   recorded nothing in between; otherwise the slots that may be mid-rewrite
   (index head - slots, and any the owner reached during the copy) are
   left out.  0 or ENOMEM. */
static int snapshot(twill__trace_ring *r, int64_t now, track *t)
{
    uint64_t slots = r->mask + 1;
    /* acquire: pairs with put()'s release store of head. */
    uint64_t h1 = atomic_load_explicit(&r->head, memory_order_acquire);
    /* acquire: pairs with the release store of GONE (trace_stop). */
    bool gone = atomic_load_explicit(&r->state, memory_order_acquire) == TWILL__TR_GONE;
    uint64_t lo = h1 > slots ? h1 - slots : 0;
    t->ev = malloc((size_t)(h1 - lo + 1) * sizeof *t->ev);
    if (t->ev == NULL)
        return ENOMEM;
    for (uint64_t i = lo; i < h1; i++) {
        const twill__trace_event *e = &r->ev[i & r->mask];
        event *c = &t->ev[i - lo];
        c->ts = atomic_load_explicit(&e->ts, memory_order_relaxed);
        c->dur = atomic_load_explicit(&e->dur, memory_order_relaxed);
        c->what = atomic_load_explicit(&e->what, memory_order_relaxed);
        c->info = atomic_load_explicit(&e->info, memory_order_relaxed);
    }
    /* acquire: pairs with put()'s release fence (see there). */
    atomic_thread_fence(memory_order_acquire);
    uint64_t h2 = atomic_load_explicit(&r->head, memory_order_relaxed);
    bool final = gone && h2 == h1 &&
                 atomic_load_explicit(&r->state, memory_order_relaxed) == TWILL__TR_GONE;
    uint64_t keep_from = lo;
    if (!final && h2 + 1 > slots && h2 + 1 - slots > keep_from)
        keep_from = h2 + 1 - slots;
    if (keep_from > h1)
        keep_from = h1;
    t->n = (size_t)(h1 - keep_from);
    memmove(t->ev, t->ev + (keep_from - lo), t->n * sizeof *t->ev);
    t->dropped = keep_from;
    unsigned st = atomic_load_explicit(&r->state, memory_order_relaxed);
    for (unsigned k = 0; k < TWILL__TR_STATES; k++)
        t->ns[k] = atomic_load_explicit(&r->ns[k], memory_order_relaxed);
    if (st < TWILL__TR_STATES) { /* a live worker: its current state so far */
        int64_t open = now - atomic_load_explicit(&r->since, memory_order_relaxed);
        t->ns[st] += open > 0 ? open : 0;
    }
    return 0;
}

/* ------------------------------------------------------------ symbols -- */

/* Function address -> name, filled as the writer meets each address. */
typedef struct symtab {
    uint64_t *addr;
    char **name;
    size_t cap, n;                   /* cap: a power of two, kept at most half full */
} symtab;

static size_t sym_slot(const symtab *t, uint64_t addr)
{
    size_t i = (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ull) & (t->cap - 1);
    while (t->name[i] != NULL && t->addr[i] != addr)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int sym_grow(symtab *t)
{
    symtab g = {calloc(t->cap * 2, sizeof *g.addr), calloc(t->cap * 2, sizeof *g.name),
                t->cap * 2, t->n};
    if (g.addr == NULL || g.name == NULL) {
        free(g.addr);
        free(g.name);
        return ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->name[i] != NULL) {
            size_t j = sym_slot(&g, t->addr[i]);
            g.addr[j] = t->addr[i];
            g.name[j] = t->name[i];
        }
    free(t->addr);
    free(t->name);
    *t = g;
    return 0;
}

/* The name of the function at addr: its symbol, else module+offset, else
   the bare address. */
static char *resolve(uint64_t addr)
{
    char buf[320];
    Dl_info di;
    if (dladdr((void *)(uintptr_t)addr, &di) != 0 && di.dli_sname != NULL &&
        (uintptr_t)di.dli_saddr == addr)
        return json_safe_dup(di.dli_sname);
    if (dladdr((void *)(uintptr_t)addr, &di) != 0 && di.dli_fname != NULL &&
        di.dli_fname[0] != '\0') {
        const char *base = strrchr(di.dli_fname, '/');
        snprintf(buf, sizeof buf, "%.255s+0x%" PRIxPTR, base != NULL ? base + 1 : di.dli_fname,
                 (uintptr_t)addr - (uintptr_t)di.dli_fbase);
    } else {
        snprintf(buf, sizeof buf, "0x%" PRIx64, addr);
    }
    return json_safe_dup(buf);
}

static const char *symbol(symtab *t, uint64_t addr)
{
    if (2 * (t->n + 1) > t->cap && sym_grow(t) != 0)
        return NULL;
    size_t i = sym_slot(t, addr);
    if (t->name[i] == NULL) {
        if ((t->name[i] = resolve(addr)) == NULL)
            return NULL;
        t->addr[i] = addr;
        t->n++;
    }
    return t->name[i];
}

static void sym_free(symtab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->name[i]);
    free(t->addr);
    free(t->name);
}

/* ------------------------------------------------------------ writing -- */

/* ns as microseconds with three decimals (exact: no rounding). */
static void put_us(FILE *f, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    fprintf(f, "%" PRId64 ".%03d", ns / 1000, (int)(ns % 1000));
}

static const char *kind_name(unsigned kind)
{
    switch (kind) {
    case TWILL__JOB_PLAIN: return "submit";
    case TWILL__JOB_GROUP: return "spawn";
    case TWILL__JOB_RUN: return "run";
    case TWILL__JOB_JOIN: return "join";
    case TWILL__JOB_BCAST: return "broadcast";
    case TWILL__TRACE_CHUNK: return "chunk";
    default: return "task";
    }
}

/* One event of track tid (a worker's, or the outside track). */
static int write_event(FILE *f, int pid, unsigned tid, int64_t origin, const event *e,
                       symtab *syms)
{
    unsigned type = (unsigned)(e->info & 0xf), kind = (unsigned)(e->info >> 4 & 0xf);
    uint64_t aux = e->info >> 8;
    const char *name = NULL;
    if (type == TWILL__TRE_TASK || type == TWILL__TRE_SUBMIT) {
        name = symbol(syms, e->what);
        if (name == NULL)
            return ENOMEM;
    }
    bool instant = type == TWILL__TRE_STEAL || type == TWILL__TRE_SUBMIT;
    fprintf(f, ",\n{\"ph\":%s,\"pid\":%d,\"tid\":%u,\"ts\":",
            instant ? "\"i\",\"s\":\"t\"" : "\"X\"", pid, tid);
    put_us(f, e->ts - origin);
    if (!instant) {
        fputs(",\"dur\":", f);
        put_us(f, e->dur);
    }
    switch (type) {
    case TWILL__TRE_TASK:
        fprintf(f, ",\"name\":\"%s\",\"cat\":\"%s\"", name, kind_name(kind));
        if (kind == TWILL__TRACE_CHUNK)
            fprintf(f, ",\"args\":{\"indices\":%" PRIu64 "}", aux);
        else if (aux != 0)
            fputs(",\"args\":{\"failed\":true}", f);
        break;
    case TWILL__TRE_WAIT:
        fputs(",\"name\":\"helping wait\",\"cat\":\"wait\"", f);
        if (e->what != 0)
            fprintf(f, ",\"args\":{\"thief\":%" PRIu64 "}", e->what - 1);
        break;
    case TWILL__TRE_PARK:
        fprintf(f, ",\"name\":\"parked\",\"cat\":\"park\",\"args\":{\"woken\":%s}",
                aux != 0 ? "true" : "false");
        break;
    case TWILL__TRE_STEAL:
        fprintf(f, ",\"name\":\"steal\",\"cat\":\"steal\",\"args\":{\"victim\":%" PRIu64 "}",
                e->what);
        break;
    default: /* TWILL__TRE_SUBMIT */
        fprintf(f, ",\"name\":\"%s\",\"cat\":\"outside\",\"args\":{\"thread\":%" PRIu64
                   ",\"rc\":%d,\"blocked_us\":",
                name, aux & 0xffffffffu, (int)(aux >> 32 & 0xff));
        put_us(f, e->dur);
        fputc('}', f);
        break;
    }
    fputc('}', f);
    return 0;
}

static void write_thread_meta(FILE *f, int pid, unsigned tid, const char *name, int sort)
{
    fprintf(f,
            ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"ts\":0,\"name\":\"thread_name\","
            "\"args\":{\"name\":\"%s\"}}"
            ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"ts\":0,\"name\":\"thread_sort_index\","
            "\"args\":{\"sort_index\":%d}}",
            pid, tid, name, pid, tid, sort);
}

static int64_t lifetime(const track *t)
{
    int64_t sum = 0;
    for (unsigned k = 0; k < TWILL__TR_STATES; k++)
        sum += t->ns[k];
    return sum > 0 ? sum : 1;
}

static void write_worker_meta(FILE *f, unsigned id, const track *t, const twill_stats *s)
{
    fprintf(f, "%s\n    {\"id\": %u, \"tid\": %u, \"events\": %zu, \"dropped\": %" PRIu64, id ? "," : "",
            id, id + 1, t->n, t->dropped);
    for (unsigned k = 0; k < TWILL__TR_STATES; k++)
        fprintf(f, ", \"%s_ns\": %" PRId64, state_name[k], t->ns[k]);
    if (s != NULL)
        fprintf(f,
                ", \"tasks_run\": %" PRIu64 ", \"tasks_failed\": %" PRIu64
                ", \"tasks_discarded\": %" PRIu64 ", \"spawns\": %" PRIu64 ", \"steals\": %" PRIu64
                ", \"steal_attempts\": %" PRIu64 ", \"injected\": %" PRIu64 ", \"parks\": %" PRIu64
                ", \"wakes\": %" PRIu64,
                s->tasks_run, s->tasks_failed, s->tasks_discarded, s->spawns, s->steals,
                s->steal_attempts, s->injected, s->parks, s->wakes);
    fputc('}', f);
}

/* The metadata block: otherData. */
static void write_other(FILE *f, const twill__trace *tr, const track *w, unsigned nw,
                        const track *out, const twill_stats *stats, unsigned nstats)
{
    uint64_t dropped = out->dropped;
    for (unsigned i = 0; i < nw; i++)
        dropped += w[i].dropped;
    fprintf(f,
            "{\"otherData\": {\n  \"twill_version\": \"%d.%d.%d\",\n  \"pool\": %s,\n"
            "  \"topology\": \"%s\",\n"
            "  \"clock\": \"CLOCK_MONOTONIC; ts and dur in microseconds since the pool was "
            "created\",\n  \"trace_events_per_track\": %zu,\n  \"dropped_events\": %" PRIu64
            ",\n  \"outside\": {\"tid\": %u, \"events\": %zu, \"dropped\": %" PRIu64 "},\n"
            "  \"workers\": [",
            TWILL_VERSION_MAJOR, TWILL_VERSION_MINOR, TWILL_VERSION_PATCH, tr->pool_json,
            tr->topology, tr->slots, dropped, OUTSIDE_TID, out->n, out->dropped);
    for (unsigned i = 0; i < nw; i++)
        write_worker_meta(f, i, &w[i], i < nstats ? &stats[i] : NULL);
    fputs("]\n},\n\"traceEvents\": [\n", f);
}

static int write_events(FILE *f, const twill__trace *tr, const track *w, unsigned nw,
                        const track *out)
{
    int pid = (int)getpid();
    symtab syms = {calloc(64, sizeof(uint64_t)), calloc(64, sizeof(char *)), 64, 0};
    if (syms.addr == NULL || syms.name == NULL) {
        sym_free(&syms);
        return ENOMEM;
    }
    fprintf(f, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"ts\":0,\"name\":\"process_name\","
               "\"args\":{\"name\":\"twill pool %s\"}}",
            pid, OUTSIDE_TID, tr->name);
    write_thread_meta(f, pid, OUTSIDE_TID, "outside threads", -1);
    for (unsigned i = 0; i < nw; i++) {
        char name[160];
        int64_t life = lifetime(&w[i]);
        snprintf(name, sizeof name, "worker %u: run %.0f%% search %.0f%% park %.0f%% wait %.0f%%",
                 i, 100.0 * w[i].ns[TWILL__TR_RUN] / life, 100.0 * w[i].ns[TWILL__TR_SEARCH] / life,
                 100.0 * w[i].ns[TWILL__TR_PARK] / life, 100.0 * w[i].ns[TWILL__TR_WAIT] / life);
        write_thread_meta(f, pid, i + 1, name, (int)i);
    }
    int rc = 0;
    for (size_t k = 0; k < out->n && rc == 0; k++)
        rc = write_event(f, pid, OUTSIDE_TID, tr->origin, &out->ev[k], &syms);
    for (unsigned i = 0; i < nw && rc == 0; i++)
        for (size_t k = 0; k < w[i].n && rc == 0; k++)
            rc = write_event(f, pid, i + 1, tr->origin, &w[i].ev[k], &syms);
    fputs("\n]}\n", f);
    sym_free(&syms);
    return rc;
}

/* Take every ring: the outside one under its lock, the workers' as they
   run.  0 or ENOMEM. */
static int take_all(twill__trace *tr, track *w, unsigned *nw, track *out)
{
    int64_t now = twill__now_ns();
    pthread_mutex_lock(&tr->outside_lock);
    int rc = snapshot(tr->outside, now, out);
    pthread_mutex_unlock(&tr->outside_lock);
    if (rc == 0)
        qsort(out->ev, out->n, sizeof *out->ev, by_start);
    *nw = 0;
    for (unsigned i = 0; i < TWILL_MAX_WORKERS && rc == 0; i++) {
        /* acquire: pairs with ring_for's release store. */
        twill__trace_ring *r = atomic_load_explicit(&tr->rings[i], memory_order_acquire);
        if (r == NULL)
            break; /* ids are dense: 0..size-1, and rings are kept until destroy */
        rc = snapshot(r, now, &w[i]);
        if (rc == 0) {
            qsort(w[i].ev, w[i].n, sizeof *w[i].ev, by_start);
            *nw = i + 1;
        }
    }
    return rc;
}

int twill__trace_write(twill__trace *tr, const char *path, const twill_stats *stats,
                       unsigned n)
{
    track *w = calloc(TWILL_MAX_WORKERS, sizeof *w), out = {0};
    if (w == NULL)
        return ENOMEM;
    pthread_mutex_lock(&tr->write_lock);
    unsigned nw = 0;
    int rc = take_all(tr, w, &nw, &out);
    FILE *f = NULL;
    if (rc == 0 && (f = fopen(path, "w")) == NULL)
        rc = errno;
    if (rc == 0) {
        errno = 0; /* a failed write sets it; ferror alone does not say why */
        write_other(f, tr, w, nw, &out, stats, n);
        rc = write_events(f, tr, w, nw, &out);
        if (rc == 0 && ferror(f))
            rc = errno != 0 ? errno : EIO;
    }
    if (f != NULL && fclose(f) != 0 && rc == 0)
        rc = errno;
    pthread_mutex_unlock(&tr->write_lock);
    for (unsigned i = 0; i < nw; i++)
        free(w[i].ev);
    free(w);
    free(out.ev);
    return rc;
}

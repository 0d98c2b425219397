/*
 * topology.c — hwloc discovery, pinning and victim order; the only file that
 * includes hwloc.
 *
 * Usable CPUs are hwloc's allowed cpuset intersected with the current
 * binding of the creating thread (inherited from the process), so
 * `taskset -c 1 prog` gives one worker by default.  A
 * "place" is a core (restricted to its usable hardware threads) for
 * TWILL_PIN_CORES and TWILL_PIN_NONE, or a single hardware thread for
 * TWILL_PIN_THREADS.  Worker i is pinned to place i mod places.
 *
 * Victim order: the other workers sorted by the depth of the deepest hwloc
 * object they share with us (same core, then same cache, then same package,
 * then the rest); ties form a level.  The thief starts each level at a
 * fresh random member on every pass (sched_steal.c).
 *
 * Binding allocates nothing: each place's CPU set is converted to a
 * cpu_set_t when the pool is created, and a worker binds with
 * pthread_setaffinity_np on it.  (hwloc_set_cpubind allocates inside
 * hwloc on every call, and hwloc 2.9 crashes when that allocation fails:
 * issue 15.)
 *
 * Who may call what: see topology.h.  The topology is read-only once
 * created.
 */
#include "topology.h"

#include <errno.h>
#include <hwloc.h>
#include <hwloc/glibc-sched.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct twill__topo {
    hwloc_topology_t topo;
    twill_pin pin;
    unsigned nplaces;
    cpu_set_t *place_set;      /* usable CPUs of each place, ready to bind */
    hwloc_obj_t *place_obj;    /* the core or PU object of each place */
};

void twill__topo_destroy(twill__topo *t)
{
    if (t == NULL)
        return;
    free(t->place_set);
    free(t->place_obj);
    if (t->topo != NULL)
        hwloc_topology_destroy(t->topo);
    free(t);
}

/* The CPUs this process may run on: allowed by the OS and by the binding
   of the thread creating the pool, which it inherits from the process
   (taskset, numactl) unless it was rebound (sched_setaffinity). */
static hwloc_bitmap_t usable_cpus(hwloc_topology_t topo)
{
    hwloc_bitmap_t set = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
    hwloc_bitmap_t bound = hwloc_bitmap_alloc();
    if (set == NULL || bound == NULL) {
        hwloc_bitmap_free(set);
        hwloc_bitmap_free(bound);
        return NULL;
    }
    if (hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_THREAD) == 0 &&
        hwloc_bitmap_intersects(set, bound))
        hwloc_bitmap_and(set, set, bound);
    hwloc_bitmap_free(bound);
    return set;
}

static int add_places(twill__topo *t, hwloc_const_bitmap_t usable)
{
    hwloc_obj_type_t type = t->pin == TWILL_PIN_THREADS ? HWLOC_OBJ_PU : HWLOC_OBJ_CORE;
    int n = hwloc_get_nbobjs_by_type(t->topo, type);
    if (n <= 0) { /* no core objects (rare VMs): fall back to PUs */
        type = HWLOC_OBJ_PU;
        n = hwloc_get_nbobjs_by_type(t->topo, type);
    }
    t->place_set = calloc((size_t)(n > 0 ? n : 1), sizeof *t->place_set);
    t->place_obj = calloc((size_t)(n > 0 ? n : 1), sizeof *t->place_obj);
    if (t->place_set == NULL || t->place_obj == NULL)
        return ENOMEM;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t->topo, type, (unsigned)i);
        if (o == NULL || !hwloc_bitmap_intersects(o->cpuset, usable))
            continue;
        hwloc_bitmap_t s = hwloc_bitmap_alloc();
        if (s == NULL)
            return ENOMEM;
        hwloc_bitmap_and(s, o->cpuset, usable);
        hwloc_cpuset_to_glibc_sched_affinity(t->topo, s, &t->place_set[t->nplaces],
                                             sizeof(cpu_set_t));
        hwloc_bitmap_free(s);
        t->place_obj[t->nplaces] = o;
        t->nplaces++;
    }
    return 0;
}

int twill__topo_create(twill__topo **out, twill_pin pin)
{
    twill__topo *t = calloc(1, sizeof *t);
    if (t == NULL)
        return ENOMEM;
    t->pin = pin;
    if (hwloc_topology_init(&t->topo) != 0) {
        free(t);
        return ENOMEM;
    }
    if (hwloc_topology_load(t->topo) != 0) {
        twill__topo_destroy(t);
        return ENOMEM;
    }
    hwloc_bitmap_t usable = usable_cpus(t->topo);
    int rc = usable == NULL ? ENOMEM : add_places(t, usable);
    hwloc_bitmap_free(usable);
    if (rc != 0) {
        twill__topo_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

unsigned twill__topo_default_workers(const twill__topo *t)
{
    return t->nplaces > 0 ? t->nplaces : 1;
}

unsigned twill__topo_own_places(const twill__topo *t)
{
    return t->pin == TWILL_PIN_NONE ? 0 : t->nplaces;
}

int twill__topo_bind(const twill__topo *t, unsigned id)
{
    if (t->pin == TWILL_PIN_NONE)
        return 0;
    if (t->nplaces == 0)
        return ENODEV;
    return pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t),
                                  &t->place_set[id % t->nplaces]);
}

/* How near worker j is to worker i: the depth of their deepest common
   hwloc ancestor (larger is nearer). */
static int nearness(const twill__topo *t, unsigned i, unsigned j)
{
    if (t->nplaces == 0)
        return 0;
    hwloc_obj_t a = t->place_obj[i % t->nplaces], b = t->place_obj[j % t->nplaces];
    if (a == b)
        return INT32_MAX;
    hwloc_obj_t c = hwloc_get_common_ancestor_obj(t->topo, a, b);
    return c != NULL ? c->depth : 0;
}

unsigned twill__topo_victims(const twill__topo *t, unsigned id, unsigned n, uint16_t *order,
                            uint16_t *level_end)
{
    unsigned m = 0;
    int key[TWILL_MAX_WORKERS];
    for (unsigned j = 0; j < n; j++) {
        if (j == id)
            continue;
        /* insertion sort by nearness, descending; stable within a level */
        int k = nearness(t, id, j);
        unsigned p = m++;
        while (p > 0 && key[p - 1] < k) {
            key[p] = key[p - 1];
            order[p] = order[p - 1];
            p--;
        }
        key[p] = k;
        order[p] = (uint16_t)j;
    }
    unsigned levels = 0;
    for (unsigned i = 0; i < m; i++)
        if (i + 1 == m || key[i + 1] != key[i])
            level_end[levels++] = (uint16_t)(i + 1);
    return levels;
}

/* Append to buf (len bytes, *at used so far), truncating at the end. */
static void appendf(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n;
}

void twill__topo_describe(const twill__topo *t, char *buf, size_t len)
{
    static const char *const pin[] = {[TWILL_PIN_CORES] = "cores",
                                      [TWILL_PIN_THREADS] = "threads",
                                      [TWILL_PIN_NONE] = "none"};
    size_t at = 0;
    buf[0] = '\0';
    appendf(buf, len, &at, "%d packages, %d cores, %d PUs; pin %s; places",
            hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PACKAGE),
            hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_CORE),
            hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU), pin[t->pin]);
    for (unsigned p = 0; p < t->nplaces; p++) {
        const char *sep = " {";
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &t->place_set[p])) {
                appendf(buf, len, &at, "%s%d", sep, cpu);
                sep = ",";
            }
        appendf(buf, len, &at, "}");
    }
}

/*
 * topology.h — which CPUs a pool may use, where each worker is pinned, and
 * in which order each worker tries its victims.  topology.c is the only
 * file that includes hwloc.
 *
 * Who may call what: create/destroy/victims from the pool creator; bind from
 * the worker being bound (any thread, concurrently: hwloc_set_cpubind on
 * distinct threads is thread-safe once the topology is loaded).
 */
#ifndef TWILL_TOPOLOGY_H
#define TWILL_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "twill.h"

typedef struct twill__topo twill__topo;

/* Discover the CPUs allowed to the process (hwloc's allowed set intersected
   with the process's current binding).  Returns 0, ENOMEM. */
int twill__topo_create(twill__topo **out, twill_pin pin);
void twill__topo_destroy(twill__topo *t);

/* Default number of workers: usable cores (TWILL_PIN_THREADS: usable
   hardware threads).  At least 1. */
unsigned twill__topo_default_workers(const twill__topo *t);

/* How many workers get a place of their own (bound, one per place):
   the places, or 0 under TWILL_PIN_NONE, where any two may share a CPU. */
unsigned twill__topo_own_places(const twill__topo *t);

/* Bind the calling thread for worker `id` (round-robin over cores or
   hardware threads when there are more workers than places).  Allocates
   nothing.  Returns 0, or an errno value when the bind failed (never
   fatal; counted in stats).  TWILL_PIN_NONE: no-op. */
int twill__topo_bind(const twill__topo *t, unsigned id);

/* Fill order[0..n-2] with the other workers of an n-worker pool for worker
   `id`, nearest first (same core, same cache, same package, the rest), and
   level_end[0..k-1] with the end of each level of equally near workers.
   Returns k (0 for a 1-worker pool). */
unsigned twill__topo_victims(const twill__topo *t, unsigned id, unsigned n, uint16_t *order,
                             uint16_t *level_end);

/* One line for the trace's metadata: the machine (packages, cores,
   hardware threads), the pin mode and each place's CPUs, e.g.
   "1 packages, 2 cores, 4 PUs; pin cores; places {0,2} {1,3}" (worker i
   runs on place i mod places).  Truncated to len - 1 characters. */
void twill__topo_describe(const twill__topo *t, char *buf, size_t len);

#endif /* TWILL_TOPOLOGY_H */

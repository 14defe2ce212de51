/* collector.h: what the layers above the collector (pool/) may call, and
 * all of it: hooks into every cycle, the statistics' pool totals, the check
 * that an API call comes from an attached thread. They see neither the
 * span layout nor the heap's internals. The collector's files get the same
 * declarations through gc.h. */
#ifndef TCI_COLLECTOR_H
#define TCI_COLLECTOR_H

#include <stdint.h>

#include "atomic.h"
#include "lock.h"
#include "tricolor.h"

/* ---- gc/cycle.c ---------------------------------------------------------- */
/* start_stw runs in every cycle's first stop, before the roots are
 * scanned (world stopped: it must not allocate or take a lock a stopped
 * thread may hold); after runs once the cycle's mark is over and the world
 * runs again, outside every collector lock, on the collecting thread.
 * Registered once, at most TCI_MAX_CYCLE_HOOKS of them. 0, or -1. */
#define TCI_MAX_CYCLE_HOOKS 4
int tci_cycle_hook_add(void (*start_stw)(void), void (*after)(void));

/* ---- gc/stats.c ---------------------------------------------------------- */
/* pool/ registers how to read its totals: hits, victim hits, misses, puts,
 * dropped (and one spare). */
void tci_stats_set_pool_totals(void (*fn)(uint64_t out[6]));

/* ---- gc/cache.c ---------------------------------------------------------- */
/* Reports a heap call from a thread that is not attached, or is inside a
 * blocking region; errno EPERM, returns NULL. */
void *tci_cache_not_attached(const char *fn);
/* For an API call that touches the heap: 0 from an attached thread outside
 * a blocking region; otherwise reports it naming fn, errno EPERM, -1. */
int tci_cache_check_thread(const char *fn);

#endif

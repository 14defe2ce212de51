/* observable.h: what observe/ may see of the collector, and all of it; the
 * collector's own files get the same declarations through gc.h. Each is
 * here for one reader:
 * - tci_init_done: tc_set_mem_profile_rate refuses a call before tc_init
 *   (which sets the rate from TRICOLOR_DEBUG, and would overwrite it);
 * - tci_stats_other_sys_bytes: the profile's tables and records are counted in
 *   tc_memstats' other_sys, as the collector's own tables are;
 * - tci_addr_hash: the profile's address table hashes as the finalizer
 *   table does (gc/special.c), one formula for both;
 * - tci_cache_sample_reset: a rate change redraws the calling thread's
 *   countdown at once, which lives in its cache (gc/cache.c);
 * - tci_stats_hist_sum: the Prometheus histograms' _sum, which the public
 *   tc_read_histogram does not give;
 * - tci_stats_init_ns, tci_stats_gc_cpu_fraction: gctrace's @#s and #%.
 * The span layout is not here: the collector hands the profile the few
 * span fields it needs (observe/observe.h). */
#ifndef TCI_OBSERVABLE_H
#define TCI_OBSERVABLE_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"

/* gc/init.c: set once tc_init has set the library up. */
extern int tci_init_done;
/* gc/stats.c: memory outside the heap that the library's tables hold
 * (weak, ephemeron and finalizer records, profiling records): atomic adds. */
extern tci_atomic tci_stats_other_sys_bytes;

/* The chain of object address addr in a table of nbuckets (a power of
 * two): objects are 16-byte aligned, so the zero bits go, then Fibonacci
 * hashing. For the tables keyed by object (finalizers, profile samples). */
static inline size_t tci_addr_hash(uintptr_t addr, size_t nbuckets)
{
    return (size_t)(((addr >> 4) * 11400714819323198485ull) >> 20) & (nbuckets - 1);
}

/* Moves every entry of chained table old (nold buckets) into to (nto
 * buckets, zeroed), each to the chain of tci_addr_hash(KEY(entry)): the
 * growth of the tables keyed by address (finalizers, ephemerons, pairs in
 * heap objects, profile samples). type: the entries'; next: their chain
 * field; KEY: a function-like macro or function of an entry pointer. */
#define TCI_ADDR_REHASH(type, next, KEY, old, nold, to, nto)                \
    do {                                                                    \
        for (size_t b_ = 0; b_ < (nold); b_++)                              \
            for (type *e_ = (old)[b_], *n_; e_; e_ = n_) {                  \
                n_ = e_->next;                                              \
                size_t h_ = tci_addr_hash(KEY(e_), (nto));                  \
                e_->next = (to)[h_];                                        \
                (to)[h_] = e_;                                              \
            }                                                               \
    } while (0)

/* gc/cache.c: the calling thread's countdown drawn again from the rate now. */
void tci_cache_sample_reset(void);

/* gc/stats.c: tci_stats_init_ns, when tc_init ran (tci_os_now_ns);
 * tci_stats_gc_cpu_fraction, GC CPU over available CPU since then;
 * tci_stats_hist_sum, the sum of a histogram's values, ns (TC_HIST_*). */
uint64_t tci_stats_init_ns(void);
double tci_stats_gc_cpu_fraction(void);
uint64_t tci_stats_hist_sum(int which);

#endif

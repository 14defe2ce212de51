/* gc.h: the collector's internal interfaces, one section per module. */
#ifndef TCI_GC_H
#define TCI_GC_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "env.h"
#include "heap.h"
#include "sizeclass.h"
#include "thread.h"
#include "tricolor.h"

/* ---- type.c: type descriptors ------------------------------------------- */
struct tc_type {
    const char *name;
    size_t size;
    uint32_t id;        /* index in tci_types */
    uint32_t n_ptrs;
    tc_trace_fn trace;  /* or NULL: offsets below */
    uint32_t *offsets;  /* byte offsets of pointer slots */
};
#define TCI_MAX_TYPES (1u << 20)
/* id -> type; entries are written once before their id is handed out. */
extern struct tc_type **tci_types;
int tci_types_init(void);

/* ---- central.c: per size class and kind lists of spans ------------------- */
/* Returns a swept span of class c and kind k with at least one free slot,
 * owned by the caller (in_cache set), or NULL with errno ENOMEM. May sweep
 * spans and grow the heap. */
tci_span *tci_central_acquire(int c, int k);
/* Gives a span back after a cache used it (alloc_bits exact). */
void tci_central_release(tci_span *s);
void tci_central_init(void);
/* Sets up a small span fresh from the page heap for class c and kind k. */
void tci_span_init_small(tci_span *s, int c, int k);

/* Large objects' list, with the same swept/unswept halves. */
void tci_large_push_swept(tci_span *s);
/* Sweeps unswept spans (large ones first) until npages pages went back to
 * the page heap or none is left; returns the pages freed. Run before the
 * heap grows, so garbage is reused before new memory is mapped. */
size_t tci_reclaim(size_t npages);

/* ---- sweep.c --------------------------------------------------------------- */
/* The global sweep generation: 2 more at every mark termination. A span with
 * sweepgen == g - 2 needs sweeping, g - 1 is being swept, g is swept. Written
 * only with the world stopped. */
extern tci_atomic tci_sweepgen;
/* Spans still to sweep in this cycle: set at mark termination to every span
 * in use, counted down by each sweep. */
extern tci_atomic tci_unswept_spans;
/* Sweeps s (owned by the caller). Returns 0 when s was freed to the page
 * heap (no object left), 1 otherwise. When keep is set an empty small span
 * is kept (the caller will allocate from it). */
int tci_span_sweep(tci_span *s, int keep);
/* Sweeps every span not yet swept in this cycle. */
void tci_sweep_all(void);

/* ---- cache.c: per-thread allocation caches ------------------------------- */
int tci_cache_attach(tci_thread *t);
void tci_cache_detach(tci_thread *t);
/* Returns every span the thread's cache holds to the centrals. With the world
 * stopped or by the owner. */
void tci_cache_flush(tci_thread *t);
void tci_cache_flush_all_stw(void);
/* Allocation counters of attached and detached threads, summed. */
typedef struct tci_alloc_counts {
    uint64_t mallocs, total_bytes;
} tci_alloc_counts;
void tci_cache_read_counts(tci_alloc_counts *out);

/* ---- mark.c ---------------------------------------------------------------- */
void tci_mark_init(int markers);
/* With the world stopped: marks everything reachable from the roots.
 * Returns the bytes marked. */
uint64_t tci_mark_stw(void);
int tci_mark_workers(void);
/* Cycles in which helper markers joined (the grey list outgrew a buffer). */
uint64_t tci_mark_parallel_cycles(void);
/* Scans [lo, hi) conservatively into the tracer's marker. */
void tci_mark_range(tc_tracer *tr, uintptr_t lo, uintptr_t hi);

/* ---- roots.c --------------------------------------------------------------- */
/* With the world stopped: every root into the tracer. */
void tci_roots_scan(tc_tracer *tr);
/* Bytes of root ranges and stacks scanned by the last scan. */
uint64_t tci_roots_last_bytes(void);

/* ---- verify.c -------------------------------------------------------------- */
/* With the world stopped, after marking: aborts with a description if a
 * marked object points at an allocated unmarked one, or a mark bit is set
 * on a free slot. Returns the number of marked objects checked. */
uint64_t tci_verify_marks_stw(void);

/* ---- cycle.c --------------------------------------------------------------- */
extern tci_config tci_cfg;     /* written at init */
extern tci_atomic tci_heap_live; /* bytes allocated since last mark + marked */
extern tci_atomic tci_next_gc;   /* trigger; UINT64_MAX when off */
extern tci_atomic tci_freed_objects, tci_freed_bytes; /* by sweeping */
extern int tci_initialised;
/* Called on allocation slow paths with the bytes about to be taken: may run
 * a collection. */
void tci_gc_maybe_trigger(tci_thread *self, size_t bytes);
void tci_gc_stress_tick(tci_thread *self);
/* The stop of collection number gc (0-based) on CLOCK_MONOTONIC
 * (tci_os_now_ns): from the stop request to every held thread running
 * again. Returns 0 when that collection is not (or no longer) in the
 * statistics ring. */
int tci_stats_pause_interval(uint32_t gc, uint64_t *start, uint64_t *end);
/* Reports a call from a thread that is not attached; returns NULL. */
void *tci_not_attached(const char *fn);

#endif

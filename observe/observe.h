/* observe.h: the calls the collector makes into observe/, and nothing
 * else of it: the profile's sampling (at allocation, where a thread's
 * countdown ran out, and at its refills), its frees (at sweep), the
 * gctrace and scavtrace lines, and the cycle events. gc/gc.h includes it
 * and is the collector's only way in; observe/ itself includes the public
 * header and gc/observable.h, never gc/gc.h.
 *
 * The calls are direct, not hooks registered at init: observe/ is part of
 * the one library, and the allocation and sweep paths pay no indirect call
 * for a profile that is off. The per-allocation decision (the countdown)
 * stays inlined in gc/cache.c; only a sample, a redraw or a profiled
 * span's sweep calls here. */
#ifndef TCI_OBSERVE_H
#define TCI_OBSERVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atomic.h"
#include "tricolor.h"

/* ---- profile.c: sampled heap profiles ------------------------------------ */
void tci_profile_init(size_t rate);
/* A thread's next countdown to a sample, from the rate now (rng: the
 * thread's generator state); *epoch gets the rate's epoch it was drawn
 * in. tci_profile_epoch: the epoch now (+1 at every rate change). */
int64_t tci_profile_next(uint64_t *rng, uint64_t *epoch);
uint64_t tci_profile_epoch(void);
/* Records the allocation of p, in a slot of elemsize bytes of a span whose
 * sample count is *span_samples (atomic; added to here, subtracted by
 * tci_profile_freed); caller: the return address of the program's call
 * into tc_alloc*, where its stack begins. */
void tci_profile_sample(void *p, size_t elemsize, tci_atomic *span_samples, uintptr_t caller);
/* The sweeper of the span at base (slots of elemsize bytes, sample count
 * *span_samples) frees the slots of freed_bits in bitmap word `word`. */
void tci_profile_freed(tci_atomic *span_samples, uintptr_t base, size_t elemsize, size_t word,
                       uint64_t freed_bits);
void tci_profile_read_counts(uint64_t *rate, uint64_t *samples);
/* Writes on f, as a line of a stop-timeout report, the guest frames of a
 * sample's record (a thread's poll_sample, runtime/thread.h; 0: none). */
void tci_profile_write_guest(FILE *f, uintptr_t sample);

/* ---- watch.c: where the stop-timeout report says a thread polled ---------- */
/* runtime/world.c's where hook (tci_world_where_fn), registered by tc_init:
 * the return address pc symbolized as the heap profiles' are, then the
 * thread's guest frames. Called by a stopper only (world_lock). */
void tci_watch_where(FILE *f, uintptr_t pc, uintptr_t sample);

/* ---- trace.c: TRICOLOR_DEBUG's traces, in Go's formats -------------------- */
/* One cycle's figures, for gctrace and the cycle events. Times are
 * tci_os_now_ns; CPU times in ns. */
typedef struct tci_cycle_report {
    uint32_t cycle;  /* num_gc after it */
    int forced;
    uint64_t t_start, t_mark, t_term, t_end; /* first stop's request, mark start
                                                 (restart), final stop's request,
                                                 its restart */
    uint64_t start_cpu_ns, assist_cpu_ns, mark_cpu_ns, idle_cpu_ns, term_cpu_ns;
    uint64_t heap0, heap1, live, goal, next_goal;
    uint64_t stack_bytes, global_bytes;
    uint64_t pause_ns;
    uint32_t stops;
    int procs;       /* gctrace's P: the CPUs counted (ncpu), as Go's GOMAXPROCS */
} tci_cycle_report;
void tci_trace_gc(const tci_cycle_report *r);
void tci_trace_scav(uint64_t released_bytes, uint64_t released_total, uint64_t inuse_bytes,
                    uint64_t retained_bytes, int forced);
/* Go's number formats: fmtNSAsMS, and print(float64); buf holds 32 bytes. */
const char *tci_trace_ms(char *buf, uint64_t ns);
const char *tci_trace_float(char *buf, double v);

/* ---- event.c: cycle events (tc_on_gc_event) ------------------------------ */
/* Queues event `kind` (TC_GC_EVENT_*) from r's figures; any thread, no
 * collector lock held. */
void tci_event_post(int kind, const tci_cycle_report *r, uint64_t sweep_ns);
uint64_t tci_event_dropped(void);
/* The child of a fork, event_lock held: the worker's thread is gone. */
void tci_event_fork_child_locked(void);

#endif

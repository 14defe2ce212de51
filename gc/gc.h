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
    size_t n_ptrs;
    tc_trace_fn trace;  /* or NULL: offsets below */
    /* Byte offsets of the pointer slots, ascending, each once. As wide as
     * the sizes tc_type_new accepts (an offset of 2^32 once went through a
     * uint32_t and read slot 0 instead: the object behind it was freed). */
    size_t *offsets;
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
/* Objects freed by sweeping, per size class ([0] unused) and large ones
 * (with their bytes): atomics, read without a lock. */
void tci_sweep_read_frees(uint64_t class_frees[TCI_MAX_CLASSES], uint64_t *large_frees,
                          uint64_t *large_bytes);

/* ---- cache.c: per-thread allocation caches ------------------------------- */
int tci_cache_attach(tci_thread *t);
void tci_cache_detach(tci_thread *t);
/* Returns every span the thread's cache holds to the centrals. With the world
 * stopped or by the owner. */
void tci_cache_flush(tci_thread *t);
void tci_cache_flush_all_stw(void);
/* Allocation counters of every thread that ever allocated, summed without
 * a lock (every cache ever made stays on a list that only grows); [0] is
 * large objects. */
typedef struct tci_alloc_counts {
    uint64_t mallocs, total_bytes;
    uint64_t class_mallocs[TCI_MAX_CLASSES];
} tci_alloc_counts;
void tci_cache_read_counts(tci_alloc_counts *out);
/* Bytes of the attached threads' caches. */
uint64_t tci_cache_sys_bytes(void);
/* The thread hooks' region: the owner's cache is out of reach of its
 * allocation fast path while it is inside a blocking region. */
void tci_cache_region(tci_thread *t, int inside);
/* The calling thread's tracer (barrier and assists), NULL if not attached
 * or inside a blocking region (its stores shade through a shared one). */
tc_tracer *tci_cache_tracer(void);

/* ---- mark.c ---------------------------------------------------------------- */
void tci_mark_init(int markers, int ncpu);
/* The collector's thread as it starts, world running, world_lock held:
 * the helper threads and a few work buffers made now, not in the first
 * cycle's stop. */
void tci_mark_warm_locked(void);
/* 1 when the markers can keep to their share (the kernel reports their
 * waits for a CPU): see gc/pacer.c, 5. */
int tci_mark_paced(void);
/* Times a marker stepped aside to keep to its share; and, for tests, a
 * switch that makes every marker's slice count as competing for a CPU. */
uint64_t tci_mark_steps_aside(void);
extern tci_atomic tci_mark_pace_test_compete;
/* With the world stopped: marks everything reachable from the roots.
 * Returns the bytes marked. */
uint64_t tci_mark_stw(void);
int tci_mark_workers(void);
/* Cycles in which helper markers joined (the grey list outgrew a buffer). */
uint64_t tci_mark_parallel_cycles(void);
/* Scans [lo, hi) conservatively into the tracer's marker. */
void tci_mark_range(tc_tracer *tr, uintptr_t lo, uintptr_t hi);

/* Concurrent marking (see mark.c). In the first stop: greys the roots
 * but the finalizers'. */
void tci_mark_begin_stw(void);
/* The collector, right after the first stop (world running, before the
 * drain): greys the barriered root ranges and what the finalizers keep.
 * Their size does not lengthen the stop (300,000 finalizers took it to
 * 118 ms, a 64 MiB range to 40 ms). */
void tci_mark_roots_concurrent(void);
/* The collector's thread, world running (concurrent_drain: its CPU time
 * counts as GC CPU) or stopped: the markers drain the global grey work
 * until none is left that they can see. */
void tci_mark_drain_all(int concurrent_drain);
/* GC CPU of concurrent marking (the markers' counted time, gc/pacer.c 5,
 * and assists) not yet counted into the cycle statistics. */
extern tci_atomic tci_mark_cpu_ns;
extern tci_atomic tci_mark_idle_ns;
extern tci_atomic tci_mark_taken_ns;
extern tci_atomic tci_gc_work_ns; /* GC work's CPU on the threads that did it (cycle.c) */
/* Whether grey work waits in the global pool (after a flush: any at all). */
int tci_mark_has_work(void);
/* In the last stop, every tracer flushed: greys what the thread stacks
 * point to now, drains the rest and returns the bytes marked in the cycle
 * (shading and assists included; objects allocated black are counted by
 * the caches). */
uint64_t tci_mark_end_stw(void);
/* Background credit: bytes the markers have marked in this mark that no
 * assist has claimed yet; takes up to `want` of it, returns what it took.
 * tci_mark_progress: bytes marked in this mark so far, markers (as they
 * bank it) and assists together. */
uint64_t tci_mark_credit_take(uint64_t want);
uint64_t tci_mark_progress(void);
/* Precise pointer slots the marks have read since tc_init, as the
 * markers and assists hand their counts in (at each mark's end, at each
 * tracer flush): a mark reads each slot of a live precise object once. */
uint64_t tci_mark_slots_read(void);
/* Bytes of mark work buffers allocated (they are kept for reuse). */
uint64_t tci_mark_buf_bytes(void);
/* A mutator's tracer, for its barrier and assists. */
tc_tracer *tci_tracer_new(void);
void tci_tracer_free(tc_tracer *tr);
size_t tci_tracer_size(void);
/* Greys the object p points into if it is white (the write barrier). */
void tci_mark_shade(tc_tracer *tr, uintptr_t p);
/* Hands the tracer's grey objects and marked bytes to the global pool. */
void tci_mark_tracer_flush(tc_tracer *tr);
/* Scans grey objects from the global pool until `budget` bytes were scanned,
 * none is left (*no_work set) or a stop is pending; returns the bytes
 * scanned, and in *marked the bytes it marked (greyed). Keeps nothing
 * afterwards. */
size_t tci_mark_assist(tc_tracer *tr, size_t budget, int *no_work, uint64_t *marked);
/* Checkmark, world stopped, after the mark: every object a root or the
 * object obj points to must be marked; aborts naming it otherwise. */
void tci_mark_check_roots(void);
void tci_mark_check_enable(tc_tracer *tr);
void tci_mark_check_object(tc_tracer *tr, uintptr_t obj);
/* The object whose slots the checking tracer is given next (tc_trace), for
 * its report: checkmark reads a precise object's slots itself. */
void tci_mark_check_from(tc_tracer *tr, uintptr_t obj);

/* For gc/ephemeron.c and gc/special.c: whether the object containing p
 * is marked (1 for an address outside the heap: nothing to collect);
 * scanning an object's contents without marking the object itself;
 * pushing an ephemeron's value onto tracer tr, to be shaded when a
 * marker takes it (any thread that marks with tr, at any time during a
 * mark). */
int tci_mark_is_marked(uintptr_t p);
void tci_mark_push_deferred(tc_tracer *tr, uintptr_t value);
/* The collector, during a concurrent mark once a drain is over (helpers
 * idle): files the ephemerons (tci_ephemeron_file_all) into its own
 * tracer; nonzero when that pushed work for the next drain. */
int tci_mark_file_ephemerons(void);
void tci_mark_scan_contents(tc_tracer *tr, uintptr_t obj);

/* ---- ephemeron.c: ephemerons and the mark's fixpoint over them ----------- */
/* During a mark, once a drain is over (most keys marked), by the
 * collector (the stopped collector in its stop): the ephemeron fixpoint's
 * filing pass. Each ephemeron whose key is marked has its value pushed
 * onto tr; the others are filed under their key, which the mark then
 * reports as it marks it (tci_ephemeron_key_marked). Nonzero when it
 * pushed anything. Takes eph_lock, a batch at a time. */
int tci_ephemeron_file_all(tc_tracer *tr);
/* From the mark, any marker or mutator, with tracer tr: key was just
 * marked and its key bit was set (and is now cleared, by this caller
 * alone): the values of the ephemerons filed under it are pushed onto tr.
 * Takes eph_lock (a leaf but for work_lock, which pushing takes). */
void tci_ephemeron_key_marked(tc_tracer *tr, uintptr_t key);

/* ---- special.c: what weak references, ephemerons, finalizers share ------- */
/* From tci_roots_scan with the world stopped, or by the collector right
 * after a concurrent mark's first stop (tci_mark_special_roots), world
 * running: greys what finalizers keep (the contents of every object with
 * a finalizer, and every object queued for its finalizer, with the args).
 * Taking a queued finalizer during a mark shades its object and arg, so
 * nothing the queue held escapes the concurrent pass. */
void tci_special_roots(tc_tracer *tr);
/* Tests: the most finalizer records tci_special_roots has looked at in
 * one hold of special_lock. */
uint64_t tci_special_roots_longest_hold(void);
/* Tests: ephemerons looked at by the filing passes and made ready by
 * their keys' marking, since tc_init. */
uint64_t tci_special_ephemeron_visits(void);
/* The sweeper of span s (sweep generation sg), before it touches a mark
 * bit: weak references to the span's unmarked objects cleared, then the
 * ephemerons keyed on them, then its unmarked objects with a finalizer
 * queued and marked (kept by this sweep); then s->specials_sg = sg. Takes special_lock when the span has
 * specials (also with the world stopped: see special.c's locks). */
void tci_special_sweep(tci_span *s, uintptr_t sg);
/* Tests: weak references, ephemerons and finalizer records looked at
 * while a stop was requested or held, since tc_init. */
void tci_special_stop_visits(uint64_t *weak, uint64_t *eph, uint64_t *fins);

/* ---- cycle.c: hooks for the layers above (pool/) -------------------------- */
/* start_stw runs in every cycle's first stop, before the roots are
 * scanned (world stopped: it must not allocate or take a lock a stopped
 * thread may hold); after runs once the cycle's mark is over and the world
 * runs again, outside every collector lock, on the collecting thread.
 * Registered once, at most TCI_MAX_CYCLE_HOOKS of them. 0, or -1. */
#define TCI_MAX_CYCLE_HOOKS 4
int tci_cycle_hook_add(void (*start_stw)(void), void (*after)(void));

/* ---- roots.c --------------------------------------------------------------- */
/* With the world stopped: every root into the tracer. */
void tci_roots_scan(tc_tracer *tr);
/* The part of it a concurrent mark's first stop takes: stacks, plain root
 * ranges and root callbacks; not barriered ranges
 * (tci_roots_scan_barriered) nor what the finalizers keep
 * (tci_special_roots), which the collector greys after the world
 * restarts. */
void tci_roots_scan_stop(tc_tracer *tr);
void tci_roots_scan_barriered(tc_tracer *tr);
/* Before a concurrent mark's first stop, world running: write-protects the
 * plain ranges big enough (roots.c), so that the stop need not read them.
 * After the stop the collector scans them (tci_roots_scan_protected, from
 * tci_mark_roots_concurrent) and makes them writable again. */
void tci_roots_arm(void);
void tci_roots_scan_protected(tc_tracer *tr);
/* Bytes of plain root ranges the last first stop read itself (tests). */
uint64_t tci_roots_last_stop_range_bytes(void);
/* With the world stopped, at a mark's first stop: notes where each
 * thread's stack begins. At its last stop, tci_roots_scan_new_frames scans
 * only what lies below that (frames pushed since, and a new blocking
 * frame's registers), and whole stacks of threads attached since. */
void tci_roots_note_stacks(uint64_t mark_id);
uint64_t tci_roots_scan_new_frames(tc_tracer *tr, uint64_t mark_id);
/* Checkmark's roots, with the world stopped at the end of mark mark_id:
 * every root as tci_roots_scan has them, but the stacks as the mark's last
 * stop scans them (tci_roots_scan_new_frames): above the first stop's
 * stack start a word the first stop did not see is dead to the program
 * (see tci_mark_end_stw), and what it points to may rightly be unmarked.
 * Leaves the statistics of the roots alone. */
void tci_roots_scan_checked(tc_tracer *tr, uint64_t mark_id);
/* Bytes of root ranges and stacks scanned by the last scan, together and
 * the stacks alone. */
uint64_t tci_roots_last_bytes(void);
uint64_t tci_roots_last_stack_bytes(void);

/* ---- verify.c -------------------------------------------------------------- */
/* With the world stopped, after marking: aborts with a description if a
 * marked object points at an allocated unmarked one, or a mark bit is set
 * on a free slot. Returns the number of marked objects checked. */
uint64_t tci_verify_marks_stw(void);
/* TRICOLOR_DEBUG=checkmark=1: the same check with the roots and trace
 * callbacks included, after a concurrent mark: aborts naming the first
 * reachable object the mark missed. */
uint64_t tci_checkmark_stw(void);
/* One object's part of it (caches flushed): with a checking tracer
 * (tci_mark_check_enable), aborts naming any object obj points to that is
 * allocated and unmarked. */
void tci_checkmark_object(tc_tracer *tr, uintptr_t obj);

/* ---- scavenge.c ------------------------------------------------------------ */
/* How much heap to keep after a cycle: the larger of goal x fragmentation
 * and the spans in use at the last mark's end, x 1.1, at most 95% of the
 * memory limit (if any, memlimit >= 0) less the non-heap memory;
 * UINT64_MAX: keep everything (no goal, no limit). */
uint64_t tci_scavenge_target(uint64_t goal_bytes, double frag, uint64_t inuse_bytes,
                             int64_t memlimit, uint64_t nonheap_bytes);
/* The most an allocation may take the heap to before it returns free
 * pages itself: the limit less the non-heap memory; UINT64_MAX: none. */
uint64_t tci_scavenge_retain_limit(int64_t memlimit, uint64_t nonheap_bytes);

/* ---- cycle.c --------------------------------------------------------------- */
extern tci_config tci_cfg;     /* written at init */
/* TCI_PHASE_MARK from a concurrent cycle's first stop to its last: the
 * barrier shades and caches allocate black. Written with the world stopped. */
enum { TCI_PHASE_OFF = 0, TCI_PHASE_MARK = 1 };
extern tci_atomic tci_gcphase;
/* Bytes allocated black in this mark (premarked windows, less what went
 * unused; large objects). */
extern tci_atomic tci_black_bytes;
extern tci_atomic tci_heap_live; /* bytes allocated since last mark + marked */
extern tci_atomic tci_next_gc;   /* the heap goal; UINT64_MAX when off */
extern int tci_initialised;
/* Called on allocation slow paths with the bytes about to be taken: may run
 * a collection. -1 with errno ENOMEM (reported) when a collection is due
 * and the collector's thread cannot start: the allocation fails. */
int tci_gc_maybe_trigger(tci_thread *self, size_t bytes);
int tci_gc_stress_tick(tci_thread *self);
/* Memory outside the heap that the library's tables hold (weak,
 * ephemeron and finalizer records, profiling records): atomic adds. */
extern tci_atomic tci_other_sys_bytes;
/* tc_memstats' pacer settings (gc_percent, memory_limit, gc_cpu_limit,
 * limiter_*, gc_trigger, goal_limited), without a lock. */
void tci_pacer_read_settings(tc_memstats *out);

/* The chain of object address addr in a table of nbuckets (a power of
 * two): objects are 16-byte aligned, so the zero bits go, then Fibonacci
 * hashing. For the tables keyed by object (finalizers, profile samples). */
static inline size_t tci_addr_hash(uintptr_t addr, size_t nbuckets)
{
    return (size_t)(((addr >> 4) * 11400714819323198485ull) >> 20) & (nbuckets - 1);
}

/* ---- profile.c: sampled heap profiles ------------------------------------ */
void tci_profile_init(size_t rate);
/* A thread's next countdown to a sample, from the rate now (rng: the
 * thread's generator state); *epoch gets the rate's epoch it was drawn
 * in. tci_profile_epoch: the epoch now (+1 at every rate change). */
int64_t tci_profile_next(uint64_t *rng, uint64_t *epoch);
uint64_t tci_profile_epoch(void);
/* The calling thread's countdown drawn again from the rate now. */
void tci_cache_sample_reset(void);
/* Records the allocation of p; caller: the return address of the
 * program's call into tc_alloc*, where its stack begins. */
void tci_profile_sample(void *p, uintptr_t caller);
/* The sweeper of span s frees the slots of freed_bits in word `word`. */
void tci_profile_freed(tci_span *s, size_t word, uint64_t freed_bits);
void tci_profile_read_counts(uint64_t *rate, uint64_t *samples);

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
    int procs;
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

/* ---- stats.c: the statistics (read without a lock) ----------------------- */
void tci_stats_init(int ncpu, uint64_t now_ns);
uint64_t tci_stats_init_ns(void);
/* The world_lock holder: a stop from t0 (the request) to t1 (every held
 * thread running again), both tci_os_now_ns, with its time to stop. */
void tci_stats_record_stop(uint64_t t0, uint64_t t1, uint64_t ttsp, uint64_t restart);
/* The world_lock holder: concurrent marking's counted CPU, and idle marking. */
void tci_stats_add_mark_cpu(uint64_t cpu_ns, uint64_t idle_ns);
/* The world_lock holder, at a cycle's end (its stops recorded): returns
 * the cycle's number (num_gc after it). */
uint32_t tci_stats_record_cycle(uint64_t live, int forced, uint64_t stacks_bytes,
                                uint64_t globals_bytes);
uint32_t tci_stats_num_gc(void);
/* The cycle in progress so far (world_lock holder). */
uint32_t tci_stats_cycle_stops(void);
uint64_t tci_stats_cycle_pause_ns(void);
void tci_stats_record_assist(uint64_t ns);
double tci_stats_gc_cpu_fraction(void);
/* The sum of a histogram's values, ns (TC_HIST_*). */
uint64_t tci_stats_hist_sum(int which);
/* pool/ registers how to read its totals: hits, victim hits, misses, puts,
 * dropped (and one spare). */
void tci_stats_set_pool_totals(void (*fn)(uint64_t out[6]));
/* Stop number `stop` (0-based, counting every stop of every cycle) on
 * CLOCK_MONOTONIC (tci_os_now_ns): from the stop request to every held
 * thread running again. Returns 0 when that stop is not (or no longer) in
 * the statistics ring. */
int tci_stats_stop_interval(uint32_t stop, uint64_t *start, uint64_t *end);
/* Tests and benchmarks: with the gate held, a concurrent cycle waits after
 * its first stop (marking on, barrier on, roots grey, nothing scanned)
 * until released. tci_gate_start_cycle asks for a cycle without waiting
 * (a cycle must not be running: the gate is for a test alone with it);
 * tci_gate_wait_held blocks (as a blocked thread) until one sits there. */
void tci_gate_hold(int on);
/* The stop gate: held, the collector waits inside its next cycle's first
 * stop (the stopped collector: inside its one stop), the world stopped and
 * world_lock held, until released; tci_gate_wait_stopped blocks until it
 * sits there, and must be called inside a blocking region (or unattached):
 * leaving the region would park the caller in that stop. For the test that statistics are
 * read while a collection holds the world. */
void tci_gate_hold_stop(int on);
void tci_gate_wait_stopped(void);
uint64_t tci_gate_start_cycle(void);
void tci_gate_wait_held(void);
/* The arm gate: held, the collector waits in its next concurrent cycle
 * after write-protecting the plain root ranges, world running, before the
 * first stop; tci_gate_wait_armed blocks (as a blocked thread) until it
 * sits there. */
void tci_gate_hold_armed(int on);
void tci_gate_wait_armed(void);
/* The sweep gate: held, a concurrent cycle waits after its last stop (the
 * mark over, the world running) before its background sweep, until
 * released; tci_gate_wait_sweep_held blocks (as a blocked thread) until
 * one sits there. Spans stay unswept meanwhile unless a thread sweeps one
 * to allocate: for tests of what handles read before their sweep. */
void tci_gate_hold_sweep(int on);
void tci_gate_wait_sweep_held(void);
/* The filed gate: held, a concurrent mark waits right after its filing of
 * the ephemerons (gc/ephemeron.c), world running, the values it pushed not
 * drained yet, until released; tci_gate_wait_filed_held blocks (as a
 * blocked thread) until one sits there. For tests of keys marked by a
 * mutator after their filing. */
void tci_gate_hold_filed(int on);
void tci_gate_wait_filed_held(void);
/* Waits (as a blocked thread) until cycle `want`, as tci_gate_start_cycle
 * returned it, is done, sweep included. */
void tci_gate_wait_cycle(uint64_t want);
/* Cycles asked of the collector's thread so far (tci_gate_wait_cycle
 * waits for one of them): a test that the heap asked for a cycle, without
 * depending on how soon it runs. */
uint64_t tci_gate_cycles_requested(void);
/* Tests: waits (as a blocked thread) until the scavenger's thread has done
 * all it was asked. */
void tci_scavenge_wait_idle(void);
/* Reports a heap call from a thread that is not attached, or is inside a
 * blocking region; errno EPERM, returns NULL. */
void *tci_not_attached(const char *fn);
/* For an API call that touches the heap: 0 from an attached thread outside
 * a blocking region; otherwise reports it naming fn, errno EPERM, -1. */
int tci_check_heap_thread(const char *fn);

#endif

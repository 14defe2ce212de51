/* gc.h: the collector's internal interfaces, one section per file (each
 * section names the file that defines what it declares). For gc/ only:
 * pool/ includes collector.h, observe/ observable.h, the tests testing.h
 * (and heap.h where they test the spans themselves); gc.h includes all
 * three, so each declaration is written once. */
#ifndef TCI_GC_H
#define TCI_GC_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "collector.h" /* what pool/ sees */
#include "env.h"
#include "fork.h"
#include "heap.h"
#include "observable.h" /* also what observe/ sees of the collector */
#include "observe.h"    /* the collector's calls into observe/ */
#include "sizeclass.h"
#include "testing.h"   /* what the tests see */
#include "thread.h"
#include "tricolor.h"
#include "type.h"
#include "world.h"

/* ---- type.c: type descriptors: type.h ----------------------------------- */

/* ---- central.c: per size class and kind lists of spans ------------------- */
/* Returns a swept span of class c and kind k with at least one free slot,
 * owned by the caller (in_cache set), or NULL with errno ENOMEM. May sweep
 * spans and grow the heap. */
tci_span *tci_central_acquire(int c, int k);
/* Gives a span back after a cache used it (alloc_bits exact). */
void tci_central_release(tci_span *s);
void tci_central_init(void);
/* Sets up a small span fresh from the page heap for class c and kind k. */
void tci_central_init_span(tci_span *s, int c, int k);

/* Large objects' list, with the same swept/unswept halves. */
void tci_central_push_large(tci_span *s);
/* Sweeps one unswept span of the large list, or of class c and kind k, if
 * any (sg: tci_sweep_gen now): -1 when none was left, else the pages it
 * gave back to the page heap. */
long tci_central_sweep_large(uintptr_t sg);
long tci_central_sweep_class(int k, int c, uintptr_t sg);

/* ---- sweep.c --------------------------------------------------------------- */
/* Like Go (spanBudget), acquire sweeps at most TCI_SWEEP_BUDGET spans of
 * the class looking for room, then takes fresh pages, leaning on the
 * background sweep for the rest; the reclaimer stops there too. Sweeping
 * until room was found (what we did before there was a background sweep)
 * cost the latency experiment single allocations of 1-9 ms: its newest
 * spans, swept first (the lists are LIFO), are all live, thousands of them. */
#define TCI_SWEEP_BUDGET 100
/* Sweeps unswept spans (large ones first) until npages pages went back to
 * the page heap or none is left; returns the pages freed. Run before the
 * heap grows, so garbage is reused before new memory is mapped. */
size_t tci_sweep_reclaim(size_t npages);
/* Spans still to sweep in this cycle: set at mark termination to every span
 * in use, counted down by each sweep. */
extern tci_atomic tci_sweep_unswept_spans;
/* Sweeps s (owned by the caller). Returns 0 when s was freed to the page
 * heap (no object left), 1 otherwise. When keep is set an empty small span
 * is kept (the caller will allocate from it). */
int tci_sweep_span(tci_span *s, int keep);
/* Sweeps every span not yet swept in this cycle. */
void tci_sweep_all(void);
/* Objects freed by sweeping, per size class ([0] unused) and large ones
 * (with their bytes): atomics, read without a lock. */
void tci_sweep_read_frees(uint64_t class_frees[TCI_MAX_CLASSES], uint64_t *large_frees,
                          uint64_t *large_bytes);

/* ---- cache.c: per-thread allocation caches ------------------------------- */
int tci_cache_attach(tci_thread *t);
void tci_cache_detach(tci_thread *t);
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

/* ---- mark.c, markers.c ----------------------------------------------------- */
void tci_mark_init(int markers, int ncpu);
/* 1 when the markers can keep to their share (the kernel reports their
 * waits for a CPU): see gc/pacer.c, 5. */
int tci_mark_paced(void);
/* With the world stopped: marks everything reachable from the roots.
 * Returns the bytes marked. */
uint64_t tci_markers_stw(void);
/* Scans [lo, hi) conservatively into the tracer's marker. */
void tci_mark_range(tc_tracer *tr, uintptr_t lo, uintptr_t hi);

/* Concurrent marking (see markers.c). In the first stop: greys the roots
 * but the finalizers'. */
void tci_markers_begin_stw(void);
/* The collector, right after the first stop (world running, before the
 * drain): greys the barriered root ranges and what the finalizers keep.
 * Their size does not lengthen the stop (300,000 finalizers took it to
 * 118 ms, a 64 MiB range to 40 ms). */
void tci_markers_roots_concurrent(void);
/* The collector's thread, world running (concurrent_drain: its CPU time
 * counts as GC CPU) or stopped: the markers drain the global grey work
 * until none is left that they can see. */
void tci_markers_drain_all(int concurrent_drain);
/* Whether grey work waits in the global pool (after a flush: any at all). */
int tci_mark_has_work(void);
/* In the last stop, every tracer flushed: greys what the thread stacks
 * point to now, drains the rest and returns the bytes marked in the cycle
 * (shading and assists included; objects allocated black are counted by
 * the caches). */
uint64_t tci_markers_end_stw(void);
/* Background credit: bytes the markers have marked in this mark that no
 * assist has claimed yet; takes up to `want` of it, returns what it took.
 * tci_mark_progress: bytes marked in this mark so far, markers (as they
 * bank it) and assists together. */
uint64_t tci_mark_credit_take(uint64_t want);
uint64_t tci_mark_progress(void);
/* Bytes of mark work buffers allocated (they are kept for reuse). */
uint64_t tci_mark_buf_bytes(void);
void tci_mark_tracer_free(tc_tracer *tr);
size_t tci_mark_tracer_size(void);
/* Greys the object p points into if it is white (the write barrier). */
void tci_mark_shade(tc_tracer *tr, uintptr_t p);
/* Hands the tracer's grey objects and marked bytes to the global pool. */
void tci_mark_tracer_flush(tc_tracer *tr);
/* Scans grey objects from the global pool until `budget` bytes were scanned,
 * none is left (*no_work set) or a stop is pending; returns the bytes
 * scanned, and in *marked the bytes it marked (greyed). Keeps nothing
 * afterwards. */
size_t tci_mark_assist(tc_tracer *tr, size_t budget, int *no_work, uint64_t *marked);
/* An assist found no grey work and the heap is far past its goal: the
 * next marker to pass its sharing point puts half of its own on the
 * global list, for the next assist. With one marker nothing else shares,
 * and a depth-first mark's buffer seldom fills. */
void tci_mark_want_share(void);
/* Checkmark, world stopped, after the mark: every object a root or the
 * object obj points to must be marked; aborts naming it otherwise. */
void tci_markers_check_roots(void);
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
int tci_markers_file_ephemerons(void);
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
/* Its half for the handles alone (gc/weak_field.c's filer releases its own
 * entries). */
void tci_ephemeron_handles_key_marked(tc_tracer *tr, uintptr_t key);

/* ---- weak_field.c: weak slots and ephemeron pairs in heap objects -------- */
/* The mark scans precise objects this many bytes at a time (mark.c). */
#define TCI_SCAN_CHUNK ((size_t)128 << 10)
/* From mark.c's scan of holder obj (type t with weak slots, size bytes),
 * the range [lo, hi) of it (lo: the chunk's start, or obj): records it for
 * the clearing and pushes the values of its pairs whose keys are marked,
 * filing the others by key. checking (checkmark's tracer): records and
 * files nothing, checks the values of marked keys. */
void tci_weakfield_scan(tc_tracer *tr, int checking, const struct tc_type *t, uintptr_t obj,
                        size_t size, uintptr_t lo, uintptr_t hi);
/* key was marked and its key bit cleared by the caller: the values filed
 * under it are pushed onto tr. Takes file_lock when anything is filed. */
void tci_weakfield_key_marked(tc_tracer *tr, uintptr_t key);
/* In the mark's last stop, under world_lock: 1 when the mark recorded
 * holders, whose clearing pass is then due (the phase to set is CLEAR). */
int tci_weakfield_end_mark_stw(void);
/* In the phase CLEAR: does what is left of the clearing pass, then sets
 * the phase OFF; returns at once otherwise. Before any sweep of a span,
 * any store into a holder, and by the collector right after the stop. */
void tci_weakfield_finish(void);
/* Whether p is in an object of a type with weak slots. */
int tci_weakfield_holder(const void *p);
/* The child of a fork that abandons a mark: nothing recorded or filed. */
void tci_weakfield_fork_abandon(void);

/* ---- special.c: what weak references, ephemerons, finalizers share ------- */
/* From tci_roots_scan with the world stopped, or by the collector right
 * after a concurrent mark's first stop (tci_mark_special_roots), world
 * running: greys what finalizers keep (the contents of every object with
 * a finalizer, and every object queued for its finalizer, with the args).
 * Taking a queued finalizer during a mark shades its object and arg, so
 * nothing the queue held escapes the concurrent pass. */
void tci_special_roots(tc_tracer *tr);
/* The sweeper of span s (sweep generation sg), before it touches a mark
 * bit: weak references to the span's unmarked objects cleared, then the
 * ephemerons keyed on them, then its unmarked objects with a finalizer
 * queued and marked (kept by this sweep); then s->specials_sg = sg.
 * Takes special_lock when the span has specials (also with the world
 * stopped: see special.c's locks). */
void tci_special_sweep(tci_span *s, uintptr_t sg);

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
 * tci_markers_roots_concurrent) and makes them writable again. */
void tci_roots_arm(void);
void tci_roots_scan_protected(tc_tracer *tr);
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
 * (see tci_markers_end_stw), and what it points to may rightly be unmarked.
 * Leaves the statistics of the roots alone. */
void tci_roots_scan_checked(tc_tracer *tr, uint64_t mark_id);
/* Bytes of root ranges and stacks scanned by the last scan, together and
 * the stacks alone. */
uint64_t tci_roots_last_bytes(void);
uint64_t tci_roots_last_stack_bytes(void);

/* ---- verify.c -------------------------------------------------------------- */
/* tci_verify_marks_stw and tci_verify_checkmark_object: testing.h.
 * TRICOLOR_DEBUG=checkmark=1: the same check as verify's with the roots
 * and trace callbacks included, after a concurrent mark: aborts naming
 * the first reachable object the mark missed. */
uint64_t tci_verify_checkmark_stw(void);

/* ---- scavenge.c: the scavenger's policy and thread ------------------------- */
/* How much heap to keep after a cycle: the larger of goal x fragmentation
 * and inuse_bytes (the most spans in use over the last cycles), x 1.1, at
 * most 95% of the memory limit (if any, memlimit >= 0) less the non-heap
 * memory (*capped then set); UINT64_MAX: keep everything (no goal, no
 * limit). */
uint64_t tci_scavenge_target(uint64_t goal_bytes, double frag, uint64_t inuse_bytes,
                             int64_t memlimit, uint64_t nonheap_bytes, int *capped);
/* The epochs the heap must stay over its target before the background
 * scavenger returns the least it was over in them (without a memory
 * limit's cap; under it, at once). An epoch is one cycle at least, and at
 * least hold / (TCI_SCAV_PATIENCE - 1) long (TRICOLOR_DEBUG=scavhold). */
#define TCI_SCAV_PATIENCE 4
typedef struct tci_scav_history {
    uint64_t over[TCI_SCAV_PATIENCE];     /* by epoch, (n - 1) % TCI_SCAV_PATIENCE the
                                             current one: the least over in it */
    uint64_t start_ns[TCI_SCAV_PATIENCE]; /* when each epoch began */
    unsigned n;                           /* epochs begun */
} tci_scav_history;
/* Records `over` (what the heap retains over the target after the cycle
 * that ended at now_ns) and returns what to give back: the least it was
 * over in each of the last TCI_SCAV_PATIENCE epochs, memory none of their
 * cycles used (0 until that many are recorded). With hold_ns 0 every
 * cycle is an epoch; otherwise the memory was unused for hold_ns at least.
 * A steady heap whose need swings above the target now and then keeps its
 * pages (returned, they were faulted back a few cycles later); one past a
 * spike gives the spike back that long after. */
uint64_t tci_scavenge_least_over(tci_scav_history *h, uint64_t over, uint64_t now_ns,
                                 uint64_t hold_ns);
/* The most an allocation may take the heap to before it returns free
 * pages itself: the limit less the non-heap memory; UINT64_MAX: none. */
uint64_t tci_scavenge_retain_limit(int64_t memlimit, uint64_t nonheap_bytes);
/* After a cycle's sweep, no lock held: free pages beyond what the next
 * cycle needs go back to the OS, on the scavenger's thread. */
void tci_scavenge_after_sweep(void);
/* The heap's synchronous bound set again from the limit now (a setter). */
void tci_scavenge_replan(void);
/* tc_release_memory's part, on the calling thread (attached): every free
 * page back to the OS, as a blocked thread. */
void tci_scavenge_all(void);

/* ---- init.c: tc_init and the setters -------------------------------------- */
/* tci_env_cfg (the configuration it reads): runtime/env.h. */
/* tci_init_done: observable.h. */

/* ---- barrier.c: the phase and the barrier's marking path ------------------ */
/* The phase (TCI_PHASE_*, tci_phase): testing.h. */
/* With the world stopped, under world_lock. */
void tci_barrier_set_phase(int phase);
/* During a mark, p (0 allowed) is shaded, by the calling thread's tracer
 * (or, not attached, a shared one); outside a mark, nothing. */
void tci_barrier_shade(uintptr_t p);
void tci_barrier_shade_root(uintptr_t lo, uintptr_t hi, tc_root_fn fn, void *arg);

/* ---- control.c: the pacer's glue, the limiter, assists, GC CPU ------------ */
struct tci_pacer_config;
struct tci_pacer_mark;
/* The heap goal; UINT64_MAX when off. Written under pacer_lock. */
extern tci_atomic tci_control_next_gc;
void tci_control_init(const struct tci_pacer_config *pc);
int tci_control_ncpu(void); /* read once at tc_init */
/* The setters' part: each returns the old value (memlimit: INT64_MAX for
 * none); bytes < 0 changes nothing. */
int tci_control_set_gc_percent(int percent);
int64_t tci_control_set_memlimit(int64_t bytes);
/* Lock-free reads for the allocation paths: the trigger; whether the heap
 * with `bytes` more reaches the ceiling a memory limit holds it to (see
 * control.c's ceiling_locked; never without a limit); and that with 0
 * bytes, for a wait's loop. */
uint64_t tci_control_trigger(void);
int tci_control_past_ceiling(size_t bytes);
int tci_control_held(void);
/* Whether the CPU limiter holds cycles back now, its figures brought up to
 * date first (force: whatever the 1 ms throttle). */
int tci_control_limiter_holds_cycles(int force);
/* Under world_lock: a stop from t0 (the request) to t1 (every held thread
 * running again), with its time to stop: the statistics and GC CPU. */
void tci_control_record_stop(uint64_t t0, uint64_t t1, uint64_t ttsp);
/* A thread waited ns for the collector (gc/cycle.c's
 * wait_collector_progress): time the limiter counts as taken from the
 * program. */
void tci_control_waited(uint64_t ns);
/* A marker's slice (gc/mark.c): its counted GC CPU, its run time, and
 * whether it competed with the program for a CPU. */
void tci_control_marker_slice(uint64_t counted, uint64_t run_ns, int competed);
/* At a concurrent mark's end, world stopped: the markers', the assists'
 * and the idle marking's CPU of this mark, reset for the next. */
void tci_control_mark_cpu_take(uint64_t *markers, uint64_t *assists, uint64_t *idle);
/* Non-heap memory the library holds, which the memory limit counts:
 * metadata, the caches, the mark buffers. */
uint64_t tci_control_nonheap_bytes(const tci_heap_stats *hs);
/* The scavenger's background target and (*retain_limit) synchronous bound
 * for `nonheap` bytes outside the heap, from the pacer now; *capped: the
 * memory limit set the target. */
uint64_t tci_control_scavenge_target(uint64_t nonheap, uint64_t *retain_limit, int *capped);
/* The memory-pressure figures of the last mark; nonzero when the memory
 * limit set the goal (then unlimited_goal_bytes is filled too). */
int tci_control_pressure_info(tc_memory_pressure *info);
/* The scan work the pacer expects of the next mark, and its cons/mark. */
void tci_control_read_plan(uint64_t *expected_work, double *cons_mark);
/* Stop #1 of a concurrent mark: a new assist epoch and ratio (returned),
 * the limiter updated, and read_plan's figures. */
uint64_t tci_control_mark_begin_stw(uint64_t heap0, uint64_t *expected_work,
                                    double *cons_mark);
/* A concurrent mark's end, world stopped: m's assist and idle-time fields
 * (t_start: stop #1 asked for), then the pacer's plan of the next cycle
 * from m (mark_done also fills heap_at_end, inuse_bytes, nonheap_bytes;
 * every span unswept, the heap restarted from what the mark kept). */
void tci_control_mark_fill(struct tci_pacer_mark *m, uint64_t t_start);
void tci_control_mark_done_stw(struct tci_pacer_mark *m, uint64_t now);
/* During a mark, on an allocation slow path of `bytes`: the thread's assist
 * debt grows, and is paid past a chunk (past_ceiling: at once, at the ratio
 * past the goal, and the markers' credit does not pay). Nonzero when an
 * assist found no grey work left (the mark only waits for its end). */
int tci_control_assist(size_t bytes, int past_ceiling);
/* TRICOLOR_DEBUG=gcpacertrace: Go's line at a mark's end (and ours at 2).
 * No lock held. */
void tci_control_trace_mark(const struct tci_pacer_mark *m, uint64_t goal,
                            uint64_t expected_work, uint64_t stack_bytes, uint64_t mark_cpu,
                            double cons_before);
/* heap_live + the external bytes (tc_external_add): what the trigger and
 * the goal are compared with. */
uint64_t tci_control_paced_bytes(void);
/* After external bytes were subtracted: re-plans goal and trigger once the
 * external figure counted as live has fallen far enough (gc/external.c);
 * swept (the background sweep's end): re-plans with it whatever it is. */
void tci_control_external_freed(int swept);
/* Whether external bytes hold the goal now: the heap and the external
 * bytes at the goal or past it, and the CPU limiter off. */
int tci_control_external_held(void);
/* tc_memstats' pacer settings (gc_percent, memory_limit, gc_cpu_limit,
 * limiter_*, gc_trigger, goal_limited), without a lock. */
void tci_control_read_settings(tc_memstats *out);

/* ---- notify.c: the memory-pressure notifier -------------------------------- */
/* After a mark, no lock held: wakes the notifier when the memory limit set
 * the goal and a callback is registered. */
void tci_notify_after_mark(void);

/* ---- cycle.c: the cycle, the collector thread, requests ------------------- */
/* Bytes allocated black in this mark (premarked windows, less what went
 * unused; large objects). */
extern tci_atomic tci_cycle_black_bytes;
/* Called on allocation slow paths with the bytes about to be taken: may run
 * a collection. -1 with errno ENOMEM (reported) when a collection is due
 * and the collector's thread cannot start: the allocation fails. */
int tci_cycle_maybe_trigger(tci_thread *self, size_t bytes);
int tci_cycle_stress_tick(tci_thread *self);
/* An attached thread whose tc_external_add took the heap past the goal,
 * a cycle asked for: waits, as a blocked thread, until the collector moves
 * on (a mark starts or ends, a cycle ends) or the goal is no longer held
 * (tci_control_external_held). The concurrent collector only. */
void tci_cycle_wait_external(void);
/* Asks the collector's thread for a cycle; returns the number to wait for
 * (a cycle that starts after this call), 0 with errno ENOMEM when the
 * thread cannot start. forced == 0: dropped when a cycle is already asked
 * for or running. */
uint64_t tci_cycle_request(int forced);
/* Waits, as a blocked thread, until cycle `want` is done, sweep included. */
void tci_cycle_wait(uint64_t want);
/* Cycles asked of the collector's thread so far. */
uint64_t tci_cycle_requested(void);
/* The cycle a no-GC section held off, at its outermost end (gc/defer.c):
 * asked of the collector's thread, not waited for; in the stop-the-world
 * mode run by the caller if it may (else by the next allocation past the
 * trigger). */
void tci_cycle_start_deferred(int forced);

/* ---- defer.c: no-GC sections ----------------------------------------------- */
/* Nonzero while a section is open on any thread. */
int tci_defer_active(void);
/* A collection asked for inside a section (forced: by tc_collect): it
 * starts when the outermost section ends. */
void tci_defer_note(int forced);

/* ---- oom.c: out-of-memory recovery ------------------------------------------ */
/* The allocation of `request` bytes found no memory: runs the program's
 * callback, a full collection and a scavenge, on the allocating thread
 * with no library lock held. 1: retry once; 0: fail now (this thread is
 * recovering already: an allocation from the callback). */
int tci_oom_recover(size_t request);
/* The retry failed too: the allocation returns NULL with ENOMEM. */
void tci_oom_failed(void);
void tci_oom_read_counts(uint64_t *retries, uint64_t *failures);

/* ---- walk.c: the heap walk ---------------------------------------------------- */
/* Nonzero on the thread running a tc_heap_walk callback (allocation is
 * refused there). */
int tci_walk_in_callback(void);


/* ---- stats.c: the statistics (read without a lock) ----------------------- */
void tci_stats_init(int ncpu, uint64_t now_ns);
/* tci_stats_init_ns, tci_stats_gc_cpu_fraction, tci_stats_hist_sum and
 * tci_stats_other_sys_bytes: observable.h. */
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
/* ---- fork.c: the collector in the child of a fork -------------------------- */
/* tc_init's: installs the fork handlers (runtime/fork.c) with the
 * collector's child hooks. 0, or an errno value. */
int tci_fork_init(void);
/* The child's resets, every lock held (each file's own state). */
int tci_cycle_fork_child_locked(void);
void tci_scavenge_fork_child_locked(void);
void tci_markers_fork_child_locked(void);
void tci_notify_fork_child_locked(void);
void tci_gate_fork_child_locked(void);
int tci_finalizer_fork_child_locked(void);
/* The child's repairs, one thread, no lock held. */
void tci_finalizer_fork_restart(void);
void tci_mark_fork_abandon(void);
void tci_ephemeron_fork_unfile_all(void);
void tci_roots_fork_disarm(void);
int tci_central_fork_locks_held(void);
uint64_t tci_central_fork_count(void);
void tci_central_fork_locks_anew(void);
void tci_central_fork_rebuild(void);
/* gc/defer.c: the child keeps only its thread's own no-GC sections. */
void tci_defer_fork_child(void);

/* ---- external.c: memory held outside the heap (tc_external_add) ---------- */
/* E, the total reported; what finalizers subtracted and every addition
 * (both monotone); the lowest E since tci_external_low_reset(e) (stop #1). */
uint64_t tci_external_bytes(void);
uint64_t tci_external_fin_freed(void);
uint64_t tci_external_added(void);
uint64_t tci_external_low(void);
void tci_external_low_reset(uint64_t e);
/* Nonzero while the calling thread runs a finalizer (gc/finalizer.c). */
int tci_finalizer_in_progress(void);

/* ---- gate.c: the test and benchmark gates ---------------------------------- */
/* The collector at each gate: waits there while a test holds it. */
void tci_gate_pass_mark(void);
void tci_gate_pass_stop(void);
void tci_gate_pass_sweep(void);
void tci_gate_pass_filed(void);
void tci_gate_pass_armed(void);
/* Nonzero while the mark gate is held: nothing may scan (assists too). */
int tci_gate_mark_closed(void);


#endif

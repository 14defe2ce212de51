/* testing.h: what the tests and benchmarks see of the collector beyond
 * the public API: the gates that hold a cycle at a known step, counters
 * kept for tests, and the few internals they read (the phase, the sweep
 * generation; the configuration is env.h's) or call (a cache's flush, the collector
 * thread's warm-up, for the lock checks). Not the span layout: a test of
 * the heap itself includes heap.h. The collector's files get the same
 * declarations through gc.h. */
#ifndef TCI_TESTING_H
#define TCI_TESTING_H

#include <stdint.h>

#include "atomic.h"
#include "collector.h"
#include "env.h"
#include "fork.h" /* tci_fork_count */
#include "thread.h"
#include "world.h"
#include "tricolor.h"

/* ---- gc/gate.c ----------------------------------------------------------- */
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
/* ---- gc/control.c ------------------------------------------------------- */
/* The time threads waited for the collector at a memory limit's ceiling
 * so far, which the CPU limiter counts as taken from the program. */
uint64_t tci_control_waited_ns(void);

/* ---- gc/special.c -------------------------------------------------------- */
/* Tests: the most finalizer records tci_special_roots has looked at in
 * one hold of special_lock. */
uint64_t tci_special_roots_longest_hold(void);

/* Tests: ephemerons looked at by the filing passes and made ready by
 * their keys' marking, since tc_init. */
uint64_t tci_special_ephemeron_visits(void);

/* Tests: weak references, ephemerons and finalizer records looked at
 * while a stop was requested or held, since tc_init. */
void tci_special_stop_visits(uint64_t *weak, uint64_t *eph, uint64_t *fins);

/* ---- gc/stats.c ---------------------------------------------------------- */
/* Stop number `stop` (0-based, counting every stop of every cycle) on
 * CLOCK_MONOTONIC (tci_os_now_ns): from the stop request to every held
 * thread running again. Returns 0 when that stop is not (or no longer) in
 * the statistics ring. */
int tci_stats_stop_interval(uint32_t stop, uint64_t *start, uint64_t *end);

/* ---- gc/scavenge.c ------------------------------------------------------- */
/* Tests: waits (as a blocked thread) until the scavenger's thread has done
 * all it was asked. */
void tci_scavenge_wait_idle(void);
/* Tests: the scavenger's hold (TRICOLOR_DEBUG=scavhold) from now on; 0
 * makes every cycle an epoch, so that a test's back-to-back collections
 * return a spike's memory after a known number of them. */
void tci_scavenge_set_hold_ms(unsigned ms);

/* ---- gc/roots.c ---------------------------------------------------------- */
/* Bytes of plain root ranges the last first stop read itself (tests). */
uint64_t tci_roots_last_stop_range_bytes(void);

/* ---- gc/mark.c ----------------------------------------------------------- */
/* The markers of a mark, the collector's thread included. */
int tci_mark_workers(void);
/* Times a marker stepped aside to keep to its share; and, for tests, a
 * switch that makes every marker's slice count as competing for a CPU. */
uint64_t tci_mark_steps_aside(void);
extern tci_atomic tci_mark_pace_test_compete;

/* Precise pointer slots the marks have read since tc_init, as the
 * markers and assists hand their counts in (at each mark's end, at each
 * tracer flush): a mark reads each slot of a live precise object once. */
uint64_t tci_mark_slots_read(void);
/* A mutator's tracer, for its barrier and assists. */
tc_tracer *tci_mark_tracer_new(void);
/* A checking tracer (checkmark): tci_verify_checkmark_object reports
 * through it. */
void tci_mark_check_enable(tc_tracer *tr);

/* ---- gc/verify.c --------------------------------------------------------- */
/* With the world stopped, after marking: aborts with a description if a
 * marked object points at an allocated unmarked one, or a mark bit is set
 * on a free slot. Returns the number of marked objects checked. */
uint64_t tci_verify_marks_stw(void);
/* One object's part of it (caches flushed): with a checking tracer
 * (tci_mark_check_enable), aborts naming any object obj points to that is
 * allocated and unmarked. */
void tci_verify_checkmark_object(tc_tracer *tr, uintptr_t obj);

/* ---- gc/markers.c -------------------------------------------------------- */
/* The collector's thread as it starts, world running, world_lock held:
 * the helper threads and a few work buffers made now, not in the first
 * cycle's stop. */
void tci_markers_warm_locked(void);
/* Cycles in which helper markers joined (the grey list outgrew a buffer). */
uint64_t tci_markers_parallel_cycles(void);
/* Concurrent drains that woke the helper markers, and those that left
 * them out because the program's running threads and the collector's
 * marker took every CPU (gc/markers.c). */
void tci_markers_drain_counts(uint64_t *helped, uint64_t *alone);

/* ---- gc/barrier.c -------------------------------------------------------- */
/* TCI_PHASE_MARK from a concurrent cycle's first stop to its last: the
 * barrier shades and caches allocate black. The phase is the public
 * header's tc_barrier_enabled_ (one variable), written with every attached
 * thread stopped; an attached running thread reads it relaxed (see
 * barrier.c). */
/* TCI_PHASE_CLEAR after a mark that found holders of weak slots, until
 * their clearing pass is done (gc/weak_field.c): the barrier's flag stays
 * up, so tc_store and tc_load_weak take their slow paths, but nothing is
 * shaded and nothing allocated black. It alone ends with the world
 * running (a release CAS to OFF). */
enum { TCI_PHASE_OFF = 0, TCI_PHASE_MARK = 1, TCI_PHASE_CLEAR = 2 };
static inline int tci_phase(void)
{
    return tci_int_load_relaxed(&tc_barrier_enabled_);
}

/* ---- gc/weak_field.c ----------------------------------------------------- */
/* The clearing passes' counts since tc_init: weak slots and pairs read,
 * cleared, read while a stop was requested or held, the ns they took;
 * pairs filed by key, and filed while a stop was requested or held. */
typedef struct tci_weakfield_stats {
    uint64_t pass_slots, pass_cleared, pass_stop_slots, pass_ns, filed, stop_filed;
} tci_weakfield_stats;
void tci_weakfield_counts(tci_weakfield_stats *out);

/* ---- gc/sweep.c ---------------------------------------------------------- */
/* The global sweep generation: 2 more at every mark termination. A span with
 * sweepgen == g - 2 needs sweeping, g - 1 is being swept, g is swept. Written
 * only with the world stopped. */
extern tci_atomic tci_sweep_gen;

/* ---- gc/cache.c ---------------------------------------------------------- */
/* Returns every span the thread's cache holds to the centrals. With the world
 * stopped or by the owner. */
void tci_cache_flush(tci_thread *t);

#endif

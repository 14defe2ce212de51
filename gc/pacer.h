/* pacer.h: when to collect and how hard to assist. Pure: numbers in,
 * numbers out, no clock, no locks (the caller serialises calls and passes
 * every time in), so tests/test_pacer.c drives it as a simulation. */
#ifndef TCI_PACER_H
#define TCI_PACER_H

#include <stdint.h>

#define TCI_PACER_NONE UINT64_MAX /* no goal: proportional collection off, no limit */

typedef struct tci_pacer_config {
    int gc_percent;         /* TRICOLOR_GC: >= 0, or -1 for off */
    int64_t memlimit_bytes; /* TRICOLOR_MEMLIMIT: > 0, or -1 for none */
    int cpu_limit_pct;      /* TRICOLOR_GC_CPU_LIMIT: 1..100 */
    int ncpu;               /* CPUs the process may use, >= 1 */
    int markers;            /* background markers; 0: the stopped collector
                               (gcstoptheworld), whose every cycle is GC CPU */
    int markers_paced;      /* the markers keep to their share when they compete
                               for a CPU (tci_pacer_marker_slice): what they
                               count is at most TCI_BACKGROUND_PCT of the CPUs */
} tci_pacer_config;

/* The markers' share of all CPUs when the program wants them all (Go's
 * gcBackgroundUtilization). */
#define TCI_BACKGROUND_PCT 25
/* A marker that waited for a CPU for 1/16 of a slice competed for it. */
#define TCI_WAIT_SHARE 16

/* The cycles whose most in-use span bytes the scavenger keeps room for.
 * The figure at a mark's end is not what the heap held: the program goes
 * on taking spans while the sweep frees the dead ones, and the figure
 * swings from cycle to cycle (one that starts a little late ends with more
 * spans); memory returned below the largest of a few cycles' peaks is
 * faulted back at once (4 KiB objects in a steady state, the mark's end
 * figure alone: a third of all pages, 10K faults in 300 cycles). */
#define TCI_PACER_INUSE_MARKS 4

/* What a finished mark measured, passed to tci_pacer_mark_done. */
typedef struct tci_pacer_mark {
    uint64_t marked_bytes;    /* M: objects the mark proved reachable (not the
                                 ones allocated black during it) */
    uint64_t black_bytes;     /* allocated during the mark */
    uint64_t root_bytes;      /* R: stacks and root ranges scanned */
    uint64_t heap_at_trigger; /* heap_live when the cycle started */
    uint64_t heap_at_end;     /* heap_live when the mark ended */
    uint64_t inuse_bytes;     /* bytes of in-use spans at the end of the mark */
    uint64_t inuse_peak_bytes; /* the most in use since the last mark's end
                                  (0: no span taken since); the pacer takes
                                  the larger of it and inuse_bytes */
    uint64_t nonheap_bytes;   /* mapped, unreleased and not spans: metadata,
                                 caches, mark buffers */
    uint64_t assist_bytes;    /* of marked_bytes, what assists marked */
    uint64_t mark_ns;         /* wall time from stop #1 to the last stop */
    uint64_t idle_alloc_bytes, idle_ns; /* allocated, and wall time, from the
                                 previous mark's end to this cycle's start */
    uint64_t start_delay_ns;  /* from the trigger to the mark under way (the
                                 collector waking, the sweep, stop #1) */
    uint64_t external_bytes;  /* X: external bytes (tc_external_add) live at
                                 stop #1, counted beside M (not scan work) */
    uint64_t external_black_bytes; /* external bytes added during the mark */
} tci_pacer_mark;

/* The least runway_scale: a quarter of what the rates say. */
#define TCI_PACER_RUNWAY_MIN 0.25

typedef struct tci_pacer {
    tci_pacer_config cfg;
    uint64_t cycles;        /* marks seen */
    uint64_t live_bytes;    /* M of the last mark */
    uint64_t root_bytes;    /* R of the last mark */
    uint64_t base_bytes;    /* heap_live the next cycle starts from (M + black) */
    uint64_t nonheap_bytes; /* of the last mark */
    uint64_t external_bytes; /* X: external bytes counted as live (the mark's
                               figure, lowered by tci_pacer_set_external as
                               finalizers free what the mark found dead);
                               goal and trigger are in heap_live + external */
    uint64_t external_black_bytes; /* of the last mark: in the trigger's base */
    double frag;            /* in-use span bytes per heap_live byte, >= 1 */
    uint64_t inuse_bytes;   /* in-use span bytes at the last mark's end */
    uint64_t inuse_recent[TCI_PACER_INUSE_MARKS]; /* inuse_peak_bytes of
                               the last marks, by cycles % TCI_PACER_INUSE_MARKS */
    uint64_t inuse_peak;    /* the largest of inuse_recent: what the
                               scavenger keeps (a heap that reached it in
                               one of those cycles reaches it again) */
    double alloc_rate;      /* bytes allocated per ns outside marks, smoothed */
    double mark_rate;       /* bytes the markers mark per ns (assists not
                               counted), smoothed; 0 until measured */
    double delay_ns;        /* start_delay_ns, smoothed */
    double runway_scale;    /* what the runway the rates give is scaled by,
                               in [TCI_PACER_RUNWAY_MIN, 1]: lowered while
                               marks the markers did end well before the
                               goal, raised again by one that ends past it */
    double cons_mark;       /* alloc_rate / mark_rate: bytes the program
                               allocates per byte the markers alone mark;
                               negative until both are measured */
    uint64_t goal_bytes;    /* heap_live to finish the next mark by */
    uint64_t trigger_bytes; /* heap_live at which the next cycle starts */
    int limited;            /* the memory limit, not TRICOLOR_GC, set the goal */
    /* The GC CPU limiter: a bucket filled by GC CPU time and drained by the
     * CPU time the limit allows it (cpu_limit_pct of the GC and program
     * CPU time), capped at capacity_ns; engaged while full. */
    int64_t bucket_ns, capacity_ns;
    int engaged;
    uint64_t engaged_cycle; /* the last cycle (1-based) in which it engaged; 0: never */
    uint64_t engagements;   /* times it turned on */
} tci_pacer;

void tci_pacer_init(tci_pacer *p, const tci_pacer_config *cfg);

/* A new TRICOLOR_GC or memory limit: goal and trigger follow at once, from
 * the last mark's figures. */
void tci_pacer_set_gc_percent(tci_pacer *p, int gc_percent);
void tci_pacer_set_memlimit(tci_pacer *p, int64_t memlimit_bytes);

/* What the embedder holds outside the heap for live objects changed
 * (tc_external_add): goal and trigger follow at once. */
void tci_pacer_set_external(tci_pacer *p, uint64_t external_bytes);

/* The end of a mark: the next goal, trigger and the rate estimates. */
void tci_pacer_mark_done(tci_pacer *p, const tci_pacer_mark *m);

/* Marking owed per byte allocated, x 1024, for a mutator allocating during
 * a mark with the heap at heap_live and done_bytes of the expected work
 * (roots, then marked bytes) done. 0 only while the limiter is engaged; at
 * least 1 otherwise. */
uint64_t tci_pacer_assist_ratio(const tci_pacer *p, uint64_t heap_live, uint64_t done_bytes);

/* Whether the collector must wait before starting a cycle: the limiter is
 * engaged and the markers alone would take more than the limit; for the
 * stopped collector, whenever it is engaged (its cycles are nothing but
 * GC CPU, and there are no assists to turn off instead). */
int tci_pacer_hold_cycles(const tci_pacer *p);

/* The limiter: gc_cpu_ns of GC CPU time and mutator_ns of the program's
 * own CPU time (not its assists) over a span of wall_ns. */
void tci_pacer_limiter_update(tci_pacer *p, uint64_t gc_cpu_ns, uint64_t mutator_ns,
                              uint64_t wall_ns);

/* One background marker's slice: wall_ns of wall time in which it ran
 * run_ns and waited wait_ns for a CPU (runnable, on a run queue). known:
 * the kernel reported the wait (without it, the marker is taken to have
 * competed for its CPU). share_1024: the marker's share of one CPU, x 1024.
 * owed (in/out): the GC CPU it has counted beyond its share this mark.
 * Returns the GC CPU time to count for the slice; the rest of run_ns was
 * a CPU the program left idle. *sleep_ns: how long the marker should step
 * aside now to keep to its share (0: go on). */
uint64_t tci_pacer_marker_slice(uint64_t share_1024, uint64_t wall_ns, uint64_t run_ns,
                                uint64_t wait_ns, int known, int64_t *owed, uint64_t *sleep_ns);

/* The goal the memory limit alone would set (TCI_PACER_NONE without one). */
uint64_t tci_pacer_limit_goal(const tci_pacer *p);

#endif

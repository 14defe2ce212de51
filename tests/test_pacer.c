/* test_pacer.c: the pacer as a deterministic simulation, no clock.
 *
 * A simulated program allocates at a rate, keeps a live set of a given
 * size (everything else it allocates dies), and a simulated collector
 * marks at a fixed rate on one of two CPUs, stopping twice per cycle. The
 * pacer (gc/pacer.c) decides, as in the library, when each cycle starts
 * (trigger), how much each allocation during a mark pays in assists, and
 * whether the GC CPU limiter holds the collector back. Time advances in
 * steps of 100 us. Each scenario runs many cycles and checks, at every
 * cycle, the goal against its formula, the trigger against its bounds, the
 * assist ratio and the limiter's state, and over the run how high the heap
 * got against the goal and how much CPU collecting took.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pacer.h"

#define MiB ((uint64_t)1 << 20)
#define STEP_NS 100000ull /* 100 us of simulated time per step */
#define START_DELAY 10    /* steps from the trigger to the first stop: 1 ms */

typedef struct scenario {
    const char *name;
    int gc_percent;
    int64_t memlimit;
    int cpu_limit_pct;
    uint64_t root_bytes;
    uint64_t nonheap_bytes;
    /* The live set at step i: from live0 to live1, linearly over
     * ramp_steps, then steady. */
    uint64_t live0, live1, ramp_steps;
    uint64_t alloc_per_step;       /* bytes the program allocates per step */
    uint64_t spike_from, spike_to; /* steps with alloc x spike_factor */
    uint64_t spike_factor;
    uint64_t mark_per_step;        /* bytes a marker marks per step */
    uint64_t mark_alloc_permille;  /* the program's rate during a mark (the
                                      barrier, the stops), per mille of its
                                      rate; 0: the same */
    uint64_t steps;
} scenario;

typedef struct outcome {
    uint64_t cycles, max_heap, max_goal_overshoot_permille, last_goal, last_trigger;
    uint64_t max_ratio, limited_cycles, engaged_steps;
    uint64_t goal_below_kept; /* cycles after which the goal left no room over what was kept */
    uint64_t assist_total, marked_total; /* bytes marked by assists, in all */
    uint64_t last_end, last_base;        /* the last mark's heap at its end, and what it kept */
    double gc_cpu_fraction;
    tci_pacer p;
} outcome;

static uint64_t live_at(const scenario *s, uint64_t step)
{
    if (step >= s->ramp_steps)
        return s->live1;
    if (s->live1 >= s->live0)
        return s->live0 + (s->live1 - s->live0) * step / s->ramp_steps;
    return s->live0 - (s->live0 - s->live1) * step / s->ramp_steps;
}

/* The goal's formula, written out again from the documentation. */
static uint64_t expected_goal(const scenario *s, const tci_pacer *p)
{
    uint64_t g = TCI_PACER_NONE;
    if (s->gc_percent >= 0) {
        uint64_t room = (p->live_bytes + p->root_bytes) * (uint64_t)s->gc_percent / 100;
        g = p->live_bytes + room;
        if (g < p->base_bytes + room / 2)
            g = p->base_bytes + room / 2; /* what the cycle kept, and half the room */
        uint64_t min = (4 * MiB) * (uint64_t)s->gc_percent / 100;
        if (g < min)
            g = min;
    }
    if (s->memlimit >= 0) {
        uint64_t limit = (uint64_t)s->memlimit;
        uint64_t reserved = p->nonheap_bytes + limit * 3 / 100;
        uint64_t l = reserved >= limit ? 0 : (uint64_t)((double)(limit - reserved) / p->frag);
        if (l < g)
            g = l;
    }
    return g;
}

static void simulate(const scenario *s, outcome *o)
{
    memset(o, 0, sizeof *o);
    tci_pacer_config cfg = {
        .gc_percent = s->gc_percent,
        .memlimit_bytes = s->memlimit,
        .cpu_limit_pct = s->cpu_limit_pct,
        .ncpu = 2,
        .markers = 1,
    };
    tci_pacer *p = &o->p;
    tci_pacer_init(p, &cfg);
    uint64_t heap = live_at(s, 0); /* allocated and not yet swept */
    int marking = 0, starting = 0;
    uint64_t trigger_step = 0;
    uint64_t snapshot_live = 0, work = 0, done = 0, heap_at_trigger = 0;
    uint64_t credit = 0, assisted = 0, mark_start = 0, idle_start = 0, idle_heap = heap, idle_alloc = 0;
    uint64_t gc_cpu_total = 0;
    for (uint64_t step = 0; step < s->steps; step++) {
        uint64_t alloc = s->alloc_per_step;
        if (step >= s->spike_from && step < s->spike_to)
            alloc *= s->spike_factor;
        if (marking && s->mark_alloc_permille)
            alloc = alloc * s->mark_alloc_permille / 1000;
        uint64_t gc_cpu = 0, mut_gc = 0; /* mut_gc: of gc_cpu, on the program's CPU */
        if (!marking && !starting && heap >= p->trigger_bytes && !tci_pacer_hold_cycles(p)) {
            starting = 1; /* the collector wakes: START_DELAY steps */
            trigger_step = step;
        }
        if (starting && step - trigger_step >= START_DELAY) {
            starting = 0;
            /* Stop #1: the snapshot is what is live now. 20 us x 2 CPUs. */
            marking = 1;
            snapshot_live = live_at(s, step);
            work = snapshot_live + s->root_bytes;
            done = 0;
            heap_at_trigger = heap;
            idle_alloc = heap - idle_heap;
            assisted = 0;
            mark_start = step;
            credit = 0;
            gc_cpu += 2 * 20000;
            mut_gc += 20000;
        }
        if (marking) {
            /* The marker runs the whole step on one CPU and banks what it
             * marks as credit. The program, on the other, owes for what it
             * allocates at the assist ratio, pays from the credit first
             * (as in the library: tci_mark_credit_take) and marks the rest
             * itself at the marker's speed: allocating a bytes and marking
             * what the credit does not cover must fit in the step. */
            credit += s->mark_per_step;
            done += s->mark_per_step;
            uint64_t ratio = tci_pacer_assist_ratio(p, heap, done);
            if (p->cycles > 2 && ratio > o->max_ratio)
                o->max_ratio = ratio; /* once the estimates are measured */
            double r = (double)ratio / 1024.0, m = (double)s->mark_per_step;
            uint64_t assist = 0;
            if (r * (double)alloc <= (double)credit) {
                credit -= (uint64_t)(r * (double)alloc);
            } else {
                double a = (1.0 + (double)credit / m) / (1.0 / (double)alloc + r / m);
                assist = (uint64_t)(r * a) - credit;
                credit = 0;
                alloc = (uint64_t)a;
            }
            done += assist;
            assisted += assist;
            o->assist_total += assist;
            o->marked_total += s->mark_per_step + assist;
            gc_cpu += STEP_NS + (uint64_t)((double)assist / m * STEP_NS);
            mut_gc += (uint64_t)((double)assist / m * STEP_NS);
        }
        heap += alloc;
        if (heap > o->max_heap)
            o->max_heap = heap;
        if (p->goal_bytes != TCI_PACER_NONE && p->cycles > 2 && heap > p->goal_bytes) {
            uint64_t over = (heap - p->goal_bytes) * 1000 / p->goal_bytes;
            if (over > o->max_goal_overshoot_permille)
                o->max_goal_overshoot_permille = over;
        }
        if (marking && done >= work) {
            /* Stop #2 and the sweep: what was live at the snapshot plus
             * what was allocated since (black) survives. */
            marking = 0;
            gc_cpu += 2 * 30000;
            mut_gc += 30000;
            uint64_t black = heap - heap_at_trigger;
            tci_pacer_mark m = {
                .marked_bytes = snapshot_live,
                .black_bytes = black,
                .root_bytes = s->root_bytes,
                .heap_at_trigger = heap_at_trigger,
                .heap_at_end = heap,
                .inuse_bytes = heap + heap / 16, /* 1/16 lost to fragmentation */
                .nonheap_bytes = s->nonheap_bytes,
                .assist_bytes = assisted,
                .mark_ns = (step + 1 - mark_start) * STEP_NS,
                .idle_alloc_bytes = idle_alloc,
                .idle_ns = (mark_start - idle_start) * STEP_NS,
                .start_delay_ns = (mark_start - trigger_step) * STEP_NS,
            };
            tci_pacer_mark_done(p, &m);
            o->last_end = heap;
            o->last_base = snapshot_live + black;
            heap = snapshot_live + black;
            idle_start = step + 1;
            idle_heap = heap;
            o->cycles++;
            if (p->limited)
                o->limited_cycles++;
            /* Every cycle: the goal is its formula, the trigger within its
             * bounds. */
            assert_int_equal(p->goal_bytes, expected_goal(s, p));
            if (!p->limited && p->goal_bytes != TCI_PACER_NONE &&
                p->goal_bytes <= snapshot_live + black)
                o->goal_below_kept++;
            if (p->goal_bytes != TCI_PACER_NONE) {
                uint64_t base = snapshot_live + black;
                if (p->goal_bytes <= base) {
                    assert_int_equal(p->trigger_bytes, base);
                } else {
                    assert_true(p->trigger_bytes >= base);
                    assert_true(p->trigger_bytes <= base + (p->goal_bytes - base) * 95 / 100 + 1);
                }
            }
        }
        /* The program runs on its CPU but for its assists (and the
         * stops, which count as GC CPU on every CPU). */
        uint64_t prog = STEP_NS - (mut_gc < STEP_NS ? mut_gc : STEP_NS);
        tci_pacer_limiter_update(p, gc_cpu, prog, STEP_NS);
        if (p->engaged) {
            o->engaged_steps++;
            assert_int_equal(tci_pacer_assist_ratio(p, heap, done), 0);
        }
        gc_cpu_total += gc_cpu;
    }
    o->last_goal = p->goal_bytes;
    o->last_trigger = p->trigger_bytes;
    o->gc_cpu_fraction = (double)gc_cpu_total / ((double)s->steps * STEP_NS * 2);
    printf("  %-28s %4llu cycles, heap max %6.1f MiB, goal %6.1f MiB, over goal %4.1f%%, "
           "max ratio %5.2f, limited %llu, limiter on %llu steps, GC CPU %4.1f%%, cons/mark %.2f\n",
           s->name, (unsigned long long)o->cycles, o->max_heap / (double)MiB,
           p->goal_bytes == TCI_PACER_NONE ? 0.0 : p->goal_bytes / (double)MiB,
           o->max_goal_overshoot_permille / 10.0, o->max_ratio / 1024.0,
           (unsigned long long)o->limited_cycles, (unsigned long long)o->engaged_steps,
           o->gc_cpu_fraction * 100, p->cons_mark);
}

/* A program with the same live set throughout: 100 MiB, allocating 1 GiB/s
 * (100 KiB per 100 us), marked at 8 GiB/s by one marker (about what the
 * steady-state benchmark shows: its payloads are not scanned). */
static scenario steady(int pct)
{
    return (scenario){
        .name = "steady",
        .gc_percent = pct, .memlimit = -1, .cpu_limit_pct = 50,
        .root_bytes = 256 << 10, .nonheap_bytes = 2 * MiB,
        .live0 = 100 * MiB, .live1 = 100 * MiB, .ramp_steps = 1,
        .alloc_per_step = 100 << 10, .mark_per_step = 800 << 10,
        .steps = 200000, /* 20 s */
    };
}

/* A program that allocates at a third of its rate while a mark runs (the
 * barrier, the stops): the rates, measured between marks, plan three times
 * the runway the mark uses, and marks ended half-way to the goal, a cycle
 * twice as often as the goal asks (a ring of 256-byte objects, in
 * tcbench). The runway is scaled down until marks end within a third of
 * the way of the goal, and the heap stays under it. */
static void test_pacer_runway_learns_slow_marks(void **state)
{
    (void)state;
    scenario s = steady(100);
    s.name = "slow during marks";
    s.mark_alloc_permille = 330;
    s.mark_per_step = 200 << 10; /* marks of 50 ms: the runway matters */
    outcome o;
    simulate(&s, &o);
    printf("  last mark: ended at %.1f MiB, kept %.1f, goal %.1f; runway x%.2f\n",
           o.last_end / (double)MiB, o.last_base / (double)MiB, o.last_goal / (double)MiB,
           o.p.runway_scale);
    assert_true(o.p.runway_scale < 0.6);
    assert_true(o.last_end <= o.last_goal);
    assert_true(o.last_goal - o.last_end <= (o.last_goal - o.last_base) / 3 + (1 << 20));
    assert_true(o.max_goal_overshoot_permille <= 20);
    assert_true(o.assist_total * 10 < o.marked_total);
    /* The same program at one rate throughout keeps the runway it plans. */
    s.mark_alloc_permille = 0;
    simulate(&s, &o);
    assert_true(o.p.runway_scale == 1.0);
}

static void test_pacer_steady_state(void **state)
{
    (void)state;
    static const int pcts[] = {50, 100, 200};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        scenario s = steady(pcts[i]);
        outcome o;
        simulate(&s, &o);
        assert_true(o.cycles > 20);
        /* The goal: the live set plus GC% of it and the roots. */
        uint64_t want = 100 * MiB + (100 * MiB + (256 << 10)) * (uint64_t)pcts[i] / 100;
        assert_int_equal(o.last_goal, want);
        /* The heap stays at the goal: the trigger leaves room for the
         * allocation during a mark, and assists make up the rest. */
        assert_true(o.max_goal_overshoot_permille <= 20);
        assert_true(o.max_heap <= o.last_goal);
        /* The markers do the marking: assists draw on their credit and
         * mark almost nothing themselves. */
        assert_true(o.assist_total * 100 < o.marked_total);
        assert_true(o.max_ratio < 64 * 1024);
        assert_int_equal(o.limited_cycles, 0);
        assert_int_equal(o.engaged_steps, 0);
        assert_int_equal(o.p.engagements, 0);
        /* The trigger leaves the mark the runway it needs, from the rates
         * measured: 1 GiB/s allocated, 8 GiB/s marked. */
        assert_true(o.p.cons_mark > 0.125 * 0.9 && o.p.cons_mark < 0.125 * 1.1);
        assert_true(o.last_trigger < o.last_goal);
    }
}

/* Three times the allocation rate for 0.5 s, then back. */
static void test_pacer_allocation_spike(void **state)
{
    (void)state;
    scenario s = steady(100);
    s.name = "allocation spike";
    s.spike_from = 50000;
    s.spike_to = 55000;
    s.spike_factor = 3;
    outcome o;
    simulate(&s, &o);
    /* The assists hold the heap near the goal while the rate is three
     * times what the trigger planned for: the ratio climbs. */
    assert_true(o.max_goal_overshoot_permille <= 20);
    assert_true(o.max_ratio > 8 * 1024);
    assert_true(o.assist_total > 0);
    /* After the spike, the estimate comes back: the trigger sits where the
     * steady state puts it again. */
    scenario q = steady(100);
    outcome base;
    simulate(&q, &base);
    assert_true(o.p.cons_mark < base.p.cons_mark * 1.2);
    assert_int_equal(o.engaged_steps, 0);
}

/* 100 KiB live: the goal is the heap minimum, 4 MiB x GC/100. */
/* A heap built during long marks (issue 15: one object of a type with
 * millions of fields marked for seconds while the program filled 5 GB):
 * live grows from 4 to 400 MiB over 4 s, a marker marks 80 MB/s. A goal
 * from the marked bytes alone fell below what the cycle kept (everything
 * built during the mark), and the cycles ran back to back; the goal never
 * leaves less than half its room over what a cycle kept. */
static void test_pacer_heap_built_during_long_marks(void **state)
{
    (void)state;
    scenario s = {
        .name = "built during long marks",
        .gc_percent = 100, .memlimit = -1, .cpu_limit_pct = 50,
        .root_bytes = 64 << 10, .nonheap_bytes = 2 * MiB,
        .live0 = 4 * MiB, .live1 = 400 * MiB, .ramp_steps = 40000,
        .alloc_per_step = 100 << 10, .mark_per_step = 8 << 10,
        .steps = 60000,
    };
    outcome o;
    simulate(&s, &o);
    assert_true(o.cycles > 3);
    assert_int_equal(o.goal_below_kept, 0);
    /* The steady scenarios are unchanged by the floor: short marks keep
     * little black. */
    scenario st = steady(100);
    simulate(&st, &o);
    assert_int_equal(o.goal_below_kept, 0);
    assert_int_equal(o.last_goal, 100 * MiB + (100 * MiB + (256 << 10)));
}

static void test_pacer_tiny_heap(void **state)
{
    (void)state;
    scenario s = steady(100);
    s.name = "tiny heap";
    s.live0 = s.live1 = 100 << 10;
    s.root_bytes = 16 << 10;
    s.alloc_per_step = 8 << 10;
    outcome o;
    simulate(&s, &o);
    assert_int_equal(o.last_goal, 4 * MiB);
    assert_true(o.max_heap <= 4 * MiB + 4 * MiB / 20);
    assert_int_equal(o.engaged_steps, 0);
    s.gc_percent = 50;
    simulate(&s, &o);
    assert_int_equal(o.last_goal, 2 * MiB);
}

/* The live set grows from 50 to 300 MiB under a 200 MiB limit. */
static void test_pacer_live_heap_grows_past_limit(void **state)
{
    (void)state;
    scenario s = steady(100);
    s.name = "live grows past the limit";
    s.memlimit = (int64_t)(200 * MiB);
    s.live0 = 50 * MiB;
    s.live1 = 300 * MiB;
    s.ramp_steps = 100000;
    s.steps = 150000;
    outcome o;
    simulate(&s, &o);
    /* Limited once 2 x live no longer fits, and then the goal is what
     * fits: at the end the live set alone is over the limit. */
    assert_true(o.limited_cycles > 0);
    assert_true(o.p.limited);
    assert_true(o.last_goal < 200 * MiB);
    /* Collecting all the time would take 50%+ of the CPU: the limiter
     * holds it to the cap, plus its window. */
    assert_true(o.p.engagements > 0);
    assert_true(o.gc_cpu_fraction <= 0.50 + 0.05);
}

/* A 64 MiB limit under a 100 MiB live set, with the limiter at 50% and
 * at 25%. The run completes and GC CPU stays under the cap plus 5 points. */
static void test_pacer_limit_below_live(void **state)
{
    (void)state;
    static const int caps[] = {50, 25};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        scenario s = steady(100);
        s.name = caps[i] == 50 ? "limit below live, cap 50%" : "limit below live, cap 25%";
        s.memlimit = (int64_t)(64 * MiB);
        s.cpu_limit_pct = caps[i];
        outcome o;
        simulate(&s, &o);
        assert_true(o.p.limited);
        assert_true(o.last_goal < 64 * MiB);
        assert_true(o.p.engagements > 0);
        assert_true(o.p.engaged_cycle > 0);
        assert_true(o.cycles > 10);
        assert_true(o.gc_cpu_fraction <= caps[i] / 100.0 + 0.05);
    }
}

/* TRICOLOR_GC=off: no goal without a limit; with one, the limit's goal. */
static void test_pacer_gc_off(void **state)
{
    (void)state;
    scenario s = steady(-1);
    s.name = "GC off, no limit";
    s.steps = 20000;
    outcome o;
    simulate(&s, &o);
    assert_int_equal(o.cycles, 0);
    assert_int_equal(o.last_goal, TCI_PACER_NONE);
    assert_int_equal(o.last_trigger, TCI_PACER_NONE);
    s.name = "GC off, 200 MiB limit";
    s.memlimit = (int64_t)(200 * MiB);
    s.steps = 200000;
    simulate(&s, &o);
    assert_true(o.cycles > 5);
    assert_true(o.p.limited);
    /* (limit - non-heap - 3%) / fragmentation (17/16 here). */
    uint64_t want = (uint64_t)((double)(200 * MiB - 2 * MiB - 200 * MiB * 3 / 100) / (17.0 / 16));
    assert_true(o.last_goal >= want - MiB / 4 && o.last_goal <= want + MiB / 4);
    assert_true(o.max_heap <= 200 * MiB);
}

/* TRICOLOR_GC=100, no limit, the limiter at 50%, two CPUs. */
static void pacer_default(tci_pacer *p)
{
    tci_pacer_config cfg = {.gc_percent = 100, .memlimit_bytes = -1, .cpu_limit_pct = 50,
                            .ncpu = 2, .markers = 1};
    tci_pacer_init(p, &cfg);
}

/* Regression (issue 20): the scavenger keeps room for the most spans in
 * use over the last TCI_PACER_INUSE_MARKS cycles, each cycle's figure its
 * peak (mark, sweep and the allocation between), not the in-use figure at
 * the mark's end alone: a steady ring of 4 KiB objects peaked above that
 * figure every cycle, and the scavenger returned the difference, which the
 * program faulted back in (10,000 faults in 300 cycles). */
static void test_pacer_inuse_peak_window(void **state)
{
    (void)state;
    tci_pacer p;
    pacer_default(&p);
    tci_pacer_mark m = {.marked_bytes = 4 * MiB, .heap_at_trigger = 8 * MiB,
                        .heap_at_end = 8 * MiB, .inuse_bytes = 9 * MiB,
                        .inuse_peak_bytes = 12 * MiB};
    tci_pacer_mark_done(&p, &m);
    assert_int_equal(p.inuse_peak, 12 * MiB); /* the cycle's peak, not its end */
    /* Lower cycles after it: the 12 MiB is kept for the window, then let go. */
    m.inuse_bytes = 6 * MiB;
    m.inuse_peak_bytes = 7 * MiB;
    for (int i = 1; i < TCI_PACER_INUSE_MARKS; i++) {
        tci_pacer_mark_done(&p, &m);
        assert_int_equal(p.inuse_peak, 12 * MiB);
    }
    tci_pacer_mark_done(&p, &m);
    assert_int_equal(p.inuse_peak, 7 * MiB);
    /* A peak below the end figure (none taken since): the end figure. */
    m.inuse_peak_bytes = 0;
    m.inuse_bytes = 10 * MiB;
    tci_pacer_mark_done(&p, &m);
    assert_int_equal(p.inuse_peak, 10 * MiB);
}

/* A change of TRICOLOR_GC or of the limit moves the goal at once. */
static void test_pacer_settings_apply_at_once(void **state)
{
    (void)state;
    tci_pacer p;
    pacer_default(&p);
    assert_int_equal(p.goal_bytes, 4 * MiB);
    assert_int_equal(p.trigger_bytes, 4 * MiB * 7 / 10);
    tci_pacer_mark m = {.marked_bytes = 100 * MiB, .heap_at_trigger = 150 * MiB,
                        .heap_at_end = 150 * MiB, .inuse_bytes = 150 * MiB};
    tci_pacer_mark_done(&p, &m);
    assert_int_equal(p.goal_bytes, 200 * MiB);
    tci_pacer_set_gc_percent(&p, 50);
    assert_int_equal(p.goal_bytes, 150 * MiB);
    tci_pacer_set_memlimit(&p, (int64_t)(100 * MiB));
    assert_true(p.limited);
    assert_int_equal(p.goal_bytes, 97 * MiB);
    assert_int_equal(p.trigger_bytes, 100 * MiB); /* past the goal: at once */
    assert_int_equal(tci_pacer_assist_ratio(&p, 100 * MiB, 0), 64 * 1024);
    tci_pacer_set_memlimit(&p, -1);
    tci_pacer_set_gc_percent(&p, -1);
    assert_int_equal(p.goal_bytes, TCI_PACER_NONE);
    assert_int_equal(p.trigger_bytes, TCI_PACER_NONE);
}

/* External bytes (tc_external_add): live beside M in the goal, not scan
 * work; under a limit they take it 1:1; lowering them re-plans at once. */
static void test_pacer_external_bytes(void **state)
{
    (void)state;
    tci_pacer p;
    pacer_default(&p);
    tci_pacer_mark m = {.marked_bytes = 10 * MiB, .heap_at_trigger = 15 * MiB,
                        .heap_at_end = 15 * MiB, .inuse_bytes = 15 * MiB,
                        .external_bytes = 90 * MiB, .external_black_bytes = 5 * MiB};
    tci_pacer_mark_done(&p, &m);
    assert_int_equal(p.goal_bytes, 200 * MiB); /* (10 + 90) x 2 */
    assert_true(p.trigger_bytes >= 105 * MiB); /* from M + X + what the mark added */
    /* The assist ratio's work is M (+ R), not the external bytes. */
    assert_int_equal(tci_pacer_assist_ratio(&p, 100 * MiB, 0), 10 * MiB * 1024 / (100 * MiB));
    tci_pacer_set_external(&p, 40 * MiB); /* finalizers freed 50 MiB */
    assert_int_equal(p.goal_bytes, 100 * MiB);
    /* Under a 150 MiB limit: 150 - 3% - 40 MiB of external, the rest heap
     * at frag 1, plus the 40 MiB. */
    tci_pacer_set_memlimit(&p, (int64_t)(150 * MiB));
    assert_false(p.limited);
    tci_pacer_set_external(&p, 140 * MiB);
    assert_true(p.limited);
    uint64_t room = 150 * MiB - 150 * MiB * 3 / 100 - 140 * MiB;
    assert_int_equal(p.goal_bytes, room + 140 * MiB);
    tci_pacer_set_external(&p, 200 * MiB); /* over the limit alone: nothing for the heap */
    assert_int_equal(p.goal_bytes, 200 * MiB);
}

/* The limiter alone: engages when the bucket fills, off at half. */
static void test_pacer_limiter_bucket(void **state)
{
    (void)state;
    tci_pacer p;
    pacer_default(&p);
    /* 100% GC on 2 CPUs fills at 1 CPU-ms per ms; the bucket holds 200. */
    for (int ms = 0; ms < 199; ms++)
        tci_pacer_limiter_update(&p, 2000000, 0, 1000000);
    assert_false(p.engaged);
    tci_pacer_limiter_update(&p, 2000000, 0, 1000000);
    assert_true(p.engaged);
    assert_int_equal(p.engagements, 1);
    assert_int_equal(p.engaged_cycle, 1);
    /* One marker of two CPUs is 50%: at a 50% cap stopping assists is
     * enough, at 25% the cycles are held back too. */
    assert_false(tci_pacer_hold_cycles(&p));
    p.cfg.cpu_limit_pct = 25;
    assert_true(tci_pacer_hold_cycles(&p));
    p.cfg.cpu_limit_pct = 50;
    /* The stopped collector (no markers: every cycle is GC CPU) is held
     * whenever the limiter is engaged, at any cap (it collected at every
     * span refill under a limit below the live heap: tests/test_misuse.c). */
    p.cfg.markers = 0;
    assert_true(tci_pacer_hold_cycles(&p));
    p.cfg.cpu_limit_pct = 99;
    assert_true(tci_pacer_hold_cycles(&p));
    p.cfg.cpu_limit_pct = 50;
    p.cfg.markers = 1;
    /* No GC, the program on both CPUs: drains at 1 CPU-ms per ms; off
     * below half. */
    for (int ms = 0; ms < 100; ms++)
        tci_pacer_limiter_update(&p, 0, 2000000, 1000000);
    assert_true(p.engaged);
    tci_pacer_limiter_update(&p, 0, 2000000, 1000000);
    assert_false(p.engaged);
    /* At exactly the limit nothing changes. */
    int64_t b = p.bucket_ns;
    tci_pacer_limiter_update(&p, 1000000, 1000000, 1000000);
    assert_int_equal(p.bucket_ns, b);
    /* Idle CPUs count neither way: a one-thread program on 8 CPUs that
     * spends 80% of its time assisting (the markers on CPUs it leaves
     * idle, which the caller does not count) is at 80% GC: the limiter
     * engages, though that is 10% of all 8 CPUs' time. */
    tci_pacer_config cfg8 = {.gc_percent = 100, .memlimit_bytes = -1, .cpu_limit_pct = 50,
                             .ncpu = 8, .markers = 2, .markers_paced = 1};
    tci_pacer p8;
    tci_pacer_init(&p8, &cfg8);
    int steps = 0;
    while (!p8.engaged && steps < 10000) {
        tci_pacer_limiter_update(&p8, 800000, 200000, 1000000);
        steps++;
    }
    assert_true(p8.engaged);
    /* 800 ms of bucket (100 ms x 8 CPUs), filled at 0.8 - 0.5 = 0.3 ms per ms. */
    assert_int_equal(steps, 2667);
}

/* The markers' share (pacer.c, 5), one marker on two CPUs: share 512/1024
 * of a CPU. Run/wait figures are what /proc/thread-self/schedstat reports. */
static void test_pacer_marker_share(void **state)
{
    (void)state;
    const uint64_t ms = 1000000;
    int64_t owed = 0;
    uint64_t sleep_ns;
    /* A CPU to itself (no wait): its share counts, the rest is idle
     * marking; it never steps aside. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(tci_pacer_marker_slice(512, ms, ms, 0, 1, &owed, &sleep_ns), ms / 2);
        assert_int_equal(sleep_ns, 0);
    }
    assert_int_equal(owed, 0);
    /* Under its share (little work): the credit it banks is bounded. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(tci_pacer_marker_slice(512, ms, ms / 10, 0, 1, &owed, &sleep_ns),
                         ms / 10);
    assert_int_equal(owed, -2000000);
    /* Waiting under 1/16 of the slice is not competing. */
    assert_int_equal(tci_pacer_marker_slice(512, ms, ms, ms / 17, 1, &owed, &sleep_ns), ms / 2);
    /* Competing (3 threads on 2 CPUs: ran 2/3, waited 1/3): all of it
     * counts; the banked credit goes first, then it steps aside for as
     * long as brings it back to its share. */
    owed = 0;
    uint64_t c = tci_pacer_marker_slice(512, 3 * ms, 2 * ms, ms, 1, &owed, &sleep_ns);
    assert_int_equal(c, 2 * ms);
    assert_int_equal(owed, (int64_t)(ms / 2));
    assert_int_equal(sleep_ns, ms);
    /* Asleep for that long: nothing ran, nothing is owed. */
    assert_int_equal(tci_pacer_marker_slice(512, sleep_ns, 0, 0, 1, &owed, &sleep_ns), 0);
    assert_int_equal(owed, 0);
    assert_int_equal(sleep_ns, 0);
    /* A long run of competing slices, each followed by its step aside:
     * the counted CPU stays at the share (50% of the wall time here). */
    uint64_t wall = 0, counted = 0;
    owed = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t s;
        counted += tci_pacer_marker_slice(512, ms, 2 * ms / 3, ms / 3, 1, &owed, &s);
        wall += ms;
        if (s) {
            counted += tci_pacer_marker_slice(512, s, 0, 0, 1, &owed, &sleep_ns);
            wall += s;
        }
    }
    assert_true(counted * 100 >= wall * 49 && counted * 100 <= wall * 51);
    /* The kernel does not say: every nanosecond counts, nobody steps aside. */
    owed = 0;
    assert_int_equal(tci_pacer_marker_slice(512, ms, ms, 0, 0, &owed, &sleep_ns), ms);
    assert_int_equal(sleep_ns, 0);
    /* A whole CPU's share (8 CPUs, 2 markers): counted, never aside. */
    owed = 0;
    assert_int_equal(tci_pacer_marker_slice(1024, ms, ms / 2, ms / 2, 1, &owed, &sleep_ns),
                     ms / 2);
    assert_int_equal(sleep_ns, 0);
    /* A step aside is at most 10 ms. */
    owed = 0;
    tci_pacer_marker_slice(64, 100 * ms, 100 * ms, 50 * ms, 1, &owed, &sleep_ns);
    assert_int_equal(sleep_ns, 10 * ms);
    /* Paced markers count at most 25% of the CPUs: one marker of two CPUs
     * no longer holds cycles back at a 25% cap; it does at 20%. */
    tci_pacer p;
    pacer_default(&p);
    p.cfg.markers_paced = 1;
    for (int i = 0; i < 200; i++)
        tci_pacer_limiter_update(&p, 2 * ms, 0, ms);
    assert_true(p.engaged);
    p.cfg.cpu_limit_pct = 25;
    assert_false(tci_pacer_hold_cycles(&p));
    p.cfg.cpu_limit_pct = 20;
    assert_true(tci_pacer_hold_cycles(&p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pacer_inuse_peak_window),
        cmocka_unit_test(test_pacer_settings_apply_at_once),
        cmocka_unit_test(test_pacer_external_bytes),
        cmocka_unit_test(test_pacer_limiter_bucket),
        cmocka_unit_test(test_pacer_marker_share),
        cmocka_unit_test(test_pacer_steady_state),
        cmocka_unit_test(test_pacer_runway_learns_slow_marks),
        cmocka_unit_test(test_pacer_allocation_spike),
        cmocka_unit_test(test_pacer_tiny_heap),
        cmocka_unit_test(test_pacer_heap_built_during_long_marks),
        cmocka_unit_test(test_pacer_live_heap_grows_past_limit),
        cmocka_unit_test(test_pacer_limit_below_live),
        cmocka_unit_test(test_pacer_gc_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

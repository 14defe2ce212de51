/* pacer.c: the heap goal, the trigger, the assist ratio and the GC CPU
 * limiter, after Go's pacer. Pure: no clock, no locks, no globals; the
 * collector (gc/cycle.c) owns one tci_pacer and serialises every call.
 *
 * 1. The goal. Proportional: M + (M + R) x GC/100, at least HEAP_MIN x
 *    GC/100, where M is what the last mark proved reachable and R the
 *    roots it scanned (stacks, root ranges), as in Go 1.18+. Objects
 *    allocated during the mark (allocated black) are not in M: Go counts
 *    them, so a mark that runs long while the program allocates raises
 *    the next goal by what was allocated meanwhile, and the next mark
 *    then runs longer still. An object allocated during a mark that stays
 *    live is counted by the next mark. But the goal is at least what the
 *    cycle kept (M + black) plus half the room, (M + R) x GC/200: a heap
 *    built during a long mark is in use (see gc_goal). With a soft memory limit, the goal
 *    is also at most what fits under it: the limit, less the memory that
 *    is not heap objects (metadata, caches, mark buffers, measured at the
 *    last mark), less 3% headroom, divided by the span fragmentation the
 *    last mark saw (in-use span bytes per allocated byte). The lower of
 *    the two wins; `limited` says the limit's did.
 *    External memory (tc_external_add, X) is live data beside M that
 *    needs no marking: the goal is computed as if X were in M (so the
 *    heap and what its objects hold outside it grow together by GC%, as
 *    MMTk's vm_live_bytes and V8's external memory count), the limit's
 *    goal leaves X under the limit at 1 byte per byte, and the expected
 *    scan work (M + R) does not include it. Goal and trigger are then
 *    in heap_live + external bytes. As with the heap, what was added
 *    during the mark is not counted live (it is in the trigger's base).
 * 2. The trigger. The next cycle starts from base = M + black (every
 *    object survives until the next sweep). The mark must finish as the
 *    heap reaches the goal, so it must start `runway` bytes before it:
 *    what the program allocates in the time the markers alone take to
 *    mark the expected work (M + R). Both rates are measured where
 *    assists do not distort them: allocation between marks (a mark's
 *    assists slow the program), marking by the markers alone (assists
 *    take work from them). A runway measured from the allocation during
 *    marks would shrink whenever assists had throttled the program, start
 *    the next mark later, throttle harder: assists would end up doing the
 *    marking. The runway is then scaled by what past marks showed
 *    (runway_feedback): marks that end well short of the goal shrink it.
 *    Clamped to [base, base + 95% of the way to the goal]: past
 *    95% a mark has no room at all for a wrong guess. Before a mark has
 *    been measured: 70% of the way.
 * 3. Assists make up for a wrong guess: during a mark, every byte
 *    allocated owes (work left) / (heap left to the goal) bytes of
 *    marking, recomputed at each payment, so a mark that is behind asks
 *    more. The charge per allocation is capped by the caller (cycle.c).
 * 4. The limiter. GC CPU time fills a bucket, and the share of the
 *    process's CPU time that TRICOLOR_GC_CPU_LIMIT allows drains it. The
 *    limit is meant to bound how much collecting slows the program, so
 *    both sides count what the program could have run instead: GC time
 *    is the stops (times the CPUs), the assists, and the markers' time
 *    when they competed with the program for a CPU (see 5); the share is
 *    of that GC time plus the program's own CPU time. CPUs the program
 *    leaves idle count neither way, as in Go (its limiter weighs GC time
 *    against mutator time with idle time taken out): of all CPUs' time
 *    instead, a one-thread program on eight CPUs could spend nearly all
 *    its time assisting and never reach 50%. When the bucket is full the
 *    limiter engages: assists stop (the ratio is 0), as in Go, so the
 *    heap grows past the goal, and past the memory limit if it must,
 *    instead of the program spending all its time collecting. Where the
 *    markers alone take more than the limit (their 25% share against a
 *    limit under 25%; without the kernel's figures, one marker of two
 *    CPUs against a limit under 50%), stopping assists is not enough:
 *    then the collector also waits between cycles until the bucket
 *    drains. So does the stopped collector (gcstoptheworld), whose cycles
 *    are all GC CPU: while the limiter is engaged its allocations do not
 *    collect (a memory limit below the live heap made it collect at
 *    every span refill, the program running at a fraction of a percent). Only then: the wait lets the heap balloon. The bucket holds
 *    LIMITER_WINDOW_NS of every CPU's time.
 * 5. The markers' share. A background marker is a thread of its own, and
 *    on a small machine one marker is a large part of the CPUs (half of
 *    two). Go's background workers take 25% of the CPUs (dedicated and
 *    fractional workers) and fill any CPU the program leaves idle (idle
 *    workers); GCCPUFraction counts the 25% and leaves idle marking out
 *    ("free"). Ours keep to the same share, measured: each marker looks
 *    every millisecond at how long it ran (its thread clock) and how long
 *    it waited for a CPU (/proc/thread-self/schedstat). A marker that did
 *    not wait ran on a CPU nobody else wanted: its share (25% of the CPUs
 *    over the markers at work) counts as GC CPU in the statistics, the rest is
 *    idle marking, reported on its own, and none of it is taken from the
 *    program, so the limiter does not count it. A marker that waited
 *    competed with the program (or with anything else): all its time
 *    counts, in the statistics and in the limiter, and once it is over
 *    its share it steps aside (handing every grey object it holds to the
 *    global list, where assists and the other markers find them) for as
 *    long as keeps it to its share, as Go's fractional worker does. A
 *    helper that waited leaves the drain instead, while the collector's
 *    own marker goes on with the whole share (gc/mark.c, tci_mark_leave_drain):
 *    a second marker on a busy machine only takes CPU from the program.
 *    Without the kernel's figures every marker's time counts everywhere
 *    and none steps aside. (Charging the markers' 25% share in the
 *    limiter whatever they took, as Go does, engaged it at GC=50 on the
 *    steady-state server on this 2-CPU VM, where the one marker runs on
 *    the CPU the one-thread program leaves idle, and the heap went to
 *    2.5x its live set; see docs/design.md.)
 */
#include "pacer.h"

#define HEAP_MIN_BYTES ((uint64_t)4 << 20) /* Go's heapminimum at GOGC=100 */
#define LIMIT_HEADROOM_PCT 3                /* Go's memory-limit goal headroom */
#define TRIGGER_MAX_PERMILLE 950
#define TRIGGER_FIRST_PERMILLE 700          /* Go's minimum trigger ratio, ~0.7 */
#define LIMITER_WINDOW_NS 100000000ull      /* 100 ms of each CPU */
#define RATIO_ONE 1024                      /* assist ratios are x 1024 */
#define RATIO_MAX (64 * RATIO_ONE)          /* past the goal: 64 bytes per byte */
#define RUNWAY_MIN ((uint64_t)64 << 10)
#define OWED_FLOOR_NS 2000000ll             /* credit a marker under its share can bank */
#define STEP_ASIDE_MAX_NS 10000000ull       /* the longest a marker steps aside at once */
/* The runway is planned 20% long: a mark that ends a little before the
 * goal costs a slightly earlier cycle, one that runs a little late costs
 * the program assists at the highest ratio for its last stretch. */
#define RUNWAY_MARGIN 1.2

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* x * pct / 100 without overflow for x < 2^56, pct <= 10^6. */
static uint64_t percent_of(uint64_t x, uint64_t pct)
{
    return x / 100 * pct + x % 100 * pct / 100;
}

static uint64_t gc_goal(const tci_pacer *p)
{
    if (p->cfg.gc_percent < 0)
        return TCI_PACER_NONE;
    uint64_t pct = (uint64_t)p->cfg.gc_percent;
    /* M + GC% of (M + R), M the marked bytes; but never less than what
     * the last cycle kept (M and the objects allocated black during its
     * mark) plus half of that room: a heap built during a long mark is in
     * use, and a goal from the marked bytes alone sat far below it (15-30
     * MB with 300 MB in use: cycles back to back for the rest of the run).
     * Go counts the black bytes in M outright (heapMarked), and multiplies
     * them by 1 + GC%; most of what a program allocates during a short
     * mark is garbage by the next, and a steady heap would carry that
     * share (13% of live in tests/test_pacer.c's steady scenario) times
     * 1 + GC%. With the floor, only a mark that saw more than half the
     * room allocated moves the goal. */
    uint64_t live = sat_add(p->live_bytes, p->external_bytes);
    uint64_t room = percent_of(sat_add(live, p->root_bytes), pct);
    uint64_t goal = sat_add(live, room);
    /* External bytes added during the mark are not in the floor: they are
     * counted by the next mark if they stay (it made the goal 2.2x the
     * live external bytes at GC=100 in tests/test_external.c). */
    uint64_t floor = sat_add(sat_add(p->base_bytes, p->external_bytes), room / 2);
    if (goal < floor)
        goal = floor;
    uint64_t min = HEAP_MIN_BYTES * pct / 100;
    return goal < min ? min : goal;
}

uint64_t tci_pacer_limit_goal(const tci_pacer *p)
{
    if (p->cfg.memlimit_bytes < 0)
        return TCI_PACER_NONE;
    uint64_t limit = (uint64_t)p->cfg.memlimit_bytes;
    uint64_t reserved = sat_add(p->nonheap_bytes, percent_of(limit, LIMIT_HEADROOM_PCT));
    /* External bytes take the limit 1:1; the rest is heap at frag. */
    reserved = sat_add(reserved, p->external_bytes);
    if (reserved >= limit)
        return p->external_bytes;
    return (uint64_t)((double)(limit - reserved) / p->frag) + p->external_bytes;
}

/* Goal and trigger from the last mark's figures and the estimates. */
static void plan(tci_pacer *p)
{
    uint64_t g = gc_goal(p), l = tci_pacer_limit_goal(p);
    p->limited = l < g;
    p->goal_bytes = p->limited ? l : g;
    if (p->goal_bytes == TCI_PACER_NONE) {
        p->trigger_bytes = TCI_PACER_NONE;
        return;
    }
    uint64_t base = sat_add(sat_add(p->base_bytes, p->external_bytes), p->external_black_bytes);
    if (p->goal_bytes <= base) {
        p->trigger_bytes = base; /* past the goal already: collect at once */
        return;
    }
    uint64_t head = p->goal_bytes - base;
    uint64_t hi = base + (uint64_t)((double)head * TRIGGER_MAX_PERMILLE / 1000);
    uint64_t trigger;
    if (p->cons_mark < 0) {
        trigger = base + (uint64_t)((double)head * TRIGGER_FIRST_PERMILLE / 1000);
    } else {
        double mark_ns = (double)sat_add(p->live_bytes, p->root_bytes) / p->mark_rate;
        double runway =
            p->alloc_rate * (p->delay_ns + mark_ns) * RUNWAY_MARGIN * p->runway_scale;
        trigger = runway >= (double)head ? base : p->goal_bytes - (uint64_t)runway;
    }
    p->trigger_bytes = trigger > hi ? hi : trigger;
}

void tci_pacer_init(tci_pacer *p, const tci_pacer_config *cfg)
{
    *p = (tci_pacer){0};
    p->cfg = *cfg;
    if (p->cfg.ncpu < 1)
        p->cfg.ncpu = 1;
    p->frag = 1.0;
    p->runway_scale = 1.0;
    p->cons_mark = -1.0;
    p->alloc_rate = p->mark_rate = 0.0;
    p->capacity_ns = (int64_t)(LIMITER_WINDOW_NS * (uint64_t)p->cfg.ncpu);
    plan(p);
}

void tci_pacer_set_gc_percent(tci_pacer *p, int gc_percent)
{
    p->cfg.gc_percent = gc_percent < 0 ? -1 : gc_percent;
    plan(p);
}

void tci_pacer_set_memlimit(tci_pacer *p, int64_t memlimit_bytes)
{
    p->cfg.memlimit_bytes = memlimit_bytes < 0 ? -1 : memlimit_bytes;
    plan(p);
}

void tci_pacer_set_external(tci_pacer *p, uint64_t external_bytes)
{
    p->external_bytes = external_bytes;
    plan(p);
}

/* The rates overstate the runway where a mark's fixed costs, not its
 * bytes, set how long it takes, and where the program allocates more
 * slowly during a mark than between marks (the barrier, the stops): a
 * ring of 256-byte objects, 0.3 MiB live under a 4 MiB goal, ended its
 * marks at 1.3-3.3 MiB, triggered at 0.7-1.9, and collected twice as
 * often as its goal asked. So a mark that ends more than a third of the
 * way short of its goal (the margin planned makes a sixth) scales the
 * next runways down by a fifth, to a quarter at the least; one that ends
 * past its goal scales them back up by a quarter, to 1. Only a mark the
 * markers did most of lowers it: one that ends early because assists did
 * the marking must not start the next later still, or the assists would
 * end up doing all of it. */
static void runway_feedback(tci_pacer *p, const tci_pacer_mark *m, uint64_t goal,
                            uint64_t trigger)
{
    if (goal == TCI_PACER_NONE || trigger >= goal || m->heap_at_end == 0)
        return;
    uint64_t head = goal - trigger;
    if (m->heap_at_end > goal) {
        double s = p->runway_scale * 1.25;
        p->runway_scale = s > 1.0 ? 1.0 : s;
    } else if (goal - m->heap_at_end > head / 3 && m->assist_bytes * 2 < m->marked_bytes) {
        double s = p->runway_scale * 0.8;
        p->runway_scale = s < TCI_PACER_RUNWAY_MIN ? TCI_PACER_RUNWAY_MIN : s;
    }
}

void tci_pacer_mark_done(tci_pacer *p, const tci_pacer_mark *m)
{
    /* What this mark worked to, before the figures below replan it. */
    uint64_t goal = p->goal_bytes, trigger = p->trigger_bytes;
    p->cycles++;
    p->live_bytes = m->marked_bytes;
    p->root_bytes = m->root_bytes;
    p->base_bytes = sat_add(m->marked_bytes, m->black_bytes);
    p->nonheap_bytes = m->nonheap_bytes;
    p->external_bytes = m->external_bytes;
    p->external_black_bytes = m->external_black_bytes;
    p->inuse_bytes = m->inuse_bytes;
    p->inuse_recent[p->cycles % TCI_PACER_INUSE_MARKS] =
        m->inuse_peak_bytes > m->inuse_bytes ? m->inuse_peak_bytes : m->inuse_bytes;
    p->inuse_peak = 0;
    for (int i = 0; i < TCI_PACER_INUSE_MARKS; i++)
        if (p->inuse_recent[i] > p->inuse_peak)
            p->inuse_peak = p->inuse_recent[i];
    if (m->heap_at_end > 0) {
        double f = (double)m->inuse_bytes / (double)m->heap_at_end;
        p->frag = f < 1.0 ? 1.0 : f > 4.0 ? 4.0 : f;
    }
    /* The rates, each averaged with its past so one odd cycle does not
     * swing the trigger. */
    if (m->idle_ns > 0) {
        double a = (double)m->idle_alloc_bytes / (double)m->idle_ns;
        p->alloc_rate = p->cycles == 1 || p->alloc_rate <= 0 ? a : (p->alloc_rate + a) / 2;
    }
    uint64_t marker_bytes = m->marked_bytes > m->assist_bytes ? m->marked_bytes - m->assist_bytes : 0;
    if (m->mark_ns > 0 && marker_bytes > 0) {
        double r = (double)marker_bytes / (double)m->mark_ns;
        p->mark_rate = p->mark_rate <= 0 ? r : (p->mark_rate + r) / 2;
    }
    p->delay_ns = p->cycles == 1 ? (double)m->start_delay_ns
                                 : (p->delay_ns + (double)m->start_delay_ns) / 2;
    if (p->mark_rate > 0 && p->alloc_rate > 0)
        p->cons_mark = p->alloc_rate / p->mark_rate;
    runway_feedback(p, m, goal, trigger);
    plan(p);
}

uint64_t tci_pacer_assist_ratio(const tci_pacer *p, uint64_t heap_live, uint64_t done_bytes)
{
    if (p->engaged)
        return 0;
    uint64_t expected = sat_add(p->live_bytes, p->root_bytes);
    if (p->goal_bytes == TCI_PACER_NONE || expected == 0)
        return RATIO_ONE; /* no goal (a forced cycle), or no mark measured yet */
    /* Past the expected work the mark is not done yet: it found more live
     * data than last time, so some is still owed. */
    uint64_t left = expected > done_bytes ? expected - done_bytes : expected / 8;
    uint64_t runway = p->goal_bytes > heap_live ? p->goal_bytes - heap_live : 0;
    if (runway < RUNWAY_MIN)
        return RATIO_MAX;
    double r = (double)left * RATIO_ONE / (double)runway;
    /* At least 1 (of 1024): 0 means "the limiter is engaged". */
    return r > RATIO_MAX ? RATIO_MAX : r < 1 ? 1 : (uint64_t)r;
}

int tci_pacer_hold_cycles(const tci_pacer *p)
{
    if (p->cfg.markers == 0)
        return p->engaged; /* the stopped collector */
    /* In hundredths of a CPU: what the markers count, against the limit. */
    int markers = p->cfg.markers * 100;
    if (p->cfg.markers_paced && markers > TCI_BACKGROUND_PCT * p->cfg.ncpu)
        markers = TCI_BACKGROUND_PCT * p->cfg.ncpu;
    return p->engaged && markers > p->cfg.cpu_limit_pct * p->cfg.ncpu;
}

uint64_t tci_pacer_marker_slice(uint64_t share_1024, uint64_t wall_ns, uint64_t run_ns,
                                uint64_t wait_ns, int known, int64_t *owed, uint64_t *sleep_ns)
{
    *sleep_ns = 0;
    uint64_t share = wall_ns / 1024 * share_1024 + wall_ns % 1024 * share_1024 / 1024;
    int competed = !known || wait_ns * TCI_WAIT_SHARE > wall_ns;
    uint64_t counted = competed || run_ns < share ? run_ns : share;
    int64_t o = *owed + (int64_t)counted - (int64_t)share;
    if (o < -OWED_FLOOR_NS)
        o = -OWED_FLOOR_NS;
    *owed = o;
    if (known && competed && o > 0 && share_1024 < 1024 && share_1024 > 0) {
        /* Aside for s, the share grows by s x share: back to nothing owed. */
        uint64_t s = (uint64_t)o / share_1024 * 1024 + (uint64_t)o % share_1024 * 1024 / share_1024;
        *sleep_ns = s < STEP_ASIDE_MAX_NS ? s : STEP_ASIDE_MAX_NS;
    }
    return counted;
}

void tci_pacer_limiter_update(tci_pacer *p, uint64_t gc_cpu_ns, uint64_t mutator_ns,
                              uint64_t wall_ns)
{
    /* 100% is no limit at all; and no span has more CPU time than every
     * CPU's (a stop counts every CPU, though some threads ran in it). */
    if (p->cfg.cpu_limit_pct >= 100) {
        p->bucket_ns = 0;
        p->engaged = 0;
        return;
    }
    double all = (double)wall_ns * p->cfg.ncpu;
    double gc = (double)gc_cpu_ns > all ? all : (double)gc_cpu_ns;
    double mut = (double)mutator_ns > all - gc ? all - gc : (double)mutator_ns;
    /* The limit is a share of the time the process used: GC and program.
     * CPUs left idle count neither way (as in Go: a single-threaded
     * program on many CPUs must not spend all its time assisting because
     * the idle CPUs keep the share of "all CPU time" low). */
    double allowed = (gc + mut) * p->cfg.cpu_limit_pct / 100.0;
    double b = (double)p->bucket_ns + gc - allowed;
    p->bucket_ns = b < 0 ? 0 : b > (double)p->capacity_ns ? p->capacity_ns : (int64_t)b;
    if (!p->engaged && p->bucket_ns >= p->capacity_ns) {
        p->engaged = 1;
        p->engagements++;
        p->engaged_cycle = p->cycles + 1; /* the cycle in progress or next */
    } else if (p->engaged && p->bucket_ns < p->capacity_ns / 2) {
        /* Off again once half drained: on and off at every update would
         * turn assists on and off with them. */
        p->engaged = 0;
    }
}

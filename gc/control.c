/* control.c: the pacer's glue, the GC CPU limiter, assists, and every
 * account of GC CPU.
 *
 * gc/pacer.c decides, pure: the goal, the trigger, the assist ratio, when
 * the limiter engages. This file holds its one instance and feeds it what
 * it cannot read itself (the clocks, the process's CPU time, what the
 * mark measured), and mirrors what the allocation paths must read without
 * a lock into atomics: tci_control_next_gc (the goal), the trigger, the assist
 * ratio (0 while the limiter is engaged), the memory limit's ceiling.
 *
 * GC CPU is counted here and only here, four ways, for four readers:
 *  - the mark's markers and assists (mark_cpu_ns, assist_cpu_ns) and the
 *    markers' idle time (mark_idle_ns), taken by the cycle at each mark's
 *    end for the statistics (gc_cpu_ns, gctrace's split);
 *  - gc_work_ns, the CPU time of every thread while it did GC work, which
 *    the limiter takes out of the process's CPU time to find the program's;
 *  - limiter_gc_ns plus taken_ns, what GC took from the program: stops
 *    (their length times the CPUs), assists, the markers' time in slices
 *    where they competed with the program for a CPU, and the time threads
 *    waited for the collector at a memory limit's ceiling (else a live
 *    heap over the limit made the program wait out every mark, 2.2x
 *    slower, with no limiter to bound it).
 * A marker on a CPU the program left idle takes nothing from it: that time
 * is not in the limiter's figure (its 25% share is in gc_cpu_ns, as Go's
 * GCCPUFraction counts it).
 *
 * Lock: pacer_lock (TCI_RANK_PACER) protects the pacer and the limiter's
 * last readings. The collector takes it at a cycle's edges, an assisting
 * thread when it pays, the setters when they change a setting; nothing is
 * taken under it.
 */
#include <stdio.h>

#include "fork.h"
#include "gc.h"
#include "os.h"
#include "pacer.h"

tci_atomic tci_control_next_gc;

static tci_mutex pacer_lock = TCI_MUTEX_INIT(TCI_RANK_PACER, "pacer_lock");
TCI_FORK_LOCK(pacer_lock)
static tci_pacer pacer; /* pacer_lock */
static uint64_t limiter_last_ns, limiter_last_cpu, limiter_last_proc, limiter_last_work; /* pacer_lock */
static int ncpu; /* written once by tci_control_init, before any other thread reads it */

/* Start a concurrent cycle when the heap reaches this (below next_gc, so
 * the mark can finish before the goal); next_gc in the stop-the-world
 * mode. Written under pacer_lock, read anywhere. */
static tci_atomic gc_trigger;
static tci_atomic ceiling;    /* see ceiling_locked; written under pacer_lock */
static tci_atomic limiter_on; /* mirror of pacer.engaged; written under pacer_lock */
/* Mirrors of the pacer's settings and limiter counts for tc_read_memstats,
 * which takes no lock: written under pacer_lock. */
static tci_atomic set_gc_percent, set_memlimit, set_cpu_limit, set_limited;
static tci_atomic set_engaged_cycle, set_engagements;

/* The GC CPU accounts (see the essay), atomic adds from any thread. */
static tci_atomic mark_cpu_ns, assist_cpu_ns, mark_idle_ns; /* this mark; reset at its end */
static tci_atomic gc_work_ns, limiter_gc_ns, taken_ns;       /* monotone */

/* Assists: allocation during a mark owes scan work at assist_ratio (scan
 * bytes per allocated byte, fixed point /1024, set at stop #1 from the
 * last live heap over the runway to the goal). A thread pays when its debt
 * reaches ASSIST_CHUNK, and never more than ASSIST_CAP in one allocation:
 * Go charges an allocation all its debt, and its users' first latency
 * complaint is assists. Debt beyond the cap carries to the thread's next
 * allocation; debt with no grey work left to do is forgiven (the markers
 * hold it all). */
#define ASSIST_CHUNK ((uint64_t)64 << 10)
#define ASSIST_CAP ((uint64_t)256 << 10)
/* How far past the goal (a fraction of it: goal / SHARE_PAST_GOAL) a
 * starved assist asks the markers for work (assist_pay). */
#define SHARE_PAST_GOAL 4
/* While the limiter holds assists off, a thread looks again after this
 * much allocation. */
#define ASSIST_RECHECK ((uint64_t)1 << 20)
static tci_atomic assist_ratio;  /* x 1024; written at stop #1 and by assist_revise */
static tci_atomic mark_cycle_id; /* the mark the assist debts belong to; written at stop #1 */
static tci_atomic cycle_assist_bytes; /* marked by assists in this mark */
static __thread uint64_t assist_debt, assist_cycle; /* owner only */

/* Where the last mark left the heap, for the next cycle's allocation rate.
 * Written and read by the collector, with the world stopped. */
static uint64_t last_mark_end_ns, last_base_bytes;
/* At stop #1: the external bytes, and the part counted as live, for the
 * allocation rate (heap and external bytes alike). World stopped. */
static uint64_t trig_external, trig_external_live;

/* External memory (gc/external.c's essay): E and the finalizers' running
 * total at the last mark's stop #1, and X, the external bytes the pacer
 * last planned with. Written under pacer_lock, read anywhere. */
static tci_atomic ext_at_mark, fin_at_mark, ext_planned;
/* The snapshot at stop #1 (E, the finalizers' and the additions' totals),
 * taken by the mark that has begun; world stopped. */
static uint64_t snap_e, snap_fin, snap_added;
static int snapped;

static void external_snapshot_stw(void)
{
    snap_e = tci_external_bytes();
    snap_fin = tci_external_fin_freed();
    snap_added = tci_external_added();
    tci_external_low_reset(snap_e);
    snapped = 1;
}

/* Re-plan once X has fallen by 1/32 of the planned figure, at least this:
 * a finalizer thread freeing 1,600 buffers of 64 KiB takes the pacer's
 * lock about 32 times, not 1,600. */
#define EXTERNAL_REPLAN_MIN ((uint64_t)1 << 20)

static void publish_settings_locked(void)
{
    tci_assert_held(&pacer_lock);
    tci_atomic_store_relaxed(&set_gc_percent, (uintptr_t)(intptr_t)pacer.cfg.gc_percent);
    tci_atomic_store_relaxed(&set_memlimit, (uintptr_t)(intptr_t)pacer.cfg.memlimit_bytes);
    tci_atomic_store_relaxed(&set_cpu_limit, (uintptr_t)pacer.cfg.cpu_limit_pct);
    tci_atomic_store_relaxed(&set_limited, (uintptr_t)pacer.limited);
    tci_atomic_store_relaxed(&set_engaged_cycle, (uintptr_t)pacer.engaged_cycle);
    tci_atomic_store_relaxed(&set_engagements, (uintptr_t)pacer.engagements);
}

/* The heap a memory limit holds the program to, TCI_PACER_NONE when
 * none (no limit, or the limiter engaged): the limit's goal, when that
 * leaves room over what the last mark found live (1/16 of it, at least
 * 1 MiB); else the live heap and that room. A live heap that does not fit
 * under the limit must not turn every allocation into a wait for the
 * collector (one allocation per phase change: a program 70x slower in the
 * review's test): there the heap grows past the limit, as the limit's
 * documentation says, by the room, a mark at a time. With no ceiling at
 * all it grew to twice the live heap and more, as every mark's
 * allocation stayed for the next (143-149 MiB over 64 MiB live in that
 * test; gcbench at an 18 MiB limit peaked at 37-46 MiB, higher than with
 * no limit). When the limit set the goal the ceiling is the
 * goal; when TRICOLOR_GC's goal is lower, that goal stays soft and the
 * ceiling stands above it: gcbench's trees, built while a 9 ms mark ran,
 * took the heap from 15 to 31 MB past a soft goal of 8 MB and a limit's
 * of 19 MB, and nothing held them. */
static uint64_t ceiling_locked(void)
{
    tci_assert_held(&pacer_lock);
    uint64_t l = tci_pacer_limit_goal(&pacer);
    if (l == TCI_PACER_NONE || pacer.engaged)
        return TCI_PACER_NONE;
    uint64_t room = l / 16 > (1u << 20) ? l / 16 : (1u << 20);
    /* What the mark proved live, not what it kept: a mark keeps all it
     * allocated black, and a tree dropped during a long mark made that 3 MB
     * more than the limit's goal, where the next mark found 11 MB live. */
    uint64_t live = pacer.live_bytes + pacer.external_bytes;
    return l > live && l - live >= room ? l : live + room;
}

/* The pacer's goal and trigger, where the allocation paths read them. The
 * stopped collector starts at the goal itself (it finishes inside one
 * stop, so no runway is needed). */
static void pacer_publish_locked(void)
{
    tci_assert_held(&pacer_lock);
    publish_settings_locked();
    tci_atomic_store_relaxed(&ceiling, (uintptr_t)ceiling_locked());
    tci_atomic_store_relaxed(&tci_control_next_gc, pacer.goal_bytes);
    tci_atomic_store_relaxed(&gc_trigger,
                             tci_env_cfg.gcstoptheworld ? pacer.goal_bytes : pacer.trigger_bytes);
}

void tci_control_init(const tci_pacer_config *pc)
{
    ncpu = pc->ncpu;
    tci_mutex_lock(&pacer_lock); /* released below */
    tci_pacer_init(&pacer, pc);
    pacer_publish_locked();
    tci_mutex_unlock(&pacer_lock);
}

int tci_control_ncpu(void)
{
    return ncpu;
}

int tci_control_set_gc_percent(int percent)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    int old = pacer.cfg.gc_percent;
    tci_pacer_set_gc_percent(&pacer, percent);
    pacer_publish_locked();
    tci_mutex_unlock(&pacer_lock);
    return old;
}

int64_t tci_control_set_memlimit(int64_t bytes)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    int64_t old = pacer.cfg.memlimit_bytes < 0 ? INT64_MAX : pacer.cfg.memlimit_bytes;
    if (bytes >= 0) {
        tci_pacer_set_memlimit(&pacer, bytes == INT64_MAX ? -1 : bytes);
        pacer_publish_locked();
    }
    tci_mutex_unlock(&pacer_lock);
    return old;
}

uint64_t tci_control_paced_bytes(void)
{
    return tci_atomic_load_relaxed(&tci_heap_live) + tci_external_bytes();
}

/* X now: the lower of E at stop #1 less the finalizers' frees since and
 * what the queued finalizers will free (at the average so far per
 * finalizer run), and the lowest E since stop #1 (gc/external.c). */
static uint64_t external_live_now(void)
{
    uint64_t at = tci_atomic_load_relaxed(&ext_at_mark);
    uint64_t freed_all = tci_external_fin_freed();
    uint64_t freed = freed_all - tci_atomic_load_relaxed(&fin_at_mark);
    uint64_t queued, run;
    tc_finalizer_counts(NULL, &queued, &run);
    if (run > 0 && queued > run)
        freed += (queued - run) * (freed_all / run);
    uint64_t x = at > freed ? at - freed : 0;
    uint64_t low = tci_external_low();
    return low < x ? low : x;
}

void tci_control_external_freed(int swept)
{
    uint64_t planned = tci_atomic_load_relaxed(&ext_planned);
    uint64_t step = planned / 32 > EXTERNAL_REPLAN_MIN ? planned / 32 : EXTERNAL_REPLAN_MIN;
    if (!swept && external_live_now() + step > planned)
        return;
    /* From tc_external_add, a try: its caller may hold a library lock
     * ranked after pacer_lock (a root callback runs under roots_lock), and
     * must never wait for it; the next subtraction, or the sweep's end,
     * tries again. The sweep's end (the collector, no lock held) waits. */
    if (swept)
        tci_mutex_lock(&pacer_lock); /* released below */
    else if (tci_mutex_trylock(&pacer_lock) != 0)
        return;
    uint64_t x = external_live_now();
    if (x < pacer.external_bytes || (swept && x != pacer.external_bytes)) {
        tci_pacer_set_external(&pacer, x);
        tci_atomic_store_relaxed(&ext_planned, x);
        pacer_publish_locked();
    }
    tci_mutex_unlock(&pacer_lock);
}

int tci_control_external_held(void)
{
    return !tci_atomic_load_relaxed(&limiter_on) &&
           tci_control_paced_bytes() >= tci_atomic_load_relaxed(&tci_control_next_gc);
}

uint64_t tci_control_trigger(void)
{
    return tci_atomic_load_relaxed(&gc_trigger);
}

int tci_control_past_ceiling(size_t bytes)
{
    return tci_control_paced_bytes() + bytes >= tci_atomic_load_relaxed(&ceiling);
}

int tci_control_held(void)
{
    return tci_control_past_ceiling(0);
}

/* GC CPU so far, for the limiter (see the essay). */
static uint64_t gc_cpu_now(void)
{
    return tci_atomic_load_relaxed(&limiter_gc_ns) + tci_atomic_load_relaxed(&taken_ns);
}

/* Feeds the limiter the GC CPU and the program's CPU since its last
 * update (the program's: the process's CPU time less the GC work in it;
 * the library's other threads, the sweeper's and the scavenger's, count
 * as the program's, as Go's sweeper does). At most once a millisecond
 * unless forced (a mark's edges): it reads the process's CPU clock. */
static void limiter_update_locked(uint64_t now, int force)
{
    tci_assert_held(&pacer_lock);
    if (!force && limiter_last_ns && now - limiter_last_ns < 1000000)
        return;
    uint64_t cpu = gc_cpu_now();
    uint64_t proc = tci_os_process_cpu_ns();
    uint64_t work = tci_atomic_load_relaxed(&gc_work_ns);
    if (limiter_last_ns && now > limiter_last_ns) {
        uint64_t dproc = proc > limiter_last_proc ? proc - limiter_last_proc : 0;
        uint64_t dwork = work - limiter_last_work;
        tci_pacer_limiter_update(&pacer, cpu - limiter_last_cpu,
                                 dproc > dwork ? dproc - dwork : 0, now - limiter_last_ns);
    }
    limiter_last_ns = now;
    limiter_last_cpu = cpu;
    limiter_last_proc = proc;
    limiter_last_work = work;
    tci_atomic_store_relaxed(&limiter_on, (uintptr_t)pacer.engaged);
    tci_atomic_store_relaxed(&ceiling, (uintptr_t)ceiling_locked());
    publish_settings_locked();
}

int tci_control_limiter_holds_cycles(int force)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    limiter_update_locked(tci_os_now_ns(), force);
    int held = tci_pacer_hold_cycles(&pacer);
    tci_mutex_unlock(&pacer_lock);
    return held;
}

void tci_control_record_stop(uint64_t t0, uint64_t t1, uint64_t ttsp)
{
    uint64_t released = tci_world_released_ns();
    tci_stats_record_stop(t0, t1, ttsp, t1 > released ? t1 - released : 0);
    tci_atomic_add_full(&limiter_gc_ns, (t1 - t0) * (uint64_t)ncpu);
    /* The stopping thread worked throughout: that CPU time is GC work,
     * not the program's (else the limiter counted it on both sides). */
    tci_atomic_add_full(&gc_work_ns, t1 - t0);
}

/* Of taken_ns, the waits at a ceiling: monotone, atomic adds. */
static tci_atomic waited_ns;

uint64_t tci_control_waited_ns(void)
{
    return tci_atomic_load_relaxed(&waited_ns);
}

void tci_control_waited(uint64_t ns)
{
    tci_atomic_add_full(&waited_ns, ns);
    tci_atomic_add_full(&taken_ns, ns); /* the thread's time, taken from the program */
}

void tci_control_marker_slice(uint64_t counted, uint64_t run_ns, int competed)
{
    tci_atomic_add_full(&mark_cpu_ns, counted);
    tci_atomic_add_full(&gc_work_ns, run_ns);
    if (competed)
        tci_atomic_add_full(&taken_ns, run_ns); /* taken from the program */
    if (run_ns > counted)
        tci_atomic_add_full(&mark_idle_ns, run_ns - counted);
}

void tci_control_mark_cpu_take(uint64_t *markers, uint64_t *assists, uint64_t *idle)
{
    *markers = tci_atomic_load_relaxed(&mark_cpu_ns);
    *assists = tci_atomic_load_relaxed(&assist_cpu_ns);
    *idle = tci_atomic_load_relaxed(&mark_idle_ns);
    tci_atomic_store_relaxed(&mark_cpu_ns, 0);
    tci_atomic_store_relaxed(&assist_cpu_ns, 0);
    tci_atomic_store_relaxed(&mark_idle_ns, 0);
}

uint64_t tci_control_nonheap_bytes(const tci_heap_stats *hs)
{
    return hs->meta_bytes + tci_mark_buf_bytes() + tci_cache_sys_bytes();
}

uint64_t tci_control_scavenge_target(uint64_t nonheap, uint64_t *retain_limit, int *capped)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    uint64_t target = tci_scavenge_target(pacer.goal_bytes, pacer.frag, pacer.inuse_peak,
                                          pacer.cfg.memlimit_bytes, nonheap, capped);
    *retain_limit = tci_scavenge_retain_limit(pacer.cfg.memlimit_bytes, nonheap);
    tci_mutex_unlock(&pacer_lock);
    return target;
}

int tci_control_pressure_info(tc_memory_pressure *info)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    int limited = pacer.limited;
    *info = (tc_memory_pressure){
        .memory_limit = pacer.cfg.memlimit_bytes,
        .goal_bytes = pacer.goal_bytes,
        .live_bytes = pacer.live_bytes,
        .cycle = pacer.cycles,
    };
    tci_pacer tmp = pacer;
    tci_mutex_unlock(&pacer_lock);
    if (limited) {
        tci_pacer_set_memlimit(&tmp, -1);
        info->unlimited_goal_bytes = tmp.goal_bytes;
    }
    return limited;
}

void tci_control_read_plan(uint64_t *expected_work, double *cons_mark)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    *expected_work = pacer.live_bytes + pacer.root_bytes;
    *cons_mark = pacer.cons_mark;
    tci_mutex_unlock(&pacer_lock);
}

uint64_t tci_control_mark_begin_stw(uint64_t heap0, uint64_t *expected_work, double *cons_mark)
{
    tci_atomic_store_relaxed(&mark_cycle_id, tci_atomic_load_relaxed(&mark_cycle_id) + 1);
    tci_atomic_store_relaxed(&cycle_assist_bytes, 0);
    external_snapshot_stw();
    trig_external = snap_e;
    trig_external_live = tci_atomic_load_relaxed(&ext_planned);
    tci_mutex_lock(&pacer_lock); /* released below */
    limiter_update_locked(tci_os_now_ns(), 1);
    uint64_t ratio = tci_pacer_assist_ratio(&pacer, heap0 + trig_external, 0);
    tci_atomic_store_relaxed(&assist_ratio, ratio);
    *expected_work = pacer.live_bytes + pacer.root_bytes;
    *cons_mark = pacer.cons_mark;
    tci_mutex_unlock(&pacer_lock);
    return ratio;
}

void tci_control_mark_fill(tci_pacer_mark *m, uint64_t t_start)
{
    m->assist_bytes = tci_atomic_load_relaxed(&cycle_assist_bytes);
    uint64_t now = m->heap_at_trigger + trig_external;
    uint64_t base = last_base_bytes + trig_external_live;
    m->idle_alloc_bytes = now > base ? now - base : 0;
    m->idle_ns = last_mark_end_ns && t_start > last_mark_end_ns ? t_start - last_mark_end_ns : 0;
}

void tci_control_mark_done_stw(tci_pacer_mark *m, uint64_t now)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    m->heap_at_end = tci_atomic_load_relaxed(&tci_heap_live);
    m->inuse_bytes = hs.inuse_bytes;
    m->inuse_peak_bytes = tci_heap_take_inuse_peak();
    m->nonheap_bytes = tci_control_nonheap_bytes(&hs);
    uint64_t kept = m->marked_bytes + m->black_bytes;
    /* A concurrent mark's end does not raise X: the sweep has not queued
     * the finalizers of what the mark found dead yet, whose bytes are
     * still in E (a goal raised with them let the program add 50% over it
     * before the sweep's end re-planned). The sweep's end raises it, if
     * the live external bytes grew (tci_control_external_freed(1)). The
     * stopped collector sweeps lazily: its stop is stop #1 and the end. */
    int concurrent = snapped;
    if (!snapped)
        external_snapshot_stw();
    snapped = 0;
    tci_atomic_store_relaxed(&tci_heap_live, kept);
    tci_atomic_store_relaxed(&tci_sweep_gen, tci_atomic_load_relaxed(&tci_sweep_gen) + 2);
    tci_atomic_store_relaxed(&tci_sweep_unswept_spans, tci_heap_nspans());
    tci_mutex_lock(&pacer_lock); /* released below */
    tci_atomic_store_relaxed(&ext_at_mark, snap_e);
    tci_atomic_store_relaxed(&fin_at_mark, snap_fin);
    m->external_bytes = external_live_now();
    uint64_t before = tci_atomic_load_relaxed(&ext_planned);
    if (concurrent && m->external_bytes > before)
        m->external_bytes = before;
    m->external_black_bytes = tci_external_added() - snap_added;
    tci_pacer_mark_done(&pacer, m);
    tci_atomic_store_relaxed(&ext_planned, m->external_bytes);
    limiter_update_locked(now, 1);
    pacer_publish_locked();
    tci_mutex_unlock(&pacer_lock);
    last_mark_end_ns = now;
    last_base_bytes = kept;
}

/* Re-plans the assist ratio from the mark's progress and the heap now, and
 * feeds the limiter. Returns the new ratio (0: the limiter is engaged). */
static uint64_t assist_revise(void)
{
    uint64_t now = tci_os_now_ns();
    tci_mutex_lock(&pacer_lock); /* released below */
    limiter_update_locked(now, 0);
    uint64_t r = tci_pacer_assist_ratio(&pacer, tci_control_paced_bytes(), tci_mark_progress());
    tci_mutex_unlock(&pacer_lock);
    tci_atomic_store_relaxed(&assist_ratio, r);
    return r;
}

/* Pays up to ASSIST_CAP of the thread's debt by marking; the time it
 * takes is GC CPU of every kind (see the essay). */
static int assist_pay(void)
{
    tc_tracer *tr = tci_cache_tracer();
    if (!tr)
        return 0;
    uint64_t budget = assist_debt < ASSIST_CAP ? assist_debt : ASSIST_CAP;
    uint64_t t0 = tci_os_now_ns();
    int no_work;
    uint64_t marked;
    uint64_t done = tci_mark_assist(tr, (size_t)budget, &no_work, &marked);
    uint64_t spent = tci_os_now_ns() - t0;
    tci_atomic_add_full(&assist_cpu_ns, spent); /* the thread ran throughout */
    tci_atomic_add_full(&gc_work_ns, spent);
    tci_atomic_add_full(&limiter_gc_ns, spent);
    /* An assist is one that did scan work: a call that found none (the
     * markers hold it all) is a few loads, and counting those buried the
     * real ones (70,000 of them at 0.06 us in the latency experiment). */
    if (done)
        tci_stats_record_assist(spent);
    tci_atomic_add_full(&cycle_assist_bytes, marked);
    /* Far past the goal, an assist with nothing to take asks the markers
     * to share: binary trees' marks ended 7-12 MB past a 23 MB goal, every
     * cycle, their assists finding nothing and forgiving their debt (with
     * the markers sharing at any distance past the goal, the heap stayed
     * at 25-31 MB but the run took twice as long). */
    if (no_work) {
        uint64_t goal = tci_atomic_load_relaxed(&tci_control_next_gc);
        if (tci_control_paced_bytes() > goal + goal / SHARE_PAST_GOAL)
            tci_mark_want_share();
    }
    /* Debt with no grey work left is forgiven; a stop that cut the assist
     * short leaves the rest owed. */
    assist_debt = no_work ? 0 : assist_debt - (done < assist_debt ? done : assist_debt);
    return no_work;
}

int tci_control_assist(size_t bytes, int past_ceiling)
{
    static __thread uint64_t since_recheck;
    if (tci_gate_mark_closed())
        return 0;
    uint64_t id = tci_atomic_load_relaxed(&mark_cycle_id);
    if (assist_cycle != id) {
        assist_cycle = id;
        assist_debt = 0;
    }
    if (past_ceiling) {
        /* The ratio at stop #1 may be that of a heap far under its goal,
         * and no credit pays: the thread marks what its allocation owes at
         * the ratio past the goal (unless the limiter holds assists off). */
        uint64_t r = assist_revise();
        if (r == 0)
            return 0;
        assist_debt += (uint64_t)bytes * r / 1024;
        return assist_pay();
    }
    uint64_t ratio = tci_atomic_load_relaxed(&assist_ratio);
    if (ratio == 0) {
        since_recheck += bytes;
        if (since_recheck < ASSIST_RECHECK)
            return 0;
        since_recheck = 0;
        if (assist_revise() == 0)
            return 0;
        ratio = tci_atomic_load_relaxed(&assist_ratio);
    }
    assist_debt += (uint64_t)bytes * ratio / 1024;
    if (assist_debt < ASSIST_CHUNK)
        return 0;
    /* What the markers have marked pays first: a thread marks only when
     * they are behind. */
    assist_debt -= tci_mark_credit_take(assist_debt);
    if (assist_debt < ASSIST_CHUNK)
        return 0;
    if (assist_revise() == 0) {
        assist_debt = 0; /* the limiter: no assists now */
        return 0;
    }
    return assist_pay();
}

void tci_control_trace_mark(const tci_pacer_mark *m, uint64_t goal, uint64_t expected_work,
                            uint64_t stack_bytes, uint64_t mark_cpu, double cons_before)
{
    const double mb = 1048576.0;
    char f[32];
    tci_mutex_lock(&pacer_lock); /* released below */
    tci_pacer p = pacer;
    tci_mutex_unlock(&pacer_lock);
    double util = m->mark_ns && ncpu ? (double)mark_cpu / ((double)m->mark_ns * ncpu) : 0.0;
    long long dgoal = goal == UINT64_MAX ? 0 : (long long)m->heap_at_end - (long long)goal;
    fprintf(stderr,
            "pacer: %d%% CPU (25 exp.) for %llu+%llu+%llu B work (%llu B exp.) in %llu B -> "
            "%llu B (\u2206goal %lld, cons/mark %s)\n",
            (int)(util * 100), (unsigned long long)m->marked_bytes,
            (unsigned long long)stack_bytes,
            (unsigned long long)(m->root_bytes - stack_bytes), (unsigned long long)expected_work,
            (unsigned long long)m->heap_at_trigger, (unsigned long long)m->heap_at_end, dgoal,
            tci_trace_float(f, cons_before));
    if (tci_env_cfg.gcpacertrace < 2)
        return;
    fprintf(stderr,
            "pacer: cycle %llu marked %.1f MB black %.1f MB roots %.1f KB assists %.1f MB "
            "heap %.1f->%.1f MB in-use %.1f MB non-heap %.1f MB; alloc %.0f MB/s mark %.0f "
            "MB/s cons/mark %.3f start delay %.0f us runway x%.2f; goal %.1f MB%s trigger %.1f MB; "
            "limiter %s bucket %.0f ms; external %.1f MB (live %.1f MB)\n",
            (unsigned long long)p.cycles, m->marked_bytes / mb, m->black_bytes / mb,
            m->root_bytes / 1024.0, m->assist_bytes / mb, m->heap_at_trigger / mb,
            m->heap_at_end / mb, m->inuse_bytes / mb, m->nonheap_bytes / mb,
            p.alloc_rate * 1e9 / mb, p.mark_rate * 1e9 / mb, p.cons_mark, p.delay_ns / 1e3,
            p.runway_scale,
            p.goal_bytes == TCI_PACER_NONE ? 0.0 : p.goal_bytes / mb,
            p.limited ? " (memory limit)" : "",
            p.trigger_bytes == TCI_PACER_NONE ? 0.0 : p.trigger_bytes / mb,
            p.engaged ? "on" : "off", p.bucket_ns / 1e6, tci_external_bytes() / mb,
            p.external_bytes / mb);
}

void tci_control_read_settings(tc_memstats *out)
{
    out->gc_percent = (int32_t)tci_atomic_load_relaxed(&set_gc_percent);
    int64_t lim = (int64_t)tci_atomic_load_relaxed(&set_memlimit);
    out->memory_limit = lim < 0 ? INT64_MAX : lim;
    out->gc_cpu_limit = (uint32_t)tci_atomic_load_relaxed(&set_cpu_limit);
    out->limiter_engaged = (uint32_t)tci_atomic_load_relaxed(&limiter_on);
    out->limiter_last_cycle = tci_atomic_load_relaxed(&set_engaged_cycle);
    out->limiter_engagements = tci_atomic_load_relaxed(&set_engagements);
    out->gc_trigger = tci_atomic_load_relaxed(&gc_trigger);
    out->goal_limited = (uint32_t)tci_atomic_load_relaxed(&set_limited);
    out->external_bytes = tci_external_bytes();
    out->external_live_bytes = tci_atomic_load_relaxed(&ext_planned);
}

/* cycle.c: the collection cycle: its steps, the collector thread, the
 * requests that wake it, and the trigger the allocation paths call.
 *
 * The concurrent cycle (the default), run by the collector's own thread
 * (gc_main), which a mutator wakes when the heap reaches the trigger:
 *
 *  0. Finish sweeping the previous cycle, world running (normally the
 *     background sweep has done it already).
 *  1. Stop #1: flush every cache (alloc_bits exact, no window left); turn
 *     the phase to MARK, which turns on the barrier and allocate-black;
 *     grey the roots (stacks and registers of every thread, root ranges,
 *     root callbacks). Restart the world.
 *  2. Concurrent mark: the collector thread and TRICOLOR_MARKERS - 1
 *     helpers drain the grey work; mutators shade what their stores
 *     overwrite and assist in proportion to what they allocate.
 *  3. Stop #2, mark termination: flush every cache and every mutator's
 *     grey objects. If any turned up, restart the world and go back to 2
 *     (at most a few times, then finish with the world stopped). Then the
 *     live heap is the marked bytes plus what was allocated black; phase
 *     OFF, barrier off (CLEAR, the barrier's flag kept up, when the mark
 *     found objects with weak slots), sweepgen + 2, the next goal. Restart
 *     the world.
 *  4. Clear the weak slots that name objects the mark left unmarked
 *     (gc/weak_field.c; no span is swept before), phase OFF. Sweep in the
 *     background (the collector thread), and lazily where threads
 *     allocate; every span once, under its central's lock.
 *
 * Why nothing reachable is freed (snapshot at the beginning, Yuasa): at
 * stop #1 every root is greyed, so every object reachable then is reachable
 * from a grey object or a root's target. From then on, a path to such an
 * object can be cut only by overwriting a heap slot on it (roots were
 * scanned, so changing them cuts nothing the mark still needs), and every
 * heap store shades the value it overwrites. So every object reachable at
 * stop #1 is marked by the end; every object allocated since is black.
 * An object a mutator can reach at stop #2 was either reachable at stop #1
 * or allocated since, so it is marked. See docs/design.md.
 *
 * TRICOLOR_DEBUG=gcstoptheworld=1 keeps the old cycle: the allocating
 * thread stops the world and marks everything inside one stop.
 *
 * Around it: gc/control.c paces it (goal, trigger, assists, the CPU
 * limiter, GC CPU), gc/barrier.c holds the phase and the barrier,
 * gc/sweep.c and gc/scavenge.c do step 4 and what follows it, gc/gate.c
 * lets tests hold the collector at each step, gc/init.c sets it all up.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fork.h"
#include "gc.h"
#include "os.h"
#include "pacer.h"

/* Bytes allocated black in this mark: reset at stop #1, atomic adds. */
tci_atomic tci_cycle_black_bytes;

/* Cycle hooks (tci_cycle_hook_add): written under world_lock, read with
 * the world stopped (start) or after a cycle (after; the count is an
 * atomic so a hook added meanwhile is seen whole or not at all). */
static struct {
    void (*start_stw)(void);
    void (*after)(void);
} cycle_hooks[TCI_MAX_CYCLE_HOOKS];
static tci_atomic ncycle_hooks;

int tci_cycle_hook_add(void (*start_stw)(void), void (*after)(void))
{
    tci_world_lock(tci_thread_self());
    uintptr_t n = tci_atomic_load_relaxed(&ncycle_hooks);
    int rc = -1;
    if (n < TCI_MAX_CYCLE_HOOKS) {
        cycle_hooks[n].start_stw = start_stw;
        cycle_hooks[n].after = after;
        tci_atomic_store_release(&ncycle_hooks, n + 1);
        rc = 0;
    }
    tci_world_unlock();
    return rc;
}

static void run_start_hooks_stw(void)
{
    uintptr_t n = tci_atomic_load_acquire(&ncycle_hooks);
    for (uintptr_t i = 0; i < n; i++)
        if (cycle_hooks[i].start_stw)
            cycle_hooks[i].start_stw();
}

/* Once a cycle's mark is over and the world runs: the hooks' after
 * functions. No collector lock held. (Finalizers are queued, and their
 * thread signalled, by the sweep: gc/special.c.) */
static void after_mark(void)
{
    uintptr_t n = tci_atomic_load_acquire(&ncycle_hooks);
    for (uintptr_t i = 0; i < n; i++)
        if (cycle_hooks[i].after)
            cycle_hooks[i].after();
}

/* The report's figures both collectors fill alike, at a cycle's end with
 * its stops recorded, under world_lock: the heap after the mark, the roots
 * it scanned, the stops, gctrace's P; and the cycle's number, as the
 * statistics count it. */
static void report_close(tci_cycle_report *r, const tci_pacer_mark *m, uint64_t live, int ncpu)
{
    uint64_t stacks = tci_roots_last_stack_bytes();
    r->heap1 = m->heap_at_end;
    r->live = live;
    r->next_goal = tci_atomic_load_relaxed(&tci_control_next_gc);
    r->stack_bytes = stacks;
    r->global_bytes = m->root_bytes - stacks;
    r->pause_ns = tci_stats_cycle_pause_ns();
    r->stops = tci_stats_cycle_stops();
    r->procs = ncpu; /* gctrace's P: Go prints GOMAXPROCS */
    r->cycle = tci_stats_record_cycle(live, r->forced, stacks, m->root_bytes - stacks);
}

/* Runs one cycle with the world stopped throughout (gcstoptheworld=1);
 * the caller holds world_lock and published its frame. */
static __attribute__((noinline)) void collect_locked(tci_thread *self, int forced,
                                                     tci_cycle_report *out,
                                                     tci_pacer_mark *mout, uint64_t *expected,
                                                     double *cons_before)
{
    tci_world_assert_held();
    uint64_t t0 = tci_os_now_ns();
    uint64_t heap0 = tci_atomic_load_relaxed(&tci_heap_live);
    uint64_t goal = tci_atomic_load_relaxed(&tci_control_next_gc);
    uint64_t ttsp = tci_world_stop(self);
    tci_control_read_plan(expected, cons_before);
    tci_cache_flush_all_stw();
    tci_sweep_all();
    uint64_t t_marks = tci_os_now_ns();
    run_start_hooks_stw();
    uint64_t live = tci_markers_stw();
    uint64_t t_marke = tci_os_now_ns();
    if (tci_env_cfg.verify)
        tci_verify_marks_stw();
    if (tci_weakfield_end_mark_stw())
        tci_barrier_set_phase(TCI_PHASE_CLEAR); /* their pass after the stop (collect_run) */
    tci_pacer_mark m = {
        .marked_bytes = live,
        .root_bytes = tci_roots_last_bytes(),
        .heap_at_trigger = heap0,
    };
    tci_control_mark_done_stw(&m, t_marke);
    tci_gate_pass_stop();
    /* The pause ends when every held thread runs again (tci_world_start
     * waits for them): the statistics below are written after it, still
     * under world_lock. */
    uint64_t t1 = tci_world_start();
    tci_control_record_stop(t0, t1, ttsp);
    uint64_t ncpu = (uint64_t)tci_control_ncpu();
    tci_cycle_report r = {
        .forced = forced,
        .t_start = t0, .t_mark = t_marks, .t_term = t_marke, .t_end = t1,
        .start_cpu_ns = (t_marks - t0) * ncpu,
        .mark_cpu_ns = (t_marke - t_marks) * ncpu,
        .term_cpu_ns = (t1 - t_marke) * ncpu,
        .heap0 = heap0, .goal = goal,
    };
    report_close(&r, &m, live, (int)ncpu);
    *out = r;
    *mout = m;
}

/* ---- The concurrent cycle ------------------------------------------------ */

/* Mark termination stops the world at most this many times: after each of
 * the first TERMINATION_ROUNDS - 1 stops that finds new grey work the
 * markers go back to work beside the program; the last finishes the mark
 * inside the stop. Each round costs a stop, and a mutator that keeps
 * overwriting pointers could otherwise keep the cycle from ending. */
#define TERMINATION_ROUNDS 4

/* Cycle requests: protected by gc_lock. A cycle counts as started when the
 * collector thread takes it, done when its sweep is finished. */
static tci_mutex gc_lock = TCI_MUTEX_INIT(TCI_RANK_GC, "gc_lock");
TCI_FORK_LOCK(gc_lock)
static pthread_cond_t gc_cond = PTHREAD_COND_INITIALIZER;      /* collector waits */
TCI_FORK_COND(gc_cond, gc_cond)
static pthread_cond_t gc_done_cond = PTHREAD_COND_INITIALIZER; /* requesters wait */
TCI_FORK_COND(gc_done_cond, gc_done_cond)
static uint64_t cycles_requested, cycles_started, cycles_done;
static uint64_t requested_ns; /* when the oldest request not yet started came */
static uint64_t marks_started; /* concurrent marks past their first stop */
static uint64_t marks_ended;   /* concurrent marks past their last stop */
static int forced_pending;
static int gc_thread_running;
static tci_atomic cycle_active; /* requested and not done: a lock-free hint */

static void concurrent_cycle(int forced, uint64_t requested_ns);

/* While the GC CPU limiter holds cycles back (engaged, with markers that
 * alone take more than the limit: see pacer.c), the collector waits before
 * it starts a cycle the heap asked for (a forced one does not wait),
 * letting the bucket drain: the heap grows past its goal meanwhile, by
 * design. The wait is bounded: the bucket drains at the limit's share of
 * every CPU, 100 ms of every CPU at most to half of it. */
static int limiter_wait(void)
{
    for (int waited = 0;; waited = 1) {
        if (!tci_control_limiter_holds_cycles(1))
            return waited;
        tci_os_sleep_ns(1000000);
    }
}

/* Faults in the top of the collector thread's stack, which its first
 * stop would otherwise take page by page. */
static __attribute__((noinline)) void stack_warm(void)
{
    volatile char buf[64 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = 0;
}

static void *gc_main(void *arg)
{
    (void)arg;
    tci_thread_set_library();
    /* What the first cycle would do inside its stops (start threads,
     * take buffers and stack pages from the OS): 1-5 ms first stops, where
     * later ones take 20-60 us. */
    stack_warm();
    tci_world_lock(NULL);
    tci_markers_warm_locked();
    tci_world_unlock();
    tci_mutex_lock(&gc_lock); /* held except while a cycle runs */
    for (;;) {
        while (cycles_requested == cycles_started)
            tci_cond_wait(&gc_cond, &gc_lock);
        int forced = forced_pending;
        uint64_t requested = requested_ns;
        forced_pending = 0;
        cycles_started++;
        tci_mutex_unlock(&gc_lock);
        /* The start delay the pacer plans for is the collector's, not the
         * limiter's deliberate wait. */
        if (!forced && limiter_wait())
            requested = tci_os_now_ns();
        concurrent_cycle(forced, requested);
        tci_mutex_lock(&gc_lock);
        cycles_done++;
        if (cycles_done == cycles_requested)
            tci_atomic_store_relaxed(&cycle_active, 0);
        pthread_cond_broadcast(&gc_done_cond);
    }
    return NULL;
}

/* Under gc_lock. Starts the collector thread at the first cycle, not at
 * tc_init, so a program that forks before collecting has none to lose. */
static int start_gc_thread_locked(void)
{
    tci_assert_held(&gc_lock);
    if (gc_thread_running)
        return 0;
    int rc = tci_os_thread_start(gc_main, NULL);
    if (rc != 0)
        return rc;
    gc_thread_running = 1;
    return 0;
}

/* Asks for a cycle; returns the number the caller can wait for (a cycle
 * that starts after this call). A background request (forced == 0) is
 * dropped when a cycle is already requested or running. 0, with errno
 * ENOMEM and a message, when the collector's thread cannot start (an
 * address-space or thread limit): the caller fails as an allocation the
 * heap cannot hold does, and the next request tries again. */
uint64_t tci_cycle_request(int forced)
{
    static int start_failed; /* gc_lock: one message per run of failures */
    tci_mutex_lock(&gc_lock); /* released below */
    int rc = start_gc_thread_locked();
    if (rc != 0) {
        int first = !start_failed;
        start_failed = 1;
        tci_mutex_unlock(&gc_lock);
        if (first)
            fprintf(stderr, "tricolor: cannot start the collector thread (%s): allocations "
                            "that need a collection fail with ENOMEM until it can\n",
                    strerror(rc));
        errno = ENOMEM;
        return 0;
    }
    start_failed = 0;
    uint64_t want = cycles_started + 1;
    if (cycles_requested == cycles_started)
        requested_ns = tci_os_now_ns();
    if (forced) {
        forced_pending = 1;
        if (cycles_requested < want)
            cycles_requested = want;
    } else if (cycles_requested == cycles_done) {
        cycles_requested++;
    }
    tci_atomic_store_relaxed(&cycle_active, 1);
    pthread_cond_signal(&gc_cond);
    tci_mutex_unlock(&gc_lock);
    return want;
}

/* The heap reached a goal the memory limit set, and the collector is not
 * there yet: the cycle asked for has not started its mark (the collector
 * thread is slow to wake on a busy machine, and a program allocating
 * gigabytes a second fills megabytes meanwhile), or its mark has nothing
 * left to do but end. The allocating thread waits, as a blocked thread,
 * until the collector moves on (a mark starts or ends, a cycle ends), then
 * allocates and looks again. Only under a memory limit, which the program
 * asked to be held: a goal from TRICOLOR_GC alone is soft, as in Go, and
 * the program's latency comes first (a wait here cost the latency
 * experiment pushes of 50-90 ms). Go has no such wait: its allocating
 * goroutine starts the cycle itself. */
static void wait_collector_progress(int (*held)(void))
{
    uint64_t t0 = tci_os_now_ns();
    tc_blocking_begin();
    tci_mutex_lock(&gc_lock); /* released below */
    uint64_t m = marks_started, e = marks_ended, d = cycles_done;
    /* Rechecked every 10 ms: the limiter may engage meanwhile (nothing
     * signals that here), and then the goal is no longer held. */
    while (marks_started == m && marks_ended == e && cycles_done == d &&
           cycles_requested != cycles_done && held()) {
        struct timespec ts;
        tci_os_deadline_after(&ts, 10000000);
        tci_cond_timedwait(&gc_done_cond, &gc_lock, &ts);
    }
    tci_mutex_unlock(&gc_lock);
    tc_blocking_end();
    tci_control_waited(tci_os_now_ns() - t0);
}

void tci_cycle_wait_external(void)
{
    wait_collector_progress(tci_control_external_held);
}

void tci_cycle_wait(uint64_t want)
{
    tc_blocking_begin();
    tci_mutex_lock(&gc_lock); /* released below */
    while (cycles_done < want)
        tci_cond_wait(&gc_done_cond, &gc_lock);
    tci_mutex_unlock(&gc_lock);
    tc_blocking_end();
}

uint64_t tci_cycle_requested(void)
{
    tci_mutex_lock(&gc_lock); /* released below */
    uint64_t n = cycles_requested;
    tci_mutex_unlock(&gc_lock);
    return n;
}

/* What a concurrent cycle carries from step to step. The collector's
 * thread's alone. */
typedef struct cycle {
    int forced;
    uint64_t requested_ns; /* when the cycle was asked for */
    uint64_t t0;           /* stop #1 asked for */
    uint64_t t_mark;       /* stop #1 over: the mark under way */
    uint64_t heap0, goal;  /* at stop #1 */
    uint64_t expected_work; /* the scan work the pacer expects (last mark's) */
    double cons_before;    /* the cons/mark ratio the mark is paced with */
    tci_pacer_mark m;      /* what the mark measured, at its end */
    tci_cycle_report r;    /* what the trace and the events say */
} cycle;

/* Go's line at a cycle's start (gcpacertrace): the assist ratio (scan
 * bytes owed per byte allocated), the scan work expected, the heap now and
 * the goal, the workers (dedicated + fractional: ours are all dedicated,
 * paced to their share). No lock held: stderr may be a full pipe. */
static void trace_start(const cycle *c, uint64_t ratio)
{
    char f[2][32];
    fprintf(stderr, "pacer: assist ratio=%s (scan %llu MB in %llu->%llu MB) workers=%d+%s\n",
            tci_trace_float(f[0], ratio / 1024.0), (unsigned long long)(c->expected_work >> 20),
            (unsigned long long)(c->heap0 >> 20),
            (unsigned long long)(c->goal == UINT64_MAX ? 0 : c->goal >> 20), tci_mark_workers(),
            tci_trace_float(f[1], 0.0));
}

/* Steps 0 and 1: the previous cycle's sweep, world running, and the plain
 * root ranges write-protected, so that the stop need not read them; then
 * stop #1: caches flushed, the phase to MARK, the roots greyed. */
static void first_stop(cycle *c)
{
    tci_sweep_all();
    tci_roots_arm();
    tci_gate_pass_armed();

    tci_world_lock(NULL);
    c->t0 = tci_os_now_ns();
    c->heap0 = tci_atomic_load_relaxed(&tci_heap_live);
    c->goal = tci_atomic_load_relaxed(&tci_control_next_gc);
    uint64_t ttsp = tci_world_stop(NULL);
    tci_cache_flush_all_stw();
    tci_sweep_all(); /* what allocation swept into caches meanwhile: normally nothing */
    tci_atomic_store_relaxed(&tci_cycle_black_bytes, 0);
    uint64_t ratio = tci_control_mark_begin_stw(c->heap0, &c->expected_work, &c->cons_before);
    tci_barrier_set_phase(TCI_PHASE_MARK);
    run_start_hooks_stw();
    tci_markers_begin_stw();
    tci_gate_pass_stop();
    c->t_mark = tci_world_start();
    tci_control_record_stop(c->t0, c->t_mark, ttsp);
    c->r = (tci_cycle_report){
        .cycle = tci_stats_num_gc() + 1, .forced = c->forced,
        .t_start = c->t0, .t_mark = c->t_mark, .heap0 = c->heap0, .goal = c->goal,
        .pause_ns = tci_stats_cycle_pause_ns(), .stops = tci_stats_cycle_stops(),
    };
    tci_world_unlock();
    tci_event_post(TC_GC_EVENT_START, &c->r, 0);
    if (tci_env_cfg.gcpacertrace)
        trace_start(c, ratio);
    tci_mutex_lock(&gc_lock); /* released below */
    marks_started++;
    pthread_cond_broadcast(&gc_done_cond);
    tci_mutex_unlock(&gc_lock);
    tci_gate_pass_mark();
}

/* The last stop's work once no grey object is left (world stopped, under
 * world_lock): the mark's figures, the phase back to OFF, the next goal,
 * the world restarted, the cycle's report. */
static void end_mark_stw(cycle *c, uint64_t t2, uint64_t ttsp2)
{
    uint64_t marked = tci_markers_end_stw();
    uint64_t black = tci_atomic_load_relaxed(&tci_cycle_black_bytes);
    uint64_t live = marked + black;
    if (tci_env_cfg.checkmark)
        tci_verify_checkmark_stw();
    if (tci_env_cfg.verify)
        tci_verify_marks_stw();
    /* CLEAR when the mark found objects with weak slots: their pass runs
     * after this stop (gc/weak_field.c). */
    tci_barrier_set_phase(tci_weakfield_end_mark_stw() ? TCI_PHASE_CLEAR : TCI_PHASE_OFF);
    /* The concurrent marking's CPU (markers and assists) joins the stops'
     * in gc_cpu_ns, and the idle marking its own figure. */
    uint64_t mark_cpu, assist_cpu, idle_cpu;
    tci_control_mark_cpu_take(&mark_cpu, &assist_cpu, &idle_cpu);
    tci_stats_add_mark_cpu(mark_cpu + assist_cpu, idle_cpu);
    c->m = (tci_pacer_mark){
        .marked_bytes = marked,
        .black_bytes = black,
        .root_bytes = tci_roots_last_bytes(),
        .heap_at_trigger = c->heap0,
        .mark_ns = t2 - c->t_mark,
        .start_delay_ns = c->t_mark > c->requested_ns ? c->t_mark - c->requested_ns : 0,
    };
    tci_control_mark_fill(&c->m, c->t0);
    tci_control_mark_done_stw(&c->m, t2);
    uint64_t t_end = tci_world_start();
    tci_control_record_stop(t2, t_end, ttsp2);
    uint64_t ncpu = (uint64_t)tci_control_ncpu();
    uint64_t stw1_ns = c->t_mark - c->t0;
    c->r = (tci_cycle_report){
        .forced = c->forced,
        .t_start = c->t0, .t_mark = c->t_mark, .t_term = t2, .t_end = t_end,
        .start_cpu_ns = stw1_ns * ncpu,
        .assist_cpu_ns = assist_cpu,
        .mark_cpu_ns = mark_cpu,
        .idle_cpu_ns = idle_cpu,
        .term_cpu_ns = (tci_stats_cycle_pause_ns() - stw1_ns) * ncpu,
        .heap0 = c->heap0, .goal = c->goal,
    };
    report_close(&c->r, &c->m, live, (int)ncpu);
}

/* Steps 2 and 3: the markers drain the grey work beside the program, then
 * a stop looks for what the mutators still hold; with new grey work found
 * and rounds left, the world restarts and the markers go on. */
static void mark_and_terminate(cycle *c)
{
    /* Barriered root ranges and what the finalizers keep, world running:
     * a barriered range loses a pointer only through a store that shades
     * it; objects with a finalizer that nothing else reaches cannot change
     * (only their finalizer will see them again), and the queue shades
     * what it hands out meanwhile. */
    tci_markers_roots_concurrent();
    for (int round = 1;; round++) {
        tci_markers_drain_all(1);
        /* The ephemerons, once per mark, world running, now that most of
         * their keys are marked: what the filing pushes (values of marked
         * keys) is drained beside the program, and a key marked later
         * brings its values with it, wherever it is marked (gc/ephemeron.c).
         * The stops do none of it. */
        if (round == 1) {
            int pushed = tci_markers_file_ephemerons();
            tci_gate_pass_filed();
            if (pushed)
                tci_markers_drain_all(1);
        }
        tci_world_lock(NULL);
        uint64_t t2 = tci_os_now_ns();
        uint64_t ttsp2 = tci_world_stop(NULL);
        tci_cache_flush_all_stw(); /* windows unmarked, tracers' grey objects out */
        if (round < TERMINATION_ROUNDS && tci_mark_has_work()) {
            tci_control_record_stop(t2, tci_world_start(), ttsp2);
            tci_world_unlock();
            continue;
        }
        end_mark_stw(c, t2, ttsp2);
        tci_world_unlock();
        return;
    }
}

/* The mark is over and the world runs: the traces (no lock held: stderr
 * may be a full pipe), the event, the waiters, the hooks, the notifier. */
static void after_concurrent_mark(cycle *c)
{
    if (tci_env_cfg.gcpacertrace)
        tci_control_trace_mark(&c->m, c->goal, c->expected_work, c->r.stack_bytes,
                               c->r.assist_cpu_ns + c->r.mark_cpu_ns, c->cons_before);
    if (tci_env_cfg.gctrace)
        tci_trace_gc(&c->r);
    tci_event_post(TC_GC_EVENT_MARK_DONE, &c->r, 0);
    tci_mutex_lock(&gc_lock); /* released below */
    marks_ended++;
    pthread_cond_broadcast(&gc_done_cond);
    tci_mutex_unlock(&gc_lock);
    after_mark();
    tci_notify_after_mark();
}

static void concurrent_cycle(int forced, uint64_t requested_ns_)
{
    cycle c = { .forced = forced, .requested_ns = requested_ns_ };
    first_stop(&c);
    mark_and_terminate(&c);
    after_concurrent_mark(&c);
    /* 4. The background sweep, and then the scavenger. */
    tci_gate_pass_sweep();
    uint64_t t_sweep = tci_os_now_ns();
    tci_weakfield_finish(); /* the weak slots' clearing, before any sweep */
    tci_sweep_all();
    tci_control_external_freed(1); /* the finalizers it queued will free external bytes */
    tci_event_post(TC_GC_EVENT_SWEEP_DONE, &c.r, tci_os_now_ns() - t_sweep);
    tci_scavenge_after_sweep();
}

/* collect's cycle, world_lock held; released here. Its own frame: collect's
 * holds no locals, whose red zones tci_thread_save_frame would read under
 * ASan. */
static __attribute__((noinline)) void collect_run(tci_thread *self, int forced)
{
    tci_cycle_report r;
    tci_pacer_mark m;
    uint64_t expected;
    double cons_before;
    collect_locked(self, forced, &r, &m, &expected, &cons_before);
    /* One stop: the three events at once (this collector sweeps lazily,
     * as threads allocate; its sweep has no end to report). Posted before
     * world_lock goes (posting never blocks), so that another thread's
     * next cycle cannot post first. */
    tci_event_post(TC_GC_EVENT_START, &r, 0);
    tci_event_post(TC_GC_EVENT_MARK_DONE, &r, 0);
    tci_event_post(TC_GC_EVENT_SWEEP_DONE, &r, 0);
    tci_world_unlock();
    tci_weakfield_finish(); /* the weak slots' clearing, world running */
    /* Written with no lock held, as a blocked thread: stderr may be a
     * full pipe, and a stop must not wait for it. */
    if (tci_env_cfg.gcpacertrace || tci_env_cfg.gctrace) {
        tc_blocking_begin();
        if (tci_env_cfg.gcpacertrace)
            tci_control_trace_mark(&m, r.goal, expected, r.stack_bytes, r.mark_cpu_ns,
                                   cons_before);
        if (tci_env_cfg.gctrace)
            tci_trace_gc(&r);
        tc_blocking_end();
    }
    after_mark();
    tci_notify_after_mark();
}

/* A cycle, unless not forced and the heap (with `bytes` about to be taken)
 * is under the trigger by the time we hold world_lock: another thread
 * collected while we waited. */
static __attribute__((noinline)) void collect(tci_thread *self, int forced, size_t bytes)
{
    tci_world_lock(self);
    /* The collector's own stack is scanned from here up: the frames below
     * (stopping, sweeping, marking) hold only stale values of the library,
     * and a stale heap address there kept dead objects alive. */
    tci_thread_save_frame(self);
    if (!forced && tci_control_paced_bytes() + bytes <
                       tci_atomic_load_relaxed(&tci_control_next_gc)) {
        /* Another thread collected while we waited. */
        tci_world_unlock();
        return;
    }
    collect_run(self, forced);
}

/* A full cycle that starts after the call, and its sweep, done. -1 with
 * errno ENOMEM when the collector's thread cannot start. */
static int collect_forced(tci_thread *self)
{
    if (tci_env_cfg.gcstoptheworld) {
        collect(self, 1, 0);
        return 0;
    }
    uint64_t want = tci_cycle_request(1);
    if (want == 0)
        return -1;
    tci_cycle_wait(want);
    return 0;
}

void tc_collect(void)
{
    if (tci_cache_check_thread("tc_collect") != 0)
        return;
    if (tci_defer_active()) {
        tci_defer_note(1); /* at the outermost section's end (docs/api.md) */
        return;
    }
    tci_thread *self = tci_thread_self();
    if (collect_forced(self) != 0)
        return; /* errno ENOMEM, reported */
    /* Go's runtime.GC returns with the heap swept: so do we (the collector
     * thread has swept, but allocation may have left spans to sweep in the
     * stop-the-world mode, which has no collector thread to scavenge). */
    tci_sweep_all();
    if (tci_env_cfg.gcstoptheworld)
        tci_scavenge_after_sweep();
}

void tc_release_memory(void)
{
    if (tci_cache_check_thread("tc_release_memory") != 0)
        return;
    tc_collect();
    tci_scavenge_all();
}

int tci_cycle_maybe_trigger(tci_thread *self, size_t bytes)
{
    if (tci_phase() == TCI_PHASE_MARK) {
        /* Past a limit's ceiling a thread marks, the markers' credit
         * notwithstanding (it covered every allocation of a program that
         * outran its markers); with nothing left to mark only the mark's
         * end is missing (see wait_collector_progress). With grey work left
         * a thread never waits, it assists, at most ASSIST_CAP per
         * allocation. */
        int past = tci_control_past_ceiling(bytes);
        if (tci_control_assist(bytes, past) && past)
            wait_collector_progress(tci_control_held);
        return 0;
    }
    if (tci_control_paced_bytes() + bytes <
        tci_control_trigger())
        return 0;
    if (tci_defer_active()) {
        tci_defer_note(0); /* past the trigger, and the limit, meanwhile */
        return 0;
    }
    if (tci_env_cfg.gcstoptheworld) {
        /* limiter_wait's counterpart for the stopped collector, which
         * looks at every allocation past the trigger: throttled. */
        if (!tci_control_limiter_holds_cycles(0))
            collect(self, 0, bytes);
        return 0;
    }
    if (!tci_atomic_load_relaxed(&cycle_active) && tci_cycle_request(0) == 0)
        return -1;
    if (tci_control_past_ceiling(bytes))
        wait_collector_progress(tci_control_held);
    return 0;
}

int tci_cycle_stress_tick(tci_thread *self)
{
    static __thread unsigned ticks;
    if (++ticks >= tci_env_cfg.gcstress) {
        ticks = 0;
        if (tci_defer_active()) {
            tci_defer_note(0);
            return 0;
        }
        return collect_forced(self);
    }
    return 0;
}

void tci_cycle_start_deferred(int forced)
{
    if (!tci_env_cfg.gcstoptheworld) {
        (void)tci_cycle_request(forced); /* ENOMEM: reported; the next trigger asks again */
        return;
    }
    tci_thread *self = tci_thread_self();
    if (self && self->blocking_depth == 0 && !tci_walk_in_callback())
        collect(self, forced, 0);
}

/* The child of a fork (gc/fork.c), every lock held: no collector thread,
 * no cycle running or asked for (a mark under way is abandoned after);
 * the next request starts the thread again. Returns 1 when the collector
 * was in a cycle at the fork (it may have held spans). */
int tci_cycle_fork_child_locked(void)
{
    tci_assert_held(&gc_lock);
    int busy = cycles_started != cycles_done;
    gc_thread_running = 0;
    cycles_started = cycles_requested = cycles_done;
    marks_ended = marks_started;
    forced_pending = 0;
    tci_atomic_store_relaxed(&cycle_active, 0);
    return busy;
}

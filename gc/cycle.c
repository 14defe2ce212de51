/* cycle.c: the collection cycle, start-up, the trigger and the barrier.
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
 *     OFF, barrier off, sweepgen + 2, the next goal. Restart the world.
 *  4. Sweep in the background (the collector thread), and lazily where
 *     threads allocate; every span once, under its central's lock.
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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "os.h"
#include "pacer.h"

tci_config tci_cfg;
tci_atomic tci_heap_live;
tci_atomic tci_next_gc;
tci_atomic tci_freed_objects, tci_freed_bytes;
int tci_initialised;
volatile int tc_barrier_enabled_;
tci_atomic tci_gcphase;
tci_atomic tci_black_bytes;
/* Start a concurrent cycle when the heap reaches this (below next_gc, so
 * the mark can finish before the goal); next_gc in the stop-the-world mode. */
static tci_atomic gc_trigger;

/* The pacer (gc/pacer.c) decides the goal, the trigger, the assist ratio
 * and the GC CPU limiter. Protected by pacer_lock: the collector takes it at
 * a cycle's edges, an assisting thread when it pays, the setters when they
 * change a setting. Lock order: world_lock, then pacer_lock; nothing is
 * taken under pacer_lock. What the fast paths read is mirrored in atomics:
 * tci_next_gc (the goal), gc_trigger, assist_ratio (0 while the limiter is
 * engaged). */
static tci_mutex pacer_lock = TCI_MUTEX_INIT(TCI_RANK_PACER, "pacer_lock");
static tci_pacer pacer;
static uint64_t limiter_last_ns, limiter_last_cpu, limiter_last_proc, limiter_last_work; /* pacer_lock */
/* The CPU time GC work took on the threads that did it (markers' whole
 * run time, idle marking included, assists, and the stopping thread's
 * time in each stop), monotone: what the process's CPU time holds that is
 * not the program's own. */
tci_atomic tci_gc_work_ns;
static tci_atomic limiter_on;  /* mirror of pacer.engaged */
/* Mirrors of the pacer's settings and limiter counts for tc_read_memstats,
 * which takes no lock: written under pacer_lock. */
static tci_atomic set_gc_percent, set_memlimit, set_cpu_limit, set_limited;
static tci_atomic set_engaged_cycle, set_engagements;

static void publish_settings_locked(void)
{
    tci_atomic_store_relaxed(&set_gc_percent, (uintptr_t)(intptr_t)pacer.cfg.gc_percent);
    tci_atomic_store_relaxed(&set_memlimit, (uintptr_t)(intptr_t)pacer.cfg.memlimit_bytes);
    tci_atomic_store_relaxed(&set_cpu_limit, (uintptr_t)pacer.cfg.cpu_limit_pct);
    tci_atomic_store_relaxed(&set_limited, (uintptr_t)pacer.limited);
    tci_atomic_store_relaxed(&set_engaged_cycle, (uintptr_t)pacer.engaged_cycle);
    tci_atomic_store_relaxed(&set_engagements, (uintptr_t)pacer.engagements);
}
static tci_atomic goal_hard;   /* see goal_is_hard_locked */
/* GC CPU for the limiter, monotone: the time GC took from the program.
 * Stops (their length times the CPUs) and assists, added as they end,
 * plus the markers' time in slices where they competed with the program
 * for a CPU (tci_mark_taken_ns, added every millisecond). A marker on a
 * CPU the program left idle takes nothing from it: that time is not here
 * (its 25% share is in gc_cpu_ns, as Go's GCCPUFraction counts it). */
static tci_atomic limiter_gc_ns, cycle_assist_bytes;
/* Where the last mark left the heap, for the next cycle's allocation rate.
 * Written by the collector with the world stopped. */
static uint64_t last_mark_end_ns, last_base_bytes;
/* The memory-pressure callback: protected by pacer_lock (copied out before
 * the call, which runs with no lock held). */
static void (*pressure_fn)(void *arg, const tc_memory_pressure *info);
static void *pressure_arg;
static int ncpu; /* read once at tc_init: sysconf reads /sys, not for a pause */
static tci_mutex init_lock = TCI_MUTEX_INIT(TCI_RANK_INIT, "init_lock");

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

static const tci_thread_hooks thread_hooks = {
    .attach = tci_cache_attach,
    .detach = tci_cache_detach,
    .region = tci_cache_region,
};

static void pacer_publish_locked(void);
static void stop_gate_pass(void);
static int goal_is_hard_locked(void);
static uint64_t scavenge_plan(uint64_t *retained);

int tc_init(void)
{
    char err[512];
    tci_mutex_lock(&init_lock); /* released on every path */
    if (tci_initialised) {
        tci_mutex_unlock(&init_lock);
        fprintf(stderr, "tricolor: tc_init called twice (the heap is set up already; "
                        "other threads call tc_thread_attach)\n");
        errno = EALREADY;
        return -1;
    }
    tci_config cfg;
    if (tci_env_load(&cfg, err, sizeof err) != 0) {
        tci_mutex_unlock(&init_lock);
        fprintf(stderr, "tricolor: tc_init: %s\n", err);
        errno = EINVAL;
        return -1;
    }
    ncpu = tci_os_ncpu();
    if (cfg.markers == 0) {
        /* Concurrent: background markers for about a quarter of the CPUs
         * (Go's 25% goal), at least one. Stopped: every CPU marks. */
        int n = cfg.gcstoptheworld ? ncpu : (ncpu + 2) / 4;
        n = n < 1 ? 1 : n;
        cfg.markers = n > 8 ? 8 : n;
    }
    tci_cfg = cfg;
    tci_sizeclass_init();
    tci_central_init();
    if (tci_heap_init() != 0 || tci_types_init() != 0 ||
        tci_threads_init(&thread_hooks) != 0) {
        tci_mutex_unlock(&init_lock);
        fprintf(stderr, "tricolor: tc_init: cannot reserve address space for the heap\n");
        errno = ENOMEM;
        return -1;
    }
    tci_mark_init(cfg.markers, ncpu);
    tci_profile_init(cfg.mem_profile_rate);
    tci_atomic_store_relaxed(&tci_sweepgen, 2);
    tci_pacer_config pc = {
        .gc_percent = cfg.gc_percent,
        .memlimit_bytes = cfg.memlimit,
        .cpu_limit_pct = cfg.gc_cpu_limit,
        .ncpu = ncpu,
        .markers = cfg.gcstoptheworld ? 0 : cfg.markers,
        .markers_paced = tci_mark_paced(),
    };
    tci_mutex_lock(&pacer_lock); /* released below */
    tci_pacer_init(&pacer, &pc);
    pacer_publish_locked();
    tci_mutex_unlock(&pacer_lock);
    tci_stats_init(ncpu, tci_os_now_ns());
    tci_initialised = 1;
    tci_mutex_unlock(&init_lock);
    if (tc_thread_attach() != 0)
        return -1;
    return 0;
}

int tc_set_gc_percent(int percent)
{
    if (!tci_initialised) {
        /* tc_init sets it from TRICOLOR_GC: a value set before would be
         * lost without a word. */
        fprintf(stderr, "tricolor: tc_set_gc_percent: call tc_init() first (refused)\n");
        errno = EPERM;
        return -1;
    }
    if (percent > 1000000)
        percent = 1000000; /* TRICOLOR_GC's range: the goal's arithmetic holds */
    if (percent < 0)
        percent = -1;
    /* The goal follows at once, from the last mark's figures. */
    tci_mutex_lock(&pacer_lock); /* released below */
    int old = pacer.cfg.gc_percent;
    tci_pacer_set_gc_percent(&pacer, percent);
    pacer_publish_locked();
    tci_mutex_unlock(&pacer_lock);
    return old;
}

int64_t tc_set_memory_limit(int64_t bytes)
{
    if (!tci_initialised) {
        fprintf(stderr, "tricolor: tc_set_memory_limit: call tc_init() first (refused)\n");
        errno = EPERM;
        return -1;
    }
    tci_mutex_lock(&pacer_lock); /* released below */
    int64_t old = pacer.cfg.memlimit_bytes < 0 ? INT64_MAX : pacer.cfg.memlimit_bytes;
    if (bytes >= 0) {
        tci_pacer_set_memlimit(&pacer, bytes == INT64_MAX ? -1 : bytes);
        pacer_publish_locked();
    }
    tci_mutex_unlock(&pacer_lock);
    uint64_t retained;
    if (bytes >= 0)
        (void)scavenge_plan(&retained); /* the synchronous bound follows the limit */
    return old;
}


/* Records a stop from t0 (the request) to t1 (every held thread running
 * again), both tci_os_now_ns: the statistics, and the limiter's GC CPU
 * (a stopped world costs every CPU). Under world_lock. */
static void record_stop(uint64_t t0, uint64_t t1, uint64_t ttsp)
{
    uint64_t released = tci_world_released_ns();
    tci_stats_record_stop(t0, t1, ttsp, t1 > released ? t1 - released : 0);
    tci_atomic_add_full(&limiter_gc_ns, (t1 - t0) * (uint64_t)ncpu);
    /* The stopping thread worked throughout: that CPU time is GC work,
     * not the program's (else the limiter counted it on both sides). */
    tci_atomic_add_full(&tci_gc_work_ns, t1 - t0);
}

/* The pacer's goal and trigger, where the allocation paths read them. The
 * stopped collector starts at the goal itself (it finishes inside one
 * stop, so no runway is needed). Under pacer_lock. */
static void pacer_publish_locked(void)
{
    publish_settings_locked();
    tci_atomic_store_relaxed(&goal_hard, (uintptr_t)goal_is_hard_locked());
    tci_atomic_store_relaxed(&tci_next_gc, pacer.goal_bytes);
    tci_atomic_store_relaxed(&gc_trigger,
                             tci_cfg.gcstoptheworld ? pacer.goal_bytes : pacer.trigger_bytes);
}

/* Whether an allocating thread that reaches the goal waits for the
 * collector (wait_collector_progress): only when the memory limit set the
 * goal, the limiter is off, and the goal leaves real room over what the
 * last mark kept (1/16 of it, at least 1 MiB). A live heap that does not
 * fit under the limit must not turn every allocation into a wait for the
 * collector (one allocation per phase change: a program 70x slower in the
 * review's test), whatever the CPU limit: there the heap grows past the
 * limit, as the limit's documentation says. Under pacer_lock. */
static int goal_is_hard_locked(void)
{
    if (!pacer.limited || pacer.engaged)
        return 0;
    uint64_t room = pacer.goal_bytes / 16 > (1u << 20) ? pacer.goal_bytes / 16 : (1u << 20);
    return pacer.goal_bytes > pacer.base_bytes && pacer.goal_bytes - pacer.base_bytes >= room;
}

/* GC CPU so far, for the limiter (see limiter_gc_ns). */
static uint64_t gc_cpu_now(void)
{
    return tci_atomic_load_relaxed(&limiter_gc_ns) + tci_atomic_load_relaxed(&tci_mark_taken_ns);
}

/* Feeds the limiter the GC CPU and the program's CPU since its last
 * update (the program's: the process's CPU time less the GC work in it;
 * the library's other threads, the sweeper's and the scavenger's, count
 * as the program's, as Go's sweeper does). At most once a millisecond
 * unless forced (a mark's edges): it reads the process's CPU clock.
 * Under pacer_lock. */
static void limiter_update_locked(uint64_t now, int force)
{
    if (!force && limiter_last_ns && now - limiter_last_ns < 1000000)
        return;
    uint64_t cpu = gc_cpu_now();
    uint64_t proc = tci_os_process_cpu_ns();
    uint64_t work = tci_atomic_load_relaxed(&tci_gc_work_ns);
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
    tci_atomic_store_relaxed(&goal_hard, (uintptr_t)goal_is_hard_locked());
    publish_settings_locked();
}

/* Non-heap memory the library holds, which the memory limit counts:
 * metadata, the caches, the mark buffers. */
static uint64_t nonheap_bytes(const tci_heap_stats *hs)
{
    return hs->meta_bytes + tci_mark_buf_bytes() + tci_cache_sys_bytes();
}

/* The scavenger's figures now (see scavenge.c): sets the heap's bound for
 * the synchronous scavenge, from the limit, and returns the background
 * target; *retained gets what the heap retains. No lock held. */
static uint64_t scavenge_plan(uint64_t *retained)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    uint64_t nonheap = nonheap_bytes(&hs);
    tci_mutex_lock(&pacer_lock); /* released below */
    uint64_t target = tci_scavenge_target(pacer.goal_bytes, pacer.frag, pacer.inuse_bytes,
                                          pacer.cfg.memlimit_bytes, nonheap);
    uint64_t retain = tci_scavenge_retain_limit(pacer.cfg.memlimit_bytes, nonheap);
    tci_mutex_unlock(&pacer_lock);
    tci_heap_set_retain_limit(retain);
    *retained = hs.sys_bytes - hs.fresh_bytes - hs.released_bytes;
    return target;
}

/* The scavenger's thread: returning a spike's free pages took over a
 * second here (thousands of madvise calls, each interrupting the other
 * CPU on this VM), and on the collector's thread that second held the
 * next cycle back while the program allocated on: the heap grew by what it
 * allocated meanwhile. On a thread of its own (Go's bgscavenge) the cycles
 * go on. It works towards the latest target it was given; protected by
 * scav_lock. */
static tci_mutex scav_lock = TCI_MUTEX_INIT(TCI_RANK_SCAV, "scav_lock");

/* TRICOLOR_DEBUG=scavtrace=1: Go's line per scavenge: what it returned,
 * what is returned in all, and the in-use share of what the heap retains
 * (forced: tc_release_memory). scavtrace=2 adds our own line. */
static void scav_trace(uint64_t got, int forced)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    tci_trace_scav(got, hs.released_bytes, hs.inuse_bytes,
                   hs.sys_bytes - hs.fresh_bytes - hs.released_bytes, forced);
}
static pthread_cond_t scav_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t scav_idle_cond = PTHREAD_COND_INITIALIZER;
static uint64_t scav_target, scav_seq, scav_seen;
static int scav_running, scav_busy;

static void *scav_main(void *arg)
{
    (void)arg;
    tci_thread_set_library();
    tci_mutex_lock(&scav_lock); /* held except while scavenging */
    for (;;) {
        while (scav_seen == scav_seq)
            tci_cond_wait(&scav_cond, &scav_lock);
        scav_seen = scav_seq;
        scav_busy = 1;
        uint64_t target = scav_target;
        tci_mutex_unlock(&scav_lock);
        uint64_t t0 = tci_os_now_ns();
        uint64_t got = tci_heap_scavenge(target);
        if (tci_cfg.scavtrace)
            scav_trace(got, 0);
        if (tci_cfg.scavtrace > 1) {
            tci_heap_stats hs;
            tci_heap_read_stats(&hs);
            fprintf(stderr, "scav: returned %.1f MB in %.3f ms; heap retains %.1f MB "
                            "(target %.1f MB), %.1f MB returned in all\n",
                    got / 1048576.0, (tci_os_now_ns() - t0) / 1e6,
                    (hs.sys_bytes - hs.fresh_bytes - hs.released_bytes) / 1048576.0,
                    target / 1048576.0, hs.released_bytes / 1048576.0);
        }
        tci_mutex_lock(&scav_lock);
        scav_busy = 0;
        pthread_cond_broadcast(&scav_idle_cond);
    }
    return NULL;
}

void tci_scavenge_wait_idle(void)
{
    tc_blocking_begin();
    tci_mutex_lock(&scav_lock); /* released below */
    while (scav_busy || scav_seen != scav_seq)
        tci_cond_wait(&scav_idle_cond, &scav_lock);
    tci_mutex_unlock(&scav_lock);
    tc_blocking_end();
}

/* After a cycle's sweep (see scavenge.c): free pages beyond what the next
 * cycle needs go back to the OS, on the scavenger's thread. No lock held. */
static void scavenge_after_sweep(void)
{
    uint64_t retained;
    uint64_t target = scavenge_plan(&retained);
    if (target == UINT64_MAX || retained <= target)
        return;
    tci_mutex_lock(&scav_lock); /* released below */
    if (!scav_running) {
        if (tci_os_thread_start(scav_main, NULL) != 0) {
            tci_mutex_unlock(&scav_lock);
            tci_heap_scavenge(target); /* no thread: here, then */
            return;
        }
        scav_running = 1;
    }
    scav_target = target;
    scav_seq++;
    pthread_cond_signal(&scav_cond);
    tci_mutex_unlock(&scav_lock);
}

/* TRICOLOR_DEBUG=gcpacertrace=1: Go's line at a mark's end: the GC CPU
 * of the mark against the 25% goal, the scan work done (heap + stacks +
 * globals) against what was expected (the last mark's), the heap at the
 * trigger and at the end, how far that was from the goal, the cons/mark
 * ratio the mark was paced with (Go's oldConsMark). gcpacertrace=2 adds our own line: what the mark found, the rates
 * measured, the next goal and trigger, the limiter. Printed by the
 * collector after the world restarts, no lock held but pacer_lock's
 * moment: the pacer's figures then (a setter may have moved them). */
static void pacer_trace(const tci_pacer_mark *m, uint64_t goal, uint64_t expected_work,
                        uint64_t stack_bytes, uint64_t mark_cpu_ns, double cons_before)
{
    const double mb = 1048576.0;
    char f[32];
    tci_mutex_lock(&pacer_lock); /* released below */
    tci_pacer p = pacer;
    tci_mutex_unlock(&pacer_lock);
    double util = m->mark_ns && ncpu ? (double)mark_cpu_ns / ((double)m->mark_ns * ncpu) : 0.0;
    long long dgoal = goal == UINT64_MAX ? 0 : (long long)m->heap_at_end - (long long)goal;
    fprintf(stderr,
            "pacer: %d%% CPU (25 exp.) for %llu+%llu+%llu B work (%llu B exp.) in %llu B -> "
            "%llu B (\u2206goal %lld, cons/mark %s)\n",
            (int)(util * 100), (unsigned long long)m->marked_bytes,
            (unsigned long long)stack_bytes,
            (unsigned long long)(m->root_bytes - stack_bytes), (unsigned long long)expected_work,
            (unsigned long long)m->heap_at_trigger, (unsigned long long)m->heap_at_end, dgoal,
            tci_trace_float(f, cons_before));
    if (tci_cfg.gcpacertrace < 2)
        return;
    fprintf(stderr,
            "pacer: cycle %llu marked %.1f MB black %.1f MB roots %.1f KB assists %.1f MB "
            "heap %.1f->%.1f MB in-use %.1f MB non-heap %.1f MB; alloc %.0f MB/s mark %.0f "
            "MB/s cons/mark %.3f; goal %.1f MB%s trigger %.1f MB; limiter %s bucket %.0f ms\n",
            (unsigned long long)p.cycles, m->marked_bytes / mb, m->black_bytes / mb,
            m->root_bytes / 1024.0, m->assist_bytes / mb, m->heap_at_trigger / mb,
            m->heap_at_end / mb, m->inuse_bytes / mb, m->nonheap_bytes / mb,
            p.alloc_rate * 1e9 / mb, p.mark_rate * 1e9 / mb, p.cons_mark,
            p.goal_bytes == TCI_PACER_NONE ? 0.0 : p.goal_bytes / mb,
            p.limited ? " (memory limit)" : "",
            p.trigger_bytes == TCI_PACER_NONE ? 0.0 : p.trigger_bytes / mb,
            p.engaged ? "on" : "off", p.bucket_ns / 1e6);
}

/* With the world stopped, the mark done: every span becomes unswept
 * (sweepgen + 2), the heap restarts from what the mark kept (the objects
 * it marked and those allocated black), and the pacer plans the next
 * cycle. m->heap_at_end, inuse_bytes and nonheap_bytes are filled here. */
static void mark_done_stw(tci_pacer_mark *m, uint64_t now)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    m->heap_at_end = tci_atomic_load_relaxed(&tci_heap_live);
    m->inuse_bytes = hs.inuse_bytes;
    m->nonheap_bytes = nonheap_bytes(&hs);
    uint64_t kept = m->marked_bytes + m->black_bytes;
    tci_atomic_store_relaxed(&tci_heap_live, kept);
    tci_atomic_store_relaxed(&tci_sweepgen, tci_atomic_load_relaxed(&tci_sweepgen) + 2);
    tci_atomic_store_relaxed(&tci_unswept_spans, tci_heap_nspans());
    tci_mutex_lock(&pacer_lock); /* released below */
    tci_pacer_mark_done(&pacer, m);
    limiter_update_locked(now, 1);
    pacer_publish_locked();
    tci_mutex_unlock(&pacer_lock);
    last_mark_end_ns = now;
    last_base_bytes = kept;
}

/* The memory-pressure callback runs on a library thread of its own (the
 * notifier), started when a callback is first registered. Not on the
 * collector's: a callback that waits for the program (takes a lock an
 * allocating thread holds while it waits for the collector) deadlocked it
 * there. Not on a mutator's either. Notifications coalesce: the callback
 * sees the latest cycle's figures, once per wake-up. */
static tci_mutex notify_lock = TCI_MUTEX_INIT(TCI_RANK_NOTIFY, "notify_lock");
static pthread_cond_t notify_cond = PTHREAD_COND_INITIALIZER;
static uint64_t notify_seq, notify_seen; /* notify_lock */
static tc_memory_pressure notify_info;   /* notify_lock */
static int notify_running;               /* notify_lock */
/* Calls of the callback, waited out by a registration (notify_lock). */
static tci_call_gate notify_gate = TCI_CALL_GATE_INIT;

static void *notify_main(void *arg)
{
    (void)arg;
    tci_thread_set_library();
    tci_mutex_lock(&notify_lock); /* held except while calling */
    for (;;) {
        while (notify_seen == notify_seq)
            tci_cond_wait(&notify_cond, &notify_lock);
        notify_seen = notify_seq;
        tc_memory_pressure info = notify_info;
        tci_call_gate_begin_locked(&notify_gate);
        /* Lock order: notify_lock, then pacer_lock (nothing takes
         * notify_lock under pacer_lock). */
        tci_mutex_lock(&pacer_lock); /* released below */
        void (*fn)(void *, const tc_memory_pressure *) = pressure_fn;
        void *fn_arg = pressure_arg;
        tci_mutex_unlock(&pacer_lock);
        tci_mutex_unlock(&notify_lock);
        if (fn)
            fn(fn_arg, &info);
        tci_mutex_lock(&notify_lock);
        tci_call_gate_end_locked(&notify_gate);
    }
    return NULL;
}

/* After a cycle whose goal the memory limit set: wakes the notifier, if a
 * callback is registered. Any thread, no lock held. */
static void pressure_notify(void)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    int want = pacer.limited && pressure_fn;
    tc_memory_pressure info = {
        .memory_limit = pacer.cfg.memlimit_bytes,
        .goal_bytes = pacer.goal_bytes,
        .live_bytes = pacer.live_bytes,
        .cycle = pacer.cycles,
    };
    tci_pacer tmp = pacer;
    tci_mutex_unlock(&pacer_lock);
    if (!want)
        return;
    tci_pacer_set_memlimit(&tmp, -1);
    info.unlimited_goal_bytes = tmp.goal_bytes;
    tci_mutex_lock(&notify_lock); /* released below */
    notify_info = info;
    notify_seq++;
    pthread_cond_signal(&notify_cond);
    tci_mutex_unlock(&notify_lock);
}

int tc_on_memory_pressure(void (*fn)(void *arg, const tc_memory_pressure *info), void *arg)
{
    if (fn) {
        tci_mutex_lock(&notify_lock); /* released below */
        if (!notify_running) {
            int rc = tci_os_thread_start(notify_main, NULL);
            if (rc != 0) {
                tci_mutex_unlock(&notify_lock);
                fprintf(stderr, "tricolor: tc_on_memory_pressure: cannot start the "
                                "notifier thread\n");
                errno = rc;
                return -1;
            }
            notify_running = 1;
        }
        tci_mutex_unlock(&notify_lock);
    }
    /* Replaced under notify_lock too, so the call waited for is one that
     * may have read the old callback. */
    tci_mutex_lock(&notify_lock); /* released by tci_call_gate_wait_unlock */
    tci_mutex_lock(&pacer_lock);  /* released below */
    pressure_fn = fn;
    pressure_arg = arg;
    tci_mutex_unlock(&pacer_lock);
    tci_call_gate_wait_unlock(&notify_gate, &notify_lock);
    return 0;
}

/* Runs one cycle with the world stopped throughout (gcstoptheworld=1);
 * the caller holds world_lock and published its frame. */
static __attribute__((noinline)) void collect_locked(tci_thread *self, int forced,
                                                     tci_cycle_report *out,
                                                     tci_pacer_mark *mout, uint64_t *expected,
                                                     double *cons_before)
{
    uint64_t t0 = tci_os_now_ns();
    uint64_t heap0 = tci_atomic_load_relaxed(&tci_heap_live);
    uint64_t goal = tci_atomic_load_relaxed(&tci_next_gc);
    uint64_t ttsp = tci_world_stop(self);
    tci_mutex_lock(&pacer_lock); /* released below */
    *expected = pacer.live_bytes + pacer.root_bytes;
    *cons_before = pacer.cons_mark;
    tci_mutex_unlock(&pacer_lock);
    tci_cache_flush_all_stw();
    tci_sweep_all();
    uint64_t t_marks = tci_os_now_ns();
    run_start_hooks_stw();
    uint64_t live = tci_mark_stw();
    uint64_t t_marke = tci_os_now_ns();
    if (tci_cfg.verify)
        tci_verify_marks_stw();
    tci_pacer_mark m = {
        .marked_bytes = live,
        .root_bytes = tci_roots_last_bytes(),
        .heap_at_trigger = heap0,
    };
    mark_done_stw(&m, t_marke);
    stop_gate_pass();
    /* The pause ends when every held thread runs again (tci_world_start
     * waits for them): the statistics below are written after it, still
     * under world_lock. */
    uint64_t t1 = tci_world_start();
    record_stop(t0, t1, ttsp);
    uint64_t stacks = tci_roots_last_stack_bytes();
    tci_cycle_report r = {
        .forced = forced,
        .t_start = t0, .t_mark = t_marks, .t_term = t_marke, .t_end = t1,
        .start_cpu_ns = (t_marks - t0) * (uint64_t)ncpu,
        .mark_cpu_ns = (t_marke - t_marks) * (uint64_t)ncpu,
        .term_cpu_ns = (t1 - t_marke) * (uint64_t)ncpu,
        .heap0 = heap0, .heap1 = m.heap_at_end, .live = live, .goal = goal,
        .next_goal = tci_atomic_load_relaxed(&tci_next_gc),
        .stack_bytes = stacks, .global_bytes = m.root_bytes - stacks,
        .pause_ns = tci_stats_cycle_pause_ns(), .stops = tci_stats_cycle_stops(),
        .procs = tci_mark_workers() + tci_threads_count(),
    };
    r.cycle = tci_stats_record_cycle(live, forced, stacks, m.root_bytes - stacks);
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
static tci_atomic assist_ratio;   /* x 1024 */
static tci_atomic mark_cycle_id;  /* the mark the assist debts belong to */
static __thread uint64_t assist_debt, assist_cycle;
/* Set while the test gate holds a mark: nothing may scan then, assists
 * included (see tci_gate_hold). */
static tci_atomic gate_closed;

/* Re-plans the assist ratio from the mark's progress and the heap now, and
 * feeds the limiter. Returns the new ratio (0: the limiter is engaged). */
static uint64_t assist_revise(void)
{
    uint64_t now = tci_os_now_ns();
    tci_mutex_lock(&pacer_lock); /* released below */
    limiter_update_locked(now, 0);
    uint64_t r = tci_pacer_assist_ratio(&pacer, tci_atomic_load_relaxed(&tci_heap_live),
                                        tci_mark_progress());
    tci_mutex_unlock(&pacer_lock);
    tci_atomic_store_relaxed(&assist_ratio, r);
    return r;
}

/* While the limiter holds assists off, a thread looks again after this
 * much allocation. */
#define ASSIST_RECHECK ((uint64_t)1 << 20)

/* Set by assist when it found no grey work left: the mark is only waiting
 * for its termination. Owner only. */
static __thread int assist_found_none;

static void assist(size_t bytes)
{
    static __thread uint64_t since_recheck;
    if (tci_atomic_load_relaxed(&gate_closed))
        return;
    uint64_t id = tci_atomic_load_relaxed(&mark_cycle_id);
    if (assist_cycle != id) {
        assist_cycle = id;
        assist_debt = 0;
    }
    uint64_t ratio = tci_atomic_load_relaxed(&assist_ratio);
    if (ratio == 0) {
        since_recheck += bytes;
        if (since_recheck < ASSIST_RECHECK)
            return;
        since_recheck = 0;
        if (assist_revise() == 0)
            return;
        ratio = tci_atomic_load_relaxed(&assist_ratio);
    }
    assist_debt += (uint64_t)bytes * ratio / 1024;
    if (assist_debt < ASSIST_CHUNK)
        return;
    /* What the markers have marked pays first: a thread marks only when
     * they are behind. */
    assist_debt -= tci_mark_credit_take(assist_debt);
    if (assist_debt < ASSIST_CHUNK)
        return;
    if (assist_revise() == 0) {
        assist_debt = 0; /* the limiter: no assists now */
        return;
    }
    tc_tracer *tr = tci_cache_tracer();
    if (!tr)
        return;
    uint64_t budget = assist_debt < ASSIST_CAP ? assist_debt : ASSIST_CAP;
    uint64_t t0 = tci_os_now_ns();
    int no_work;
    uint64_t marked;
    uint64_t done = tci_mark_assist(tr, (size_t)budget, &no_work, &marked);
    uint64_t spent = tci_os_now_ns() - t0;
    tci_atomic_add_full(&tci_mark_cpu_ns, spent); /* the thread ran throughout */
    tci_atomic_add_full(&tci_gc_work_ns, spent);
    /* An assist is one that did scan work: a call that found none (the
     * markers hold it all) is a few loads, and counting those buried the
     * real ones (70,000 of them at 0.06 us in the latency experiment). */
    if (done)
        tci_stats_record_assist(spent);
    tci_atomic_add_full(&limiter_gc_ns, spent);
    tci_atomic_add_full(&cycle_assist_bytes, marked);
    /* Debt with no grey work left is forgiven; a stop that cut the assist
     * short leaves the rest owed. */
    assist_debt = no_work ? 0 : assist_debt - (done < assist_debt ? done : assist_debt);
    assist_found_none = no_work;
}

/* Cycle requests: protected by gc_lock. A cycle counts as started when the
 * collector thread takes it, done when its sweep is finished. */
static tci_mutex gc_lock = TCI_MUTEX_INIT(TCI_RANK_GC, "gc_lock");
static pthread_cond_t gc_cond = PTHREAD_COND_INITIALIZER;      /* collector waits */
static pthread_cond_t gc_done_cond = PTHREAD_COND_INITIALIZER; /* requesters wait */
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
/* Whether the limiter holds cycles back now (tci_pacer_hold_cycles), its
 * figures brought up to date first (force: whatever the 1 ms throttle). */
static int limiter_holds_cycles(int force)
{
    tci_mutex_lock(&pacer_lock); /* released below */
    limiter_update_locked(tci_os_now_ns(), force);
    int held = tci_pacer_hold_cycles(&pacer);
    tci_mutex_unlock(&pacer_lock);
    return held;
}

static int limiter_wait(void)
{
    for (int waited = 0;; waited = 1) {
        if (!limiter_holds_cycles(1))
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
    tci_mark_warm_locked();
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
static uint64_t request_cycle(int forced)
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
static void wait_collector_progress(void)
{
    tc_blocking_begin();
    tci_mutex_lock(&gc_lock); /* released below */
    uint64_t m = marks_started, e = marks_ended, d = cycles_done;
    /* Rechecked every 10 ms: the limiter may engage meanwhile (nothing
     * signals that here), and then the goal is no longer held. */
    while (marks_started == m && marks_ended == e && cycles_done == d &&
           cycles_requested != cycles_done && tci_atomic_load_relaxed(&goal_hard)) {
        struct timespec ts;
        tci_os_deadline_after(&ts, 10000000);
        tci_cond_timedwait(&gc_done_cond, &gc_lock, &ts);
    }
    tci_mutex_unlock(&gc_lock);
    tc_blocking_end();
}

/* Waits, as a blocked thread, until cycle `want` is done. */
static void wait_cycle(uint64_t want)
{
    tc_blocking_begin();
    tci_mutex_lock(&gc_lock); /* released below */
    while (cycles_done < want)
        tci_cond_wait(&gc_done_cond, &gc_lock);
    tci_mutex_unlock(&gc_lock);
    tc_blocking_end();
}

/* The test and benchmark gates. Each holds the collector at one place of
 * its cycle while a test says so: the mark gate after the first stop,
 * marking on and nothing drained, so a test can set up races against a
 * mark in a known state; the stop gate inside the next stop (see
 * tci_gate_hold_stop); the sweep gate after the last stop, the world
 * running, before the background sweep (see tci_gate_hold_sweep); the
 * filed gate right after the ephemerons' filing pass, before the drain
 * that follows it (see tci_gate_hold_filed); the arm gate after the plain
 * root ranges are write-protected, before the first stop (see
 * tci_gate_hold_armed). */
typedef struct gate {
    int held, waiting; /* gate_lock */
} gate;
static tci_mutex gate_lock = TCI_MUTEX_INIT(TCI_RANK_GATE, "gate_lock");
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static gate mark_gate, stop_gate, sweep_gate, filed_gate, arm_gate;

static void gate_set(gate *g, int on)
{
    tci_mutex_lock(&gate_lock); /* released below */
    g->held = on;
    if (g == &mark_gate)
        tci_atomic_store_relaxed(&gate_closed, (uintptr_t)on);
    pthread_cond_broadcast(&gate_cond);
    tci_mutex_unlock(&gate_lock);
}

/* Blocks until the collector sits at g. */
static void gate_wait_waiting(gate *g)
{
    tci_mutex_lock(&gate_lock); /* released below */
    while (!g->waiting)
        tci_cond_wait(&gate_cond, &gate_lock);
    tci_mutex_unlock(&gate_lock);
}

/* The collector at g: waits there while it is held. */
static void gate_pass_at(gate *g)
{
    tci_mutex_lock(&gate_lock); /* released below */
    if (g->held) {
        g->waiting = 1;
        pthread_cond_broadcast(&gate_cond);
        while (g->held)
            tci_cond_wait(&gate_cond, &gate_lock);
        g->waiting = 0;
    }
    tci_mutex_unlock(&gate_lock);
}

void tci_gate_hold(int on)
{
    gate_set(&mark_gate, on);
}

uint64_t tci_gate_start_cycle(void)
{
    return request_cycle(1);
}

void tci_gate_wait_cycle(uint64_t want)
{
    wait_cycle(want);
}

uint64_t tci_gate_cycles_requested(void)
{
    tci_mutex_lock(&gc_lock); /* released below */
    uint64_t n = cycles_requested;
    tci_mutex_unlock(&gc_lock);
    return n;
}

void tci_gate_wait_held(void)
{
    tc_blocking_begin();
    gate_wait_waiting(&mark_gate);
    tc_blocking_end();
}

static void gate_pass(void)
{
    gate_pass_at(&mark_gate);
}

void tci_gate_hold_stop(int on)
{
    gate_set(&stop_gate, on);
}

void tci_gate_wait_stopped(void)
{
    gate_wait_waiting(&stop_gate);
}

static void stop_gate_pass(void)
{
    gate_pass_at(&stop_gate);
}

void tci_gate_hold_sweep(int on)
{
    gate_set(&sweep_gate, on);
}

void tci_gate_wait_sweep_held(void)
{
    tc_blocking_begin();
    gate_wait_waiting(&sweep_gate);
    tc_blocking_end();
}

void tci_gate_hold_filed(int on)
{
    gate_set(&filed_gate, on);
}

void tci_gate_wait_filed_held(void)
{
    tc_blocking_begin();
    gate_wait_waiting(&filed_gate);
    tc_blocking_end();
}

void tci_gate_hold_armed(int on)
{
    gate_set(&arm_gate, on);
}

void tci_gate_wait_armed(void)
{
    tc_blocking_begin(); /* the collector runs on, to its first stop */
    gate_wait_waiting(&arm_gate);
    tc_blocking_end();
}

static void concurrent_cycle(int forced, uint64_t requested_ns_)
{
    /* 0. The previous cycle's sweep, world running; the plain root ranges
     * write-protected, so that the stop need not read them. */
    tci_sweep_all();
    tci_roots_arm();
    gate_pass_at(&arm_gate);

    /* 1. Stop #1. */
    tci_world_lock(NULL);
    uint64_t t0 = tci_os_now_ns();
    uint64_t heap0 = tci_atomic_load_relaxed(&tci_heap_live);
    uint64_t goal = tci_atomic_load_relaxed(&tci_next_gc);
    uint64_t assist_ns0 = tci_stats_hist_sum(TC_HIST_ASSIST);
    uint64_t ttsp = tci_world_stop(NULL);
    tci_cache_flush_all_stw();
    tci_sweep_all(); /* what allocation swept into caches meanwhile: normally nothing */
    tci_atomic_store_relaxed(&tci_black_bytes, 0);
    tci_atomic_store_relaxed(&mark_cycle_id, tci_atomic_load_relaxed(&mark_cycle_id) + 1);
    tci_atomic_store_relaxed(&cycle_assist_bytes, 0);
    tci_mutex_lock(&pacer_lock); /* released below */
    limiter_update_locked(tci_os_now_ns(), 1);
    tci_atomic_store_relaxed(&assist_ratio, tci_pacer_assist_ratio(&pacer, heap0, 0));
    uint64_t expected_work = pacer.live_bytes + pacer.root_bytes;
    double cons_before = pacer.cons_mark;
    tci_mutex_unlock(&pacer_lock);
    tci_atomic_store_release(&tci_gcphase, TCI_PHASE_MARK);
    tc_barrier_enabled_ = 1;
    run_start_hooks_stw();
    tci_mark_begin_stw();
    stop_gate_pass();
    uint64_t t_mark = tci_world_start();
    record_stop(t0, t_mark, ttsp);
    uint64_t stw1_ns = t_mark - t0;
    uint64_t ratio = tci_atomic_load_relaxed(&assist_ratio);
    tci_cycle_report r = {
        .cycle = tci_stats_num_gc() + 1, .forced = forced,
        .t_start = t0, .t_mark = t_mark, .heap0 = heap0, .goal = goal,
        .pause_ns = tci_stats_cycle_pause_ns(), .stops = tci_stats_cycle_stops(),
    };
    tci_world_unlock();
    tci_event_post(TC_GC_EVENT_START, &r, 0);
    if (tci_cfg.gcpacertrace) {
        /* Go's line at a cycle's start: the assist ratio (scan bytes owed
         * per byte allocated), the scan work expected, the heap now and the
         * goal, the workers (dedicated + fractional: ours are all
         * dedicated, paced to their share). */
        char f[2][32];
        fprintf(stderr, "pacer: assist ratio=%s (scan %llu MB in %llu->%llu MB) workers=%d+%s\n",
                tci_trace_float(f[0], ratio / 1024.0), (unsigned long long)(expected_work >> 20),
                (unsigned long long)(heap0 >> 20),
                (unsigned long long)(goal == UINT64_MAX ? 0 : goal >> 20), tci_mark_workers(),
                tci_trace_float(f[1], 0.0));
    }
    tci_mutex_lock(&gc_lock); /* released below */
    marks_started++;
    pthread_cond_broadcast(&gc_done_cond);
    tci_mutex_unlock(&gc_lock);
    gate_pass();
    /* Barriered root ranges and what the finalizers keep, world running:
     * a barriered range loses a pointer only through a store that shades
     * it; objects with a finalizer that nothing else reaches cannot change
     * (only their finalizer will see them again), and the queue shades
     * what it hands out meanwhile. */
    tci_mark_roots_concurrent();

    /* 2 and 3: mark, then stop and look for what the mutators still hold. */
    uint64_t mark_ns = 0;
    tci_pacer_mark m;
    for (int round = 1;; round++) {
        tci_mark_drain_all(1);
        /* The ephemerons, once per mark, world running, now that most of
         * their keys are marked: what the filing pushes (values of marked
         * keys) is drained beside the program, and a key marked later
         * brings its values with it, wherever it is marked (gc/special.c).
         * The stops do none of it. */
        if (round == 1) {
            int pushed = tci_mark_file_ephemerons();
            gate_pass_at(&filed_gate);
            if (pushed)
                tci_mark_drain_all(1);
        }
        tci_world_lock(NULL);
        uint64_t t2 = tci_os_now_ns();
        mark_ns = t2 - t_mark;
        uint64_t ttsp2 = tci_world_stop(NULL);
        tci_cache_flush_all_stw(); /* windows unmarked, tracers' grey objects out */
        if (round < TERMINATION_ROUNDS && tci_mark_has_work()) {
            record_stop(t2, tci_world_start(), ttsp2);
            tci_world_unlock();
            continue;
        }
        uint64_t marked = tci_mark_end_stw();
        uint64_t black = tci_atomic_load_relaxed(&tci_black_bytes);
        uint64_t live = marked + black;
        if (tci_cfg.checkmark)
            tci_checkmark_stw();
        if (tci_cfg.verify)
            tci_verify_marks_stw();
        tc_barrier_enabled_ = 0;
        tci_atomic_store_release(&tci_gcphase, TCI_PHASE_OFF);
        /* The concurrent marking's CPU (markers and assists) joins the
         * stops' in gc_cpu_ns (the limiter keeps tallies of its own), and
         * the idle marking its own figure. */
        uint64_t mark_cpu = tci_atomic_load_relaxed(&tci_mark_cpu_ns);
        uint64_t idle_cpu = tci_atomic_load_relaxed(&tci_mark_idle_ns);
        tci_stats_add_mark_cpu(mark_cpu, idle_cpu);
        tci_atomic_store_relaxed(&tci_mark_cpu_ns, 0);
        tci_atomic_store_relaxed(&tci_mark_idle_ns, 0);
        m = (tci_pacer_mark){
            .marked_bytes = marked,
            .black_bytes = black,
            .root_bytes = tci_roots_last_bytes(),
            .heap_at_trigger = heap0,
            .assist_bytes = tci_atomic_load_relaxed(&cycle_assist_bytes),
            .mark_ns = mark_ns,
            .idle_alloc_bytes = heap0 > last_base_bytes ? heap0 - last_base_bytes : 0,
            .idle_ns = last_mark_end_ns && t0 > last_mark_end_ns ? t0 - last_mark_end_ns : 0,
            .start_delay_ns = t_mark > requested_ns_ ? t_mark - requested_ns_ : 0,
        };
        mark_done_stw(&m, t2);
        uint64_t t_end = tci_world_start();
        record_stop(t2, t_end, ttsp2);
        uint64_t assist_ns1 = tci_stats_hist_sum(TC_HIST_ASSIST);
        uint64_t assist_cpu = assist_ns1 - assist_ns0;
        uint64_t stacks = tci_roots_last_stack_bytes();
        uint64_t pause = tci_stats_cycle_pause_ns();
        r = (tci_cycle_report){
            .forced = forced,
            .t_start = t0, .t_mark = t_mark, .t_term = t2, .t_end = t_end,
            .start_cpu_ns = stw1_ns * (uint64_t)ncpu,
            .assist_cpu_ns = assist_cpu,
            /* tci_mark_cpu_ns holds the assists too */
            .mark_cpu_ns = mark_cpu > assist_cpu ? mark_cpu - assist_cpu : 0,
            .idle_cpu_ns = idle_cpu,
            .term_cpu_ns = (pause - stw1_ns) * (uint64_t)ncpu,
            .heap0 = heap0, .heap1 = m.heap_at_end, .live = live, .goal = goal,
            .next_goal = tci_atomic_load_relaxed(&tci_next_gc),
            .stack_bytes = stacks, .global_bytes = m.root_bytes - stacks,
            .pause_ns = pause, .stops = tci_stats_cycle_stops(),
            .procs = tci_mark_workers() + tci_threads_count(),
        };
        r.cycle = tci_stats_record_cycle(live, forced, stacks, m.root_bytes - stacks);
        tci_world_unlock();
        break;
    }
    /* Written with no lock held: stderr may be a full pipe. */
    if (tci_cfg.gcpacertrace)
        pacer_trace(&m, goal, expected_work, r.stack_bytes, r.assist_cpu_ns + r.mark_cpu_ns,
                    cons_before);
    if (tci_cfg.gctrace)
        tci_trace_gc(&r);
    tci_event_post(TC_GC_EVENT_MARK_DONE, &r, 0);
    tci_mutex_lock(&gc_lock); /* released below */
    marks_ended++;
    pthread_cond_broadcast(&gc_done_cond);
    tci_mutex_unlock(&gc_lock);
    after_mark();
    pressure_notify();

    /* 4. The background sweep, and then the scavenger. */
    gate_pass_at(&sweep_gate);
    uint64_t t_sweep = tci_os_now_ns();
    tci_sweep_all();
    tci_event_post(TC_GC_EVENT_SWEEP_DONE, &r, tci_os_now_ns() - t_sweep);
    scavenge_after_sweep();
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
    /* Written with no lock held, as a blocked thread: stderr may be a
     * full pipe, and a stop must not wait for it. */
    if (tci_cfg.gcpacertrace || tci_cfg.gctrace) {
        tc_blocking_begin();
        if (tci_cfg.gcpacertrace)
            pacer_trace(&m, r.goal, expected, r.stack_bytes, r.mark_cpu_ns, cons_before);
        if (tci_cfg.gctrace)
            tci_trace_gc(&r);
        tc_blocking_end();
    }
    after_mark();
    pressure_notify();
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
    if (!forced && tci_atomic_load_relaxed(&tci_heap_live) + bytes <
                       tci_atomic_load_relaxed(&tci_next_gc)) {
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
    if (tci_cfg.gcstoptheworld) {
        collect(self, 1, 0);
        return 0;
    }
    uint64_t want = request_cycle(1);
    if (want == 0)
        return -1;
    wait_cycle(want);
    return 0;
}

void tc_collect(void)
{
    if (tci_check_heap_thread("tc_collect") != 0)
        return;
    tci_thread *self = tci_thread_self();
    if (collect_forced(self) != 0)
        return; /* errno ENOMEM, reported */
    /* Go's runtime.GC returns with the heap swept: so do we (the collector
     * thread has swept, but allocation may have left spans to sweep in the
     * stop-the-world mode, which has no collector thread to scavenge). */
    tci_sweep_all();
    if (tci_cfg.gcstoptheworld)
        scavenge_after_sweep();
}

void tc_release_memory(void)
{
    if (tci_check_heap_thread("tc_release_memory") != 0)
        return;
    tc_collect();
    /* As a blocked thread: a stop must not wait for the system calls. */
    tc_blocking_begin();
    uint64_t got = tci_heap_scavenge(0);
    if (tci_cfg.scavtrace)
        scav_trace(got, 1); /* blocked too: stderr may be a full pipe */
    tc_blocking_end();
}

int tci_gc_maybe_trigger(tci_thread *self, size_t bytes)
{
    if (tci_atomic_load_relaxed(&tci_gcphase) == TCI_PHASE_MARK) {
        assist_found_none = 0;
        assist(bytes);
        /* Past a limit's goal with nothing left to mark: only the mark's
         * end is missing (see wait_collector_progress). With grey work left
         * a thread never waits, it assists, at most ASSIST_CAP per
         * allocation. */
        if (assist_found_none && tci_atomic_load_relaxed(&goal_hard) &&
            tci_atomic_load_relaxed(&tci_heap_live) + bytes >= tci_atomic_load_relaxed(&tci_next_gc))
            wait_collector_progress();
        return 0;
    }
    if (tci_atomic_load_relaxed(&tci_heap_live) + bytes <
        tci_atomic_load_relaxed(&gc_trigger))
        return 0;
    if (tci_cfg.gcstoptheworld) {
        /* limiter_wait's counterpart for the stopped collector, which
         * looks at every allocation past the trigger: throttled. */
        if (!limiter_holds_cycles(0))
            collect(self, 0, bytes);
        return 0;
    }
    if (!tci_atomic_load_relaxed(&cycle_active) && request_cycle(0) == 0)
        return -1;
    if (tci_atomic_load_relaxed(&goal_hard) &&
        tci_atomic_load_relaxed(&tci_heap_live) + bytes >= tci_atomic_load_relaxed(&tci_next_gc))
        wait_collector_progress();
    return 0;
}

int tci_gc_stress_tick(tci_thread *self)
{
    static __thread unsigned ticks;
    if (++ticks >= tci_cfg.gcstress) {
        ticks = 0;
        return collect_forced(self);
    }
    return 0;
}

/* Shading for threads without a tracer of their own (not attached: the
 * API asks them not to touch the heap, but a stray store must not lose an
 * object). */
static tci_mutex stray_lock = TCI_MUTEX_INIT(TCI_RANK_STRAY, "stray_lock");
static tc_tracer *stray_tracer;

static __attribute__((noinline)) void shade_stray(uintptr_t old)
{
    tci_mutex_lock(&stray_lock); /* released below */
    if (!stray_tracer)
        stray_tracer = tci_tracer_new();
    if (stray_tracer) {
        tci_mark_shade(stray_tracer, old);
        tci_mark_tracer_flush(stray_tracer);
    }
    tci_mutex_unlock(&stray_lock);
    if (!stray_tracer) {
        fprintf(stderr, "tricolor: out of memory in the write barrier\n");
        abort();
    }
}

/* The write barrier's marking path (Yuasa's deletion barrier): the value
 * the store overwrites is shaded before it goes, so no object reachable at
 * the mark's start loses its last path unseen. The flag may be stale in
 * either direction at a store that races with a phase change only if the
 * thread is not at a safepoint, and phase changes happen only with every
 * attached thread at one: so the phase read here is the store's phase. */
void tc_store_slow_(void *obj, void **slot, void *value)
{
    (void)obj;
    if (tci_atomic_load_relaxed(&tci_gcphase) == TCI_PHASE_MARK) {
        uintptr_t old = (uintptr_t)__atomic_load_n(slot, __ATOMIC_RELAXED);
        if (old) {
            tc_tracer *tr = tci_cache_tracer();
            if (tr)
                tci_mark_shade(tr, old);
            else
                shade_stray(old);
        }
    }
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

void *tc_object_base(const void *p)
{
    tci_span *s = tci_span_of((uintptr_t)p);
    int st = s ? tci_span_state(s) : TCI_SPAN_FREE;
    if (st != TCI_SPAN_SMALL && st != TCI_SPAN_LARGE)
        return NULL;
    uintptr_t off = (uintptr_t)p - s->base;
    if (off >= (s->npages << TCI_PAGE_SHIFT))
        return NULL;
    if (st == TCI_SPAN_LARGE)
        return (void *)s->base;
    uint32_t idx = tci_span_index(s, (uintptr_t)p);
    if (idx >= s->nelems)
        return NULL;
    return (void *)(s->base + (uintptr_t)idx * s->elemsize);
}

size_t tc_object_size(const void *p)
{
    if (!tc_object_base(p))
        return 0;
    return tci_span_of((uintptr_t)p)->elemsize;
}

void tci_pacer_read_settings(tc_memstats *out)
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
}

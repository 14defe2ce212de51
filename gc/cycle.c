/* cycle.c: the collection cycle, start-up and the trigger.
 *
 * The cycle, as built now (stop-the-world for the whole mark; the phases are
 * the ones the concurrent collector will split, see docs/design.md):
 *
 *  1. Take world_lock and stop the world: every attached thread parks at a
 *     safepoint or sits in a blocking region. Time to stop is recorded.
 *  2. Flush every thread's allocation cache, so every span's alloc_bits are
 *     exact (a conservative pointer into a never-allocated slot is ignored).
 *  3. Finish sweeping the previous cycle: every mark bit is clear.
 *  4. Mark from the roots (stacks and registers, root ranges, root
 *     callbacks) with the collector thread and TRICOLOR_MARKERS - 1 helpers.
 *  5. Mark termination: the marked bytes are the live heap; add 2 to
 *     sweepgen (every span becomes unswept in O(1)); set the next trigger at
 *     live * (1 + percent / 100), at least 4 MiB * percent / 100.
 *  6. Restart the world. Spans are swept lazily by the threads that allocate
 *     from them, by the reclaimer before the heap grows, and by tc_collect
 *     before it returns.
 *
 * Invariant: nothing reachable from a root at step 1 is freed, because the
 * mark of step 4 sees the stopped world exactly and sweeping frees only
 * unmarked slots of the cycle it belongs to.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "os.h"

tci_config tci_cfg;
tci_atomic tci_heap_live;
tci_atomic tci_next_gc;
tci_atomic tci_freed_objects, tci_freed_bytes;
int tci_initialised;
volatile int tc_barrier_enabled_;

#define HEAP_MIN_BYTES ((uint64_t)4 << 20) /* Go's heapminimum at GOGC=100 */

static tci_atomic gc_percent;       /* intptr_t stored as uintptr_t */
/* Cycle statistics: written with world_lock held, read under it. */
static struct {
    uint32_t num_gc, num_forced_gc;
    uint64_t pause_total_ns, last_gc_ns;
    uint64_t pause_ns[TC_PAUSE_RING], pause_end_ns[TC_PAUSE_RING];
    /* The same pauses on CLOCK_MONOTONIC (tci_os_now_ns), for the tests
     * that check every held thread's wait lies inside a reported pause. */
    uint64_t pause_start_mono[TC_PAUSE_RING], pause_end_mono[TC_PAUSE_RING];
    uint64_t gc_cpu_ns;
    uint64_t live_bytes, last_stw_ns, last_ttsp_ns;
    uint64_t last_prep_ns, last_mark_ns; /* flush + finishing the sweep; marking */
} st;
static uint64_t init_ns;
static int ncpu; /* read once at tc_init: sysconf reads /sys, not for a pause */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static const tci_thread_hooks thread_hooks = {
    .attach = tci_cache_attach,
    .detach = tci_cache_detach,
};

static uint64_t goal_for(uint64_t live, intptr_t pct)
{
    if (pct < 0)
        return UINT64_MAX;
    uint64_t goal = live + live / 100 * (uint64_t)pct + live % 100 * (uint64_t)pct / 100;
    uint64_t min = HEAP_MIN_BYTES * (uint64_t)pct / 100;
    return goal < min ? min : goal;
}

int tc_init(void)
{
    char err[512];
    pthread_mutex_lock(&init_lock); /* released on every path */
    if (tci_initialised) {
        pthread_mutex_unlock(&init_lock);
        fprintf(stderr, "tricolor: tc_init called twice (the heap is set up already; "
                        "other threads call tc_thread_attach)\n");
        errno = EALREADY;
        return -1;
    }
    tci_config cfg;
    if (tci_env_load(&cfg, err, sizeof err) != 0) {
        pthread_mutex_unlock(&init_lock);
        fprintf(stderr, "tricolor: tc_init: %s\n", err);
        errno = EINVAL;
        return -1;
    }
    if (cfg.memlimit >= 0)
        fprintf(stderr, "tricolor: TRICOLOR_MEMLIMIT=%lld is accepted but not enforced "
                        "yet (the pacer issue adds the soft limit)\n", (long long)cfg.memlimit);
    ncpu = tci_os_ncpu();
    if (cfg.markers == 0) {
        int n = ncpu;
        cfg.markers = n > 8 ? 8 : n;
    }
    tci_cfg = cfg;
    tci_sizeclass_init();
    tci_central_init();
    if (tci_heap_init() != 0 || tci_types_init() != 0 ||
        tci_threads_init(&thread_hooks) != 0) {
        pthread_mutex_unlock(&init_lock);
        fprintf(stderr, "tricolor: tc_init: cannot reserve address space for the heap\n");
        errno = ENOMEM;
        return -1;
    }
    tci_mark_init(cfg.markers);
    tci_atomic_store_relaxed(&tci_sweepgen, 2);
    tci_atomic_store_relaxed(&gc_percent, (uintptr_t)(intptr_t)cfg.gc_percent);
    tci_atomic_store_relaxed(&tci_next_gc, goal_for(0, cfg.gc_percent));
    init_ns = tci_os_now_ns();
    tci_initialised = 1;
    pthread_mutex_unlock(&init_lock);
    if (tc_thread_attach() != 0)
        return -1;
    return 0;
}

int tc_set_gc_percent(int percent)
{
    if (percent < 0)
        percent = -1;
    /* Under world_lock: the goal follows at once, from the last cycle's live
     * heap, which a cycle writes under the same lock. */
    tci_world_lock(tci_thread_self());
    intptr_t old = (intptr_t)tci_atomic_load_relaxed(&gc_percent);
    tci_atomic_store_relaxed(&gc_percent, (uintptr_t)(intptr_t)percent);
    tci_atomic_store_relaxed(&tci_next_gc, goal_for(st.live_bytes, percent));
    tci_world_unlock();
    return (int)old;
}

static void gctrace(uint64_t start_ns, uint64_t pause_ns, uint64_t heap0, uint64_t live,
                    uint64_t goal, int forced)
{
    double since = (double)(start_ns - init_ns) / 1e9;
    fprintf(stderr,
            "gc %u @%.3fs %d%%: %.3f ms stw (%.3f to stop, %.3f flush+sweep, %.3f mark), "
            "%.1f->%.1f MB live, %.1f MB goal, %d markers%s\n",
            st.num_gc, since, (int)(st.gc_cpu_ns * 100 / ((tci_os_now_ns() - init_ns) + 1) /
                                    (uint64_t)ncpu),
            pause_ns / 1e6, st.last_ttsp_ns / 1e6, st.last_prep_ns / 1e6, st.last_mark_ns / 1e6,
            heap0 / 1048576.0, live / 1048576.0,
            goal == UINT64_MAX ? 0.0 : goal / 1048576.0, tci_mark_workers(),
            forced ? " (forced)" : "");
}

/* Runs one cycle; the caller holds world_lock and published its frame. */
static __attribute__((noinline)) void collect_locked(tci_thread *self, int forced)
{
    uint64_t t0 = tci_os_now_ns();
    uint64_t heap0 = tci_atomic_load_relaxed(&tci_heap_live);
    uint64_t ttsp = tci_world_stop(self);
    tci_cache_flush_all_stw();
    tci_sweep_all();
    uint64_t t_marks = tci_os_now_ns();
    uint64_t live = tci_mark_stw();
    uint64_t t_marke = tci_os_now_ns();
    if (tci_cfg.verify)
        tci_verify_marks_stw();
    tci_atomic_store_relaxed(&tci_heap_live, live);
    tci_atomic_store_relaxed(&tci_sweepgen, tci_atomic_load_relaxed(&tci_sweepgen) + 2);
    tci_atomic_store_relaxed(&tci_unswept_spans, tci_heap_nspans());
    intptr_t pct = (intptr_t)tci_atomic_load_relaxed(&gc_percent);
    uint64_t goal = goal_for(live, pct);
    tci_atomic_store_relaxed(&tci_next_gc, goal);
    /* The pause ends when every held thread runs again (tci_world_start
     * waits for them): the statistics below are written after it, still
     * under world_lock, which readers take. */
    uint64_t t1 = tci_world_start();
    uint64_t pause = t1 - t0;
    uint64_t wall = tci_os_wall_ns();
    uint32_t slot = st.num_gc % TC_PAUSE_RING;
    st.pause_ns[slot] = pause;
    st.pause_end_ns[slot] = wall;
    st.pause_start_mono[slot] = t0;
    st.pause_end_mono[slot] = t1;
    st.num_gc++;
    if (forced)
        st.num_forced_gc++;
    st.pause_total_ns += pause;
    st.last_gc_ns = wall;
    st.live_bytes = live;
    st.last_stw_ns = pause;
    st.last_ttsp_ns = ttsp;
    st.last_prep_ns = t_marks - t0 - ttsp;
    st.last_mark_ns = t_marke - t_marks;
    /* A stopped world costs every CPU for the pause (Go counts it so too). */
    st.gc_cpu_ns += pause * (uint64_t)ncpu;
    if (tci_cfg.gctrace)
        gctrace(t0, pause, heap0, live, goal, forced);
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
    collect_locked(self, forced);
    tci_world_unlock();
}

void tc_collect(void)
{
    tci_thread *self = tci_thread_self();
    if (!self) {
        tci_not_attached("tc_collect");
        return;
    }
    collect(self, 1, 0);
    /* Go's runtime.GC returns with the heap swept: so do we. */
    tci_sweep_all();
}

void tci_gc_maybe_trigger(tci_thread *self, size_t bytes)
{
    if (tci_atomic_load_relaxed(&tci_heap_live) + bytes <
        tci_atomic_load_relaxed(&tci_next_gc))
        return;
    collect(self, 0, bytes);
}

void tci_gc_stress_tick(tci_thread *self)
{
    static __thread unsigned ticks;
    if (++ticks >= tci_cfg.gcstress) {
        ticks = 0;
        collect(self, 1, 0);
    }
}

void tc_store_slow_(void *obj, void **slot, void *value)
{
    /* The barrier is never enabled while the collector stops the world for
     * the whole mark; the concurrent collector fills this in. */
    (void)obj;
    *slot = value;
}

void *tc_object_base(const void *p)
{
    tci_span *s = tci_span_of((uintptr_t)p);
    if (!s || s->state == TCI_SPAN_FREE)
        return NULL;
    uintptr_t off = (uintptr_t)p - s->base;
    if (off >= (s->npages << TCI_PAGE_SHIFT))
        return NULL;
    if (s->state == TCI_SPAN_LARGE)
        return (void *)s->base;
    uint32_t idx = (uint32_t)(((uint64_t)off * s->div_mul) >> 32);
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

void tc_read_memstats(tc_memstats *out)
{
    memset(out, 0, sizeof *out);
    if (!tci_initialised)
        return;
    tci_thread *self = tci_thread_self();
    /* Until the observability issue makes this lock-free, the counters are
     * read under world_lock, which a collection holds. */
    tci_world_lock(self);
    tci_alloc_counts counts;
    tci_cache_read_counts(&counts);
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    uint64_t freed = tci_atomic_load_relaxed(&tci_freed_objects);
    uint64_t freed_bytes = tci_atomic_load_relaxed(&tci_freed_bytes);
    out->mallocs = counts.mallocs;
    out->total_alloc = counts.total_bytes;
    out->frees = freed;
    out->heap_objects = counts.mallocs - freed;
    out->heap_alloc = counts.total_bytes - freed_bytes;
    /* An arena's untouched tail is address space, not memory: heap_sys
     * counts what the page heap has carved out (as Go's counts what it has
     * mapped ready), so a 64 MiB arena holding 3 MiB of spans is 3 MiB. */
    out->heap_sys = hs.sys_bytes - hs.fresh_bytes;
    out->heap_inuse = hs.inuse_bytes;
    out->heap_idle = out->heap_sys - hs.inuse_bytes;
    out->heap_released = hs.released_bytes;
    out->meta_sys = hs.meta_bytes;
    out->sys = out->heap_sys + hs.meta_bytes;
    out->next_gc = tci_atomic_load_relaxed(&tci_next_gc);
    out->last_gc_ns = st.last_gc_ns;
    out->pause_total_ns = st.pause_total_ns;
    memcpy(out->pause_ns, st.pause_ns, sizeof out->pause_ns);
    memcpy(out->pause_end_ns, st.pause_end_ns, sizeof out->pause_end_ns);
    out->num_gc = st.num_gc;
    out->num_forced_gc = st.num_forced_gc;
    out->gc_percent = (int32_t)(intptr_t)tci_atomic_load_relaxed(&gc_percent);
    out->markers = (uint32_t)tci_mark_workers();
    uint64_t elapsed = tci_os_now_ns() - init_ns;
    out->gc_cpu_fraction = elapsed ? (double)st.gc_cpu_ns /
                                         ((double)elapsed * ncpu) : 0.0;
    out->live_bytes = st.live_bytes;
    out->last_stw_ns = st.last_stw_ns;
    out->last_ttsp_ns = st.last_ttsp_ns;
    out->gc_cpu_ns = st.gc_cpu_ns;
    tci_world_unlock();
}

int tci_stats_pause_interval(uint32_t gc, uint64_t *start, uint64_t *end)
{
    int found = 0;
    tci_world_lock(tci_thread_self());
    if (gc < st.num_gc && st.num_gc - gc <= TC_PAUSE_RING) {
        *start = st.pause_start_mono[gc % TC_PAUSE_RING];
        *end = st.pause_end_mono[gc % TC_PAUSE_RING];
        found = 1;
    }
    tci_world_unlock();
    return found;
}

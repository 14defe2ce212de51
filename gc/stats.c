/* stats.c: what the collector records of its stops and cycles, the pause
 * and assist histograms, and tc_read_memstats, read without a lock.
 *
 * Go's ReadMemStats stops the world to read consistent figures, which on a
 * big heap is a pause of its own (Go added runtime/metrics to avoid it).
 * Here nothing a reader does can hold up the collector or wait for it:
 *
 *  1. Cycle figures (the pause rings, num_gc, the CPU totals) are written
 *     by the collector with world_lock held, under a sequence count
 *     (tci_seqcount): a reader copies them and copies again if a write
 *     overlapped. A write is a few dozen stores, never a wait, so a reader
 *     retries at most a few times; a stop in progress is not a write.
 *  2. Allocation counts are per thread (each cache's per-class counters,
 *     written by the owner only) and summed by walking every cache ever
 *     made, a list that only grows (gc/cache.c); frees are per-class
 *     atomics the sweepers add to, once per span swept.
 *  3. The heap's page counts are republished by every heap_lock holder
 *     under a sequence count of the heap's (gc/heap.c).
 *  4. Histograms are atomic bucket counters, added to as stops and assists
 *     end: a reader may see a stop in the count before its sum, never a
 *     torn value.
 * So the figures of one read come from slightly different instants (an
 * allocation may be counted and its cycle not yet); each is exact, and at
 * quiescence mallocs - frees equals the objects in the heap.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gc.h"
#include "os.h"

/* ---- Cycle figures -------------------------------------------------------- */

tci_atomic tci_stats_other_sys_bytes;

static tci_seqcount st_seq;
/* Written by the world_lock holder inside st_seq's write section; read
 * by anyone inside a read section. */
static struct {
    tci_atomic num_gc, num_forced_gc, num_stw;
    tci_atomic pause_total_ns, last_gc_ns;
    tci_atomic pause_ns[TC_PAUSE_RING], pause_end_ns[TC_PAUSE_RING]; /* per cycle */
    tci_atomic stw_ns[TC_PAUSE_RING], stw_end_ns[TC_PAUSE_RING];     /* per stop */
    /* The same stops on CLOCK_MONOTONIC (tci_os_now_ns), for the tests
     * that check every held thread's wait lies inside a reported stop. */
    tci_atomic stw_start_mono[TC_PAUSE_RING], stw_end_mono[TC_PAUSE_RING];
    tci_atomic gc_cpu_ns, gc_idle_mark_ns;
    tci_atomic live_bytes, last_stw_ns, last_ttsp_ns;
    tci_atomic stacks_bytes, globals_bytes;
} st;
/* The cycle in progress: the world_lock holder's alone. */
static uint64_t cycle_pause_ns;
static uint32_t cycle_stops;
static uint64_t init_ns;
static int ncpu;

static inline void put(tci_atomic *a, uint64_t v)
{
    tci_atomic_store_relaxed(a, (uintptr_t)v);
}
static inline uint64_t get(const tci_atomic *a)
{
    return tci_atomic_load_relaxed(a);
}
static inline void bump(tci_atomic *a, uint64_t v)
{
    tci_atomic_store_relaxed(a, tci_atomic_load_relaxed(a) + (uintptr_t)v);
}

void tci_stats_init(int cpus, uint64_t now_ns)
{
    ncpu = cpus;
    init_ns = now_ns;
}

uint64_t tci_stats_init_ns(void)
{
    return init_ns;
}

/* ---- Histograms ------------------------------------------------------------
 * Bucket 0 holds [0, 1024 ns]; then 8 buckets split each power of two
 * (2^e, 2^(e+1)] for e = 10..39 (1 us to 18 minutes) evenly, so a bucket
 * is at most 1/8 of its lower bound wide; the last bucket is everything
 * above. Eight per octave is HdrHistogram's 3 significant bits: enough to
 * tell a 1.0 ms pause from a 1.1 ms one, 242 counters in all. */
#define HIST_MIN_SHIFT 10
#define HIST_MAX_SHIFT 40
#define HIST_SUB_BITS 3
#define HIST_BUCKETS (2 + (HIST_MAX_SHIFT - HIST_MIN_SHIFT) * (1 << HIST_SUB_BITS))

typedef struct hist {
    tci_atomic counts[HIST_BUCKETS];
    tci_atomic count, sum_ns, max_ns;
} hist;

static hist hists[4]; /* TC_HIST_PAUSE, TC_HIST_TTSP, TC_HIST_ASSIST, TC_HIST_RESTART */

static unsigned hist_index(uint64_t v)
{
    if (v <= ((uint64_t)1 << HIST_MIN_SHIFT))
        return 0;
    if (v > ((uint64_t)1 << HIST_MAX_SHIFT))
        return HIST_BUCKETS - 1;
    unsigned e = 63 - (unsigned)__builtin_clzll(v - 1); /* v in (2^e, 2^(e+1)] */
    unsigned k = (unsigned)((v - 1) >> (e - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1);
    return 1 + (e - HIST_MIN_SHIFT) * (1u << HIST_SUB_BITS) + k;
}

static uint64_t hist_upper(unsigned i)
{
    if (i == 0)
        return (uint64_t)1 << HIST_MIN_SHIFT;
    if (i >= HIST_BUCKETS - 1)
        return UINT64_MAX;
    unsigned e = HIST_MIN_SHIFT + (i - 1) / (1u << HIST_SUB_BITS);
    unsigned k = (i - 1) % (1u << HIST_SUB_BITS);
    return ((uint64_t)1 << e) + ((uint64_t)(k + 1) << (e - HIST_SUB_BITS));
}

static void hist_add(hist *h, uint64_t v)
{
    tci_atomic_add_full(&h->counts[hist_index(v)], 1);
    tci_atomic_add_full(&h->sum_ns, (uintptr_t)v);
    tci_atomic_add_full(&h->count, 1);
    uintptr_t m = tci_atomic_load_relaxed(&h->max_ns);
    while (v > m) {
        uintptr_t seen = tci_atomic_fetch_cas_full(&h->max_ns, m, (uintptr_t)v);
        if (seen == m)
            break;
        m = seen;
    }
}

void tci_stats_record_assist(uint64_t ns)
{
    hist_add(&hists[TC_HIST_ASSIST], ns);
}

size_t tc_read_histogram(int which, uint64_t *counts, uint64_t *upper_ns, size_t n)
{
    if (which < TC_HIST_PAUSE || which > TC_HIST_RESTART) {
        errno = EINVAL;
        return 0;
    }
    const hist *h = &hists[which];
    for (size_t i = 0; i < n && i < HIST_BUCKETS; i++) {
        if (counts)
            counts[i] = get(&h->counts[i]);
        if (upper_ns)
            upper_ns[i] = hist_upper((unsigned)i);
    }
    return HIST_BUCKETS;
}

uint64_t tci_stats_hist_sum(int which)
{
    return get(&hists[which].sum_ns);
}

uint64_t tc_pause_quantile(double q)
{
    if (!(q >= 0.0 && q <= 1.0)) { /* NaN too */
        errno = EINVAL;
        return UINT64_MAX;
    }
    const hist *h = &hists[TC_HIST_PAUSE];
    uint64_t c[HIST_BUCKETS], total = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        total += c[i] = get(&h->counts[i]);
    if (total == 0)
        return 0;
    /* The rank of the q-quantile among total values, 1-based. */
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
    rank = rank < 1 ? 1 : rank > total ? total : rank;
    uint64_t seen = 0, max = get(&h->max_ns);
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += c[i];
        if (seen >= rank) {
            uint64_t up = hist_upper(i);
            /* Never above the largest pause seen: q = 1 is exact. */
            return up < max || max == 0 ? up : max;
        }
    }
    return max;
}

/* ---- Recording -------------------------------------------------------------- */

void tci_stats_record_stop(uint64_t t0, uint64_t t1, uint64_t ttsp, uint64_t restart)
{
    uint64_t d = t1 - t0;
    tci_seq_write_begin(&st_seq);
    uint32_t n = (uint32_t)get(&st.num_stw);
    uint32_t slot = n % TC_PAUSE_RING;
    put(&st.stw_ns[slot], d);
    put(&st.stw_end_ns[slot], tci_os_wall_ns());
    put(&st.stw_start_mono[slot], t0);
    put(&st.stw_end_mono[slot], t1);
    put(&st.num_stw, n + 1);
    bump(&st.pause_total_ns, d);
    put(&st.last_stw_ns, d);
    put(&st.last_ttsp_ns, ttsp);
    /* A stopped world costs every CPU for the pause (Go counts it so too). */
    bump(&st.gc_cpu_ns, d * (uint64_t)ncpu);
    tci_seq_write_end(&st_seq);
    cycle_pause_ns += d;
    cycle_stops++;
    hist_add(&hists[TC_HIST_PAUSE], d);
    hist_add(&hists[TC_HIST_TTSP], ttsp);
    hist_add(&hists[TC_HIST_RESTART], restart);
}

void tci_stats_add_mark_cpu(uint64_t cpu_ns, uint64_t idle_ns)
{
    tci_seq_write_begin(&st_seq);
    bump(&st.gc_cpu_ns, cpu_ns);
    bump(&st.gc_idle_mark_ns, idle_ns);
    tci_seq_write_end(&st_seq);
}

uint32_t tci_stats_num_gc(void)
{
    return (uint32_t)get(&st.num_gc);
}

uint32_t tci_stats_cycle_stops(void)
{
    return cycle_stops;
}

uint64_t tci_stats_cycle_pause_ns(void)
{
    return cycle_pause_ns;
}

uint32_t tci_stats_record_cycle(uint64_t live, int forced, uint64_t stacks_bytes,
                                uint64_t globals_bytes)
{
    uint64_t wall = tci_os_wall_ns();
    tci_seq_write_begin(&st_seq);
    uint32_t n = (uint32_t)get(&st.num_gc);
    uint32_t slot = n % TC_PAUSE_RING;
    put(&st.pause_ns[slot], cycle_pause_ns); /* Go's PauseNs: the cycle's stops together */
    put(&st.pause_end_ns[slot], wall);
    put(&st.num_gc, n + 1);
    if (forced)
        bump(&st.num_forced_gc, 1);
    put(&st.last_gc_ns, wall);
    put(&st.live_bytes, live);
    put(&st.stacks_bytes, stacks_bytes);
    put(&st.globals_bytes, globals_bytes);
    tci_seq_write_end(&st_seq);
    cycle_pause_ns = 0;
    cycle_stops = 0;
    return n + 1;
}

double tci_stats_gc_cpu_fraction(void)
{
    uint64_t elapsed = tci_os_now_ns() - init_ns;
    return elapsed && ncpu ? (double)get(&st.gc_cpu_ns) / ((double)elapsed * ncpu) : 0.0;
}

int tci_stats_stop_interval(uint32_t stop, uint64_t *start, uint64_t *end)
{
    for (;;) {
        uintptr_t v = tci_seq_read_begin(&st_seq);
        uint32_t n = (uint32_t)get(&st.num_stw);
        int found = stop < n && n - stop <= TC_PAUSE_RING;
        if (found) {
            *start = get(&st.stw_start_mono[stop % TC_PAUSE_RING]);
            *end = get(&st.stw_end_mono[stop % TC_PAUSE_RING]);
        }
        if (!tci_seq_read_retry(&st_seq, v))
            return found;
    }
}

/* ---- tc_read_memstats --------------------------------------------------------- */

/* The cycle figures, copied under st_seq. */
static void read_cycle_figures(tc_memstats *out)
{
    for (;;) {
        uintptr_t v = tci_seq_read_begin(&st_seq);
        out->num_gc = (uint32_t)get(&st.num_gc);
        out->num_forced_gc = (uint32_t)get(&st.num_forced_gc);
        out->num_stw = (uint32_t)get(&st.num_stw);
        out->pause_total_ns = get(&st.pause_total_ns);
        out->last_gc_ns = get(&st.last_gc_ns);
        for (int i = 0; i < TC_PAUSE_RING; i++) {
            out->pause_ns[i] = get(&st.pause_ns[i]);
            out->pause_end_ns[i] = get(&st.pause_end_ns[i]);
            out->stw_ns[i] = get(&st.stw_ns[i]);
            out->stw_end_ns[i] = get(&st.stw_end_ns[i]);
        }
        out->gc_cpu_ns = get(&st.gc_cpu_ns);
        out->gc_idle_mark_ns = get(&st.gc_idle_mark_ns);
        out->live_bytes = get(&st.live_bytes);
        out->last_stw_ns = get(&st.last_stw_ns);
        out->last_ttsp_ns = get(&st.last_ttsp_ns);
        out->stacks_bytes = get(&st.stacks_bytes);
        out->globals_bytes = get(&st.globals_bytes);
        if (!tci_seq_read_retry(&st_seq, v))
            return;
    }
}

/* The pools' totals, from pool/ (which gc/ does not name): registered at
 * the first pool's creation. */
static void (*pool_totals_fn)(uint64_t out[6]);

void tci_stats_set_pool_totals(void (*fn)(uint64_t out[6]))
{
    tci_ptr_store_release(&pool_totals_fn, fn); /* partner: tc_read_memstats_sized */
}

/* The bytes of the struct as it was before it was versioned (tricolor
 * 0.1): what tc_read_memstats, the function, fills for binaries built
 * then. */
#define MEMSTATS_V1_SIZE offsetof(tc_memstats, cache_sys)
_Static_assert(TCI_MAX_CLASSES <= TC_NUM_SIZE_CLASSES, "by_size holds every size class");

size_t tc_read_memstats_sized(tc_memstats *dst, size_t size)
{
    if (!dst)
        return 0;
    /* Filled whole on the stack, copied out as far as the caller's struct
     * goes: 11 KB of stack, and the caller's tail untouched. */
    tc_memstats m;
    memset(&m, 0, sizeof m);
    if (tci_init_done) {
        /* Frees first, then mallocs: every free counted was of an object
         * whose allocation was counted before it (a stop lies between),
         * so frees <= mallocs per class in every read. The other order let
         * a cycle's allocations and sweep fall between the two reads. */
        uint64_t class_frees[TCI_MAX_CLASSES];
        uint64_t large_frees, large_freed_bytes;
        tci_sweep_read_frees(class_frees, &large_frees, &large_freed_bytes);
        tci_atomic_fence_full();
        tci_alloc_counts counts;
        tci_cache_read_counts(&counts);
        tci_heap_stats hs;
        tci_heap_read_stats(&hs);
        m.mallocs = counts.mallocs;
        m.total_alloc = counts.total_bytes;
        uint64_t frees = large_frees, freed_bytes = large_freed_bytes;
        m.num_size_classes = (uint32_t)tci_sizeclass_count;
        m.by_size[0].mallocs = counts.class_mallocs[0];
        m.by_size[0].frees = large_frees;
        for (int cl = 1; cl < tci_sizeclass_count && cl < TC_NUM_SIZE_CLASSES; cl++) {
            m.by_size[cl].size = tci_sizeclass_table[cl].size;
            m.by_size[cl].mallocs = counts.class_mallocs[cl];
            m.by_size[cl].frees = class_frees[cl];
            frees += class_frees[cl];
            freed_bytes += class_frees[cl] * tci_sizeclass_table[cl].size;
        }
        m.frees = frees;
        m.heap_objects = m.mallocs > frees ? m.mallocs - frees : 0;
        m.heap_alloc = m.total_alloc > freed_bytes ? m.total_alloc - freed_bytes : 0;
        /* An arena's untouched tail is address space, not memory: heap_sys
         * counts what the page heap has carved out (as Go's counts what it
         * has mapped ready), so a 64 MiB arena holding 3 MiB of spans is
         * 3 MiB. */
        m.heap_sys = hs.sys_bytes - hs.fresh_bytes;
        m.heap_inuse = hs.inuse_bytes;
        m.heap_idle = m.heap_sys > hs.inuse_bytes ? m.heap_sys - hs.inuse_bytes : 0;
        m.heap_released = hs.released_bytes;
        m.meta_sys = hs.meta_bytes;
        m.cache_sys = tci_cache_sys_bytes();
        m.mark_sys = tci_mark_buf_bytes();
        m.other_sys = tci_atomic_load_relaxed(&tci_stats_other_sys_bytes);
        m.sys = m.heap_sys + m.meta_sys + m.cache_sys + m.mark_sys + m.other_sys;
        m.next_gc = tci_atomic_load_relaxed(&tci_control_next_gc);
        read_cycle_figures(&m);
        m.markers = (uint32_t)tci_mark_workers();
        m.ncpu = (uint32_t)ncpu;
        uint64_t elapsed = tci_os_now_ns() - init_ns;
        m.gc_cpu_fraction = elapsed ? (double)m.gc_cpu_ns / ((double)elapsed * ncpu) : 0.0;
        tci_control_read_settings(&m);
        m.num_assists = get(&hists[TC_HIST_ASSIST].count);
        m.assist_ns = get(&hists[TC_HIST_ASSIST].sum_ns);
        m.gc_events_dropped = tci_event_dropped();
        tci_profile_read_counts(&m.mem_profile_rate, &m.mem_profile_samples);
        m.stop_timeouts = tci_world_stop_timeouts();
        tci_oom_read_counts(&m.oom_retries, &m.oom_failures);
        tc_finalizer_counts(&m.finalizers_registered, &m.finalizers_queued, &m.finalizers_run);
        /* Acquire: partner tci_stats_set_pool_totals' release. */
        void (*pf)(uint64_t out[6]) = tci_ptr_load_acquire(&pool_totals_fn);
        if (pf) {
            uint64_t p[6];
            pf(p);
            m.pool_hits = p[0];
            m.pool_victim_hits = p[1];
            m.pool_misses = p[2];
            m.pool_puts = p[3];
            m.pool_dropped = p[4];
            m.pool_gets = p[0] + p[1] + p[2];
        }
    }
    size_t n = size < sizeof m ? size : sizeof m;
    memcpy(dst, &m, n);
    return n;
}

/* Binaries built before the struct was versioned call this. */
void(tc_read_memstats)(tc_memstats *out)
{
    tc_read_memstats_sized(out, MEMSTATS_V1_SIZE);
}

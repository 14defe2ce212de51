/* prometheus.c: tc_write_prometheus, the statistics and histograms in
 * Prometheus' text exposition format (version 0.0.4), for a /metrics page.
 *
 * Names follow Prometheus' conventions: a tricolor_ prefix, base units
 * (bytes, seconds), counters ending in _total, one family per quantity
 * (parts of a whole under a label, the whole on its own). The histograms
 * are exported at the powers of two of their buckets (1.024 us to 18
 * minutes, 31 bounds), where the cumulative counts are exact: the 242
 * buckets would make 242 series per histogram for eighths no dashboard
 * needs. Everything is read as tc_read_memstats reads it, without a lock,
 * and written after: a slow FILE holds up nothing. Of the collector it
 * reads only the histograms' sums (gc/observable.h), which the public
 * tc_read_histogram does not give.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "observable.h"
#include "tricolor.h"

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric_u(FILE *f, const char *name, const char *type, const char *help,
                     uint64_t v)
{
    family(f, name, type, help);
    fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void metric_d(FILE *f, const char *name, const char *type, const char *help, double v)
{
    family(f, name, type, help);
    fprintf(f, "%s %.17g\n", name, v);
}

/* One histogram family from TC_HIST_* `which`, in seconds. */
static void histogram(FILE *f, const char *name, const char *help, int which)
{
    uint64_t counts[256], upper[256];
    size_t n = tc_read_histogram(which, counts, upper, 256);
    uint64_t sum_ns = tci_stats_hist_sum(which);
    family(f, name, "histogram", help);
    uint64_t cum = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        total += counts[i];
    for (size_t i = 0; i + 1 < n; i++) {
        cum += counts[i];
        /* Exported where the bound is a power of two. */
        if (upper[i] & (upper[i] - 1))
            continue;
        fprintf(f, "%s_bucket{le=\"%.13g\"} %llu\n", name, (double)upper[i] / 1e9,
                (unsigned long long)cum);
    }
    /* The counts are read one by one while stops may end: +Inf and _count
     * are the buckets' own total, so the family is coherent. */
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)total);
    fprintf(f, "%s_sum %.9f\n", name, (double)sum_ns / 1e9);
    fprintf(f, "%s_count %llu\n", name, (unsigned long long)total);
}

/* The heap and what the process obtained from the OS. */
static void write_memory(FILE *f, const tc_memstats *m)
{
    metric_u(f, "tricolor_heap_alloc_bytes", "gauge",
             "Bytes of allocated heap objects, dead ones not yet swept included.",
             m->heap_alloc);
    metric_u(f, "tricolor_heap_objects", "gauge", "Allocated heap objects.", m->heap_objects);
    metric_u(f, "tricolor_heap_sys_bytes", "gauge", "Heap bytes obtained from the OS.",
             m->heap_sys);
    metric_u(f, "tricolor_heap_inuse_bytes", "gauge", "Bytes in spans holding objects.",
             m->heap_inuse);
    metric_u(f, "tricolor_heap_idle_bytes", "gauge", "Bytes in free spans.", m->heap_idle);
    metric_u(f, "tricolor_heap_released_bytes", "gauge", "Idle bytes returned to the OS.",
             m->heap_released);
    metric_u(f, "tricolor_alloc_bytes_total", "counter", "Bytes allocated.", m->total_alloc);
    metric_u(f, "tricolor_mallocs_total", "counter", "Objects allocated.", m->mallocs);
    metric_u(f, "tricolor_frees_total", "counter", "Objects freed.", m->frees);
    metric_u(f, "tricolor_sys_bytes", "gauge", "All bytes obtained from the OS.", m->sys);
    family(f, "tricolor_sys_class_bytes", "gauge",
           "Bytes obtained from the OS, by what holds them.");
    const struct { const char *label; uint64_t v; } cls[] = {
        {"heap", m->heap_sys},       {"metadata", m->meta_sys}, {"caches", m->cache_sys},
        {"mark_buffers", m->mark_sys}, {"other", m->other_sys},
    };
    for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++)
        fprintf(f, "tricolor_sys_class_bytes{class=\"%s\"} %llu\n", cls[i].label,
                (unsigned long long)cls[i].v);
}

/* The pacer's and the limiter's figures, the cycles and their CPU. */
static void write_cycles(FILE *f, const tc_memstats *m)
{
    metric_u(f, "tricolor_next_gc_bytes", "gauge", "Heap goal of the next cycle.",
             m->next_gc == UINT64_MAX ? 0 : m->next_gc);
    metric_u(f, "tricolor_gc_trigger_bytes", "gauge", "Heap size that starts the next cycle.",
             m->gc_trigger == UINT64_MAX ? 0 : m->gc_trigger);
    metric_u(f, "tricolor_live_bytes", "gauge", "Bytes the last cycle marked.", m->live_bytes);
    metric_u(f, "tricolor_gc_stacks_bytes", "gauge",
             "Thread-stack bytes the last cycle scanned as roots.", m->stacks_bytes);
    metric_u(f, "tricolor_gc_globals_bytes", "gauge",
             "Root-range bytes the last cycle scanned.", m->globals_bytes);
    metric_d(f, "tricolor_last_gc_time_seconds", "gauge",
             "When the last cycle ended, seconds since the epoch.", (double)m->last_gc_ns / 1e9);
    metric_u(f, "tricolor_gc_cycles_total", "counter", "Completed collection cycles.", m->num_gc);
    metric_u(f, "tricolor_gc_forced_cycles_total", "counter", "Cycles tc_collect asked for.",
             m->num_forced_gc);
    metric_u(f, "tricolor_stw_stops_total", "counter", "Stops of the world.", m->num_stw);
    metric_d(f, "tricolor_gc_cpu_fraction", "gauge",
             "GC CPU over available CPU since start (Go's GCCPUFraction).", m->gc_cpu_fraction);
    metric_d(f, "tricolor_gc_cpu_seconds_total", "counter", "GC CPU time.",
             (double)m->gc_cpu_ns / 1e9);
    metric_d(f, "tricolor_gc_idle_mark_cpu_seconds_total", "counter",
             "Marking beyond the markers' share on CPUs the program left idle.",
             (double)m->gc_idle_mark_ns / 1e9);
    metric_u(f, "tricolor_markers", "gauge", "Threads that mark.", m->markers);
    metric_u(f, "tricolor_cpus", "gauge", "CPUs the collector counts (affinity, cgroup quota).",
             m->ncpu);
    metric_d(f, "tricolor_gc_percent", "gauge", "TRICOLOR_GC; negative: off.", m->gc_percent);
    metric_d(f, "tricolor_memory_limit_bytes", "gauge",
             "TRICOLOR_MEMLIMIT; 9223372036854775807 when none.", (double)m->memory_limit);
    metric_d(f, "tricolor_gc_cpu_limit_ratio", "gauge", "TRICOLOR_GC_CPU_LIMIT as a ratio.",
             m->gc_cpu_limit / 100.0);
    metric_u(f, "tricolor_gc_goal_limited", "gauge", "1 when the memory limit set the goal.",
             m->goal_limited);
    metric_u(f, "tricolor_limiter_engaged", "gauge", "1 while the GC CPU limiter holds.",
             m->limiter_engaged);
    metric_u(f, "tricolor_limiter_engagements_total", "counter",
             "Times the GC CPU limiter turned on.", m->limiter_engagements);
    metric_u(f, "tricolor_limiter_last_cycle", "gauge",
             "The last cycle in which the limiter engaged; 0: never.", m->limiter_last_cycle);
    metric_u(f, "tricolor_mark_assists_total", "counter", "Mark assists.", m->num_assists);
}

/* Finalizers, pools, lost events and the heap profile's counts. */
static void write_specials(FILE *f, const tc_memstats *m)
{
    metric_u(f, "tricolor_finalizers", "gauge", "Objects with a finalizer.",
             m->finalizers_registered);
    metric_u(f, "tricolor_finalizers_queued_total", "counter", "Finalizers queued.",
             m->finalizers_queued);
    metric_u(f, "tricolor_finalizers_run_total", "counter", "Finalizers run.", m->finalizers_run);
    family(f, "tricolor_pool_operations_total", "counter",
           "Pool operations, by outcome (gets are hits, victim hits and misses).");
    const struct { const char *label; uint64_t v; } pool[] = {
        {"hit", m->pool_hits}, {"victim_hit", m->pool_victim_hits}, {"miss", m->pool_misses},
        {"put", m->pool_puts}, {"dropped", m->pool_dropped},
    };
    for (size_t i = 0; i < sizeof pool / sizeof pool[0]; i++)
        fprintf(f, "tricolor_pool_operations_total{op=\"%s\"} %llu\n", pool[i].label,
                (unsigned long long)pool[i].v);
    metric_u(f, "tricolor_gc_events_dropped_total", "counter",
             "Cycle events a slow callback lost.", m->gc_events_dropped);
    metric_u(f, "tricolor_mem_profile_rate_bytes", "gauge",
             "Bytes between heap-profile samples; 0: off.", m->mem_profile_rate);
    metric_u(f, "tricolor_mem_profile_samples_total", "counter", "Heap-profile samples taken.",
             m->mem_profile_samples);
    metric_u(f, "tricolor_stop_timeouts_total", "counter",
             "Stops that waited past stoptimeout for a thread that did not poll.",
             m->stop_timeouts);
    metric_u(f, "tricolor_external_bytes", "gauge",
             "Bytes held outside the heap for heap objects (tc_external_add).",
             m->external_bytes);
    metric_u(f, "tricolor_external_live_bytes", "gauge",
             "Of the external bytes, what the pacer counts as live.", m->external_live_bytes);
    metric_u(f, "tricolor_oom_retries_total", "counter",
             "Allocations retried after an out-of-memory collection and scavenge.",
             m->oom_retries);
    metric_u(f, "tricolor_oom_failures_total", "counter",
             "Allocations that failed with ENOMEM for want of memory after the retry.",
             m->oom_failures);
}

/* Objects allocated and freed, by size class. */
static void write_size_classes(FILE *f, const tc_memstats *m)
{
    const char *names[2] = {"tricolor_size_class_mallocs_total", "tricolor_size_class_frees_total"};
    const char *helps[2] = {"Objects allocated, by size class (bytes; large: own pages).",
                            "Objects freed, by size class (bytes; large: own pages)."};
    for (int k = 0; k < 2; k++) {
        family(f, names[k], "counter", helps[k]);
        for (uint32_t i = 0; i < m->num_size_classes && i < TC_NUM_SIZE_CLASSES; i++) {
            char size[24];
            if (i == 0)
                snprintf(size, sizeof size, "large");
            else
                snprintf(size, sizeof size, "%llu", (unsigned long long)m->by_size[i].size);
            fprintf(f, "%s{size=\"%s\"} %llu\n", names[k], size,
                    (unsigned long long)(k ? m->by_size[i].frees : m->by_size[i].mallocs));
        }
    }
}

/* The stops' and the assists' histograms. */
static void write_histograms(FILE *f)
{
    histogram(f, "tricolor_stw_pause_seconds",
              "Stops of the world, from the request to every held thread running again.",
              TC_HIST_PAUSE);
    histogram(f, "tricolor_stw_time_to_stop_seconds",
              "Stops' time from the request to every thread parked.", TC_HIST_TTSP);
    histogram(f, "tricolor_mark_assist_seconds", "Mark assists' durations.", TC_HIST_ASSIST);
    histogram(f, "tricolor_stw_restart_seconds",
              "Stops' time from the release of the held threads to the last of them running again.",
              TC_HIST_RESTART);
}

int tc_write_prometheus(FILE *f)
{
    if (!f) {
        errno = EINVAL;
        return -1;
    }
    tc_memstats m;
    tc_read_memstats(&m);
    write_memory(f, &m);
    write_cycles(f, &m);
    write_specials(f, &m);
    write_size_classes(f, &m);
    write_histograms(f);
    if (fflush(f) != 0 || ferror(f)) {
        errno = EIO;
        return -1;
    }
    return 0;
}

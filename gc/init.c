/* init.c: tc_init, and the settings a program changes at run time
 * (tc_set_gc_percent, tc_set_memory_limit).
 *
 * tc_init reads the environment (runtime/env.c: a bad TRICOLOR_* value
 * fails it with a message), sets up every module in dependency order, and
 * attaches the calling thread. The setters refuse before it: a value set
 * before would be lost to the environment's without a word.
 */
#include <errno.h>
#include <stdio.h>

#include "fork.h"
#include "gc.h"
#include "os.h"
#include "pacer.h"

int tci_init_done; /* written under init_lock; read after tc_init returned */
static tci_mutex init_lock = TCI_MUTEX_INIT(TCI_RANK_INIT, "init_lock");
TCI_FORK_LOCK(init_lock)

static const tci_thread_hooks thread_hooks = {
    .attach = tci_cache_attach,
    .detach = tci_cache_detach,
    .region = tci_cache_region,
};

/* Concurrent: background markers for about a quarter of the CPUs (Go's
 * 25% goal), at least one. Stopped: every CPU marks. At most 8. */
static int default_markers(int gcstoptheworld, int ncpu)
{
    int n = gcstoptheworld ? ncpu : (ncpu + 2) / 4;
    n = n < 1 ? 1 : n;
    return n > 8 ? 8 : n;
}

static int init_fail(const char *what, int err)
{
    tci_mutex_unlock(&init_lock);
    fprintf(stderr, "tricolor: %s\n", what);
    errno = err;
    return -1;
}

int tc_init(void)
{
    char err[512];
    tci_mutex_lock(&init_lock); /* released on every path */
    if (tci_init_done)
        return init_fail("tc_init called twice (the heap is set up already; "
                         "other threads call tc_thread_attach)", EALREADY);
    tci_config cfg;
    if (tci_env_load(&cfg, err, sizeof err) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "tc_init: %s", err);
        return init_fail(msg, EINVAL);
    }
    /* Affinity and cgroup quota (/proc, /sys): once, here, not in a pause */
    int ncpu = tci_os_ncpu();
    if (cfg.markers == 0)
        cfg.markers = default_markers(cfg.gcstoptheworld, ncpu);
    tci_env_cfg = cfg;
    tci_sizeclass_init();
    tci_central_init();
    if (tci_heap_init() != 0 || tci_type_init() != 0 ||
        tci_thread_init(&thread_hooks, ncpu) != 0)
        return init_fail("tc_init: cannot reserve address space for the heap", ENOMEM);
    /* The watchdog names a stop's laggards where the profiles name code
     * (observe/watch.c): runtime/ is below observe/, so by a hook. */
    tci_world_watch_init((uint64_t)cfg.stoptimeout_ms * 1000000u, cfg.stopabort,
                         tci_watch_where);
    tci_mark_init(cfg.markers, ncpu);
    tci_profile_init(cfg.mem_profile_rate);
    tci_atomic_store_relaxed(&tci_sweep_gen, 2);
    tci_pacer_config pc = {
        .gc_percent = cfg.gc_percent,
        .memlimit_bytes = cfg.memlimit,
        .cpu_limit_pct = cfg.gc_cpu_limit,
        .ncpu = ncpu,
        .markers = cfg.gcstoptheworld ? 0 : cfg.markers,
        .markers_paced = tci_mark_paced(),
    };
    tci_control_init(&pc);
    tci_stats_init(ncpu, tci_os_now_ns());
    int frc = tci_fork_init();
    if (frc != 0)
        return init_fail("tc_init: cannot install the fork handlers (pthread_atfork)", frc);
    tci_init_done = 1;
    tci_mutex_unlock(&init_lock);
    if (tci_thread_attach_from(TCI_CALLER()) != 0)
        return -1;
    return 0;
}

int tc_set_gc_percent(int percent)
{
    if (!tci_init_done) {
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
    return tci_control_set_gc_percent(percent);
}

int64_t tc_set_memory_limit(int64_t bytes)
{
    if (!tci_init_done) {
        fprintf(stderr, "tricolor: tc_set_memory_limit: call tc_init() first (refused)\n");
        errno = EPERM;
        return -1;
    }
    int64_t old = tci_control_set_memlimit(bytes);
    if (bytes >= 0)
        tci_scavenge_replan(); /* the synchronous bound follows the limit */
    return old;
}

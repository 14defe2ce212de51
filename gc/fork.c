/* fork.c: what the collector does in the child of a fork (runtime/fork.c
 * takes and releases the locks; this is the state behind them).
 *
 * The child has one thread, the one that forked, and the heap as it was:
 * every object, every statistic. Its library threads are gone, so their
 * flags are reset, with every lock still held (fork_child_locked), and
 * each starts again at its next request, as in a process that has not
 * collected yet: the collector's thread at the next cycle asked for (it
 * starts the mark helpers), the scavenger after the next sweep, the
 * notifier and the event worker at the next registration; the finalizer
 * thread at once if it ran and finalizers wait for it. Then, locks
 * released (fork_child_after): every other attached thread's record is
 * dropped and its cache given back, as if it had detached; and if another
 * thread may have been inside a central (gc/central.c: their locks are
 * not taken at fork) the centrals are rebuilt from the page map.
 *
 * A mark under way at the fork is abandoned in the child, not finished:
 * its markers, and the grey objects they held in their own buffers and
 * their frames, are gone, so what its mark bits say is incomplete, and no
 * later step could make it complete without marking again from the roots.
 * Waiting in the prepare handler for the mark to end would make a fork
 * wait for a whole mark (seconds on a big heap; for good when a test
 * holds the mark at a gate), and finishing it in the child would be a full
 * collection at every fork, which a fork followed by exec must not pay. So
 * the child puts the heap back as it was before the mark's first stop,
 * which is consistent: that stop swept every span and flushed every
 * cache, so after flushing the caches again the alloc bits say exactly
 * which slots are in use, and the sweep generation has not moved. It
 * clears every mark bit (the objects allocated black since become plain
 * allocated ones) and every ephemeron filing, drops the grey work, makes
 * the write-protected root ranges writable again, and turns the phase
 * off. The next cycle, which the heap's trigger asks for soon (it was
 * past it), marks from the roots. The parent goes on with its mark.
 */
#include "fork.h"
#include "gc.h"

/* The forking thread's, in the child. */
static int restart_finalizers;
/* Some other thread may have held a central's lock or a span at the fork
 * (an attached thread, or the collector in a cycle): gc/central.c then
 * rebuilds the centrals. */
static int rebuild_centrals;

/* The child, one thread, every lock held. */
static void fork_child_locked(void)
{
    int others = tci_thread_count() - (tci_thread_self() != NULL);
    rebuild_centrals = tci_cycle_fork_child_locked() || others > 0;
    tci_scavenge_fork_child_locked();
    tci_world_fork_child_locked();
    tci_markers_fork_child_locked();
    tci_notify_fork_child_locked();
    tci_event_fork_child_locked();
    tci_gate_fork_child_locked();
    tci_heap_fork_child_locked();
    restart_finalizers = tci_finalizer_fork_child_locked();
}

static void clear_marks(tci_span *s, void *arg)
{
    (void)arg;
    size_t nwords = (s->nelems + 63) / 64;
    for (size_t w = 0; w < nwords; w++) {
        tci_atomic_store_relaxed(&s->mark_bits[w], 0);
        tci_atomic_store_relaxed(&s->eph_key_bits[w], 0);
    }
    tci_atomic_store_relaxed(&s->eph_keys, 0);
}

/* See the top: the mark in progress at the fork, abandoned. */
static void abandon_mark(void)
{
    tci_thread *self = tci_thread_self();
    if (self)
        tci_cache_flush(self); /* windows out, the tracer's grey objects too */
    tci_mark_fork_abandon();
    tci_ephemeron_fork_unfile_all();
    tci_weakfield_fork_abandon();
    tci_heap_for_each_span(clear_marks, NULL);
    tci_roots_fork_disarm();
    tci_atomic_store_relaxed(&tci_cycle_black_bytes, 0);
    uint64_t mark_cpu, assist_cpu, idle_cpu;
    tci_control_mark_cpu_take(&mark_cpu, &assist_cpu, &idle_cpu);
    tci_stats_add_mark_cpu(mark_cpu + assist_cpu, idle_cpu); /* spent, if for nothing */
    tci_barrier_set_phase(TCI_PHASE_OFF);
}

/* The centrals after the other threads went (see gc/central.c): made anew
 * only if one of those threads was in one, or left a span off every list
 * (popped to sweep it, or to fill its cache). Rebuilding writes every span
 * struct, which in a child costs a page copy each: 1.4 ms for a 32 MB
 * heap, as much as the fork and exec themselves. */
static void settle_centrals(void)
{
    int anew = rebuild_centrals && tci_central_fork_locks_held();
    if (anew)
        tci_central_fork_locks_anew();
    tci_thread_fork_child(); /* the other threads' caches given back */
    if (!rebuild_centrals)
        return;
    tci_thread *self = tci_thread_self();
    if (self)
        tci_cache_flush(self);
    if (anew || tci_central_fork_count() != tci_heap_nspans())
        tci_central_fork_rebuild();
}

static void fork_child_after(void)
{
    tci_defer_fork_child(); /* before anything could ask for a cycle */
    settle_centrals();
    if (tci_phase() == TCI_PHASE_MARK)
        abandon_mark();
    if (restart_finalizers)
        tci_finalizer_fork_restart();
}

int tci_fork_init(void)
{
    tci_fork_add_child(fork_child_locked, fork_child_after); /* the first: room */
    return tci_fork_install();
}

/* markers.c: the markers, and the steps of a mark that the cycle drives.
 *
 * Marker 0 is the collector's own thread; the others are helper threads,
 * started at the first collection (or when the collector's thread starts)
 * and woken for each drain by a new mark epoch: by the collector for a
 * concurrent mark's drain (tci_markers_drain_all), or, in a stopped mark,
 * when the collector's grey list first outgrows a buffer
 * (tci_markers_wake_helpers, from gc/mark.c's buffer code). Each marker
 * has a tracer here, reset at the start of a mark and summed at its end.
 *
 * The steps: tci_markers_stw marks everything with the world stopped (the
 * roots, the drain, the ephemerons' filing and a drain again); a
 * concurrent mark is tci_markers_begin_stw (its first stop greys the roots),
 * tci_markers_roots_concurrent and tci_markers_drain_all beside the program,
 * and tci_markers_end_stw (mark termination). The marking itself (buffers,
 * shading, scanning, the drain, the markers' CPU share) is gc/mark.c's.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fork.h"
#include "gc.h"
#include "mark_internal.h"
#include "os.h"

/* Helper threads: wait on helper_cond for a new mark epoch. */
static tci_mutex helper_lock = TCI_MUTEX_INIT(TCI_RANK_HELPER, "helper_lock");
TCI_FORK_LOCK(helper_lock)
static pthread_cond_t helper_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(helper_cond, helper_cond)
static pthread_cond_t helper_done_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(helper_done_cond, helper_done_cond)
static uint64_t mark_epoch;       /* protected by helper_lock */
static int helpers_running;       /* protected by helper_lock */
static int helpers_started; /* written by the collector under world_lock */
/* Marker i's tracer: its marker's alone while it drains; reset and summed
 * by the collector while no helper drains (before the epoch, after
 * wait_helpers). */
static tc_tracer tracers[TCI_MAX_MARKERS];
static int count_cpu; /* the current drain is concurrent: written before the epoch */

/* Whether a CPU is left over for helper id (1, 2, ...) in a concurrent
 * drain: the program's running threads, the collector's marker and the
 * helpers before it fewer than the CPUs (see helper_main). */
static int cpu_left_for(int id)
{
    return tci_atomic_load_relaxed(&tci_world_nrunning) + (uintptr_t)id <
           (uintptr_t)tci_control_ncpu();
}

static void *helper_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seen = 0;
    tci_thread_set_library();
    tci_mutex_lock(&helper_lock); /* held except while marking */
    for (;;) {
        while (mark_epoch == seen)
            tci_cond_wait(&helper_cond, &helper_lock);
        seen = mark_epoch;
        tci_mutex_unlock(&helper_lock);
        /* A concurrent drain counts its CPU (and keeps to its share). A
         * helper marks beside the program only on a CPU it leaves over:
         * helper id needs the program's running threads, the collector's
         * marker and the helpers before it, fewer than the CPUs. Where
         * none is left over it would only take CPU time from the program
         * (TRICOLOR_MARKERS=2 on two CPUs beside a one-thread program made
         * it slower than one marker: issue 20), so it leaves the drain at
         * once, as it leaves one it finds itself competing in (gc/mark.c,
         * tci_mark_leave_drain). In a stopped drain every helper marks. */
        if (count_cpu && !cpu_left_for(id)) {
            tci_mark_leave_drain();
        } else {
            tracers[id].pace = count_cpu;
            if (count_cpu)
                tci_mark_pace_start(&tracers[id]);
            tci_mark_drain(&tracers[id]);
            tracers[id].pace = 0;
        }
        tci_mutex_lock(&helper_lock);
        if (--helpers_running == 0)
            pthread_cond_broadcast(&helper_done_cond);
    }
    return NULL;
}

/* Starts the helper threads at the first collection, not at tc_init, so a
 * program that forks before collecting has none to lose. */
static void start_helpers(void)
{
    helpers_started = 1;
    for (int i = 1; i < tci_mark_nmarkers_cfg; i++)
        if (tci_os_thread_start(helper_main, (void *)(intptr_t)i) == 0)
            tci_mark_nhelpers++;
    if (tci_mark_nhelpers + 1 < tci_mark_nmarkers_cfg)
        fprintf(stderr, "tricolor: could start only %d of %d mark helper threads\n",
                tci_mark_nhelpers, tci_mark_nmarkers_cfg - 1);
}

/* Work buffers made ahead, when the collector's thread starts: a first
 * cycle's stop took its buffers from malloc, page faults included. */
#define WARM_BUFS 16

void tci_markers_warm_locked(void)
{
    tci_world_assert_held();
    if (!helpers_started)
        start_helpers();
    for (int i = 0; i < WARM_BUFS; i++) {
        workbuf *b = tci_mark_buf_new();
        if (!b)
            return; /* made when needed, as before */
        memset(b, 0, sizeof *b); /* its pages faulted in now */
        tci_mark_buf_put_empty(b);
    }
}

/* The collector's grey list outgrew a buffer: there is work to share. The
 * helpers start on the global list; small heaps (a shallow grey list) never
 * pay for waking them. */
static uint64_t parallel_cycles; /* cycles that woke the helpers; world_lock */

uint64_t tci_markers_parallel_cycles(void)
{
    return parallel_cycles;
}

void tci_markers_wake_helpers(void)
{
    parallel_cycles++;
    tci_atomic_fence_full();
    tci_mutex_lock(&helper_lock); /* released below */
    tci_mark_nworkers = 1 + tci_mark_nhelpers;
    helpers_running = tci_mark_nhelpers;
    mark_epoch++;
    pthread_cond_broadcast(&helper_cond);
    tci_mutex_unlock(&helper_lock);
}

/* The markers' tracers at the start of a mark: a buffer each, counts zero. */
static void tracers_reset(void)
{
    for (int i = 0; i <= tci_mark_nhelpers; i++) {
        tracers[i].cur = tci_mark_buf_get();
        tracers[i].marked_bytes = 0;
        tracers[i].credited = 0;
        tracers[i].scanned = 0;
        tracers[i].id = i;
        tracers[i].pace_owed = 0;
    }
}

/* Waits until every helper woken for this epoch has finished draining. */
static void wait_helpers(void)
{
    tci_mutex_lock(&helper_lock); /* released below */
    while (helpers_running > 0)
        tci_cond_wait(&helper_done_cond, &helper_lock);
    tci_mutex_unlock(&helper_lock);
}

/* At the end of a mark: the markers' buffers back, their bytes summed. */
static uint64_t tracers_release(void)
{
    uint64_t marked = 0;
    for (int i = 0; i <= tci_mark_nhelpers; i++) {
        marked += tracers[i].marked_bytes;
        tci_atomic_add_full(&tci_mark_slots_total, tracers[i].slots);
        tracers[i].slots = 0;
        tci_mark_buf_put_empty(tracers[i].cur);
        tracers[i].cur = NULL;
    }
    return marked;
}

/* With the world stopped: the collector's tracer drained, and the helpers
 * waited for when a long drain (or the pushes before it) woke them
 * (buf_put_full). */
static void drain_stw(void)
{
    tci_mark_drain(&tracers[0]);
    if (tci_mark_nworkers > 1)
        wait_helpers();
}

uint64_t tci_markers_stw(void)
{
    if (!helpers_started)
        start_helpers();
    tci_mark_nworkers = 1; /* before any push: buf_put_full wakes the helpers */
    tracers_reset();
    tci_mark_idle_reset();
    tci_roots_scan(&tracers[0]);
    drain_stw();
    /* The ephemerons, filed now that most keys are marked: the values of
     * marked keys are pushed, and those of keys marked from here on
     * follow as their keys are marked (gc/ephemeron.c). The helpers are
     * joined; the filing's pushes may wake them again. */
    tci_mark_nworkers = 1;
    tci_mark_idle_reset();
    if (tci_ephemeron_file_all(&tracers[0]))
        drain_stw();
    return tracers_release();
}

int tci_markers_file_ephemerons(void)
{
    return tci_ephemeron_file_all(&tracers[0]);
}

/* ---- Concurrent marking ---------------------------------------------------
 *
 * The cycle's first stop greys the roots into marker 0's buffer
 * (tci_markers_begin_stw). The markers then drain beside the program
 * (tci_markers_drain_all): marker 0 is the collector's own thread, the others
 * the helper threads. Mutators add work of their own: the write barrier
 * shades the value a store overwrites into the storing thread's tracer
 * (tci_mark_shade), and an allocating thread drains some grey objects
 * itself (tci_mark_assist). A mutator's tracer keeps its grey objects until
 * its buffer fills or the next stop flushes it (tci_mark_tracer_flush), so
 * when the markers run dry the collector stops the world, flushes every
 * tracer and drains again if anything turned up. */

static uint64_t mark_id; /* concurrent marks so far; world stopped */

void tci_markers_begin_stw(void)
{
    if (!helpers_started)
        start_helpers();
    tci_mark_concurrent = 1;
    tci_mark_nworkers = 1 + tci_mark_nhelpers;
    if (tci_mark_nhelpers > 0)
        parallel_cycles++; /* every concurrent mark uses the helpers */
    tci_atomic_store_relaxed(&tci_mark_marked_total, 0);
    tci_atomic_store_relaxed(&tci_mark_credit_bytes, 0);
    tci_atomic_store_relaxed(&tci_mark_progress_bytes, 0);
    tracers_reset();
    tci_roots_scan_stop(&tracers[0]);
    /* The roots are work done: the expected work counts them. */
    tci_atomic_store_relaxed(&tci_mark_progress_bytes, tci_roots_last_bytes());
    tci_roots_note_stacks(++mark_id);
    /* Half of the roots' grey objects for the helpers to start on. */
    if (tci_mark_nhelpers > 0 && tracers[0].cur->n >= 2)
        tci_mark_share_half(&tracers[0]);
}

void tci_markers_roots_concurrent(void)
{
    tci_roots_scan_protected(&tracers[0]);
    tci_roots_scan_barriered(&tracers[0]);
    tci_special_roots(&tracers[0]);
}

/* Concurrent drains that woke the helpers, and those that left them out
 * for want of a CPU (tests): the collector's alone writes them. */
static tci_atomic drains_helped, drains_alone;

void tci_markers_drain_counts(uint64_t *helped, uint64_t *alone)
{
    *helped = tci_atomic_load_relaxed(&drains_helped);
    *alone = tci_atomic_load_relaxed(&drains_alone);
}

void tci_markers_drain_all(int concurrent_drain)
{
    count_cpu = concurrent_drain;
    tci_mark_idle_reset();
    /* No CPU left over for even the first helper (see helper_main): none
     * is woken, each counts as gone from this drain, and a wake-up and a
     * switch per drain are saved. */
    int wake = tci_mark_nhelpers > 0;
    if (wake && concurrent_drain && !cpu_left_for(1)) {
        for (int i = 0; i < tci_mark_nhelpers; i++)
            tci_mark_leave_drain();
        wake = 0;
        tci_atomic_add_full(&drains_alone, 1);
    } else if (wake && concurrent_drain) {
        tci_atomic_add_full(&drains_helped, 1);
    }
    if (wake) {
        tci_atomic_fence_full();
        tci_mutex_lock(&helper_lock); /* released below */
        helpers_running = tci_mark_nhelpers;
        mark_epoch++;
        pthread_cond_broadcast(&helper_cond);
        tci_mutex_unlock(&helper_lock);
    }
    tracers[0].pace = concurrent_drain;
    if (concurrent_drain)
        tci_mark_pace_start(&tracers[0]);
    tci_mark_drain(&tracers[0]);
    tracers[0].pace = 0;
    if (wake)
        wait_helpers();
}

uint64_t tci_markers_end_stw(void)
{
    /* The frames pushed since the first stop. Not for the snapshot's sake
     * (what a thread can reach now was reachable at the first stop or
     * allocated since, and is marked), but for the conservative scan's: a
     * new frame's unwritten slots (ASan's red zones, say) show old words
     * from below the stack pointer of the first stop, which it never saw.
     * They are dead to the program, but a conservative scan cannot tell
     * dead from live words, so what they point to is kept, as a stopped
     * collector would keep it. Only the new frames: above them every live
     * word was scanned at the first stop or written since by the program,
     * which held what it points to (marked). The dead words there (a frame
     * popped and pushed again since, its unwritten slots left by any call
     * in between, the library's own included) would only keep garbage (a
     * dropped 10-million list, once). Checkmark looks at the stacks as
     * this does (tci_roots_scan_checked). */
    tci_roots_scan_new_frames(&tracers[0], mark_id);
    tci_markers_drain_all(0); /* that and what the last flush turned up, world stopped */
    uint64_t marked = tci_atomic_load_relaxed(&tci_mark_marked_total) + tracers_release();
    tci_mark_concurrent = 0;
    return marked;
}

void tci_markers_check_roots(void)
{
    tc_tracer tr;
    memset(&tr, 0, sizeof tr);
    tr.check = TRACER_CHECK;
    tci_roots_scan_checked(&tr, mark_id);
}

/* The child of a fork, every lock held: no helper thread; the collector's
 * thread starts them again when it starts (tci_markers_warm_locked). */
void tci_markers_fork_child_locked(void)
{
    tci_assert_held(&helper_lock);
    tci_world_assert_held();
    helpers_started = 0;
    helpers_running = 0;
    tci_mark_nhelpers = 0;
    tci_mark_nworkers = 1;
}

/* test_pause.c: every stop the collector makes is counted, and each
 * reported stop covers the whole time the threads were held by it.
 *
 * Mutator threads spin allocating and polling safepoints while the main
 * thread runs forced collections with proportional collection off, so the
 * main thread's collections are the only stops (two or more per concurrent
 * cycle) and every mutator is RUNNING at each of them: each must park
 * exactly once per stop. Every thread records, per stop, the interval it
 * was held (the library stamps it from inside the park, on
 * CLOCK_MONOTONIC), and the test checks each interval lies inside the
 * stop the collector reports, taken on the same clock, and that each
 * stop ends exactly when the last thread it held ran again, by that
 * thread's own reading. No sleeps and no timing bounds: the checks are
 * orderings and equalities of clock readings that the stop protocol makes
 * certain (the stopper reads the clock before asking threads to stop; the
 * stop's end is the latest reading its held threads took as they ran
 * again).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "atomic.h"
#include "testing.h"
#include "testutil.h"
#include "thread.h"
#include "world.h"
#include "tricolor.h"

enum { NMUT = 3, NMUT_MANY = 16, NCYCLE = 40, MAXSTOP = 8 * NCYCLE };

typedef struct held {
    uint64_t begin, end;
} held;

typedef struct mutator {
    pthread_t th;
    tci_atomic *go, *done, *ready;
    held seen[MAXSTOP];
    size_t nseen;
    int failed;
} mutator;

/* Records the stops that held this thread since the last call (one call
 * into the library can be held by more than one). The fields are this
 * thread's own: only it writes them, in the park. */
static void note_park(mutator *m, const tci_thread *self, uint64_t *parks)
{
    if (self->parks - *parks > TCI_PARK_LOG)
        m->failed = 1; /* more than the log holds between two checks */
    for (uint64_t p = *parks; p < self->parks; p++) {
        if (m->nseen == MAXSTOP) {
            m->failed = 1;
            break;
        }
        const uint64_t *iv = self->park_log[p % TCI_PARK_LOG];
        m->seen[m->nseen++] = (held){iv[0], iv[1]};
    }
    *parks = self->parks;
}

static void *mutator_main(void *arg)
{
    mutator *m = arg;
    if (tc_thread_attach() != 0) {
        m->failed = 1;
        tci_atomic_add_full(m->ready, 1);
        return NULL;
    }
    tci_thread *self = tci_thread_self();
    tci_atomic_add_full(m->ready, 1);
    uint64_t parks = self->parks;
    while (!tci_atomic_load_acquire(m->done)) {
        /* Both calls may park; the next stop can come as soon as this one
         * ends, so the count is checked after each. */
        if (tc_alloc_atomic(32) == NULL)
            m->failed = 1;
        note_park(m, self, &parks);
        tc_safepoint();
        note_park(m, self, &parks);
    }
    tc_thread_detach();
    return NULL;
}

/* NCYCLE forced collections while nmut mutators allocate and poll; every
 * stop checked against what each mutator saw. */
static void stops_cover_mutators(int nmut)
{
    int old_pct = tc_set_gc_percent(-1); /* only our forced cycles stop */
    tci_atomic go = {0}, done = {0}, ready = {0};
    static mutator ms[NMUT_MANY];
    memset(ms, 0, sizeof ms);
    for (int i = 0; i < nmut; i++) {
        ms[i].go = &go;
        ms[i].done = &done;
        ms[i].ready = &ready;
        assert_int_equal(pthread_create(&ms[i].th, NULL, mutator_main, &ms[i]), 0);
    }
    while (tci_atomic_load_acquire(&ready) != (uintptr_t)nmut)
        tc_safepoint(); /* spin: attach takes world_lock, no stop is running */

    tc_memstats st0 = test_stats();
    uint32_t first = st0.num_stw;
    /* The calling thread may be held too (leaving tc_collect's wait while
     * a stop is on): its intervals count towards the stops' ends. */
    static mutator caller;
    memset(&caller, 0, sizeof caller);
    tci_thread *self = tci_thread_self();
    uint64_t caller_parks = self->parks;
    for (int k = 0; k < NCYCLE; k++) {
        tc_collect();
        note_park(&caller, self, &caller_parks);
    }
    tc_memstats st = test_stats();
    tci_atomic_store_release(&done, 1);
    tc_blocking_begin();
    for (int i = 0; i < nmut; i++)
        assert_int_equal(pthread_join(ms[i].th, NULL), 0);
    tc_blocking_end();
    tc_set_gc_percent(old_pct);

    /* Every stop counted: NCYCLE collections, each of one stop (stopped
     * mode) or at least two (concurrent), each stop in the ring. */
    assert_int_equal(st.num_gc - st0.num_gc, NCYCLE);
    uint32_t nstops = st.num_stw - first;
    assert_true(nstops >= NCYCLE && nstops <= MAXSTOP);
    uint64_t total = 0;
    for (uint32_t g = first; g < first + nstops; g++) {
        uint64_t start, end;
        assert_true(tci_stats_stop_interval(g, &start, &end));
        assert_true(start <= end);
        assert_int_equal(st.stw_ns[g % TC_PAUSE_RING], end - start);
        total += end - start;
    }
    assert_int_equal(st.pause_total_ns - st0.pause_total_ns, total);
    /* Go's PauseNs: a cycle's stops summed. */
    uint64_t cycles_total = 0;
    for (uint32_t c = st0.num_gc; c < st.num_gc; c++)
        cycles_total += st.pause_ns[c % TC_PAUSE_RING];
    assert_int_equal(cycles_total, total);

    /* The latest time a thread held by each stop ran again. */
    static uint64_t last_run[MAXSTOP];
    memset(last_run, 0, sizeof last_run);
    for (int i = 0; i < nmut; i++) {
        mutator *m = &ms[i];
        assert_false(m->failed);
        /* Each stop held every running mutator exactly once. */
        assert_int_equal(m->nseen, nstops);
        for (size_t k = 0; k < m->nseen; k++) {
            uint64_t start, end;
            assert_true(tci_stats_stop_interval(first + (uint32_t)k, &start, &end));
            if (!(start <= m->seen[k].begin && m->seen[k].begin <= m->seen[k].end &&
                  m->seen[k].end <= end))
                fail_msg("mutator %d, stop %zu: held [%llu, %llu] outside the reported "
                         "pause [%llu, %llu]",
                         i, k, (unsigned long long)m->seen[k].begin,
                         (unsigned long long)m->seen[k].end, (unsigned long long)start,
                         (unsigned long long)end);
            if (m->seen[k].end > last_run[k])
                last_run[k] = m->seen[k].end;
        }
    }
    assert_false(caller.failed);
    for (size_t j = 0; j < caller.nseen; j++) {
        uint32_t k = 0;
        uint64_t start = 0, end = 0;
        while (k < nstops && tci_stats_stop_interval(first + k, &start, &end) &&
               !(start <= caller.seen[j].begin && caller.seen[j].end <= end))
            k++;
        if (k == nstops)
            fail_msg("the caller's hold %zu is inside no reported pause", j);
        if (caller.seen[j].end > last_run[k])
            last_run[k] = caller.seen[j].end;
    }
    /* A stop ends when the last thread it held runs again, as that thread
     * read the clock: not when the stopper next ran to see it (in a
     * process's first cycles, with the collector's new thread on the
     * mutator's CPU, that was the rest of the mutator's time slice later:
     * 2-3 ms stops whose thread ran again after 20-50 us). */
    for (uint32_t k = 0; k < nstops; k++) {
        uint64_t start, end;
        assert_true(tci_stats_stop_interval(first + k, &start, &end));
        if (end != last_run[k])
            fail_msg("stop %u ends at %llu, its last held thread ran again at %llu", k,
                     (unsigned long long)end, (unsigned long long)last_run[k]);
    }
}

static void every_stop_covers_the_held_threads(void **state)
{
    (void)state;
    stops_cover_mutators(NMUT);
}

/* More mutators than CPUs: still every stop covers them all, and at most
 * one fewer than the CPUs spin or yield while held (all of them did, and
 * took the CPUs the stop needed: 12.4 ms stops with 64 threads on 2). */
static void held_threads_beyond_the_cpus_do_not_spin(void **state)
{
    (void)state;
    stops_cover_mutators(NMUT_MANY);
    int seen = tci_world_spinners_seen(), max = tci_world_spin_max();
    printf("pause: at most %d of %d held threads spun at once (bound %d)\n", seen, NMUT_MANY,
           max);
    assert_true(seen <= max);
}

/* The statistics ring keeps the last TC_PAUSE_RING stops: an older one is
 * reported as gone, never as another stop's figures. */
static void pause_intervals_outside_the_ring_are_refused(void **state)
{
    (void)state;
    uint64_t s, e;
    uint32_t n = test_stats().num_stw;
    assert_false(tci_stats_stop_interval(n, &s, &e)); /* not yet run */
    tc_collect();
    assert_true(tci_stats_stop_interval(n, &s, &e));
    while (test_stats().num_stw - n < TC_PAUSE_RING + 1)
        tc_collect();
    assert_false(tci_stats_stop_interval(n, &s, &e));
    assert_true(tci_stats_stop_interval(test_stats().num_stw - 1, &s, &e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_stop_covers_the_held_threads),
        cmocka_unit_test(held_threads_beyond_the_cpus_do_not_spin),
        cmocka_unit_test(pause_intervals_outside_the_ring_are_refused),
    };
    return cmocka_run_group_tests(tests, test_group_setup_verified, NULL);
}

/* test_event.c: tc_on_gc_event.
 *
 * 1. Every cycle posts START, MARK_DONE and SWEEP_DONE, in that order,
 *    numbered as num_gc counts them, with the forced flag and figures that
 *    agree with the statistics; the callback runs on a library thread that
 *    is not attached, with no library lock held (it calls
 *    tc_set_gc_percent, which takes the pacer's lock, and
 *    tc_read_memstats).
 * 2. A callback that blocks holds up no collection: 400 cycles complete
 *    while it waits, the queue drops the oldest events and counts them.
 * 3. Unregistered, it is not called again; unregistering waits for a call
 *    in progress to return (so the program may free its arg then).
 * The test waits for events with a condition variable, never a sleep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "atomic.h"
#include "testutil.h"
#include "tricolor.h"

enum { MAXEV = 8192 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static tc_gc_event evs[MAXEV]; /* lock */
static size_t nev;
static int bad_thread, blocked, in_callback;
static tci_atomic unreg_returned; /* set by the unregistering thread */
static int returned_early;        /* lock: the callback saw it set */
static pthread_t main_thread;

static void record(void *arg, const tc_gc_event *ev)
{
    (void)arg;
    /* No library lock is held here: these take the pacer's lock and read
     * the statistics. */
    int old = tc_set_gc_percent(100);
    tc_set_gc_percent(old);
    tc_memstats m;
    tc_read_memstats(&m);
    pthread_mutex_lock(&lock);
    if (tc_thread_is_attached() || pthread_equal(pthread_self(), main_thread))
        bad_thread = 1;
    in_callback = 1;
    pthread_cond_broadcast(&cond);
    while (blocked)
        pthread_cond_wait(&cond, &lock);
    if (tci_atomic_load_acquire(&unreg_returned))
        returned_early = 1;
    in_callback = 0;
    if (nev < MAXEV)
        evs[nev++] = *ev;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* Waits, as a blocked thread, until the SWEEP_DONE of cycle `cycle` came. */
static void wait_sweep_done(uint32_t cycle)
{
    tc_blocking_begin();
    pthread_mutex_lock(&lock);
    for (;;) {
        int seen = 0;
        for (size_t i = 0; i < nev; i++)
            if (evs[i].kind == TC_GC_EVENT_SWEEP_DONE && evs[i].cycle == cycle)
                seen = 1;
        if (seen)
            break;
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
    tc_blocking_end();
}

static void every_cycle_posts_three_events_in_order(void **state)
{
    (void)state;
    tc_collect();
    assert_int_equal(tc_on_gc_event(record, NULL), 0);
    tc_memstats m0 = test_stats();
    for (int i = 0; i < 5; i++)
        tc_collect();
    tc_memstats m1 = test_stats();
    wait_sweep_done(m1.num_gc);
    pthread_mutex_lock(&lock);
    /* From the first START after registration: cycles m0.num_gc + 1 on. */
    size_t i = 0;
    while (i < nev && !(evs[i].kind == TC_GC_EVENT_START && evs[i].cycle == m0.num_gc + 1))
        i++;
    uint32_t cycle = m0.num_gc + 1;
    uint64_t last_time = 0;
    for (; i + 2 < nev && cycle <= m1.num_gc; i += 3, cycle++) {
        const tc_gc_event *s = &evs[i], *md = &evs[i + 1], *sd = &evs[i + 2];
        assert_int_equal(s->size, sizeof(tc_gc_event));
        assert_int_equal(s->kind, TC_GC_EVENT_START);
        assert_int_equal(md->kind, TC_GC_EVENT_MARK_DONE);
        assert_int_equal(sd->kind, TC_GC_EVENT_SWEEP_DONE);
        assert_int_equal(s->cycle, cycle);
        assert_int_equal(md->cycle, cycle);
        assert_int_equal(sd->cycle, cycle);
        assert_true(s->forced && md->forced && sd->forced);
        assert_true(s->stops >= 1 && md->stops >= s->stops + 1);
        assert_true(md->pause_ns >= s->pause_ns);
        assert_int_equal(md->pause_ns, m1.pause_ns[(cycle - 1) % TC_PAUSE_RING]);
        assert_true(md->live_bytes <= md->heap_end_bytes);
        assert_int_equal(s->live_bytes, 0);
        assert_true(s->time_ns >= last_time && md->time_ns >= s->time_ns &&
                    sd->time_ns >= md->time_ns);
        last_time = sd->time_ns;
    }
    assert_int_equal(cycle, m1.num_gc + 1); /* every cycle seen */
    assert_int_equal(evs[i - 2].live_bytes, m1.live_bytes);
    assert_false(bad_thread);
    printf("event: cycles %u-%u, three events each, in order\n", m0.num_gc + 1, m1.num_gc);
    pthread_mutex_unlock(&lock);
}

static void slow_callback_holds_up_nothing(void **state)
{
    (void)state;
    tc_memstats m0 = test_stats();
    pthread_mutex_lock(&lock);
    blocked = 1;
    pthread_mutex_unlock(&lock);
    tc_collect(); /* its START blocks the callback */
    tc_blocking_begin();
    pthread_mutex_lock(&lock);
    while (!in_callback)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    tc_blocking_end();
    for (int i = 0; i < 400; i++)
        tc_collect();
    tc_memstats m1 = test_stats();
    assert_true(m1.num_gc >= m0.num_gc + 401);
    /* 3 x 400 events for a queue of 1024, the callback held: some drop. */
    assert_true(m1.gc_events_dropped > m0.gc_events_dropped);
    pthread_mutex_lock(&lock);
    nev = 0;
    blocked = 0;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    wait_sweep_done(m1.num_gc);
    printf("event: 400 cycles while the callback waited, %llu events dropped\n",
           (unsigned long long)(m1.gc_events_dropped - m0.gc_events_dropped));
}

static void unregistered_not_called(void **state)
{
    (void)state;
    assert_int_equal(tc_on_gc_event(NULL, NULL), 0);
    tc_blocking_begin();
    pthread_mutex_lock(&lock);
    while (in_callback) /* one may be running still */
        pthread_cond_wait(&cond, &lock);
    nev = 0;
    pthread_mutex_unlock(&lock);
    tc_blocking_end();
    for (int i = 0; i < 5; i++)
        tc_collect();
    /* Register again and see a cycle through: had the five posted, their
     * events would come before it. */
    assert_int_equal(tc_on_gc_event(record, NULL), 0);
    tc_collect();
    tc_memstats m = test_stats();
    wait_sweep_done(m.num_gc);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nev; i++)
        assert_int_equal(evs[i].cycle, m.num_gc);
    pthread_mutex_unlock(&lock);
    assert_int_equal(tc_on_gc_event(NULL, NULL), 0);
}

static tci_atomic unreg_tid;

static void *unregister_main(void *arg)
{
    (void)arg;
    tci_atomic_store_release(&unreg_tid, (uintptr_t)gettid());
    tc_on_gc_event(NULL, NULL);
    tci_atomic_store_release(&unreg_returned, 1);
    return NULL;
}

static void unregistering_waits_for_the_call(void **state)
{
    (void)state;
    assert_int_equal(tc_on_gc_event(record, NULL), 0);
    pthread_mutex_lock(&lock);
    blocked = 1;
    returned_early = 0;
    pthread_mutex_unlock(&lock);
    tc_collect();
    tc_blocking_begin();
    pthread_mutex_lock(&lock);
    while (!in_callback)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    /* Another thread unregisters while the callback is held; once it is
     * asleep in there (or, wrongly, done), the callback is let go. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, unregister_main, NULL), 0);
    test_wait_thread_asleep(&unreg_tid, &unreg_returned);
    pthread_mutex_lock(&lock);
    blocked = 0;
    pthread_cond_broadcast(&cond);
    while (in_callback) /* the held call returns */
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    assert_int_equal(pthread_join(th, NULL), 0);
    tc_blocking_end();
    pthread_mutex_lock(&lock);
    int early = returned_early;
    nev = 0;
    pthread_mutex_unlock(&lock);
    assert_false(early);
}

int main(void)
{
    main_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_cycle_posts_three_events_in_order),
        cmocka_unit_test(slow_callback_holds_up_nothing),
        cmocka_unit_test(unregistered_not_called),
        cmocka_unit_test(unregistering_waits_for_the_call),
    };
    return cmocka_run_group_tests(tests, test_group_setup_verified, NULL);
}

/* event.c: cycle events (tc_on_gc_event), delivered on a library thread of
 * their own.
 *
 * The collector posts an event at three points of each cycle (after its
 * first stop, after the last, after the sweep) with no lock held but the
 * event queue's, which nothing else is taken under; the stopped collector
 * posts its three under world_lock (so that cycles post in order), which
 * is safe for the same reason: nothing takes world_lock under event_lock. The callback runs on
 * the event thread, outside every lock: a callback that blocks, or takes
 * a lock an allocating thread holds while that thread waits for the
 * collector, holds up only later events (the memory-pressure callback
 * deadlocked the collector when it ran on the collector's thread: see
 * gc/notify.c). The queue is a ring of EVENT_RING events; when the callback
 * falls that far behind, the oldest is dropped and counted
 * (gc_events_dropped), so the collector never waits for a callback.
 *
 * It needs nothing of the collector but the figures the collector hands
 * it (tci_cycle_report, observe.h): the locks, the call gate and the
 * library thread's start are runtime/'s.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "atomic.h"
#include "lock.h"
#include "observe.h"
#include "os.h"
#include "thread.h"
#include "tricolor.h"

#define EVENT_RING 1024

static tci_mutex event_lock = TCI_MUTEX_INIT(TCI_RANK_EVENT, "event_lock");
static pthread_cond_t event_cond = PTHREAD_COND_INITIALIZER;
static tc_gc_event ring[EVENT_RING]; /* event_lock */
static uint64_t head, tail;          /* event_lock: events [tail, head) wait */
static int running;                  /* event_lock: the thread started */
static void (*event_fn)(void *arg, const tc_gc_event *ev); /* event_lock */
static void *event_arg;
static tci_atomic dropped;
/* Calls of the callback in progress (event_lock): a registration that
 * replaces or removes it waits until that call returns, so the program
 * may free what the old arg points to as soon as tc_on_gc_event returns. */
static tci_call_gate gate = TCI_CALL_GATE_INIT;

uint64_t tci_event_dropped(void)
{
    return tci_atomic_load_relaxed(&dropped);
}

static void *event_main(void *arg)
{
    (void)arg;
    tci_thread_set_library();
    tci_mutex_lock(&event_lock); /* held except while calling */
    for (;;) {
        while (tail == head)
            tci_cond_wait(&event_cond, &event_lock);
        tc_gc_event ev = ring[tail % EVENT_RING];
        tail++;
        void (*fn)(void *, const tc_gc_event *) = event_fn;
        void *fn_arg = event_arg;
        tci_call_gate_begin_locked(&gate);
        tci_mutex_unlock(&event_lock);
        if (fn)
            fn(fn_arg, &ev);
        tci_mutex_lock(&event_lock);
        tci_call_gate_end_locked(&gate);
    }
    return NULL;
}

void tci_event_post(int kind, const tci_cycle_report *r, uint64_t sweep_ns)
{
    /* Nothing registered: one load, no lock. */
    if (!__atomic_load_n(&event_fn, __ATOMIC_ACQUIRE))
        return;
    tc_gc_event ev = {
        .size = sizeof ev,
        .kind = kind,
        .forced = r->forced,
        .cycle = r->cycle,
        .stops = r->stops,
        .time_ns = tci_os_wall_ns(),
        .pause_ns = r->pause_ns,
        .heap_start_bytes = r->heap0,
        .goal_bytes = kind == TC_GC_EVENT_START ? r->goal : r->next_goal,
    };
    if (kind != TC_GC_EVENT_START) {
        ev.heap_end_bytes = r->heap1;
        ev.live_bytes = r->live;
        ev.mark_ns = r->t_term - r->t_mark;
    }
    if (kind == TC_GC_EVENT_SWEEP_DONE)
        ev.sweep_ns = sweep_ns;
    tci_mutex_lock(&event_lock); /* released below */
    if (!event_fn) { /* unregistered since the look above */
        tci_mutex_unlock(&event_lock);
        return;
    }
    if (head - tail == EVENT_RING) {
        tail++; /* the oldest goes */
        tci_atomic_add_full(&dropped, 1);
    }
    ring[head % EVENT_RING] = ev;
    head++;
    pthread_cond_signal(&event_cond);
    tci_mutex_unlock(&event_lock);
}

int tc_on_gc_event(void (*fn)(void *arg, const tc_gc_event *ev), void *arg)
{
    tci_mutex_lock(&event_lock); /* released below */
    if (fn && !running) {
        int rc = tci_os_thread_start(event_main, NULL);
        if (rc != 0) {
            tci_mutex_unlock(&event_lock);
            fprintf(stderr, "tricolor: tc_on_gc_event: cannot start the event thread\n");
            errno = rc;
            return -1;
        }
        running = 1;
    }
    event_arg = arg;
    __atomic_store_n(&event_fn, fn, __ATOMIC_RELEASE);
    if (!fn)
        tail = head; /* queued events are for nobody now */
    /* Not from inside the call: the event thread itself may re-register. */
    tci_call_gate_wait_unlock(&gate, &event_lock);
    return 0;
}

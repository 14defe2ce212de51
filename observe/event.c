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
 * it (tci_cycle_report, observe.h): the locks and the worker thread (with
 * its registration, which waits out a call in progress) are runtime/'s.
 */
#include <string.h>

#include "fork.h"
#include "atomic.h"
#include "lock.h"
#include "observe.h"
#include "os.h"
#include "tricolor.h"
#include "worker.h"

#define EVENT_RING 1024

static tci_mutex event_lock = TCI_MUTEX_INIT(TCI_RANK_EVENT, "event_lock");
TCI_FORK_LOCK(event_lock)
static tc_gc_event ring[EVENT_RING]; /* event_lock */
static uint64_t head, tail;          /* event_lock: events [tail, head) wait */
static tci_atomic dropped;

_Static_assert(sizeof(tc_gc_event) <= TCI_WORKER_ITEM_MAX, "worker item");

/* The worker's take: the oldest event waiting. */
static int take(void *item)
{
    if (tail == head)
        return 0;
    *(tc_gc_event *)item = ring[tail % EVENT_RING];
    tail++;
    return 1;
}

static void call(tci_worker_fn fn, void *arg, const void *item)
{
    ((void (*)(void *, const tc_gc_event *))fn)(arg, item);
}

/* Its registration waits out a call in progress, so the program may free
 * what the old arg points to as soon as tc_on_gc_event returns. */
static tci_worker worker =
    TCI_WORKER_INIT(&event_lock, take, call, "tc_on_gc_event: cannot start the event thread");
TCI_FORK_COND(worker_cond, worker.cond)
TCI_FORK_COND(worker_idle, worker.idle)

uint64_t tci_event_dropped(void)
{
    return tci_atomic_load_relaxed(&dropped);
}

void tci_event_post(int kind, const tci_cycle_report *r, uint64_t sweep_ns)
{
    /* Nothing registered: one load, no lock. */
    if (!tci_worker_registered(&worker))
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
    if (!worker.fn) { /* unregistered since the look above */
        tci_mutex_unlock(&event_lock);
        return;
    }
    if (head - tail == EVENT_RING) {
        tail++; /* the oldest goes */
        tci_atomic_add_full(&dropped, 1);
    }
    ring[head % EVENT_RING] = ev;
    head++;
    tci_worker_wake_locked(&worker);
    tci_mutex_unlock(&event_lock);
}

int tc_on_gc_event(void (*fn)(void *arg, const tc_gc_event *ev), void *arg)
{
    tci_mutex_lock(&event_lock); /* released by tci_worker_set_unlock */
    if (!fn)
        tail = head; /* queued events are for nobody now */
    /* Not from inside the call: the event thread itself may re-register. */
    return tci_worker_set_unlock(&worker, (tci_worker_fn)fn, arg);
}

void tci_event_fork_child_locked(void)
{
    tci_worker_fork_child_locked(&worker);
}

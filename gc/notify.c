/* notify.c: the memory-pressure callback (tc_on_memory_pressure).
 *
 * The callback runs on a library thread of its own (the notifier), started
 * when a callback is first registered. Not on the collector's: a callback
 * that waits for the program (takes a lock an allocating thread holds
 * while it waits for the collector) deadlocked it there. Not on a
 * mutator's either. Notifications coalesce: the callback sees the latest
 * cycle's figures, once per wake-up.
 *
 * The thread and the registration are runtime/worker.c's. Lock:
 * notify_lock (TCI_RANK_NOTIFY) protects the figures here and the
 * worker's state; the pacer's figures come from gc/control.c, read before
 * it is taken.
 */
#include "fork.h"
#include "gc.h"
#include "worker.h"

static tci_mutex notify_lock = TCI_MUTEX_INIT(TCI_RANK_NOTIFY, "notify_lock");
TCI_FORK_LOCK(notify_lock)
static uint64_t notify_seq, notify_seen; /* notify_lock */
static tc_memory_pressure notify_info;   /* notify_lock */

_Static_assert(sizeof(tc_memory_pressure) <= TCI_WORKER_ITEM_MAX, "worker item");

/* The worker's take: the latest figures, once per wake-up. */
static int take(void *item)
{
    if (notify_seen == notify_seq)
        return 0;
    notify_seen = notify_seq;
    *(tc_memory_pressure *)item = notify_info;
    return 1;
}

static void call(tci_worker_fn fn, void *arg, const void *item)
{
    ((void (*)(void *, const tc_memory_pressure *))fn)(arg, item);
}

static tci_worker notifier =
    TCI_WORKER_INIT(&notify_lock, take, call,
                    "tc_on_memory_pressure: cannot start the notifier thread");
TCI_FORK_COND(notifier_cond, notifier.cond)
TCI_FORK_COND(notifier_idle, notifier.idle)

void tci_notify_after_mark(void)
{
    tc_memory_pressure info;
    if (!tci_control_pressure_info(&info) || !tci_worker_registered(&notifier))
        return;
    tci_mutex_lock(&notify_lock); /* released below */
    notify_info = info;
    notify_seq++;
    tci_worker_wake_locked(&notifier);
    tci_mutex_unlock(&notify_lock);
}

int tc_on_memory_pressure(void (*fn)(void *arg, const tc_memory_pressure *info), void *arg)
{
    tci_mutex_lock(&notify_lock); /* released by tci_worker_set_unlock */
    return tci_worker_set_unlock(&notifier, (tci_worker_fn)fn, arg);
}

void tci_notify_fork_child_locked(void)
{
    tci_worker_fork_child_locked(&notifier);
}

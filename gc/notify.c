/* notify.c: the memory-pressure callback (tc_on_memory_pressure).
 *
 * The callback runs on a library thread of its own (the notifier), started
 * when a callback is first registered. Not on the collector's: a callback
 * that waits for the program (takes a lock an allocating thread holds
 * while it waits for the collector) deadlocked it there. Not on a
 * mutator's either. Notifications coalesce: the callback sees the latest
 * cycle's figures, once per wake-up.
 *
 * Lock: notify_lock (TCI_RANK_NOTIFY) protects everything here; the
 * pacer's figures come from gc/control.c, read before it is taken.
 */
#include <errno.h>
#include <stdio.h>

#include "gc.h"
#include "os.h"

static tci_mutex notify_lock = TCI_MUTEX_INIT(TCI_RANK_NOTIFY, "notify_lock");
static pthread_cond_t notify_cond = PTHREAD_COND_INITIALIZER;
static uint64_t notify_seq, notify_seen; /* notify_lock */
static tc_memory_pressure notify_info;   /* notify_lock */
static int notify_running;               /* notify_lock */
static void (*pressure_fn)(void *arg, const tc_memory_pressure *info); /* notify_lock */
static void *pressure_arg;                                             /* notify_lock */
/* Calls of the callback, waited out by a registration (notify_lock). */
static tci_call_gate notify_gate = TCI_CALL_GATE_INIT;

static void *notify_main(void *arg)
{
    (void)arg;
    tci_thread_set_library();
    tci_mutex_lock(&notify_lock); /* held except while calling */
    for (;;) {
        while (notify_seen == notify_seq)
            tci_cond_wait(&notify_cond, &notify_lock);
        notify_seen = notify_seq;
        tc_memory_pressure info = notify_info;
        void (*fn)(void *, const tc_memory_pressure *) = pressure_fn;
        void *fn_arg = pressure_arg;
        tci_call_gate_begin_locked(&notify_gate);
        tci_mutex_unlock(&notify_lock);
        if (fn)
            fn(fn_arg, &info);
        tci_mutex_lock(&notify_lock);
        tci_call_gate_end_locked(&notify_gate);
    }
    return NULL;
}

void tci_notify_after_mark(void)
{
    tc_memory_pressure info;
    if (!tci_control_pressure_info(&info))
        return;
    tci_mutex_lock(&notify_lock); /* released below */
    if (pressure_fn) {
        notify_info = info;
        notify_seq++;
        pthread_cond_signal(&notify_cond);
    }
    tci_mutex_unlock(&notify_lock);
}

int tc_on_memory_pressure(void (*fn)(void *arg, const tc_memory_pressure *info), void *arg)
{
    tci_mutex_lock(&notify_lock); /* released by tci_call_gate_wait_unlock */
    if (fn && !notify_running) {
        int rc = tci_os_thread_start(notify_main, NULL);
        if (rc != 0) {
            tci_mutex_unlock(&notify_lock);
            fprintf(stderr, "tricolor: tc_on_memory_pressure: cannot start the "
                            "notifier thread\n");
            errno = rc;
            return -1;
        }
        notify_running = 1;
    }
    /* Replaced under notify_lock, so the call waited for is one that may
     * have read the old callback. */
    pressure_fn = fn;
    pressure_arg = arg;
    tci_call_gate_wait_unlock(&notify_gate, &notify_lock);
    return 0;
}

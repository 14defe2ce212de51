/* world.c: the cooperative stop-the-world.
 *
 * No signals: a collection asks every attached thread to stop and waits
 * until each is either parked at a safepoint (allocation slow path,
 * tc_safepoint) or inside a blocking region, where it counts as stopped. A
 * thread stuck in read() never delays a collection.
 *
 * The protocol, under park_lock: the stopper sets tci_world_stw_pending
 * and waits on stopped_cond until no other thread is RUNNING. A RUNNING
 * thread that polls the flag publishes its registers and stack pointer,
 * becomes PARKED and waits on park_cond. A thread leaving a blocking
 * region becomes RUNNING only while no stop is pending, checked under
 * park_lock, so it never runs while its stack is being scanned. The
 * stopper holds world_lock for the whole stop; attach and detach take
 * world_lock too (runtime/thread.c, as blocked threads), so the thread
 * list never changes during a stop.
 *
 * Locks: world_lock (TCI_RANK_WORLD), then park_lock (TCI_RANK_PARK).
 */
#include "world.h"

#include <sched.h>

#include "os.h"
#include "tricolor.h"

tci_atomic tci_world_stw_pending;

static tci_mutex world_lock = TCI_MUTEX_INIT(TCI_RANK_WORLD, "world_lock");
static tci_mutex park_lock = TCI_MUTEX_INIT(TCI_RANK_PARK, "park_lock");
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t stopped_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t resumed_cond = PTHREAD_COND_INITIALIZER;
/* Threads held by the current stop: parked, or waiting to leave a blocking
 * region. Protected by park_lock. tci_world_start returns only when it is
 * back at zero, and the stop it reports ends when the last of them ran
 * again, scheduler wake-up delay included: the pause a mutator feels, not
 * just the collector's part of it. */
static int held;
/* The latest time a thread held by the stop being restarted ran again
 * (its park_end_ns): the stop's end is stamped by the threads it held, not
 * by the stopper. The stopper read the clock when it next ran, and in a
 * process's first cycles, with the collector's new thread on the mutator's
 * CPU, that was after the mutator had run out its time slice: 0.6-3.5 ms
 * stops here whose held thread ran again 22-55 us after the restart.
 * Protected by park_lock; reset by tci_world_start. */
static uint64_t resumed_ns;
/* When the last restart had released its held threads (the stopper's
 * reading after its broadcast): resumed_ns minus this is the restart's
 * wake-up and scheduling delay, which the stop counts (TC_HIST_RESTART
 * shows it apart). Written and read by the stopper only, under world_lock:
 * tci_world_released_ns. */
static uint64_t released_ns;
/* At most spin_max held threads spin or yield at once, one fewer than the
 * CPUs: with more threads than CPUs (64 on 2 here) the spinners took the
 * CPUs that the stopper and the threads still on their way to a
 * safepoint needed, and the stop waited for them. The rest sleep at
 * once. spinners and spin_max_seen: park_lock; spin_max: set at init. */
static int spin_max, spinners, spin_max_seen;

void tci_world_init(int ncpu)
{
    spin_max = ncpu - 1;
}

/* Waits under park_lock until the stop ends, counted in `held` so the
 * stopper's tci_world_start waits for this thread to be awake again. The
 * end time is taken before `held` drops, and the stop's recorded end is
 * the latest of its held threads' (resumed_ns), so it is never earlier
 * (the same monotonic clock on both sides). */
/* Most stops are shorter than a futex wake-up on a busy machine (which
 * was 1-4 ms of stops whose work took 70 us, here): a held thread first
 * spins outside the lock, for PARK_SPIN_NS, then yields the CPU in a loop
 * until PARK_YIELD_NS (the collector, or anyone, gets the CPU when it
 * needs it, but the thread is still runnable when the stop ends), and only
 * then sleeps. */
#define PARK_SPIN_NS 20000
#define PARK_YIELD_NS 300000

static void wait_for_start_locked(tci_thread *self)
{
    tci_assert_held(&park_lock);
    if (!tci_atomic_load_acquire(&tci_world_stw_pending))
        return;
    held++;
    int spin = spinners < spin_max;
    if (spin && ++spinners > spin_max_seen)
        spin_max_seen = spinners;
    tci_mutex_unlock(&park_lock);
    uint64_t start = tci_os_now_ns(), now = start;
    while (spin && tci_atomic_load_acquire(&tci_world_stw_pending) && now - start < PARK_YIELD_NS) {
        if (now - start < PARK_SPIN_NS)
            tci_cpu_relax();
        else
            sched_yield();
        now = tci_os_now_ns();
    }
    tci_mutex_lock(&park_lock);
    if (spin)
        spinners--;
    while (tci_atomic_load_acquire(&tci_world_stw_pending))
        tci_cond_wait(&park_cond, &park_lock);
    self->park_end_ns = tci_os_now_ns();
    self->park_log[self->parks % TCI_PARK_LOG][0] = self->park_begin_ns;
    self->park_log[self->parks % TCI_PARK_LOG][1] = self->park_end_ns;
    self->parks++;
    if (self->park_end_ns > resumed_ns)
        resumed_ns = self->park_end_ns;
    if (--held == 0)
        pthread_cond_signal(&resumed_cond);
}

/* Every callee-saved register holds, at a call to this function, either a
 * live value of a caller or garbage. __builtin_unwind_init makes the
 * prologue save all of them in this frame; while we wait here the frame
 * stays alive above stack_lo, so a conservative scan of [stack_lo, stack_hi)
 * sees them. */
__attribute__((noinline)) void tci_world_park(tci_thread *self)
{
    __builtin_unwind_init();
    uintptr_t lo = tci_thread_deeper_frame();
    tci_thread_check_stack(self, lo, "a safepoint");
    self->stack_lo = lo;
    self->spill_words = 0; /* the frame lives on while parked */
    tci_mutex_lock(&park_lock); /* released below */
    self->state = TCI_PARKED;
    self->park_begin_ns = tci_os_now_ns();
    pthread_cond_broadcast(&stopped_cond);
    wait_for_start_locked(self);
    self->state = TCI_RUNNING;
    tci_mutex_unlock(&park_lock);
}

void tci_world_enter_blocking(tci_thread *self)
{
    tci_mutex_lock(&park_lock); /* released below */
    self->state = TCI_BLOCKING;
    pthread_cond_broadcast(&stopped_cond);
    tci_mutex_unlock(&park_lock);
}

void tci_world_leave_blocking(tci_thread *self)
{
    tci_mutex_lock(&park_lock); /* released below */
    if (tci_atomic_load_acquire(&tci_world_stw_pending))
        self->park_begin_ns = tci_os_now_ns();
    wait_for_start_locked(self);
    self->state = TCI_RUNNING;
    tci_mutex_unlock(&park_lock);
}

void tci_world_lock(tci_thread *self)
{
    if (tci_mutex_trylock(&world_lock) == 0)
        return;
    if (!self) {
        /* Not attached (or blocked already): no stop waits for us. */
        tci_mutex_lock(&world_lock); /* partner: tci_world_unlock */
        return;
    }
    tci_thread_save_frame(self);
    tci_world_enter_blocking(self);
    tci_mutex_lock(&world_lock); /* partner: tci_world_unlock */
    tci_world_leave_blocking(self);
}

void tci_world_unlock(void)
{
    tci_mutex_unlock(&world_lock);
}

void tci_world_check_held(const char *fn)
{
    if (!tci_lock_is_held(&world_lock))
        tci_lock_fail_not_held(&world_lock, fn);
}

static int all_stopped_locked(tci_thread *self)
{
    tci_assert_held(&park_lock);
    for (tci_thread *t = tci_thread_first(); t; t = t->next)
        if (t != self && t->state == TCI_RUNNING)
            return 0;
    return 1;
}

static int none_held_locked(tci_thread *self)
{
    tci_assert_held(&park_lock);
    (void)self;
    return held == 0;
}

/* The stopper's side of the same trade as wait_for_start_locked: a stop
 * waits twice, for the threads to park and for them to run again, and each
 * wait is usually shorter than the wake-up of a sleeping thread. On a
 * virtual machine a sleeping thread's idle CPU is halted and given back to
 * the host, and waking it took 1-4 ms here, against stops whose own work
 * is tens of microseconds. So the stopper too spins (for spin_ns), then
 * yields, and sleeps on `cv` only once the wait has lasted PARK_YIELD_NS.
 * Called and returns with park_lock held; `done` is checked under it. */
static void stopper_wait_locked(int (*done)(tci_thread *), tci_thread *self,
                                pthread_cond_t *cv, uint64_t spin_ns)
{
    tci_assert_held(&park_lock);
    uint64_t start = tci_os_now_ns(), now = start;
    while (!done(self) && now - start < PARK_YIELD_NS) {
        tci_mutex_unlock(&park_lock);
        if (now - start < spin_ns)
            tci_cpu_relax();
        else
            sched_yield();
        tci_mutex_lock(&park_lock);
        now = tci_os_now_ns();
    }
    while (!done(self))
        tci_cond_wait(cv, &park_lock);
}

uint64_t tci_world_stop(tci_thread *self)
{
    uint64_t t0 = tci_os_now_ns();
    tci_mutex_lock(&park_lock); /* released below */
    tci_atomic_store_release(&tci_world_stw_pending, 1);
    stopper_wait_locked(all_stopped_locked, self, &stopped_cond, PARK_SPIN_NS);
    tci_mutex_unlock(&park_lock);
    (void)self;
    return tci_os_now_ns() - t0;
}

/* The restart's wait yields from the start, without spinning: the stop's
 * end no longer depends on when the stopper sees it, and a held thread on
 * the stopper's own CPU (the first cycles' case) runs only once the
 * stopper lets it have the CPU, 20 us later after a spin. */
uint64_t tci_world_start(void)
{
    tci_mutex_lock(&park_lock); /* released below */
    int held_at_restart = held;
    resumed_ns = 0;
    tci_atomic_store_release(&tci_world_stw_pending, 0);
    /* With no thread held, the world runs from here. */
    uint64_t end = tci_os_now_ns();
    pthread_cond_broadcast(&park_cond);
    released_ns = held_at_restart ? tci_os_now_ns() : end;
    stopper_wait_locked(none_held_locked, NULL, &resumed_cond, 0);
    if (held_at_restart)
        end = resumed_ns;
    tci_mutex_unlock(&park_lock);
    return end;
}

uint64_t tci_world_released_ns(void)
{
    return released_ns;
}

int tci_world_spinners_seen(void)
{
    tci_mutex_lock(&park_lock); /* released below */
    int n = spin_max_seen;
    tci_mutex_unlock(&park_lock);
    return n;
}

int tci_world_spin_max(void)
{
    return spin_max;
}

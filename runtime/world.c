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
 * The safepoint watchdog: a stop that has waited watch_timeout_ns for
 * threads still RUNNING (neither polling nor in a blocking region: an
 * embedder's bug, a pthread_join outside a region) names them on stderr,
 * then waits on, reporting again at a doubled interval, or aborts
 * (stopabort). The report is written with park_lock dropped (the stopper
 * keeps world_lock, so the thread records it read stay allocated).
 *
 * Locks: world_lock (TCI_RANK_WORLD), then park_lock (TCI_RANK_PARK).
 */
#include "world.h"

#include <sched.h>
#include <stdlib.h>

#include "fork.h"

#include "os.h"
#include "tricolor.h"

tci_atomic tci_world_stw_pending;
tci_atomic tci_world_nrunning;

static tci_mutex world_lock = TCI_MUTEX_INIT(TCI_RANK_WORLD, "world_lock");
TCI_FORK_LOCK(world_lock)
static tci_mutex park_lock = TCI_MUTEX_INIT(TCI_RANK_PARK, "park_lock");
TCI_FORK_LOCK(park_lock)
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(park_cond, park_cond)
static pthread_cond_t stopped_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(stopped_cond, stopped_cond)
static pthread_cond_t resumed_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(resumed_cond, resumed_cond)
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
/* Bumped at every change a stopper waits for: a thread parks, enters a
 * blocking region, or runs again after a restart. Written under park_lock,
 * read without it by a spinning stopper (stopper_wait_locked). */
static tci_atomic park_events;

void tci_world_init(int ncpu)
{
    spin_max = ncpu - 1;
}

/* The watchdog's settings: set at tc_init, before any stop, then
 * read-only. stop_timeouts: atomic, added to by stoppers. */
static uint64_t watch_timeout_ns;
static int watch_abort;
static tci_world_where_fn watch_where;
static tci_atomic stop_timeouts;
/* The threads a report names, copied under park_lock and written without
 * it (stderr may be a pipe nobody reads). Protected by world_lock: only
 * the stopper reports. More than WATCH_MAX are counted, not named. */
#define WATCH_MAX 64
static tci_thread *watch_stuck[WATCH_MAX];

void tci_world_watch_init(uint64_t timeout_ns, int abort_after, tci_world_where_fn where)
{
    watch_timeout_ns = timeout_ns;
    watch_abort = abort_after;
    watch_where = where;
}

uint64_t tci_world_stop_timeouts(void)
{
    return tci_atomic_load_relaxed(&stop_timeouts);
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
    if (--held == 0) {
        tci_atomic_add_full(&park_events, 1);
        pthread_cond_signal(&resumed_cond);
    }
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
    tci_atomic_add_full(&park_events, 1);
    pthread_cond_broadcast(&stopped_cond);
    wait_for_start_locked(self);
    self->state = TCI_RUNNING;
    tci_mutex_unlock(&park_lock);
}

void tci_world_enter_blocking(tci_thread *self)
{
    tci_mutex_lock(&park_lock); /* released below */
    self->state = TCI_BLOCKING;
    tci_atomic_sub_full(&tci_world_nrunning, 1);
    tci_atomic_add_full(&park_events, 1);
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
    tci_atomic_add_full(&tci_world_nrunning, 1);
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

/* One thread's lines of a report: its ids, how long it has run since its
 * last poll, where that was, and (the hook's) its guest frames. */
static void watch_thread(FILE *f, const tci_thread *t, uint64_t now_coarse,
                         uint64_t waited_ns)
{
    char name[64];
    tci_os_thread_name(t->os_tid, name, sizeof name);
    uintptr_t pc = tci_atomic_load_relaxed(&t->poll_pc);
    uint64_t at = tci_atomic_load_relaxed(&t->poll_ns);
    unsigned long long ms = now_coarse > at ? (now_coarse - at) / 1000000 : 0;
    unsigned long long least = waited_ns / 1000000;
    fprintf(f, "tricolor:   thread %d \"%s\": running for ", t->os_tid, name);
    /* Polls since the last timed one were tc_safepoint's (untimed): the
     * last poll lies between that one and the stop's request (a poll after
     * it would have parked). */
    if (tci_atomic_load_relaxed(&t->polls) != tci_atomic_load_relaxed(&t->polls_at_ns) &&
        ms > least)
        fprintf(f, "%llu to %llu", least, ms);
    else
        fprintf(f, "%llu", ms > least ? ms : least);
    fprintf(f, " ms since its last poll, at ");
    if (watch_where)
        /* Acquire: partner the release in tci_profile_sample. */
        watch_where(f, pc, tci_atomic_load_acquire(&t->poll_sample));
    else
        fprintf(f, "%#lx\n", (unsigned long)pc);
}

/* The report, after waited_ns of the stop, the n-th of the stop (0 first):
 * the running threads are copied under park_lock, which is dropped while
 * the report is written (in one write, as far as stdio can) and taken
 * again. Returns the next interval. */
static uint64_t watch_report_locked(tci_thread *self, uint64_t waited_ns, int n,
                                    uint64_t interval_ns)
{
    tci_assert_held(&park_lock);
    int nstuck = 0, nthreads = 0;
    for (tci_thread *t = tci_thread_first(); t; t = t->next, nthreads++)
        if (t != self && t->state == TCI_RUNNING && nstuck++ < WATCH_MAX)
            watch_stuck[nstuck - 1] = t;
    tci_mutex_unlock(&park_lock); /* taken again below */
    if (n == 0)
        tci_atomic_add_full(&stop_timeouts, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FILE *out = f ? f : stderr;
    fprintf(out, "tricolor: a stop has waited %llu ms for %d of the %d attached threads "
                 "(TRICOLOR_DEBUG=stoptimeout=%llu): each must poll (allocate, or call "
                 "tc_safepoint) or wait inside tc_blocking_begin/tc_blocking_end "
                 "(docs/api.md, \"When a stop waits\")\n",
            (unsigned long long)(waited_ns / 1000000), nstuck, nthreads,
            (unsigned long long)(watch_timeout_ns / 1000000));
    uint64_t now_coarse = tci_os_coarse_now_ns();
    for (int i = 0; i < nstuck && i < WATCH_MAX; i++)
        watch_thread(out, watch_stuck[i], now_coarse, waited_ns);
    if (nstuck > WATCH_MAX)
        fprintf(out, "tricolor:   and %d more threads\n", nstuck - WATCH_MAX);
    if (watch_abort)
        fprintf(out, "tricolor: aborting (TRICOLOR_DEBUG=stopabort=1)\n");
    else
        fprintf(out, "tricolor: still waiting; the next report in %llu ms\n",
                (unsigned long long)(2 * interval_ns / 1000000));
    if (f) {
        fclose(f);
        fwrite(buf, 1, len, stderr);
        free(buf);
    }
    fflush(stderr);
    if (watch_abort)
        abort();
    tci_mutex_lock(&park_lock); /* partner: the unlock above; the caller's */
    return 2 * interval_ns;
}

/* The stop's last wait, on stopped_cond: timed when the watchdog is on,
 * reporting each time its interval runs out (from `start`, the stop's
 * request), the interval doubling. Called and returns with park_lock. */
static void stop_wait_locked(tci_thread *self, uint64_t start)
{
    tci_assert_held(&park_lock);
    uint64_t interval = watch_timeout_ns, due = start + interval;
    int reports = 0;
    while (!all_stopped_locked(self)) {
        if (!interval) {
            tci_cond_wait(&stopped_cond, &park_lock);
            continue;
        }
        uint64_t now = tci_os_now_ns();
        if (now < due) {
            struct timespec ts;
            tci_os_deadline_after(&ts, due - now);
            (void)tci_cond_timedwait(&stopped_cond, &park_lock, &ts);
            continue;
        }
        interval = watch_report_locked(self, now - start, reports++, interval);
        due = tci_os_now_ns() + interval;
    }
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
 * yields, and sleeps on `cv` only once the wait has lasted PARK_YIELD_NS;
 * the stop's wait for the threads to park (`watched`) is the watchdog's
 * then. Called and returns with park_lock held; `done` is checked under it.
 * The spin watches park_events, not the lock: a stopper that took
 * park_lock at every turn made a parking thread find it held and sleep in
 * the futex, and each side then paid a wake-up (14 us for the waker here,
 * on every stop of a one-thread program). It looks under the lock when the
 * count moves, and every RELOOK_NS whatever it says. */
#define RELOOK_NS 5000
static void stopper_wait_locked(int (*done)(tci_thread *), tci_thread *self,
                                pthread_cond_t *cv, uint64_t spin_ns, int watched)
{
    tci_assert_held(&park_lock);
    uint64_t start = tci_os_now_ns(), now = start;
    while (!done(self) && now - start < PARK_YIELD_NS) {
        uintptr_t seen = tci_atomic_load_acquire(&park_events);
        uint64_t looked = now;
        tci_mutex_unlock(&park_lock);
        do {
            if (now - start < spin_ns)
                tci_cpu_relax();
            else
                sched_yield();
            now = tci_os_now_ns();
        } while (tci_atomic_load_acquire(&park_events) == seen && now - looked < RELOOK_NS &&
                 now - start < PARK_YIELD_NS);
        tci_mutex_lock(&park_lock);
        now = tci_os_now_ns();
    }
    if (watched) {
        stop_wait_locked(self, start);
        return;
    }
    while (!done(self))
        tci_cond_wait(cv, &park_lock);
}

uint64_t tci_world_stop(tci_thread *self)
{
    uint64_t t0 = tci_os_now_ns();
    tci_mutex_lock(&park_lock); /* released below */
    tci_atomic_store_release(&tci_world_stw_pending, 1);
    stopper_wait_locked(all_stopped_locked, self, &stopped_cond, PARK_SPIN_NS, 1);
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
    stopper_wait_locked(none_held_locked, NULL, &resumed_cond, 0, 0);
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

void tci_world_fork_child_locked(void)
{
    tci_assert_held(&park_lock);
    tci_world_assert_held();
    held = 0;
    spinners = 0;
    tci_atomic_store_relaxed(&tci_world_stw_pending, 0);
    /* The forking thread alone is left, running unless it forked from a
     * blocking region (thread.c's records of the others go next). */
    tci_thread *self = tci_thread_self();
    tci_atomic_store_relaxed(&tci_world_nrunning, self && self->state != TCI_BLOCKING);
}

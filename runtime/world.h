/* world.h: stopping the world (world.c). */
#ifndef TCI_WORLD_H
#define TCI_WORLD_H

#include <stdint.h>
#include <stdio.h>

#include "atomic.h"
#include "lock.h"
#include "thread.h"

/* tci_thread_init's part: the held threads that may spin at once (one
 * fewer than the CPUs). */
void tci_world_init(int ncpu);

/* The safepoint watchdog (TRICOLOR_DEBUG=stoptimeout, stopabort): once a
 * stop has waited timeout_ns for threads still running, it writes one
 * report on stderr naming each (os id, name, time since its last poll,
 * where that was), then keeps waiting, reporting again after twice the
 * interval before; with abort_after set it aborts after the first. 0: off.
 * where (NULL: the address in hex) writes on f where pc is and what the
 * record of a thread's last heap-profile sample (poll_sample, 0 for none)
 * holds: the collector's hook into observe/, called by the stopper with
 * world_lock held and no other lock. Set at tc_init, before any stop. */
typedef void (*tci_world_where_fn)(FILE *f, uintptr_t pc, uintptr_t sample);
void tci_world_watch_init(uint64_t timeout_ns, int abort_after, tci_world_where_fn where);
/* Stops that waited past the timeout, since tc_init (tc_memstats). */
uint64_t tci_world_stop_timeouts(void);

/* Nonzero while a stop is requested: polled on allocation slow paths. */
extern tci_atomic tci_world_stw_pending;
/* Attached threads not in a blocking region (running, or parked by a
 * stop): the CPUs the program can use now. Changed by each thread for
 * itself (attach, a blocking region's start and end) with an atomic add;
 * read without a lock, as a hint (gc/markers.c: a helper marker runs only
 * where a CPU is left over). */
extern tci_atomic tci_world_nrunning;

/* Parks the caller until the world restarts (a safepoint); its registers
 * and stack pointer published for the stop's scan. */
void tci_world_park(tci_thread *self);
/* The locked half of a blocking region's start and its end (thread.c:
 * the caller saved its frame first): the thread counts as stopped in
 * between; leaving waits out a stop in progress. */
void tci_world_enter_blocking(tci_thread *self);
void tci_world_leave_blocking(tci_thread *self);

/* Takes world_lock without deadlocking with a stop in progress (the caller
 * counts as blocked while it waits). self may be NULL for a thread that is
 * not attached. */
void tci_world_lock(tci_thread *self);
void tci_world_unlock(void);
/* tci_assert_held for world_lock, which is world.c's: in a function that
 * needs it (TC_DEBUG builds abort, naming the function, when the caller
 * does not hold it). */
void tci_world_check_held(const char *fn);
#define tci_world_assert_held()                                                     \
    do {                                                                            \
        if (TCI_LOCK_CHECKS)                                                        \
            tci_world_check_held(__func__);                                         \
    } while (0)

/* With world_lock held: stops every other attached thread; returns the time
 * to stop in ns. The caller's own registers and stack are published too. */
uint64_t tci_world_stop(tci_thread *self);
/* Restarts the world and returns, once every thread the stop held is
 * running again, the end of the pause (CLOCK_MONOTONIC as tci_os_now_ns):
 * when the last of those threads ran again, by its own reading, or the
 * restart itself if the stop held none. */
uint64_t tci_world_start(void);
/* With world_lock held, after tci_world_start: when that restart had
 * released every held thread, by the stopper's clock (its end if it held
 * none). The stop's end minus this, when positive, is the time the held
 * threads took to run again: the OS's wake-up and, with more runnable
 * threads than CPUs, their wait for a CPU. */
uint64_t tci_world_released_ns(void);

/* Tests: the most held threads that spun at once since tc_init, and the
 * bound on them (one fewer than the CPUs). */
int tci_world_spinners_seen(void);
int tci_world_spin_max(void);

/* In the child of a fork (runtime/fork.c), world_lock and park_lock held:
 * no stop is in progress, no thread held by one. */
void tci_world_fork_child_locked(void);

#endif

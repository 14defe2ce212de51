/* gate.c: the test and benchmark gates.
 *
 * Each gate holds the collector at one place of its cycle while a test
 * says so: the mark gate after the first stop, marking on and nothing
 * drained, so a test can set up races against a mark in a known state;
 * the stop gate inside the next stop (see tci_gate_hold_stop); the sweep
 * gate after the last stop, the world running, before the background
 * sweep (see tci_gate_hold_sweep); the filed gate right after the
 * ephemerons' filing pass, before the drain that follows it (see
 * tci_gate_hold_filed); the arm gate after the plain root ranges are
 * write-protected, before the first stop (see tci_gate_hold_armed). The
 * collector passes each with tci_gate_pass_*; a gate nobody holds costs a
 * lock and a load.
 *
 * Lock: gate_lock (TCI_RANK_GATE), the innermost but the fault hook's: the
 * stop gate waits on it under world_lock.
 */
#include "fork.h"
#include "gc.h"

typedef struct gate {
    int held, waiting; /* gate_lock */
} gate;
static tci_mutex gate_lock = TCI_MUTEX_INIT(TCI_RANK_GATE, "gate_lock");
TCI_FORK_LOCK(gate_lock)
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(gate_cond, gate_cond)
static gate mark_gate, stop_gate, sweep_gate, filed_gate, arm_gate;
/* Set while the mark gate is held: nothing may scan then, assists
 * included (see tci_gate_hold). Written under gate_lock, read anywhere. */
static tci_atomic gate_closed;

static void gate_set(gate *g, int on)
{
    tci_mutex_lock(&gate_lock); /* released below */
    g->held = on;
    if (g == &mark_gate)
        tci_atomic_store_relaxed(&gate_closed, (uintptr_t)on);
    pthread_cond_broadcast(&gate_cond);
    tci_mutex_unlock(&gate_lock);
}

/* Blocks until the collector sits at g. */
static void gate_wait_waiting(gate *g)
{
    tci_mutex_lock(&gate_lock); /* released below */
    while (!g->waiting)
        tci_cond_wait(&gate_cond, &gate_lock);
    tci_mutex_unlock(&gate_lock);
}

/* The collector at g: waits there while it is held. */
static void gate_pass_at(gate *g)
{
    tci_mutex_lock(&gate_lock); /* released below */
    if (g->held) {
        g->waiting = 1;
        pthread_cond_broadcast(&gate_cond);
        while (g->held)
            tci_cond_wait(&gate_cond, &gate_lock);
        g->waiting = 0;
    }
    tci_mutex_unlock(&gate_lock);
}

void tci_gate_hold(int on)
{
    gate_set(&mark_gate, on);
}

uint64_t tci_gate_start_cycle(void)
{
    return tci_cycle_request(1);
}

void tci_gate_wait_cycle(uint64_t want)
{
    tci_cycle_wait(want);
}

uint64_t tci_gate_cycles_requested(void)
{
    return tci_cycle_requested();
}

void tci_gate_wait_held(void)
{
    tc_blocking_begin();
    gate_wait_waiting(&mark_gate);
    tc_blocking_end();
}

void tci_gate_pass_mark(void)
{
    gate_pass_at(&mark_gate);
}

void tci_gate_hold_stop(int on)
{
    gate_set(&stop_gate, on);
}

void tci_gate_wait_stopped(void)
{
    gate_wait_waiting(&stop_gate);
}

void tci_gate_pass_stop(void)
{
    gate_pass_at(&stop_gate);
}

void tci_gate_hold_sweep(int on)
{
    gate_set(&sweep_gate, on);
}

void tci_gate_wait_sweep_held(void)
{
    tc_blocking_begin();
    gate_wait_waiting(&sweep_gate);
    tc_blocking_end();
}

void tci_gate_hold_filed(int on)
{
    gate_set(&filed_gate, on);
}

void tci_gate_wait_filed_held(void)
{
    tc_blocking_begin();
    gate_wait_waiting(&filed_gate);
    tc_blocking_end();
}

void tci_gate_hold_armed(int on)
{
    gate_set(&arm_gate, on);
}

void tci_gate_wait_armed(void)
{
    tc_blocking_begin(); /* the collector runs on, to its first stop */
    gate_wait_waiting(&arm_gate);
    tc_blocking_end();
}

void tci_gate_pass_sweep(void)
{
    gate_pass_at(&sweep_gate);
}

void tci_gate_pass_filed(void)
{
    gate_pass_at(&filed_gate);
}

void tci_gate_pass_armed(void)
{
    gate_pass_at(&arm_gate);
}

int tci_gate_mark_closed(void)
{
    return (int)tci_atomic_load_relaxed(&gate_closed);
}

void tci_gate_fork_child_locked(void)
{
    tci_assert_held(&gate_lock);
    gate *all[] = { &mark_gate, &stop_gate, &sweep_gate, &filed_gate, &arm_gate };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        all[i]->held = all[i]->waiting = 0;
    tci_atomic_store_relaxed(&gate_closed, 0);
}

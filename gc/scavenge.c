/* scavenge.c: when, and how much, free heap memory goes back to the OS.
 *
 * The page work is the heap's (tci_heap_scavenge, gc/heap_scavenge.c);
 * this is the policy and the thread that applies it, asked by the
 * collector after each cycle's sweep, when the free pages of the cycle are
 * back in the page heap:
 *
 *  - Normally the heap keeps what the next cycle will use, and 10% more:
 *    the goal times the fragmentation the last mark measured (in-use span
 *    bytes per allocated byte), or the most spans in use in any of the
 *    last 4 cycles (TCI_PACER_INUSE_MARKS; each cycle's high-water mark)
 *    if more, x 1.1; and of what is over that, only the least it was over
 *    in each of the last 4 epochs (TCI_SCAV_PATIENCE) goes back, memory
 *    none of their cycles used. An epoch is a cycle, and at least a third
 *    of TRICOLOR_DEBUG=scavhold (50 ms): the memory was unused for that
 *    long. The second term keeps a program that fills 20 MB,
 *    drops it, collects and fills it again from returning and faulting in
 *    the same 20 MB every round (the goal, from the live heap, says 4 MB);
 *    the second term and the hold keep one whose cycles peak a little
 *    higher or lower each time from returning the difference (4 KiB
 *    objects in a steady state: with the last mark's figure alone a third
 *    of the pages came back as faults; with a hold of 4 cycles and no
 *    time, cycles 0.3 ms apart whose need peaks once in 5-10 cycles still
 *    faulted 20,000-26,000 pages back in 2 million objects, a third of the
 *    program's time, against 5,000 with the hold). After a spike the
 *    return waits for both, 8 cycles and 50 ms at least; under the memory
 *    limit's cap it is at once. Keeping less would
 *    return pages the program touches again before the next cycle (a page
 *    fault each, slow on a busy VM); keeping everything is bdwgc's way,
 *    where a spike's memory stays with the process for good.
 *  - Under a memory limit, also at most 95% of the limit less what is not
 *    heap (metadata, caches, mark buffers).
 *  - And synchronously: an allocation that would take the heap past the
 *    limit less the non-heap memory returns free pages itself first
 *    (tci_heap_set_retain_limit).
 *
 * The page work runs on the scavenger's own thread (scav_main): returning
 * a spike's free pages took over a second here (thousands of madvise
 * calls, each interrupting the other CPU on this VM), and on the
 * collector's thread that second held the next cycle back while the
 * program allocated on: the heap grew by what it allocated meanwhile. On a
 * thread of its own (Go's bgscavenge) the cycles go on. Go paces its
 * background scavenger to about 1% of a CPU; ours returns what it should
 * at once, with the heap lock dropped around each system call, so
 * allocation goes on meanwhile. tc_release_memory returns everything free,
 * after a full collection, on the calling thread.
 *
 * Lock: scav_lock (TCI_RANK_SCAV) protects the thread's requests.
 */
#include <stdio.h>

#include "fork.h"
#include "gc.h"
#include "os.h"
#include "pacer.h"

uint64_t tci_scavenge_target(uint64_t goal_bytes, double frag, uint64_t inuse_bytes,
                             int64_t memlimit, uint64_t nonheap_bytes, int *capped)
{
    uint64_t target = UINT64_MAX;
    *capped = 0;
    if (goal_bytes != TCI_PACER_NONE) {
        double need = (double)goal_bytes * (frag < 1.0 ? 1.0 : frag);
        if ((double)inuse_bytes > need)
            need = (double)inuse_bytes;
        target = (uint64_t)(need * 1.1);
    }
    if (memlimit >= 0) {
        uint64_t cap = (uint64_t)memlimit / 100 * 95;
        cap = cap > nonheap_bytes ? cap - nonheap_bytes : 0;
        if (cap < target) {
            target = cap;
            *capped = 1;
        }
    }
    return target;
}

uint64_t tci_scavenge_retain_limit(int64_t memlimit, uint64_t nonheap_bytes)
{
    if (memlimit < 0)
        return UINT64_MAX;
    return (uint64_t)memlimit > nonheap_bytes ? (uint64_t)memlimit - nonheap_bytes : 0;
}

/* The scavenger's figures now: sets the heap's bound for the synchronous
 * scavenge, from the limit, and returns the background target; *retained
 * gets what the heap retains, *capped whether the memory limit set the
 * target. No lock held. */
static uint64_t scavenge_plan(uint64_t *retained, int *capped)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    uint64_t retain;
    uint64_t target =
        tci_control_scavenge_target(tci_control_nonheap_bytes(&hs), &retain, capped);
    tci_heap_set_retain_limit(retain);
    *retained = hs.sys_bytes - hs.fresh_bytes - hs.released_bytes;
    return target;
}

void tci_scavenge_replan(void)
{
    uint64_t retained;
    int capped;
    (void)scavenge_plan(&retained, &capped);
}

static tci_mutex scav_lock = TCI_MUTEX_INIT(TCI_RANK_SCAV, "scav_lock");
TCI_FORK_LOCK(scav_lock)
static pthread_cond_t scav_cond = PTHREAD_COND_INITIALIZER;      /* the thread waits */
TCI_FORK_COND(scav_cond, scav_cond)
static pthread_cond_t scav_idle_cond = PTHREAD_COND_INITIALIZER; /* tci_scavenge_wait_idle waits */
TCI_FORK_COND(scav_idle_cond, scav_idle_cond)
static uint64_t scav_target, scav_seq, scav_seen; /* scav_lock */
static int scav_running, scav_busy;              /* scav_lock */
static tci_scav_history scav_history; /* scav_lock */

/* TRICOLOR_DEBUG=scavtrace=1: Go's line per scavenge: what it returned,
 * what is returned in all, and the in-use share of what the heap retains
 * (forced: tc_release_memory). scavtrace=2 adds our own line. */
static void scav_trace(uint64_t got, int forced)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    tci_trace_scav(got, hs.released_bytes, hs.inuse_bytes,
                   hs.sys_bytes - hs.fresh_bytes - hs.released_bytes, forced);
}

static void *scav_main(void *arg)
{
    (void)arg;
    tci_thread_set_library();
    tci_mutex_lock(&scav_lock); /* held except while scavenging */
    for (;;) {
        while (scav_seen == scav_seq)
            tci_cond_wait(&scav_cond, &scav_lock);
        scav_seen = scav_seq;
        scav_busy = 1;
        uint64_t target = scav_target;
        tci_mutex_unlock(&scav_lock);
        uint64_t t0 = tci_os_now_ns();
        uint64_t got = tci_heap_scavenge(target);
        if (tci_env_cfg.scavtrace)
            scav_trace(got, 0);
        if (tci_env_cfg.scavtrace > 1) {
            tci_heap_stats hs;
            tci_heap_read_stats(&hs);
            fprintf(stderr, "scav: returned %.1f MB in %.3f ms; heap retains %.1f MB "
                            "(target %.1f MB), %.1f MB returned in all\n",
                    got / 1048576.0, (tci_os_now_ns() - t0) / 1e6,
                    (hs.sys_bytes - hs.fresh_bytes - hs.released_bytes) / 1048576.0,
                    target / 1048576.0, hs.released_bytes / 1048576.0);
        }
        tci_mutex_lock(&scav_lock);
        scav_busy = 0;
        pthread_cond_broadcast(&scav_idle_cond);
    }
    return NULL;
}

void tci_scavenge_wait_idle(void)
{
    tc_blocking_begin();
    tci_mutex_lock(&scav_lock); /* released below */
    while (scav_busy || scav_seen != scav_seq)
        tci_cond_wait(&scav_idle_cond, &scav_lock);
    tci_mutex_unlock(&scav_lock);
    tc_blocking_end();
}

uint64_t tci_scavenge_least_over(tci_scav_history *h, uint64_t over, uint64_t now_ns,
                                 uint64_t hold_ns)
{
    uint64_t epoch_ns = hold_ns / (TCI_SCAV_PATIENCE - 1);
    unsigned cur = (h->n - 1) % TCI_SCAV_PATIENCE;
    if (h->n == 0 || now_ns - h->start_ns[cur] >= epoch_ns) {
        cur = h->n++ % TCI_SCAV_PATIENCE;
        h->over[cur] = over;
        h->start_ns[cur] = now_ns;
    } else if (over < h->over[cur]) {
        h->over[cur] = over;
    }
    if (h->n < TCI_SCAV_PATIENCE)
        return 0;
    uint64_t least = over;
    for (int i = 0; i < TCI_SCAV_PATIENCE; i++)
        if (h->over[i] < least)
            least = h->over[i];
    return least;
}

/* Tests' hold (tci_scavenge_set_hold_ms) plus 1; 0: TRICOLOR_DEBUG's. */
static tci_atomic hold_set;

void tci_scavenge_set_hold_ms(unsigned ms)
{
    tci_atomic_store_relaxed(&hold_set, (uintptr_t)ms + 1);
}

static uint64_t hold_ns(void)
{
    uintptr_t set = tci_atomic_load_relaxed(&hold_set);
    return (set ? set - 1 : tci_env_cfg.scavhold_ms) * (uint64_t)1000000;
}

void tci_scavenge_after_sweep(void)
{
    uint64_t retained;
    int capped;
    uint64_t target = scavenge_plan(&retained, &capped);
    if (target == UINT64_MAX)
        return;
    uint64_t over = retained > target ? retained - target : 0;
    tci_mutex_lock(&scav_lock); /* released below */
    /* Under the memory limit's cap at once: the limit is a promise. */
    uint64_t give = capped ? over
                           : tci_scavenge_least_over(&scav_history, over, tci_os_now_ns(),
                                                     hold_ns());
    if (give == 0) {
        tci_mutex_unlock(&scav_lock);
        return;
    }
    target = retained - give;
    if (!scav_running) {
        if (tci_os_thread_start(scav_main, NULL) != 0) {
            tci_mutex_unlock(&scav_lock);
            tci_heap_scavenge(target); /* no thread: here, then */
            return;
        }
        scav_running = 1;
    }
    scav_target = target;
    scav_seq++;
    pthread_cond_signal(&scav_cond);
    tci_mutex_unlock(&scav_lock);
}

void tci_scavenge_all(void)
{
    /* As a blocked thread: a stop must not wait for the system calls. */
    tc_blocking_begin();
    uint64_t got = tci_heap_scavenge(0);
    if (tci_env_cfg.scavtrace)
        scav_trace(got, 1); /* blocked too: stderr may be a full pipe */
    tc_blocking_end();
}

/* The child of a fork, every lock held: no scavenger thread; the next
 * cycle's request starts one. */
void tci_scavenge_fork_child_locked(void)
{
    tci_assert_held(&scav_lock);
    scav_running = scav_busy = 0;
    scav_seen = scav_seq;
}

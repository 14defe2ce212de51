/* scavenge.c: when, and how much, free heap memory goes back to the OS.
 *
 * The page work is the heap's (tci_heap_scavenge, gc/heap_scavenge.c);
 * this is the policy, run by the collector thread after each cycle's
 * sweep, when the free pages of the cycle are back in the page heap:
 *
 *  - Normally the heap keeps what the next cycle will use, and 10% more:
 *    the goal times the fragmentation the last mark measured (in-use span
 *    bytes per allocated byte), or the spans in use at the last mark's end
 *    if more, x 1.1. The second term keeps a program that fills 20 MB,
 *    drops it, collects and fills it again from returning and faulting in
 *    the same 20 MB every round (the goal, from the live heap, says 4 MB);
 *    after a spike it delays the return by one cycle. Keeping less would
 *    return pages the program touches again before the next cycle (a page
 *    fault each, slow on a busy VM); keeping everything is bdwgc's way,
 *    where a spike's memory stays with the process for good.
 *  - Under a memory limit, also at most 95% of the limit less what is not
 *    heap (metadata, caches, mark buffers).
 *  - And synchronously: an allocation that would take the heap past the
 *    limit less the non-heap memory returns free pages itself first
 *    (tci_heap_set_retain_limit).
 *
 * Go paces its background scavenger to about 1% of a CPU; ours returns
 * what it should at once, on the collector thread, with the heap lock
 * dropped around each system call, so allocation goes on meanwhile.
 * tc_release_memory returns everything free, after a full collection.
 */
#include "gc.h"
#include "pacer.h"

uint64_t tci_scavenge_target(uint64_t goal_bytes, double frag, uint64_t inuse_bytes,
                             int64_t memlimit, uint64_t nonheap_bytes)
{
    uint64_t target = UINT64_MAX;
    if (goal_bytes != TCI_PACER_NONE) {
        double need = (double)goal_bytes * (frag < 1.0 ? 1.0 : frag);
        if ((double)inuse_bytes > need)
            need = (double)inuse_bytes;
        target = (uint64_t)(need * 1.1);
    }
    if (memlimit >= 0) {
        uint64_t cap = (uint64_t)memlimit / 100 * 95;
        cap = cap > nonheap_bytes ? cap - nonheap_bytes : 0;
        if (cap < target)
            target = cap;
    }
    return target;
}

uint64_t tci_scavenge_retain_limit(int64_t memlimit, uint64_t nonheap_bytes)
{
    if (memlimit < 0)
        return UINT64_MAX;
    return (uint64_t)memlimit > nonheap_bytes ? (uint64_t)memlimit - nonheap_bytes : 0;
}

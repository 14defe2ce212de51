/* heap_scavenge.c: the page heap's part of scavenging: returning free
 * pages to the OS, and the arenas' bits that say which pages were.
 *
 * Free pages can be returned to the OS (tci_heap_scavenge, the scavenger's
 * page work; the policy is scavenge.c's): madvise(MADV_DONTNEED) through
 * tci_os_release, after which a page holds no memory and reads as zeros.
 * Each arena keeps a bit per page, set while the page is free and
 * returned, so the accounting is exact however runs split and merge: a
 * span taken from the free lists clears its pages' bits (they will be
 * touched again), and needs no zeroing when every page was returned. A free
 * span's `scavenged` flag (TCI_RUN_*) is only a hint, for the scavenger to
 * skip runs with nothing left to return, and for allocation to take
 * resident runs before returned ones (heap.c, pick_free_locked). A run
 * being returned is off the free lists, in state RELEASING, so no neighbour
 * merges with it and no allocation takes it while heap_lock is dropped for
 * the system call.
 */
#include <stdint.h>

#include "heap.h"
#include "heap_internal.h"
#include "lock.h"
#include "os.h"

/* Sets (tci_heap_scavenge_set_released_locked) or clears
 * (tci_heap_scavenge_clear_released_locked) the returned bits of pages
 * [base, base + npages) and returns how many changed; a word of 64 pages
 * is skipped whole where it can be. */
static size_t released_bits_locked(uintptr_t base, size_t npages, int set)
{
    tci_assert_held(&tci_heap_lock);
    size_t changed = 0;
    for (size_t i = 0; i < npages;) {
        uintptr_t p = base + (i << TCI_PAGE_SHIFT);
        tci_arena *a = tci_heap_arena_of(p);
        size_t pg = (p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1);
        uint64_t *w = &a->released[pg / 64];
        if (pg % 64 == 0 && npages - i >= 64 && *w == (set ? ~(uint64_t)0 : 0)) {
            i += 64;
            continue;
        }
        uint64_t bit = (uint64_t)1 << (pg % 64);
        if (((*w & bit) != 0) != set) {
            *w ^= bit;
            changed++;
        }
        i++;
    }
    return changed;
}

size_t tci_heap_scavenge_set_released_locked(uintptr_t base, size_t npages)
{
    tci_assert_held(&tci_heap_lock);
    return released_bits_locked(base, npages, 1);
}

size_t tci_heap_scavenge_clear_released_locked(uintptr_t base, size_t npages)
{
    tci_assert_held(&tci_heap_lock);
    return released_bits_locked(base, npages, 0);
}

/* The first page of [base, base + npages) whose returned bit is
 * `returned`, as an index from base; npages when there is none. A word's
 * rest is skipped whole where none of it matches. */
static size_t first_page_locked(uintptr_t base, size_t npages, int returned)
{
    tci_assert_held(&tci_heap_lock);
    for (size_t i = 0; i < npages;) {
        uintptr_t p = base + (i << TCI_PAGE_SHIFT);
        size_t pg = (p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1);
        uint64_t word = tci_heap_arena_of(p)->released[pg / 64];
        uint64_t rest = ~(uint64_t)0 << (pg % 64); /* this page and the word's next */
        if ((word & rest) == (returned ? 0 : rest)) {
            i += 64 - pg % 64; /* none of them */
            continue;
        }
        if (((word >> (pg % 64)) & 1) == (uint64_t)returned)
            return i;
        i++;
    }
    return npages;
}

/* The first page of [base, base + npages) not yet returned. */
static size_t first_unreturned_locked(uintptr_t base, size_t npages)
{
    return first_page_locked(base, npages, 0);
}

int tci_heap_scavenge_any_released_locked(uintptr_t base, size_t npages)
{
    return first_page_locked(base, npages, 1) < npages;
}


/* The scavenger returns at most this much per system call with the lock
 * dropped (4 MiB): an allocation that needs those pages waits for one
 * call, not for a gigabyte's (120-280 ms here). */
#define RELEASE_MAX_PAGES ((size_t)512)

/* The heap's retained bytes: carved from the arenas (the untouched bump
 * tail is not), less what was returned. */
static uint64_t retained_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    return tci_heap_sys_bytes - (tci_heap_bump_end - tci_heap_bump_next) - tci_heap_released_bytes;
}

/* A free run with pages still to return: the longest runs first (one
 * system call returns the most), from the list of long runs, then the
 * exact-length lists from the longest down. */
static tci_span *pick_unreturned_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    /* Resident runs sit before returned ones in every list (see
     * free_tails): a list's head tells whether it has one. (A kept run at
     * the head hides those behind it: while memory is locked, when none
     * could be returned; it is taken first by allocation, which ends it.) */
    if (tci_heap_free_lists[0] && tci_heap_free_lists[0]->scavenged == TCI_RUN_RESIDENT)
        return tci_heap_free_lists[0];
    for (size_t i = TCI_FREE_LISTS - 1; i > 0; i--)
        if (tci_heap_free_lists[i] && tci_heap_free_lists[i]->scavenged == TCI_RUN_RESIDENT)
            return tci_heap_free_lists[i];
    return NULL;
}

/* Returns pages of free run s to the OS: its first RELEASE_MAX_PAGES not
 * yet returned, and at most max_pages, what the caller is over its target
 * (a whole piece, 1.4 MB where 0.4 MB was over, left the heap a megabyte
 * under its target, pages the program touched again before the next
 * cycle). With drop_lock, heap_lock is released around the system
 * call (s is off the lists meanwhile, in state RELEASING, and an
 * allocation that finds no room waits for it: see tci_heap_releasing_runs);
 * without, the call is made holding it (the synchronous path, inside an
 * allocation that must not let another take the pages it is making room
 * with). Every call returns at least one page or marks s as having none
 * left, so the scavenger's loop ends even when merges lose the hint.
 * Returns the bytes newly released. */
static uint64_t release_run_locked(tci_span *s, int drop_lock, size_t max_pages)
{
    tci_assert_held(&tci_heap_lock);
    tci_heap_free_list_remove_locked(s);
    size_t first = first_unreturned_locked(s->base, s->npages);
    if (first == s->npages) {
        s->scavenged = TCI_RUN_RETURNED;
        tci_heap_free_list_insert_locked(s);
        return 0;
    }
    size_t n = s->npages - first < RELEASE_MAX_PAGES ? s->npages - first : RELEASE_MAX_PAGES;
    if (n > max_pages)
        n = max_pages > 0 ? max_pages : 1;
    uintptr_t from = s->base + (first << TCI_PAGE_SHIFT);
    tci_span_set_state(s, TCI_SPAN_RELEASING);
    if (drop_lock) {
        tci_heap_releasing_runs++;
        tci_heap_unlock();
    }
    int ok = tci_os_release((void *)from, n << TCI_PAGE_SHIFT) == 0;
    if (drop_lock) {
        tci_mutex_lock(&tci_heap_lock);
        tci_heap_releasing_runs--;
        tci_heap_release_gen++;
        pthread_cond_broadcast(&tci_heap_released_cond);
    }
    int let_waiters_in = drop_lock && tci_heap_alloc_waiters > 0;
    uint64_t newly = 0;
    if (!ok) {
        /* Not returned (locked memory; an OS page larger than ours): the
         * pages keep their contents, and this run is not tried again
         * until it is freed anew; to allocation it is as resident as
         * any (it comes before returned runs). */
        s->scavenged = TCI_RUN_KEPT;
    } else {
        newly = (uint64_t)tci_heap_scavenge_set_released_locked(from, n) << TCI_PAGE_SHIFT;
        tci_heap_released_bytes += newly;
        /* Pages before `first` were returned already: only the rest of
         * the run past this piece needs looking at. */
        size_t after = first + n;
        if (first_unreturned_locked(s->base + (after << TCI_PAGE_SHIFT), s->npages - after) ==
            s->npages - after) {
            s->needzero = 0; /* every page reads as zeros now */
            s->scavenged = TCI_RUN_RETURNED;
        }
    }
    tci_span_set_state(s, TCI_SPAN_FREE);
    tci_heap_insert_coalesced_locked(s);
    while (let_waiters_in && tci_heap_alloc_waiters > 0)
        tci_cond_wait(&tci_heap_waiters_cond, &tci_heap_lock);
    return newly;
}

/* Pages that hold `bytes`, rounded up. */
static size_t pages_for(uint64_t bytes)
{
    return (size_t)((bytes + TCI_PAGE_SIZE - 1) >> TCI_PAGE_SHIFT);
}

/* An allocation of `bytes` that would take the heap past tci_heap_retain_limit
 * returns free pages first, holding heap_lock. */
void tci_heap_scavenge_for_limit_locked(uint64_t bytes)
{
    tci_assert_held(&tci_heap_lock);
    while (retained_locked() + bytes > tci_heap_retain_limit) {
        tci_span *s = pick_unreturned_locked();
        if (!s)
            return;
        release_run_locked(s, 0, pages_for(retained_locked() + bytes - tci_heap_retain_limit));
    }
}

uint64_t tci_heap_scavenge(uint64_t target_bytes)
{
    uint64_t got = 0;
    tci_mutex_lock(&tci_heap_lock); /* released below (and around each release) */
    tci_heap_release_empty_chunks_locked();
    /* No more than was over the target at the start: threads freeing
     * spans meanwhile make new runs to return, and would keep a target
     * of 0 going as long as they free. */
    uint64_t r = retained_locked();
    uint64_t budget = r > target_bytes ? r - target_bytes : 0;
    while (got < budget && retained_locked() > target_bytes) {
        tci_span *s = pick_unreturned_locked();
        if (!s && tci_heap_releasing_runs > 0) {
            /* Another scavenge (the scavenger's thread, or
             * tc_release_memory) holds runs off the lists: wait for its
             * piece, then look again. It holds nothing while it waits for
             * us, so this ends. */
            uint64_t gen = tci_heap_release_gen;
            while (tci_heap_releasing_runs > 0 && tci_heap_release_gen == gen)
                tci_cond_wait(&tci_heap_released_cond, &tci_heap_lock);
            continue;
        }
        if (!s)
            break;
        uint64_t over = retained_locked() - target_bytes;
        uint64_t left = budget - got;
        got += release_run_locked(s, 1, pages_for(over < left ? over : left));
    }
    tci_heap_unlock();
    return got;
}

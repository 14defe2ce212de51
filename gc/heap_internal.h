/* heap_internal.h: the page heap's state and locked internals, shared by
 * its three files and by no other: gc/heap.c (arenas, the page map, span
 * structs, free runs, span allocation), gc/heap_huge.c (huge objects'
 * mappings) and gc/heap_scavenge.c (returning free pages to the OS).
 * Everything here is protected by tci_heap_lock (named "heap_lock", rank
 * TCI_RANK_HEAP), and every `_locked` function is called holding it.
 */
#ifndef TCI_HEAP_INTERNAL_H
#define TCI_HEAP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "lock.h"

extern tci_mutex tci_heap_lock;
/* Republishes the heap's figures for tci_heap_read_stats, then releases
 * tci_heap_lock: every holder lets go through it (heap.c). */
void tci_heap_unlock(void);

/* The free lists, [n]: runs of n pages; [0]: longer (heap.c). */
#define TCI_FREE_LISTS 128
extern tci_span *tci_heap_free_lists[TCI_FREE_LISTS];

/* The heap's figures: what tci_heap_read_stats reports (heap.c). */
extern uint64_t tci_heap_sys_bytes, tci_heap_inuse_bytes, tci_heap_meta_bytes;
extern uint64_t tci_heap_released_bytes; /* free pages returned to the OS */
extern uint64_t tci_heap_nspans_inuse;
extern uintptr_t tci_heap_bump_next, tci_heap_bump_end; /* never-used tail of the last arena */
extern uint64_t tci_heap_retain_limit; /* see tci_heap_set_retain_limit */

/* Runs off the free lists while the scavenger returns them (heap_lock
 * dropped): an allocation that finds no room waits for them
 * (tci_heap_released_cond) rather than grow the heap beside memory that
 * is about to be free again. */
extern int tci_heap_releasing_runs;
extern uint64_t tci_heap_release_gen; /* + 1 at the end of each such system call */
extern pthread_cond_t tci_heap_released_cond;
/* Allocations waiting for a piece: the scavenger lets them look again
 * before it takes the next piece (else it took the same run off the lists
 * again before they woke, and they grew the heap). */
extern int tci_heap_alloc_waiters;
extern pthread_cond_t tci_heap_waiters_cond;

/* A new mapping's first page is never used (TCI_HEAP_SKIP_BYTES): the
 * mapping's base, 64 MiB aligned, is what the growing thread holds in its
 * locals and leaves in dead stack, where a later frame's unwritten slot
 * can keep it for a conservative scan; at the base it would find the
 * first object of the arena, and with it all that object reaches (a
 * dropped 10-million-node list in tests/test_mark.c, under ASan). An
 * untouched page costs no memory: it is address space, counted nowhere. */
#define TCI_HEAP_SKIP_BYTES ((uintptr_t)TCI_PAGE_SIZE)
_Static_assert(TCI_HEAP_SKIP_BYTES == TCI_PAGE_SIZE, "tci_heap_is_huge counts one skipped page");

static inline tci_arena *tci_heap_arena_of(uintptr_t p)
{
    return tci_heap_arena_map[p >> TCI_ARENA_SHIFT];
}

/* heap.c: span structs, mappings, the free lists. */
tci_span *tci_heap_span_struct_alloc_locked(void);
void tci_heap_span_struct_free_locked(tci_span *s);
void tci_heap_release_empty_chunks_locked(void);
char *tci_heap_map_arenas(size_t bytes, uintptr_t hint);
void tci_heap_widen_bounds_locked(uintptr_t lo, uintptr_t hi);
void tci_heap_free_list_insert_locked(tci_span *s);
void tci_heap_free_list_remove_locked(tci_span *s);
void tci_heap_insert_coalesced_locked(tci_span *s);

/* heap_huge.c: huge objects (tci_heap_is_huge). */
tci_span *tci_heap_huge_alloc(size_t npages);
void tci_heap_huge_free(tci_span *s);
void tci_heap_huge_for_each_locked(void (*fn)(tci_span *s, void *arg), void *arg);

/* heap_scavenge.c: the arenas' released bits, and returning pages. */
size_t tci_heap_scavenge_set_released_locked(uintptr_t base, size_t npages);
size_t tci_heap_scavenge_clear_released_locked(uintptr_t base, size_t npages);
/* Whether any page of [base, base + npages) is returned. */
int tci_heap_scavenge_any_released_locked(uintptr_t base, size_t npages);
void tci_heap_scavenge_for_limit_locked(uint64_t bytes);

#endif

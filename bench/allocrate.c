/* allocrate.c: the cost of one small allocation, collection included,
 * written once against backend.h.
 *
 * Each variant allocates N objects of one size in a loop and stores each
 * into a ring of RING_SLOTS heap slots (with the backend's store), so the
 * live set stays tiny and constant while everything older dies: the
 * allocator's fast path plus the amortised cost of the collections (or,
 * for malloc, of freeing the object each store replaces). Every object's
 * first scalar word is written once, so every backend touches the memory
 * it hands out. Variants:
 *   atomic 16/64/256: pointer-free bytes (tc_alloc_atomic, GC_MALLOC_ATOMIC,
 *                     malloc), never scanned;
 *   typed  16/64/256: one pointer slot then scalar bytes (tc_alloc of a
 *                     tc_type, GC_malloc_explicitly_typed, calloc).
 * Before the timed loop an untimed warm-up of N/10 objects grows the heap,
 * so the figure is the steady state, not the first page faults.
 *
 * Usage: allocrate [--n OBJECTS]   (default 20,000,000 per variant)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* A power of two so the slot index is a mask; 1024 objects of at most
 * 256 bytes keep the live set at 256 KiB, far below any heap goal. */
#define RING_SLOTS 1024

static int frees;
static int failures;

/* One variant's loop; `typed` and `do_free` are constants at every call
 * site, so each combination compiles to its own loop with no test inside. */
static inline __attribute__((always_inline)) void
alloc_loop(void **ring, long n, size_t size, const bk_shape *shape, int typed,
           int do_free)
{
    for (long i = 0; i < n; i++) {
        void *p;
        uint64_t *scalar;
        if (typed) {
            p = bk_alloc(shape);
            scalar = (uint64_t *)((char *)p + sizeof(void *));
        } else {
            p = bk_alloc_atomic(size);
            scalar = p;
        }
        *scalar = (uint64_t)i;
        size_t k = (size_t)i & (RING_SLOTS - 1);
        if (do_free)
            bk_free(ring[k]);
        bk_store(ring, &ring[k], p);
    }
}

static void run_loop(void **ring, long n, size_t size, const bk_shape *shape)
{
    if (shape != NULL && frees)
        alloc_loop(ring, n, size, shape, 1, 1);
    else if (shape != NULL)
        alloc_loop(ring, n, size, shape, 1, 0);
    else if (frees)
        alloc_loop(ring, n, size, NULL, 0, 1);
    else
        alloc_loop(ring, n, size, NULL, 0, 0);
}

/* After a loop of n, slot k holds the object of the last i < n with
 * i % RING_SLOTS == k, whose scalar word is i: a collector that freed a
 * live object and handed its memory out again shows up here. */
static int check_ring(void **ring, long n, const char *kind, size_t size, int typed)
{
    for (long k = 0; k < RING_SLOTS; k++) {
        long want = k + (long)RING_SLOTS * ((n - 1 - k) / RING_SLOTS);
        const uint64_t *scalar =
            (const uint64_t *)((const char *)ring[k] + (typed ? sizeof(void *) : 0));
        if (*scalar != (uint64_t)want) {
            fprintf(stderr, "allocrate: FAILED: %s %zu: slot %ld holds %llu, want %ld\n",
                    kind, size, k, (unsigned long long)*scalar, want);
            failures++;
            return 0;
        }
    }
    return 1;
}

static void run_variant(void **ring, const char *kind, size_t size, long n)
{
    const bk_shape *shape = NULL;
    if (strcmp(kind, "typed") == 0)
        shape = bk_shape_get(1, size - sizeof(void *));

    run_loop(ring, n / 10, size, shape); /* warm-up, untimed */

    bk_stats before, after;
    bk_read_stats(&before);
    uint64_t t0 = bench_now_ns();
    run_loop(ring, n, size, shape);
    uint64_t t1 = bench_now_ns();
    bk_read_stats(&after);
    if (!check_ring(ring, n, kind, size, shape != NULL))
        return; /* no figure from a run that lost objects */

    double ns = (double)(t1 - t0) / (double)n;
    uint64_t gcs = after.num_gc - before.num_gc;
    printf("  %-6s %3zu bytes: %6.2f ns/object, %llu collections\n", kind, size, ns,
           (unsigned long long)gcs);
    printf("RESULT allocrate backend=%s kind=%s size=%zu ns_per_obj=%.2f gcs=%llu\n",
           bk_name(), kind, size, ns, (unsigned long long)gcs);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr, "usage: allocrate [--n OBJECTS]   (at least %d)\n", 10 * RING_SLOTS);
    exit(2);
}

int main(int argc, char **argv)
{
    long n = 20000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            char *end;
            n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 10 * RING_SLOTS)
                usage();
        } else {
            usage();
        }
    }

    bk_init();
    frees = bk_needs_free();
    /* The ring is a heap object of pointer slots, found by the collector
     * through main's frame (the workloads register no roots). */
    void **ring = bk_alloc(bk_shape_get(RING_SLOTS, 0));

    printf("allocrate: %ld allocations per variant, ring of %d live slots, backend %s (%s)\n",
           n, RING_SLOTS, bk_name(), bk_describe());
    static const size_t sizes[] = {16, 64, 256};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        run_variant(ring, "atomic", sizes[i], n);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        run_variant(ring, "typed", sizes[i], n);

    if (frees) {
        for (size_t k = 0; k < RING_SLOTS; k++)
            bk_free(ring[k]);
        bk_free(ring);
    }
    return failures ? 1 : 0;
}

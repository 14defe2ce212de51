/* rangebench.c: what a bulk pointer store costs with no mark running
 * (issue 18): tc_store_range of 1 MiB (131072 slots) inside one heap
 * object against memmove of the same bytes, in interleaved rounds.
 *
 * Each round times one call of each, in an order that alternates from
 * round to round, on the same object (a shift by one slot, the
 * interpreter's vector insert); the figures are each call's median over
 * the rounds, and the median of the rounds' ratios (a pair runs back to
 * back, so the ratio cancels the drift between rounds). A figure, never
 * a timed test. TRICOLOR_GC=off keeps every collection (and so every
 * mark) away from the timed calls.
 *
 * Then, for scale, the marking path: the barrier's flag set by hand (as
 * bench/backend_tricolor.c's bk_marking_hold does; no cycle runs, so the
 * mark bits the shading sets are never read), the same move timed over
 * the same rounds: per slot a shade (the objects are marked after the
 * first round, so a page-map lookup and a bit test) and a release store.
 *
 * Usage: tcrange [--rounds N] [--slots N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "tricolor.h"

/* The compiler must not see through the calls to the bytes. */
static void *volatile sink;

int main(int argc, char **argv)
{
    long rounds = 201;
    size_t slots = 131072;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds"))
            rounds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--slots"))
            slots = (size_t)atol(argv[i + 1]);
    }
    if (rounds < 1 || slots < 2) {
        fprintf(stderr, "usage: tcrange [--rounds N] [--slots N]\n");
        return 2;
    }
    setenv("TRICOLOR_GC", "off", 1);
    if (tc_init() != 0) {
        perror("tc_init");
        return 1;
    }
    const size_t off = 0;
    const tc_type *slot = tc_type_new("slot", sizeof(void *), &off, 1);
    void **v = tc_alloc_array(slot, slots + 1);
    if (!v) {
        perror("tc_alloc_array");
        return 1;
    }
    for (size_t i = 0; i <= slots; i++)
        v[i] = tc_alloc_atomic(16); /* live pointers, as an interpreter's */
    uint64_t *t_range = calloc((size_t)rounds, sizeof *t_range);
    uint64_t *t_memmove = calloc((size_t)rounds, sizeof *t_memmove);
    double *ratio = calloc((size_t)rounds, sizeof *ratio);
    if (!t_range || !t_memmove || !ratio)
        return 1;
    size_t bytes = slots * sizeof(void *);
    /* Warm: both paths once, the pages touched. */
    memmove(&v[1], &v[0], bytes);
    tc_store_range(v, &v[0], &v[1], slots);
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int range_first = r % 2 == 0;
            int do_range = k == 0 ? range_first : !range_first;
            /* Alternate the direction too: right by one, then back left. */
            void *dst = (r / 2) % 2 ? &v[0] : &v[1];
            void *src = (r / 2) % 2 ? &v[1] : &v[0];
            uint64_t t0 = bench_now_ns();
            if (do_range)
                tc_store_range(v, dst, src, slots);
            else
                memmove(dst, src, bytes);
            uint64_t t1 = bench_now_ns();
            sink = v[slots / 2];
            if (do_range)
                t_range[r] = t1 - t0;
            else
                t_memmove[r] = t1 - t0;
        }
        ratio[r] = (double)t_range[r] / (double)(t_memmove[r] ? t_memmove[r] : 1);
    }
    uint64_t *t_marking = calloc((size_t)rounds, sizeof *t_marking);
    if (!t_marking)
        return 1;
    tc_barrier_enabled_ = 1;
    for (long r = 0; r < rounds; r++) {
        void *dst = r % 2 ? &v[0] : &v[1];
        void *src = r % 2 ? &v[1] : &v[0];
        uint64_t t0 = bench_now_ns();
        tc_store_range(v, dst, src, slots);
        t_marking[r] = bench_now_ns() - t0;
    }
    tc_barrier_enabled_ = 0;
    bench_sort_u64(t_marking, (size_t)rounds);
    bench_sort_double(ratio, (size_t)rounds);
    double med_ratio = ratio[rounds / 2];
    bench_sort_u64(t_range, (size_t)rounds);
    bench_sort_u64(t_memmove, (size_t)rounds);
    printf("bulk store, no mark running: %zu slots (%zu KiB), %ld interleaved rounds\n", slots,
           bytes >> 10, rounds);
    printf("  tc_store_range  median %8.1f us\n", (double)t_range[rounds / 2] / 1e3);
    printf("  memmove         median %8.1f us\n", (double)t_memmove[rounds / 2] / 1e3);
    printf("  ratio (median of the rounds' ratios) %.3fx\n", med_ratio);
    printf("  marking path (flag set by hand) median %8.1f us\n",
           (double)t_marking[rounds / 2] / 1e3);
    printf("RESULT bench=store_range slots=%zu rounds=%ld range_ns=%llu memmove_ns=%llu "
           "ratio=%.3f marking_ns=%llu\n",
           slots, rounds, (unsigned long long)t_range[rounds / 2],
           (unsigned long long)t_memmove[rounds / 2], med_ratio,
           (unsigned long long)t_marking[rounds / 2]);
    return 0;
}

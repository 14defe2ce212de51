/* spike.c: the memory spike, on tricolor (the pacer issue's scenario).
 *
 * A program holds 1 GiB live (1 KiB objects), drops to 50 MiB, and goes on
 * allocating short-lived data as usual (1 KiB objects through a ring of
 * 4,096 slots) for another 2 GiB, without any call to the collector. Every
 * 32 MiB allocated after the drop, the process's resident memory is
 * sampled (/proc/self/statm). What it shows: whether, and how soon, the
 * collector gives the spike's memory back by itself. bench/peers/spike.go
 * is the same program on Go's collector, with the same parameters.
 *
 * Usage: tcspike [--peak-mib 1024] [--base-mib 50] [--after-mib 2048]
 *                [--target-mib 150]
 * Prints the samples as "spike: after N MiB: RSS M MiB" lines and one
 * RESULT line: rss_peak_mib, rss_end_mib, mib_to_target (MiB allocated
 * after the drop before RSS was first under --target-mib; -1: never), and
 * the collector's figures. A lost or overwritten live object fails the
 * run (exit 1); bad arguments exit 2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "tricolor.h"

#define OBJ 1024
#define RING 4096
#define SAMPLE_MIB 32

int main(int argc, char **argv)
{
    long peak_mib = 1024, base_mib = 50, after_mib = 2048, target_mib = 150;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "usage: tcspike [--peak-mib N] [--base-mib N] [--after-mib N] "
                            "[--target-mib N]\n");
            return 2;
        }
        if (strcmp(argv[i], "--peak-mib") == 0)
            peak_mib = bench_arg_positive("spike", argv[i], argv[i + 1]);
        else if (strcmp(argv[i], "--base-mib") == 0)
            base_mib = bench_arg_positive("spike", argv[i], argv[i + 1]);
        else if (strcmp(argv[i], "--after-mib") == 0)
            after_mib = bench_arg_positive("spike", argv[i], argv[i + 1]);
        else if (strcmp(argv[i], "--target-mib") == 0)
            target_mib = bench_arg_positive("spike", argv[i], argv[i + 1]);
        else {
            fprintf(stderr, "spike: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (base_mib > peak_mib) {
        fprintf(stderr, "spike: --base-mib must not exceed --peak-mib\n");
        return 2;
    }
    if (tc_init() != 0)
        return 2;
    size_t npeak = (size_t)peak_mib * 1024, nbase = (size_t)base_mib * 1024;
    /* The slots live outside the heap, registered as roots (as an
     * interpreter's tables would be); so does the ring. */
    char **slot = calloc(npeak, sizeof *slot);
    char **ring = calloc(RING, sizeof *ring);
    if (!slot || !ring || tc_root_add(slot, npeak * sizeof *slot) != 0 ||
        tc_root_add(ring, RING * sizeof *ring) != 0) {
        fprintf(stderr, "spike: no memory for the slots\n");
        return 2;
    }
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < npeak; i++) {
        slot[i] = tc_alloc_atomic(OBJ);
        if (!slot[i]) {
            fprintf(stderr, "spike: out of memory at %zu objects\n", i);
            return 2;
        }
        memcpy(slot[i], &i, sizeof i);
    }
    uint64_t rss_peak = bench_rss_bytes();
    for (size_t i = nbase; i < npeak; i++)
        slot[i] = NULL;
    tc_memstats ms0;
    tc_read_memstats(&ms0);
    long mib_to_target = -1;
    uint64_t rss = 0;
    size_t per_sample = (size_t)SAMPLE_MIB * 1024 * 1024 / OBJ;
    size_t total = (size_t)after_mib * 1024 * 1024 / OBJ;
    for (size_t n = 0; n < total; n++) {
        char *p = tc_alloc_atomic(OBJ);
        if (!p) {
            fprintf(stderr, "spike: out of memory after the drop\n");
            return 2;
        }
        p[0] = (char)n;
        ring[n % RING] = p;
        if ((n + 1) % per_sample == 0) {
            rss = bench_rss_bytes();
            long done = (long)((n + 1) / per_sample) * SAMPLE_MIB;
            printf("spike: after %ld MiB: RSS %.1f MiB\n", done, rss / 1048576.0);
            if (mib_to_target < 0 && rss < (uint64_t)target_mib << 20)
                mib_to_target = done;
        }
    }
    uint64_t wall = bench_now_ns() - t0;
    for (size_t i = 0; i < nbase; i++) {
        size_t v;
        memcpy(&v, slot[i], sizeof v);
        if (v != i) {
            fprintf(stderr, "spike: FAILED: live object %zu holds %zu\n", i, v);
            return 1;
        }
    }
    tc_memstats ms;
    tc_read_memstats(&ms);
    printf("RESULT spike backend=tricolor peak_mib=%ld base_mib=%ld after_mib=%ld "
           "target_mib=%ld ms=%.1f rss_peak_mib=%.1f rss_end_mib=%.1f mib_to_target=%ld "
           "gcs=%u heap_released_mib=%.1f gc_cpu_fraction=%.4f\n",
           peak_mib, base_mib, after_mib, target_mib, wall / 1e6, rss_peak / 1048576.0,
           rss / 1048576.0, mib_to_target, ms.num_gc - ms0.num_gc,
           ms.heap_released / 1048576.0, ms.gc_cpu_fraction);
    return 0;
}

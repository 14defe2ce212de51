/* workload_latency.c: the GC latency experiment.
 *
 * A service keeps the last W messages it received (a window of W slots in
 * a heap array of pointers) and pushes P messages through it: each push
 * allocates a pointer-free message, fills it and stores it over
 * window[i % W]. The live heap stays at about W messages while P messages'
 * worth of garbage flows through, so the collector runs again and again
 * with a big live heap, and every pause lands on some push.
 *
 * Two views of the same run: the push latencies as the mutator sees them
 * (each push timed with CLOCK_MONOTONIC around the allocation, the fill and
 * the store, whatever stalls it), and the collector's own pause log. With
 * one mutator that collects on its own allocations every pause lies inside
 * some push, so the worst push is at least the longest pause; a pause
 * longer than any push would mean the pause figures count something the
 * mutator never waited for (the pause report checks it and says so).
 * The heap is sampled and the pause log polled between pushes, untimed.
 * Each message holds its push number in its first 8 bytes, checked in
 * full at the end.
 * The manual allocators free the message each push replaces.
 * bench/peers/latency.go is the same program in Go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend.h"

#define SAMPLE_EVERY 10000 /* pushes between heap samples and log polls */

void WL(latency)(const wl_params *p, wl_result *r);
void WL(latency)(const wl_params *p, wl_result *r)
{
    bk_init();
    memset(r, 0, sizeof *r);
    size_t wn = (size_t)p->window, pushes = (size_t)p->n, msg_size = p->size;
    int frees = bk_needs_free();
    snprintf(r->params, sizeof r->params, "window=%zu pushes=%zu msg_size=%zu", wn, pushes,
             msg_size);
    if (!p->quiet)
        printf("latency (%s, %s): a window of %zu messages of %zu bytes (%.1f MiB live), "
               "%zu pushes\n",
               bk_name(), bk_describe(), wn, msg_size,
               (double)wn * (double)msg_size / 1048576.0, pushes);

    /* The window is a heap array of pointer slots (precise on tricolor and
     * bdwgc): the collector scans exactly the slots. */
    void **window = bk_alloc(bk_shape_get(wn, 0));
    /* The latencies live outside every backend's heap (mapped, not
     * malloc'd: glibc's and mimalloc's heaps are the process's malloc),
     * touched up front so no page fault lands inside a timed push. */
    size_t lat_bytes = pushes * sizeof(uint64_t);
    uint64_t *lat = mmap(NULL, lat_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
    if (lat == MAP_FAILED || msg_size < sizeof(uint64_t)) {
        fprintf(stderr, "latency: no room for %zu timings, or messages under 8 bytes\n",
                pushes);
        exit(2);
    }
    /* In a blocking region: the loop neither allocates nor polls, and a
     * stop the window's allocation asked for would wait for it (44 ms of
     * the first cycle's stop for a 64 MB array, which the report then
     * flagged as a pause no push waited for). */
    bk_blocking_begin();
    memset(lat, 0, lat_bytes);
    bk_blocking_end();
    bench_outside_heap_add(lat_bytes);

    bk_stats before, after;
    bench_read_stats(&before);
    bk_pauses_begin();
    uint64_t start = bench_now_ns();
    for (size_t i = 0; i < pushes; i++) {
        uint64_t t0 = bench_now_ns();
        char *msg = bk_alloc_atomic(msg_size);
        memset(msg, (char)i, msg_size);
        uint64_t stamp = i;
        memcpy(msg, &stamp, sizeof stamp);
        size_t k = i % wn;
        if (frees)
            bk_free(window[k]);
        bk_store(window, &window[k], msg);
        lat[i] = bench_now_ns() - t0;
        if (i % SAMPLE_EVERY == SAMPLE_EVERY - 1)
            bk_sample(r);
    }
    r->wall_ns = bench_now_ns() - start;
    r->start_ns = start;
    bench_read_stats(&after);

    /* Every slot must still hold its last message, intact: a collector that
     * freed one and handed the memory out again fails here. */
    size_t filled = pushes < wn ? pushes : wn, bad = 0;
    for (size_t k = 0; k < filled; k++) {
        if ((k & 4095) == 0)
            bk_safepoint();
        size_t last = k + wn * ((pushes - 1 - k) / wn);
        const char *m = window[k];
        uint64_t stamp = 0;
        if (m != NULL)
            memcpy(&stamp, m, sizeof stamp);
        if (m == NULL || stamp != last || m[msg_size - 1] != (char)last)
            bad++;
    }
    if (bad)
        fprintf(stderr, "latency: FAILED: %zu of %zu window slots lost their message\n", bad,
                filled);
    if (frees) {
        for (size_t k = 0; k < filled; k++)
            bk_free(window[k]);
        bk_free(window);
    }

    r->ops = pushes;
    bk_blocking_begin(); /* sorting a million timings touches no heap object */
    bench_op_summary(r, lat, pushes);
    bk_blocking_end();
    munmap(lat, lat_bytes);
    bench_outside_heap_add(-(uint64_t)lat_bytes);
    bk_summarise(r, &before, &after);
    r->ok = bad == 0;
    r->measured = 1;
}

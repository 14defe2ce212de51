/* backend.h: the small allocator interface the benchmark workloads are
 * written against once, implemented by one backend_<name>.c per collector.
 *
 * The backend is chosen at link time: each workload object is linked with
 * one backend object into its own executable (gcbench_tricolor,
 * gcbench_bdwgc, gcbench_malloc). Both are compiled with -flto, so the
 * wrappers below inline into the workload and no backend pays a call it
 * would not pay in a program written directly against it: tricolor's
 * barrier stays tc_store's inline flag test, bdwgc's store stays a plain
 * store, and every allocation is one call into the allocator itself.
 *
 * Object layout: an object made from a shape has its n_ptrs pointer slots
 * first (word offsets 0 .. n_ptrs-1), then scalar_bytes of pointer-free
 * data, so a workload struct must put its pointer fields first.
 */
#ifndef BENCH_BACKEND_H
#define BENCH_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* What a backend can tell about its collections. A field the backend does
 * not expose is BK_UNKNOWN. */
#define BK_UNKNOWN UINT64_MAX
typedef struct bk_stats {
    uint64_t num_gc;         /* collections so far (0 for malloc) */
    uint64_t pause_total_ns; /* stop-the-world time over all collections */
    uint64_t pause_max_ns;   /* longest pause (tricolor: of the last 256) */
    uint64_t heap_bytes;     /* heap address space the backend holds */
} bk_stats;

/* A shape: an object layout with pointer slots and scalar bytes. Opaque;
 * each backend defines it. */
typedef struct bk_shape bk_shape;

/* Sets the backend up; call first, from main. Exits with a message on
 * failure, since no benchmark can go on without its heap. */
void bk_init(void);
/* "tricolor", "bdwgc" or "malloc". */
const char *bk_name(void);
/* One line on the backend's version and settings (markers, say), for the
 * parameters a workload prints; valid after bk_init. */
const char *bk_describe(void);
/* Nonzero when dead objects must be handed to bk_free (malloc): the
 * workloads then free what a manual program would free. */
int bk_needs_free(void);

/* The shape for n_ptrs pointer slots followed by scalar_bytes of data,
 * made once and cached: call it at set-up, not per allocation. Never NULL
 * (exits on failure). */
const bk_shape *bk_shape_get(size_t n_ptrs, size_t scalar_bytes);
/* Size in bytes of an object of shape s. */
size_t bk_shape_size(const bk_shape *s);

/* One zeroed object of shape s. Exits on out-of-memory: a benchmark that
 * lost an allocation measures nothing. */
void *bk_alloc(const bk_shape *s);
/* size pointer-free bytes; the contents are whatever the backend gives
 * (zero for tricolor, undefined for bdwgc and malloc), the collector never
 * scans them. Exits on out-of-memory. */
void *bk_alloc_atomic(size_t size);
/* Stores value into *slot, a pointer slot of obj: tricolor's barrier, a
 * plain store elsewhere. */
void bk_store(void *obj, void *slot, void *value);
/* Frees p for malloc; nothing for the collectors. */
void bk_free(void *p);
/* A full collection now (nothing for malloc). */
void bk_collect(void);
void bk_read_stats(bk_stats *out);

/* ---- Helpers every workload uses (bench_util.c) ------------------------ */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);
/* Peak resident set size of the process in KiB (getrusage ru_maxrss). */
long bench_maxrss_kib(void);
/* Prints the backend's collection figures as " gcs=N pause_total_ms=X
 * pause_max_ms=Y" (unknown fields as "na") to stdout, no newline: the tail
 * of a RESULT line. */
void bench_print_gc_fields(const bk_stats *st);

#endif /* BENCH_BACKEND_H */

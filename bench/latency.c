/* latency.c: the GC latency experiment on tricolor (what `make run` runs).
 *
 * A service keeps the last W messages it received (a window of W slots in
 * a heap array of pointers) and pushes P messages through it: each push
 * allocates a pointer-free message, fills it and stores it over the oldest
 * one. The live heap stays at about W messages while P messages' worth of
 * garbage flows through, so the collector runs again and again with a big
 * live heap, and every pause lands on some push.
 *
 * Two views of the same run are printed: the push latencies as the mutator
 * sees them (each push timed with CLOCK_MONOTONIC, pause included) and the
 * collector's own figures from tc_read_memstats. When they disagree, the
 * mutator's view is the one a user feels.
 *
 * Usage: latency [--window N] [--pushes N] [--msg-size BYTES]
 *        (defaults 200000, 1000000 and 1024)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tricolor.h"

/* Peak heap is sampled this often: often enough to see the sawtooth's top
 * within one heap goal, rarely enough to cost nothing (outside the timed
 * part of a push anyway). */
#define SAMPLE_EVERY 10000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: latency [--window N] [--pushes N] [--msg-size BYTES]\n"
                    "       (defaults: --window 200000 --pushes 1000000 --msg-size 1024)\n");
    exit(2);
}

/* A push slower than this is looked at: did a collection pause inside it? */
#define SLOW_PUSH_NS 1000000

/* The latest collection's pause when it ended inside the push that ended at
 * monotonic time end_mono and took d ns, else 0: the pause_end_ns ring is
 * CLOCK_REALTIME, so the push is mapped onto that clock first. A slow push
 * without a pause in it, or much longer than its pause, stalled somewhere
 * the pause figures do not show. */
static uint64_t push_held_pause(uint64_t end_mono, uint64_t d)
{
    static tc_memstats ms; /* 4 KiB: not on the stack of every call */
    struct timespec rt;
    uint64_t mono = now_ns();
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t end_real = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec -
                        (mono - end_mono);
    tc_read_memstats(&ms);
    if (ms.num_gc == 0)
        return 0;
    size_t latest = (ms.num_gc + TC_PAUSE_RING - 1) % TC_PAUSE_RING;
    uint64_t pause_end = ms.pause_end_ns[latest];
    /* 50 us of slack for the order of the clock reads on both sides. */
    if (pause_end + 50000 >= end_real - d && pause_end <= end_real + 50000)
        return ms.pause_ns[latest];
    return 0;
}

static size_t parse_count(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || s[0] == '-') {
        fprintf(stderr, "latency: %s wants a positive integer, not '%s'\n", opt, s);
        usage();
    }
    return (size_t)v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank quantile q (0 < q <= 1) of n sorted values. */
static uint64_t quantile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* A duration in the unit that keeps it readable. */
static const char *fmt_ns(char *buf, size_t n, uint64_t ns)
{
    if (ns < 10000)
        snprintf(buf, n, "%.2f us", (double)ns / 1e3);
    else if (ns < 1000000)
        snprintf(buf, n, "%.1f us", (double)ns / 1e3);
    else
        snprintf(buf, n, "%.2f ms", (double)ns / 1e6);
    return buf;
}

static double mib(uint64_t bytes) { return (double)bytes / 1048576.0; }

static void print_environment(void)
{
    extern char **environ;
    int any = 0;
    printf("  environment:");
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "TRICOLOR_", 9) == 0) {
            printf(" %s", *e);
            any = 1;
        }
    }
    printf("%s\n", any ? "" : " no TRICOLOR_* variables (defaults)");
}

int main(int argc, char **argv)
{
    size_t window_n = 200000, pushes = 1000000, msg_size = 1024;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--window") == 0)
            window_n = parse_count(argv[i], argv[i + 1]);
        else if (strcmp(argv[i], "--pushes") == 0)
            pushes = parse_count(argv[i], argv[i + 1]);
        else if (strcmp(argv[i], "--msg-size") == 0)
            msg_size = parse_count(argv[i], argv[i + 1]);
        else
            usage();
        i++;
    }

    if (tc_init() != 0) {
        fprintf(stderr, "latency: tc_init: %s\n", strerror(errno));
        return 2;
    }
    /* The window is a precise heap array: one pointer slot per message, so
     * the collector scans exactly the window's slots and nothing else. */
    static const size_t slot_offset[1] = {0};
    const tc_type *slot = tc_type_new("latency.slot", sizeof(void *), slot_offset, 1);
    void **window = slot ? tc_alloc_array(slot, window_n) : NULL;
    /* The latencies live outside the collected heap, touched up front so no
     * page fault lands inside a timed push. */
    uint64_t *lat = malloc(pushes * sizeof *lat);
    if (window == NULL || lat == NULL) {
        fprintf(stderr, "latency: cannot allocate a window of %zu or %zu timings: %s\n",
                window_n, pushes, strerror(errno));
        return 2;
    }
    memset(lat, 0, pushes * sizeof *lat);

    tc_memstats ms;
    tc_read_memstats(&ms);
    printf("latency: GC latency experiment on tricolor %d.%d\n", TC_VERSION_MAJOR,
           TC_VERSION_MINOR);
    printf("  window %zu messages of %zu bytes (about %.1f MiB live), %zu pushes\n",
           window_n, msg_size, mib((uint64_t)window_n * msg_size), pushes);
    printf("  collector: %u marker%s, gc_percent %d\n", (unsigned)ms.markers,
           ms.markers == 1 ? "" : "s", (int)ms.gc_percent);
    print_environment();
    fflush(stdout);

    uint64_t peak_alloc = 0, peak_sys = 0;
    size_t slow_with_pause = 0, worst_i = 0;
    uint64_t worst_ns = 0, worst_pause_ns = 0; /* tracked among slow pushes */
    uint64_t start = now_ns();
    for (size_t i = 0; i < pushes; i++) {
        uint64_t t0 = now_ns();
        char *msg = tc_alloc_atomic(msg_size);
        if (msg == NULL) {
            fprintf(stderr, "latency: push %zu: tc_alloc_atomic(%zu): %s\n", i, msg_size,
                    strerror(errno));
            return 2;
        }
        memset(msg, (char)i, msg_size);
        tc_store(window, &window[i % window_n], msg);
        uint64_t t1 = now_ns();
        lat[i] = t1 - t0;
        if (lat[i] > SLOW_PUSH_NS) {
            uint64_t pause = push_held_pause(t1, lat[i]);
            slow_with_pause += pause != 0;
            if (lat[i] > worst_ns) {
                worst_ns = lat[i];
                worst_i = i;
                worst_pause_ns = pause;
            }
        }
        if (i % SAMPLE_EVERY == SAMPLE_EVERY - 1) {
            tc_read_memstats(&ms);
            if (ms.heap_alloc > peak_alloc)
                peak_alloc = ms.heap_alloc;
            if (ms.heap_sys > peak_sys)
                peak_sys = ms.heap_sys;
        }
    }
    uint64_t wall_ns = now_ns() - start;

    /* Every slot must still hold its last message, intact: a collector that
     * freed one and handed the memory out again fails here. */
    size_t filled = pushes < window_n ? pushes : window_n, bad = 0;
    for (size_t k = 0; k < filled; k++) {
        size_t last = k + window_n * ((pushes - 1 - k) / window_n);
        const char *m = window[k];
        if (m == NULL || m[0] != (char)last || m[msg_size - 1] != (char)last)
            bad++;
    }

    tc_read_memstats(&ms);
    if (ms.heap_alloc > peak_alloc)
        peak_alloc = ms.heap_alloc;
    if (ms.heap_sys > peak_sys)
        peak_sys = ms.heap_sys;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    char b1[32], b2[32], b3[32], b4[32];
    qsort(lat, pushes, sizeof *lat, cmp_u64);
    size_t over_1ms = 0, over_10ms = 0;
    for (size_t i = 0; i < pushes; i++) {
        over_1ms += lat[i] > SLOW_PUSH_NS;
        over_10ms += lat[i] > 10000000;
    }
    printf("\npush latency as the mutator sees it (%zu pushes in %.0f ms, mean %s):\n",
           pushes, (double)wall_ns / 1e6, fmt_ns(b1, sizeof b1, wall_ns / pushes));
    printf("  p50 %s   p99 %s   p99.9 %s   worst %s\n",
           fmt_ns(b1, sizeof b1, quantile(lat, pushes, 0.50)),
           fmt_ns(b2, sizeof b2, quantile(lat, pushes, 0.99)),
           fmt_ns(b3, sizeof b3, quantile(lat, pushes, 0.999)),
           fmt_ns(b4, sizeof b4, lat[pushes - 1]));
    if (worst_ns != 0 && worst_pause_ns != 0)
        printf("  the worst push (number %zu) held a collection whose recorded pause is %s\n",
               worst_i, fmt_ns(b1, sizeof b1, worst_pause_ns));
    else if (worst_ns != 0)
        printf("  the worst push (number %zu) held no recorded pause\n", worst_i);
    printf("  pushes over 1 ms: %zu (%zu with a collection's pause in them, %zu without), "
           "over 10 ms: %zu\n",
           over_1ms, slow_with_pause, over_1ms - slow_with_pause, over_10ms);

    /* The ring holds the last TC_PAUSE_RING pauses, the latest at
     * (num_gc + TC_PAUSE_RING - 1) % TC_PAUSE_RING; which ones does not
     * matter for quantiles. */
    size_t npause = ms.num_gc < TC_PAUSE_RING ? ms.num_gc : TC_PAUSE_RING;
    uint64_t pauses[TC_PAUSE_RING];
    memcpy(pauses, ms.pause_ns, npause * sizeof pauses[0]);
    qsort(pauses, npause, sizeof pauses[0], cmp_u64);

    printf("\ncollector's own figures (tc_read_memstats):\n");
    printf("  collections      %u (%u forced)\n", ms.num_gc, ms.num_forced_gc);
    if (npause == 0) {
        printf("  pauses           none\n");
    } else {
        printf("  pauses           %zu%s: p50 %s   p99 %s   p99.9 %s   max %s\n", npause,
               ms.num_gc > TC_PAUSE_RING ? " (the ring holds the last 256)" : "",
               fmt_ns(b1, sizeof b1, quantile(pauses, npause, 0.50)),
               fmt_ns(b2, sizeof b2, quantile(pauses, npause, 0.99)),
               fmt_ns(b3, sizeof b3, quantile(pauses, npause, 0.999)),
               fmt_ns(b4, sizeof b4, pauses[npause - 1]));
    }
    printf("  pause total      %s (%.1f%% of the run); last pause %s, its time to "
           "safepoint %s\n",
           fmt_ns(b1, sizeof b1, ms.pause_total_ns),
           100.0 * (double)ms.pause_total_ns / (double)wall_ns,
           fmt_ns(b2, sizeof b2, ms.last_stw_ns), fmt_ns(b3, sizeof b3, ms.last_ttsp_ns));
    printf("  GC CPU fraction  %.3f\n", ms.gc_cpu_fraction);
    printf("  peak heap        heap_alloc %.1f MiB, heap_sys %.1f MiB (sampled every %d "
           "pushes); peak RSS %.1f MiB\n",
           mib(peak_alloc), mib(peak_sys), SAMPLE_EVERY, (double)ru.ru_maxrss / 1024.0);
    printf("  final heap       heap_alloc %.1f MiB, heap_sys %.1f MiB, live after the "
           "last mark %.1f MiB, next_gc %.1f MiB\n",
           mib(ms.heap_alloc), mib(ms.heap_sys), mib(ms.live_bytes), mib(ms.next_gc));

    if (bad != 0) {
        fprintf(stderr, "latency: FAILED: %zu of %zu window slots lost their message\n",
                bad, filled);
        return 1;
    }
    printf("\nRESULT latency backend=tricolor window=%zu pushes=%zu msg_size=%zu ms=%.0f "
           "push_p99_us=%.2f push_p999_us=%.2f push_max_ms=%.3f gcs=%u pause_max_ms=%.3f "
           "pause_total_ms=%.3f peak_heap_mib=%.1f maxrss_kib=%ld\n",
           window_n, pushes, msg_size, (double)wall_ns / 1e6,
           (double)quantile(lat, pushes, 0.99) / 1e3,
           (double)quantile(lat, pushes, 0.999) / 1e3, (double)lat[pushes - 1] / 1e6,
           ms.num_gc, npause ? (double)pauses[npause - 1] / 1e6 : 0.0,
           (double)ms.pause_total_ns / 1e6, mib(peak_alloc), ru.ru_maxrss);
    free(lat);
    return 0;
}

/* weakbench.c: what a weak read costs (issue 18), no collection running:
 * N weak references read three ways in interleaved rounds: a plain load
 * from a C array (the floor), tc_load_weak from a table in the heap (a
 * tc_type_new_weak array), and tc_weak_get from N handles. Then, for
 * scale, tc_load_weak's slow path (the barrier's flag set by hand, as
 * bench/rangebench.c does: no cycle runs, so the shading it does is never
 * read), and what making the N references cost each way, with the memory
 * outside the heap the handles take.
 *
 * Each round times one pass over all N of each kind, in an order that
 * rotates from round to round; the figures are each kind's median pass,
 * per read, and the median of the rounds' ratios to the plain load (the
 * passes of a round run back to back, so the ratio cancels the drift
 * between rounds). A figure, never a timed test. TRICOLOR_GC=off keeps
 * every collection away from the timed passes.
 *
 * Usage: tcweak [--rounds N] [--refs N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "tricolor.h"

typedef struct entry {
    void *key; /* weak */
} entry;

enum { PLAIN, FIELD, HANDLE, KINDS };
static const char *const kind_name[KINDS] = { "plain load", "tc_load_weak", "tc_weak_get" };

/* The reads must not be optimized away: their sum is kept. */
static volatile uintptr_t sink;

static uint64_t pass(int kind, size_t n, void **plain, entry *table, tc_weak **handles)
{
    uintptr_t sum = 0;
    uint64_t t0 = bench_now_ns();
    if (kind == PLAIN)
        for (size_t i = 0; i < n; i++)
            sum += (uintptr_t)((void *volatile *)plain)[i];
    else if (kind == FIELD)
        for (size_t i = 0; i < n; i++)
            sum += (uintptr_t)tc_load_weak(table, &table[i].key);
    else
        for (size_t i = 0; i < n; i++)
            sum += (uintptr_t)tc_weak_get(handles[i]);
    uint64_t t = bench_now_ns() - t0;
    sink = sum;
    return t;
}

int main(int argc, char **argv)
{
    long rounds = 51;
    size_t n = 1000000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds"))
            rounds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--refs"))
            n = (size_t)atol(argv[i + 1]);
    }
    if (rounds < 1 || n < 1) {
        fprintf(stderr, "usage: tcweak [--rounds N] [--refs N]\n");
        return 2;
    }
    setenv("TRICOLOR_GC", "off", 1);
    if (tc_init() != 0) {
        perror("tc_init");
        return 1;
    }
    const size_t weak = 0;
    const tc_type *t = tc_type_new_weak("entry", sizeof(entry), NULL, 0, &weak, 1, NULL, 0);
    entry *table = t ? tc_alloc_array(t, n) : NULL;
    void **plain = malloc(n * sizeof *plain);
    tc_weak **handles = malloc(n * sizeof *handles);
    uint64_t (*times)[KINDS] = calloc((size_t)rounds, sizeof *times);
    double (*ratio)[KINDS] = calloc((size_t)rounds, sizeof *ratio);
    if (!table || !plain || !handles || !times || !ratio) {
        perror("allocating");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        plain[i] = tc_alloc_atomic(16);
    tc_memstats before, after;
    tc_read_memstats(&before);
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        tc_store(table, &table[i].key, plain[i]);
    uint64_t make_field = bench_now_ns() - t0;
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        handles[i] = tc_weak_create(plain[i]);
    uint64_t make_handle = bench_now_ns() - t0;
    tc_read_memstats(&after);
    for (int k = 0; k < KINDS; k++)
        (void)pass(k, n, plain, table, handles); /* warm */
    for (long r = 0; r < rounds; r++) {
        for (int j = 0; j < KINDS; j++) {
            int k = (int)((r + j) % KINDS);
            times[r][k] = pass(k, n, plain, table, handles);
        }
        for (int k = 0; k < KINDS; k++)
            ratio[r][k] = (double)times[r][k] / (double)(times[r][PLAIN] ? times[r][PLAIN] : 1);
    }
    /* The slow path, for scale: the flag up by hand. */
    uint64_t *slow = calloc((size_t)rounds, sizeof *slow);
    if (!slow)
        return 1;
    tc_barrier_enabled_ = 1;
    for (long r = 0; r < rounds; r++)
        slow[r] = pass(FIELD, n, plain, table, handles);
    tc_barrier_enabled_ = 0;
    printf("weak reads, no collection running: %zu references, %ld interleaved rounds\n", n,
           rounds);
    double med_ns[KINDS], med_ratio[KINDS];
    for (int k = 0; k < KINDS; k++) {
        uint64_t col[rounds];
        double rc[rounds];
        for (long r = 0; r < rounds; r++) {
            col[r] = times[r][k];
            rc[r] = ratio[r][k];
        }
        bench_sort_u64(col, (size_t)rounds);
        bench_sort_double(rc, (size_t)rounds);
        med_ns[k] = (double)col[rounds / 2] / (double)n;
        med_ratio[k] = rc[rounds / 2];
        printf("  %-13s median %6.2f ns a read, %.2fx the plain load\n", kind_name[k],
               med_ns[k], med_ratio[k]);
    }
    bench_sort_u64(slow, (size_t)rounds);
    double slow_ns = (double)slow[rounds / 2] / (double)n;
    printf("  tc_load_weak's slow path (flag set by hand) median %6.2f ns a read\n", slow_ns);
    double handle_bytes = (double)(after.other_sys - before.other_sys) / (double)n;
    printf("  made: the table's stores %.1f ns each; tc_weak_create %.1f ns each, "
           "%.0f bytes each outside the heap\n",
           (double)make_field / (double)n, (double)make_handle / (double)n, handle_bytes);
    printf("RESULT bench=weak refs=%zu rounds=%ld plain_ns=%.2f field_ns=%.2f handle_ns=%.2f "
           "field_ratio=%.3f handle_ratio=%.3f slow_ns=%.2f\n",
           n, rounds, med_ns[PLAIN], med_ns[FIELD], med_ns[HANDLE], med_ratio[FIELD],
           med_ratio[HANDLE], slow_ns);
    for (size_t i = 0; i < n; i++)
        tc_weak_destroy(handles[i]);
    return 0;
}

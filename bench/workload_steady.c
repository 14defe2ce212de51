/* workload_steady.c: a steady-state server cache, for the heap a collector
 * needs to hold a given live set and the CPU it spends doing so.
 *
 * A cache of n slots, each holding an item (a 32-byte object: a pointer to
 * its payload, the key, the payload size and the operation that made it)
 * whose pointer-free payload has a skewed size: 60% 16..128 bytes, 30%
 * 128..1024, 9% 1..8 KiB, 1% 8..32 KiB, filled with the key's low byte
 * but for the last, its second byte (868 bytes per item on average,
 * item included). n = live_mib * 2^20 / 868, so the cache holds about
 * live_mib MiB. It is filled (untimed), then churned: each operation picks
 * a random slot and replaces its item with a new one, so the live heap
 * stays at the target while garbage flows through at the allocation rate.
 * The manual allocators free the item and payload each operation replaces.
 *
 * Figures: ns per operation; the live bytes, counted exactly by the
 * workload; the peak heap the backend holds, sampled every 10,000
 * operations and at the end (the sampling's time is not counted); overhead = peak heap / live; the GC CPU
 * fraction over the churn. The generator (xorshift64*) and the order of
 * its draws are fixed, so every backend and bench/peers/steady.go (the
 * same program in Go) replace the same slots with the same sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define SAMPLE_EVERY 10000
#define MEAN_ITEM 868 /* bytes per item on average, item included */

typedef struct item {
    unsigned char *payload; /* the pointer leads: backend.h's layout */
    uint64_t key, size, made_by;
} item;
_Static_assert(sizeof(item) == 32, "the live accounting counts 32 bytes per item");

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *g)
{
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return g->s * 2685821657736338717u;
}

/* One draw for the size class, one for the size: the Go peer's order. */
static uint64_t draw_size(rng *g)
{
    uint64_t u = next(g) % 100;
    if (u < 60)
        return 16 + next(g) % 113;
    if (u < 90)
        return 128 + next(g) % 897;
    if (u < 99)
        return 1024 + next(g) % 7169;
    return 8192 + next(g) % 24577;
}

static item *new_item(rng *g, const bk_shape *shape, uint64_t key, uint64_t op)
{
    uint64_t sz = draw_size(g);
    unsigned char *p = bk_alloc_atomic(sz);
    /* A server writes what it stores: the whole payload is filled, so every
     * backend's pages are touched (resident memory is the manual
     * allocators' heap figure). */
    memset(p, (unsigned char)key, sz);
    p[sz - 1] = (unsigned char)(key >> 8);
    item *it = bk_alloc(shape);
    bk_store(it, &it->payload, p);
    it->key = key;
    it->size = sz;
    it->made_by = op;
    return it;
}

void WL(steady)(const wl_params *p, wl_result *r);
void WL(steady)(const wl_params *p, wl_result *r)
{
    bk_init();
    memset(r, 0, sizeof *r);
    uint64_t n = (uint64_t)p->live_mib * 1048576u / MEAN_ITEM;
    if (n == 0 || p->seed == 0) {
        fprintf(stderr, "steady: live_mib %zu and seed %llu must be positive\n", p->live_mib,
                (unsigned long long)p->seed);
        exit(2);
    }
    int frees = bk_needs_free();
    snprintf(r->params, sizeof r->params, "live_mib_target=%zu slots=%llu ops=%ld seed=%llu",
             p->live_mib, (unsigned long long)n, p->n, (unsigned long long)p->seed);
    if (!p->quiet)
        printf("steady (%s, %s): a cache of %llu items, about %zu MiB live, %ld replacements\n",
               bk_name(), bk_describe(), (unsigned long long)n, p->live_mib, p->n);

    const bk_shape *shape = bk_shape_get(1, sizeof(item) - sizeof(void *));
    item **slots = bk_alloc(bk_shape_get(n, 0));
    rng g = {p->seed};
    uint64_t live = 0;
    for (uint64_t k = 0; k < n; k++) {
        item *it = new_item(&g, shape, k, 0);
        bk_store(slots, &slots[k], it);
        live += sizeof(item) + it->size;
    }

    bk_stats before, after;
    bench_read_stats(&before);
    r->peak_heap_bytes = before.heap_bytes;
    bk_pauses_begin();
    uint64_t start = bench_now_ns();
    for (long op = 0; op < p->n; op++) {
        uint64_t k = next(&g) % n;
        item *it = new_item(&g, shape, n + (uint64_t)op, (uint64_t)op + 1);
        item *old = slots[k];
        live -= sizeof(item) + old->size;
        live += sizeof(item) + it->size;
        if (frees) {
            bk_free(old->payload);
            bk_free(old);
        }
        bk_store(slots, &slots[k], it);
        if (op % SAMPLE_EVERY == SAMPLE_EVERY - 1)
            bk_sample(r);
    }
    r->wall_ns = bench_now_ns() - start;
    r->start_ns = start;
    bk_sample(r);
    bench_read_stats(&after);

    /* Every item must still hold its payload, intact. */
    uint64_t bad = 0, counted = 0;
    for (uint64_t k = 0; k < n; k++) {
        if ((k & 4095) == 0)
            bk_safepoint();
        const item *it = slots[k];
        counted += sizeof(item) + it->size;
        if (it->payload[0] != (unsigned char)it->key ||
            it->payload[it->size - 1] != (unsigned char)(it->key >> 8))
            bad++;
    }
    if (bad || counted != live)
        fprintf(stderr, "steady: FAILED: %llu of %llu items damaged, %llu bytes counted live "
                        "against %llu tracked\n",
                (unsigned long long)bad, (unsigned long long)n, (unsigned long long)counted,
                (unsigned long long)live);
    if (frees) {
        for (uint64_t k = 0; k < n; k++) {
            bk_free(slots[k]->payload);
            bk_free(slots[k]);
        }
        bk_free(slots);
    }

    r->ops = (uint64_t)p->n;
    r->live_bytes = live;
    bk_summarise(r, &before, &after);
    r->ok = bad == 0 && counted == live;
    r->measured = 1;
}

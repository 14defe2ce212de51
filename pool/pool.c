/* pool.c: pools of reusable objects, emptied a generation per cycle (Go's
 * sync.Pool, with its victim cache).
 *
 * 1. Storage. A pool's entries live in generations: POOL_SHARDS shards,
 *    each a private slot and a bounded lock-free ring (Vyukov's MPMC
 *    queue: a sequence number per cell says whose turn it is). A thread
 *    uses the shard it was given (in turn, so threads share shards once
 *    more than POOL_SHARDS have used pools): put fills the private slot, else the ring; get empties the
 *    private slot, else its ring, else steals from the other shards'
 *    rings, then tries the victim generation the same way, and only then
 *    calls the pool's constructor. A put that finds its ring full drops
 *    the entry (a heap object becomes garbage; a native buffer goes to the
 *    release callback at once).
 * 2. Generations. Each cycle's first stop (a cycle hook, so gc/ never
 *    names this module) rotates every pool: the victim is dropped, the
 *    primary becomes the victim, a fresh generation the primary: three
 *    pointer moves per pool, O(pools), never O(entries). After the cycle,
 *    outside every collector lock, the dropped generations are emptied
 *    (native entries released, counted as dropped) and kept for reuse.
 *    So an entry put before cycle N can be got after N (from the victim)
 *    and is gone after N+1: a pooled object lives at most two cycles
 *    unless taken, and neither it nor what it reaches outlives that.
 * 3. Roots. The primary and victim generations of heap pools are roots (a
 *    root callback traces every occupied slot): malloc'd memory the program
 *    writes with plain stores, as a root range. That is sound under the
 *    snapshot argument of gc/cycle.c: an entry is greyed at the first stop
 *    if it was pooled then, and one put since was reachable by the putting
 *    thread, so marked anyway. A dequeued cell is cleared, so no stale
 *    entry is kept.
 * 4. Threads. get and put need an attached thread outside a blocking
 *    region: a stop waits for such a thread to reach a safepoint, and
 *    neither contains one between loading a generation and finishing with
 *    it, so no rotation happens in the middle of an operation, and the
 *    dropped generation is nobody's when it is emptied.
 *
 * Locks: pool_lock protects the registry, the free generations and the
 * dropped ones; never held across a safepoint, taken by the collector with
 * the world stopped (rotation, roots): its rank (runtime/lock.h) is after
 * world_lock's and roots_lock's, as its root callback runs under both.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "collector.h"

#define POOL_SHARDS 16 /* threads take these in turn; past 16 threads they share */
#define RING_SLOTS 64  /* entries per shard's ring (a power of two) */
#define CACHE_LINE 64

typedef struct cell {
    tci_atomic seq; /* Vyukov: == pos, free for the put at pos; == pos + 1, full */
    tci_atomic val;
} cell;

typedef struct shard {
    tci_atomic priv; /* one entry, taken and put with a CAS */
    char pad0[CACHE_LINE - sizeof(tci_atomic)];
    tci_atomic enq;
    char pad1[CACHE_LINE - sizeof(tci_atomic)];
    tci_atomic deq;
    char pad2[CACHE_LINE - sizeof(tci_atomic)];
    cell cells[RING_SLOTS];
} shard;

typedef struct gen {
    shard shards[POOL_SHARDS];
    struct gen *next; /* on the pool's free or dropped list; pool_lock */
} gen;

/* Per-shard counters, summed by tc_pool_read_counts: written by the
 * threads of that shard (atomic adds), read by anyone. No count of gets:
 * every get is a hit, a victim hit or a miss, and a locked add per get is
 * a fifth of its cost. */
typedef struct counters {
    tci_atomic hits, victim_hits, misses, puts, dropped;
    char pad[CACHE_LINE - 5 * sizeof(tci_atomic)];
} counters;

struct tc_pool {
    void *(*make)(void *arg);
    void (*release)(void *buf, void *arg); /* native pools; NULL for heap pools */
    void *arg;
    /* Written with the world stopped, read by attached running threads. */
    tci_atomic primary, victim;
    gen *free_gens, *dropped; /* pool_lock */
    tc_pool *prev, *next;     /* the registry; pool_lock */
    int busy;                 /* the after-cycle pass releases its entries; pool_lock */
    struct ctr_block *cb;     /* set at creation */
    uint64_t base[5];         /* cb's counts then (hits, victim hits, misses, puts, dropped) */
};


static tci_mutex pool_lock = TCI_MUTEX_INIT(TCI_RANK_POOL, "pool_lock");
TCI_FORK_LOCK(pool_lock)
static pthread_cond_t busy_cond = PTHREAD_COND_INITIALIZER; /* with pool_lock */
TCI_FORK_COND(busy_cond, busy_cond)
static tc_pool *pools;            /* pool_lock */
static void pool_fork_child_locked(void);
/* The hooks: 0 none, 1 being registered, 2 registered, 3 failed. */
static tci_atomic hooks_state;
static tci_atomic next_shard;
static __thread int my_shard = -1;

/* Cache-line aligned memory (C11's aligned_alloc wants the size a
 * multiple of the alignment). */
static void *line_alloc(size_t size)
{
    return aligned_alloc(CACHE_LINE, (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
}

/* A pool's counters live in a block that outlives it: blocks are kept on
 * a list that only grows (a destroyed pool's block is reused by the next
 * pool made, which starts from its counts), so tc_read_memstats sums every
 * pool's counts, past ones included, without a lock. */
typedef struct ctr_block {
    counters ctr[POOL_SHARDS];
    struct ctr_block *all_next;  /* set before publication */
    struct ctr_block *free_next; /* pool_lock */
} ctr_block;
static tci_atomic all_blocks;
static ctr_block *free_blocks; /* pool_lock */

static void block_sum(const ctr_block *b, uint64_t out[5])
{
    for (int s = 0; s < POOL_SHARDS; s++) {
        const counters *c = &b->ctr[s];
        out[0] += tci_atomic_load_relaxed(&c->hits);
        out[1] += tci_atomic_load_relaxed(&c->victim_hits);
        out[2] += tci_atomic_load_relaxed(&c->misses);
        out[3] += tci_atomic_load_relaxed(&c->puts);
        out[4] += tci_atomic_load_relaxed(&c->dropped);
    }
}

/* A counters block for a new pool: a destroyed pool's, or a new one
 * published on all_blocks. NULL when out of memory. */
static ctr_block *block_take(void)
{
    tci_mutex_lock(&pool_lock); /* released below */
    ctr_block *cb = free_blocks;
    if (cb)
        free_blocks = cb->free_next;
    tci_mutex_unlock(&pool_lock);
    if (cb)
        return cb;
    cb = line_alloc(sizeof *cb);
    if (!cb)
        return NULL;
    memset(cb, 0, sizeof *cb);
    /* Published whole: partner the acquire in pool_totals. */
    cb->all_next = (ctr_block *)tci_atomic_load_relaxed(&all_blocks);
    while (!tci_atomic_cas_full(&all_blocks, (uintptr_t)cb->all_next, (uintptr_t)cb))
        cb->all_next = (ctr_block *)tci_atomic_load_relaxed(&all_blocks);
    return cb;
}

/* tc_read_memstats' pool figures (registered with tci_stats_set_pool_totals). */
static void pool_totals(uint64_t out[6])
{
    memset(out, 0, 6 * sizeof *out);
    for (ctr_block *b = (ctr_block *)tci_atomic_load_acquire(&all_blocks); b; b = b->all_next)
        block_sum(b, out);
}

static gen *gen_new(void)
{
    gen *g = line_alloc(sizeof(gen));
    if (!g)
        return NULL;
    memset(g, 0, sizeof *g);
    for (int s = 0; s < POOL_SHARDS; s++)
        for (uintptr_t i = 0; i < RING_SLOTS; i++)
            tci_atomic_store_relaxed(&g->shards[s].cells[i].seq, i);
    return g;
}

/* ---- One shard's ring (Vyukov's bounded MPMC queue) ----------------------- */

static int ring_put(shard *sh, uintptr_t v)
{
    uintptr_t pos = tci_atomic_load_relaxed(&sh->enq);
    for (;;) {
        cell *c = &sh->cells[pos & (RING_SLOTS - 1)];
        intptr_t dif = (intptr_t)tci_atomic_load_acquire(&c->seq) - (intptr_t)pos;
        if (dif == 0) {
            if (tci_atomic_cas_full(&sh->enq, pos, pos + 1)) {
                tci_atomic_store_relaxed(&c->val, v);
                tci_atomic_store_release(&c->seq, pos + 1);
                return 1;
            }
            pos = tci_atomic_load_relaxed(&sh->enq);
        } else if (dif < 0) {
            return 0; /* full */
        } else {
            pos = tci_atomic_load_relaxed(&sh->enq);
        }
    }
}

static uintptr_t ring_get(shard *sh)
{
    uintptr_t pos = tci_atomic_load_relaxed(&sh->deq);
    for (;;) {
        cell *c = &sh->cells[pos & (RING_SLOTS - 1)];
        intptr_t dif = (intptr_t)tci_atomic_load_acquire(&c->seq) - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (tci_atomic_cas_full(&sh->deq, pos, pos + 1)) {
                uintptr_t v = tci_atomic_load_relaxed(&c->val);
                tci_atomic_store_relaxed(&c->val, 0); /* no stale root */
                tci_atomic_store_release(&c->seq, pos + RING_SLOTS);
                return v;
            }
            pos = tci_atomic_load_relaxed(&sh->deq);
        } else if (dif < 0) {
            return 0; /* empty */
        } else {
            pos = tci_atomic_load_relaxed(&sh->deq);
        }
    }
}

static uintptr_t priv_take(shard *sh)
{
    for (;;) {
        uintptr_t v = tci_atomic_load_relaxed(&sh->priv);
        if (!v || tci_atomic_cas_full(&sh->priv, v, 0))
            return v;
    }
}

/* An entry from generation g: the caller's shard first, then the others. */
static uintptr_t gen_get(gen *g, int me)
{
    shard *sh = &g->shards[me];
    uintptr_t v = priv_take(sh);
    if (v || (v = ring_get(sh)))
        return v;
    for (int i = 1; i < POOL_SHARDS; i++) {
        shard *o = &g->shards[(me + i) % POOL_SHARDS];
        if ((v = priv_take(o)) || (v = ring_get(o)))
            return v;
    }
    return 0;
}

/* ---- The API ---------------------------------------------------------------- */

static int shard_of_caller(void)
{
    if (my_shard < 0)
        my_shard = (int)(tci_atomic_add_full(&next_shard, 1) % POOL_SHARDS);
    return my_shard;
}

static void pool_rotate_stw(void);
static void pool_after_cycle(void);
static void pool_roots(tc_tracer *tr, void *arg);

/* Registers the cycle hook and the root callback once. The thread that
 * wins registers (taking world_lock, which copes with a stop); the others
 * wait at safepoints, so a stop meanwhile is not held up. No pool exists
 * before the hooks do: its entries would be nobody's roots. */
static int ensure_hooks(const char *fn)
{
    for (;;) {
        uintptr_t st = tci_atomic_load_acquire(&hooks_state);
        if (st == 2)
            return 0;
        if (st == 3) {
            errno = ENOMEM;
            return -1;
        }
        if (st == 0 && tci_atomic_cas_full(&hooks_state, 0, 1)) {
            int ok = tci_cycle_hook_add(pool_rotate_stw, pool_after_cycle) == 0 &&
                     tc_root_callback_add(pool_roots, NULL) == 0 &&
                     tci_fork_add_child(pool_fork_child_locked, NULL) == 0;
            if (ok)
                tci_stats_set_pool_totals(pool_totals);
            if (!ok)
                fprintf(stderr, "tricolor: %s: could not register the pools' cycle hooks\n",
                        fn);
            tci_atomic_store_release(&hooks_state, ok ? 2 : 3);
            continue;
        }
        tc_safepoint();
    }
}

static tc_pool *pool_create(void *(*make)(void *arg), void (*release)(void *, void *),
                            void *arg, const char *fn)
{
    if (tci_cache_check_thread(fn) || ensure_hooks(fn))
        return NULL;
    tc_pool *p = line_alloc(sizeof *p);
    gen *a = gen_new(), *b = gen_new(), *spare = gen_new();
    ctr_block *cb = p && a && b && spare ? block_take() : NULL;
    if (!cb) {
        free(p);
        free(a);
        free(b);
        free(spare);
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, sizeof *p);
    p->cb = cb;
    block_sum(cb, p->base);
    p->free_gens = spare; /* the first rotation's: none is made in a stop */
    p->make = make;
    p->release = release;
    p->arg = arg;
    tci_atomic_store_relaxed(&p->primary, (uintptr_t)a);
    tci_atomic_store_relaxed(&p->victim, (uintptr_t)b);
    tci_mutex_lock(&pool_lock); /* released below */
    p->prev = NULL;
    p->next = pools;
    if (pools)
        pools->prev = p;
    pools = p;
    tci_mutex_unlock(&pool_lock);
    return p;
}

tc_pool *tc_pool_create(void *(*make)(void *arg), void *arg)
{
    return pool_create(make, NULL, arg, "tc_pool_create");
}

tc_pool *tc_pool_create_native(void *(*make)(void *arg), void (*release)(void *buf, void *arg),
                               void *arg)
{
    if (!release) {
        fprintf(stderr, "tricolor: tc_pool_create_native: a native pool needs a release "
                        "function\n");
        errno = EINVAL;
        return NULL;
    }
    return pool_create(make, release, arg, "tc_pool_create_native");
}

void *tc_pool_get(tc_pool *p)
{
    if (!p || tci_cache_check_thread("tc_pool_get"))
        return NULL;
    int me = shard_of_caller();
    counters *c = &p->cb->ctr[me];
    uintptr_t v = gen_get((gen *)tci_atomic_load_relaxed(&p->primary), me);
    if (v) {
        tci_atomic_add_full(&c->hits, 1);
        return (void *)v;
    }
    v = gen_get((gen *)tci_atomic_load_relaxed(&p->victim), me);
    if (v) {
        tci_atomic_add_full(&c->victim_hits, 1);
        return (void *)v;
    }
    tci_atomic_add_full(&c->misses, 1);
    return p->make ? p->make(p->arg) : NULL;
}

void tc_pool_put(tc_pool *p, void *obj)
{
    if (!p || !obj || tci_cache_check_thread("tc_pool_put"))
        return;
    int me = shard_of_caller();
    counters *c = &p->cb->ctr[me];
    tci_atomic_add_full(&c->puts, 1);
    shard *sh = &((gen *)tci_atomic_load_relaxed(&p->primary))->shards[me];
    if (tci_atomic_cas_full(&sh->priv, 0, (uintptr_t)obj) || ring_put(sh, (uintptr_t)obj))
        return;
    tci_atomic_add_full(&c->dropped, 1);
    if (p->release)
        p->release(obj, p->arg); /* the caller's thread, no lock held */
}

/* Empties g: native entries released, every entry counted as dropped (on
 * counter set 0). Nobody else holds g. */
static void gen_empty(tc_pool *p, gen *g)
{
    uint64_t n = 0;
    for (int s = 0; s < POOL_SHARDS; s++) {
        shard *sh = &g->shards[s];
        uintptr_t v = priv_take(sh);
        if (v) {
            n++;
            if (p->release)
                p->release((void *)v, p->arg);
        }
        while ((v = ring_get(sh))) {
            n++;
            if (p->release)
                p->release((void *)v, p->arg);
        }
    }
    if (n)
        tci_atomic_add_full(&p->cb->ctr[0].dropped, n);
}

/* The child of a fork, every lock held: an after-cycle pass that was
 * releasing a pool's entries went with the collector's thread (its list of
 * generations with it); no pool stays busy for good. */
static void pool_fork_child_locked(void)
{
    tci_assert_held(&pool_lock);
    for (tc_pool *p = pools; p; p = p->next)
        p->busy = 0;
}

void tc_pool_destroy(tc_pool *p)
{
    if (!p || tci_cache_check_thread("tc_pool_destroy"))
        return;
    /* Waits (a blocking region: a release callback may need a collection)
     * while an after-cycle pass is releasing this pool's entries. */
    tc_blocking_begin();
    tci_mutex_lock(&pool_lock); /* released below */
    while (p->busy)
        tci_cond_wait(&busy_cond, &pool_lock);
    if (p->prev)
        p->prev->next = p->next;
    else
        pools = p->next;
    if (p->next)
        p->next->prev = p->prev;
    gen *dropped = p->dropped, *free_gens = p->free_gens;
    p->dropped = p->free_gens = NULL;
    tci_mutex_unlock(&pool_lock);
    tc_blocking_end();
    /* Out of the registry: no rotation or root scan sees it any more, and
     * the caller promises no other thread uses it. */
    gen *all[2] = {(gen *)tci_atomic_load_relaxed(&p->primary),
                   (gen *)tci_atomic_load_relaxed(&p->victim)};
    for (int i = 0; i < 2; i++) {
        gen_empty(p, all[i]);
        free(all[i]);
    }
    for (gen *g = dropped, *next; g; g = next) {
        next = g->next;
        gen_empty(p, g);
        free(g);
    }
    for (gen *g = free_gens, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    tci_mutex_lock(&pool_lock); /* released below */
    p->cb->free_next = free_blocks;
    free_blocks = p->cb;
    tci_mutex_unlock(&pool_lock);
    free(p);
}

void tc_pool_read_counts(tc_pool *p, tc_pool_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!p)
        return;
    uint64_t c[5] = {0};
    block_sum(p->cb, c);
    out->hits = c[0] - p->base[0];
    out->victim_hits = c[1] - p->base[1];
    out->misses = c[2] - p->base[2];
    out->puts = c[3] - p->base[3];
    out->dropped = c[4] - p->base[4];
    out->gets = out->hits + out->victim_hits + out->misses;
}
/* ---- The collector's side ------------------------------------------------- */

/* World stopped, first stop of a cycle. The fresh generation comes from
 * the pool's free list (a spare from tc_pool_create, then each dropped
 * one once the after-cycle pass has emptied it). Nothing is allocated in
 * the stop: if the list is empty (stopped collections back to back before
 * the pass ran) the pool skips this rotation, and its entries live a
 * cycle longer. */
static void pool_rotate_stw(void)
{
    tci_mutex_lock(&pool_lock); /* released below */
    for (tc_pool *p = pools; p; p = p->next) {
        gen *fresh = p->free_gens;
        if (!fresh)
            continue;
        p->free_gens = fresh->next;
        gen *old = (gen *)tci_atomic_load_relaxed(&p->victim);
        old->next = p->dropped;
        p->dropped = old;
        tci_atomic_store_relaxed(&p->victim, tci_atomic_load_relaxed(&p->primary));
        tci_atomic_store_relaxed(&p->primary, (uintptr_t)fresh);
    }
    tci_mutex_unlock(&pool_lock);
}

/* After a cycle, world running, no collector lock held: the dropped
 * generations are emptied (release callbacks run here, without pool_lock)
 * and kept for the next rotations. A dropped list taken here belongs to
 * this call alone. */
static void pool_after_cycle(void)
{
    tci_mutex_lock(&pool_lock); /* released below */
    for (tc_pool *p = pools; p; p = p->next) {
        gen *list = p->dropped;
        p->dropped = NULL;
        if (!list)
            continue;
        if (p->release) {
            /* Native: release outside pool_lock; busy keeps
             * tc_pool_destroy off the pool meanwhile. */
            p->busy++;
            tci_mutex_unlock(&pool_lock);
            for (gen *g = list; g; g = g->next)
                gen_empty(p, g);
            tci_mutex_lock(&pool_lock);
            if (--p->busy == 0)
                pthread_cond_broadcast(&busy_cond);
        } else {
            for (gen *g = list; g; g = g->next)
                gen_empty(p, g);
        }
        gen *last = list;
        while (last->next)
            last = last->next;
        last->next = p->free_gens;
        p->free_gens = list;
    }
    tci_mutex_unlock(&pool_lock);
}

static void pool_roots(tc_tracer *tr, void *arg)
{
    (void)arg;
    tci_mutex_lock(&pool_lock); /* released below */
    for (tc_pool *p = pools; p; p = p->next) {
        if (p->release)
            continue; /* native buffers are not heap objects */
        gen *gs[2] = {(gen *)tci_atomic_load_relaxed(&p->primary),
                      (gen *)tci_atomic_load_relaxed(&p->victim)};
        for (int i = 0; i < 2; i++)
            for (int s = 0; s < POOL_SHARDS; s++) {
                shard *sh = &gs[i]->shards[s];
                uintptr_t v = tci_atomic_load_relaxed(&sh->priv);
                if (v)
                    tc_trace(tr, (void *)v);
                for (int k = 0; k < RING_SLOTS; k++)
                    if ((v = tci_atomic_load_relaxed(&sh->cells[k].val)))
                        tc_trace(tr, (void *)v);
            }
    }
    tci_mutex_unlock(&pool_lock);
}

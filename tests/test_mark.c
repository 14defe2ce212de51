/* test_mark.c: what marking keeps alive and what it does not: pointer
 * fields of precise types (and not their scalar fields), interior
 * pointers, traced types, arrays, and a list too long for recursion.
 * Every collection runs the heap verifier (TRICOLOR_DEBUG=verify=1).
 *
 * Objects are built in out-of-line functions that return them hidden (or
 * store them in the root slots), so no register or stale frame slot of a
 * test keeps them alive by accident. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "testutil.h"
#include "tricolor.h"
#include "type.h" /* report_retainers: a node's type id */

#define NOINLINE __attribute__((noinline))

/* Conservative roots of every test, registered once. */
static uintptr_t roots[16];

typedef struct pair {
    void *a;      /* pointer */
    uintptr_t x;  /* scalar */
    void *b;      /* pointer */
} pair;
static const tc_type *t_pair;

typedef struct holder {
    void *ptr;        /* pointer */
    uintptr_t scalar; /* scalar: may hold an address, which must not count */
} holder;
static const tc_type *t_holder;

/* Same size as holder, pointers the other way round: both share spans. */
static const tc_type *t_holder_rev;

typedef struct node {
    struct node *next;
    uintptr_t value;
} node;
static const tc_type *t_node;

/* A traced object: n words, each a pointer hidden by test_hide. */
typedef struct hidden_vec {
    size_t n;
    uintptr_t hidden[];
} hidden_vec;
static const tc_type *t_hidden_vec;
static tci_atomic traced_bad_size;

static void trace_hidden_vec(void *obj, size_t size, tc_tracer *tr)
{
    hidden_vec *v = obj;
    if (size < sizeof *v + v->n * sizeof(uintptr_t))
        tci_atomic_store_relaxed(&traced_bad_size, 1);
    for (size_t i = 0; i < v->n; i++)
        tc_trace(tr, test_unhide(v->hidden[i]));
}

static uint64_t frees(void)
{
    return test_stats().frees;
}

static uint64_t heap_objects(void)
{
    return test_stats().heap_objects;
}

/* A pointer-free object whose bytes are a function of tag. */
static void *referent(size_t size, uintptr_t tag)
{
    void *p = test_pattern_alloc(size, tag);
    assert_non_null(p);
    return p;
}

static void check_referent(const void *p, size_t size, uintptr_t tag, const char *what)
{
    if (!test_is_live(p))
        fail_msg("%s: object %p (tag %lu) was freed", what, p, (unsigned long)tag);
    if (!test_pattern_ok(p, size, tag))
        fail_msg("%s: object %p (tag %lu) overwritten", what, p, (unsigned long)tag);
}

static void collect_twice(void)
{
    test_collect();
    test_collect();
}

/* ---- precise pointer fields ---------------------------------------------- */

static NOINLINE void build_pair(void)
{
    pair *p = tc_alloc(t_pair);
    assert_non_null(p);
    p->a = referent(64, 1);
    p->b = referent(1000, 2);
    p->x = 12345;
    roots[0] = (uintptr_t)p;
}

static void test_mark_pointer_fields_keep_referents(void **state)
{
    (void)state;
    build_pair();
    collect_twice();
    pair *p = (pair *)roots[0];
    assert_true(test_is_live(p));
    check_referent(p->a, 64, 1, "pair.a");
    check_referent(p->b, 1000, 2, "pair.b");
    assert_int_equal(p->x, 12345);
    roots[0] = 0;
}

enum { NSCALAR = 1000 };

/* An array of holders whose scalar fields hold the only references to
 * NSCALAR objects; returns the hidden referents through out. */
static NOINLINE void build_scalar_refs(uintptr_t *out)
{
    holder *h = tc_alloc_array(t_holder, NSCALAR);
    assert_non_null(h);
    roots[0] = (uintptr_t)h;
    for (size_t i = 0; i < NSCALAR; i++) {
        void *r = referent(48, i);
        h[i].scalar = (uintptr_t)r;
        out[i] = test_hide(r);
    }
}

static void test_mark_scalar_field_does_not_keep_referent(void **state)
{
    (void)state;
    uintptr_t *hidden = malloc(NSCALAR * sizeof *hidden);
    assert_non_null(hidden);
    test_collect();
    uint64_t objects0 = heap_objects();
    build_scalar_refs(hidden);
    uint64_t objects1 = heap_objects();
    assert_true(objects1 >= objects0 + NSCALAR + 1);
    uint64_t frees0 = frees();
    collect_twice();
    holder *h = (holder *)roots[0];
    assert_true(test_is_live(h));
    int survivors = 0;
    for (size_t i = 0; i < NSCALAR; i++) {
        assert_int_equal(h[i].scalar, (uintptr_t)test_unhide(hidden[i]));
        survivors += test_is_live(test_unhide(hidden[i]));
    }
    uint64_t freed = frees() - frees0;
    uint64_t objects2 = heap_objects();
    /* A word or two of stack may still hold a referent: allow 2. */
    if (survivors > 2 || freed < NSCALAR - 2 || objects2 > objects0 + 1 + 2)
        fail_msg("referents only in scalar fields: %d of %d survived, %llu freed, "
                 "heap_objects %llu -> %llu -> %llu", survivors, NSCALAR,
                 (unsigned long long)freed, (unsigned long long)objects0,
                 (unsigned long long)objects1, (unsigned long long)objects2);
    roots[0] = 0;
    free(hidden);
}

/* Two types of one size in the same spans: each slot is scanned by its own
 * type's layout. */
static NOINLINE void build_mixed(uintptr_t *hidden_scalar)
{
    enum { N = 64 };
    holder **arr = tc_alloc_conservative(N * sizeof(void *));
    assert_non_null(arr);
    roots[1] = (uintptr_t)arr;
    for (size_t i = 0; i < N; i++) {
        holder *h = tc_alloc(i % 2 ? t_holder_rev : t_holder);
        assert_non_null(h);
        void *keep = referent(32, 100 + i);
        void *drop = referent(32, 200 + i);
        if (i % 2) { /* t_holder_rev: the pointer is the second word */
            h->scalar = (uintptr_t)keep;
            h->ptr = drop;
        } else {
            h->ptr = keep;
            h->scalar = (uintptr_t)drop;
        }
        hidden_scalar[i] = test_hide(drop);
        arr[i] = h;
    }
}

static void test_mark_slot_types_in_shared_span(void **state)
{
    (void)state;
    enum { N = 64 };
    uintptr_t hidden[N];
    build_mixed(hidden);
    collect_twice();
    holder **arr = (holder **)roots[1];
    int survivors = 0, shared = 0;
    for (size_t i = 0; i < N; i++) {
        holder *h = arr[i];
        void *keep = i % 2 ? (void *)h->scalar : h->ptr;
        check_referent(keep, 32, 100 + i, "pointer field");
        survivors += test_is_live(test_unhide(hidden[i]));
        shared += i > 0 && tci_span_of((uintptr_t)arr[i]) == tci_span_of((uintptr_t)arr[i - 1]);
    }
    assert_true(shared > 0);
    if (survivors > 2)
        fail_msg("%d of %d objects referenced only from scalar fields survived", survivors, N);
    roots[1] = 0;
}

/* ---- interior pointers ------------------------------------------------- */

static NOINLINE void build_interior_conservative(void)
{
    uintptr_t *c = tc_alloc_conservative(64);
    assert_non_null(c);
    char *t1 = referent(256, 11);
    char *t2 = referent(256, 12);
    char *t3 = referent(100 * 1024, 13);
    c[0] = (uintptr_t)(t1 + 100);        /* middle */
    c[3] = (uintptr_t)(t2 + 255);        /* last byte */
    c[7] = (uintptr_t)(t3 + 77777);      /* middle of a large object */
    roots[2] = (uintptr_t)c;
}

static void test_mark_interior_pointer_in_conservative_object(void **state)
{
    (void)state;
    build_interior_conservative();
    collect_twice();
    uintptr_t *c = (uintptr_t *)roots[2];
    assert_true(test_is_live(c));
    check_referent((char *)c[0] - 100, 256, 11, "interior pointer");
    check_referent((char *)c[3] - 255, 256, 12, "pointer to the last byte");
    check_referent((char *)c[7] - 77777, 100 * 1024, 13, "interior pointer, large object");
    roots[2] = 0;
}

static NOINLINE void build_interior_precise(void)
{
    pair *p = tc_alloc(t_pair);
    assert_non_null(p);
    p->a = (char *)referent(512, 21) + 300;
    p->b = (char *)referent(40000, 22) + 39999;
    roots[3] = (uintptr_t)p;
}

static void test_mark_interior_pointer_in_precise_field(void **state)
{
    (void)state;
    build_interior_precise();
    collect_twice();
    pair *p = (pair *)roots[3];
    check_referent((char *)p->a - 300, 512, 21, "interior pointer field");
    check_referent((char *)p->b - 39999, 40000, 22, "pointer field to the last byte");
    roots[3] = 0;
}

static uintptr_t interior_root[2];

static NOINLINE void build_interior_root(void)
{
    interior_root[0] = (uintptr_t)((char *)referent(1024, 31) + 17); /* unaligned */
    interior_root[1] = (uintptr_t)((char *)referent(64, 32) + 63);
}

static void test_mark_interior_pointer_in_root_range(void **state)
{
    (void)state;
    assert_int_equal(tc_root_add(interior_root, sizeof interior_root), 0);
    build_interior_root();
    collect_twice();
    check_referent((char *)interior_root[0] - 17, 1024, 31, "interior root");
    check_referent((char *)interior_root[1] - 63, 64, 32, "root to the last byte");
    tc_root_remove(interior_root);
    interior_root[0] = interior_root[1] = 0;
}

/* ---- traced types ------------------------------------------------------ */

enum { NTRACED = 200 };

static NOINLINE void build_traced(void)
{
    hidden_vec *v = tc_alloc_sized(t_hidden_vec, sizeof *v + NTRACED * sizeof(uintptr_t));
    assert_non_null(v);
    roots[4] = (uintptr_t)v;
    for (size_t i = 0; i < NTRACED; i++) {
        v->hidden[i] = test_hide(referent(24 + i, 300 + i));
        v->n = i + 1;
    }
}

static void test_mark_traced_type_keeps_what_it_reports(void **state)
{
    (void)state;
    tci_atomic_store_relaxed(&traced_bad_size, 0);
    build_traced();
    collect_twice();
    hidden_vec *v = (hidden_vec *)roots[4];
    assert_int_equal(v->n, NTRACED);
    for (size_t i = 0; i < NTRACED; i++)
        check_referent(test_unhide(v->hidden[i]), 24 + i, 300 + i, "traced");
    assert_int_equal(tci_atomic_load_relaxed(&traced_bad_size), 0);

    /* The callback is their only reference: once it stops reporting them
     * they go. */
    uint64_t frees0 = frees();
    v->n = 0;
    collect_twice();
    int survivors = 0;
    for (size_t i = 0; i < NTRACED; i++)
        survivors += test_is_live(test_unhide(v->hidden[i]));
    if (survivors > 2 || frees() - frees0 < NTRACED - 2)
        fail_msg("after the callback stopped reporting them %d of %d survived", survivors,
                 NTRACED);
    roots[4] = 0;
}

/* ---- arrays ------------------------------------------------------------ */

static NOINLINE void build_pair_array(size_t n, int slot)
{
    pair *arr = tc_alloc_array(t_pair, n);
    assert_non_null(arr);
    assert_true(tc_object_size(arr) >= n * sizeof(pair));
    roots[slot] = (uintptr_t)arr;
    for (size_t i = 0; i < n; i++) {
        arr[i].a = referent(16, 2 * i);
        arr[i].b = referent(48, 2 * i + 1);
        arr[i].x = (uintptr_t)referent(16, 7); /* scalar: not kept */
    }
}

static void check_pair_array(size_t n, int slot)
{
    pair *arr = (pair *)roots[slot];
    assert_true(test_is_live(arr));
    int survivors = 0;
    for (size_t i = 0; i < n; i++) {
        check_referent(arr[i].a, 16, 2 * i, "array element .a");
        check_referent(arr[i].b, 48, 2 * i + 1, "array element .b");
        survivors += test_is_live((void *)arr[i].x);
    }
    if (survivors > 2)
        fail_msg("%d of %zu objects referenced from the scalar field survived", survivors, n);
    roots[slot] = 0;
}

static void test_mark_array_elements_keep_referents(void **state)
{
    (void)state;
    build_pair_array(1000, 5);      /* 24000 bytes: a small span */
    build_pair_array(20000, 6);     /* 480000 bytes: a large object */
    collect_twice();
    check_pair_array(1000, 5);
    check_pair_array(20000, 6);
}

/* ---- one object of a type with a million pointer fields ---------------- */

enum { WIDE_FIELDS = 1 << 20, WIDE_EVERY = 1024 };

/* A type of WIDE_FIELDS pointer fields (8 MiB, 64 of the marker's chunks),
 * one object of it in roots[8], every WIDE_EVERY-th field holding a pair
 * whose `x` says which field it is in. */
static NOINLINE const tc_type *build_wide(void)
{
    size_t *offs = malloc(WIDE_FIELDS * sizeof *offs);
    assert_non_null(offs);
    for (size_t i = 0; i < WIDE_FIELDS; i++)
        offs[i] = i * sizeof(void *);
    const tc_type *t = tc_type_new("wide", WIDE_FIELDS * sizeof(void *), offs, WIDE_FIELDS);
    free(offs);
    assert_non_null(t);
    void **w = tc_alloc(t);
    assert_non_null(w);
    roots[8] = (uintptr_t)w;
    for (size_t i = 0; i < WIDE_FIELDS; i += WIDE_EVERY) {
        pair *p = tc_alloc(t_pair);
        assert_non_null(p);
        p->x = i;
        tc_store(w, &w[i], p);
    }
    return t;
}

/* Regression (issue 15): each chunk of a one-element object scanned all of
 * the element's slots, 64 times a million reads for this one, and a mark
 * of 4 million fields took 10 s. A mark reads each slot once. */
static void test_mark_wide_type_reads_each_slot_once(void **state)
{
    (void)state;
    build_wide();
    test_collect(); /* the pairs (allocated before) are out of any mark now */
    uint64_t before = tci_mark_slots_read();
    test_collect();
    uint64_t read = tci_mark_slots_read() - before;
    /* The wide object's slots, the pairs' (2 each), and whatever else of
     * the earlier tests' objects is still live: far under twice as many. */
    if (read < WIDE_FIELDS || read > 2 * (uint64_t)WIDE_FIELDS)
        fail_msg("one mark read %llu slots for an object of %d",
                 (unsigned long long)read, WIDE_FIELDS);
    void **w = (void **)roots[8];
    for (size_t i = 0; i < WIDE_FIELDS; i += WIDE_EVERY) {
        pair *p = w[i];
        if (!test_is_live(p) || p->x != i)
            fail_msg("field %zu lost its pair", i);
    }
    roots[8] = 0;
    test_collect();
}

/* ---- a long list ------------------------------------------------------- */

enum { LIST_LEN = 10 * 1000 * 1000 };

static NOINLINE void build_list(void)
{
    node *head = NULL;
    for (uintptr_t i = 0; i < LIST_LEN; i++) {
        node *n = tc_alloc(t_node);
        assert_non_null(n);
        n->value = i;
        n->next = head;
        head = n;
    }
    roots[7] = (uintptr_t)head;
}

/* On a fresh stack, and with this thread's stack cleared: the test demands
 * that the dropped list is freed, and a conservative scan of a stack that
 * earlier tests used may find a stale word (under ASan one kept the
 * previous test's 40,001 objects). */
/* Walks the list in a frame of its own, which is gone (and its stack
 * cleared by test_collect) before the list is dropped and collected: no
 * copy of a node pointer outlives it in the caller's frame or registers. */
static NOINLINE size_t check_list(void)
{
    uintptr_t want = LIST_LEN;
    size_t count = 0;
    for (node *n = (node *)roots[7]; n; n = n->next) {
        if (n->value != --want)
            fail_msg("node %zu holds %lu, expected %lu", count, (unsigned long)n->value,
                     (unsigned long)want);
        count++;
    }
    return count;
}

/* The words of [lo, hi) that point into an allocated node, printed with
 * how many nodes each reaches: what a conservative scan of that range
 * would keep. Read word by word (red zones included, other threads'
 * frames too). */
static TCI_NO_SANITIZE size_t report_words(const char *what, uintptr_t lo, uintptr_t hi)
{
    size_t found = 0;
    for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        uintptr_t w = *(const volatile uintptr_t *)a;
        tci_span *s;
        uint32_t idx;
        uintptr_t obj = tci_find_object(w, &s, &idx);
        if (!obj || tci_span_state(s) != TCI_SPAN_SMALL || s->kind != TCI_KIND_PRECISE ||
            s->types[idx] != t_node->id)
            continue;
        size_t reach = 0;
        for (const node *n = (const node *)obj; n && reach <= LIST_LEN; n = n->next)
            reach++;
        fprintf(stderr, "  %s: word at %#lx holds %#lx, node %#lx (value %lu), reaching %zu nodes\n",
                what, (unsigned long)a, (unsigned long)w, (unsigned long)obj,
                (unsigned long)((const node *)obj)->value, reach);
        found++;
    }
    return found;
}

/* On failure only: which root words keep nodes of the dropped list (the
 * library's conservative roots: every attached thread's spilled frame and
 * stack from its published frame, this one's from here, and the root
 * slots), so that a rare failure names its cause. The other attached
 * thread (the test's main one) is inside a blocking region, its frame
 * published; world_lock keeps the thread list still. */
static NOINLINE void report_retainers(void)
{
    tci_thread *self = tci_thread_self();
    size_t found = report_words("roots[]", (uintptr_t)roots, (uintptr_t)(roots + 16));
    tci_world_lock(self);
    for (tci_thread *t = tci_thread_first(); t; t = t->next) {
        char what[64];
        uintptr_t lo = t == self ? (uintptr_t)__builtin_frame_address(0) : t->stack_lo;
        snprintf(what, sizeof what, "thread %p spill", (void *)t);
        if (t != self && t->spill_words)
            found += report_words(what, (uintptr_t)t->spill,
                                  (uintptr_t)(t->spill + t->spill_words));
        snprintf(what, sizeof what, "thread %p%s stack", (void *)t, t == self ? " (this)" : "");
        found += report_words(what, lo, t->stack_hi);
    }
    tci_world_unlock();
    fprintf(stderr, "  %zu root words point at nodes%s\n", found,
            found ? "" : ": the nodes are kept by no root (marks, alloc bits or a heap object)");
}

static void ten_million_list_body(void *arg)
{
    (void)arg;
    build_list();
    tc_collect();
    tc_memstats ms;
    tc_read_memstats(&ms);
    assert_true(ms.live_bytes >= (uint64_t)LIST_LEN * sizeof(node));
    assert_int_equal(check_list(), LIST_LEN);
    roots[7] = 0;
    collect_twice();
    tc_read_memstats(&ms);
    if (!(ms.live_bytes < (uint64_t)LIST_LEN * sizeof(node) / 100)) {
        report_retainers();
        fail_msg("after dropping the list: live_bytes %llu",
                 (unsigned long long)ms.live_bytes);
    }
}

static void test_mark_ten_million_list(void **state)
{
    (void)state;
    /* This thread stays attached (blocked) while the body runs: its stack,
     * where earlier tests' frames were, is scanned too. */
    test_clear_stack();
    test_run_on_fresh_stack(ten_million_list_body, NULL);
}

static int setup(void **state)
{
    (void)state;
    /* Before tc_init: every collection verifies its marks. */
    if (test_init_verified() != 0)
        return -1;
    static const size_t pair_offs[] = { offsetof(pair, a), offsetof(pair, b) };
    static const size_t holder_offs[] = { offsetof(holder, ptr) };
    static const size_t holder_rev_offs[] = { offsetof(holder, scalar) };
    static const size_t node_offs[] = { offsetof(node, next) };
    t_pair = tc_type_new("pair", sizeof(pair), pair_offs, 2);
    t_holder = tc_type_new("holder", sizeof(holder), holder_offs, 1);
    t_holder_rev = tc_type_new("holder_rev", sizeof(holder), holder_rev_offs, 1);
    t_node = tc_type_new("node", sizeof(node), node_offs, 1);
    t_hidden_vec = tc_type_new_traced("hidden_vec", sizeof(hidden_vec), trace_hidden_vec);
    if (!t_pair || !t_holder || !t_holder_rev || !t_node || !t_hidden_vec)
        return -1;
    return tc_root_add(roots, sizeof roots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_pointer_fields_keep_referents),
        cmocka_unit_test(test_mark_scalar_field_does_not_keep_referent),
        cmocka_unit_test(test_mark_slot_types_in_shared_span),
        cmocka_unit_test(test_mark_interior_pointer_in_conservative_object),
        cmocka_unit_test(test_mark_interior_pointer_in_precise_field),
        cmocka_unit_test(test_mark_interior_pointer_in_root_range),
        cmocka_unit_test(test_mark_traced_type_keeps_what_it_reports),
        cmocka_unit_test(test_mark_array_elements_keep_referents),
        cmocka_unit_test(test_mark_wide_type_reads_each_slot_once),
        cmocka_unit_test(test_mark_ten_million_list),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

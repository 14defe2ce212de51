/* test_store_range.c: the bulk stores (tc_store_range, tc_fill_range).
 *
 * Under a deletion (snapshot) barrier a bulk move must shade every word
 * it overwrites: an object whose last reference a move overwrites during
 * a mark was reachable at the mark's start, and the mark must keep it
 * this cycle (the next one frees it). The held-mark tests hold a
 * concurrent mark right after its first stop (the gate: barrier on, roots
 * grey, nothing scanned), run a seeded sequence of inserts, deletes,
 * general moves (overlapping, both directions) and fills over a vector
 * checked against a model moved with memmove, then grow the vector into
 * one allocated black during the mark and clear the old one (the case
 * where unshaded overwrites lose reachable objects, which checkmark,
 * set for this binary, would report). Then: the vector equals the model,
 * every object that existed survived the held cycle intact, and after
 * one more cycle exactly the ones the vector holds are left. The same
 * for a precise type of 31 slots (moves inside one record, then into a
 * black one). Also: idle moves are memmove's; bad input is refused with
 * a message (in a child); and a thread rotates a vector while cycles
 * run unheld.
 *
 * All building and checking runs on fresh stacks (test_fresh_call), so no
 * stale word of the main thread's keeps a dropped object alive.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "child.h"
#include "testutil.h"
#include "tricolor.h"

typedef test_node node;

enum { CAP = 256, INIT = 128, OPS = 400, MAXNODES = INIT + OPS + 8 };

/* A root area, written with plain stores. */
static struct {
    node **vec;   /* the vector (tc_alloc_array of the one-slot type) */
    struct rec *rec;
} roots;

/* The precise type with many slots: a tag word, then 31 pointers. */
enum { RSLOTS = 31 };
struct rec {
    uint64_t tag;
    node *p[RSLOTS];
};

static const tc_type *slot_type, *rec_type;

/* The model: node ids by slot (0: NULL), and every node ever made, its
 * address hidden from the conservative scan. */
static uint64_t model[2 * CAP];
static size_t model_len;
static uintptr_t hidden[MAXNODES + 1];
static uint64_t nnodes;
static uint64_t seed;

static node *make(void)
{
    uint64_t id = ++nnodes;
    if (id > MAXNODES)
        abort(); /* OPS bounds the nodes made */
    node *n = test_node_new(id);
    hidden[id] = test_hide(n);
    return n;
}

static uintptr_t vec_build(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    node **v = tc_alloc_array(slot_type, CAP);
    if (!v)
        return 1;
    for (size_t i = 0; i < INIT; i++) {
        node *n = make();
        tc_store(v, &v[i], n);
        model[i] = n->id;
    }
    model_len = CAP;
    roots.vec = v;
    return 0;
}

/* During the held mark: the seeded inserts, deletes, moves and fills,
 * then the growth into a black vector. */
static uintptr_t vec_mutate(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    if (tci_phase() != TCI_PHASE_MARK)
        return 1;
    test_rng rng = {seed};
    node **v = roots.vec;
    for (int op = 0; op < OPS; op++) {
        size_t k = (size_t)(test_rand(&rng) % CAP);
        switch (test_rand(&rng) % 4) {
        case 0: { /* insert at k: shift right */
            node *n = make();
            tc_store_range(v, &v[k + 1], &v[k], CAP - 1 - k);
            memmove(&model[k + 1], &model[k], (CAP - 1 - k) * sizeof model[0]);
            tc_store(v, &v[k], n);
            model[k] = n->id;
            break;
        }
        case 1: /* delete at k: shift left */
            tc_store_range(v, &v[k], &v[k + 1], CAP - 1 - k);
            memmove(&model[k], &model[k + 1], (CAP - 1 - k) * sizeof model[0]);
            tc_store(v, &v[CAP - 1], NULL);
            model[CAP - 1] = 0;
            break;
        case 2: { /* a general move, overlapping or not */
            size_t n = 1 + (size_t)(test_rand(&rng) % (CAP / 2));
            size_t s = (size_t)(test_rand(&rng) % (CAP - n + 1));
            size_t d = (size_t)(test_rand(&rng) % (CAP - n + 1));
            tc_store_range(v, &v[d], &v[s], n);
            memmove(&model[d], &model[s], n * sizeof model[0]);
            break;
        }
        default: { /* a fill with NULL or a new node */
            size_t n = 1 + (size_t)(test_rand(&rng) % 8);
            if (k + n > CAP)
                n = CAP - k;
            node *val = test_rand(&rng) % 2 ? make() : NULL;
            tc_fill_range(v, &v[k], val, n);
            for (size_t i = 0; i < n; i++)
                model[k + i] = val ? val->id : 0;
            break;
        }
        }
    }
    /* Growth: into a vector allocated black, the old one cleared. */
    node **nv = tc_alloc_array(slot_type, 2 * CAP);
    if (!nv)
        return 2;
    tc_store_range(nv, nv, v, CAP);
    tc_fill_range(v, v, NULL, CAP);
    roots.vec = nv;
    model_len = 2 * CAP;
    return 0;
}

/* Failures: the slots against the model; each node made alive and
 * intact (all == 1), or alive exactly when the slots hold it. */
static uintptr_t check_slots(node **slots, uintptr_t all)
{
    uintptr_t bad = 0;
    static unsigned char held[MAXNODES + 1];
    memset(held, 0, sizeof held);
    for (size_t i = 0; i < model_len; i++) {
        node *n = __atomic_load_n(&slots[i], __ATOMIC_RELAXED);
        uint64_t id = n ? n->id : 0;
        bad += id != model[i] || (n && !test_node_ok(n, id));
        if (id <= MAXNODES)
            held[id] = 1;
    }
    for (uint64_t id = 1; id <= nnodes; id++) {
        node *n = test_unhide(hidden[id]);
        int live = test_is_live(n);
        bad += (all || held[id]) ? !live || !test_node_ok(n, id) : live;
    }
    return bad;
}

static uintptr_t vec_check(uintptr_t all, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    return check_slots(roots.vec, all);
}

/* Holds a mark open, runs `mutate` in it, lets the cycle finish. */
static void held_mark(uintptr_t (*mutate)(uintptr_t, uintptr_t, uintptr_t))
{
    test_clear_stack();
    tci_gate_hold(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_held();
    assert_int_equal(test_fresh_call(mutate, 0, 0, 0), 0);
    tci_gate_hold(0);
    tci_gate_wait_cycle(cycle);
}

static void vector_moves_during_held_mark(void **state)
{
    (void)state;
    nnodes = 0;
    seed = test_seed("store_range", 18);
    assert_int_equal(test_fresh_call(vec_build, 0, 0, 0), 0);
    held_mark(vec_mutate);
    /* Every node that ever existed survived the held cycle: those whose
     * last reference a move or fill overwrote were reachable at its
     * start. */
    assert_int_equal(test_fresh_call(vec_check, 1, 0, 0), 0);
    /* The next cycle frees exactly what the vector no longer holds. */
    test_collect();
    assert_int_equal(test_fresh_call(vec_check, 0, 0, 0), 0);
    roots.vec = NULL;
}

/* The precise type: moves inside one record, then into a black one. */
static uintptr_t rec_build(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    struct rec *r = tc_alloc(rec_type);
    if (!r)
        return 1;
    r->tag = 77;
    for (size_t i = 0; i < 20; i++) {
        node *n = make();
        tc_store(r, &r->p[i], n);
        model[i] = n->id;
    }
    for (size_t i = 20; i < RSLOTS; i++)
        model[i] = 0;
    model_len = RSLOTS;
    roots.rec = r;
    return 0;
}

static uintptr_t rec_mutate(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    if (tci_phase() != TCI_PHASE_MARK)
        return 1;
    struct rec *r = roots.rec;
    /* Delete the first three (left by 3), clear the tail it leaves. */
    tc_store_range(r, &r->p[0], &r->p[3], 17);
    memmove(&model[0], &model[3], 17 * sizeof model[0]);
    tc_fill_range(r, &r->p[17], NULL, 3);
    memset(&model[17], 0, 3 * sizeof model[0]);
    /* Open a gap of five at the front (right by 5), and fill it. */
    tc_store_range(r, &r->p[5], &r->p[0], 22);
    memmove(&model[5], &model[0], 22 * sizeof model[0]);
    node *n = make();
    tc_fill_range(r, &r->p[0], n, 5);
    for (size_t i = 0; i < 5; i++)
        model[i] = n->id;
    /* Into a record allocated black; the old one cleared. */
    struct rec *b2 = tc_alloc(rec_type);
    if (!b2)
        return 2;
    b2->tag = 78;
    tc_store_range(b2, b2->p, r->p, RSLOTS);
    tc_fill_range(r, r->p, NULL, RSLOTS);
    roots.rec = b2;
    return 0;
}

static uintptr_t rec_check(uintptr_t all, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    return (roots.rec->tag != 78) + check_slots(roots.rec->p, all);
}

static void precise_record_moves_during_held_mark(void **state)
{
    (void)state;
    nnodes = 0;
    assert_int_equal(test_fresh_call(rec_build, 0, 0, 0), 0);
    held_mark(rec_mutate);
    assert_int_equal(test_fresh_call(rec_check, 1, 0, 0), 0);
    test_collect();
    assert_int_equal(test_fresh_call(rec_check, 0, 0, 0), 0);
    roots.rec = NULL;
}

/* Idle: the moves are memmove's, overlap both ways, a zero count and
 * NULL pointers with it included. */
static void idle_moves_are_memmove(void **state)
{
    (void)state;
    assert_int_equal(tci_phase(), TCI_PHASE_OFF);
    node **v = tc_alloc_array(slot_type, 16);
    assert_non_null(v);
    uintptr_t want[16];
    for (uintptr_t i = 0; i < 16; i++)
        want[i] = i * 16 + 8; /* no heap address: plain words */
    memcpy(v, want, sizeof want);
    tc_store_range(v, &v[2], &v[0], 10);
    memmove(&want[2], &want[0], 10 * sizeof want[0]);
    tc_store_range(v, &v[0], &v[5], 11);
    memmove(&want[0], &want[5], 11 * sizeof want[0]);
    tc_store_range(v, NULL, NULL, 0);
    tc_fill_range(v, NULL, NULL, 0);
    tc_fill_range(v, &v[14], (void *)(uintptr_t)24, 2);
    want[14] = want[15] = 24;
    assert_memory_equal(v, want, sizeof want);
}

/* Bad input, idle (the checking half, which TC_CHECK_STORES makes every
 * call take) and during a held mark (where the inline call takes it):
 * a message naming the call and the reason, errno EINVAL, nothing
 * stored. Returns the failures. */
static int bad_calls(node **v, size_t nslots, int direct)
{
    static uintptr_t outside[4] = {8, 8, 8, 8};
    void *obj = v;
    int bad = 0;
    struct { void *obj, *dst; const void *src; size_t n; } c[] = {
        {obj, &v[nslots - 2], &v[0], 4},            /* past obj's end */
        {obj, (char *)&v[1] + 4, &v[0], 2},         /* misaligned dst */
        {obj, &v[1], (char *)&v[4] + 2, 2},         /* misaligned src */
        {obj, &v[1], NULL, 2},                      /* NULL src */
        {obj, NULL, &v[1], 2},                      /* NULL dst */
        {&v[1], &v[1], &v[3], 2},                   /* obj not a base */
        {NULL, &v[1], &v[3], 2},                    /* dst in the heap, obj NULL */
        {outside, outside, &v[0], 2},               /* obj not in the heap */
        {obj, &v[0], &v[1], SIZE_MAX / 4},          /* overflow */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        errno = 0;
        if (direct)
            tc_store_range_slow_(c[i].obj, c[i].dst, c[i].src, c[i].n);
        else
            tc_store_range(c[i].obj, c[i].dst, c[i].src, c[i].n);
        bad += errno != EINVAL;
    }
    errno = 0;
    if (direct)
        tc_fill_range_slow_(obj, &v[nslots - 1], NULL, 2);
    else
        tc_fill_range(obj, &v[nslots - 1], NULL, 2);
    bad += errno != EINVAL;
    for (size_t i = 0; i < nslots; i++)
        bad += (uintptr_t)v[i] != 8 * i + 8;
    bad += outside[0] != 8 || outside[1] != 8;
    return bad;
}

static node **bad_vector(size_t *nslots)
{
    node **v = tc_alloc_array(slot_type, 8);
    if (!v)
        return NULL;
    *nslots = tc_object_size(v) / sizeof(void *);
    for (size_t i = 0; i < *nslots; i++)
        v[i] = (node *)(uintptr_t)(8 * i + 8); /* no heap addresses */
    return v;
}

/* In a child, for its stderr; idle, and allocating nothing there, so
 * no library thread starts in it (TSan refuses threads started after a
 * fork of a threaded process): the vector is the parent's. */
static node **bad_v;
static size_t bad_nslots;

static void child_bad_input(void)
{
    CHECK(bad_v != NULL && bad_nslots >= 8 && bad_nslots < 64);
    CHECK(bad_calls(bad_v, bad_nslots, 1) == 0);
}

static void bad_input_refused_during_mark(void **state)
{
    (void)state;
    size_t nslots = 0;
    node **v = bad_vector(&nslots);
    assert_non_null(v);
    tci_gate_hold(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_held();
    assert_int_equal(tci_phase(), TCI_PHASE_MARK);
    int bad = bad_calls(v, nslots, 0);
    tci_gate_hold(0);
    tci_gate_wait_cycle(cycle);
    assert_int_equal(bad, 0);
}

static void bad_input_is_refused(void **state)
{
    (void)state;
    child_result r;
    bad_v = bad_vector(&bad_nslots);
    assert_non_null(bad_v);
    run_child(child_bad_input, NULL, &r);
    bad_v = NULL;
    expect_exit0(&r);
    expect_says(&r, "tc_store_range(");
    expect_says(&r, "dst's range is not inside obj (nothing stored)");
    expect_says(&r, "dst is not aligned to a pointer");
    expect_says(&r, "src is not aligned to a pointer");
    expect_says(&r, "NULL src");
    expect_says(&r, "NULL dst");
    expect_says(&r, "obj is not the start of a heap object");
    expect_says(&r, "obj is NULL but dst is in the heap");
    expect_says(&r, "the range overflows the address space");
    expect_says(&r, "tricolor: tc_fill_range(");
}

/* Marks that run while the moves do (not held): a thread rotates a
 * vector left and right by one with tc_store_range, polling between
 * rotations, while the main thread runs cycle after cycle. The outcome
 * does not depend on the interleaving: the vector is the rotation the
 * count says, every node intact (a lost or torn pointer would show, or
 * be caught by checkmark and verify in the cycles' stops; TSan checks
 * the slot stores against the markers' loads). */
enum { ROT = 64, ROT_CYCLES = 30 };
static tci_atomic rot_stop, rot_ops;
static long rot_net;

static void *rotator_main(void *arg)
{
    node **v = arg;
    if (tc_thread_attach() != 0)
        abort();
    test_rng rng = {seed + 1};
    while (!tci_atomic_load_acquire(&rot_stop)) { /* partner: the main thread's release */
        if (test_rand(&rng) % 2) {
            node *x = __atomic_load_n(&v[0], __ATOMIC_RELAXED);
            tc_store_range(v, &v[0], &v[1], ROT - 1);
            tc_store(v, &v[ROT - 1], x);
            rot_net++;
        } else {
            node *x = __atomic_load_n(&v[ROT - 1], __ATOMIC_RELAXED);
            tc_store_range(v, &v[1], &v[0], ROT - 1);
            tc_store(v, &v[0], x);
            rot_net--;
        }
        tci_atomic_add_full(&rot_ops, 1);
        tc_safepoint();
    }
    tc_thread_detach();
    return NULL;
}

static void moves_while_marks_run(void **state)
{
    (void)state;
    node **v = tc_alloc_array(slot_type, ROT);
    assert_non_null(v);
    roots.vec = v;
    for (size_t i = 0; i < ROT; i++)
        tc_store(v, &v[i], test_node_new(5000 + i));
    rot_net = 0;
    tci_atomic_store_relaxed(&rot_stop, 0);
    tci_atomic_store_relaxed(&rot_ops, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, rotator_main, v), 0);
    for (int c = 0; c < ROT_CYCLES; c++)
        tc_collect();
    tci_atomic_store_release(&rot_stop, 1);
    tc_blocking_begin();
    assert_int_equal(pthread_join(th, NULL), 0);
    tc_blocking_end();
    printf("moves_while_marks_run: %lu rotations over %d cycles\n",
           (unsigned long)tci_atomic_load_relaxed(&rot_ops), ROT_CYCLES);
    tc_collect();
    for (long i = 0; i < ROT; i++) {
        long from = ((i + rot_net) % ROT + ROT) % ROT;
        assert_true(test_node_ok(v[i], 5000 + (uint64_t)from));
    }
    roots.vec = NULL;
}

static int setup(void **state)
{
    (void)state;
    /* checkmark: every held mark is checked against a stopped re-walk. */
    setenv("TRICOLOR_DEBUG", "checkmark=1,verify=1", 0);
    if (tc_init() != 0)
        return -1;
    static const size_t off = 0;
    static size_t roffs[RSLOTS];
    for (size_t i = 0; i < RSLOTS; i++)
        roffs[i] = offsetof(struct rec, p) + i * sizeof(void *);
    slot_type = tc_type_new("slot", sizeof(void *), &off, 1);
    rec_type = tc_type_new("rec", sizeof(struct rec), roffs, RSLOTS);
    if (!slot_type || !rec_type || !test_node_type() || tc_root_add(&roots, sizeof roots) != 0)
        return -1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_moves_are_memmove),
        cmocka_unit_test(vector_moves_during_held_mark),
        cmocka_unit_test(precise_record_moves_during_held_mark),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(bad_input_refused_during_mark),
        cmocka_unit_test(moves_while_marks_run),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

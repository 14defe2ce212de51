/* test_barrier.c: the write barrier's races, provoked one at a time.
 *
 * A concurrent mark is held right after its first stop (the test gate:
 * marking on, barrier on, roots grey, nothing scanned yet). An object X
 * is reachable only through a slot of B, an object not yet scanned. Two
 * attached threads then move X while the mark is held: one copies the
 * pointer to somewhere the mark will not look again (an object allocated
 * black during the mark, or a root already scanned), the other deletes it
 * from B (overwrites B's slot). The order of the two is forced with flags,
 * both ways. Without the deletion barrier X would be unmarked at the end of
 * the mark and freed while reachable; with it, X survives, intact, and
 * checkmark (set for this test) finds nothing reachable unmarked.
 *
 * The main thread never holds X: it sets the graph up in a function whose
 * frame is gone and cleared before the cycle starts, and checks X through
 * a hidden address afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "atomic.h"
#include "heap.h" /* white-box: the spans this test looks at */
#include "testing.h"
#include "testutil.h"
#include "tricolor.h"

typedef test_node node;

/* A root area, written with plain stores (roots need no barrier). */
static struct {
    node *b;      /* the source object, white and not yet scanned */
    node *a;      /* the destination allocated black during the mark */
    void *slot;   /* a root the mark scanned already, at the first stop */
} roots;

static uintptr_t x_hidden; /* X, where no scan can see it */

enum { X_ID = 4242 };

static __attribute__((noinline)) void build_graph(void)
{
    roots.b = test_node_new(1);
    node *x = test_node_new(X_ID);
    TC_STORE(roots.b, l, x);
    x_hidden = test_hide(x);
    roots.a = NULL;
    roots.slot = NULL;
}

enum where { TO_BLACK_OBJECT, TO_SCANNED_ROOT };
enum order { COPY_THEN_DELETE, LOAD_DELETE_THEN_STORE };

typedef struct scenario {
    enum where where;
    enum order order;
    int delete_by_replacing; /* overwrite with another object, not NULL */
    tci_atomic step;         /* the interleaving: 0 start, 1 loaded, 2 deleted, 3 stored */
} scenario;

static void wait_step(scenario *sc, uintptr_t want)
{
    while (tci_atomic_load_acquire(&sc->step) < want)
        tc_safepoint(); /* no stop can come while the mark is held */
}

/* The mover: loads X from B and puts it where the mark will not look. */
static void *mover_main(void *arg)
{
    scenario *sc = arg;
    assert_int_equal(tc_thread_attach(), 0);
    node *a = NULL;
    if (sc->where == TO_BLACK_OBJECT) {
        a = test_node_new(2); /* allocated during the mark: black */
        roots.a = a;
    }
    node *x = __atomic_load_n(&roots.b->l, __ATOMIC_ACQUIRE);
    tci_atomic_store_release(&sc->step, 1);
    if (sc->order == LOAD_DELETE_THEN_STORE)
        wait_step(sc, 2); /* X now lives only in this thread's registers */
    if (sc->where == TO_BLACK_OBJECT)
        TC_STORE(a, r, x);
    else
        roots.slot = x; /* a plain store into a root */
    x = NULL;
    tci_atomic_store_release(&sc->step, 3);
    tc_thread_detach();
    return NULL;
}

/* The deleter: overwrites B's slot, the last path the mark could follow. */
static void *deleter_main(void *arg)
{
    scenario *sc = arg;
    assert_int_equal(tc_thread_attach(), 0);
    wait_step(sc, 1);
    if (sc->order == COPY_THEN_DELETE)
        wait_step(sc, 3);
    node *repl = sc->delete_by_replacing ? test_node_new(3) : NULL;
    TC_STORE(roots.b, l, repl);
    if (sc->order == LOAD_DELETE_THEN_STORE)
        tci_atomic_store_release(&sc->step, 2);
    tc_thread_detach();
    return NULL;
}

static void run(enum where where, enum order order, int replacing)
{
    scenario sc = {where, order, replacing, {0}};
    build_graph();
    test_clear_stack();
    tci_gate_hold(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_held();
    assert_int_equal(tci_phase(), TCI_PHASE_MARK);

    pthread_t m, d;
    assert_int_equal(pthread_create(&m, NULL, mover_main, &sc), 0);
    assert_int_equal(pthread_create(&d, NULL, deleter_main, &sc), 0);
    tc_blocking_begin();
    assert_int_equal(pthread_join(m, NULL), 0);
    assert_int_equal(pthread_join(d, NULL), 0);
    tc_blocking_end();

    tci_gate_hold(0);
    tci_gate_wait_cycle(cycle);

    /* X survived the held cycle, its sweep included, and still holds its
     * contents after the heap was churned to reuse any freed slot. */
    node *x = test_unhide(x_hidden);
    node *holder = where == TO_BLACK_OBJECT ? roots.a->r : roots.slot;
    assert_ptr_equal(holder, x);
    assert_true(test_is_live(x));
    for (int i = 0; i < 20000; i++)
        (void)test_node_new(7);
    assert_true(test_node_ok(x, X_ID));
    roots.a = NULL;
    roots.b = NULL;
    roots.slot = NULL;
}

static void copy_to_black_then_delete(void **state)
{
    (void)state;
    run(TO_BLACK_OBJECT, COPY_THEN_DELETE, 0);
}

static void load_delete_then_store_to_black(void **state)
{
    (void)state;
    run(TO_BLACK_OBJECT, LOAD_DELETE_THEN_STORE, 0);
}

static void copy_to_root_then_delete(void **state)
{
    (void)state;
    run(TO_SCANNED_ROOT, COPY_THEN_DELETE, 0);
}

static void load_delete_then_store_to_root(void **state)
{
    (void)state;
    run(TO_SCANNED_ROOT, LOAD_DELETE_THEN_STORE, 0);
}

static void delete_by_replacing(void **state)
{
    (void)state;
    run(TO_BLACK_OBJECT, LOAD_DELETE_THEN_STORE, 1);
}

/* The gate's own promise: held, the cycle has greyed the roots and turned
 * the barrier on, and nothing of the heap is scanned (B's target is still
 * white). Without that, the tests above would prove nothing. */
static void held_mark_has_scanned_nothing(void **state)
{
    (void)state;
    build_graph();
    test_clear_stack();
    tci_gate_hold(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_held();
    assert_true(tc_barrier_enabled_);
    node *x = test_unhide(x_hidden);
    tci_span *s = NULL;
    uint32_t idx = 0;
    assert_true(tci_find_object((uintptr_t)x, &s, &idx) != 0);
    assert_false(tci_mark_get(s, idx)); /* white: B was not scanned */
    assert_true(tci_find_object((uintptr_t)roots.b, &s, &idx) != 0);
    assert_true(tci_mark_get(s, idx)); /* grey: a root's target */
    tci_gate_hold(0);
    tci_gate_wait_cycle(cycle);
    roots.b = NULL;
}

static int setup(void **state)
{
    (void)state;
    /* checkmark: the mark is checked against a stopped re-walk. */
    setenv("TRICOLOR_DEBUG", "checkmark=1,verify=1", 0);
    if (tc_init() != 0)
        return -1;
    if (!test_node_type() || tc_root_add(&roots, sizeof roots) != 0)
        return -1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(held_mark_has_scanned_nothing),
        cmocka_unit_test(copy_to_black_then_delete),
        cmocka_unit_test(load_delete_then_store_to_black),
        cmocka_unit_test(copy_to_root_then_delete),
        cmocka_unit_test(load_delete_then_store_to_root),
        cmocka_unit_test(delete_by_replacing),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/* test_special.c: weak references, ephemerons and finalizers (gc/special.c).
 *
 * Objects are built in functions whose frames are gone (and cleared)
 * before each collection, and held through the root area below or not at
 * all; the tests keep their own copies of addresses hidden (testutil.h),
 * so nothing but the handle under test can keep an object alive. Every
 * collection runs checkmark and the heap verifier. Finalizers run on the
 * test's thread (tc_finalizers_run_pending) except in the test of the
 * library's finalizer thread. Each test runs on a freshly mapped stack
 * (test_run_on_fresh_stack), so no word an earlier frame left keeps a
 * dropped object alive, and the whole group runs twice: in a child
 * process with the stopped collector (gcstoptheworld=1), then concurrent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "atomic.h"
#include "heap.h" /* white-box: the spans this test looks at */
#include "testing.h"
#include "model.h"
#include "testutil.h"
#include "tricolor.h"

typedef test_node node;

/* The root area, written with plain stores (roots need no barrier). */
static struct {
    node *keep[8];
    node *resurrected;
} roots;

/* Allocates enough to reuse any slot a wrong sweep freed, then checks. */
static void churn(void)
{
    for (int i = 0; i < 20000; i++)
        (void)test_node_new(999);
}

static void clear_roots(void)
{
    memset(&roots, 0, sizeof roots);
}

/* ---- Weak references ------------------------------------------------------ */

static uintptr_t h_obj;

/* Builds and checks run on threads of their own (test_fresh_call). */
static uintptr_t build_weak(uintptr_t rooted, uintptr_t id, uintptr_t unused)
{
    (void)unused;
    node *n = test_node_new(id);
    if (rooted)
        roots.keep[0] = n;
    h_obj = test_hide(n);
    return (uintptr_t)tc_weak_create(n);
}

/* The checks in a frame of their own, which dies (and is cleared) before
 * the next collection: the pointers they load stay out of the caller's. */
static uintptr_t weak_holds(uintptr_t w_, uintptr_t id, uintptr_t unused)
{
    (void)unused;
    tc_weak *w = (tc_weak *)w_;
    node *n = tc_weak_get(w);
    return n == test_unhide(h_obj) && test_node_ok(n, id);
}

static void weak_cleared_exactly_when_target_dies_body(void *unused)
{
    (void)unused;
    tc_weak *w = (tc_weak *)test_fresh_call(build_weak, 1, 11, 0);
    assert_non_null(w);
    for (int i = 0; i < 3; i++) {
        test_collect();
        assert_true(test_fresh_call(weak_holds, (uintptr_t)w, 11, 0));
    }
    roots.keep[0] = NULL;
    test_collect();
    assert_null(tc_weak_get(w));
    assert_false(test_is_live(test_unhide(h_obj))); /* and freed by that cycle's sweep */
    test_collect();
    assert_null(tc_weak_get(w)); /* for good */
    tc_weak_destroy(w);
    clear_roots();
}

static uintptr_t second_weak(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    return (uintptr_t)tc_weak_create(test_unhide(h_obj));
}

/* Two weak references to one object, the second reachable only through
 * weak references: both read NULL after the one cycle that frees it. */
static void weak_references_do_not_keep_alive_body(void *unused)
{
    (void)unused;
    tc_weak *a = (tc_weak *)test_fresh_call(build_weak, 0, 12, 0);
    tc_weak *b = (tc_weak *)test_fresh_call(second_weak, 0, 0, 0);
    assert_non_null(b);
    test_collect();
    assert_null(tc_weak_get(a));
    assert_null(tc_weak_get(b));
    tc_weak_destroy(a);
    tc_weak_destroy(b);
}

/* The race: a mark is held after its first stop, with the target white and
 * reachable only through the weak reference; the program reads it and
 * stores it in a root the mark has already scanned. The read must shade
 * it: without that the target stays white, the end of the mark clears the
 * reference and the sweep frees an object a root holds (checkmark would
 * abort first, naming it). */
/* The read and the checks in frames of their own (see weak_holds). */
static uintptr_t grab_into_root(uintptr_t w_, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    tc_weak *w = (tc_weak *)w_;
    roots.keep[1] = tc_weak_get(w);
    return 0;
}

static uintptr_t root_holds_weak_target(uintptr_t w_, uintptr_t id, uintptr_t c)
{
    (void)c;
    tc_weak *w = (tc_weak *)w_;
    return roots.keep[1] == test_unhide(h_obj) && tc_weak_get(w) == roots.keep[1] &&
           test_node_ok(roots.keep[1], id);
}

static void weak_get_during_mark_keeps_target_body(void *unused)
{
    (void)unused;
    if (tci_env_cfg.gcstoptheworld) {
        printf("(no concurrent mark to hold with gcstoptheworld=1)\n");
        return;
    }
    tc_weak *w = (tc_weak *)test_fresh_call(build_weak, 0, 13, 0);
    test_clear_stack();
    tci_gate_hold(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_held();
    assert_int_equal(tci_phase(), TCI_PHASE_MARK);
    assert_int_equal(test_fresh_call(test_hidden_mark, h_obj, 0, 0), 0); /* white: nothing reaches it */
    test_fresh_call(grab_into_root, (uintptr_t)w, 0, 0);
    assert_int_equal(test_fresh_call(test_hidden_mark, h_obj, 0, 0), 1); /* the read shaded it */
    tci_gate_hold(0);
    tci_gate_wait_cycle(cycle);
    churn();
    assert_true(test_fresh_call(root_holds_weak_target, (uintptr_t)w, 13, 0));
    /* Dropped again, it goes. */
    roots.keep[1] = NULL;
    test_collect();
    assert_null(tc_weak_get(w));
    tc_weak_destroy(w);
    clear_roots();
}

/* ---- Ephemerons ------------------------------------------------------------- */

static uintptr_t h_key, h_val, h_child;

/* key -> (ephemeron) -> value -> child; the key rooted or not; with
 * cycle, the value points back at the key. */
static uintptr_t build_ephemeron(uintptr_t rooted, uintptr_t cycle, uintptr_t id)
{
    node *k = test_node_new(id);
    node *v = test_node_new(id + 1);
    node *c = test_node_new(id + 2);
    TC_STORE(v, l, c);
    if (cycle)
        TC_STORE(v, r, k);
    if (rooted)
        roots.keep[2] = k;
    h_key = test_hide(k);
    h_val = test_hide(v);
    h_child = test_hide(c);
    return (uintptr_t)tc_ephemeron_create(k, v);
}

/* In a frame of its own (see weak_holds): key, value and what the value
 * reaches are the ones built, intact. */
static uintptr_t ephemeron_holds(uintptr_t e_, uintptr_t id, uintptr_t c)
{
    (void)c;
    tc_ephemeron *e = (tc_ephemeron *)e_;
    node *k = tc_ephemeron_key(e), *v = tc_ephemeron_value(e);
    return k == test_unhide(h_key) && v == test_unhide(h_val) && test_node_ok(k, id) &&
           test_node_ok(v, id + 1) && test_node_ok(v->l, id + 2);
}

static uintptr_t chain_holds(uintptr_t e1_, uintptr_t e2_, uintptr_t c)
{
    (void)c;
    tc_ephemeron *e1 = (tc_ephemeron *)e1_, *e2 = (tc_ephemeron *)e2_;
    return test_node_ok(tc_ephemeron_value(e1), 41) && test_node_ok(tc_ephemeron_value(e2), 42);
}

static void ephemeron_value_lives_while_key_does_body(void *unused)
{
    (void)unused;
    tc_ephemeron *e = (tc_ephemeron *)test_fresh_call(build_ephemeron, 1, 0, 20);
    assert_non_null(e);
    for (int i = 0; i < 3; i++) {
        test_collect();
        churn();
        assert_true(test_fresh_call(ephemeron_holds, (uintptr_t)e, 20, 0));
    }
    roots.keep[2] = NULL;
    test_collect();
    assert_null(tc_ephemeron_key(e));
    assert_null(tc_ephemeron_value(e));
    assert_false(test_is_live(test_unhide(h_key)));
    assert_false(test_is_live(test_unhide(h_val)));
    assert_false(test_is_live(test_unhide(h_child)));
    tc_ephemeron_destroy(e);
    clear_roots();
}

/* The value points back at the key: that is no path to the key. */
static void ephemeron_cycle_through_value_collected_body(void *unused)
{
    (void)unused;
    tc_ephemeron *e = (tc_ephemeron *)test_fresh_call(build_ephemeron, 0, 1, 30);
    test_collect();
    assert_null(tc_ephemeron_key(e));
    assert_null(tc_ephemeron_value(e));
    assert_false(test_is_live(test_unhide(h_key)));
    assert_false(test_is_live(test_unhide(h_val)));
    tc_ephemeron_destroy(e);
}

/* A chain: e2's key is what e1's value points to, and e2 was made first
 * (a pass takes the oldest first). With e1's key rooted, both values live,
 * which takes the fixpoint a second pass: e2's key is marked only by the
 * drain after the first. Dropped, all go in one cycle. */
static uintptr_t build_chain(uintptr_t e1_, uintptr_t e2_, uintptr_t c)
{
    (void)c;
    tc_ephemeron **e1 = (tc_ephemeron **)e1_, **e2 = (tc_ephemeron **)e2_;
    node *k1 = test_node_new(40), *v1 = test_node_new(41), *v2 = test_node_new(42), *c1 = test_node_new(43);
    TC_STORE(v1, l, c1);
    roots.keep[3] = k1;
    *e2 = tc_ephemeron_create(c1, v2);
    *e1 = tc_ephemeron_create(k1, v1);
    h_key = test_hide(k1);
    h_val = test_hide(v1);
    h_child = test_hide(v2);
    return 0;
}

/* A long chain made newest first: e[i] keys node i to node i + 1, node 0
 * rooted, every other node held only by the chain, and e[CHAIN - 1]
 * made first, so the oldest-first order meets the chain backwards. */
enum { CHAIN = 20000 };
static tc_ephemeron *chain[CHAIN];
static uintptr_t h_chain[CHAIN + 1];

static uintptr_t build_long_chain(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    node *next = test_node_new(5000 + CHAIN);
    h_chain[CHAIN] = test_hide(next);
    for (int i = CHAIN - 1; i >= 0; i--) {
        node *n = test_node_new(5000 + (uint64_t)i);
        chain[i] = tc_ephemeron_create(n, next);
        assert_non_null(chain[i]);
        h_chain[i] = test_hide(n);
        next = n;
    }
    roots.keep[4] = next; /* node 0 */
    return 0;
}

static uintptr_t long_chain_intact(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (int i = 0; i <= CHAIN; i++) {
        node *n = test_unhide(h_chain[i]);
        if (!test_is_live(n) || !test_node_ok(n, 5000 + (uint64_t)i))
            return 0;
        if (i < CHAIN && (tc_ephemeron_key(chain[i]) != n ||
                          tc_ephemeron_value(chain[i]) != test_unhide(h_chain[i + 1])))
            return 0;
    }
    return 1;
}

/* Waits for the cycles asked for so far (none with the stopped collector):
 * one the build's allocation started would otherwise still be filing and
 * marking the chain's keys as the count of the collection under test
 * starts, and count into it (a chain's looks came to 54,080 and 79,961
 * in 3 of 44 runs, two cycles' worth in one count). */
static void settle_cycles_in_flight(void)
{
    tci_gate_wait_cycle(tci_gate_cycles_requested());
}

/* Regression (issue 15): the fixpoint took one pass over every ephemeron
 * per link of such a chain, in the mark's last stop (10,000 links: 0.63
 * s; 100,000: about a minute). It settles in work linear in their number:
 * at most three looks per ephemeron per cycle. */
static void ephemeron_long_chain_settles_in_linear_work_body(void *unused)
{
    (void)unused;
    test_fresh_call(build_long_chain, 0, 0, 0);
    settle_cycles_in_flight();
    uint64_t v0 = tci_special_ephemeron_visits();
    test_collect();
    uint64_t visits = tci_special_ephemeron_visits() - v0;
    uint32_t cycles = 1;
    printf("ephemerons: a chain of %d made newest first: %llu looks in a collection\n", CHAIN,
           (unsigned long long)visits);
    assert_true(test_fresh_call(long_chain_intact, 0, 0, 0));
    if (visits > 3 * (uint64_t)CHAIN * cycles + 1000)
        fail_msg("%llu looks at %d ephemerons", (unsigned long long)visits, CHAIN);
    roots.keep[4] = NULL;
    test_collect();
    for (int i = 0; i < CHAIN; i++) {
        if (tc_ephemeron_key(chain[i]) != NULL)
            fail_msg("ephemeron %d kept its key after the chain was dropped", i);
        tc_ephemeron_destroy(chain[i]);
    }
    clear_roots();
}

static void ephemeron_chain_reaches_fixpoint_body(void *unused)
{
    (void)unused;
    tc_ephemeron *e1, *e2;
    test_fresh_call(build_chain, (uintptr_t)&e1, (uintptr_t)&e2, 0);
    assert_non_null(e1);
    assert_non_null(e2);
    test_collect();
    churn();
    assert_true(test_fresh_call(chain_holds, (uintptr_t)e1, (uintptr_t)e2, 0));
    roots.keep[3] = NULL;
    test_collect();
    assert_null(tc_ephemeron_value(e1));
    assert_null(tc_ephemeron_key(e2));
    assert_false(test_is_live(test_unhide(h_child)));
    tc_ephemeron_destroy(e1);
    tc_ephemeron_destroy(e2);
    clear_roots();
}

/* ---- Finalizers ------------------------------------------------------------- */

enum { NFIN = 64 };
static int fin_calls[NFIN];
static int fin_bad; /* a finalizer found its object or what it reaches damaged */

static void count_fin(void *obj, void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    node *n = obj;
    if (!test_node_ok(n, 100 + i) || (n->l && !test_node_ok(n->l, 1000 + i)))
        fin_bad++;
    fin_calls[i]++;
}

static uintptr_t build_finalized(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (uintptr_t i = 0; i < NFIN; i++) {
        node *n = test_node_new(100 + i);
        TC_STORE(n, l, test_node_new(1000 + i)); /* kept for the finalizer */
        assert_int_equal(tc_set_finalizer(n, count_fin, (void *)i), 0);
        if (i % 2 == 0 && i / 2 < 8)
            roots.keep[i / 2] = n; /* 0, 2, ..., 14 stay reachable */
    }
    return 0;
}

static void finalizers_run_once_never_while_reachable_body(void *unused)
{
    (void)unused;
    memset(fin_calls, 0, sizeof fin_calls);
    fin_bad = 0;
    test_fresh_call(build_finalized, 0, 0, 0);
    test_collect();
    churn(); /* a wrongly freed object would be reused by now */
    assert_int_equal(tc_finalizers_run_pending(), NFIN - 8);
    for (int i = 0; i < NFIN; i++)
        assert_int_equal(fin_calls[i], (i % 2 == 0 && i / 2 < 8) ? 0 : 1);
    assert_int_equal(fin_bad, 0);
    /* Queued ones are gone after their run; the kept ones stay kept. */
    for (int k = 0; k < 3; k++) {
        test_collect();
        assert_int_equal(tc_finalizers_run_pending(), 0);
    }
    for (int i = 0; i < NFIN; i++)
        assert_int_equal(fin_calls[i], (i % 2 == 0 && i / 2 < 8) ? 0 : 1);
    clear_roots();
    test_collect();
    churn();
    assert_int_equal(tc_finalizers_run_pending(), 8);
    for (int i = 0; i < NFIN; i++)
        assert_int_equal(fin_calls[i], 1);
    assert_int_equal(fin_bad, 0);
}

/* NFIN objects with finalizers, none reachable, each holding a child:
 * the children's addresses hidden in h_kids. */
static uintptr_t h_kids[NFIN];

static uintptr_t build_finalized_dropped(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (uintptr_t i = 0; i < NFIN; i++) {
        node *n = test_node_new(100 + i);
        node *kid = test_node_new(1000 + i);
        TC_STORE(n, l, kid);
        h_kids[i] = test_hide(kid);
        assert_int_equal(tc_set_finalizer(n, count_fin, (void *)i), 0);
    }
    return 0;
}

/* Regression (issue 15): the first stop of a concurrent mark scanned what
 * every object with a finalizer points to (300,000 of them: a 118 ms
 * stop). It leaves them to the collector, right after the world restarts:
 * held there, no child is marked yet; the cycle ends with every child
 * intact for its finalizer. */
static void finalizer_contents_greyed_after_the_first_stop_body(void *unused)
{
    (void)unused;
    if (tci_env_cfg.gcstoptheworld) {
        printf("(no concurrent mark to hold with gcstoptheworld=1)\n");
        return;
    }
    memset(fin_calls, 0, sizeof fin_calls);
    fin_bad = 0;
    test_fresh_call(build_finalized_dropped, 0, 0, 0);
    test_clear_stack();
    tci_gate_hold(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_held();
    size_t marked = test_hidden_marked(h_kids, NFIN);
    tci_gate_hold(0); /* before any assertion: a failed one leaves the mark held */
    tci_gate_wait_cycle(cycle);
    if (marked)
        fail_msg("%zu children were marked in the first stop", marked);
    churn(); /* a child wrongly freed would be reused by now */
    assert_int_equal(tc_finalizers_run_pending(), NFIN);
    for (int i = 0; i < NFIN; i++)
        assert_int_equal(fin_calls[i], 1);
    assert_int_equal(fin_bad, 0);
}

static void resurrect_fin(void *obj, void *arg)
{
    (void)arg;
    if (!test_node_ok(obj, 50))
        fin_bad++;
    fin_calls[0]++;
    roots.resurrected = obj;
}

static uintptr_t build_resurrecting(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    node *n = test_node_new(50);
    h_obj = test_hide(n);
    assert_int_equal(tc_set_finalizer(n, resurrect_fin, NULL), 0);
    return 0;
}

static uintptr_t resurrected_ok(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    return roots.resurrected == test_unhide(h_obj) && test_node_ok(roots.resurrected, 50);
}

/* A finalizer that stores its object somewhere reachable: the object lives
 * on, intact, without a finalizer, and is collected once dropped. */
static void finalizer_resurrection_runs_once_body(void *unused)
{
    (void)unused;
    memset(fin_calls, 0, sizeof fin_calls);
    fin_bad = 0;
    test_fresh_call(build_resurrecting, 0, 0, 0);
    test_collect();
    churn();
    assert_int_equal(tc_finalizers_run_pending(), 1);
    assert_true(test_fresh_call(resurrected_ok, 0, 0, 0));
    for (int k = 0; k < 3; k++) {
        test_collect();
        assert_int_equal(tc_finalizers_run_pending(), 0);
    }
    churn();
    assert_true(test_fresh_call(resurrected_ok, 0, 0, 0));
    assert_int_equal(fin_calls[0], 1);
    assert_int_equal(fin_bad, 0);
    roots.resurrected = NULL;
    test_collect();
    assert_int_equal(tc_finalizers_run_pending(), 0);
    assert_false(test_is_live(test_unhide(h_obj)));
}

static int order_log[4], order_n;

static void order_fin(void *obj, void *arg)
{
    (void)obj;
    order_log[order_n++] = (int)(uintptr_t)arg;
}

static uintptr_t build_a_to_b(uintptr_t x, uintptr_t y, uintptr_t z)
{
    (void)x, (void)y, (void)z;
    node *a = test_node_new(60), *b = test_node_new(61);
    TC_STORE(a, l, b);
    assert_int_equal(tc_set_finalizer(b, order_fin, (void *)2), 0);
    assert_int_equal(tc_set_finalizer(a, order_fin, (void *)1), 0);
    return 0;
}

/* A points to B, both with finalizers, both dropped: A's runs first; B's
 * only in a later cycle, once A is gone. */
static void finalizer_order_follows_references_body(void *unused)
{
    (void)unused;
    order_n = 0;
    test_fresh_call(build_a_to_b, 0, 0, 0);
    test_collect();
    assert_int_equal(tc_finalizers_run_pending(), 1);
    assert_int_equal(order_n, 1);
    assert_int_equal(order_log[0], 1);
    test_collect();
    assert_int_equal(tc_finalizers_run_pending(), 1);
    assert_int_equal(order_n, 2);
    assert_int_equal(order_log[1], 2);
}

/* build_resurrecting and a weak reference to its object, made while the
 * object is still reachable from this frame. Made after the object was
 * dropped, the reference came too late when a cycle ran in between: that
 * cycle found the object dead and queued its finalizer (clearing the weak
 * references it had then: none), and the reference made next named an
 * object kept for its finalizer, which the collection below did not clear
 * (found with a watch on the object's address: marked by the finalizer
 * queue's pass; once under ThreadSanitizer in CI, 9 runs in 10 when the
 * reference was made on a fresh thread, whose start gave cycles time). */
static uintptr_t build_resurrecting_weak(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    node *n = test_node_new(50);
    h_obj = test_hide(n);
    tc_weak *w = tc_weak_create(n);
    assert_int_equal(tc_set_finalizer(n, resurrect_fin, NULL), 0);
    return (uintptr_t)w;
}

/* The weak reference reads NULL once its target is queued for its
 * finalizer (reachability before resurrection), though the object lives
 * until the finalizer is done. */
static void weak_cleared_before_finalizer_runs_body(void *unused)
{
    (void)unused;
    memset(fin_calls, 0, sizeof fin_calls);
    tc_weak *w = (tc_weak *)test_fresh_call(build_resurrecting_weak, 0, 0, 0);
    assert_non_null(w);
    test_collect();
    assert_null(tc_weak_get(w));
    assert_int_equal(tc_finalizers_run_pending(), 1);
    assert_true(test_node_ok(roots.resurrected, 50));
    roots.resurrected = NULL;
    tc_weak_destroy(w);
}

/* The library's finalizer thread (on by default; the other tests turned it
 * off): the finalizer runs there, with no call from the program. */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sig_cond = PTHREAD_COND_INITIALIZER;
static int sig_done;
static pthread_t sig_thread;

static void signal_fin(void *obj, void *arg)
{
    (void)arg;
    if (!test_node_ok(obj, 70))
        fin_bad++;
    pthread_mutex_lock(&sig_lock);
    sig_done = 1;
    sig_thread = pthread_self();
    pthread_cond_broadcast(&sig_cond);
    pthread_mutex_unlock(&sig_lock);
}

static uintptr_t build_signalling(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    node *n = test_node_new(70);
    assert_int_equal(tc_set_finalizer(n, signal_fin, NULL), 0);
    return 0;
}

static void finalizer_thread_runs_them_body(void *unused)
{
    (void)unused;
    fin_bad = 0;
    assert_int_equal(tc_finalizer_thread_enable(), 0);
    test_fresh_call(build_signalling, 0, 0, 0);
    test_collect();
    tc_blocking_begin(); /* waiting holds up no collection */
    pthread_mutex_lock(&sig_lock);
    while (!sig_done)
        pthread_cond_wait(&sig_cond, &sig_lock);
    pthread_mutex_unlock(&sig_lock);
    tc_blocking_end();
    assert_false(pthread_equal(sig_thread, pthread_self()));
    assert_int_equal(fin_bad, 0);
    assert_int_equal(tc_finalizer_thread_disable(), 1);
    uint64_t reg, queued, run;
    tc_finalizer_counts(&reg, &queued, &run);
    assert_true(queued >= run && run > 0);
}

/* ---- Settled outside the stops (issue 15) ------------------------------------ */

/* MANY nodes, every other one kept (a list from roots.keep[5] of holders
 * that point to them), each with a weak reference (weak_many) and, with fins set, a
 * finalizer that counts its runs (many_fin_calls); the odd ones dropped. */
enum { MANY = 4000 };
static tc_weak *weak_many[MANY];
static int many_fin_calls[MANY], many_fin_bad;

static void many_fin(void *obj, void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    if (!test_node_ok(obj, 7000 + i))
        many_fin_bad++;
    many_fin_calls[i]++;
}

static uintptr_t build_many(uintptr_t fins, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    node *kept = NULL;
    for (uintptr_t i = 0; i < MANY; i++) {
        node *n = test_node_new(7000 + i);
        if (fins)
            assert_int_equal(tc_set_finalizer(n, many_fin, (void *)i), 0);
        else
            assert_non_null(weak_many[i] = tc_weak_create(n));
        if (i % 2 == 0) {
            /* Through a holder: no kept object with a finalizer reaches
             * another (whose finalizer would wait for it). */
            node *holder = test_node_new(1);
            TC_STORE(holder, r, n);
            TC_STORE(holder, l, kept);
            kept = holder;
        }
    }
    roots.keep[5] = kept;
    return 0;
}

/* test_collect(), returning what it looked at with the world stopped:
 * [0] weak references, [1] ephemerons, [2] finalizer records. */
static void collect_counting_stop_visits(uint64_t seen[3])
{
    uint64_t w0, e0, f0;
    tci_special_stop_visits(&w0, &e0, &f0);
    test_collect();
    tci_special_stop_visits(&seen[0], &seen[1], &seen[2]);
    seen[0] -= w0;
    seen[1] -= e0;
    seen[2] -= f0;
}

static uintptr_t many_weak_read_right(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (uintptr_t i = 0; i < MANY; i++) {
        node *n = tc_weak_get(weak_many[i]);
        if (i % 2 ? n != NULL : !test_node_ok(n, 7000 + i))
            return 0;
    }
    return 1;
}

/* Regression (issue 15): the mark's last stop walked every weak reference
 * to clear those whose target it found dead (1,000,000: 22 ms with the
 * ephemerons). The sweeper of each target's span clears them now: a
 * concurrent collection looks at none of them with the world stopped,
 * and the dead ones read NULL after it, the live ones their target. */
static void weak_references_settled_outside_the_stops_body(void *unused)
{
    (void)unused;
    test_fresh_call(build_many, 0, 0, 0);
    uint64_t seen[3];
    collect_counting_stop_visits(seen);
    printf("weak references looked at in stops: %llu of %d\n", (unsigned long long)seen[0],
           MANY);
    assert_true(test_fresh_call(many_weak_read_right, 0, 0, 0));
    if (!tci_env_cfg.gcstoptheworld && seen[0] != 0)
        fail_msg("%llu weak references looked at with the world stopped",
                 (unsigned long long)seen[0]);
    roots.keep[5] = NULL;
    test_collect();
    for (int i = 0; i < MANY; i++) {
        assert_null(tc_weak_get(weak_many[i]));
        tc_weak_destroy(weak_many[i]);
    }
    clear_roots();
}

/* Regression (issue 15): the last stop walked every finalizer record to
 * queue those of dead objects (300,000: 28 ms). The sweepers queue them:
 * none is looked at with the world stopped, and each dropped object's
 * finalizer runs once, on its intact object, no kept one's. */
static void finalizer_records_settled_outside_the_stops_body(void *unused)
{
    (void)unused;
    memset(many_fin_calls, 0, sizeof many_fin_calls);
    many_fin_bad = 0;
    test_fresh_call(build_many, 1, 0, 0);
    uint64_t seen[3];
    collect_counting_stop_visits(seen);
    printf("finalizer records looked at in stops: %llu of %d\n", (unsigned long long)seen[2],
           MANY);
    churn();
    assert_int_equal(tc_finalizers_run_pending(), MANY / 2);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(many_fin_calls[i], i % 2);
    assert_int_equal(many_fin_bad, 0);
    if (!tci_env_cfg.gcstoptheworld && seen[2] != 0)
        fail_msg("%llu finalizer records looked at with the world stopped",
                 (unsigned long long)seen[2]);
    roots.keep[5] = NULL;
    test_collect();
    churn();
    assert_int_equal(tc_finalizers_run_pending(), MANY / 2);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(many_fin_calls[i], 1);
    assert_int_equal(many_fin_bad, 0);
    clear_roots();
}

/* Regression (issue 15): the last stop ran the ephemeron fixpoint over
 * every ephemeron and cleared those with dead keys (100,000 in a chain,
 * with 1,000,000 weak references: 22 ms). The filing and the fixpoint's
 * marking run beside the program now, and the clearing in the sweep: a
 * concurrent collection looks at no ephemeron with the world stopped,
 * whether the chain lives or is dropped. */
static void ephemerons_settled_outside_the_stops_body(void *unused)
{
    (void)unused;
    test_fresh_call(build_long_chain, 0, 0, 0);
    settle_cycles_in_flight();
    uint64_t live[3], dropped[3];
    collect_counting_stop_visits(live);
    assert_true(test_fresh_call(long_chain_intact, 0, 0, 0));
    roots.keep[4] = NULL;
    collect_counting_stop_visits(dropped);
    printf("ephemerons looked at in stops: %llu (chain live), %llu (dropped) of %d\n",
           (unsigned long long)live[1], (unsigned long long)dropped[1], CHAIN);
    for (int i = 0; i < CHAIN; i++) {
        if (tc_ephemeron_key(chain[i]) != NULL || tc_ephemeron_value(chain[i]) != NULL)
            fail_msg("ephemeron %d kept its key or value after the chain was dropped", i);
        tc_ephemeron_destroy(chain[i]);
    }
    if (!tci_env_cfg.gcstoptheworld && (live[1] != 0 || dropped[1] != 0))
        fail_msg("%llu and %llu ephemerons looked at with the world stopped",
                 (unsigned long long)live[1], (unsigned long long)dropped[1]);
    clear_roots();
}

/* Ephemerons grown and read while cycles run. Each of GROWERS threads
 * extends a chain of its own: key 0 rooted, e[i] pairs key i with value
 * i, and value i points (r) at key i + 1, so every key but the first is
 * reachable only through the value of the ephemeron before it, and the
 * fixpoint must carry each mark down the chain, through the filing pass
 * and, for keys marked later, through whoever marks them (markers, the
 * threads' own reads and barrier, the last stop). The thread reaches the
 * chain's end through tc_ephemeron_value (a read that shades during a
 * mark) and checks a random earlier pair and its value's child each step;
 * the main thread collects meanwhile, with checkmark and the verifier. A
 * value lost to the fixpoint is freed and its slot reused by the
 * allocation going on: the checks see another object. */
enum { GROWERS = 2, GROW_LEN = 3000 };
static tc_ephemeron *grown[GROWERS][GROW_LEN];
static tci_atomic growers_done;
static int grow_bad[GROWERS];

static void *grower_main(void *arg)
{
    int t = (int)(intptr_t)arg;
    uint64_t base = 100000 + (uint64_t)t * 10 * GROW_LEN;
    test_rng rng = { 77 + (uint64_t)t };
    assert_int_equal(tc_thread_attach(), 0);
    node *k = test_node_new(base);
    roots.keep[6 + t] = k;
    for (int i = 0; i < GROW_LEN; i++) {
        node *v = test_node_new(base + GROW_LEN + (uint64_t)i);
        TC_STORE(v, l, test_node_new(base + 2 * GROW_LEN + (uint64_t)i));
        grown[t][i] = tc_ephemeron_create(k, v);
        if (!grown[t][i])
            grow_bad[t]++;
        node *next = test_node_new(base + (uint64_t)i + 1);
        node *last = tc_ephemeron_value(grown[t][i]);
        TC_STORE(last, r, next);
        k = next;
        int j = (int)test_below(&rng, (uint64_t)i + 1);
        node *kj = tc_ephemeron_key(grown[t][j]), *vj = tc_ephemeron_value(grown[t][j]);
        if (!test_node_ok(kj, base + (uint64_t)j) ||
            !test_node_ok(vj, base + GROW_LEN + (uint64_t)j) ||
            !test_node_ok(vj->l, base + 2 * GROW_LEN + (uint64_t)j) ||
            (j < i && vj->r != tc_ephemeron_key(grown[t][j + 1])))
            grow_bad[t]++;
        for (int g = 0; g < 8; g++)
            (void)test_node_new(1); /* garbage, to reuse what a wrong sweep frees */
    }
    k = NULL;
    test_clear_stack();
    tci_atomic_add_full(&growers_done, 1);
    tc_thread_detach();
    return NULL;
}

static uintptr_t grown_intact(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (int t = 0; t < GROWERS; t++) {
        uint64_t base = 100000 + (uint64_t)t * 10 * GROW_LEN;
        for (int i = 0; i < GROW_LEN; i++) {
            node *v = tc_ephemeron_value(grown[t][i]);
            if (!test_node_ok(tc_ephemeron_key(grown[t][i]), base + (uint64_t)i) ||
                !test_node_ok(v, base + GROW_LEN + (uint64_t)i) ||
                !test_node_ok(v->l, base + 2 * GROW_LEN + (uint64_t)i))
                return 0;
        }
    }
    return 1;
}

static void ephemerons_grown_and_read_during_cycles_body(void *unused)
{
    (void)unused;
    tci_atomic_store_relaxed(&growers_done, 0);
    memset(grow_bad, 0, sizeof grow_bad);
    pthread_t th[GROWERS];
    for (int t = 0; t < GROWERS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, grower_main, (void *)(intptr_t)t), 0);
    int cycles = 0;
    while (tci_atomic_load_relaxed(&growers_done) < GROWERS) {
        test_collect();
        cycles++;
    }
    tc_blocking_begin();
    for (int t = 0; t < GROWERS; t++)
        pthread_join(th[t], NULL);
    tc_blocking_end();
    printf("ephemerons: %d chains of %d grown and read over %d collections\n", GROWERS,
           GROW_LEN, cycles);
    for (int t = 0; t < GROWERS; t++)
        assert_int_equal(grow_bad[t], 0);
    test_collect();
    churn();
    assert_true(test_fresh_call(grown_intact, 0, 0, 0));
    for (int t = 0; t < GROWERS; t++)
        roots.keep[6 + t] = NULL;
    test_collect();
    for (int t = 0; t < GROWERS; t++)
        for (int i = 0; i < GROW_LEN; i++) {
            if (tc_ephemeron_key(grown[t][i]) != NULL)
                fail_msg("chain %d: ephemeron %d kept its key after the chain was dropped", t, i);
            tc_ephemeron_destroy(grown[t][i]);
        }
    clear_roots();
}

/* A key marked by the program after its filing: a chain of SHORT keys,
 * key 0 rooted, the others reachable only through the value before; the
 * mark is held right after the filing pass, with nothing past key 0
 * marked, and the program reads key SHORT / 2 (the read shades it). The
 * markers, reaching it later down the chain, find it marked already: it
 * is the program's marking that must bring the key's value along (mark.c,
 * mark_key, for every tracer). Without that the value goes, and the
 * values after it. */
enum { SHORT = 64 };
static tc_ephemeron *short_chain[SHORT];
static uintptr_t h_short_key[SHORT];

static uintptr_t build_short_chain(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    node *k = test_node_new(200000);
    roots.keep[5] = k;
    for (int i = 0; i < SHORT; i++) {
        node *v = test_node_new(201000 + (uint64_t)i);
        node *next = test_node_new(200000 + (uint64_t)i + 1);
        TC_STORE(v, r, next);
        assert_non_null(short_chain[i] = tc_ephemeron_create(k, v));
        h_short_key[i] = test_hide(k);
        k = next;
    }
    return 0;
}

static uintptr_t read_short_key(uintptr_t i, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    return tc_ephemeron_key(short_chain[i]) == test_unhide(h_short_key[i]);
}

static uintptr_t short_chain_intact(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (int i = 0; i < SHORT; i++) {
        node *v = tc_ephemeron_value(short_chain[i]);
        if (!test_node_ok(tc_ephemeron_key(short_chain[i]), 200000 + (uint64_t)i) ||
            !test_node_ok(v, 201000 + (uint64_t)i) ||
            !test_node_ok(v->r, 200000 + (uint64_t)i + 1))
            return 0;
    }
    return 1;
}

static void ephemeron_key_marked_by_the_program_keeps_value_body(void *unused)
{
    (void)unused;
    if (tci_env_cfg.gcstoptheworld) {
        printf("(no concurrent mark to hold with gcstoptheworld=1)\n");
        return;
    }
    test_fresh_call(build_short_chain, 0, 0, 0);
    settle_cycles_in_flight();
    test_clear_stack();
    tci_gate_hold_filed(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_filed_held();
    size_t marked_before = test_hidden_marked(h_short_key, SHORT);
    uintptr_t read = test_fresh_call(read_short_key, SHORT / 2, 0, 0);
    uintptr_t mark = test_fresh_call(test_hidden_mark, h_short_key[SHORT / 2], 0, 0);
    tci_gate_hold_filed(0); /* before any assertion: a failed one leaves the mark held */
    tci_gate_wait_cycle(cycle);
    assert_int_equal(marked_before, 1); /* key 0 alone */
    assert_true(read);
    assert_int_equal(mark, 1); /* the read shaded it */
    churn(); /* a value wrongly freed would be reused by now */
    assert_true(test_fresh_call(short_chain_intact, 0, 0, 0));
    roots.keep[5] = NULL;
    test_collect();
    for (int i = 0; i < SHORT; i++) {
        assert_null(tc_ephemeron_key(short_chain[i]));
        tc_ephemeron_destroy(short_chain[i]);
    }
    clear_roots();
}

/* tc_set_finalizer and tc_weak_destroy take special_lock, which the scan
 * of what finalizable objects point to held for the whole registry (and
 * 300,000 records took tens of ms): it lets go after each batch now. */
static void finalizer_roots_pass_lets_go_of_its_lock_body(void *unused)
{
    (void)unused;
    memset(many_fin_calls, 0, sizeof many_fin_calls);
    test_fresh_call(build_many, 1, 0, 0);
    test_collect();
    uint64_t longest = tci_special_roots_longest_hold();
    printf("finalizer records scanned in one hold of the lock: %llu of %d\n",
           (unsigned long long)longest, MANY);
    /* A batch of 1,024, and the rest of the bucket it ends in. */
    if (longest > 1024 + 64)
        fail_msg("%llu records scanned in one hold", (unsigned long long)longest);
    roots.keep[5] = NULL;
    test_collect();
    assert_int_equal(tc_finalizers_run_pending(), MANY);
    clear_roots();
}

/* Between the mark's end and the sweep of a target's span, the handle
 * still holds the target: the read goes by the span's mark bits. */
static uintptr_t h_live, h_dead, h_fin;
static tc_ephemeron *pending_eph; /* keyed on the dead node */
static int pending_fin_calls;

static void pending_fin(void *obj, void *arg)
{
    (void)arg;
    if (!test_node_ok(obj, 92))
        fin_bad++;
    pending_fin_calls++;
}

static uintptr_t build_before_sweep(uintptr_t out_, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    tc_weak **out = (tc_weak **)out_;
    node *live = test_node_new(90), *dead = test_node_new(91), *fin = test_node_new(92);
    roots.keep[6] = live;
    assert_int_equal(tc_set_finalizer(fin, pending_fin, NULL), 0);
    h_live = test_hide(live);
    h_dead = test_hide(dead);
    h_fin = test_hide(fin);
    out[0] = tc_weak_create(live);
    out[1] = tc_weak_create(dead);
    out[2] = tc_weak_create(fin);
    pending_eph = tc_ephemeron_create(dead, test_node_new(93));
    return 0;
}

/* 1 when the object h hides lies in a span its sweep has not reached. */
static uintptr_t hidden_unswept(uintptr_t h, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    tci_span *s = tci_span_of(h ^ TEST_HIDE_MASK);
    return s && tci_atomic_load_acquire(&s->sweepgen) != tci_atomic_load_relaxed(&tci_sweep_gen);
}

static uintptr_t reads_before_sweep(uintptr_t w_, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    tc_weak **w = (tc_weak **)w_;
    return tc_weak_get(w[0]) == test_unhide(h_live) && test_node_ok(tc_weak_get(w[0]), 90) &&
           tc_weak_get(w[1]) == NULL && tc_weak_get(w[2]) == NULL &&
           tc_ephemeron_key(pending_eph) == NULL && tc_ephemeron_value(pending_eph) == NULL;
}

static void handles_read_dead_as_null_before_their_sweep_body(void *unused)
{
    (void)unused;
    if (tci_env_cfg.gcstoptheworld) {
        printf("(no background sweep to hold with gcstoptheworld=1)\n");
        return;
    }
    tc_weak *w[3];
    pending_fin_calls = 0;
    fin_bad = 0;
    test_fresh_call(build_before_sweep, (uintptr_t)w, 0, 0);
    test_clear_stack();
    tci_gate_hold_sweep(1);
    uint64_t cycle = tci_gate_start_cycle();
    tci_gate_wait_sweep_held();
    /* Nothing here allocates: no span is swept until the gate opens. */
    uintptr_t unswept = test_fresh_call(hidden_unswept, h_dead, 0, 0) &&
                        test_fresh_call(hidden_unswept, h_fin, 0, 0);
    uintptr_t marks = test_fresh_call(test_hidden_mark, h_dead, 0, 0) * 10 +
                      test_fresh_call(test_hidden_mark, h_fin, 0, 0);
    uintptr_t ok = test_fresh_call(reads_before_sweep, (uintptr_t)w, 0, 0);
    tci_gate_hold_sweep(0); /* before any assertion: a failed one leaves the sweep held */
    tci_gate_wait_cycle(cycle);
    assert_true(unswept);
    assert_int_equal(marks, 0); /* both found dead, neither marked yet */
    assert_true(ok);
    assert_false(test_is_live(test_unhide(h_dead))); /* freed by the sweep */
    churn();
    assert_true(test_fresh_call(reads_before_sweep, (uintptr_t)w, 0, 0));
    assert_int_equal(tc_finalizers_run_pending(), 1);
    assert_int_equal(pending_fin_calls, 1);
    assert_int_equal(fin_bad, 0);
    for (int i = 0; i < 3; i++)
        tc_weak_destroy(w[i]);
    tc_ephemeron_destroy(pending_eph);
    clear_roots();
}

/* ---- Bad calls -------------------------------------------------------------- */

static void *unattached_main(void *arg)
{
    node *n = arg;
    errno = 0;
    if (tc_weak_create(n) != NULL || errno != EPERM)
        return (void *)1;
    errno = 0;
    if (tc_set_finalizer(n, count_fin, NULL) != -1 || errno != EPERM)
        return (void *)2;
    errno = 0;
    if (tc_ephemeron_create(n, n) != NULL || errno != EPERM)
        return (void *)3;
    return NULL;
}

static void bad_calls_fail_clearly_body(void *unused)
{
    (void)unused;
    node *n = test_node_new(80);
    roots.keep[0] = n;
    static int not_heap;
    errno = 0;
    assert_null(tc_weak_create(&not_heap));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(tc_set_finalizer((char *)n + 8, count_fin, NULL), -1); /* interior */
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tc_ephemeron_create(NULL, n));
    assert_int_equal(errno, EINVAL);
    pthread_t t;
    void *ret;
    assert_int_equal(pthread_create(&t, NULL, unattached_main, n), 0);
    tc_blocking_begin();
    pthread_join(t, &ret);
    tc_blocking_end();
    assert_null(ret);
    /* Removing a finalizer that was never set is no error. */
    assert_int_equal(tc_set_finalizer(n, NULL, NULL), 0);
    clear_roots();
}

static void weak_cleared_exactly_when_target_dies(void **state)
{
    (void)state;
    test_run_on_fresh_stack(weak_cleared_exactly_when_target_dies_body, NULL);
}

static void weak_references_do_not_keep_alive(void **state)
{
    (void)state;
    test_run_on_fresh_stack(weak_references_do_not_keep_alive_body, NULL);
}

static void weak_get_during_mark_keeps_target(void **state)
{
    (void)state;
    test_run_on_fresh_stack(weak_get_during_mark_keeps_target_body, NULL);
}

static void ephemeron_value_lives_while_key_does(void **state)
{
    (void)state;
    test_run_on_fresh_stack(ephemeron_value_lives_while_key_does_body, NULL);
}

static void ephemeron_cycle_through_value_collected(void **state)
{
    (void)state;
    test_run_on_fresh_stack(ephemeron_cycle_through_value_collected_body, NULL);
}

static void ephemeron_chain_reaches_fixpoint(void **state)
{
    (void)state;
    test_run_on_fresh_stack(ephemeron_chain_reaches_fixpoint_body, NULL);
}

static void ephemeron_long_chain_settles_in_linear_work(void **state)
{
    (void)state;
    test_run_on_fresh_stack(ephemeron_long_chain_settles_in_linear_work_body, NULL);
}

static void finalizers_run_once_never_while_reachable(void **state)
{
    (void)state;
    test_run_on_fresh_stack(finalizers_run_once_never_while_reachable_body, NULL);
}

static void finalizer_contents_greyed_after_the_first_stop(void **state)
{
    (void)state;
    test_run_on_fresh_stack(finalizer_contents_greyed_after_the_first_stop_body, NULL);
}

static void finalizer_resurrection_runs_once(void **state)
{
    (void)state;
    test_run_on_fresh_stack(finalizer_resurrection_runs_once_body, NULL);
}

static void finalizer_order_follows_references(void **state)
{
    (void)state;
    test_run_on_fresh_stack(finalizer_order_follows_references_body, NULL);
}

static void weak_cleared_before_finalizer_runs(void **state)
{
    (void)state;
    test_run_on_fresh_stack(weak_cleared_before_finalizer_runs_body, NULL);
}

static void finalizer_thread_runs_them(void **state)
{
    (void)state;
    test_run_on_fresh_stack(finalizer_thread_runs_them_body, NULL);
}

static void weak_references_settled_outside_the_stops(void **state)
{
    (void)state;
    test_run_on_fresh_stack(weak_references_settled_outside_the_stops_body, NULL);
}

static void finalizer_records_settled_outside_the_stops(void **state)
{
    (void)state;
    test_run_on_fresh_stack(finalizer_records_settled_outside_the_stops_body, NULL);
}

static void ephemerons_settled_outside_the_stops(void **state)
{
    (void)state;
    test_run_on_fresh_stack(ephemerons_settled_outside_the_stops_body, NULL);
}

static void ephemerons_grown_and_read_during_cycles(void **state)
{
    (void)state;
    test_run_on_fresh_stack(ephemerons_grown_and_read_during_cycles_body, NULL);
}

static void ephemeron_key_marked_by_the_program_keeps_value(void **state)
{
    (void)state;
    test_run_on_fresh_stack(ephemeron_key_marked_by_the_program_keeps_value_body, NULL);
}

static void finalizer_roots_pass_lets_go_of_its_lock(void **state)
{
    (void)state;
    test_run_on_fresh_stack(finalizer_roots_pass_lets_go_of_its_lock_body, NULL);
}

static void handles_read_dead_as_null_before_their_sweep(void **state)
{
    (void)state;
    test_run_on_fresh_stack(handles_read_dead_as_null_before_their_sweep_body, NULL);
}

static void bad_calls_fail_clearly(void **state)
{
    (void)state;
    test_run_on_fresh_stack(bad_calls_fail_clearly_body, NULL);
}

static int setup(void **state)
{
    (void)state;
    setenv("TRICOLOR_DEBUG", "checkmark=1,verify=1", 0);
    if (tc_init() != 0)
        return -1;
    if (!test_node_type() || tc_root_add(&roots, sizeof roots) != 0)
        return -1;
    /* Finalizers on this thread, when the tests say, but for the test of
     * the finalizer thread. */
    if (tc_finalizer_thread_disable() != 1)
        return -1;
    return 0;
}

int main(void)
{
    /* A failed assertion on the fresh-stack threads aborts with its
     * message (cmocka's longjmp works only on the thread that runs it). */
    setenv("CMOCKA_TEST_ABORT", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weak_cleared_exactly_when_target_dies),
        cmocka_unit_test(weak_references_do_not_keep_alive),
        cmocka_unit_test(weak_get_during_mark_keeps_target),
        cmocka_unit_test(ephemeron_value_lives_while_key_does),
        cmocka_unit_test(ephemeron_cycle_through_value_collected),
        cmocka_unit_test(ephemeron_chain_reaches_fixpoint),
        cmocka_unit_test(ephemeron_long_chain_settles_in_linear_work),
        cmocka_unit_test(finalizers_run_once_never_while_reachable),
        cmocka_unit_test(finalizer_contents_greyed_after_the_first_stop),
        cmocka_unit_test(finalizer_resurrection_runs_once),
        cmocka_unit_test(finalizer_order_follows_references),
        cmocka_unit_test(weak_cleared_before_finalizer_runs),
        cmocka_unit_test(finalizer_thread_runs_them),
        cmocka_unit_test(weak_references_settled_outside_the_stops),
        cmocka_unit_test(finalizer_records_settled_outside_the_stops),
        cmocka_unit_test(ephemerons_settled_outside_the_stops),
        cmocka_unit_test(ephemerons_grown_and_read_during_cycles),
        cmocka_unit_test(ephemeron_key_marked_by_the_program_keeps_value),
        cmocka_unit_test(finalizer_roots_pass_lets_go_of_its_lock),
        cmocka_unit_test(handles_read_dead_as_null_before_their_sweep),
        cmocka_unit_test(bad_calls_fail_clearly),
    };
    /* First the stopped collector, in a child (tc_init runs once per
     * process), then the concurrent one here. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        setenv("TRICOLOR_DEBUG", "gcstoptheworld=1,verify=1", 1);
        printf("== the specials with gcstoptheworld=1\n");
        return cmocka_run_group_tests(tests, setup, NULL);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return 1;
    printf("== the specials with the concurrent collector\n");
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the gcstoptheworld=1 run failed (status %d)\n", status);
        return 1;
    }
    return rc;
}

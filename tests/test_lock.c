/* test_lock.c: the lock-order checker and the `_locked` assertions of
 * runtime/lock.h, which debug and sanitizer builds (TC_DEBUG) compile in.
 * Each scenario breaks a rule the way a real caller could, in a child
 * process (the checks abort), and the parent reads the message: it must
 * name the locks involved. In a release build the checks are compiled
 * out and these tests are skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "child.h"
#include "testing.h"
#include "lock.h"
#include "tricolor.h"

static void skip_unless_checked(void)
{
    if (!TCI_LOCK_CHECKS) {
        print_message("release build: the lock checks are compiled out (make test-debug)\n");
        skip();
    }
}

static void expect_abort_saying(const child_result *r, const char *what)
{
    if (!WIFSIGNALED(r->status) || WTERMSIG(r->status) != SIGABRT)
        fail_msg("child status %#x, not SIGABRT; its stderr:\n%s", r->status, r->err);
    expect_says(r, what);
}

/* A root callback runs under roots_lock (rank ROOTS); tc_set_gc_percent
 * takes pacer_lock (rank PACER, outer to it). The order inverted, through
 * the public API alone. */
static void set_gc_percent_cb(tc_tracer *tr, void *arg)
{
    (void)tr;
    (void)arg;
    tc_set_gc_percent(100);
}

static void child_inversion_through_a_root_callback(void)
{
    CHECK(tc_init() == 0);
    CHECK(tc_root_callback_add(set_gc_percent_cb, NULL) == 0);
    tc_collect();
    fprintf(stderr, "no abort\n");
}

static void inverted_order_aborts_naming_both_locks(void **state)
{
    (void)state;
    skip_unless_checked();
    child_result r;
    run_child(child_inversion_through_a_root_callback, NULL, &r);
    char want[160];
    snprintf(want, sizeof want, "tricolor: lock order: taking pacer_lock (rank %d) while "
             "holding roots_lock (rank %d)", TCI_RANK_PACER, TCI_RANK_ROOTS);
    expect_abort_saying(&r, want);
}

/* The same callback made legal: what it does under roots_lock takes no
 * outer lock (tracing a range is what a callback is for). */
static void *volatile kept;

static void trace_cb(tc_tracer *tr, void *arg)
{
    (void)arg;
    tc_trace(tr, (void *)kept);
}

static void child_order_kept(void)
{
    CHECK(tc_init() == 0);
    CHECK(tc_root_callback_add(trace_cb, NULL) == 0);
    kept = tc_alloc_conservative(64);
    CHECK(kept != NULL);
    for (int i = 0; i < 3; i++)
        tc_collect();
    CHECK(tc_object_base((void *)kept) == (void *)kept);
}

static void kept_order_runs_clean(void **state)
{
    (void)state;
    skip_unless_checked();
    child_result r;
    run_child(child_order_kept, NULL, &r);
    expect_exit0(&r);
}

/* tci_markers_warm_locked needs world_lock (the collector's thread holds it
 * as it starts); called without it. */
static void child_locked_without_its_lock(void)
{
    CHECK(tc_init() == 0);
    tci_markers_warm_locked();
    fprintf(stderr, "no abort\n");
}

static void locked_function_without_its_lock_aborts(void **state)
{
    (void)state;
    skip_unless_checked();
    child_result r;
    run_child(child_locked_without_its_lock, NULL, &r);
    expect_abort_saying(&r, "tricolor: tci_markers_warm_locked: called without world_lock held");
}

/* Two locks of the same rank (two centrals' locks are one rank): the
 * second would wait on an equal, which the order forbids as it could
 * deadlock against a thread taking them the other way. */
static void child_same_rank(void)
{
    tci_mutex a, b;
    tci_mutex_init(&a, TCI_RANK_CENTRAL, "central a");
    tci_mutex_init(&b, TCI_RANK_CENTRAL, "central b");
    tci_mutex_lock(&a);
    tci_mutex_lock(&b);
    fprintf(stderr, "no abort\n");
}

static void equal_rank_aborts(void **state)
{
    (void)state;
    skip_unless_checked();
    child_result r;
    run_child(child_same_rank, NULL, &r);
    /* The ranks from the enum: a lock added before it moves them. */
    char want[128];
    snprintf(want, sizeof want, "taking central b (rank %d) while holding central a (rank %d)",
             TCI_RANK_CENTRAL, TCI_RANK_CENTRAL);
    expect_abort_saying(&r, want);
}

/* A condition wait on a lock that is not the innermost held: the wait
 * releases only that one, and takes it again on waking, against the order. */
static void child_wait_not_innermost(void)
{
    tci_mutex outer, inner;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    tci_mutex_init(&outer, TCI_RANK_GC, "outer");
    tci_mutex_init(&inner, TCI_RANK_HEAP, "inner");
    tci_mutex_lock(&outer);
    tci_mutex_lock(&inner);
    struct timespec ts = { 0, 0 }; /* in the past: returns at once if reached */
    tci_cond_timedwait(&cv, &outer, &ts);
    fprintf(stderr, "no abort\n");
}

static void wait_on_outer_lock_aborts(void **state)
{
    (void)state;
    skip_unless_checked();
    child_result r;
    run_child(child_wait_not_innermost, NULL, &r);
    char want[96];
    snprintf(want, sizeof want, "waiting on outer (rank %d) while holding inner", TCI_RANK_GC);
    expect_abort_saying(&r, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inverted_order_aborts_naming_both_locks),
        cmocka_unit_test(kept_order_runs_clean),
        cmocka_unit_test(locked_function_without_its_lock_aborts),
        cmocka_unit_test(equal_rank_aborts),
        cmocka_unit_test(wait_on_outer_lock_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

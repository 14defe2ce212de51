/* test_oom.c: out-of-memory recovery (tc_on_out_of_memory), through the
 * fault-injecting OS layer: an allocation the OS refuses memory for runs
 * the callback, a collection and a scavenge and retries once; the retry
 * reuses the garbage and what the callback dropped; ENOMEM only when
 * nothing could be freed; the heap usable afterwards. Each scenario runs
 * in a child with a heap of its own (TRICOLOR_GC=off: no cycle but the
 * recovery's frees the garbage first). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "child.h"
#include "model.h"
#include "os.h"
#include "testutil.h"
#include "tricolor.h"

#define MiB ((size_t)1 << 20)
#define NODES 48          /* a list of 48 MiB: 3/4 of the first 64 MiB arena */
#define REQUEST (40 * MiB) /* more than the arena's free tail: the heap must grow */

typedef struct bnode {
    struct bnode *next;
    uint64_t id;
} bnode;

static const tc_type *t_node;
static void *roots[2]; /* [0] the list, [1] the allocation that needed memory */

static uintptr_t build_list(uintptr_t n, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    bnode *head = NULL;
    for (uintptr_t i = 0; i < n; i++) {
        bnode *x = tc_alloc_sized(t_node, MiB);
        if (!x)
            return 0;
        x->id = i;
        tc_store(x, &x->next, head);
        head = x;
    }
    roots[0] = head;
    return 1;
}

static uintptr_t list_ok(uintptr_t n, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    uintptr_t i = n;
    for (bnode *x = roots[0]; x; x = x->next)
        if (x->id != --i)
            return 0;
    return i == 0;
}

static void setup(void)
{
    CHECK(tc_init() == 0);
    static const size_t offs[1] = {offsetof(bnode, next)};
    t_node = tc_type_new("oom.node", sizeof(bnode), offs, 1);
    CHECK(t_node != NULL);
    CHECK(tc_root_add(roots, sizeof roots) == 0);
    CHECK(test_fresh_call(build_list, NODES, 0, 0) == 1);
}

static tc_memstats stats(void)
{
    tc_memstats m;
    tc_read_memstats(&m);
    return m;
}

/* The heap usable after: small and large allocations, a collection. */
static void check_usable(void)
{
    for (int i = 0; i < 10000; i++)
        CHECK(tc_alloc(t_node) != NULL);
    CHECK(tc_alloc_atomic(4 * MiB) != NULL);
    tc_collect();
    CHECK(tc_alloc_atomic(REQUEST) != NULL);
}

static void child_retry_frees_garbage(void)
{
    setup();
    roots[0] = NULL; /* the list is garbage; no cycle has run */
    tc_memstats m0 = stats();
    /* Every mapping refused: only the garbage can serve the request. */
    tci_os_fail_map_from(1);
    roots[1] = tc_alloc_atomic(REQUEST);
    tci_os_fail_map_after(0);
    tc_memstats m1 = stats();
    fprintf(stderr, "retry: %s, gc %u -> %u, heap_sys %zu -> %zu MiB, retries %llu, "
                    "failures %llu\n", roots[1] ? "allocated" : "NULL", m0.num_gc, m1.num_gc,
            (size_t)(m0.heap_sys / MiB), (size_t)(m1.heap_sys / MiB),
            (unsigned long long)m1.oom_retries, (unsigned long long)m1.oom_failures);
    CHECK(roots[1] != NULL);
    CHECK(m1.num_gc > m0.num_gc);
    CHECK(m1.oom_retries == m0.oom_retries + 1);
    CHECK(m1.oom_failures == m0.oom_failures);
    CHECK(m1.heap_sys <= m0.heap_sys);
    check_usable();
}

/* Small objects: n KiB-sized nodes in a list from roots[slot]. */
static uintptr_t build_small(uintptr_t n, uintptr_t slot, uintptr_t c)
{
    (void)c;
    bnode *head = NULL;
    for (uintptr_t i = 0; i < n; i++) {
        bnode *x = tc_alloc_sized(t_node, 1024);
        if (!x)
            return 0;
        x->id = i;
        tc_store(x, &x->next, head);
        head = x;
    }
    roots[slot] = head;
    return 1;
}

/* The small-object path (a size class's span from the page heap): 48 MiB
 * of small garbage, then 40 MiB of small objects kept with every mapping
 * refused. */
static void child_small_retry(void)
{
    setup();
    roots[0] = NULL;
    tc_collect(); /* the large list gone: the arena free again */
    CHECK(test_fresh_call(build_small, NODES * 1024, 0, 0) == 1);
    roots[0] = NULL; /* small garbage, no cycle since */
    tc_memstats m0 = stats();
    tci_os_fail_map_from(1);
    uintptr_t ok = test_fresh_call(build_small, REQUEST / 1024, 1, 0);
    tci_os_fail_map_after(0);
    tc_memstats m1 = stats();
    fprintf(stderr, "small: %s, gc %u -> %u, heap_sys %zu -> %zu MiB, retries %llu, "
                    "failures %llu\n", ok ? "allocated" : "NULL", m0.num_gc, m1.num_gc,
            (size_t)(m0.heap_sys / MiB), (size_t)(m1.heap_sys / MiB),
            (unsigned long long)m1.oom_retries, (unsigned long long)m1.oom_failures);
    CHECK(ok == 1);
    CHECK(m1.oom_retries >= m0.oom_retries + 1);
    /* Every mapping was refused: the 40 MiB came from the arena mapped
     * already (heap_sys may grow by the arena's tail carved meanwhile). */
    CHECK(m1.oom_failures == m0.oom_failures);
    roots[1] = NULL;
    check_usable();
}

static int calls;
static size_t call_request;
static uint32_t call_num_gc;
static void *alloc_inside;
static int alloc_inside_errno;

static void drop_cache(void *arg, size_t request)
{
    CHECK(arg == &calls);
    calls++;
    call_request = request;
    call_num_gc = stats().num_gc;
    roots[0] = NULL; /* the program's cache of 48 MiB */
}

static void child_callback_frees(void)
{
    setup();
    CHECK(tc_on_out_of_memory(drop_cache, &calls) == 0);
    tc_memstats m0 = stats();
    tci_os_fail_map_from(1);
    roots[1] = tc_alloc_atomic(REQUEST);
    tci_os_fail_map_after(0);
    tc_memstats m1 = stats();
    fprintf(stderr, "callback: %d call(s), request %zu MiB, %s\n", calls,
            call_request / MiB, roots[1] ? "allocated" : "NULL");
    CHECK(calls == 1);
    CHECK(call_request >= REQUEST);
    CHECK(call_num_gc == m0.num_gc); /* before the collection */
    CHECK(roots[1] != NULL);
    CHECK(m1.num_gc > m0.num_gc);
    CHECK(m1.oom_retries == m0.oom_retries + 1 && m1.oom_failures == m0.oom_failures);
    CHECK(m1.heap_sys <= m0.heap_sys);
    CHECK(tc_on_out_of_memory(NULL, NULL) == 0);
    check_usable();
}

static void keep_and_allocate(void *arg, size_t request)
{
    (void)arg, (void)request;
    calls++;
    errno = 0;
    alloc_inside = tc_alloc_atomic(REQUEST); /* fails at once: no nested recovery */
    alloc_inside_errno = errno;
}

static void child_enomem_when_nothing_freed(void)
{
    setup();
    CHECK(tc_on_out_of_memory(keep_and_allocate, NULL) == 0);
    tc_memstats m0 = stats();
    tci_os_fail_map_from(1);
    errno = 0;
    roots[1] = tc_alloc_atomic(REQUEST);
    int e = errno;
    tci_os_fail_map_after(0);
    tc_memstats m1 = stats();
    fprintf(stderr, "held: %s (errno %d), %d call(s), retries %llu, failures %llu\n",
            roots[1] ? "allocated" : "NULL", e, calls, (unsigned long long)m1.oom_retries,
            (unsigned long long)m1.oom_failures);
    CHECK(roots[1] == NULL && e == ENOMEM);
    CHECK(calls == 1);
    CHECK(alloc_inside == NULL && alloc_inside_errno == ENOMEM);
    CHECK(m1.oom_retries == m0.oom_retries + 1);
    CHECK(m1.oom_failures == m0.oom_failures + 2); /* the callback's and the request's */
    CHECK(m1.num_gc > m0.num_gc);
    CHECK(test_fresh_call(list_ok, NODES, 0, 0) == 1); /* nothing held was freed */
    CHECK(tc_on_out_of_memory(NULL, NULL) == 0);
    check_usable();
    CHECK(test_fresh_call(list_ok, NODES, 0, 0) == 1);
}

static const char *const child_env[] = { "TRICOLOR_GC=off", "TRICOLOR_DEBUG=verify=1", NULL };

static void run_scenario(void (*fn)(void))
{
    child_result r;
    run_child(fn, child_env, &r);
    printf("  %s", r.err);
    expect_exit0(&r);
}

static void test_oom_retry_frees_garbage(void **state)
{
    (void)state;
    run_scenario(child_retry_frees_garbage);
}

static void test_oom_small_retry(void **state)
{
    (void)state;
    run_scenario(child_small_retry);
}

static void test_oom_callback_frees(void **state)
{
    (void)state;
    run_scenario(child_callback_frees);
}

static void test_oom_enomem_when_nothing_freed(void **state)
{
    (void)state;
    run_scenario(child_enomem_when_nothing_freed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_retry_frees_garbage),
        cmocka_unit_test(test_oom_small_retry),
        cmocka_unit_test(test_oom_callback_frees),
        cmocka_unit_test(test_oom_enomem_when_nothing_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

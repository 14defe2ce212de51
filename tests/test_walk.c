/* test_walk.c: the heap walk (tc_heap_walk): after tc_collect, every
 * object the test keeps is listed once with its base, size and type, and
 * the counts per type are what it kept, for precise, traced, array,
 * atomic, conservative, large and huge objects; and the misuses it
 * refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "testutil.h"
#include "tricolor.h"

enum { K_PRECISE, K_TRACED, K_ARRAY, K_ATOMIC, K_CONS, K_LARGE, K_HUGE, NKINDS };
#define PER_KIND 1000 /* small kinds; large 20, huge 2 */
#define NLARGE 20
#define NHUGE 2

typedef struct wnode {
    struct wnode *next;
    uint64_t payload[3];
} wnode;

static const tc_type *t_precise, *t_traced, *t_elem;
/* The kept objects, a root range (registered in main). */
static void *kept[NKINDS][PER_KIND];
static size_t nkept[NKINDS];
static size_t want_size[NKINDS];

static void trace_traced(void *obj, size_t size, tc_tracer *tr)
{
    (void)size;
    tc_trace_slot(tr, (void *const *)obj);
}

typedef struct walk_count {
    size_t per_type[3];        /* t_precise, t_traced, t_elem objects seen */
    size_t seen[NKINDS];       /* kept objects found, each once */
    size_t bad;                /* a kept object with the wrong size or type */
    size_t objects;
} walk_count;

static int find_kept(void *obj, int *kind, size_t *idx)
{
    for (int k = 0; k < NKINDS; k++)
        for (size_t i = 0; i < nkept[k]; i++)
            if (kept[k][i] == obj) {
                *kind = k;
                *idx = i;
                return 1;
            }
    return 0;
}

static const tc_type *kind_type(int k)
{
    switch (k) {
    case K_PRECISE: return t_precise;
    case K_TRACED: return t_traced;
    case K_ARRAY: return t_elem;
    case K_LARGE: return t_elem; /* a large array of t_elem */
    default: return NULL;
    }
}

/* The kept objects' addresses sorted, their kinds, and whether the walk
 * listed each yet: the callback looks objects up by bsearch. */
static void **sorted;
static int *sorted_kind;
static size_t nsorted;
static unsigned char *found_once;

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

static void count_fn(void *arg, void *obj, size_t size, const tc_type *type)
{
    walk_count *c = arg;
    c->objects++;
    if (type == t_precise)
        c->per_type[0]++;
    else if (type == t_traced)
        c->per_type[1]++;
    else if (type == t_elem)
        c->per_type[2]++;
    void **hit = bsearch(&obj, sorted, nsorted, sizeof *sorted, cmp_ptr);
    if (!hit)
        return;
    size_t i = (size_t)(hit - sorted);
    int k = sorted_kind[i];
    if (found_once[i]++ == 0)
        c->seen[k]++;
    else
        c->bad++;
    if (type != kind_type(k) || size < want_size[k])
        c->bad++;
}

static void build_sorted(void)
{
    size_t n = 0;
    for (int k = 0; k < NKINDS; k++)
        n += nkept[k];
    sorted = malloc(n * sizeof *sorted);
    sorted_kind = malloc(n * sizeof *sorted_kind);
    found_once = calloc(n, 1);
    assert_non_null(sorted);
    assert_non_null(sorted_kind);
    assert_non_null(found_once);
    /* Pairs sorted together: sort addresses, then find each one's kind. */
    nsorted = 0;
    for (int k = 0; k < NKINDS; k++)
        for (size_t i = 0; i < nkept[k]; i++)
            sorted[nsorted++] = kept[k][i];
    qsort(sorted, nsorted, sizeof *sorted, cmp_ptr);
    for (size_t i = 0; i < nsorted; i++) {
        int k = -1;
        size_t idx;
        assert_true(find_kept(sorted[i], &k, &idx));
        sorted_kind[i] = k;
    }
}

/* Objects of the test's types made and dropped, in a frame of their own
 * (their addresses stay in none of the caller's). */
static uintptr_t make_garbage(uintptr_t n, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    for (uintptr_t i = 0; i < n; i++) {
        if (!tc_alloc(t_precise) || !tc_alloc(t_traced) || !tc_alloc_array(t_elem, 3))
            return 0;
    }
    return 1;
}

static void keep(int k, void *p, size_t size)
{
    assert_non_null(p);
    kept[k][nkept[k]++] = p;
    want_size[k] = size;
}

static void test_walk_counts_per_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < PER_KIND; i++) {
        keep(K_PRECISE, tc_alloc(t_precise), sizeof(wnode));
        keep(K_TRACED, tc_alloc(t_traced), 48);
        keep(K_ARRAY, tc_alloc_array(t_elem, 5), 5 * sizeof(wnode));
        keep(K_ATOMIC, tc_alloc_atomic(100), 100);
        keep(K_CONS, tc_alloc_conservative(200), 200);
    }
    for (size_t i = 0; i < NLARGE; i++)
        keep(K_LARGE, tc_alloc_array(t_elem, 4096), 4096 * sizeof(wnode)); /* 128 KiB */
    for (size_t i = 0; i < NHUGE; i++)
        keep(K_HUGE, tc_alloc_atomic(TCI_ARENA_SIZE), TCI_ARENA_SIZE);
    assert_int_equal(test_fresh_call(make_garbage, 2000, 0, 0), 1);
    test_collect();
    build_sorted();
    walk_count c;
    memset(&c, 0, sizeof c);
    assert_int_equal(tc_heap_walk(count_fn, &c), 0);
    tc_memstats ms = test_stats();
    printf("  walked %zu objects (heap_objects %llu); precise %zu, traced %zu, "
           "of the array type %zu\n", c.objects, (unsigned long long)ms.heap_objects,
           c.per_type[0], c.per_type[1], c.per_type[2]);
    for (int k = 0; k < NKINDS; k++)
        assert_int_equal(c.seen[k], nkept[k]);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.per_type[0], nkept[K_PRECISE]);
    assert_int_equal(c.per_type[1], nkept[K_TRACED]);
    assert_int_equal(c.per_type[2], nkept[K_ARRAY] + nkept[K_LARGE]);
    assert_int_equal(c.objects, ms.heap_objects);
    free(sorted);
    free(sorted_kind);
    free(found_once);
    /* Dropped, collected: the walk no longer lists them. */
    for (int k = 0; k < NKINDS; k++) {
        memset(kept[k], 0, sizeof kept[k]);
        nkept[k] = 0;
    }
    test_collect();
    memset(&c, 0, sizeof c);
    nsorted = 0;
    assert_int_equal(tc_heap_walk(count_fn, &c), 0);
    assert_int_equal(c.per_type[0] + c.per_type[1] + c.per_type[2], 0);
}

static int nested_rc, nested_errno;
static void *alloc_in_fn;
static int alloc_errno;

static void misuse_fn(void *arg, void *obj, size_t size, const tc_type *type)
{
    (void)obj, (void)size, (void)type;
    int *calls = arg;
    if ((*calls)++ == 0) {
        nested_rc = tc_heap_walk(misuse_fn, arg);
        nested_errno = errno;
        errno = 0;
        alloc_in_fn = tc_alloc_atomic(16);
        alloc_errno = errno;
    }
}

static void test_walk_refuses_misuse(void **state)
{
    (void)state;
    void *keepme = tc_alloc_atomic(32);
    kept[K_ATOMIC][0] = keepme;
    nkept[K_ATOMIC] = 1;
    errno = 0;
    assert_int_equal(tc_heap_walk(NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    tc_blocking_begin();
    errno = 0;
    int rc = tc_heap_walk(misuse_fn, NULL);
    int e = errno;
    tc_blocking_end();
    assert_int_equal(rc, -1);
    assert_int_equal(e, EPERM);
    int calls = 0;
    assert_int_equal(tc_heap_walk(misuse_fn, &calls), 0);
    assert_true(calls >= 1);
    assert_int_equal(nested_rc, -1);
    assert_int_equal(nested_errno, EPERM);
    assert_null(alloc_in_fn);
    assert_int_equal(alloc_errno, EPERM);
    /* The heap works on afterwards. */
    assert_non_null(tc_alloc_atomic(16));
    assert_non_null(tc_alloc(t_precise));
    kept[K_ATOMIC][0] = NULL;
    nkept[K_ATOMIC] = 0;
}

int main(void)
{
    if (test_init_verified() != 0)
        return 1;
    static const size_t offs[1] = {offsetof(wnode, next)};
    t_precise = tc_type_new("walk.precise", sizeof(wnode), offs, 1);
    t_traced = tc_type_new_traced("walk.traced", 48, trace_traced);
    t_elem = tc_type_new("walk.elem", sizeof(wnode), offs, 1);
    if (!t_precise || !t_traced || !t_elem || tc_root_add(kept, sizeof kept) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_counts_per_type),
        cmocka_unit_test(test_walk_refuses_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

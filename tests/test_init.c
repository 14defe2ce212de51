/* test_init.c: tc_init and thread attachment: before, at and after
 * initialisation. The tests run in order: the first ones see no heap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"
#include "tricolor.h"

static void test_init_before_init_nothing_works(void **state)
{
    (void)state;
    assert_int_equal(tc_thread_is_attached(), 0);
    errno = 0;
    assert_int_equal(tc_thread_attach(), -1);
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_null(tc_alloc_atomic(16));
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_null(tc_alloc_conservative(16));
    assert_int_equal(errno, EPERM);
    tc_memstats ms;
    memset(&ms, 0xff, sizeof ms);
    tc_read_memstats(&ms);
    assert_int_equal(ms.num_gc, 0);
    assert_int_equal(ms.mallocs, 0);
    assert_int_equal(ms.heap_sys, 0);
    /* Not attached: reported and ignored, never a crash. */
    tc_collect();
    tc_safepoint();
}

static void test_init_succeeds(void **state)
{
    (void)state;
    assert_int_equal(tc_init(), 0);
    assert_int_equal(tc_thread_is_attached(), 1);
    void *p = tc_alloc_atomic(64);
    assert_non_null(p);
    assert_int_equal(tc_object_size(p) >= 64, 1);
}

static void test_init_twice_ealready(void **state)
{
    (void)state;
    tc_memstats before, after;
    tc_read_memstats(&before);
    errno = 0;
    assert_int_equal(tc_init(), -1);
    assert_int_equal(errno, EALREADY);
    assert_int_equal(tc_thread_is_attached(), 1);
    tc_read_memstats(&after);
    assert_int_equal(after.mallocs, before.mallocs);
    assert_int_equal(after.gc_percent, before.gc_percent);

    /* The heap is unchanged and still works. */
    static const size_t offs[] = { 0 };
    const tc_type *t = tc_type_new("init_node", 16, offs, 1);
    assert_non_null(t);
    void **keep = tc_alloc(t);
    assert_non_null(keep);
    char *payload = tc_alloc_atomic(200);
    assert_non_null(payload);
    memset(payload, 0x5a, 200);
    keep[0] = payload;
    volatile uintptr_t hidden = test_hide(keep); /* never unhidden early */
    keep = NULL;
    payload = NULL;
    /* Reachable only through a root range from now on. */
    static uintptr_t root[1];
    root[0] = (uintptr_t)test_unhide(hidden);
    assert_int_equal(tc_root_add(root, sizeof root), 0);
    test_collect();
    tc_collect();
    void **k = test_unhide(hidden);
    assert_true(test_is_live(k));
    assert_true(test_is_live(k[0]));
    for (int i = 0; i < 200; i++)
        assert_int_equal(((unsigned char *)k[0])[i], 0x5a);
    tc_root_remove(root);
    tc_read_memstats(&after);
    assert_true(after.num_gc >= before.num_gc + 2);
}

static void test_init_attach_twice_ealready(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(tc_thread_attach(), -1);
    assert_int_equal(errno, EALREADY);
    assert_int_equal(tc_thread_is_attached(), 1);
    assert_non_null(tc_alloc_atomic(32));
}

static void *attach_twice_thread(void *arg)
{
    int *res = arg;
    res[0] = tc_thread_is_attached();
    res[1] = tc_thread_attach();
    res[2] = tc_thread_attach();
    res[3] = errno;
    res[4] = tc_alloc_atomic(48) != NULL;
    tc_thread_detach();
    res[5] = tc_thread_is_attached();
    /* Detached threads may attach again. */
    res[6] = tc_thread_attach();
    tc_thread_detach();
    return NULL;
}

static void test_init_other_thread_attach(void **state)
{
    (void)state;
    int res[7] = { -9, -9, -9, -9, -9, -9, -9 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, attach_twice_thread, res), 0);
    tc_blocking_begin();
    pthread_join(th, NULL);
    tc_blocking_end();
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], 0);
    assert_int_equal(res[2], -1);
    assert_int_equal(res[3], EALREADY);
    assert_int_equal(res[4], 1);
    assert_int_equal(res[5], 0);
    assert_int_equal(res[6], 0);
    tc_collect();
}

int main(void)
{
    test_env_verify();
    /* In this order: the first test runs before tc_init. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_before_init_nothing_works),
        cmocka_unit_test(test_init_succeeds),
        cmocka_unit_test(test_init_twice_ealready),
        cmocka_unit_test(test_init_attach_twice_ealready),
        cmocka_unit_test(test_init_other_thread_attach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

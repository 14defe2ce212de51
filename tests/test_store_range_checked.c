/* test_store_range_checked.c: a program built with TC_CHECK_STORES
 * takes the bulk stores' checking path at every call, with no mark
 * running too: a bad range is refused with its message, a good one is
 * memmove's. (tests/test_store_range.c tests the checks themselves.) */
#define TC_CHECK_STORES 1

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "child.h"
#include "testing.h"
#include "tricolor.h"

static void child_checked_idle(void)
{
    CHECK(tc_init() == 0);
    CHECK(tci_phase() == TCI_PHASE_OFF);
    const size_t off = 0;
    const tc_type *t = tc_type_new("slot", sizeof(void *), &off, 1);
    CHECK(t != NULL);
    uintptr_t *v = tc_alloc_array(t, 8);
    CHECK(v != NULL);
    size_t n = tc_object_size(v) / sizeof(void *);
    for (size_t i = 0; i < n; i++)
        v[i] = 8 * i + 8;
    errno = 0;
    tc_store_range(v, &v[n - 2], &v[0], 4);
    CHECK(errno == EINVAL);
    errno = 0;
    tc_fill_range(v, &v[n - 1], NULL, 2);
    CHECK(errno == EINVAL);
    for (size_t i = 0; i < n; i++)
        CHECK(v[i] == 8 * i + 8);
    tc_store_range(v, &v[1], &v[0], 3);
    CHECK(v[0] == 8 && v[1] == 8 && v[2] == 16 && v[3] == 24 && v[4] == 40);
}

static void checked_build_refuses_idle(void **state)
{
    (void)state;
    child_result r;
    run_child(child_checked_idle, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tricolor: tc_store_range(");
    expect_says(&r, "tricolor: tc_fill_range(");
    expect_says(&r, "dst's range is not inside obj (nothing stored)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checked_build_refuses_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_init_badenv.c: tc_init with a bad TRICOLOR_* value fails cleanly
 * (its own binary: tc_init can succeed only once per process). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tricolor.h"

/* Runs fn with stderr going to a temporary file; returns what it wrote. */
static int capture_stderr(int (*fn)(void), char *buf, size_t len, int *err)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    int rc = fn();
    *err = errno;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, len - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    return rc;
}

static void test_init_badenv_gc_abc(void **state)
{
    (void)state;
    char msg[1024];
    int err = 0;
    int rc = capture_stderr(tc_init, msg, sizeof msg, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err, EINVAL);
    if (!strstr(msg, "TRICOLOR_GC") || !strstr(msg, "abc"))
        fail_msg("stderr \"%s\" should name TRICOLOR_GC and \"abc\"", msg);
    assert_int_equal(tc_thread_is_attached(), 0);
}

/* A failed tc_init leaves nothing behind: with the value fixed, the next
 * call sets the heap up. */
static void test_init_badenv_retry_after_fix(void **state)
{
    (void)state;
    setenv("TRICOLOR_GC", "100", 1);
    assert_int_equal(tc_init(), 0);
    assert_int_equal(tc_thread_is_attached(), 1);
    void *p = tc_alloc_atomic(100);
    assert_non_null(p);
    tc_collect();
}

int main(void)
{
    setenv("TRICOLOR_GC", "abc", 1);
    /* In this order: the second test fixes the environment. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_badenv_gc_abc),
        cmocka_unit_test(test_init_badenv_retry_after_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

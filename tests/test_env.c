/* test_env.c: parsing of the TRICOLOR_* environment. Pure functions: the
 * heap is never set up here (but in the children that check tc_init's
 * refusals). */
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

#include "child.h"
#include "env.h"
#include "tricolor.h"

#define ERRLEN 512

/* The message must name the variable and quote the value. */
static void assert_err_names(const char *err, const char *var, const char *value)
{
    char quoted[300];
    snprintf(quoted, sizeof quoted, "\"%s\"", value);
    if (!strstr(err, var) || !strstr(err, quoted))
        fail_msg("error message \"%s\" should name %s and the value %s", err, var, quoted);
}

static void test_env_gc_accepts(void **state)
{
    (void)state;
    static const struct { const char *value; int want; } ok[] = {
        { "100", 100 }, { "0", 0 }, { "off", -1 }, { "1", 1 }, { "1000000", 1000000 },
        { "050", 50 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char err[ERRLEN] = "";
        int out = 12345;
        if (tci_env_parse_gc(ok[i].value, &out, err, sizeof err) != 0)
            fail_msg("TRICOLOR_GC=\"%s\" rejected: %s", ok[i].value, err);
        assert_int_equal(out, ok[i].want);
    }
}

static void test_env_gc_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "abc", "-5x", "-5", "", "12 ", " 12", "1e3", "99999999999", "1000001", "+5",
        "0x10", "OFF", "off ", "10%", "18446744073709551616",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[ERRLEN] = "";
        int out = 12345;
        if (tci_env_parse_gc(bad[i], &out, err, sizeof err) != -1)
            fail_msg("TRICOLOR_GC=\"%s\" accepted as %d", bad[i], out);
        assert_int_equal(out, 12345);
        assert_err_names(err, "TRICOLOR_GC", bad[i]);
    }
}

typedef int int_parser(const char *value, int *out, char *err, size_t errlen);
typedef struct int_case { const char *value; int want; } int_case;

/* A whole-number variable: each of ok parses to its value; each of bad is
 * refused, leaves the output alone and names the variable, the value and
 * (when given) the accepted range. */
static void check_int_parser(int_parser *parse, const char *name, const int_case *ok,
                             size_t nok, const char *const *bad, size_t nbad,
                             const char *range)
{
    for (size_t i = 0; i < nok; i++) {
        char err[ERRLEN] = "";
        int out = 0;
        if (parse(ok[i].value, &out, err, sizeof err) != 0)
            fail_msg("%s=\"%s\" rejected: %s", name, ok[i].value, err);
        assert_int_equal(out, ok[i].want);
    }
    for (size_t i = 0; i < nbad; i++) {
        char err[ERRLEN] = "";
        int out = 777;
        if (parse(bad[i], &out, err, sizeof err) != -1)
            fail_msg("%s=\"%s\" accepted as %d", name, bad[i], out);
        assert_int_equal(out, 777);
        assert_err_names(err, name, bad[i]);
        if (range)
            assert_non_null(strstr(err, range));
    }
}

static void test_env_markers(void **state)
{
    (void)state;
    static const int_case ok[] = {
        { "1", 1 }, { "4", 4 }, { "64", TCI_MAX_MARKERS },
    };
    static const char *const bad[] = {
        "0", "65", "-1", "", "abc", "4 ", " 4", "2x", "99999999999999999999", "off",
    };
    check_int_parser(tci_env_parse_markers, "TRICOLOR_MARKERS", ok, sizeof ok / sizeof ok[0],
                     bad, sizeof bad / sizeof bad[0], "1 to 64");
}

static void test_env_cpu_limit(void **state)
{
    (void)state;
    static const int_case ok[] = {
        { "1", 1 }, { "50", 50 }, { "100", 100 }, { "25", 25 },
    };
    static const char *const bad[] = {
        "150", "0", "101", "-5", "", "50%", " 50", "off", "0.5", "99999999999999999999",
    };
    check_int_parser(tci_env_parse_cpu_limit, "TRICOLOR_GC_CPU_LIMIT", ok,
                     sizeof ok / sizeof ok[0], bad, sizeof bad / sizeof bad[0], "1 to 100");
}

static void test_env_bytes_accepts(void **state)
{
    (void)state;
    static const struct { const char *value; int64_t want; } ok[] = {
        { "512MiB", (int64_t)512 << 20 },
        { "1GiB", (int64_t)1 << 30 },
        { "10B", 10 },
        { "7", 7 },
        { "off", -1 },
        { "0", 0 },
        { "3KiB", 3 << 10 },
        { "2TiB", (int64_t)2 << 40 },
        { "8388607TiB", (int64_t)8388607 << 40 },
        { "9223372036854775807", INT64_MAX },
        { "9223372036854775807B", INT64_MAX },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char err[ERRLEN] = "";
        int64_t out = 12345;
        if (tci_env_parse_bytes("TRICOLOR_MEMLIMIT", ok[i].value, &out, err, sizeof err) != 0)
            fail_msg("TRICOLOR_MEMLIMIT=\"%s\" rejected: %s", ok[i].value, err);
        if (out != ok[i].want)
            fail_msg("TRICOLOR_MEMLIMIT=\"%s\": %lld, expected %lld", ok[i].value,
                     (long long)out, (long long)ok[i].want);
    }
}

static void test_env_bytes_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "12XB", "-1", "5 MiB", "1.5GiB", "9999999TiB", "", "MiB", " 5", "5MiB ", "5mib",
        "5MB", "8388608TiB", "9223372036854775808", "99999999999999999999", "0x10",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[ERRLEN] = "";
        int64_t out = 12345;
        if (tci_env_parse_bytes("TRICOLOR_MEMLIMIT", bad[i], &out, err, sizeof err) != -1)
            fail_msg("TRICOLOR_MEMLIMIT=\"%s\" accepted as %lld", bad[i], (long long)out);
        assert_int_equal(out, 12345);
        assert_err_names(err, "TRICOLOR_MEMLIMIT", bad[i]);
    }
    /* The message names whichever variable the caller parses. */
    char err[ERRLEN] = "";
    int64_t out;
    assert_int_equal(tci_env_parse_bytes("TRICOLOR_OTHER", "12XB", &out, err, sizeof err), -1);
    assert_err_names(err, "TRICOLOR_OTHER", "12XB");
}

static void test_env_debug_accepts(void **state)
{
    (void)state;
    tci_config c;
    char err[ERRLEN] = "";
    tci_env_default(&c);
    if (tci_env_parse_debug("gctrace=1,verify=1,gcstress=3,checkmark=1,gcstoptheworld=1", &c,
                            err, sizeof err) != 0)
        fail_msg("rejected: %s", err);
    assert_int_equal(c.gctrace, 1);
    assert_int_equal(c.verify, 1);
    assert_int_equal(c.gcstress, 3);
    assert_int_equal(c.checkmark, 1);
    assert_int_equal(c.gcstoptheworld, 1);
    /* The other settings are left alone. */
    assert_int_equal(c.gc_percent, 100);
    assert_int_equal(c.memlimit, -1);

    tci_env_default(&c);
    assert_int_equal(tci_env_parse_debug("verify=1", &c, err, sizeof err), 0);
    assert_int_equal(c.verify, 1);
    assert_int_equal(c.gctrace, 0);
    assert_int_equal(c.gcstress, 0);

    tci_env_default(&c);
    assert_int_equal(tci_env_parse_debug("", &c, err, sizeof err), 0);
    assert_int_equal(c.verify, 0);
    /* The one key whose default is on. */
    assert_int_equal(c.rootprotect, 1);
    assert_int_equal(tci_env_parse_debug("rootprotect=0", &c, err, sizeof err), 0);
    assert_int_equal(c.rootprotect, 0);
    assert_int_equal(tci_env_parse_debug("rootprotect=2", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "0 to 1"));
}

/* The safepoint watchdog's keys: on by default (5 s), 0 off, in range
 * only; stopabort a flag. */
static void test_env_debug_stoptimeout(void **state)
{
    (void)state;
    tci_config c;
    char err[ERRLEN] = "";
    tci_env_default(&c);
    assert_int_equal(c.stoptimeout_ms, 5000);
    assert_int_equal(c.stopabort, 0);
    assert_int_equal(tci_env_parse_debug("stoptimeout=250,stopabort=1", &c, err, sizeof err), 0);
    assert_int_equal(c.stoptimeout_ms, 250);
    assert_int_equal(c.stopabort, 1);
    assert_int_equal(tci_env_parse_debug("stoptimeout=0", &c, err, sizeof err), 0);
    assert_int_equal(c.stoptimeout_ms, 0);
    assert_int_equal(tci_env_parse_debug("stoptimeout=86400000", &c, err, sizeof err), 0);
    assert_int_equal(c.stoptimeout_ms, 86400000);
    static const struct { const char *value, *says; } bad[] = {
        { "stoptimeout=abc", "stoptimeout=abc: expected stoptimeout=N with N a whole number "
                             "from 0 to 86400000" },
        { "stoptimeout=86400001", "from 0 to 86400000" },
        { "stoptimeout=-1", "from 0 to 86400000" },
        { "stoptimeout=5s", "from 0 to 86400000" },
        { "stopabort=2", "stopabort=2: expected stopabort=N with N a whole number from 0 to 1" },
        { "stopabort", "stopabort=(no value)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tci_env_default(&c);
        err[0] = '\0';
        assert_int_equal(tci_env_parse_debug(bad[i].value, &c, err, sizeof err), -1);
        if (!strstr(err, bad[i].says))
            fail_msg("\"%s\": \"%s\" should say \"%s\"", bad[i].value, err, bad[i].says);
    }
}

/* The scavenger's hold: 50 ms by default, 0 (every cycle) to an hour. */
static void test_env_debug_scavhold(void **state)
{
    (void)state;
    tci_config c;
    char err[ERRLEN] = "";
    tci_env_default(&c);
    assert_int_equal(c.scavhold_ms, 50);
    assert_int_equal(tci_env_parse_debug("scavhold=0", &c, err, sizeof err), 0);
    assert_int_equal(c.scavhold_ms, 0);
    assert_int_equal(tci_env_parse_debug("scavhold=3600000,scavtrace=1", &c, err, sizeof err), 0);
    assert_int_equal(c.scavhold_ms, 3600000);
    assert_int_equal(c.scavtrace, 1);
    tci_env_default(&c);
    assert_int_equal(tci_env_parse_debug("scavhold=3600001", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "scavhold=N with N a whole number from 0 to 3600000"));
    assert_int_equal(c.scavhold_ms, 50);
    assert_int_equal(tci_env_parse_debug("scavhold=50ms", &c, err, sizeof err), -1);
}

/* tc_init refuses them, with the range in its message, and sets nothing
 * up (each in a child: tc_init's own process). */
static void child_init_refused(void)
{
    CHECK(tc_init() == -1);
    CHECK(errno == EINVAL);
    CHECK(!tc_thread_is_attached());
}

static void test_env_debug_stoptimeout_init(void **state)
{
    (void)state;
    static const char *const abc[] = { "TRICOLOR_DEBUG=stoptimeout=abc", NULL };
    static const char *const two[] = { "TRICOLOR_DEBUG=stoptimeout=100,stopabort=2", NULL };
    child_result r;
    run_child(child_init_refused, abc, &r);
    expect_exit0(&r);
    expect_says(&r, "tricolor: tc_init: TRICOLOR_DEBUG=\"stoptimeout=abc\": stoptimeout=abc: "
                    "expected stoptimeout=N with N a whole number from 0 to 86400000");
    run_child(child_init_refused, two, &r);
    expect_exit0(&r);
    expect_says(&r, "stopabort=2: expected stopabort=N with N a whole number from 0 to 1");
}

static void test_env_debug_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "bogus=1", "gctrace", "gctrace=x", "gctrace=1,bogus=2", "verify=", "=1",
        "gctrace=-1", "gcstress=1e3", "verify=1 ",
        /* Empty items, repeated keys, values out of their key's range
         * (tests/test_misuse.c's regressions: each was accepted). */
        "gctrace=1,,verify=1", ",", "gctrace=1,", ",gctrace=1", "gctrace=1,gctrace=2",
        "verify=2", "checkmark=3", "gcstoptheworld=2", "gctrace=3",
        "memprofilerate=2147483648",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tci_config c;
        char err[ERRLEN] = "";
        tci_env_default(&c);
        if (tci_env_parse_debug(bad[i], &c, err, sizeof err) != -1)
            fail_msg("TRICOLOR_DEBUG=\"%s\" accepted", bad[i]);
        assert_err_names(err, "TRICOLOR_DEBUG", bad[i]);
    }
    /* The message gives the range the key accepts, and why it failed. */
    struct {
        const char *value, *says;
    } why[] = {
        { "memprofilerate=2147483648", "from 0 to 2147483647" },
        { "verify=2", "from 0 to 1" },
        { "gctrace=1,gctrace=2", "gctrace is given twice" },
        { "gctrace=1,,verify=1", "empty item" },
        { "gctrace", "gctrace=(no value)" },
    };
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
        tci_config c;
        char err[ERRLEN] = "";
        tci_env_default(&c);
        assert_int_equal(tci_env_parse_debug(why[i].value, &c, err, sizeof err), -1);
        if (!strstr(err, why[i].says))
            fail_msg("TRICOLOR_DEBUG=\"%s\": \"%s\" does not say \"%s\"", why[i].value, err,
                     why[i].says);
    }
    /* The largest values of each range are taken. */
    {
        tci_config c;
        char err[ERRLEN] = "";
        tci_env_default(&c);
        if (tci_env_parse_debug("memprofilerate=2147483647,gctrace=2,scavtrace=2,"
                                "gcpacertrace=2,gcstress=1073741824", &c, err, sizeof err))
            fail_msg("rejected: %s", err);
        assert_int_equal(c.mem_profile_rate, 2147483647);
        assert_int_equal(c.gctrace, 2);
        assert_int_equal(c.gcstress, 1u << 30);
    }
    /* A value too long to copy is an error too, not a truncation. */
    char longv[400];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    tci_config c;
    char err[ERRLEN] = "";
    tci_env_default(&c);
    assert_int_equal(tci_env_parse_debug(longv, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "TRICOLOR_DEBUG"));
}

/* A message longer than the caller's buffer is cut, never overflows it. */
static void test_env_error_fits_buffer(void **state)
{
    (void)state;
    char err[16];
    memset(err, 'X', sizeof err);
    int out;
    assert_int_equal(tci_env_parse_gc("abc", &out, err, 8), -1);
    assert_int_equal(strlen(err), 7);
    assert_int_equal(err[8], 'X');
}

static void test_env_load(void **state)
{
    (void)state;
    tci_config c;
    char err[ERRLEN] = "";
    setenv("TRICOLOR_GC", "50", 1);
    setenv("TRICOLOR_MARKERS", "3", 1);
    setenv("TRICOLOR_MEMLIMIT", "1GiB", 1);
    setenv("TRICOLOR_DEBUG", "gctrace=1", 1);
    setenv("TRICOLOR_GC_CPU_LIMIT", "30", 1);
    if (tci_env_load(&c, err, sizeof err) != 0)
        fail_msg("rejected: %s", err);
    assert_int_equal(c.gc_cpu_limit, 30);
    assert_int_equal(c.gc_percent, 50);
    assert_int_equal(c.markers, 3);
    assert_int_equal(c.memlimit, (int64_t)1 << 30);
    assert_int_equal(c.gctrace, 1);
    assert_int_equal(c.verify, 0);

    setenv("TRICOLOR_MEMLIMIT", "5 MiB", 1);
    assert_int_equal(tci_env_load(&c, err, sizeof err), -1);
    assert_err_names(err, "TRICOLOR_MEMLIMIT", "5 MiB");
    setenv("TRICOLOR_MEMLIMIT", "12XB", 1);
    assert_int_equal(tci_env_load(&c, err, sizeof err), -1);
    assert_err_names(err, "TRICOLOR_MEMLIMIT", "12XB");
    setenv("TRICOLOR_MEMLIMIT", "1GiB", 1);
    setenv("TRICOLOR_GC_CPU_LIMIT", "150", 1);
    assert_int_equal(tci_env_load(&c, err, sizeof err), -1);
    assert_err_names(err, "TRICOLOR_GC_CPU_LIMIT", "150");
    setenv("TRICOLOR_GC_CPU_LIMIT", "50", 1);
    setenv("TRICOLOR_GC", "-5x", 1);
    assert_int_equal(tci_env_load(&c, err, sizeof err), -1);
    assert_err_names(err, "TRICOLOR_GC", "-5x");

    unsetenv("TRICOLOR_GC");
    unsetenv("TRICOLOR_MARKERS");
    unsetenv("TRICOLOR_MEMLIMIT");
    unsetenv("TRICOLOR_DEBUG");
    unsetenv("TRICOLOR_GC_CPU_LIMIT");
    assert_int_equal(tci_env_load(&c, err, sizeof err), 0);
    assert_int_equal(c.gc_cpu_limit, 50);
    assert_int_equal(c.gc_percent, 100);
    assert_int_equal(c.markers, 0);
    assert_int_equal(c.memlimit, -1);
    assert_int_equal(c.gctrace, 0);
    assert_int_equal(c.verify, 0);
    assert_int_equal(c.gcstress, 0);
    assert_int_equal(c.rootprotect, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_gc_accepts),
        cmocka_unit_test(test_env_gc_rejects),
        cmocka_unit_test(test_env_markers),
        cmocka_unit_test(test_env_cpu_limit),
        cmocka_unit_test(test_env_bytes_accepts),
        cmocka_unit_test(test_env_bytes_rejects),
        cmocka_unit_test(test_env_debug_accepts),
        cmocka_unit_test(test_env_debug_rejects),
        cmocka_unit_test(test_env_debug_stoptimeout),
        cmocka_unit_test(test_env_debug_scavhold),
        cmocka_unit_test(test_env_debug_stoptimeout_init),
        cmocka_unit_test(test_env_error_fits_buffer),
        cmocka_unit_test(test_env_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

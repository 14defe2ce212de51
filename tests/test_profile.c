/* test_profile.c: sampled heap profiles, written by tc_write_heap_profile.
 *
 * With every allocation sampled (TRICOLOR_DEBUG=memprofilerate=1), a
 * leaking site and a churning site allocate known numbers of objects;
 * after a collection the profile must hold exactly: the leak's objects in
 * use, the churn's allocated and none in use, each under its function's
 * name. Checked twice: by decoding the protobuf here, and by reading the
 * file back with `go tool pprof -raw` (skipped, with a message, only when
 * Go is absent). An interpreter's guest frames come first in a sample's
 * stack. At a sparse rate the number of samples follows the rate.
 */
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

#include "sizeclass.h"
#include "testing.h"
#include "model.h"
#include "pb_read.h"
#include "testutil.h"
#include "tool.h"
#include "tricolor.h"

enum { NLEAK = 100, LEAK_SIZE = 48, NCHURN = 200, CHURN_SIZE = 1000, NLARGE = 10,
       LARGE_SIZE = 100000 };

static void *leaked[NLEAK]; /* a root range */

static __attribute__((noinline, noipa)) uintptr_t profile_leak_site(uintptr_t a, uintptr_t b,
                                                                    uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (int i = 0; i < NLEAK; i++)
        leaked[i] = tc_alloc_atomic(LEAK_SIZE);
    return 0;
}

static __attribute__((noinline, noipa)) uintptr_t profile_churn_site(uintptr_t a, uintptr_t b,
                                                                     uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (int i = 0; i < NCHURN; i++) {
        void *volatile p = tc_alloc_atomic(CHURN_SIZE);
        (void)p;
    }
    return 0;
}

static __attribute__((noinline, noipa)) uintptr_t profile_large_site(uintptr_t a, uintptr_t b,
                                                                     uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (int i = 0; i < NLARGE; i++) {
        void *volatile p = tc_alloc_atomic(LARGE_SIZE);
        (void)p;
    }
    return 0;
}

/* The profile written to a temporary file, whose path goes to path; its
 * bytes, their number in *len. */
static char *write_profile(size_t *len, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/tc_profile_%d.pb", (int)getpid());
    return pb_heap_profile_write(path, len);
}

/* Whether the profile has a sample with exactly these four values. */
static int has_sample(const char *buf, size_t len, const int64_t want[4])
{
    pb r = {(const uint8_t *)buf, (const uint8_t *)buf + len};
    unsigned field;
    uint64_t v;
    pb sub;
    while (pb_next(&r, &field, &v, &sub)) {
        if (field != 2)
            continue;
        pb smp = sub, inner;
        unsigned f2;
        uint64_t v2;
        uint64_t vals[8];
        size_t n = 0;
        while (pb_next(&smp, &f2, &v2, &inner))
            if (f2 == 2)
                pb_repeated(&inner, v2, vals, &n, 8);
        if (n == 4 && (int64_t)vals[0] == want[0] && (int64_t)vals[1] == want[1] &&
            (int64_t)vals[2] == want[2] && (int64_t)vals[3] == want[3])
            return 1;
    }
    return 0;
}

static int has_string(const char *buf, size_t len, const char *s)
{
    return memmem(buf, len, s, strlen(s)) != NULL;
}

/* `go tool pprof -raw` of path, or NULL (with the message) without Go. */
static char *pprof_raw(const char *path)
{
    char *go = test_tool_path("go");
    if (!go) {
        printf("go not found: the go tool pprof round trip is skipped\n");
        return NULL;
    }
    test_go_env();
    char *out = test_go_pprof(go, "-raw", path);
    free(go);
    return out;
}

/* In -raw output: a sample line "a b c d: ids" with these values whose
 * stack (the Locations section) names fn. */
static int raw_has(const char *raw, const int64_t v[4], const char *fn)
{
    const char *locs = strstr(raw, "\nLocations\n");
    const char *at = strstr(raw, "\nSamples:\n");
    if (!locs || !at)
        return 0;
    for (at = strchr(at + 1, '\n'); at && at < locs; at = strchr(at + 1, '\n')) {
        long long x[4];
        int used = 0;
        if (sscanf(at + 1, " %lld %lld %lld %lld:%n", &x[0], &x[1], &x[2], &x[3], &used) != 4 ||
            !used || x[0] != v[0] || x[1] != v[1] || x[2] != v[2] || x[3] != v[3])
            continue;
        const char *ids = at + 1 + used;
        unsigned long long id;
        int n;
        while (*ids != '\n' && sscanf(ids, " %llu%n", &id, &n) == 1) {
            ids += n;
            char key[32];
            snprintf(key, sizeof key, "\n%6llu: ", id);
            const char *loc = strstr(locs, key);
            if (loc) {
                char line[512];
                snprintf(line, sizeof line, "%.*s", (int)strcspn(loc + 1, "\n"), loc + 1);
                if (strstr(line, fn))
                    return 1;
            }
            ids += strspn(ids, " ");
        }
    }
    return 0;
}

static void profile_attributes_allocations(void **state)
{
    (void)state;
    assert_int_equal(tc_root_add(leaked, sizeof leaked), 0);
    tc_memstats before = test_stats();
    assert_int_equal(before.mem_profile_rate, 1);
    test_fresh_call(profile_leak_site, 0, 0, 0);
    test_fresh_call(profile_churn_site, 0, 0, 0);
    test_fresh_call(profile_large_site, 0, 0, 0);
    test_collect();
    test_collect();
    tc_memstats after = test_stats();
    assert_int_equal(after.mem_profile_samples - before.mem_profile_samples,
                     NLEAK + NCHURN + NLARGE);
    int64_t leak_size = (int64_t)tc_object_size(leaked[0]);
    int64_t churn_size = 1024; /* the class of 1000 bytes */
    for (int cl = 1; cl < tci_sizeclass_count; cl++)
        if (tci_sizeclass_table[cl].size >= CHURN_SIZE) {
            churn_size = tci_sizeclass_table[cl].size;
            break;
        }
    int64_t want_leak[4] = {NLEAK, NLEAK * leak_size, NLEAK, NLEAK * leak_size};
    int64_t want_churn[4] = {NCHURN, NCHURN * churn_size, 0, 0};
    char path[128];
    size_t len;
    char *buf = write_profile(&len, path, sizeof path);
    printf("profile: %zu bytes; leak %lld x %lld B, churn %lld x %lld B\n", len,
           (long long)NLEAK, (long long)leak_size, (long long)NCHURN, (long long)churn_size);
    assert_true(has_sample(buf, len, want_leak));
    assert_true(has_sample(buf, len, want_churn));
    /* Large objects: sampled, and their frees seen by the sweep. */
    int64_t lv[4];
    pb_profile_site(buf, len, "profile_large_site", lv);
    int64_t large_bytes = (LARGE_SIZE + 8191) / 8192 * 8192;
    assert_int_equal(lv[0], NLARGE);
    assert_int_equal(lv[1], NLARGE * large_bytes);
    assert_int_equal(lv[2], 0);
    assert_int_equal(lv[3], 0);
    assert_true(has_string(buf, len, "profile_leak_site"));
    assert_true(has_string(buf, len, "profile_churn_site"));
    assert_true(has_string(buf, len, "inuse_space"));
    char *raw = pprof_raw(path);
    if (raw) {
        assert_true(raw_has(raw, want_leak, "profile_leak_site"));
        assert_true(raw_has(raw, want_churn, "profile_churn_site"));
        assert_non_null(strstr(raw, "PeriodType: space bytes"));
        printf("profile: go tool pprof -raw read both sites back\n");
        free(raw);
    }
    free(buf);
    if (getenv("TC_KEEP_PROFILE"))
        printf("profile kept: %s\n", path);
    else
        remove(path);
    memset(leaked, 0, sizeof leaked);
    tc_root_remove(leaked);
}

static int guest_frames(void *arg, tc_frame *frames, int max)
{
    (void)arg;
    if (max < 2)
        return 0;
    frames[0] = (tc_frame){"lisp_cons", "boot.lisp", 12};
    frames[1] = (tc_frame){"lisp_main", "boot.lisp", 3};
    return 2;
}

static void *guest_kept[7];

static void guest_frames_come_first(void **state)
{
    (void)state;
    assert_int_equal(tc_root_add(guest_kept, sizeof guest_kept), 0);
    tc_set_profile_frames(guest_frames, NULL);
    for (int i = 0; i < 7; i++)
        guest_kept[i] = tc_alloc_atomic(3000);
    tc_set_profile_frames(NULL, NULL);
    test_collect();
    int64_t sz = (int64_t)tc_object_size(guest_kept[0]);
    int64_t want[4] = {7, 7 * sz, 7, 7 * sz};
    char path[128];
    size_t len;
    char *buf = write_profile(&len, path, sizeof path);
    assert_true(has_sample(buf, len, want));
    assert_true(has_string(buf, len, "lisp_cons"));
    assert_true(has_string(buf, len, "boot.lisp"));
    char *raw = pprof_raw(path);
    if (raw) {
        assert_true(raw_has(raw, want, "lisp_cons boot.lisp:12"));
        assert_true(raw_has(raw, want, "lisp_main boot.lisp:3"));
        free(raw);
    }
    free(buf);
    remove(path);
    memset(guest_kept, 0, sizeof guest_kept);
    tc_root_remove(guest_kept);
}

static __attribute__((noinline, noipa)) uintptr_t profile_small_site(uintptr_t n, uintptr_t b,
                                                                     uintptr_t c)
{
    (void)b, (void)c;
    for (uintptr_t i = 0; i < n; i++) {
        void *volatile p = tc_alloc_atomic(17); /* a 32-byte slot */
        (void)p;
    }
    return 0;
}

static __attribute__((noinline, noipa)) uintptr_t profile_mid_site(uintptr_t n, uintptr_t b,
                                                                   uintptr_t c)
{
    (void)b, (void)c;
    for (uintptr_t i = 0; i < n; i++) {
        void *volatile p = tc_alloc_atomic(8192);
        (void)p;
    }
    return 0;
}

/* At a sparse rate the scaled figures estimate every allocation, as Go's
 * do: a sample of an s-byte slot stands for 1 / (1 - exp(-s/rate)). With
 * N objects sampled with probability p the estimate's relative standard
 * deviation is sqrt((1 - p) / (N p)): 2.5% for 200,000 17-byte requests
 * (32-byte slots) and 0.9% for 2,000 8-KiB objects at 4 KiB; the bounds
 * below are about 6 of them (5.9 and 5.7: a false failure in 10^8 runs). A countdown that counted requested bytes, or
 * scaling cut off at the rate, misses by 49% and 14%. */
static void scaled_figures_estimate_all_allocations(void **state)
{
    (void)state;
    assert_int_equal(tc_set_mem_profile_rate(4096), 1);
    test_fresh_call(profile_small_site, 200000, 0, 0);
    test_fresh_call(profile_mid_site, 2000, 0, 0);
    char path[128];
    size_t len;
    char *buf = write_profile(&len, path, sizeof path);
    int64_t sv[4], mv[4];
    pb_profile_site(buf, len, "profile_small_site", sv);
    pb_profile_site(buf, len, "profile_mid_site", mv);
    printf("profile: at 4 KiB, 200000 x 17 B estimated as %lld, 2000 x 8 KiB as %lld\n",
           (long long)sv[0], (long long)mv[0]);
    assert_true(sv[0] > 200000 * 85 / 100 && sv[0] < 200000 * 115 / 100);
    assert_true(sv[1] >= sv[0] * 32 - 32 && sv[1] <= sv[0] * 32 + 32);
    assert_true(mv[0] > 2000 * 95 / 100 && mv[0] < 2000 * 105 / 100);
    free(buf);
    remove(path);
    assert_int_equal(tc_set_mem_profile_rate(1), 4096);
}

static void sparse_rate_samples_by_bytes(void **state)
{
    (void)state;
    assert_int_equal(tc_set_mem_profile_rate(4096), 1);
    tc_memstats a = test_stats();
    /* 8 MiB in 64-byte objects: about 2,048 samples at 4 KiB. The
     * intervals are exponential, so the count is Poisson-like: 2,048 +-
     * 45; the bounds below are 10 standard deviations. The calling
     * thread takes the new rate at once. */
    for (int i = 0; i < (8 << 20) / 64; i++)
        (void)tc_alloc_atomic(64);
    tc_memstats b = test_stats();
    uint64_t n = b.mem_profile_samples - a.mem_profile_samples;
    printf("profile: %llu samples for 8 MiB at 4 KiB\n", (unsigned long long)n);
    assert_true(n > 2048 - 450 && n < 2048 + 450);
    assert_int_equal(tc_set_mem_profile_rate(0), 4096);
    tc_memstats c = test_stats();
    for (int i = 0; i < 1000; i++)
        (void)tc_alloc_atomic(64);
    tc_memstats d = test_stats();
    assert_int_equal(d.mem_profile_samples, c.mem_profile_samples); /* off, at once */
    assert_int_equal(tc_set_mem_profile_rate(1), 0);
    errno = 0;
    assert_int_equal(tc_write_heap_profile(NULL), -1);
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    setenv("TRICOLOR_DEBUG", "verify=1,memprofilerate=1", 0);
    setenv("CMOCKA_TEST_ABORT", "1", 1); /* assertions on fresh-stack threads */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profile_attributes_allocations),
        cmocka_unit_test(guest_frames_come_first),
        cmocka_unit_test(scaled_figures_estimate_all_allocations),
        cmocka_unit_test(sparse_rate_samples_by_bytes),
    };
    return cmocka_run_group_tests(tests, test_group_setup_profiled, NULL);
}

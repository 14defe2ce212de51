/* test_leak_example.c: docs/observability.md's worked example, kept true
 * by running it: a server that leaks through a global table, found with a
 * heap profile, and the fix.
 *
 * Each request parses into a 256-byte buffer it drops and opens a 1-KiB
 * session, which it caches in a global table (a root range) by request
 * number: nothing ever leaves the table, so every session stays reachable.
 * The heap profile after 5,000 requests puts 5,000 sessions in use at
 * session_new, called from handle_request; the parse buffers are
 * allocated as often and none is in use. The fix keeps the table as a bounded cache
 * (64 slots, a new session replaces the old); its profile shows 64 in use.
 *
 * With TC_LEAK_PROFILE_DIR set the two profiles are kept there as
 * leak.pb and fixed.pb, for `go tool pprof -top` (the doc shows its output).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "model.h"
#include "pb_read.h"
#include "testutil.h"
#include "tricolor.h"

enum { REQUESTS = 5000, SESSION = 1024, PARSE = 256, CACHE = 64 };

typedef struct session {
    char user[32];
    long request;
    char state[SESSION - 40];
} session;

static session *table[REQUESTS]; /* the global table: a root range */
static int fixed;

static __attribute__((noinline, noipa)) session *session_new(long request)
{
    session *s = tc_alloc_atomic(sizeof *s);
    snprintf(s->user, sizeof s->user, "user%ld", request % 97);
    s->request = request;
    return s;
}

static __attribute__((noinline, noipa)) void cache_put(long request, session *s)
{
    /* The leak: keyed by request number, never evicted. The fix: a
     * bounded cache, where a new session replaces the old one. */
    table[fixed ? request % CACHE : request] = s;
}

static __attribute__((noinline, noipa)) char *parse(long request)
{
    char *buf = tc_alloc_atomic(PARSE);
    snprintf(buf, PARSE, "GET /item/%ld", request);
    return buf;
}

static __attribute__((noinline, noipa)) void handle_request(long request)
{
    char *volatile req = parse(request);
    (void)req;
    cache_put(request, session_new(request));
}

static __attribute__((noinline, noipa)) uintptr_t serve(uintptr_t n, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    for (long i = 0; i < (long)n; i++)
        handle_request(i);
    return 0;
}

/* inuse_space of the sample whose string table names fn (found by the
 * function's string id through the Function and Location tables). */
static int64_t inuse_at(const char *buf, size_t len, const char *fn, int64_t *alloc_objects)
{
    /* Strings, functions (id -> name id), locations (id -> function id). */
    uint64_t str_id = 0, fn_id = 0, want_str = UINT64_MAX;
    static uint64_t loc_fn[4096];
    pb r = {(const uint8_t *)buf, (const uint8_t *)buf + len};
    unsigned field;
    uint64_t v;
    pb sub;
    while (pb_next(&r, &field, &v, &sub))
        if (field == 6) { /* string_table */
            if ((size_t)(sub.end - sub.p) == strlen(fn) && memcmp(sub.p, fn, strlen(fn)) == 0)
                want_str = str_id;
            str_id++;
        }
    r = (pb){(const uint8_t *)buf, (const uint8_t *)buf + len};
    while (pb_next(&r, &field, &v, &sub)) {
        pb in = sub, in2;
        unsigned f2;
        uint64_t v2, id = 0, name = 0;
        if (field == 5) { /* Function: id 1, name 2 */
            while (pb_next(&in, &f2, &v2, &in2)) {
                if (f2 == 1)
                    id = v2;
                if (f2 == 2)
                    name = v2;
            }
            if (name == want_str)
                fn_id = id;
        }
    }
    r = (pb){(const uint8_t *)buf, (const uint8_t *)buf + len};
    while (pb_next(&r, &field, &v, &sub)) {
        pb in = sub, in2;
        unsigned f2;
        uint64_t v2, id = 0, func = 0;
        if (field == 4) { /* Location: id 1, line 4 (Line: function_id 1) */
            while (pb_next(&in, &f2, &v2, &in2)) {
                if (f2 == 1)
                    id = v2;
                if (f2 == 4) {
                    pb ln = in2, ln2;
                    unsigned f3;
                    uint64_t v3;
                    while (pb_next(&ln, &f3, &v3, &ln2))
                        if (f3 == 1)
                            func = v3;
                }
            }
            if (id < 4096)
                loc_fn[id] = func;
        }
    }
    /* The first sample whose innermost named frame... any frame is fn. */
    int64_t inuse = 0;
    *alloc_objects = 0;
    r = (pb){(const uint8_t *)buf, (const uint8_t *)buf + len};
    while (pb_next(&r, &field, &v, &sub)) {
        if (field != 2)
            continue;
        pb in = sub, in2;
        unsigned f2;
        uint64_t v2, locs[64], vals[8];
        size_t nl = 0, nv = 0;
        while (pb_next(&in, &f2, &v2, &in2)) {
            if (f2 == 1)
                pb_repeated(&in2, v2, locs, &nl, 64);
            if (f2 == 2)
                pb_repeated(&in2, v2, vals, &nv, 8);
        }
        for (size_t i = 0; i < nl; i++)
            if (locs[i] < 4096 && loc_fn[locs[i]] == fn_id && fn_id && nv == 4) {
                inuse += (int64_t)vals[3];
                *alloc_objects += (int64_t)vals[0];
                break;
            }
    }
    return inuse;
}

static int64_t run(const char *name, int64_t *allocs, int64_t *parse_inuse)
{
    memset(table, 0, sizeof table);
    test_fresh_call(serve, REQUESTS, 0, 0);
    test_collect();
    char path[512];
    const char *dir = getenv("TC_LEAK_PROFILE_DIR");
    snprintf(path, sizeof path, "%s/%s.pb", dir ? dir : "/tmp", name);
    FILE *f = fopen(path, "wb+");
    assert_non_null(f);
    assert_int_equal(tc_write_heap_profile(f), 0);
    long len = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    int64_t parse_allocs;
    *parse_inuse = inuse_at(buf, (size_t)len, "parse", &parse_allocs);
    int64_t inuse = inuse_at(buf, (size_t)len, "session_new", allocs);
    free(buf);
    if (!dir)
        remove(path);
    return inuse;
}

static void leak_found_and_fixed(void **state)
{
    (void)state;
    assert_int_equal(tc_root_add(table, sizeof table), 0);
    int64_t allocs, parse_inuse;
    int64_t leak = run("leak", &allocs, &parse_inuse);
    printf("leak example: session_new %lld bytes in use (%lld allocated); parse %lld in use\n",
           (long long)leak, (long long)allocs, (long long)parse_inuse);
    /* Every allocation sampled: exact. */
    assert_int_equal(leak, (int64_t)REQUESTS * SESSION);
    assert_int_equal(parse_inuse, 0);
    fixed = 1;
    int64_t allocs2, parse2;
    int64_t after = run("fixed", &allocs2, &parse2);
    /* The profile counts since the start: the leaked 5,000 were freed once
     * the fixed run overwrote the table; 64 of the new ones are in use. */
    printf("fixed: session_new %lld bytes in use (%lld allocated in all)\n", (long long)after,
           (long long)allocs2);
    assert_int_equal(after, (int64_t)CACHE * SESSION);
    assert_int_equal(allocs2, 2 * REQUESTS);
    tc_root_remove(table);
}

int main(void)
{
    /* Every allocation sampled, so the figures are exact; the doc's
     * example uses the default rate. */
    setenv("TRICOLOR_DEBUG", "memprofilerate=1", 0);
    setenv("CMOCKA_TEST_ABORT", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leak_found_and_fixed),
    };
    return cmocka_run_group_tests(tests, test_group_setup_verified, NULL);
}

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

static int64_t run(const char *name, int64_t *allocs, int64_t *parse_inuse)
{
    memset(table, 0, sizeof table);
    test_fresh_call(serve, REQUESTS, 0, 0);
    test_collect();
    char path[512];
    const char *dir = getenv("TC_LEAK_PROFILE_DIR");
    snprintf(path, sizeof path, "%s/%s.pb", dir ? dir : "/tmp", name);
    size_t len;
    char *buf = pb_heap_profile_write(path, &len);
    int64_t pv[4], sv[4];
    pb_profile_site(buf, len, "parse", pv);
    pb_profile_site(buf, len, "session_new", sv);
    *parse_inuse = pv[3];
    *allocs = sv[0];
    int64_t inuse = sv[3];
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
    setenv("CMOCKA_TEST_ABORT", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leak_found_and_fixed),
    };
    /* Every allocation sampled, so the figures are exact; the doc's
     * example uses the default rate. */
    return cmocka_run_group_tests(tests, test_group_setup_profiled, NULL);
}

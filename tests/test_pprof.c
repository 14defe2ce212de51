/* test_pprof.c: the heap-profile writer (observe/pprof.c): the protobuf it
 * writes, decoded field by field here, and the same profile read back by
 * `go tool pprof` when Go is installed. The native frames are return
 * addresses inside static functions of this file, which only the
 * executable's own symbol table names (the loader never sees them). */
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

#include "model.h"
#include "pb_read.h"
#include "tool.h"
#include "pprof.h"

/* ---- The samples ---------------------------------------------------------- */

/* The return address of its call: an address inside the caller. */
static __attribute__((noinline, noipa)) uintptr_t return_address(void)
{
    return (uintptr_t)__builtin_return_address(0);
}

/* Two allocation sites. noipa: neither may be inlined, cloned under
 * another name (".constprop.0") or folded into the other, identical one.
 * The asm after each call keeps it from being a tail call, whose return
 * address would lie in our caller instead. */
static __attribute__((noinline, noipa)) uintptr_t pprof_site_alpha(void)
{
    uintptr_t pc = return_address();
    __asm__ volatile("" ::: "memory");
    return pc;
}

static __attribute__((noinline, noipa)) uintptr_t pprof_site_beta(void)
{
    uintptr_t pc = return_address();
    __asm__ volatile("" ::: "memory");
    return pc;
}

#define NSAMPLES 3
#define RATE 524288
#define TIME_NS 1700000000123456789LL

static const char *const type_names[4] = {"alloc_objects", "alloc_space", "inuse_objects",
                                          "inuse_space"};
static const char *const type_units[4] = {"count", "bytes", "count", "bytes"};

/* The names each sample's stack must read as, innermost first. */
static const char *const stack_names[NSAMPLES][3] = {
    {"pprof_site_alpha", "pprof_site_beta"},
    {"pprof_site_beta"},
    {"lisp_eval", "lisp_main", "pprof_site_alpha"},
};
static const size_t stack_depth[NSAMPLES] = {2, 1, 3};
static const int64_t sample_object_bytes[NSAMPLES] = {48, 4096, 16};

static const tc_frame guest_frames[2] = {
    {"lisp_eval", "boot.lisp", 42},
    {"lisp_main", "boot.lisp", 7},
};

typedef struct fixture {
    uintptr_t alpha_pc, beta_pc;
    uintptr_t stack0[2];   /* alpha called from beta */
    tci_pprof_sample s[NSAMPLES];
    char path[64];         /* the written profile */
} fixture;

static uint64_t seed;

static uint64_t next_random(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

/* Values from the seed; sample i's counts lie in [1000 i + 1, 1000 i + 999],
 * so no two samples share a value line. */
static void sample_values(tci_pprof_sample *s, size_t i, int64_t object_bytes, uint64_t *x)
{
    int64_t allocs = (int64_t)(1000 * i + 1 + next_random(x) % 999);
    int64_t inuse = 1 + (int64_t)(next_random(x) % (uint64_t)allocs);
    s->values[0] = allocs;
    s->values[1] = allocs * object_bytes;
    s->values[2] = inuse;
    s->values[3] = inuse * object_bytes;
    s->object_bytes = object_bytes;
}

static void fixture_fill(fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->alpha_pc = pprof_site_alpha();
    fx->beta_pc = pprof_site_beta();
    assert_true(fx->alpha_pc != fx->beta_pc);
    fx->stack0[0] = fx->alpha_pc;
    fx->stack0[1] = fx->beta_pc;
    fx->s[0] = (tci_pprof_sample){.pcs = fx->stack0, .npcs = 2};
    fx->s[1] = (tci_pprof_sample){.pcs = &fx->beta_pc, .npcs = 1};
    /* Guest frames first, then the native one: the interpreter's frames
     * are the innermost. alpha's pc again: one Location serves both. */
    fx->s[2] = (tci_pprof_sample){.guest = guest_frames, .nguest = 2,
                                  .pcs = &fx->alpha_pc, .npcs = 1};
    uint64_t x = seed;
    for (size_t i = 0; i < NSAMPLES; i++)
        sample_values(&fx->s[i], i, sample_object_bytes[i], &x);
}

/* Writes the profile of s to a fresh temporary file named in path. */
static void profile_write(char path[64], const tci_pprof_sample *s, size_t n)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%s/tc_pprof_XXXXXX", dir && *dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(tci_pprof_write_heap(f, s, n, RATE, TIME_NS), 0);
    assert_int_equal(fclose(f), 0);
}

static void fixture_write(fixture *fx)
{
    profile_write(fx->path, fx->s, NSAMPLES);
}

/* ---- The profile, decoded ------------------------------------------------ */

/* Field numbers of profile.proto that the checks read. */
enum { VT_TYPE = 1, VT_UNIT = 2, LABEL_KEY = 1, LABEL_NUM = 3, LABEL_NUM_UNIT = 4,
       MAP_ID = 1, MAP_HAS_FUNCTIONS = 7, LOC_ID = 1, LOC_MAPPING = 2, LOC_ADDRESS = 3,
       LINE_FUNCTION = 1, LINE_LINE = 2, FN_ID = 1, FN_NAME = 2, FN_SYSTEM_NAME = 3,
       FN_FILENAME = 4, PROF_TIME = 9, PROF_PERIOD = 12, PROF_DEFAULT_TYPE = 14 };

#define MAXT 4096

typedef struct sample {
    uint64_t locs[64], values[8];
    size_t nlocs, nvalues, nlabels;
    fields label;
} sample;

typedef struct location {
    fields f, line;
    size_t nlines;
} location;

typedef struct decoded {
    fields top, period_type, type[4], mapping[MAXT], func[MAXT];
    size_t ntypes, nmappings, nfuncs, nsamples, nlocs, nstrs;
    sample sample[64];
    location loc[MAXT];
    char *str[MAXT];
    unsigned seen[32]; /* how often each top-level field came */
} decoded;

static void decode_sample(sample *s, pb m)
{
    unsigned field;
    uint64_t v;
    pb sub;
    while (pb_next(&m, &field, &v, &sub)) {
        if (field == 1)
            pb_repeated(&sub, v, s->locs, &s->nlocs, 64);
        else if (field == 2)
            pb_repeated(&sub, v, s->values, &s->nvalues, 8);
        else if (field == 3 && ++s->nlabels)
            s->label = decode_fields(sub);
    }
}

static void decode(decoded *d, const unsigned char *bytes, size_t len)
{
    memset(d, 0, sizeof *d);
    pb r = {bytes, bytes + len};
    d->top = decode_fields(r);
    unsigned field;
    uint64_t v;
    pb sub;
    while (pb_next(&r, &field, &v, &sub)) {
        d->seen[field < 32 ? field : 0]++;
        if (field == 1) {
            assert_true(d->ntypes < 4);
            d->type[d->ntypes++] = decode_fields(sub);
        } else if (field == 2) {
            assert_true(d->nsamples < 64);
            decode_sample(&d->sample[d->nsamples++], sub);
        } else if (field == 3) {
            assert_true(d->nmappings < MAXT);
            d->mapping[d->nmappings++] = decode_fields(sub);
        } else if (field == 4) {
            assert_true(d->nlocs < MAXT);
            location *l = &d->loc[d->nlocs++];
            l->f = decode_fields(sub);
            unsigned lf;
            pb line;
            while (pb_next(&sub, &lf, &v, &line))
                if (lf == 4 && ++l->nlines)
                    l->line = decode_fields(line);
        } else if (field == 5) {
            assert_true(d->nfuncs < MAXT);
            d->func[d->nfuncs++] = decode_fields(sub);
        } else if (field == 6) {
            assert_true(d->nstrs < MAXT);
            d->str[d->nstrs] = strndup((const char *)sub.p, (size_t)(sub.end - sub.p));
            assert_non_null(d->str[d->nstrs++]);
        } else if (field == 11) {
            d->period_type = decode_fields(sub);
        }
    }
}

static void decoded_free(decoded *d)
{
    for (size_t i = 0; i < d->nstrs; i++)
        free(d->str[i]);
}

static const char *str_at(const decoded *d, uint64_t i)
{
    assert_true(i < d->nstrs);
    return d->str[i];
}

static const location *loc_by_id(const decoded *d, uint64_t id)
{
    for (size_t i = 0; i < d->nlocs; i++)
        if (d->loc[i].f.f[LOC_ID] == id)
            return &d->loc[i];
    fail_msg("no location %llu", (unsigned long long)id);
    return NULL;
}

static const fields *func_by_id(const decoded *d, uint64_t id)
{
    for (size_t i = 0; i < d->nfuncs; i++)
        if (d->func[i].f[FN_ID] == id)
            return &d->func[i];
    fail_msg("no function %llu", (unsigned long long)id);
    return NULL;
}

/* All of f, malloc'd and NUL-terminated; its length in *len. */
/* ---- Tests ---------------------------------------------------------------- */

/* The format, checked without Go: field numbers, the string table, the
 * values, the names each stack resolves to, and what is shared. */
/* The file at path decoded (malloc'd), and removed; its size in *len. */
static decoded *profile_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *bytes = (unsigned char *)test_slurp(f, len);
    fclose(f);
    unlink(path);
    decoded *d = malloc(sizeof *d);
    assert_non_null(d);
    decode(d, bytes, *len);
    free(bytes);
    for (size_t i = 0; i < d->nstrs; i++)
        for (size_t j = i + 1; j < d->nstrs; j++)
            assert_string_not_equal(d->str[i], d->str[j]);
    return d;
}

static void test_pprof_format(void **state)
{
    (void)state;
    fixture fx;
    fixture_fill(&fx);
    fixture_write(&fx);
    size_t len;
    decoded *d = profile_read(fx.path, &len);

    static const unsigned top_fields[] = {1, 2, 3, 4, 5, 6, 9, 11, 12, 14};
    for (size_t i = 0; i < sizeof top_fields / sizeof top_fields[0]; i++)
        assert_true(d->seen[top_fields[i]] > 0);
    assert_true(d->nstrs > 0);
    assert_string_equal(d->str[0], "");

    assert_int_equal(d->ntypes, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(str_at(d, d->type[i].f[VT_TYPE]), type_names[i]);
        assert_string_equal(str_at(d, d->type[i].f[VT_UNIT]), type_units[i]);
    }
    assert_string_equal(str_at(d, d->period_type.f[VT_TYPE]), "space");
    assert_string_equal(str_at(d, d->period_type.f[VT_UNIT]), "bytes");
    assert_int_equal(d->top.f[PROF_PERIOD], RATE);
    assert_int_equal(d->top.f[PROF_TIME], TIME_NS);
    assert_string_equal(str_at(d, d->top.f[PROF_DEFAULT_TYPE]), "inuse_space");

    assert_int_equal(d->nsamples, NSAMPLES);
    for (size_t i = 0; i < NSAMPLES; i++) {
        const sample *s = &d->sample[i];
        assert_int_equal(s->nvalues, 4);
        for (size_t k = 0; k < 4; k++)
            assert_int_equal((int64_t)s->values[k], fx.s[i].values[k]);
        assert_int_equal(s->nlabels, 1);
        assert_string_equal(str_at(d, s->label.f[LABEL_KEY]), "bytes");
        assert_string_equal(str_at(d, s->label.f[LABEL_NUM_UNIT]), "bytes");
        assert_int_equal((int64_t)s->label.f[LABEL_NUM], fx.s[i].object_bytes);
        assert_int_equal(s->nlocs, stack_depth[i]);
        for (size_t k = 0; k < s->nlocs; k++) {
            const location *l = loc_by_id(d, s->locs[k]);
            assert_int_equal(l->nlines, 1);
            const fields *fn = func_by_id(d, l->line.f[LINE_FUNCTION]);
            assert_string_equal(str_at(d, fn->f[FN_NAME]), stack_names[i][k]);
            assert_int_equal(fn->f[FN_SYSTEM_NAME], fn->f[FN_NAME]);
            if (k < fx.s[i].nguest) {
                assert_int_equal(l->f.f[LOC_MAPPING], 0);
                assert_int_equal(l->f.f[LOC_ADDRESS], 0);
                assert_string_equal(str_at(d, fn->f[FN_FILENAME]), guest_frames[k].file);
                assert_int_equal(l->line.f[LINE_LINE], guest_frames[k].line);
                continue;
            }
            /* One byte back into the call instruction. */
            assert_int_equal(l->f.f[LOC_ADDRESS], fx.s[i].pcs[k - fx.s[i].nguest] - 1);
            uint64_t m = l->f.f[LOC_MAPPING];
            assert_true(m >= 1 && m <= d->nmappings);
            assert_int_equal(d->mapping[m - 1].f[MAP_ID], m);
            assert_int_equal(d->mapping[m - 1].f[MAP_HAS_FUNCTIONS], 1);
        }
    }
    /* alpha's pc in samples 0 and 2 is one Location; the stacks hold five
     * frames of four functions at four places. */
    assert_int_equal(d->sample[0].locs[0], d->sample[2].locs[2]);
    assert_int_equal(d->nlocs, 4);
    assert_int_equal(d->nfuncs, 4);
    printf("format: %zu bytes, %zu strings, %zu mappings, %zu locations, %zu functions\n",
           len, d->nstrs, d->nmappings, d->nlocs, d->nfuncs);
    decoded_free(d);
    free(d);
}

/* Enough frames, repeated across samples, to grow every table many times:
 * each comes back as it went in, and each distinct one once. */
static void test_pprof_many_frames(void **state)
{
    (void)state;
    enum { NS = 50, DEPTH = 40, NFUNCS = 1500 };
    static char names[NFUNCS][16];
    static const char *const files[7] = {"a.lisp", "b.lisp", "c.lisp", "d.lisp",
                                         "e.lisp", "f.lisp", "g.lisp"};
    static tc_frame frames[NS][DEPTH];
    tci_pprof_sample s[NS];
    uint64_t x = seed;
    for (size_t i = 0; i < NFUNCS; i++)
        snprintf(names[i], sizeof names[i], "fn_%zu", i);
    for (size_t i = 0; i < NS; i++) {
        for (size_t k = 0; k < DEPTH; k++) {
            size_t fn = (size_t)next_random(&x) % NFUNCS;
            frames[i][k] = (tc_frame){names[fn], files[fn % 7], (int64_t)(fn % 13)};
        }
        s[i] = (tci_pprof_sample){.guest = frames[i], .nguest = DEPTH};
        sample_values(&s[i], i, 32, &x);
    }
    char path[64];
    profile_write(path, s, NS);
    size_t len;
    decoded *d = profile_read(path, &len);
    assert_int_equal(d->nsamples, NS);
    assert_true(d->nlocs == d->nfuncs && d->nfuncs <= NFUNCS);
    for (size_t i = 0; i < NS; i++) {
        assert_int_equal(d->sample[i].nlocs, DEPTH);
        for (size_t k = 0; k < DEPTH; k++) {
            const location *l = loc_by_id(d, d->sample[i].locs[k]);
            const fields *fn = func_by_id(d, l->line.f[LINE_FUNCTION]);
            assert_string_equal(str_at(d, fn->f[FN_NAME]), frames[i][k].function);
            assert_string_equal(str_at(d, fn->f[FN_FILENAME]), frames[i][k].file);
            assert_int_equal(l->line.f[LINE_LINE], frames[i][k].line);
        }
    }
    printf("many frames: %zu bytes, %zu strings, %zu locations, %zu functions\n", len,
           d->nstrs, d->nlocs, d->nfuncs);
    decoded_free(d);
    free(d);
}

/* The errors: a stream that cannot be written, arguments that make no
 * sample. */
static void test_pprof_errors(void **state)
{
    (void)state;
    fixture fx;
    fixture_fill(&fx);
    errno = 0;
    assert_int_equal(tci_pprof_write_heap(NULL, fx.s, NSAMPLES, RATE, TIME_NS), -1);
    assert_int_equal(errno, EINVAL);
    FILE *f = fopen("/dev/null", "wb");
    assert_non_null(f);
    errno = 0;
    assert_int_equal(tci_pprof_write_heap(f, NULL, 1, RATE, TIME_NS), -1);
    assert_int_equal(errno, EINVAL);
    /* No samples is a profile still: of nothing. */
    assert_int_equal(tci_pprof_write_heap(f, NULL, 0, RATE, TIME_NS), 0);
    fclose(f);
    /* /dev/full takes the buffered write and fails the flush. */
    f = fopen("/dev/full", "wb");
    if (f) {
        errno = 0;
        assert_int_equal(tci_pprof_write_heap(f, fx.s, NSAMPLES, RATE, TIME_NS), -1);
        assert_int_equal(errno, EIO);
        fclose(f);
    }
}

/* ---- The round trip through `go tool pprof` ------------------------------ */

/* The line of the -raw output's Locations section for location id. */
static const char *raw_location(const char *raw, unsigned long long id)
{
    const char *at = strstr(raw, "\nLocations\n");
    assert_non_null(at);
    for (at = strchr(at + 1, '\n') + 1; *at && strncmp(at, "Mappings", 8) != 0;
         at = strchr(at, '\n') + 1) {
        unsigned long long got;
        if (sscanf(at, " %llu:", &got) == 1 && got == id)
            return at;
        if (!strchr(at, '\n'))
            break;
    }
    fail_msg("location %llu not in the -raw output", id);
    return NULL;
}

/* Whether the line starting at line holds needle. */
static int line_has(const char *line, const char *needle)
{
    size_t len = strcspn(line, "\n");
    const char *hit = strstr(line, needle);
    return hit && (size_t)(hit - line) + strlen(needle) <= len;
}

/* Sample i in the -raw output: its values line, its stack, its label. */
static void raw_check_sample(const char *raw, const fixture *fx, size_t i)
{
    const tci_pprof_sample *s = &fx->s[i];
    const char *at = strstr(raw, "\nSamples:\n");
    assert_non_null(at);
    for (; (at = strchr(at, '\n')) != NULL; ) {
        at++;
        long long v[4];
        int ids_at = 0;
        if (sscanf(at, " %lld %lld %lld %lld:%n", &v[0], &v[1], &v[2], &v[3], &ids_at) != 4 ||
            ids_at == 0 || v[0] != s->values[0] || v[1] != s->values[1] ||
            v[2] != s->values[2] || v[3] != s->values[3])
            continue;
        const char *ids = at + ids_at;
        for (size_t k = 0; k < stack_depth[i]; k++) {
            unsigned long long id;
            int used = 0;
            assert_int_equal(sscanf(ids, " %llu%n", &id, &used), 1);
            ids += used;
            const char *loc = raw_location(raw, id);
            char needle[128];
            if (k < s->nguest)
                snprintf(needle, sizeof needle, " %s %s:%lld ", s->guest[k].function,
                         s->guest[k].file, (long long)s->guest[k].line);
            else
                snprintf(needle, sizeof needle, " %s ", stack_names[i][k]);
            if (!line_has(loc, needle))
                fail_msg("sample %zu frame %zu: \"%s\" not in location line \"%.*s\"", i, k,
                         needle, (int)strcspn(loc, "\n"), loc);
        }
        assert_true(strspn(ids, " ") == strcspn(ids, "\n")); /* no frame more */
        char label[64];
        snprintf(label, sizeof label, "bytes:[%lld bytes]", (long long)s->object_bytes);
        assert_true(line_has(strchr(at, '\n') + 1, label));
        return;
    }
    fail_msg("sample %zu (%lld %lld %lld %lld) not in the -raw output", i,
             (long long)s->values[0], (long long)s->values[1], (long long)s->values[2],
             (long long)s->values[3]);
}

static void test_pprof_go_round_trip(void **state)
{
    (void)state;
    char *go = test_tool_path("go");
    if (!go) {
        printf("go not found: pprof round-trip skipped\n");
        fflush(stdout);
        skip();
    }
    test_go_env();
    fixture fx;
    fixture_fill(&fx);
    fixture_write(&fx);

    /* -symbolize=none: the names must come from the profile, not from
     * pprof finding the binary and running its own symbolizer. */
    char *raw = test_go_pprof(go, "-symbolize=none -raw", fx.path);
    assert_non_null(strstr(raw, "PeriodType: space bytes\n"));
    char period[64];
    snprintf(period, sizeof period, "\nPeriod: %d\n", RATE);
    assert_non_null(strstr(raw, period));
    assert_non_null(strstr(raw, "\nalloc_objects/count alloc_space/bytes "
                                "inuse_objects/count inuse_space/bytes[dflt]\n"));
    for (size_t i = 0; i < NSAMPLES; i++)
        raw_check_sample(raw, &fx, i);
    free(raw);

    /* -nodefraction=0: the guest sample is small beside beta's, and -top
     * drops nodes under 0.5% of the total by default. */
    char *top = test_go_pprof(go, "-symbolize=none -nodefraction=0 -top", fx.path);
    assert_non_null(strstr(top, "Type: inuse_space"));
    static const char *const names[] = {" pprof_site_alpha\n", " pprof_site_beta\n",
                                        " lisp_eval\n", " lisp_main\n"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(top, names[i]))
            fail_msg("\"%s\" not in -top:\n%s", names[i], top);
    free(top);
    unlink(fx.path);
    free(go);
}

static int setup(void **state)
{
    (void)state;
    seed = test_seed("pprof", 20240611);
    return 0;
}

int main(void)
{
    setenv("CMOCKA_TEST_ABORT", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pprof_format),
        cmocka_unit_test(test_pprof_many_frames),
        cmocka_unit_test(test_pprof_errors),
        cmocka_unit_test(test_pprof_go_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

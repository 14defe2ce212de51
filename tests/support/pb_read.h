/* pb_read.h: a protobuf reader for the tests that check what the library
 * writes (pprof profiles): varints and length-delimited fields, each
 * malformed byte a test failure. Header only, as testutil.h. */
#ifndef TC_TEST_PB_READ_H
#define TC_TEST_PB_READ_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "tricolor.h"

typedef struct pb {
    const unsigned char *p, *end;
} pb;

static inline uint64_t pb_varint(pb *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        assert_true(r->p < r->end);
        unsigned char c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    fail_msg("varint longer than 10 bytes");
    return 0;
}

/* The next field: its number, and its value (varint) or contents
 * (length-delimited, in *sub). 0 at the end of r. */
static inline int pb_next(pb *r, unsigned *field, uint64_t *v, pb *sub)
{
    *v = 0;
    sub->p = sub->end = NULL;
    if (r->p == r->end)
        return 0;
    uint64_t key = pb_varint(r);
    *field = (unsigned)(key >> 3);
    if ((key & 7) != 0 && (key & 7) != 2)
        fail_msg("wire type %u: the writer uses only varints and bytes", (unsigned)(key & 7));
    *v = pb_varint(r);
    if ((key & 7) == 2) {
        assert_true(*v <= (uint64_t)(r->end - r->p));
        sub->p = r->p;
        sub->end = r->p + *v;
        r->p += *v;
    }
    return 1;
}

/* Appends a repeated varint field to vals, packed or not. */
static inline void pb_repeated(pb *sub, uint64_t v, uint64_t *vals, size_t *n, size_t max)
{
    if (!sub->p) {
        assert_true(*n < max);
        vals[(*n)++] = v;
        return;
    }
    while (sub->p < sub->end) {
        assert_true(*n < max);
        vals[(*n)++] = pb_varint(sub);
    }
}

/* A message's varint fields by field number (the last of each); 17:
 * profile.proto numbers its fields up to 16. */
typedef struct fields {
    uint64_t f[17];
} fields;

static inline fields decode_fields(pb m)
{
    fields out;
    memset(&out, 0, sizeof out);
    unsigned field;
    uint64_t v;
    pb sub;
    while (pb_next(&m, &field, &v, &sub))
        if (field < 17 && !sub.p)
            out.f[field] = v;
    return out;
}

/* tc_write_heap_profile into the file at path, and its bytes back
 * (malloc'd); their number in *len. */
static inline char *pb_heap_profile_write(const char *path, size_t *len)
{
    FILE *f = fopen(path, "wb+");
    assert_non_null(f);
    assert_int_equal(tc_write_heap_profile(f), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The four values (alloc_objects, alloc_space, inuse_objects, inuse_space)
 * of a heap profile's samples whose stack holds function fn, summed. */
static inline void pb_profile_site(const char *buf, size_t len, const char *fn,
                                   int64_t vals[4])
{
    enum { MAXID = 1 << 14 };
    static uint64_t loc_fn[MAXID];
    memset(loc_fn, 0, sizeof loc_fn);
    memset(vals, 0, 4 * sizeof *vals);
    uint64_t str_id = 0, want_str = UINT64_MAX, fn_id = 0;
    const unsigned char *b = (const unsigned char *)buf;
    pb r = {b, b + len}, sub;
    unsigned field;
    uint64_t v;
    while (pb_next(&r, &field, &v, &sub))
        if (field == 6) { /* string_table */
            if ((size_t)(sub.end - sub.p) == strlen(fn) && memcmp(sub.p, fn, strlen(fn)) == 0)
                want_str = str_id;
            str_id++;
        }
    r = (pb){b, b + len};
    while (pb_next(&r, &field, &v, &sub)) {
        pb in = sub, in2;
        unsigned f2;
        uint64_t v2, id = 0, x = 0;
        if (field == 5) { /* Function: id 1, name 2 */
            while (pb_next(&in, &f2, &v2, &in2))
                if (f2 == 1)
                    id = v2;
                else if (f2 == 2)
                    x = v2;
            if (x == want_str)
                fn_id = id;
        } else if (field == 4) { /* Location: id 1, line 4 (Line: function_id 1) */
            while (pb_next(&in, &f2, &v2, &in2)) {
                if (f2 == 1)
                    id = v2;
                if (f2 == 4) {
                    pb ln = in2, ln2;
                    unsigned f3;
                    uint64_t v3;
                    while (pb_next(&ln, &f3, &v3, &ln2))
                        if (f3 == 1)
                            x = v3;
                }
            }
            assert_true(id < MAXID);
            loc_fn[id] = x;
        }
    }
    if (!fn_id)
        return;
    r = (pb){b, b + len};
    while (pb_next(&r, &field, &v, &sub)) {
        if (field != 2) /* Sample: location_id 1, value 2 */
            continue;
        pb in = sub, in2;
        unsigned f2;
        uint64_t v2, locs[128], sv[8];
        size_t nl = 0, nv = 0;
        while (pb_next(&in, &f2, &v2, &in2)) {
            if (f2 == 1)
                pb_repeated(&in2, v2, locs, &nl, 128);
            if (f2 == 2)
                pb_repeated(&in2, v2, sv, &nv, 8);
        }
        assert_int_equal(nv, 4);
        for (size_t i = 0; i < nl; i++)
            if (locs[i] < MAXID && loc_fn[locs[i]] == fn_id) {
                for (int k = 0; k < 4; k++)
                    vals[k] += (int64_t)sv[k];
                break;
            }
    }
}

#endif

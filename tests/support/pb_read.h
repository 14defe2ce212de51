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

#endif

/* vector.c: vectors (vector-copy! and vector-fill! through tricolor's bulk
 * stores: one phase check for the range) and bytevectors. */
#include <string.h>

#include "vm.h"

static size_t index_of(const char *who, sc_val v, sc_val k, size_t len, int past_ok)
{
    int64_t i = sc_check_fixnum(who, k);
    if (i < 0 || (size_t)i > len || (!past_ok && (size_t)i == len))
        sc_error(k, "%s: index out of range:", who);
    return (size_t)i;
    (void)v;
}

static sc_val p_make_vector(int argc, sc_val *argv)
{
    int64_t n = sc_check_fixnum("make-vector", argv[0]);
    if (n < 0 || n > ((int64_t)1 << 40))
        sc_error(argv[0], "make-vector: bad length:");
    return sc_make_vector((size_t)n, argc > 1 ? argv[1] : SC_FALSE);
}

static sc_val p_vector(int argc, sc_val *argv)
{
    sc_val v = sc_alloc_slots(SC_VECTOR, (size_t)argc);
    if (argc)
        tc_store_range(sc_obj(v), &SC_SLOT(v, 1), argv, (size_t)argc);
    return v;
}

static sc_val p_vector_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_VECTOR));
}

static sc_val p_vector_length(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("vector-length", argv[0], SC_VECTOR);
    return sc_fixnum((int64_t)sc_len(argv[0]));
}

static sc_val p_vector_ref(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("vector-ref", argv[0], SC_VECTOR);
    size_t i = index_of("vector-ref", argv[0], argv[1], sc_len(argv[0]), 0);
    return SC_SLOT(argv[0], i + 1);
}

static sc_val p_vector_set(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("vector-set!", argv[0], SC_VECTOR);
    size_t i = index_of("vector-set!", argv[0], argv[1], sc_len(argv[0]), 0);
    SC_SET(argv[0], i + 1, argv[2]);
    return SC_UNSPEC;
}

/* [start, end) of vector or string v from optional arguments at argv. */
static void range(const char *who, sc_val v, int argc, sc_val *argv, size_t len, size_t *s,
                  size_t *e)
{
    *s = argc > 0 ? index_of(who, v, argv[0], len, 1) : 0;
    *e = argc > 1 ? index_of(who, v, argv[1], len, 1) : len;
    if (*e < *s)
        sc_error(argv[1], "%s: end before start:", who);
}

static sc_val p_vector_fill(int argc, sc_val *argv)
{
    sc_check_kind("vector-fill!", argv[0], SC_VECTOR);
    size_t s, e;
    range("vector-fill!", argv[0], argc - 2, argv + 2, sc_len(argv[0]), &s, &e);
    if (e > s)
        tc_fill_range(sc_obj(argv[0]), &SC_SLOT(argv[0], s + 1), (void *)argv[1], e - s);
    return SC_UNSPEC;
}

static sc_val p_vector_to_list(int argc, sc_val *argv)
{
    sc_check_kind("vector->list", argv[0], SC_VECTOR);
    size_t s, e;
    range("vector->list", argv[0], argc - 1, argv + 1, sc_len(argv[0]), &s, &e);
    sc_val l = SC_NIL;
    for (size_t i = e; i > s; i--)
        l = sc_cons(SC_SLOT(argv[0], i), l);
    return l;
}

static sc_val p_list_to_vector(int argc, sc_val *argv)
{
    (void)argc;
    size_t n = sc_list_length(argv[0]);
    if (n == SIZE_MAX)
        sc_error(argv[0], "list->vector: not a proper list:");
    sc_val v = sc_alloc_slots(SC_VECTOR, n);
    size_t i = 1;
    for (sc_val l = argv[0]; sc_is_pair(l); l = sc_cdr(l))
        SC_SET(v, i++, sc_car(l));
    return v;
}

/* (vector-copy! to at from [start [end]]): memmove semantics. */
static sc_val p_vector_copy_to(int argc, sc_val *argv)
{
    sc_check_kind("vector-copy!", argv[0], SC_VECTOR);
    sc_check_kind("vector-copy!", argv[2], SC_VECTOR);
    size_t at = index_of("vector-copy!", argv[0], argv[1], sc_len(argv[0]), 1), s, e;
    range("vector-copy!", argv[2], argc - 3, argv + 3, sc_len(argv[2]), &s, &e);
    if (e - s > sc_len(argv[0]) - at)
        sc_error(argv[1], "vector-copy!: the destination is too short from");
    if (e > s)
        tc_store_range(sc_obj(argv[0]), &SC_SLOT(argv[0], at + 1), &SC_SLOT(argv[2], s + 1),
                       e - s);
    return SC_UNSPEC;
}

static sc_val p_vector_copy(int argc, sc_val *argv)
{
    sc_check_kind("vector-copy", argv[0], SC_VECTOR);
    size_t s, e;
    range("vector-copy", argv[0], argc - 1, argv + 1, sc_len(argv[0]), &s, &e);
    sc_val v = sc_alloc_slots(SC_VECTOR, e - s);
    if (e > s)
        tc_store_range(sc_obj(v), &SC_SLOT(v, 1), &SC_SLOT(argv[0], s + 1), e - s);
    return v;
}

static sc_val p_vector_append(int argc, sc_val *argv)
{
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        sc_check_kind("vector-append", argv[i], SC_VECTOR);
        n += sc_len(argv[i]);
    }
    sc_val v = sc_alloc_slots(SC_VECTOR, n);
    size_t at = 1;
    for (int i = 0; i < argc; i++) {
        size_t len = sc_len(argv[i]);
        if (len)
            tc_store_range(sc_obj(v), &SC_SLOT(v, at), &SC_SLOT(argv[i], 1), len);
        at += len;
    }
    return v;
}

/* ---- Bytevectors ------------------------------------------------------------------------ */

static sc_val p_make_bytevector(int argc, sc_val *argv)
{
    int64_t n = sc_check_fixnum("make-bytevector", argv[0]);
    int64_t fill = argc > 1 ? sc_check_fixnum("make-bytevector", argv[1]) : 0;
    if (n < 0 || fill < 0 || fill > 255)
        sc_error(argv[n < 0 ? 0 : 1], "make-bytevector: bad argument:");
    sc_val b = sc_alloc_atomic(SC_BYTEVECTOR, (size_t)n, (size_t)n);
    memset(sc_bytes(b), (int)fill, (size_t)n);
    return b;
}

static sc_val p_bytevector(int argc, sc_val *argv)
{
    sc_val b = sc_alloc_atomic(SC_BYTEVECTOR, (size_t)argc, (size_t)argc);
    for (int i = 0; i < argc; i++) {
        int64_t x = sc_check_fixnum("bytevector", argv[i]);
        if (x < 0 || x > 255)
            sc_error(argv[i], "bytevector: not a byte:");
        sc_bytes(b)[i] = (uint8_t)x;
    }
    return b;
}

static sc_val p_bytevector_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_BYTEVECTOR));
}

static sc_val p_bytevector_length(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("bytevector-length", argv[0], SC_BYTEVECTOR);
    return sc_fixnum((int64_t)sc_len(argv[0]));
}

static sc_val p_bytevector_u8_ref(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("bytevector-u8-ref", argv[0], SC_BYTEVECTOR);
    size_t i = index_of("bytevector-u8-ref", argv[0], argv[1], sc_len(argv[0]), 0);
    return sc_fixnum(sc_bytes(argv[0])[i]);
}

static sc_val p_bytevector_u8_set(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("bytevector-u8-set!", argv[0], SC_BYTEVECTOR);
    size_t i = index_of("bytevector-u8-set!", argv[0], argv[1], sc_len(argv[0]), 0);
    int64_t x = sc_check_fixnum("bytevector-u8-set!", argv[2]);
    if (x < 0 || x > 255)
        sc_error(argv[2], "bytevector-u8-set!: not a byte:");
    sc_bytes(argv[0])[i] = (uint8_t)x;
    return SC_UNSPEC;
}

void sc_init_vectors(void)
{
    sc_defprim("make-vector", p_make_vector, 1, 2);
    sc_defprim("vector", p_vector, 0, -1);
    sc_defprim("vector?", p_vector_p, 1, 1);
    sc_defprim("vector-length", p_vector_length, 1, 1);
    sc_defprim("vector-ref", p_vector_ref, 2, 2);
    sc_defprim("vector-set!", p_vector_set, 3, 3);
    sc_defprim("vector-fill!", p_vector_fill, 2, 4);
    sc_defprim("vector->list", p_vector_to_list, 1, 3);
    sc_defprim("list->vector", p_list_to_vector, 1, 1);
    sc_defprim("%list->vector", p_list_to_vector, 1, 1);
    sc_defprim("vector-copy!", p_vector_copy_to, 3, 5);
    sc_defprim("vector-copy", p_vector_copy, 1, 3);
    sc_defprim("vector-append", p_vector_append, 0, -1);
    sc_defprim("make-bytevector", p_make_bytevector, 1, 2);
    sc_defprim("bytevector", p_bytevector, 0, -1);
    sc_defprim("bytevector?", p_bytevector_p, 1, 1);
    sc_defprim("bytevector-length", p_bytevector_length, 1, 1);
    sc_defprim("bytevector-u8-ref", p_bytevector_u8_ref, 2, 2);
    sc_defprim("bytevector-u8-set!", p_bytevector_u8_set, 3, 3);
}

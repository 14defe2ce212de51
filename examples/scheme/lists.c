/* lists.c: pairs and lists, equivalence, booleans, records' runtime. (map
 * and for-each are the prelude's, in Scheme: main.c.) */
#include "vm.h"

static sc_val p_cons(int argc, sc_val *argv)
{
    (void)argc;
    return sc_cons(argv[0], argv[1]);
}

static sc_val p_car(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_pair("car", argv[0]);
    return sc_car(argv[0]);
}

static sc_val p_cdr(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_pair("cdr", argv[0]);
    return sc_cdr(argv[0]);
}

/* c[ad]{2,4}r: the path read right to left from the name. */
static sc_val cxr(const char *name, sc_val v)
{
    size_t n = 0;
    while (name[n + 1] != 'r')
        n++;
    for (size_t i = n; i >= 1; i--) {
        if (!sc_is_pair(v))
            sc_error(v, "%s: not a pair:", name);
        v = name[i] == 'a' ? sc_car(v) : sc_cdr(v);
    }
    return v;
}

#define CXR(fn, name) \
    static sc_val fn(int argc, sc_val *argv) \
    { \
        (void)argc; \
        return cxr(name, argv[0]); \
    }
CXR(p_caar, "caar") CXR(p_cadr, "cadr") CXR(p_cdar, "cdar") CXR(p_cddr, "cddr")
CXR(p_caaar, "caaar") CXR(p_caadr, "caadr") CXR(p_cadar, "cadar") CXR(p_caddr, "caddr")
CXR(p_cdaar, "cdaar") CXR(p_cdadr, "cdadr") CXR(p_cddar, "cddar") CXR(p_cdddr, "cdddr")
CXR(p_caaaar, "caaaar") CXR(p_caaadr, "caaadr") CXR(p_caadar, "caadar")
CXR(p_caaddr, "caaddr") CXR(p_cadaar, "cadaar") CXR(p_cadadr, "cadadr")
CXR(p_caddar, "caddar") CXR(p_cadddr, "cadddr") CXR(p_cdaaar, "cdaaar")
CXR(p_cdaadr, "cdaadr") CXR(p_cdadar, "cdadar") CXR(p_cdaddr, "cdaddr")
CXR(p_cddaar, "cddaar") CXR(p_cddadr, "cddadr") CXR(p_cdddar, "cdddar")
CXR(p_cddddr, "cddddr")

static sc_val p_set_car(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_pair("set-car!", argv[0]);
    SC_SET_CAR(argv[0], argv[1]);
    return SC_UNSPEC;
}

static sc_val p_set_cdr(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_pair("set-cdr!", argv[0]);
    SC_SET_CDR(argv[0], argv[1]);
    return SC_UNSPEC;
}

static sc_val p_list(int argc, sc_val *argv)
{
    sc_val l = SC_NIL;
    for (int i = argc - 1; i >= 0; i--)
        l = sc_cons(argv[i], l);
    return l;
}

static size_t proper_length(const char *who, sc_val l)
{
    size_t n = sc_list_length(l);
    if (n == SIZE_MAX)
        sc_error(l, "%s: not a proper list:", who);
    return n;
}

static sc_val p_length(int argc, sc_val *argv)
{
    (void)argc;
    return sc_fixnum((int64_t)proper_length("length", argv[0]));
}

/* A copy of proper list l whose last cdr is tail. */
static sc_val copy_onto(const char *who, sc_val l, sc_val tail)
{
    (void)proper_length(who, l);
    sc_val head = SC_NIL, last = SC_NIL;
    for (; sc_is_pair(l); l = sc_cdr(l)) {
        sc_val p = sc_cons(sc_car(l), SC_NIL);
        if (last == SC_NIL)
            head = p;
        else
            SC_SET_CDR(last, p);
        last = p;
    }
    if (last == SC_NIL)
        return tail;
    SC_SET_CDR(last, tail);
    return head;
}

static sc_val p_append(int argc, sc_val *argv)
{
    if (argc == 0)
        return SC_NIL;
    sc_val r = argv[argc - 1];
    for (int i = argc - 2; i >= 0; i--)
        r = copy_onto("append", argv[i], r);
    return r;
}

static sc_val p_reverse(int argc, sc_val *argv)
{
    (void)argc;
    (void)proper_length("reverse", argv[0]);
    return sc_reverse(argv[0]);
}

static sc_val p_list_copy(int argc, sc_val *argv)
{
    (void)argc;
    if (!sc_is_pair(argv[0]))
        return argv[0];
    return copy_onto("list-copy", argv[0], SC_NIL);
}

static sc_val nth_tail(const char *who, sc_val l, sc_val k)
{
    int64_t n = sc_check_fixnum(who, k);
    if (n < 0)
        sc_error(k, "%s: negative index:", who);
    for (; n > 0; n--) {
        if (!sc_is_pair(l))
            sc_error(k, "%s: index past the end of the list:", who);
        l = sc_cdr(l);
    }
    return l;
}

static sc_val p_list_tail(int argc, sc_val *argv)
{
    (void)argc;
    return nth_tail("list-tail", argv[0], argv[1]);
}

static sc_val p_list_ref(int argc, sc_val *argv)
{
    (void)argc;
    sc_val t = nth_tail("list-ref", argv[0], argv[1]);
    if (!sc_is_pair(t))
        sc_error(argv[1], "list-ref: index past the end of the list:");
    return sc_car(t);
}

static sc_val p_last_pair(int argc, sc_val *argv)
{
    (void)argc;
    sc_val l = argv[0];
    sc_check_pair("last-pair", l);
    while (sc_is_pair(sc_cdr(l)))
        l = sc_cdr(l);
    return l;
}

enum { BY_EQ, BY_EQV, BY_EQUAL, BY_PROC };

static int same(int how, sc_val proc, sc_val a, sc_val b)
{
    switch (how) {
    case BY_EQ:
        return a == b;
    case BY_EQV:
        return sc_eqv(a, b);
    case BY_EQUAL:
        return sc_equal(a, b);
    default: {
        sc_val args[2] = { a, b };
        return sc_apply(proc, 2, args) != SC_FALSE;
    }
    }
}

static sc_val mem(const char *who, int how, int argc, sc_val *argv)
{
    sc_val x = argv[0], l = argv[1], proc = argc > 2 ? argv[2] : SC_FALSE;
    if (argc > 2)
        how = BY_PROC;
    for (; sc_is_pair(l); l = sc_cdr(l))
        if (same(how, proc, x, sc_car(l)))
            return l;
    if (l != SC_NIL)
        sc_error(argv[1], "%s: not a proper list:", who);
    return SC_FALSE;
}

static sc_val ass(const char *who, int how, int argc, sc_val *argv)
{
    sc_val x = argv[0], l = argv[1], proc = argc > 2 ? argv[2] : SC_FALSE;
    if (argc > 2)
        how = BY_PROC;
    for (; sc_is_pair(l); l = sc_cdr(l)) {
        sc_val e = sc_car(l);
        if (!sc_is_pair(e))
            sc_error(e, "%s: not a pair in the alist:", who);
        if (same(how, proc, x, sc_car(e)))
            return e;
    }
    if (l != SC_NIL)
        sc_error(argv[1], "%s: not a proper list:", who);
    return SC_FALSE;
}

static sc_val p_memq(int argc, sc_val *argv) { return mem("memq", BY_EQ, argc, argv); }
static sc_val p_memv(int argc, sc_val *argv) { return mem("memv", BY_EQV, argc, argv); }
static sc_val p_member(int argc, sc_val *argv) { return mem("member", BY_EQUAL, argc, argv); }
static sc_val p_assq(int argc, sc_val *argv) { return ass("assq", BY_EQ, argc, argv); }
static sc_val p_assv(int argc, sc_val *argv) { return ass("assv", BY_EQV, argc, argv); }
static sc_val p_assoc(int argc, sc_val *argv) { return ass("assoc", BY_EQUAL, argc, argv); }

static sc_val p_null_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(argv[0] == SC_NIL);
}

static sc_val p_pair_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is_pair(argv[0]));
}

static sc_val p_list_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_list_length(argv[0]) != SIZE_MAX);
}

static sc_val p_eq_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(argv[0] == argv[1]);
}

static sc_val p_eqv_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_eqv(argv[0], argv[1]));
}

static sc_val p_equal_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_equal(argv[0], argv[1]));
}

static sc_val p_not(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(argv[0] == SC_FALSE);
}

static sc_val p_boolean_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(argv[0] == SC_TRUE || argv[0] == SC_FALSE);
}

static sc_val p_boolean_eq(int argc, sc_val *argv)
{
    for (int i = 0; i + 1 < argc; i++)
        if (argv[i] != argv[i + 1])
            return SC_FALSE;
    return SC_TRUE;
}

/* ---- Records (define-record-type's expansion calls these) ----------------------- */

enum { RT_NAME = 1, RT_FIELDS, RT_NFIELDS, RT_SLOTS = 3 };

static sc_val p_make_record_type(int argc, sc_val *argv)
{
    (void)argc;
    sc_val t = sc_alloc_slots(SC_RECTYPE, RT_SLOTS);
    SC_SET(t, RT_NAME, argv[0]);
    SC_SET(t, RT_FIELDS, argv[1]);
    SC_SLOT(t, RT_NFIELDS) = sc_fixnum((int64_t)sc_list_length(argv[1]));
    return t;
}

static sc_val p_record(int argc, sc_val *argv)
{
    sc_val r = sc_alloc_slots(SC_RECORD, (size_t)argc);
    for (int i = 0; i < argc; i++)
        SC_SET(r, (size_t)i + 1, argv[i]);
    return r;
}

static sc_val p_record_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_RECORD) && SC_SLOT(argv[0], 1) == argv[1]);
}

static void check_record(const char *who, sc_val r, sc_val type)
{
    if (!sc_is(r, SC_RECORD) || SC_SLOT(r, 1) != type)
        sc_error(r, "%s: not a record of type %s:", who,
                 sc_is(type, SC_RECTYPE) && sc_is(SC_SLOT(type, RT_NAME), SC_SYMBOL)
                     ? sc_symbol_name(SC_SLOT(type, RT_NAME))
                     : "?");
}

static sc_val p_record_ref(int argc, sc_val *argv)
{
    (void)argc;
    check_record("record accessor", argv[0], argv[1]);
    return SC_SLOT(argv[0], (size_t)sc_fixnum_value(argv[2]) + 2);
}

static sc_val p_record_set(int argc, sc_val *argv)
{
    (void)argc;
    check_record("record modifier", argv[0], argv[1]);
    SC_SET(argv[0], (size_t)sc_fixnum_value(argv[2]) + 2, argv[3]);
    return SC_UNSPEC;
}

void sc_init_lists(void)
{
    sc_defprim("cons", p_cons, 2, 2);
    sc_defprim("%cons", p_cons, 2, 2);
    sc_defprim("car", p_car, 1, 1);
    sc_defprim("cdr", p_cdr, 1, 1);
    static const struct {
        const char *name;
        sc_prim_fn fn;
    } cxrs[] = {
        {"caar", p_caar}, {"cadr", p_cadr}, {"cdar", p_cdar}, {"cddr", p_cddr},
        {"caaar", p_caaar}, {"caadr", p_caadr}, {"cadar", p_cadar}, {"caddr", p_caddr},
        {"cdaar", p_cdaar}, {"cdadr", p_cdadr}, {"cddar", p_cddar}, {"cdddr", p_cdddr},
        {"caaaar", p_caaaar}, {"caaadr", p_caaadr}, {"caadar", p_caadar},
        {"caaddr", p_caaddr}, {"cadaar", p_cadaar}, {"cadadr", p_cadadr},
        {"caddar", p_caddar}, {"cadddr", p_cadddr}, {"cdaaar", p_cdaaar},
        {"cdaadr", p_cdaadr}, {"cdadar", p_cdadar}, {"cdaddr", p_cdaddr},
        {"cddaar", p_cddaar}, {"cddadr", p_cddadr}, {"cdddar", p_cdddar},
        {"cddddr", p_cddddr},
    };
    for (size_t i = 0; i < sizeof cxrs / sizeof cxrs[0]; i++)
        sc_defprim(cxrs[i].name, cxrs[i].fn, 1, 1);
    sc_defprim("set-car!", p_set_car, 2, 2);
    sc_defprim("set-cdr!", p_set_cdr, 2, 2);
    sc_defprim("list", p_list, 0, -1);
    sc_defprim("%list", p_list, 0, -1);
    sc_defprim("length", p_length, 1, 1);
    sc_defprim("append", p_append, 0, -1);
    sc_defprim("%append", p_append, 0, -1);
    sc_defprim("reverse", p_reverse, 1, 1);
    sc_defprim("list-copy", p_list_copy, 1, 1);
    sc_defprim("list-tail", p_list_tail, 2, 2);
    sc_defprim("list-ref", p_list_ref, 2, 2);
    sc_defprim("last-pair", p_last_pair, 1, 1);
    sc_defprim("memq", p_memq, 2, 2);
    sc_defprim("memv", p_memv, 2, 2);
    sc_defprim("%memv", p_memv, 2, 2);
    sc_defprim("member", p_member, 2, 3);
    sc_defprim("assq", p_assq, 2, 2);
    sc_defprim("assv", p_assv, 2, 2);
    sc_defprim("assoc", p_assoc, 2, 3);
    sc_defprim("null?", p_null_p, 1, 1);
    sc_defprim("pair?", p_pair_p, 1, 1);
    sc_defprim("list?", p_list_p, 1, 1);
    sc_defprim("eq?", p_eq_p, 2, 2);
    sc_defprim("eqv?", p_eqv_p, 2, 2);
    sc_defprim("equal?", p_equal_p, 2, 2);
    sc_defprim("not", p_not, 1, 1);
    sc_defprim("boolean?", p_boolean_p, 1, 1);
    sc_defprim("boolean=?", p_boolean_eq, 2, -1);
    sc_defprim("%make-record-type", p_make_record_type, 2, 2);
    sc_defprim("%record", p_record, 1, -1);
    sc_defprim("%record?", p_record_p, 2, 2);
    sc_defprim("%record-ref", p_record_ref, 3, 3);
    sc_defprim("%record-set!", p_record_set, 4, 4);
}

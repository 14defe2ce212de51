/* string.c: characters, strings and the conversions between strings,
 * symbols, numbers and UTF-8.
 *
 * Strings are arrays of code points (scheme.h), so indexing is O(1) and
 * every primitive works on code points. Case mapping and the character
 * classes come from the C library's tables for the C.UTF-8 locale (a
 * locale_t of our own, so the process's locale is left alone and threads
 * need no care); where that locale is missing, small tables cover ASCII,
 * Latin-1, Latin Extended-A, Greek and Cyrillic. Mapping is one code point
 * to one, as Guile's string-upcase does ("ß" stays).
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "scheme.h"

static locale_t utf8_locale; /* (locale_t)0 when the system has no C.UTF-8 */

/* ---- Characters ------------------------------------------------------------------------------ */

/* Case pairs as offset ranges for the fallback tables: [lo, hi] uppercase
 * map to c + delta; `step` 2 for alternating upper/lower pairs. */
static const struct {
    uint32_t lo, hi;
    int32_t delta;
    int step;
} case_ranges[] = {
    {'A', 'Z', 32, 1},       {0xc0, 0xd6, 32, 1},     {0xd8, 0xde, 32, 1},
    {0x100, 0x12f, 1, 2},    {0x132, 0x137, 1, 2},    {0x139, 0x148, 1, 2},
    {0x14a, 0x177, 1, 2},    {0x179, 0x17e, 1, 2},    {0x391, 0x3a1, 32, 1},
    {0x3a3, 0x3ab, 32, 1},   {0x388, 0x38a, 37, 1},   {0x410, 0x42f, 32, 1},
    {0x400, 0x40f, 80, 1},   {0x460, 0x481, 1, 2},    {0x48a, 0x4bf, 1, 2},
};

static uint32_t table_downcase(uint32_t c)
{
    for (size_t i = 0; i < sizeof case_ranges / sizeof case_ranges[0]; i++)
        if (c >= case_ranges[i].lo && c <= case_ranges[i].hi &&
            (c - case_ranges[i].lo) % (uint32_t)case_ranges[i].step == 0)
            return c + (uint32_t)case_ranges[i].delta;
    switch (c) {
    case 0x178: return 0xff;
    case 0x386: return 0x3ac;
    case 0x38c: return 0x3cc;
    case 0x38e: return 0x3cd;
    case 0x38f: return 0x3ce;
    case 0x130: return 'i';
    }
    return c;
}

static uint32_t table_upcase(uint32_t c)
{
    for (size_t i = 0; i < sizeof case_ranges / sizeof case_ranges[0]; i++) {
        uint32_t lo = case_ranges[i].lo + (uint32_t)case_ranges[i].delta;
        uint32_t hi = case_ranges[i].hi + (uint32_t)case_ranges[i].delta;
        if (c >= lo && c <= hi && (c - lo) % (uint32_t)case_ranges[i].step == 0)
            return c - (uint32_t)case_ranges[i].delta;
    }
    switch (c) {
    case 0xff: return 0x178;
    case 0xb5: return 0x39c;
    case 0x3c2: return 0x3a3;
    case 0x3ac: return 0x386;
    case 0x3cc: return 0x38c;
    case 0x3cd: return 0x38e;
    case 0x3ce: return 0x38f;
    case 0x131: return 'I';
    }
    return c;
}

static uint32_t upcase(uint32_t c)
{
    if (c < 0x80)
        return c >= 'a' && c <= 'z' ? c - 32 : c;
    return utf8_locale ? (uint32_t)towupper_l((wint_t)c, utf8_locale) : table_upcase(c);
}

static uint32_t downcase(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    return utf8_locale ? (uint32_t)towlower_l((wint_t)c, utf8_locale) : table_downcase(c);
}

/* The zeros of the decimal digit (Nd) blocks: a digit's value is its
 * distance from its block's zero. */
static const uint32_t digit_zeros[] = {
    0x30,    0x660,   0x6f0,   0x7c0,   0x966,   0x9e6,   0xa66,   0xae6,   0xb66,
    0xbe6,   0xc66,   0xce6,   0xd66,   0xde6,   0xe50,   0xed0,   0xf20,   0x1040,
    0x1090,  0x17e0,  0x1810,  0x1946,  0x19d0,  0x1a80,  0x1a90,  0x1b50,  0x1bb0,
    0x1c40,  0x1c50,  0xa620,  0xa8d0,  0xa900,  0xa9d0,  0xa9f0,  0xaa50,  0xabf0,
    0xff10,  0x104a0, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0,
    0x11650, 0x116c0, 0x11730, 0x118e0, 0x16a60, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2,
    0x1d7ec, 0x1d7f6, 0x1e950,
};

static int digit_value(uint32_t c)
{
    for (size_t i = 0; i < sizeof digit_zeros / sizeof digit_zeros[0]; i++)
        if (c >= digit_zeros[i] && c < digit_zeros[i] + 10)
            return (int)(c - digit_zeros[i]);
    return -1;
}

static int is_whitespace(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

static int is_upper(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z';
    return utf8_locale ? iswupper_l((wint_t)c, utf8_locale) != 0 : downcase(c) != c;
}

static int is_lower(uint32_t c)
{
    if (c < 0x80)
        return c >= 'a' && c <= 'z';
    return utf8_locale ? iswlower_l((wint_t)c, utf8_locale) != 0
                       : upcase(c) != c || c == 0xdf;
}

static int is_alphabetic(uint32_t c)
{
    if (c < 0x80)
        return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    if (utf8_locale)
        return iswalpha_l((wint_t)c, utf8_locale) != 0 && digit_value(c) < 0;
    return is_upper(c) || is_lower(c) || (c >= 0x4e00 && c <= 0x9fff) ||
           (c >= 0x3040 && c <= 0x30ff) || (c >= 0xac00 && c <= 0xd7a3);
}

static sc_val p_char_to_integer(int argc, sc_val *argv)
{
    (void)argc;
    return sc_fixnum(sc_check_char("char->integer", argv[0]));
}

static sc_val p_integer_to_char(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = sc_check_fixnum("integer->char", argv[0]);
    if (n < 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff))
        sc_error(argv[0], "integer->char: not a Unicode scalar value:");
    return sc_char((uint32_t)n);
}

static sc_val p_char_upcase(int argc, sc_val *argv)
{
    (void)argc;
    return sc_char(upcase(sc_check_char("char-upcase", argv[0])));
}

static sc_val p_char_downcase(int argc, sc_val *argv)
{
    (void)argc;
    return sc_char(downcase(sc_check_char("char-downcase", argv[0])));
}

static sc_val p_is_char(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is_char(argv[0]));
}

/* The comparisons: each of <0 ==0 >0 accepted (a bit each) by cmp_ok. */
enum { LT = 1, EQ = 2, GT = 4 };

static int cmp_ok(int64_t d, int accept)
{
    return (d < 0 && (accept & LT)) || (d == 0 && (accept & EQ)) || (d > 0 && (accept & GT));
}

static sc_val char_compare(const char *who, int argc, sc_val *argv, int accept, int ci)
{
    int ok = 1;
    for (int i = 0; i < argc; i++)
        sc_check_char(who, argv[i]);
    for (int i = 0; i + 1 < argc; i++) {
        uint32_t a = sc_char_value(argv[i]), b = sc_char_value(argv[i + 1]);
        if (ci) {
            a = downcase(a);
            b = downcase(b);
        }
        ok = ok && cmp_ok((int64_t)a - (int64_t)b, accept);
    }
    return sc_bool(ok);
}

#define CHAR_CMP(fn, name, accept, ci)                                                        \
    static sc_val fn(int argc, sc_val *argv) { return char_compare(name, argc, argv, accept, ci); }
CHAR_CMP(p_char_eq, "char=?", EQ, 0)
CHAR_CMP(p_char_lt, "char<?", LT, 0)
CHAR_CMP(p_char_gt, "char>?", GT, 0)
CHAR_CMP(p_char_le, "char<=?", LT | EQ, 0)
CHAR_CMP(p_char_ge, "char>=?", GT | EQ, 0)
CHAR_CMP(p_char_ci_eq, "char-ci=?", EQ, 1)

#define CHAR_PRED(fn, name, test)                                                              \
    static sc_val fn(int argc, sc_val *argv)                                                  \
    {                                                                                         \
        (void)argc;                                                                           \
        return sc_bool(test(sc_check_char(name, argv[0])));                                   \
    }
static int is_numeric(uint32_t c) { return digit_value(c) >= 0; }
CHAR_PRED(p_char_alphabetic, "char-alphabetic?", is_alphabetic)
CHAR_PRED(p_char_numeric, "char-numeric?", is_numeric)
CHAR_PRED(p_char_whitespace, "char-whitespace?", is_whitespace)
CHAR_PRED(p_char_upper, "char-upper-case?", is_upper)
CHAR_PRED(p_char_lower, "char-lower-case?", is_lower)

static sc_val p_digit_value(int argc, sc_val *argv)
{
    (void)argc;
    int d = digit_value(sc_check_char("digit-value", argv[0]));
    return d < 0 ? SC_FALSE : sc_fixnum(d);
}

/* ---- Strings ---------------------------------------------------------------------------------- */

static sc_val string_arg(const char *who, sc_val v)
{
    sc_check_kind(who, v, SC_STRING);
    return v;
}

static sc_val substring_of(sc_val s, size_t start, size_t end)
{
    sc_val r = sc_make_string(end - start, 0);
    memcpy(sc_string_chars(r), sc_string_chars(s) + start, (end - start) * sizeof(uint32_t));
    return r;
}

static sc_val p_is_string(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_STRING));
}

static sc_val p_string_length(int argc, sc_val *argv)
{
    (void)argc;
    return sc_fixnum((int64_t)sc_len(string_arg("string-length", argv[0])));
}

/* substring and string-copy: (s [start [end]]). */
static sc_val copy_range(const char *who, int argc, sc_val *argv)
{
    sc_val s = string_arg(who, argv[0]);
    size_t len = sc_len(s);
    size_t start = sc_index_arg(who, argc, argv, 1, 0, len, 0);
    size_t end = sc_index_arg(who, argc, argv, 2, start, len, len);
    return substring_of(s, start, end);
}

static sc_val p_substring(int argc, sc_val *argv)
{
    return copy_range("substring", argc, argv);
}

static sc_val p_string_copy(int argc, sc_val *argv)
{
    return copy_range("string-copy", argc, argv);
}

static sc_val p_string_append(int argc, sc_val *argv)
{
    size_t n = 0;
    for (int i = 0; i < argc; i++)
        n += sc_len(string_arg("string-append", argv[i]));
    sc_val r = sc_make_string(n, 0);
    size_t k = 0;
    for (int i = 0; i < argc; i++) { /* argv: the VM stack does not move while we run */
        memcpy(sc_string_chars(r) + k, sc_string_chars(argv[i]), sc_len(argv[i]) * 4);
        k += sc_len(argv[i]);
    }
    return r;
}

static int64_t string_cmp(sc_val a, sc_val b, int ci)
{
    size_t na = sc_len(a), nb = sc_len(b);
    const uint32_t *ca = sc_string_chars(a), *cb = sc_string_chars(b);
    for (size_t i = 0; i < na && i < nb; i++) {
        uint32_t x = ci ? downcase(ca[i]) : ca[i], y = ci ? downcase(cb[i]) : cb[i];
        if (x != y)
            return (int64_t)x - (int64_t)y;
    }
    return (int64_t)na - (int64_t)nb;
}

static sc_val string_compare(const char *who, int argc, sc_val *argv, int accept, int ci)
{
    int ok = 1;
    for (int i = 0; i < argc; i++)
        string_arg(who, argv[i]);
    for (int i = 0; i + 1 < argc; i++)
        ok = ok && cmp_ok(string_cmp(argv[i], argv[i + 1], ci), accept);
    return sc_bool(ok);
}

#define STRING_CMP(fn, name, accept, ci)                                                      \
    static sc_val fn(int argc, sc_val *argv) { return string_compare(name, argc, argv, accept, ci); }
STRING_CMP(p_string_eq, "string=?", EQ, 0)
STRING_CMP(p_string_lt, "string<?", LT, 0)
STRING_CMP(p_string_gt, "string>?", GT, 0)
STRING_CMP(p_string_le, "string<=?", LT | EQ, 0)
STRING_CMP(p_string_ge, "string>=?", GT | EQ, 0)
STRING_CMP(p_string_ci_eq, "string-ci=?", EQ, 1)

static sc_val p_string_to_list(int argc, sc_val *argv)
{
    sc_val s = string_arg("string->list", argv[0]);
    size_t len = sc_len(s);
    size_t start = sc_index_arg("string->list", argc, argv, 1, 0, len, 0);
    size_t end = sc_index_arg("string->list", argc, argv, 2, start, len, len);
    sc_val l = SC_NIL;
    for (size_t i = end; i > start; i--)
        l = sc_cons(sc_char(sc_string_chars(s)[i - 1]), l);
    return l;
}

static sc_val p_list_to_string(int argc, sc_val *argv)
{
    (void)argc;
    sc_val l = argv[0];
    size_t n = sc_list_length(l);
    if (n == SIZE_MAX)
        sc_error(l, "list->string: not a proper list:");
    sc_val s = sc_make_string(n, 0);
    for (size_t i = 0; i < n; i++, l = sc_cdr(l))
        sc_string_chars(s)[i] = sc_check_char("list->string", sc_car(l));
    return s;
}

static sc_val p_string(int argc, sc_val *argv)
{
    for (int i = 0; i < argc; i++)
        sc_check_char("string", argv[i]);
    sc_val s = sc_make_string((size_t)argc, 0);
    for (int i = 0; i < argc; i++)
        sc_string_chars(s)[i] = sc_char_value(argv[i]);
    return s;
}

static sc_val p_make_string(int argc, sc_val *argv)
{
    int64_t n = sc_check_fixnum("make-string", argv[0]);
    if (n < 0 || n > (int64_t)1 << 40)
        sc_error(argv[0], "make-string: bad length:");
    /* Guile fills with NULs when no character is given. */
    uint32_t fill = argc > 1 && argv[1] != SC_DEFAULT ? sc_check_char("make-string", argv[1]) : 0;
    return sc_make_string((size_t)n, fill);
}

static size_t string_index(const char *who, sc_val s, sc_val k)
{
    int64_t i = sc_check_fixnum(who, k);
    if (i < 0 || (size_t)i >= sc_len(s))
        sc_error(k, "%s: index out of range:", who);
    return (size_t)i;
}

static sc_val p_string_ref(int argc, sc_val *argv)
{
    (void)argc;
    sc_val s = string_arg("string-ref", argv[0]);
    return sc_char(sc_string_chars(s)[string_index("string-ref", s, argv[1])]);
}

static sc_val p_string_set(int argc, sc_val *argv)
{
    (void)argc;
    sc_val s = string_arg("string-set!", argv[0]);
    size_t i = string_index("string-set!", s, argv[1]);
    sc_string_chars(s)[i] = sc_check_char("string-set!", argv[2]);
    return SC_UNSPEC;
}

static sc_val p_string_fill(int argc, sc_val *argv)
{
    sc_val s = string_arg("string-fill!", argv[0]);
    uint32_t c = sc_check_char("string-fill!", argv[1]);
    size_t len = sc_len(s);
    size_t start = sc_index_arg("string-fill!", argc, argv, 2, 0, len, 0);
    size_t end = sc_index_arg("string-fill!", argc, argv, 3, start, len, len);
    for (size_t i = start; i < end; i++)
        sc_string_chars(s)[i] = c;
    return SC_UNSPEC;
}

static sc_val map_case(const char *who, sc_val s, uint32_t (*f)(uint32_t))
{
    string_arg(who, s);
    sc_val r = sc_make_string(sc_len(s), 0);
    for (size_t i = 0; i < sc_len(s); i++)
        sc_string_chars(r)[i] = f(sc_string_chars(s)[i]);
    return r;
}

static sc_val p_string_upcase(int argc, sc_val *argv)
{
    (void)argc;
    return map_case("string-upcase", argv[0], upcase);
}

static sc_val p_string_downcase(int argc, sc_val *argv)
{
    (void)argc;
    return map_case("string-downcase", argv[0], downcase);
}

static sc_val p_string_to_vector(int argc, sc_val *argv)
{
    sc_val s = string_arg("string->vector", argv[0]);
    size_t len = sc_len(s);
    size_t start = sc_index_arg("string->vector", argc, argv, 1, 0, len, 0);
    size_t end = sc_index_arg("string->vector", argc, argv, 2, start, len, len);
    sc_val v = sc_make_vector(end - start, SC_FALSE);
    for (size_t i = start; i < end; i++) /* characters are immediates: plain stores */
        SC_SLOT(v, 1 + i - start) = sc_char(sc_string_chars(s)[i]);
    return v;
}

static sc_val p_vector_to_string(int argc, sc_val *argv)
{
    sc_check_kind("vector->string", argv[0], SC_VECTOR);
    sc_val v = argv[0];
    size_t len = sc_len(v);
    size_t start = sc_index_arg("vector->string", argc, argv, 1, 0, len, 0);
    size_t end = sc_index_arg("vector->string", argc, argv, 2, start, len, len);
    for (size_t i = start; i < end; i++)
        sc_check_char("vector->string", SC_SLOT(v, 1 + i));
    sc_val s = sc_make_string(end - start, 0);
    for (size_t i = start; i < end; i++)
        sc_string_chars(s)[i - start] = sc_char_value(SC_SLOT(v, 1 + i));
    return s;
}

/* string-for-each and string-map: (proc s1 s2 ...), up to the shortest.
 * The strings are copied to the stack first: argv is the VM's, and Scheme
 * runs in between. */
static sc_val string_walk(const char *who, int argc, sc_val *argv, int map)
{
    sc_val proc = argv[0];
    int ns = argc - 1;
    sc_val strs[ns];
    size_t n = SIZE_MAX;
    for (int i = 0; i < ns; i++) {
        strs[i] = string_arg(who, argv[i + 1]);
        n = sc_len(strs[i]) < n ? sc_len(strs[i]) : n;
    }
    if (!sc_is_procedure(proc))
        sc_error(proc, "%s: not a procedure:", who);
    sc_val out = map ? sc_make_string(n, 0) : SC_UNSPEC;
    for (size_t k = 0; k < n; k++) {
        sc_val args[ns];
        for (int i = 0; i < ns; i++)
            args[i] = sc_char(sc_string_chars(strs[i])[k]);
        sc_val r = sc_apply(proc, ns, args);
        if (map)
            sc_string_chars(out)[k] = sc_check_char(who, r);
    }
    return out;
}

static sc_val p_string_for_each(int argc, sc_val *argv)
{
    return string_walk("string-for-each", argc, argv, 0);
}

static sc_val p_string_map(int argc, sc_val *argv)
{
    return string_walk("string-map", argc, argv, 1);
}

/* ---- Conversions --------------------------------------------------------------------------- */

static sc_val p_symbol_to_string(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("symbol->string", argv[0], SC_SYMBOL);
    sc_val name = SC_SLOT(argv[0], SC_SYM_NAME);
    return substring_of(name, 0, sc_len(name)); /* a copy: the name must not change */
}

static sc_val p_string_to_symbol(int argc, sc_val *argv)
{
    (void)argc;
    return sc_intern_string(string_arg("string->symbol", argv[0]));
}

static sc_val p_is_symbol(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_SYMBOL));
}

static int radix_arg(const char *who, int argc, sc_val *argv, int i)
{
    if (i >= argc || argv[i] == SC_DEFAULT)
        return 10;
    int64_t r = sc_check_fixnum(who, argv[i]);
    if (r < 2 || r > 36)
        sc_error(argv[i], "%s: bad radix:", who);
    return (int)r;
}

static sc_val p_number_to_string(int argc, sc_val *argv)
{
    int64_t n = sc_check_integer("number->string", argv[0]);
    int radix = radix_arg("number->string", argc, argv, 1);
    char buf[72], *p = buf + sizeof buf;
    uint64_t m = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    *--p = 0;
    do {
        *--p = "0123456789abcdefghijklmnopqrstuvwxyz"[m % (uint64_t)radix];
        m /= (uint64_t)radix;
    } while (m);
    if (n < 0)
        *--p = '-';
    return sc_string_from_c(p);
}

static sc_val p_string_to_number(int argc, sc_val *argv)
{
    sc_val s = string_arg("string->number", argv[0]);
    int radix = radix_arg("string->number", argc, argv, 1);
    return sc_parse_number(sc_string_chars(s), sc_len(s), radix);
}

static sc_val p_string_to_utf8(int argc, sc_val *argv)
{
    sc_val s = string_arg("string->utf8", argv[0]);
    size_t len = sc_len(s);
    size_t start = sc_index_arg("string->utf8", argc, argv, 1, 0, len, 0);
    size_t end = sc_index_arg("string->utf8", argc, argv, 2, start, len, len);
    size_t n = 0;
    char b[4];
    for (size_t i = start; i < end; i++)
        n += (size_t)sc_utf8_encode(sc_string_chars(s)[i], b);
    sc_val bv = sc_alloc_atomic(SC_BYTEVECTOR, n, n);
    size_t k = 0;
    for (size_t i = start; i < end; i++)
        k += (size_t)sc_utf8_encode(sc_string_chars(s)[i], (char *)sc_bytes(bv) + k);
    return bv;
}

static sc_val p_utf8_to_string(int argc, sc_val *argv)
{
    sc_check_kind("utf8->string", argv[0], SC_BYTEVECTOR);
    sc_val bv = argv[0];
    size_t len = sc_len(bv);
    size_t start = sc_index_arg("utf8->string", argc, argv, 1, 0, len, 0);
    size_t end = sc_index_arg("utf8->string", argc, argv, 2, start, len, len);
    /* bv's bytes stay put while the string is allocated: the collector
     * moves nothing, and bv is live in this frame. */
    return sc_string_from_utf8((const char *)sc_bytes(bv) + start, end - start);
}

void sc_init_strings(void)
{
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!utf8_locale)
        utf8_locale = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
    static const struct {
        const char *name;
        sc_prim_fn fn;
        int min, max;
    } prims[] = {
        {"char->integer", p_char_to_integer, 1, 1},
        {"integer->char", p_integer_to_char, 1, 1},
        {"char-upcase", p_char_upcase, 1, 1},
        {"char-downcase", p_char_downcase, 1, 1},
        {"char?", p_is_char, 1, 1},
        {"char=?", p_char_eq, 1, -1},
        {"char<?", p_char_lt, 1, -1},
        {"char>?", p_char_gt, 1, -1},
        {"char<=?", p_char_le, 1, -1},
        {"char>=?", p_char_ge, 1, -1},
        {"char-ci=?", p_char_ci_eq, 1, -1},
        {"char-alphabetic?", p_char_alphabetic, 1, 1},
        {"char-numeric?", p_char_numeric, 1, 1},
        {"char-whitespace?", p_char_whitespace, 1, 1},
        {"char-upper-case?", p_char_upper, 1, 1},
        {"char-lower-case?", p_char_lower, 1, 1},
        {"digit-value", p_digit_value, 1, 1},
        {"string?", p_is_string, 1, 1},
        {"string-length", p_string_length, 1, 1},
        {"substring", p_substring, 2, 3},
        {"string-append", p_string_append, 0, -1},
        {"string=?", p_string_eq, 1, -1},
        {"string<?", p_string_lt, 1, -1},
        {"string>?", p_string_gt, 1, -1},
        {"string<=?", p_string_le, 1, -1},
        {"string>=?", p_string_ge, 1, -1},
        {"string-ci=?", p_string_ci_eq, 1, -1},
        {"string->list", p_string_to_list, 1, 3},
        {"list->string", p_list_to_string, 1, 1},
        {"string", p_string, 0, -1},
        {"make-string", p_make_string, 1, 2},
        {"string-copy", p_string_copy, 1, 3},
        {"string-set!", p_string_set, 3, 3},
        {"string-ref", p_string_ref, 2, 2},
        {"string-fill!", p_string_fill, 2, 4},
        {"string-upcase", p_string_upcase, 1, 1},
        {"string-downcase", p_string_downcase, 1, 1},
        {"string->vector", p_string_to_vector, 1, 3},
        {"vector->string", p_vector_to_string, 1, 3},
        {"string-for-each", p_string_for_each, 2, -1},
        {"string-map", p_string_map, 2, -1},
        {"symbol->string", p_symbol_to_string, 1, 1},
        {"string->symbol", p_string_to_symbol, 1, 1},
        {"symbol?", p_is_symbol, 1, 1},
        {"number->string", p_number_to_string, 1, 2},
        {"string->number", p_string_to_number, 1, 2},
        {"string->utf8", p_string_to_utf8, 1, 3},
        {"utf8->string", p_utf8_to_string, 1, 3},
    };
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        sc_defprim(prims[i].name, prims[i].fn, prims[i].min, prims[i].max);
}

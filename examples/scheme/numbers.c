/* numbers.c: exact integers of 64 bits (a fixnum when it fits 63 bits,
 * else a box; a result that does not fit 64 bits is an error, never a
 * wrong answer: there are no bignums) and their procedures. */
#include "vm.h"

static int64_t arg(const char *who, sc_val v)
{
    return sc_check_integer(who, v);
}

static sc_val fit(const char *who, __int128 r)
{
    return sc_integer_checked(who, r);
}

static sc_val p_add(int argc, sc_val *argv)
{
    __int128 r = 0;
    for (int i = 0; i < argc; i++) {
        r += arg("+", argv[i]);
        if (r > INT64_MAX || r < INT64_MIN)
            return fit("+", r);
    }
    return fit("+", r);
}

static sc_val p_mul(int argc, sc_val *argv)
{
    __int128 r = 1;
    for (int i = 0; i < argc; i++) {
        r *= arg("*", argv[i]);
        if (r > INT64_MAX || r < INT64_MIN)
            return fit("*", r);
    }
    return fit("*", r);
}

static sc_val p_sub(int argc, sc_val *argv)
{
    __int128 r = arg("-", argv[0]);
    if (argc == 1)
        return fit("-", -r);
    for (int i = 1; i < argc; i++) {
        r -= arg("-", argv[i]);
        if (r > INT64_MAX || r < INT64_MIN)
            return fit("-", r);
    }
    return fit("-", r);
}

/* =, <, >, <=, >= over any number of arguments. */
static sc_val compare(const char *who, int argc, sc_val *argv, int want_lt, int want_eq,
                      int want_gt)
{
    for (int i = 0; i < argc; i++)
        (void)arg(who, argv[i]);
    for (int i = 0; i + 1 < argc; i++) {
        int64_t a = sc_integer_value(argv[i]), b = sc_integer_value(argv[i + 1]);
        int ok = a < b ? want_lt : a == b ? want_eq : want_gt;
        if (!ok)
            return SC_FALSE;
    }
    return SC_TRUE;
}

static sc_val p_eq(int argc, sc_val *argv) { return compare("=", argc, argv, 0, 1, 0); }
static sc_val p_lt(int argc, sc_val *argv) { return compare("<", argc, argv, 1, 0, 0); }
static sc_val p_gt(int argc, sc_val *argv) { return compare(">", argc, argv, 0, 0, 1); }
static sc_val p_le(int argc, sc_val *argv) { return compare("<=", argc, argv, 1, 1, 0); }
static sc_val p_ge(int argc, sc_val *argv) { return compare(">=", argc, argv, 0, 1, 1); }

static int64_t divisor(const char *who, sc_val v)
{
    int64_t d = arg(who, v);
    if (d == 0)
        sc_error(SC_DEFAULT, "%s: division by zero", who);
    return d;
}

/* Floor division: the quotient rounded toward minus infinity. */
static __int128 floor_quot(int64_t n, int64_t d)
{
    __int128 q = (__int128)n / d;
    if (((__int128)n % d != 0) && ((n < 0) != (d < 0)))
        q--;
    return q;
}

static sc_val p_quotient(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("quotient", argv[0]), d = divisor("quotient", argv[1]);
    return fit("quotient", (__int128)n / d);
}

static sc_val p_remainder(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("remainder", argv[0]), d = divisor("remainder", argv[1]);
    return d == -1 ? sc_fixnum(0) : sc_integer(n % d);
}

static sc_val p_modulo(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("modulo", argv[0]), d = divisor("modulo", argv[1]);
    int64_t m = d == -1 ? 0 : n % d;
    if (m != 0 && ((m < 0) != (d < 0)))
        m += d;
    return sc_integer(m);
}

static sc_val two_values(sc_val a, sc_val b)
{
    sc_val v = sc_alloc_slots(SC_VALUES, 2);
    SC_SET(v, 1, a);
    SC_SET(v, 2, b);
    return v;
}

static sc_val p_floor_div(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("floor/", argv[0]), d = divisor("floor/", argv[1]);
    __int128 q = floor_quot(n, d);
    sc_val qv = fit("floor/", q);
    return two_values(qv, sc_integer((int64_t)(n - q * d)));
}

static sc_val p_floor_quotient(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("floor-quotient", argv[0]), d = divisor("floor-quotient", argv[1]);
    return fit("floor-quotient", floor_quot(n, d));
}

static sc_val p_truncate_div(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("truncate/", argv[0]), d = divisor("truncate/", argv[1]);
    sc_val qv = fit("truncate/", (__int128)n / d);
    return two_values(qv, sc_integer(d == -1 ? 0 : n % d));
}

static sc_val p_abs(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("abs", argv[0]);
    return fit("abs", n < 0 ? -(__int128)n : n);
}

static sc_val p_min(int argc, sc_val *argv)
{
    int64_t m = arg("min", argv[0]);
    for (int i = 1; i < argc; i++) {
        int64_t x = arg("min", argv[i]);
        if (x < m)
            m = x;
    }
    return sc_integer(m);
}

static sc_val p_max(int argc, sc_val *argv)
{
    int64_t m = arg("max", argv[0]);
    for (int i = 1; i < argc; i++) {
        int64_t x = arg("max", argv[i]);
        if (x > m)
            m = x;
    }
    return sc_integer(m);
}

static sc_val p_expt(int argc, sc_val *argv)
{
    (void)argc;
    int64_t b = arg("expt", argv[0]), e = arg("expt", argv[1]);
    if (e < 0)
        sc_error(argv[1], "expt: a negative exponent gives no exact integer:");
    __int128 r = 1, base = b;
    while (e > 0) {
        if (e & 1) {
            r *= base;
            if (r > INT64_MAX || r < INT64_MIN)
                return fit("expt", r);
        }
        e >>= 1;
        if (e) {
            base *= base;
            if (base > INT64_MAX || base < INT64_MIN)
                return fit("expt", base);
        }
    }
    return fit("expt", r);
}

static __int128 gcd2(__int128 a, __int128 b)
{
    if (a < 0)
        a = -a;
    if (b < 0)
        b = -b;
    while (b) {
        __int128 t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static sc_val p_gcd(int argc, sc_val *argv)
{
    __int128 g = 0;
    for (int i = 0; i < argc; i++)
        g = gcd2(g, arg("gcd", argv[i]));
    return fit("gcd", g);
}

static sc_val p_lcm(int argc, sc_val *argv)
{
    __int128 l = 1;
    for (int i = 0; i < argc; i++) {
        int64_t x = arg("lcm", argv[i]);
        if (x == 0)
            return sc_fixnum(0);
        __int128 g = gcd2(l, x);
        l = l / g * (x < 0 ? -(__int128)x : x);
        if (l > INT64_MAX)
            return fit("lcm", l);
    }
    return fit("lcm", l);
}

static sc_val p_zero_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(arg("zero?", argv[0]) == 0);
}

static sc_val p_positive_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(arg("positive?", argv[0]) > 0);
}

static sc_val p_negative_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(arg("negative?", argv[0]) < 0);
}

static sc_val p_even_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(arg("even?", argv[0]) % 2 == 0);
}

static sc_val p_odd_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(arg("odd?", argv[0]) % 2 != 0);
}

static sc_val p_number_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is_integer(argv[0]));
}

static sc_val p_square(int argc, sc_val *argv)
{
    (void)argc;
    int64_t n = arg("square", argv[0]);
    return fit("square", (__int128)n * n);
}

static sc_val p_exact(int argc, sc_val *argv)
{
    (void)argc;
    (void)arg("exact", argv[0]);
    return argv[0];
}

static sc_val p_exact_p(int argc, sc_val *argv)
{
    (void)argc;
    (void)arg("exact?", argv[0]);
    return SC_TRUE;
}

static sc_val p_inc(int argc, sc_val *argv)
{
    (void)argc;
    return fit("1+", (__int128)arg("1+", argv[0]) + 1);
}

static sc_val p_dec(int argc, sc_val *argv)
{
    (void)argc;
    return fit("1-", (__int128)arg("1-", argv[0]) - 1);
}

void sc_init_numbers(void)
{
    sc_defprim("+", p_add, 0, -1);
    sc_defprim("*", p_mul, 0, -1);
    sc_defprim("-", p_sub, 1, -1);
    sc_defprim("=", p_eq, 1, -1);
    sc_defprim("<", p_lt, 1, -1);
    sc_defprim(">", p_gt, 1, -1);
    sc_defprim("<=", p_le, 1, -1);
    sc_defprim(">=", p_ge, 1, -1);
    sc_defprim("quotient", p_quotient, 2, 2);
    sc_defprim("truncate-quotient", p_quotient, 2, 2);
    sc_defprim("remainder", p_remainder, 2, 2);
    sc_defprim("truncate-remainder", p_remainder, 2, 2);
    sc_defprim("modulo", p_modulo, 2, 2);
    sc_defprim("floor-remainder", p_modulo, 2, 2);
    sc_defprim("floor-quotient", p_floor_quotient, 2, 2);
    sc_defprim("floor/", p_floor_div, 2, 2);
    sc_defprim("truncate/", p_truncate_div, 2, 2);
    sc_defprim("abs", p_abs, 1, 1);
    sc_defprim("min", p_min, 1, -1);
    sc_defprim("max", p_max, 1, -1);
    sc_defprim("expt", p_expt, 2, 2);
    sc_defprim("gcd", p_gcd, 0, -1);
    sc_defprim("lcm", p_lcm, 0, -1);
    sc_defprim("zero?", p_zero_p, 1, 1);
    sc_defprim("positive?", p_positive_p, 1, 1);
    sc_defprim("negative?", p_negative_p, 1, 1);
    sc_defprim("even?", p_even_p, 1, 1);
    sc_defprim("odd?", p_odd_p, 1, 1);
    sc_defprim("number?", p_number_p, 1, 1);
    sc_defprim("integer?", p_number_p, 1, 1);
    sc_defprim("exact-integer?", p_number_p, 1, 1);
    sc_defprim("exact?", p_exact_p, 1, 1);
    sc_defprim("exact", p_exact, 1, 1);
    sc_defprim("square", p_square, 1, 1);
    sc_defprim("1+", p_inc, 1, 1);
    sc_defprim("1-", p_dec, 1, 1);
}

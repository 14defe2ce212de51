/* print.c: write and display, in GNU Guile 3.0's notation (the tests'
 * expected outputs come from Guile): strings and characters escaped as
 * Guile escapes them, symbols that would not read back as themselves in
 * Guile's #{...}# form, (quote x) left unabbreviated as Guile 3.0.8 writes
 * it, records as #<name field: value ...>.
 *
 * Output goes through a sink: a small buffer on the stack flushed to a
 * stdio stream or to a port (with the port's lock held for the whole
 * datum, so that threads writing to one port do not interleave inside
 * one). Printing allocates nothing itself; a string port's buffer may grow.
 */
#include <stdio.h>
#include <string.h>

#include "vm.h"

typedef struct sink {
    FILE *f;     /* a stdio stream, or NULL: port */
    sc_val port; /* an output port whose lock the printer holds */
    size_t n;
    char buf[1024];
} sink;

static void sink_flush(sink *k)
{
    if (k->n == 0)
        return;
    if (k->f)
        fwrite(k->buf, 1, k->n, k->f);
    else
        sc_port_write_utf8_locked(k->port, k->buf, k->n);
    k->n = 0;
}

static void put(sink *k, const char *s, size_t n)
{
    while (n > 0) {
        size_t room = sizeof k->buf - k->n, m = n < room ? n : room;
        memcpy(k->buf + k->n, s, m);
        k->n += m;
        s += m;
        n -= m;
        if (k->n == sizeof k->buf)
            sink_flush(k);
    }
}

static void puts_(sink *k, const char *s)
{
    put(k, s, strlen(s));
}

static void put_cp(sink *k, uint32_t cp)
{
    char b[4];
    put(k, b, (size_t)sc_utf8_encode(cp, b));
}

/* ---- Unicode classes, as far as Guile's printer asks ------------------------------------- */

/* Whether cp is in none of the general categories L, M, N, P, S: a
 * control, a separator (space included), a format character, a surrogate,
 * a private use or (roughly) an unassigned one. */
static int is_nongraphic(uint32_t c)
{
    static const uint32_t ranges[][2] = {
        {0x0, 0x20},       {0x7f, 0xa0},       {0xad, 0xad},       {0x600, 0x605},
        {0x61c, 0x61c},    {0x6dd, 0x6dd},     {0x70f, 0x70f},     {0x1680, 0x1680},
        {0x180e, 0x180e},  {0x2000, 0x200f},   {0x2028, 0x202f},   {0x205f, 0x2064},
        {0x2066, 0x206f},  {0x3000, 0x3000},   {0xd800, 0xf8ff},   {0xfdd0, 0xfdef},
        {0xfeff, 0xfeff},  {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x1bca0, 0x1bca3},
        {0x1d173, 0x1d17a}, {0x40000, 0xdffff}, {0xe0000, 0x10ffff},
    };
    if ((c & 0xfffe) == 0xfffe)
        return 1;
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (c >= ranges[i][0] && c <= ranges[i][1])
            return 1;
    return 0;
}

/* Opening, closing and quotation punctuation (Ps Pe Pi Pf): graphic, but
 * in no identifier category. */
static int is_bracket(uint32_t c)
{
    static const uint32_t list[] = {
        '(', ')', '[', ']', '{', '}', 0xab, 0xbb, 0x2018, 0x2019, 0x201a, 0x201b,
        0x201c, 0x201d, 0x201e, 0x201f, 0x2039, 0x203a, 0x2045, 0x2046, 0x2329, 0x232a,
        0xff08, 0xff09, 0xff3b, 0xff3d, 0xff5b, 0xff5d, 0xff62, 0xff63,
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (c == list[i])
            return 1;
    return c >= 0x3008 && c <= 0x301b && c != 0x3012 && c != 0x3013;
}

/* Combining marks: Guile writes them as a character after a dotted circle. */
static int is_combining(uint32_t c)
{
    return (c >= 0x300 && c <= 0x36f) || (c >= 0x483 && c <= 0x489) ||
           (c >= 0x591 && c <= 0x5bd) || (c >= 0x1ab0 && c <= 0x1aff) ||
           (c >= 0x1dc0 && c <= 0x1dff) || (c >= 0x20d0 && c <= 0x20ff) ||
           (c >= 0xfe20 && c <= 0xfe2f);
}

static int is_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

/* A character of Guile's "subsequent identifier" categories (letters,
 * marks, numbers, most punctuation, symbols). */
static int is_subsequent(uint32_t c)
{
    return !is_nongraphic(c) && !is_bracket(c);
}

static int is_initial(uint32_t c)
{
    return is_subsequent(c) && !is_digit(c) && !(c >= 0x660 && c <= 0x669) &&
           !(c >= 0x6f0 && c <= 0x6f9) && !(c >= 0x966 && c <= 0x96f) &&
           !(c >= 0xff10 && c <= 0xff19);
}

/* ---- Numbers-as-text, for the symbols that would read as numbers ---------------------------- */

static size_t digits(const uint32_t *c, size_t i, size_t n)
{
    while (i < n && is_digit(c[i]))
        i++;
    return i;
}

/* Whether [i, n) is a real in decimal notation (digits with a point, an
 * exponent, or a ratio), or inf.0 / nan.0 after a sign. */
static int is_real(const uint32_t *c, size_t i, size_t n, int signed_)
{
    static const char *const special[] = {"inf.0", "nan.0"};
    for (int s = 0; s < 2 && signed_; s++)
        if (n - i == 5) {
            size_t k = 0;
            while (k < 5 && c[i + k] == (uint32_t)special[s][k])
                k++;
            if (k == 5)
                return 1;
        }
    size_t j = digits(c, i, n);
    int whole = j > i;
    if (j < n && c[j] == '/')
        return whole && digits(c, j + 1, n) == n && j + 1 < n;
    if (j < n && c[j] == '.') {
        size_t k = digits(c, j + 1, n);
        if (!whole && k == j + 1)
            return 0;
        j = k;
    } else if (!whole)
        return 0;
    if (j < n && (c[j] == 'e' || c[j] == 'E')) {
        j++;
        if (j < n && (c[j] == '+' || c[j] == '-'))
            j++;
        size_t k = digits(c, j, n);
        if (k == j)
            return 0;
        j = k;
    }
    return j == n;
}

int sc_looks_numeric(const uint32_t *c, size_t n)
{
    if (n == 0)
        return 0;
    size_t i = 0;
    int sign = c[0] == '+' || c[0] == '-';
    if (sign) {
        i = 1;
        if (n == 2 && c[1] == 'i')
            return 1; /* +i, -i: the imaginary unit */
        if (n == 1)
            return 0;
    }
    if (is_real(c, i, n, sign))
        return 1;
    /* a + bi, bi: close enough for symbol printing */
    return n > i + 1 && c[n - 1] == 'i' && is_real(c, i, n - 1, sign);
}

/* ---- Symbols ---------------------------------------------------------------------------------- */

/* Guile's rule (print.c, symbol_has_extended_read_syntax): whether the
 * symbol must be written #{...}# to read back. */
static int needs_braces(const uint32_t *c, size_t n)
{
    if (n == 0)
        return 1;
    switch (c[0]) {
    case '\'': case '`': case ',': case '"': case ';': case '#':
        return 1;
    case '.':
        if (n == 1)
            return 1;
        /* fall through */
    case '+': case '-':
        if (sc_looks_numeric(c, n))
            return 1;
        break;
    default:
        if (is_digit(c[0]))
            return 1;
    }
    if (!is_initial(c[0]))
        return 1;
    for (size_t i = 1; i < n; i++)
        if (!is_subsequent(c[i]) || c[i] == '"' || c[i] == ';' || c[i] == '#')
            return 1;
    return 0;
}

static void put_hex(sink *k, uint32_t v, int width)
{
    char b[16];
    put(k, b, (size_t)snprintf(b, sizeof b, "%0*x", width, v));
}

static void print_symbol(sink *k, sc_val sym)
{
    sc_val name = SC_SLOT(sym, SC_SYM_NAME);
    const uint32_t *c = sc_string_chars(name);
    size_t n = sc_len(name);
    if (!needs_braces(c, n)) {
        puts_(k, sc_symbol_name(sym));
        return;
    }
    puts_(k, "#{");
    for (size_t i = 0; i < n; i++) {
        int space = c[i] == ' ' || c[i] == 0xa0 || c[i] == 0x1680 || c[i] == 0x202f ||
                    c[i] == 0x205f || c[i] == 0x3000 || (c[i] >= 0x2000 && c[i] <= 0x200a);
        if (is_subsequent(c[i]) || space)
            put_cp(k, c[i]);
        else {
            puts_(k, "\\x");
            put_hex(k, c[i], 1);
            puts_(k, ";");
        }
    }
    puts_(k, "}#");
}

/* ---- Characters and strings ------------------------------------------------------------------- */

/* Guile's names for the characters it writes by name. */
static const char *const char_names[33] = {
    "nul", "soh", "stx", "etx", "eot", "enq", "ack", "alarm", "backspace", "tab", "newline",
    "vtab", "page", "return", "so", "si", "dle", "dc1", "dc2", "dc3", "dc4", "nak", "syn",
    "etb", "can", "em", "sub", "esc", "fs", "gs", "rs", "us", "space",
};

static void write_char(sink *k, uint32_t c)
{
    puts_(k, "#\\");
    if (c <= 0x20)
        puts_(k, char_names[c]);
    else if (c == 0x7f)
        puts_(k, "delete");
    else if (is_combining(c)) {
        put_cp(k, 0x25cc);
        put_cp(k, c);
    } else if (!is_nongraphic(c))
        put_cp(k, c);
    else {
        char b[16];
        put(k, b, (size_t)snprintf(b, sizeof b, "%o", c));
    }
}

static void write_string(sink *k, sc_val s)
{
    static const char esc[14] = {[7] = 'a', 'b', 't', 'n', 'v', 'f', 'r'};
    const uint32_t *c = sc_string_chars(s);
    put(k, "\"", 1);
    for (size_t i = 0, n = sc_len(s); i < n; i++) {
        uint32_t ch = c[i];
        if (ch == '"' || ch == '\\') {
            char b[2] = {'\\', (char)ch};
            put(k, b, 2);
        } else if (ch == ' ' || !is_nongraphic(ch))
            put_cp(k, ch);
        else if (ch < 14 && esc[ch]) {
            char b[2] = {'\\', esc[ch]};
            put(k, b, 2);
        } else if (ch < 0x100) {
            puts_(k, "\\x");
            put_hex(k, ch, 2);
        } else if (ch < 0x10000) {
            puts_(k, "\\u");
            put_hex(k, ch, 4);
        } else {
            puts_(k, "\\U");
            put_hex(k, ch, 6);
        }
    }
    put(k, "\"", 1);
}

static void display_string(sink *k, sc_val s)
{
    const uint32_t *c = sc_string_chars(s);
    for (size_t i = 0, n = sc_len(s); i < n; i++)
        put_cp(k, c[i]);
}

/* ---- Values ---------------------------------------------------------------------------------- */

static void print_val(sink *k, sc_val v, int quoted);

static void print_list(sink *k, sc_val v, int quoted)
{
    put(k, "(", 1);
    print_val(k, sc_car(v), quoted);
    for (v = sc_cdr(v); sc_is_pair(v); v = sc_cdr(v)) {
        put(k, " ", 1);
        print_val(k, sc_car(v), quoted);
    }
    if (v != SC_NIL) {
        puts_(k, " . ");
        print_val(k, v, quoted);
    }
    put(k, ")", 1);
}

static void print_fixnum(sink *k, int64_t n)
{
    char b[32];
    put(k, b, (size_t)snprintf(b, sizeof b, "%lld", (long long)n));
}

/* Guile's default record printer: the fields are written, even by display. */
static void print_record(sink *k, sc_val r)
{
    sc_val type = SC_SLOT(r, 1);
    puts_(k, "#<");
    if (sc_is(type, SC_RECTYPE)) {
        print_val(k, SC_SLOT(type, 1), 0);
        sc_val names = SC_SLOT(type, 2);
        for (size_t i = 2; i <= sc_len(r); i++) {
            put(k, " ", 1);
            if (sc_is_pair(names)) {
                print_val(k, sc_car(names), 0);
                names = sc_cdr(names);
            }
            puts_(k, ": ");
            print_val(k, SC_SLOT(r, i), 1);
        }
    } else
        puts_(k, "record");
    put(k, ">", 1);
}

static void print_obj(sink *k, sc_val v, int quoted)
{
    switch (sc_kind(v)) {
    case SC_STRING:
        (quoted ? write_string : display_string)(k, v);
        return;
    case SC_SYMBOL:
        print_symbol(k, v);
        return;
    case SC_VECTOR:
        put(k, "#(", 2);
        for (size_t i = 1; i <= sc_len(v); i++) {
            if (i > 1)
                put(k, " ", 1);
            print_val(k, SC_SLOT(v, i), quoted);
        }
        put(k, ")", 1);
        return;
    case SC_BYTEVECTOR:
        puts_(k, "#vu8(");
        for (size_t i = 0; i < sc_len(v); i++) {
            if (i > 0)
                put(k, " ", 1);
            print_fixnum(k, sc_bytes(v)[i]);
        }
        put(k, ")", 1);
        return;
    case SC_CLOSURE: {
        /* Named by the define that made it (vm.h's code slots), as Guile does. */
        sc_val name = SC_SLOT(SC_SLOT(v, SC_CLO_CODE), SC_CODE_NAME);
        puts_(k, sc_is(name, SC_SYMBOL) ? "#<procedure " : "#<procedure");
        if (sc_is(name, SC_SYMBOL))
            print_symbol(k, name);
        put(k, ">", 1);
        return;
    }
    case SC_PRIMITIVE:
        puts_(k, "#<procedure ");
        if (sc_is(SC_SLOT(v, 1), SC_SYMBOL))
            print_symbol(k, SC_SLOT(v, 1));
        put(k, ">", 1);
        return;
    case SC_RECORD:
        print_record(k, v);
        return;
    case SC_RECTYPE:
        puts_(k, "#<record-type ");
        print_val(k, SC_SLOT(v, 1), 0);
        put(k, ">", 1);
        return;
    case SC_VALUES:
        for (size_t i = 1; i <= sc_len(v); i++) {
            if (i > 1)
                put(k, " ", 1);
            print_val(k, SC_SLOT(v, i), quoted);
        }
        return;
    default: {
        static const char *const names[SC_KINDS] = {
            [SC_CODE] = "#<code>",       [SC_FRAME] = "#<frame>", [SC_HASHTABLE] = "#<hash-table>",
            [SC_PORT] = "#<port>",       [SC_BOX] = "#<box>",     [SC_THREAD] = "#<thread>",
            [SC_MUTEX] = "#<mutex>",
        };
        int kind = sc_kind(v);
        puts_(k, kind > 0 && kind < SC_KINDS && names[kind] ? names[kind] : "#<object>");
    }
    }
}

static void print_val(sink *k, sc_val v, int quoted)
{
    if (sc_is_integer(v))
        print_fixnum(k, sc_integer_value(v));
    else if (sc_is_pair(v))
        print_list(k, v, quoted);
    else if (sc_is_char(v)) {
        if (quoted)
            write_char(k, sc_char_value(v));
        else
            put_cp(k, sc_char_value(v));
    } else if (sc_is_obj(v))
        print_obj(k, v, quoted);
    else {
        switch (v) {
        case SC_FALSE: puts_(k, "#f"); break;
        case SC_TRUE: puts_(k, "#t"); break;
        case SC_NIL: puts_(k, "()"); break;
        case SC_UNSPEC: puts_(k, "#<unspecified>"); break;
        case SC_EOF: puts_(k, "#<eof>"); break;
        case SC_DEFAULT: puts_(k, "#<default>"); break;
        case SC_UNBOUND: puts_(k, "#<unbound>"); break;
        default: puts_(k, "#<immediate>");
        }
    }
}

void sc_print(sc_val port, sc_val v, int quoted)
{
    sc_check_output_port(quoted ? "write" : "display", port);
    sink k = {.f = NULL, .port = port, .n = 0};
    sc_port_lock(port);
    print_val(&k, v, quoted);
    sink_flush(&k);
    sc_port_unlock(port);
}

void sc_fprint(FILE *f, sc_val v, int quoted)
{
    sink k = {.f = f, .port = 0, .n = 0};
    print_val(&k, v, quoted);
    sink_flush(&k);
}

/* test_io.c: the reader, the printer, the string primitives and the ports
 * of examples/scheme (read.c, print.c, string.c, port.c, over object.c),
 * without the VM: sc_defprim and sc_apply are test doubles below (a table
 * of the primitives, called directly). Expected outputs were checked
 * against GNU Guile 3.0.8's `write` and `display`.
 *
 * Build and run, from the worktree's root (make -s build/release/libtricolor.a first):
 *   cc -std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Iinclude -Iexamples/scheme \
 *      examples/scheme/test/test_io.c examples/scheme/{object,read,print,string,port}.c \
 *      build/release/libtricolor.a -lcmocka -latomic_ops -lpthread -lm -o build/test_io
 *   ./build/test_io
 * Under AddressSanitizer (make -s CONFIG=asan build/asan/libtricolor.a first): the same
 * with -fsanitize=address -fno-omit-frame-pointer and build/asan/libtricolor.a, run with
 *   ASAN_OPTIONS=detect_stack_use_after_return=0 (the collector scans stacks).
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
#include <pthread.h>

#include "vm.h"

/* ---- Test doubles for the VM's side ---------------------------------------------------------- */

#define MAX_PRIMS 256
static struct {
    const char *name;
    sc_prim_fn fn;
    int min, max;
} prims[MAX_PRIMS];
static int nprims;

/* A procedure here is an SC_PRIMITIVE of two slots: its name, and its
 * index in prims (a fixnum). */
void sc_defprim(const char *name, sc_prim_fn fn, int min, int max)
{
    assert_true(nprims < MAX_PRIMS);
    prims[nprims].name = name;
    prims[nprims].fn = fn;
    prims[nprims].min = min;
    prims[nprims].max = max;
    sc_val p = sc_alloc_slots(SC_PRIMITIVE, 2);
    SC_SET(p, 1, sc_intern(name));
    SC_SET(p, 2, sc_fixnum(nprims));
    nprims++;
    sc_define_global(sc_intern(name), p);
}

int sc_is_procedure(sc_val v)
{
    return sc_is(v, SC_PRIMITIVE);
}

sc_val sc_apply(sc_val f, int argc, const sc_val *argv)
{
    assert_true(sc_is_procedure(f));
    int i = (int)sc_fixnum_value(SC_SLOT(f, 2));
    assert_true(argc >= prims[i].min && (prims[i].max < 0 || argc <= prims[i].max));
    sc_val args[16];
    if (argc > 0) /* (argv may be NULL with no arguments: memcpy must not see it) */
        memcpy(args, argv, (size_t)argc * sizeof *argv);
    return prims[i].fn(argc, args);
}

/* Calls the primitive `name` with n arguments. */
static sc_val call(const char *name, int n, ...)
{
    sc_val args[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        args[i] = va_arg(ap, sc_val);
    va_end(ap);
    for (int i = 0; i < nprims; i++)
        if (strcmp(prims[i].name, name) == 0) {
            assert_true(n >= prims[i].min && (prims[i].max < 0 || n <= prims[i].max));
            return prims[i].fn(n, args);
        }
    fail_msg("no primitive %s", name);
    return SC_FALSE;
}

/* A procedure value for the primitive `name` (sc_apply's kind). */
static sc_val proc(const char *name)
{
    return SC_SLOT(sc_intern(name), SC_SYM_VALUE);
}

/* A procedure that raises an error (for the thunks that must unwind). */
static sc_val p_test_fail(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    sc_print(sc_current_output(), sc_intern("partial"), 0);
    sc_error(SC_DEFAULT, "test-fail: raised");
}

/* ---- Errors: sc_error_handler longjmps back to the test --------------------------------------- */

static jmp_buf error_jmp;
static char error_msg[600];

static void catch_error(const char *msg, sc_val irritant)
{
    (void)irritant;
    snprintf(error_msg, sizeof error_msg, "%s", msg);
    longjmp(error_jmp, 1);
}

/* Runs stmt, which must raise an error whose message contains `want`. */
#define EXPECT_ERROR(stmt, want)                                                               \
    do {                                                                                       \
        error_msg[0] = 0;                                                                      \
        if (setjmp(error_jmp) == 0) {                                                          \
            stmt;                                                                              \
            fail_msg("no error from %s", #stmt);                                               \
        }                                                                                      \
        if (!strstr(error_msg, want))                                                          \
            fail_msg("error \"%s\" lacks \"%s\"", error_msg, want);                             \
    } while (0)

/* ---- Helpers ------------------------------------------------------------------------------------ */

static sc_val str(const char *s)
{
    return sc_string_from_c(s);
}

/* v as write (quoted) or display prints it, in a static buffer. */
static const char *printed(sc_val v, int quoted)
{
    static char buf[8192];
    sc_val port = sc_open_output_string();
    sc_print(port, v, quoted);
    size_t n;
    char *s = sc_string_to_utf8(sc_get_output_string(port), &n);
    assert_true(n < sizeof buf);
    memcpy(buf, s, n + 1);
    free(s);
    return buf;
}

static const char *written(sc_val v)
{
    return printed(v, 1);
}

static const char *displayed(sc_val v)
{
    return printed(v, 0);
}

static sc_val read_from(const char *text, long *line)
{
    return sc_read(sc_open_input_string(str(text)), line);
}

static char *utf8_of(sc_val s)
{
    static char buf[4096];
    char *u = sc_string_to_utf8(s, NULL);
    snprintf(buf, sizeof buf, "%s", u);
    free(u);
    return buf;
}

/* ---- The reader ------------------------------------------------------------------------------ */

/* Inputs and what Guile 3.0.8 writes after reading them. */
static const struct {
    const char *in, *out;
} round_trips[] = {
    {"42", "42"},
    {"-17", "-17"},
    {"+5", "5"},
    {"#x-ff", "-255"},
    {"#b1011", "11"},
    {"#o777", "511"},
    {"#d99", "99"},
    {"#e12", "12"},
    {"4611686018427387903", "4611686018427387903"},
    {"-4611686018427387904", "-4611686018427387904"},
    {"#t", "#t"},
    {"#f", "#f"},
    {"#true", "#t"},
    {"#false", "#f"},
    {"#\\a", "#\\a"},
    {"#\\λ", "#\\λ"},
    {"#\\space", "#\\space"},
    {"#\\newline", "#\\newline"},
    {"#\\tab", "#\\tab"},
    {"#\\nul", "#\\nul"},
    {"#\\null", "#\\nul"},
    {"#\\alarm", "#\\alarm"},
    {"#\\backspace", "#\\backspace"},
    {"#\\delete", "#\\delete"},
    {"#\\escape", "#\\esc"},
    {"#\\return", "#\\return"},
    {"#\\x41", "#\\A"},
    {"#\\x3bb", "#\\λ"},
    {"#\\x0", "#\\nul"},
    {"#\\(", "#\\("},
    {"\"hello\"", "\"hello\""},
    {"\"a\\nb\\tc\\rd\\ae\"", "\"a\\nb\\tc\\rd\\ae\""},
    {"\"q\\\"uo\\\\te\"", "\"q\\\"uo\\\\te\""},
    {"\"\\x41\\x7f\"", "\"A\\x7f\""},
    {"\"line\\\ncont\"", "\"linecont\""},
    {"\"λ→☃\"", "\"λ→☃\""},
    {"abc", "abc"},
    {"FooBar", "FooBar"},
    {"hello-world!", "hello-world!"},
    {"->x", "->x"},
    {"...", "..."},
    {"+", "+"},
    {"-", "-"},
    {"a.b", "a.b"},
    {"#{a b}#", "#{a b}#"},
    {"(1 2 3)", "(1 2 3)"},
    {"(1 . 2)", "(1 . 2)"},
    {"(1 2 . 3)", "(1 2 . 3)"},
    {"(a (b (c)) ())", "(a (b (c)) ())"},
    {"[1 2]", "(1 2)"},
    {"#(1 \"two\" #\\3 four)", "#(1 \"two\" #\\3 four)"},
    {"#()", "#()"},
    {"'x", "(quote x)"},
    {"`(a ,b ,@c)", "(quasiquote (a (unquote b) (unquote-splicing c)))"},
    {"''x", "(quote (quote x))"},
    {"(quote)", "(quote)"},
    {"(1 ;comment\n 2)", "(1 2)"},
    {"(1 #| block #| nested |# |# 2)", "(1 2)"},
    {"(1 #;(hidden datum) 2)", "(1 2)"},
    {"#;1 2", "2"},
    {"()", "()"},
    {"(a . (b . (c . ())))", "(a b c)"},
    {"#(#(1) (2))", "#(#(1) (2))"},
    {"\"\\x00\\x1b\"", "\"\\x00\\x1b\""},
    {"#\\x7", "#\\alarm"},
    {"#\\xa0", "#\\240"},
    {"#\\x1f600", "#\\😀"},
    {"(a 'b)", "(a (quote b))"},
};

static void reader_round_trips_match_guile(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof round_trips / sizeof round_trips[0]; i++) {
        const char *got = written(read_from(round_trips[i].in, NULL));
        if (strcmp(got, round_trips[i].out) != 0)
            fail_msg("read of %s wrote %s, Guile writes %s", round_trips[i].in, got,
                     round_trips[i].out);
    }
}

static void reader_extensions_beyond_guile(void **state)
{
    (void)state;
    /* R7RS |...| symbols (Guile 3.0.8 reads them only with an option) and
     * #u8, written as Guile writes a bytevector. */
    sc_val v = read_from("|foo bar|", NULL);
    assert_true(sc_is(v, SC_SYMBOL));
    assert_string_equal(sc_symbol_name(v), "foo bar");
    assert_true(v == sc_intern("foo bar"));
    assert_string_equal(sc_symbol_name(read_from("|a\\x41;\\|b|", NULL)), "aA|b");
    assert_string_equal(written(read_from("||", NULL)), "#{}#");
    assert_string_equal(written(read_from("#u8(1 2 255)", NULL)), "#vu8(1 2 255)");
    assert_string_equal(written(read_from("#vu8(7)", NULL)), "#vu8(7)");
    /* Symbols are case-sensitive and interned. */
    assert_true(read_from("abc", NULL) == sc_intern("abc"));
    assert_true(read_from("ABC", NULL) != sc_intern("abc"));
    /* Datums one after another on a port; the end is SC_EOF, repeatedly. */
    sc_val port = sc_open_input_string(str("1 (2) \"three\" ; done\n"));
    assert_true(sc_read(port, NULL) == sc_fixnum(1));
    assert_string_equal(written(sc_read(port, NULL)), "(2)");
    assert_string_equal(written(sc_read(port, NULL)), "\"three\"");
    assert_true(sc_read(port, NULL) == SC_EOF);
    assert_true(sc_read(port, NULL) == SC_EOF);
    assert_true(read_from("", NULL) == SC_EOF);
    assert_true(read_from("  ; only a comment", NULL) == SC_EOF);
    assert_true(read_from("#| only |# #;(a block)", NULL) == SC_EOF);
    /* A character datum right before a delimiter. */
    assert_string_equal(written(read_from("(#\\) #\\;)", NULL)), "(#\\) #\\;)");
    assert_string_equal(written(read_from("(#\\a)", NULL)), "(#\\a)");
    /* Numbers: string->number's parser. */
    uint32_t hex[] = {'#', 'x', 'F', 'f'};
    assert_true(sc_parse_number(hex, 4, 10) == sc_fixnum(255));
    uint32_t ff[] = {'f', 'f'};
    assert_true(sc_parse_number(ff, 2, 16) == sc_fixnum(255));
    assert_true(sc_parse_number(ff, 2, 10) == SC_FALSE);
    uint32_t sign[] = {'-'};
    assert_true(sc_parse_number(sign, 1, 10) == SC_FALSE);
}

static void reader_lines(void **state)
{
    (void)state;
    long line = 0;
    sc_val port = sc_open_input_string(str("a\n\n  (b\n c)\n; x\n#| y\n |#\n  \"s\ns\" z\n#;\n1 2"));
    assert_true(sc_read(port, &line) == sc_intern("a"));
    assert_int_equal(line, 1);
    assert_string_equal(written(sc_read(port, &line)), "(b c)");
    assert_int_equal(line, 3);
    assert_string_equal(written(sc_read(port, &line)), "\"s\\ns\"");
    assert_int_equal(line, 8);
    assert_true(sc_read(port, &line) == sc_intern("z"));
    assert_int_equal(line, 9);
    assert_true(sc_read(port, &line) == sc_fixnum(2));
    assert_int_equal(line, 11);
    assert_int_equal(sc_port_line(port), 11);
}

static void reader_errors(void **state)
{
    (void)state;
    EXPECT_ERROR(read_from("(1 2", NULL), "line 1: end of file inside a list");
    EXPECT_ERROR(read_from("\n\n)", NULL), "line 3: unexpected ')'");
    EXPECT_ERROR(read_from("(1 . 2 3)", NULL), "more than one datum after '.'");
    EXPECT_ERROR(read_from("(. 2)", NULL), "unexpected '.'");
    EXPECT_ERROR(read_from(".", NULL), "unexpected '.'");
    EXPECT_ERROR(read_from("(1 ]", NULL), "']' closes a list opened with '('");
    EXPECT_ERROR(read_from("#(1 . 2)", NULL), "unexpected '.'");
    EXPECT_ERROR(read_from("\n#q", NULL), "line 2: bad # syntax: #q");
    EXPECT_ERROR(read_from("#\\bogus", NULL), "unknown character name #\\bogus");
    EXPECT_ERROR(read_from("\"abc", NULL), "end of file inside a string");
    EXPECT_ERROR(read_from("\"\\q\"", NULL), "unknown string escape \\q");
    EXPECT_ERROR(read_from("\"\\xZZ\"", NULL), "hex digits");
    EXPECT_ERROR(read_from("#| open", NULL), "end of file inside a #| comment");
    EXPECT_ERROR(read_from("'", NULL), "end of file after quote");
    EXPECT_ERROR(read_from("(')", NULL), "unexpected ')' after quote");
    EXPECT_ERROR(read_from("#;", NULL), "end of file after #;");
    /* Integers are 64 bits (boxed past the fixnums' 63): one more is an error. */
    EXPECT_ERROR(read_from("9223372036854775808", NULL), "integer too large");
    EXPECT_ERROR(read_from("-9223372036854775809", NULL), "integer too large");
    EXPECT_ERROR(read_from("#xfffffffffffffffff", NULL), "integer too large");
    EXPECT_ERROR(read_from("1.5", NULL), "unsupported number 1.5");
    EXPECT_ERROR(read_from("1/2", NULL), "unsupported number");
    EXPECT_ERROR(read_from("#i5", NULL), "bad number #i5");
    EXPECT_ERROR(read_from("#u8(1 256)", NULL), "0 to 255");
    EXPECT_ERROR(read_from("#u8 1", NULL), "'(' wanted after #u8");
    EXPECT_ERROR(read_from("|abc", NULL), "end of file inside a symbol");
    /* Guile's own symbols that start with a digit read as symbols. */
    assert_true(read_from("1+", NULL) == sc_intern("1+"));
}

/* ---- The printer --------------------------------------------------------------------------- */

static void printer_matches_guile(void **state)
{
    (void)state;
    /* Symbols: Guile writes those that would not read back as #{...}#. */
    static const char *const syms[][2] = {
        {"hello world", "#{hello world}#"}, {"", "#{}#"},        {"A", "A"},
        {"1", "#{1}#"},         {"+1", "#{+1}#"},   {"a|b", "a|b"},     {"#foo", "#{#foo}#"},
        {"a#", "#{a#}#"},       {".", "#{.}#"},     {"...", "..."},     {"λ", "λ"},
        {"a(b", "#{a\\x28;b}#"}, {"a;b", "#{a;b}#"}, {"a\"b", "#{a\"b}#"}, {"a'b", "a'b"},
        {"-", "-"},             {"+", "+"},         {"-a", "-a"},       {"1+", "#{1+}#"},
        {"a\nb", "#{a\\xa;b}#"}, {"a\\b", "a\\b"},  {"1a", "#{1a}#"},   {"+a", "+a"},
        {"-1", "#{-1}#"},       {".5", "#{.5}#"},   {".a", ".a"},       {"+.", "+."},
        {"-.5x", "-.5x"},       {"+i", "#{+i}#"},   {"-inf.0", "#{-inf.0}#"},
        {"1/2x", "#{1/2x}#"},   {"a1", "a1"},       {"a.b", "a.b"},     {"a:b", "a:b"},
        {":a", ":a"},           {"a:", "a:"},       {"a)b", "#{a\\x29;b}#"},
        {"a\tb", "#{a\\x9;b}#"}, {"a,b", "a,b"},    {"'a", "#{'a}#"},   {"`a", "#{`a}#"},
        {",a", "#{,a}#"},       {"a{b", "#{a\\x7b;b}#"}, {"|a", "|a"},  {"@a", "@a"},
        {"é", "é"},             {"a\x7f;b", "#{a\\x7f;;b}#"}, {"+5x", "+5x"},
        {"-i", "#{-i}#"},       {"+nan.0", "#{+nan.0}#"}, {"1e3", "#{1e3}#"}, {"#t", "#{#t}#"},
        {"->x", "->x"},         {"set-car!", "set-car!"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        const char *got = written(sc_intern(syms[i][0]));
        if (strcmp(got, syms[i][1]) != 0)
            fail_msg("symbol %s wrote %s, Guile writes %s", syms[i][0], got, syms[i][1]);
        assert_string_equal(displayed(sc_intern(syms[i][0])), syms[i][1]);
    }
    /* Strings and characters. */
    sc_val s = sc_make_string(18, 0);
    static const uint32_t cps[18] = {0x80, 0x9f, 0xad, 0x200b, 0xfeff, 0x1f600, 0xe9, 0,
                                     7, 8, 11, 12, 13, 0x1b, 0x7f, 0xa0, 0x3000, 0x2028};
    memcpy(sc_string_chars(s), cps, sizeof cps);
    assert_string_equal(written(s), "\"\\x80\\x9f\\xad\\u200b\\ufeff😀é\\x00\\a\\b\\v\\f\\r"
                                    "\\x1b\\x7f\\xa0\\u3000\\u2028\"");
    assert_string_equal(written(str("tab\there \"q\" \\ λ\n")), "\"tab\\there \\\"q\\\" \\\\ λ\\n\"");
    assert_string_equal(written(sc_char(0x10ffff + 0)), "#\\4177777");
    static const struct {
        uint32_t cp;
        const char *out;
    } chars[] = {
        {0x80, "#\\200"}, {0x9f, "#\\237"}, {0xad, "#\\255"}, {0x200b, "#\\20013"},
        {0xfeff, "#\\177377"}, {0x1f600, "#\\😀"}, {0xe9, "#\\é"}, {8, "#\\backspace"},
        {11, "#\\vtab"}, {12, "#\\page"}, {13, "#\\return"}, {0x7f, "#\\delete"},
        {1, "#\\soh"}, {0x1f, "#\\us"}, {' ', "#\\space"}, {0xa0, "#\\240"},
        {0x3000, "#\\30000"}, {0xe000, "#\\160000"}, {0x2028, "#\\20050"}, {0x300, "#\\◌̀"},
        {0, "#\\nul"}, {7, "#\\alarm"}, {0x1b, "#\\esc"}, {'\n', "#\\newline"},
        {'\t', "#\\tab"}, {'a', "#\\a"}, {0x3bb, "#\\λ"}, {'(', "#\\("}, {'\\', "#\\\\"},
        {14, "#\\so"}, {0x10, "#\\dle"},
    };
    for (size_t i = 0; i < sizeof chars / sizeof chars[0]; i++) {
        const char *got = written(sc_char(chars[i].cp));
        if (strcmp(got, chars[i].out) != 0)
            fail_msg("char %x wrote %s, Guile writes %s", chars[i].cp, got, chars[i].out);
    }
    /* display: characters and strings as themselves, in UTF-8. */
    sc_val l = sc_list(6, str("a\nb"), sc_char('a'), sc_char(0x3bb), sc_intern("x"), str("λ"),
                       sc_intern("a b"));
    assert_string_equal(displayed(l), "(a\nb a λ x λ #{a b}#)");
    assert_string_equal(written(l), "(\"a\\nb\" #\\a #\\λ x \"λ\" #{a b}#)");
    /* Lists: (quote x) stays unabbreviated, as Guile 3.0.8 writes it. */
    assert_string_equal(written(sc_list(2, sc_intern("quote"), sc_intern("x"))), "(quote x)");
    assert_string_equal(written(sc_cons(sc_fixnum(1), sc_fixnum(2))), "(1 . 2)");
    assert_string_equal(written(SC_NIL), "()");
}

static sc_val make_record(void)
{
    sc_val type = sc_alloc_slots(SC_RECTYPE, 3);
    SC_SET(type, 1, sc_intern("point"));
    SC_SET(type, 2, sc_list(2, sc_intern("x"), sc_intern("y")));
    SC_SET(type, 3, sc_fixnum(2));
    sc_val r = sc_alloc_slots(SC_RECORD, 3);
    SC_SET(r, 1, type);
    SC_SET(r, 2, sc_fixnum(1));
    SC_SET(r, 3, str("a"));
    return r;
}

static void printer_every_type(void **state)
{
    (void)state;
    assert_string_equal(written(sc_fixnum(0)), "0");
    assert_string_equal(written(sc_fixnum(-42)), "-42");
    assert_string_equal(written(sc_fixnum(SC_FIXNUM_MAX)), "4611686018427387903");
    assert_string_equal(written(sc_fixnum(SC_FIXNUM_MIN)), "-4611686018427387904");
    assert_string_equal(written(SC_TRUE), "#t");
    assert_string_equal(written(SC_FALSE), "#f");
    assert_string_equal(written(SC_UNSPEC), "#<unspecified>");
    assert_string_equal(written(SC_EOF), "#<eof>");
    sc_val v = sc_make_vector(3, SC_FALSE);
    SC_SET(v, 1, sc_fixnum(1));
    SC_SET(v, 2, str("s"));
    SC_SET(v, 3, sc_char('c'));
    assert_string_equal(written(v), "#(1 \"s\" #\\c)");
    assert_string_equal(displayed(v), "#(1 s c)");
    assert_string_equal(written(sc_make_vector(0, SC_FALSE)), "#()");
    sc_val bv = sc_alloc_atomic(SC_BYTEVECTOR, 2, 2);
    sc_bytes(bv)[0] = 1;
    sc_bytes(bv)[1] = 2;
    assert_string_equal(written(bv), "#vu8(1 2)");
    assert_string_equal(displayed(bv), "#vu8(1 2)");
    /* Records as Guile's default printer shows them: fields written, even
     * by display. */
    sc_val r = make_record();
    assert_string_equal(written(r), "#<point x: 1 y: \"a\">");
    assert_string_equal(displayed(r), "#<point x: 1 y: \"a\">");
    assert_string_equal(written(SC_SLOT(r, 1)), "#<record-type point>");
    sc_val empty_type = sc_alloc_slots(SC_RECTYPE, 3);
    SC_SET(empty_type, 1, sc_intern("empty"));
    SC_SET(empty_type, 2, SC_NIL);
    SC_SET(empty_type, 3, sc_fixnum(0));
    sc_val e = sc_alloc_slots(SC_RECORD, 1);
    SC_SET(e, 1, empty_type);
    assert_string_equal(written(e), "#<empty>");
    assert_string_equal(written(proc("string-length")), "#<procedure string-length>");
    /* A closure is named by its code's name (vm.h); an anonymous one is not. */
    sc_val code = sc_alloc_slots(SC_CODE, SC_CODE_SLOTS), clo = sc_alloc_slots(SC_CLOSURE, 2);
    SC_SET(clo, SC_CLO_CODE, code);
    assert_string_equal(written(clo), "#<procedure>");
    SC_SET(code, SC_CODE_NAME, sc_intern("fact"));
    assert_string_equal(written(clo), "#<procedure fact>");
    assert_string_equal(written(sc_integer(SC_FIXNUM_MAX + (int64_t)1)), "4611686018427387904");
    assert_string_equal(written(sc_integer(INT64_MIN)), "-9223372036854775808");
    assert_string_equal(written(sc_alloc_slots(SC_HASHTABLE, 2)), "#<hash-table>");
    assert_string_equal(written(sc_current_output()), "#<port>");
    sc_val vals = sc_alloc_slots(SC_VALUES, 2);
    SC_SET(vals, 1, sc_fixnum(1));
    SC_SET(vals, 2, str("a"));
    assert_string_equal(written(vals), "1 \"a\"");
    assert_string_equal(displayed(vals), "1 a");
    /* A long datum: the printer's buffer flushes in pieces. */
    sc_val big = SC_NIL;
    for (int i = 0; i < 2000; i++)
        big = sc_cons(sc_fixnum(i % 10), big);
    assert_int_equal(strlen(written(big)), 2000 * 2 + 1);
    /* sc_fprint: to a stdio stream. */
    char *mem = NULL;
    size_t memn = 0;
    FILE *f = open_memstream(&mem, &memn);
    sc_fprint(f, sc_list(2, str("x"), sc_char('y')), 1);
    sc_fprint(f, str(" λ"), 0);
    fclose(f);
    assert_string_equal(mem, "(\"x\" #\\y) λ");
    free(mem);
}

/* ---- The string primitives -------------------------------------------------------------------- */

static void character_primitives(void **state)
{
    (void)state;
    assert_true(call("char->integer", 1, sc_char(0x3bb)) == sc_fixnum(0x3bb));
    assert_true(call("integer->char", 1, sc_fixnum(97)) == sc_char('a'));
    EXPECT_ERROR(call("integer->char", 1, sc_fixnum(0xd800)), "integer->char");
    EXPECT_ERROR(call("char->integer", 1, sc_fixnum(1)), "char->integer: not a character");
    assert_true(call("char-upcase", 1, sc_char('a')) == sc_char('A'));
    assert_true(call("char-upcase", 1, sc_char(0x3bb)) == sc_char(0x39b));   /* λ Λ */
    assert_true(call("char-upcase", 1, sc_char(0xff)) == sc_char(0x178));    /* ÿ Ÿ */
    assert_true(call("char-upcase", 1, sc_char(0xb5)) == sc_char(0x39c));    /* µ Μ */
    assert_true(call("char-upcase", 1, sc_char(0xdf)) == sc_char(0xdf));     /* ß stays */
    assert_true(call("char-downcase", 1, sc_char(0x416)) == sc_char(0x436)); /* Ж ж */
    assert_true(call("char-downcase", 1, sc_char(0xc9)) == sc_char(0xe9));   /* É é */
    assert_true(call("char?", 1, sc_char('a')) == SC_TRUE);
    assert_true(call("char?", 1, str("a")) == SC_FALSE);
    assert_true(call("char=?", 3, sc_char('a'), sc_char('a'), sc_char('a')) == SC_TRUE);
    assert_true(call("char<?", 3, sc_char('a'), sc_char('b'), sc_char('c')) == SC_TRUE);
    assert_true(call("char<?", 3, sc_char('a'), sc_char('c'), sc_char('b')) == SC_FALSE);
    assert_true(call("char>?", 2, sc_char('b'), sc_char('a')) == SC_TRUE);
    assert_true(call("char<=?", 2, sc_char('a'), sc_char('a')) == SC_TRUE);
    assert_true(call("char>=?", 2, sc_char('a'), sc_char('b')) == SC_FALSE);
    assert_true(call("char-ci=?", 2, sc_char('a'), sc_char('A')) == SC_TRUE);
    EXPECT_ERROR(call("char<?", 2, sc_char('a'), sc_fixnum(1)), "char<?: not a character");
    assert_true(call("char-alphabetic?", 1, sc_char(0x3bb)) == SC_TRUE);
    assert_true(call("char-alphabetic?", 1, sc_char('1')) == SC_FALSE);
    assert_true(call("char-numeric?", 1, sc_char(0x663)) == SC_TRUE);
    assert_true(call("char-numeric?", 1, sc_char('x')) == SC_FALSE);
    assert_true(call("char-whitespace?", 1, sc_char(0xa0)) == SC_TRUE);
    assert_true(call("char-whitespace?", 1, sc_char('\n')) == SC_TRUE);
    assert_true(call("char-whitespace?", 1, sc_char('a')) == SC_FALSE);
    assert_true(call("char-upper-case?", 1, sc_char(0x39b)) == SC_TRUE);
    assert_true(call("char-upper-case?", 1, sc_char('a')) == SC_FALSE);
    assert_true(call("char-lower-case?", 1, sc_char(0x3bb)) == SC_TRUE);
    assert_true(call("digit-value", 1, sc_char(0x663)) == sc_fixnum(3));
    assert_true(call("digit-value", 1, sc_char('7')) == sc_fixnum(7));
    assert_true(call("digit-value", 1, sc_char('a')) == SC_FALSE);
}

static void string_primitives(void **state)
{
    (void)state;
    sc_val lx = str("λx");
    assert_true(call("string-length", 1, lx) == sc_fixnum(2));
    assert_true(call("string-ref", 2, lx, sc_fixnum(0)) == sc_char(0x3bb));
    EXPECT_ERROR(call("string-ref", 2, lx, sc_fixnum(2)), "string-ref: index out of range");
    EXPECT_ERROR(call("string-length", 1, sc_fixnum(2)), "string-length: not a string");
    assert_true(call("string?", 1, lx) == SC_TRUE);
    assert_true(call("string?", 1, sc_intern("x")) == SC_FALSE);
    assert_string_equal(utf8_of(call("substring", 3, str("hello"), sc_fixnum(1), sc_fixnum(3))),
                        "el");
    assert_string_equal(utf8_of(call("substring", 2, str("hello"), sc_fixnum(1))), "ello");
    EXPECT_ERROR(call("substring", 3, str("hello"), sc_fixnum(3), sc_fixnum(2)), "substring");
    assert_string_equal(utf8_of(call("string-append", 3, str("a"), lx, str(""))), "aλx");
    assert_string_equal(utf8_of(call("string-append", 0)), "");
    assert_true(call("string=?", 3, str("ab"), str("ab"), str("ab")) == SC_TRUE);
    assert_true(call("string=?", 2, str("ab"), str("abc")) == SC_FALSE);
    assert_true(call("string<?", 2, str("ab"), str("abc")) == SC_TRUE);
    assert_true(call("string<?", 2, str("b"), str("abc")) == SC_FALSE);
    assert_true(call("string>?", 2, str("b"), str("abc")) == SC_TRUE);
    assert_true(call("string<=?", 2, str("ab"), str("ab")) == SC_TRUE);
    assert_true(call("string>=?", 2, str("a"), str("ab")) == SC_FALSE);
    assert_true(call("string-ci=?", 2, str("HeLLo λ"), str("hello Λ")) == SC_TRUE);
    assert_string_equal(written(call("string->list", 1, lx)), "(#\\λ #\\x)");
    assert_string_equal(written(call("string->list", 2, str("abc"), sc_fixnum(1))), "(#\\b #\\c)");
    sc_val chars = sc_list(2, sc_char(0x3bb), sc_char('y'));
    assert_string_equal(utf8_of(call("list->string", 1, chars)), "λy");
    EXPECT_ERROR(call("list->string", 1, sc_list(1, sc_fixnum(1))), "list->string");
    assert_string_equal(utf8_of(call("string", 2, sc_char('a'), sc_char(0x3bb))), "aλ");
    assert_string_equal(utf8_of(call("make-string", 2, sc_fixnum(3), sc_char('z'))), "zzz");
    assert_string_equal(written(call("make-string", 1, sc_fixnum(2))), "\"\\x00\\x00\"");
    sc_val copy = call("string-copy", 1, lx);
    assert_true(copy != lx);
    call("string-set!", 3, copy, sc_fixnum(1), sc_char('y'));
    assert_string_equal(utf8_of(copy), "λy");
    assert_string_equal(utf8_of(lx), "λx");
    assert_string_equal(utf8_of(call("string-copy", 3, str("hello"), sc_fixnum(1), sc_fixnum(4))),
                        "ell");
    sc_val f = str("abcd");
    call("string-fill!", 2, f, sc_char('x'));
    assert_string_equal(utf8_of(f), "xxxx");
    call("string-fill!", 4, f, sc_char('y'), sc_fixnum(1), sc_fixnum(3));
    assert_string_equal(utf8_of(f), "xyyx");
    assert_string_equal(utf8_of(call("string-upcase", 1, str("straße λ é"))), "STRAßE Λ É");
    assert_string_equal(utf8_of(call("string-downcase", 1, str("ΑΣ ЖИЗНЬ ÀB"))), "ασ жизнь àb");
    assert_string_equal(written(call("string->vector", 1, str("ab"))), "#(#\\a #\\b)");
    sc_val vec = call("string->vector", 1, lx);
    assert_string_equal(utf8_of(call("vector->string", 1, vec)), "λx");
    EXPECT_ERROR(call("vector->string", 1, sc_make_vector(1, sc_fixnum(1))), "vector->string");
    /* string-map and string-for-each through sc_apply. */
    assert_string_equal(utf8_of(call("string-map", 2, proc("char-upcase"), str("abλ"))), "ABΛ");
    assert_true(call("string-for-each", 2, proc("char-upcase"), str("ab")) == SC_UNSPEC);
}

static void conversion_primitives(void **state)
{
    (void)state;
    sc_val s = call("symbol->string", 1, sc_intern("hello"));
    assert_string_equal(utf8_of(s), "hello");
    assert_true(call("string->symbol", 1, str("hello")) == sc_intern("hello"));
    assert_true(call("string->symbol", 1, str("λ y")) == sc_intern("λ y"));
    assert_true(call("symbol?", 1, sc_intern("a")) == SC_TRUE);
    assert_true(call("symbol?", 1, str("a")) == SC_FALSE);
    assert_string_equal(utf8_of(call("number->string", 1, sc_fixnum(-42))), "-42");
    assert_string_equal(utf8_of(call("number->string", 2, sc_fixnum(255), sc_fixnum(16))), "ff");
    assert_string_equal(utf8_of(call("number->string", 2, sc_fixnum(-255), sc_fixnum(2))),
                        "-11111111");
    assert_string_equal(utf8_of(call("number->string", 1, sc_fixnum(SC_FIXNUM_MIN))),
                        "-4611686018427387904");
    assert_true(call("string->number", 1, str("123")) == sc_fixnum(123));
    assert_true(call("string->number", 1, str("#x-ff")) == sc_fixnum(-255));
    assert_true(call("string->number", 2, str("ff"), sc_fixnum(16)) == sc_fixnum(255));
    assert_true(call("string->number", 1, str("#b101")) == sc_fixnum(5));
    assert_true(call("string->number", 1, str("abc")) == SC_FALSE);
    assert_true(call("string->number", 1, str("")) == SC_FALSE);
    assert_true(call("string->number", 1, str("12a")) == SC_FALSE);
    EXPECT_ERROR(call("string->number", 1, str("99999999999999999999")), "integer too large");
    EXPECT_ERROR(call("number->string", 2, sc_fixnum(1), sc_fixnum(1)), "bad radix");
    sc_val bv = call("string->utf8", 1, str("λx"));
    assert_string_equal(written(bv), "#vu8(206 187 120)");
    assert_string_equal(written(call("string->utf8", 2, str("λx"), sc_fixnum(1))), "#vu8(120)");
    assert_string_equal(utf8_of(call("utf8->string", 1, bv)), "λx");
    assert_string_equal(utf8_of(call("utf8->string", 3, bv, sc_fixnum(0), sc_fixnum(2))), "λ");
}

/* ---- Ports --------------------------------------------------------------------------------- */

static void string_ports(void **state)
{
    (void)state;
    sc_val in = call("open-input-string", 1, str("aλ\nline two\nlast"));
    assert_true(call("input-port?", 1, in) == SC_TRUE);
    assert_true(call("output-port?", 1, in) == SC_FALSE);
    assert_true(call("port?", 1, in) == SC_TRUE);
    assert_true(call("port?", 1, str("x")) == SC_FALSE);
    assert_true(call("peek-char", 1, in) == sc_char('a'));
    assert_true(call("read-char", 1, in) == sc_char('a'));
    assert_true(call("read-char", 1, in) == sc_char(0x3bb));
    assert_true(call("char-ready?", 1, in) == SC_TRUE);
    assert_string_equal(utf8_of(call("read-line", 1, in)), "");
    assert_string_equal(utf8_of(call("read-line", 1, in)), "line two");
    assert_int_equal(sc_port_line(in), 3);
    assert_string_equal(utf8_of(call("read-line", 1, in)), "last");
    assert_true(call("read-line", 1, in) == SC_EOF);
    assert_true(call("read-char", 1, in) == SC_EOF);
    assert_true(call("peek-char", 1, in) == SC_EOF);
    assert_true(call("eof-object?", 1, call("eof-object", 0)) == SC_TRUE);
    assert_true(call("eof-object?", 1, SC_FALSE) == SC_FALSE);
    sc_val rin = call("open-input-string", 1, str("(a . b) 7"));
    assert_string_equal(written(call("read", 1, rin)), "(a . b)");
    assert_true(call("read", 1, rin) == sc_fixnum(7));
    assert_true(call("read", 1, rin) == SC_EOF);

    sc_val out = call("open-output-string", 0);
    assert_true(call("output-port?", 1, out) == SC_TRUE);
    call("write", 2, str("q"), out);
    call("display", 2, str(" λ "), out);
    call("write-char", 2, sc_char(0x2603), out);
    call("newline", 1, out);
    call("write-string", 2, str("abc"), out);
    call("write-string", 4, str("0123456"), out, sc_fixnum(2), sc_fixnum(4));
    assert_string_equal(utf8_of(call("get-output-string", 1, out)), "\"q\" λ ☃\nabc23");
    /* The buffer grows past its first capacity; get-output-string copies. */
    sc_val first = call("get-output-string", 1, out);
    for (int i = 0; i < 1000; i++)
        call("display", 2, sc_fixnum(i % 10), out);
    assert_int_equal(sc_len(call("get-output-string", 1, out)), 13 + 1000);
    assert_int_equal(sc_len(first), 13);
    EXPECT_ERROR(call("get-output-string", 1, in), "not a string output port");
    EXPECT_ERROR(call("write", 2, str("q"), in), "write: not an output port");
    EXPECT_ERROR(call("read-char", 1, out), "read-char: not an input port");
    call("close-port", 1, out);
    EXPECT_ERROR(call("display", 2, str("q"), out), "port is closed");
    call("close-input-port", 1, in);
    EXPECT_ERROR(call("read-char", 1, in), "port is closed");
    EXPECT_ERROR(call("close-output-port", 1, rin), "wrong kind of port");

    /* call-with-output-string and with-output-to-string through sc_apply. */
    assert_string_equal(utf8_of(call("call-with-output-string", 1, proc("newline"))), "\n");
    sc_val before = sc_current_output();
    assert_string_equal(utf8_of(call("with-output-to-string", 1, proc("newline"))), "\n");
    assert_true(sc_current_output() == before);
    assert_true(call("current-output-port", 0) == before);
    assert_true(call("output-port?", 1, call("current-error-port", 0)) == SC_TRUE);
    assert_true(call("input-port?", 1, call("current-input-port", 0)) == SC_TRUE);
    /* An error in the thunk leaves the string port current until the VM's
     * top level resets it. */
    EXPECT_ERROR(call("with-output-to-string", 1, proc("test-fail")), "test-fail: raised");
    assert_true(sc_current_output() != before);
    sc_ports_reset_current();
    assert_true(sc_current_output() == before);
}

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static char *file_contents(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void file_ports(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s", tmp_path("out.txt"));
    sc_val out = call("open-output-file", 1, str(path));
    call("write", 2, sc_list(2, str("λ"), sc_fixnum(1)), out);
    call("newline", 1, out);
    call("flush-output-port", 1, out);
    assert_string_equal(file_contents(path), "(\"λ\" 1)\n");
    call("display", 2, str("more"), out);
    call("close-output-port", 1, out);
    assert_string_equal(file_contents(path), "(\"λ\" 1)\nmore");

    /* Reading it back, with the datums' lines; a long line crosses the
     * input buffer's end inside a UTF-8 sequence. */
    FILE *f = fopen(path, "w");
    fprintf(f, "(a\n b)\n\n");
    for (int i = 0; i < 3000; i++)
        fputs("λ", f);
    fputs("\n  \"x\"", f);
    fclose(f);
    sc_val in = sc_open_input_file(path);
    long line;
    assert_string_equal(written(sc_read(in, &line)), "(a b)");
    assert_int_equal(line, 1);
    assert_string_equal(utf8_of(call("read-line", 1, in)), "");
    assert_string_equal(utf8_of(call("read-line", 1, in)), "");
    sc_val l = call("read-line", 1, in);
    assert_int_equal(sc_len(l), 3000);
    for (size_t i = 0; i < 3000; i++)
        assert_int_equal(sc_string_chars(l)[i], 0x3bb);
    assert_string_equal(written(sc_read(in, &line)), "\"x\"");
    assert_int_equal(line, 5);
    assert_true(sc_read(in, &line) == SC_EOF);
    call("close-port", 1, in);
    EXPECT_ERROR(call("open-input-file", 1, str(tmp_path("missing"))), "open-input-file");
    EXPECT_ERROR(call("open-output-file", 1, str("/nonexistent-dir/x")), "open-output-file");
}

/* Opens a file port, writes to it and drops it, on a frame of its own so
 * that no word of the caller's keeps it. */
static __attribute__((noinline)) void write_and_drop(const char *path)
{
    sc_val out = sc_open_output_file(path);
    sc_print(out, str("dropped, not closed"), 0);
}

static __attribute__((noinline)) void clear_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof junk);
}

static void dropped_file_port_closed_by_finalizer(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s", tmp_path("dropped.txt"));
    int was = tc_finalizer_thread_disable();
    uint64_t reg0, q0, run0, reg, q, run;
    tc_finalizer_counts(&reg0, &q0, &run0);
    write_and_drop(path);
    clear_stack();
    assert_string_equal(file_contents(path), ""); /* still in the FILE's buffer */
    int ran = 0;
    for (int i = 0; i < 10 && !ran; i++) {
        clear_stack();
        tc_collect();
        ran = tc_finalizers_run_pending();
    }
    tc_finalizer_counts(&reg, &q, &run);
    assert_true(ran >= 1);
    assert_true(run > run0);
    assert_string_equal(file_contents(path), "dropped, not closed");
    if (was)
        tc_finalizer_thread_enable();
}

/* Strings and ports survive collections while they are built. */
static void survives_collections(void **state)
{
    (void)state;
    sc_val out = sc_open_output_string();
    for (int i = 0; i < 200; i++) {
        sc_val l = read_from("(\"λ\" #(1 2) sym |a b| #\\x)", NULL);
        if (i % 50 == 0)
            tc_collect();
        sc_print(out, l, 1);
    }
    tc_collect();
    sc_val s = sc_get_output_string(out);
    const char *one = "(\"λ\" #(1 2) sym #{a b}# #\\x)";
    size_t n;
    char *u = sc_string_to_utf8(s, &n);
    assert_int_equal(n, 200 * strlen(one));
    assert_memory_equal(u + 199 * strlen(one), one, strlen(one));
    free(u);
}

/* Threads writing to one port: each datum comes out whole. */
static void *writer_main(void *arg)
{
    sc_val port = *(sc_val *)arg;
    tc_thread_attach();
    for (int i = 0; i < 300; i++) {
        sc_val l = SC_NIL;
        for (int k = 0; k < 40; k++)
            l = sc_cons(sc_intern("abc"), l);
        sc_print(port, l, 1);
    }
    tc_thread_detach();
    return NULL;
}

static void threads_do_not_interleave_datums(void **state)
{
    (void)state;
    static sc_val shared; /* a root range below keeps it */
    assert_int_equal(tc_root_add(&shared, sizeof shared), 0);
    shared = sc_open_output_string();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &shared), 0);
    tc_blocking_begin();
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    tc_blocking_end();
    size_t n;
    char *u = sc_string_to_utf8(sc_get_output_string(shared), &n);
    char one[4 * 40 + 2] = "(abc";
    for (int k = 1; k < 40; k++)
        strcat(one, " abc");
    strcat(one, ")");
    size_t len = strlen(one);
    assert_int_equal(n, 4 * 300 * len);
    for (size_t i = 0; i < n; i += len)
        assert_memory_equal(u + i, one, len);
    free(u);
    tc_root_remove(&shared);
}

int main(void)
{
    if (tc_init() != 0)
        return 1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_io.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    sc_object_init();
    sc_symbols_init();
    sc_init_strings();
    sc_init_ports();
    sc_error_handler = catch_error;
    sc_defprim("test-fail", p_test_fail, 0, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_round_trips_match_guile),
        cmocka_unit_test(reader_extensions_beyond_guile),
        cmocka_unit_test(reader_lines),
        cmocka_unit_test(reader_errors),
        cmocka_unit_test(printer_matches_guile),
        cmocka_unit_test(printer_every_type),
        cmocka_unit_test(character_primitives),
        cmocka_unit_test(string_primitives),
        cmocka_unit_test(conversion_primitives),
        cmocka_unit_test(string_ports),
        cmocka_unit_test(file_ports),
        cmocka_unit_test(dropped_file_port_closed_by_finalizer),
        cmocka_unit_test(survives_collections),
        cmocka_unit_test(threads_do_not_interleave_datums),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}

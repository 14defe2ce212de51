/* read.c: the datum reader (R7RS syntax, with Guile's readings where the
 * two differ, since the tests' expected outputs come from Guile: a string's
 * \x takes exactly two hex digits and a line continuation keeps the next
 * line's leading blanks), reading characters through the port API, and
 * the integer parser string->number shares.
 *
 * Recursive descent: read_item reads one item, which is a datum or one of
 * the tokens only a list may take (a close parenthesis, a dot). Tokens
 * collect in a buffer on the stack that moves to a heap string when it
 * outgrows it, so an error (sc_error unwinds with longjmp) leaks nothing.
 */
#include <stdarg.h>
#include <string.h>

#include "scheme.h"

enum { ITEM_DATUM, ITEM_CLOSE, ITEM_DOT, ITEM_EOF };

/* ---- Characters and errors ------------------------------------------------------------------- */

static int32_t next(sc_val port)
{
    sc_val c = sc_port_read_char(port);
    return c == SC_EOF ? -1 : (int32_t)sc_char_value(c);
}

static int32_t peek(sc_val port)
{
    sc_val c = sc_port_peek_char(port);
    return c == SC_EOF ? -1 : (int32_t)sc_char_value(c);
}

static int is_space(int32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
           c == 0xa0 || c == 0x3000 || c == 0x2028 || c == 0x2029 || c == 0xfeff;
}

static int is_delimiter(int32_t c)
{
    return c < 0 || is_space(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"' ||
           c == ';';
}

static _Noreturn __attribute__((format(printf, 2, 3))) void rd_error(long line, const char *fmt,
                                                                       ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sc_error(SC_DEFAULT, "read: line %ld: %s", line, msg);
}

/* ---- Token buffers ------------------------------------------------------------------------------ */

typedef struct tok {
    uint32_t *c;  /* small, or the text of heap string `heap` */
    size_t n, cap;
    sc_val heap;  /* on the stack with the struct: keeps the string alive */
    uint32_t small[128];
} tok;

static void tok_init(tok *t)
{
    t->c = t->small;
    t->n = 0;
    t->cap = sizeof t->small / sizeof t->small[0];
    t->heap = 0;
}

static void tok_push(tok *t, uint32_t cp)
{
    if (t->n == t->cap) {
        sc_val s = sc_make_string(t->cap * 2, 0);
        memcpy(sc_string_chars(s), t->c, t->n * sizeof(uint32_t));
        t->heap = s;
        t->c = sc_string_chars(s);
        t->cap *= 2;
    }
    t->c[t->n++] = cp;
}

static sc_val tok_string(const tok *t)
{
    sc_val s = sc_make_string(t->n, 0);
    memcpy(sc_string_chars(s), t->c, t->n * sizeof(uint32_t));
    return s;
}

static int tok_is(const tok *t, const char *s)
{
    size_t n = strlen(s);
    if (n != t->n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (t->c[i] != (unsigned char)s[i])
            return 0;
    return 1;
}

/* The token as UTF-8 for a message, cut to fit buf. */
static const char *tok_text(const tok *t, char *buf, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n && k + 5 < size; i++)
        k += (size_t)sc_utf8_encode(t->c[i], buf + k);
    buf[k] = 0;
    return buf;
}

/* Reads on up to a delimiter, appending to t. */
static void read_token(sc_val port, tok *t)
{
    while (!is_delimiter(peek(port)))
        tok_push(t, (uint32_t)next(port));
}

/* ---- Numbers ------------------------------------------------------------------------------------- */

static int digit_of(uint32_t c, int radix)
{
    int d = c >= '0' && c <= '9' ? (int)(c - '0')
            : c >= 'a' && c <= 'z' ? (int)(c - 'a' + 10)
            : c >= 'A' && c <= 'Z' ? (int)(c - 'A' + 10) : 99;
    return d < radix ? d : -1;
}

sc_val sc_parse_number(const uint32_t *c, size_t n, int radix)
{
    size_t i = 0;
    int seen_radix = 0, seen_exact = 0;
    while (i + 1 < n && c[i] == '#') {
        uint32_t p = c[i + 1] | 0x20;
        int r = p == 'x' ? 16 : p == 'b' ? 2 : p == 'o' ? 8 : p == 'd' ? 10 : 0;
        if (r && !seen_radix) {
            radix = r;
            seen_radix = 1;
        } else if (p == 'e' && !seen_exact)
            seen_exact = 1;
        else
            return SC_FALSE; /* #i (no inexact numbers), repeats, anything else */
        i += 2;
    }
    int neg = 0;
    if (i < n && (c[i] == '+' || c[i] == '-'))
        neg = c[i++] == '-';
    if (i == n)
        return SC_FALSE;
    for (size_t j = i; j < n; j++)
        if (digit_of(c[j], radix) < 0)
            return SC_FALSE;
    /* A number: now whether it fits. The magnitude limit of a negative
     * one is one more than a positive one's. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, m = 0;
    for (; i < n; i++) {
        uint64_t d = (uint64_t)digit_of(c[i], radix);
        if (m > (limit - d) / (uint64_t)radix) {
            tok t = {.c = (uint32_t *)c, .n = n};
            char buf[128];
            sc_error(SC_DEFAULT, "integer too large (beyond 64 bits): %s",
                     tok_text(&t, buf, sizeof buf));
        }
        m = m * (uint64_t)radix + d;
    }
    return sc_integer(neg ? (int64_t)(0 - m) : (int64_t)m);
}

/* ---- Items --------------------------------------------------------------------------------------- */

static sc_val read_item(sc_val port, int *kind, long *line, int32_t *close);

/* The datum that must follow `what` begun on line `line`. */
static sc_val read_required(sc_val port, const char *what, long line)
{
    int kind;
    long l;
    int32_t close;
    sc_val v = read_item(port, &kind, &l, &close);
    if (kind == ITEM_EOF)
        rd_error(line, "end of file after %s", what);
    if (kind == ITEM_CLOSE)
        rd_error(l, "unexpected '%c' after %s", (char)close, what);
    if (kind == ITEM_DOT)
        rd_error(l, "unexpected '.' after %s", what);
    return v;
}

/* The items up to `close` (')' or ']'), a dotted tail if `dot_ok`. */
static sc_val read_list(sc_val port, int32_t close, long line, int dot_ok)
{
    sc_val head = SC_NIL, tail = SC_NIL;
    for (;;) {
        int kind;
        long l;
        int32_t got;
        sc_val v = read_item(port, &kind, &l, &got);
        switch (kind) {
        case ITEM_EOF:
            rd_error(line, "end of file inside a list (missing '%c')", (char)close);
        case ITEM_CLOSE:
            if (got != close)
                rd_error(l, "'%c' closes a list opened with '%c' on line %ld", (char)got,
                         close == ')' ? '(' : '[', line);
            return head;
        case ITEM_DOT:
            if (!dot_ok || head == SC_NIL)
                rd_error(l, "unexpected '.'");
            v = read_required(port, "'.'", l);
            SC_SET_CDR(tail, v);
            read_item(port, &kind, &l, &got);
            if (kind != ITEM_CLOSE || got != close)
                rd_error(l, "more than one datum after '.' (or a missing '%c')", (char)close);
            return head;
        default: {
            sc_val cell = sc_cons(v, SC_NIL);
            if (head == SC_NIL)
                head = cell;
            else
                SC_SET_CDR(tail, cell);
            tail = cell;
        }
        }
    }
}

static sc_val list_to_vector(sc_val l)
{
    size_t n = sc_list_length(l);
    sc_val v = sc_make_vector(n, SC_FALSE);
    for (size_t i = 1; i <= n; i++, l = sc_cdr(l))
        SC_SET(v, i, sc_car(l));
    return v;
}

static sc_val list_to_bytevector(sc_val l, long line)
{
    size_t n = sc_list_length(l);
    sc_val b = sc_alloc_atomic(SC_BYTEVECTOR, n, n);
    for (size_t i = 0; i < n; i++, l = sc_cdr(l)) {
        sc_val x = sc_car(l);
        if (!sc_is_fixnum(x) || sc_fixnum_value(x) < 0 || sc_fixnum_value(x) > 255)
            rd_error(line, "a bytevector holds integers from 0 to 255");
        sc_bytes(b)[i] = (uint8_t)sc_fixnum_value(x);
    }
    return b;
}

static uint32_t hex_digits(sc_val port, int count, long line)
{
    uint32_t v = 0;
    for (int i = 0; i < count; i++) {
        int32_t c = next(port);
        int d = c < 0 ? -1 : digit_of((uint32_t)c, 16);
        if (d < 0)
            rd_error(line, "a \\x, \\u or \\U escape wants %d hex digits", count);
        v = v * 16 + (uint32_t)d;
    }
    return v;
}

/* A string's text after its opening quote. */
static sc_val read_string(sc_val port, long line)
{
    tok t;
    tok_init(&t);
    for (;;) {
        int32_t c = next(port);
        if (c < 0)
            rd_error(line, "end of file inside a string");
        if (c == '"')
            return tok_string(&t);
        if (c != '\\') {
            tok_push(&t, (uint32_t)c);
            continue;
        }
        c = next(port);
        switch (c) {
        case 'n': tok_push(&t, '\n'); break;
        case 't': tok_push(&t, '\t'); break;
        case 'r': tok_push(&t, '\r'); break;
        case 'a': tok_push(&t, 7); break;
        case 'b': tok_push(&t, 8); break;
        case 'v': tok_push(&t, 11); break;
        case 'f': tok_push(&t, 12); break;
        case '0': tok_push(&t, 0); break;
        case '\\': case '"': tok_push(&t, (uint32_t)c); break;
        case 'x': tok_push(&t, hex_digits(port, 2, line)); break;
        case 'u': tok_push(&t, hex_digits(port, 4, line)); break;
        case 'U': tok_push(&t, hex_digits(port, 6, line)); break;
        case '\n': break; /* a line continuation (Guile keeps the next line's blanks) */
        default:
            if (c < 0)
                rd_error(line, "end of file inside a string");
            {
                char b[5] = {0};
                sc_utf8_encode((uint32_t)c, b);
                rd_error(sc_port_line(port), "unknown string escape \\%s", b);
            }
        }
    }
}

/* R7RS \x<hex>; inside |...| and Guile's #{...}#. */
static uint32_t hex_to_semicolon(sc_val port, long line)
{
    uint32_t v = 0;
    int n = 0;
    int32_t c;
    while ((c = next(port)) != ';') {
        int d = c < 0 ? -1 : digit_of((uint32_t)c, 16);
        if (d < 0 || ++n > 6)
            rd_error(line, "bad \\x<hex>; escape in a symbol");
        v = v * 16 + (uint32_t)d;
    }
    if (n == 0 || v > 0x10ffff)
        rd_error(line, "bad \\x<hex>; escape in a symbol");
    return v;
}

/* |...| (after the bar) or #{...}# (after the brace): a symbol of any text. */
static sc_val read_quoted_symbol(sc_val port, long line, int braces)
{
    tok t;
    tok_init(&t);
    for (;;) {
        int32_t c = next(port);
        if (c < 0)
            rd_error(line, "end of file inside a symbol");
        if (!braces && c == '|')
            break;
        if (braces && c == '}' && peek(port) == '#') {
            next(port);
            break;
        }
        if (c == '\\') {
            c = next(port);
            if (c == 'x')
                c = (int32_t)hex_to_semicolon(port, line);
            else if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c < 0)
                rd_error(line, "end of file inside a symbol");
        }
        tok_push(&t, (uint32_t)c);
    }
    return sc_intern_string(tok_string(&t));
}

/* Names of characters: R7RS's, and Guile's (it writes the C0 controls by name). */
static const struct {
    const char *name;
    uint32_t cp;
} char_names[] = {
    {"space", ' '},    {"newline", '\n'}, {"tab", '\t'},      {"nul", 0},      {"null", 0},
    {"alarm", 7},      {"backspace", 8},  {"delete", 0x7f},   {"escape", 0x1b}, {"esc", 0x1b},
    {"return", '\r'},  {"linefeed", '\n'}, {"vtab", 11},      {"page", 12},     {"rubout", 0x7f},
    {"soh", 1},  {"stx", 2},  {"etx", 3},  {"eot", 4},  {"enq", 5},  {"ack", 6},  {"so", 14},
    {"si", 15},  {"dle", 16}, {"dc1", 17}, {"dc2", 18}, {"dc3", 19}, {"dc4", 20}, {"nak", 21},
    {"syn", 22}, {"etb", 23}, {"can", 24}, {"em", 25},  {"sub", 26}, {"fs", 28},  {"gs", 29},
    {"rs", 30},  {"us", 31},
};

/* A character after #\ . */
static sc_val read_char(sc_val port, long line)
{
    int32_t c = next(port);
    if (c < 0)
        rd_error(line, "end of file after #\\");
    tok t;
    tok_init(&t);
    tok_push(&t, (uint32_t)c);
    read_token(port, &t);
    if (t.n == 1)
        return sc_char((uint32_t)c);
    for (size_t i = 0; i < sizeof char_names / sizeof char_names[0]; i++)
        if (tok_is(&t, char_names[i].name))
            return sc_char(char_names[i].cp);
    int radix = t.c[0] == 'x' ? 16 : t.c[0] >= '0' && t.c[0] <= '7' ? 8 : 0;
    size_t from = radix == 16 ? 1 : 0;
    uint32_t v = 0;
    int ok = radix != 0;
    for (size_t i = from; ok && i < t.n; i++) {
        int d = digit_of(t.c[i], radix);
        ok = d >= 0 && v <= 0x10ffff;
        v = v * (uint32_t)radix + (uint32_t)d;
    }
    if (ok && v <= 0x10ffff && !(v >= 0xd800 && v <= 0xdfff))
        return sc_char(v);
    char buf[64];
    rd_error(line, "unknown character name #\\%s", tok_text(&t, buf, sizeof buf));
}

/* Skips a #| ... |# comment (after its #|), nesting. */
static void skip_block_comment(sc_val port, long line)
{
    int depth = 1;
    while (depth > 0) {
        int32_t c = next(port);
        if (c < 0)
            rd_error(line, "end of file inside a #| comment");
        if (c == '|' && peek(port) == '#') {
            next(port);
            depth--;
        } else if (c == '#' && peek(port) == '|') {
            next(port);
            depth++;
        }
    }
}

/* What follows a '#'; *skip set for a comment (nothing read). */
static sc_val read_hash(sc_val port, long line, int *skip)
{
    int32_t c = peek(port);
    *skip = 0;
    switch (c) {
    case '(':
        next(port);
        return list_to_vector(read_list(port, ')', line, 0));
    case '|':
        next(port);
        skip_block_comment(port, line);
        *skip = 1;
        return SC_UNSPEC;
    case ';':
        next(port);
        (void)read_required(port, "#;", line);
        *skip = 1;
        return SC_UNSPEC;
    case '\\':
        next(port);
        return read_char(port, line);
    case '{':
        next(port);
        return read_quoted_symbol(port, line, 1);
    }
    tok t;
    tok_init(&t);
    tok_push(&t, '#');
    read_token(port, &t);
    if (tok_is(&t, "#t") || tok_is(&t, "#true"))
        return SC_TRUE;
    if (tok_is(&t, "#f") || tok_is(&t, "#false"))
        return SC_FALSE;
    if (tok_is(&t, "#u8") || tok_is(&t, "#vu8")) {
        if (next(port) != '(')
            rd_error(line, "'(' wanted after #u8");
        return list_to_bytevector(read_list(port, ')', line, 0), line);
    }
    char buf[64];
    if (t.n > 1 && strchr("xXbBoOdDeEiI", (int)t.c[1])) {
        sc_val v = sc_parse_number(t.c, t.n, 10);
        if (v == SC_FALSE)
            rd_error(line, "bad number %s (only exact integers are supported)",
                     tok_text(&t, buf, sizeof buf));
        return v;
    }
    rd_error(line, "bad # syntax: %s", tok_text(&t, buf, sizeof buf));
}

/* A symbol or a number starting with c, already read. */
static sc_val read_atom(sc_val port, int32_t c, long line, int *kind)
{
    tok t;
    tok_init(&t);
    tok_push(&t, (uint32_t)c);
    read_token(port, &t);
    if (tok_is(&t, ".")) {
        *kind = ITEM_DOT;
        return SC_UNSPEC;
    }
    sc_val v = sc_parse_number(t.c, t.n, 10);
    if (v != SC_FALSE)
        return v;
    if (sc_looks_numeric(t.c, t.n)) {
        char buf[64];
        rd_error(line, "unsupported number %s (only exact integers are supported)",
                 tok_text(&t, buf, sizeof buf));
    }
    return sc_intern_string(tok_string(&t));
}

static sc_val abbreviation(sc_val port, const char *name, long line)
{
    sc_val x = read_required(port, name, line);
    return sc_list(2, sc_intern(name), x);
}

/* One item: *kind says which; *line the line it starts on; *close the
 * character of an ITEM_CLOSE. */
static sc_val read_item(sc_val port, int *kind, long *line, int32_t *close)
{
    for (;;) {
        int32_t c = next(port);
        while (c >= 0 && (is_space(c) || c == ';')) {
            if (c == ';')
                while (c >= 0 && c != '\n')
                    c = next(port);
            c = next(port);
        }
        *kind = ITEM_DATUM;
        *line = sc_port_line(port); /* c's line: c is no newline, blanks were skipped */
        switch (c) {
        case -1:
            *kind = ITEM_EOF;
            return SC_EOF;
        case '(':
        case '[':
            return read_list(port, c == '(' ? ')' : ']', *line, 1);
        case ')':
        case ']':
            *kind = ITEM_CLOSE;
            *close = c;
            return SC_UNSPEC;
        case '\'':
            return abbreviation(port, "quote", *line);
        case '`':
            return abbreviation(port, "quasiquote", *line);
        case ',':
            if (peek(port) == '@') {
                next(port);
                return abbreviation(port, "unquote-splicing", *line);
            }
            return abbreviation(port, "unquote", *line);
        case '"':
            return read_string(port, *line);
        case '|':
            return read_quoted_symbol(port, *line, 0);
        case '#': {
            int skip;
            sc_val v = read_hash(port, *line, &skip);
            if (skip)
                continue;
            return v;
        }
        default:
            return read_atom(port, c, *line, kind);
        }
    }
}

sc_val sc_read(sc_val port, long *line)
{
    int kind;
    long l;
    int32_t close;
    sc_val v = read_item(port, &kind, &l, &close);
    if (kind == ITEM_CLOSE)
        rd_error(l, "unexpected '%c'", (char)close);
    if (kind == ITEM_DOT)
        rd_error(l, "unexpected '.'");
    if (line)
        *line = l;
    return v;
}

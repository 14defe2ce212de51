/* compile.h: what compile.c and expand.c (the derived forms' rewriting)
 * share: the symbols the compiler knows, list helpers, syntax errors. */
#ifndef SCHEME_COMPILE_H
#define SCHEME_COMPILE_H

#include "vm.h"

/* The keywords and the internal procedures the rewritings call. */
extern sc_val s_quote, s_quasiquote, s_unquote, s_unquote_splicing, s_if, s_define, s_set,
    s_lambda, s_begin, s_let, s_letstar, s_letrec, s_letrecstar, s_let_values,
    s_letstar_values, s_do, s_cond, s_case, s_and, s_or, s_when, s_unless, s_else, s_arrow,
    s_define_record_type, s_cons, s_append, s_list_to_vector, s_memv, s_list,
    s_make_rectype, s_record, s_record_p, s_record_ref, s_record_set, s_dot3;

/* ---- List helpers ---------------------------------------------------------------------- */

#define L1(a) sc_cons((a), SC_NIL)
#define L2(a, b) sc_cons((a), L1(b))
#define L3(a, b, c) sc_cons((a), L2((b), (c)))
#define L4(a, b, c, d) sc_cons((a), L3((b), (c), (d)))

static inline sc_val cadr(sc_val x) { return sc_car(sc_cdr(x)); }
static inline sc_val cddr(sc_val x) { return sc_cdr(sc_cdr(x)); }

/* A syntax error naming what was being compiled. */
_Noreturn void bad_syntax(sc_val x, const char *what);
/* The elements of proper list x, at least min of them, or a syntax error. */
size_t check_list(sc_val x, size_t min, const char *what);

/* expand.c: the derived forms, rewritten into core ones. */
sc_val expand_quasi(sc_val x, int depth);
sc_val expand_named_let(sc_val x);
sc_val expand_letstar(sc_val x, sc_val let_sym, sc_val nested_sym);
sc_val expand_do(sc_val x);
sc_val expand_cond(sc_val clauses);
sc_val expand_case(sc_val x);
sc_val expand_record(sc_val x);

#endif

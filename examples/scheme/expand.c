/* expand.c: the derived forms (quasiquote, named let, let*, do, cond,
 * case, define-record-type) rewritten into the core ones that compile.c
 * compiles (quote if define set! lambda begin let letrec). The rewriting
 * allocates lists; the caller holds the datum, and so what it builds. */
#include "compile.h"

/* ---- Derived forms: rewritten into core ones ----------------------------------------- */

static sc_val quasi_list(sc_val x, int depth)
{
    if (!sc_is_pair(x))
        return expand_quasi(x, depth);
    sc_val head = sc_car(x);
    if (head == s_unquote && depth == 1)
        return cadr(x); /* `(a . ,b) */
    if (sc_is_pair(head) && sc_car(head) == s_unquote_splicing && depth == 1)
        return L3(s_append, cadr(head), quasi_list(sc_cdr(x), depth));
    return L3(s_cons, expand_quasi(head, depth), quasi_list(sc_cdr(x), depth));
}

sc_val expand_quasi(sc_val x, int depth)
{
    if (sc_is_pair(x)) {
        sc_val head = sc_car(x);
        if (head == s_unquote)
            return depth == 1 ? cadr(x)
                              : L3(s_list, L2(s_quote, s_unquote), expand_quasi(cadr(x), depth - 1));
        if (head == s_quasiquote)
            return L3(s_list, L2(s_quote, s_quasiquote), expand_quasi(cadr(x), depth + 1));
        return quasi_list(x, depth);
    }
    if (sc_is(x, SC_VECTOR)) {
        sc_val l = SC_NIL;
        for (size_t i = sc_len(x); i >= 1; i--)
            l = sc_cons(SC_SLOT(x, i), l);
        return L2(s_list_to_vector, quasi_list(l, depth));
    }
    if (sc_is(x, SC_SYMBOL) || x == SC_NIL)
        return L2(s_quote, x);
    return x;
}

/* (let name ((v init) ...) body) => ((letrec ((name (lambda (v ...) body))) name) init ...) */
sc_val expand_named_let(sc_val x)
{
    sc_val name = cadr(x), bindings = sc_car(cddr(x)), body = sc_cdr(cddr(x));
    check_list(bindings, 0, "named let");
    sc_val vars = SC_NIL, inits = SC_NIL;
    for (sc_val b = sc_reverse(bindings); sc_is_pair(b); b = sc_cdr(b)) {
        sc_val bd = sc_car(b);
        check_list(bd, 2, "named let binding");
        vars = sc_cons(sc_car(bd), vars);
        inits = sc_cons(cadr(bd), inits);
    }
    sc_val lam = sc_cons(s_lambda, sc_cons(vars, body));
    sc_val rec = L3(s_letrec, L1(L2(name, lam)), name);
    return sc_cons(rec, inits);
}

/* (let* (b1 b2 ...) body) => (let (b1) (let* (b2 ...) body)) */
sc_val expand_letstar(sc_val x, sc_val let_sym, sc_val nested_sym)
{
    sc_val bindings = cadr(x), body = cddr(x);
    check_list(bindings, 0, "let*");
    if (bindings == SC_NIL || sc_cdr(bindings) == SC_NIL)
        return sc_cons(let_sym, sc_cons(bindings, body));
    return L3(let_sym, L1(sc_car(bindings)),
              sc_cons(nested_sym, sc_cons(sc_cdr(bindings), body)));
}

/* (do ((v init step) ...) (test expr ...) cmd ...) => a named let */
sc_val expand_do(sc_val x)
{
    check_list(x, 3, "do");
    sc_val specs = cadr(x), exit = sc_car(cddr(x)), cmds = sc_cdr(cddr(x));
    check_list(exit, 1, "do exit clause");
    sc_val loop = sc_gensym("do-loop"), bindings = SC_NIL, steps = SC_NIL;
    for (sc_val s = sc_reverse(specs); sc_is_pair(s); s = sc_cdr(s)) {
        sc_val sp = sc_car(s);
        size_t n = check_list(sp, 2, "do variable");
        bindings = sc_cons(L2(sc_car(sp), cadr(sp)), bindings);
        steps = sc_cons(n >= 3 ? sc_car(cddr(sp)) : sc_car(sp), steps);
    }
    sc_val result = sc_cdr(exit) == SC_NIL ? L1(s_begin) : sc_cons(s_begin, sc_cdr(exit));
    sc_val again = sc_cons(s_begin, sc_reverse(sc_cons(sc_cons(loop, steps), sc_reverse(cmds))));
    sc_val body = L4(s_if, sc_car(exit), result, again);
    return L4(s_let, loop, bindings, body);
}

/* cond => nested ifs (a clause with => binds its test's value). */
sc_val expand_cond(sc_val clauses)
{
    if (clauses == SC_NIL)
        return L1(s_begin); /* unspecified */
    sc_val c = sc_car(clauses), rest = sc_cdr(clauses);
    check_list(c, 1, "cond clause");
    if (sc_car(c) == s_else)
        return sc_cons(s_begin, sc_cdr(c));
    if (sc_cdr(c) == SC_NIL) /* (test): its value */
        return L3(s_or, sc_car(c), expand_cond(rest));
    if (cadr(c) == s_arrow) {
        sc_val t = sc_gensym("cond");
        return L3(s_let, L1(L2(t, sc_car(c))),
                  L4(s_if, t, L2(sc_car(cddr(c)), t), expand_cond(rest)));
    }
    return L4(s_if, sc_car(c), sc_cons(s_begin, sc_cdr(c)), expand_cond(rest));
}

sc_val expand_case(sc_val x)
{
    check_list(x, 2, "case");
    sc_val k = sc_gensym("case"), clauses = SC_NIL;
    for (sc_val c = sc_reverse(cddr(x)); sc_is_pair(c); c = sc_cdr(c)) {
        sc_val cl = sc_car(c);
        check_list(cl, 2, "case clause");
        sc_val test = sc_car(cl) == s_else ? s_else : L3(s_memv, k, L2(s_quote, sc_car(cl)));
        sc_val body = sc_cdr(cl);
        if (sc_car(body) == s_arrow)
            body = L1(L2(cadr(body), k));
        clauses = sc_cons(sc_cons(test, body), clauses);
    }
    return L3(s_let, L1(L2(k, cadr(x))), sc_cons(s_cond, clauses));
}

/* (define-record-type name (ctor field ...) pred (field accessor [modifier]) ...) */
sc_val expand_record(sc_val x)
{
    check_list(x, 3, "define-record-type");
    sc_val name = cadr(x), ctor = sc_car(cddr(x)), pred = cadr(cddr(x));
    sc_val specs = cddr(cddr(x)), fields = SC_NIL;
    for (sc_val s = specs; sc_is_pair(s); s = sc_cdr(s)) {
        sc_val f = sc_is_pair(sc_car(s)) ? sc_car(sc_car(s)) : sc_car(s);
        fields = sc_cons(f, fields);
    }
    fields = sc_reverse(fields);
    sc_val tname = sc_is_pair(name) ? sc_car(name) : name;
    sc_val out = L1(L3(s_define, tname, L3(s_make_rectype, L2(s_quote, tname), L2(s_quote, fields))));
    if (sc_is_pair(ctor)) {
        /* The constructor's arguments name fields; the others start #f. */
        sc_val args = sc_cdr(ctor), vals = SC_NIL;
        for (sc_val f = fields; sc_is_pair(f); f = sc_cdr(f)) {
            sc_val v = SC_FALSE;
            for (sc_val a = args; sc_is_pair(a); a = sc_cdr(a))
                if (sc_car(a) == sc_car(f))
                    v = sc_car(a);
            vals = sc_cons(v, vals);
        }
        sc_val body = sc_cons(s_record, sc_cons(tname, sc_reverse(vals)));
        out = sc_cons(L3(s_define, sc_car(ctor), L3(s_lambda, args, body)), out);
    }
    if (pred != SC_FALSE && sc_is(pred, SC_SYMBOL)) {
        sc_val o = sc_gensym("obj");
        out = sc_cons(L3(s_define, pred, L3(s_lambda, L1(o), L3(s_record_p, o, tname))), out);
    }
    int64_t idx = 0;
    for (sc_val s = specs; sc_is_pair(s); s = sc_cdr(s), idx++) {
        sc_val spec = sc_car(s);
        if (!sc_is_pair(spec))
            continue;
        sc_val o = sc_gensym("obj"), v = sc_gensym("val");
        if (sc_is_pair(sc_cdr(spec))) {
            sc_val acc = cadr(spec);
            sc_val body = L4(s_record_ref, o, tname, sc_fixnum(idx));
            out = sc_cons(L3(s_define, acc, L3(s_lambda, L1(o), body)), out);
            if (sc_is_pair(cddr(spec))) {
                sc_val mod = sc_car(cddr(spec));
                sc_val set = sc_cons(s_record_set, L4(o, tname, sc_fixnum(idx), v));
                out = sc_cons(L3(s_define, mod, L3(s_lambda, L2(o, v), set)), out);
            }
        }
    }
    return sc_cons(s_begin, sc_reverse(out));
}


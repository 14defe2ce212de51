/* compile.c: from s-expressions to the VM's instructions (vm.h).
 *
 * Each lambda becomes an SC_CODE object: its instructions, its constants
 * (a heap vector: literals, global symbols, inner lambdas' codes) and its
 * frame's size. Variables are resolved here to (depth, slot): every
 * variable a lambda binds (its parameters, its internal definitions, every
 * let, letrec, do and let-values inside it) gets a slot of its one frame,
 * allocated by each call; a let inside a lambda costs no frame of its own
 * (a let is never evaluated twice in one call: loops are calls). The
 * derived forms are rewritten into the core ones (quote if define set!
 * lambda begin let letrec* let-values) before they are compiled.
 *
 * What the compiler holds while it works: the datum (the caller's), the
 * constants (a heap vector in the emitter, on this C stack: scanned), and
 * the variables' symbols (in malloc'd scopes, not scanned: each is also in
 * the datum being compiled, which the caller holds).
 */
#include <stdlib.h>
#include <string.h>

#include "compile.h"

/* ---- Symbols the compiler knows ----------------------------------------------------- */

sc_val s_quote, s_quasiquote, s_unquote, s_unquote_splicing, s_if, s_define, s_set,
    s_lambda, s_begin, s_let, s_letstar, s_letrec, s_letrecstar, s_let_values,
    s_letstar_values, s_do, s_cond, s_case, s_and, s_or, s_when, s_unless, s_else, s_arrow,
    s_define_record_type, s_cons, s_append, s_list_to_vector, s_memv, s_list, s_make_rectype,
    s_record, s_record_p, s_record_ref, s_record_set, s_dot3;

static struct {
    sc_val *sym;
    const char *name;
} known[] = {
    {&s_quote, "quote"}, {&s_quasiquote, "quasiquote"}, {&s_unquote, "unquote"},
    {&s_unquote_splicing, "unquote-splicing"}, {&s_if, "if"}, {&s_define, "define"},
    {&s_set, "set!"}, {&s_lambda, "lambda"}, {&s_begin, "begin"}, {&s_let, "let"},
    {&s_letstar, "let*"}, {&s_letrec, "letrec"}, {&s_letrecstar, "letrec*"},
    {&s_let_values, "let-values"}, {&s_letstar_values, "let*-values"}, {&s_do, "do"},
    {&s_cond, "cond"}, {&s_case, "case"}, {&s_and, "and"}, {&s_or, "or"}, {&s_when, "when"},
    {&s_unless, "unless"}, {&s_else, "else"}, {&s_arrow, "=>"},
    {&s_define_record_type, "define-record-type"}, {&s_cons, "%cons"},
    {&s_append, "%append"}, {&s_list_to_vector, "%list->vector"}, {&s_memv, "%memv"},
    {&s_list, "%list"}, {&s_make_rectype, "%make-record-type"}, {&s_record, "%record"},
    {&s_record_p, "%record?"}, {&s_record_ref, "%record-ref"},
    {&s_record_set, "%record-set!"}, {&s_dot3, "..."},
};

/* The compiler's symbols live as long as the program: a root range,
 * registered before the first symbol is interned. Registered after the
 * loop, it left the symbols interned first reachable only through the
 * weak symbol table while the later ones allocated: a cycle then freed
 * `lambda`, the reader interned a new one, and the prelude's (define (map
 * f l . ls) ...) failed as a bad call (TRICOLOR_GC=10 once in a thousand
 * runs; TRICOLOR_DEBUG=gcstress=1 every run: tests/startup.scm). */
static sc_val known_roots[sizeof known / sizeof known[0]];

void sc_compile_init(void)
{
    if (tc_root_add(known_roots, sizeof known_roots) != 0)
        sc_error(SC_DEFAULT, "cannot register the compiler's roots");
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        known_roots[i] = *known[i].sym = sc_intern(known[i].name);
}

sc_val sc_gensym(const char *base)
{
    static unsigned long counter; /* only the name's uniqueness for printing depends on it */
    char buf[64];
    snprintf(buf, sizeof buf, " %s%lu", base, __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    sc_val s = sc_alloc_slots(SC_SYMBOL, SC_SYM_SLOTS);
    sc_val name = sc_string_from_c(buf);
    size_t n = strlen(buf);
    sc_val u = sc_alloc_atomic(SC_BYTEVECTOR, n + 1, n + 1);
    memcpy(sc_bytes(u), buf, n + 1);
    SC_SET(s, SC_SYM_NAME, name);
    SC_SLOT(s, SC_SYM_VALUE) = SC_UNBOUND;
    SC_SLOT(s, SC_SYM_FLAGS) = sc_fixnum(0);
    SC_SET(s, SC_SYM_UTF8, u);
    return s;
}

_Noreturn void bad_syntax(sc_val x, const char *what)
{
    sc_error(x, "bad syntax (%s):", what);
}

size_t check_list(sc_val x, size_t min, const char *what)
{
    size_t n = sc_list_length(x);
    if (n == SIZE_MAX || n < min)
        bad_syntax(x, what);
    return n;
}

/* ---- Scopes and the emitter ----------------------------------------------------------- */

typedef struct var {
    sc_val sym;
    int slot;
} var;

typedef struct scope {
    struct scope *parent;
    var *vars;
    int nvars, capvars;
    int nslots;   /* the frame's size so far */
    int toplevel; /* a top-level form's thunk: define makes globals */
    int stack;    /* its variables live on the VM stack (vm.h: a stack frame) */
} scope;

typedef struct emitter {
    uint32_t *code;
    size_t n, cap;
    sc_val consts; /* an SC_VECTOR, grown by copying; slots 1..nconsts used */
    size_t nconsts;
    scope *sc;
    sc_val file; /* a symbol or #f */
    long line;
} emitter;

static void emit(emitter *e, uint32_t w)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->code = realloc(e->code, e->cap * sizeof *e->code);
        if (!e->code)
            sc_error(SC_DEFAULT, "out of memory compiling");
    }
    e->code[e->n++] = w;
}

static size_t here(const emitter *e) { return e->n; }

static void patch(emitter *e, size_t at, size_t target)
{
    e->code[at] = sc_ins(sc_ins_op(e->code[at]), (uint32_t)target);
}

static uint32_t const_index(emitter *e, sc_val v)
{
    for (size_t i = 1; i <= e->nconsts; i++)
        if (SC_SLOT(e->consts, i) == v)
            return (uint32_t)(i - 1);
    if (!e->consts || e->nconsts == sc_len(e->consts)) {
        sc_val bigger = sc_make_vector(e->nconsts ? e->nconsts * 2 : 8, SC_FALSE);
        if (e->consts)
            tc_store_range((void *)bigger, &SC_SLOT(bigger, 1), &SC_SLOT(e->consts, 1), e->nconsts);
        e->consts = bigger;
    }
    SC_SET(e->consts, ++e->nconsts, v);
    return (uint32_t)(e->nconsts - 1);
}

static void emit_const(emitter *e, sc_val v)
{
    if (sc_is_fixnum(v) && sc_fixnum_value(v) >= -(1 << 23) && sc_fixnum_value(v) < (1 << 23))
        emit(e, sc_ins(OP_FIXNUM, (uint32_t)sc_fixnum_value(v) & 0xffffff));
    else if (v == SC_FALSE || v == SC_TRUE || v == SC_NIL || v == SC_UNSPEC)
        emit(e, sc_ins(OP_IMM, (uint32_t)v));
    else
        emit(e, sc_ins(OP_CONST, const_index(e, v)));
}

static int add_var(scope *s, sc_val sym)
{
    if (s->nvars == s->capvars) {
        s->capvars = s->capvars ? s->capvars * 2 : 16;
        s->vars = realloc(s->vars, (size_t)s->capvars * sizeof *s->vars);
        if (!s->vars)
            sc_error(SC_DEFAULT, "out of memory compiling");
    }
    int slot = s->nslots++;
    s->vars[s->nvars++] = (var){ sym, slot };
    return slot;
}

/* Where sym is bound: 1 with *depth and *slot for a local, 0 for a
 * global. *depth counts the heap frames to walk up (a stack frame is no
 * link of the chain); -1 for a variable of the current stack frame. */
static int lookup(const scope *s, sc_val sym, int *depth, int *slot)
{
    for (int d = 0; s; s = s->parent) {
        for (int i = s->nvars - 1; i >= 0; i--)
            if (s->vars[i].sym == sym) {
                *depth = s->stack ? -1 : d;
                *slot = s->vars[i].slot;
                return 1;
            }
        if (!s->stack)
            d++;
    }
    return 0;
}

static int is_local(const scope *s, sc_val sym)
{
    int d, i;
    return lookup(s, sym, &d, &i);
}

static void emit_ref(emitter *e, sc_val sym)
{
    int d, slot;
    if (!lookup(e->sc, sym, &d, &slot)) {
        emit(e, sc_ins(OP_GREF, const_index(e, sym)));
    } else if (d < 0) {
        emit(e, sc_ins(OP_SREF, (uint32_t)slot));
    } else if (d == 0) {
        emit(e, sc_ins(OP_LREF0, (uint32_t)slot));
    } else {
        emit(e, sc_ins(OP_LREF, (uint32_t)d));
        emit(e, (uint32_t)slot);
    }
}

/* Pops the top of the stack into slot of the current lambda's frame. */
static void emit_set_slot(emitter *e, int slot)
{
    emit(e, sc_ins(e->sc->stack ? OP_SSET : OP_LSET0, (uint32_t)slot));
}

static void mark_user_set(sc_val sym)
{
    int64_t f = sc_fixnum_value(SC_SLOT(sym, SC_SYM_FLAGS));
    if (!(f & SC_SYMF_USER_SET))
        SC_SET(sym, SC_SYM_FLAGS, sc_fixnum(f | SC_SYMF_USER_SET));
}

/* Pops the top of the stack into sym's binding. */
static void emit_set(emitter *e, sc_val sym, int define)
{
    int d, slot;
    if (!lookup(e->sc, sym, &d, &slot)) {
        mark_user_set(sym);
        emit(e, sc_ins(define ? OP_GDEF : OP_GSET, const_index(e, sym)));
    } else if (d < 0) {
        emit(e, sc_ins(OP_SSET, (uint32_t)slot));
    } else if (d == 0) {
        emit(e, sc_ins(OP_LSET0, (uint32_t)slot));
    } else {
        emit(e, sc_ins(OP_LSET, (uint32_t)d));
        emit(e, (uint32_t)slot);
    }
}

static void compile(emitter *e, sc_val x, int tail);
static void compile_body(emitter *e, sc_val body, int tail);
static sc_val compile_lambda(emitter *outer, sc_val params, sc_val body, sc_val name);

static void emit_return_if(emitter *e, int tail)
{
    if (tail)
        emit(e, sc_ins(OP_RET, 0));
}

/* ---- Core forms ------------------------------------------------------------------------- */

static void compile_if(emitter *e, sc_val x, int tail)
{
    size_t n = check_list(x, 3, "if");
    if (n > 4)
        bad_syntax(x, "if");
    compile(e, cadr(x), 0);
    size_t jf = here(e);
    emit(e, sc_ins(OP_JMPF, 0));
    compile(e, sc_car(cddr(x)), tail);
    size_t jend = here(e);
    if (!tail)
        emit(e, sc_ins(OP_JMP, 0));
    patch(e, jf, here(e));
    if (n == 4)
        compile(e, cadr(cddr(x)), tail);
    else {
        emit(e, sc_ins(OP_IMM, (uint32_t)SC_UNSPEC));
        emit_return_if(e, tail);
    }
    if (!tail)
        patch(e, jend, here(e));
}

/* (define name expr) or (define (name . params) body ...) */
static void define_parts(sc_val x, sc_val *name, sc_val *value)
{
    check_list(x, 2, "define");
    sc_val target = cadr(x);
    if (sc_is_pair(target)) {
        /* Curried defines: (define ((f a) b) ...) also work this way. */
        sc_val lam = sc_cons(s_lambda, sc_cons(sc_cdr(target), cddr(x)));
        define_parts(L3(s_define, sc_car(target), lam), name, value);
        return;
    }
    if (!sc_is(target, SC_SYMBOL))
        bad_syntax(x, "define");
    *name = target;
    *value = cddr(x) == SC_NIL ? SC_UNSPEC : sc_car(cddr(x));
}

static void compile_value_named(emitter *e, sc_val value, sc_val name)
{
    if (sc_is_pair(value) && sc_car(value) == s_lambda && !is_local(e->sc, s_lambda)) {
        check_list(value, 3, "lambda");
        sc_val code = compile_lambda(e, cadr(value), cddr(value), name);
        emit(e, sc_ins(OP_CLOSURE, const_index(e, code)));
        return;
    }
    compile(e, value, 0);
}

static void compile_define(emitter *e, sc_val x, int tail)
{
    sc_val name, value;
    define_parts(x, &name, &value);
    compile_value_named(e, value, name);
    emit_set(e, name, e->sc->toplevel && !is_local(e->sc, name));
    emit(e, sc_ins(OP_IMM, (uint32_t)SC_UNSPEC));
    emit_return_if(e, tail);
}

static void compile_set(emitter *e, sc_val x, int tail)
{
    if (check_list(x, 3, "set!") != 3 || !sc_is(cadr(x), SC_SYMBOL))
        bad_syntax(x, "set!");
    compile(e, sc_car(cddr(x)), 0);
    emit_set(e, cadr(x), 0);
    emit(e, sc_ins(OP_IMM, (uint32_t)SC_UNSPEC));
    emit_return_if(e, tail);
}

static void compile_seq(emitter *e, sc_val body, int tail)
{
    if (body == SC_NIL) {
        emit(e, sc_ins(OP_IMM, (uint32_t)SC_UNSPEC));
        emit_return_if(e, tail);
        return;
    }
    for (; sc_is_pair(body); body = sc_cdr(body)) {
        int last = sc_cdr(body) == SC_NIL;
        compile(e, sc_car(body), last && tail);
        if (!last)
            emit(e, sc_ins(OP_POP, 0));
    }
}

/* (let ((v init) ...) body): the inits in the outer scope, then slots. */
static void compile_let(emitter *e, sc_val x, int tail)
{
    check_list(x, 2, "let");
    if (sc_is(cadr(x), SC_SYMBOL)) {
        compile(e, expand_named_let(x), tail);
        return;
    }
    sc_val bindings = cadr(x);
    size_t n = check_list(bindings, 0, "let bindings");
    for (sc_val b = bindings; sc_is_pair(b); b = sc_cdr(b)) {
        sc_val bd = sc_car(b);
        if (sc_is(bd, SC_SYMBOL))
            emit(e, sc_ins(OP_IMM, (uint32_t)SC_UNSPEC));
        else if (check_list(bd, 1, "let binding") > 2 || !sc_is(sc_car(bd), SC_SYMBOL))
            bad_syntax(bd, "let binding");
        else
            compile_value_named(e, sc_cdr(bd) == SC_NIL ? SC_UNSPEC : cadr(bd), sc_car(bd));
    }
    int saved = e->sc->nvars;
    int *slots = malloc((n ? n : 1) * sizeof *slots);
    size_t i = 0;
    for (sc_val b = bindings; sc_is_pair(b); b = sc_cdr(b))
        slots[i++] = add_var(e->sc, sc_is_pair(sc_car(b)) ? sc_car(sc_car(b)) : sc_car(b));
    while (i-- > 0)
        emit_set_slot(e, slots[i]);
    free(slots);
    compile_body(e, cddr(x), tail);
    e->sc->nvars = saved;
}

/* letrec and letrec*: slots first, then each init in order. */
static void compile_letrec(emitter *e, sc_val x, int tail)
{
    check_list(x, 2, "letrec");
    int saved = e->sc->nvars;
    for (sc_val b = cadr(x); sc_is_pair(b); b = sc_cdr(b))
        add_var(e->sc, sc_car(sc_car(b)));
    for (sc_val b = cadr(x); sc_is_pair(b); b = sc_cdr(b)) {
        sc_val bd = sc_car(b);
        check_list(bd, 2, "letrec binding");
        compile_value_named(e, cadr(bd), sc_car(bd));
        emit_set(e, sc_car(bd), 0);
    }
    compile_body(e, cddr(x), tail);
    e->sc->nvars = saved;
}

/* Counts a formals list: required ones, and whether a rest one follows. */
static int formals_shape(sc_val f, int *rest)
{
    int n = 0;
    for (; sc_is_pair(f); f = sc_cdr(f))
        n++;
    *rest = f != SC_NIL;
    return n;
}

static void bind_formals(scope *s, sc_val f, int *first)
{
    *first = s->nslots;
    for (; sc_is_pair(f); f = sc_cdr(f))
        add_var(s, sc_car(f));
    if (f != SC_NIL)
        add_var(s, f);
}

static void add_var_at(scope *s, sc_val sym, int slot)
{
    int taken = add_var(s, sym);
    s->nslots--; /* the slot given was taken already */
    s->vars[s->nvars - 1].slot = slot;
    (void)taken;
}

static void compile_let_values(emitter *e, sc_val x, int tail, int sequential)
{
    size_t nb = check_list(cadr(x), 0, "let-values") + 1;
    int saved = e->sc->nvars;
    scope *s = e->sc;
    /* let-values evaluates every init in the outer scope: each binding's
     * slots are taken at once, its names made visible after the last init
     * (let*-values: at once). */
    var *later = malloc(nb * 64 * sizeof *later);
    size_t nlater = 0;
    for (sc_val b = cadr(x); sc_is_pair(b); b = sc_cdr(b)) {
        sc_val bd = sc_car(b);
        check_list(bd, 2, "let-values binding");
        compile(e, cadr(bd), 0);
        int rest, nreq = formals_shape(sc_car(bd), &rest);
        int first = s->nslots, nvars = nreq + rest;
        sc_val f = sc_car(bd);
        for (int i = 0; i < nvars; i++, f = sc_is_pair(f) ? sc_cdr(f) : f) {
            sc_val sym = sc_is_pair(f) ? sc_car(f) : f;
            if (!sc_is(sym, SC_SYMBOL))
                bad_syntax(bd, "let-values formals");
            if (sequential)
                add_var(s, sym);
            else if (nlater < nb * 64)
                later[nlater++] = (var){ sym, s->nslots++ };
        }
        emit(e, sc_ins(OP_MVBIND, (uint32_t)first));
        emit(e, (uint32_t)nreq | (uint32_t)rest << 16);
    }
    for (size_t i = 0; i < nlater; i++)
        add_var_at(s, later[i].sym, later[i].slot);
    free(later);
    compile_body(e, cddr(x), tail);
    e->sc->nvars = saved;
}

static void compile_and_or(emitter *e, sc_val x, int tail, int is_and)
{
    sc_val args = sc_cdr(x);
    check_list(args, 0, is_and ? "and" : "or");
    if (args == SC_NIL) {
        emit(e, sc_ins(OP_IMM, (uint32_t)(is_and ? SC_TRUE : SC_FALSE)));
        emit_return_if(e, tail);
        return;
    }
    size_t jumps[256], nj = 0;
    for (; sc_cdr(args) != SC_NIL; args = sc_cdr(args)) {
        compile(e, sc_car(args), 0);
        emit(e, sc_ins(OP_DUP, 0));
        if (nj < 256)
            jumps[nj++] = here(e);
        emit(e, sc_ins(is_and ? OP_JMPF : OP_JMPT, 0));
        emit(e, sc_ins(OP_POP, 0));
    }
    compile(e, sc_car(args), tail);
    for (size_t i = 0; i < nj; i++)
        patch(e, jumps[i], here(e));
    emit_return_if(e, tail); /* (after a tail call it is never reached) */
}

static void compile_call(emitter *e, sc_val x, int tail)
{
    size_t argc = check_list(sc_cdr(x), 0, "call");
    sc_val f = sc_car(x);
    int op;
    if (sc_is(f, SC_SYMBOL) && !is_local(e->sc, f) &&
        !(sc_fixnum_value(SC_SLOT(f, SC_SYM_FLAGS)) & SC_SYMF_USER_SET) &&
        (op = sc_open_coded(f, (int)argc)) >= 0) {
        for (sc_val a = sc_cdr(x); sc_is_pair(a); a = sc_cdr(a))
            compile(e, sc_car(a), 0);
        emit(e, sc_ins(op, 0));
        emit_return_if(e, tail);
        return;
    }
    if (!tail)
        emit(e, sc_ins(OP_FRAME, 0));
    compile(e, f, 0);
    for (sc_val a = sc_cdr(x); sc_is_pair(a); a = sc_cdr(a))
        compile(e, sc_car(a), 0);
    emit(e, sc_ins(tail ? OP_TAILCALL : OP_CALL, (uint32_t)argc));
}

/* A special form's keyword, unless a local variable shadows it. */
static int keyword(const emitter *e, sc_val head, sc_val kw)
{
    return head == kw && !is_local(e->sc, kw);
}

static void compile_pair(emitter *e, sc_val x, int tail)
{
    sc_val h = sc_car(x);
    if (!sc_is(h, SC_SYMBOL) || is_local(e->sc, h)) {
        compile_call(e, x, tail);
        return;
    }
    if (h == s_quote) {
        check_list(x, 2, "quote");
        emit_const(e, cadr(x));
        emit_return_if(e, tail);
    } else if (h == s_quasiquote) {
        check_list(x, 2, "quasiquote");
        compile(e, expand_quasi(cadr(x), 1), tail);
    } else if (h == s_if) {
        compile_if(e, x, tail);
    } else if (h == s_define) {
        compile_define(e, x, tail);
    } else if (h == s_set) {
        compile_set(e, x, tail);
    } else if (h == s_lambda) {
        check_list(x, 3, "lambda");
        sc_val code = compile_lambda(e, cadr(x), cddr(x), SC_FALSE);
        emit(e, sc_ins(OP_CLOSURE, const_index(e, code)));
        emit_return_if(e, tail);
    } else if (h == s_begin) {
        check_list(x, 1, "begin");
        compile_seq(e, sc_cdr(x), tail);
    } else if (h == s_let) {
        compile_let(e, x, tail);
    } else if (h == s_letstar) {
        compile(e, expand_letstar(x, s_let, s_letstar), tail);
    } else if (h == s_letrec || h == s_letrecstar) {
        compile_letrec(e, x, tail);
    } else if (h == s_let_values || h == s_letstar_values) {
        compile_let_values(e, x, tail, h == s_letstar_values);
    } else if (h == s_do) {
        compile(e, expand_do(x), tail);
    } else if (h == s_cond) {
        check_list(x, 1, "cond");
        compile(e, expand_cond(sc_cdr(x)), tail);
    } else if (h == s_case) {
        compile(e, expand_case(x), tail);
    } else if (h == s_and || h == s_or) {
        compile_and_or(e, x, tail, h == s_and);
    } else if (h == s_when || h == s_unless) {
        check_list(x, 2, h == s_when ? "when" : "unless");
        sc_val body = sc_cons(s_begin, cddr(x));
        compile(e, h == s_when ? L4(s_if, cadr(x), body, L1(s_begin))
                               : L4(s_if, cadr(x), L1(s_begin), body), tail);
    } else if (h == s_define_record_type) {
        compile(e, expand_record(x), tail);
    } else {
        compile_call(e, x, tail);
    }
}

static void compile(emitter *e, sc_val x, int tail)
{
    if (sc_is(x, SC_SYMBOL)) {
        emit_ref(e, x);
        emit_return_if(e, tail);
    } else if (sc_is_pair(x)) {
        compile_pair(e, x, tail);
    } else {
        if (x == SC_NIL)
            sc_error(x, "bad syntax: an empty combination");
        emit_const(e, x); /* self-evaluating */
        emit_return_if(e, tail);
    }
}

/* ---- Bodies and lambdas ---------------------------------------------------------------- */

/* A body with its begins spliced and its define-record-types expanded
 * (in order): its definitions' names get slots before any is evaluated
 * (letrec* semantics). */
static sc_val splice_body(const emitter *e, sc_val body, sc_val out)
{
    for (; sc_is_pair(body); body = sc_cdr(body)) {
        sc_val f = sc_car(body);
        if (sc_is_pair(f) && keyword(e, sc_car(f), s_define_record_type))
            f = expand_record(f);
        if (sc_is_pair(f) && keyword(e, sc_car(f), s_begin))
            out = splice_body(e, sc_cdr(f), out);
        else
            out = sc_cons(f, out);
    }
    return out;
}

static void compile_body(emitter *e, sc_val body, int tail)
{
    body = sc_reverse(splice_body(e, body, SC_NIL));
    for (sc_val b = body; sc_is_pair(b); b = sc_cdr(b)) {
        sc_val f = sc_car(b);
        if (sc_is_pair(f) && keyword(e, sc_car(f), s_define)) {
            sc_val name, value;
            define_parts(f, &name, &value);
            add_var(e->sc, name);
        }
    }
    compile_seq(e, body, tail);
}

static sc_val make_code(emitter *e, int nreq, int rest, sc_val name)
{
    size_t bytes = e->n * sizeof(uint32_t);
    sc_val bv = sc_alloc_atomic(SC_BYTEVECTOR, bytes, bytes);
    memcpy(sc_bytes(bv), e->code, bytes);
    sc_val code = sc_alloc_slots(SC_CODE, SC_CODE_SLOTS);
    SC_SET(code, SC_CODE_BYTES, bv);
    SC_SET(code, SC_CODE_CONSTS, e->consts ? e->consts : sc_make_vector(0, SC_FALSE));
    SC_SET(code, SC_CODE_NAME, name);
    SC_SLOT(code, SC_CODE_SHAPE) =
        sc_fixnum((int64_t)nreq | (int64_t)rest << 16 | (int64_t)e->sc->stack << 17 |
                  (int64_t)e->sc->nslots << 18);
    SC_SET(code, SC_CODE_FILE, e->file);
    SC_SLOT(code, SC_CODE_LINE) = sc_fixnum(e->line);
    return code;
}

/* Whether body may make a closure over its lambda's variables, or needs
 * a heap frame otherwise (let-values binds through the frame object): a
 * look at the datum, before any expansion, erring toward the heap (quoted
 * data is skipped; a symbol `lambda` anywhere else counts). */
static int needs_heap_frame(sc_val x)
{
    for (; sc_is_pair(x); x = sc_cdr(x)) {
        sc_val h = sc_car(x);
        if (h == s_quote)
            return 0;
        if (h == s_lambda || h == s_do || h == s_define || h == s_let_values ||
            h == s_letstar_values || h == s_define_record_type)
            return 1;
        if (h == s_let && sc_is_pair(sc_cdr(x)) && sc_is(cadr(x), SC_SYMBOL))
            return 1; /* a named let */
        if (sc_is_pair(h) && needs_heap_frame(h))
            return 1;
    }
    return 0;
}

static sc_val compile_lambda(emitter *outer, sc_val params, sc_val body, sc_val name)
{
    scope s = { .parent = outer->sc };
    emitter e = { .sc = &s, .file = outer->file, .line = outer->line };
    int rest, nreq = formals_shape(params, &rest), first;
    for (sc_val p = params; sc_is_pair(p); p = sc_cdr(p))
        if (!sc_is(sc_car(p), SC_SYMBOL))
            bad_syntax(params, "lambda parameters");
    s.stack = !rest && !needs_heap_frame(body);
    bind_formals(&s, params, &first);
    compile_body(&e, body, 1);
    sc_val code = make_code(&e, nreq, rest, name);
    free(e.code);
    free(s.vars);
    return code;
}

sc_val sc_compile_toplevel(sc_val x, const char *file, long line)
{
    scope s = { .toplevel = 1 };
    emitter e = { .sc = &s, .file = file ? sc_intern(file) : SC_FALSE, .line = line };
    compile(&e, x, 1);
    sc_val code = make_code(&e, 0, 0, SC_FALSE);
    free(e.code);
    free(s.vars);
    sc_val clo = sc_alloc_slots(SC_CLOSURE, SC_CLO_SLOTS);
    SC_SET(clo, SC_CLO_CODE, code);
    return clo;
}

/* ---- The open-coded primitives ---------------------------------------------------- */

int sc_open_coded(sc_val sym, int argc)
{
    static const struct {
        const char *name;
        int argc, op;
    } table[] = {
        {"+", 2, OP_ADD}, {"-", 2, OP_SUB}, {"*", 2, OP_MUL}, {"<", 2, OP_LT},
        {">", 2, OP_GT}, {"<=", 2, OP_LE}, {">=", 2, OP_GE}, {"=", 2, OP_NUMEQ},
        {"car", 1, OP_CAR}, {"cdr", 1, OP_CDR}, {"cons", 2, OP_CONS}, {"eq?", 2, OP_EQ},
        {"null?", 1, OP_NULLP}, {"pair?", 1, OP_PAIRP}, {"not", 1, OP_NOT},
        {"zero?", 1, OP_ZEROP}, {"vector-ref", 2, OP_VREF}, {"vector-set!", 3, OP_VSET},
    };
    const char *name = sc_symbol_name(sym);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].argc == argc && strcmp(table[i].name, name) == 0)
            return table[i].op;
    return -1;
}

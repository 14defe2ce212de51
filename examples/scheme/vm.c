/* vm.c: the virtual machine that runs compiled lambdas (vm.h), one per
 * interpreter thread, and the control primitives.
 *
 * The value stack is an array in tricolor's heap (no header: every word a
 * value), written through tc_store like any object and reached from a
 * barriered root, so the collector scans it beside the program, in
 * chunks, however deep it is; it grows by doubling (one tc_store_range).
 * A call pushes its continuation (the caller's code, pc, frame and frame
 * pointer) on it, so Scheme recursion never deepens the C stack: 100,000
 * nested calls cost 400,000 words of heap. A tail call pushes nothing.
 * Each call of a closure allocates its frame (an SC_FRAME holding every
 * variable of the lambda); the registers (code, pc, frame) live in C
 * locals of run(), which the conservative scan of the thread's stack
 * covers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm.h"

/* What of a VM the collector must see: a barriered root range (written
 * through tc_store(NULL, ...)). */
typedef struct vm_roots {
    sc_val stack;    /* the value stack's array */
    sc_val irritant; /* the error being unwound */
} vm_roots;

typedef struct vm {
    vm_roots *roots;
    sc_val *stack; /* == roots->stack */
    size_t cap, sp, fp; /* words; sp: the next free; fp: the current continuation's top */
    sc_val code;        /* the running code, for the profile's frames (not a root) */
    jmp_buf *top;       /* where errors unwind to */
    char msg[512];
} vm;

static __thread vm *cur;

/* ---- The stack ------------------------------------------------------------------------ */

static _Noreturn void oom(void)
{
    fprintf(stderr, "scheme: out of memory\n");
    exit(1);
}

static void grow(vm *m, size_t need)
{
    size_t cap = m->cap ? m->cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > ((size_t)1 << 28))
        sc_error(SC_DEFAULT, "stack overflow (%zu words)", cap);
    sc_val *s = tc_alloc_array(sc_slot_type, cap);
    if (!s)
        oom();
    if (m->sp)
        tc_store_range(s, s, m->stack, m->sp);
    tc_store(NULL, &m->roots->stack, s);
    m->stack = s;
    m->cap = cap;
}

void sc_vm_attach(void)
{
    vm *m = calloc(1, sizeof *m);
    vm_roots *r = calloc(1, sizeof *r);
    if (!m || !r || tc_root_add_barriered(r, sizeof *r) != 0)
        oom();
    m->roots = r;
    cur = m;
    grow(m, 1024);
}

void sc_vm_detach(void)
{
    vm *m = cur;
    if (!m)
        return;
    tc_root_remove(m->roots);
    free(m->roots);
    free(m);
    cur = NULL;
}

#define PUSH(v) \
    do { \
        if (sp == m->cap) { \
            m->sp = sp; \
            grow(m, sp + 1); \
            S = m->stack; \
        } \
        tc_store(S, &S[sp], (void *)(v)); \
        sp++; \
    } while (0)

/* ---- Errors ------------------------------------------------------------------------- */

static void vm_error(const char *msg, sc_val irritant)
{
    vm *m = cur;
    if (!m || !m->top) {
        fprintf(stderr, "error: %s\n", msg);
        exit(1);
    }
    snprintf(m->msg, sizeof m->msg, "%s", msg);
    tc_store(NULL, &m->roots->irritant, (void *)irritant);
    longjmp(*m->top, 1);
}

/* ---- Primitives ------------------------------------------------------------------- */

void sc_defprim(const char *name, sc_prim_fn fn, int min, int max)
{
    sc_val sym = sc_intern(name);
    sc_val c = sc_alloc_atomic(SC_BYTEVECTOR, sizeof(sc_prim_c), sizeof(sc_prim_c) - sizeof(sc_val));
    sc_prim_c *pc = (sc_prim_c *)sc_obj(c);
    pc->fn = fn;
    pc->min = min;
    pc->max = max;
    pc->special = SC_PRIM_PLAIN;
    sc_val p = sc_alloc_slots(SC_PRIMITIVE, SC_PRIM_SLOTS);
    SC_SET(p, SC_PRIM_NAME, sym);
    SC_SET(p, SC_PRIM_C, c);
    sc_define_global(sym, p);
}

sc_prim_fn sc_prim_fn_of(sc_val prim, int *min, int *max)
{
    const sc_prim_c *pc = (const sc_prim_c *)sc_obj(SC_SLOT(prim, SC_PRIM_C));
    if (min)
        *min = pc->min;
    if (max)
        *max = pc->max;
    return pc->fn;
}

int sc_is_procedure(sc_val v)
{
    return sc_is(v, SC_CLOSURE) || sc_is(v, SC_PRIMITIVE);
}

/* ---- Arithmetic's slow paths (the open-coded ops fall back here) ------------- */

sc_val sc_num_add(sc_val a, sc_val b)
{
    return sc_integer_checked("+", (__int128)sc_check_integer("+", a) + sc_check_integer("+", b));
}

sc_val sc_num_sub(sc_val a, sc_val b)
{
    return sc_integer_checked("-", (__int128)sc_check_integer("-", a) - sc_check_integer("-", b));
}

sc_val sc_num_mul(sc_val a, sc_val b)
{
    return sc_integer_checked("*", (__int128)sc_check_integer("*", a) * sc_check_integer("*", b));
}

int sc_num_cmp(const char *who, sc_val a, sc_val b)
{
    int64_t x = sc_check_integer(who, a), y = sc_check_integer(who, b);
    return x < y ? -1 : x > y;
}

/* ---- The interpreter loop ------------------------------------------------------------- */

/* Binds argc arguments at S[base..] into a new frame for closure f. */
static sc_val make_frame(vm *m, sc_val f, size_t base, int argc)
{
    sc_val code = SC_SLOT(f, SC_CLO_CODE);
    int64_t shape = sc_fixnum_value(SC_SLOT(code, SC_CODE_SHAPE));
    int nreq = sc_code_nreq(shape), rest = sc_code_rest(shape);
    if (argc < nreq || (!rest && argc > nreq)) {
        sc_val name = SC_SLOT(code, SC_CODE_NAME);
        sc_error(name == SC_FALSE ? f : name, "wrong number of arguments (%d; wanted %s%d) to",
                 argc, rest ? "at least " : "", nreq);
    }
    sc_val fr = sc_alloc_slots(SC_FRAME, 1 + (size_t)sc_code_frame(shape));
    sc_val *slots = sc_obj(fr);
    SC_SET(fr, SC_FRAME_PARENT, SC_SLOT(f, SC_CLO_ENV));
    for (int i = 0; i < nreq; i++)
        tc_store(slots, &slots[SC_FRAME_VARS + i], (void *)m->stack[base + (size_t)i]);
    if (rest) {
        sc_val l = SC_NIL;
        for (int i = argc - 1; i >= nreq; i--)
            l = sc_cons(m->stack[base + (size_t)i], l);
        tc_store(slots, &slots[SC_FRAME_VARS + nreq], (void *)l);
    }
    return fr;
}

/* apply's arguments spread on the stack in place of (apply f a ... list):
 * returns the new argument count; S may move. */
static int spread_apply(vm *m, size_t fpos, int argc)
{
    if (argc < 1)
        sc_error(SC_DEFAULT, "apply: no procedure");
    sc_val *S = m->stack;
    sc_val list = argc >= 2 ? S[fpos + (size_t)argc] : SC_NIL;
    size_t n = sc_list_length(list);
    if (n == SIZE_MAX)
        sc_error(list, "apply: not a proper list:");
    /* f a ... shift down one (over the apply primitive), then the list. */
    for (int i = 0; i < argc - 1 + (argc == 1); i++)
        tc_store(S, &S[fpos + (size_t)i], (void *)S[fpos + 1 + (size_t)i]);
    size_t sp = fpos + (size_t)(argc >= 2 ? argc - 1 : 1);
    if (sp + n >= m->cap) {
        m->sp = sp;
        grow(m, sp + n + 1);
        S = m->stack;
    }
    for (sc_val l = list; sc_is_pair(l); l = sc_cdr(l))
        tc_store(S, &S[sp++], (void *)sc_car(l));
    m->sp = sp;
    return (int)(sp - fpos - 1);
}

/* Calls between the VM's own polls (tc_safepoint): a few microseconds. */
#define POLL_CALLS 256

/* Runs until the continuation pushed at entry (code #f) is returned to. */
static sc_val run(vm *m, sc_val code, sc_val env, size_t bp)
{
    sc_val *S = m->stack;
    size_t sp = m->sp, fp = m->fp;
    const uint32_t *ip = (const uint32_t *)sc_bytes(SC_SLOT(code, SC_CODE_BYTES));
    sc_val *K = &SC_SLOT(SC_SLOT(code, SC_CODE_CONSTS), 1);
    size_t pc = 0;
    sc_val rv;
    unsigned poll_countdown = POLL_CALLS;
    m->code = code;
#define SYNC() (m->sp = sp, m->fp = fp)
#define RELOAD() (S = m->stack)
    for (;;) {
        uint32_t w = ip[pc++];
        switch (sc_ins_op(w)) {
        case OP_CONST:
            PUSH(K[sc_ins_a(w)]);
            break;
        case OP_FIXNUM:
            PUSH(sc_fixnum((int32_t)(w & 0xffffff00) >> 8));
            break;
        case OP_IMM:
            PUSH((sc_val)sc_ins_a(w));
            break;
        case OP_LREF0:
            PUSH(sc_obj(env)[SC_FRAME_VARS + sc_ins_a(w)]);
            break;
        case OP_LREF: {
            sc_val e = env;
            for (uint32_t d = sc_ins_a(w); d > 0; d--)
                e = SC_SLOT(e, SC_FRAME_PARENT);
            PUSH(sc_obj(e)[SC_FRAME_VARS + ip[pc++]]);
            break;
        }
        case OP_LSET0:
            sp--;
            tc_store(sc_obj(env), &sc_obj(env)[SC_FRAME_VARS + sc_ins_a(w)], (void *)S[sp]);
            break;
        case OP_LSET: {
            sc_val e = env;
            for (uint32_t d = sc_ins_a(w); d > 0; d--)
                e = SC_SLOT(e, SC_FRAME_PARENT);
            sp--;
            tc_store(sc_obj(e), &sc_obj(e)[SC_FRAME_VARS + ip[pc++]], (void *)S[sp]);
            break;
        }
        case OP_GREF: {
            sc_val sym = K[sc_ins_a(w)], v = SC_SLOT(sym, SC_SYM_VALUE);
            if (v == SC_UNBOUND) {
                SYNC();
                sc_error(sym, "unbound variable:");
            }
            PUSH(v);
            break;
        }
        case OP_GSET:
        case OP_GDEF: {
            sc_val sym = K[sc_ins_a(w)];
            sp--;
            if (sc_ins_op(w) == OP_GSET && SC_SLOT(sym, SC_SYM_VALUE) == SC_UNBOUND) {
                SYNC();
                sc_error(sym, "set!: unbound variable:");
            }
            SYNC();
            if (sc_ins_op(w) == OP_GDEF)
                sc_define_global(sym, S[sp]);
            else
                SC_SET(sym, SC_SYM_VALUE, S[sp]);
            RELOAD();
            break;
        }
        case OP_POP:
            sp--;
            break;
        case OP_DUP:
            PUSH(S[sp - 1]);
            break;
        case OP_JMP:
            pc = sc_ins_a(w);
            break;
        case OP_JMPF:
            if (S[--sp] == SC_FALSE)
                pc = sc_ins_a(w);
            break;
        case OP_JMPT:
            if (S[--sp] != SC_FALSE)
                pc = sc_ins_a(w);
            break;
        case OP_CLOSURE: {
            SYNC();
            sc_val clo = sc_alloc_slots(SC_CLOSURE, SC_CLO_SLOTS);
            SC_SET(clo, SC_CLO_CODE, K[sc_ins_a(w)]);
            SC_SET(clo, SC_CLO_ENV, env);
            RELOAD();
            PUSH(clo);
            break;
        }
        case OP_MVBIND: {
            uint32_t first = sc_ins_a(w), shape = ip[pc++];
            int nreq = (int)(shape & 0xffff), rest = (int)(shape >> 16);
            sc_val v = S[--sp];
            size_t n = sc_is(v, SC_VALUES) ? sc_len(v) : 1;
            if (n < (size_t)nreq || (!rest && n > (size_t)nreq)) {
                SYNC();
                sc_error(SC_DEFAULT, "let-values: %zu values for %d variables", n, nreq);
            }
            SYNC();
            sc_val l = SC_NIL;
            if (rest)
                for (size_t i = n; i > (size_t)nreq; i--)
                    l = sc_cons(sc_is(v, SC_VALUES) ? SC_SLOT(v, i) : v, l);
            RELOAD();
            sc_val *slots = sc_obj(env);
            for (int i = 0; i < nreq; i++)
                tc_store(slots, &slots[SC_FRAME_VARS + first + (uint32_t)i],
                         (void *)(sc_is(v, SC_VALUES) ? SC_SLOT(v, (size_t)i + 1) : v));
            if (rest)
                tc_store(slots, &slots[SC_FRAME_VARS + first + (uint32_t)nreq], (void *)l);
            break;
        }
        case OP_FRAME:
            for (int i = 0; i < SC_CONT_WORDS; i++)
                PUSH(SC_FALSE);
            break;
        case OP_CALL:
        case OP_TAILCALL: {
            int argc = (int)sc_ins_a(w), tail = sc_ins_op(w) == OP_TAILCALL;
            size_t fpos = sp - (size_t)argc - 1;
            if (tail && fpos != fp) {
                /* The caller's frame (a stack frame's procedure, arguments
                 * and variables, above fp) goes: the call moves down. */
                for (int i = 0; i <= argc; i++)
                    tc_store(S, &S[fp + (size_t)i], (void *)S[fpos + (size_t)i]);
                fpos = fp;
                sp = fp + (size_t)argc + 1;
            }
        call:;
            sc_val f = S[fpos];
            if (sc_is(f, SC_PRIMITIVE)) {
                const sc_prim_c *c = (const sc_prim_c *)sc_obj(SC_SLOT(f, SC_PRIM_C));
                if (c->special == SC_PRIM_APPLY) {
                    SYNC();
                    argc = spread_apply(m, fpos, argc);
                    RELOAD();
                    sp = m->sp;
                    goto call;
                }
                if (argc < c->min || (c->max >= 0 && argc > c->max)) {
                    SYNC();
                    sc_error(SC_SLOT(f, SC_PRIM_NAME), "wrong number of arguments (%d) to", argc);
                }
                SYNC();
                m->code = code;
                sc_val r = c->fn(argc, &S[fpos + 1]);
                RELOAD();
                if (tail) {
                    rv = r;
                    goto do_ret;
                }
                sp = fpos - SC_CONT_WORDS; /* over the room OP_FRAME made */
                PUSH(r);
                break;
            }
            if (!sc_is(f, SC_CLOSURE)) {
                SYNC();
                sc_error(f, "not a procedure:");
            }
            sc_val fcode = SC_SLOT(f, SC_CLO_CODE), new_env;
            int64_t shape = sc_fixnum_value(SC_SLOT(fcode, SC_CODE_SHAPE));
            int callee_stack = sc_code_stack(shape);
            /* A call into a stack frame allocates nothing, so no allocation
             * polls for a stop: the VM polls itself every POLL_CALLS calls
             * (a recursion over a big tree made a stop wait 20 ms). */
            if (--poll_countdown == 0) {
                poll_countdown = POLL_CALLS;
                SYNC();
                tc_safepoint();
            }
            if (!tail) {
                sc_val *k = &S[fpos - SC_CONT_WORDS];
                tc_store(S, &k[0], (void *)code);
                tc_store(S, &k[1], (void *)sc_fixnum((int64_t)pc));
                tc_store(S, &k[2], (void *)env);
                tc_store(S, &k[3], (void *)sc_fixnum((int64_t)bp));
                tc_store(S, &k[4], (void *)sc_fixnum((int64_t)fp));
                fp = fpos;
            }
            if (callee_stack) {
                if (argc != sc_code_nreq(shape)) {
                    SYNC();
                    sc_val name = SC_SLOT(fcode, SC_CODE_NAME);
                    sc_error(name == SC_FALSE ? f : name,
                             "wrong number of arguments (%d; wanted %d) to", argc,
                             sc_code_nreq(shape));
                }
                /* The arguments stay; the other variables go above them. */
                for (int i = argc; i < sc_code_frame(shape); i++)
                    PUSH(SC_FALSE);
                new_env = SC_SLOT(f, SC_CLO_ENV);
                bp = fp + 1;
            } else {
                SYNC();
                new_env = make_frame(m, f, fpos + 1, argc);
                RELOAD();
                sp = fp;
            }
            env = new_env;
            code = fcode;
            ip = (const uint32_t *)sc_bytes(SC_SLOT(code, SC_CODE_BYTES));
            K = &SC_SLOT(SC_SLOT(code, SC_CODE_CONSTS), 1);
            pc = 0;
            m->code = code;
            break;
        }
        case OP_RET:
            rv = S[--sp];
        do_ret: {
            sc_val *k = &S[fp - SC_CONT_WORDS];
            sp = fp - SC_CONT_WORDS;
            code = k[0];
            pc = (size_t)sc_fixnum_value(k[1]);
            env = k[2];
            bp = (size_t)sc_fixnum_value(k[3]);
            fp = (size_t)sc_fixnum_value(k[4]);
            if (code == SC_FALSE) {
                m->sp = sp;
                m->fp = fp;
                return rv;
            }
            ip = (const uint32_t *)sc_bytes(SC_SLOT(code, SC_CODE_BYTES));
            K = &SC_SLOT(SC_SLOT(code, SC_CODE_CONSTS), 1);
            m->code = code;
            PUSH(rv);
            break;
        }
        case OP_SREF:
            PUSH(S[bp + sc_ins_a(w)]);
            break;
        case OP_SSET:
            sp--;
            tc_store(S, &S[bp + sc_ins_a(w)], (void *)S[sp]);
            break;
#define BINARY_FIX(OPC, EXPR, SLOW) \
        case OPC: { \
            sc_val b = S[--sp], a = S[sp - 1], r; \
            if (sc_is_fixnum(a) && sc_is_fixnum(b) && (EXPR)) { \
            } else { \
                SYNC(); \
                r = SLOW; \
                RELOAD(); \
            } \
            tc_store(S, &S[sp - 1], (void *)r); \
            break; \
        }
        BINARY_FIX(OP_ADD, !__builtin_add_overflow((intptr_t)a - 1, (intptr_t)b, (intptr_t *)&r),
                   sc_num_add(a, b))
        BINARY_FIX(OP_SUB, !__builtin_sub_overflow((intptr_t)a, (intptr_t)b - 1, (intptr_t *)&r),
                   sc_num_sub(a, b))
        BINARY_FIX(OP_MUL, !__builtin_mul_overflow((intptr_t)a >> 1, (intptr_t)b - 1, (intptr_t *)&r) &&
                               (r |= 1, 1),
                   sc_num_mul(a, b))
#define COMPARE(OPC, WHO, REL) \
        case OPC: { \
            sc_val b = S[--sp], a = S[sp - 1]; \
            int t; \
            if (sc_is_fixnum(a) && sc_is_fixnum(b)) \
                t = (intptr_t)a REL (intptr_t)b; \
            else { \
                SYNC(); \
                t = sc_num_cmp(WHO, a, b) REL 0; \
            } \
            tc_store(S, &S[sp - 1], (void *)sc_bool(t)); \
            break; \
        }
        COMPARE(OP_LT, "<", <)
        COMPARE(OP_GT, ">", >)
        COMPARE(OP_LE, "<=", <=)
        COMPARE(OP_GE, ">=", >=)
        COMPARE(OP_NUMEQ, "=", ==)
        case OP_CAR:
        case OP_CDR: {
            sc_val p = S[sp - 1];
            if (!sc_is_pair(p)) {
                SYNC();
                sc_error(p, "%s: not a pair:", sc_ins_op(w) == OP_CAR ? "car" : "cdr");
            }
            tc_store(S, &S[sp - 1], (void *)(sc_ins_op(w) == OP_CAR ? sc_car(p) : sc_cdr(p)));
            break;
        }
        case OP_CONS: {
            SYNC();
            sc_val p = sc_cons(S[sp - 2], S[sp - 1]);
            RELOAD();
            sp--;
            tc_store(S, &S[sp - 1], (void *)p);
            break;
        }
        case OP_EQ:
            sp--;
            tc_store(S, &S[sp - 1], (void *)sc_bool(S[sp - 1] == S[sp]));
            break;
        case OP_NULLP:
            tc_store(S, &S[sp - 1], (void *)sc_bool(S[sp - 1] == SC_NIL));
            break;
        case OP_PAIRP:
            tc_store(S, &S[sp - 1], (void *)sc_bool(sc_is_pair(S[sp - 1])));
            break;
        case OP_NOT:
            tc_store(S, &S[sp - 1], (void *)sc_bool(S[sp - 1] == SC_FALSE));
            break;
        case OP_ZEROP: {
            sc_val a = S[sp - 1];
            if (!sc_is_integer(a)) {
                SYNC();
                sc_error(a, "zero?: not a number:");
            }
            tc_store(S, &S[sp - 1], (void *)sc_bool(a == sc_fixnum(0)));
            break;
        }
        case OP_VREF: {
            sc_val v = S[sp - 2], i = S[sp - 1];
            if (!sc_is(v, SC_VECTOR) || !sc_is_fixnum(i) || sc_fixnum_value(i) < 0 ||
                (size_t)sc_fixnum_value(i) >= sc_len(v)) {
                SYNC();
                sc_error(sc_is(v, SC_VECTOR) ? i : v, "vector-ref: %s:",
                         sc_is(v, SC_VECTOR) ? "bad index" : "not a vector");
            }
            sp--;
            tc_store(S, &S[sp - 1], (void *)SC_SLOT(v, (size_t)sc_fixnum_value(i) + 1));
            break;
        }
        case OP_VSET: {
            sc_val v = S[sp - 3], i = S[sp - 2], x = S[sp - 1];
            if (!sc_is(v, SC_VECTOR) || !sc_is_fixnum(i) || sc_fixnum_value(i) < 0 ||
                (size_t)sc_fixnum_value(i) >= sc_len(v)) {
                SYNC();
                sc_error(sc_is(v, SC_VECTOR) ? i : v, "vector-set!: %s:",
                         sc_is(v, SC_VECTOR) ? "bad index" : "not a vector");
            }
            SC_SET(v, (size_t)sc_fixnum_value(i) + 1, x);
            sp -= 2;
            tc_store(S, &S[sp - 1], (void *)SC_UNSPEC);
            break;
        }
        default:
            SYNC();
            sc_error(SC_DEFAULT, "bad instruction %u", (unsigned)w);
        }
    }
}

/* Pushes the continuation that ends a run (code #f) and enters closure f
 * with the argc arguments at argv (which may be on the stack). */
static sc_val call_closure(vm *m, sc_val f, int argc, const sc_val *argv)
{
    size_t base_sp = m->sp, base_fp = m->fp;
    sc_val code = SC_SLOT(f, SC_CLO_CODE);
    int64_t shape = sc_fixnum_value(SC_SLOT(code, SC_CODE_SHAPE));
    size_t need = base_sp + SC_CONT_WORDS + (size_t)argc + (size_t)sc_code_frame(shape) + 8;
    if (need >= m->cap)
        grow(m, need);
    sc_val *S = m->stack;
    size_t sp = base_sp;
    /* As a call from the VM lays it out: the continuation that ends run()
     * (code #f), f, the arguments, then (a stack frame) the other
     * variables. */
    tc_store(S, &S[sp++], (void *)SC_FALSE);
    tc_store(S, &S[sp++], (void *)sc_fixnum(0));
    tc_store(S, &S[sp++], (void *)SC_FALSE);
    tc_store(S, &S[sp++], (void *)sc_fixnum(0));
    tc_store(S, &S[sp++], (void *)sc_fixnum((int64_t)m->fp));
    size_t fp = sp;
    tc_store(S, &S[sp++], (void *)f);
    for (int i = 0; i < argc; i++)
        tc_store(S, &S[sp++], (void *)argv[i]);
    m->sp = sp;
    sc_val env;
    size_t bp = 0;
    if (sc_code_stack(shape)) {
        if (argc != sc_code_nreq(shape)) {
            sc_val name = SC_SLOT(code, SC_CODE_NAME);
            sc_error(name == SC_FALSE ? f : name, "wrong number of arguments (%d; wanted %d) to",
                     argc, sc_code_nreq(shape));
        }
        for (int i = argc; i < sc_code_frame(shape); i++)
            tc_store(S, &S[sp++], (void *)SC_FALSE);
        env = SC_SLOT(f, SC_CLO_ENV);
        bp = fp + 1;
    } else {
        env = make_frame(m, f, fp + 1, argc);
        sp = fp;
    }
    m->sp = sp;
    m->fp = fp;
    sc_val r = run(m, code, env, bp);
    m->sp = base_sp;
    m->fp = base_fp;
    return r;
}

sc_val sc_apply(sc_val f, int argc, const sc_val *argv)
{
    vm *m = cur;
    if (sc_is(f, SC_PRIMITIVE)) {
        const sc_prim_c *c = (const sc_prim_c *)sc_obj(SC_SLOT(f, SC_PRIM_C));
        if (c->special == SC_PRIM_APPLY) {
            /* (apply g a ... list) called from C: spread it here. */
            if (argc < 1)
                sc_error(SC_DEFAULT, "apply: no procedure");
            sc_val list = argc >= 2 ? argv[argc - 1] : SC_NIL;
            size_t n = sc_list_length(list);
            if (n == SIZE_MAX)
                sc_error(list, "apply: not a proper list:");
            int k = argc >= 2 ? argc - 2 : 0;
            sc_val *args = malloc(((size_t)k + n + 1) * sizeof *args);
            if (!args)
                oom();
            /* (on the C heap only while nothing allocates: copied to the
             * VM stack by the call before any allocation) */
            for (int i = 0; i < k; i++)
                args[i] = argv[1 + i];
            for (sc_val l = list; sc_is_pair(l); l = sc_cdr(l))
                args[k++] = sc_car(l);
            sc_val g = argv[0];
            if (sc_is(g, SC_CLOSURE)) {
                sc_val r = call_closure(m, g, k, args);
                free(args);
                return r;
            }
            sc_val r = sc_apply(g, k, args);
            free(args);
            return r;
        }
        if (argc < c->min || (c->max >= 0 && argc > c->max))
            sc_error(SC_SLOT(f, SC_PRIM_NAME), "wrong number of arguments (%d) to", argc);
        return c->fn(argc, (sc_val *)argv);
    }
    if (!sc_is(f, SC_CLOSURE))
        sc_error(f, "not a procedure:");
    return call_closure(m, f, argc, argv);
}

/* ---- Running top-level forms ---------------------------------------------------------- */

sc_val sc_run_thunk(sc_val thunk)
{
    return sc_apply(thunk, 0, NULL);
}

/* Runs fn(arg) with errors unwinding to here: 0, or -1 after printing the
 * error on stderr. */
static int protect(void (*fn)(void *), void *arg)
{
    vm *m = cur;
    jmp_buf jb, *saved = m->top;
    size_t sp = m->sp, fp = m->fp;
    m->top = &jb;
    if (setjmp(jb)) {
        m->top = saved;
        m->sp = sp;
        m->fp = fp;
        sc_ports_reset_current();
        sc_port_flush(sc_current_output());
        fprintf(stderr, "error: %s", m->msg);
        sc_val irr = m->roots->irritant;
        if (irr != SC_DEFAULT) {
            fputc(' ', stderr);
            sc_fprint(stderr, irr, 1);
        }
        fputc('\n', stderr);
        tc_store(NULL, &m->roots->irritant, (void *)SC_FALSE);
        return -1;
    }
    fn(arg);
    m->top = saved;
    return 0;
}

typedef struct load_state {
    sc_val port;
    const char *file;
} load_state;

static void load_forms(void *arg)
{
    load_state *ls = arg;
    for (;;) {
        long line = 0;
        sc_val x = sc_read(ls->port, &line);
        if (x == SC_EOF)
            return;
        sc_run_thunk(sc_compile_toplevel(x, ls->file, line));
    }
}

int sc_load_port(sc_val port, const char *file)
{
    load_state ls = { port, file };
    return protect(load_forms, &ls);
}

typedef struct eval_state {
    sc_val x, result;
    long line;
} eval_state;

static void eval_one(void *arg)
{
    eval_state *es = arg;
    es->result = sc_run_thunk(sc_compile_toplevel(es->x, "repl", es->line));
}

int sc_eval_protected(sc_val x, long line, sc_val *result)
{
    eval_state es = { x, SC_UNSPEC, line };
    int rc = protect(eval_one, &es);
    *result = es.result;
    return rc;
}

int sc_run_protected(void (*fn)(void *), void *arg)
{
    return protect(fn, arg);
}

/* ---- The profile's frames --------------------------------------------------------------- */

static void frame_of(sc_val code, tc_frame *f)
{
    sc_val name = SC_SLOT(code, SC_CODE_NAME), file = SC_SLOT(code, SC_CODE_FILE);
    f->function = name == SC_FALSE ? "(anonymous)" : sc_symbol_name(name);
    f->file = file == SC_FALSE ? "" : sc_symbol_name(file);
    f->line = sc_fixnum_value(SC_SLOT(code, SC_CODE_LINE));
}

/* The running procedure, then each caller from the continuations on the
 * stack: called inside an allocation, reads only. */
static int profile_frames(void *arg, tc_frame *frames, int max)
{
    (void)arg;
    vm *m = cur;
    if (!m || !m->code || max <= 0)
        return 0;
    int n = 0;
    frame_of(m->code, &frames[n++]);
    for (size_t fp = m->fp; fp >= SC_CONT_WORDS && n < max;) {
        sc_val code = m->stack[fp - SC_CONT_WORDS];
        if (!sc_is(code, SC_CODE))
            break; /* a run's first continuation: the C caller's */
        frame_of(code, &frames[n++]);
        fp = (size_t)sc_fixnum_value(m->stack[fp - 1]);
    }
    return n;
}

/* ---- What control.c needs of the VM -------------------------------------------------- */

/* The stack above its top holds what popped frames left: values the
 * program dropped, which the collector would keep as long as they stay
 * there (it scans the whole array). Cleared before an explicit
 * collection, whose caller expects what it dropped to go; between them,
 * a push overwrites them as the stack grows again. */
void sc_vm_clear_stale(void)
{
    vm *m = cur;
    if (m->cap > m->sp)
        tc_fill_range(m->stack, &m->stack[m->sp], NULL, m->cap - m->sp);
}

void sc_vm_init(void)
{
    sc_error_handler = vm_error;
    tc_set_profile_frames(profile_frames, NULL);
}

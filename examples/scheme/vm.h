/* vm.h: what the compiler (compile.c) and the VM (vm.c) share: the
 * instructions, the layout of a compiled lambda, the primitives the
 * compiler open-codes.
 *
 * An instruction is a 32-bit word: the opcode in the low 8 bits, an
 * operand in the high 24 (an index, a count, a jump target); LREF and LSET
 * of an outer frame take a second word.
 */
#ifndef SCHEME_VM_H
#define SCHEME_VM_H

#include "scheme.h"

enum sc_op {
    OP_CONST,    /* push constants[a] */
    OP_FIXNUM,   /* push the fixnum a (sign-extended 24 bits) */
    OP_IMM,      /* push the immediate a (SC_FALSE, SC_TRUE, SC_NIL, SC_UNSPEC) */
    OP_LREF0,    /* push slot a of the current frame */
    OP_LREF,     /* a: depth; next word: slot. push that frame's slot */
    OP_LSET0,    /* pop into slot a of the current frame */
    OP_LSET,     /* a: depth; next word: slot. pop into it */
    OP_GREF,     /* push the global value of symbol constants[a] (error when unbound) */
    OP_GSET,     /* pop into the bound global constants[a] (error when unbound) */
    OP_GDEF,     /* pop into global constants[a], defining it */
    OP_POP,
    OP_DUP,
    OP_JMP,      /* pc = a */
    OP_JMPF,     /* pop; pc = a when it is #f */
    OP_JMPT,     /* pop; pc = a when it is not #f */
    OP_FRAME,    /* push room for a call's continuation (SC_CONT_WORDS), before the
                    procedure and its arguments of a call not in tail position */
    OP_CALL,     /* call the procedure below a arguments on the stack */
    OP_TAILCALL, /* the same in tail position: the caller's continuation is reused */
    OP_RET,      /* return the top of the stack */
    OP_CLOSURE,  /* push a closure of code constants[a] over the current frame */
    OP_MVBIND,   /* a: first slot; next word: nreq | rest << 16. pop a value or an
                    SC_VALUES object into slots a.. (a list for the rest) */
    OP_SREF,     /* push variable a of a stack frame (S[bp + a]) */
    OP_SSET,     /* pop into variable a of a stack frame */
    /* Open-coded primitives (the compiler emits them only while the global
     * still holds the standard procedure): fast paths for fixnums and
     * pairs, the generic primitive otherwise. */
    OP_ADD, OP_SUB, OP_MUL, OP_LT, OP_GT, OP_LE, OP_GE, OP_NUMEQ,
    OP_CAR, OP_CDR, OP_CONS, OP_EQ, OP_NULLP, OP_PAIRP, OP_NOT, OP_ZEROP,
    OP_VREF, OP_VSET,
    OP_COUNT
};

static inline uint32_t sc_ins(int op, uint32_t a) { return (uint32_t)op | (a << 8); }
static inline int sc_ins_op(uint32_t w) { return (int)(w & 0xff); }
static inline uint32_t sc_ins_a(uint32_t w) { return w >> 8; }
static inline int32_t sc_ins_sa(uint32_t w) { return (int32_t)w >> 8; }

/* A compiled lambda (SC_CODE): its slots after the header. */
enum {
    SC_CODE_BYTES = 1, /* an SC_BYTEVECTOR of the instructions (uint32_t each) */
    SC_CODE_CONSTS,    /* an SC_VECTOR */
    SC_CODE_NAME,      /* a symbol, or #f */
    SC_CODE_SHAPE,     /* fixnum: nreq | rest << 16 | stack frame << 17 | frame size << 18 */
    SC_CODE_FILE,      /* a symbol naming the source file, or #f */
    SC_CODE_LINE,      /* fixnum */
    SC_CODE_SLOTS = 6
};
static inline int sc_code_nreq(int64_t shape) { return (int)(shape & 0xffff); }
static inline int sc_code_rest(int64_t shape) { return (int)((shape >> 16) & 1); }
static inline int sc_code_stack(int64_t shape) { return (int)((shape >> 17) & 1); }
static inline int sc_code_frame(int64_t shape) { return (int)(shape >> 18); }
/* A call's continuation on the VM stack, right below the procedure and
 * its arguments (OP_FRAME made room for it): the caller's code, pc, heap
 * frame, stack frame base and frame pointer, in this order; fp points past
 * it, at the procedure's slot, and a stack frame's arguments follow (bp is
 * fp + 1). A tail call moves the new procedure and arguments down to fp. */
enum { SC_CONT_WORDS = 5 };

/* A closure: SC_CLOSURE slots. */
enum { SC_CLO_CODE = 1, SC_CLO_ENV, SC_CLO_SLOTS = 2 };
/* A frame: SC_FRAME slots: the parent, then the variables (slot 0 of the
 * instructions is slot 2 of the object). A lambda that makes no closure
 * (no inner lambda, named let, do, internal define, let-values) has a
 * stack frame instead: its arguments stay where the call pushed them, its
 * other variables above them, addressed from the base bp (OP_SREF,
 * OP_SSET), and nothing is allocated for the call. */
enum { SC_FRAME_PARENT = 1, SC_FRAME_VARS = 2 };

/* A primitive: SC_PRIMITIVE slots; the C function in a pointer-free block. */
enum { SC_PRIM_NAME = 1, SC_PRIM_C, SC_PRIM_SLOTS = 2 };
typedef struct sc_prim_c {
    sc_val hdr;
    sc_prim_fn fn;
    int min, max;
    int special; /* SC_PRIM_APPLY: the VM spreads the arguments itself */
} sc_prim_c;
enum { SC_PRIM_PLAIN = 0, SC_PRIM_APPLY = 1 };

/* The open-coded primitives: the global's name, its opcode, its argument
 * count (compile.c's table). */
int sc_open_coded(sc_val sym, int argc);

/* vm.c: the generic primitives behind the open-coded ones (their slow
 * paths) call these. */
sc_val sc_num_add(sc_val a, sc_val b);
sc_val sc_num_sub(sc_val a, sc_val b);
sc_val sc_num_mul(sc_val a, sc_val b);
int sc_num_cmp(const char *who, sc_val a, sc_val b); /* -1, 0, 1 */

/* vm.c: the stack's words above its top cleared (before an explicit
 * collection); the VM's error handler and profile frames installed. */
void sc_vm_clear_stale(void);
void sc_vm_init(void);

/* compile.c: an uninterned symbol (the expansions' temporaries). */
sc_val sc_gensym(const char *base);
/* main.c's prelude, compiled at start: procedures written in Scheme. */
extern const char sc_prelude[];

#endif

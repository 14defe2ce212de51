/* scheme.h: the interpreter's shared contract: how values are represented,
 * the layouts of the objects in tricolor's heap, and what each file of
 * examples/scheme/ offers the others.
 *
 * Values (sc_val, one word):
 *   ...xxx1      a fixnum: the integer is the word shifted right by one
 *                (63 bits; arithmetic that overflows is an error)
 *   ...0010      a pair: the address of its sc_pair plus 2 (an interior
 *                pointer, which the collector follows as any other)
 *   ...0110      an immediate: #f #t () the unspecified value, the end of
 *                file, the default object; a character is (code << 8) | 0x0e
 *   ...0000      any other heap object: its address (16-byte aligned). Its
 *                first word is its header (sc_hdr), itself fixnum-tagged so
 *                that it reads as no pointer: every word of an object but a
 *                string's text is a value the collector may trace.
 *
 * Every object lives in tricolor's heap with a precise layout: a pair is
 * two value slots; every headed object is an array of value slots
 * (tc_alloc_array of the one-slot type sc_slot_type), so the markers scan
 * a big vector in chunks and vector-copy! is one tc_store_range; a
 * string's code points, a bytevector's bytes and a port's C state are
 * pointer-free (tc_alloc_atomic_zeroed) behind their header. Every store of a
 * value into an object goes through tc_store (SC_SET below); the VM's
 * value stack is a heap array too, written the same way.
 */
#ifndef SCHEME_H
#define SCHEME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tricolor.h"

typedef uintptr_t sc_val;

/* ---- Immediates and fixnums ------------------------------------------------ */

#define SC_FALSE ((sc_val)0x06)
#define SC_TRUE ((sc_val)0x16)
#define SC_NIL ((sc_val)0x26)
#define SC_UNSPEC ((sc_val)0x36)
#define SC_EOF ((sc_val)0x46)
#define SC_DEFAULT ((sc_val)0x56) /* an optional argument not given */
#define SC_UNBOUND ((sc_val)0x66) /* a global never defined */

#define SC_FIXNUM_MAX ((int64_t)(INTPTR_MAX >> 1))
#define SC_FIXNUM_MIN ((int64_t)(INTPTR_MIN >> 1))

static inline int sc_is_fixnum(sc_val v) { return (v & 1) != 0; }
static inline sc_val sc_fixnum(int64_t n) { return ((sc_val)n << 1) | 1; }
static inline int64_t sc_fixnum_value(sc_val v) { return (int64_t)(intptr_t)v >> 1; }

static inline int sc_is_char(sc_val v) { return (v & 0xff) == 0x0e; }
static inline sc_val sc_char(uint32_t cp) { return ((sc_val)cp << 8) | 0x0e; }
static inline uint32_t sc_char_value(sc_val v) { return (uint32_t)(v >> 8); }

static inline sc_val sc_bool(int b) { return b ? SC_TRUE : SC_FALSE; }
static inline int sc_truthy(sc_val v) { return v != SC_FALSE; }

/* ---- Pairs ---------------------------------------------------------------------- */

typedef struct sc_pair {
    sc_val car, cdr;
} sc_pair;

static inline int sc_is_pair(sc_val v) { return (v & 0xf) == 0x2; }
static inline sc_pair *sc_pair_of(sc_val v) { return (sc_pair *)(v - 2); }
static inline sc_val sc_car(sc_val v) { return sc_pair_of(v)->car; }
static inline sc_val sc_cdr(sc_val v) { return sc_pair_of(v)->cdr; }

/* ---- Headed objects -------------------------------------------------------------- */

enum sc_kind {
    SC_STRING = 1, /* atomic: hdr, then len code points (uint32_t) */
    SC_SYMBOL,     /* hdr, name (a string), global value, flags, the name's UTF-8 */
    SC_VECTOR,     /* hdr, len values */
    SC_BYTEVECTOR, /* atomic: hdr, then len bytes */
    SC_CLOSURE,    /* hdr, code (an SC_CODE), env (an SC_FRAME or #f) */
    SC_PRIMITIVE,  /* hdr, name (a symbol), then the C side: see sc_prim */
    SC_CODE,       /* a compiled lambda: see sc_code */
    SC_FRAME,      /* an environment frame: hdr (len), parent, len - 1 slots */
    SC_RECORD,     /* hdr (len), record type, fields */
    SC_RECTYPE,    /* hdr, name (a symbol), field names (a list), nfields */
    SC_HASHTABLE,  /* see sc_table */
    SC_PORT,       /* hdr, state (SC_PORT_STATE), string (SC_PORT_STRING): see port.c */
    SC_VALUES,     /* hdr (len), values: what (values a b ...) returns */
    SC_BOX,        /* hdr, value: a mutable cell */
    SC_THREAD,     /* see the threads' file */
    SC_MUTEX,
    SC_INT64,      /* atomic: hdr, then an int64_t beyond the fixnums' range */
    SC_KINDS
};

/* The header: kind in the low 8 bits, length (slots after the header, or
 * code points, or bytes) above, fixnum-tagged. */
static inline sc_val sc_hdr(int kind, size_t len) { return sc_fixnum((int64_t)((len << 8) | (size_t)kind)); }
static inline int sc_is_obj(sc_val v) { return v != 0 && (v & 0xf) == 0; }
static inline sc_val *sc_obj(sc_val v) { return (sc_val *)v; }
static inline int sc_kind(sc_val v) { return (int)(sc_fixnum_value(sc_obj(v)[0]) & 0xff); }
static inline size_t sc_len(sc_val v) { return (size_t)sc_fixnum_value(sc_obj(v)[0]) >> 8; }
static inline int sc_is(sc_val v, int kind) { return sc_is_obj(v) && sc_kind(v) == kind; }

/* Slot i (from 1: 0 is the header) of headed object v. */
#define SC_SLOT(v, i) (sc_obj(v)[(i)])
/* Stores x into slot i of headed object v, through the write barrier. */
#define SC_SET(v, i, x) tc_store(sc_obj(v), &sc_obj(v)[(i)], (void *)(x))
/* Stores into a pair. */
#define SC_SET_CAR(p, x) tc_store(sc_pair_of(p), &sc_pair_of(p)->car, (void *)(x))
#define SC_SET_CDR(p, x) tc_store(sc_pair_of(p), &sc_pair_of(p)->cdr, (void *)(x))

/* Exact integers: 64 bits, a fixnum when it fits 63, else an SC_INT64
 * box; arithmetic past 64 bits is an error (numbers.c). */
static inline int sc_is_integer(sc_val v) { return sc_is_fixnum(v) || sc_is(v, SC_INT64); }
static inline int64_t sc_integer_value(sc_val v)
{
    return sc_is_fixnum(v) ? sc_fixnum_value(v) : *(const int64_t *)(sc_obj(v) + 1);
}
/* n as a value (allocates a box beyond the fixnums). */
sc_val sc_integer(int64_t n);
/* n as a value, or an error naming who when it does not fit 64 bits. */
sc_val sc_integer_checked(const char *who, __int128 n);
/* An error naming who unless v is an exact integer. */
int64_t sc_check_integer(const char *who, sc_val v);

/* Strings: code points after the header (UTF-32: string-ref is O(1)). */
static inline uint32_t *sc_string_chars(sc_val s) { return (uint32_t *)(sc_obj(s) + 1); }
/* Bytevectors: bytes after the header. */
static inline uint8_t *sc_bytes(sc_val b) { return (uint8_t *)(sc_obj(b) + 1); }

/* Symbols. */
enum { SC_SYM_NAME = 1, SC_SYM_VALUE, SC_SYM_FLAGS, SC_SYM_UTF8, SC_SYM_SLOTS = 4 };
/* The flags (a fixnum): the symbol has a global binding (kept by the
 * globals' list); the program has defined or set! it (so the compiler does
 * not open-code it as the primitive it was). */
enum { SC_SYMF_GLOBAL = 1, SC_SYMF_USER_SET = 2 };

/* ---- Errors ------------------------------------------------------------------------- */

/* Raises a Scheme error: the message (printf-style) and, unless it is
 * SC_DEFAULT, an irritant written after it. Does not return: the
 * running thread's top level takes it (the REPL prints it and goes on; a
 * file run prints it on stderr and exits 1). */
_Noreturn void sc_error(sc_val irritant, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Set by the VM: takes the message and irritant, unwinds to the thread's
 * top level, never returns. Unset (a test of one file), sc_error prints
 * and exits 1. */
extern void (*sc_error_handler)(const char *msg, sc_val irritant);
/* The usual checks: an error naming the procedure when v is not what is
 * wanted. */
void sc_check_kind(const char *who, sc_val v, int kind);
int64_t sc_check_fixnum(const char *who, sc_val v);
void sc_check_pair(const char *who, sc_val v);
uint32_t sc_check_char(const char *who, sc_val v);
/* Optional index argument i of who (start, end), in [lo, hi]; dflt when
 * absent; an error naming who when out of range. */
size_t sc_index_arg(const char *who, int argc, sc_val *argv, int i, size_t lo, size_t hi,
                    size_t dflt);

/* ---- Allocation (object.c) ------------------------------------------------------- */

/* tricolor's types: one value slot (headed objects are arrays of it), a
 * pair. */
extern const tc_type *sc_slot_type, *sc_pair_type;
void sc_object_init(void);
/* The symbol table and the globals' list (after sc_object_init). */
void sc_symbols_init(void);
sc_val sc_cons(sc_val car, sc_val cdr);
/* A headed object of kind with n value slots after the header, all #f. */
sc_val sc_alloc_slots(int kind, size_t n);
/* A pointer-free headed object of kind with `bytes` bytes after the
 * header, zeroed; the header's length is len. */
sc_val sc_alloc_atomic(int kind, size_t len, size_t bytes);
sc_val sc_make_string(size_t len, uint32_t fill);
/* From UTF-8 bytes (invalid sequences become U+FFFD). */
sc_val sc_string_from_utf8(const char *s, size_t n);
sc_val sc_string_from_c(const char *s);
/* UTF-8 of string s into a malloc'd NUL-terminated buffer (the caller
 * frees it); *n its length in bytes if n is not NULL. */
char *sc_string_to_utf8(sc_val s, size_t *n);
sc_val sc_make_vector(size_t len, sc_val fill);
sc_val sc_list(int n, ...);
size_t sc_list_length(sc_val l); /* SIZE_MAX for an improper or circular list */
sc_val sc_reverse(sc_val l);

/* Symbols, interned through a weak table (a symbol no code, datum or global
 * binding holds goes; string->symbol makes an equal one later). */
sc_val sc_intern(const char *name);
sc_val sc_intern_string(sc_val str);
/* A symbol's name as UTF-8, valid while the symbol lives (cached). */
const char *sc_symbol_name(sc_val sym);
/* Defines global sym (kept alive by the globals' table). */
void sc_define_global(sc_val sym, sc_val value);

/* UTF-8: encodes cp into buf (at least 4 bytes), returns the length. */
int sc_utf8_encode(uint32_t cp, char *buf);
/* Decodes one code point from s[0..n), *len its length (at least 1). */
uint32_t sc_utf8_decode(const unsigned char *s, size_t n, int *len);

/* ---- Primitives ------------------------------------------------------------------- */

/* A primitive gets its arguments as an array (valid until it allocates:
 * they are on the VM stack, which does not move while it runs... but the
 * primitive must copy what it needs before calling back into Scheme). */
typedef sc_val (*sc_prim_fn)(int argc, sc_val *argv);
/* Defines the global `name` as a primitive taking from min to max
 * arguments (max -1: any number). */
void sc_defprim(const char *name, sc_prim_fn fn, int min, int max);
/* The C side of a primitive object. */
sc_prim_fn sc_prim_fn_of(sc_val prim, int *min, int *max);

/* Calls procedure f (a closure or a primitive) with argc arguments from the
 * C side of a primitive (map, for-each, sort, hash tables' own equality):
 * runs the VM until f returns. */
sc_val sc_apply(sc_val f, int argc, const sc_val *argv);
int sc_is_procedure(sc_val v);

/* ---- Equality, hashing (object.c) --------------------------------------------------- */

int sc_eqv(sc_val a, sc_val b);
int sc_equal(sc_val a, sc_val b);
uint64_t sc_hash_eqv(sc_val v);
uint64_t sc_hash_equal(sc_val v);

/* ---- Reading and printing (read.c, print.c) ------------------------------------------ */

/* A source of characters for the reader: a port, or a C string. */
typedef struct sc_reader sc_reader;
/* Reads one datum from port; SC_EOF at the end; an error on bad syntax.
 * *line, when not NULL, gets the line the datum started on. */
sc_val sc_read(sc_val port, long *line);
/* Writes v to port: `write` (strings quoted, characters #\x) when
 * `quoted`, else `display`. */
void sc_print(sc_val port, sc_val v, int quoted);
/* The same to a C stdio stream (errors, the REPL). */
void sc_fprint(FILE *f, sc_val v, int quoted);
/* The integer written in code points c[0..n) (string->number's syntax: an
 * optional #x #b #o #d #e prefix, a sign, digits of radix, or of the
 * prefix's radix); SC_FALSE when it is not one. An integer beyond the
 * fixnums is an error (there are no bignums). */
sc_val sc_parse_number(const uint32_t *c, size_t n, int radix);
/* Whether code points c[0..n) are what Guile reads as a number of any
 * kind (an integer, a decimal, a ratio, +inf.0, +i...): the printer
 * writes such symbols #{...}#, the reader refuses the numbers it cannot
 * represent rather than make symbols of them (print.c). */
int sc_looks_numeric(const uint32_t *c, size_t n);

/* ---- Ports (port.c) ------------------------------------------------------------------ */

sc_val sc_current_output(void);
sc_val sc_current_input(void);
sc_val sc_open_input_string(sc_val str);
sc_val sc_open_input_file(const char *path); /* error when it cannot be opened */
/* One character from an input port (SC_EOF at the end); peek leaves it. */
sc_val sc_port_read_char(sc_val port);
sc_val sc_port_peek_char(sc_val port);
void sc_port_write_utf8(sc_val port, const char *s, size_t n);
void sc_port_write_char(sc_val port, uint32_t cp);
void sc_port_flush(sc_val port);
/* The line number (from 1) of an input port's next character. */
long sc_port_line(sc_val port);

/* A port (SC_PORT) is a two-slot object: SC_PORT_STATE, a pointer-free
 * block (port.c's struct port_state behind an SC_BYTEVECTOR header: the
 * flags, the lock, the FILE * or file descriptor, the position and line,
 * a file input port's byte buffer), and SC_PORT_STRING, a string input
 * port's string or a string output port's buffer (an SC_STRING of
 * capacity code points, the state's position of them used); #f for file
 * ports. A file port dropped unclosed is closed (flushed) by its
 * finalizer. */
enum { SC_PORT_STATE = 1, SC_PORT_STRING, SC_PORT_SLOTS = 2 };
sc_val sc_current_error(void);
sc_val sc_open_output_string(void);
/* A new string holding what string output port `port` has been written. */
sc_val sc_get_output_string(sc_val port);
sc_val sc_open_output_file(const char *path); /* error when it cannot be opened */
void sc_port_close(sc_val port);
int sc_is_input_port(sc_val v);
int sc_is_output_port(sc_val v);
/* Each write or display holds the port's lock for the whole datum, so that
 * threads writing to one port do not interleave mid-datum. The lock is
 * taken in a blocking region (its holder may allocate: a string port's
 * buffer grows). Errors are raised before the lock is taken, never with
 * it held. */
void sc_port_lock(sc_val port);
void sc_port_unlock(sc_val port);
/* sc_port_write_utf8 with the lock held by the caller; port is an open
 * output port. */
void sc_port_write_utf8_locked(sc_val port, const char *s, size_t n);
/* An error unless port is an open output port (who names the caller). */
void sc_check_output_port(const char *who, sc_val port);
/* The VM calls this at its top level after an error unwound a thread:
 * the thread's current ports go back to the standard ones (a
 * with-output-to-string that an error left restores nothing itself). */
void sc_ports_reset_current(void);
/* Flushes every output file port's buffer (main calls it at exit). */
void sc_ports_flush_all(void);

/* ---- The compiler and the VM (compile.c, vm.c) ------------------------------------- */

/* The compiler's symbols (after sc_symbols_init). */
void sc_compile_init(void);
/* Compiles datum x (an expression or a definition at top level) into a
 * procedure of no arguments (an SC_CLOSURE); file names it for errors and
 * profiles. */
sc_val sc_compile_toplevel(sc_val x, const char *file, long line);
/* Runs a thunk (a closure of no arguments) on the calling thread's VM. */
sc_val sc_run_thunk(sc_val thunk);
/* Reads and evaluates every datum of a file or port; 0, or -1 after an
 * error (reported on stderr). */
int sc_load_port(sc_val port, const char *file);
/* Compiles and runs datum x (the REPL's): 0 with *result, or -1 after the
 * error was reported. */
int sc_eval_protected(sc_val x, long line, sc_val *result);
/* Runs fn(arg) with errors unwinding to here: 0, or -1 after the error
 * was reported on stderr. */
int sc_run_protected(void (*fn)(void *), void *arg);
/* The calling thread's VM: made by sc_vm_attach on a thread attached to
 * tricolor; sc_vm_detach frees it. */
void sc_vm_attach(void);
void sc_vm_detach(void);

/* ---- Init functions of each file (called by main.c in this order) ---------------- */

void sc_init_numbers(void);  /* numbers.c */
void sc_init_lists(void);    /* lists.c: pairs, lists, apply, map, for-each, equality */
void sc_init_strings(void);  /* string.c: characters, strings, symbols' conversions */
void sc_init_vectors(void);  /* vector.c: vectors, bytevectors */
void sc_init_tables(void);   /* table.c: SRFI-69 hash tables, weak-key tables */
void sc_init_ports(void);    /* port.c: display, write, ports, string ports */
void sc_init_threads(void);  /* thread.c: spawn, join, mutexes */
void sc_init_control(void);  /* vm.c: procedure?, values, error, collect-garbage, ... */

#endif
